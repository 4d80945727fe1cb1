/* net_run.c — running a planned network: the forward pass, and the training step (forward, loss,
 * backward into the bound gradients, optimizer update), on the arena alone. The per-dtype bodies
 * are in generic/net_run.h; the network's own dropout masks are drawn here. */
#include <string.h>

#include "net_internal.h"

/* ---- the network's own dropout masks -------------------------------------------------------------- */

/* SplitMix64's output for state z (Steele, Lea & Flood 2014). */
static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct {
    uint64_t key;
    double p;
    uint8_t *mask;
} draw_task;

/* Byte i keeps when u >= p, u the top 53 bits of the i-th output of SplitMix64 seeded with key,
 * over 2^53: counter-based, so any split over threads draws the same bytes. */
static void draw_run(void *vctx, int64_t begin, int64_t end, int part)
{
    const draw_task *t = vctx;
    (void)part;
    for (int64_t i = begin; i < end; i++) {
        const double u = (double)(splitmix64(t->key + (uint64_t)i * 0x9E3779B97F4A7C15ull) >> 11) *
                         (1.0 / 9007199254740992.0);
        t->mask[i] = u >= t->p;
    }
}

static void draw_mask(const cnn_net *net, int64_t layer, double p, int64_t n, uint8_t *mask)
{
    draw_task t = {splitmix64(net->seed ^ splitmix64(net->draws * 1024 + (uint64_t)layer)), p, mask};
    cnn_parallel_for(n, 32768, 1 << 30, draw_run, &t);
}

/* ---- the per-dtype bodies -------------------------------------------------------------------------- */

#define real float
#define R(name) name##_f32
#define T(name) name##_f32
#include "generic/net_run.h"
#undef real
#undef R
#undef T
#define real double
#define R(name) name##_f64
#define T(name) name##_f64
#include "generic/net_run.h"
#undef real
#undef R
#undef T

/* ---- running the ops ---------------------------------------------------------------------------- */

/* The run's input, and every reshape's view of the buffer it shares. */
static void bind_tensors(net_plan *p, int64_t n_layers, const void *x)
{
    p->act[0] = (void *)x; /* read only: no op writes its input */
    p->grad[0] = NULL;     /* nobody needs the input's gradient */
    for (int64_t t = 1; t <= n_layers; t++)
        if (p->cls[t] >= 0 && p->cls[t] != t) {
            p->act[t] = p->act[p->cls[t]];
            p->grad[t] = p->grad[p->cls[t]];
        }
}

/* A dropout op's mask for this pass and whether it drops at all (training mode). */
static const uint8_t *dropout_mask(const cnn_net *net, net_op *op, int train,
                                   const uint8_t *const *masks, const uint8_t *training,
                                   int draw, int *active)
{
    const int64_t l = op->first;
    *active = train && (!training || training[l]);
    if (!*active) return NULL;
    if (masks && masks[l]) return masks[l];
    if (draw) draw_mask(net, l, op->p, op->groups, op->own_mask);
    return op->own_mask;
}

#ifdef CNN_NET_PROFILE /* benchmarks only (tests/c/test_net.c bench): seconds per op and pass, the
                        * calling thread's CPU time (a loaded machine's waits not counted) */
#include <time.h>
double cnn_net_profile[64][2];
int64_t cnn_net_profile_ops[64][2]; /* the layers of op k */
int64_t cnn_net_profile_n;          /* ops recorded */
static double profile_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#define PROFILE_START(k) const double profile_t0 = profile_clock()
#define PROFILE_STOP(op, k, pass)                                                                 \
    do {                                                                                          \
        if ((k) < 64) {                                                                           \
            cnn_net_profile[k][pass] += profile_clock() - profile_t0;                            \
            cnn_net_profile_ops[k][0] = (op)->first, cnn_net_profile_ops[k][1] = (op)->last;      \
            if ((k) >= cnn_net_profile_n) cnn_net_profile_n = (k) + 1;                            \
        }                                                                                         \
    } while (0)
#else
#define PROFILE_START(k) (void)0
#define PROFILE_STOP(op, k, pass) (void)0
#endif

