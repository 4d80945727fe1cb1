/* direct_simd.h — float32 direct convolution in vector intrinsics for one instruction set, for
 * the small channel counts of the lecture's networks: register tiles of up to DS_CB output
 * channels x two vectors of output columns (one at a row's end), each input vector load feeding
 * every channel of the tile through a broadcast-FMA. Stride 1 along the width (any stride down
 * the height, any dilation, groups). The including file (csrc/isa_avx2.c, isa_avx512.c) defines
 * the vector layer:
 *   ds_vec, DS_VW (floats per vector), DS_CB (channels per tile), ds_zero(), ds_set1(f),
 *   ds_load(p), ds_fma(a, b, c) = a*b + c, ds_add(a, b), ds_store(p, v), ds_hsum(v),
 *   ds_load_part(p, n), ds_store_part(p, v, n) (the first n lanes; the rest read as 0),
 * and the hook macros that make generic/conv.h call these kernels. */

/* Padded rows r0 .. r0+Hp-1 of x (C, H, W) shifted by (pT, pL), zero elsewhere, in rows of
 * Wp >= the columns any vector load reads. pT, pL may be negative (crops). */
static void ds_pad_planes(const float *restrict x, int64_t C, int64_t H, int64_t W, int64_t pT,
                          int64_t pL, int64_t r0, int64_t Hp, int64_t Wp, float *restrict xp)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < Hp; r++) { /* padded rows r0 .. r0 + Hp - 1 */
            float *row = xp + (c * Hp + r) * Wp;
            const int64_t ih = r0 + r - pT;
            if (ih < 0 || ih >= H) {
                memset(row, 0, (size_t)Wp * sizeof(float));
                continue;
            }
            const float *src = x + (c * H + ih) * W;
            const int64_t a = pL > 0 ? (pL < Wp ? pL : Wp) : 0;
            const int64_t b = W + pL < Wp ? (W + pL > a ? W + pL : a) : Wp;
            memset(row, 0, (size_t)a * sizeof(float));
            if (b > a) memcpy(row + a, src + (a - pL), (size_t)(b - a) * sizeof(float));
            memset(row + b, 0, (size_t)(Wp - b) * sizeof(float));
        }
}

/* Padded rows and columns for output tiles of DS_VW columns: every load of the last tile stays
 * inside the row. */
static void ds_padded_dims(const conv_geom *g, int64_t *Hp, int64_t *Wp)
{
    const int64_t ow = (g->OW + DS_VW - 1) / DS_VW * DS_VW;
    *Hp = (g->OH - 1) * g->sH + (g->kH - 1) * g->dilH + 1;
    *Wp = ow + (g->kW - 1) * g->dilW;
}

/* One tile: y[c][0:vw] (c < cb, row stride ys) (+)= bias[c] + sum over ci, kh, kw of
 * w[c][ci][kh][kw] * xp[ci][kh*dilH][j + kw*dilW]; xp points at the tile's first input row/column.
 * nv vectors of columns (1, or 2 when vw == 2*DS_VW): cb*nv independent accumulator chains, so
 * that the FMA latency is hidden even for 3-4 channels, and each weight broadcast feeds nv FMAs.
 * Every output's sum runs in the same order (bias, then ci, kh, kw) whatever cb and nv are.
 * Inlined with constant cb and nv so the accumulators live in registers. */
CNN_FORCE_INLINE void
ds_tile(const float *restrict xp, int64_t Cg, int64_t kH, int64_t kW, int64_t dilH, int64_t dilW,
        int64_t Hp, int64_t Wp, const float *restrict w, int64_t wstride, const int cb,
        const int nv, const float *bias, float *restrict y, int64_t ys, int64_t vw, int accumulate)
{
    ds_vec acc[DS_CB][2];
    for (int c = 0; c < cb; c++)
        for (int v = 0; v < nv; v++) acc[c][v] = bias ? ds_set1(bias[c]) : ds_zero();
    for (int64_t ci = 0; ci < Cg; ci++)
        for (int64_t kh = 0; kh < kH; kh++) {
            const float *xr = xp + (ci * Hp + kh * dilH) * Wp;
            const float *wr = w + (ci * kH + kh) * kW;
            for (int64_t kw = 0; kw < kW; kw++) {
                ds_vec xv[2];
                for (int v = 0; v < nv; v++) xv[v] = ds_load(xr + kw * dilW + v * DS_VW);
                for (int c = 0; c < cb; c++) {
                    const ds_vec wv = ds_set1(wr[c * wstride + kw]);
                    for (int v = 0; v < nv; v++) acc[c][v] = ds_fma(xv[v], wv, acc[c][v]);
                }
            }
        }
    for (int c = 0; c < cb; c++)
        for (int v = 0; v < nv; v++) {
            float *p = y + c * ys + v * DS_VW;
            if (nv == 2 || vw == DS_VW)
                ds_store(p, accumulate ? ds_add(ds_load(p), acc[c][v]) : acc[c][v]);
            else
                ds_store_part(p, accumulate ? ds_add(ds_load_part(p, vw), acc[c][v]) : acc[c][v], vw);
        }
}

