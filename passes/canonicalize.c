/* canonicalize.c — local rewrites to a fixed point.
 *
 * Matches, on every node in topological order:
 *   identities    x+0, 0+x, x-0, x*1, 1*x, x/1, x**1, neg(neg x), not(not x), cast to the
 *                 operand's dtype, reshape or broadcast to the operand's type, transpose by
 *                 the identity perm, slice from 0 that keeps the whole axis, concat of one
 *                 operand, select with a constant condition (the chosen operand, broadcast
 *                 to the result's shape when it is smaller)
 *   compositions  reshape(reshape x) and broadcast(broadcast x) become one node;
 *                 transpose(transpose x, p1, p2) becomes transpose(x, p1∘p2) (or x)
 *   normal forms  a -1 in a reshape's shape becomes the inferred dimension; a commutative
 *                 op with a constant first operand gets it second; a constant whose values
 *                 are all equal is stored as one value (a splat)
 *   folding       a node whose operands are all `constant` or `iota` and whose results have
 *                 at most FOLD_MAX_ELEMS elements and no symbolic dimension becomes a
 *                 `constant`, evaluated by the reference interpreter (ir_interp_node)
 * An identity applies only when the value kept has exactly the result's type (x+0 where
 * the 0 broadcasts x to a larger shape is kept) and only when it is exact in floating
 * point: x*0 stays (NaN, inf), and so do x-x and x/x. x+0 and x-0 are exact but for the
 * sign of a zero (-0 + 0 is +0, seen only by dividing by it); like XLA we accept that.
 *
 * Pre: a valid graph. Post: no pattern above matches; new nodes keep the location of the
 * node they replace; replaced nodes are removed, their operands are left to dce.
 * Sweeps run until one changes nothing; more than MAX_SWEEPS sweeps, or a sweep that keeps
 * creating nodes, is an internal error (PASS_ICE). Out of memory: the sweep in progress is
 * undone (nodes it built stay, unused) and the pass stops.
 *
 *   %0 = input {name = "x"} : f32[B,4]                  %0 = input {name = "x"} : f32[B,4]
 *   %1 = constant {data = [1.0]} : f32[]                %1 = constant {data = [1.0]} : f32[]
 *   %2 = mul(%1, %0) : f32[B,4]                  ==>    %2 = reshape(%0) {shape = [4*B]} : f32[4*B]
 *   %3 = reshape(%2) {shape = [-1]} : f32[4*B]          %3 = reshape(%0) {shape = [B, 2, 2]} : f32[B,2,2]
 *   %4 = reshape(%3) {shape = [-1, 2, 2]} : f32[B,2,2]  output y = %3
 *   output y = %4
 * (%1 and %2 are now unused: dce removes them.)
 */
#include <string.h>

#include "../ir/interp.h"
#include "passes.h"

enum {
    MAX_SWEEPS = 32,
    FOLD_MAX_ELEMS = 1024,       /* the largest folded result */
    FOLD_MAX_OPERAND = 1 << 20,  /* the largest operand a fold evaluates */
};

typedef struct {
    Graph *g;
    const PassOptions *o;
    int32_t *fwd;  /* value id → the value replacing it, -1: none (this sweep) */
    int32_t nfwd;
    bool replaced; /* a node was replaced in this sweep: uses must be redirected */
    bool stop;     /* out of memory or an internal error */
} Canon;

/* ---- values, replacement, building ---- */

static int32_t resolve(const Canon *c, int32_t v)
{
    while (v < c->nfwd && c->fwd[v] >= 0)
        v = c->fwd[v];
    return v;
}

/* Operand j of node `node` (arg) or of the node defining value v (def_arg), after the
 * replacements of this sweep. */
static int32_t arg(const Canon *c, int32_t node, int32_t j) { return resolve(c, c->g->nodes[node].in[j]); }
static int32_t def_arg(const Canon *c, int32_t v, int32_t j) { return resolve(c, ir_def(c->g, v)->in[j]); }
static Op def_op(const Canon *c, int32_t v) { return ir_def(c->g, v)->op; }

static bool same_type(const Graph *g, int32_t a, int32_t b) { return type_eq(ir_type(g, a), ir_type(g, b)); }

static bool is_constant(const Canon *c, int32_t v)
{
    Op op = def_op(c, v);
    return op == OP_CONST || op == OP_IOTA;
}

