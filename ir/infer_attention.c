/* infer_attention.c — the attention op: its exact semantics, shape inference and checks.
 *
 *   attention(q, k, v[, mask]) {scale = s, mask = none | keep | add}
 *
 *   q     [..., Nq, Dh]   queries        all three of one float dtype (f32, f16, bf16)
 *   k     [..., Nk, Dh]   keys
 *   v     [..., Nk, Dv]   values
 *   out   [..., Nq, Dv]   of q's dtype; "..." is the numpy broadcast of the three operands'
 *                         leading (batch) axes — heads are one of them, so multi-query
 *                         attention (k, v with 1 head) is a broadcast too
 *   mask  keep: bool, add: q's dtype; it broadcasts (numpy, right-aligned) to
 *         [..., Nq, Nk] and never enlarges it (rank ≤ the result's, every dim 1 or equal)
 *
 * For each batch index b and query i, with every sum in exact arithmetic:
 *
 *   s_j = scale · Σ_d q[b,i,d]·k[b,j,d]                          j < Nk
 *   keep: s_j = mask[b,i,j] ? s_j : finfo(dtype).min             (Flax: a fully masked row
 *                                                                  is uniform, never NaN)
 *   add:  s_j = s_j + mask[b,i,j]
 *   p_j  = e^(s_j − m) / Σ_l e^(s_l − m),  m = max_l s_l           (softmax over the keys)
 *   out[b,i,c] = Σ_j p_j · v[b,j,c]                                rounded once to the dtype
 *
 * exactly `softmax(scale · q @ kᵀ [masked], -1) @ v` with fewer roundings. Like softmax,
 * a NaN logit makes its row NaN and a row whose logits are all −∞ (an additive −∞ mask) is
 * NaN; a masked key still contributes 0 · v (a NaN in v shows, as in the unfused graph).
 * Nk = 0 gives 0. The interpreter (interp_attention.c) computes this in double; kernels
 * (plan kind KK_ATTENTION) in f32.
 *
 * Packed sequences (NaViT, docs/NAVIT.md): the fourth operand is seg, i32 [Nk], the
 * segment (image) of each key, -1 on padding, shared by every batch index and head:
 *   segment: Nq = Nk; query i sees exactly the keys j with seg[j] = seg[i] ≥ 0, and a
 *            query with seg[i] < 0 (padding) gives 0
 *   slot:    query i (an image slot) sees exactly the keys j with seg[j] = i; a slot that
 *            sees no key gives 0
 * Keys not seen are skipped, not weighted 0: nothing of them (NaN included) reaches the
 * result. On the rows a keep mask `seg[i] = seg[j] ∧ seg[j] ≥ 0` (or `seg[j] = i`) gives
 * a finite value, that value is the same; the packing-mask-elimination pass relies on it.
 */
#include <inttypes.h>
#include <math.h>

#include "ir.h"
#include "ir_internal.h"

#define FAIL(...)                                  \
    do {                                           \
        snprintf(err, errlen, __VA_ARGS__);        \
        return false;                              \
    } while (0)

static const char *const operand_names[] = {"q", "k", "v", "mask"};

/* numpy broadcasting of the leading axes into out (rank max of both) */
static bool broadcast_into(Shape *out, const Shape *x)
{
    int r = out->rank > x->rank ? out->rank : x->rank;
    Shape res = {.rank = r};
    for (int i = 0; i < r; i++) {
        int io = out->rank - r + i, ix = x->rank - r + i;
        Dim a = io >= 0 ? out->d[io] : dim_const(1), b = ix >= 0 ? x->d[ix] : dim_const(1);
        if (dim_eq(a, b) || (dim_is_const(b) && b.n == 1))
            res.d[i] = a;
        else if (dim_is_const(a) && a.n == 1)
            res.d[i] = b;
        else
            return false;
    }
    *out = res;
    return true;
}

static void shapes_text(const Graph *g, const Node *n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (int32_t i = 0; i < n->nin && i < 4 && k < len; i++) {
        char s[256];
        ir_format_shape(g, &ir_type(g, n->in[i])->shape, s, sizeof s);
        int w = snprintf(buf + k, len - k, "%s%s %s", i ? ", " : "", operand_names[i], s);
        k += w > 0 ? (size_t)w : 0;
    }
}

