/* conv_transpose.c — 2-D transpose convolution (1-D as H = 1): the descriptor, the plan
 * (conv_transpose_plan.h: output phases, the path that runs, the scratch it needs) and the public
 * entry points. The forward and the weight gradient run by output phases (no col2im, every output
 * written once) or, where the rule says so, on the general path: the convolution kernels with the
 * roles of input and output exchanged. The input gradient is the convolution's forward; AUTO's
 * weight gradient the convolution's weight gradient. */
#include "internal.h"

/* ---- descriptor ---------------------------------------------------------------------------------- */

cnn_status cnn_conv_transpose2d_output_shape(const cnn_conv_transpose2d_desc *d, int64_t *out_h,
                                             int64_t *out_w)
{
    int64_t oh, ow, t;
    cnn_status st;
    if (!d) return CNN_EINVAL;
    if (d->batch < 0 || d->in_channels < 0 || d->out_channels < 0 || d->groups < 1)
        return CNN_EINVAL;
    if (d->in_channels % d->groups || d->out_channels % d->groups) return CNN_ESHAPE;
    if ((st = cnn_conv_transpose_out_len(d->in_h, d->kernel_h, d->stride_h, d->pad_h,
                                         d->dilation_h, d->output_padding_h, &oh)))
        return st;
    if ((st = cnn_conv_transpose_out_len(d->in_w, d->kernel_w, d->stride_w, d->pad_w,
                                         d->dilation_w, d->output_padding_w, &ow)))
        return st;
    const int64_t xs[4] = {d->batch, d->in_channels, d->in_h, d->in_w};
    const int64_t ws[4] = {d->in_channels, d->out_channels / d->groups, d->kernel_h, d->kernel_w};
    const int64_t ys[4] = {d->batch, d->out_channels, oh, ow};
    /* The kernels also form the per-group reduction and the planes, which the array sizes above
     * do not bound when a dimension is 0. */
    const int64_t ks[3] = {d->out_channels / d->groups, d->kernel_h, d->kernel_w};
    const int64_t xp[2] = {d->in_h, d->in_w}, yp[2] = {oh, ow};
    if ((st = cnn_numel(4, xs, &t)) || (st = cnn_numel(4, ws, &t)) || (st = cnn_numel(4, ys, &t)) ||
        (st = cnn_numel(3, ks, &t)) || (st = cnn_numel(2, xp, &t)) || (st = cnn_numel(2, yp, &t)))
        return st;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return CNN_OK;
}

/* ---- the plan -------------------------------------------------------------------------------------- */

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Phase (in [0, s)) of kernel tap kk: kk*d - p mod s. kk*d fits (the dilated span was checked). */
static int64_t tap_phase(int64_t kk, int64_t d, int64_t p, int64_t s)
{
    const int64_t r = (kk * d % s - p % s) % s;
    return r < 0 ? r + s : r;
}

/* Outputs of phase a: o = a + j*s < n_out. */
static int64_t phase_len(int64_t a, int64_t s, int64_t n_out)
{
    return a < n_out ? (n_out - 1 - a) / s + 1 : 0;
}

/* The rows of the zero-padded copy of the input that the phase kernels read without bounds
 * checks along the width: *lead zeros, then the input row, then zeros up to *len, enough for
 * every phase's outputs (plus `round` more, for tiles that run past a phase's last output).
 * (Rows are not padded: a kernel row that misses the input is skipped.) */
static cnn_status padded_axis(int64_t n_in, int64_t n_out, int64_t k, int64_t s, int64_t p,
                              int64_t d, int64_t round, int64_t *lead, int64_t *len)
{
    int64_t lo = 0, hi = n_in; /* the input positions read: [lo, hi) */
    for (int64_t kk = 0; kk < k; kk++) {
        const int64_t a = tap_phase(kk, d, p, s), n = phase_len(a, s, n_out);
        if (n == 0) continue;
        const int64_t off = (a + p - kk * d) / s; /* |off| <= (n_out + 2p + k*d) / s: no overflow */
        if (off < lo) lo = off;
        if (off + n > hi) hi = off + n;
    }
    *lead = -lo;
    return cnn_add_sizes(hi - lo, round, len);
}

