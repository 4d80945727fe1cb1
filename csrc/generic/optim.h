/* generic/optim.h — optimizer updates for one dtype (`real`, suffix R()). Every scalar is
 * rounded to `real` first and each expression keeps PyTorch's operation order:
 * a.add(b, alpha=s) = a + s*b, addcmul(a, b, c, value=s) = a + s*b*c,
 * addcdiv(a, b, c, value=s) = a + s*b/c, lerp(a, b, w) = a + w*(b - a) for w < 0.5. */

static real R(lerp)(real a, real b, real w)
{
    return w < (real)0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
}

static real R(sqrt_r)(real v)
{
    return sizeof(real) == sizeof(float) ? (real)sqrtf((float)v) : (real)sqrt((double)v);
}

static void R(sgd)(int64_t n, real *restrict p, const real *restrict grad, real *restrict buf,
                   double lr, double momentum, double dampening, double weight_decay,
                   int nesterov, int maximize, int first)
{
    const real lr_ = (real)lr, mom = (real)momentum, damp = (real)(1 - dampening),
               wd = (real)weight_decay;
    for (int64_t i = 0; i < n; i++) {
        real g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0) g = g + wd * p[i];
        if (momentum != 0) {
            buf[i] = first ? g : buf[i] * mom + damp * g;
            g = nesterov ? g + mom * buf[i] : buf[i];
        }
        p[i] = p[i] + (-lr_) * g;
    }
}

static void R(adam)(int64_t n, real *restrict p, const real *restrict grad, real *restrict m,
                    real *restrict v, real *restrict vmax, double lr, double beta1, double beta2,
                    double eps, double weight_decay, int decoupled, int maximize, int64_t step)
{
    const double bc1 = 1 - pow(beta1, (double)step), bc2 = 1 - pow(beta2, (double)step);
    const real w1 = (real)(1 - beta1), b2 = (real)beta2, w2 = (real)(1 - beta2), e = (real)eps;
    const real step_size = (real)(lr / bc1), bc2_sqrt = (real)sqrt(bc2), wd = (real)weight_decay;
    const real shrink = (real)(1 - lr * weight_decay);
    if (!maximize && weight_decay == 0 && !vmax && w1 < (real)0.5) {
        /* the common step, branch-free so it vectorises: the loop below with these choices */
        for (int64_t i = 0; i < n; i++) {
            const real g = grad[i];
            m[i] = m[i] + w1 * (g - m[i]);
            v[i] = v[i] * b2 + w2 * g * g;
            const real denom = R(sqrt_r)(v[i]) / bc2_sqrt + e;
            p[i] = p[i] + (-step_size) * m[i] / denom;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        real g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0) {
            if (decoupled)
                p[i] = p[i] * shrink;
            else
                g = g + wd * p[i];
        }
        m[i] = R(lerp)(m[i], g, w1);
        v[i] = v[i] * b2 + w2 * g * g;
        real second = v[i];
        if (vmax) {
            vmax[i] = vmax[i] > v[i] || isnan(vmax[i]) ? vmax[i] : v[i];
            second = vmax[i];
        }
        const real denom = R(sqrt_r)(second) / bc2_sqrt + e;
        p[i] = p[i] + (-step_size) * m[i] / denom;
    }
}

static void R(rmsprop)(int64_t n, real *restrict p, const real *restrict grad, real *restrict sq,
                       real *restrict ga, real *restrict buf, double lr, double alpha, double eps,
                       double weight_decay, double momentum, int maximize)
{
    const real a = (real)alpha, w = (real)(1 - alpha), e = (real)eps, lr_ = (real)lr,
               wd = (real)weight_decay, mom = (real)momentum;
    if (!maximize && weight_decay == 0 && !ga && !(momentum > 0)) {
        /* the common step, branch-free so it vectorises: the loop below with these choices */
        for (int64_t i = 0; i < n; i++) {
            const real g = grad[i];
            sq[i] = sq[i] * a + w * g * g;
            const real avg = R(sqrt_r)(sq[i]) + e;
            p[i] = p[i] + (-lr_) * g / avg;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        real g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0) g = g + wd * p[i];
        sq[i] = sq[i] * a + w * g * g;
        real avg;
        if (ga) {
            ga[i] = R(lerp)(ga[i], g, w);
            avg = R(sqrt_r)(sq[i] + (real)(-1) * ga[i] * ga[i]);
        } else {
            avg = R(sqrt_r)(sq[i]);
        }
        avg = avg + e;
        if (momentum > 0) {
            buf[i] = buf[i] * mom + g / avg;
            p[i] = p[i] + (-lr_) * buf[i];
        } else {
            p[i] = p[i] + (-lr_) * g / avg;
        }
    }
}

/* ---- threads: the updates are elementwise, so each part takes a range of elements -------------- */

typedef struct {
    real *p, *a, *b, *c;
    const real *grad;
    double lr, h1, h2, h3, h4;
    int f1, f2, f3;
    int64_t step;
} R(optim_task);

static void R(sgd_task)(void *vctx, int64_t i, int64_t end, int part)
{
    const R(optim_task) *t = vctx;
    (void)part;
    R(sgd)(end - i, t->p + i, t->grad + i, t->a ? t->a + i : NULL, t->lr, t->h1, t->h2, t->h3,
           t->f1, t->f2, t->f3);
}

static void R(sgd_mt)(int64_t n, real *p, const real *grad, real *buf, double lr, double momentum,
                      double dampening, double weight_decay, int nesterov, int maximize, int first)
{
    R(optim_task) t = {p, buf, NULL, NULL, grad, lr, momentum, dampening, weight_decay, 0,
                       nesterov, maximize, first, 0};
    cnn_parallel_for(n, CNN_ELEMENTWISE_GRAIN, 1 << 30, R(sgd_task), &t);
}

static void R(adam_task)(void *vctx, int64_t i, int64_t end, int part)
{
    const R(optim_task) *t = vctx;
    (void)part;
    R(adam)(end - i, t->p + i, t->grad + i, t->a + i, t->b + i, t->c ? t->c + i : NULL, t->lr,
            t->h1, t->h2, t->h3, t->h4, t->f1, t->f2, t->step);
}

static void R(adam_mt)(int64_t n, real *p, const real *grad, real *m, real *v, real *vmax,
                       double lr, double beta1, double beta2, double eps, double weight_decay,
                       int decoupled, int maximize, int64_t step)
{
    R(optim_task) t = {p, m, v, vmax, grad, lr, beta1, beta2, eps, weight_decay, decoupled,
                       maximize, 0, step};
    cnn_parallel_for(n, CNN_ELEMENTWISE_GRAIN, 1 << 30, R(adam_task), &t);
}

static void R(rmsprop_task)(void *vctx, int64_t i, int64_t end, int part)
{
    const R(optim_task) *t = vctx;
    (void)part;
    R(rmsprop)(end - i, t->p + i, t->grad + i, t->a + i, t->b ? t->b + i : NULL,
               t->c ? t->c + i : NULL, t->lr, t->h1, t->h2, t->h3, t->h4, t->f1);
}

static void R(rmsprop_mt)(int64_t n, real *p, const real *grad, real *sq, real *ga, real *buf,
                          double lr, double alpha, double eps, double weight_decay,
                          double momentum, int maximize)
{
    R(optim_task) t = {p, sq, ga, buf, grad, lr, alpha, eps, weight_decay, momentum, maximize, 0,
                       0, 0};
    cnn_parallel_for(n, CNN_ELEMENTWISE_GRAIN, 1 << 30, R(rmsprop_task), &t);
}
