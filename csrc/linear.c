/* linear.c — dense layers, y = x @ w^T + b, forward and backward: validation and entry points;
 * the kernels (generic/linear.h, the blocked GEMM) are reached through cnn_kernels(). */
#include <string.h>

#include "internal.h"

static cnn_status linear_check(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                               size_t *elsize)
{
    int64_t t;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (batch < 0 || in < 0 || out < 0) return CNN_EINVAL;
    if ((st = cnn_mul_sizes(batch, in, &t)) || (st = cnn_mul_sizes(batch, out, &t)) ||
        (st = cnn_mul_sizes(in, out, &t)))
        return st;
    *elsize = dtype == CNN_FLOAT32 ? sizeof(float) : sizeof(double);
    return CNN_OK;
}

cnn_status cnn_linear_forward(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                              const void *x, const void *w, const void *b, void *y)
{
    size_t elsize;
    void *work;
    cnn_status st = linear_check(dtype, batch, in, out, &elsize);
    if (st != CNN_OK) return st;
    if (batch == 0 || out == 0) return CNN_OK;
    if (!y || (in > 0 && (!x || !w))) return CNN_EINVAL;
    const cnn_kernel_table *k = cnn_kernels();
    const int threads = cnn_get_num_threads(); /* one packing workspace per thread */
    if ((st = cnn_workspace_get(k->gemm_workspace_len() * threads, elsize, &work))) return st;
    if (dtype == CNN_FLOAT32)
        k->linear_forward_f32(batch, in, out, x, w, b, y, work, threads);
    else
        k->linear_forward_f64(batch, in, out, x, w, b, y, work, threads);
    cnn_workspace_put(work);
    return CNN_OK;
}

static cnn_status linear_backward(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                                  const void *dy, const void *x, const void *w, void *dx, void *dw,
                                  void *db, int accumulate)
{
    size_t elsize;
    void *work;
    cnn_status st = linear_check(dtype, batch, in, out, &elsize);
    if (st != CNN_OK) return st;
    if (batch == 0 || out == 0) { /* nothing to sum: the gradients are zero */
        if (!accumulate) {
            if (dx) memset(dx, 0, (size_t)(batch * in) * elsize);
            if (dw) memset(dw, 0, (size_t)(out * in) * elsize);
            if (db) memset(db, 0, (size_t)out * elsize);
        }
        return CNN_OK;
    }
    if (!dy || (dx && in > 0 && !w) || (dw && in > 0 && !x)) return CNN_EINVAL;
    const cnn_kernel_table *k = cnn_kernels();
    const int threads = cnn_get_num_threads(); /* one packing workspace per thread */
    if ((st = cnn_workspace_get(k->gemm_workspace_len() * threads, elsize, &work))) return st;
    if (dtype == CNN_FLOAT32)
        k->linear_backward_f32(batch, in, out, dy, x, w, dx, dw, db, accumulate, work, threads);
    else
        k->linear_backward_f64(batch, in, out, dy, x, w, dx, dw, db, accumulate, work, threads);
    cnn_workspace_put(work);
    return CNN_OK;
}

cnn_status cnn_linear_backward(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                               const void *dy, const void *x, const void *w, void *dx, void *dw,
                               void *db)
{
    return linear_backward(dtype, batch, in, out, dy, x, w, dx, dw, db, 1);
}

cnn_status cnn_linear_backward_overwrite(cnn_dtype dtype, int64_t batch, int64_t in, int64_t out,
                                         const void *dy, const void *x, const void *w, void *dx,
                                         void *dw, void *db)
{
    return linear_backward(dtype, batch, in, out, dy, x, w, dx, dw, db, 0);
}
