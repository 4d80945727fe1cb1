/* module.c — the CPython/NumPy binding cnnpy._cnn, the only file that sees Python. Each function
 * takes positional arguments, converts array-likes (any byte order, any layout, lists) to
 * C-contiguous float32/float64 (float32 when the first array is float32, else float64), checks
 * every shape, releases the GIL around the engine call and maps engine status to exceptions.
 * Friendly argument handling and messages live in cnnpy/functional.py. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <string.h>

#include "cnn.h"

/* ---- errors ------------------------------------------------------------------------------------ */

static PyObject *raise_status(cnn_status st, const char *op)
{
    switch (st) {
    case CNN_OK: break;
    case CNN_ENOMEM: return PyErr_NoMemory();
    case CNN_EOVERFLOW: PyErr_Format(PyExc_OverflowError, "%s: %s", op, cnn_strerror(st)); break;
    case CNN_EDTYPE: PyErr_Format(PyExc_TypeError, "%s: %s", op, cnn_strerror(st)); break;
    default: PyErr_Format(PyExc_ValueError, "%s: %s", op, cnn_strerror(st)); break;
    }
    return NULL;
}

/* ---- array conversion ---------------------------------------------------------------------------- */

/* O& converter: any array-like of bool, integer or floating dtype, as an ndarray of its own dtype
 * (converted to float32/float64 later by cast_real). Supports cleanup on a later parse failure. */
static int arr_in(PyObject *obj, void *addr)
{
    PyArrayObject **out = addr;
    if (obj == NULL) { /* cleanup call */
        Py_CLEAR(*out);
        return 1;
    }
    PyArrayObject *a = (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
    if (!a) return 0;
    int t = PyArray_TYPE(a);
    if (!(PyTypeNum_ISBOOL(t) || PyTypeNum_ISINTEGER(t) || PyTypeNum_ISFLOAT(t))) {
        PyErr_Format(PyExc_TypeError, "expected a real numeric array, got dtype %S",
                     (PyObject *)PyArray_DESCR(a));
        Py_DECREF(a);
        return 0;
    }
    *out = a;
    return Py_CLEANUP_SUPPORTED;
}

/* arr_in, or NULL for None. */
static int arr_in_opt(PyObject *obj, void *addr)
{
    if (obj == Py_None) {
        *(PyArrayObject **)addr = NULL;
        return 1;
    }
    return arr_in(obj, addr);
}

/* O& converter: a C-contiguous int64 array (indices, class targets); only safe casts. */
static int idx_in(PyObject *obj, void *addr)
{
    PyArrayObject **out = addr;
    if (obj == NULL) {
        Py_CLEAR(*out);
        return 1;
    }
    *out = (PyArrayObject *)PyArray_FROM_OTF(obj, NPY_INT64, NPY_ARRAY_IN_ARRAY);
    return *out ? Py_CLEANUP_SUPPORTED : 0;
}

/* The compute type of a call: float32 when the first array is float32, else float64. */
static int real_type(PyArrayObject *first)
{
    return PyArray_TYPE(first) == NPY_FLOAT32 ? NPY_FLOAT32 : NPY_FLOAT64;
}

static cnn_dtype cnn_type(int typenum)
{
    return typenum == NPY_FLOAT32 ? CNN_FLOAT32 : CNN_FLOAT64;
}

/* Replace *a (may be NULL) by an aligned, native, C-contiguous array of `typenum`. */
static int cast_real(PyArrayObject **a, int typenum)
{
    if (!*a) return 1;
    PyArrayObject *c = (PyArrayObject *)PyArray_FROM_OTF(
        (PyObject *)*a, typenum, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(*a);
    *a = c;
    return c != NULL;
}

static int check_ndim(PyArrayObject *a, int nd, const char *op, const char *name)
{
    if (PyArray_NDIM(a) != nd) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be %d-D, got %d-D", op, name, nd,
                     PyArray_NDIM(a));
        return 0;
    }
    return 1;
}

static int check_dim(PyArrayObject *a, int axis, int64_t want, const char *op, const char *name)
{
    if ((int64_t)PyArray_DIM(a, axis) != want) {
        PyErr_Format(PyExc_ValueError, "%s: %s has size %lld along axis %d, expected %lld", op,
                     name, (long long)PyArray_DIM(a, axis), axis, (long long)want);
        return 0;
    }
    return 1;
}

static int check_same_shape(PyArrayObject *a, PyArrayObject *b, const char *op, const char *an,
                            const char *bn)
{
    if (!PyArray_SAMESHAPE(a, b)) {
        PyErr_Format(PyExc_ValueError, "%s: %s and %s must have the same shape", op, an, bn);
        return 0;
    }
    return 1;
}

static PyArrayObject *new_array(int nd, const int64_t *dims, int typenum, int zero)
{
    npy_intp d[NPY_MAXDIMS];
    for (int i = 0; i < nd; i++) d[i] = (npy_intp)dims[i];
    return (PyArrayObject *)(zero ? PyArray_ZEROS(nd, d, typenum, 0)
                                  : PyArray_SimpleNew(nd, d, typenum));
}

static PyArrayObject *new_like(PyArrayObject *a, int typenum)
{
    return (PyArrayObject *)PyArray_ZEROS(PyArray_NDIM(a), PyArray_DIMS(a), typenum, 0);
}

static void *data_or_null(PyArrayObject *a)
{
    return a ? PyArray_DATA(a) : NULL;
}

static PyObject *obj_or_none(PyArrayObject *a)
{
    if (a) return (PyObject *)a;
    Py_RETURN_NONE;
}

/* ---- output sizes -------------------------------------------------------------------------------- */

static PyObject *py_conv_out_len(PyObject *self, PyObject *args)
{
    long long n, k, s, pb, pa, d;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLL", &n, &k, &s, &pb, &pa, &d)) return NULL;
    cnn_status st = cnn_conv_out_len(n, k, s, pb, pa, d, &out);
    if (st != CNN_OK) return raise_status(st, "conv_out_len");
    return PyLong_FromLongLong(out);
}

static PyObject *py_conv_transpose_out_len(PyObject *self, PyObject *args)
{
    long long n, k, s, p, d, op;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLL", &n, &k, &s, &p, &d, &op)) return NULL;
    cnn_status st = cnn_conv_transpose_out_len(n, k, s, p, d, op, &out);
    if (st != CNN_OK) return raise_status(st, "conv_transpose_out_len");
    return PyLong_FromLongLong(out);
}

static PyObject *py_pool_out_len(PyObject *self, PyObject *args)
{
    long long n, k, s, p, d;
    int ceil_mode;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLp", &n, &k, &s, &p, &d, &ceil_mode)) return NULL;
    cnn_status st = cnn_pool_out_len(n, k, s, p, d, ceil_mode, &out);
    if (st != CNN_OK) return raise_status(st, "pool_out_len");
    return PyLong_FromLongLong(out);
}

static PyObject *py_pad_out_len(PyObject *self, PyObject *args)
{
    long long n, before, after;
    int mode;
    int64_t out;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLi", &n, &before, &after, &mode)) return NULL;
    cnn_status st = cnn_pad_out_len(n, before, after, (cnn_pad_mode)mode, &out);
    if (st != CNN_OK) return raise_status(st, "pad_out_len");
    return PyLong_FromLongLong(out);
}

/* ---- convolution ------------------------------------------------------------------------------- */

/* Fills a conv descriptor from x (N, C_in, H, W) and w (C_out, C_in/groups, kH, kW), checking the
 * shapes that the descriptor does not cover. */
static int conv_desc_from(PyArrayObject *x, PyArrayObject *w, PyArrayObject *b,
                          cnn_conv2d_desc *d, const char *op)
{
    if (!check_ndim(x, 4, op, "input") || !check_ndim(w, 4, op, "weight")) return 0;
    d->batch = PyArray_DIM(x, 0);
    d->in_channels = PyArray_DIM(x, 1);
    d->in_h = PyArray_DIM(x, 2);
    d->in_w = PyArray_DIM(x, 3);
    d->out_channels = PyArray_DIM(w, 0);
    d->kernel_h = PyArray_DIM(w, 2);
    d->kernel_w = PyArray_DIM(w, 3);
    if (d->groups < 1 || d->in_channels % d->groups != 0 ||
        PyArray_DIM(w, 1) * d->groups != d->in_channels) {
        PyErr_Format(PyExc_ValueError,
                     "%s: weight %lld x %lld x %lld x %lld does not fit input channels %lld with "
                     "groups=%lld",
                     op, (long long)PyArray_DIM(w, 0), (long long)PyArray_DIM(w, 1),
                     (long long)d->kernel_h, (long long)d->kernel_w, (long long)d->in_channels,
                     (long long)d->groups);
        return 0;
    }
    if (b && (!check_ndim(b, 1, op, "bias") || !check_dim(b, 0, d->out_channels, op, "bias")))
        return 0;
    return 1;
}

