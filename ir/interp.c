/* interp.c — the reference interpreter's driver: tensors, rounding, symbol binding and
 * the evaluation loop. The ops themselves are in interp_*.c, one file per family:
 *
 *   interp_source.c  input, param, constant, iota (and checkpoint conversion)
 *   interp_ew.c      elementwise: unary, binary, comparisons, select, cast
 *   interp_reduce.c  reduce_*, softmax, log_softmax, normalize
 *   interp_matmul.c  matmul
 *   interp_data.c    reshape, broadcast, transpose, slice, concat, take
 *
 * Numerics common to all of them: floating-point math is done in double and the result
 * rounded to its dtype (dtype_round); integer math is exact in 64 bits and wraps to the
 * width of its dtype; bool is 0 or 1.
 *
 * ir_interp: every input node takes the tensor of the same name; its shape binds the
 * graph's symbols (a dimension n×S binds S to dim/n, which must be whole, at least 1, at
 * most S's maximum, and the same wherever S appears). Nodes run in order; a value is freed
 * after its last use. Every failure is a message, never a crash.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "interp_internal.h"

/* ---- tensors ---- */

/* Bytes needed for numel elements of dt; -1 when numel overflows or it is too large. */
static int64_t storage_bytes(DType dt, int32_t rank, const int64_t *dims, int64_t *numel)
{
    int64_t n = 1;
    if (rank < 0 || rank > IR_MAX_RANK || (unsigned)dt >= DT_COUNT)
        return -1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] != 0 && n > INT64_MAX / dims[i]))
            return -1;
        n *= dims[i];
    }
    int64_t elem = dtype_is_float(dt) ? (int64_t)sizeof(float) : (int64_t)sizeof(int64_t);
    if (n > INTERP_MAX_BYTES / elem)
        return -1;
    *numel = n;
    return n * elem;
}

Tensor *tensor_new(DType dt, int32_t rank, const int64_t *dims)
{
    int64_t numel;
    if (storage_bytes(dt, rank, dims, &numel) < 0)
        return NULL;
    Tensor *t = ir_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->dt = dt;
    t->rank = rank;
    if (rank)
        memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->numel = numel;
    if (dtype_is_float(dt))
        t->f = ir_calloc((size_t)numel, sizeof *t->f);
    else
        t->i = ir_calloc((size_t)numel, sizeof *t->i);
    if (!t->f && !t->i) {
        ir_free(t);
        return NULL;
    }
    return t;
}

void tensor_free(Tensor *t)
{
    if (!t)
        return;
    ir_free(t->f);
    ir_free(t->i);
    ir_free(t);
}

double tensor_get(const Tensor *t, int64_t k) { return t->f ? (double)t->f[k] : (double)t->i[k]; }

void tensor_set(Tensor *t, int64_t k, double v)
{
    if (t->f)
        t->f[k] = (float)dtype_round(t->dt, v);
    else if (t->dt == DT_I64 && v >= 0x1p63)
        t->i[k] = INT64_MAX; /* a double cannot hold it: dtype_round stops just below */
    else
        t->i[k] = (int64_t)dtype_round(t->dt, v);
}

/* ---- rounding ---- */

/* v rounded to nearest even in a binary format with `mant` stored mantissa bits, minimum
 * normal exponent emin and largest finite value maxf (overflow gives ±inf). */
static double round_binary(double v, int mant, int emin, double maxf)
{
    if (v != v || v == 0 || isinf(v))
        return v;
    int e;
    frexp(v, &e);
    e -= 1; /* |v| in [2^e, 2^(e+1)) */
    if (e < emin)
        e = emin; /* subnormal: the spacing stops shrinking */
    double q = ldexp(1.0, e - mant);
    double r = nearbyint(v / q) * q; /* both steps exact; nearbyint ties to even */
    return fabs(r) > maxf ? copysign(INFINITY, v) : r;
}

