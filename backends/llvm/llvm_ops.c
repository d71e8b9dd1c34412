/* llvm_ops.c — elementwise ops and dtype conversions on scalar IR values, with the
 * semantics of the reference interpreter (ir/interp_ew.c):
 *
 *   floats    computed in f32; a result of dtype f16 or bf16 is rounded to it (nearest
 *             even) after every op, so f16/bf16 chains see the values the interpreter does.
 *             Conversions to and from 16-bit storage are integer code (exact, no libgcc
 *             helpers, vectorisable). exp, log, log1p, erf, tanh and GELU are polynomial
 *             code (llvm_math.c); sin, cos and pow are LLVM intrinsics (libm calls).
 *   integers  wrap to their width. Where the interpreter reports an error, generated code
 *             never traps and gives: x / 0 = 0, MIN / -1 = MIN, 0 to a negative power = 0.
 *   casts     float → int truncates toward zero and saturates, NaN → 0 (llvm.fptosi.sat);
 *             int → bf16 rounds once, as (double)x rounded to bf16 (via round-to-odd).
 *
 * Every function works on scalars and on vectors alike: constants and types follow the
 * operands' (a <16 x float> operand gives <16 x float> constants), and constants made
 * from nothing (gen_const) follow g->vl, the width the caller is generating for.
 */
#include <math.h>
#include <string.h>

#include "llvm_internal.h"

/* A constant of the shape of `like` (scalar or vector) with element type i32 / float. */
static LLVMValueRef ic(Gen *g, LLVMValueRef like, uint32_t v)
{
    return gen_splat(gen_like(LLVMTypeOf(like), g->t_i32), LLVMConstInt(g->t_i32, v, 0));
}
static LLVMValueRef fc(Gen *g, LLVMValueRef like, double v) { return gen_fconst(g, LLVMTypeOf(like), v); }
static LLVMTypeRef like(LLVMValueRef v, LLVMTypeRef elem) { return gen_like(LLVMTypeOf(v), elem); }
static LLVMValueRef sel(Gen *g, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, c, a, b, "");
}
static LLVMValueRef as_int(Gen *g, LLVMValueRef f) { return LLVMBuildBitCast(g->b, f, like(f, g->t_i32), ""); }
static LLVMValueRef as_float(Gen *g, LLVMValueRef i) { return LLVMBuildBitCast(g->b, i, like(i, g->t_f32), ""); }

static LLVMValueRef intrin1(Gen *g, const char *name, LLVMValueRef x)
{
    return gen_intrinsic(g, name, LLVMTypeOf(x), &x, 1);
}

LLVMValueRef gen_fexp(Gen *g, LLVMValueRef x) { return gen_math_exp(g, x); }
LLVMValueRef gen_flog(Gen *g, LLVMValueRef x) { return gen_math_log(g, x); }
LLVMValueRef gen_fsqrt(Gen *g, LLVMValueRef x) { return intrin1(g, "llvm.sqrt", x); }

