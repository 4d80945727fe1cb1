/* internal.h — what the engine's files share and nobody outside csrc/ sees: checked allocation,
 * the convolution geometry the kernels run on, and the GEMM and im2col helpers.
 * Type-generic bodies live in csrc/generic/ and are compiled once per dtype by
 * generic/instantiate.h, with `real` the element type and R(name) the suffixed name. */
#ifndef CNN_INTERNAL_H
#define CNN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cnn.h"

/* ---- checked allocation ------------------------------------------------------------------------ */

/* *out = malloc(count * elsize) with the product overflow-checked; count 0 allocates one byte so a
 * NULL pointer always means failure. Freed with free(). */
cnn_status cnn_alloc(int64_t count, size_t elsize, void **out);
/* Same, zero-filled. */
cnn_status cnn_calloc(int64_t count, size_t elsize, void **out);
/* *out = the product of shape[0..ndim-1], overflow-checked. */
cnn_status cnn_numel(int ndim, const int64_t *shape, int64_t *out);

/* ---- convolution geometry ------------------------------------------------------------------------ */

/* What a convolution kernel needs: the input (N, C_in, H, W), the output (N, C_out, OH, OW), the
 * kernel, strides, dilations and the top/left zero padding. The bottom/right padding only matters
 * for OH/OW, which are given explicitly: transpose convolution runs the same kernels with output
 * padding that no symmetric conv padding describes. Every input read is bounds-checked against H, W. */
typedef struct {
    int64_t N, C_in, H, W, C_out, OH, OW;
    int64_t kH, kW, sH, sW, dH, dW, pT, pL, groups;
} conv_geom;

/* Rows and columns of the zero-padded input the direct weight-gradient kernel reads:
 * ((OH-1)*sH + dH*(kH-1) + 1) x ((OW-1)*sW + dW*(kW-1) + 1). */
void direct_padded_dims(const conv_geom *g, int64_t *Hp, int64_t *Wp);

/* Fill g from a descriptor, validating it. */
cnn_status conv_geom_from_desc(const cnn_conv2d_desc *d, conv_geom *g);
/* The kernel AUTO means for g (never AUTO); `algo` itself when it is not AUTO. */
cnn_algo conv_resolve_algo(const conv_geom *g, cnn_algo algo);
/* Elements of scratch the kernels need for (g, algo); *len = 0 when none. */
cnn_status conv_scratch_len(const conv_geom *g, cnn_algo algo, int64_t *len);
/* Checks dtype and algo, resolves AUTO and allocates the scratch (*scratch NULL when none is
 * needed), so that nothing can fail once outputs are being written. Free with free(). */
cnn_status conv_prepare(conv_geom *g, cnn_dtype dtype, cnn_algo *algo, void **scratch);

/* The conv kernels per dtype; algo is resolved (not AUTO) and scratch holds conv_scratch_len()
 * elements. forward: y = (accumulate ? y : 0) + conv(x, w) + b (b may be NULL).
 * backward_data: dx += conv^T(dy, w). backward_weight: dw += corr(dy, x). */
void conv_forward_f32(const conv_geom *g, cnn_algo algo, const float *x, const float *w,
                      const float *b, float *y, int accumulate, float *scratch);
void conv_forward_f64(const conv_geom *g, cnn_algo algo, const double *x, const double *w,
                      const double *b, double *y, int accumulate, double *scratch);
void conv_backward_data_f32(const conv_geom *g, cnn_algo algo, const float *dy, const float *w,
                            float *dx, float *scratch);
void conv_backward_data_f64(const conv_geom *g, cnn_algo algo, const double *dy, const double *w,
                            double *dx, double *scratch);
void conv_backward_weight_f32(const conv_geom *g, cnn_algo algo, const float *dy, const float *x,
                              float *dw, float *scratch);
void conv_backward_weight_f64(const conv_geom *g, cnn_algo algo, const double *dy,
                              const double *x, double *dw, double *scratch);
/* db (C) += sum of dy (N, C, P) over N and P, accumulated in double. */
void bias_backward_f32(int64_t N, int64_t C, int64_t P, const float *dy, float *db);
void bias_backward_f64(int64_t N, int64_t C, int64_t P, const double *dy, double *db);

/* ---- GEMM ------------------------------------------------------------------------------------------ */

/* C (M, N) = (accumulate ? C : 0) + op(A) (M, K) @ op(B) (K, N), all row-major with leading
 * dimensions lda, ldb, ldc. op(A) = A, or A^T when trans_a (A stored (K, M)); same for B.
 * The workspace holds gemm_workspace_len() elements of the gemm's type. The sum over K runs in a
 * fixed order, so results do not depend on how the caller tiles M or N. */
int64_t gemm_workspace_len(void);
void gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *A,
              int64_t lda, const float *B, int64_t ldb, int accumulate, float *C, int64_t ldc,
              float *work);
void gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const double *A,
              int64_t lda, const double *B, int64_t ldb, int accumulate, double *C, int64_t ldc,
              double *work);

#endif /* CNN_INTERNAL_H */
