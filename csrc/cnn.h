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
    CNN_ALGO_BLOCKED = 4, /* register tiles over a phase-split copy of the input, any geometry (float32
                           * with AVX2 or AVX-512; elsewhere, and for the input gradient of a strided
                           * convolution, direct or GEMM by the rule AUTO uses without it) */
    CNN_ALGO_WINOGRAD = 5 /* Winograd F(2x2, 3x3) for the forward and input gradient of 3x3, stride 1,
                           * dilation 1 convolutions (float32 with AVX2 or AVX-512); the weight
                           * gradient and everything else as BLOCKED */
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
/* The same into a dx that need not be initialised: dx = 0 + the scatter (bitwise), each plane
 * zeroed in cache just before its scatter (no pass of zeros of its own). CNN_EINDEX as there
 * (dx then zero). */
cnn_status cnn_maxpool2d_backward_overwrite(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                            int64_t in_w, int64_t out_h, int64_t out_w,
                                            const void *dy, const int64_t *indices, void *dx);

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
/* The same gradients written OVER dx, dw, db (no zeroed arrays needed; the one exception to the
 * accumulate rule above, for callers that want one call's gradients alone). */
cnn_status cnn_linear_backward_overwrite(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                                         const void *dy, const void *x, const void *w, void *dx,
                                         void *dw, void *db);

/* Elementwise over n elements. Backward functions take the forward INPUT x and accumulate into dx.
 *   relu(x) = max(x, 0)                 relu'(x) = x > 0
 *   leaky_relu(x) = x > 0 ? x : slope*x  leaky_relu'(x) = x > 0 ? 1 : slope
 *   sigmoid(x) = 1 / (1 + exp(-x))      sigmoid' = s (1 - s)
 *   tanh                                tanh' = 1 - tanh^2
 *   gelu(x) = x Phi(x) = x/2 (1 + erf(x / sqrt 2))    gelu' = Phi(x) + x exp(-x^2/2) / sqrt(2 pi)
 *     approximate = CNN_GELU_TANH: x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 *     gelu' = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 * NaN propagates through every one of them. gelu evaluates PyTorch's expressions in the order
 * PyTorch does, so inf and overflow give what PyTorch gives (gelu(-inf) = -inf * 0 = NaN). */
cnn_status cnn_relu_forward(cnn_dtype dtype, int64_t n, const void *x, void *y);
cnn_status cnn_relu_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx);
cnn_status cnn_leaky_relu_forward(cnn_dtype dtype, int64_t n, double slope, const void *x, void *y);
cnn_status cnn_leaky_relu_backward(cnn_dtype dtype, int64_t n, double slope, const void *dy,
                                   const void *x, void *dx);
cnn_status cnn_sigmoid_forward(cnn_dtype dtype, int64_t n, const void *x, void *y);
cnn_status cnn_sigmoid_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx);
cnn_status cnn_tanh_forward(cnn_dtype dtype, int64_t n, const void *x, void *y);
cnn_status cnn_tanh_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx);

/* GELU's `approximate` (PyTorch's "none" and "tanh"); any other value is CNN_EINVAL. */
typedef enum { CNN_GELU_NONE = 0, CNN_GELU_TANH = 1 } cnn_gelu_approx;
cnn_status cnn_gelu_forward(cnn_dtype dtype, int64_t n, cnn_gelu_approx approximate, const void *x,
                            void *y);
cnn_status cnn_gelu_backward(cnn_dtype dtype, int64_t n, cnn_gelu_approx approximate,
                             const void *dy, const void *x, void *dx);

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

