/* dense_simd.h — float32 dense-layer kernels for small batches (up to DN_MAX_BATCH rows) in vector
 * intrinsics, reading both operands where they lie (no transposed copy of the weight; B of the
 * backward GEMMs is copied to a contiguous panel only when its rows are a multiple of 256 bytes
 * apart):
 *   forward   y = x w^T + b: dot products along the input features, a register tile of DN_DR
 *             batch rows x DN_DO outputs, each accumulator a vector of partial sums along k,
 *             summed across lanes in a fixed order at the end;
 *   backward  dx += dy w and dw += dy^T x: C += A B with B's rows contiguous (w's rows, x's rows)
 *             and A read through strides (dy or its transpose), a register tile of DN_GR rows x
 *             DN_GNV vectors of columns, one broadcast of A feeding DN_GNV fused multiply-adds.
 * Every output element is computed by one thread in a fixed order: results do not depend on the
 * thread count. Included by csrc/isa_avx2.c and isa_avx512.c after direct_simd.h's vector layer. */

#if DS_VW >= 16
#define DN_DR 4
#define DN_DO 5
#define DN_GR 8
#define DN_GNV 3
#else
#define DN_DR 4
#define DN_DO 3
#define DN_GR 4
#define DN_GNV 3
#endif
#ifndef DN_MAX_BATCH
#define DN_MAX_BATCH 64
#endif

/* ---- forward: dot products ------------------------------------------------------------------ */

/* y[r*ldy + o] = sum over k < K of x[r*K + k] * w[o*K + k] (+ bias[o]) for r < rv <= DN_DR,
 * o < ov <= DN_DO, added to what y holds when `accumulate`; rows and outputs past rv, ov repeat
 * the last ones and are dropped. */
