/* llvm_attention.c — KK_ATTENTION kernels (semantics: ir/plan.h, ir/plan_exec.c): the
 * entry points, the iterations and the stack buffers; the code of one tile (the scores,
 * the online softmax, p·v, the output) is llvm_attention_tile.c.
 *
 * One iteration is one tile of TQ = tile_m queries of one batch index (heads included):
 * the extent is Π batch dims × ⌈Nq / TQ⌉, so threads split heads and query tiles, never
 * one small product (PERF_NOTES). With mask = segment (a packed NaViT sequence), the
 * tiles are those of each segment, then the padding's; with mask = slot, a tile sees the
 * keys of its slots only. S, Qt, Acc, m, l live in per-thread stack buffers sized from
 * the dims' maxima (plan_attention_score_elems for S). Vectors have the target's lanes
 * (GenTarget.vl, at most what divides tile_m) and the micro-kernels keep as many
 * accumulators as its registers allow.
 */
#include "llvm_attention.h"

static int64_t dim_max(const Gen *g, Dim d)
{
    return dim_is_const(d) ? d.n : d.n * (d.sym < g->p->g->nsyms ? g->p->g->syms[d.sym].max : 1);
}

/* A float array of n elements on the stack, aligned for vectors. */
static LLVMValueRef buffer(Att *t, int64_t n, const char *name)
{
    LLVMValueRef a = gen_alloca(t->g, LLVMArrayType(t->g->t_f32, (unsigned)(n > 0 ? n : 1)), name);
    LLVMSetAlignment(a, 4 * t->vl);
    return a;
}

/* ---- the iterations ---- */

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

/* ---- the kernel ---- */

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
    if (dim_is_const(a->dv) && a->dv.n > 0 && a->dv.n % t.vl == 0) {
        /* p·v on row-major Acc: CV the largest divisor of Dv / vl leaving ≥ 6 rows per micro-kernel */
        t.DV = (int)a->dv.n;
        for (t.CV = t.accs / 6; (t.DV / (int)t.vl) % t.CV; t.CV--)
            ;
    }
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

    if (t.QV % 2 == 0 && t.DV)
        t.half = LLVMBuildICmp(b, LLVMIntSLE, t.nq, gen_i64(g, t.TQ / 2), "");
    gen_attention_tile(&t, idx);
    gen_loop_end(g, &it, LOOP_PLAIN);
}
