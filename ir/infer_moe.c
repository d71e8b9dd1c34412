/* infer_moe.c — shape inference of the MoE ops (moe, moe_route, moe_combine; see moe.h and
 * docs/MOE.md) and vmoe's capacity formula.
 *
 * moe(x [..., D], router, w1 [E, D, H], b1 [E, H], w2 [E, H, D], b2 [E, D]) -> [..., D]
 *   router is [D, E], or [D, M, E/M] for an E^3 ensemble of M members (members = M). The
 *   tokens are x's leading dims flattened in memory order, T of them, cut into groups of
 *   S = group_size: T must be a multiple of S for every value of the batch symbol, so a
 *   symbolic count n·B needs S | n (declare a fixed batch otherwise).
 * moe_route(gates [G, S, E/M]) -> i32 [G, S·K + E·C]
 * moe_combine(y [E, G·C, D], route [G, S·K + E·C], gates [..., E/M]) -> [..., D]
 *
 * Every size is bounded (MOE_MAX_*) so that no product here or in later stages overflows.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "ir.h"
#include "ir_internal.h"
#include "moe.h"

#define FAIL(...)                                  \
    do {                                           \
        snprintf(err, errlen, __VA_ARGS__);        \
        return false;                              \
    } while (0)

int64_t moe_capacity(int64_t tokens, int64_t experts, double factor, int64_t multiple)
{
    if (tokens < 1 || experts < 1 || !(factor > 0) || !isfinite(factor))
        return -1;
    double c = ceil((double)tokens * factor / (double)experts); /* vmoe's order of operations */
    if (!(c >= 1) || c > (double)MOE_MAX_CAPACITY)
        return -1;
    int64_t cap = (int64_t)c;
    if (multiple > 0 && multiple <= MOE_MAX_CAPACITY)
        cap += (multiple - cap % multiple) % multiple;
    return cap <= MOE_MAX_CAPACITY ? cap : -1;
}

static void fmt_shape(const Graph *g, const Shape *s, char *buf, size_t n) { ir_format_shape(g, s, buf, n); }

/* The leading dims of s (all but the last) as one Dim; false when they multiply several
 * symbols or overflow. */
static bool leading_count(const Shape *s, Dim *out)
{
    Shape lead = *s;
    Monomial m, one = {1, 0, {0}};
    lead.rank = s->rank - 1;
    return shape_product(&lead, &m) && monomial_div_dim(&m, &one, out) && out->n >= 1;
}

static bool const_dims(const Type *t, int rank)
{
    if (t->shape.rank != rank)
        return false;
    for (int i = 0; i < rank; i++)
        if (!dim_is_const(t->shape.d[i]) || t->shape.d[i].n < 1)
            return false;
    return true;
}

static int64_t cdim(const Type *t, int i) { return t->shape.d[i].n; }

