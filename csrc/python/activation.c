/* activation.c — the activation binding: elementwise activations (kind = a kinds.h ACT_* code)
 * forward, backward and their fast path; softmax and log-softmax along an axis; dropout with a
 * caller-drawn mask. */
#include "binding.h"

/* ---- elementwise ------------------------------------------------------------------------------- */

/* The engine function of `kind` (CNN_EINVAL for an unknown kind). Called without the GIL. */
static cnn_status act_forward(long long kind, cnn_dtype dt, int64_t n, double slope,
                              const void *x, void *y)
{
    switch (kind) {
    case ACT_RELU: return cnn_relu_forward(dt, n, x, y);
    case ACT_LEAKY_RELU: return cnn_leaky_relu_forward(dt, n, slope, x, y);
    case ACT_SIGMOID: return cnn_sigmoid_forward(dt, n, x, y);
    case ACT_TANH: return cnn_tanh_forward(dt, n, x, y);
    case ACT_GELU: return cnn_gelu_forward(dt, n, CNN_GELU_NONE, x, y);
    case ACT_GELU_TANH: return cnn_gelu_forward(dt, n, CNN_GELU_TANH, x, y);
    }
    return CNN_EINVAL;
}

static cnn_status act_backward(long long kind, cnn_dtype dt, int64_t n, double slope,
                               const void *dy, const void *x, void *dx)
{
    switch (kind) {
    case ACT_RELU: return cnn_relu_backward(dt, n, dy, x, dx);
    case ACT_LEAKY_RELU: return cnn_leaky_relu_backward(dt, n, slope, dy, x, dx);
    case ACT_SIGMOID: return cnn_sigmoid_backward(dt, n, dy, x, dx);
    case ACT_TANH: return cnn_tanh_backward(dt, n, dy, x, dx);
    case ACT_GELU: return cnn_gelu_backward(dt, n, CNN_GELU_NONE, dy, x, dx);
    case ACT_GELU_TANH: return cnn_gelu_backward(dt, n, CNN_GELU_TANH, dy, x, dx);
    }
    return CNN_EINVAL;
}

/* activation_forward(kind, x, slope) -> y */
static PyObject *py_activation_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    int kind, typenum;
    double slope;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO&d", &kind, arr_in, &x, &slope)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !(y = new_like(x, typenum))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = act_forward(kind, cnn_type(typenum), PyArray_SIZE(x), slope, PyArray_DATA(x),
                     PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "activation");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    return (PyObject *)y;
}

/* activation_backward(kind, dy, x, slope) -> dx, from the forward input x */
static PyObject *py_activation_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *dx = NULL;
    int kind, typenum;
    double slope;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO&O&d", &kind, arr_in, &dy, arr_in, &x, &slope)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) ||
        !check_same_shape(dy, x, "activation_backward", "grad_output", "input") ||
        !(dx = new_like(x, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = act_backward(kind, cnn_type(typenum), PyArray_SIZE(x), slope, PyArray_DATA(dy),
                      PyArray_DATA(x), PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "activation_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    Py_XDECREF(x);
    return (PyObject *)dx;
}

/* activation_fast(kind, input) -> y or None: any kind but leaky_relu (it needs a slope), any
 * shape (see binding.h) */
static PyObject *py_activation_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyLong_CheckExact(args[0]) || !fast_array(args[1], -1, 0)) Py_RETURN_NONE;
    int overflow;
    const long long kind = PyLong_AsLongLongAndOverflow(args[0], &overflow);
    if (overflow || kind == ACT_LEAKY_RELU) Py_RETURN_NONE; /* the full path takes or reports it */
    PyArrayObject *x = (PyArrayObject *)args[1];
    const int typenum = PyArray_TYPE(x);
    PyArrayObject *y = (PyArrayObject *)PyArray_SimpleNew(PyArray_NDIM(x), PyArray_DIMS(x), typenum);
    if (!y) return NULL;
    cnn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = act_forward(kind, cnn_type(typenum), PyArray_SIZE(x), 0.0, PyArray_DATA(x),
                     PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        Py_DECREF(y);
        if (st == CNN_EINVAL) Py_RETURN_NONE; /* a kind this path does not take */
        return raise_status(st, "activation");
    }
    return (PyObject *)y;
}

