/* conv.c — 2-D convolution (and 1-D as H = 1): descriptor validation, the rule that picks the
 * direct or the GEMM kernel, and the public forward/backward entry points. The kernels themselves
 * are in generic/conv.h. */
#include "internal.h"

/* Output pixels per im2col tile: the column tile (K x tile) stays within ~128K elements (half a
 * megabyte of float32), in multiples of 16, never more than the image. */
static int64_t conv_tile_len(int64_t K, int64_t P)
{
    int64_t t = ((int64_t)1 << 17) / (K > 0 ? K : 1);
    t = t < 16 ? 16 : t - t % 16;
    return t < P ? t : P;
}

/* A 1x1 convolution with stride 1 and no padding reads the image itself as the column matrix. */
static int conv_is_pointwise(const conv_geom *g)
{
    return g->kH == 1 && g->kW == 1 && g->sH == 1 && g->sW == 1 && g->pT == 0 && g->pL == 0 &&
           g->OH == g->H && g->OW == g->W;
}

void direct_padded_dims(const conv_geom *g, int64_t *Hp, int64_t *Wp)
{
    *Hp = (g->OH - 1) * g->sH + (g->kH - 1) * g->dH + 1;
    *Wp = (g->OW - 1) * g->sW + (g->kW - 1) * g->dW + 1;
}

#define CNN_GENERIC "conv.h"
#include "generic/instantiate.h"

/* ---- algorithm choice and scratch ------------------------------------------------------------------ */

/* The direct kernel streams whole rows and needs no scratch; it wins while the reduction per
 * output (C_in/groups * kH * kW) is short. Longer reductions amortise im2col in the GEMM. */
#define CONV_DIRECT_MAX_K 64

cnn_algo conv_resolve_algo(const conv_geom *g, cnn_algo algo)
{
    if (algo != CNN_ALGO_AUTO) return algo;
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW;
    return K <= CONV_DIRECT_MAX_K ? CNN_ALGO_DIRECT : CNN_ALGO_GEMM;
}

/* Direct kernels: one padded group of the input for the weight gradient. GEMM: one column tile
 * plus the packing buffers. */
cnn_status conv_scratch_len(const conv_geom *g, cnn_algo algo, int64_t *len)
{
    int64_t K, col = 0;
    cnn_status st;
    *len = 0;
    if (algo == CNN_ALGO_DIRECT) {
        int64_t Hp, Wp;
        direct_padded_dims(g, &Hp, &Wp);
        const int64_t padded[3] = {g->C_in / g->groups, Hp, Wp};
        return cnn_numel(3, padded, len);
    }
    if (algo != CNN_ALGO_GEMM) return CNN_OK;
    const int64_t ks[3] = {g->C_in / g->groups, g->kH, g->kW};
    if ((st = cnn_numel(3, ks, &K))) return st;
    if (!conv_is_pointwise(g) && (st = cnn_mul_sizes(K, conv_tile_len(K, g->OH * g->OW), &col)))
        return st;
    return cnn_add_sizes(col, gemm_workspace_len(), len);
}

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
    if ((st = cnn_numel(4, xs, &t)) || (st = cnn_numel(4, ws, &t)) || (st = cnn_numel(4, ys, &t)))
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
    g->dH = d->dilation_h;
    g->dW = d->dilation_w;
    g->pT = d->pad_top;
    g->pL = d->pad_left;
    g->groups = d->groups;
    return CNN_OK;
}

cnn_algo cnn_conv_choose_algo(const cnn_conv2d_desc *d)
{
    conv_geom g;
    if (conv_geom_from_desc(d, &g) != CNN_OK) return CNN_ALGO_REFERENCE;
    return conv_resolve_algo(&g, CNN_ALGO_AUTO);
}

/* ---- public entry points ------------------------------------------------------------------------ */

cnn_status conv_prepare(conv_geom *g, cnn_dtype dtype, cnn_algo *algo, void **scratch)
{
    int64_t len;
    cnn_status st;
    *scratch = NULL;
    if (*algo < CNN_ALGO_AUTO || *algo > CNN_ALGO_GEMM) return CNN_EINVAL;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    *algo = conv_resolve_algo(g, *algo);
    if (g->N == 0) return CNN_OK;
    if ((st = conv_scratch_len(g, *algo, &len))) return st;
    if (len > 0)
        return cnn_alloc(len, dtype == CNN_FLOAT32 ? sizeof(float) : sizeof(double), scratch);
    return CNN_OK;
}

cnn_status cnn_conv2d_forward(const cnn_conv2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                              const void *x, const void *w, const void *b, void *y)
{
    conv_geom g;
    void *scratch;
    cnn_status st = conv_geom_from_desc(d, &g);
    if (st == CNN_OK) st = conv_prepare(&g, dtype, &algo, &scratch);
    if (st != CNN_OK) return st;
    if (g.N > 0 && (!x || !w || !y)) st = CNN_EINVAL;
    else if (g.N > 0 && dtype == CNN_FLOAT32)
        conv_forward_f32(&g, algo, x, w, b, y, 0, scratch);
    else if (g.N > 0)
        conv_forward_f64(&g, algo, x, w, b, y, 0, scratch);
    free(scratch);
    return st;
}

cnn_status cnn_conv2d_backward(const cnn_conv2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                               const void *dy, const void *x, const void *w, void *dx, void *dw,
                               void *db)
{
    conv_geom g;
    void *scratch;
    cnn_status st = conv_geom_from_desc(d, &g);
    if (st == CNN_OK) st = conv_prepare(&g, dtype, &algo, &scratch);
    if (st != CNN_OK) return st;
    if (g.N == 0) return CNN_OK;
    if (!dy || (dx && !w) || (dw && !x)) {
        free(scratch);
        return CNN_EINVAL;
    }
    if (dtype == CNN_FLOAT32) {
        if (dx) conv_backward_data_f32(&g, algo, dy, w, dx, scratch);
        if (dw) conv_backward_weight_f32(&g, algo, dy, x, dw, scratch);
        if (db) bias_backward_f32(g.N, g.C_out, g.OH * g.OW, dy, db);
    } else {
        if (dx) conv_backward_data_f64(&g, algo, dy, w, dx, scratch);
        if (dw) conv_backward_weight_f64(&g, algo, dy, x, dw, scratch);
        if (db) bias_backward_f64(g.N, g.C_out, g.OH * g.OW, dy, db);
    }
    free(scratch);
    return CNN_OK;
}
