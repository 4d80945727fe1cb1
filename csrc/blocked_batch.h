/* blocked_batch.h — the blocked convolution's forward tiles vectorised over images: lane l of a
 * vector is image n0 + l of a block of DS_VW images. Every lane is useful whatever the row width
 * or the channel count, where the pixel tiles (blocked_simd.h) fill rows of 11 into 16 lanes and
 * the channel tiles (blocked_channels.h) 20 channels into 32 (the MNIST net's second layer).
 * Included by blocked_simd.h after blocked_channels.h; same instruction set, same vector layer
 * (ds_vec ...), and transpose_simd.h's 8 x 8 transposes for the layout changes.
 *
 * The layout: per (block of images, group), xb[ci][r][c][l] = xpad_{n0+l}[ci][r][c] for the
 * padded extent the outputs read (direct_padded_dims: Hp x Wp; zero outside the image and past
 * the batch). Output p = (oh, ow) of channel m is
 *     bias[m] + sum over (ci, kh, kw) in that order of w[m][ci][kh][kw] *
 *                  xb[ci][oh*sH + kh*dilH][ow*sW + kw*dilW][l],
 * the order of the pixel tiles (which skip kernel rows lying wholly in the padding: zero
 * products, so results differ from theirs at most in the sign of a zero sum or where a weight
 * is infinite). A register tile holds BB_C output channels x BB_R outputs (consecutive in p,
 * across rows); per (ci, tap) BB_C broadcast weights and BB_R vector loads feed BB_C*BB_R fused
 * multiply-adds. Tiles of a chunk of BB_P outputs go to a staging buffer [c][p][l], which 8 x 8
 * transposes write to y. Results do not depend on the thread count: each output is one tile's
 * sum in a fixed order. */

#if DS_VW >= 16
#define BB_C 4 /* 24 accumulators + 4 weights + 1 input of 32 registers */
#define BB_R 6
#else
#define BB_C 3 /* 12 + 3 + 1 of 16 */
#define BB_R 4
#endif
#define BB_P 48 /* outputs per staged chunk: a multiple of BB_R and of 8 */

/* The largest image block's input (Cg*Hp*Wp*DS_VW floats) the rule takes: 1 MB, half of the
 * measured Intel machine's L2 per core (the MNIST layer's takes 144 KB). */
#define BB_MAX_BLOCK (1 << 18)

/* Whether the forward (and a stride-1 input gradient or a strided one's phase: the forward of
 * its transposed problem) runs the image tiles: the images fill at least 7/8 of their vectors'
 * lanes, the output rows are short (OW <= 1.5 vectors: the pixel tiles drop lanes), the
 * reduction per output is long enough to pay for the two layout changes (Cg*kH*kW >= 64), the
 * tiles' channel blocks are mostly full (Mg / whole blocks >= BB_MIN_FILL) and an image block's
 * input stays in L2 (BB_MAX_BLOCK). Measured at one thread against the pixel and channel tiles
 * (docs/DECISIONS.md), forward, old time / new time (two runs each):
 *   AVX-512 (Intel): 1.3-2.4x on (32,10->20,13x13) 5x5 (the MNIST net), 1.4x on (32,20->20,
 *   13x13) 5x5, 1.2x on (32,10->20,17x17) 5x5 and (32,8->8,24x24) 3x3, 1.9-2.1x on
 *   (32,16->16,14x14) and 1.6-1.7x on (32,32->32,7x7) 3x3, 4.1-4.2x on (16,8->8,16x16) 3x3
 *   stride 2; 0.94-0.96x on (64,20->10,15x15) 5x5 p3 and 0.91-0.94x on (32,10->10,21x21) 5x5
 *   (10 channels fill 10 of 12 tile rows: excluded by the fill), 0.87x on (32,3->16,28x28) 3x3
 *   (excluded: Cg*T = 27).
 *   AVX2 (the same CPU; against PyTorch's time in the same run, the host being noisy): 1.05-1.1x
 *   on the MNIST layer, 1.3-1.4x on (32,8->8,12x12) 3x3, 1.3-1.9x on (32,10->10,13x13) 5x5 (10
 *   channels in 4 tiles of 3: hence AVX2's lower fill), 2.0-2.1x on the stride-2 layer; 0.9-1.0x
 *   on 14- and 17-wide rows (excluded: wider than 12). */
