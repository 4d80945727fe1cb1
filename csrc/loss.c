/* loss.c — losses with PyTorch's reductions: mean squared error, L1, binary cross entropy (on
 * probabilities and on logits), cross entropy on class indices, and correlation (1 - Pearson r);
 * forward and backward. Per-element terms are computed in double and reduced in a fixed order. */
#include <math.h>

#include "internal.h"

/* softplus(z) = log(1 + exp(z)), stable for any z. */
static double softplus(double z)
{
    return (z > 0 ? z : 0) + log1p(exp(-fabs(z)));
}

static double sigmoid(double z)
{
    if (z >= 0) return 1 / (1 + exp(-z));
    const double e = exp(z);
    return e / (1 + e);
}

/* The value of one element's loss (before the weight) and its derivatives w.r.t. x and t. */
static double pointwise_value(enum pointwise_loss k, double x, double t, double pw)
{
    switch (k) {
    case LOSS_MSE: return (x - t) * (x - t);
    case LOSS_L1: return fabs(x - t);
    case LOSS_BCE: {
        const double lx = x > 0 ? fmax(log(x), -100.0) : -100.0;
        const double l1x = x < 1 ? fmax(log1p(-x), -100.0) : -100.0;
        return -(t * lx + (1 - t) * l1x);
    }
    case LOSS_BCE_LOGITS: return (1 - t) * x + ((pw - 1) * t + 1) * softplus(-x);
    }
    return 0;
}

static void pointwise_grad(enum pointwise_loss k, double x, double t, double pw, double *gx,
                           double *gt)
{
    switch (k) {
    case LOSS_MSE:
        *gx = 2 * (x - t);
        *gt = -*gx;
        return;
    case LOSS_L1:
        *gx = (x > t) - (x < t);
        *gt = -*gx;
        return;
    case LOSS_BCE: { /* PyTorch: (x - t) / max(x (1 - x), 1e-12) */
        const double lx = x > 0 ? fmax(log(x), -100.0) : -100.0;
        const double l1x = x < 1 ? fmax(log1p(-x), -100.0) : -100.0;
        *gx = (x - t) / fmax(x * (1 - x), (double)1e-12f); /* PyTorch rounds its epsilon to float */
        *gt = -(lx - l1x);
        return;
    }
    case LOSS_BCE_LOGITS:
        *gx = sigmoid(x) * (pw * t + 1 - t) - pw * t;
        *gt = pw * softplus(-x) - softplus(x);
        return;
    }
}

#define CNN_GENERIC "loss.h"
#include "generic/instantiate.h"

static int reduction_valid(cnn_reduction red)
{
    return red == CNN_REDUCE_NONE || red == CNN_REDUCE_MEAN || red == CNN_REDUCE_SUM;
}

/* ---- elementwise losses ------------------------------------------------------------------------- */

static cnn_status pointwise_forward(enum pointwise_loss k, cnn_dtype dtype, int64_t n,
                                    const void *x, const void *t, const void *w, const void *pw,
                                    cnn_reduction red, void *loss)
{
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (n < 0 || !reduction_valid(red) || !loss || (n > 0 && (!x || !t))) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32) {
        if (k == LOSS_BCE && !probabilities_valid_f32(n, x)) return CNN_EINVAL;
        pointwise_loss_forward_f32(k, n, x, t, w, pw, red, loss);
    } else {
        if (k == LOSS_BCE && !probabilities_valid_f64(n, x)) return CNN_EINVAL;
        pointwise_loss_forward_f64(k, n, x, t, w, pw, red, loss);
    }
    return CNN_OK;
}

static cnn_status pointwise_backward(enum pointwise_loss k, cnn_dtype dtype, int64_t n,
                                     const void *dloss, const void *x, const void *t,
                                     const void *w, const void *pw, cnn_reduction red, void *dx,
                                     void *dt)
{
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (n < 0 || !reduction_valid(red) || (n > 0 && (!x || !t || !dloss))) return CNN_EINVAL;
    if (n == 0) return CNN_OK;
    if (dtype == CNN_FLOAT32) {
        if (k == LOSS_BCE && !probabilities_valid_f32(n, x)) return CNN_EINVAL;
        pointwise_loss_backward_f32(k, n, dloss, x, t, w, pw, red, dx, dt);
    } else {
        if (k == LOSS_BCE && !probabilities_valid_f64(n, x)) return CNN_EINVAL;
        pointwise_loss_backward_f64(k, n, dloss, x, t, w, pw, red, dx, dt);
    }
    return CNN_OK;
}

cnn_status cnn_mse_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                                cnn_reduction red, void *loss)
{
    return pointwise_forward(LOSS_MSE, dtype, n, x, t, NULL, NULL, red, loss);
}

cnn_status cnn_mse_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss, const void *x,
                                 const void *t, cnn_reduction red, void *dx, void *dt)
{
    return pointwise_backward(LOSS_MSE, dtype, n, dloss, x, t, NULL, NULL, red, dx, dt);
}

cnn_status cnn_l1_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                               cnn_reduction red, void *loss)
{
    return pointwise_forward(LOSS_L1, dtype, n, x, t, NULL, NULL, red, loss);
}

cnn_status cnn_l1_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss, const void *x,
                                const void *t, cnn_reduction red, void *dx, void *dt)
{
    return pointwise_backward(LOSS_L1, dtype, n, dloss, x, t, NULL, NULL, red, dx, dt);
}

cnn_status cnn_bce_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                                const void *w, cnn_reduction red, void *loss)
{
    return pointwise_forward(LOSS_BCE, dtype, n, x, t, w, NULL, red, loss);
}

