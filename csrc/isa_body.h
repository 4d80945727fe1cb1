/* isa_body.h — the body of every per-ISA kernel translation unit: the generic kernels compiled
 * for one instruction set and the table that hands them to the entry points. The including file
 * defines CNN_ISA_SUFFIX (_scalar, _avx2, ...), CNN_ISA_TABLE, CNN_ISA_ID and CNN_VEC_BYTES, and
 * has already switched the compiler's target (and included the system headers). */
#include "kernel_support.h"

#define CNN_GENERIC "gemm.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "conv.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "linear.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "pool.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "conv_transpose_phase.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "activation.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "optim.h"
#include "generic/instantiate.h"
#define CNN_GENERIC "fused.h"
#include "generic/instantiate.h"

const cnn_kernel_table CNN_ISA_TABLE = {
    .isa = CNN_ISA_ID,
    .vec_bytes = CNN_VEC_BYTES,
    .gemm_workspace_len = gemm_workspace_len,
    .conv_resolve_algo = conv_resolve_algo,
    .conv_scratch_len = conv_scratch_len,
#define K(name) name##_f32
#define R(name) CNN_CAT3(name, _f32, CNN_ISA_SUFFIX)
#include "generic/kernel_init.h"
#undef R
#undef K
#define K(name) name##_f64
#define R(name) CNN_CAT3(name, _f64, CNN_ISA_SUFFIX)
#include "generic/kernel_init.h"
#undef R
#undef K
};
