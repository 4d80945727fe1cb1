/* gemm_simd.h — the float32 GEMM micro-kernel in intrinsics: an MR x 2-vector tile of C held in
 * registers (6 x 16 floats with AVX2's 16 registers), updated by one
 * broadcast of packed A and two vector loads of packed B per FMA pair. Same operations in the same
 * order as R(gemm_micro) in generic/gemm.h (one fused multiply-add per k), so its results are the
 * generic kernel's. Included by isa_avx2.c after its ds_vec layer (direct_simd.h's), with GS_MR
 * equal to kernel_support.h's GEMM_MR. With AVX2 it doubles the GEMM rate over the compiler's
 * 4 x 1-vector block (about 50 -> 92 GFLOP/s on 256^3 on one core); with AVX-512 GCC already
 * keeps the generic 12 x 2-vector block in registers. */

/* C[0:mr, 0:nr] = (accumulate ? C : 0) + pa (kc x MR panel) @ pb (kc x 2*DS_VW panel). */
static void gs_micro(int64_t kc, const float *restrict pa, const float *restrict pb, int accumulate,
                     float *restrict C, int64_t ldc, int64_t mr, int64_t nr)
{
    enum { MR = GS_MR, NR = 2 * DS_VW };
    ds_vec acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = ds_zero();
    for (int64_t k = 0; k < kc; k++) {
        const ds_vec b0 = ds_load(pb), b1 = ds_load(pb + DS_VW);
        for (int i = 0; i < MR; i++) {
            const ds_vec a = ds_set1(pa[i]);
            acc[i][0] = ds_fma(a, b0, acc[i][0]);
            acc[i][1] = ds_fma(a, b1, acc[i][1]);
        }
        pa += MR;
        pb += NR;
    }
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            float *c = C + i * ldc;
            if (accumulate) {
                acc[i][0] = ds_add(ds_load(c), acc[i][0]);
                acc[i][1] = ds_add(ds_load(c + DS_VW), acc[i][1]);
            }
            ds_store(c, acc[i][0]);
            ds_store(c + DS_VW, acc[i][1]);
        }
        return;
    }
    float tile[MR][NR];
    for (int i = 0; i < MR; i++) {
        ds_store(tile[i], acc[i][0]);
        ds_store(tile[i] + DS_VW, acc[i][1]);
    }
    for (int64_t i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        if (accumulate)
            for (int64_t j = 0; j < nr; j++) c[j] += tile[i][j];
        else
            for (int64_t j = 0; j < nr; j++) c[j] = tile[i][j];
    }
}
