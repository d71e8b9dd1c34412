/* llvm_gemm.c — f32 GEMM kernels: register-blocked FMA micro-kernels over B panels, cache
 * blocking, tiles as the parallel extent, and the fused epilogue on the registers.
 *
 * out[b, m, n] = epi(Σ_k A[b, m, k]·B[b, k, n]) for f32 A and B (any strides; other dtypes
 * take the row kernel of llvm_kernels.c). The shapes follow the target (GenTarget):
 *
 *   ISA       lanes VL  micro-tile MR × NR (NR = NRV·VL)   accumulators
 *   AVX-512   16        14 × 32 (2 zmm per row)             28 zmm + 2 for B + A broadcast
 *   AVX2/AVX  8         6 × 16 (2 ymm per row)              12 ymm + 2 + 1
 *   NEON      4         6 × 16 (4 q per row)                24 q + 4 + 1
 *   others    4         6 × 8 (2 per row)                   12 + 2 + 1
 *
 * (Schedule.tile_m overrides MR.) The micro-kernel keeps the MR × NRV accumulators in SSA
 * values (phis of the k loop, so in registers), loads NRV vectors of a B panel row per k and
 * broadcasts one A element per row (x86: vfmadd231ps with an embedded {1toN} broadcast),
 * llvm.fmuladd throughout (an FMA where the target has one), and prefetches the panel 16
 * rows ahead (~+10% on the MLP shapes of ViT-B/16, whose B comes from L3) and, with packed B,
 * the next column group's block of B into L2: each tile a share, spread over its micro-kernels,
 * one line every 4 k of each one's first k (~5% on 197×768×3072, ~2.5% on ViT-B/16 at batch 1
 * when a tile's first micro-kernel issued its whole share, one line per k; then ~1–2% more
 * spread over the micro-kernels, ~3% more at one line every 4 k: memory answers such a stream
 * in time, while a burst queues behind it and slows the kernel's own loads).
 *
 * B panels: a panel is K rows of NR' contiguous floats (NR' ≥ NR, a multiple). When the
 * plan packed B (GemmInfo.pack_nr, at load time), the micro-kernel reads the packed buffer
 * directly (NR' = pack_nr, zero-padded past N; a batched weight — MoE experts — has one
 * panel set per batch index, the rank-(r + 1) view adds its offset). Otherwise each tile
 * first copies the part of B it needs into a stack buffer in the same layout (vector loads
 * when B's n-stride is 1, gathers otherwise — the transposed K of attention), zero-padded.
 *
 * Tiles: the parallel extent is ⌈N/NC⌉ × batch × ⌈M/MC⌉ with the M-block fastest, so
 * consecutive tiles share B's columns (they stay in L2); batch × ⌈N/NC⌉ × ⌈M/MC⌉ when B
 * differs per batch index (one index's A then stays in L2 across its column groups). When
 * every view steps over the last batch dim as over M rows (a contiguous batch of images),
 * that dim folds into M: batch 8 of ViT-B/16 is one GEMM of 1576 rows. With packed B the
 * row blocks are MR rows and MR − 1 rows, as many of the latter as leave no remainder
 * (row_groups: 197 = 2·14 + 13·13, 1576 = 107·14 + 6·13), where a remainder of 1 row, run by
 * a latency-bound 1-row micro-kernel that streams a whole panel of B for one row, cost ~4%
 * of a 197-row GEMM. A tile of MC × NC outputs:
 *
 *   for kb in K by KC:                   (one block when K ≤ KC: no partial sums)
 *     [copy B[kb:kb+KC, n0:n0+NC] into panels on the stack]
 *     for mb in the tile's rows by MR:   (MR or MR − 1 rows; a last block of fewer by 4, then by 1)
 *       for each panel p of the tile:
 *         acc = kb = 0 ? 0 : partial sums (stack); acc += A[mb.., kb..]·panel p; acc → stack
 *         last kb: for each row: epilogue(sums) → out (vector mode, masked past N)
 *
 * MC = MR with packed B (the tile's A rows stay in L1 while the panels stream from L2; NC
 * one panel while A is small, tile_cols), up
 * to 16·MR otherwise (the copy of B is shared by more rows); the stack buffers stay under
 * 128 KiB each. The epilogue is the kernel's expression evaluated on vectors (llvm_expr.c
 * vector mode) — bias, GELU, residual adds — in one loop over the tile's rows, whatever
 * micro-kernel computed them.
 */
#include "llvm_internal.h"

enum {
    MAX_MR = 16,
    MAX_NRV = 4,
    PREFETCH_ROWS = 16,   /* B panel rows ahead (measured: 8..24 alike) */
    PF_SHIFT = 2,         /* the next B block's prefetch: a line every 2^PF_SHIFT k (measured 1, 4, 8) */
    STACK_FLOATS = 32768, /* the most floats in each stack buffer (B panels, partial sums) */
    A_SMALL_BYTES = 1 << 20, /* A up to this size: tiles one panel wide (tile_cols) */
};

typedef struct {
    /* shape of the code */
    int vl, nrv, nr, mr;
    int64_t kc, nc, mc;       /* blocking: K per block, columns and rows per tile (nc: at most) */
    int pnr;                  /* columns per panel in memory (packed: pack_nr; else nr) */
    bool packed, single_k;
    bool nc_fixed;            /* the schedule set nc (tile_n): tile_cols keeps it */
    bool mixed;               /* row blocks of MR and MR − 1 rows (row_groups) */
    bool short_block;         /* blocks of MR − 1 rows occur (mixed) */
    /* values of the current tile */
    LLVMValueRef M, N, K;
    LLVMValueRef ncv;         /* columns per tile at run time (tile_cols) */
    LLVMValueRef *idx;        /* output index: batch dims set */
    LLVMValueRef abase, bbase;/* A and B (unpacked) offsets of the batch index */
    LLVMValueRef m0, n0, n1, kb, kcur, first, last, npanels;
    LLVMValueRef bbuf, cbuf;  /* stack: B panels (unpacked), partial sums (K > KC) */
    LLVMValueRef ctile;       /* stack: one micro-tile's sums (one block of K) */
    LLVMValueRef kbi;         /* the K block's index */
    LLVMValueRef pfnext;      /* packed: where this tile's share of the next column group's B starts */
    LLVMValueRef pfchunk;     /* the lines of that share */
    LLVMValueRef pfj0;        /* the share's line at k = 0 of the current micro-kernel */
    LLVMValueRef pfper;       /* the lines of the share each micro-kernel prefetches (share / calls) */
    LLVMTypeRef vt;           /* <VL x float> */
} Gc;

