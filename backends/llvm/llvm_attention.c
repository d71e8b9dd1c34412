/* llvm_attention.c — KK_ATTENTION kernels (semantics: ir/plan.h, ir/plan_exec.c).
 *
 * One iteration is one tile of TQ = tile_m queries of one batch index (heads included):
 * the extent is Π batch dims × ⌈Nq / TQ⌉, so threads split heads and query tiles, never
 * one small product (PERF_NOTES). Everything is vectorised across the tile's queries, so
 * each step of the softmax is vertical (no horizontal reductions) and neither K nor V is
 * copied:
 *
 *   Qt[d][i] = scale · q[i0+i, d]                       (the tile, transposed; 0 past Nq)
 *   m = −inf, l = 0, Acc = 0                            (per query lane; Acc[c][i])
 *   for each block of keys [j0, j0 + nb):               (flash: tile_n keys; decomposed:
 *     S[j][i] = Σ_d k[j0+j, d]·Qt[d][i]                  one block of all Nk keys)
 *       micro-kernel: KJ keys × QV vectors of queries in registers, k broadcast, FMA
 *     mask: S = keep ? S : finfo.min   /   S += mask
 *     m' = max(m, max_j S[j]);  b = m' (0 where m' = −inf: a fully −inf block adds 0)
 *     α = e^(m − b);  S[j] = e^(S[j] − b);  l = α·l + Σ_j S[j];  m = m'
 *     Acc[c] = α·Acc[c] + Σ_j v[j0+j, c]·S[j]            (decomposed: no α, Acc from 0)
 *       micro-kernel: CJ columns × QV vectors in registers, v broadcast, FMA
 *   out[i0+i, c] = epi(Acc[c][i] / l[i])                (0 when Nk = 0)
 *
 * S, Qt, Acc, m, l live in per-thread stack buffers sized from the dims' maxima
 * (plan_attention_score_elems for S). Vectors have the target's lanes (GenTarget.vl, at
 * most what divides tile_m) and the micro-kernels keep as many accumulators as its
 * registers allow; exp is llvm_math.c's, on vectors (no libm call in the loop).
 */
#include <float.h>
#include <math.h>

#include "llvm_internal.h"

enum { ACCS_MAX = 24 /* vector accumulators a micro-kernel keeps in registers, at most */ };

typedef struct {
    Gen *g;
    const AttnInfo *a;
    const View *Q, *K, *V, *M, *O;
    int32_t r;             /* the output's rank */
    int TQ, QV;            /* queries per tile, and vectors per tile (TQ / vl) */
    unsigned vl;           /* lanes per vector */
    int accs;              /* accumulators the micro-kernels may keep */
    bool flash;            /* key blocks with rescaling; else one block (decomposed) */
    LLVMTypeRef vt;        /* <vl x float> */
    LLVMValueRef qt, s, acc, m, l, alpha, base, inv; /* stack buffers (float arrays) */
    LLVMValueRef regs[ACCS_MAX];                     /* accumulators (allocas of vt) */
    LLVMValueRef qb, kb, vb, mb;                     /* view offsets of this batch index */
    LLVMValueRef i0, nq, j0, nb;                     /* the tile's first query and size; the block's */
    LLVMValueRef klo, khi;                           /* the keys the tile sees: [klo, khi) */
    bool segmented;                                  /* mask = segment or slot (in[mask]: seg) */
} Att;

static int64_t dim_max(const Gen *g, Dim d)
{
    return dim_is_const(d) ? d.n : d.n * (d.sym < g->p->g->nsyms ? g->p->g->syms[d.sym].max : 1);
}

/* ---- small builders ---- */

static LLVMValueRef f32c(Gen *g, double v) { return LLVMConstReal(g->t_f32, v); }
static LLVMValueRef add(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(g->b, a, b, ""); }
static LLVMValueRef mul(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(g->b, a, b, ""); }

static LLVMValueRef vsplat(Att *t, LLVMValueRef x)
{
    Gen *g = t->g;
    LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(t->vt), x, LLVMConstInt(g->t_i32, 0, 0), "");
    return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(t->vt), LLVMConstNull(LLVMVectorType(g->t_i32, t->vl)), "");
}

static LLVMValueRef vconst(Att *t, double x) { return vsplat(t, f32c(t->g, x)); }

/* A float array of n elements on the stack, aligned for vectors. */
static LLVMValueRef buffer(Att *t, int64_t n, const char *name)
{
    LLVMValueRef a = gen_alloca(t->g, LLVMArrayType(t->g->t_f32, (unsigned)(n > 0 ? n : 1)), name);
    LLVMSetAlignment(a, 4 * t->vl);
    return a;
}

