/* pool.c — the pooling binding: max and average pooling (1-D is H = 1), adaptive pooling and max
 * unpooling, forward and backward, over (N, C, H, W) arrays the engine sees as N*C planes; and the
 * output length. */
#include "binding.h"

/* O& converter: the window tuple (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
 * dilation_h, dilation_w) into a descriptor (average pooling passes dilation 1). */
static int pool_window(PyObject *obj, void *addr)
{
    cnn_pool2d_desc *d = addr;
    int64_t v[8];
    if (!int64_tuple(obj, 8, v, "(kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, "
                                "dilation_h, dilation_w)"))
        return 0;
    d->kernel_h = v[0];
    d->kernel_w = v[1];
    d->stride_h = v[2];
    d->stride_w = v[3];
    d->pad_h = v[4];
    d->pad_w = v[5];
    d->dilation_h = v[6];
    d->dilation_w = v[7];
    return 1;
}

/* pool_out_len(n, k, stride, pad, dilation, ceil_mode) -> the output length */
static PyObject *py_pool_out_len(PyObject *self, PyObject *args)
{
    long long n, k, s, p, d;
    int ceil_mode;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLp", &n, &k, &s, &p, &d, &ceil_mode)) return NULL;
    const cnn_status st = cnn_pool_out_len(n, k, s, p, d, ceil_mode, &out);
    if (st != CNN_OK) return raise_status(st, "pool_out_len");
    return PyLong_FromLongLong(out);
}

/* ---- max and average pooling ------------------------------------------------------------------------ */

/* max_pool2d_forward(x (N, C, H, W), window, ceil_mode) -> (y, indices), both (N, C, OH, OW) */
static PyObject *py_max_pool2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL, *idx = NULL;
    PyObject *result = NULL;
    cnn_pool2d_desc d = {0};
    int typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&p", arr_in, &x, pool_window, &d, &d.ceil_mode)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !check_ndim(x, 4, "max_pool2d", "input")) goto exit;
    d.planes = (int64_t)PyArray_DIM(x, 0) * PyArray_DIM(x, 1);
    d.in_h = PyArray_DIM(x, 2);
    d.in_w = PyArray_DIM(x, 3);
    if ((st = cnn_pool2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "max_pool2d");
        goto exit;
    }
    const int64_t dims[4] = {PyArray_DIM(x, 0), PyArray_DIM(x, 1), oh, ow};
    if (!(y = new_array(4, dims, typenum, 0)) || !(idx = new_array(4, dims, NPY_INT64, 0)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_maxpool2d_forward(&d, cnn_type(typenum), PyArray_DATA(x), PyArray_DATA(y),
                               PyArray_DATA(idx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "max_pool2d");
        goto exit;
    }
    result = PyTuple_Pack(2, y, idx);
exit:
    Py_XDECREF(x);
    Py_XDECREF(y);
    Py_XDECREF(idx);
    return result;
}

/* max_pool2d_backward(dy (N, C, OH, OW), indices (same shape), H, W) -> dx (N, C, H, W): dy
 * scattered to the indices. Serves plain and adaptive max pooling. dx is not zero-filled first:
 * the engine zeroes each plane in cache just before its scatter. */
static PyObject *py_max_pool2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *idx = NULL, *dx = NULL;
    long long h, w;
    int typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&LL", arr_in, &dy, idx_in, &idx, &h, &w)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !check_ndim(dy, 4, "max_pool2d_backward", "grad_output") ||
        !check_same_shape(dy, idx, "max_pool2d_backward", "grad_output", "indices"))
        goto exit;
    const int64_t dims[4] = {PyArray_DIM(dy, 0), PyArray_DIM(dy, 1), h, w};
    if (!(dx = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_maxpool2d_backward_overwrite(cnn_type(typenum), dims[0] * dims[1], h, w,
                                          PyArray_DIM(dy, 2), PyArray_DIM(dy, 3), PyArray_DATA(dy),
                                          PyArray_DATA(idx), PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "max_pool2d_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    Py_XDECREF(idx);
    return (PyObject *)dx;
}

/* avg_pool2d_forward(x (N, C, H, W), window, ceil_mode, count_include_pad, divisor_override)
 * -> y (N, C, OH, OW) */
static PyObject *py_avg_pool2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    cnn_pool2d_desc d = {0};
    long long divisor;
    int typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&ppL", arr_in, &x, pool_window, &d, &d.ceil_mode,
                          &d.count_include_pad, &divisor))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !check_ndim(x, 4, "avg_pool2d", "input")) goto exit;
    d.planes = (int64_t)PyArray_DIM(x, 0) * PyArray_DIM(x, 1);
    d.in_h = PyArray_DIM(x, 2);
    d.in_w = PyArray_DIM(x, 3);
    d.divisor_override = divisor;
    if ((st = cnn_pool2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "avg_pool2d");
        goto exit;
    }
    const int64_t dims[4] = {PyArray_DIM(x, 0), PyArray_DIM(x, 1), oh, ow};
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_avgpool2d_forward(&d, cnn_type(typenum), PyArray_DATA(x), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "avg_pool2d");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    return (PyObject *)y;
}

