/* winograd_simd.h — the Winograd F(2x2, 3x3) float32 convolution in vector intrinsics for one instruction set
 * (CNN_ALGO_WINOGRAD): 3x3 kernels, stride 1, dilation 1, any padding and groups, forward, input
 * and weight gradients. Included by csrc/isa_avx2.c and isa_avx512.c after direct_simd.h's vector
 * layer (ds_vec ...).
 *
 * F(m x m, 3 x 3) computes an m x m block of outputs (a "tile") from an a x a block of input,
 * a = m + 2, with a*a multiplications per input channel instead of 9*m*m:
 *
 *     Y = A^T [ sum over c of (G g_c G^T) .* (B^T d_c B) ] A       (.* elementwise, a x a)
 *
 * so that, numbering the a*a positions xi, every position is an independent GEMM over channels:
 * M[xi][k][tile] = sum over c of U[xi][k][c] * V[xi][c][tile], U the transformed weights (once
 * per call, vectorised over input channels), V the transformed input. F(2,3) (4x4 input tiles,
 * 2x2 outputs, 16 multiplications instead of 36: 2.25x fewer) is the one used: F(4,3) (6x6,
 * 4x fewer) measured 1.2-1.5x faster but 18x less accurate, beyond the suite's float32
 * convolution tolerance against PyTorch on wide layers (docs/DECISIONS.md).
 *
 * A call cuts each (image, group) into blocks of WG tiles (numbered t = th*tW + tw along the
 * output rows); per block: the input transform, vectorised over DS_VW tiles, into
 * V[xi][c][tile]; then per xi the GEMM by a register-blocked micro-kernel (WG_KR output
 * channels x WG_NV vectors of tiles) into M[xi][k][tile]; then the output transform with the
 * bias, each output element written once. Each output is the same function of its tile's
 * inputs whatever the blocking or the thread count (every channel sum runs c = 0, 1, ... in
 * its lane): bitwise the same for any thread count. The input gradient of such a convolution
 * is the forward of the transposed problem (blocked_simd.h's bk_transposed: dy padded by
 * 2 - pad, the kernel flipped, channel axes swapped). */

/* The micro-kernel: WG_KR output channels x WG_NV vectors of tiles, WG_KR*WG_NV accumulators
 * (12) + WG_NV loads + one broadcast: 15 of AVX2's 16 registers. */
#define WG_KR 6
#define WG_NV 2

/* Where things are, per (image, group) block of tiles. */
typedef struct {
    int64_t m, a, a2;     /* outputs per tile side, input tile side, a*a */
    int64_t Cg, Mg;       /* channels per group in and out */
    int64_t Cs, Mgp;      /* Cg rounded up to DS_VW, Mg to WG_KR (the transformed weights') */
    int64_t tH, tW, nT;   /* tiles down, across, per image */
    int64_t TB, TBp;      /* tiles per block, rounded up to DS_VW */
} wg_plan;

static int wg_applies(const conv_geom *g)
{
    return g->kH == 3 && g->kW == 3 && g->sH == 1 && g->sW == 1 && g->dilH == 1 && g->dilW == 1;
}

/* Tiles per block: V and M within about 2^17 floats (half of L2: measured 1.15x faster than
 * 2^18 on the 128-channel layer), at least two blocks per thread when the batch and groups do not
 * give them, the image's tiles cut evenly into blocks of whole micro-kernel columns (narrower ones
 * halve the accumulators) but the last. Results do not depend on it. */
static void wg_plan_init(wg_plan *p, const conv_geom *g)
{
    p->m = 2;
    p->a = p->m + 2;
    p->a2 = p->a * p->a;
    p->Cg = g->C_in / g->groups;
    p->Mg = g->C_out / g->groups;
    p->Mgp = (p->Mg + WG_KR - 1) / WG_KR * WG_KR;
    p->Cs = (p->Cg + DS_VW - 1) / DS_VW * DS_VW;
    p->tH = (g->OH + p->m - 1) / p->m;
    p->tW = (g->OW + p->m - 1) / p->m;
    p->nT = p->tH * p->tW;
    const int64_t per_tile = p->a2 * (p->Cg + p->Mgp);
    int64_t tb = ((int64_t)1 << 17) / (per_tile > 0 ? per_tile : 1);
    const int64_t col = WG_NV * DS_VW; /* the micro-kernel's width */
    tb = tb < col ? col : tb - tb % col;
    int64_t blocks = p->nT ? (p->nT + tb - 1) / tb : 1;
    const int64_t images = g->N * g->groups, want = 2 * (int64_t)(g->threads > 0 ? g->threads : 1);
    if (images * blocks < want) blocks = (want + images - 1) / images;
    tb = (p->nT + blocks - 1) / blocks;
    tb = (tb + col - 1) / col * col;
    p->TB = tb < p->nT ? tb : p->nT;
    p->TBp = (p->TB + DS_VW - 1) / DS_VW * DS_VW;
}

/* ---- transforms, vectorised over DS_VW tiles ---------------------------------------------- */

static inline ds_vec wg_sub(ds_vec x, ds_vec y) { return ds_fma(y, ds_set1(-1.0f), x); }
static inline ds_vec wg_axpy(float s, ds_vec x, ds_vec y) { return ds_fma(x, ds_set1(s), y); } /* s*x + y */

/* out[k*os] = (B^T in)[k] for in[j*is], j, k < 4:
 *     B^T = [1  0 -1  0]
 *           [0  1  1  0]
 *           [0 -1  1  0]
 *           [0  1  0 -1] */
CNN_FORCE_INLINE void wg_bt4(const ds_vec *in, int is, ds_vec *out, int os)
{
    const ds_vec d0 = in[0], d1 = in[is], d2 = in[2 * is], d3 = in[3 * is];
    out[0] = wg_sub(d0, d2);
    out[os] = ds_add(d1, d2);
    out[2 * os] = wg_sub(d2, d1);
    out[3 * os] = wg_sub(d1, d3);
}

/* out[i*os] = (A^T in)[i] for in[j*is], j < 4, i < 2:
 *     A^T = [1  1  1  0]
 *           [0  1 -1 -1] */
