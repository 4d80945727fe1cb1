/* test_platform.c — the platform layer (csrc/platform.h) and what it promises the engine: threads,
 * locks, condition variables, once-initialisation, atomics, the clock and the CPU features (against
 * the compiler's own detection where it has one); then every threaded kernel family computed with
 * 1 thread and with 2 and 3, bitwise equal, under every instruction set the CPU has. Built and
 * run natively and cross-compiled (aarch64 under qemu, Windows under wine) by .ci/cross.sh.
 * Exit status 0 means every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "internal.h"
#include "platform.h"

static int failures = 0, checks = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

/* ---- threads, locks, once, atomics ------------------------------------------------------------ */

#define WORKERS 4
#define ROUNDS 20000

static cnn_mutex counter_lock = CNN_MUTEX_INIT;
static long locked_counter;
static cnn_atomic_int atomic_counter;
static cnn_atomic_u64 atomic_counter64;
static cnn_once_flag once = CNN_ONCE_INIT;
static cnn_atomic_int once_calls;

static void count_once(void) { cnn_atomic_fetch_add(&once_calls, 1); }

static void hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        cnn_mutex_lock(&counter_lock);
        locked_counter++;
        cnn_mutex_unlock(&counter_lock);
        cnn_atomic_fetch_add(&atomic_counter, 1);
        cnn_atomic_fetch_add_u64(&atomic_counter64, 3);
        if (i == ROUNDS / 2) cnn_once(&once, count_once);
    }
}

/* A ping-pong over one condition variable: `turn` alternates between the two threads. */
static cnn_mutex pp_lock = CNN_MUTEX_INIT;
static cnn_cond pp_cond = CNN_COND_INIT;
static int turn, volleys;

static void pong(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        cnn_mutex_lock(&pp_lock);
        while (turn != 1) cnn_cond_wait(&pp_cond, &pp_lock);
        turn = 0;
        volleys++;
        cnn_cond_broadcast(&pp_cond);
        cnn_mutex_unlock(&pp_lock);
    }
}

static void test_primitives(void)
{
    cnn_thread t[WORKERS];
    for (int i = 0; i < WORKERS; i++) CHECK(cnn_thread_create(&t[i], hammer, NULL) == 0);
    for (int i = 0; i < WORKERS; i++) CHECK(cnn_thread_join(&t[i]) == 0);
    CHECK(locked_counter == (long)WORKERS * ROUNDS);
    CHECK(cnn_atomic_load_acquire(&atomic_counter) == WORKERS * ROUNDS);
    CHECK(cnn_atomic_load_u64(&atomic_counter64) == (uint64_t)3 * WORKERS * ROUNDS);
    CHECK(cnn_atomic_load_relaxed(&once_calls) == 1);
    cnn_once(&once, count_once);
    CHECK(cnn_atomic_load_relaxed(&once_calls) == 1);

    cnn_thread p;
    CHECK(cnn_thread_create(&p, pong, NULL) == 0);
    int served = 0;
    for (int i = 0; i < 1000; i++) {
        cnn_mutex_lock(&pp_lock);
        while (turn != 0) cnn_cond_wait(&pp_cond, &pp_lock);
        turn = 1;
        served++;
        cnn_cond_signal(&pp_cond);
        cnn_mutex_unlock(&pp_lock);
    }
    CHECK(cnn_thread_join(&p) == 0);
    CHECK(served == 1000 && volleys == 1000);

    cnn_mutex m;
    cnn_mutex_init(&m);
    CHECK(cnn_mutex_trylock(&m) == 0);
    CHECK(cnn_mutex_trylock(&m) != 0); /* held */
    cnn_mutex_unlock(&m);
    CHECK(cnn_mutex_trylock(&m) == 0);
    cnn_mutex_unlock(&m);

    CHECK(cnn_cpu_count() >= 1);
    const int64_t t0 = cnn_monotonic_ns();
    int64_t last = t0, backwards = 0;
    while (last - t0 < 2000000) { /* 2 ms of spinning */
        cnn_cpu_relax();
        const int64_t now = cnn_monotonic_ns();
        backwards += now < last;
        last = now;
    }
    CHECK(backwards == 0 && last - t0 >= 2000000);
    printf("platform: %d CPUs, avx2+fma %d, avx512 %d\n", cnn_cpu_count(), cnn_cpu_has_avx2_fma(),
           cnn_cpu_has_avx512());
}

