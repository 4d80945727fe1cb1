/* generic/conv.h — convolution kernels for one dtype (`real`, suffix R()): the plain reference
 * loops, the direct row kernels (small channel counts) and im2col-tile + GEMM (larger ones), each
 * for forward, input gradient and weight gradient. Compiled per dtype and instruction set
 * (csrc/isa_body.h). */

/* ---- reference kernels: the definition, one output element at a time ---------------------------- */

static void R(conv_forward_ref)(const conv_geom *g, const real *x, const real *w, const real *b,
                                real *y, int accumulate)
{
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t co = 0; co < g->C_out; co++) {
            const int64_t c0 = (co / Mg) * Cg;
            for (int64_t oh = 0; oh < g->OH; oh++)
                for (int64_t ow = 0; ow < g->OW; ow++) {
                    real s = 0;
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t kh = 0; kh < g->kH; kh++)
                            for (int64_t kw = 0; kw < g->kW; kw++) {
                                int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
                                int64_t iw = ow * g->sW - g->pL + kw * g->dilW;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += x[((n * g->C_in + c0 + ci) * g->H + ih) * g->W + iw] *
                                     w[((co * Cg + ci) * g->kH + kh) * g->kW + kw];
                            }
                    if (b) s += b[co];
                    real *yo = &y[((n * g->C_out + co) * g->OH + oh) * g->OW + ow];
                    *yo = accumulate ? *yo + s : s;
                }
        }
}

static void R(conv_backward_data_ref)(const conv_geom *g, const real *dy, const real *w, real *dx)
{
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t co = 0; co < g->C_out; co++) {
            const int64_t c0 = (co / Mg) * Cg;
            for (int64_t oh = 0; oh < g->OH; oh++)
                for (int64_t ow = 0; ow < g->OW; ow++) {
                    const real d = dy[((n * g->C_out + co) * g->OH + oh) * g->OW + ow];
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t kh = 0; kh < g->kH; kh++)
                            for (int64_t kw = 0; kw < g->kW; kw++) {
                                int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
                                int64_t iw = ow * g->sW - g->pL + kw * g->dilW;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                dx[((n * g->C_in + c0 + ci) * g->H + ih) * g->W + iw] +=
                                    d * w[((co * Cg + ci) * g->kH + kh) * g->kW + kw];
                            }
                }
        }
}

static void R(conv_backward_weight_ref)(const conv_geom *g, const real *dy, const real *x,
                                        real *dw)
{
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    for (int64_t co = 0; co < g->C_out; co++) {
        const int64_t c0 = (co / Mg) * Cg;
        for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t kh = 0; kh < g->kH; kh++)
                for (int64_t kw = 0; kw < g->kW; kw++) {
                    real s = 0;
                    for (int64_t n = 0; n < g->N; n++)
                        for (int64_t oh = 0; oh < g->OH; oh++)
                            for (int64_t ow = 0; ow < g->OW; ow++) {
                                int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
                                int64_t iw = ow * g->sW - g->pL + kw * g->dilW;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += dy[((n * g->C_out + co) * g->OH + oh) * g->OW + ow] *
                                     x[((n * g->C_in + c0 + ci) * g->H + ih) * g->W + iw];
                            }
                    dw[((co * Cg + ci) * g->kH + kh) * g->kW + kw] += s;
                }
    }
}

/* ---- direct kernels: whole output rows, vectorised along the width ---------------------------- */

/* y[co][oh] (+)= bias + sum over ci, kh, kw of w[co][ci][kh][kw] * x[ci][ih][kw*dilW - pL + ow*sW],
 * for output channels co0 and, when `pair`, co0 + 1 (same group): the input row segment loaded
 * for one tap feeds both rows. Stride-1 rows are contiguous and vectorise. */