CNN_FORCE_INLINE void wg_at4(const ds_vec *in, int is, ds_vec *out, int os)
{
    const ds_vec m0 = in[0], m1 = in[is], m2 = in[2 * is], m3 = in[3 * is];
    out[0] = ds_add(ds_add(m0, m1), m2);
    out[os] = wg_sub(wg_sub(m1, m2), m3);
}

/* u[xi] = (B^T d B)[xi] for the tiles' 4x4 inputs d[i*4 + j] (xi = a*4 + b). */
CNN_FORCE_INLINE void wg_input_xform(const ds_vec *d, ds_vec *u)
{
    ds_vec t[16];
    for (int j = 0; j < 4; j++) wg_bt4(d + j, 4, t + j, 4);
    for (int i = 0; i < 4; i++) wg_bt4(t + 4 * i, 1, u + 4 * i, 1);
}

/* V[xi*vs] = B^T d B (wg_input_xform). */
CNN_FORCE_INLINE void wg_input_tile(const ds_vec *d, float *v, int64_t vs)
{
    ds_vec u[16];
    wg_input_xform(d, u);
    for (int xi = 0; xi < 16; xi++) ds_store(v + xi * vs, u[xi]);
}

/* o[i*2 + j] = (A^T M A)[i][j] + bias for the tiles' M[xi*ms]. */
CNN_FORCE_INLINE void wg_output_tile(const float *mt, int64_t ms, ds_vec bias, ds_vec *o)
{
    ds_vec mv[16], t[8];
    for (int xi = 0; xi < 16; xi++) mv[xi] = ds_load(mt + xi * ms);
    for (int j = 0; j < 4; j++) wg_at4(mv + j, 4, t + j, 4);
    for (int i = 0; i < 2; i++) wg_at4(t + 4 * i, 1, o + 2 * i, 1);
    for (int k = 0; k < 4; k++) o[k] = ds_add(o[k], bias);
}

/* out[k*os] = (G in)[k] for in[j*is], j < 3, k < 4:
 *     G = [ 1    0    0 ]
 *         [1/2  1/2  1/2]
 *         [1/2 -1/2  1/2]
 *         [ 0    0    1 ] */
CNN_FORCE_INLINE void wg_g3(const ds_vec *in, int is, ds_vec *out, int os)
{
    const ds_vec g0 = in[0], g1 = in[is], g2 = in[2 * is], s02 = ds_add(g0, g2);
    out[0] = g0;
    out[os] = wg_axpy(0.5f, ds_add(s02, g1), ds_zero());
    out[2 * os] = wg_axpy(0.5f, wg_sub(s02, g1), ds_zero());
    out[3 * os] = g2;
}

/* U[gr][xi][kb][r][c] = (G g G^T)[xi] of the kernel g of output channel kb*WG_KR + r, input
 * channel c of group gr (0 past the group or past Cg, up to the row stride Cs), vectorised over
 * the input channels. `transposed`: the kernels of the transposed problem of the input gradient,
 * g'[m'][c'][kh][kw] = w[c'][m'][2-kh][2-kw] within the group (as blocked_simd.h's
 * bk_pack_weights). */
typedef struct {
    const float *w;
    const wg_plan *p;
    int transposed;
    float *U;
} wg_pack_args;

/* Items: (group, output channel k < Mgp); each writes its own rows of U. */
static void wg_pack_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const wg_pack_args *t = vctx;
    const wg_plan *p = t->p;
    const float *restrict w = t->w;
    const int64_t Cg = p->Cg, Mg = p->Mg, Cs = p->Cs, nkb = p->Mgp / WG_KR;
    (void)part;
    for (int64_t item = begin; item < end; item++) {
        const int64_t gr = item / p->Mgp, k = item % p->Mgp;
        for (int64_t c0 = 0; c0 < Cs; c0 += DS_VW) {
            float gb[9 * DS_VW];
            ds_vec gk[9], u4[12], u[16];
            for (int l = 0; l < DS_VW; l++) {
                const int64_t c = c0 + l;
                for (int ij = 0; ij < 9; ij++)
                    gb[ij * DS_VW + l] = k >= Mg || c >= Cg ? 0.0f
                                         : t->transposed ? w[((gr * Cg + c) * Mg + k) * 9 + 8 - ij]
                                                         : w[((gr * Mg + k) * Cg + c) * 9 + ij];
            }
#pragma GCC unroll 9
            for (int ij = 0; ij < 9; ij++) gk[ij] = ds_load(gb + ij * DS_VW);
#pragma GCC unroll 3
            for (int j = 0; j < 3; j++) wg_g3(gk + j, 3, u4 + j, 3); /* columns: (4 x 3) = G g */
#pragma GCC unroll 4
            for (int a = 0; a < 4; a++) wg_g3(u4 + 3 * a, 1, u + 4 * a, 1); /* rows: u4 G^T */
            float *d = t->U + ((gr * 16 * nkb + k / WG_KR) * WG_KR + k % WG_KR) * Cs + c0;
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; xi++) ds_store(d + xi * nkb * WG_KR * Cs, u[xi]);
        }
    }
}

/* The transform of every kernel, parallel over output channels (serial, it was 14% of the
 * 128-channel forward's time at two threads, the other thread waiting). */
static void wg_pack_weights(const float *restrict w, int64_t groups, const wg_plan *p,
                            int transposed, float *restrict U, int threads)
{
    wg_pack_args t = {w, p, transposed, U};
    const int64_t grain = cnn_work_grain(16.0 * 9.0 * (double)p->Cs);
    cnn_parallel_for(groups * p->Mgp, grain, threads, wg_pack_task, &t);
}

/* ---- the GEMM micro-kernel --------------------------------------------------------------------- */

/* m[r*ms + j*DS_VW + l] (+)= sum over c < C of u[r*us + c] * v[c*vs + j*DS_VW + l], r < WG_KR,
 * j < nv, in the order c = 0, 1, ..., added to what m holds when `accumulate` (inlined with
 * constant nv and accumulate: the tile lives in registers). */
