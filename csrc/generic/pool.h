/* generic/pool.h — pooling kernels for one dtype (`real`, suffix R()): for max and average pooling
 * the plain reference loops (the definition, one output at a time) and the fast kernels tested
 * against them; max pooling's compact in-window argmax (uint8) with its written-once backward;
 * adaptive pooling; the index scatter/gather of max unpooling. No kernel needs scratch.
 * Compiled per dtype and instruction set (csrc/isa_body.h). */

/* ---- helpers shared by both dtypes (once per translation unit) ---------------------------------- */
#ifndef CNN_POOL_HELPERS
#define CNN_POOL_HELPERS

/* The fast kernels keep rows on the stack: input rows of up to POOL_ROW elements, windows of up to
 * POOL_TAPS columns and POOL_KROWS rows, strides up to POOL_TAPS (at most about 70 KB with
 * float64), chunks of POOL_CHUNK outputs. Larger ones run the reference loops. */
enum { POOL_CHUNK = 512, POOL_ROW = 1024, POOL_TAPS = 32, POOL_KROWS = 8 };

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
    const int64_t lo = i + p - span + 1, hi = i + p; /* o*s in [lo, hi]; s may be near INT64_MAX */
    const int64_t a = lo <= 0 ? 0 : (lo - 1) / s + 1, b = hi < 0 ? 0 : hi / s + 1;
    *o0 = a;
    *o1 = b < out ? b : out;
    if (*o1 < *o0) *o1 = *o0;
}

/* Whether the fast max-pooling kernels can label a window position with an int32: the largest
 * offset of a tap from its window's first position, (kH-1)*dilH*W + (kW-1)*dilW, fits (computed in
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
 * ih*W + iw of the result, or -1 when the window holds no input element (it then outputs -inf);
 * or, when arg is given instead, the tap number th*kW + tw (255: no element). */
static void R(maxpool_forward_ref_any)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                       const real *x, real *y, int64_t *idx, uint8_t *arg)
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
                int64_t bh = a, bw = c; /* the first in-bounds position, if any */
                for (int64_t th = a; th < b; th++)
                    for (int64_t tw = c; tw < e; tw++) {
                        const real v = x[p * H * W + (h0 + th * d->dilation_h) * W + w0 + tw * d->dilation_w];
                        if (v > m || v != v) {
                            m = v;
                            bh = th;
                            bw = tw;
                        }
                    }
                const int none = a >= b || c >= e;
                y[(p * OH + oh) * OW + ow] = m;
                if (arg)
                    arg[(p * OH + oh) * OW + ow] = none ? 255 : (uint8_t)(bh * d->kernel_w + bw);
                else
                    idx[(p * OH + oh) * OW + ow] =
                        none ? -1 : (h0 + bh * d->dilation_h) * W + w0 + bw * d->dilation_w;
            }
}

static void R(maxpool_forward_ref)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                   const real *x, real *y, int64_t *idx)
{
    R(maxpool_forward_ref_any)(d, OH, OW, x, y, idx, NULL);
}

/* dx (+)= max pooling's gradient from the compact argmax: each output's gradient added at the
 * position its tap number names, outputs in row-major order (with accumulate 0, dx is zeroed
 * first). */
