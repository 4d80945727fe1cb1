/* net_internal.h — what the network files share (net.c: the object, descriptors and bindings;
 * net_plan.c: shapes, fusion and the arena; net_run.c: forward, loss, backward, update). */
#ifndef CNN_NET_INTERNAL_H
#define CNN_NET_INTERNAL_H

#include "internal.h"

typedef struct {
    int ndim;
    int64_t dims[CNN_NET_MAX_DIMS];
    int64_t numel;
} net_shape;

typedef struct {
    int64_t layer; /* owning layer */
    int is_bias;
    int ndim;
    int64_t shape[4];
    int64_t numel;
    void *data, *grad, *state[3]; /* bound by the caller */
} net_param;

/* What one op runs. Layers become ops one to one, except a fused group (OP_FUSED), which runs a
 * convolution and the activation and pooling layers after it. */
enum net_op_kind {
    OP_CONV, OP_CONVT, OP_MAXPOOL, OP_AVGPOOL, OP_ADAPTIVE_AVG, OP_ADAPTIVE_MAX, OP_LINEAR,
    OP_TIED_LINEAR, OP_RESHAPE, OP_ACT, OP_SOFTMAX, OP_DROPOUT, OP_FUSED
};

typedef struct {
    int kind;
    int64_t first, last;   /* the layers it runs */
    int need_dx;           /* backward computes the gradient of its input */
    /* convolution (OP_CONV, OP_CONVT, OP_FUSED): the geometry its kernels run; transpose
     * convolution runs the convolution whose input gradient it is */
    conv_geom g;
    cnn_algo algo;
    int transpose;
    convt_plan ct;         /* transpose convolution (OP_CONVT, a fused transpose): the plan the
                            * public calls make, made once here; bound to the scratch per run */
    int64_t wparam, bparam; /* parameter indices (-1: none) */
    int w_direct;          /* the weight gradient goes straight into the bound gradient (its first
                            * user in backward order); else into dwtmp, then added */
    int flip;              /* true convolution: the weight flipped into wflip */
    void *wflip, *dwtmp;
    int pad_explicit;      /* a padding mode other than zeros: the input padded into xpad */
    cnn_pad_mode pad_mode;
    double pad_value;
    int64_t pads[4];       /* explicit padding: top, bottom, left, right */
    int64_t in_h, in_w;    /* the unpadded input plane */
    int64_t *map_h, *map_w; /* padded row / column -> source (-1: the fill value) */
    void *xpad, *dxpad;
    /* pooling */
    cnn_pool2d_desc pd;
    int64_t planes, H, W, OH, OW;
    int64_t *idx;          /* adaptive max pooling, max pooling with over 255 window taps */
    uint8_t *arg;          /* max pooling: the maximum's tap in its window (maxpool_forward_arg) */
    /* dense */
    int64_t rows, fin, fout;
    void *wt;              /* tied linear: the shared weight transposed */
    /* activation, softmax */
    int act;
    double slope;
    int64_t outer, len, inner;
    /* dropout */
    double p;
    int64_t groups, group_len; /* mask bytes, elements per byte */
    uint8_t *own_mask;
    /* fused group */
    net_fused f;
} net_op;

/* Whether a max pooling op keeps the compact uint8 tap of each maximum (maxpool_forward_arg,
 * maxpool_backward_arg) rather than flat int64 indices: whenever its window fits a byte. */
static inline int net_pool_arg(const net_op *op)
{
    return op->pd.kernel_h * op->pd.kernel_w <= 255;
}

typedef struct {
    net_shape in;
    int threads;
    const cnn_kernel_table *table;
    int fused;
    net_shape *shapes;    /* n_layers + 1: [0] the input, [i + 1] layer i's output */
    int64_t *cls;         /* n_layers + 1: the tensor whose buffers tensor i shares (reshapes);
                           * -1 inside a fused group (no buffers) */
    void **act, **grad;   /* n_layers + 1: values and gradients (NULL: none; [0] is the input) */
    int64_t n_ops;
    net_op *ops;
    uint8_t *grad_written; /* n_params: the backward writes this gradient over (a dense layer's
                            * weight, its first user, and bias), so the step need not zero it */
    void *scratch;        /* kernel scratch shared by the ops, scratch_len elements */
    int64_t scratch_len;
    void *one;            /* the loss's output gradient: 1 (MEAN, SUM) or ones (NONE) */
    void *loss_out;       /* the loss value(s) */
    int64_t loss_len;
    double *loss_work;    /* cross entropy: a log-softmax row */
    char *arena;
    int64_t bytes;
    uint64_t id;          /* its input shape's number in its network (loss weights are bound for one) */
} net_plan;

struct cnn_net {
    cnn_dtype dtype;
    size_t elsize;
    int64_t n_layers;
    cnn_layer_desc *layers;
    cnn_loss_desc loss;
    cnn_optim_kind optim;
    uint64_t seed, draws; /* the network's own dropout masks: seed, steps drawn so far */
    int fuse;
    int64_t n_params;
    net_param *params;
    int64_t *wparam, *bparam; /* per layer: its weight's and bias's parameter (-1: none) */
    net_plan *plan;       /* the current plan */
    net_plan *spare;      /* the one before, kept: alternating shapes re-plan nothing */
    uint64_t plans;       /* plans made */
    const void *loss_w, *loss_pw;
    uint64_t loss_w_plan; /* the plan the elementwise loss weights were bound for */
    int loss_w_bound;
    cnn_net_error err;    /* where the last failed call failed */
};

/* Records where a call failed (err may be NULL) and returns st. */
cnn_status net_fail(cnn_net_error *err, cnn_status st, int64_t layer, const char *field,
                    int64_t param);

/* net_plan.c */
cnn_status net_infer(const cnn_net *net, const net_shape *in, int64_t upto, net_shape *shapes,
                     cnn_net_error *err);
cnn_status net_build_plan(cnn_net *net, const net_shape *in, net_plan **out, cnn_net_error *err);
void net_free_plan(net_plan *plan);

/* net_run.c */
cnn_status net_run_forward(cnn_net *net, const void *x, int train, const uint8_t *const *masks,
                           const uint8_t *training);
cnn_status net_run_step(cnn_net *net, const cnn_net_step_args *a, double *loss);

#endif /* CNN_NET_INTERNAL_H */