/* cpuid + xgetbv (platform.c) against the compiler's own detection, where it has one. */
static void test_cpu_features(void)
{
    CHECK(!cnn_cpu_has_avx512() || cnn_cpu_has_avx2_fma());
    CHECK(cnn_isa_available(CNN_ISA_SCALAR));
#if defined(CNN_X86_TARGET_PRAGMAS)
    CHECK(cnn_isa_available(CNN_ISA_AVX2) == cnn_cpu_has_avx2_fma());
    CHECK(cnn_isa_available(CNN_ISA_AVX512) == cnn_cpu_has_avx512());
#else
    CHECK(!cnn_isa_available(CNN_ISA_AVX2) && !cnn_isa_available(CNN_ISA_AVX512));
#endif
#if defined(CNN_X86_TARGET_PRAGMAS) && defined(__GNUC__) /* GCC, Clang; not clang-cl */
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    CHECK(cnn_cpu_has_avx2_fma() == avx2);
    CHECK(cnn_cpu_has_avx512() == avx512);
#endif
}

/* ---- 1 thread against 2 and 3, bitwise ----------------------------------------------------------- */

static uint64_t rng_state;

static double uniform(void) /* xorshift64*, in [-1, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

static size_t elsize(cnn_dtype dt) { return dt == CNN_FLOAT32 ? sizeof(float) : sizeof(double); }

/* n random elements of dt in [lo, hi), from the current stream; exits on allocation failure
 * (a test, not the engine). */
static void *random_array(cnn_dtype dt, int64_t n, double lo, double hi)
{
    void *a = malloc((size_t)(n > 0 ? n : 1) * elsize(dt));
    if (!a) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int64_t i = 0; i < n; i++) {
        const double v = lo + (uniform() + 1.0) / 2.0 * (hi - lo);
        if (dt == CNN_FLOAT32) ((float *)a)[i] = (float)v;
        else ((double *)a)[i] = v;
    }
    return a;
}

/* Every operation writes its results into one output buffer of `bytes` (zeroed first, so the
 * backward passes accumulate into zeros). */
typedef struct {
    const char *name;
    size_t (*bytes)(cnn_dtype dt);
    cnn_status (*run)(cnn_dtype dt, unsigned char *out);
} op_case;

/* conv: N2, C 6 -> 8, 23 x 21, 3 x 3 pad 1 (direct); 2 groups, stride 2, dilation 2 (GEMM). */
static cnn_conv2d_desc conv_desc(int variant)
{
    cnn_conv2d_desc d = {0};
    d.batch = 2, d.in_channels = 6, d.in_h = 23, d.in_w = 21, d.out_channels = 8;
    d.kernel_h = d.kernel_w = 3, d.stride_h = d.stride_w = 1, d.dilation_h = d.dilation_w = 1;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1, d.groups = 1;
    if (variant == 1) {
        d.groups = 2, d.stride_h = d.stride_w = 2, d.dilation_h = d.dilation_w = 2;
        d.pad_top = 2, d.pad_bottom = 1, d.pad_left = 0, d.pad_right = 2;
    }
    return d;
}

static int64_t conv_sizes(const cnn_conv2d_desc *d, int64_t *nx, int64_t *nw, int64_t *ny)
{
    int64_t oh = 0, ow = 0;
    cnn_conv2d_output_shape(d, &oh, &ow);
    *nx = d->batch * d->in_channels * d->in_h * d->in_w;
    *nw = d->out_channels * (d->in_channels / d->groups) * d->kernel_h * d->kernel_w;
    *ny = d->batch * d->out_channels * oh * ow;
    return *ny + *nx + *nw + d->out_channels;
}

static cnn_status conv_run(int variant, cnn_algo algo, cnn_dtype dt, unsigned char *out)
{
    const cnn_conv2d_desc d = conv_desc(variant);
    int64_t nx, nw, ny;
    conv_sizes(&d, &nx, &nw, &ny);
    const size_t es = elsize(dt);
    void *x = random_array(dt, nx, -1, 1), *w = random_array(dt, nw, -1, 1);
    void *b = random_array(dt, d.out_channels, -1, 1), *dy = random_array(dt, ny, -1, 1);
    unsigned char *y = out, *dx = y + ny * es, *dw = dx + nx * es, *db = dw + nw * es;
    cnn_status st = cnn_conv2d_forward(&d, dt, algo, x, w, b, y);
    if (st == CNN_OK) st = cnn_conv2d_backward(&d, dt, algo, dy, x, w, dx, dw, db);
    free(x), free(w), free(b), free(dy);
    return st;
}

