/* net_plan.c — planning a network for an input shape: every layer's output shape and the
 * geometry its kernels run (validated as the layer-by-layer path validates it), the fused groups,
 * and the one arena that holds every activation, saved value, gradient and scratch. */
#include <math.h>
#include <string.h>

#include "net_internal.h"

/* ---- tiles of a convolution ------------------------------------------------------------------- */

void net_conv_rows(const conv_geom *g, int64_t r0, int64_t r1, conv_geom *t)
{
    *t = *g;
    t->N = 1;
    t->OH = r1 - r0;
    t->pT = g->pT - r0 * g->sH; /* the rows above the tile: negative once past the padding */
    t->threads = 1;
}

int64_t net_fused_tile_len(const net_fused *f)
{
    const int64_t fwd = f->transpose ? 0 : f->C * f->tile_rows * f->OW;
    /* CNN_DB_LANES double sums per channel, then an image */
    const int64_t bwd = 2 * CNN_DB_LANES * f->C + f->C * f->OH * f->OW;
    const int64_t len = fwd > bwd ? fwd : bwd;
    return (len + 15) / 16 * 16;
}

/* ---- one layer: output shape and op --------------------------------------------------------------- */

typedef struct {
    const cnn_net *net;
    int threads;
    const cnn_kernel_table *tab;
    cnn_net_error *err;
} infer_ctx;

#define FAIL(st, field) net_fail(c->err, (st), i, (field), -1)

static int64_t pymod(int64_t v, int64_t m)
{
    return ((v % m) + m) % m;
}

/* padding="same": output ceil(n / s), total max((out-1)*s + d*(k-1) + 1 - n, 0), odd at the end. */
static void same_pads(int64_t n, int64_t k, int64_t s, int64_t d, int64_t *before, int64_t *after)
{
    const int64_t out = (n + s - 1) / s;
    int64_t total = (out - 1) * s + d * (k - 1) + 1 - n;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - total / 2;
}

/* The kernel AUTO picks, resolved as conv_prepare does (with one thread), then the thread count
 * the arena's scratch is planned for. */
static void resolve(const infer_ctx *c, net_op *op)
{
    op->g.threads = 1;
    op->algo = c->tab->conv_resolve_algo(&op->g, CNN_ALGO_AUTO);
    op->g.threads = c->threads;
}

static cnn_status conv_layer(const infer_ctx *c, int64_t i, const net_shape *in, net_shape *out,
                             net_op *op)
{
    const cnn_layer_desc *L = &c->net->layers[i];
    const int two = L->spatial_dims == 2;
    cnn_status st;
    if (in->ndim != (two ? 4 : 3)) return FAIL(CNN_ESHAPE, "input shape");
    if (in->dims[1] != L->conv.in_channels) return FAIL(CNN_ESHAPE, "in_channels");
    const int64_t N = in->dims[0], H = two ? in->dims[2] : 1, W = in->dims[in->ndim - 1];
    const int64_t kh = two ? L->conv.kernel_h : 1, sh = two ? L->conv.stride_h : 1;
    const int64_t dh = two ? L->conv.dilation_h : 1;
    int64_t pt = two ? L->conv.pad_top : 0, pb = two ? L->conv.pad_bottom : 0;
    int64_t pl = L->conv.pad_left, pr = L->conv.pad_right, Hp = H, Wp = W, OH, OW;
    if (two && L->conv.same_h) same_pads(H, kh, sh, dh, &pt, &pb);
    if (L->conv.same_w) same_pads(W, L->conv.kernel_w, L->conv.stride_w, L->conv.dilation_w, &pl, &pr);
    op->kind = OP_CONV;
    op->pad_mode = L->conv.pad_mode;
    op->pad_value = L->conv.pad_value;
    op->pad_explicit = !(L->conv.pad_mode == CNN_PAD_CONSTANT && L->conv.pad_value == 0.0) &&
                       (pt || pb || pl || pr);
    op->in_h = H;
    op->in_w = W;
    op->flip = L->conv.flip != 0;
    if (op->pad_explicit) { /* padded into the arena, then convolved without padding */
        if ((st = cnn_pad_out_len(H, pt, pb, op->pad_mode, &Hp))) return FAIL(st, "pad_top");
        if ((st = cnn_pad_out_len(W, pl, pr, op->pad_mode, &Wp))) return FAIL(st, "pad_left");
        op->pads[0] = pt; /* kept for the index maps */
        op->pads[1] = pb;
        op->pads[2] = pl;
        op->pads[3] = pr;
        pt = pb = pl = pr = 0;
    }
    if ((st = cnn_conv_out_len(Hp, kh, sh, pt, pb, dh, &OH))) return FAIL(st, "kernel_h");
    if ((st = cnn_conv_out_len(Wp, L->conv.kernel_w, L->conv.stride_w, pl, pr, L->conv.dilation_w, &OW)))
        return FAIL(st, "kernel_w");
    cnn_conv2d_desc d = {N, L->conv.in_channels, Hp, Wp, L->conv.out_channels, kh, L->conv.kernel_w,
                         sh, L->conv.stride_w, pt, pb, pl, pr, dh, L->conv.dilation_w, L->conv.groups};
    if ((st = conv_geom_from_desc(&d, &op->g))) return FAIL(st, "input shape");
    resolve(c, op);
    *out = *in;
    out->dims[1] = L->conv.out_channels;
    if (two) out->dims[2] = OH;
    out->dims[out->ndim - 1] = OW;
    return CNN_OK;
}

