/* conv.c — the convolution binding: conv2d forward and backward (conv1d is conv2d with H = 1), its
 * fast path, the output length and the kernel AUTO picks. One descriptor builder serves the full
 * path and the fast path. */
#include "binding.h"

/* ---- descriptor ----------------------------------------------------------------------------------- */

/* O& converter: the geometry tuple (stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right,
 * dilation_h, dilation_w, groups) into a descriptor; conv_desc_build adds the sizes. */
static int conv_geometry(PyObject *obj, void *addr)
{
    cnn_conv2d_desc *d = addr;
    int64_t v[9];
    if (!int64_tuple(obj, 9, v, "(stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right, "
                                "dilation_h, dilation_w, groups)"))
        return 0;
    d->stride_h = v[0];
    d->stride_w = v[1];
    d->pad_top = v[2];
    d->pad_bottom = v[3];
    d->pad_left = v[4];
    d->pad_right = v[5];
    d->dilation_h = v[6];
    d->dilation_w = v[7];
    d->groups = v[8];
    return 1;
}

/* Completes d (geometry set) with the sizes of x (N, C_in, H, W) and w (C_out, C_in/groups, kH,
 * kW), both 4-D, and b (1-D or NULL); the engine validates d and gives the output size. Then the
 * shapes d does not describe, which the engine would read past: w's C_in/groups and b's length.
 * Returns the engine's status, or CNN_ESHAPE with *bad naming the array that does not fit. */
static cnn_status conv_desc_build(cnn_conv2d_desc *d, PyArrayObject *x, PyArrayObject *w,
                                  PyArrayObject *b, int64_t *oh, int64_t *ow, const char **bad)
{
    *bad = NULL;
    d->batch = PyArray_DIM(x, 0);
    d->in_channels = PyArray_DIM(x, 1);
    d->in_h = PyArray_DIM(x, 2);
    d->in_w = PyArray_DIM(x, 3);
    d->out_channels = PyArray_DIM(w, 0);
    d->kernel_h = PyArray_DIM(w, 2);
    d->kernel_w = PyArray_DIM(w, 3);
    const cnn_status st = cnn_conv2d_output_shape(d, oh, ow);
    if (st != CNN_OK) return st;
    if (PyArray_DIM(w, 1) != d->in_channels / d->groups)
        *bad = "weight";
    else if (b && PyArray_DIM(b, 0) != d->out_channels)
        *bad = "bias";
    return *bad ? CNN_ESHAPE : CNN_OK;
}

/* conv_desc_build for the full path (conv_like_op.complete): ranks checked first, failures
 * raised. */
static int conv_complete(conv_like_desc *u, PyArrayObject *x, PyArrayObject *w, PyArrayObject *b,
                         int64_t ydims[4], const char *op)
{
    cnn_conv2d_desc *d = &u->conv;
    const char *bad;
    if (!check_ndim(x, 4, op, "input") || !check_ndim(w, 4, op, "weight") ||
        (b && !check_ndim(b, 1, op, "bias")))
        return 0;
    const cnn_status st = conv_desc_build(d, x, w, b, &ydims[2], &ydims[3], &bad);
    if (bad)
        PyErr_Format(PyExc_ValueError, "%s: %s does not fit the input and groups", op, bad);
    else if (st != CNN_OK)
        raise_status(st, op);
    ydims[0] = d->batch;
    ydims[1] = d->out_channels;
    return st == CNN_OK;
}

static cnn_status conv_forward(const conv_like_desc *d, cnn_dtype dtype, cnn_algo algo,
                               const void *x, const void *w, const void *b, void *y)
{
    return cnn_conv2d_forward(&d->conv, dtype, algo, x, w, b, y);
}

static cnn_status conv_backward(const conv_like_desc *d, cnn_dtype dtype, cnn_algo algo,
                                const void *dy, const void *x, const void *w, void *dx, void *dw,
                                void *db)
{
    return cnn_conv2d_backward(&d->conv, dtype, algo, dy, x, w, dx, dw, db);
}

static const conv_like_op conv_op = {"conv2d", "conv2d_backward", conv_geometry, conv_complete,
                                     conv_forward, conv_backward};

/* ---- entry points -------------------------------------------------------------------------------- */

/* conv_out_len(n, k, stride, pad_before, pad_after, dilation) -> the output length */
static PyObject *py_conv_out_len(PyObject *self, PyObject *args)
{
    long long n, k, s, pb, pa, d;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLL", &n, &k, &s, &pb, &pa, &d)) return NULL;
    const cnn_status st = cnn_conv_out_len(n, k, s, pb, pa, d, &out);
    if (st != CNN_OK) return raise_status(st, "conv_out_len");
    return PyLong_FromLongLong(out);
}