/* ---------------------------------------------------------------------------------------------- */
/* Networks: a sequence of layers with a loss and an optimizer, trained by one call per step.     */
/*
 * Overview
 *   cnn_net_create() builds a network from an array of layer descriptors (cnn_layer_desc: a kind
 *   and that kind's fields), applied in order as torch.nn.Sequential applies its modules, plus a
 *   loss (cnn_loss_desc) and an optimizer kind. cnn_net_plan() fixes the input shape and lays
 *   out ONE arena for it: every activation, every value a backward pass needs (max-pool argmax,
 *   activation masks, dropout masks), every activation gradient and all kernel scratch. The
 *   arena is allocated and touched once there; cnn_net_forward() (inference: dropout off) and
 *   cnn_net_step() (forward, loss, backward and optimizer update in one call) then allocate
 *   nothing and touch no new page. Plan again for another input shape (the last, smaller batch):
 *   planning the shape already planned costs nothing.
 *
 *   Where the layer sequence allows it, layers run fused, forward and backward: a convolution
 *   with its bias, followed by an activation (relu, leaky relu with a slope >= 0, sigmoid, tanh)
 *   and/or a pooling whose window equals its stride (max or average, no padding, dilation 1,
 *   ceil_mode only where it changes nothing), in either order; a transpose convolution followed
 *   by an activation (cnn_conv_transpose2d_forward's kernels, then the activation in place). A
 *   fused convolution group computes the convolution in tiles that stay in cache and writes its
 *   pooled output and a one-byte mask or argmax per output element instead of the full-size
 *   intermediates. Everything else runs layer by layer on the engine's kernels. A step
 *   equals the sequence of engine calls (cnn_conv2d_forward, cnn_relu_forward, ...) that
 *   computes the same thing: bitwise where nothing is fused. A fused group computes its outputs,
 *   masks and bias gradient bitwise too, and its weight gradient image by image: bitwise where
 *   the convolution kernel sums image by image, else within rounding (1e-6 relative float32,
 *   1e-13 float64, per step); cnn_net_set_fusion(net, 0) gives the bitwise sequence. Results are
 *   bitwise identical for any thread count.
 *
 * Ownership
 *   The network owns its arena and nothing else. The CALLER owns every parameter array, its
 *   gradient and the optimizer's state arrays: cnn_net_bind_param() hands the network pointers
 *   to them, which it uses during later calls and never frees; they must stay valid, C-contiguous,
 *   of the network's dtype, and must not overlap each other or an input. The same holds for the
 *   loss weights (cnn_net_bind_loss_weights). Inputs, targets and masks passed to a call are only
 *   read during that call.
 *
 * Gradients
 *   cnn_net_step() OVERWRITES each bound gradient with this step's gradient (zero, then
 *   accumulate), as zero_grad(); loss.backward(); optimizer.step() does. A weight shared by two
 *   layers (CNN_LAYER_TIED_LINEAR, CNN_LAYER_TIED_CONV_TRANSPOSE) receives both gradients: the
 *   later layer's first, then the earlier one's added to it.
 *
 * Errors
 *   Every function returns a cnn_status. Descriptors are validated by cnn_net_create, shapes by
 *   cnn_net_plan, bindings and per-step values by cnn_net_step, all before anything the caller owns
 *   is written: a failed call leaves parameters, gradients, states and outputs untouched. Where
 *   it failed (layer index and field name) is in the cnn_net_error of cnn_net_create and
 *   cnn_net_plan, and in cnn_net_last_error() after any call on a network.
 *
 * Example: a one-layer model y = conv(x), trained with MSE and Adam on inputs (8, 1, 28, 28)
 *
 *     cnn_layer_desc layer = {0};
 *     layer.kind = CNN_LAYER_CONV; layer.spatial_dims = 2;
 *     layer.conv.in_channels = 1; layer.conv.out_channels = 2;
 *     layer.conv.kernel_h = layer.conv.kernel_w = 3;
 *     layer.conv.stride_h = layer.conv.stride_w = layer.conv.dilation_h = layer.conv.dilation_w = 1;
 *     layer.conv.pad_top = layer.conv.pad_bottom = layer.conv.pad_left = layer.conv.pad_right = 1;
 *     layer.conv.groups = 1; layer.conv.bias = 1;
 *     cnn_loss_desc loss = {0};
 *     loss.kind = CNN_LOSS_MSE; loss.reduction = CNN_REDUCE_MEAN;
 *     cnn_net *net; cnn_net_error err;
 *     cnn_net_create(&layer, 1, &loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 1234, &net, &err);
 *     const int64_t shape[4] = {8, 1, 28, 28};
 *     cnn_net_plan(net, 4, shape, &err);
 *     // parameter 0 is the weight (2, 1, 3, 3), 1 the bias (2): cnn_net_param_shape says so
 *     cnn_net_bind_param(net, 0, w, dw, w_exp_avg, w_exp_avg_sq, NULL);
 *     cnn_net_bind_param(net, 1, b, db, b_exp_avg, b_exp_avg_sq, NULL);
 *     cnn_optim_hparams hp[2] = {0};
 *     cnn_net_step_args args = {0};
 *     args.x = images; args.target = targets; args.hparams = hp;
 *     for (int64_t t = 1; t <= 100; t++) {
 *         for (int i = 0; i < 2; i++) {
 *             hp[i].lr = 1e-3; hp[i].beta1 = 0.9; hp[i].beta2 = 0.999; hp[i].eps = 1e-8;
 *             hp[i].step = t;
 *         }
 *         double value;
 *         cnn_status st = cnn_net_step(net, &args, &value);
 *         if (st) fprintf(stderr, "layer %lld, %s: %s\n", (long long)cnn_net_last_error(net)->layer,
 *                         cnn_net_last_error(net)->field, cnn_strerror(st));
 *     }
 *     cnn_net_destroy(net);
 *
 * Layers run as the same-named layers of cnnpy.nn (and PyTorch's) in training mode: a
 * convolution pads implicitly with zeros, or explicitly (into the arena) for another mode or a
 * nonzero constant, and convolves with the flipped kernel for flip = 1; max pooling keeps its
 * argmax; FLATTEN, UNFLATTEN and IDENTITY are views of their input. One network object runs one
 * call at a time (the calls are not reentrant on one object; separate objects are independent).
 */