static size_t conv0_bytes(cnn_dtype dt)
{
    const cnn_conv2d_desc d = conv_desc(0);
    int64_t nx, nw, ny;
    return (size_t)conv_sizes(&d, &nx, &nw, &ny) * elsize(dt);
}
static size_t conv1_bytes(cnn_dtype dt)
{
    const cnn_conv2d_desc d = conv_desc(1);
    int64_t nx, nw, ny;
    return (size_t)conv_sizes(&d, &nx, &nw, &ny) * elsize(dt);
}
static cnn_status conv0_direct(cnn_dtype dt, unsigned char *out) { return conv_run(0, CNN_ALGO_DIRECT, dt, out); }
static cnn_status conv0_gemm(cnn_dtype dt, unsigned char *out) { return conv_run(0, CNN_ALGO_GEMM, dt, out); }
static cnn_status conv1_direct(cnn_dtype dt, unsigned char *out) { return conv_run(1, CNN_ALGO_DIRECT, dt, out); }
static cnn_status conv1_gemm(cnn_dtype dt, unsigned char *out) { return conv_run(1, CNN_ALGO_GEMM, dt, out); }

/* transpose conv: N2, C 5 -> 4, 9 x 11, 3 x 3, stride 2, output padding 1 */
static cnn_conv_transpose2d_desc convt_desc(void)
{
    cnn_conv_transpose2d_desc d = {0};
    d.batch = 2, d.in_channels = 5, d.in_h = 9, d.in_w = 11, d.out_channels = 4;
    d.kernel_h = d.kernel_w = 3, d.stride_h = d.stride_w = 2, d.pad_h = d.pad_w = 1;
    d.output_padding_h = d.output_padding_w = 1, d.dilation_h = d.dilation_w = 1, d.groups = 1;
    return d;
}

static size_t convt_bytes(cnn_dtype dt)
{
    const cnn_conv_transpose2d_desc d = convt_desc();
    int64_t oh = 0, ow = 0;
    cnn_conv_transpose2d_output_shape(&d, &oh, &ow);
    const int64_t nx = d.batch * d.in_channels * d.in_h * d.in_w, nw = d.in_channels * d.out_channels * 9;
    return (size_t)(2 * d.batch * d.out_channels * oh * ow + 2 * nx + 2 * nw + 2 * d.out_channels) * elsize(dt);
}

static cnn_status convt(cnn_dtype dt, unsigned char *out)
{
    const cnn_conv_transpose2d_desc d = convt_desc();
    int64_t oh = 0, ow = 0;
    cnn_conv_transpose2d_output_shape(&d, &oh, &ow);
    const int64_t nx = d.batch * d.in_channels * d.in_h * d.in_w, nw = d.in_channels * d.out_channels * 9;
    const int64_t ny = d.batch * d.out_channels * oh * ow;
    const size_t es = elsize(dt);
    void *x = random_array(dt, nx, -1, 1), *w = random_array(dt, nw, -1, 1);
    void *b = random_array(dt, d.out_channels, -1, 1), *dy = random_array(dt, ny, -1, 1);
    cnn_status st = CNN_OK;
    unsigned char *o = out;
    for (cnn_algo algo = CNN_ALGO_DIRECT; algo <= CNN_ALGO_GEMM && st == CNN_OK; algo++) {
        unsigned char *y = o, *dx = y + ny * es, *dw = dx + nx * es, *db = dw + nw * es;
        st = cnn_conv_transpose2d_forward(&d, dt, algo, x, w, b, y);
        if (st == CNN_OK) st = cnn_conv_transpose2d_backward(&d, dt, algo, dy, x, w, dx, dw, db);
        o = db + d.out_channels * es;
    }
    free(x), free(w), free(b), free(dy);
    return st;
}

/* linear: batch 13, 301 -> 67 */
#define LB 13
#define LI 301
#define LO 67
static size_t linear_bytes(cnn_dtype dt) { return (size_t)(LB * LO + LB * LI + LO * LI + LO) * elsize(dt); }

static cnn_status linear(cnn_dtype dt, unsigned char *out)
{
    const size_t es = elsize(dt);
    void *x = random_array(dt, LB * LI, -1, 1), *w = random_array(dt, LO * LI, -1, 1);
    void *b = random_array(dt, LO, -1, 1), *dy = random_array(dt, LB * LO, -1, 1);
    unsigned char *y = out, *dx = y + LB * LO * es, *dw = dx + LB * LI * es, *db = dw + LO * LI * es;
    cnn_status st = cnn_linear_forward(dt, LB, LI, LO, x, w, b, y);
    if (st == CNN_OK) st = cnn_linear_backward(dt, LB, LI, LO, dy, x, w, dx, dw, db);
    free(x), free(w), free(b), free(dy);
    return st;
}

