/* optim.c — optimizer updates (SGD with momentum/Nesterov, Adam/AdamW with AMSGrad, RMSprop),
 * in place on a parameter and its state, following PyTorch's single-tensor implementations
 * operation by operation so float32 results agree to rounding. */
#include <math.h>

#include "internal.h"

static int dtype_ok(cnn_dtype dtype)
{
    return dtype == CNN_FLOAT32 || dtype == CNN_FLOAT64;
}

cnn_status cnn_sgd_step(cnn_dtype dtype, int64_t n, void *param, const void *grad,
                        void *momentum_buf, double lr, double momentum, double dampening,
                        double weight_decay, int nesterov, int maximize, int first)
{
    if (!dtype_ok(dtype)) return CNN_EDTYPE;
    if (n < 0 || (n > 0 && (!param || !grad)) || (momentum != 0 && n > 0 && !momentum_buf))
        return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->sgd_f32(n, param, grad, momentum_buf, lr, momentum, dampening, weight_decay, nesterov,
                maximize, first);
    else
        cnn_kernels()->sgd_f64(n, param, grad, momentum_buf, lr, momentum, dampening, weight_decay, nesterov,
                maximize, first);
    return CNN_OK;
}

cnn_status cnn_adam_step(cnn_dtype dtype, int64_t n, void *param, const void *grad, void *exp_avg,
                         void *exp_avg_sq, void *max_exp_avg_sq, double lr, double beta1,
                         double beta2, double eps, double weight_decay, int decoupled,
                         int maximize, int64_t step)
{
    if (!dtype_ok(dtype)) return CNN_EDTYPE;
    if (n < 0 || step < 1 || (n > 0 && (!param || !grad || !exp_avg || !exp_avg_sq)))
        return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->adam_f32(n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                 weight_decay, decoupled, maximize, step);
    else
        cnn_kernels()->adam_f64(n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                 weight_decay, decoupled, maximize, step);
    return CNN_OK;
}

cnn_status cnn_rmsprop_step(cnn_dtype dtype, int64_t n, void *param, const void *grad,
                            void *square_avg, void *grad_avg, void *momentum_buf, double lr,
                            double alpha, double eps, double weight_decay, double momentum,
                            int maximize)
{
    if (!dtype_ok(dtype)) return CNN_EDTYPE;
    if (n < 0 || (n > 0 && (!param || !grad || !square_avg)) ||
        (momentum > 0 && n > 0 && !momentum_buf))
        return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->rmsprop_f32(n, param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps,
                    weight_decay, momentum, maximize);
    else
        cnn_kernels()->rmsprop_f64(n, param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps,
                    weight_decay, momentum, maximize);
    return CNN_OK;
}
