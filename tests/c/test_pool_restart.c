/* test_pool_restart.c — the thread pool never runs a finished job again. Lowering the thread count
 * stops the workers; raising it starts new ones. A new worker once started believing it had seen
 * no job yet, so when it took the pool's lock before the next job was published it re-ran the
 * previous job, whose context (a stack frame of a call that had returned) was long gone: a wild
 * read, and a wrong count of finished ranges. Found by tests/fuzz (run_checked switches between
 * 1 and 2 threads). The race is rare per restart, so this restarts the pool many times and counts
 * calls into jobs that have finished. Built and run by tests/test_reliability.py. */
#include <stdio.h>
#include <stdlib.h>

#include "cnn.h"
#include "internal.h"
#include "platform.h"

typedef struct {
    cnn_atomic_int live; /* 1 while its cnn_parallel_for call runs */
} job_ctx;

static job_ctx jobs[2];
static cnn_atomic_int stale_calls;

static void task(void *ctx, int64_t begin, int64_t end, int part)
{
    (void)begin;
    (void)end;
    (void)part;
    if (!cnn_atomic_load_acquire(&((job_ctx *)ctx)->live)) cnn_atomic_fetch_add(&stale_calls, 1);
}

int main(int argc, char **argv)
{
    const long rounds = argc > 1 ? atol(argv[1]) : 50000;
    for (long i = 0; i < rounds; i++) {
        cnn_set_num_threads(1); /* stops the worker */
        cnn_set_num_threads(2); /* the next job starts a new one */
        job_ctx *job = &jobs[i & 1];
        cnn_atomic_store(&job->live, 1);
        cnn_parallel_for(2, 1, 2, task, job);
        cnn_atomic_store(&job->live, 0);
    }
    const int stale = cnn_atomic_load_acquire(&stale_calls);
    printf("%ld pool restarts, %d calls into finished jobs\n", rounds, stale);
    return stale != 0;
}
