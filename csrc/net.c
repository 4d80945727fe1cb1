/* net.c — the network object of cnn.h: descriptor validation, parameters and their bindings, and
 * the public entry points. Shapes, fusion and the arena are in net_plan.c; running a step in
 * net_run.c. */
#include <math.h>
#include <string.h>

#include "net_internal.h"

cnn_status net_fail(cnn_net_error *err, cnn_status st, int64_t layer, const char *field,
                    int64_t param)
{
    if (err) {
        err->layer = layer;
        err->field = field;
        err->param = param;
    }
    return st;
}

/* ---- descriptors ------------------------------------------------------------------------------- */

static int spatial_kind(cnn_layer_kind k)
{
    return k == CNN_LAYER_CONV || k == CNN_LAYER_CONV_TRANSPOSE || k == CNN_LAYER_MAXPOOL ||
           k == CNN_LAYER_AVGPOOL || k == CNN_LAYER_ADAPTIVE_AVGPOOL ||
           k == CNN_LAYER_ADAPTIVE_MAXPOOL || k == CNN_LAYER_TIED_CONV_TRANSPOSE;
}

/* What a layer's descriptor says on its own (shapes are checked by cnn_net_plan). Fields of the
 * h axis are not checked for 1-D layers: they are ignored. */
static cnn_status check_layer(const cnn_layer_desc *L, int64_t i, int64_t n_layers,
                              const cnn_layer_desc *all, cnn_net_error *err)
{
#define BAD(cond, field)                                                                           \
    do {                                                                                           \
        if (cond) return net_fail(err, CNN_EINVAL, i, field, -1);                                  \
    } while (0)
    const int two = L->spatial_dims == 2;
    if (spatial_kind(L->kind)) BAD(L->spatial_dims != 1 && L->spatial_dims != 2, "spatial_dims");
    switch (L->kind) {
    case CNN_LAYER_CONV: {
        BAD(L->conv.in_channels < 1, "in_channels");
        BAD(L->conv.out_channels < 1, "out_channels");
        BAD(L->conv.groups < 1, "groups");
        if (L->conv.in_channels % L->conv.groups) return net_fail(err, CNN_ESHAPE, i, "in_channels", -1);
        if (L->conv.out_channels % L->conv.groups) return net_fail(err, CNN_ESHAPE, i, "out_channels", -1);
        BAD(L->conv.kernel_w < 1, "kernel_w");
        BAD(L->conv.stride_w < 1, "stride_w");
        BAD(L->conv.dilation_w < 1, "dilation_w");
        BAD(L->conv.pad_left < 0, "pad_left");
        BAD(L->conv.pad_right < 0, "pad_right");
        if (two) {
            BAD(L->conv.kernel_h < 1, "kernel_h");
            BAD(L->conv.stride_h < 1, "stride_h");
            BAD(L->conv.dilation_h < 1, "dilation_h");
            BAD(L->conv.pad_top < 0, "pad_top");
            BAD(L->conv.pad_bottom < 0, "pad_bottom");
        }
        BAD((int)L->conv.pad_mode < CNN_PAD_CONSTANT || (int)L->conv.pad_mode > CNN_PAD_CIRCULAR, "pad_mode");
        BAD(!isfinite(L->conv.pad_value), "pad_value");
        return CNN_OK;
    }
    case CNN_LAYER_CONV_TRANSPOSE: {
        BAD(L->conv_transpose.in_channels < 1, "in_channels");
        BAD(L->conv_transpose.out_channels < 1, "out_channels");
        BAD(L->conv_transpose.groups < 1, "groups");
        if (L->conv_transpose.in_channels % L->conv_transpose.groups) return net_fail(err, CNN_ESHAPE, i, "in_channels", -1);
        if (L->conv_transpose.out_channels % L->conv_transpose.groups) return net_fail(err, CNN_ESHAPE, i, "out_channels", -1);
        BAD(L->conv_transpose.kernel_w < 1, "kernel_w");
        BAD(L->conv_transpose.stride_w < 1, "stride_w");
        BAD(L->conv_transpose.dilation_w < 1, "dilation_w");
        BAD(L->conv_transpose.pad_w < 0, "pad_w");
        BAD(L->conv_transpose.output_padding_w < 0 || (L->conv_transpose.output_padding_w >= L->conv_transpose.stride_w && L->conv_transpose.output_padding_w >= L->conv_transpose.dilation_w),
            "output_padding_w");
        if (two) {
            BAD(L->conv_transpose.kernel_h < 1, "kernel_h");
            BAD(L->conv_transpose.stride_h < 1, "stride_h");
            BAD(L->conv_transpose.dilation_h < 1, "dilation_h");
            BAD(L->conv_transpose.pad_h < 0, "pad_h");
            BAD(L->conv_transpose.output_padding_h < 0 || (L->conv_transpose.output_padding_h >= L->conv_transpose.stride_h && L->conv_transpose.output_padding_h >= L->conv_transpose.dilation_h),
                "output_padding_h");
        }
        return CNN_OK;
    }
    case CNN_LAYER_MAXPOOL:
    case CNN_LAYER_AVGPOOL: {
        const int avg = L->kind == CNN_LAYER_AVGPOOL;
        BAD(L->pool.kernel_w < 1, "kernel_w");
        BAD(L->pool.stride_w < 1, "stride_w");
        BAD(L->pool.pad_w < 0 || L->pool.pad_w > L->pool.kernel_w / 2, "pad_w");
        BAD(avg ? L->pool.dilation_w != 1 : L->pool.dilation_w < 1, "dilation_w");
        if (two) {
            BAD(L->pool.kernel_h < 1, "kernel_h");
            BAD(L->pool.stride_h < 1, "stride_h");
            BAD(L->pool.pad_h < 0 || L->pool.pad_h > L->pool.kernel_h / 2, "pad_h");
            BAD(avg ? L->pool.dilation_h != 1 : L->pool.dilation_h < 1, "dilation_h");
        }
        BAD(L->pool.divisor_override < 0 || (L->pool.divisor_override > 0 && (!avg || !two)), "divisor_override");
        return CNN_OK;
    }
    case CNN_LAYER_ADAPTIVE_AVGPOOL:
    case CNN_LAYER_ADAPTIVE_MAXPOOL:
        BAD(L->adaptive.out_w < 0, "out_w");
        if (two) BAD(L->adaptive.out_h < 0, "out_h");
        return CNN_OK;
    case CNN_LAYER_LINEAR:
        BAD(L->linear.in_features < 1, "in_features");
        BAD(L->linear.out_features < 1, "out_features");
        return CNN_OK;
    case CNN_LAYER_TIED_LINEAR:
    case CNN_LAYER_TIED_CONV_TRANSPOSE: {
        const int64_t j = L->tied.layer;
        const int lin = L->kind == CNN_LAYER_TIED_LINEAR;
        BAD(j < 0 || j >= n_layers || j == i, "layer");
        BAD(lin ? all[j].kind != CNN_LAYER_LINEAR : all[j].kind != CNN_LAYER_CONV, "layer");
        if (lin) return CNN_OK;
        BAD(L->spatial_dims != 2, "spatial_dims");
        BAD(all[j].spatial_dims != 2 || all[j].conv.flip, "layer");
        BAD(L->tied.stride_h < 1, "stride_h");
        BAD(L->tied.stride_w < 1, "stride_w");
        BAD(L->tied.pad_h < 0, "pad_h");
        BAD(L->tied.pad_w < 0, "pad_w");
        BAD(L->tied.output_padding_h < 0 ||
                (L->tied.output_padding_h >= L->tied.stride_h && L->tied.output_padding_h >= all[j].conv.dilation_h),
            "output_padding_h");
        BAD(L->tied.output_padding_w < 0 ||
                (L->tied.output_padding_w >= L->tied.stride_w && L->tied.output_padding_w >= all[j].conv.dilation_w),
            "output_padding_w");
        return CNN_OK;
    }
    case CNN_LAYER_UNFLATTEN:
        BAD(L->unflatten.ndims < 1 || L->unflatten.ndims > CNN_NET_MAX_DIMS - 1, "ndims");
        for (int d = 0; d < L->unflatten.ndims; d++) BAD(L->unflatten.sizes[d] < 1, "sizes");
        return CNN_OK;
    case CNN_LAYER_DROPOUT:
    case CNN_LAYER_DROPOUT2D:
        BAD(!(L->p >= 0.0 && L->p <= 1.0), "p");
        return CNN_OK;
    case CNN_LAYER_LEAKY_RELU:
        BAD(L->negative_slope != L->negative_slope, "negative_slope");
        return CNN_OK;
    case CNN_LAYER_FLATTEN:
    case CNN_LAYER_RELU:
    case CNN_LAYER_SIGMOID:
    case CNN_LAYER_TANH:
    case CNN_LAYER_SOFTMAX:
    case CNN_LAYER_IDENTITY:
        return CNN_OK;
    }
    return net_fail(err, CNN_EINVAL, i, "kind", -1);
#undef BAD
}