static PyObject *py_conv2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    cnn_conv2d_desc d = {0};
    long long sh, sw, pt, pb, pl, pr, dh, dw, groups;
    int algo, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&LLLLLLLLLi", arr_in, &x, arr_in, &w, arr_in_opt, &b, &sh,
                          &sw, &pt, &pb, &pl, &pr, &dh, &dw, &groups, &algo))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) || !cast_real(&b, typenum)) goto exit;
    d.stride_h = sh; d.stride_w = sw;
    d.pad_top = pt; d.pad_bottom = pb; d.pad_left = pl; d.pad_right = pr;
    d.dilation_h = dh; d.dilation_w = dw; d.groups = groups;
    if (!conv_desc_from(x, w, b, &d, "conv2d")) goto exit;
    if ((st = cnn_conv2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "conv2d");
        goto exit;
    }
    const int64_t dims[4] = {d.batch, d.out_channels, oh, ow};
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv2d_forward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(x),
                            PyArray_DATA(w), data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "conv2d");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return (PyObject *)y;
}

static PyObject *py_conv2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *w = NULL, *dx = NULL, *dw = NULL, *db = NULL;
    PyObject *result = NULL;
    cnn_conv2d_desc d = {0};
    long long sh, sw, pt, pb, pl, pr, dh, dwl, groups;
    int need_dx, need_dw, need_db, algo, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&pppLLLLLLLLLi", arr_in, &dy, arr_in, &x, arr_in, &w,
                          &need_dx, &need_dw, &need_db, &sh, &sw, &pt, &pb, &pl, &pr, &dh, &dwl,
                          &groups, &algo))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum)) goto exit;
    d.stride_h = sh; d.stride_w = sw;
    d.pad_top = pt; d.pad_bottom = pb; d.pad_left = pl; d.pad_right = pr;
    d.dilation_h = dh; d.dilation_w = dwl; d.groups = groups;
    if (!conv_desc_from(x, w, NULL, &d, "conv2d_backward")) goto exit;
    if ((st = cnn_conv2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "conv2d_backward");
        goto exit;
    }
    const int64_t ydims[4] = {d.batch, d.out_channels, oh, ow};
    if (!check_ndim(dy, 4, "conv2d_backward", "grad_output")) goto exit;
    for (int i = 0; i < 4; i++)
        if (!check_dim(dy, i, ydims[i], "conv2d_backward", "grad_output")) goto exit;
    if (need_dx && !(dx = new_like(x, typenum))) goto exit;
    if (need_dw && !(dw = new_like(w, typenum))) goto exit;
    if (need_db && !(db = new_array(1, &d.out_channels, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv2d_backward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(dy),
                             PyArray_DATA(x), PyArray_DATA(w), data_or_null(dx), data_or_null(dw),
                             data_or_null(db));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "conv2d_backward");
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

/* x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW). */
static int transpose_desc_from(PyArrayObject *x, PyArrayObject *w, PyArrayObject *b,
                               cnn_conv_transpose2d_desc *d, const char *op)
{
    if (!check_ndim(x, 4, op, "input") || !check_ndim(w, 4, op, "weight")) return 0;
    d->batch = PyArray_DIM(x, 0);
    d->in_channels = PyArray_DIM(x, 1);
    d->in_h = PyArray_DIM(x, 2);
    d->in_w = PyArray_DIM(x, 3);
    d->kernel_h = PyArray_DIM(w, 2);
    d->kernel_w = PyArray_DIM(w, 3);
    if (d->groups < 1 || PyArray_DIM(w, 0) != d->in_channels ||
        d->in_channels % d->groups != 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: weight %lld x %lld x %lld x %lld does not fit input channels %lld with "
                     "groups=%lld",
                     op, (long long)PyArray_DIM(w, 0), (long long)PyArray_DIM(w, 1),
                     (long long)d->kernel_h, (long long)d->kernel_w, (long long)d->in_channels,
                     (long long)d->groups);
        return 0;
    }
    d->out_channels = PyArray_DIM(w, 1) * d->groups;
    if (b && (!check_ndim(b, 1, op, "bias") || !check_dim(b, 0, d->out_channels, op, "bias")))
        return 0;
    return 1;
}

static PyObject *py_conv_transpose2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    cnn_conv_transpose2d_desc d = {0};
    long long sh, sw, ph, pw, oph, opw, dh, dw, groups;
    int algo, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&LLLLLLLLLi", arr_in, &x, arr_in, &w, arr_in_opt, &b, &sh,
                          &sw, &ph, &pw, &oph, &opw, &dh, &dw, &groups, &algo))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) || !cast_real(&b, typenum)) goto exit;
    d.stride_h = sh; d.stride_w = sw; d.pad_h = ph; d.pad_w = pw;
    d.output_padding_h = oph; d.output_padding_w = opw;
    d.dilation_h = dh; d.dilation_w = dw; d.groups = groups;
    if (!transpose_desc_from(x, w, b, &d, "conv_transpose2d")) goto exit;
    if ((st = cnn_conv_transpose2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "conv_transpose2d");
        goto exit;
    }
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

static PyObject *py_conv_transpose2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *w = NULL, *dx = NULL, *dw = NULL, *db = NULL;
    PyObject *result = NULL;
    cnn_conv_transpose2d_desc d = {0};
    long long sh, sw, ph, pw, oph, opw, dh, dwl, groups;
    int need_dx, need_dw, need_db, algo, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&pppLLLLLLLLLi", arr_in, &dy, arr_in, &x, arr_in, &w,
                          &need_dx, &need_dw, &need_db, &sh, &sw, &ph, &pw, &oph, &opw, &dh, &dwl,
                          &groups, &algo))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum)) goto exit;
    d.stride_h = sh; d.stride_w = sw; d.pad_h = ph; d.pad_w = pw;
    d.output_padding_h = oph; d.output_padding_w = opw;
    d.dilation_h = dh; d.dilation_w = dwl; d.groups = groups;
    if (!transpose_desc_from(x, w, NULL, &d, "conv_transpose2d_backward")) goto exit;
    if ((st = cnn_conv_transpose2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "conv_transpose2d_backward");
        goto exit;
    }
    const int64_t ydims[4] = {d.batch, d.out_channels, oh, ow};
    if (!check_ndim(dy, 4, "conv_transpose2d_backward", "grad_output")) goto exit;
    for (int i = 0; i < 4; i++)
        if (!check_dim(dy, i, ydims[i], "conv_transpose2d_backward", "grad_output")) goto exit;
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

/* ---- pooling ------------------------------------------------------------------------------------- */

/* Reads kernel, stride, padding, dilation pairs (and flags) into d from x (N, C, H, W). */
static int pool_desc_from(PyArrayObject *x, cnn_pool2d_desc *d, const char *op)
{
    if (!check_ndim(x, 4, op, "input")) return 0;
    d->planes = (int64_t)PyArray_DIM(x, 0) * (int64_t)PyArray_DIM(x, 1);
    d->in_h = PyArray_DIM(x, 2);
    d->in_w = PyArray_DIM(x, 3);
    return 1;
}

static PyObject *py_max_pool2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL, *idx = NULL;
    PyObject *result = NULL;
    cnn_pool2d_desc d = {0};
    long long kh, kw, sh, sw, ph, pw, dh, dw;
    int ceil_mode, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LLLLLLLLp", arr_in, &x, &kh, &kw, &sh, &sw, &ph, &pw, &dh, &dw,
                          &ceil_mode))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !pool_desc_from(x, &d, "max_pool2d")) goto exit;
    d.kernel_h = kh; d.kernel_w = kw; d.stride_h = sh; d.stride_w = sw;
    d.pad_h = ph; d.pad_w = pw; d.dilation_h = dh; d.dilation_w = dw; d.ceil_mode = ceil_mode;
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

