/* generic/pool.h — pooling kernels for one dtype (`real`, suffix R()). Compiled per ISA (csrc/isa_body.h). */

/* Max pooling, PyTorch's scan: from the first in-bounds element of the window, in row-major
 * order, take a value when it is greater than the running maximum or NaN. Runs one output row at
 * a time: every kernel tap updates the whole row, so the inner loops stream along the width. */
static void R(maxpool_forward)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                               const real *restrict x, real *restrict y, int64_t *restrict idx)
{
    const int64_t H = d->in_h, W = d->in_w, sW = d->stride_w, dW = d->dilation_w;
    for (int64_t p = 0; p < d->planes; p++) {
        const real *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * d->stride_h - d->pad_h;
            const int64_t h1 = h0 + (d->kernel_h - 1) * d->dilation_h + 1 < H
                                   ? h0 + (d->kernel_h - 1) * d->dilation_h + 1 : H;
            if (h0 < 0) h0 += ((-h0 + d->dilation_h - 1) / d->dilation_h) * d->dilation_h;
            real *restrict yr = y + (p * OH + oh) * OW;
            int64_t *restrict ir = idx + (p * OH + oh) * OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * sW - d->pad_w;
                if (w0 < 0) w0 += ((-w0 + dW - 1) / dW) * dW;
                /* A dilated window can miss the input entirely; its index still points inside. */
                ir[ow] = (h0 < H ? h0 : H - 1) * W + (w0 < W ? w0 : W - 1);
                yr[ow] = -(real)INFINITY;
            }
            int64_t k0, k1;
            tap_range(OW, W, sW, dW, d->pad_w, d->kernel_w, &k0, &k1);
            for (int64_t ih = h0; ih < h1; ih += d->dilation_h) {
                const real *xr = xp + ih * W;
                for (int64_t kw = k0; kw < k1; kw++) {
                    const int64_t off = kw * dW - d->pad_w;
                    int64_t lo, hi;
                    ow_range(OW, W, sW, off, &lo, &hi);
                    for (int64_t ow = lo; ow < hi; ow++) {
                        const real v = xr[ow * sW + off];
                        if (v > yr[ow] || v != v) {
                            yr[ow] = v;
                            ir[ow] = ih * W + ow * sW + off;
                        }
                    }
                }
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

/* The divisor of output (oh, ow): divisor_override, else the product of the two axes' factors
 * (in floating point: a huge padded window must not overflow int64). */
static real R(avg_divisor)(const cnn_pool2d_desc *d, int64_t hpad, int64_t hlen, int64_t wpad,
                           int64_t wlen)
{
    if (d->divisor_override > 0) return (real)d->divisor_override;
    if (d->count_include_pad) return (real)hpad * (real)wpad;
    return (real)hlen * (real)wlen;
}

/* Window sums one output row at a time (each tap streams along the width), then the divisors;
 * every output still sums its window in row-major order. */
static void R(avgpool_forward)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                               const real *restrict x, real *restrict y)
{
    const int64_t H = d->in_h, W = d->in_w, sW = d->stride_w;
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0, h1, w0, w1;
            const int64_t hpad = avg_span(oh, d->stride_h, d->pad_h, d->kernel_h, H, &h0, &h1);
            real *restrict yr = y + (p * OH + oh) * OW;
            int64_t k0, k1;
            tap_range(OW, W, sW, 1, d->pad_w, d->kernel_w, &k0, &k1);
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = 0;
            for (int64_t ih = h0; ih < h1; ih++) {
                const real *xr = x + (p * H + ih) * W;
                for (int64_t kw = k0; kw < k1; kw++) {
                    const int64_t off = kw - d->pad_w;
                    int64_t lo, hi;
                    ow_range(OW, W, sW, off, &lo, &hi);
                    if (sW == 1)
                        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xr[ow + off];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xr[ow * sW + off];
                }
            }
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t wpad = avg_span(ow, sW, d->pad_w, d->kernel_w, W, &w0, &w1);
                yr[ow] = (h0 < h1 && w0 < w1)
                             ? yr[ow] / R(avg_divisor)(d, hpad, h1 - h0, wpad, w1 - w0) : 0;
            }
        }
}

/* dx += each output's gradient over its divisor, spread over its window; the per-output
 * gradients of a row are formed in chunks so each tap streams along the width. */
