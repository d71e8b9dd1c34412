/* builtins.c — the functions of the language that are not ops: parameters, constants,
 * and compile-time helpers on shapes, lists and numbers. Each takes its arguments by
 * position or by keyword (bind_args); attribute-like arguments of `param` go through the
 * attribute schema of attrs.def like the primitives' do. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "elab.h"

#define BIND(fname, names, required)                                                            \
    Val v[sizeof names / sizeof names[0]];                                                      \
    bool given[sizeof names / sizeof names[0]];                                                 \
    Loc at[sizeof names / sizeof names[0]];                                                     \
    if (!bind_args(e, fname, (Loc){0}, names, (int)(sizeof names / sizeof names[0]), required,  \
                   args, nargs, loc, v, given))                                                 \
        return v_poison();                                                                      \
    arg_locs(names, (int)(sizeof names / sizeof names[0]), args, nargs, loc, at)

/* Where each parameter's argument is, for messages (the call when not given). */
static void arg_locs(const char *const *names, int n, const CallArg *args, int nargs, Loc loc, Loc *at)
{
    int pos = 0;
    for (int i = 0; i < n; i++)
        at[i] = loc;
    for (int a = 0; a < nargs; a++) {
        if (!args[a].name) {
            if (pos < n)
                at[pos++] = args[a].loc;
            continue;
        }
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], args[a].name) == 0)
                at[i] = args[a].loc;
    }
}

static bool want(Elab *e, Val v, ValKind k, Loc loc, const char *what)
{
    if (v.k == k)
        return true;
    if (v.k != V_POISON) {
        char d[300];
        val_describe(e, v, d, sizeof d);
        elab_error(e, loc, "%s must be a %s, got %s", what, val_kind_name(k), d);
    }
    return false;
}

/* ---- param(name, shape, init = "normal", std = 0.02, layout = none, dtype = f32) ---- */

static void describe_param(const Graph *g, const Type *t, const ParamAttr *a, char *buf, size_t n)
{
    char s[256];
    ir_format_shape(g, &t->shape, s, sizeof s);
    size_t len = (size_t)snprintf(buf, n, "%s%s", dtype_name(t->dt), s);
    if (a->layout.n && len < n) {
        len += (size_t)snprintf(buf + len, n - len, " layout [");
        for (int i = 0; i < a->layout.n && len < n; i++)
            len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, i ? "," : "", a->layout.v[i]);
        if (len < n)
            len += (size_t)snprintf(buf + len, n - len, "]");
    }
    if (len < n) {
        const AttrField *f = attr_field_find(ATTR_PARAM, "init", 4);
        len += (size_t)snprintf(buf + len, n - len, " init %s", f->enum_names[a->init]);
    }
    if (a->init == INIT_NORMAL && len < n) {
        char d[64];
        ir_format_double(a->std, d, sizeof d);
        snprintf(buf + len, n - len, " std %s", d);
    }
}

static Val bi_param(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"name", "shape", "init", "std", "layout", "dtype"};
    BIND("param", names, 2);
    if (!want(e, v[0], V_STR, at[0], "a parameter's name"))
        return v_poison();
    if (v[0].u.str.n == 0) {
        elab_error(e, at[0], "a parameter's name cannot be empty");
        return v_poison();
    }
    Attr a, sh;
    attr_set_defaults(ATTR_PARAM, &a);
    attr_set_defaults(ATTR_SHAPE, &sh);
    a.param.name = v[0].u.str.s;
    if (!attr_set_field(e, &sh, attr_field_find(ATTR_SHAPE, "shape", 5), v[1], at[1], "param"))
        return v_poison();
    for (int i = 2; i <= 4; i++)
        if (given[i] && !attr_set_field(e, &a, attr_field_find(ATTR_PARAM, names[i], strlen(names[i])), v[i], at[i],
                                        "param"))
            return v_poison();
    Type t = {DT_F32, sh.shape.shape};
    if (given[5]) {
        if (!want(e, v[5], V_DTYPE, at[5], "a parameter's dtype"))
            return v_poison();
        t.dt = v[5].u.dt;
    }
    Entry *en = scope_find(&e->params, a.param.name);
    if (en) {
        int32_t id = en->v.u.t;
        const Node *n = ir_def(e->g, id);
        if (type_eq(ir_type(e->g, id), &t) && attr_eq(ATTR_PARAM, &n->attr, &a))
            return v_tensor(id); /* the same weight again: tied */
        char now[300], before[300];
        describe_param(e->g, &t, &a.param, now, sizeof now);
        describe_param(e->g, ir_type(e->g, id), &n->attr.param, before, sizeof before);
        elab_error_note(e, loc, en->loc, "first declared here",
                        "parameter '%s' is declared again differently: %s here, %s before", a.param.name, now,
                        before);
        return v_poison();
    }
    int32_t id = build(e, OP_PARAM, NULL, 0, &a, &t, loc);
    if (id < 0)
        return v_poison();
    const char *key = arena_strdup(e->arena, a.param.name);
    en = key ? scope_put(&e->params, key, NULL) : NULL;
    if (!en) {
        elab_oom(e);
        return v_poison();
    }
    en->v = v_tensor(id);
    en->loc = loc;
    return v_tensor(id);
}

