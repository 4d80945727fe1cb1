/* common.c — status names, overflow-checked size arithmetic, checked allocation, and the one
 * output-size function of each op family (conv, transpose conv, pooling, padding). */
#include <string.h>

#include "internal.h"

const char *cnn_strerror(cnn_status status)
{
    switch (status) {
    case CNN_OK: return "success";
    case CNN_EINVAL: return "invalid argument";
    case CNN_ESHAPE: return "incompatible shapes";
    case CNN_ENOMEM: return "out of memory";
    case CNN_EOVERFLOW: return "size overflows int64";
    case CNN_EINDEX: return "index out of range";
    case CNN_EDTYPE: return "unsupported dtype";
    }
    return "unknown status";
}

/* ---- size arithmetic ------------------------------------------------------------------------------- */

cnn_status cnn_mul_sizes(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return CNN_EINVAL;
    if (a != 0 && b > INT64_MAX / a) return CNN_EOVERFLOW;
    *out = a * b;
    return CNN_OK;
}

cnn_status cnn_add_sizes(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return CNN_EINVAL;
    if (a > INT64_MAX - b) return CNN_EOVERFLOW;
    *out = a + b;
    return CNN_OK;
}

cnn_status cnn_numel(int ndim, const int64_t *shape, int64_t *out)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        cnn_status st = cnn_mul_sizes(n, shape[i], &n);
        if (st != CNN_OK) return st;
    }
    *out = n;
    return CNN_OK;
}

cnn_status cnn_alloc(int64_t count, size_t elsize, void **out)
{
    int64_t bytes;
    *out = NULL;
    if (elsize > (size_t)INT64_MAX) return CNN_EOVERFLOW;
    cnn_status st = cnn_mul_sizes(count, (int64_t)elsize, &bytes);
    if (st != CNN_OK) return st;
    if ((uint64_t)bytes > (uint64_t)SIZE_MAX) return CNN_EOVERFLOW;
    *out = malloc(bytes > 0 ? (size_t)bytes : 1);
    return *out ? CNN_OK : CNN_ENOMEM;
}

/* ---- the reused workspace ------------------------------------------------------------------------ */
/* One buffer, kept between calls and grown as needed (up to CNN_WORKSPACE_KEEP bytes), serves the
 * scratch of one operation at a time; a call that finds it taken (another thread's operation in
 * flight) or needs more allocates its own. So steady-state training allocates no scratch. */
#define CNN_WORKSPACE_KEEP ((int64_t)64 << 20)

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
static atomic_flag ws_busy = ATOMIC_FLAG_INIT;
static _Atomic(void *) ws_buf;
static int64_t ws_len; /* bytes of ws_buf; touched only by the holder of ws_busy */

cnn_status cnn_workspace_get(int64_t count, size_t elsize, void **out)
{
    int64_t bytes;
    *out = NULL;
    if (elsize > (size_t)INT64_MAX) return CNN_EOVERFLOW;
    cnn_status st = cnn_mul_sizes(count, (int64_t)elsize, &bytes);
    if (st != CNN_OK) return st;
    if (bytes <= CNN_WORKSPACE_KEEP && !atomic_flag_test_and_set_explicit(&ws_busy, memory_order_acquire)) {
        void *buf = atomic_load_explicit(&ws_buf, memory_order_relaxed);
        if (bytes > ws_len) { /* unpublish before freeing: a put of a recycled address must not match */
            atomic_store_explicit(&ws_buf, NULL, memory_order_relaxed);
            free(buf);
            buf = malloc(bytes > 0 ? (size_t)bytes : 1);
            ws_len = buf ? bytes : 0;
            atomic_store_explicit(&ws_buf, buf, memory_order_relaxed);
        }
        if (buf) {
            *out = buf;
            return CNN_OK;
        }
        atomic_flag_clear_explicit(&ws_busy, memory_order_release);
        return CNN_ENOMEM;
    }
    return cnn_alloc(count, elsize, out);
}

void cnn_workspace_put(void *p)
{
    if (p && p == atomic_load_explicit(&ws_buf, memory_order_relaxed))
        atomic_flag_clear_explicit(&ws_busy, memory_order_release);
    else
        free(p);
}
#else /* no C11 atomics: every call allocates */
cnn_status cnn_workspace_get(int64_t count, size_t elsize, void **out)
{
    return cnn_alloc(count, elsize, out);
}

void cnn_workspace_put(void *p)
{
    free(p);
}
#endif

cnn_status cnn_calloc(int64_t count, size_t elsize, void **out)
{
    cnn_status st = cnn_alloc(count, elsize, out);
    if (st == CNN_OK && count > 0) memset(*out, 0, (size_t)count * elsize);
    return st;
}

/* ---- output sizes ------------------------------------------------------------------------------------ */