bool gen_gemm_tiled(const Gen *g, const Kernel *k)
{
    const GemmInfo *gi = &k->u.gemm;
    if (gi->pack_nr > 0)
        return true;
    return k->out.rank >= 2 && g->p->bufs[k->in[gi->a].buf].dt == DT_F32 && g->p->bufs[k->in[gi->b].buf].dt == DT_F32;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int vectors_per_row(const GenTarget *t) { return t->vl == 16 ? 2 : t->nregs >= 32 ? 4 : 2; }

int gen_gemm_panel(const GenTarget *t) { return t->vl * vectors_per_row(t); }

/* The code's shape for kernel k on this target. */
static void shape(const Gen *g, const Kernel *k, Gc *c)
{
    const GemmInfo *gi = &k->u.gemm;
    const GenTarget *t = &g->tgt;
    c->vl = t->vl;
    c->nrv = vectors_per_row(t);
    c->mr = t->vl == 16 ? 14 : 6;
    c->packed = gi->pack_nr > 0;
    if (k->sched.tile_m > 0 && k->sched.tile_m <= MAX_MR)
        c->mr = k->sched.tile_m;
    /* row blocks of MR and MR − 1 rows (row_groups): packed B, whose tiles are one block */
    c->mixed = c->packed && k->sched.tile_m <= 0 && c->mr >= 6;
    if (c->packed)
        while (c->nrv > 1 && gi->pack_nr % (c->nrv * c->vl) != 0)
            c->nrv--;
    c->nr = c->nrv * c->vl;
    c->pnr = c->packed ? gi->pack_nr : c->nr;
    bool kconst = dim_is_const(gi->k), nconst = dim_is_const(gi->n), mconst = dim_is_const(gi->m);
    int64_t K = gi->k.n;
    /* K per block: all of it up to 4096 (packed) / 256 (copied B), else 768 / 256 */
    int64_t kmax = c->packed ? 4096 : 256, kblk = c->packed ? 768 : 256;
    c->kc = k->sched.tile_k > 0 ? k->sched.tile_k : kconst && K <= kmax ? (K > 0 ? K : 1) : kblk;
    if (!c->packed && c->kc > STACK_FLOATS / c->pnr)
        c->kc = STACK_FLOATS / c->pnr;
    c->single_k = kconst && K <= c->kc;
    /* columns per tile: a multiple of the panel width; packed, B's block about 768 KiB, or
     * 384 KiB when K > 1024 (the tile's A rows no longer fit L1) */
    int64_t nc = c->packed ? (kconst ? (K > 1024 ? 98304 : 196608) / (K > 0 ? K : 1) : 256) : 256;
    c->nc_fixed = k->sched.tile_n > 0;
    if (c->nc_fixed)
        nc = k->sched.tile_n;
    nc = nc / c->pnr * c->pnr;
    if (nc < c->pnr)
        nc = c->pnr;
    if (nconst && nc > cdiv(gi->n.n, c->pnr) * c->pnr)
        nc = cdiv(gi->n.n, c->pnr) * c->pnr;
    if (!c->packed && nc * c->kc > STACK_FLOATS) /* the copy of B on the stack */
        nc = STACK_FLOATS / c->kc / c->pnr * c->pnr;
    if (nc < c->pnr)
        nc = c->pnr;
    c->nc = nc;
    /* rows per tile: MR with packed B; with a copied B as many as 16 blocks share the copy */
    int64_t mc = c->mr;
    if (!c->packed)
        mc = mconst ? cdiv(gi->m.n > 0 ? gi->m.n : 1, c->mr) * c->mr : 8 * c->mr;
    if (mc > 16 * c->mr)
        mc = 16 * c->mr;
    if (!c->single_k && mc * nc > STACK_FLOATS) /* the partial sums on the stack */
        mc = STACK_FLOATS / nc / c->mr * c->mr;
    if (mc < c->mr)
        mc = c->mr;
    c->mc = mc;
    if (!c->single_k && mc * c->nc > STACK_FLOATS && c->nc > c->pnr)
        c->nc = STACK_FLOATS / mc / c->pnr * c->pnr > c->pnr ? STACK_FLOATS / mc / c->pnr * c->pnr : c->pnr;
}

/* Columns per tile at run time: one panel when A, M × K floats, fits in half of L2 with
 * single-block packed B (then the tiles re-read A from L2 cheaply, and a column group's B,
 * K × 32 floats, stays nearer: ViT-B/16 at batch 1, 197 × 768, ran its qkv, proj and fc1
 * GEMMs 5–6% faster), else nc (a larger A comes from L3 once per column group: at batch 8,
 * 1576 rows, one panel made the same GEMMs 10–15% slower). A schedule's tile_n stays. */
static LLVMValueRef tile_cols(Gen *g, const Gc *c, LLVMValueRef M, LLVMValueRef K)
{
    if (!c->packed || !c->single_k || c->nc_fixed || c->nc == c->pnr)
        return gen_i64(g, c->nc);
    LLVMValueRef small = LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildNSWMul(g->b, M, K, ""),
                                       gen_i64(g, A_SMALL_BYTES / 4), "");
    return LLVMBuildSelect(g->b, small, gen_i64(g, c->pnr), gen_i64(g, c->nc), "");
}

/* Π of the batch dims of the output */
static LLVMValueRef batch_count(Gen *g)
{
    const View *o = &g->k->out;
    LLVMValueRef n = gen_i64(g, 1);
    for (int d = 0; d + 2 < o->rank; d++)
        n = LLVMBuildNSWMul(g->b, n, gen_dim(g, o->dims[d]), "");
    return n;
}