double dtype_round(DType dt, double v)
{
    switch (dt) {
    case DT_F32:
        return (double)(float)v;
    case DT_F16:
        return round_binary(v, 10, -14, 65504.0);
    case DT_BF16:
        return round_binary(v, 7, -126, 0x1.fep127);
    case DT_I32:
        if (v != v)
            return 0;
        v = trunc(v);
        return v < -2147483648.0 ? -2147483648.0 : v > 2147483647.0 ? 2147483647.0 : v;
    case DT_I64:
        if (v != v)
            return 0;
        v = trunc(v);
        /* the extremes of int64 as doubles: -2^63 is exact, 2^63 - 1 is not */
        return v < -0x1p63 ? -0x1p63 : v >= 0x1p63 ? 0x1.fffffffffffffp62 : v;
    case DT_BOOL:
        return v != 0;
    default:
        return v;
    }
}

int64_t interp_wrap(DType dt, uint64_t v)
{
    switch (dt) {
    case DT_I32: {
        uint32_t u = (uint32_t)v;
        return u >= 0x80000000u ? (int64_t)u - 0x100000000ll : (int64_t)u;
    }
    case DT_BOOL:
        return v != 0;
    default:
        return v > (uint64_t)INT64_MAX ? -(int64_t)(~v) - 1 : (int64_t)v;
    }
}

/* ---- helpers shared by the op files ---- */

bool interp_fail(InterpCtx *c, const Node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!c->err)
        return false;
    if (n->loc.file)
        snprintf(c->err->msg, sizeof c->err->msg, "%s:%d:%d: '%s': %s", n->loc.file, n->loc.line, n->loc.col,
                 ir_ops[n->op].name, msg);
    else if (n >= c->g->nodes && n < c->g->nodes + c->g->nnodes)
        snprintf(c->err->msg, sizeof c->err->msg, "node %d ('%s'): %s", (int)(n - c->g->nodes),
                 ir_ops[n->op].name, msg);
    else
        snprintf(c->err->msg, sizeof c->err->msg, "'%s': %s", ir_ops[n->op].name, msg);
    return false;
}

void interp_strides(const Tensor *t, int64_t *s)
{
    int64_t acc = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        s[i] = acc;
        acc *= t->dims[i];
    }
}

void biter_init(BIter *it, const Tensor *out, const Tensor *const *ops, int nops)
{
    memset(it, 0, sizeof *it);
    it->rank = out->rank;
    it->nops = nops;
    memcpy(it->dims, out->dims, sizeof it->dims);
    for (int j = 0; j < nops; j++) {
        int64_t s[IR_MAX_RANK];
        interp_strides(ops[j], s);
        for (int d = 0; d < out->rank; d++) {
            int od = ops[j]->rank - out->rank + d; /* aligned from the right */
            it->stride[j][d] = od >= 0 && ops[j]->dims[od] != 1 ? s[od] : 0;
        }
    }
}

