/* llvm_attention_tile.c — one query tile of a KK_ATTENTION kernel (its iterations and
 * stack buffers: llvm_attention.c). The scores and the softmax are vectorised across the
 * tile's queries, so each step of the softmax is vertical (no horizontal reductions), and
 * neither K nor V is copied:
 *
 *   Qt[d][i] = scale · q[i0+i, d]                       (the tile, transposed in registers
 *   m = −inf, l = 0, Acc = 0                             by vl × vl blocks; 0 past Nq)
 *   for each block of keys [j0, j0 + nb):               (flash: tile_n keys; decomposed:
 *     S[j][i] = Σ_d k[j0+j, d]·Qt[d][i]                  one block of all Nk keys)
 *       micro-kernel: KJ keys × QV vectors of queries in registers, k broadcast, FMA
 *     mask: S = keep ? S : finfo.min   /   S += mask
 *     m' = max(m, max_j S[j]);  b = m' (0 where m' = −inf: a fully −inf block adds 0)
 *     α = e^(m − b);  S[j] = e^(S[j] − b);  l = α·l + Σ_j S[j];  m = m'
 *     Acc[i] = α[i]·Acc[i] + Σ_j S[j][i]·v[j0+j, :]       (decomposed: no α, Acc from 0)
 *       micro-kernel: 6 queries (S broadcast) × CV vectors of a v row, FMA; the tile's
 *       real queries only. (Dv not a multiple of vl: Acc[c][i], CJ columns × QV vectors,
 *       v broadcast.)
 *   out[i0+i, :] = epi(Acc[i] / l[i])                   (0 when Nk = 0)
 *
 * With row-major Acc, a tile of at most TQ / 2 queries (the last of 197) takes QV / 2
 * vectors for its scores and softmax. exp is llvm_math.c's, on vectors (no libm call in
 * the loop), its last scaling one vscalefps with AVX-512. Measured: docs/PERFORMANCE.md
 * ("Attention kernels").
 */
#include <float.h>
#include <math.h>

#include "llvm_attention.h"

enum {
    PF_ROWS = 8 /* p·v prefetches the value row this many keys ahead */
};

/* ---- small builders ---- */

static LLVMValueRef f32c(Gen *g, double v) { return LLVMConstReal(g->t_f32, v); }

static LLVMValueRef vsplat(Att *t, LLVMValueRef x)
{
    Gen *g = t->g;
    LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(t->vt), x, LLVMConstInt(g->t_i32, 0, 0), "");
    return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(t->vt), LLVMConstNull(LLVMVectorType(g->t_i32, t->vl)), "");
}

static LLVMValueRef vconst(Att *t, double x) { return vsplat(t, f32c(t->g, x)); }

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

/* e^x for the softmax's x = s − max ≤ 0 (or NaN, −inf): x ≤ −104 gives exactly 0 (the −inf
 * and finfo.min of masked scores), NaN stays NaN (llvm_math.c; one vscalefps on AVX-512) */
static LLVMValueRef vexp(Att *t, LLVMValueRef x) { return gen_math_exp_nonpos(t->g, x); }

static LLVMValueRef lanes(Att *t, int v) { return gen_i64(t->g, (int64_t)v * t->vl); }

/* A hint: the line of element `off` of buffer buf into L1 (an address past the buffer reads
 * nothing: a plain GEP) */
static void prefetch(Att *t, int32_t buf, LLVMValueRef off)
{
    Gen *g = t->g;
    LLVMTypeRef et = g->p->bufs[buf].dt == DT_F32 ? g->t_f32 : g->t_i16, over[1] = {g->t_ptr};
    LLVMValueRef args[4] = {LLVMBuildGEP2(g->b, et, g->bufp[buf], &off, 1, ""), LLVMConstInt(g->t_i32, 0, 0),
                            LLVMConstInt(g->t_i32, 3, 0), LLVMConstInt(g->t_i32, 1, 0)};
    gen_intrinsic_over(g, "llvm.prefetch", over, 1, args, 4);
}

/* Elements of buf per cache line, or 0 when the rows of view w are not contiguous (then no
 * prefetch) */
