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

static inline real R(fused_act)(int act, real slope, real v)
{
    switch (act) {
    case ACT_RELU: return v <= 0 ? 0 : v;
    case ACT_LEAKY_RELU: return v > 0 ? v : v * slope;
    case ACT_SIGMOID: return R(sigmoid)(v);
    case ACT_TANH: return R(tanh_r)(v);
    }
    return v;
}

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

/* The activation's input gradient for its output gradient d, from its branch bit `pos` (relu,
 * leaky relu) or its output a (sigmoid, tanh), accumulated onto 0 as act_backward does onto a
 * zeroed dx. act -1: none. */
static inline real R(fused_act_grad)(int act, real slope, real d, int pos, real a)
{
    const real zero = 0;
    switch (act) {
    case ACT_RELU: return zero + (pos ? d : 0);
    case ACT_LEAKY_RELU: {
        const real g = d, leak = d * slope;
        return zero + (pos ? g : leak);
    }
    case ACT_SIGMOID: return zero + d * a * (1 - a);
    case ACT_TANH: return zero + d * (1 - a * a);
    }
    return d;
}

static real R(fused_divisor)(const net_fused *f)
{
    cnn_pool2d_desc d = {0};
    d.divisor_override = f->divisor_override;
    d.count_include_pad = f->count_include_pad;
    return R(avg_divisor)(&d, f->pk_h, f->pk_h, f->pk_w, f->pk_w);
}

/* ---- forward -------------------------------------------------------------------------------------- */

/* Pools conv output rows [r0, r1) of one channel, held in t (activated unless act_after_pool),
 * into rows r0/pk_h.. of the channel's output plane y (PH, PW) and their mask bytes. */
static void R(fused_pool_rows)(const net_fused *f, const real *t, int64_t r0, int64_t r1, real *y,
                               uint8_t *mask)
{
    const int64_t kh = f->pk_h, kw = f->pk_w, OW = f->OW, PW = f->PW, mb = f->mask_bytes;
    const int act = f->act, after = f->act_after_pool, bit = R(fused_has_bit)(act);
    const real slope = (real)f->slope, div = R(fused_divisor)(f);
    for (int64_t pr = r0 / kh; pr < r1 / kh; pr++) {
        const real *rows = t + (pr * kh - r0) * OW;
        real *yr = y + pr * PW;
        uint8_t *mr = mask ? mask + pr * PW * mb : NULL;
        for (int64_t pw = 0; pw < PW; pw++) {
            const real *win = rows + pw * kw;
            real v;
            if (f->pool == NET_POOL_MAX) { /* maxpool_forward's scan, row-major */
                real m = -(real)INFINITY;
                int64_t at = 0;
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) {
                        const real e = win[i * OW + j];
                        if (e > m || e != e) {
                            m = e;
                            at = i * kw + j;
                        }
                    }
                v = after && act >= 0 ? R(fused_act)(act, slope, m) : m;
                if (mr) mr[pw] = (uint8_t)(at | (bit && R(fused_pos)(act, v) ? 0x80 : 0));
            } else { /* avgpool_forward: the window summed in row-major order, then divided */
                real s = 0;
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) s += win[i * OW + j];
                v = s / div;
                if (after && act >= 0) v = R(fused_act)(act, slope, v);
                if (mr && after) {
                    mr[pw] = (uint8_t)R(fused_pos)(act, v);
                } else if (mr) {
                    uint8_t *bits = mr + pw * mb;
                    for (int64_t b = 0; b < mb; b++) bits[b] = 0;
                    for (int64_t i = 0; i < kh; i++)
                        for (int64_t j = 0; j < kw; j++)
                            if (R(fused_pos)(act, win[i * OW + j]))
                                bits[(i * kw + j) / 8] |= (uint8_t)(1u << ((i * kw + j) % 8));
                }
            }
            yr[pw] = v;
        }
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
            if (f->act >= 0 && !f->act_after_pool) R(fused_act_rows)(f->act, slope, len, tc);
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

