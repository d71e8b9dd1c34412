/* interp_reduce.c — reductions and normalisations.
 *
 * reduce_sum/mean/max/min(x; axes, keepdims): over the listed axes (negative counts from
 *   the end); the result drops them, or keeps them as size 1 with keepdims. Floats
 *   accumulate in double in row-major order and round once; integers are exact (sum
 *   wraps to the dtype's width; mean = sum / count truncated toward zero). Over zero
 *   elements: sum 0; mean NaN for floats and an error for integers; max -inf and min +inf
 *   for floats, the dtype's smallest / largest value for integers. max/min of floats
 *   with a NaN is NaN.
 * softmax(x; axis):     y_j = e^(x_j - m) / Σ_k e^(x_k - m), m = max_k x_k, along axis;
 * log_softmax(x; axis): y_j = (x_j - m) - log Σ_k e^(x_k - m). All in double.
 * normalize(x; eps, center) over the last axis of length L:
 *   center: μ = Σx/L, σ² = Σ(x - μ)²/L (two passes, population), y = (x - μ)/√(σ² + eps);
 *   else:   y = x/√(Σx²/L + eps)   (RMS normalisation).
 */
#include <math.h>

#include "interp_internal.h"

bool interp_reduce(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0];
    const ReduceAttr *a = &n->attr.reduce;
    bool red[IR_MAX_RANK] = {0};
    for (int i = 0; i < a->axes.n; i++) {
        int32_t ax;
        axis_norm(a->axes.v[i], x->rank, &ax);
        red[ax] = true;
    }
    /* the result offset of each input element: row-major strides of the kept axes */
    int64_t ostride[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, acc = 1, count = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        if (red[d]) {
            ostride[d] = 0;
            count *= x->dims[d];
        } else {
            ostride[d] = acc;
            acc *= x->dims[d];
        }
    }
    bool isf = x->f != NULL;
    double *sum = isf ? ir_malloc((size_t)(out->numel ? out->numel : 1) * sizeof *sum) : NULL;
    if (isf && !sum)
        return interp_fail(c, n, "out of memory");
    double finit = n->op == OP_REDUCE_MAX ? -INFINITY : n->op == OP_REDUCE_MIN ? INFINITY : 0;
    int64_t imin = x->dt == DT_I32 ? INT32_MIN : INT64_MIN, imax = x->dt == DT_I32 ? INT32_MAX : INT64_MAX;
    int64_t iinit = n->op == OP_REDUCE_MAX ? imin : n->op == OP_REDUCE_MIN ? imax : 0;
    for (int64_t k = 0; k < out->numel; k++) {
        if (isf)
            sum[k] = finit;
        else
            out->i[k] = iinit;
    }
    int64_t off = 0;
    for (int64_t k = 0; k < x->numel; k++) {
        if (isf) {
            double v = x->f[k], *s = &sum[off];
            if (n->op == OP_REDUCE_MAX)
                *s = v != v || *s != *s ? NAN : v > *s ? v : *s;
            else if (n->op == OP_REDUCE_MIN)
                *s = v != v || *s != *s ? NAN : v < *s ? v : *s;
            else
                *s += v;
        } else {
            int64_t v = x->i[k], *s = &out->i[off];
            if (n->op == OP_REDUCE_MAX)
                *s = v > *s ? v : *s;
            else if (n->op == OP_REDUCE_MIN)
                *s = v < *s ? v : *s;
            else
                *s = (int64_t)((uint64_t)*s + (uint64_t)v); /* wrapped below */
        }
        for (int d = x->rank - 1; d >= 0; d--) {
            off += ostride[d];
            if (++idx[d] < x->dims[d])
                break;
            off -= ostride[d] * x->dims[d];
            idx[d] = 0;
        }
    }
    for (int64_t k = 0; k < out->numel; k++) {
        if (isf) {
            double v = n->op == OP_REDUCE_MEAN ? sum[k] / (double)count : sum[k];
            out->f[k] = (float)dtype_round(out->dt, v);
        } else if (n->op == OP_REDUCE_SUM || n->op == OP_REDUCE_MEAN) {
            int64_t s = interp_wrap(out->dt, (uint64_t)out->i[k]);
            if (n->op == OP_REDUCE_MEAN && count == 0)
                return interp_fail(c, n, "the mean of zero integers");
            out->i[k] = n->op == OP_REDUCE_MEAN ? s / count : s;
        }
    }
    ir_free(sum);
    return true;
}

/* x split around `axis` into outer × len × inner; lane (o, i) is the elements
 * o·len·inner + j·inner + i for j < len. */
static void lanes(const Tensor *x, int32_t axis, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++)
        *inner *= x->dims[d];
    *len = x->dims[axis];
}

bool interp_softmax(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    const Tensor *x = in[0];
    int32_t axis;
    int64_t outer, len, inner;
    axis_norm(n->attr.axis.axis, x->rank, &axis);
    lanes(x, axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x->f + o * len * inner + i;
            float *ys = out->f + o * len * inner + i;
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < len; j++)
                m = xs[j * inner] != xs[j * inner] ? NAN : xs[j * inner] > m ? xs[j * inner] : m;
            for (int64_t j = 0; j < len; j++)
                s += exp(xs[j * inner] - m);
            for (int64_t j = 0; j < len; j++) {
                double v = n->op == OP_SOFTMAX ? exp(xs[j * inner] - m) / s : (xs[j * inner] - m) - log(s);
                ys[j * inner] = (float)dtype_round(out->dt, v);
            }
        }
    return true;
}

bool interp_normalize(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    const Tensor *x = in[0];
    int64_t len = x->dims[x->rank - 1], rows = len ? x->numel / len : 0;
    double eps = n->attr.norm.eps;
    for (int64_t r = 0; r < rows; r++) {
        const float *xs = x->f + r * len;
        float *ys = out->f + r * len;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < len; j++)
            mean += xs[j];
        mean /= (double)len;
        if (n->attr.norm.center) {
            for (int64_t j = 0; j < len; j++)
                var += (xs[j] - mean) * (xs[j] - mean);
            var /= (double)len;
            for (int64_t j = 0; j < len; j++)
                ys[j] = (float)dtype_round(out->dt, (xs[j] - mean) / sqrt(var + eps));
        } else {
            double ms = 0;
            for (int64_t j = 0; j < len; j++)
                ms += (double)xs[j] * xs[j];
            ms /= (double)len;
            for (int64_t j = 0; j < len; j++)
                ys[j] = (float)dtype_round(out->dt, xs[j] / sqrt(ms + eps));
        }
    }
    return true;
}
