/* interp_moe.c — the reference interpreter of the MoE ops.
 *
 * moe: V-MoE's MoE layer exactly as MODELS.md §4–§6 and vmoe state it, transcribed from
 * vmoe's array formulation (vmoe/moe.py `_get_top_experts_per_item_common`, the einsum
 * dispatcher, `compute_capacity`; vmoe/nn/ensemble_routing.py), group by group:
 *
 *   gates    softmax(x·W_r) over the E experts; E^3 (members = M): token s belongs to
 *            member m = s mod M and gets a softmax over its member's E/M experts only,
 *            zeros elsewhere (a block-diagonal (S, E) gate matrix)
 *   token choice: (w, e) = top_k(gates) per token (ties to the lower index); BPR permutes
 *            the tokens by a stable argsort of −w[:, 0]; the expert indices are laid out
 *            choice-major (K·S), one-hot, cumsum'd: buffer index = cumsum·one_hot − 1,
 *            un-permuted; a (token, expert) pair is dispatched to slot c = its buffer
 *            index when c < C, and nowhere otherwise
 *   expert choice: expert e takes the top min(C, S) tokens of gates[:, e]
 *   combine  weight gates[s, e] for each dispatched pair (normalize_combine: divided by
 *            Σ_j w[s, j] for token choice, by the sum of the token's dispatched gates for
 *            expert choice); expert e's MLP (tanh or erf GELU) on its buffer;
 *            out_s = Σ_{e,c} combine[s, e, c] · MLP_e(buffer[e, c])
 *
 * The einsums run over the non-zero entries of the one-hot dispatch tensor only and the
 * MLP over occupied slots only: the same sums, without S·E·C·D multiplications by zero.
 * Floating point follows the rest of the interpreter: double arithmetic, every op's
 * result rounded to the dtype (matmul, bias, GELU, softmax, combine).
 *
 * moe_route and moe_combine: moe_route.c, through moe_route_tensor / moe_combine_tensor.
 */
#include <math.h>
#include <string.h>

#include "interp_internal.h"
#include "moe.h"

bool interp_moe_route(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    if (!moe_route_tensor(&n->attr.route, in[0], out))
        return interp_fail(c, n, "out of memory");
    return true;
}

bool interp_moe_combine(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    char msg[256];
    if (!moe_combine_tensor(&n->attr.route, in[0], in[1], in[2], out, msg, sizeof msg))
        return interp_fail(c, n, "%s", msg);
    return true;
}

/* ---- the reference of `moe` ---- */

typedef struct {
    const MoeAttr *a;
    MoeGeometry geo;
    DType dt;
    const float *x, *wr, *w1, *b1, *w2, *b2;
    /* per group */
    double *gates;   /* [S, E] */
    double *topw;    /* [S, k] */
    int64_t *tope;   /* [S, k] */
    int64_t *perm;   /* [S] */
    int64_t *onehot; /* [K·S, E], then its cumsum */
    int64_t *slot;   /* [S, E]: buffer index of (token, expert), −1 if none */
    int64_t *owner;  /* [E, C]: the token dispatched to slot (e, c), −1 if none */
    double *h, *y;   /* [H], [E, C, D] */
} Ref;

static double rnd(const Ref *r, double v) { return dtype_round(r->dt, v); }

static bool before(double a, double b) { return a > b || (b != b && a == a); }

static double gelu(const Ref *r, double v)
{
    if (r->a->approximate == GELU_TANH)
        return 0.5 * v * (1.0 + tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v)));
    return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
}

/* gates of token t (row s of its group) */
static void token_gates(Ref *r, int64_t t, int64_t s, double *row)
{
    const MoeGeometry *q = &r->geo;
    int64_t m = s % q->M, ew = q->ew;
    const float *xt = r->x + t * q->D;
    double logit[MOE_MAX_EXPERTS], mx = -INFINITY, sum = 0;
    for (int64_t e = 0; e < q->E; e++)
        row[e] = 0;
    for (int64_t i = 0; i < ew; i++) {
        double acc = 0;
        for (int64_t d = 0; d < q->D; d++)
            acc += (double)xt[d] * r->wr[(d * q->M + m) * ew + i];
        logit[i] = rnd(r, acc);
        mx = logit[i] > mx ? logit[i] : mx;
    }
    for (int64_t i = 0; i < ew; i++)
        sum += exp(logit[i] - mx);
    for (int64_t i = 0; i < ew; i++)
        row[m * ew + i] = rnd(r, exp(logit[i] - mx) / sum);
}

