/* blocked_simd.h — the "blocked" float32 convolution in vector intrinsics for one instruction set
 * (CNN_ALGO_BLOCKED; AUTO's choice from the lecture's one-channel layers to 256-channel ones): any
 * stride, padding, dilation and groups.
 * Included by csrc/isa_avx2.c and isa_avx512.c after direct_simd.h's vector layer (ds_vec ...).
 *
 * The layout. A call copies the input of one (image, group) into phase planes: with strides
 * (sH, sW), plane (a, b) holds xpad[r*sH + a][c*sW + b] for Hq rows and Wq = OW + (kW-1)*dilW/sW
 * columns (xpad: the input shifted by the top/left padding, zero outside). Tap (kh, kw) of output
 * (oh, ow) reads plane ((kh*dilH) mod sH, (kw*dilW) mod sW) at row oh + kh*dilH/sH, column
 * ow + kw*dilW/sW. Numbering the outputs q = oh*Wq + ow (columns ow >= OW are computed and
 * dropped), tap t reads element q + off[t] of its channel's planes: a run of outputs reads one
 * contiguous run per tap whatever the stride or dilation, and whole vectors need no edge cases.
 *
 *     stride 2 along a row:   x0 x1 x2 x3 x4 x5 x6   ->   plane b=0: x0 x2 x4 x6
 *                                                          plane b=1: x1 x3 x5
 *
 * Forward: register tiles of cb output channels x nv vectors of outputs; per (input channel, tap)
 * nv vector loads and cb broadcast weights feed cb*nv fused multiply-adds; tiles along an output
 * row skip the kernel rows that read only the zero padding above or below the image. Where the
 * rows waste more lanes than the output channels would, tiles over vectors of output channels
 * instead (blocked_channels.h; also for the weight gradient); where a batch fills the vectors
 * and the rows are short, tiles over vectors of images (blocked_batch.h). Each output is
 * bias + the sum over (ci, tap) in that order, whatever the tiling: bitwise the same for any
 * thread count. Input gradient of a stride-1 convolution: the forward of the transposed problem
 * (dy convolved with the flipped kernel, channel axes swapped); other strides are left to the
 * direct/GEMM rule.
 * Weight gradient: dw[m][ci][t] += sum over q of dyq[m][q] * xq[ci][q + off[t]], dyq being dy with
 * zero columns at ow >= OW: tiles of cbm channels x tj taps held in registers, summed lane-wise
 * over a chunk of q, then across lanes in a fixed order, chunk by chunk, image by image. */

/* Register tiles. Forward: cb channels x nv vectors, cb*nv + nv + 1 registers at most (16 AVX2,
 * 32 AVX-512).
 * Weight gradient: cbm <= BK_WM channels x BK_WJ(cbm) taps, plus cbm dy vectors and one x; with
 * AVX2 a lone channel takes 8 taps (with 3 it waited on the FMA latency: a one-channel layer's
 * weight gradient, or a group's last channel). */
#if DS_VW >= 16
#define BK_CB 8
#define BK_NVMAX 4
#define BK_NV(cb) ((cb) >= 7 ? 3 : (cb) >= 5 ? 4 : (cb) == 4 ? 5 : (cb) == 3 ? 6 : 8)
#define BK_WM 4
#define BK_WJ(cbm) 5
#define BK_WJMAX 5
#else
#define BK_CB 6
#define BK_NVMAX 6
#define BK_NV(cb) ((cb) >= 5 ? 2 : (cb) == 4 ? 3 : (cb) == 3 ? 3 : (cb) == 2 ? 4 : 6)
#define BK_WM 3
#define BK_WJ(cbm) ((cbm) == 1 ? 8 : 3)
#define BK_WJMAX 8
#endif
#define BK_NVTOP (BK_NV(1) > BK_NVMAX ? BK_NV(1) : BK_NVMAX)
#define BK_TLMAX (BK_NVTOP * DS_VW) /* the longest forward tile, in outputs */

/* Where the planes are: per (image, group) part, Cg channels of CS elements, each nA*nB planes
 * of PS elements (Hq = rows + ro_max rows of Wq). */
typedef struct {
    int64_t Cg, Mg, T;     /* input and output channels per group, taps kH*kW */
    int64_t rows;          /* output rows the planes serve */
    int64_t Wq, ro_max;    /* plane width; rows a tap reaches below its output row */
    int64_t pA, pB, nA, nB; /* phase periods and phases used along the height and width */
    int64_t PS, CS;        /* plane and channel strides, elements */
} bk_plan;

static int64_t bk_gcd(int64_t a, int64_t b)
{
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The phases tap k*dil mod s takes repeat with period s / gcd(dil, s): tap k uses phase slot
 * k mod period, which holds phase (slot*dil) mod s. */
static void bk_plan_init(bk_plan *p, const conv_geom *g, int64_t rows)
{
    p->Cg = g->C_in / g->groups;
    p->Mg = g->C_out / g->groups;
    p->T = g->kH * g->kW;
    p->rows = rows;
    p->Wq = g->OW + (g->kW - 1) * g->dilW / g->sW;
    p->ro_max = (g->kH - 1) * g->dilH / g->sH;
    p->pA = g->sH / bk_gcd(g->dilH, g->sH);
    p->pB = g->sW / bk_gcd(g->dilW, g->sW);
    p->nA = g->kH < p->pA ? g->kH : p->pA;
    p->nB = g->kW < p->pB ? g->kW : p->pB;
    p->PS = (rows + p->ro_max) * p->Wq;
    p->CS = p->nA * p->nB * p->PS + p->Wq + BK_TLMAX; /* the last tile reads past the planes */
}

/* off[t], t = kh*kW + kw: where tap t of output q = 0 reads in a channel's planes. */
static void bk_offsets(const bk_plan *p, const conv_geom *g, int64_t *off)
{
    for (int64_t kh = 0; kh < g->kH; kh++)
        for (int64_t kw = 0; kw < g->kW; kw++) {
            const int64_t slot = (kh % p->pA) * p->nB + kw % p->pB;
            off[kh * g->kW + kw] = slot * p->PS + (kh * g->dilH / g->sH) * p->Wq + kw * g->dilW / g->sW;
        }
}

/* d[i] = s[2*i], i < n: one phase of a stride-2 row (the general strided copy reloaded its
 * stride every element: 13% of a stride-2 forward). With AVX-512, 16 floats a step: GCC's loop
 * took 8 a step and a scalar tail, and the copy took 26% of the (8,16->32,32x32) s2 forward's
 * samples (19% now; the call's best of 6 alternating runs 176 -> 162 us at one thread). */
static void bk_gather2(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t i = 0;
#if defined(DS_M512)
    /* two loads and a vpermt2ps per 16 floats; the last step (1-16 floats) masked to the
     * elements it reads: a full step reads s[2i + 31], one past the last element it needs */
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; i + 16 < n; i += 16)
        _mm512_storeu_ps(d + i, _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * i), even,
                                                       _mm512_loadu_ps(s + 2 * i + 16)));
    if (i < n) {
        const int64_t m = n - i, last = 2 * m - 1; /* elements read: s[2i .. 2i + last) */
        const __mmask16 ma = (__mmask16)(last >= 16 ? 0xFFFF : (1u << last) - 1);
        const __mmask16 mb = (__mmask16)(last > 16 ? (1u << (last - 16)) - 1 : 0);
        const __m512 a = _mm512_maskz_loadu_ps(ma, s + 2 * i);
        const __m512 b = _mm512_maskz_loadu_ps(mb, s + 2 * i + 16);
        _mm512_mask_storeu_ps(d + i, (__mmask16)((1u << m) - 1),
                              _mm512_permutex2var_ps(a, even, b));
    }
