/* generic/conv_transpose_phase.h — transpose convolution for one dtype (`real`, suffix R()), run
 * from a bound plan (conv_transpose_plan.h): the forward and the weight gradient by output phases
 * (a direct row kernel for small channel counts; im2col tiles and a GEMM per phase for larger
 * ones), or on the general or reference path through the convolution kernels; the input gradient
 * is the convolution's forward, and AUTO's weight gradient the convolution's (pl->dw_conv). Every
 * other kernel runs from the plan's kernel table.
 * Compiled per dtype and instruction set (csrc/isa_body.h). */

#ifndef CNN_CONVT_HELPERS /* once per translation unit */
#define CNN_CONVT_HELPERS
/* The most inputs per weight-gradient tile (ct_dw_kb). */
#define CT_KB 7
/* This dtype's field `name` of the plan's kernel table (name_f32 or name_f64). */
#define CT_K(pl, name) _Generic((real)0, float: (pl)->k->name##_f32, default: (pl)->k->name##_f64)

/* Outputs of phase a (< ax->phases) along an axis: o = a + j*s < n_out. */
static int64_t ct_len(const convt_axis *ax, int64_t a)
{
    return (ax->n_out - 1 - a) / ax->s + 1;
}

/* Taps of phase a. */
static int64_t ct_taps(const convt_axis *ax, int64_t a)
{
    return ax->first[a + 1] - ax->first[a];
}

/* Packed per-phase weights (or weight-gradient sums): group gr's block, then phase (a, b)'s
 * Mg x Kp block in phase order; Kp = Cg * taps(a) * taps(b). */
static int64_t ct_phase_base(const convt_plan *pl, int64_t gr, int64_t a, int64_t b)
{
    const int64_t Cg = pl->C_in / pl->groups, Mg = pl->C_out / pl->groups;
    const int64_t th = pl->ah.first[pl->ah.phases], tw = pl->aw.first[pl->aw.phases];
    return Mg * Cg * (gr * th * tw + pl->ah.first[a] * tw + ct_taps(&pl->ah, a) * pl->aw.first[b]);
}
#endif

/* ---- a small vector layer: this ISA's vectors of CNN_VEC_BYTES ----------------------------------
 * With GCC and Clang, vector extensions: the compiler emits the ISA's loads and FMAs and keeps a
 * tile of them in registers, which it did not do for the same loops over arrays (it spilled them).
 * Elsewhere plain arrays of the same width. */
