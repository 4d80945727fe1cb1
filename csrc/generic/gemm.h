/* generic/gemm.h — packing, micro-kernel and blocked loops of gemm() for one dtype and ISA.
 * Compiled per dtype and instruction set (csrc/isa_body.h); block sizes in kernel_support.h. */

/* Element (i, k) of op(A) and (k, j) of op(B). */
#define GEMM_A(i, k) (trans_a ? A[(k) * lda + (i)] : A[(i) * lda + (k)])
#define GEMM_B(k, j) (trans_b ? B[(j) * ldb + (k)] : B[(k) * ldb + (j)])

/* Pack op(A)[i0:i0+mc, k0:k0+kc] as row panels of MR rows: panel p holds kc columns of MR values,
 * rows past mc zero-filled. */
static void R(pack_a)(int trans_a, const real *A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                      int64_t kc, real *restrict pa)
{
    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
        int64_t mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        for (int64_t k = 0; k < kc; k++) {
            for (int64_t i = 0; i < mr; i++) pa[i] = GEMM_A(i0 + ir + i, k0 + k);
            for (int64_t i = mr; i < GEMM_MR; i++) pa[i] = 0;
            pa += GEMM_MR;
        }
    }
}

/* Pack op(B)[k0:k0+kc, j0:j0+nc] as column panels of NR columns, zero-filled past nc. */
static void R(pack_b)(int trans_b, const real *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                      int64_t nc, real *restrict pb)
{
    for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
        int64_t nr = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
        if (!trans_b && nr == GEMM_NR) {
            for (int64_t k = 0; k < kc; k++) {
                memcpy(pb, B + (k0 + k) * ldb + j0 + jr, GEMM_NR * sizeof(real));
                pb += GEMM_NR;
            }
            continue;
        }
#ifdef CNN_SIMD_PACK_BT /* a full float32 panel of B^T: 8 x 8 transposes */
        if (trans_b && nr == GEMM_NR && GEMM_NR % 8 == 0 && sizeof(real) == sizeof(float)) {
            CNN_SIMD_PACK_BT((const float *)(B + (j0 + jr) * ldb + k0), ldb, kc, GEMM_NR, (float *)pb);
            pb += kc * GEMM_NR;
            continue;
        }
#endif
        for (int64_t k = 0; k < kc; k++) {
            for (int64_t j = 0; j < nr; j++) pb[j] = GEMM_B(k0 + k, j0 + jr + j);
            for (int64_t j = nr; j < GEMM_NR; j++) pb[j] = 0;
            pb += GEMM_NR;
        }
    }
}

#undef GEMM_A
#undef GEMM_B

/* C[0:mr, 0:nr] = (accumulate ? C : 0) + pa (kc panel of MR) @ pb (kc panel of NR). */
static void R(gemm_micro)(int64_t kc, const real *restrict pa, const real *restrict pb,
                          int accumulate, real *restrict C, int64_t ldc, int64_t mr, int64_t nr)
{
    real acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int64_t k = 0; k < kc; k++) {
        for (int i = 0; i < GEMM_MR; i++) {
            const real a = pa[k * GEMM_MR + i];
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] += a * pb[k * GEMM_NR + j];
        }
    }
    for (int64_t i = 0; i < mr; i++) {
        real *c = C + i * ldc;
        if (accumulate)
            for (int64_t j = 0; j < nr; j++) c[j] += acc[i][j];
        else
            for (int64_t j = 0; j < nr; j++) c[j] = acc[i][j];
    }
}

#ifdef CNN_SIMD_GEMM_MICRO
_Static_assert(GS_MR == GEMM_MR, "the intrinsics micro-kernel's rows must match the packing");
#endif

void R(gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
             const real *B, int64_t ldb, int accumulate, real *C, int64_t ldc, real *work)
{
    real *pa = work, *pb = work + (int64_t)GEMM_MC * GEMM_KC;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(real));
        return;
    }
    for (int64_t jc = 0; jc < N; jc += GEMM_NC) {
        int64_t nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;
        for (int64_t pc = 0; pc < K; pc += GEMM_KC) {
            int64_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            int acc = accumulate || pc > 0;
            R(pack_b)(trans_b, B, ldb, pc, kc, jc, nc, pb);
            for (int64_t ic = 0; ic < M; ic += GEMM_MC) {
                int64_t mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;
                R(pack_a)(trans_a, A, lda, ic, mc, pc, kc, pa);
                for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
                    int64_t nr = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
                    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                        int64_t mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
#ifdef CNN_SIMD_GEMM_MICRO /* this ISA's float32 micro-kernel in intrinsics */
                        if (sizeof(real) == sizeof(float)) {
                            CNN_SIMD_GEMM_MICRO(kc, (const float *)(pa + ir * kc), (const float *)(pb + jr * kc),
                                                acc, (float *)(C + (ic + ir) * ldc + jc + jr), ldc, mr, nr);
                            continue;
                        }
#endif
                        R(gemm_micro)(kc, pa + ir * kc, pb + jr * kc, acc,
                                      C + (ic + ir) * ldc + jc + jr, ldc, mr, nr);
                    }
                }
            }
        }
    }
}