static void R(maxpool_backward_arg_ref)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                        const real *dy, const uint8_t *arg, real *dx, int accumulate)
{
    const int64_t H = d->in_h, W = d->in_w, kW = d->kernel_w;
    if (!accumulate)
        for (int64_t i = 0; i < d->planes * H * W; i++) dx[i] = 0;
    for (int64_t p = 0; p < d->planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t o = (p * OH + oh) * OW + ow;
                if (arg[o] == 255) continue;
                const int64_t ih = oh * d->stride_h - d->pad_h + arg[o] / kW * d->dilation_h;
                const int64_t iw = ow * d->stride_w - d->pad_w + arg[o] % kW * d->dilation_w;
                dx[(p * H + ih) * W + iw] += dy[o];
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

/* ---- the fast kernels' rows ----------------------------------------------------------------------
 * A row of the input is split by the stride into phase rows (phase r holds columns r, r+s, ...),
 * so that every column tap of a window reads consecutive elements: tap tw of output ow reads
 * column ow*s + tw*d - p = (ow + q)*s + r, element ow + q of phase r. The taps that reach the input,
 * with the outputs they reach, are worked out once per call (pool_cols), not once per row. Rows
 * up to POOL_ROW elements and windows up to POOL_TAPS columns wide take this path (the phase rows
 * and a row of quotients live on the stack); wider ones the plain fallback loops further down. */

/* One column tap: its index, the outputs [lo, hi) it reaches, and where it reads (phase r, +q). */
typedef struct {
    int64_t tw, lo, hi, r, q;
} R(pool_col);

typedef struct {
    int64_t n, s, ws; /* taps that reach the input; stride; length of a phase row, ceil(W / s) */
    int64_t jlo, jhi; /* the interior: outputs that every tap reaches */
    R(pool_col) tap[POOL_TAPS];
} R(pool_cols);

/* The column taps of d (ascending tw). 0 if they do not fit this path. */
static int R(pool_cols_make)(const cnn_pool2d_desc *d, int64_t OW, int64_t dil, R(pool_cols) *c)
{
    int64_t k0, k1;
    const int64_t W = d->in_w, s = d->stride_w;
    if (W > POOL_ROW || s > POOL_TAPS) return 0;
    tap_range(OW, W, s, dil, d->pad_w, d->kernel_w, &k0, &k1);
    if (k1 - k0 > POOL_TAPS) return 0;
    c->n = 0;
    c->s = s;
    c->ws = (W + s - 1) / s;
    for (int64_t tw = k0; tw < k1; tw++) {
        const int64_t off = tw * dil - d->pad_w;
        R(pool_col) *t = &c->tap[c->n];
        ow_range(OW, W, s, off, &t->lo, &t->hi);
        if (t->lo >= t->hi) continue;
        t->tw = tw;
        t->r = (off % s + s) % s;      /* off = q*s + r, 0 <= r < s */
        t->q = (off - t->r) / s;
        c->n++;
    }
    c->jlo = 0;
    c->jhi = c->n ? OW : 0;
    for (int64_t i = 0; i < c->n; i++) {
        c->jlo = c->tap[i].lo > c->jlo ? c->tap[i].lo : c->jlo;
        c->jhi = c->tap[i].hi < c->jhi ? c->tap[i].hi : c->jhi;
    }
    if (c->jhi < c->jlo) c->jhi = c->jlo;
    return 1;
}

/* ph[r*ws + i] = xr[i*s + r]: the phase rows of a row of W (ph = xr itself when s is 1). */
static const real *R(pool_phases)(const real *restrict xr, int64_t W, int64_t s, int64_t ws,
                                  real *restrict ph)
{
    if (s == 1) return xr;
    if (s == 2) {
        for (int64_t i = 0; i < W / 2; i++) {
            ph[i] = xr[2 * i];
            ph[ws + i] = xr[2 * i + 1];
        }
        if (W % 2) ph[W / 2] = xr[W - 1];
        return ph;
    }
    for (int64_t r = 0; r < s; r++)
        for (int64_t i = 0; r + i * s < W; i++) ph[r * ws + i] = xr[i * s + r];
    return ph;
}

/* The inverse: xr[i*s + r] = ph[r*ws + i]. */
static void R(pool_unphases)(const real *restrict ph, int64_t W, int64_t s, int64_t ws, real *restrict xr)
{
    if (s == 2) {
        for (int64_t i = 0; i < W / 2; i++) {
            xr[2 * i] = ph[i];
            xr[2 * i + 1] = ph[ws + i];
        }
        if (W % 2) xr[W - 1] = ph[W / 2];
        return;
    }
    for (int64_t r = 0; r < s; r++)
        for (int64_t i = 0; r + i * s < W; i++) xr[i * s + r] = ph[r * ws + i];
}

/* The phase rows a gather starts a dx row from: dx's own (accumulate) or zeros. */
static void R(pool_row_start)(const real *restrict dxr, int64_t W, const R(pool_cols) *cols,
                              int accumulate, real *restrict acc)
{
    if (!accumulate)
        for (int64_t i = 0; i < cols->s * cols->ws; i++) acc[i] = 0;
    else if (cols->s == 1)
        for (int64_t i = 0; i < W; i++) acc[i] = dxr[i];
    else
        R(pool_phases)(dxr, W, cols->s, cols->ws, acc);
}

/* ---- max pooling: fast kernels ----------------------------------------------------------------- */

/* Labels of window positions, one per output, as wide as `real` so that they share its vectors:
 * int32 with float32, int64 with float64. */
#if defined(__GNUC__) || defined(__clang__)
typedef __typeof__(_Generic((real)0, float: (int32_t)0, default: (int64_t)0)) R(plabel);
typedef real R(pvec) __attribute__((vector_size(CNN_VEC_BYTES)));
typedef R(plabel) R(pmask) __attribute__((vector_size(CNN_VEC_BYTES))); /* comparisons, labels */
enum { R(PV) = CNN_VEC_BYTES / (int)sizeof(real) };

/* Output-stationary blocks of V = PV outputs: the running maxima and their labels stay in
 * registers while every tap of the window passes (rows in order, then columns: the reference's
 * row-major scan), each taken where v > m or v is NaN, branch-free. A label still -1 at the end
 * saw only -inf and becomes `first` (the window's first position). */
static inline void R(max_block)(const real *const *rows, int64_t nrows, const R(pool_cols) *cols,
                                int64_t j, const R(plabel) *row_label, const R(plabel) *col_label,
                                R(plabel) first, real *y, R(plabel) *lab)
{
    R(pvec) m = (R(pvec)){0} - (real)INFINITY;
    R(pmask) l = (R(pmask)){0} - 1;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < cols->n; i++) {
            const R(pool_col) *t = &cols->tap[i];
            R(pvec) v;
            memcpy(&v, rows[r] + t->r * cols->ws + t->q + j, sizeof v);
            const R(pmask) u = (v > m) | (v != v), ls = (R(pmask)){0} + (row_label[r] + col_label[i]);
            m = (R(pvec))(((R(pmask))v & u) | ((R(pmask))m & ~u));
            l = (ls & u) | (l & ~u);
        }
    const R(pmask) none = l < 0;
    l = (((R(pmask)){0} + first) & none) | (l & ~none);
    memcpy(y, &m, sizeof m);
    memcpy(lab, &l, sizeof l);
}
#else
typedef int64_t R(plabel);
enum { R(PV) = 1 };
static inline void R(max_block)(const real *const *rows, int64_t nrows, const R(pool_cols) *cols,
                                int64_t j, const R(plabel) *row_label, const R(plabel) *col_label,
                                R(plabel) first, real *y, R(plabel) *lab)
{
    real m = -(real)INFINITY;
    R(plabel) l = first;
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < cols->n; i++) {
            const real v = rows[r][cols->tap[i].r * cols->ws + cols->tap[i].q + j];
            if (v > m || v != v) {
                m = v;
                l = row_label[r] + col_label[i];
            }
        }
    *y = m;
    *lab = l;
}
#endif