CNN_FORCE_INLINE void wg_micro(const float *restrict v, int64_t vs, const float *restrict u, int64_t us,
                               int64_t C, const int nv, float *restrict m, int64_t ms, const int accumulate)
{
    ds_vec acc[WG_KR][WG_NV];
#pragma GCC unroll 8
    for (int r = 0; r < WG_KR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++) acc[r][j] = accumulate ? ds_load(m + r * ms + j * DS_VW) : ds_zero();
    for (int64_t c = 0; c < C; c++) {
        ds_vec xv[WG_NV];
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++) xv[j] = ds_load(v + c * vs + j * DS_VW);
#pragma GCC unroll 8
        for (int r = 0; r < WG_KR; r++) {
            const ds_vec wv = ds_set1(u[r * us + c]);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++) acc[r][j] = ds_fma(xv[j], wv, acc[r][j]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < WG_KR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++) ds_store(m + r * ms + j * DS_VW, acc[r][j]);
}

/* M[xi][k][t] for every xi, k < Mgp, t < ntp (a multiple of DS_VW) of one block: V (xi, Cg, TBp),
 * U of the group. */
static void wg_gemm(const wg_plan *p, const float *V, const float *Ug, int64_t ntp, float *M)
{
    const int64_t Cg = p->Cg, Cs = p->Cs, TBp = p->TBp, nkb = p->Mgp / WG_KR, col = WG_NV * DS_VW;
    for (int64_t xi = 0; xi < p->a2; xi++) {
        const float *vx = V + xi * Cg * TBp;
        for (int64_t kb = 0; kb < nkb; kb++) {
            const float *u = Ug + (xi * nkb + kb) * WG_KR * Cs;
            float *mk = M + (xi * p->Mgp + kb * WG_KR) * TBp;
            int64_t t = 0;
            for (; t + col <= ntp; t += col) wg_micro(vx + t, TBp, u, Cs, Cg, WG_NV, mk + t, TBp, 0);
            for (; t < ntp; t += DS_VW) wg_micro(vx + t, TBp, u, Cs, Cg, 1, mk + t, TBp, 0);
        }
    }
}

/* ---- one block ------------------------------------------------------------------------------ */

#if DS_VW == 8
/* AVX2: d[i*4 + j][l] = src[l][i*ld[l] + j] for i, j < 4, eight lanes: per row i, one 8-float
 * load per lane and an 8 x 8 transpose (its first four rows), instead of 16 scalar copies per lane. */
