/* call.c — calls: evaluating arguments, binding them to parameters, and the primitives.
 *
 * A primitive is an op of ops.def (other than input and param), called by its name. Its
 * operands come first, positionally; its attributes follow, positionally in the order of
 * the op's attribute schema (attrs.def) or by keyword. One generic mechanism, driven by
 * the schema, converts every argument: there is no per-op code here.
 */
#include <inttypes.h>
#include <string.h>

#include "elab.h"

/* ---- argument binding ---- */

bool bind_args(Elab *e, const char *fname, Loc defloc, const char *const *names, int n, int required,
               const CallArg *args, int nargs, Loc loc, Val *out, bool *given)
{
    char note[300];
    snprintf(note, sizeof note, "'%s' is defined here", fname);
    int pos = 0;
    for (int i = 0; i < n; i++)
        given[i] = false;
    for (int a = 0; a < nargs; a++) {
        int slot = -1;
        if (!args[a].name) {
            if (a > 0 && args[a - 1].name) {
                elab_error(e, args[a].loc, "a positional argument cannot follow a keyword argument");
                return false;
            }
            if (pos >= n) {
                elab_error_note(e, args[a].loc, defloc, note, "'%s' takes %s%d argument%s, got %d", fname,
                                required < n ? "at most " : "", n, n == 1 ? "" : "s", nargs);
                return false;
            }
            slot = pos++;
        } else {
            for (int i = 0; i < n; i++)
                if (strcmp(names[i], args[a].name) == 0)
                    slot = i;
            if (slot < 0) {
                char list[512] = "";
                size_t len = 0;
                for (int i = 0; i < n && len < sizeof list; i++)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
                elab_error_note(e, args[a].loc, defloc, note, "'%s' has no parameter '%s'; its parameters are: %s",
                                fname, args[a].name, n ? list : "(none)");
                return false;
            }
            if (given[slot]) {
                elab_error(e, args[a].loc, "parameter '%s' of '%s' is given twice", names[slot], fname);
                return false;
            }
        }
        given[slot] = true;
        out[slot] = args[a].v;
    }
    for (int i = 0; i < required; i++)
        if (!given[i]) {
            elab_error_note(e, loc, defloc, note, "missing argument '%s' in call to '%s'", names[i], fname);
            return false;
        }
    return true;
}

/* ---- attribute values ---- */

void attr_field_names(AttrKind k, char *buf, size_t n)
{
    const AttrSchema *s = attr_schema(k);
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < s->nfields && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", s->fields[i].name);
    if (s->nfields == 0)
        snprintf(buf, n, "(none)");
}

static const char *field_expects(const AttrField *f, char *buf, size_t n)
{
    switch (f->type) {
    case FT_BOOL: return "a bool";
    case FT_INT: return "an int";
    case FT_FLOAT: return "a number";
    case FT_STR: return "a string";
    case FT_DTYPE: return "a dtype";
    case FT_INTS: return "a list of ints";
    case FT_FLOATS: return "a list of numbers";
    case FT_SHAPE: return "a shape (a list of ints and symbolic dimensions)";
    case FT_ENUM: {
        size_t len = (size_t)snprintf(buf, n, "one of");
        for (int i = 0; i < f->enum_count && len < n; i++)
            len += (size_t)snprintf(buf + len, n - len, "%s \"%s\"", i ? "," : "", f->enum_names[i]);
        return buf;
    }
    }
    return "?";
}

/* The elements of v as a list: v itself, or a one-element list when v is a scalar. */
static const Val *as_list(Val *v, int32_t *n)
{
    if (v->k == V_LIST) {
        *n = v->u.list.n;
        return v->u.list.v;
    }
    *n = 1;
    return v;
}

