/* eval.c — expressions: literals, names, templates, lists and the operators.
 *
 * On numbers, strings and lists the operators compute at compile time (Python's rules,
 * except that int / int is an int when exact); on tensors they build nodes, with numbers
 * turned into rank-0 constants of the tensor's dtype.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "elab.h"

/* ---- nodes ---- */

Loc node_loc(const Elab *e, Loc loc) { return e->ncalls ? e->calls[0].from : loc; }

int32_t build(Elab *e, Op op, const int32_t *in, int nin, const Attr *a, const Type *decl, Loc loc)
{
    if (e->stop)
        return -1;
    for (int i = 0; i < nin; i++)
        if (in[i] < 0)
            return -1;
    if (e->g->nnodes >= MAX_NODES) {
        elab_error(e, loc, "the graph is too large (more than %d nodes)", MAX_NODES);
        e->stop = true;
        return -1;
    }
    IrError err;
    int32_t v = ir_build(e->g, op, in, nin, a, decl, node_loc(e, loc), &err);
    if (v < 0) {
        if (strcmp(err.msg, "out of memory") == 0)
            elab_oom(e);
        else
            elab_error(e, loc, "%s", err.msg);
    }
    return v;
}

int32_t scalar_tensor(Elab *e, Val v, DType dt, Loc loc)
{
    char what[300];
    val_describe(e, v, what, sizeof what);
    if (v.k == V_BOOL ? dt != DT_BOOL : dt == DT_BOOL) {
        elab_error(e, loc, "cannot use %s with a %s tensor", what, dtype_name(dt));
        return -1;
    }
    double x = v.k == V_BOOL ? (double)v.u.b : num(v);
    if (!dtype_is_float(dt) && x != floor(x)) {
        elab_error(e, loc, "cannot use the non-integer %s with a %s tensor", what, dtype_name(dt));
        return -1;
    }
    Attr a;
    attr_set_defaults(ATTR_CONST, &a);
    a.constant.data = (FloatList){1, &x};
    Type t = {.dt = dt, .shape = {.rank = 0}};
    return build(e, OP_CONST, NULL, 0, &a, &t, loc);
}

bool want_int(Elab *e, Val v, Loc loc, const char *what, int64_t *out)
{
    if (v.k == V_INT) {
        *out = v.u.i;
        return true;
    }
    if (v.k != V_POISON) {
        char d[300];
        val_describe(e, v, d, sizeof d);
        elab_error(e, loc, "%s must be an int, got %s", what, d);
    }
    return false;
}

/* ---- names ---- */

/* Edit distance with transpositions (optimal string alignment), for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    enum { N = 33 };
    size_t la = strlen(a), lb = strlen(b), d[N][N];
    if (la >= N || lb >= N)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

static void closest(const Scope *s, const char *name, const char **best, size_t *dist)
{
    for (uint32_t i = 0; s && i < s->cap; i++) {
        const char *n = s->slots[i].name;
        if (!n)
            continue;
        size_t d = edit_distance(name, n);
        if (d < *dist || (d == *dist && *best && strcmp(n, *best) < 0)) {
            *dist = d;
            *best = n;
        }
    }
}

void elab_unknown(Elab *e, const char *name, Loc loc, const char *what)
{
    const char *best = NULL;
    size_t len = strlen(name);
    size_t dist = 1 + (len <= 2 ? 0 : len <= 5 ? 1 : len <= 10 ? 2 : 3); /* accept dist - 1 edits */
    closest(e->locals, name, &best, &dist);
    closest(&e->globals, name, &best, &dist);
    closest(&e->universe, name, &best, &dist);
    if (best)
        elab_error(e, loc, "unknown %s '%s'; did you mean '%s'?", what, name, best);
    else
        elab_error(e, loc, "unknown %s '%s'", what, name);
}

static Val eval_name(Elab *e, const Expr *x, const char *what)
{
    Entry *en = lookup(e, x->u.name);
    if (!en) {
        elab_unknown(e, x->u.name, x->loc, what);
        return v_poison();
    }
    return en->v;
}

/* ---- string templates ---- */

