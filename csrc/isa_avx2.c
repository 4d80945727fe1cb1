/* isa_avx2.c — the kernels compiled for AVX2 + FMA (x86-64 with GCC or Clang), used when the CPU
 * has them. The same C source as every other path; the compiler vectorises it 8 floats wide. */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(CNN_X86_TARGET_PRAGMAS) /* platform.h, via internal.h */
#include <immintrin.h>
#endif

#if defined(CNN_X86_TARGET_PRAGMAS)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define CNN_ISA_SUFFIX _avx2
#define CNN_ISA_TABLE cnn_kernels_avx2
#define CNN_ISA_ID CNN_ISA_AVX2
#define CNN_VEC_BYTES 32
/* The vector layer of direct_simd.h: 8 floats per vector, tiles of up to 6 output channels. */
typedef __m256 ds_vec;
#define DS_VW 8
#define DS_CB 6
static inline ds_vec ds_zero(void) { return _mm256_setzero_ps(); }
static inline ds_vec ds_set1(float f) { return _mm256_set1_ps(f); }
static inline ds_vec ds_load(const float *p) { return _mm256_loadu_ps(p); }
static inline ds_vec ds_fma(ds_vec a, ds_vec b, ds_vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline ds_vec ds_add(ds_vec a, ds_vec b) { return _mm256_add_ps(a, b); }
static inline void ds_store(float *p, ds_vec v) { _mm256_storeu_ps(p, v); }
static inline float ds_hsum(ds_vec v) /* a fixed order: halves, then pairs */
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
static inline __m256i ds_mask(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline ds_vec ds_load_part(const float *p, int64_t n) { return _mm256_maskload_ps(p, ds_mask(n)); }
/* The first n lanes by 4-, 2- and 1-lane stores: a masked store (vmaskmovps) cost more than the
 * rest of a lecture row's last tile on Zen 3. */
static inline void ds_store_part(float *p, ds_vec v, int64_t n)
{
    if (n >= 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    __m128 h = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, h);
        p += 4;
        h = _mm256_extractf128_ps(v, 1);
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)p, h);
        p += 2;
        h = _mm_movehl_ps(h, h);
    }
    if (n & 1) _mm_store_ss(p, h);
}

/* The float32 direct-convolution kernels in intrinsics (direct_simd.h), hooked into
 * generic/conv.h and into the scratch size (kernel_support.h). */
#include "direct_simd.h"
#define CNN_SIMD_CONV_FORWARD ds_conv_forward
#define CNN_SIMD_CONV_BACKWARD_DATA ds_conv_backward_data
#define CNN_SIMD_CONV_BACKWARD_WEIGHT ds_conv_backward_weight
#define CNN_SIMD_SCRATCH ds_scratch_len
/* 8 x 8 transposes (transpose_simd.h): packing B^T for the GEMM, the blocked kernels' image
 * tiles. */
#include "transpose_simd.h"

/* The float32 blocked kernels (blocked_simd.h) for the wide layers, CNN_ALGO_BLOCKED. */
#include "blocked_simd.h"
#define CNN_SIMD_BLOCKED_FORWARD pw_conv_forward             /* 1x1: pointwise_simd.h, below */
#define CNN_SIMD_BLOCKED_BACKWARD_DATA pw_conv_backward_data
#define CNN_SIMD_BLOCKED_BACKWARD_WEIGHT pw_conv_backward_weight
#define CNN_SIMD_BLOCKED_SCRATCH bk_scratch_len
/* The float32 Winograd kernels (winograd_simd.h) for 3x3 stride-1 layers, CNN_ALGO_WINOGRAD. */
#include "winograd_simd.h"
#define CNN_SIMD_WINOGRAD_FORWARD wg_conv_forward
#define CNN_SIMD_WINOGRAD_BACKWARD_DATA wg_conv_backward_data
#define CNN_SIMD_WINOGRAD_BACKWARD_WEIGHT wg_conv_backward_weight
#define CNN_SIMD_WINOGRAD_SCRATCH wg_scratch_len
/* Dense layers with small batches: dot products and unpacked GEMMs (dense_simd.h). */
#include "dense_simd.h"
#define CNN_SIMD_LINEAR_FORWARD dn_linear_forward
#define CNN_SIMD_LINEAR_BACKWARD dn_linear_backward
/* 1x1 convolutions on the dense GEMM (pointwise_simd.h), the other geometries on the blocked
 * kernels. */
#include "pointwise_simd.h"
/* The float32 GEMM micro-kernel in intrinsics (gemm_simd.h), hooked into generic/gemm.h. */
#define GS_MR 6
#include "gemm_simd.h"
#define CNN_SIMD_GEMM_MICRO gs_micro
/* Packing B^T with transpose_simd.h's 8 x 8 transposes (included above). */
#define CNN_SIMD_PACK_BT ts_pack_bt

#include "isa_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int cnn_no_avx2_here; /* not x86, or MSVC (no per-function target: the portable table only) */
#endif
