/* generic/fused.h — the fused layers of a network for one dtype (`real`, suffix R()): a
 * convolution with its bias, an activation and a pooling (net_fused, internal.h), forward and
 * backward, on tiles that stay in cache. Compiled per dtype and instruction set after conv.h,
 * pool.h and activation.h: the convolution runs on their kernels, and every activation, pooling
 * and gradient value is the expression their kernels evaluate, in the same order, so a fused
 * group computes what the layer-by-layer path computes.
 *
 * Mask bytes per output element of a group: max pooling, the argmax's position in its window
 * (row-major) in bits 0-6 and, for relu / leaky relu, the activation's branch in bit 7; average
 * pooling with relu / leaky relu before it, one branch bit per window element; after it, one
 * branch bit. Sigmoid and tanh need no bit: their derivative comes from their output. */

/* ---- activations, as act_forward / act_backward compute them ------------------------------------ */

/* In place over n values of a tile in cache (act_forward's loops, which take restrict). */
static void R(fused_act_rows)(int act, real slope, int64_t n, real *v)
{
    switch (act) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++) v[i] = v[i] <= 0 ? 0 : v[i];
        break;
    case ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : v[i] * slope;
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) v[i] = R(sigmoid)(v[i]);
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++) v[i] = R(tanh_r)(v[i]);
        break;
    }
}

/* relu and leaky relu have a branch bit; sigmoid and tanh do not need one. */
static inline int R(fused_has_bit)(int act)
{
    return act == ACT_RELU || act == ACT_LEAKY_RELU;
}

/* The branch the activation took, from its OUTPUT a: relu's test x <= 0 is a <= 0; leaky relu's
 * x > 0 is a > 0 (net_plan.c fuses leaky relu only with a finite slope >= 0). */
static inline int R(fused_pos)(int act, real a)
{
    return act == ACT_RELU ? !(a <= 0) : a > 0;
}

static real R(fused_divisor)(const net_fused *f)
{
    cnn_pool2d_desc d = {0};
    d.divisor_override = f->divisor_override;
    d.count_include_pad = f->count_include_pad;
    return R(avg_divisor)(&d, f->pk_h, f->pk_h, f->pk_w, f->pk_w);
}

/* ---- forward -------------------------------------------------------------------------------------- */

/* Pooled outputs per chunk: the columns of a chunk's windows live in stack arrays. */
enum { R(FUSED_CHUNK) = 64 };

/* col[q] = row[q*kw + j] for q < n: one column of n windows (a deinterleave: the loops below
 * then run over contiguous arrays). */
static inline void R(fused_column)(const real *restrict row, int64_t kw, int64_t j, int64_t n,
                                   real *restrict col)
{
    if (kw == 2)
        for (int64_t q = 0; q < n; q++) col[q] = row[2 * q + j];
    else
        for (int64_t q = 0; q < n; q++) col[q] = row[q * kw + j];
}

/* ---- 2x2 windows with relu, leaky relu or no activation: one pass per pooled row ------------- */
/* The common case (the lecture's networks): each loop below reads and writes a pooled row's
 * windows directly and vectorises whole; `act` is -1, ACT_RELU or ACT_LEAKY_RELU, `max` and
 * `after` are constants at each call. The values are those of the general path. */

/* The activation (relu / leaky relu / none) and its branch bit, as act_forward's tests. */
static inline real R(bit_act)(int act, real slope, real v)
{
    return act < 0 ? v : act == ACT_RELU ? (v <= 0 ? 0 : v) : (v > 0 ? v : v * slope);
}

/* act_backward's value onto a zeroed array for the branch bit pos. */
static inline real R(bit_grad)(int act, real slope, real d, int pos)
{
    const real zero = 0, g = d, leak = act == ACT_RELU ? 0 : d * slope;
    return act < 0 ? d : zero + (pos ? g : leak);
}