/* CONV_TRANSPOSE and TIED_CONV_TRANSPOSE: the convolution whose input gradient it is, as
 * conv_transpose.c's transpose_prepare builds it. */
static cnn_status transpose_layer(const infer_ctx *c, int64_t i, const net_shape *in,
                                  net_shape *out, net_op *op)
{
    const cnn_layer_desc *L = &c->net->layers[i];
    cnn_conv_transpose2d_desc d = {0};
    const int two = L->spatial_dims == 2;
    if (L->kind == CNN_LAYER_TIED_CONV_TRANSPOSE) {
        const cnn_layer_desc *o = &c->net->layers[L->tied.layer];
        const int64_t v[14] = {o->conv.out_channels, o->conv.in_channels, o->conv.kernel_h,
                               o->conv.kernel_w, L->tied.stride_h, L->tied.stride_w,
                               L->tied.pad_h, L->tied.pad_w, L->tied.output_padding_h,
                               L->tied.output_padding_w, o->conv.dilation_h, o->conv.dilation_w,
                               o->conv.groups, 0};
        d.in_channels = v[0], d.out_channels = v[1], d.kernel_h = v[2], d.kernel_w = v[3];
        d.stride_h = v[4], d.stride_w = v[5], d.pad_h = v[6], d.pad_w = v[7];
        d.output_padding_h = v[8], d.output_padding_w = v[9], d.dilation_h = v[10];
        d.dilation_w = v[11], d.groups = v[12];
    } else {
        d.in_channels = L->conv_transpose.in_channels;
        d.out_channels = L->conv_transpose.out_channels;
        d.kernel_w = L->conv_transpose.kernel_w;
        d.stride_w = L->conv_transpose.stride_w;
        d.pad_w = L->conv_transpose.pad_w;
        d.output_padding_w = L->conv_transpose.output_padding_w;
        d.dilation_w = L->conv_transpose.dilation_w;
        d.groups = L->conv_transpose.groups;
        d.kernel_h = two ? L->conv_transpose.kernel_h : 1;
        d.stride_h = two ? L->conv_transpose.stride_h : 1;
        d.pad_h = two ? L->conv_transpose.pad_h : 0;
        d.output_padding_h = two ? L->conv_transpose.output_padding_h : 0;
        d.dilation_h = two ? L->conv_transpose.dilation_h : 1;
    }
    if (in->ndim != (two ? 4 : 3)) return FAIL(CNN_ESHAPE, "input shape");
    if (in->dims[1] != d.in_channels) return FAIL(CNN_ESHAPE, "in_channels");
    d.batch = in->dims[0];
    d.in_h = two ? in->dims[2] : 1;
    d.in_w = in->dims[in->ndim - 1];
    int64_t OH, OW;
    cnn_status st;
    if ((st = cnn_conv_transpose_out_len(d.in_h, d.kernel_h, d.stride_h, d.pad_h, d.dilation_h,
                                         d.output_padding_h, &OH)))
        return FAIL(st, "pad_h");
    if ((st = cnn_conv_transpose_out_len(d.in_w, d.kernel_w, d.stride_w, d.pad_w, d.dilation_w,
                                         d.output_padding_w, &OW)))
        return FAIL(st, "pad_w");
    if ((st = cnn_conv_transpose2d_output_shape(&d, NULL, NULL))) return FAIL(st, "input shape");
    /* the plan cnn_conv_transpose2d_forward / _backward make (AUTO, the threads of the call):
     * the same path and kernels, so the step computes what they compute */
    if ((st = convt_plan_make(&d, c->net->dtype, CNN_ALGO_AUTO, c->threads, &op->ct)))
        return FAIL(st, "input shape");
    op->kind = OP_CONVT;
    op->transpose = 1;
    op->g = op->ct.g; /* the convolution whose input gradient it is (the fused group's shapes) */
    op->g.threads = c->threads;
    op->algo = op->ct.conv_algo;
    *out = *in;
    out->dims[1] = d.out_channels;
    if (two) out->dims[2] = OH;
    out->dims[out->ndim - 1] = OW;
    return CNN_OK;
}