static LLVMValueRef elem(Gen *g, LLVMValueRef buf, LLVMValueRef i)
{
    return LLVMBuildInBoundsGEP2(g->b, g->t_f32, buf, &i, 1, "");
}

/* Vector at buf[i .. i+vl) (i a multiple of vl: aligned). */
static LLVMValueRef vload(Att *t, LLVMValueRef buf, LLVMValueRef i)
{
    LLVMValueRef v = LLVMBuildLoad2(t->g->b, t->vt, elem(t->g, buf, i), "");
    LLVMSetAlignment(v, 4 * t->vl);
    return v;
}

static void vstore(Att *t, LLVMValueRef buf, LLVMValueRef i, LLVMValueRef v)
{
    LLVMValueRef st = LLVMBuildStore(t->g->b, v, elem(t->g, buf, i));
    LLVMSetAlignment(st, 4 * t->vl);
}

static LLVMValueRef sload(Gen *g, LLVMValueRef buf, LLVMValueRef i)
{
    return LLVMBuildLoad2(g->b, g->t_f32, elem(g, buf, i), "");
}

static void sstore(Gen *g, LLVMValueRef buf, LLVMValueRef i, LLVMValueRef v)
{
    LLVMBuildStore(g->b, v, elem(g, buf, i));
}

static LLVMValueRef vfma(Att *t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMValueRef args[3] = {a, b, c};
    return gen_intrinsic(t->g, "llvm.fmuladd", t->vt, args, 3);
}

/* max without NaN propagation: a NaN score still makes its row NaN through the sum */
static LLVMValueRef vmax(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, a, b, ""), a, b, "");
}

/* e^x: llvm_math.c's (x ≤ −104 gives 0: the −inf and finfo.min of masked scores become
 * exactly 0; NaN stays NaN) */
static LLVMValueRef vexp(Att *t, LLVMValueRef x) { return gen_math_exp(t->g, x); }

/* for (i = 0; i < n; i++) with the body between loop_begin and loop_end */
static GenLoop loop(Gen *g, LLVMValueRef n, const char *name)
{
    GenLoop l;
    gen_loop_begin(g, &l, gen_i64(g, 0), n, name);
    return l;
}

static LLVMValueRef lanes(Att *t, int v) { return gen_i64(t->g, (int64_t)v * t->vl); }

/* ---- the steps ---- */

/* Qt[d][i] = scale · q[i0+i, d], 0 for i ≥ nq (the row read is clamped to nq − 1). */
static void pack_q(Att *t)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    GenLoop i = loop(g, gen_i64(g, t->TQ), "qi");
    LLVMValueRef in = LLVMBuildICmp(b, LLVMIntSLT, i.iv, t->nq, "");
    LLVMValueRef last = LLVMBuildNSWSub(b, t->nq, gen_i64(g, 1), ""); /* (an empty tile reads row i0 = 0) */
    last = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, last, gen_i64(g, 0), ""), gen_i64(g, 0), last, "");
    LLVMValueRef row = LLVMBuildSelect(b, in, i.iv, last, "");
    LLVMValueRef qrow = gen_offset_step(g, t->qb, add(g, t->i0, row), t->Q->strides[t->r - 2]);
    LLVMValueRef sc = LLVMBuildSelect(b, in, f32c(g, t->a->scale), f32c(g, 0), "");
    GenLoop d = loop(g, gen_dim(g, t->a->dh), "qd");
    LLVMValueRef x = gen_load(g, t->Q->buf, gen_offset_step(g, qrow, d.iv, t->Q->strides[t->r - 1]), DT_F32);
    sstore(g, t->qt, add(g, mul(g, d.iv, gen_i64(g, t->TQ)), i.iv), LLVMBuildFMul(b, x, sc, ""));
    gen_loop_end(g, &d, LOOP_PLAIN);
    gen_loop_end(g, &i, LOOP_PLAIN);
}

