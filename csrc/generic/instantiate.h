/* generic/instantiate.h — compiles the type-generic body named by CNN_GENERIC once per dtype:
 * with `real` = float and R(name) = name_f32, then with `real` = double and R(name) = name_f64.
 *
 *     #define CNN_GENERIC "conv.h"        (a file in generic/)
 *     #include "generic/instantiate.h"
 */
#define real float
#define R(name) name##_f32
#include CNN_GENERIC
#undef real
#undef R

#define real double
#define R(name) name##_f64
#include CNN_GENERIC
#undef real
#undef R

#undef CNN_GENERIC
