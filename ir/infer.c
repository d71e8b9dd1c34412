/* infer.c — shape and dtype inference, one function per op family (named by ops.def).
 *
 * Each function checks its operands and attributes and fills the result types. Messages
 * name the op and show the shapes involved; the caller adds the location. The verifier
 * reruns these on every node, so a pass that builds an ill-typed node is caught.
 */
#include <inttypes.h>
#include <string.h>

#include "ir.h"
#include "ir_internal.h"

#define FAIL(...)                                  \
    do {                                           \
        snprintf(err, errlen, __VA_ARGS__);        \
        return false;                              \
    } while (0)

static const Type *in_type(const Graph *g, const Node *n, int i) { return ir_type(g, n->in[i]); }
static const char *opname(const Node *n) { return ir_ops[n->op].name; }

static void fmt_type(const Graph *g, const Type *t, char *buf, size_t len)
{
    char s[256];
    ir_format_shape(g, &t->shape, s, sizeof s);
    snprintf(buf, len, "%s%s", dtype_name(t->dt), s);
}

/* The shape must be well formed: rank in range, constant dims ≥ 0, symbolic ones ≥ 1 and
 * naming a symbol of the graph. -1 is allowed only where `allow_infer` (reshape). */
static bool check_shape(const Graph *g, const Shape *s, bool allow_infer, const char *what,
                        char *err, size_t errlen)
{
    if (s->rank < 0)
        FAIL("%s is missing", what);
    if (s->rank > IR_MAX_RANK)
        FAIL("%s has rank %d; at most %d is supported", what, s->rank, IR_MAX_RANK);
    int ninfer = 0;
    for (int i = 0; i < s->rank; i++) {
        Dim d = s->d[i];
        if (dim_is_const(d)) {
            if (d.n == -1 && allow_infer) {
                if (++ninfer > 1)
                    FAIL("%s has more than one -1 dimension", what);
            } else if (d.n < 0) {
                FAIL("%s has a negative dimension (%" PRId64 ")", what, d.n);
            }
        } else if (d.sym >= g->nsyms || d.n < 1) {
            FAIL("%s has an invalid symbolic dimension", what);
        }
    }
    return true;
}

static bool check_type(const Graph *g, const Type *t, const char *what, char *err, size_t errlen)
{
    if ((unsigned)t->dt >= DT_COUNT)
        FAIL("%s has an invalid dtype", what);
    return check_shape(g, &t->shape, false, what, err, errlen);
}

/* numpy broadcasting of a and b into out */
static bool broadcast(const Graph *g, const Node *n, const Shape *a, const Shape *b, Shape *out,
                      char *err, size_t errlen)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        Dim da = ia >= 0 ? a->d[ia] : dim_const(1);
        Dim db = ib >= 0 ? b->d[ib] : dim_const(1);
        if (dim_eq(da, db) || (dim_is_const(db) && db.n == 1))
            out->d[i] = da;
        else if (dim_is_const(da) && da.n == 1)
            out->d[i] = db;
        else {
            char sa[256], sb[256];
            ir_format_shape(g, a, sa, sizeof sa);
            ir_format_shape(g, b, sb, sizeof sb);
            FAIL("'%s': shapes %s and %s do not broadcast", opname(n), sa, sb);
        }
    }
    return true;
}

/* ---- sources ---- */

