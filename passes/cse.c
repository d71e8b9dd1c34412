/* cse.c — common subexpression elimination.
 *
 * Matches: two nodes with the same op, equal attributes (attr_eq), the same operands and
 * the same result types. Operands of commutative ops (OPF_COMM) are compared as an
 * unordered pair, so add(%a, %b) and add(%b, %a) merge. Constants merge when their data
 * and type are equal; iotas when their attributes are. Inputs and parameters never merge:
 * each is a distinct value of the graph's interface (parameter names are unique).
 *
 * One walk in topological order with a hash table of the nodes kept so far: a node whose
 * operands have been redirected to their earlier equivalents either finds an equal node
 * (its uses move to it and it is dropped) or is kept. The earlier node always survives,
 * so its location is the one kept.
 *
 * Pre: a valid graph. Post: no two live nodes as above; outputs unchanged in value.
 *
 *   %1 = exp(%0) : f32[4]                       %1 = exp(%0) : f32[4]
 *   %2 = exp(%0) : f32[4]               ==>     %2 = mul(%1, %1) : f32[4]
 *   %3 = mul(%1, %2) : f32[4]                   output y = %2
 *   output y = %3
 */
#include <string.h>

#include "passes.h"

typedef struct {
    Graph *g;
    int32_t *slots; /* node indices, -1: empty */
    size_t mask;
} Table;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) /* FNV-1a */
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Operand j in canonical order: a commutative pair is compared sorted. */
static int32_t operand(const Node *n, int32_t j)
{
    if ((ir_ops[n->op].flags & OPF_COMM) && n->nin == 2 && n->in[0] > n->in[1])
        return n->in[1 - j];
    return n->in[j];
}

static uint64_t node_hash(const Graph *g, const Node *n)
{
    uint64_t h = 1469598103934665603ull;
    h = mix(h, &n->op, sizeof n->op);
    h = mix(h, &n->nin, sizeof n->nin);
    for (int32_t j = 0; j < n->nin; j++) {
        int32_t v = operand(n, j);
        h = mix(h, &v, sizeof v);
    }
    h = attr_hash(ir_ops[n->op].attr, &n->attr, h);
    for (int32_t r = 0; r < n->nout; r++) {
        const Type *t = ir_type(g, n->out + r);
        h = mix(h, &t->dt, sizeof t->dt);
        h = mix(h, &t->shape.rank, sizeof t->shape.rank);
        for (int d = 0; d < t->shape.rank; d++) {
            h = mix(h, &t->shape.d[d].n, sizeof t->shape.d[d].n);
            h = mix(h, &t->shape.d[d].sym, sizeof t->shape.d[d].sym);
        }
    }
    return h;
}

static bool node_eq(const Graph *g, const Node *a, const Node *b)
{
    if (a->op != b->op || a->nin != b->nin || a->nout != b->nout)
        return false;
    for (int32_t j = 0; j < a->nin; j++)
        if (operand(a, j) != operand(b, j))
            return false;
    if (!attr_eq(ir_ops[a->op].attr, &a->attr, &b->attr))
        return false;
    for (int32_t r = 0; r < a->nout; r++)
        if (!type_eq(ir_type(g, a->out + r), ir_type(g, b->out + r)))
            return false;
    return true;
}

/* The kept node equal to node i, or i itself after inserting it. */
static int32_t find_or_insert(Table *t, int32_t i)
{
    const Node *n = &t->g->nodes[i];
    for (size_t s = node_hash(t->g, n) & t->mask;; s = (s + 1) & t->mask) {
        if (t->slots[s] < 0) {
            t->slots[s] = i;
            return i;
        }
        if (node_eq(t->g, &t->g->nodes[t->slots[s]], n))
            return t->slots[s];
    }
}

bool pass_cse(Graph *g, const PassOptions *o)
{
    (void)o;
    size_t cap = 16;
    while (cap < 2 * (size_t)g->nnodes)
        cap *= 2;
    int32_t *fwd = ir_malloc((size_t)(g->nvalues ? g->nvalues : 1) * sizeof *fwd);
    int32_t *slots = ir_malloc(cap * sizeof *slots);
    if (!fwd || !slots) {
        ir_free(fwd);
        ir_free(slots);
        return false;
    }
    memset(slots, 0xff, cap * sizeof *slots);
    for (int32_t v = 0; v < g->nvalues; v++)
        fwd[v] = v;

    Table t = {g, slots, cap - 1};
    bool changed = false;
    for (int32_t i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        for (int32_t j = 0; j < n->nin; j++)
            n->in[j] = fwd[n->in[j]];
        if (n->op == OP_INPUT || n->op == OP_PARAM)
            continue;
        int32_t k = find_or_insert(&t, i);
        if (k == i)
            continue;
        for (int32_t r = 0; r < n->nout; r++)
            fwd[n->out + r] = g->nodes[k].out + r;
        n->dead = true;
        changed = true;
    }
    for (int32_t i = 0; i < g->noutputs; i++)
        g->outputs[i].value = fwd[g->outputs[i].value];
    ir_free(fwd);
    ir_free(slots);

    if (changed && !ir_compact(g)) {
        /* out of memory: every use already points to the kept node, so the duplicates
         * are merely unused and may stay */
        for (int32_t i = 0; i < g->nnodes; i++)
            g->nodes[i].dead = false;
    }
    return changed;
}