/* conv2d_forward(x, w, b|None, geometry, algo) -> y (N, C_out, OH, OW) */
static PyObject *py_conv2d_forward(PyObject *self, PyObject *args)
{
    (void)self;
    return conv_like_forward(&conv_op, args);
}

/* conv2d_backward(dy, x, w, need_dx, need_dw, need_db, geometry, algo) -> (dx|None, dw|None,
 * db|None) */
static PyObject *py_conv2d_backward(PyObject *self, PyObject *args)
{
    (void)self;
    return conv_like_backward(&conv_op, args);
}

/* conv_choose_algo(C_in, C_out, H, W, kH, kW, groups, stride=1) -> the kernel AUTO runs (no
 * padding, dilation 1) */
static PyObject *py_conv_choose_algo(PyObject *self, PyObject *args)
{
    cnn_conv2d_desc d = {0};
    long long cin, cout, h, w, kh, kw, groups, stride = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLLL|L", &cin, &cout, &h, &w, &kh, &kw, &groups, &stride))
        return NULL;
    d.batch = 1;
    d.in_channels = cin;
    d.out_channels = cout;
    d.in_h = h;
    d.in_w = w;
    d.kernel_h = kh;
    d.kernel_w = kw;
    d.stride_h = d.stride_w = stride;
    d.dilation_h = d.dilation_w = 1;
    d.groups = groups;
    return PyLong_FromLong((long)cnn_conv_choose_algo(&d));
}

/* ---- fast path (see binding.h) ---------------------------------------------------------------- */

/* A plain int (not bool) in [lo, 2^31), or a tuple of two; both values out. */
static int fast_pair(PyObject *o, long lo, int64_t *a, int64_t *b)
{
    PyObject *items[2] = {o, o};
    if (PyTuple_CheckExact(o)) {
        if (PyTuple_GET_SIZE(o) != 2) return 0;
        items[0] = PyTuple_GET_ITEM(o, 0);
        items[1] = PyTuple_GET_ITEM(o, 1);
    }
    long long v[2];
    for (int i = 0; i < 2; i++) {
        int overflow;
        if (!PyLong_CheckExact(items[i])) return 0;
        v[i] = PyLong_AsLongLongAndOverflow(items[i], &overflow);
        if (overflow || v[i] < lo || v[i] >= (1LL << 31)) {
            PyErr_Clear();
            return 0;
        }
    }
    *a = v[0];
    *b = v[1];
    return 1;
}

/* The common call's arguments (input, weight, bias, stride, padding, dilation, groups, algo) at
 * args[0..7], the arrays of type typenum: the descriptor (zero padding), OH, OW and the algorithm;
 * 0 off the fast path (huge outputs and the padding that makes them take the full path and its
 * size errors). */
static int fast_conv_args(PyObject *const *args, int typenum, cnn_conv2d_desc *d, int64_t *oh,
                          int64_t *ow, cnn_algo *algo)
{
    int64_t ph, pw, unused, numel;
    const char *bad;
    const int has_bias = args[2] != Py_None;
    if (!fast_array(args[0], 4, typenum) || !fast_array(args[1], 4, typenum) ||
        (has_bias && !fast_array(args[2], 1, typenum)) ||
        !fast_pair(args[3], 1, &d->stride_h, &d->stride_w) || !fast_pair(args[4], 0, &ph, &pw) ||
        !fast_pair(args[5], 1, &d->dilation_h, &d->dilation_w) ||
        !fast_pair(args[6], 1, &d->groups, &unused) || PyTuple_CheckExact(args[6]) ||
        !PyLong_CheckExact(args[7]))
        return 0;
    int overflow;
    const long long a = PyLong_AsLongLongAndOverflow(args[7], &overflow);
    if (overflow || a < CNN_ALGO_AUTO || a > CNN_ALGO_WINOGRAD) return 0;
    d->pad_top = d->pad_bottom = ph;
    d->pad_left = d->pad_right = pw;
    if (conv_desc_build(d, (PyArrayObject *)args[0], (PyArrayObject *)args[1],
                        has_bias ? (PyArrayObject *)args[2] : NULL, oh, ow, &bad) != CNN_OK)
        return 0;
    const int64_t dims[4] = {d->batch, d->out_channels, *oh, *ow};
    if (cnn_mul_sizes(dims[0], dims[1], &numel) || cnn_mul_sizes(numel, dims[2], &numel) ||
        cnn_mul_sizes(numel, dims[3], &numel) || numel > ((int64_t)1 << 28) || ph > 4096 || pw > 4096)
        return 0;
    *algo = (cnn_algo)a;
    return 1;
}

/* conv2d_fast(input, weight, bias, stride, padding, dilation, groups, algo) -> y or None:
 * conv2d with zero padding on (N, C, H, W) input. */
