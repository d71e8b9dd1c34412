/* ocl_moe.c — the MoE kernels (ir/plan.h: KK_MOE_ROUTE, KK_MOE_COMBINE; docs/MOE.md;
 * the reference is ir/moe_route.c), as row bodies of the row skeleton (ocl_kernels.c).
 *
 *   MOE_ROUTE    one row = one group. Token choice: per token, k passes of an argmax over
 *                its member's gates (skipping experts already taken; ties to the lower
 *                index, NaN below numbers), written to the route row (the output view:
 *                its expression is the route itself), the top-1 gate kept as the token's
 *                key; with batch_priority a stable merge sort of the token order by
 *                descending key; then choice-major slots with one counter per expert.
 *                Expert choice: per expert the same sort of the tokens by its gate; the
 *                first min(C, S) take its slots. Scratch (order, merge buffer, keys,
 *                counters) is private, sized by S and E (fixed by the plan).
 *   MOE_COMBINE  one row = one token t = g·S + s: its K route entries and weights (gates,
 *                normalised if asked), then per element d the sum over kept choices of
 *                w_j · y[e_j, g·C + c_j, d] in choice order, then the epilogue. An entry
 *                out of range sets the error cell (RT_ERR_INDEX) and contributes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

enum { MAX_PRIVATE = 1 << 16 };

/* the stable merge sort of moe_route.c, descending, NaN last */
static const char sort_helper[] =
    "static inline int vit_before(float a, float b) { return a > b || (isnan(b) && !isnan(a)); }\n"
    "static void vit_sort_desc(long *idx, long *tmp, long n, const float *key)\n{\n"
    "    long *src = idx, *dst = tmp;\n"
    "    for (long w = 1; w < n; w *= 2) {\n"
    "        for (long lo = 0; lo < n; lo += 2 * w) {\n"
    "            long mid = min(lo + w, n), hi = min(lo + 2 * w, n), i = lo, j = mid;\n"
    "            for (long o = lo; o < hi; o++)\n"
    "                dst[o] = j < hi && (i >= mid || vit_before(key[src[j]], key[src[i]])) ? src[j++] : src[i++];\n"
    "        }\n"
    "        long *t = src;\n        src = dst;\n        dst = t;\n"
    "    }\n"
    "    if (src != idx)\n        for (long i = 0; i < n; i++)\n            idx[i] = src[i];\n}\n";

