/* plan_exec.c — a naive executor of kernel plans: the meaning of a plan, in C.
 *
 * Each kernel is evaluated tensor-at-a-time: loads gather their view into a tensor of the
 * kernel's output shape, and elementwise ops run through the interpreter's own op
 * implementations (ir_interp_node on a scratch graph), so the only new code here is the
 * view arithmetic and the kernels' primary computations (GEMM sums, row and reduce
 * kernels, gathers). Tests compare it with the graph interpreter to check plan_build
 * independently of any backend; backends are then checked against both.
 */
#include <math.h>
#include <string.h>

#include "interp.h"
#include "moe.h"
#include "plan.h"

typedef struct {
    const Plan *p;
    int64_t bind[64];
    Tensor **buf;
    IrError *err;
} Exec;

static bool fail(Exec *x, const char *msg, const char *detail)
{
    if (x->err)
        snprintf(x->err->msg, sizeof x->err->msg, msg, detail ? detail : "");
    return false;
}

static int64_t d(const Exec *x, Dim v) { return dim_eval(v, x->bind); }

/* Element offset of a view at multi-index idx. */
static int64_t view_offset(const Exec *x, const View *v, const int64_t *idx)
{
    int64_t o = d(x, v->offset);
    for (int i = 0; i < v->rank; i++)
        o += idx[i] * d(x, v->strides[i]);
    return o;
}

static bool next_index(int64_t *idx, const int64_t *dims, int rank)
{
    for (int i = rank - 1; i >= 0; i--) {
        if (++idx[i] < dims[i])
            return true;
        idx[i] = 0;
    }
    return false;
}

static void view_dims(const Exec *x, const View *v, int64_t *dims)
{
    for (int i = 0; i < v->rank; i++)
        dims[i] = d(x, v->dims[i]);
}

