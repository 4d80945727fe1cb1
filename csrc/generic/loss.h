/* generic/loss.h — loss kernels for one dtype (`real`, suffix R()). Included by loss.c. */

/* BCE needs probabilities: every x in [0, 1] (NaN refused too). */
static int R(probabilities_valid)(int64_t n, const real *x)
{
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] >= 0 && x[i] <= 1)) return 0;
    return 1;
}

/* Per-element loss w[i] * value(x[i], t[i]) (w, pw optional), reduced or not. */
static void R(pointwise_loss_forward)(enum pointwise_loss k, int64_t n, const real *x,
                                      const real *t, const real *w, const real *pw,
                                      cnn_reduction red, real *loss)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = pointwise_value(k, x[i], t[i], pw ? (double)pw[i] : 1.0);
        if (w) v *= w[i];
        if (red == CNN_REDUCE_NONE)
            loss[i] = (real)v;
        else
            s += v;
    }
    if (red == CNN_REDUCE_SUM) loss[0] = (real)s;
    if (red == CNN_REDUCE_MEAN) loss[0] = (real)(s / (double)n); /* NaN for n == 0, as PyTorch */
}

static void R(pointwise_loss_backward)(enum pointwise_loss k, int64_t n, const real *dloss,
                                       const real *x, const real *t, const real *w,
                                       const real *pw, cnn_reduction red, real *dx, real *dt)
{
    const double scale = red == CNN_REDUCE_MEAN ? 1.0 / (double)n : 1.0;
    for (int64_t i = 0; i < n; i++) {
        double gx, gt, g = (red == CNN_REDUCE_NONE ? (double)dloss[i] : (double)dloss[0]) * scale;
        if (w) g *= w[i];
        pointwise_grad(k, x[i], t[i], pw ? (double)pw[i] : 1.0, &gx, &gt);
        if (dx) dx[i] += (real)(g * gx);
        if (dt) dt[i] += (real)(g * gt);
    }
}

/* Log-softmax of the logits of element (b, j): x[(b*C + c)*D + j] over c, into lp (C). */
static void R(ce_log_softmax)(int64_t C, int64_t D, const real *xs, double *lp)
{
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; c++)
        if (xs[c * D] > m) m = xs[c * D];
    for (int64_t c = 0; c < C; c++) s += exp(xs[c * D] - m);
    const double ls = log(s);
    for (int64_t c = 0; c < C; c++) lp[c] = xs[c * D] - m - ls;
}

/* PyTorch's cross entropy with label smoothing e:
 *   (1 - e) * nll(logp, t; w)  +  (e / C) * smooth,   smooth_i = -sum_c w_c logp_ic,
 * ignored targets contributing 0 to both. MEAN divides both parts by the summed weight of the
 * non-ignored targets (their count without weights); NaN when every target is ignored. */
static double R(ce_denominator)(int64_t n, const int64_t *t, const real *w, int64_t ignore_index)
{
    double wsum = 0;
    for (int64_t i = 0; i < n; i++)
        if (t[i] != ignore_index) wsum += w ? (double)w[t[i]] : 1.0;
    return wsum;
}

/* (1 - e) nll + (e / C) smooth; without smoothing the smooth term is skipped, so a -inf logit
 * (smooth = inf) does not turn the loss into 0 * inf = NaN. */
static double R(ce_mix)(double eps, int64_t C, double nll, double smooth)
{
    return eps > 0 ? (1 - eps) * nll + eps / (double)C * smooth : nll;
}

/* lp: scratch of C doubles (a row of log-probabilities). */
static void R(cross_entropy_forward)(int64_t B, int64_t C, int64_t D, const real *x,
                                     const int64_t *t, const real *w, int64_t ignore_index,
                                     double eps, cnn_reduction red, real *loss, double *lp)
{
    double nll_sum = 0, smooth_sum = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < D; j++) {
            const int64_t i = b * D + j;
            double nll = 0, smooth = 0;
            if (t[i] != ignore_index) {
                R(ce_log_softmax)(C, D, x + b * C * D + j, lp);
                nll = -(w ? (double)w[t[i]] : 1.0) * lp[t[i]];
                for (int64_t c = 0; c < C; c++) smooth -= (w ? (double)w[c] : 1.0) * lp[c];
            }
            if (red == CNN_REDUCE_NONE) loss[i] = (real)R(ce_mix)(eps, C, nll, smooth);
            nll_sum += nll;
            smooth_sum += smooth;
        }
    if (red == CNN_REDUCE_NONE) return;
    const double v = R(ce_mix)(eps, C, nll_sum, smooth_sum);
    loss[0] = (real)(red == CNN_REDUCE_SUM ? v : v / R(ce_denominator)(B * D, t, w, ignore_index));
}