LLVMValueRef gen_fmuladd(Gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMValueRef args[3] = {a, b, c};
    return gen_intrinsic(g, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}

LLVMValueRef gen_fmax_nan(Gen *g, LLVMValueRef a, LLVMValueRef b, bool is_max)
{
    LLVMValueRef pick = LLVMBuildFCmp(g->b, is_max ? LLVMRealOGT : LLVMRealOLT, a, b, "");
    LLVMValueRef nan = LLVMBuildFCmp(g->b, LLVMRealUNO, a, b, "");
    return sel(g, nan, fc(g, a, NAN), sel(g, pick, a, b));
}

/* ---- 16-bit floats ---- */

/* f32 → f16 bits, nearest even (F. Giesen's float_to_half_fast3_rtne, branch-free). */
static LLVMValueRef f32_to_f16(Gen *g, LLVMValueRef f)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef u = as_int(g, f);
    LLVMValueRef sign = LLVMBuildAnd(b, u, ic(g, f, 0x80000000u), "");
    LLVMValueRef a = LLVMBuildXor(b, u, sign, "");
    LLVMValueRef inf_nan = sel(g, LLVMBuildICmp(b, LLVMIntUGT, a, ic(g, f, 0x7f800000u), ""), ic(g, f, 0x7e00),
                               ic(g, f, 0x7c00));
    /* subnormal results: let the FPU round by adding 0.5 (2^-1 aligns the f16 ulp) */
    LLVMValueRef df = LLVMBuildFAdd(b, as_float(g, a), as_float(g, ic(g, f, 0x3f000000u)), "");
    LLVMValueRef den = LLVMBuildSub(b, as_int(g, df), ic(g, f, 0x3f000000u), "");
    LLVMValueRef odd = LLVMBuildAnd(b, LLVMBuildLShr(b, a, ic(g, f, 13), ""), ic(g, f, 1), "");
    LLVMValueRef nrm = LLVMBuildAdd(b, a, ic(g, f, 0xc8000000u + 0xfffu), "");
    nrm = LLVMBuildLShr(b, LLVMBuildAdd(b, nrm, odd, ""), ic(g, f, 13), "");
    LLVMValueRef o = sel(g, LLVMBuildICmp(b, LLVMIntULT, a, ic(g, f, 0x38800000u), ""), den, nrm);
    o = sel(g, LLVMBuildICmp(b, LLVMIntUGE, a, ic(g, f, 0x47800000u), ""), inf_nan, o);
    o = LLVMBuildOr(b, o, LLVMBuildLShr(b, sign, ic(g, f, 16), ""), "");
    return LLVMBuildTrunc(b, o, like(o, g->t_i16), "");
}

/* f16 bits → f32, exact (F. Giesen's half_to_float). */
static LLVMValueRef f16_to_f32(Gen *g, LLVMValueRef h)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef h32 = LLVMBuildZExt(b, h, like(h, g->t_i32), "");
    LLVMValueRef o = LLVMBuildShl(b, LLVMBuildAnd(b, h32, ic(g, h, 0x7fff), ""), ic(g, h, 13), "");
    LLVMValueRef e = LLVMBuildAnd(b, o, ic(g, h, 0x0f800000u), "");
    o = LLVMBuildAdd(b, o, ic(g, h, 0x38000000u), "");
    LLVMValueRef inf = LLVMBuildAdd(b, o, ic(g, h, 0x38000000u), "");
    LLVMValueRef den = LLVMBuildFSub(b, as_float(g, LLVMBuildAdd(b, o, ic(g, h, 0x00800000u), "")),
                                     as_float(g, ic(g, h, 0x38800000u)), "");
    o = sel(g, LLVMBuildICmp(b, LLVMIntEQ, e, ic(g, h, 0), ""), as_int(g, den), o);
    o = sel(g, LLVMBuildICmp(b, LLVMIntEQ, e, ic(g, h, 0x0f800000u), ""), inf, o);
    LLVMValueRef s = LLVMBuildShl(b, LLVMBuildAnd(b, h32, ic(g, h, 0x8000), ""), ic(g, h, 16), "");
    return as_float(g, LLVMBuildOr(b, o, s, ""));
}

/* f32 → bf16 bits, nearest even; NaN stays a (quiet) NaN. */
static LLVMValueRef f32_to_bf16(Gen *g, LLVMValueRef f)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef u = as_int(g, f);
    LLVMValueRef odd = LLVMBuildAnd(b, LLVMBuildLShr(b, u, ic(g, f, 16), ""), ic(g, f, 1), "");
    LLVMValueRef r = LLVMBuildLShr(b, LLVMBuildAdd(b, LLVMBuildAdd(b, u, ic(g, f, 0x7fff), ""), odd, ""),
                                   ic(g, f, 16), "");
    LLVMValueRef nan = LLVMBuildOr(b, LLVMBuildLShr(b, u, ic(g, f, 16), ""), ic(g, f, 0x40), "");
    r = sel(g, LLVMBuildFCmp(b, LLVMRealUNO, f, f, ""), nan, r);
    return LLVMBuildTrunc(b, r, like(r, g->t_i16), "");
}