/* S[jj+kj][:] = Σ_d k[j0+jj+kj, d]·Qt[d][:] for kj < nkeys (unrolled), jj a runtime key. */
static void scores_group(Att *t, LLVMValueRef jj, int nkeys)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    LLVMValueRef krow[ACCS_MAX], zero = vconst(t, 0);
    for (int kj = 0; kj < nkeys; kj++) {
        LLVMValueRef j = add(g, add(g, t->j0, jj), gen_i64(g, kj));
        krow[kj] = gen_offset_step(g, t->kb, j, t->K->strides[t->r - 2]);
        for (int v = 0; v < t->QV; v++)
            LLVMBuildStore(b, zero, t->regs[kj * t->QV + v]);
    }
    GenLoop d = loop(g, gen_dim(g, t->a->dh), "sd");
    LLVMValueRef qrow = mul(g, d.iv, gen_i64(g, t->TQ)), qv[ACCS_MAX];
    for (int v = 0; v < t->QV; v++)
        qv[v] = vload(t, t->qt, add(g, qrow, lanes(t, v)));
    for (int kj = 0; kj < nkeys; kj++) {
        LLVMValueRef kx = gen_load(g, t->K->buf, gen_offset_step(g, krow[kj], d.iv, t->K->strides[t->r - 1]), DT_F32);
        LLVMValueRef ks = vsplat(t, kx);
        for (int v = 0; v < t->QV; v++) {
            LLVMValueRef p = t->regs[kj * t->QV + v];
            LLVMBuildStore(b, vfma(t, ks, qv[v], LLVMBuildLoad2(b, t->vt, p, "")), p);
        }
    }
    gen_loop_end(g, &d, LOOP_PLAIN);
    for (int kj = 0; kj < nkeys; kj++) {
        LLVMValueRef srow = mul(g, add(g, jj, gen_i64(g, kj)), gen_i64(g, t->TQ));
        for (int v = 0; v < t->QV; v++)
            vstore(t, t->s, add(g, srow, lanes(t, v)), LLVMBuildLoad2(b, t->vt, t->regs[kj * t->QV + v], ""));
    }
}

/* How many keys (columns) a micro-kernel takes at once: what the accumulators allow, or
 * the largest divisor of a constant length n (block, Dv) not much below that. */
static int group(const Att *t, int64_t n)
{
    int most = t->accs / t->QV > 0 ? t->accs / t->QV : 1;
    for (int d = most; n > 0 && d * 3 >= most * 2; d--)
        if (n % d == 0)
            return d;
    return most;
}

/* The keys [0, nb) of the block in groups of KJ (registers), then one at a time. */
static void scores(Att *t)
{
    Gen *g = t->g;
    const Dim *nk = &t->a->nk;
    int KJ = group(t, t->flash ? t->g->k->sched.tile_n : dim_is_const(*nk) ? nk->n : 0);
    LLVMValueRef groups = LLVMBuildSDiv(g->b, t->nb, gen_i64(g, KJ), "");
    GenLoop gr = loop(g, groups, "kgroup");
    scores_group(t, mul(g, gr.iv, gen_i64(g, KJ)), KJ);
    gen_loop_end(g, &gr, LOOP_PLAIN);
    if (KJ > 1) {
        GenLoop tail;
        gen_loop_begin(g, &tail, mul(g, groups, gen_i64(g, KJ)), t->nb, "ktail");
        scores_group(t, tail.iv, 1);
        gen_loop_end(g, &tail, LOOP_PLAIN);
    }
}

/* seg[j] (the segment ids, i64) */
static LLVMValueRef seg_at(Att *t, LLVMValueRef j)
{
    return gen_load(t->g, t->M->buf, gen_offset_step(t->g, t->mb, j, t->M->strides[t->r - 1]), DT_I64);
}

/* slot: S = seg[j] == i ? S : −inf (a skipped key; queries < nq only) */
static void apply_slot_mask(Att *t)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    GenLoop j = loop(g, t->nb, "mj");
    LLVMValueRef sj = seg_at(t, add(g, t->j0, j.iv));
    GenLoop i = loop(g, t->nq, "mi");
    LLVMValueRef at = add(g, mul(g, j.iv, gen_i64(g, t->TQ)), i.iv), s = sload(g, t->s, at);
    LLVMValueRef keep = LLVMBuildICmp(b, LLVMIntEQ, sj, add(g, t->i0, i.iv), "");
    sstore(g, t->s, at, LLVMBuildSelect(b, keep, s, f32c(g, -INFINITY), ""));
    gen_loop_end(g, &i, LOOP_PLAIN);
    gen_loop_end(g, &j, LOOP_PLAIN);
}

/* keep: S = mask ? S : finfo.min; add: S += mask (queries < nq only) */
static void apply_mask(Att *t)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    if (t->a->mask_kind == MASK_SLOT) {
        apply_slot_mask(t);
        return;
    }
    DType qdt = g->p->bufs[t->Q->buf].dt;
    double fill = qdt == DT_F16 ? -65504.0 : qdt == DT_BF16 ? -3.3895313892515355e38 : -FLT_MAX;
    GenLoop j = loop(g, t->nb, "mj");
    LLVMValueRef mcol = gen_offset_step(g, t->mb, add(g, t->j0, j.iv), t->M->strides[t->r - 1]);
    GenLoop i = loop(g, t->nq, "mi");
    LLVMValueRef at = add(g, mul(g, j.iv, gen_i64(g, t->TQ)), i.iv);
    LLVMValueRef off = gen_offset_step(g, mcol, add(g, t->i0, i.iv), t->M->strides[t->r - 2]), s = sload(g, t->s, at);
    if (t->a->mask_kind == MASK_KEEP)
        s = LLVMBuildSelect(b, gen_load(g, t->M->buf, off, DT_BOOL), s, f32c(g, fill), "");
    else
        s = LLVMBuildFAdd(b, s, gen_load(g, t->M->buf, off, DT_F32), "");
    sstore(g, t->s, at, s);
    gen_loop_end(g, &i, LOOP_PLAIN);
    gen_loop_end(g, &j, LOOP_PLAIN);
}