/* dy (N, C, OH, OW) scattered by idx into (N, C, H, W). Serves plain and adaptive max pooling. */
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
    if (h < 1 || w < 1) {
        PyErr_Format(PyExc_ValueError, "max_pool2d_backward: input size %lldx%lld", h, w);
        goto exit;
    }
    const int64_t dims[4] = {PyArray_DIM(dy, 0), PyArray_DIM(dy, 1), h, w};
    if (!(dx = new_array(4, dims, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_maxpool2d_backward(cnn_type(typenum), dims[0] * dims[1], h, w, PyArray_DIM(dy, 2),
                                PyArray_DIM(dy, 3), PyArray_DATA(dy), PyArray_DATA(idx),
                                PyArray_DATA(dx));
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

static PyObject *py_avg_pool2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    cnn_pool2d_desc d = {0};
    long long kh, kw, sh, sw, ph, pw, divisor;
    int ceil_mode, cip, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LLLLLLppL", arr_in, &x, &kh, &kw, &sh, &sw, &ph, &pw,
                          &ceil_mode, &cip, &divisor))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !pool_desc_from(x, &d, "avg_pool2d")) goto exit;
    d.kernel_h = kh; d.kernel_w = kw; d.stride_h = sh; d.stride_w = sw;
    d.pad_h = ph; d.pad_w = pw; d.dilation_h = 1; d.dilation_w = 1;
    d.ceil_mode = ceil_mode; d.count_include_pad = cip; d.divisor_override = divisor;
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

static PyObject *py_avg_pool2d_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *dx = NULL;
    cnn_pool2d_desc d = {0};
    long long h, w, kh, kw, sh, sw, ph, pw, divisor;
    int ceil_mode, cip, typenum;
    int64_t oh, ow;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LLLLLLLLppL", arr_in, &dy, &h, &w, &kh, &kw, &sh, &sw, &ph,
                          &pw, &ceil_mode, &cip, &divisor))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !check_ndim(dy, 4, "avg_pool2d_backward", "grad_output"))
        goto exit;
    d.planes = (int64_t)PyArray_DIM(dy, 0) * (int64_t)PyArray_DIM(dy, 1);
    d.in_h = h; d.in_w = w;
    d.kernel_h = kh; d.kernel_w = kw; d.stride_h = sh; d.stride_w = sw;
    d.pad_h = ph; d.pad_w = pw; d.dilation_h = 1; d.dilation_w = 1;
    d.ceil_mode = ceil_mode; d.count_include_pad = cip; d.divisor_override = divisor;
    if ((st = cnn_pool2d_output_shape(&d, &oh, &ow))) {
        raise_status(st, "avg_pool2d_backward");
        goto exit;
    }
    if (!check_dim(dy, 2, oh, "avg_pool2d_backward", "grad_output") ||
        !check_dim(dy, 3, ow, "avg_pool2d_backward", "grad_output"))
        goto exit;
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

/* adaptive_pool2d_forward(x, oh, ow, is_max) -> y, or (y, indices) when is_max. */
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
    if (oh < 1 || ow < 1) {
        PyErr_Format(PyExc_ValueError, "adaptive_pool2d: output_size must be >= 1, got (%lld, %lld)",
                     oh, ow);
        goto exit;
    }
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
    if (h < 1 || w < 1) {
        PyErr_Format(PyExc_ValueError, "adaptive_avg_pool2d_backward: input size %lldx%lld", h, w);
        goto exit;
    }
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
    if (oh < 1 || ow < 1) {
        PyErr_Format(PyExc_ValueError, "max_unpool2d: output size %lldx%lld", oh, ow);
        goto exit;
    }
    const int64_t dims[4] = {PyArray_DIM(x, 0), PyArray_DIM(x, 1), oh, ow};
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_maxunpool2d_forward(cnn_type(typenum), dims[0] * dims[1],
                                 (int64_t)PyArray_DIM(x, 2) * PyArray_DIM(x, 3), oh, ow,
                                 PyArray_DATA(x), PyArray_DATA(idx), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st == CNN_EINDEX) {
        PyErr_Format(PyExc_ValueError,
                     "max_unpool2d: indices must lie in [0, %lld) for an output of %lldx%lld",
                     oh * ow, oh, ow);
        Py_CLEAR(y);
    } else if (st != CNN_OK) {
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

/* resize2d_forward(x (N, C, H, W), out_h, out_w, mode) -> y (N, C, out_h, out_w) */
static PyObject *py_resize2d_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    long long oh, ow;
    int mode, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&LLi", arr_in, &x, &oh, &ow, &mode)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !check_ndim(x, 4, "resize", "input")) goto exit;
    if (oh < 1 || ow < 1 || PyArray_DIM(x, 2) < 1 || PyArray_DIM(x, 3) < 1) {
        PyErr_Format(PyExc_ValueError, "resize: sizes must be >= 1, got %lldx%lld -> %lldx%lld",
                     (long long)PyArray_DIM(x, 2), (long long)PyArray_DIM(x, 3), oh, ow);
        goto exit;
    }
    const int64_t dims[4] = {PyArray_DIM(x, 0), PyArray_DIM(x, 1), oh, ow};
    if (!(y = new_array(4, dims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_resize2d_forward(cnn_type(typenum), (cnn_resize_mode)mode, dims[0] * dims[1],
                              PyArray_DIM(x, 2), PyArray_DIM(x, 3), oh, ow, PyArray_DATA(x),
                              PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "resize");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    return (PyObject *)y;
}

/* ---- padding ----------------------------------------------------------------------------------- */

/* Reads a sequence of 2*ndim ints (before, after per dim, first dim first). */
static int read_pads(PyObject *seq, int ndim, int64_t *pads)
{
    PyObject *fast = PySequence_Fast(seq, "pads must be a sequence of ints");
    if (!fast) return 0;
    int ok = 1;
    if (PySequence_Fast_GET_SIZE(fast) != 2 * ndim) {
        PyErr_Format(PyExc_ValueError, "pad: expected %d pad values, got %zd", 2 * ndim,
                     PySequence_Fast_GET_SIZE(fast));
        ok = 0;
    }
    for (int i = 0; ok && i < 2 * ndim; i++) {
        pads[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (pads[i] == -1 && PyErr_Occurred()) ok = 0;
    }
    Py_DECREF(fast);
    return ok;
}

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
    if (!read_pads(pad_seq, nd, pads)) goto exit;
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
    PyObject *shape_seq, *pad_seq, *fast = NULL;
    int mode, typenum, nd;
    int64_t pads[2 * NPY_MAXDIMS], shape[NPY_MAXDIMS], out;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&OOi", arr_in, &dy, &shape_seq, &pad_seq, &mode)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum)) goto exit;
    nd = PyArray_NDIM(dy);
    if (!(fast = PySequence_Fast(shape_seq, "shape must be a sequence of ints"))) goto exit;
    if (PySequence_Fast_GET_SIZE(fast) != nd) {
        PyErr_Format(PyExc_ValueError, "pad_backward: shape has %zd dims, grad_output has %d",
                     PySequence_Fast_GET_SIZE(fast), nd);
        goto exit;
    }
    for (int i = 0; i < nd; i++) {
        shape[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (shape[i] == -1 && PyErr_Occurred()) goto exit;
    }
    if (!read_pads(pad_seq, nd, pads)) goto exit;
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
    Py_XDECREF(fast);
    Py_XDECREF(dy);
    return (PyObject *)dx;
}

/* ---- linear ------------------------------------------------------------------------------------- */

static int linear_check(PyArrayObject *x, PyArrayObject *w, PyArrayObject *b, const char *op)
{
    if (!check_ndim(x, 2, op, "input") || !check_ndim(w, 2, op, "weight") ||
        !check_dim(w, 1, PyArray_DIM(x, 1), op, "weight"))
        return 0;
    if (b && (!check_ndim(b, 1, op, "bias") || !check_dim(b, 0, PyArray_DIM(w, 0), op, "bias")))
        return 0;
    return 1;
}

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

static PyObject *py_linear_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *w = NULL, *dx = NULL, *dw = NULL, *db = NULL;
    PyObject *result = NULL;
    int need_dx, need_dw, need_db, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&ppp", arr_in, &dy, arr_in, &x, arr_in, &w, &need_dx,
                          &need_dw, &need_db))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum) ||
        !linear_check(x, w, NULL, "linear_backward") ||
        !check_ndim(dy, 2, "linear_backward", "grad_output") ||
        !check_dim(dy, 0, PyArray_DIM(x, 0), "linear_backward", "grad_output") ||
        !check_dim(dy, 1, PyArray_DIM(w, 0), "linear_backward", "grad_output"))
        goto exit;
    const int64_t batch = PyArray_DIM(x, 0), in = PyArray_DIM(x, 1), out = PyArray_DIM(w, 0);
    if (need_dx && !(dx = new_like(x, typenum))) goto exit;
    if (need_dw && !(dw = new_like(w, typenum))) goto exit;
    if (need_db && !(db = new_array(1, &out, typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_linear_backward(cnn_type(typenum), batch, in, out, PyArray_DATA(dy), PyArray_DATA(x),
                             PyArray_DATA(w), data_or_null(dx), data_or_null(dw),
                             data_or_null(db));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "linear_backward");
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

/* ---- activations, softmax, dropout -------------------------------------------------------------- */

enum { ACT_RELU = 0, ACT_LEAKY_RELU = 1, ACT_SIGMOID = 2, ACT_TANH = 3 };

/* activation_forward(kind, x, slope) -> y */
static PyObject *py_activation_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    int kind, typenum;
    double slope;
    cnn_status st = CNN_EINVAL;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO&d", &kind, arr_in, &x, &slope)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !(y = new_like(x, typenum))) goto exit;
    const cnn_dtype dt = cnn_type(typenum);
    const int64_t n = PyArray_SIZE(x);
    const void *xd = PyArray_DATA(x);
    void *yd = PyArray_DATA(y);
    Py_BEGIN_ALLOW_THREADS
    switch (kind) {
    case ACT_RELU: st = cnn_relu_forward(dt, n, xd, yd); break;
    case ACT_LEAKY_RELU: st = cnn_leaky_relu_forward(dt, n, slope, xd, yd); break;
    case ACT_SIGMOID: st = cnn_sigmoid_forward(dt, n, xd, yd); break;
    case ACT_TANH: st = cnn_tanh_forward(dt, n, xd, yd); break;
    }
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "activation");
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    return (PyObject *)y;
}

