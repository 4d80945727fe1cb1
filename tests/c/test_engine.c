/* test_engine.c — plain-C tests of the engine (no Python): status and size helpers, the fast
 * convolution kernels against the reference kernel, the transpose convolution as the adjoint of
 * convolution, the blocked GEMM against a naive product, pooling, padding, and argument errors
 * that must leave outputs untouched. Built and run by tests/test_c_engine.py (also under
 * AddressSanitizer/UBSan when the compiler supports them). Exit status 0 means every check passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "internal.h"

static int failures = 0, checks = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

/* ---- helpers -------------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double uniform(void) /* xorshift64*, in [-1, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

static double *random_doubles(int64_t n)
{
    double *a = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) a[i] = uniform();
    return a;
}

static float *to_float(const double *a, int64_t n)
{
    float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) f[i] = (float)a[i];
    return f;
}

static double max_abs_diff_d(const double *a, const double *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static double max_abs_diff_f(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

/* ---- status and sizes ------------------------------------------------------------------------------ */

static void test_status_and_sizes(void)
{
    int64_t v = -1;
    for (int s = CNN_OK; s <= CNN_EDTYPE; s++) CHECK(cnn_strerror((cnn_status)s) != NULL);
    CHECK(strcmp(cnn_strerror(CNN_OK), "success") == 0);
    CHECK(cnn_strerror((cnn_status)99) != NULL);

    CHECK(cnn_mul_sizes(INT64_MAX / 2, 3, &v) == CNN_EOVERFLOW);
    CHECK(cnn_mul_sizes(1 << 20, 1 << 20, &v) == CNN_OK && v == (int64_t)1 << 40);
    CHECK(cnn_add_sizes(INT64_MAX, 1, &v) == CNN_EOVERFLOW);

    CHECK(cnn_conv_out_len(5, 3, 1, 0, 0, 1, &v) == CNN_OK && v == 3);
    CHECK(cnn_conv_out_len(5, 3, 2, 1, 1, 1, &v) == CNN_OK && v == 3);
    CHECK(cnn_conv_out_len(91, 3, 1, 1, 1, 1, &v) == CNN_OK && v == 91);
    CHECK(cnn_conv_out_len(10, 3, 1, 0, 0, 2, &v) == CNN_OK && v == 6);
    CHECK(cnn_conv_out_len(2, 5, 1, 0, 0, 1, &v) == CNN_ESHAPE);
    CHECK(cnn_conv_out_len(5, 3, 0, 0, 0, 1, &v) == CNN_EINVAL);
    CHECK(cnn_conv_out_len(0, 1, 1, 0, 0, 1, &v) == CNN_EINVAL);
    CHECK(cnn_conv_out_len(5, 3, 1, -1, 0, 1, &v) == CNN_EINVAL);
    CHECK(cnn_conv_out_len(5, INT64_MAX, 1, 0, 0, 4, &v) == CNN_EOVERFLOW);
    CHECK(cnn_conv_out_len(INT64_MAX, 1, 1, INT64_MAX, 0, 1, &v) == CNN_EOVERFLOW);

    CHECK(cnn_conv_transpose_out_len(22, 3, 2, 0, 1, 0, &v) == CNN_OK && v == 45);
    CHECK(cnn_conv_transpose_out_len(4, 4, 2, 1, 1, 1, &v) == CNN_OK && v == 9);
    CHECK(cnn_conv_transpose_out_len(4, 3, 2, 0, 1, 2, &v) == CNN_EINVAL); /* op >= stride, dilation */
    CHECK(cnn_conv_transpose_out_len(4, 3, 1, 0, 3, 2, &v) == CNN_OK);    /* op < dilation */
    CHECK(cnn_conv_transpose_out_len(1, 1, 1, 1, 1, 0, &v) == CNN_ESHAPE);
    CHECK(cnn_conv_transpose_out_len(INT64_MAX / 2, 3, 4, 0, 1, 0, &v) == CNN_EOVERFLOW);

    CHECK(cnn_pool_out_len(4, 2, 2, 0, 1, 0, &v) == CNN_OK && v == 2);
    CHECK(cnn_pool_out_len(5, 2, 2, 0, 1, 1, &v) == CNN_OK && v == 3);
    CHECK(cnn_pool_out_len(5, 2, 2, 1, 1, 1, &v) == CNN_OK && v == 3); /* last window dropped */
    CHECK(cnn_pool_out_len(5, 2, 2, 2, 1, 0, &v) == CNN_EINVAL);       /* pad > k/2 */
    CHECK(cnn_pool_out_len(1, 3, 1, 0, 1, 0, &v) == CNN_ESHAPE);

    CHECK(cnn_pad_out_len(5, 2, 3, CNN_PAD_REFLECT, &v) == CNN_OK && v == 10);
    CHECK(cnn_pad_out_len(5, -2, 1, CNN_PAD_REFLECT, &v) == CNN_OK && v == 4);
    CHECK(cnn_pad_out_len(5, -3, -3, CNN_PAD_CONSTANT, &v) == CNN_ESHAPE);
    CHECK(cnn_pad_out_len(0, 1, 1, CNN_PAD_REFLECT, &v) == CNN_ESHAPE);
    CHECK(cnn_pad_out_len(0, 1, 1, CNN_PAD_CONSTANT, &v) == CNN_OK && v == 2);
    CHECK(cnn_pad_out_len(5, 1, 1, (cnn_pad_mode)17, &v) == CNN_EINVAL);
}