/* The online softmax step over the block: m, l, α; S becomes e^(S − b). */
static void softmax_block(Att *t)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    for (int v = 0; v < t->QV; v++)
        LLVMBuildStore(b, vconst(t, -INFINITY), t->regs[v]);
    GenLoop j = loop(g, t->nb, "maxj");
    for (int v = 0; v < t->QV; v++) {
        LLVMValueRef x = vload(t, t->s, add(g, mul(g, j.iv, gen_i64(g, t->TQ)), lanes(t, v)));
        LLVMBuildStore(b, vmax(g, x, LLVMBuildLoad2(b, t->vt, t->regs[v], "")), t->regs[v]);
    }
    gen_loop_end(g, &j, LOOP_PLAIN);
    for (int v = 0; v < t->QV; v++) {
        LLVMValueRef old = vload(t, t->m, lanes(t, v));
        LLVMValueRef mnew = vmax(g, old, LLVMBuildLoad2(b, t->vt, t->regs[v], ""));
        LLVMValueRef ninf = LLVMBuildFCmp(b, LLVMRealOEQ, mnew, vconst(t, -INFINITY), "");
        LLVMValueRef base = LLVMBuildSelect(b, ninf, vconst(t, 0), mnew, "");
        vstore(t, t->m, lanes(t, v), mnew);
        vstore(t, t->base, lanes(t, v), base);
        vstore(t, t->alpha, lanes(t, v), vexp(t, LLVMBuildFSub(b, old, base, "")));
        LLVMBuildStore(b, vconst(t, 0), t->regs[v]);
    }
    GenLoop e = loop(g, t->nb, "expj");
    for (int v = 0; v < t->QV; v++) {
        LLVMValueRef at = add(g, mul(g, e.iv, gen_i64(g, t->TQ)), lanes(t, v));
        LLVMValueRef p = vexp(t, LLVMBuildFSub(b, vload(t, t->s, at), vload(t, t->base, lanes(t, v)), ""));
        vstore(t, t->s, at, p);
        LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, t->vt, t->regs[v], ""), p, ""), t->regs[v]);
    }
    gen_loop_end(g, &e, LOOP_PLAIN);
    for (int v = 0; v < t->QV; v++) {
        LLVMValueRef l = vload(t, t->l, lanes(t, v));
        l = vfma(t, l, vload(t, t->alpha, lanes(t, v)), LLVMBuildLoad2(b, t->vt, t->regs[v], ""));
        vstore(t, t->l, lanes(t, v), l);
    }
}

/* Acc[c0+cj][:] = α·Acc + Σ_j v[j0+j, c0+cj]·S[j][:] for cj < ncols (unrolled). */
static void pv_group(Att *t, LLVMValueRef c0, int ncols)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    LLVMValueRef col[ACCS_MAX];
    for (int cj = 0; cj < ncols; cj++) {
        col[cj] = add(g, c0, gen_i64(g, cj));
        LLVMValueRef arow = mul(g, col[cj], gen_i64(g, t->TQ));
        for (int v = 0; v < t->QV; v++) {
            LLVMValueRef init = vconst(t, 0);
            if (t->flash)
                init = LLVMBuildFMul(b, vload(t, t->acc, add(g, arow, lanes(t, v))), vload(t, t->alpha, lanes(t, v)),
                                     "");
            LLVMBuildStore(b, init, t->regs[cj * t->QV + v]);
        }
    }
    GenLoop j = loop(g, t->nb, "pvj");
    LLVMValueRef vrow = gen_offset_step(g, t->vb, add(g, t->j0, j.iv), t->V->strides[t->r - 2]), p[ACCS_MAX];
    for (int v = 0; v < t->QV; v++)
        p[v] = vload(t, t->s, add(g, mul(g, j.iv, gen_i64(g, t->TQ)), lanes(t, v)));
    for (int cj = 0; cj < ncols; cj++) {
        LLVMValueRef x = gen_load(g, t->V->buf, gen_offset_step(g, vrow, col[cj], t->V->strides[t->r - 1]), DT_F32);
        LLVMValueRef xs = vsplat(t, x);
        for (int v = 0; v < t->QV; v++) {
            LLVMValueRef r = t->regs[cj * t->QV + v];
            LLVMBuildStore(b, vfma(t, xs, p[v], LLVMBuildLoad2(b, t->vt, r, "")), r);
        }
    }
    gen_loop_end(g, &j, LOOP_PLAIN);
    for (int cj = 0; cj < ncols; cj++) {
        LLVMValueRef arow = mul(g, col[cj], gen_i64(g, t->TQ));
        for (int v = 0; v < t->QV; v++)
            vstore(t, t->acc, add(g, arow, lanes(t, v)), LLVMBuildLoad2(b, t->vt, t->regs[cj * t->QV + v], ""));
    }
}