/* ---- constant(data, dtype = f32, shape = none) ---- */

/* Flattens nested lists of numbers into out (NULL: count only). The first walk down
 * fixes the shape; every other list must match it (rectangular). */
static bool flatten(Elab *e, Val v, int depth, Shape *shape, bool *fixed, double *out, int64_t *n, Loc loc)
{
    if (v.k != V_LIST) {
        *fixed = true;
        if (depth != shape->rank || (!is_number(v) && v.k != V_BOOL)) {
            char d[300];
            val_describe(e, v, d, sizeof d);
            elab_error(e, loc, "'constant' needs numbers in nested lists of equal lengths; found %s at depth %d", d,
                       depth);
            return false;
        }
        if (out)
            out[*n] = v.k == V_BOOL ? v.u.b : num(v);
        ++*n;
        return true;
    }
    if (depth == shape->rank && !*fixed) {
        if (depth >= IR_MAX_RANK) {
            elab_error(e, loc, "'constant': lists are nested more than %d deep", IR_MAX_RANK);
            return false;
        }
        shape->d[shape->rank++] = dim_const(v.u.list.n);
    } else if (depth >= shape->rank || shape->d[depth].n != v.u.list.n) {
        elab_error(e, loc, "'constant': the nested lists are not rectangular (depth %d)", depth + 1);
        return false;
    }
    if (v.u.list.n == 0)
        *fixed = true;
    for (int32_t i = 0; i < v.u.list.n; i++)
        if (!flatten(e, v.u.list.v[i], depth + 1, shape, fixed, out, n, loc))
            return false;
    return true;
}

static Val bi_constant(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"data", "dtype", "shape"};
    BIND("constant", names, 1);
    Type t = {DT_F32, {.rank = 0}};
    if (given[1]) {
        if (!want(e, v[1], V_DTYPE, at[1], "a constant's dtype"))
            return v_poison();
        t.dt = v[1].u.dt;
    }
    int64_t n = 0;
    bool fixed = false;
    if (!flatten(e, v[0], 0, &t.shape, &fixed, NULL, &n, at[0]) || !elab_step(e, loc, n / 2))
        return v_poison();
    double *data = elab_alloc(e, (size_t)(n ? n : 1) * sizeof *data);
    if (!data)
        return v_poison();
    int64_t k = 0;
    Shape s = {.rank = 0};
    fixed = false;
    flatten(e, v[0], 0, &s, &fixed, data, &k, at[0]);
    if (given[2] && v[2].k != V_NONE) {
        Attr sh;
        attr_set_defaults(ATTR_SHAPE, &sh);
        if (!attr_set_field(e, &sh, attr_field_find(ATTR_SHAPE, "shape", 5), v[2], at[2], "constant"))
            return v_poison();
        t.shape = sh.shape.shape;
    }
    Attr a;
    attr_set_defaults(ATTR_CONST, &a);
    a.constant.data = (FloatList){(int32_t)n, data};
    return v_tensor(build(e, OP_CONST, NULL, 0, &a, &t, loc));
}