enum { R(CT_VL) = CNN_VEC_BYTES / (int)sizeof(real) };
#if defined(__GNUC__) || defined(__clang__)
typedef real R(ctv) __attribute__((vector_size(CNN_VEC_BYTES)));
static inline R(ctv) R(ct_splat)(real s) /* a broadcast: s * 1 is s exactly ({0} + s is not: -0) */
{
    const R(ctv) ones = (R(ctv)){0} + 1;
    return ones * s;
}
static inline R(ctv) R(ct_fma)(R(ctv) a, R(ctv) b, R(ctv) c) { return c + a * b; }
#else
typedef struct { real l[R(CT_VL)]; } R(ctv);
static inline R(ctv) R(ct_splat)(real s)
{
    R(ctv) v;
    for (int l = 0; l < R(CT_VL); l++) v.l[l] = s;
    return v;
}
static inline R(ctv) R(ct_fma)(R(ctv) a, R(ctv) b, R(ctv) c)
{
    for (int l = 0; l < R(CT_VL); l++) c.l[l] += a.l[l] * b.l[l];
    return c;
}
#endif
static inline R(ctv) R(ct_load)(const real *p) /* any alignment */
{
    R(ctv) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void R(ct_store)(real *p, R(ctv) v)
{
    memcpy(p, &v, sizeof v);
}

/* Tile widths of the direct kernels: two vectors of output columns (at most CONVT_JV) and of
 * partial sums (at most CONVT_LANES). */
enum { R(CT_NV) = 2, R(CT_JV) = 2 * R(CT_VL), R(CT_LANES) = 2 * R(CT_VL) };

/* The arguments of a pass, handed to its parallel tasks. */
typedef struct {
    const convt_plan *pl;
    const real *x, *w, *b, *dy;
    real *y, *dw;
    int64_t blocks; /* direct kernels: channel blocks per group; GEMM weight gradient: C_in blocks */
} R(ct_task);

/* The scratch of the phase path: the padded input copy, the packed weights (or the weight
 * gradient's sums), then one slice per thread. */
static real *R(ct_xpad)(const convt_plan *pl)
{
    return (real *)pl->work;
}

static real *R(ct_wts)(const convt_plan *pl)
{
    return (real *)pl->work + pl->N * pl->C_in * pl->H * pl->Wp;
}

static real *R(ct_slice)(const convt_plan *pl, int part)
{
    return R(ct_wts)(pl) + pl->C_in * (pl->C_out / pl->groups) * pl->kH * pl->kW + part * pl->slice;
}

/* ---- the padded input and the packed weights ---------------------------------------------------- */

/* xpad[plane][ih] = pad_l zeros, the input row, zeros up to Wp. Items: planes (N * C_in). */
static void R(ct_pad_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(ct_task) *t = vctx;
    const convt_plan *pl = t->pl;
    const int64_t H = pl->H, W = pl->W, Wp = pl->Wp, L = pl->pad_l;
    (void)part;
    for (int64_t p = begin; p < end; p++)
        for (int64_t ih = 0; ih < H; ih++) {
            const real *src = t->x + (p * H + ih) * W;
            real *row = R(ct_xpad)(pl) + (p * H + ih) * Wp;
            for (int64_t i = 0; i < L; i++) row[i] = 0;
            for (int64_t i = 0; i < W; i++) row[L + i] = src[i];
            for (int64_t i = L + W; i < Wp; i++) row[i] = 0;
        }
}

static void R(ct_pad)(const convt_plan *pl, const real *x)
{
    R(ct_task) t = {pl, x, NULL, NULL, NULL, NULL, NULL, 0};
    cnn_parallel_for(pl->N * pl->C_in, cnn_work_grain((double)pl->H * (double)pl->Wp), pl->threads,
                     R(ct_pad_task), &t);
}

/* The weights of each (group, phase): element (m, k) with k = (ci*Ta + ta)*Tb + tb is
 * w[gr*Cg + ci][m][kh of tap ta][kw of tap tb]. The GEMM reads them as an Mg x Kp matrix; the
 * direct kernel as blocks of its tiles' channels (CONVT_CB, the last block split as 4, 2, 1), each
 * block k-major ([k][c]) so that a tap's weights are contiguous. */
static void R(ct_pack_weights)(const convt_plan *pl, const real *w)
{
    const int blocked = pl->path == CONVT_PHASE_DIRECT;
    const int64_t Cg = pl->C_in / pl->groups, Mg = pl->C_out / pl->groups, kH = pl->kH, kW = pl->kW;
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    real *wp = R(ct_wts)(pl);
    for (int64_t gr = 0; gr < pl->groups; gr++)
        for (int64_t a = 0; a < ah->phases; a++)
            for (int64_t b = 0; b < aw->phases; b++) {
                const int64_t Ta = ct_taps(ah, a), Tb = ct_taps(aw, b), K = Cg * Ta * Tb;
                real *blk = wp + ct_phase_base(pl, gr, a, b);
                for (int64_t m = 0; m < Mg; m++) {
                    /* m's block starts at m0 (blocks of CONVT_CB, the last split as 4, 2, 1) */
                    int64_t m0 = m - m % CONVT_CB, cb = Mg - m0 < CONVT_CB ? Mg - m0 : CONVT_CB;
                    while (cb != CONVT_CB && cb != 4 && cb != 2 && cb != 1) {
                        const int64_t head = cb >= 4 ? 4 : cb >= 2 ? 2 : 1;
                        if (m < m0 + head) cb = head;
                        else m0 += head, cb -= head;
                    }
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t ta = 0; ta < Ta; ta++)
                            for (int64_t tb = 0; tb < Tb; tb++) {
                                const int64_t k = (ci * Ta + ta) * Tb + tb;
                                blk[blocked ? m0 * K + k * cb + (m - m0) : m * K + k] =
                                    w[(((gr * Cg + ci) * Mg + m) * kH + ah->kk[ah->first[a] + ta]) * kW +
                                      aw->kk[aw->first[b] + tb]];
                            }
                }
            }
}

/* ---- forward, direct: one output row of a block of channels at a time ----------------------------- */

/* Columns j0 .. j0 + jn - 1 of phase b in output row oh (phase a, index jh) for cb channels:
 * y = bias + sum over ci and the taps of both phases of w * x, in cb x CT_NV vector accumulators
 * (registers: cb is a constant after inlining): per tap, CT_NV loads of the padded input row (no
 * bounds checks) feed cb broadcast weights (packed [k][c], contiguous). A kernel row that misses
 * the input is skipped. */
