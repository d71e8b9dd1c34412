/* llvm_view.c — the one address builder every kernel kind uses: dimensions (constants, or
 * multiples of a symbol loaded once per function), view offsets in elements, and loads
 * and stores that convert between a buffer's dtype in memory and expression values —
 * one element at a time, or g->vl elements along a view's last axis (vector loads and
 * stores when its stride is 1, gathers and scatters otherwise, masked at row ends).
 */
#include "llvm_internal.h"

LLVMTypeRef gen_value_type(Gen *g, DType dt)
{
    LLVMTypeRef t = gen_scalar_type(g, dt);
    return g->vl ? LLVMVectorType(t, g->vl) : t;
}

LLVMTypeRef gen_scalar_type(Gen *g, DType dt)
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

/* ---- vectors along the last axis ---- */

LLVMValueRef gen_iota(Gen *g, unsigned vl)
{
    LLVMValueRef lanes[64];
    for (unsigned i = 0; i < vl && i < 64; i++)
        lanes[i] = gen_i64(g, i);
    return LLVMConstVector(lanes, vl);
}

LLVMValueRef gen_broadcast(Gen *g, LLVMValueRef v, unsigned vl)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), vl);
    LLVMValueRef zeros[64];
    for (unsigned i = 0; i < vl && i < 64; i++)
        zeros[i] = LLVMConstInt(g->t_i32, 0, 0);
    LLVMValueRef one = LLVMBuildInsertElement(g->b, LLVMGetUndef(vt), v, LLVMConstInt(g->t_i32, 0, 0), "");
    return LLVMBuildShuffleVector(g->b, one, LLVMGetUndef(vt), LLVMConstVector(zeros, vl), "");
}

LLVMValueRef gen_lane_mask(Gen *g, unsigned vl, LLVMValueRef base, LLVMValueRef limit)
{
    LLVMValueRef left = LLVMBuildSub(g->b, limit, base, "");
    return LLVMBuildICmp(g->b, LLVMIntSGT, gen_broadcast(g, left, vl), gen_iota(g, vl), "");
}

/* The pointers of elements off + i·stride as <vl x ptr> */
static LLVMValueRef lane_pointers(Gen *g, int32_t buf, LLVMValueRef off, Dim stride)
{
    LLVMTypeRef mt = memory_type(g, g->p->bufs[buf].dt);
    LLVMValueRef offs = LLVMBuildAdd(g->b, gen_broadcast(g, off, g->vl),
                                     LLVMBuildMul(g->b, gen_iota(g, g->vl), gen_broadcast(g, gen_dim(g, stride), g->vl), ""),
                                     "");
    return LLVMBuildInBoundsGEP2(g->b, mt, g->bufp[buf], &offs, 1, "");
}

/* memory (<vl x memtype>) → values of dtype want */
static LLVMValueRef from_memory(Gen *g, LLVMValueRef v, DType dt, DType want)
{
    if (dt == DT_F16 || dt == DT_BF16)
        v = gen_half_to_float(g, v, dt);
    else if (dt == DT_BOOL)
        v = LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
    return gen_convert(g, v, dt, want);
}

LLVMValueRef gen_load_vec(Gen *g, int32_t buf, LLVMValueRef off, Dim stride, LLVMValueRef mask, DType want)
{
    DType dt = g->p->bufs[buf].dt;
    unsigned vl = g->vl;
    if (!g->bufp[buf]) {
        gen_fail(g, "internal error: kernel %d loads from buffer %d it does not list", g->ki, buf);
        return LLVMGetUndef(gen_value_type(g, want));
    }
    if (stride.n == 0) { /* one element for every lane */
        unsigned saved = g->vl;
        g->vl = 0;
        LLVMValueRef s = gen_load(g, buf, off, want);
        g->vl = saved;
        return gen_broadcast(g, s, vl);
    }
    LLVMTypeRef mt = memory_type(g, dt), vt = LLVMVectorType(mt, vl);
    LLVMValueRef align = LLVMConstInt(g->t_i32, dtype_size(dt), 0), v;
    if (dim_is_const(stride) && stride.n == 1) {
        LLVMValueRef ptr = element_ptr(g, buf, off);
        if (!mask) {
            v = LLVMBuildLoad2(g->b, vt, ptr, "");
            LLVMSetAlignment(v, (unsigned)dtype_size(dt));
        } else {
            LLVMTypeRef over[2] = {vt, LLVMTypeOf(ptr)};
            LLVMValueRef args[4] = {ptr, align, mask, LLVMGetUndef(vt)};
            v = gen_intrinsic_over(g, "llvm.masked.load", over, 2, args, 4);
        }
    } else {
        LLVMValueRef ptrs = lane_pointers(g, buf, off, stride);
        LLVMValueRef all = mask ? mask : gen_splat(LLVMVectorType(g->t_i1, vl), LLVMConstInt(g->t_i1, 1, 0));
        LLVMTypeRef over[2] = {vt, LLVMTypeOf(ptrs)};
        LLVMValueRef args[4] = {ptrs, align, all, LLVMGetUndef(vt)};
        v = gen_intrinsic_over(g, "llvm.masked.gather", over, 2, args, 4);
    }
    gen_alias(g, v, buf);
    return from_memory(g, v, dt, want);
}

void gen_store_vec(Gen *g, int32_t buf, LLVMValueRef off, Dim stride, LLVMValueRef mask, LLVMValueRef v, DType vdt)
{
    DType dt = g->p->bufs[buf].dt;
    unsigned vl = g->vl;
    if (!g->bufp[buf] || stride.n == 0) {
        gen_fail(g, "internal error: kernel %d stores a vector to buffer %d with stride 0 or unlisted", g->ki, buf);
        return;
    }
    v = gen_convert(g, v, vdt, dt);
    if (dt == DT_F16 || dt == DT_BF16)
        v = gen_float_to_half(g, v, dt);
    else if (dt == DT_BOOL)
        v = LLVMBuildZExt(g->b, v, LLVMVectorType(g->t_i8, vl), "");
    LLVMValueRef align = LLVMConstInt(g->t_i32, dtype_size(dt), 0), st;
    if (dim_is_const(stride) && stride.n == 1) {
        LLVMValueRef ptr = element_ptr(g, buf, off);
        if (!mask) {
            st = LLVMBuildStore(g->b, v, ptr);
            LLVMSetAlignment(st, (unsigned)dtype_size(dt));
        } else {
            LLVMTypeRef over[2] = {LLVMTypeOf(v), LLVMTypeOf(ptr)};
            LLVMValueRef args[4] = {v, ptr, align, mask};
            st = gen_intrinsic_over(g, "llvm.masked.store", over, 2, args, 4);
        }
    } else {
        LLVMValueRef ptrs = lane_pointers(g, buf, off, stride);
        LLVMValueRef all = mask ? mask : gen_splat(LLVMVectorType(g->t_i1, vl), LLVMConstInt(g->t_i1, 1, 0));
        LLVMTypeRef over[2] = {LLVMTypeOf(v), LLVMTypeOf(ptrs)};
        LLVMValueRef args[4] = {v, ptrs, align, all};
        st = gen_intrinsic_over(g, "llvm.masked.scatter", over, 2, args, 4);
    }
    gen_alias(g, st, buf);
}
