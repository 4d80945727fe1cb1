/* Single-core FP32 FMA peak: CHAINS independent accumulators, each updated by one vector FMA per
   iteration, so the core's FMA ports never wait on an FMA's latency. benchmarks/run.py builds it
   at run time with  cc -O2 -march=native fma_probe.c -o fma_probe  and reads the one line it prints:

       fma_probe: 137.9 GFLOP/s per core (AVX-512 FMA, 16 lanes x 16 chains, best of 5 x 100 ms)

   Usage: fma_probe [milliseconds per trial, default 100]. One FMA on one lane is 2 FLOPs. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- the widest FMA the compiler was told the CPU has ------------------------------------------ */
/* Chains: FMA latency (4 cycles) x FMA ports (2) = 8 in flight at least; more hides jitter, but
   the accumulators plus the two operands must stay in registers (16 ymm under AVX2, 32 zmm). */
#if defined(__AVX512F__)
#include <immintrin.h>
#define ISA "AVX-512 FMA"
#define LANES 16
#define CHAINS 16
typedef __m512 vec;
static vec vset(float v) { return _mm512_set1_ps(v); }
static vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static float vsum(vec a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ISA "AVX2 FMA"
#define LANES 8
#define CHAINS 12
typedef __m256 vec;
static vec vset(float v) { return _mm256_set1_ps(v); }
static vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static float vsum(vec a)
{
    float t[8];
    _mm256_storeu_ps(t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define ISA "NEON FMA"
#define LANES 4
#define CHAINS 16
typedef float32x4_t vec;
static vec vset(float v) { return vdupq_n_f32(v); }
static vec vfma(vec a, vec b, vec c) { return vfmaq_f32(c, a, b); }
static float vsum(vec a) { return vaddvq_f32(a); }
#else
/* Portable: GCC/Clang vector extension, multiply then add (fused or not, still 2 FLOPs a lane). */
#define ISA "portable 128-bit vectors"
#define LANES 4
#define CHAINS 12
typedef float vec __attribute__((vector_size(16)));
static vec vset(float v) { return (vec){v, v, v, v}; }
static vec vfma(vec a, vec b, vec c) { return a * b + c; }
static float vsum(vec a) { return a[0] + a[1] + a[2] + a[3]; }
#endif

/* ---- timing ---------------------------------------------------------------------------------- */
static volatile float g_mul = 0.99999994f, g_add = 1e-7f; /* volatile: no constant folding */
static volatile float g_sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs iters x CHAINS vector FMAs; returns the seconds taken. acc -> acc*mul + add stays near 1:
   no overflow, no subnormals. */
static double chains(long iters)
{
    const vec mul = vset(g_mul), add = vset(g_add);
    vec acc[CHAINS];
    for (int c = 0; c < CHAINS; c++)
        acc[c] = vset(1.0f + 0.01f * (float)c);
    double t0 = now();
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int c = 0; c < CHAINS; c++)
            acc[c] = vfma(acc[c], mul, add);
    }
    double t = now() - t0;
    float s = 0.0f;
    for (int c = 0; c < CHAINS; c++)
        s += vsum(acc[c]);
    g_sink = s; /* keeps the loop alive */
    return t;
}

int main(int argc, char **argv)
{
    double trial_s = (argc > 1 ? atof(argv[1]) : 100.0) * 1e-3;
    if (!(trial_s > 0.0) || trial_s > 10.0)
        trial_s = 0.1;
    long iters = 1L << 12;
    double t;
    while ((t = chains(iters)) < trial_s / 8 && iters < (1L << 40))
        iters *= 2; /* calibrate; also warms the vector unit up to its licence frequency */
    iters = (long)((double)iters * trial_s / (t > 0.0 ? t : 1e-9)) + 1;
    double best = 1e300;
    const int trials = 5;
    for (int k = 0; k < trials; k++) {
        t = chains(iters);
        if (t < best)
            best = t;
    }
    double flops = 2.0 * LANES * CHAINS * (double)iters;
    printf("fma_probe: %.1f GFLOP/s per core (%s, %d lanes x %d chains, best of %d x %.0f ms)\n",
           flops / best * 1e-9, ISA, LANES, CHAINS, trials, trial_s * 1e3);
    return 0;
}
