/* threads.c — a small pool of worker threads for the kernels' parallel loops. A loop over n
 * independent items is cut into one contiguous range per thread; the calling thread runs the
 * first range. Each item is computed the same way whatever the thread count, so results are
 * bitwise identical for any number of threads. The pool is created lazily, rebuilt after fork()
 * (POSIX), and a call made while another thread is using it runs serially. Threads, locks and
 * atomics come from platform.h (POSIX threads or Win32 threads); with one thread every loop runs
 * in the caller. */
#include <stdlib.h>

#include "internal.h"
#include "platform.h"

#define CNN_MAX_THREADS 256

static int num_threads; /* 0 until first asked: then CNNPY_NUM_THREADS or the CPU count */
int64_t cnn_min_part_work = (int64_t)1 << 17;

int64_t cnn_set_min_part_work(int64_t work)
{
    const int64_t before = cnn_min_part_work;
    if (work >= 1) cnn_min_part_work = work;
    return before;
}

static int default_threads(void)
{
    const char *env = getenv("CNNPY_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1) return v > CNN_MAX_THREADS ? CNN_MAX_THREADS : (int)v;
    }
    const int cpus = cnn_cpu_count();
    return cpus > CNN_MAX_THREADS ? CNN_MAX_THREADS : cpus;
}

int cnn_get_num_threads(void)
{
    if (num_threads == 0) num_threads = default_threads();
    return num_threads;
}

/* ---- the pool ------------------------------------------------------------------------------------ */

typedef struct {
    cnn_task_fn fn;
    void *ctx;
    int64_t n;
    int parts; /* ranges of this job; worker i runs range i (1 <= i < parts) */
} job_t;

static cnn_mutex lock = CNN_MUTEX_INIT; /* guards everything below */
static cnn_mutex busy = CNN_MUTEX_INIT; /* held by the caller using the pool */
static cnn_cond wake = CNN_COND_INIT;
static cnn_cond done = CNN_COND_INIT;
static cnn_thread workers[CNN_MAX_THREADS];
static int started;     /* workers running */
/* Written under `lock`, also read without it by spinning threads. */
static cnn_atomic_int shutdown_req;
static cnn_atomic_u64 generation;
static cnn_atomic_int pending; /* ranges of the current job still running in workers */
static job_t current;
/* The generation a worker was started in: it runs only jobs published after it. (A worker started
 * with 0 would run the last job of a previous pool, whose context is long gone.) */
static uint64_t start_generation[CNN_MAX_THREADS];

/* Waking a sleeping thread costs from a few microseconds to over a hundred where an idle
 * virtual CPU must be rescheduled by the host (measured ~150 us on a 2-vCPU KVM guest), which
 * would eat the gain of splitting any but the largest loops. So a worker that finished a job
 * polls for the next one for CNN_SPIN_NS before it sleeps, and so does the caller waiting for
 * the workers: the kernels of one training step then find the pool awake. */
#define CNN_SPIN_NS 500000

/* Polls until a job after `value` is published (or a shutdown), at most CNN_SPIN_NS. */
static void spin_while_generation(uint64_t value)
{
    const int64_t until = cnn_monotonic_ns() + CNN_SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (cnn_atomic_load_u64(&generation) != value || cnn_atomic_load_relaxed(&shutdown_req))
            return;
        cnn_cpu_relax();
        if (i % 64 == 0 && cnn_monotonic_ns() > until) return;
    }
}

/* Polls until the workers' ranges are done, at most CNN_SPIN_NS. */
static void spin_while_pending(void)
{
    const int64_t until = cnn_monotonic_ns() + CNN_SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (cnn_atomic_load_acquire(&pending) == 0) return;
        cnn_cpu_relax();
        if (i % 64 == 0 && cnn_monotonic_ns() > until) return;
    }
}

static void run_range(const job_t *j, int part)
{
    const int64_t begin = j->n * part / j->parts, end = j->n * (part + 1) / j->parts;
    if (begin < end) j->fn(j->ctx, begin, end, part);
}