/* activation_backward(kind, dy, x, slope) -> dx */
static PyObject *py_activation_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *dx = NULL;
    int kind, typenum;
    double slope;
    cnn_status st = CNN_EINVAL;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO&O&d", &kind, arr_in, &dy, arr_in, &x, &slope)) return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) ||
        !check_same_shape(dy, x, "activation_backward", "grad_output", "input") ||
        !(dx = new_like(x, typenum)))
        goto exit;
    const cnn_dtype dt = cnn_type(typenum);
    const int64_t n = PyArray_SIZE(x);
    const void *dyd = PyArray_DATA(dy), *xd = PyArray_DATA(x);
    void *dxd = PyArray_DATA(dx);
    Py_BEGIN_ALLOW_THREADS
    switch (kind) {
    case ACT_RELU: st = cnn_relu_backward(dt, n, dyd, xd, dxd); break;
    case ACT_LEAKY_RELU: st = cnn_leaky_relu_backward(dt, n, slope, dyd, xd, dxd); break;
    case ACT_SIGMOID: st = cnn_sigmoid_backward(dt, n, dyd, xd, dxd); break;
    case ACT_TANH: st = cnn_tanh_backward(dt, n, dyd, xd, dxd); break;
    }
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

/* (outer, n, inner) view of a along axis dim (already normalised to [0, ndim)). */
static int axis_view(PyArrayObject *a, int dim, int64_t *outer, int64_t *n, int64_t *inner)
{
    int nd = PyArray_NDIM(a);
    if (dim < 0 || dim >= (nd > 0 ? nd : 1)) {
        PyErr_Format(PyExc_ValueError, "softmax: dim %d out of range for a %d-D input", dim, nd);
        return 0;
    }
    *outer = 1;
    *inner = 1;
    *n = nd > 0 ? PyArray_DIM(a, dim) : 1;
    for (int i = 0; i < dim; i++) *outer *= PyArray_DIM(a, i);
    for (int i = dim + 1; i < nd; i++) *inner *= PyArray_DIM(a, i);
    return 1;
}

/* softmax_forward(x, dim, log) -> y */
static PyObject *py_softmax_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *y = NULL;
    int dim, log_space, typenum;
    int64_t outer, n, inner;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&ip", arr_in, &x, &dim, &log_space)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !axis_view(x, dim, &outer, &n, &inner) ||
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
        !axis_view(y, dim, &outer, &n, &inner) || !(dx = new_like(y, typenum)))
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

/* dropout(x_or_dy, mask, p, backward) -> y or dx; mask is a bool/uint8 keep mask of x's shape */
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
    if (!mask || !check_same_shape(x, mask, "dropout", "input", "mask")) goto exit;
    if (!(y = new_like(x, typenum))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    if (backward)
        st = cnn_dropout_backward(cnn_type(typenum), PyArray_SIZE(x), p, PyArray_DATA(mask),
                                  PyArray_DATA(x), PyArray_DATA(y));
    else
        st = cnn_dropout_forward(cnn_type(typenum), PyArray_SIZE(x), p, PyArray_DATA(mask),
                                 PyArray_DATA(x), PyArray_DATA(y));
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

/* ---- losses ---------------------------------------------------------------------------------------- */

enum { LOSS_MSE = 0, LOSS_L1 = 1, LOSS_BCE = 2, LOSS_BCE_LOGITS = 3 };

static int reduction_ok(int red)
{
    if (red < CNN_REDUCE_NONE || red > CNN_REDUCE_SUM) {
        PyErr_Format(PyExc_ValueError, "unknown reduction code %d", red);
        return 0;
    }
    return 1;
}

/* A loss result: n values for NONE (shape `like`), else one value (shape ()). */
static PyArrayObject *new_loss(PyArrayObject *like, int red, int typenum)
{
    if (red == CNN_REDUCE_NONE) return new_like(like, typenum);
    return (PyArrayObject *)PyArray_ZEROS(0, NULL, typenum, 0);
}

/* dloss must hold one value (MEAN/SUM) or one per element (NONE, same shape as `like`). */
static int dloss_ok(PyArrayObject *dloss, PyArrayObject *like, int red, const char *op)
{
    if (red == CNN_REDUCE_NONE ? !PyArray_SAMESHAPE(dloss, like) : PyArray_SIZE(dloss) != 1) {
        PyErr_Format(PyExc_ValueError, "%s: grad_output must be %s", op,
                     red == CNN_REDUCE_NONE ? "shaped like the unreduced loss" : "a scalar");
        return 0;
    }
    return 1;
}

/* pointwise_loss_forward(kind, x, t, weight|None, pos_weight|None, reduction) */
static PyObject *py_pointwise_loss_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *t = NULL, *w = NULL, *pw = NULL, *loss = NULL;
    int kind, red, typenum;
    cnn_status st = CNN_EINVAL;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO&O&O&O&i", &kind, arr_in, &x, arr_in, &t, arr_in_opt, &w,
                          arr_in_opt, &pw, &red))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&t, typenum) || !cast_real(&w, typenum) ||
        !cast_real(&pw, typenum) || !reduction_ok(red) ||
        !check_same_shape(x, t, "loss", "input", "target") ||
        (w && !check_same_shape(x, w, "loss", "input", "weight")) ||
        (pw && !check_same_shape(x, pw, "loss", "input", "pos_weight")) ||
        !(loss = new_loss(x, red, typenum)))
        goto exit;
    const cnn_dtype dt = cnn_type(typenum);
    const int64_t n = PyArray_SIZE(x);
    const void *xd = PyArray_DATA(x), *td = PyArray_DATA(t), *wd = data_or_null(w),
               *pwd = data_or_null(pw);
    void *ld = PyArray_DATA(loss);
    Py_BEGIN_ALLOW_THREADS
    switch (kind) {
    case LOSS_MSE: st = cnn_mse_loss_forward(dt, n, xd, td, red, ld); break;
    case LOSS_L1: st = cnn_l1_loss_forward(dt, n, xd, td, red, ld); break;
    case LOSS_BCE: st = cnn_bce_loss_forward(dt, n, xd, td, wd, red, ld); break;
    case LOSS_BCE_LOGITS: st = cnn_bce_logits_loss_forward(dt, n, xd, td, wd, pwd, red, ld); break;
    }
    Py_END_ALLOW_THREADS
    if (st == CNN_EINVAL && kind == LOSS_BCE) {
        PyErr_SetString(PyExc_ValueError,
                        "binary_cross_entropy: all elements of input must be between 0 and 1");
        Py_CLEAR(loss);
    } else if (st != CNN_OK) {
        raise_status(st, "loss");
        Py_CLEAR(loss);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(w);
    Py_XDECREF(pw);
    return (PyObject *)loss;
}