bool infer_attention(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const AttnAttr *a = &n->attr.attn;
    char shapes[1200];
    if (a->mask < 0 || a->mask >= MASK_COUNT)
        FAIL("'attention': invalid mask kind %d", a->mask);
    static const char *const kinds[] = {"none", "keep", "add", "segment", "slot"};
    _Static_assert(sizeof kinds / sizeof kinds[0] == MASK_COUNT, "mask kinds");
    bool seg = a->mask == MASK_SEGMENT || a->mask == MASK_SLOT;
    int want = a->mask == MASK_NONE ? 3 : 4;
    if (n->nin != want)
        FAIL("'attention' with mask = %s takes %d operands (q, k, v%s), got %d", kinds[a->mask], want,
             want == 4 ? (seg ? ", seg" : ", mask") : "", n->nin);
    if (!isfinite(a->scale))
        FAIL("'attention': the scale must be finite");
    shapes_text(g, n, shapes, sizeof shapes);
    const Type *q = ir_type(g, n->in[0]), *k = ir_type(g, n->in[1]), *v = ir_type(g, n->in[2]);
    if (!dtype_is_float(q->dt) || k->dt != q->dt || v->dt != q->dt)
        FAIL("'attention' needs q, k and v of one float dtype, got %s, %s and %s", dtype_name(q->dt),
             dtype_name(k->dt), dtype_name(v->dt));
    int rq = q->shape.rank, rk = k->shape.rank, rv = v->shape.rank;
    if (rq < 2 || rk < 2 || rv < 2)
        FAIL("'attention' needs q, k and v of rank 2 or more, got %s", shapes);
    if (!dim_eq(q->shape.d[rq - 1], k->shape.d[rk - 1]))
        FAIL("'attention': q and k have different head sizes (the last axis): %s", shapes);
    if (!dim_eq(k->shape.d[rk - 2], v->shape.d[rv - 2]))
        FAIL("'attention': k and v have different numbers of keys (the second-to-last axis): %s", shapes);
    Shape batch = {.rank = rq - 2};
    for (int i = 0; i < rq - 2; i++)
        batch.d[i] = q->shape.d[i];
    const Type *ops[2] = {k, v};
    for (int o = 0; o < 2; o++) {
        Shape b = {.rank = ops[o]->shape.rank - 2};
        for (int i = 0; i < b.rank; i++)
            b.d[i] = ops[o]->shape.d[i];
        if (!broadcast_into(&batch, &b))
            FAIL("'attention': the leading axes of q, k and v do not broadcast: %s", shapes);
    }
    if (batch.rank + 2 > IR_MAX_RANK)
        FAIL("'attention': the result would have rank %d; at most %d is supported", batch.rank + 2, IR_MAX_RANK);
    out[0].dt = q->dt;
    out[0].shape = batch;
    out[0].shape.d[out[0].shape.rank++] = q->shape.d[rq - 2];
    out[0].shape.d[out[0].shape.rank++] = v->shape.d[rv - 1];
    if (a->mask == MASK_NONE)
        return true;

    const Type *m = ir_type(g, n->in[3]);
    if (seg) { /* segment ids of the keys: i32 [Nk]; segment: the queries are the keys */
        Dim nk = k->shape.d[rk - 2];
        if (m->dt != DT_I32 || m->shape.rank != 1 || !dim_eq(m->shape.d[0], nk))
            FAIL("'attention' with mask = %s needs segment ids i32[Nk] (one per key): %s", kinds[a->mask], shapes);
        if (a->mask == MASK_SEGMENT && !dim_eq(q->shape.d[rq - 2], nk))
            FAIL("'attention' with mask = segment needs as many queries as keys (one packed sequence): %s", shapes);
        return true;
    }
    if (a->mask == MASK_KEEP && m->dt != DT_BOOL)
        FAIL("'attention' with mask = keep needs a bool mask, got %s", dtype_name(m->dt));
    if (a->mask == MASK_ADD && m->dt != q->dt)
        FAIL("'attention' with mask = add needs a mask of the dtype of q (%s), got %s", dtype_name(q->dt),
             dtype_name(m->dt));
    Shape logits = out[0].shape; /* [..., Nq, Nk] */
    logits.d[logits.rank - 1] = k->shape.d[rk - 2];
    bool fits = m->shape.rank <= logits.rank;
    for (int i = 0; fits && i < m->shape.rank; i++) {
        Dim md = m->shape.d[i], ld = logits.d[logits.rank - m->shape.rank + i];
        fits = dim_eq(md, ld) || (dim_is_const(md) && md.n == 1);
    }
    if (!fits) {
        char ls[256];
        ir_format_shape(g, &logits, ls, sizeof ls);
        FAIL("'attention': the mask does not broadcast to the logits %s: %s", ls, shapes);
    }
    return true;
}
