/* generic/net_run.h — running a planned network for one dtype (`real`; R(name) this file's
 * functions, T(name) the kernel-table fields of the dtype): every op's forward and backward on
 * the arena, the loss and the optimizer update. Included twice by net_run.c. Each op calls the
 * kernels the engine's entry points call, on the same arrays, so a step computes what the
 * sequence of engine calls computes; an accumulating kernel gets a zeroed output, as the binding
 * gives it a fresh np.zeros array. */

static void R(zero)(void *p, int64_t n)
{
    if (p && n > 0) memset(p, 0, (size_t)n * sizeof(real));
}

/* ---- copies: explicit padding, flipped and transposed weights, their gradients ------------------ */

/* xp (planes, Hp, Wp) = x (planes, H, W) padded through the index maps (pad_forward_dim's copy). */
static void R(pad_copy)(const net_op *op, const real *x, real *xp)
{
    const int64_t planes = op->g.N * op->g.C_in, H = op->in_h, W = op->in_w;
    const int64_t Hp = op->g.H, Wp = op->g.W;
    const real v = (real)op->pad_value;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t r = 0; r < Hp; r++) {
            real *row = xp + (pl * Hp + r) * Wp;
            const int64_t sr = op->map_h[r];
            if (sr < 0) {
                for (int64_t q = 0; q < Wp; q++) row[q] = v;
                continue;
            }
            const real *src = x + (pl * H + sr) * W;
            for (int64_t q = 0; q < Wp; q++) row[q] = op->map_w[q] >= 0 ? src[op->map_w[q]] : v;
        }
}

/* dx += the adjoint of pad_copy applied to dxp, in pad_backward_dim's order. */
static void R(pad_adjoint)(const net_op *op, const real *dxp, real *dx)
{
    const int64_t planes = op->g.N * op->g.C_in, H = op->in_h, W = op->in_w;
    const int64_t Hp = op->g.H, Wp = op->g.W;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t r = 0; r < Hp; r++) {
            const int64_t sr = op->map_h[r];
            if (sr < 0) continue;
            const real *row = dxp + (pl * Hp + r) * Wp;
            real *dst = dx + (pl * H + sr) * W;
            for (int64_t q = 0; q < Wp; q++)
                if (op->map_w[q] >= 0) dst[op->map_w[q]] += row[q];
        }
}

/* A (outer, kh*kw) weight with each kernel reversed: w[:, :, ::-1, ::-1]. With add, dst += it. */
static void R(flip_kernel)(const conv_geom *g, int64_t outer, const real *w, real *dst, int add)
{
    const int64_t kk = g->kH * g->kW;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < kk; k++) {
            const real v = w[o * kk + kk - 1 - k];
            dst[o * kk + k] = add ? dst[o * kk + k] + v : v;
        }
}

/* dst (cols, rows) = src (rows, cols) transposed; with add, dst += it. */
static void R(transpose)(int64_t rows, int64_t cols, const real *src, real *dst, int add)
{
    for (int64_t c = 0; c < cols; c++)
        for (int64_t r = 0; r < rows; r++) {
            const real v = src[r * cols + c];
            dst[c * rows + r] = add ? dst[c * rows + r] + v : v;
        }
}

static void R(add)(int64_t n, const real *src, real *dst)
{
    for (int64_t i = 0; i < n; i++) dst[i] = dst[i] + src[i];
}

/* ---- forward ------------------------------------------------------------------------------------- */

static real *R(param)(const cnn_net *net, int64_t i)
{
    return i >= 0 ? (real *)net->params[i].data : NULL;
}

/* The convolution's input and weight as its kernels read them: padded into xpad, flipped into
 * wflip (mode="conv"). */
static const real *R(conv_input)(net_op *op, const real *x)
{
    if (!op->pad_explicit) return x;
    R(pad_copy)(op, x, (real *)op->xpad);
    return (const real *)op->xpad;
}

static const real *R(conv_weight)(const cnn_net *net, const net_op *op, int refresh)
{
    const real *w = R(param)(net, op->wparam);
    if (!op->flip) return w;
    if (refresh) R(flip_kernel)(&op->g, op->g.C_out * (op->g.C_in / op->g.groups), w, (real *)op->wflip, 0);
    return (const real *)op->wflip;
}