static PyObject *py_conv2d_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    cnn_conv2d_desc d = {0};
    int64_t oh, ow;
    cnn_algo algo;
    (void)self;
    if (nargs != 8 || !fast_array(args[0], 4, 0)) Py_RETURN_NONE;
    const int typenum = PyArray_TYPE((PyArrayObject *)args[0]);
    if (!fast_conv_args(args, typenum, &d, &oh, &ow, &algo)) Py_RETURN_NONE;
    PyArrayObject *x = (PyArrayObject *)args[0], *w = (PyArrayObject *)args[1];
    PyArrayObject *b = args[2] != Py_None ? (PyArrayObject *)args[2] : NULL;
    const int64_t dims[4] = {d.batch, d.out_channels, oh, ow};
    PyArrayObject *y = new_array(4, dims, typenum, 0);
    if (!y) return NULL;
    cnn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv2d_forward(&d, cnn_type(typenum), algo, PyArray_DATA(x), PyArray_DATA(w),
                            data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        Py_DECREF(y);
        return raise_status(st, "conv2d");
    }
    return (PyObject *)y;
}

/* conv2d_backward_fast(grad_output, input, weight, bias, stride, padding, dilation, groups, algo,
 * need_dx, need_dw, need_db) -> (dx|None, dw|None, db|None) or None: conv2d_backward with zero
 * padding, grad_output exactly (N, C_out, OH, OW) and the needs exact bools; db only with a bias
 * (as the full path). */
static PyObject *py_conv2d_backward_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    cnn_conv2d_desc d = {0};
    int64_t oh, ow;
    cnn_algo algo;
    (void)self;
    if (nargs != 12 || !fast_array(args[0], 4, 0)) Py_RETURN_NONE;
    for (int i = 9; i < 12; i++)
        if (!PyBool_Check(args[i])) Py_RETURN_NONE;
    const int typenum = PyArray_TYPE((PyArrayObject *)args[0]);
    if (!fast_conv_args(args + 1, typenum, &d, &oh, &ow, &algo)) Py_RETURN_NONE;
    PyArrayObject *dy = (PyArrayObject *)args[0], *x = (PyArrayObject *)args[1];
    PyArrayObject *w = (PyArrayObject *)args[2];
    const int64_t ydims[4] = {d.batch, d.out_channels, oh, ow};
    for (int i = 0; i < 4; i++)
        if (PyArray_DIM(dy, i) != ydims[i]) Py_RETURN_NONE; /* the full path explains it */
    const int need_dx = args[9] == Py_True, need_dw = args[10] == Py_True;
    const int need_db = args[11] == Py_True && args[3] != Py_None;
    PyArrayObject *dx = NULL, *dw = NULL, *db = NULL;
    if ((need_dx && !(dx = new_like(x, typenum))) || (need_dw && !(dw = new_like(w, typenum))) ||
        (need_db && !(db = new_array(1, &ydims[1], typenum, 1)))) {
        Py_XDECREF(dx);
        Py_XDECREF(dw);
        return NULL;
    }
    cnn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv2d_backward(&d, cnn_type(typenum), algo, PyArray_DATA(dy), PyArray_DATA(x),
                             PyArray_DATA(w), data_or_null(dx), data_or_null(dw), data_or_null(db));
    Py_END_ALLOW_THREADS
    return gradients_or_raise(st, "conv2d_backward", dx, dw, db);
}

PyMethodDef conv_methods[] = {
    {"conv_out_len", py_conv_out_len, METH_VARARGS,
     "conv_out_len(n, k, stride, pad_before, pad_after, dilation) -> output length"},
    {"conv2d_forward", py_conv2d_forward, METH_VARARGS,
     "conv2d_forward(x, w, b, geometry, algo) -> y; geometry = (stride_h, stride_w, pad_top, "
     "pad_bottom, pad_left, pad_right, dilation_h, dilation_w, groups)"},
    {"conv2d_backward", py_conv2d_backward, METH_VARARGS,
     "conv2d_backward(dy, x, w, need_dx, need_dw, need_db, geometry, algo) -> (dx, dw, db)"},
    {"conv_choose_algo", py_conv_choose_algo, METH_VARARGS,
     "conv_choose_algo(c_in, c_out, h, w, kh, kw, groups, stride=1) -> the kernel AUTO picks"},
    {"conv2d_fast", (PyCFunction)(void (*)(void))py_conv2d_fast, METH_FASTCALL,
     "conv2d_fast(x, w, b, stride, padding, dilation, groups, algo) -> y, or None off the fast path"},
    {"conv2d_backward_fast", (PyCFunction)(void (*)(void))py_conv2d_backward_fast, METH_FASTCALL,
     "conv2d_backward_fast(dy, x, w, b, stride, padding, dilation, groups, algo, need_dx, need_dw, "
     "need_db) -> (dx, dw, db), or None off the fast path"},
    {NULL, NULL, 0, NULL},
};