static cnn_status check_loss(const cnn_loss_desc *l, cnn_net_error *err)
{
    if ((int)l->kind < CNN_LOSS_NONE || (int)l->kind > CNN_LOSS_CORRELATION)
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_LOSS, "kind", -1);
    if (l->kind != CNN_LOSS_NONE && l->reduction != CNN_REDUCE_NONE &&
        l->reduction != CNN_REDUCE_MEAN && l->reduction != CNN_REDUCE_SUM)
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_LOSS, "reduction", -1);
    if (l->kind == CNN_LOSS_CROSS_ENTROPY && !(l->label_smoothing >= 0.0 && l->label_smoothing <= 1.0))
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_LOSS, "label_smoothing", -1);
    return CNN_OK;
}

/* ---- parameters ------------------------------------------------------------------------------- */

/* The parameters of layer L (weight, then bias; a shared weight belongs to its owner). */
static int layer_params(const cnn_layer_desc *L, net_param *w, net_param *b)
{
    int n = 0;
    memset(w, 0, sizeof *w);
    memset(b, 0, sizeof *b);
    const int two = L->spatial_dims == 2;
    int64_t bias = 0;
    switch (L->kind) {
    case CNN_LAYER_CONV: {
        const int64_t s[4] = {L->conv.out_channels, L->conv.in_channels / L->conv.groups,
                              two ? L->conv.kernel_h : L->conv.kernel_w, L->conv.kernel_w};
        w->ndim = two ? 4 : 3;
        memcpy(w->shape, s, sizeof s);
        n = 1;
        bias = L->conv.bias ? L->conv.out_channels : 0;
        break;
    }
    case CNN_LAYER_CONV_TRANSPOSE: {
        const int64_t s[4] = {L->conv_transpose.in_channels,
                              L->conv_transpose.out_channels / L->conv_transpose.groups,
                              two ? L->conv_transpose.kernel_h : L->conv_transpose.kernel_w,
                              L->conv_transpose.kernel_w};
        w->ndim = two ? 4 : 3;
        memcpy(w->shape, s, sizeof s);
        n = 1;
        bias = L->conv_transpose.bias ? L->conv_transpose.out_channels : 0;
        break;
    }
    case CNN_LAYER_LINEAR:
        w->ndim = 2;
        w->shape[0] = L->linear.out_features;
        w->shape[1] = L->linear.in_features;
        n = 1;
        bias = L->linear.bias ? L->linear.out_features : 0;
        break;
    default:
        break;
    }
    if (bias) {
        b->ndim = 1;
        b->shape[0] = bias;
        b->is_bias = 1;
    }
    return n + (bias > 0);
}

