/* generic/activation.h — activation, softmax and dropout kernels for one dtype (`real`, suffix
 * R()). Compiled per dtype and instruction set (csrc/isa_body.h). */

/* libm in the precision of `real` (expf for float32); the sizeof test folds at compile time. */
static real R(exp_r)(real v)
{
    return sizeof(real) == sizeof(float) ? (real)expf((float)v) : (real)exp((double)v);
}

/* float32: the call-free versions of kernel_support.h (the loops below vectorise); float64: libm. */
static real R(tanh_r)(real v)
{
    return sizeof(real) == sizeof(float) ? (real)cnn_vtanhf((float)v) : (real)tanh((double)v);
}

static real R(erf_r)(real v)
{
    return sizeof(real) == sizeof(float) ? (real)cnn_verff((float)v) : (real)erf((double)v);
}

/* exp for the GELU density: float32 call-free (the loop vectorises), float64 libm. */
static real R(exp_v)(real v)
{
    return sizeof(real) == sizeof(float) ? (real)cnn_vexpf((float)v) : (real)exp((double)v);
}

static real R(sigmoid)(real v)
{
    if (sizeof(real) == sizeof(float)) return (real)cnn_vsigmoidf((float)v);
    if (v >= 0) return 1 / (1 + R(exp_r)(-v));
    const real e = R(exp_r)(v);
    return e / (1 + e);
}

/* GELU's constants as PyTorch writes them (double products of the C99 math constants, then
 * rounded to `real`): 1/sqrt 2, sqrt(2/pi) = sqrt 2 * 2/sqrt pi / 2, 1/sqrt(2 pi). */
#define GELU_SQRT1_2 0.70710678118654752440
#define GELU_SQRT_2_PI (1.41421356237309504880 * 1.12837916709551257390 * 0.5)
#define GELU_INV_SQRT_2PI (1.12837916709551257390 * 0.70710678118654752440 * 0.5)
#define GELU_KAPPA 0.044715

static void R(act_forward)(enum act_kind k, int64_t n, real slope, const real *restrict x,
                           real *restrict y)
{
    switch (k) {
    case ACT_RELU: /* NaN is not > 0 but must propagate: keep x unless x <= 0 */
        for (int64_t i = 0; i < n; i++) y[i] = x[i] <= 0 ? 0 : x[i];
        break;
    case ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : x[i] * slope;
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = R(sigmoid)(x[i]);
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = R(tanh_r)(x[i]);
        break;
    case ACT_GELU: { /* x/2 (1 + erf(x / sqrt 2)) */
        const real alpha = (real)GELU_SQRT1_2;
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * (real)0.5 * (1 + R(erf_r)(x[i] * alpha));
        break;
    }
    case ACT_GELU_TANH: { /* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
        const real beta = (real)GELU_SQRT_2_PI, kappa = (real)GELU_KAPPA;
        for (int64_t i = 0; i < n; i++) {
            const real v = x[i], inner = beta * (v + kappa * (v * v * v));
            y[i] = (real)0.5 * v * (1 + R(tanh_r)(inner));
        }
        break;
    }
    }
}

static void R(act_backward)(enum act_kind k, int64_t n, real slope, const real *restrict dy,
                            const real *restrict x, real *restrict dx)
{
    switch (k) {
    case ACT_RELU: /* NaN passes the gradient, as in PyTorch; loads kept unconditional so the
                    * select vectorises instead of branching on the sign of x */
        for (int64_t i = 0; i < n; i++) {
            const real g = dy[i];
            dx[i] += x[i] <= 0 ? 0 : g;
        }
        break;
    case ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            const real g = dy[i], leak = dy[i] * slope;
            dx[i] += x[i] > 0 ? g : leak;
        }
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            const real s = R(sigmoid)(x[i]);
            dx[i] += dy[i] * s * (1 - s);
        }
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++) {
            const real t = R(tanh_r)(x[i]);
            dx[i] += dy[i] * (1 - t * t);
        }
        break;
    case ACT_GELU: { /* Phi(x) + x phi(x), Phi and phi the normal distribution and density */
        const real alpha = (real)GELU_SQRT1_2, beta = (real)GELU_INV_SQRT_2PI;
        for (int64_t i = 0; i < n; i++) {
            const real v = x[i], cdf = (real)0.5 * (1 + R(erf_r)(v * alpha));
            const real pdf = beta * R(exp_v)(v * v * (real)-0.5);
            dx[i] += dy[i] * (cdf + v * pdf);
        }
        break;
    }
    case ACT_GELU_TANH: { /* PyTorch's product rule, term by term: at |x| where x^2 overflows,
                           * 0 * inf makes the gradient NaN, as in PyTorch */
        const real beta = (real)GELU_SQRT_2_PI, kappa = (real)GELU_KAPPA;
        for (int64_t i = 0; i < n; i++) {
            const real v = x[i], v2 = v * v, t = R(tanh_r)(beta * (v + kappa * (v2 * v)));
            const real left = (real)0.5 * v, right = 1 + t;
            const real dleft = (real)0.5 * right;
            const real dright = left * (1 - t * t) * (beta * (1 + (real)3 * kappa * v2));
            dx[i] += dy[i] * (dleft + dright);
        }
        break;
    }
    }
}

