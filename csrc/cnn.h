/* cnn.h — the one public header of the cnnpy engine: convolution, padding, pooling, dense layers,
 * activations and losses, forward and backward, over flat C-contiguous float32/float64 arrays.
 *
 * Overview
 *   Every operation is a pair of plain functions, cnn_<op>_forward and cnn_<op>_backward. Arrays are
 *   flat, C-contiguous, in NCHW layout, and typed by a cnn_dtype argument (CNN_FLOAT32 or
 *   CNN_FLOAT64): every `void *` data pointer of one call points to elements of that type.
 *   Weights are stored as PyTorch stores them:
 *     conv            (C_out, C_in/groups, kH, kW)
 *     transpose conv  (C_in, C_out/groups, kH, kW)
 *     linear          (out, in)
 *
 * Ownership
 *   The caller owns all memory. The engine never keeps a pointer after a call returns; scratch space
 *   is allocated and freed inside the call (and checked). Forward functions overwrite their outputs.
 *   Backward functions ACCUMULATE (+=) into gradient arrays the caller zeroed; a NULL gradient
 *   pointer skips that gradient. State a backward pass needs (max-pool argmax, dropout mask) is an
 *   explicit output of the forward pass.
 *
 * Errors
 *   Every function returns a cnn_status; cnn_strerror() names it. Arguments are validated before any
 *   output is written, so a failed call leaves the caller's arrays untouched (except CNN_ENOMEM,
 *   which can only occur before outputs are written as well). The engine never exits, aborts or prints.
 *
 * Sizes
 *   All sizes are int64_t. Products of sizes go through cnn_mul_sizes(), which reports overflow.
 *   Output sizes come from one function per op family: cnn_conv_out_len, cnn_conv_transpose_out_len,
 *   cnn_pool_out_len, cnn_pad_out_len. Nobody else derives them.
 *
 * Example: a 3x3 convolution of one 5x5 single-channel image with zero padding 1
 *
 *     cnn_conv2d_desc d = {0};
 *     d.batch = 1; d.in_channels = 1; d.in_h = 5; d.in_w = 5; d.out_channels = 1;
 *     d.kernel_h = 3; d.kernel_w = 3; d.stride_h = d.stride_w = 1; d.dilation_h = d.dilation_w = 1;
 *     d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1; d.groups = 1;
 *     int64_t oh, ow;
 *     cnn_conv2d_output_shape(&d, &oh, &ow);                                   // 5, 5
 *     double y[25];
 *     cnn_status st = cnn_conv2d_forward(&d, CNN_FLOAT64, CNN_ALGO_AUTO, img, ker, NULL, y);
 *     if (st != CNN_OK) fprintf(stderr, "%s\n", cnn_strerror(st));
 */
#ifndef CNN_H
#define CNN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Status, types, sizes                                                                            */

typedef enum {
    CNN_OK = 0,
    CNN_EINVAL,    /* an argument is out of its domain (stride 0, unknown mode, negative padding) */
    CNN_ESHAPE,    /* shapes do not fit together (kernel larger than the padded input, groups) */
    CNN_ENOMEM,    /* scratch allocation failed */
    CNN_EOVERFLOW, /* a size or a product of sizes does not fit in int64_t */
    CNN_EINDEX,    /* an index array points outside its target (max_unpool) */
    CNN_EDTYPE     /* unknown cnn_dtype */
} cnn_status;

/* A static, human-readable name for a status ("invalid argument", ...). Never NULL. */
const char *cnn_strerror(cnn_status status);

typedef enum { CNN_FLOAT32 = 0, CNN_FLOAT64 = 1 } cnn_dtype;

/* Which convolution kernel to run. AUTO picks the fast one by a fixed rule (cnn_conv_choose_algo);
 * REFERENCE is the plain loop every fast kernel is tested against. */
