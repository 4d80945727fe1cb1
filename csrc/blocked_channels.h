/* blocked_channels.h — the blocked convolution's tiles vectorised over output channels instead of
 * output pixels, for layers whose rows waste more vector lanes than their channel count does (the
 * MNIST net's 11-wide 20-channel layer: rows of 11 fill 11 of 16 lanes, 20 channels 20 of 24).
 * Included by blocked_simd.h after its planes (bk_plan, bk_fill, bk_row_taps); same instruction
 * set, same vector layer (ds_vec ...).
 *
 * Forward: y[m][p] = bias[m] + sum over (ci, t) of w[m][ci][t] * xq[ci*CS + off[t] + q(p)],
 * q(p) = oh*Wq + ow: a tile of tn consecutive outputs (across rows) x mv vectors of channels;
 * per (ci, t) mv vector loads of the weights (packed [ci][t][channels rounded up to vectors]) and
 * tn broadcast inputs feed tn*mv fused multiply-adds; the tile is stored transposed to y rows.
 * Weight gradient: dw[m][j] += sum over images n, then over real outputs p = (oh, ow) in row
 * order, of dy[n][m][p] * xq_n[offs[j] + oh*Wq + ow] (j = ci*T + t, offs as in
 * bk_backward_weight): a tile holds mv vectors of output channels x tj taps in registers; per
 * output, mv vector loads of dyT (dy transposed to [p][m], channels padded with zeros to whole
 * vectors) and tj broadcast inputs feed mv*tj fused multiply-adds. Each image's sums start from
 * zero and are then added, image by image, to running totals that start from dw: the same order
 * whatever the thread count, and the same as one call per image. */

/* Tiles: mv channel vectors x BC_TN(mv) taps (weight gradient) or output pixels (forward),
 * mv*tn + mv + 1 registers at most (16 AVX2, 32 AVX-512). */
#define BC_MV 3
#if DS_VW >= 16
#define BC_TN(mv) ((mv) == 3 ? 8 : (mv) == 2 ? 10 : 16)
#define BC_TNMAX 16
#else
#define BC_TN(mv) ((mv) == 3 ? 4 : (mv) == 2 ? 6 : 8)
#define BC_TNMAX 8
#endif
#define BC_TILE (BC_TNMAX * BC_MV * DS_VW) /* floats of one tile's running totals */

/* ---- forward ---------------------------------------------------------------------------------- */

/* Whether the forward (and the stride-1 input gradient, the forward of its transposed problem)
 * runs channel tiles. Per output row and (input channel, tap), in the time of one fused
 * multiply-add (bk_by_rows' model: a tile of fewer than BK_ACC_MIN accumulators is bound by the
 * FMA latency): the pixel tiles take their blocks' row tiles (or the cheaper run along q), the
 * channel tiles OW outputs times the channel vectors, plus the transposed stores of the tile
 * (about one vector of stores per (ci, tap) of an output's channels, bought back over Cg*T).
 * Channel tiles where they take under BC_FWD_MARGIN of the pixel tiles' time: measured (Zen 3,
 * AVX2, one thread) on the MNIST net's (32,10->20,13x13) 5x5 forward (11-wide rows: 34 against
 * 48) 0.86 of the pixel tiles' time (556 against 644 us); its input gradient (10 channels in
 * 2 vectors on 13-wide rows), modelled at 1.1, measured 1.3 (895 against 689 us): the model
 * flatters tiles of fewer channel vectors, hence the margin. The wide layers (64 to 256
 * channels, 14- to 56-wide rows) model within 0.85-0.95 of their pixel tiles and keep them.
 * Results hardly depend on it: each output sums the same products in the same order; only the
 * padding's zero products that a tile keeps differ (row tiles skip the kernel rows in the
 * padding per row, channel tiles per tile), which can change the sign of a zero sum or meet an
 * infinite weight. */