bool infer_input(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const InputAttr *a = &n->attr.input;
    if (!a->name || !a->name[0])
        FAIL("'input' needs a name");
    if (!check_type(g, &out[0], "the input's type", err, errlen))
        return false;
    if (a->pack < 0 || a->pack >= PACK_COUNT)
        FAIL("input '%s': invalid pack role %d", a->name, a->pack);
    /* packed NaViT inputs (docs/NAVIT.md): patches f32[T, P*P*C], the others i32[T], T constant */
    const Shape *s = &out[0].shape;
    if (a->pack != PACK_PATCHES && (a->patch || a->channels || a->images))
        FAIL("input '%s': patch, channels and images belong on the pack = patches input", a->name);
    if (a->pack == PACK_NONE)
        return true;
    const char *role = attr_field_find(ATTR_INPUT, "pack", 4)->enum_names[a->pack];
    if (a->pack == PACK_PATCHES) {
        if (a->patch < 1 || a->channels < 1 || a->images < 1)
            FAIL("packed input '%s' (patches) needs patch, channels and images of at least 1", a->name);
        if (out[0].dt != DT_F32 || s->rank != 2 || !shape_is_const(s))
            FAIL("packed input '%s' (patches) must be f32[T, P*P*C] with constant dimensions", a->name);
        if (a->patch > (1 << 12) || a->channels > (1 << 12) || s->d[1].n != a->patch * a->patch * a->channels)
            FAIL("packed input '%s' (patches) has %" PRId64 " values per token, but patch = %" PRId64
                 " and channels = %" PRId64 " make %" PRId64,
                 a->name, s->d[1].n, a->patch, a->channels, a->patch * a->patch * a->channels);
        return true;
    }
    if (out[0].dt != DT_I32 || s->rank != 1 || !shape_is_const(s))
        FAIL("packed input '%s' (%s) must be i32[T] with a constant T", a->name, role);
    return true;
}

bool infer_param(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const ParamAttr *a = &n->attr.param;
    if (!a->name || !a->name[0])
        FAIL("'param' needs a name");
    if (!check_type(g, &out[0], "the parameter's type", err, errlen))
        return false;
    if (!shape_is_const(&out[0].shape))
        FAIL("parameter '%s' has a symbolic dimension; parameters have fixed shapes", a->name);
    if (a->layout.n) {
        bool seen[IR_MAX_RANK] = {0};
        if (a->layout.n != out[0].shape.rank)
            FAIL("parameter '%s': layout has %d entries for rank %d", a->name, a->layout.n,
                 out[0].shape.rank);
        for (int i = 0; i < a->layout.n; i++) {
            int64_t p = a->layout.v[i];
            if (p < 0 || p >= a->layout.n || seen[p])
                FAIL("parameter '%s': layout is not a permutation of 0..%d", a->name, a->layout.n - 1);
            seen[p] = true;
        }
    }
    if (a->init == INIT_NORMAL && !(a->std >= 0))
        FAIL("parameter '%s': std must be non-negative", a->name);
    return true;
}

bool infer_const(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    if (!check_type(g, &out[0], "the constant's type", err, errlen))
        return false;
    if (!shape_is_const(&out[0].shape))
        FAIL("a constant cannot have a symbolic dimension");
    int64_t numel = shape_numel(&out[0].shape, NULL);
    const FloatList *d = &n->attr.constant.data;
    if (d->n != numel && !(d->n == 1 && numel > 0))
        FAIL("constant has %d values for %" PRId64 " elements", d->n, numel);
    for (int i = 0; i < d->n; i++) {
        double v = d->v[i];
        if (out[0].dt == DT_BOOL && v != 0 && v != 1)
            FAIL("a bool constant holds only 0 and 1");
        /* the range check comes first: converting an out-of-range double is undefined */
        if (!dtype_is_float(out[0].dt) && !(v >= -0x1p63 && v < 0x1p63 && v == (double)(int64_t)v))
            FAIL("an integer constant holds a non-integer value");
    }
    return true;
}

bool infer_iota(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const IotaAttr *a = &n->attr.iota;
    int32_t ax;
    if (!check_shape(g, &a->shape, false, "iota's shape", err, errlen))
        return false;
    if (a->dtype == DT_BOOL || (unsigned)a->dtype >= DT_COUNT)
        FAIL("iota needs a numeric dtype");
    if (!axis_norm(a->axis, a->shape.rank, &ax))
        FAIL("iota: axis %" PRId64 " is out of range for rank %d", a->axis, a->shape.rank);
    out[0] = (Type){a->dtype, a->shape};
    return true;
}

/* ---- elementwise ---- */

bool infer_numeric(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    (void)g;
    out[0] = *in_type(g, n, 0);
    if (out[0].dt == DT_BOOL)
        FAIL("'%s' of a bool tensor", opname(n));
    return true;
}

bool infer_float(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    out[0] = *in_type(g, n, 0);
    if (!dtype_is_float(out[0].dt))
        FAIL("'%s' needs a floating-point operand, got %s", opname(n), dtype_name(out[0].dt));
    return true;
}

