/* linear.c — the dense-layer binding: y = x @ w^T + b, forward, backward and their fast paths. */
#include "binding.h"

/* x (batch, in), w (out, in), b (out) or NULL. */
static int linear_check(PyArrayObject *x, PyArrayObject *w, PyArrayObject *b, const char *op)
{
    if (!check_ndim(x, 2, op, "input") || !check_ndim(w, 2, op, "weight") ||
        !check_dim(w, 1, PyArray_DIM(x, 1), op, "weight"))
        return 0;
    if (b && (!check_ndim(b, 1, op, "bias") || !check_dim(b, 0, PyArray_DIM(w, 0), op, "bias")))
        return 0;
    return 1;
}

/* linear_forward(x (batch, in), w (out, in), b (out)|None) -> y (batch, out) */
static PyObject *py_linear_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    int typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&", arr_in, &x, arr_in, &w, arr_in_opt, &b)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) || !cast_real(&b, typenum) ||
        !linear_check(x, w, b, "linear"))
        goto exit;
    const int64_t batch = PyArray_DIM(x, 0), in = PyArray_DIM(x, 1), out = PyArray_DIM(w, 0);
    const int64_t dims[2] = {batch, out};
    if (!(y = new_array(2, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_linear_forward(cnn_type(typenum), batch, in, out, PyArray_DATA(x), PyArray_DATA(w),
                            data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "linear");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return (PyObject *)y;
}

/* The gradients asked for, written over uninitialised arrays (the kernels write every element: no
 * zero fill, no read of zeros), as (dx|None, dw|None, db|None); NULL with the exception set. */
static PyObject *linear_grads(PyArrayObject *dy, PyArrayObject *x, PyArrayObject *w, int need_dx,
                              int need_dw, int need_db)
{
    const int typenum = PyArray_TYPE(x);
    const int64_t batch = PyArray_DIM(x, 0), in = PyArray_DIM(x, 1), out = PyArray_DIM(w, 0);
    const int64_t xdims[2] = {batch, in}, wdims[2] = {out, in};
    PyArrayObject *dx = NULL, *dw = NULL, *db = NULL;
    cnn_status st;
    if ((need_dx && !(dx = new_array(2, xdims, typenum, 0))) ||
        (need_dw && !(dw = new_array(2, wdims, typenum, 0))) ||
        (need_db && !(db = new_array(1, &out, typenum, 0)))) {
        Py_XDECREF(dx);
        Py_XDECREF(dw);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = cnn_linear_backward_overwrite(cnn_type(typenum), batch, in, out, PyArray_DATA(dy),
                                       PyArray_DATA(x), PyArray_DATA(w), data_or_null(dx),
                                       data_or_null(dw), data_or_null(db));
    Py_END_ALLOW_THREADS
    return gradients_or_raise(st, "linear_backward", dx, dw, db);
}

/* linear_backward(dy (batch, out), x, w, need_dx, need_dw, need_db) -> (dx|None, dw|None, db|None) */
static PyObject *py_linear_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *w = NULL;
    PyObject *result = NULL;
    int need_dx, need_dw, need_db, typenum;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&ppp", arr_in, &dy, arr_in, &x, arr_in, &w, &need_dx,
                          &need_dw, &need_db))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum) ||
        !linear_check(x, w, NULL, "linear_backward"))
        goto exit;
    const int64_t ydims[2] = {PyArray_DIM(x, 0), PyArray_DIM(w, 0)};
    if (!check_shape(dy, 2, ydims, "linear_backward", "grad_output")) goto exit;
    result = linear_grads(dy, x, w, need_dx, need_dw, need_db);
exit:
    Py_XDECREF(dy);
    Py_XDECREF(x);
    Py_XDECREF(w);
    return result;
}

/* linear_fast(input, weight, bias) -> y or None, for input (N, in) (see binding.h) */
static PyObject *py_linear_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !fast_array(args[0], 2, 0)) Py_RETURN_NONE;
    PyArrayObject *x = (PyArrayObject *)args[0];
    const int typenum = PyArray_TYPE(x);
    if (!fast_array(args[1], 2, typenum) || (args[2] != Py_None && !fast_array(args[2], 1, typenum)))
        Py_RETURN_NONE;
    PyArrayObject *w = (PyArrayObject *)args[1];
    PyArrayObject *b = args[2] != Py_None ? (PyArrayObject *)args[2] : NULL;
    const int64_t batch = PyArray_DIM(x, 0), in = PyArray_DIM(x, 1), out = PyArray_DIM(w, 0);
    if (PyArray_DIM(w, 1) != in || (b && PyArray_DIM(b, 0) != out)) Py_RETURN_NONE;
    const int64_t dims[2] = {batch, out};
    PyArrayObject *y = new_array(2, dims, typenum, 0);
    if (!y) return NULL;
    cnn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_linear_forward(cnn_type(typenum), batch, in, out, PyArray_DATA(x), PyArray_DATA(w),
                            data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        Py_DECREF(y);
        return raise_status(st, "linear");
    }
    return (PyObject *)y;
}

/* linear_backward_fast(dy, x, w, b) -> (dx, dw, db|None) or None off the fast path: every gradient,
 * for x (N, in), w (out, in), dy (N, out) and b (out) or None of one dtype (see binding.h) */
static PyObject *py_linear_backward_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4 || !fast_array(args[1], 2, 0)) Py_RETURN_NONE;
    PyArrayObject *x = (PyArrayObject *)args[1];
    const int typenum = PyArray_TYPE(x);
    if (!fast_array(args[0], 2, typenum) || !fast_array(args[2], 2, typenum) ||
        (args[3] != Py_None && !fast_array(args[3], 1, typenum)))
        Py_RETURN_NONE;
    PyArrayObject *dy = (PyArrayObject *)args[0], *w = (PyArrayObject *)args[2];
    const int with_b = args[3] != Py_None;
    const int64_t out = PyArray_DIM(w, 0);
    if (PyArray_DIM(w, 1) != PyArray_DIM(x, 1) || PyArray_DIM(dy, 0) != PyArray_DIM(x, 0) ||
        PyArray_DIM(dy, 1) != out || (with_b && PyArray_DIM((PyArrayObject *)args[3], 0) != out))
        Py_RETURN_NONE;
    return linear_grads(dy, x, w, 1, 1, with_b);
}

PyMethodDef linear_methods[] = {
    {"linear_forward", py_linear_forward, METH_VARARGS, "linear_forward(x, w, b) -> y"},
    {"linear_backward", py_linear_backward, METH_VARARGS,
     "linear_backward(dy, x, w, need_dx, need_dw, need_db) -> (dx, dw, db)"},
    {"linear_fast", (PyCFunction)(void (*)(void))py_linear_fast, METH_FASTCALL,
     "linear_fast(x, w, b) -> y, or None off the fast path"},
    {"linear_backward_fast", (PyCFunction)(void (*)(void))py_linear_backward_fast, METH_FASTCALL,
     "linear_backward_fast(dy, x, w, b) -> (dx, dw, db), or None off the fast path"},
    {NULL, NULL, 0, NULL},
};