/* Op k's forward (backward = 0) or backward pass. */
static void run_op(cnn_net *net, net_plan *p, int64_t k, int backward, int train,
                   const uint8_t *const *masks, const uint8_t *training)
{
    net_op *op = &p->ops[k];
    int active = 0;
    const uint8_t *mask = op->kind == OP_DROPOUT ? dropout_mask(net, op, train, masks, training, !backward, &active) : NULL;
    PROFILE_START(k);
    if (net->dtype == CNN_FLOAT32)
        (backward ? backward_op_f32 : forward_op_f32)(net, p, op, mask, active);
    else
        (backward ? backward_op_f64 : forward_op_f64)(net, p, op, mask, active);
    PROFILE_STOP(op, k, backward);
}

cnn_status net_run_forward(cnn_net *net, const void *x, int train, const uint8_t *const *masks,
                           const uint8_t *training)
{
    net_plan *p = net->plan;
    bind_tensors(p, net->n_layers, x);
    for (int64_t k = 0; k < p->n_ops; k++) run_op(net, p, k, 0, train, masks, training);
    if (train) net->draws++;
    return CNN_OK;
}

/* Everything a step reads from the caller, checked before anything is written. */
static cnn_status check_step(cnn_net *net, const cnn_net_step_args *a)
{
    for (int64_t i = 0; i < net->n_params; i++) {
        const net_param *q = &net->params[i];
        if (!q->data) return net_fail(&net->err, CNN_EINVAL, q->layer, "data", i);
        if (!q->grad) return net_fail(&net->err, CNN_EINVAL, q->layer, "grad", i);
        if (!a->hparams || net->optim == CNN_OPTIM_NONE || a->hparams[i].skip) continue;
        const cnn_optim_hparams *h = &a->hparams[i];
        const char *missing = NULL;
        switch (net->optim) {
        case CNN_OPTIM_SGD:
            if (h->momentum != 0 && !q->state[0]) missing = "state0";
            break;
        case CNN_OPTIM_ADAM:
            if (h->step < 1) return net_fail(&net->err, CNN_EINVAL, q->layer, "step", i);
            if (!q->state[0] || !q->state[1]) missing = q->state[0] ? "state1" : "state0";
            else if (h->amsgrad && !q->state[2]) missing = "state2";
            break;
        case CNN_OPTIM_RMSPROP:
            if (!q->state[0]) missing = "state0";
            else if (h->momentum > 0 && !q->state[1]) missing = "state1";
            else if (h->centered && !q->state[2]) missing = "state2";
            break;
        case CNN_OPTIM_NONE: break;
        }
        if (missing) return net_fail(&net->err, CNN_EINVAL, q->layer, missing, i);
    }
    return CNN_OK;
}

cnn_status net_run_step(cnn_net *net, const cnn_net_step_args *a, double *loss)
{
    net_plan *p = net->plan;
    double value = 0;
    cnn_status st = check_step(net, a);
    if (st) return st;
    const uint64_t draws = net->draws;
    net_run_forward(net, a->x, 1, a->masks, a->training);
    st = net->dtype == CNN_FLOAT32 ? loss_forward_f32(net, p, a->target, &value)
                                   : loss_forward_f64(net, p, a->target, &value);
    if (st) { /* the target is refused (a class index, a probability): nothing was written */
        net->draws = draws;
        return net_fail(&net->err, st, CNN_NET_WHERE_LOSS, "target", -1);
    }
    for (int64_t i = 0; i < net->n_params; i++) /* zero_grad(), where the backward adds */
        if (!p->grad_written[i]) memset(net->params[i].grad, 0, (size_t)net->params[i].numel * net->elsize);
    if (net->dtype == CNN_FLOAT32) loss_backward_f32(net, p, a->target);
    else loss_backward_f64(net, p, a->target);
    for (int64_t k = p->n_ops - 1; k >= 0; k--) run_op(net, p, k, 1, 1, a->masks, a->training);
    if (a->hparams && net->optim != CNN_OPTIM_NONE)
        for (int64_t i = 0; i < net->n_params; i++) {
            if (a->hparams[i].skip) continue;
            if (net->dtype == CNN_FLOAT32) update_f32(net, p, &net->params[i], &a->hparams[i]);
            else update_f64(net, p, &net->params[i], &a->hparams[i]);
        }
    if (a->output)
        memcpy(a->output, p->act[net->n_layers], (size_t)p->shapes[net->n_layers].numel * net->elsize);
    *loss = value;
    return CNN_OK;
}