void biter_next(BIter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        for (int j = 0; j < it->nops; j++)
            it->off[j] += it->stride[j][d];
        if (++it->idx[d] < it->dims[d])
            return;
        for (int j = 0; j < it->nops; j++)
            it->off[j] -= it->stride[j][d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* ---- binding symbols from the input shapes ---- */

#define ERR(...)                                                  \
    do {                                                          \
        snprintf(err->msg, sizeof err->msg, __VA_ARGS__);         \
        return false;                                             \
    } while (0)

static void fmt_type(const Graph *g, const Type *t, char *buf, size_t n)
{
    char s[256];
    ir_format_shape(g, &t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s", dtype_name(t->dt), s);
}

static void fmt_dims(const Tensor *t, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->rank && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

static bool bind_input(const Graph *g, const Node *n, const Tensor *t, int64_t *bind, const char **binder,
                       IrError *err)
{
    const char *name = n->attr.input.name;
    const Type *ty = ir_type(g, n->out);
    char want[300], have[300];
    fmt_type(g, ty, want, sizeof want);
    fmt_dims(t, have, sizeof have);
    if (t->dt != ty->dt)
        ERR("input '%s' is %s%s but the model takes %s", name, dtype_name(t->dt), have, want);
    if (t->rank != ty->shape.rank)
        ERR("input '%s' has shape %s but the model takes %s", name, have, want);
    for (int d = 0; d < t->rank; d++) {
        Dim dim = ty->shape.d[d];
        int64_t v = t->dims[d];
        if (dim_is_const(dim)) {
            if (v != dim.n)
                ERR("input '%s' has shape %s but the model takes %s (dimension %d is %lld, not %lld)", name, have,
                    want, d, (long long)v, (long long)dim.n);
            continue;
        }
        const Symbol *s = &g->syms[dim.sym];
        if (v % dim.n != 0)
            ERR("input '%s' has shape %s but the model takes %s (dimension %d is %lld, not a multiple of %lld)",
                name, have, want, d, (long long)v, (long long)dim.n);
        int64_t b = v / dim.n;
        if (b < 1)
            ERR("input '%s' has shape %s, which binds %s = %lld; it must be at least 1", name, have, s->name,
                (long long)b);
        if (b > s->max)
            ERR("input '%s' has shape %s, which binds %s = %lld, above its maximum %lld", name, have, s->name,
                (long long)b, (long long)s->max);
        if (bind[dim.sym] >= 0 && bind[dim.sym] != b)
            ERR("input '%s' has shape %s, which binds %s = %lld, but input '%s' bound it to %lld", name, have,
                s->name, (long long)b, binder[dim.sym], (long long)bind[dim.sym]);
        bind[dim.sym] = b;
        binder[dim.sym] = name;
    }
    int64_t numel = 1;
    for (int d = 0; d < t->rank && numel >= 0; d++)
        numel = t->dims[d] && numel > INT64_MAX / t->dims[d] ? -1 : numel * t->dims[d];
    if (!t->f == dtype_is_float(t->dt) || (!t->f && !t->i) || t->numel != numel)
        ERR("input '%s': the tensor's storage does not match its dtype and shape", name);
    return true;
}

static bool bind_inputs(const Graph *g, const NamedTensor *inputs, int ninputs, int64_t *bind, IrError *err)
{
    const char **binder = ir_calloc((size_t)(g->nsyms ? g->nsyms : 1), sizeof *binder);
    if (!binder)
        ERR("out of memory");
    bool ok = true;
    for (int i = 0; ok && i < ninputs; i++) {
        if (!inputs[i].name || !inputs[i].t) {
            snprintf(err->msg, sizeof err->msg, "input tensor %d has no name or no data", i);
            ok = false;
        }
        for (int j = 0; ok && j < i; j++)
            if (strcmp(inputs[i].name, inputs[j].name) == 0) {
                snprintf(err->msg, sizeof err->msg, "input '%s' is given twice", inputs[i].name);
                ok = false;
            }
        bool known = false;
        for (int k = 0; ok && !known && k < g->nnodes; k++)
            known = !g->nodes[k].dead && g->nodes[k].op == OP_INPUT &&
                    strcmp(g->nodes[k].attr.input.name, inputs[i].name) == 0;
        if (ok && !known) {
            size_t len = 0;
            char names[256] = "";
            for (int k = 0; k < g->nnodes && len < sizeof names; k++)
                if (!g->nodes[k].dead && g->nodes[k].op == OP_INPUT)
                    len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                                            g->nodes[k].attr.input.name);
            snprintf(err->msg, sizeof err->msg, "the model has no input named '%s' (its inputs: %s)",
                     inputs[i].name, names[0] ? names : "none");
            ok = false;
        }
    }
    for (int k = 0; ok && k < g->nnodes; k++) {
        const Node *n = &g->nodes[k];
        if (n->dead || n->op != OP_INPUT)
            continue;
        const Tensor *t = NULL;
        for (int i = 0; i < ninputs && !t; i++)
            if (strcmp(inputs[i].name, n->attr.input.name) == 0)
                t = inputs[i].t;
        if (!t) {
            char want[300];
            fmt_type(g, ir_type(g, n->out), want, sizeof want);
            snprintf(err->msg, sizeof err->msg, "missing input '%s' (the model takes %s: %s)", n->attr.input.name,
                     n->attr.input.name, want);
            ok = false;
        } else {
            ok = bind_input(g, n, t, bind, binder, err);
        }
    }
    ir_free(binder);
    return ok;
}

/* ---- evaluation ---- */

/* A result tensor for value v with every symbol bound. */
static Tensor *alloc_result(InterpCtx *c, const Node *n, int32_t v, const int64_t *bind)
{
    const Type *t = ir_type(c->g, v);
    int64_t dims[IR_MAX_RANK], numel;
    for (int d = 0; d < t->shape.rank; d++) {
        Dim dim = t->shape.d[d];
        if (!dim_is_const(dim) && (!bind || bind[dim.sym] < 0)) {
            interp_fail(c, n, "symbol '%s' in its result type is not bound by any input", c->g->syms[dim.sym].name);
            return NULL;
        }
        dims[d] = dim_eval(dim, bind);
    }
    if (storage_bytes(t->dt, t->shape.rank, dims, &numel) < 0) {
        char s[256];
        ir_format_shape(c->g, &t->shape, s, sizeof s);
        interp_fail(c, n, "its result %s%s is too large for the interpreter (limit %lld bytes)", dtype_name(t->dt), s,
                    (long long)INTERP_MAX_BYTES);
        return NULL;
    }
    Tensor *r = tensor_new(t->dt, t->shape.rank, dims);
    if (!r)
        interp_fail(c, n, "out of memory");
    return r;
}

static Tensor *tensor_clone(const Tensor *t)
{
    Tensor *r = tensor_new(t->dt, t->rank, t->dims);
    if (r && t->numel) {
        if (t->f)
            memcpy(r->f, t->f, (size_t)t->numel * sizeof *t->f);
        else
            memcpy(r->i, t->i, (size_t)t->numel * sizeof *t->i);
    }
    return r;
}

bool ir_interp(const Graph *g, const WeightSource *weights, const NamedTensor *inputs, int ninputs,
               Tensor **outputs, IrError *err)
{
    IrError local;
    if (!err)
        err = &local;
    for (int i = 0; i < g->noutputs; i++)
        outputs[i] = NULL;
    IrError verr;
    if (!ir_verify(g, &verr))
        ERR("the graph is invalid: %s", verr.msg);

    int64_t *bind = ir_malloc((size_t)(g->nsyms ? g->nsyms : 1) * sizeof *bind);
    Tensor **vals = ir_calloc((size_t)(g->nvalues ? g->nvalues : 1), sizeof *vals);
    int32_t *last = ir_malloc((size_t)(g->nvalues ? g->nvalues : 1) * sizeof *last);
    bool *keep = ir_calloc((size_t)(g->nvalues ? g->nvalues : 1), sizeof *keep);
    bool ok = bind && vals && last && keep;
    if (!ok)
        snprintf(err->msg, sizeof err->msg, "out of memory");
    for (int s = 0; ok && s < g->nsyms; s++)
        bind[s] = -1;
    if (ok)
        ok = bind_inputs(g, inputs, ninputs, bind, err);

    InterpCtx c = {g, weights, inputs, ninputs, err};
    if (ok) {
        for (int32_t v = 0; v < g->nvalues; v++)
            last[v] = -1;
        for (int32_t i = 0; i < g->nnodes; i++)
            if (!g->nodes[i].dead)
                for (int j = 0; j < g->nodes[i].nin; j++)
                    last[g->nodes[i].in[j]] = i;
        for (int i = 0; i < g->noutputs; i++)
            keep[g->outputs[i].value] = true;
    }
    for (int32_t i = 0; ok && i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        const Tensor **ops = n->nin ? ir_malloc((size_t)n->nin * sizeof *ops) : NULL;
        if (n->nin && !ops) {
            ok = interp_fail(&c, n, "out of memory");
            break;
        }
        for (int j = 0; ok && j < n->nin; j++)
            if (!(ops[j] = vals[n->in[j]]))
                ok = interp_fail(&c, n, "operand %d (value %d) is not computed yet", j, n->in[j]);
        if (n->nout != 1) /* InterpFn takes one result; ops with more need a wider call */
            ok = interp_fail(&c, n, "the interpreter evaluates ops of one result only");
        for (int r = 0; ok && r < n->nout; r++)
            ok = (vals[n->out + r] = alloc_result(&c, n, n->out + r, bind)) != NULL;
        if (ok) {
            err->msg[0] = 0;
            ok = ir_ops[n->op].interp(&c, n, ops, vals[n->out]);
            if (!ok && !err->msg[0])
                interp_fail(&c, n, "evaluation failed");
        }
        ir_free(ops);
        /* free what is no longer needed: operands at their last use, unused results */
        for (int j = 0; ok && j < n->nin; j++) {
            int32_t v = n->in[j];
            if (last[v] == i && !keep[v] && vals[v]) {
                tensor_free(vals[v]);
                vals[v] = NULL;
            }
        }
        for (int r = 0; ok && r < n->nout; r++)
            if (last[n->out + r] < 0 && !keep[n->out + r]) {
                tensor_free(vals[n->out + r]);
                vals[n->out + r] = NULL;
            }
    }
    for (int i = 0; ok && i < g->noutputs; i++) {
        int32_t v = g->outputs[i].value;
        outputs[i] = vals[v];
        vals[v] = NULL;
        for (int j = 0; j < i && !outputs[i]; j++)
            if (g->outputs[j].value == v && !(outputs[i] = tensor_clone(outputs[j])))
                ok = false, snprintf(err->msg, sizeof err->msg, "out of memory");
        if (ok && !outputs[i])
            ok = false, snprintf(err->msg, sizeof err->msg, "output '%s' was not computed", g->outputs[i].name);
    }
    if (!ok)
        for (int i = 0; i < g->noutputs; i++) {
            tensor_free(outputs[i]);
            outputs[i] = NULL;
        }
    for (int32_t v = 0; vals && v < g->nvalues; v++)
        tensor_free(vals[v]);
    ir_free(vals);
    ir_free(bind);
    ir_free(last);
    ir_free(keep);
    return ok;
}

bool ir_interp_node(const Graph *g, const Node *n, const Tensor *const *in, Tensor **out, IrError *err)
{
    IrError local;
    if (!err)
        err = &local;
    InterpCtx c = {g, NULL, NULL, 0, err};
    for (int r = 0; r < n->nout; r++)
        out[r] = NULL;
    if (n->op == OP_INPUT || n->op == OP_PARAM)
        return interp_fail(&c, n, "an %s cannot be evaluated on its own", ir_ops[n->op].name);
    if (n->nout != 1)
        return interp_fail(&c, n, "the interpreter evaluates ops of one result only");
    for (int j = 0; j < n->nin; j++) {
        const Type *t = ir_type(g, n->in[j]);
        bool match = in[j] && in[j]->dt == t->dt && in[j]->rank == t->shape.rank;
        for (int d = 0; match && d < t->shape.rank; d++)
            match = dim_is_const(t->shape.d[d]) ? in[j]->dims[d] == t->shape.d[d].n
                                                 : in[j]->dims[d] % t->shape.d[d].n == 0;
        if (!match) {
            char want[300];
            fmt_type(g, t, want, sizeof want);
            return interp_fail(&c, n, "operand %d does not match its type %s", j, want);
        }
    }
    bool ok = true;
    for (int r = 0; ok && r < n->nout; r++) {
        if (!shape_is_const(&ir_type(g, n->out + r)->shape))
            ok = interp_fail(&c, n, "its result type has a symbolic dimension");
        else
            ok = (out[r] = alloc_result(&c, n, n->out + r, NULL)) != NULL;
    }
    if (ok) {
        err->msg[0] = 0;
        ok = ir_ops[n->op].interp(&c, n, in, out[0]);
        if (!ok && !err->msg[0])
            interp_fail(&c, n, "evaluation failed");
    }
    if (!ok)
        for (int r = 0; r < n->nout; r++) {
            tensor_free(out[r]);
            out[r] = NULL;
        }
    return ok;
}
