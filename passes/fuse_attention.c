/* fuse_attention.c — the attention-fusion pass: `softmax(scale · q @ kᵀ [masked]) @ v`,
 * however it is spelled, becomes one `attention` op (semantics: ir/infer_attention.c).
 *
 * Matched from each softmax S, in three walks:
 *   down    S's result (single use) through transposes of the last two axes to a matmul
 *           that contracts it over its key axis: out = P @ V, or outᵀ = V' @ Pᵀ (then the
 *           root is that matmul's own single-use swapping transpose, or the op's result is
 *           transposed back). The softmax axis must be one of the last two: the keys.
 *   up      S's operand (the logits, single use at every step) through swapping transposes,
 *           mul / div by a scalar constant (the scale; before any mask), one mask —
 *           add(logits, M) (additive) or select(C, logits, finfo.min) / select(C, finfo.min,
 *           logits) (keep where C / where not C) — to the matmul q @ kᵀ (either orientation:
 *           transpose flags and explicit transposes are all parities).
 *   operands q and k through swapping transposes and scalar mul / div (folded into the
 *           scale, whatever their other uses), v and the mask through swapping transposes.
 * A parity left over becomes an explicit transpose of the operand (a view in the plan).
 * The mask must broadcast to the logits without enlarging them, a fill must be exactly
 * the dtype's most negative finite value (−inf or −1e9 change fully masked rows), and
 * every intermediate the op computes must have no other use.
 *
 *   %s = matmul(%q2, %k) {transpose_b = true}        %a = attention(%q, %k, %v) {scale = 0.125}
 *   %q2 = mul(%q, %c0.125)                      =>
 *   %p = softmax(%s) ; %o = matmul(%p, %v)           (%o's uses now use %a)
 *
 * Replaced nodes are removed (nodes only they used, too); new nodes get the location of
 * the node they replace. Sweeps repeat until nothing matches (at most MAX_SWEEPS: an ICE).
 * attention_unfused() runs the same matcher without rewriting, for `vitc dump --stats`:
 * every attention-like pattern left, with the reason it does not match.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "../ir/interp.h"
#include "passes.h"

enum { MAX_SWEEPS = 8, MAX_CHAIN = 32, MAX_WALK = 16 };

typedef struct {
    int32_t q, k, v, mask;       /* operand values; mask -1: none */
    bool tq, tk, tv, tmask;      /* the operand is the transpose (last two axes) of the value */
    bool not_mask;               /* keep where the condition is false */
    int mask_kind;               /* MASK_* */
    double scale;
    int32_t root;                /* the node whose result the op replaces */
    bool out_t;                  /* that result is the op's, transposed */
    int32_t chain[MAX_CHAIN];    /* the nodes the op computes (removed) */
    int nchain;
} Match;

typedef struct {
    const Graph *g;
    const int32_t *uses, *user; /* per value: uses (graph outputs included), the last user node */
    Match m;
    char *why;
    size_t nwhy;
} Matcher;

/* ---- helpers ---- */

static bool whyf(Matcher *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool whyf(Matcher *c, const char *fmt, ...)
{
    if (c->why && c->nwhy) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->nwhy, fmt, ap);
        va_end(ap);
    }
    return false;
}

static const char *where(const Graph *g, int32_t node, char *buf, size_t n)
{
    const Node *x = &g->nodes[node];
    if (x->loc.file)
        snprintf(buf, n, "'%s' at %s:%d:%d", ir_ops[x->op].name, x->loc.file, x->loc.line, x->loc.col);
    else
        snprintf(buf, n, "'%s' %%%d", ir_ops[x->op].name, x->out);
    return buf;
}

static bool push(Matcher *c, int32_t node)
{
    if (c->m.nchain == MAX_CHAIN)
        return whyf(c, "the pattern has more than %d steps", MAX_CHAIN);
    c->m.chain[c->m.nchain++] = node;
    return true;
}