/* ---- convolution ------------------------------------------------------------------------------- */

static void test_lecture_edge_detection(void)
{
    const double img[25] = {0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1};
    const double ker[9] = {1, 1, 1, -1, -1, -1, 0, 0, 0};
    const double want_valid[9] = {0, 0, 0, -1, -2, -2, 1, 2, 2};
    const double want_stride[9] = {-1, -1, -1, 0, -2, -1, 0, 0, 0};
    double y[25];
    int64_t oh, ow;
    cnn_conv2d_desc d = {0};
    d.batch = d.in_channels = d.out_channels = d.groups = 1;
    d.in_h = d.in_w = 5;
    d.kernel_h = d.kernel_w = 3;
    d.stride_h = d.stride_w = d.dilation_h = d.dilation_w = 1;
    for (int algo = CNN_ALGO_AUTO; algo <= CNN_ALGO_WINOGRAD; algo++) {
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 0;
        d.stride_h = d.stride_w = 1;
        CHECK(cnn_conv2d_output_shape(&d, &oh, &ow) == CNN_OK && oh == 3 && ow == 3);
        CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, (cnn_algo)algo, img, ker, NULL, y) == CNN_OK);
        CHECK(max_abs_diff_d(y, want_valid, 9) == 0);
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        d.stride_h = d.stride_w = 2;
        CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, (cnn_algo)algo, img, ker, NULL, y) == CNN_OK);
        CHECK(max_abs_diff_d(y, want_stride, 9) == 0);
    }
}