CNN_FORCE_INLINE void wg_gather8(const float *const *src, const int64_t *ld, ds_vec *d)
{
    for (int i = 0; i < 4; i++) {
        __m256 r[8], t[8], q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_ps(src[l] + i * ld[l]);
#pragma GCC unroll 4
        for (int l = 0; l < 8; l += 2) {
            t[l] = _mm256_unpacklo_ps(r[l], r[l + 1]);
            t[l + 1] = _mm256_unpackhi_ps(r[l], r[l + 1]);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 8; h += 4) {
            q[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
            q[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
            q[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
            q[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) d[i * 4 + j] = _mm256_permute2f128_ps(q[j], q[j + 4], 0x20);
    }
}
#endif

#if DS_VW == 16
/* AVX-512: the lanes k of a 16-float load at column s of a row of W floats with 0 <= s + k < W. */
static inline __mmask16 wg_cols(int64_t s, int64_t W)
{
    const int64_t lo = s < 0 ? -s : 0, hi = W - s < 16 ? W - s : 16;
    return hi <= lo ? 0 : (__mmask16)((((uint32_t)1 << hi) - 1) & ~(((uint32_t)1 << lo) - 1));
}

/* The run of tiles from t along its tile row (*th, from column *tw), at most 16 and not past
 * `end`: its length. */
static inline int64_t wg_row_run(const wg_plan *p, int64_t t, int64_t end, int64_t *th, int64_t *tw)
{
    *th = t / p->tW;
    *tw = t % p->tW;
    const int64_t cnt = p->tW - *tw < 16 ? p->tW - *tw : 16;
    return end - t < cnt ? end - t : cnt;
}

/* *even, *odd = p[2l], p[2l + 1] for lanes l < 16: two loads (p[0:16] under mask m0, p[16:32]
 * under m1; masked-off elements read as 0) split into their even and odd columns. */
static inline void wg_split_row(const float *p, __mmask16 m0, __mmask16 m1, __m512 *even,
                                __m512 *odd)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512 a0 = _mm512_maskz_loadu_ps(m0, p), a1 = _mm512_maskz_loadu_ps(m1, p + 16);
    *even = _mm512_permutex2var_ps(a0, ev, a1);
    *odd = _mm512_permutex2var_ps(a0, _mm512_add_epi32(ev, _mm512_set1_epi32(1)), a1);
}

/* V (xi, Cg, TBp) of tiles [t0, t0 + nt) of the group's input x (Cg, H, W); columns from nt to
 * TBp 0. AVX-512: the lanes are up to 16 consecutive tiles of one tile row, so that row i of
 * their 4 x 4 inputs is one run of the input row: two loads at its start and two at start + 2,
 * each pair split into its even and odd columns (d[i*4 + j], lane l = row[2l + j]); padding
 * columns are masked off the loads and padding rows are zero. Each tile's V is the same function
 * of its input as with the per-tile gather (wg_input_xform): the same bits. (Gathering 16 lanes
 * through a buffer cost as much as the GEMM on the 64-channel layer: store-forwarding stalls.) */
static void wg_input_block(const wg_plan *p, const conv_geom *g, const float *restrict x,
                           int64_t t0, int64_t nt, float *restrict V)
{
    const int64_t H = g->H, W = g->W, Cg = p->Cg, TBp = p->TBp, vs = Cg * TBp;
    for (int64_t t = t0, th, tw; t < t0 + nt;) {
        const int64_t cnt = wg_row_run(p, t, t0 + nt, &th, &tw);
        const __mmask16 keep = (__mmask16)(((uint32_t)1 << cnt) - 1);
        const int64_t ih0 = th * p->m - g->pT, s0 = tw * p->m - g->pL;
        const __mmask16 m0 = wg_cols(s0, W), m1 = wg_cols(s0 + 16, W), m2 = wg_cols(s0 + 2, W),
                        m3 = wg_cols(s0 + 18, W);
        float *v = V + (t - t0);
        for (int64_t c = 0; c < Cg; c++) {
            const float *xc = x + c * H * W;
            ds_vec d[16], u[16];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const int64_t ih = ih0 + i;
                if (ih < 0 || ih >= H) {
                    d[i * 4] = d[i * 4 + 1] = d[i * 4 + 2] = d[i * 4 + 3] = ds_zero();
                    continue;
                }
                const float *row = xc + ih * W + s0;
                wg_split_row(row, m0, m1, &d[i * 4], &d[i * 4 + 1]);
                wg_split_row(row + 2, m2, m3, &d[i * 4 + 2], &d[i * 4 + 3]);
            }
            wg_input_xform(d, u);
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; xi++)
                _mm512_mask_storeu_ps(v + xi * vs + c * TBp, keep, u[xi]);
        }
        t += cnt;
    }
    /* the columns the GEMM reads past nt */
    const int64_t pad = (nt + DS_VW - 1) / DS_VW * DS_VW - nt;
    for (int64_t r = 0; pad && r < 16 * Cg; r++) ds_store_part(V + r * TBp + nt, ds_zero(), pad);
}
#else
/* V (xi, Cg, TBp) of tiles [t0, t0 + nt) of the group's input x (Cg, H, W); columns from nt to
 * the next multiple of DS_VW 0.
 * A tile whose 4 x 4 input lies inside the image is read in place, others through a zero-padded
 * copy (patch). */
static void wg_input_block(const wg_plan *p, const conv_geom *g, const float *restrict x, int64_t t0,
                           int64_t nt, float *restrict V)
{
    enum { PW = DS_VW == 8 ? 8 : 4 }; /* patch row length: what one lane's row read takes */
    const int64_t H = g->H, W = g->W, Cg = p->Cg, TBp = p->TBp, vs = Cg * TBp;
    for (int64_t l0 = 0; l0 < nt; l0 += DS_VW) {
        int64_t base[DS_VW], ih0[DS_VW], iw0[DS_VW], ld[DS_VW];
        int inside[DS_VW], live[DS_VW];
        float patch[DS_VW][4 * PW];
        const float *src[DS_VW];
        for (int l = 0; l < DS_VW; l++) {
            const int64_t t = t0 + l0 + l, th = t / p->tW, tw = t % p->tW;
            live[l] = l0 + l < nt;
            ih0[l] = th * p->m - g->pT;
            iw0[l] = tw * p->m - g->pL;
            /* in place: four rows of PW floats, the last row's read inside the plane */
            inside[l] = live[l] && ih0[l] >= 0 && ih0[l] + 4 <= H && iw0[l] >= 0 && iw0[l] + 4 <= W &&
                        (iw0[l] + PW <= W || ih0[l] + 4 < H);
            base[l] = inside[l] ? ih0[l] * W + iw0[l] : 0;
            ld[l] = inside[l] ? W : PW;
            if (!inside[l]) memset(patch[l], 0, sizeof patch[l]);
        }
        for (int64_t c = 0; c < Cg; c++) {
            const float *xc = x + c * H * W;
            ds_vec d[16];
            for (int l = 0; l < DS_VW; l++) {
                src[l] = inside[l] ? xc + base[l] : patch[l];
                if (inside[l] || !live[l]) continue;
                for (int i = 0; i < 4; i++) {
                    const int64_t ih = ih0[l] + i;
                    if (ih < 0 || ih >= H) continue;
                    for (int j = 0; j < 4; j++) {
                        const int64_t iw = iw0[l] + j;
                        if (iw >= 0 && iw < W) patch[l][i * PW + j] = xc[ih * W + iw];
                    }
                }
            }
#if DS_VW == 8
            wg_gather8(src, ld, d);
#else
            float dbuf[16 * DS_VW];
            for (int l = 0; l < DS_VW; l++)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) dbuf[(i * 4 + j) * DS_VW + l] = src[l][i * ld[l] + j];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++) d[k] = ds_load(dbuf + k * DS_VW);
#endif
            wg_input_tile(d, V + c * TBp + l0, vs);
        }
    }
}
#endif

#if DS_VW == 16
/* y (+)= A^T M A + bias for the block's tiles [t0, t0 + nt): y the group's output (Mg, OH, OW).
 * AVX-512: up to 16 consecutive tiles of one tile row at a time; row i of their 2 x 2 outputs
 * is one run of an output row, its two columns interleaved into two stores (masked at the edge). */
