/* loss.c — the loss binding: pointwise losses (kind = a kinds.h LOSS_* code: MSE, L1, BCE,
 * BCE with logits), cross entropy on class indices and correlation, forward and backward. The
 * reduction is a cnn_reduction code, validated by the engine. */
#include "binding.h"

/* A loss result: one value per element for NONE (shaped like `like`), else one value (0-D). */
static PyArrayObject *new_loss(PyArrayObject *like, int red, int typenum)
{
    if (red == CNN_REDUCE_NONE) return new_like(like, typenum);
    return (PyArrayObject *)PyArray_ZEROS(0, NULL, typenum, 0);
}

/* dloss holds as many values as the engine reads: one per element of `like` for NONE, else one. */
static int dloss_ok(PyArrayObject *dloss, PyArrayObject *like, int red, const char *op)
{
    if (red == CNN_REDUCE_NONE ? !PyArray_SAMESHAPE(dloss, like) : PyArray_SIZE(dloss) != 1) {
        PyErr_Format(PyExc_ValueError, "%s: grad_output must be %s", op,
                     red == CNN_REDUCE_NONE ? "shaped like the unreduced loss" : "a scalar");
        return 0;
    }
    return 1;
}

/* ---- pointwise losses ------------------------------------------------------------------------------ */

/* x, t and the optional weight w and pos_weight pw all have one shape. */
static int pointwise_check(PyArrayObject *x, PyArrayObject *t, PyArrayObject *w,
                           PyArrayObject *pw, const char *op)
{
    return check_same_shape(x, t, op, "input", "target") &&
           (!w || check_same_shape(x, w, op, "input", "weight")) &&
           (!pw || check_same_shape(x, pw, op, "input", "pos_weight"));
}

/* pointwise_loss_forward(kind, x, t, weight|None, pos_weight|None, reduction) -> loss */
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
        !cast_real(&pw, typenum) || !pointwise_check(x, t, w, pw, "loss") ||
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
    if (st != CNN_OK) {
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
        !cast_real(&w, typenum) || !cast_real(&pw, typenum) ||
        !pointwise_check(x, t, w, pw, "loss_backward") || !dloss_ok(dl, x, red, "loss_backward") ||
        !(dx = new_like(x, typenum)) || (need_dt && !(dt = new_like(x, typenum))))
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
    if (st != CNN_OK) {
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

/* ---- cross entropy ----------------------------------------------------------------------------------- */

/* Logits x (B, C, D), targets t (B, D), weight (C) or NULL. */
static int ce_check(PyArrayObject *x, PyArrayObject *t, PyArrayObject *w, const char *op)
{
    if (!check_ndim(x, 3, op, "input")) return 0;
    const int64_t tdims[2] = {PyArray_DIM(x, 0), PyArray_DIM(x, 2)}, classes = PyArray_DIM(x, 1);
    return check_shape(t, 2, tdims, op, "target") &&
           (!w || check_shape(w, 1, &classes, op, "weight"));
}

/* cross_entropy_forward(x (B, C, D), t (B, D), weight|None, ignore_index, label_smoothing,
 * reduction) -> loss (B, D) or () */
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
    if (!cast_real(&x, typenum) || !cast_real(&w, typenum) ||
        !ce_check(x, t, w, "cross_entropy") || !(loss = new_loss(t, red, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_cross_entropy_forward(cnn_type(typenum), PyArray_DIM(x, 0), PyArray_DIM(x, 1),
                                   PyArray_DIM(x, 2), PyArray_DATA(x), PyArray_DATA(t),
                                   data_or_null(w), ignore_index, ls, red, PyArray_DATA(loss));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "cross_entropy");
        Py_CLEAR(loss);
    }
exit:
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(w);
    return (PyObject *)loss;
}

/* cross_entropy_backward(dloss, x, t, weight|None, ignore_index, label_smoothing, reduction)
 * -> dx */
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
        !ce_check(x, t, w, "cross_entropy_backward") ||
        !dloss_ok(dl, t, red, "cross_entropy_backward") || !(dx = new_like(x, typenum)))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_cross_entropy_backward(cnn_type(typenum), PyArray_DIM(x, 0), PyArray_DIM(x, 1),
                                    PyArray_DIM(x, 2), PyArray_DATA(dl), PyArray_DATA(x),
                                    PyArray_DATA(t), data_or_null(w), ignore_index, ls, red,
                                    PyArray_DATA(dx));
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
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

/* ---- correlation ------------------------------------------------------------------------------------ */

/* correlation_forward(x (B, M), t (B, M), reduction) -> loss (B,) or () */
static PyObject *py_correlation_forward(PyObject *self, PyObject *args)
{
    PyArrayObject *x = NULL, *t = NULL, *loss = NULL;
    int red, typenum;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&i", arr_in, &x, arr_in, &t, &red)) return NULL;
    typenum = real_type(x);
    if (!cast_real(&x, typenum) || !cast_real(&t, typenum) ||
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

/* correlation_backward(dloss (B,) or one value, x, t, reduction, need_dt) -> (dx, dt|None) */
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
        !check_ndim(x, 2, "correlation_loss_backward", "input") ||
        !check_same_shape(x, t, "correlation_loss_backward", "input", "target"))
        goto exit;
    const int64_t batch = PyArray_DIM(x, 0);
    if (PyArray_SIZE(dl) != (red == CNN_REDUCE_NONE ? batch : 1)) {
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

PyMethodDef loss_methods[] = {
    {"pointwise_loss_forward", py_pointwise_loss_forward, METH_VARARGS,
     "pointwise_loss_forward(kind, x, t, weight, pos_weight, reduction) -> loss; kind: LOSS_MSE, ..."},
    {"pointwise_loss_backward", py_pointwise_loss_backward, METH_VARARGS,
     "pointwise_loss_backward(kind, dloss, x, t, weight, pos_weight, reduction, need_dt) -> (dx, dt)"},
    {"cross_entropy_forward", py_cross_entropy_forward, METH_VARARGS,
     "cross_entropy_forward(x, t, weight, ignore_index, label_smoothing, reduction) -> loss"},
    {"cross_entropy_backward", py_cross_entropy_backward, METH_VARARGS,
     "cross_entropy_backward(dloss, x, t, weight, ignore_index, label_smoothing, reduction) -> dx"},
    {"correlation_forward", py_correlation_forward, METH_VARARGS,
     "correlation_forward(x, t, reduction) -> loss"},
    {"correlation_backward", py_correlation_backward, METH_VARARGS,
     "correlation_backward(dloss, x, t, reduction, need_dt) -> (dx, dt)"},
    {NULL, NULL, 0, NULL},
};