static cnn_status pool_layer(const infer_ctx *c, int64_t i, const net_shape *in, net_shape *out,
                             net_op *op)
{
    const cnn_layer_desc *L = &c->net->layers[i];
    const int two = L->spatial_dims == 2;
    cnn_status st;
    if (in->ndim != (two ? 4 : 3)) return FAIL(CNN_ESHAPE, "input shape");
    op->H = two ? in->dims[2] : 1;
    op->W = in->dims[in->ndim - 1];
    op->planes = in->dims[0] * in->dims[1];
    if (L->kind == CNN_LAYER_ADAPTIVE_AVGPOOL || L->kind == CNN_LAYER_ADAPTIVE_MAXPOOL) {
        op->kind = L->kind == CNN_LAYER_ADAPTIVE_AVGPOOL ? OP_ADAPTIVE_AVG : OP_ADAPTIVE_MAX;
        op->OH = two && L->adaptive.out_h ? L->adaptive.out_h : op->H;
        op->OW = L->adaptive.out_w ? L->adaptive.out_w : op->W;
        const int64_t ys[3] = {op->planes, op->OH, op->OW};
        int64_t t;
        if ((st = cnn_numel(3, ys, &t))) return FAIL(st, "out_w");
    } else {
        cnn_pool2d_desc *d = &op->pd;
        op->kind = L->kind == CNN_LAYER_MAXPOOL ? OP_MAXPOOL : OP_AVGPOOL;
        d->planes = op->planes;
        d->in_h = op->H;
        d->in_w = op->W;
        d->kernel_h = two ? L->pool.kernel_h : 1;
        d->kernel_w = L->pool.kernel_w;
        d->stride_h = two ? L->pool.stride_h : 1;
        d->stride_w = L->pool.stride_w;
        d->pad_h = two ? L->pool.pad_h : 0;
        d->pad_w = L->pool.pad_w;
        d->dilation_h = two ? L->pool.dilation_h : 1;
        d->dilation_w = L->pool.dilation_w;
        d->ceil_mode = L->pool.ceil_mode != 0;
        d->count_include_pad = L->pool.count_include_pad != 0;
        d->divisor_override = L->pool.divisor_override;
        if ((st = cnn_pool_out_len(d->in_h, d->kernel_h, d->stride_h, d->pad_h, d->dilation_h,
                                   d->ceil_mode, &op->OH)))
            return FAIL(st, "kernel_h");
        if ((st = cnn_pool_out_len(d->in_w, d->kernel_w, d->stride_w, d->pad_w, d->dilation_w,
                                   d->ceil_mode, &op->OW)))
            return FAIL(st, "kernel_w");
        if ((st = cnn_pool2d_output_shape(d, NULL, NULL))) return FAIL(st, "input shape");
        if (d->kernel_h == 1) d->dilation_h = 1; /* as cnn_maxpool2d_forward */
        if (d->kernel_w == 1) d->dilation_w = 1;
    }
    *out = *in;
    if (two) out->dims[2] = op->OH;
    out->dims[out->ndim - 1] = op->OW;
    return CNN_OK;
}

