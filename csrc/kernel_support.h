/* kernel_support.h — what every per-ISA kernel translation unit (csrc/isa_*.c) shares besides the
 * generic bodies: tile and block sizes derived from the vector width, and small geometry helpers.
 * Expects CNN_VEC_BYTES (the width of one vector register) to be defined. */
#ifndef CNN_KERNEL_SUPPORT_H
#define CNN_KERNEL_SUPPORT_H

#include <math.h>
#include <string.h>

#include "internal.h"

/* GEMM register block MR x NR, cache blocks MC x KC of A and KC x NC of B. MC is a multiple of
 * every MR used, NC of every NR, so the packing buffers are exact. The blocks fill the registers:
 * 12 x 2 vectors with 32 AVX-512 registers, 6 x 2 with 16 AVX2 registers (float32: the
 * intrinsics micro-kernel of gemm_simd.h), 4 x 2 SSE2 vectors. */
#if CNN_VEC_BYTES >= 64
#define GEMM_MR 12
#define GEMM_NR (2 * CNN_VEC_BYTES / (int)sizeof(real))
#elif CNN_VEC_BYTES >= 32
#define GEMM_MR 6
#define GEMM_NR (2 * CNN_VEC_BYTES / (int)sizeof(real))
#else
#define GEMM_MR 4
#define GEMM_NR (2 * CNN_VEC_BYTES / (int)sizeof(real))
#endif
#define GEMM_MC 120
#define GEMM_KC 256
#define GEMM_NC 2048

static int64_t gemm_workspace_len(void)
{
    return (int64_t)GEMM_MC * GEMM_KC + (int64_t)GEMM_KC * GEMM_NC; /* packed A + packed B */
}

/* Output pixels per im2col tile: the column tile (K x tile) stays within ~128K elements (half a
 * megabyte of float32), in multiples of 16, never more than the image. */
static int64_t conv_tile_len(int64_t K, int64_t P)
{
    int64_t t = ((int64_t)1 << 17) / (K > 0 ? K : 1);
    t = t < 16 ? 16 : t - t % 16;
    return t < P ? t : P;
}

/* Elements per part of a threaded elementwise loop, at least: waking a thread must pay. */
#define CNN_ELEMENTWISE_GRAIN 32768

/* ---- float32 exp, sigmoid, tanh and erf without a libm call, so that loops over them vectorise -------
 * (libm's expf is a call per element, and sigmoid's sign branch mispredicts on real data: 7.7 ns
 * per element measured). exp(v) = 2^n e^r with n = round(v log2 e), r = v - n ln 2 in two parts
 * (Cody-Waite), e^r by Cephes expf's degree-7 polynomial; 2^n is applied in two halves so that
 * results in the subnormal range are right and an overflow gives inf. Within 2 ulp of exp over
 * float32; sigmoid within 2.5 ulp, tanh within 1.5 (tests/test_dense.py checks every binade);
 * NaN propagates. Float64 keeps libm. */
static inline float cnn_scale2f(float y, int32_t n) /* y * 2^n for n in [-150, 128] */
{
    const int32_t n1 = n / 2, n2 = n - n1;
    const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return y * s1 * s2;
}

static inline float cnn_vexpf(float v)
{
    float x = v > 89.0f ? 89.0f : v;  /* beyond: inf (or 0) anyway; keeps n in range */
    x = x < -104.0f ? -104.0f : x;
    x = x == x ? x : 0.0f;            /* NaN: compute on 0, return NaN below (no NaN-to-int) */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693359375f;   /* ln 2 = 0.693359375 - 2.12194440e-4, the first part exact */
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * (r * r) + r + 1.0f;
    const float y = cnn_scale2f(e, (int32_t)n);
    return v == v ? y : v;
}

/* 1 / (1 + e^-v), from e = e^-|v| <= 1 (no overflow, no branch). */
static inline float cnn_vsigmoidf(float v)
{
    const float e = cnn_vexpf(-fabsf(v));
    const float d = 1.0f + e;
    return v >= 0 ? 1.0f / d : e / d;
}

/* tanh: Cephes tanhf's odd polynomial below |v| = 0.625, else (1 - e) / (1 + e) with
 * e = e^-2|v| (no cancellation there: e <= 0.29); computed for |v|, then given the sign of v
 * (tanh is odd: -0 stays -0, NaN stays NaN). */
