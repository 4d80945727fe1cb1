/* net.c — the network binding: a capsule owning a cnn_net (cnn.h, "Networks") and references to
 * every array bound to it, and the calls on it (create, plan, bind, forward, step) with the GIL
 * released. cnnpy.compile builds the layer descriptors (dicts named like cnn_layer_desc's fields),
 * decides what a model can run and words every message; here: memory safety (dtype, contiguity,
 * sizes of every array the engine reads or writes) and the engine's failure location. */
#include "binding.h"

#include <string.h>

#define HP_FIELDS 15 /* the columns of a step's hyper-parameter array, in net_step's order */
#define BOUND_PER_PARAM 5

/* The capsule's contents. */
typedef struct {
    cnn_net *net;
    cnn_dtype dtype;
    int typenum;
    int64_t n_layers, n_params;
    PyObject **bound;        /* n_params * 5 arrays kept alive while bound (NULL: none) */
    PyObject *loss_w, *loss_pw;
    cnn_optim_hparams *hp;   /* n_params, filled from the step's array */
    const uint8_t **masks;   /* n_layers */
    int planned;
    int in_ndim, out_ndim;
    int64_t in_shape[CNN_NET_MAX_DIMS], out_shape[CNN_NET_MAX_DIMS];
    int64_t in_numel, out_numel;
    cnn_layer_kind *kinds;   /* n_layers */
    int64_t *mask_len;       /* n_layers: a dropout layer's mask bytes in the current plan, else 0 */
    int busy;                /* a call without the GIL is running on this net */
} net_box;

static const char *const CAPSULE = "cnnpy._cnn.net";

static void box_free(net_box *b)
{
    if (!b) return;
    cnn_net_destroy(b->net);
    if (b->bound)
        for (int64_t i = 0; i < b->n_params * BOUND_PER_PARAM; i++) Py_XDECREF(b->bound[i]);
    Py_XDECREF(b->loss_w);
    Py_XDECREF(b->loss_pw);
    PyMem_Free(b->bound);
    PyMem_Free(b->hp);
    PyMem_Free((void *)b->masks);
    PyMem_Free(b->mask_len);
    PyMem_Free(b->kinds);
    PyMem_Free(b);
}

static void capsule_free(PyObject *cap)
{
    box_free(PyCapsule_GetPointer(cap, CAPSULE));
}

static net_box *get_box(PyObject *cap)
{
    net_box *b = PyCapsule_GetPointer(cap, CAPSULE);
    if (b && b->busy) {
        PyErr_SetString(PyExc_RuntimeError, "net: another call is running on this network");
        return NULL;
    }
    return b;
}

/* ValueError (MemoryError, OverflowError, TypeError by status) with args
 * (message, layer, field, param): cnnpy.compile turns them into a message naming the layer. */
static PyObject *raise_net(cnn_status st, const char *op, const cnn_net_error *e)
{
    if (st == CNN_ENOMEM) return PyErr_NoMemory();
    PyObject *cls = st == CNN_EOVERFLOW ? PyExc_OverflowError
                    : st == CNN_EDTYPE  ? PyExc_TypeError
                                        : PyExc_ValueError;
    PyObject *msg = PyUnicode_FromFormat("%s: %s", op, cnn_strerror(st));
    PyObject *v = msg ? Py_BuildValue("(NLsL)", msg, (long long)(e ? e->layer : CNN_NET_WHERE_CALL),
                                      e && e->field ? e->field : "", (long long)(e ? e->param : -1))
                      : NULL;
    if (v) {
        PyErr_SetObject(cls, v);
        Py_DECREF(v);
    }
    return NULL;
}

/* ---- descriptors from dicts ------------------------------------------------------------------- */

/* d[name] as an int64 / a double; a missing key leaves *out as it is (zero-initialised). */
static int get_i64(PyObject *d, const char *name, int64_t *out)
{
    PyObject *v = PyDict_GetItemString(d, name);
    if (!v) return 1;
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) return 0;
    *out = (int64_t)x;
    return 1;
}

static int get_int(PyObject *d, const char *name, int *out)
{
    int64_t v = *out;
    if (!get_i64(d, name, &v)) return 0;
    if (v < -2147483647 || v > 2147483647) {
        PyErr_Format(PyExc_OverflowError, "net_create: %s out of range", name);
        return 0;
    }
    *out = (int)v;
    return 1;
}