/* The phase rows of the window's input rows h0 + th*dilH, th in [a, b) (rows[th - a]), reusing
 * those of the previous output row: overlapping windows share rows. held[] names the input row
 * each slot holds; a slot is free when it holds no row of this window. */
static void R(max_rows)(const real *x, int64_t W, const R(pool_cols) *cols, int64_t h0, int64_t dilH,
                        int64_t a, int64_t b, real (*ph)[POOL_ROW + POOL_TAPS], int64_t *held,
                        const real **rows)
{
    if (cols->s == 1) {
        for (int64_t th = a; th < b; th++) rows[th - a] = x + (h0 + th * dilH) * W;
        return;
    }
    int keep[POOL_KROWS];
    for (int64_t k = 0; k < POOL_KROWS; k++) { /* held[k] - h0 is th*dilH for a row of this window */
        keep[k] = held[k] >= 0 && held[k] - h0 >= a * dilH && held[k] - h0 <= (b - 1) * dilH &&
                  (held[k] - h0) % dilH == 0;
    }
    for (int64_t th = a; th < b; th++) {
        const int64_t ih = h0 + th * dilH;
        int64_t slot = -1;
        for (int64_t k = 0; k < POOL_KROWS && slot < 0; k++)
            if (keep[k] && held[k] == ih) slot = k;
        for (int64_t k = 0; k < POOL_KROWS && slot < 0; k++)
            if (!keep[k]) {
                slot = k;
                keep[k] = 1;
                held[k] = ih;
                R(pool_phases)(x + ih * W, W, cols->s, cols->ws, ph[k]);
            }
        rows[th - a] = ph[slot];
    }
}

