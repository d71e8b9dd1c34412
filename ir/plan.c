/* plan.c — partitions a graph into kernels (see plan.h for the model).
 *
 * Phase 1 decides, for every value, where it lives:
 *   BUFFER    its own buffer, written by one kernel (or an input, parameter, constant);
 *             stored transposed when its one reader is a transpose keeping the last axis
 *             (attention's heads merged back), so that transpose and a reshape after it
 *             are views
 *   VIEW      a strided view of another value's buffer (reshape, transpose, slice,
 *             broadcast): no kernel, no memory
 *   VIRTUAL   an elementwise result with a single elementwise (or concat) user: inlined
 *             into that user's expression, never stored
 *   SCALAR    a one-element constant: an immediate in expressions
 *   ABSORBED  a matmul, normalisation, softmax or reduction whose single user chain is
 *             elementwise with the same shape: the chain becomes its epilogue (EX_ACC)
 * Phase 2 emits one kernel per BUFFER value that is computed, in node order, building each
 * kernel's expression by inlining VIRTUAL operands; every load is a view broadcast to the
 * kernel's output shape.
 */
#include <inttypes.h>
#include <string.h>

#include "interp.h"
#include "plan.h"

enum { PV_NONE, PV_BUFFER, PV_VIEW, PV_VIRTUAL, PV_SCALAR, PV_ABSORBED };
enum { MAX_EXPR_DEPTH = 48 };

typedef struct {
    int kind;
    View view;     /* BUFFER, VIEW */
    double scalar; /* SCALAR */
    int32_t root;  /* VIRTUAL, ABSORBED: the value whose kernel computes it */
    int32_t depth; /* VIRTUAL: expression depth */
    bool absorbs;  /* BUFFER: a producer is absorbed into its kernel */
} PV;

typedef struct {
    const Graph *g;
    Plan *p;
    PV *pv;
    int32_t *uses, *user; /* use count and (when 1) the single using node */
    bool *is_output;
    bool *ew_users_only; /* every user is elementwise */
    int32_t capbufs, capkernels;
    IrError *err;
    /* the kernel being built */
    Kernel *k;
    int32_t capin, capexpr;
    Shape root_shape;
    bool failed;
} Ctx;

static bool failf(Ctx *c, const char *fmt, const char *a, const char *b)
{
    if (!c->failed && c->err)
        snprintf(c->err->msg, sizeof c->err->msg, fmt, a ? a : "", b ? b : "");
    c->failed = true;
    return false;
}

static bool oom(Ctx *c) { return failf(c, "out of memory while planning kernels%s%s", NULL, NULL); }

static void *grow_array(Ctx *c, void *arr, int32_t *cap, int32_t count, size_t elem)
{
    if (count < *cap)
        return arr;
    int32_t ncap = *cap ? *cap * 2 : 16;
    void *n = arena_alloc(c->p->arena, (size_t)ncap * elem);
    if (!n) {
        oom(c);
        return NULL;
    }
    if (count)
        memcpy(n, arr, (size_t)count * elem);
    *cap = ncap;
    return n;
}

int64_t plan_dim(Dim d, const int64_t *bind) { return dim_eval(d, bind); }

/* ---- views ---- */

/* Row-major strides of a shape; false when a stride would be a product of symbols. */
static bool contiguous_view(Ctx *c, int32_t buf, const Shape *s, View *v)
{
    memset(v, 0, sizeof *v);
    v->buf = buf;
    v->rank = s->rank;
    v->offset = dim_const(0);
    Dim stride = dim_const(1);
    for (int i = s->rank - 1; i >= 0; i--) {
        v->dims[i] = s->d[i];
        v->strides[i] = stride;
        Dim d = s->d[i];
        if (!dim_is_const(d) && !dim_is_const(stride))
            return failf(c, "unsupported layout: a stride is a product of two symbolic sizes%s%s", NULL, NULL);
        stride = dim_is_const(d) ? (Dim){stride.n * d.n, stride.sym} : (Dim){stride.n * d.n, d.sym};
    }
    return true;
}

static bool view_is_contiguous(const View *v)
{
    Dim stride = dim_const(1);
    if (!dim_eq(v->offset, dim_const(0)) && !(dim_is_const(v->offset) && v->offset.n == 0))
        return false;
    for (int i = v->rank - 1; i >= 0; i--) {
        if (dim_is_const(v->dims[i]) && v->dims[i].n == 1)
            continue; /* the stride of a size-1 dim never matters */
        if (!dim_eq(v->strides[i], stride))
            return false;
        Dim d = v->dims[i];
        if (!dim_is_const(d) && !dim_is_const(stride))
            return false;
        stride = dim_is_const(d) ? (Dim){stride.n * d.n, stride.sym} : (Dim){stride.n * d.n, d.sym};
    }
    return true;
}

/* The view broadcast (numpy, right-aligned) to shape s. */
static View view_broadcast(const View *v, const Shape *s)
{
    View r = *v;
    r.rank = s->rank;
    for (int i = 0; i < s->rank; i++) {
        int j = v->rank - s->rank + i;
        r.dims[i] = s->d[i];
        if (j < 0 || (dim_is_const(v->dims[j]) && v->dims[j].n == 1 && !dim_eq(s->d[i], v->dims[j])))
            r.strides[i] = dim_const(0);
        else
            r.strides[i] = v->strides[j];
    }
    return r;
}

static Dim dim_scale(Dim a, int64_t k) { return (Dim){a.n * k, a.sym}; }

/* offset + k·stride; false when the symbols differ */
static bool dim_add_scaled(Dim *acc, Dim stride, int64_t k)
{
    if (k == 0 || stride.n == 0)
        return true;
    if (acc->n == 0)
        *acc = dim_scale(stride, k);
    else if (acc->sym == stride.sym)
        acc->n += stride.n * k;
    else
        return false;
    return true;
}

/* m1 divides m2 (as products of a constant and symbols) */
static bool monomial_divides(const Monomial *a, const Monomial *b)
{
    if (a->coef == 0 || b->coef % a->coef != 0)
        return false;
    int j = 0;
    for (int i = 0; i < a->nsym; i++) {
        while (j < b->nsym && b->sym[j] < a->sym[i])
            j++;
        if (j == b->nsym || b->sym[j] != a->sym[i])
            return false;
        j++;
    }
    return true;
}

static void monomial_mul_dim(Monomial *m, Dim d)
{
    m->coef *= d.n;
    if (!dim_is_const(d)) {
        int i = m->nsym++;
        while (i > 0 && m->sym[i - 1] > d.sym) {
            m->sym[i] = m->sym[i - 1];
            i--;
        }
        m->sym[i] = d.sym;
    }
}

/* Reshape a strided view without copying when possible (numpy's no-copy reshape): the
 * non-unit dims of both shapes are grouped into runs of equal products; each run of the
 * source must be contiguous within itself, and the target's run is strided from the
 * run's innermost stride. */
