/* pool.c — max and average pooling (plain and adaptive), max unpooling, forward and backward,
 * over (planes, H, W) with planes = N*C; 1-D pooling is H = 1: validation and the public entry
 * points. Max pooling records the argmax so its backward (and unpooling) is a single scatter or
 * gather. The kernels (generic/pool.h) are compiled per instruction set, reached through
 * cnn_kernels(). */
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- validation ---------------------------------------------------------------------------------- */

cnn_status cnn_pool2d_output_shape(const cnn_pool2d_desc *d, int64_t *out_h, int64_t *out_w)
{
    int64_t oh, ow, t;
    cnn_status st;
    if (!d || d->planes < 0 || d->divisor_override < 0) return CNN_EINVAL;
    if ((st = cnn_pool_out_len(d->in_h, d->kernel_h, d->stride_h, d->pad_h, d->dilation_h,
                               d->ceil_mode, &oh)))
        return st;
    if ((st = cnn_pool_out_len(d->in_w, d->kernel_w, d->stride_w, d->pad_w, d->dilation_w,
                               d->ceil_mode, &ow)))
        return st;
    const int64_t xs[3] = {d->planes, d->in_h, d->in_w}, ys[3] = {d->planes, oh, ow};
    if ((st = cnn_numel(3, xs, &t)) || (st = cnn_numel(3, ys, &t))) return st;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return CNN_OK;
}

static cnn_status check_planes(cnn_dtype dtype, int64_t planes, int64_t in_h, int64_t in_w,
                               int64_t out_h, int64_t out_w)
{
    int64_t t;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (planes < 0 || in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) return CNN_EINVAL;
    const int64_t xs[3] = {planes, in_h, in_w}, ys[3] = {planes, out_h, out_w};
    if ((st = cnn_numel(3, xs, &t)) || (st = cnn_numel(3, ys, &t))) return st;
    return CNN_OK;
}

/* Whether every one of the n indices lies in [-1, len) (-1: no position). Branch-free, so that
 * it vectorises: this pass reads every index before any output is written. */
static int indices_valid(const int64_t *idx, int64_t n, int64_t len)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= (idx[i] < -1) | (idx[i] >= len);
    return !bad;
}

/* ---- max pooling ------------------------------------------------------------------------------------ */

cnn_status cnn_maxpool2d_forward(const cnn_pool2d_desc *d, cnn_dtype dtype, const void *x,
                                 void *y, int64_t *indices)
{
    int64_t oh, ow;
    cnn_status st = cnn_pool2d_output_shape(d, &oh, &ow);
    if (st != CNN_OK) return st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (d->planes == 0) return CNN_OK;
    if (!x || !y || !indices) return CNN_EINVAL;
    /* A window of one tap has no dilation; the kernel steps rows by the dilation, which must
     * not overflow past the input for a dilation near INT64_MAX (found by the fuzzer). */
    cnn_pool2d_desc e = *d;
    if (e.kernel_h == 1) e.dilation_h = 1;
    if (e.kernel_w == 1) e.dilation_w = 1;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->maxpool_forward_f32(&e, oh, ow, x, y, indices);
    else
        cnn_kernels()->maxpool_forward_f64(&e, oh, ow, x, y, indices);
    return CNN_OK;
}

cnn_status cnn_maxpool2d_backward(cnn_dtype dtype, int64_t planes, int64_t in_h, int64_t in_w,
                                  int64_t out_h, int64_t out_w, const void *dy,
                                  const int64_t *indices, void *dx)
{
    cnn_status st = check_planes(dtype, planes, in_h, in_w, out_h, out_w);
    if (st != CNN_OK) return st;
    if (planes == 0) return CNN_OK;
    if (!dy || !indices || !dx) return CNN_EINVAL;
    const int64_t in_len = in_h * in_w, out_len = out_h * out_w;
    if (!indices_valid(indices, planes * out_len, in_len)) return CNN_EINDEX;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->index_scatter_f32(planes, out_len, in_len, dy, indices, dx);
    else
        cnn_kernels()->index_scatter_f64(planes, out_len, in_len, dy, indices, dx);
    return CNN_OK;
}

cnn_status cnn_maxpool2d_backward_overwrite(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                            int64_t in_w, int64_t out_h, int64_t out_w,
                                            const void *dy, const int64_t *indices, void *dx)
{
    cnn_status st = check_planes(dtype, planes, in_h, in_w, out_h, out_w);
    if (st != CNN_OK) return st;
    if (planes == 0) return CNN_OK;
    if (!dy || !indices || !dx) return CNN_EINVAL;
    const int64_t in_len = in_h * in_w, out_len = out_h * out_w;
    const cnn_kernel_table *k = cnn_kernels();
    if (dtype == CNN_FLOAT32 ? k->index_scatter_fresh_f32(planes, out_len, in_len, dy, indices, dx)
                             : k->index_scatter_fresh_f64(planes, out_len, in_len, dy, indices, dx))
        return CNN_OK;
    memset(dx, 0, (size_t)(planes * in_len) * (dtype == CNN_FLOAT32 ? sizeof(float) : sizeof(double)));
    return CNN_EINDEX; /* an index outside [-1, in_len) */
}

/* ---- average pooling ------------------------------------------------------------------------------- */

static cnn_status avgpool_check(const cnn_pool2d_desc *d, cnn_dtype dtype, int64_t *oh,
                                int64_t *ow)
{
    cnn_status st = cnn_pool2d_output_shape(d, oh, ow);
    if (st != CNN_OK) return st;
    if (d->dilation_h != 1 || d->dilation_w != 1) return CNN_EINVAL;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    return CNN_OK;
}