bool infer_bool(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    out[0] = *in_type(g, n, 0);
    if (out[0].dt != DT_BOOL)
        FAIL("'%s' needs a bool operand, got %s", opname(n), dtype_name(out[0].dt));
    return true;
}

bool infer_cast(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    if ((unsigned)n->attr.cast.to >= DT_COUNT)
        FAIL("cast to an invalid dtype");
    out[0] = (Type){n->attr.cast.to, in_type(g, n, 0)->shape};
    return true;
}

static bool same_dtype(const Graph *g, const Node *n, int count, char *err, size_t errlen)
{
    DType dt = in_type(g, n, n->nin - count)->dt;
    for (int i = n->nin - count + 1; i < n->nin; i++)
        if (in_type(g, n, i)->dt != dt) {
            char a[300], b[300];
            fmt_type(g, in_type(g, n, n->nin - count), a, sizeof a);
            fmt_type(g, in_type(g, n, i), b, sizeof b);
            FAIL("'%s': operand dtypes differ (%s and %s)", opname(n), a, b);
        }
    return true;
}

bool infer_binary(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    if (!same_dtype(g, n, 2, err, errlen))
        return false;
    if (in_type(g, n, 0)->dt == DT_BOOL)
        FAIL("'%s' of bool tensors", opname(n));
    out[0].dt = in_type(g, n, 0)->dt;
    return broadcast(g, n, &in_type(g, n, 0)->shape, &in_type(g, n, 1)->shape, &out[0].shape, err, errlen);
}

bool infer_compare(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    if (!same_dtype(g, n, 2, err, errlen))
        return false;
    out[0].dt = DT_BOOL;
    return broadcast(g, n, &in_type(g, n, 0)->shape, &in_type(g, n, 1)->shape, &out[0].shape, err, errlen);
}

bool infer_logical(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    if (in_type(g, n, 0)->dt != DT_BOOL || in_type(g, n, 1)->dt != DT_BOOL)
        FAIL("'%s' needs bool operands", opname(n));
    out[0].dt = DT_BOOL;
    return broadcast(g, n, &in_type(g, n, 0)->shape, &in_type(g, n, 1)->shape, &out[0].shape, err, errlen);
}

bool infer_select(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    if (in_type(g, n, 0)->dt != DT_BOOL)
        FAIL("'select' needs a bool condition, got %s", dtype_name(in_type(g, n, 0)->dt));
    if (!same_dtype(g, n, 2, err, errlen))
        return false;
    Shape ab;
    if (!broadcast(g, n, &in_type(g, n, 1)->shape, &in_type(g, n, 2)->shape, &ab, err, errlen))
        return false;
    out[0].dt = in_type(g, n, 1)->dt;
    return broadcast(g, n, &in_type(g, n, 0)->shape, &ab, &out[0].shape, err, errlen);
}

/* ---- reductions and normalisations ---- */

bool infer_reduce(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    const ReduceAttr *a = &n->attr.reduce;
    bool red[IR_MAX_RANK] = {0};
    if (x->dt == DT_BOOL)
        FAIL("'%s' of a bool tensor", opname(n));
    if (a->axes.n == 0)
        FAIL("'%s' needs the axes to reduce", opname(n));
    for (int i = 0; i < a->axes.n; i++) {
        int32_t ax;
        if (!axis_norm(a->axes.v[i], x->shape.rank, &ax))
            FAIL("'%s': axis %" PRId64 " is out of range for rank %d", opname(n), a->axes.v[i], x->shape.rank);
        if (red[ax])
            FAIL("'%s': axis %" PRId64 " appears twice", opname(n), a->axes.v[i]);
        red[ax] = true;
    }
    out[0].dt = x->dt;
    out[0].shape.rank = 0;
    for (int i = 0; i < x->shape.rank; i++) {
        if (!red[i])
            out[0].shape.d[out[0].shape.rank++] = x->shape.d[i];
        else if (a->keepdims)
            out[0].shape.d[out[0].shape.rank++] = dim_const(1);
    }
    return true;
}

bool infer_softmax(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    int32_t ax;
    if (!dtype_is_float(x->dt))
        FAIL("'%s' needs a floating-point operand", opname(n));
    if (!axis_norm(n->attr.axis.axis, x->shape.rank, &ax))
        FAIL("'%s': axis %" PRId64 " is out of range for rank %d", opname(n), n->attr.axis.axis, x->shape.rank);
    out[0] = *x;
    return true;
}