/* One random geometry: every fast kernel's forward and backward against the reference kernel. */
static void compare_conv_algos(const cnn_conv2d_desc *d)
{
    int64_t oh, ow;
    if (cnn_conv2d_output_shape(d, &oh, &ow) != CNN_OK) return;
    const int64_t nx = d->batch * d->in_channels * d->in_h * d->in_w;
    const int64_t nw = d->out_channels * (d->in_channels / d->groups) * d->kernel_h * d->kernel_w;
    const int64_t ny = d->batch * d->out_channels * oh * ow;
    double *x = random_doubles(nx), *w = random_doubles(nw), *b = random_doubles(d->out_channels);
    double *dy = random_doubles(ny);
    float *xf = to_float(x, nx), *wf = to_float(w, nw), *bf = to_float(b, d->out_channels);
    float *dyf = to_float(dy, ny);
    double *y_ref = calloc((size_t)ny, sizeof(double)), *y = calloc((size_t)ny, sizeof(double));
    float *yf_ref = calloc((size_t)ny, sizeof(float)), *yf = calloc((size_t)ny, sizeof(float));
    double *g_ref = calloc((size_t)(nx + nw + d->out_channels), sizeof(double));
    double *g = calloc((size_t)(nx + nw + d->out_channels), sizeof(double));
    float *gf_ref = calloc((size_t)(nx + nw + d->out_channels), sizeof(float));
    float *gf = calloc((size_t)(nx + nw + d->out_channels), sizeof(float));

    CHECK(cnn_conv2d_forward(d, CNN_FLOAT64, CNN_ALGO_REFERENCE, x, w, b, y_ref) == CNN_OK);
    CHECK(cnn_conv2d_forward(d, CNN_FLOAT32, CNN_ALGO_REFERENCE, xf, wf, bf, yf_ref) == CNN_OK);
    CHECK(cnn_conv2d_backward(d, CNN_FLOAT64, CNN_ALGO_REFERENCE, dy, x, w, g_ref, g_ref + nx,
                              g_ref + nx + nw) == CNN_OK);
    CHECK(cnn_conv2d_backward(d, CNN_FLOAT32, CNN_ALGO_REFERENCE, dyf, xf, wf, gf_ref, gf_ref + nx,
                              gf_ref + nx + nw) == CNN_OK);
    for (int algo = CNN_ALGO_DIRECT; algo <= CNN_ALGO_WINOGRAD; algo++) {
        memset(g, 0, (size_t)(nx + nw + d->out_channels) * sizeof(double));
        memset(gf, 0, (size_t)(nx + nw + d->out_channels) * sizeof(float));
        CHECK(cnn_conv2d_forward(d, CNN_FLOAT64, (cnn_algo)algo, x, w, b, y) == CNN_OK);
        CHECK(max_abs_diff_d(y, y_ref, ny) < 1e-12);
        CHECK(cnn_conv2d_forward(d, CNN_FLOAT32, (cnn_algo)algo, xf, wf, bf, yf) == CNN_OK);
        CHECK(max_abs_diff_f(yf, yf_ref, ny) < 1e-4);
        CHECK(cnn_conv2d_backward(d, CNN_FLOAT64, (cnn_algo)algo, dy, x, w, g, g + nx, g + nx + nw) ==
              CNN_OK);
        CHECK(max_abs_diff_d(g, g_ref, nx + nw + d->out_channels) < 1e-11);
        CHECK(cnn_conv2d_backward(d, CNN_FLOAT32, (cnn_algo)algo, dyf, xf, wf, gf, gf + nx,
                                  gf + nx + nw) == CNN_OK);
        CHECK(max_abs_diff_f(gf, gf_ref, nx + nw + d->out_channels) < 1e-3);
        /* the gradients are added onto what the arrays hold */
        for (int64_t i = 0; i < nx + nw + d->out_channels; i++) gf[i] = 0.5f;
        CHECK(cnn_conv2d_backward(d, CNN_FLOAT32, (cnn_algo)algo, dyf, xf, wf, gf, gf + nx,
                                  gf + nx + nw) == CNN_OK);
        for (int64_t i = 0; i < nx + nw + d->out_channels; i++) gf[i] -= 0.5f;
        CHECK(max_abs_diff_f(gf, gf_ref, nx + nw + d->out_channels) < 1e-3);
    }
    free(x); free(w); free(b); free(dy); free(xf); free(wf); free(bf); free(dyf);
    free(y_ref); free(y); free(yf_ref); free(yf); free(g_ref); free(g); free(gf_ref); free(gf);
}

static int64_t randint(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)((uniform() + 1.0) / 2.0 * (double)(hi - lo + 1)) % (hi - lo + 1);
}

/* Inclusive ranges of a random convolution's sizes: groups, batch, channels per group (in and
 * out), image height and width, kernel side, stride, dilation and each of the four pads. */
typedef struct {
    int64_t groups, batch, per_group, h, w, k_lo, k_hi, stride, dil, pad;
} conv_ranges;

