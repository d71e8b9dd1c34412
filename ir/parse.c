/* parse.c — the parser of the text form of the Graph IR (grammar: ir/IR.md): its
 * statements. The lexer is parse_lex.c, types and attribute lists parse_attr.c.
 *
 * Recursive descent without recursion: the grammar is one statement per line and flat
 * lists. Every node is built with ir_build(), so shapes
 * are inferred and checked exactly as for the frontend; a written result type must equal
 * the inferred one (it is the declaration itself for the source ops input, param and
 * constant). Errors are diagnostics at the .vir position; after one, the parser skips to
 * the end of the line and goes on (names defined by a failed line are poisoned so their
 * uses do not cascade), until diag_too_many(). Names are found through hash tables, so
 * the time is linear in the input.
 */
#include <string.h>

#include "parse.h"

static bool parse_int32(const char *s, const char *end, int32_t *v)
{
    bool neg = s < end && *s == '-';
    int64_t x = 0;
    if (neg)
        s++;
    if (s == end)
        return false;
    for (; s < end; s++) {
        if (!vir_is_digit(*s) || x > INT32_MAX)
            return false;
        x = x * 10 + (*s - '0');
    }
    if (x > (int64_t)INT32_MAX + neg)
        return false;
    *v = (int32_t)(neg ? -x : x);
    return true;
}

/* A trailing comment `# file:line:col` (file bare, or quoted) is the node's location;
 * any other comment is not. */
static bool parse_loc(Parser *p, const char *s, size_t n, Loc *loc)
{
    const char *end = s + n, *bad, *why;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    const char *colc = end, *coll, *fend;
    while (colc > s && colc[-1] != ':')
        colc--;
    if (colc <= s + 1)
        return false;
    for (coll = colc - 1; coll > s && coll[-1] != ':';)
        coll--;
    if (coll <= s + 1)
        return false;
    fend = coll - 1;
    if (!parse_int32(coll, colc - 1, &loc->line) || !parse_int32(colc, end, &loc->col))
        return false;
    if (!p->scratch && !(p->scratch = arena_new()))
        return vir_oom(p);
    if (*s == '"') {
        const char *q = vir_scan_string(s, fend, &bad, &why);
        if (q != fend - 1)
            return false;
        loc->file = vir_unescape(p, s, (size_t)(fend - s));
    } else {
        loc->file = arena_strndup(p->scratch, s, (size_t)(fend - s));
    }
    return loc->file ? true : vir_oom(p);
}

/* `dim NAME <= MAX` */
static bool parse_dim_stmt(Parser *p)
{
    vir_lex(p);
    Token name = p->tok;
    if (!vir_expect(p, T_IDENT, "a symbol name"))
        return false;
    if (vir_map_find(&p->syms, name.s, name.n)) {
        error_tok(p, &name, "symbol '%.*s' is declared twice", (int)name.n, name.s);
        return false;
    }
    if (p->g->nsyms >= MAX_SYMBOLS) {
        error_tok(p, &name, "too many symbols (at most %d)", MAX_SYMBOLS);
        return false;
    }
    if (!vir_expect(p, T_LE, "'<='"))
        return false;
    Token max = p->tok;
    if (max.kind != T_INT || max.i < 1) {
        error_tok(p, &max, "expected the symbol's maximum, an integer of at least 1, got %s", vir_describe(p, &max));
        return false;
    }
    vir_lex(p);
    if (!vir_end_of_line(p))
        return false;
    const char *s = vir_tok_string(p, &name);
    int32_t sym = s ? ir_symbol(p->g, s, max.i) : -1;
    Entry *e = sym >= 0 ? vir_map_add(&p->syms, p->g->syms[sym].name, name.n) : NULL;
    if (!e)
        return s ? vir_oom(p) : false;
    e->val = sym;
    return true;
}

/* `meta {field = value, ...}` */
static bool parse_meta(Parser *p)
{
    Token kw = p->tok;
    vir_lex(p);
    if (p->tok.kind != T_LBRACE) {
        error_tok(p, &p->tok, "expected '{' after 'meta', got %s", vir_describe(p, &p->tok));
        return false;
    }
    bool seen[MAX_FIELDS] = {0};
    Attr a;
    attr_set_defaults(ATTR_META, &a);
    if (!vir_parse_attrs(p, ATTR_META, &a, "meta", seen) || !vir_end_of_line(p))
        return false;
    if (p->meta_seen) {
        error_tok(p, &kw, "meta is given twice");
        return false;
    }
    p->meta_seen = true;
    if (!ir_attr_own(p->g, ATTR_META, &a))
        return vir_oom(p);
    p->g->meta = a.meta;
    return true;
}

