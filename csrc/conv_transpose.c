/* conv_transpose.c — 2-D transpose convolution (1-D as H = 1). It is the adjoint of convolution,
 * so it runs the convolution kernels with the roles swapped: its forward is conv's input gradient,
 * its input gradient is conv's forward, its weight gradient is conv's weight gradient with the
 * data and output-gradient arguments exchanged. No zeros are ever inserted. */
#include "internal.h"

cnn_status cnn_conv_transpose2d_output_shape(const cnn_conv_transpose2d_desc *d, int64_t *out_h,
                                             int64_t *out_w)
{
    int64_t oh, ow, t;
    cnn_status st;
    if (!d) return CNN_EINVAL;
    if (d->batch < 0 || d->in_channels < 0 || d->out_channels < 0 || d->groups < 1)
        return CNN_EINVAL;
    if (d->in_channels % d->groups || d->out_channels % d->groups) return CNN_ESHAPE;
    if ((st = cnn_conv_transpose_out_len(d->in_h, d->kernel_h, d->stride_h, d->pad_h,
                                         d->dilation_h, d->output_padding_h, &oh)))
        return st;
    if ((st = cnn_conv_transpose_out_len(d->in_w, d->kernel_w, d->stride_w, d->pad_w,
                                         d->dilation_w, d->output_padding_w, &ow)))
        return st;
    const int64_t xs[4] = {d->batch, d->in_channels, d->in_h, d->in_w};
    const int64_t ws[4] = {d->in_channels, d->out_channels / d->groups, d->kernel_h, d->kernel_w};
    const int64_t ys[4] = {d->batch, d->out_channels, oh, ow};
    /* The kernels also form the per-group reduction and the planes, which the array sizes above
     * do not bound when a dimension is 0. */
    const int64_t ks[3] = {d->out_channels / d->groups, d->kernel_h, d->kernel_w};
    const int64_t xp[2] = {d->in_h, d->in_w}, yp[2] = {oh, ow};
    if ((st = cnn_numel(4, xs, &t)) || (st = cnn_numel(4, ws, &t)) || (st = cnn_numel(4, ys, &t)) ||
        (st = cnn_numel(3, ks, &t)) || (st = cnn_numel(2, xp, &t)) || (st = cnn_numel(2, yp, &t)))
        return st;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return CNN_OK;
}

/* The convolution whose input gradient this transpose convolution is: conv input = our output,
 * conv output = our input, same kernel, strides, dilations and (top/left) padding. */
static cnn_status transpose_prepare(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                    cnn_algo *algo, conv_geom *g, void **scratch,
                                    const cnn_kernel_table **table)
{
    int64_t oh, ow;
    cnn_status st;
    *scratch = NULL;
    if ((st = cnn_conv_transpose2d_output_shape(d, &oh, &ow))) return st;
    g->N = d->batch;
    g->C_in = d->out_channels;
    g->H = oh;
    g->W = ow;
    g->C_out = d->in_channels;
    g->OH = d->in_h;
    g->OW = d->in_w;
    g->kH = d->kernel_h;
    g->kW = d->kernel_w;
    g->sH = d->stride_h;
    g->sW = d->stride_w;
    g->dilH = d->dilation_h;
    g->dilW = d->dilation_w;
    g->pT = d->pad_h;
    g->pL = d->pad_w;
    g->groups = d->groups;
    g->threads = 1;
    return conv_prepare(g, dtype, algo, scratch, table);
}

cnn_status cnn_conv_transpose2d_forward(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                        cnn_algo algo, const void *x, const void *w,
                                        const void *b, void *y)
{
    conv_geom g;
    void *scratch;
    const cnn_kernel_table *k;
    cnn_status st = transpose_prepare(d, dtype, &algo, &g, &scratch, &k);
    if (st != CNN_OK) return st;
    if (g.N == 0) return CNN_OK;
    if (!x || !w || !y) {
        cnn_workspace_put(scratch);
        return CNN_EINVAL;
    }
    const int64_t P = g.H * g.W, C = g.C_in;
    if (dtype == CNN_FLOAT32) {
        float *yf = y;
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t c = 0; c < C; c++) {
                const float v = b ? ((const float *)b)[c] : 0.0f;
                for (int64_t p = 0; p < P; p++) yf[(n * C + c) * P + p] = v;
            }
        if (g.C_out > 0) /* no input channels: the output is the bias (see conv_prepare) */
            k->conv_backward_data_f32(&g, algo, x, w, y, scratch);
    } else {
        double *yd = y;
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t c = 0; c < C; c++) {
                const double v = b ? ((const double *)b)[c] : 0.0;
                for (int64_t p = 0; p < P; p++) yd[(n * C + c) * P + p] = v;
            }
        if (g.C_out > 0)
            k->conv_backward_data_f64(&g, algo, x, w, y, scratch);
    }
    cnn_workspace_put(scratch);
    return CNN_OK;
}

cnn_status cnn_conv_transpose2d_backward(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                         cnn_algo algo, const void *dy, const void *x,
                                         const void *w, void *dx, void *dw, void *db)
{
    conv_geom g;
    void *scratch;
    const cnn_kernel_table *k;
    cnn_status st = transpose_prepare(d, dtype, &algo, &g, &scratch, &k);
    if (st != CNN_OK) return st;
    if (g.N == 0) return CNN_OK;
    if (!dy || (dx && !w) || (dw && !x)) {
        cnn_workspace_put(scratch);
        return CNN_EINVAL;
    }
    if (g.C_out == 0) dx = dw = NULL; /* no input channels: both empty (see conv_prepare) */
    if (dtype == CNN_FLOAT32) {
        if (dx) k->conv_forward_f32(&g, algo, dy, w, NULL, dx, 1, scratch);
        if (dw) k->conv_backward_weight_f32(&g, algo, x, dy, dw, scratch);
        if (db) k->bias_backward_f32(g.N, g.C_in, g.H * g.W, dy, db);
    } else {
        if (dx) k->conv_forward_f64(&g, algo, dy, w, NULL, dx, 1, scratch);
        if (dw) k->conv_backward_weight_f64(&g, algo, x, dy, dw, scratch);
        if (db) k->bias_backward_f64(g.N, g.C_in, g.H * g.W, dy, db);
    }
    cnn_workspace_put(scratch);
    return CNN_OK;
}
