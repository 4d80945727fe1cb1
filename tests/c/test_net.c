/* test_net.c — plain-C tests of the network API of cnn.h (no Python): GausNet built through the C
 * API alone and trained on generated Gaussian images (the loss must fall); compiled steps against
 * the same layers run as separate engine calls (cnn_conv2d_forward, cnn_relu_backward,
 * cnn_adam_step, ...: bitwise); fused layers against unfused ones; no page fault in a
 * steady-state step; 1 and 2 threads bitwise; errors refused with the layer and field, leaving
 * the caller's arrays untouched. Built and run by tests/test_c_engine.py. Exit status 0 means
 * every check passed. `test_net bench` times the lecture's networks instead (see main). */
#define _XOPEN_SOURCE 700 /* getrusage, clock_gettime with the CPU-time clocks */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#define PSAPI_VERSION 2 /* K32GetProcessMemoryInfo, in kernel32 */
#include <windows.h>
#include <psapi.h>
#else
#include <sys/resource.h>
#endif

#include "cnn.h"

static int failures = 0, checks = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* ---- random numbers ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x853C49E6748FEA9Bull;

static double uniform01(void) /* xorshift64*, in [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static double normal(void) /* Box-Muller */
{
    const double u = uniform01() + 1e-300, v = uniform01();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- typed buffers --------------------------------------------------------------------------------- */

static size_t esize(cnn_dtype dt)
{
    return dt == CNN_FLOAT32 ? sizeof(float) : sizeof(double);
}

static void *zalloc(int64_t n, size_t es)
{
    void *p = calloc((size_t)(n > 0 ? n : 1), es);
    if (!p) abort();
    return p;
}

static double get(cnn_dtype dt, const void *a, int64_t i)
{
    return dt == CNN_FLOAT32 ? (double)((const float *)a)[i] : ((const double *)a)[i];
}

static void set(cnn_dtype dt, void *a, int64_t i, double v)
{
    if (dt == CNN_FLOAT32) ((float *)a)[i] = (float)v;
    else ((double *)a)[i] = v;
}

/* dst += src, elementwise (the layers' `grad += gw`) */
static void add_into(cnn_dtype dt, int64_t n, const void *src, void *dst)
{
    for (int64_t i = 0; i < n; i++)
        if (dt == CNN_FLOAT32) ((float *)dst)[i] = ((float *)dst)[i] + ((const float *)src)[i];
        else ((double *)dst)[i] = ((double *)dst)[i] + ((const double *)src)[i];
}

static int same_bits(const void *a, const void *b, int64_t n, cnn_dtype dt)
{
    return memcmp(a, b, (size_t)n * esize(dt)) == 0;
}

/* max |a - b| / max(|b|, 1e-30 + max |b|) */
static double rel_diff(cnn_dtype dt, const void *a, const void *b, int64_t n)
{
    double m = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(get(dt, b, i)));
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(get(dt, a, i) - get(dt, b, i)));
    return m / (scale > 0 ? scale : 1);
}

/* ---- a network with its parameters bound --------------------------------------------------------- */

typedef struct {
    cnn_net *net;
    cnn_dtype dt;
    int64_t np;
    void *data[64], *grad[64], *state[64][3];
    int64_t numel[64];
    cnn_optim_hparams hp[64];
    int64_t step;
} model;

/* PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight
 * (for a bias, the weight of its layer: here simply the bias bound of the layer's weight). */
static void init_params(model *m, uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < m->np; i++) {
        int64_t layer, shape[4], numel;
        int is_bias, ndim;
        cnn_net_param_shape(m->net, i, &layer, &is_bias, &ndim, shape, &numel);
        int64_t fan_in = 1;
        if (!is_bias)
            for (int d = 1; d < ndim; d++) fan_in *= shape[d];
        else
            fan_in = 8;
        const double bound = 1.0 / sqrt((double)fan_in);
        for (int64_t k = 0; k < numel; k++) set(m->dt, m->data[i], k, (2 * uniform01() - 1) * bound);
    }
}

/* A network with parameters bound to fresh arrays, initialised from seed. Cross entropy has label
 * smoothing 0.1 (as ref_step). */
static void make_model_red(model *m, const cnn_layer_desc *layers, int64_t n, cnn_loss_kind loss,
                           cnn_reduction red, cnn_optim_kind optim, cnn_dtype dt, uint64_t seed)
{
    cnn_loss_desc l = {0};
    cnn_net_error err;
    memset(m, 0, sizeof *m);
    l.kind = loss;
    l.reduction = red;
    l.ignore_index = -100;
    l.label_smoothing = loss == CNN_LOSS_CROSS_ENTROPY ? 0.1 : 0.0;
    m->dt = dt;
    cnn_status st = cnn_net_create(layers, n, &l, optim, dt, 99, &m->net, &err);
    if (st) {
        fprintf(stderr, "create failed: %s at layer %lld field %s\n", cnn_strerror(st), (long long)err.layer, err.field);
        abort();
    }
    m->np = cnn_net_num_params(m->net);
    for (int64_t i = 0; i < m->np; i++) {
        cnn_net_param_shape(m->net, i, NULL, NULL, NULL, NULL, &m->numel[i]);
        m->data[i] = zalloc(m->numel[i], esize(dt));
        m->grad[i] = zalloc(m->numel[i], esize(dt));
        for (int s = 0; s < 3; s++) m->state[i][s] = zalloc(m->numel[i], esize(dt));
        cnn_net_bind_param(m->net, i, m->data[i], m->grad[i], m->state[i][0], m->state[i][1], m->state[i][2]);
    }
    init_params(m, seed);
}

static void make_model(model *m, const cnn_layer_desc *layers, int64_t n, cnn_loss_kind loss,
                       cnn_optim_kind optim, cnn_dtype dt, uint64_t seed)
{
    make_model_red(m, layers, n, loss, CNN_REDUCE_MEAN, optim, dt, seed);
}

/* dst's parameters and optimizer state = src's (every step then starts from the same values). */
static void copy_state(model *dst, const model *src)
{
    const size_t es = esize(src->dt);
    for (int64_t i = 0; i < src->np; i++) {
        memcpy(dst->data[i], src->data[i], (size_t)src->numel[i] * es);
        for (int q = 0; q < 3; q++) memcpy(dst->state[i][q], src->state[i][q], (size_t)src->numel[i] * es);
    }
}

static void free_model(model *m)
{
    for (int64_t i = 0; i < m->np; i++) {
        free(m->data[i]);
        free(m->grad[i]);
        for (int s = 0; s < 3; s++) free(m->state[i][s]);
    }
    cnn_net_destroy(m->net);
}

/* The optimizer's values of this step for every parameter (the same for all, one group). */
static void set_hparams(model *m, cnn_optim_kind optim, int variant)
{
    m->step++;
    for (int64_t i = 0; i < m->np; i++) {
        cnn_optim_hparams *h = &m->hp[i];
        memset(h, 0, sizeof *h);
        h->step = m->step;
        if (optim == CNN_OPTIM_ADAM) {
            h->lr = 1e-3;
            h->beta1 = 0.9;
            h->beta2 = 0.999;
            h->eps = 1e-8;
            h->amsgrad = variant & 1;
            h->decoupled = (variant & 2) != 0;
            h->weight_decay = variant & 2 ? 0.01 : 0.0;
        } else if (optim == CNN_OPTIM_SGD) {
            h->lr = 0.05;
            h->momentum = 0.9;
            h->nesterov = variant & 1;
            h->weight_decay = 1e-3;
        } else if (optim == CNN_OPTIM_RMSPROP) {
            h->lr = 1e-3;
            h->alpha = 0.99;
            h->eps = 1e-8;
            h->centered = variant & 1;
            h->momentum = variant & 2 ? 0.5 : 0.0;
        }
    }
}

/* ---- the reference: the same network as separate engine calls ------------------------------------ */
/* What cnnpy's layers do, layer by layer through the public entry points: every backward into a
 * fresh zeroed array, parameter gradients added with `grad += gw`. Supports the layer kinds and
 * options the tests below use. */

typedef struct {
    int ndim;
    int64_t d[4];
    int64_t numel;
} shape4;

static int64_t numel_of(const shape4 *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

static cnn_conv2d_desc conv_desc(const cnn_layer_desc *L, const shape4 *in)
{
    cnn_conv2d_desc d = {0};
    const int two = L->spatial_dims == 2;
    d.batch = in->d[0];
    d.in_channels = in->d[1];
    d.in_h = two ? in->d[2] : 1;
    d.in_w = in->d[in->ndim - 1];
    d.out_channels = L->conv.out_channels;
    d.kernel_h = two ? L->conv.kernel_h : 1;
    d.kernel_w = L->conv.kernel_w;
    d.stride_h = two ? L->conv.stride_h : 1;
    d.stride_w = L->conv.stride_w;
    d.dilation_h = two ? L->conv.dilation_h : 1;
    d.dilation_w = L->conv.dilation_w;
    d.pad_top = two ? L->conv.pad_top : 0;
    d.pad_bottom = two ? L->conv.pad_bottom : 0;
    d.pad_left = L->conv.pad_left;
    d.pad_right = L->conv.pad_right;
    d.groups = L->conv.groups;
    /* padding="same" as cnnpy.same_padding: output ceil(n / s), the odd element after */
    for (int axis = 0; axis < 2; axis++) {
        if (!(axis ? L->conv.same_w : two && L->conv.same_h)) continue;
        const int64_t n = axis ? d.in_w : d.in_h, k = axis ? d.kernel_w : d.kernel_h;
        const int64_t st = axis ? d.stride_w : d.stride_h, dl = axis ? d.dilation_w : d.dilation_h;
        const int64_t out = (n + st - 1) / st;
        int64_t total = (out - 1) * st + dl * (k - 1) + 1 - n;
        total = total > 0 ? total : 0;
        *(axis ? &d.pad_left : &d.pad_top) = total / 2;
        *(axis ? &d.pad_right : &d.pad_bottom) = total - total / 2;
    }
    return d;
}

static cnn_conv_transpose2d_desc convt_desc(const cnn_layer_desc *layers, const cnn_layer_desc *L,
                                            const shape4 *in)
{
    cnn_conv_transpose2d_desc d = {0};
    const int two = L->spatial_dims == 2;
    d.batch = in->d[0];
    d.in_channels = in->d[1];
    d.in_h = two ? in->d[2] : 1;
    d.in_w = in->d[in->ndim - 1];
    if (L->kind == CNN_LAYER_TIED_CONV_TRANSPOSE) {
        const cnn_layer_desc *o = &layers[L->tied.layer];
        d.out_channels = o->conv.in_channels;
        d.kernel_h = o->conv.kernel_h;
        d.kernel_w = o->conv.kernel_w;
        d.dilation_h = o->conv.dilation_h;
        d.dilation_w = o->conv.dilation_w;
        d.groups = o->conv.groups;
        d.stride_h = L->tied.stride_h;
        d.stride_w = L->tied.stride_w;
        d.pad_h = L->tied.pad_h;
        d.pad_w = L->tied.pad_w;
        d.output_padding_h = L->tied.output_padding_h;
        d.output_padding_w = L->tied.output_padding_w;
    } else {
        d.out_channels = L->conv_transpose.out_channels;
        d.kernel_h = two ? L->conv_transpose.kernel_h : 1;
        d.kernel_w = L->conv_transpose.kernel_w;
        d.stride_h = two ? L->conv_transpose.stride_h : 1;
        d.stride_w = L->conv_transpose.stride_w;
        d.pad_h = two ? L->conv_transpose.pad_h : 0;
        d.pad_w = L->conv_transpose.pad_w;
        d.output_padding_h = two ? L->conv_transpose.output_padding_h : 0;
        d.output_padding_w = L->conv_transpose.output_padding_w;
        d.dilation_h = two ? L->conv_transpose.dilation_h : 1;
        d.dilation_w = L->conv_transpose.dilation_w;
        d.groups = L->conv_transpose.groups;
    }
    return d;
}

static cnn_pool2d_desc pool_desc(const cnn_layer_desc *L, const shape4 *in)
{
    cnn_pool2d_desc d = {0};
    const int two = L->spatial_dims == 2;
    d.planes = in->d[0] * in->d[1];
    d.in_h = two ? in->d[2] : 1;
    d.in_w = in->d[in->ndim - 1];
    d.kernel_h = two ? L->pool.kernel_h : 1;
    d.kernel_w = L->pool.kernel_w;
    d.stride_h = two ? L->pool.stride_h : 1;
    d.stride_w = L->pool.stride_w;
    d.pad_h = two ? L->pool.pad_h : 0;
    d.pad_w = L->pool.pad_w;
    d.dilation_h = two ? L->pool.dilation_h : 1;
    d.dilation_w = L->pool.dilation_w;
    d.ceil_mode = L->pool.ceil_mode;
    d.count_include_pad = L->pool.count_include_pad;
    d.divisor_override = L->pool.divisor_override;
    return d;
}

/* Parameter index of layer i's weight and bias, as cnn_net numbers them. */
static void param_index(const cnn_layer_desc *layers, int64_t n, int64_t *w, int64_t *b)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        const cnn_layer_desc *L = &layers[i];
        w[i] = b[i] = -1;
        int has_w = 0, has_b = 0;
        switch (L->kind) {
        case CNN_LAYER_CONV: has_w = 1; has_b = L->conv.bias; break;
        case CNN_LAYER_CONV_TRANSPOSE: has_w = 1; has_b = L->conv_transpose.bias; break;
        case CNN_LAYER_LINEAR: has_w = 1; has_b = L->linear.bias; break;
        case CNN_LAYER_TIED_LINEAR:
        case CNN_LAYER_TIED_CONV_TRANSPOSE: has_b = L->tied.bias; break;
        default: break;
        }
        if (has_w) w[i] = k++;
        if (has_b) b[i] = k++;
    }
    for (int64_t i = 0; i < n; i++)
        if (layers[i].kind == CNN_LAYER_TIED_LINEAR || layers[i].kind == CNN_LAYER_TIED_CONV_TRANSPOSE)
            w[i] = w[layers[i].tied.layer];
}