/* Transpose convolution + activation, image by image: y = bias, += conv_backward_data, then the
 * activation in place while the image is in cache. */
static void R(fused_transpose_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const net_fused *f = vctx;
    const conv_geom *g = &f->g;
    const int64_t C = f->C, P = f->OH * f->OW;
    real *kscratch = (real *)f->scratch + part * f->scratch_len;
    conv_geom t = *g;
    t.N = 1;
    t.threads = 1;
    for (int64_t n = begin; n < end; n++) {
        real *yn = (real *)f->y + n * C * P;
        for (int64_t c = 0; c < C; c++) {
            const real v = f->b ? ((const real *)f->b)[c] : 0;
            for (int64_t p = 0; p < P; p++) yn[c * P + p] = v;
        }
        R(conv_backward_data)(&t, f->algo, (const real *)f->x + n * g->C_out * g->OH * g->OW,
                              (const real *)f->w, yn, kscratch);
        if (f->act >= 0) R(fused_act_rows)(f->act, (real)f->slope, C * P, yn);
    }
}

static void R(fused_forward)(const net_fused *f)
{
    const conv_geom *g = &f->g;
    const double kk = (double)(g->C_in / g->groups) * g->kH * g->kW;
    if (f->transpose) {
        const double work = (double)g->OH * g->OW * g->C_out * kk;
        cnn_parallel_for(g->N, cnn_work_grain(work), g->threads, R(fused_transpose_task), (void *)f);
        return;
    }
    const int64_t rows = f->pool ? f->PH * f->pk_h : f->OH;
    const int64_t tiles = (rows + f->tile_rows - 1) / f->tile_rows;
    const double work = (double)f->tile_rows * f->OW * f->C * kk;
    cnn_parallel_for(g->N * tiles, cnn_work_grain(work), g->threads, R(fused_forward_task), (void *)f);
}

/* ---- backward ------------------------------------------------------------------------------------- */

/* The conv output gradient of channel c of image n, (OH, OW) into d, from the group's output
 * gradient, its output and its mask bytes: pooling backward and activation backward as
 * index_scatter / avgpool_backward and act_backward compute them onto zeroed arrays. */
static void R(fused_rebuild)(const net_fused *f, int64_t n, int64_t c, real *restrict d)
{
    const int64_t OH = f->OH, OW = f->OW, PW = f->PW, P = f->PH * PW, mb = f->mask_bytes;
    const int act = f->act, after = f->act_after_pool;
    const real slope = (real)f->slope, zero = 0;
    const real *dy = (const real *)f->dy + (n * f->C + c) * P;
    const real *y = (const real *)f->y + (n * f->C + c) * P;
    if (f->pool == NET_POOL_NONE) { /* the activation's derivative from its output */
        for (int64_t i = 0; i < OH * OW; i++)
            d[i] = R(fused_act_grad)(act, slope, dy[i], R(fused_has_bit)(act) && R(fused_pos)(act, y[i]), y[i]);
        return;
    }
    const uint8_t *mask = f->mask ? f->mask + (n * f->C + c) * P * mb : NULL;
    const real *keep = f->save_act ? (const real *)f->act_out + (n * f->C + c) * OH * OW : NULL;
    const int64_t kh = f->pk_h, kw = f->pk_w;
    const real div = R(fused_divisor)(f);
    for (int64_t i = 0; i < OH * OW; i++) d[i] = 0; /* rows and columns no window covers */
    for (int64_t pr = 0; pr < f->PH; pr++)
        for (int64_t pw = 0; pw < PW; pw++) {
            const int64_t o = pr * PW + pw;
            real *win = d + pr * kh * OW + pw * kw;
            const uint8_t m = mask ? mask[o * mb] : 0;
            if (f->pool == NET_POOL_MAX) {
                /* index_scatter onto zeros; the activation before (on every window element: the
                 * others get 0 + act'(0) = 0) or after the pooling */
                real g = after && act >= 0 ? R(fused_act_grad)(act, slope, dy[o], m >> 7, y[o]) : dy[o];
                g = zero + g;
                if (!after && act >= 0) g = R(fused_act_grad)(act, slope, g, m >> 7, y[o]);
                const int64_t at = mask ? m & 0x7f : 0;
                win[at / kw * OW + at % kw] = g;
            } else if (after) { /* activation backward on the pooled value, then avgpool_backward */
                const real g = act >= 0 ? R(fused_act_grad)(act, slope, dy[o], m & 1, y[o]) : dy[o];
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) win[i * OW + j] = zero + g / div;
            } else { /* avgpool_backward, then the activation's backward per element */
                const real g = zero + dy[o] / div;
                const uint8_t *bits = mask ? mask + o * mb : NULL;
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) {
                        const int64_t e = i * kw + j;
                        const int pos = bits ? (bits[e / 8] >> (e % 8)) & 1 : 0;
                        const real a = keep ? keep[(pr * kh + i) * OW + pw * kw + j] : 0;
                        win[i * OW + j] = act >= 0 ? R(fused_act_grad)(act, slope, g, pos, a) : g;
                    }
            }
        }
}

