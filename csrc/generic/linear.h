/* generic/linear.h — dense layer kernels for one dtype (`real`, suffix R()). Compiled per ISA (csrc/isa_body.h). */

/* x (batch, in), w (out, in), b (out) or NULL, y (batch, out). */
static void R(linear_forward)(int64_t batch, int64_t in, int64_t out, const real *x,
                              const real *w, const real *b, real *y, real *work)
{
    R(gemm)(0, 1, batch, out, in, x, in, w, in, 0, y, out, work);
    if (b)
        for (int64_t n = 0; n < batch; n++)
            for (int64_t o = 0; o < out; o++) y[n * out + o] += b[o];
}

/* dx (batch, in) += dy @ w; dw (out, in) += dy^T @ x; db (out) += column sums of dy. */
static void R(linear_backward)(int64_t batch, int64_t in, int64_t out, const real *dy,
                               const real *x, const real *w, real *dx, real *dw, real *db,
                               real *work)
{
    if (dx) R(gemm)(0, 0, batch, in, out, dy, out, w, in, 1, dx, in, work);
    if (dw) R(gemm)(1, 0, out, in, batch, dy, out, x, in, 1, dw, in, work);
    if (db) R(bias_backward)(batch, out, 1, dy, db);
}