#define MAXL 32

typedef struct {
    shape4 s[MAXL + 1];
    void *act[MAXL + 1];  /* act[0] is the input */
    void *xin[MAXL];      /* conv: the (padded) input its kernel read; others: NULL */
    void *wuse[MAXL];     /* conv: the weight its kernel read (flipped); tied linear: W^T */
    int64_t *idx[MAXL];
    uint8_t *mask[MAXL];  /* dropout: the mask per element */
} ref_state;

static void flip_copy(cnn_dtype dt, int64_t outer, int64_t kk, const void *src, void *dst, int add)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < kk; k++) {
            const double v = get(dt, src, o * kk + kk - 1 - k);
            if (dt == CNN_FLOAT32) {
                float *d = (float *)dst + o * kk + k;
                *d = add ? *d + (float)v : (float)v;
            } else {
                double *d = (double *)dst + o * kk + k;
                *d = add ? *d + v : v;
            }
        }
}

static void transpose_copy(cnn_dtype dt, int64_t rows, int64_t cols, const void *src, void *dst, int add)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const double v = get(dt, src, r * cols + c);
            if (dt == CNN_FLOAT32) {
                float *d = (float *)dst + c * rows + r;
                *d = add ? *d + (float)v : (float)v;
            } else {
                double *d = (double *)dst + c * rows + r;
                *d = add ? *d + v : v;
            }
        }
}

/* One training step of model m's layers through the engine's entry points. masks[i]: layer i's
 * dropout mask (a byte per element; dropout2d a byte per channel). Returns the loss (reduction
 * 'none': the sum of the values). Cross entropy uses label smoothing 0.1. */