static void wg_output_block(const wg_plan *p, const conv_geom *g, const float *restrict M,
                            int64_t t0, int64_t nt, const float *bias, float *restrict y,
                            int accumulate)
{
    const int64_t OH = g->OH, OW = g->OW, P = OH * OW, TBp = p->TBp, ms = p->Mgp * TBp;
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    for (int64_t t = t0, th, tw; t < t0 + nt;) {
        const int64_t cnt = wg_row_run(p, t, t0 + nt, &th, &tw);
        const int64_t oh = th * p->m, ow = tw * p->m, rows = OH - oh < p->m ? OH - oh : p->m;
        const int64_t cols = OW - ow < p->m * cnt ? OW - ow : p->m * cnt; /* columns of the run */
        const __mmask16 k0 = (__mmask16)(cols >= 16 ? 0xFFFF : ((uint32_t)1 << cols) - 1);
        const __mmask16 k1 =
            (__mmask16)(cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : ((uint32_t)1 << (cols - 16)) - 1);
        for (int64_t k = 0; k < p->Mg; k++) {
            ds_vec o[4];
            wg_output_tile(M + k * TBp + (t - t0), ms, bias ? ds_set1(bias[k]) : ds_zero(), o);
            float *yk = y + k * P + oh * OW + ow;
            for (int64_t i = 0; i < rows; i++) {
                float *d = yk + i * OW;
                __m512 e0 = _mm512_permutex2var_ps(o[i * 2], lo, o[i * 2 + 1]);
                __m512 e1 = _mm512_permutex2var_ps(o[i * 2], hi, o[i * 2 + 1]);
                if (accumulate) {
                    e0 = _mm512_add_ps(_mm512_maskz_loadu_ps(k0, d), e0);
                    e1 = _mm512_add_ps(_mm512_maskz_loadu_ps(k1, d + 16), e1);
                }
                _mm512_mask_storeu_ps(d, k0, e0);
                _mm512_mask_storeu_ps(d + 16, k1, e1);
            }
        }
        t += cnt;
    }
}
#else
/* y (+)= A^T M A + bias for the block's tiles [t0, t0 + nt): y the group's output (Mg, OH, OW). */
static void wg_output_block(const wg_plan *p, const conv_geom *g, const float *restrict M, int64_t t0,
                            int64_t nt, const float *bias, float *restrict y, int accumulate)
{
    const int64_t OH = g->OH, OW = g->OW, P = OH * OW, TBp = p->TBp, ms = p->Mgp * TBp;
    for (int64_t l0 = 0; l0 < nt; l0 += DS_VW) {
        int64_t base[DS_VW], nr[DS_VW], nc[DS_VW];
        const int lanes = nt - l0 < DS_VW ? (int)(nt - l0) : DS_VW;
        for (int l = 0; l < lanes; l++) {
            const int64_t t = t0 + l0 + l, oh = t / p->tW * p->m, ow = t % p->tW * p->m;
            base[l] = oh * OW + ow;
            nr[l] = OH - oh < p->m ? OH - oh : p->m;
            nc[l] = OW - ow < p->m ? OW - ow : p->m;
        }
        for (int64_t k = 0; k < p->Mg; k++) {
            ds_vec o[4];
            float obuf[4 * DS_VW];
            float *yk = y + k * P;
            wg_output_tile(M + k * TBp + l0, ms, bias ? ds_set1(bias[k]) : ds_zero(), o);
#pragma GCC unroll 16
            for (int q = 0; q < 4; q++) ds_store(obuf + q * DS_VW, o[q]);
            for (int l = 0; l < lanes; l++) {
                float *d = yk + base[l];
                for (int64_t i = 0; i < nr[l]; i++)
                    for (int64_t j = 0; j < nc[l]; j++) {
                        const float sv = obuf[(i * 2 + j) * DS_VW + l];
                        d[i * OW + j] = accumulate ? d[i * OW + j] + sv : sv;
                    }
            }
        }
    }
}
#endif

/* ---- the call ------------------------------------------------------------------------------- */

typedef struct {
    const conv_geom *g;
    const wg_plan *p;
    const float *x, *b, *U;
    float *y, *parts;
    int64_t slot, blocks;
    int accumulate;
} wg_args;

/* Items: (image, group, block of tiles). */
static void wg_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const wg_args *t = vctx;
    const conv_geom *g = t->g;
    const wg_plan *p = t->p;
    float *V = t->parts + part * t->slot, *M = V + p->a2 * p->Cg * p->TBp;
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / (g->groups * t->blocks), gr = item / t->blocks % g->groups;
        const int64_t t0 = item % t->blocks * p->TB, nt = p->nT - t0 < p->TB ? p->nT - t0 : p->TB;
        wg_input_block(p, g, t->x + (n * g->C_in + gr * p->Cg) * g->H * g->W, t0, nt, V);
        wg_gemm(p, V, t->U + gr * p->a2 * p->Mgp * p->Cs, (nt + DS_VW - 1) / DS_VW * DS_VW, M);
        wg_output_block(p, g, M, t0, nt, t->b ? t->b + gr * p->Mg : NULL,
                        t->y + (n * g->C_out + gr * p->Mg) * g->OH * g->OW, t->accumulate);
    }
}

/* Scratch, in floats: shared (the transformed weights) and per part (V and M of a block). */
static void wg_sizes(const conv_geom *g, int64_t *shared, int64_t *slot)
{
    wg_plan p;
    wg_plan_init(&p, g);
    *shared = g->groups * p.a2 * p.Mgp * p.Cs;
    *slot = p.a2 * (p.Cg + p.Mgp) * p.TBp;
}

/* y (+)= conv(x, w) + b; `transposed` as in wg_pack_weights. */
static void wg_forward(const conv_geom *g, const float *x, const float *w, int transposed,
                       const float *b, float *y, int accumulate, float *scratch)
{
    wg_plan p;
    wg_plan_init(&p, g);
    int64_t shared, slot;
    wg_sizes(g, &shared, &slot);
    wg_pack_weights(w, g->groups, &p, transposed, scratch, g->threads);
    slot += (-slot) & 15; /* parts on 64-byte boundaries */
    const int64_t blocks = p.nT ? (p.nT + p.TB - 1) / p.TB : 0;
    wg_args t = {g, &p, x, b, scratch, y, scratch + ((shared + 15) & ~(int64_t)15), slot, blocks, accumulate};
    const double work = (double)p.TB * p.a2 * p.Mg * p.Cg;
    cnn_parallel_for(g->N * g->groups * blocks, cnn_work_grain(work), g->threads, wg_task, &t);
}

/* ---- weight gradient ------------------------------------------------------------------------
 * With X = U .* V the a x a product of a tile (y = A^T X A), dL/dX = A dY A^T and
 * dL/dU = dL/dX .* V, so that the kernel's gradient is
 *
 *     dg[k][c] = G^T [ sum over tiles of (A dY_k A^T) .* (B^T d_c B) ] G
 *
 * and each position xi is again a GEMM, now over tiles: D[xi][k][c] += Z[xi][k][t] * Vt[xi][t][c],
 * Z the transformed dy (vectorised over tiles), Vt the transformed input (vectorised over input
 * channels, so that the GEMM's vectors run along c and need no horizontal sums). A call runs the
 * (image, group, block of wgw_block tiles) in order: both transforms of a block in one parallel loop, its
 * GEMM in another, items (xi, WG_KR output channels) each adding the block's tiles in order onto
 * its rows of D; then G^T D G is added into dw. Every element of D sums its tiles in one fixed
 * order and the blocks do not depend on the thread count: bitwise the same for any thread count. */

/* Tiles per block: Vt and Z of a block within about 2^20 floats (4 MB), a whole number of vectors.
 * Fewer, larger blocks: at 2^18 floats, 2 threads gained nothing on the 64- and 128-channel
 * layers (1824 and 1829 µs, against 1088 and 1015 at 2^20; 1 thread the same), each block
 * costing two parallel loops. */