/* ⌈a / b⌉ for a ≥ 0, b > 0; ceil_div for a constant b */
static LLVMValueRef ceil_divv(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSDiv(g->b, LLVMBuildNSWAdd(g->b, a, LLVMBuildNSWSub(g->b, b, gen_i64(g, 1), ""), ""), b, "");
}

static LLVMValueRef ceil_div(Gen *g, LLVMValueRef a, int64_t b) { return ceil_divv(g, a, gen_i64(g, b)); }

static LLVMValueRef imin(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* ---- the batch folded into M ---- */

/* The last batch dim b and M fold into one dim of b·M rows when every view indexed like
 * the output (the output, A, the epilogue's loads) steps over b as over M rows: stride(b)
 * = M·stride(m). Then the kernel is generated as that of a GEMM of rank r − 1 (fewer
 * M-remainders, tiles spanning images: a batch of 8 is one GEMM of 8·197 rows). *flat gets
 * the folded kernel (its `in` in ins[], at most nin views). */
static bool fold_batch(const Kernel *k, Kernel *flat, View *ins)
{
    int r = k->out.rank;
    const GemmInfo *gi = &k->u.gemm;
    if (r < 3)
        return false;
    for (int32_t e = 0; e < k->nexpr; e++)
        if (k->expr[e].kind == EX_INDEX && k->expr[e].a >= r - 3 && k->expr[e].a <= r - 2)
            return false;
    Dim m = k->out.dims[r - 2], fm;
    if (!dim_mul(k->out.dims[r - 3], m, &fm))
        return false;
    *flat = *k;
    for (int32_t i = -1; i < k->nin; i++) {
        const View *v = i < 0 ? &k->out : &k->in[i];
        View *w = i < 0 ? &flat->out : &ins[i];
        *w = *v;
        if (i == gi->b)
            continue; /* B: indexed by the batch dims and k, n; the batch dims fold away */
        if (v->rank != r)
            return false;
        Dim want;
        if (!dim_mul(m, v->strides[r - 2], &want) || !(dim_eq(want, v->strides[r - 3]) || (want.n == 0 && v->strides[r - 3].n == 0)))
            return false;
        w->rank = r - 1;
        w->dims[r - 3] = fm; /* views indexed like the output have its dims */
        w->strides[r - 3] = v->strides[r - 2];
        w->dims[r - 2] = v->dims[r - 1];
        w->strides[r - 2] = v->strides[r - 1];
    }
    /* B must not depend on the folded batch dim: its own view, or panels with the batch
     * dims in front (rank r + 1, a batched weight); the dim folds away */
    const View *bv = &k->in[gi->b];
    if (gi->pack_nr <= 0 || bv->rank == r + 1) {
        if (!dim_is_const(bv->strides[r - 3]) || bv->strides[r - 3].n != 0)
            return false;
        View *w = &ins[gi->b];
        w->rank = bv->rank - 1;
        for (int d = r - 3; d < bv->rank - 1; d++) {
            w->dims[d] = bv->dims[d + 1];
            w->strides[d] = bv->strides[d + 1];
        }
    }
    flat->in = ins;
    flat->u.gemm.m = fm;
    return true;
}

/* ---- row groups ---- */

/* The tiles' row groups of M rows. Mixed (packed B, MC = MR): x blocks of MR rows, then y
 * of MR − 1 with y = (MR − M mod MR) mod MR, the least y for which x·MR + y·(MR − 1) = M
 * (as M + y ≡ 0 mod MR), when y·(MR − 1) ≤ M (any M ≥ (MR − 1)²; else y = 0 and the last
 * group has the M mod MR rows left); otherwise groups of MC rows, the last one shorter.
 * `left`: the rows past the whole blocks of MR and MR − 1 (M mod MR, or 0 with y blocks).
 * For a constant M every field is a constant (the builder folds): tile_rows reads them. */
typedef struct {
    LLVMValueRef x, y, left, count;
} Rows;

static Rows row_groups(Gen *g, const Gc *c, LLVMValueRef M)
{
    LLVMBuilderRef b = g->b;
    Rows r = {0};
    LLVMValueRef mr = gen_i64(g, c->mr), left = LLVMBuildSRem(b, M, mr, "");
    if (!c->mixed) { /* (MC is a multiple of MR) */
        r.y = gen_i64(g, 0);
        r.left = left;
        r.count = ceil_div(g, M, c->mc);
        return r;
    }
    LLVMValueRef y = LLVMBuildSRem(b, LLVMBuildNSWSub(b, mr, left, ""), mr, "");
    LLVMValueRef lo = LLVMBuildNSWMul(b, y, gen_i64(g, c->mr - 1), "");
    LLVMValueRef fits = LLVMBuildICmp(b, LLVMIntSLE, lo, M, "");
    r.y = LLVMBuildSelect(b, fits, y, gen_i64(g, 0), "");
    r.x = LLVMBuildSDiv(b, LLVMBuildNSWSub(b, M, LLVMBuildSelect(b, fits, lo, gen_i64(g, 0), ""), ""), mr, "");
    r.left = LLVMBuildSelect(b, fits, gen_i64(g, 0), left, "");
    LLVMValueRef last = LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntSGT, r.left, gen_i64(g, 0), ""), g->t_i64, "");
    r.count = LLVMBuildNSWAdd(b, LLVMBuildNSWAdd(b, r.x, r.y, ""), last, "");
    return r;
}

/* Rows [*m0, *m1) of row group mg. */
static void row_group(Gen *g, const Gc *c, const Rows *r, LLVMValueRef M, LLVMValueRef mg, LLVMValueRef *m0,
                      LLVMValueRef *m1)
{
    LLVMBuilderRef b = g->b;
    if (!c->mixed) {
        *m0 = LLVMBuildNSWMul(b, mg, gen_i64(g, c->mc), "");
        *m1 = imin(g, M, LLVMBuildNSWAdd(b, *m0, gen_i64(g, c->mc), ""));
        return;
    }
    LLVMValueRef hi = LLVMBuildICmp(b, LLVMIntSLT, mg, r->x, "");
    LLVMValueRef after = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, r->x, gen_i64(g, c->mr), ""),
                                         LLVMBuildNSWMul(b, imin(g, LLVMBuildNSWSub(b, mg, r->x, ""), r->y),
                                                         gen_i64(g, c->mr - 1), ""), "");
    *m0 = LLVMBuildSelect(b, hi, LLVMBuildNSWMul(b, mg, gen_i64(g, c->mr), ""), after, "");
    LLVMValueRef h = LLVMBuildSelect(b, hi, gen_i64(g, c->mr), gen_i64(g, c->mr - 1), "");
    *m1 = imin(g, M, LLVMBuildNSWAdd(b, *m0, h, ""));
}