/* span = dilation*(k-1) + 1, the extent of a dilated kernel. */
static cnn_status dilated_span(int64_t k, int64_t dilation, int64_t *span)
{
    cnn_status st = cnn_mul_sizes(dilation, k - 1, span);
    if (st != CNN_OK) return st;
    return cnn_add_sizes(*span, 1, span);
}

cnn_status cnn_conv_out_len(int64_t n, int64_t k, int64_t stride, int64_t pad_before,
                            int64_t pad_after, int64_t dilation, int64_t *out)
{
    int64_t span, padded;
    cnn_status st;
    if (n < 1 || k < 1 || stride < 1 || dilation < 1 || pad_before < 0 || pad_after < 0)
        return CNN_EINVAL;
    if ((st = dilated_span(k, dilation, &span)) != CNN_OK) return st;
    if ((st = cnn_add_sizes(n, pad_before, &padded)) != CNN_OK) return st;
    if ((st = cnn_add_sizes(padded, pad_after, &padded)) != CNN_OK) return st;
    if (padded < span) return CNN_ESHAPE;
    *out = (padded - span) / stride + 1;
    return CNN_OK;
}

cnn_status cnn_conv_transpose_out_len(int64_t n, int64_t k, int64_t stride, int64_t pad,
                                      int64_t dilation, int64_t output_padding, int64_t *out)
{
    int64_t span, len;
    cnn_status st;
    if (n < 1 || k < 1 || stride < 1 || dilation < 1 || pad < 0 || output_padding < 0)
        return CNN_EINVAL;
    if (output_padding >= stride && output_padding >= dilation) return CNN_EINVAL;
    if ((st = cnn_mul_sizes(n - 1, stride, &len)) != CNN_OK) return st;
    if ((st = dilated_span(k, dilation, &span)) != CNN_OK) return st;
    if ((st = cnn_add_sizes(len, span, &len)) != CNN_OK) return st;
    if ((st = cnn_add_sizes(len, output_padding, &len)) != CNN_OK) return st;
    /* len >= 1 here; 2*pad <= len is tested without forming 2*pad. A padding that crops the
     * whole output leaves an empty one (as zero channels do); cropping more is an error. */
    if (pad > len / 2) return CNN_ESHAPE;
    *out = len - 2 * pad;
    return CNN_OK;
}

cnn_status cnn_pool_out_len(int64_t n, int64_t k, int64_t stride, int64_t pad, int64_t dilation,
                            int ceil_mode, int64_t *out)
{
    int64_t span, padded, len;
    cnn_status st;
    if (n < 1 || k < 1 || stride < 1 || dilation < 1 || pad < 0 || pad > k / 2) return CNN_EINVAL;
    if ((st = dilated_span(k, dilation, &span)) != CNN_OK) return st;
    if ((st = cnn_add_sizes(n, pad, &padded)) != CNN_OK) return st;
    if ((st = cnn_add_sizes(padded, pad, &padded)) != CNN_OK) return st;
    if (padded < span) return CNN_ESHAPE;
    len = (padded - span) / stride + 1;
    if (ceil_mode && (padded - span) % stride != 0) {
        len += 1;
        /* PyTorch drops a last window that would start inside the right padding. */
        int64_t reach = padded - pad; /* n + pad */
        if (len - 1 >= reach / stride + (reach % stride != 0)) len -= 1; /* (len-1)*stride >= reach */
    }
    *out = len;
    return CNN_OK;
}

cnn_status cnn_pad_out_len(int64_t n, int64_t before, int64_t after, cnn_pad_mode mode,
                           int64_t *out)
{
    if (n < 0) return CNN_EINVAL;
    if ((int)mode < CNN_PAD_CONSTANT || (int)mode > CNN_PAD_CIRCULAR) return CNN_EINVAL;
    /* |pad| <= INT64_MAX / 4 keeps every sum below in range. */
    if (before > INT64_MAX / 4 || after > INT64_MAX / 4 || before < -(INT64_MAX / 4) ||
        after < -(INT64_MAX / 4) || n > INT64_MAX / 4)
        return CNN_EOVERFLOW;
    const int64_t len = n + before + after;
    /* Circular mode wraps around what the crops leave; it must not be empty, nor crop past it. */
    const int64_t kept = n + (before < 0 ? before : 0) + (after < 0 ? after : 0);
    if (len < 0 || kept < 0) return CNN_ESHAPE;
    if (mode == CNN_PAD_CIRCULAR && kept == 0 && len > 0) return CNN_ESHAPE;
    /* Reflecting or replicating an empty axis has nothing to copy. */
    if (mode != CNN_PAD_CONSTANT && n == 0 && len > 0) return CNN_ESHAPE;
    *out = len;
    return CNN_OK;
}