typedef enum {
    CNN_ALGO_AUTO = 0,
    CNN_ALGO_REFERENCE = 1,
    CNN_ALGO_DIRECT = 2, /* direct loops over output rows: best when C_in/groups * kH * kW is small */
    CNN_ALGO_GEMM = 3,   /* im2col, tile by tile, into a blocked GEMM: best for larger channel counts */
    CNN_ALGO_BLOCKED = 4 /* register tiles over a phase-split copy of the input, any geometry (float32
                          * with AVX2 or AVX-512; elsewhere, and for the input gradient of a strided
                          * convolution, direct or GEMM by the rule AUTO uses without it) */
} cnn_algo;

/* Instruction sets the kernels are compiled for; the best one the CPU supports is used unless
 * cnn_set_isa chooses another. The scalar (portable C) path exists on every machine. */
typedef enum { CNN_ISA_SCALAR = 0, CNN_ISA_AVX2 = 1, CNN_ISA_AVX512 = 2 } cnn_isa;

/* "scalar", "avx2", "avx512" (NULL for an unknown value). */
const char *cnn_isa_name(cnn_isa isa);
/* 1 if kernels for `isa` are compiled in and the CPU (and OS) support it. */
int cnn_isa_available(cnn_isa isa);
/* The instruction set in use. */
cnn_isa cnn_get_isa(void);
/* Use `isa` from now on; CNN_EINVAL if it is not available. Not to be called while another thread
 * runs engine operations. */
cnn_status cnn_set_isa(cnn_isa isa);

/* Threads the kernels split their work over (default: CNNPY_NUM_THREADS, else the CPU count).
 * Results are bitwise identical for any count. Not to be changed while operations run. */
int cnn_get_num_threads(void);
cnn_status cnn_set_num_threads(int n); /* CNN_EINVAL unless 1 <= n <= 256 */
/* The least work (multiply-adds) a loop hands to one thread (default 2^17: less costs more to
 * hand over than it saves). Returns the previous value; work < 1 leaves it unchanged. Tests set
 * it to 1 to split small problems; results never depend on it. */
int64_t cnn_set_min_part_work(int64_t work);

/* *out = a * b for non-negative a, b; CNN_EOVERFLOW if it does not fit in int64_t. */
cnn_status cnn_mul_sizes(int64_t a, int64_t b, int64_t *out);
/* *out = a + b for non-negative a, b; CNN_EOVERFLOW if it does not fit. */
cnn_status cnn_add_sizes(int64_t a, int64_t b, int64_t *out);

/* Convolution output length along one axis:
 *     out = floor((n + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1
 * Requires n >= 1, k >= 1, stride >= 1, dilation >= 1, pads >= 0 (else CNN_EINVAL) and a padded
 * input at least as long as the dilated kernel (else CNN_ESHAPE). */
cnn_status cnn_conv_out_len(int64_t n, int64_t k, int64_t stride, int64_t pad_before,
                            int64_t pad_after, int64_t dilation, int64_t *out);

/* Transpose-convolution output length along one axis:
 *     out = (n - 1)*stride - 2*pad + dilation*(k-1) + output_padding + 1
 * Requires n >= 1, k >= 1, stride >= 1, dilation >= 1, pad >= 0, 0 <= output_padding and
 * (output_padding < stride or output_padding < dilation) (else CNN_EINVAL); out >= 0 (else
 * CNN_ESHAPE): a padding that crops the whole output leaves an empty one, which the transpose
 * convolution computes as it does zero output channels. */
cnn_status cnn_conv_transpose_out_len(int64_t n, int64_t k, int64_t stride, int64_t pad,
                                      int64_t dilation, int64_t output_padding, int64_t *out);

/* Pooling output length along one axis (PyTorch's rule):
 *     out = floor((n + 2*pad - dilation*(k-1) - 1 + (ceil_mode ? stride-1 : 0)) / stride) + 1
 *     and, in ceil_mode, out -= 1 when the last window would start inside the right padding:
 *     (out-1)*stride >= n + pad.
 * Requires n >= 1, k >= 1, stride >= 1, dilation >= 1, 0 <= pad <= k/2 (else CNN_EINVAL), out >= 1
 * (else CNN_ESHAPE). */
cnn_status cnn_pool_out_len(int64_t n, int64_t k, int64_t stride, int64_t pad, int64_t dilation,
                            int ceil_mode, int64_t *out);