static double ref_step(const cnn_layer_desc *layers, int64_t n, const model *m, const void *x,
                       const shape4 *xs, const void *target, cnn_loss_kind loss, cnn_reduction red,
                       cnn_optim_kind optim, uint8_t *const *masks, void *out)
{
    const cnn_dtype dt = m->dt;
    const size_t es = esize(dt);
    int64_t wi[MAXL], bi[MAXL];
    ref_state r;
    memset(&r, 0, sizeof r);
    param_index(layers, n, wi, bi);
    r.s[0] = *xs;
    r.act[0] = (void *)x;
    /* forward */
    for (int64_t i = 0; i < n; i++) {
        const cnn_layer_desc *L = &layers[i];
        const shape4 *in = &r.s[i];
        shape4 *o = &r.s[i + 1];
        const void *xi = r.act[i];
        void *wp = wi[i] >= 0 ? m->data[wi[i]] : NULL, *bp = bi[i] >= 0 ? m->data[bi[i]] : NULL;
        *o = *in;
        switch (L->kind) {
        case CNN_LAYER_CONV: {
            cnn_conv2d_desc d = conv_desc(L, in);
            const int explicit_pad = !(L->conv.pad_mode == CNN_PAD_CONSTANT && L->conv.pad_value == 0.0);
            void *xin = (void *)xi;
            if (explicit_pad) {
                const int64_t shape[4] = {d.batch, d.in_channels, d.in_h, d.in_w};
                const int64_t pads[8] = {0, 0, 0, 0, d.pad_top, d.pad_bottom, d.pad_left, d.pad_right};
                const int64_t ph = d.in_h + d.pad_top + d.pad_bottom, pw = d.in_w + d.pad_left + d.pad_right;
                xin = zalloc(d.batch * d.in_channels * ph * pw, es);
                CHECK(cnn_pad_forward(dt, 4, shape, pads, L->conv.pad_mode, L->conv.pad_value, xi, xin) == CNN_OK);
                d.in_h = ph;
                d.in_w = pw;
                d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 0;
            }
            r.xin[i] = xin;
            void *w = wp;
            if (L->conv.flip) {
                w = zalloc(m->numel[wi[i]], es);
                flip_copy(dt, m->numel[wi[i]] / (d.kernel_h * d.kernel_w), d.kernel_h * d.kernel_w, wp, w, 0);
            }
            r.wuse[i] = w;
            int64_t oh, ow;
            CHECK(cnn_conv2d_output_shape(&d, &oh, &ow) == CNN_OK);
            o->d[1] = d.out_channels;
            if (L->spatial_dims == 2) o->d[2] = oh;
            o->d[o->ndim - 1] = ow;
            r.act[i + 1] = zalloc(numel_of(o), es);
            CHECK(cnn_conv2d_forward(&d, dt, CNN_ALGO_AUTO, xin, w, bp, r.act[i + 1]) == CNN_OK);
            break;
        }
        case CNN_LAYER_CONV_TRANSPOSE:
        case CNN_LAYER_TIED_CONV_TRANSPOSE: {
            cnn_conv_transpose2d_desc d = convt_desc(layers, L, in);
            int64_t oh, ow;
            CHECK(cnn_conv_transpose2d_output_shape(&d, &oh, &ow) == CNN_OK);
            o->d[1] = d.out_channels;
            if (L->spatial_dims == 2) o->d[2] = oh;
            o->d[o->ndim - 1] = ow;
            r.act[i + 1] = zalloc(numel_of(o), es);
            CHECK(cnn_conv_transpose2d_forward(&d, dt, CNN_ALGO_AUTO, xi, wp, bp, r.act[i + 1]) == CNN_OK);
            break;
        }
        case CNN_LAYER_MAXPOOL:
        case CNN_LAYER_AVGPOOL: {
            cnn_pool2d_desc d = pool_desc(L, in);
            int64_t oh, ow;
            CHECK(cnn_pool2d_output_shape(&d, &oh, &ow) == CNN_OK);
            if (L->spatial_dims == 2) o->d[2] = oh;
            o->d[o->ndim - 1] = ow;
            r.act[i + 1] = zalloc(numel_of(o), es);
            if (L->kind == CNN_LAYER_MAXPOOL) {
                r.idx[i] = zalloc(numel_of(o), sizeof(int64_t));
                CHECK(cnn_maxpool2d_forward(&d, dt, xi, r.act[i + 1], r.idx[i]) == CNN_OK);
            } else {
                CHECK(cnn_avgpool2d_forward(&d, dt, xi, r.act[i + 1]) == CNN_OK);
            }
            break;
        }
        case CNN_LAYER_ADAPTIVE_AVGPOOL:
        case CNN_LAYER_ADAPTIVE_MAXPOOL:
            o->d[2] = L->adaptive.out_h;
            o->d[3] = L->adaptive.out_w;
            r.act[i + 1] = zalloc(numel_of(o), es);
            if (L->kind == CNN_LAYER_ADAPTIVE_AVGPOOL) {
                CHECK(cnn_adaptive_avgpool2d_forward(dt, in->d[0] * in->d[1], in->d[2], in->d[3], o->d[2], o->d[3],
                                                     xi, r.act[i + 1]) == CNN_OK);
            } else {
                r.idx[i] = zalloc(numel_of(o), sizeof(int64_t));
                CHECK(cnn_adaptive_maxpool2d_forward(dt, in->d[0] * in->d[1], in->d[2], in->d[3], o->d[2], o->d[3],
                                                     xi, r.act[i + 1], r.idx[i]) == CNN_OK);
            }
            break;
        case CNN_LAYER_LINEAR:
        case CNN_LAYER_TIED_LINEAR: {
            const int tied = L->kind == CNN_LAYER_TIED_LINEAR;
            const cnn_layer_desc *lin = tied ? &layers[L->tied.layer] : L;
            const int64_t fin = tied ? lin->linear.out_features : lin->linear.in_features;
            const int64_t fout = tied ? lin->linear.in_features : lin->linear.out_features;
            o->d[o->ndim - 1] = fout;
            r.act[i + 1] = zalloc(numel_of(o), es);
            void *w = wp;
            if (tied) {
                w = zalloc(fin * fout, es);
                transpose_copy(dt, fin, fout, wp, w, 0);
            }
            r.wuse[i] = w;
            CHECK(cnn_linear_forward(dt, numel_of(in) / fin, fin, fout, xi, w, bp, r.act[i + 1]) == CNN_OK);
            break;
        }
        case CNN_LAYER_FLATTEN:
            o->ndim = 2;
            o->d[1] = numel_of(in) / in->d[0];
            r.act[i + 1] = zalloc(numel_of(o), es);
            memcpy(r.act[i + 1], xi, (size_t)numel_of(o) * es);
            break;
        case CNN_LAYER_RELU:
        case CNN_LAYER_LEAKY_RELU:
        case CNN_LAYER_SIGMOID:
        case CNN_LAYER_TANH: {
            const int64_t k = numel_of(in);
            r.act[i + 1] = zalloc(k, es);
            void *y = r.act[i + 1];
            cnn_status st = L->kind == CNN_LAYER_RELU ? cnn_relu_forward(dt, k, xi, y)
                            : L->kind == CNN_LAYER_LEAKY_RELU ? cnn_leaky_relu_forward(dt, k, L->negative_slope, xi, y)
                            : L->kind == CNN_LAYER_SIGMOID ? cnn_sigmoid_forward(dt, k, xi, y)
                                                           : cnn_tanh_forward(dt, k, xi, y);
            CHECK(st == CNN_OK);
            break;
        }
        case CNN_LAYER_SOFTMAX: /* the last dim */
            r.act[i + 1] = zalloc(numel_of(in), es);
            CHECK(cnn_softmax_forward(dt, numel_of(in) / in->d[in->ndim - 1], in->d[in->ndim - 1], 1, xi,
                                      r.act[i + 1]) == CNN_OK);
            break;
        case CNN_LAYER_UNFLATTEN: /* of dim 1 */
            o->ndim = 1 + L->unflatten.ndims;
            for (int d = 0; d < L->unflatten.ndims; d++) o->d[1 + d] = L->unflatten.sizes[d];
            r.act[i + 1] = zalloc(numel_of(o), es);
            memcpy(r.act[i + 1], xi, (size_t)numel_of(o) * es);
            break;
        case CNN_LAYER_DROPOUT:
        case CNN_LAYER_DROPOUT2D: { /* a channel mask broadcast over the plane, as dropout2d does */
            const int64_t k = numel_of(in), per = L->kind == CNN_LAYER_DROPOUT ? 1 : k / (in->d[0] * in->d[1]);
            r.mask[i] = zalloc(k, 1);
            for (int64_t j = 0; j < k; j++) r.mask[i][j] = masks[i][j / per];
            r.act[i + 1] = zalloc(k, es);
            CHECK(cnn_dropout_forward(dt, k, L->p, r.mask[i], xi, r.act[i + 1]) == CNN_OK);
            break;
        }
        default:
            CHECK(!"layer kind not in the reference");
        }
    }
    /* loss */
    const shape4 *os = &r.s[n];
    const int64_t on = numel_of(os);
    void *pred = r.act[n];
    double value = 0;
    void *lv = zalloc(on, es), *g = zalloc(on, es), *one = zalloc(on, es);
    const int64_t rows = os->d[0], inner = on / os->d[0] / os->d[1];
    for (int64_t i = 0; i < on; i++) set(dt, one, i, 1.0); /* grad_output: 1, or ones for 'none' */
    cnn_status s1 = CNN_EINVAL, s2 = CNN_EINVAL;
    int64_t values = red == CNN_REDUCE_NONE ? on : 1;
    switch (loss) {
    case CNN_LOSS_MSE:
        s1 = cnn_mse_loss_forward(dt, on, pred, target, red, lv);
        s2 = cnn_mse_loss_backward(dt, on, one, pred, target, red, g, NULL);
        break;
    case CNN_LOSS_L1:
        s1 = cnn_l1_loss_forward(dt, on, pred, target, red, lv);
        s2 = cnn_l1_loss_backward(dt, on, one, pred, target, red, g, NULL);
        break;
    case CNN_LOSS_BCE:
        s1 = cnn_bce_loss_forward(dt, on, pred, target, NULL, red, lv);
        s2 = cnn_bce_loss_backward(dt, on, one, pred, target, NULL, red, g, NULL);
        break;
    case CNN_LOSS_BCE_LOGITS:
        s1 = cnn_bce_logits_loss_forward(dt, on, pred, target, NULL, NULL, red, lv);
        s2 = cnn_bce_logits_loss_backward(dt, on, one, pred, target, NULL, NULL, red, g, NULL);
        break;
    case CNN_LOSS_CROSS_ENTROPY:
        values = red == CNN_REDUCE_NONE ? rows * inner : 1;
        s1 = cnn_cross_entropy_forward(dt, rows, os->d[1], inner, pred, target, NULL, -100, 0.1, red, lv);
        s2 = cnn_cross_entropy_backward(dt, rows, os->d[1], inner, one, pred, target, NULL, -100, 0.1, red, g);
        break;
    case CNN_LOSS_CORRELATION:
        values = red == CNN_REDUCE_NONE ? rows : 1;
        s1 = cnn_correlation_loss_forward(dt, rows, on / rows, pred, target, red, lv);
        s2 = cnn_correlation_loss_backward(dt, rows, on / rows, one, pred, target, red, g, NULL);
        break;
    default: break;
    }
    CHECK(s1 == CNN_OK && s2 == CNN_OK);
    for (int64_t i = 0; i < values; i++) value += get(dt, lv, i); /* 'none': the sum, in order */
    if (out) memcpy(out, pred, (size_t)on * es);
    for (int64_t i = 0; i < m->np; i++) memset(m->grad[i], 0, (size_t)m->numel[i] * es);
    /* backward: g is d loss / d act[i + 1] */
    for (int64_t i = n - 1; i >= 0; i--) {
        const cnn_layer_desc *L = &layers[i];
        const shape4 *in = &r.s[i];
        const int64_t k = numel_of(in);
        void *dx = zalloc(k, es);
        const void *xi = r.act[i];
        void *gw = wi[i] >= 0 ? zalloc(m->numel[wi[i]], es) : NULL;
        void *gb = bi[i] >= 0 ? zalloc(m->numel[bi[i]], es) : NULL;
        switch (L->kind) {
        case CNN_LAYER_CONV: {
            cnn_conv2d_desc d = conv_desc(L, in);
            const int explicit_pad = !(L->conv.pad_mode == CNN_PAD_CONSTANT && L->conv.pad_value == 0.0);
            const int64_t ph = d.in_h + d.pad_top + d.pad_bottom, pw = d.in_w + d.pad_left + d.pad_right;
            void *dxp = dx;
            cnn_conv2d_desc e = d;
            if (explicit_pad) {
                e.in_h = ph;
                e.in_w = pw;
                e.pad_top = e.pad_bottom = e.pad_left = e.pad_right = 0;
                dxp = zalloc(d.batch * d.in_channels * ph * pw, es);
            }
            CHECK(cnn_conv2d_backward(&e, dt, CNN_ALGO_AUTO, g, r.xin[i], r.wuse[i], dxp, gw, gb) == CNN_OK);
            if (explicit_pad) {
                const int64_t shape[4] = {d.batch, d.in_channels, d.in_h, d.in_w};
                const int64_t pads[8] = {0, 0, 0, 0, d.pad_top, d.pad_bottom, d.pad_left, d.pad_right};
                CHECK(cnn_pad_backward(dt, 4, shape, pads, L->conv.pad_mode, dxp, dx) == CNN_OK);
                free(dxp);
                free(r.xin[i]);
            }
            if (L->conv.flip) {
                flip_copy(dt, m->numel[wi[i]] / (d.kernel_h * d.kernel_w), d.kernel_h * d.kernel_w, gw, m->grad[wi[i]], 1);
                free(r.wuse[i]);
            } else {
                add_into(dt, m->numel[wi[i]], gw, m->grad[wi[i]]);
            }
            break;
        }
        case CNN_LAYER_CONV_TRANSPOSE:
        case CNN_LAYER_TIED_CONV_TRANSPOSE: {
            cnn_conv_transpose2d_desc d = convt_desc(layers, L, in);
            CHECK(cnn_conv_transpose2d_backward(&d, dt, CNN_ALGO_AUTO, g, xi, m->data[wi[i]], dx, gw, gb) == CNN_OK);
            add_into(dt, m->numel[wi[i]], gw, m->grad[wi[i]]);
            break;
        }
        case CNN_LAYER_MAXPOOL:
        case CNN_LAYER_AVGPOOL: {
            cnn_pool2d_desc d = pool_desc(L, in);
            int64_t oh, ow;
            cnn_pool2d_output_shape(&d, &oh, &ow);
            if (L->kind == CNN_LAYER_MAXPOOL) {
                CHECK(cnn_maxpool2d_backward(dt, d.planes, d.in_h, d.in_w, oh, ow, g, r.idx[i], dx) == CNN_OK);
                free(r.idx[i]);
            } else {
                CHECK(cnn_avgpool2d_backward(&d, dt, g, dx) == CNN_OK);
            }
            break;
        }
        case CNN_LAYER_ADAPTIVE_AVGPOOL:
            CHECK(cnn_adaptive_avgpool2d_backward(dt, in->d[0] * in->d[1], in->d[2], in->d[3], L->adaptive.out_h,
                                                  L->adaptive.out_w, g, dx) == CNN_OK);
            break;
        case CNN_LAYER_ADAPTIVE_MAXPOOL:
            CHECK(cnn_maxpool2d_backward(dt, in->d[0] * in->d[1], in->d[2], in->d[3], L->adaptive.out_h,
                                         L->adaptive.out_w, g, r.idx[i], dx) == CNN_OK);
            free(r.idx[i]);
            break;
        case CNN_LAYER_LINEAR:
        case CNN_LAYER_TIED_LINEAR: {
            const int tied = L->kind == CNN_LAYER_TIED_LINEAR;
            const cnn_layer_desc *lin = tied ? &layers[L->tied.layer] : L;
            const int64_t fin = tied ? lin->linear.out_features : lin->linear.in_features;
            const int64_t fout = tied ? lin->linear.in_features : lin->linear.out_features;
            CHECK(cnn_linear_backward(dt, k / fin, fin, fout, g, xi, r.wuse[i], dx, gw, gb) == CNN_OK);
            if (tied) {
                transpose_copy(dt, fout, fin, gw, m->grad[wi[i]], 1);
                free(r.wuse[i]);
            } else {
                add_into(dt, m->numel[wi[i]], gw, m->grad[wi[i]]);
            }
            break;
        }
        case CNN_LAYER_FLATTEN: memcpy(dx, g, (size_t)k * es); break;
        case CNN_LAYER_RELU: CHECK(cnn_relu_backward(dt, k, g, xi, dx) == CNN_OK); break;
        case CNN_LAYER_LEAKY_RELU: CHECK(cnn_leaky_relu_backward(dt, k, L->negative_slope, g, xi, dx) == CNN_OK); break;
        case CNN_LAYER_SIGMOID: CHECK(cnn_sigmoid_backward(dt, k, g, xi, dx) == CNN_OK); break;
        case CNN_LAYER_TANH: CHECK(cnn_tanh_backward(dt, k, g, xi, dx) == CNN_OK); break;
        case CNN_LAYER_SOFTMAX:
            CHECK(cnn_softmax_backward(dt, k / in->d[in->ndim - 1], in->d[in->ndim - 1], 1, g, r.act[i + 1], dx) == CNN_OK);
            break;
        case CNN_LAYER_UNFLATTEN: memcpy(dx, g, (size_t)k * es); break;
        case CNN_LAYER_DROPOUT:
        case CNN_LAYER_DROPOUT2D:
            CHECK(cnn_dropout_backward(dt, k, L->p, r.mask[i], g, dx) == CNN_OK);
            free(r.mask[i]);
            break;
        default: break;
        }
        if (gb) add_into(dt, m->numel[bi[i]], gb, m->grad[bi[i]]);
        free(gw);
        free(gb);
        free(g);
        g = dx;
        free(r.act[i + 1]);
    }
    free(g);
    free(lv);
    free(one);
    /* the optimizer */
    for (int64_t i = 0; i < m->np; i++) {
        const cnn_optim_hparams *h = &m->hp[i];
        cnn_status st = CNN_OK;
        if (optim == CNN_OPTIM_ADAM)
            st = cnn_adam_step(dt, m->numel[i], m->data[i], m->grad[i], m->state[i][0], m->state[i][1],
                               h->amsgrad ? m->state[i][2] : NULL, h->lr, h->beta1, h->beta2, h->eps,
                               h->weight_decay, h->decoupled, h->maximize, h->step);
        else if (optim == CNN_OPTIM_SGD)
            st = cnn_sgd_step(dt, m->numel[i], m->data[i], m->grad[i], m->state[i][0], h->lr, h->momentum,
                              h->dampening, h->weight_decay, h->nesterov, h->maximize, h->step == 1);
        else if (optim == CNN_OPTIM_RMSPROP)
            st = cnn_rmsprop_step(dt, m->numel[i], m->data[i], m->grad[i], m->state[i][0],
                                  h->centered ? m->state[i][2] : NULL, h->momentum > 0 ? m->state[i][1] : NULL,
                                  h->lr, h->alpha, h->eps, h->weight_decay, h->momentum, h->maximize);
        CHECK(st == CNN_OK);
    }
    return value;
}

