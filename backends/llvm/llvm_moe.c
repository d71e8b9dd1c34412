/* llvm_moe.c — the row bodies of the MoE kernels (ir/plan.h: KK_MOE_ROUTE, KK_MOE_COMBINE;
 * docs/MOE.md), in the skeleton of llvm_gen.c.
 *
 *   MOE_ROUTE    one row = one group. Token choice: per token, k passes of an argmax over
 *                its member's gates (skipping experts already taken; ties to the lower
 *                index, NaN below numbers), the choices written to the route row and the
 *                top-1 gate kept as the token's key; with batch_priority a stable bottom-up
 *                merge sort of the token order by descending key (passes unrolled at
 *                compile time, S being fixed); then choice-major slot assignment with one
 *                running counter per expert. Expert choice: per expert, the same merge
 *                sort of the tokens by its gate, the first min(C, S) take its slots.
 *                Scratch (token order, its merge buffer, keys, counters) lives on the
 *                stack: S is limited to ROUTE_MAX_GROUP here.
 *   MOE_COMBINE  one row = one token: its K route entries, the weights from its gates
 *                (normalised if asked), then Σ_j w_j · y[e_j, g·C + c_j, :] accumulated in
 *                a stack row of D floats (an axpy per kept choice, vectorised), then the
 *                epilogue per element. An entry out of range sets RT_ERR_INDEX.
 *
 * Mutable scalars are allocas (mem2reg turns them into registers).
 */
#include "llvm_internal.h"

enum {
    ROUTE_MAX_GROUP = 1 << 16,   /* tokens per group the route kernel keeps on its stack */
    COMBINE_MAX_WIDTH = 1 << 16, /* D of the combine kernel's stack row */
};

typedef LLVMValueRef V;

static V var(Gen *g, LLVMTypeRef t, V init, const char *name)
{
    V p = gen_alloca(g, t, name);
    LLVMBuildStore(g->b, init, p);
    return p;
}

static V ld(Gen *g, LLVMTypeRef t, V p) { return LLVMBuildLoad2(g->b, t, p, ""); }
static void st(Gen *g, V p, V v) { LLVMBuildStore(g->b, v, p); }

/* element i of the stack array `arr` of n elements of t */
static V elem(Gen *g, LLVMTypeRef t, int64_t n, V arr, V i)
{
    V ix[2] = {gen_i64(g, 0), i};
    return LLVMBuildInBoundsGEP2(g->b, LLVMArrayType(t, (unsigned)n), arr, ix, 2, "");
}

static V add(Gen *g, V a, V b) { return LLVMBuildNSWAdd(g->b, a, b, ""); }
static V mul(Gen *g, V a, V b) { return LLVMBuildNSWMul(g->b, a, b, ""); }
static V slt(Gen *g, V a, V b) { return LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""); }
static V sel(Gen *g, V c, V a, V b) { return LLVMBuildSelect(g->b, c, a, b, ""); }

/* a before b in descending order: a > b, or b is NaN and a is not */
static V before(Gen *g, V a, V b)
{
    LLVMBuilderRef bd = g->b;
    V gt = LLVMBuildFCmp(bd, LLVMRealOGT, a, b, "");
    V nan = LLVMBuildAnd(bd, LLVMBuildFCmp(bd, LLVMRealUNO, b, b, ""), LLVMBuildFCmp(bd, LLVMRealORD, a, a, ""), "");
    return LLVMBuildOr(bd, gt, nan, "");
}

typedef struct {
    LLVMBasicBlockRef done;
} GenIf;

static void if_begin(Gen *g, GenIf *f, V cond)
{
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "then");
    f->done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "endif");
    LLVMBuildCondBr(g->b, cond, then, f->done);
    LLVMPositionBuilderAtEnd(g->b, then);
}

static void if_end(Gen *g, GenIf *f)
{
    LLVMBuildBr(g->b, f->done);
    LLVMPositionBuilderAtEnd(g->b, f->done);
}

/* ---- MOE_ROUTE ---- */

typedef struct {
    Gen *g;
    int64_t S, ew, M, E, C, K;
    V gbase;            /* offset of this group's gates */
    const View *gv;
    V outbase;
    V order, tmp, key, count; /* stack arrays: i32[S], i32[S], f32[S], i64[E] */
} Route;

static V gate(Route *r, V s, V i)
{
    Gen *g = r->g;
    V off = gen_offset_step(g, gen_offset_step(g, r->gbase, s, r->gv->strides[1]), i, r->gv->strides[2]);
    return gen_load(g, r->gv->buf, off, DT_F32);
}