static void pv(Att *t)
{
    Gen *g = t->g;
    int CJ = group(t, dim_is_const(t->a->dv) ? t->a->dv.n : 0);
    LLVMValueRef dv = gen_dim(g, t->a->dv);
    LLVMValueRef groups = LLVMBuildSDiv(g->b, dv, gen_i64(g, CJ), "");
    GenLoop gr = loop(g, groups, "cgroup");
    pv_group(t, mul(g, gr.iv, gen_i64(g, CJ)), CJ);
    gen_loop_end(g, &gr, LOOP_PLAIN);
    if (CJ > 1) {
        GenLoop tail;
        gen_loop_begin(g, &tail, mul(g, groups, gen_i64(g, CJ)), dv, "ctail");
        pv_group(t, tail.iv, 1);
        gen_loop_end(g, &tail, LOOP_PLAIN);
    }
}

/* out[i0+i, c] = epi(Acc[c][i] / l[i]) for i < nq */
static void store_out(Att *t, LLVMValueRef *idx)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    const Kernel *k = g->k;
    LLVMValueRef nk = gen_dim(g, t->a->nk);
    LLVMValueRef empty = LLVMBuildICmp(b, LLVMIntEQ, nk, gen_i64(g, 0), "");
    for (int v = 0; v < t->QV; v++) {
        LLVMValueRef l = vload(t, t->l, lanes(t, v)), inv = LLVMBuildFDiv(b, vconst(t, 1), l, "");
        if (t->segmented) /* a padding query, an empty slot: no key seen, 0 */
            inv = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, l, vconst(t, 0), ""), inv, vconst(t, 0), "");
        vstore(t, t->inv, lanes(t, v), LLVMBuildSelect(b, empty, vconst(t, 0), inv, ""));
    }
    LLVMValueRef *rowbase = ir_calloc((size_t)(k->nin ? k->nin : 1), sizeof *rowbase);
    if (!rowbase) {
        gen_fail(g, "out of memory while generating code");
        return;
    }
    GenLoop i = loop(g, t->nq, "oi");
    idx[t->r - 2] = add(g, t->i0, i.iv);
    gen_row_bases(g, idx, rowbase);
    LLVMValueRef outbase = gen_view_base(g, t->O, idx, t->r - 1), inv = sload(g, t->inv, i.iv);
    GenLoop c = loop(g, gen_dim(g, t->a->dv), "oc");
    idx[t->r - 1] = c.iv;
    LLVMValueRef x = LLVMBuildFMul(b, sload(g, t->acc, add(g, mul(g, c.iv, gen_i64(g, t->TQ)), i.iv)), inv, "");
    GenPoint pt = {idx, gen_convert(g, x, DT_F32, gen_acc_dtype(k)), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &c, LOOP_PLAIN);
    gen_loop_end(g, &i, LOOP_PLAIN);
    ir_free(rowbase);
}

/* ---- the kernel ---- */

/* Iterations per batch index: the query tiles; with mask = segment, tiles within each
 * segment (Σ ⌈nᵢ / TQ⌉ ≤ ⌈Nq / TQ⌉ + segments) and the padding's tiles (+ 1). */
static LLVMValueRef tiles(Gen *g, const Kernel *k)
{
    LLVMValueRef tq = gen_i64(g, k->sched.tile_m);
    LLVMValueRef n = LLVMBuildSDiv(g->b, add(g, gen_dim(g, k->u.attn.nq), gen_i64(g, k->sched.tile_m - 1)), tq, "");
    if (k->u.attn.mask_kind == MASK_SEGMENT)
        n = add(g, n, gen_i64(g, k->u.attn.segments + 1));
    return n;
}

/* mask = segment: iteration `tile` of a batch index is the tile of queries [i0, i0 + nq)
 * within one segment (keys [klo, khi): the segment), found by walking the segments of seg
 * (contiguous, padding last: docs/NAVIT.md); past them, tiles of the padding (no keys: 0),
 * then empty tiles. O(T) scalar compares per tile. */