static void R(direct_rows)(const conv_geom *g, const real *xg, const real *w0, int pair,
                           real *restrict y0, int64_t oh)
{
    const int64_t Cg = g->C_in / g->groups, kk = Cg * g->kH * g->kW, OW = g->OW, sW = g->sW;
    real *restrict y1 = y0 + g->OH * OW;
    for (int64_t ci = 0; ci < Cg; ci++)
        for (int64_t kh = 0; kh < g->kH; kh++) {
            const int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
            if (ih < 0 || ih >= g->H) continue;
            const real *restrict xr = xg + (ci * g->H + ih) * g->W;
            for (int64_t kw = 0; kw < g->kW; kw++) {
                const int64_t off = kw * g->dilW - g->pL, wi = (ci * g->kH + kh) * g->kW + kw;
                const real a = w0[wi], c = pair ? w0[kk + wi] : 0;
                int64_t lo, hi;
                ow_range(OW, g->W, sW, off, &lo, &hi);
                if (sW == 1 && pair) {
                    const real *restrict xs = xr + off;
                    for (int64_t ow = lo; ow < hi; ow++) {
                        y0[ow] += a * xs[ow];
                        y1[ow] += c * xs[ow];
                    }
                } else if (sW == 1) {
                    const real *restrict xs = xr + off;
                    for (int64_t ow = lo; ow < hi; ow++) y0[ow] += a * xs[ow];
                } else {
                    for (int64_t ow = lo; ow < hi; ow++) y0[ow] += a * xr[ow * sW + off];
                    if (pair)
                        for (int64_t ow = lo; ow < hi; ow++) y1[ow] += c * xr[ow * sW + off];
                }
            }
        }
}

/* The arguments of a convolution kernel, handed to its parallel tasks. */
typedef struct {
    const conv_geom *g;
    const real *x, *w, *b, *dy;
    real *y, *dx, *dw, *scratch;
    int accumulate;
} R(conv_task);

/* Items: (image, group, pair of output channels); each computes its own output rows. */
static void R(forward_direct_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(conv_task) *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, P = g->OH * g->OW;
    const int64_t kk = Cg * g->kH * g->kW, pairs = (Mg + 1) / 2;
    (void)part;
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / (g->groups * pairs), gr = item / pairs % g->groups;
        const int64_t co = gr * Mg + item % pairs * 2;
        const int pair = co + 1 < (gr + 1) * Mg;
        const real *xg = t->x + (n * g->C_in + gr * Cg) * g->H * g->W;
        real *yc = t->y + (n * g->C_out + co) * P;
        for (int64_t c = 0; c <= pair; c++) { /* start from the bias (or add it) */
            const real bias = t->b ? t->b[co + c] : 0;
            real *yp = yc + c * P;
            if (!t->accumulate)
                for (int64_t p = 0; p < P; p++) yp[p] = bias;
            else if (t->b)
                for (int64_t p = 0; p < P; p++) yp[p] += bias;
        }
        for (int64_t oh = 0; oh < g->OH; oh++)
            R(direct_rows)(g, xg, t->w + co * kk, pair, yc + oh * g->OW, oh);
    }
}

static void R(conv_forward_direct)(const conv_geom *g, const real *x, const real *w,
                                   const real *b, real *y, int accumulate)
{
    R(conv_task) t = {g, x, w, b, NULL, y, NULL, NULL, NULL, accumulate};
    const int64_t pairs = (g->C_out / g->groups + 1) / 2;
    const double work = (double)2 * g->OH * g->OW * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(g->N * g->groups * pairs, cnn_work_grain(work), g->threads, R(forward_direct_task), &t);
}

/* dx rows += w * dy rows, scattered along each kernel tap (any stride). Items: (image, group),
 * whose input-gradient planes no other item touches. */
