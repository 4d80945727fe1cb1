/* resize.c — image resizing for data transforms: nearest and bilinear interpolation of
 * (planes, H, W) to (planes, OH, OW), PyTorch's interpolate (align_corners=False, no antialias):
 * the same source-index arithmetic in the same precision, so results match it. */
#include <math.h>

#include "internal.h"

#define CNN_GENERIC "resize.h"
#include "generic/instantiate.h"

cnn_status cnn_resize2d_forward(cnn_dtype dtype, cnn_resize_mode mode, int64_t planes, int64_t in_h,
                                int64_t in_w, int64_t out_h, int64_t out_w, const void *x, void *y)
{
    int64_t t;
    cnn_status st;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    if (mode != CNN_RESIZE_NEAREST && mode != CNN_RESIZE_BILINEAR) return CNN_EINVAL;
    if (planes < 0 || in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) return CNN_EINVAL;
    const int64_t xs[3] = {planes, in_h, in_w}, ys[3] = {planes, out_h, out_w};
    if ((st = cnn_numel(3, xs, &t)) || (st = cnn_numel(3, ys, &t))) return st;
    if (planes == 0) return CNN_OK;
    if (!x || !y) return CNN_EINVAL;
    if (dtype == CNN_FLOAT32)
        resize_f32(mode, planes, in_h, in_w, out_h, out_w, x, y);
    else
        resize_f64(mode, planes, in_h, in_w, out_h, out_w, x, y);
    return CNN_OK;
}