/* Looks up the value `%name` of token t: its id, -1 for a name defined by a failed line
 * (nothing is reported), -2 when undefined (reported). */
static int32_t use_value(Parser *p, const Token *t)
{
    Entry *e = vir_map_find(&p->values, t->s + 1, t->n - 1);
    if (e)
        return e->val;
    error_tok(p, t, "use of undefined value %.*s", (int)t->n, t->s);
    return -2;
}

/* `output NAME = %v` */
static bool parse_output(Parser *p)
{
    vir_lex(p);
    Token name = p->tok;
    if (name.kind != T_IDENT && name.kind != T_STR) {
        error_tok(p, &name, "expected the output's name, got %s", vir_describe(p, &name));
        return false;
    }
    vir_lex(p);
    if (!vir_expect(p, T_EQ, "'='"))
        return false;
    Token v = p->tok;
    if (!vir_expect(p, T_VAL, "a value such as %3") || !vir_end_of_line(p))
        return false;
    int32_t id = use_value(p, &v);
    const char *s = vir_tok_string(p, &name);
    if (id < 0 || !s)
        return false;
    if (vir_map_find(&p->outputs, s, strlen(s))) {
        error_tok(p, &name, "output '%s' is declared twice", s);
        return false;
    }
    if (!ir_add_output(p->g, s, id))
        return vir_oom(p);
    const char *key = p->g->outputs[p->g->noutputs - 1].name;
    return vir_map_add(&p->outputs, key, strlen(key)) || vir_oom(p);
}

/* Input and parameter names are unique (ir_verify), checked here with a location. */
static bool check_unique_name(Parser *p, const Node *n, const Token *at)
{
    Map *m = n->op == OP_INPUT ? &p->inputs : n->op == OP_PARAM ? &p->params : NULL;
    const char *name = n->op == OP_INPUT ? n->attr.input.name : n->op == OP_PARAM ? n->attr.param.name : NULL;
    if (!m || !name)
        return true;
    if (vir_map_find(m, name, strlen(name))) {
        error_tok(p, at, "%s '%s' is declared twice", n->op == OP_INPUT ? "input" : "parameter", name);
        return false;
    }
    return vir_map_add(m, name, strlen(name)) || vir_oom(p);
}

