/* interp_ew.c — elementwise ops. Operands broadcast as in numpy: shapes align from the
 * right; a dimension of 1 (or a missing one) repeats along the other's.
 *
 * Floating point: computed in double on the operands' values, then rounded to the
 * result's dtype (dtype_round).
 *   neg -x   abs |x|   exp   log   sqrt   rsqrt 1/sqrt(x)   tanh   erf   sin   cos
 *   sigmoid  1/(1+e^-x) for x ≥ 0, e^x/(1+e^x) below (no overflow)
 *   relu     x if x > 0, else 0; NaN stays NaN
 *   softplus max(x,0) + log1p(e^-|x|) (stable)
 *   gelu     erf form 0.5x(1 + erf(x/√2)); tanh form 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
 *   add sub mul div pow   the C operators and pow()
 *   maximum minimum       NaN if either operand is NaN, else the larger / smaller
 * Integers (i32, i64): exact, wrapping to the dtype's width (two's complement) on
 * overflow; div truncates toward zero and a zero divisor is an error; pow with a negative
 * exponent is 1/x^-e truncated (0 unless x = ±1; x = 0 is an error); neg/abs of the
 * smallest value wrap to itself.
 * Comparisons eq ne lt le gt ge: on the operands' values, result bool (NaN compares
 * unequal to everything). and, or, not: on bool.
 * select(c, a, b): a where c is true, else b; all three broadcast.
 * cast: float → float rounds to nearest even; float → integer truncates toward zero,
 * saturates at the type's range, NaN → 0; integer → integer wraps; integer → float rounds
 * to nearest even (exact for |x| ≤ 2^53); anything → bool is x != 0; bool → anything 0/1.
 */
#include <math.h>

#include "interp_internal.h"

static double unary_f(const Node *n, double x)
{
    switch (n->op) {
    case OP_NEG: return -x;
    case OP_ABS: return fabs(x);
    case OP_EXP: return exp(x);
    case OP_LOG: return log(x);
    case OP_SQRT: return sqrt(x);
    case OP_RSQRT: return 1.0 / sqrt(x);
    case OP_TANH: return tanh(x);
    case OP_ERF: return erf(x);
    case OP_SIN: return sin(x);
    case OP_COS: return cos(x);
    case OP_SIGMOID:
        if (x >= 0)
            return 1.0 / (1.0 + exp(-x));
        return exp(x) / (1.0 + exp(x));
    case OP_RELU: return x != x ? x : x > 0 ? x : 0.0;
    case OP_SOFTPLUS: return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
    case OP_GELU:
        if (n->attr.gelu.approximate == GELU_TANH)
            return 0.5 * x * (1.0 + tanh(0.79788456080286535588 /* √(2/π) */ * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    default: return NAN;
    }
}

bool interp_unary(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0];
    if (out->f) {
        for (int64_t k = 0; k < out->numel; k++)
            out->f[k] = (float)dtype_round(out->dt, unary_f(n, x->f[k]));
        return true;
    }
    for (int64_t k = 0; k < out->numel; k++) {
        int64_t v = x->i[k];
        uint64_t u = (uint64_t)v;
        switch (n->op) {
        case OP_NEG: out->i[k] = interp_wrap(out->dt, 0 - u); break;
        case OP_ABS: out->i[k] = interp_wrap(out->dt, v < 0 ? 0 - u : u); break;
        case OP_RELU: out->i[k] = v > 0 ? v : 0; break;
        case OP_NOT: out->i[k] = !v; break;
        default: return interp_fail(c, n, "not defined on %s", dtype_name(x->dt));
        }
    }
    return true;
}

static double binary_f(Op op, double a, double b)
{
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_POW: return pow(a, b);
    case OP_MAX: return a != a || b != b ? NAN : a > b ? a : b;
    case OP_MIN: return a != a || b != b ? NAN : a < b ? a : b;
    default: return NAN;
    }
}