static bool reshape_view(const View *v, const Shape *to, View *out)
{
    int od[IR_MAX_RANK], nd[IR_MAX_RANK], no = 0, nn = 0;
    for (int i = 0; i < v->rank; i++)
        if (!(dim_is_const(v->dims[i]) && v->dims[i].n == 1))
            od[no++] = i;
    for (int i = 0; i < to->rank; i++)
        if (!(dim_is_const(to->d[i]) && to->d[i].n == 1))
            nd[nn++] = i;
    *out = *v;
    out->rank = to->rank;
    for (int i = 0; i < to->rank; i++) {
        out->dims[i] = to->d[i];
        out->strides[i] = dim_const(0); /* unit dims: any stride */
    }
    int oi = 0, ni = 0;
    while (oi < no && ni < nn) {
        int oj = oi + 1, nj = ni + 1;
        Monomial op = {1, 0, {0}}, np = {1, 0, {0}};
        monomial_mul_dim(&op, v->dims[od[oi]]);
        monomial_mul_dim(&np, to->d[nd[ni]]);
        while (!monomial_eq(&op, &np)) {
            if (monomial_divides(&np, &op) && nj < nn)
                monomial_mul_dim(&np, to->d[nd[nj++]]);
            else if (monomial_divides(&op, &np) && oj < no)
                monomial_mul_dim(&op, v->dims[od[oj++]]);
            else
                return false;
            if (op.nsym > IR_MAX_RANK || np.nsym > IR_MAX_RANK)
                return false;
        }
        for (int k = oi; k < oj - 1; k++) {
            Dim want;
            if (!dim_mul(v->strides[od[k + 1]], v->dims[od[k + 1]], &want) || !dim_eq(v->strides[od[k]], want))
                return false;
        }
        out->strides[nd[nj - 1]] = v->strides[od[oj - 1]];
        for (int k = nj - 1; k > ni; k--)
            if (!dim_mul(out->strides[nd[k]], to->d[nd[k]], &out->strides[nd[k - 1]]))
                return false;
        oi = oj;
        ni = nj;
    }
    return oi == no && ni == nn;
}

/* The view of op n applied to the view v of its operand; false when not expressible. */
static bool derive_view(const Graph *g, const Node *n, const View *v, View *out)
{
    const Type *t = ir_type(g, n->out);
    *out = *v;
    switch (n->op) {
    case OP_TRANSPOSE:
        for (int i = 0; i < v->rank; i++) {
            out->dims[i] = v->dims[n->attr.perm.perm.v[i]];
            out->strides[i] = v->strides[n->attr.perm.perm.v[i]];
        }
        return true;
    case OP_BROADCAST:
        *out = view_broadcast(v, &t->shape);
        return true;
    case OP_SLICE: {
        int ax = (int)n->attr.slice.axis;
        out->dims[ax] = t->shape.d[ax];
        out->strides[ax] = dim_scale(v->strides[ax], n->attr.slice.step);
        return dim_add_scaled(&out->offset, v->strides[ax], n->attr.slice.start);
    }
    case OP_RESHAPE:
        return reshape_view(v, &t->shape, out);
    default:
        return false;
    }
}

/* ---- buffers ---- */

static int32_t new_buffer(Ctx *c, BufKind kind, int32_t value, const Type *t, const char *name)
{
    Plan *p = c->p;
    Buffer *b = grow_array(c, p->bufs, &c->capbufs, p->nbufs, sizeof *p->bufs);
    if (!b)
        return -1;
    p->bufs = b;
    p->bufs[p->nbufs] = (Buffer){kind, t->dt, t->shape, value, name, -1, -1};
    return p->nbufs++;
}

/* ---- phase 1 ---- */

static bool is_ew(Op op) { return (ir_ops[op].flags & OPF_EW) != 0; }
static bool is_producer(Op op)
{
    return op == OP_MATMUL || op == OP_ATTENTION || op == OP_NORMALIZE || op == OP_SOFTMAX || op == OP_LOG_SOFTMAX ||
           op == OP_REDUCE_SUM || op == OP_REDUCE_MEAN || op == OP_REDUCE_MAX || op == OP_REDUCE_MIN ||
           op == OP_MOE_COMBINE || op == OP_SEGMENT_REDUCE;
}

/* Its own buffer for value v. A value read only through one transpose that keeps the last
 * axis (attention's output [B, H, T, D] merged back to [B, T, H, D]) is stored in the
 * transposed layout, its kernel writing rows through the permuted view: the transpose is
 * then contiguous, and a reshape after it ([B, T, H·D]) a view instead of a copy. */
static bool materialize_as_buffer(Ctx *c, int32_t v)
{
    const Graph *g = c->g;
    PV *pv = &c->pv[v];
    const Type *t = ir_type(g, v);
    const Node *u = c->uses[v] == 1 && !c->is_output[v] ? &g->nodes[c->user[v]] : NULL;
    if (u && u->op == OP_TRANSPOSE && t->shape.rank >= 2 &&
        u->attr.perm.perm.v[t->shape.rank - 1] == t->shape.rank - 1) {
        const Type *tt = ir_type(g, u->out);
        View cv;
        int32_t b = new_buffer(c, BUF_TEMP, v, tt, NULL);
        if (b < 0 || !contiguous_view(c, b, &tt->shape, &cv))
            return false;
        pv->kind = PV_BUFFER;
        pv->view = cv;
        for (int i = 0; i < t->shape.rank; i++) { /* dim perm[i] of v is dim i of the buffer */
            int j = (int)u->attr.perm.perm.v[i];
            pv->view.dims[j] = t->shape.d[j];
            pv->view.strides[j] = cv.strides[i];
        }
        return true;
    }
    int32_t b = new_buffer(c, BUF_TEMP, v, t, NULL);
    if (b < 0)
        return false;
    pv->kind = PV_BUFFER;
    return contiguous_view(c, b, &t->shape, &pv->view);
}

/* Which elementwise values are inlined into their user (before any other decision, so
 * that producers can find the kernel their user chain ends in). */
static void prepass_virtual(Ctx *c)
{
    const Graph *g = c->g;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        int32_t v = n->out;
        if (!is_ew(n->op) && n->op != OP_IOTA)
            continue;
        int32_t depth = 1;
        for (int j = 0; j < n->nin; j++)
            if (c->pv[n->in[j]].kind == PV_VIRTUAL && c->pv[n->in[j]].depth + 1 > depth)
                depth = c->pv[n->in[j]].depth + 1;
        const Node *u = c->uses[v] == 1 ? &g->nodes[c->user[v]] : NULL;
        if (u && !c->is_output[v] && depth < MAX_EXPR_DEPTH && (is_ew(u->op) || u->op == OP_CONCAT)) {
            c->pv[v].kind = PV_VIRTUAL;
            c->pv[v].depth = depth;
        }
    }
}