/* ---------------------------------------------------------------------------------------------- */
/* Padding                                                                                         */

/* How values outside the input are made, shown for the row 1 2 3 padded by 2 on each side:
 *
 *     constant   (value v)          v v | 1 2 3 | v v
 *     reflect    edge not repeated  3 2 | 1 2 3 | 2 1      (numpy "reflect", alias "mirror")
 *     symmetric  edge repeated      2 1 | 1 2 3 | 3 2      (numpy "symmetric")
 *     replicate  edge extended      1 1 | 1 2 3 | 3 3      (numpy "edge")
 *     circular   periodic           2 3 | 1 2 3 | 1 2      (numpy "wrap")
 *
 * Pads wider than the input keep bouncing (reflect, symmetric) or wrapping (circular) exactly as
 * numpy.pad does. A negative pad crops that many elements from that side; reflect, symmetric and
 * replicate still mirror or extend about the original edges, while circular wraps around what
 * the crops leave (both exactly as PyTorch's pad). */
typedef enum {
    CNN_PAD_CONSTANT = 0,
    CNN_PAD_REFLECT = 1,
    CNN_PAD_SYMMETRIC = 2,
    CNN_PAD_REPLICATE = 3,
    CNN_PAD_CIRCULAR = 4
} cnn_pad_mode;

/* Padded length along one axis: out = n + before + after (negative pads crop). CNN_ESHAPE if the
 * crops remove more than n, or if a mode other than constant must pad from nothing (an empty axis,
 * or for circular an axis cropped to nothing). */
cnn_status cnn_pad_out_len(int64_t n, int64_t before, int64_t after, cnn_pad_mode mode,
                           int64_t *out);

/* x has `ndim` dims of sizes shape[0..ndim-1]; pads[2*i], pads[2*i+1] are the pads before and
 * after dim i (0 for dims not padded). y has the padded shape. value is used by CNN_PAD_CONSTANT. */
cnn_status cnn_pad_forward(cnn_dtype dtype, int ndim, const int64_t *shape, const int64_t *pads,
                           cnn_pad_mode mode, double value, const void *x, void *y);
/* dx (shape) += the adjoint of padding applied to dy (padded shape): every element of dy is added
 * to the input element it was copied from; constant-filled elements contribute nothing. */
cnn_status cnn_pad_backward(cnn_dtype dtype, int ndim, const int64_t *shape, const int64_t *pads,
                            cnn_pad_mode mode, const void *dy, void *dx);

/* ---------------------------------------------------------------------------------------------- */
/* Convolution (cross-correlation, as CNNs compute). Conv1d is conv2d with in_h = kernel_h = 1.     */

typedef struct {
    int64_t batch;                /* N */
    int64_t in_channels;          /* C_in, divisible by groups (0 allowed: the output is the bias) */
    int64_t in_h, in_w;           /* H, W of the input */
    int64_t out_channels;         /* C_out, divisible by groups (0 allowed: an empty output) */
    int64_t kernel_h, kernel_w;   /* kH, kW */
    int64_t stride_h, stride_w;   /* >= 1 */
    int64_t pad_top, pad_bottom;  /* implicit zero padding, >= 0 each side */
    int64_t pad_left, pad_right;
    int64_t dilation_h, dilation_w; /* >= 1 */
    int64_t groups;               /* >= 1 */
} cnn_conv2d_desc;

/* Validates the whole descriptor and gives OH, OW (cnn_conv_out_len per axis). batch may be 0. */
cnn_status cnn_conv2d_output_shape(const cnn_conv2d_desc *d, int64_t *out_h, int64_t *out_w);

/* The kernel CNN_ALGO_AUTO runs for this descriptor (never AUTO itself). */
cnn_algo cnn_conv_choose_algo(const cnn_conv2d_desc *d);

/* y = conv(x, w) + b.  x is (N, C_in, H, W), w is (C_out, C_in/groups, kH, kW), b is (C_out) or
 * NULL, y is (N, C_out, OH, OW). */
cnn_status cnn_conv2d_forward(const cnn_conv2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                              const void *x, const void *w, const void *b, void *y);