static int get_f64(PyObject *d, const char *name, double *out)
{
    PyObject *v = PyDict_GetItemString(d, name);
    if (!v) return 1;
    double x = PyFloat_AsDouble(v);
    if (x == -1.0 && PyErr_Occurred()) return 0;
    *out = x;
    return 1;
}

#define I64(field) get_i64(d, #field, &M.field)
#define INT(field) get_int(d, #field, &M.field)

static int read_layer(PyObject *d, cnn_layer_desc *L)
{
    int kind = 0;
    memset(L, 0, sizeof *L);
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "net_create: each layer must be a dict");
        return 0;
    }
    if (!get_int(d, "kind", &kind) || !get_int(d, "spatial_dims", &L->spatial_dims)) return 0;
    L->kind = (cnn_layer_kind)kind;
    switch (L->kind) {
    case CNN_LAYER_CONV: {
#define M L->conv
        int mode = (int)M.pad_mode;
        int ok = I64(in_channels) && I64(out_channels) && I64(kernel_h) && I64(kernel_w) &&
                 I64(stride_h) && I64(stride_w) && I64(pad_top) && I64(pad_bottom) &&
                 I64(pad_left) && I64(pad_right) && INT(same_h) && INT(same_w) &&
                 I64(dilation_h) && I64(dilation_w) && I64(groups) && INT(bias) &&
                 get_int(d, "pad_mode", &mode) && get_f64(d, "pad_value", &M.pad_value) && INT(flip);
        M.pad_mode = (cnn_pad_mode)mode;
        return ok;
#undef M
    }
    case CNN_LAYER_CONV_TRANSPOSE:
#define M L->conv_transpose
        return I64(in_channels) && I64(out_channels) && I64(kernel_h) && I64(kernel_w) &&
               I64(stride_h) && I64(stride_w) && I64(pad_h) && I64(pad_w) &&
               I64(output_padding_h) && I64(output_padding_w) && I64(dilation_h) &&
               I64(dilation_w) && I64(groups) && INT(bias);
#undef M
    case CNN_LAYER_MAXPOOL:
    case CNN_LAYER_AVGPOOL:
#define M L->pool
        return I64(kernel_h) && I64(kernel_w) && I64(stride_h) && I64(stride_w) && I64(pad_h) &&
               I64(pad_w) && I64(dilation_h) && I64(dilation_w) && INT(ceil_mode) &&
               INT(count_include_pad) && I64(divisor_override);
#undef M
    case CNN_LAYER_ADAPTIVE_AVGPOOL:
    case CNN_LAYER_ADAPTIVE_MAXPOOL:
#define M L->adaptive
        return I64(out_h) && I64(out_w);
#undef M
    case CNN_LAYER_LINEAR:
#define M L->linear
        return I64(in_features) && I64(out_features) && INT(bias);
#undef M
    case CNN_LAYER_TIED_LINEAR:
    case CNN_LAYER_TIED_CONV_TRANSPOSE:
#define M L->tied
        return I64(layer) && INT(bias) && I64(stride_h) && I64(stride_w) && I64(pad_h) &&
               I64(pad_w) && I64(output_padding_h) && I64(output_padding_w);
#undef M
    case CNN_LAYER_FLATTEN:
#define M L->flatten
        return I64(start_dim) && I64(end_dim);
#undef M
    case CNN_LAYER_UNFLATTEN: {
        PyObject *sizes = PyDict_GetItemString(d, "sizes");
        if (!get_i64(d, "dim", &L->unflatten.dim)) return 0;
        if (!sizes || !PyTuple_Check(sizes) || PyTuple_GET_SIZE(sizes) < 1 ||
            PyTuple_GET_SIZE(sizes) > CNN_NET_MAX_DIMS - 1) {
            PyErr_SetString(PyExc_ValueError, "net_create: unflatten sizes must be a tuple of 1 to 7 ints");
            return 0;
        }
        L->unflatten.ndims = (int)PyTuple_GET_SIZE(sizes);
        for (int i = 0; i < L->unflatten.ndims; i++) {
            long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(sizes, i));
            if (v == -1 && PyErr_Occurred()) return 0;
            L->unflatten.sizes[i] = (int64_t)v;
        }
        return 1;
    }
    case CNN_LAYER_LEAKY_RELU: return get_f64(d, "negative_slope", &L->negative_slope);
    case CNN_LAYER_SOFTMAX: return get_i64(d, "dim", &L->dim);
    case CNN_LAYER_DROPOUT:
    case CNN_LAYER_DROPOUT2D: return get_f64(d, "p", &L->p);
    default: return 1; /* the engine refuses an unknown kind, naming the layer */
    }
}
#undef I64
#undef INT