static V out_at(Route *r, V q) { return gen_offset_step(r->g, r->outbase, q, r->g->k->out.strides[1]); }
static V out_get(Route *r, V q) { return gen_load(r->g, r->g->k->out.buf, out_at(r, q), DT_I64); }
static void out_set(Route *r, V q, V v) { gen_store(r->g, r->g->k->out.buf, out_at(r, q), v, DT_I64); }

static V order_at(Route *r, V arr, V i) { return elem(r->g, r->g->t_i32, r->S, arr, i); }

/* Stable merge sort of order[0..S) by descending key[order], bottom-up; the passes (their
 * widths) are unrolled at compile time. */
static void merge_sort(Route *r)
{
    Gen *g = r->g;
    LLVMTypeRef i32 = g->t_i32, i64 = g->t_i64, f32 = g->t_f32;
    V src = r->order, dst = r->tmp;
    for (int64_t w = 1; w < r->S; w *= 2) {
        int64_t nb = (r->S + 2 * w - 1) / (2 * w);
        GenLoop b, o;
        gen_loop_begin(g, &b, gen_i64(g, 0), gen_i64(g, nb), "block");
        V lo = mul(g, b.iv, gen_i64(g, 2 * w));
        V mid = add(g, lo, gen_i64(g, w)), hi = add(g, lo, gen_i64(g, 2 * w)), n = gen_i64(g, r->S);
        mid = sel(g, slt(g, mid, n), mid, n);
        hi = sel(g, slt(g, hi, n), hi, n);
        V ip = var(g, i64, lo, "i"), jp = var(g, i64, mid, "j");
        gen_loop_begin(g, &o, lo, hi, "merge");
        V i = ld(g, i64, ip), j = ld(g, i64, jp);
        V iok = slt(g, i, mid), jok = slt(g, j, hi);
        V si = ld(g, i32, order_at(r, src, sel(g, iok, i, lo)));
        V sj = ld(g, i32, order_at(r, src, sel(g, jok, j, lo)));
        V ki = ld(g, f32, elem(g, f32, r->S, r->key, LLVMBuildSExt(g->b, si, i64, "")));
        V kj = ld(g, f32, elem(g, f32, r->S, r->key, LLVMBuildSExt(g->b, sj, i64, "")));
        V right = LLVMBuildAnd(g->b, jok, LLVMBuildOr(g->b, LLVMBuildNot(g->b, iok, ""), before(g, kj, ki), ""), "");
        st(g, order_at(r, dst, o.iv), sel(g, right, sj, si));
        st(g, jp, add(g, j, LLVMBuildZExt(g->b, right, i64, "")));
        st(g, ip, add(g, i, LLVMBuildZExt(g->b, LLVMBuildNot(g->b, right, ""), i64, "")));
        gen_loop_end(g, &o, LOOP_PLAIN);
        gen_loop_end(g, &b, LOOP_PLAIN);
        V t = src;
        src = dst;
        dst = t;
    }
    if (src != r->order) {
        GenLoop c;
        gen_loop_begin(g, &c, gen_i64(g, 0), gen_i64(g, r->S), "copy");
        st(g, order_at(r, r->order, c.iv), ld(g, i32, order_at(r, src, c.iv)));
        gen_loop_end(g, &c, LOOP_PLAIN);
    }
}

