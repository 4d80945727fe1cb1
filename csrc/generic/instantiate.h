/* generic/instantiate.h — compiles the type-generic body named by CNN_GENERIC once per dtype:
 * with `real` = float and R(name) = name_f32<suffix>, then with `real` = double and
 * R(name) = name_f64<suffix>, where <suffix> is CNN_ISA_SUFFIX (empty outside the per-ISA
 * kernel translation units, e.g. _avx2 inside csrc/isa_avx2.c).
 *
 *     #define CNN_GENERIC "conv.h"        (a file in generic/)
 *     #include "generic/instantiate.h"
 */
#ifndef CNN_ISA_SUFFIX
#define CNN_ISA_SUFFIX
#endif
#define CNN_CAT3_(a, b, c) a##b##c
#define CNN_CAT3(a, b, c) CNN_CAT3_(a, b, c)

#define real float
#define R(name) CNN_CAT3(name, _f32, CNN_ISA_SUFFIX)
#include CNN_GENERIC
#undef real
#undef R

#define real double
#define R(name) CNN_CAT3(name, _f64, CNN_ISA_SUFFIX)
#include CNN_GENERIC
#undef real
#undef R

#undef CNN_GENERIC
