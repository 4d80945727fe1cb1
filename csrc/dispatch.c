/* dispatch.c — picks the kernel table: the best instruction set the CPU supports (or the one
 * cnn_set_isa asked for). x86 features come from cpuid and xgetbv (platform.c), which also check
 * that the OS saves the wide registers. The AVX2/AVX-512 tables exist where the compiler can
 * target them per file (CNN_X86_TARGET_PRAGMAS: GCC, Clang, clang-cl); MSVC's cl.exe builds the
 * portable table only. */
#include "internal.h"
#include "platform.h"

extern const cnn_kernel_table cnn_kernels_scalar;
#if defined(CNN_X86_TARGET_PRAGMAS)
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
    if (isa == CNN_ISA_AVX2) return cnn_cpu_has_avx2_fma();
    if (isa == CNN_ISA_AVX512) return cnn_cpu_has_avx512();
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
