/* generic/pool.h — pooling kernels for one dtype (`real`, suffix R()): for max and average pooling
 * the plain reference loops (the definition, one output at a time) and the fast kernels tested
 * against them; max pooling's compact in-window argmax (uint8) with its written-once backward;
 * adaptive pooling; the index scatter/gather of max unpooling. No kernel needs scratch.
 * Compiled per dtype and instruction set (csrc/isa_body.h). */

/* ---- helpers shared by both dtypes (once per translation unit) ---------------------------------- */
#ifndef CNN_POOL_HELPERS
#define CNN_POOL_HELPERS

/* Outputs per row chunk of the fast kernels: their labels and quotients live on the stack. */
enum { POOL_CHUNK = 512 };

/* The taps [*t0, *t1) of a window axis that land inside [0, n): taps start + t*d for t < k, where
 * start = o*s - p may be negative. Written so that nothing overflows for a d near INT64_MAX. */
static void pool_taps(int64_t start, int64_t k, int64_t d, int64_t n, int64_t *t0, int64_t *t1)
{
    const int64_t a = start >= 0 ? 0 : (-start - 1) / d + 1;
    const int64_t b = start > n - 1 ? 0 : (n - 1 - start) / d + 1;
    *t0 = a < k ? a : k;
    *t1 = b < k ? b : k;
    if (*t1 < *t0) *t1 = *t0;
}

/* The outputs [*o0, *o1) whose window, starting at o*s - p with a reach of `span`
 * ((k-1)*d + 1), covers input position i: o*s - p <= i < o*s - p + span, within [0, out). */
static void pool_covering(int64_t i, int64_t s, int64_t p, int64_t span, int64_t out, int64_t *o0,
                          int64_t *o1)
{
    const int64_t lo = i + p - span + 1, hi = i + p; /* o*s in [lo, hi] */
    const int64_t a = lo <= 0 ? 0 : (lo + s - 1) / s, b = hi < 0 ? 0 : hi / s + 1;
    *o0 = a;
    *o1 = b < out ? b : out;
    if (*o1 < *o0) *o1 = *o0;
}

/* Whether the fast max-pooling kernels can label a window position with an int32: the largest
 * offset of a tap from its window's first position, (kH-1)*dH*W + (kW-1)*dW, fits (computed in
 * double: a hostile geometry may overflow int64). Else the reference kernel runs. */
static int pool_offsets_fit_int32(const cnn_pool2d_desc *d)
{
    const double span = (double)(d->kernel_h - 1) * (double)d->dilation_h * (double)d->in_w +
                        (double)(d->kernel_w - 1) * (double)d->dilation_w;
    return span < (double)INT32_MAX;
}
#endif

/* ---- reference kernels: the definition, one output at a time ------------------------------------ */

/* Max pooling, PyTorch's scan: from the first in-bounds element of the window, in row-major order,
 * take a value when it is greater than the running maximum or NaN. idx gets the flat position
 * ih*W + iw of the result, or -1 when the window holds no input element (it then outputs -inf). */
static void R(maxpool_forward_ref)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                   const real *x, real *y, int64_t *idx)
{
    const int64_t H = d->in_h, W = d->in_w;
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t h0 = oh * d->stride_h - d->pad_h, w0 = ow * d->stride_w - d->pad_w;
                int64_t a, b, c, e;
                pool_taps(h0, d->kernel_h, d->dilation_h, H, &a, &b);
                pool_taps(w0, d->kernel_w, d->dilation_w, W, &c, &e);
                real m = -(real)INFINITY;
                int64_t best = a < b && c < e ? (h0 + a * d->dilation_h) * W + w0 + c * d->dilation_w : -1;
                for (int64_t th = a; th < b; th++)
                    for (int64_t tw = c; tw < e; tw++) {
                        const int64_t i = (h0 + th * d->dilation_h) * W + w0 + tw * d->dilation_w;
                        const real v = x[p * H * W + i];
                        if (v > m || v != v) {
                            m = v;
                            best = i;
                        }
                    }
                y[(p * OH + oh) * OW + ow] = m;
                idx[(p * OH + oh) * OW + ow] = best;
            }
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