#if DS_VW >= 16
#define BB_MIN_FILL 0.9
#else
#define BB_MIN_FILL 0.8
#endif
static int bb_forward_wins(const conv_geom *g)
{
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    if (g->N < DS_VW || Cg <= 0 || Mg <= 0 || g->OW <= 0 || g->OH <= 0) return 0;
    const int64_t nib = (g->N + DS_VW - 1) / DS_VW, ncb = (Mg + BB_C - 1) / BB_C;
    if (8 * g->N < 7 * nib * DS_VW || 2 * g->OW > 3 * DS_VW || Cg * g->kH * g->kW < 64 ||
        (double)Mg < BB_MIN_FILL * (double)(ncb * BB_C))
        return 0;
    int64_t Hp, Wp;
    direct_padded_dims(g, &Hp, &Wp);
    return (double)Cg * (double)Hp * (double)Wp * DS_VW <= (double)BB_MAX_BLOCK;
}

/* Scratch, in floats: shared (the packed weights, then every (image block, group)'s input) and
 * per part (a staged chunk); returns where the input starts (the weights' length rounded up to
 * 16 floats). */
static int64_t bb_forward_sizes(const conv_geom *g, int64_t *shared, int64_t *slot)
{
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, T = g->kH * g->kW;
    const int64_t nib = (g->N + DS_VW - 1) / DS_VW, ncb = (Mg + BB_C - 1) / BB_C;
    int64_t Hp, Wp;
    direct_padded_dims(g, &Hp, &Wp);
    const int64_t wsize = (g->groups * ncb * BB_C * Cg * T + 15) & ~(int64_t)15;
    *shared = wsize + nib * g->groups * Cg * Hp * Wp * DS_VW;
    *slot = BB_C * BB_P * DS_VW;
    return wsize;
}

typedef struct {
    const conv_geom *g;
    const float *x, *b, *wb;
    float *xb, *y, *parts;
    int64_t Hp, Wp, slot;
    int accumulate;
} bb_args;

/* Items: (image block, group, input channel): xb's rows for that channel, 8 x 8 transposes where
 * 8 images and 8 columns are inside, single elements elsewhere. */
static void bb_fill_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const bb_args *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, H = g->H, W = g->W, Hp = t->Hp, Wp = t->Wp;
    const int64_t xs = g->C_in * H * W; /* one image */
    (void)part;
    for (int64_t item = begin; item < end; item++) {
        const int64_t ib = item / (g->groups * Cg), gc = item % (g->groups * Cg);
        const int64_t n0 = ib * DS_VW, nv = g->N - n0 < DS_VW ? g->N - n0 : DS_VW;
        float *xc = t->xb + item * Hp * Wp * DS_VW; /* [ib][gr][ci] */
        const float *src = t->x + n0 * xs + gc * H * W;
        /* columns c of xb with input column c - pL in [0, W) */
        const int64_t lo = g->pL < Wp ? g->pL : Wp, hi = g->pL + W < Wp ? g->pL + W : Wp;
        for (int64_t r = 0; r < Hp; r++) {
            float *row = xc + r * Wp * DS_VW;
            const int64_t ih = r - g->pT;
            if (ih < 0 || ih >= H || hi <= lo) {
                memset(row, 0, (size_t)(Wp * DS_VW) * sizeof(float));
                continue;
            }
            memset(row, 0, (size_t)(lo * DS_VW) * sizeof(float));
            memset(row + hi * DS_VW, 0, (size_t)((Wp - hi) * DS_VW) * sizeof(float));
            const float *s = src + ih * W - g->pL;
            int64_t l0 = 0;
            for (; l0 + 8 <= nv; l0 += 8) {
                int64_t c = lo;
                for (; c + 8 <= hi; c += 8)
                    ts_transpose8(s + l0 * xs + c, xs, row + c * DS_VW + l0, DS_VW);
                for (; c < hi; c++)
                    for (int64_t l = l0; l < l0 + 8; l++) row[c * DS_VW + l] = s[l * xs + c];
            }
            for (int64_t c = lo; c < hi; c++) /* the images left, then zeros past the batch */
                for (int64_t l = l0; l < DS_VW; l++)
                    row[c * DS_VW + l] = l < nv ? s[l * xs + c] : 0.0f;
        }
    }
}

