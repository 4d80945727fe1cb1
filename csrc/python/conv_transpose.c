/* conv_transpose.c — the transpose-convolution binding: conv_transpose2d forward and backward
 * (1-D is H = 1) and the output length. */
#include "binding.h"

/* ---- descriptor ----------------------------------------------------------------------------------- */

/* O& converter: the geometry tuple (stride_h, stride_w, pad_h, pad_w, output_padding_h,
 * output_padding_w, dilation_h, dilation_w, groups) into a descriptor; transpose_desc_from adds
 * the sizes. */
static int transpose_geometry(PyObject *obj, void *addr)
{
    cnn_conv_transpose2d_desc *d = addr;
    int64_t v[9];
    if (!int64_tuple(obj, 9, v, "(stride_h, stride_w, pad_h, pad_w, output_padding_h, "
                                "output_padding_w, dilation_h, dilation_w, groups)"))
        return 0;
    d->stride_h = v[0];
    d->stride_w = v[1];
    d->pad_h = v[2];
    d->pad_w = v[3];
    d->output_padding_h = v[4];
    d->output_padding_w = v[5];
    d->dilation_h = v[6];
    d->dilation_w = v[7];
    d->groups = v[8];
    return 1;
}

/* Completes d (geometry set) with the sizes of x (N, C_in, H, W) and w (C_in, C_out/groups, kH,
 * kW) and validates it (the engine's rules); then the shapes d does not describe, which the
 * engine would read past: w's first dim and b's length. *oh, *ow: the output size. */
static int transpose_desc_from(cnn_conv_transpose2d_desc *d, PyArrayObject *x, PyArrayObject *w,
                               PyArrayObject *b, int64_t *oh, int64_t *ow, const char *op)
{
    cnn_status st;
    if (!check_ndim(x, 4, op, "input") || !check_ndim(w, 4, op, "weight") ||
        (b && !check_ndim(b, 1, op, "bias")))
        return 0;
    d->batch = PyArray_DIM(x, 0);
    d->in_channels = PyArray_DIM(x, 1);
    d->in_h = PyArray_DIM(x, 2);
    d->in_w = PyArray_DIM(x, 3);
    d->kernel_h = PyArray_DIM(w, 2);
    d->kernel_w = PyArray_DIM(w, 3);
    if ((st = cnn_mul_sizes(PyArray_DIM(w, 1), d->groups, &d->out_channels)) ||
        (st = cnn_conv_transpose2d_output_shape(d, oh, ow))) {
        raise_status(st, op);
        return 0;
    }
    if (!check_dim(w, 0, d->in_channels, op, "weight") ||
        (b && !check_dim(b, 0, d->out_channels, op, "bias")))
        return 0;
    return 1;
}

/* ---- entry points -------------------------------------------------------------------------------- */

/* conv_transpose_out_len(n, k, stride, pad, dilation, output_padding) -> the output length */
static PyObject *py_conv_transpose_out_len(PyObject *self, PyObject *args)
{
    long long n, k, s, p, d, op;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLL", &n, &k, &s, &p, &d, &op)) return NULL;
    const cnn_status st = cnn_conv_transpose_out_len(n, k, s, p, d, op, &out);
    if (st != CNN_OK) return raise_status(st, "conv_transpose_out_len");
    return PyLong_FromLongLong(out);
}

/* conv_transpose2d_forward(x, w, b|None, geometry, algo) -> y (N, C_out, OH, OW) */
static PyObject *py_conv_transpose2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    cnn_conv_transpose2d_desc d = {0};
    int algo, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&O&i", arr_in, &x, arr_in, &w, arr_in_opt, &b,
                          transpose_geometry, &d, &algo))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) || !cast_real(&b, typenum) ||
        !transpose_desc_from(&d, x, w, b, &oh, &ow, "conv_transpose2d"))
        goto exit;
    const int64_t dims[4] = {d.batch, d.out_channels, oh, ow};
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv_transpose2d_forward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(x),
                                      PyArray_DATA(w), data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "conv_transpose2d");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return (PyObject *)y;
}

/* conv_transpose2d_backward(dy, x, w, need_dx, need_dw, need_db, geometry, algo)
 * -> (dx|None, dw|None, db|None) */
static PyObject *py_conv_transpose2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *w = NULL, *dx = NULL, *dw = NULL, *db = NULL;
    PyObject *result = NULL;
    cnn_conv_transpose2d_desc d = {0};
    int need_dx, need_dw, need_db, algo, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&pppO&i", arr_in, &dy, arr_in, &x, arr_in, &w, &need_dx,
                          &need_dw, &need_db, transpose_geometry, &d, &algo))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum) ||
        !transpose_desc_from(&d, x, w, NULL, &oh, &ow, "conv_transpose2d_backward"))
        goto exit;
    const int64_t ydims[4] = {d.batch, d.out_channels, oh, ow};
    if (!check_shape(dy, 4, ydims, "conv_transpose2d_backward", "grad_output")) goto exit;
    if (need_dx && !(dx = new_like(x, typenum))) goto exit;
    if (need_dw && !(dw = new_like(w, typenum))) goto exit;
    if (need_db && !(db = new_array(1, &d.out_channels, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv_transpose2d_backward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(dy),
                                       PyArray_DATA(x), PyArray_DATA(w), data_or_null(dx),
                                       data_or_null(dw), data_or_null(db));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "conv_transpose2d_backward");
        goto exit;
    }
    result = PyTuple_Pack(3, obj_or_none(dx), obj_or_none(dw), obj_or_none(db));
exit:
    Py_XDECREF(dy);
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(dx);
    Py_XDECREF(dw);
    Py_XDECREF(db);
    return result;
}

PyMethodDef conv_transpose_methods[] = {
    {"conv_transpose_out_len", py_conv_transpose_out_len, METH_VARARGS,
     "conv_transpose_out_len(n, k, stride, pad, dilation, output_padding) -> output length"},
    {"conv_transpose2d_forward", py_conv_transpose2d_forward, METH_VARARGS,
     "conv_transpose2d_forward(x, w, b, geometry, algo) -> y; geometry = (stride_h, stride_w, "
     "pad_h, pad_w, output_padding_h, output_padding_w, dilation_h, dilation_w, groups)"},
    {"conv_transpose2d_backward", py_conv_transpose2d_backward, METH_VARARGS,
     "conv_transpose2d_backward(dy, x, w, need_dx, need_dw, need_db, geometry, algo) -> (dx, dw, db)"},
    {NULL, NULL, 0, NULL},
};