/* Layer i on an input of shape *in: its output shape and its op (unfused). */
static cnn_status layer_op(const infer_ctx *c, int64_t i, const net_shape *in, net_shape *out,
                           net_op *op)
{
    const cnn_layer_desc *L = &c->net->layers[i];
    cnn_status st = CNN_OK;
    memset(op, 0, sizeof *op);
    op->first = op->last = i;
    op->wparam = c->net->wparam[i];
    op->bparam = c->net->bparam[i];
    op->act = -1;
    *out = *in;
    switch (L->kind) {
    case CNN_LAYER_CONV: st = conv_layer(c, i, in, out, op); break;
    case CNN_LAYER_CONV_TRANSPOSE:
    case CNN_LAYER_TIED_CONV_TRANSPOSE: st = transpose_layer(c, i, in, out, op); break;
    case CNN_LAYER_MAXPOOL:
    case CNN_LAYER_AVGPOOL:
    case CNN_LAYER_ADAPTIVE_AVGPOOL:
    case CNN_LAYER_ADAPTIVE_MAXPOOL: st = pool_layer(c, i, in, out, op); break;
    case CNN_LAYER_LINEAR:
    case CNN_LAYER_TIED_LINEAR: {
        const int tied = L->kind == CNN_LAYER_TIED_LINEAR;
        const cnn_layer_desc *o = tied ? &c->net->layers[L->tied.layer] : L;
        op->kind = tied ? OP_TIED_LINEAR : OP_LINEAR;
        op->fin = tied ? o->linear.out_features : o->linear.in_features;
        op->fout = tied ? o->linear.in_features : o->linear.out_features;
        if (in->dims[in->ndim - 1] != op->fin) return FAIL(CNN_ESHAPE, "in_features");
        op->rows = in->numel / op->fin;
        out->dims[in->ndim - 1] = op->fout;
        break;
    }
    case CNN_LAYER_FLATTEN: {
        const int nd = in->ndim;
        const int64_t s = pymod(L->flatten.start_dim, nd), e = pymod(L->flatten.end_dim, nd);
        if (s > e) return FAIL(CNN_EINVAL, "start_dim");
        op->kind = OP_RESHAPE;
        out->ndim = nd - (int)(e - s);
        int64_t merged = 1;
        for (int64_t d = s; d <= e; d++) merged *= in->dims[d];
        out->dims[s] = merged;
        for (int64_t d = e + 1; d < nd; d++) out->dims[d - (e - s)] = in->dims[d];
        break;
    }
    case CNN_LAYER_UNFLATTEN: {
        const int nd = in->ndim, k = L->unflatten.ndims;
        const int64_t d = pymod(L->unflatten.dim, nd);
        int64_t prod;
        if ((st = cnn_numel(k, L->unflatten.sizes, &prod)) || prod != in->dims[d])
            return FAIL(CNN_ESHAPE, "sizes");
        if (nd - 1 + k > CNN_NET_MAX_DIMS) return FAIL(CNN_EINVAL, "ndims");
        op->kind = OP_RESHAPE;
        out->ndim = nd - 1 + k;
        for (int j = 0; j < k; j++) out->dims[d + j] = L->unflatten.sizes[j];
        for (int64_t j = d + 1; j < nd; j++) out->dims[j - 1 + k] = in->dims[j];
        break;
    }
    case CNN_LAYER_IDENTITY: op->kind = OP_RESHAPE; break;
    case CNN_LAYER_RELU:
    case CNN_LAYER_LEAKY_RELU:
    case CNN_LAYER_SIGMOID:
    case CNN_LAYER_TANH:
        op->kind = OP_ACT;
        op->act = L->kind == CNN_LAYER_RELU ? ACT_RELU : L->kind == CNN_LAYER_LEAKY_RELU ? ACT_LEAKY_RELU
                  : L->kind == CNN_LAYER_SIGMOID ? ACT_SIGMOID : ACT_TANH;
        op->slope = L->kind == CNN_LAYER_LEAKY_RELU ? L->negative_slope : 0.0;
        break;
    case CNN_LAYER_SOFTMAX: {
        const int nd = in->ndim;
        if (L->dim < -nd || L->dim >= nd) return FAIL(CNN_EINVAL, "dim");
        const int64_t d = pymod(L->dim, nd);
        op->kind = OP_SOFTMAX;
        op->outer = op->inner = 1;
        for (int64_t j = 0; j < d; j++) op->outer *= in->dims[j];
        for (int64_t j = d + 1; j < nd; j++) op->inner *= in->dims[j];
        op->len = in->dims[d];
        break;
    }
    case CNN_LAYER_DROPOUT:
    case CNN_LAYER_DROPOUT2D:
        op->kind = OP_DROPOUT;
        op->p = L->p;
        if (L->kind == CNN_LAYER_DROPOUT) {
            op->groups = in->numel;
        } else {
            if (in->ndim < 2) return FAIL(CNN_ESHAPE, "input shape");
            op->groups = in->ndim == 3 ? in->dims[0] : in->dims[0] * in->dims[1];
        }
        op->group_len = in->numel / op->groups;
        break;
    }
    if (st) return st;
    if ((st = cnn_numel(out->ndim, out->dims, &out->numel))) return FAIL(st, "input shape");
    return CNN_OK;
}