/* ---- layer descriptors ------------------------------------------------------------------------------- */

static cnn_layer_desc conv(int dims, int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad)
{
    cnn_layer_desc L = {0};
    L.kind = CNN_LAYER_CONV;
    L.spatial_dims = dims;
    L.conv.in_channels = cin;
    L.conv.out_channels = cout;
    L.conv.kernel_h = dims == 2 ? k : 1;
    L.conv.kernel_w = k;
    L.conv.stride_h = L.conv.stride_w = stride;
    L.conv.dilation_h = L.conv.dilation_w = 1;
    L.conv.pad_top = L.conv.pad_bottom = dims == 2 ? pad : 0;
    L.conv.pad_left = L.conv.pad_right = pad;
    L.conv.groups = 1;
    L.conv.bias = 1;
    return L;
}

static cnn_layer_desc convt(int64_t cin, int64_t cout, int64_t k, int64_t stride)
{
    cnn_layer_desc L = {0};
    L.kind = CNN_LAYER_CONV_TRANSPOSE;
    L.spatial_dims = 2;
    L.conv_transpose.in_channels = cin;
    L.conv_transpose.out_channels = cout;
    L.conv_transpose.kernel_h = L.conv_transpose.kernel_w = k;
    L.conv_transpose.stride_h = L.conv_transpose.stride_w = stride;
    L.conv_transpose.dilation_h = L.conv_transpose.dilation_w = 1;
    L.conv_transpose.groups = 1;
    L.conv_transpose.bias = 1;
    return L;
}

static cnn_layer_desc pool(int dims, cnn_layer_kind kind, int64_t k)
{
    cnn_layer_desc L = {0};
    L.kind = kind;
    L.spatial_dims = dims;
    L.pool.kernel_h = dims == 2 ? k : 1;
    L.pool.kernel_w = k;
    L.pool.stride_h = L.pool.stride_w = k;
    L.pool.dilation_h = L.pool.dilation_w = 1;
    L.pool.count_include_pad = 1;
    return L;
}

static cnn_layer_desc simple(cnn_layer_kind kind)
{
    cnn_layer_desc L = {0};
    L.kind = kind;
    if (kind == CNN_LAYER_FLATTEN) {
        L.flatten.start_dim = 1;
        L.flatten.end_dim = -1;
    }
    if (kind == CNN_LAYER_SOFTMAX) L.dim = -1;
    return L;
}

static cnn_layer_desc linear(int64_t in, int64_t out)
{
    cnn_layer_desc L = {0};
    L.kind = CNN_LAYER_LINEAR;
    L.linear.in_features = in;
    L.linear.out_features = out;
    L.linear.bias = 1;
    return L;
}

/* GausNet, the lecture's classifier of Gaussian widths, for s x s images (91: 1936 features). */
static int64_t gausnet(cnn_layer_desc *L, int64_t s, cnn_layer_kind pool_kind)
{
    const int64_t q = s / 2 / 2;
    L[0] = conv(2, 1, 6, 3, 1, 1);
    L[1] = simple(CNN_LAYER_RELU);
    L[2] = pool(2, pool_kind, 2);
    L[3] = conv(2, 6, 4, 3, 1, 1);
    L[4] = simple(CNN_LAYER_RELU);
    L[5] = pool(2, pool_kind, 2);
    L[6] = simple(CNN_LAYER_FLATTEN);
    L[7] = linear(4 * q * q, 50);
    L[8] = linear(50, 1);
    return 9;
}

/* The Gaussian autoencoder: 91 -> 45 -> 22 -> 45 -> 91 (any s with that arithmetic). */
static int64_t gaussian_ae(cnn_layer_desc *L)
{
    L[0] = conv(2, 1, 6, 3, 1, 1);
    L[1] = simple(CNN_LAYER_RELU);
    L[2] = pool(2, CNN_LAYER_MAXPOOL, 2);
    L[3] = conv(2, 6, 4, 3, 1, 1);
    L[4] = simple(CNN_LAYER_RELU);
    L[5] = pool(2, CNN_LAYER_MAXPOOL, 2);
    L[6] = convt(4, 6, 3, 2);
    L[7] = simple(CNN_LAYER_RELU);
    L[8] = convt(6, 1, 3, 2);
    return 9;
}

/* ---- data ---------------------------------------------------------------------------------------- */

/* n Gaussian blobs on the lecture's grid linspace(-4, 4, s): sigma 1.8 (label 0) or 2.4 (label 1),
 * centre 2*N(0, 1) per axis, plus N(0, 1)/5 noise. */
static void gaussian_images(cnn_dtype dt, int64_t n, int64_t s, void *x, void *labels)
{
    for (int64_t i = 0; i < n; i++) {
        const int label = uniform01() < 0.5;
        const double sigma = label ? 2.4 : 1.8, cx = 2 * normal(), cy = 2 * normal();
        for (int64_t r = 0; r < s; r++)
            for (int64_t c = 0; c < s; c++) {
                const double X = -4 + 8.0 * c / (double)(s - 1), Y = -4 + 8.0 * r / (double)(s - 1);
                const double v = exp(-((X - cx) * (X - cx) + (Y - cy) * (Y - cy)) / (2 * sigma * sigma));
                set(dt, x, (i * s + r) * s + c, v + normal() / 5);
            }
        if (labels) set(dt, labels, i, label);
    }
}

static void random_fill(cnn_dtype dt, int64_t n, void *a)
{
    for (int64_t i = 0; i < n; i++) set(dt, a, i, normal());
}

/* ---- compiled steps against separate engine calls, fused against unfused ----------------------- */

typedef struct {
    const char *name;
    cnn_layer_desc layers[MAXL];
    int64_t n;
    shape4 in;
    cnn_loss_kind loss;
    cnn_reduction red;
    cnn_optim_kind optim;
    int variant;
} net_case;

static void check_case(const net_case *c, cnn_dtype dt, int steps)
{
    model ref, unfused, fused;
    const size_t es = esize(dt);
    make_model_red(&ref, c->layers, c->n, c->loss, c->red, c->optim, dt, 7);
    make_model_red(&unfused, c->layers, c->n, c->loss, c->red, c->optim, dt, 7);
    make_model_red(&fused, c->layers, c->n, c->loss, c->red, c->optim, dt, 7);
    cnn_net_set_fusion(unfused.net, 0);
    cnn_net_error err;
    CHECK(cnn_net_plan(unfused.net, c->in.ndim, c->in.d, &err) == CNN_OK);
    CHECK(cnn_net_plan(fused.net, c->in.ndim, c->in.d, &err) == CNN_OK);
    int out_ndim;
    int64_t out_shape[CNN_NET_MAX_DIMS], on = 1;
    CHECK(cnn_net_output_shape(fused.net, c->in.ndim, c->in.d, c->n - 1, &out_ndim, out_shape, &err) == CNN_OK);
    for (int d = 0; d < out_ndim; d++) on *= out_shape[d];
    const int64_t xn = numel_of(&c->in);
    void *x = zalloc(xn, es), *t = zalloc(on, c->loss == CNN_LOSS_CROSS_ENTROPY ? sizeof(int64_t) : es);
    void *y_ref = zalloc(on, es), *y_un = zalloc(on, es), *y_fu = zalloc(on, es);
    uint8_t *masks[MAXL] = {0};
    int64_t mask_len[MAXL] = {0};
    for (int64_t i = 0; i < c->n; i++)
        if (c->layers[i].kind == CNN_LAYER_DROPOUT || c->layers[i].kind == CNN_LAYER_DROPOUT2D) {
            int64_t k = 1;
            int nd;
            int64_t sh[CNN_NET_MAX_DIMS];
            cnn_net_output_shape(fused.net, c->in.ndim, c->in.d, i, &nd, sh, &err);
            for (int d = 0; d < (c->layers[i].kind == CNN_LAYER_DROPOUT ? nd : 2); d++) k *= sh[d];
            mask_len[i] = k;
            masks[i] = zalloc(k, 1);
        }
    int bitwise_unfused = 1, bitwise_fused = 1;
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        random_fill(dt, xn, x);
        if (c->loss == CNN_LOSS_CROSS_ENTROPY)
            for (int64_t i = 0; i < on / out_shape[1]; i++)
                ((int64_t *)t)[i] = (int64_t)(uniform01() * (double)out_shape[1]);
        else if (c->loss == CNN_LOSS_BCE_LOGITS || c->loss == CNN_LOSS_BCE)
            for (int64_t i = 0; i < on; i++) set(dt, t, i, uniform01());
        else
            random_fill(dt, on, t);
        for (int64_t i = 0; i < c->n; i++)
            for (int64_t j = 0; j < mask_len[i]; j++) masks[i][j] = uniform01() >= c->layers[i].p;
        set_hparams(&ref, c->optim, c->variant);
        set_hparams(&unfused, c->optim, c->variant);
        set_hparams(&fused, c->optim, c->variant);
        copy_state(&fused, &ref); /* the step's difference, not a trajectory's */
        const double l_ref = ref_step(c->layers, c->n, &ref, x, &c->in, t, c->loss, c->red, c->optim, masks, y_ref);
        cnn_net_step_args a = {0};
        double l_un = -1, l_fu = -1;
        a.x = x;
        a.target = t;
        a.masks = (const uint8_t *const *)masks;
        a.hparams = unfused.hp;
        a.output = y_un;
        CHECK(cnn_net_step(unfused.net, &a, &l_un) == CNN_OK);
        a.hparams = fused.hp;
        a.output = y_fu;
        CHECK(cnn_net_step(fused.net, &a, &l_fu) == CNN_OK);
        bitwise_unfused &= l_un == l_ref && same_bits(y_un, y_ref, on, dt);
        bitwise_fused &= l_fu == l_ref && same_bits(y_fu, y_ref, on, dt);
        worst = fmax(worst, fabs(l_fu - l_ref) / fmax(fabs(l_ref), 1e-30));
        worst = fmax(worst, rel_diff(dt, y_fu, y_ref, on));
        for (int64_t i = 0; i < ref.np; i++) {
            const int64_t k = ref.numel[i];
            bitwise_unfused &= same_bits(unfused.data[i], ref.data[i], k, dt) &&
                               same_bits(unfused.grad[i], ref.grad[i], k, dt);
            bitwise_fused &= same_bits(fused.data[i], ref.data[i], k, dt) && same_bits(fused.grad[i], ref.grad[i], k, dt);
            worst = fmax(worst, rel_diff(dt, fused.grad[i], ref.grad[i], k));
            worst = fmax(worst, rel_diff(dt, fused.data[i], ref.data[i], k));
            for (int q = 0; q < 3; q++) {
                bitwise_unfused &= same_bits(unfused.state[i][q], ref.state[i][q], k, dt);
                bitwise_fused &= same_bits(fused.state[i][q], ref.state[i][q], k, dt);
            }
        }
    }
    const double tol = dt == CNN_FLOAT32 ? 1e-6 : 1e-13;
    printf("  %-28s %s: unfused %s, fused %s (max rel diff %.1e)\n", c->name, dt == CNN_FLOAT32 ? "f32" : "f64",
           bitwise_unfused ? "bitwise" : "DIFFERS", bitwise_fused ? "bitwise" : "differs", worst);
    CHECK(bitwise_unfused);
    CHECK(worst <= tol);
    for (int64_t i = 0; i < c->n; i++) free(masks[i]);
    free(x);
    free(t);
    free(y_ref);
    free(y_un);
    free(y_fu);
    free_model(&ref);
    free_model(&unfused);
    free_model(&fused);
}

