/* test_lanes16.c — the AVX-512 shapes of the float32 blocked-convolution and dense kernels
 * (csrc/blocked_simd.h, dense_simd.h: 16-lane vectors, their tile sizes, lane masks and tails)
 * checked on any CPU with AVX2: the vector layer is a 16-lane vector made of two AVX2 halves.
 * Every result must equal a naive loop exactly (small integers: every summation order gives the
 * same sums), for random geometries (strides, dilations, paddings, groups, tails; one in six with
 * a batch of 16 or 30, for the image tiles) at 1-3 threads.
 * Built and run by tests/test_conv_kernels.py; prints "N checks passed". */
#define _POSIX_C_SOURCE 199309L
#include "internal.h"
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__clang__) /* every function below may use AVX2 + FMA (the test runs only where they are) */
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC target("avx2,fma")
#endif
typedef struct {
    __m256 lo, hi;
} ds_vec;
#define DS_VW 16
#define DS_CB 8
static inline ds_vec ds_zero(void) {
    ds_vec v = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    return v;
}
static inline ds_vec ds_set1(float f) {
    ds_vec v = {_mm256_set1_ps(f), _mm256_set1_ps(f)};
    return v;
}
static inline ds_vec ds_load(const float *p) {
    ds_vec v = {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
    return v;
}
static inline ds_vec ds_fma(ds_vec a, ds_vec b, ds_vec c) {
    ds_vec v = {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
    return v;
}
static inline ds_vec ds_add(ds_vec a, ds_vec b) {
    ds_vec v = {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
    return v;
}
static inline void ds_store(float *p, ds_vec v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
static inline float ds_hsum(ds_vec v) {
    float t[16];
    ds_store(t, v);
    float s = 0;
    for (int i = 0; i < 16; i++)
        s += t[i];
    return s;
}
static inline __m256i mk(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline ds_vec ds_load_part(const float *p, int64_t n) {
    ds_vec v = {_mm256_maskload_ps(p, mk(n)), _mm256_maskload_ps(p + 8, mk(n - 8))};
    return v;
}
static inline void ds_store_part(float *p, ds_vec v, int64_t n) {
    _mm256_maskstore_ps(p, mk(n), v.lo);
    _mm256_maskstore_ps(p + 8, mk(n - 8), v.hi);
}
#define CNN_VEC_BYTES 64
#include "transpose_simd.h" /* the image tiles' 8 x 8 transposes */
#include "blocked_simd.h"
#include "dense_simd.h"
static unsigned long long rs = 1234567;
static int ri(int a, int b) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return a + (int)(rs % (unsigned)(b - a + 1));
}
static void fill(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)ri(-3, 3);
}
int main(void) {
    int bad = 0, checks = 0;
    for (int it = 0; it < 1500 && bad < 5; it++) {
        conv_geom g;
        g.groups = ri(1, 3);
        g.C_in = g.groups * ri(0, 4);
        g.C_out = g.groups * ri(1, 18);
        g.kH = ri(1, 4);
        g.kW = ri(1, 4);
        g.sH = ri(1, 3);
        g.sW = ri(1, 3);
        g.dilH = ri(1, 3);
        g.dilW = ri(1, 3);
        g.pT = ri(0, 3);
        g.pL = ri(0, 3);
        g.N = ri(1, 3);
        if (it % 6 == 5) { /* a batch that fills the vectors, as the image tiles take (blocked_batch.h) */
            g.N = ri(0, 1) ? 16 : 30;
            g.C_in = g.groups * ri(4, 6);
            g.C_out = g.groups * 4 * ri(1, 3);
        }
        g.H = ri(1, 16);
        g.W = ri(1, 40);
        int64_t pb = ri(0, 3), pr = ri(0, 3);
        int64_t eh = g.H + g.pT + pb - g.dilH * (g.kH - 1),
                ew = g.W + g.pL + pr - g.dilW * (g.kW - 1);
        if (eh < 1 || ew < 1)
            continue;
        g.OH = (eh - 1) / g.sH + 1;
        g.OW = (ew - 1) / g.sW + 1;
        g.threads = ri(1, 3);
        cnn_set_num_threads(g.threads);
        cnn_set_min_part_work(1);
        int64_t Cg = g.C_in / g.groups, Mg = g.C_out / g.groups, T = g.kH * g.kW;
        int64_t nx = g.N * g.C_in * g.H * g.W, nw = g.C_out * Cg * T,
                ny = g.N * g.C_out * g.OH * g.OW;
        float *x = malloc(4 * nx + 4), *w = malloc(4 * nw + 4), *b = malloc(4 * g.C_out),
              *y = malloc(4 * ny + 4), *yr = calloc(ny + 1, 4), *dy = malloc(4 * ny + 4),
              *dw = calloc(nw + 1, 4), *dwr = calloc(nw + 1, 4), *dx = calloc(nx + 1, 4),
              *dxr = calloc(nx + 1, 4);
        fill(x, nx);
        fill(w, nw);
        fill(b, g.C_out);
        fill(dy, ny);
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t co = 0; co < g.C_out; co++)
                for (int64_t oh = 0; oh < g.OH; oh++)
                    for (int64_t ow = 0; ow < g.OW; ow++) {
                        float s = b[co];
                        int64_t c0 = (co / Mg) * Cg;
                        float d = dy[((n * g.C_out + co) * g.OH + oh) * g.OW + ow];
                        for (int64_t ci = 0; ci < Cg; ci++)
                            for (int64_t kh = 0; kh < g.kH; kh++)
                                for (int64_t kw = 0; kw < g.kW; kw++) {
                                    int64_t ih = oh * g.sH - g.pT + kh * g.dilH,
                                            iw = ow * g.sW - g.pL + kw * g.dilW;
                                    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W)
                                        continue;
                                    float xv = x[((n * g.C_in + c0 + ci) * g.H + ih) * g.W + iw];
                                    float wv = w[((co * Cg + ci) * g.kH + kh) * g.kW + kw];
                                    s += xv * wv;
                                    dwr[((co * Cg + ci) * g.kH + kh) * g.kW + kw] += d * xv;
                                    dxr[((n * g.C_in + c0 + ci) * g.H + ih) * g.W + iw] += d * wv;
                                }
                        yr[((n * g.C_out + co) * g.OH + oh) * g.OW + ow] = s;
                    }
        int64_t len;
        if (bk_scratch_len(&g, &len)) {
            printf("scratch err\n");
            continue;
        }
        float *scr = malloc(4 * (len * g.threads + 1));
        bk_conv_forward(&g, x, w, b, y, 0, scr);
        bk_conv_backward_weight(&g, dy, x, dw, scr);
        int didx = bk_conv_backward_data(&g, dy, w, dx, scr);
        for (int64_t i = 0; i < ny; i++)
            if (y[i] != yr[i]) {
                bad++;
                printf("fwd mismatch it %d\n", it);
                break;
            }
        for (int64_t i = 0; i < nw; i++)
            if (dw[i] != dwr[i]) {
                bad++;
                printf("dw mismatch it %d\n", it);
                break;
            }
        if (didx)
            for (int64_t i = 0; i < nx; i++)
                if (dx[i] != dxr[i]) {
                    bad++;
                    printf("dx mismatch it %d\n", it);
                    break;
                }
        checks++;
        free(scr);
        free(x);
        free(w);
        free(b);
        free(y);
        free(yr);
        free(dy);
        free(dw);
        free(dwr);
        free(dx);
        free(dxr);
    }
    /* dense */
    for (int it = 0; it < 300 && bad < 10; it++) {
        int64_t B = ri(1, 64), I = ri(16, 90), O = ri(1, 40);
        cnn_set_num_threads(ri(1, 3));
        float *x = malloc(4 * B * I), *w = malloc(4 * O * I), *b = malloc(4 * O),
              *y = malloc(4 * B * O), *dy = malloc(4 * B * O), *dx = calloc(B * I, 4),
              *dw = calloc(O * I, 4);
        fill(x, B * I);
        fill(w, O * I);
        fill(b, O);
        fill(dy, B * O);
        const int accumulate = it & 1; /* onto zeros, or written over NaN */
        if (!accumulate) {
            for (int64_t i = 0; i < B * I; i++) dx[i] = NAN;
            for (int64_t i = 0; i < O * I; i++) dw[i] = NAN;
        }
        dn_linear_forward(B, I, O, x, w, b, y, 3);
        dn_linear_backward(B, I, O, dy, x, w, dx, dw, accumulate, 3);
        for (int64_t r = 0; r < B; r++)
            for (int64_t o = 0; o < O; o++) {
                float s = b[o];
                for (int64_t k = 0; k < I; k++)
                    s += x[r * I + k] * w[o * I + k];
                if (s != y[r * O + o]) {
                    bad++;
                    printf("lin fwd mismatch\n");
                    r = B;
                    break;
                }
            }
        for (int64_t r = 0; r < B; r++)
            for (int64_t k = 0; k < I; k++) {
                float s = 0;
                for (int64_t o = 0; o < O; o++)
                    s += dy[r * O + o] * w[o * I + k];
                if (s != dx[r * I + k]) {
                    bad++;
                    printf("lin dx mismatch\n");
                    r = B;
                    break;
                }
            }
        for (int64_t o = 0; o < O; o++)
            for (int64_t k = 0; k < I; k++) {
                float s = 0;
                for (int64_t r = 0; r < B; r++)
                    s += dy[r * O + o] * x[r * I + k];
                if (s != dw[o * I + k]) {
                    bad++;
                    printf("lin dw mismatch\n");
                    o = O;
                    break;
                }
            }
        checks++;
        free(x);
        free(w);
        free(b);
        free(y);
        free(dy);
        free(dx);
        free(dw);
    }
    if (bad) {
        printf("%d failures\n", bad);
        return 1;
    }
    printf("%d checks passed\n", checks);
    return 0;
}
#if defined(__clang__)
#pragma clang attribute pop
#endif