static void route_token_choice(Route *r, bool batch_priority)
{
    Gen *g = r->g;
    LLVMTypeRef i32 = g->t_i32, i64 = g->t_i64, f32 = g->t_f32;
    GenLoop s, j, i, jj;
    /* top-k per token */
    gen_loop_begin(g, &s, gen_i64(g, 0), gen_i64(g, r->S), "token");
    V mbase = mul(g, LLVMBuildSRem(g->b, s.iv, gen_i64(g, r->M), ""), gen_i64(g, r->ew));
    V row = mul(g, s.iv, gen_i64(g, r->K));
    gen_loop_begin(g, &j, gen_i64(g, 0), gen_i64(g, r->K), "choice");
    V bestp = var(g, i64, gen_i64(g, -1), "best"), bestv = var(g, f32, LLVMConstReal(f32, 0), "bestv");
    gen_loop_begin(g, &i, gen_i64(g, 0), gen_i64(g, r->ew), "expert");
    V v = gate(r, s.iv, i.iv), cand = add(g, mbase, i.iv);
    V takenp = var(g, g->t_i1, LLVMConstInt(g->t_i1, 0, 0), "taken");
    gen_loop_begin(g, &jj, gen_i64(g, 0), j.iv, "earlier");
    V prev = out_get(r, add(g, row, jj.iv));
    st(g, takenp, LLVMBuildOr(g->b, ld(g, g->t_i1, takenp), LLVMBuildICmp(g->b, LLVMIntEQ, prev, cand, ""), ""));
    gen_loop_end(g, &jj, LOOP_PLAIN);
    V best = ld(g, i64, bestp), bv = ld(g, f32, bestv);
    V better = LLVMBuildOr(g->b, slt(g, best, gen_i64(g, 0)), before(g, v, bv), "");
    V take = LLVMBuildAnd(g->b, better, LLVMBuildNot(g->b, ld(g, g->t_i1, takenp), ""), "");
    st(g, bestp, sel(g, take, i.iv, best));
    st(g, bestv, sel(g, take, v, bv));
    gen_loop_end(g, &i, LOOP_PLAIN);
    out_set(r, add(g, row, j.iv), add(g, mbase, ld(g, i64, bestp)));
    GenIf first;
    if_begin(g, &first, LLVMBuildICmp(g->b, LLVMIntEQ, j.iv, gen_i64(g, 0), ""));
    st(g, elem(g, f32, r->S, r->key, s.iv), ld(g, f32, bestv));
    if_end(g, &first);
    gen_loop_end(g, &j, LOOP_PLAIN);
    st(g, order_at(r, r->order, s.iv), LLVMBuildTrunc(g->b, s.iv, i32, ""));
    gen_loop_end(g, &s, LOOP_PLAIN);

    if (batch_priority)
        merge_sort(r);

    /* choice-major slots */
    GenLoop e, q, jc, p;
    gen_loop_begin(g, &e, gen_i64(g, 0), gen_i64(g, r->E), "zero");
    st(g, elem(g, i64, r->E, r->count, e.iv), gen_i64(g, 0));
    gen_loop_end(g, &e, LOOP_PLAIN);
    V inv0 = gen_i64(g, r->S * r->K);
    gen_loop_begin(g, &q, gen_i64(g, 0), gen_i64(g, r->E * r->C), "empty");
    out_set(r, add(g, inv0, q.iv), gen_i64(g, -1));
    gen_loop_end(g, &q, LOOP_PLAIN);
    gen_loop_begin(g, &jc, gen_i64(g, 0), gen_i64(g, r->K), "round");
    gen_loop_begin(g, &p, gen_i64(g, 0), gen_i64(g, r->S), "position");
    V tok = LLVMBuildSExt(g->b, ld(g, i32, order_at(r, r->order, p.iv)), i64, "");
    V a = add(g, mul(g, tok, gen_i64(g, r->K)), jc.iv);
    V ex = out_get(r, a);
    V cntp = elem(g, i64, r->E, r->count, ex);
    V c = ld(g, i64, cntp);
    st(g, cntp, add(g, c, gen_i64(g, 1)));
    V kept = slt(g, c, gen_i64(g, r->C));
    V slotv = add(g, mul(g, ex, gen_i64(g, r->C)), c);
    out_set(r, a, sel(g, kept, slotv, LLVMBuildNSWSub(g->b, gen_i64(g, -1), ex, "")));
    GenIf k;
    if_begin(g, &k, kept);
    out_set(r, add(g, inv0, slotv), tok);
    if_end(g, &k);
    gen_loop_end(g, &p, LOOP_PLAIN);
    gen_loop_end(g, &jc, LOOP_PLAIN);
}