static void decide_ew(Ctx *c, const Node *n)
{
    if (c->pv[n->out].kind != PV_VIRTUAL)
        materialize_as_buffer(c, n->out);
}

/* The kernel root of a virtual value: follow single users while they are virtual. */
static int32_t chain_root(Ctx *c, int32_t v, const Shape *shape)
{
    for (;;) {
        if (c->uses[v] != 1 || c->is_output[v])
            return -1;
        const Node *u = &c->g->nodes[c->user[v]];
        if (!is_ew(u->op) || !shape_eq(&ir_type(c->g, u->out)->shape, shape))
            return -1;
        v = u->out;
        if (c->pv[v].kind != PV_VIRTUAL)
            return v; /* an elementwise node that is not inlined: a kernel root */
    }
}

static bool decide(Ctx *c)
{
    const Graph *g = c->g;
    for (int32_t i = 0; i < g->nnodes && !c->failed; i++) {
        const Node *n = &g->nodes[i];
        int32_t v = n->out;
        PV *pv = &c->pv[v];
        const Type *t = ir_type(g, v);
        switch (n->op) {
        case OP_INPUT: {
            int32_t b = new_buffer(c, BUF_INPUT, v, t, n->attr.input.name);
            if (b < 0 || !contiguous_view(c, b, &t->shape, &pv->view))
                return false;
            pv->kind = PV_BUFFER;
            break;
        }
        case OP_PARAM: {
            /* stored row-major in the checkpoint's layout; the value is its permutation */
            Type stored = *t;
            int64_t dims[IR_MAX_RANK];
            ir_param_stored_shape(n, t, dims);
            for (int d = 0; d < t->shape.rank; d++)
                stored.shape.d[d] = dim_const(dims[d]);
            int32_t b = new_buffer(c, BUF_PARAM, v, &stored, n->attr.param.name);
            View sv;
            if (b < 0 || !contiguous_view(c, b, &stored.shape, &sv))
                return false;
            pv->view = sv;
            for (int d = 0; d < t->shape.rank; d++) {
                int64_t src = n->attr.param.layout.n ? n->attr.param.layout.v[d] : d;
                pv->view.dims[d] = sv.dims[src];
                pv->view.strides[d] = sv.strides[src];
            }
            pv->kind = PV_BUFFER;
            break;
        }
        case OP_CONST:
            if (shape_numel(&t->shape, NULL) == 1 && c->ew_users_only[v]) {
                pv->kind = PV_SCALAR;
                pv->scalar = n->attr.constant.data.v[0];
            } else {
                int32_t b = new_buffer(c, BUF_CONST, v, t, NULL);
                if (b < 0 || !contiguous_view(c, b, &t->shape, &pv->view))
                    return false;
                pv->kind = PV_BUFFER;
            }
            break;
        case OP_IOTA:
            decide_ew(c, n);
            break;
        case OP_TRANSPOSE: case OP_BROADCAST: case OP_SLICE: case OP_RESHAPE: {
            PV *src = &c->pv[n->in[0]];
            if (src->kind == PV_SCALAR && (n->op == OP_BROADCAST || n->op == OP_RESHAPE)) {
                *pv = *src;
                break;
            }
            if (src->kind != PV_BUFFER && src->kind != PV_VIEW)
                return failf(c, "internal error: '%s' of a value that has no storage%s", ir_ops[n->op].name, NULL);
            if (derive_view(g, n, &src->view, &pv->view)) {
                pv->kind = PV_VIEW;
            } else {
                /* copy the operand into a contiguous buffer, then view that */
                int32_t b = new_buffer(c, BUF_TEMP, v, ir_type(g, n->in[0]), NULL);
                View cv;
                if (b < 0 || !contiguous_view(c, b, &ir_type(g, n->in[0])->shape, &cv))
                    return false;
                if (!derive_view(g, n, &cv, &pv->view))
                    return failf(c, "internal error: cannot view a contiguous copy%s%s", NULL, NULL);
                pv->kind = PV_BUFFER; /* its kernel is a copy */
            }
            break;
        }
        default:
            if (is_ew(n->op)) {
                decide_ew(c, n);
            } else if (is_producer(n->op)) {
                int32_t root = chain_root(c, v, &t->shape);
                if (root >= 0 && !c->pv[root].absorbs) {
                    pv->kind = PV_ABSORBED;
                    pv->root = root;
                    c->pv[root].absorbs = true;
                } else if (!materialize_as_buffer(c, v)) {
                    return false;
                }
            } else if (n->op == OP_CONCAT || n->op == OP_TAKE || n->op == OP_MOE_ROUTE) {
                if (!materialize_as_buffer(c, v))
                    return false;
            } else {
                return failf(c, "no kernel for op '%s'%s", ir_ops[n->op].name, NULL);
            }
        }
    }
    return !c->failed;
}

/* ---- phase 2: kernels ---- */

static bool kernel_begin(Ctx *c, KernelKind kind, int32_t node, const View *out, const Shape *root)
{
    Plan *p = c->p;
    Kernel *ks = grow_array(c, p->kernels, &c->capkernels, p->nkernels, sizeof *p->kernels);
    if (!ks)
        return false;
    p->kernels = ks;
    c->k = &p->kernels[p->nkernels++];
    memset(c->k, 0, sizeof *c->k);
    c->k->kind = kind;
    c->k->node = node;
    c->k->out = *out;
    c->k->root = -1;
    c->capin = c->capexpr = 0;
    c->root_shape = *root;
    return true;
}

static int32_t add_in(Ctx *c, const View *v)
{
    Kernel *k = c->k;
    for (int32_t i = 0; i < k->nin; i++)
        if (memcmp(&k->in[i], v, sizeof *v) == 0)
            return i;
    View *in = grow_array(c, k->in, &c->capin, k->nin, sizeof *k->in);
    if (!in)
        return -1;
    k->in = in;
    k->in[k->nin] = *v;
    return k->nin++;
}

static int32_t add_expr(Ctx *c, Expr e)
{
    Kernel *k = c->k;
    Expr *ex = grow_array(c, k->expr, &c->capexpr, k->nexpr, sizeof *k->expr);
    if (!ex)
        return -1;
    k->expr = ex;
    k->expr[k->nexpr] = e;
    return k->nexpr++;
}

static int32_t build_expr(Ctx *c, int32_t v);