static void set_shape(shape4 *s, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    s->ndim = ndim;
    s->d[0] = a;
    s->d[1] = b;
    s->d[2] = c;
    s->d[3] = d;
}

static void test_against_engine_calls(void)
{
    static net_case c;
    printf("compiled steps against the same layers as engine calls (%s):\n", cnn_isa_name(cnn_get_isa()));
    /* GausNet (conv-relu-avgpool twice, linear, linear), BCE with logits, Adam */
    memset(&c, 0, sizeof c);
    c.name = "GausNet 18x18";
    c.n = gausnet(c.layers, 18, CNN_LAYER_AVGPOOL);
    set_shape(&c.in, 4, 4, 1, 18, 18);
    c.loss = CNN_LOSS_BCE_LOGITS;
    c.optim = CNN_OPTIM_ADAM;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 3);
    /* full-size images: the first group's conv-output gradient (12 x 6 x 91 x 91) is large, so its
     * weight gradient is taken image by image in cache */
    c.name = "GausNet 91x91 (per image)";
    c.n = gausnet(c.layers, 91, CNN_LAYER_AVGPOOL);
    set_shape(&c.in, 4, 12, 1, 91, 91);
    check_case(&c, CNN_FLOAT32, 2);
    /* the Gaussian autoencoder (maxpool, transpose convolutions), MSE, Adam with amsgrad */
    memset(&c, 0, sizeof c);
    c.name = "Gaussian AE 19x19";
    c.n = gaussian_ae(c.layers);
    set_shape(&c.in, 4, 3, 1, 19, 19);
    c.loss = CNN_LOSS_MSE;
    c.optim = CNN_OPTIM_ADAM;
    c.variant = 1;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    /* the course's MNIST net (conv-maxpool-relu), cross entropy, AdamW */
    memset(&c, 0, sizeof c);
    c.name = "MNIST net 20x20";
    c.layers[0] = conv(2, 1, 5, 5, 1, 1);
    c.layers[1] = pool(2, CNN_LAYER_MAXPOOL, 2);
    c.layers[2] = simple(CNN_LAYER_RELU);
    c.layers[3] = conv(2, 5, 6, 5, 1, 1);
    c.layers[4] = pool(2, CNN_LAYER_MAXPOOL, 2);
    c.layers[5] = simple(CNN_LAYER_RELU);
    c.layers[6] = simple(CNN_LAYER_FLATTEN);
    c.layers[7] = linear(54, 16);
    c.layers[8] = simple(CNN_LAYER_RELU);
    c.layers[9] = linear(16, 10);
    c.n = 10;
    set_shape(&c.in, 4, 4, 1, 20, 20);
    c.loss = CNN_LOSS_CROSS_ENTROPY;
    c.optim = CNN_OPTIM_ADAM;
    c.variant = 2;
    check_case(&c, CNN_FLOAT32, 3);
    /* reflect padding, a flipped kernel, groups, sigmoid before average pooling, dropout, leaky
     * relu before average pooling, adaptive max pooling, tanh, a tied linear, SGD with Nesterov */
    memset(&c, 0, sizeof c);
    c.name = "padding modes, tied linear";
    c.layers[0] = conv(2, 2, 4, 3, 1, 1);
    c.layers[0].conv.pad_mode = CNN_PAD_REFLECT;
    c.layers[0].conv.pad_bottom = 2;
    c.layers[0].conv.flip = 1;
    c.layers[0].conv.groups = 2;
    c.layers[1] = simple(CNN_LAYER_SIGMOID);
    c.layers[2] = pool(2, CNN_LAYER_AVGPOOL, 2);
    c.layers[3] = simple(CNN_LAYER_DROPOUT);
    c.layers[3].p = 0.3;
    c.layers[4] = conv(2, 4, 6, 3, 1, 1);
    c.layers[4].conv.pad_mode = CNN_PAD_CIRCULAR;
    c.layers[5] = simple(CNN_LAYER_LEAKY_RELU);
    c.layers[5].negative_slope = 0.1;
    c.layers[6] = pool(2, CNN_LAYER_AVGPOOL, 2);
    c.layers[7] = simple(CNN_LAYER_ADAPTIVE_MAXPOOL);
    c.layers[7].spatial_dims = 2;
    c.layers[7].adaptive.out_h = c.layers[7].adaptive.out_w = 2;
    c.layers[8] = simple(CNN_LAYER_FLATTEN);
    c.layers[9] = linear(24, 8);
    c.layers[10] = simple(CNN_LAYER_TANH);
    c.layers[11] = simple(CNN_LAYER_TIED_LINEAR);
    c.layers[11].tied.layer = 9;
    c.layers[11].tied.bias = 1;
    c.layers[12] = linear(24, 3);
    c.layers[13] = simple(CNN_LAYER_SOFTMAX);
    c.n = 14;
    set_shape(&c.in, 4, 3, 2, 17, 17);
    c.loss = CNN_LOSS_MSE;
    c.optim = CNN_OPTIM_SGD;
    c.variant = 1;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    /* a tied transpose convolution, tanh before max pooling, pooling with padding and ceil_mode
     * (not fused), leaky relu with a negative slope (not fused), RMSprop centered with momentum */
    memset(&c, 0, sizeof c);
    c.name = "tied transpose conv";
    c.layers[0] = conv(2, 1, 4, 3, 1, 1);
    c.layers[1] = simple(CNN_LAYER_TANH);
    c.layers[2] = pool(2, CNN_LAYER_MAXPOOL, 2);
    c.layers[3] = conv(2, 4, 4, 3, 2, 0);
    c.layers[4] = simple(CNN_LAYER_LEAKY_RELU);
    c.layers[4].negative_slope = -0.2;
    c.layers[5] = simple(CNN_LAYER_TIED_CONV_TRANSPOSE);
    c.layers[5].spatial_dims = 2;
    c.layers[5].tied.layer = 3;
    c.layers[5].tied.stride_h = c.layers[5].tied.stride_w = 2;
    c.layers[5].tied.output_padding_h = c.layers[5].tied.output_padding_w = 1;
    c.layers[5].tied.bias = 1;
    c.layers[6] = pool(2, CNN_LAYER_AVGPOOL, 3);
    c.layers[6].pool.stride_h = c.layers[6].pool.stride_w = 2;
    c.layers[6].pool.pad_h = c.layers[6].pool.pad_w = 1;
    c.layers[6].pool.ceil_mode = 1;
    c.layers[6].pool.count_include_pad = 0;
    c.layers[7] = simple(CNN_LAYER_SIGMOID);
    c.layers[8] = simple(CNN_LAYER_FLATTEN);
    c.layers[9] = linear(196, 5);
    c.n = 10;
    set_shape(&c.in, 4, 2, 1, 22, 22);
    c.loss = CNN_LOSS_CROSS_ENTROPY;
    c.optim = CNN_OPTIM_RMSPROP;
    c.variant = 3;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    /* 1-D: circular padding, max pooling then relu, average pooling then tanh, adaptive average */
    memset(&c, 0, sizeof c);
    c.name = "1-D convolutions";
    c.layers[0] = conv(1, 3, 4, 5, 1, 2);
    c.layers[0].conv.pad_mode = CNN_PAD_REPLICATE;
    c.layers[1] = pool(1, CNN_LAYER_MAXPOOL, 3);
    c.layers[2] = simple(CNN_LAYER_RELU);
    c.layers[3] = conv(1, 4, 4, 3, 1, 1);
    c.layers[4] = pool(1, CNN_LAYER_AVGPOOL, 2);
    c.layers[5] = simple(CNN_LAYER_TANH);
    c.layers[6] = simple(CNN_LAYER_FLATTEN);
    c.layers[7] = linear(20, 4);
    c.n = 8;
    set_shape(&c.in, 3, 5, 3, 30, 0);
    c.loss = CNN_LOSS_CROSS_ENTROPY;
    c.optim = CNN_OPTIM_ADAM;
    check_case(&c, CNN_FLOAT32, 3);
    /* 1-D: symmetric padding, conv + relu fused without pooling, a strided grouped transpose
     * convolution with output padding, unflatten, L1 summed, SGD */
    memset(&c, 0, sizeof c);
    c.name = "1-D transpose, unflatten";
    c.layers[0] = conv(1, 3, 6, 3, 1, 1);
    c.layers[0].conv.pad_mode = CNN_PAD_SYMMETRIC;
    c.layers[1] = simple(CNN_LAYER_RELU);
    c.layers[2] = simple(CNN_LAYER_CONV_TRANSPOSE);
    c.layers[2].spatial_dims = 1;
    c.layers[2].conv_transpose.in_channels = 6;
    c.layers[2].conv_transpose.out_channels = 4;
    c.layers[2].conv_transpose.kernel_w = 3;
    c.layers[2].conv_transpose.stride_w = 2;
    c.layers[2].conv_transpose.output_padding_w = 1;
    c.layers[2].conv_transpose.dilation_w = 1;
    c.layers[2].conv_transpose.groups = 2;
    c.layers[2].conv_transpose.bias = 1;
    c.layers[3] = simple(CNN_LAYER_TANH);
    c.layers[4] = pool(1, CNN_LAYER_AVGPOOL, 2);
    c.layers[5] = simple(CNN_LAYER_FLATTEN);
    c.layers[6] = linear(84, 6);
    c.layers[7] = simple(CNN_LAYER_UNFLATTEN);
    c.layers[7].unflatten.dim = 1;
    c.layers[7].unflatten.ndims = 2;
    c.layers[7].unflatten.sizes[0] = 2;
    c.layers[7].unflatten.sizes[1] = 3;
    c.layers[8] = simple(CNN_LAYER_FLATTEN);
    c.n = 9;
    set_shape(&c.in, 3, 4, 3, 20, 0);
    c.loss = CNN_LOSS_L1;
    c.red = CNN_REDUCE_SUM;
    c.optim = CNN_OPTIM_SGD;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    /* a constant fill of 0.5, dilation, max pooling with padding and dilation (not fused),
     * channel dropout, sigmoid before average pooling with divisor_override (fused, keeping the
     * activation), adaptive average pooling, BCE on probabilities without reduction */
    memset(&c, 0, sizeof c);
    c.name = "dilation, dropout2d, BCE";
    c.layers[0] = conv(2, 2, 4, 3, 1, 1);
    c.layers[0].conv.pad_mode = CNN_PAD_CONSTANT;
    c.layers[0].conv.pad_value = 0.5;
    c.layers[0].conv.dilation_h = c.layers[0].conv.dilation_w = 2;
    c.layers[1] = simple(CNN_LAYER_RELU);
    c.layers[2] = pool(2, CNN_LAYER_MAXPOOL, 3);
    c.layers[2].pool.stride_h = c.layers[2].pool.stride_w = 2;
    c.layers[2].pool.pad_h = c.layers[2].pool.pad_w = 1;
    c.layers[2].pool.dilation_h = c.layers[2].pool.dilation_w = 2;
    c.layers[3] = simple(CNN_LAYER_DROPOUT2D);
    c.layers[3].p = 0.4;
    c.layers[4] = conv(2, 4, 4, 1, 1, 0);
    c.layers[5] = simple(CNN_LAYER_SIGMOID);
    c.layers[6] = pool(2, CNN_LAYER_AVGPOOL, 2);
    c.layers[6].pool.divisor_override = 3;
    c.layers[7] = simple(CNN_LAYER_ADAPTIVE_AVGPOOL);
    c.layers[7].spatial_dims = 2;
    c.layers[7].adaptive.out_h = c.layers[7].adaptive.out_w = 3;
    c.layers[8] = simple(CNN_LAYER_FLATTEN);
    c.layers[9] = linear(36, 5);
    c.layers[10] = simple(CNN_LAYER_SIGMOID);
    c.n = 11;
    set_shape(&c.in, 4, 3, 2, 20, 20);
    c.loss = CNN_LOSS_BCE;
    c.red = CNN_REDUCE_NONE;
    c.optim = CNN_OPTIM_ADAM;
    c.variant = 1;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    /* padding "same" at stride 2, leaky relu before max pooling and relu after average pooling
     * (both fused), conv + tanh fused without pooling, correlation loss, RMSprop */
    memset(&c, 0, sizeof c);
    c.name = "same padding, correlation";
    c.layers[0] = conv(2, 1, 3, 3, 2, 0);
    c.layers[0].conv.same_h = c.layers[0].conv.same_w = 1;
    c.layers[1] = simple(CNN_LAYER_LEAKY_RELU);
    c.layers[1].negative_slope = 0.2;
    c.layers[2] = pool(2, CNN_LAYER_MAXPOOL, 2);
    c.layers[3] = conv(2, 3, 4, 3, 1, 1);
    c.layers[4] = pool(2, CNN_LAYER_AVGPOOL, 2);
    c.layers[5] = simple(CNN_LAYER_RELU);
    c.layers[6] = conv(2, 4, 2, 1, 1, 0);
    c.layers[7] = simple(CNN_LAYER_TANH);
    c.layers[8] = simple(CNN_LAYER_FLATTEN);
    c.n = 9;
    set_shape(&c.in, 4, 2, 1, 15, 15);
    c.loss = CNN_LOSS_CORRELATION;
    c.red = CNN_REDUCE_MEAN;
    c.optim = CNN_OPTIM_RMSPROP;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    {
        model m;
        cnn_net_error err;
        int nd;
        int64_t sh[CNN_NET_MAX_DIMS];
        make_model(&m, c.layers, 1, CNN_LOSS_NONE, CNN_OPTIM_NONE, CNN_FLOAT32, 1);
        CHECK(cnn_net_output_shape(m.net, 4, c.in.d, 0, &nd, sh, &err) == CNN_OK && sh[2] == 8 && sh[3] == 8);
        free_model(&m);
    }
    /* transpose convolutions at the geometries their plan treats apart: k4 s2 p1 + relu (fused),
     * k3 s2 p0 output_padding 1 with groups (unfused: max pooling with overlapping windows, the
     * compact argmax, follows), and a dilation and padding so large next to the image that the
     * general path runs (+ tanh, fused); then max pooling over 256 taps (flat indices) */
    memset(&c, 0, sizeof c);
    c.name = "transpose geometries";
    c.layers[0] = convt(2, 4, 4, 2);
    c.layers[0].conv_transpose.pad_h = c.layers[0].conv_transpose.pad_w = 1;
    c.layers[1] = simple(CNN_LAYER_RELU);
    c.layers[2] = convt(4, 4, 3, 2);
    c.layers[2].conv_transpose.output_padding_h = c.layers[2].conv_transpose.output_padding_w = 1;
    c.layers[2].conv_transpose.groups = 2;
    c.layers[3] = pool(2, CNN_LAYER_MAXPOOL, 3);
    c.layers[3].pool.stride_h = c.layers[3].pool.stride_w = 2;
    c.layers[3].pool.pad_h = c.layers[3].pool.pad_w = 1;
    c.layers[4] = convt(4, 2, 3, 1);
    c.layers[4].conv_transpose.dilation_h = c.layers[4].conv_transpose.dilation_w = 600;
    c.layers[4].conv_transpose.pad_h = c.layers[4].conv_transpose.pad_w = 600;
    c.layers[5] = simple(CNN_LAYER_TANH);
    c.layers[6] = convt(2, 1, 2, 3); /* 13 -> 38: phases of one tap, stride > kernel */
    c.layers[6].conv_transpose.bias = 0;
    c.layers[7] = pool(2, CNN_LAYER_MAXPOOL, 16);
    c.layers[7].pool.ceil_mode = 1;
    c.layers[8] = simple(CNN_LAYER_FLATTEN);
    c.layers[9] = linear(9, 3);
    c.n = 10;
    set_shape(&c.in, 4, 2, 2, 6, 6);
    c.loss = CNN_LOSS_MSE;
    c.optim = CNN_OPTIM_ADAM;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
    /* 1-D: k4 s2 p1 + leaky relu (fused), then a stride-1 transpose with dilation, no bias */
    memset(&c, 0, sizeof c);
    c.name = "1-D transpose k4 s2 p1";
    c.layers[0] = convt(3, 4, 4, 2);
    c.layers[0].spatial_dims = 1;
    c.layers[0].conv_transpose.pad_w = 1;
    c.layers[1] = simple(CNN_LAYER_LEAKY_RELU);
    c.layers[1].negative_slope = 0.1;
    c.layers[2] = convt(4, 2, 3, 1);
    c.layers[2].spatial_dims = 1;
    c.layers[2].conv_transpose.dilation_w = 2;
    c.layers[2].conv_transpose.bias = 0;
    c.layers[3] = simple(CNN_LAYER_FLATTEN);
    c.n = 4;
    set_shape(&c.in, 3, 3, 3, 9, 0);
    c.loss = CNN_LOSS_MSE;
    c.optim = CNN_OPTIM_SGD;
    check_case(&c, CNN_FLOAT32, 3);
    check_case(&c, CNN_FLOAT64, 2);
}