CNN_FORCE_INLINE void R(ct_fwd_tile)(const convt_plan *pl, const real *xg, int64_t jh, int64_t a, int64_t b,
                              const real *wblk, int64_t j0, int64_t jn, const real *bias, real *yc,
                              const int cb)
{
    enum { NV = R(CT_NV), VL = R(CT_VL) };
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    const int64_t Cg = pl->C_in / pl->groups, H = pl->H, Wp = pl->Wp, plane = pl->OH * pl->OW;
    const int64_t ta0 = ah->first[a], Ta = ct_taps(ah, a), tb0 = aw->first[b], Tb = ct_taps(aw, b);
    const int64_t *offw = aw->off + tb0;
    R(ctv) acc[CONVT_CB][NV];
    for (int c = 0; c < cb; c++)
        for (int v = 0; v < NV; v++) acc[c][v] = R(ct_splat)(bias ? bias[c] : 0);
    /* taps outermost, input channels innermost: the longest loop, at constant strides */
    const int64_t xstride = H * Wp, wstride = Ta * Tb * cb;
    for (int64_t ta = 0; ta < Ta; ta++) {
        const int64_t ih = jh + ah->off[ta0 + ta];
        if (ih < 0 || ih >= H) continue;
        for (int64_t tb = 0; tb < Tb; tb++) {
            const real *xr = xg + ih * Wp + pl->pad_l + j0 + offw[tb];
            const real *wr = wblk + (ta * Tb + tb) * cb;
            for (int64_t ci = 0; ci < Cg; ci++, xr += xstride, wr += wstride) {
                R(ctv) xv[NV];
                for (int v = 0; v < NV; v++) xv[v] = R(ct_load)(xr + v * VL);
                for (int c = 0; c < cb; c++) {
                    const R(ctv) wv = R(ct_splat)(wr[c]);
                    for (int v = 0; v < NV; v++) acc[c][v] = R(ct_fma)(wv, xv[v], acc[c][v]);
                }
            }
        }
    }
    const int64_t sW = aw->s;
    for (int c = 0; c < cb; c++) {
        real out[NV * VL];
        memcpy(out, acc[c], sizeof out);
        real *yr = yc + c * plane + b + j0 * sW;
        for (int64_t j = 0; j < jn; j++) yr[j * sW] = out[j];
    }
}

/* Items: (image, group, output row, block of CONVT_CB channels): the blocks of one row follow each
 * other, so the input rows they read stay in L1. A block of fewer channels (the group's last)
 * runs as tiles of 4, 2 and 1. */
static void R(ct_fwd_direct_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    enum { JV = R(CT_JV) };
    const R(ct_task) *t = vctx;
    const convt_plan *pl = t->pl;
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    const int64_t Cg = pl->C_in / pl->groups, Mg = pl->C_out / pl->groups, OH = pl->OH;
    (void)part;
    for (int64_t item = begin; item < end; item++) {
        const int64_t cbi = item % t->blocks, oh = item / t->blocks % OH;
        const int64_t gr = item / t->blocks / OH % pl->groups, n = item / t->blocks / OH / pl->groups;
        const int64_t a = oh % ah->s, jh = oh / ah->s;
        const real *xg = R(ct_xpad)(pl) + (n * pl->C_in + gr * Cg) * pl->H * pl->Wp;
        for (int64_t m0 = cbi * CONVT_CB, mend = m0 + CONVT_CB < Mg ? m0 + CONVT_CB : Mg; m0 < mend;) {
            const int cb = mend - m0 >= CONVT_CB ? CONVT_CB : mend - m0 >= 4 ? 4 : mend - m0 >= 2 ? 2 : 1;
            const real *bias = t->b ? t->b + gr * Mg + m0 : NULL;
            real *yc = t->y + ((n * pl->C_out + gr * Mg + m0) * OH + oh) * pl->OW;
            for (int64_t b = 0; b < aw->phases; b++) {
                const int64_t nb = ct_len(aw, b), K = Cg * ct_taps(ah, a) * ct_taps(aw, b);
                const real *wblk = R(ct_wts)(pl) + ct_phase_base(pl, gr, a, b) + m0 * K;
                for (int64_t j0 = 0; j0 < nb; j0 += JV) {
                    const int64_t jn = nb - j0 < JV ? nb - j0 : JV;
                    switch (cb) {
                    case CONVT_CB: R(ct_fwd_tile)(pl, xg, jh, a, b, wblk, j0, jn, bias, yc, CONVT_CB); break;
                    case 4: R(ct_fwd_tile)(pl, xg, jh, a, b, wblk, j0, jn, bias, yc, 4); break;
                    case 2: R(ct_fwd_tile)(pl, xg, jh, a, b, wblk, j0, jn, bias, yc, 2); break;
                    default: R(ct_fwd_tile)(pl, xg, jh, a, b, wblk, j0, jn, bias, yc, 1); break;
                    }
                }
            }
            m0 += cb;
        }
    }
}

/* ---- forward and weight gradient, GEMM: im2col tiles of each phase ------------------------------- */

/* col (rows for ci in [c0, c1), tn) = the phase's input columns for pixels [p0, p0+tn) of the
 * phase (row-major over its na x nb outputs): row (ci*Ta + ta)*Tb + tb (counted from c0) holds
 * x[ci][jh + off_h(ta)][jw + off_w(tb)], 0 where that row misses the input. */