static void R(backward_data_direct_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(conv_task) *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    const int64_t OW = g->OW, sW = g->sW;
    (void)part;
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / g->groups, gr = item % g->groups;
        for (int64_t co = gr * Mg; co < (gr + 1) * Mg; co++) {
            const int64_t c0 = gr * Cg;
            const real *wc = t->w + co * Cg * g->kH * g->kW;
            for (int64_t oh = 0; oh < g->OH; oh++) {
                const real *restrict dyr = t->dy + ((n * g->C_out + co) * g->OH + oh) * OW;
                for (int64_t ci = 0; ci < Cg; ci++)
                    for (int64_t kh = 0; kh < g->kH; kh++) {
                        const int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
                        if (ih < 0 || ih >= g->H) continue;
                        real *restrict dxr = t->dx + ((n * g->C_in + c0 + ci) * g->H + ih) * g->W;
                        for (int64_t kw = 0; kw < g->kW; kw++) {
                            const int64_t off = kw * g->dilW - g->pL;
                            const real wv = wc[(ci * g->kH + kh) * g->kW + kw];
                            int64_t lo, hi;
                            ow_range(OW, g->W, sW, off, &lo, &hi);
                            if (sW == 1) {
                                real *restrict xs = dxr + off;
                                for (int64_t ow = lo; ow < hi; ow++) xs[ow] += wv * dyr[ow];
                            } else {
                                for (int64_t ow = lo; ow < hi; ow++) dxr[ow * sW + off] += wv * dyr[ow];
                            }
                        }
                    }
            }
        }
    }
}

static void R(conv_backward_data_direct)(const conv_geom *g, const real *dy, const real *w,
                                         real *dx)
{
    R(conv_task) t = {g, NULL, w, NULL, dy, NULL, dx, NULL, NULL, 0};
    const double work = (double)g->OH * g->OW * (g->C_out / g->groups) * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(g->N * g->groups, cnn_work_grain(work), g->threads, R(backward_data_direct_task), &t);
}

/* Lanes of the weight-gradient dot products: 32 bytes (8 float32 or 4 float64). */
enum { R(VW) = 32 / sizeof(real) };

/* xp (C, Hp, Wp) = x (C, H, W) shifted down by pT and right by pL, zero elsewhere, so the
 * weight-gradient kernel reads xp[c][oh*sH + kh*dilH][ow*sW + kw*dilW] without bounds checks. */
static void R(pad_planes)(const real *restrict x, int64_t C, int64_t H, int64_t W, int64_t pT,
                          int64_t pL, int64_t Hp, int64_t Wp, real *restrict xp)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < Hp; r++) {
            real *row = xp + (c * Hp + r) * Wp;
            const int64_t ih = r - pT;
            if (ih < 0 || ih >= H) {
                for (int64_t q = 0; q < Wp; q++) row[q] = 0;
                continue;
            }
            const real *src = x + (c * H + ih) * W;
            for (int64_t q = 0; q < Wp; q++) {
                const int64_t iw = q - pL;
                row[q] = (iw >= 0 && iw < W) ? src[iw] : 0;
            }
        }
}

/* dw[co][ci][kh][kw] += sum over n, oh, ow of dy[n][co][oh][ow] * xp[ci][oh*sH + kh*dilH][ow*sW + kw*dilW]
 * with xp the padded input. Partial sums run in VW lanes (CB output channels share each input
 * load) and are added up in a fixed order. Items: output channels; each part pads the images of
 * the groups it needs into its own scratch slice (Cg * Hp * Wp elements, direct_padded_dims). */
static void R(backward_weight_direct_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    enum { CB = 4, VW = R(VW) };
    const R(conv_task) *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups, P = g->OH * g->OW;
    const int64_t OW = g->OW, sW = g->sW;
    int64_t Hp, Wp, slot;
    direct_padded_dims(g, &Hp, &Wp);
    conv_scratch_len(g, CNN_ALGO_DIRECT, &slot);
    real *xp = t->scratch + part * slot;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t co0 = begin; co0 < end;) {
            const int64_t gr = co0 / Mg, gend = (gr + 1) * Mg < end ? (gr + 1) * Mg : end;
            R(pad_planes)(t->x + (n * g->C_in + gr * Cg) * g->H * g->W, Cg, g->H, g->W, g->pT, g->pL,
                          Hp, Wp, xp);
            for (int64_t co = co0; co < gend; co += CB) {
                const int64_t cb = gend - co < CB ? gend - co : CB;
                const real *dyc = t->dy + (n * g->C_out + co) * P;
                for (int64_t ci = 0; ci < Cg; ci++)
                    for (int64_t kh = 0; kh < g->kH; kh++)
                        for (int64_t kw = 0; kw < g->kW; kw++) {
                            real acc[CB][VW] = {{0}}, tail[CB] = {0};
                            for (int64_t oh = 0; oh < g->OH; oh++) {
                                const real *xs = xp + (ci * Hp + oh * g->sH + kh * g->dilH) * Wp + kw * g->dilW;
                                const real *dyr = dyc + oh * OW;
                                int64_t ow = 0;
                                for (; ow + VW <= OW; ow += VW) {
                                    real xv[VW];
                                    for (int j = 0; j < VW; j++) xv[j] = xs[(ow + j) * sW];
                                    for (int64_t c = 0; c < cb; c++)
                                        for (int j = 0; j < VW; j++) acc[c][j] += dyr[c * P + ow + j] * xv[j];
                                }
                                for (; ow < OW; ow++)
                                    for (int64_t c = 0; c < cb; c++) tail[c] += dyr[c * P + ow] * xs[ow * sW];
                            }
                            for (int64_t c = 0; c < cb; c++) {
                                real sum = tail[c];
                                for (int j = 0; j < VW; j++) sum += acc[c][j];
                                t->dw[(((co + c) * Cg + ci) * g->kH + kh) * g->kW + kw] += sum;
                            }
                        }
            }
            co0 = gend;
        }
}