LLVMValueRef gen_half_to_float(Gen *g, LLVMValueRef h, DType dt)
{
    if (dt == DT_F16)
        return f16_to_f32(g, h);
    LLVMValueRef u = LLVMBuildShl(g->b, LLVMBuildZExt(g->b, h, like(h, g->t_i32), ""), ic(g, h, 16), "");
    return as_float(g, u);
}

LLVMValueRef gen_float_to_half(Gen *g, LLVMValueRef f, DType dt)
{
    return dt == DT_F16 ? f32_to_f16(g, f) : f32_to_bf16(g, f);
}

LLVMValueRef gen_round_float(Gen *g, LLVMValueRef x, DType dt)
{
    if (dt != DT_F16 && dt != DT_BF16)
        return x;
    return gen_half_to_float(g, gen_float_to_half(g, x, dt), dt);
}

/* An integer (i32 or i64) to float rounded once as (double)x would be rounded to bf16:
 * the double rounded to f32 with round-to-odd, then to bf16. */
static LLVMValueRef int_to_bf16(Gen *g, LLVMValueRef v)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef d = LLVMBuildSIToFP(b, v, like(v, g->t_f64), "");
    LLVMValueRef f = LLVMBuildFPTrunc(b, d, like(v, g->t_f32), "");
    LLVMValueRef back = LLVMBuildFPExt(b, f, like(v, g->t_f64), "");
    LLVMValueRef bits = as_int(g, f);
    LLVMValueRef inexact = LLVMBuildFCmp(b, LLVMRealUNE, back, d, "");
    LLVMValueRef even = LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildAnd(b, bits, ic(g, bits, 1), ""), ic(g, bits, 0), "");
    LLVMValueRef below = LLVMBuildFCmp(b, LLVMRealOLT, back, d, "");
    LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, bits, ic(g, bits, 0), "");
    LLVMValueRef up = LLVMBuildXor(b, below, neg, "");
    LLVMValueRef fixed = LLVMBuildAdd(b, bits, sel(g, up, ic(g, bits, 1), ic(g, bits, 0xffffffffu)), "");
    bits = sel(g, LLVMBuildAnd(b, inexact, even, ""), fixed, bits);
    return gen_round_float(g, as_float(g, bits), DT_BF16);
}

