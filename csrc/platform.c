/* platform.c — the operating-system and CPU layer declared in platform.h: threads, locks,
 * once-initialisation, the CPU count, a spin-wait hint, a monotonic clock and x86 feature
 * detection, with POSIX threads on Linux/macOS and Win32 threads on Windows. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* pthreads, sysconf and clock_gettime under -std=c11 */
#endif
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* macOS hides _SC_NPROCESSORS_ONLN under a bare _POSIX_C_SOURCE */
#endif
#include <stdint.h>
#include <stdlib.h>

#include "platform.h"

#if defined(CNN_WIN32_THREADS)
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0601
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: SRW locks with TryAcquire, condition variables, InitOnce */
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <time.h>
#include <unistd.h>
#endif

#if defined(CNN_X86)
#if defined(CNN_MSVC)
#include <intrin.h> /* __cpuidex, _xgetbv, _mm_pause */
#else
#include <cpuid.h>
#endif
#endif
#if defined(CNN_ARM64) && defined(CNN_MSVC)
#include <intrin.h> /* __yield */
#endif

/* ---- threads, locks, once: Win32 ---------------------------------------------------------------- */
#if defined(CNN_WIN32_THREADS)

_Static_assert(sizeof(SRWLOCK) == sizeof(cnn_mutex), "cnn_mutex holds an SRWLOCK");
_Static_assert(sizeof(CONDITION_VARIABLE) == sizeof(cnn_cond), "cnn_cond holds a CONDITION_VARIABLE");
_Static_assert(sizeof(INIT_ONCE) == sizeof(cnn_once_flag), "cnn_once_flag holds an INIT_ONCE");

/* A Win32 thread starts with the system's default floating-point state, not its creator's: with
 * mingw-w64, whose CRT puts the main thread's x87 unit in 64-bit precision and whose libm (exp,
 * tanh) computes in x87, worker threads returned different float64 results than the caller (found
 * by the 1-vs-2-thread test under wine). So the worker takes its creator's environment first. */
static DWORD WINAPI thread_start(LPVOID arg)
{
    const cnn_thread *t = arg;
    fesetenv(&t->fpenv);
    t->fn(t->arg);
    return 0;
}

int cnn_thread_create(cnn_thread *t, void (*fn)(void *), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    if (fegetenv(&t->fpenv) != 0) return 1;
    t->handle = CreateThread(NULL, 0, thread_start, t, 0, NULL);
    return t->handle == NULL;
}

int cnn_thread_join(cnn_thread *t)
{
    if (WaitForSingleObject(t->handle, INFINITE) != WAIT_OBJECT_0) return 1;
    CloseHandle(t->handle);
    t->handle = NULL;
    return 0;
}

void cnn_mutex_init(cnn_mutex *m) { InitializeSRWLock((SRWLOCK *)m); }
void cnn_mutex_lock(cnn_mutex *m) { AcquireSRWLockExclusive((SRWLOCK *)m); }
int cnn_mutex_trylock(cnn_mutex *m) { return !TryAcquireSRWLockExclusive((SRWLOCK *)m); }
void cnn_mutex_unlock(cnn_mutex *m) { ReleaseSRWLockExclusive((SRWLOCK *)m); }

void cnn_cond_init(cnn_cond *c) { InitializeConditionVariable((CONDITION_VARIABLE *)c); }
void cnn_cond_wait(cnn_cond *c, cnn_mutex *m)
{
    SleepConditionVariableSRW((CONDITION_VARIABLE *)c, (SRWLOCK *)m, INFINITE, 0);
}
void cnn_cond_signal(cnn_cond *c) { WakeConditionVariable((CONDITION_VARIABLE *)c); }
void cnn_cond_broadcast(cnn_cond *c) { WakeAllConditionVariable((CONDITION_VARIABLE *)c); }

typedef struct {
    void (*fn)(void);
} once_call; /* a function pointer cannot travel as a data pointer in ISO C: box it */

static BOOL CALLBACK once_start(PINIT_ONCE flag, PVOID param, PVOID *context)
{
    (void)flag;
    (void)context;
    ((const once_call *)param)->fn();
    return TRUE;
}

void cnn_once(cnn_once_flag *flag, void (*fn)(void))
{
    once_call call = {fn};
    InitOnceExecuteOnce((INIT_ONCE *)flag, once_start, &call, NULL);
}

int cnn_atfork_child(void (*fn)(void))
{
    (void)fn; /* no fork() on Windows */
    return 0;
}

int cnn_cpu_count(void)
{
    SYSTEM_INFO info;
    GetSystemInfo(&info); /* the processors of this process's group */
    return info.dwNumberOfProcessors >= 1 ? (int)info.dwNumberOfProcessors : 1;
}

int64_t cnn_monotonic_ns(void)
{
    LARGE_INTEGER freq, now; /* ticks per second (fixed at boot; a cheap call) and ticks */
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    const int64_t f = freq.QuadPart, t = now.QuadPart;
    return t / f * 1000000000 + t % f * 1000000000 / f; /* no overflow for centuries of uptime */
}

