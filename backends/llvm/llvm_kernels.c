/* llvm_kernels.c — the row bodies of the kernel kinds (one output row each, see
 * llvm_gen.c for the skeleton). Floats accumulate in f32, integers in i64.
 *
 *   ELEMENTWISE  for j: out = expr
 *   GEMM         (integer, f16 and bf16 operands; f32 GEMMs are llvm_gemm.c's) B's n-stride
 *                1: rows of NT outputs accumulate in a stack buffer, k outer,
 *                n inner (an axpy per k, vectorised, llvm.fmuladd); otherwise (B's k-stride
 *                1 is the transposed-weight case) one dot product over k per output,
 *                vectorised with reassociation allowed. Then the epilogue per output.
 *   ROW          llvm_row.c
 *   REDUCE       per output element, nested loops over the reduced (trailing) axes.
 *   GATHER       per output element, the index is loaded, checked (0 ≤ i < len; else the
 *                error cell gets RT_ERR_INDEX and the element is 0) and the table read;
 *                a whole row at once (one check, vector copy) when the index does not
 *                vary along the row (an embedding lookup, the MoE dispatch).
 */
#include <math.h>

#include "../../runtime/rt_plan.h"
#include "llvm_internal.h"

enum { GEMM_NT = 256 }; /* outputs per chunk of the axpy GEMM row */

static LLVMValueRef f32c(Gen *g, double v) { return LLVMConstReal(g->t_f32, v); }

static LLVMValueRef row_length(Gen *g)
{
    const View *o = &g->k->out;
    return o->rank > 0 ? gen_dim(g, o->dims[o->rank - 1]) : gen_i64(g, 1);
}

static LLVMValueRef load_acc(Gen *g, LLVMValueRef p, LLVMTypeRef t) { return LLVMBuildLoad2(g->b, t, p, ""); }

/* ---- vector loops along the last axis ---- */

void gen_vector_loop(Gen *g, LLVMValueRef len, GenVectorBody body, void *ctx)
{
    unsigned vl = (unsigned)g->tgt.vl;
    LLVMBuilderRef b = g->b;
    LLVMValueRef full = LLVMBuildSDiv(b, len, gen_i64(g, vl), "");
    GenLoop c;
    g->vl = vl;
    g->vmask = NULL;
    gen_loop_begin(g, &c, gen_i64(g, 0), full, "vec");
    body(g, ctx, LLVMBuildNSWMul(b, c.iv, gen_i64(g, vl), ""));
    gen_loop_end(g, &c, LOOP_PLAIN);
    LLVMValueRef j0 = LLVMBuildNSWMul(b, full, gen_i64(g, vl), "");
    bool known = LLVMIsAConstantInt(len) != NULL;
    if (!known || LLVMConstIntGetSExtValue(len) % vl != 0) {
        LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tail");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tail_done");
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, j0, len, ""), tail, done);
        LLVMPositionBuilderAtEnd(b, tail);
        g->vmask = gen_lane_mask(g, vl, j0, len);
        body(g, ctx, j0);
        LLVMBuildBr(b, done);
        LLVMPositionBuilderAtEnd(b, done);
    }
    g->vl = 0;
    g->vmask = NULL;
}

bool gen_use_vectors(const Gen *g, const View *along)
{
    if (along->rank < 1 || along->strides[along->rank - 1].n == 0 || g->tgt.vl < 2)
        return false;
    Dim len = along->dims[along->rank - 1];
    return !dim_is_const(len) || len.n >= g->tgt.vl / 2;
}

typedef struct {
    LLVMValueRef *idx;
    const LLVMValueRef *rowbase;
    LLVMValueRef outbase;
} EwRow;

static void ew_body(Gen *g, void *ctx, LLVMValueRef j0)
{
    EwRow *e = ctx;
    int32_t r = g->k->out.rank;
    e->idx[r - 1] = j0;
    GenPoint pt = {e->idx, NULL, e->rowbase};
    gen_store_result(g, &pt, e->outbase);
}