/* The loss's demands on the network's output. */
static cnn_status check_loss_shape(const cnn_net *net, const net_shape *o, cnn_net_error *err)
{
    if (net->loss.kind == CNN_LOSS_CROSS_ENTROPY && o->ndim >= 2 && o->dims[1] < 1)
        return net_fail(err, CNN_ESHAPE, CNN_NET_WHERE_LOSS, "kind", -1);
    return CNN_OK;
}

cnn_status net_infer(const cnn_net *net, const net_shape *in, int64_t upto, net_shape *shapes,
                     cnn_net_error *err)
{
    infer_ctx c = {net, 1, cnn_kernels(), err};
    net_op op;
    cnn_status st;
    shapes[0] = *in;
    for (int64_t i = 0; i < upto; i++)
        if ((st = layer_op(&c, i, &shapes[i], &shapes[i + 1], &op))) return st;
    return upto == net->n_layers ? check_loss_shape(net, &shapes[upto], err) : CNN_OK;
}
#undef FAIL

/* ---- fusion ------------------------------------------------------------------------------------- */

/* An activation a fused group can take: its derivative follows from its output (leaky relu with
 * a finite slope >= 0). */
static int fusable_act(const net_op *op)
{
    return op->kind == OP_ACT &&
           (op->act != ACT_LEAKY_RELU || (op->slope >= 0 && op->slope <= 1e300));
}

/* A pooling whose windows tile its input: window = stride, no padding, no dilation, and
 * ceil_mode only where it changes nothing. Max pooling keeps the argmax in 7 bits, average
 * pooling a branch bit per window element in 64. */
static int fusable_pool(const net_op *op)
{
    const cnn_pool2d_desc *d = &op->pd;
    if (op->kind != OP_MAXPOOL && op->kind != OP_AVGPOOL) return 0;
    if (d->kernel_h != d->stride_h || d->kernel_w != d->stride_w || d->pad_h || d->pad_w ||
        d->dilation_h != 1 || d->dilation_w != 1)
        return 0;
    if (d->ceil_mode && ((d->in_h - d->kernel_h) % d->stride_h || (d->in_w - d->kernel_w) % d->stride_w))
        return 0;
    return d->kernel_h * d->kernel_w <= (op->kind == OP_AVGPOOL ? 64 : 128);
}

/* Whether a fused group's backward takes the weight and bias gradients image by image from the
 * gradient it rebuilds in cache, rather than from the whole rebuilt gradient (dconv) with the
 * convolution's own kernels: only when nothing else needs dconv (no input gradient, one group)
 * and dconv is large, so that not writing it saves real memory traffic. The whole-batch kernels
 * are bitwise the unfused ones; image by image is bitwise only where the kernel sums image by
 * image (the blocked float32 kernel sums small images together). */
#define NET_DCONV_WORTH_SKIPPING ((int64_t)2 << 20) /* bytes: past the L2 cache */

static int dw_per_image(const net_op *op, size_t elsize)
{
    const net_fused *f = &op->f;
    const double bytes = (double)f->g.N * f->C * f->OH * f->OW * (double)elsize;
    return !f->transpose && f->g.groups == 1 && !op->need_dx && bytes > (double)NET_DCONV_WORTH_SKIPPING;
}

/* Conv output rows per forward item: a tile of about 32K elements (in cache), a multiple of the
 * pooling window, and at least two items per thread when the image allows. */
static int64_t tile_rows(const net_fused *f, int threads)
{
    const int64_t rows = f->pool ? f->PH * f->pk_h : f->OH;
    /* Winograd's 4-row tiles start at the fused tile's first row: tiles of a multiple of 4 rows
     * keep every output computed as in one call over the image, whatever the thread count */
    int64_t step = f->pk_h;
    while (f->algo == CNN_ALGO_WINOGRAD && step % 4) step *= 2;
    int64_t t = 32768 / (f->C * f->OW > 0 ? f->C * f->OW : 1);
    t = t < step ? step : t - t % step;
    const int64_t want = 2 * (int64_t)threads;
    if (f->g.N * ((rows + t - 1) / t) < want) {
        const int64_t per = (want + f->g.N - 1) / f->g.N; /* tiles per image */
        const int64_t u = (rows / step + per - 1) / per * step;
        t = u < step ? step : u;
    }
    return t < rows ? t : rows;
}

/* Merges ops[i] (a convolution) with the activation and pooling ops after it into one fused op;
 * returns the number of ops merged (1: none). */