static int64_t line_elems(Att *t, const View *w)
{
    const Dim *sd = &w->strides[t->r - 1];
    return dim_is_const(*sd) && sd->n == 1 ? 64 / (t->g->p->bufs[w->buf].dt == DT_F32 ? 4 : 2) : 0;
}

/* One row of a micro-kernel: regs[i] += x (broadcast) · vec[i] for i < n (accumulators
 * in allocas, so that LLVM keeps them in registers across the loop). */
static void fma_row(Att *t, LLVMValueRef x, const LLVMValueRef *vec, const LLVMValueRef *regs, int n)
{
    LLVMBuilderRef b = t->g->b;
    LLVMValueRef xs = vsplat(t, x);
    for (int i = 0; i < n; i++)
        LLVMBuildStore(b, vfma(t, xs, vec[i], LLVMBuildLoad2(b, t->vt, regs[i], "")), regs[i]);
}

/* The accumulators regs[0..n) to buf from element `at`, a vector each. */
static void store_regs(Att *t, LLVMValueRef buf, LLVMValueRef at, const LLVMValueRef *regs, int n)
{
    for (int i = 0; i < n; i++)
        vstore(t, buf, add(t->g, at, lanes(t, i)), LLVMBuildLoad2(t->g->b, t->vt, regs[i], ""));
}

/* ---- the steps ---- */

/* r[0..vl) ← its transpose (r[i] lane j ↔ r[j] lane i): log2(vl) rounds of swapping the
 * off-diagonal h × h blocks, each two-source shuffles with constant masks. */
static void transpose(Att *t, LLVMValueRef *r)
{
    Gen *g = t->g;
    unsigned vl = t->vl;
    LLVMValueRef lo[16], hi[16];
    for (unsigned h = 1; h < vl; h *= 2) {
        for (unsigned j = 0; j < vl; j++) {
            lo[j] = LLVMConstInt(g->t_i32, j & h ? vl + j - h : j, 0);
            hi[j] = LLVMConstInt(g->t_i32, j & h ? vl + j : j + h, 0);
        }
        LLVMValueRef mlo = LLVMConstVector(lo, vl), mhi = LLVMConstVector(hi, vl);
        for (unsigned i = 0; i < vl; i++)
            if (!(i & h)) {
                LLVMValueRef a = r[i], c = r[i + h];
                r[i] = LLVMBuildShuffleVector(g->b, a, c, mlo, "");
                r[i + h] = LLVMBuildShuffleVector(g->b, a, c, mhi, "");
            }
    }
}

/* pack_q with vector loads along d (stride 1, Dh a multiple of vl): each vl × vl block of
 * q's rows is transposed in registers (no scatter, no gather). */
static void pack_q_blocks(Att *t, LLVMValueRef last)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    unsigned saved = g->vl;
    LLVMValueRef lane[16], r[16];
    for (unsigned j = 0; j < t->vl; j++)
        lane[j] = f32c(g, j);
    LLVMValueRef iota = LLVMConstVector(lane, t->vl);
    for (int v = 0; v < t->QV; v++) {
        /* scale in the lanes i < nq, 0 past them */
        LLVMValueRef first = LLVMBuildSIToFP(b, LLVMBuildNSWSub(b, t->nq, lanes(t, v), ""), g->t_f32, "");
        LLVMValueRef in = LLVMBuildFCmp(b, LLVMRealOLT, iota, vsplat(t, first), "");
        LLVMValueRef sc = LLVMBuildSelect(b, in, vconst(t, t->a->scale), vconst(t, 0), "");
        LLVMValueRef rows[16];
        for (unsigned i = 0; i < t->vl; i++) {
            LLVMValueRef row = gen_i64(g, (int64_t)v * t->vl + i);
            row = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, row, t->nq, ""), row, last, "");
            rows[i] = gen_offset_step(g, t->qb, add(g, t->i0, row), t->Q->strides[t->r - 2]);
        }
        GenLoop d = loop(g, gen_i64(g, t->a->dh.n / t->vl), "qdb");
        LLVMValueRef d0 = mul(g, d.iv, gen_i64(g, t->vl));
        g->vl = t->vl;
        for (unsigned i = 0; i < t->vl; i++)
            r[i] = gen_load_vec(g, t->Q->buf, add(g, rows[i], d0), t->Q->strides[t->r - 1], NULL, DT_F32);
        g->vl = saved;
        transpose(t, r);
        for (unsigned j = 0; j < t->vl; j++)
            vstore(t, t->qt, add(g, mul(g, add(g, d0, gen_i64(g, j)), gen_i64(g, t->TQ)), lanes(t, v)),
                   LLVMBuildFMul(b, r[j], sc, ""));
        gen_loop_end(g, &d, LOOP_PLAIN);
    }
}