static inline void R(pool2x2_row)(const int max, const int after, const int with_mask, int act,
                                  real slope, real div, const real *restrict r0,
                                  const real *restrict r1, int64_t n, real *restrict y,
                                  uint8_t *restrict mask)
{
    enum { CH = R(FUSED_CHUNK) };
    real e0[CH], e1[CH], e2[CH], e3[CH], v[CH];
    int32_t at[CH]; /* the lanes of the values: the selects below vectorise */
    for (int64_t q0 = 0; q0 < n; q0 += CH) {
        const int64_t m = n - q0 < CH ? n - q0 : CH;
        R(fused_column)(r0 + 2 * q0, 2, 0, m, e0); /* the windows' four elements, row-major */
        R(fused_column)(r0 + 2 * q0, 2, 1, m, e1);
        R(fused_column)(r1 + 2 * q0, 2, 0, m, e2);
        R(fused_column)(r1 + 2 * q0, 2, 1, m, e3);
        if (!after && act >= 0) {
            for (int64_t q = 0; q < m; q++) {
                e0[q] = R(bit_act)(act, slope, e0[q]);
                e1[q] = R(bit_act)(act, slope, e1[q]);
                e2[q] = R(bit_act)(act, slope, e2[q]);
                e3[q] = R(bit_act)(act, slope, e3[q]);
            }
            if (with_mask && !max)
                for (int64_t q = 0; q < m; q++)
                    mask[q0 + q] = (uint8_t)(R(fused_pos)(act, e0[q]) | R(fused_pos)(act, e1[q]) << 1 |
                                             R(fused_pos)(act, e2[q]) << 2 | R(fused_pos)(act, e3[q]) << 3);
        }
        if (max) { /* maxpool_forward's scan from the first element (-inf or NaN: the same) */
            for (int64_t q = 0; q < m; q++) {
                real w = e0[q];
                int32_t k = 0;
                const int t1 = e1[q] > w || e1[q] != e1[q];
                w = t1 ? e1[q] : w;
                k = t1 ? 1 : k;
                const int t2 = e2[q] > w || e2[q] != e2[q];
                w = t2 ? e2[q] : w;
                k = t2 ? 2 : k;
                const int t3 = e3[q] > w || e3[q] != e3[q];
                v[q] = t3 ? e3[q] : w;
                at[q] = t3 ? 3 : k;
            }
        } else { /* avgpool_forward's sum, row-major, then the divisor */
            for (int64_t q = 0; q < m; q++) {
                real w = 0;
                w += e0[q];
                w += e1[q];
                w += e2[q];
                w += e3[q];
                v[q] = w / div;
            }
        }
        if (after)
            for (int64_t q = 0; q < m; q++) v[q] = R(bit_act)(act, slope, v[q]);
        for (int64_t q = 0; q < m; q++) y[q0 + q] = v[q];
        if (with_mask && max)
            for (int64_t q = 0; q < m; q++)
                mask[q0 + q] = (uint8_t)(at[q] | (act >= 0 && R(fused_pos)(act, v[q])) << 7);
        else if (with_mask && after)
            for (int64_t q = 0; q < m; q++) mask[q0 + q] = (uint8_t)R(fused_pos)(act, v[q]);
    }
}

/* The conv output gradient of a pooled row's windows (rows d0, d1): the general path's values. */
static inline void R(unpool2x2_row)(const int max, const int after, const int with_mask, int act,
                                    real slope, real div, const real *restrict dy,
                                    const uint8_t *restrict mask, int64_t n, real *restrict d0,
                                    real *restrict d1)
{
    enum { CH = R(FUSED_CHUNK) };
    const real zero = 0;
    real g[CH], v[4][CH];
    int32_t b[CH]; /* the mask bytes, widened to the lanes of the values */
    for (int64_t q0 = 0; q0 < n; q0 += CH) {
        const int64_t m = n - q0 < CH ? n - q0 : CH;
        for (int64_t q = 0; q < m; q++) b[q] = with_mask ? mask[q0 + q] : 0;
        /* the gradient a window spreads: the pooling's backward onto zeros, the activation's
         * before it when it follows the pooling */
        if (max && after)
            for (int64_t q = 0; q < m; q++) g[q] = zero + R(bit_grad)(act, slope, dy[q0 + q], b[q] >> 7);
        else if (max)
            for (int64_t q = 0; q < m; q++) g[q] = zero + dy[q0 + q];
        else if (after)
            for (int64_t q = 0; q < m; q++) g[q] = zero + R(bit_grad)(act, slope, dy[q0 + q], b[q] & 1) / div;
        else
            for (int64_t q = 0; q < m; q++) g[q] = zero + dy[q0 + q] / div;
        if (max && !after && act >= 0)
            for (int64_t q = 0; q < m; q++) g[q] = R(bit_grad)(act, slope, g[q], b[q] >> 7);
        for (int k = 0; k < 4; k++) {
            if (max)
                for (int64_t q = 0; q < m; q++) v[k][q] = (b[q] & 0x7f) == k ? g[q] : 0;
            else if (!after && act >= 0) /* the activation's backward per window element */
                for (int64_t q = 0; q < m; q++) v[k][q] = R(bit_grad)(act, slope, g[q], (b[q] >> k) & 1);
            else
                for (int64_t q = 0; q < m; q++) v[k][q] = g[q];
        }
        for (int64_t q = 0; q < m; q++) { /* interleaved back into the two rows */
            d0[2 * (q0 + q)] = v[0][q];
            d0[2 * (q0 + q) + 1] = v[1][q];
        }
        for (int64_t q = 0; q < m; q++) {
            d1[2 * (q0 + q)] = v[2][q];
            d1[2 * (q0 + q) + 1] = v[3][q];
        }
    }
}

