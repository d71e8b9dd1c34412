/* index.c — indexing and slicing, with Python's rules.
 *
 * Lists: l[i], l[a:b:c] (negative indices count from the end; any non-zero step).
 * Tensors: one item per axis, numpy style: an int picks one index and removes the axis,
 * a slice a:b:c (step ≥ 1) keeps it, `...` stands for as many full slices as needed,
 * `none` inserts an axis of size 1; missing trailing items are full slices. Each partial
 * slice becomes a `slice` node; removed and inserted axes become one `reshape` at the end.
 * An axis of symbolic size can only be taken whole.
 */
#include <inttypes.h>
#include <string.h>

#include "elab.h"

typedef struct {
    bool has_lo, has_hi;
    int64_t lo, hi, step;
} Slice;

/* Evaluates the bounds of a slice item; ints or none (absent). */
static bool eval_slice(Elab *e, const Expr *x, Slice *s)
{
    const Expr *parts[3] = {x->u.slice.lo, x->u.slice.hi, x->u.slice.step};
    int64_t v[3] = {0, 0, 1};
    bool has[3] = {false, false, false};
    static const char *const what[] = {"a slice's start", "a slice's end", "a slice's step"};
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        Val b = eval(e, parts[i]);
        if (b.k == V_NONE)
            continue;
        if (!want_int(e, b, parts[i]->loc, what[i], &v[i]))
            return false;
        has[i] = true;
    }
    if (v[2] == 0) {
        elab_error(e, x->u.slice.step->loc, "a slice's step cannot be zero");
        return false;
    }
    *s = (Slice){has[0], has[1], v[0], v[1], v[2]};
    return true;
}

/* Python's slice.indices() for a sequence of n: the first index and the count. */
static void slice_indices(const Slice *s, int64_t n, int64_t *start, int64_t *count)
{
    int64_t lo, hi;
    if (s->step > 0) {
        lo = !s->has_lo ? 0 : s->lo < 0 ? s->lo + n : s->lo;
        hi = !s->has_hi ? n : s->hi < 0 ? s->hi + n : s->hi;
        lo = lo < 0 ? 0 : lo > n ? n : lo;
        hi = hi < 0 ? 0 : hi > n ? n : hi;
        *count = hi > lo ? (hi - lo - 1) / s->step + 1 : 0;
    } else {
        lo = !s->has_lo ? n - 1 : s->lo < 0 ? s->lo + n : s->lo;
        hi = !s->has_hi ? -1 : s->hi < 0 ? s->hi + n : s->hi;
        lo = lo < -1 ? -1 : lo > n - 1 ? n - 1 : lo;
        hi = hi < -1 ? -1 : hi > n - 1 ? n - 1 : hi;
        *count = lo <= hi ? 0 : s->step == INT64_MIN ? 1 : (lo - hi - 1) / -s->step + 1;
    }
    *start = lo;
}

static bool norm_index(Elab *e, int64_t i, int64_t n, Loc loc, const char *what, int64_t *out)
{
    int64_t j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) {
        elab_error(e, loc, "index %" PRId64 " is out of range for %s of size %" PRId64, i, what, n);
        return false;
    }
    *out = j;
    return true;
}

static Val index_list(Elab *e, Val base, const Expr *x)
{
    const Expr *item = x->u.index.items;
    int64_t n = base.u.list.n;
    if (item->next || item->kind == E_ELLIPSIS) {
        elab_error(e, x->loc, "a list takes one index or slice");
        return v_poison();
    }
    if (item->kind == E_SLICE) {
        Slice s;
        int64_t start, count;
        if (!eval_slice(e, item, &s))
            return v_poison();
        slice_indices(&s, n, &start, &count);
        Val r;
        Val *v = v_list_new(e, count, x->loc, &r);
        for (int64_t k = 0; v && k < count; k++)
            v[k] = base.u.list.v[start + k * s.step];
        return r;
    }
    int64_t i;
    Val iv = eval(e, item);
    if (!want_int(e, iv, item->loc, "a list index", &i) || !norm_index(e, i, n, item->loc, "a list", &i))
        return v_poison();
    return base.u.list.v[i];
}

enum { AX_KEEP, AX_DROP, AX_NEW };