static bool compare(Op op, double a, double b)
{
    switch (op) {
    case OP_EQ: return a == b;
    case OP_NE: return a != b;
    case OP_LT: return a < b;
    case OP_LE: return a <= b;
    case OP_GT: return a > b;
    case OP_GE: return a >= b;
    default: return false;
    }
}

static bool compare_i(Op op, int64_t a, int64_t b)
{
    switch (op) {
    case OP_EQ: return a == b;
    case OP_NE: return a != b;
    case OP_LT: return a < b;
    case OP_LE: return a <= b;
    case OP_GT: return a > b;
    case OP_GE: return a >= b;
    case OP_AND: return a && b;
    case OP_OR: return a || b;
    default: return false;
    }
}

/* Integer a op b in dtype dt; false on a division by zero or 0 to a negative power. */
static bool binary_i(Op op, DType dt, int64_t a, int64_t b, int64_t *r)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    switch (op) {
    case OP_ADD: *r = interp_wrap(dt, ua + ub); return true;
    case OP_SUB: *r = interp_wrap(dt, ua - ub); return true;
    case OP_MUL: *r = interp_wrap(dt, ua * ub); return true;
    case OP_MAX: *r = a > b ? a : b; return true;
    case OP_MIN: *r = a < b ? a : b; return true;
    case OP_DIV:
        if (b == 0)
            return false;
        *r = b == -1 ? interp_wrap(dt, 0 - ua) : a / b; /* MIN / -1 wraps */
        return true;
    case OP_POW:
        if (b < 0) {
            if (a == 0)
                return false;
            *r = a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
            return true;
        } else {
            uint64_t acc = 1, base = ua;
            for (uint64_t e = ub; e; e >>= 1, base *= base)
                if (e & 1)
                    acc *= base;
            *r = interp_wrap(dt, acc);
            return true;
        }
    default:
        *r = 0;
        return true;
    }
}

bool interp_binary(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *a = in[0], *b = in[1];
    bool cmp = out->dt == DT_BOOL; /* comparisons and logic; arithmetic never yields bool */
    BIter it;
    biter_init(&it, out, in, 2);
    for (int64_t k = 0; k < out->numel; k++, biter_next(&it)) {
        int64_t i = it.off[0], j = it.off[1];
        if (a->f) {
            if (cmp)
                out->i[k] = compare(n->op, a->f[i], b->f[j]);
            else
                out->f[k] = (float)dtype_round(out->dt, binary_f(n->op, a->f[i], b->f[j]));
        } else if (cmp) {
            out->i[k] = compare_i(n->op, a->i[i], b->i[j]);
        } else if (!binary_i(n->op, out->dt, a->i[i], b->i[j], &out->i[k])) {
            if (n->op == OP_DIV)
                return interp_fail(c, n, "integer division by zero (%lld / 0)", (long long)a->i[i]);
            return interp_fail(c, n, "0 to the negative power %lld", (long long)b->i[j]);
        }
    }
    return true;
}

bool interp_select(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    (void)n;
    BIter it;
    biter_init(&it, out, in, 3);
    for (int64_t k = 0; k < out->numel; k++, biter_next(&it)) {
        const Tensor *src = in[0]->i[it.off[0]] ? in[1] : in[2];
        interp_copy_elem(out, k, src, in[0]->i[it.off[0]] ? it.off[1] : it.off[2]);
    }
    return true;
}

bool interp_cast(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    (void)n;
    const Tensor *x = in[0];
    for (int64_t k = 0; k < out->numel; k++) {
        if (x->f) {
            tensor_set(out, k, x->f[k]); /* rounds, truncates, saturates or tests != 0 */
        } else if (out->dt == DT_F32) {
            out->f[k] = (float)x->i[k]; /* one rounding, even beyond 2^53 */
        } else if (out->f) {
            out->f[k] = (float)dtype_round(out->dt, (double)x->i[k]);
        } else {
            out->i[k] = interp_wrap(out->dt, (uint64_t)x->i[k]);
        }
    }
    return true;
}
