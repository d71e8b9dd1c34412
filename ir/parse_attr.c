/* parse_attr.c — the .vir parser's reader of types, shapes and attribute lists.
 *
 * One generic reader serves every attribute kind, driven by attr_schema(): the field's
 * type decides which value syntax it takes (ir/IR.md, Attributes). Lists and strings are
 * put in the scratch arena of the current line; ir_build() copies them into the graph.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

static bool reserve_list(Parser *p, size_t bytes)
{
    if (bytes <= p->caplist)
        return true;
    size_t cap = p->caplist ? p->caplist : 256;
    while (cap < bytes)
        cap *= 2;
    void *l = ir_realloc(p->list, cap);
    if (!l)
        return vir_oom(p);
    p->list = l;
    p->caplist = cap;
    return true;
}

static bool parse_dim(Parser *p, Dim *d)
{
    Token t = p->tok;
    if (t.kind == T_INT) {
        *d = dim_const(t.i);
        vir_lex(p);
        if (!vir_accept(p, T_STAR))
            return true;
        t = p->tok;
    } else {
        *d = dim_const(1);
    }
    if (t.kind != T_IDENT) {
        error_tok(p, &t, "expected a dimension (an integer, a symbol or N*SYMBOL), got %s", vir_describe(p, &t));
        return false;
    }
    const Entry *e = vir_map_find(&p->syms, t.s, t.n);
    if (!e) {
        error_tok(p, &t, "unknown symbol '%.*s' (declare it with `dim %.*s <= MAX`)", (int)t.n, t.s,
                  (int)t.n, t.s);
        return false;
    }
    *d = dim_sym(e->val, d->n);
    vir_lex(p);
    return true;
}

/* `[d, d, ...]` */
bool vir_parse_shape(Parser *p, Shape *s)
{
    Token open = p->tok;
    if (!vir_expect(p, T_LBRACK, "'[' starting a shape"))
        return false;
    s->rank = 0;
    if (vir_accept(p, T_RBRACK))
        return true;
    for (;;) {
        if (s->rank == IR_MAX_RANK) {
            error_tok(p, &open, "a shape has at most %d dimensions", IR_MAX_RANK);
            return false;
        }
        if (!parse_dim(p, &s->d[s->rank++]))
            return false;
        if (vir_accept(p, T_RBRACK))
            return true;
        if (!vir_expect(p, T_COMMA, "',' or ']' in a shape"))
            return false;
    }
}

bool vir_parse_type(Parser *p, Type *t)
{
    DType dt;
    if (p->tok.kind != T_IDENT || !dtype_from_name(p->tok.s, p->tok.n, &dt)) {
        error_tok(p, &p->tok, "expected a type such as f32[B,197,768], got %s", vir_describe(p, &p->tok));
        return false;
    }
    vir_lex(p);
    t->dt = dt;
    return vir_parse_shape(p, &t->shape);
}

/* A number for a float field: any literal, including nan and inf. */
static bool parse_double(Parser *p, double *v)
{
    const Token *t = &p->tok;
    if (t->kind == T_INT || t->kind == T_FLOAT)
        *v = t->f;
    else if (vir_is(t, "nan") || vir_is(t, "inf"))
        *v = t->s[0] == 'n' ? NAN : INFINITY;
    else
        return false;
    vir_lex(p);
    return true;
}

/* `[item, ...]` of int64 (ints) or double into a list in the scratch arena */
static bool parse_list(Parser *p, bool ints, void **v, int32_t *n, const char *what)
{
    size_t size = ints ? sizeof(int64_t) : sizeof(double);
    Token open = p->tok;
    if (p->tok.kind != T_LBRACK) {
        error_tok(p, &p->tok, "%s, got %s", what, vir_describe(p, &p->tok));
        return false;
    }
    vir_lex(p);
    int32_t count = 0;
    while (!vir_accept(p, T_RBRACK)) {
        if (count && !vir_expect(p, T_COMMA, "',' or ']' in a list"))
            return false;
        if (count == INT32_MAX) {
            error_tok(p, &open, "list too long");
            return false;
        }
        if (!reserve_list(p, (size_t)(count + 1) * size))
            return false;
        if (ints && p->tok.kind == T_INT) {
            ((int64_t *)p->list)[count] = p->tok.i;
            vir_lex(p);
        } else if (!ints && parse_double(p, &((double *)p->list)[count])) {
            /* read */
        } else {
            if (ints && p->tok.intlike)
                error_tok(p, &p->tok, "integer out of range: %s", vir_describe(p, &p->tok));
            else
                error_tok(p, &p->tok, "%s, got %s", what, vir_describe(p, &p->tok));
            return false;
        }
        count++;
    }
    *n = count;
    *v = NULL;
    if (count) {
        if (!(*v = arena_alloc(p->scratch, (size_t)count * size)))
            return vir_oom(p);
        memcpy(*v, p->list, (size_t)count * size);
    }
    return true;
}