static inline float cnn_vtanhf(float v)
{
    const float a = fabsf(v), z = v * v;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float small = p * z * a + a;
    const float e = cnn_vexpf(-2.0f * a);
    const float big = (1.0f - e) / (1.0f + e);
    return copysignf(a < 0.625f ? small : big, v); /* NaN: a < 0.625 is false, big is NaN */
}

/* erf: below |v| = 0.921875, v + v P(v^2); above, 1 - exp(Q(|v| - 1)) with Q ~ log(erfc), whose
 * float32 rounding stays small against 1 (erfc <= 0.19 there); |v| is capped at 4, where erf
 * rounds to 1. P (degree 6) and Q (degree 7) are least-squares fits (Lawson-weighted towards
 * minimax) to the float64 functions: within 1.5 ulp of erf over float32 (as measured when fitted;
 * tests/test_dense.py checks GELU, built on it, over every binade). Odd, so -0 stays -0; NaN
 * stays NaN, +-inf gives +-1. */
static inline float cnn_verff(float v)
{
    const float a = fabsf(v), s = v * v;
    float p = 8.397801867e-05f;
    p = p * s - 8.149807109e-04f;
    p = p * s + 5.201715976e-03f;
    p = p * s - 2.685970254e-02f;
    p = p * s + 1.128370166e-01f;
    p = p * s - 3.761263490e-01f;
    p = p * s + 1.283791661e-01f;
    const float small = p * a + a;
    const float u = (a > 4.0f ? 4.0f : a) - 1.0f; /* NaN stays NaN, so big is NaN */
    float q = -2.111858885e-05f;
    q = q * u + 2.869046002e-04f;
    q = q * u - 2.007463248e-03f;
    q = q * u + 1.004286204e-02f;
    q = q * u - 4.156213254e-02f;
    q = q * u - 8.431072831e-01f;
    q = q * u - 2.638967514e+00f;
    q = q * u - 1.849605560e+00f;
    const float big = 1.0f - cnn_vexpf(q);
    return copysignf(a < 0.921875f ? small : big, v);
}

/* A 1x1 convolution with stride 1 and no padding reads the image itself as the column matrix. */
static int conv_is_pointwise(const conv_geom *g)
{
    return g->kH == 1 && g->kW == 1 && g->sH == 1 && g->sW == 1 && g->pT == 0 && g->pL == 0 &&
           g->OH == g->H && g->OW == g->W;
}

/* The direct kernel streams whole rows and needs little scratch; it wins while the reduction per
 * output (C_in/groups * kH * kW) is short. Longer reductions amortise im2col in the GEMM. A
 * stride along the width makes the direct kernel gather every input it reads, and the GEMM wins
 * (measured 1.5-7x) unless a group has fewer than 4 output channels (depthwise). */
#define CONV_DIRECT_MAX_K 64
#define CONV_STRIDED_DIRECT_MAX_MG 3

/* The direct kernels copy the padded extent of a group's input (direct_padded_dims); when the
 * padding dwarfs the image (a 3x3 image padded by 2^15), that copy would take gigabytes where the
 * GEMM's bounds-checked tiles take none. Computed in double: the product may exceed int64. */
static int conv_padding_dwarfs_image(const conv_geom *g)
{
    int64_t Hp, Wp;
    direct_padded_dims(g, &Hp, &Wp);
    return (double)Hp * (double)Wp > 4.0 * ((double)g->H * (double)g->W + (double)g->OH * (double)g->OW) + 65536.0;
}

/* The rule without the blocked kernel: for the scalar instruction set, float64, and the passes
 * the blocked kernel leaves to others (the input gradient of a strided convolution). */
static cnn_algo conv_direct_or_gemm(const conv_geom *g)
{
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW, Mg = g->C_out / g->groups;
    if (K > CONV_DIRECT_MAX_K || conv_padding_dwarfs_image(g)) return CNN_ALGO_GEMM;
    return g->sW > 1 && Mg > CONV_STRIDED_DIRECT_MAX_MG ? CNN_ALGO_GEMM : CNN_ALGO_DIRECT;
}

/* AUTO. Where the instruction set has the blocked kernels (AVX2, AVX-512), they won every layer of
 * the benchmark table in docs/DECISIONS.md, 1.4-10x over direct and GEMM, from the lecture's one
 * input channel to 256 channels, 1x1 to 5x5, strides 1 and 2, depthwise: AUTO picks them unless
 * the planes are mostly dropped columns (Wq = OW + (kW-1)*dilW/sW more than twice OW: a kernel far
 * wider than the output) or the padding dwarfs the image (their planes would be as large). */