/* Whether the 2x2 path runs this group. */
static int R(fast2x2)(const net_fused *f)
{
    return f->pk_h == 2 && f->pk_w == 2 && (f->act < 0 || R(fused_has_bit)(f->act));
}

/* The variants with constant arguments, so that every loop vectorises: max pooling always keeps
 * its argmax, average pooling keeps bits only with an activation. */
static inline void R(pool2x2_act)(const int act, const net_fused *f, const real *r0, const real *r1,
                                  int64_t n, real *y, uint8_t *mask)
{
    const real slope = (real)f->slope, div = R(fused_divisor)(f);
    if (f->pool == NET_POOL_MAX && f->act_after_pool) R(pool2x2_row)(1, 1, 1, act, slope, div, r0, r1, n, y, mask);
    else if (f->pool == NET_POOL_MAX) R(pool2x2_row)(1, 0, 1, act, slope, div, r0, r1, n, y, mask);
    else if (act < 0) R(pool2x2_row)(0, 0, 0, act, slope, div, r0, r1, n, y, mask);
    else if (f->act_after_pool) R(pool2x2_row)(0, 1, 1, act, slope, div, r0, r1, n, y, mask);
    else R(pool2x2_row)(0, 0, 1, act, slope, div, r0, r1, n, y, mask);
}

static void R(pool2x2)(const net_fused *f, const real *r0, const real *r1, int64_t n, real *y,
                       uint8_t *mask)
{
    if (f->act == ACT_RELU) R(pool2x2_act)(ACT_RELU, f, r0, r1, n, y, mask);
    else if (f->act == ACT_LEAKY_RELU) R(pool2x2_act)(ACT_LEAKY_RELU, f, r0, r1, n, y, mask);
    else R(pool2x2_act)(-1, f, r0, r1, n, y, mask);
}

static inline void R(unpool2x2_act)(const int act, const net_fused *f, const real *dy,
                                    const uint8_t *mask, int64_t n, real *d0, real *d1)
{
    const real slope = (real)f->slope, div = R(fused_divisor)(f);
    if (f->pool == NET_POOL_MAX && f->act_after_pool) R(unpool2x2_row)(1, 1, 1, act, slope, div, dy, mask, n, d0, d1);
    else if (f->pool == NET_POOL_MAX) R(unpool2x2_row)(1, 0, 1, act, slope, div, dy, mask, n, d0, d1);
    else if (act < 0) R(unpool2x2_row)(0, 0, 0, act, slope, div, dy, mask, n, d0, d1);
    else if (f->act_after_pool) R(unpool2x2_row)(0, 1, 1, act, slope, div, dy, mask, n, d0, d1);
    else R(unpool2x2_row)(0, 0, 1, act, slope, div, dy, mask, n, d0, d1);
}

static void R(unpool2x2)(const net_fused *f, const real *dy, const uint8_t *mask, int64_t n,
                         real *d0, real *d1)
{
    if (f->act == ACT_RELU) R(unpool2x2_act)(ACT_RELU, f, dy, mask, n, d0, d1);
    else if (f->act == ACT_LEAKY_RELU) R(unpool2x2_act)(ACT_LEAKY_RELU, f, dy, mask, n, d0, d1);
    else R(unpool2x2_act)(-1, f, dy, mask, n, d0, d1);
}