/* pointwise_loss_backward(kind, dloss, x, t, weight|None, pos_weight|None, reduction, need_dt)
 * -> (dx, dt|None) */
static PyObject *py_pointwise_loss_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dl = NULL, *x = NULL, *t = NULL, *w = NULL, *pw = NULL, *dx = NULL, *dt = NULL;
    PyObject *result = NULL;
    int kind, red, need_dt, typenum;
    cnn_status st = CNN_EINVAL;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO&O&O&O&O&ip", &kind, arr_in, &dl, arr_in, &x, arr_in, &t,
                          arr_in_opt, &w, arr_in_opt, &pw, &red, &need_dt))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&dl, typenum) || !cast_real(&x, typenum) || !cast_real(&t, typenum) ||
        !cast_real(&w, typenum) || !cast_real(&pw, typenum) || !reduction_ok(red) ||
        !check_same_shape(x, t, "loss_backward", "input", "target") ||
        (w && !check_same_shape(x, w, "loss_backward", "input", "weight")) ||
        (pw && !check_same_shape(x, pw, "loss_backward", "input", "pos_weight")) ||
        !dloss_ok(dl, x, red, "loss_backward") || !(dx = new_like(x, typenum)) ||
        (need_dt && !(dt = new_like(x, typenum))))
        goto exit;
    const cnn_dtype dtp = cnn_type(typenum);
    const int64_t n = PyArray_SIZE(x);
    const void *dld = PyArray_DATA(dl), *xd = PyArray_DATA(x), *td = PyArray_DATA(t),
               *wd = data_or_null(w), *pwd = data_or_null(pw);
    void *dxd = PyArray_DATA(dx), *dtd = data_or_null(dt);
    Py_BEGIN_ALLOW_THREADS
    switch (kind) {
    case LOSS_MSE: st = cnn_mse_loss_backward(dtp, n, dld, xd, td, red, dxd, dtd); break;
    case LOSS_L1: st = cnn_l1_loss_backward(dtp, n, dld, xd, td, red, dxd, dtd); break;
    case LOSS_BCE: st = cnn_bce_loss_backward(dtp, n, dld, xd, td, wd, red, dxd, dtd); break;
    case LOSS_BCE_LOGITS:
        st = cnn_bce_logits_loss_backward(dtp, n, dld, xd, td, wd, pwd, red, dxd, dtd);
        break;
    }
    Py_END_ALLOW_THREADS
    if (st == CNN_EINVAL && kind == LOSS_BCE) {
        PyErr_SetString(PyExc_ValueError,
                        "binary_cross_entropy: all elements of input must be between 0 and 1");
        goto exit;
    } else if (st != CNN_OK) {
        raise_status(st, "loss_backward");
        goto exit;
    }
    result = PyTuple_Pack(2, dx, obj_or_none(dt));
exit:
    Py_XDECREF(dl);
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(w);
    Py_XDECREF(pw);
    Py_XDECREF(dx);
    Py_XDECREF(dt);
    return result;
}

/* Checks logits x (B, C, D), targets t (B, D), weight (C). */
static int ce_check(PyArrayObject *x, PyArrayObject *t, PyArrayObject *w, const char *op)
{
    if (!check_ndim(x, 3, op, "input") || !check_ndim(t, 2, op, "target") ||
        !check_dim(t, 0, PyArray_DIM(x, 0), op, "target") ||
        !check_dim(t, 1, PyArray_DIM(x, 2), op, "target"))
        return 0;
    if (w && (!check_ndim(w, 1, op, "weight") || !check_dim(w, 0, PyArray_DIM(x, 1), op, "weight")))
        return 0;
    return 1;
}

static void ce_index_error(const char *op, int64_t classes)
{
    PyErr_Format(PyExc_ValueError, "%s: target class indices must lie in [0, %lld) or equal "
                 "ignore_index", op, (long long)classes);
}

/* cross_entropy_forward(x (B,C,D), t (B,D), weight|None, ignore_index, label_smoothing, red)
 * -> loss (B, D) or () */
static PyObject *py_cross_entropy_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *t = NULL, *w = NULL, *loss = NULL;
    long long ignore_index;
    double ls;
    int red, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&Ldi", arr_in, &x, idx_in, &t, arr_in_opt, &w,
                          &ignore_index, &ls, &red))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) || !reduction_ok(red) ||
        !ce_check(x, t, w, "cross_entropy") || !(loss = new_loss(t, red, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_cross_entropy_forward(cnn_type(typenum), PyArray_DIM(x, 0), PyArray_DIM(x, 1),
                                   PyArray_DIM(x, 2), PyArray_DATA(x), PyArray_DATA(t),
                                   data_or_null(w), ignore_index, ls, red, PyArray_DATA(loss));
    Py_END_ALLOW_THREADS
    if (st == CNN_EINDEX) {
        ce_index_error("cross_entropy", PyArray_DIM(x, 1));
        Py_CLEAR(loss);
    } else if (st != CNN_OK) {
        raise_status(st, "cross_entropy");
        Py_CLEAR(loss);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(w);
    return (PyObject *)loss;
}

/* cross_entropy_backward(dloss, x, t, weight|None, ignore_index, label_smoothing, red) -> dx */
static PyObject *py_cross_entropy_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dl = NULL, *x = NULL, *t = NULL, *w = NULL, *dx = NULL;
    long long ignore_index;
    double ls;
    int red, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&O&Ldi", arr_in, &dl, arr_in, &x, idx_in, &t, arr_in_opt,
                          &w, &ignore_index, &ls, &red))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&dl, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum) ||
        !reduction_ok(red) || !ce_check(x, t, w, "cross_entropy_backward") ||
        !dloss_ok(dl, t, red, "cross_entropy_backward") || !(dx = new_like(x, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_cross_entropy_backward(cnn_type(typenum), PyArray_DIM(x, 0), PyArray_DIM(x, 1),
                                    PyArray_DIM(x, 2), PyArray_DATA(dl), PyArray_DATA(x),
                                    PyArray_DATA(t), data_or_null(w), ignore_index, ls, red,
                                    PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st == CNN_EINDEX) {
        ce_index_error("cross_entropy_backward", PyArray_DIM(x, 1));
        Py_CLEAR(dx);
    } else if (st != CNN_OK) {
        raise_status(st, "cross_entropy_backward");
        Py_CLEAR(dx);
    }
exit:
    Py_XDECREF(dl);
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(w);
    return (PyObject *)dx;
}

/* correlation_forward(x (B, M), t (B, M), red) -> loss (B,) or () */
static PyObject *py_correlation_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *t = NULL, *loss = NULL;
    int red, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&i", arr_in, &x, arr_in, &t, &red)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&t, typenum) || !reduction_ok(red) ||
        !check_ndim(x, 2, "correlation_loss", "input") ||
        !check_same_shape(x, t, "correlation_loss", "input", "target"))
        goto exit;
    const int64_t batch = PyArray_DIM(x, 0);
    loss = red == CNN_REDUCE_NONE ? new_array(1, &batch, typenum, 1)
                                  : (PyArrayObject *)PyArray_ZEROS(0, NULL, typenum, 0);
    if (!loss) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_correlation_loss_forward(cnn_type(typenum), batch, PyArray_DIM(x, 1), PyArray_DATA(x),
                                      PyArray_DATA(t), red, PyArray_DATA(loss));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "correlation_loss");
        Py_CLEAR(loss);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(t);
    return (PyObject *)loss;
}

/* correlation_backward(dloss, x, t, red, need_dt) -> (dx, dt|None) */
static PyObject *py_correlation_backward(PyObject *self, PyObject *args)
{
    PyArrayObject *dl = NULL, *x = NULL, *t = NULL, *dx = NULL, *dt = NULL;
    PyObject *result = NULL;
    int red, need_dt, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O&ip", arr_in, &dl, arr_in, &x, arr_in, &t, &red, &need_dt))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&dl, typenum) || !cast_real(&x, typenum) || !cast_real(&t, typenum) ||
        !reduction_ok(red) || !check_ndim(x, 2, "correlation_loss_backward", "input") ||
        !check_same_shape(x, t, "correlation_loss_backward", "input", "target"))
        goto exit;
    const int64_t batch = PyArray_DIM(x, 0);
    if (red == CNN_REDUCE_NONE ? PyArray_SIZE(dl) != batch : PyArray_SIZE(dl) != 1) {
        PyErr_SetString(PyExc_ValueError, "correlation_loss_backward: grad_output has the wrong size");
        goto exit;
    }
    if (!(dx = new_like(x, typenum)) || (need_dt && !(dt = new_like(x, typenum)))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_correlation_loss_backward(cnn_type(typenum), batch, PyArray_DIM(x, 1),
                                       PyArray_DATA(dl), PyArray_DATA(x), PyArray_DATA(t), red,
                                       PyArray_DATA(dx), data_or_null(dt));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "correlation_loss_backward");
        goto exit;
    }
    result = PyTuple_Pack(2, dx, obj_or_none(dt));