/* The expression of node n's own op over its operands (n elementwise or iota). */
static int32_t build_node_expr(Ctx *c, const Node *n)
{
    const Type *t = ir_type(c->g, n->out);
    Expr e = {.kind = EX_OP, .op = n->op, .dt = t->dt, .a = -1, .b = -1, .c = -1, .attr = n->attr};
    if (n->op == OP_IOTA) {
        const IotaAttr *ia = &n->attr.iota;
        int32_t ax = (int32_t)(ia->axis < 0 ? ia->axis + ia->shape.rank : ia->axis);
        int32_t rax = ax + c->root_shape.rank - ia->shape.rank;
        if (dim_is_const(ia->shape.d[ax]) && ia->shape.d[ax].n == 1)
            return add_expr(c, (Expr){.kind = EX_CONST, .dt = t->dt, .value = 0, .a = -1, .b = -1, .c = -1});
        return add_expr(c, (Expr){.kind = EX_INDEX, .dt = t->dt, .a = rax, .b = -1, .c = -1});
    }
    int32_t ops[3] = {-1, -1, -1};
    for (int i = 0; i < n->nin && i < 3; i++)
        if ((ops[i] = build_expr(c, n->in[i])) < 0)
            return -1;
    e.a = ops[0];
    e.b = ops[1];
    e.c = ops[2];
    return add_expr(c, e);
}

static int32_t build_expr(Ctx *c, int32_t v)
{
    const PV *pv = &c->pv[v];
    const Type *t = ir_type(c->g, v);
    switch (pv->kind) {
    case PV_SCALAR:
        return add_expr(c, (Expr){.kind = EX_CONST, .dt = t->dt, .value = pv->scalar, .a = -1, .b = -1, .c = -1});
    case PV_VIRTUAL:
        return build_node_expr(c, ir_def(c->g, v));
    case PV_ABSORBED:
        return add_expr(c, (Expr){.kind = EX_ACC, .dt = t->dt, .a = -1, .b = -1, .c = -1});
    case PV_BUFFER:
    case PV_VIEW: {
        View bv = view_broadcast(&pv->view, &c->root_shape);
        int32_t in = add_in(c, &bv);
        if (in < 0)
            return -1;
        return add_expr(c, (Expr){.kind = EX_LOAD, .dt = t->dt, .a = in, .b = -1, .c = -1});
    }
    default:
        failf(c, "internal error: value %s has no plan%s", "", NULL);
        return -1;
    }
}

/* A view of an operand with its batch (leading) dims broadcast to `batch` dims of `out`. */
static View batch_view(const View *v, const Shape *out, int nkeep)
{
    Shape s = *out;
    View r = *v;
    /* broadcast the leading dims only; the trailing nkeep dims stay as they are */
    Shape lead = {.rank = v->rank - nkeep};
    for (int i = 0; i < lead.rank; i++)
        lead.d[i] = v->dims[i];
    View lv = *v;
    lv.rank = lead.rank;
    Shape target = {.rank = s.rank - nkeep};
    for (int i = 0; i < target.rank; i++)
        target.d[i] = s.d[i];
    View bl = view_broadcast(&lv, &target);
    r.rank = target.rank + nkeep;
    for (int i = 0; i < target.rank; i++) {
        r.dims[i] = bl.dims[i];
        r.strides[i] = bl.strides[i];
    }
    for (int i = 0; i < nkeep; i++) {
        r.dims[target.rank + i] = v->dims[v->rank - nkeep + i];
        r.strides[target.rank + i] = v->strides[v->rank - nkeep + i];
    }
    return r;
}

static void swap_last2(View *v)
{
    int a = v->rank - 2, b = v->rank - 1;
    Dim t = v->dims[a];
    v->dims[a] = v->dims[b];
    v->dims[b] = t;
    t = v->strides[a];
    v->strides[a] = v->strides[b];
    v->strides[b] = t;
}

/* Moves axis `ax` of every output-indexed view (out, loads) and of `extra` to the end. */
static void move_axis_last(Kernel *k, int ax, int32_t extra)
{
    int r = k->out.rank;
    int perm[IR_MAX_RANK], j = 0;
    for (int i = 0; i < r; i++)
        if (i != ax)
            perm[j++] = i;
    perm[j] = ax;
    int inv[IR_MAX_RANK];
    for (int i = 0; i < r; i++)
        inv[perm[i]] = i;
    View *views[1 + 64];
    int nv = 0;
    views[nv++] = &k->out;
    for (int32_t i = 0; i < k->nin && nv < 65; i++)
        if (k->in[i].rank == r)
            views[nv++] = &k->in[i];
    (void)extra;
    for (int i = 0; i < nv; i++) {
        View o = *views[i];
        for (int d = 0; d < r; d++) {
            views[i]->dims[d] = o.dims[perm[d]];
            views[i]->strides[d] = o.strides[perm[d]];
        }
    }
    for (int32_t i = 0; i < k->nexpr; i++)
        if (k->expr[i].kind == EX_INDEX)
            k->expr[i].a = inv[k->expr[i].a];
}

/* Drops the size-1 axes `drop` from every output-indexed view and the index expressions. */
static void drop_axes(Ctx *c, const bool *drop)
{
    Kernel *k = c->k;
    int r = k->out.rank;
    int map[IR_MAX_RANK], nr = 0;
    for (int i = 0; i < r; i++)
        map[i] = drop[i] ? -1 : nr++;
    View *views[65];
    int nv = 0;
    views[nv++] = &k->out;
    for (int32_t i = 0; i < k->nin && nv < 65; i++)
        views[nv++] = &k->in[i];
    for (int i = 0; i < nv; i++) {
        View o = *views[i];
        views[i]->rank = nr;
        for (int d = 0; d < r; d++)
            if (map[d] >= 0) {
                views[i]->dims[map[d]] = o.dims[d];
                views[i]->strides[map[d]] = o.strides[d];
            }
    }
    for (int32_t i = 0; i < k->nexpr; i++)
        if (k->expr[i].kind == EX_INDEX) {
            if (map[k->expr[i].a] < 0) {
                k->expr[i].kind = EX_CONST;
                k->expr[i].value = 0;
            } else {
                k->expr[i].a = map[k->expr[i].a];
            }
        }
}

static bool setup_gemm(Ctx *c, const Node *p)
{
    const Shape *out = &ir_type(c->g, p->out)->shape;
    View a = c->pv[p->in[0]].view, b = c->pv[p->in[1]].view;
    if (p->attr.matmul.transpose_a)
        swap_last2(&a);
    if (p->attr.matmul.transpose_b)
        swap_last2(&b);
    a = batch_view(&a, out, 2);
    b = batch_view(&b, out, 2);
    GemmInfo *gi = &c->k->u.gemm;
    gi->a = add_in(c, &a);
    gi->b = add_in(c, &b);
    gi->m = out->d[out->rank - 2];
    gi->n = out->d[out->rank - 1];
    gi->k = a.dims[a.rank - 1];
    return gi->a >= 0 && gi->b >= 0;
}

/* KK_ATTENTION: q, k, v with their batch dims broadcast to the output's, the mask to the
 * logits [..., Nq, Nk]; the default schedule (plan_attention.c). */
