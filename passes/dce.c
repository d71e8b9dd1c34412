/* dce.c — dead code elimination.
 *
 * Matches: every node none of whose results is used, transitively (a node used only by
 * dead nodes is dead). Inputs are always kept, since they are the graph's interface;
 * unused parameters and constants go like any other node.
 *
 * Pre: a valid graph. Post: the same outputs, every remaining non-input node has a used
 * result, nodes keep their relative order. Out of memory: nothing is removed.
 *
 *   %0 = input {name = "x"} : f32[4]            %0 = input {name = "x"} : f32[4]
 *   %1 = param $w : f32[4]                      %1 = neg(%0) : f32[4]
 *   %2 = exp(%0) : f32[4]               ==>     output y = %1
 *   %3 = add(%2, %1) : f32[4]
 *   %4 = neg(%0) : f32[4]
 *   output y = %4
 */
#include "passes.h"

bool pass_dce(Graph *g, const PassOptions *o)
{
    (void)o;
    int32_t *uses = ir_use_counts(g);
    if (!uses)
        return false;
    bool changed = false;
    /* reverse topological order: all users of a node are seen before it */
    for (int32_t i = g->nnodes - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (n->dead || n->op == OP_INPUT)
            continue;
        bool used = false;
        for (int32_t r = 0; r < n->nout && !used; r++)
            used = uses[n->out + r] > 0;
        if (used)
            continue;
        n->dead = true;
        changed = true;
        for (int32_t j = 0; j < n->nin; j++)
            uses[n->in[j]]--;
    }
    ir_free(uses);
    if (changed && !ir_compact(g)) {
        /* out of memory: the dead nodes are unused, so reviving them is valid */
        for (int32_t i = 0; i < g->nnodes; i++)
            g->nodes[i].dead = false;
        return false;
    }
    return changed;
}

/* See passes.h. */
void dce_after_rewrite(Graph *g, int32_t n0)
{
    int32_t *uses = ir_use_counts(g);
    bool *cand = ir_calloc((size_t)g->nnodes + 1, sizeof *cand);
    if (!uses || !cand) {
        ir_free(uses);
        ir_free(cand);
        return; /* they stay, unused: still valid */
    }
    for (int32_t i = 0; i < n0; i++)
        if (g->nodes[i].dead)
            for (int32_t j = 0; j < g->nodes[i].nin; j++)
                cand[g->values[g->nodes[i].in[j]].node] = true;
    for (int32_t i = n0 - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (!cand[i] || n->dead || n->op == OP_INPUT || n->op == OP_PARAM || n->nout != 1 || uses[n->out] != 0)
            continue;
        n->dead = true;
        for (int32_t j = 0; j < n->nin; j++) {
            uses[n->in[j]]--;
            cand[g->values[n->in[j]].node] = true;
        }
    }
    ir_free(uses);
    ir_free(cand);
}