static cnn_conv2d_desc random_conv(const conv_ranges *r)
{
    cnn_conv2d_desc d = {0};
    d.groups = randint(1, r->groups);
    d.batch = randint(1, r->batch);
    d.in_channels = d.groups * randint(1, r->per_group);
    d.out_channels = d.groups * randint(1, r->per_group);
    d.in_h = randint(1, r->h);
    d.in_w = randint(1, r->w);
    d.kernel_h = randint(r->k_lo, r->k_hi);
    d.kernel_w = randint(r->k_lo, r->k_hi);
    d.stride_h = randint(1, r->stride);
    d.stride_w = randint(1, r->stride);
    d.dilation_h = randint(1, r->dil);
    d.dilation_w = randint(1, r->dil);
    d.pad_top = randint(0, r->pad);
    d.pad_bottom = randint(0, r->pad);
    d.pad_left = randint(0, r->pad);
    d.pad_right = randint(0, r->pad);
    return d;
}

static void test_conv_algos_random(void)
{
    static const conv_ranges any = {3, 2, 4, 12, 12, 1, 4, 3, 2, 2};
    static const conv_ranges winograd = {2, 2, 6, 13, 13, 3, 3, 1, 1, 3}; /* 3x3, stride 1 */
    static const conv_ranges pointwise = {3, 3, 30, 9, 40, 1, 1, 1, 2, 0}; /* 1x1, unpadded */
    for (int t = 0; t < 200; t++) {
        const cnn_conv2d_desc d = random_conv(&any);
        compare_conv_algos(&d);
    }
    for (int t = 0; t < 20; t++) {
        const cnn_conv2d_desc d = random_conv(&winograd);
        compare_conv_algos(&d);
    }
    for (int t = 0; t < 12; t++) {
        const cnn_conv2d_desc d = random_conv(&pointwise);
        compare_conv_algos(&d);
    }
    cnn_conv2d_desc big = {0}; /* a GEMM-sized reduction with several K blocks */
    big.batch = 1; big.in_channels = 40; big.out_channels = 9; big.in_h = 9; big.in_w = 11;
    big.kernel_h = big.kernel_w = 3; big.stride_h = big.stride_w = 1;
    big.dilation_h = big.dilation_w = 1; big.pad_top = big.pad_bottom = 1;
    big.pad_left = big.pad_right = 1; big.groups = 1;
    compare_conv_algos(&big);
}