/* Pools conv output rows [r0, r1) of one channel, held in t (activated unless act_after_pool),
 * into rows r0/pk_h.. of the channel's output plane y (PH, PW) and their mask bytes. Each output
 * sees its window in row-major order, as maxpool_forward's scan and avgpool_forward's sum do. */
static void R(fused_pool_rows)(const net_fused *f, const real *t, int64_t r0, int64_t r1, real *y,
                               uint8_t *mask)
{
    enum { CH = R(FUSED_CHUNK) };
    const int64_t kh = f->pk_h, kw = f->pk_w, OW = f->OW, PW = f->PW, mb = f->mask_bytes;
    const int act = f->act, after = f->act_after_pool, bit = R(fused_has_bit)(act);
    const int max = f->pool == NET_POOL_MAX, window_bits = mask && !max && !after;
    const real slope = (real)f->slope, div = R(fused_divisor)(f);
    real acc[CH], col[CH];
    int32_t at[CH];     /* the lanes of the values: the selects vectorise */
    uint8_t bits8[CH];  /* the window's branch bits when they fit a byte */
    uint64_t bits[CH];
    if (R(fast2x2)(f)) {
        for (int64_t pr = r0 / kh; pr < r1 / kh; pr++)
            R(pool2x2)(f, t + (2 * pr - r0) * OW, t + (2 * pr + 1 - r0) * OW, PW, y + pr * PW,
                       mask ? mask + pr * PW : NULL);
        return;
    }
    for (int64_t pr = r0 / kh; pr < r1 / kh; pr++)
        for (int64_t q0 = 0; q0 < PW; q0 += CH) {
            const int64_t n = PW - q0 < CH ? PW - q0 : CH;
            for (int64_t q = 0; q < n; q++) {
                acc[q] = max ? -(real)INFINITY : 0;
                at[q] = bits8[q] = 0;
            }
            if (window_bits && mb > 1)
                for (int64_t q = 0; q < n; q++) bits[q] = 0;
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    const int32_t e = (int32_t)(i * kw + j);
                    R(fused_column)(t + (pr * kh + i - r0) * OW + q0 * kw, kw, j, n, col);
                    if (max) {
                        for (int64_t q = 0; q < n; q++) {
                            const int take = col[q] > acc[q] || col[q] != col[q];
                            acc[q] = take ? col[q] : acc[q];
                            at[q] = take ? e : at[q];
                        }
                    } else {
                        for (int64_t q = 0; q < n; q++) acc[q] += col[q];
                    }
                    if (window_bits && mb == 1)
                        for (int64_t q = 0; q < n; q++) bits8[q] |= (uint8_t)(R(fused_pos)(act, col[q]) << e);
                    else if (window_bits)
                        for (int64_t q = 0; q < n; q++) bits[q] |= (uint64_t)R(fused_pos)(act, col[q]) << e;
                }
            if (!max)
                for (int64_t q = 0; q < n; q++) acc[q] = acc[q] / div;
            if (after && act >= 0) R(fused_act_rows)(act, slope, n, acc);
            real *yr = y + pr * PW + q0;
            for (int64_t q = 0; q < n; q++) yr[q] = acc[q];
            if (!mask) continue;
            uint8_t *mr = mask + (pr * PW + q0) * mb;
            if (max)
                for (int64_t q = 0; q < n; q++) mr[q] = (uint8_t)(at[q] | (bit && R(fused_pos)(act, acc[q]) ? 0x80 : 0));
            else if (after)
                for (int64_t q = 0; q < n; q++) mr[q] = (uint8_t)R(fused_pos)(act, acc[q]);
            else if (mb == 1)
                for (int64_t q = 0; q < n; q++) mr[q] = bits8[q];
            else
                for (int64_t q = 0; q < n; q++)
                    for (int64_t b = 0; b < mb; b++) mr[q * mb + b] = (uint8_t)(bits[q] >> (8 * b));
        }
}

/* Items: (image, tile of conv output rows). The tile's convolution goes to the part's buffer;
 * rows a pooling leaves out are never computed. */