/* Whether a transpose convolution has any output: the public calls run nothing otherwise. */
static int R(convt_runs)(const net_op *op)
{
    const convt_plan *c = &op->ct;
    return c->N > 0 && c->C_out > 0 && c->OH > 0 && c->OW > 0;
}

/* Inverted dropout, one mask byte per group of `len` elements: dropout_apply's product. */
static void R(dropout_groups)(int64_t groups, int64_t len, double p, const uint8_t *mask,
                              const real *in, real *out, int accumulate)
{
    const real scale = p < 1.0 ? (real)(1.0 / (1.0 - p)) : 0, zero = 0;
    for (int64_t g = 0; g < groups; g++) {
        const real s = mask[g] ? scale : 0;
        for (int64_t i = g * len; i < (g + 1) * len; i++) {
            const real v = in[i] * s;
            out[i] = accumulate ? zero + v : v;
        }
    }
}

static void R(forward_op)(cnn_net *net, net_plan *p, net_op *op, const uint8_t *mask, int active)
{
    const cnn_kernel_table *tab = p->table;
    const real *x = (const real *)p->act[op->first];
    real *y = (real *)p->act[op->last + 1];
    const real *b = R(param)(net, op->bparam);
    const int64_t n_out = p->shapes[op->last + 1].numel;
    switch (op->kind) {
    case OP_CONV:
        tab->T(conv_forward)(&op->g, op->algo, R(conv_input)(op, x), R(conv_weight)(net, op, 1), b, y, 0,
                             (real *)p->scratch);
        break;
    case OP_CONVT:
        if (R(convt_runs)(op)) {
            convt_plan_bind(&op->ct, p->scratch);
            tab->T(convt_forward)(&op->ct, x, R(param)(net, op->wparam), b, y);
        }
        break;
    case OP_FUSED:
        if (op->transpose) convt_plan_bind(&op->ct, p->scratch);
        op->f.ct = &op->ct;
        op->f.x = op->transpose ? x : R(conv_input)(op, x);
        op->f.w = op->transpose ? R(param)(net, op->wparam) : R(conv_weight)(net, op, 1);
        op->f.b = b;
        op->f.y = y;
        op->f.scratch = p->scratch;
        tab->T(fused_forward)(&op->f);
        break;
    case OP_MAXPOOL:
        if (op->arg)
            tab->T(maxpool_forward_arg)(&op->pd, op->OH, op->OW, x, y, op->arg);
        else
            tab->T(maxpool_forward)(&op->pd, op->OH, op->OW, x, y, op->idx);
        break;
    case OP_AVGPOOL: tab->T(avgpool_forward)(&op->pd, op->OH, op->OW, x, y); break;
    case OP_ADAPTIVE_AVG: tab->T(adaptive_avg_forward)(op->planes, op->H, op->W, op->OH, op->OW, x, y); break;
    case OP_ADAPTIVE_MAX:
        tab->T(adaptive_max_forward)(op->planes, op->H, op->W, op->OH, op->OW, x, y, op->idx);
        break;
    case OP_LINEAR:
        tab->T(linear_forward)(op->rows, op->fin, op->fout, x, R(param)(net, op->wparam), b, y,
                               (real *)p->scratch, p->threads);
        break;
    case OP_TIED_LINEAR: /* F.linear(x, W.T): the transposed weight as a contiguous array */
        R(transpose)(op->fin, op->fout, R(param)(net, op->wparam), (real *)op->wt, 0);
        tab->T(linear_forward)(op->rows, op->fin, op->fout, x, (const real *)op->wt, b, y,
                               (real *)p->scratch, p->threads);
        break;
    case OP_ACT: tab->T(act_forward)((enum act_kind)op->act, n_out, (real)op->slope, x, y); break;
    case OP_SOFTMAX: tab->T(softmax_forward)(0, op->outer, op->len, op->inner, x, y); break;
    case OP_DROPOUT:
        if (!active)
            memcpy(y, x, (size_t)n_out * sizeof(real));
        else if (op->group_len == 1)
            tab->T(dropout_apply)(n_out, op->p, mask, x, y, 0);
        else
            R(dropout_groups)(op->groups, op->group_len, op->p, mask, x, y, 0);
        break;
    case OP_RESHAPE: break;
    }
}

/* ---- backward ------------------------------------------------------------------------------------ */