/* <conv(x), v> == <x, conv_transpose(v)> */
static void test_transpose_is_adjoint(void)
{
    cnn_conv2d_desc c = {0};
    c.batch = 2; c.in_channels = 4; c.out_channels = 6; c.in_h = 9; c.in_w = 8;
    c.kernel_h = 3; c.kernel_w = 2; c.stride_h = 2; c.stride_w = 3; c.dilation_h = 2; c.dilation_w = 1;
    c.pad_top = c.pad_bottom = 1; c.pad_left = c.pad_right = 0; c.groups = 2;
    int64_t oh, ow;
    CHECK(cnn_conv2d_output_shape(&c, &oh, &ow) == CNN_OK);
    cnn_conv_transpose2d_desc t = {0};
    t.batch = 2; t.in_channels = 6; t.out_channels = 4; t.in_h = oh; t.in_w = ow;
    t.kernel_h = 3; t.kernel_w = 2; t.stride_h = 2; t.stride_w = 3; t.dilation_h = 2; t.dilation_w = 1;
    t.pad_h = 1; t.pad_w = 0; t.groups = 2;
    int64_t th, tw;
    CHECK(cnn_conv_transpose2d_output_shape(&t, &th, &tw) == CNN_OK);
    t.output_padding_h = 9 - th; /* recover the conv's input size */
    t.output_padding_w = 8 - tw;
    CHECK(cnn_conv_transpose2d_output_shape(&t, &th, &tw) == CNN_OK && th == 9 && tw == 8);
    const int64_t nx = 2 * 4 * 9 * 8, ny = 2 * 6 * oh * ow, nw = 6 * 2 * 3 * 2;
    double *x = random_doubles(nx), *w = random_doubles(nw), *v = random_doubles(ny);
    double *y = calloc((size_t)ny, sizeof(double)), *xt = calloc((size_t)nx, sizeof(double));
    CHECK(cnn_conv2d_forward(&c, CNN_FLOAT64, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_OK);
    CHECK(cnn_conv_transpose2d_forward(&t, CNN_FLOAT64, CNN_ALGO_GEMM, v, w, NULL, xt) == CNN_OK);
    double a = 0, b = 0;
    for (int64_t i = 0; i < ny; i++) a += y[i] * v[i];
    for (int64_t i = 0; i < nx; i++) b += x[i] * xt[i];
    CHECK(fabs(a - b) < 1e-10 * (fabs(a) + 1));
    free(x); free(w); free(v); free(y); free(xt);
}

/* ---- GEMM ---------------------------------------------------------------------------------------- */

static void test_gemm(void)
{
    const int64_t sizes[][3] = {{1, 1, 1}, {5, 7, 3}, {130, 20, 300}, {4, 2100, 5}, {33, 17, 257}};
    const cnn_kernel_table *kt = cnn_kernels();
    double *work = malloc((size_t)kt->gemm_workspace_len() * sizeof(double));
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                double *A = random_doubles(M * K), *B = random_doubles(K * N);
                double *C = random_doubles(M * N), *C0 = malloc((size_t)(M * N) * sizeof(double));
                memcpy(C0, C, (size_t)(M * N) * sizeof(double));
                kt->gemm_f64(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 1, C, N, work);
                double err = 0;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s2 = C0[i * N + j];
                        for (int64_t k = 0; k < K; k++)
                            s2 += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                        err = fmax(err, fabs(s2 - C[i * N + j]));
                    }
                CHECK(err < 1e-11);
                free(A); free(B); free(C); free(C0);
            }
    free(work);
}

/* ---- pooling and padding ------------------------------------------------------------------------ */

static void test_pooling(void)
{
    const double m[16] = {100, 0, 0, 0, 500, 10, 100, 0, 0, 100, 250, 0, 0, 0, 0, 250};
    double y[4];
    int64_t idx[4];
    cnn_pool2d_desc d = {0};
    d.planes = 1; d.in_h = d.in_w = 4; d.kernel_h = d.kernel_w = 2; d.stride_h = d.stride_w = 2;
    d.dilation_h = d.dilation_w = 1; d.count_include_pad = 1;
    CHECK(cnn_maxpool2d_forward(&d, CNN_FLOAT64, m, y, idx) == CNN_OK);
    CHECK(y[0] == 500 && y[1] == 100 && y[2] == 100 && y[3] == 250);
    CHECK(idx[0] == 4 && idx[1] == 6 && idx[2] == 9 && idx[3] == 10);
    CHECK(cnn_avgpool2d_forward(&d, CNN_FLOAT64, m, y) == CNN_OK);
    CHECK(y[0] == 152.5 && y[1] == 25 && y[2] == 25 && y[3] == 125);

    const float nan_in[4] = {1.0f, NAN, 2.0f, NAN};
    float yf[1];
    d.in_h = d.in_w = 2;
    CHECK(cnn_maxpool2d_forward(&d, CNN_FLOAT32, nan_in, yf, idx) == CNN_OK);
    CHECK(isnan(yf[0]) && idx[0] == 3);

    /* a dilated window that misses the input holds no element: -inf and index -1 (docs/DECISIONS.md) */
    cnn_pool2d_desc e = d;
    e.in_h = e.in_w = 2; e.kernel_h = e.kernel_w = 2; e.stride_h = e.stride_w = 3;
    e.pad_h = e.pad_w = 1; e.dilation_h = e.dilation_w = 3;
    int64_t oh, ow;
    CHECK(cnn_pool2d_output_shape(&e, &oh, &ow) == CNN_OK && oh == 1 && ow == 1);
    const double ones[4] = {1, 1, 1, 1};
    CHECK(cnn_maxpool2d_forward(&e, CNN_FLOAT64, ones, y, idx) == CNN_OK);
    CHECK(y[0] == -INFINITY && idx[0] == -1);

    /* unpooling refuses an index outside the output before writing anything */
    double out[4] = {7, 7, 7, 7};
    const double vals[1] = {3};
    const int64_t bad[1] = {4};
    CHECK(cnn_maxunpool2d_forward(CNN_FLOAT64, 1, 1, 2, 2, vals, bad, out) == CNN_EINDEX);
    CHECK(out[0] == 7 && out[3] == 7);
}