LLVMValueRef gen_gemm_extent(Gen *g)
{
    const Kernel *saved = g->k;
    Kernel flat;
    View ins[64];
    if (g->k->nin <= 64 && fold_batch(g->k, &flat, ins))
        g->k = &flat;
    Gc c;
    shape(g, g->k, &c);
    const GemmInfo *gi = &g->k->u.gemm;
    LLVMValueRef ncv = tile_cols(g, &c, gen_dim(g, gi->m), gen_dim(g, gi->k));
    LLVMValueRef n = LLVMBuildNSWMul(g->b, batch_count(g), ceil_divv(g, gen_dim(g, gi->n), ncv), "");
    n = LLVMBuildNSWMul(g->b, n, row_groups(g, &c, gen_dim(g, gi->m)).count, "");
    g->k = saved;
    return n;
}

/* ---- the micro-kernel ---- */

static LLVMValueRef zero_vec(Gc *c) { return LLVMConstNull(c->vt); }

/* Element `off` of the B panels: the packed buffer or the stack copy. */
static LLVMValueRef panel_ptr(Gen *g, Gc *c, LLVMValueRef off)
{
    if (c->packed) {
        const View *B = &g->k->in[g->k->u.gemm.b];
        return LLVMBuildInBoundsGEP2(g->b, g->t_f32, g->bufp[B->buf], &off, 1, "");
    }
    return LLVMBuildInBoundsGEP2(g->b, g->t_f32, c->bbuf, &off, 1, "");
}

static LLVMValueRef load_panel(Gen *g, Gc *c, LLVMValueRef off)
{
    LLVMValueRef v = LLVMBuildLoad2(g->b, c->vt, panel_ptr(g, c, off), "");
    LLVMSetAlignment(v, 4);
    if (c->packed)
        gen_alias(g, v, g->k->in[g->k->u.gemm.b].buf);
    return v;
}

/* acc[i·nrv + v] += Σ_{k < kcur} A[m + i, kb + k] · panel[k][v·VL ..] for i < mr; the panel
 * starts at element `pbase` with rows `ldb` elements apart. */
/* The k loop over [k0, k1) of micro_kernel; `pf`: it also prefetches a line of the next
 * column group's B per k (gemm_kernel) — a loop of its own, so that each loop stays one
 * basic block. */
static void k_loop(Gen *g, Gc *c, int mr, const LLVMValueRef *arow, LLVMValueRef pbase, LLVMValueRef ldb,
                   LLVMValueRef k0, LLVMValueRef k1, bool pf, LLVMValueRef *acc)
{
    const Kernel *k = g->k;
    const View *A = &k->in[k->u.gemm.a];
    int r = k->out.rank, nacc = mr * c->nrv;
    LLVMBuilderRef b = g->b;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "ukr");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "ukr_body");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "ukr_done");
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, head);
    LLVMValueRef kk = LLVMBuildPhi(b, g->t_i64, "k");
    LLVMValueRef phi[MAX_MR * MAX_NRV];
    for (int i = 0; i < nacc; i++) {
        phi[i] = LLVMBuildPhi(b, c->vt, "acc");
        LLVMAddIncoming(phi[i], &acc[i], &pre, 1);
    }
    LLVMAddIncoming(kk, &k0, &pre, 1);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, kk, k1, ""), body, done);
    LLVMPositionBuilderAtEnd(b, body);
    LLVMValueRef brow = LLVMBuildNSWAdd(b, pbase, LLVMBuildNSWMul(b, kk, ldb, ""), "");
    LLVMValueRef bv[MAX_NRV], next[MAX_MR * MAX_NRV];
    LLVMTypeRef over[1] = {g->t_ptr};
    /* the panel's rows PREFETCH_ROWS ahead into L1 (a hint: past the panel's end it reads
     * nothing; a plain GEP, the address may be past the buffer) */
    for (int v = 0; v < c->nrv * c->vl; v += 16) {
        LLVMValueRef off = LLVMBuildAdd(
            b, brow, LLVMBuildAdd(b, LLVMBuildMul(b, gen_i64(g, PREFETCH_ROWS), ldb, ""), gen_i64(g, v), ""), "");
        LLVMValueRef base = c->packed ? g->bufp[k->in[k->u.gemm.b].buf] : c->bbuf;
        LLVMValueRef args[4] = {LLVMBuildGEP2(b, g->t_f32, base, &off, 1, ""), LLVMConstInt(g->t_i32, 0, 0),
                                LLVMConstInt(g->t_i32, 3, 0), LLVMConstInt(g->t_i32, 1, 0)};
        gen_intrinsic_over(g, "llvm.prefetch", over, 1, args, 4);
    }
    if (pf) { /* line pfj0 + k / 2^PF_SHIFT of this tile's share of the next column group's B, into L2 */
        LLVMValueRef j = LLVMBuildNSWAdd(b, c->pfj0, LLVMBuildAShr(b, kk, gen_i64(g, PF_SHIFT), ""), "");
        LLVMValueRef off = LLVMBuildNSWAdd(b, c->pfnext, LLVMBuildNSWMul(b, j, gen_i64(g, 16), ""), "");
        LLVMValueRef args[4] = {LLVMBuildGEP2(b, g->t_f32, g->bufp[k->in[k->u.gemm.b].buf], &off, 1, ""),
                                LLVMConstInt(g->t_i32, 0, 0), LLVMConstInt(g->t_i32, 2, 0),
                                LLVMConstInt(g->t_i32, 1, 0)};
        gen_intrinsic_over(g, "llvm.prefetch", over, 1, args, 4);
    }
    for (int v = 0; v < c->nrv; v++)
        bv[v] = load_panel(g, c, LLVMBuildNSWAdd(b, brow, gen_i64(g, (int64_t)v * c->vl), ""));
    for (int i = 0; i < mr; i++) {
        LLVMValueRef a = gen_load(g, A->buf, gen_offset_step(g, arow[i], kk, A->strides[r - 1]), DT_F32);
        LLVMValueRef as = gen_broadcast(g, a, (unsigned)c->vl);
        for (int v = 0; v < c->nrv; v++)
            next[i * c->nrv + v] = gen_fmuladd(g, as, bv[v], phi[i * c->nrv + v]);
    }
    LLVMValueRef kn = LLVMBuildNSWAdd(b, kk, gen_i64(g, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    LLVMBuildBr(b, head);
    LLVMAddIncoming(kk, &kn, &latch, 1);
    for (int i = 0; i < nacc; i++)
        LLVMAddIncoming(phi[i], &next[i], &latch, 1);
    LLVMPositionBuilderAtEnd(b, done);
    for (int i = 0; i < nacc; i++)
        acc[i] = phi[i];
}

static void micro_kernel(Gen *g, Gc *c, int mr, LLVMValueRef m, LLVMValueRef pbase, LLVMValueRef ldb,
                         LLVMValueRef *acc)
{
    const Kernel *k = g->k;
    const View *A = &k->in[k->u.gemm.a];
    int r = k->out.rank;
    LLVMBuilderRef b = g->b;
    LLVMValueRef arow[MAX_MR];
    for (int i = 0; i < mr; i++) {
        LLVMValueRef mi = LLVMBuildNSWAdd(b, m, gen_i64(g, i), "");
        arow[i] = gen_offset_step(g, gen_offset_step(g, c->abase, mi, A->strides[r - 2]), c->kb, A->strides[r - 1]);
    }
    LLVMValueRef zero = gen_i64(g, 0);
    if (c->pfj0) { /* the first k of each micro-kernel prefetch its part of the share (PF_SHIFT) */
        LLVMValueRef left = LLVMBuildNSWSub(b, c->pfchunk, c->pfj0, "");
        left = imin(g, left, c->pfper);
        left = LLVMBuildShl(b, left, gen_i64(g, PF_SHIFT), "");
        LLVMValueRef split = imin(g, c->kcur, LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, left, zero, ""), left,
                                                              zero, ""));
        k_loop(g, c, mr, arow, pbase, ldb, zero, split, true, acc);
        k_loop(g, c, mr, arow, pbase, ldb, split, c->kcur, false, acc);
    } else {
        k_loop(g, c, mr, arow, pbase, ldb, zero, c->kcur, false, acc);
    }
}