void gen_row_elementwise(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    int32_t r = g->k->out.rank;
    if (gen_use_vectors(g, &g->k->out)) {
        EwRow e = {idx, rowbase, outbase};
        gen_vector_loop(g, row_length(g), ew_body, &e);
        return;
    }
    GenLoop j;
    gen_loop_begin(g, &j, gen_i64(g, 0), row_length(g), "j");
    if (r > 0)
        idx[r - 1] = j.iv;
    GenPoint pt = {idx, NULL, rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &j, LOOP_PLAIN);
}

/* ---- GEMM ---- */

/* The accumulated value converted to the EX_ACC dtype. */
static LLVMValueRef acc_value(Gen *g, LLVMValueRef acc, bool isf)
{
    DType adt = gen_acc_dtype(g->k);
    return isf ? gen_convert(g, acc, DT_F32, adt) : gen_convert(g, acc, DT_I64, adt);
}

static void gemm_axpy(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase,
                      LLVMValueRef rowA, LLVMValueRef baseB)
{
    const Kernel *k = g->k;
    const View *A = &k->in[k->u.gemm.a], *B = &k->in[k->u.gemm.b];
    int32_t r = k->out.rank;
    LLVMBuilderRef b = g->b;
    LLVMTypeRef at = LLVMArrayType(g->t_f32, GEMM_NT);
    LLVMValueRef scratch = gen_alloca(g, at, "acc");
    LLVMValueRef N = gen_dim(g, k->u.gemm.n), K = gen_dim(g, k->u.gemm.k), NT = gen_i64(g, GEMM_NT);
    LLVMValueRef nchunks = LLVMBuildSDiv(b, LLVMBuildNSWAdd(b, N, gen_i64(g, GEMM_NT - 1), ""), NT, "");
    GenLoop c, z, kk, n, e;
    gen_loop_begin(g, &c, gen_i64(g, 0), nchunks, "chunk");
    LLVMValueRef n0 = LLVMBuildNSWMul(b, c.iv, NT, "");
    LLVMValueRef left = LLVMBuildNSWSub(b, N, n0, "");
    LLVMValueRef nt = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, left, NT, ""), left, NT, "");
    LLVMValueRef zero[2] = {gen_i64(g, 0), NULL};
    gen_loop_begin(g, &z, gen_i64(g, 0), nt, "zero");
    zero[1] = z.iv;
    LLVMBuildStore(b, f32c(g, 0), LLVMBuildInBoundsGEP2(b, at, scratch, zero, 2, ""));
    gen_loop_end(g, &z, LOOP_PLAIN);

    gen_loop_begin(g, &kk, gen_i64(g, 0), K, "k");
    LLVMValueRef a = gen_load(g, A->buf, gen_offset_step(g, rowA, kk.iv, A->strides[r - 1]), DT_F32);
    LLVMValueRef bk = LLVMBuildNSWAdd(b, gen_offset_step(g, baseB, kk.iv, B->strides[r - 2]), n0, "");
    gen_loop_begin(g, &n, gen_i64(g, 0), nt, "n");
    LLVMValueRef at_n[2] = {gen_i64(g, 0), n.iv};
    LLVMValueRef p = LLVMBuildInBoundsGEP2(b, at, scratch, at_n, 2, "");
    LLVMValueRef bv = gen_load(g, B->buf, LLVMBuildNSWAdd(b, bk, n.iv, ""), DT_F32);
    LLVMBuildStore(b, gen_fmuladd(g, a, bv, load_acc(g, p, g->t_f32)), p);
    gen_loop_end(g, &n, LOOP_VECTORIZE);
    gen_loop_end(g, &kk, LOOP_PLAIN);

    gen_loop_begin(g, &e, gen_i64(g, 0), nt, "epilogue");
    LLVMValueRef at_e[2] = {gen_i64(g, 0), e.iv};
    LLVMValueRef acc = load_acc(g, LLVMBuildInBoundsGEP2(b, at, scratch, at_e, 2, ""), g->t_f32);
    idx[r - 1] = LLVMBuildNSWAdd(b, n0, e.iv, "");
    GenPoint pt = {idx, acc_value(g, acc, true), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &e, LOOP_PLAIN);
    gen_loop_end(g, &c, LOOP_PLAIN);
}

