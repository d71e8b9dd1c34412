/* llvm_row.c — ROW kernels: normalize (LayerNorm, RMS norm), softmax and log_softmax along
 * the last axis, then the kernel's epilogue; one output row per iteration (llvm_gen.c).
 *
 *   normalize     mean = Σx/L; var = Σ(x−mean)²/L (center) or Σx²/L; r = 1/√(var+eps);
 *                 y = (x − mean)·r
 *   softmax       max = max x (NaN-propagating); e = exp(x − max), Σ = Σe; y = e·(1/Σ)
 *   log_softmax   max, Σ = Σ exp(x − max); y = x − max − log Σ
 *
 * Vectorised (g->tgt.vl lanes; gen_vector_loop: full vectors, then one masked tail) when
 * the row is long enough: each pass keeps a vector accumulator, reduced across lanes at
 * the end (a tree of shuffles); the output pass evaluates the epilogue on vectors. exp is
 * llvm_math.c's polynomial, computed once per element: softmax stores e into the output
 * row during the Σ pass and reads it back in the output pass (when the output is f32 and
 * not also an input of the kernel; otherwise it computes exp again). Short or odd rows take
 * the scalar loops.
 */
#include <math.h>

#include "llvm_internal.h"

enum { FOLD_SUM, FOLD_SQDEV, FOLD_SQ, FOLD_EXP, FOLD_MAX };

static LLVMValueRef fconst(Gen *g, double v) { return LLVMConstReal(g->t_f32, v); }

/* ---- scalar rows ---- */

/* Σ f(x_j) over the row (f by kind, c the centre), or the max. */
static LLVMValueRef fold_scalar(Gen *g, const View *in, LLVMValueRef base, LLVMValueRef len, int kind, LLVMValueRef c)
{
    LLVMBuilderRef b = g->b;
    int32_t r = in->rank;
    LLVMValueRef accp = gen_alloca(g, g->t_f32, "fold");
    LLVMBuildStore(b, kind == FOLD_MAX ? fconst(g, -INFINITY) : fconst(g, 0), accp);
    GenLoop j;
    gen_loop_begin(g, &j, gen_i64(g, 0), len, "j");
    LLVMValueRef x = gen_load(g, in->buf, gen_offset_step(g, base, j.iv, in->strides[r - 1]), DT_F32);
    LLVMValueRef acc = LLVMBuildLoad2(b, g->t_f32, accp, ""), v;
    switch (kind) {
    case FOLD_SUM: v = LLVMBuildFAdd(b, acc, x, ""); break;
    case FOLD_SQDEV: {
        LLVMValueRef d = LLVMBuildFSub(b, x, c, "");
        v = gen_fmuladd(g, d, d, acc);
        break;
    }
    case FOLD_SQ: v = gen_fmuladd(g, x, x, acc); break;
    case FOLD_EXP: v = LLVMBuildFAdd(b, acc, gen_fexp(g, LLVMBuildFSub(b, x, c, "")), ""); break;
    default: v = gen_fmax_nan(g, x, acc, true); break;
    }
    LLVMBuildStore(b, v, accp);
    gen_loop_end(g, &j, kind == FOLD_MAX ? LOOP_PLAIN : LOOP_VECTORIZE);
    return LLVMBuildLoad2(b, g->t_f32, accp, "");
}

/* ---- vector rows ---- */

typedef struct {
    const View *in;
    LLVMValueRef base, c, accp;
    int kind;
    bool keep_exp;          /* FOLD_EXP: store e into the output row */
    LLVMValueRef *idx, outbase;
} Fold;

/* The lanes of v combined pairwise down to one value (sum, or NaN-propagating max). */
static LLVMValueRef reduce_lanes(Gen *g, LLVMValueRef v, bool max)
{
    unsigned n = LLVMGetVectorSize(LLVMTypeOf(v));
    while (n > 1) {
        LLVMValueRef lo[32], hi[32];
        for (unsigned i = 0; i < n / 2; i++) {
            lo[i] = LLVMConstInt(g->t_i32, i, 0);
            hi[i] = LLVMConstInt(g->t_i32, i + n / 2, 0);
        }
        LLVMValueRef a = LLVMBuildShuffleVector(g->b, v, v, LLVMConstVector(lo, n / 2), "");
        LLVMValueRef c = LLVMBuildShuffleVector(g->b, v, v, LLVMConstVector(hi, n / 2), "");
        v = max ? gen_fmax_nan(g, a, c, true) : LLVMBuildFAdd(g->b, a, c, "");
        n /= 2;
    }
    return LLVMBuildExtractElement(g->b, v, LLVMConstInt(g->t_i32, 0, 0), "");
}