/* The window of output (oh, ow) clipped to the input, rows [*h0, *h1) and columns [*w0, *w1), and
 * its divisor (meaningless for an empty window, which has no element to use it on). */
static real R(avg_window)(const cnn_pool2d_desc *d, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1,
                          int64_t *w0, int64_t *w1)
{
    const int64_t hpad = avg_span(oh, d->stride_h, d->pad_h, d->kernel_h, d->in_h, h0, h1);
    const int64_t wpad = avg_span(ow, d->stride_w, d->pad_w, d->kernel_w, d->in_w, w0, w1);
    return R(avg_divisor)(d, hpad, *h1 - *h0, wpad, *w1 - *w0);
}

/* Average pooling: each output sums its window in row-major order, then divides. */
static void R(avgpool_forward_ref)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                                   real *y)
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
                y[(p * OH + oh) * OW + ow] = h0 < h1 && w0 < w1 ? s / div : 0;
            }
}

/* dx += each output's gradient over its divisor, added to every element of its window; outputs in
 * row-major order, so each dx element receives its terms in that order. */
static void R(avgpool_backward_ref)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                    const real *dy, real *dx)
{
    const int64_t H = d->in_h, W = d->in_w;
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                const real div = R(avg_window)(d, oh, ow, &h0, &h1, &w0, &w1);
                if (h0 >= h1 || w0 >= w1) continue;
                const real g = dy[(p * OH + oh) * OW + ow] / div;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dx[(p * H + ih) * W + iw] += g;
            }
}

/* ---- max pooling: fast kernels ------------------------------------------------------------------- */

/* m[ow] (ow in [lo, hi)) = the running maximum after the value v = xr[ow*s + off], with label
 * lab[ow] of the position that gave it: taken when v > m or v is NaN (the reference's scan).
 * Branch-free, so that it vectorises; strides 1 and 2 get loops of their own (contiguous and
 * pairwise loads). m and lab are indexed from c0, the chunk's first output. */
static void R(max_tap)(const real *restrict xr, int64_t s, int64_t off, int64_t lo, int64_t hi,
                       int64_t c0, int32_t label, real *restrict m, int32_t *restrict lab)
{
    const real *restrict xs = xr + off;
    m -= c0;
    lab -= c0;
    if (s == 1) {
        for (int64_t ow = lo; ow < hi; ow++) {
            const real v = xs[ow];
            const int u = (v > m[ow]) | (v != v);
            m[ow] = u ? v : m[ow];
            lab[ow] = u ? label : lab[ow];
        }
    } else if (s == 2) {
        for (int64_t ow = lo; ow < hi; ow++) {
            const real v = xs[2 * ow];
            const int u = (v > m[ow]) | (v != v);
            m[ow] = u ? v : m[ow];
            lab[ow] = u ? label : lab[ow];
        }
    } else {
        for (int64_t ow = lo; ow < hi; ow++) {
            const real v = xs[ow * s];
            const int u = (v > m[ow]) | (v != v);
            m[ow] = u ? v : m[ow];
            lab[ow] = u ? label : lab[ow];
        }
    }
}

/* One plane of max pooling, one output row at a time in chunks of POOL_CHUNK outputs; every
 * in-bounds tap of the window updates the whole chunk (so the loops stream along the row, in the
 * reference's row-major tap order). Each window position gets a label: its tap number th*kW + tw
 * when `arg` is given (the compact argmax, < 255 by the caller's check), else its offset
 * th*dH*W + tw*dW from the window's first position (int32 by pool_offsets_fit_int32). Outputs
 * whose label is still -1 after the scan hold only -inf (the first in-bounds position, as the
 * reference) or lie wholly outside the input (-1 / 255: no position). */