/* The tile for a run-time cb (1 .. DS_CB) and vw: two vectors when vw == 2*DS_VW, else one. */
static void ds_tile_any(const float *xp, int64_t Cg, const conv_geom *g, int64_t Hp, int64_t Wp,
                        const float *w, int64_t cb, const float *bias, float *y, int64_t ys,
                        int64_t vw, int accumulate)
{
    const int64_t kH = g->kH, kW = g->kW, dilH = g->dilH, dilW = g->dilW, ws = Cg * kH * kW;
    const int nv2 = vw == 2 * DS_VW;
    switch (cb) {
#define DS_CASE(n)                                                                                \
    case n:                                                                                       \
        if (nv2)                                                                                  \
            ds_tile(xp, Cg, kH, kW, dilH, dilW, Hp, Wp, w, ws, n, 2, bias, y, ys, vw, accumulate);\
        else                                                                                      \
            ds_tile(xp, Cg, kH, kW, dilH, dilW, Hp, Wp, w, ws, n, 1, bias, y, ys, vw, accumulate);\
        return;
#if DS_CB >= 8
        DS_CASE(8) DS_CASE(7)
#endif
        DS_CASE(6) DS_CASE(5) DS_CASE(4) DS_CASE(3) DS_CASE(2) DS_CASE(1)
#undef DS_CASE
    }
}

/* Output rows per item of the forward kernel: whole images when the batch alone keeps every
 * thread busy, else enough row blocks for about two items per thread. */
static int64_t ds_rows_per_item(const conv_geom *g)
{
    const int64_t images = g->N * g->groups, want = 2 * (int64_t)g->threads;
    if (images >= want || g->OH <= 1) return g->OH;
    const int64_t blocks = (want + images - 1) / images;
    return (g->OH + blocks - 1) / blocks;
}

/* Scratch (floats) of one forward part: its rows of one padded (image, group). */
static int64_t ds_forward_slot(const conv_geom *g)
{
    int64_t Hp, Wp;
    ds_padded_dims(g, &Hp, &Wp);
    const int64_t rows = (ds_rows_per_item(g) - 1) * g->sH + (g->kH - 1) * g->dilH + 1;
    return (g->C_in / g->groups) * rows * Wp;
}

typedef struct {
    const conv_geom *g;
    const float *x, *w, *b;
    float *y, *scratch;
    int accumulate;
} ds_task;

/* Items: (image, group, block of output rows); each part pads the input rows its block reads. */
static void ds_forward_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const ds_task *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, P = g->OH * g->OW;
    const int64_t rows = ds_rows_per_item(g), blocks = (g->OH + rows - 1) / rows;
    const int64_t nblk = (Mg + DS_CB - 1) / DS_CB, step = nblk ? (Mg + nblk - 1) / nblk : 1;
    int64_t Hp, Wp;
    ds_padded_dims(g, &Hp, &Wp);
    float *xp = t->scratch + part * ds_forward_slot(g);
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / (g->groups * blocks), gr = item / blocks % g->groups;
        const int64_t oh0 = item % blocks * rows, oh1 = oh0 + rows < g->OH ? oh0 + rows : g->OH;
        const int64_t r0 = oh0 * g->sH, nrows = (oh1 - 1 - oh0) * g->sH + (g->kH - 1) * g->dilH + 1;
        ds_pad_planes(t->x + (n * g->C_in + gr * Cg) * g->H * g->W, Cg, g->H, g->W, g->pT, g->pL,
                      r0, nrows, Wp, xp);
        for (int64_t m0 = 0; m0 < Mg; m0 += step) { /* even channel blocks: 6 run as 3 + 3 */
            const int64_t co = gr * Mg + m0, cb = Mg - m0 < step ? Mg - m0 : step;
            const float *wc = t->w + co * Cg * g->kH * g->kW, *bc = t->b ? t->b + co : NULL;
            for (int64_t oh = oh0; oh < oh1; oh++)
                for (int64_t ow = 0; ow < g->OW;) { /* tiles of 2 vectors, then of 1 */
                    const int64_t left = g->OW - ow;
                    const int64_t vw = left >= 2 * DS_VW ? 2 * DS_VW : left < DS_VW ? left : DS_VW;
                    ds_tile_any(xp + (oh - oh0) * g->sH * Wp + ow, Cg, g, nrows, Wp, wc, cb, bc,
                                t->y + (n * g->C_out + co) * P + oh * g->OW + ow, P, vw,
                                t->accumulate);
                    ow += vw;
                }
        }
    }
}