static void worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    cnn_mutex_lock(&lock);
    uint64_t seen = start_generation[id];
    cnn_mutex_unlock(&lock);
    for (;;) {
        spin_while_generation(seen);
        cnn_mutex_lock(&lock);
        while (!cnn_atomic_load_acquire(&shutdown_req) && cnn_atomic_load_u64(&generation) == seen)
            cnn_cond_wait(&wake, &lock);
        if (cnn_atomic_load_acquire(&shutdown_req)) break;
        seen = cnn_atomic_load_u64(&generation);
        if (id < current.parts) {
            const job_t j = current;
            cnn_mutex_unlock(&lock);
            run_range(&j, id);
            /* the last range to finish wakes the caller, should it sleep (under the lock, so the
             * caller cannot miss it between testing `pending` and waiting) */
            if (cnn_atomic_fetch_add(&pending, -1) == 1) {
                cnn_mutex_lock(&lock);
                cnn_cond_signal(&done);
                cnn_mutex_unlock(&lock);
            }
        } else {
            cnn_mutex_unlock(&lock);
        }
    }
    cnn_mutex_unlock(&lock);
}

/* Start workers 1..want-1 (called with `busy` held). Returns how many threads can take part. */
static int ensure_workers(int want)
{
    cnn_mutex_lock(&lock);
    while (started + 1 < want) {
        start_generation[started + 1] = cnn_atomic_load_u64(&generation);
        if (cnn_thread_create(&workers[started + 1], worker_main, (void *)(intptr_t)(started + 1)))
            break; /* run with the threads we have */
        started++;
    }
    const int have = started + 1;
    cnn_mutex_unlock(&lock);
    return have < want ? have : want;
}

/* In a child after fork() (POSIX) only the forking thread exists: forget the workers, reset the
 * locks. */
static void after_fork_child(void)
{
    cnn_mutex_init(&lock);
    cnn_mutex_init(&busy);
    cnn_cond_init(&wake);
    cnn_cond_init(&done);
    started = 0;
    cnn_atomic_store(&shutdown_req, 0);
    cnn_atomic_store(&pending, 0);
}

static cnn_once_flag atfork_once = CNN_ONCE_INIT;

static void register_atfork(void)
{
    cnn_atfork_child(after_fork_child);
}

/* Stop the workers (when the thread count shrinks; they are restarted on demand). */
static void stop_workers(void)
{
    cnn_mutex_lock(&lock);
    cnn_atomic_store(&shutdown_req, 1);
    cnn_cond_broadcast(&wake);
    const int n = started;
    cnn_mutex_unlock(&lock);
    for (int i = 1; i <= n; i++) cnn_thread_join(&workers[i]);
    cnn_mutex_lock(&lock);
    started = 0;
    cnn_atomic_store(&shutdown_req, 0);
    cnn_mutex_unlock(&lock);
}

void cnn_parallel_for(int64_t n, int64_t grain, int max_parts, cnn_task_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t parts = (n + grain - 1) / grain;
    const int threads = cnn_get_num_threads();
    if (parts > threads) parts = threads;
    if (parts > max_parts) parts = max_parts;
    if (parts <= 1 || cnn_mutex_trylock(&busy) != 0) { /* one range, or the pool is in use */
        fn(ctx, 0, n, 0);
        return;
    }
    cnn_once(&atfork_once, register_atfork);
    parts = ensure_workers((int)parts);
    if (parts <= 1) {
        cnn_mutex_unlock(&busy);
        fn(ctx, 0, n, 0);
        return;
    }
    cnn_mutex_lock(&lock);
    current.fn = fn;
    current.ctx = ctx;
    current.n = n;
    current.parts = (int)parts;
    cnn_atomic_store(&pending, (int)parts - 1);
    cnn_atomic_fetch_add_u64(&generation, 1); /* publishes current too */
    cnn_cond_broadcast(&wake);
    const job_t j = current;
    cnn_mutex_unlock(&lock);
    run_range(&j, 0);
    spin_while_pending();
    cnn_mutex_lock(&lock);
    while (cnn_atomic_load_acquire(&pending) > 0) cnn_cond_wait(&done, &lock);
    cnn_mutex_unlock(&lock);
    cnn_mutex_unlock(&busy);
}

cnn_status cnn_set_num_threads(int n)
{
    if (n < 1 || n > CNN_MAX_THREADS) return CNN_EINVAL;
    cnn_mutex_lock(&busy); /* no job in flight while the pool changes */
    if (n < cnn_get_num_threads()) stop_workers();
    num_threads = n;
    cnn_mutex_unlock(&busy);
    return CNN_OK;
}