bool moe_geometry(const Graph *g, const Node *n, MoeGeometry *o, char *err, size_t errlen)
{
    const MoeAttr *a = &n->attr.moe;
    const Type *x = ir_type(g, n->in[0]), *r = ir_type(g, n->in[1]), *w1 = ir_type(g, n->in[2]);
    const Type *b1 = ir_type(g, n->in[3]), *w2 = ir_type(g, n->in[4]), *b2 = ir_type(g, n->in[5]);
    char s[6][256];
    memset(o, 0, sizeof *o);
    for (int i = 0; i < 6; i++)
        fmt_shape(g, &ir_type(g, n->in[i])->shape, s[i], sizeof s[i]);
    if (!dtype_is_float(x->dt))
        FAIL("'moe' needs float tokens, got %s", dtype_name(x->dt));
    for (int i = 1; i < 6; i++)
        if (ir_type(g, n->in[i])->dt != x->dt)
            FAIL("'moe': operand %d has dtype %s, the tokens %s", i, dtype_name(ir_type(g, n->in[i])->dt),
                 dtype_name(x->dt));
    if (x->shape.rank < 2 || !dim_is_const(x->shape.d[x->shape.rank - 1]))
        FAIL("'moe' needs tokens [..., D] of rank 2 or more with a fixed width, got %s", s[0]);
    if (!const_dims(w1, 3) || !const_dims(b1, 2) || !const_dims(w2, 3) || !const_dims(b2, 2))
        FAIL("'moe': the expert parameters must be fixed-size w1 [E, D, H], b1 [E, H], w2 [E, H, D], b2 [E, D]; "
             "got %s, %s, %s, %s", s[2], s[3], s[4], s[5]);
    o->D = cdim(x, x->shape.rank - 1);
    o->E = cdim(w1, 0);
    o->hidden = cdim(w1, 2);
    if (cdim(w1, 1) != o->D || cdim(b1, 0) != o->E || cdim(b1, 1) != o->hidden || cdim(w2, 0) != o->E ||
        cdim(w2, 1) != o->hidden || cdim(w2, 2) != o->D || cdim(b2, 0) != o->E || cdim(b2, 1) != o->D)
        FAIL("'moe': expert parameters w1 %s, b1 %s, w2 %s, b2 %s do not match [E, D, H], [E, H], [E, H, D], "
             "[E, D] with D = %" PRId64, s[2], s[3], s[4], s[5], o->D);
    if (o->E > MOE_MAX_EXPERTS)
        FAIL("'moe': %" PRId64 " experts; at most %d are supported", o->E, MOE_MAX_EXPERTS);
    if (a->experts != 0 && a->experts != o->E)
        FAIL("'moe': experts = %" PRId64 " but the parameters hold %" PRId64, a->experts, o->E);
    if (a->members < 1 || a->members > o->E || o->E % a->members != 0)
        FAIL("'moe': members = %" PRId64 " must divide the %" PRId64 " experts", a->members, o->E);
    o->M = a->members;
    o->ew = o->E / o->M;
    bool ec = a->routing == ROUTING_EXPERT;
    if (ec && o->M != 1)
        FAIL("'moe': expert-choice routing with members > 1 is not supported");
    if (o->M == 1 ? !(const_dims(r, 2) && cdim(r, 0) == o->D && cdim(r, 1) == o->E)
                  : !(const_dims(r, 3) && cdim(r, 0) == o->D && cdim(r, 1) == o->M && cdim(r, 2) == o->ew))
        FAIL("'moe': the router is %s; expected [D, E] = [%" PRId64 ", %" PRId64 "], or [D, M, E/M] with members = M",
             s[1], o->D, o->E);
    if (!ec && (a->k < 1 || a->k > o->ew))
        FAIL("'moe': k = %" PRId64 " must be between 1 and the %" PRId64 " experts of a member", a->k, o->ew);
    o->K = moe_choices(a->routing, a->k, o->E);
    if (!leading_count(&x->shape, &o->tokens))
        FAIL("'moe': the token count of %s is not a multiple of at most one symbol", s[0]);
    int64_t S = a->group_size;
    if (S < 0 || S > MOE_MAX_GROUP)
        FAIL("'moe': group_size = %" PRId64 " is out of range (0 = all tokens, at most %" PRId64 ")", S, MOE_MAX_GROUP);
    if (S == 0) {
        if (!dim_is_const(o->tokens))
            FAIL("'moe': group_size = 0 (one group of all tokens) needs a fixed token count, not %s", s[0]);
        S = o->tokens.n;
        if (S > MOE_MAX_GROUP)
            FAIL("'moe': %" PRId64 " tokens in one group; give a group_size", S);
    }
    if (o->tokens.n % S != 0) {
        char t[64];
        ir_format_dim(g, o->tokens, t, sizeof t);
        FAIL("'moe': group_size = %" PRId64 " does not divide the token count %s (a symbolic count n·B needs a "
             "group size dividing n; declare a fixed batch otherwise)", S, t);
    }
    if (S % o->M != 0)
        FAIL("'moe': group_size = %" PRId64 " must be a multiple of members = %" PRId64, S, o->M);
    o->S = S;
    o->groups = (Dim){o->tokens.n / S, o->tokens.sym};
    if (a->capacity < 0 || a->capacity > MOE_MAX_CAPACITY)
        FAIL("'moe': capacity = %" PRId64 " is out of range (0 = from capacity_factor)", a->capacity);
    o->C = a->capacity ? a->capacity
                       : moe_capacity(ec ? S : S * a->k, o->E, a->capacity_factor, a->capacity_multiple);
    if (o->C < 1)
        FAIL("'moe': capacity_factor = %g gives no capacity in [1, %" PRId64 "] for %" PRId64 " tokens per group",
             a->capacity_factor, MOE_MAX_CAPACITY, S);
    if (o->groups.n > INT64_MAX / o->C / o->E)
        FAIL("'moe': too many expert slots");
    return true;
}

bool infer_moe(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    MoeGeometry geo;
    if (!moe_geometry(g, n, &geo, err, errlen))
        return false;
    out[0] = *ir_type(g, n->in[0]);
    return true;
}

/* The route's shape checks, shared with moe_combine: E/M gates per token, S tokens. */
static bool route_params(const RouteAttr *a, int64_t S, int64_t ew, int64_t *K, char *err, size_t errlen)
{
    if (a->members < 1 || S % a->members != 0)
        FAIL("members = %" PRId64 " must be at least 1 and divide the group size %" PRId64, a->members, S);
    if (ew > MOE_MAX_EXPERTS / a->members)
        FAIL("too many experts (%" PRId64 " × %" PRId64 ")", a->members, ew);
    if (a->routing == ROUTING_EXPERT && a->members != 1)
        FAIL("expert-choice routing with members > 1 is not supported");
    if (a->routing == ROUTING_TOKEN && (a->k < 1 || a->k > ew))
        FAIL("k = %" PRId64 " must be between 1 and the %" PRId64 " experts of a member", a->k, ew);
    if (a->capacity < 1 || a->capacity > MOE_MAX_CAPACITY)
        FAIL("capacity = %" PRId64 " must be between 1 and %" PRId64, a->capacity, MOE_MAX_CAPACITY);
    *K = moe_choices(a->routing, a->k, a->members * ew);
    return true;
}