exit:
    Py_XDECREF(dl);
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(dx);
    Py_XDECREF(dt);
    return result;
}

/* ---- optimizer steps ------------------------------------------------------------------------------ */

/* An array the engine updates in place. It is never copied: it must already be an ndarray of
 * float32/float64 (the same dtype as `ref` when given), C-contiguous, aligned, writeable, in
 * native byte order, with `like`'s shape when given. None passes as NULL when `optional`. */
static int inplace_ok(PyObject *obj, const char *op, const char *name, PyArrayObject *ref,
                      int optional, PyArrayObject **out)
{
    *out = NULL;
    if (obj == Py_None && optional) return 1;
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a numpy array updated in place, got %s", op,
                     name, Py_TYPE(obj)->tp_name);
        return 0;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    const int t = PyArray_TYPE(a);
    if ((t != NPY_FLOAT32 && t != NPY_FLOAT64) || (ref && t != PyArray_TYPE(ref))) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a float32 or float64 array%s, got dtype %S",
                     op, name, ref ? " of the parameter's dtype" : "", (PyObject *)PyArray_DESCR(a));
        return 0;
    }
    if (!PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a) ||
        !PyArray_ISWRITEABLE(a)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s must be a writeable, C-contiguous, aligned, native-byte-order array "
                     "(it is updated in place, never copied)", op, name);
        return 0;
    }
    if (ref && !PyArray_SAMESHAPE(a, ref)) {
        PyErr_Format(PyExc_ValueError, "%s: %s must have the parameter's shape", op, name);
        return 0;
    }
    *out = a;
    return 1;
}

/* The gradient, converted to the parameter's dtype, with the parameter's shape. */
static PyArrayObject *grad_for(PyObject *obj, PyArrayObject *param, const char *op)
{
    PyArrayObject *g = NULL;
    if (!arr_in(obj, &g)) return NULL;
    if (!cast_real(&g, PyArray_TYPE(param))) return NULL;
    if (!PyArray_SAMESHAPE(g, param)) {
        PyErr_Format(PyExc_ValueError, "%s: grad must have the parameter's shape", op);
        Py_DECREF(g);
        return NULL;
    }
    return g;
}

/* sgd_step(param, grad, momentum_buf|None, lr, momentum, dampening, weight_decay, nesterov,
 * maximize, first) -> None; param and momentum_buf updated in place. */
static PyObject *py_sgd_step(PyObject *self, PyObject *args)
{
    PyObject *po, *go, *bo;
    PyArrayObject *p, *b, *g;
    double lr, momentum, dampening, wd;
    int nesterov, maximize, first;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOddddppp", &po, &go, &bo, &lr, &momentum, &dampening, &wd,
                          &nesterov, &maximize, &first))
        return NULL;
    if (!inplace_ok(po, "sgd_step", "param", NULL, 0, &p) ||
        !inplace_ok(bo, "sgd_step", "momentum_buffer", p, 1, &b))
        return NULL;
    if (momentum != 0 && !b) {
        PyErr_SetString(PyExc_ValueError, "sgd_step: momentum needs a momentum_buffer");
        return NULL;
    }
    if (!(g = grad_for(go, p, "sgd_step"))) return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_sgd_step(cnn_type(PyArray_TYPE(p)), PyArray_SIZE(p), PyArray_DATA(p), PyArray_DATA(g),
                      data_or_null(b), lr, momentum, dampening, wd, nesterov, maximize, first);
    Py_END_ALLOW_THREADS
    Py_DECREF(g);
    if (st != CNN_OK) return raise_status(st, "sgd_step");
    Py_RETURN_NONE;
}

/* adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq|None, lr, beta1, beta2, eps,
 * weight_decay, decoupled, maximize, step) -> None; all but grad updated in place. */
static PyObject *py_adam_step(PyObject *self, PyObject *args)
{
    PyObject *po, *go, *mo, *vo, *xo;
    PyArrayObject *p, *m, *v, *x, *g;
    double lr, b1, b2, eps, wd;
    int decoupled, maximize;
    long long step;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOdddddppL", &po, &go, &mo, &vo, &xo, &lr, &b1, &b2, &eps,
                          &wd, &decoupled, &maximize, &step))
        return NULL;
    if (!inplace_ok(po, "adam_step", "param", NULL, 0, &p) ||
        !inplace_ok(mo, "adam_step", "exp_avg", p, 0, &m) ||
        !inplace_ok(vo, "adam_step", "exp_avg_sq", p, 0, &v) ||
        !inplace_ok(xo, "adam_step", "max_exp_avg_sq", p, 1, &x))
        return NULL;
    if (step < 1) {
        PyErr_Format(PyExc_ValueError, "adam_step: step must be >= 1, got %lld", step);
        return NULL;
    }
    if (!(g = grad_for(go, p, "adam_step"))) return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_adam_step(cnn_type(PyArray_TYPE(p)), PyArray_SIZE(p), PyArray_DATA(p), PyArray_DATA(g),
                       PyArray_DATA(m), PyArray_DATA(v), data_or_null(x), lr, b1, b2, eps, wd,
                       decoupled, maximize, step);
    Py_END_ALLOW_THREADS
    Py_DECREF(g);
    if (st != CNN_OK) return raise_status(st, "adam_step");
    Py_RETURN_NONE;
}

/* rmsprop_step(param, grad, square_avg, grad_avg|None, momentum_buf|None, lr, alpha, eps,
 * weight_decay, momentum, maximize) -> None */
static PyObject *py_rmsprop_step(PyObject *self, PyObject *args)
{
    PyObject *po, *go, *so, *ao, *bo;
    PyArrayObject *p, *sq, *ga, *b, *g;
    double lr, alpha, eps, wd, momentum;
    int maximize;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOdddddp", &po, &go, &so, &ao, &bo, &lr, &alpha, &eps, &wd,
                          &momentum, &maximize))
        return NULL;
    if (!inplace_ok(po, "rmsprop_step", "param", NULL, 0, &p) ||
        !inplace_ok(so, "rmsprop_step", "square_avg", p, 0, &sq) ||
        !inplace_ok(ao, "rmsprop_step", "grad_avg", p, 1, &ga) ||
        !inplace_ok(bo, "rmsprop_step", "momentum_buffer", p, 1, &b))
        return NULL;
    if (momentum > 0 && !b) {
        PyErr_SetString(PyExc_ValueError, "rmsprop_step: momentum needs a momentum_buffer");
        return NULL;
    }
    if (!(g = grad_for(go, p, "rmsprop_step"))) return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_rmsprop_step(cnn_type(PyArray_TYPE(p)), PyArray_SIZE(p), PyArray_DATA(p),
                          PyArray_DATA(g), PyArray_DATA(sq), data_or_null(ga), data_or_null(b), lr,
                          alpha, eps, wd, momentum, maximize);
    Py_END_ALLOW_THREADS
    Py_DECREF(g);
    if (st != CNN_OK) return raise_status(st, "rmsprop_step");
    Py_RETURN_NONE;
}

/* ---- introspection ---------------------------------------------------------------------------- */

/* conv_choose_algo(C_in, C_out, H, W, kH, kW, groups) -> the algo AUTO runs (stride 1, no padding) */
static PyObject *py_conv_choose_algo(PyObject *self, PyObject *args)
{
    cnn_conv2d_desc d = {0};
    long long cin, cout, h, w, kh, kw, groups, stride = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "LLLLLLL|L", &cin, &cout, &h, &w, &kh, &kw, &groups, &stride))
        return NULL;
    d.batch = 1; d.in_channels = cin; d.out_channels = cout; d.in_h = h; d.in_w = w;
    d.kernel_h = kh; d.kernel_w = kw; d.stride_h = d.stride_w = stride;
    d.dilation_h = d.dilation_w = 1; d.groups = groups;
    return PyLong_FromLong((long)cnn_conv_choose_algo(&d));
}

