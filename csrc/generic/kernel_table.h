/* generic/kernel_table.h — the kernel-table fields for one dtype (`real`; K(name) = name_f32 or
 * name_f64). Included twice inside `struct cnn_kernel_table` (internal.h); every ISA translation
 * unit fills one table (generic/kernel_init.h). Signatures are those of the generic bodies. */

/* conv (generic/conv.h): forward y (+)= conv(x, w) + b; dx += conv^T(dy, w); dw += corr(dy, x);
 * db += sums of dy. algo is resolved; scratch holds the table's conv_scratch_len(). */
void (*K(conv_forward))(const conv_geom *g, cnn_algo algo, const real *x, const real *w,
                        const real *b, real *y, int accumulate, real *scratch);
void (*K(conv_backward_data))(const conv_geom *g, cnn_algo algo, const real *dy, const real *w,
                              real *dx, real *scratch);
void (*K(conv_backward_weight))(const conv_geom *g, cnn_algo algo, const real *dy, const real *x,
                                real *dw, real *scratch);
void (*K(bias_backward))(int64_t N, int64_t C, int64_t P, const real *dy, real *db);

/* transpose convolution (generic/conv_transpose_phase.h), run from a plan that
 * convt_plan_make made for this table and convt_plan_bind gave its scratch (conv_transpose_plan.h):
 * forward y = conv_transpose(x, w) + b (y overwritten); backward dx, dw, db += (any NULL). */
void (*K(convt_forward))(const convt_plan *pl, const real *x, const real *w, const real *b, real *y);
void (*K(convt_backward))(const convt_plan *pl, const real *dy, const real *x, const real *w,
                          real *dx, real *dw, real *db);

/* dense (generic/linear.h); work holds `threads` slices of gemm_workspace_len() elements */
void (*K(linear_forward))(int64_t batch, int64_t in, int64_t out, const real *x, const real *w,
                          const real *b, real *y, real *work, int threads);
void (*K(linear_backward))(int64_t batch, int64_t in, int64_t out, const real *dy, const real *x,
                           const real *w, real *dx, real *dw, real *db, int accumulate, real *work,
                           int threads);
void (*K(gemm))(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const real *A,
                int64_t lda, const real *B, int64_t ldb, int accumulate, real *C, int64_t ldc,
                real *work);

/* pooling (generic/pool.h); no kernel needs scratch. maxpool_forward's idx: the flat position
 * ih*W + iw of each maximum, -1 for a window that holds no input element. The compact path, for
 * callers that need no flat indices (the network engine): maxpool_forward_arg writes the tap number
 * th*kernel_w + tw of each maximum in its window as a uint8 (255: no element; requires
 * kernel_h*kernel_w <= 255), and maxpool_backward_arg forms dx from it as a gather, each element
 * written once: with accumulate 0 dx is overwritten (no zero fill needed), else added to.
 * avgpool_backward likewise. The *_ref kernels are the plain loops the fast ones are tested
 * against (bitwise: the same terms in the same order). index_scatter/assign/gather skip index -1;
 * index_scatter_fresh is index_scatter into zeros (dx overwritten, each plane zeroed in cache just
 * before its scatter), 0 if an index lies outside [-1, in_len) (dx then incomplete). */
void (*K(maxpool_forward))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                           real *y, int64_t *idx);
void (*K(maxpool_forward_ref))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                               real *y, int64_t *idx);
void (*K(maxpool_forward_arg))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                               real *y, uint8_t *arg);
void (*K(maxpool_backward_arg))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *dy,
                                const uint8_t *arg, real *dx, int accumulate);
void (*K(index_scatter))(int64_t planes, int64_t out_len, int64_t in_len, const real *dy,
                         const int64_t *idx, real *dx);
int (*K(index_scatter_fresh))(int64_t planes, int64_t out_len, int64_t in_len, const real *dy,
                              const int64_t *idx, real *dx);
void (*K(index_assign))(int64_t planes, int64_t in_len, int64_t out_len, const real *x,
                        const int64_t *idx, real *y);
void (*K(index_gather))(int64_t planes, int64_t in_len, int64_t out_len, const real *dy,
                        const int64_t *idx, real *dx);
void (*K(avgpool_forward))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                           real *y);
void (*K(avgpool_forward_ref))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                               real *y);
void (*K(avgpool_backward))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *dy,
                            real *dx, int accumulate);
void (*K(avgpool_backward_ref))(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *dy,
                                real *dx);
void (*K(adaptive_avg_forward))(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                const real *x, real *y);
void (*K(adaptive_avg_backward))(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const real *dy, real *dx);
void (*K(adaptive_max_forward))(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                const real *x, real *y, int64_t *idx);

/* activations, softmax, dropout (generic/activation.h) */
void (*K(act_forward))(enum act_kind k, int64_t n, real slope, const real *x, real *y);
void (*K(act_backward))(enum act_kind k, int64_t n, real slope, const real *dy, const real *x,
                        real *dx);
void (*K(softmax_forward))(int log_space, int64_t outer, int64_t n, int64_t inner, const real *x,
                           real *y);
void (*K(softmax_backward))(int log_space, int64_t outer, int64_t n, int64_t inner,
                            const real *dy, const real *y, real *dx);
void (*K(dropout_apply))(int64_t n, double p, const uint8_t *mask, const real *in, real *out,
                         int accumulate);

/* optimizer steps (generic/optim.h) */
void (*K(sgd))(int64_t n, real *p, const real *grad, real *buf, double lr, double momentum,
               double dampening, double weight_decay, int nesterov, int maximize, int first);
void (*K(adam))(int64_t n, real *p, const real *grad, real *m, real *v, real *vmax, double lr,
                double beta1, double beta2, double eps, double weight_decay, int decoupled,
                int maximize, int64_t step);
void (*K(rmsprop))(int64_t n, real *p, const real *grad, real *sq, real *ga, real *buf, double lr,
                   double alpha, double eps, double weight_decay, double momentum, int maximize);

/* fused layers of a network (generic/fused.h): forward and backward of one net_fused group */
void (*K(fused_forward))(const net_fused *f);
void (*K(fused_backward))(const net_fused *f);