/* net_create(layers: list of dicts, loss: dict | None, optim: int, float64: bool, seed: int)
 * -> capsule */
static PyObject *py_net_create(PyObject *self, PyObject *args)
{
    PyObject *layers, *loss_d, *result = NULL;
    int optim, f64;
    unsigned long long seed;
    cnn_layer_desc *descs = NULL;
    cnn_loss_desc loss;
    net_box *b = NULL;
    cnn_net_error err;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!OipK", &PyList_Type, &layers, &loss_d, &optim, &f64, &seed))
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(layers);
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "net_create: no layers");
        return NULL;
    }
    if (!(descs = PyMem_Calloc((size_t)n, sizeof *descs))) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++)
        if (!read_layer(PyList_GET_ITEM(layers, i), &descs[i])) goto exit;
    memset(&loss, 0, sizeof loss);
    if (loss_d != Py_None) {
        int kind = 0, red = 0;
        if (!PyDict_Check(loss_d)) {
            PyErr_SetString(PyExc_TypeError, "net_create: loss must be a dict or None");
            goto exit;
        }
        if (!get_int(loss_d, "kind", &kind) || !get_int(loss_d, "reduction", &red) ||
            !get_i64(loss_d, "ignore_index", &loss.ignore_index) ||
            !get_f64(loss_d, "label_smoothing", &loss.label_smoothing))
            goto exit;
        loss.kind = (cnn_loss_kind)kind;
        loss.reduction = (cnn_reduction)red;
    }
    if (!(b = PyMem_Calloc(1, sizeof *b))) {
        PyErr_NoMemory();
        goto exit;
    }
    b->dtype = f64 ? CNN_FLOAT64 : CNN_FLOAT32;
    b->typenum = f64 ? NPY_FLOAT64 : NPY_FLOAT32;
    cnn_status st = cnn_net_create(descs, n, loss_d == Py_None ? NULL : &loss,
                                   (cnn_optim_kind)optim, b->dtype, (uint64_t)seed, &b->net, &err);
    if (st != CNN_OK) {
        raise_net(st, "net_create", &err);
        goto exit;
    }
    b->n_layers = n;
    b->n_params = cnn_net_num_params(b->net);
    const size_t np_ = (size_t)(b->n_params > 0 ? b->n_params : 1);
    b->bound = PyMem_Calloc(np_ * BOUND_PER_PARAM, sizeof(PyObject *));
    b->hp = PyMem_Calloc(np_, sizeof *b->hp);
    b->masks = PyMem_Calloc((size_t)n, sizeof *b->masks);
    b->mask_len = PyMem_Calloc((size_t)n, sizeof *b->mask_len);
    b->kinds = PyMem_Calloc((size_t)n, sizeof *b->kinds);
    if (!b->bound || !b->hp || !b->masks || !b->mask_len || !b->kinds) {
        PyErr_NoMemory();
        goto exit;
    }
    for (Py_ssize_t i = 0; i < n; i++) b->kinds[i] = descs[i].kind;
    result = PyCapsule_New(b, CAPSULE, capsule_free);
    if (result) b = NULL;
exit:
    box_free(b);
    PyMem_Free(descs);
    return result;
}

/* ---- shapes ----------------------------------------------------------------------------------- */

