/* packing_mask_elim.c — the packing-mask-elimination pass (NaViT, docs/NAVIT.md).
 *
 * A packed sequence's attention masks and pooling masks are built, as the reference code
 * builds them, from the segment ids `seg` (the input of role pack = seg: the image of each
 * token, -1 on padding). This pass proves that a mask is exactly one of
 *
 *   segment  allow(q, k) ⇔ seg[q] = seg[k] ∧ seg[k] ≥ 0     (T×T: self-attention)
 *   slot     allow(j, k) ⇔ seg[k] = j                        (S×T: MAP pooling, j < S)
 *
 * and replaces what uses it by the segment-aware forms, which never build the mask and
 * cost Σ nᵢ² (nᵢ the tokens of image i) instead of T²:
 *
 *   attention(q, k, v, M) {mask = keep}  =>  attention(q, k, v, seg) {mask = segment | slot}
 *   div(matmul(cast(S), x), reduce_sum(cast(S), [1], keepdims))  =>  segment_reduce(x, seg)
 *        (masked mean, S a slot mask [S, T], x [T, D]; optionally maximum(count, c ≤ 1))
 *
 * The mask is matched as a tree of `and`s whose leaves are, in any order and operand order:
 *   seg_q == seg_k            the same segment (each side seg, through reshapes, broadcasts,
 *                             transposes and integer casts, laid along the query axis (−2)
 *                             and the key axis (−1) of the mask)
 *   seg_k >= 0                not padding (also seg_k > −1, seg_k != −1, 0 <= seg_k)
 *   seg_q >= 0                (implied by the two above; accepted)
 *   seg_k == iota_q           slot: an iota (or constant 0, 1, ...) along the query axis
 * and a reshape or broadcast that keeps the last two axes. Anything else — a missing
 * padding term, an extra term, a mask not made of segment ids — is left, and when the
 * mask involves seg, packing_masks_left() says why (`vitc dump --stats`).
 *
 * Preconditions: the contract of packed inputs (docs/NAVIT.md: contiguous segments,
 * padding last). Postconditions: the replaced attentions and pooling and every node only
 * they used (the masks) are gone; values differ only on padding rows and empty slots
 * (0 here, unspecified before), never read. Idempotent (keep masks only).
 *
 *   %m = and(eq(%sq, %sk), ge(%sk, 0)) : bool[64,64]
 *   %a = attention(%q, %k, %v, %m) {mask = keep}   =>   %a = attention(%q, %k, %v, %seg) {mask = segment}
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "passes.h"

enum { MAX_DEPTH = 24, MAX_TERMS = 16 };

/* ---- segment ids through data movement ---- */

/* value v is seg (the input node `seg`) laid along axis `axis` of v (rank `rank`), every
 * other axis of size 1 or broadcast */
typedef struct {
    int32_t seg; /* the seg input's value */
    int axis, rank;
} SegRef;

static bool seg_ref(const Graph *g, int32_t v, SegRef *r, int depth)
{
    const Node *n = ir_def(g, v);
    const Type *t = ir_type(g, v);
    if (depth > MAX_DEPTH)
        return false;
    if (n->op == OP_INPUT) {
        if (n->attr.input.pack != PACK_SEG)
            return false;
        *r = (SegRef){v, 0, 1};
        return true;
    }
    if (n->op == OP_CAST) {
        DType to = t->dt;
        return to != DT_BOOL && to != DT_F16 && to != DT_BF16 && seg_ref(g, n->in[0], r, depth + 1);
    }
    if (n->op != OP_RESHAPE && n->op != OP_BROADCAST && n->op != OP_TRANSPOSE)
        return false;
    SegRef in;
    if (!seg_ref(g, n->in[0], &in, depth + 1))
        return false;
    const Shape *is = &ir_type(g, n->in[0])->shape;
    Dim T = is->d[in.axis];
    if (n->op == OP_TRANSPOSE) {
        for (int i = 0; i < t->shape.rank; i++)
            if (n->attr.perm.perm.v[i] == in.axis) {
                *r = (SegRef){in.seg, i, t->shape.rank};
                return true;
            }
        return false;
    }
    if (n->op == OP_BROADCAST) { /* numpy: right-aligned */
        *r = (SegRef){in.seg, in.axis + t->shape.rank - is->rank, t->shape.rank};
        return true;
    }
    /* reshape: only 1s may come or go; the operand has 1s but on its seg axis */
    for (int i = 0; i < is->rank; i++)
        if (i != in.axis && !(dim_is_const(is->d[i]) && is->d[i].n == 1))
            return false;
    int found = -1;
    for (int i = 0; i < t->shape.rank; i++) {
        Dim d = t->shape.d[i];
        if (dim_is_const(d) && d.n == 1)
            continue;
        if (found >= 0 || !dim_eq(d, T))
            return false;
        found = i;
    }
    if (found < 0)
        return false;
    *r = (SegRef){in.seg, found, t->shape.rank};
    return true;
}