#else
    for (; i < n; i++) d[i] = s[2 * i];
#endif
}

/* d[0:n] = s[0:n] in whole vectors and one masked part: rows of a few vectors (a phase of a
 * 16-wide layer) spent more time in memcpy's calls than in copying. The empty asm keeps GCC from
 * turning the loop back into a memmove call. */
static inline void bk_copy(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t i = 0;
    for (; i + DS_VW <= n; i += DS_VW) {
        ds_store(d + i, ds_load(s + i));
#if defined(__GNUC__) || defined(__clang__)
        __asm__ volatile("");
#endif
    }
    if (i < n) ds_store_part(d + i, ds_load_part(s + i, n - i), n - i);
}

/* d[from:to] = 0 in whole vector stores, which may run up to DS_VW - 1 floats past `to`: bk_fill
 * zeros a wide row's padding this way, before (left) and after (right) its data, and everything
 * a store runs into is written afterwards (the row's data, the next row or plane, the rows no
 * output reads, the tail after the planes). */
static inline void bk_zero_vectors(float *d, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i += DS_VW) ds_store(d + i, ds_zero());
}

/* xq = the planes of x (Cg, H, W) for output rows oh0 .. oh0 + nrows - 1 (nrows <= p->rows; the
 * rows after them, which only dropped outputs read, and the tail after the planes are zero).
 * Short rows (Wq < BK_WIDE_ROW): each channel's planes zeroed in one memset, then the rows inside
 * the image copied inline; with a zeroing memset, a memcpy and another memset per row, the calls
 * cost more than the copying (29% of a stride-2 input gradient's time on 16- and 17-float rows).
 * Wide rows: each row written once, its padding by bk_zero_vectors and its data as short rows'
 * (with memset + memcpy + memset per row the lecture's 89- and 91-wide input gradients were
 * 1.05-1.08x slower; zeroing whole planes first cost 2-4%; inline zeroing with masked stores, 7%). */
#define BK_WIDE_ROW 64
static void bk_fill(const bk_plan *p, const conv_geom *g, const float *restrict x, int64_t oh0,
                    int64_t nrows, float *restrict xq)
{
    const int64_t H = g->H, W = g->W, sW = g->sW, Wq = p->Wq, hrows = nrows + p->ro_max;
    const int wide = Wq >= BK_WIDE_ROW;
    for (int64_t ci = 0; ci < p->Cg; ci++) {
        float *xc = xq + ci * p->CS;
        if (!wide) memset(xc, 0, (size_t)p->CS * sizeof(float));
        for (int64_t sa = 0; sa < p->nA; sa++)
            for (int64_t sb = 0; sb < p->nB; sb++) {
                const int64_t a = sa * g->dilH % g->sH, b = sb * g->dilW % sW;
                float *plane = xc + (sa * p->nB + sb) * p->PS;
                /* columns c with input column c*sW + b - pL in [0, W): [lo, hi) (ceilings
                 * written so that no sum overflows when sW is near INT64_MAX) */
                const int64_t first = g->pL - b, last = W + g->pL - b;
                int64_t lo = first > 0 ? (first - 1) / sW + 1 : 0;
                int64_t hi = last > 0 ? (last - 1) / sW + 1 : 0;
                lo = lo < Wq ? lo : Wq;
                hi = hi < Wq ? (hi > lo ? hi : lo) : Wq;
                for (int64_t r = 0; r < hrows; r++) {
                    const int64_t ih = (oh0 + r) * g->sH + a - g->pT;
                    float *row = plane + r * Wq;
                    if (ih < 0 || ih >= H) {
                        if (wide) memset(row, 0, (size_t)Wq * sizeof(float));
                        continue;
                    }
                    const float *src = x + (ci * H + ih) * W + b - g->pL;
                    if (wide) bk_zero_vectors(row, 0, lo); /* the data overwrites what passes lo */
                    if (sW == 1)
                        bk_copy(row + lo, src + lo, hi - lo);
                    else if (sW == 2)
                        bk_gather2(row + lo, src + 2 * lo, hi - lo);
                    else
                        for (int64_t c = lo; c < hi; c++) row[c] = src[c * sW];
                    if (wide) bk_zero_vectors(row, hi, Wq);
                }
            }
        if (!wide) continue;
        for (int64_t sl = 0; sl < p->nA * p->nB; sl++) /* rows no real output reads */
            memset(xc + sl * p->PS + hrows * Wq, 0, (size_t)((p->rows - nrows) * Wq) * sizeof(float));
        const int64_t used = p->nA * p->nB * p->PS;
        memset(xc + used, 0, (size_t)(p->CS - used) * sizeof(float));
    }
}

/* ---- forward ---------------------------------------------------------------------------------- */

/* out[c][0 : nv*DS_VW] = bias[c] + sum over ci < Cg, t0 <= t < t1 of wb[(ci*T + t)*step + c] *
 * xq[ci*CS + off[t] + j], for c < cb. Inlined with constant cb, nv: the tile lives in registers.
 * With y (a tile inside one output row), the tile goes to y[c*P + j] instead, added to it when
 * `accumulate`, for the first `last` lanes of its last vector (the others are dropped).
 * Vector j reads from xq + j*xs and goes to y + j*ys: xs = ys = DS_VW along a row; xs = Wq,
 * ys = OW for the rows-as-vectors tiles (one vector per output row, `last` lanes of each). */
CNN_FORCE_INLINE void
bk_tile1(const float *restrict xq, int64_t Cg, int64_t CS, const int64_t *restrict off, int64_t T,
         int64_t t0, int64_t t1, const float *restrict wb, int64_t step, const int cb, const int nv,
         const float *bias, float *restrict out, float *restrict y, int64_t P, int64_t last,
         int accumulate, int64_t xs, int64_t ys)
{
    ds_vec acc[BK_CB][BK_NVTOP];
#pragma GCC unroll 16
    for (int c = 0; c < cb; c++) {
        const ds_vec a = bias ? ds_set1(bias[c]) : ds_zero();
#pragma GCC unroll 16
        for (int j = 0; j < nv; j++) acc[c][j] = a;
    }
    for (int64_t ci = 0; ci < Cg; ci++) {
        const float *xc = xq + ci * CS, *wc = wb + ci * T * step;
        for (int64_t t = t0; t < t1; t++) {
            const float *xp = xc + off[t], *wp = wc + t * step;
            ds_vec xv[BK_NVTOP];
#pragma GCC unroll 16
            for (int j = 0; j < nv; j++) xv[j] = ds_load(xp + j * xs);
#pragma GCC unroll 16
            for (int c = 0; c < cb; c++) {
                const ds_vec w = ds_set1(wp[c]);
#pragma GCC unroll 16
                for (int j = 0; j < nv; j++) acc[c][j] = ds_fma(xv[j], w, acc[c][j]);
            }
        }
    }
    if (y) {
#pragma GCC unroll 16
        for (int c = 0; c < cb; c++)
#pragma GCC unroll 16
            for (int j = 0; j < nv; j++) {
                float *d = y + c * P + j * ys;
                if ((j < nv - 1 && ys == DS_VW) || last == DS_VW)
                    ds_store(d, accumulate ? ds_add(ds_load(d), acc[c][j]) : acc[c][j]);
                else
                    ds_store_part(d, accumulate ? ds_add(ds_load_part(d, last), acc[c][j]) : acc[c][j], last);
            }
        return;
    }
#pragma GCC unroll 16
    for (int c = 0; c < cb; c++)
#pragma GCC unroll 16
        for (int j = 0; j < nv; j++) ds_store(out + c * BK_TLMAX + j * DS_VW, acc[c][j]);
}

