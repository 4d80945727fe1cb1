/* test_pool_convt.c — the pooling kernels and the transpose convolution's plan, in plain C through
 * the kernel tables: on every instruction set this CPU has (scalar, AVX2, AVX-512) and both dtypes,
 * the fast pooling kernels equal the reference loops bitwise (max and average, forward and
 * backward, the flat indices and the compact uint8 argmax, the fallbacks for huge rows and
 * windows) over random geometries and values with NaN, -inf and ties, for 1 and 3 threads; the
 * compact backward and index_scatter_fresh equal the index scatter; and the transpose convolution's AUTO rule picks the
 * documented path, each path equal to the reference kernel on small integers (sums exact).
 * Built and run by tests/test_pool_convt_c.py. Exit status 0 means every check passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "internal.h"

static int failures = 0, checks = 0;
static char where[256]; /* the case being checked, for the report */

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond) && failures++ < 20)                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n  %s\n", __FILE__, __LINE__, #cond, where); \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static int64_t pick(int64_t lo, int64_t hi) /* in [lo, hi] */
{
    return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
}

/* Small integers (sums exact in any order), with ties, NaN and -inf now and then. */
static double value(void)
{
    const int64_t r = pick(0, 99);
    if (r == 0) return NAN;
    if (r <= 3) return -INFINITY;
    return (double)pick(-8, 8);
}

static void *fill(int64_t n, size_t es, int special)
{
    void *a = malloc((size_t)(n > 0 ? n : 1) * es);
    for (int64_t i = 0; i < n; i++) {
        const double v = special ? value() : (double)pick(-8, 8);
        if (es == sizeof(float)) ((float *)a)[i] = (float)v;
        else ((double *)a)[i] = v;
    }
    return a;
}

static void *copy_of(const void *a, size_t bytes)
{
    void *b = malloc(bytes > 0 ? bytes : 1);
    memcpy(b, a, bytes);
    return b;
}

/* ---- pooling: fast kernels against the reference loops ---------------------------------------------- */

