/* ocl_attention.c — KK_ATTENTION kernels (semantics: ir/plan.h, ir/plan_exec.c), in the
 * register-blocked style PoCL compiles well, vectorised across the queries of a tile as the
 * LLVM backend does (backends/llvm/llvm_attention.c), so no step needs a horizontal sum:
 *
 *   one work-item per tile of TQ = tile_m queries (8 or 16, in QV = TQ/VL vectors of VL = 8
 *   lanes, or 16 on a device whose GEMMs use float16: VT, VLOAD, VSTORE in the text) of
 *   one batch index (heads included): global size Π batch dims × ⌈Nq / TQ⌉
 *   Qt[d][i] = scale · q[q0+i, d]                       (0 past Nq; rows clamped)
 *   m = −inf, l = 0, Acc = 0                            (per query lane; Acc[c][i])
 *   for each block of keys [j0, j0 + nb)                (tile_n keys, or all: decomposed)
 *     S[j][i] = Σ_d k[j0+j, d]·Qt[d][i]                 12/QV keys × QV vectors in named
 *                                                       accumulators, k broadcast, fma()
 *     mask: S = keep ? S : finfo.min  /  S += mask  /  segment ids (NaViT, below)
 *     m' = max(m, max_j S[j]) (NaN-propagating); b = m', or 0 where m' = −inf
 *     α = e^(m − b); S[j] = e^(S[j] − b); l = α·l + Σ_j S[j]; m = m'; Acc ·= α
 *     Acc[c] += Σ_j v[j0+j, c]·S[j]                     CJ columns × QV vectors, v broadcast
 *   out[q0+i, c] = epi(Acc[c][i] / l[i])                (0 when Nk = 0)
 *
 * Qt, S, Acc are private arrays sized from the dims' maxima (symbols at their maxima).
 *
 * Segment ids (mask = segment or slot, NaViT: docs/NAVIT.md): in[mask] is seg i32 [Nk]
 * broadcast (seg[j] at (…, 0, j)). Query lane i wants segment W[i] = seg[q0+i] (segment)
 * or q0+i (slot), −1 past Nq; key j is a logit of lane i iff seg[j] = W[i] ≥ 0, else its
 * score is −inf (p = 0). Only the keys [jlo, jhi) between the first and the last whose
 * segment lies in [min W, max W] are visited: with contiguous segments (the packer's) a
 * tile costs the keys of its own segments, Σ nᵢ² in all. A lane that sees no key (a
 * padding query, an empty slot) gives 0.
 */
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

enum { ACCS = 12, MAX_SCORES = 1 << 16 };

static const char *const idx_names[IR_MAX_RANK] = {"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"};

static int64_t at_max(const Plan *p, Dim d) { return dim_is_const(d) ? d.n : d.n * p->g->syms[d.sym].max; }

