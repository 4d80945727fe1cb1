/* fuzz_engine.c — a libFuzzer harness over every public entry point of the engine (csrc/cnn.h).
 *
 * An input is a byte string: the first byte picks an operation, the next ones its geometry (sizes,
 * strides, paddings, dilations, groups, modes, reductions, indices: usually small and valid,
 * about one field in sixteen hostile — 0, negative, 2^31, 2^62, INT64_MAX, any 64-bit value),
 * the rest the array values (small integers, sometimes NaN, +-inf, -0, 1e30, a denormal). For
 * every input the harness checks what the header promises:
 *   - no memory error and no undefined behaviour (the builds add ASan + UBSan);
 *   - a call that fails leaves every output and gradient byte as it was;
 *   - a call that succeeds gives bitwise the same result with 1 and with 2 threads (a NaN may
 *     change its sign or payload: IEEE 754 leaves it to the order of the operands);
 *   - with small-integer values (every sum exact) the fast convolution kernels (direct, GEMM,
 *     on any instruction set) equal the reference kernel, and linear layers a naive product;
 *   - max-pooling indices point inside the input plane, at the value returned, or are -1 exactly
 *     where the window holds no input element; the fast pooling kernels (through the kernel table
 *     of csrc/internal.h) equal their reference loops, and the compact uint8 argmax path the
 *     flat-index one;
 *   - padding's backward is its adjoint: <pad(x), g> == <x, pad_backward(g)>;
 *   - the size helpers agree with the formulas computed in 128-bit arithmetic;
 *   - an index outside its range is CNN_EINDEX exactly when one is there.
 * A broken promise prints what broke and aborts, so libFuzzer keeps the input.
 *
 * Built by .ci/fuzz.sh with clang -fsanitize=fuzzer,address,undefined. With -DCNN_FUZZ_REPLAY it
 * gets its own main() that replays files and directories of inputs (the corpus in
 * tests/fuzz/corpus/), built with gcc by tests/fuzz/test_fuzz_corpus.py: no clang needed. */
#define _POSIX_C_SOURCE 200809L /* opendir under -std=c11 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "internal.h" /* the kernel table: the pooling kernels against their reference loops */

#define MAX_ELEMS 4096          /* elements of any one array that the harness allocates */
#define MAX_EXTENT 4096         /* padded / dilated extent along one axis for a real run */
#define MAX_AREA 65536          /* ... and over both axes (the direct kernels copy padded planes) */
#define MAX_WORK ((int64_t)1 << 21) /* (input or output elements) x weights of one convolution */
#define MAX_OUTS 4

static const char *current_op = "?";
static char current_args[512]; /* the geometry of the call being checked, for the report */

#define FUZZ_CHECK(cond, what)                                                                  \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_engine: %s: %s (%s, line %d)\n  %s\n", current_op, what,      \
                    #cond, __LINE__, current_args);                                             \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* ---- reading the input ---------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t fill; /* generator for values once the bytes run out */
} reader;

