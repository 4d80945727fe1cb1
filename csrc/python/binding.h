/* binding.h — what the files of the binding cnnpy._cnn (csrc/python/, one file per op family, as
 * csrc/<family>.c in the engine) share. The binding is thin: it converts arguments (array-likes
 * to C-contiguous float32/float64 arrays, int tuples to engine descriptors), checks what memory
 * safety needs (the ranks and shapes that would let the engine read or write past an array, an
 * array updated in place that must not be copied), releases the GIL around the engine call and
 * maps the engine's status to an exception. Everything else is validated by cnnpy.functional
 * first, which owns the messages users see; the binding's own messages are terse and name the
 * function and argument, for direct callers of the private cnnpy._cnn. */
#ifndef CNN_BINDING_H
#define CNN_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL cnnpy_ARRAY_API
#ifndef CNN_BINDING_IMPORTS_NUMPY /* only module.c imports NumPy's C API; the others use it */
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include "cnn.h"
#include "kinds.h"

/* ---- the op families ----------------------------------------------------------------------------- */
/* One binding file per op family, as csrc/<family>.c in the engine; each defines the method table
 * named here (NULL-terminated) and module.c adds every table to the module. Adding a
 * family: write csrc/python/<family>.c defining <family>_methods[], add X(<family>_methods)
 * below; setup.py compiles every .c file in csrc/python/. */
#define CNN_BINDING_FAMILIES(X) \
    X(conv_methods)             \
    X(conv_transpose_methods)   \
    X(pool_methods)             \
    X(pad_methods)              \
    X(resize_methods)           \
    X(linear_methods)           \
    X(activation_methods)       \
    X(loss_methods)             \
    X(optim_methods)            \
    X(net_methods)

#define CNN_DECLARE_METHODS(table) extern PyMethodDef table[];
CNN_BINDING_FAMILIES(CNN_DECLARE_METHODS)
#undef CNN_DECLARE_METHODS

/* ---- statuses ---------------------------------------------------------------------------------- */

/* Sets the exception for a failed engine call (`op` names it) and returns NULL: MemoryError,
 * OverflowError (CNN_EOVERFLOW), TypeError (CNN_EDTYPE), else ValueError with cnn_strerror's text. */
PyObject *raise_status(cnn_status st, const char *op);
/* The end of a backward entry point: (dx|None, dw|None, db|None) when st is CNN_OK, else NULL
 * with op's exception set; the three references (each may be NULL) are given up either way. */
PyObject *gradients_or_raise(cnn_status st, const char *op, PyArrayObject *dx, PyArrayObject *dw,
                             PyArrayObject *db);

/* ---- converters (PyArg_ParseTuple's O&) ----------------------------------------------------------- */

/* Any array-like of bool, integer or floating values, as an ndarray of its own dtype (cast_real
 * converts it once the call's compute type is known). Cleans up after a later argument fails. */
int arr_in(PyObject *obj, void *addr);
/* arr_in, or NULL for None. */
int arr_in_opt(PyObject *obj, void *addr);
/* A C-contiguous int64 array (indices, class targets), by safe casts only. */
int idx_in(PyObject *obj, void *addr);

/* A tuple of exactly n ints into out[0..n-1] (OverflowError beyond int64); `what` names the
 * tuple's fields in the error. The geometry converters of conv.c, conv_transpose.c and pool.c
 * read their tuples with it. */
int int64_tuple(PyObject *obj, int n, int64_t *out, const char *what);

/* ---- compute type --------------------------------------------------------------------------------- */

/* float32 when the first array of a call is float32, else float64. */
static inline int real_type(PyArrayObject *first)
{
    return PyArray_TYPE(first) == NPY_FLOAT32 ? NPY_FLOAT32 : NPY_FLOAT64;
}

static inline cnn_dtype cnn_type(int typenum)
{
    return typenum == NPY_FLOAT32 ? CNN_FLOAT32 : CNN_FLOAT64;
}

/* Replaces *a (may be NULL) by an aligned, native, C-contiguous array of `typenum`. */
int cast_real(PyArrayObject **a, int typenum);

/* ---- memory-safety checks: ValueError "op: name ..." ------------------------------------------------ */