/* Where a weight gradient goes: the bound gradient when this op is the weight's first user in
 * backward order and nothing is reordered on the way, else the zeroed dwtmp (added afterwards). */
static real *R(dw_target)(const cnn_net *net, const net_op *op)
{
    if (op->wparam < 0) return NULL;
    if (op->w_direct && !op->flip && op->kind != OP_TIED_LINEAR) return (real *)net->params[op->wparam].grad;
    R(zero)(op->dwtmp, net->params[op->wparam].numel);
    return (real *)op->dwtmp;
}

/* The bound gradient += dwtmp (flipped back, transposed back): `grad += gw` in the layers. */
static void R(dw_finish)(const cnn_net *net, const net_op *op)
{
    if (op->wparam < 0) return;
    const net_param *w = &net->params[op->wparam];
    if (op->kind == OP_TIED_LINEAR)
        R(transpose)(op->fout, op->fin, (const real *)op->dwtmp, (real *)w->grad, 1);
    else if (op->flip)
        R(flip_kernel)(&op->g, op->g.C_out * (op->g.C_in / op->g.groups), (const real *)op->dwtmp,
                       (real *)w->grad, 1);
    else if (!op->w_direct)
        R(add)(w->numel, (const real *)op->dwtmp, (real *)w->grad);
}

/* A convolution's backward from its output gradient dy (the layer's, or a fused group's rebuilt
 * one): cnn_conv2d_backward's three kernels, then the padding's adjoint. */
static void R(conv_backward)(const cnn_net *net, net_plan *p, net_op *op, const real *dy, int weights)
{
    const cnn_kernel_table *tab = p->table;
    const conv_geom *g = &op->g;
    const real *xin = op->pad_explicit ? (const real *)op->xpad : (const real *)p->act[op->first];
    real *dx = (real *)p->grad[op->first];
    if (op->need_dx) {
        real *dst = op->pad_explicit ? (real *)op->dxpad : dx;
        R(zero)(dst, g->N * g->C_in * g->H * g->W);
        tab->T(conv_backward_data)(g, op->algo, dy, R(conv_weight)(net, op, 0), dst, (real *)p->scratch);
        if (op->pad_explicit) {
            R(zero)(dx, p->shapes[op->first].numel);
            R(pad_adjoint)(op, dst, dx);
        }
    }
    if (!weights) return;
    real *dw = R(dw_target)(net, op);
    if (dw) tab->T(conv_backward_weight)(g, op->algo, dy, xin, dw, (real *)p->scratch);
    if (op->bparam >= 0)
        tab->T(bias_backward)(g->N, g->C_out, g->OH * g->OW, dy, (real *)net->params[op->bparam].grad);
}

/* A transpose convolution's backward: cnn_conv_transpose2d_backward's plan and kernels onto a
 * zeroed dx and dw (the bound gradient when direct) and the bound bias gradient. */
static void R(convt_backward)(const cnn_net *net, net_plan *p, net_op *op, const real *dy)
{
    real *dx = op->need_dx ? (real *)p->grad[op->first] : NULL;
    R(zero)(dx, p->shapes[op->first].numel);
    real *dw = R(dw_target)(net, op);
    real *db = op->bparam >= 0 ? (real *)net->params[op->bparam].grad : NULL;
    if (!R(convt_runs)(op)) return;
    convt_plan_bind(&op->ct, p->scratch); /* the scratch other ops used since */
    p->table->T(convt_backward)(&op->ct, dy, (const real *)p->act[op->first], R(param)(net, op->wparam),
                                dx, dw, db);
}

