/* moe.h — what the MoE ops share across the compiler (docs/MOE.md).
 *
 * The `moe` op is V-MoE's sparse mixture of MLPs (MODELS.md §4–§6). The pass
 * moe-dispatch-lowering rewrites it into ordinary ops plus two of its own:
 *
 *   moe_route(gates f32[G, S, E/M]) -> i32[G, S·K + E·C]
 *     per group g (one row), for each token s and choice j < K (K = k for token choice,
 *     K = E for expert choice), entry s·K + j is e·C + c when (s, j) holds slot c of
 *     expert e, or −(e + 1) when the choice of expert e was dropped (token choice) or
 *     expert e did not pick the token (expert choice, j = e); then for each expert e and
 *     slot c, entry S·K + e·C + c is the token s in that slot, or −1 when it is empty.
 *   moe_combine(y f32[E, G·C, D], route, gates f32[..., E/M]) -> f32[..., D]
 *     token t = g·S + s (the gates' leading dims flattened): Σ over its kept choices of
 *     w · y[e, g·C + c, :], w = gates[t, e − m·E/M] (m = s mod M, the token's member),
 *     divided, with normalize_combine, by the sum of the gates of its candidate choices
 *     (its k choices for token choice, the experts that picked it for expert choice).
 *
 * Both are implemented once here for the interpreter and for plan_exec (the reference
 * semantics of the KK_MOE_ROUTE / KK_MOE_COMBINE kernels); the `moe` op's own interpreter
 * is a separate, literal transcription of vmoe (interp_moe.c), so the two check each other.
 */
#ifndef VITC_MOE_H
#define VITC_MOE_H

#include "interp.h"
#include "ir.h"

/* Limits checked by shape inference (keep every size product far from overflow). */
#define MOE_MAX_EXPERTS 4096
#define MOE_MAX_GROUP ((int64_t)1 << 24)
#define MOE_MAX_CAPACITY ((int64_t)1 << 24)

/* vmoe's compute_capacity: ceil(tokens · factor / experts), then up to a multiple of
 * `multiple` (≤ 0: none). tokens is S·k for token choice and S for expert choice. Returns
 * -1 when the result is below 1 or out of range (factor not finite or too large). */
int64_t moe_capacity(int64_t tokens, int64_t experts, double factor, int64_t multiple);

/* The sizes of a `moe` node: tokens T (a multiple of at most one symbol), groups G = T/S,
 * group size S, width D, experts E, members M, experts per member ew = E/M, hidden H,
 * capacity C (per expert and group) and choices per token K. */
typedef struct {
    Dim tokens, groups;
    int64_t S, D, E, M, ew, hidden, C, K;
} MoeGeometry;

/* Checks a `moe` node's operands and attributes and computes its sizes; false with a
 * message (no location) otherwise. Shape inference, the lowering and the interpreter use it. */
bool moe_geometry(const Graph *g, const Node *n, MoeGeometry *out, char *err, size_t errlen);

/* The choices per token in the route: k (token choice) or the expert count. */
static inline int64_t moe_choices(int routing, int64_t k, int64_t experts)
{
    return routing == ROUTING_EXPERT ? experts : k;
}

/* The routing of one group, as moe_route defines it: gates[s·ew + i] (S tokens, ew = E/M
 * gates each) -> route[0 .. S·K + E·C). scratch holds at least 2·S + E values, key S. */
typedef struct {
    int64_t S, ew, members, k, capacity;
    bool batch_priority, expert_choice;
} MoeRouteShape;

void moe_route_group(const MoeRouteShape *r, const float *gates, int64_t *route, int64_t *scratch, double *key);

/* Tensor-level moe_route and moe_combine (shapes already checked by inference).
 * moe_route_tensor fails only when out of memory; moe_combine_tensor also when a route
 * entry is out of range (a route that moe_route did not make), with a message in err. */
bool moe_route_tensor(const RouteAttr *a, const Tensor *gates, Tensor *out);
bool moe_combine_tensor(const RouteAttr *a, const Tensor *y, const Tensor *route, const Tensor *gates,
                        Tensor *out, char *err, size_t errlen);

#endif