/* One plane of max pooling, one output row at a time: the window's rows split into phase rows,
 * then the interior of the row in blocks of PV outputs (max_block; the last block may overlap the
 * one before: recomputing an output changes nothing), the few outputs near the edges by the
 * reference's scan. Each window position gets a label: its tap number th*kW + tw when `arg` is
 * given (the compact argmax, < 255 by the caller's check), else its offset th*dilH*W + tw*dilW from
 * the window's first position (it fits: pool_offsets_fit_int32). A window with no input element
 * gets -1 / 255. */
static void R(maxpool_plane)(const cnn_pool2d_desc *d, const R(pool_cols) *cols, int64_t OH,
                             int64_t OW, const real *restrict x, real *restrict y,
                             int64_t *restrict idx, uint8_t *restrict arg)
{
    enum { V = R(PV) };
    const int64_t H = d->in_h, W = d->in_w, kW = d->kernel_w, sW = d->stride_w;
    const int64_t dilH = d->dilation_h, dilW = d->dilation_w, pW = d->pad_w;
    /* a one-tap axis has no offset to label (and its dilation, W may be anything) */
    const R(plabel) lh = d->kernel_h == 1 ? 0 : arg ? (R(plabel))kW : (R(plabel))(dilH * W);
    const R(plabel) lw = kW == 1 ? 0 : arg ? 1 : (R(plabel))dilW;
    real ph[POOL_KROWS][POOL_ROW + POOL_TAPS];
    int64_t held[POOL_KROWS];
    const real *rows[POOL_KROWS];
    R(plabel) row_label[POOL_KROWS], col_label[POOL_TAPS], lab[V];
    for (int64_t k = 0; k < POOL_KROWS; k++) held[k] = -1; /* no row */
    for (int64_t i = 0; i < cols->n; i++) col_label[i] = (R(plabel))cols->tap[i].tw * lw;
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t h0 = oh * d->stride_h - d->pad_h;
        int64_t a, b;
        pool_taps(h0, d->kernel_h, dilH, H, &a, &b);
        R(max_rows)(x, W, cols, h0, dilH, a, b, ph, held, rows);
        for (int64_t th = a; th < b; th++) row_label[th - a] = (R(plabel))th * lh;
        real *yr = y + oh * OW;
        int64_t *ir = idx ? idx + oh * OW : NULL;
        uint8_t *ar = arg ? arg + oh * OW : NULL;
        const int64_t base = h0 * W - pW;
        const R(plabel) first = a < b && cols->n ? row_label[0] + col_label[0] : -1;
        for (int64_t j0 = cols->jlo; a < b && cols->jhi - cols->jlo >= V && j0 < cols->jhi; j0 += V) {
            const int64_t j = j0 + V > cols->jhi ? cols->jhi - V : j0; /* the last block overlaps */
            R(max_block)(rows, b - a, cols, j, row_label, col_label, first, yr + j, lab);
            if (ar)
                for (int l = 0; l < V; l++) ar[j + l] = (uint8_t)lab[l];
            else
                for (int l = 0; l < V; l++) ir[j + l] = base + (j + l) * sW + lab[l];
        }
        for (int64_t ow = 0; ow < OW; ow++) { /* the edges, and rows without input, by the scan */
            if (ow == cols->jlo && a < b && cols->jhi - cols->jlo >= V) ow = cols->jhi;
            if (ow >= OW) break;
            int64_t c, e, bh = a, bw;
            pool_taps(ow * sW - pW, kW, dilW, W, &c, &e);
            bw = c;
            real m = -(real)INFINITY;
            for (int64_t th = a; th < b; th++)
                for (int64_t tw = c; tw < e; tw++) {
                    const real v = x[(h0 + th * dilH) * W + ow * sW - pW + tw * dilW];
                    if (v > m || v != v) {
                        m = v;
                        bh = th;
                        bw = tw;
                    }
                }
            const int none = a >= b || c >= e;
            yr[ow] = m;
            if (ar)
                ar[ow] = none ? 255 : (uint8_t)(bh * kW + bw);
            else
                ir[ow] = none ? -1 : (h0 + bh * dilH) * W + ow * sW - pW + bw * dilW;
        }
    }
}