static void gemm_dot(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase,
                     LLVMValueRef rowA, LLVMValueRef baseB, bool isf)
{
    const Kernel *k = g->k;
    const View *A = &k->in[k->u.gemm.a], *B = &k->in[k->u.gemm.b];
    int32_t r = k->out.rank;
    LLVMBuilderRef b = g->b;
    LLVMTypeRef t = isf ? g->t_f32 : g->t_i64;
    DType ldt = isf ? DT_F32 : DT_I64;
    LLVMValueRef accp = gen_alloca(g, t, "dot");
    GenLoop n, kk;
    gen_loop_begin(g, &n, gen_i64(g, 0), gen_dim(g, k->u.gemm.n), "n");
    LLVMValueRef bn = gen_offset_step(g, baseB, n.iv, B->strides[r - 1]);
    LLVMBuildStore(b, LLVMConstNull(t), accp);
    gen_loop_begin(g, &kk, gen_i64(g, 0), gen_dim(g, k->u.gemm.k), "k");
    LLVMValueRef av = gen_load(g, A->buf, gen_offset_step(g, rowA, kk.iv, A->strides[r - 1]), ldt);
    LLVMValueRef bv = gen_load(g, B->buf, gen_offset_step(g, bn, kk.iv, B->strides[r - 2]), ldt);
    LLVMValueRef acc = load_acc(g, accp, t);
    LLVMBuildStore(b, isf ? gen_fmuladd(g, av, bv, acc) : LLVMBuildAdd(b, acc, LLVMBuildMul(b, av, bv, ""), ""),
                   accp);
    gen_loop_end(g, &kk, LOOP_VECTORIZE);
    idx[r - 1] = n.iv;
    GenPoint pt = {idx, acc_value(g, load_acc(g, accp, t), isf), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &n, LOOP_PLAIN);
}

void gen_row_gemm(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    const View *A = &k->in[k->u.gemm.a], *B = &k->in[k->u.gemm.b];
    int32_t r = k->out.rank;
    bool isf = dtype_is_float(g->p->bufs[A->buf].dt);
    LLVMValueRef rowA = gen_view_base(g, A, idx, r - 1); /* batch dims and m */
    LLVMValueRef baseB = gen_view_base(g, B, idx, r - 2); /* batch dims */
    Dim sbn = B->strides[r - 1];
    if (isf && dim_is_const(sbn) && sbn.n == 1)
        gemm_axpy(g, idx, rowbase, outbase, rowA, baseB);
    else
        gemm_dot(g, idx, rowbase, outbase, rowA, baseB, isf);
}

/* ---- REDUCE ---- */

static void reduce_loops(Gen *g, const View *in, int d, LLVMValueRef off, LLVMValueRef accp, Op op, bool isf)
{
    LLVMBuilderRef b = g->b;
    if (d == in->rank) {
        LLVMTypeRef t = isf ? g->t_f32 : g->t_i64;
        LLVMValueRef x = gen_load(g, in->buf, off, isf ? DT_F32 : DT_I64), acc = load_acc(g, accp, t), v;
        if (op == OP_REDUCE_SUM || op == OP_REDUCE_MEAN)
            v = isf ? LLVMBuildFAdd(b, acc, x, "") : LLVMBuildAdd(b, acc, x, "");
        else if (isf)
            v = gen_fmax_nan(g, x, acc, op == OP_REDUCE_MAX);
        else
            v = LLVMBuildSelect(b, LLVMBuildICmp(b, op == OP_REDUCE_MAX ? LLVMIntSGT : LLVMIntSLT, x, acc, ""), x,
                                acc, "");
        LLVMBuildStore(b, v, accp);
        return;
    }
    GenLoop l;
    gen_loop_begin(g, &l, gen_i64(g, 0), gen_dim(g, in->dims[d]), "red");
    reduce_loops(g, in, d + 1, gen_offset_step(g, off, l.iv, in->strides[d]), accp, op, isf);
    bool sum = op == OP_REDUCE_SUM || op == OP_REDUCE_MEAN;
    gen_loop_end(g, &l, d + 1 == in->rank && sum ? LOOP_VECTORIZE : LOOP_PLAIN);
}