static void R(fused_forward_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const net_fused *f = vctx;
    const conv_geom *g = &f->g;
    const int64_t C = f->C, OW = f->OW, P = f->PH * f->PW;
    const int64_t rows = f->pool ? f->PH * f->pk_h : f->OH;
    const int64_t tiles = (rows + f->tile_rows - 1) / f->tile_rows;
    const real slope = (real)f->slope;
    real *buf = (real *)f->scratch + part * f->scratch_len;
    real *kscratch = buf + net_fused_tile_len(f);
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / tiles, r0 = item % tiles * f->tile_rows;
        const int64_t r1 = r0 + f->tile_rows < rows ? r0 + f->tile_rows : rows;
        conv_geom t;
        net_conv_rows(g, r0, r1, &t);
        R(conv_forward)(&t, f->algo, (const real *)f->x + n * g->C_in * g->H * g->W,
                        (const real *)f->w, (const real *)f->b, buf, 0, kscratch);
        const int64_t len = (r1 - r0) * OW;
        for (int64_t c = 0; c < C; c++) {
            real *tc = buf + c * len;
            if (f->act >= 0 && !f->act_after_pool && !(f->pool && R(fast2x2)(f)))
                R(fused_act_rows)(f->act, slope, len, tc); /* the 2x2 path applies it itself */
            if (f->save_act) {
                real *keep = (real *)f->act_out + ((n * C + c) * f->OH + r0) * OW;
                for (int64_t i = 0; i < len; i++) keep[i] = tc[i];
            }
            real *yc = (real *)f->y + (n * C + c) * P;
            if (f->pool == NET_POOL_NONE) {
                for (int64_t i = 0; i < len; i++) yc[r0 * OW + i] = tc[i];
            } else {
                uint8_t *mc = f->mask ? f->mask + (n * C + c) * P * f->mask_bytes : NULL;
                R(fused_pool_rows)(f, tc, r0, r1, yc, mc);
            }
        }
    }
}

/* Transpose convolution + activation: the layer's plan runs the transpose convolution over the
 * batch (the output phases, threaded as the public call threads them), then the activation in
 * place over chunks of its output. Both values are the unfused ops' (bitwise). */
enum { R(FUSED_ACT_CHUNK) = 16384 };

static void R(fused_act_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const net_fused *f = vctx;
    const int64_t n = f->g.N * f->C * f->OH * f->OW;
    (void)part;
    for (int64_t i = begin; i < end; i++) {
        const int64_t lo = i * R(FUSED_ACT_CHUNK), len = n - lo < R(FUSED_ACT_CHUNK) ? n - lo : R(FUSED_ACT_CHUNK);
        R(fused_act_rows)(f->act, (real)f->slope, len, (real *)f->y + lo);
    }
}

static void R(fused_forward)(const net_fused *f)
{
    const conv_geom *g = &f->g;
    const double kk = (double)(g->C_in / g->groups) * g->kH * g->kW;
    if (f->transpose) {
        const convt_plan *pl = f->ct;
        if (pl->N == 0 || pl->C_out == 0 || pl->OH == 0 || pl->OW == 0) return; /* no output */
        R(convt_forward)(pl, (const real *)f->x, (const real *)f->w, (const real *)f->b, (real *)f->y);
        const int64_t n = g->N * f->C * f->OH * f->OW;
        if (f->act >= 0)
            cnn_parallel_for((n + R(FUSED_ACT_CHUNK) - 1) / R(FUSED_ACT_CHUNK), 1, g->threads,
                             R(fused_act_task), (void *)f);
        return;
    }
    const int64_t rows = f->pool ? f->PH * f->pk_h : f->OH;
    const int64_t tiles = (rows + f->tile_rows - 1) / f->tile_rows;
    const double work = (double)f->tile_rows * f->OW * f->C * kk;
    cnn_parallel_for(g->N * tiles, cnn_work_grain(work), g->threads, R(fused_forward_task), (void *)f);
}

/* ---- backward ------------------------------------------------------------------------------------- */

/* out[i] = the activation's input gradient for output gradient d[i] (accumulated onto 0 as
 * act_backward does), from the activation's output a[i]: the derivative of sigmoid and tanh, the
 * branch of relu and leaky relu. One loop per activation, so that each vectorises. */