#define BC_FWD_MARGIN 0.8
static int bc_forward_wins(const conv_geom *g)
{
    const int64_t Mg = g->C_out / g->groups, Cg = g->C_in / g->groups, OW = g->OW;
    if (Mg <= 0 || Cg <= 0 || OW <= 0) return 0;
    const int64_t Wq = OW + (g->kW - 1) * g->dilW / g->sW, step = bk_block_step(Mg);
    const int64_t nblk = (Mg + step - 1) / step, nv = BK_NV(step), tl = nv * DS_VW, nt = OW / tl;
    const int64_t v = (OW - nt * tl + DS_VW - 1) / DS_VW;
    const double full = (double)(step * nv > BK_ACC_MIN ? step * nv : BK_ACC_MIN);
    double rows = (double)nt * full + (v ? (double)(step * v > BK_ACC_MIN ? step * v : BK_ACC_MIN) : 0.0);
    const double q = 1.25 * (double)Wq / (double)tl * full;
    rows = (rows < q ? rows : q) * (double)nblk;
    const double vecs = (double)((Mg + DS_VW - 1) / DS_VW);
    const double chans = (double)OW * vecs * (1.0 + (double)DS_VW / ((double)Cg * (double)(g->kH * g->kW)));
    return chans < BC_FWD_MARGIN * rows;
}

/* buf[i][c] = bias[c] + sum over ci < Cg, t0 <= t < t1 of wb[(ci*T + t)*Mr + c] *
 * xq[ci*CS + off[t] + qp[i]], for outputs i < np and channels c < mv*DS_VW (buf rows of
 * BC_MV*DS_VW). Inlined with constant mv, np: the tile lives in registers. */
CNN_FORCE_INLINE void
bc_ftile(const float *restrict xq, int64_t Cg, int64_t CS, const int64_t *restrict off, int64_t T,
         int64_t t0, int64_t t1, const float *restrict wb, int64_t Mr, const int64_t *restrict qp,
         const int mv, const int np, const float *restrict bias, float *restrict buf)
{
    ds_vec acc[BC_TNMAX][BC_MV];
    const float *xp[BC_TNMAX];
#pragma GCC unroll 16
    for (int i = 0; i < np; i++) {
        xp[i] = xq + qp[i];
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++) acc[i][v] = ds_load(bias + v * DS_VW);
    }
    for (int64_t ci = 0; ci < Cg; ci++)
        for (int64_t t = t0; t < t1; t++) {
            const int64_t o = ci * CS + off[t];
            const float *wp = wb + (ci * T + t) * Mr;
            ds_vec wv[BC_MV];
#pragma GCC unroll 16
            for (int v = 0; v < mv; v++) wv[v] = ds_load(wp + v * DS_VW);
#pragma GCC unroll 16
            for (int i = 0; i < np; i++) {
                const ds_vec xv = ds_set1(xp[i][o]);
#pragma GCC unroll 16
                for (int v = 0; v < mv; v++) acc[i][v] = ds_fma(xv, wv[v], acc[i][v]);
            }
        }
#pragma GCC unroll 16
    for (int i = 0; i < np; i++)
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++) ds_store(buf + (i * BC_MV + v) * DS_VW, acc[i][v]);
}

/* One block of cb <= mv*DS_VW output channels (wb, bias and y at its first channel) over output
 * rows oh0 .. oh0 + nrows - 1, in tiles of BC_TN(mv) consecutive outputs (across the rows of a run
 * that reads the same kernel rows; the last tile repeats its last output, dropped):
 * y (+)= bias + conv. */