/* isa() -> the name of the instruction set in use; set_isa(name) switches (ValueError if the CPU
 * or the build lacks it); available_isas() -> the names this machine can use. */
static PyObject *py_isa(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyUnicode_FromString(cnn_isa_name(cnn_get_isa()));
}

static PyObject *py_available_isas(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    PyObject *list = PyList_New(0);
    for (int i = CNN_ISA_SCALAR; list && i <= CNN_ISA_AVX512; i++) {
        if (!cnn_isa_available((cnn_isa)i)) continue;
        PyObject *name = PyUnicode_FromString(cnn_isa_name((cnn_isa)i));
        if (!name || PyList_Append(list, name) < 0) Py_CLEAR(list);
        Py_XDECREF(name);
    }
    return list;
}

static PyObject *py_set_isa(PyObject *self, PyObject *args)
{
    const char *name;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    for (int i = CNN_ISA_SCALAR; i <= CNN_ISA_AVX512; i++) {
        if (strcmp(name, cnn_isa_name((cnn_isa)i)) != 0) continue;
        if (cnn_set_isa((cnn_isa)i) != CNN_OK) {
            PyErr_Format(PyExc_ValueError, "set_isa: %s is not available on this machine or build", name);
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyErr_Format(PyExc_ValueError, "set_isa: unknown instruction set %R; use 'scalar', 'avx2' or "
                 "'avx512'", PyTuple_GET_ITEM(args, 0));
    return NULL;
}

/* ---- fast paths ------------------------------------------------------------------------------------ */
/* The common call checked in C, for the per-call overhead of small inputs: exact ndarrays of one
 * dtype, float32 or float64, aligned, native byte order, C-contiguous and non-empty, and plain int
 * arguments. Anything else returns None (never an error), and cnnpy.functional takes its full
 * path, which converts every input and produces the friendly errors. */

/* a is such an array with nd dims (nd < 0: any) and type typenum (0: float32 or float64). */
static int fast_array(PyObject *o, int nd, int typenum)
{
    if (!PyArray_CheckExact(o)) return 0;
    PyArrayObject *a = (PyArrayObject *)o;
    const int t = PyArray_TYPE(a);
    if (typenum ? t != typenum : (t != NPY_FLOAT32 && t != NPY_FLOAT64)) return 0;
    if (nd >= 0 && PyArray_NDIM(a) != nd) return 0;
    return PyArray_ISCARRAY_RO(a) && PyArray_ISNOTSWAPPED(a) && PyArray_SIZE(a) > 0;
}

/* A plain int (not bool) in [lo, 2^31), or a tuple of two; both values out. */
static int fast_pair(PyObject *o, long lo, long long *a, long long *b)
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

/* conv2d_fast(input, weight, bias, stride, padding, dilation, groups, algo) -> y or None:
 * conv2d with zero padding on (N, C, H, W) input. */
static PyObject *py_conv2d_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    cnn_conv2d_desc d = {0};
    long long sh, sw, ph, pw, dh, dw, groups, unused;
    int64_t oh, ow;
    (void)self;
    if (nargs != 8 || !fast_array(args[0], 4, 0)) Py_RETURN_NONE;
    const int typenum = PyArray_TYPE((PyArrayObject *)args[0]);
    const int has_bias = args[2] != Py_None;
    if (!fast_array(args[1], 4, typenum) || (has_bias && !fast_array(args[2], 1, typenum)) ||
        !fast_pair(args[3], 1, &sh, &sw) || !fast_pair(args[4], 0, &ph, &pw) ||
        !fast_pair(args[5], 1, &dh, &dw) || !fast_pair(args[6], 1, &groups, &unused) ||
        PyTuple_CheckExact(args[6]) || !PyLong_CheckExact(args[7]))
        Py_RETURN_NONE;
    PyArrayObject *x = (PyArrayObject *)args[0], *w = (PyArrayObject *)args[1];
    PyArrayObject *b = has_bias ? (PyArrayObject *)args[2] : NULL;
    int overflow;
    const long long algo_ll = PyLong_AsLongLongAndOverflow(args[7], &overflow);
    if (overflow || algo_ll < CNN_ALGO_AUTO || algo_ll > CNN_ALGO_GEMM) Py_RETURN_NONE; /* full path */
    const int algo = (int)algo_ll;
    d.batch = PyArray_DIM(x, 0);
    d.in_channels = PyArray_DIM(x, 1);
    d.in_h = PyArray_DIM(x, 2);
    d.in_w = PyArray_DIM(x, 3);
    d.out_channels = PyArray_DIM(w, 0);
    d.kernel_h = PyArray_DIM(w, 2);
    d.kernel_w = PyArray_DIM(w, 3);
    d.stride_h = sh; d.stride_w = sw;
    d.pad_top = d.pad_bottom = ph; d.pad_left = d.pad_right = pw;
    d.dilation_h = dh; d.dilation_w = dw; d.groups = groups;
    if (algo < CNN_ALGO_AUTO || algo > CNN_ALGO_GEMM || d.in_channels % groups ||
        d.out_channels % groups || PyArray_DIM(w, 1) * groups != d.in_channels ||
        (b && PyArray_DIM(b, 0) != d.out_channels) ||
        cnn_conv2d_output_shape(&d, &oh, &ow) != CNN_OK)
        Py_RETURN_NONE;
    const int64_t dims[4] = {d.batch, d.out_channels, oh, ow};
    int64_t numel;
    /* huge outputs (and the padding that makes them) take the full path and its size errors */
    if (cnn_mul_sizes(dims[0], dims[1], &numel) || cnn_mul_sizes(numel, dims[2], &numel) ||
        cnn_mul_sizes(numel, dims[3], &numel) || numel > ((int64_t)1 << 28) || ph > 4096 || pw > 4096)
        Py_RETURN_NONE;
    PyArrayObject *y = new_array(4, dims, typenum, 0);
    if (!y) return NULL;
    cnn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_conv2d_forward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(x),
                            PyArray_DATA(w), data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        Py_DECREF(y);
        return raise_status(st, "conv2d");
    }
    return (PyObject *)y;
}

/* activation_fast(kind, input) -> y or None (relu, sigmoid, tanh; any shape). */
static PyObject *py_activation_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyLong_CheckExact(args[0]) || !fast_array(args[1], -1, 0)) Py_RETURN_NONE;
    int overflow;
    const long long kind = PyLong_AsLongLongAndOverflow(args[0], &overflow);
    if (overflow) Py_RETURN_NONE; /* no such kind: the full path reports it */
    PyArrayObject *x = (PyArrayObject *)args[1];
    const int typenum = PyArray_TYPE(x);
    PyArrayObject *y = (PyArrayObject *)PyArray_SimpleNew(PyArray_NDIM(x), PyArray_DIMS(x), typenum);
    if (!y) return NULL;
    const cnn_dtype dt = cnn_type(typenum);
    const int64_t n = PyArray_SIZE(x);
    const void *xd = PyArray_DATA(x);
    void *yd = PyArray_DATA(y);
    cnn_status st = CNN_EINVAL;
    Py_BEGIN_ALLOW_THREADS
    switch (kind) {
    case ACT_RELU: st = cnn_relu_forward(dt, n, xd, yd); break;
    case ACT_SIGMOID: st = cnn_sigmoid_forward(dt, n, xd, yd); break;
    case ACT_TANH: st = cnn_tanh_forward(dt, n, xd, yd); break;
    }
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        Py_DECREF(y);
        if (st == CNN_EINVAL) Py_RETURN_NONE; /* a kind this path does not take */
        return raise_status(st, "activation");
    }
    return (PyObject *)y;
}

/* linear_fast(input, weight, bias) -> y or None, for input (N, in). */
static PyObject *py_linear_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !fast_array(args[0], 2, 0)) Py_RETURN_NONE;
    PyArrayObject *x = (PyArrayObject *)args[0];
    const int typenum = PyArray_TYPE(x);
    if (!fast_array(args[1], 2, typenum) || (args[2] != Py_None && !fast_array(args[2], 1, typenum)))
        Py_RETURN_NONE;
    PyArrayObject *w = (PyArrayObject *)args[1], *b = args[2] != Py_None ? (PyArrayObject *)args[2] : NULL;
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