/* dx (H, W) (+)= max pooling's gradient from the compact argmax, as a gather: each dx row is
 * formed once (in its phase rows), from the output rows whose windows cover it (ascending) and,
 * within one, from the taps in descending order (ascending outputs for each element), so every
 * element receives its terms in the order of the outputs, as index_scatter adds them. With
 * accumulate 0 dx is overwritten: no zero fill is needed. */
static void R(maxpool_backward_arg_plane)(const cnn_pool2d_desc *d, const R(pool_cols) *cols,
                                          int64_t OH, int64_t OW, const real *restrict dy,
                                          const uint8_t *restrict arg, real *restrict dx,
                                          int accumulate)
{
    const int64_t H = d->in_h, W = d->in_w, kH = d->kernel_h, kW = d->kernel_w;
    const int64_t sH = d->stride_h, dilH = d->dilation_h, ws = cols->ws;
    real acc[POOL_ROW + POOL_TAPS];
    for (int64_t ih = 0; ih < H; ih++) {
        real *restrict dxr = dx + ih * W;
        R(pool_row_start)(dxr, W, cols, accumulate, acc);
        int64_t o0, o1;
        pool_covering(ih, sH, d->pad_h, (kH - 1) * dilH + 1, OH, &o0, &o1);
        for (int64_t oh = o0; oh < o1; oh++) { /* ascending output rows */
            const int64_t dist = ih + d->pad_h - oh * sH; /* th * dilH */
            if (dist % dilH) continue;
            const int64_t th = dist / dilH;
            const uint8_t *restrict ar = arg + oh * OW;
            const real *restrict gr = dy + oh * OW;
            for (int64_t i = cols->n - 1; i >= 0; i--) {
                const R(pool_col) *t = &cols->tap[i];
                const uint8_t tap = (uint8_t)(th * kW + t->tw);
                real *restrict as = acc + t->r * ws + t->q;
                for (int64_t ow = t->lo; ow < t->hi; ow++) as[ow] = ar[ow] == tap ? as[ow] + gr[ow] : as[ow];
            }
        }
        if (cols->s == 1)
            for (int64_t iw = 0; iw < W; iw++) dxr[iw] = acc[iw];
        else
            R(pool_unphases)(acc, W, cols->s, ws, dxr);
    }
}

/* ---- average pooling: fast kernels ----------------------------------------------------------------- */

/* The divisor factors of the columns: (real) padded length and clipped length of each output's
 * window; POOL_ROW + 1 outputs at most (a row of POOL_ROW has no more). */
typedef struct {
    real pad[POOL_ROW + 1], len[POOL_ROW + 1];
} R(pool_wf);

static void R(pool_wf_make)(const cnn_pool2d_desc *d, int64_t OW, R(pool_wf) *f)
{
    for (int64_t ow = 0; ow < OW; ow++) {
        int64_t w0, w1;
        f->pad[ow] = (real)avg_span(ow, d->stride_w, d->pad_w, d->kernel_w, d->in_w, &w0, &w1);
        f->len[ow] = (real)(w1 - w0);
    }
}

/* The gradients of output row oh over their divisors (the reference's dy / avg_divisor). */
static void R(avg_grads)(const cnn_pool2d_desc *d, const R(pool_wf) *f, int64_t oh, int64_t OW,
                         const real *restrict dyr, real *restrict g)
{
    int64_t h0, h1;
    const real hpad = (real)avg_span(oh, d->stride_h, d->pad_h, d->kernel_h, d->in_h, &h0, &h1);
    const real hlen = (real)(h1 - h0);
    if (d->divisor_override > 0)
        for (int64_t ow = 0; ow < OW; ow++) g[ow] = dyr[ow] / (real)d->divisor_override;
    else if (d->count_include_pad)
        for (int64_t ow = 0; ow < OW; ow++) g[ow] = dyr[ow] / (hpad * f->pad[ow]);
    else
        for (int64_t ow = 0; ow < OW; ow++) g[ow] = dyr[ow] / (hlen * f->len[ow]);
}