/* dx (N, C_in, H, W), dw (like w), db (C_out) += gradients of the loss given dy (N, C_out, OH, OW).
 * Any of dx, dw, db may be NULL. x is needed only for dw, w only for dx (may be NULL otherwise). */
cnn_status cnn_conv2d_backward(const cnn_conv2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                               const void *dy, const void *x, const void *w,
                               void *dx, void *dw, void *db);

/* ---------------------------------------------------------------------------------------------- */
/* Transpose convolution: the adjoint (gradient) of convolution with respect to its input.        */
/* It runs by output phases: along an axis, outputs o = a + j*stride (phase a) receive exactly the
 * kernel taps kk with kk*dilation - pad = a (mod stride), so each phase is an ordinary stride-1
 * convolution (for k4 s2 p1: even outputs take taps 1 and 3, odd outputs taps 0 and 2). Every
 * output is written once and nothing is multiplied by an inserted zero. `algo`: REFERENCE, the
 * plain loops; DIRECT (and BLOCKED), the phases with direct register tiles (AUTO's choice); GEMM,
 * the phases with im2col tiles and a GEMM each. Where the phases would read a padded input copy that dwarfs
 * the data (a huge padding with dilation next to a small image), every algo but REFERENCE takes
 * the general path instead: the convolution kernels with input and output exchanged. The input
 * gradient is an ordinary stride-s convolution of dy, run by the convolution kernel `algo` names
 * (AUTO: cnn_conv_choose_algo's rule). */

typedef struct {
    int64_t batch;                 /* N */
    int64_t in_channels;           /* C_in of the transpose conv (divisible by groups) */
    int64_t in_h, in_w;            /* H, W of its input */
    int64_t out_channels;          /* C_out (divisible by groups) */
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;          /* removed from both sides of the full output */
    int64_t output_padding_h, output_padding_w; /* extra rows/cols at the bottom/right */
    int64_t dilation_h, dilation_w;
    int64_t groups;
} cnn_conv_transpose2d_desc;

/* OH, OW by cnn_conv_transpose_out_len (either may be 0: an empty output); validates the
 * descriptor. */
cnn_status cnn_conv_transpose2d_output_shape(const cnn_conv_transpose2d_desc *d, int64_t *out_h,
                                             int64_t *out_w);

/* y = conv_transpose(x, w) + b.  x is (N, C_in, H, W), w is (C_in, C_out/groups, kH, kW),
 * b is (C_out) or NULL, y is (N, C_out, OH, OW). */
cnn_status cnn_conv_transpose2d_forward(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                        cnn_algo algo, const void *x, const void *w,
                                        const void *b, void *y);

/* dx, dw, db += gradients given dy (N, C_out, OH, OW); any may be NULL. */
cnn_status cnn_conv_transpose2d_backward(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                         cnn_algo algo, const void *dy, const void *x,
                                         const void *w, void *dx, void *dw, void *db);

/* ---------------------------------------------------------------------------------------------- */
/* Pooling over (planes, H, W) where planes = N*C.                                               */

typedef struct {
    int64_t planes;               /* N*C */
    int64_t in_h, in_w;
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;         /* implicit: -inf for max, 0 for average; <= kernel/2 */
    int64_t dilation_h, dilation_w; /* max pooling only; must be 1 for average pooling */
    int ceil_mode;
    int count_include_pad;        /* average pooling: divide by the window size clipped to the padded input */
    int64_t divisor_override;     /* average pooling: divide by this when > 0 */
} cnn_pool2d_desc;

cnn_status cnn_pool2d_output_shape(const cnn_pool2d_desc *d, int64_t *out_h, int64_t *out_w);

/* y (planes, OH, OW) = window maxima; indices (planes, OH, OW) = flat index ih*W + iw of each
 * maximum in its input plane. Ties keep the first element in row-major window order; NaN
 * propagates (the last NaN of the window wins); an all -inf window gives -inf and the index of the
 * window's first in-bounds element. A window that holds no input element at all (dilation with
 * padding can skip over a small input) gives -inf and index -1: its output depends on no input,
 * so the backward sends it no gradient and max unpooling puts its value nowhere. Every other
 * index points inside the input. */