int check_ndim(PyArrayObject *a, int nd, const char *op, const char *name);
int check_dim(PyArrayObject *a, int axis, int64_t want, const char *op, const char *name);
/* a is nd-D with exactly the sizes dims[0..nd-1]. */
int check_shape(PyArrayObject *a, int nd, const int64_t *dims, const char *op, const char *name);
int check_same_shape(PyArrayObject *a, PyArrayObject *b, const char *op, const char *an,
                     const char *bn);

/* ---- results -------------------------------------------------------------------------------------- */

/* A new C-contiguous array of `typenum`, zero-filled when `zero` (gradients the engine adds to). */
PyArrayObject *new_array(int nd, const int64_t *dims, int typenum, int zero);
/* A zero-filled array of a's shape. */
PyArrayObject *new_like(PyArrayObject *a, int typenum);

static inline void *data_or_null(PyArrayObject *a)
{
    return a ? PyArray_DATA(a) : NULL;
}

/* a, or None (a borrowed reference, for PyTuple_Pack). */
static inline PyObject *obj_or_none(PyArrayObject *a)
{
    return a ? (PyObject *)a : Py_None;
}

/* ---- the convolution-shaped ops (conv.c, conv_transpose.c) ------------------------------------ */

/* conv2d and conv_transpose2d take the same arguments (x, w, b, a 9-int geometry tuple, algo;
 * their backward dy, x, w, three flags, the tuple, algo) and differ only in their descriptor and
 * engine calls; each op describes itself in a conv_like_op, and conv_like_forward /
 * conv_like_backward are the bodies of its two entry points. */
typedef union {
    cnn_conv2d_desc conv;
    cnn_conv_transpose2d_desc transpose;
} conv_like_desc;

typedef struct {
    const char *name, *backward_name; /* "conv2d", "conv2d_backward": named in every error */
    int (*geometry)(PyObject *obj, void *desc); /* O& converter: the tuple into the descriptor */
    /* Completes the descriptor with the sizes of x, w and b (NULL: no bias), validates it and the
     * shapes it does not describe; ydims: the output's (N, C_out, OH, OW). Raises and returns 0
     * on failure. */
    int (*complete)(conv_like_desc *d, PyArrayObject *x, PyArrayObject *w, PyArrayObject *b,
                    int64_t ydims[4], const char *op);
    cnn_status (*forward)(const conv_like_desc *d, cnn_dtype dtype, cnn_algo algo, const void *x,
                          const void *w, const void *b, void *y);
    cnn_status (*backward)(const conv_like_desc *d, cnn_dtype dtype, cnn_algo algo,
                           const void *dy, const void *x, const void *w, void *dx, void *dw,
                           void *db);
} conv_like_op;

/* (x, w, b|None, geometry, algo) -> y */
PyObject *conv_like_forward(const conv_like_op *op, PyObject *args);
/* (dy, x, w, need_dx, need_dw, need_db, geometry, algo) -> (dx|None, dw|None, db|None) */
PyObject *conv_like_backward(const conv_like_op *op, PyObject *args);

/* ---- fast paths ------------------------------------------------------------------------------------ */
/* conv2d_fast, linear_fast and activation_fast take the common call checked in C, for the per-call
 * overhead of small inputs: exact ndarrays of one dtype, float32 or float64, aligned, native byte
 * order, C-contiguous and non-empty, and plain int arguments. Anything else returns None (never
 * an error), and cnnpy.functional takes its full path, which converts every input and explains
 * every error. */

/* o is such an array with nd dims (nd < 0: any) and type typenum (0: float32 or float64). */
static inline int fast_array(PyObject *o, int nd, int typenum)
{
    if (!PyArray_CheckExact(o)) return 0;
    PyArrayObject *a = (PyArrayObject *)o;
    const int t = PyArray_TYPE(a);
    if (typenum ? t != typenum : (t != NPY_FLOAT32 && t != NPY_FLOAT64)) return 0;
    if (nd >= 0 && PyArray_NDIM(a) != nd) return 0;
    return PyArray_ISCARRAY_RO(a) && PyArray_ISNOTSWAPPED(a) && PyArray_SIZE(a) > 0;
}

#endif /* CNN_BINDING_H */