/* A transpose that swaps the last two axes and keeps the others. */
static bool is_swap(const Node *n)
{
    if (n->op != OP_TRANSPOSE)
        return false;
    const IntList *p = &n->attr.perm.perm;
    if (p->n < 2)
        return false;
    for (int i = 0; i < p->n - 2; i++)
        if (p->v[i] != i)
            return false;
    return p->v[p->n - 2] == p->n - 1 && p->v[p->n - 1] == p->n - 2;
}

/* A float constant whose elements are all one value. */
static bool scalar_const(const Graph *g, int32_t v, double *x)
{
    const Node *n = ir_def(g, v);
    if (n->op != OP_CONST || !dtype_is_float(ir_type(g, v)->dt))
        return false;
    const FloatList *d = &n->attr.constant.data;
    if (d->n < 1)
        return false;
    for (int i = 1; i < d->n; i++)
        if (d->v[i] != d->v[0])
            return false;
    *x = d->v[0];
    return true;
}

static double finfo_min(DType dt)
{
    return dt == DT_F16 ? -65504.0 : dt == DT_BF16 ? -3.3895313892515355e38 : -FLT_MAX;
}

/* n = x ∘ c or c ∘ x (∘ mul; div: x / c only) with c a scalar constant and n of x's shape:
 * the factor it applies to x (0: not such a node). */
static bool scaling(const Graph *g, const Node *n, int32_t *x, double *factor)
{
    double c;
    if (n->op != OP_MUL && n->op != OP_DIV)
        return false;
    for (int side = 0; side < (n->op == OP_MUL ? 2 : 1); side++) {
        int32_t a = n->in[side], b = n->in[1 - side];
        if (!scalar_const(g, b, &c) || !shape_eq(&ir_type(g, a)->shape, &ir_type(g, n->out)->shape))
            continue;
        if (n->op == OP_DIV && c == 0)
            return false;
        *factor = n->op == OP_MUL ? c : 1.0 / c;
        *x = a;
        return isfinite(*factor);
    }
    return false;
}

/* A value that (through the logits' own steps) comes from a matmul: which operand of an
 * add or select is the logits. */
static bool reaches_matmul(const Graph *g, int32_t v, int depth)
{
    const Node *n = ir_def(g, v);
    if (n->op == OP_MATMUL)
        return true;
    if (depth == 0 || !(is_swap(n) || n->op == OP_MUL || n->op == OP_DIV || n->op == OP_ADD || n->op == OP_SELECT))
        return false;
    for (int32_t i = 0; i < n->nin; i++)
        if (ir_def(g, n->in[i])->op != OP_CONST && reaches_matmul(g, n->in[i], depth - 1))
            return true;
    return false;
}

/* ---- the walks ---- */

/* Through swapping transposes and (when `scales`) scalar mul/div, whatever their uses. */
static int32_t peel(const Graph *g, int32_t v, bool *t, double *scale, bool scales)
{
    for (int i = 0; i < MAX_WALK; i++) {
        const Node *n = ir_def(g, v);
        int32_t x;
        double f;
        if (is_swap(n)) {
            *t = !*t;
            v = n->in[0];
        } else if (scales && scaling(g, n, &x, &f)) {
            *scale *= f;
            v = x;
        } else {
            break;
        }
    }
    return v;
}

/* The logits y (logical = transpose^par(y)) up to the q·kᵀ matmul; fills m's q, k, mask,
 * scale. Recursive at an add whose two operands both come from matmuls. */