static void R(maxpool_plane)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                             const real *restrict x, real *restrict y, int64_t *restrict idx,
                             uint8_t *restrict arg)
{
    const int64_t H = d->in_h, W = d->in_w, kW = d->kernel_w, sW = d->stride_w;
    const int64_t dH = d->dilation_h, dW = d->dilation_w, pW = d->pad_w;
    /* a one-tap axis has no offset to label (and its dilation, W may be anything) */
    const int32_t lh = d->kernel_h == 1 ? 0 : arg ? (int32_t)kW : (int32_t)(dH * W);
    const int32_t lw = kW == 1 ? 0 : arg ? 1 : (int32_t)dW;
    int32_t lab[POOL_CHUNK];
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t h0 = oh * d->stride_h - d->pad_h;
        int64_t a, b, k0, k1;
        pool_taps(h0, d->kernel_h, dH, H, &a, &b);
        tap_range(OW, W, sW, dW, pW, kW, &k0, &k1);
        real *yr = y + oh * OW;
        for (int64_t c0 = 0; c0 < OW; c0 += POOL_CHUNK) {
            const int64_t c1 = OW - c0 < POOL_CHUNK ? OW : c0 + POOL_CHUNK;
            for (int64_t j = 0; j < c1 - c0; j++) {
                yr[c0 + j] = -(real)INFINITY;
                lab[j] = -1;
            }
            for (int64_t th = a; th < b; th++) {
                const real *xr = x + (h0 + th * dH) * W;
                for (int64_t tw = k0; tw < k1; tw++) {
                    const int64_t off = tw * dW - pW;
                    int64_t lo, hi;
                    ow_range(OW, W, sW, off, &lo, &hi);
                    lo = lo > c0 ? lo : c0;
                    hi = hi < c1 ? hi : c1;
                    R(max_tap)(xr, sW, off, lo, hi, c0, (int32_t)th * lh + (int32_t)tw * lw, yr + c0, lab);
                }
            }
            for (int64_t ow = c0; ow < c1; ow++) {
                int32_t l = lab[ow - c0];
                const int64_t w0 = ow * sW - pW;
                if (l < 0) { /* only -inf seen, or no position at all */
                    int64_t c, e;
                    pool_taps(w0, kW, dW, W, &c, &e);
                    if (a < b && c < e) l = (int32_t)a * lh + (int32_t)c * lw;
                }
                if (arg)
                    arg[oh * OW + ow] = l < 0 ? 255 : (uint8_t)l;
                else
                    idx[oh * OW + ow] = l < 0 ? -1 : h0 * W + w0 + l;
            }
        }
    }
}

/* dx (H, W) (+)= max pooling's gradient from the compact argmax, as a gather: each dx row is
 * formed once, from the output rows whose windows cover it (ascending) and, within one, from the
 * taps whose outputs cover each element (ascending outputs), so every element receives its terms
 * in the order of the outputs, as index_scatter adds them. With accumulate 0 dx is overwritten:
 * no zero fill is needed. */
static void R(maxpool_backward_arg_plane)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                          const real *restrict dy, const uint8_t *restrict arg,
                                          real *restrict dx, int accumulate)
{
    const int64_t H = d->in_h, W = d->in_w, kH = d->kernel_h, kW = d->kernel_w;
    const int64_t sH = d->stride_h, sW = d->stride_w, dH = d->dilation_h, dW = d->dilation_w;
    int64_t k0, k1;
    tap_range(OW, W, sW, dW, d->pad_w, kW, &k0, &k1);
    for (int64_t ih = 0; ih < H; ih++) {
        real *restrict dxr = dx + ih * W;
        if (!accumulate)
            for (int64_t iw = 0; iw < W; iw++) dxr[iw] = 0;
        int64_t o0, o1;
        pool_covering(ih, sH, d->pad_h, (kH - 1) * dH + 1, OH, &o0, &o1);
        for (int64_t oh = o0; oh < o1; oh++) { /* ascending output rows */
            const int64_t dist = ih + d->pad_h - oh * sH; /* th * dH */
            if (dist % dH) continue;
            const int64_t th = dist / dH;
            const uint8_t *ar = arg + oh * OW;
            const real *gr = dy + oh * OW;
            for (int64_t tw = k1 - 1; tw >= k0; tw--) {
                const int64_t off = tw * dW - d->pad_w;
                const uint8_t t = (uint8_t)(th * kW + tw);
                int64_t lo, hi;
                ow_range(OW, W, sW, off, &lo, &hi);
                real *restrict xs = dxr + off;
                if (sW == 1)
                    for (int64_t ow = lo; ow < hi; ow++) xs[ow] = ar[ow] == t ? xs[ow] + gr[ow] : xs[ow];
                else if (sW == 2)
                    for (int64_t ow = lo; ow < hi; ow++)
                        xs[2 * ow] = ar[ow] == t ? xs[2 * ow] + gr[ow] : xs[2 * ow];
                else
                    for (int64_t ow = lo; ow < hi; ow++)
                        xs[ow * sW] = ar[ow] == t ? xs[ow * sW] + gr[ow] : xs[ow * sW];
            }
        }
    }
}