static void R(ct_im2col)(const convt_plan *pl, const real *xg, int64_t a, int64_t b, int64_t c0,
                         int64_t c1, int64_t p0, int64_t tn, real *restrict col)
{
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    const int64_t H = pl->H, Wp = pl->Wp, nb = ct_len(aw, b);
    const int64_t ta0 = ah->first[a], Ta = ct_taps(ah, a), tb0 = aw->first[b], Tb = ct_taps(aw, b);
    for (int64_t ci = c0; ci < c1; ci++)
        for (int64_t ta = 0; ta < Ta; ta++)
            for (int64_t tb = 0; tb < Tb; tb++) {
                const real *xc = xg + ci * H * Wp + pl->pad_l + aw->off[tb0 + tb];
                for (int64_t p = p0; p < p0 + tn;) { /* one segment of an output row at a time */
                    const int64_t jh = p / nb, jw0 = p % nb;
                    const int64_t jw1 = nb < jw0 + (p0 + tn - p) ? nb : jw0 + (p0 + tn - p);
                    const int64_t ih = jh + ah->off[ta0 + ta];
                    real *c = col + (p - p0) - jw0;
                    if (ih < 0 || ih >= H)
                        for (int64_t jw = jw0; jw < jw1; jw++) c[jw] = 0;
                    else
                        for (int64_t jw = jw0; jw < jw1; jw++) c[jw] = xc[ih * Wp + jw];
                    p += jw1 - jw0;
                }
                col += tn;
            }
}

/* Items: (image, group, phase a, phase b). Each phase's outputs are GEMM tiles
 * (Mg x tn) = packed weights (Mg x Kp) @ col (Kp x tn), then put in place with the bias. */
static void R(ct_fwd_gemm_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(ct_task) *t = vctx;
    const convt_plan *pl = t->pl;
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    const int64_t Cg = pl->C_in / pl->groups, Mg = pl->C_out / pl->groups, tile = pl->tile;
    const int64_t kmax = Cg * ah->max_taps * aw->max_taps, plane = pl->OH * pl->OW;
    real *col = R(ct_slice)(pl, part), *yt = col + kmax * tile, *work = yt + Mg * tile;
    for (int64_t item = begin; item < end; item++) {
        const int64_t b = item % aw->phases, a = item / aw->phases % ah->phases;
        const int64_t gr = item / aw->phases / ah->phases % pl->groups;
        const int64_t n = item / aw->phases / ah->phases / pl->groups;
        const int64_t na = ct_len(ah, a), nb = ct_len(aw, b), P = na * nb;
        const int64_t K = Cg * ct_taps(ah, a) * ct_taps(aw, b);
        const real *xg = R(ct_xpad)(pl) + (n * pl->C_in + gr * Cg) * pl->H * pl->Wp;
        const real *wpb = R(ct_wts)(pl) + ct_phase_base(pl, gr, a, b);
        real *yg = t->y + (n * pl->C_out + gr * Mg) * plane + a * pl->OW + b;
        for (int64_t p0 = 0; p0 < P; p0 += tile) {
            const int64_t tn = P - p0 < tile ? P - p0 : tile;
            if (K > 0) {
                R(ct_im2col)(pl, xg, a, b, 0, Cg, p0, tn, col);
                CT_K(pl, gemm)(0, 0, Mg, tn, K, wpb, K, col, tn, 0, yt, tn, work);
            }
            for (int64_t m = 0; m < Mg; m++) {
                const real bias = t->b ? t->b[gr * Mg + m] : 0;
                const real *src = yt + m * tn;
                real *ym = yg + m * plane;
                for (int64_t p = p0; p < p0 + tn;) {
                    const int64_t jh = p / nb, jw0 = p % nb;
                    const int64_t jw1 = nb < jw0 + (p0 + tn - p) ? nb : jw0 + (p0 + tn - p);
                    real *yr = ym + jh * ah->s * pl->OW;
                    const real *s = src + (p - p0) - jw0;
                    if (K > 0)
                        for (int64_t jw = jw0; jw < jw1; jw++) yr[jw * aw->s] = s[jw] + bias;
                    else
                        for (int64_t jw = jw0; jw < jw1; jw++) yr[jw * aw->s] = bias;
                    p += jw1 - jw0;
                }
            }
        }
    }
}

/* Items: (group, phase a, phase b, block of input channels). The block's rows of the phase's
 * weight gradient, as a Kp x Mg matrix, = sum over images and tiles of col @ dy_phase^T, summed
 * in the same order whatever the blocks; then added to dw. */