/* avg_pool2d_backward(dy (N, C, OH, OW), H, W, window, ceil_mode, count_include_pad,
 * divisor_override) -> dx (N, C, H, W) */
static PyObject *py_avg_pool2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *dx = NULL;
    cnn_pool2d_desc d = {0};
    long long h, w, divisor;
    int typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LLO&ppL", arr_in, &dy, &h, &w, pool_window, &d, &d.ceil_mode,
                          &d.count_include_pad, &divisor))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !check_ndim(dy, 4, "avg_pool2d_backward", "grad_output"))
        goto exit;
    d.planes = (int64_t)PyArray_DIM(dy, 0) * PyArray_DIM(dy, 1);
    d.in_h = h;
    d.in_w = w;
    d.divisor_override = divisor;
    if ((st = cnn_pool2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "avg_pool2d_backward");
        goto exit;
    }
    const int64_t ydims[4] = {PyArray_DIM(dy, 0), PyArray_DIM(dy, 1), oh, ow};
    if (!check_shape(dy, 4, ydims, "avg_pool2d_backward", "grad_output")) goto exit;
    const int64_t dims[4] = {PyArray_DIM(dy, 0), PyArray_DIM(dy, 1), h, w};
    if (!(dx = new_array(4, dims, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_avgpool2d_backward(&d, cnn_type(typenum), PyArray_DATA(dy), PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "avg_pool2d_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    return (PyObject *)dx;
}

/* ---- adaptive pooling, unpooling ---------------------------------------------------------------------- */

/* adaptive_pool2d_forward(x (N, C, H, W), OH, OW, is_max) -> y, or (y, indices) when is_max */
static PyObject *py_adaptive_pool2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL, *idx = NULL;
    PyObject *result = NULL;
    long long oh, ow;
    int is_max, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LLp", arr_in, &x, &oh, &ow, &is_max)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !check_ndim(x, 4, "adaptive_pool2d", "input")) goto exit;
    const int64_t dims[4] = {PyArray_DIM(x, 0), PyArray_DIM(x, 1), oh, ow};
    const int64_t planes = dims[0] * dims[1], h = PyArray_DIM(x, 2), w = PyArray_DIM(x, 3);
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    if (is_max && !(idx = new_array(4, dims, NPY_INT64, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    if (is_max)
        st = cnn_adaptive_maxpool2d_forward(cnn_type(typenum), planes, h, w, oh, ow,
                                            PyArray_DATA(x), PyArray_DATA(y), PyArray_DATA(idx));
    else
        st = cnn_adaptive_avgpool2d_forward(cnn_type(typenum), planes, h, w, oh, ow,
                                            PyArray_DATA(x), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "adaptive_pool2d");
        goto exit;
    }
    result = is_max ? PyTuple_Pack(2, y, idx) : (Py_INCREF(y), (PyObject *)y);
exit:
    Py_XDECREF(x);
    Py_XDECREF(y);
    Py_XDECREF(idx);
    return result;
}

/* adaptive_avg_pool2d_backward(dy (N, C, OH, OW), H, W) -> dx (N, C, H, W) */
static PyObject *py_adaptive_avg_pool2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *dx = NULL;
    long long h, w;
    int typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LL", arr_in, &dy, &h, &w)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) ||
        !check_ndim(dy, 4, "adaptive_avg_pool2d_backward", "grad_output"))
        goto exit;
    const int64_t dims[4] = {PyArray_DIM(dy, 0), PyArray_DIM(dy, 1), h, w};
    if (!(dx = new_array(4, dims, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_adaptive_avgpool2d_backward(cnn_type(typenum), dims[0] * dims[1], h, w,
                                         PyArray_DIM(dy, 2), PyArray_DIM(dy, 3), PyArray_DATA(dy),
                                         PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "adaptive_avg_pool2d_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    return (PyObject *)dx;
}

/* max_unpool2d_forward(x (N, C, h, w), indices (same shape), OH, OW) -> y (N, C, OH, OW) */
static PyObject *py_max_unpool2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *idx = NULL, *y = NULL;
    long long oh, ow;
    int typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&LL", arr_in, &x, idx_in, &idx, &oh, &ow)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !check_ndim(x, 4, "max_unpool2d", "input") ||
        !check_same_shape(x, idx, "max_unpool2d", "input", "indices"))
        goto exit;
    const int64_t dims[4] = {PyArray_DIM(x, 0), PyArray_DIM(x, 1), oh, ow};
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_maxunpool2d_forward(cnn_type(typenum), dims[0] * dims[1],
                                 (int64_t)PyArray_DIM(x, 2) * PyArray_DIM(x, 3), oh, ow,
                                 PyArray_DATA(x), PyArray_DATA(idx), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "max_unpool2d");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(idx);
    return (PyObject *)y;
}

/* max_unpool2d_backward(dy (N, C, OH, OW), indices (N, C, h, w)) -> dx like indices */
static PyObject *py_max_unpool2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *idx = NULL, *dx = NULL;
    int typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&", arr_in, &dy, idx_in, &idx)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !check_ndim(dy, 4, "max_unpool2d_backward", "grad_output") ||
        !check_ndim(idx, 4, "max_unpool2d_backward", "indices") ||
        !check_dim(idx, 0, PyArray_DIM(dy, 0), "max_unpool2d_backward", "indices") ||
        !check_dim(idx, 1, PyArray_DIM(dy, 1), "max_unpool2d_backward", "indices"))
        goto exit;
    if (!(dx = new_like(idx, typenum))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_maxunpool2d_backward(cnn_type(typenum),
                                  (int64_t)PyArray_DIM(dy, 0) * PyArray_DIM(dy, 1),
                                  (int64_t)PyArray_DIM(idx, 2) * PyArray_DIM(idx, 3),
                                  PyArray_DIM(dy, 2), PyArray_DIM(dy, 3), PyArray_DATA(dy),
                                  PyArray_DATA(idx), PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "max_unpool2d_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dy);
    Py_XDECREF(idx);
    return (PyObject *)dx;
}

PyMethodDef pool_methods[] = {
    {"pool_out_len", py_pool_out_len, METH_VARARGS,
     "pool_out_len(n, k, stride, pad, dilation, ceil_mode) -> output length"},
    {"max_pool2d_forward", py_max_pool2d_forward, METH_VARARGS,
     "max_pool2d_forward(x, window, ceil_mode) -> (y, indices); window = (kernel_h, kernel_w, "
     "stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w)"},
    {"max_pool2d_backward", py_max_pool2d_backward, METH_VARARGS,
     "max_pool2d_backward(dy, indices, h, w) -> dx"},
    {"avg_pool2d_forward", py_avg_pool2d_forward, METH_VARARGS,
     "avg_pool2d_forward(x, window, ceil_mode, count_include_pad, divisor_override) -> y"},
    {"avg_pool2d_backward", py_avg_pool2d_backward, METH_VARARGS,
     "avg_pool2d_backward(dy, h, w, window, ceil_mode, count_include_pad, divisor_override) -> dx"},
    {"adaptive_pool2d_forward", py_adaptive_pool2d_forward, METH_VARARGS,
     "adaptive_pool2d_forward(x, oh, ow, is_max) -> y, or (y, indices) when is_max"},
    {"adaptive_avg_pool2d_backward", py_adaptive_avg_pool2d_backward, METH_VARARGS,
     "adaptive_avg_pool2d_backward(dy, h, w) -> dx"},
    {"max_unpool2d_forward", py_max_unpool2d_forward, METH_VARARGS,
     "max_unpool2d_forward(x, indices, oh, ow) -> y"},
    {"max_unpool2d_backward", py_max_unpool2d_backward, METH_VARARGS,
     "max_unpool2d_backward(dy, indices) -> dx"},
    {NULL, NULL, 0, NULL},
};