/* jax.lax.top_k over the full gate row: descending, ties to the lower index */
static void top_k(Ref *r, int64_t s)
{
    int64_t E = r->geo.E, k = r->a->k;
    const double *g = r->gates + s * E;
    for (int64_t j = 0; j < k; j++) {
        int64_t best = -1;
        for (int64_t e = 0; e < E; e++) {
            bool taken = false;
            for (int64_t jj = 0; jj < j; jj++)
                taken |= r->tope[s * k + jj] == e;
            if (!taken && (best < 0 || before(g[e], g[best])))
                best = e;
        }
        r->tope[s * k + j] = best;
        r->topw[s * k + j] = g[best];
    }
}

/* a stable argsort by descending key (jnp.argsort(-key), NaN last): insertion sort */
static void argsort_desc(int64_t *idx, int64_t n, double (*key)(const Ref *, int64_t, int64_t), const Ref *r,
                         int64_t arg)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t v = idx[i], j = i;
        while (j > 0 && before(key(r, v, arg), key(r, idx[j - 1], arg))) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

static double top1_key(const Ref *r, int64_t s, int64_t unused)
{
    (void)unused;
    return r->topw[s * r->a->k];
}

static double gate_key(const Ref *r, int64_t s, int64_t e) { return r->gates[s * r->geo.E + e]; }

/* slot[s, e] for one group, token choice, vmoe's formulation */
static void token_choice(Ref *r)
{
    int64_t S = r->geo.S, E = r->geo.E, k = r->a->k;
    for (int64_t s = 0; s < S; s++) {
        top_k(r, s);
        r->perm[s] = s;
    }
    if (r->a->batch_priority)
        argsort_desc(r->perm, S, top1_key, r, 0);
    /* expert_index[perm] swapped to (K, S) and flattened; one-hot; cumsum over K·S */
    for (int64_t j = 0; j < k; j++)
        for (int64_t p = 0; p < S; p++)
            for (int64_t e = 0; e < E; e++)
                r->onehot[(j * S + p) * E + e] = r->tope[r->perm[p] * k + j] == e;
    for (int64_t e = 0; e < E; e++) {
        int64_t run = 0;
        for (int64_t q = 0; q < k * S; q++) {
            run += r->onehot[q * E + e];
            r->onehot[q * E + e] = run * r->onehot[q * E + e] - 1; /* buffer index, −1 where not chosen */
        }
    }
    /* back to (S, K, E) in token order, max over K */
    for (int64_t q = 0; q < S * E; q++)
        r->slot[q] = -1;
    for (int64_t j = 0; j < k; j++)
        for (int64_t p = 0; p < S; p++)
            for (int64_t e = 0; e < E; e++) {
                int64_t b = r->onehot[(j * S + p) * E + e], *sl = &r->slot[r->perm[p] * E + e];
                *sl = b > *sl ? b : *sl;
            }
}

static void expert_choice(Ref *r)
{
    int64_t S = r->geo.S, E = r->geo.E, C = r->geo.C;
    for (int64_t q = 0; q < S * E; q++)
        r->slot[q] = -1;
    for (int64_t e = 0; e < E; e++) {
        for (int64_t s = 0; s < S; s++)
            r->perm[s] = s;
        argsort_desc(r->perm, S, gate_key, r, e);
        for (int64_t c = 0; c < C && c < S; c++)
            r->slot[r->perm[c] * E + e] = c;
    }
}

/* MLP_e of the token x (D) into y (D) */
static void expert_mlp(Ref *r, int64_t e, const float *x, double *y)
{
    const MoeGeometry *q = &r->geo;
    int64_t D = q->D, H = q->hidden;
    for (int64_t j = 0; j < H; j++) {
        double acc = 0;
        for (int64_t d = 0; d < D; d++)
            acc += (double)x[d] * r->w1[(e * D + d) * H + j];
        r->h[j] = rnd(r, gelu(r, rnd(r, rnd(r, acc) + r->b1[e * H + j])));
    }
    for (int64_t d = 0; d < D; d++) {
        double acc = 0;
        for (int64_t j = 0; j < H; j++)
            acc += r->h[j] * r->w2[(e * H + j) * D + d];
        y[d] = rnd(r, rnd(r, acc) + r->b2[e * D + d]);
    }
}