static bool setup_attention(Ctx *c, const Node *p)
{
    const Shape *out = &ir_type(c->g, p->out)->shape;
    int r = out->rank;
    View q = batch_view(&c->pv[p->in[0]].view, out, 2), k = batch_view(&c->pv[p->in[1]].view, out, 2);
    View v = batch_view(&c->pv[p->in[2]].view, out, 2);
    AttnInfo *ai = &c->k->u.attn;
    *ai = (AttnInfo){add_in(c, &q), add_in(c, &k), add_in(c, &v), -1, p->attr.attn.mask, p->attr.attn.scale,
                     out->d[r - 2], k.dims[r - 2], q.dims[r - 1], out->d[r - 1], 0};
    if (p->nin > 3) { /* (segment ids [Nk] broadcast too: stride 0 but along the keys) */
        Shape logits = *out;
        logits.d[r - 1] = k.dims[r - 2];
        View m = view_broadcast(&c->pv[p->in[3]].view, &logits);
        ai->mask = add_in(c, &m);
    }
    ai->segments = plan_attention_segments(c->g, ai);
    plan_attention_schedule(c->g, c->k);
    return ai->q >= 0 && ai->k >= 0 && ai->v >= 0 && (p->nin == 3 || ai->mask >= 0);
}

static int32_t find_absorbed(Ctx *c, int32_t root)
{
    for (int32_t v = 0; v < c->g->nvalues; v++)
        if (c->pv[v].kind == PV_ABSORBED && c->pv[v].root == root)
            return v;
    return -1;
}

static KernelKind producer_kind(Op op)
{
    if (op == OP_MATMUL)
        return KK_GEMM;
    if (op == OP_ATTENTION)
        return KK_ATTENTION;
    if (op == OP_NORMALIZE || op == OP_SOFTMAX || op == OP_LOG_SOFTMAX)
        return KK_ROW;
    if (op == OP_MOE_COMBINE)
        return KK_MOE_COMBINE;
    if (op == OP_SEGMENT_REDUCE)
        return KK_SEGMENT_REDUCE;
    return KK_REDUCE;
}

/* The kernel computing value n->out (a BUFFER), with producer p absorbed (or p == n). */
static bool emit_computed(Ctx *c, const Node *n, const Node *p)
{
    int32_t node = (int32_t)(n - c->g->nodes);
    const Shape *shape = &ir_type(c->g, n->out)->shape;
    KernelKind kind = p ? producer_kind(p->op) : KK_ELEMENTWISE;
    if (!kernel_begin(c, kind, node, &c->pv[n->out].view, shape))
        return false;
    Kernel *k = c->k;
    int row_axis = -1;
    if (kind == KK_GEMM && !setup_gemm(c, p))
        return false;
    if (kind == KK_ATTENTION && !setup_attention(c, p))
        return false;
    if (kind == KK_MOE_COMBINE) {
        const View *y = &c->pv[p->in[0]].view, *r = &c->pv[p->in[1]].view, *gt = &c->pv[p->in[2]].view;
        k->u.moe_combine = (MoeCombineInfo){add_in(c, y), add_in(c, r), add_in(c, gt), p->attr.route};
    }
    if (kind == KK_SEGMENT_REDUCE) {
        const View *x = &c->pv[p->in[0]].view, *sg = &c->pv[p->in[1]].view;
        k->u.segred = (SegReduceInfo){add_in(c, x), add_in(c, sg), p->attr.segred.reduce};
    }
    if (kind == KK_ROW) {
        View in = c->pv[p->in[0]].view;
        k->u.row = (RowInfo){p->op, add_in(c, &in), p->attr.norm.eps, p->attr.norm.center};
        if (p->op != OP_NORMALIZE) {
            k->u.row.eps = 0;
            k->u.row.center = false;
            row_axis = (int)(p->attr.axis.axis < 0 ? p->attr.axis.axis + shape->rank : p->attr.axis.axis);
        } else {
            row_axis = shape->rank - 1;
        }
    }
    k->root = p == n ? add_expr(c, (Expr){.kind = EX_ACC, .dt = ir_type(c->g, n->out)->dt, .a = -1, .b = -1, .c = -1})
                     : build_node_expr(c, n);
    if (k->root < 0 || c->failed)
        return false;
    if (kind == KK_ROW && row_axis != shape->rank - 1)
        move_axis_last(k, row_axis, -1);
    if (kind == KK_REDUCE) {
        const Type *xt = ir_type(c->g, p->in[0]);
        bool red[IR_MAX_RANK] = {0};
        for (int i = 0; i < p->attr.reduce.axes.n; i++) {
            int64_t a = p->attr.reduce.axes.v[i];
            red[a < 0 ? a + xt->shape.rank : a] = true;
        }
        if (p->attr.reduce.keepdims)
            drop_axes(c, red);
        View x = c->pv[p->in[0]].view, in = x;
        int j = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int d = 0; d < x.rank; d++)
                if (red[d] == (pass == 1)) {
                    in.dims[j] = x.dims[d];
                    in.strides[j] = x.strides[d];
                    j++;
                }
        k->u.reduce = (ReduceInfo){p->op, add_in(c, &in)};
    }
    return !c->failed;
}

/* out[region] = value v (a copy, or an inlined expression), region = out view */
static bool emit_copy(Ctx *c, int32_t node, const View *out, int32_t v)
{
    const Shape *shape = &ir_type(c->g, v)->shape;
    if (!kernel_begin(c, KK_ELEMENTWISE, node, out, shape))
        return false;
    c->k->root = build_expr(c, v);
    return c->k->root >= 0;
}

