/* isa_avx512.c — the kernels compiled for AVX-512 (F, VL, BW, DQ) + FMA (x86-64 with GCC or
 * Clang), used when the CPU and OS support them: the compiler vectorises 16 floats wide. */
#include <math.h>
#include <string.h>

#include "internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
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
#include "isa_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int cnn_no_avx512_here; /* not x86, or a compiler without target attributes */
#endif