/* ---- a block of mr rows against every panel of the tile ---- */

/* Element (row, col) of a float tile at `base` with rows `ld` floats apart. */
static LLVMValueRef tile_ptr(Gen *g, LLVMValueRef base, int64_t ld, LLVMValueRef row, LLVMValueRef col)
{
    LLVMValueRef off = LLVMBuildNSWAdd(g->b, LLVMBuildNSWMul(g->b, row, gen_i64(g, ld), ""), col, "");
    return LLVMBuildInBoundsGEP2(g->b, g->t_f32, base, &off, 1, "");
}

/* The epilogue of `rows` rows (m, …) × NR columns from col0, whose sums are in the tile
 * at `base` (rows ld floats apart): one loop over the rows' vectors, the kernel's
 * expression on each (masked past N), stored to the output — one copy of the expression
 * per kernel variant, whatever the micro-tile. */
static void epilogue(Gen *g, Gc *c, LLVMValueRef rows, LLVMValueRef m, LLVMValueRef col0, LLVMValueRef base,
                     int64_t ld)
{
    const Kernel *k = g->k;
    LLVMBuilderRef b = g->b;
    int r = k->out.rank;
    DType adt = gen_acc_dtype(k);
    g->vl = (unsigned)c->vl;
    GenLoop t;
    gen_loop_begin(g, &t, gen_i64(g, 0), LLVMBuildNSWMul(b, rows, gen_i64(g, c->nrv), ""), "epilogue");
    LLVMValueRef i = LLVMBuildUDiv(b, t.iv, gen_i64(g, c->nrv), "");
    LLVMValueRef off = LLVMBuildNSWMul(b, LLVMBuildURem(b, t.iv, gen_i64(g, c->nrv), ""), gen_i64(g, c->vl), "");
    c->idx[r - 2] = LLVMBuildNSWAdd(b, m, i, "");
    c->idx[r - 1] = LLVMBuildNSWAdd(b, col0, off, "");
    g->vmask = gen_lane_mask(g, (unsigned)c->vl, c->idx[r - 1], c->n1);
    LLVMValueRef acc = LLVMBuildLoad2(b, c->vt, tile_ptr(g, base, ld, i, off), "");
    LLVMSetAlignment(acc, 4);
    GenPoint pt = {c->idx, gen_convert(g, acc, DT_F32, adt), NULL};
    gen_store_result(g, &pt, gen_view_base(g, &k->out, c->idx, r - 1));
    gen_loop_end(g, &t, LOOP_PLAIN);
    g->vl = 0;
    g->vmask = NULL;
}

/* One micro-kernel of mr rows at rows m + off of the block: its sums start from 0 or the
 * partial sums and go back to the tile at `base` (row off). */
static void block_part(Gen *g, Gc *c, int mr, LLVMValueRef m, LLVMValueRef off, LLVMValueRef pbase,
                       LLVMValueRef ldb, LLVMValueRef base, int64_t ld)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef acc[MAX_MR * MAX_NRV], ptr[MAX_MR * MAX_NRV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < c->nrv; v++) {
            LLVMValueRef row = LLVMBuildNSWAdd(b, off, gen_i64(g, i), "");
            ptr[i * c->nrv + v] = tile_ptr(g, base, ld, row, gen_i64(g, (int64_t)v * c->vl));
            acc[i * c->nrv + v] = zero_vec(c);
            if (!c->single_k) {
                LLVMValueRef ldv = LLVMBuildLoad2(b, c->vt, ptr[i * c->nrv + v], "");
                LLVMSetAlignment(ldv, 4);
                acc[i * c->nrv + v] = LLVMBuildSelect(b, c->first, zero_vec(c), ldv, "");
            }
        }
    micro_kernel(g, c, mr, LLVMBuildNSWAdd(b, m, off, ""), pbase, ldb, acc);
    for (int i = 0; i < mr * c->nrv; i++)
        LLVMSetAlignment(LLVMBuildStore(b, acc[i], ptr[i]), 4);
}

