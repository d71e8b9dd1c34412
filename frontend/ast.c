/* ast.c — builders of the syntax tree, called by the grammar's actions, and the string
 * literal reader (escapes and `{name}` templates). */
#include <stdarg.h>
#include <string.h>

#include "ast.h"

Loc ast_loc(const Parser *p, int line, int col) { return (Loc){p->file, line, col}; }

void ast_error(Parser *p, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(p->d, DIAG_ERROR, loc, fmt, ap);
    va_end(ap);
    p->errors++;
}

/* Out of memory inside an action: remembered (ast_parse reports it once) and the action
 * gets the parser's zeroed scratch node instead, so it can finish without NULL checks; the
 * tree is thrown away. */
void *ast_alloc(Parser *p, size_t n)
{
    void *m = arena_alloc(p->arena, n);
    if (!m) {
        p->oom = true;
        memset(&p->scratch, 0, sizeof p->scratch);
        return n <= sizeof p->scratch ? (void *)&p->scratch : NULL;
    }
    return m;
}

const char *ast_strndup(Parser *p, const char *s, size_t n)
{
    const char *c = arena_strndup(p->arena, s, n);
    if (!c)
        p->oom = true;
    return c ? c : "";
}

const char *operator_text(Operator op)
{
    static const char *const text[] = {
        [OPR_ADD] = "+", [OPR_SUB] = "-", [OPR_MUL] = "*", [OPR_DIV] = "/",
        [OPR_FLOORDIV] = "//", [OPR_MOD] = "%", [OPR_POW] = "**", [OPR_MATMUL] = "@",
        [OPR_EQ] = "==", [OPR_NE] = "!=", [OPR_LT] = "<", [OPR_LE] = "<=", [OPR_GT] = ">",
        [OPR_GE] = ">=", [OPR_AND] = "and", [OPR_OR] = "or", [OPR_RANGE] = "..",
        [OPR_NEG] = "-", [OPR_NOT] = "not",
    };
    return text[op];
}

/* ---- expressions ---- */

Expr *ast_expr(Parser *p, ExprKind k, Loc loc)
{
    Expr *e = ast_alloc(p, sizeof *e);
    e->kind = k;
    e->loc = loc;
    return e;
}

Expr *ast_int(Parser *p, int64_t v, Loc loc)
{
    Expr *e = ast_expr(p, E_INT, loc);
    e->u.i = v;
    return e;
}

Expr *ast_float(Parser *p, double v, Loc loc)
{
    Expr *e = ast_expr(p, E_FLOAT, loc);
    e->u.f = v;
    return e;
}

Expr *ast_string(Parser *p, Template *t, Loc loc)
{
    Expr *e = ast_expr(p, E_STRING, loc);
    e->u.str = t;
    return e;
}

Expr *ast_name(Parser *p, const char *name, Loc loc)
{
    Expr *e = ast_expr(p, E_NAME, loc);
    e->u.name = name;
    return e;
}

Expr *ast_unary(Parser *p, Operator op, Expr *a, Loc loc)
{
    Expr *e = ast_expr(p, E_UNARY, loc);
    e->u.op.op = op;
    e->u.op.a = a;
    return e;
}

Expr *ast_binary(Parser *p, Operator op, Expr *a, Expr *b, Loc loc)
{
    Expr *e = ast_expr(p, E_BINARY, loc);
    e->u.op.op = op;
    e->u.op.a = a;
    e->u.op.b = b;
    return e;
}

Expr *ast_cond(Parser *p, Expr *then, Expr *cond, Expr *els, Loc loc)
{
    Expr *e = ast_expr(p, E_COND, loc);
    e->u.cond.cond = cond;
    e->u.cond.then = then;
    e->u.cond.els = els;
    return e;
}

Expr *ast_call(Parser *p, Expr *fn, Arg *args, Loc loc)
{
    Expr *e = ast_expr(p, E_CALL, loc);
    e->u.call.fn = fn;
    e->u.call.args = args;
    return e;
}

Expr *ast_index(Parser *p, Expr *base, Expr *items, Loc loc)
{
    Expr *e = ast_expr(p, E_INDEX, loc);
    e->u.index.base = base;
    e->u.index.items = items;
    return e;
}

Expr *ast_slice(Parser *p, Expr *lo, Expr *hi, Expr *step, Loc loc)
{
    Expr *e = ast_expr(p, E_SLICE, loc);
    e->u.slice.lo = lo;
    e->u.slice.hi = hi;
    e->u.slice.step = step;
    return e;
}

Expr *ast_list(Parser *p, Expr *items, Loc loc)
{
    Expr *e = ast_expr(p, E_LIST, loc);
    e->u.items = items;
    return e;
}

Arg *ast_arg(Parser *p, const char *name, Expr *value, Loc loc)
{
    Arg *a = ast_alloc(p, sizeof *a);
    a->name = name;
    a->value = value;
    a->loc = loc;
    return a;
}