/* bk_tile1 over nr rows of nt tiles: tile (r, k) reads xq + r*xr + k*nv*DS_VW and goes to
 * y + r*yr + k*nv*DS_VW (out: nr = nt = 1), each with `last` lanes of its last vector stored. */
CNN_FORCE_INLINE void
bk_tile(const float *restrict xq, int64_t Cg, int64_t CS, const int64_t *restrict off, int64_t T,
        int64_t t0, int64_t t1, const float *restrict wb, int64_t step, const int cb, const int nv,
        const float *bias, float *restrict out, int64_t nr, int64_t xr, int64_t nt,
        float *restrict y, int64_t yr, int64_t P, int64_t last, int accumulate, int64_t xs,
        int64_t ys)
{
    for (int64_t r = 0; r < nr; r++)
        for (int64_t k = 0; k < nt; k++)
            bk_tile1(xq + r * xr + k * nv * DS_VW, Cg, CS, off, T, t0, t1, wb, step, cb, nv, bias,
                     out, y ? y + r * yr + k * nv * DS_VW : NULL, P, last, accumulate, xs, ys);
}

/* y rows (channel stride P, OW columns) (+)= tile[c][0:n], outputs q0 .. q0+n-1 numbered by
 * q = oh*Wq + ow from y's first row; columns ow >= OW dropped. */
static void bk_store(const float *restrict tile, int64_t cb, int64_t q0, int64_t n, int64_t Wq,
                     int64_t OW, float *restrict y, int64_t P, int accumulate)
{
    for (int64_t c = 0; c < cb; c++) {
        int64_t oh = q0 / Wq, ow = q0 - oh * Wq;
        for (int64_t i = 0; i < n;) {
            const int64_t run = n - i < Wq - ow ? n - i : Wq - ow;
            const int64_t v = ow < OW ? (run < OW - ow ? run : OW - ow) : 0;
            const float *s = tile + c * BK_TLMAX + i;
            float *d = y + c * P + oh * OW + ow;
            if (accumulate)
                for (int64_t k = 0; k < v; k++) d[k] += s[k];
            else
                for (int64_t k = 0; k < v; k++) d[k] = s[k];
            i += run;
            oh++;
            ow = 0;
        }
    }
}

/* A tile of cb channels x nv vectors (constants inside each case, so that bk_tile's registers are
 * allocated per shape; nv <= BK_NV(cb)); vectors vx apart in the input and vy in y (bk_tile1),
 * constants where both are DS_VW. */
static void bk_tile_any(const float *xs, const bk_plan *p, const int64_t *off, int64_t t0,
                        int64_t t1, const float *wb, int64_t step, int64_t cb, int64_t nv,
                        const float *bias, float *tile, int64_t nr, int64_t xr, int64_t nt,
                        float *yd, int64_t yr, int64_t P, int64_t last, int accumulate, int64_t vx,
                        int64_t vy)
{
    const int64_t Cg = p->Cg, CS = p->CS, T = p->T;
    const int along = vx == DS_VW && vy == DS_VW;
#define BK_NVCASE(c, v)                                                                           \
    case v:                                                                                       \
        if (v <= BK_NV(c) && along)                                                               \
            bk_tile(xs, Cg, CS, off, T, t0, t1, wb, step, c, v, bias, tile, nr, xr, nt, yd, yr, P, \
                    last, accumulate, DS_VW, DS_VW);                                              \
        else if (v <= BK_NV(c))                                                                   \
            bk_tile(xs, Cg, CS, off, T, t0, t1, wb, step, c, v, bias, tile, nr, xr, nt, yd, yr, P, \
                    last, accumulate, vx, vy);                                                    \
        return;
#if BK_NVTOP > 6
#define BK_NVCASES(c) BK_NVCASE(c, 8) BK_NVCASE(c, 7) BK_NVCASE(c, 6) BK_NVCASE(c, 5)            \
    BK_NVCASE(c, 4) BK_NVCASE(c, 3) BK_NVCASE(c, 2) BK_NVCASE(c, 1)
#else
#define BK_NVCASES(c) BK_NVCASE(c, 6) BK_NVCASE(c, 5) BK_NVCASE(c, 4) BK_NVCASE(c, 3)            \
    BK_NVCASE(c, 2) BK_NVCASE(c, 1)
#endif
#define BK_CASE(c)                                                                                \
    case c:                                                                                       \
        switch (nv) { BK_NVCASES(c) }                                                             \
        return;
    switch (cb) {
#if BK_CB >= 8
        BK_CASE(8) BK_CASE(7)
#endif
        BK_CASE(6) BK_CASE(5) BK_CASE(4) BK_CASE(3) BK_CASE(2) BK_CASE(1)
    }
#undef BK_CASE
#undef BK_NVCASES
#undef BK_NVCASE
}

/* Whether the forward tiles of cb channels follow the output rows (each row cut into tiles of
 * nv = BK_NV(cb) vectors, its last tile of as many vectors as its remaining columns need, stored
 * directly with a partial last vector) rather than run along q = oh*Wq + ow across rows (the
 * Wq - OW dropped columns computed, and tiles that cross a row end stored through a buffer).
 * Cost model, measured on this file's AVX2 tiles (Zen 3, one thread): a tile takes the time of
 * max(cb*v, BK_ACC_MIN) FMAs, fewer accumulators being bound by the FMA latency, and q's buffered
 * stores add a quarter. Rows won 1.05-1.2x on the lecture's 89- and 91-wide layers and the MNIST
 * net's 11- to 26-wide ones; q on 4- to 7-wide rows and where a one-channel tile (nv = 6) is
 * wider than the row. Results do not depend on it: each output sums the same terms in order. */
#define BK_ACC_MIN 12
static int bk_by_rows(int64_t OW, int64_t Wq, int64_t cb)
{
    const int64_t nv = BK_NV(cb), tl = nv * DS_VW, nt = OW / tl, v = (OW - nt * tl + DS_VW - 1) / DS_VW;
    const double full = (double)(cb * nv > BK_ACC_MIN ? cb * nv : BK_ACC_MIN);
    const double rows = (double)nt * full + (v ? (double)(cb * v > BK_ACC_MIN ? cb * v : BK_ACC_MIN) : 0.0);
    const double q = 1.25 * (double)Wq / (double)tl * full;
    return rows <= q;
}