static bool walk_logits(Matcher *c, int32_t y, bool par, bool seen_scale, int depth)
{
    const Graph *g = c->g;
    char b1[300];
    for (; depth < MAX_WALK; depth++) {
        int32_t node = g->values[y].node;
        const Node *n = &g->nodes[node];
        if (c->uses[y] != 1)
            return whyf(c, "the logits (%s) have %d uses; the fused op would not compute them for the others",
                        where(g, node, b1, sizeof b1), c->uses[y]);
        if (n->op == OP_MATMUL) {
            if (!push(c, node))
                return false;
            bool ta = n->attr.matmul.transpose_a, tb = n->attr.matmul.transpose_b;
            if (!par) { /* L = A' @ B': q = A', k = B'ᵀ */
                c->m.q = n->in[0], c->m.tq = ta;
                c->m.k = n->in[1], c->m.tk = !tb;
            } else { /* L = (A' @ B')ᵀ = B'ᵀ @ A'ᵀ: q = B'ᵀ, k = A' */
                c->m.q = n->in[1], c->m.tq = !tb;
                c->m.k = n->in[0], c->m.tk = ta;
            }
            return true;
        }
        int32_t x;
        double f;
        if (is_swap(n)) {
            par = !par;
            y = n->in[0];
        } else if (scaling(g, n, &x, &f)) {
            c->m.scale *= f;
            seen_scale = true;
            y = x;
        } else if (n->op == OP_ADD || n->op == OP_SELECT) {
            if (c->m.mask >= 0)
                return whyf(c, "more than one mask (%s)", where(g, node, b1, sizeof b1));
            if (seen_scale)
                return whyf(c, "a scale is applied after the mask (%s)", where(g, node, b1, sizeof b1));
            const Shape *os = &ir_type(g, n->out)->shape;
            int first = n->op == OP_ADD ? 0 : 1, last = n->op == OP_ADD ? 1 : 2;
            bool tried = false;
            for (int side = first; side <= last; side++) {
                int32_t l = n->in[side], mk = n->op == OP_ADD ? n->in[first + last - side] : n->in[0];
                if (!reaches_matmul(g, l, MAX_WALK))
                    continue;
                if (!shape_eq(&ir_type(g, l)->shape, os))
                    return whyf(c, "the mask of %s broadcasts the logits to a larger shape",
                                where(g, node, b1, sizeof b1));
                Match saved = c->m;
                if (n->op == OP_SELECT) {
                    double fill;
                    int32_t fv = n->in[first + last - side];
                    DType dt = ir_type(g, n->out)->dt;
                    if (!scalar_const(g, fv, &fill) || dtype_round(dt, fill) != finfo_min(dt))
                        return whyf(c, "the masked logits (%s) are not filled with the dtype's most negative "
                                    "finite value (finfo.min; -inf or -1e9 change fully masked rows)",
                                    where(g, node, b1, sizeof b1));
                    c->m.mask_kind = MASK_KEEP;
                    c->m.not_mask = side == 2;
                } else {
                    c->m.mask_kind = MASK_ADD;
                }
                c->m.mask = mk;
                c->m.tmask = par;
                if (push(c, node) && walk_logits(c, l, par, false, depth + 1))
                    return true;
                c->m = saved;
                tried = true;
            }
            if (!tried)
                return whyf(c, "%s in the logits does not come from a matmul", where(g, node, b1, sizeof b1));
            return false;
        } else if (n->op == OP_MUL || n->op == OP_DIV) {
            return whyf(c, "the logits are scaled by %s, whose factor is not a scalar constant",
                        where(g, node, b1, sizeof b1));
        } else {
            return whyf(c, "the logits come from %s, not from a matmul q·kᵀ", where(g, node, b1, sizeof b1));
        }
        if (!push(c, node))
            return false;
    }
    return whyf(c, "the logits are more than %d steps from a matmul", MAX_WALK);
}