bool attr_set_field(Elab *e, Attr *a, const AttrField *f, Val v, Loc loc, const char *owner)
{
    void *p = attr_field_ptr(a, f);
    const Val *items;
    int32_t n;
    if (v.k == V_POISON)
        return false;
    switch (f->type) {
    case FT_BOOL:
        if (v.k != V_BOOL)
            break;
        *(bool *)p = v.u.b;
        return true;
    case FT_INT:
        if (v.k != V_INT)
            break;
        *(int64_t *)p = v.u.i;
        return true;
    case FT_FLOAT:
        if (!is_number(v))
            break;
        *(double *)p = num(v);
        return true;
    case FT_STR:
        if (v.k != V_STR)
            break;
        *(const char **)p = v.u.str.s;
        return true;
    case FT_DTYPE:
        if (v.k != V_DTYPE)
            break;
        *(DType *)p = v.u.dt;
        return true;
    case FT_INTS: {
        if (v.k != V_LIST && v.k != V_INT)
            break;
        items = as_list(&v, &n);
        int64_t *l = elab_step(e, loc, n / 2) ? elab_alloc(e, (size_t)(n ? n : 1) * sizeof *l) : NULL;
        if (!l)
            return false;
        int32_t i;
        for (i = 0; i < n && items[i].k == V_INT; i++)
            l[i] = items[i].u.i;
        if (i < n)
            break;
        *(IntList *)p = (IntList){n, l};
        return true;
    }
    case FT_FLOATS: {
        if (v.k != V_LIST && !is_number(v))
            break;
        items = as_list(&v, &n);
        double *l = elab_step(e, loc, n / 2) ? elab_alloc(e, (size_t)(n ? n : 1) * sizeof *l) : NULL;
        if (!l)
            return false;
        int32_t i;
        for (i = 0; i < n && is_number(items[i]); i++)
            l[i] = num(items[i]);
        if (i < n)
            break;
        *(FloatList *)p = (FloatList){n, l};
        return true;
    }
    case FT_SHAPE: {
        if (v.k != V_LIST)
            break;
        if (v.u.list.n > IR_MAX_RANK) {
            elab_error(e, loc, "'%s': attribute '%s' has rank %d; at most %d is supported", owner, f->name,
                       v.u.list.n, IR_MAX_RANK);
            return false;
        }
        Shape s = {.rank = v.u.list.n};
        int32_t i;
        for (i = 0; i < s.rank; i++) {
            Val d = v.u.list.v[i];
            if (d.k == V_INT)
                s.d[i] = dim_const(d.u.i);
            else if (d.k == V_DIM)
                s.d[i] = d.u.dim;
            else
                break;
        }
        if (i < s.rank)
            break;
        *(Shape *)p = s;
        return true;
    }
    case FT_ENUM:
        if (v.k != V_STR)
            break;
        for (int i = 0; i < f->enum_count; i++)
            if (strcmp(f->enum_names[i], v.u.str.s) == 0) {
                *(int *)p = i;
                return true;
            }
        break;
    }
    char d[300], x[256];
    val_describe(e, v, d, sizeof d);
    elab_error(e, loc, "'%s': attribute '%s' must be %s, got %s", owner, f->name, field_expects(f, x, sizeof x), d);
    return false;
}

bool attr_from_args(Elab *e, AttrKind k, Attr *a, const CallArg *args, int nargs, const char *owner)
{
    const AttrSchema *s = attr_schema(k);
    bool set[32] = {0};
    int pos = 0;
    bool ok = true;
    for (int i = 0; i < nargs; i++) {
        const AttrField *f;
        if (!args[i].name) {
            if (pos >= s->nfields) {
                char names[256];
                attr_field_names(k, names, sizeof names);
                if (s->nfields == 0)
                    elab_error(e, args[i].loc, "'%s' has no attributes; this argument is one too many", owner);
                else
                    elab_error(e, args[i].loc, "'%s' has %d attribute%s (%s); this argument is one too many", owner,
                               s->nfields, s->nfields == 1 ? "" : "s", names);
                return false;
            }
            f = &s->fields[pos++];
        } else {
            f = attr_field_find(k, args[i].name, strlen(args[i].name));
            if (!f) {
                char names[256];
                attr_field_names(k, names, sizeof names);
                if (s->nfields == 0)
                    elab_error(e, args[i].loc, "'%s' has no attributes (got '%s')", owner, args[i].name);
                else
                    elab_error(e, args[i].loc, "'%s' has no attribute '%s'; its attributes are: %s", owner,
                               args[i].name, names);
                return false;
            }
        }
        int idx = (int)(f - s->fields);
        if (idx < 32 && set[idx]) {
            elab_error(e, args[i].loc, "attribute '%s' of '%s' is given twice", f->name, owner);
            return false;
        }
        if (idx < 32)
            set[idx] = true;
        ok &= attr_set_field(e, a, f, args[i].v, args[i].loc, owner);
    }
    return ok;
}

/* ---- primitives ---- */

static bool is_operand(Val v) { return v.k == V_TENSOR || is_number(v) || v.k == V_BOOL; }

static bool tensor_list(Val v)
{
    if (v.k != V_LIST || v.u.list.n == 0)
        return false;
    for (int32_t i = 0; i < v.u.list.n; i++)
        if (v.u.list.v[i].k != V_TENSOR)
            return false;
    return true;
}