/* The bias of a tied layer: the shared layer's input size. */
static int64_t tied_bias_len(const cnn_layer_desc *L, const cnn_layer_desc *all)
{
    if (!L->tied.bias) return 0;
    const cnn_layer_desc *o = &all[L->tied.layer];
    return L->kind == CNN_LAYER_TIED_LINEAR ? o->linear.in_features : o->conv.in_channels;
}

static cnn_status make_params(cnn_net *net, cnn_net_error *err)
{
    const int64_t L = net->n_layers;
    int64_t count = 0;
    net_param w, b;
    for (int64_t i = 0; i < L; i++) {
        const cnn_layer_desc *d = &net->layers[i];
        count += d->kind == CNN_LAYER_TIED_LINEAR || d->kind == CNN_LAYER_TIED_CONV_TRANSPOSE
                     ? tied_bias_len(d, net->layers) > 0
                     : layer_params(d, &w, &b);
    }
    if (cnn_calloc(count, sizeof(net_param), (void **)&net->params) ||
        cnn_alloc(L, sizeof(int64_t), (void **)&net->wparam) ||
        cnn_alloc(L, sizeof(int64_t), (void **)&net->bparam))
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "layers", -1);
    int64_t k = 0;
    for (int64_t i = 0; i < L; i++) {
        const cnn_layer_desc *d = &net->layers[i];
        net->wparam[i] = net->bparam[i] = -1;
        if (d->kind == CNN_LAYER_TIED_LINEAR || d->kind == CNN_LAYER_TIED_CONV_TRANSPOSE) {
            const int64_t nb = tied_bias_len(d, net->layers);
            if (nb) {
                memset(&b, 0, sizeof b);
                b.ndim = 1;
                b.shape[0] = nb;
                b.is_bias = 1;
                b.layer = i;
                net->bparam[i] = k;
                net->params[k++] = b;
            }
            continue;
        }
        const int n = layer_params(d, &w, &b);
        if (n >= 1 && w.ndim) {
            w.layer = i;
            net->wparam[i] = k;
            net->params[k++] = w;
        }
        if (b.ndim) {
            b.layer = i;
            net->bparam[i] = k;
            net->params[k++] = b;
        }
    }
    net->n_params = k;
    for (int64_t p = 0; p < k; p++) {
        net_param *q = &net->params[p];
        cnn_status st = cnn_numel(q->ndim, q->shape, &q->numel);
        if (st) return net_fail(err, st, q->layer, q->is_bias ? "bias" : "weight", p);
    }
    /* a tied layer's weight is its owner's */
    for (int64_t i = 0; i < L; i++) {
        const cnn_layer_desc *d = &net->layers[i];
        if (d->kind == CNN_LAYER_TIED_LINEAR || d->kind == CNN_LAYER_TIED_CONV_TRANSPOSE)
            net->wparam[i] = net->wparam[d->tied.layer];
    }
    return CNN_OK;
}