void ocl_body_moe_route(OGen *g, const char *const *idx, const char *const *rowbase, const char *outbase)
{
    (void)rowbase;
    const Kernel *k = g->k;
    const MoeRouteInfo *mi = &k->u.moe_route;
    const View *gv = &k->in[mi->gates], *out = &k->out;
    const RouteAttr *a = &mi->attr;
    if (k->expr[k->root].kind != EX_ACC || out->rank != 2 || gv->rank != 3 || !dim_is_const(gv->dims[1]) ||
        !dim_is_const(gv->dims[2])) {
        ogen_fail(g, "kernel %d: the OpenCL backend routes fixed-size groups into the route itself", g->ki);
        return;
    }
    int64_t S = gv->dims[1].n, ew = gv->dims[2].n, M = a->members, E = M * ew, C = a->capacity;
    bool ec = a->routing == ROUTING_EXPERT;
    int64_t K = ec ? E : a->k;
    if (S < 1 || E < 1 || 3 * S + E > MAX_PRIVATE) {
        ogen_fail(g, "kernel %d: a MoE group of %" PRId64 " tokens and %" PRId64 " experts is too large for the "
                  "OpenCL backend", g->ki, S, E);
        return;
    }
    int32_t os = ogen_buffer(g, out->buf, true), gs = ogen_buffer(g, gv->buf, false);
    (void)gs;
    char off[1200], gate[1400], ost[64];
    const char *gi[3] = {idx[0], "(s)", "(i)"};
    ocl_view_offset(gv, gi, 3, off, sizeof off);
    ocl_load_expr(g, gv->buf, off, DT_F32, gate, sizeof gate);
    ocl_dim(out->strides[1], ost, sizeof ost);
    ogen_line(g, "#define GATE(s, i) (%s)", gate);
    ogen_line(g, "#define R(q) a%d[%s + (q) * %s]", os, outbase, ost);
    ogen_line(g, "const long S = %" PRId64 ", EW = %" PRId64 ", M = %" PRId64 ", E = %" PRId64 ", C = %" PRId64
              ", K = %" PRId64 ";", S, ew, M, E, C, K);
    ogen_line(g, "long order[%" PRId64 "], tmp[%" PRId64 "], count[%" PRId64 "];", S, S, E);
    ogen_line(g, "float key[%" PRId64 "];", S);
    ogen_line(g, "for (long q = 0; q < E * C; q++)");
    ogen_line(g, "    R(S * K + q) = -1;");
    if (ec) {
        ogen_line(g, "for (long q = 0; q < S * K; q++)");
        ogen_line(g, "    R(q) = (int)(-(q %% K) - 1);");
        ogen_line(g, "for (long e = 0; e < E; e++) {");
        ogen_line(g, "    for (long s = 0; s < S; s++) {");
        ogen_line(g, "        order[s] = s;");
        ogen_line(g, "        key[s] = GATE(s, e);");
        ogen_line(g, "    }");
        ogen_line(g, "    vit_sort_desc(order, tmp, S, key);");
        ogen_line(g, "    for (long c = 0; c < C && c < S; c++) {");
        ogen_line(g, "        R(S * K + e * C + c) = (int)order[c];");
        ogen_line(g, "        R(order[c] * K + e) = (int)(e * C + c);");
        ogen_line(g, "    }");
        ogen_line(g, "}");
    } else {
        ogen_line(g, "for (long s = 0; s < S; s++) {");
        ogen_line(g, "    const long m = s %% M;");
        ogen_line(g, "    for (long j = 0; j < K; j++) {");
        ogen_line(g, "        long best = -1;");
        ogen_line(g, "        for (long i = 0; i < EW; i++) {");
        ogen_line(g, "            int taken = 0;");
        ogen_line(g, "            for (long jj = 0; jj < j; jj++)");
        ogen_line(g, "                taken |= R(s * K + jj) == m * EW + i;");
        ogen_line(g, "            if (!taken && (best < 0 || vit_before(GATE(s, i), GATE(s, best))))");
        ogen_line(g, "                best = i;");
        ogen_line(g, "        }");
        ogen_line(g, "        R(s * K + j) = (int)(m * EW + best);");
        ogen_line(g, "        if (j == 0)");
        ogen_line(g, "            key[s] = GATE(s, best);");
        ogen_line(g, "    }");
        ogen_line(g, "    order[s] = s;");
        ogen_line(g, "}");
        if (a->batch_priority)
            ogen_line(g, "vit_sort_desc(order, tmp, S, key);");
        ogen_line(g, "for (long e = 0; e < E; e++)");
        ogen_line(g, "    count[e] = 0;");
        ogen_line(g, "for (long j = 0; j < K; j++)");
        ogen_line(g, "    for (long p = 0; p < S; p++) {");
        ogen_line(g, "        const long s = order[p], e = R(s * K + j), c = count[e]++;");
        ogen_line(g, "        if (c < C) {");
        ogen_line(g, "            R(s * K + j) = (int)(e * C + c);");
        ogen_line(g, "            R(S * K + e * C + c) = (int)s;");
        ogen_line(g, "        } else {");
        ogen_line(g, "            R(s * K + j) = (int)(-e - 1);");
        ogen_line(g, "        }");
        ogen_line(g, "    }");
    }
    ogen_line(g, "#undef GATE");
    ogen_line(g, "#undef R");
    g->helpers |= HELP_MOE_SORT;
}

