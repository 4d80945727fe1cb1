/* platform.h — everything the engine needs from the compiler and the operating system, so that
 * no other file has to ask: portability macros for kernel code (no system header needed), and a
 * small layer over threads, locks, once-initialisation, atomics, the CPU count, a spin-wait hint,
 * a monotonic clock and x86 feature detection (platform.c): POSIX threads on Linux and macOS,
 * Win32 threads on Windows (MSVC, clang-cl and mingw-w64 alike; never winpthreads).
 *
 * The engine is C11 in the subset MSVC accepts with /std:c11: no variable-length arrays (MSVC
 * defines __STDC_NO_VLA__), no statement expressions, no GNU extension outside a macro below or
 * a guard that keeps a fallback. `restrict` is a keyword in MSVC's /std:c11 mode; this header
 * maps it to __restrict should a file be compiled without it. _Static_assert, _Alignas, designated
 * initialisers, compound literals and `static inline` are fine everywhere. C11 <stdatomic.h> is not
 * (MSVC defines __STDC_NO_ATOMICS__): use the cnn_atomic_* functions below.
 *
 * Portability macros, for any file in csrc/:
 *   CNN_FORCE_INLINE      `static inline` that the compiler must inline (always_inline /
 *                         __forceinline), for small kernel helpers whose arguments must fold:
 *                         CNN_FORCE_INLINE void tile(const float *restrict x, ...)
 *   CNN_NOINLINE          keep a function out of line (a cold path, a large kernel variant)
 *   CNN_LIKELY(c), CNN_UNLIKELY(c)   branch hints (plain `c` where the compiler has none)
 *   CNN_ASSUME_ALIGNED(p, n)  p, promised to be n-byte aligned (n a power of two)
 *   CNN_PREFETCH(p)       prefetch the cache line at p for reading (nothing where unsupported)
 *   CNN_X86, CNN_ARM64    defined on x86/x86-64 and AArch64 (any compiler)
 *   CNN_MSVC              defined for Microsoft's cl.exe (not clang-cl, which takes GCC's paths)
 *   CNN_X86_TARGET_PRAGMAS defined where a file can switch its code to AVX2/AVX-512 with a pragma
 *                         (GCC, Clang, clang-cl on x86): csrc/isa_avx2.c, isa_avx512.c build
 *                         their kernel tables only then; elsewhere the portable table is used. */
#ifndef CNN_PLATFORM_H
#define CNN_PLATFORM_H

#include <stdint.h>

/* ---- compilers and architectures ------------------------------------------------------------- */

#if defined(_MSC_VER) && !defined(__clang__)
#define CNN_MSVC 1
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#define CNN_X86 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define CNN_ARM64 1
#endif
#if defined(CNN_X86) && (defined(__GNUC__) || defined(__clang__))
#define CNN_X86_TARGET_PRAGMAS 1
#endif

#if defined(CNN_MSVC) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L)
#define restrict __restrict /* cl.exe without /std:c11 */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CNN_FORCE_INLINE static inline __attribute__((always_inline))
#define CNN_NOINLINE __attribute__((noinline))
#define CNN_LIKELY(c) __builtin_expect(!!(c), 1)
#define CNN_UNLIKELY(c) __builtin_expect(!!(c), 0)
#define CNN_ASSUME_ALIGNED(p, n) __builtin_assume_aligned((p), (n))
#define CNN_PREFETCH(p) __builtin_prefetch((p))
#elif defined(CNN_MSVC)
#define CNN_FORCE_INLINE static __forceinline
#define CNN_NOINLINE __declspec(noinline)
#define CNN_LIKELY(c) (c)
#define CNN_UNLIKELY(c) (c)
#define CNN_ASSUME_ALIGNED(p, n) (p)
#if defined(CNN_X86)
#include <xmmintrin.h>
#define CNN_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define CNN_PREFETCH(p) ((void)(p))
#endif
#else
#define CNN_FORCE_INLINE static inline
#define CNN_NOINLINE
#define CNN_LIKELY(c) (c)
#define CNN_UNLIKELY(c) (c)
#define CNN_ASSUME_ALIGNED(p, n) (p)
#define CNN_PREFETCH(p) ((void)(p))
#endif