static PyObject *shape_tuple(int nd, const int64_t *s)
{
    PyObject *t = PyTuple_New(nd);
    for (int i = 0; t && i < nd; i++) {
        PyObject *v = PyLong_FromLongLong((long long)s[i]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* A tuple of 1 .. CNN_NET_MAX_DIMS ints into out. */
static int read_shape(PyObject *o, int *nd, int64_t *out)
{
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) < 1 || PyTuple_GET_SIZE(o) > CNN_NET_MAX_DIMS) {
        PyErr_SetString(PyExc_ValueError, "net: a shape must be a tuple of 1 to 8 ints");
        return 0;
    }
    *nd = (int)PyTuple_GET_SIZE(o);
    return int64_tuple(o, *nd, out, "shape");
}

/* net_params(net) -> [(layer, is_bias, shape), ...] in the engine's parameter order */
static PyObject *py_net_params(PyObject *self, PyObject *cap)
{
    (void)self;
    net_box *b = get_box(cap);
    if (!b) return NULL;
    PyObject *list = PyList_New(b->n_params);
    for (int64_t i = 0; list && i < b->n_params; i++) {
        int64_t layer, shape[4];
        int is_bias, nd;
        cnn_net_param_shape(b->net, i, &layer, &is_bias, &nd, shape, NULL);
        PyObject *s = shape_tuple(nd, shape);
        PyObject *item = s ? Py_BuildValue("(LON)", (long long)layer, is_bias ? Py_True : Py_False, s) : NULL;
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* net_output_shape(net, in_shape, layer) -> the shape of layer `layer`'s output */
static PyObject *py_net_output_shape(PyObject *self, PyObject *args)
{
    PyObject *cap, *shape;
    long long layer;
    int nd, out_nd;
    int64_t in[CNN_NET_MAX_DIMS], out[CNN_NET_MAX_DIMS];
    cnn_net_error err;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOL", &cap, &shape, &layer)) return NULL;
    net_box *b = get_box(cap);
    if (!b || !read_shape(shape, &nd, in)) return NULL;
    cnn_status st = cnn_net_output_shape(b->net, nd, in, (int64_t)layer, &out_nd, out, &err);
    if (st != CNN_OK) return raise_net(st, "net_output_shape", &err);
    return shape_tuple(out_nd, out);
}

/* net_plan(net, in_shape) -> output shape. Also records, for the step's checks, the output shape
 * and each dropout layer's mask length for this input shape. */
static PyObject *py_net_plan(PyObject *self, PyObject *args)
{
    PyObject *cap, *shape;
    int nd;
    int64_t in[CNN_NET_MAX_DIMS], lin[CNN_NET_MAX_DIMS];
    cnn_net_error err;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &cap, &shape)) return NULL;
    net_box *b = get_box(cap);
    if (!b || !read_shape(shape, &nd, in)) return NULL;
    b->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_net_plan(b->net, nd, in, &err);
    Py_END_ALLOW_THREADS
    b->busy = 0;
    if (st != CNN_OK) {
        b->planned = 0;
        return raise_net(st, "net_plan", &err);
    }
    /* every layer's input shape: the dropout masks' lengths */
    int cur_nd = nd;
    memcpy(lin, in, sizeof in);
    for (int64_t l = 0; l < b->n_layers; l++) {
        int64_t n = 1;
        for (int d = 0; d < cur_nd; d++) n *= lin[d];
        b->mask_len[l] = b->kinds[l] == CNN_LAYER_DROPOUT     ? n
                         : b->kinds[l] != CNN_LAYER_DROPOUT2D ? 0
                         : cur_nd == 3                        ? lin[0]
                                                              : lin[0] * lin[1]; /* nd >= 2: planned */
        st = cnn_net_output_shape(b->net, nd, in, l, &cur_nd, lin, &err);
        if (st != CNN_OK) {
            b->planned = 0;
            return raise_net(st, "net_plan", &err);
        }
    }
    b->planned = 1;
    b->in_ndim = nd;
    memcpy(b->in_shape, in, sizeof in);
    b->out_ndim = cur_nd;
    memcpy(b->out_shape, lin, sizeof lin);
    b->in_numel = b->out_numel = 1;
    for (int d = 0; d < nd; d++) b->in_numel *= in[d];
    for (int d = 0; d < cur_nd; d++) b->out_numel *= lin[d];
    return shape_tuple(cur_nd, lin);
}

/* ---- bindings --------------------------------------------------------------------------------- */

/* An array the network keeps a pointer to: an ndarray of the network's dtype, C-contiguous,
 * aligned, native, writeable (when `write`), of exactly `numel` elements; None is NULL when
 * `optional`. */
static int bindable(PyObject *o, const net_box *b, int64_t numel, int optional, int write,
                    const char *name, void **ptr)
{
    *ptr = NULL;
    if (o == Py_None && optional) return 1;
    if (!PyArray_Check(o)) {
        PyErr_Format(PyExc_TypeError, "net: %s must be a numpy array, got %s", name, Py_TYPE(o)->tp_name);
        return 0;
    }
    PyArrayObject *a = (PyArrayObject *)o;
    if (PyArray_TYPE(a) != b->typenum) {
        PyErr_Format(PyExc_TypeError, "net: %s must have the network's dtype %s, got %S", name,
                     b->typenum == NPY_FLOAT32 ? "float32" : "float64", (PyObject *)PyArray_DESCR(a));
        return 0;
    }
    if (!PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a) ||
        (write && !PyArray_ISWRITEABLE(a))) {
        PyErr_Format(PyExc_ValueError, "net: %s must be a%s C-contiguous, aligned, native array "
                     "(the network keeps a pointer to it)", name, write ? " writeable," : "");
        return 0;
    }
    if (PyArray_SIZE(a) != numel) {
        PyErr_Format(PyExc_ValueError, "net: %s must have %lld elements, got %lld", name,
                     (long long)numel, (long long)PyArray_SIZE(a));
        return 0;
    }
    *ptr = PyArray_DATA(a);
    return 1;
}

