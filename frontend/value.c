/* value.c — dynamic values, scopes, and the elaborator's diagnostics. */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "elab.h"

/* ---- scopes ---- */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

Entry *scope_find(const Scope *s, const char *name)
{
    if (!s->cap)
        return NULL;
    for (uint32_t i = hash_name(name) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        Entry *en = &s->slots[i];
        if (!en->name)
            return NULL;
        if (strcmp(en->name, name) == 0)
            return en;
    }
}

static bool scope_grow(Scope *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    Entry *slots = ir_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (uint32_t i = 0; i < s->cap; i++) {
        Entry *en = &s->slots[i];
        if (!en->name)
            continue;
        uint32_t j = hash_name(en->name) & (cap - 1);
        while (slots[j].name)
            j = (j + 1) & (cap - 1);
        slots[j] = *en;
    }
    ir_free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return true;
}

Entry *scope_put(Scope *s, const char *name, bool *added)
{
    Entry *en = scope_find(s, name);
    if (added)
        *added = !en;
    if (en)
        return en;
    if ((s->count + 1) * 2 > s->cap && !scope_grow(s))
        return NULL;
    uint32_t i = hash_name(name) & (s->cap - 1);
    while (s->slots[i].name)
        i = (i + 1) & (s->cap - 1);
    s->slots[i] = (Entry){.name = name, .v = v_poison()};
    s->count++;
    return &s->slots[i];
}

void scope_free(Scope *s)
{
    ir_free(s->slots);
    *s = (Scope){0};
}

/* ---- diagnostics ---- */

void elab_oom(Elab *e)
{
    if (!e->stop)
        diag_error(e->d, (Loc){0}, "out of memory during elaboration");
    e->stop = true;
}

static bool verror(Elab *e, Loc loc, Loc noteloc, const char *note, const char *fmt, va_list ap)
{
    char key[512];
    snprintf(key, sizeof key, "%s:%d:%d", loc.file ? loc.file : "", loc.line, loc.col);
    if (scope_find(&e->reported, key))
        return false; /* the same mistake again (a loop, another call of the same def) */
    const char *k = arena_strdup(e->arena, key);
    if (!k || !scope_put(&e->reported, k, NULL)) {
        elab_oom(e);
        return false;
    }
    diag_vreport(e->d, DIAG_ERROR, loc, fmt, ap);
    if (noteloc.file)
        diag_note(e->d, noteloc, "%s", note);
    enum { SHOWN = 8 };
    for (int i = e->ncalls - 1; i >= 0; i--) {
        const CallFrame *c = &e->calls[i];
        if (e->ncalls - i > SHOWN) {
            diag_note(e->d, (Loc){0}, "... and %d more calls", i + 1);
            break;
        }
        const Stmt *def = c->def;
        if (scope_find(&e->universe, def->u.def.name)) /* a def hiding a builtin of its name */
            diag_note(e->d, (Loc){0}, "in call to '%s' from %s:%d:%d (the def at %s:%d, not the builtin '%s')",
                      def->u.def.name, c->from.file, c->from.line, c->from.col, def->loc.file, def->loc.line,
                      def->u.def.name);
        else
            diag_note(e->d, (Loc){0}, "in call to '%s' from %s:%d:%d", def->u.def.name, c->from.file, c->from.line,
                      c->from.col);
    }
    if (diag_too_many(e->d))
        e->stop = true;
    return true;
}

bool elab_error(Elab *e, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool shown = verror(e, loc, (Loc){0}, NULL, fmt, ap);
    va_end(ap);
    return shown;
}

bool elab_error_note(Elab *e, Loc loc, Loc noteloc, const char *note, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool shown = verror(e, loc, noteloc, note, fmt, ap);
    va_end(ap);
    return shown;
}

bool elab_step(Elab *e, Loc loc, int64_t extra)
{
    if (e->stop)
        return false;
    e->steps += 1 + extra;
    if (e->steps > MAX_STEPS) {
        elab_error(e, loc, "elaboration takes too long (more than %d steps): is a loop or a list too large?",
                   MAX_STEPS);
        e->stop = true;
        return false;
    }
    return true;
}

/* ---- values ---- */

void *elab_alloc(Elab *e, size_t n)
{
    void *p = arena_alloc(e->arena, n ? n : 1);
    if (!p)
        elab_oom(e);
    return p;
}

Val v_dim(Dim d)
{
    if (dim_is_const(d))
        return v_int(d.n);
    return (Val){.k = V_DIM, .u.dim = d};
}

Val v_str(Elab *e, const char *s, size_t n)
{
    char *c = arena_strndup(e->arena, s, n);
    if (!c) {
        elab_oom(e);
        return v_poison();
    }
    return (Val){.k = V_STR, .u.str = {c, (int32_t)n}};
}