static void fold_body(Gen *g, void *ctx, LLVMValueRef j0)
{
    Fold *f = ctx;
    LLVMBuilderRef b = g->b;
    int32_t r = f->in->rank;
    LLVMTypeRef vt = LLVMVectorType(g->t_f32, g->vl);
    LLVMValueRef x = gen_load_vec(g, f->in->buf, gen_offset_step(g, f->base, j0, f->in->strides[r - 1]),
                                  f->in->strides[r - 1], g->vmask, DT_F32);
    LLVMValueRef acc = LLVMBuildLoad2(b, vt, f->accp, ""), c = f->c ? gen_broadcast(g, f->c, g->vl) : NULL, v;
    switch (f->kind) {
    case FOLD_SUM: v = x; break;
    case FOLD_SQDEV: {
        LLVMValueRef d = LLVMBuildFSub(b, x, c, "");
        v = LLVMBuildFMul(b, d, d, "");
        break;
    }
    case FOLD_SQ: v = LLVMBuildFMul(b, x, x, ""); break;
    case FOLD_EXP:
        v = gen_fexp(g, LLVMBuildFSub(b, x, c, ""));
        if (f->keep_exp) {
            const View *o = &g->k->out;
            gen_store_vec(g, o->buf, gen_offset_step(g, f->outbase, j0, o->strides[o->rank - 1]),
                          o->strides[o->rank - 1], g->vmask, v, DT_F32);
        }
        break;
    default: v = x; break;
    }
    if (g->vmask) /* lanes past the row's end add nothing */
        v = LLVMBuildSelect(b, g->vmask, v, gen_fconst(g, vt, f->kind == FOLD_MAX ? -INFINITY : 0), "");
    v = f->kind == FOLD_MAX ? gen_fmax_nan(g, v, acc, true) : LLVMBuildFAdd(b, acc, v, "");
    LLVMBuildStore(b, v, f->accp);
}

static LLVMValueRef fold_vector(Gen *g, Fold *f, LLVMValueRef len)
{
    LLVMTypeRef vt = LLVMVectorType(g->t_f32, (unsigned)g->tgt.vl);
    f->accp = gen_alloca(g, vt, "vfold");
    LLVMBuildStore(g->b, gen_fconst(g, vt, f->kind == FOLD_MAX ? -INFINITY : 0), f->accp);
    gen_vector_loop(g, len, fold_body, f);
    return reduce_lanes(g, LLVMBuildLoad2(g->b, vt, f->accp, ""), f->kind == FOLD_MAX);
}

/* ---- the kernel ---- */

typedef struct {
    const View *in;
    LLVMValueRef base, c1, c2, *idx, outbase;
    const LLVMValueRef *rowbase;
    bool from_out; /* softmax: e was stored in the output row */
} OutRow;

/* y at positions j (scalar, or vector in vector mode) */
static LLVMValueRef row_value(Gen *g, OutRow *o, LLVMValueRef j)
{
    const RowInfo *ri = &g->k->u.row;
    LLVMBuilderRef b = g->b;
    int32_t r = o->in->rank;
    if (o->from_out) {
        const View *ov = &g->k->out;
        LLVMValueRef off = gen_offset_step(g, o->outbase, j, ov->strides[ov->rank - 1]);
        LLVMValueRef e = gen_load_vec(g, ov->buf, off, ov->strides[ov->rank - 1], g->vmask, DT_F32);
        return LLVMBuildFMul(b, e, gen_broadcast(g, o->c2, g->vl), "");
    }
    LLVMValueRef off = gen_offset_step(g, o->base, j, o->in->strides[r - 1]), x;
    x = g->vl ? gen_load_vec(g, o->in->buf, off, o->in->strides[r - 1], g->vmask, DT_F32)
              : gen_load(g, o->in->buf, off, DT_F32);
    LLVMValueRef c1 = g->vl ? gen_broadcast(g, o->c1, g->vl) : o->c1;
    LLVMValueRef c2 = g->vl ? gen_broadcast(g, o->c2, g->vl) : o->c2;
    LLVMValueRef d = LLVMBuildFSub(b, x, c1, "");
    if (ri->op == OP_NORMALIZE)
        return LLVMBuildFMul(b, d, c2, "");
    if (ri->op == OP_SOFTMAX)
        return LLVMBuildFMul(b, gen_fexp(g, d), c2, "");
    return LLVMBuildFSub(b, d, c2, "");
}