static void R(fused_grad_from_output)(int act, real slope, int64_t n, const real *restrict d,
                                      const real *restrict a, real *restrict out)
{
    const real zero = 0;
    switch (act) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++) out[i] = zero + (a[i] <= 0 ? 0 : d[i]);
        break;
    case ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            const real g = d[i], leak = d[i] * slope;
            out[i] = zero + (a[i] > 0 ? g : leak);
        }
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) out[i] = zero + d[i] * a[i] * (1 - a[i]);
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++) out[i] = zero + d[i] * (1 - a[i] * a[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) out[i] = d[i];
    }
}

/* The same for relu and leaky relu from a branch bit per element (pos[i] != 0: x > 0). */
static void R(fused_grad_from_bits)(int act, real slope, int64_t n, const real *restrict d,
                                    const uint8_t *restrict pos, real *restrict out)
{
    const real zero = 0;
    if (act == ACT_RELU)
        for (int64_t i = 0; i < n; i++) out[i] = zero + (pos[i] ? d[i] : 0);
    else
        for (int64_t i = 0; i < n; i++) {
            const real g = d[i], leak = d[i] * slope;
            out[i] = zero + (pos[i] ? g : leak);
        }
}

/* The activation's gradient for pooled outputs: from the branch bits (relu, leaky relu) or
 * from the outputs a (sigmoid, tanh). */
static void R(fused_grad)(int act, real slope, int64_t n, const real *d, const uint8_t *pos,
                          const real *a, real *out)
{
    if (R(fused_has_bit)(act))
        R(fused_grad_from_bits)(act, slope, n, d, pos, out);
    else
        R(fused_grad_from_output)(act, slope, n, d, a, out);
}

/* The conv output gradient of channel c of image n, (OH, OW) into d, from the group's output
 * gradient, its output and its mask bytes: the pooling's and the activation's backward as
 * index_scatter / avgpool_backward and act_backward compute them onto zeroed arrays, a chunk of
 * pooled outputs at a time, one window column at a time. */
static void R(fused_rebuild)(const net_fused *f, int64_t n, int64_t c, real *restrict d)
{
    enum { CH = R(FUSED_CHUNK) };
    const int64_t OH = f->OH, OW = f->OW, PW = f->PW, P = f->PH * PW, mb = f->mask_bytes;
    const int64_t kh = f->pk_h, kw = f->pk_w;
    const int act = f->act, after = f->act_after_pool, max = f->pool == NET_POOL_MAX;
    const real slope = (real)f->slope, zero = 0, div = R(fused_divisor)(f);
    const real *dy = (const real *)f->dy + (n * f->C + c) * P;
    const real *y = (const real *)f->y + (n * f->C + c) * P;
    if (f->pool == NET_POOL_NONE) {
        R(fused_grad_from_output)(act, slope, OH * OW, dy, y, d);
        return;
    }
    const uint8_t *mask = f->mask ? f->mask + (n * f->C + c) * P * mb : NULL;
    const real *keep = f->save_act ? (const real *)f->act_out + (n * f->C + c) * OH * OW : NULL;
    real g[CH], v[CH], a[CH];
    uint8_t pos[CH], at[CH];
    for (int64_t r = f->PH * kh; r < OH; r++) /* rows no window covers */
        for (int64_t q = 0; q < OW; q++) d[r * OW + q] = 0;
    for (int64_t pr = 0; pr < f->PH; pr++) {
        for (int64_t i = 0; i < kh; i++) /* columns no window covers */
            for (int64_t q = PW * kw; q < OW; q++) d[(pr * kh + i) * OW + q] = 0;
        if (R(fast2x2)(f)) {
            R(unpool2x2)(f, dy + pr * PW, mask ? mask + pr * PW : NULL, PW, d + 2 * pr * OW, d + (2 * pr + 1) * OW);
            continue;
        }
        for (int64_t q0 = 0; q0 < PW; q0 += CH) {
            const int64_t m = PW - q0 < CH ? PW - q0 : CH, o = pr * PW + q0;
            const uint8_t *mr = mask ? mask + o * mb : NULL;
            /* the gradient each window spreads: pooling backward onto zeros, with the activation
             * before it (max) or after it */
            if (max) {
                for (int64_t q = 0; q < m; q++) {
                    at[q] = mr[q] & 0x7f;
                    pos[q] = mr[q] >> 7;
                }
                if (act >= 0 && after) {
                    R(fused_grad)(act, slope, m, dy + o, pos, y + o, g);
                    for (int64_t q = 0; q < m; q++) g[q] = zero + g[q];
                } else {
                    for (int64_t q = 0; q < m; q++) v[q] = zero + dy[o + q];
                    if (act >= 0)
                        R(fused_grad)(act, slope, m, v, pos, y + o, g);
                    else
                        for (int64_t q = 0; q < m; q++) g[q] = v[q];
                }
            } else if (after && act >= 0) {
                if (mr)
                    for (int64_t q = 0; q < m; q++) pos[q] = mr[q];
                R(fused_grad)(act, slope, m, dy + o, pos, y + o, g);
                for (int64_t q = 0; q < m; q++) g[q] = zero + g[q] / div;
            } else {
                for (int64_t q = 0; q < m; q++) g[q] = zero + dy[o + q] / div;
            }
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    const int64_t e = i * kw + j;
                    real *row = d + (pr * kh + i) * OW + q0 * kw;
                    if (max) {
                        for (int64_t q = 0; q < m; q++) v[q] = at[q] == e ? g[q] : 0;
                    } else if (after || act < 0) {
                        for (int64_t q = 0; q < m; q++) v[q] = g[q];
                    } else { /* the activation before the average, per window element */
                        if (mr)
                            for (int64_t q = 0; q < m; q++) pos[q] = (mr[q * mb + e / 8] >> (e % 8)) & 1;
                        if (keep) R(fused_column)(keep + (pr * kh + i) * OW + q0 * kw, kw, j, m, a);
                        R(fused_grad)(act, slope, m, g, pos, a, v);
                    }
                    if (kw == 2)
                        for (int64_t q = 0; q < m; q++) row[2 * q + j] = v[q];
                    else
                        for (int64_t q = 0; q < m; q++) row[q * kw + j] = v[q];
                }
        }
    }
}