/* The rule. The phase path computes each output once; its direct kernels (register tiles of
 * output channels x columns, reading the padded input in place) measured faster than im2col tiles
 * and a GEMM per phase for every case of benchmarks/run.py, channel counts 1 to 32, so AUTO (and
 * DIRECT, and BLOCKED: they are register tiles over phase-split data) takes them; GEMM asks for
 * the GEMM. The general path remains for geometries whose zero-padded input copy (the phases'
 * reach along the width) would dwarf the data: a huge dilation or padding next to a small image,
 * whose phases are mostly empty. (xpad is computed in double: no overflow.)
 * AUTO's float32 forward also takes the general path where a phase row fits in one vector (`lanes`
 * floats) and the convolution runs BLOCKED: the direct kernel's tiles (two vectors of one row)
 * would compute as many dropped lanes as outputs, while the blocked convolution's input gradient
 * (by phases: blocked_simd.h) runs its tiles across rows. Measured against the phase kernel (1
 * thread, float32 forward): AVX-512, rows of 8 to 16 on 14 layers of 4 to 64 channels, strides 1
 * and 2: 13 at 1.13-2.25x, one at 0.97x ((8,8->4,16^2) k4 s2); AVX2, rows of 8: 1.09-1.44x, one
 * loss, 0.91x on (16,16->16,7^2) k3 s2. Wider rows stay: forcing the path gave 0.82-1.14x on
 * AVX2's rows of 12 and 16 and 0.69-1.04x on rows of 23 to 46 (docs/DECISIONS.md). */
static convt_path convt_choose_path(const convt_plan *pl, cnn_algo algo, cnn_dtype dtype,
                                    double xpad)
{
    const double data = (double)pl->N * (double)pl->C_in * (double)pl->H * (double)pl->W +
                        (double)pl->N * (double)pl->C_out * (double)pl->OH * (double)pl->OW;
    const int64_t lanes = pl->k->vec_bytes / (int64_t)sizeof(float);
    if (algo == CNN_ALGO_REFERENCE) return CONVT_REFERENCE;
    if (xpad > 4.0 * data + 65536.0) return CONVT_GENERAL;
    if (algo == CNN_ALGO_AUTO && dtype == CNN_FLOAT32 && pl->conv_algo == CNN_ALGO_BLOCKED &&
        (pl->OW - 1) / pl->aw.s + 1 <= lanes)
        return CONVT_GENERAL;
    return algo == CNN_ALGO_GEMM ? CONVT_PHASE_GEMM : CONVT_PHASE_DIRECT;
}

/* Bytes of the axis tables: first (phases + 1), kk and off (k each). */
static cnn_status tables_len(int64_t phases, int64_t k, int64_t *len)
{
    int64_t t;
    cnn_status st;
    if ((st = cnn_mul_sizes(k, 2, &t)) || (st = cnn_add_sizes(t, phases + 1, &t)) ||
        (st = cnn_mul_sizes(t, (int64_t)sizeof(int64_t), len)))
        return st;
    return CNN_OK;
}