/* ---- public entry points ---------------------------------------------------------------------- */

cnn_status cnn_net_create(const cnn_layer_desc *layers, int64_t n_layers, const cnn_loss_desc *loss,
                          cnn_optim_kind optim, cnn_dtype dtype, uint64_t seed, cnn_net **out,
                          cnn_net_error *err)
{
    cnn_status st;
    net_fail(err, CNN_OK, CNN_NET_WHERE_CALL, "", -1);
    if (!out) return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "out", -1);
    *out = NULL;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64)
        return net_fail(err, CNN_EDTYPE, CNN_NET_WHERE_CALL, "dtype", -1);
    if (!layers || n_layers < 1 || n_layers > ((int64_t)1 << 24))
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "n_layers", -1);
    for (int64_t i = 0; i < n_layers; i++)
        if ((st = check_layer(&layers[i], i, n_layers, layers, err))) return st;
    if (loss && (st = check_loss(loss, err))) return st;
    if ((int)optim < CNN_OPTIM_NONE || (int)optim > CNN_OPTIM_RMSPROP)
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_OPTIM, "optim", -1);
    cnn_net *net;
    if (cnn_calloc(1, sizeof *net, (void **)&net))
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "out", -1);
    net->dtype = dtype;
    net->elsize = dtype == CNN_FLOAT32 ? sizeof(float) : sizeof(double);
    net->n_layers = n_layers;
    net->optim = optim;
    net->seed = seed;
    net->fuse = 1;
    if (loss) net->loss = *loss;
    if (cnn_alloc(n_layers, sizeof *layers, (void **)&net->layers)) {
        cnn_net_destroy(net);
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "layers", -1);
    }
    memcpy(net->layers, layers, (size_t)n_layers * sizeof *layers);
    if ((st = make_params(net, err))) {
        cnn_net_destroy(net);
        return st;
    }
    *out = net;
    return CNN_OK;
}

void cnn_net_destroy(cnn_net *net)
{
    if (!net) return;
    net_free_plan(net->plan);
    net_free_plan(net->spare);
    free(net->layers);
    free(net->params);
    free(net->wparam);
    free(net->bparam);
    free(net);
}

