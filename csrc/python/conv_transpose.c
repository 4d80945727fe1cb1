/* conv_transpose.c — the transpose-convolution binding: conv_transpose2d forward and backward
 * (1-D is H = 1) and the output length. */
#include "binding.h"

/* ---- descriptor ----------------------------------------------------------------------------------- */

/* O& converter: the geometry tuple (stride_h, stride_w, pad_h, pad_w, output_padding_h,
 * output_padding_w, dilation_h, dilation_w, groups) into a descriptor; transpose_complete adds
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

/* conv_like_op.complete: d (geometry set) completed with the sizes of x (N, C_in, H, W) and w
 * (C_in, C_out/groups, kH, kW) and validated (the engine's rules); then the shapes d does not
 * describe, which the engine would read past: w's first dim and b's length. */
static int transpose_complete(conv_like_desc *u, PyArrayObject *x, PyArrayObject *w,
                              PyArrayObject *b, int64_t ydims[4], const char *op)
{
    cnn_conv_transpose2d_desc *d = &u->transpose;
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
        (st = cnn_conv_transpose2d_output_shape(d, &ydims[2], &ydims[3]))) {
        raise_status(st, op);
        return 0;
    }
    ydims[0] = d->batch;
    ydims[1] = d->out_channels;
    return check_dim(w, 0, d->in_channels, op, "weight") &&
           (!b || check_dim(b, 0, d->out_channels, op, "bias"));
}

static cnn_status transpose_forward(const conv_like_desc *d, cnn_dtype dtype, cnn_algo algo,
                                    const void *x, const void *w, const void *b, void *y)
{
    return cnn_conv_transpose2d_forward(&d->transpose, dtype, algo, x, w, b, y);
}

static cnn_status transpose_backward(const conv_like_desc *d, cnn_dtype dtype, cnn_algo algo,
                                     const void *dy, const void *x, const void *w, void *dx,
                                     void *dw, void *db)
{
    return cnn_conv_transpose2d_backward(&d->transpose, dtype, algo, dy, x, w, dx, dw, db);
}

static const conv_like_op transpose_op = {"conv_transpose2d", "conv_transpose2d_backward",
                                          transpose_geometry, transpose_complete,
                                          transpose_forward, transpose_backward};

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
    (void)self;
    return conv_like_forward(&transpose_op, args);
}

/* conv_transpose2d_backward(dy, x, w, need_dx, need_dw, need_db, geometry, algo)
 * -> (dx|None, dw|None, db|None) */
static PyObject *py_conv_transpose2d_backward(PyObject *self, PyObject *args)
{
    (void)self;
    return conv_like_backward(&transpose_op, args);
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