static int64_t wgw_block(const wg_plan *p)
{
    int64_t tb = ((int64_t)1 << 20) / (16 * (p->Cs + p->Mgp));
    tb = tb < DS_VW ? DS_VW : tb - tb % DS_VW;
    const int64_t all = (p->nT + DS_VW - 1) / DS_VW * DS_VW;
    return tb < all ? tb : all;
}

/* Floats: D for every group, then Vt (16, TB, Cs) and Z (16, Mgp, TB). */
static int64_t wgw_sizes(const conv_geom *g, const wg_plan *p, int64_t *vt_at, int64_t *z_at)
{
    const int64_t tb = wgw_block(p), d = g->groups * 16 * p->Mgp * p->Cs;
    *vt_at = (d + 15) & ~(int64_t)15;
    *z_at = *vt_at + ((16 * tb * p->Cs + 15) & ~(int64_t)15);
    return *z_at + 16 * p->Mgp * tb;
}

/* out[i*os] = (G^T in)[i] for in[j*is], j < 4, i < 3:
 *     G^T = [1  1/2  1/2  0]
 *           [0  1/2 -1/2  0]
 *           [0  1/2  1/2  1] */
CNN_FORCE_INLINE void wg_gt4(const ds_vec *in, int is, ds_vec *out, int os)
{
    const ds_vec h = wg_axpy(0.5f, ds_add(in[is], in[2 * is]), ds_zero());
    out[0] = ds_add(in[0], h);
    out[os] = wg_axpy(0.5f, wg_sub(in[is], in[2 * is]), ds_zero());
    out[2 * os] = ds_add(h, in[3 * is]);
}

typedef struct {
    const conv_geom *g;
    const wg_plan *p;
    const float *x, *dy; /* this (image, group)'s input (Cg, H, W) and dy (Mg, OH, OW) */
    float *D, *Vt, *Z;   /* D of this group */
    float *dw;
    int64_t t0, nt, tb, vitems;
    int gather; /* AVX-512: the offsets in 16 channels of the input fit the gathers' int32 */
} wgw_args;

/* z[i*4 + j] = (A dY A^T)[i][j] of the tiles' 2 x 2 outputs y00 .. y11,
 * A = [1 0; 1 1; 1 -1; 0 -1]. */
CNN_FORCE_INLINE void wgw_z_xform(ds_vec y00, ds_vec y01, ds_vec y10, ds_vec y11, ds_vec *z)
{
    /* rows: r[i][j] = (A dY)[i][j] */
    const ds_vec r[4][2] = {{y00, y01},
                            {ds_add(y00, y10), ds_add(y01, y11)},
                            {wg_sub(y00, y10), wg_sub(y01, y11)},
                            {wg_sub(ds_zero(), y10), wg_sub(ds_zero(), y11)}};
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* columns: (A dY) A^T */
        z[i * 4 + 0] = r[i][0];
        z[i * 4 + 1] = ds_add(r[i][0], r[i][1]);
        z[i * 4 + 2] = wg_sub(r[i][0], r[i][1]);
        z[i * 4 + 3] = wg_sub(ds_zero(), r[i][1]);
    }
}

#if DS_VW == 16
/* AVX-512: Z of output channels [k0, k1) (rows up to Mgp, zero past Mg) for the block's tiles,
 * up to 16 consecutive tiles of one tile row at a time: their 2 x 2 outputs are two runs of dy
 * rows, each read by two loads (masked at the row's end) and split into even and odd columns.
 * (Per-lane offsets and four gathers per 16 tiles cost as much as the weight gradient's GEMM.) */
static void wgw_z_rows(const wgw_args *a, int64_t k0, int64_t k1)
{
    const wg_plan *p = a->p;
    const int64_t OH = a->g->OH, OW = a->g->OW, tb = a->tb, zs = p->Mgp * tb;
    for (int64_t k = k0; k < k1; k++) {
        const float *yk = a->dy + k * OH * OW;
        for (int64_t t = a->t0, th, tw; t < a->t0 + a->nt;) {
            const int64_t cnt = wg_row_run(p, t, a->t0 + a->nt, &th, &tw);
            const __mmask16 keep = (__mmask16)(((uint32_t)1 << cnt) - 1);
            const int64_t oh = th * 2, ow = tw * 2;
            ds_vec y[4] = {ds_zero(), ds_zero(), ds_zero(), ds_zero()}, z[16];
            for (int i = 0; k < p->Mg && i < 2 && oh + i < OH; i++)
                wg_split_row(yk + (oh + i) * OW + ow, wg_cols(ow, OW), wg_cols(ow + 16, OW),
                             &y[i * 2], &y[i * 2 + 1]);
            wgw_z_xform(y[0], y[1], y[2], y[3], z);
            float *zt = a->Z + k * tb + (t - a->t0);
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; xi++) _mm512_mask_storeu_ps(zt + xi * zs, keep, z[xi]);
            t += cnt;
        }
    }
}
#endif

/* Items [0, vitems): Vt of tile t0 + item, vectorised over input channels; then Z of output channel
 * item - vitems (rows up to Mgp, zero past Mg), vectorised over tiles (the GEMM reads the first
 * nt: AVX2 writes zeros past them, AVX-512 nothing). */