static void run_group(Ref *r, int64_t g, float *out)
{
    const MoeGeometry *q = &r->geo;
    int64_t S = q->S, E = q->E, C = q->C, D = q->D, k = r->a->k;
    bool ec = r->a->routing == ROUTING_EXPERT;
    for (int64_t s = 0; s < S; s++)
        token_gates(r, g * S + s, s, r->gates + s * E);
    if (ec)
        expert_choice(r);
    else
        token_choice(r);
    /* dispatch: one-hot(slot, C) with slots ≥ C ignored, as jax.nn.one_hot does */
    for (int64_t q2 = 0; q2 < E * C; q2++)
        r->owner[q2] = -1;
    for (int64_t s = 0; s < S; s++)
        for (int64_t e = 0; e < E; e++) {
            int64_t c = r->slot[s * E + e];
            if (c >= 0 && c < C)
                r->owner[e * C + c] = s;
        }
    for (int64_t e = 0; e < E; e++)
        for (int64_t c = 0; c < C; c++)
            if (r->owner[e * C + c] >= 0)
                expert_mlp(r, e, r->x + (g * S + r->owner[e * C + c]) * D, r->y + (e * C + c) * D);
    /* combine */
    for (int64_t s = 0; s < S; s++) {
        double den = 1;
        if (r->a->normalize_combine) {
            den = 0;
            if (ec) {
                for (int64_t e = 0; e < E; e++)
                    if (r->slot[s * E + e] >= 0 && r->slot[s * E + e] < C)
                        den += r->gates[s * E + e];
            } else {
                for (int64_t j = 0; j < k; j++)
                    den += r->topw[s * k + j];
            }
        }
        float *o = out + (g * S + s) * D;
        for (int64_t d = 0; d < D; d++) {
            double sum = 0;
            for (int64_t e = 0; e < E; e++) {
                int64_t c = r->slot[s * E + e];
                if (c >= 0 && c < C)
                    sum += r->gates[s * E + e] / den * r->y[(e * C + c) * D + d];
            }
            o[d] = (float)rnd(r, sum);
        }
    }
}

bool interp_moe(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    Ref r = {.a = &n->attr.moe, .dt = out->dt};
    char msg[512];
    if (!moe_geometry(c->g, n, &r.geo, msg, sizeof msg))
        return interp_fail(c, n, "%s", msg);
    const MoeGeometry *q = &r.geo;
    int64_t T = in[0]->numel / q->D, S = q->S, E = q->E, C = q->C, k = q->K;
    if (T % S != 0)
        return interp_fail(c, n, "%lld tokens are not a whole number of groups of %lld", (long long)T, (long long)S);
    r.x = in[0]->f;
    r.wr = in[1]->f;
    r.w1 = in[2]->f;
    r.b1 = in[3]->f;
    r.w2 = in[4]->f;
    r.b2 = in[5]->f;
    r.gates = ir_malloc((size_t)(S * E) * sizeof *r.gates);
    r.topw = ir_malloc((size_t)(S * k) * sizeof *r.topw);
    r.tope = ir_malloc((size_t)(S * k) * sizeof *r.tope);
    r.perm = ir_malloc((size_t)S * sizeof *r.perm);
    r.onehot = ir_malloc((size_t)(k * S * E) * sizeof *r.onehot);
    r.slot = ir_malloc((size_t)(S * E) * sizeof *r.slot);
    r.owner = ir_malloc((size_t)(E * C) * sizeof *r.owner);
    r.h = ir_malloc((size_t)q->hidden * sizeof *r.h);
    r.y = ir_malloc((size_t)(E * C * q->D) * sizeof *r.y);
    bool ok = r.gates && r.topw && r.tope && r.perm && r.onehot && r.slot && r.owner && r.h && r.y;
    for (int64_t g = 0; ok && g < T / S; g++)
        run_group(&r, g, out->f);
    ir_free(r.gates);
    ir_free(r.topw);
    ir_free(r.tope);
    ir_free(r.perm);
    ir_free(r.onehot);
    ir_free(r.slot);
    ir_free(r.owner);
    ir_free(r.h);
    ir_free(r.y);
    return ok ? true : interp_fail(c, n, "out of memory");
}