/* Whether the forward tiles take one vector per output row (nv rows per tile, each vector's first
 * OW lanes stored straight to its row) rather than bk_by_rows' choice: where a row fits in one
 * vector and fills at least 4/5 of what q's runs fill (OW/DS_VW >= OW/Wq / 1.25, q's buffered
 * stores counted as a quarter, as in bk_by_rows), without q's stores through a buffer or its
 * computed-and-dropped columns, and with nv vectors where the rows' own tiles have one.
 * Measured at one thread against the earlier choice, two runs each (docs/DECISIONS.md): AVX-512
 * 1.09-1.29x on (8,16->32,32x32) 3x3 s2 (16-wide rows) and 1.2-1.3x on (2,24->24,13x13) 5x5,
 * the others within noise (12- to 14-wide rows, strides 1 and 2); AVX2 (8-wide and narrower
 * rows) 0.94-1.04x, so AVX2 keeps bk_by_rows' choice. */
static int bk_rows_as_vectors(int64_t OW, int64_t Wq)
{
    return DS_VW >= 16 && OW <= DS_VW && 4 * DS_VW <= 5 * Wq;
}

/* The taps [t0, t1) of output row oh whose input rows ih = oh*sH + kh*dilH - pT lie in [0, H)
 * (kh in a range, so t = kh*kW + kw in one): the others read only zero padding, and a row's tiles
 * skip them (the transposed problem of a 5x5 input gradient pads by 3, and its first row reads
 * two of five kernel rows). */
static void bk_row_taps(const conv_geom *g, int64_t oh, int64_t *t0, int64_t *t1)
{
    const int64_t top = g->pT - oh * g->sH, end = top + g->H; /* kh*dilH in [top, end) */
    int64_t lo = top > 0 ? (top - 1) / g->dilH + 1 : 0; /* ceilings that cannot overflow */
    int64_t hi = end > 0 ? (end - 1) / g->dilH + 1 : 0;
    lo = lo < g->kH ? lo : g->kH;
    hi = hi < g->kH ? (hi > lo ? hi : lo) : g->kH;
    *t0 = lo * g->kW;
    *t1 = hi * g->kW;
}

/* One block of cb output channels over output rows oh0 .. oh0 + nrows - 1: y (+)= bias + conv, in
 * tiles. */
static void bk_forward_block(const bk_plan *p, const conv_geom *g, const float *xq,
                             const int64_t *off, const float *wb, int64_t step, int64_t cb,
                             const float *bias, int64_t oh0, int64_t nrows, float *y, int64_t P,
                             int accumulate)
{
    float tile[BK_CB * BK_TLMAX];
    const int64_t OW = g->OW, Wq = p->Wq, nv = BK_NV(cb), tl = nv * DS_VW;
    if (bk_rows_as_vectors(OW, Wq)) { /* tiles of nv rows, one vector each */
        for (int64_t r0 = 0; r0 < nrows;) {
            int64_t t0, t1, r1 = r0 + 1, u0, u1;
            bk_row_taps(g, oh0 + r0, &t0, &t1);
            while (r1 < nrows && (bk_row_taps(g, oh0 + r1, &u0, &u1), u0 == t0 && u1 == t1)) r1++;
            for (int64_t r = r0; r < r1; r += nv)
                bk_tile_any(xq + r * Wq, p, off, t0, t1, wb, step, cb, r1 - r < nv ? r1 - r : nv, bias,
                            tile, 1, 0, 1, y + r * OW, 0, P, OW, accumulate, Wq, OW);
            r0 = r1;
        }
        return;
    }
    if (bk_by_rows(OW, Wq, cb)) { /* the whole tiles of every row, then the rows' last tiles */
        const int64_t nt = OW / tl, n = OW - nt * tl, v = (n + DS_VW - 1) / DS_VW;
        for (int64_t r0 = 0; r0 < nrows;) { /* runs of rows that read the same input rows */
            int64_t t0, t1, r1 = r0 + 1, u0, u1;
            bk_row_taps(g, oh0 + r0, &t0, &t1);
            while (r1 < nrows && (bk_row_taps(g, oh0 + r1, &u0, &u1), u0 == t0 && u1 == t1)) r1++;
            const float *xr = xq + r0 * Wq;
            float *yr = y + r0 * OW;
            if (nt) bk_tile_any(xr, p, off, t0, t1, wb, step, cb, nv, bias, tile, r1 - r0, Wq, nt,
                                yr, OW, P, DS_VW, accumulate, DS_VW, DS_VW);
            if (n) bk_tile_any(xr + nt * tl, p, off, t0, t1, wb, step, cb, v, bias, tile, r1 - r0, Wq,
                               1, yr + nt * tl, OW, P, n - (v - 1) * DS_VW, accumulate, DS_VW, DS_VW);
            r0 = r1;
        }
        return;
    }
    const int64_t Q = nrows * Wq;
    for (int64_t q0 = 0; q0 < Q; q0 += tl) {
        const int64_t oh = q0 / Wq, ow = q0 - oh * Wq;
        float *yd = ow + tl <= OW ? y + oh * OW + ow : NULL; /* within one row: store directly */
        bk_tile_any(xq + q0, p, off, 0, p->T, wb, step, cb, nv, bias, tile, 1, 0, 1, yd, 0, P, DS_VW,
                    accumulate, DS_VW, DS_VW);
        if (!yd) bk_store(tile, cb, q0, Q - q0 < tl ? Q - q0 : tl, Wq, OW, y, P, accumulate);
    }
}

/* Channel blocks of a group of Mg output channels: as even as BK_CB allows (6 runs as 6, 8 as
 * 4 + 4 with AVX2's BK_CB = 6). */
static int64_t bk_block_step(int64_t Mg)
{
    const int64_t nblk = (Mg + BK_CB - 1) / BK_CB;
    return nblk ? (Mg + nblk - 1) / nblk : 1;
}

/* wb[gr][blk][ci][t][c] = weight of output channel blk*step + c, input channel ci, tap t of
 * group gr (0 past the group; step: bk_wstep). `transposed`: the weights of the transposed
 * problem of the input gradient, w'[gr][m'][c'][t'] = w[gr][c'][m'][T-1-t'] (m' < Cg, c' < Mg
 * of the original); with `tmap` (a phase of a strided input gradient, bk_phase), tap t' is the
 * original's tap tmap[t'] of Tw. */
static void bk_pack_weights(const float *restrict w, int64_t groups, int64_t Mg, int64_t Cg,
                            int64_t T, int transposed, int64_t step, float *restrict wb,
                            const int64_t *tmap, int64_t Tw)
{
    const int64_t nblk = Mg ? (Mg + step - 1) / step : 0;
    for (int64_t gr = 0; gr < groups; gr++)
        for (int64_t blk = 0; blk < nblk; blk++)
            for (int64_t ci = 0; ci < Cg; ci++)
                for (int64_t t = 0; t < T; t++) {
                    float *d = wb + (((gr * nblk + blk) * Cg + ci) * T + t) * step;
                    for (int64_t c = 0; c < step; c++) {
                        const int64_t m = blk * step + c;
                        d[c] = m >= Mg ? 0.0f
                               : tmap ? w[((gr * Cg + ci) * Mg + m) * Tw + tmap[t]]
                               : transposed ? w[((gr * Cg + ci) * Mg + m) * T + T - 1 - t]
                                            : w[((gr * Mg + m) * Cg + ci) * T + t];
                    }
                }
}