/* net_bind_param(net, i, data, grad|None, state0|None, state1|None, state2|None): the network
 * keeps the pointers and this capsule a reference to each array until bound again. */
static PyObject *py_net_bind_param(PyObject *self, PyObject *args)
{
    PyObject *cap, *arrs[BOUND_PER_PARAM];
    static const char *const names[BOUND_PER_PARAM] = {"data", "grad", "state0", "state1", "state2"};
    void *ptr[BOUND_PER_PARAM];
    long long i;
    int64_t numel, layer;
    (void)self;
    if (!PyArg_ParseTuple(args, "OLOOOOO", &cap, &i, &arrs[0], &arrs[1], &arrs[2], &arrs[3], &arrs[4]))
        return NULL;
    net_box *b = get_box(cap);
    if (!b) return NULL;
    if (cnn_net_param_shape(b->net, (int64_t)i, &layer, NULL, NULL, NULL, &numel) != CNN_OK) {
        PyErr_Format(PyExc_IndexError, "net_bind_param: no parameter %lld", i);
        return NULL;
    }
    for (int k = 0; k < BOUND_PER_PARAM; k++)
        if (!bindable(arrs[k], b, numel, k > 0, 1, names[k], &ptr[k])) return NULL;
    /* no two of them may overlap (the engine writes each) */
    for (int k = 0; k < BOUND_PER_PARAM; k++)
        for (int m = k + 1; m < BOUND_PER_PARAM; m++)
            if (ptr[k] && ptr[m]) {
                const char *pk = ptr[k], *pm = ptr[m];
                const size_t bytes = (size_t)numel * (b->typenum == NPY_FLOAT32 ? 4 : 8);
                if (pk < pm + bytes && pm < pk + bytes) {
                    PyErr_Format(PyExc_ValueError, "net_bind_param: %s and %s of parameter %lld "
                                 "share memory", names[k], names[m], i);
                    return NULL;
                }
            }
    cnn_status st = cnn_net_bind_param(b->net, (int64_t)i, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4]);
    if (st != CNN_OK) return raise_net(st, "net_bind_param", cnn_net_last_error(b->net));
    for (int k = 0; k < BOUND_PER_PARAM; k++) {
        PyObject *keep = ptr[k] ? arrs[k] : NULL;
        Py_XINCREF(keep);
        Py_XSETREF(b->bound[i * BOUND_PER_PARAM + k], keep);
    }
    Py_RETURN_NONE;
}

/* net_bind_loss_weights(net, weight|None, pos_weight|None): cross entropy's class weights (as
 * many as the planned output's classes), or the binary cross entropies' weights with the planned
 * output's number of elements (bound for this plan only: bind again after planning). */