/* ---- GausNet trained through the C API alone --------------------------------------------------- */

/* Page faults of this process so far: minor faults (ru_minflt) on POSIX; on Windows every fault,
 * soft ones included (PageFaultCount), which a steady-state step must not cause either. */
static long minor_faults(void)
{
#ifdef _WIN32
    PROCESS_MEMORY_COUNTERS c;
    K32GetProcessMemoryInfo(GetCurrentProcess(), &c, sizeof c);
    return (long)c.PageFaultCount;
#else
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
#endif
}

static void test_gausnet_trains(void)
{
    cnn_layer_desc L[9];
    model m;
    const int64_t s = 91, batch = 32, images = 256;
    const int steps = SANITIZED ? 24 : 48;
    const int64_t n = gausnet(L, s, CNN_LAYER_AVGPOOL);
    make_model(&m, L, n, CNN_LOSS_BCE_LOGITS, CNN_OPTIM_ADAM, CNN_FLOAT32, 3);
    const int64_t shape[4] = {batch, 1, s, s};
    cnn_net_error err;
    CHECK(cnn_net_plan(m.net, 4, shape, &err) == CNN_OK);
    float *x = zalloc(images * s * s, sizeof(float)), *y = zalloc(images, sizeof(float));
    rng_state = 12345;
    gaussian_images(CNN_FLOAT32, images, s, x, y);
    double first = 0, last = 0;
    long faults = 0;
    cnn_net_step_args a = {0};
    a.hparams = m.hp;
    for (int k = 0; k < steps; k++) {
        const int64_t b = k % (images / batch);
        double loss;
        a.x = x + b * batch * s * s;
        a.target = y + b * batch;
        set_hparams(&m, CNN_OPTIM_ADAM, 0);
        const long before = minor_faults();
        CHECK(cnn_net_step(m.net, &a, &loss) == CNN_OK);
        if (k >= 2) faults += minor_faults() - before; /* steady state: the pool's threads exist */
        if (k < 8) first += loss / 8;
        if (k >= steps - 8) last += loss / 8;
    }
    printf("GausNet 91x91, batch 32: mean loss of the first 8 steps %.4f, of the last 8 %.4f; "
           "%ld page faults in %d steady-state steps; arena %.1f MB\n",
           first, last, faults, steps - 2, (double)cnn_net_arena_bytes(m.net) / 1e6);
    CHECK(last < first - 0.05);
    /* An allocation per step faults on every step; a virtual machine's host also takes a stray
     * minor fault now and then (1 in 46 steps here, on a build that allocates nothing). */
    if (!SANITIZED) CHECK(faults <= 2);
    /* inference: eval semantics, the same output the step computed before its update */
    float *out = zalloc(batch, sizeof(float)), *pred = zalloc(batch, sizeof(float));
    a.output = out;
    a.hparams = NULL; /* gradients only: the parameters stay */
    double loss;
    CHECK(cnn_net_step(m.net, &a, &loss) == CNN_OK);
    CHECK(cnn_net_forward(m.net, a.x, pred) == CNN_OK);
    CHECK(same_bits(out, pred, batch, CNN_FLOAT32));
    free(out);
    free(pred);
    free(x);
    free(y);
    free_model(&m);
}

/* Alternating between two batch sizes (the last, smaller batch of an epoch) switches between two
 * kept plans: after the first round, no allocation and no page fault. */
static void test_two_shapes(void)
{
    cnn_layer_desc L[9];
    model m;
    const int64_t n = gausnet(L, 18, CNN_LAYER_MAXPOOL);
    make_model(&m, L, n, CNN_LOSS_BCE_LOGITS, CNN_OPTIM_ADAM, CNN_FLOAT32, 4);
    float x[16 * 18 * 18], t[16];
    rng_state = 8;
    random_fill(CNN_FLOAT32, 16 * 18 * 18, x);
    for (int i = 0; i < 16; i++) t[i] = uniform01() < 0.5;
    cnn_net_step_args a = {0};
    a.x = x;
    a.target = t;
    a.hparams = m.hp;
    long faults = 0;
    for (int round = 0; round < 4; round++)
        for (int64_t batch = 16; batch >= 5; batch -= 11) {
            const int64_t shape[4] = {batch, 1, 18, 18};
            cnn_net_error err;
            double loss;
            const long before = minor_faults();
            CHECK(cnn_net_plan(m.net, 4, shape, &err) == CNN_OK);
            set_hparams(&m, CNN_OPTIM_ADAM, 0);
            CHECK(cnn_net_step(m.net, &a, &loss) == CNN_OK);
            if (round >= 2) faults += minor_faults() - before;
        }
    printf("alternating batches of 16 and 5: %ld page faults in the last 4 steps\n", faults);
    if (!SANITIZED) CHECK(faults <= 1); /* a stray fault of the host, as above; not one per step */
    free_model(&m);
}

/* ---- thread counts ------------------------------------------------------------------------------------ */