static void out_body(Gen *g, void *ctx, LLVMValueRef j0)
{
    OutRow *o = ctx;
    int32_t r = g->k->out.rank;
    LLVMValueRef y = row_value(g, o, j0);
    o->idx[r - 1] = j0;
    GenPoint pt = {o->idx, gen_convert(g, y, DT_F32, gen_acc_dtype(g->k)), o->rowbase};
    gen_store_result(g, &pt, o->outbase);
}

/* The output row is f32 and no input of the kernel: softmax may keep e in it. */
static bool out_is_scratch(const Gen *g)
{
    const Kernel *k = g->k;
    if (g->p->bufs[k->out.buf].dt != DT_F32)
        return false;
    for (int32_t i = 0; i < k->nin; i++)
        if (k->in[i].buf == k->out.buf)
            return false;
    return true;
}

void gen_row_norm(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    const RowInfo *ri = &k->u.row;
    const View *in = &k->in[ri->in];
    int32_t r = k->out.rank;
    LLVMBuilderRef b = g->b;
    LLVMValueRef base = gen_view_base(g, in, idx, r - 1), len = gen_dim(g, in->dims[r - 1]);
    LLVMValueRef flen = LLVMBuildSIToFP(b, len, g->t_f32, "");
    bool vec = gen_use_vectors(g, in) && k->out.strides[r - 1].n != 0;
    Fold f = {in, base, NULL, NULL, 0, false, idx, outbase};
#define FOLD(kind_, c_) (f.kind = (kind_), f.c = (c_), vec ? fold_vector(g, &f, len) : fold_scalar(g, in, base, len, (kind_), (c_)))
    OutRow o = {in, base, NULL, NULL, idx, outbase, rowbase, false};
    if (ri->op == OP_NORMALIZE) {
        LLVMValueRef var;
        if (ri->center) {
            o.c1 = LLVMBuildFDiv(b, FOLD(FOLD_SUM, NULL), flen, "");
            var = FOLD(FOLD_SQDEV, o.c1);
        } else {
            o.c1 = fconst(g, 0);
            var = FOLD(FOLD_SQ, NULL);
        }
        var = LLVMBuildFAdd(b, LLVMBuildFDiv(b, var, flen, ""), fconst(g, (float)ri->eps), "");
        o.c2 = LLVMBuildFDiv(b, fconst(g, 1), gen_fsqrt(g, var), "");
    } else if (ri->op == OP_SOFTMAX || ri->op == OP_LOG_SOFTMAX) {
        o.c1 = FOLD(FOLD_MAX, NULL);
        f.keep_exp = o.from_out = vec && ri->op == OP_SOFTMAX && out_is_scratch(g);
        LLVMValueRef sum = FOLD(FOLD_EXP, o.c1);
        o.c2 = ri->op == OP_LOG_SOFTMAX ? gen_flog(g, sum) : LLVMBuildFDiv(b, fconst(g, 1), sum, "");
    } else {
        gen_fail(g, "kernel %d: the LLVM backend has no row kernel for '%s'", g->ki, ir_ops[ri->op].name);
        return;
    }
#undef FOLD
    if (vec) {
        gen_vector_loop(g, len, out_body, &o);
        return;
    }
    GenLoop j;
    gen_loop_begin(g, &j, gen_i64(g, 0), len, "j");
    out_body(g, &o, j.iv);
    gen_loop_end(g, &j, LOOP_PLAIN);
}