/* Matches the attention around softmax node `si`; false with the reason in c->why. */
static bool match(Matcher *c, int32_t si)
{
    const Graph *g = c->g;
    const Node *s = &g->nodes[si];
    char b1[300], b2[300];
    memset(&c->m, 0, sizeof c->m);
    c->m.mask = -1;
    c->m.scale = 1;
    int32_t x = s->out, r = ir_type(g, x)->shape.rank, ax;
    if (!axis_norm(s->attr.axis.axis, r, &ax) || r < 2 || (ax != r - 1 && ax != r - 2))
        return whyf(c, "softmax over axis %d of a rank-%d value, not one of the last two (the keys)", (int)ax, r);
    bool par = ax == r - 2; /* P (keys last) = transpose^par(x) */
    if (!push(c, si))
        return false;

    /* down: to the matmul with V */
    int32_t val = x, u = -1;
    for (int i = 0;; i++) {
        if (c->uses[val] != 1 || c->user[val] < 0)
            return whyf(c, "the attention weights (%s) have %d uses%s", where(g, g->values[val].node, b1, sizeof b1),
                        c->uses[val], c->user[val] < 0 ? " (a graph output)" : "");
        u = c->user[val];
        if (!is_swap(&g->nodes[u]) || i == MAX_WALK)
            break;
        if (!push(c, u))
            return false;
        par = !par;
        val = g->nodes[u].out;
    }
    const Node *mm = &g->nodes[u];
    if (mm->op != OP_MATMUL)
        return whyf(c, "the attention weights feed %s, not a matmul with v", where(g, u, b1, sizeof b1));
    bool ta = mm->attr.matmul.transpose_a, tb = mm->attr.matmul.transpose_b;
    /* A' = transpose^ta(val) must be P; or B' = transpose^tb(val) must be Pᵀ: out = (P @ A'ᵀ)ᵀ */
    bool left = mm->in[0] == val;
    if (left ? ta != par : tb == par)
        return whyf(c, "%s contracts the attention weights over the queries, not the keys", where(g, u, b1, sizeof b1));
    if (left) {
        c->m.v = mm->in[1], c->m.tv = tb, c->m.out_t = false;
    } else {
        c->m.v = mm->in[0], c->m.tv = !ta, c->m.out_t = true;
    }
    if (!push(c, u))
        return false;
    c->m.root = u;
    if (c->m.out_t && c->uses[mm->out] == 1 && c->user[mm->out] >= 0 && is_swap(&g->nodes[c->user[mm->out]])) {
        c->m.root = c->user[mm->out];
        c->m.out_t = false;
        if (!push(c, c->m.root))
            return false;
    }

    /* up: the logits */
    if (!walk_logits(c, s->in[0], ax == r - 2, false, 0))
        return false;

    /* the operands */
    c->m.q = peel(g, c->m.q, &c->m.tq, &c->m.scale, true);
    c->m.k = peel(g, c->m.k, &c->m.tk, &c->m.scale, true);
    c->m.v = peel(g, c->m.v, &c->m.tv, NULL, false);
    if (c->m.mask >= 0)
        c->m.mask = peel(g, c->m.mask, &c->m.tmask, NULL, false);
    if (!isfinite(c->m.scale))
        return whyf(c, "the scale is not finite");
    for (int i = 0; i < c->m.nchain; i++)
        for (int j = 0; j < i; j++)
            if (c->m.chain[i] == c->m.chain[j])
                return whyf(c, "%s appears twice in the pattern", where(g, c->m.chain[i], b2, sizeof b2));
    return true;
}

/* ---- uses ---- */

static bool use_maps(const Graph *g, int32_t **uses, int32_t **user)
{
    *uses = ir_use_counts(g);
    *user = ir_malloc((size_t)(g->nvalues ? g->nvalues : 1) * sizeof **user);
    if (!*uses || !*user) {
        ir_free(*uses);
        ir_free(*user);
        return false;
    }
    for (int32_t v = 0; v < g->nvalues; v++)
        (*user)[v] = -1;
    for (int32_t i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead)
            for (int32_t j = 0; j < g->nodes[i].nin; j++)
                (*user)[g->nodes[i].in[j]] = i;
    return true;
}

/* ---- rewriting ---- */

typedef struct {
    Graph *g;
    const PassOptions *o;
    bool stop;
    int32_t *pairs; /* replaced value, replacement */
    int32_t npairs;
} Fuse;