cnn_status convt_plan_make(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                           int threads, convt_plan *pl)
{
    int64_t oh, ow;
    cnn_status st;
    if ((st = cnn_conv_transpose2d_output_shape(d, &oh, &ow))) return st;
    if (algo < CNN_ALGO_AUTO || algo > CNN_ALGO_WINOGRAD) return CNN_EINVAL;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    const size_t es = dtype == CNN_FLOAT32 ? sizeof(float) : sizeof(double);
    *pl = (convt_plan){0};
    const cnn_kernel_table *k = pl->k = cnn_kernels();
    pl->N = d->batch;
    pl->C_in = d->in_channels;
    pl->C_out = d->out_channels;
    pl->H = d->in_h;
    pl->W = d->in_w;
    pl->OH = oh;
    pl->OW = ow;
    pl->kH = d->kernel_h;
    pl->kW = d->kernel_w;
    pl->groups = d->groups;
    pl->threads = threads > 0 ? threads : 1;
    /* the convolution whose input gradient this is: its input is our output, its output ours */
    conv_geom *g = &pl->g;
    *g = (conv_geom){.N = d->batch, .C_in = d->out_channels, .H = oh, .W = ow,
                     .C_out = d->in_channels, .OH = d->in_h, .OW = d->in_w, .kH = d->kernel_h,
                     .kW = d->kernel_w, .sH = d->stride_h, .sW = d->stride_w, .dilH = d->dilation_h,
                     .dilW = d->dilation_w, .pT = d->pad_h, .pL = d->pad_w, .groups = d->groups,
                     .threads = pl->threads};
    pl->ah = (convt_axis){d->in_h, oh, d->stride_h, oh < d->stride_h ? oh : d->stride_h, 0, 0, 0, 0};
    pl->aw = (convt_axis){d->in_w, ow, d->stride_w, ow < d->stride_w ? ow : d->stride_w, 0, 0, 0, 0};
    /* Nothing to compute but the bias (no input channels) or nothing at all: no scratch. */
    if (pl->N == 0 || pl->C_out == 0 || oh == 0 || ow == 0 || pl->C_in == 0) {
        pl->path = CONVT_REFERENCE;
        pl->conv_algo = CNN_ALGO_REFERENCE;
        return CNN_OK;
    }
    pl->conv_algo = k->conv_resolve_algo(g, algo);
    /* the taps of a phase: kk in one residue class mod s / gcd(s, d) */
    const int64_t sh = d->stride_h / gcd64(d->stride_h, d->dilation_h);
    const int64_t sw = d->stride_w / gcd64(d->stride_w, d->dilation_w);
    pl->ah.max_taps = (d->kernel_h - 1) / sh + 1;
    pl->aw.max_taps = (d->kernel_w - 1) / sw + 1;
    int64_t th_len, tw_len, lead, wp, xpad = 0, kp;
    const int64_t cg = pl->C_in / pl->groups, mg = pl->C_out / pl->groups;
    const int64_t ks[3] = {cg, pl->ah.max_taps, pl->aw.max_taps};
    if ((st = cnn_numel(3, ks, &kp))) return st; /* <= the weights' size */
    if ((st = padded_axis(d->in_w, ow, d->kernel_w, d->stride_w, d->pad_w, d->dilation_w, CONVT_JV, &lead, &wp)))
        return st;
    const double xpad_len = (double)pl->N * (double)pl->C_in * (double)pl->H * (double)wp;
    pl->path = convt_choose_path(pl, algo, dtype, xpad_len);
    /* AUTO's weight gradient: the convolution's weight gradient of g (its input dy, its output
     * gradient x), which measured 1.3-1.8x faster than the phase path's direct kernel on every
     * transpose convolution of benchmarks/run.py (1 thread: 692 vs 1267, 444 vs 554, 341 vs 601
     * us); DIRECT and BLOCKED keep the phase kernel, GEMM the phase GEMM. */
    pl->dw_conv = pl->path == CONVT_PHASE_DIRECT && algo == CNN_ALGO_AUTO;
    if (pl->path == CONVT_PHASE_DIRECT || pl->path == CONVT_PHASE_GEMM) {
        const int64_t xs[4] = {pl->N, pl->C_in, pl->H, wp};
        if ((st = cnn_numel(4, xs, &xpad)) || (st = tables_len(pl->ah.phases, d->kernel_h, &th_len)) ||
            (st = tables_len(pl->aw.phases, d->kernel_w, &tw_len)))
            return st;
        pl->tables_bytes = (th_len + tw_len + 63) / 64 * 64;
        pl->pad_l = lead;
        pl->Wp = wp;
    }

    /* The reals of the scratch: the convolution's (dx, and the general path), or the phase
     * path's padded input, packed weights (or weight-gradient sums) and thread slices. */
    int64_t conv_len, real_len, t;
    if ((st = k->conv_scratch_len(g, pl->conv_algo, &conv_len)) ||
        (st = cnn_mul_sizes(conv_len, pl->threads, &real_len)))
        return st;
    if (pl->path == CONVT_PHASE_DIRECT || pl->path == CONVT_PHASE_GEMM) {
        int64_t phase_len_total, wts;
        const int64_t wsz[4] = {pl->C_in, mg, d->kernel_h, d->kernel_w};
        if ((st = cnn_numel(4, wsz, &wts))) return st;
        if (pl->path == CONVT_PHASE_GEMM) {
            /* im2col tile (Kp x tile) + GEMM output or dy tile (Mg x tile) + GEMM packing */
            int64_t tile = ((int64_t)1 << 17) / kp;
            tile = tile < 16 ? 16 : tile - tile % 16;
            const int64_t most = ((oh - 1) / d->stride_h + 1) * ((ow - 1) / d->stride_w + 1);
            pl->tile = tile < most ? tile : most;
            if ((st = cnn_mul_sizes(kp + mg, pl->tile, &t)) ||
                (st = cnn_add_sizes(t, k->gemm_workspace_len(), &pl->slice)))
                return st;
        } else { /* the weight gradient's gathered dy (images of about 64K reals at a time) and
                    its vectors of partial sums */
            const int64_t rows = (oh - 1) / d->stride_h + 1, cols = (ow - 1) / d->stride_w + 1;
            const int64_t dyp[3] = {CONVT_CB, rows, (cols + CONVT_VL - 1) / CONVT_VL * CONVT_VL};
            const int64_t acc[3] = {kp, CONVT_CB, CONVT_VL};
            int64_t a1, a2;
            if ((st = cnn_numel(3, dyp, &a1)) || (st = cnn_numel(3, acc, &a2))) return st;
            pl->dw_images = ((int64_t)1 << 16) / a1;
            pl->dw_images = pl->dw_images < 1 ? 1 : pl->dw_images > pl->N ? pl->N : pl->dw_images;
            if ((st = cnn_mul_sizes(a1, pl->dw_images, &a1)) || (st = cnn_add_sizes(a1, a2 + CONVT_VL, &pl->slice)))
                return st;
        }
        if ((st = cnn_mul_sizes(pl->slice, pl->threads, &t)) || (st = cnn_add_sizes(t, xpad, &t)) ||
            (st = cnn_add_sizes(t, wts, &phase_len_total)))
            return st;
        if (phase_len_total > real_len) real_len = phase_len_total;
    }
    /* at least one element, never NULL: the convolution kernels offset it by part * slice */
    if ((st = cnn_mul_sizes(real_len > 0 ? real_len : 1, (int64_t)es, &t)) ||
        (st = cnn_add_sizes(t, pl->tables_bytes, &pl->scratch_bytes)))
        return st;
    return CNN_OK;
}