/* acc[c][i] = bias[c] + sum over ci < Cg, taps of wb[(ci*T + t)*BB_C + c] * xp[i][o(ci, t)],
 * stored to buf[(c*BB_P + i)*DS_VW]. Inlined with constant nc, nr: the tile lives in registers. */
CNN_FORCE_INLINE void
bb_tile(const float *restrict xb, const int64_t *restrict q, const conv_geom *g, int64_t Cg,
        int64_t Hp, int64_t Wp, const float *restrict wb, const float *restrict bias, const int nc,
        const int nr, float *restrict buf)
{
    ds_vec acc[BB_C][BB_R];
    const float *xp[BB_R];
#pragma GCC unroll 8
    for (int i = 0; i < nr; i++) xp[i] = xb + q[i];
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
#pragma GCC unroll 8
        for (int i = 0; i < nr; i++) acc[c][i] = ds_set1(bias[c]);
    const int64_t kH = g->kH, kW = g->kW, rs = g->dilH * Wp * DS_VW, cs = g->dilW * DS_VW;
    for (int64_t ci = 0; ci < Cg; ci++)
        for (int64_t kh = 0; kh < kH; kh++) {
            const int64_t o0 = (ci * Hp * Wp) * DS_VW + kh * rs;
            const float *wr = wb + (ci * kH + kh) * kW * BB_C;
            for (int64_t kw = 0; kw < kW; kw++) {
                const int64_t o = o0 + kw * cs;
                ds_vec wv[BB_C];
#pragma GCC unroll 8
                for (int c = 0; c < nc; c++) wv[c] = ds_set1(wr[kw * BB_C + c]);
#pragma GCC unroll 8
                for (int i = 0; i < nr; i++) {
                    const ds_vec xv = ds_load(xp[i] + o);
#pragma GCC unroll 8
                    for (int c = 0; c < nc; c++) acc[c][i] = ds_fma(wv[c], xv, acc[c][i]);
                }
            }
        }
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
#pragma GCC unroll 8
        for (int i = 0; i < nr; i++) ds_store(buf + (c * BB_P + i) * DS_VW, acc[c][i]);
}

/* y[l][c][j] (+)= buf[(c*BB_P + j)*DS_VW + l] for images l < nv, channels c < nc, outputs j < np
 * (y at image n0's channel m0 and output p0; images C_out*P apart, channels P apart). */
static void bb_put(const float *buf, int64_t nc, int64_t np, int64_t nv, float *y, int64_t ys,
                   int64_t P, int accumulate)
{
    float tmp[64];
    for (int64_t c = 0; c < nc; c++) {
        const float *bc = buf + c * BB_P * DS_VW;
        float *yc = y + c * P;
        int64_t l0 = 0;
        for (; l0 + 8 <= nv; l0 += 8) {
            int64_t j = 0;
            for (; j + 8 <= np; j += 8) {
                if (!accumulate) {
                    ts_transpose8(bc + j * DS_VW + l0, DS_VW, yc + l0 * ys + j, ys);
                    continue;
                }
                ts_transpose8(bc + j * DS_VW + l0, DS_VW, tmp, 8);
                for (int64_t l = 0; l < 8; l++)
                    for (int64_t k = 0; k < 8; k++) yc[(l0 + l) * ys + j + k] += tmp[l * 8 + k];
            }
            for (; j < np; j++)
                for (int64_t l = l0; l < l0 + 8; l++) {
                    float *d = yc + l * ys + j;
                    *d = accumulate ? *d + bc[j * DS_VW + l] : bc[j * DS_VW + l];
                }
        }
        for (int64_t l = l0; l < nv; l++)
            for (int64_t j = 0; j < np; j++) {
                float *d = yc + l * ys + j;
                *d = accumulate ? *d + bc[j * DS_VW + l] : bc[j * DS_VW + l];
            }
    }
}