/* y (+)= conv(x, w) + b for sW == 1. Returns 0 (nothing done) when the geometry is not one it
 * handles. scratch: g->threads slices of ds_forward_slot(g). */
static int ds_conv_forward(const conv_geom *g, const float *x, const float *w, const float *b,
                           float *y, int accumulate, float *scratch)
{
    if (g->sW != 1) return 0;
    const int64_t rows = ds_rows_per_item(g), blocks = (g->OH + rows - 1) / rows;
    ds_task t = {g, x, w, b, y, scratch, accumulate};
    const double work = (double)rows * g->OW * (g->C_out / g->groups) * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(g->N * g->groups * blocks, cnn_work_grain(work), g->threads, ds_forward_task, &t);
    return 1;
}

/* dx += conv^T(dy, w) for a stride-1 convolution: a stride-1 convolution of dy with the kernel
 * flipped and its channel axes swapped, padded by dilation*(k-1) - pad (negative: cropped). */
static int ds_conv_backward_data(const conv_geom *g, const float *dy, const float *w, float *dx,
                                 float *scratch)
{
    if (g->sH != 1 || g->sW != 1) return 0;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, kk = g->kH * g->kW;
    float *wt = scratch;
    for (int64_t gr = 0; gr < g->groups; gr++)
        for (int64_t m = 0; m < Mg; m++)
            for (int64_t ci = 0; ci < Cg; ci++)
                for (int64_t k = 0; k < kk; k++)
                    wt[((gr * Cg + ci) * Mg + m) * kk + kk - 1 - k] = w[((gr * Mg + m) * Cg + ci) * kk + k];
    conv_geom t = *g;
    t.C_in = g->C_out;
    t.C_out = g->C_in;
    t.H = g->OH;
    t.W = g->OW;
    t.OH = g->H;
    t.OW = g->W;
    t.pT = g->dilH * (g->kH - 1) - g->pT;
    t.pL = g->dilW * (g->kW - 1) - g->pL;
    return ds_conv_forward(&t, dy, wt, NULL, dx, 1, scratch + g->C_in * Mg * kk);
}

/* dw[co][ci][kh][kw] += sum over n, oh, ow of dy[n][co][oh][ow] * xp[ci][oh*sH + kh*dilH][ow + kw*dilW]
 * for cb output channels co0.. at once: each x vector serves the cb channels' dy vectors, each dy
 * vector the kW taps. Every (co, kw) sum runs over the rows and vectors in the same order whatever
 * cb is, and its lanes are summed in a fixed order. */
CNN_FORCE_INLINE void
ds_weight_block(const float *restrict dyc, int64_t P, const float *restrict xc, const conv_geom *g,
                int64_t Wp, int64_t kh, const int kW, const int cb, float *restrict dw0,
                int64_t dw_stride)
{
    ds_vec acc[4][8];
    for (int c = 0; c < cb; c++)
        for (int kw = 0; kw < kW; kw++) acc[c][kw] = ds_zero();
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const float *dyr = dyc + oh * g->OW;
        const float *xr = xc + (oh * g->sH + kh * g->dilH) * Wp;
        for (int64_t ow = 0; ow < g->OW; ow += DS_VW) {
            const int64_t vw = g->OW - ow < DS_VW ? g->OW - ow : DS_VW;
            ds_vec d[4];
            for (int c = 0; c < cb; c++)
                d[c] = vw == DS_VW ? ds_load(dyr + c * P + ow) : ds_load_part(dyr + c * P + ow, vw);
            for (int kw = 0; kw < kW; kw++) {
                const ds_vec xv = ds_load(xr + ow + kw * g->dilW);
                for (int c = 0; c < cb; c++) acc[c][kw] = ds_fma(d[c], xv, acc[c][kw]);
            }
        }
    }
    for (int c = 0; c < cb; c++)
        for (int kw = 0; kw < kW; kw++) dw0[c * dw_stride + kw] += ds_hsum(acc[c][kw]);
}