static Tensor *gather_view(Exec *x, const View *v)
{
    const Tensor *b = x->buf[v->buf];
    int64_t dims[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
    view_dims(x, v, dims);
    Tensor *t = tensor_new(b->dt, v->rank, dims);
    if (!t)
        return NULL;
    if (t->numel == 0)
        return t;
    int64_t k = 0;
    do {
        int64_t o = view_offset(x, v, idx);
        if (o < 0 || o >= b->numel) {
            tensor_free(t);
            fail(x, "internal error: view reads outside its buffer%s", NULL);
            return NULL;
        }
        tensor_set(t, k++, tensor_get(b, o));
    } while (next_index(idx, dims, v->rank));
    return t;
}

static bool scatter_view(Exec *x, const View *v, const Tensor *t)
{
    Tensor *b = x->buf[v->buf];
    int64_t dims[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
    view_dims(x, v, dims);
    if (t->numel == 0)
        return true;
    int64_t k = 0;
    do {
        int64_t o = view_offset(x, v, idx);
        if (o < 0 || o >= b->numel)
            return fail(x, "internal error: a kernel writes outside its buffer%s", NULL);
        tensor_set(b, o, dtype_round(b->dt, tensor_get(t, k++)));
    } while (next_index(idx, dims, v->rank));
    return true;
}

/* ---- expressions ---- */

typedef struct {
    Exec *x;
    const Kernel *k;
    int64_t dims[IR_MAX_RANK];
    int rank;
    const Tensor *acc;
} EvalCtx;

static Tensor *eval(EvalCtx *e, int32_t id);

static Tensor *apply_op(EvalCtx *e, const Expr *ex)
{
    Tensor *ops[3] = {NULL, NULL, NULL};
    int32_t ids[3] = {ex->a, ex->b, ex->c};
    int nin = ir_ops[ex->op].nin;
    Tensor *res = NULL;
    Graph *sg = ir_graph_new("scratch");
    IrError err;
    int32_t in[3];
    if (!sg)
        return NULL;
    for (int i = 0; i < nin; i++) {
        if (!(ops[i] = eval(e, ids[i])))
            goto out;
        Type t = {ops[i]->dt, {.rank = ops[i]->rank}};
        for (int r = 0; r < ops[i]->rank; r++)
            t.shape.d[r] = dim_const(ops[i]->dims[r]);
        Attr a;
        attr_set_defaults(ATTR_INPUT, &a);
        char name[8] = {'x', (char)('0' + i), 0};
        a.input.name = name;
        if ((in[i] = ir_build(sg, OP_INPUT, NULL, 0, &a, &t, (Loc){0}, &err)) < 0)
            goto out;
    }
    int32_t v = ir_build(sg, ex->op, in, nin, &ex->attr, NULL, (Loc){0}, &err);
    if (v < 0) {
        fail(e->x, "internal error: plan expression: %s", err.msg);
        goto out;
    }
    Tensor *outs[4] = {0};
    if (!ir_interp_node(sg, ir_def(sg, v), (const Tensor *const *)ops, outs, &err)) {
        fail(e->x, "%s", err.msg);
        goto out;
    }
    res = outs[0];
out:
    for (int i = 0; i < 3; i++)
        tensor_free(ops[i]);
    ir_graph_free(sg);
    return res;
}

static Tensor *eval(EvalCtx *e, int32_t id)
{
    const Expr *ex = &e->k->expr[id];
    Tensor *t;
    switch (ex->kind) {
    case EX_LOAD:
        return gather_view(e->x, &e->k->in[ex->a]);
    case EX_CONST:
        if (!(t = tensor_new(ex->dt, 0, NULL)))
            return NULL;
        tensor_set(t, 0, ex->value);
        return t;
    case EX_INDEX: {
        if (!(t = tensor_new(ex->dt, e->rank, e->dims)))
            return NULL;
        int64_t idx[IR_MAX_RANK] = {0}, k = 0;
        if (t->numel)
            do
                tensor_set(t, k++, (double)idx[ex->a]);
            while (next_index(idx, e->dims, e->rank));
        return t;
    }
    case EX_ACC:
        if (!(t = tensor_new(e->acc->dt, e->acc->rank, e->acc->dims)))
            return NULL;
        for (int64_t i = 0; i < t->numel; i++)
            tensor_set(t, i, tensor_get(e->acc, i));
        return t;
    case EX_OP:
        return apply_op(e, ex);
    }
    return NULL;
}

/* ---- primary computations ---- */

static Tensor *gemm(Exec *x, const Kernel *k, const int64_t *dims, int rank, DType dt)
{
    const View *a = &k->in[k->u.gemm.a], *b = &k->in[k->u.gemm.b];
    const Tensor *ab = x->buf[a->buf], *bb = x->buf[b->buf];
    int64_t K = d(x, k->u.gemm.k);
    Tensor *t = tensor_new(dt, rank, dims);
    int64_t idx[IR_MAX_RANK] = {0}, ia[IR_MAX_RANK], ib[IR_MAX_RANK], n = 0;
    if (!t || t->numel == 0)
        return t;
    do {
        memcpy(ia, idx, sizeof ia);
        memcpy(ib, idx, sizeof ib);
        double s = 0;
        int64_t nr = k->u.gemm.pack_nr, n_ = idx[rank - 1];
        for (int64_t kk = 0; kk < K; kk++) {
            ia[rank - 1] = kk;
            ib[rank - 2] = kk;
            ib[rank - 1] = n_;
            /* B packed in panels (plan.h): B[.., k, n] = P[n / nr][k][n mod nr]; a batched
             * weight's panel view has the batch dims in front (rank + 1) */
            int64_t ob;
            if (nr > 0 && b->rank == rank + 1) {
                ib[rank - 2] = n_ / nr;
                ib[rank - 1] = kk;
                ib[rank] = n_ % nr;
                ob = view_offset(x, b, ib);
            } else {
                ob = nr > 0 ? view_offset(x, b, (int64_t[]){n_ / nr, kk, n_ % nr}) : view_offset(x, b, ib);
            }
            s += tensor_get(ab, view_offset(x, a, ia)) * tensor_get(bb, ob);
        }
        tensor_set(t, n++, dtype_round(dt, s));
    } while (next_index(idx, dims, rank));
    return t;
}

static Tensor *row(Exec *x, const Kernel *k, const int64_t *dims, int rank, DType dt)
{
    Tensor *in = gather_view(x, &k->in[k->u.row.in]), *t = tensor_new(dt, rank, dims);
    if (!in || !t || t->numel == 0) {
        tensor_free(in);
        if (!in)
            tensor_free(t);
        return in ? t : NULL;
    }
    int64_t w = dims[rank - 1], rows = t->numel / (w ? w : 1);
    for (int64_t r = 0; r < rows && w; r++) {
        double mean = 0, var = 0, mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < w; j++) {
            double v = tensor_get(in, r * w + j);
            mean += v;
            if (v > mx)
                mx = v;
        }
        mean /= (double)w;
        for (int64_t j = 0; j < w; j++) {
            double v = tensor_get(in, r * w + j);
            var += k->u.row.center ? (v - mean) * (v - mean) : v * v;
            sum += exp(v - mx);
        }
        var /= (double)w;
        for (int64_t j = 0; j < w; j++) {
            double v = tensor_get(in, r * w + j), y;
            if (k->u.row.op == OP_NORMALIZE)
                y = (k->u.row.center ? v - mean : v) / sqrt(var + k->u.row.eps);
            else if (k->u.row.op == OP_SOFTMAX)
                y = exp(v - mx) / sum;
            else
                y = v - mx - log(sum);
            tensor_set(t, r * w + j, dtype_round(dt, y));
        }
    }
    tensor_free(in);
    return t;
}

static Tensor *reduce(Exec *x, const Kernel *k, const int64_t *dims, int rank, DType dt)
{
    const View *v = &k->in[k->u.reduce.in];
    const Tensor *b = x->buf[v->buf];
    Tensor *t = tensor_new(dt, rank, dims);
    int64_t vd[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, n = 0;
    if (!t || t->numel == 0)
        return t;
    view_dims(x, v, vd);
    int nred = v->rank - rank;
    do {
        int64_t full[IR_MAX_RANK] = {0}, cnt = 0;
        memcpy(full, idx, (size_t)rank * sizeof *idx);
        double acc = k->u.reduce.op == OP_REDUCE_MAX ? -INFINITY : k->u.reduce.op == OP_REDUCE_MIN ? INFINITY : 0;
        bool more = true;
        for (int i = 0; i < nred; i++)
            if (vd[rank + i] == 0)
                more = false;
        while (more) {
            double val = tensor_get(b, view_offset(x, v, full));
            cnt++;
            if (k->u.reduce.op == OP_REDUCE_MAX)
                acc = val > acc ? val : acc;
            else if (k->u.reduce.op == OP_REDUCE_MIN)
                acc = val < acc ? val : acc;
            else
                acc += val;
            more = next_index(full + rank, vd + rank, nred);
        }
        /* the mean of nothing: NaN for floats (0/0, as the interpreter and the backends compute
         * it), 0 for integers (as the backends) */
        if (k->u.reduce.op == OP_REDUCE_MEAN)
            acc = dtype_is_float(dt) ? acc / (double)cnt : acc / (double)(cnt ? cnt : 1);
        tensor_set(t, n++, dtype_round(dt, acc));
    } while (next_index(idx, dims, rank));
    return t;
}

static Tensor *gather(Exec *x, const Kernel *k, const int64_t *dims, int rank, DType dt)
{
    const View *tv = &k->in[k->u.gather.in], *iv = &k->in[k->u.gather.idx];
    const Tensor *tb = x->buf[tv->buf], *ib = x->buf[iv->buf];
    int ax = k->u.gather.axis, ri = iv->rank;
    int64_t len = d(x, tv->dims[ax]);
    Tensor *t = tensor_new(dt, rank, dims);
    int64_t idx[IR_MAX_RANK] = {0}, n = 0;
    if (!t || t->numel == 0)
        return t;
    do {
        int64_t ti[IR_MAX_RANK], ii[IR_MAX_RANK];
        for (int i = 0; i < ri; i++)
            ii[i] = idx[ax + i];
        int64_t j = (int64_t)tensor_get(ib, view_offset(x, iv, ii));
        if (j < 0 || j >= len) {
            tensor_free(t);
            char msg[64];
            snprintf(msg, sizeof msg, "%lld", (long long)j);
            fail(x, "take: index %s is out of range", msg);
            return NULL;
        }
        for (int i = 0; i < ax; i++)
            ti[i] = idx[i];
        ti[ax] = j;
        for (int i = ax + 1; i < tv->rank; i++)
            ti[i] = idx[i - 1 + ri];
        tensor_set(t, n++, tensor_get(tb, view_offset(x, tv, ti)));
    } while (next_index(idx, dims, rank));
    return t;
}

/* KK_MOE_ROUTE / KK_MOE_COMBINE: the ops' own semantics (moe_route.c) on gathered views */
static Tensor *moe_kernel(Exec *x, const Kernel *k, const int64_t *dims, int rank, DType dt)
{
    bool route = k->kind == KK_MOE_ROUTE;
    const int32_t views[3] = {route ? k->u.moe_route.gates : k->u.moe_combine.y, k->u.moe_combine.route,
                              k->u.moe_combine.gates};
    Tensor *in[3] = {NULL, NULL, NULL}, *t = tensor_new(dt, rank, dims);
    bool ok = t != NULL;
    for (int i = 0; i < (route ? 1 : 3) && ok; i++)
        ok = (in[i] = gather_view(x, &k->in[views[i]])) != NULL;
    char msg[256] = "out of memory";
    if (ok && route)
        ok = moe_route_tensor(&k->u.moe_route.attr, in[0], t);
    else if (ok)
        ok = moe_combine_tensor(&k->u.moe_combine.attr, in[0], in[1], in[2], t, msg, sizeof msg);
    for (int i = 0; i < 3; i++)
        tensor_free(in[i]);
    if (!ok) {
        if (!x->err || !x->err->msg[0])
            fail(x, "moe kernel: %s", msg);
        tensor_free(t);
        return NULL;
    }
    return t;
}

/* The interpreter's op on the gathered views (its inputs, in order), the result rounded to dt
 * (the EX_ACC dtype); NULL with the Exec failed ("<what> kernel: ...") when it fails. */
static Tensor *interp_op(Exec *x, const char *what, Op op, const Attr *attrs, const View *views, int32_t n, DType dt)
{
    int32_t in[4];
    Tensor *ops[4] = {NULL, NULL, NULL, NULL}, *outs[1] = {NULL};
    Graph *sg = ir_graph_new(what);
    IrError err = {{0}};
    bool ok = sg != NULL && n <= 4;
    for (int32_t i = 0; i < n && ok; i++) {
        ok = (ops[i] = gather_view(x, &views[i])) != NULL;
        Type t = {ops[i] ? ops[i]->dt : DT_F32, {.rank = ops[i] ? ops[i]->rank : 0}};
        for (int r = 0; ok && r < ops[i]->rank; r++)
            t.shape.d[r] = dim_const(ops[i]->dims[r]);
        Attr ia;
        attr_set_defaults(ATTR_INPUT, &ia);
        ia.input.name = "x";
        ok = ok && (in[i] = ir_build(sg, OP_INPUT, NULL, 0, &ia, &t, (Loc){0}, &err)) >= 0;
    }
    int32_t v = ok ? ir_build(sg, op, in, n, attrs, NULL, (Loc){0}, &err) : -1;
    if (v >= 0 && !ir_interp_node(sg, ir_def(sg, v), (const Tensor *const *)ops, outs, &err))
        outs[0] = NULL;
    if (ok && !outs[0]) {
        char msg[sizeof err.msg + 64];
        snprintf(msg, sizeof msg, "%s kernel: %s", what, err.msg[0] ? err.msg : "out of memory");
        fail(x, "%s", msg);
    }
    for (int i = 0; i < 4; i++)
        tensor_free(ops[i]);
    ir_graph_free(sg);
    if (outs[0] && outs[0]->dt != dt) { /* the EX_ACC dtype: round the op's result into it */
        Tensor *t = tensor_new(dt, outs[0]->rank, outs[0]->dims);
        for (int64_t i = 0; t && i < t->numel; i++)
            tensor_set(t, i, dtype_round(dt, tensor_get(outs[0], i)));
        tensor_free(outs[0]);
        return t;
    }
    return outs[0];
}

/* KK_ATTENTION: the interpreter's attention (the op's semantics) on the gathered views */
static Tensor *attention(Exec *x, const Kernel *k, DType dt)
{
    const AttnInfo *a = &k->u.attn;
    View views[4] = {k->in[a->q], k->in[a->k], k->in[a->v]};
    int32_t nin = 3;
    if (a->mask >= 0) {
        View *sv = &views[nin++];
        *sv = k->in[a->mask];
        if (a->mask_kind == MASK_SEGMENT || a->mask_kind == MASK_SLOT) { /* the segment ids: the key axis alone */
            sv->dims[0] = sv->dims[sv->rank - 1];
            sv->strides[0] = sv->strides[sv->rank - 1];
            sv->rank = 1;
        }
    }
    Attr aa;
    attr_set_defaults(ATTR_ATTN, &aa);
    aa.attn.scale = a->scale;
    aa.attn.mask = a->mask_kind;
    return interp_op(x, "attention", OP_ATTENTION, &aa, views, nin, dt);
}

/* KK_SEGMENT_REDUCE: the interpreter's segment_reduce on the gathered views */
static Tensor *segment_reduce(Exec *x, const Kernel *k, DType dt)
{
    const SegReduceInfo *si = &k->u.segred;
    View views[2] = {k->in[si->x], k->in[si->seg]};
    Attr aa;
    attr_set_defaults(ATTR_SEGRED, &aa);
    aa.segred.segments = d(x, k->out.dims[0]);
    aa.segred.reduce = si->reduce;
    return interp_op(x, "segment_reduce", OP_SEGMENT_REDUCE, &aa, views, 2, dt);
}

static bool run_kernel(Exec *x, const Kernel *k)
{
    EvalCtx e = {.x = x, .k = k, .rank = k->out.rank};
    view_dims(x, &k->out, e.dims);
    DType dt = x->buf[k->out.buf]->dt;
    DType acc_dt = k->expr[k->root].dt;
    for (int32_t i = 0; i < k->nexpr; i++)
        if (k->expr[i].kind == EX_ACC)
            acc_dt = k->expr[i].dt;
    Tensor *acc = NULL;
    switch (k->kind) {
    case KK_GEMM: acc = gemm(x, k, e.dims, e.rank, acc_dt); break;
    case KK_ROW: acc = row(x, k, e.dims, e.rank, acc_dt); break;
    case KK_REDUCE: acc = reduce(x, k, e.dims, e.rank, acc_dt); break;
    case KK_GATHER: acc = gather(x, k, e.dims, e.rank, acc_dt); break;
    case KK_ATTENTION: acc = attention(x, k, acc_dt); break;
    case KK_SEGMENT_REDUCE: acc = segment_reduce(x, k, acc_dt); break;
    case KK_MOE_ROUTE: case KK_MOE_COMBINE: acc = moe_kernel(x, k, e.dims, e.rank, acc_dt); break;
    default: break;
    }
    if (k->kind != KK_ELEMENTWISE && !acc)
        return x->err && x->err->msg[0] ? false : fail(x, "out of memory%s", NULL);
    e.acc = acc;
    Tensor *r = eval(&e, k->root);
    tensor_free(acc);
    if (!r)
        return x->err && x->err->msg[0] ? false : fail(x, "out of memory%s", NULL);
    (void)dt;
    /* a scalar result (a constant) is broadcast over the output */
    Tensor *full = r;
    if (r->numel != 0 && r->rank < e.rank) {
        full = tensor_new(r->dt, e.rank, e.dims);
        if (full)
            for (int64_t i = 0; i < full->numel; i++)
                tensor_set(full, i, tensor_get(r, i % r->numel));
        tensor_free(r);
        if (!full)
            return fail(x, "out of memory%s", NULL);
    }
    bool ok = scatter_view(x, &k->out, full);
    tensor_free(full);
    return ok;
}

/* ---- buffers ---- */

static bool set_error(IrError *err, const char *fmt, const char *name)
{
    if (err)
        snprintf(err->msg, sizeof err->msg, fmt, name);
    return false;
}

bool plan_bind_inputs(const Plan *p, const NamedTensor *inputs, int ninputs, int64_t *bind, IrError *err)
{
    const Graph *g = p->g;
    if (g->nsyms > 64)
        return set_error(err, "too many symbols%s", "");
    for (int s = 0; s < g->nsyms; s++)
        bind[s] = -1;
    for (int32_t i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        if (b->kind != BUF_INPUT)
            continue;
        const Tensor *t = NULL;
        for (int j = 0; j < ninputs; j++)
            if (strcmp(inputs[j].name, b->name) == 0)
                t = inputs[j].t;
        if (!t)
            return set_error(err, "no tensor for input '%s'", b->name);
        if (t->rank != b->shape.rank || t->dt != b->dt)
            return set_error(err, "input '%s' has the wrong rank or dtype", b->name);
        for (int r = 0; r < t->rank; r++) {
            Dim dm = b->shape.d[r];
            if (dim_is_const(dm) ? t->dims[r] != dm.n : t->dims[r] % dm.n != 0)
                return set_error(err, "input '%s' has the wrong shape", b->name);
            if (!dim_is_const(dm)) {
                int64_t v = t->dims[r] / dm.n;
                if ((bind[dm.sym] >= 0 && bind[dm.sym] != v) || v > g->syms[dm.sym].max)
                    return set_error(err, "input '%s' binds a symbol inconsistently or above its maximum", b->name);
                bind[dm.sym] = v;
            }
        }
    }
    for (int s = 0; s < g->nsyms; s++)
        if (bind[s] < 0)
            bind[s] = 1;
    return true;
}

bool plan_load_param(const Plan *p, int32_t b, const WeightSource *w, Tensor *t, IrError *err)
{
    /* the interpreter's loader gives the logical (permuted) tensor; store it back in the
       checkpoint's layout, which is what the plan's views address */
    const Node *n = &p->g->nodes[p->g->values[p->bufs[b].value].node];
    RawTensor raw;
    IrError e;
    char msg[256] = "";
    if (!w || !w->lookup(w->ctx, p->bufs[b].name, &raw, msg, sizeof msg))
        return set_error(err, "%s", msg[0] ? msg : "no weights");
    Tensor *l = ir_param_from_raw(p->g, n, &raw, &e);
    if (!l)
        return set_error(err, "%s", e.msg);
    const IntList *lay = &n->attr.param.layout;
    int64_t idx[IR_MAX_RANK] = {0}, k = 0;
    if (l->numel)
        do {
            int64_t si[IR_MAX_RANK], o = 0;
            for (int r = 0; r < l->rank; r++)
                si[lay->n ? lay->v[r] : r] = idx[r];
            for (int r = 0; r < t->rank; r++)
                o = o * t->dims[r] + si[r];
            tensor_set(t, o, tensor_get(l, k++));
        } while (next_index(idx, l->dims, l->rank));
    tensor_free(l);
    return true;
}

static bool alloc_buffers(Exec *x, const WeightSource *w, const NamedTensor *inputs, int ninputs)
{
    const Plan *p = x->p;
    for (int32_t i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        int64_t dims[IR_MAX_RANK];
        for (int r = 0; r < b->shape.rank; r++)
            dims[r] = d(x, b->shape.d[r]);
        if (!(x->buf[i] = tensor_new(b->dt, b->shape.rank, dims)))
            return fail(x, "out of memory%s", NULL);
        Tensor *t = x->buf[i];
        if (b->kind == BUF_INPUT) {
            for (int j = 0; j < ninputs; j++)
                if (strcmp(inputs[j].name, b->name) == 0)
                    for (int64_t e = 0; e < t->numel; e++)
                        tensor_set(t, e, tensor_get(inputs[j].t, e));
        } else if (b->kind == BUF_CONST) {
            const FloatList *data = &p->g->nodes[p->g->values[b->value].node].attr.constant.data;
            for (int64_t e = 0; e < t->numel; e++)
                tensor_set(t, e, data->v[data->n == 1 ? 0 : e]);
        } else if (b->kind == BUF_PARAM && !plan_load_param(p, i, w, t, x->err)) {
            return false;
        }
    }
    return true;
}

bool plan_exec(const Plan *p, const WeightSource *w, const NamedTensor *inputs, int ninputs,
               Tensor **outputs, IrError *err)
{
    Exec x = {.p = p, .err = err};
    bool ok = false;
    if (err)
        err->msg[0] = 0;
    if (p->g->nsyms > 64)
        return fail(&x, "too many symbols%s", NULL);
    for (int32_t i = 0; i < p->g->noutputs; i++)
        outputs[i] = NULL;
    x.buf = ir_calloc((size_t)(p->nbufs ? p->nbufs : 1), sizeof *x.buf);
    if (!x.buf)
        return fail(&x, "out of memory%s", NULL);
    if (!plan_bind_inputs(p, inputs, ninputs, x.bind, err) || !alloc_buffers(&x, w, inputs, ninputs))
        goto out;
    for (int32_t k = 0; k < p->nkernels; k++)
        if (!run_kernel(&x, &p->kernels[k]))
            goto out;
    for (int32_t i = 0; i < p->g->noutputs; i++) {
        outputs[i] = x.buf[p->output_bufs[i]];
        x.buf[p->output_bufs[i]] = NULL;
    }
    ok = true;
out:
    for (int32_t i = 0; i < p->nbufs; i++)
        tensor_free(x.buf[i]);
    ir_free(x.buf);
    return ok;
}