/* Output rows per forward item: planes of about 64K floats (a quarter of L2), and at least two
 * items per thread when the batch alone does not give them. Results do not depend on it. */
static int64_t bk_rows_per_item(const conv_geom *g)
{
    const int64_t Cg = g->C_in / g->groups, Wq = g->OW + (g->kW - 1) * g->dilW / g->sW;
    const int64_t phases = (g->sH < g->kH ? g->sH : g->kH) * (g->sW < g->kW ? g->sW : g->kW);
    const int64_t per_row = (Cg > 0 ? Cg : 1) * phases * Wq;
    int64_t rows = ((int64_t)1 << 16) / (per_row > 0 ? per_row : 1) - (g->kH - 1) * g->dilH / g->sH;
    rows = rows < 4 ? 4 : rows;
    const int64_t images = g->N * g->groups, want = 2 * (int64_t)g->threads;
    if (images < want) {
        const int64_t blocks = (want + images - 1) / images, most = (g->OH + blocks - 1) / blocks;
        rows = rows < most ? rows : most;
    }
    return rows < g->OH ? (rows > 0 ? rows : 1) : g->OH;
}

/* The weight gradient's arguments (bk_weight_task, bc_weight_task). */
typedef struct {
    const conv_geom *g;
    const float *dy, *x;
    const int64_t *offs; /* offs[j], j = ci*T + t: where tap t of input channel ci reads */
    float *dw, *parts;
    int64_t slot;
} bk_wgt_args;

/* The tiles over vectors of output channels (bc_forward_wins; the weight gradient's
 * bc_weight_wins). */
#include "blocked_channels.h"

/* The tiles over vectors of images (bb_forward_wins). */
#include "blocked_batch.h"

/* The packed weights' channels per block: the pixel tiles' channel block, or for the channel
 * tiles the whole group rounded up to vectors. */
static int64_t bk_wstep(const conv_geom *g, int64_t Mg)
{
    return bc_forward_wins(g) ? (Mg + DS_VW - 1) / DS_VW * DS_VW : bk_block_step(Mg);
}

typedef struct {
    const conv_geom *g;
    const float *x, *b, *wb;
    const int64_t *off;
    float *y, *parts;
    int64_t slot, rows;
    int accumulate;
} bk_fwd_args;

/* Items: (image, group, block of output rows); each part fills its planes, then runs the
 * channel blocks over them. */
static void bk_forward_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const bk_fwd_args *t = vctx;
    const conv_geom *g = t->g;
    bk_plan p;
    bk_plan_init(&p, g, t->rows);
    const int64_t blocks = (g->OH + t->rows - 1) / t->rows, P = g->OH * g->OW;
    const int64_t step = bk_wstep(g, p.Mg), nblk = (p.Mg + step - 1) / step;
    const int channels = bc_forward_wins(g);
    float *xq = t->parts + part * t->slot;
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / (g->groups * blocks), gr = item / blocks % g->groups;
        const int64_t oh0 = item % blocks * t->rows, nrows = g->OH - oh0 < t->rows ? g->OH - oh0 : t->rows;
        bk_fill(&p, g, t->x + (n * g->C_in + gr * p.Cg) * g->H * g->W, oh0, nrows, xq);
        for (int64_t m0 = 0; channels && m0 < p.Mg; m0 += BC_MV * DS_VW) { /* wb: one block */
            const int64_t cb = p.Mg - m0 < BC_MV * DS_VW ? p.Mg - m0 : BC_MV * DS_VW;
            const int64_t co = gr * p.Mg + m0;
            bc_forward_block(&p, g, xq, t->off, t->wb + gr * p.Cg * p.T * step + m0, step,
                             (cb + DS_VW - 1) / DS_VW, cb, t->b ? t->b + co : NULL, oh0, nrows,
                             t->y + (n * g->C_out + co) * P + oh0 * g->OW, P, t->accumulate);
        }
        for (int64_t blk = 0; !channels && blk < nblk; blk++) {
            const int64_t m0 = blk * step, cb = p.Mg - m0 < step ? p.Mg - m0 : step;
            const int64_t co = gr * p.Mg + m0;
            bk_forward_block(&p, g, xq, t->off, t->wb + (gr * nblk + blk) * p.Cg * p.T * step, step,
                             cb, t->b ? t->b + co : NULL, oh0, nrows,
                             t->y + (n * g->C_out + co) * P + oh0 * g->OW, P, t->accumulate);
        }
    }
}

/* Scratch, in floats, of the forward of g: shared (packed weights, tap offsets) and per part. */
static void bk_forward_sizes(const conv_geom *g, int64_t *shared, int64_t *slot)
{
    bk_plan p;
    if (bb_forward_wins(g)) {
        (void)bb_forward_sizes(g, shared, slot);
        return;
    }
    bk_plan_init(&p, g, bk_rows_per_item(g));
    const int64_t step = bk_wstep(g, p.Mg), nblk = p.Mg ? (p.Mg + step - 1) / step : 0;
    *shared = g->groups * nblk * step * p.Cg * p.T + 2 * p.T; /* 2 floats per int64 offset */
    *slot = p.Cg * p.CS;
}

/* y (+)= conv(x, w) + b (w packed per call: weights change every optimizer step, and packing
 * costs well under 1% of these layers' work). `transposed`: w is the original convolution's
 * weight and g the transposed problem of its input gradient. */
static void bk_forward(const conv_geom *g, const float *x, const float *w, int transposed,
                       const int64_t *tmap, int64_t Tw, const float *b, float *y, int accumulate,
                       float *scratch)
{
    int64_t shared, slot;
    if (bb_forward_wins(g)) {
        bb_forward(g, x, w, transposed, tmap, Tw, b, y, accumulate, scratch);
        return;
    }
    bk_forward_sizes(g, &shared, &slot);
    bk_plan p;
    const int64_t rows = bk_rows_per_item(g);
    bk_plan_init(&p, g, rows);
    int64_t *off = (int64_t *)(void *)scratch; /* 8-byte aligned: the scratch is malloc'ed */
    float *wb = scratch + 2 * p.T;
    bk_offsets(&p, g, off);
    bk_pack_weights(w, g->groups, p.Mg, p.Cg, p.T, transposed, bk_wstep(g, p.Mg), wb, tmap, Tw);
    slot += (-slot) & 15; /* parts on 64-byte boundaries */
    float *parts = scratch + ((shared + 15) & ~(int64_t)15);
    bk_fwd_args t = {g, x, b, wb, off, y, parts, slot, rows, accumulate};
    const int64_t blocks = (g->OH + rows - 1) / rows;
    const double work = (double)rows * g->OW * p.Mg * p.Cg * p.T;
    cnn_parallel_for(g->N * g->groups * blocks, cnn_work_grain(work), g->threads, bk_forward_task, &t);
}