static void pool_case(const cnn_kernel_table *k, int f32, const cnn_pool2d_desc *d)
{
    int64_t OH, OW;
    if (cnn_pool2d_output_shape(d, &OH, &OW) != CNN_OK) return;
    const size_t es = f32 ? sizeof(float) : sizeof(double);
    const int64_t nx = d->planes * d->in_h * d->in_w, ny = d->planes * OH * OW;
    void *x = fill(nx, es, 1), *y1 = malloc((size_t)ny * es), *y2 = malloc((size_t)ny * es);
    int64_t *i1 = malloc((size_t)ny * 8), *i2 = malloc((size_t)ny * 8);
    uint8_t *a1 = malloc((size_t)ny), *a2 = malloc((size_t)ny);
    void *dy = fill(ny, es, 0), *dx0 = fill(nx, es, 0);
    void *dx1 = copy_of(dx0, (size_t)nx * es), *dx2 = copy_of(dx0, (size_t)nx * es);
    snprintf(where, sizeof where, "%s %s planes %lld in %lldx%lld k %lldx%lld s %lldx%lld p %lldx%lld d %lldx%lld ceil %d",
             cnn_isa_name(k->isa), f32 ? "f32" : "f64", (long long)d->planes, (long long)d->in_h,
             (long long)d->in_w, (long long)d->kernel_h, (long long)d->kernel_w, (long long)d->stride_h,
             (long long)d->stride_w, (long long)d->pad_h, (long long)d->pad_w, (long long)d->dilation_h,
             (long long)d->dilation_w, d->ceil_mode);
    /* max, flat indices */
    if (f32) {
        k->maxpool_forward_f32(d, OH, OW, x, y1, i1);
        k->maxpool_forward_ref_f32(d, OH, OW, x, y2, i2);
    } else {
        k->maxpool_forward_f64(d, OH, OW, x, y1, i1);
        k->maxpool_forward_ref_f64(d, OH, OW, x, y2, i2);
    }
    CHECK(memcmp(y1, y2, (size_t)ny * es) == 0);
    CHECK(memcmp(i1, i2, (size_t)ny * 8) == 0);
    /* max, compact argmax: the same maxima, tap numbers naming the same positions */
    if (d->kernel_h * d->kernel_w <= 255) {
        if (f32) k->maxpool_forward_arg_f32(d, OH, OW, x, y2, a1);
        else k->maxpool_forward_arg_f64(d, OH, OW, x, y2, a1);
        CHECK(memcmp(y1, y2, (size_t)ny * es) == 0);
        int same = 1;
        for (int64_t o = 0; o < ny; o++) {
            const int64_t oh = o / OW % OH, ow = o % OW;
            const int64_t want = a1[o] == 255 ? -1
                : (oh * d->stride_h - d->pad_h + a1[o] / d->kernel_w * d->dilation_h) * d->in_w +
                  ow * d->stride_w - d->pad_w + a1[o] % d->kernel_w * d->dilation_w;
            same &= want == i1[o];
        }
        CHECK(same);
        /* backward: the gather equals the reference scatter bitwise (the same order of terms),
         * added to dx or overwriting it, and the index scatter */
        for (int accumulate = 0; accumulate <= 1; accumulate++) {
            memcpy(dx1, dx0, (size_t)nx * es);
            memcpy(dx2, dx0, (size_t)nx * es);
            if (f32) {
                k->maxpool_backward_arg_f32(d, OH, OW, dy, a1, dx1, accumulate);
                k->index_scatter_f32(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx2);
            } else {
                k->maxpool_backward_arg_f64(d, OH, OW, dy, a1, dx1, accumulate);
                k->index_scatter_f64(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx2);
            }
            if (!accumulate) { /* overwritten: compare with the scatter into zeros */
                memset(dx2, 0, (size_t)nx * es);
                if (f32) k->index_scatter_f32(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx2);
                else k->index_scatter_f64(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx2);
            }
            CHECK(memcmp(dx1, dx2, (size_t)nx * es) == 0);
        }
    }
    /* index_scatter_fresh: the scatter into zeros (dx2 holds it) over garbage, bitwise; an index
     * outside [-1, in_len) is reported */
    memset(dx2, 0, (size_t)nx * es);
    if (f32) k->index_scatter_f32(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx2);
    else k->index_scatter_f64(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx2);
    memset(dx1, 0x7f, (size_t)nx * es);
    CHECK((f32 ? k->index_scatter_fresh_f32(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx1)
               : k->index_scatter_fresh_f64(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx1)) == 1);
    CHECK(memcmp(dx1, dx2, (size_t)nx * es) == 0);
    const int64_t keep = i1[ny - 1];
    i1[ny - 1] = pick(0, 1) ? -2 : d->in_h * d->in_w;
    CHECK((f32 ? k->index_scatter_fresh_f32(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx1)
               : k->index_scatter_fresh_f64(d->planes, OH * OW, d->in_h * d->in_w, dy, i1, dx1)) == 0);
    i1[ny - 1] = keep;
    /* average (no dilation) */
    cnn_pool2d_desc e = *d;
    e.dilation_h = e.dilation_w = 1;
    e.count_include_pad = (int)pick(0, 1);
    e.divisor_override = pick(0, 3) == 0 ? pick(1, 7) : 0;
    int64_t AH, AW;
    if (cnn_pool2d_output_shape(&e, &AH, &AW) == CNN_OK && AH * AW <= OH * OW * 16) {
        const int64_t na = e.planes * AH * AW;
        void *x2 = fill(nx, es, 0), *z1 = malloc((size_t)na * es), *z2 = malloc((size_t)na * es);
        void *g = fill(na, es, 0);
        if (f32) {
            k->avgpool_forward_f32(&e, AH, AW, x2, z1);
            k->avgpool_forward_ref_f32(&e, AH, AW, x2, z2);
        } else {
            k->avgpool_forward_f64(&e, AH, AW, x2, z1);
            k->avgpool_forward_ref_f64(&e, AH, AW, x2, z2);
        }
        CHECK(memcmp(z1, z2, (size_t)na * es) == 0);
        for (int accumulate = 0; accumulate <= 1; accumulate++) {
            memcpy(dx1, dx0, (size_t)nx * es);
            if (accumulate) memcpy(dx2, dx0, (size_t)nx * es);
            else memset(dx2, 0, (size_t)nx * es);
            if (f32) {
                k->avgpool_backward_f32(&e, AH, AW, g, dx1, accumulate);
                k->avgpool_backward_ref_f32(&e, AH, AW, g, dx2);
            } else {
                k->avgpool_backward_f64(&e, AH, AW, g, dx1, accumulate);
                k->avgpool_backward_ref_f64(&e, AH, AW, g, dx2);
            }
            CHECK(memcmp(dx1, dx2, (size_t)nx * es) == 0);
        }
        free(x2), free(z1), free(z2), free(g);
    }
    free(x), free(y1), free(y2), free(i1), free(i2), free(a1), free(a2);
    free(dy), free(dx0), free(dx1), free(dx2);
}