void gen_row_reduce(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    const View *in = &k->in[k->u.reduce.in];
    Op op = k->u.reduce.op;
    int32_t r = k->out.rank;
    LLVMBuilderRef b = g->b;
    DType idt = g->p->bufs[in->buf].dt;
    bool isf = dtype_is_float(idt);
    LLVMTypeRef t = isf ? g->t_f32 : g->t_i64;
    LLVMValueRef accp = gen_alloca(g, t, "red");
    LLVMValueRef init;
    if (op == OP_REDUCE_MAX || op == OP_REDUCE_MIN) {
        bool mx = op == OP_REDUCE_MAX;
        int64_t lo = idt == DT_I32 ? INT32_MIN : INT64_MIN, hi = idt == DT_I32 ? INT32_MAX : INT64_MAX;
        init = isf ? f32c(g, mx ? -INFINITY : INFINITY) : gen_i64(g, mx ? lo : hi);
    } else {
        init = LLVMConstNull(t);
    }
    GenLoop j;
    gen_loop_begin(g, &j, gen_i64(g, 0), row_length(g), "j");
    if (r > 0)
        idx[r - 1] = j.iv;
    LLVMBuildStore(b, init, accp);
    reduce_loops(g, in, r, gen_view_base(g, in, idx, r), accp, op, isf);
    LLVMValueRef acc = load_acc(g, accp, t);
    if (op == OP_REDUCE_MEAN) {
        LLVMValueRef count = gen_i64(g, 1);
        for (int d = r; d < in->rank; d++)
            count = LLVMBuildNSWMul(b, count, gen_dim(g, in->dims[d]), "");
        if (isf) {
            acc = LLVMBuildFDiv(b, acc, LLVMBuildSIToFP(b, count, g->t_f32, ""), "");
        } else {
            /* the sum wraps to the dtype first; the mean of nothing is 0 (never a trap) */
            acc = gen_convert(g, gen_convert(g, acc, DT_I64, idt), idt, DT_I64);
            LLVMValueRef z = LLVMBuildICmp(b, LLVMIntEQ, count, gen_i64(g, 0), "");
            LLVMValueRef q = LLVMBuildSDiv(b, acc, LLVMBuildSelect(b, z, gen_i64(g, 1), count, ""), "");
            acc = LLVMBuildSelect(b, z, gen_i64(g, 0), q, "");
        }
    }
    GenPoint pt = {idx, acc_value(g, acc, isf), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &j, LOOP_PLAIN);
}

/* ---- GATHER ---- */

void gen_index_error(Gen *g)
{
    LLVMValueRef s = LLVMBuildStore(g->b, LLVMConstInt(g->t_i32, RT_ERR_INDEX, 0), g->bufp[g->p->nbufs]);
    LLVMSetAlignment(s, 4);
    LLVMSetOrdering(s, LLVMAtomicOrderingMonotonic); /* threads may all report it */
    gen_alias(g, s, g->p->nbufs);
}

typedef struct {
    LLVMValueRef *idx;
    const LLVMValueRef *rowbase;
    LLVMValueRef outbase, tbase; /* the output row; the table row (NULL: zeros) */
} GatherRow;

static void gather_row_body(Gen *g, void *ctx, LLVMValueRef j0)
{
    GatherRow *e = ctx;
    const Kernel *k = g->k;
    const View *tv = &k->in[k->u.gather.in];
    int32_t r = k->out.rank;
    DType adt = gen_acc_dtype(k);
    e->idx[r - 1] = j0;
    LLVMValueRef v;
    if (e->tbase)
        v = gen_load_vec(g, tv->buf, gen_offset_step(g, e->tbase, j0, tv->strides[tv->rank - 1]),
                         tv->strides[tv->rank - 1], g->vmask, adt);
    else
        v = gen_const(g, 0, adt); /* a vector in vector mode */
    GenPoint pt = {e->idx, v, e->rowbase};
    gen_store_result(g, &pt, e->outbase);
}

/* The index at output position idx, checked: in range, the builder continues in a block
 * where ti[0..dims) is the table position (the gathered axis from the index); *bad is the
 * block for an index out of range, *join an empty block for both to end in. */