/* A loop of micro-kernels of mr rows over rows [from, to) of the block (a multiple of mr). */
static void parts_loop(Gen *g, Gc *c, int mr, LLVMValueRef m, LLVMValueRef from, LLVMValueRef to,
                       LLVMValueRef pbase, LLVMValueRef ldb, LLVMValueRef base, int64_t ld)
{
    LLVMBuilderRef b = g->b;
    GenLoop q;
    LLVMValueRef n = LLVMBuildSDiv(b, LLVMBuildNSWSub(b, to, from, ""), gen_i64(g, mr), "");
    gen_loop_begin(g, &q, gen_i64(g, 0), n, "mpart");
    block_part(g, c, mr, m, LLVMBuildNSWAdd(b, from, LLVMBuildNSWMul(b, q.iv, gen_i64(g, mr), ""), ""), pbase, ldb,
               base, ld);
    gen_loop_end(g, &q, LOOP_PLAIN);
}

/* A block of `rows` rows (m, …) against every panel of the tile, then one epilogue for
 * them: MR rows by the MR-row micro-kernel; fewer (the tile's last block) by micro-kernels
 * of 4 rows, then of 1 (`rest`: which of those a remainder of M can need). */
static void rows_block(Gen *g, Gc *c, LLVMValueRef m, LLVMValueRef rows, int rest)
{
    LLVMBuilderRef b = g->b;
    GenLoop p;
    gen_loop_begin(g, &p, gen_i64(g, 0), c->npanels, "panel");
    LLVMValueRef col0 = LLVMBuildNSWAdd(b, c->n0, LLVMBuildNSWMul(b, p.iv, gen_i64(g, c->nr), ""), "");
    if (c->pfnext) /* the part of this call: (K block · panels + panel) · lines per call */
        c->pfj0 = LLVMBuildNSWMul(
            b, LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, c->kbi, c->npanels, ""), p.iv, ""), c->pfper, "");
    LLVMValueRef pbase, ldb;
    if (c->packed) { /* panel col0 / pnr, column col0 mod pnr, row kb */
        LLVMValueRef pp = LLVMBuildSDiv(b, col0, gen_i64(g, c->pnr), "");
        LLVMValueRef pc = LLVMBuildSRem(b, col0, gen_i64(g, c->pnr), "");
        LLVMValueRef prow = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, pp, c->K, ""), c->kb, "");
        pbase = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, prow, gen_i64(g, c->pnr), ""), pc, "");
        pbase = LLVMBuildNSWAdd(b, pbase, c->bbase, "");
        ldb = gen_i64(g, c->pnr);
    } else {
        pbase = LLVMBuildNSWMul(b, p.iv, LLVMBuildNSWMul(b, c->kcur, gen_i64(g, c->nr), ""), "");
        ldb = gen_i64(g, c->nr);
    }
    /* the sums go to a tile: the micro-tile's own (one block of K), or the partial sums of
     * the whole tile at its rows (m − m0) and columns (col0 − n0) */
    LLVMValueRef base = c->ctile;
    int64_t ld = c->nr;
    if (!c->single_k) {
        base = tile_ptr(g, c->cbuf, c->nc, LLVMBuildNSWSub(b, m, c->m0, ""), LLVMBuildNSWSub(b, col0, c->n0, ""));
        ld = c->nc;
    }
    if (!rest && !c->short_block) {
        block_part(g, c, c->mr, m, gen_i64(g, 0), pbase, ldb, base, ld);
    } else { /* MR rows; else MR − 1 (short_block); else by 4 and by 1 (rest) */
        LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "mfull");
        LLVMBasicBlockRef other = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "mother");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "mblock_done");
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, rows, gen_i64(g, c->mr), ""), full, other);
        LLVMPositionBuilderAtEnd(b, full);
        block_part(g, c, c->mr, m, gen_i64(g, 0), pbase, ldb, base, ld);
        LLVMBuildBr(b, done);
        LLVMPositionBuilderAtEnd(b, other);
        if (c->short_block) {
            LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "mshort");
            LLVMBasicBlockRef part = rest ? LLVMAppendBasicBlockInContext(g->ctx, g->fn, "mrest") : one;
            if (rest)
                LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, rows, gen_i64(g, c->mr - 1), ""), one, part);
            else
                LLVMBuildBr(b, one);
            LLVMPositionBuilderAtEnd(b, one);
            block_part(g, c, c->mr - 1, m, gen_i64(g, 0), pbase, ldb, base, ld);
            LLVMBuildBr(b, done);
            LLVMPositionBuilderAtEnd(b, part);
        }
        if (rest) {
            LLVMValueRef four = LLVMBuildAnd(b, rows, gen_i64(g, ~(int64_t)3), "");
            if (rest & 4)
                parts_loop(g, c, 4, m, gen_i64(g, 0), four, pbase, ldb, base, ld);
            if (rest & 1)
                parts_loop(g, c, 1, m, four, rows, pbase, ldb, base, ld);
            LLVMBuildBr(b, done);
        }
        LLVMPositionBuilderAtEnd(b, done);
    }
    if (c->single_k) {
        epilogue(g, c, rows, m, col0, base, ld);
    } else {
        LLVMBasicBlockRef epi = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "epilogue");
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "block_done");
        LLVMBuildCondBr(b, c->last, epi, join);
        LLVMPositionBuilderAtEnd(b, epi);
        epilogue(g, c, rows, m, col0, base, ld);
        LLVMBuildBr(b, join);
        LLVMPositionBuilderAtEnd(b, join);
    }
    gen_loop_end(g, &p, LOOP_PLAIN);
}