static void R(ct_dw_gemm_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(ct_task) *t = vctx;
    const convt_plan *pl = t->pl;
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    const int64_t Cg = pl->C_in / pl->groups, Mg = pl->C_out / pl->groups, tile = pl->tile;
    const int64_t kmax = Cg * ah->max_taps * aw->max_taps, plane = pl->OH * pl->OW;
    const int64_t bs = (Cg + t->blocks - 1) / t->blocks; /* input channels per block */
    real *col = R(ct_slice)(pl, part), *dyt = col + kmax * tile, *work = dyt + Mg * tile;
    for (int64_t item = begin; item < end; item++) {
        const int64_t cbi = item % t->blocks, b = item / t->blocks % aw->phases;
        const int64_t a = item / t->blocks / aw->phases % ah->phases;
        const int64_t gr = item / t->blocks / aw->phases / ah->phases;
        const int64_t c0 = cbi * bs, c1 = c0 + bs < Cg ? c0 + bs : Cg;
        const int64_t Ta = ct_taps(ah, a), Tb = ct_taps(aw, b), rows = (c1 - c0) * Ta * Tb;
        if (rows <= 0) continue;
        const int64_t na = ct_len(ah, a), nb = ct_len(aw, b), P = na * nb;
        real *sums = R(ct_wts)(pl) + ct_phase_base(pl, gr, a, b) + c0 * Ta * Tb * Mg; /* rows x Mg */
        for (int64_t i = 0; i < rows * Mg; i++) sums[i] = 0;
        for (int64_t n = 0; n < pl->N; n++) {
            const real *xg = R(ct_xpad)(pl) + (n * pl->C_in + gr * Cg) * pl->H * pl->Wp;
            const real *dyg = t->dy + (n * pl->C_out + gr * Mg) * plane + a * pl->OW + b;
            for (int64_t p0 = 0; p0 < P; p0 += tile) {
                const int64_t tn = P - p0 < tile ? P - p0 : tile;
                R(ct_im2col)(pl, xg, a, b, c0, c1, p0, tn, col);
                for (int64_t m = 0; m < Mg; m++) /* the phase's dy, (Mg, tn) */
                    for (int64_t p = p0; p < p0 + tn;) {
                        const int64_t jh = p / nb, jw0 = p % nb;
                        const int64_t jw1 = nb < jw0 + (p0 + tn - p) ? nb : jw0 + (p0 + tn - p);
                        const real *src = dyg + m * plane + jh * ah->s * pl->OW;
                        real *dst = dyt + m * tn + (p - p0) - jw0;
                        for (int64_t jw = jw0; jw < jw1; jw++) dst[jw] = src[jw * aw->s];
                        p += jw1 - jw0;
                    }
                CT_K(pl, gemm)(0, 1, rows, Mg, tn, col, tn, dyt, tn, 1, sums, Mg, work);
            }
        }
        for (int64_t ci = c0; ci < c1; ci++)
            for (int64_t ta = 0; ta < Ta; ta++)
                for (int64_t tb = 0; tb < Tb; tb++) {
                    const int64_t kh = ah->kk[ah->first[a] + ta], kw = aw->kk[aw->first[b] + tb];
                    const real *s = sums + (((ci - c0) * Ta + ta) * Tb + tb) * Mg;
                    real *dwc = t->dw + ((gr * Cg + ci) * Mg * pl->kH + kh) * pl->kW + kw;
                    for (int64_t m = 0; m < Mg; m++) dwc[m * pl->kH * pl->kW] += s[m];
                }
    }
}

/* ---- weight gradient, direct: register tiles over (output channel, input column) pairs -------------
 * Per phase (a, b), the weight gradient is dW[m][k] = sum over images and the phase's pixels of
 * dy_phase[m][pixel] * x_k[pixel], k = (ci, row tap ta, column tap tb), x_k the input shifted by
 * the taps' offsets. A tile keeps cb x kb vectors of partial sums in registers, lanes along the
 * phase's columns: per vector of pixels, kb input loads and cb dy loads feed cb*kb FMAs. The
 * phase's dy is first gathered into contiguous rows (zero past its last column, so that the lanes
 * beyond it add nothing); the tile's k share the row tap, so one range of rows holds x for all. */

/* The reduction a weight-gradient tile runs over: images, rows, vectors of columns. */
typedef struct {
    int64_t nimg, nrows, nvec;
    int64_t ximg, xrow;          /* strides of the input between images, rows */
    int64_t dimg, dch, drow;     /* strides of the gathered dy between images, channels, rows */
} R(ct_span);

/* acc[c*kb + k] (vectors) += sum over images i, rows r, vectors v of
 * dyp[i*dimg + c*dch + r*drow + v*VL ..] * xk[k][i*ximg + r*xrow + v*VL ..]. */
CNN_FORCE_INLINE void R(ct_dw_tile)(const real *const *xk, const real *dyp, const R(ct_span) *sp, real *acc,
                             const int cb, const int kb)
{
    enum { VL = R(CT_VL) };
    R(ctv) s[CONVT_CB][CT_KB];
    for (int c = 0; c < cb; c++)
        for (int k = 0; k < kb; k++) s[c][k] = R(ct_load)(acc + (c * kb + k) * VL);
    for (int64_t i = 0; i < sp->nimg; i++)
        for (int64_t r = 0; r < sp->nrows; r++) {
            const int64_t xo = i * sp->ximg + r * sp->xrow;
            const real *dr = dyp + i * sp->dimg + r * sp->drow;
            for (int64_t v = 0; v < sp->nvec; v++) {
                R(ctv) xv[CT_KB];
                for (int k = 0; k < kb; k++) xv[k] = R(ct_load)(xk[k] + xo + v * VL);
                for (int c = 0; c < cb; c++) {
                    const R(ctv) dv = R(ct_load)(dr + c * sp->dch + v * VL);
                    for (int k = 0; k < kb; k++) s[c][k] = R(ct_fma)(dv, xv[k], s[c][k]);
                }
            }
        }
    for (int c = 0; c < cb; c++)
        for (int k = 0; k < kb; k++) R(ct_store)(acc + (c * kb + k) * VL, s[c][k]);
}