bool infer_moe_route(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *x = ir_type(g, n->in[0]);
    const RouteAttr *a = &n->attr.route;
    char s[256], why[256];
    fmt_shape(g, &x->shape, s, sizeof s);
    if (!dtype_is_float(x->dt) || x->shape.rank != 3 || !dim_is_const(x->shape.d[1]) || !dim_is_const(x->shape.d[2]) ||
        x->shape.d[1].n < 1 || x->shape.d[2].n < 1 || x->shape.d[1].n > MOE_MAX_GROUP)
        FAIL("'moe_route' needs float gates [G, S, E/M] with fixed S and E/M, got %s%s", dtype_name(x->dt), s);
    int64_t S = x->shape.d[1].n, ew = x->shape.d[2].n, K;
    if (!route_params(a, S, ew, &K, why, sizeof why))
        FAIL("'moe_route': %s", why);
    out[0].dt = DT_I32;
    out[0].shape.rank = 2;
    out[0].shape.d[0] = x->shape.d[0];
    out[0].shape.d[1] = dim_const(S * K + a->members * ew * a->capacity);
    return true;
}

bool infer_moe_combine(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const Type *y = ir_type(g, n->in[0]), *r = ir_type(g, n->in[1]), *gt = ir_type(g, n->in[2]);
    const RouteAttr *a = &n->attr.route;
    char sy[256], sr[256], sg[256], why[256];
    fmt_shape(g, &y->shape, sy, sizeof sy);
    fmt_shape(g, &r->shape, sr, sizeof sr);
    fmt_shape(g, &gt->shape, sg, sizeof sg);
    if (!dtype_is_float(y->dt) || gt->dt != y->dt || r->dt != DT_I32)
        FAIL("'moe_combine' needs float expert outputs and gates of one dtype and an i32 route, got %s, %s, %s",
             dtype_name(y->dt), dtype_name(r->dt), dtype_name(gt->dt));
    if (y->shape.rank != 3 || !dim_is_const(y->shape.d[0]) || !dim_is_const(y->shape.d[2]) || y->shape.d[0].n < 1 ||
        r->shape.rank != 2 || !dim_is_const(r->shape.d[1]) || gt->shape.rank < 2 ||
        !dim_is_const(gt->shape.d[gt->shape.rank - 1]) || gt->shape.d[gt->shape.rank - 1].n < 1)
        FAIL("'moe_combine' needs y [E, G·C, D], route [G, W] and gates [..., E/M], got %s, %s, %s", sy, sr, sg);
    int64_t E = y->shape.d[0].n, ew = gt->shape.d[gt->shape.rank - 1].n, C = a->capacity;
    if (a->members < 1 || a->members > MOE_MAX_EXPERTS || ew > MOE_MAX_EXPERTS || E != a->members * ew)
        FAIL("'moe_combine': %" PRId64 " experts in y but members = %" PRId64 " × %" PRId64 " gates", E, a->members, ew);
    if (C < 1 || C > MOE_MAX_CAPACITY)
        FAIL("'moe_combine': capacity = %" PRId64 " must be between 1 and %" PRId64, C, MOE_MAX_CAPACITY);
    int64_t K = moe_choices(a->routing, a->k, E), W = r->shape.d[1].n;
    if (K < 1 || W <= E * C || (W - E * C) % K != 0)
        FAIL("'moe_combine': a route of width %" PRId64 " does not hold %" PRId64 " choices per token and %" PRId64
             " × %" PRId64 " slots", W, K, E, C);
    int64_t S = (W - E * C) / K, Kc;
    if (S > MOE_MAX_GROUP || !route_params(a, S, ew, &Kc, why, sizeof why))
        FAIL("'moe_combine': %s", S > MOE_MAX_GROUP ? "group too large" : why);
    Dim G = r->shape.d[0], tokens;
    if (G.n < 1 || G.n > INT64_MAX / C / S || !dim_eq(y->shape.d[1], ((Dim){G.n * C, G.sym})))
        FAIL("'moe_combine': y %s does not hold the %" PRId64 " slots of each of the groups of route %s", sy, C, sr);
    if (!leading_count(&gt->shape, &tokens) || !dim_eq(tokens, ((Dim){G.n * S, G.sym})))
        FAIL("'moe_combine': gates %s do not hold the groups of %" PRId64 " tokens of route %s", sg, S, sr);
    out[0] = *gt;
    out[0].shape.d[gt->shape.rank - 1] = y->shape.d[2];
    return true;
}