/* The transposed problem of a stride-1 convolution's input gradient: dx = conv(dy, w flipped,
 * channels swapped), padded by dil*(k-1) - pad (negative: cropped). */
static conv_geom bk_transposed(const conv_geom *g)
{
    conv_geom t = *g;
    t.C_in = g->C_out;
    t.C_out = g->C_in;
    t.H = g->OH;
    t.W = g->OW;
    t.OH = g->H;
    t.OW = g->W;
    t.pT = g->dilH * (g->kH - 1) - g->pT;
    t.pL = g->dilW * (g->kW - 1) - g->pL;
    return t;
}

/* ---- input gradient of a strided convolution, by phases --------------------------------------
 * Input row ih = a + sH*i (phase a < sH) receives exactly the taps kh with (a + pT - kh*dilH)
 * divisible by sH, tap kh from dy row i + (a + pT - kh*dilH)/sH. So each phase (a, b) of dx is
 * the stride-1 forward of dy with those taps, flipped, channel axes swapped (consecutive taps of a
 * phase are dilH/gcd(dilH, sH) rows apart): no multiplication by an inserted zero and no col2im.
 * The phases go to a phase-major copy of dx (they partition it), then one pass adds them into dx.
 * The transpose convolution's phase path (conv_transpose_plan.h) is the same decomposition. */

/* One axis of phase a: the taps (descending kernel index, so that offsets ascend) in kk[], their
 * count returned; *dil and *pad of the stride-1 problem; *len outputs. */
static int64_t bk_phase_axis(int64_t n_in, int64_t k, int64_t s, int64_t d, int64_t p, int64_t a,
                             int64_t *kk, int64_t *dil, int64_t *pad, int64_t *len)
{
    int64_t nt = 0;
    for (int64_t t = k - 1; t >= 0; t--) {
        const int64_t r = (a + p - t * d) % s;
        if (r == 0) kk[nt++] = t;
    }
    *dil = d / bk_gcd(d, s);
    *pad = nt ? -((a + p - kk[0] * d) / s) : 0; /* exact: divisible */
    *len = a < n_in ? (n_in - a + s - 1) / s : 0;
    return nt;
}

/* The stride-1 problem of phase (a, b) of g's input gradient (dy -> that phase of dx) and its tap
 * map (tmap[u*kW' + v] = the original tap); 0 when the phase has no taps or no outputs. */
static int bk_phase(const conv_geom *g, int64_t a, int64_t b, conv_geom *t, int64_t *tmap)
{
    int64_t kh[64], kw[64], nh, nw, dh, dw, ph, pw, lh, lw;
    if (g->kH > 64 || g->kW > 64) return 0; /* bk_phases_fit */
    nh = bk_phase_axis(g->H, g->kH, g->sH, g->dilH, g->pT, a, kh, &dh, &ph, &lh);
    nw = bk_phase_axis(g->W, g->kW, g->sW, g->dilW, g->pL, b, kw, &dw, &pw, &lw);
    *t = *g;
    t->C_in = g->C_out;
    t->C_out = g->C_in;
    t->H = g->OH;
    t->W = g->OW;
    t->OH = lh;
    t->OW = lw;
    t->kH = nh;
    t->kW = nw;
    t->sH = t->sW = 1;
    t->dilH = dh;
    t->dilW = dw;
    t->pT = ph;
    t->pL = pw;
    if (!nh || !nw || !lh || !lw) return 0;
    for (int64_t u = 0; u < nh; u++)
        for (int64_t v = 0; v < nw; v++) tmap[u * nw + v] = kh[u] * g->kW + kw[v];
    return 1;
}

/* Whether the phases apply: a stride, kernels of at most 64 taps per axis, strides of at most 8
 * per axis (at most 64 phases). */
static int bk_phases_fit(const conv_geom *g)
{
    return (g->sH > 1 || g->sW > 1) && g->kH <= 64 && g->kW <= 64 && g->sH <= 8 && g->sW <= 8;
}

/* d[2j] += e[j], d[2j+1] += o[j], j < n: two column phases into a row, in a loop the compiler
 * vectorises. */
static void bk_add_pairs(float *restrict d, const float *restrict e, const float *restrict o, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        d[2 * j] += e[j];
        d[2 * j + 1] += o[j];
    }
}

typedef struct {
    const conv_geom *g;
    const float *ph; /* the phases, phase-major: phase (a, b) at off[a*sW + b], (N, C_in, len_a, len_b) */
    const int64_t *off;
    float *dx;
} bk_interleave_args;

/* dx[n][c][a + sH*i][b + sW*j] += phase (a, b)[n][c][i][j], a plane (n, c) per item. */
static void bk_interleave_task(void *vctx, int64_t begin, int64_t end, int part)
{
    (void)part;
    const bk_interleave_args *t = vctx;
    const conv_geom *g = t->g;
    const int64_t H = g->H, W = g->W, sH = g->sH, sW = g->sW;
    for (int64_t item = begin; item < end; item++) {
        float *d = t->dx + item * H * W;
        for (int64_t ih = 0; ih < H; ih++) {
            const int64_t a = ih % sH, i = ih / sH, la = (H - a + sH - 1) / sH;
            float *row = d + ih * W;
            if (sW == 2 && W >= 2) { /* both column phases at once: contiguous stores */
                const int64_t l0 = (W + 1) / 2, l1 = W / 2;
                bk_add_pairs(row, t->ph + t->off[a * 2] + (item * la + i) * l0,
                             t->ph + t->off[a * 2 + 1] + (item * la + i) * l1, l1);
                if (l0 > l1) row[W - 1] += t->ph[t->off[a * 2] + (item * la + i) * l0 + l1];
                continue;
            }
            for (int64_t b = 0; b < sW && b < W; b++) {
                const int64_t lb = (W - b + sW - 1) / sW;
                const float *src = t->ph + t->off[a * sW + b] + (item * la + i) * lb;
                for (int64_t j = 0; j < lb; j++) row[b + j * sW] += src[j];
            }
        }
    }
}

/* Images per round of the phases: a phase copy of at most 4M floats (16 MB), at least one image. */
static int64_t bk_phase_images(const conv_geom *g)
{
    const int64_t per = g->C_in * g->H * g->W, most = ((int64_t)1 << 22) / (per > 0 ? per : 1);
    return most < 1 ? 1 : most < g->N ? most : g->N;
}

/* Floats of the phase copy (one round of images), and the largest forward scratch of a phase
 * (shared, slot), for a whole round and for the last, shorter one: the image tiles' rule
 * (bb_forward_wins) depends on the batch. */
static int64_t bk_phase_sizes(const conv_geom *g, int64_t *shared, int64_t *slot)
{
    int64_t tmap[64 * 64];
    const int64_t round = bk_phase_images(g), rest = round > 0 ? g->N % round : 0;
    *shared = *slot = 0;
    for (int k = 0; k < 2; k++) {
        conv_geom r = *g;
        r.N = k == 0 ? round : rest;
        if (r.N == 0) continue;
        for (int64_t a = 0; a < g->sH; a++)
            for (int64_t b = 0; b < g->sW; b++) {
                conv_geom t;
                int64_t sh, sl;
                if (!bk_phase(&r, a, b, &t, tmap)) continue;
                bk_forward_sizes(&t, &sh, &sl);
                *shared = sh > *shared ? sh : *shared;
                *slot = sl > *slot ? sl : *slot;
            }
    }
    return round * g->C_in * g->H * g->W;
}