static int64_t fuse_at(net_op *ops, int64_t i, int64_t n_ops, int threads)
{
    net_op *c = &ops[i];
    int64_t j = i + 1;
    const net_op *act = NULL, *pool = NULL;
    int after = 0;
    if (c->kind != OP_CONV && c->kind != OP_CONVT) return 1;
    if (j < n_ops && fusable_act(&ops[j])) act = &ops[j++];
    if (c->kind == OP_CONV && j < n_ops && fusable_pool(&ops[j])) {
        pool = &ops[j++];
        if (!act && j < n_ops && fusable_act(&ops[j])) {
            act = &ops[j++];
            after = 1;
        }
    }
    if (!act && !pool) return 1;
    net_fused *f = &c->f;
    memset(f, 0, sizeof *f);
    f->g = c->g;
    f->algo = c->algo;
    f->transpose = c->transpose;
    f->act = act ? act->act : -1;
    f->slope = act ? act->slope : 0.0;
    f->act_after_pool = after;
    f->C = c->transpose ? c->g.C_in : c->g.C_out;
    f->OH = c->transpose ? c->g.H : c->g.OH;
    f->OW = c->transpose ? c->g.W : c->g.OW;
    f->PH = pool ? pool->OH : f->OH;
    f->PW = pool ? pool->OW : f->OW;
    f->pk_h = f->pk_w = 1;
    if (pool) {
        f->pool = pool->kind == OP_MAXPOOL ? NET_POOL_MAX : NET_POOL_AVG;
        f->pk_h = pool->pd.kernel_h;
        f->pk_w = pool->pd.kernel_w;
        f->divisor_override = pool->pd.divisor_override;
        f->count_include_pad = pool->pd.count_include_pad;
    }
    const int bit = act && (act->act == ACT_RELU || act->act == ACT_LEAKY_RELU);
    if (f->pool == NET_POOL_MAX) f->mask_bytes = 1;
    else if (f->pool == NET_POOL_AVG && bit) f->mask_bytes = after ? 1 : (f->pk_h * f->pk_w + 7) / 8;
    f->save_act = f->pool == NET_POOL_AVG && act && !bit && !after;
    f->tile_rows = tile_rows(f, threads);
    c->kind = OP_FUSED;
    c->last = ops[j - 1].last;
    return j - i;
}

/* ---- the arena ---------------------------------------------------------------------------------- */

typedef struct {
    char *base; /* NULL while measuring */
    int64_t used;
    int failed;
} arena_cursor;