/* the axis of v counted from its end (−1 the last), as a mask right-aligned to the logits */
static int from_end(const SegRef *r) { return r->axis - r->rank; }

/* v holds 0, 1, 2, ... along its axis −2 (a slot index): an iota (integer, or f32: exact),
 * or a constant */
static bool slot_index(const Graph *g, int32_t v, int64_t *count, int depth)
{
    const Node *n = ir_def(g, v);
    const Type *t = ir_type(g, v);
    int r = t->shape.rank;
    if (depth > MAX_DEPTH || r < 2 || t->dt == DT_BOOL || t->dt == DT_F16 || t->dt == DT_BF16 ||
        !shape_is_const(&t->shape))
        return false;
    for (int i = 0; i < r; i++)
        if (i != r - 2 && t->shape.d[i].n != 1)
            return false;
    *count = t->shape.d[r - 2].n;
    if (n->op == OP_IOTA) {
        int32_t ax;
        return axis_norm(n->attr.iota.axis, r, &ax) && ax == r - 2;
    }
    if (n->op == OP_CONST) {
        const FloatList *d = &n->attr.constant.data;
        if (d->n != *count && !(d->n == 1 && *count == 1))
            return false;
        for (int i = 0; i < d->n; i++)
            if (d->v[i] != i)
                return false;
        return true;
    }
    return false;
}

/* ---- the mask ---- */

typedef enum { T_SAME = 1, T_KEYVALID = 2, T_QUERYVALID = 4, T_SLOT = 8 } Term;

typedef struct {
    const Graph *g;
    int32_t seg;        /* the seg value the terms are about (-1: not yet known) */
    unsigned terms;
    int64_t slots;      /* T_SLOT: how many */
    char why[300];
    bool involves_seg;  /* some leaf reads seg */
} MaskMatch;