/* Softmax (or log-softmax) of x (outer, n, inner) along n. A NaN anywhere in a slice makes the
 * whole slice NaN. Sums accumulate in double. */
static void R(softmax_forward)(int log_space, int64_t outer, int64_t n, int64_t inner,
                               const real *restrict x, real *restrict y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const real *xs = x + o * n * inner + j;
            real *ys = y + o * n * inner + j;
            real m = -(real)INFINITY; /* a NaN is skipped here but poisons the sum below */
            for (int64_t i = 0; i < n; i++)
                if (xs[i * inner] > m) m = xs[i * inner];
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += R(exp_r)(xs[i * inner] - m);
            if (log_space) {
                const real ls = (real)log(s);
                for (int64_t i = 0; i < n; i++) ys[i * inner] = xs[i * inner] - m - ls;
            } else {
                for (int64_t i = 0; i < n; i++) ys[i * inner] = (real)(R(exp_r)(xs[i * inner] - m) / s);
            }
        }
}

/* softmax:     dx += y * (dy - sum(dy * y))
 * log-softmax: dx += dy - exp(y) * sum(dy)          (y is the forward output) */
static void R(softmax_backward)(int log_space, int64_t outer, int64_t n, int64_t inner,
                                const real *restrict dy, const real *restrict y,
                                real *restrict dx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const int64_t base = o * n * inner + j;
            double s = 0;
            if (log_space) {
                for (int64_t i = 0; i < n; i++) s += dy[base + i * inner];
                for (int64_t i = 0; i < n; i++)
                    dx[base + i * inner] += dy[base + i * inner] - R(exp_r)(y[base + i * inner]) * (real)s;
            } else {
                for (int64_t i = 0; i < n; i++) s += (double)dy[base + i * inner] * y[base + i * inner];
                for (int64_t i = 0; i < n; i++)
                    dx[base + i * inner] += y[base + i * inner] * (dy[base + i * inner] - (real)s);
            }
        }
}

/* out = (accumulate ? out : 0) + in * (mask ? 1/(1-p) : 0); p == 1 drops everything. The product
 * (not a select) keeps NaN in dropped positions, as PyTorch's x * mask does. */
static void R(dropout_apply)(int64_t n, double p, const uint8_t *restrict mask,
                             const real *restrict in, real *restrict out, int accumulate)
{
    const real scale = p < 1.0 ? (real)(1.0 / (1.0 - p)) : 0;
    for (int64_t i = 0; i < n; i++) {
        const real v = in[i] * (mask[i] ? scale : 0);
        out[i] = accumulate ? out[i] + v : v;
    }
}

/* ---- threads: elementwise, so each part takes a range of elements ------------------------------ */

typedef struct {
    enum act_kind k;
    real slope;
    const real *dy, *x;
    real *out;
} R(act_task);

static void R(act_forward_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(act_task) *t = vctx;
    (void)part;
    R(act_forward)(t->k, end - begin, t->slope, t->x + begin, t->out + begin);
}

static void R(act_backward_task)(void *vctx, int64_t begin, int64_t end, int part)
{
    const R(act_task) *t = vctx;
    (void)part;
    R(act_backward)(t->k, end - begin, t->slope, t->dy + begin, t->x + begin, t->out + begin);
}

static void R(act_forward_mt)(enum act_kind k, int64_t n, real slope, const real *x, real *y)
{
    R(act_task) t = {k, slope, NULL, x, y};
    cnn_parallel_for(n, CNN_ELEMENTWISE_GRAIN, 1 << 30, R(act_forward_task), &t);
}

static void R(act_backward_mt)(enum act_kind k, int64_t n, real slope, const real *dy,
                               const real *x, real *dx)
{
    R(act_task) t = {k, slope, dy, x, dx};
    cnn_parallel_for(n, CNN_ELEMENTWISE_GRAIN, 1 << 30, R(act_backward_task), &t);
}