Val eval_template(Elab *e, const Template *t, Loc loc)
{
    if (t->bad)
        return v_poison();
    char *buf = NULL;
    size_t n = 0;
    Val r = v_poison();
    for (int i = 0; i < t->nparts; i++) {
        const TemplatePart *p = &t->parts[i];
        char tmp[512];
        const char *s = p->s;
        size_t len = p->n;
        if (p->kind == TP_NAME) {
            Entry *en = lookup(e, p->s);
            if (!en) {
                Expr fake = {.kind = E_NAME, .loc = p->loc, .u.name = p->s};
                eval_name(e, &fake, "name");
                goto out;
            }
            if (en->v.k == V_POISON)
                goto out;
            if (en->v.k == V_STR) {
                s = en->v.u.str.s;
                len = (size_t)en->v.u.str.n;
            } else if (val_format(e, en->v, tmp, sizeof tmp)) {
                s = tmp;
                len = strlen(tmp);
            } else {
                char d[300];
                val_describe(e, en->v, d, sizeof d);
                elab_error(e, p->loc, "'%s' cannot be put into a string (it is %s)", p->s, d);
                goto out;
            }
        }
        if (n + len > MAX_STRING) {
            elab_error(e, loc, "string is too long (more than %d bytes)", MAX_STRING);
            goto out;
        }
        char *nb = ir_realloc(buf, n + len + 1);
        if (!nb) {
            elab_oom(e);
            goto out;
        }
        buf = nb;
        memcpy(buf + n, s, len);
        n += len;
    }
    if (elab_step(e, loc, (int64_t)n / 16))
        r = v_str(e, buf ? buf : "", n);
out:
    ir_free(buf);
    return r;
}

/* ---- operators on compile-time values ---- */

static void bad_operands(Elab *e, Operator op, Val a, Val b, Loc loc)
{
    char da[300], db[300];
    val_describe(e, a, da, sizeof da);
    val_describe(e, b, db, sizeof db);
    elab_error(e, loc, "'%s' is not defined for %s and %s", operator_text(op), da, db);
}

static Val finite_result(Elab *e, double r, Operator op, Loc loc)
{
    if (!isfinite(r)) {
        elab_error(e, loc, "the result of '%s' is %s", operator_text(op), isnan(r) ? "not a number" : "infinite");
        return v_poison();
    }
    return v_float(r);
}

static Val int_op(Elab *e, Operator op, int64_t a, int64_t b, Loc loc)
{
    int64_t r;
    bool ovf = false;
    switch (op) {
    case OPR_ADD: ovf = __builtin_add_overflow(a, b, &r); break;
    case OPR_SUB: ovf = __builtin_sub_overflow(a, b, &r); break;
    case OPR_MUL: ovf = __builtin_mul_overflow(a, b, &r); break;
    case OPR_DIV:
    case OPR_FLOORDIV:
    case OPR_MOD:
        if (b == 0) {
            elab_error(e, loc, "division by zero");
            return v_poison();
        }
        if (a == INT64_MIN && b == -1) {
            ovf = true;
            break;
        }
        if (op == OPR_DIV)
            return a % b == 0 ? v_int(a / b) : v_float((double)a / (double)b);
        r = op == OPR_MOD ? a % b : a / b;
        if (a % b != 0 && ((a < 0) != (b < 0)))
            r = op == OPR_MOD ? r + b : r - 1; /* Python: floor division, the sign of the divisor */
        break;
    case OPR_POW:
        if (b < 0)
            return finite_result(e, pow((double)a, (double)b), op, loc);
        r = 1;
        for (int64_t i = 0; i < b && !ovf; i++) {
            ovf = __builtin_mul_overflow(r, a, &r);
            if (r == 0 || r == 1)
                break; /* 0 ** b, 1 ** b */
            if (r == -1 && a == -1) {
                r = (b % 2) ? -1 : 1;
                break;
            }
        }
        break;
    default: return v_poison();
    }
    if (ovf) {
        elab_error(e, loc, "integer overflow in %" PRId64 " %s %" PRId64, a, operator_text(op), b);
        return v_poison();
    }
    return v_int(r);
}

Val number_op(Elab *e, Operator op, Val a, Val b, Loc loc)
{
    if (a.k == V_INT && b.k == V_INT)
        return int_op(e, op, a.u.i, b.u.i, loc);
    double x = num(a), y = num(b);
    switch (op) {
    case OPR_ADD: return finite_result(e, x + y, op, loc);
    case OPR_SUB: return finite_result(e, x - y, op, loc);
    case OPR_MUL: return finite_result(e, x * y, op, loc);
    case OPR_POW: return finite_result(e, pow(x, y), op, loc);
    case OPR_DIV:
    case OPR_FLOORDIV:
    case OPR_MOD:
        if (y == 0) {
            elab_error(e, loc, "division by zero");
            return v_poison();
        }
        if (op == OPR_DIV)
            return finite_result(e, x / y, op, loc);
        if (op == OPR_FLOORDIV)
            return finite_result(e, floor(x / y), op, loc);
        double r = fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0)))
            r += y;
        return finite_result(e, r, op, loc);
    default: bad_operands(e, op, a, b, loc); return v_poison();
    }
}

