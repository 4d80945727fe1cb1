/* isa_avx512.c — the kernels compiled for AVX-512 (F, VL, BW, DQ) + FMA (x86-64 with GCC or
 * Clang), used when the CPU and OS support them: the compiler vectorises 16 floats wide. */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(CNN_X86_TARGET_PRAGMAS) /* platform.h, via internal.h */
#include <immintrin.h>
#endif

#if defined(CNN_X86_TARGET_PRAGMAS)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#endif

#define CNN_ISA_SUFFIX _avx512
#define CNN_ISA_TABLE cnn_kernels_avx512
#define CNN_ISA_ID CNN_ISA_AVX512
#define CNN_VEC_BYTES 64
/* The vector layer of direct_simd.h: 16 floats per vector, tiles of up to 8 output channels. */
typedef __m512 ds_vec;
#define DS_M512 1 /* ds_vec is __m512, not test_lanes16.c's emulation: intrinsics may mix in */
#define DS_VW 16
#define DS_CB 8
static inline ds_vec ds_zero(void) { return _mm512_setzero_ps(); }
static inline ds_vec ds_set1(float f) { return _mm512_set1_ps(f); }
static inline ds_vec ds_load(const float *p) { return _mm512_loadu_ps(p); }
static inline ds_vec ds_fma(ds_vec a, ds_vec b, ds_vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline ds_vec ds_add(ds_vec a, ds_vec b) { return _mm512_add_ps(a, b); }
static inline void ds_store(float *p, ds_vec v) { _mm512_storeu_ps(p, v); }
static inline float ds_hsum(ds_vec v) { return _mm512_reduce_add_ps(v); }
static inline ds_vec ds_load_part(const float *p, int64_t n)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
static inline void ds_store_part(float *p, ds_vec v, int64_t n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v);
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
/* GEMM: generic/gemm.h's micro-kernel, which GCC keeps in registers as 12 x 2 vectors; the
 * intrinsics one (gemm_simd.h) measured no faster here (slower for 32-row products). */
/* Packing B^T with transpose_simd.h's 8 x 8 transposes (included above). */
#define CNN_SIMD_PACK_BT ts_pack_bt

#include "isa_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int cnn_no_avx512_here; /* not x86, or MSVC (no per-function target: the portable table only) */
#endif