static void segment_tile(Att *t, LLVMValueRef tile)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    LLVMValueRef T = gen_dim(g, t->a->nk), TQ = gen_i64(g, t->TQ), zero = gen_i64(g, 0), one = gen_i64(g, 1);
    LLVMValueRef pos = gen_alloca(g, g->t_i64, "segpos"), u = gen_alloca(g, g->t_i64, "segu");
    LLVMValueRef end = gen_alloca(g, g->t_i64, "segend"), found = gen_alloca(g, g->t_i64, "segfound");
    LLVMValueRef i0 = gen_alloca(g, g->t_i64, "segi0"), nq = gen_alloca(g, g->t_i64, "segnq");
    LLVMValueRef klo = gen_alloca(g, g->t_i64, "segklo"), khi = gen_alloca(g, g->t_i64, "segkhi");
    LLVMBuildStore(b, zero, pos);
    LLVMBuildStore(b, tile, u);
    LLVMBuildStore(b, zero, found);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segwalk");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segwalk_body");
    LLVMBasicBlockRef scan = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segscan");
    LLVMBasicBlockRef scan_step = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segscan_step");
    LLVMBasicBlockRef scanned = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segscanned");
    LLVMBasicBlockRef hit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "seghit");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segnext");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "segdone");
    LLVMBuildBr(b, head);

    /* head: pos < T and seg[pos] ≥ 0, else done */
    LLVMPositionBuilderAtEnd(b, head);
    LLVMValueRef p = LLVMBuildLoad2(b, g->t_i64, pos, "");
    LLVMValueRef inside = LLVMBuildICmp(b, LLVMIntSLT, p, T, "");
    LLVMValueRef pc = LLVMBuildSelect(b, inside, p, zero, ""); /* (T ≥ 1 when here with pos < T) */
    LLVMValueRef sp = seg_at(t, pc);
    LLVMBuildCondBr(b, LLVMBuildAnd(b, inside, LLVMBuildICmp(b, LLVMIntSGE, sp, zero, ""), ""), body, done);

    /* body: end = pos + 1; while end < T and seg[end] == seg[pos]: end++ */
    LLVMPositionBuilderAtEnd(b, body);
    LLVMBuildStore(b, add(g, p, one), end);
    LLVMBuildBr(b, scan);
    LLVMPositionBuilderAtEnd(b, scan);
    LLVMValueRef e = LLVMBuildLoad2(b, g->t_i64, end, "");
    LLVMValueRef ein = LLVMBuildICmp(b, LLVMIntSLT, e, T, "");
    LLVMValueRef se = seg_at(t, LLVMBuildSelect(b, ein, e, pc, ""));
    LLVMBuildCondBr(b, LLVMBuildAnd(b, ein, LLVMBuildICmp(b, LLVMIntEQ, se, sp, ""), ""), scan_step, scanned);
    LLVMPositionBuilderAtEnd(b, scan_step);
    LLVMBuildStore(b, add(g, e, one), end);
    LLVMBuildBr(b, scan);

    /* scanned: the segment [p, e) has ⌈(e − p) / TQ⌉ tiles; is u among them? */
    LLVMPositionBuilderAtEnd(b, scanned);
    LLVMValueRef n = LLVMBuildNSWSub(b, e, p, "");
    LLVMValueRef nt = LLVMBuildSDiv(b, add(g, n, gen_i64(g, t->TQ - 1)), TQ, "");
    LLVMValueRef uu = LLVMBuildLoad2(b, g->t_i64, u, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, uu, nt, ""), hit, next);
    LLVMPositionBuilderAtEnd(b, hit);
    LLVMValueRef first = add(g, p, mul(g, uu, TQ)), left = LLVMBuildNSWSub(b, e, first, "");
    LLVMBuildStore(b, first, i0);
    LLVMBuildStore(b, LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, left, TQ, ""), left, TQ, ""), nq);
    LLVMBuildStore(b, p, klo);
    LLVMBuildStore(b, e, khi);
    LLVMBuildStore(b, one, found);
    LLVMBuildBr(b, done);
    LLVMPositionBuilderAtEnd(b, next);
    LLVMBuildStore(b, LLVMBuildNSWSub(b, uu, nt, ""), u);
    LLVMBuildStore(b, e, pos);
    LLVMBuildBr(b, head);

    /* done: not found: a tile of the padding [pos, T) (no keys), or an empty one */
    LLVMPositionBuilderAtEnd(b, done);
    LLVMValueRef isf = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildLoad2(b, g->t_i64, found, ""), zero, "");
    LLVMValueRef pf = add(g, LLVMBuildLoad2(b, g->t_i64, pos, ""), mul(g, LLVMBuildLoad2(b, g->t_i64, u, ""), TQ));
    LLVMValueRef pl = LLVMBuildNSWSub(b, T, pf, "");
    pl = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, pl, TQ, ""), pl, TQ, "");
    LLVMValueRef pe = LLVMBuildICmp(b, LLVMIntSLE, pl, zero, "");
    LLVMValueRef pad_i0 = LLVMBuildSelect(b, pe, zero, pf, ""), pad_nq = LLVMBuildSelect(b, pe, zero, pl, "");
    t->i0 = LLVMBuildSelect(b, isf, LLVMBuildLoad2(b, g->t_i64, i0, ""), pad_i0, "");
    t->nq = LLVMBuildSelect(b, isf, LLVMBuildLoad2(b, g->t_i64, nq, ""), pad_nq, "");
    t->klo = LLVMBuildSelect(b, isf, LLVMBuildLoad2(b, g->t_i64, klo, ""), zero, "");
    t->khi = LLVMBuildSelect(b, isf, LLVMBuildLoad2(b, g->t_i64, khi, ""), zero, "");
}