cnn_status cnn_maxpool2d_forward(const cnn_pool2d_desc *d, cnn_dtype dtype, const void *x,
                                 void *y, int64_t *indices);
/* dx (planes, in_h, in_w) += dy scattered to indices (planes, out_h, out_w); an index of -1
 * receives nothing. Used by every max pooling (plain and adaptive). CNN_EINDEX if an index is
 * outside [-1, in_h*in_w), checked before dx is written. */
cnn_status cnn_maxpool2d_backward(cnn_dtype dtype, int64_t planes, int64_t in_h, int64_t in_w,
                                  int64_t out_h, int64_t out_w, const void *dy,
                                  const int64_t *indices, void *dx);

/* y = window means. The divisor is divisor_override if > 0; else, with count_include_pad, the
 * window's size clipped to the padded input (a ceil_mode window hanging past the right padding
 * counts only what lies inside it); else the number of in-bounds elements. */
cnn_status cnn_avgpool2d_forward(const cnn_pool2d_desc *d, cnn_dtype dtype, const void *x, void *y);
cnn_status cnn_avgpool2d_backward(const cnn_pool2d_desc *d, cnn_dtype dtype, const void *dy,
                                  void *dx);

/* Adaptive pooling: output cell i covers input [floor(i*n/out), ceil((i+1)*n/out)). */
cnn_status cnn_adaptive_avgpool2d_forward(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                          int64_t in_w, int64_t out_h, int64_t out_w,
                                          const void *x, void *y);
cnn_status cnn_adaptive_avgpool2d_backward(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                           int64_t in_w, int64_t out_h, int64_t out_w,
                                           const void *dy, void *dx);
cnn_status cnn_adaptive_maxpool2d_forward(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                          int64_t in_w, int64_t out_h, int64_t out_w,
                                          const void *x, void *y, int64_t *indices);

/* y (planes, out_h, out_w) = zeros with y[p][indices[p][i]] = x[p][i]; x and indices are
 * (planes, in_len). Later entries win on duplicate indices; an index of -1 (max pooling's window
 * with no input element) puts its value nowhere. CNN_EINDEX if an index is outside
 * [-1, out_h*out_w), checked before y is written. */
cnn_status cnn_maxunpool2d_forward(cnn_dtype dtype, int64_t planes, int64_t in_len, int64_t out_h,
                                   int64_t out_w, const void *x, const int64_t *indices, void *y);
/* dx (planes, in_len) += dy gathered at indices (nothing where an index is -1). */
cnn_status cnn_maxunpool2d_backward(cnn_dtype dtype, int64_t planes, int64_t in_len,
                                    int64_t out_h, int64_t out_w, const void *dy,
                                    const int64_t *indices, void *dx);

/* ---------------------------------------------------------------------------------------------- */
/* Resizing (data transforms): PyTorch's interpolate with align_corners=False, no antialias.      */

typedef enum { CNN_RESIZE_NEAREST = 0, CNN_RESIZE_BILINEAR = 1 } cnn_resize_mode;

/* y (planes, out_h, out_w) = x (planes, in_h, in_w) resized. Nearest: source index
 * min(floor(dst * in/out), in - 1) computed in float as PyTorch does. Bilinear: source coordinate
 * max(in/out * (dst + 0.5) - 0.5, 0) and its two neighbours, weights in the array's precision. */
cnn_status cnn_resize2d_forward(cnn_dtype dtype, cnn_resize_mode mode, int64_t planes, int64_t in_h,
                                int64_t in_w, int64_t out_h, int64_t out_w, const void *x, void *y);

/* ---------------------------------------------------------------------------------------------- */
/* Dense layers and elementwise functions                                                         */

/* y (batch, out) = x (batch, in) @ w^T (w is (out, in)) + b (out) or no bias when b is NULL. */
cnn_status cnn_linear_forward(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                              const void *x, const void *w, const void *b, void *y);
/* dx (batch, in), dw (out, in), db (out) += gradients given dy (batch, out); any may be NULL. */
cnn_status cnn_linear_backward(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                               const void *dy, const void *x, const void *w, void *dx, void *dw,
                               void *db);