/* dx += conv^T(dy, w) of a strided g, by phases, a round of images at a time. Scratch: the phase
 * copy, then bk_forward's. */
static void bk_backward_data_phases(const conv_geom *g, const float *dy, const float *w, float *dx,
                                    float *scratch)
{
    int64_t tmap[64 * 64], off[64];
    const int64_t round = bk_phase_images(g), copy = (round * g->C_in * g->H * g->W + 15) & ~(int64_t)15;
    float *ph = scratch, *fwd = scratch + copy;
    for (int64_t n0 = 0; n0 < g->N; n0 += round) {
        conv_geom r = *g;
        r.N = g->N - n0 < round ? g->N - n0 : round;
        int64_t at = 0;
        for (int64_t a = 0; a < g->sH; a++)
            for (int64_t b = 0; b < g->sW; b++) {
                conv_geom t;
                const int64_t la = a < g->H ? (g->H - a + g->sH - 1) / g->sH : 0;
                const int64_t lb = b < g->W ? (g->W - b + g->sW - 1) / g->sW : 0;
                off[a * g->sW + b] = at;
                if (bk_phase(&r, a, b, &t, tmap))
                    bk_forward(&t, dy + n0 * g->C_out * g->OH * g->OW, w, 1, tmap, g->kH * g->kW, NULL,
                               ph + at, 0, fwd);
                else
                    memset(ph + at, 0, (size_t)(r.N * g->C_in * la * lb) * sizeof(float));
                at += r.N * g->C_in * la * lb;
            }
        bk_interleave_args t = {&r, ph, off, dx + n0 * g->C_in * g->H * g->W};
        cnn_parallel_for(r.N * g->C_in, cnn_work_grain((double)r.N * g->C_in * g->H * g->W), g->threads,
                         bk_interleave_task, &t);
    }
}

/* ---- weight gradient ------------------------------------------------------------------------ */

/* res[c*tj + jj] = sum over images b < nb and q < qn (a multiple of DS_VW) of
 * dyq[b*sd + c*ld + q] * xq[b*sx + offj[jj] + q], for c < cbm, jj < tj: lane-wise in that
 * order, then across lanes (ds_hsum's fixed order). Each sum's order does not depend on cbm or
 * tj. Inlined with constant cbm and tj: the tile lives in registers. */
CNN_FORCE_INLINE void
bk_wtile(const float *restrict dyq, int64_t ld, int64_t sd, int64_t qn, const float *restrict xq,
         int64_t sx, int64_t nb, const int64_t *restrict offj, const int cbm, const int tj,
         float *restrict res)
{
    ds_vec acc[BK_WM][BK_WJMAX];
#pragma GCC unroll 16
    for (int c = 0; c < cbm; c++)
#pragma GCC unroll 16
        for (int jj = 0; jj < tj; jj++) acc[c][jj] = ds_zero();
    for (int64_t b = 0; b < nb; b++) {
        const float *xp[BK_WJMAX], *db = dyq + b * sd;
#pragma GCC unroll 16
        for (int jj = 0; jj < tj; jj++) xp[jj] = xq + b * sx + offj[jj];
        for (int64_t q = 0; q < qn; q += DS_VW) {
            ds_vec d[BK_WM];
#pragma GCC unroll 16
            for (int c = 0; c < cbm; c++) d[c] = ds_load(db + c * ld + q);
#pragma GCC unroll 16
            for (int jj = 0; jj < tj; jj++) {
                const ds_vec xv = ds_load(xp[jj] + q);
#pragma GCC unroll 16
                for (int c = 0; c < cbm; c++) acc[c][jj] = ds_fma(d[c], xv, acc[c][jj]);
            }
        }
    }
#pragma GCC unroll 16
    for (int c = 0; c < cbm; c++)
#pragma GCC unroll 16
        for (int jj = 0; jj < tj; jj++) res[c * tj + jj] = ds_hsum(acc[c][jj]);
}

/* How the weight-gradient reduction is cut, from the geometry alone (never the thread count):
 * a large image in chunks of qc outputs, whose planes for every input channel take about 64K
 * floats (the x runs come from L2 while dy's stay in L1); small images whole, nb at a time, so
 * that each reduction runs long enough to pay for its setup and final sums. */
static void bk_wcut(const bk_plan *p, const conv_geom *g, int64_t Qr, int64_t *qc, int64_t *nb)
{
    int64_t c = ((int64_t)1 << 16) / (p->Cg > 0 ? p->Cg : 1);
    c -= c % 256;
    *qc = c < 256 ? 256 : c;
    const int64_t per_image = p->Cg * p->CS + p->Mg * Qr;
    *nb = 1;
    if (Qr <= *qc) {
        const int64_t fit = ((int64_t)1 << 16) / (per_image > 0 ? per_image : 1);
        *nb = fit < 1 ? 1 : fit < g->N ? fit : g->N;
    }
}

/* Items: output channels. Each part, nb images at a time, fills the planes of the groups its
 * channels belong to and its channels' dyq (dy rows padded to Wq with zeros), then sums chunk by
 * chunk into dw. */