Val call_prim(Elab *e, Op op, const CallArg *args, int nargs, Loc loc)
{
    const OpInfo *info = &ir_ops[op];
    int npos = 0, nops = 0, cap = 0;
    for (int i = 0; i < nargs; i++) {
        if (args[i].v.k == V_POISON)
            return v_poison();
        if (!args[i].name)
            npos++;
    }
    /* the operands: the first nin positional arguments, or (variadic) the leading
     * tensors and lists of tensors */
    int first_attr = 0;
    if (info->nin >= 0) {
        first_attr = npos < info->nin ? npos : info->nin;
        cap = info->nin;
    } else {
        while (first_attr < npos && (args[first_attr].v.k == V_TENSOR || tensor_list(args[first_attr].v))) {
            cap += args[first_attr].v.k == V_TENSOR ? 1 : args[first_attr].v.u.list.n;
            first_attr++;
        }
    }
    if (info->nin >= 0 && npos < info->nin) {
        elab_error(e, loc, "'%s' takes %d operand%s, got %d", info->name, info->nin, info->nin == 1 ? "" : "s", npos);
        return v_poison();
    }
    if (info->nin < 0 && cap == 0) {
        elab_error(e, loc, "'%s' needs at least one tensor operand (or a list of tensors)", info->name);
        return v_poison();
    }
    if (!elab_step(e, loc, cap))
        return v_poison();
    Val *in = elab_alloc(e, (size_t)(cap ? cap : 1) * sizeof *in);
    int32_t *ids = elab_alloc(e, (size_t)(cap ? cap : 1) * sizeof *ids);
    if (!in || !ids)
        return v_poison();
    for (int i = 0; i < first_attr; i++) {
        Val v = args[i].v;
        if (v.k == V_LIST)
            for (int32_t j = 0; j < v.u.list.n; j++)
                in[nops++] = v.u.list.v[j];
        else if (is_operand(v))
            in[nops++] = v;
        else {
            char d[300];
            val_describe(e, v, d, sizeof d);
            elab_error(e, args[i].loc, "operand %d of '%s' must be a tensor or a number, got %s", i + 1,
                       info->name, d);
            return v_poison();
        }
    }
    Attr a;
    attr_set_defaults(info->attr, &a);
    if (!attr_from_args(e, info->attr, &a, args + first_attr, nargs - first_attr, info->name))
        return v_poison();
    /* numbers only: computed now (sqrt(64)) */
    bool numbers = true;
    DType dt = DT_F32;
    bool found = false;
    for (int i = 0; i < nops; i++) {
        if (in[i].k == V_TENSOR) {
            numbers = false;
            DType t = ir_type(e->g, in[i].u.t)->dt;
            if (!found && t != DT_BOOL) {
                dt = t;
                found = true;
            }
        }
    }
    if (numbers && nops > 0) {
        Val r;
        if (fold_prim(e, op, &a, in, nops, loc, &r))
            return r;
        if (r.k == V_POISON && e->stop)
            return r;
    }
    for (int i = 0; i < nops; i++) {
        if (in[i].k == V_TENSOR)
            ids[i] = in[i].u.t;
        else
            ids[i] = scalar_tensor(e, in[i], in[i].k == V_BOOL ? DT_BOOL : dt, i < first_attr ? args[i].loc : loc);
        if (ids[i] < 0)
            return v_poison();
    }
    return v_tensor(build(e, op, ids, nops, &a, NULL, loc));
}

/* ---- calls ---- */

Val eval_call(Elab *e, const Expr *x)
{
    const Expr *fx = x->u.call.fn;
    Val fn;
    if (fx->kind == E_NAME) {
        Entry *en = lookup(e, fx->u.name);
        if (!en) {
            elab_unknown(e, fx->u.name, fx->loc, "function");
            return v_poison();
        }
        fn = en->v;
    } else {
        fn = eval(e, fx);
    }
    if (fn.k == V_POISON)
        return fn;
    if (fn.k != V_FUNC) {
        char d[300];
        val_describe(e, fn, d, sizeof d);
        if (fx->kind == E_NAME)
            elab_error(e, x->loc, "'%s' is not a function (it is %s)", fx->u.name, d);
        else
            elab_error(e, x->loc, "this is not a function (it is %s)", d);
        return v_poison();
    }
    int nargs = 0;
    for (const Arg *a = x->u.call.args; a; a = a->next)
        nargs++;
    CallArg *args = elab_alloc(e, (size_t)(nargs ? nargs : 1) * sizeof *args);
    if (!args)
        return v_poison();
    nargs = 0;
    bool poison = false;
    for (const Arg *a = x->u.call.args; a; a = a->next, nargs++) {
        args[nargs] = (CallArg){a->name, a->loc, eval(e, a->value)};
        poison |= args[nargs].v.k == V_POISON;
    }
    if (poison || e->stop)
        return v_poison();
    switch (fn.u.fn.kind) {
    case F_DEF: return call_def(e, fn.u.fn.def, args, nargs, x->loc);
    case F_BUILTIN: return builtins[fn.u.fn.id].fn(e, args, nargs, x->loc);
    default: return call_prim(e, (Op)fn.u.fn.id, args, nargs, x->loc);
    }
}