static void dn_dot_tile(const float *restrict x, int64_t rv, const float *restrict w, int64_t ov,
                        int64_t K, const float *bias, float *restrict y, int64_t ldy, int accumulate)
{
    const float *xr[DN_DR], *wr[DN_DO];
    ds_vec acc[DN_DR][DN_DO];
#pragma GCC unroll 16
    for (int r = 0; r < DN_DR; r++) xr[r] = x + (r < rv ? r : rv - 1) * K;
#pragma GCC unroll 16
    for (int o = 0; o < DN_DO; o++) wr[o] = w + (o < ov ? o : ov - 1) * K;
#pragma GCC unroll 16
    for (int r = 0; r < DN_DR; r++)
#pragma GCC unroll 16
        for (int o = 0; o < DN_DO; o++) acc[r][o] = ds_zero();
    int64_t k = 0;
    for (; k + DS_VW <= K; k += DS_VW) {
        ds_vec wv[DN_DO];
#pragma GCC unroll 16
        for (int o = 0; o < DN_DO; o++) wv[o] = ds_load(wr[o] + k);
#pragma GCC unroll 16
        for (int r = 0; r < DN_DR; r++) {
            const ds_vec xv = ds_load(xr[r] + k);
#pragma GCC unroll 16
            for (int o = 0; o < DN_DO; o++) acc[r][o] = ds_fma(xv, wv[o], acc[r][o]);
        }
    }
    if (k < K) { /* the last K % DS_VW features: the lanes past them load as 0 */
        ds_vec wv[DN_DO];
#pragma GCC unroll 16
        for (int o = 0; o < DN_DO; o++) wv[o] = ds_load_part(wr[o] + k, K - k);
#pragma GCC unroll 16
        for (int r = 0; r < DN_DR; r++) {
            const ds_vec xv = ds_load_part(xr[r] + k, K - k);
#pragma GCC unroll 16
            for (int o = 0; o < DN_DO; o++) acc[r][o] = ds_fma(xv, wv[o], acc[r][o]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < DN_DR; r++)
#pragma GCC unroll 16
        for (int o = 0; o < DN_DO; o++)
            if (r < rv && o < ov) {
                const float s = ds_hsum(acc[r][o]), v = bias ? s + bias[o] : s;
                y[r * ldy + o] = accumulate ? y[r * ldy + o] + v : v;
            }
}

typedef struct {
    int64_t batch, in, out;
    const float *x, *w, *b;
    float *y;
} dn_fwd_args;

/* Items: blocks of DN_DO outputs, each over the whole batch (its weight rows stay in L1). */
static void dn_forward_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const dn_fwd_args *t = vctx;
    (void)part;
    for (int64_t blk = begin; blk < end; blk++) {
        const int64_t o0 = blk * DN_DO, ov = t->out - o0 < DN_DO ? t->out - o0 : DN_DO;
        for (int64_t r0 = 0; r0 < t->batch; r0 += DN_DR)
            dn_dot_tile(t->x + r0 * t->in, t->batch - r0 < DN_DR ? t->batch - r0 : DN_DR,
                        t->w + o0 * t->in, ov, t->in, t->b ? t->b + o0 : NULL,
                        t->y + r0 * t->out + o0, t->out, 0);
    }
}

/* y (batch, out) = x (batch, in) @ w^T (w is (out, in)) + b. Returns 0 (nothing done) for a batch
 * the GEMM serves better. */
static int dn_linear_forward(int64_t batch, int64_t in, int64_t out, const float *x,
                             const float *w, const float *b, float *y, int threads)
{
    if (batch > DN_MAX_BATCH || in < DS_VW) return 0;
    dn_fwd_args t = {batch, in, out, x, w, b, y};
    const int64_t blocks = (out + DN_DO - 1) / DN_DO;
    cnn_parallel_for(blocks, cnn_work_grain((double)batch * in * DN_DO), threads, dn_forward_task, &t);
    return 1;
}

/* ---- backward: C += A B, B's rows contiguous ---------------------------------------------------- */

/* C[i*ldc + j] (+)= sum over k < K of A[i*ars + k*aks] * B[k*ldb + j] for i < iv <= DN_GR and
 * the columns of DN_GNV vectors from C's (and B's) first; `masked`: only the first nj columns (the
 * rest are neither read nor written). Rows past iv repeat the last one and are dropped. The sum
 * starts from C (`accumulate`) or from zero and adds the products in order of k. */
CNN_FORCE_INLINE void
dn_gemm_tile(const float *restrict A, int64_t ars, int64_t aks, int64_t iv, const float *restrict B,
             int64_t ldb, int64_t K, int accumulate, float *restrict C, int64_t ldc, const int masked,
             int64_t nj)
{
    const float *ar[DN_GR];
    ds_vec acc[DN_GR][DN_GNV];
    int64_t n[DN_GNV];
#pragma GCC unroll 16
    for (int v = 0; v < DN_GNV; v++) {
        const int64_t left = nj - v * DS_VW;
        n[v] = left < 0 ? 0 : left < DS_VW ? left : DS_VW;
    }
#pragma GCC unroll 16
    for (int i = 0; i < DN_GR; i++) {
        ar[i] = A + (i < iv ? i : iv - 1) * ars;
        const float *c = C + (i < iv ? i : iv - 1) * ldc;
#pragma GCC unroll 16
        for (int v = 0; v < DN_GNV; v++)
            acc[i][v] = !accumulate ? ds_zero()
                        : masked    ? ds_load_part(c + v * DS_VW, n[v])
                                    : ds_load(c + v * DS_VW);
    }
    for (int64_t k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        ds_vec bv[DN_GNV];
#pragma GCC unroll 16
        for (int v = 0; v < DN_GNV; v++) bv[v] = masked ? ds_load_part(b + v * DS_VW, n[v]) : ds_load(b + v * DS_VW);
#pragma GCC unroll 16
        for (int i = 0; i < DN_GR; i++) {
            const ds_vec a = ds_set1(ar[i][k * aks]);
#pragma GCC unroll 16
            for (int v = 0; v < DN_GNV; v++) acc[i][v] = ds_fma(a, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < DN_GR; i++) { /* constant indices: acc stays in registers */
        if (i >= iv) break;
        float *c = C + i * ldc;
#pragma GCC unroll 16
        for (int v = 0; v < DN_GNV; v++) {
            if (!masked)
                ds_store(c + v * DS_VW, acc[i][v]);
            else if (n[v])
                ds_store_part(c + v * DS_VW, acc[i][v], n[v]);
        }
    }
}

typedef struct {
    int64_t M, N, K, ars, aks, ldb, ldc;
    const float *A, *B;
    float *C;
    int accumulate;
} dn_gemm_args;

#define DN_KC 256 /* rows of B per packed panel */

/* Items: column blocks of DN_GNV vectors, each over every row (B's columns stay in L1). When B's
 * rows lie a multiple of 256 bytes apart they would share a few L1 sets and evict each other, so
 * the block's slice of B is first copied, DN_KC rows at a time, into a contiguous panel (zeros
 * past the last column). Each tile continues C's sum in order of k, so the result does not depend
 * on the chunking. */
static void dn_gemm_task(void *vctx, int64_t begin, int64_t end, int part)
{
    const dn_gemm_args *t = vctx;
    enum { COLS = DN_GNV * DS_VW };
    const int pack = t->ldb % 64 == 0;
    float pb[DN_KC * COLS];
    (void)part;
    for (int64_t blk = begin; blk < end; blk++) {
        const int64_t j0 = blk * COLS, nj = t->N - j0 < COLS ? t->N - j0 : COLS;
        for (int64_t k0 = 0; k0 < t->K; k0 += DN_KC) {
            const int64_t kv = t->K - k0 < DN_KC ? t->K - k0 : DN_KC;
            const float *B = t->B + k0 * t->ldb + j0;
            int64_t ldb = t->ldb;
            if (pack) {
                for (int64_t k = 0; k < kv; k++)
#pragma GCC unroll 16
                    for (int v = 0; v < DN_GNV; v++) {
                        const int64_t n = nj - v * DS_VW;
                        const float *b = B + k * ldb + v * DS_VW;
                        ds_store(pb + k * COLS + v * DS_VW,
                                 n >= DS_VW ? ds_load(b) : n > 0 ? ds_load_part(b, n) : ds_zero());
                    }
                B = pb, ldb = COLS;
            }
            for (int64_t i0 = 0; i0 < t->M; i0 += DN_GR) {
                const int64_t iv = t->M - i0 < DN_GR ? t->M - i0 : DN_GR;
                const float *A = t->A + i0 * t->ars + k0 * t->aks;
                float *C = t->C + i0 * t->ldc + j0;
                const int acc = t->accumulate || k0 > 0;
                if (nj == COLS)
                    dn_gemm_tile(A, t->ars, t->aks, iv, B, ldb, kv, acc, C, t->ldc, 0, COLS);
                else
                    dn_gemm_tile(A, t->ars, t->aks, iv, B, ldb, kv, acc, C, t->ldc, 1, nj);
            }
        }
    }
}

static void dn_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars, int64_t aks,
                    const float *B, int64_t ldb, int accumulate, float *C, int64_t ldc, int threads)
{
    dn_gemm_args t = {M, N, K, ars, aks, ldb, ldc, A, B, C, accumulate};
    const int64_t cols = DN_GNV * DS_VW;
    cnn_parallel_for((N + cols - 1) / cols, cnn_work_grain((double)M * K * cols), threads,
                     dn_gemm_task, &t);
}

/* dx (batch, in) (+)= dy (batch, out) @ w; dw (out, in) (+)= dy^T @ x, added to the gradients
 * when `accumulate`, else written over them. Returns 0 (nothing done) for a batch the GEMM serves
 * better; db is left to the caller. */
static int dn_linear_backward(int64_t batch, int64_t in, int64_t out, const float *dy,
                              const float *x, const float *w, float *dx, float *dw, int accumulate,
                              int threads)
{
    if (batch > DN_MAX_BATCH || in < DS_VW || batch == 0 || out == 0) return 0; /* K = 0: GEMM */
    if (dx) dn_gemm(batch, in, out, dy, out, 1, w, in, accumulate, dx, in, threads);
    if (dw) dn_gemm(out, in, batch, dy, 1, out, x, in, accumulate, dw, in, threads);
    return 1;
}