#define CONV_BLOCKED_MAX_WASTE 2 /* Wq / OW at most */

/* Where the instruction set has the Winograd kernels (AVX2, AVX-512): a 3x3, stride-1,
 * dilation-1 layer with at least 64 channels per group in and out, or 32 and an output of at
 * least 20 x 20. Measured against BLOCKED, forward and input gradient alike (docs/DECISIONS.md):
 * 1.3-1.7x at 64 channels on 7- to 56-wide outputs; 1.02-1.07x at 32 on 28- and 56-wide,
 * 0.96x on 14-wide; slower at 24 channels and fewer but on 7-wide outputs. */
static int conv_prefers_winograd(const conv_geom *g)
{
#ifdef CNN_SIMD_WINOGRAD_FORWARD
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, ch = Cg < Mg ? Cg : Mg;
    const int64_t side = g->OH < g->OW ? g->OH : g->OW;
    if (g->kH != 3 || g->kW != 3 || g->sH != 1 || g->sW != 1 || g->dilH != 1 || g->dilW != 1 ||
        conv_padding_dwarfs_image(g))
        return 0;
    return ch >= 64 || (ch >= 32 && side >= 20);
#else
    (void)g;
    return 0;
#endif
}

static cnn_algo conv_resolve_algo(const conv_geom *g, cnn_algo algo)
{
    if (algo != CNN_ALGO_AUTO) return algo;
    if (conv_prefers_winograd(g)) return CNN_ALGO_WINOGRAD;
#ifdef CNN_SIMD_BLOCKED_FORWARD
    const double wq = (double)g->OW + (double)(g->kW - 1) * (double)g->dilW / (double)g->sW;
    if (!conv_padding_dwarfs_image(g) && wq <= CONV_BLOCKED_MAX_WASTE * (double)g->OW)
        return CNN_ALGO_BLOCKED;
#endif
    return conv_direct_or_gemm(g);
}

/* The weight gradient of a one-input-channel 3x3 layer (stride 1, no dilation, one group: the
 * first layer of the lecture's networks) runs on the direct kernel where AUTO or the caller chose
 * BLOCKED: measured on AVX2 (Zen 3), 1.15-1.44x over the blocked weight gradient at one thread
 * from 1 to 32 output channels on 12- to 200-wide images (1.12-1.47x on the three measured at two
 * threads), but for 2 output channels (0.91; 1.22 at two threads); 1x1, 2x2, 4x4, 5x5 and 7x7
 * kernels were mixed or slower and stay blocked. AVX-512 keeps the blocked kernel: on an Intel
 * Xeon the direct one was 1.07-1.27x at one thread but 0.88-0.93x at two and 0.76x on 12^2.
 * BLOCKED's scratch covers the direct kernel's (conv_scratch_len) because conv_direct_or_gemm
 * picks DIRECT here. Results depend on it (the summation order differs),
 * never on the thread count. */
static int conv_direct_weight_wins(const conv_geom *g)
{
#if defined(CNN_SIMD_BLOCKED_BACKWARD_WEIGHT) && defined(CNN_SIMD_CONV_BACKWARD_WEIGHT) && \
    CNN_VEC_BYTES == 32
    return g->C_in == 1 && g->groups == 1 && g->C_out != 2 && g->kH == 3 && g->kW == 3 &&
           g->sH == 1 && g->sW == 1 && g->dilH == 1 && g->dilW == 1 &&
           conv_direct_or_gemm(g) == CNN_ALGO_DIRECT;
#else
    (void)g;
    return 0;
#endif
}

/* Scratch of one thread (conv_prepare allocates g->threads of these): direct kernels, one padded
 * group of the input for the weight gradient; GEMM, one column tile plus the packing buffers;
 * blocked, its phase planes or what conv_direct_or_gemm runs where it does not apply; Winograd,
 * its transformed blocks or what BLOCKED needs. */