static void format_type(const Graph *g, const Type *t, char *buf, size_t n)
{
    char s[600];
    ir_format_shape(g, &t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s", dtype_name(t->dt), s);
}

/* The packed inputs together (ir_verify_packed), once the graph is whole; an error at the
 * line that defines the input breaking the rule. */
static void check_packed(Parser *p)
{
    IrError err;
    int32_t bad = ir_verify_packed(p->g, &err);
    if (bad < 0)
        return;
    int32_t v = p->g->nodes[bad].out, line = p->line, col = 1;
    for (size_t j = 0; j < p->values.cap; j++)
        if (p->values.e[j].key && p->values.e[j].val == v) {
            line = p->values.e[j].line, col = p->values.e[j].col;
            break;
        }
    vir_error(p, line, col, "%s", err.msg);
}

/* The operands, attributes and types after the op name; builds the node. Returns its
 * first result, or -1 (reported, or silently for an operand of a failed line). */
static int32_t parse_node_rest(Parser *p, Op op, const Token *optok, int nres)
{
    const OpInfo *info = &ir_ops[op];
    Attr attr;
    bool seen[MAX_FIELDS] = {0};
    Token name = {0}, tytok[MAX_RESULTS];
    bool named = false;
    Type types[MAX_RESULTS];
    int ntypes = 0;
    int32_t nops = 0;
    bool poisoned = false;
    attr_set_defaults(info->attr, &attr);

    if (p->tok.kind == T_PNAME) {
        const AttrField *f = attr_field_find(info->attr, "name", 4);
        if (op != OP_PARAM || !f) {
            error_tok(p, &p->tok, "only 'param' takes a $name");
            return -1;
        }
        name = p->tok;
        named = true;
        if (!(*(const char **)attr_field_ptr(&attr, f) = vir_tok_string(p, &name)))
            return -1;
        if (f - attr_schema(info->attr)->fields < MAX_FIELDS)
            seen[f - attr_schema(info->attr)->fields] = true;
        vir_lex(p);
    }
    if (vir_accept(p, T_LPAREN) && !vir_accept(p, T_RPAREN)) {
        for (;;) {
            Token v = p->tok;
            if (!vir_expect(p, T_VAL, "an operand such as %3"))
                return -1;
            int32_t id = use_value(p, &v);
            if (id == -2)
                return -1;
            poisoned |= id < 0;
            if (nops == p->capops) {
                int32_t cap = p->capops ? (p->capops > INT32_MAX / 2 ? INT32_MAX : p->capops * 2) : 16;
                int32_t *o = cap > nops ? ir_realloc(p->ops, (size_t)cap * sizeof *o) : NULL;
                if (!o)
                    return vir_oom(p), -1;
                p->ops = o;
                p->capops = cap;
            }
            p->ops[nops++] = id;
            if (vir_accept(p, T_RPAREN))
                break;
            if (!vir_expect(p, T_COMMA, "',' or ')' in the operands"))
                return -1;
        }
    }
    char what[64];
    snprintf(what, sizeof what, "'%s'", info->name);
    if (p->tok.kind == T_LBRACE && !vir_parse_attrs(p, info->attr, &attr, what, seen))
        return -1;
    if (vir_accept(p, T_COLON)) {
        do {
            if (ntypes == MAX_RESULTS) {
                error_tok(p, &p->tok, "too many result types");
                return -1;
            }
            tytok[ntypes] = p->tok;
            if (!vir_parse_type(p, &types[ntypes++]))
                return -1;
        } while (vir_accept(p, T_COMMA));
    }
    if (!vir_end_of_line(p) || poisoned)
        return -1;

    Loc loc = {0};
    if (p->tok.cmt && !parse_loc(p, p->tok.cmt, p->tok.ncmt, &loc))
        loc = (Loc){0};
    if (p->oom)
        return -1;
    if (nres != info->nout) {
        error_tok(p, optok, "'%s' has %d result%s, but %d name%s given", info->name, info->nout,
                  info->nout == 1 ? "" : "s", nres, nres == 1 ? " is" : "s are");
        return -1;
    }
    if (ntypes && ntypes != info->nout) {
        error_tok(p, &tytok[0], "'%s' has %d result%s, but %d type%s given", info->name, info->nout,
                  info->nout == 1 ? "" : "s", ntypes, ntypes == 1 ? " is" : "s are");
        return -1;
    }
    if ((info->flags & OPF_SOURCE) && !ntypes) {
        error_tok(p, optok, "'%s' needs its result type after ':'", info->name);
        return -1;
    }
    IrError err;
    int32_t id = ir_build(p->g, op, p->ops, nops, &attr, (info->flags & OPF_SOURCE) ? &types[0] : NULL,
                          loc, &err);
    if (id < 0) {
        error_tok(p, optok, "%s", err.msg);
        return -1;
    }
    if (!check_unique_name(p, &p->g->nodes[p->g->nnodes - 1], named ? &name : optok))
        return id;
    for (int r = 0; r < ntypes; r++)
        if (!type_eq(&types[r], ir_type(p->g, id + r))) {
            char want[700], have[700];
            format_type(p->g, &types[r], have, sizeof have);
            format_type(p->g, ir_type(p->g, id + r), want, sizeof want);
            error_tok(p, &tytok[r], "type annotation %s does not match the inferred %s", have, want);
            break;
        }
    return id;
}

/* `%a, %b = op ...` or `op ...` (an op without results) */
static bool parse_node(Parser *p)
{
    Token res[MAX_RESULTS];
    int nres = 0;
    bool ok = true;
    while (p->tok.kind == T_VAL) {
        if (nres == MAX_RESULTS) {
            error_tok(p, &p->tok, "too many results (at most %d)", MAX_RESULTS);
            return false;
        }
        res[nres++] = p->tok;
        vir_lex(p);
        if (!vir_accept(p, T_COMMA))
            break;
        if (p->tok.kind != T_VAL) {
            error_tok(p, &p->tok, "expected a value name, got %s", vir_describe(p, &p->tok));
            return false;
        }
    }
    if (nres && !vir_expect(p, T_EQ, "'='"))
        return false;
    for (int r = 0; r < nres; r++) {
        const Entry *e = vir_map_find(&p->values, res[r].s + 1, res[r].n - 1);
        bool dup = false;
        for (int q = 0; q < r; q++)
            dup |= res[q].n == res[r].n && memcmp(res[q].s, res[r].s, res[r].n) == 0;
        if (e || dup) {
            error_tok(p, &res[r], "redefinition of %.*s", (int)res[r].n, res[r].s);
            if (e)
                diag_note(p->d, (Loc){p->file, e->line, e->col}, "%.*s was defined here", (int)res[r].n, res[r].s);
            return false;
        }
    }
    Token optok = p->tok;
    Op op;
    int32_t id = -1;
    if (optok.kind != T_IDENT) {
        error_tok(p, &optok, "expected an op name, got %s", vir_describe(p, &optok));
        ok = false;
    } else if (!op_from_name(optok.s, optok.n, &op)) {
        error_tok(p, &optok, "unknown op '%.*s'", (int)optok.n, optok.s);
        ok = false;
    } else {
        vir_lex(p);
        id = parse_node_rest(p, op, &optok, nres);
        ok = id >= 0 && !p->oom;
    }
    /* define the names; those of a failed line stay poisoned (-1) */
    for (int r = 0; r < nres; r++) {
        Entry *e = vir_map_add(&p->values, res[r].s + 1, res[r].n - 1);
        if (!e)
            return vir_oom(p);
        *e = (Entry){res[r].s + 1, res[r].n - 1, id < 0 ? -1 : id + r, res[r].line, res[r].col};
    }
    return ok;
}

static bool parse_statement(Parser *p)
{
    if (vir_is(&p->tok, "dim"))
        return parse_dim_stmt(p);
    if (vir_is(&p->tok, "meta"))
        return parse_meta(p);
    if (vir_is(&p->tok, "output"))
        return parse_output(p);
    if (p->tok.kind == T_VAL || p->tok.kind == T_IDENT)
        return parse_node(p);
    error_tok(p, &p->tok, "expected a statement (dim, meta, output or %%v = op ...), got %s",
              vir_describe(p, &p->tok));
    return false;
}

/* `graph @name {` */
static bool parse_header(Parser *p)
{
    while (vir_accept(p, T_NL))
        ;
    if (!vir_is(&p->tok, "graph")) {
        error_tok(p, &p->tok, "expected 'graph @name {', got %s", vir_describe(p, &p->tok));
        return false;
    }
    vir_lex(p);
    Token name = p->tok;
    if (!vir_expect(p, T_GLOBAL, "the graph's name (@name)") || !vir_expect(p, T_LBRACE, "'{'") || !vir_end_of_line(p))
        return false;
    const char *s = vir_tok_string(p, &name);
    if (!s)
        return false;
    if (!(p->g = ir_graph_new(s)))
        return vir_oom(p);
    return true;
}

Graph *ir_parse(const char *text, size_t len, const char *filename, Diag *d)
{
    Parser p = {.file = filename ? filename : "<input>", .d = d, .end = text + len, .pos = text,
                .bol = text, .line = 1};
    Diag *own = NULL;
    if (!p.d && !(p.d = own = diag_new(NULL)))
        return NULL;
    vir_lex(&p);
    bool closed = false;
    if (parse_header(&p)) {
        arena_free(p.scratch);
        p.scratch = NULL;
        while (!diag_too_many(p.d) && !p.oom) {
            if (vir_accept(&p, T_NL))
                continue;
            if (p.tok.kind == T_EOF) {
                error_tok(&p, &p.tok, "missing '}' at the end of the graph");
                break;
            }
            if (vir_accept(&p, T_RBRACE)) {
                closed = true;
                break;
            }
            if (!parse_statement(&p))
                vir_sync(&p);
            arena_free(p.scratch);
            p.scratch = NULL;
        }
    }
    while (closed && vir_accept(&p, T_NL))
        ;
    if (closed && p.tok.kind != T_EOF)
        error_tok(&p, &p.tok, "unexpected %s after the end of the graph (one graph per file)", vir_describe(&p, &p.tok));
    if (!p.errors && !p.oom)
        check_packed(&p);
    arena_free(p.scratch);
    ir_free(p.values.e);
    ir_free(p.syms.e);
    ir_free(p.inputs.e);
    ir_free(p.params.e);
    ir_free(p.outputs.e);
    ir_free(p.ops);
    ir_free(p.list);
    diag_free(own);
    if (p.errors || p.oom) {
        ir_graph_free(p.g);
        return NULL;
    }
    return p.g;
}