/* Items: output channels. A part takes a range of channels through every image in order: it
 * rebuilds their conv output gradient image by image in its buffer, then (dw_per_image) adds
 * the image's weight gradient with the convolution's kernel (dw += its sum over the image, as
 * one call over the batch does) and its bias gradient with bias_backward's eight running double
 * sums, and copies the gradient to dconv when the input gradient needs it. */
static void R(fused_backward_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const net_fused *f = vctx;
    const conv_geom *g = &f->g;
    const int64_t P = f->OH * f->OW, cnt = end - begin;
    const int64_t K = (g->C_in / g->groups) * g->kH * g->kW;
    double *sums = (double *)((real *)f->scratch + part * f->scratch_len); /* 8 per channel */
    real *d = (real *)(sums + 8 * f->C);
    real *kscratch = (real *)f->scratch + part * f->scratch_len + net_fused_tile_len(f);
    conv_geom t = *g;
    t.N = 1;
    t.C_out = cnt;
    t.threads = 1;
    for (int64_t i = 0; i < 8 * cnt; i++) sums[i] = 0;
    for (int64_t n = 0; n < g->N; n++) {
        for (int64_t c = begin; c < end; c++) R(fused_rebuild)(f, n, c, d + (c - begin) * P);
        if (f->dw_per_image) {
            if (f->dw)
                R(conv_backward_weight)(&t, f->algo, d, (const real *)f->x + n * g->C_in * g->H * g->W,
                                        (real *)f->dw + begin * K, kscratch);
            for (int64_t c = 0; f->db && c < cnt; c++) { /* bias_backward_task's sums */
                double *s = sums + 8 * c;
                const real *dc = d + c * P;
                int64_t p = 0;
                for (; p + 8 <= P; p += 8)
                    for (int j = 0; j < 8; j++) s[j] += dc[p + j];
                for (; p < P; p++) s[p % 8] += dc[p];
            }
        }
        if (f->dconv) {
            real *out = (real *)f->dconv + (n * f->C + begin) * P;
            for (int64_t i = 0; i < cnt * P; i++) out[i] = d[i];
        }
    }
    for (int64_t c = 0; f->dw_per_image && f->db && c < cnt; c++) {
        const double *s = sums + 8 * c;
        ((real *)f->db)[begin + c] += (real)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
    }
}

static void R(fused_backward)(const net_fused *f)
{
    const conv_geom *g = &f->g;
    const double work = (double)g->N * f->OH * f->OW * (g->C_in / g->groups) * g->kH * g->kW;
    cnn_parallel_for(f->C, cnn_work_grain(work), g->threads, R(fused_backward_task), (void *)f);
}