static void R(cross_entropy_backward)(int64_t B, int64_t C, int64_t D, const real *dloss,
                                      const real *x, const int64_t *t, const real *w,
                                      int64_t ignore_index, double eps, cnn_reduction red,
                                      real *dx, double *lp)
{
    double den = 1;
    if (red == CNN_REDUCE_MEAN) den = R(ce_denominator)(B * D, t, w, ignore_index);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < D; j++) {
            const int64_t i = b * D + j;
            if (t[i] == ignore_index) continue;
            const double g = red == CNN_REDUCE_NONE ? (double)dloss[i] : (double)dloss[0];
            const double gn = g * (1 - eps) / den, gs = g * eps / (double)C / den;
            R(ce_log_softmax)(C, D, x + b * C * D + j, lp);
            /* d loss / d logp_c = -gn w_t [c == t] - gs w_c; then through log-softmax:
             * dx_c = dlogp_c - softmax_c * sum(dlogp). */
            double total = -gn * (w ? (double)w[t[i]] : 1.0);
            for (int64_t c = 0; c < C; c++) total -= gs * (w ? (double)w[c] : 1.0);
            for (int64_t c = 0; c < C; c++) {
                double dl = -gs * (w ? (double)w[c] : 1.0);
                if (c == t[i]) dl -= gn * (w ? (double)w[c] : 1.0);
                dx[(b * C + c) * D + j] += (real)(dl - exp(lp[c]) * total);
            }
        }
}

/* Sums for Pearson r over x, t (len elements): r = sxy / sqrt(sxx syy). */
static void R(pearson)(int64_t len, const real *x, const real *t, double *mx, double *mt,
                       double *sxx, double *stt, double *sxt)
{
    double a = 0, b = 0;
    for (int64_t i = 0; i < len; i++) {
        a += x[i];
        b += t[i];
    }
    *mx = a / (double)len;
    *mt = b / (double)len;
    *sxx = *stt = *sxt = 0;
    for (int64_t i = 0; i < len; i++) {
        const double dx = x[i] - *mx, dt = t[i] - *mt;
        *sxx += dx * dx;
        *stt += dt * dt;
        *sxt += dx * dt;
    }
}

static void R(correlation_forward)(int64_t B, int64_t M, const real *x, const real *t,
                                   cnn_reduction red, real *loss)
{
    double mx, mt, sxx, stt, sxt;
    if (red != CNN_REDUCE_NONE) {
        R(pearson)(B * M, x, t, &mx, &mt, &sxx, &stt, &sxt);
        loss[0] = (real)(1 - sxt / sqrt(sxx * stt));
        return;
    }
    for (int64_t b = 0; b < B; b++) {
        R(pearson)(M, x + b * M, t + b * M, &mx, &mt, &sxx, &stt, &sxt);
        loss[b] = (real)(1 - sxt / sqrt(sxx * stt));
    }
}

/* d(1 - r)/dx_i = -((t_i - mt) / sqrt(sxx stt) - r (x_i - mx) / sxx), symmetric in t. */
static void R(correlation_grad)(int64_t len, double g, const real *x, const real *t, real *dx,
                                real *dt)
{
    double mx, mt, sxx, stt, sxt;
    R(pearson)(len, x, t, &mx, &mt, &sxx, &stt, &sxt);
    const double den = sqrt(sxx * stt), r = sxt / den;
    for (int64_t i = 0; i < len; i++) {
        const double ex = x[i] - mx, et = t[i] - mt;
        if (dx) dx[i] += (real)(-g * (et / den - r * ex / sxx));
        if (dt) dt[i] += (real)(-g * (ex / den - r * et / stt));
    }
}

static void R(correlation_backward)(int64_t B, int64_t M, const real *dloss, const real *x,
                                    const real *t, cnn_reduction red, real *dx, real *dt)
{
    if (red != CNN_REDUCE_NONE) {
        R(correlation_grad)(B * M, dloss[0], x, t, dx, dt);
        return;
    }
    for (int64_t b = 0; b < B; b++)
        R(correlation_grad)(M, dloss[b], x + b * M, t + b * M, dx ? dx + b * M : NULL,
                            dt ? dt + b * M : NULL);
}