static cnn_status conv_scratch_len(const conv_geom *g, cnn_algo algo, int64_t *len)
{
    int64_t K, col = 0;
    cnn_status st;
    *len = 0;
    if (algo == CNN_ALGO_WINOGRAD) { /* its transforms, or BLOCKED's (weight gradient, elsewhere) */
        if ((st = conv_scratch_len(g, CNN_ALGO_BLOCKED, len))) return st;
#ifdef CNN_SIMD_WINOGRAD_SCRATCH
        int64_t wino;
        if ((st = CNN_SIMD_WINOGRAD_SCRATCH(g, &wino))) return st;
        if (wino > *len) *len = wino;
#endif
        return CNN_OK;
    }
    if (algo == CNN_ALGO_BLOCKED) { /* the intrinsics kernels' planes, or what runs instead */
        if ((st = conv_scratch_len(g, conv_direct_or_gemm(g), len))) return st;
#ifdef CNN_SIMD_BLOCKED_SCRATCH
        int64_t blocked;
        if ((st = CNN_SIMD_BLOCKED_SCRATCH(g, &blocked))) return st;
        if (blocked > *len) *len = blocked;
#endif
        return CNN_OK;
    }
    if (algo == CNN_ALGO_DIRECT) {
        int64_t Hp, Wp;
        direct_padded_dims(g, &Hp, &Wp);
        const int64_t padded[3] = {g->C_in / g->groups, Hp, Wp};
        if ((st = cnn_numel(3, padded, len))) return st;
#ifdef CNN_SIMD_SCRATCH /* the intrinsics kernels' padded rows and flipped kernel */
        const int64_t simd = CNN_SIMD_SCRATCH(g);
        if (simd > *len) *len = simd;
#endif
        return CNN_OK;
    }
    if (algo != CNN_ALGO_GEMM) return CNN_OK;
    const int64_t ks[3] = {g->C_in / g->groups, g->kH, g->kW};
    if ((st = cnn_numel(3, ks, &K))) return st;
    if (!conv_is_pointwise(g) && (st = cnn_mul_sizes(K, conv_tile_len(K, g->OH * g->OW), &col)))
        return st;
    return cnn_add_sizes(col, gemm_workspace_len(), len);
}

/* Output columns [*lo, *hi) whose input column ow*s + off lies in [0, W). The first is
 * ceil(-off / s), written so that no sum overflows when s is near INT64_MAX. */
static void ow_range(int64_t OW, int64_t W, int64_t s, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off - 1) / s + 1;
    int64_t b = W - off <= 0 ? 0 : (W - 1 - off) / s + 1;
    *lo = a;
    *hi = b < OW ? b : OW;
    if (*hi < *lo) *hi = *lo;
}

/* One axis of an average-pooling window, PyTorch's rule: the window [o*s - p, +k) is first cut
 * at the end of the right padding (its length then is the divisor's factor with
 * count_include_pad), then clipped to the input, [*lo, *hi) (whose length is the factor
 * without). Returns the padded length. */
static int64_t avg_span(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n, int64_t *lo,
                        int64_t *hi)
{
    const int64_t start = o * s - p;
    int64_t end = start + k;
    if (end > n + p) end = n + p;
    *lo = start < 0 ? 0 : start;
    *hi = end < n ? end : n;
    return end - start;
}

/* The kernel taps [*k0, *k1) that reach the input for some output column: tap kw reads
 * column ow*s + kw*d - p of a row of n. Windows far wider than the input touch only these. */
static void tap_range(int64_t OW, int64_t n, int64_t s, int64_t d, int64_t p, int64_t k,
                      int64_t *k0, int64_t *k1)
{
    const int64_t reach = p - (OW - 1) * s; /* kw*d must be >= this */
    int64_t lo = reach > 0 ? (reach + d - 1) / d : 0;
    int64_t hi = (n - 1 + p) / d + 1;       /* kw*d <= n - 1 + p */
    *k0 = lo;
    *k1 = hi < k ? hi : k;
    if (*k1 < *k0) *k1 = *k0;
}

/* Adaptive window of output cell i of `out` cells over `n` inputs: [floor(i*n/out), ceil((i+1)*n/out)),
 * computed without forming i*n. */
static int64_t adaptive_start(int64_t i, int64_t out, int64_t n)
{
    return (i / out) * n + ((i % out) * n) / out;
}

static int64_t adaptive_end(int64_t i, int64_t out, int64_t n)
{
    return n - adaptive_start(out - 1 - i, out, n);
}

#endif /* CNN_KERNEL_SUPPORT_H */
