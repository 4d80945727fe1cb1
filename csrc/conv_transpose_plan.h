/* conv_transpose_plan.h — the plan of one transpose-convolution geometry: made and bound to scratch
 * by conv_transpose.c, run by the kernels of generic/conv_transpose_phase.h (through the kernel
 * table), so that a caller with its own scratch arena (the network engine) makes it once per layer
 * and runs it every step without allocating. Included by internal.h.
 *
 * Output phases. Along one axis, a stride-s transpose convolution writes output o = i*s - p + kk*d
 * from input i and kernel tap kk. Its outputs split into s phases, o = a + j*s (j = 0, 1, ...):
 * phase a receives exactly the taps with kk*d - p ≡ a (mod s), tap kk reading input
 * i = j + off, off = (a + p - kk*d) / s. Each phase is an ordinary stride-1 convolution, so every
 * output is computed once from the taps that reach it, with no multiplication by an inserted zero
 * (Shi et al. 2016, "Is the deconvolution layer the same as a convolutional layer?"; XNNPACK's
 * subconv2d). For k4 s2 p1: even outputs take taps {1, 3}, odd outputs taps {0, 2}; for k3 s2 p0:
 * even outputs {0, 2}, odd {1}. The weight gradient is one reduction per phase; the input gradient
 * is an ordinary stride-s convolution of dy (a gather), run by the convolution kernels; AUTO runs
 * the weight gradient on them too (see convt_plan_make). */
#ifndef CNN_CONV_TRANSPOSE_PLAN_H
#define CNN_CONV_TRANSPOSE_PLAN_H

#include <stdint.h>

/* One axis: the taps of each phase (a < phases), in ascending kernel index. */
typedef struct {
    int64_t n_in, n_out, s;  /* input and output lengths, stride */
    int64_t phases;          /* min(s, n_out): the phases that have outputs */
    int64_t max_taps;        /* the most taps of any phase */
    const int64_t *first;    /* phases + 1 entries: phase a owns taps [first[a], first[a+1]) */
    const int64_t *kk, *off; /* per tap: kernel index, input offset */
} convt_axis;

/* Which kernels run the forward and the weight gradient: the reference loops; the general path
 * (the convolution kernels with the roles of input and output exchanged: a scatter with col2im
 * for the forward); the output phases with a direct row kernel (small channel counts) or with
 * im2col tiles and a GEMM per phase. The input gradient always runs the convolution forward. */
typedef enum { CONVT_REFERENCE, CONVT_GENERAL, CONVT_PHASE_DIRECT, CONVT_PHASE_GEMM } convt_path;

/* The direct phase kernels: output channels per tile, the most output columns per tile (the
 * padded input copy has room for a tile that runs past a phase's last column), the most lanes of
 * a vector (AVX-512 float32). */
#define CONVT_CB 6
#define CONVT_JV 32
#define CONVT_VL 16

struct cnn_kernel_table;

typedef struct convt_plan {
    const struct cnn_kernel_table *k; /* the kernel table the scratch is sized for */
    int64_t N, C_in, C_out, H, W, OH, OW, kH, kW, groups; /* x (N, C_in, H, W), y (N, C_out, OH, OW) */
    convt_axis ah, aw;          /* rows and columns (bound: convt_plan_bind) */
    conv_geom g;                /* the convolution whose input gradient this is: conv input = y */
    cnn_algo conv_algo;         /* g's kernel (dx, and the general path) */
    convt_path path;
    int dw_conv;                /* the weight gradient runs g's (conv_backward_weight) rather than
                                   the phase path's direct kernel: AUTO, measured faster */
    int threads;                /* scratch slices */
    int64_t pad_l, Wp;          /* the phase path's copy of the input with zero-padded rows:
                                   (N, C_in, H, Wp), input (ih, iw) at (ih, pad_l + iw) */
    int64_t tile;               /* phase pixels per GEMM tile */
    int64_t slice;              /* reals per thread slice (phase GEMM or direct weight gradient) */
    int64_t dw_images;          /* images whose dy the direct weight gradient gathers at a time */
    int64_t tables_bytes;       /* the axis tables at the start of the scratch */
    int64_t scratch_bytes;      /* all the scratch one call needs (any pass) */
    int64_t *tables;            /* bound scratch: the tables ... */
    void *work;                 /* ... then the reals of the passes (64-byte aligned) */
} convt_plan;

/* Validates d, resolves algo (AUTO: convt_choose_path) and sizes the scratch for `threads`
 * threads of the active kernel table; allocates nothing. Then convt_plan_bind hands it
 * scratch_bytes of scratch (aligned to 64 bytes), and the table's convt_forward /
 * convt_backward run it. Nothing can fail once bound. */
cnn_status convt_plan_make(const cnn_conv_transpose2d_desc *d, cnn_dtype dtype, cnn_algo algo,
                           int threads, convt_plan *pl);
void convt_plan_bind(convt_plan *pl, void *scratch);

#endif /* CNN_CONV_TRANSPOSE_PLAN_H */