static bool whyf(MaskMatch *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool whyf(MaskMatch *m, const char *fmt, ...)
{
    if (!m->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->why, sizeof m->why, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool same_seg(MaskMatch *m, int32_t seg)
{
    if (m->seg >= 0 && m->seg != seg)
        return whyf(m, "it compares two different segment-id inputs");
    m->seg = seg;
    m->involves_seg = true;
    return true;
}

/* a scalar integer-valued constant */
static bool int_scalar(const Graph *g, int32_t v, double *x)
{
    const Node *n = ir_def(g, v);
    if (n->op != OP_CONST || n->attr.constant.data.n != 1)
        return false;
    *x = n->attr.constant.data.v[0];
    return true;
}

/* Does the tree under v read seg (for the report)? */
static bool reads_seg(const Graph *g, int32_t v, int depth)
{
    const Node *n = ir_def(g, v);
    if (n->op == OP_INPUT)
        return n->attr.input.pack == PACK_SEG;
    if (depth > MAX_DEPTH)
        return false;
    for (int32_t i = 0; i < n->nin; i++)
        if (reads_seg(g, n->in[i], depth + 1))
            return true;
    return false;
}

static const char *where(const Graph *g, int32_t v, char *buf, size_t n)
{
    const Node *d = ir_def(g, v);
    snprintf(buf, n, "'%s' %%%d", ir_ops[d->op].name, v);
    return buf;
}

/* One leaf of the and-tree: a comparison about seg. */
static bool leaf(MaskMatch *m, int32_t v)
{
    const Graph *g = m->g;
    const Node *n = ir_def(g, v);
    char w[64];
    if (n->op == OP_EQ || n->op == OP_NE || n->op == OP_GE || n->op == OP_GT || n->op == OP_LE || n->op == OP_LT) {
        SegRef a, b;
        bool sa = seg_ref(g, n->in[0], &a, 0), sb = seg_ref(g, n->in[1], &b, 0);
        if (!sa && !sb) {
            if (reads_seg(g, v, 0))
                m->involves_seg = true;
            return whyf(m, "the term %s is not a comparison of segment ids", where(g, v, w, sizeof w));
        }
        if ((sa && !same_seg(m, a.seg)) || (sb && !same_seg(m, b.seg)))
            return false;
        if (sa && sb) { /* seg_q == seg_k */
            if (n->op != OP_EQ)
                return whyf(m, "the term %s compares segment ids with '%s', not '=='", where(g, v, w, sizeof w),
                            ir_ops[n->op].name);
            int ea = from_end(&a), eb = from_end(&b);
            if (!((ea == -2 && eb == -1) || (ea == -1 && eb == -2)))
                return whyf(m, "the term %s compares segment ids along the same axis, not query with key",
                            where(g, v, w, sizeof w));
            m->terms |= T_SAME;
            return true;
        }
        SegRef s = sa ? a : b;
        int32_t other = sa ? n->in[1] : n->in[0];
        double c;
        int64_t count;
        if (n->op == OP_EQ && from_end(&s) == -1 && slot_index(g, other, &count, 0)) {
            if (count < 1) /* no slot: nothing to reduce into (segment_reduce needs one) */
                return whyf(m, "the term %s compares segment ids with an empty slot index", where(g, v, w, sizeof w));
            m->terms |= T_SLOT;
            m->slots = count;
            return true;
        }
        if (!int_scalar(g, other, &c))
            return whyf(m, "the term %s compares segment ids with something that is neither a segment id, "
                        "a slot index nor a constant", where(g, v, w, sizeof w));
        /* normalise to seg OP c */
        Op op = n->op;
        if (!sa)
            op = op == OP_GE ? OP_LE : op == OP_LE ? OP_GE : op == OP_GT ? OP_LT : op == OP_LT ? OP_GT : op;
        bool valid = (op == OP_GE && c == 0) || (op == OP_GT && c == -1) || (op == OP_NE && c == -1);
        if (!valid)
            return whyf(m, "the term %s is not the padding test seg >= 0 (seg > -1, seg != -1)",
                        where(g, v, w, sizeof w));
        int e = from_end(&s);
        if (e == -1)
            m->terms |= T_KEYVALID;
        else if (e == -2)
            m->terms |= T_QUERYVALID;
        else
            return whyf(m, "the padding test %s is along neither the query nor the key axis",
                        where(g, v, w, sizeof w));
        return true;
    }
    if (reads_seg(g, v, 0))
        m->involves_seg = true;
    return whyf(m, "the term %s is not a comparison of segment ids", where(g, v, w, sizeof w));
}

/* The and-tree under v; every leaf must be a segment term. Reshapes and broadcasts on the
 * way must keep the last two axes (the logits' query and key axes). */
static bool tree(MaskMatch *m, int32_t v, int depth)
{
    const Graph *g = m->g;
    const Node *n = ir_def(g, v);
    if (depth > MAX_DEPTH)
        return whyf(m, "the mask's expression is deeper than %d", MAX_DEPTH);
    if (n->op == OP_AND) {
        bool a = tree(m, n->in[0], depth + 1);
        bool b = tree(m, n->in[1], depth + 1); /* (both sides: involves_seg for the report) */
        return a && b;
    }
    if (n->op == OP_RESHAPE || n->op == OP_BROADCAST) {
        const Shape *is = &ir_type(g, n->in[0])->shape, *os = &ir_type(g, v)->shape;
        bool keeps = is->rank >= 2 && os->rank >= 2 && dim_eq(is->d[is->rank - 1], os->d[os->rank - 1]) &&
                     dim_eq(is->d[is->rank - 2], os->d[os->rank - 2]);
        if (n->op == OP_RESHAPE) /* only leading 1s may come or go */
            for (int i = 0; keeps && i < is->rank - 2; i++)
                keeps = dim_is_const(is->d[i]) && is->d[i].n == 1;
        if (!keeps) {
            if (reads_seg(g, v, 0))
                m->involves_seg = true;
            char w[64];
            return whyf(m, "%s moves the mask's query or key axis", where(g, v, w, sizeof w));
        }
        return tree(m, n->in[0], depth + 1);
    }
    return leaf(m, v);
}

/* The kind (MASK_SEGMENT, MASK_SLOT) the mask M of an attention with nq queries and nk keys
 * is, or MASK_KEEP with m->why. */
static int classify(MaskMatch *m, int32_t mask, Dim nq, Dim nk)
{
    m->seg = -1;
    m->terms = 0;
    m->why[0] = 0;
    m->involves_seg = false;
    if (!tree(m, mask, 0))
        return MASK_KEEP;
    Dim T = ir_type(m->g, m->seg)->shape.d[0];
    if (!dim_eq(nk, T))
        return whyf(m, "the keys are not the packed sequence's tokens"), MASK_KEEP;
    if (m->terms & T_SLOT) {
        if (m->terms & (T_SAME | T_QUERYVALID))
            return whyf(m, "it mixes a slot index with a test of the queries' segment ids"), MASK_KEEP;
        if (!dim_is_const(nq) || nq.n != m->slots)
            return whyf(m, "the slot index counts %lld slots for other than the queries", (long long)m->slots),
                   MASK_KEEP;
        return MASK_SLOT;
    }
    if (!(m->terms & T_SAME))
        return whyf(m, "it has no same-segment term (seg[q] == seg[k])"), MASK_KEEP;
    if (!(m->terms & T_KEYVALID))
        return whyf(m, "it lacks the padding term seg[k] >= 0 (padding queries would see padding keys)"), MASK_KEEP;
    if (!dim_eq(nq, T))
        return whyf(m, "the queries are not the packed sequence's tokens"), MASK_KEEP;
    return MASK_SEGMENT;
}

/* ---- the masked mean (GAP) ---- */

/* a slot mask as a float: cast(bool slot mask [S, T]) */
static bool float_slot_mask(MaskMatch *m, int32_t v, int64_t *slots)
{
    const Node *n = ir_def(m->g, v);
    const Type *t = ir_type(m->g, v);
    if (n->op != OP_CAST || !dtype_is_float(t->dt) || t->shape.rank != 2)
        return whyf(m, "the weights of the mean are not a cast of a slot mask");
    if (classify(m, n->in[0], t->shape.d[0], t->shape.d[1]) != MASK_SLOT)
        return false;
    *slots = m->slots;
    return true;
}

/* div(matmul(W, x), den): W a float slot mask [S, T], x [T, D], den = reduce_sum(W', [1],
 * keepdims) of an equal slot mask, or maximum of it and a constant in (0, 1]. Fills x. */
static bool masked_mean(MaskMatch *m, const Node *div, int32_t *x)
{
    const Graph *g = m->g;
    const Node *mm = ir_def(g, div->in[0]), *den = ir_def(g, div->in[1]);
    m->why[0] = 0;
    if (mm->op != OP_MATMUL || mm->attr.matmul.transpose_a || mm->attr.matmul.transpose_b)
        return whyf(m, "the numerator is not a plain matmul of the slot mask and the tokens");
    if (ir_type(g, mm->in[1])->shape.rank != 2 || ir_type(g, mm->in[0])->shape.rank != 2)
        return whyf(m, "the mean is not over a [T, D] sequence");
    int64_t s1, s2;
    if (!float_slot_mask(m, mm->in[0], &s1))
        return false;
    int32_t seg = m->seg;
    if (den->op == OP_MAX) {
        double c;
        int32_t keep = int_scalar(g, den->in[1], &c) ? den->in[0] : int_scalar(g, den->in[0], &c) ? den->in[1] : -1;
        if (keep < 0 || !(c > 0 && c <= 1))
            return whyf(m, "the count is clamped by other than a constant in (0, 1]");
        den = ir_def(g, keep);
    }
    if (den->op != OP_REDUCE_SUM || !den->attr.reduce.keepdims || den->attr.reduce.axes.n != 1 ||
        !(den->attr.reduce.axes.v[0] == 1 || den->attr.reduce.axes.v[0] == -1))
        return whyf(m, "the denominator is not the count of each slot's tokens (reduce_sum over the tokens, keepdims)");
    if (den->in[0] != mm->in[0]) {
        if (!float_slot_mask(m, den->in[0], &s2))
            return false;
        if (s2 != s1 || m->seg != seg)
            return whyf(m, "the count is of another slot mask");
    }
    *x = mm->in[1];
    m->seg = seg;
    return true;
}

/* ---- the pass ---- */

typedef struct {
    Graph *g;
    const PassOptions *o;
    bool stop;
} Elim;

static int32_t build(Elim *e, Op op, const int32_t *in, int32_t nin, const Attr *a, Loc loc)
{
    IrError err = {{0}};
    int32_t v = ir_build(e->g, op, in, nin, a, NULL, loc, &err);
    if (v < 0) {
        if (strcmp(err.msg, "out of memory") != 0)
            PASS_ICE(e->o, "packing-mask-elimination built an invalid '%s' node: %s", ir_ops[op].name, err.msg);
        e->stop = true;
    }
    return v;
}

bool pass_packing_mask_elim(Graph *g, const PassOptions *o)
{
    Elim e = {.g = g, .o = o};
    int32_t n0 = g->nnodes, npairs = 0;
    int32_t *pairs = ir_malloc((size_t)(2 * n0 + 2) * sizeof *pairs);
    if (!pairs)
        return false;
    MaskMatch m = {.g = g};
    for (int32_t i = 0; i < n0 && !e.stop; i++) {
        const Node *n = &g->nodes[i];
        int32_t r = -1;
        if (n->op == OP_ATTENTION && n->attr.attn.mask == MASK_KEEP) {
            const Type *q = ir_type(g, n->in[0]), *k = ir_type(g, n->in[1]);
            int kind = classify(&m, n->in[3], q->shape.d[q->shape.rank - 2], k->shape.d[k->shape.rank - 2]);
            if (kind == MASK_KEEP)
                continue;
            Attr a = n->attr;
            a.attn.mask = kind;
            int32_t in[4] = {n->in[0], n->in[1], n->in[2], m.seg};
            r = build(&e, OP_ATTENTION, in, 4, &a, n->loc);
        } else if (n->op == OP_DIV) {
            int32_t x;
            if (!masked_mean(&m, n, &x))
                continue;
            Attr a;
            attr_set_defaults(ATTR_SEGRED, &a);
            a.segred.segments = m.slots;
            a.segred.reduce = SEGRED_MEAN;
            int32_t in[2] = {x, m.seg};
            r = build(&e, OP_SEGMENT_REDUCE, in, 2, &a, n->loc);
        } else {
            continue;
        }
        n = &g->nodes[i]; /* (ir_build may have moved the nodes) */
        if (r < 0)
            break;
        if (!type_eq(ir_type(g, r), ir_type(g, n->out))) {
            PASS_ICE(o, "packing-mask-elimination: the new '%s' has another type than the node it replaces",
                     ir_ops[ir_def(g, r)->op].name);
            e.stop = true;
            break;
        }
        pairs[2 * npairs] = n->out;
        pairs[2 * npairs + 1] = r;
        npairs++;
    }
    for (int32_t p = 0; p < npairs; p++) {
        ir_replace_uses(g, pairs[2 * p], pairs[2 * p + 1]);
        g->nodes[g->values[pairs[2 * p]].node].dead = true;
    }
    if (npairs)
        dce_after_rewrite(g, n0);
    bool ok = ir_compact(g);
    if (!ok) { /* out of memory: undo; every node lives again (the new ones unused) */
        for (int32_t p = 0; p < npairs; p++)
            ir_replace_uses(g, pairs[2 * p + 1], pairs[2 * p]);
        for (int32_t i = 0; i < g->nnodes; i++)
            g->nodes[i].dead = false;
    }
    ir_free(pairs);
    return ok && npairs > 0;
}

/* ---- the report ---- */

int packing_masks_left(const Graph *g, PackingReport *r, PackingMiss *out, int max)
{
    memset(r, 0, sizeof *r);
    MaskMatch m = {.g = g};
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *nd = &g->nodes[i];
        if (nd->op == OP_INPUT && nd->attr.input.pack == PACK_SEG)
            r->packed = true;
        if (nd->op == OP_ATTENTION && (nd->attr.attn.mask == MASK_SEGMENT || nd->attr.attn.mask == MASK_SLOT))
            r->attentions++;
        if (nd->op == OP_SEGMENT_REDUCE)
            r->poolings++;
        bool miss = false;
        if (nd->op == OP_ATTENTION && nd->attr.attn.mask == MASK_KEEP) {
            const Type *q = ir_type(g, nd->in[0]), *k = ir_type(g, nd->in[1]);
            int kind = classify(&m, nd->in[3], q->shape.d[q->shape.rank - 2], k->shape.d[k->shape.rank - 2]);
            miss = kind == MASK_KEEP && m.involves_seg;
            if (kind != MASK_KEEP)
                snprintf(m.why, sizeof m.why, "it matches: the packing-mask-elimination pass (-O1 and up) rewrites it");
            miss |= kind != MASK_KEEP;
        } else if (nd->op == OP_SOFTMAX || nd->op == OP_SELECT) {
            /* an unfused masked softmax reading seg: attention-fusion reports it */
        } else if (nd->op == OP_DIV && nd->nin == 2) {
            int32_t x;
            const Node *num = ir_def(g, nd->in[0]);
            if (num->op == OP_MATMUL && reads_seg(g, num->in[0], 0)) {
                miss = true;
                if (masked_mean(&m, nd, &x))
                    snprintf(m.why, sizeof m.why, "it matches: the packing-mask-elimination pass (-O1 and up) rewrites it");
            }
        }
        if (!miss)
            continue;
        if (n < max) {
            out[n].node = i;
            snprintf(out[n].reason, sizeof out[n].reason, "%s", m.why[0] ? m.why : "it is not a segment mask");
        }
        n++;
    }
    return n;
}
