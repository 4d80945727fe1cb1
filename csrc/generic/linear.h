/* generic/linear.h — dense layer kernels for one dtype (`real`, suffix R()). Compiled per ISA (csrc/isa_body.h). */

/* A GEMM split over blocks of columns of C, one packing workspace slice per part. Every element
 * of C is computed by the same operations whatever the split (the blocks are whole register
 * panels), so results are bitwise identical for any thread count. */
typedef struct {
    int trans_a, trans_b, accumulate;
    int64_t M, N, K, lda, ldb, ldc, cols;
    const real *A, *B;
    real *C, *work;
} R(gemm_cols_task);

static void R(gemm_cols_run)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(gemm_cols_task) *t = vctx;
    const int64_t j0 = begin * t->cols, j1 = end * t->cols < t->N ? end * t->cols : t->N;
    const real *B = t->B + (t->trans_b ? j0 * t->ldb : j0);
    R(gemm)(t->trans_a, t->trans_b, t->M, j1 - j0, t->K, t->A, t->lda, B, t->ldb, t->accumulate,
            t->C + j0, t->ldc, t->work + part * gemm_workspace_len());
}

static void R(gemm_mt)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const real *A,
                       int64_t lda, const real *B, int64_t ldb, int accumulate, real *C, int64_t ldc,
                       real *work, int threads)
{
    const int64_t cols = 2 * GEMM_NR; /* a multiple of the register panel */
    R(gemm_cols_task) t = {trans_a, trans_b, accumulate, M, N, K, lda, ldb, ldc, cols, A, B, C, work};
    cnn_parallel_for((N + cols - 1) / cols, cnn_work_grain((double)M * cols * K), threads,
                     R(gemm_cols_run), &t);
}

/* x (batch, in), w (out, in), b (out) or NULL, y (batch, out). */
static void R(linear_forward)(int64_t batch, int64_t in, int64_t out, const real *x,
                              const real *w, const real *b, real *y, real *work, int threads)
{
#ifdef CNN_SIMD_LINEAR_FORWARD /* float32, small batches: dot products, no packing */
    if (sizeof(real) == sizeof(float) &&
        CNN_SIMD_LINEAR_FORWARD(batch, in, out, (const float *)x, (const float *)w, (const float *)b,
                                (float *)y, threads))
        return;
#endif
    R(gemm_mt)(0, 1, batch, out, in, x, in, w, in, 0, y, out, work, threads);
    if (b)
        for (int64_t n = 0; n < batch; n++)
            for (int64_t o = 0; o < out; o++) y[n * out + o] += b[o];
}

/* db (out) = (accumulate ? db : 0) + column sums of dy (batch, out), each a double sum over the
 * rows in order (the bias gradient of a convolution with one pixel per channel, bitwise), a block
 * of outputs at a time so the rows are read contiguously and the adds vectorise across outputs. */
static void R(linear_bias_backward)(int64_t batch, int64_t out, const real *dy, real *db,
                                    int accumulate)
{
    enum { OB = 256 };
    double s[OB];
    for (int64_t o0 = 0; o0 < out; o0 += OB) {
        const int64_t ob = out - o0 < OB ? out - o0 : OB;
        for (int64_t o = 0; o < ob; o++) s[o] = 0;
        for (int64_t n = 0; n < batch; n++) {
            const real *d = dy + n * out + o0;
            for (int64_t o = 0; o < ob; o++) s[o] += d[o];
        }
        for (int64_t o = 0; o < ob; o++) db[o0 + o] = (accumulate ? db[o0 + o] : 0) + (real)s[o];
    }
}

/* dx (batch, in) = dy @ w; dw (out, in) = dy^T @ x; db (out) = column sums of dy; each added to
 * the gradient's values when `accumulate`, else written over them (no zero fill needed). */
static void R(linear_backward)(int64_t batch, int64_t in, int64_t out, const real *dy,
                               const real *x, const real *w, real *dx, real *dw, real *db,
                               int accumulate, real *work, int threads)
{
    if (db) R(linear_bias_backward)(batch, out, dy, db, accumulate);
#ifdef CNN_SIMD_LINEAR_BACKWARD /* float32, small batches: GEMMs reading w, x and dy in place */
    if (sizeof(real) == sizeof(float) &&
        CNN_SIMD_LINEAR_BACKWARD(batch, in, out, (const float *)dy, (const float *)x, (const float *)w,
                                 (float *)dx, (float *)dw, accumulate, threads))
        return;
#endif
    if (dx) R(gemm_mt)(0, 0, batch, in, out, dy, out, w, in, accumulate, dx, in, work, threads);
    if (dw) R(gemm_mt)(1, 0, out, in, batch, dy, out, x, in, accumulate, dw, in, work, threads);
}