/* Fills one axis's tables from tab: first (phases + 1), then kk and off of the taps in phase order
 * (a counting sort over the phases; ascending kk within one). */
static void bind_axis(convt_axis *ax, int64_t k, int64_t p, int64_t d, int64_t *tab)
{
    int64_t *first = tab, *kk = tab + ax->phases + 1, *off = kk + k;
    for (int64_t a = 0; a <= ax->phases; a++) first[a] = 0;
    for (int64_t t = 0; t < k; t++) {
        const int64_t a = tap_phase(t, d, p, ax->s);
        if (a < ax->phases) first[a + 1]++;
    }
    ax->max_taps = 0;
    for (int64_t a = 0; a < ax->phases; a++) {
        if (first[a + 1] > ax->max_taps) ax->max_taps = first[a + 1];
        first[a + 1] += first[a];
    }
    for (int64_t a = 0; a < ax->phases; a++) off[a] = first[a]; /* next free slot, kept in off */
    for (int64_t t = 0; t < k; t++) {
        const int64_t a = tap_phase(t, d, p, ax->s);
        if (a < ax->phases) kk[off[a]++] = t;
    }
    for (int64_t a = 0; a < ax->phases; a++)
        for (int64_t i = first[a]; i < first[a + 1]; i++) off[i] = (a + p - kk[i] * d) / ax->s;
    ax->first = first;
    ax->kk = kk;
    ax->off = off;
}

void convt_plan_bind(convt_plan *pl, void *scratch)
{
    pl->tables = scratch;
    pl->work = scratch ? (char *)scratch + pl->tables_bytes : NULL;
    if (pl->path != CONVT_PHASE_DIRECT && pl->path != CONVT_PHASE_GEMM) return;
    bind_axis(&pl->ah, pl->kH, pl->g.pT, pl->g.dilH, pl->tables);
    bind_axis(&pl->aw, pl->kW, pl->g.pL, pl->g.dilW, pl->tables + pl->ah.phases + 1 + 2 * pl->kH);
}

/* ---- public entry points ----------------------------------------------------------------------------- */

/* A plan for the call and its scratch (NULL when none is needed), bound. */
static cnn_status plan_for_call(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                                convt_plan *pl, void **scratch)
{
    cnn_status st;
    *scratch = NULL;
    if ((st = convt_plan_make(d, dtype, algo, cnn_get_num_threads(), pl))) return st;
    if (pl->scratch_bytes > 0 && (st = cnn_workspace_get(pl->scratch_bytes, 1, scratch))) return st;
    convt_plan_bind(pl, *scratch);
    return CNN_OK;
}

cnn_status cnn_conv_transpose2d_forward(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                        cnn_algo algo, const void *x, const void *w,
                                        const void *b, void *y)
{
    convt_plan pl;
    void *scratch;
    cnn_status st = plan_for_call(d, dtype, algo, &pl, &scratch);
    if (st != CNN_OK) return st;
    const int run = pl.N > 0 && pl.C_out > 0 && pl.OH > 0 && pl.OW > 0;
    if (run && (!y || (pl.C_in > 0 && (!x || !w)))) st = CNN_EINVAL;
    else if (run && dtype == CNN_FLOAT32)
        pl.k->convt_forward_f32(&pl, x, w, b, y);
    else if (run)
        pl.k->convt_forward_f64(&pl, x, w, b, y);
    cnn_workspace_put(scratch);
    return st;
}

cnn_status cnn_conv_transpose2d_backward(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype,
                                         cnn_algo algo, const void *dy, const void *x,
                                         const void *w, void *dx, void *dw, void *db)
{
    convt_plan pl;
    void *scratch;
    cnn_status st = plan_for_call(d, dtype, algo, &pl, &scratch);
    if (st != CNN_OK) return st;
    /* An empty output (no images, no output channels, or a padding that crops it all) depends
     * on nothing: there is nothing to add to dx, dw or db. */
    const int run = pl.N > 0 && pl.C_out > 0 && pl.OH > 0 && pl.OW > 0;
    if (run && (!dy || (dx && !w) || (dw && !x))) st = CNN_EINVAL;
    else if (run && dtype == CNN_FLOAT32)
        pl.k->convt_backward_f32(&pl, dy, x, w, dx, dw, db);
    else if (run)
        pl.k->convt_backward_f64(&pl, dy, x, w, dx, dw, db);
    cnn_workspace_put(scratch);
    return st;
}
