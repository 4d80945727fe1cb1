/* optim.c — the optimizer binding: SGD, Adam/AdamW and RMSprop steps, in place on a parameter and
 * its state arrays. cnnpy.optim checks every array of every parameter before a step changes
 * anything and words the errors users see; the checks here are the engine's memory safety: an
 * array updated in place is never silently copied, and every array is as long as the parameter. */
#include "binding.h"

/* An array the engine updates in place: already an ndarray of float32/float64 (the dtype of
 * `ref` when given), C-contiguous, aligned, writeable, in native byte order, with `ref`'s shape
 * when given. None passes as NULL when `optional`. */
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

/* The gradient (read only) converted to the parameter's dtype; NULL with an error when it does
 * not have the parameter's shape. */
static PyArrayObject *grad_for(PyObject *obj, PyArrayObject *param, const char *op)
{
    PyArrayObject *g = NULL;
    if (!arr_in(obj, &g) || !cast_real(&g, PyArray_TYPE(param))) return NULL;
    if (!PyArray_SAMESHAPE(g, param)) {
        PyErr_Format(PyExc_ValueError, "%s: grad must have the parameter's shape", op);
        Py_CLEAR(g);
    }
    return g;
}

/* sgd_step(param, grad, momentum_buf|None, lr, momentum, dampening, weight_decay, nesterov,
 * maximize, first) -> None; param and momentum_buf updated in place. */
static PyObject *py_sgd_step(PyObject *self, PyObject *args)
{
    PyObject *po, *go, *bo, *result = NULL;
    PyArrayObject *p, *b, *g = NULL;
    double lr, momentum, dampening, wd;
    int nesterov, maximize, first;
    cnn_status st;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOddddppp", &po, &go, &bo, &lr, &momentum, &dampening, &wd,
                          &nesterov, &maximize, &first))
        return NULL;
    if (!inplace_ok(po, "sgd_step", "param", NULL, 0, &p) ||
        !inplace_ok(bo, "sgd_step", "momentum_buffer", p, 1, &b) ||
        !(g = grad_for(go, p, "sgd_step")))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_sgd_step(cnn_type(PyArray_TYPE(p)), PyArray_SIZE(p), PyArray_DATA(p), PyArray_DATA(g),
                      data_or_null(b), lr, momentum, dampening, wd, nesterov, maximize, first);
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "sgd_step");
        goto exit;
    }
    Py_INCREF(Py_None);
    result = Py_None;
exit:
    Py_XDECREF(g);
    return result;
}

/* adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq|None, lr, beta1, beta2, eps,
 * weight_decay, decoupled, maximize, step) -> None; all but grad updated in place. */
static PyObject *py_adam_step(PyObject *self, PyObject *args)
{
    PyObject *po, *go, *mo, *vo, *xo, *result = NULL;
    PyArrayObject *p, *m, *v, *vmax, *g = NULL;
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
        !inplace_ok(xo, "adam_step", "max_exp_avg_sq", p, 1, &vmax) ||
        !(g = grad_for(go, p, "adam_step")))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_adam_step(cnn_type(PyArray_TYPE(p)), PyArray_SIZE(p), PyArray_DATA(p), PyArray_DATA(g),
                       PyArray_DATA(m), PyArray_DATA(v), data_or_null(vmax), lr, b1, b2, eps, wd,
                       decoupled, maximize, step);
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "adam_step");
        goto exit;
    }
    Py_INCREF(Py_None);
    result = Py_None;
exit:
    Py_XDECREF(g);
    return result;
}

/* rmsprop_step(param, grad, square_avg, grad_avg|None, momentum_buf|None, lr, alpha, eps,
 * weight_decay, momentum, maximize) -> None; all but grad updated in place. */
static PyObject *py_rmsprop_step(PyObject *self, PyObject *args)
{
    PyObject *po, *go, *so, *ao, *bo, *result = NULL;
    PyArrayObject *p, *sq, *ga, *b, *g = NULL;
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
        !inplace_ok(bo, "rmsprop_step", "momentum_buffer", p, 1, &b) ||
        !(g = grad_for(go, p, "rmsprop_step")))
        goto exit;
    Py_BEGIN_ALLOW_THREADS
    st = cnn_rmsprop_step(cnn_type(PyArray_TYPE(p)), PyArray_SIZE(p), PyArray_DATA(p),
                          PyArray_DATA(g), PyArray_DATA(sq), data_or_null(ga), data_or_null(b), lr,
                          alpha, eps, wd, momentum, maximize);
    Py_END_ALLOW_THREADS
    if (st != CNN_OK) {
        raise_status(st, "rmsprop_step");
        goto exit;
    }
    Py_INCREF(Py_None);
    result = Py_None;
exit:
    Py_XDECREF(g);
    return result;
}

PyMethodDef optim_methods[] = {
    {"sgd_step", py_sgd_step, METH_VARARGS,
     "sgd_step(param, grad, momentum_buf, lr, momentum, dampening, weight_decay, nesterov, "
     "maximize, first)"},
    {"adam_step", py_adam_step, METH_VARARGS,
     "adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, "
     "weight_decay, decoupled, maximize, step)"},
    {"rmsprop_step", py_rmsprop_step, METH_VARARGS,
     "rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps, weight_decay, "
     "momentum, maximize)"},
    {NULL, NULL, 0, NULL},
};