/* Elementwise over n elements. Backward functions take the forward INPUT x and accumulate into dx.
 *   relu(x) = max(x, 0)                 relu'(x) = x > 0
 *   leaky_relu(x) = x > 0 ? x : slope*x  leaky_relu'(x) = x > 0 ? 1 : slope
 *   sigmoid(x) = 1 / (1 + exp(-x))      sigmoid' = s (1 - s)
 *   tanh                                tanh' = 1 - tanh^2
 * NaN propagates through every one of them. */
cnn_status cnn_relu_forward(cnn_dtype dtype, int64_t n, const void *x, void *y);
cnn_status cnn_relu_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx);
cnn_status cnn_leaky_relu_forward(cnn_dtype dtype, int64_t n, double slope, const void *x, void *y);
cnn_status cnn_leaky_relu_backward(cnn_dtype dtype, int64_t n, double slope, const void *dy,
                                   const void *x, void *dx);
cnn_status cnn_sigmoid_forward(cnn_dtype dtype, int64_t n, const void *x, void *y);
cnn_status cnn_sigmoid_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx);
cnn_status cnn_tanh_forward(cnn_dtype dtype, int64_t n, const void *x, void *y);
cnn_status cnn_tanh_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx);

/* Softmax along the middle axis of x viewed as (outer, n, inner). The backward functions take the
 * forward OUTPUT y (softmax or log-softmax) and accumulate into dx. */
cnn_status cnn_softmax_forward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                               const void *x, void *y);
cnn_status cnn_softmax_backward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                                const void *dy, const void *y, void *dx);
cnn_status cnn_log_softmax_forward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                                   const void *x, void *y);
cnn_status cnn_log_softmax_backward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                                    const void *dy, const void *y, void *dx);

/* Inverted dropout with a caller-drawn keep mask (1 keeps, 0 drops) of n bytes:
 * y = x * mask / (1 - p); p == 1 gives zeros. 0 <= p <= 1. */
cnn_status cnn_dropout_forward(cnn_dtype dtype, int64_t n, double p, const uint8_t *mask,
                               const void *x, void *y);
cnn_status cnn_dropout_backward(cnn_dtype dtype, int64_t n, double p, const uint8_t *mask,
                                const void *dy, void *dx);

/* ---------------------------------------------------------------------------------------------- */
/* Losses. With CNN_REDUCE_NONE, `loss` holds one value per element (per sample for cross entropy
 * and correlation) and the backward's `dloss` has the same shape; with MEAN or SUM, `loss` and
 * `dloss` point to one value. Reductions accumulate in double in a fixed order. The backward
 * functions accumulate into dx (gradient w.r.t. input) and dt (w.r.t. target); either may be NULL. */

typedef enum { CNN_REDUCE_NONE = 0, CNN_REDUCE_MEAN = 1, CNN_REDUCE_SUM = 2 } cnn_reduction;

/* (x - t)^2 */
cnn_status cnn_mse_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                                cnn_reduction red, void *loss);
cnn_status cnn_mse_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss, const void *x,
                                 const void *t, cnn_reduction red, void *dx, void *dt);
/* |x - t|; the derivative at x == t is 0. */
cnn_status cnn_l1_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                               cnn_reduction red, void *loss);
cnn_status cnn_l1_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss, const void *x,
                                const void *t, cnn_reduction red, void *dx, void *dt);
/* -w [t log x + (1-t) log(1-x)], each log clamped at -100 as PyTorch does; w (n) may be NULL. */
cnn_status cnn_bce_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                                const void *w, cnn_reduction red, void *loss);
cnn_status cnn_bce_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss, const void *x,
                                 const void *t, const void *w, cnn_reduction red, void *dx,
                                 void *dt);
/* -w [pw t log s(x) + (1-t) log(1-s(x))], computed stably; w (n) and pw (n) may be NULL. */
cnn_status cnn_bce_logits_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                                       const void *w, const void *pw, cnn_reduction red,
                                       void *loss);