LLVMValueRef gen_convert(Gen *g, LLVMValueRef v, DType from, DType to)
{
    LLVMBuilderRef b = g->b;
    if (from == to)
        return v;
    bool ff = dtype_is_float(from), ft = dtype_is_float(to);
    if (ff && ft)
        return gen_round_float(g, v, to);
    LLVMTypeRef tt = like(v, gen_scalar_type(g, to));
    if (ff && to == DT_BOOL)
        return LLVMBuildFCmp(b, LLVMRealUNE, v, fc(g, v, 0), "");
    if (ff)
        return gen_intrinsic(g, "llvm.fptosi.sat", tt, &v, 1);
    if (from == DT_BOOL)
        return ft ? LLVMBuildUIToFP(b, v, like(v, g->t_f32), "") : LLVMBuildZExt(b, v, tt, "");
    /* from an integer */
    if (to == DT_BOOL)
        return LLVMBuildICmp(b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
    if (!ft)
        return to == DT_I64 ? LLVMBuildSExt(b, v, tt, "") : LLVMBuildTrunc(b, v, tt, "");
    if (to == DT_BF16)
        return int_to_bf16(g, v);
    /* f32: one rounding; f16: exact below 2^24, and anything larger overflows to inf */
    return gen_round_float(g, LLVMBuildSIToFP(b, v, like(v, g->t_f32), ""), to);
}

LLVMValueRef gen_const(Gen *g, double v, DType dt)
{
    LLVMValueRef c;
    if (dtype_is_float(dt)) {
        c = LLVMConstReal(g->t_f32, (float)dtype_round(dt, v));
    } else if (dt == DT_BOOL) {
        c = LLVMConstInt(g->t_i1, v != 0, 0);
    } else {
        int64_t i = dt == DT_I64 && v >= 0x1p63 ? INT64_MAX : (int64_t)dtype_round(dt, v);
        c = LLVMConstInt(gen_scalar_type(g, dt), (unsigned long long)i, 1);
    }
    return gen_splat(gen_value_type(g, dt), c);
}

/* ---- integer helpers ---- */

static LLVMValueRef int_div(Gen *g, LLVMValueRef a, LLVMValueRef d)
{
    LLVMBuilderRef b = g->b;
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMTypeRef et = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t;
    LLVMValueRef zero = LLVMConstNull(t), one = gen_splat(t, LLVMConstInt(et, 1, 0)), m1 = LLVMConstAllOnes(t);
    LLVMValueRef isz = LLVMBuildICmp(b, LLVMIntEQ, d, zero, "");
    LLVMValueRef ism1 = LLVMBuildICmp(b, LLVMIntEQ, d, m1, "");
    LLVMValueRef safe = sel(g, LLVMBuildOr(b, isz, ism1, ""), one, d);
    LLVMValueRef q = LLVMBuildSDiv(b, a, safe, "");
    return sel(g, ism1, LLVMBuildSub(b, zero, a, ""), sel(g, isz, zero, q));
}

/* iN vit.ipow.iN(iN a, iN e): a^e wrapping for e ≥ 0 (square and multiply); for e < 0,
 * 1 when a = 1, ±1 when a = -1, else 0. Generated once per module. */
static LLVMValueRef ipow_function(Gen *g, LLVMTypeRef t)
{
    const char *name = t == g->t_i32 ? "vit.ipow.i32" : "vit.ipow.i64";
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
    if (fn)
        return fn;
    LLVMTypeRef params[2] = {t, t};
    fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(t, params, 2, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMBuilderRef saved = g->b, b = LLVMCreateBuilderInContext(g->ctx);
    g->b = b;
    LLVMValueRef a = LLVMGetParam(fn, 0), e = LLVMGetParam(fn, 1);
    LLVMValueRef zero = LLVMConstNull(t), one = LLVMConstInt(t, 1, 0), m1 = LLVMConstAllOnes(t);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMBasicBlockRef negb = LLVMAppendBasicBlockInContext(g->ctx, fn, "negative");
    LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(g->ctx, fn, "loop");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(b, entry);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, e, zero, ""), negb, loop);
    LLVMPositionBuilderAtEnd(b, negb);
    LLVMValueRef oddv = LLVMBuildAnd(b, e, one, "");
    LLVMValueRef pm = sel(g, LLVMBuildICmp(b, LLVMIntNE, oddv, zero, ""), m1, one);
    LLVMValueRef r = sel(g, LLVMBuildICmp(b, LLVMIntEQ, a, m1, ""), pm, zero);
    LLVMBuildRet(b, sel(g, LLVMBuildICmp(b, LLVMIntEQ, a, one, ""), one, r));
    /* loop: acc, base, e (unsigned) */
    LLVMPositionBuilderAtEnd(b, loop);
    LLVMValueRef acc = LLVMBuildPhi(b, t, "acc"), base = LLVMBuildPhi(b, t, "base"), ex = LLVMBuildPhi(b, t, "e");
    LLVMValueRef fin = LLVMBuildICmp(b, LLVMIntEQ, ex, zero, "");
    LLVMValueRef bit = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, ex, one, ""), zero, "");
    LLVMValueRef acc2 = sel(g, bit, LLVMBuildMul(b, acc, base, ""), acc);
    LLVMValueRef base2 = LLVMBuildMul(b, base, base, "");
    LLVMValueRef ex2 = LLVMBuildLShr(b, ex, one, "");
    LLVMBuildCondBr(b, fin, done, loop);
    LLVMValueRef in_acc[2] = {one, acc2}, in_base[2] = {a, base2}, in_e[2] = {e, ex2};
    LLVMBasicBlockRef from[2] = {entry, loop};
    LLVMAddIncoming(acc, in_acc, from, 2);
    LLVMAddIncoming(base, in_base, from, 2);
    LLVMAddIncoming(ex, in_e, from, 2);
    LLVMPositionBuilderAtEnd(b, done);
    LLVMBuildRet(b, acc);
    LLVMDisposeBuilder(b);
    g->b = saved;
    return fn;
}