static void pool_random(const cnn_kernel_table *k, int f32)
{
    for (int n = 0; n < 300; n++) {
        cnn_pool2d_desc d = {0};
        d.kernel_h = pick(1, 5);
        d.kernel_w = pick(1, 5);
        d.stride_h = pick(1, 4);
        d.stride_w = pick(1, 4);
        d.dilation_h = pick(1, 3);
        d.dilation_w = pick(1, 3);
        d.pad_h = pick(0, d.kernel_h / 2);
        d.pad_w = pick(0, d.kernel_w / 2);
        d.in_h = pick(1, 16);
        d.in_w = pick(1, 70);
        d.planes = pick(1, 3);
        d.ceil_mode = (int)pick(0, 1);
        pool_case(k, f32, &d);
    }
    /* the fallbacks: rows over POOL_ROW, windows over POOL_TAPS columns or POOL_KROWS rows,
     * strides over POOL_TAPS; and the benchmark's shapes */
    const int64_t shapes[][9] = {/* H, W, kH, kW, sH, sW, pH, pW, planes */
                                 {3, 1500, 2, 3, 1, 2, 1, 1, 2},   {4, 80, 2, 40, 1, 3, 0, 20, 1},
                                 {20, 7, 10, 2, 2, 1, 5, 1, 2},     {5, 200, 2, 2, 1, 40, 0, 1, 1},
                                 {56, 56, 2, 2, 2, 2, 0, 0, 3},     {56, 56, 3, 3, 2, 2, 1, 1, 3},
                                 {91, 91, 2, 2, 2, 2, 0, 0, 2},     {1, 33, 1, 3, 1, 1, 0, 1, 4}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *s = shapes[i];
        cnn_pool2d_desc d = {s[8], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], 1, 1, 0, 1, 0};
        pool_case(k, f32, &d);
    }
}

/* ---- transpose convolution: the rule, and every path against the reference kernel --------------- */

static convt_path path_for(int64_t n, int64_t cin, int64_t cout, int64_t hw, int64_t k, int64_t s,
                           int64_t p, int64_t d, cnn_algo algo)
{
    cnn_conv_transpose2d_desc desc = {n, cin, hw, hw, cout, k, k, s, s, p, p, 0, 0, d, d, 1};
    convt_plan pl;
    if (convt_plan_make(&desc, CNN_FLOAT32, algo, 1, &pl) != CNN_OK) return (convt_path)-1;
    return pl.path;
}

/* The rule under the current instruction set: AUTO's forward leaves the phase path's direct tiles
 * (two vectors of a phase row) for the blocked convolution's input gradient where a phase row fits
 * in one vector (16 floats with AVX-512, 8 with AVX2; never with the scalar kernels, which have no
 * blocked convolution). */
