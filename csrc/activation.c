/* activation.c — elementwise activations (relu, leaky relu, sigmoid, tanh, gelu), softmax and
 * log-softmax along an axis, and inverted dropout with a caller-drawn mask; forward and backward. */
#include <math.h>

#include "internal.h"

/* ---- elementwise -------------------------------------------------------------------------------- */

static cnn_status act_forward(enum act_kind k, cnn_dtype dtype, int64_t n, double slope,
                              const void *x, void *y)
{
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (n < 0) return CNN_EINVAL;
    if (n == 0) return CNN_OK;
    if (!x || !y) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->act_forward_f32(k, n, (float)slope, x, y);
    else
        cnn_kernels()->act_forward_f64(k, n, slope, x, y);
    return CNN_OK;
}

static cnn_status act_backward(enum act_kind k, cnn_dtype dtype, int64_t n, double slope,
                               const void *dy, const void *x, void *dx)
{
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (n < 0) return CNN_EINVAL;
    if (n == 0) return CNN_OK;
    if (!dy || !x || !dx) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->act_backward_f32(k, n, (float)slope, dy, x, dx);
    else
        cnn_kernels()->act_backward_f64(k, n, slope, dy, x, dx);
    return CNN_OK;
}

cnn_status cnn_relu_forward(cnn_dtype dtype, int64_t n, const void *x, void *y)
{
    return act_forward(ACT_RELU, dtype, n, 0.0, x, y);
}

cnn_status cnn_relu_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx)
{
    return act_backward(ACT_RELU, dtype, n, 0.0, dy, x, dx);
}

cnn_status cnn_leaky_relu_forward(cnn_dtype dtype, int64_t n, double slope, const void *x, void *y)
{
    return act_forward(ACT_LEAKY_RELU, dtype, n, slope, x, y);
}

cnn_status cnn_leaky_relu_backward(cnn_dtype dtype, int64_t n, double slope, const void *dy,
                                   const void *x, void *dx)
{
    return act_backward(ACT_LEAKY_RELU, dtype, n, slope, dy, x, dx);
}

cnn_status cnn_sigmoid_forward(cnn_dtype dtype, int64_t n, const void *x, void *y)
{
    return act_forward(ACT_SIGMOID, dtype, n, 0.0, x, y);
}

cnn_status cnn_sigmoid_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx)
{
    return act_backward(ACT_SIGMOID, dtype, n, 0.0, dy, x, dx);
}

cnn_status cnn_tanh_forward(cnn_dtype dtype, int64_t n, const void *x, void *y)
{
    return act_forward(ACT_TANH, dtype, n, 0.0, x, y);
}

cnn_status cnn_tanh_backward(cnn_dtype dtype, int64_t n, const void *dy, const void *x, void *dx)
{
    return act_backward(ACT_TANH, dtype, n, 0.0, dy, x, dx);
}

static cnn_status gelu_kind(cnn_gelu_approx approximate, enum act_kind *k)
{
    if (approximate != CNN_GELU_NONE && approximate != CNN_GELU_TANH) return CNN_EINVAL;
    *k = approximate == CNN_GELU_TANH ? ACT_GELU_TANH : ACT_GELU;
    return CNN_OK;
}

cnn_status cnn_gelu_forward(cnn_dtype dtype, int64_t n, cnn_gelu_approx approximate, const void *x,
                            void *y)
{
    enum act_kind k;
    const cnn_status st = gelu_kind(approximate, &k);
    return st != CNN_OK ? st : act_forward(k, dtype, n, 0.0, x, y);
}

cnn_status cnn_gelu_backward(cnn_dtype dtype, int64_t n, cnn_gelu_approx approximate,
                             const void *dy, const void *x, void *dx)
{
    enum act_kind k;
    const cnn_status st = gelu_kind(approximate, &k);
    return st != CNN_OK ? st : act_backward(k, dtype, n, 0.0, dy, x, dx);
}

/* ---- softmax ------------------------------------------------------------------------------------- */

static cnn_status softmax_check(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner)
{
    int64_t t;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (outer < 0 || n < 0 || inner < 0) return CNN_EINVAL;
    if ((st = cnn_mul_sizes(outer, n, &t)) || (st = cnn_mul_sizes(t, inner, &t))) return st;
    return CNN_OK;
}

static cnn_status softmax_run(int log_space, cnn_dtype dtype, int64_t outer, int64_t n,
                              int64_t inner, const void *x, void *y)
{
    cnn_status st = softmax_check(dtype, outer, n, inner);
    if (st != CNN_OK) return st;
    if (outer == 0 || n == 0 || inner == 0) return CNN_OK;
    if (!x || !y) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->softmax_forward_f32(log_space, outer, n, inner, x, y);
    else
        cnn_kernels()->softmax_forward_f64(log_space, outer, n, inner, x, y);
    return CNN_OK;
}

static cnn_status softmax_back(int log_space, cnn_dtype dtype, int64_t outer, int64_t n,
                               int64_t inner, const void *dy, const void *y, void *dx)
{
    cnn_status st = softmax_check(dtype, outer, n, inner);
    if (st != CNN_OK) return st;
    if (outer == 0 || n == 0 || inner == 0) return CNN_OK;
    if (!dy || !y || !dx) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->softmax_backward_f32(log_space, outer, n, inner, dy, y, dx);
    else
        cnn_kernels()->softmax_backward_f64(log_space, outer, n, inner, dy, y, dx);
    return CNN_OK;
}

cnn_status cnn_softmax_forward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                               const void *x, void *y)
{
    return softmax_run(0, dtype, outer, n, inner, x, y);
}

cnn_status cnn_softmax_backward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                                const void *dy, const void *y, void *dx)
{
    return softmax_back(0, dtype, outer, n, inner, dy, y, dx);
}

cnn_status cnn_log_softmax_forward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                                   const void *x, void *y)
{
    return softmax_run(1, dtype, outer, n, inner, x, y);
}

cnn_status cnn_log_softmax_backward(cnn_dtype dtype, int64_t outer, int64_t n, int64_t inner,
                                    const void *dy, const void *y, void *dx)
{
    return softmax_back(1, dtype, outer, n, inner, dy, y, dx);
}

/* ---- dropout ----------------------------------------------------------------------------------- */

cnn_status cnn_dropout_forward(cnn_dtype dtype, int64_t n, double p, const uint8_t *mask,
                               const void *x, void *y)
{
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (n < 0 || !(p >= 0.0 && p <= 1.0)) return CNN_EINVAL;
    if (n == 0) return CNN_OK;
    if (!mask || !x || !y) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->dropout_apply_f32(n, p, mask, x, y, 0);
    else
        cnn_kernels()->dropout_apply_f64(n, p, mask, x, y, 0);
    return CNN_OK;
}

cnn_status cnn_dropout_backward(cnn_dtype dtype, int64_t n, double p, const uint8_t *mask,
                                const void *dy, void *dx)
{
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (n < 0 || !(p >= 0.0 && p <= 1.0)) return CNN_EINVAL;
    if (n == 0) return CNN_OK;
    if (!mask || !dy || !dx) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->dropout_apply_f32(n, p, mask, dy, dx, 1);
    else
        cnn_kernels()->dropout_apply_f64(n, p, mask, dy, dx, 1);
    return CNN_OK;
}
