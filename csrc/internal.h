/* internal.h — what the engine's files share and nobody outside csrc/ sees: checked allocation,
 * the convolution geometry the kernels run on, and the GEMM and im2col helpers.
 * Type-generic bodies live in csrc/generic/ and are compiled once per dtype by
 * generic/instantiate.h, with `real` the element type and R(name) the suffixed name. */
#ifndef CNN_INTERNAL_H
#define CNN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cnn.h"
#include "kinds.h"
#include "platform.h" /* portability macros (CNN_FORCE_INLINE, ...) */

/* ---- checked allocation ------------------------------------------------------------------------ */

/* *out = malloc(count * elsize) with the product overflow-checked; count 0 allocates one byte so a
 * NULL pointer always means failure. Freed with free(). */
cnn_status cnn_alloc(int64_t count, size_t elsize, void **out);
/* Same, zero-filled. */
cnn_status cnn_calloc(int64_t count, size_t elsize, void **out);
/* Scratch for one operation: the reused workspace when it is free and large enough (grown up to a
 * cap), else a fresh allocation; contents undefined. Give it back with cnn_workspace_put. */
cnn_status cnn_workspace_get(int64_t count, size_t elsize, void **out);
void cnn_workspace_put(void *p);
/* *out = the product of shape[0..ndim-1], overflow-checked. */
cnn_status cnn_numel(int ndim, const int64_t *shape, int64_t *out);

/* ---- threads -------------------------------------------------------------------------------------------- */

/* fn(ctx, begin, end, part) runs items [begin, end) as range number `part` (0 <= part < the
 * ranges used, at most max_parts: a kernel gives each part its own slice of scratch). */
typedef void (*cnn_task_fn)(void *ctx, int64_t begin, int64_t end, int part);
/* Runs items [0, n) split into at most min(threads, max_parts) contiguous ranges of at least
 * `grain` items, the calling thread taking the first; returns when all are done. Items must be
 * independent, so the result is the same for any split. */
void cnn_parallel_for(int64_t n, int64_t grain, int max_parts, cnn_task_fn fn, void *ctx);

/* The grain for items of `work` multiply-adds (or element visits) each: a part gets at least
 * cnn_min_part_work, because handing a range to another thread costs a microsecond or two even
 * when that thread is awake (a 4x4 convolution split in two took 2 us instead of 0.7). The
 * work is a product of sizes, in double so that hostile geometries cannot overflow it. */
extern int64_t cnn_min_part_work; /* cnn_set_min_part_work; default 2^17 */
static inline int64_t cnn_work_grain(double work) /* double: the products may pass INT64_MAX */
{
    const int64_t least = cnn_min_part_work;
    if (work >= (double)least) return 1;
    return work < 1 ? least : (int64_t)((double)least / work) + 1;
}

/* ---- convolution geometry ------------------------------------------------------------------------ */

/* What a convolution kernel needs: the input (N, C_in, H, W), the output (N, C_out, OH, OW), the
 * kernel, strides, dilations and the top/left zero padding. The bottom/right padding only matters
 * for OH/OW, which are given explicitly: transpose convolution runs the same kernels with output
 * padding that no symmetric conv padding describes. Every input read is bounds-checked against H, W. */
typedef struct {
    int64_t N, C_in, H, W, C_out, OH, OW;
    int64_t kH, kW, sH, sW, dilH, dilW, pT, pL, groups; /* dil: dilation */
    int threads; /* scratch slices allocated, one per thread that may run (conv_prepare sets it) */
} conv_geom;

/* Fill g from a descriptor, validating it. */
cnn_status conv_geom_from_desc(const cnn_conv2d_desc *d, conv_geom *g);

/* Rows and columns of the zero-padded input the outputs read (the direct kernels' padded copy,
 * the blocked image tiles' layout):
 * ((OH-1)*sH + dilH*(kH-1) + 1) x ((OW-1)*sW + dilW*(kW-1) + 1). */
static inline void direct_padded_dims(const conv_geom *g, int64_t *Hp, int64_t *Wp)
{
    *Hp = (g->OH - 1) * g->sH + (g->kH - 1) * g->dilH + 1;
    *Wp = (g->OW - 1) * g->sW + (g->kW - 1) * g->dilW + 1;
}

struct cnn_kernel_table; /* below */

/* Checks dtype and algo, resolves AUTO and allocates the scratch (*scratch NULL when none is
 * needed), so that nothing can fail once outputs are being written. Give it back with
 * cnn_workspace_put. *table is the kernel table the scratch was sized for: the call must run
 * its kernels from it (cnn_set_isa from another thread may change cnn_kernels() meanwhile). */
cnn_status conv_prepare(conv_geom *g, cnn_dtype dtype, cnn_algo *algo, void **scratch,
                        const struct cnn_kernel_table **table);

/* Cross entropy (cnn_cross_entropy_forward / _backward) with the caller's scratch of `classes`
 * doubles instead of an allocation (a network's arena). */
cnn_status cnn_cross_entropy_forward_ws(cnn_dtype dtype, int64_t batch, int64_t classes,
                                        int64_t inner, const void *x, const int64_t *t,
                                        const void *w, int64_t ignore_index,
                                        double label_smoothing, cnn_reduction red, void *loss,
                                        double *work);