cnn_status cnn_avgpool2d_forward(const cnn_pool2d_desc *d, cnn_dtype dtype, const void *x, void *y)
{
    int64_t oh, ow;
    cnn_status st = avgpool_check(d, dtype, &oh, &ow);
    if (st != CNN_OK) return st;
    if (d->planes == 0) return CNN_OK;
    if (!x || !y) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->avgpool_forward_f32(d, oh, ow, x, y);
    else
        cnn_kernels()->avgpool_forward_f64(d, oh, ow, x, y);
    return CNN_OK;
}

cnn_status cnn_avgpool2d_backward(const cnn_pool2d_desc *d, cnn_dtype dtype, const void *dy,
                                  void *dx)
{
    int64_t oh, ow;
    cnn_status st = avgpool_check(d, dtype, &oh, &ow);
    if (st != CNN_OK) return st;
    if (d->planes == 0) return CNN_OK;
    if (!dy || !dx) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->avgpool_backward_f32(d, oh, ow, dy, dx, 1);
    else
        cnn_kernels()->avgpool_backward_f64(d, oh, ow, dy, dx, 1);
    return CNN_OK;
}

/* ---- adaptive pooling --------------------------------------------------------------------------------- */

cnn_status cnn_adaptive_avgpool2d_forward(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                          int64_t in_w, int64_t out_h, int64_t out_w,
                                          const void *x, void *y)
{
    cnn_status st = check_planes(dtype, planes, in_h, in_w, out_h, out_w);
    if (st != CNN_OK) return st;
    if (planes == 0) return CNN_OK;
    if (!x || !y) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->adaptive_avg_forward_f32(planes, in_h, in_w, out_h, out_w, x, y);
    else
        cnn_kernels()->adaptive_avg_forward_f64(planes, in_h, in_w, out_h, out_w, x, y);
    return CNN_OK;
}

cnn_status cnn_adaptive_avgpool2d_backward(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                           int64_t in_w, int64_t out_h, int64_t out_w,
                                           const void *dy, void *dx)
{
    cnn_status st = check_planes(dtype, planes, in_h, in_w, out_h, out_w);
    if (st != CNN_OK) return st;
    if (planes == 0) return CNN_OK;
    if (!dy || !dx) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->adaptive_avg_backward_f32(planes, in_h, in_w, out_h, out_w, dy, dx);
    else
        cnn_kernels()->adaptive_avg_backward_f64(planes, in_h, in_w, out_h, out_w, dy, dx);
    return CNN_OK;
}

cnn_status cnn_adaptive_maxpool2d_forward(cnn_dtype dtype, int64_t planes, int64_t in_h,
                                          int64_t in_w, int64_t out_h, int64_t out_w,
                                          const void *x, void *y, int64_t *indices)
{
    cnn_status st = check_planes(dtype, planes, in_h, in_w, out_h, out_w);
    if (st != CNN_OK) return st;
    if (planes == 0) return CNN_OK;
    if (!x || !y || !indices) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->adaptive_max_forward_f32(planes, in_h, in_w, out_h, out_w, x, y, indices);
    else
        cnn_kernels()->adaptive_max_forward_f64(planes, in_h, in_w, out_h, out_w, x, y, indices);
    return CNN_OK;
}

/* ---- max unpooling ------------------------------------------------------------------------------------ */

static cnn_status unpool_check(cnn_dtype dtype, int64_t planes, int64_t in_len, int64_t out_h,
                               int64_t out_w, const int64_t *indices)
{
    int64_t t, out_len;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (planes < 0 || in_len < 0 || out_h < 1 || out_w < 1) return CNN_EINVAL;
    if ((st = cnn_mul_sizes(out_h, out_w, &out_len))) return st;
    if ((st = cnn_mul_sizes(planes, out_len, &t)) || (st = cnn_mul_sizes(planes, in_len, &t)))
        return st;
    if (planes > 0 && in_len > 0 && !indices) return CNN_EINVAL;
    return t == 0 || indices_valid(indices, t, out_len) ? CNN_OK : CNN_EINDEX;
}

cnn_status cnn_maxunpool2d_forward(cnn_dtype dtype, int64_t planes, int64_t in_len, int64_t out_h,
                                   int64_t out_w, const void *x, const int64_t *indices, void *y)
{
    cnn_status st = unpool_check(dtype, planes, in_len, out_h, out_w, indices);
    if (st != CNN_OK) return st;
    if (planes == 0) return CNN_OK;
    if (!y || (in_len > 0 && !x)) return CNN_EINVAL;
    const int64_t out_len = out_h * out_w;
    if (dtype == CNN_FLOAT32) {
        memset(y, 0, (size_t)(planes * out_len) * sizeof(float));
        cnn_kernels()->index_assign_f32(planes, in_len, out_len, x, indices, y);
    } else {
        memset(y, 0, (size_t)(planes * out_len) * sizeof(double));
        cnn_kernels()->index_assign_f64(planes, in_len, out_len, x, indices, y);
    }
    return CNN_OK;
}

cnn_status cnn_maxunpool2d_backward(cnn_dtype dtype, int64_t planes, int64_t in_len,
                                    int64_t out_h, int64_t out_w, const void *dy,
                                    const int64_t *indices, void *dx)
{
    cnn_status st = unpool_check(dtype, planes, in_len, out_h, out_w, indices);
    if (st != CNN_OK) return st;
    if (planes == 0 || in_len == 0) return CNN_OK;
    if (!dy || !dx) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        cnn_kernels()->index_gather_f32(planes, in_len, out_h * out_w, dy, indices, dx);
    else
        cnn_kernels()->index_gather_f64(planes, in_len, out_h * out_w, dy, indices, dx);
    return CNN_OK;
}