/* mask = slot: the keys of the tile's slots [i0, i0 + nq): from the first token with
 * seg in that range to one past the last (none: an empty range) */
static void slot_keys(Att *t)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    LLVMValueRef T = gen_dim(g, t->a->nk);
    LLVMValueRef lo = gen_alloca(g, g->t_i64, "slotlo"), hi = gen_alloca(g, g->t_i64, "slothi");
    LLVMBuildStore(b, T, lo);
    LLVMBuildStore(b, gen_i64(g, 0), hi);
    GenLoop j = loop(g, T, "slotj");
    LLVMValueRef sj = seg_at(t, j.iv);
    LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, sj, t->i0, ""),
                                   LLVMBuildICmp(b, LLVMIntSLT, sj, add(g, t->i0, t->nq), ""), "");
    LLVMValueRef l = LLVMBuildLoad2(b, g->t_i64, lo, ""), h = LLVMBuildLoad2(b, g->t_i64, hi, "");
    LLVMBuildStore(b, LLVMBuildSelect(b, LLVMBuildAnd(b, in, LLVMBuildICmp(b, LLVMIntSLT, j.iv, l, ""), ""), j.iv, l, ""),
                   lo);
    LLVMValueRef j1 = add(g, j.iv, gen_i64(g, 1));
    LLVMBuildStore(b, LLVMBuildSelect(b, LLVMBuildAnd(b, in, LLVMBuildICmp(b, LLVMIntSGT, j1, h, ""), ""), j1, h, ""), hi);
    gen_loop_end(g, &j, LOOP_PLAIN);
    LLVMValueRef lf = LLVMBuildLoad2(b, g->t_i64, lo, ""), hf = LLVMBuildLoad2(b, g->t_i64, hi, "");
    LLVMValueRef none = LLVMBuildICmp(b, LLVMIntSGE, lf, hf, "");
    t->klo = LLVMBuildSelect(b, none, gen_i64(g, 0), lf, "");
    t->khi = LLVMBuildSelect(b, none, gen_i64(g, 0), hf, "");
}

LLVMValueRef gen_attention_extent(Gen *g, const Kernel *k)
{
    LLVMValueRef n = tiles(g, k);
    for (int d = 0; d + 2 < k->out.rank; d++)
        n = mul(g, n, gen_dim(g, k->out.dims[d]));
    return n;
}

bool gen_attention_valid(Gen *g, const Kernel *k)
{
    const AttnInfo *a = &k->u.attn; /* its views: plan_kernel_check */
    if (k->sched.tile_m < 4 || k->sched.tile_m % 4 || k->sched.tile_m > 64 || k->sched.tile_n < 0)
        return gen_fail(g, "internal error: attention kernel %d has the schedule tile_m=%d tile_n=%d", g->ki,
                        k->sched.tile_m, k->sched.tile_n);
    int64_t bytes = 4 * (plan_attention_score_elems(g->p->g, k) +
                         (int64_t)k->sched.tile_m * (dim_max(g, a->dh) + dim_max(g, a->dv) + 5));
    if (bytes > ((int64_t)1 << 21))
        return gen_fail(g, "attention kernel %d would need %lld bytes of stack per thread; a smaller schedule "
                        "(tile_n) is needed", g->ki, (long long)bytes);
    return true;
}