static PyObject *py_net_bind_loss_weights(PyObject *self, PyObject *args)
{
    PyObject *cap, *wo, *pwo;
    void *w, *pw;
    long long classes;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOL", &cap, &wo, &pwo, &classes)) return NULL;
    net_box *b = get_box(cap);
    if (!b) return NULL;
    if (!b->planned) {
        PyErr_SetString(PyExc_ValueError, "net_bind_loss_weights: plan the network first");
        return NULL;
    }
    /* classes > 0: cross entropy, whose weight has one entry per class (dim 1 of the output,
     * or dim 0 of a 1-dim output) */
    const int64_t want = classes > 0 ? (b->out_ndim >= 2 ? b->out_shape[1] : b->out_shape[0])
                                     : b->out_numel;
    if (!bindable(wo, b, want, 1, 0, "weight", &w) || !bindable(pwo, b, want, 1, 0, "pos_weight", &pw))
        return NULL;
    cnn_status st = cnn_net_bind_loss_weights(b->net, w, pw);
    if (st != CNN_OK) return raise_net(st, "net_bind_loss_weights", cnn_net_last_error(b->net));
    PyObject *kw = w ? wo : NULL, *kpw = pw ? pwo : NULL;
    Py_XINCREF(kw);
    Py_XINCREF(kpw);
    Py_XSETREF(b->loss_w, kw);
    Py_XSETREF(b->loss_pw, kpw);
    Py_RETURN_NONE;
}

/* net_set_fusion(net, enabled) */
static PyObject *py_net_set_fusion(PyObject *self, PyObject *args)
{
    PyObject *cap;
    int on;
    (void)self;
    if (!PyArg_ParseTuple(args, "Op", &cap, &on)) return NULL;
    net_box *b = get_box(cap);
    if (!b) return NULL;
    cnn_net_set_fusion(b->net, on);
    Py_RETURN_NONE;
}

/* net_arena_bytes(net) -> bytes of the current plan's arena */
static PyObject *py_net_arena_bytes(PyObject *self, PyObject *cap)
{
    (void)self;
    net_box *b = get_box(cap);
    return b ? PyLong_FromLongLong((long long)cnn_net_arena_bytes(b->net)) : NULL;
}

/* ---- running ---------------------------------------------------------------------------------- */

/* x is an array of the network's dtype and the planned input shape. */
static int planned_input(PyObject *o, const net_box *b, const char *op, const void **ptr)
{
    if (!b->planned) {
        PyErr_Format(PyExc_ValueError, "%s: plan the network first", op);
        return 0;
    }
    void *p;
    if (!bindable(o, b, b->in_numel, 0, 0, "x", &p)) return 0;
    PyArrayObject *a = (PyArrayObject *)o;
    if (PyArray_NDIM(a) != b->in_ndim ||
        memcmp(PyArray_SHAPE(a), b->in_shape, (size_t)b->in_ndim * sizeof(int64_t))) {
        PyErr_Format(PyExc_ValueError, "%s: x must have the planned shape", op);
        return 0;
    }
    *ptr = p;
    return 1;
}

/* net_forward(net, x) -> y: inference (dropout off) on the planned shape */
static PyObject *py_net_forward(PyObject *self, PyObject *args)
{
    PyObject *cap, *xo;
    const void *x;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &cap, &xo)) return NULL;
    net_box *b = get_box(cap);
    if (!b || !planned_input(xo, b, "net_forward", &x)) return NULL;
    PyArrayObject *y = new_array(b->out_ndim, b->out_shape, b->typenum, 0);
    if (!y) return NULL;
    b->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_net_forward(b->net, x, PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    b->busy = 0;
    if (st != CNN_OK) {
        Py_DECREF(y);
        return raise_net(st, "net_forward", cnn_net_last_error(b->net));
    }
    return (PyObject *)y;
}

/* net_step(net, x, target, hparams|None, masks|None, training|None, output|None) -> loss.
 * target: the output's shape in the network's dtype, or int64 class indices (one per output
 * element divided by the classes) when `classes` > 0. hparams: float64 (n_params, 15), columns
 * lr, momentum, dampening, weight_decay, beta1, beta2, alpha, eps, nesterov, maximize,
 * decoupled, amsgrad, centered, step, skip. masks: a list with one entry per layer, None or a
 * bool/uint8 array with the dropout layer's mask length. training: bytes, one per layer. */
