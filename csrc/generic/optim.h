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