static void R(conv_backward_weight_direct)(const conv_geom *g, const real *dy, const real *x,
                                           real *dw, real *scratch)
{
    R(conv_task) t = {g, x, NULL, NULL, dy, NULL, NULL, dw, scratch, 0};
    const double work = (double)g->N * g->OH * g->OW * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(g->C_out, cnn_work_grain(work), g->threads, R(backward_weight_direct_task), &t);
}

/* ---- im2col tiles + GEMM ----------------------------------------------------------------------- */

/* col (K, tn) for output pixels [p0, p0+tn) of image channels x (Cg, H, W):
 * col[(ci*kH + kh)*kW + kw][t] = x[ci][oh*sH - pT + kh*dilH][ow*sW - pL + kw*dilW] or 0 outside.
 * Walks the tile one output row segment at a time, so the inner copies are plain runs. */
static void R(im2col_tile)(const conv_geom *g, const real *x, int64_t Cg, int64_t p0, int64_t tn,
                           real *restrict col)
{
    const int64_t OW = g->OW, sW = g->sW;
    for (int64_t ci = 0; ci < Cg; ci++)
        for (int64_t kh = 0; kh < g->kH; kh++)
            for (int64_t kw = 0; kw < g->kW; kw++) {
                const real *xc = x + ci * g->H * g->W;
                const int64_t off = kw * g->dilW - g->pL;
                int64_t lo, hi;
                ow_range(OW, g->W, sW, off, &lo, &hi);
                for (int64_t p = p0; p < p0 + tn;) {
                    const int64_t oh = p / OW, ow0 = p % OW;
                    const int64_t ow1 = OW < ow0 + (p0 + tn - p) ? OW : ow0 + (p0 + tn - p);
                    const int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
                    real *c = col + (p - p0) - ow0;
                    if (ih < 0 || ih >= g->H) {
                        for (int64_t ow = ow0; ow < ow1; ow++) c[ow] = 0;
                    } else {
                        const real *xr = xc + ih * g->W + off;
                        const int64_t a = lo > ow0 ? lo : ow0, b = hi < ow1 ? hi : ow1;
                        for (int64_t ow = ow0; ow < a && ow < ow1; ow++) c[ow] = 0;
                        if (sW == 1)
                            for (int64_t ow = a; ow < b; ow++) c[ow] = xr[ow];
                        else
                            for (int64_t ow = a; ow < b; ow++) c[ow] = xr[ow * sW];
                        for (int64_t ow = b > ow0 ? b : ow0; ow < ow1; ow++) c[ow] = 0;
                    }
                    p += ow1 - ow0;
                }
                col += tn;
            }
}