/* The tile shapes: cb channels x kb inputs, about 12 accumulators (16 vector registers with AVX2). */
static int R(ct_dw_kb)(int cb)
{
    return cb >= 6 ? 2 : cb >= 4 ? 3 : cb >= 2 ? 5 : 7;
}

static void R(ct_dw_tile_any)(const real *const *xk, const real *dyp, const R(ct_span) *sp, real *acc,
                              int cb, int kb)
{
    switch (cb * 8 + kb) {
    case 6 * 8 + 2: R(ct_dw_tile)(xk, dyp, sp, acc, 6, 2); break;
    case 6 * 8 + 1: R(ct_dw_tile)(xk, dyp, sp, acc, 6, 1); break;
    case 4 * 8 + 3: R(ct_dw_tile)(xk, dyp, sp, acc, 4, 3); break;
    case 4 * 8 + 2: R(ct_dw_tile)(xk, dyp, sp, acc, 4, 2); break;
    case 4 * 8 + 1: R(ct_dw_tile)(xk, dyp, sp, acc, 4, 1); break;
    case 2 * 8 + 5: R(ct_dw_tile)(xk, dyp, sp, acc, 2, 5); break;
    case 2 * 8 + 4: R(ct_dw_tile)(xk, dyp, sp, acc, 2, 4); break;
    case 2 * 8 + 3: R(ct_dw_tile)(xk, dyp, sp, acc, 2, 3); break;
    case 2 * 8 + 2: R(ct_dw_tile)(xk, dyp, sp, acc, 2, 2); break;
    case 2 * 8 + 1: R(ct_dw_tile)(xk, dyp, sp, acc, 2, 1); break;
    case 1 * 8 + 7: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 7); break;
    case 1 * 8 + 6: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 6); break;
    case 1 * 8 + 5: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 5); break;
    case 1 * 8 + 4: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 4); break;
    case 1 * 8 + 3: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 3); break;
    case 1 * 8 + 2: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 2); break;
    default: R(ct_dw_tile)(xk, dyp, sp, acc, 1, 1); break;
    }
}

/* Items: (group, phase a, phase b, block of CONVT_CB output channels, block of input channels);
 * every dW element belongs to one item and is summed in the same order whatever the split:
 * images, rows, vectors, then its lanes. The phase's dy is gathered for pl->dw_images images at a
 * time, so that a tile runs over all of them with its sums in registers. */