static PyObject *py_net_step(PyObject *self, PyObject *args)
{
    PyObject *cap, *xo, *to, *hpo, *mo, *tro, *oo;
    long long classes;
    const void *x;
    void *out = NULL;
    double loss;
    cnn_status st;
    cnn_net_step_args a;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOLOOOO", &cap, &xo, &to, &classes, &hpo, &mo, &tro, &oo))
        return NULL;
    net_box *b = get_box(cap);
    if (!b || !planned_input(xo, b, "net_step", &x)) return NULL;
    memset(&a, 0, sizeof a);
    a.x = x;
    /* the target */
    if (!PyArray_Check(to)) {
        PyErr_SetString(PyExc_TypeError, "net_step: target must be a numpy array");
        return NULL;
    }
    PyArrayObject *t = (PyArrayObject *)to;
    const int64_t cls = b->out_ndim >= 2 ? b->out_shape[1] : b->out_shape[0];
    const int want_type = classes > 0 ? NPY_INT64 : b->typenum;
    const int64_t want_n = classes > 0 ? b->out_numel / cls : b->out_numel;
    if (PyArray_TYPE(t) != want_type || !PyArray_IS_C_CONTIGUOUS(t) || !PyArray_ISALIGNED(t) ||
        !PyArray_ISNOTSWAPPED(t) || PyArray_SIZE(t) != want_n) {
        PyErr_Format(PyExc_ValueError, "net_step: target must be a C-contiguous %s array of %lld "
                     "elements", classes > 0 ? "int64" : "float", (long long)want_n);
        return NULL;
    }
    a.target = PyArray_DATA(t);
    /* hyper-parameters */
    if (hpo != Py_None) {
        if (!PyArray_Check(hpo) || PyArray_TYPE((PyArrayObject *)hpo) != NPY_FLOAT64 ||
            !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)hpo) || PyArray_NDIM((PyArrayObject *)hpo) != 2 ||
            PyArray_DIM((PyArrayObject *)hpo, 0) != b->n_params ||
            PyArray_DIM((PyArrayObject *)hpo, 1) != HP_FIELDS) {
            PyErr_Format(PyExc_ValueError, "net_step: hparams must be a C-contiguous float64 array "
                         "(%lld, %d)", (long long)b->n_params, HP_FIELDS);
            return NULL;
        }
        const double *h = PyArray_DATA((PyArrayObject *)hpo);
        for (int64_t i = 0; i < b->n_params; i++, h += HP_FIELDS) {
            cnn_optim_hparams *p = &b->hp[i];
            p->lr = h[0], p->momentum = h[1], p->dampening = h[2], p->weight_decay = h[3];
            p->beta1 = h[4], p->beta2 = h[5], p->alpha = h[6], p->eps = h[7];
            p->nesterov = h[8] != 0, p->maximize = h[9] != 0, p->decoupled = h[10] != 0;
            p->amsgrad = h[11] != 0, p->centered = h[12] != 0, p->step = (int64_t)h[13];
            p->skip = h[14] != 0;
        }
        a.hparams = b->hp;
    }
    /* dropout masks */
    if (mo != Py_None) {
        if (!PyList_Check(mo) || PyList_GET_SIZE(mo) != b->n_layers) {
            PyErr_SetString(PyExc_ValueError, "net_step: masks must be a list with one entry per layer");
            return NULL;
        }
        for (int64_t l = 0; l < b->n_layers; l++) {
            PyObject *m = PyList_GET_ITEM(mo, l);
            b->masks[l] = NULL;
            if (m == Py_None || !b->mask_len[l]) continue;
            PyArrayObject *ma = (PyArrayObject *)m;
            if (!PyArray_Check(m) ||
                (PyArray_TYPE(ma) != NPY_BOOL && PyArray_TYPE(ma) != NPY_UINT8) ||
                !PyArray_IS_C_CONTIGUOUS(ma) || PyArray_SIZE(ma) != b->mask_len[l]) {
                PyErr_Format(PyExc_ValueError, "net_step: the mask of layer %lld must be a "
                             "C-contiguous bool or uint8 array of %lld elements", (long long)l,
                             (long long)b->mask_len[l]);
                return NULL;
            }
            b->masks[l] = PyArray_DATA(ma);
        }
        a.masks = b->masks;
    }
    /* training flags */
    if (tro != Py_None) {
        if (!PyBytes_Check(tro) || PyBytes_GET_SIZE(tro) != b->n_layers) {
            PyErr_SetString(PyExc_ValueError, "net_step: training must be bytes, one per layer");
            return NULL;
        }
        a.training = (const uint8_t *)PyBytes_AS_STRING(tro);
    }
    if (oo != Py_None && !bindable(oo, b, b->out_numel, 0, 1, "output", &out)) return NULL;
    a.output = out;
    b->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_net_step(b->net, &a, &loss);
    Py_END_ALLOW_THREADS
    b->busy = 0;
    if (st != CNN_OK) return raise_net(st, "net_step", cnn_net_last_error(b->net));
    return PyFloat_FromDouble(loss);
}