/* num_threads() -> the threads the kernels split their work over; set_num_threads(n). */
static PyObject *py_num_threads(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyLong_FromLong(cnn_get_num_threads());
}

static PyObject *py_set_num_threads(PyObject *self, PyObject *args)
{
    int n;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    if (cnn_set_num_threads(n) != CNN_OK) {
        PyErr_Format(PyExc_ValueError, "set_num_threads: n must be between 1 and 256, got %d", n);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* set_min_part_work(n) -> the previous value (tests: 1 splits even tiny loops over threads). */
static PyObject *py_set_min_part_work(PyObject *self, PyObject *args)
{
    long long n;
    (void)self;
    if (!PyArg_ParseTuple(args, "L", &n)) return NULL;
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "set_min_part_work: n must be at least 1, got %lld", n);
        return NULL;
    }
    return PyLong_FromLongLong((long long)cnn_set_min_part_work((int64_t)n));
}

/* ---- module -------------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"conv_out_len", py_conv_out_len, METH_VARARGS, "conv_out_len(n, k, s, pad_before, pad_after, d)"},
    {"conv_transpose_out_len", py_conv_transpose_out_len, METH_VARARGS,
     "conv_transpose_out_len(n, k, s, p, d, output_padding)"},
    {"pool_out_len", py_pool_out_len, METH_VARARGS, "pool_out_len(n, k, s, p, d, ceil_mode)"},
    {"pad_out_len", py_pad_out_len, METH_VARARGS, "pad_out_len(n, before, after, mode)"},
    {"conv2d_forward", py_conv2d_forward, METH_VARARGS, NULL},
    {"conv2d_backward", py_conv2d_backward, METH_VARARGS, NULL},
    {"conv_transpose2d_forward", py_conv_transpose2d_forward, METH_VARARGS, NULL},
    {"conv_transpose2d_backward", py_conv_transpose2d_backward, METH_VARARGS, NULL},
    {"conv_choose_algo", py_conv_choose_algo, METH_VARARGS,
     "conv_choose_algo(c_in, c_out, h, w, kh, kw, groups, stride=1) -> the kernel AUTO picks"},
    {"max_pool2d_forward", py_max_pool2d_forward, METH_VARARGS, NULL},
    {"max_pool2d_backward", py_max_pool2d_backward, METH_VARARGS, NULL},
    {"avg_pool2d_forward", py_avg_pool2d_forward, METH_VARARGS, NULL},
    {"avg_pool2d_backward", py_avg_pool2d_backward, METH_VARARGS, NULL},
    {"adaptive_pool2d_forward", py_adaptive_pool2d_forward, METH_VARARGS, NULL},
    {"adaptive_avg_pool2d_backward", py_adaptive_avg_pool2d_backward, METH_VARARGS, NULL},
    {"max_unpool2d_forward", py_max_unpool2d_forward, METH_VARARGS, NULL},
    {"max_unpool2d_backward", py_max_unpool2d_backward, METH_VARARGS, NULL},
    {"pad_forward", py_pad_forward, METH_VARARGS, NULL},
    {"resize2d_forward", py_resize2d_forward, METH_VARARGS, NULL},
    {"pad_backward", py_pad_backward, METH_VARARGS, NULL},
    {"linear_forward", py_linear_forward, METH_VARARGS, NULL},
    {"linear_backward", py_linear_backward, METH_VARARGS, NULL},
    {"activation_forward", py_activation_forward, METH_VARARGS, NULL},
    {"activation_backward", py_activation_backward, METH_VARARGS, NULL},
    {"softmax_forward", py_softmax_forward, METH_VARARGS, NULL},
    {"softmax_backward", py_softmax_backward, METH_VARARGS, NULL},
    {"dropout", py_dropout, METH_VARARGS, NULL},
    {"pointwise_loss_forward", py_pointwise_loss_forward, METH_VARARGS, NULL},
    {"pointwise_loss_backward", py_pointwise_loss_backward, METH_VARARGS, NULL},
    {"cross_entropy_forward", py_cross_entropy_forward, METH_VARARGS, NULL},
    {"cross_entropy_backward", py_cross_entropy_backward, METH_VARARGS, NULL},
    {"correlation_forward", py_correlation_forward, METH_VARARGS, NULL},
    {"correlation_backward", py_correlation_backward, METH_VARARGS, NULL},
    {"isa", py_isa, METH_NOARGS, "isa() -> the instruction set the kernels use"},
    {"available_isas", py_available_isas, METH_NOARGS, "available_isas() -> usable instruction sets"},
    {"set_isa", py_set_isa, METH_VARARGS, "set_isa(name): use 'scalar', 'avx2' or 'avx512'"},
    {"conv2d_fast", (PyCFunction)(void (*)(void))py_conv2d_fast, METH_FASTCALL,
     "conv2d_fast(x, w, b, stride, padding, dilation, groups, algo) -> y, or None off the fast path"},
    {"activation_fast", (PyCFunction)(void (*)(void))py_activation_fast, METH_FASTCALL,
     "activation_fast(kind, x) -> y, or None off the fast path"},
    {"linear_fast", (PyCFunction)(void (*)(void))py_linear_fast, METH_FASTCALL,
     "linear_fast(x, w, b) -> y, or None off the fast path"},
    {"num_threads", py_num_threads, METH_NOARGS, "num_threads() -> threads the kernels use"},
    {"set_num_threads", py_set_num_threads, METH_VARARGS, "set_num_threads(n): 1 <= n <= 256"},
    {"set_min_part_work", py_set_min_part_work, METH_VARARGS,
     "set_min_part_work(n) -> previous: the least work a loop hands to one thread"},
    {"sgd_step", py_sgd_step, METH_VARARGS, NULL},
    {"adam_step", py_adam_step, METH_VARARGS, NULL},
    {"rmsprop_step", py_rmsprop_step, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *m)
{
    if (PyArray_ImportNumPyAPI() < 0) return -1;
    if (PyModule_AddIntConstant(m, "ALGO_AUTO", CNN_ALGO_AUTO) ||
        PyModule_AddIntConstant(m, "ALGO_REFERENCE", CNN_ALGO_REFERENCE) ||
        PyModule_AddIntConstant(m, "ALGO_DIRECT", CNN_ALGO_DIRECT) ||
        PyModule_AddIntConstant(m, "ALGO_GEMM", CNN_ALGO_GEMM) ||
        PyModule_AddIntConstant(m, "PAD_CONSTANT", CNN_PAD_CONSTANT) ||
        PyModule_AddIntConstant(m, "PAD_REFLECT", CNN_PAD_REFLECT) ||
        PyModule_AddIntConstant(m, "PAD_SYMMETRIC", CNN_PAD_SYMMETRIC) ||
        PyModule_AddIntConstant(m, "PAD_REPLICATE", CNN_PAD_REPLICATE) ||
        PyModule_AddIntConstant(m, "PAD_CIRCULAR", CNN_PAD_CIRCULAR) ||
        PyModule_AddIntConstant(m, "RESIZE_NEAREST", CNN_RESIZE_NEAREST) ||
        PyModule_AddIntConstant(m, "RESIZE_BILINEAR", CNN_RESIZE_BILINEAR) ||
        PyModule_AddIntConstant(m, "REDUCE_NONE", CNN_REDUCE_NONE) ||
        PyModule_AddIntConstant(m, "REDUCE_MEAN", CNN_REDUCE_MEAN) ||
        PyModule_AddIntConstant(m, "REDUCE_SUM", CNN_REDUCE_SUM) ||
        PyModule_AddIntConstant(m, "ACT_RELU", ACT_RELU) ||
        PyModule_AddIntConstant(m, "ACT_LEAKY_RELU", ACT_LEAKY_RELU) ||
        PyModule_AddIntConstant(m, "ACT_SIGMOID", ACT_SIGMOID) ||
        PyModule_AddIntConstant(m, "ACT_TANH", ACT_TANH) ||
        PyModule_AddIntConstant(m, "LOSS_MSE", LOSS_MSE) ||
        PyModule_AddIntConstant(m, "LOSS_L1", LOSS_L1) ||
        PyModule_AddIntConstant(m, "LOSS_BCE", LOSS_BCE) ||
        PyModule_AddIntConstant(m, "LOSS_BCE_LOGITS", LOSS_BCE_LOGITS))
        return -1;
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_cnn", "cnnpy's C engine (private; use cnnpy.functional).", 0,
    methods, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cnn(void)
{
    return PyModuleDef_Init(&moduledef);
}