cnn_status cnn_bce_logits_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss,
                                        const void *x, const void *t, const void *w,
                                        const void *pw, cnn_reduction red, void *dx, void *dt);
/* Cross entropy of logits x (batch, classes, inner) against class indices t (batch, inner), with
 * optional class weights w (classes), ignore_index, and label_smoothing in [0, 1]; PyTorch's
 * semantics (MEAN divides by the summed weight of non-ignored targets). CNN_EINDEX for a target
 * outside [0, classes) that is not ignore_index. The loss for NONE has batch*inner values. */
cnn_status cnn_cross_entropy_forward(cnn_dtype dtype, int64_t batch, int64_t classes,
                                     int64_t inner, const void *x, const int64_t *t,
                                     const void *w, int64_t ignore_index, double label_smoothing,
                                     cnn_reduction red, void *loss);
cnn_status cnn_cross_entropy_backward(cnn_dtype dtype, int64_t batch, int64_t classes,
                                      int64_t inner, const void *dloss, const void *x,
                                      const int64_t *t, const void *w, int64_t ignore_index,
                                      double label_smoothing, cnn_reduction red, void *dx);
/* 1 - Pearson r between x and t viewed as (batch, m): with MEAN or SUM one r over all batch*m
 * elements; with NONE one r per sample (batch values). */
cnn_status cnn_correlation_loss_forward(cnn_dtype dtype, int64_t batch, int64_t m, const void *x,
                                        const void *t, cnn_reduction red, void *loss);
cnn_status cnn_correlation_loss_backward(cnn_dtype dtype, int64_t batch, int64_t m,
                                         const void *dloss, const void *x, const void *t,
                                         cnn_reduction red, void *dx, void *dt);

/* ---------------------------------------------------------------------------------------------- */
/* Optimizer steps: in place on one parameter array of n elements and its state arrays (all of the
 * call's dtype), PyTorch's formulas in PyTorch's order of operations. `grad` is read only. With
 * `maximize` the gradient's sign is flipped. Scalars are applied in the array's precision.        */

/* SGD: g = grad + weight_decay*p; with momentum, buf = g on the first step (first != 0), else
 * buf = momentum*buf + (1-dampening)*g, and g = nesterov ? g + momentum*buf : buf; p -= lr*g.
 * momentum_buf may be NULL when momentum == 0. */
cnn_status cnn_sgd_step(cnn_dtype dtype, int64_t n, void *param, const void *grad,
                        void *momentum_buf, double lr, double momentum, double dampening,
                        double weight_decay, int nesterov, int maximize, int first);

/* Adam (decoupled = 0) and AdamW (decoupled = 1), step = t >= 1 after incrementing:
 * Adam's L2: g = grad + weight_decay*p; AdamW: p *= 1 - lr*weight_decay.
 * m += (1-beta1)(g - m); v = beta2*v + (1-beta2) g^2; vmax = max(vmax, v) when amsgrad (vmax not
 * NULL); p -= lr/(1-beta1^t) * m / (sqrt(v or vmax)/sqrt(1-beta2^t) + eps). */
cnn_status cnn_adam_step(cnn_dtype dtype, int64_t n, void *param, const void *grad, void *exp_avg,
                         void *exp_avg_sq, void *max_exp_avg_sq, double lr, double beta1,
                         double beta2, double eps, double weight_decay, int decoupled,
                         int maximize, int64_t step);

/* RMSprop: g = grad + weight_decay*p; sq = alpha*sq + (1-alpha) g^2; centered (grad_avg not NULL):
 * ga += (1-alpha)(g - ga), avg = sqrt(sq - ga^2) + eps, else avg = sqrt(sq) + eps; with momentum
 * (momentum_buf not NULL): buf = momentum*buf + g/avg, p -= lr*buf; else p -= lr*g/avg. */
cnn_status cnn_rmsprop_step(cnn_dtype dtype, int64_t n, void *param, const void *grad,
                            void *square_avg, void *grad_avg, void *momentum_buf, double lr,
                            double alpha, double eps, double weight_decay, double momentum,
                            int maximize);

#ifdef __cplusplus
}
#endif

#endif /* CNN_H */