static void bc_forward_block(const bk_plan *p, const conv_geom *g, const float *xq, const int64_t *off,
                             const float *wb, int64_t Mr, int64_t mv, int64_t cb, const float *bias,
                             int64_t oh0, int64_t nrows, float *y, int64_t P, int accumulate)
{
    float bb[BC_MV * DS_VW], buf[BC_TNMAX * BC_MV * DS_VW];
    for (int64_t c = 0; c < BC_MV * DS_VW; c++) bb[c] = bias && c < cb ? bias[c] : 0.0f;
    const int64_t OW = g->OW, Wq = p->Wq, np = BC_TN(mv);
    /* runs of rows that read the same kernel rows (bk_row_taps), each in tiles across its rows:
     * every output sums the same taps whatever rows the call (a thread's part) starts at */
    for (int64_t r0 = 0, r1; r0 < nrows; r0 = r1) {
        int64_t t0, t1, u0, u1;
        bk_row_taps(g, oh0 + r0, &t0, &t1);
        for (r1 = r0 + 1; r1 < nrows && (bk_row_taps(g, oh0 + r1, &u0, &u1), u0 == t0 && u1 == t1);)
            r1++;
        const int64_t n = r1 * OW;
        for (int64_t p0 = r0 * OW; p0 < n; p0 += np) {
            const int64_t k = n - p0 < np ? n - p0 : np;
            int64_t qp[BC_TNMAX];
            for (int64_t i = 0; i < BC_TNMAX; i++) {
                const int64_t pi = p0 + (i < k ? i : k - 1);
                qp[i] = pi / OW * Wq + pi % OW;
            }
            switch (mv) {
            case 3: bc_ftile(xq, p->Cg, p->CS, off, p->T, t0, t1, wb, Mr, qp, 3, BC_TN(3), bb, buf); break;
            case 2: bc_ftile(xq, p->Cg, p->CS, off, p->T, t0, t1, wb, Mr, qp, 2, BC_TN(2), bb, buf); break;
            default: bc_ftile(xq, p->Cg, p->CS, off, p->T, t0, t1, wb, Mr, qp, 1, BC_TN(1), bb, buf); break;
            }
            for (int64_t c = 0; c < cb; c++) {
                float *d = y + c * P + p0;
                if (accumulate)
                    for (int64_t i = 0; i < k; i++) d[i] += buf[i * BC_MV * DS_VW + c];
                else
                    for (int64_t i = 0; i < k; i++) d[i] = buf[i * BC_MV * DS_VW + c];
            }
        }
    }
}

/* ---- weight gradient ---------------------------------------------------------------------------- */

/* How the channels and taps of a group are cut: nmb blocks of channels (mv vectors each but the
 * last, mvl), each in tiles of tj taps. */
typedef struct {
    int64_t Mr;           /* channels per group rounded up to whole vectors */
    int64_t nmb, mvl;     /* channel blocks; vectors of the last */
    int64_t J, njt[BC_MV + 1]; /* weights per output channel (Cg*T); tap tiles for mv vectors */
} bc_cut;

static void bc_cut_init(bc_cut *c, const bk_plan *p)
{
    const int64_t nvec = (p->Mg + DS_VW - 1) / DS_VW;
    c->Mr = nvec * DS_VW;
    c->nmb = (nvec + BC_MV - 1) / BC_MV;
    c->mvl = nvec - (c->nmb - 1) * BC_MV;
    c->J = p->Cg * p->T;
    for (int mv = 1; mv <= BC_MV; mv++) c->njt[mv] = (c->J + BC_TN(mv) - 1) / BC_TN(mv);
    c->njt[0] = 0;
}

/* Items per group: the tap tiles of every channel block. */
static int64_t bc_items_per_group(const bc_cut *c)
{
    return c->nmb ? (c->nmb - 1) * c->njt[BC_MV] + c->njt[c->mvl] : 0;
}

/* Whether the channel tiles waste fewer lanes: the pixel tiles use OH*OW of the Qr lanes they
 * run over (rows padded to Wq, the whole rounded up to a vector), the channel tiles Mg of Mr.
 * Measured on Zen 3 (AVX2, one thread): the MNIST net's (32,10->20,13x13) 5x5 weight gradient
 * (rows 72% used, channels 83%) took 0.74 of the pixel tiles' time (611 against 829 us); the
 * margin keeps the pixel tiles where the two are close (the wide layers: 1.02-1.07). Results
 * depend on it (the summation order differs), never on the thread count. */
#define BC_MARGIN 1.1
static int bc_weight_wins(const conv_geom *g)
{
    const int64_t Mg = g->C_out / g->groups, OW = g->OW, OH = g->OH;
    if (Mg <= 0 || OH <= 0 || OW <= 0) return 0;
    const int64_t Wq = OW + (g->kW - 1) * g->dilW / g->sW;
    const double Qr = (double)((OH * Wq + DS_VW - 1) / DS_VW * DS_VW);
    const double rows = (double)(OH * OW) / Qr;
    const double chans = (double)Mg / (double)((Mg + DS_VW - 1) / DS_VW * DS_VW);
    return chans > BC_MARGIN * rows;
}