static void R(ct_dw_direct_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    enum { VL = R(CT_VL) };
    const R(ct_task) *t = vctx;
    const convt_plan *pl = t->pl;
    const convt_axis *ah = &pl->ah, *aw = &pl->aw;
    const int64_t Cg = pl->C_in / pl->groups, Mg = pl->C_out / pl->groups, plane = pl->OH * pl->OW;
    const int64_t Wp = pl->Wp, mblocks = (Mg + CONVT_CB - 1) / CONVT_CB, cbs = (Cg + t->blocks - 1) / t->blocks;
    const int64_t rows_max = (pl->OH - 1) / ah->s + 1, cols_max = (pl->OW - 1) / aw->s + 1;
    const int64_t dstride = (cols_max + CONVT_VL - 1) / CONVT_VL * CONVT_VL; /* gathered dy rows */
    const int64_t dimg = CONVT_CB * rows_max * dstride;
    real *dyp = R(ct_slice)(pl, part);
    real *acc = dyp + pl->dw_images * dimg; /* vectors of sums, [row tap][k][c] */
    for (int64_t item = begin; item < end; item++) {
        const int64_t cib = item % t->blocks, mbi = item / t->blocks % mblocks;
        const int64_t b = item / t->blocks / mblocks % aw->phases;
        const int64_t a = item / t->blocks / mblocks / aw->phases % ah->phases;
        const int64_t gr = item / t->blocks / mblocks / aw->phases / ah->phases;
        const int64_t c0 = cib * cbs, c1 = c0 + cbs < Cg ? c0 + cbs : Cg;
        const int64_t m0 = mbi * CONVT_CB, mn = Mg - m0 < CONVT_CB ? Mg - m0 : CONVT_CB;
        const int64_t Ta = ct_taps(ah, a), Tb = ct_taps(aw, b), na = ct_len(ah, a), nb = ct_len(aw, b);
        const int64_t kn = (c1 - c0) * Tb; /* inputs per row tap */
        if (c1 <= c0 || Ta == 0 || Tb == 0) continue;
        const int64_t nvec = (nb + VL - 1) / VL;
        for (int64_t i = 0; i < Ta * kn * mn * VL; i++) acc[i] = 0;
        for (int64_t n0 = 0; n0 < pl->N; n0 += pl->dw_images) {
            const int64_t nimg = pl->N - n0 < pl->dw_images ? pl->N - n0 : pl->dw_images;
            /* dy of the phase for channels m0 .. m0+mn: dyp[img][c][jh][jw], zero past column nb */
            for (int64_t img = 0; img < nimg; img++)
                for (int64_t c = 0; c < mn; c++)
                    for (int64_t jh = 0; jh < na; jh++) {
                        const real *restrict src = t->dy + ((n0 + img) * pl->C_out + gr * Mg + m0 + c) * plane +
                                                   (a + jh * ah->s) * pl->OW + b;
                        real *restrict dst = dyp + img * dimg + (c * rows_max + jh) * dstride;
                        if (aw->s == 2)
                            for (int64_t jw = 0; jw < nb; jw++) dst[jw] = src[2 * jw];
                        else
                            for (int64_t jw = 0; jw < nb; jw++) dst[jw] = src[jw * aw->s];
                        for (int64_t jw = nb; jw < nvec * VL; jw++) dst[jw] = 0;
                    }
            const real *xg = R(ct_xpad)(pl) + (n0 * pl->C_in + gr * Cg) * pl->H * Wp + pl->pad_l;
            for (int64_t ta = 0; ta < Ta; ta++) {
                const int64_t off = ah->off[ah->first[a] + ta];
                const int64_t r0 = -off > 0 ? -off : 0, r1 = pl->H - off < na ? pl->H - off : na;
                if (r1 <= r0) continue;
                const R(ct_span) sp = {nimg, r1 - r0, nvec, pl->C_in * pl->H * Wp, Wp, dimg,
                                       rows_max * dstride, dstride};
                real *acc_t = acc + ta * kn * mn * VL;
                for (int64_t mc = 0; mc < mn;) {
                    const int cb = mn - mc >= CONVT_CB ? CONVT_CB : mn - mc >= 4 ? 4 : mn - mc >= 2 ? 2 : 1;
                    const int kbmax = R(ct_dw_kb)(cb);
                    for (int64_t k0 = 0; k0 < kn; k0 += kbmax) {
                        const int kb = (int)(kn - k0 < kbmax ? kn - k0 : kbmax);
                        const real *xk[CT_KB];
                        int64_t ci = c0 + k0 / Tb, tb = k0 % Tb; /* k0 + k = (ci - c0)*Tb + tb */
                        for (int k = 0; k < kb; k++) {
                            xk[k] = xg + (ci * pl->H + r0 + off) * Wp + aw->off[aw->first[b] + tb];
                            if (++tb == Tb) tb = 0, ci++;
                        }
                        /* this tile's sums, rows mc .. mc+cb of the [k][m] block, k0 .. k0+kb */
                        real tile[CONVT_CB * CT_KB * R(CT_VL)];
                        for (int c = 0; c < cb; c++)
                            for (int k = 0; k < kb; k++)
                                memcpy(tile + (c * kb + k) * VL, acc_t + ((k0 + k) * mn + mc + c) * VL, VL * sizeof(real));
                        R(ct_dw_tile_any)(xk, dyp + (mc * rows_max + r0) * dstride, &sp, tile, cb, kb);
                        for (int c = 0; c < cb; c++)
                            for (int k = 0; k < kb; k++)
                                memcpy(acc_t + ((k0 + k) * mn + mc + c) * VL, tile + (c * kb + k) * VL, VL * sizeof(real));
                    }
                    mc += cb;
                }
            }
        }
        for (int64_t ta = 0; ta < Ta; ta++)
            for (int64_t k = 0; k < kn; k++)
                for (int64_t c = 0; c < mn; c++) {
                    const real *lanes = acc + ((ta * kn + k) * mn + c) * VL;
                    real sum = 0;
                    for (int l = 0; l < VL; l++) sum += lanes[l];
                    const int64_t ci = c0 + k / Tb, tb = k % Tb;
                    const int64_t kh = ah->kk[ah->first[a] + ta], kw = aw->kk[aw->first[b] + tb];
                    t->dw[(((gr * Cg + ci) * Mg + m0 + c) * pl->kH + kh) * pl->kW + kw] += sum;
                }
    }
}

/* ---- entry points (through the kernel table) ---------------------------------------------------------- */

/* y = conv_transpose(x, w) + b (y overwritten), x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW),
 * b (C_out) or NULL, y (N, C_out, OH, OW); pl bound to its scratch. */