static void test_padding(void)
{
    const double row[3] = {1, 2, 3};
    double y[7];
    const int64_t shape[1] = {3}, pads[2] = {2, 2};
    const double reflect[7] = {3, 2, 1, 2, 3, 2, 1}, symmetric[7] = {2, 1, 1, 2, 3, 3, 2};
    const double replicate[7] = {1, 1, 1, 2, 3, 3, 3}, circular[7] = {2, 3, 1, 2, 3, 1, 2};
    CHECK(cnn_pad_forward(CNN_FLOAT64, 1, shape, pads, CNN_PAD_REFLECT, 0, row, y) == CNN_OK);
    CHECK(max_abs_diff_d(y, reflect, 7) == 0);
    CHECK(cnn_pad_forward(CNN_FLOAT64, 1, shape, pads, CNN_PAD_SYMMETRIC, 0, row, y) == CNN_OK);
    CHECK(max_abs_diff_d(y, symmetric, 7) == 0);
    CHECK(cnn_pad_forward(CNN_FLOAT64, 1, shape, pads, CNN_PAD_REPLICATE, 0, row, y) == CNN_OK);
    CHECK(max_abs_diff_d(y, replicate, 7) == 0);
    CHECK(cnn_pad_forward(CNN_FLOAT64, 1, shape, pads, CNN_PAD_CIRCULAR, 0, row, y) == CNN_OK);
    CHECK(max_abs_diff_d(y, circular, 7) == 0);
    double dx[3] = {0, 0, 0};
    const double ones[7] = {1, 1, 1, 1, 1, 1, 1};
    CHECK(cnn_pad_backward(CNN_FLOAT64, 1, shape, pads, CNN_PAD_REFLECT, ones, dx) == CNN_OK);
    CHECK(dx[0] == 2 && dx[1] == 3 && dx[2] == 2);
}

/* ---- errors leave outputs untouched ------------------------------------------------------------ */

static void test_errors_do_not_write(void)
{
    double x[16] = {0}, w[9] = {0}, y[16];
    for (int i = 0; i < 16; i++) y[i] = 42;
    cnn_conv2d_desc d = {0};
    d.batch = 1; d.in_channels = 1; d.out_channels = 1; d.in_h = d.in_w = 2;
    d.kernel_h = d.kernel_w = 3; d.stride_h = d.stride_w = 1; d.dilation_h = d.dilation_w = 1;
    d.groups = 1;
    CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_ESHAPE);
    d.in_h = d.in_w = 4;
    d.stride_h = 0;
    CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_EINVAL);
    d.stride_h = 1;
    d.groups = 2;
    CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_ESHAPE);
    d.groups = 1;
    CHECK(cnn_conv2d_forward(&d, (cnn_dtype)7, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_EDTYPE);
    CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, (cnn_algo)9, x, w, NULL, y) == CNN_EINVAL);
    CHECK(cnn_conv2d_forward(NULL, CNN_FLOAT64, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_EINVAL);
    d.in_h = INT64_MAX / 2;
    CHECK(cnn_conv2d_forward(&d, CNN_FLOAT64, CNN_ALGO_AUTO, x, w, NULL, y) == CNN_EOVERFLOW);
    int untouched = 1;
    for (int i = 0; i < 16; i++) untouched &= y[i] == 42;
    CHECK(untouched);

    double probs[2] = {0.5, 1.5}, target[2] = {0, 1}, loss[1] = {42};
    CHECK(cnn_bce_loss_forward(CNN_FLOAT64, 2, probs, target, NULL, CNN_REDUCE_MEAN, loss) == CNN_EINVAL);
    CHECK(loss[0] == 42);
    const int64_t cls[2] = {0, 5};
    const double logits[4] = {0, 0, 0, 0};
    CHECK(cnn_cross_entropy_forward(CNN_FLOAT64, 2, 2, 1, logits, cls, NULL, -100, 0.0,
                                    CNN_REDUCE_MEAN, loss) == CNN_EINDEX);
    CHECK(loss[0] == 42);
}