/* pooling: 320 planes of 19 x 17 (3 parts of at least 32768 elements), max 3 x 3 stride 2 pad 1,
 * and average 2 x 2 */
static cnn_pool2d_desc pool_desc(int avg)
{
    cnn_pool2d_desc d = {0};
    d.planes = 320, d.in_h = 19, d.in_w = 17, d.dilation_h = d.dilation_w = 1;
    d.kernel_h = d.kernel_w = avg ? 2 : 3, d.stride_h = d.stride_w = 2, d.pad_h = d.pad_w = avg ? 0 : 1;
    d.count_include_pad = 1;
    return d;
}

static size_t pool_bytes(cnn_dtype dt)
{
    int64_t mh = 0, mw = 0, ah = 0, aw = 0;
    const cnn_pool2d_desc m = pool_desc(0), a = pool_desc(1);
    cnn_pool2d_output_shape(&m, &mh, &mw);
    cnn_pool2d_output_shape(&a, &ah, &aw);
    const int64_t nx = m.planes * m.in_h * m.in_w;
    return (size_t)(m.planes * mh * mw + nx + a.planes * ah * aw + nx) * elsize(dt) +
           (size_t)(m.planes * mh * mw) * sizeof(int64_t);
}

static cnn_status pool(cnn_dtype dt, unsigned char *out)
{
    int64_t mh = 0, mw = 0, ah = 0, aw = 0;
    const cnn_pool2d_desc m = pool_desc(0), a = pool_desc(1);
    cnn_pool2d_output_shape(&m, &mh, &mw);
    cnn_pool2d_output_shape(&a, &ah, &aw);
    const int64_t nx = m.planes * m.in_h * m.in_w, nm = m.planes * mh * mw, na = a.planes * ah * aw;
    const size_t es = elsize(dt);
    void *x = random_array(dt, nx, -1, 1), *dym = random_array(dt, nm, -1, 1);
    void *dya = random_array(dt, na, -1, 1);
    int64_t *idx = (int64_t *)(void *)out; /* first: calloc's alignment */
    unsigned char *ym = out + nm * sizeof(int64_t), *dxm = ym + nm * es, *ya = dxm + nx * es;
    unsigned char *dxa = ya + na * es;
    cnn_status st = cnn_maxpool2d_forward(&m, dt, x, ym, idx);
    if (st == CNN_OK) st = cnn_maxpool2d_backward(dt, m.planes, m.in_h, m.in_w, mh, mw, dym, idx, dxm);
    if (st == CNN_OK) st = cnn_avgpool2d_forward(&a, dt, x, ya);
    if (st == CNN_OK) st = cnn_avgpool2d_backward(&a, dt, dya, dxa);
    free(x), free(dym), free(dya);
    return st;
}

/* elementwise: more than 3 * CNN_ELEMENTWISE_GRAIN elements, so that 2 and 3 threads split */
#define NE (3 * 32768 + 1001)
static size_t act_bytes(cnn_dtype dt) { return (size_t)8 * NE * elsize(dt); }

static cnn_status activations(cnn_dtype dt, unsigned char *out)
{
    const size_t es = elsize(dt);
    void *x = random_array(dt, NE, -12, 12), *dy = random_array(dt, NE, -1, 1);
    cnn_status st = cnn_relu_forward(dt, NE, x, out);
    if (st == CNN_OK) st = cnn_relu_backward(dt, NE, dy, x, out + 1 * NE * es);
    if (st == CNN_OK) st = cnn_leaky_relu_forward(dt, NE, 0.01, x, out + 2 * NE * es);
    if (st == CNN_OK) st = cnn_leaky_relu_backward(dt, NE, 0.01, dy, x, out + 3 * NE * es);
    if (st == CNN_OK) st = cnn_sigmoid_forward(dt, NE, x, out + 4 * NE * es);
    if (st == CNN_OK) st = cnn_sigmoid_backward(dt, NE, dy, x, out + 5 * NE * es);
    if (st == CNN_OK) st = cnn_tanh_forward(dt, NE, x, out + 6 * NE * es);
    if (st == CNN_OK) st = cnn_tanh_backward(dt, NE, dy, x, out + 7 * NE * es);
    free(x), free(dy);
    return st;
}

