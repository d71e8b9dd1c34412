/* dot.c — the graph as Graphviz (`vitc dump --dot | dot -Tsvg`).
 *
 * One box per op: its name, the attributes that differ from their defaults (long lists
 * shortened), its result type. Inputs and outputs are ellipses; parameters small grey
 * notes with their name and type; edges of non-commutative ops with several operands are
 * labelled with the operand's position.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "ir.h"

enum { LIST_SHOWN = 6 }; /* list items shown before "..." */

/* A label being built; it is cut (with "...") when full. */
typedef struct {
    char s[1024];
    size_t n;
} Label;

static void put(Label *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Label *l, const char *fmt, ...)
{
    if (l->n >= sizeof l->s - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
    va_end(ap);
    l->n += k < 0 ? 0 : (size_t)k;
    if (l->n >= sizeof l->s - 1) {
        l->n = sizeof l->s - 1;
        memcpy(l->s + l->n - 3, "...", 4);
    }
}

static void put_dim(Label *l, const Graph *g, Dim d)
{
    if (dim_is_const(d))
        put(l, "%" PRId64, d.n);
    else if (d.sym >= g->nsyms)
        put(l, "%" PRId64 "*?", d.n);
    else if (d.n == 1)
        put(l, "%s", g->syms[d.sym].name);
    else
        put(l, "%" PRId64 "*%s", d.n, g->syms[d.sym].name);
}

static void put_shape(Label *l, const Graph *g, const Shape *s, const char *sep)
{
    put(l, "[");
    for (int i = 0; i < s->rank && i < IR_MAX_RANK; i++) {
        put(l, "%s", i ? sep : "");
        put_dim(l, g, s->d[i]);
    }
    put(l, "]");
}

static void put_type(Label *l, const Graph *g, int32_t v)
{
    if (v < 0 || v >= g->nvalues)
        return;
    put(l, "%s", dtype_name(ir_type(g, v)->dt));
    put_shape(l, g, &ir_type(g, v)->shape, ",");
}

static void put_field(Label *l, const Graph *g, const AttrField *f, const void *p)
{
    char buf[40];
    switch (f->type) {
    case FT_BOOL: put(l, "%s", *(const bool *)p ? "true" : "false"); break;
    case FT_INT: put(l, "%" PRId64, *(const int64_t *)p); break;
    case FT_FLOAT: ir_format_double(*(const double *)p, buf, sizeof buf); put(l, "%s", buf); break;
    case FT_STR: put(l, "\"%s\"", *(const char *const *)p ? *(const char *const *)p : ""); break;
    case FT_DTYPE: put(l, "%s", dtype_name(*(const DType *)p)); break;
    case FT_ENUM: {
        int e = *(const int *)p;
        put(l, "%s", e >= 0 && e < f->enum_count ? f->enum_names[e] : "?");
        break;
    }
    case FT_INTS: {
        const IntList *li = p;
        put(l, "[");
        for (int32_t i = 0; i < li->n && i < LIST_SHOWN; i++)
            put(l, "%s%" PRId64, i ? ", " : "", li->v[i]);
        put(l, "%s]", li->n > LIST_SHOWN ? ", ..." : "");
        break;
    }
    case FT_FLOATS: {
        const FloatList *li = p;
        put(l, "[");
        for (int32_t i = 0; i < li->n && i < LIST_SHOWN; i++) {
            ir_format_double(li->v[i], buf, sizeof buf);
            put(l, "%s%s", i ? ", " : "", buf);
        }
        put(l, "%s]", li->n > LIST_SHOWN ? ", ..." : "");
        break;
    }
    case FT_SHAPE: put_shape(l, g, p, ", "); break;
    }
}

/* one line per non-default field, except `skip` */
static void put_attrs(Label *l, const Graph *g, AttrKind k, const Attr *a, const char *skip)
{
    const AttrSchema *s = attr_schema(k);
    for (int i = 0; i < s->nfields; i++) {
        const AttrField *f = &s->fields[i];
        if ((skip && strcmp(f->name, skip) == 0) || attr_field_is_default(k, a, f))
            continue;
        put(l, "\n%s = ", f->name);
        put_field(l, g, f, attr_field_cptr(a, f));
    }
}

/* A DOT string: quotes and backslashes escaped, newlines as \n. */
static void print_dot_string(const char *s, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else
            fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
    }
    fputc('"', out);
}

static void print_node(const Graph *g, int32_t i, FILE *out)
{
    const Node *n = &g->nodes[i];
    const OpInfo *info = &ir_ops[n->op];
    Label l = {.n = 0};
    const char *style = "";
    if (n->op == OP_PARAM) {
        put(&l, "$%s", n->attr.param.name ? n->attr.param.name : "");
        put_attrs(&l, g, info->attr, &n->attr, "name");
        put(&l, "\n");
        style = ", shape=note, fontsize=8, fillcolor=\"#eeeeee\"";
    } else if (n->op == OP_INPUT) {
        put(&l, "input %s\n", n->attr.input.name ? n->attr.input.name : "");
        style = ", shape=ellipse, fillcolor=\"#d5e8d4\"";
    } else if (n->op == OP_CONST && n->attr.constant.data.n == 1) {
        char buf[40];
        ir_format_double(n->attr.constant.data.v[0], buf, sizeof buf);
        put(&l, "constant %s\n", buf);
        style = ", fontsize=8, fillcolor=\"#eeeeee\"";
    } else {
        put(&l, "%s", info->name);
        put_attrs(&l, g, info->attr, &n->attr, NULL);
        put(&l, "\n");
        if (info->flags & OPF_MATMUL)
            style = ", fillcolor=\"#fff2cc\"";
    }
    for (int32_t r = 0; r < n->nout; r++) {
        put(&l, "%s", r ? ", " : "");
        put_type(&l, g, n->out + r);
    }
    fprintf(out, "  n%" PRId32 " [label=", i);
    print_dot_string(l.s, out);
    fprintf(out, "%s];\n", style);
}

void ir_print_dot(const Graph *g, FILE *out)
{
    fputs("digraph ", out);
    print_dot_string(g->name ? g->name : "main", out);
    fputs(" {\n  rankdir=TB;\n"
          "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\","
          " fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n",
          out);
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || (unsigned)n->op >= OP_COUNT)
            continue;
        print_node(g, i, out);
        bool label = n->nin > 1 && !(ir_ops[n->op].flags & OPF_COMM);
        for (int32_t j = 0; j < n->nin; j++) {
            int32_t v = n->in[j];
            if (v < 0 || v >= g->nvalues)
                continue;
            fprintf(out, "  n%" PRId32 " -> n%" PRId32, g->values[v].node, i);
            if (label)
                fprintf(out, " [label=\"%" PRId32 "\"]", j);
            fputs(";\n", out);
        }
    }
    for (int32_t o = 0; o < g->noutputs; o++) {
        int32_t v = g->outputs[o].value;
        Label l = {.n = 0};
        put(&l, "output %s", g->outputs[o].name ? g->outputs[o].name : "");
        fprintf(out, "  out%" PRId32 " [label=", o);
        print_dot_string(l.s, out);
        fputs(", shape=ellipse, fillcolor=\"#dae8fc\"];\n", out);
        if (v >= 0 && v < g->nvalues)
            fprintf(out, "  n%" PRId32 " -> out%" PRId32 ";\n", g->values[v].node, o);
    }
    fputs("}\n", out);
}