/* ---- dense and losses -------------------------------------------------------------------------------- */

static void test_dense_and_losses(void)
{
    const double x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, -1, 2, 1, 0}, b[2] = {0.5, -0.5};
    double y[4];
    CHECK(cnn_linear_forward(CNN_FLOAT64, 2, 3, 2, x, w, b, y) == CNN_OK);
    CHECK(y[0] == -1.5 && y[1] == 3.5 && y[2] == -1.5 && y[3] == 12.5);
    double s[3];
    const double z[3] = {0, 0, 0};
    CHECK(cnn_softmax_forward(CNN_FLOAT64, 1, 3, 1, z, s) == CNN_OK);
    CHECK(fabs(s[0] - 1.0 / 3) < 1e-15);
    const double p[2] = {1, 2}, t[2] = {0, 0};
    double l;
    CHECK(cnn_mse_loss_forward(CNN_FLOAT64, 2, p, t, CNN_REDUCE_MEAN, &l) == CNN_OK && l == 2.5);
    CHECK(cnn_l1_loss_forward(CNN_FLOAT64, 2, p, t, CNN_REDUCE_SUM, &l) == CNN_OK && l == 3);
    const double a[4] = {1, 2, 3, 4}, c[4] = {2, 4, 6, 8};
    CHECK(cnn_correlation_loss_forward(CNN_FLOAT64, 1, 4, a, c, CNN_REDUCE_MEAN, &l) == CNN_OK);
    CHECK(fabs(l) < 1e-15);
}

/* The instruction sets: each available one must give the reference kernel's results. */
static void test_isas(void)
{
    const cnn_isa best = cnn_get_isa();
    CHECK(cnn_isa_available(CNN_ISA_SCALAR));
    CHECK(cnn_isa_name(best) != NULL);
    CHECK(cnn_set_isa((cnn_isa)42) == CNN_EINVAL);
    for (int i = CNN_ISA_SCALAR; i <= CNN_ISA_AVX512; i++) {
        if (!cnn_isa_available((cnn_isa)i)) {
            CHECK(cnn_set_isa((cnn_isa)i) == CNN_EINVAL);
            continue;
        }
        CHECK(cnn_set_isa((cnn_isa)i) == CNN_OK && cnn_get_isa() == (cnn_isa)i);
        printf("instruction set %s\n", cnn_isa_name((cnn_isa)i));
        test_lecture_edge_detection();
        test_conv_algos_random();
        test_transpose_is_adjoint();
        test_gemm();
        test_pooling();
        test_dense_and_losses();
    }
    CHECK(cnn_set_isa(best) == CNN_OK);
}

int main(void)
{
    test_status_and_sizes();
    CHECK(cnn_get_num_threads() >= 1);
    CHECK(cnn_set_num_threads(0) == CNN_EINVAL && cnn_set_num_threads(257) == CNN_EINVAL);
    CHECK(cnn_set_num_threads(1) == CNN_OK && cnn_get_num_threads() == 1);
    test_isas();
    CHECK(cnn_set_min_part_work(0) == ((int64_t)1 << 17)); /* 0: unchanged, the default */
    if (cnn_set_num_threads(3) == CNN_OK) { /* every kernel again, split over a pool */
        printf("3 threads\n");
        cnn_set_min_part_work(1); /* even the small test problems */
        test_isas();
    }
    test_padding();
    test_errors_do_not_write();
    if (failures) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