/* tot[jj][v*DS_VW + l] += sum over p of dyT[p*Mr + v*DS_VW + l] * xq[offj[jj] + oh*Wq + ow],
 * p = oh*OW + ow, for jj < tj, v < mv. Inlined with constant mv, tj: the tile lives in registers. */
CNN_FORCE_INLINE void
bc_wtile(const float *restrict dyT, int64_t Mr, const float *restrict xq, const int64_t *restrict offj,
         int64_t OH, int64_t OW, int64_t Wq, const int mv, const int tj, float *restrict tot)
{
    ds_vec acc[BC_TNMAX][BC_MV];
#pragma GCC unroll 16
    for (int jj = 0; jj < tj; jj++)
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++) acc[jj][v] = ds_zero();
    const float *d = dyT;
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *xr = xq + oh * Wq;
        for (int64_t ow = 0; ow < OW; ow++, d += Mr) {
            ds_vec dv[BC_MV];
#pragma GCC unroll 16
            for (int v = 0; v < mv; v++) dv[v] = ds_load(d + v * DS_VW);
#pragma GCC unroll 16
            for (int jj = 0; jj < tj; jj++) {
                const ds_vec xv = ds_set1(xr[offj[jj] + ow]);
#pragma GCC unroll 16
                for (int v = 0; v < mv; v++) acc[jj][v] = ds_fma(dv[v], xv, acc[jj][v]);
            }
        }
    }
#pragma GCC unroll 16
    for (int jj = 0; jj < tj; jj++)
#pragma GCC unroll 16
        for (int v = 0; v < mv; v++) {
            float *s = tot + (jj * BC_MV + v) * DS_VW;
            ds_store(s, ds_add(ds_load(s), acc[jj][v]));
        }
}

static void bc_wtile_any(const float *dyT, int64_t Mr, const float *xq, const int64_t *offj, int64_t OH,
                         int64_t OW, int64_t Wq, int64_t mv, float *tot)
{
    switch (mv) {
    case 3: bc_wtile(dyT, Mr, xq, offj, OH, OW, Wq, 3, BC_TN(3), tot); return;
    case 2: bc_wtile(dyT, Mr, xq, offj, OH, OW, Wq, 2, BC_TN(2), tot); return;
    default: bc_wtile(dyT, Mr, xq, offj, OH, OW, Wq, 1, BC_TN(1), tot); return;
    }
}

/* Item it of a group: channel block mb, taps j0 .. j0 + tj - 1 (mv vectors). */
static void bc_item(const bc_cut *c, int64_t it, int64_t *mb, int64_t *mv, int64_t *j0, int64_t *tj)
{
    const int64_t full = c->njt[BC_MV];
    *mb = it / full < c->nmb - 1 ? it / full : c->nmb - 1;
    *mv = *mb < c->nmb - 1 ? BC_MV : c->mvl;
    *j0 = (it - *mb * full) * BC_TN(*mv);
    *tj = c->J - *j0 < BC_TN(*mv) ? c->J - *j0 : BC_TN(*mv);
}

/* The running totals of items [begin, end) from dw (back = 0; lanes past the channels or taps
 * start at zero) or back to dw (back = 1). */
static void bc_totals(const bk_plan *p, const bc_cut *c, float *dw, int64_t begin, int64_t end,
                      float *tot, int back)
{
    const int64_t per = bc_items_per_group(c);
    for (int64_t it = begin; it < end; it++) {
        const int64_t gr = it / per;
        int64_t mb, mv, j0, tj;
        bc_item(c, it % per, &mb, &mv, &j0, &tj);
        float *s = tot + (it - begin) * BC_TILE;
        for (int64_t jj = 0; jj < BC_TNMAX; jj++)
            for (int64_t l = 0; l < BC_MV * DS_VW; l++) {
                const int64_t m = mb * BC_MV * DS_VW + l;
                float *e = s + jj * BC_MV * DS_VW + l;
                const int real = jj < tj && l < mv * DS_VW && m < p->Mg;
                float *w = real ? dw + (gr * p->Mg + m) * c->J + j0 + jj : NULL;
                if (!back) *e = real ? *w : 0.0f;
                else if (real) *w = *e;
            }
    }
}

