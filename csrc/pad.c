/* pad.c — N-dimensional padding in every mode (constant, reflect, symmetric, replicate, circular),
 * with crops for negative pads, and its adjoint. Each axis gets an index map from output position
 * to source position (-1 for the constant fill); the copy walks the maps dim by dim. */
#include "internal.h"

#define CNN_MAX_PAD_DIMS 64

/* Source index in [0, n) of position p (relative to the unpadded axis), or -1 for the fill value.
 * These periodic forms equal numpy.pad's repeated reflection for pads of any width. */
static int64_t pad_source(int64_t p, int64_t n, cnn_pad_mode mode)
{
    if (p >= 0 && p < n) return p;
    switch (mode) {
    case CNN_PAD_CONSTANT:
        return -1;
    case CNN_PAD_REPLICATE:
        return p < 0 ? 0 : n - 1;
    case CNN_PAD_CIRCULAR:
        return ((p % n) + n) % n;
    case CNN_PAD_REFLECT: { /* period 2(n-1): 3 2 | 1 2 3 | 2 1 */
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1), q = ((p % period) + period) % period;
        return q < n ? q : period - q;
    }
    case CNN_PAD_SYMMETRIC: { /* period 2n: 2 1 | 1 2 3 | 3 2 */
        int64_t period = 2 * n, q = ((p % period) + period) % period;
        return q < n ? q : period - 1 - q;
    }
    }
    return -1;
}

/* Validates the geometry and builds one index map per dim, all in one allocation (*maps_out, to be
 * freed by the caller); maps[d] has out_shape[d] entries; strides are element strides. */
static cnn_status pad_plan(int ndim, const int64_t *shape, const int64_t *pads, cnn_pad_mode mode,
                           int64_t *out_shape, int64_t *in_strides, int64_t *out_strides,
                           int64_t **maps, int64_t **maps_out)
{
    int64_t total = 0, in_numel, out_numel;
    cnn_status st;
    *maps_out = NULL;
    if (ndim < 0 || ndim > CNN_MAX_PAD_DIMS || !shape || (ndim > 0 && !pads)) return CNN_EINVAL;
    for (int d = 0; d < ndim; d++) {
        if ((st = cnn_pad_out_len(shape[d], pads[2 * d], pads[2 * d + 1], mode, &out_shape[d])))
            return st;
        if ((st = cnn_add_sizes(total, out_shape[d], &total))) return st;
    }
    if ((st = cnn_numel(ndim, shape, &in_numel))) return st;
    if ((st = cnn_numel(ndim, out_shape, &out_numel))) return st;
    int64_t sin = 1, sout = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        in_strides[d] = sin;
        out_strides[d] = sout;
        sin *= shape[d];
        sout *= out_shape[d];
    }
    int64_t *buf;
    if ((st = cnn_alloc(total, sizeof(int64_t), (void **)&buf))) return st;
    int64_t off = 0;
    for (int d = 0; d < ndim; d++) {
        /* Output i reads position i - before of the axis, mapped about its original edges;
         * circular wraps around what the crops leave, [crop, crop + kept) (PyTorch's rules). */
        const int64_t before = pads[2 * d], after = pads[2 * d + 1];
        const int circular = mode == CNN_PAD_CIRCULAR;
        const int64_t crop = circular && before < 0 ? -before : 0;
        const int64_t lead = circular ? (before > 0 ? before : 0) : before;
        const int64_t kept = circular ? shape[d] - crop - (after < 0 ? -after : 0) : shape[d];
        maps[d] = buf + off;
        for (int64_t i = 0; i < out_shape[d]; i++) {
            const int64_t src = pad_source(i - lead, kept, mode);
            maps[d][i] = src < 0 ? -1 : crop + src;
        }
        off += out_shape[d];
    }
    *maps_out = buf;
    return CNN_OK;
}

#define CNN_GENERIC "pad.h"
#include "generic/instantiate.h"

/* ---- public entry points ---------------------------------------------------------------------------- */

static cnn_status pad_run(int backward, cnn_dtype dtype, int ndim, const int64_t *shape,
                          const int64_t *pads, cnn_pad_mode mode, double value, const void *src,
                          void *dst)
{
    int64_t out_shape[CNN_MAX_PAD_DIMS], in_strides[CNN_MAX_PAD_DIMS],
        out_strides[CNN_MAX_PAD_DIMS];
    int64_t *maps[CNN_MAX_PAD_DIMS], *buf;
    if (dtype != CNN_FLOAT32 && dtype != CNN_FLOAT64) return CNN_EDTYPE;
    cnn_status st = pad_plan(ndim, shape, pads, mode, out_shape, in_strides, out_strides, maps, &buf);
    if (st != CNN_OK) return st;
    if (ndim == 0) { /* a scalar: nothing to pad */
        if (dtype == CNN_FLOAT32)
            ((float *)dst)[0] = backward ? ((float *)dst)[0] + ((const float *)src)[0]
                                         : ((const float *)src)[0];
        else
            ((double *)dst)[0] = backward ? ((double *)dst)[0] + ((const double *)src)[0]
                                          : ((const double *)src)[0];
    } else if (dtype == CNN_FLOAT32) {
        if (backward)
            pad_backward_dim_f32(0, ndim, out_shape, in_strides, out_strides, maps, src, dst);
        else
            pad_forward_dim_f32(0, ndim, out_shape, in_strides, out_strides, maps, (float)value,
                                src, dst);
    } else {
        if (backward)
            pad_backward_dim_f64(0, ndim, out_shape, in_strides, out_strides, maps, src, dst);
        else
            pad_forward_dim_f64(0, ndim, out_shape, in_strides, out_strides, maps, value, src, dst);
    }
    free(buf);
    return CNN_OK;
}

cnn_status cnn_pad_forward(cnn_dtype dtype, int ndim, const int64_t *shape, const int64_t *pads,
                           cnn_pad_mode mode, double value, const void *x, void *y)
{
    return pad_run(0, dtype, ndim, shape, pads, mode, value, x, y);
}

cnn_status cnn_pad_backward(cnn_dtype dtype, int ndim, const int64_t *shape, const int64_t *pads,
                            cnn_pad_mode mode, const void *dy, void *dx)
{
    return pad_run(1, dtype, ndim, shape, pads, mode, 0.0, dy, dx);
}