/* Items: output channels. A part takes a range of channels through every image in order: it
 * rebuilds their conv output gradient image by image in its buffer, then (dw_per_image) adds
 * the image's weight gradient with the convolution's kernel (dw += its sum over the image, as
 * one call over the batch does) and its bias gradient with bias_backward's running double sums
 * (bias_sum_add), and copies the gradient to dconv when the input gradient needs it. */
static void R(fused_backward_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const net_fused *f = vctx;
    const conv_geom *g = &f->g;
    const int64_t P = f->OH * f->OW, cnt = end - begin;
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW;
    double *sums = (double *)((real *)f->scratch + part * f->scratch_len); /* per channel */
    real *d = (real *)(sums + CNN_DB_LANES * f->C);
    real *kscratch = (real *)f->scratch + part * f->scratch_len + net_fused_tile_len(f);
    conv_geom t = *g;
    t.N = 1;
    t.C_out = cnt;
    t.threads = 1;
    for (int64_t i = 0; i < CNN_DB_LANES * cnt; i++) sums[i] = 0;
    for (int64_t n = 0; n < g->N; n++) {
        for (int64_t c = begin; c < end; c++) R(fused_rebuild)(f, n, c, d + (c - begin) * P);
        if (f->dw_per_image) {
            if (f->dw)
                R(conv_backward_weight)(&t, f->algo, d, (const real *)f->x + n * g->C_in * g->H * g->W,
                                        (real *)f->dw + begin * K, kscratch);
            for (int64_t c = 0; f->db && c < cnt; c++) /* bias_backward_task's sums */
                R(bias_sum_add)(sums + CNN_DB_LANES * c, d + c * P, P);
        }
        if (f->dconv) {
            real *out = (real *)f->dconv + (n * f->C + begin) * P;
            for (int64_t i = 0; i < cnt * P; i++) out[i] = d[i];
        }
    }
    for (int64_t c = 0; f->dw_per_image && f->db && c < cnt; c++)
        ((real *)f->db)[begin + c] += (real)R(bias_sum_total)(sums + CNN_DB_LANES * c);
}

static void R(fused_backward)(const net_fused *f)
{
    const conv_geom *g = &f->g;
    const double work = (double)g->N * f->OH * f->OW * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(f->C, cnn_work_grain(work), g->threads, R(fused_backward_task), (void *)f);
}