static Val compare(Elab *e, Operator op, Val a, Val b, Loc loc)
{
    if (op == OPR_EQ || op == OPR_NE) {
        bool ok = true, eq = val_equal(a, b, &ok);
        if (!ok) {
            char da[300], db[300];
            val_describe(e, a, da, sizeof da);
            val_describe(e, b, db, sizeof db);
            elab_error(e, loc, "cannot compare %s and %s at compile time", da, db);
            return v_poison();
        }
        return v_bool(op == OPR_EQ ? eq : !eq);
    }
    int c;
    if (is_number(a) && is_number(b))
        c = num(a) < num(b) ? -1 : num(a) > num(b);
    else if (a.k == V_STR && b.k == V_STR)
        c = strcmp(a.u.str.s, b.u.str.s);
    else {
        bad_operands(e, op, a, b, loc);
        return v_poison();
    }
    switch (op) {
    case OPR_LT: return v_bool(c < 0);
    case OPR_LE: return v_bool(c <= 0);
    case OPR_GT: return v_bool(c > 0);
    default: return v_bool(c >= 0);
    }
}

static Val concat_lists(Elab *e, const Val *a, int64_t na, const Val *b, int64_t nb, int64_t times, Loc loc)
{
    Val r;
    Val *v = v_list_new(e, (na + nb) * times, loc, &r);
    if (!v)
        return r;
    for (int64_t t = 0; t < times; t++) {
        if (na)
            memcpy(v + t * (na + nb), a, (size_t)na * sizeof *v);
        if (nb)
            memcpy(v + t * (na + nb) + na, b, (size_t)nb * sizeof *v);
    }
    return r;
}

static Val range(Elab *e, Val a, Val b, Loc loc)
{
    int64_t lo, hi;
    if (!want_int(e, a, loc, "the start of a range", &lo) || !want_int(e, b, loc, "the end of a range", &hi))
        return v_poison();
    if (lo > hi) {
        elab_error(e, loc, "the range %" PRId64 " .. %" PRId64 " is backwards: its start must not exceed its end",
                   lo, hi);
        return v_poison();
    }
    if (hi - lo > MAX_LIST || hi - lo < 0) {
        elab_error(e, loc, "the range %" PRId64 " .. %" PRId64 " is too long (the limit is %d)", lo, hi, MAX_LIST);
        return v_poison();
    }
    Val r;
    Val *v = v_list_new(e, hi - lo, loc, &r);
    for (int64_t i = 0; v && i < hi - lo; i++)
        v[i] = v_int(lo + i);
    return r;
}

/* Symbolic dimensions: multiples of one symbol. */
static Val dim_op(Elab *e, Operator op, Val a, Val b, Loc loc)
{
    Dim d = a.k == V_DIM ? a.u.dim : b.u.dim;
    Val other = a.k == V_DIM ? b : a;
    int64_t r;
    if (op == OPR_MUL && other.k == V_INT && other.u.i >= 0) {
        if (__builtin_mul_overflow(d.n, other.u.i, &r))
            return int_op(e, op, d.n, other.u.i, loc);
        return r == 0 ? v_int(0) : v_dim(dim_sym(d.sym, r));
    }
    if ((op == OPR_FLOORDIV || op == OPR_DIV) && a.k == V_DIM && b.k == V_INT && b.u.i > 0 && d.n % b.u.i == 0)
        return v_dim(dim_sym(d.sym, d.n / b.u.i));
    if ((op == OPR_ADD || op == OPR_SUB) && a.k == V_DIM && b.k == V_DIM && a.u.dim.sym == b.u.dim.sym) {
        bool ovf = op == OPR_ADD ? __builtin_add_overflow(a.u.dim.n, b.u.dim.n, &r)
                                 : __builtin_sub_overflow(a.u.dim.n, b.u.dim.n, &r);
        if (!ovf && r >= 0)
            return r == 0 ? v_int(0) : v_dim(dim_sym(d.sym, r));
    }
    char da[300], db[300];
    val_describe(e, a, da, sizeof da);
    val_describe(e, b, db, sizeof db);
    elab_error(e, loc, "cannot compute %s %s %s: a symbolic dimension can only be multiplied by a constant, "
               "divided by one that divides it, or added to a multiple of the same symbol",
               da, operator_text(op), db);
    return v_poison();
}