/* dx (Cg, H, W) += the columns of col (K, tn) put back where im2col_tile took them. */
static void R(col2im_tile)(const conv_geom *g, const real *restrict col, int64_t Cg, int64_t p0,
                           int64_t tn, real *dx)
{
    const int64_t OW = g->OW, sW = g->sW;
    for (int64_t ci = 0; ci < Cg; ci++)
        for (int64_t kh = 0; kh < g->kH; kh++)
            for (int64_t kw = 0; kw < g->kW; kw++) {
                real *xc = dx + ci * g->H * g->W;
                const int64_t off = kw * g->dilW - g->pL;
                int64_t lo, hi;
                ow_range(OW, g->W, sW, off, &lo, &hi);
                for (int64_t p = p0; p < p0 + tn;) {
                    const int64_t oh = p / OW, ow0 = p % OW;
                    const int64_t ow1 = OW < ow0 + (p0 + tn - p) ? OW : ow0 + (p0 + tn - p);
                    const int64_t ih = oh * g->sH - g->pT + kh * g->dilH;
                    if (ih >= 0 && ih < g->H) {
                        const real *c = col + (p - p0) - ow0;
                        real *xr = xc + ih * g->W + off;
                        const int64_t a = lo > ow0 ? lo : ow0, b = hi < ow1 ? hi : ow1;
                        if (sW == 1)
                            for (int64_t ow = a; ow < b; ow++) xr[ow] += c[ow];
                        else
                            for (int64_t ow = a; ow < b; ow++) xr[ow * sW] += c[ow];
                    }
                    p += ow1 - ow0;
                }
                col += tn;
            }
}

/* The column tile and GEMM workspace of scratch slice `part`. */
static real *R(gemm_slot)(const conv_geom *g, real *scratch, int part, real **work)
{
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW;
    int64_t slot;
    conv_scratch_len(g, CNN_ALGO_GEMM, &slot);
    real *col = scratch + part * slot;
    *work = col + (conv_is_pointwise(g) ? 0 : K * conv_tile_len(K, g->OH * g->OW));
    return col;
}

/* Output columns per GEMM item: conv_tile_len's im2col tile; a pointwise convolution (no column
 * matrix) cuts its image into enough tiles to give every thread about two items. */
static int64_t R(gemm_item_cols)(const conv_geom *g, int64_t K, int64_t P)
{
    if (!conv_is_pointwise(g)) return conv_tile_len(K, P);
    const int64_t images = g->N * g->groups, want = 2 * (int64_t)g->threads;
    if (images >= want) return P;
    int64_t cols = (P * images + want - 1) / want;
    cols = (cols + 15) / 16 * 16;
    return cols < P ? cols : P;
}

/* Items: (image, group, column tile); each writes its own output columns. */
static void R(forward_gemm_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(conv_task) *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    const int64_t K = Cg * g->kH * g->kW, P = g->OH * g->OW, tile = R(gemm_item_cols)(g, K, P);
    const int64_t tiles = (P + tile - 1) / tile;
    const int pointwise = conv_is_pointwise(g);
    real *work, *col = R(gemm_slot)(g, t->scratch, part, &work);
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / (g->groups * tiles), gr = item / tiles % g->groups;
        const int64_t p0 = item % tiles * tile, tn = P - p0 < tile ? P - p0 : tile;
        const real *xg = t->x + (n * g->C_in + gr * Cg) * g->H * g->W;
        const real *wg = t->w + gr * Mg * K;
        real *yg = t->y + (n * g->C_out + gr * Mg) * P;
        if (pointwise) {
            R(gemm)(0, 0, Mg, tn, K, wg, K, xg + p0, P, t->accumulate, yg + p0, P, work);
        } else {
            R(im2col_tile)(g, xg, Cg, p0, tn, col);
            R(gemm)(0, 0, Mg, tn, K, wg, K, col, tn, t->accumulate, yg + p0, P, work);
        }
        if (t->b)
            for (int64_t m = 0; m < Mg; m++) {
                const real bias = t->b[gr * Mg + m];
                real *yr = yg + m * P + p0;
                for (int64_t p = 0; p < tn; p++) yr[p] += bias;
            }
    }
}