/* Qt[d][i] = scale · q[i0+i, d], 0 for i ≥ nq (the row read is clamped to nq − 1). */
static void pack_q(Att *t)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    const Dim *sd = &t->Q->strides[t->r - 1];
    if (t->vl <= 16 && dim_is_const(t->a->dh) && t->a->dh.n % t->vl == 0 && dim_is_const(*sd) && sd->n == 1) {
        LLVMValueRef last = LLVMBuildNSWSub(b, t->nq, gen_i64(g, 1), "");
        pack_q_blocks(t, LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, last, gen_i64(g, 0), ""), gen_i64(g, 0), last, ""));
        return;
    }
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
    for (int kj = 0; kj < nkeys; kj++)
        fma_row(t, gen_load(g, t->K->buf, gen_offset_step(g, krow[kj], d.iv, t->K->strides[t->r - 1]), DT_F32), qv,
                t->regs + kj * t->QV, t->QV);
    gen_loop_end(g, &d, LOOP_PLAIN);
    for (int kj = 0; kj < nkeys; kj++)
        store_regs(t, t->s, mul(g, add(g, jj, gen_i64(g, kj)), gen_i64(g, t->TQ)), t->regs + kj * t->QV, t->QV);
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

typedef void (*GroupFn)(Att *t, LLVMValueRef first, int n);

/* fn over [0, n) in groups of G (unrolled micro-kernels), the rest in fours (enough
 * independent sums to hide the FMA latency), twos, then ones; a width that can occur at
 * most once is an `if`, not a loop (fewer loops: LLVM's loop passes cost time per loop). */
static void in_groups(Att *t, LLVMValueRef n, int G, GroupFn fn, const char *name)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    LLVMValueRef groups = LLVMBuildSDiv(b, n, gen_i64(g, G), "");
    GenLoop gr = loop(g, groups, name);
    fn(t, mul(g, gr.iv, gen_i64(g, G)), G);
    gen_loop_end(g, &gr, LOOP_PLAIN);
    LLVMValueRef done = mul(g, groups, gen_i64(g, G));
    int below = G; /* the rest is below this */
    for (int w = 4; w >= 1; w /= 2) {
        if (below <= w)
            continue;
        LLVMValueRef ws = LLVMBuildSDiv(b, LLVMBuildNSWSub(b, n, done, ""), gen_i64(g, w), "");
        if ((below - 1) / w > 1) {
            GenLoop f = loop(g, ws, "rest");
            fn(t, add(g, done, mul(g, f.iv, gen_i64(g, w))), w);
            gen_loop_end(g, &f, LOOP_PLAIN);
        } else {
            LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "rest");
            LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "rested");
            LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGT, ws, gen_i64(g, 0), ""), one, next);
            LLVMPositionBuilderAtEnd(b, one);
            fn(t, done, w);
            LLVMBuildBr(b, next);
            LLVMPositionBuilderAtEnd(b, next);
        }
        done = add(g, done, mul(g, ws, gen_i64(g, w)));
        below = w;
    }
}

/* The keys [0, nb) of the block. */
static void scores(Att *t)
{
    const Dim *nk = &t->a->nk;
    in_groups(t, t->nb, group(t, t->flash ? t->g->k->sched.tile_n : dim_is_const(*nk) ? nk->n : 0), scores_group,
              "kgroup");
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
    if (line_elems(t, t->V)) /* the row PF_ROWS ahead (as in pv_rows) */
        prefetch(t, t->V->buf, gen_offset_step(g, gen_offset_step(g, t->vb, add(g, add(g, t->j0, j.iv), gen_i64(g, PF_ROWS)),
                                                                  t->V->strides[t->r - 2]),
                                               c0, t->V->strides[t->r - 1]));
    for (int v = 0; v < t->QV; v++)
        p[v] = vload(t, t->s, add(g, mul(g, j.iv, gen_i64(g, t->TQ)), lanes(t, v)));
    for (int cj = 0; cj < ncols; cj++)
        fma_row(t, gen_load(g, t->V->buf, gen_offset_step(g, vrow, col[cj], t->V->strides[t->r - 1]), DT_F32), p,
                t->regs + cj * t->QV, t->QV);
    gen_loop_end(g, &j, LOOP_PLAIN);
    for (int cj = 0; cj < ncols; cj++)
        store_regs(t, t->acc, mul(g, col[cj], gen_i64(g, t->TQ)), t->regs + cj * t->QV, t->QV);
}