/* ---- threads, locks, once ------------------------------------------------------------------------
 * Every function returns 0 on success (a nonzero value where it can fail). The objects are plain
 * structs that may be static: CNN_MUTEX_INIT, CNN_COND_INIT and CNN_ONCE_INIT initialise them
 * statically; cnn_mutex_init/cnn_cond_init (re)initialise them at run time. */

#if defined(_WIN32)
#define CNN_WIN32_THREADS 1
#include <fenv.h>
/* The Win32 objects are one pointer each (SRWLOCK, CONDITION_VARIABLE, INIT_ONCE; platform.c
 * checks the sizes), so this header needs no <windows.h>. */
typedef struct { void *opaque; } cnn_mutex;
typedef struct { void *opaque; } cnn_cond;
typedef struct { void *opaque; } cnn_once_flag;
typedef struct {
    void *handle;
    void (*fn)(void *);
    void *arg;
    fenv_t fpenv; /* the creator's floating-point environment, which a POSIX thread inherits */
} cnn_thread;
#define CNN_MUTEX_INIT {0}
#define CNN_COND_INIT {0}
#define CNN_ONCE_INIT {0}
#else
#define CNN_POSIX_THREADS 1
#include <pthread.h>
typedef struct { pthread_mutex_t m; } cnn_mutex;
typedef struct { pthread_cond_t c; } cnn_cond;
typedef struct { pthread_once_t o; } cnn_once_flag;
typedef struct {
    pthread_t handle;
    void (*fn)(void *);
    void *arg;
} cnn_thread;
#define CNN_MUTEX_INIT {PTHREAD_MUTEX_INITIALIZER}
#define CNN_COND_INIT {PTHREAD_COND_INITIALIZER}
#define CNN_ONCE_INIT {PTHREAD_ONCE_INIT}
#endif

/* Starts fn(arg) in a new thread; *t must stay where it is until cnn_thread_join(t). The thread
 * starts with the calling thread's floating-point environment (rounding, x87 precision), as POSIX
 * threads do, so that it computes exactly what the caller would. */
int cnn_thread_create(cnn_thread *t, void (*fn)(void *), void *arg);
/* Waits for the thread to return and releases it. */
int cnn_thread_join(cnn_thread *t);

void cnn_mutex_init(cnn_mutex *m);
void cnn_mutex_lock(cnn_mutex *m);
/* 0 when it took the lock, nonzero when another thread holds it. */
int cnn_mutex_trylock(cnn_mutex *m);
void cnn_mutex_unlock(cnn_mutex *m);

void cnn_cond_init(cnn_cond *c);
/* Releases m, sleeps until signalled (or spuriously), takes m again: call it in a loop. */
void cnn_cond_wait(cnn_cond *c, cnn_mutex *m);
void cnn_cond_signal(cnn_cond *c);
void cnn_cond_broadcast(cnn_cond *c);

/* Runs fn exactly once per flag, however many threads call; all return after it has run. */
void cnn_once(cnn_once_flag *flag, void (*fn)(void));

/* Has fn run in the child process after fork() (POSIX; Windows has no fork and this does
 * nothing there). Returns 0 on success. */
int cnn_atfork_child(void (*fn)(void));

/* ---- the machine --------------------------------------------------------------------------------- */

/* Logical CPUs online (at least 1). */
int cnn_cpu_count(void);
/* Tells the CPU that this thread spins (x86 PAUSE, AArch64 YIELD; nothing elsewhere). */
void cnn_cpu_relax(void);
/* Nanoseconds of a monotonic clock (an arbitrary origin). */
int64_t cnn_monotonic_ns(void);

/* x86 features the kernel tables need, usable by this process: the CPU has them (cpuid) and the
 * OS saves the wider registers on a context switch (xgetbv). 0 on any other architecture. */
int cnn_cpu_has_avx2_fma(void);   /* AVX, AVX2, FMA3; XMM+YMM state */
int cnn_cpu_has_avx512(void);     /* the above + AVX-512 F, VL, BW, DQ; opmask+ZMM state */

/* ---- atomics ---------------------------------------------------------------------------------------
 * cnn_atomic_int (int) and cnn_atomic_u64 (uint64_t), accessed only through these functions.
 * Loads are relaxed or acquire; stores and read-modify-writes are sequentially consistent.
 * C11 <stdatomic.h> where the compiler has it; the Win32 Interlocked family where it does not
 * (MSVC defines __STDC_NO_ATOMICS__; CI builds with mingw-w64 and -D__STDC_NO_ATOMICS__ to run
 * this branch under wine). */