static void route_expert_choice(Route *r)
{
    Gen *g = r->g;
    LLVMTypeRef i32 = g->t_i32, i64 = g->t_i64, f32 = g->t_f32;
    GenLoop q, e, s, c;
    V K = gen_i64(g, r->K), inv0 = gen_i64(g, r->S * r->K);
    gen_loop_begin(g, &q, gen_i64(g, 0), gen_i64(g, r->S * r->K), "unpicked");
    out_set(r, q.iv, LLVMBuildNSWSub(g->b, gen_i64(g, -1), LLVMBuildSRem(g->b, q.iv, K, ""), ""));
    gen_loop_end(g, &q, LOOP_PLAIN);
    gen_loop_begin(g, &q, gen_i64(g, 0), gen_i64(g, r->E * r->C), "empty");
    out_set(r, add(g, inv0, q.iv), gen_i64(g, -1));
    gen_loop_end(g, &q, LOOP_PLAIN);
    gen_loop_begin(g, &e, gen_i64(g, 0), gen_i64(g, r->E), "expert");
    gen_loop_begin(g, &s, gen_i64(g, 0), gen_i64(g, r->S), "token");
    st(g, order_at(r, r->order, s.iv), LLVMBuildTrunc(g->b, s.iv, i32, ""));
    st(g, elem(g, f32, r->S, r->key, s.iv), gate(r, s.iv, e.iv));
    gen_loop_end(g, &s, LOOP_PLAIN);
    merge_sort(r);
    int64_t picks = r->C < r->S ? r->C : r->S;
    gen_loop_begin(g, &c, gen_i64(g, 0), gen_i64(g, picks), "pick");
    V tok = LLVMBuildSExt(g->b, ld(g, i32, order_at(r, r->order, c.iv)), i64, "");
    V slotv = add(g, mul(g, e.iv, gen_i64(g, r->C)), c.iv);
    out_set(r, add(g, inv0, slotv), tok);
    out_set(r, add(g, mul(g, tok, K), e.iv), slotv);
    gen_loop_end(g, &c, LOOP_PLAIN);
    gen_loop_end(g, &e, LOOP_PLAIN);
}

void gen_row_moe_route(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    (void)rowbase;
    const Kernel *k = g->k;
    const MoeRouteInfo *mi = &k->u.moe_route;
    const RouteAttr *a = &mi->attr;
    const View *gv = &k->in[mi->gates];
    Route r = {.g = g, .gv = gv, .outbase = outbase};
    r.S = gv->dims[1].n;
    r.ew = gv->dims[2].n;
    r.M = a->members;
    r.E = r.M * r.ew;
    r.C = a->capacity;
    r.K = a->routing == ROUTING_EXPERT ? r.E : a->k;
    if (r.S > ROUTE_MAX_GROUP) {
        gen_fail(g, "kernel %d: groups of %lld tokens; the LLVM backend routes at most %d per group", g->ki,
                 (long long)r.S, ROUTE_MAX_GROUP);
        return;
    }
    r.gbase = gen_view_base(g, gv, idx, 1);
    r.order = gen_alloca(g, LLVMArrayType(g->t_i32, (unsigned)r.S), "order");
    r.tmp = gen_alloca(g, LLVMArrayType(g->t_i32, (unsigned)r.S), "merge");
    r.key = gen_alloca(g, LLVMArrayType(g->t_f32, (unsigned)r.S), "key");
    r.count = gen_alloca(g, LLVMArrayType(g->t_i64, (unsigned)r.E), "count");
    if (a->routing == ROUTING_EXPERT)
        route_expert_choice(&r);
    else
        route_token_choice(&r, a->batch_priority);
}

/* ---- MOE_COMBINE ---- */