static uint8_t take_byte(reader *r)
{
    if (r->n == 0) { /* splitmix64: deterministic in the input */
        uint64_t z = (r->fill += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return (uint8_t)(z ^ (z >> 31));
    }
    r->n--;
    return *r->p++;
}

static int64_t take_raw64(reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | take_byte(r);
    return (int64_t)v;
}

static const int64_t HOSTILE[15] = {
    0, -1, INT64_MAX, INT64_MIN, INT64_MAX - 1, (int64_t)1 << 62, ((int64_t)1 << 62) + 1,
    (int64_t)1 << 31, ((int64_t)1 << 32) + 1, (int64_t)1 << 40, 3037000500 /* ~sqrt(INT64_MAX) */,
    -((int64_t)1 << 62), INT32_MAX, 4097, 65536};

/* A geometry value: lo..hi for bytes below 240, else a hostile value or any 64 bits. */
static int64_t take_int(reader *r, int64_t lo, int64_t hi)
{
    const uint8_t b = take_byte(r);
    if (b < 240) return lo + (int64_t)(b % (uint64_t)(hi - lo + 1));
    return b - 240 < 15 ? HOSTILE[b - 240] : take_raw64(r);
}

/* Any 64-bit value, hostile one time in two (the size helpers). */
static int64_t take_any(reader *r)
{
    const uint8_t b = take_byte(r);
    if (b < 96) return (int64_t)(b % 12) - 2;
    if (b < 224) return HOSTILE[b % 15];
    return take_raw64(r);
}

/* A real argument (learning rate, slope, probability): usually benign, sometimes not. */
static double take_real(reader *r)
{
    static const double V[16] = {0.0, 0.1, 0.5, 0.9, 1.0, 0.01, 0.999, 1e-8, 2.0, -0.5, -1.0,
                                 1.5, NAN, INFINITY, -INFINITY, 1e300};
    return V[take_byte(r) % 16];
}

/* An array element: a small integer for most bytes, sometimes a special value. Clears *exact when
 * the value would make sums inexact or non-finite. */
static double take_value(reader *r, int *exact)
{
    const uint8_t b = take_byte(r);
    if (b < 248) return (double)(b % 9) - 4.0;
    switch (b) {
    case 248: *exact = 0; return NAN;
    case 249: *exact = 0; return INFINITY;
    case 250: *exact = 0; return -INFINITY;
    case 251: return -0.0;
    case 252: *exact = 0; return 0.5;
    case 253: *exact = 0; return 1e30;
    case 254: *exact = 0; return 1e-310;
    default: *exact = 0; return -NAN;
    }
}

/* ---- arrays ----------------------------------------------------------------------------------------- */

/* An array of exactly n elements of `es` bytes (ASan sees any access past it); `real` for
 * float32/float64 arrays (else int64 indices or bytes). */
typedef struct {
    void *p;
    int64_t n;
    size_t es;
    int real;
} arr;

static arr arr_new(int64_t n, size_t es)
{
    arr a = {NULL, n < 0 ? 0 : n, es, 0};
    a.p = malloc((size_t)a.n * es);
    if (!a.p) a.p = malloc(1);
    FUZZ_CHECK(a.p != NULL, "the harness ran out of memory");
    return a;
}

static size_t arr_bytes(const arr *a)
{
    return (size_t)a->n * a->es;
}

static void arr_free(arr *a)
{
    free(a->p);
    a->p = NULL;
}

static arr arr_copy(const arr *a)
{
    arr c = arr_new(a->n, a->es);
    c.real = a->real;
    memcpy(c.p, a->p, arr_bytes(a));
    return c;
}

static double get(const arr *a, int64_t i)
{
    return a->es == sizeof(float) ? (double)((const float *)a->p)[i] : ((const double *)a->p)[i];
}

static void set(arr *a, int64_t i, double v)
{
    if (a->es == sizeof(float))
        ((float *)a->p)[i] = (float)v;
    else
        ((double *)a->p)[i] = v;
}

/* n reals of the call's dtype, filled from the input. */
static arr reals(reader *r, cnn_dtype dt, int64_t n, int *exact)
{
    arr a = arr_new(n, dt == CNN_FLOAT32 ? sizeof(float) : sizeof(double));
    a.real = 1;
    for (int64_t i = 0; i < a.n; i++) set(&a, i, take_value(r, exact));
    return a;
}

static int same_value(double a, double b)
{
    return a == b || (a != a && b != b);
}

/* Product of n sizes, or -1 when one is negative or above `cap`, or the product is. */
static int64_t count(int n, const int64_t *dims, int64_t cap)
{
    for (int i = 0; i < n; i++)
        if (dims[i] < 0 || dims[i] > cap) return -1;
    int64_t p = 1;
    for (int i = 0; i < n; i++) {
        p *= dims[i]; /* both <= cap: no overflow */
        if (p > cap) return -1;
    }
    return p;
}

/* Whether a*b*c fits in int64_t (all non-negative). */
static int fits3(int64_t a, int64_t b, int64_t c)
{
    const __int128 ab = (__int128)a * b;
    return ab <= INT64_MAX && ab * c <= INT64_MAX;
}

/* ---- the promises every entry point shares ------------------------------------------------------ */

typedef cnn_status (*call_fn)(void *ctx);

/* Runs fn(ctx): a failure must leave the outputs as they were; with `threads`, the call is run
 * with 1 and then 2 threads from the same starting outputs, and both must agree bit for bit
 * (any NaN equal to any NaN). */
static cnn_status run_checked(call_fn fn, void *ctx, arr *const *outs, int n_outs, int threads)
{
    arr before[MAX_OUTS], first[MAX_OUTS];
    for (int i = 0; i < n_outs; i++) before[i] = arr_copy(outs[i]);
    if (threads) cnn_set_num_threads(1);
    const cnn_status st = fn(ctx);
    if (st != CNN_OK)
        for (int i = 0; i < n_outs; i++)
            FUZZ_CHECK(memcmp(outs[i]->p, before[i].p, arr_bytes(outs[i])) == 0,
                       "a failed call wrote to an output");
    if (threads) {
        for (int i = 0; i < n_outs; i++) {
            first[i] = arr_copy(outs[i]);
            memcpy(outs[i]->p, before[i].p, arr_bytes(outs[i]));
        }
        cnn_set_num_threads(2);
        const cnn_status st2 = fn(ctx);
        FUZZ_CHECK(st2 == st, "1 and 2 threads return different statuses");
        /* bitwise, except that a NaN equals any NaN: its sign and payload depend on which
         * operand of an addition was NaN, which IEEE 754 leaves to the implementation */
        for (int i = 0; i < n_outs; i++) {
            for (int64_t j = 0; j < outs[i]->n; j++)
                if (memcmp((char *)outs[i]->p + j * outs[i]->es, (char *)first[i].p + j * outs[i]->es,
                           outs[i]->es) != 0 &&
                    !(outs[i]->real && isnan(get(outs[i], j)) && isnan(get(&first[i], j)))) {
                    const size_t used = strlen(current_args);
                    snprintf(current_args + used, sizeof current_args - used,
                             "; output %d element %lld: %.17g (1 thread) vs %.17g (2)", i,
                             (long long)j, get(&first[i], j), get(outs[i], j));
                    FUZZ_CHECK(0, "1 and 2 threads give different results");
                }
            arr_free(&first[i]);
        }
    }
    for (int i = 0; i < n_outs; i++) arr_free(&before[i]);
    return st;
}

/* What one input chose for the whole call. */
typedef struct {
    cnn_dtype dt;
    int threads; /* compare 1 and 2 threads */
    uint8_t flags; /* op-specific choices: optional arguments, corruption */
} choice;

static choice take_choice(reader *r)
{
    const uint8_t b = take_byte(r);
    choice c;
    c.dt = (b & 1) ? CNN_FLOAT64 : CNN_FLOAT32;
    c.threads = (b & 6) == 6; /* one input in four */
    /* 0-2: that instruction set if the CPU has it; 3 (and one missing): the best one */
    cnn_isa isa = (cnn_isa)((b >> 3) & 3);
    if (isa > CNN_ISA_AVX512 || !cnn_isa_available(isa))
        isa = cnn_isa_available(CNN_ISA_AVX512) ? CNN_ISA_AVX512
              : cnn_isa_available(CNN_ISA_AVX2) ? CNN_ISA_AVX2 : CNN_ISA_SCALAR;
    cnn_set_isa(isa);
    c.flags = take_byte(r);
    return c;
}

/* ---- convolution and transpose convolution --------------------------------------------------------- */

typedef struct {
    int transpose, backward;
    const cnn_conv2d_desc *d;
    const cnn_conv_transpose2d_desc *t;
    cnn_dtype dt;
    cnn_algo algo;
    const void *x, *w, *b, *dy;
    void *y, *dx, *dw, *db;
} conv_call;

static cnn_status call_conv(void *p)
{
    const conv_call *c = p;
    if (c->transpose)
        return c->backward ? cnn_conv_transpose2d_backward(c->t, c->dt, c->algo, c->dy, c->x, c->w,
                                                           c->dx, c->dw, c->db)
                           : cnn_conv_transpose2d_forward(c->t, c->dt, c->algo, c->x, c->w, c->b,
                                                          c->y);
    return c->backward
               ? cnn_conv2d_backward(c->d, c->dt, c->algo, c->dy, c->x, c->w, c->dx, c->dw, c->db)
               : cnn_conv2d_forward(c->d, c->dt, c->algo, c->x, c->w, c->b, c->y);
}

/* Runs the call again with the reference kernel on copies of the outputs' starting values and
 * compares (values exact: any summation order gives the same result). */
static void compare_with_reference(conv_call c, arr *const *outs, arr *const *starts, int n)
{
    arr ref[MAX_OUTS];
    void **slots[3] = {c.backward ? &c.dx : &c.y, &c.dw, &c.db};
    for (int i = 0; i < n; i++) ref[i] = arr_copy(starts[i]);
    int k = 0;
    for (int s = 0; s < (c.backward ? 3 : 1); s++)
        if (*slots[s]) *slots[s] = ref[k++].p;
    c.algo = CNN_ALGO_REFERENCE;
    FUZZ_CHECK(call_conv(&c) == CNN_OK, "the reference kernel refused what the fast one ran");
    for (int i = 0; i < n; i++) {
        for (int64_t j = 0; j < ref[i].n; j++)
            FUZZ_CHECK(same_value(get(outs[i], j), get(&ref[i], j)),
                       "a fast kernel differs from the reference kernel");
        arr_free(&ref[i]);
    }
}

static void fuzz_conv(reader *r, int transpose)
{
    current_op = transpose ? "conv_transpose2d" : "conv2d";
    const choice ch = take_choice(r);
    cnn_conv2d_desc d = {0};
    cnn_conv_transpose2d_desc t = {0};
    const int64_t groups = take_int(r, 1, 3);
    const int64_t cin_g = take_int(r, 0, 3), cout_g = take_int(r, 0, 3);
    const int fits_groups = groups >= 1 && groups <= 3 && cin_g >= 0 && cin_g <= 3 && cout_g >= 0 &&
                            cout_g <= 3;
    int64_t batch = take_int(r, 0, 3), cin_w = cin_g, cout_w = cout_g;
    /* One input in eight: a batch of 16 or 30, 3-6 input channels and 3, 4 or 8 output channels
     * per group, so that the image tiles of the blocked forward (csrc/blocked_batch.h: batches
     * that fill the vectors, reductions of 64 or more, full channel blocks of 3 or 4) are drawn
     * too. */
    if (take_byte(r) >= 224 && fits_groups && batch >= 0 && batch <= 3) {
        batch = batch == 3 ? 30 : 16;
        cin_w = cin_g + 3;
        cout_w = cout_g == 0 ? 0 : cout_g == 1 ? 3 : cout_g == 2 ? 4 : 8;
    }
    const int64_t cin = fits_groups ? groups * cin_w : cin_g, cout = fits_groups ? groups * cout_w : cout_g;
    const int64_t h = take_int(r, 1, 9), w = take_int(r, 1, 9), kh = take_int(r, 1, 4),
                  kw = take_int(r, 1, 4), sh = take_int(r, 1, 3), sw = take_int(r, 1, 3),
                  ph = take_int(r, 0, 3), ph2 = take_int(r, 0, 3), pw = take_int(r, 0, 3),
                  pw2 = take_int(r, 0, 3), dh = take_int(r, 1, 3), dw = take_int(r, 1, 3),
                  oph = take_int(r, 0, 2), opw = take_int(r, 0, 2);
    const uint8_t ab = take_byte(r);
    const cnn_algo algo = (cnn_algo)(ab < 240 ? ab % 6 : (ab % 2 ? 7 : -1));
    d = (cnn_conv2d_desc){batch, cin, h, w, cout, kh, kw, sh, sw, ph, ph2, pw, pw2, dh, dw, groups};
    t = (cnn_conv_transpose2d_desc){batch, cin, h, w, cout, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, groups};
    snprintf(current_args, sizeof current_args,
             "%s N=%lld C_in=%lld H=%lld W=%lld C_out=%lld k=%lldx%lld stride=%lldx%lld "
             "pad=(%lld,%lld)x(%lld,%lld) output_padding=%lldx%lld dilation=%lldx%lld groups=%lld "
             "algo=%d isa=%s flags=0x%02x", ch.dt == CNN_FLOAT32 ? "f32" : "f64", (long long)batch,
             (long long)cin, (long long)h, (long long)w, (long long)cout, (long long)kh, (long long)kw,
             (long long)sh, (long long)sw, (long long)ph, (long long)ph2, (long long)pw, (long long)pw2,
             (long long)oph, (long long)opw, (long long)dh, (long long)dw, (long long)groups, (int)algo,
             cnn_isa_name(cnn_get_isa()), ch.flags);
    (void)cnn_conv_choose_algo(&d);

    int64_t oh = 0, ow = 0;
    cnn_status shape = transpose ? cnn_conv_transpose2d_output_shape(&t, &oh, &ow)
                                 : cnn_conv2d_output_shape(&d, &oh, &ow);
    /* The arrays: x (N, C_in, H, W), w, y (N, C_out, OH, OW); for transpose w is (C_in, C_out/g, kH, kW). */
    int64_t nx = -1, nw = -1, ny = -1, work = -1;
    int real_run = 0;
    if (shape == CNN_OK) {
        const int64_t xs[4] = {batch, cin, h, w}, ys[4] = {batch, cout, oh, ow};
        const int64_t ws[4] = {transpose ? cin : cout, transpose ? cout / groups : cin / groups, kh, kw};
        nx = count(4, xs, MAX_ELEMS);
        nw = count(4, ws, MAX_ELEMS);
        ny = count(4, ys, MAX_ELEMS);
        /* the extents the kernels read along: conv input (padded) and dilated windows */
        const __int128 eh = transpose ? (__int128)oh + 2 * (__int128)ph : (__int128)h + ph + ph2;
        const __int128 ew = transpose ? (__int128)ow + 2 * (__int128)pw : (__int128)w + pw + pw2;
        const __int128 wh = (__int128)((transpose ? h : oh) - 1) * sh + (__int128)(kh - 1) * dh + 1;
        const __int128 ww = (__int128)((transpose ? w : ow) - 1) * sw + (__int128)(kw - 1) * dw + 1;
        if (eh <= MAX_EXTENT && ew <= MAX_EXTENT && wh <= MAX_EXTENT && ww <= MAX_EXTENT &&
            eh * ew <= MAX_AREA && wh * ww <= MAX_AREA && nx >= 0 && ny >= 0 && nw >= 0) {
            const int64_t wk[2] = {nx > ny ? nx : ny, nw};
            work = count(2, wk, MAX_WORK);
        }
        real_run = work >= 0;
        if (!real_run) /* valid but too large to run: with no images it must touch nothing */
            batch = d.batch = t.batch = 0;
    }
    if (!real_run) nx = nw = ny = 1; /* tiny arrays, never to be touched */

    int exact = 1;
    arr x = reals(r, ch.dt, nx, &exact), wt = reals(r, ch.dt, nw, &exact);
    arr b = reals(r, ch.dt, real_run ? cout : 1, &exact);
    arr y = reals(r, ch.dt, ny, &exact), dy = reals(r, ch.dt, ny, &exact);
    arr dx = reals(r, ch.dt, nx, &exact), dwt = reals(r, ch.dt, nw, &exact);
    arr db = reals(r, ch.dt, b.n, &exact);
    const int use_bias = ch.flags & 1;
    conv_call c = {transpose, 0, &d, &t, ch.dt, algo, x.p, wt.p, use_bias ? b.p : NULL, dy.p,
                   y.p, NULL, NULL, NULL};

    /* forward */
    arr y0 = arr_copy(&y);
    arr *fo[1] = {&y}, *fs[1] = {&y0};
    cnn_status st = run_checked(call_conv, &c, fo, 1, ch.threads);
    if (shape != CNN_OK) FUZZ_CHECK(st == shape, "forward and output_shape disagree");
    else if (algo >= CNN_ALGO_AUTO && algo <= CNN_ALGO_BLOCKED) FUZZ_CHECK(st == CNN_OK, "forward refused a valid geometry");
    if (st == CNN_OK && exact && algo != CNN_ALGO_REFERENCE) compare_with_reference(c, fo, fs, 1);

    /* backward: any gradient may be skipped, and then its other operand may be NULL */
    c.backward = 1;
    c.dx = (ch.flags & 2) ? dx.p : NULL;
    c.dw = (ch.flags & 4) ? dwt.p : NULL;
    c.db = (ch.flags & 8) ? db.p : NULL;
    if (!c.dw && (ch.flags & 16)) c.x = NULL;
    if (!c.dx && (ch.flags & 32)) c.w = NULL;
    arr *bo[3], *bs[3], starts[3];
    int nb = 0;
    arr *grads[3] = {&dx, &dwt, &db};
    void *ptrs[3] = {c.dx, c.dw, c.db};
    for (int i = 0; i < 3; i++)
        if (ptrs[i]) {
            starts[nb] = arr_copy(grads[i]);
            bs[nb] = &starts[nb];
            bo[nb++] = grads[i];
        }
    st = run_checked(call_conv, &c, bo, nb, ch.threads);
    if (shape != CNN_OK) FUZZ_CHECK(st == shape, "backward and output_shape disagree");
    if (st == CNN_OK && exact && algo != CNN_ALGO_REFERENCE) compare_with_reference(c, bo, bs, nb);
    for (int i = 0; i < nb; i++) arr_free(&starts[i]);

    arr *all[] = {&x, &wt, &b, &y, &dy, &dx, &dwt, &db, &y0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- pooling ------------------------------------------------------------------------------------------ */

typedef struct {
    int kind; /* 0 max forward, 1 max backward, 2 avg forward, 3 avg backward, 4-6 adaptive,
                 7 max backward overwriting dx */
    const cnn_pool2d_desc *d;
    cnn_dtype dt;
    int64_t planes, ih, iw, oh, ow;
    const void *x, *dy;
    const int64_t *idx_in;
    void *y, *dx;
    int64_t *idx;
} pool_call;

static cnn_status call_pool(void *p)
{
    const pool_call *c = p;
    switch (c->kind) {
    case 0: return cnn_maxpool2d_forward(c->d, c->dt, c->x, c->y, c->idx);
    case 1: return cnn_maxpool2d_backward(c->dt, c->planes, c->ih, c->iw, c->oh, c->ow, c->dy,
                                          c->idx_in, c->dx);
    case 7: return cnn_maxpool2d_backward_overwrite(c->dt, c->planes, c->ih, c->iw, c->oh, c->ow,
                                                    c->dy, c->idx_in, c->dx);
    case 2: return cnn_avgpool2d_forward(c->d, c->dt, c->x, c->y);
    case 3: return cnn_avgpool2d_backward(c->d, c->dt, c->dy, c->dx);
    case 4: return cnn_adaptive_avgpool2d_forward(c->dt, c->planes, c->ih, c->iw, c->oh, c->ow,
                                                  c->x, c->y);
    case 5: return cnn_adaptive_avgpool2d_backward(c->dt, c->planes, c->ih, c->iw, c->oh, c->ow,
                                                   c->dy, c->dx);
    default: return cnn_adaptive_maxpool2d_forward(c->dt, c->planes, c->ih, c->iw, c->oh, c->ow,
                                                   c->x, c->y, c->idx);
    }
}

/* Whether some tap t < k of a window starting at h0 (taps dil apart) lands in [0, n): the first tap
 * at or after 0, computed rather than searched (the sizes may be hostile: walking a kernel of
 * 2^32 + 1 taps took one input 47 s). */
static int any_tap_inside(int64_t h0, int64_t k, int64_t dil, int64_t n)
{
    const int64_t t0 = h0 >= 0 ? 0 : (-h0 - 1) / dil + 1; /* no sum that can overflow */
    return t0 < k && h0 + t0 * dil < n; /* t0 < k: t0 * dil within the validated dilated span */
}

/* Max pooling's promise: each index is inside the plane, at the value returned (or the value is
 * -inf: a window of only -inf); -1 exactly where the window holds no input element (d: plain
 * pooling; NULL for adaptive pooling, whose windows are never empty). */
static void check_argmax(const arr *x, const arr *y, const arr *idx, int64_t planes, int64_t in_len,
                         int64_t out_len, const cnn_pool2d_desc *d, int64_t ow_count)
{
    const int64_t *ix = idx->p;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < out_len; i++) {
            const int64_t k = ix[p * out_len + i];
            int empty = 0;
            if (d) { /* does some tap of output i's window land inside the input? */
                const int64_t h0 = i / ow_count * d->stride_h - d->pad_h, w0 = i % ow_count * d->stride_w - d->pad_w;
                empty = !any_tap_inside(h0, d->kernel_h, d->dilation_h, d->in_h) ||
                        !any_tap_inside(w0, d->kernel_w, d->dilation_w, d->in_w);
            }
            const double v = get(y, p * out_len + i);
            if (empty) {
                FUZZ_CHECK(k == -1 && v == -INFINITY, "a window without input did not give -inf and index -1");
                continue;
            }
            FUZZ_CHECK(k >= 0 && k < in_len, "a max-pooling index points outside the input");
            FUZZ_CHECK(same_value(v, get(x, p * in_len + k)) || v == -INFINITY,
                       "a max-pooling index does not point at the maximum");
        }
}

/* The fast pooling kernels against the reference loops, bitwise, on the active instruction set:
 * max (flat indices and the compact argmax, whose backward must equal the index scatter) and,
 * with exact sums, average forward and backward (added to dx, and overwriting it). */
static void compare_pool_kernels(const cnn_pool2d_desc *d0, cnn_dtype dt, const arr *x, const arr *dy,
                                 const arr *dx, int64_t oh, int64_t ow, int exact)
{
    const cnn_kernel_table *k = cnn_kernels();
    cnn_pool2d_desc d = *d0;
    if (d.kernel_h == 1) d.dilation_h = 1; /* as the entry points do */
    if (d.kernel_w == 1) d.dilation_w = 1;
    const int64_t ny = d.planes * oh * ow, nx = d.planes * d.in_h * d.in_w;
    const size_t es = dt == CNN_FLOAT32 ? sizeof(float) : sizeof(double);
    arr y1 = arr_new(ny, es), y2 = arr_new(ny, es), i1 = arr_new(ny, 8), i2 = arr_new(ny, 8);
    arr a = arr_new(ny, 1), g1 = arr_copy(dx), g2 = arr_copy(dx);
    const int f32 = dt == CNN_FLOAT32;
    if (f32) {
        k->maxpool_forward_f32(&d, oh, ow, x->p, y1.p, i1.p);
        k->maxpool_forward_ref_f32(&d, oh, ow, x->p, y2.p, i2.p);
    } else {
        k->maxpool_forward_f64(&d, oh, ow, x->p, y1.p, i1.p);
        k->maxpool_forward_ref_f64(&d, oh, ow, x->p, y2.p, i2.p);
    }
    FUZZ_CHECK(memcmp(y1.p, y2.p, (size_t)ny * es) == 0, "fast max pooling differs from the reference loops");
    FUZZ_CHECK(memcmp(i1.p, i2.p, (size_t)ny * 8) == 0, "fast max-pooling indices differ from the reference loops");
    if (d.kernel_h * d.kernel_w <= 255) {
        if (f32) k->maxpool_forward_arg_f32(&d, oh, ow, x->p, y2.p, a.p);
        else k->maxpool_forward_arg_f64(&d, oh, ow, x->p, y2.p, a.p);
        FUZZ_CHECK(memcmp(y1.p, y2.p, (size_t)ny * es) == 0, "the compact max pooling differs");
        if (f32) {
            k->maxpool_backward_arg_f32(&d, oh, ow, dy->p, a.p, g1.p, 1);
            k->index_scatter_f32(d.planes, oh * ow, d.in_h * d.in_w, dy->p, i1.p, g2.p);
        } else {
            k->maxpool_backward_arg_f64(&d, oh, ow, dy->p, a.p, g1.p, 1);
            k->index_scatter_f64(d.planes, oh * ow, d.in_h * d.in_w, dy->p, i1.p, g2.p);
        }
        for (int64_t i = 0; i < nx; i++)
            FUZZ_CHECK(same_value(get(&g1, i), get(&g2, i)), "the compact max-pooling backward differs from the scatter");
    }
    /* the scatter into planes zeroed in cache equals the scatter into zeros */
    memset(g2.p, 0, (size_t)nx * es);
    if (f32) k->index_scatter_f32(d.planes, oh * ow, d.in_h * d.in_w, dy->p, i1.p, g2.p);
    else k->index_scatter_f64(d.planes, oh * ow, d.in_h * d.in_w, dy->p, i1.p, g2.p);
    FUZZ_CHECK((f32 ? k->index_scatter_fresh_f32(d.planes, oh * ow, d.in_h * d.in_w, dy->p, i1.p, g1.p)
                    : k->index_scatter_fresh_f64(d.planes, oh * ow, d.in_h * d.in_w, dy->p, i1.p, g1.p)) == 1,
               "index_scatter_fresh refused the forward's indices");
    for (int64_t i = 0; i < nx; i++)
        FUZZ_CHECK(same_value(get(&g1, i), get(&g2, i)), "index_scatter_fresh differs from the scatter into zeros");
    if (exact && d.dilation_h == 1 && d.dilation_w == 1) {
        if (f32) {
            k->avgpool_forward_f32(&d, oh, ow, x->p, y1.p);
            k->avgpool_forward_ref_f32(&d, oh, ow, x->p, y2.p);
        } else {
            k->avgpool_forward_f64(&d, oh, ow, x->p, y1.p);
            k->avgpool_forward_ref_f64(&d, oh, ow, x->p, y2.p);
        }
        for (int64_t i = 0; i < ny; i++)
            FUZZ_CHECK(same_value(get(&y1, i), get(&y2, i)), "fast average pooling differs from the reference loops");
        for (int accumulate = 0; accumulate <= 1; accumulate++) {
            memcpy(g1.p, dx->p, (size_t)nx * es);
            memcpy(g2.p, dx->p, (size_t)nx * es);
            if (!accumulate) memset(g2.p, 0, (size_t)nx * es);
            if (f32) {
                k->avgpool_backward_f32(&d, oh, ow, dy->p, g1.p, accumulate);
                k->avgpool_backward_ref_f32(&d, oh, ow, dy->p, g2.p);
            } else {
                k->avgpool_backward_f64(&d, oh, ow, dy->p, g1.p, accumulate);
                k->avgpool_backward_ref_f64(&d, oh, ow, dy->p, g2.p);
            }
            for (int64_t i = 0; i < nx; i++)
                FUZZ_CHECK(same_value(get(&g1, i), get(&g2, i)), "fast average-pooling backward differs from the reference loops");
        }
    }
    arr *all[] = {&y1, &y2, &i1, &i2, &a, &g1, &g2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

static void fuzz_pool(reader *r, int adaptive)
{
    current_op = adaptive ? "adaptive_pool2d" : "pool2d";
    const choice ch = take_choice(r);
    cnn_pool2d_desc d = {0};
    d.planes = take_int(r, 0, 4);
    d.in_h = take_int(r, 1, 9);
    d.in_w = take_int(r, 1, 9);
    d.kernel_h = take_int(r, 1, 4);
    d.kernel_w = take_int(r, 1, 4);
    d.stride_h = take_int(r, 1, 3);
    d.stride_w = take_int(r, 1, 3);
    d.pad_h = take_int(r, 0, 2);
    d.pad_w = take_int(r, 0, 2);
    d.dilation_h = (ch.flags & 64) ? take_int(r, 1, 3) : 1;
    d.dilation_w = (ch.flags & 64) ? take_int(r, 1, 3) : 1;
    d.ceil_mode = ch.flags & 1;
    d.count_include_pad = (ch.flags >> 1) & 1;
    d.divisor_override = (ch.flags & 4) ? take_int(r, 1, 5) : 0;
    int64_t oh = 0, ow = 0;
    cnn_status shape;
    if (adaptive) {
        oh = take_int(r, 1, 6);
        ow = take_int(r, 1, 6);
        shape = (d.planes >= 0 && d.in_h >= 1 && d.in_w >= 1 && oh >= 1 && ow >= 1) ? CNN_OK
                                                                                    : CNN_EINVAL;
    } else {
        shape = cnn_pool2d_output_shape(&d, &oh, &ow);
    }
    const int64_t xs[3] = {d.planes, d.in_h, d.in_w}, ys[3] = {d.planes, oh, ow};
    int64_t nx = count(3, xs, MAX_ELEMS), ny = count(3, ys, MAX_ELEMS);
    const int run = shape == CNN_OK && nx >= 0 && ny >= 0;
    if (shape == CNN_OK && !run) d.planes = 0; /* valid but too large: no planes, nothing touched */
    if (!run) nx = ny = 1;
    int exact = 1;
    arr x = reals(r, ch.dt, nx, &exact), y = reals(r, ch.dt, ny, &exact);
    arr dy = reals(r, ch.dt, ny, &exact), dx = reals(r, ch.dt, nx, &exact);
    arr idx = arr_new(ny, sizeof(int64_t));
    for (int64_t i = 0; i < ny; i++) ((int64_t *)idx.p)[i] = take_int(r, 0, 3);
    pool_call c = {0, &d, ch.dt, d.planes, d.in_h, d.in_w, oh, ow, x.p, dy.p, idx.p, y.p, dx.p, idx.p};
    arr *fwd[2] = {&y, &idx}, *bwd[1] = {&dx};

    if (adaptive) {
        /* a refused geometry: call with tiny arrays and the same hostile sizes */
        if (!run) c.planes = d.planes, c.oh = oh, c.ow = ow;
        c.kind = 4;
        cnn_status st = run_checked(call_pool, &c, fwd, 1, ch.threads);
        FUZZ_CHECK(!run || st == CNN_OK || st == CNN_EOVERFLOW, "adaptive_avg forward refused valid sizes");
        c.kind = 5;
        run_checked(call_pool, &c, bwd, 1, ch.threads);
        c.kind = 6;
        st = run_checked(call_pool, &c, fwd, 2, ch.threads);
        if (st == CNN_OK && run) check_argmax(&x, &y, &idx, d.planes, d.in_h * d.in_w, oh * ow, NULL, ow);
    } else {
        c.kind = 0;
        cnn_status st = run_checked(call_pool, &c, fwd, 2, ch.threads);
        if (shape != CNN_OK) FUZZ_CHECK(st == shape, "max_pool forward and output_shape disagree");
        if (st == CNN_OK && run) {
            check_argmax(&x, &y, &idx, d.planes, d.in_h * d.in_w, oh * ow, &d, ow);
            if (d.planes > 0) compare_pool_kernels(&d, ch.dt, &x, &dy, &dx, oh, ow, exact);
            c.kind = 7; /* overwriting dx: bitwise for 1 and 2 threads */
            FUZZ_CHECK(run_checked(call_pool, &c, bwd, 1, ch.threads) == CNN_OK, "max_pool backward (overwrite) refused the forward's indices");
            if ((ch.flags & 8) && ny > 0) /* corrupt one index: the backward must refuse it */
                ((int64_t *)idx.p)[take_byte(r) % ny] = (ch.flags & 16) ? -2 : d.in_h * d.in_w;
        }
        c.kind = 1;
        st = run_checked(call_pool, &c, bwd, 1, ch.threads);
        if (run && (ch.flags & 8) && ny > 0 && d.planes > 0) {
            FUZZ_CHECK(st == CNN_EINDEX, "a bad index was accepted");
            c.kind = 7; /* the overwriting backward refuses it too, and leaves dx zero (documented) */
            FUZZ_CHECK(call_pool(&c) == CNN_EINDEX, "a bad index was accepted (overwrite)");
            for (int64_t i = 0; i < nx; i++) FUZZ_CHECK(get(&dx, i) == 0, "a refused overwrite left dx nonzero");
        }
        c.kind = 2;
        st = run_checked(call_pool, &c, fwd, 1, ch.threads);
        const cnn_status want = shape != CNN_OK ? shape
                                : (d.dilation_h != 1 || d.dilation_w != 1) ? CNN_EINVAL : CNN_OK;
        FUZZ_CHECK(st == want || !run, "avg_pool forward returned an unexpected status");
        c.kind = 3;
        run_checked(call_pool, &c, bwd, 1, ch.threads);
    }
    arr *all[] = {&x, &y, &dy, &dx, &idx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- max unpooling ------------------------------------------------------------------------------------- */

typedef struct {
    int backward;
    cnn_dtype dt;
    int64_t planes, in_len, oh, ow;
    const void *x, *dy;
    const int64_t *idx;
    void *y, *dx;
} unpool_call;

static cnn_status call_unpool(void *p)
{
    const unpool_call *c = p;
    return c->backward ? cnn_maxunpool2d_backward(c->dt, c->planes, c->in_len, c->oh, c->ow, c->dy,
                                                  c->idx, c->dx)
                       : cnn_maxunpool2d_forward(c->dt, c->planes, c->in_len, c->oh, c->ow, c->x,
                                                 c->idx, c->y);
}

static void fuzz_unpool(reader *r)
{
    current_op = "max_unpool2d";
    const choice ch = take_choice(r);
    const int64_t planes = take_int(r, 0, 4), in_len = take_int(r, 0, 9), oh = take_int(r, 1, 5),
                  ow = take_int(r, 1, 5);
    const int64_t xs[2] = {planes, in_len}, ys[3] = {planes, oh, ow};
    int64_t nx = count(2, xs, MAX_ELEMS), ny = count(3, ys, MAX_ELEMS);
    const int run = nx >= 0 && ny >= 0 && oh >= 1 && ow >= 1;
    const int valid = planes >= 0 && in_len >= 0 && oh >= 1 && ow >= 1 &&
                      fits3(planes, oh, ow) && fits3(planes, in_len, 1);
    if (!run) nx = ny = 1;
    int exact = 1, bad = 0;
    arr x = reals(r, ch.dt, nx, &exact), y = reals(r, ch.dt, ny, &exact);
    arr dy = reals(r, ch.dt, ny, &exact), dx = reals(r, ch.dt, nx, &exact);
    arr idx = arr_new(nx, sizeof(int64_t));
    for (int64_t i = 0; i < nx; i++) {
        int64_t v = take_int(r, 0, run ? oh * ow - 1 : 0);
        if (run && (v < -1 || v >= oh * ow)) bad = 1; /* -1: no position, skipped */
        ((int64_t *)idx.p)[i] = v;
    }
    /* valid but too large: no planes (the engine reads planes*in_len indices) */
    unpool_call c = {0, ch.dt, valid && !run ? 0 : planes, in_len, oh, ow, x.p, dy.p, idx.p, y.p, dx.p};
    arr *fo[1] = {&y}, *bo[1] = {&dx};
    cnn_status st = run_checked(call_unpool, &c, fo, 1, ch.threads);
    if (run) FUZZ_CHECK((st == CNN_EINDEX) == bad, "max_unpool: EINDEX does not match the indices");
    c.backward = 1;
    st = run_checked(call_unpool, &c, bo, 1, ch.threads);
    if (run) FUZZ_CHECK((st == CNN_EINDEX) == bad, "max_unpool backward: EINDEX does not match");
    arr *all[] = {&x, &y, &dy, &dx, &idx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- padding ---------------------------------------------------------------------------------------------- */

typedef struct {
    int backward;
    cnn_dtype dt;
    int ndim;
    const int64_t *shape, *pads;
    cnn_pad_mode mode;
    double value;
    const void *src;
    void *dst;
} pad_call;

static cnn_status call_pad(void *p)
{
    const pad_call *c = p;
    return c->backward ? cnn_pad_backward(c->dt, c->ndim, c->shape, c->pads, c->mode, c->src, c->dst)
                       : cnn_pad_forward(c->dt, c->ndim, c->shape, c->pads, c->mode, c->value,
                                         c->src, c->dst);
}

static void fuzz_pad(reader *r)
{
    current_op = "pad";
    const choice ch = take_choice(r);
    const int64_t nd = take_int(r, 0, 4);
    const uint8_t mb = take_byte(r);
    const cnn_pad_mode mode = (cnn_pad_mode)(mb < 250 ? mb % 5 : (int)mb - 245); /* 5..10: unknown */
    const double value = (ch.flags & 1) ? take_real(r) : 0.0;
    /* shape and pads arrays of exactly ndim / 2*ndim entries (one when ndim is out of range) */
    const int ndim = nd < 0 ? -1 - (int)(-(nd + 1) & 0xffff) : nd > 64 ? 65 + (int)(nd & 0xffff) : (int)nd;
    const int64_t len = nd >= 0 && nd <= 64 ? nd : 1;
    const size_t slots = (size_t)(len > 0 ? len : 1);
    int64_t *shape = malloc(sizeof(int64_t) * slots);
    int64_t *pads = malloc(sizeof(int64_t) * 2 * slots);
    int64_t *outs = malloc(sizeof(int64_t) * slots);
    FUZZ_CHECK(shape && pads && outs, "the harness ran out of memory");
    cnn_status shape_st = nd >= 0 && nd <= 64 ? CNN_OK : CNN_EINVAL;
    for (int64_t i = 0; i < len; i++) {
        const int small = i < 4;
        shape[i] = small ? take_int(r, 0, 5) : 1;
        pads[2 * i] = small ? take_int(r, -3, 4) : 0;
        pads[2 * i + 1] = small ? take_int(r, -3, 4) : 0;
        if (shape_st == CNN_OK) shape_st = cnn_pad_out_len(shape[i], pads[2 * i], pads[2 * i + 1], mode, &outs[i]);
    }
    int64_t nx = -1, ny = -1;
    if (shape_st == CNN_OK) {
        nx = count((int)len, shape, MAX_ELEMS);
        ny = count((int)len, outs, MAX_ELEMS);
    }
    const int run = shape_st == CNN_OK && nx >= 0 && ny >= 0;
    if (!run) nx = ny = 1;
    int exact = 1;
    arr x = reals(r, ch.dt, nx, &exact), y = reals(r, ch.dt, ny, &exact);
    arr g = reals(r, ch.dt, ny, &exact), gx = reals(r, ch.dt, nx, &exact);
    if (run || shape_st != CNN_OK) {
        pad_call c = {0, ch.dt, ndim, shape, pads, mode, value, x.p, y.p};
        arr *fo[1] = {&y}, *bo[1] = {&gx};
        cnn_status st = run_checked(call_pad, &c, fo, 1, ch.threads);
        if (shape_st != CNN_OK) FUZZ_CHECK(st != CNN_OK, "pad accepted what pad_out_len refused");
        c.backward = 1;
        c.src = g.p;
        c.dst = gx.p;
        arr gx0 = arr_copy(&gx);
        cnn_status st2 = run_checked(call_pad, &c, bo, 1, ch.threads);
        FUZZ_CHECK(st == st2, "pad forward and backward disagree on the arguments");
        /* adjoint: <pad(x), g> == <x, pad_backward(g)> (value 0: padding is then linear) */
        if (st == CNN_OK && exact && value == 0.0 && ch.dt == CNN_FLOAT64) {
            double lhs = 0, rhs = 0;
            for (int64_t i = 0; i < ny; i++) lhs += get(&y, i) * get(&g, i);
            for (int64_t i = 0; i < nx; i++) rhs += get(&x, i) * (get(&gx, i) - get(&gx0, i));
            FUZZ_CHECK(lhs == rhs, "pad_backward is not the adjoint of pad_forward");
        }
        arr_free(&gx0);
    }
    arr *all[] = {&x, &y, &g, &gx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
    free(shape);
    free(pads);
    free(outs);
}

/* ---- resize ------------------------------------------------------------------------------------------------ */

typedef struct {
    cnn_dtype dt;
    cnn_resize_mode mode;
    int64_t planes, ih, iw, oh, ow;
    const void *x;
    void *y;
} resize_call;

static cnn_status call_resize(void *p)
{
    const resize_call *c = p;
    return cnn_resize2d_forward(c->dt, c->mode, c->planes, c->ih, c->iw, c->oh, c->ow, c->x, c->y);
}

static void fuzz_resize(reader *r)
{
    current_op = "resize2d";
    const choice ch = take_choice(r);
    const uint8_t mb = take_byte(r);
    resize_call c = {ch.dt, (cnn_resize_mode)(mb < 250 ? mb % 2 : mb - 247), take_int(r, 0, 3),
                     take_int(r, 1, 9), take_int(r, 1, 9), take_int(r, 1, 12), take_int(r, 1, 12),
                     NULL, NULL};
    const int64_t xs[3] = {c.planes, c.ih, c.iw}, ys[3] = {c.planes, c.oh, c.ow};
    int64_t nx = count(3, xs, MAX_ELEMS), ny = count(3, ys, MAX_ELEMS);
    const int valid = c.planes >= 0 && c.ih >= 1 && c.iw >= 1 && c.oh >= 1 && c.ow >= 1;
    if (valid && (nx < 0 || ny < 0)) c.planes = 0; /* too large: no planes, nothing touched */
    if (nx < 0 || ny < 0) nx = ny = 1;
    int exact = 1;
    arr x = reals(r, ch.dt, nx, &exact), y = reals(r, ch.dt, ny, &exact);
    c.x = x.p;
    c.y = y.p;
    arr *fo[1] = {&y};
    const cnn_status st = run_checked(call_resize, &c, fo, 1, ch.threads);
    FUZZ_CHECK(!valid || mb >= 250 || st == CNN_OK, "resize refused valid arguments");
    arr_free(&x);
    arr_free(&y);
}

/* ---- linear -------------------------------------------------------------------------------------------------- */

typedef struct {
    int backward; /* 0: forward; 1: backward, added to the gradients; 2: written over them */
    cnn_dtype dt;
    int64_t batch, in, out;
    const void *x, *w, *b, *dy;
    void *y, *dx, *dw, *db;
} linear_call;

static cnn_status call_linear(void *p)
{
    const linear_call *c = p;
    if (c->backward == 2)
        return cnn_linear_backward_overwrite(c->dt, c->batch, c->in, c->out, c->dy, c->x, c->w, c->dx,
                                             c->dw, c->db);
    return c->backward ? cnn_linear_backward(c->dt, c->batch, c->in, c->out, c->dy, c->x, c->w,
                                             c->dx, c->dw, c->db)
                       : cnn_linear_forward(c->dt, c->batch, c->in, c->out, c->x, c->w, c->b, c->y);
}

static void fuzz_linear(reader *r)
{
    current_op = "linear";
    const choice ch = take_choice(r);
    const int64_t batch = take_int(r, 0, 5), in = take_int(r, 0, 9), out = take_int(r, 0, 9);
    const int64_t xs[2] = {batch, in}, ws[2] = {out, in}, ys[2] = {batch, out};
    int64_t nx = count(2, xs, MAX_ELEMS), nw = count(2, ws, MAX_ELEMS), ny = count(2, ys, MAX_ELEMS);
    const int run = nx >= 0 && nw >= 0 && ny >= 0;
    if (!run) nx = nw = ny = 1;
    const int64_t nb = run ? out : 1;
    const int64_t rows = !run && batch >= 0 && in >= 0 && out >= 0 ? 0 : batch; /* too large: none */
    int exact = 1;
    arr x = reals(r, ch.dt, nx, &exact), w = reals(r, ch.dt, nw, &exact), b = reals(r, ch.dt, nb, &exact);
    arr y = reals(r, ch.dt, ny, &exact), dy = reals(r, ch.dt, ny, &exact);
    arr dx = reals(r, ch.dt, nx, &exact), dw = reals(r, ch.dt, nw, &exact), db = reals(r, ch.dt, nb, &exact);
    arr dx0 = arr_copy(&dx), dw0 = arr_copy(&dw), db0 = arr_copy(&db);
    linear_call c = {0, ch.dt, rows, in, out, x.p, w.p, (ch.flags & 1) ? b.p : NULL, dy.p,
                     y.p, (ch.flags & 2) ? dx.p : NULL, (ch.flags & 4) ? dw.p : NULL,
                     (ch.flags & 8) ? db.p : NULL};
    arr *fo[1] = {&y};
    cnn_status st = run_checked(call_linear, &c, fo, 1, ch.threads);
    FUZZ_CHECK(!run || batch < 0 || in < 0 || out < 0 || st == CNN_OK, "linear refused valid sizes");
    if (st == CNN_OK && run && exact)
        for (int64_t i = 0; i < batch; i++)
            for (int64_t o = 0; o < out; o++) {
                double s = c.b ? get(&b, o) : 0.0;
                for (int64_t k = 0; k < in; k++) s += get(&x, i * in + k) * get(&w, o * in + k);
                FUZZ_CHECK(same_value(get(&y, i * out + o), s), "linear differs from a naive product");
            }
    /* written over (the sums below start from zero) only where the arrays have the sizes the
     * call names: with no rows it writes zero gradients of those sizes, where the accumulating
     * call touches nothing (and sizes too large to allocate run with none) */
    c.backward = (run && (ch.flags & 16)) ? 2 : 1;
    const int over = c.backward == 2;
    arr *bo[3];
    int n = 0;
    if (c.dx) bo[n++] = &dx;
    if (c.dw) bo[n++] = &dw;
    if (c.db) bo[n++] = &db;
    st = run_checked(call_linear, &c, bo, n, ch.threads);
    if (st == CNN_OK && run && exact) {
        for (int64_t i = 0; i < batch; i++)
            for (int64_t k = 0; k < in && c.dx; k++) {
                double s = over ? 0.0 : get(&dx0, i * in + k);
                for (int64_t o = 0; o < out; o++) s += get(&dy, i * out + o) * get(&w, o * in + k);
                FUZZ_CHECK(same_value(get(&dx, i * in + k), s), "linear dx differs from a naive product");
            }
        for (int64_t o = 0; o < out; o++) {
            double sb = over ? 0.0 : get(&db0, o);
            for (int64_t i = 0; i < batch; i++) sb += get(&dy, i * out + o);
            if (c.db) FUZZ_CHECK(same_value(get(&db, o), sb), "linear db differs from a naive sum");
            for (int64_t k = 0; k < in && c.dw; k++) {
                double s = over ? 0.0 : get(&dw0, o * in + k);
                for (int64_t i = 0; i < batch; i++) s += get(&dy, i * out + o) * get(&x, i * in + k);
                FUZZ_CHECK(same_value(get(&dw, o * in + k), s), "linear dw differs from a naive product");
            }
        }
    }
    arr *all[] = {&x, &w, &b, &y, &dy, &dx, &dw, &db, &dx0, &dw0, &db0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- activations, softmax, dropout ------------------------------------------------------------------------ */

typedef struct {
    int kind; /* 0-3 relu, leaky, sigmoid, tanh; 4 softmax; 5 log_softmax; 6 dropout */
    int backward;
    cnn_dtype dt;
    int64_t n, outer, inner;
    double slope;
    const uint8_t *mask;
    const void *x, *dy, *y_in;
    void *out;
} act_call;

static cnn_status call_act(void *p)
{
    const act_call *c = p;
    switch (c->kind) {
    case 0: return c->backward ? cnn_relu_backward(c->dt, c->n, c->dy, c->x, c->out)
                               : cnn_relu_forward(c->dt, c->n, c->x, c->out);
    case 1: return c->backward ? cnn_leaky_relu_backward(c->dt, c->n, c->slope, c->dy, c->x, c->out)
                               : cnn_leaky_relu_forward(c->dt, c->n, c->slope, c->x, c->out);
    case 2: return c->backward ? cnn_sigmoid_backward(c->dt, c->n, c->dy, c->x, c->out)
                               : cnn_sigmoid_forward(c->dt, c->n, c->x, c->out);
    case 3: return c->backward ? cnn_tanh_backward(c->dt, c->n, c->dy, c->x, c->out)
                               : cnn_tanh_forward(c->dt, c->n, c->x, c->out);
    case 4: return c->backward ? cnn_softmax_backward(c->dt, c->outer, c->n, c->inner, c->dy, c->y_in, c->out)
                               : cnn_softmax_forward(c->dt, c->outer, c->n, c->inner, c->x, c->out);
    case 5: return c->backward ? cnn_log_softmax_backward(c->dt, c->outer, c->n, c->inner, c->dy, c->y_in, c->out)
                               : cnn_log_softmax_forward(c->dt, c->outer, c->n, c->inner, c->x, c->out);
    default: return c->backward ? cnn_dropout_backward(c->dt, c->n, c->slope, c->mask, c->dy, c->out)
                                : cnn_dropout_forward(c->dt, c->n, c->slope, c->mask, c->x, c->out);
    }
}

static void fuzz_activation(reader *r)
{
    current_op = "activation";
    const choice ch = take_choice(r);
    act_call c = {0};
    c.kind = take_byte(r) % 7;
    c.dt = ch.dt;
    c.outer = c.kind == 4 || c.kind == 5 ? take_int(r, 0, 4) : 1;
    c.n = take_int(r, 0, 16);
    c.inner = c.kind == 4 || c.kind == 5 ? take_int(r, 0, 4) : 1;
    c.slope = take_real(r);
    const int64_t dims[3] = {c.outer, c.n, c.inner};
    int64_t n = count(3, dims, MAX_ELEMS);
    const int run = n >= 0;
    if (!run && c.outer >= 0 && c.n >= 0 && c.inner >= 0) c.n = 0; /* too large: no elements */
    if (!run) n = 1;
    int exact = 1;
    arr x = reals(r, ch.dt, n, &exact), y = reals(r, ch.dt, n, &exact);
    arr dy = reals(r, ch.dt, n, &exact), dx = reals(r, ch.dt, n, &exact);
    arr mask = arr_new(n, 1);
    for (int64_t i = 0; i < n; i++) ((uint8_t *)mask.p)[i] = take_byte(r) & 1;
    c.x = x.p;
    c.dy = dy.p;
    c.y_in = y.p;
    c.mask = mask.p;
    c.out = y.p;
    arr *fo[1] = {&y}, *bo[1] = {&dx};
    const cnn_status st = run_checked(call_act, &c, fo, 1, ch.threads);
    FUZZ_CHECK(!run || c.kind == 6 || c.outer < 0 || c.n < 0 || c.inner < 0 || st == CNN_OK,
               "an activation refused valid sizes");
    c.backward = 1;
    c.out = dx.p;
    run_checked(call_act, &c, bo, 1, ch.threads);
    arr *all[] = {&x, &y, &dy, &dx, &mask};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- losses ------------------------------------------------------------------------------------------------- */

typedef struct {
    int kind; /* 0 mse, 1 l1, 2 bce, 3 bce with logits, 4 cross entropy, 5 correlation */
    int backward;
    cnn_dtype dt;
    int64_t n, batch, classes, inner, ignore;
    double smoothing;
    cnn_reduction red;
    const void *x, *t, *w, *pw, *dloss;
    const int64_t *ti;
    void *loss, *dx, *dt_out;
} loss_call;

static cnn_status call_loss(void *p)
{
    const loss_call *c = p;
    switch (c->kind) {
    case 0: return c->backward ? cnn_mse_loss_backward(c->dt, c->n, c->dloss, c->x, c->t, c->red, c->dx, c->dt_out)
                               : cnn_mse_loss_forward(c->dt, c->n, c->x, c->t, c->red, c->loss);
    case 1: return c->backward ? cnn_l1_loss_backward(c->dt, c->n, c->dloss, c->x, c->t, c->red, c->dx, c->dt_out)
                               : cnn_l1_loss_forward(c->dt, c->n, c->x, c->t, c->red, c->loss);
    case 2: return c->backward ? cnn_bce_loss_backward(c->dt, c->n, c->dloss, c->x, c->t, c->w, c->red, c->dx, c->dt_out)
                               : cnn_bce_loss_forward(c->dt, c->n, c->x, c->t, c->w, c->red, c->loss);
    case 3: return c->backward ? cnn_bce_logits_loss_backward(c->dt, c->n, c->dloss, c->x, c->t, c->w, c->pw, c->red,
                                                              c->dx, c->dt_out)
                               : cnn_bce_logits_loss_forward(c->dt, c->n, c->x, c->t, c->w, c->pw, c->red, c->loss);
    case 4: return c->backward ? cnn_cross_entropy_backward(c->dt, c->batch, c->classes, c->inner, c->dloss, c->x,
                                                            c->ti, c->w, c->ignore, c->smoothing, c->red, c->dx)
                               : cnn_cross_entropy_forward(c->dt, c->batch, c->classes, c->inner, c->x, c->ti,
                                                           c->w, c->ignore, c->smoothing, c->red, c->loss);
    default: return c->backward ? cnn_correlation_loss_backward(c->dt, c->batch, c->n, c->dloss, c->x, c->t, c->red,
                                                                c->dx, c->dt_out)
                                : cnn_correlation_loss_forward(c->dt, c->batch, c->n, c->x, c->t, c->red, c->loss);
    }
}

static void fuzz_loss(reader *r)
{
    current_op = "loss";
    const choice ch = take_choice(r);
    loss_call c = {0};
    c.kind = take_byte(r) % 6;
    c.dt = ch.dt;
    const uint8_t rb = take_byte(r);
    c.red = (cnn_reduction)(rb < 250 ? rb % 3 : rb - 247); /* 3..8: unknown */
    c.batch = c.kind >= 4 ? take_int(r, 0, 4) : 1;
    c.classes = c.kind == 4 ? take_int(r, 0, 5) : 1;
    c.inner = c.kind == 4 ? take_int(r, 0, 3) : 1;
    c.n = c.kind != 4 ? take_int(r, 0, 12) : 1;
    c.ignore = (ch.flags & 1) ? take_int(r, -100, -100) : -100;
    c.smoothing = (ch.flags & 2) ? take_real(r) : 0.0;
    const int64_t dims[3] = {c.batch, c.kind == 4 ? c.classes : c.n, c.inner};
    const int64_t tdims[2] = {c.batch, c.inner};
    int64_t n = count(3, dims, MAX_ELEMS), nt = count(2, tdims, MAX_ELEMS);
    const int run = n >= 0 && nt >= 0 && c.classes >= 0;
    if (!run && c.batch >= 0 && c.n >= 0 && c.inner >= 0 && c.classes >= 0)
        c.n = c.batch = 0; /* too large: no elements */
    if (!run) n = nt = 1;
    const int64_t nl = c.red == CNN_REDUCE_NONE ? (c.kind == 4 ? nt : c.kind == 5 ? c.batch : n) : 1;
    const int64_t nloss = run && nl >= 0 ? nl : 1;
    const int64_t nw = c.kind == 4 ? (run ? c.classes : 1) : n;
    int exact = 1, bad_target = 0;
    arr x = reals(r, ch.dt, n, &exact), t = reals(r, ch.dt, n, &exact);
    if (c.kind == 2 && (ch.flags & 4)) /* probabilities, so that BCE accepts them */
        for (int64_t i = 0; i < n; i++) set(&x, i, fabs(get(&x, i)) / 4.0);
    arr w = reals(r, ch.dt, nw, &exact), pw = reals(r, ch.dt, n, &exact);
    arr loss = reals(r, ch.dt, nloss, &exact), dloss = reals(r, ch.dt, nloss, &exact);
    arr dx = reals(r, ch.dt, n, &exact), dtg = reals(r, ch.dt, n, &exact);
    arr ti = arr_new(nt, sizeof(int64_t));
    for (int64_t i = 0; i < nt; i++) {
        const uint8_t b = take_byte(r);
        int64_t v = b < 200 ? (int64_t)b % (c.classes > 0 ? c.classes : 1)
                  : b < 220 ? c.ignore : take_int(r, 0, 0);
        if (v != c.ignore && (v < 0 || v >= c.classes)) bad_target = 1;
        ((int64_t *)ti.p)[i] = v;
    }
    c.x = x.p;
    c.t = t.p;
    c.ti = ti.p;
    c.w = (ch.flags & 8) ? w.p : NULL;
    c.pw = (ch.flags & 16) ? pw.p : NULL;
    c.dloss = dloss.p;
    c.loss = loss.p;
    c.dx = (ch.flags & 32) ? dx.p : NULL;
    c.dt_out = (ch.flags & 64) ? dtg.p : NULL;
    arr *fo[1] = {&loss}, *bo[2];
    cnn_status st = run_checked(call_loss, &c, fo, 1, ch.threads);
    const int args_ok = run && c.red <= CNN_REDUCE_SUM && c.smoothing >= 0.0 && c.smoothing <= 1.0 &&
                        c.classes >= 1 && c.batch >= 0 && c.inner >= 0;
    if (c.kind == 4 && args_ok)
        FUZZ_CHECK((st == CNN_EINDEX) == bad_target, "cross_entropy: EINDEX does not match the targets");
    c.backward = 1;
    int nb = 0;
    if (c.dx) bo[nb++] = &dx;
    if (c.dt_out && c.kind != 4) bo[nb++] = &dtg;
    st = run_checked(call_loss, &c, bo, nb, ch.threads);
    if (c.kind == 4 && args_ok && c.dx && nt > 0)
        FUZZ_CHECK((st == CNN_EINDEX) == bad_target, "cross_entropy backward: EINDEX does not match");
    arr *all[] = {&x, &t, &w, &pw, &loss, &dloss, &dx, &dtg, &ti};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- optimizer steps ------------------------------------------------------------------------------------------ */

typedef struct {
    int kind; /* 0 sgd, 1 adam, 2 rmsprop */
    cnn_dtype dt;
    int64_t n, step;
    double h[6];
    int flags;
    void *p, *s1, *s2, *s3;
    const void *g;
} optim_call;

static cnn_status call_optim(void *q)
{
    const optim_call *c = q;
    const int f = c->flags;
    switch (c->kind) {
    case 0: return cnn_sgd_step(c->dt, c->n, c->p, c->g, c->s1, c->h[0], c->h[1], c->h[2], c->h[3], f & 1,
                                (f >> 1) & 1, (f >> 2) & 1);
    case 1: return cnn_adam_step(c->dt, c->n, c->p, c->g, c->s1, c->s2, c->s3, c->h[0], c->h[1], c->h[2],
                                 c->h[3], c->h[4], f & 1, (f >> 1) & 1, c->step);
    default: return cnn_rmsprop_step(c->dt, c->n, c->p, c->g, c->s1, c->s2, c->s3, c->h[0], c->h[1], c->h[2],
                                     c->h[3], c->h[4], (f >> 1) & 1);
    }
}

static void fuzz_optim(reader *r)
{
    current_op = "optimizer step";
    const choice ch = take_choice(r);
    optim_call c = {0};
    c.kind = take_byte(r) % 3;
    c.dt = ch.dt;
    c.n = take_int(r, 0, 40);
    c.step = take_int(r, 1, 5);
    for (int i = 0; i < 6; i++) c.h[i] = take_real(r);
    c.flags = ch.flags;
    if (c.n > MAX_ELEMS) c.n = 0; /* too large: no elements */
    const int64_t n = c.n >= 0 ? c.n : 1;
    int exact = 1;
    arr p = reals(r, ch.dt, n, &exact), g = reals(r, ch.dt, n, &exact);
    arr s1 = reals(r, ch.dt, n, &exact), s2 = reals(r, ch.dt, n, &exact), s3 = reals(r, ch.dt, n, &exact);
    for (int64_t i = 0; i < n; i++) set(&s2, i, fabs(get(&s2, i))); /* squares are >= 0 */
    c.p = p.p;
    c.g = g.p;
    c.s1 = (ch.flags & 8) ? NULL : s1.p;
    c.s2 = (ch.flags & 16) ? NULL : s2.p;
    c.s3 = (ch.flags & 32) ? NULL : s3.p;
    arr *outs[4] = {&p};
    int no = 1;
    if (c.s1) outs[no++] = &s1;
    if (c.s2) outs[no++] = &s2;
    if (c.s3) outs[no++] = &s3;
    run_checked(call_optim, &c, outs, no, ch.threads);
    arr *all[] = {&p, &g, &s1, &s2, &s3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) arr_free(all[i]);
}

/* ---- size helpers against 128-bit arithmetic ------------------------------------------------------------------- */

#define BIG ((__int128)INT64_MAX)

static void fuzz_sizes(reader *r)
{
    current_op = "size helpers";
    const int64_t a = take_any(r), b = take_any(r), k = take_any(r), s = take_any(r),
                  p = take_any(r), q = take_any(r), dl = take_any(r);
    const int ceil_mode = take_byte(r) & 1;
    int64_t out = -12345;
    cnn_status st;

    st = cnn_mul_sizes(a, b, &out);
    if (a < 0 || b < 0) FUZZ_CHECK(st == CNN_EINVAL, "mul_sizes accepted a negative size");
    else if ((__int128)a * b > BIG) FUZZ_CHECK(st == CNN_EOVERFLOW, "mul_sizes missed an overflow");
    else FUZZ_CHECK(st == CNN_OK && out == a * b, "mul_sizes is wrong");
    st = cnn_add_sizes(a, b, &out);
    if (a < 0 || b < 0) FUZZ_CHECK(st == CNN_EINVAL, "add_sizes accepted a negative size");
    else if ((__int128)a + b > BIG) FUZZ_CHECK(st == CNN_EOVERFLOW, "add_sizes missed an overflow");
    else FUZZ_CHECK(st == CNN_OK && out == a + b, "add_sizes is wrong");

    /* conv: out = floor((n + p + q - span) / s) + 1, span = dl*(k-1) + 1 */
    st = cnn_conv_out_len(a, k, s, p, q, dl, &out);
    if (a < 1 || k < 1 || s < 1 || dl < 1 || p < 0 || q < 0) {
        FUZZ_CHECK(st == CNN_EINVAL, "conv_out_len accepted an invalid argument");
    } else {
        const __int128 span = (__int128)dl * (k - 1) + 1, padded = (__int128)a + p + q;
        if (span > BIG || padded > BIG) FUZZ_CHECK(st == CNN_EOVERFLOW, "conv_out_len missed an overflow");
        else if (padded < span) FUZZ_CHECK(st == CNN_ESHAPE, "conv_out_len missed a too-large kernel");
        else FUZZ_CHECK(st == CNN_OK && out == (int64_t)((padded - span) / s + 1), "conv_out_len is wrong");
    }

    /* transpose: out = (n-1)*s - 2p + span + output_padding, output_padding = q */
    st = cnn_conv_transpose_out_len(a, k, s, p, dl, q, &out);
    if (a < 1 || k < 1 || s < 1 || dl < 1 || p < 0 || q < 0 || (q >= s && q >= dl)) {
        FUZZ_CHECK(st == CNN_EINVAL, "conv_transpose_out_len accepted an invalid argument");
    } else {
        const __int128 span = (__int128)dl * (k - 1) + 1, full = (__int128)(a - 1) * s + span + q;
        if (span > BIG || full > BIG || (__int128)(a - 1) * s > BIG)
            FUZZ_CHECK(st == CNN_EOVERFLOW, "conv_transpose_out_len missed an overflow");
        else if (full - 2 * (__int128)p < 0) /* 0 is an empty output, valid */
            FUZZ_CHECK(st == CNN_ESHAPE, "conv_transpose_out_len missed a crop past the whole output");
        else FUZZ_CHECK(st == CNN_OK && out == (int64_t)(full - 2 * (__int128)p), "conv_transpose_out_len is wrong");
    }

    /* pooling: PyTorch's rule, with ceil_mode's last-window correction */
    st = cnn_pool_out_len(a, k, s, p, dl, ceil_mode, &out);
    if (a < 1 || k < 1 || s < 1 || dl < 1 || p < 0 || p > k / 2) {
        FUZZ_CHECK(st == CNN_EINVAL, "pool_out_len accepted an invalid argument");
    } else {
        const __int128 span = (__int128)dl * (k - 1) + 1, padded = (__int128)a + 2 * (__int128)p;
        if (span > BIG || padded > BIG) {
            FUZZ_CHECK(st == CNN_EOVERFLOW, "pool_out_len missed an overflow");
        } else if (padded < span) {
            FUZZ_CHECK(st == CNN_ESHAPE, "pool_out_len missed a too-large window");
        } else {
            __int128 len = (padded - span + (ceil_mode ? s - 1 : 0)) / s + 1;
            if (ceil_mode && (len - 1) * s >= (__int128)a + p) len -= 1;
            FUZZ_CHECK(st == CNN_OK && out == (int64_t)len, "pool_out_len is wrong");
        }
    }

    /* padding: out = n + before + after (negative pads crop) */
    const cnn_pad_mode mode = (cnn_pad_mode)(take_byte(r) % 6);
    st = cnn_pad_out_len(a, p, q, mode, &out);
    const __int128 len = (__int128)a + p + q;
    const __int128 kept = (__int128)a + (p < 0 ? p : 0) + (q < 0 ? q : 0);
    const int empty_source = len > 0 && ((mode == CNN_PAD_CIRCULAR && kept == 0) ||
                                         (mode != CNN_PAD_CONSTANT && a == 0));
    if (st == CNN_OK) {
        FUZZ_CHECK((int)mode <= CNN_PAD_CIRCULAR && a >= 0, "pad_out_len accepted an invalid argument");
        FUZZ_CHECK(out >= 0 && (__int128)out == len && kept >= 0 && !empty_source,
                   "pad_out_len is wrong");
    } else if (st == CNN_ESHAPE) {
        FUZZ_CHECK(len < 0 || kept < 0 || empty_source, "pad_out_len refused a valid padding");
    }
}

/* ---- the entry point -------------------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size, 0x5EED ^ (uint64_t)size};
    for (size_t i = 0; i < size; i++) r.fill = r.fill * 31 + data[i];
    const uint8_t op = take_byte(&r);
    current_args[0] = '\0';
    cnn_set_min_part_work(1); /* split even these small arrays over the threads */
    cnn_set_num_threads(2);
    switch (op % 11) {
    case 0: fuzz_conv(&r, 0); break;
    case 1: fuzz_conv(&r, 1); break;
    case 2: fuzz_pool(&r, 0); break;
    case 3: fuzz_pool(&r, 1); break;
    case 4: fuzz_unpool(&r); break;
    case 5: fuzz_pad(&r); break;
    case 6: fuzz_resize(&r); break;
    case 7: fuzz_linear(&r); break;
    case 8: fuzz_activation(&r); break;
    case 9: fuzz_loss(&r); break;
    default: op % 2 ? fuzz_optim(&r) : fuzz_sizes(&r); break;
    }
    return 0;
}

/* ---- replaying inputs without libFuzzer ------------------------------------------------------------------------- */

#ifdef CNN_FUZZ_REPLAY
#include <dirent.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) abort();
            buf = grown;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

/* Replays every file named on the command line and every file in every directory named. */
int main(int argc, char **argv)
{
    long replayed = 0;
    for (int i = 1; i < argc; i++) {
        DIR *dir = opendir(argv[i]);
        if (!dir) {
            if (!replay_file(argv[i])) {
                fprintf(stderr, "cannot read %s\n", argv[i]);
                return 2;
            }
            replayed++;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (replay_file(path)) replayed++;
        }
        closedir(dir);
    }
    printf("replayed %ld inputs\n", replayed);
    return 0;
}
#endif