Stmt *ast_stmt(Parser *p, StmtKind k, Loc loc)
{
    Stmt *s = ast_alloc(p, sizeof *s);
    s->kind = k;
    s->loc = loc;
    return s;
}

/* ---- lists ---- */

void stmts_append(StmtList *l, Stmt *s)
{
    if (!s)
        return;
    if (l->tail)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
    s->next = NULL;
}

void exprs_append(ExprList *l, Expr *e)
{
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    e->next = NULL;
}

void args_append(ArgList *l, Arg *a)
{
    if (l->tail)
        l->tail->next = a;
    else
        l->head = a;
    l->tail = a;
    a->next = NULL;
}

/* ---- string literals ---- */

/* Growable byte buffer for the text parts of a template. */
typedef struct {
    char *b;
    size_t n, cap;
} Buf;

static bool buf_put(Buf *b, char c)
{
    if (b->n + 1 >= b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *nb = ir_realloc(b->b, cap);
        if (!nb)
            return false;
        b->b = nb;
        b->cap = cap;
    }
    b->b[b->n++] = c;
    return true;
}

static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

typedef struct {
    TemplatePart *parts;
    int n, cap;
} PartList;

static bool add_part(Parser *p, PartList *l, TemplatePart part)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        TemplatePart *np = ast_alloc(p, (size_t)cap * sizeof *np);
        if (!np || p->oom)
            return false;
        if (l->n)
            memcpy(np, l->parts, (size_t)l->n * sizeof *np);
        l->parts = np;
        l->cap = cap;
    }
    l->parts[l->n++] = part;
    return true;
}

static bool flush_text(Parser *p, PartList *l, Buf *b, Loc loc)
{
    if (b->n == 0)
        return true;
    TemplatePart t = {TP_TEXT, ast_strndup(p, b->b, b->n), b->n, loc};
    b->n = 0;
    return add_part(p, l, t);
}

Template *ast_template(Parser *p, const char *text, size_t len, Loc loc)
{
    Template *t = ast_alloc(p, sizeof *t);
    PartList parts = {0};
    Buf buf = {0};
    Loc textloc = loc;
    /* text[0] is the opening quote; the closing one is excluded by the caller's len */
    for (size_t i = 1; i < len; i++) {
        char c = text[i];
        Loc here = {loc.file, loc.line, loc.col + (int)i};
        if (c == '\\') {
            char e = i + 1 < len ? text[i + 1] : 0, r;
            switch (e) {
            case 'n': r = '\n'; break;
            case 't': r = '\t'; break;
            case 'r': r = '\r'; break;
            case '\\': r = '\\'; break;
            case '"': r = '"'; break;
            default:
                ast_error(p, here, "unknown escape sequence in string; the escapes are \\n \\t \\r \\\\ \\\"");
                t->bad = true;
                r = '?';
            }
            if (!buf_put(&buf, r))
                p->oom = true;
            i++;
        } else if (c == '{' && i + 1 < len && text[i + 1] == '{') {
            if (!buf_put(&buf, '{'))
                p->oom = true;
            i++;
        } else if (c == '}' && i + 1 < len && text[i + 1] == '}') {
            if (!buf_put(&buf, '}'))
                p->oom = true;
            i++;
        } else if (c == '{') {
            const char *close = memchr(text + i + 1, '}', len - i - 1);
            if (!close) {
                ast_error(p, here, "unclosed '{' in string; write '{{' for a literal brace");
                t->bad = true;
                break;
            }
            size_t k = (size_t)(close - text), j = i + 1;
            while (j < k && (text[j] == ' ' || text[j] == '\t'))
                j++;
            size_t start = j;
            while (j < k && is_name_char(text[j]))
                j++;
            size_t end = j;
            while (j < k && (text[j] == ' ' || text[j] == '\t'))
                j++;
            if (j != k || end == start || !is_name_start(text[start])) {
                Loc at = {loc.file, loc.line, loc.col + (int)(start < k ? start : i)};
                ast_error(p, at, "expected a name inside '{...}' in string; write '{{' for a literal brace");
                t->bad = true;
                i = k;
                continue;
            }
            if (!flush_text(p, &parts, &buf, textloc))
                break;
            Loc nameloc = {loc.file, loc.line, loc.col + (int)start};
            TemplatePart n = {TP_NAME, ast_strndup(p, text + start, end - start), end - start, nameloc};
            if (!add_part(p, &parts, n))
                break;
            i = k;
            textloc = (Loc){loc.file, loc.line, loc.col + (int)k + 1};
        } else if (c == '}') {
            ast_error(p, here, "unmatched '}' in string; write '}}' for a literal brace");
            t->bad = true;
        } else if ((unsigned char)c < 0x20 && c != '\t') {
            ast_error(p, here, "control character (byte 0x%02x) in string; use an escape", (unsigned char)c);
            t->bad = true;
        } else if (!buf_put(&buf, c)) {
            p->oom = true;
        }
    }
    flush_text(p, &parts, &buf, textloc);
    ir_free(buf.b);
    t->parts = parts.parts;
    t->nparts = parts.n;
    return t;
}
