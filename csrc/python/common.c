/* common.c — what every binding file uses: engine statuses as exceptions, the array converters,
 * the memory-safety shape checks and new result arrays. */
#include "binding.h"

#include <string.h> /* memset; after Python.h, which must come first */

/* ---- statuses ---------------------------------------------------------------------------------- */

PyObject *raise_status(cnn_status st, const char *op)
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

/* ---- converters --------------------------------------------------------------------------------- */

int arr_in(PyObject *obj, void *addr)
{
    PyArrayObject **out = addr;
    if (obj == NULL) { /* cleanup call: a later argument failed */
        Py_CLEAR(*out);
        return 1;
    }
    PyArrayObject *a = (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
    if (!a) return 0;
    const int t = PyArray_TYPE(a);
    if (!(PyTypeNum_ISBOOL(t) || PyTypeNum_ISINTEGER(t) || PyTypeNum_ISFLOAT(t))) {
        PyErr_Format(PyExc_TypeError, "expected a real numeric array, got dtype %S",
                     (PyObject *)PyArray_DESCR(a));
        Py_DECREF(a);
        return 0;
    }
    *out = a;
    return Py_CLEANUP_SUPPORTED;
}

int arr_in_opt(PyObject *obj, void *addr)
{
    if (obj == Py_None) {
        *(PyArrayObject **)addr = NULL;
        return 1;
    }
    return arr_in(obj, addr);
}

int idx_in(PyObject *obj, void *addr)
{
    PyArrayObject **out = addr;
    if (obj == NULL) {
        Py_CLEAR(*out);
        return 1;
    }
    *out = (PyArrayObject *)PyArray_FROM_OTF(obj, NPY_INT64, NPY_ARRAY_IN_ARRAY);
    return *out ? Py_CLEANUP_SUPPORTED : 0;
}

int int64_tuple(PyObject *obj, int n, int64_t *out, const char *what)
{
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != n) {
        PyErr_Format(PyExc_TypeError, "expected a tuple of %d ints %s, got %R", n, what, obj);
        return 0;
    }
    for (int i = 0; i < n; i++) { /* ints as PyArg_ParseTuple's "L" takes them */
        const long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(obj, i));
        if (v == -1 && PyErr_Occurred()) return 0;
        out[i] = v;
    }
    return 1;
}

/* ---- compute type ------------------------------------------------------------------------------- */

int cast_real(PyArrayObject **a, int typenum)
{
    if (!*a) return 1;
    PyArrayObject *c = (PyArrayObject *)PyArray_FROM_OTF(
        (PyObject *)*a, typenum, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(*a);
    *a = c;
    return c != NULL;
}

/* ---- memory-safety checks ------------------------------------------------------------------------ */

int check_ndim(PyArrayObject *a, int nd, const char *op, const char *name)
{
    if (PyArray_NDIM(a) != nd) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be %d-D, got %d-D", op, name, nd,
                     PyArray_NDIM(a));
        return 0;
    }
    return 1;
}

int check_dim(PyArrayObject *a, int axis, int64_t want, const char *op, const char *name)
{
    if ((int64_t)PyArray_DIM(a, axis) != want) {
        PyErr_Format(PyExc_ValueError, "%s: %s has size %lld along axis %d, expected %lld", op,
                     name, (long long)PyArray_DIM(a, axis), axis, (long long)want);
        return 0;
    }
    return 1;
}

int check_shape(PyArrayObject *a, int nd, const int64_t *dims, const char *op, const char *name)
{
    if (!check_ndim(a, nd, op, name)) return 0;
    for (int i = 0; i < nd; i++)
        if (!check_dim(a, i, dims[i], op, name)) return 0;
    return 1;
}

int check_same_shape(PyArrayObject *a, PyArrayObject *b, const char *op, const char *an,
                     const char *bn)
{
    if (!PyArray_SAMESHAPE(a, b)) {
        PyErr_Format(PyExc_ValueError, "%s: %s and %s must have the same shape", op, an, bn);
        return 0;
    }
    return 1;
}

/* ---- results -------------------------------------------------------------------------------------- */

PyArrayObject *new_array(int nd, const int64_t *dims, int typenum, int zero)
{
    npy_intp d[NPY_MAXDIMS];
    for (int i = 0; i < nd; i++) d[i] = (npy_intp)dims[i];
    return (PyArrayObject *)(zero ? PyArray_ZEROS(nd, d, typenum, 0)
                                  : PyArray_SimpleNew(nd, d, typenum));
}

PyArrayObject *new_like(PyArrayObject *a, int typenum)
{
    return (PyArrayObject *)PyArray_ZEROS(PyArray_NDIM(a), PyArray_DIMS(a), typenum, 0);
}

PyObject *gradients_or_raise(cnn_status st, const char *op, PyArrayObject *dx, PyArrayObject *dw,
                             PyArrayObject *db)
{
    PyObject *result = st == CNN_OK ? PyTuple_Pack(3, obj_or_none(dx), obj_or_none(dw), obj_or_none(db))
                                    : raise_status(st, op);
    Py_XDECREF(dx);
    Py_XDECREF(dw);
    Py_XDECREF(db);
    return result;
}

/* ---- the convolution-shaped ops ------------------------------------------------------------------ */

PyObject *conv_like_forward(const conv_like_op *op, PyObject *args)
{
    PyArrayObject *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    conv_like_desc d;
    int algo, typenum;
    int64_t ydims[4];
    cnn_status st;
    memset(&d, 0, sizeof d);
    if (!PyArg_ParseTuple(args, "O&O&O&O&i", arr_in, &x, arr_in, &w, arr_in_opt, &b, op->geometry,
                          &d, &algo))
        return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) || !cast_real(&b, typenum) ||
        !op->complete(&d, x, w, b, ydims, op->name))
        goto exit;
    if (!(y = new_array(4, ydims, typenum, 0))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = op->forward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(x), PyArray_DATA(w),
                     data_or_null(b), PyArray_DATA(y));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, op->name);
        Py_CLEAR(y);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return (PyObject *)y;
}

PyObject *conv_like_backward(const conv_like_op *op, PyObject *args)
{
    PyArrayObject *dy = NULL, *x = NULL, *w = NULL, *dx = NULL, *dw = NULL, *db = NULL;
    PyObject *result = NULL;
    conv_like_desc d;
    int need_dx, need_dw, need_db, algo, typenum;
    int64_t ydims[4];
    cnn_status st;
    memset(&d, 0, sizeof d);
    if (!PyArg_ParseTuple(args, "O&O&O&pppO&i", arr_in, &dy, arr_in, &x, arr_in, &w, &need_dx,
                          &need_dw, &need_db, op->geometry, &d, &algo))
        return NULL;
    typenum = real_type(dy);
    if (!cast_real(&dy, typenum) || !cast_real(&x, typenum) || !cast_real(&w, typenum) ||
        !op->complete(&d, x, w, NULL, ydims, op->backward_name) ||
        !check_shape(dy, 4, ydims, op->backward_name, "grad_output"))
        goto exit;
    if (need_dx && !(dx = new_like(x, typenum))) goto exit;
    if (need_dw && !(dw = new_like(w, typenum))) goto exit;
    if (need_db && !(db = new_array(1, &ydims[1], typenum, 1))) goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = op->backward(&d, cnn_type(typenum), (cnn_algo)algo, PyArray_DATA(dy), PyArray_DATA(x),
                      PyArray_DATA(w), data_or_null(dx), data_or_null(dw), data_or_null(db));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, op->backward_name);
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