static void gather_index(Gen *g, LLVMValueRef *idx, LLVMValueRef *ti, int dims, LLVMBasicBlockRef *bad,
                         LLVMBasicBlockRef *join)
{
    const Kernel *k = g->k;
    const GatherInfo *ga = &k->u.gather;
    const View *tv = &k->in[ga->in], *iv = &k->in[ga->idx];
    int32_t ax = ga->axis, ri = iv->rank;
    LLVMValueRef at = gen_load(g, iv->buf, gen_view_base(g, iv, idx + ax, ri), DT_I64);
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "in_range");
    *bad = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "out_of_range");
    *join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "gathered");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, at, gen_dim(g, tv->dims[ax]), ""), ok, *bad);
    LLVMPositionBuilderAtEnd(g->b, ok);
    for (int d = 0; d < dims; d++)
        ti[d] = d < ax ? idx[d] : d == ax ? at : idx[d - 1 + ri];
}

/* When the index does not vary along the row (the gathered axis is not the table's last:
 * an embedding lookup, the MoE dispatch): one bounds check per row, then a vectorised row
 * copy with the epilogue on vectors. false: not such a gather, nothing generated. */
static bool gather_rows(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    const GatherInfo *ga = &k->u.gather;
    const View *tv = &k->in[ga->in], *iv = &k->in[ga->idx];
    int32_t r = k->out.rank, ax = ga->axis, ri = iv->rank;
    /* the row (the output's last axis) must be the table's last axis, not an index axis */
    if (r < 1 || tv->rank < 2 || ax >= tv->rank - 1 || ax + ri > r - 1 || !gen_use_vectors(g, &k->out) ||
        !gen_use_vectors(g, tv))
        return false;
    LLVMBuilderRef b = g->b;
    LLVMBasicBlockRef bad, join;
    LLVMValueRef ti[IR_MAX_RANK];
    gather_index(g, idx, ti, tv->rank - 1, &bad, &join);
    GatherRow e = {idx, rowbase, outbase, gen_view_base(g, tv, ti, tv->rank - 1)};
    gen_vector_loop(g, gen_dim(g, k->out.dims[r - 1]), gather_row_body, &e);
    LLVMBuildBr(b, join);

    LLVMPositionBuilderAtEnd(b, bad); /* the error, and zeros as the scalar gather gives */
    gen_index_error(g);
    e.tbase = NULL;
    gen_vector_loop(g, gen_dim(g, k->out.dims[r - 1]), gather_row_body, &e);
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, join);
    return true;
}

void gen_row_gather(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    if (gather_rows(g, idx, rowbase, outbase))
        return;
    const Kernel *k = g->k;
    const View *tv = &k->in[k->u.gather.in];
    int32_t r = k->out.rank;
    LLVMBuilderRef b = g->b;
    DType adt = gen_acc_dtype(k);
    GenLoop j;
    gen_loop_begin(g, &j, gen_i64(g, 0), row_length(g), "j");
    if (r > 0)
        idx[r - 1] = j.iv;
    LLVMBasicBlockRef bad, join;
    LLVMValueRef ti[IR_MAX_RANK];
    gather_index(g, idx, ti, tv->rank, &bad, &join);
    LLVMValueRef v = gen_load(g, tv->buf, gen_view_base(g, tv, ti, tv->rank), adt);
    LLVMBasicBlockRef ok_end = LLVMGetInsertBlock(b);
    LLVMBuildBr(b, join);

    LLVMPositionBuilderAtEnd(b, bad);
    gen_index_error(g);
    LLVMBuildBr(b, join);

    LLVMPositionBuilderAtEnd(b, join);
    LLVMValueRef phi = LLVMBuildPhi(b, gen_value_type(g, adt), "");
    LLVMValueRef vals[2] = {v, gen_const(g, 0, adt)};
    LLVMBasicBlockRef from[2] = {ok_end, bad};
    LLVMAddIncoming(phi, vals, from, 2);
    GenPoint pt = {idx, phi, rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &j, LOOP_PLAIN);
}