/* ---- average pooling: fast kernels ----------------------------------------------------------------- */

/* yr[ow] += xr[ow*s + off] for ow in [lo, hi); strides 1 and 2 get loops of their own. */
static void R(sum_tap)(const real *restrict xr, int64_t s, int64_t off, int64_t lo, int64_t hi,
                       real *restrict yr)
{
    const real *restrict xs = xr + off;
    if (s == 1)
        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xs[ow];
    else if (s == 2)
        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xs[2 * ow];
    else
        for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xs[ow * s];
}

/* One plane: window sums one output row at a time (each tap streams along the row, in row-major
 * tap order, so each output sums as the reference does), then the divisors. */
static void R(avgpool_plane)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                             const real *restrict x, real *restrict y)
{
    const int64_t H = d->in_h, W = d->in_w, sW = d->stride_w;
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1, w0, w1, k0, k1;
        const int64_t hpad = avg_span(oh, d->stride_h, d->pad_h, d->kernel_h, H, &h0, &h1);
        real *restrict yr = y + oh * OW;
        tap_range(OW, W, sW, 1, d->pad_w, d->kernel_w, &k0, &k1);
        for (int64_t ow = 0; ow < OW; ow++) yr[ow] = 0;
        for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t kw = k0; kw < k1; kw++) {
                const int64_t off = kw - d->pad_w;
                int64_t lo, hi;
                ow_range(OW, W, sW, off, &lo, &hi);
                R(sum_tap)(x + ih * W, sW, off, lo, hi, yr);
            }
        for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t wpad = avg_span(ow, sW, d->pad_w, d->kernel_w, W, &w0, &w1);
            yr[ow] = (h0 < h1 && w0 < w1) ? yr[ow] / R(avg_divisor)(d, hpad, h1 - h0, wpad, w1 - w0) : 0;
        }
    }
}

/* dx (H, W) (+)= average pooling's gradient as a gather: each dx row is formed once, from the
 * output rows whose windows cover it (ascending; each row's gradients over their divisors are
 * formed in chunks) and, within one, the taps in descending order (ascending outputs for each
 * element), which is the reference's order of terms. With accumulate 0 dx is overwritten. */
static void R(avgpool_backward_plane)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                      const real *restrict dy, real *restrict dx, int accumulate)
{
    const int64_t H = d->in_h, W = d->in_w, kH = d->kernel_h, kW = d->kernel_w;
    const int64_t sH = d->stride_h, sW = d->stride_w, pW = d->pad_w;
    real g[POOL_CHUNK];
    int64_t k0, k1;
    tap_range(OW, W, sW, 1, pW, kW, &k0, &k1);
    for (int64_t ih = 0; ih < H; ih++) {
        real *restrict dxr = dx + ih * W;
        if (!accumulate)
            for (int64_t iw = 0; iw < W; iw++) dxr[iw] = 0;
        int64_t o0, o1;
        pool_covering(ih, sH, d->pad_h, kH, OH, &o0, &o1);
        for (int64_t oh = o0; oh < o1; oh++) { /* ascending output rows */
            int64_t h0, h1, w0, w1;
            const int64_t hpad = avg_span(oh, sH, d->pad_h, kH, H, &h0, &h1);
            const real *dyr = dy + oh * OW;
            for (int64_t c0 = 0; c0 < OW; c0 += POOL_CHUNK) {
                const int64_t c1 = OW - c0 < POOL_CHUNK ? OW : c0 + POOL_CHUNK;
                for (int64_t ow = c0; ow < c1; ow++) {
                    const int64_t wpad = avg_span(ow, sW, pW, kW, W, &w0, &w1);
                    g[ow - c0] = dyr[ow] / R(avg_divisor)(d, hpad, h1 - h0, wpad, w1 - w0);
                }
                for (int64_t tw = k1 - 1; tw >= k0; tw--) {
                    const int64_t off = tw - pW;
                    int64_t lo, hi;
                    ow_range(OW, W, sW, off, &lo, &hi);
                    lo = lo > c0 ? lo : c0;
                    hi = hi < c1 ? hi : c1;
                    real *restrict xs = dxr + off;
                    const real *gs = g - c0;
                    if (sW == 1)
                        for (int64_t ow = lo; ow < hi; ow++) xs[ow] += gs[ow];
                    else if (sW == 2)
                        for (int64_t ow = lo; ow < hi; ow++) xs[2 * ow] += gs[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) xs[ow * sW] += gs[ow];
                }
            }
        }
    }
}