Val *v_list_new(Elab *e, int64_t n, Loc loc, Val *out)
{
    *out = v_poison();
    if (n > MAX_LIST) {
        elab_error(e, loc, "a list of %" PRId64 " elements is too long (the limit is %d)", n, MAX_LIST);
        return NULL;
    }
    if (!elab_step(e, loc, n / 2)) /* memory is paid for in steps */
        return NULL;
    Val *v = elab_alloc(e, (size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    *out = (Val){.k = V_LIST, .u.list = {v, (int32_t)n}};
    return v;
}

const char *val_kind_name(ValKind k)
{
    static const char *const names[] = {
        [V_POISON] = "error", [V_NONE] = "none", [V_BOOL] = "bool", [V_INT] = "int",
        [V_FLOAT] = "float", [V_STR] = "string", [V_LIST] = "list", [V_TENSOR] = "tensor",
        [V_DIM] = "symbolic dimension", [V_DTYPE] = "dtype", [V_FUNC] = "function",
    };
    return names[k];
}

void val_describe(const Elab *e, Val v, char *buf, size_t n)
{
    switch (v.k) {
    case V_INT: snprintf(buf, n, "int %" PRId64, v.u.i); break;
    case V_FLOAT: {
        char f[64];
        ir_format_double(v.u.f, f, sizeof f);
        snprintf(buf, n, "float %s", f);
        break;
    }
    case V_BOOL: snprintf(buf, n, "bool %s", v.u.b ? "true" : "false"); break;
    case V_STR: snprintf(buf, n, "string \"%.40s%s\"", v.u.str.s, v.u.str.n > 40 ? "..." : ""); break;
    case V_LIST: snprintf(buf, n, "list of %d", v.u.list.n); break;
    case V_TENSOR: {
        char s[256];
        const Type *t = ir_type(e->g, v.u.t);
        ir_format_shape(e->g, &t->shape, s, sizeof s);
        snprintf(buf, n, "tensor %s%s", dtype_name(t->dt), s);
        break;
    }
    case V_DIM: {
        char s[64];
        ir_format_dim(e->g, v.u.dim, s, sizeof s);
        snprintf(buf, n, "symbolic dimension %s", s);
        break;
    }
    case V_DTYPE: snprintf(buf, n, "dtype %s", dtype_name(v.u.dt)); break;
    case V_FUNC:
        snprintf(buf, n, "function '%s'",
                 v.u.fn.kind == F_DEF       ? v.u.fn.def->u.def.name
                 : v.u.fn.kind == F_BUILTIN ? builtins[v.u.fn.id].name
                                            : ir_ops[v.u.fn.id].name);
        break;
    default: snprintf(buf, n, "%s", val_kind_name(v.k)); break;
    }
}

bool val_format(const Elab *e, Val v, char *buf, size_t n)
{
    switch (v.k) {
    case V_INT: snprintf(buf, n, "%" PRId64, v.u.i); return true;
    case V_FLOAT: ir_format_double(v.u.f, buf, n); return true;
    case V_BOOL: snprintf(buf, n, "%s", v.u.b ? "true" : "false"); return true;
    case V_STR: snprintf(buf, n, "%s", v.u.str.s); return true;
    case V_NONE: snprintf(buf, n, "none"); return true;
    case V_DIM: ir_format_dim(e->g, v.u.dim, buf, n); return true;
    case V_DTYPE: snprintf(buf, n, "%s", dtype_name(v.u.dt)); return true;
    default: return false;
    }
}

static bool equal(Val a, Val b, bool *ok, int depth)
{
    if (depth > 100 || a.k == V_TENSOR || b.k == V_TENSOR || (a.k == V_DIM && b.k == V_INT) ||
        (a.k == V_INT && b.k == V_DIM)) {
        *ok = false;
        return false;
    }
    if (is_number(a) && is_number(b))
        return num(a) == num(b);
    if (a.k != b.k)
        return false;
    switch (a.k) {
    case V_NONE: return true;
    case V_BOOL: return a.u.b == b.u.b;
    case V_STR: return a.u.str.n == b.u.str.n && memcmp(a.u.str.s, b.u.str.s, (size_t)a.u.str.n) == 0;
    case V_DIM: return dim_eq(a.u.dim, b.u.dim);
    case V_DTYPE: return a.u.dt == b.u.dt;
    case V_FUNC: return a.u.fn.kind == b.u.fn.kind && a.u.fn.id == b.u.fn.id && a.u.fn.def == b.u.fn.def;
    case V_LIST:
        if (a.u.list.n != b.u.list.n)
            return false;
        for (int32_t i = 0; i < a.u.list.n; i++)
            if (!equal(a.u.list.v[i], b.u.list.v[i], ok, depth + 1))
                return false;
        return true;
    default: return false;
    }
}

bool val_equal(Val a, Val b, bool *ok) { return equal(a, b, ok, 0); }
