/* moe_lower.c — moe-dispatch-lowering: every `moe` op becomes its routing, dispatch,
 * batched expert MLPs and combine (docs/MOE.md, MODELS.md §4–§6).
 *
 * Matches every `moe(x [..., D], router, w1, b1, w2, b2)` node. Builds, with T tokens in
 * G groups of S, E experts of hidden size H, capacity C and K choices per token:
 *
 *   logits  = matmul(x, router)                    [..., E]    (E^3: one batched matmul
 *   gates   = softmax(logits)                      [..., E]     over the M members, each
 *                                                               token with its member's
 *                                                               router, [..., E/M])
 *   route   = moe_route(reshape(gates, [G, S, E/M]))  i32 [G, S·K + E·C]
 *   tokens  = the slot → token half of route, as [E, G, C], empty slots sent to the group's
 *             first token (their outputs are never combined), plus g·S: row of x in [T, D]
 *   xd      = take(reshape(x, [T, D]), tokens)     [E, G·C, D]   the per-expert buffers
 *   h       = gelu(matmul(xd, w1) + b1)            [E, G·C, H]   one GEMM batched over
 *   y       = matmul(h, w2) + b2                   [E, G·C, D]   the experts, each
 *   out     = moe_combine(y, route, gates)         [..., D]
 *
 * Nothing of size S×E×C is built and no token meets an expert it was not routed to: the
 * expert GEMMs do E·G·C rows of work, (capacity factor)× the k·T rows of the dense
 * equivalent. Dropped choices contribute nothing to the combine, so a token all of whose
 * choices were dropped gets 0 and the residual around the op passes it through.
 *
 * Pre: a valid graph. Post: no `moe` node; the graph computes the same values (the moe
 * op's interpreter is an independent reference; tests compare). New nodes get the moe
 * node's location. Idempotent. Out of memory: the nodes built for the node in progress
 * stay unused (dce removes them) and the moe node is kept.
 *
 *   %6 = moe(%0, %1, %2, %3, %4, %5) {k = 1, capacity_factor = 1.0, group_size = 8} : f32[B,8,16]
 * becomes (x %0 [B,8,16], router %1 [16,4], E = 4 experts of 32, G = B groups, C = 4)
 *   %6 = matmul(%0, %1) : f32[B,8,4]
 *   %7 = softmax(%6) : f32[B,8,4]
 *   %8 = moe_route(%7) {k = 1, capacity = 4} : i32[B,24]
 *   %9 = slice(%8) {axis = 1, start = 8, stop = 24} : i32[B,16]
 *   %10 = reshape(%9) {shape = [B, 4, 4]} : i32[B,4,4]
 *   %11 = transpose(%10) {perm = [1, 0, 2]} : i32[4,B,4]
 *   %13 = iota {shape = [4, B, 4], axis = 1, dtype = i32} : i32[4,B,4]
 *   %14 = mul(%13, %12) : i32[4,B,4]                       (%12: the constant 8)
 *   %16 = maximum(%11, %15) : i32[4,B,4]                   (%15: the constant 0)
 *   %17 = add(%16, %14) : i32[4,B,4]
 *   %18 = reshape(%0) {shape = [8*B, 16]} : f32[8*B,16]
 *   %19 = reshape(%17) {shape = [4, 4*B]} : i32[4,4*B]
 *   %20 = take(%18, %19) {axis = 0} : f32[4,4*B,16]
 *   %22 = matmul(%20, %2) : f32[4,4*B,32]
 *   %23 = add(%22, %21) : f32[4,4*B,32]                    (%21: b1 as [4,1,32])
 *   %24 = gelu(%23) {approximate = tanh} : f32[4,4*B,32]
 *   %26 = matmul(%24, %4) : f32[4,4*B,16]
 *   %27 = add(%26, %25) : f32[4,4*B,16]                    (%25: b2 as [4,1,16])
 *   %28 = moe_combine(%27, %8, %7) {k = 1, capacity = 4} : f32[B,8,16]
 */
#include <string.h>

#include "../ir/moe.h"
#include "passes.h"

