/* fold.c — elementwise primitives applied to plain numbers at compile time:
 * `sqrt(64)` is 8.0, `maximum(3, 4)` is 4, `cast(2.7, i32)` is 2. Integer operands stay
 * integers where the operation allows it (abs, neg, relu, maximum, minimum, + - *);
 * everything else computes in double precision. */
#include <math.h>

#include "elab.h"

static bool want_number(Elab *e, Op op, Val v, Loc loc)
{
    if (is_number(v))
        return true;
    char d[300];
    val_describe(e, v, d, sizeof d);
    elab_error(e, loc, "'%s' needs a number or a tensor, got %s", ir_ops[op].name, d);
    return false;
}

static bool want_bool(Elab *e, Op op, Val v, Loc loc)
{
    if (v.k == V_BOOL)
        return true;
    char d[300];
    val_describe(e, v, d, sizeof d);
    elab_error(e, loc, "'%s' needs a bool or a bool tensor, got %s", ir_ops[op].name, d);
    return false;
}

static Val real(Elab *e, Op op, double r, Loc loc)
{
    if (!isfinite(r)) {
        elab_error(e, loc, "'%s' gives %s here", ir_ops[op].name, isnan(r) ? "not a number" : "infinity");
        return v_poison();
    }
    return v_float(r);
}

static Val unary(Elab *e, Op op, const Attr *a, Val x, Loc loc)
{
    if (op == OP_NOT)
        return want_bool(e, op, x, loc) ? v_bool(!x.u.b) : v_poison();
    if (op == OP_CAST) {
        if (x.k == V_BOOL)
            x = v_int(x.u.b);
        if (!want_number(e, op, x, loc))
            return v_poison();
        if (a->cast.to == DT_BOOL)
            return v_bool(num(x) != 0);
        if (dtype_is_float(a->cast.to))
            return v_float(num(x));
        if (x.k == V_FLOAT && !(x.u.f > -9.2e18 && x.u.f < 9.2e18)) {
            elab_error(e, loc, "'cast': the value does not fit an integer");
            return v_poison();
        }
        return v_int(x.k == V_INT ? x.u.i : (int64_t)x.u.f);
    }
    if (!want_number(e, op, x, loc))
        return v_poison();
    double v = num(x);
    if (x.k == V_INT && x.u.i != INT64_MIN) {
        if (op == OP_NEG)
            return v_int(-x.u.i);
        if (op == OP_ABS)
            return v_int(x.u.i < 0 ? -x.u.i : x.u.i);
        if (op == OP_RELU)
            return v_int(x.u.i < 0 ? 0 : x.u.i);
    }
    switch (op) {
    case OP_NEG: return real(e, op, -v, loc);
    case OP_ABS: return real(e, op, fabs(v), loc);
    case OP_RELU: return real(e, op, v < 0 ? 0 : v, loc);
    case OP_EXP: return real(e, op, exp(v), loc);
    case OP_LOG: return real(e, op, log(v), loc);
    case OP_SQRT: return real(e, op, sqrt(v), loc);
    case OP_RSQRT: return real(e, op, 1 / sqrt(v), loc);
    case OP_TANH: return real(e, op, tanh(v), loc);
    case OP_ERF: return real(e, op, erf(v), loc);
    case OP_SIGMOID: return real(e, op, 1 / (1 + exp(-v)), loc);
    case OP_SOFTPLUS: return real(e, op, v > 30 ? v : log1p(exp(v)), loc);
    case OP_SIN: return real(e, op, sin(v), loc);
    case OP_COS: return real(e, op, cos(v), loc);
    case OP_GELU:
        if (a->gelu.approximate == GELU_TANH)
            return real(e, op, 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), loc);
        return real(e, op, 0.5 * v * (1 + erf(v / sqrt(2))), loc);
    default: return v_poison();
    }
}

bool fold_prim(Elab *e, Op op, const Attr *a, const Val *in, int nin, Loc loc, Val *out)
{
    static const struct {
        Op op;
        Operator opr;
    } binary[] = {
        {OP_ADD, OPR_ADD}, {OP_SUB, OPR_SUB}, {OP_MUL, OPR_MUL}, {OP_DIV, OPR_DIV},
        {OP_POW, OPR_POW}, {OP_EQ, OPR_EQ}, {OP_NE, OPR_NE}, {OP_LT, OPR_LT},
        {OP_LE, OPR_LE}, {OP_GT, OPR_GT}, {OP_GE, OPR_GE}, {OP_AND, OPR_AND}, {OP_OR, OPR_OR},
    };
    *out = v_poison();
    if (!(ir_ops[op].flags & OPF_EW))
        return false;
    if (nin == 1) {
        *out = unary(e, op, a, in[0], loc);
        return true;
    }
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++)
        if (binary[i].op == op) {
            *out = binary_op(e, binary[i].opr, in[0], in[1], loc);
            return true;
        }
    if (op == OP_MAX || op == OP_MIN) {
        if (want_number(e, op, in[0], loc) && want_number(e, op, in[1], loc)) {
            bool first = (num(in[0]) > num(in[1])) == (op == OP_MAX);
            *out = first ? in[0] : in[1];
        }
        return true;
    }
    if (op == OP_SELECT) {
        if (want_bool(e, op, in[0], loc))
            *out = in[0].u.b ? in[1] : in[2];
        return true;
    }
    return false;
}