static bool parse_field(Parser *p, const AttrField *f, void *dst)
{
    const Token *t = &p->tok;
    char want[160];
    switch (f->type) {
    case FT_BOOL:
        if (!vir_is(t, "true") && !vir_is(t, "false"))
            break;
        *(bool *)dst = t->s[0] == 't';
        vir_lex(p);
        return true;
    case FT_INT:
        if (t->kind != T_INT) {
            if (t->intlike) {
                error_tok(p, t, "integer out of range: %s", vir_describe(p, t));
                return false;
            }
            break;
        }
        *(int64_t *)dst = t->i;
        vir_lex(p);
        return true;
    case FT_FLOAT:
        if (parse_double(p, dst))
            return true;
        break;
    case FT_STR:
        if (t->kind != T_STR)
            break;
        if (!(*(const char **)dst = vir_tok_string(p, t)))
            return false;
        vir_lex(p);
        return true;
    case FT_DTYPE:
        if (t->kind != T_IDENT || !dtype_from_name(t->s, t->n, dst))
            break;
        vir_lex(p);
        return true;
    case FT_ENUM:
        for (int i = 0; i < f->enum_count; i++)
            if (vir_is(t, f->enum_names[i])) {
                *(int *)dst = i;
                vir_lex(p);
                return true;
            }
        break;
    case FT_INTS: {
        IntList *l = dst;
        snprintf(want, sizeof want, "attribute '%s' takes a list of integers", f->name);
        return parse_list(p, true, (void **)&l->v, &l->n, want);
    }
    case FT_FLOATS: {
        FloatList *l = dst;
        snprintf(want, sizeof want, "attribute '%s' takes a list of numbers", f->name);
        return parse_list(p, false, (void **)&l->v, &l->n, want);
    }
    case FT_SHAPE:
        if (t->kind == T_LBRACK)
            return vir_parse_shape(p, dst);
        break;
    }
    static const char *const wants[] = {
        [FT_BOOL] = "true or false", [FT_INT] = "an integer", [FT_FLOAT] = "a number",
        [FT_STR] = "a quoted string", [FT_DTYPE] = "a dtype (f32, f16, bf16, i32, i64, bool)",
        [FT_SHAPE] = "a shape such as [B, 197, 768]",
    };
    if (f->type == FT_ENUM) {
        size_t len = (size_t)snprintf(want, sizeof want, "one of");
        for (int i = 0; i < f->enum_count && len < sizeof want; i++)
            len += (size_t)snprintf(want + len, sizeof want - len, "%s %s", i ? "," : "", f->enum_names[i]);
    } else {
        snprintf(want, sizeof want, "%s", wants[f->type]);
    }
    error_tok(p, t, "attribute '%s' takes %s, got %s", f->name, want, vir_describe(p, t));
    return false;
}

/* `{name = value, ...}` into a (holding defaults); `what` names the op in messages;
 * seen[i] tells whether field i was given (the positional $name may set one first). */
bool vir_parse_attrs(Parser *p, AttrKind k, Attr *a, const char *what, bool *seen)
{
    const AttrSchema *s = attr_schema(k);
    vir_lex(p); /* '{' */
    if (vir_accept(p, T_RBRACE))
        return true;
    if (!p->scratch && !(p->scratch = arena_new()))
        return vir_oom(p);
    for (;;) {
        Token name = p->tok;
        const AttrField *f = name.kind == T_IDENT ? attr_field_find(k, name.s, name.n) : NULL;
        if (!f && name.kind != T_IDENT) {
            error_tok(p, &name, "expected an attribute name, got %s", vir_describe(p, &name));
            return false;
        }
        if (!f) {
            char valid[400] = "";
            size_t len = 0;
            for (int i = 0; i < s->nfields && len < sizeof valid; i++)
                len += (size_t)snprintf(valid + len, sizeof valid - len, "%s%s", i ? ", " : "", s->fields[i].name);
            if (s->nfields)
                error_tok(p, &name, "unknown attribute '%.*s' of %s (valid: %s)", (int)name.n, name.s, what, valid);
            else
                error_tok(p, &name, "%s takes no attributes", what);
            return false;
        }
        int idx = (int)(f - s->fields);
        if (idx < MAX_FIELDS && seen[idx]) {
            error_tok(p, &name, "attribute '%s' is given twice", f->name);
            return false;
        }
        if (idx < MAX_FIELDS)
            seen[idx] = true;
        vir_lex(p);
        if (!vir_expect(p, T_EQ, "'='") || !parse_field(p, f, attr_field_ptr(a, f)))
            return false;
        if (vir_accept(p, T_RBRACE))
            return true;
        if (!vir_expect(p, T_COMMA, "',' or '}' in an attribute list"))
            return false;
    }
}
