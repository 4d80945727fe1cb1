/* pad.c — the padding binding: N-dimensional padding (and cropping) in every mode, its adjoint,
 * and the padded length. Pads come as a sequence of 2*ndim ints, (before, after) per dim, first
 * dim first. */
#include "binding.h"

/* Reads a sequence of exactly n ints into out; `name` names it in the error. */
static int read_ints(PyObject *seq, int n, int64_t *out, const char *op, const char *name)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of ints");
    if (!fast) return 0;
    int ok = 1;
    if (PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "%s: %s must have %d values, got %zd", op, name, n,
                     PySequence_Fast_GET_SIZE(fast));
        ok = 0;
    }
    for (int i = 0; ok && i < n; i++) {
        out[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1 && PyErr_Occurred()) ok = 0;
    }
    Py_DECREF(fast);
    return ok;
}

/* pad_out_len(n, before, after, mode) -> the padded length */
static PyObject *py_pad_out_len(PyObject *self, PyObject *args)
{
    long long n, before, after;
    int mode;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLi", &n, &before, &after, &mode)) return NULL;
    const cnn_status st = cnn_pad_out_len(n, before, after, (cnn_pad_mode)mode, &out);
    if (st != CNN_OK) return raise_status(st, "pad_out_len");
    return PyLong_FromLongLong(out);
}

/* pad_forward(x, pads, mode, value) -> y of the padded shape */
static PyObject *py_pad_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    PyObject *pad_seq;
    int mode, typenum, nd;
    double value;
    int64_t pads[2 * NPY_MAXDIMS], shape[NPY_MAXDIMS], out[NPY_MAXDIMS];
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&Oid", arr_in, &x, &pad_seq, &mode, &value)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum)) goto exit;
    nd = PyArray_NDIM(x);
    if (!read_ints(pad_seq, 2 * nd, pads, "pad", "pads")) goto exit;
    for (int i = 0; i < nd; i++) {
        shape[i] = PyArray_DIM(x, i);
        if ((st = cnn_pad_out_len(shape[i], pads[2 * i], pads[2 * i + 1], (cnn_pad_mode)mode,
                                  &out[i]))) {
            raise_status(st, "pad");
            goto exit;
        }
    }
    if (!(y = new_array(nd, out, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_pad_forward(cnn_type(typenum), nd, shape, pads, (cnn_pad_mode)mode, value,
                         PyArray_DATA(x), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "pad");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    return (PyObject *)y;
}

/* pad_backward(dy, x_shape, pads, mode) -> dx of x_shape */
static PyObject *py_pad_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *dx = NULL;
    PyObject *shape_seq, *pad_seq;
    int mode, typenum, nd;
    int64_t pads[2 * NPY_MAXDIMS], shape[NPY_MAXDIMS], out;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&OOi", arr_in, &dy, &shape_seq, &pad_seq, &mode)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum)) goto exit;
    nd = PyArray_NDIM(dy);
    if (!read_ints(shape_seq, nd, shape, "pad_backward", "shape") ||
        !read_ints(pad_seq, 2 * nd, pads, "pad_backward", "pads"))
        goto exit;
    for (int i = 0; i < nd; i++) {
        if ((st = cnn_pad_out_len(shape[i], pads[2 * i], pads[2 * i + 1], (cnn_pad_mode)mode,
                                  &out))) {
            raise_status(st, "pad_backward");
            goto exit;
        }
        if (!check_dim(dy, i, out, "pad_backward", "grad_output")) goto exit;
    }
    if (!(dx = new_array(nd, shape, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_pad_backward(cnn_type(typenum), nd, shape, pads, (cnn_pad_mode)mode,
                          PyArray_DATA(dy), PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "pad_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    return (PyObject *)dx;
}

PyMethodDef pad_methods[] = {
    {"pad_out_len", py_pad_out_len, METH_VARARGS, "pad_out_len(n, before, after, mode) -> length"},
    {"pad_forward", py_pad_forward, METH_VARARGS,
     "pad_forward(x, pads, mode, value) -> y; pads = (before, after) per dim, first dim first"},
    {"pad_backward", py_pad_backward, METH_VARARGS,
     "pad_backward(dy, x_shape, pads, mode) -> dx"},
    {NULL, NULL, 0, NULL},
};