static void convt_rule(void)
{
    const cnn_isa isa = cnn_get_isa();
    const convt_path narrow16 = isa == CNN_ISA_AVX512 ? CONVT_GENERAL : CONVT_PHASE_DIRECT;
    const convt_path narrow8 = isa == CNN_ISA_SCALAR ? CONVT_PHASE_DIRECT : CONVT_GENERAL;
    snprintf(where, sizeof where, "transpose convolution rule (%s)", cnn_isa_name(isa));
    CHECK(path_for(8, 32, 16, 16, 4, 2, 1, 1, CNN_ALGO_AUTO) == narrow16); /* phase rows of 16 */
    CHECK(path_for(8, 16, 8, 8, 4, 2, 1, 1, CNN_ALGO_AUTO) == narrow8);    /* of 8 */
    CHECK(path_for(8, 32, 16, 32, 4, 2, 1, 1, CNN_ALGO_AUTO) == CONVT_PHASE_DIRECT); /* of 32 */
    CHECK(path_for(32, 4, 6, 22, 3, 2, 0, 1, CNN_ALGO_AUTO) == CONVT_PHASE_DIRECT); /* of 23 */
    CHECK(path_for(32, 6, 1, 45, 3, 2, 0, 1, CNN_ALGO_AUTO) == CONVT_PHASE_DIRECT); /* of 46 */
    CHECK(path_for(2, 8, 8, 9, 3, 1, 1, 1, CNN_ALGO_AUTO) == narrow16);  /* stride 1, rows of 9 */
    CHECK(path_for(2, 8, 8, 20, 3, 1, 1, 1, CNN_ALGO_AUTO) == CONVT_PHASE_DIRECT); /* of 20 */
    CHECK(path_for(8, 32, 16, 16, 4, 2, 1, 1, CNN_ALGO_GEMM) == CONVT_PHASE_GEMM);
    CHECK(path_for(8, 32, 16, 16, 4, 2, 1, 1, CNN_ALGO_DIRECT) == CONVT_PHASE_DIRECT);
    CHECK(path_for(8, 32, 16, 16, 4, 2, 1, 1, CNN_ALGO_REFERENCE) == CONVT_REFERENCE);
    /* a huge dilation and padding next to a tiny image (output 2x2): the phases' reach (the
     * padded input copy, ~2e5 wide) dwarfs the data */
    CHECK(path_for(1, 2, 2, 2, 3, 1, 100000, 100000, CNN_ALGO_AUTO) == CONVT_GENERAL);
    CHECK(path_for(1, 2, 2, 2, 3, 1, 100000, 100000, CNN_ALGO_DIRECT) == CONVT_GENERAL);
    CHECK(path_for(1, 2, 2, 2, 3, 1, 100000, 100000, CNN_ALGO_GEMM) == CONVT_GENERAL);
    CHECK(path_for(1, 2, 2, 2, 3, 1, 10, 10, CNN_ALGO_DIRECT) == CONVT_PHASE_DIRECT);
    CHECK(path_for(1, 4, 3, 8, 3, 1, 2000, 2000, CNN_ALGO_AUTO) == CONVT_GENERAL); /* convt_paths */
}

static void convt_case(const cnn_conv_transpose2d_desc *dp, int f32)
{
    const size_t es = f32 ? sizeof(float) : sizeof(double);
    const cnn_dtype dt = f32 ? CNN_FLOAT32 : CNN_FLOAT64;
    const cnn_conv_transpose2d_desc d = *dp;
    int64_t OH, OW;
    if (cnn_conv_transpose2d_output_shape(&d, &OH, &OW) != CNN_OK) return;
    {
        const int64_t nx = d.batch * d.in_channels * d.in_h * d.in_w;
        const int64_t nw = d.in_channels * (d.out_channels / d.groups) * d.kernel_h * d.kernel_w;
        const int64_t ny = d.batch * d.out_channels * OH * OW;
        void *x = fill(nx, es, 0), *w = fill(nw, es, 0), *b = fill(d.out_channels, es, 0);
        void *dy = fill(ny, es, 0), *y0 = malloc((size_t)(ny + 1) * es), *y1 = malloc((size_t)(ny + 1) * es);
        void *dx0 = calloc((size_t)nx + 1, es), *dw0 = calloc((size_t)nw + 1, es), *db0 = calloc((size_t)d.out_channels + 1, es);
        void *dx1 = calloc((size_t)nx + 1, es), *dw1 = calloc((size_t)nw + 1, es), *db1 = calloc((size_t)d.out_channels + 1, es);
        snprintf(where, sizeof where, "conv_transpose %s %s N%lld %lld->%lld %lldx%lld k%lldx%lld s%lldx%lld p%lldx%lld op%lldx%lld d%lldx%lld g%lld",
                 cnn_isa_name(cnn_get_isa()), f32 ? "f32" : "f64", (long long)d.batch, (long long)d.in_channels,
                 (long long)d.out_channels, (long long)d.in_h, (long long)d.in_w, (long long)d.kernel_h,
                 (long long)d.kernel_w, (long long)d.stride_h, (long long)d.stride_w, (long long)d.pad_h,
                 (long long)d.pad_w, (long long)d.output_padding_h, (long long)d.output_padding_w,
                 (long long)d.dilation_h, (long long)d.dilation_w, (long long)d.groups);
        CHECK(cnn_conv_transpose2d_forward(&d, dt, CNN_ALGO_REFERENCE, x, w, b, y0) == CNN_OK);
        CHECK(cnn_conv_transpose2d_backward(&d, dt, CNN_ALGO_REFERENCE, dy, x, w, dx0, dw0, db0) == CNN_OK);
        const cnn_algo algos[3] = {CNN_ALGO_DIRECT, CNN_ALGO_GEMM, CNN_ALGO_AUTO};
        for (int a = 0; a < 3; a++) {
            memset(dx1, 0, (size_t)nx * es);
            memset(dw1, 0, (size_t)nw * es);
            memset(db1, 0, (size_t)d.out_channels * es);
            /* DIRECT on the general path runs conv's direct kernels, which copy the padded image
             * (a known limit, docs/DECISIONS.md): gigabytes here */
            if (algos[a] == CNN_ALGO_DIRECT && d.pad_h > 1000) continue;
            CHECK(cnn_conv_transpose2d_forward(&d, dt, algos[a], x, w, b, y1) == CNN_OK);
            CHECK(memcmp(y0, y1, (size_t)ny * es) == 0);
            CHECK(cnn_conv_transpose2d_backward(&d, dt, algos[a], dy, x, w, dx1, dw1, db1) == CNN_OK);
            CHECK(memcmp(dx0, dx1, (size_t)nx * es) == 0);
            CHECK(memcmp(dw0, dw1, (size_t)nw * es) == 0);
            CHECK(memcmp(db0, db1, (size_t)d.out_channels * es) == 0);
        }
        free(x), free(w), free(b), free(dy), free(y0), free(y1);
        free(dx0), free(dw0), free(db0), free(dx1), free(dw1), free(db1);
    }
}