bool infer_normalize(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    if (!dtype_is_float(x->dt))
        FAIL("'normalize' needs a floating-point operand");
    if (x->shape.rank < 1)
        FAIL("'normalize' needs at least one axis");
    if (!(n->attr.norm.eps >= 0))
        FAIL("'normalize': eps must be non-negative");
    out[0] = *x;
    return true;
}

/* ---- matmul ---- */

bool infer_matmul(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *a = in_type(g, n, 0), *b = in_type(g, n, 1);
    const MatmulAttr *at = &n->attr.matmul;
    char sa[256], sb[256];
    ir_format_shape(g, &a->shape, sa, sizeof sa);
    ir_format_shape(g, &b->shape, sb, sizeof sb);
    if (!same_dtype(g, n, 2, err, errlen))
        return false;
    if (a->dt == DT_BOOL)
        FAIL("'matmul' of bool tensors");
    if (a->shape.rank < 2 || b->shape.rank < 2)
        FAIL("'matmul' needs operands of rank 2 or more, got %s and %s", sa, sb);
    int ra = a->shape.rank, rb = b->shape.rank;
    Dim m = a->shape.d[ra - (at->transpose_a ? 1 : 2)];
    Dim ka = a->shape.d[ra - (at->transpose_a ? 2 : 1)];
    Dim kb = b->shape.d[rb - (at->transpose_b ? 1 : 2)];
    Dim nn = b->shape.d[rb - (at->transpose_b ? 2 : 1)];
    if (!dim_eq(ka, kb)) {
        char da[64], db[64];
        ir_format_dim(g, ka, da, sizeof da);
        ir_format_dim(g, kb, db, sizeof db);
        FAIL("'matmul': contraction dimensions differ: %s%s @ %s%s (%s vs %s)", sa,
             at->transpose_a ? "ᵀ" : "", sb, at->transpose_b ? "ᵀ" : "", da, db);
    }
    Shape ba = a->shape, bb = b->shape;
    ba.rank -= 2;
    bb.rank -= 2;
    out[0].dt = a->dt;
    if (!broadcast(g, n, &ba, &bb, &out[0].shape, err, errlen))
        return false;
    out[0].shape.d[out[0].shape.rank++] = m;
    out[0].shape.d[out[0].shape.rank++] = nn;
    return true;
}

/* ---- data movement ---- */

bool infer_reshape(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    Shape s = n->attr.shape.shape;
    char sx[256], st[256];
    if (!check_shape(g, &s, true, "reshape's target shape", err, errlen))
        return false;
    ir_format_shape(g, &x->shape, sx, sizeof sx);
    ir_format_shape(g, &s, st, sizeof st);
    Monomial total, known;
    int infer_at = -1;
    Shape k = s;
    for (int i = 0; i < s.rank; i++)
        if (dim_is_const(s.d[i]) && s.d[i].n == -1) {
            infer_at = i;
            k.d[i] = dim_const(1);
        }
    if (!shape_product(&x->shape, &total) || !shape_product(&k, &known))
        FAIL("'reshape': element count overflows");
    if (infer_at >= 0) {
        if (!monomial_div_dim(&total, &known, &s.d[infer_at]))
            FAIL("'reshape': cannot reshape %s into %s", sx, st);
    } else if (!monomial_eq(&total, &known)) {
        FAIL("'reshape': cannot reshape %s into %s (element counts differ)", sx, st);
    }
    out[0] = (Type){x->dt, s};
    return true;
}

bool infer_broadcast(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    const Shape *s = &n->attr.shape.shape;
    Shape r;
    if (!check_shape(g, s, false, "broadcast's target shape", err, errlen))
        return false;
    if (x->shape.rank > s->rank || !broadcast(g, n, &x->shape, s, &r, err, errlen) || !shape_eq(&r, s)) {
        char sx[256], st[256];
        ir_format_shape(g, &x->shape, sx, sizeof sx);
        ir_format_shape(g, s, st, sizeof st);
        FAIL("'broadcast': cannot broadcast %s to %s", sx, st);
    }
    out[0] = (Type){x->dt, *s};
    return true;
}