static void R(backward_op)(cnn_net *net, net_plan *p, net_op *op, const uint8_t *mask, int active)
{
    const cnn_kernel_table *tab = p->table;
    const real *x = (const real *)p->act[op->first];
    const real *y = (const real *)p->act[op->last + 1];
    const real *dy = (const real *)p->grad[op->last + 1];
    real *dx = op->need_dx ? (real *)p->grad[op->first] : NULL;
    real *db = op->bparam >= 0 ? (real *)net->params[op->bparam].grad : NULL;
    const int64_t n_in = p->shapes[op->first].numel;
    if (!dx && op->wparam < 0 && op->bparam < 0) return; /* nothing anybody reads */
    switch (op->kind) {
    case OP_CONV: R(conv_backward)(net, p, op, dy, 1); break;
    case OP_CONVT: R(convt_backward)(net, p, op, dy); break;
    case OP_FUSED: {
        net_fused *f = &op->f;
        f->dy = dy;
        f->dw = f->dw_per_image ? R(dw_target)(net, op) : NULL;
        f->db = f->dw_per_image ? db : NULL;
        tab->T(fused_backward)(f);
        if (op->transpose)
            R(convt_backward)(net, p, op, (const real *)f->dconv);
        else
            R(conv_backward)(net, p, op, (const real *)f->dconv, !f->dw_per_image);
        break;
    }
    case OP_MAXPOOL:
        if (op->arg) { /* a gather: every element of dx written once, no zero fill */
            tab->T(maxpool_backward_arg)(&op->pd, op->OH, op->OW, dy, op->arg, dx, 0);
            break;
        }
        /* fall through */
    case OP_ADAPTIVE_MAX:
        R(zero)(dx, n_in);
        tab->T(index_scatter)(op->planes, op->OH * op->OW, op->H * op->W, dy, op->idx, dx);
        break;
    case OP_AVGPOOL:
        R(zero)(dx, n_in);
        tab->T(avgpool_backward)(&op->pd, op->OH, op->OW, dy, dx, 1);
        break;
    case OP_ADAPTIVE_AVG:
        R(zero)(dx, n_in);
        tab->T(adaptive_avg_backward)(op->planes, op->H, op->W, op->OH, op->OW, dy, dx);
        break;
    case OP_LINEAR:
    case OP_TIED_LINEAR: {
        const real *w = op->kind == OP_LINEAR ? R(param)(net, op->wparam) : (const real *)op->wt;
        /* written over, not added to: dx is this op's alone, dw_target is the bound gradient
         * this op writes first (the step leaves it unzeroed: plan's grad_written) or dwtmp, db
         * is this layer's own (not zeroed either) */
        tab->T(linear_backward)(op->rows, op->fin, op->fout, dy, x, w, dx, R(dw_target)(net, op), db,
                                0, (real *)p->scratch, p->threads);
        break;
    }
    case OP_ACT:
        R(zero)(dx, n_in);
        tab->T(act_backward)((enum act_kind)op->act, n_in, (real)op->slope, dy, x, dx);
        break;
    case OP_SOFTMAX:
        R(zero)(dx, n_in);
        tab->T(softmax_backward)(0, op->outer, op->len, op->inner, dy, y, dx);
        break;
    case OP_DROPOUT:
        if (!active) {
            memcpy(dx, dy, (size_t)n_in * sizeof(real));
        } else if (op->group_len == 1) {
            R(zero)(dx, n_in);
            tab->T(dropout_apply)(n_in, op->p, mask, dy, dx, 1);
        } else {
            R(dropout_groups)(op->groups, op->group_len, op->p, mask, dy, dx, 1);
        }
        break;
    case OP_RESHAPE: break;
    }
    R(dw_finish)(net, op);
}

/* ---- loss --------------------------------------------------------------------------------------- */

/* The loss of the output against the target into p->loss_out, and its value. */
static cnn_status R(loss_forward)(const cnn_net *net, net_plan *p, const void *target, double *value)
{
    const net_shape *o = &p->shapes[net->n_layers];
    const real *x = (const real *)p->act[net->n_layers];
    const cnn_reduction red = net->loss.reduction;
    const cnn_dtype dt = net->dtype;
    const int64_t n = o->numel, rows = o->ndim == 1 ? 1 : o->dims[0];
    int64_t len = 1;
    cnn_status st = CNN_EINVAL;
    switch (net->loss.kind) {
    case CNN_LOSS_MSE: st = cnn_mse_loss_forward(dt, n, x, target, red, p->loss_out); len = n; break;
    case CNN_LOSS_L1: st = cnn_l1_loss_forward(dt, n, x, target, red, p->loss_out); len = n; break;
    case CNN_LOSS_BCE: st = cnn_bce_loss_forward(dt, n, x, target, net->loss_w, red, p->loss_out); len = n; break;
    case CNN_LOSS_BCE_LOGITS:
        st = cnn_bce_logits_loss_forward(dt, n, x, target, net->loss_w, net->loss_pw, red, p->loss_out);
        len = n;
        break;
    case CNN_LOSS_CROSS_ENTROPY: {
        const int64_t classes = o->ndim == 1 ? o->dims[0] : o->dims[1];
        len = n / classes;
        st = cnn_cross_entropy_forward_ws(dt, rows, classes, len / rows, x, target, net->loss_w,
                                          net->loss.ignore_index, net->loss.label_smoothing, red,
                                          p->loss_out, p->loss_work);
        break;
    }
    case CNN_LOSS_CORRELATION:
        st = cnn_correlation_loss_forward(dt, rows, n / rows, x, target, red, p->loss_out);
        len = rows;
        break;
    case CNN_LOSS_NONE: break;
    }
    if (st) return st;
    const real *v = (const real *)p->loss_out;
    if (red != CNN_REDUCE_NONE) {
        *value = (double)v[0];
    } else {
        double s = 0;
        for (int64_t i = 0; i < len; i++) s += (double)v[i];
        *value = s;
    }
    return CNN_OK;
}