static LLVMValueRef int_pow(Gen *g, LLVMValueRef a, LLVMValueRef e)
{
    LLVMTypeRef t = LLVMTypeOf(a);
    bool vec = LLVMGetTypeKind(t) == LLVMVectorTypeKind;
    LLVMValueRef fn = ipow_function(g, vec ? LLVMGetElementType(t) : t);
    if (!vec) {
        LLVMValueRef args[2] = {a, e};
        return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, 2, "");
    }
    LLVMValueRef r = LLVMGetUndef(t); /* lane by lane */
    for (unsigned i = 0; i < LLVMGetVectorSize(t); i++) {
        LLVMValueRef lane = LLVMConstInt(g->t_i32, i, 0);
        LLVMValueRef args[2] = {LLVMBuildExtractElement(g->b, a, lane, ""), LLVMBuildExtractElement(g->b, e, lane, "")};
        r = LLVMBuildInsertElement(g->b, r, LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, 2, ""), lane, "");
    }
    return r;
}

/* ---- ops ---- */

static LLVMValueRef unary_float(Gen *g, const Expr *e, LLVMValueRef x)
{
    LLVMBuilderRef b = g->b;
    switch (e->op) {
    case OP_NEG: return LLVMBuildFNeg(b, x, "");
    case OP_ABS: return intrin1(g, "llvm.fabs", x);
    case OP_EXP: return gen_math_exp(g, x);
    case OP_LOG: return gen_math_log(g, x);
    case OP_SQRT: return gen_fsqrt(g, x);
    case OP_RSQRT: return LLVMBuildFDiv(b, fc(g, x, 1), gen_fsqrt(g, x), "");
    case OP_TANH: return gen_math_tanh(g, x);
    case OP_ERF: return gen_math_erf(g, x);
    case OP_SIN: return intrin1(g, "llvm.sin", x);
    case OP_COS: return intrin1(g, "llvm.cos", x);
    case OP_RELU: return sel(g, LLVMBuildFCmp(b, LLVMRealUGT, x, fc(g, x, 0), ""), x, fc(g, x, 0));
    case OP_SIGMOID: {
        LLVMValueRef t = gen_math_exp(g, LLVMBuildFNeg(b, intrin1(g, "llvm.fabs", x), ""));
        LLVMValueRef d = LLVMBuildFAdd(b, fc(g, x, 1), t, "");
        return sel(g, LLVMBuildFCmp(b, LLVMRealOGE, x, fc(g, x, 0), ""), LLVMBuildFDiv(b, fc(g, x, 1), d, ""),
                   LLVMBuildFDiv(b, t, d, ""));
    }
    case OP_SOFTPLUS: {
        LLVMValueRef pos = sel(g, LLVMBuildFCmp(b, LLVMRealOGT, x, fc(g, x, 0), ""), x, fc(g, x, 0));
        LLVMValueRef t = gen_math_exp(g, LLVMBuildFNeg(b, intrin1(g, "llvm.fabs", x), ""));
        return LLVMBuildFAdd(b, pos, gen_math_log1p(g, t), "");
    }
    case OP_GELU: return gen_math_gelu(g, x, e->attr.gelu.approximate == GELU_TANH);
    default: return NULL;
    }
}

static LLVMValueRef binary_float(Gen *g, Op op, LLVMValueRef a, LLVMValueRef c)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef args[2] = {a, c};
    switch (op) {
    case OP_ADD: return LLVMBuildFAdd(b, a, c, "");
    case OP_SUB: return LLVMBuildFSub(b, a, c, "");
    case OP_MUL: return LLVMBuildFMul(b, a, c, "");
    case OP_DIV: return LLVMBuildFDiv(b, a, c, "");
    case OP_POW: return gen_intrinsic(g, "llvm.pow", LLVMTypeOf(a), args, 2);
    case OP_MAX: return gen_fmax_nan(g, a, c, true);
    case OP_MIN: return gen_fmax_nan(g, a, c, false);
    default: return NULL;
    }
}

