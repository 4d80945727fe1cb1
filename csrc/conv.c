/* conv.c — 2-D convolution (and 1-D as H = 1): descriptor validation and the public forward /
 * backward entry points. The kernels (generic/conv.h) and the rule that picks the direct or the
 * GEMM kernel (kernel_support.h) are compiled per instruction set and reached through
 * cnn_kernels(). */
#include "internal.h"

/* ---- descriptor -------------------------------------------------------------------------------- */

cnn_status cnn_conv2d_output_shape(const cnn_conv2d_desc *d, int64_t *out_h, int64_t *out_w)
{
    int64_t oh, ow, t;
    cnn_status st;
    if (!d) return CNN_EINVAL;
    if (d->batch < 0 || d->in_channels < 0 || d->out_channels < 0 || d->groups < 1)
        return CNN_EINVAL;
    if (d->in_channels % d->groups || d->out_channels % d->groups) return CNN_ESHAPE;
    if ((st = cnn_conv_out_len(d->in_h, d->kernel_h, d->stride_h, d->pad_top, d->pad_bottom,
                               d->dilation_h, &oh)))
        return st;
    if ((st = cnn_conv_out_len(d->in_w, d->kernel_w, d->stride_w, d->pad_left, d->pad_right,
                               d->dilation_w, &ow)))
        return st;
    const int64_t xs[4] = {d->batch, d->in_channels, d->in_h, d->in_w};
    const int64_t ws[4] = {d->out_channels, d->in_channels / d->groups, d->kernel_h, d->kernel_w};
    const int64_t ys[4] = {d->batch, d->out_channels, oh, ow};
    /* The kernels also form the per-group reduction and the planes, which the array sizes above
     * do not bound when a dimension is 0. */
    const int64_t ks[3] = {d->in_channels / d->groups, d->kernel_h, d->kernel_w};
    const int64_t xp[2] = {d->in_h, d->in_w}, yp[2] = {oh, ow};
    if ((st = cnn_numel(4, xs, &t)) || (st = cnn_numel(4, ws, &t)) || (st = cnn_numel(4, ys, &t)) ||
        (st = cnn_numel(3, ks, &t)) || (st = cnn_numel(2, xp, &t)) || (st = cnn_numel(2, yp, &t)))
        return st;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return CNN_OK;
}

cnn_status conv_geom_from_desc(const cnn_conv2d_desc *d, conv_geom *g)
{
    int64_t oh, ow;
    cnn_status st = cnn_conv2d_output_shape(d, &oh, &ow);
    if (st != CNN_OK) return st;
    g->N = d->batch;
    g->C_in = d->in_channels;
    g->H = d->in_h;
    g->W = d->in_w;
    g->C_out = d->out_channels;
    g->OH = oh;
    g->OW = ow;
    g->kH = d->kernel_h;
    g->kW = d->kernel_w;
    g->sH = d->stride_h;
    g->sW = d->stride_w;
    g->dilH = d->dilation_h;
    g->dilW = d->dilation_w;
    g->pT = d->pad_top;
    g->pL = d->pad_left;
    g->groups = d->groups;
    g->threads = 1;
    return CNN_OK;
}

cnn_algo cnn_conv_choose_algo(const cnn_conv2d_desc *d)
{
    conv_geom g;
    if (conv_geom_from_desc(d, &g) != CNN_OK) return CNN_ALGO_REFERENCE;
    return cnn_kernels()->conv_resolve_algo(&g, CNN_ALGO_AUTO);
}

/* ---- public entry points ------------------------------------------------------------------------ */

cnn_status conv_prepare(conv_geom *g, cnn_dtype dtype, cnn_algo *algo, void **scratch,
                        const cnn_kernel_table **table)
{
    int64_t len;
    cnn_status st;
    *scratch = NULL;
    if (*algo < CNN_ALGO_AUTO || *algo > CNN_ALGO_WINOGRAD) return CNN_EINVAL;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    const cnn_kernel_table *k = *table = cnn_kernels();
    *algo = k->conv_resolve_algo(g, *algo);
    /* Nothing to compute without images or output channels (an empty output; nothing to add to
     * dx, dw, db). With no channels at all, groups is bounded by nothing, and neither are the
     * kernels' item counts N * groups * ...: they must not run. */
    if (g->N == 0 || g->C_out == 0) return CNN_OK;
    g->threads = cnn_get_num_threads(); /* one scratch slice per thread */
    if ((st = k->conv_scratch_len(g, *algo, &len)) || (st = cnn_mul_sizes(len, g->threads, &len)))
        return st;
    /* Never NULL, even when no scratch is needed (C_in = 0): the kernels offset it by
     * part * slice, and arithmetic on a null pointer is undefined. */
    return cnn_workspace_get(len > 0 ? len : 1, dtype == CNN_FLOAT32 ? sizeof(float) : sizeof(double),
                             scratch);
}

cnn_status cnn_conv2d_forward(const cnn_conv2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                              const void *x, const void *w, const void *b, void *y)
{
    conv_geom g;
    void *scratch;
    const cnn_kernel_table *k;
    cnn_status st = conv_geom_from_desc(d, &g);
    if (st == CNN_OK) st = conv_prepare(&g, dtype, &algo, &scratch, &k);
    if (st != CNN_OK) return st;
    const int run = g.N > 0 && g.C_out > 0; /* see conv_prepare */
    if (run && (!x || !w || !y)) st = CNN_EINVAL;
    else if (run && dtype == CNN_FLOAT32)
        k->conv_forward_f32(&g, algo, x, w, b, y, 0, scratch);
    else if (run)
        k->conv_forward_f64(&g, algo, x, w, b, y, 0, scratch);
    cnn_workspace_put(scratch);
    return st;
}

cnn_status cnn_conv2d_backward(const cnn_conv2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                               const void *dy, const void *x, const void *w, void *dx, void *dw,
                               void *db)
{
    conv_geom g;
    void *scratch;
    const cnn_kernel_table *k;
    cnn_status st = conv_geom_from_desc(d, &g);
    if (st == CNN_OK) st = conv_prepare(&g, dtype, &algo, &scratch, &k);
    if (st != CNN_OK) return st;
    if (g.N == 0 || g.C_out == 0) return CNN_OK; /* see conv_prepare */
    if (!dy || (dx && !w) || (dw && !x)) {
        cnn_workspace_put(scratch);
        return CNN_EINVAL;
    }
    if (dtype == CNN_FLOAT32) {
        if (dx) k->conv_backward_data_f32(&g, algo, dy, w, dx, scratch);
        if (dw) k->conv_backward_weight_f32(&g, algo, dy, x, dw, scratch);
        if (db) k->bias_backward_f32(g.N, g.C_out, g.OH * g.OW, dy, db);
    } else {
        if (dx) k->conv_backward_data_f64(&g, algo, dy, w, dx, scratch);
        if (dw) k->conv_backward_weight_f64(&g, algo, dy, x, dw, scratch);
        if (db) k->bias_backward_f64(g.N, g.C_out, g.OH * g.OW, dy, db);
    }
    cnn_workspace_put(scratch);
    return CNN_OK;
}
