/* generic/pad.h — the padding copy and its adjoint for one dtype (`real`, suffix R()).
 * Included by pad.c once per dtype. */

/* Fill the output block of dims [d, ndim) with v. */
static void R(pad_fill_dim)(int d, const int64_t *out_shape, const int64_t *out_strides, real v,
                            real *restrict y)
{
    int64_t n = out_shape[d] * out_strides[d];
    for (int64_t i = 0; i < n; i++) y[i] = v;
}

/* y[i_d, ...] = x[map_d(i_d), ...] (or v where a map says -1), over dims [d, ndim). */
static void R(pad_forward_dim)(int d, int ndim, const int64_t *out_shape,
                               const int64_t *in_strides, const int64_t *out_strides,
                               int64_t *const *maps, real v, const real *restrict x,
                               real *restrict y)
{
    const int64_t *map = maps[d];
    if (d == ndim - 1) {
        for (int64_t i = 0; i < out_shape[d]; i++) y[i] = map[i] >= 0 ? x[map[i]] : v;
        return;
    }
    for (int64_t i = 0; i < out_shape[d]; i++) {
        real *yi = y + i * out_strides[d];
        if (map[i] < 0)
            R(pad_fill_dim)(d + 1, out_shape, out_strides, v, yi);
        else
            R(pad_forward_dim)(d + 1, ndim, out_shape, in_strides, out_strides, maps, v,
                               x + map[i] * in_strides[d], yi);
    }
}

/* dx[map_d(i_d), ...] += dy[i_d, ...], skipping the constant fill, over dims [d, ndim). */
static void R(pad_backward_dim)(int d, int ndim, const int64_t *out_shape,
                                const int64_t *in_strides, const int64_t *out_strides,
                                int64_t *const *maps, const real *restrict dy, real *restrict dx)
{
    const int64_t *map = maps[d];
    if (d == ndim - 1) {
        for (int64_t i = 0; i < out_shape[d]; i++)
            if (map[i] >= 0) dx[map[i]] += dy[i];
        return;
    }
    for (int64_t i = 0; i < out_shape[d]; i++)
        if (map[i] >= 0)
            R(pad_backward_dim)(d + 1, ndim, out_shape, in_strides, out_strides, maps,
                                dy + i * out_strides[d], dx + map[i] * in_strides[d]);
}