static void R(avgpool_backward)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                const real *restrict dy, real *restrict dx)
{
    enum { CHUNK = 256 };
    const int64_t H = d->in_h, W = d->in_w, sW = d->stride_w;
    real g[CHUNK];
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0, h1, w0, w1;
            const int64_t hpad = avg_span(oh, d->stride_h, d->pad_h, d->kernel_h, H, &h0, &h1);
            const real *dyr = dy + (p * OH + oh) * OW;
            for (int64_t c0 = 0; c0 < OW; c0 += CHUNK) {
                const int64_t c1 = OW - c0 < CHUNK ? OW : c0 + CHUNK;
                for (int64_t ow = c0; ow < c1; ow++) {
                    const int64_t wpad = avg_span(ow, sW, d->pad_w, d->kernel_w, W, &w0, &w1);
                    g[ow - c0] = dyr[ow] / R(avg_divisor)(d, hpad, h1 - h0, wpad, w1 - w0);
                }
                int64_t k0, k1;
                tap_range(OW, W, sW, 1, d->pad_w, d->kernel_w, &k0, &k1);
                for (int64_t ih = h0; ih < h1; ih++) {
                    real *dxr = dx + (p * H + ih) * W;
                    for (int64_t kw = k0; kw < k1; kw++) {
                        const int64_t off = kw - d->pad_w;
                        int64_t lo, hi;
                        ow_range(OW, W, sW, off, &lo, &hi);
                        lo = lo > c0 ? lo : c0;
                        hi = hi < c1 ? hi : c1;
                        for (int64_t ow = lo; ow < hi; ow++) dxr[ow * sW + off] += g[ow - c0];
                    }
                }
            }
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

/* ---- threads: the planes of a pooling are independent, so each part takes a range of them ---- */

/* Planes per part: about 32K input elements, so that waking a thread pays for itself. */
static int64_t R(plane_grain)(int64_t plane_len)
{
    const int64_t g = 32768 / (plane_len > 0 ? plane_len : 1);
    return g > 1 ? g : 1;
}

#ifndef CNN_POOL_OPS /* once per translation unit: this file is included once per dtype */
#define CNN_POOL_OPS
enum { POOL_MAX_FWD, POOL_MAX_BWD, POOL_AVG_FWD, POOL_AVG_BWD };
#endif

typedef struct {
    int op;
    const cnn_pool2d_desc *d;
    int64_t OH, OW, in_len, out_len; /* out_len: OH*OW */
    const real *src;                 /* x, or dy for the backward */
    real *dst;                       /* y, or dx */
    int64_t *idx;
} R(pool_task);

static void R(pool_task_run)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(pool_task) *t = vctx;
    cnn_pool2d_desc d = {0};
    (void)part;
    if (t->d) d = *t->d;
    d.planes = end - begin;
    const int64_t in = begin * t->in_len, out = begin * t->out_len;
    switch (t->op) {
    case POOL_MAX_FWD: R(maxpool_forward)(&d, t->OH, t->OW, t->src + in, t->dst + out, t->idx + out); break;
    case POOL_MAX_BWD: R(index_scatter)(d.planes, t->out_len, t->in_len, t->src + out, t->idx + out, t->dst + in); break;
    case POOL_AVG_FWD: R(avgpool_forward)(&d, t->OH, t->OW, t->src + in, t->dst + out); break;
    case POOL_AVG_BWD: R(avgpool_backward)(&d, t->OH, t->OW, t->src + out, t->dst + in); break;
    }
}

static void R(pool_split)(int op, const cnn_pool2d_desc *d, int64_t planes, int64_t in_len,
                          int64_t OH, int64_t OW, const real *src, real *dst, int64_t *idx)
{
    R(pool_task) t = {op, d, OH, OW, in_len, OH * OW, src, dst, idx};
    cnn_parallel_for(planes, R(plane_grain)(in_len), 1 << 30, R(pool_task_run), &t);
}

static void R(maxpool_forward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                  const real *x, real *y, int64_t *idx)
{
    R(pool_split)(POOL_MAX_FWD, d, d->planes, d->in_h * d->in_w, OH, OW, x, y, idx);
}

static void R(index_scatter_mt)(int64_t planes, int64_t out_len, int64_t in_len, const real *dy,
                                const int64_t *idx, real *dx)
{
    R(pool_split)(POOL_MAX_BWD, NULL, planes, in_len, 1, out_len, dy, dx, (int64_t *)idx);
}

static void R(avgpool_forward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                                  real *y)
{
    R(pool_split)(POOL_AVG_FWD, d, d->planes, d->in_h * d->in_w, OH, OW, x, y, NULL);
}

static void R(avgpool_backward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                   const real *dy, real *dx)
{
    R(pool_split)(POOL_AVG_BWD, d, d->planes, d->in_h * d->in_w, OH, OW, dy, dx, NULL);
}