/* Row-major Acc (t->DV > 0): Acc[i0+r][c] = α[i0+r]·Acc + Σ_j S[j][i0+r]·v[j0+j, c] for
 * r < nrows (unrolled): CV vectors of a value row (loaded whole, contiguous) × nrows
 * broadcast weights per key; only the tile's real queries, none of its padding. */
static void pv_rows(Att *t, LLVMValueRef i0, int nrows)
{
    Gen *g = t->g;
    LLVMBuilderRef b = g->b;
    unsigned saved = g->vl;
    const Dim *sc = &t->V->strides[t->r - 1];
    int64_t le = line_elems(t, t->V);
    GenLoop cc = loop(g, gen_i64(g, t->DV / ((int)t->vl * t->CV)), "pvchunk");
    LLVMValueRef c0 = mul(g, cc.iv, gen_i64(g, (int64_t)t->CV * t->vl)), arow[ACCS_MAX];
    for (int r = 0; r < nrows; r++) {
        LLVMValueRef i = add(g, i0, gen_i64(g, r));
        arow[r] = add(g, mul(g, i, gen_i64(g, t->DV)), c0);
        LLVMValueRef al = t->flash ? vsplat(t, sload(g, t->alpha, i)) : NULL;
        for (int n = 0; n < t->CV; n++)
            LLVMBuildStore(b, al ? LLVMBuildFMul(b, vload(t, t->acc, add(g, arow[r], lanes(t, n))), al, "") : vconst(t, 0),
                           t->regs[r * t->CV + n]);
    }
    GenLoop j = loop(g, t->nb, "pvj");
    LLVMValueRef vrow = gen_offset_step(g, t->vb, add(g, t->j0, j.iv), t->V->strides[t->r - 2]), xv[ACCS_MAX];
    if (le && nrows >= 4) {
        /* the row PF_ROWS keys ahead into L1 (the tails find it in cache): ViT's v rows are
         * 9 KiB apart (views of one qkv tensor), each on a page of its own, a stride the
         * hardware prefetchers do not follow */
        LLVMValueRef ahead = gen_offset_step(g, gen_offset_step(g, t->vb, add(g, add(g, t->j0, j.iv), gen_i64(g, PF_ROWS)),
                                                                t->V->strides[t->r - 2]),
                                             c0, *sc);
        for (int64_t c = 0; c < (int64_t)t->CV * t->vl; c += le)
            prefetch(t, t->V->buf, add(g, ahead, gen_i64(g, c)));
    }
    g->vl = t->vl;
    for (int n = 0; n < t->CV; n++)
        xv[n] = gen_load_vec(g, t->V->buf, gen_offset_step(g, vrow, add(g, c0, lanes(t, n)), *sc), *sc, NULL, DT_F32);
    g->vl = saved;
    LLVMValueRef srow = mul(g, j.iv, gen_i64(g, t->TQ));
    for (int r = 0; r < nrows; r++)
        fma_row(t, sload(g, t->s, add(g, srow, add(g, i0, gen_i64(g, r)))), xv, t->regs + r * t->CV, t->CV);
    gen_loop_end(g, &j, LOOP_PLAIN);
    for (int r = 0; r < nrows; r++)
        store_regs(t, t->acc, arow[r], t->regs + r * t->CV, t->CV);
    gen_loop_end(g, &cc, LOOP_PLAIN);
}

static void pv(Att *t)
{
    if (t->DV)
        in_groups(t, t->nq, t->accs / t->CV, pv_rows, "prows");
    else
        in_groups(t, gen_dim(t->g, t->a->dv), group(t, dim_is_const(t->a->dv) ? t->a->dv.n : 0), pv_group, "cgroup");
}