/* Items: (group, channel block, tap tile). A part takes its items' totals from dw, then per image
 * and group fills the planes and dyT and runs its tiles, and puts the totals back. */
static void bc_weight_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const bk_wgt_args *t = vctx;
    const conv_geom *g = t->g;
    bk_plan p;
    bk_plan_init(&p, g, g->OH);
    bc_cut c;
    bc_cut_init(&c, &p);
    const int64_t per = bc_items_per_group(&c), P = g->OH * g->OW, K = c.J;
    float *xq = t->parts + part * t->slot, *dyT = xq + p.Cg * p.CS, *tot = dyT + P * c.Mr;
    bc_totals(&p, &c, t->dw, begin, end, tot, 0);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t it0 = begin; it0 < end;) {
            const int64_t gr = it0 / per, gend = (gr + 1) * per < end ? (gr + 1) * per : end;
            bk_fill(&p, g, t->x + (n * g->C_in + gr * p.Cg) * g->H * g->W, 0, g->OH, xq);
            const float *src = t->dy + (n * g->C_out + gr * p.Mg) * P;
            for (int64_t q = 0; q < P; q++) {
                float *d = dyT + q * c.Mr;
                for (int64_t m = 0; m < p.Mg; m++) d[m] = src[m * P + q];
                for (int64_t m = p.Mg; m < c.Mr; m++) d[m] = 0.0f;
            }
            for (int64_t it = it0; it < gend; it++) {
                int64_t mb, mv, j0, tj, offj[BC_TNMAX];
                bc_item(&c, it % per, &mb, &mv, &j0, &tj);
                for (int64_t jj = 0; jj < BC_TNMAX; jj++) /* past J: repeat the last tap, dropped */
                    offj[jj] = t->offs[j0 + jj < K ? j0 + jj : K - 1];
                bc_wtile_any(dyT + mb * BC_MV * DS_VW, c.Mr, xq, offj, g->OH, g->OW, p.Wq, mv,
                             tot + (it - begin) * BC_TILE);
            }
            it0 = gend;
        }
    bc_totals(&p, &c, t->dw, begin, end, tot, 1);
}

/* Scratch, in floats: shared (tap offsets, as bk_weight_sizes) and per part (planes of one image
 * and group, its dyT, every item's totals). */
static void bc_weight_sizes(const conv_geom *g, int64_t *shared, int64_t *slot)
{
    bk_plan p;
    bk_plan_init(&p, g, g->OH);
    bc_cut c;
    bc_cut_init(&c, &p);
    *shared = 2 * p.T + 2 * p.Cg * p.T;
    *slot = p.Cg * p.CS + g->OH * g->OW * c.Mr + g->groups * bc_items_per_group(&c) * BC_TILE;
}

/* dw += the weight gradient, offs[j] as in bk_backward_weight, in parts of the scratch after
 * `shared` floats. */
static void bc_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                               const int64_t *offs, float *scratch, int64_t shared)
{
    int64_t slot, unused;
    bc_weight_sizes(g, &unused, &slot);
    bk_plan p;
    bk_plan_init(&p, g, g->OH);
    bc_cut c;
    bc_cut_init(&c, &p);
    slot += (-slot) & 15;
    bk_wgt_args t = {g, dy, x, offs, dw, scratch + ((shared + 15) & ~(int64_t)15), slot};
    const int64_t per = bc_items_per_group(&c);
    const double work = (double)g->N * g->OH * g->OW * BC_MV * DS_VW * BC_TN(BC_MV);
    cnn_parallel_for(g->groups * per, cnn_work_grain(work), g->threads, bc_weight_task, &t);
}