cnn_status cnn_bce_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss, const void *x,
                                 const void *t, const void *w, cnn_reduction red, void *dx,
                                 void *dt)
{
    return pointwise_backward(LOSS_BCE, dtype, n, dloss, x, t, w, NULL, red, dx, dt);
}

cnn_status cnn_bce_logits_loss_forward(cnn_dtype dtype, int64_t n, const void *x, const void *t,
                                       const void *w, const void *pw, cnn_reduction red,
                                       void *loss)
{
    return pointwise_forward(LOSS_BCE_LOGITS, dtype, n, x, t, w, pw, red, loss);
}

cnn_status cnn_bce_logits_loss_backward(cnn_dtype dtype, int64_t n, const void *dloss,
                                        const void *x, const void *t, const void *w,
                                        const void *pw, cnn_reduction red, void *dx, void *dt)
{
    return pointwise_backward(LOSS_BCE_LOGITS, dtype, n, dloss, x, t, w, pw, red, dx, dt);
}

/* ---- cross entropy -------------------------------------------------------------------------------- */

static cnn_status ce_check(cnn_dtype dtype, int64_t batch, int64_t classes, int64_t inner,
                           const void *x, const int64_t *t, int64_t ignore_index,
                           double label_smoothing, cnn_reduction red)
{
    int64_t total;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (batch < 0 || classes < 1 || inner < 0 || !reduction_valid(red)) return CNN_EINVAL;
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0)) return CNN_EINVAL;
    if ((st = cnn_mul_sizes(batch, inner, &total))) return st;
    if ((st = cnn_mul_sizes(total, classes, &total))) return st;
    if (total > 0 && (!x || !t)) return CNN_EINVAL;
    for (int64_t i = 0; i < batch * inner; i++)
        if (t[i] != ignore_index && (t[i] < 0 || t[i] >= classes)) return CNN_EINDEX;
    return CNN_OK;
}

cnn_status cnn_cross_entropy_forward(cnn_dtype dtype, int64_t batch, int64_t classes,
                                     int64_t inner, const void *x, const int64_t *t,
                                     const void *w, int64_t ignore_index, double label_smoothing,
                                     cnn_reduction red, void *loss)
{
    cnn_status st = ce_check(dtype, batch, classes, inner, x, t, ignore_index, label_smoothing, red);
    if (st != CNN_OK) return st;
    if (!loss) return CNN_EINVAL;
    if (batch * inner == 0) { /* no targets: the kernels' per-class scratch (any size) is not needed */
        const double v = red == CNN_REDUCE_MEAN ? NAN : 0.0; /* 0 / 0 summed weights, or 0 */
        if (red == CNN_REDUCE_NONE) return CNN_OK;
        if (dtype == CNN_FLOAT32) *(float *)loss = (float)v;
        else *(double *)loss = v;
        return CNN_OK;
    }
    if (dtype == CNN_FLOAT32)
        return cross_entropy_forward_f32(batch, classes, inner, x, t, w, ignore_index,
                                         label_smoothing, red, loss);
    return cross_entropy_forward_f64(batch, classes, inner, x, t, w, ignore_index, label_smoothing,
                                     red, loss);
}

cnn_status cnn_cross_entropy_backward(cnn_dtype dtype, int64_t batch, int64_t classes,
                                      int64_t inner, const void *dloss, const void *x,
                                      const int64_t *t, const void *w, int64_t ignore_index,
                                      double label_smoothing, cnn_reduction red, void *dx)
{
    cnn_status st = ce_check(dtype, batch, classes, inner, x, t, ignore_index, label_smoothing, red);
    if (st != CNN_OK) return st;
    if (batch * inner == 0 || !dx) return CNN_OK;
    if (!dloss) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        return cross_entropy_backward_f32(batch, classes, inner, dloss, x, t, w, ignore_index,
                                          label_smoothing, red, dx);
    return cross_entropy_backward_f64(batch, classes, inner, dloss, x, t, w, ignore_index,
                                      label_smoothing, red, dx);
}

/* ---- correlation ------------------------------------------------------------------------------------ */

static cnn_status corr_check(cnn_dtype dtype, int64_t batch, int64_t m, const void *x,
                             const void *t, cnn_reduction red)
{
    int64_t total;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (batch < 0 || m < 0 || !reduction_valid(red)) return CNN_EINVAL;
    if ((st = cnn_mul_sizes(batch, m, &total))) return st;
    if (total > 0 && (!x || !t)) return CNN_EINVAL;
    return CNN_OK;
}

cnn_status cnn_correlation_loss_forward(cnn_dtype dtype, int64_t batch, int64_t m, const void *x,
                                        const void *t, cnn_reduction red, void *loss)
{
    cnn_status st = corr_check(dtype, batch, m, x, t, red);
    if (st != CNN_OK) return st;
    if (!loss) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        correlation_forward_f32(batch, m, x, t, red, loss);
    else
        correlation_forward_f64(batch, m, x, t, red, loss);
    return CNN_OK;
}

cnn_status cnn_correlation_loss_backward(cnn_dtype dtype, int64_t batch, int64_t m,
                                         const void *dloss, const void *x, const void *t,
                                         cnn_reduction red, void *dx, void *dt)
{
    cnn_status st = corr_check(dtype, batch, m, x, t, red);
    if (st != CNN_OK) return st;
    if (batch * m == 0) return CNN_OK;
    if (!dloss) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        correlation_backward_f32(batch, m, dloss, x, t, red, dx, dt);
    else
        correlation_backward_f64(batch, m, dloss, x, t, red, dx, dt);
    return CNN_OK;
}