/* Whether v is a constant with every element equal to one value (stored in *out). */
static bool splat(const Canon *c, int32_t v, double *out)
{
    const Node *n = ir_def(c->g, v);
    if (n->op != OP_CONST || n->attr.constant.data.n < 1)
        return false;
    const FloatList *d = &n->attr.constant.data;
    for (int32_t k = 1; k < d->n; k++)
        if (memcmp(&d->v[k], &d->v[0], sizeof d->v[0]) != 0)
            return false;
    *out = d->v[0];
    return true;
}

static bool is_splat_of(const Canon *c, int32_t v, double want)
{
    double x;
    return splat(c, v, &x) && x == want;
}

static bool replace(Canon *c, int32_t node, int32_t with)
{
    Graph *g = c->g;
    if (c->nfwd < g->nvalues) {
        int32_t *f = ir_realloc(c->fwd, (size_t)g->nvalues * 2 * sizeof *f);
        if (!f) {
            c->stop = true;
            return false;
        }
        for (int32_t v = c->nfwd; v < g->nvalues * 2; v++)
            f[v] = -1;
        c->fwd = f;
        c->nfwd = g->nvalues * 2;
    }
    Node *n = &g->nodes[node];
    for (int32_t r = 0; r < n->nout; r++)
        c->fwd[n->out + r] = with + r;
    n->dead = true;
    c->replaced = true;
    return true;
}

/* ir_build for a rewrite; -1 stops the pass (out of memory, or a bug reported as such). */
static int32_t build(Canon *c, Op op, const int32_t *in, int32_t nin, const Attr *a, const Type *decl, Loc loc)
{
    IrError err = {{0}};
    int32_t v = ir_build(c->g, op, in, nin, a, decl, loc, &err);
    if (v < 0) {
        if (strcmp(err.msg, "out of memory") != 0)
            PASS_ICE(c->o, "a rewrite built an invalid '%s' node: %s", ir_ops[op].name, err.msg);
        c->stop = true;
    }
    return v;
}

/* A reshape or broadcast of x to shape s. */
static int32_t build_shape_op(Canon *c, Op op, int32_t x, const Shape *s, Loc loc)
{
    Attr a;
    attr_set_defaults(ATTR_SHAPE, &a);
    a.shape.shape = *s;
    return build(c, op, &x, 1, &a, NULL, loc);
}

/* ---- the rules ---- */

/* Rewrites that change a node in place (its type stays); true if one applied. */
static bool normalize(Canon *c, int32_t i)
{
    Graph *g = c->g;
    Node *n = &g->nodes[i];
    bool changed = false;
    if (n->op == OP_CONST && n->attr.constant.data.n > 1) {
        double v;
        if (splat(c, n->out, &v)) {
            n->attr.constant.data.n = 1;
            changed = true;
        }
    }
    if (n->op == OP_RESHAPE) {
        Shape *s = &n->attr.shape.shape;
        for (int d = 0; d < s->rank; d++)
            if (dim_is_const(s->d[d]) && s->d[d].n == -1) {
                *s = ir_type(g, n->out)->shape;
                changed = true;
                break;
            }
    }
    if ((ir_ops[n->op].flags & OPF_COMM) && n->nin == 2 && is_constant(c, arg(c, i, 0)) &&
        !is_constant(c, arg(c, i, 1))) {
        int32_t t = n->in[0];
        n->in[0] = n->in[1];
        n->in[1] = t;
        changed = true;
    }
    return changed;
}

static bool is_identity_perm(const IntList *p)
{
    for (int32_t k = 0; k < p->n; k++)
        if (p->v[k] != k)
            return false;
    return true;
}