static bool emit(Ctx *c)
{
    const Graph *g = c->g;
    for (int32_t i = 0; i < g->nnodes && !c->failed; i++) {
        const Node *n = &g->nodes[i];
        const PV *pv = &c->pv[n->out];
        if (pv->kind != PV_BUFFER || (ir_ops[n->op].flags & OPF_SOURCE && n->op != OP_IOTA))
            continue;
        switch (n->op) {
        case OP_TRANSPOSE: case OP_BROADCAST: case OP_SLICE: case OP_RESHAPE: {
            /* a copy of the operand into this buffer in the operand's shape */
            View out;
            if (!contiguous_view(c, pv->view.buf, &ir_type(g, n->in[0])->shape, &out) ||
                !emit_copy(c, i, &out, n->in[0]))
                return false;
            break;
        }
        case OP_CONCAT: {
            int ax = (int)(n->attr.axis.axis < 0 ? n->attr.axis.axis + pv->view.rank : n->attr.axis.axis);
            Dim off = dim_const(0);
            for (int32_t j = 0; j < n->nin; j++) {
                View part = pv->view;
                Dim len = ir_type(g, n->in[j])->shape.d[ax];
                part.dims[ax] = len;
                if (!dim_is_const(off) && !dim_is_const(pv->view.strides[ax]))
                    return failf(c, "unsupported concat of symbolic sizes%s%s", NULL, NULL);
                Dim step = dim_is_const(off) ? (Dim){pv->view.strides[ax].n * off.n, pv->view.strides[ax].sym}
                                             : (Dim){pv->view.strides[ax].n * off.n, off.sym};
                part.offset = step;
                if (!emit_copy(c, i, &part, n->in[j]))
                    return false;
                if (off.n == 0)
                    off = len;
                else
                    off.n += len.n;
            }
            break;
        }
        case OP_MOE_ROUTE: {
            if (!kernel_begin(c, KK_MOE_ROUTE, i, &pv->view, &ir_type(g, n->out)->shape))
                return false;
            c->k->u.moe_route = (MoeRouteInfo){add_in(c, &c->pv[n->in[0]].view), n->attr.route};
            c->k->root = add_expr(c, (Expr){.kind = EX_ACC, .dt = DT_I32, .a = -1, .b = -1, .c = -1});
            break;
        }
        case OP_TAKE: {
            const PV *t = &c->pv[n->in[0]], *ix = &c->pv[n->in[1]];
            if ((t->kind != PV_BUFFER && t->kind != PV_VIEW) || (ix->kind != PV_BUFFER && ix->kind != PV_VIEW))
                return failf(c, "internal error: 'take' operands have no storage%s%s", NULL, NULL);
            if (!kernel_begin(c, KK_GATHER, i, &pv->view, &ir_type(g, n->out)->shape))
                return false;
            int ax = (int)(n->attr.axis.axis < 0 ? n->attr.axis.axis + t->view.rank : n->attr.axis.axis);
            c->k->u.gather = (GatherInfo){add_in(c, &t->view), add_in(c, &ix->view), ax};
            c->k->root = add_expr(c, (Expr){.kind = EX_ACC, .dt = ir_type(g, n->out)->dt, .a = -1, .b = -1, .c = -1});
            break;
        }
        default: {
            const Node *p = NULL;
            if (is_producer(n->op))
                p = n;
            else if (pv->absorbs)
                p = ir_def(g, find_absorbed(c, n->out));
            if (!emit_computed(c, n, p))
                return false;
        }
        }
    }
    return !c->failed;
}

/* Graph outputs: contiguous OUTPUT buffers, adding a copy where the value is not one. */
static bool place_outputs(Ctx *c)
{
    const Graph *g = c->g;
    Plan *p = c->p;
    p->output_bufs = arena_alloc(p->arena, (size_t)(g->noutputs ? g->noutputs : 1) * sizeof *p->output_bufs);
    if (!p->output_bufs)
        return oom(c);
    for (int32_t i = 0; i < g->noutputs; i++) {
        int32_t v = g->outputs[i].value;
        const PV *pv = &c->pv[v];
        if (pv->kind == PV_BUFFER && p->bufs[pv->view.buf].kind == BUF_TEMP && view_is_contiguous(&pv->view)) {
            Buffer *b = &p->bufs[pv->view.buf];
            b->kind = BUF_OUTPUT;
            b->name = g->outputs[i].name;
            b->shape = ir_type(g, v)->shape;
            p->output_bufs[i] = pv->view.buf;
            continue;
        }
        int32_t b = new_buffer(c, BUF_OUTPUT, v, ir_type(g, v), g->outputs[i].name);
        View out;
        if (b < 0 || !contiguous_view(c, b, &ir_type(g, v)->shape, &out) ||
            !emit_copy(c, g->values[v].node, &out, v))
            return false;
        p->output_bufs[i] = b;
    }
    return true;
}

static void liveness(Plan *p)
{
    for (int32_t k = 0; k < p->nkernels; k++) {
        const Kernel *kn = &p->kernels[k];
        Buffer *o = &p->bufs[kn->out.buf];
        if (o->first < 0)
            o->first = k;
        if (o->last < k)
            o->last = k;
        for (int32_t i = 0; i < kn->nin; i++) {
            Buffer *b = &p->bufs[kn->in[i].buf];
            if (b->last < k)
                b->last = k;
        }
    }
}

/* Temporaries computed only from parameters and constants become BUF_FOLDED and their
 * kernels run once at load time. Kernels are in order and every writer of a buffer comes
 * before its first reader, so one pass decides it. */
static void fold_parameter_kernels(Plan *p)
{
    bool *folded = ir_calloc((size_t)(p->nbufs ? p->nbufs : 1), sizeof *folded);
    if (!folded)
        return; /* nothing folds: still correct */
    for (int32_t i = 0; i < p->nbufs; i++)
        folded[i] = p->bufs[i].kind == BUF_TEMP && shape_is_const(&p->bufs[i].shape);
    for (int32_t k = 0; k < p->nkernels; k++) {
        const Kernel *kn = &p->kernels[k];
        for (int32_t i = 0; i < kn->nin; i++) {
            BufKind bk = p->bufs[kn->in[i].buf].kind;
            if (!(bk == BUF_PARAM || bk == BUF_CONST || (bk == BUF_TEMP && folded[kn->in[i].buf])))
                folded[kn->out.buf] = false;
        }
    }
    for (int32_t k = 0; k < p->nkernels; k++)
        p->kernels[k].once = folded[p->kernels[k].out.buf];
    for (int32_t i = 0; i < p->nbufs; i++)
        if (folded[i])
            p->bufs[i].kind = BUF_FOLDED;
    ir_free(folded);
}

Plan *plan_build(const Graph *g, IrError *err) { return plan_build_opts(g, NULL, err); }

/* Every buffer within PLAN_MAX_BUFFER_BYTES with the symbols at their maxima: a model that
 * asks for more (a typo in a shape, a symbol's maximum far too large) is refused here, at
 * its value's location, rather than by the runtime that would load it. */
static bool check_sizes(Ctx *c)
{
    const Graph *g = c->g;
    for (int32_t i = 0; i < c->p->nbufs; i++) {
        const Buffer *b = &c->p->bufs[i];
        int64_t bytes = (int64_t)dtype_size(b->dt);
        bool over = false;
        for (int d = 0; d < b->shape.rank && !over; d++) {
            Dim x = b->shape.d[d];
            int64_t e = x.n;
            over = (!dim_is_const(x) && __builtin_mul_overflow(e, g->syms[x.sym].max, &e)) ||
                   __builtin_mul_overflow(bytes, e, &bytes) || bytes > PLAN_MAX_BUFFER_BYTES;
        }
        if (!over)
            continue;
        char shape[160], where[160] = "";
        ir_format_shape(g, &b->shape, shape, sizeof shape);
        const Loc *l = b->value >= 0 && b->value < g->nvalues ? &g->nodes[g->values[b->value].node].loc : NULL;
        if (l && l->file)
            snprintf(where, sizeof where, " at %s:%d:%d", l->file, l->line, l->col);
        if (c->err)
            snprintf(c->err->msg, sizeof c->err->msg,
                     "the value%s, %s%s, takes more than %" PRId64 " TiB with every symbol at its declared "
                     "maximum, more than one buffer may hold (lower the maximum or the shape)",
                     where, dtype_name(b->dt), shape, PLAN_MAX_BUFFER_BYTES >> 40);
        c->failed = true;
        return false;
    }
    return true;
}