static void convt_paths(int f32)
{
    for (int n = 0; n < 60; n++) {
        cnn_conv_transpose2d_desc d = {0};
        d.groups = pick(1, 2);
        d.batch = pick(1, 2);
        d.in_channels = d.groups * pick(1, 3);
        d.out_channels = d.groups * pick(1, 8);
        d.in_h = pick(1, 6);
        d.in_w = pick(1, 20);
        d.kernel_h = pick(1, 4);
        d.kernel_w = pick(1, 4);
        d.stride_h = pick(1, 3);
        d.stride_w = pick(1, 3);
        d.dilation_h = pick(1, 2);
        d.dilation_w = pick(1, 2);
        d.output_padding_h = pick(0, (d.stride_h > d.dilation_h ? d.stride_h : d.dilation_h) - 1);
        d.output_padding_w = pick(0, (d.stride_w > d.dilation_w ? d.stride_w : d.dilation_w) - 1);
        d.pad_h = pick(0, 3);
        d.pad_w = pick(0, 3);
        convt_case(&d, f32);
    }
    /* the general path (AUTO, DIRECT and GEMM all take it: convt_rule), an empty output and the
     * benchmark's shape */
    const cnn_conv_transpose2d_desc fixed[3] = {
        {1, 4, 8, 8, 3, 3, 3, 1, 1, 2000, 2000, 0, 0, 2000, 2000, 1},
        {2, 2, 3, 2, 4, 2, 2, 1, 1, 1, 2, 0, 0, 1, 1, 1},
        {2, 8, 2, 4, 16, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2}};
    for (int i = 0; i < 3; i++) convt_case(&fixed[i], f32);
}

int main(void)
{
    const cnn_isa isas[3] = {CNN_ISA_SCALAR, CNN_ISA_AVX2, CNN_ISA_AVX512};
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        if (!cnn_isa_available(isas[i])) continue;
        ran++;
        CHECK(cnn_set_isa(isas[i]) == CNN_OK);
        convt_rule();
        const int threads[2] = {1, 3};
        cnn_set_min_part_work(1); /* split even these small problems */
        for (int t = 0; t < 2; t++) {
            CHECK(cnn_set_num_threads(threads[t]) == CNN_OK);
            for (int f32 = 0; f32 <= 1; f32++) {
                pool_random(cnn_kernels(), f32);
                convt_paths(f32);
            }
        }
    }
    printf("%d instruction sets, %d checks, %d failed\n", ran, checks, failures);
    if (failures == 0) printf("checks passed\n");
    return failures != 0;
}