/* The value node i equals by an identity or a composition (-1: none; -2: stopped). */
static int32_t simplify(Canon *c, int32_t i)
{
    Graph *g = c->g;
    const Node n = g->nodes[i]; /* a copy: building may move the node array */
    const Type rt = *ir_type(g, n.out);
    int32_t x = n.nin > 0 ? arg(c, i, 0) : -1, y = n.nin > 1 ? arg(c, i, 1) : -1;
    int32_t v;

#define KEEP_IF(val) do { if (same_type(g, (val), n.out)) return (val); } while (0)
    switch (n.op) {
    case OP_ADD:
        if (is_splat_of(c, y, 0))
            KEEP_IF(x);
        if (is_splat_of(c, x, 0))
            KEEP_IF(y);
        break;
    case OP_MUL:
        if (is_splat_of(c, y, 1))
            KEEP_IF(x);
        if (is_splat_of(c, x, 1))
            KEEP_IF(y);
        break;
    case OP_SUB:
        if (is_splat_of(c, y, 0))
            KEEP_IF(x);
        break;
    case OP_DIV:
    case OP_POW:
        if (is_splat_of(c, y, 1))
            KEEP_IF(x);
        break;
    case OP_NEG:
    case OP_NOT:
        if (def_op(c, x) == n.op)
            return def_arg(c, x, 0);
        break;
    case OP_CAST:
        KEEP_IF(x);
        break;
    case OP_RESHAPE:
    case OP_BROADCAST:
        KEEP_IF(x);
        if (def_op(c, x) == n.op) {
            int32_t inner = def_arg(c, x, 0);
            KEEP_IF(inner);
            v = build_shape_op(c, n.op, inner, &rt.shape, n.loc);
            return v >= 0 ? v : -2;
        }
        break;
    case OP_TRANSPOSE:
        if (is_identity_perm(&n.attr.perm.perm))
            return x;
        if (def_op(c, x) == OP_TRANSPOSE) {
            const IntList *p1 = &ir_def(g, x)->attr.perm.perm, *p2 = &n.attr.perm.perm;
            int64_t p[IR_MAX_RANK];
            for (int32_t k = 0; k < p2->n; k++)
                p[k] = p1->v[p2->v[k]];
            Attr a;
            attr_set_defaults(ATTR_PERM, &a);
            a.perm.perm = (IntList){p2->n, p};
            if (is_identity_perm(&a.perm.perm))
                return def_arg(c, x, 0);
            int32_t inner = def_arg(c, x, 0);
            v = build(c, OP_TRANSPOSE, &inner, 1, &a, NULL, n.loc);
            return v >= 0 ? v : -2;
        }
        break;
    case OP_SLICE:
        /* from 0 and as long as the axis: step 1, or an axis of at most one element */
        if (n.attr.slice.start == 0)
            KEEP_IF(x);
        break;
    case OP_CONCAT:
        if (n.nin == 1)
            return x;
        break;
    case OP_SELECT: {
        double cond;
        if (!splat(c, x, &cond))
            break;
        int32_t chosen = arg(c, i, cond != 0 ? 1 : 2);
        KEEP_IF(chosen);
        v = build_shape_op(c, OP_BROADCAST, chosen, &rt.shape, n.loc);
        return v >= 0 ? v : -2;
    }
    default:
        break;
    }
#undef KEEP_IF
    return -1;
}

/* Whether node i can be folded: operands all constants, results small and fixed. */
static bool foldable(const Canon *c, int32_t i)
{
    const Graph *g = c->g;
    const Node *n = &g->nodes[i];
    if (ir_ops[n->op].flags & OPF_SOURCE)
        return false;
    for (int32_t j = 0; j < n->nin; j++) {
        int32_t v = arg(c, i, j);
        const Shape *s = &ir_type(g, v)->shape;
        if (!is_constant(c, v) || !shape_is_const(s) || shape_numel(s, NULL) > FOLD_MAX_OPERAND)
            return false;
    }
    int64_t total = 0;
    for (int32_t r = 0; r < n->nout; r++) {
        const Shape *s = &ir_type(g, n->out + r)->shape;
        int64_t k = shape_numel(s, NULL);
        if (!shape_is_const(s) || k < 0 || (total += k) > FOLD_MAX_ELEMS)
            return false;
    }
    return true;
}

/* A constant node holding tensor t (of type *type); -1 on failure. */
static int32_t build_constant(Canon *c, const Tensor *t, const Type *type, Loc loc)
{
    double data[FOLD_MAX_ELEMS];
    int32_t count = (int32_t)t->numel;
    for (int32_t k = 0; k < count; k++)
        data[k] = tensor_get(t, k);
    bool same = count > 0;
    for (int32_t k = 1; k < count && same; k++)
        same = memcmp(&data[k], &data[0], sizeof data[0]) == 0;
    Attr a;
    attr_set_defaults(ATTR_CONST, &a);
    a.constant.data = (FloatList){same ? 1 : count, data};
    return build(c, OP_CONST, NULL, 0, &a, type, loc);
}