/* net_constants() -> {name: value} of the layer, loss and optimizer kinds and error locations */
static PyObject *py_net_constants(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return Py_BuildValue(
        "{si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,"
        "si,si,si,si,si,si,si,si,si,si,si,si,si,si,si}",
        "CONV", CNN_LAYER_CONV, "CONV_TRANSPOSE", CNN_LAYER_CONV_TRANSPOSE,
        "MAXPOOL", CNN_LAYER_MAXPOOL, "AVGPOOL", CNN_LAYER_AVGPOOL,
        "ADAPTIVE_AVGPOOL", CNN_LAYER_ADAPTIVE_AVGPOOL, "ADAPTIVE_MAXPOOL", CNN_LAYER_ADAPTIVE_MAXPOOL,
        "LINEAR", CNN_LAYER_LINEAR, "TIED_LINEAR", CNN_LAYER_TIED_LINEAR,
        "TIED_CONV_TRANSPOSE", CNN_LAYER_TIED_CONV_TRANSPOSE, "FLATTEN", CNN_LAYER_FLATTEN,
        "UNFLATTEN", CNN_LAYER_UNFLATTEN, "RELU", CNN_LAYER_RELU, "LEAKY_RELU", CNN_LAYER_LEAKY_RELU,
        "SIGMOID", CNN_LAYER_SIGMOID, "TANH", CNN_LAYER_TANH, "SOFTMAX", CNN_LAYER_SOFTMAX,
        "DROPOUT", CNN_LAYER_DROPOUT, "DROPOUT2D", CNN_LAYER_DROPOUT2D, "IDENTITY", CNN_LAYER_IDENTITY,
        "LOSS_MSE", CNN_LOSS_MSE, "LOSS_L1", CNN_LOSS_L1, "LOSS_BCE", CNN_LOSS_BCE,
        "LOSS_BCE_LOGITS", CNN_LOSS_BCE_LOGITS, "LOSS_CROSS_ENTROPY", CNN_LOSS_CROSS_ENTROPY,
        "LOSS_CORRELATION", CNN_LOSS_CORRELATION,
        "OPTIM_NONE", CNN_OPTIM_NONE, "OPTIM_SGD", CNN_OPTIM_SGD, "OPTIM_ADAM", CNN_OPTIM_ADAM,
        "OPTIM_RMSPROP", CNN_OPTIM_RMSPROP, "WHERE_LOSS", CNN_NET_WHERE_LOSS,
        "WHERE_OPTIM", CNN_NET_WHERE_OPTIM, "WHERE_CALL", CNN_NET_WHERE_CALL,
        "HP_FIELDS", HP_FIELDS, "MAX_DIMS", CNN_NET_MAX_DIMS);
}

PyMethodDef net_methods[] = {
    {"net_constants", py_net_constants, METH_NOARGS, "net_constants() -> the network API's codes"},
    {"net_create", py_net_create, METH_VARARGS,
     "net_create(layers, loss, optim, float64, seed) -> a network"},
    {"net_params", py_net_params, METH_O, "net_params(net) -> [(layer, is_bias, shape)]"},
    {"net_output_shape", py_net_output_shape, METH_VARARGS,
     "net_output_shape(net, in_shape, layer) -> shape"},
    {"net_plan", py_net_plan, METH_VARARGS, "net_plan(net, in_shape) -> output shape"},
    {"net_arena_bytes", py_net_arena_bytes, METH_O, "net_arena_bytes(net) -> bytes"},
    {"net_set_fusion", py_net_set_fusion, METH_VARARGS, "net_set_fusion(net, enabled)"},
    {"net_bind_param", py_net_bind_param, METH_VARARGS,
     "net_bind_param(net, i, data, grad, state0, state1, state2)"},
    {"net_bind_loss_weights", py_net_bind_loss_weights, METH_VARARGS,
     "net_bind_loss_weights(net, weight, pos_weight, classes)"},
    {"net_forward", py_net_forward, METH_VARARGS, "net_forward(net, x) -> y"},
    {"net_step", py_net_step, METH_VARARGS,
     "net_step(net, x, target, classes, hparams, masks, training, output) -> loss"},
    {NULL, NULL, 0, NULL},
};