static int32_t build(Fuse *f, Op op, const int32_t *in, int32_t nin, const Attr *a, Loc loc)
{
    IrError err = {{0}};
    int32_t v = ir_build(f->g, op, in, nin, a, NULL, loc, &err);
    if (v < 0) {
        if (strcmp(err.msg, "out of memory") != 0)
            PASS_ICE(f->o, "attention-fusion built an invalid '%s' node: %s", ir_ops[op].name, err.msg);
        f->stop = true;
    }
    return v;
}

/* transpose(v) over the last two axes (rank ≥ 2: a reshape adds leading 1s first) */
static int32_t swapped(Fuse *f, int32_t v, Loc loc)
{
    const Type *t = ir_type(f->g, v);
    if (t->shape.rank < 2) {
        Attr ra;
        attr_set_defaults(ATTR_SHAPE, &ra);
        ra.shape.shape.rank = 2;
        ra.shape.shape.d[0] = dim_const(1);
        ra.shape.shape.d[1] = t->shape.rank == 1 ? t->shape.d[0] : dim_const(1);
        if ((v = build(f, OP_RESHAPE, &v, 1, &ra, loc)) < 0)
            return -1;
        t = ir_type(f->g, v);
    }
    int64_t perm[IR_MAX_RANK];
    int r = t->shape.rank;
    for (int i = 0; i < r; i++)
        perm[i] = i;
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    Attr pa;
    attr_set_defaults(ATTR_PERM, &pa);
    pa.perm.perm = (IntList){r, perm};
    return build(f, OP_TRANSPOSE, &v, 1, &pa, loc);
}

/* Builds the op of match m; the replacement of the root's result, or -1. */
static int32_t rewrite(Fuse *f, const Match *m)
{
    Graph *g = f->g;
    const Node *root = &g->nodes[m->root];
    Loc loc = root->loc;
    int32_t in[4] = {m->q, m->k, m->v, m->mask};
    bool t[4] = {m->tq, m->tk, m->tv, m->tmask};
    int nin = m->mask >= 0 ? 4 : 3;
    if (m->mask >= 0 && m->not_mask && (in[3] = build(f, OP_NOT, &in[3], 1, NULL, loc)) < 0)
        return -1;
    for (int i = 0; i < nin; i++)
        if (t[i] && (in[i] = swapped(f, in[i], loc)) < 0)
            return -1;
    Attr a;
    attr_set_defaults(ATTR_ATTN, &a);
    a.attn.scale = m->scale;
    a.attn.mask = m->mask_kind;
    int32_t r = build(f, OP_ATTENTION, in, nin, &a, loc);
    if (r >= 0 && m->out_t)
        r = swapped(f, r, loc);
    if (r >= 0 && !type_eq(ir_type(g, r), ir_type(g, g->nodes[m->root].out))) {
        PASS_ICE(f->o, "attention-fusion: the fused op's type differs from the result it replaces");
        f->stop = true;
        return -1;
    }
    return r;
}