/* Channels per block for kW taps: cb*kW accumulators, cb dy vectors and one x vector fit the
 * registers (32 with AVX-512, 16 with AVX2). */
#define DS_WACC (DS_CB >= 8 ? 24 : 10)
#define DS_WCB(k) (DS_WACC / (k) > 4 ? 4 : DS_WACC / (k) < 1 ? 1 : DS_WACC / (k))

typedef struct {
    const conv_geom *g;
    const float *dy, *x;
    float *dw, *scratch;
} ds_weight_task_args;

/* Items: output channels; each part pads the (image, group) planes its channels need. */
static void ds_weight_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const ds_weight_task_args *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, P = g->OH * g->OW;
    int64_t Hp, Wp;
    ds_padded_dims(g, &Hp, &Wp);
    float *xp = t->scratch + part * Cg * Hp * Wp;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t co0 = begin; co0 < end;) {
            const int64_t gr = co0 / Mg, gend = (gr + 1) * Mg < end ? (gr + 1) * Mg : end;
            ds_pad_planes(t->x + (n * g->C_in + gr * Cg) * g->H * g->W, Cg, g->H, g->W, g->pT,
                          g->pL, 0, Hp, Wp, xp);
            const int64_t full = DS_WCB(g->kW), stride = Cg * g->kH * g->kW;
            for (int64_t co = co0; co < gend;) {
                const int64_t cb = gend - co >= full ? full : 1;
                const float *dyc = t->dy + (n * g->C_out + co) * P;
                for (int64_t ci = 0; ci < Cg; ci++)
                    for (int64_t kh = 0; kh < g->kH; kh++) {
                        float *dwr = t->dw + ((co * Cg + ci) * g->kH + kh) * g->kW;
                        const float *xc = xp + ci * Hp * Wp;
                        switch (g->kW) {
#define DS_CASE(k)                                                                                \
    case k:                                                                                       \
        if (cb == DS_WCB(k))                                                                      \
            ds_weight_block(dyc, P, xc, g, Wp, kh, k, DS_WCB(k), dwr, stride);                  \
        else                                                                                      \
            ds_weight_block(dyc, P, xc, g, Wp, kh, k, 1, dwr, stride);                          \
        break;
                            DS_CASE(1) DS_CASE(2) DS_CASE(3) DS_CASE(4) DS_CASE(5) DS_CASE(6)
                            DS_CASE(7) DS_CASE(8)
#undef DS_CASE
                        }
                    }
                co += cb;
            }
            co0 = gend;
        }
}

static int ds_conv_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                                   float *scratch)
{
    if (g->sW != 1 || g->kW > 8) return 0;
    ds_weight_task_args t = {g, dy, x, dw, scratch};
    const double work = (double)g->N * g->OH * g->OW * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(g->C_out, cnn_work_grain(work), g->threads, ds_weight_task, &t);
    return 1;
}

/* Scratch (floats) per thread the kernels above need, at most; 0 when they do not apply. The
 * input gradient's flipped kernel (shared) fits in the slices of the threads beyond the first. */
static int64_t ds_scratch_len(const conv_geom *g)
{
    if (g->sW != 1) return 0;
    int64_t Hp, Wp, back = 0;
    ds_padded_dims(g, &Hp, &Wp);
    const int64_t weight = (g->C_in / g->groups) * Hp * Wp, fwd = ds_forward_slot(g);
    if (g->sH == 1) {
        conv_geom t = *g;
        t.C_in = g->C_out;
        t.C_out = g->C_in;
        t.H = g->OH;
        t.W = g->OW;
        t.OH = g->H;
        t.OW = g->W;
        back = g->C_in * (g->C_out / g->groups) * g->kH * g->kW + ds_forward_slot(&t);
    }
    const int64_t m = fwd > back ? fwd : back;
    return m > weight ? m : weight;
}