/* The output gradient: the loss's backward with d loss = 1 (ones for NONE) onto zeros. */
static void R(loss_backward)(const cnn_net *net, net_plan *p, const void *target)
{
    const net_shape *o = &p->shapes[net->n_layers];
    const real *x = (const real *)p->act[net->n_layers];
    real *dx = (real *)p->grad[net->n_layers];
    const cnn_reduction red = net->loss.reduction;
    const cnn_dtype dt = net->dtype;
    const int64_t n = o->numel, rows = o->ndim == 1 ? 1 : o->dims[0];
    R(zero)(dx, n);
    switch (net->loss.kind) {
    case CNN_LOSS_MSE: cnn_mse_loss_backward(dt, n, p->one, x, target, red, dx, NULL); break;
    case CNN_LOSS_L1: cnn_l1_loss_backward(dt, n, p->one, x, target, red, dx, NULL); break;
    case CNN_LOSS_BCE: cnn_bce_loss_backward(dt, n, p->one, x, target, net->loss_w, red, dx, NULL); break;
    case CNN_LOSS_BCE_LOGITS:
        cnn_bce_logits_loss_backward(dt, n, p->one, x, target, net->loss_w, net->loss_pw, red, dx, NULL);
        break;
    case CNN_LOSS_CROSS_ENTROPY: {
        const int64_t classes = o->ndim == 1 ? o->dims[0] : o->dims[1];
        cnn_cross_entropy_backward_ws(dt, rows, classes, n / classes / rows, p->one, x, target,
                                      net->loss_w, net->loss.ignore_index,
                                      net->loss.label_smoothing, red, dx, p->loss_work);
        break;
    }
    case CNN_LOSS_CORRELATION: cnn_correlation_loss_backward(dt, rows, n / rows, p->one, x, target, red, dx, NULL); break;
    case CNN_LOSS_NONE: break;
    }
}

/* ---- the optimizer -------------------------------------------------------------------------------- */

static void R(update)(const cnn_net *net, const net_plan *p, const net_param *q, const cnn_optim_hparams *h)
{
    const cnn_kernel_table *tab = p->table;
    real *w = (real *)q->data, *s0 = (real *)q->state[0], *s1 = (real *)q->state[1], *s2 = (real *)q->state[2];
    const real *g = (const real *)q->grad;
    switch (net->optim) {
    case CNN_OPTIM_SGD:
        tab->T(sgd)(q->numel, w, g, h->momentum != 0 ? s0 : NULL, h->lr, h->momentum, h->dampening,
                    h->weight_decay, h->nesterov, h->maximize, h->step == 1);
        break;
    case CNN_OPTIM_ADAM:
        tab->T(adam)(q->numel, w, g, s0, s1, h->amsgrad ? s2 : NULL, h->lr, h->beta1, h->beta2, h->eps,
                     h->weight_decay, h->decoupled, h->maximize, h->step);
        break;
    case CNN_OPTIM_RMSPROP:
        tab->T(rmsprop)(q->numel, w, g, s0, h->centered ? s2 : NULL, h->momentum > 0 ? s1 : NULL, h->lr,
                        h->alpha, h->eps, h->weight_decay, h->momentum, h->maximize);
        break;
    case CNN_OPTIM_NONE: break;
    }
}
