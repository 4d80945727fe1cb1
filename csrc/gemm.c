/* gemm.c — a blocked, packed matrix multiply (BLIS loop order) shared by convolution (im2col
 * tiles) and linear layers: C (M, N) (+)= op(A) (M, K) @ op(B) (K, N), row-major. The portable
 * micro-kernel is written for the compiler to vectorise; per-ISA kernels can replace it. */
#include <string.h>

#include "internal.h"

/* Register block MR x NR, cache blocks MC x KC (A) and KC x NC (B). */
#define GEMM_MR 4
#define GEMM_NR 8
#define GEMM_MC 128
#define GEMM_KC 256
#define GEMM_NC 2048

int64_t gemm_workspace_len(void)
{
    /* packed A block + packed B block */
    return (int64_t)GEMM_MC * GEMM_KC + (int64_t)GEMM_KC * GEMM_NC;
}

#define CNN_GENERIC "gemm.h"
#include "generic/instantiate.h"