#define CNN_NET_MAX_DIMS 8 /* dims of any tensor of a network */

typedef enum {
    CNN_LAYER_CONV = 1,               /* conv1d/conv2d: uses .conv */
    CNN_LAYER_CONV_TRANSPOSE = 2,     /* conv_transpose1d/2d: uses .conv_transpose */
    CNN_LAYER_MAXPOOL = 3,            /* max_pool1d/2d: uses .pool */
    CNN_LAYER_AVGPOOL = 4,            /* avg_pool1d/2d: uses .pool */
    CNN_LAYER_ADAPTIVE_AVGPOOL = 5,   /* uses .adaptive */
    CNN_LAYER_ADAPTIVE_MAXPOOL = 6,   /* uses .adaptive */
    CNN_LAYER_LINEAR = 7,             /* uses .linear */
    CNN_LAYER_TIED_LINEAR = 8,        /* the transpose of a LINEAR layer's weight: uses .tied */
    CNN_LAYER_TIED_CONV_TRANSPOSE = 9, /* a transpose conv on a CONV layer's weight: uses .tied */
    CNN_LAYER_FLATTEN = 10,           /* uses .flatten; a reshape, no copy */
    CNN_LAYER_UNFLATTEN = 11,         /* uses .unflatten; a reshape, no copy */
    CNN_LAYER_RELU = 12,
    CNN_LAYER_LEAKY_RELU = 13,        /* uses .negative_slope */
    CNN_LAYER_SIGMOID = 14,
    CNN_LAYER_TANH = 15,
    CNN_LAYER_SOFTMAX = 16,           /* uses .dim */
    CNN_LAYER_DROPOUT = 17,           /* uses .p: one mask byte per element */
    CNN_LAYER_DROPOUT2D = 18,         /* uses .p: one mask byte per channel (see below) */
    CNN_LAYER_IDENTITY = 19
} cnn_layer_kind;

/* One layer. Zero-initialise it, set `kind` and the fields of that kind's member. Sizes follow
 * PyTorch's layers of the same name; the weight and bias shapes are listed by cnn_net_param_shape.
 * Layers with spatial_dims = 1 take (N, C, L) inputs and use only the *_w fields (the *_h fields
 * are ignored and act as kernel 1, stride 1, padding 0, dilation 1); spatial_dims = 2 take
 * (N, C, H, W). Every other layer takes any shape with a leading batch dim, as PyTorch's does. */