void gen_attention(Gen *g)
{
    const Kernel *k = g->k;
    const AttnInfo *a = &k->u.attn;
    LLVMBuilderRef b = g->b;
    Att t = {.g = g, .a = a, .r = k->out.rank, .TQ = k->sched.tile_m, .flash = k->sched.tile_n > 0,
             .segmented = a->mask_kind == MASK_SEGMENT || a->mask_kind == MASK_SLOT};
    t.vl = g->tgt.vl >= 4 ? (unsigned)g->tgt.vl : 4; /* the target's lanes, dividing the tile */
    while (t.vl > 4 && t.TQ % (int)t.vl)
        t.vl /= 2;
    t.QV = t.TQ / (int)t.vl;
    t.accs = g->tgt.nregs >= 32 ? 24 : 12;
    t.vt = LLVMVectorType(g->t_f32, t.vl);
    t.Q = &k->in[a->q], t.K = &k->in[a->k], t.V = &k->in[a->v], t.M = a->mask >= 0 ? &k->in[a->mask] : NULL;
    t.O = &k->out;
    t.qt = buffer(&t, dim_max(g, a->dh) * t.TQ, "qt");
    t.s = buffer(&t, plan_attention_score_elems(g->p->g, k), "scores");
    t.acc = buffer(&t, dim_max(g, a->dv) * t.TQ, "acc");
    t.m = buffer(&t, t.TQ, "m");
    t.l = buffer(&t, t.TQ, "l");
    t.alpha = buffer(&t, t.TQ, "alpha");
    t.base = buffer(&t, t.TQ, "base");
    t.inv = buffer(&t, t.TQ, "inv");
    for (int i = 0; i < ACCS_MAX; i++) /* (tile_m ≤ 64 and vl ≥ 4: QV ≤ 16 for softmax_block) */
        t.regs[i] = gen_alloca(g, t.vt, "r");

    /* it = (batch index, tile), tile fastest */
    LLVMValueRef ntiles = tiles(g, k), nq = gen_dim(g, a->nq), nk = gen_dim(g, a->nk);
    GenLoop it;
    gen_loop_begin(g, &it, LLVMGetParam(g->fn, 2), LLVMGetParam(g->fn, 3), "tile");
    LLVMValueRef idx[IR_MAX_RANK] = {0};
    LLVMValueRef rest = LLVMBuildUDiv(b, it.iv, ntiles, ""), tile = LLVMBuildURem(b, it.iv, ntiles, "");
    for (int d = t.r - 3; d >= 0; d--) {
        LLVMValueRef n = gen_dim(g, k->out.dims[d]);
        idx[d] = d == 0 ? rest : LLVMBuildURem(b, rest, n, "");
        if (d > 0)
            rest = LLVMBuildUDiv(b, rest, n, "");
    }
    t.qb = gen_view_base(g, t.Q, idx, t.r - 2);
    t.kb = gen_view_base(g, t.K, idx, t.r - 2);
    t.vb = gen_view_base(g, t.V, idx, t.r - 2);
    t.mb = t.M ? gen_view_base(g, t.M, idx, t.r - 2) : NULL;
    if (a->mask_kind == MASK_SEGMENT) {
        segment_tile(&t, tile);
    } else {
        t.i0 = mul(g, tile, gen_i64(g, t.TQ));
        LLVMValueRef left = LLVMBuildNSWSub(b, nq, t.i0, "");
        t.nq = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, left, gen_i64(g, t.TQ), ""), left, gen_i64(g, t.TQ), "");
        t.klo = gen_i64(g, 0);
        t.khi = nk;
        if (a->mask_kind == MASK_SLOT)
            slot_keys(&t);
    }

    pack_q(&t);
    for (int v = 0; v < t.QV; v++) {
        vstore(&t, t.m, lanes(&t, v), vconst(&t, -INFINITY));
        vstore(&t, t.l, lanes(&t, v), vconst(&t, 0));
    }
    LLVMValueRef bk = t.flash ? gen_i64(g, k->sched.tile_n) : nk;
    GenLoop z = loop(g, mul(g, gen_dim(g, a->dv), gen_i64(g, t.QV)), "zero"); /* (Nk = 0: no block) */
    vstore(&t, t.acc, mul(g, z.iv, gen_i64(g, t.vl)), vconst(&t, 0));
    gen_loop_end(g, &z, LOOP_PLAIN);
    /* blocks of the keys [klo, khi): ⌈(khi − klo) / bk⌉ (decomposed: 1, or 0 when none) */
    LLVMValueRef bk1 = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, bk, gen_i64(g, 0), ""), bk, gen_i64(g, 1), "");
    LLVMValueRef nkeys = LLVMBuildNSWSub(b, t.khi, t.klo, "");
    LLVMValueRef nblocks = LLVMBuildSDiv(b, add(g, nkeys, LLVMBuildNSWSub(b, bk1, gen_i64(g, 1), "")), bk1, "");
    GenLoop blk = loop(g, nblocks, "block");
    t.j0 = add(g, t.klo, mul(g, blk.iv, bk1));
    LLVMValueRef kleft = LLVMBuildNSWSub(b, t.khi, t.j0, "");
    t.nb = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, kleft, bk1, ""), kleft, bk1, "");
    scores(&t);
    if (t.M && a->mask_kind != MASK_SEGMENT) /* (segment: every key of the block is the tile's segment) */
        apply_mask(&t);
    softmax_block(&t);
    pv(&t);
    gen_loop_end(g, &blk, LOOP_PLAIN);
    store_out(&t, idx);
    gen_loop_end(g, &it, LOOP_PLAIN);
}
