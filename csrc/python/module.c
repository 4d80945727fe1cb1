/* module.c — the module cnnpy._cnn: its constants, the run-time settings of the engine (instruction
 * set, threads) and the method table of every op family (csrc/python/<family>.c). The binding is
 * private: cnnpy.functional, cnnpy.optim and cnnpy._runtime call it and own every message users
 * see (see binding.h). */
#define CNN_BINDING_IMPORTS_NUMPY
#include "binding.h"

#include <string.h>

/* ---- run-time settings -------------------------------------------------------------------------- */

/* isa() -> the instruction set in use */
static PyObject *py_isa(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyUnicode_FromString(cnn_isa_name(cnn_get_isa()));
}

/* available_isas() -> the instruction sets this machine and build can use */
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

/* set_isa(name): 'scalar', 'avx2' or 'avx512', one of available_isas() */
static PyObject *py_set_isa(PyObject *self, PyObject *args)
{
    const char *name;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    for (int i = CNN_ISA_SCALAR; i <= CNN_ISA_AVX512; i++) {
        if (strcmp(name, cnn_isa_name((cnn_isa)i)) != 0) continue;
        const cnn_status st = cnn_set_isa((cnn_isa)i);
        if (st != CNN_OK) return raise_status(st, "set_isa");
        Py_RETURN_NONE;
    }
    return raise_status(CNN_EINVAL, "set_isa");
}

/* num_threads() -> the threads the kernels split their work over */
static PyObject *py_num_threads(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyLong_FromLong(cnn_get_num_threads());
}

/* set_num_threads(n), 1 <= n <= 256 */
static PyObject *py_set_num_threads(PyObject *self, PyObject *args)
{
    int n;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    const cnn_status st = cnn_set_num_threads(n);
    if (st != CNN_OK) return raise_status(st, "set_num_threads");
    Py_RETURN_NONE;
}

/* set_min_part_work(n) -> the previous value (tests: 1 splits even tiny loops over threads). A
 * private knob with no Python wrapper, so its one rule is checked here. */
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

static PyMethodDef runtime_methods[] = {
    {"isa", py_isa, METH_NOARGS, "isa() -> the instruction set the kernels use"},
    {"available_isas", py_available_isas, METH_NOARGS, "available_isas() -> usable instruction sets"},
    {"set_isa", py_set_isa, METH_VARARGS, "set_isa(name): use 'scalar', 'avx2' or 'avx512'"},
    {"num_threads", py_num_threads, METH_NOARGS, "num_threads() -> threads the kernels use"},
    {"set_num_threads", py_set_num_threads, METH_VARARGS, "set_num_threads(n): 1 <= n <= 256"},
    {"set_min_part_work", py_set_min_part_work, METH_VARARGS,
     "set_min_part_work(n) -> previous: the least work a loop hands to one thread"},
    {NULL, NULL, 0, NULL},
};

/* ---- the module ------------------------------------------------------------------------------------- */

/* The method table of every op family (binding.h lists them). */
#define CNN_LIST_METHODS(table) table,
static PyMethodDef *const families[] = {CNN_BINDING_FAMILIES(CNN_LIST_METHODS)};
#undef CNN_LIST_METHODS

static int module_exec(PyObject *m)
{
    if (PyArray_ImportNumPyAPI() < 0) return -1;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (PyModule_AddFunctions(m, families[i]) < 0) return -1;
    if (PyModule_AddIntConstant(m, "ALGO_AUTO", CNN_ALGO_AUTO) ||
        PyModule_AddIntConstant(m, "ALGO_REFERENCE", CNN_ALGO_REFERENCE) ||
        PyModule_AddIntConstant(m, "ALGO_DIRECT", CNN_ALGO_DIRECT) ||
        PyModule_AddIntConstant(m, "ALGO_GEMM", CNN_ALGO_GEMM) ||
        PyModule_AddIntConstant(m, "ALGO_BLOCKED", CNN_ALGO_BLOCKED) ||
        PyModule_AddIntConstant(m, "ALGO_WINOGRAD", CNN_ALGO_WINOGRAD) ||
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
        PyModule_AddIntConstant(m, "ACT_GELU", ACT_GELU) ||
        PyModule_AddIntConstant(m, "ACT_GELU_TANH", ACT_GELU_TANH) ||
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
    runtime_methods, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cnn(void)
{
    return PyModuleDef_Init(&moduledef);
}