typedef struct {
    cnn_layer_kind kind;
    int spatial_dims; /* CONV, CONV_TRANSPOSE, the pools, TIED_CONV_TRANSPOSE (2 only): 1 or 2 */
    union {
        struct {
            int64_t in_channels, out_channels; /* >= 1, each divisible by groups */
            int64_t kernel_h, kernel_w;        /* >= 1; weight (out, in/groups, kernel_h, kernel_w) */
            int64_t stride_h, stride_w;        /* >= 1 */
            int64_t pad_top, pad_bottom;       /* >= 0 on each side (ignored on an axis with same) */
            int64_t pad_left, pad_right;
            int same_h, same_w;                /* nonzero: padding "same" on this axis at any
                                                * stride, from the planned input size: output
                                                * ceil(n / stride), total padding
                                                * max((out-1)*stride + dilation*(k-1) + 1 - n, 0),
                                                * the odd element after (cnnpy.same_padding) */
            int64_t dilation_h, dilation_w;    /* >= 1 */
            int64_t groups;                    /* >= 1 */
            int bias;                          /* nonzero: a bias (out_channels) */
            cnn_pad_mode pad_mode;             /* CNN_PAD_CONSTANT (fills pad_value), REFLECT,
                                                * SYMMETRIC, REPLICATE, CIRCULAR: see Padding */
            double pad_value;                  /* the CONSTANT fill; 0 pads implicitly */
            int flip;                          /* nonzero: true convolution (mode="conv"), the
                                                * kernel flipped along both spatial axes */
        } conv;
        struct {
            int64_t in_channels, out_channels; /* >= 1, divisible by groups */
            int64_t kernel_h, kernel_w;        /* weight (in, out/groups, kernel_h, kernel_w) */
            int64_t stride_h, stride_w;        /* >= 1 */
            int64_t pad_h, pad_w;              /* >= 0: removed from both ends of the output */
            int64_t output_padding_h, output_padding_w; /* < stride or < dilation */
            int64_t dilation_h, dilation_w;    /* >= 1 */
            int64_t groups;                    /* >= 1 */
            int bias;                          /* nonzero: a bias (out_channels) */
        } conv_transpose;
        struct {
            int64_t kernel_h, kernel_w;        /* >= 1 */
            int64_t stride_h, stride_w;        /* >= 1 (PyTorch's default: the kernel size) */
            int64_t pad_h, pad_w;              /* 0 <= pad <= kernel / 2 (-inf for max, 0 for avg) */
            int64_t dilation_h, dilation_w;    /* >= 1; max pooling only (avg: 1) */
            int ceil_mode;                     /* nonzero: PyTorch's ceil_mode */
            int count_include_pad;             /* avg: divide by the window clipped to the padded input */
            int64_t divisor_override;          /* avg: > 0 divides by this; 0 for none (1-D: 0) */
        } pool;
        struct {
            int64_t out_h, out_w;              /* >= 1, or 0 to keep that input size (None) */
        } adaptive;
        struct {
            int64_t in_features, out_features; /* >= 1; weight (out_features, in_features) */
            int bias;                          /* nonzero: a bias (out_features) */
        } linear;
        struct {
            int64_t layer;                     /* index of the layer whose weight is shared: a
                                                * LINEAR (TIED_LINEAR) or a 2-D CONV with no
                                                * flip (TIED_CONV_TRANSPOSE) */
            int bias;                          /* nonzero: an own bias (the shared layer's
                                                * in_features / in_channels) */
            int64_t stride_h, stride_w;        /* TIED_CONV_TRANSPOSE: >= 1 */
            int64_t pad_h, pad_w;              /* TIED_CONV_TRANSPOSE: >= 0 */
            int64_t output_padding_h, output_padding_w; /* TIED_CONV_TRANSPOSE */
        } tied;                                /* kernel size, dilation, groups: the conv's */
        struct {
            int64_t start_dim, end_dim;        /* may be negative (from the end), as PyTorch */
        } flatten;
        struct {
            int64_t dim;                       /* may be negative */
            int ndims;                         /* 1 .. CNN_NET_MAX_DIMS - 1 */
            int64_t sizes[CNN_NET_MAX_DIMS];   /* ndims sizes >= 1 whose product is that dim */
        } unflatten;
        double negative_slope;                 /* LEAKY_RELU */
        int64_t dim;                           /* SOFTMAX: may be negative */
        double p;                              /* DROPOUT, DROPOUT2D: 0 <= p <= 1 */
    };
} cnn_layer_desc;
/* DROPOUT2D draws one mask byte per (dim 0, dim 1) pair of its input, broadcast over the other
 * dims, except for a 3-dim input, which it reads as an unbatched (C, H, W) image: one byte per
 * dim 0 (cnnpy.functional.dropout2d's rule). */

typedef enum {
    CNN_LOSS_NONE = 0,          /* no loss: cnn_net_step refuses; forward only */
    CNN_LOSS_MSE = 1,           /* target: the output's shape */
    CNN_LOSS_L1 = 2,            /* target: the output's shape */
    CNN_LOSS_BCE = 3,           /* probabilities; target: the output's shape */
    CNN_LOSS_BCE_LOGITS = 4,    /* target: the output's shape */
    CNN_LOSS_CROSS_ENTROPY = 5, /* output (N, C, ...) or (C); int64 target (N, ...) or one value */
    CNN_LOSS_CORRELATION = 6    /* 1 - Pearson r over (N, rest); target: the output's shape */
} cnn_loss_kind;

