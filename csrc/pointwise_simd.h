/* pointwise_simd.h — float32 1x1 convolutions (stride 1, no padding) as the dense layer's GEMM
 * (dense_simd.h's dn_gemm): for each image and group, with P = OH * OW pixels,
 *   forward  y (C_out/g, P) = bias + w (C_out/g, C_in/g) @ x (C_in/g, P)
 *   dx       dx (C_in/g, P) += w^T @ dy (C_out/g, P)   (w read through strides, never copied)
 *   dw       dw (C_out/g, C_in/g) += dy @ x^T, as dot products along the pixels (dense_simd.h's
 *            forward tiles)
 * All operands are read where they lie: a pixel row of x or dy is a row of B, a weight row or
 * column a row of A. Each output element is one tile's sum, started from the bias (forward) or
 * from dx / dw, in order of the input channel (forward, dx) or image by image (dw): the result does
 * not depend on the thread count. Included by csrc/isa_avx2.c and isa_avx512.c after
 * blocked_simd.h and dense_simd.h; CNN_SIMD_BLOCKED_FORWARD / _BACKWARD_DATA / _BACKWARD_WEIGHT
 * name these entry points, which hand every other geometry to the blocked kernels. */

/* A 1x1 convolution that reads every input pixel once (the dilation of a 1x1 kernel changes
 * nothing). It measured 1.2-3x faster than the blocked kernel at one thread for every channel count
 * from 1 to 512 and every image from 1x1 to 64x64, except where an image plane is a multiple of
 * 4 KB (P % 1024 == 0: x's and y's rows then share L1 sets) with fewer than 64 output channels per
 * group (0.91-1.04x); with 64 or more it stays 1.2-1.3x faster. */
static int pw_applies(const conv_geom *g)
{
    const int64_t P = g->OH * g->OW;
    return g->kH == 1 && g->kW == 1 && g->sH == 1 && g->sW == 1 && g->pT == 0 && g->pL == 0 &&
           g->OH == g->H && g->OW == g->W && (P % 1024 || g->C_out / g->groups >= 64);
}

typedef struct {
    const conv_geom *g;
    const float *in, *w, *b; /* forward: x, w, b; input gradient: dy, w, NULL */
    float *out;              /* y or dx */
    int data;                /* 0: forward, 1: input gradient */
    int64_t blocks;          /* column blocks per image and group */
} pw_args;

/* Items: (image, group, block of DN_GNV vectors of pixels), one dn_gemm column block each; the
 * forward first sets the block's outputs to the bias, where the sums start. */
static void pw_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const pw_args *t = vctx;
    const conv_geom *g = t->g;
    const int64_t P = g->OH * g->OW, Cig = g->C_in / g->groups, Cog = g->C_out / g->groups;
    const int64_t cols = DN_GNV * DS_VW;
    for (int64_t item = begin; item < end; item++) {
        const int64_t blk = item % t->blocks, ng = item / t->blocks;
        const int64_t n = ng / g->groups, grp = ng % g->groups;
        const float *wg = t->w + grp * Cog * Cig;
        dn_gemm_args a;
        if (!t->data) {
            float *yg = t->out + (n * g->C_out + grp * Cog) * P;
            const int64_t j0 = blk * cols, nj = P - j0 < cols ? P - j0 : cols;
            for (int64_t o = 0; o < Cog; o++) {
                const float v = t->b ? t->b[grp * Cog + o] : 0.0f;
                for (int64_t j = j0; j < j0 + nj; j++) yg[o * P + j] = v;
            }
            a = (dn_gemm_args){Cog, P, Cig, Cig, 1, P, P, wg, t->in + (n * g->C_in + grp * Cig) * P,
                               yg, 1};
        } else {
            a = (dn_gemm_args){Cig, P, Cog, 1, Cig, P, P, wg, t->in + (n * g->C_out + grp * Cog) * P,
                               t->out + (n * g->C_in + grp * Cig) * P, 1};
        }
        dn_gemm_task(&a, blk, blk + 1, part);
    }
}

static void pw_run(const conv_geom *g, const float *in, const float *w, const float *b, float *out,
                   int data)
{
    const int64_t P = g->OH * g->OW, cols = DN_GNV * DS_VW;
    const pw_args t = {g, in, w, b, out, data, (P + cols - 1) / cols};
    const double work = (double)(g->C_in / g->groups) * (g->C_out / g->groups) * cols;
    cnn_parallel_for(g->N * g->groups * t.blocks, cnn_work_grain(work), g->threads, pw_task,
                     (void *)&t);
}

static int pw_conv_forward(const conv_geom *g, const float *x, const float *w, const float *b,
                           float *y, int accumulate, float *scratch)
{
    if (accumulate || !pw_applies(g)) return bk_conv_forward(g, x, w, b, y, accumulate, scratch);
    pw_run(g, x, w, b, y, 0);
    return 1;
}

static int pw_conv_backward_data(const conv_geom *g, const float *dy, const float *w, float *dx,
                                 float *scratch)
{
    if (!pw_applies(g)) return bk_conv_backward_data(g, dy, w, dx, scratch);
    pw_run(g, dy, w, NULL, dx, 1);
    return 1;
}

typedef struct {
    const conv_geom *g;
    const float *dy, *x;
    float *dw;
    int64_t blocks; /* blocks of DN_DR output channels per group */
} pw_wgt_args;

/* Items: (group, block of DN_DR output channels), over every input channel of the group and
 * every image in order: dw[o][i] += the dot product of dy's plane o and x's plane i, image by
 * image, each summed in vectors of pixels and then across lanes (dense_simd.h's dot tiles). On
 * planes of fewer than 16 pixels the lanes are mostly empty and the blocked kernel measured up to
 * 2.7x faster (64 channels, 1x1 to 3x3 images); from 16 on this one is 1.2-4x faster. */
static void pw_weight_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const pw_wgt_args *t = vctx;
    const conv_geom *g = t->g;
    const int64_t P = g->OH * g->OW, Cig = g->C_in / g->groups, Cog = g->C_out / g->groups;
    (void)part;
    for (int64_t item = begin; item < end; item++) {
        const int64_t grp = item / t->blocks, r0 = item % t->blocks * DN_DR;
        const int64_t rv = Cog - r0 < DN_DR ? Cog - r0 : DN_DR, co = grp * Cog + r0;
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t i0 = 0; i0 < Cig; i0 += DN_DO)
                dn_dot_tile(t->dy + (n * g->C_out + co) * P, rv,
                            t->x + (n * g->C_in + grp * Cig + i0) * P,
                            Cig - i0 < DN_DO ? Cig - i0 : DN_DO, P, NULL, t->dw + co * Cig + i0, Cig,
                            1);
    }
}

static int pw_conv_backward_weight(const conv_geom *g, const float *dy, const float *x, float *dw,
                                   float *scratch)
{
    if (!pw_applies(g) || g->OH * g->OW < 2 * DS_VW)
        return bk_conv_backward_weight(g, dy, x, dw, scratch);
    const pw_wgt_args t = {g, dy, x, dw, (g->C_out / g->groups + DN_DR - 1) / DN_DR};
    const double work = (double)g->N * (g->C_in / g->groups) * g->OH * g->OW * DN_DR;
    cnn_parallel_for(g->groups * t.blocks, cnn_work_grain(work), g->threads, pw_weight_task,
                     (void *)&t);
    return 1;
}
