/* moe_route.c — the semantics of moe_route and moe_combine (moe.h), shared by their
 * interpreter functions (interp_moe.c) and by plan_exec (the KK_MOE_ROUTE and
 * KK_MOE_COMBINE kernels). Written as the routing algorithm itself, with running
 * per-expert counters; interp_moe.c's reference of the whole `moe` op follows vmoe's
 * array formulation instead (one-hot cumsum), so the two check each other.
 *
 * Order of gates: x before y when x > y, and any number before NaN; ties keep the lower
 * index (top-k) or the original order (the stable sorts of BPR and expert choice).
 */
#include <string.h>

#include "interp_internal.h"
#include "moe.h"

static bool before(double a, double b) { return a > b || (b != b && a == a); }

/* Stable merge sort of idx[0..n) by key[idx] in descending order (NaN last). */
static void sort_desc(int64_t *idx, int64_t *tmp, int64_t n, const double *key)
{
    int64_t *src = idx, *dst = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid;
            for (int64_t o = lo; o < hi; o++)
                dst[o] = j < hi && (i >= mid || before(key[src[j]], key[src[i]])) ? src[j++] : src[i++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        memcpy(idx, src, (size_t)n * sizeof *idx);
}

void moe_route_group(const MoeRouteShape *r, const float *gates, int64_t *route, int64_t *scratch, double *key)
{
    int64_t S = r->S, ew = r->ew, M = r->members, E = M * ew, C = r->capacity;
    int64_t K = r->expert_choice ? E : r->k;
    int64_t *fwd = route, *inv = route + S * K, *order = scratch, *tmp = scratch + S, *count = scratch + 2 * S;
    for (int64_t q = 0; q < E * C; q++)
        inv[q] = -1;
    if (r->expert_choice) {
        for (int64_t q = 0; q < S * K; q++)
            fwd[q] = -(q % K) - 1;
        for (int64_t e = 0; e < E; e++) {
            for (int64_t s = 0; s < S; s++) {
                order[s] = s;
                key[s] = gates[s * ew + e];
            }
            sort_desc(order, tmp, S, key);
            for (int64_t c = 0; c < C && c < S; c++) {
                inv[e * C + c] = order[c];
                fwd[order[c] * K + e] = e * C + c;
            }
        }
        return;
    }
    /* top-k of each token among its member's experts */
    for (int64_t s = 0; s < S; s++) {
        int64_t m = s % M;
        const float *gs = gates + s * ew;
        for (int64_t j = 0; j < K; j++) {
            int64_t best = -1;
            for (int64_t i = 0; i < ew; i++) {
                bool taken = false;
                for (int64_t jj = 0; jj < j; jj++)
                    taken |= fwd[s * K + jj] == m * ew + i;
                if (!taken && (best < 0 || before(gs[i], gs[best])))
                    best = i;
            }
            fwd[s * K + j] = m * ew + best;
            if (j == 0)
                key[s] = gs[best];
        }
        order[s] = s;
    }
    if (r->batch_priority)
        sort_desc(order, tmp, S, key);
    /* choice-major slots: every first choice in processing order, then every second... */
    for (int64_t e = 0; e < E; e++)
        count[e] = 0;
    for (int64_t j = 0; j < K; j++)
        for (int64_t p = 0; p < S; p++) {
            int64_t s = order[p], *f = &fwd[s * K + j], e = *f, c = count[e]++;
            if (c < C) {
                *f = e * C + c;
                inv[e * C + c] = s;
            } else {
                *f = -e - 1;
            }
        }
}

bool moe_route_tensor(const RouteAttr *a, const Tensor *gates, Tensor *out)
{
    int64_t G = gates->dims[0], S = gates->dims[1], ew = gates->dims[2];
    MoeRouteShape r = {S, ew, a->members, a->k, a->capacity, a->batch_priority, a->routing == ROUTING_EXPERT};
    int64_t E = a->members * ew, W = out->dims[1];
    int64_t *scratch = ir_malloc((size_t)(2 * S + E) * sizeof *scratch);
    int64_t *row = ir_malloc((size_t)W * sizeof *row);
    double *key = ir_malloc((size_t)S * sizeof *key);
    float *gs = ir_malloc((size_t)(S * ew) * sizeof *gs);
    bool ok = scratch && row && key && gs;
    for (int64_t g = 0; ok && g < G; g++) {
        for (int64_t i = 0; i < S * ew; i++)
            gs[i] = (float)tensor_get(gates, g * S * ew + i);
        moe_route_group(&r, gs, row, scratch, key);
        for (int64_t i = 0; i < W; i++)
            out->i[g * W + i] = row[i];
    }
    ir_free(scratch);
    ir_free(row);
    ir_free(key);
    ir_free(gs);
    return ok;
}

/* The expert of a route entry, kept (≥ 0) or dropped (< 0). */
static int64_t entry_expert(int64_t r, int64_t C) { return r >= 0 ? r / C : -r - 1; }

bool moe_combine_tensor(const RouteAttr *a, const Tensor *y, const Tensor *route, const Tensor *gates, Tensor *out,
                        char *err, size_t errlen)
{
    int64_t E = y->dims[0], GC = y->dims[1], D = y->dims[2], C = a->capacity, M = a->members;
    int64_t ew = gates->dims[gates->rank - 1], T = gates->numel / ew, G = route->dims[0], W = route->dims[1];
    int64_t K = moe_choices(a->routing, a->k, E), S = (W - E * C) / K;
    bool ec = a->routing == ROUTING_EXPERT;
    double *acc = ir_malloc((size_t)D * sizeof *acc);
    if (!acc) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (int64_t t = 0; t < T; t++) {
        int64_t g = t / S, s = t % S, m = s % M;
        const int64_t *rt = route->i + g * W + s * K;
        double den = 1;
        for (int64_t d = 0; d < D; d++)
            acc[d] = 0;
        for (int64_t j = 0; j < K; j++) {
            int64_t e = entry_expert(rt[j], C), i = e - m * ew;
            if (e < 0 || e >= E || i < 0 || i >= ew || (rt[j] >= 0 && g * C + rt[j] % C >= GC) || g >= G) {
                snprintf(err, errlen, "route entry %lld of token %lld is out of range", (long long)rt[j],
                         (long long)t);
                ir_free(acc);
                return false;
            }
        }
        if (a->normalize_combine) {
            den = 0;
            for (int64_t j = 0; j < K; j++)
                if (!ec || rt[j] >= 0)
                    den += tensor_get(gates, t * ew + entry_expert(rt[j], C) - m * ew);
        }
        for (int64_t j = 0; j < K; j++) {
            if (rt[j] < 0)
                continue;
            int64_t e = rt[j] / C, c = rt[j] % C;
            double w = tensor_get(gates, t * ew + e - m * ew) / den;
            const float *ys = y->f + (e * GC + g * C + c) * D;
            for (int64_t d = 0; d < D; d++)
                acc[d] += w * ys[d];
        }
        for (int64_t d = 0; d < D; d++)
            out->f[t * D + d] = (float)dtype_round(out->dt, acc[d]);
    }
    ir_free(acc);
    return true;
}
