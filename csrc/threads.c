/* threads.c — a small pool of worker threads for the kernels' parallel loops. A loop over n
 * independent items is cut into one contiguous range per thread; the calling thread runs the
 * first range. Each item is computed the same way whatever the thread count, so results are
 * bitwise identical for any number of threads. The pool is created lazily, rebuilt after fork(),
 * and a call made while another thread is using it runs serially. Without POSIX threads (or with
 * one thread) every loop runs in the caller. */
#define _POSIX_C_SOURCE 200809L /* pthreads, sysconf and clock_gettime under -std=c11 */
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#if defined(__unix__) || defined(__APPLE__)
#define CNN_HAVE_PTHREADS 1
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#endif

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
#ifdef CNN_HAVE_PTHREADS
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 1) return cpus > CNN_MAX_THREADS ? CNN_MAX_THREADS : (int)cpus;
#endif
    return 1;
}

int cnn_get_num_threads(void)
{
    if (num_threads == 0) num_threads = default_threads();
    return num_threads;
}

#ifdef CNN_HAVE_PTHREADS

/* ---- the pool ------------------------------------------------------------------------------------ */

typedef struct {
    cnn_task_fn fn;
    void *ctx;
    int64_t n;
    int parts; /* ranges of this job; worker i runs range i (1 <= i < parts) */
} job_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards everything below */
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER; /* held by the caller using the pool */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static pthread_t workers[CNN_MAX_THREADS];
static int started;     /* workers running */
/* Written under `lock`, also read without it by spinning threads. */
static atomic_int shutdown_req;
static atomic_uint_fast64_t generation;
static atomic_int pending; /* ranges of the current job still running in workers */
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

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Polls until a job after `value` is published (or a shutdown), at most CNN_SPIN_NS. */
static void spin_while_generation(uint64_t value)
{
    const int64_t until = now_ns() + CNN_SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&generation, memory_order_acquire) != value ||
            atomic_load_explicit(&shutdown_req, memory_order_relaxed))
            return;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > until) return;
    }
}

/* Polls until the workers' ranges are done, at most CNN_SPIN_NS. */
static void spin_while_pending(void)
{
    const int64_t until = now_ns() + CNN_SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&pending, memory_order_acquire) == 0) return;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > until) return;
    }
}

static void run_range(const job_t *j, int part)
{
    const int64_t begin = j->n * part / j->parts, end = j->n * (part + 1) / j->parts;
    if (begin < end) j->fn(j->ctx, begin, end, part);
}

static void *worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    uint64_t seen = start_generation[id];
    pthread_mutex_unlock(&lock);
    for (;;) {
        spin_while_generation(seen);
        pthread_mutex_lock(&lock);
        while (!atomic_load(&shutdown_req) && atomic_load(&generation) == seen)
            pthread_cond_wait(&wake, &lock);
        if (atomic_load(&shutdown_req)) break;
        seen = atomic_load(&generation);
        if (id < current.parts) {
            const job_t j = current;
            pthread_mutex_unlock(&lock);
            run_range(&j, id);
            /* the last range to finish wakes the caller, should it sleep (under the lock, so the
             * caller cannot miss it between testing `pending` and waiting) */
            if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&lock);
                pthread_cond_signal(&done);
                pthread_mutex_unlock(&lock);
            }
        } else {
            pthread_mutex_unlock(&lock);
        }
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Start workers 1..want-1 (called with `busy` held). Returns how many threads can take part. */
static int ensure_workers(int want)
{
    pthread_mutex_lock(&lock);
    while (started + 1 < want) {
        start_generation[started + 1] = atomic_load(&generation);
        if (pthread_create(&workers[started + 1], NULL, worker_main, (void *)(intptr_t)(started + 1)))
            break; /* run with the threads we have */
        started++;
    }
    const int have = started + 1;
    pthread_mutex_unlock(&lock);
    return have < want ? have : want;
}

/* In a child after fork() only the forking thread exists: forget the workers, reset the locks. */
static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&busy, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    started = 0;
    atomic_store(&shutdown_req, 0);
    atomic_store(&pending, 0);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* Stop the workers (when the thread count shrinks; they are restarted on demand). */
static void stop_workers(void)
{
    pthread_mutex_lock(&lock);
    atomic_store(&shutdown_req, 1);
    pthread_cond_broadcast(&wake);
    const int n = started;
    pthread_mutex_unlock(&lock);
    for (int i = 1; i <= n; i++) pthread_join(workers[i], NULL);
    pthread_mutex_lock(&lock);
    started = 0;
    atomic_store(&shutdown_req, 0);
    pthread_mutex_unlock(&lock);
}

void cnn_parallel_for(int64_t n, int64_t grain, int max_parts, cnn_task_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t parts = (n + grain - 1) / grain;
    const int threads = cnn_get_num_threads();
    if (parts > threads) parts = threads;
    if (parts > max_parts) parts = max_parts;
    if (parts <= 1 || pthread_mutex_trylock(&busy) != 0) { /* one range, or the pool is in use */
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_once(&atfork_once, register_atfork);
    parts = ensure_workers((int)parts);
    if (parts <= 1) {
        pthread_mutex_unlock(&busy);
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&lock);
    current.fn = fn;
    current.ctx = ctx;
    current.n = n;
    current.parts = (int)parts;
    atomic_store_explicit(&pending, (int)parts - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release); /* publishes current too */
    pthread_cond_broadcast(&wake);
    const job_t j = current;
    pthread_mutex_unlock(&lock);
    run_range(&j, 0);
    spin_while_pending();
    pthread_mutex_lock(&lock);
    while (atomic_load(&pending) > 0) pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&busy);
}

cnn_status cnn_set_num_threads(int n)
{
    if (n < 1 || n > CNN_MAX_THREADS) return CNN_EINVAL;
    pthread_mutex_lock(&busy); /* no job in flight while the pool changes */
    if (n < cnn_get_num_threads()) stop_workers();
    num_threads = n;
    pthread_mutex_unlock(&busy);
    return CNN_OK;
}

#else /* no POSIX threads: every loop runs in the caller */

void cnn_parallel_for(int64_t n, int64_t grain, int max_parts, cnn_task_fn fn, void *ctx)
{
    (void)grain;
    (void)max_parts;
    if (n > 0) fn(ctx, 0, n, 0);
}

cnn_status cnn_set_num_threads(int n)
{
    if (n < 1 || n > CNN_MAX_THREADS) return CNN_EINVAL;
    num_threads = 1;
    return n == 1 ? CNN_OK : CNN_EINVAL;
}

#endif