/* ---- operators on tensors ---- */

static const Op tensor_ops[] = {
    [OPR_ADD] = OP_ADD, [OPR_SUB] = OP_SUB, [OPR_MUL] = OP_MUL, [OPR_DIV] = OP_DIV,
    [OPR_POW] = OP_POW, [OPR_MATMUL] = OP_MATMUL, [OPR_EQ] = OP_EQ, [OPR_NE] = OP_NE,
    [OPR_LT] = OP_LT, [OPR_LE] = OP_LE, [OPR_GT] = OP_GT, [OPR_GE] = OP_GE,
    [OPR_AND] = OP_AND, [OPR_OR] = OP_OR,
};

static Val tensor_op(Elab *e, Operator op, Val a, Val b, Loc loc)
{
    if (op == OPR_FLOORDIV || op == OPR_MOD || op == OPR_RANGE) {
        bad_operands(e, op, a, b, loc);
        return v_poison();
    }
    DType dt = ir_type(e->g, a.k == V_TENSOR ? a.u.t : b.u.t)->dt;
    int32_t in[2];
    Val ops[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (ops[i].k == V_TENSOR)
            in[i] = ops[i].u.t;
        else if (is_number(ops[i]) || ops[i].k == V_BOOL)
            in[i] = scalar_tensor(e, ops[i], dt, loc);
        else {
            bad_operands(e, op, a, b, loc);
            return v_poison();
        }
        if (in[i] < 0)
            return v_poison();
    }
    return v_tensor(build(e, tensor_ops[op], in, 2, NULL, NULL, loc));
}

Val binary_op(Elab *e, Operator op, Val a, Val b, Loc loc)
{
    if (a.k == V_POISON || b.k == V_POISON)
        return v_poison();
    if ((op == OPR_EQ || op == OPR_NE) && (a.k == V_NONE || b.k == V_NONE))
        return v_bool((a.k == b.k) == (op == OPR_EQ)); /* `mask == none` is decided now */
    if (op == OPR_RANGE)
        return range(e, a, b, loc);
    if (a.k == V_TENSOR || b.k == V_TENSOR)
        return tensor_op(e, op, a, b, loc);
    if (op >= OPR_EQ && op <= OPR_GE)
        return compare(e, op, a, b, loc);
    if (op == OPR_AND || op == OPR_OR) {
        if (a.k == V_BOOL && b.k == V_BOOL)
            return v_bool(op == OPR_AND ? a.u.b && b.u.b : a.u.b || b.u.b);
        bad_operands(e, op, a, b, loc);
        return v_poison();
    }
    if (is_number(a) && is_number(b))
        return number_op(e, op, a, b, loc);
    if (a.k == V_DIM || b.k == V_DIM)
        return dim_op(e, op, a, b, loc);
    if (op == OPR_ADD && a.k == V_STR && b.k == V_STR) {
        if ((int64_t)a.u.str.n + b.u.str.n > MAX_STRING) {
            elab_error(e, loc, "string is too long (more than %d bytes)", MAX_STRING);
            return v_poison();
        }
        char *s = elab_step(e, loc, ((int64_t)a.u.str.n + b.u.str.n) / 16)
                      ? elab_alloc(e, (size_t)a.u.str.n + (size_t)b.u.str.n + 1)
                      : NULL;
        if (!s)
            return v_poison();
        memcpy(s, a.u.str.s, (size_t)a.u.str.n);
        memcpy(s + a.u.str.n, b.u.str.s, (size_t)b.u.str.n + 1);
        return (Val){.k = V_STR, .u.str = {s, a.u.str.n + b.u.str.n}};
    }
    if (op == OPR_ADD && a.k == V_LIST && b.k == V_LIST)
        return concat_lists(e, a.u.list.v, a.u.list.n, b.u.list.v, b.u.list.n, 1, loc);
    if (op == OPR_MUL && ((a.k == V_LIST && b.k == V_INT) || (a.k == V_INT && b.k == V_LIST))) {
        Val l = a.k == V_LIST ? a : b;
        int64_t times = a.k == V_INT ? a.u.i : b.u.i;
        if (times < 0 || l.u.list.n == 0)
            times = 0;
        if (l.u.list.n && times > MAX_LIST / l.u.list.n)
            times = MAX_LIST / l.u.list.n + 1; /* reported as too long */
        return concat_lists(e, l.u.list.v, l.u.list.n, NULL, 0, times, loc);
    }
    bad_operands(e, op, a, b, loc);
    return v_poison();
}

