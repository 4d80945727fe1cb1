/* generic/resize.h — nearest and bilinear resizing for one dtype (`real`, suffix R()), PyTorch's
 * formulas: scale = in / out in the computation type (float for float32, double for float64).
 *   nearest:  src = min(floor(dst * scale), in - 1), with the exact shortcuts for equal sizes
 *             and exact doubling PyTorch takes;
 *   bilinear: src = max(scale * (dst + 0.5) - 0.5, 0) (the product in double), i0 = (int)src,
 *             i1 = min(i0 + 1, in - 1),
 *             l1 = clamp(src - i0, 0, 1), l0 = 1 - l1. Included by resize.c. */

static int64_t R(nearest_index)(int64_t dst, int64_t in, int64_t out)
{
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    const float scale = (float)in / (float)out; /* PyTorch computes nearest indices in float */
    const int64_t i = (int64_t)floorf((float)dst * scale);
    return i < in - 1 ? i : in - 1;
}

static void R(linear_index)(int64_t dst, int64_t in, int64_t out, int64_t *i0, int64_t *i1,
                            real *l0, real *l1)
{
    /* PyTorch: the scale in the array's precision, the product in double (its 0.5 is a double
     * literal), the source coordinate rounded back once. */
    const real scale = (real)in / (real)out;
    real src = (real)((double)scale * ((double)dst + 0.5) - 0.5);
    if (src < 0) src = 0;
    int64_t i = (int64_t)src;
    if (i > in - 1) i = in - 1;
    real l = src - (real)i;
    l = l < 0 ? 0 : (l > 1 ? 1 : l);
    *i0 = i;
    *i1 = i + 1 < in ? i + 1 : in - 1;
    *l1 = l;
    *l0 = (real)1 - l;
}

static void R(resize)(cnn_resize_mode mode, int64_t planes, int64_t H, int64_t W, int64_t OH,
                      int64_t OW, const real *restrict x, real *restrict y)
{
    for (int64_t p = 0; p < planes; p++) {
        const real *xp = x + p * H * W;
        real *yp = y + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            if (mode == CNN_RESIZE_NEAREST) {
                const real *xr = xp + R(nearest_index)(oh, H, OH) * W;
                for (int64_t ow = 0; ow < OW; ow++) yp[oh * OW + ow] = xr[R(nearest_index)(ow, W, OW)];
                continue;
            }
            int64_t h0, h1;
            real a0, a1;
            R(linear_index)(oh, H, OH, &h0, &h1, &a0, &a1);
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0, w1;
                real b0, b1;
                R(linear_index)(ow, W, OW, &w0, &w1, &b0, &b1);
                yp[oh * OW + ow] = a0 * (b0 * xp[h0 * W + w0] + b1 * xp[h0 * W + w1]) +
                                   a1 * (b0 * xp[h1 * W + w0] + b1 * xp[h1 * W + w1]);
            }
        }
    }
}
