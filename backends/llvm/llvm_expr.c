/* llvm_expr.c — the expression emitter shared by every kernel kind: a kernel's Expr tree
 * evaluated at one output position (elementwise kernels, and the epilogues of GEMM, row,
 * reduce and gather kernels, whose EX_ACC is the primary result at that position).
 *
 * Loads of views indexed like the output use the row offset computed once per row plus
 * j·stride of the last axis, so an inner loop over j has unit or constant strides.
 *
 * In vector mode (g->vl > 0) the same tree is evaluated for vl consecutive positions
 * j0 .. j0+vl-1 of the last axis at once: loads become vector loads (stride 1), splats
 * (stride 0) or gathers, the last axis's index an iota, and the ops of llvm_ops.c and
 * llvm_math.c work on the vectors; lanes past the row's end are masked off (g->vmask).
 */
#include "llvm_internal.h"

DType gen_acc_dtype(const Kernel *k)
{
    for (int32_t i = 0; i < k->nexpr; i++)
        if (k->expr[i].kind == EX_ACC)
            return k->expr[i].dt;
    return k->expr[k->root].dt;
}

void gen_row_bases(Gen *g, const LLVMValueRef *idx, LLVMValueRef *rowbase)
{
    const Kernel *k = g->k;
    int32_t r = k->out.rank;
    for (int32_t i = 0; i < k->nin; i++)
        rowbase[i] = k->in[i].rank == r ? gen_view_base(g, &k->in[i], idx, r > 0 ? r - 1 : 0) : NULL;
}

static LLVMValueRef load_view(Gen *g, const GenPoint *pt, int32_t in, DType dt)
{
    const Kernel *k = g->k;
    const View *v = &k->in[in];
    int32_t r = k->out.rank;
    if (v->rank != r) {
        gen_fail(g, "internal error: kernel %d loads view in%d of rank %d at an index of rank %d", g->ki, in,
                 v->rank, r);
        return LLVMGetUndef(gen_value_type(g, dt));
    }
    LLVMValueRef off;
    if (g->vl) {
        off = pt->rowbase && pt->rowbase[in] ? pt->rowbase[in] : gen_view_base(g, v, pt->idx, r - 1);
        off = gen_offset_step(g, off, pt->idx[r - 1], v->strides[r - 1]);
        return gen_load_vec(g, v->buf, off, v->strides[r - 1], g->vmask, dt);
    }
    if (pt->rowbase && pt->rowbase[in])
        off = r > 0 ? gen_offset_step(g, pt->rowbase[in], pt->idx[r - 1], v->strides[r - 1]) : pt->rowbase[in];
    else
        off = gen_view_base(g, v, pt->idx, r);
    return gen_load(g, v->buf, off, dt);
}

LLVMValueRef gen_expr(Gen *g, const GenPoint *pt, int32_t e)
{
    const Kernel *k = g->k;
    if (e < 0 || e >= k->nexpr) {
        gen_fail(g, "internal error: kernel %d: expression %d out of range", g->ki, e);
        return LLVMGetUndef(g->t_f32);
    }
    const Expr *x = &k->expr[e];
    switch (x->kind) {
    case EX_LOAD:
        if (x->a < 0 || x->a >= k->nin)
            break;
        return load_view(g, pt, x->a, x->dt);
    case EX_CONST:
        return gen_const(g, x->value, x->dt);
    case EX_INDEX: {
        if (x->a < 0 || x->a >= k->out.rank || !pt->idx[x->a])
            break;
        LLVMValueRef i = pt->idx[x->a];
        if (g->vl) {
            i = gen_broadcast(g, i, g->vl);
            if (x->a == k->out.rank - 1)
                i = LLVMBuildAdd(g->b, i, gen_iota(g, g->vl), "");
        }
        return gen_convert(g, i, DT_I64, x->dt);
    }
    case EX_ACC:
        if (!pt->acc)
            break;
        return pt->acc;
    case EX_OP: {
        int nin = ir_ops[x->op].nin;
        if (!(ir_ops[x->op].flags & OPF_EW) || nin < 1 || nin > 3) {
            gen_fail(g, "kernel %d: '%s' is not an elementwise op", g->ki, ir_ops[x->op].name);
            return LLVMGetUndef(gen_value_type(g, x->dt));
        }
        int32_t ids[3] = {x->a, x->b, x->c};
        LLVMValueRef ops[3] = {NULL, NULL, NULL};
        for (int i = 0; i < nin; i++)
            if (!(ops[i] = gen_expr(g, pt, ids[i])) || g->failed)
                return LLVMGetUndef(gen_value_type(g, x->dt));
        return gen_op(g, x, k->expr[x->a].dt, ops[0], ops[1], ops[2]);
    }
    }
    gen_fail(g, "internal error: kernel %d: malformed expression %d", g->ki, e);
    return LLVMGetUndef(gen_value_type(g, x->dt));
}

void gen_store_result(Gen *g, const GenPoint *pt, LLVMValueRef outbase)
{
    const Kernel *k = g->k;
    int32_t r = k->out.rank;
    LLVMValueRef v = gen_expr(g, pt, k->root);
    if (g->failed)
        return;
    if (g->vl) {
        LLVMValueRef off = gen_offset_step(g, outbase, pt->idx[r - 1], k->out.strides[r - 1]);
        gen_store_vec(g, k->out.buf, off, k->out.strides[r - 1], g->vmask, v, k->expr[k->root].dt);
        return;
    }
    LLVMValueRef off = r > 0 ? gen_offset_step(g, outbase, pt->idx[r - 1], k->out.strides[r - 1]) : outbase;
    gen_store(g, k->out.buf, off, v, k->expr[k->root].dt);
}