/* ---- adaptive pooling ------------------------------------------------------------------------------ */

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

/* ---- index scatter and gather (max pooling's backward, max unpooling) --------------------------------
 * An index of -1 stands for no position (a max-pooling window that holds no input element): it
 * receives and gives nothing. The entry points have checked every index. */

/* dx[p][idx] += dy[p][i] for (planes, out_len) dy and idx into (planes, in_len) dx. */
static void R(index_scatter)(int64_t planes, int64_t out_len, int64_t in_len,
                             const real *restrict dy, const int64_t *restrict idx,
                             real *restrict dx)
{
    for (int64_t p = 0; p < planes; p++) {
        const real *g = dy + p * out_len;
        const int64_t *ip = idx + p * out_len;
        real *dxp = dx + p * in_len;
        for (int64_t i = 0; i < out_len; i++)
            if (ip[i] >= 0) dxp[ip[i]] += g[i];
    }
}

/* y[p][idx[p][i]] = x[p][i] (later entries win). */
static void R(index_assign)(int64_t planes, int64_t in_len, int64_t out_len,
                            const real *restrict x, const int64_t *restrict idx, real *restrict y)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < in_len; i++)
            if (idx[p * in_len + i] >= 0) y[p * out_len + idx[p * in_len + i]] = x[p * in_len + i];
}

/* dx[p][i] += dy[p][idx[p][i]]. */
static void R(index_gather)(int64_t planes, int64_t in_len, int64_t out_len,
                            const real *restrict dy, const int64_t *restrict idx,
                            real *restrict dx)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < in_len; i++)
            if (idx[p * in_len + i] >= 0) dx[p * in_len + i] += dy[p * out_len + idx[p * in_len + i]];
}

/* ---- threads: the planes of a pooling are independent, so each part takes a range of them ------ */

/* Planes per part: about 32K input elements, so that waking a thread pays for itself. */
static int64_t R(plane_grain)(int64_t plane_len)
{
    const int64_t g = 32768 / (plane_len > 0 ? plane_len : 1);
    return g > 1 ? g : 1;
}

#ifndef CNN_POOL_OPS /* once per translation unit: this file is included once per dtype */
#define CNN_POOL_OPS
enum { POOL_MAX_FWD, POOL_MAX_FWD_ARG, POOL_MAX_BWD_ARG, POOL_SCATTER, POOL_AVG_FWD, POOL_AVG_BWD };
#endif

typedef struct {
    int op, accumulate;
    const cnn_pool2d_desc *d;
    int64_t OH, OW, in_len, out_len; /* out_len: OH*OW */
    const real *src;                 /* x, or dy for the backward */
    real *dst;                       /* y, or dx */
    int64_t *idx;
    uint8_t *arg;
} R(pool_task);