void gen_row_moe_combine(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    const MoeCombineInfo *mc = &k->u.moe_combine;
    const RouteAttr *a = &mc->attr;
    const View *yv = &k->in[mc->y], *rv = &k->in[mc->route], *gv = &k->in[mc->gates];
    LLVMBuilderRef b = g->b;
    LLVMTypeRef f32 = g->t_f32;
    int32_t r = k->out.rank;
    int64_t D = k->out.dims[r - 1].n, E = yv->dims[0].n, C = a->capacity, M = a->members;
    int64_t ew = gv->dims[gv->rank - 1].n, K = a->routing == ROUTING_EXPERT ? E : a->k;
    int64_t S = (rv->dims[1].n - E * C) / K;
    bool ec = a->routing == ROUTING_EXPERT;
    if (!dim_is_const(k->out.dims[r - 1]) || D > COMBINE_MAX_WIDTH) {
        gen_fail(g, "kernel %d: the LLVM backend combines rows of at most %d fixed elements", g->ki, COMBINE_MAX_WIDTH);
        return;
    }
    /* the token: the row's index in out's leading dims, row-major */
    V t = gen_i64(g, 0);
    for (int d = 0; d + 1 < r; d++)
        t = add(g, mul(g, t, gen_dim(g, k->out.dims[d])), idx[d]);
    V grp = LLVMBuildSDiv(b, t, gen_i64(g, S), ""), s = LLVMBuildSRem(b, t, gen_i64(g, S), "");
    V mbase = mul(g, LLVMBuildSRem(b, s, gen_i64(g, M), ""), gen_i64(g, ew));
    V rbase = gen_offset_step(g, gen_view_base(g, rv, &grp, 1), mul(g, s, gen_i64(g, K)), rv->strides[1]);
    V gbase = rowbase[mc->gates] ? rowbase[mc->gates] : gen_view_base(g, gv, idx, r - 1);
    V slot0 = mul(g, grp, gen_i64(g, C));
    Dim gstride = gv->strides[gv->rank - 1];

    /* route entry j: (kept, valid, gate) */
    GenLoop j;
    V den = LLVMConstReal(f32, 1);
    if (a->normalize_combine) {
        V denp = var(g, f32, LLVMConstReal(f32, 0), "den");
        gen_loop_begin(g, &j, gen_i64(g, 0), gen_i64(g, K), "norm");
        V rj = gen_load(g, rv->buf, gen_offset_step(g, rbase, j.iv, rv->strides[1]), DT_I64);
        V kept = LLVMBuildICmp(b, LLVMIntSGE, rj, gen_i64(g, 0), "");
        V e = sel(g, kept, LLVMBuildSDiv(b, rj, gen_i64(g, C), ""), LLVMBuildNSWSub(b, gen_i64(g, -1), rj, ""));
        V i = LLVMBuildNSWSub(b, e, mbase, "");
        V ok = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULT, i, gen_i64(g, ew), ""),
                            LLVMBuildICmp(b, LLVMIntULT, e, gen_i64(g, E), ""), "");
        if (ec)
            ok = LLVMBuildAnd(b, ok, kept, "");
        GenIf f;
        if_begin(g, &f, ok);
        st(g, denp, LLVMBuildFAdd(b, ld(g, f32, denp), gen_load(g, gv->buf, gen_offset_step(g, gbase, i, gstride), DT_F32), ""));
        if_end(g, &f);
        gen_loop_end(g, &j, LOOP_PLAIN);
        den = ld(g, f32, denp);
    }

    V acc = gen_alloca(g, LLVMArrayType(f32, (unsigned)D), "row");
    GenLoop z, d, e;
    gen_loop_begin(g, &z, gen_i64(g, 0), gen_i64(g, D), "zero");
    st(g, elem(g, f32, D, acc, z.iv), LLVMConstReal(f32, 0));
    gen_loop_end(g, &z, LOOP_PLAIN);
    gen_loop_begin(g, &j, gen_i64(g, 0), gen_i64(g, K), "choice");
    V rj = gen_load(g, rv->buf, gen_offset_step(g, rbase, j.iv, rv->strides[1]), DT_I64);
    V kept = LLVMBuildICmp(b, LLVMIntSGE, rj, gen_i64(g, 0), "");
    V ex = LLVMBuildSDiv(b, rj, gen_i64(g, C), ""), c = LLVMBuildSRem(b, rj, gen_i64(g, C), "");
    V i = LLVMBuildNSWSub(b, ex, mbase, "");
    V valid = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULT, i, gen_i64(g, ew), ""),
                           LLVMBuildICmp(b, LLVMIntULT, ex, gen_i64(g, E), ""), "");
    GenIf use, bad;
    if_begin(g, &bad, LLVMBuildAnd(b, kept, LLVMBuildNot(b, valid, ""), ""));
    gen_index_error(g);
    if_end(g, &bad);
    if_begin(g, &use, LLVMBuildAnd(b, kept, valid, ""));
    V w = LLVMBuildFDiv(b, gen_load(g, gv->buf, gen_offset_step(g, gbase, i, gstride), DT_F32), den, "");
    V yrow = gen_offset_step(g, gen_offset_step(g, gen_dim(g, yv->offset), ex, yv->strides[0]), add(g, slot0, c),
                             yv->strides[1]);
    gen_loop_begin(g, &d, gen_i64(g, 0), gen_i64(g, D), "axpy");
    V p = elem(g, f32, D, acc, d.iv);
    V yval = gen_load(g, yv->buf, gen_offset_step(g, yrow, d.iv, yv->strides[2]), DT_F32);
    st(g, p, gen_fmuladd(g, w, yval, ld(g, f32, p)));
    gen_loop_end(g, &d, LOOP_VECTORIZE);
    if_end(g, &use);
    gen_loop_end(g, &j, LOOP_PLAIN);

    DType adt = gen_acc_dtype(k);
    gen_loop_begin(g, &e, gen_i64(g, 0), gen_i64(g, D), "epilogue");
    idx[r - 1] = e.iv;
    GenPoint pt = {idx, gen_convert(g, ld(g, f32, elem(g, f32, D, acc, e.iv)), DT_F32, adt), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &e, LOOP_PLAIN);
}