typedef struct {
    Graph *g;
    Loc loc;
    IrError err;
    bool failed;
} Lw;

static int32_t node(Lw *l, Op op, const int32_t *in, int nin, const Attr *a)
{
    if (l->failed)
        return -1;
    int32_t v = ir_build(l->g, op, in, nin, a, NULL, l->loc, &l->err);
    l->failed = v < 0;
    return v;
}

static int32_t unary(Lw *l, Op op, int32_t x, const Attr *a) { return node(l, op, &x, 1, a); }

static int32_t binary(Lw *l, Op op, int32_t x, int32_t y)
{
    int32_t in[2] = {x, y};
    return node(l, op, in, 2, NULL);
}

static int32_t reshape(Lw *l, int32_t x, const Shape *s)
{
    if (x >= 0 && shape_eq(&ir_type(l->g, x)->shape, s))
        return x;
    Attr a;
    attr_set_defaults(ATTR_SHAPE, &a);
    a.shape.shape = *s;
    return unary(l, OP_RESHAPE, x, &a);
}

static int32_t transpose(Lw *l, int32_t x, const int64_t *perm, int n)
{
    Attr a;
    attr_set_defaults(ATTR_PERM, &a);
    a.perm.perm = (IntList){n, perm};
    return unary(l, OP_TRANSPOSE, x, &a);
}

static int32_t scalar(Lw *l, double v, DType dt)
{
    if (l->failed)
        return -1;
    int32_t r = ir_build_scalar(l->g, v, dt, l->loc, &l->err);
    l->failed = r < 0;
    return r;
}

static Shape shape3(Dim a, Dim b, Dim c) { return (Shape){3, {a, b, c}}; }

/* The largest value a dimension takes (its symbol at its maximum). */
static int64_t dim_max(const Graph *g, Dim d)
{
    if (dim_is_const(d))
        return d.n;
    int64_t m = g->syms[d.sym].max;
    return m > INT64_MAX / d.n ? INT64_MAX : d.n * m;
}