/* One plane: window sums one output row at a time (each tap streams along the row, in row-major
 * tap order, so each output sums as the reference does), then the divisors. */
static void R(avgpool_plane)(const cnn_pool2d_desc *d, const R(pool_cols) *cols, const R(pool_wf) *f,
                             int64_t OH, int64_t OW, const real *restrict x, real *restrict y)
{
    const int64_t H = d->in_h, W = d->in_w, ws = cols->ws;
    real ph[POOL_ROW + POOL_TAPS];
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        const real hpad = (real)avg_span(oh, d->stride_h, d->pad_h, d->kernel_h, H, &h0, &h1);
        const real hlen = (real)(h1 - h0);
        real *restrict yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ow++) yr[ow] = 0;
        for (int64_t ih = h0; ih < h1; ih++) {
            const real *rows = R(pool_phases)(x + ih * W, W, cols->s, ws, ph);
            for (int64_t i = 0; i < cols->n; i++) {
                const R(pool_col) *t = &cols->tap[i];
                const real *restrict src = rows + t->r * ws + t->q;
                for (int64_t ow = t->lo; ow < t->hi; ow++) yr[ow] += src[ow];
            }
        }
        if (d->divisor_override > 0)
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = yr[ow] / (real)d->divisor_override;
        else if (d->count_include_pad)
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = yr[ow] / (hpad * f->pad[ow]);
        else
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = yr[ow] / (hlen * f->len[ow]);
        if (h0 >= h1)
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = 0;
        for (int64_t ow = 0; ow < OW; ow++) /* a window with no column (none with pad <= k/2) */
            if (f->len[ow] == 0) yr[ow] = 0;
    }
}

/* dx (H, W) (+)= average pooling's gradient as a gather: each dx row is formed once (in its phase
 * rows), from the output rows whose windows cover it (ascending) and, within one, the taps in
 * descending order (ascending outputs for each element): the reference's order of terms. With
 * accumulate 0 dx is overwritten. */