static LLVMValueRef binary_int(Gen *g, Op op, LLVMValueRef a, LLVMValueRef c)
{
    LLVMBuilderRef b = g->b;
    switch (op) {
    case OP_ADD: return LLVMBuildAdd(b, a, c, "");
    case OP_SUB: return LLVMBuildSub(b, a, c, "");
    case OP_MUL: return LLVMBuildMul(b, a, c, "");
    case OP_DIV: return int_div(g, a, c);
    case OP_POW: return int_pow(g, a, c);
    case OP_MAX: return sel(g, LLVMBuildICmp(b, LLVMIntSGT, a, c, ""), a, c);
    case OP_MIN: return sel(g, LLVMBuildICmp(b, LLVMIntSLT, a, c, ""), a, c);
    default: return NULL;
    }
}

static LLVMValueRef compare(Gen *g, Op op, DType dt, LLVMValueRef a, LLVMValueRef c)
{
    static const struct {
        Op op;
        LLVMRealPredicate f;
        LLVMIntPredicate s, u;
    } preds[] = {
        {OP_EQ, LLVMRealOEQ, LLVMIntEQ, LLVMIntEQ},    {OP_NE, LLVMRealUNE, LLVMIntNE, LLVMIntNE},
        {OP_LT, LLVMRealOLT, LLVMIntSLT, LLVMIntULT},  {OP_LE, LLVMRealOLE, LLVMIntSLE, LLVMIntULE},
        {OP_GT, LLVMRealOGT, LLVMIntSGT, LLVMIntUGT},  {OP_GE, LLVMRealOGE, LLVMIntSGE, LLVMIntUGE},
    };
    for (size_t i = 0; i < sizeof preds / sizeof *preds; i++)
        if (preds[i].op == op) {
            if (dtype_is_float(dt))
                return LLVMBuildFCmp(g->b, preds[i].f, a, c, "");
            return LLVMBuildICmp(g->b, dt == DT_BOOL ? preds[i].u : preds[i].s, a, c, "");
        }
    return NULL;
}

LLVMValueRef gen_op(Gen *g, const Expr *e, DType dt_in, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMBuilderRef bd = g->b;
    bool fl = dtype_is_float(dt_in);
    LLVMValueRef r = NULL;
    switch (e->op) {
    case OP_CAST:
        return gen_convert(g, a, dt_in, e->dt);
    case OP_SELECT:
        return sel(g, a, b, c);
    case OP_NOT:
        return LLVMBuildNot(bd, a, "");
    case OP_AND:
        return LLVMBuildAnd(bd, a, b, "");
    case OP_OR:
        return LLVMBuildOr(bd, a, b, "");
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        return compare(g, e->op, dt_in, a, b);
    case OP_NEG:
        r = fl ? unary_float(g, e, a) : LLVMBuildSub(bd, LLVMConstNull(LLVMTypeOf(a)), a, "");
        break;
    case OP_ABS:
        r = fl ? unary_float(g, e, a)
               : sel(g, LLVMBuildICmp(bd, LLVMIntSLT, a, LLVMConstNull(LLVMTypeOf(a)), ""),
                     LLVMBuildSub(bd, LLVMConstNull(LLVMTypeOf(a)), a, ""), a);
        break;
    case OP_RELU:
        r = fl ? unary_float(g, e, a)
               : sel(g, LLVMBuildICmp(bd, LLVMIntSGT, a, LLVMConstNull(LLVMTypeOf(a)), ""), a,
                     LLVMConstNull(LLVMTypeOf(a)));
        break;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW: case OP_MAX: case OP_MIN:
        r = fl ? binary_float(g, e->op, a, b) : binary_int(g, e->op, a, b);
        break;
    default:
        r = fl ? unary_float(g, e, a) : NULL;
        break;
    }
    if (!r) {
        gen_fail(g, "kernel %d: the LLVM backend cannot generate '%s' on %s", g->ki, ir_ops[e->op].name,
                 dtype_name(dt_in));
        return LLVMGetUndef(gen_value_type(g, e->dt));
    }
    return fl ? gen_round_float(g, r, e->dt) : r;
}