/* ---- shapes ---- */

static bool want_tensor(Elab *e, Val v, Loc loc, const char *fname)
{
    if (v.k == V_TENSOR)
        return true;
    if (v.k != V_POISON) {
        char d[300];
        val_describe(e, v, d, sizeof d);
        elab_error(e, loc, "'%s' needs a tensor, got %s", fname, d);
    }
    return false;
}

static Val bi_shape(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"x"};
    BIND("shape", names, 1);
    if (!want_tensor(e, v[0], at[0], "shape"))
        return v_poison();
    const Shape *s = &ir_type(e->g, v[0].u.t)->shape;
    Val r;
    Val *l = v_list_new(e, s->rank, loc, &r);
    for (int i = 0; l && i < s->rank; i++)
        l[i] = v_dim(s->d[i]);
    return r;
}

static Val bi_rank(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"x"};
    BIND("rank", names, 1);
    if (!want_tensor(e, v[0], at[0], "rank"))
        return v_poison();
    return v_int(ir_type(e->g, v[0].u.t)->shape.rank);
}

static Val bi_dtype(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"x"};
    BIND("dtype", names, 1);
    if (!want_tensor(e, v[0], at[0], "dtype"))
        return v_poison();
    return v_dtype(ir_type(e->g, v[0].u.t)->dt);
}

static Val bi_len(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"x"};
    BIND("len", names, 1);
    if (v[0].k == V_LIST)
        return v_int(v[0].u.list.n);
    if (v[0].k == V_STR)
        return v_int(v[0].u.str.n);
    if (v[0].k != V_POISON) {
        char d[300];
        val_describe(e, v[0], d, sizeof d);
        elab_error(e, at[0], "'len' needs a list or a string, got %s%s", d,
                   v[0].k == V_TENSOR ? " (use shape(x))" : "");
    }
    return v_poison();
}

/* ---- checks ---- */

static Val bi_assert(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"cond", "message"};
    BIND("assert", names, 1);
    if (given[1] && !want(e, v[1], V_STR, at[1], "an assertion's message"))
        return v_poison();
    if (v[0].k == V_POISON)
        return v_poison();
    if (v[0].k != V_BOOL) {
        char d[300];
        val_describe(e, v[0], d, sizeof d);
        elab_error(e, at[0], "'assert' needs a compile-time bool, got %s", d);
        return v_poison();
    }
    if (!v[0].u.b) {
        if (given[1])
            elab_error(e, loc, "assertion failed: %s", v[1].u.str.s);
        else
            elab_error(e, loc, "assertion failed");
        return v_poison();
    }
    return v_none();
}

static Val bi_error(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"message"};
    BIND("error", names, 1);
    if (want(e, v[0], V_STR, at[0], "an error's message"))
        elab_error(e, loc, "%s", v[0].u.str.s);
    return v_poison();
}

/* ---- numbers and lists ---- */

static Val extremum(Elab *e, const CallArg *args, int nargs, Loc loc, bool is_max, const char *fname)
{
    const Val *items;
    Val list;
    int32_t n;
    for (int i = 0; i < nargs; i++)
        if (args[i].name) {
            elab_error(e, args[i].loc, "'%s' takes no keyword arguments", fname);
            return v_poison();
        }
    if (nargs == 1 && args[0].v.k == V_LIST) {
        list = args[0].v;
        items = list.u.list.v;
        n = list.u.list.n;
    } else {
        Val *l = v_list_new(e, nargs, loc, &list);
        if (!l)
            return v_poison();
        for (int i = 0; i < nargs; i++)
            l[i] = args[i].v;
        items = l;
        n = nargs;
    }
    if (n == 0) {
        elab_error(e, loc, "'%s' of nothing", fname);
        return v_poison();
    }
    Val best = items[0];
    for (int32_t i = 0; i < n; i++) {
        if (!is_number(items[i])) {
            char d[300];
            val_describe(e, items[i], d, sizeof d);
            elab_error(e, loc, "'%s' needs numbers, got %s%s", fname, d,
                       items[i].k == V_TENSOR ? (is_max ? " (use maximum(a, b) on tensors)" : " (use minimum(a, b) on tensors)")
                                              : "");
            return v_poison();
        }
        if (is_max ? num(items[i]) > num(best) : num(items[i]) < num(best))
            best = items[i];
    }
    return best;
}

