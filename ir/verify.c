/* verify.c — the verifier: every invariant of a graph, checked after every pass.
 *
 * Result types are checked by rerunning shape inference, so the op table is the one
 * definition of what a well-typed node is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static bool fail(IrError *err, const Graph *g, int32_t node, const char *fmt, const char *detail)
{
    if (!err)
        return false;
    char where[128] = "";
    if (node >= 0) {
        const Node *n = &g->nodes[node];
        if (n->loc.file)
            snprintf(where, sizeof where, "node %d ('%s', %s:%d:%d)", node, ir_ops[n->op].name,
                     n->loc.file, n->loc.line, n->loc.col);
        else
            snprintf(where, sizeof where, "node %d ('%s')", node, ir_ops[n->op].name);
    }
    char msg[400];
    snprintf(msg, sizeof msg, fmt, detail ? detail : "");
    snprintf(err->msg, sizeof err->msg, "%s%s%s", where, where[0] ? ": " : "", msg);
    return false;
}

typedef struct {
    Op op;
    const char *name; /* interned */
    int32_t node;
} NamedNode;

static int cmp_named(const void *x, const void *y)
{
    const NamedNode *a = x, *b = y;
    if (a->op != b->op)
        return a->op < b->op ? -1 : 1;
    if (a->name != b->name)
        return (uintptr_t)a->name < (uintptr_t)b->name ? -1 : 1;
    return (a->node > b->node) - (a->node < b->node);
}

int32_t ir_verify_packed(const Graph *g, IrError *err)
{
    IrError local;
    if (!err)
        err = &local;
    int32_t role[PACK_COUNT];
    for (int r = 0; r < PACK_COUNT; r++)
        role[r] = -1;
    int64_t T = -1;
    int32_t first = -1;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_INPUT || n->attr.input.pack == PACK_NONE)
            continue;
        int p = n->attr.input.pack;
        if (role[p] >= 0) {
            snprintf(err->msg, sizeof err->msg, "a second packed input of role %s",
                     attr_field_find(ATTR_INPUT, "pack", 4)->enum_names[p]);
            return i;
        }
        role[p] = i;
        int64_t t = g->values[n->out].type.shape.d[0].n;
        if (T >= 0 && t != T) {
            snprintf(err->msg, sizeof err->msg, "packed input '%s' has %lld tokens, but '%s' has %lld",
                     n->attr.input.name, (long long)t, g->nodes[first].attr.input.name, (long long)T);
            return i;
        }
        T = t, first = first < 0 ? i : first;
    }
    if (first >= 0 && (role[PACK_SEG] < 0 || role[PACK_PATCHES] < 0)) {
        snprintf(err->msg, sizeof err->msg, "a packed sequence needs its %s input (pack = patches and pack = seg)",
                 role[PACK_SEG] < 0 ? "seg" : "patches");
        return first;
    }
    return -1;
}

bool ir_verify(const Graph *g, IrError *err)
{
    for (int32_t s = 0; s < g->nsyms; s++)
        if (!g->syms[s].name || g->syms[s].max < 1)
            return fail(err, g, -1, "symbol %s has no positive maximum", g->syms[s].name);

    int32_t expect_out = 0;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        const OpInfo *info;
        if ((unsigned)n->op >= OP_COUNT)
            return fail(err, g, -1, "a node has an invalid op%s", NULL);
        info = &ir_ops[n->op];
        if (n->dead)
            return fail(err, g, i, "dead node left in the graph%s", NULL);
        if (info->nin >= 0 ? n->nin != info->nin : n->nin < 1)
            return fail(err, g, i, "wrong number of operands%s", NULL);
        if (n->nout != info->nout || n->out != expect_out)
            return fail(err, g, i, "results are not numbered in order%s", NULL);
        for (int32_t r = 0; r < n->nout; r++)
            if (g->values[n->out + r].node != i || g->values[n->out + r].idx != r)
                return fail(err, g, i, "a result does not point back to its node%s", NULL);
        expect_out += n->nout;
        for (int32_t j = 0; j < n->nin; j++)
            if (n->in[j] < 0 || n->in[j] >= n->out)
                return fail(err, g, i, "an operand is not defined before its use%s", NULL);

        Type out[4] = {0};
        char msg[300] = "";
        if (info->flags & OPF_SOURCE)
            out[0] = g->values[n->out].type;
        if (!info->infer(g, n, out, msg, sizeof msg))
            return fail(err, g, i, "%s", msg);
        for (int32_t r = 0; r < n->nout; r++)
            if (!type_eq(&out[r], &g->values[n->out + r].type)) {
                char want[300], have[300];
                ir_format_shape(g, &out[r].shape, want, sizeof want);
                ir_format_shape(g, &g->values[n->out + r].type.shape, have, sizeof have);
                snprintf(msg, sizeof msg, "result type %s%s, but inference gives %s%s",
                         dtype_name(g->values[n->out + r].type.dt), have, dtype_name(out[r].dt), want);
                return fail(err, g, i, "%s", msg);
            }
    }
    if (expect_out != g->nvalues)
        return fail(err, g, -1, "values without a defining node%s", NULL);
    for (int32_t i = 0; i < g->noutputs; i++) {
        if (g->outputs[i].value < 0 || g->outputs[i].value >= g->nvalues)
            return fail(err, g, -1, "output '%s' is not a value of the graph", g->outputs[i].name);
        for (int32_t j = 0; j < i; j++)
            if (strcmp(g->outputs[i].name, g->outputs[j].name) == 0)
                return fail(err, g, -1, "output '%s' is declared twice", g->outputs[i].name);
    }
    /* inputs have distinct names, parameters too: names are interned, so equal names
       are equal pointers; sort them and compare neighbours */
    int32_t nnamed = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        nnamed += g->nodes[i].op == OP_INPUT || g->nodes[i].op == OP_PARAM;
    NamedNode *named = ir_malloc((size_t)(nnamed ? nnamed : 1) * sizeof *named);
    if (!named)
        return fail(err, g, -1, "out of memory while verifying%s", NULL);
    nnamed = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_INPUT || g->nodes[i].op == OP_PARAM)
            named[nnamed++] = (NamedNode){g->nodes[i].op, g->nodes[i].attr.input.name, i};
    qsort(named, (size_t)nnamed, sizeof *named, cmp_named);
    for (int32_t i = 1; i < nnamed; i++)
        if (named[i].op == named[i - 1].op && named[i].name == named[i - 1].name) {
            const NamedNode dup = named[i];
            ir_free(named);
            return fail(err, g, dup.node, dup.op == OP_INPUT ? "input '%s' is declared twice"
                                                             : "parameter '%s' is declared twice",
                        dup.name);
        }
    ir_free(named);
    IrError packed;
    int32_t bad = ir_verify_packed(g, &packed);
    return bad < 0 || fail(err, g, bad, "%s", packed.msg);
}
