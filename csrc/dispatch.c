/* dispatch.c — picks the kernel table: the best instruction set the CPU supports (or the one
 * cnn_set_isa asked for). x86 features come from the compiler's cpu-detection builtins, which
 * also check that the OS saves the wide registers. */
#include "internal.h"

extern const cnn_kernel_table cnn_kernels_scalar;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define CNN_HAVE_X86_TABLES 1
extern const cnn_kernel_table cnn_kernels_avx2;
extern const cnn_kernel_table cnn_kernels_avx512;
#endif

static const cnn_kernel_table *active_table;

static const cnn_kernel_table *table_for(cnn_isa isa)
{
    switch (isa) {
    case CNN_ISA_SCALAR: return &cnn_kernels_scalar;
#ifdef CNN_HAVE_X86_TABLES
    case CNN_ISA_AVX2: return &cnn_kernels_avx2;
    case CNN_ISA_AVX512: return &cnn_kernels_avx512;
#else
    default: break;
#endif
    }
    return NULL;
}

const char *cnn_isa_name(cnn_isa isa)
{
    switch (isa) {
    case CNN_ISA_SCALAR: return "scalar";
    case CNN_ISA_AVX2: return "avx2";
    case CNN_ISA_AVX512: return "avx512";
    }
    return NULL;
}

int cnn_isa_available(cnn_isa isa)
{
    if (!table_for(isa)) return 0;
#ifdef CNN_HAVE_X86_TABLES
    __builtin_cpu_init();
    if (isa == CNN_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == CNN_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return isa == CNN_ISA_SCALAR;
}

const cnn_kernel_table *cnn_kernels(void)
{
    if (!active_table) {
        cnn_isa best = CNN_ISA_SCALAR;
        if (cnn_isa_available(CNN_ISA_AVX2)) best = CNN_ISA_AVX2;
        if (cnn_isa_available(CNN_ISA_AVX512)) best = CNN_ISA_AVX512;
        active_table = table_for(best);
    }
    return active_table;
}

cnn_isa cnn_get_isa(void)
{
    return cnn_kernels()->isa;
}

cnn_status cnn_set_isa(cnn_isa isa)
{
    if (!cnn_isa_available(isa)) return CNN_EINVAL;
    active_table = table_for(isa);
    return CNN_OK;
}