/* Items: (image block, group, block of BB_C output channels), all outputs of each. */
static void bb_forward_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const bb_args *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, T = g->kH * g->kW;
    const int64_t ncb = (Mg + BB_C - 1) / BB_C, P = g->OH * g->OW, OW = g->OW;
    const int64_t Hp = t->Hp, Wp = t->Wp, ys = g->C_out * P;
    float *buf = t->parts + part * t->slot;
    for (int64_t item = begin; item < end; item++) {
        const int64_t ib = item / (g->groups * ncb), gr = item / ncb % g->groups, cb = item % ncb;
        const int64_t n0 = ib * DS_VW, nv = g->N - n0 < DS_VW ? g->N - n0 : DS_VW;
        const int64_t m0 = cb * BB_C, nc = Mg - m0 < BB_C ? Mg - m0 : BB_C, co = gr * Mg + m0;
        const float *xb = t->xb + (ib * g->groups + gr) * Cg * Hp * Wp * DS_VW;
        const float *wb = t->wb + (gr * ncb + cb) * Cg * T * BB_C;
        float bias[BB_C] = {0};
        for (int64_t c = 0; c < nc; c++) bias[c] = t->b ? t->b[co + c] : 0.0f;
        for (int64_t p0 = 0; p0 < P; p0 += BB_P) {
            const int64_t np = P - p0 < BB_P ? P - p0 : BB_P;
            for (int64_t i0 = 0; i0 < np; i0 += BB_R) {
                int64_t q[BB_R];
                for (int64_t i = 0; i < BB_R; i++) { /* a short last tile repeats its last output */
                    const int64_t p = p0 + (i0 + i < np ? i0 + i : np - 1);
                    q[i] = ((p / OW) * g->sH * Wp + (p % OW) * g->sW) * DS_VW;
                }
                float *bt = buf + i0 * DS_VW;
                switch (nc) {
#if BB_C >= 4
                case 4: bb_tile(xb, q, g, Cg, Hp, Wp, wb, bias, 4, BB_R, bt); break;
#endif
                case 3: bb_tile(xb, q, g, Cg, Hp, Wp, wb, bias, 3, BB_R, bt); break;
                case 2: bb_tile(xb, q, g, Cg, Hp, Wp, wb, bias, 2, BB_R, bt); break;
                default: bb_tile(xb, q, g, Cg, Hp, Wp, wb, bias, 1, BB_R, bt); break;
                }
            }
            bb_put(buf, nc, np, nv, t->y + n0 * ys + co * P + p0, ys, P, t->accumulate);
        }
    }
}

/* y (+)= conv(x, w) + b on the image tiles (bk_forward's arguments). */
static void bb_forward(const conv_geom *g, const float *x, const float *w, int transposed,
                       const int64_t *tmap, int64_t Tw, const float *b, float *y, int accumulate,
                       float *scratch)
{
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, T = g->kH * g->kW;
    const int64_t nib = (g->N + DS_VW - 1) / DS_VW, ncb = (Mg + BB_C - 1) / BB_C;
    int64_t shared, slot, Hp, Wp;
    const int64_t wsize = bb_forward_sizes(g, &shared, &slot);
    direct_padded_dims(g, &Hp, &Wp);
    float *wb = scratch, *xb = scratch + wsize;
    bk_pack_weights(w, g->groups, Mg, Cg, T, transposed, BB_C, wb, tmap, Tw);
    float *parts = scratch + ((shared + 15) & ~(int64_t)15);
    bb_args t = {g, x, b, wb, xb, y, parts, Hp, Wp, slot, accumulate};
    /* a copied element counts as 16 multiply-adds: on the MNIST layer the copy took 10% of a
     * 176 us call at two threads (72K elements, ~0.24 ns each), the tiles ~0.012 ns per
     * multiply-add; counted as one, the copy stayed below cnn_min_part_work and ran on one
     * thread while the other waited */
    cnn_parallel_for(nib * g->groups * Cg, cnn_work_grain(16.0 * (double)Hp * Wp * DS_VW), g->threads,
                     bb_fill_task, &t);
    const double work = (double)g->OH * (double)g->OW * BB_C * DS_VW * Cg * T;
    cnn_parallel_for(nib * g->groups * ncb, cnn_work_grain(work), g->threads, bb_forward_task, &t);
}
