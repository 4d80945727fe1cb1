/* resize.c — the resizing binding (data transforms): nearest and bilinear interpolation of
 * (N, C, H, W) images, forward only. */
#include "binding.h"

/* resize2d_forward(x (N, C, H, W), OH, OW, mode) -> y (N, C, OH, OW) */
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

PyMethodDef resize_methods[] = {
    {"resize2d_forward", py_resize2d_forward, METH_VARARGS,
     "resize2d_forward(x, oh, ow, mode) -> y"},
    {NULL, NULL, 0, NULL},
};