void R(convt_forward)(const convt_plan *pl, const real *x, const real *w, const real *b, real *y)
{
    const int64_t Mg = pl->C_out / pl->groups, plane = pl->OH * pl->OW;
    if (pl->path == CONVT_PHASE_DIRECT || pl->path == CONVT_PHASE_GEMM) {
        R(ct_pad)(pl, x);
        R(ct_pack_weights)(pl, w);
        if (pl->path == CONVT_PHASE_DIRECT) {
            const int64_t blocks = (Mg + CONVT_CB - 1) / CONVT_CB;
            R(ct_task) t = {pl, x, w, b, NULL, y, NULL, blocks};
            const double work = (double)CONVT_CB * pl->OW * (pl->C_in / pl->groups) *
                                (double)pl->ah.max_taps * (double)pl->aw.max_taps / (double)pl->aw.s;
            cnn_parallel_for(pl->N * pl->groups * blocks * pl->OH, cnn_work_grain(work), pl->threads,
                             R(ct_fwd_direct_task), &t);
        } else {
            R(ct_task) t = {pl, x, w, b, NULL, y, NULL, 0};
            const double work = (double)Mg * (double)plane * (pl->C_in / pl->groups) *
                                (double)pl->ah.max_taps * (double)pl->aw.max_taps /
                                ((double)pl->ah.phases * (double)pl->aw.phases);
            cnn_parallel_for(pl->N * pl->groups * pl->ah.phases * pl->aw.phases, cnn_work_grain(work),
                             pl->threads, R(ct_fwd_gemm_task), &t);
        }
        return;
    }
    /* the reference or general path: the bias, then conv's input gradient adds the rest */
    for (int64_t n = 0; n < pl->N; n++)
        for (int64_t c = 0; c < pl->C_out; c++) {
            const real v = b ? b[c] : 0;
            real *yc = y + (n * pl->C_out + c) * plane;
            for (int64_t p = 0; p < plane; p++) yc[p] = v;
        }
    if (pl->C_in > 0) /* no input channels: the output is the bias */
        CT_K(pl, conv_backward_data)(&pl->g, pl->path == CONVT_REFERENCE ? CNN_ALGO_REFERENCE : pl->conv_algo,
                                     x, w, y, pl->work);
}

/* dx (like x), dw (like w), db (C_out) += the gradients given dy (N, C_out, OH, OW); any may be
 * NULL (x is needed for dw, w for dx). */
void R(convt_backward)(const convt_plan *pl, const real *dy, const real *x, const real *w, real *dx,
                       real *dw, real *db)
{
    const cnn_algo conv_algo = pl->path == CONVT_REFERENCE ? CNN_ALGO_REFERENCE : pl->conv_algo;
    if (db) CT_K(pl, bias_backward)(pl->N, pl->C_out, pl->OH * pl->OW, dy, db);
    if (pl->C_in == 0) return; /* dx and dw are empty */
    if (dx) CT_K(pl, conv_forward)(&pl->g, conv_algo, dy, w, NULL, dx, 1, pl->work);
    if (!dw) return;
    if (pl->path == CONVT_PHASE_DIRECT && !pl->dw_conv) {
        R(ct_pad)(pl, x);
        /* items (group, phase, channel block, input block): enough input blocks for four items
         * per thread, so that phases with few taps even out */
        const int64_t Cg = pl->C_in / pl->groups, mblocks = (pl->C_out / pl->groups + CONVT_CB - 1) / CONVT_CB;
        const int64_t per = pl->groups * pl->ah.phases * pl->aw.phases * mblocks;
        int64_t blocks = (4 * pl->threads + per - 1) / per;
        blocks = blocks < Cg ? blocks : Cg;
        R(ct_task) t = {pl, x, NULL, NULL, dy, NULL, dw, blocks};
        const double work = (double)pl->N * (double)pl->OH * (double)pl->OW * (double)pl->kH *
                            (double)pl->kW * CONVT_CB * (double)Cg / (double)blocks /
                            ((double)pl->ah.s * (double)pl->aw.s * (double)pl->ah.phases * (double)pl->aw.phases);
        cnn_parallel_for(per * blocks, cnn_work_grain(work), pl->threads, R(ct_dw_direct_task), &t);
    } else if (pl->path == CONVT_PHASE_GEMM) {
        R(ct_pad)(pl, x);
        /* enough items for every thread, even with one phase and one group (stride 1) */
        const int64_t per = pl->groups * pl->ah.phases * pl->aw.phases, Cg = pl->C_in / pl->groups;
        int64_t blocks = (2 * pl->threads + per - 1) / per;
        blocks = blocks < Cg ? blocks : Cg;
        R(ct_task) t = {pl, x, NULL, NULL, dy, NULL, dw, blocks};
        const double work = (double)pl->N * (double)pl->OH * (double)pl->OW * (double)Cg / (double)blocks *
                            (double)(pl->C_out / pl->groups) * (double)pl->kH * (double)pl->kW /
                            ((double)per * (double)pl->ah.s * (double)pl->aw.s);
        cnn_parallel_for(per * blocks, cnn_work_grain(work), pl->threads, R(ct_dw_gemm_task), &t);
    } else { /* conv's weight gradient with the data and output-gradient roles exchanged (the
                general path, and AUTO's choice on the phase path: pl->dw_conv) */
        CT_K(pl, conv_backward_weight)(&pl->g, conv_algo, x, dy, dw, pl->work);
    }
}