/* Folds node i into constants; false when it cannot be evaluated (left as it is). */
static bool fold(Canon *c, int32_t i)
{
    Graph *g = c->g;
    int32_t nin = g->nodes[i].nin, nout = g->nodes[i].nout;
    Tensor **in = ir_calloc((size_t)nin, sizeof *in);
    Tensor **out = ir_calloc((size_t)nout, sizeof *out);
    int32_t *args = ir_malloc((size_t)nin * sizeof *args);
    int32_t consts[4] = {-1, -1, -1, -1};
    bool ok = in && out && args && nout <= 4;
    IrError err;
    for (int32_t j = 0; ok && j < nin; j++) {
        args[j] = arg(c, i, j);
        ok = ir_interp_node(g, ir_def(g, args[j]), NULL, &in[j], &err);
    }
    if (ok) {
        Node n = g->nodes[i];
        n.in = args; /* evaluate with the operands as rewritten */
        ok = ir_interp_node(g, &n, (const Tensor *const *)in, out, &err);
    }
    for (int32_t r = 0; ok && r < nout; r++) {
        Type t = *ir_type(g, g->nodes[i].out + r);
        ok = out[r] && out[r]->numel == shape_numel(&t.shape, NULL) &&
             (consts[r] = build_constant(c, out[r], &t, g->nodes[i].loc)) >= 0;
    }
    if (ok) {
        /* the results are consecutive constants: forward each */
        for (int32_t r = 0; r < nout && ok; r++)
            ok = consts[r] == consts[0] + r;
        if (ok)
            ok = replace(c, i, consts[0]);
        else
            PASS_ICE(c->o, "folded constants are not consecutive values");
    }
    for (int32_t j = 0; in && j < nin; j++)
        tensor_free(in[j]);
    for (int32_t r = 0; out && r < nout; r++)
        tensor_free(out[r]);
    ir_free(in);
    ir_free(out);
    ir_free(args);
    return ok;
}

/* Applies the rules to node i; true if the graph changed. */
static bool rewrite(Canon *c, int32_t i)
{
    bool changed = normalize(c, i);
    int32_t v = simplify(c, i);
    if (v == -2)
        return true; /* stopped while building */
    if (v >= 0)
        return replace(c, i, v) || changed;
    if (foldable(c, i))
        return fold(c, i) || changed;
    return changed;
}

/* ---- sweeps ---- */

/* Redirects every use through the replacements and drops replaced nodes. On out of
 * memory the uses are restored and replaced nodes revived: the graph is then the one
 * before the sweep plus unused new nodes, which is valid. */
static void commit(Canon *c)
{
    Graph *g = c->g;
    size_t total = (size_t)g->noutputs;
    for (int32_t i = 0; i < g->nnodes; i++)
        total += (size_t)g->nodes[i].nin;
    int32_t *saved = ir_malloc((total ? total : 1) * sizeof *saved);
    size_t k = 0;
    if (saved) {
        for (int32_t i = 0; i < g->nnodes; i++)
            for (int32_t j = 0; j < g->nodes[i].nin; j++) {
                saved[k++] = g->nodes[i].in[j];
                g->nodes[i].in[j] = resolve(c, g->nodes[i].in[j]);
            }
        for (int32_t i = 0; i < g->noutputs; i++) {
            saved[k++] = g->outputs[i].value;
            g->outputs[i].value = resolve(c, g->outputs[i].value);
        }
        if (ir_compact(g)) {
            ir_free(saved);
            return;
        }
        k = 0;
        for (int32_t i = 0; i < g->nnodes; i++)
            for (int32_t j = 0; j < g->nodes[i].nin; j++)
                g->nodes[i].in[j] = saved[k++];
        for (int32_t i = 0; i < g->noutputs; i++)
            g->outputs[i].value = saved[k++];
        ir_free(saved);
    }
    for (int32_t i = 0; i < g->nnodes; i++)
        g->nodes[i].dead = false;
    c->stop = true;
}

static bool sweep(Canon *c)
{
    Graph *g = c->g;
    int32_t n0 = g->nnodes, limit = 4 * n0 + 64;
    bool changed = false;
    for (int32_t v = 0; v < c->nfwd; v++)
        c->fwd[v] = -1;
    c->replaced = false;
    for (int32_t i = 0; i < g->nnodes && !c->stop; i++) {
        if (g->nnodes - n0 > limit) {
            PASS_ICE(c->o, "a sweep built more than %d nodes for a graph of %d", limit, n0);
            c->stop = true;
            break;
        }
        if (!g->nodes[i].dead)
            changed |= rewrite(c, i);
    }
    if (c->replaced)
        commit(c);
    return changed;
}

bool pass_canonicalize(Graph *g, const PassOptions *o)
{
    Canon c = {.g = g, .o = o};
    bool changed = false;
    for (int s = 0;; s++) {
        if (s == MAX_SWEEPS) {
            PASS_ICE(o, "no fixed point after %d sweeps", MAX_SWEEPS);
            break;
        }
        bool ch = sweep(&c);
        changed |= ch;
        if (!ch || c.stop)
            break;
    }
    ir_free(c.fwd);
    return changed;
}