static void bk_weight_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const bk_wgt_args *t = vctx;
    const conv_geom *g = t->g;
    bk_plan p;
    bk_plan_init(&p, g, g->OH);
    const int64_t Wq = p.Wq, OW = g->OW, P = g->OH * OW, J = p.Cg * p.T;
    const int64_t Q = g->OH * Wq, Qr = (Q + DS_VW - 1) / DS_VW * DS_VW;
    int64_t qc, nbmax;
    bk_wcut(&p, g, Qr, &qc, &nbmax);
    const int64_t sx = p.Cg * p.CS, sd = p.Mg * Qr;
    float *xq = t->parts + part * t->slot, *dyq = xq + nbmax * sx;
    for (int64_t n0 = 0; n0 < g->N; n0 += nbmax) {
        const int64_t nb = g->N - n0 < nbmax ? g->N - n0 : nbmax;
        for (int64_t co0 = begin; co0 < end;) {
            const int64_t gr = co0 / p.Mg, gend = (gr + 1) * p.Mg < end ? (gr + 1) * p.Mg : end;
            for (int64_t b = 0; b < nb; b++) {
                const int64_t n = n0 + b;
                bk_fill(&p, g, t->x + (n * g->C_in + gr * p.Cg) * g->H * g->W, 0, g->OH, xq + b * sx);
                for (int64_t m = co0; m < gend; m++) {
                    float *d = dyq + b * sd + (m - co0) * Qr;
                    const float *src = t->dy + (n * g->C_out + m) * P;
                    for (int64_t oh = 0; oh < g->OH; oh++) {
                        float *row = d + oh * Wq;
                        if (Wq >= BK_WIDE_ROW) { /* as bk_fill: inline lost 5% on 89-wide rows */
                            memcpy(row, src + oh * OW, (size_t)OW * sizeof(float));
                            memset(row + OW, 0, (size_t)(Wq - OW) * sizeof(float));
                            continue;
                        }
                        bk_copy(row, src + oh * OW, OW); /* short rows: no two calls per row */
                        for (int64_t k = OW; k < Wq; k++) {
                            row[k] = 0.0f;
#if defined(__GNUC__) || defined(__clang__)
                            __asm__ volatile(""); /* no memset call */
#endif
                        }
                    }
                    memset(d + Q, 0, (size_t)(Qr - Q) * sizeof(float));
                }
            }
            for (int64_t q0 = 0; q0 < Qr; q0 += qc) {
                const int64_t qn = Qr - q0 < qc ? Qr - q0 : qc;
                for (int64_t m = co0; m < gend; m += BK_WM) {
                    const int64_t cbm = gend - m < BK_WM ? gend - m : BK_WM, tjn = BK_WJ(cbm);
                    const float *dm = dyq + (m - co0) * Qr + q0;
                    for (int64_t j0 = 0; j0 < J; j0 += tjn) {
                        int64_t offj[BK_WJMAX];
                        float res[BK_WM * BK_WJMAX];
                        for (int64_t jj = 0; jj < tjn; jj++) /* past J: repeat the last tap, dropped */
                            offj[jj] = t->offs[j0 + jj < J ? j0 + jj : J - 1] + q0;
                        switch (cbm) {
#define BK_CASE(n)                                                                                \
    case n:                                                                                       \
        bk_wtile(dm, Qr, sd, qn, xq, sx, nb, offj, n, BK_WJ(n), res);                             \
        break;
#if BK_WM >= 4
                            BK_CASE(4)
#endif
                            BK_CASE(3) BK_CASE(2)
                        default: bk_wtile(dm, Qr, sd, qn, xq, sx, nb, offj, 1, BK_WJ(1), res);
#undef BK_CASE
                        }
                        const int64_t tj = J - j0 < tjn ? J - j0 : tjn;
                        for (int64_t c = 0; c < cbm; c++)
                            for (int64_t jj = 0; jj < tj; jj++) t->dw[(m + c) * J + j0 + jj] += res[c * tjn + jj];
                    }
                }
            }
            co0 = gend;
        }
    }
}

static void bk_weight_sizes(const conv_geom *g, int64_t *shared, int64_t *slot)
{
    if (bc_weight_wins(g)) {
        bc_weight_sizes(g, shared, slot);
        return;
    }
    bk_plan p;
    bk_plan_init(&p, g, g->OH);
    const int64_t Qr = (g->OH * p.Wq + DS_VW - 1) / DS_VW * DS_VW;
    int64_t qc, nb;
    bk_wcut(&p, g, Qr, &qc, &nb);
    *shared = 2 * p.T + 2 * p.Cg * p.T; /* tap offsets and their per-channel sums, int64 */
    *slot = nb * (p.Cg * p.CS + p.Mg * Qr);
}

static void bk_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                               float *scratch)
{
    int64_t shared, slot;
    bk_weight_sizes(g, &shared, &slot);
    bk_plan p;
    bk_plan_init(&p, g, g->OH);
    int64_t *off = (int64_t *)(void *)scratch, *offs = off + p.T; /* malloc'ed: 8-byte aligned */
    bk_offsets(&p, g, off);
    for (int64_t ci = 0; ci < p.Cg; ci++)
        for (int64_t tap = 0; tap < p.T; tap++) offs[ci * p.T + tap] = ci * p.CS + off[tap];
    if (bc_weight_wins(g)) {
        bc_backward_weight(g, dy, x, dw, offs, scratch, shared);
        return;
    }
    slot += (-slot) & 15;
    bk_wgt_args t = {g, dy, x, offs, dw, scratch + ((shared + 15) & ~(int64_t)15), slot};
    const double work = (double)g->N * g->OH * g->OW * p.Cg * p.T;
    cnn_parallel_for(g->C_out, cnn_work_grain(work), g->threads, bk_weight_task, &t);
}

/* ---- entry points ---------------------------------------------------------------------------- */

static int bk_conv_forward(const conv_geom *g, const float *x, const float *w, const float *b,
                           float *y, int accumulate, float *scratch)
{
    bk_forward(g, x, w, 0, NULL, 0, b, y, accumulate, scratch);
    return 1;
}

/* dx += conv^T(dy, w): stride 1 as the transposed problem, other strides by phases (returns 0
 * for the GEMM to take what bk_phases_fit leaves). */
static int bk_conv_backward_data(const conv_geom *g, const float *dy, const float *w, float *dx,
                                 float *scratch)
{
    if (g->sH != 1 || g->sW != 1) {
        if (!bk_phases_fit(g)) return 0;
        bk_backward_data_phases(g, dy, w, dx, scratch);
        return 1;
    }
    const conv_geom t = bk_transposed(g);
    bk_forward(&t, dy, w, 1, NULL, 0, NULL, dx, 1, scratch);
    return 1;
}

static int bk_conv_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                                   float *scratch)
{
    bk_backward_weight(g, dy, x, dw, scratch);
    return 1;
}

/* Scratch (floats) per thread for g->threads threads: the largest of the three passes, each
 * shared part spread over the threads' slices. CNN_EOVERFLOW when it does not fit (computed in
 * double first: hostile geometries overflow int64). */
static cnn_status bk_scratch_len(const conv_geom *g, int64_t *len)
{
    const int64_t threads = g->threads > 0 ? g->threads : 1;
    const double Wq = (double)g->OW + (double)(g->kW - 1) * (double)g->dilW / (double)g->sW;
    const double Hq = (double)g->OH + (double)g->H + (double)(g->kH - 1) * (double)g->dilH;
    const double rough = ((double)g->C_in + (double)g->C_out + 64) * (Wq + 1024) * (Hq + 16) *
                         (double)(g->sH < g->kH ? g->sH : g->kH) * (double)(g->sW < g->kW ? g->sW : g->kW) +
                         ((double)g->C_in + 16) * ((double)g->C_out + 16) * (double)g->kH * (double)g->kW;
    *len = 0;
    if (rough > 1e15) return CNN_EOVERFLOW;
    int64_t shared, slot, best = 0;
    const conv_geom t = bk_transposed(g);
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 0) bk_forward_sizes(g, &shared, &slot);
        else if (pass == 1 && g->sH == 1 && g->sW == 1) bk_forward_sizes(&t, &shared, &slot);
        else if (pass == 1 && bk_phases_fit(g)) { /* the phase copy, then a phase's forward */
            const int64_t copy = (bk_phase_sizes(g, &shared, &slot) + 15) & ~(int64_t)15;
            shared = copy + ((shared + 15) & ~(int64_t)15) + 16 * threads;
        } else if (pass == 2) bk_weight_sizes(g, &shared, &slot);
        else continue;
        slot += (-slot) & 15;
        shared = (shared + 15) & ~(int64_t)15;
        const int64_t per = slot + (shared + threads - 1) / threads;
        best = per > best ? per : best;
    }
    *len = best + 16;
    return CNN_OK;
}
