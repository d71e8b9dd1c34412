/* llvm_view.c — the one address builder every kernel kind uses: dimensions (constants, or
 * multiples of a symbol loaded once per function), view offsets in elements, and loads
 * and stores that convert between a buffer's dtype in memory and expression values.
 */
#include "llvm_internal.h"

LLVMTypeRef gen_value_type(Gen *g, DType dt)
{
    switch (dt) {
    case DT_I32: return g->t_i32;
    case DT_I64: return g->t_i64;
    case DT_BOOL: return g->t_i1;
    default: return g->t_f32;
    }
}

static LLVMTypeRef memory_type(Gen *g, DType dt)
{
    switch (dt) {
    case DT_F16: case DT_BF16: return g->t_i16;
    case DT_I32: return g->t_i32;
    case DT_I64: return g->t_i64;
    case DT_BOOL: return g->t_i8;
    default: return g->t_f32;
    }
}

LLVMValueRef gen_dim(Gen *g, Dim d)
{
    if (dim_is_const(d))
        return gen_i64(g, d.n);
    if (d.sym >= g->p->g->nsyms) {
        gen_fail(g, "internal error: a dimension names symbol %d of %d", d.sym, g->p->g->nsyms);
        return gen_i64(g, 0);
    }
    LLVMValueRef s = g->symv[d.sym];
    return d.n == 1 ? s : LLVMBuildNSWMul(g->b, gen_i64(g, d.n), s, "");
}

static bool is_zero(Dim d) { return d.n == 0; }
static bool is_one(Dim d) { return dim_is_const(d) && d.n == 1; }

LLVMValueRef gen_offset_step(Gen *g, LLVMValueRef base, LLVMValueRef i, Dim stride)
{
    if (!i || is_zero(stride))
        return base;
    LLVMValueRef t = is_one(stride) ? i : LLVMBuildNSWMul(g->b, i, gen_dim(g, stride), "");
    return LLVMBuildNSWAdd(g->b, base, t, "");
}

LLVMValueRef gen_view_base(Gen *g, const View *v, LLVMValueRef const *idx, int n)
{
    LLVMValueRef off = gen_dim(g, v->offset);
    for (int d = 0; d < n && d < v->rank; d++)
        off = gen_offset_step(g, off, idx[d], v->strides[d]);
    return off;
}

static LLVMValueRef element_ptr(Gen *g, int32_t buf, LLVMValueRef off)
{
    LLVMTypeRef mt = memory_type(g, g->p->bufs[buf].dt);
    return LLVMBuildInBoundsGEP2(g->b, mt, g->bufp[buf], &off, 1, "");
}

LLVMValueRef gen_load(Gen *g, int32_t buf, LLVMValueRef off, DType want)
{
    DType dt = g->p->bufs[buf].dt;
    LLVMTypeRef mt = memory_type(g, dt);
    if (!g->bufp[buf]) {
        gen_fail(g, "internal error: kernel %d loads from buffer %d it does not list", g->ki, buf);
        return LLVMGetUndef(gen_value_type(g, want));
    }
    LLVMValueRef v = LLVMBuildLoad2(g->b, mt, element_ptr(g, buf, off), "");
    LLVMSetAlignment(v, (unsigned)dtype_size(dt));
    gen_alias(g, v, buf);
    if (dt == DT_F16 || dt == DT_BF16)
        v = gen_half_to_float(g, v, dt);
    else if (dt == DT_BOOL)
        v = LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(g->t_i8, 0, 0), "");
    return gen_convert(g, v, dt, want);
}

void gen_store(Gen *g, int32_t buf, LLVMValueRef off, LLVMValueRef v, DType vdt)
{
    DType dt = g->p->bufs[buf].dt;
    if (!g->bufp[buf]) {
        gen_fail(g, "internal error: kernel %d stores to buffer %d it does not list", g->ki, buf);
        return;
    }
    v = gen_convert(g, v, vdt, dt);
    if (dt == DT_F16 || dt == DT_BF16)
        v = gen_float_to_half(g, v, dt);
    else if (dt == DT_BOOL)
        v = LLVMBuildZExt(g->b, v, g->t_i8, "");
    LLVMValueRef st = LLVMBuildStore(g->b, v, element_ptr(g, buf, off));
    LLVMSetAlignment(st, (unsigned)dtype_size(dt));
    gen_alias(g, st, buf);
}