/* Steps of `layers` with `threads` threads from the same start: parameters and loss after them. */
static void run_threads(const cnn_layer_desc *L, int64_t n, const int64_t *shape, cnn_loss_kind loss,
                        int threads, double *losses, model *m, int with_dropout_masks)
{
    CHECK(cnn_set_num_threads(threads) == CNN_OK);
    make_model(m, L, n, loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 11);
    cnn_net_error err;
    CHECK(cnn_net_plan(m->net, 4, shape, &err) == CNN_OK);
    const int64_t xn = shape[0] * shape[1] * shape[2] * shape[3];
    float *x = zalloc(xn, sizeof(float)), *t = zalloc(xn, sizeof(float));
    rng_state = 777;
    gaussian_images(CNN_FLOAT32, shape[0], shape[2], x, t);
    cnn_net_step_args a = {0};
    a.x = x;
    a.target = loss == CNN_LOSS_MSE ? (const void *)x : (const void *)t;
    a.hparams = m->hp;
    (void)with_dropout_masks; /* NULL masks: the network draws its own */
    for (int k = 0; k < 3; k++) {
        set_hparams(m, CNN_OPTIM_ADAM, 0);
        CHECK(cnn_net_step(m->net, &a, &losses[k]) == CNN_OK);
    }
    free(x);
    free(t);
}

static void test_threads_bitwise(void)
{
    cnn_layer_desc L[12];
    const int64_t before = cnn_set_min_part_work(1); /* split even small loops */
    const int64_t s = SANITIZED ? 45 : 91;
    for (int which = 0; which < 2; which++) {
        int64_t n;
        cnn_loss_kind loss;
        if (which == 0) { /* GausNet with dropout after each block (the dropout practice) */
            const int64_t q = s / 4;
            L[0] = conv(2, 1, 6, 3, 1, 1), L[1] = simple(CNN_LAYER_RELU), L[2] = pool(2, CNN_LAYER_AVGPOOL, 2);
            L[3] = simple(CNN_LAYER_DROPOUT), L[3].p = 0.25;
            L[4] = conv(2, 6, 4, 3, 1, 1), L[5] = simple(CNN_LAYER_RELU), L[6] = pool(2, CNN_LAYER_AVGPOOL, 2);
            L[7] = simple(CNN_LAYER_DROPOUT2D), L[7].p = 0.25;
            L[8] = simple(CNN_LAYER_FLATTEN), L[9] = linear(4 * q * q, 50), L[10] = linear(50, 1);
            n = 11;
            loss = CNN_LOSS_BCE_LOGITS;
        } else {
            n = gaussian_ae(L);
            loss = CNN_LOSS_MSE;
        }
        const int64_t shape[4] = {8, 1, which == 0 ? s : 91, which == 0 ? s : 91};
        double l1[3], l2[3];
        model a, b;
        run_threads(L, n, shape, loss, 1, l1, &a, 0);
        run_threads(L, n, shape, loss, 2, l2, &b, 0);
        int same = memcmp(l1, l2, sizeof l1) == 0;
        for (int64_t i = 0; i < a.np; i++)
            same &= same_bits(a.data[i], b.data[i], a.numel[i], CNN_FLOAT32) &&
                    same_bits(a.grad[i], b.grad[i], a.numel[i], CNN_FLOAT32);
        printf("%s: 1 and 2 threads %s\n", which == 0 ? "GausNet with dropout" : "Gaussian autoencoder",
               same ? "bitwise identical" : "DIFFER");
        CHECK(same);
        free_model(&a);
        free_model(&b);
    }
    cnn_set_min_part_work(before);
    cnn_set_num_threads(2);
}

/* ---- errors: refused with the layer and the field, nothing written ---------------------------- */

static void test_errors(void)
{
    cnn_layer_desc L[9];
    cnn_net *net = NULL;
    cnn_net_error err;
    cnn_loss_desc loss = {CNN_LOSS_CROSS_ENTROPY, CNN_REDUCE_MEAN, -100, 0.0};
    const int64_t n = gausnet(L, 18, CNN_LAYER_MAXPOOL);
    L[8] = linear(50, 3);
    L[3].conv.kernel_w = 0;
    CHECK(cnn_net_create(L, n, &loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 0, &net, &err) == CNN_EINVAL);
    CHECK(net == NULL && err.layer == 3 && strcmp(err.field, "kernel_w") == 0);
    L[3].conv.kernel_w = 3;
    L[5].pool.pad_w = 2; /* more than half the window */
    CHECK(cnn_net_create(L, n, &loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 0, &net, &err) == CNN_EINVAL);
    CHECK(err.layer == 5 && strcmp(err.field, "pad_w") == 0);
    L[5].pool.pad_w = 0;
    CHECK(cnn_net_create(L, n, &loss, (cnn_optim_kind)9, CNN_FLOAT32, 0, &net, &err) == CNN_EINVAL);
    CHECK(err.layer == CNN_NET_WHERE_OPTIM);
    loss.label_smoothing = 2;
    CHECK(cnn_net_create(L, n, &loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 0, &net, &err) == CNN_EINVAL);
    CHECK(err.layer == CNN_NET_WHERE_LOSS && strcmp(err.field, "label_smoothing") == 0);
    loss.label_smoothing = 0;
    cnn_layer_desc tied = simple(CNN_LAYER_TIED_LINEAR);
    tied.tied.layer = 0; /* a convolution, not a linear layer */
    cnn_layer_desc two[2] = {L[0], tied};
    CHECK(cnn_net_create(two, 2, &loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 0, &net, &err) == CNN_EINVAL);
    CHECK(err.layer == 1 && strcmp(err.field, "layer") == 0);

    model m;
    make_model(&m, L, n, CNN_LOSS_CROSS_ENTROPY, CNN_OPTIM_ADAM, CNN_FLOAT32, 5);
    const int64_t wrong[4] = {4, 2, 18, 18}, small[4] = {4, 1, 3, 3}, right[4] = {4, 1, 18, 18};
    CHECK(cnn_net_plan(m.net, 4, wrong, &err) == CNN_ESHAPE && err.layer == 0 && strcmp(err.field, "in_channels") == 0);
    CHECK(cnn_net_plan(m.net, 4, small, &err) != CNN_OK && err.layer >= 2);
    CHECK(cnn_net_plan(m.net, 3, right, &err) == CNN_ESHAPE && err.layer == 0);
    int64_t bad_features[4] = {4, 1, 22, 22}; /* the flattened size no longer fits Linear(64, 50) */
    CHECK(cnn_net_plan(m.net, 4, bad_features, &err) == CNN_ESHAPE && err.layer == 7 &&
          strcmp(err.field, "in_features") == 0);
    cnn_net_step_args a = {0};
    double value = -1;
    float x[4 * 18 * 18];
    int64_t t[4] = {0, 1, 2, 7}; /* 7 is no class */
    rng_state = 5;
    random_fill(CNN_FLOAT32, 4 * 18 * 18, x);
    a.x = x;
    a.target = t;
    a.hparams = m.hp;
    set_hparams(&m, CNN_OPTIM_ADAM, 0);
    CHECK(cnn_net_step(m.net, &a, &value) == CNN_EINVAL); /* no plan yet */
    CHECK(cnn_net_plan(m.net, 4, right, &err) == CNN_OK);
    /* copies of everything the caller owns: a refused step must leave it as it was */
    void *saved[64][5];
    for (int64_t i = 0; i < m.np; i++) {
        void *arrays[5] = {m.data[i], m.grad[i], m.state[i][0], m.state[i][1], m.state[i][2]};
        for (int k = 0; k < 5; k++) {
            saved[i][k] = zalloc(m.numel[i], sizeof(float));
            memcpy(saved[i][k], arrays[k], (size_t)m.numel[i] * sizeof(float));
        }
    }
    CHECK(cnn_net_step(m.net, &a, &value) == CNN_EINDEX && value == -1);
    CHECK(cnn_net_last_error(m.net)->layer == CNN_NET_WHERE_LOSS);
    t[3] = 2;
    m.hp[4].step = 0; /* Adam counts from 1 */
    CHECK(cnn_net_step(m.net, &a, &value) == CNN_EINVAL && value == -1);
    CHECK(cnn_net_last_error(m.net)->param == 4 && strcmp(cnn_net_last_error(m.net)->field, "step") == 0);
    m.hp[4].step = 1;
    CHECK(cnn_net_bind_param(m.net, 2, m.data[2], NULL, m.state[2][0], m.state[2][1], NULL) == CNN_OK);
    CHECK(cnn_net_step(m.net, &a, &value) == CNN_EINVAL && value == -1);
    CHECK(cnn_net_last_error(m.net)->param == 2 && strcmp(cnn_net_last_error(m.net)->field, "grad") == 0);
    CHECK(cnn_net_bind_param(m.net, 2, m.data[2], m.data[2], NULL, NULL, NULL) == CNN_EINVAL);
    int untouched = 1;
    for (int64_t i = 0; i < m.np; i++) {
        void *arrays[5] = {m.data[i], m.grad[i], m.state[i][0], m.state[i][1], m.state[i][2]};
        for (int k = 0; k < 5; k++) {
            untouched &= memcmp(saved[i][k], arrays[k], (size_t)m.numel[i] * sizeof(float)) == 0;
            free(saved[i][k]);
        }
    }
    CHECK(untouched);
    CHECK(cnn_net_bind_param(m.net, 2, m.data[2], m.grad[2], m.state[2][0], m.state[2][1], NULL) == CNN_OK);
    CHECK(cnn_net_step(m.net, &a, &value) == CNN_OK && value > 0);
    /* a parameter outside the optimizer: its gradient computed, its values and state left */
    float keep[54];
    memcpy(keep, m.data[0], sizeof keep);
    m.hp[0].skip = 1;
    CHECK(cnn_net_bind_param(m.net, 0, m.data[0], m.grad[0], NULL, NULL, NULL) == CNN_OK);
    CHECK(cnn_net_step(m.net, &a, &value) == CNN_OK);
    CHECK(memcmp(keep, m.data[0], sizeof keep) == 0 && ((float *)m.grad[0])[0] != 0);
    CHECK(cnn_net_bind_loss_weights(m.net, NULL, x) == CNN_EINVAL); /* pos_weight: BCE with logits only */
    CHECK(cnn_net_param_shape(m.net, m.np, NULL, NULL, NULL, NULL, NULL) == CNN_EINVAL);
    free_model(&m);
    cnn_net_destroy(NULL);
}

/* ---- dropout: the network's own masks ---------------------------------------------------------- */

static void test_own_dropout_masks(void)
{
    cnn_layer_desc L[2] = {linear(64, 64), simple(CNN_LAYER_DROPOUT)};
    model m;
    L[1].p = 0.3;
    make_model(&m, L, 2, CNN_LOSS_MSE, CNN_OPTIM_NONE, CNN_FLOAT64, 1);
    const int64_t shape[2] = {64, 64};
    cnn_net_error err;
    CHECK(cnn_net_plan(m.net, 2, shape, &err) == CNN_OK);
    double *x = zalloc(64 * 64, sizeof(double)), *y = zalloc(64 * 64, sizeof(double));
    double *t = zalloc(64 * 64, sizeof(double)), *z = zalloc(64 * 64, sizeof(double));
    for (int64_t i = 0; i < 64 * 64; i++) x[i] = 1 + uniform01();
    cnn_net_step_args a = {0};
    double loss;
    a.x = x;
    a.target = t;
    a.output = y;
    CHECK(cnn_net_step(m.net, &a, &loss) == CNN_OK);
    CHECK(cnn_net_forward(m.net, x, z) == CNN_OK); /* eval: nothing dropped */
    int64_t dropped = 0, scaled = 0;
    for (int64_t i = 0; i < 64 * 64; i++) {
        dropped += y[i] == 0;
        scaled += y[i] != 0 && fabs(y[i] - z[i] / 0.7) <= 1e-12 * fabs(y[i]);
    }
    printf("own dropout masks: %lld of 4096 dropped (p = 0.3)\n", (long long)dropped);
    CHECK(dropped > 4096 * 0.25 && dropped < 4096 * 0.35 && dropped + scaled == 4096);
    const uint8_t off[2] = {1, 0}; /* the dropout layer in eval mode */
    a.training = off;
    CHECK(cnn_net_step(m.net, &a, &loss) == CNN_OK);
    CHECK(same_bits(y, z, 64 * 64, CNN_FLOAT64));
    free(x);
    free(y);
    free(t);
    free(z);
    free_model(&m);
}