Plan *plan_build_opts(const Graph *g, const PlanOptions *o, IrError *err)
{
    Plan *p = ir_calloc(1, sizeof *p);
    Ctx c = {.g = g, .p = p, .err = err};
    if (!p || !(p->arena = arena_new())) {
        ir_free(p);
        if (err)
            snprintf(err->msg, sizeof err->msg, "out of memory while planning kernels");
        return NULL;
    }
    p->g = g;
    c.pv = arena_alloc(p->arena, (size_t)(g->nvalues + 1) * sizeof *c.pv);
    c.uses = arena_alloc(p->arena, (size_t)(g->nvalues + 1) * sizeof *c.uses);
    c.user = arena_alloc(p->arena, (size_t)(g->nvalues + 1) * sizeof *c.user);
    c.is_output = arena_alloc(p->arena, (size_t)(g->nvalues + 1) * sizeof *c.is_output);
    c.ew_users_only = arena_alloc(p->arena, (size_t)(g->nvalues + 1) * sizeof *c.ew_users_only);
    if (!c.pv || !c.uses || !c.user || !c.is_output || !c.ew_users_only) {
        oom(&c);
        plan_free(p);
        return NULL;
    }
    for (int32_t v = 0; v < g->nvalues; v++)
        c.ew_users_only[v] = true;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        for (int32_t j = 0; j < n->nin; j++) {
            c.uses[n->in[j]]++;
            c.user[n->in[j]] = i;
            if (!is_ew(n->op))
                c.ew_users_only[n->in[j]] = false;
        }
    }
    for (int32_t i = 0; i < g->noutputs; i++) {
        c.is_output[g->outputs[i].value] = true;
        c.ew_users_only[g->outputs[i].value] = false;
    }
    prepass_virtual(&c);
    if (!decide(&c) || !emit(&c) || !place_outputs(&c) || !check_sizes(&c)) {
        plan_free(p);
        return NULL;
    }
    fold_parameter_kernels(p);
    if (o && !plan_pack(p, o->gemm_pack_nr, o->gemm_pack_batched, err)) {
        plan_free(p);
        return NULL;
    }
    liveness(p);
    return p;
}

void plan_free(Plan *p)
{
    if (!p)
        return;
    arena_free(p->arena);
    ir_free(p);
}

/* ---- printing ---- */

const char *plan_kind_name(int kind)
{
    static const char *const names[KK_COUNT] = {
#define KK_NAME(id, name) #name,
        KERNEL_KINDS(KK_NAME)
#undef KK_NAME
    };
    return kind >= 0 && kind < KK_COUNT ? names[kind] : "?";
}

const char *plan_buf_kind_name(int kind)
{
    static const char *const names[] = {"input", "param", "const", "output", "temp", "folded"};
    _Static_assert(sizeof names / sizeof names[0] == BUF_FOLDED + 1, "a name per BufKind");
    return kind >= 0 && kind <= BUF_FOLDED ? names[kind] : "?";
}

static void print_view(const Plan *p, const View *v, FILE *out)
{
    char buf[64];
    fprintf(out, "b%d[", v->buf);
    for (int i = 0; i < v->rank; i++) {
        ir_format_dim(p->g, v->dims[i], buf, sizeof buf);
        fprintf(out, "%s%s", i ? "," : "", buf);
    }
    fprintf(out, "] strides [");
    for (int i = 0; i < v->rank; i++) {
        ir_format_dim(p->g, v->strides[i], buf, sizeof buf);
        fprintf(out, "%s%s", i ? "," : "", buf);
    }
    fprintf(out, "]");
    if (v->offset.n) {
        ir_format_dim(p->g, v->offset, buf, sizeof buf);
        fprintf(out, " +%s", buf);
    }
}

static void print_expr(const Kernel *k, int32_t e, FILE *out, int depth)
{
    if (e < 0 || depth > 64) {
        fputs("?", out);
        return;
    }
    const Expr *x = &k->expr[e];
    char num[64];
    switch (x->kind) {
    case EX_LOAD: fprintf(out, "in%d", x->a); break;
    case EX_CONST: ir_format_double(x->value, num, sizeof num); fputs(num, out); break;
    case EX_INDEX: fprintf(out, "index%d", x->a); break;
    case EX_ACC: fputs("acc", out); break;
    case EX_OP:
        fprintf(out, "%s(", ir_ops[x->op].name);
        print_expr(k, x->a, out, depth + 1);
        if (x->b >= 0) {
            fputs(", ", out);
            print_expr(k, x->b, out, depth + 1);
        }
        if (x->c >= 0) {
            fputs(", ", out);
            print_expr(k, x->c, out, depth + 1);
        }
        fputs(")", out);
        break;
    }
}

void plan_print(const Plan *p, FILE *out)
{
    char shape[256];
    fprintf(out, "plan @%s: %d kernels, %d buffers\n", p->g->name, p->nkernels, p->nbufs);
    for (int32_t i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        ir_format_shape(p->g, &b->shape, shape, sizeof shape);
        fprintf(out, "  b%d = %s %s%s", i, plan_buf_kind_name(b->kind), dtype_name(b->dt), shape);
        if (b->name)
            fprintf(out, " \"%s\"", b->name);
        if (b->kind == BUF_TEMP || b->kind == BUF_OUTPUT || b->kind == BUF_FOLDED)
            fprintf(out, "  live k%d..k%d", b->first, b->last);
        fputc('\n', out);
    }
    for (int32_t i = 0; i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        fprintf(out, "  k%d = %s%s -> ", i, plan_kind_name(k->kind), k->once ? " (once, at load)" : "");
        print_view(p, &k->out, out);
        char where[768];
        if (plan_kernel_where(p, i, where, sizeof where) > 0)
            fprintf(out, "  #%s", where);
        fputc('\n', out);
        switch (k->kind) {
        case KK_GEMM: {
            char m[64], nn[64], kk[64];
            ir_format_dim(p->g, k->u.gemm.m, m, sizeof m);
            ir_format_dim(p->g, k->u.gemm.n, nn, sizeof nn);
            ir_format_dim(p->g, k->u.gemm.k, kk, sizeof kk);
            fprintf(out, "      m=%s n=%s k=%s a=in%d b=in%d", m, nn, kk, k->u.gemm.a, k->u.gemm.b);
            if (k->u.gemm.pack_nr > 0)
                fprintf(out, " (packed in panels of %d columns)", k->u.gemm.pack_nr);
            fputc('\n', out);
            break;
        }
        case KK_ROW:
            fprintf(out, "      %s of in%d along the last axis\n", ir_ops[k->u.row.op].name, k->u.row.in);
            break;
        case KK_REDUCE:
            fprintf(out, "      %s of in%d over its trailing axes\n", ir_ops[k->u.reduce.op].name, k->u.reduce.in);
            break;
        case KK_GATHER:
            fprintf(out, "      take in%d[in%d] along axis %d\n", k->u.gather.in, k->u.gather.idx, k->u.gather.axis);
            break;
        case KK_ATTENTION:
            plan_attention_print(p, k, out);
            break;
        case KK_SEGMENT_REDUCE:
            fprintf(out, "      %s of the rows of in%d per segment id in%d\n",
                     attr_field_find(ATTR_SEGRED, "reduce", 6)->enum_names[k->u.segred.reduce], k->u.segred.x,
                     k->u.segred.seg);
            break;
        case KK_MOE_ROUTE:
            fprintf(out, "      route the gates in%d: k=%lld capacity=%lld%s%s members=%lld\n", k->u.moe_route.gates,
                    (long long)k->u.moe_route.attr.k, (long long)k->u.moe_route.attr.capacity,
                    k->u.moe_route.attr.batch_priority ? " batch_priority" : "",
                    k->u.moe_route.attr.routing == ROUTING_EXPERT ? " expert_choice" : "",
                    (long long)k->u.moe_route.attr.members);
            break;
        case KK_MOE_COMBINE:
            fprintf(out, "      combine experts' outputs in%d by route in%d, gates in%d%s\n", k->u.moe_combine.y,
                    k->u.moe_combine.route, k->u.moe_combine.gates,
                    k->u.moe_combine.attr.normalize_combine ? " (normalized)" : "");
            break;
        default:
            break;
        }
        for (int32_t j = 0; j < k->nin; j++) {
            fprintf(out, "      in%d = ", j);
            print_view(p, &k->in[j], out);
            fputc('\n', out);
        }
        fputs("      out = ", out);
        print_expr(k, k->root, out, 0);
        fputc('\n', out);
    }
}