static void R(pool_task_run)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(pool_task) *t = vctx;
    (void)part;
    if (t->op == POOL_SCATTER) {
        R(index_scatter)(end - begin, t->out_len, t->in_len, t->src + begin * t->out_len,
                         t->idx + begin * t->out_len, t->dst + begin * t->in_len);
        return;
    }
    for (int64_t p = begin; p < end; p++) {
        const int64_t in = p * t->in_len, out = p * t->out_len;
        switch (t->op) {
        case POOL_MAX_FWD: R(maxpool_plane)(t->d, t->OH, t->OW, t->src + in, t->dst + out, t->idx + out, NULL); break;
        case POOL_MAX_FWD_ARG: R(maxpool_plane)(t->d, t->OH, t->OW, t->src + in, t->dst + out, NULL, t->arg + out); break;
        case POOL_MAX_BWD_ARG:
            R(maxpool_backward_arg_plane)(t->d, t->OH, t->OW, t->src + out, t->arg + out, t->dst + in, t->accumulate);
            break;
        case POOL_AVG_FWD: R(avgpool_plane)(t->d, t->OH, t->OW, t->src + in, t->dst + out); break;
        case POOL_AVG_BWD: R(avgpool_backward_plane)(t->d, t->OH, t->OW, t->src + out, t->dst + in, t->accumulate); break;
        }
    }
}

static void R(pool_split)(R(pool_task) *t, int64_t planes)
{
    cnn_parallel_for(planes, R(plane_grain)(t->in_len), 1 << 30, R(pool_task_run), t);
}

/* ---- entry points for pool.c (through the kernel table) ------------------------------------------- */

/* y, idx (planes, OH, OW) = max pooling of x (planes, H, W); idx as the reference's. */
static void R(maxpool_forward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                                  real *y, int64_t *idx)
{
    if (!pool_offsets_fit_int32(d)) {
        R(maxpool_forward_ref)(d, OH, OW, x, y, idx);
        return;
    }
    R(pool_task) t = {POOL_MAX_FWD, 0, d, OH, OW, d->in_h * d->in_w, OH * OW, x, y, idx, NULL};
    R(pool_split)(&t, d->planes);
}

/* y (planes, OH, OW) = max pooling of x; arg = the tap number th*kW + tw of each maximum in its
 * window, 255 for a window that holds no input element. Requires kernel_h*kernel_w <= 255. */
static void R(maxpool_forward_arg_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                      const real *x, real *y, uint8_t *arg)
{
    R(pool_task) t = {POOL_MAX_FWD_ARG, 0, d, OH, OW, d->in_h * d->in_w, OH * OW, x, y, NULL, arg};
    R(pool_split)(&t, d->planes);
}

/* dx (planes, H, W) = (accumulate ? dx : 0) + max pooling's gradient given dy and arg
 * (planes, OH, OW) from maxpool_forward_arg; every dx element is written once. */
static void R(maxpool_backward_arg_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                       const real *dy, const uint8_t *arg, real *dx, int accumulate)
{
    R(pool_task) t = {POOL_MAX_BWD_ARG, accumulate, d, OH, OW, d->in_h * d->in_w, OH * OW, dy, dx,
                      NULL, (uint8_t *)arg};
    R(pool_split)(&t, d->planes);
}

static void R(index_scatter_mt)(int64_t planes, int64_t out_len, int64_t in_len, const real *dy,
                                const int64_t *idx, real *dx)
{
    R(pool_task) t = {POOL_SCATTER, 1, NULL, 1, out_len, in_len, out_len, dy, dx, (int64_t *)idx, NULL};
    R(pool_split)(&t, planes);
}

static void R(avgpool_forward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                                  real *y)
{
    R(pool_task) t = {POOL_AVG_FWD, 0, d, OH, OW, d->in_h * d->in_w, OH * OW, x, y, NULL, NULL};
    R(pool_split)(&t, d->planes);
}

/* dx = (accumulate ? dx : 0) + average pooling's gradient; every dx element is written once. */
static void R(avgpool_backward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                   const real *dy, real *dx, int accumulate)
{
    R(pool_task) t = {POOL_AVG_BWD, accumulate, d, OH, OW, d->in_h * d->in_w, OH * OW, dy, dx, NULL, NULL};
    R(pool_split)(&t, d->planes);
}