bool infer_transpose(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    const IntList *p = &n->attr.perm.perm;
    bool seen[IR_MAX_RANK] = {0};
    if (p->n != x->shape.rank)
        FAIL("'transpose': perm has %d entries for rank %d", p->n, x->shape.rank);
    out[0].dt = x->dt;
    out[0].shape.rank = x->shape.rank;
    for (int i = 0; i < p->n; i++) {
        if (p->v[i] < 0 || p->v[i] >= p->n || seen[p->v[i]])
            FAIL("'transpose': perm is not a permutation of 0..%d", p->n - 1);
        seen[p->v[i]] = true;
        out[0].shape.d[i] = x->shape.d[p->v[i]];
    }
    return true;
}

bool infer_slice(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    const SliceAttr *a = &n->attr.slice;
    int32_t ax;
    if (!axis_norm(a->axis, x->shape.rank, &ax) || a->axis < 0)
        FAIL("'slice': axis %" PRId64 " is out of range for rank %d", a->axis, x->shape.rank);
    Dim d = x->shape.d[ax];
    if (!dim_is_const(d))
        FAIL("'slice': axis %d has the symbolic size %s; only fixed-size axes can be sliced", ax,
             g->syms[d.sym].name);
    if (a->step < 1)
        FAIL("'slice': step must be at least 1");
    if (a->start < 0 || a->start > a->stop || a->stop > d.n)
        FAIL("'slice': range %" PRId64 ":%" PRId64 " is out of bounds for size %" PRId64, a->start, a->stop, d.n);
    out[0] = *x;
    out[0].shape.d[ax] = dim_const((a->stop - a->start + a->step - 1) / a->step);
    return true;
}

bool infer_concat(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0);
    int32_t ax;
    if (!same_dtype(g, n, n->nin, err, errlen))
        return false;
    if (!axis_norm(n->attr.axis.axis, x->shape.rank, &ax))
        FAIL("'concat': axis %" PRId64 " is out of range for rank %d", n->attr.axis.axis, x->shape.rank);
    out[0] = *x;
    for (int i = 1; i < n->nin; i++) {
        const Type *y = in_type(g, n, i);
        char sx[256], sy[256];
        ir_format_shape(g, &x->shape, sx, sizeof sx);
        ir_format_shape(g, &y->shape, sy, sizeof sy);
        if (y->shape.rank != x->shape.rank)
            FAIL("'concat': operand ranks differ (%s and %s)", sx, sy);
        for (int d = 0; d < x->shape.rank; d++)
            if (d != ax && !dim_eq(x->shape.d[d], y->shape.d[d]))
                FAIL("'concat' along axis %d: shapes %s and %s differ in axis %d", ax, sx, sy, d);
        Dim *acc = &out[0].shape.d[ax], yd = y->shape.d[ax];
        if (acc->sym != yd.sym && acc->n != 0 && yd.n != 0)
            FAIL("'concat' along axis %d: cannot add sizes of different symbols (%s and %s)", ax, sx, sy);
        if (acc->n == 0)
            *acc = yd;
        else if (yd.n != 0)
            acc->n += yd.n;
    }
    return true;
}

bool infer_take(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = in_type(g, n, 0), *idx = in_type(g, n, 1);
    int32_t ax;
    if (idx->dt != DT_I32 && idx->dt != DT_I64)
        FAIL("'take' needs integer indices, got %s", dtype_name(idx->dt));
    if (!axis_norm(n->attr.axis.axis, x->shape.rank, &ax))
        FAIL("'take': axis %" PRId64 " is out of range for rank %d", n->attr.axis.axis, x->shape.rank);
    if (x->shape.rank - 1 + idx->shape.rank > IR_MAX_RANK)
        FAIL("'take': the result would have rank above %d", IR_MAX_RANK);
    out[0].dt = x->dt;
    out[0].shape.rank = 0;
    for (int i = 0; i < ax; i++)
        out[0].shape.d[out[0].shape.rank++] = x->shape.d[i];
    for (int i = 0; i < idx->shape.rank; i++)
        out[0].shape.d[out[0].shape.rank++] = idx->shape.d[i];
    for (int i = ax + 1; i < x->shape.rank; i++)
        out[0].shape.d[out[0].shape.rank++] = x->shape.d[i];
    return true;
}