static void R(conv_forward_gemm)(const conv_geom *g, const real *x, const real *w, const real *b,
                                 real *y, int accumulate, real *scratch)
{
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW, P = g->OH * g->OW;
    const int64_t tile = R(gemm_item_cols)(g, K, P), tiles = (P + tile - 1) / tile;
    R(conv_task) t = {g, x, w, b, NULL, y, NULL, NULL, scratch, accumulate};
    const double work = (double)(g->C_out / g->groups) * tile * K;
    cnn_parallel_for(g->N * g->groups * tiles, cnn_work_grain(work), g->threads, R(forward_gemm_task), &t);
}

/* Items: (image, group): the column tiles of one image overlap in dx, so they stay together;
 * a pointwise convolution's tiles do not, and are items of their own (image, group, tile). */
static void R(backward_data_gemm_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(conv_task) *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    const int64_t K = Cg * g->kH * g->kW, P = g->OH * g->OW, tile = conv_tile_len(K, P);
    real *work, *col = R(gemm_slot)(g, t->scratch, part, &work);
    if (conv_is_pointwise(g)) {
        const int64_t cols = R(gemm_item_cols)(g, K, P), tiles = (P + cols - 1) / cols;
        for (int64_t item = begin; item < end; item++) {
            const int64_t n = item / (g->groups * tiles), gr = item / tiles % g->groups;
            const int64_t p0 = item % tiles * cols, tn = P - p0 < cols ? P - p0 : cols;
            R(gemm)(1, 0, K, tn, Mg, t->w + gr * Mg * K, K, t->dy + (n * g->C_out + gr * Mg) * P + p0,
                    P, 1, t->dx + (n * g->C_in + gr * Cg) * g->H * g->W + p0, P, work);
        }
        return;
    }
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / g->groups, gr = item % g->groups;
        real *dxg = t->dx + (n * g->C_in + gr * Cg) * g->H * g->W;
        const real *wg = t->w + gr * Mg * K;
        const real *dyg = t->dy + (n * g->C_out + gr * Mg) * P;
        for (int64_t p0 = 0; p0 < P; p0 += tile) {
            const int64_t tn = P - p0 < tile ? P - p0 : tile;
            R(gemm)(1, 0, K, tn, Mg, wg, K, dyg + p0, P, 0, col, tn, work);
            R(col2im_tile)(g, col, Cg, p0, tn, dxg);
        }
    }
}

static void R(conv_backward_data_gemm)(const conv_geom *g, const real *dy, const real *w,
                                       real *dx, real *scratch)
{
    R(conv_task) t = {g, NULL, w, NULL, dy, NULL, dx, NULL, scratch, 0};
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW, P = g->OH * g->OW;
    int64_t items = g->N * g->groups;
    double work = (double)(g->C_out / g->groups) * P * K;
    if (conv_is_pointwise(g)) {
        const int64_t cols = R(gemm_item_cols)(g, K, P);
        items *= (P + cols - 1) / cols;
        work = (double)(g->C_out / g->groups) * cols * K;
    }
    cnn_parallel_for(items, cnn_work_grain(work), g->threads, R(backward_data_gemm_task), &t);
}

/* Items: output channels. A part takes a range of rows of dw and sums its images and tiles in
 * order, so every dw element is summed the same way whatever the split. */
static void R(backward_weight_gemm_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(conv_task) *t = vctx;
    const conv_geom *g = t->g;
    const int64_t Cg = g->C_in / g->groups, Mg = g->C_out / g->groups;
    const int64_t K = Cg * g->kH * g->kW, P = g->OH * g->OW, tile = conv_tile_len(K, P);
    const int pointwise = conv_is_pointwise(g);
    real *work, *col = R(gemm_slot)(g, t->scratch, part, &work);
    for (int64_t co0 = begin; co0 < end;) {
        const int64_t gr = co0 / Mg, gend = (gr + 1) * Mg < end ? (gr + 1) * Mg : end;
        const int64_t rows = gend - co0;
        for (int64_t n = 0; n < g->N; n++) {
            const real *xg = t->x + (n * g->C_in + gr * Cg) * g->H * g->W;
            const real *dyg = t->dy + (n * g->C_out + co0) * P;
            real *dwg = t->dw + co0 * K;
            if (pointwise) {
                R(gemm)(0, 1, rows, K, P, dyg, P, xg, P, 1, dwg, K, work);
                continue;
            }
            for (int64_t p0 = 0; p0 < P; p0 += tile) {
                const int64_t tn = P - p0 < tile ? P - p0 : tile;
                R(im2col_tile)(g, xg, Cg, p0, tn, col);
                R(gemm)(0, 1, rows, K, tn, dyg + p0, P, col, tn, 1, dwg, K, work);
            }
        }
        co0 = gend;
    }
}