/* Builds the lowering of moe node `ni`; its result value, or -1. */
static int32_t lower(Lw *l, int32_t ni, const MoeGeometry *q)
{
    Graph *g = l->g;
    const Node *n = &g->nodes[ni];
    const MoeAttr ma = n->attr.moe;
    const int32_t x = n->in[0], wr = n->in[1], w1 = n->in[2], b1 = n->in[3], w2 = n->in[4], b2 = n->in[5];
    const Shape xs = ir_type(g, x)->shape;
    const int64_t D = q->D, E = q->E, M = q->M, ew = q->ew, S = q->S, C = q->C, H = q->hidden, K = q->K;
    const Dim T = q->tokens, G = q->groups, GC = {G.n * C, G.sym};
    static const int64_t swap01[3] = {1, 0, 2};

    /* the router: softmax over each token's experts (its member's, for E^3) */
    int32_t gates;
    if (M == 1) {
        gates = unary(l, OP_SOFTMAX, binary(l, OP_MATMUL, x, wr), NULL);
    } else {
        Shape ms = shape3((Dim){T.n / M, T.sym}, dim_const(M), dim_const(D));
        int32_t xm = transpose(l, reshape(l, x, &ms), swap01, 3);
        int32_t gm = unary(l, OP_SOFTMAX, binary(l, OP_MATMUL, xm, transpose(l, wr, swap01, 3)), NULL);
        Shape gs = xs;
        gs.d[gs.rank - 1] = dim_const(ew);
        gates = reshape(l, transpose(l, gm, swap01, 3), &gs);
    }
    Shape grs = shape3(G, dim_const(S), dim_const(ew));
    Attr ra;
    attr_set_defaults(ATTR_ROUTE, &ra);
    ra.route = (RouteAttr){.k = ma.k, .capacity = C, .batch_priority = ma.batch_priority, .routing = ma.routing,
                           .members = M, .normalize_combine = ma.normalize_combine};
    if (ma.routing == ROUTING_EXPERT) {
        ra.route.k = 2; /* unused by expert choice: keep the default */
        ra.route.batch_priority = false;
    }
    Attr ca = ra; /* the combine's: what the route decided is in its operand */
    ra.route.normalize_combine = false;
    ca.route.batch_priority = false;
    int32_t route = unary(l, OP_MOE_ROUTE, reshape(l, gates, &grs), &ra);

    /* the row of x that fills each slot, [E, G, C] */
    Attr sa;
    attr_set_defaults(ATTR_SLICE, &sa);
    sa.slice = (SliceAttr){.axis = 1, .start = S * K, .stop = S * K + E * C, .step = 1};
    Shape gec = shape3(G, dim_const(E), dim_const(C)), egc = shape3(dim_const(E), G, dim_const(C));
    int32_t inv = transpose(l, reshape(l, unary(l, OP_SLICE, route, &sa), &gec), swap01, 3);
    DType it = dim_max(g, T) <= INT32_MAX ? DT_I32 : DT_I64;
    if (it == DT_I64) {
        Attr cast;
        attr_set_defaults(ATTR_CAST, &cast);
        cast.cast.to = DT_I64;
        inv = unary(l, OP_CAST, inv, &cast);
    }
    Attr ia;
    attr_set_defaults(ATTR_IOTA, &ia);
    ia.iota = (IotaAttr){.shape = egc, .axis = 1, .dtype = it};
    int32_t base = binary(l, OP_MUL, node(l, OP_IOTA, NULL, 0, &ia), scalar(l, (double)S, it));
    int32_t rows = binary(l, OP_ADD, binary(l, OP_MAX, inv, scalar(l, 0, it)), base);
    Shape egcs = {2, {dim_const(E), GC}};
    Shape x2s = {2, {T, dim_const(D)}};
    Attr ta;
    attr_set_defaults(ATTR_AXIS, &ta);
    ta.axis.axis = 0;
    int32_t tin[2] = {reshape(l, x, &x2s), reshape(l, rows, &egcs)};
    int32_t xd = node(l, OP_TAKE, tin, 2, &ta);

    /* the experts: one matmul batched over E for each layer of the MLP */
    Shape b1s = shape3(dim_const(E), dim_const(1), dim_const(H)), b2s = shape3(dim_const(E), dim_const(1), dim_const(D));
    Attr ga;
    attr_set_defaults(ATTR_GELU, &ga);
    ga.gelu.approximate = ma.approximate;
    int32_t h = unary(l, OP_GELU, binary(l, OP_ADD, binary(l, OP_MATMUL, xd, w1), reshape(l, b1, &b1s)), &ga);
    int32_t y = binary(l, OP_ADD, binary(l, OP_MATMUL, h, w2), reshape(l, b2, &b2s));

    int32_t cin[3] = {y, route, gates};
    return node(l, OP_MOE_COMBINE, cin, 3, &ca);
}

bool pass_moe_lower(Graph *g, const PassOptions *o)
{
    int32_t nn = g->nnodes;
    bool changed = false;
    for (int32_t i = 0; i < nn; i++) {
        if (g->nodes[i].op != OP_MOE || g->nodes[i].dead)
            continue;
        MoeGeometry q;
        char msg[512];
        if (!moe_geometry(g, &g->nodes[i], &q, msg, sizeof msg)) {
            PASS_ICE(o, "a verified moe node fails its checks: %s", msg);
            break;
        }
        Lw l = {.g = g, .loc = g->nodes[i].loc};
        int32_t out = lower(&l, i, &q);
        if (out < 0) {
            if (!strstr(l.err.msg, "out of memory"))
                PASS_ICE(o, "lowering moe node %d: %s", i, l.err.msg);
            break;
        }
        int32_t old = g->nodes[i].out;
        ir_replace_uses(g, old, out);
        g->nodes[i].dead = true;
        if (!ir_compact(g)) {
            /* out of memory: undo; what was built stays unused */
            ir_replace_uses(g, out, old);
            g->nodes[i].dead = false;
            break;
        }
        changed = true;
        nn = g->nnodes;
        i = -1; /* node ids changed: start over (each moe node is lowered once) */
    }
    return changed;
}