/* ---- copying B into panels (unpacked B) ---- */


static void copy_panels(Gen *g, Gc *c)
{
    const Kernel *k = g->k;
    const View *B = &k->in[k->u.gemm.b];
    int r = k->out.rank;
    LLVMBuilderRef b = g->b;
    GenLoop p, kk;
    gen_loop_begin(g, &p, gen_i64(g, 0), c->npanels, "copy_panel");
    LLVMValueRef col0 = LLVMBuildNSWAdd(b, c->n0, LLVMBuildNSWMul(b, p.iv, gen_i64(g, c->nr), ""), "");
    gen_loop_begin(g, &kk, gen_i64(g, 0), c->kcur, "copy_k");
    LLVMValueRef row = gen_offset_step(g, c->bbase, LLVMBuildNSWAdd(b, c->kb, kk.iv, ""), B->strides[r - 2]);
    LLVMValueRef dst = LLVMBuildNSWMul(
        b, LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, p.iv, c->kcur, ""), kk.iv, ""), gen_i64(g, c->nr), "");
    g->vl = (unsigned)c->vl;
    for (int v = 0; v < c->nrv; v++) {
        LLVMValueRef j = LLVMBuildNSWAdd(b, col0, gen_i64(g, (int64_t)v * c->vl), "");
        LLVMValueRef mask = gen_lane_mask(g, (unsigned)c->vl, j, c->n1);
        LLVMValueRef x = gen_load_vec(g, B->buf, gen_offset_step(g, row, j, B->strides[r - 1]), B->strides[r - 1],
                                      mask, DT_F32);
        x = LLVMBuildSelect(b, mask, x, zero_vec(c), "");
        LLVMValueRef st = LLVMBuildStore(
            b, x, panel_ptr(g, c, LLVMBuildNSWAdd(b, dst, gen_i64(g, (int64_t)v * c->vl), "")));
        LLVMSetAlignment(st, 4);
    }
    g->vl = 0;
    gen_loop_end(g, &kk, LOOP_PLAIN);
    gen_loop_end(g, &p, LOOP_PLAIN);
}

/* ---- the kernel ---- */

/* The rows [m0, m1) of the tile in blocks of MR (the last may have fewer: see rows_block). */
static void tile_rows(Gen *g, Gc *c, LLVMValueRef m0, LLVMValueRef m1)
{
    LLVMBuilderRef b = g->b;
    const GemmInfo *gi = &g->k->u.gemm;
    int rest = 5; /* a symbolic M can leave any remainder: both 4- and 1-row parts */
    c->short_block = c->mixed;
    if (dim_is_const(gi->m)) { /* row_groups' split of this M, folded to constants */
        Rows rg = row_groups(g, c, gen_dim(g, gi->m));
        if (LLVMIsAConstantInt(rg.y) && LLVMIsAConstantInt(rg.left)) {
            int64_t left = LLVMConstIntGetSExtValue(rg.left);
            c->short_block = LLVMConstIntGetSExtValue(rg.y) > 0;
            rest = (left >= 4 ? 4 : 0) | (left % 4 ? 1 : 0);
        }
    }
    if (c->mr <= 4)
        rest &= 1;
    GenLoop mb;
    LLVMValueRef rows = LLVMBuildNSWSub(b, m1, m0, "");
    bool ragged = rest || c->short_block; /* blocks of fewer than MR rows */
    LLVMValueRef blocks = ragged ? ceil_div(g, rows, c->mr) : LLVMBuildSDiv(b, rows, gen_i64(g, c->mr), "");
    gen_loop_begin(g, &mb, gen_i64(g, 0), blocks, "mblock");
    LLVMValueRef m = LLVMBuildNSWAdd(b, m0, LLVMBuildNSWMul(b, mb.iv, gen_i64(g, c->mr), ""), "");
    rows_block(g, c, m, ragged ? imin(g, gen_i64(g, c->mr), LLVMBuildNSWSub(b, m1, m, "")) : gen_i64(g, c->mr), rest);
    gen_loop_end(g, &mb, LOOP_PLAIN);
}

static void gemm_kernel(Gen *g);

/* Whether B steps over a batch dim of the output (its own view's or a batched weight's
 * panel sets; rank-3 panels are the same for every batch index). */
static bool b_varies(const Kernel *k)
{
    const GemmInfo *gi = &k->u.gemm;
    const View *B = &k->in[gi->b];
    int r = k->out.rank;
    if (gi->pack_nr > 0 && B->rank == 3)
        return false;
    for (int d = 0; d < r - 2; d++) {
        Dim n = k->out.dims[d];
        if ((!dim_is_const(n) || n.n != 1) && (!dim_is_const(B->strides[d]) || B->strides[d].n != 0))
            return true;
    }
    return false;
}

void gen_gemm_kernel(Gen *g)
{
    const Kernel *saved = g->k;
    Kernel flat;
    View ins[64];
    if (g->k->nin <= 64 && fold_batch(g->k, &flat, ins))
        g->k = &flat;
    gemm_kernel(g);
    g->k = saved;
}