static void R(conv_backward_weight_gemm)(const conv_geom *g, const real *dy, const real *x,
                                         real *dw, real *scratch)
{
    R(conv_task) t = {g, x, NULL, NULL, dy, NULL, NULL, dw, scratch, 0};
    const double work = (double)g->N * g->OH * g->OW * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(g->C_out, cnn_work_grain(work), g->threads, R(backward_weight_gemm_task), &t);
}

/* ---- entry points for conv.c and conv_transpose.c --------------------------------------------- */
/* `scratch` holds conv_scratch_len(g, algo) elements (NULL when that is 0); algo is never AUTO.
 * WINOGRAD runs this ISA's float32 Winograd kernel where it applies, else BLOCKED;
 * BLOCKED runs this ISA's float32 blocked kernel where it applies, else what conv_direct_or_gemm
 * picks; DIRECT runs the float32 intrinsics row kernels (direct_simd.h) where they apply. */

void R(conv_forward)(const conv_geom *g, cnn_algo algo, const real *x, const real *w,
                     const real *b, real *y, int accumulate, real *scratch)
{
#ifdef CNN_SIMD_WINOGRAD_FORWARD
    if (algo == CNN_ALGO_WINOGRAD && sizeof(real) == sizeof(float) &&
        CNN_SIMD_WINOGRAD_FORWARD(g, (const float *)x, (const float *)w, (const float *)b, (float *)y,
                                  accumulate, (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_WINOGRAD) algo = CNN_ALGO_BLOCKED;
#ifdef CNN_SIMD_BLOCKED_FORWARD
    if (algo == CNN_ALGO_BLOCKED && sizeof(real) == sizeof(float) &&
        CNN_SIMD_BLOCKED_FORWARD(g, (const float *)x, (const float *)w, (const float *)b, (float *)y,
                                 accumulate, (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_BLOCKED) algo = conv_direct_or_gemm(g);
#ifdef CNN_SIMD_CONV_FORWARD
    if (algo == CNN_ALGO_DIRECT && sizeof(real) == sizeof(float) &&
        CNN_SIMD_CONV_FORWARD(g, (const float *)x, (const float *)w, (const float *)b, (float *)y,
                              accumulate, (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_GEMM)
        R(conv_forward_gemm)(g, x, w, b, y, accumulate, scratch);
    else if (algo == CNN_ALGO_DIRECT)
        R(conv_forward_direct)(g, x, w, b, y, accumulate);
    else
        R(conv_forward_ref)(g, x, w, b, y, accumulate);
}

void R(conv_backward_data)(const conv_geom *g, cnn_algo algo, const real *dy, const real *w,
                           real *dx, real *scratch)
{
#ifdef CNN_SIMD_WINOGRAD_BACKWARD_DATA
    if (algo == CNN_ALGO_WINOGRAD && sizeof(real) == sizeof(float) &&
        CNN_SIMD_WINOGRAD_BACKWARD_DATA(g, (const float *)dy, (const float *)w, (float *)dx,
                                        (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_WINOGRAD) algo = CNN_ALGO_BLOCKED;
#ifdef CNN_SIMD_BLOCKED_BACKWARD_DATA
    if (algo == CNN_ALGO_BLOCKED && sizeof(real) == sizeof(float) &&
        CNN_SIMD_BLOCKED_BACKWARD_DATA(g, (const float *)dy, (const float *)w, (float *)dx,
                                       (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_BLOCKED) algo = conv_direct_or_gemm(g);
#ifdef CNN_SIMD_CONV_BACKWARD_DATA
    if (algo == CNN_ALGO_DIRECT && sizeof(real) == sizeof(float) &&
        CNN_SIMD_CONV_BACKWARD_DATA(g, (const float *)dy, (const float *)w, (float *)dx,
                                    (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_GEMM)
        R(conv_backward_data_gemm)(g, dy, w, dx, scratch);
    else if (algo == CNN_ALGO_DIRECT)
        R(conv_backward_data_direct)(g, dy, w, dx);
    else
        R(conv_backward_data_ref)(g, dy, w, dx);
}

void R(conv_backward_weight)(const conv_geom *g, cnn_algo algo, const real *dy, const real *x,
                             real *dw, real *scratch)
{
#ifdef CNN_SIMD_WINOGRAD_BACKWARD_WEIGHT
    if (algo == CNN_ALGO_WINOGRAD && sizeof(real) == sizeof(float) &&
        CNN_SIMD_WINOGRAD_BACKWARD_WEIGHT(g, (const float *)dy, (const float *)x, (float *)dw,
                                          (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_WINOGRAD) algo = CNN_ALGO_BLOCKED;
    if (algo == CNN_ALGO_BLOCKED && sizeof(real) == sizeof(float) && conv_direct_weight_wins(g))
        algo = CNN_ALGO_DIRECT;
#ifdef CNN_SIMD_BLOCKED_BACKWARD_WEIGHT
    if (algo == CNN_ALGO_BLOCKED && sizeof(real) == sizeof(float) &&
        CNN_SIMD_BLOCKED_BACKWARD_WEIGHT(g, (const float *)dy, (const float *)x, (float *)dw,
                                         (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_BLOCKED) algo = conv_direct_or_gemm(g);
#ifdef CNN_SIMD_CONV_BACKWARD_WEIGHT
    if (algo == CNN_ALGO_DIRECT && sizeof(real) == sizeof(float) &&
        CNN_SIMD_CONV_BACKWARD_WEIGHT(g, (const float *)dy, (const float *)x, (float *)dw,
                                      (float *)scratch))
        return;
#endif
    if (algo == CNN_ALGO_GEMM)
        R(conv_backward_weight_gemm)(g, dy, x, dw, scratch);
    else if (algo == CNN_ALGO_DIRECT)
        R(conv_backward_weight_direct)(g, dy, x, dw, scratch);
    else
        R(conv_backward_weight_ref)(g, dy, x, dw);
}

typedef struct {
    int64_t N, C, P;
    const real *dy;
    real *db;
} R(bias_task);

/* s[j] += the elements p of d[0:P] with p % CNN_DB_LANES == j, in order of p (the bias gradient's
 * running sums; the fused backward calls it too, so both give the same bits). */
static void R(bias_sum_add)(double *restrict s, const real *restrict d, int64_t P)
{
    int64_t p = 0;
    for (; p + CNN_DB_LANES <= P; p += CNN_DB_LANES)
        for (int j = 0; j < CNN_DB_LANES; j++) s[j] += d[p + j];
    for (; p < P; p++) s[p % CNN_DB_LANES] += d[p];
}

/* The running sums added pairwise, in a fixed order. */
static double R(bias_sum_total)(const double *s)
{
    double t[CNN_DB_LANES];
    for (int j = 0; j < CNN_DB_LANES; j++) t[j] = s[j];
    for (int h = CNN_DB_LANES / 2; h >= 1; h /= 2)
        for (int j = 0; j < h; j++) t[j] = t[j] + t[j + h];
    return t[0];
}

static void R(bias_backward_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(bias_task) *t = vctx;
    (void)part;
    for (int64_t c = begin; c < end; c++) {
        double s[CNN_DB_LANES] = {0};
        for (int64_t n = 0; n < t->N; n++) R(bias_sum_add)(s, t->dy + (n * t->C + c) * t->P, t->P);
        t->db[c] += (real)R(bias_sum_total)(s);
    }
}

/* db (C) += sums of dy (N, C, P) over N and P, in double (CNN_DB_LANES running sums in a fixed
 * order), one channel per item. */
void R(bias_backward)(int64_t N, int64_t C, int64_t P, const real *dy, real *db)
{
    R(bias_task) t = {N, C, P, dy, db};
    cnn_parallel_for(C, cnn_work_grain((double)N * P), 1 << 30, R(bias_backward_task), &t);
}