/* The loss after the last layer, as the losses above (and cnnpy.nn's loss layers) compute it.
 * With CNN_REDUCE_NONE the step backpropagates d loss_i / d x with every loss_i weighted 1 and
 * reports the sum of the loss_i. Class weights (cross entropy) and elementwise weights and
 * pos_weight (the binary cross entropies, the output's shape) are bound with
 * cnn_net_bind_loss_weights. */
typedef struct {
    cnn_loss_kind kind;
    cnn_reduction reduction;
    int64_t ignore_index;   /* cross entropy (PyTorch's default: -100) */
    double label_smoothing; /* cross entropy: in [0, 1] */
} cnn_loss_desc;

typedef enum {
    CNN_OPTIM_NONE = 0,   /* no update: cnn_net_step computes the loss and the gradients only */
    CNN_OPTIM_SGD = 1,    /* state0: momentum_buffer (when momentum != 0) */
    CNN_OPTIM_ADAM = 2,   /* state0: exp_avg, state1: exp_avg_sq, state2: max_exp_avg_sq (amsgrad) */
    CNN_OPTIM_RMSPROP = 3 /* state0: square_avg, state1: momentum_buffer (momentum > 0),
                           * state2: grad_avg (centered) */
} cnn_optim_kind;

/* The optimizer's values for one parameter and one step (cnn_sgd_step, cnn_adam_step,
 * cnn_rmsprop_step give the formulas). Passed with every step: a scheduler may change lr, and
 * parameter groups may differ. Fields another optimizer uses are ignored. */
typedef struct {
    double lr;
    double momentum;     /* SGD, RMSprop */
    double dampening;    /* SGD */
    double weight_decay;
    double beta1, beta2; /* Adam */
    double alpha;        /* RMSprop */
    double eps;          /* Adam, RMSprop */
    int nesterov;        /* SGD */
    int maximize;
    int decoupled;       /* Adam: nonzero is AdamW */
    int amsgrad;         /* Adam: uses state2 */
    int centered;        /* RMSprop: uses state2 */
    int64_t step;        /* Adam: t >= 1, this update's count (bias corrections); SGD: 1 when the
                          * momentum buffer starts from this step's gradient; RMSprop: unused */
    int skip;            /* nonzero: no update of this parameter (not in the optimizer); its
                          * gradient is computed all the same, its state arrays are not needed */
} cnn_optim_hparams;

/* Where a refused descriptor, shape or binding is: `layer` is the layer's index, or
 * CNN_NET_WHERE_LOSS, CNN_NET_WHERE_OPTIM, CNN_NET_WHERE_CALL (the call's own arguments: input
 * shape, dtype, pointers); `field` names the descriptor field or argument ("kernel_h",
 * "in_channels", "input shape"); `param` the parameter index for binding errors (-1 otherwise).
 * Static strings, never NULL after a failed call. */
#define CNN_NET_WHERE_LOSS (-1)
#define CNN_NET_WHERE_OPTIM (-2)
#define CNN_NET_WHERE_CALL (-3)
typedef struct {
    int64_t layer;
    const char *field;
    int64_t param;
} cnn_net_error;

typedef struct cnn_net cnn_net;

/* Builds a network of n_layers >= 1 layers (copied: `layers` may be freed after the call).
 * `loss` may be NULL (forward only). `seed` seeds the dropout masks the network draws itself
 * (see cnn_net_step_args). *out is NULL after a failure; err (may be NULL) says what was refused. */
cnn_status cnn_net_create(const cnn_layer_desc *layers, int64_t n_layers, const cnn_loss_desc *loss,
                          cnn_optim_kind optim, cnn_dtype dtype, uint64_t seed, cnn_net **out,
                          cnn_net_error *err);
/* Frees the network and its arena (never the caller's arrays). NULL is ignored. */
void cnn_net_destroy(cnn_net *net);

/* Parameters, numbered in layer order, weight before bias, a shared weight once (under the layer
 * that owns it): the order of torch.nn.Module.parameters(). */
int64_t cnn_net_num_params(const cnn_net *net);
/* Parameter i: *layer (the owning layer's index), *is_bias, *ndim and shape[0..ndim-1] (at most
 * 4 entries), *numel. Any output pointer may be NULL. CNN_EINVAL for an invalid i. */
cnn_status cnn_net_param_shape(const cnn_net *net, int64_t i, int64_t *layer, int *is_bias,
                               int *ndim, int64_t *shape, int64_t *numel);