void ocl_body_moe_combine(OGen *g, const char *const *idx, const char *const *rowbase, const char *outbase)
{
    const Kernel *k = g->k;
    const MoeCombineInfo *mi = &k->u.moe_combine;
    const View *yv = &k->in[mi->y], *rv = &k->in[mi->route], *gv = &k->in[mi->gates], *out = &k->out;
    const RouteAttr *a = &mi->attr;
    int32_t r = out->rank;
    if (yv->rank != 3 || rv->rank != 2 || gv->rank != r || r < 1 || !dim_is_const(yv->dims[0]) ||
        !dim_is_const(rv->dims[1]) || !dim_is_const(gv->dims[r - 1])) {
        ogen_fail(g, "internal error: moe_combine kernel %d has views of unexpected ranks", g->ki);
        return;
    }
    int64_t E = yv->dims[0].n, W = rv->dims[1].n, ew = gv->dims[r - 1].n, C = a->capacity, M = a->members;
    bool ec = a->routing == ROUTING_EXPERT;
    int64_t K = ec ? E : a->k, S = K > 0 ? (W - E * C) / K : 0;
    if (K < 1 || K > MAX_PRIVATE || S < 1) {
        ogen_fail(g, "kernel %d: a MoE combine of %" PRId64 " choices is too large for the OpenCL backend", g->ki, K);
        return;
    }
    char GC[64], G[64], off[1200], t[1300], D[64];
    ocl_dim(yv->dims[1], GC, sizeof GC);
    ocl_dim(rv->dims[0], G, sizeof G);
    ocl_dim(out->dims[r - 1], D, sizeof D);
    ogen_line(g, "const long S = %" PRId64 ", EW = %" PRId64 ", M = %" PRId64 ", E = %" PRId64 ", C = %" PRId64
              ", K = %" PRId64 ", GC = %s, G = %s;", S, ew, M, E, C, K, GC, G);
    ogen_line(g, "const long g = it / S, s = it %% S, m = s %% M;");
    ogen_line(g, "long rj[%" PRId64 "];", K);
    ogen_line(g, "float wj[%" PRId64 "];", K);
    ogen_line(g, "float den = %s;", a->normalize_combine ? "0.0f" : "1.0f");
    ogen_line(g, "for (long j = 0; j < K; j++) {");
    g->indent++;
    const char *ri[2] = {"g", "(s * K + j)"};
    ocl_view_offset(rv, ri, 2, off, sizeof off);
    ocl_load(g, rv->buf, off, DT_I64, "re");
    ogen_line(g, "const long e = re >= 0 ? re / C : -re - 1, i = e - m * EW;");
    ogen_line(g, "rj[j] = re;");
    ogen_line(g, "wj[j] = 0.0f;");
    ogen_line(g, "if (e < 0 || e >= E || i < 0 || i >= EW || (re >= 0 && g * C + re %% C >= GC) || g >= G) {");
    ogen_line(g, "    rj[j] = -1;");
    ogen_line(g, "    if (atomic_cmpxchg(err, 0, %d) == 0)", RT_ERR_INDEX);
    ogen_line(g, "        err[1] = (int)kid;");
    ogen_line(g, "    continue;");
    ogen_line(g, "}");
    char base[16];
    snprintf(base, sizeof base, "rb%d", mi->gates);
    ocl_step(rowbase && rowbase[mi->gates] ? base : "0", "i", gv->strides[r - 1], t, sizeof t);
    ocl_load(g, gv->buf, t, DT_F32, "w");
    ogen_line(g, "wj[j] = w;");
    if (a->normalize_combine)
        ogen_line(g, "%s", ec ? "if (re >= 0) den += w;" : "den += w;");
    g->indent--;
    ogen_line(g, "}");
    ogen_line(g, "for (long d = 0; d < %s; d++) {", D);
    g->indent++;
    ogen_line(g, "float acc = 0.0f;");
    ogen_line(g, "for (long j = 0; j < K; j++) {");
    g->indent++;
    ogen_line(g, "if (rj[j] < 0)");
    ogen_line(g, "    continue;");
    const char *yi[3] = {"(rj[j] / C)", "(g * C + rj[j] % C)", "d"};
    ocl_view_offset(yv, yi, 3, off, sizeof off);
    ocl_load(g, yv->buf, off, DT_F32, "yv");
    ogen_line(g, "acc = fma(wj[j] / den, yv, acc);");
    g->indent--;
    ogen_line(g, "}");
    const char *oidx[IR_MAX_RANK];
    memcpy(oidx, idx, sizeof oidx);
    oidx[r - 1] = "d";
    char acc[1400];
    ocl_convert(g, "acc", DT_F32, ocl_acc_dtype(k), acc, sizeof acc);
    OPoint pt = {oidx, acc, rowbase};
    ocl_store_result(g, &pt, outbase);
    g->indent--;
    ogen_line(g, "}");
}

const char *ocl_moe_sort_helper(void) { return sort_helper; }
