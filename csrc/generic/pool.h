/* generic/pool.h — pooling kernels for one dtype (`real`, suffix R()). Compiled per ISA (csrc/isa_body.h). */

/* Max pooling, PyTorch's scan: from the first in-bounds element of the window, in row-major
 * order, take a value when it is greater than the running maximum or NaN. */
static void R(maxpool_forward)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                               const real *restrict x, real *restrict y, int64_t *restrict idx)
{
    const int64_t H = d->in_h, W = d->in_w;
    for (int64_t p = 0; p < d->planes; p++) {
        const real *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * d->stride_h - d->pad_h;
            const int64_t h1 = h0 + (d->kernel_h - 1) * d->dilation_h + 1 < H
                                   ? h0 + (d->kernel_h - 1) * d->dilation_h + 1 : H;
            if (h0 < 0) h0 += ((-h0 + d->dilation_h - 1) / d->dilation_h) * d->dilation_h;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * d->stride_w - d->pad_w;
                const int64_t w1 = w0 + (d->kernel_w - 1) * d->dilation_w + 1 < W
                                       ? w0 + (d->kernel_w - 1) * d->dilation_w + 1 : W;
                if (w0 < 0) w0 += ((-w0 + d->dilation_w - 1) / d->dilation_w) * d->dilation_w;
                /* A dilated window can miss the input entirely; its index still points inside. */
                int64_t best = (h0 < H ? h0 : H - 1) * W + (w0 < W ? w0 : W - 1);
                real m = -(real)INFINITY;
                for (int64_t ih = h0; ih < h1; ih += d->dilation_h)
                    for (int64_t iw = w0; iw < w1; iw += d->dilation_w) {
                        const real v = xp[ih * W + iw];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = ih * W + iw;
                        }
                    }
                y[(p * OH + oh) * OW + ow] = m;
                idx[(p * OH + oh) * OW + ow] = best;
            }
        }
    }
}

/* dx[p][idx] += dy[p][i] for (planes, out_len) dy and idx into (planes, in_len) dx. */
static void R(index_scatter)(int64_t planes, int64_t out_len, int64_t in_len,
                             const real *restrict dy, const int64_t *restrict idx,
                             real *restrict dx)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < out_len; i++) dx[p * in_len + idx[p * out_len + i]] += dy[p * out_len + i];
}

/* y[p][idx[p][i]] = x[p][i] (later entries win). */
static void R(index_assign)(int64_t planes, int64_t in_len, int64_t out_len,
                            const real *restrict x, const int64_t *restrict idx, real *restrict y)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < in_len; i++) y[p * out_len + idx[p * in_len + i]] = x[p * in_len + i];
}

/* dx[p][i] += dy[p][idx[p][i]]. */
static void R(index_gather)(int64_t planes, int64_t in_len, int64_t out_len,
                            const real *restrict dy, const int64_t *restrict idx,
                            real *restrict dx)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < in_len; i++) dx[p * in_len + i] += dy[p * out_len + idx[p * in_len + i]];
}

/* Window [*h0, *h1) of output row oh clipped to the input and its divisor, PyTorch's rule: the
 * unclipped window is first cut at the end of the right padding (that size is the divisor with
 * count_include_pad), then clipped to the input (that size is the divisor without). */
static real R(avg_window)(const cnn_pool2d_desc *d, int64_t oh, int64_t ow, int64_t *h0,
                          int64_t *h1, int64_t *w0, int64_t *w1)
{
    int64_t hs = oh * d->stride_h - d->pad_h, ws = ow * d->stride_w - d->pad_w;
    int64_t he = hs + d->kernel_h, we = ws + d->kernel_w;
    if (he > d->in_h + d->pad_h) he = d->in_h + d->pad_h;
    if (we > d->in_w + d->pad_w) we = d->in_w + d->pad_w;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = he < d->in_h ? he : d->in_h;
    *w1 = we < d->in_w ? we : d->in_w;
    if (d->divisor_override > 0) return (real)d->divisor_override;
    /* Products in floating point: a huge padded window must not overflow int64. */
    if (d->count_include_pad) return (real)(he - hs) * (real)(we - ws);
    return (real)(*h1 - *h0) * (real)(*w1 - *w0);
}

static void R(avgpool_forward)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                               const real *restrict x, real *restrict y)
{
    const int64_t H = d->in_h, W = d->in_w;
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                const real div = R(avg_window)(d, oh, ow, &h0, &h1, &w0, &w1);
                real s = 0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += x[(p * H + ih) * W + iw];
                y[(p * OH + oh) * OW + ow] = (h0 < h1 && w0 < w1) ? s / div : 0;
            }
}

static void R(avgpool_backward)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                const real *restrict dy, real *restrict dx)
{
    const int64_t H = d->in_h, W = d->in_w;
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                const real div = R(avg_window)(d, oh, ow, &h0, &h1, &w0, &w1);
                const real g = dy[(p * OH + oh) * OW + ow] / div;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dx[(p * H + ih) * W + iw] += g;
            }
}

static void R(adaptive_avg_forward)(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                    const real *restrict x, real *restrict y)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
                real s = 0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += x[(p * H + ih) * W + iw];
                y[(p * OH + oh) * OW + ow] = s / (real)((h1 - h0) * (w1 - w0));
            }
        }
}

static void R(adaptive_avg_backward)(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                     const real *restrict dy, real *restrict dx)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
                const real g = dy[(p * OH + oh) * OW + ow] / (real)((h1 - h0) * (w1 - w0));
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dx[(p * H + ih) * W + iw] += g;
            }
        }
}

static void R(adaptive_max_forward)(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                    const real *restrict x, real *restrict y,
                                    int64_t *restrict idx)
{
    for (int64_t p = 0; p < planes; p++) {
        const real *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
                int64_t best = h0 * W + w0;
                real m = -(real)INFINITY;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        const real v = xp[ih * W + iw];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = ih * W + iw;
                        }
                    }
                y[(p * OH + oh) * OW + ow] = m;
                idx[(p * OH + oh) * OW + ow] = best;
            }
        }
    }
}