/* optimizers: three steps each of SGD (Nesterov momentum), Adam (AMSGrad) and centred RMSprop
 * with momentum; the output is every parameter and state array */
static size_t optim_bytes(cnn_dtype dt) { return (size_t)10 * NE * elsize(dt); }

static cnn_status optimizers(cnn_dtype dt, unsigned char *out)
{
    const size_t es = elsize(dt), len = (size_t)NE * es;
    unsigned char *p[3] = {out, out + 2 * len, out + 6 * len};
    for (int i = 0; i < 3; i++) {
        void *init = random_array(dt, NE, -1, 1);
        memcpy(p[i], init, len);
        free(init);
    }
    cnn_status st = CNN_OK;
    for (int step = 1; step <= 3 && st == CNN_OK; step++) {
        void *g = random_array(dt, NE, -1, 1);
        st = cnn_sgd_step(dt, NE, p[0], g, p[0] + len, 0.1, 0.9, 0.0, 1e-4, 1, 0, step == 1);
        if (st == CNN_OK)
            st = cnn_adam_step(dt, NE, p[1], g, p[1] + len, p[1] + 2 * len, p[1] + 3 * len, 1e-3, 0.9,
                               0.999, 1e-8, 1e-2, 1, 0, step);
        if (st == CNN_OK)
            st = cnn_rmsprop_step(dt, NE, p[2], g, p[2] + len, p[2] + 2 * len, p[2] + 3 * len, 1e-2,
                                  0.99, 1e-8, 0.0, 0.9, 0);
        free(g);
    }
    return st;
}

static const op_case ops[] = {
    {"conv direct 3x3 pad 1", conv0_bytes, conv0_direct},
    {"conv GEMM 3x3 pad 1", conv0_bytes, conv0_gemm},
    {"conv direct groups 2 stride 2 dilation 2", conv1_bytes, conv1_direct},
    {"conv GEMM groups 2 stride 2 dilation 2", conv1_bytes, conv1_gemm},
    {"transpose conv direct + GEMM", convt_bytes, convt},
    {"linear", linear_bytes, linear},
    {"max + average pooling", pool_bytes, pool},
    {"activations", act_bytes, activations},
    {"optimizers", optim_bytes, optimizers},
};

static void test_threads_bitwise(void)
{
    for (int isa = CNN_ISA_SCALAR; isa <= CNN_ISA_AVX512; isa++) {
        if (!cnn_isa_available((cnn_isa)isa)) continue;
        CHECK(cnn_set_isa((cnn_isa)isa) == CNN_OK);
        for (int dt = CNN_FLOAT32; dt <= CNN_FLOAT64; dt++) {
            for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
                const size_t bytes = ops[k].bytes((cnn_dtype)dt);
                unsigned char *one = calloc(bytes, 1), *many = calloc(bytes, 1);
                if (!one || !many) {
                    fprintf(stderr, "out of memory\n");
                    exit(2);
                }
                CHECK(cnn_set_num_threads(1) == CNN_OK);
                rng_state = 0x9E3779B97F4A7C15ull + k;
                CHECK(ops[k].run((cnn_dtype)dt, one) == CNN_OK);
                for (int threads = 2; threads <= 3; threads++) {
                    CHECK(cnn_set_num_threads(threads) == CNN_OK);
                    memset(many, 0, bytes);
                    rng_state = 0x9E3779B97F4A7C15ull + k;
                    CHECK(ops[k].run((cnn_dtype)dt, many) == CNN_OK);
                    const int same = memcmp(one, many, bytes) == 0;
                    CHECK(same);
                    if (!same)
                        fprintf(stderr, "  %s, %s, %s: 1 and %d threads differ\n", ops[k].name,
                                cnn_isa_name((cnn_isa)isa), dt == CNN_FLOAT32 ? "float32" : "float64",
                                threads);
                }
                free(one), free(many);
            }
        }
        printf("1 vs 2 and 3 threads, bitwise: instruction set %s\n", cnn_isa_name((cnn_isa)isa));
    }
    CHECK(cnn_set_num_threads(1) == CNN_OK);
}

int main(void)
{
    test_primitives();
    test_cpu_features();
    const cnn_isa best = cnn_get_isa();
    cnn_set_min_part_work(1); /* split even these small problems over the threads */
    test_threads_bitwise();
    CHECK(cnn_set_isa(best) == CNN_OK);
    if (failures) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
