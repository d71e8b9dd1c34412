/* llvm_segment.c — KK_SEGMENT_REDUCE kernels (semantics: ir/plan.h, ir/infer_segment.c):
 * the pooling of a packed NaViT sequence per image.
 *
 * One iteration is one output row (segment s and the leading dims after it). The rows of
 * x with seg = s are found by one pass over seg (T compares of i32: nothing beside the
 * T·D loads of a pooling over everything), and added (or maxed) into a row accumulator on
 * the stack, vectorised along the row; padding rows (seg = −1) are never loaded:
 *
 *   acc[:] = 0 (max: −inf);  n = 0
 *   for t < T:  if seg[t] == s:  acc[:] += x[t, :];  n++
 *   out[s, c] = epi(n == 0 ? 0 : mean ? acc[c] / n : acc[c])
 */
#include <math.h>

#include "llvm_internal.h"

static LLVMValueRef f32c(Gen *g, double v) { return LLVMConstReal(g->t_f32, v); }

void gen_row_segment_reduce(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    const SegReduceInfo *si = &k->u.segred;
    const View *X = &k->in[si->x], *S = &k->in[si->seg];
    LLVMBuilderRef b = g->b;
    int32_t r = k->out.rank;
    Dim last = k->out.dims[r - 1];
    int64_t dmax = dim_is_const(last) ? last.n : last.n * g->p->g->syms[last.sym].max;
    LLVMValueRef D = gen_dim(g, last), T = gen_dim(g, X->dims[0]);
    LLVMValueRef acc = gen_alloca(g, LLVMArrayType(g->t_f32, (unsigned)(dmax > 0 ? dmax : 1)), "segacc");
    LLVMValueRef cnt = gen_alloca(g, g->t_i64, "segcount");
    bool mx = si->reduce == SEGRED_MAX;

    GenLoop z;
    gen_loop_begin(g, &z, gen_i64(g, 0), D, "segzero");
    LLVMBuildStore(b, f32c(g, mx ? -INFINITY : 0), LLVMBuildInBoundsGEP2(b, g->t_f32, acc, &z.iv, 1, ""));
    gen_loop_end(g, &z, LOOP_PLAIN);
    LLVMBuildStore(b, gen_i64(g, 0), cnt);

    /* x's row t: idx with axis 0 replaced */
    LLVMValueRef s = idx[0], xidx[IR_MAX_RANK];
    for (int d = 0; d < r; d++)
        xidx[d] = idx[d];
    GenLoop t;
    gen_loop_begin(g, &t, gen_i64(g, 0), T, "segt");
    LLVMValueRef sv = gen_load(g, S->buf, gen_offset_step(g, gen_view_base(g, S, NULL, 0), t.iv, S->strides[0]), DT_I64);
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "seg_member");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "seg_next");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, sv, s, ""), then, done);
    LLVMPositionBuilderAtEnd(b, then);
    LLVMBuildStore(b, LLVMBuildNSWAdd(b, LLVMBuildLoad2(b, g->t_i64, cnt, ""), gen_i64(g, 1), ""), cnt);
    xidx[0] = t.iv;
    LLVMValueRef xrow = gen_view_base(g, X, xidx, r - 1);
    GenLoop c;
    gen_loop_begin(g, &c, gen_i64(g, 0), D, "segc");
    LLVMValueRef p = LLVMBuildInBoundsGEP2(b, g->t_f32, acc, &c.iv, 1, "");
    LLVMValueRef x = gen_load(g, X->buf, gen_offset_step(g, xrow, c.iv, X->strides[r - 1]), DT_F32);
    LLVMValueRef a = LLVMBuildLoad2(b, g->t_f32, p, "");
    LLVMBuildStore(b, mx ? gen_fmax_nan(g, a, x, true) : LLVMBuildFAdd(b, a, x, ""), p);
    gen_loop_end(g, &c, LOOP_VECTORIZE);
    LLVMBuildBr(b, done);
    LLVMPositionBuilderAtEnd(b, done);
    gen_loop_end(g, &t, LOOP_PLAIN);

    LLVMValueRef n = LLVMBuildLoad2(b, g->t_i64, cnt, "");
    LLVMValueRef empty = LLVMBuildICmp(b, LLVMIntEQ, n, gen_i64(g, 0), "");
    LLVMValueRef nf = LLVMBuildSIToFP(b, n, g->t_f32, "");
    GenLoop o;
    gen_loop_begin(g, &o, gen_i64(g, 0), D, "segout");
    idx[r - 1] = o.iv;
    LLVMValueRef v = LLVMBuildLoad2(b, g->t_f32, LLVMBuildInBoundsGEP2(b, g->t_f32, acc, &o.iv, 1, ""), "");
    v = si->reduce == SEGRED_MEAN ? LLVMBuildFDiv(b, v, nf, "") : v;
    v = LLVMBuildSelect(b, empty, f32c(g, 0), v, "");
    GenPoint pt = {idx, gen_convert(g, v, DT_F32, gen_acc_dtype(k)), rowbase};
    gen_store_result(g, &pt, outbase);
    gen_loop_end(g, &o, LOOP_PLAIN);
}