cnn_status cnn_cross_entropy_backward_ws(cnn_dtype dtype, int64_t batch, int64_t classes,
                                         int64_t inner, const void *dloss, const void *x,
                                         const int64_t *t, const void *w, int64_t ignore_index,
                                         double label_smoothing, cnn_reduction red, void *dx,
                                         double *work);

/* Running double sums per channel of a convolution's bias gradient (generic/conv.h's
 * bias_sum_add, shared by bias_backward and the fused backward): independent chains, so the
 * float-to-double adds pipeline (8 chains of one vector were bound by the add latency, about 2
 * floats per cycle). */
#define CNN_DB_LANES 32

/* ---- fused layers of a network (generic/fused.h, run by net_run.c) ------------------------------ */

/* A convolution (or transpose convolution) with its bias, an optional activation and an optional
 * pooling whose window equals its stride (no padding, dilation 1, floor mode), before or after
 * the activation. The forward runs the convolution's own kernels on tiles of output rows (a
 * tile's conv_geom has N = 1, fewer output rows and a top padding pT that may be negative: the
 * rows above the tile) and applies the activation and the pooling to each tile while it is in
 * cache, writing the group's output and per output element one mask byte (mask_bytes) instead
 * of the full-size intermediates. The backward rebuilds the convolution's output gradient image
 * by image from the output gradient and those bytes, and runs the convolution's weight-gradient
 * kernel image by image (the same per-element order as one call over the batch). */
enum net_pool_kind { NET_POOL_NONE, NET_POOL_MAX, NET_POOL_AVG };

typedef struct {
    conv_geom g;        /* the whole convolution (transpose: the conv whose input gradient it is);
                         * g.threads = the parts the arena's scratch was planned for */
    cnn_algo algo;      /* resolved, never AUTO */
    int transpose;      /* 1: forward = the transpose convolution's plan (ct), then the
                         * activation in place; no pool */
    int act;            /* -1 none, else an enum act_kind */
    int act_after_pool; /* the activation follows the pooling (conv -> pool -> act) */
    double slope;       /* leaky relu */
    int pool;           /* enum net_pool_kind */
    int64_t pk_h, pk_w; /* pooling window = stride */
    int64_t divisor_override; /* average pooling (0: none) */
    int count_include_pad;    /* average pooling (no padding here: no effect on the divisor) */
    int64_t C, OH, OW;  /* the convolution's output: channels and plane (transpose: g.C_in, g.H, g.W) */
    int64_t PH, PW;     /* the group's output plane (OH, OW without pooling) */
    int64_t tile_rows;  /* convolution output rows per forward item (a multiple of pk_h) */
    int64_t mask_bytes; /* per group output element (0: none) */
    int save_act;       /* keep the activation of every conv output (sigmoid/tanh before avg pool) */
    int dw_per_image;   /* backward: dw and db from the rebuilt gradient image by image (groups 1) */
    /* arrays of the network's dtype (void: one struct for both) */
    const void *x, *w, *b; /* conv input (N, C_in, H, W) (transpose: its input), weight, bias or NULL */
    void *y;            /* group output (N, C, PH, PW) */
    uint8_t *mask;      /* (N, C, PH, PW) x mask_bytes */
    void *act_out;      /* (N, C, OH, OW) when save_act */
    void *scratch;      /* g.threads slices of scratch_len elements */
    int64_t scratch_len;
    const void *dy;     /* backward: gradient of the group output */
    void *dw, *db;      /* backward: += (NULL skips) */
    void *dconv;        /* backward: NULL, or (N, C, OH, OW) receives the conv output gradient */
    const struct convt_plan *ct; /* transpose: the layer's plan, bound to the scratch */
} net_fused;

/* Scratch elements one part of a fused forward or backward needs besides the convolution
 * kernel's own (which the caller sizes with conv_scratch_len on the tile geometries). */
int64_t net_fused_tile_len(const net_fused *f);
/* Tile geometry: image-less conv output rows [r0, r1) of g as their own convolution. */
void net_conv_rows(const conv_geom *g, int64_t r0, int64_t r1, conv_geom *t);

#include "conv_transpose_plan.h" /* transpose convolution by output phases */

/* ---- kernel tables: one per instruction set, chosen at run time ------------------------------------ */

/* Every hot kernel, for both dtypes, compiled once per instruction set (csrc/isa_*.c). The entry
 * points in conv.c, pool.c, ... validate their arguments and call through cnn_kernels(). */
typedef struct cnn_kernel_table {
    cnn_isa isa;
    int vec_bytes; /* the width of this instruction set's vectors (CNN_VEC_BYTES) */
    /* elements of GEMM packing workspace the gemm/linear kernels need */
    int64_t (*gemm_workspace_len)(void);
    /* the kernel AUTO means for g (algo itself when not AUTO), and its scratch in elements for
     * g->threads threads */
    cnn_algo (*conv_resolve_algo)(const conv_geom *g, cnn_algo algo);
    cnn_status (*conv_scratch_len)(const conv_geom *g, cnn_algo algo, int64_t *len);
#define K(name) name##_f32
#define real float
#include "generic/kernel_table.h"
#undef real
#undef K
#define K(name) name##_f64
#define real double
#include "generic/kernel_table.h"
#undef real
#undef K
} cnn_kernel_table;

/* The active table (the best instruction set the CPU supports, or the one cnn_set_isa chose). */
const cnn_kernel_table *cnn_kernels(void);

#endif /* CNN_INTERNAL_H */