int64_t cnn_net_num_params(const cnn_net *net)
{
    return net ? net->n_params : 0;
}

cnn_status cnn_net_param_shape(const cnn_net *net, int64_t i, int64_t *layer, int *is_bias,
                               int *ndim, int64_t *shape, int64_t *numel)
{
    if (!net || i < 0 || i >= net->n_params) return CNN_EINVAL;
    const net_param *p = &net->params[i];
    if (layer) *layer = p->layer;
    if (is_bias) *is_bias = p->is_bias;
    if (ndim) *ndim = p->ndim;
    if (shape) memcpy(shape, p->shape, (size_t)p->ndim * sizeof(int64_t));
    if (numel) *numel = p->numel;
    return CNN_OK;
}

static cnn_status read_shape(int ndim, const int64_t *dims, net_shape *s, cnn_net_error *err)
{
    if (ndim < 1 || ndim > CNN_NET_MAX_DIMS || !dims)
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "input shape", -1);
    s->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 1) return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "input shape", -1);
        s->dims[d] = dims[d];
    }
    cnn_status st = cnn_numel(ndim, dims, &s->numel);
    return st ? net_fail(err, st, CNN_NET_WHERE_CALL, "input shape", -1) : CNN_OK;
}

cnn_status cnn_net_output_shape(const cnn_net *net, int in_ndim, const int64_t *in_shape,
                                int64_t layer, int *out_ndim, int64_t *out_shape,
                                cnn_net_error *err)
{
    net_shape in, *shapes;
    cnn_status st;
    net_fail(err, CNN_OK, CNN_NET_WHERE_CALL, "", -1);
    if (!net) return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "net", -1);
    if (layer < 0 || layer >= net->n_layers)
        return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "layer", -1);
    if ((st = read_shape(in_ndim, in_shape, &in, err))) return st;
    if (cnn_alloc(layer + 2, sizeof *shapes, (void **)&shapes))
        return net_fail(err, CNN_ENOMEM, CNN_NET_WHERE_CALL, "net", -1);
    st = net_infer(net, &in, layer + 1, shapes, err);
    if (st == CNN_OK) {
        const net_shape *o = &shapes[layer + 1];
        if (out_ndim) *out_ndim = o->ndim;
        if (out_shape) memcpy(out_shape, o->dims, (size_t)o->ndim * sizeof(int64_t));
    }
    free(shapes);
    return st;
}

/* Whether plan p was made for this input shape. */
static int same_shape(const net_plan *p, const net_shape *in)
{
    return p && p->in.ndim == in->ndim && !memcmp(p->in.dims, in->dims, (size_t)in->ndim * sizeof(int64_t));
}

/* Whether plan p was made for this shape and the current thread count, instruction set and
 * fusion setting. */
static int plan_fits(const cnn_net *net, const net_plan *p, const net_shape *in)
{
    return same_shape(p, in) && p->threads == cnn_get_num_threads() && p->table == cnn_kernels() &&
           p->fused == net->fuse;
}

/* Makes the plan for this shape current: the current one, the spare one (the shapes swap), or a
 * new one (which becomes current; the old current becomes the spare). */
static cnn_status replan(cnn_net *net, const net_shape *in, cnn_net_error *err)
{
    if (plan_fits(net, net->plan, in)) return CNN_OK;
    net_plan *other = net->spare;
    if (plan_fits(net, other, in)) {
        net->spare = net->plan;
        net->plan = other;
        return CNN_OK;
    }
    net_plan *fresh;
    cnn_status st = net_build_plan(net, in, &fresh, err);
    if (st) return st;
    /* the id names the shape (loss weights are bound for one): a plan made again for a shape
     * already planned, after the thread count, the ISA or the fusion setting changed, keeps it */
    fresh->id = same_shape(net->plan, in) ? net->plan->id : same_shape(other, in) ? other->id : ++net->plans;
    net_free_plan(net->spare);
    net->spare = net->plan;
    net->plan = fresh;
    return CNN_OK;
}