static void R(avgpool_backward_plane)(const cnn_pool2d_desc *d, const R(pool_cols) *cols,
                                      const R(pool_wf) *f, int64_t OH, int64_t OW,
                                      const real *restrict dy, real *restrict dx, int accumulate)
{
    const int64_t H = d->in_h, W = d->in_w, ws = cols->ws;
    real acc[POOL_ROW + POOL_TAPS], g[POOL_ROW + 1];
    for (int64_t ih = 0; ih < H; ih++) {
        real *restrict dxr = dx + ih * W;
        R(pool_row_start)(dxr, W, cols, accumulate, acc);
        int64_t o0, o1;
        pool_covering(ih, d->stride_h, d->pad_h, d->kernel_h, OH, &o0, &o1);
        for (int64_t oh = o0; oh < o1; oh++) { /* ascending output rows */
            R(avg_grads)(d, f, oh, OW, dy + oh * OW, g);
            for (int64_t i = cols->n - 1; i >= 0; i--) {
                const R(pool_col) *t = &cols->tap[i];
                real *restrict as = acc + t->r * ws + t->q;
                for (int64_t ow = t->lo; ow < t->hi; ow++) as[ow] += g[ow];
            }
        }
        if (cols->s == 1)
            for (int64_t iw = 0; iw < W; iw++) dxr[iw] = acc[iw];
        else
            R(pool_unphases)(acc, W, cols->s, ws, dxr);
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

/* dx[p] = 0, then dx[p][idx] += dy[p][i] (index_scatter into zeros, bitwise), one plane at a time:
 * the plane's zeros are written in cache just before its scatter, not in a pass of their own
 * through memory, and the indices are checked as the scatter reads them: *bad is set if one lies
 * outside [-1, in_len) (skipped; the caller then discards dx). */
static void R(index_scatter_fresh)(int64_t planes, int64_t out_len, int64_t in_len,
                                   const real *restrict dy, const int64_t *restrict idx,
                                   real *restrict dx, cnn_atomic_int *bad)
{
    int out = 0;
    for (int64_t p = 0; p < planes; p++) {
        const int64_t *ip = idx + p * out_len;
        const real *g = dy + p * out_len;
        real *dxp = dx + p * in_len;
        memset(dxp, 0, (size_t)in_len * sizeof(real));
        for (int64_t i = 0; i < out_len; i++) {
            const int64_t j = ip[i];
            if ((uint64_t)j < (uint64_t)in_len)
                dxp[j] += g[i];
            else
                out |= j != -1;
        }
    }
    if (out) cnn_atomic_store(bad, 1);
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
enum { POOL_MAX_FWD, POOL_MAX_FWD_ARG, POOL_MAX_BWD_ARG, POOL_SCATTER, POOL_SCATTER_FRESH, POOL_AVG_FWD,
       POOL_AVG_BWD };
#endif

typedef struct {
    int op, accumulate, fast;        /* fast: cols (and wf) hold the fast kernels' column plan */
    const cnn_pool2d_desc *d;
    int64_t OH, OW, in_len, out_len; /* out_len: OH*OW */
    const real *src;                 /* x, or dy for the backward */
    real *dst;                       /* y, or dx */
    int64_t *idx;
    uint8_t *arg;
    R(pool_cols) cols;
    const R(pool_wf) *wf;
    cnn_atomic_int *bad;             /* POOL_SCATTER_FRESH: set where an index is out of range */
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
    if (t->op == POOL_SCATTER_FRESH) {
        R(index_scatter_fresh)(end - begin, t->out_len, t->in_len, t->src + begin * t->out_len,
                               t->idx + begin * t->out_len, t->dst + begin * t->in_len, t->bad);
        return;
    }
    cnn_pool2d_desc d = *t->d;
    d.planes = end - begin; /* the reference kernels take a range of planes */
    const int64_t in = begin * t->in_len, out = begin * t->out_len;
    if (!t->fast) {
        switch (t->op) {
        case POOL_MAX_FWD: R(maxpool_forward_ref_any)(&d, t->OH, t->OW, t->src + in, t->dst + out, t->idx + out, NULL); break;
        case POOL_MAX_FWD_ARG: R(maxpool_forward_ref_any)(&d, t->OH, t->OW, t->src + in, t->dst + out, NULL, t->arg + out); break;
        case POOL_MAX_BWD_ARG:
            R(maxpool_backward_arg_ref)(&d, t->OH, t->OW, t->src + out, t->arg + out, t->dst + in, t->accumulate);
            break;
        case POOL_AVG_FWD: R(avgpool_forward_ref)(&d, t->OH, t->OW, t->src + in, t->dst + out); break;
        case POOL_AVG_BWD:
            if (!t->accumulate)
                for (int64_t i = 0; i < d.planes * t->in_len; i++) t->dst[in + i] = 0;
            R(avgpool_backward_ref)(&d, t->OH, t->OW, t->src + out, t->dst + in);
            break;
        }
        return;
    }
    for (int64_t p = 0; p < end - begin; p++) {
        const int64_t i = in + p * t->in_len, o = out + p * t->out_len;
        switch (t->op) {
        case POOL_MAX_FWD: R(maxpool_plane)(t->d, &t->cols, t->OH, t->OW, t->src + i, t->dst + o, t->idx + o, NULL); break;
        case POOL_MAX_FWD_ARG: R(maxpool_plane)(t->d, &t->cols, t->OH, t->OW, t->src + i, t->dst + o, NULL, t->arg + o); break;
        case POOL_MAX_BWD_ARG:
            R(maxpool_backward_arg_plane)(t->d, &t->cols, t->OH, t->OW, t->src + o, t->arg + o, t->dst + i, t->accumulate);
            break;
        case POOL_AVG_FWD: R(avgpool_plane)(t->d, &t->cols, t->wf, t->OH, t->OW, t->src + i, t->dst + o); break;
        case POOL_AVG_BWD: R(avgpool_backward_plane)(t->d, &t->cols, t->wf, t->OH, t->OW, t->src + o, t->dst + i, t->accumulate); break;
        }
    }
}

/* Runs op over the planes of d, the fast kernels where their column plan fits. */
static void R(pool_run)(int op, const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *src,
                        real *dst, int64_t *idx, uint8_t *arg, int accumulate)
{
    R(pool_task) t;
    R(pool_wf) wf;
    t.op = op;
    t.accumulate = accumulate;
    t.d = d;
    t.OH = OH;
    t.OW = OW;
    t.in_len = d->in_h * d->in_w;
    t.out_len = OH * OW;
    t.src = src;
    t.dst = dst;
    t.idx = idx;
    t.arg = arg;
    t.wf = &wf;
    const int avg = op == POOL_AVG_FWD || op == POOL_AVG_BWD;
    t.fast = R(pool_cols_make)(d, OW, avg ? 1 : d->dilation_w, &t.cols) &&
             (avg || (pool_offsets_fit_int32(d) && d->kernel_h <= POOL_KROWS));
    if (t.fast && avg) R(pool_wf_make)(d, OW, &wf);
    cnn_parallel_for(d->planes, R(plane_grain)(t.in_len), 1 << 30, R(pool_task_run), &t);
}

/* ---- entry points for pool.c (through the kernel table) ------------------------------------------- */

/* y, idx (planes, OH, OW) = max pooling of x (planes, H, W); idx as the reference's. */
static void R(maxpool_forward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                                  real *y, int64_t *idx)
{
    R(pool_run)(POOL_MAX_FWD, d, OH, OW, x, y, idx, NULL, 0);
}

/* y (planes, OH, OW) = max pooling of x; arg = the tap number th*kW + tw of each maximum in its
 * window, 255 for a window that holds no input element. Requires kernel_h*kernel_w <= 255. */
static void R(maxpool_forward_arg_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                      const real *x, real *y, uint8_t *arg)
{
    R(pool_run)(POOL_MAX_FWD_ARG, d, OH, OW, x, y, NULL, arg, 0);
}

/* dx (planes, H, W) = (accumulate ? dx : 0) + max pooling's gradient given dy and arg
 * (planes, OH, OW) from maxpool_forward_arg; every dx element is written once. */
static void R(maxpool_backward_arg_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                       const real *dy, const uint8_t *arg, real *dx, int accumulate)
{
    R(pool_run)(POOL_MAX_BWD_ARG, d, OH, OW, dy, dx, NULL, (uint8_t *)arg, accumulate);
}

/* Runs a scatter op (POOL_SCATTER, POOL_SCATTER_FRESH) over the planes; 0 if an index was out
 * of range (POOL_SCATTER_FRESH checks them). */
static int R(scatter_run)(int op, int64_t planes, int64_t out_len, int64_t in_len, const real *dy,
                          const int64_t *idx, real *dx)
{
    R(pool_task) t;
    cnn_atomic_int bad;
    cnn_atomic_store(&bad, 0);
    t.op = op;
    t.in_len = in_len;
    t.out_len = out_len;
    t.src = dy;
    t.dst = dx;
    t.idx = (int64_t *)idx;
    t.bad = &bad;
    cnn_parallel_for(planes, R(plane_grain)(in_len), 1 << 30, R(pool_task_run), &t);
    return !cnn_atomic_load_relaxed(&bad);
}

static void R(index_scatter_mt)(int64_t planes, int64_t out_len, int64_t in_len, const real *dy,
                                const int64_t *idx, real *dx)
{
    (void)R(scatter_run)(POOL_SCATTER, planes, out_len, in_len, dy, idx, dx);
}

/* dx = index_scatter's result into zeros, the planes' zeros written in cache just before their
 * scatter; 0 (dx incomplete) if an index lies outside [-1, in_len). */
static int R(index_scatter_fresh_mt)(int64_t planes, int64_t out_len, int64_t in_len,
                                     const real *dy, const int64_t *idx, real *dx)
{
    return R(scatter_run)(POOL_SCATTER_FRESH, planes, out_len, in_len, dy, idx, dx);
}

static void R(avgpool_forward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW, const real *x,
                                  real *y)
{
    R(pool_run)(POOL_AVG_FWD, d, OH, OW, x, y, NULL, NULL, 0);
}

/* dx = (accumulate ? dx : 0) + average pooling's gradient; every dx element is written once. */
static void R(avgpool_backward_mt)(const cnn_pool2d_desc *d, int64_t OH, int64_t OW,
                                   const real *dy, real *dx, int accumulate)
{
    R(pool_run)(POOL_AVG_BWD, d, OH, OW, dy, dx, NULL, NULL, accumulate);
}