/* The shape of layer `layer`'s output (layer = n_layers - 1: the network's) for an input of
 * in_ndim dims in_shape (batch first), validating every layer on the way; no plan needed.
 * out_shape holds CNN_NET_MAX_DIMS entries. */
cnn_status cnn_net_output_shape(const cnn_net *net, int in_ndim, const int64_t *in_shape,
                                int64_t layer, int *out_ndim, int64_t *out_shape,
                                cnn_net_error *err);

/* Where the last failed call on this network failed (bindings, forward, step). */
const cnn_net_error *cnn_net_last_error(const cnn_net *net);

/* Plans the network for inputs of this shape: validates every layer against it and builds the
 * arena. The network keeps its last two plans, so that alternating between two shapes (the
 * training batch and the last, smaller one; or a training and an inference batch) allocates
 * nothing after the first time; planning a kept shape only switches to it. A plan is made again
 * when the thread count, the instruction set or the fusion setting changed (forward and step do
 * that themselves). On failure the current plan stays. */
cnn_status cnn_net_plan(cnn_net *net, int in_ndim, const int64_t *in_shape, cnn_net_error *err);
/* Bytes of the arena of the current plan (0 before the first). */
int64_t cnn_net_arena_bytes(const cnn_net *net);
/* Whether layers run fused (default 1). 0 runs every layer on its own (the comparison the tests
 * make); the next call re-plans. */
cnn_status cnn_net_set_fusion(cnn_net *net, int enabled);

/* Binds parameter i to caller-owned arrays of its shape and the network's dtype: data (the
 * values: read by forward, updated in place by step), grad (overwritten by step; may be NULL for
 * forward-only use), and the optimizer's state arrays state0..2 as cnn_optim_kind lists them
 * (NULL where not used). The pointers are kept until bound again; binding does no work. */
cnn_status cnn_net_bind_param(cnn_net *net, int64_t i, void *data, void *grad, void *state0,
                              void *state1, void *state2);
/* Binds the loss's constant weights: cross entropy, weight (classes) or NULL; the binary cross
 * entropies, weight and pos_weight with the output's number of elements (broadcast by the caller)
 * or NULL. Kept until bound again. The binary cross entropies' weights are bound for the current
 * plan's shape: after planning another shape, cnn_net_step refuses (CNN_EINVAL, field "weight")
 * until they are bound again. */
cnn_status cnn_net_bind_loss_weights(cnn_net *net, const void *weight, const void *pos_weight);

/* Inference on the planned shape: y (the output's shape) = the network applied to x, with
 * dropout off. Needs every parameter's data bound. */
cnn_status cnn_net_forward(cnn_net *net, const void *x, void *y);

/* What one training step reads and writes besides the bound arrays. */
typedef struct {
    const void *x;      /* the input, of the planned shape */
    const void *target; /* the loss target: the output's shape in the network's dtype, or int64
                         * class indices for cross entropy */
    const cnn_optim_hparams *hparams; /* one per parameter; NULL: no update (gradients only) */
    const uint8_t *const *masks; /* NULL, or one pointer per LAYER (n_layers entries): for a
                         * dropout layer in training, its keep mask (1 keeps, 0 drops; a byte per
                         * element, DROPOUT2D a byte per channel as described above) or NULL
                         * to draw one: at the network's s-th step (s counts its steps from 0),
                         * byte i of layer l keeps when u >= p, u = (the i-th output, from 0,
                         * of a SplitMix64 generator seeded with k) >> 11, over 2^53, where
                         * k = sm(seed ^ sm(s * 1024 + l)) and sm is SplitMix64's first output
                         * for a seed (counter-based: the same bytes for any thread count).
                         * Entries of other layers are ignored. */
    const uint8_t *training; /* NULL (every layer in training mode) or one flag per layer: a
                         * dropout layer whose flag is 0 passes its input through */
    void *output;       /* NULL, or receives the network's output of this step (before the update) */
} cnn_net_step_args;

/* One training step on the planned shape: forward (dropout in training), the loss, backward
 * into every bound gradient (overwritten), then the optimizer's update of every parameter and
 * its state. *loss receives the loss value (reduction NONE: the sum). Needs data and grad bound
 * for every parameter, and the state arrays a->hparams call for. */
cnn_status cnn_net_step(cnn_net *net, const cnn_net_step_args *a, double *loss);

#ifdef __cplusplus
}
#endif

#endif /* CNN_H */
