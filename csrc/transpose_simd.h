/* transpose_simd.h — packing a transposed operand of the GEMM (op(B) = B^T: linear's weight in
 * the forward pass) with 8 x 8 AVX transposes instead of one scalar gather per element (measured
 * 80 us of the 200 us forward of a 32 x 784 -> 250 linear layer went to that gather). Included by
 * the AVX2 and AVX-512 kernel files (csrc/isa_avx2.c, isa_avx512.c); moves values only, so the
 * packed panel is the generic packing's, bit for bit. */

/* dst[kk * ldd + jj] = src[jj * lds + kk] for jj, kk < 8. */
static inline void ts_transpose8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds),
                 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds),
                 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
                 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
                 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
                 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
                 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
                 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)),
                 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
                 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)),
                 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* pb[k * nr + j] = B[j * ldb + k] for j < nr (a multiple of 8: a full panel), k < kc. */
static void ts_pack_bt(const float *B, int64_t ldb, int64_t kc, int64_t nr, float *pb)
{
    const int64_t k8 = kc - kc % 8;
    for (int64_t k = 0; k < k8; k += 8)
        for (int64_t j = 0; j < nr; j += 8) ts_transpose8(B + j * ldb + k, ldb, pb + k * nr + j, nr);
    for (int64_t k = k8; k < kc; k++)
        for (int64_t j = 0; j < nr; j++) pb[k * nr + j] = B[j * ldb + k];
}