static Val unary_op(Elab *e, Operator op, Val a, Loc loc)
{
    if (a.k == V_POISON)
        return a;
    if (op == OPR_NOT) {
        if (a.k == V_BOOL)
            return v_bool(!a.u.b);
        if (a.k == V_TENSOR)
            return v_tensor(build(e, OP_NOT, &a.u.t, 1, NULL, NULL, loc));
    } else {
        if (a.k == V_INT && a.u.i != INT64_MIN)
            return v_int(-a.u.i);
        if (a.k == V_FLOAT)
            return v_float(-a.u.f);
        if (a.k == V_TENSOR)
            return v_tensor(build(e, OP_NEG, &a.u.t, 1, NULL, NULL, loc));
    }
    char d[300];
    val_describe(e, a, d, sizeof d);
    elab_error(e, loc, "'%s' is not defined for %s", operator_text(op), d);
    return v_poison();
}

/* `and`, `or`: on compile-time bools the right side is evaluated only when needed. */
static Val logic_op(Elab *e, const Expr *x)
{
    Operator op = x->u.op.op;
    Val a = eval(e, x->u.op.a);
    if (a.k == V_BOOL && a.u.b == (op == OPR_OR))
        return a;
    if (a.k != V_BOOL && a.k != V_TENSOR && a.k != V_POISON) {
        char d[300];
        val_describe(e, a, d, sizeof d);
        elab_error(e, x->loc, "'%s' needs bools or bool tensors, got %s", operator_text(op), d);
        return v_poison();
    }
    return binary_op(e, op, a, eval(e, x->u.op.b), x->loc);
}

static Val eval_list(Elab *e, const Expr *x)
{
    int64_t n = 0;
    for (const Expr *i = x->u.items; i; i = i->next)
        n++;
    Val r;
    Val *v = v_list_new(e, n, x->loc, &r);
    if (!v)
        return r;
    n = 0;
    for (const Expr *i = x->u.items; i; i = i->next) {
        v[n] = eval(e, i);
        if (v[n++].k == V_POISON)
            return v_poison();
    }
    return r;
}

static Val eval_cond(Elab *e, const Expr *x)
{
    Val c = eval(e, x->u.cond.cond);
    if (c.k == V_POISON)
        return c;
    if (c.k != V_BOOL) {
        char d[300];
        val_describe(e, c, d, sizeof d);
        elab_error(e, x->loc, "the condition of 'if' must be a compile-time bool, got %s%s", d,
                   c.k == V_TENSOR ? " (use select() to choose between tensors elementwise)" : "");
        return v_poison();
    }
    return eval(e, c.u.b ? x->u.cond.then : x->u.cond.els);
}

Val eval(Elab *e, const Expr *x)
{
    if (e->stop || !elab_step(e, x->loc, 0))
        return v_poison();
    if (e->nest >= MAX_NEST) {
        elab_error(e, x->loc, "expressions and calls are nested too deeply (more than %d levels)", MAX_NEST);
        e->stop = true;
        return v_poison();
    }
    e->nest++;
    Val r;
    switch (x->kind) {
    case E_INT: r = v_int(x->u.i); break;
    case E_FLOAT: r = v_float(x->u.f); break;
    case E_BOOL: r = v_bool(x->u.b); break;
    case E_NONE: r = v_none(); break;
    case E_STRING: r = eval_template(e, x->u.str, x->loc); break;
    case E_NAME: r = eval_name(e, x, "name"); break;
    case E_LIST: r = eval_list(e, x); break;
    case E_UNARY: r = unary_op(e, x->u.op.op, eval(e, x->u.op.a), x->loc); break;
    case E_BINARY:
        if (x->u.op.op == OPR_AND || x->u.op.op == OPR_OR)
            r = logic_op(e, x);
        else {
            Val a = eval(e, x->u.op.a);
            r = a.k == V_POISON ? a : binary_op(e, x->u.op.op, a, eval(e, x->u.op.b), x->loc);
        }
        break;
    case E_COND: r = eval_cond(e, x); break;
    case E_CALL: r = eval_call(e, x); break;
    case E_INDEX: r = eval_index(e, x); break;
    default:
        elab_error(e, x->loc, "'%s' is only allowed inside [...]", x->kind == E_SLICE ? ":" : "...");
        r = v_poison();
    }
    e->nest--;
    return r;
}