static bool in_range(const Kernel *k, int32_t i) { return i >= 0 && i < k->nin; }

bool plan_kernel_check(const Plan *p, int32_t ki, char *msg, size_t n)
{
    const Kernel *k = &p->kernels[ki];
    const char *bad = NULL;
    int32_t r = k->out.rank;
    if (k->out.buf < 0 || k->out.buf >= p->nbufs || r < 0 || r > IR_MAX_RANK)
        bad = "an invalid output view";
    else if (p->bufs[k->out.buf].kind != BUF_TEMP && p->bufs[k->out.buf].kind != BUF_OUTPUT &&
             p->bufs[k->out.buf].kind != BUF_FOLDED)
        bad = "an output that is an input, a parameter or a constant (the runtime reads those in place)";
    for (int32_t i = 0; i < k->nin && !bad; i++)
        if (k->in[i].buf < 0 || k->in[i].buf >= p->nbufs || k->in[i].rank < 0 || k->in[i].rank > IR_MAX_RANK)
            bad = "an invalid input view";
    if (!bad && (k->root < 0 || k->root >= k->nexpr))
        bad = "no expression";
    if (bad) {
        snprintf(msg, n, "kernel %d has %s", ki, bad);
        return false;
    }
#define DT(view) (p->bufs[(view).buf].dt)
    switch (k->kind) {
    case KK_ELEMENTWISE:
        break;
    case KK_GEMM: { /* B: a view of A's rank, or packed panels (rank 3; rank r + 1 per batch index) */
        const GemmInfo *gi = &k->u.gemm;
        if (r < 2 || !in_range(k, gi->a) || !in_range(k, gi->b) || k->in[gi->a].rank != r ||
            (gi->pack_nr > 0 ? k->in[gi->b].rank != 3 && k->in[gi->b].rank != r + 1 : k->in[gi->b].rank != r))
            bad = "GEMM kernel has operands of the wrong rank";
        break;
    }
    case KK_ROW:
        if (r < 1 || !in_range(k, k->u.row.in) || k->in[k->u.row.in].rank != r)
            bad = "row kernel has an input of the wrong rank";
        break;
    case KK_REDUCE:
        if (!in_range(k, k->u.reduce.in) || k->in[k->u.reduce.in].rank < r)
            bad = "reduce kernel has an input of the wrong rank";
        break;
    case KK_ATTENTION: {
        const AttnInfo *a = &k->u.attn;
        int32_t ids[4] = {a->q, a->k, a->v, a->mask};
        if (r < 2)
            bad = "attention kernel has a rank below 2";
        for (int i = 0; i < 4 && !bad; i++)
            if ((i < 3 || ids[i] >= 0) && (!in_range(k, ids[i]) || k->in[ids[i]].rank != r))
                bad = "attention kernel has operands of the wrong rank";
        if (!bad && (a->mask_kind == MASK_SEGMENT || a->mask_kind == MASK_SLOT) &&
            (!in_range(k, a->mask) || DT(k->in[a->mask]) != DT_I32))
            bad = "attention kernel has no i32 segment ids";
        break;
    }
    case KK_GATHER: {
        const GatherInfo *ga = &k->u.gather;
        if (!in_range(k, ga->in) || !in_range(k, ga->idx) || ga->axis < 0 || ga->axis >= k->in[ga->in].rank ||
            k->in[ga->in].rank - 1 + k->in[ga->idx].rank != r ||
            (DT(k->in[ga->idx]) != DT_I32 && DT(k->in[ga->idx]) != DT_I64))
            bad = "gather kernel has views of the wrong ranks";
        break;
    }
    case KK_MOE_ROUTE: {
        const View *gv = in_range(k, k->u.moe_route.gates) ? &k->in[k->u.moe_route.gates] : NULL;
        if (r != 2 || !gv || gv->rank != 3 || !dim_is_const(gv->dims[1]) || !dim_is_const(gv->dims[2]) ||
            DT(k->out) != DT_I32)
            bad = "route kernel has views of the wrong shapes";
        break;
    }
    case KK_MOE_COMBINE: {
        const MoeCombineInfo *mc = &k->u.moe_combine;
        if (r < 2 || !in_range(k, mc->y) || !in_range(k, mc->route) || !in_range(k, mc->gates) ||
            k->in[mc->y].rank != 3 || k->in[mc->route].rank != 2 || k->in[mc->gates].rank != r)
            bad = "combine kernel has views of the wrong ranks";
        break;
    }
    case KK_SEGMENT_REDUCE: {
        const SegReduceInfo *si = &k->u.segred;
        if (r < 2 || !in_range(k, si->x) || !in_range(k, si->seg) || k->in[si->x].rank != r ||
            k->in[si->seg].rank != 1 || DT(k->in[si->seg]) != DT_I32 || !dtype_is_float(DT(k->in[si->x])) ||
            (si->reduce != SEGRED_SUM && si->reduce != SEGRED_MEAN && si->reduce != SEGRED_MAX))
            bad = "segment_reduce kernel has views of the wrong ranks";
        break;
    }
    default:
        bad = "a kernel of an unknown kind";
        break;
    }
#undef DT
    if (bad)
        snprintf(msg, n, "kernel %d: %s", ki, bad);
    return !bad;
}
