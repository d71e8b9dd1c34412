/* print.c — the printer of the text form of the Graph IR (grammar: ir/IR.md).
 *
 *   graph @vit_b16 {
 *     dim B <= 64
 *     %0 = input {name = "image"} : f32[B,224,224,3]
 *     %1 = param $head.weight : f32[768,1000]  # vit_b16.vit:21:12
 *     ...
 *     output logits = %200
 *   }
 *
 * Values are numbered %0, %1, ... in definition order whatever their ids; attributes are
 * printed by one generic routine driven by attr_schema(), only the fields that differ from
 * their default. ir_parse() reads this back exactly: print → parse → print is the identity.
 * The printer never trusts the graph (it also prints graphs that fail the verifier, for
 * --print-after of a broken pass): ids and symbols out of range print recognisably.
 */
#include <inttypes.h>
#include <string.h>

#include "ir.h"

/* A bare $param, @graph or output name: [A-Za-z0-9_.:/-]+ (outputs: identifiers). */
static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '/' || c == '-';
}

static bool is_bare_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_name_char((unsigned char)*s))
            return false;
    return true;
}

static bool is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* "..." with \\ \" \n \t \r and \xHH for other control bytes; bytes ≥ 0x80 as they are. */
static void print_quoted(const char *s, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void print_name(const char *s, FILE *out)
{
    if (!s)
        s = "";
    if (is_bare_name(s))
        fputs(s, out);
    else
        print_quoted(s, out);
}

/* as ir_format_dim(), of any length */
static void print_dim(const Graph *g, Dim d, FILE *out)
{
    if (dim_is_const(d))
        fprintf(out, "%" PRId64, d.n);
    else if (d.sym >= g->nsyms || !g->syms[d.sym].name)
        fprintf(out, "%" PRId64 "*?sym%" PRId32, d.n, d.sym);
    else if (d.n == 1)
        fputs(g->syms[d.sym].name, out);
    else
        fprintf(out, "%" PRId64 "*%s", d.n, g->syms[d.sym].name);
}

/* `[B,197,768]` in types; `[B, 197, 768]` (sep ", ") in attributes */
static void print_shape(const Graph *g, const Shape *s, const char *sep, FILE *out)
{
    int rank = s->rank < 0 ? 0 : s->rank > IR_MAX_RANK ? IR_MAX_RANK : s->rank;
    fputc('[', out);
    for (int i = 0; i < rank; i++) {
        if (i)
            fputs(sep, out);
        print_dim(g, s->d[i], out);
    }
    fputc(']', out);
}

void ir_print_type(const Graph *g, const Type *t, FILE *out)
{
    fputs(dtype_name(t->dt), out);
    print_shape(g, &t->shape, ",", out);
}

static void print_double(double v, FILE *out)
{
    char buf[40];
    ir_format_double(v, buf, sizeof buf);
    fputs(buf, out);
}

static void print_field(const Graph *g, const AttrField *f, const void *p, FILE *out)
{
    switch (f->type) {
    case FT_BOOL:
        fputs(*(const bool *)p ? "true" : "false", out);
        break;
    case FT_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)p);
        break;
    case FT_FLOAT:
        print_double(*(const double *)p, out);
        break;
    case FT_STR:
        print_quoted(*(const char *const *)p ? *(const char *const *)p : "", out);
        break;
    case FT_DTYPE:
        fputs(dtype_name(*(const DType *)p), out);
        break;
    case FT_ENUM: {
        int e = *(const int *)p;
        if (e >= 0 && e < f->enum_count)
            fputs(f->enum_names[e], out);
        else
            fprintf(out, "?%d", e);
        break;
    }
    case FT_INTS: {
        const IntList *l = p;
        fputc('[', out);
        for (int32_t i = 0; i < l->n; i++)
            fprintf(out, "%s%" PRId64, i ? ", " : "", l->v[i]);
        fputc(']', out);
        break;
    }
    case FT_FLOATS: {
        const FloatList *l = p;
        fputc('[', out);
        for (int32_t i = 0; i < l->n; i++) {
            if (i)
                fputs(", ", out);
            print_double(l->v[i], out);
        }
        fputc(']', out);
        break;
    }
    case FT_SHAPE:
        print_shape(g, p, ", ", out);
        break;
    }
}

/* ` {field = value, ...}` for the fields that differ from their default, except `skip`. */
static void print_attrs(const Graph *g, AttrKind k, const Attr *a, const char *skip, FILE *out)
{
    const AttrSchema *s = attr_schema(k);
    int printed = 0;
    for (int i = 0; i < s->nfields; i++) {
        const AttrField *f = &s->fields[i];
        if ((skip && strcmp(f->name, skip) == 0) || attr_field_is_default(k, a, f))
            continue;
        fputs(printed++ ? ", " : " {", out);
        fprintf(out, "%s = ", f->name);
        print_field(g, f, attr_field_cptr(a, f), out);
    }
    if (printed)
        fputc('}', out);
}

