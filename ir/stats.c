/* stats.c — what a graph costs: parameters, FLOPs, activation memory, node counts.
 *
 * FLOPs: a matmul (OPF_MATMUL) counts 2 per multiply-add, batch dimensions included
 * (2 × numel(result) × K); every other op counts ir_ops[op].cost per element of the
 * larger of its first operand and its result; sources count nothing. Activations are all
 * results except parameters and constants (inputs count). The peak is found by running
 * the nodes in order with each such value live from its definition to its last use
 * (graph outputs to the end).
 */
#include <string.h>

#include "ir.h"

static int64_t sat_add(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

static int64_t sat_mul(int64_t a, int64_t b)
{
    return b != 0 && a > INT64_MAX / b ? INT64_MAX : a * b;
}

/* elements once bound; INT64_MAX when it overflows */
static int64_t numel(const Shape *s, const int64_t *bind)
{
    int64_t n = shape_numel(s, bind);
    return n < 0 ? INT64_MAX : n;
}

static double numel_f(const Shape *s, const int64_t *bind)
{
    double n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (double)dim_eval(s->d[i], bind);
    return n;
}

static int64_t value_bytes(const Graph *g, int32_t v, const int64_t *bind)
{
    const Type *t = ir_type(g, v);
    return sat_mul(numel(&t->shape, bind), (int64_t)dtype_size(t->dt));
}

/* Parameters and constants are weights, not activations. */
static bool is_activation(const Node *n) { return n->op != OP_PARAM && n->op != OP_CONST; }

/* attention: the elements of its logits [..., Nq, Nk] */
static double attention_logits(const Graph *g, const Node *n, const int64_t *bind)
{
    const Shape *res = &ir_type(g, n->out)->shape, *k = &ir_type(g, n->in[1])->shape;
    double e = (double)dim_eval(k->d[k->rank - 2], bind);
    for (int i = 0; i + 1 < res->rank; i++)
        e *= (double)dim_eval(res->d[i], bind);
    return e;
}

static double node_flops(const Graph *g, const Node *n, const int64_t *bind, bool *matmul)
{
    const OpInfo *info = &ir_ops[n->op];
    *matmul = (info->flags & OPF_MATMUL) != 0;
    if ((info->flags & OPF_SOURCE) || n->nout == 0)
        return 0;
    const Shape *res = &ir_type(g, n->out)->shape;
    if (n->op == OP_ATTENTION) { /* 2 per multiply-add of q·kᵀ and p·v, and softmax's cost */
        const Shape *q = &ir_type(g, n->in[0])->shape;
        double logits = attention_logits(g, n, bind), dh = (double)dim_eval(q->d[q->rank - 1], bind);
        double dv = (double)dim_eval(res->d[res->rank - 1], bind);
        return 2.0 * logits * (dh + dv) + ir_ops[OP_SOFTMAX].cost * logits;
    }
    if (*matmul) {
        const Shape *a = &ir_type(g, n->in[0])->shape;
        Dim k = a->d[a->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
        return 2.0 * numel_f(res, bind) * (double)dim_eval(k, bind);
    }
    double r = numel_f(res, bind), x = n->nin > 0 ? numel_f(&ir_type(g, n->in[0])->shape, bind) : 0;
    return info->cost * (x > r ? x : r);
}

void ir_stats(const Graph *g, const int64_t *bind, IrStats *out)
{
    memset(out, 0, sizeof *out);
    int32_t nn = g->nnodes;
    for (int32_t i = 0; i < nn; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        out->nodes++;
        out->op_counts[n->op]++;
        bool mm;
        double f = node_flops(g, n, bind, &mm);
        if (n->op == OP_ATTENTION) { /* its two products as matmul, its softmax as other */
            double logits = attention_logits(g, n, bind);
            out->matmul_flops += f - ir_ops[OP_SOFTMAX].cost * logits;
            out->other_flops += ir_ops[OP_SOFTMAX].cost * logits;
        } else if (mm)
            out->matmul_flops += f;
        else
            out->other_flops += f;
        if (n->op == OP_PARAM) {
            const Type *t = ir_type(g, n->out);
            out->params = sat_add(out->params, numel(&t->shape, bind));
            out->param_bytes = sat_add(out->param_bytes, value_bytes(g, n->out, bind));
        }
        for (int32_t r = 0; r < n->nout && is_activation(n); r++)
            out->activation_bytes = sat_add(out->activation_bytes, value_bytes(g, n->out + r, bind));
    }

    /* peak live: frees[i] = bytes whose last use is node i (index nn: the end) */
    int32_t *last = ir_malloc((size_t)(g->nvalues ? g->nvalues : 1) * sizeof *last);
    int64_t *frees = ir_calloc((size_t)nn + 1, sizeof *frees);
    if (!last || !frees) {
        out->peak_live_bytes = -1; /* unknown: out of memory */
        ir_free(last);
        ir_free(frees);
        return;
    }
    for (int32_t i = 0; i < nn; i++)
        for (int32_t r = 0; r < g->nodes[i].nout; r++)
            last[g->nodes[i].out + r] = i;
    for (int32_t i = 0; i < nn; i++)
        for (int32_t j = 0; !g->nodes[i].dead && j < g->nodes[i].nin; j++)
            last[g->nodes[i].in[j]] = i;
    for (int32_t o = 0; o < g->noutputs; o++)
        last[g->outputs[o].value] = nn;
    for (int32_t i = 0; i < nn; i++) {
        const Node *n = &g->nodes[i];
        for (int32_t r = 0; !n->dead && is_activation(n) && r < n->nout; r++)
            frees[last[n->out + r]] = sat_add(frees[last[n->out + r]], value_bytes(g, n->out + r, bind));
    }
    int64_t live = 0;
    for (int32_t i = 0; i < nn; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int32_t r = 0; is_activation(n) && r < n->nout; r++)
            live = sat_add(live, value_bytes(g, n->out + r, bind));
        if (live > out->peak_live_bytes)
            out->peak_live_bytes = live;
        live -= frees[i];
    }
    ir_free(last);
    ir_free(frees);
}