/* ---- softmax ------------------------------------------------------------------------------------- */

/* The (outer, n, inner) view of a along axis dim (a 0-D array is one element). */
static int axis_view(PyArrayObject *a, int dim, int64_t *outer, int64_t *n, int64_t *inner,
                     const char *op)
{
    const int nd = PyArray_NDIM(a);
    if (dim < 0 || dim >= (nd > 0 ? nd : 1)) {
        PyErr_Format(PyExc_ValueError, "%s: dim %d out of range for a %d-D input", op, dim, nd);
        return 0;
    }
    *outer = 1;
    *inner = 1;
    *n = nd > 0 ? PyArray_DIM(a, dim) : 1;
    for (int i = 0; i < dim; i++) *outer *= PyArray_DIM(a, i);
    for (int i = dim + 1; i < nd; i++) *inner *= PyArray_DIM(a, i);
    return 1;
}

/* softmax_forward(x, dim, log) -> y (log-softmax when log) */
static PyObject *py_softmax_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    int dim, log_space, typenum;
    int64_t outer, n, inner;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&ip", arr_in, &x, &dim, &log_space)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !axis_view(x, dim, &outer, &n, &inner, "softmax") ||
        !(y = new_like(x, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = (log_space ? cnn_log_softmax_forward : cnn_softmax_forward)(
        cnn_type(typenum), outer, n, inner, PyArray_DATA(x), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "softmax");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    return (PyObject *)y;
}

/* softmax_backward(dy, y, dim, log) -> dx, from the forward output y */
static PyObject *py_softmax_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *y = NULL, *dx = NULL;
    int dim, log_space, typenum;
    int64_t outer, n, inner;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&ip", arr_in, &dy, arr_in, &y, &dim, &log_space)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&y, typenum) ||
        !check_same_shape(dy, y, "softmax_backward", "grad_output", "output") ||
        !axis_view(y, dim, &outer, &n, &inner, "softmax_backward") || !(dx = new_like(y, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = (log_space ? cnn_log_softmax_backward : cnn_softmax_backward)(
        cnn_type(typenum), outer, n, inner, PyArray_DATA(dy), PyArray_DATA(y), PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "softmax_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    Py_XDECREF(y);
    return (PyObject *)dx;
}

/* ---- dropout ------------------------------------------------------------------------------------- */

/* dropout(x_or_dy, mask, p, backward) -> y or dx; mask is a keep mask (bool or 0/1) of x's shape */
static PyObject *py_dropout(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *mask = NULL, *y = NULL;
    PyObject *mask_obj;
    double p;
    int backward, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&Odp", arr_in, &x, &mask_obj, &p, &backward)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum)) goto exit;
    mask = (PyArrayObject *)PyArray_FROM_OTF(mask_obj, NPY_UINT8,
                                             NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (!mask || !check_same_shape(x, mask, "dropout", "input", "mask") ||
        !(y = new_like(x, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = (backward ? cnn_dropout_backward : cnn_dropout_forward)(
        cnn_type(typenum), PyArray_SIZE(x), p, PyArray_DATA(mask), PyArray_DATA(x), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "dropout");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(mask);
    return (PyObject *)y;
}

PyMethodDef activation_methods[] = {
    {"activation_forward", py_activation_forward, METH_VARARGS,
     "activation_forward(kind, x, slope) -> y; kind: ACT_RELU, ACT_LEAKY_RELU, ..."},
    {"activation_backward", py_activation_backward, METH_VARARGS,
     "activation_backward(kind, dy, x, slope) -> dx"},
    {"activation_fast", (PyCFunction)(void (*)(void))py_activation_fast, METH_FASTCALL,
     "activation_fast(kind, x) -> y, or None off the fast path"},
    {"softmax_forward", py_softmax_forward, METH_VARARGS, "softmax_forward(x, dim, log) -> y"},
    {"softmax_backward", py_softmax_backward, METH_VARARGS,
     "softmax_backward(dy, y, dim, log) -> dx"},
    {"dropout", py_dropout, METH_VARARGS, "dropout(x_or_dy, mask, p, backward) -> y or dx"},
    {NULL, NULL, 0, NULL},
};