static void wgw_transform_task(void *vctx, int64_t begin, int64_t end, int part)
{
    (void)part;
    const wgw_args *a = vctx;
    const conv_geom *g = a->g;
    const wg_plan *p = a->p;
    const int64_t H = g->H, W = g->W, HW = H * W, Cg = p->Cg, Cs = p->Cs;
#if DS_VW != 16
    const int64_t OH = g->OH, OW = g->OW; /* the Z items' (AVX-512: wgw_z_rows) */
#endif
    for (int64_t item = begin; item < end; item++) {
        if (item < a->vitems) { /* A^T-side: B^T d B per tile, lanes = input channels */
            const int64_t t = a->t0 + item, ih0 = t / p->tW * 2 - g->pT, iw0 = t % p->tW * 2 - g->pL;
            const int inside = ih0 >= 0 && ih0 + 4 <= H && iw0 >= 0 && iw0 + 4 <= W;
            (void)inside; /* the 8-lane gather's condition */
            for (int64_t c0 = 0; c0 < Cs; c0 += DS_VW) {
                ds_vec d[16];
#if DS_VW == 8
                if (inside && c0 + DS_VW <= Cg && (iw0 + 8 <= W || ih0 + 4 < H)) {
                    const float *src[8];
                    int64_t ld[8];
                    for (int l = 0; l < 8; l++) {
                        src[l] = a->x + (c0 + l) * HW + ih0 * W + iw0;
                        ld[l] = W;
                    }
                    wg_gather8(src, ld, d);
                } else
#endif
#if DS_VW == 16
                if (a->gather) { /* AVX-512: one hardware gather per position, lanes = channels */
                    const __mmask16 live =
                        (__mmask16)(Cg - c0 >= 16 ? 0xFFFF : ((uint32_t)1 << (Cg - c0)) - 1);
                    const __m512i lane =
                        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
                    const __m512i chan = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)HW));
                    const float *xb = a->x + c0 * HW;
#pragma GCC unroll 4
                    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                        for (int j = 0; j < 4; j++) {
                            const int64_t ih = ih0 + i, iw = iw0 + j;
                            const __m512i at =
                                _mm512_add_epi32(chan, _mm512_set1_epi32((int)(ih * W + iw)));
                            const int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                            d[i * 4 + j] = in ? _mm512_mask_i32gather_ps(ds_zero(), live, at, xb, 4)
                                              : ds_zero();
                        }
                } else
#endif
                {
                    float dbuf[16 * DS_VW];
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            const int64_t ih = ih0 + i, iw = iw0 + j;
                            const int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                            for (int l = 0; l < DS_VW; l++)
                                dbuf[(i * 4 + j) * DS_VW + l] =
                                    in && c0 + l < Cg ? a->x[(c0 + l) * HW + ih * W + iw] : 0.0f;
                        }
#pragma GCC unroll 16
                    for (int k = 0; k < 16; k++) d[k] = ds_load(dbuf + k * DS_VW);
                }
                wg_input_tile(d, a->Vt + item * Cs + c0, a->tb * Cs);
            }
            continue;
        }
        /* A dY A^T per tile, lanes = tiles */
#if DS_VW == 16
        wgw_z_rows(a, item - a->vitems, end - a->vitems); /* every Z item left in this part */
        return;
#else
        const int64_t k = item - a->vitems, tb = a->tb;
        float *zk = a->Z + k * tb;
        for (int64_t l0 = 0; l0 < tb; l0 += DS_VW) {
            float ybuf[4 * DS_VW];
            const int64_t tf = a->t0 + l0, ohf = tf / p->tW * 2, owf = tf % p->tW * 2;
            (void)ohf; /* the 8-lane path's */
            (void)owf;
#if DS_VW == 8
            /* eight tiles along one tile row, inside dy: two rows of 16 floats, even and odd
             * columns split by a shuffle and a lane permutation */
            if (k < p->Mg && l0 + 8 <= a->nt && tf % p->tW + 8 <= p->tW && ohf + 2 <= OH &&
                owf + 16 <= OW) {
                const float *r0 = a->dy + (k * OH + ohf) * OW + owf, *r1 = r0 + OW;
                const __m256 p0 = _mm256_loadu_ps(r0), q0 = _mm256_loadu_ps(r0 + 8);
                const __m256 p1 = _mm256_loadu_ps(r1), q1 = _mm256_loadu_ps(r1 + 8);
                _mm256_storeu_ps(ybuf, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                           _mm256_castps_pd(_mm256_shuffle_ps(p0, q0, 0x88)), 0xD8)));
                _mm256_storeu_ps(ybuf + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                               _mm256_castps_pd(_mm256_shuffle_ps(p0, q0, 0xDD)), 0xD8)));
                _mm256_storeu_ps(ybuf + 16, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                                _mm256_castps_pd(_mm256_shuffle_ps(p1, q1, 0x88)), 0xD8)));
                _mm256_storeu_ps(ybuf + 24, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                                _mm256_castps_pd(_mm256_shuffle_ps(p1, q1, 0xDD)), 0xD8)));
            } else
#endif
            for (int l = 0; l < DS_VW; l++) {
                const int64_t t = a->t0 + l0 + l, oh = t / p->tW * 2, ow = t % p->tW * 2;
                for (int q = 0; q < 4; q++) {
                    const int64_t h = oh + q / 2, w = ow + q % 2;
                    ybuf[q * DS_VW + l] = k < p->Mg && l0 + l < a->nt && h < OH && w < OW
                                              ? a->dy[(k * OH + h) * OW + w] : 0.0f;
                }
            }
            const ds_vec y00 = ds_load(ybuf), y01 = ds_load(ybuf + DS_VW);
            const ds_vec y10 = ds_load(ybuf + 2 * DS_VW), y11 = ds_load(ybuf + 3 * DS_VW);
            ds_vec z[16];
            wgw_z_xform(y00, y01, y10, y11, z);
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; xi++) ds_store(zk + xi * p->Mgp * tb + l0, z[xi]);
        }
#endif
    }
}

/* Items: (xi, block of WG_KR output channels): D[xi][k][c] += sum over the block's tiles t, in
 * order, of Z[xi][k][t] * Vt[xi][t][c]. */
static void wgw_gemm_task(void *vctx, int64_t begin, int64_t end, int part)
{
    (void)part;
    const wgw_args *a = vctx;
    const wg_plan *p = a->p;
    const int64_t Cs = p->Cs, tb = a->tb, nkb = p->Mgp / WG_KR, col = WG_NV * DS_VW;
    for (int64_t item = begin; item < end; item++) {
        const int64_t xi = item / nkb, kb = item % nkb;
        const float *v = a->Vt + xi * tb * Cs, *z = a->Z + (xi * p->Mgp + kb * WG_KR) * tb;
        float *d = a->D + (xi * p->Mgp + kb * WG_KR) * Cs;
        int64_t c = 0;
        for (; c + col <= Cs; c += col) wg_micro(v + c, Cs, z, tb, a->nt, WG_NV, d + c, Cs, 1);
        for (; c < Cs; c += DS_VW) wg_micro(v + c, Cs, z, tb, a->nt, 1, d + c, Cs, 1);
    }
}