bool ocl_gen_attention(OGen *g)
{
    const Kernel *k = g->k;
    const AttnInfo *a = &k->u.attn;
    const View *Q = &k->in[a->q], *K = &k->in[a->k], *V = &k->in[a->v], *M = a->mask >= 0 ? &k->in[a->mask] : NULL;
    const View *O = &k->out;
    int32_t r = O->rank, nb = r - 2;
    if (r < 2)
        return ogen_fail(g, "internal error: attention kernel %d has an output of rank %d", g->ki, r);
    int TQ = k->sched.tile_m == 8 || k->sched.tile_m == 16 ? k->sched.tile_m : 16;
    int VL = g->o->gemm_vec == 16 && TQ % 16 == 0 ? 16 : 8, QV = TQ / VL; /* float16 on AVX-512 */
    int KJ = ACCS / QV, CJ = ACCS / QV;
    int64_t dhmax = at_max(g->p, a->dh), dvmax = at_max(g->p, a->dv), nkmax = at_max(g->p, a->nk);
    int64_t BN = k->sched.tile_n > 0 ? k->sched.tile_n : nkmax;
    if (BN < 1)
        BN = 1;
    if (BN * TQ > MAX_SCORES)
        BN = 64;
    if ((dhmax + dvmax) * TQ > MAX_SCORES * 4)
        return ogen_fail(g, "attention kernel %d: head dims %" PRId64 " and %" PRId64 " are too large for the "
                         "OpenCL backend", g->ki, dhmax, dvmax);
    bool seg = M && (a->mask_kind == MASK_SEGMENT || a->mask_kind == MASK_SLOT);
    DType qdt = g->p->bufs[Q->buf].dt;
    double fill = qdt == DT_F16 ? -65504.0 : qdt == DT_BF16 ? -3.3895313892515355e38 : -FLT_MAX;
    char NQ[64], NK[64], DH[64], DV[64], off[1200], t[1300], lit[64];
    ocl_dim(a->nq, NQ, sizeof NQ);
    ocl_dim(a->nk, NK, sizeof NK);
    ocl_dim(a->dh, DH, sizeof DH);
    ocl_dim(a->dv, DV, sizeof DV);
    ogen_line(g, "#define VT float%d", VL);
    ogen_line(g, "#define VLOAD vload%d", VL);
    ogen_line(g, "#define VSTORE vstore%d", VL);
    ogen_line(g, "const long NQ = %s, NK = %s, DH = %s, DV = %s;", NQ, NK, DH, DV);
    ogen_line(g, "const long TQN = (NQ + %d) / %d;", TQ - 1, TQ);
    ogen_line(g, "const long gid = get_global_id(0);");
    ogen_line(g, "const long q0 = (gid %% TQN) * %d;", TQ);
    ogen_line(g, "long rem = gid / TQN;");
    const char *idx[IR_MAX_RANK] = {0};
    char d[64];
    for (int i = nb - 1; i >= 0; i--) {
        idx[i] = idx_names[i];
        ocl_dim(O->dims[i], d, sizeof d);
        if (dim_is_const(O->dims[i]) && O->dims[i].n == 1)
            ogen_line(g, "const long %s = 0;", idx[i]);
        else if (i == 0)
            ogen_line(g, "const long %s = rem;", idx[i]);
        else
            ogen_line(g, "const long %s = rem %% %s; rem /= %s;", idx[i], d, d);
    }
    ogen_line(g, "(void)rem;");
    const View *views[4] = {Q, K, V, M};
    const char *bases[4] = {"qb", "kb", "vb", "mb"};
    for (int v = 0; v < 4; v++)
        if (views[v]) {
            ocl_view_offset(views[v], idx, nb, off, sizeof off);
            ogen_line(g, "const long %s = %s;", bases[v], off);
        }
    ogen_line(g, "float Qt[%" PRId64 "], S[%" PRId64 "], Acc[%" PRId64 "], L[%d];", (dhmax ? dhmax : 1) * TQ, BN * TQ,
              (dvmax ? dvmax : 1) * TQ, TQ);
    /* Qt = scale · q, transposed */
    ocl_float_literal((float)a->scale, lit, sizeof lit);
    ogen_line(g, "for (int i = 0; i < %d; i++) {", TQ);
    g->indent++;
    ogen_line(g, "const long qi = min(q0 + i, NQ - 1);");
    ogen_line(g, "const float sc = q0 + i < NQ ? %s : 0.0f;", lit);
    ocl_step("qb", "qi", Q->strides[r - 2], t, sizeof t);
    ogen_line(g, "const long qr = %s;", t);
    ogen_line(g, "for (long dd = 0; dd < DH; dd++) {");
    g->indent++;
    ocl_step("qr", "dd", Q->strides[r - 1], off, sizeof off);
    ocl_load(g, Q->buf, off, DT_F32, "x");
    ogen_line(g, "Qt[dd * %d + i] = sc * x;", TQ);
    g->indent--;
    ogen_line(g, "}");
    g->indent--;
    ogen_line(g, "}");
    ogen_line(g, "for (long c = 0; c < DV * %d; c++)", TQ);
    ogen_line(g, "    Acc[c] = 0.0f;");
    for (int v = 0; v < QV; v++)
        ogen_line(g, "VT m_%d = (VT)(-INFINITY), l_%d = (VT)(0.0f);", v, v);
    if (seg) {
        /* the segment each query lane wants (-1: none), and the keys [jlo, jhi) whose
           segment lies in the range of the wanted ones: blocks outside it are skipped */
        ogen_line(g, "int W[%d], SEEN[%d];", TQ, TQ);
        ogen_line(g, "int wlo = INT_MAX, whi = -1;");
        ogen_line(g, "for (int i = 0; i < %d; i++) {", TQ);
        g->indent++;
        if (a->mask_kind == MASK_SEGMENT) {
            ogen_line(g, "const long qi = min(q0 + i, NQ - 1);");
            ocl_step("mb", "qi", M->strides[r - 1], off, sizeof off);
            ocl_load(g, M->buf, off, DT_I32, "sq");
            ogen_line(g, "W[i] = q0 + i < NQ ? sq : -1;");
        } else {
            ogen_line(g, "W[i] = q0 + i < NQ ? (int)(q0 + i) : -1;");
        }
        ogen_line(g, "SEEN[i] = 0;");
        ogen_line(g, "if (W[i] >= 0) {");
        ogen_line(g, "    wlo = min(wlo, W[i]);");
        ogen_line(g, "    whi = max(whi, W[i]);");
        ogen_line(g, "}");
        g->indent--;
        ogen_line(g, "}");
        ogen_line(g, "long jlo = 0, jhi = 0;");
        ogen_line(g, "for (long j = 0; j < NK; j++) {");
        g->indent++;
        ocl_step("mb", "j", M->strides[r - 1], off, sizeof off);
        ocl_load(g, M->buf, off, DT_I32, "sj");
        ogen_line(g, "if (sj >= wlo && sj <= whi) {");
        ogen_line(g, "    jlo = jhi == 0 ? j : jlo;");
        ogen_line(g, "    jhi = j + 1;");
        ogen_line(g, "}");
        g->indent--;
        ogen_line(g, "}");
    } else {
        ogen_line(g, "const long jlo = 0, jhi = NK;");
    }
    ogen_line(g, "for (long j0 = jlo; j0 < jhi; j0 += %" PRId64 ") {", BN);
    g->indent++;
    ogen_line(g, "const long nb = min((long)%" PRId64 ", jhi - j0);", BN);
    /* scores: KJ keys × QV vectors */
    ogen_line(g, "for (long jj = 0; jj < nb; jj += %d) {", KJ);
    g->indent++;
    for (int j = 0; j < KJ; j++) {
        snprintf(t, sizeof t, "min(j0 + jj + %d, NK - 1)", j);
        ocl_step("kb", t, K->strides[r - 2], off, sizeof off);
        ogen_line(g, "const long kr%d = %s;", j, off);
        for (int v = 0; v < QV; v++)
            ogen_line(g, "VT s%d_%d = (VT)(0.0f);", j, v);
    }
    ogen_line(g, "for (long dd = 0; dd < DH; dd++) {");
    g->indent++;
    for (int v = 0; v < QV; v++)
        ogen_line(g, "const VT q_%d = VLOAD(%d, Qt + dd * %d);", v, v, TQ);
    for (int j = 0; j < KJ; j++) {
        char kr[16], nm[16];
        snprintf(kr, sizeof kr, "kr%d", j);
        snprintf(nm, sizeof nm, "k%d", j);
        ocl_step(kr, "dd", K->strides[r - 1], off, sizeof off);
        ocl_load(g, K->buf, off, DT_F32, nm);
        for (int v = 0; v < QV; v++)
            ogen_line(g, "s%d_%d = fma((VT)(k%d), q_%d, s%d_%d);", j, v, j, v, j, v);
    }
    g->indent--;
    ogen_line(g, "}");
    for (int j = 0; j < KJ; j++) {
        ogen_line(g, "if (jj + %d < nb) {", j);
        for (int v = 0; v < QV; v++)
            ogen_line(g, "    VSTORE(s%d_%d, %d, S + (jj + %d) * %d);", j, v, v, j, TQ);
        ogen_line(g, "}");
    }
    g->indent--;
    ogen_line(g, "}");
    /* the mask */
    if (seg) { /* keys of other segments are no logits: −inf, p = 0 */
        ogen_line(g, "for (long jj = 0; jj < nb; jj++) {");
        g->indent++;
        ocl_step("mb", "(j0 + jj)", M->strides[r - 1], off, sizeof off);
        ocl_load(g, M->buf, off, DT_I32, "sj");
        ogen_line(g, "for (int i = 0; i < %d; i++) {", TQ);
        ogen_line(g, "    if (sj != W[i] || sj < 0)");
        ogen_line(g, "        S[jj * %d + i] = -INFINITY;", TQ);
        ogen_line(g, "    else");
        ogen_line(g, "        SEEN[i] = 1;");
        ogen_line(g, "}");
        g->indent--;
        ogen_line(g, "}");
    } else if (M) {
        ogen_line(g, "for (long jj = 0; jj < nb; jj++) {");
        g->indent++;
        ogen_line(g, "for (int i = 0; i < %d; i++) {", TQ);
        g->indent++;
        ogen_line(g, "const long qi = min(q0 + i, NQ - 1);");
        ocl_step("mb", "qi", M->strides[r - 2], t, sizeof t);
        ocl_step(t, "(j0 + jj)", M->strides[r - 1], off, sizeof off);
        if (a->mask_kind == MASK_KEEP) {
            ocl_load(g, M->buf, off, DT_BOOL, "keep");
            ocl_float_literal((float)fill, lit, sizeof lit);
            ogen_line(g, "if (!keep)");
            ogen_line(g, "    S[jj * %d + i] = %s;", TQ, lit);
        } else {
            ocl_load(g, M->buf, off, DT_F32, "add");
            ogen_line(g, "S[jj * %d + i] += add;", TQ);
        }
        g->indent--;
        ogen_line(g, "}");
        g->indent--;
        ogen_line(g, "}");
    }
    /* the online softmax, per query vector */
    for (int v = 0; v < QV; v++) {
        ogen_line(g, "{");
        g->indent++;
        ogen_line(g, "VT bm = m_%d;", v);
        ogen_line(g, "for (long jj = 0; jj < nb; jj++) {");
        ogen_line(g, "    const VT x = VLOAD(%d, S + jj * %d);", v, TQ);
        ogen_line(g, "    bm = select(select(bm, x, x > bm), (VT)(NAN), isnan(x) | isnan(bm));");
        ogen_line(g, "}");
        ogen_line(g, "const VT b = select(bm, (VT)(0.0f), bm == (VT)(-INFINITY));");
        ogen_line(g, "const VT al = exp(m_%d - b);", v);
        ogen_line(g, "VT sum = (VT)(0.0f);");
        ogen_line(g, "for (long jj = 0; jj < nb; jj++) {");
        ogen_line(g, "    const VT p = exp(VLOAD(%d, S + jj * %d) - b);", v, TQ);
        ogen_line(g, "    VSTORE(p, %d, S + jj * %d);", v, TQ);
        ogen_line(g, "    sum += p;");
        ogen_line(g, "}");
        ogen_line(g, "l_%d = al * l_%d + sum;", v, v);
        ogen_line(g, "m_%d = bm;", v);
        ogen_line(g, "for (long c = 0; c < DV; c++)");
        ogen_line(g, "    VSTORE(al * VLOAD(%d, Acc + c * %d), %d, Acc + c * %d);", v, TQ, v, TQ);
        g->indent--;
        ogen_line(g, "}");
    }
    /* Acc += V-block · P: CJ columns × QV vectors */
    ogen_line(g, "for (long c = 0; c < DV; c += %d) {", CJ);
    g->indent++;
    for (int c = 0; c < CJ; c++)
        for (int v = 0; v < QV; v++)
            ogen_line(g, "VT a%d_%d = VLOAD(%d, Acc + min(c + %d, DV - 1) * %d);", c, v, v, c, TQ);
    ogen_line(g, "for (long jj = 0; jj < nb; jj++) {");
    g->indent++;
    for (int v = 0; v < QV; v++)
        ogen_line(g, "const VT p_%d = VLOAD(%d, S + jj * %d);", v, v, TQ);
    ocl_step("vb", "(j0 + jj)", V->strides[r - 2], t, sizeof t);
    ogen_line(g, "const long vr = %s;", t);
    for (int c = 0; c < CJ; c++) {
        char col[32], nm[16];
        snprintf(col, sizeof col, "min(c + %d, DV - 1)", c);
        snprintf(nm, sizeof nm, "w%d", c);
        ocl_step("vr", col, V->strides[r - 1], off, sizeof off);
        ocl_load(g, V->buf, off, DT_F32, nm);
        for (int v = 0; v < QV; v++)
            ogen_line(g, "a%d_%d = fma((VT)(w%d), p_%d, a%d_%d);", c, v, c, v, c, v);
    }
    g->indent--;
    ogen_line(g, "}");
    for (int c = 0; c < CJ; c++) {
        ogen_line(g, "if (c + %d < DV) {", c);
        for (int v = 0; v < QV; v++)
            ogen_line(g, "    VSTORE(a%d_%d, %d, Acc + (c + %d) * %d);", c, v, v, c, TQ);
        ogen_line(g, "}");
    }
    g->indent--;
    ogen_line(g, "}");
    g->indent--;
    ogen_line(g, "}");
    /* the epilogue */
    for (int v = 0; v < QV; v++)
        ogen_line(g, "VSTORE(l_%d, %d, L);", v, v);
    ogen_line(g, "for (int i = 0; i < %d && q0 + i < NQ; i++) {", TQ);
    g->indent++;
    ogen_line(g, "const long qi = q0 + i;");
    idx[r - 2] = "qi";
    ocl_view_offset(O, idx, r - 1, off, sizeof off);
    ogen_line(g, "const long ob = %s;", off);
    ogen_line(g, "for (long c = 0; c < DV; c++) {");
    g->indent++;
    idx[r - 1] = "c";
    if (seg) /* a padding query, an empty slot: 0 */
        ogen_line(g, "const float y = SEEN[i] ? Acc[c * %d + i] / L[i] : 0.0f;", TQ);
    else
        ogen_line(g, "const float y = NK == 0 ? 0.0f : Acc[c * %d + i] / L[i];", TQ);
    char acc[1400];
    ocl_convert(g, "y", DT_F32, ocl_acc_dtype(k), acc, sizeof acc);
    OPoint pt = {idx, acc, NULL};
    ocl_store_result(g, &pt, "ob");
    g->indent--;
    ogen_line(g, "}");
    g->indent--;
    ogen_line(g, "}");
    ogen_line(g, "#undef VT");
    ogen_line(g, "#undef VLOAD");
    ogen_line(g, "#undef VSTORE");
    OclFactor f[IR_MAX_RANK + 2];
    int32_t nf = 0;
    for (int i = 0; i < nb; i++)
        f[nf++] = (OclFactor){O->dims[i], 1};
    f[nf++] = (OclFactor){a->nq, TQ};
    return ogen_finish(g, "attention", KK_ATTENTION, k->once, false, f, nf, g->o->gpu ? 0 : 1) >= 0;
}