static Val bi_min(Elab *e, const CallArg *args, int nargs, Loc loc) { return extremum(e, args, nargs, loc, false, "min"); }
static Val bi_max(Elab *e, const CallArg *args, int nargs, Loc loc) { return extremum(e, args, nargs, loc, true, "max"); }

static Val bi_range(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"start", "stop", "step"};
    BIND("range", names, 1);
    int64_t lo = 0, hi, step = 1;
    if (!want_int(e, v[0], at[0], "range's bound", &hi))
        return v_poison();
    if (given[1] && v[1].k != V_NONE) {
        lo = hi;
        if (!want_int(e, v[1], at[1], "range's stop", &hi))
            return v_poison();
    }
    if (given[2] && !want_int(e, v[2], at[2], "range's step", &step))
        return v_poison();
    if (step == 0) {
        elab_error(e, at[2], "range's step cannot be zero");
        return v_poison();
    }
    double count = step > 0 ? ceil(((double)hi - (double)lo) / (double)step) : ceil(((double)lo - (double)hi) / (double)-step);
    if (count < 0)
        count = 0;
    if (count > MAX_LIST) {
        elab_error(e, loc, "range of %.0f elements is too long (the limit is %d)", count, MAX_LIST);
        return v_poison();
    }
    Val r;
    Val *l = v_list_new(e, (int64_t)count, loc, &r);
    int64_t x = lo;
    for (int64_t i = 0; l && i < (int64_t)count; i++) {
        l[i] = v_int(x);
        if (__builtin_add_overflow(x, step, &x))
            break; /* only past the last element */
    }
    return r;
}

static Val bi_int(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"x"};
    BIND("int", names, 1);
    if (v[0].k == V_INT)
        return v[0];
    if (v[0].k == V_BOOL)
        return v_int(v[0].u.b);
    if (v[0].k == V_FLOAT && v[0].u.f > -9.2e18 && v[0].u.f < 9.2e18)
        return v_int((int64_t)v[0].u.f);
    if (v[0].k != V_POISON) {
        char d[300];
        val_describe(e, v[0], d, sizeof d);
        elab_error(e, at[0], "'int' needs a number that fits 64 bits, got %s", d);
    }
    return v_poison();
}

static Val bi_float(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"x"};
    BIND("float", names, 1);
    if (is_number(v[0]))
        return v_float(num(v[0]));
    if (v[0].k != V_POISON) {
        char d[300];
        val_describe(e, v[0], d, sizeof d);
        elab_error(e, at[0], "'float' needs a number, got %s", d);
    }
    return v_poison();
}

/* The most negative finite value of a float dtype (masking, as Flax does). */
static Val bi_finfo_min(Elab *e, const CallArg *args, int nargs, Loc loc)
{
    static const char *const names[] = {"dtype"};
    BIND("finfo_min", names, 0);
    DType dt = DT_F32;
    if (given[0]) {
        if (!want(e, v[0], V_DTYPE, at[0], "finfo_min's argument"))
            return v_poison();
        dt = v[0].u.dt;
    }
    switch (dt) {
    case DT_F32: return v_float(-FLT_MAX);
    case DT_F16: return v_float(-65504.0);
    case DT_BF16: return v_float(-3.3895313892515355e38);
    default: elab_error(e, at[0], "'finfo_min' needs a float dtype, got %s", dtype_name(dt)); return v_poison();
    }
}

const Builtin builtins[] = {
    {"param", bi_param}, {"constant", bi_constant}, {"shape", bi_shape}, {"rank", bi_rank},
    {"dtype", bi_dtype}, {"len", bi_len}, {"assert", bi_assert}, {"error", bi_error},
    {"min", bi_min}, {"max", bi_max}, {"range", bi_range}, {"int", bi_int},
    {"float", bi_float}, {"finfo_min", bi_finfo_min},
};
const int nbuiltins = (int)(sizeof builtins / sizeof builtins[0]);