#if defined(_WIN32) && defined(__STDC_NO_ATOMICS__)
#define CNN_WIN32_ATOMICS 1
#include <intrin.h>
typedef volatile long cnn_atomic_int;      /* LONG: 32 bits on Windows */
typedef volatile long long cnn_atomic_u64; /* LONG64 */

/* An aligned 32-bit (64-bit on 64-bit targets) volatile read is atomic on x86 and AArch64; the
 * fence makes it an acquire: x86 orders loads already (the compiler must not move them), AArch64
 * needs a barrier. */
#if defined(CNN_ARM64) && defined(CNN_MSVC)
#define CNN_ACQUIRE_FENCE() __dmb(_ARM64_BARRIER_ISH)
#elif defined(CNN_ARM64)
#define CNN_ACQUIRE_FENCE() __asm__ __volatile__("dmb ish" ::: "memory")
#elif defined(CNN_MSVC)
#define CNN_ACQUIRE_FENCE() _ReadWriteBarrier()
#else
#define CNN_ACQUIRE_FENCE() __asm__ __volatile__("" ::: "memory")
#endif

static inline int cnn_atomic_load_relaxed(const cnn_atomic_int *p) { return (int)*p; }
static inline int cnn_atomic_load_acquire(const cnn_atomic_int *p)
{
    const int v = (int)*p;
    CNN_ACQUIRE_FENCE();
    return v;
}
static inline void cnn_atomic_store(cnn_atomic_int *p, int v) { _InterlockedExchange(p, v); }
/* Returns the value before. */
static inline int cnn_atomic_fetch_add(cnn_atomic_int *p, int v) { return (int)_InterlockedExchangeAdd(p, v); }

#if defined(_M_IX86) || defined(__i386__) /* no plain 64-bit atomic read on 32-bit x86 */
static inline uint64_t cnn_atomic_load_u64(const cnn_atomic_u64 *p)
{
    return (uint64_t)_InterlockedCompareExchange64((cnn_atomic_u64 *)p, 0, 0);
}
static inline uint64_t cnn_atomic_fetch_add_u64(cnn_atomic_u64 *p, uint64_t v)
{
    long long old = *p;
    for (;;) {
        const long long seen = _InterlockedCompareExchange64(p, (long long)((uint64_t)old + v), old);
        if (seen == old) return (uint64_t)old;
        old = seen;
    }
}
#else
static inline uint64_t cnn_atomic_load_u64(const cnn_atomic_u64 *p)
{
    const uint64_t v = (uint64_t)*p;
    CNN_ACQUIRE_FENCE();
    return v;
}
static inline uint64_t cnn_atomic_fetch_add_u64(cnn_atomic_u64 *p, uint64_t v)
{
    return (uint64_t)_InterlockedExchangeAdd64(p, (long long)v);
}
#endif

#else
#define CNN_C11_ATOMICS 1
#include <stdatomic.h>
typedef atomic_int cnn_atomic_int;
typedef _Atomic(uint64_t) cnn_atomic_u64;

static inline int cnn_atomic_load_relaxed(const cnn_atomic_int *p)
{
    return atomic_load_explicit((cnn_atomic_int *)p, memory_order_relaxed);
}
static inline int cnn_atomic_load_acquire(const cnn_atomic_int *p)
{
    return atomic_load_explicit((cnn_atomic_int *)p, memory_order_acquire);
}
static inline void cnn_atomic_store(cnn_atomic_int *p, int v) { atomic_store(p, v); }
/* Returns the value before. */
static inline int cnn_atomic_fetch_add(cnn_atomic_int *p, int v) { return atomic_fetch_add(p, v); }
static inline uint64_t cnn_atomic_load_u64(const cnn_atomic_u64 *p)
{
    return atomic_load_explicit((cnn_atomic_u64 *)p, memory_order_acquire);
}
static inline uint64_t cnn_atomic_fetch_add_u64(cnn_atomic_u64 *p, uint64_t v) { return atomic_fetch_add(p, v); }
#endif

#endif /* CNN_PLATFORM_H */