/* One sweep over the softmaxes; true when something was fused. */
static bool sweep(Fuse *f)
{
    Graph *g = f->g;
    int32_t *uses, *user, n0 = g->nnodes;
    if (!use_maps(g, &uses, &user)) {
        f->stop = true;
        return false;
    }
    char *claimed = ir_calloc((size_t)n0 + 1, sizeof *claimed); /* 1: in a chain, 2: a root */
    f->pairs = ir_malloc((size_t)(2 * n0 + 2) * sizeof *f->pairs);
    f->npairs = 0;
    Matcher c = {.g = g, .uses = uses, .user = user};
    if (!claimed || !f->pairs)
        f->stop = true;
    for (int32_t i = 0; i < n0 && !f->stop; i++) {
        if (g->nodes[i].op != OP_SOFTMAX || g->nodes[i].dead || !match(&c, i))
            continue;
        bool clash = false; /* a node of another match this sweep: the next sweep sees it */
        for (int j = 0; j < c.m.nchain; j++)
            clash |= claimed[c.m.chain[j]];
        int32_t ops[4] = {c.m.q, c.m.k, c.m.v, c.m.mask};
        for (int j = 0; j < 4; j++) /* a replaced root's result is redirected: fine */
            clash |= ops[j] >= 0 && claimed[g->values[ops[j]].node] == 1;
        if (clash)
            continue;
        int32_t r = rewrite(f, &c.m);
        if (r < 0)
            break;
        for (int j = 0; j < c.m.nchain; j++)
            claimed[c.m.chain[j]] = c.m.chain[j] == c.m.root ? 2 : 1;
        f->pairs[2 * f->npairs] = g->nodes[c.m.root].out;
        f->pairs[2 * f->npairs + 1] = r;
        f->npairs++;
    }
    bool changed = f->npairs > 0;
    for (int32_t p = 0; p < f->npairs; p++)
        ir_replace_uses(g, f->pairs[2 * p], f->pairs[2 * p + 1]);
    for (int32_t i = 0; i < n0 && claimed; i++)
        if (claimed[i])
            g->nodes[i].dead = true;
    dce_after_rewrite(g, n0);
    bool saved_dead_ok = ir_compact(g);
    if (!saved_dead_ok) {
        /* out of memory: undo the redirections; every node lives again (the new ones unused) */
        for (int32_t p = 0; p < f->npairs; p++)
            ir_replace_uses(g, f->pairs[2 * p + 1], f->pairs[2 * p]);
        for (int32_t i = 0; i < g->nnodes; i++)
            g->nodes[i].dead = false;
        f->stop = true;
    }
    ir_free(claimed);
    ir_free(f->pairs);
    f->pairs = NULL;
    ir_free(uses);
    ir_free(user);
    return changed && saved_dead_ok;
}

bool pass_fuse_attention(Graph *g, const PassOptions *o)
{
    Fuse f = {.g = g, .o = o};
    bool changed = false;
    for (int s = 0;; s++) {
        if (s == MAX_SWEEPS) {
            PASS_ICE(o, "attention-fusion: still fusing after %d sweeps", MAX_SWEEPS);
            break;
        }
        bool ch = sweep(&f);
        changed |= ch;
        if (!ch || f.stop)
            break;
    }
    return changed;
}

/* ---- diagnosis ---- */

/* A softmax between matmuls: a matmul within `depth` steps downstream of v. */
static bool feeds_matmul(const Graph *g, const int32_t *uses, int32_t v, int depth)
{
    if (depth < 0)
        return false;
    (void)uses;
    for (int32_t i = g->values[v].node + 1; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        bool uses_v = false;
        for (int32_t j = 0; j < n->nin; j++)
            uses_v |= n->in[j] == v;
        if (!uses_v || n->dead)
            continue;
        if (n->op == OP_MATMUL || (n->nout == 1 && feeds_matmul(g, uses, n->out, depth - 1)))
            return true;
    }
    return false;
}

static bool fed_by_matmul(const Graph *g, int32_t v, int depth)
{
    const Node *n = ir_def(g, v);
    if (n->op == OP_MATMUL)
        return true;
    for (int32_t j = 0; depth > 0 && j < n->nin; j++)
        if (fed_by_matmul(g, n->in[j], depth - 1))
            return true;
    return false;
}

int attention_unfused(const Graph *g, AttentionMiss *out, int max)
{
    int32_t *uses, *user;
    int count = 0;
    if (!use_maps(g, &uses, &user))
        return -1;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_SOFTMAX || !fed_by_matmul(g, n->in[0], 4) || !feeds_matmul(g, uses, n->out, 3))
            continue;
        AttentionMiss miss = {.node = i};
        Matcher c = {.g = g, .uses = uses, .user = user, .why = miss.reason, .nwhy = sizeof miss.reason};
        if (match(&c, i))
            snprintf(miss.reason, sizeof miss.reason, "it matches: the attention-fusion pass (-O1 and up) fuses it");
        if (count < max)
            out[count] = miss;
        count++;
    }
    ir_free(uses);
    ir_free(user);
    return count;
}