cnn_status cnn_net_plan(cnn_net *net, int in_ndim, const int64_t *in_shape, cnn_net_error *err)
{
    net_shape in;
    cnn_status st;
    net_fail(err, CNN_OK, CNN_NET_WHERE_CALL, "", -1);
    if (!net) return net_fail(err, CNN_EINVAL, CNN_NET_WHERE_CALL, "net", -1);
    if ((st = read_shape(in_ndim, in_shape, &in, &net->err)) || (st = replan(net, &in, &net->err))) {
        if (err) *err = net->err;
        return st;
    }
    return CNN_OK;
}

int64_t cnn_net_arena_bytes(const cnn_net *net)
{
    return net && net->plan ? net->plan->bytes : 0;
}

cnn_status cnn_net_set_fusion(cnn_net *net, int enabled)
{
    if (!net) return CNN_EINVAL;
    net->fuse = enabled != 0;
    return CNN_OK;
}

const cnn_net_error *cnn_net_last_error(const cnn_net *net)
{
    return net ? &net->err : NULL;
}

cnn_status cnn_net_bind_param(cnn_net *net, int64_t i, void *data, void *grad, void *state0,
                              void *state1, void *state2)
{
    if (!net) return CNN_EINVAL;
    if (i < 0 || i >= net->n_params)
        return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_CALL, "param", i);
    if (!data) return net_fail(&net->err, CNN_EINVAL, net->params[i].layer, "data", i);
    void *const all[5] = {data, grad, state0, state1, state2};
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            if (all[a] && all[a] == all[b])
                return net_fail(&net->err, CNN_EINVAL, net->params[i].layer, "state", i);
    net_param *p = &net->params[i];
    p->data = data;
    p->grad = grad;
    p->state[0] = state0;
    p->state[1] = state1;
    p->state[2] = state2;
    return CNN_OK;
}

cnn_status cnn_net_bind_loss_weights(cnn_net *net, const void *weight, const void *pos_weight)
{
    if (!net) return CNN_EINVAL;
    const cnn_loss_kind k = net->loss.kind;
    const int bce = k == CNN_LOSS_BCE || k == CNN_LOSS_BCE_LOGITS;
    if ((weight && !bce && k != CNN_LOSS_CROSS_ENTROPY) || (pos_weight && k != CNN_LOSS_BCE_LOGITS))
        return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_LOSS, weight ? "weight" : "pos_weight", -1);
    net->loss_w = weight;
    net->loss_pw = pos_weight;
    net->loss_w_bound = bce && (weight || pos_weight); /* class weights fit every shape */
    net->loss_w_plan = net->plan ? net->plan->id : 0;
    return CNN_OK;
}

/* The plan for a call: the current one, re-made if the thread count or the instruction set
 * changed since. */
static cnn_status ready(cnn_net *net)
{
    if (!net->plan) return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_CALL, "plan", -1);
    const net_shape in = net->plan->in;
    return replan(net, &in, &net->err);
}

cnn_status cnn_net_forward(cnn_net *net, const void *x, void *y)
{
    cnn_status st;
    if (!net) return CNN_EINVAL;
    if ((st = ready(net))) return st;
    if (!x || !y) return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_CALL, x ? "y" : "x", -1);
    for (int64_t i = 0; i < net->n_params; i++)
        if (!net->params[i].data)
            return net_fail(&net->err, CNN_EINVAL, net->params[i].layer, "data", i);
    if ((st = net_run_forward(net, x, 0, NULL, NULL))) return st;
    const net_plan *p = net->plan;
    memcpy(y, p->act[net->n_layers], (size_t)p->shapes[net->n_layers].numel * net->elsize);
    return CNN_OK;
}

cnn_status cnn_net_step(cnn_net *net, const cnn_net_step_args *a, double *loss)
{
    cnn_status st;
    if (!net) return CNN_EINVAL;
    if ((st = ready(net))) return st;
    if (!a || !a->x || !a->target || !loss)
        return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_CALL,
                        !a ? "args" : !a->x ? "x" : !a->target ? "target" : "loss", -1);
    if (net->loss.kind == CNN_LOSS_NONE)
        return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_LOSS, "kind", -1);
    if (net->loss_w_bound && net->loss_w_plan != net->plan->id) /* bound for another shape */
        return net_fail(&net->err, CNN_EINVAL, CNN_NET_WHERE_LOSS, "weight", -1);
    return net_run_step(net, a, loss);
}
