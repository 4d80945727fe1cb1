/* isa_scalar.c — the kernels compiled for the baseline instruction set of the target (SSE2 on
 * x86-64, NEON on AArch64): the portable path, present on every machine. */
#include <math.h>
#include <string.h>

#include "internal.h"

#define CNN_ISA_SUFFIX _scalar
#define CNN_ISA_TABLE cnn_kernels_scalar
#define CNN_ISA_ID CNN_ISA_SCALAR
#define CNN_VEC_BYTES 16
#include "isa_body.h"