/* ---- threads, locks, once: POSIX ------------------------------------------------------------------ */
#else

static void *thread_start(void *arg)
{
    const cnn_thread *t = arg;
    t->fn(t->arg);
    return NULL;
}

int cnn_thread_create(cnn_thread *t, void (*fn)(void *), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    return pthread_create(&t->handle, NULL, thread_start, t);
}

int cnn_thread_join(cnn_thread *t) { return pthread_join(t->handle, NULL); }

void cnn_mutex_init(cnn_mutex *m) { pthread_mutex_init(&m->m, NULL); }
void cnn_mutex_lock(cnn_mutex *m) { pthread_mutex_lock(&m->m); }
int cnn_mutex_trylock(cnn_mutex *m) { return pthread_mutex_trylock(&m->m); }
void cnn_mutex_unlock(cnn_mutex *m) { pthread_mutex_unlock(&m->m); }

void cnn_cond_init(cnn_cond *c) { pthread_cond_init(&c->c, NULL); }
void cnn_cond_wait(cnn_cond *c, cnn_mutex *m) { pthread_cond_wait(&c->c, &m->m); }
void cnn_cond_signal(cnn_cond *c) { pthread_cond_signal(&c->c); }
void cnn_cond_broadcast(cnn_cond *c) { pthread_cond_broadcast(&c->c); }

void cnn_once(cnn_once_flag *flag, void (*fn)(void)) { pthread_once(&flag->o, fn); }

int cnn_atfork_child(void (*fn)(void)) { return pthread_atfork(NULL, NULL, fn); }

int cnn_cpu_count(void)
{
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 && cpus <= INT32_MAX ? (int)cpus : 1;
}

int64_t cnn_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif

/* ---- the CPU ----------------------------------------------------------------------------------------- */

void cnn_cpu_relax(void)
{
#if defined(CNN_X86) && defined(CNN_MSVC)
    _mm_pause();
#elif defined(CNN_X86) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_pause();
#elif defined(CNN_ARM64) && defined(CNN_MSVC)
    __yield();
#elif defined(CNN_ARM64) && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("yield");
#endif
}

#if defined(CNN_X86)
/* cpuid leaf/subleaf into r = {eax, ebx, ecx, edx}; the caller checks that the leaf exists. */
static void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4])
{
#if defined(CNN_MSVC)
    int v[4];
    __cpuidex(v, (int)leaf, (int)subleaf);
    for (int i = 0; i < 4; i++) r[i] = (uint32_t)v[i];
#else
    unsigned a = 0, b = 0, c = 0, d = 0;
    __cpuid_count(leaf, subleaf, a, b, c, d);
    r[0] = a, r[1] = b, r[2] = c, r[3] = d;
#endif
}

/* The register state the OS saves on a context switch (XCR0); call only when OSXSAVE is set. */
static uint64_t xcr0(void)
{
#if defined(CNN_MSVC)
    return _xgetbv(0);
#else
    uint32_t lo, hi; /* the instruction, not _xgetbv, which would need -mxsave */
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#endif
}

/* Bits of XCR0: x87 | SSE | AVX (1 2), opmask | ZMM_Hi256 | Hi16_ZMM (5 6 7). */
#define XCR0_YMM 0x6u
#define XCR0_ZMM 0xE6u

static int has_avx2_fma(uint64_t *state)
{
    uint32_t r1[4], r7[4], r0[4];
    cpuid(0, 0, r0);
    if (r0[0] < 7) return 0;
    cpuid(1, 0, r1);
    const uint32_t osxsave = 1u << 27, avx = 1u << 28, fma = 1u << 12;
    if ((r1[2] & (osxsave | avx | fma)) != (osxsave | avx | fma)) return 0;
    *state = xcr0();
    if ((*state & XCR0_YMM) != XCR0_YMM) return 0;
    cpuid(7, 0, r7);
    return (r7[1] >> 5) & 1; /* AVX2 */
}

static int has_avx512(void)
{
    uint64_t state;
    uint32_t r7[4];
    if (!has_avx2_fma(&state) || (state & XCR0_ZMM) != XCR0_ZMM) return 0;
    cpuid(7, 0, r7);
    const uint32_t f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
    return (r7[1] & (f | dq | bw | vl)) == (f | dq | bw | vl);
}

/* Asked once: cpuid traps to the hypervisor in a virtual machine (a microsecond or more). */
static int avx2_fma, avx512;
static cnn_once_flag features_once = CNN_ONCE_INIT;

static void detect_features(void)
{
    uint64_t state;
    avx2_fma = has_avx2_fma(&state);
    avx512 = has_avx512();
}

int cnn_cpu_has_avx2_fma(void)
{
    cnn_once(&features_once, detect_features);
    return avx2_fma;
}

int cnn_cpu_has_avx512(void)
{
    cnn_once(&features_once, detect_features);
    return avx512;
}

#else
int cnn_cpu_has_avx2_fma(void) { return 0; }
int cnn_cpu_has_avx512(void) { return 0; }
#endif