/* The trailing `# file:line:col`; a file name that would not read back bare is quoted. */
static void print_loc(Loc loc, FILE *out)
{
    const char *f = loc.file;
    size_t n = strlen(f);
    bool quote = n == 0 || f[0] == '"' || f[0] == ' ' || f[0] == '\t' || f[n - 1] == ' ' ||
                 f[n - 1] == '\t';
    for (const unsigned char *p = (const unsigned char *)f; *p && !quote; p++)
        quote = *p < 0x20 || *p == 0x7f;
    fputs("  # ", out);
    if (quote)
        print_quoted(f, out);
    else
        fputs(f, out);
    fprintf(out, ":%" PRId32 ":%" PRId32, loc.line, loc.col);
}

static void print_value(const int32_t *num, const Graph *g, int32_t v, FILE *out)
{
    if (v < 0 || v >= g->nvalues)
        fprintf(out, "%%bad.%" PRId32, v);
    else if (num && num[v] < 0)
        fprintf(out, "%%dead.%" PRId32, v);
    else
        fprintf(out, "%%%" PRId32, num ? num[v] : v);
}

/* The one field printed positionally: the name of a parameter, `param $name`. */
static const char *positional_field(Op op) { return op == OP_PARAM ? "name" : NULL; }

static void print_node(const Graph *g, const Node *n, const int32_t *num, FILE *out)
{
    if ((unsigned)n->op >= OP_COUNT) {
        fprintf(out, "  # node with the invalid op %d\n", (int)n->op);
        return;
    }
    const OpInfo *info = &ir_ops[n->op];
    fputs("  ", out);
    for (int32_t r = 0; r < n->nout; r++) {
        fputs(r ? ", " : "", out);
        print_value(num, g, n->out + r, out);
    }
    fprintf(out, "%s%s", n->nout ? " = " : "", info->name);
    const char *pos = positional_field(n->op);
    if (pos) {
        const AttrField *f = attr_field_find(info->attr, pos, strlen(pos));
        fputs(" $", out);
        print_name(*(const char *const *)attr_field_cptr(&n->attr, f), out);
    }
    if (n->nin > 0) {
        fputc('(', out);
        for (int32_t i = 0; i < n->nin; i++) {
            fputs(i ? ", " : "", out);
            print_value(num, g, n->in[i], out);
        }
        fputc(')', out);
    }
    print_attrs(g, info->attr, &n->attr, pos, out);
    for (int32_t r = 0; r < n->nout; r++) {
        fputs(r ? ", " : " : ", out);
        if (n->out + r >= 0 && n->out + r < g->nvalues)
            ir_print_type(g, ir_type(g, n->out + r), out);
        else
            fputs("?", out);
    }
    if (n->loc.file)
        print_loc(n->loc, out);
    fputc('\n', out);
}

void ir_print(const Graph *g, FILE *out)
{
    /* printed numbers in definition order; without memory, the ids themselves */
    int32_t *num = ir_malloc((size_t)(g->nvalues ? g->nvalues : 1) * sizeof *num);
    if (num) {
        int32_t next = 0;
        memset(num, 0xff, (size_t)g->nvalues * sizeof *num);
        for (int32_t i = 0; i < g->nnodes; i++) {
            const Node *n = &g->nodes[i];
            for (int32_t r = 0; !n->dead && r < n->nout; r++)
                if (n->out + r >= 0 && n->out + r < g->nvalues && num[n->out + r] < 0)
                    num[n->out + r] = next++;
        }
    }

    fputs("graph @", out);
    print_name(g->name ? g->name : "main", out);
    fputs(" {\n", out);
    for (int32_t s = 0; s < g->nsyms; s++)
        fprintf(out, "  dim %s <= %" PRId64 "\n", g->syms[s].name ? g->syms[s].name : "?",
                g->syms[s].max);
    Attr meta, def; /* whole Attrs: attr_set_defaults clears sizeof(Attr) bytes */
    attr_set_defaults(ATTR_META, &meta);
    attr_set_defaults(ATTR_META, &def);
    meta.meta = g->meta;
    if (!attr_eq(ATTR_META, &meta, &def)) {
        fputs("  meta", out);
        print_attrs(g, ATTR_META, &meta, NULL, out);
        fputc('\n', out);
    }
    for (int32_t i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead)
            print_node(g, &g->nodes[i], num, out);
    for (int32_t i = 0; i < g->noutputs; i++) {
        const char *name = g->outputs[i].name ? g->outputs[i].name : "";
        fputs("  output ", out);
        if (is_ident(name))
            fputs(name, out);
        else
            print_quoted(name, out);
        fputs(" = ", out);
        print_value(num, g, g->outputs[i].value, out);
        fputc('\n', out);
    }
    fputs("}\n", out);
    ir_free(num);
}