/* ---- timing (test_net bench) ------------------------------------------------------------------------- */

/* Seconds of wall time (any origin) and of this process's CPU time. */
static double wall_s(void)
{
#ifdef _WIN32
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (double)t.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

static double cpu_s(void)
{
#ifdef _WIN32
    return (double)clock() / CLOCKS_PER_SEC;
#else
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#ifdef CNN_NET_PROFILE /* net_run.c built with it: seconds per op, forward and backward */
extern double cnn_net_profile[64][2];
extern int64_t cnn_net_profile_ops[64][2];
extern int64_t cnn_net_profile_n;
#endif

/* The lecture's networks as test_net bench times them (cnnpy/models.py; benchmarks/net_vs_torch.py
 * times the same ones in PyTorch): layers, input shape, loss, optimizer (Adam; AdamW for the
 * MNIST net). */
typedef struct {
    const char *name;
    cnn_layer_desc L[MAXL];
    int64_t n;
    int ndim;
    int64_t shape[4];
    cnn_loss_kind loss;
    int variant; /* set_hparams' Adam variant: 2 = AdamW (weight decay 0.01) */
} bench_model;

static int bench_models(bench_model *b)
{
    memset(b, 0, 5 * sizeof *b);
    b[0].name = "GausNet";
    b[0].n = gausnet(b[0].L, 91, CNN_LAYER_AVGPOOL);
    b[0].loss = CNN_LOSS_BCE_LOGITS;
    b[1].name = "Gaussian autoencoder";
    b[1].n = gaussian_ae(b[1].L);
    b[1].loss = CNN_LOSS_MSE;
    b[2].name = "All-Conv";
    b[2].n = gausnet(b[2].L, 91, CNN_LAYER_AVGPOOL);
    b[2].L[2] = conv(2, 6, 6, 2, 2, 0);
    b[2].L[5] = conv(2, 4, 4, 2, 2, 0);
    b[2].loss = CNN_LOSS_BCE_LOGITS;
    for (int i = 0; i < 3; i++) {
        b[i].ndim = 4;
        b[i].shape[0] = 32, b[i].shape[1] = 1, b[i].shape[2] = 91, b[i].shape[3] = 91;
    }
    b[3].name = "MnistNet";
    b[3].L[0] = conv(2, 1, 10, 5, 1, 1);
    b[3].L[1] = pool(2, CNN_LAYER_MAXPOOL, 2);
    b[3].L[2] = simple(CNN_LAYER_RELU);
    b[3].L[3] = conv(2, 10, 20, 5, 1, 1);
    b[3].L[4] = pool(2, CNN_LAYER_MAXPOOL, 2);
    b[3].L[5] = simple(CNN_LAYER_RELU);
    b[3].L[6] = simple(CNN_LAYER_FLATTEN);
    b[3].L[7] = linear(500, 50);
    b[3].L[8] = simple(CNN_LAYER_RELU);
    b[3].L[9] = linear(50, 10);
    b[3].n = 10;
    b[3].ndim = 4;
    b[3].shape[0] = 32, b[3].shape[1] = 1, b[3].shape[2] = 28, b[3].shape[3] = 28;
    b[3].loss = CNN_LOSS_CROSS_ENTROPY;
    b[3].variant = 2;
    b[4].name = "dense autoencoder";
    const int64_t sz[5] = {784, 250, 50, 250, 784};
    for (int i = 0; i < 4; i++) {
        b[4].L[2 * i] = linear(sz[i], sz[i + 1]);
        b[4].L[2 * i + 1] = simple(i == 3 ? CNN_LAYER_SIGMOID : CNN_LAYER_RELU);
    }
    b[4].n = 8;
    b[4].ndim = 2;
    b[4].shape[0] = 32, b[4].shape[1] = 784;
    b[4].loss = CNN_LOSS_MSE;
    return 5;
}

/* Median milliseconds of a step of the network: compiled (fused), and unless `quick`, compiled
 * without fusion and as separate engine calls. */
static void bench_case(const bench_model *b, int repeats, int quick)
{
    const int64_t N = b->shape[0];
    int64_t xn = 1;
    for (int d = 0; d < b->ndim; d++) xn *= b->shape[d];
    float *x = zalloc(xn, sizeof(float)), *t = zalloc(xn, sizeof(float));
    int64_t *labels = zalloc(N, sizeof(int64_t));
    rng_state = 31;
    if (b->ndim == 4 && b->shape[2] == 91) {
        gaussian_images(CNN_FLOAT32, N, 91, x, t);
    } else {
        for (int64_t i = 0; i < xn; i++) x[i] = (float)uniform01();
        for (int64_t i = 0; i < N; i++) labels[i] = (int64_t)(uniform01() * 10);
    }
    const void *target = b->loss == CNN_LOSS_MSE ? (const void *)x
                         : b->loss == CNN_LOSS_CROSS_ENTROPY ? (const void *)labels : (const void *)t;
    double ms[3][64], cpu[3][64];
    for (int variant = 0; variant < (quick ? 1 : 3); variant++) {
#ifdef CNN_NET_PROFILE
        memset(cnn_net_profile, 0, sizeof cnn_net_profile);
#endif
        model m;
        make_model(&m, b->L, b->n, b->loss, CNN_OPTIM_ADAM, CNN_FLOAT32, 2);
        cnn_net_set_fusion(m.net, variant == 0);
        cnn_net_error err;
        CHECK(cnn_net_plan(m.net, b->ndim, b->shape, &err) == CNN_OK);
        cnn_net_step_args a = {0};
        a.x = x;
        a.target = target;
        a.hparams = m.hp;
        shape4 xs;
        set_shape(&xs, b->ndim, b->shape[0], b->shape[1], b->shape[2], b->shape[3]);
        long faults = 0;
        for (int k = -3; k < repeats; k++) {
#ifdef CNN_NET_PROFILE
            if (k == 0) memset(cnn_net_profile, 0, sizeof cnn_net_profile);
#endif
            double value;
            set_hparams(&m, CNN_OPTIM_ADAM, b->variant);
            const long f0 = minor_faults();
            const double t0 = wall_s(), c0 = cpu_s();
            if (variant < 2) CHECK(cnn_net_step(m.net, &a, &value) == CNN_OK);
            else ref_step(b->L, b->n, &m, x, &xs, target, b->loss, CNN_REDUCE_MEAN, CNN_OPTIM_ADAM, NULL, NULL);
            if (k >= 0) {
                ms[variant][k] = 1e3 * (wall_s() - t0);
                cpu[variant][k] = 1e3 * (cpu_s() - c0);
                faults += minor_faults() - f0;
            }
        }
        qsort(ms[variant], (size_t)repeats, sizeof(double), cmp_double);
        qsort(cpu[variant], (size_t)repeats, sizeof(double), cmp_double);
        printf("  %-22s %-24s %7.3f ms wall, %7.3f ms CPU (%.1f page faults per step)\n", b->name,
               variant == 0 ? "compiled, fused" : variant == 1 ? "compiled, unfused" : "separate engine calls",
               ms[variant][repeats / 2], cpu[variant][repeats / 2], (double)faults / repeats);
#ifdef CNN_NET_PROFILE
        if (variant < 2)
            for (int64_t k = 0; k < cnn_net_profile_n; k++)
                if (cnn_net_profile[k][0] + cnn_net_profile[k][1] > 0)
                    printf("      layers %2lld-%-2lld  forward %7.3f ms  backward %7.3f ms  (CPU, calling thread)\n",
                           (long long)cnn_net_profile_ops[k][0], (long long)cnn_net_profile_ops[k][1],
                           1e3 * cnn_net_profile[k][0] / repeats, 1e3 * cnn_net_profile[k][1] / repeats);
        cnn_net_profile_n = 0;
#endif
        free_model(&m);
    }
    free(x);
    free(t);
    free(labels);
}

/* Median milliseconds of GausNet inference (cnn_net_forward) on a batch of 200. */
static void bench_inference(int repeats)
{
    cnn_layer_desc L[9];
    const int64_t n = gausnet(L, 91, CNN_LAYER_AVGPOOL), shape[4] = {200, 1, 91, 91};
    model m;
    make_model(&m, L, n, CNN_LOSS_NONE, CNN_OPTIM_NONE, CNN_FLOAT32, 2);
    cnn_net_error err;
    CHECK(cnn_net_plan(m.net, 4, shape, &err) == CNN_OK);
    float *x = zalloc(200 * 91 * 91, sizeof(float)), y[200];
    rng_state = 3;
    gaussian_images(CNN_FLOAT32, 200, 91, x, NULL);
    double ms[64];
    for (int k = -3; k < repeats; k++) {
        const double t0 = wall_s();
        CHECK(cnn_net_forward(m.net, x, y) == CNN_OK);
        if (k >= 0) ms[k] = 1e3 * (wall_s() - t0);
    }
    qsort(ms, (size_t)repeats, sizeof(double), cmp_double);
    printf("  %-22s %-24s %7.3f ms wall\n", "GausNet inference", "batch 200, compiled", ms[repeats / 2]);
    free(x);
    free_model(&m);
}

/* test_net bench [repeats [threads [model]]]: every model (or those whose name starts with
 * `model`, compiled and fused only; "GausNet inference" for the forward on 200), at 1 and 2
 * threads (or `threads`). */
static int bench(int repeats, int threads, const char *only)
{
    static bench_model b[5];
    const int nb = bench_models(b);
    for (int th = threads ? threads : 1; th <= (threads ? threads : 2); th++) {
        cnn_set_num_threads(th);
        printf("%d thread(s), batch 32, float32 (median of %d steps):\n", th, repeats);
        for (int i = 0; i < nb; i++)
            if (!only || strcmp(only, b[i].name) == 0) bench_case(&b[i], repeats, only != NULL);
        if (!only || strcmp(only, "GausNet inference") == 0) bench_inference(repeats);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0) /* test_net bench [repeats <= 64 [threads [model]]] */
        return bench(argc > 2 && atoi(argv[2]) > 0 && atoi(argv[2]) <= 64 ? atoi(argv[2]) : 40,
                     argc > 3 && atoi(argv[3]) > 0 ? atoi(argv[3]) : 0, argc > 4 ? argv[4] : NULL);
    cnn_set_num_threads(2);
    test_errors();
    test_own_dropout_masks();
    const cnn_isa best = cnn_get_isa();
    for (int isa = CNN_ISA_SCALAR; isa <= CNN_ISA_AVX512; isa++)
        if (cnn_isa_available((cnn_isa)isa)) {
            cnn_set_isa((cnn_isa)isa);
            test_against_engine_calls();
        }
    cnn_set_isa(best);
    test_threads_bitwise();
    test_two_shapes();
    test_gausnet_trains();
    if (failures) {
        printf("%d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