static Val index_tensor(Elab *e, Val base, const Expr *x)
{
    Shape shape = ir_type(e->g, base.u.t)->shape;
    int32_t cur = base.u.t, rank = shape.rank;
    int consume = 0, ellipses = 0, nmarks = 0;
    int marks[3 * IR_MAX_RANK + 2]; /* ≤ 15 items, one of them `...` for up to 8 axes */
    Val vals[2 * IR_MAX_RANK + 2];
    int nitems = 0;
    for (const Expr *it = x->u.index.items; it; it = it->next, nitems++) {
        if (nitems >= 2 * IR_MAX_RANK) {
            elab_error(e, it->loc, "too many indices for a tensor of rank %d", rank);
            return v_poison();
        }
        vals[nitems] = v_none();
        if (it->kind == E_ELLIPSIS) {
            ellipses++;
            continue;
        }
        if (it->kind == E_SLICE) {
            consume++;
            continue;
        }
        vals[nitems] = eval(e, it);
        if (vals[nitems].k == V_POISON)
            return vals[nitems];
        if (vals[nitems].k == V_INT)
            consume++;
        else if (vals[nitems].k != V_NONE) {
            char d[300];
            val_describe(e, vals[nitems], d, sizeof d);
            elab_error(e, it->loc, "a tensor index must be an int, a slice, '...' or none, got %s%s", d,
                       vals[nitems].k == V_TENSOR ? " (gather with take(x, indices, axis))" : "");
            return v_poison();
        }
    }
    if (ellipses > 1) {
        elab_error(e, x->loc, "an index can hold only one '...'");
        return v_poison();
    }
    if (consume > rank) {
        elab_error(e, x->loc, "too many indices (%d) for a tensor of rank %d", consume, rank);
        return v_poison();
    }
    int axis = 0, k = 0;
    for (const Expr *it = x->u.index.items; it; it = it->next, k++) {
        if (it->kind == E_ELLIPSIS) {
            for (int j = 0; j < rank - consume; j++, axis++)
                marks[nmarks++] = AX_KEEP;
            continue;
        }
        if (it->kind != E_SLICE && vals[k].k == V_NONE) {
            marks[nmarks++] = AX_NEW;
            continue;
        }
        Dim d = shape.d[axis];
        Slice s = {false, false, 0, 0, 1};
        int64_t start, count;
        if (it->kind == E_SLICE) {
            if (!eval_slice(e, it, &s))
                return v_poison();
            if (s.step < 0) {
                elab_error(e, it->loc, "tensor slices need a positive step");
                return v_poison();
            }
        } else {
            s = (Slice){true, true, vals[k].u.i, 0, 1};
        }
        bool full = !s.has_lo && !s.has_hi && s.step == 1;
        if (!dim_is_const(d) && !(full || (s.has_lo && s.lo == 0 && !s.has_hi && s.step == 1))) {
            char ds[64];
            ir_format_dim(e->g, d, ds, sizeof ds);
            elab_error(e, it->loc, "axis %d has the symbolic size %s: it can only be taken whole (':')", axis, ds);
            return v_poison();
        }
        if (it->kind != E_SLICE) {
            if (!norm_index(e, s.lo, d.n, it->loc, "an axis", &start))
                return v_poison();
            count = 1;
        } else if (dim_is_const(d)) {
            slice_indices(&s, d.n, &start, &count);
        } else {
            start = 0, count = -1;
        }
        if (dim_is_const(d) && !(start == 0 && count == d.n && (s.step == 1 || count <= 1))) {
            Attr a;
            attr_set_defaults(ATTR_SLICE, &a);
            a.slice = (SliceAttr){.axis = axis, .start = start, .stop = start + (count - 1) * s.step + 1,
                                  .step = s.step};
            if (count == 0)
                a.slice.stop = start;
            cur = build(e, OP_SLICE, &cur, 1, &a, NULL, it->loc);
            if (cur < 0)
                return v_poison();
        }
        marks[nmarks++] = it->kind == E_SLICE ? AX_KEEP : AX_DROP;
        axis++;
    }
    bool reshape = false;
    for (int i = 0; i < nmarks; i++)
        reshape |= marks[i] != AX_KEEP;
    if (!reshape)
        return v_tensor(cur);
    const Shape *cs = &ir_type(e->g, cur)->shape;
    Attr a;
    attr_set_defaults(ATTR_SHAPE, &a);
    Shape *out = &a.shape.shape;
    out->rank = 0;
    axis = 0;
    for (int i = 0; i < nmarks || axis < rank; i++) {
        int m = i < nmarks ? marks[i] : AX_KEEP;
        if (out->rank >= IR_MAX_RANK && m != AX_DROP) {
            elab_error(e, x->loc, "indexing gives a rank above %d", IR_MAX_RANK);
            return v_poison();
        }
        if (m == AX_NEW)
            out->d[out->rank++] = dim_const(1);
        else if (m == AX_KEEP)
            out->d[out->rank++] = cs->d[axis++];
        else
            axis++;
    }
    return v_tensor(build(e, OP_RESHAPE, &cur, 1, &a, NULL, x->loc));
}

Val eval_index(Elab *e, const Expr *x)
{
    Val base = eval(e, x->u.index.base);
    switch (base.k) {
    case V_POISON: return base;
    case V_LIST: return index_list(e, base, x);
    case V_TENSOR: return index_tensor(e, base, x);
    default: {
        char d[300];
        val_describe(e, base, d, sizeof d);
        elab_error(e, x->loc, "cannot index %s", d);
        return v_poison();
    }
    }
}