/* The next `count` elements of `elsize` bytes, 64-byte aligned (NULL while measuring or for 0). */
static void *take(arena_cursor *a, int64_t count, size_t elsize)
{
    int64_t bytes;
    if (count <= 0) return NULL;
    if (cnn_mul_sizes(count, (int64_t)elsize, &bytes) || cnn_add_sizes(a->used, bytes + 63, &bytes)) {
        a->failed = 1;
        return NULL;
    }
    void *p = a->base ? a->base + a->used : NULL;
    a->used += ((int64_t)count * (int64_t)elsize + 63) / 64 * 64;
    return p;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Scratch elements op needs from the shared region (kernel scratch for every thread); sets a
 * fused group's slice per part. */
static int64_t op_scratch(const net_plan *p, net_op *op, size_t es)
{
    const cnn_kernel_table *tab = p->table;
    int64_t len = 0, t;
    if (op->transpose) /* the plan's tables and reals (rebound to the scratch by each run) */
        len = (op->ct.scratch_bytes + (int64_t)es - 1) / (int64_t)es;
    else if (op->kind == OP_CONV || op->kind == OP_FUSED) {
        if (tab->conv_scratch_len(&op->g, op->algo, &len)) return -1;
        len *= p->threads;
    }
    if (op->kind == OP_FUSED) {
        net_fused *f = &op->f;
        conv_geom g = f->g;
        int64_t k = 0;
        g.N = 1;
        g.threads = 1;
        if (!f->transpose) { /* backward (dw per image), forward tiles */
            if (tab->conv_scratch_len(&g, f->algo, &k)) return -1;
            net_conv_rows(&f->g, 0, f->tile_rows, &g);
            if (tab->conv_scratch_len(&g, f->algo, &t)) return -1;
            k = max64(k, t);
        }
        f->scratch_len = (net_fused_tile_len(f) + k + 15) / 16 * 16;
        len = max64(len, f->scratch_len * p->threads);
    }
    if (op->kind == OP_LINEAR || op->kind == OP_TIED_LINEAR)
        len = tab->gemm_workspace_len() * p->threads;
    return len;
}

/* Lays out the arena (a->base NULL: only measures it). The same calls in the same order both
 * times, so the measured size is the size assigned. */
static void layout(cnn_net *net, net_plan *p, arena_cursor *a)
{
    const size_t es = net->elsize;
    const int64_t L = net->n_layers;
    for (int64_t t = 1; t <= L; t++) {
        p->act[t] = p->grad[t] = NULL;
        if (p->cls[t] == t) { /* not a reshape's view, not inside a fused group */
            p->act[t] = take(a, p->shapes[t].numel, es);
            p->grad[t] = take(a, p->shapes[t].numel, es);
        }
    }
    int64_t scratch = 1;
    for (int64_t k = 0; k < p->n_ops; k++) {
        net_op *op = &p->ops[k];
        const net_shape *out = &p->shapes[op->last + 1];
        const int64_t s = op_scratch(p, op, es);
        if (s < 0) a->failed = 1;
        scratch = max64(scratch, s);
        if (op->pad_explicit) {
            const int64_t padded = op->g.N * op->g.C_in * op->g.H * op->g.W;
            op->xpad = take(a, padded, es);
            op->dxpad = take(a, padded, es);
            op->map_h = take(a, op->g.H, sizeof(int64_t));
            op->map_w = take(a, op->g.W, sizeof(int64_t));
        }
        const int64_t wn = op->wparam >= 0 ? net->params[op->wparam].numel : 0;
        if (op->flip) op->wflip = take(a, wn, es);
        if (op->wparam >= 0 && (!op->w_direct || op->flip || op->kind == OP_TIED_LINEAR))
            op->dwtmp = take(a, wn, es);
        if (op->kind == OP_TIED_LINEAR) op->wt = take(a, wn, es);
        if (op->kind == OP_MAXPOOL && net_pool_arg(op))
            op->arg = take(a, out->numel, 1);
        else if (op->kind == OP_MAXPOOL || op->kind == OP_ADAPTIVE_MAX)
            op->idx = take(a, out->numel, sizeof(int64_t));
        if (op->kind == OP_DROPOUT) op->own_mask = take(a, op->groups, 1);
        if (op->kind == OP_FUSED) {
            net_fused *f = &op->f;
            const int64_t conv_out = f->g.N * f->C * f->OH * f->OW;
            f->mask = take(a, out->numel * f->mask_bytes, 1);
            f->act_out = f->save_act ? take(a, conv_out, es) : NULL;
            f->dconv = op->need_dx || f->transpose || !f->dw_per_image ? take(a, conv_out, es) : NULL;
        }
    }
    p->scratch_len = scratch;
    p->scratch = take(a, scratch, es);
    const net_shape *o = &p->shapes[L];
    p->loss_len = net->loss.reduction == CNN_REDUCE_NONE ? o->numel : 1;
    p->one = take(a, p->loss_len, es);
    p->loss_out = take(a, p->loss_len, es);
    p->loss_work = take(a, o->ndim >= 2 ? o->dims[1] : o->dims[0], sizeof(double));
}

/* The index maps of an explicit padding: cnn_pad_forward of 0, 1, ..., n-1 with the fill -1. */
static cnn_status pad_map(int64_t n, int64_t before, int64_t after, cnn_pad_mode mode,
                          int64_t *map)
{
    int64_t out;
    double *src, *dst;
    cnn_status st = cnn_pad_out_len(n, before, after, mode, &out);
    if (st) return st;
    if (cnn_alloc(n, sizeof(double), (void **)&src)) return CNN_ENOMEM;
    if (cnn_alloc(out, sizeof(double), (void **)&dst)) {
        free(src);
        return CNN_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) src[i] = (double)i;
    const int64_t shape[1] = {n}, pads[2] = {before, after};
    st = cnn_pad_forward(CNN_FLOAT64, 1, shape, pads, mode, -1.0, src, dst);
    for (int64_t i = 0; st == CNN_OK && i < out; i++) map[i] = (int64_t)dst[i];
    free(src);
    free(dst);
    return st;
}

void net_free_plan(net_plan *p)
{
    if (!p) return;
    free(p->arena);
    free(p->shapes);
    free(p->cls);
    free(p->act);
    free(p->grad);
    free(p->ops);
    free(p->grad_written);
    free(p);
}

cnn_status net_build_plan(cnn_net *net, const net_shape *in, net_plan **out, cnn_net_error *err)
{
    const int64_t L = net->n_layers;
    net_plan *p;
    cnn_status st;
    *out = NULL;
    if (cnn_calloc(1, sizeof *p, (void **)&p))
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "plan", -1);
    if (cnn_calloc(L + 1, sizeof *p->shapes, (void **)&p->shapes) ||
        cnn_calloc(L + 1, sizeof *p->cls, (void **)&p->cls) ||
        cnn_calloc(L + 1, sizeof *p->act, (void **)&p->act) ||
        cnn_calloc(L + 1, sizeof *p->grad, (void **)&p->grad) ||
        cnn_calloc(L, sizeof *p->ops, (void **)&p->ops)) {
        net_free_plan(p);
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "plan", -1);
    }
    p->in = *in;
    p->threads = cnn_get_num_threads();
    p->table = cnn_kernels();
    p->fused = net->fuse;
    infer_ctx c = {net, p->threads, p->table, err};
    p->shapes[0] = *in;
    for (int64_t i = 0; i < L; i++) {
        if ((st = layer_op(&c, i, &p->shapes[i], &p->shapes[i + 1], &p->ops[i]))) {
            net_free_plan(p);
            return st;
        }
        p->cls[i + 1] = p->ops[i].kind == OP_RESHAPE ? p->cls[i] : i + 1;
    }
    if ((st = check_loss_shape(net, &p->shapes[L], err))) {
        net_free_plan(p);
        return st;
    }
    /* fused groups, then what backward needs */
    int64_t n = 0;
    for (int64_t i = 0; i < L;) {
        const int64_t merged = net->fuse ? fuse_at(p->ops, i, L, p->threads) : 1;
        for (int64_t t = p->ops[i].first + 1; t <= p->ops[i].last; t++) p->cls[t] = -1; /* inside */
        p->ops[n++] = p->ops[i];
        i += merged;
    }
    p->n_ops = n;
    char *seen = NULL;
    const int64_t n_params = net->n_params > 0 ? net->n_params : 1;
    if (cnn_calloc(n_params, 1, (void **)&seen) || cnn_calloc(n_params, 1, (void **)&p->grad_written)) {
        free(seen);
        net_free_plan(p);
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "plan", -1);
    }
    for (int64_t k = n - 1; k >= 0; k--) {
        net_op *op = &p->ops[k];
        op->need_dx = p->cls[op->first] != 0;
        if (op->wparam >= 0) {
            op->w_direct = !seen[op->wparam];
            seen[op->wparam] = 1;
        }
        /* the dense backward overwrites (generic/net_run.h): its own bias, and the weight's
         * gradient where it writes it first; every other gradient is added to a zeroed one */
        if ((op->kind == OP_LINEAR || op->kind == OP_TIED_LINEAR) && op->bparam >= 0)
            p->grad_written[op->bparam] = 1;
        if (op->kind == OP_LINEAR && op->wparam >= 0 && op->w_direct) p->grad_written[op->wparam] = 1;
        if (op->kind == OP_FUSED) op->f.dw_per_image = dw_per_image(op, net->elsize);
    }
    free(seen);
    arena_cursor a = {NULL, 0, 0};
    layout(net, p, &a);
    if (a.failed) {
        net_free_plan(p);
        return net_fail(err, CNN_EOVERFLOW, CNN_NET_WHERE_CALL, "input shape", -1);
    }
    p->bytes = a.used;
    /* touched here, so that the steps find every page mapped; 64 bytes of slack to align */
    if (cnn_alloc(a.used + 64, 1, (void **)&p->arena)) {
        net_free_plan(p);
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "input shape", -1);
    }
    memset(p->arena, 0, (size_t)a.used + 64);
    arena_cursor b = {(char *)(((uintptr_t)p->arena + 63) & ~(uintptr_t)63), 0, 0};
    layout(net, p, &b);
    for (int64_t k = 0; k < n; k++) {
        net_op *op = &p->ops[k];
        if (op->pad_explicit &&
            ((st = pad_map(op->in_h, op->pads[0], op->pads[1], op->pad_mode, op->map_h)) ||
             (st = pad_map(op->in_w, op->pads[2], op->pads[3], op->pad_mode, op->map_w)))) {
            net_free_plan(p);
            return net_fail(err, st, op->first, "pad_mode", -1);
        }
    }
    for (int64_t i = 0; i < p->loss_len; i++) {
        if (net->dtype == CNN_FLOAT32) ((float *)p->one)[i] = 1.0f;
        else ((double *)p->one)[i] = 1.0;
    }
    *out = p;
    return CNN_OK;
}