/* Acc[i][c]'s element */
static LLVMValueRef acc_at(Att *t, LLVMValueRef i, LLVMValueRef c)
{
    Gen *g = t->g;
    return t->DV ? add(g, mul(g, i, gen_i64(g, t->DV)), c) : add(g, mul(g, c, gen_i64(g, t->TQ)), i);
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
    LLVMValueRef x = LLVMBuildFMul(b, sload(g, t->acc, acc_at(t, i.iv, c.iv)), inv, "");
    GenPoint pt = {idx, gen_convert(g, x, DT_F32, gen_acc_dtype(k)), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &c, LOOP_PLAIN);
    gen_loop_end(g, &i, LOOP_PLAIN);
    ir_free(rowbase);
}

/* ---- the tile ---- */

/* The block's scores, masked, through the online softmax (S = e^(S − b), m, l, α). */
static void block_softmax(Att *t)
{
    scores(t);
    if (t->M && t->a->mask_kind != MASK_SEGMENT) /* (segment: every key of the block is the tile's segment) */
        apply_mask(t);
    softmax_block(t);
}

/* One tile of t->QV vectors of queries: pack, the key blocks, the output. */
void gen_attention_tile(Att *t, LLVMValueRef *idx)
{
    Gen *g = t->g;
    const Kernel *k = g->k;
    const AttnInfo *a = t->a;
    LLVMBuilderRef b = g->b;
    pack_q(t);
    for (int v = 0; v < t->QV; v++) {
        vstore(t, t->m, lanes(t, v), vconst(t, -INFINITY));
        vstore(t, t->l, lanes(t, v), vconst(t, 0));
    }
    LLVMValueRef bk = t->flash ? gen_i64(g, k->sched.tile_n) : gen_dim(g, a->nk);
    if (t->DV) { /* (Nk = 0: no block) */
        GenLoop z = loop(g, mul(g, gen_i64(g, t->DV / t->vl), t->nq), "zero");
        vstore(t, t->acc, mul(g, z.iv, gen_i64(g, t->vl)), vconst(t, 0));
        gen_loop_end(g, &z, LOOP_PLAIN);
    } else {
        GenLoop z = loop(g, gen_dim(g, a->dv), "zero");
        for (int v = 0; v < t->QV; v++)
            vstore(t, t->acc, add(g, mul(g, z.iv, gen_i64(g, t->TQ)), lanes(t, v)), vconst(t, 0));
        gen_loop_end(g, &z, LOOP_PLAIN);
    }
    /* blocks of the keys [klo, khi): ⌈(khi − klo) / bk⌉ (decomposed: 1, or 0 when none) */
    LLVMValueRef bk1 = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, bk, gen_i64(g, 0), ""), bk, gen_i64(g, 1), "");
    LLVMValueRef nkeys = LLVMBuildNSWSub(b, t->khi, t->klo, "");
    LLVMValueRef nblocks = LLVMBuildSDiv(b, add(g, nkeys, LLVMBuildNSWSub(b, bk1, gen_i64(g, 1), "")), bk1, "");
    GenLoop blk = loop(g, nblocks, "block");
    t->j0 = add(g, t->klo, mul(g, blk.iv, bk1));
    LLVMValueRef kleft = LLVMBuildNSWSub(b, t->khi, t->j0, "");
    t->nb = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, kleft, bk1, ""), kleft, bk1, "");
    if (t->half) { /* only the scores and the softmax depend on QV */
        LLVMBasicBlockRef half = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "halftile");
        LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "fulltile");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "scored");
        LLVMBuildCondBr(b, t->half, half, full);
        LLVMPositionBuilderAtEnd(b, half);
        t->QV /= 2;
        block_softmax(t);
        t->QV *= 2;
        LLVMBuildBr(b, next);
        LLVMPositionBuilderAtEnd(b, full);
        block_softmax(t);
        LLVMBuildBr(b, next);
        LLVMPositionBuilderAtEnd(b, next);
    } else {
        block_softmax(t);
    }
    pv(t);
    gen_loop_end(g, &blk, LOOP_PLAIN);
    store_out(t, idx);
}