/* Items: (group, output channel): dw[k][c] += G^T D[xi][k][c] G, vectorised over c. */
static void wgw_output_task(void *vctx, int64_t begin, int64_t end, int part)
{
    (void)part;
    const wgw_args *a = vctx;
    const wg_plan *p = a->p;
    const int64_t Cg = p->Cg, Cs = p->Cs, Mg = p->Mg, xs = p->Mgp * Cs;
    for (int64_t item = begin; item < end; item++) {
        const int64_t gr = item / Mg, k = item % Mg;
        const float *dk = a->D + gr * 16 * xs + k * Cs;
        float *dwk = a->dw + item * Cg * 9;
        for (int64_t c0 = 0; c0 < Cg; c0 += DS_VW) {
            ds_vec m[16], t[12], o[9];
            float obuf[9 * DS_VW];
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; xi++) m[xi] = ds_load(dk + xi * xs + c0);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) wg_gt4(m + j, 4, t + j, 4); /* t (3 x 4) = G^T D */
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++) wg_gt4(t + 4 * i, 1, o + 3 * i, 1); /* (G^T D) G */
#pragma GCC unroll 9
            for (int q = 0; q < 9; q++) ds_store(obuf + q * DS_VW, o[q]);
            const int lanes = Cg - c0 < DS_VW ? (int)(Cg - c0) : DS_VW;
            for (int l = 0; l < lanes; l++)
                for (int q = 0; q < 9; q++) dwk[(c0 + l) * 9 + q] += obuf[q * DS_VW + l];
        }
    }
}

/* dw += the weight gradient of g (3x3, stride 1, dilation 1) by F(2x2, 3x3). */
static void wg_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                               float *scratch)
{
    wg_plan p;
    wg_plan_init(&p, g);
    int64_t vt_at, z_at;
    wgw_sizes(g, &p, &vt_at, &z_at); /* where Vt and Z are */
    const int64_t tb = wgw_block(&p);
    memset(scratch, 0, (size_t)(g->groups * 16 * p.Mgp * p.Cs) * sizeof(float));
    wgw_args a = {g, &p, NULL, NULL, NULL, scratch + vt_at, scratch + z_at, dw, 0, 0, tb, 0,
                  (double)p.Cs * (double)g->H * (double)g->W < 2147483647.0};
    const int64_t nkb = p.Mgp / WG_KR;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gr = 0; gr < g->groups; gr++) {
            a.x = x + (n * g->C_in + gr * p.Cg) * g->H * g->W;
            a.dy = dy + (n * g->C_out + gr * p.Mg) * g->OH * g->OW;
            a.D = scratch + gr * 16 * p.Mgp * p.Cs;
            for (int64_t t0 = 0; t0 < p.nT; t0 += tb) {
                a.t0 = t0;
                a.nt = p.nT - t0 < tb ? p.nT - t0 : tb;
                a.vitems = a.nt;
                cnn_parallel_for(a.nt + p.Mgp, cnn_work_grain(16.0 * (double)(p.Cs + tb) * 8.0), g->threads,
                                 wgw_transform_task, &a);
                cnn_parallel_for(16 * nkb, cnn_work_grain((double)WG_KR * (double)p.Cs * (double)a.nt),
                                 g->threads, wgw_gemm_task, &a);
            }
        }
    a.D = scratch;
    cnn_parallel_for(g->groups * p.Mg, cnn_work_grain(16.0 * 9.0 * (double)p.Cs), g->threads,
                     wgw_output_task, &a);
}

/* ---- entry points (0: does not apply, for BLOCKED to take it) ---------------------------------- */

static int wg_conv_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y,
                           int accumulate, float *scratch)
{
    if (!wg_applies(g)) return 0;
    wg_forward(g, x, w, 0, b, y, accumulate, scratch);
    return 1;
}

/* dx += conv^T(dy, w): the forward of the transposed problem, added onto dx. */
static int wg_conv_backward_data(const conv_geom *g, const float *dy, const float *w, float *dx,
                                 float *scratch)
{
    if (!wg_applies(g)) return 0;
    const conv_geom t = bk_transposed(g);
    wg_forward(&t, dy, w, 1, NULL, dx, 1, scratch);
    return 1;
}

static int wg_conv_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                                   float *scratch)
{
    if (!wg_applies(g)) return 0;
    wg_backward_weight(g, dy, x, dw, scratch);
    return 1;
}

/* Scratch (floats) per thread for g->threads threads, forward, input and weight gradients (0 where
 * the kernel does not apply). CNN_EOVERFLOW when it does not fit (first estimated in double). */
static cnn_status wg_scratch_len(const conv_geom *g, int64_t *len)
{
    *len = 0;
    if (!wg_applies(g)) return CNN_OK;
    const int64_t threads = g->threads > 0 ? g->threads : 1;
    const double tiles = ((double)g->OH / 2 + 1) * ((double)g->OW / 2 + 1) + ((double)g->H / 2 + 1) * ((double)g->W / 2 + 1);
    const double rough = 16.0 * ((double)g->C_in + (double)g->C_out + 2 * WG_KR + DS_VW) * (tiles + 64) +
                         16.0 * ((double)g->C_in + DS_VW) * ((double)g->C_out + WG_KR);
    if (rough > 1e15) return CNN_EOVERFLOW;
    const conv_geom t = bk_transposed(g);
    int64_t best = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t shared, slot;
        wg_sizes(pass ? &t : g, &shared, &slot);
        slot += (-slot) & 15;
        shared = (shared + 15) & ~(int64_t)15;
        const int64_t per = slot + (shared + threads - 1) / threads;
        best = per > best ? per : best;
    }
    wg_plan p;
    wg_plan_init(&p, g);
    int64_t vt_at, z_at;
    const int64_t wgw = wgw_sizes(g, &p, &vt_at, &z_at), per = (wgw + threads - 1) / threads;
    best = per > best ? per : best;
    *len = best + 16;
    return CNN_OK;
}