static void gemm_kernel(Gen *g)
{
    const Kernel *k = g->k;
    const GemmInfo *gi = &k->u.gemm;
    const View *A = &k->in[gi->a], *B = &k->in[gi->b];
    int r = k->out.rank;
    LLVMBuilderRef b = g->b;
    Gc c = {0};
    shape(g, k, &c);
    if (c.packed && (gi->pack_nr % c.vl != 0 || (B->rank != 3 && B->rank != r + 1))) {
        gen_fail(g, "internal error: GEMM kernel %d: B packed in panels of %d columns, not a multiple of %d", g->ki,
                 gi->pack_nr, c.vl);
        return;
    }
    c.vt = LLVMVectorType(g->t_f32, (unsigned)c.vl);
    c.M = gen_dim(g, gi->m);
    c.N = gen_dim(g, gi->n);
    c.K = gen_dim(g, gi->k);
    c.ncv = tile_cols(g, &c, c.M, c.K);
    LLVMValueRef idx[IR_MAX_RANK] = {0};
    c.idx = idx;
    if (!c.packed)
        c.bbuf = gen_alloca(g, LLVMArrayType(g->t_f32, (unsigned)(c.kc * c.nc)), "bpanels");
    if (!c.single_k)
        c.cbuf = gen_alloca(g, LLVMArrayType(g->t_f32, (unsigned)(c.mc * c.nc)), "partial");
    else
        c.ctile = gen_alloca(g, LLVMArrayType(g->t_f32, (unsigned)(c.mr * c.nr)), "sums");
    Rows rg = row_groups(g, &c, c.M);
    LLVMValueRef mgroups = rg.count;

    GenLoop it;
    gen_loop_begin(g, &it, LLVMGetParam(g->fn, 2), LLVMGetParam(g->fn, 3), "tile");
    /* it = (ng · batch + b) · mgroups + mg: tiles of one column group are consecutive, and
     * of the batch indices sharing that block of B. When B differs per batch index (expert
     * weights, activations) nothing is shared across the batch: it = (b · ngroups + ng) ·
     * mgroups + mg keeps one batch index's A in L2 across its column groups. */
    LLVMValueRef mg = LLVMBuildSRem(b, it.iv, mgroups, "");
    LLVMValueRef rest = LLVMBuildSDiv(b, it.iv, mgroups, "");
    LLVMValueRef ng;
    if (b_varies(k)) {
        LLVMValueRef ngroups = ceil_divv(g, c.N, c.ncv);
        ng = LLVMBuildSRem(b, rest, ngroups, "");
        rest = LLVMBuildSDiv(b, rest, ngroups, "");
    } else {
        LLVMValueRef nb = batch_count(g);
        ng = LLVMBuildSDiv(b, rest, nb, "");
        rest = LLVMBuildSRem(b, rest, nb, "");
    }
    for (int d = r - 3; d >= 0; d--) {
        Dim dim = k->out.dims[d];
        if (dim_is_const(dim) && dim.n == 1) {
            idx[d] = gen_i64(g, 0);
        } else if (d == 0) {
            idx[d] = rest;
        } else {
            LLVMValueRef n = gen_dim(g, dim);
            idx[d] = LLVMBuildURem(b, rest, n, "");
            rest = LLVMBuildUDiv(b, rest, n, "");
        }
    }
    c.abase = gen_view_base(g, A, idx, r - 2);
    /* B's batch index: its own view, or a batched weight's panel set (packed, rank r + 1) */
    c.bbase = c.packed && B->rank == 3 ? gen_dim(g, B->offset) : gen_view_base(g, B, idx, r - 2);
    LLVMValueRef m0, m1;
    row_group(g, &c, &rg, c.M, mg, &m0, &m1);
    c.n0 = LLVMBuildNSWMul(b, ng, c.ncv, "");
    c.n1 = imin(g, c.N, LLVMBuildNSWAdd(b, c.n0, c.ncv, ""));
    c.npanels = ceil_div(g, LLVMBuildNSWSub(b, c.n1, c.n0, ""), c.nr);
    c.m0 = m0; /* the tile's first row (partial sums are relative to it) */
    if (c.packed) {
        /* the next column group's block of B, into L2 while this one runs: contiguous panels
         * from panel (n0 + NC) / pnr (for a batched weight, past its last group: the next
         * index's first; past the last group of a weight, the buffer that follows it in the
         * runtime's block of packed weights, in plan order: usually the next GEMM's, whose
         * first block is then on its way too; a prefetch never faults), NC·K floats = NC·K/16
         * lines, a 1/mgroups share per tile, spread over the tile's micro-kernels: pfper lines
         * each, one every 2^PF_SHIFT k of its first k (a share issued at once queued behind
         * memory and slowed the kernel's own loads). Without it the first row block of each
         * column group waits on memory for B (a model's weights are used once per run). */
        LLVMValueRef lines = ceil_div(g, LLVMBuildNSWMul(b, c.ncv, c.K, ""), 16);
        c.pfchunk = LLVMBuildSDiv(b, LLVMBuildNSWAdd(b, lines, LLVMBuildNSWSub(b, mgroups, gen_i64(g, 1), ""), ""),
                                  mgroups, "");
        LLVMValueRef first = LLVMBuildNSWMul(
            b, LLVMBuildSDiv(b, LLVMBuildNSWAdd(b, c.n0, c.ncv, ""), gen_i64(g, c.pnr), ""),
            LLVMBuildNSWMul(b, c.K, gen_i64(g, c.pnr), ""), "");
        LLVMValueRef calls = LLVMBuildNSWMul(b, c.npanels, c.single_k ? gen_i64(g, 1) : ceil_div(g, c.K, c.kc), "");
        c.pfper = LLVMBuildSDiv(b, LLVMBuildNSWAdd(b, c.pfchunk, LLVMBuildNSWSub(b, calls, gen_i64(g, 1), ""), ""),
                                calls, "");
        c.pfnext = LLVMBuildNSWAdd(b, LLVMBuildNSWAdd(b, c.bbase, first, ""),
                                   LLVMBuildNSWMul(b, LLVMBuildNSWMul(b, mg, c.pfchunk, ""), gen_i64(g, 16), ""), "");
    }

    GenLoop kb;
    LLVMValueRef nkb = c.single_k ? gen_i64(g, 1) : ceil_div(g, c.K, c.kc);
    gen_loop_begin(g, &kb, gen_i64(g, 0), nkb, "kblock");
    c.kb = LLVMBuildNSWMul(b, kb.iv, gen_i64(g, c.kc), "");
    c.kbi = kb.iv;
    c.kcur = c.single_k ? c.K : imin(g, gen_i64(g, c.kc), LLVMBuildNSWSub(b, c.K, c.kb, ""));
    c.first = LLVMBuildICmp(b, LLVMIntEQ, kb.iv, gen_i64(g, 0), "");
    c.last = LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildNSWAdd(b, kb.iv, gen_i64(g, 1), ""), nkb, "");
    if (!c.packed)
        copy_panels(g, &c);
    tile_rows(g, &c, m0, m1);
    gen_loop_end(g, &kb, LOOP_PLAIN);
    gen_loop_end(g, &it, LOOP_PLAIN);
}
