/* llvm_math.c — float math as LLVM IR: exp, log, log1p, erf, tanh and the two GELUs, on
 * `float` or on vectors of floats (every constant takes the type of the argument), so a
 * vectorised loop or a GEMM epilogue on registers never calls libm per element.
 *
 * Each function is range reduction plus a polynomial whose coefficients were fitted
 * (weighted least squares, iterated to minimax, against 40-digit references) for this
 * code's reduced ranges; tests/unit/test_vmath.c checks them against double libm over
 * wide ranges, tails, denormals, ±0, ±inf and NaN (within 1e-6 relative; measured ≤ 4 ulp).
 *
 *   exp    n = nearest(x·log2 e) (the 1.5·2^23 trick: no roundeven libcall on old CPUs),
 *          r = x − n·ln2 (two-part ln2), e^r = 1 + r + r²·P5(r), scaled by 2^⌊n/2⌋·2^⌈n/2⌉
 *          so results that are subnormal or near overflow are right; x is clamped to
 *          [−104, 88.8] first (beyond: 0 and +inf come out of the scaling), NaN passes.
 *   log    x = m·2^e, m ∈ [√½, √2) (subnormals scaled by 2^23 first), f = m − 1,
 *          log(1+f) = f − f²/2 + f³·S8(f), plus e·ln2 in two parts; log(0) = −inf,
 *          log(x<0) = NaN, log(inf) = inf.
 *   log1p  u = 1 + x; x when u = 1, else log(u)·x/(u−1) (the rounding of 1 + x undone).
 *   erf    |x| < 1: x + x·Q6(x²); else 1 − erfc(|x|) with erfc(t) = exp(L11(t)) for
 *          t < 3.95 and 0 beyond, sign restored.
 *   tanh   |x| < 0.625: x + x³·R4(x²); else 1 − 2/(e^{2|x|} + 1), sign restored.
 *   gelu   erf form: x·Φ(x), Φ(x) = h for x < 0 and 1 − h otherwise, h = Φ(−|x|) = exp(L(|x|))
 *          below 5.586 (beyond: 0), L one polynomial (no cancellation); tanh form: x / (1 + e^{−2y}), y = √(2/π)(x +
 *          0.044715x³), which is ½x(1 + tanh y) without the cancellation for x ≪ 0.
 */
#include <math.h>
#include <string.h>

#include "llvm_internal.h"

/* ---- constants and intrinsics of the argument's type ---- */

LLVMValueRef gen_splat(LLVMTypeRef t, LLVMValueRef scalar)
{
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return scalar;
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef elems[64];
    if (n > 64)
        n = 64;
    for (unsigned i = 0; i < n; i++)
        elems[i] = scalar;
    return LLVMConstVector(elems, n);
}

LLVMValueRef gen_fconst(Gen *g, LLVMTypeRef t, double v) { return gen_splat(t, LLVMConstReal(g->t_f32, v)); }

/* The type t with its elements replaced by `elem` (a vector stays a vector). */
LLVMTypeRef gen_like(LLVMTypeRef t, LLVMTypeRef elem)
{
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(elem, LLVMGetVectorSize(t)) : elem;
}

LLVMValueRef gen_intrinsic_over(Gen *g, const char *name, LLVMTypeRef *over, unsigned nover, LLVMValueRef *args,
                                unsigned n)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (!id) {
        gen_fail(g, "internal error: %s:%d: no LLVM intrinsic %s", __FILE__, __LINE__, name);
        return LLVMGetUndef(over[0]);
    }
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, over, nover);
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

LLVMValueRef gen_intrinsic(Gen *g, const char *name, LLVMTypeRef ret, LLVMValueRef *args, unsigned n)
{
    LLVMTypeRef over[2] = {ret, LLVMTypeOf(args[0])};
    /* float-to-int conversions are overloaded on the result and the argument */
    return gen_intrinsic_over(g, name, over, strncmp(name, "llvm.fpto", 9) == 0 ? 2 : 1, args, n);
}

static LLVMValueRef K(Gen *g, LLVMValueRef like, double v) { return gen_fconst(g, LLVMTypeOf(like), v); }
static LLVMValueRef KI(Gen *g, LLVMValueRef like, uint32_t v)
{
    return gen_splat(gen_like(LLVMTypeOf(like), g->t_i32), LLVMConstInt(g->t_i32, v, 0));
}
static LLVMValueRef fma3(Gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMValueRef args[3] = {a, b, c};
    return gen_intrinsic(g, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}
static LLVMValueRef fabs1(Gen *g, LLVMValueRef x) { return gen_intrinsic(g, "llvm.fabs", LLVMTypeOf(x), &x, 1); }
static LLVMValueRef bits(Gen *g, LLVMValueRef f)
{
    return LLVMBuildBitCast(g->b, f, gen_like(LLVMTypeOf(f), g->t_i32), "");
}
static LLVMValueRef floats(Gen *g, LLVMValueRef i)
{
    return LLVMBuildBitCast(g->b, i, gen_like(LLVMTypeOf(i), g->t_f32), "");
}
static LLVMValueRef fsel(Gen *g, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, c, a, b, "");
}
static LLVMValueRef flt(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(g->b, LLVMRealOLT, a, b, ""); }
static LLVMValueRef isnan1(Gen *g, LLVMValueRef x) { return LLVMBuildFCmp(g->b, LLVMRealUNO, x, x, ""); }

/* Horner: c[0] + x·(c[1] + x·(…)) */
static LLVMValueRef poly(Gen *g, LLVMValueRef x, const double *c, int n)
{
    LLVMValueRef r = K(g, x, c[n - 1]);
    for (int i = n - 2; i >= 0; i--)
        r = fma3(g, r, x, K(g, x, c[i]));
    return r;
}

/* copysign(magnitude, sign of s) */
static LLVMValueRef copysign1(Gen *g, LLVMValueRef mag, LLVMValueRef s)
{
    LLVMValueRef args[2] = {mag, s};
    return gen_intrinsic(g, "llvm.copysign", LLVMTypeOf(mag), args, 2);
}

/* ---- exp ---- */

static const double EXP_P[] = {0.5000000067643633,    0.16666665869410996,   0.04166629508990794,
                               0.00833349700848104,   0.0013944648851461309, 0.00019790352888467526};

/* e^x = p·2^nf for a finite x: nf = x·log2 e rounded (as a float), r = x − nf·ln 2 (ln 2 in two
 * parts), p = e^r ≈ 1 + r + r²·P(r) on [−ln2/2, ln2/2] */
static LLVMValueRef exp_reduced(Gen *g, LLVMValueRef x, LLVMValueRef *nf)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef magic = K(g, x, 12582912.0); /* 1.5·2^23: adding it rounds to an integer */
    *nf = LLVMBuildFSub(b, fma3(g, x, K(g, x, 1.44269504088896341), magic), magic, "");
    LLVMValueRef r = fma3(g, *nf, K(g, x, -0.693359375), x);
    r = fma3(g, *nf, K(g, x, 2.12194440054690583e-4), r);
    return fma3(g, LLVMBuildFMul(b, r, r, ""), poly(g, r, EXP_P, 6), LLVMBuildFAdd(b, r, K(g, x, 1), ""));
}

/* e^x for x already clamped to [-104, 88.8] (finite) */
static LLVMValueRef exp_clamped(Gen *g, LLVMValueRef x)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef nf, p = exp_reduced(g, x, &nf);
    LLVMValueRef n = LLVMBuildFPToSI(b, nf, gen_like(LLVMTypeOf(x), g->t_i32), "");
    LLVMValueRef n1 = LLVMBuildAShr(b, n, KI(g, x, 1), ""), n2 = LLVMBuildSub(b, n, n1, "");
    LLVMValueRef s1 = floats(g, LLVMBuildShl(b, LLVMBuildAdd(b, n1, KI(g, x, 127), ""), KI(g, x, 23), ""));
    LLVMValueRef s2 = floats(g, LLVMBuildShl(b, LLVMBuildAdd(b, n2, KI(g, x, 127), ""), KI(g, x, 23), ""));
    return LLVMBuildFMul(b, LLVMBuildFMul(b, p, s1, ""), s2, "");
}

static LLVMValueRef clamp(Gen *g, LLVMValueRef x, double lo, double hi)
{
    /* NaN becomes lo here: callers restore it */
    LLVMValueRef l = K(g, x, lo), h = K(g, x, hi);
    x = fsel(g, LLVMBuildFCmp(g->b, LLVMRealOGT, x, l, ""), x, l);
    return fsel(g, flt(g, x, h), x, h);
}

LLVMValueRef gen_math_exp(Gen *g, LLVMValueRef x)
{
    return fsel(g, isnan1(g, x), x, exp_clamped(g, clamp(g, x, -104.0, 88.8)));
}

/* e^x for x ≤ 0, −inf or NaN (a softmax's s − max): x ≤ −104 gives exactly 0, NaN stays NaN.
 * On 16-float vectors of an AVX-512 target the 2^n scaling is one vscalefps (it rounds a
 * subnormal result once, and x ≤ 0 needs no clamp above), 14 instructions against
 * gen_math_exp's 30 (whose two-step scaling and clamps serve the whole range); elsewhere it is
 * gen_math_exp. */
LLVMValueRef gen_math_exp_nonpos(Gen *g, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    if (!g->tgt.wide512 || LLVMGetTypeKind(t) != LLVMVectorTypeKind || LLVMGetVectorSize(t) != 16 ||
        LLVMGetElementType(t) != g->t_f32)
        return gen_math_exp(g, x);
    LLVMValueRef lo = K(g, x, -104.0);
    x = fsel(g, flt(g, x, lo), lo, x); /* (NaN stays) */
    LLVMValueRef nf, p = exp_reduced(g, x, &nf);
    LLVMValueRef args[5] = {p, nf, LLVMGetUndef(t), LLVMConstInt(g->t_i16, 0xffff, 0),
                            LLVMConstInt(g->t_i32, 4, 0) /* the current rounding */};
    return gen_intrinsic_over(g, "llvm.x86.avx512.mask.scalef.ps.512", NULL, 0, args, 5);
}

/* ---- log ---- */

static const double LOG_S[] = {0.3333331260377807,   -0.2500000959936064, 0.20002118679309291,
                               -0.1666799587416571,  0.1421955193812296,  -0.12405588230835272,
                               0.11888164828516705,  -0.1167565748641206, 0.06746641794648255};

LLVMValueRef gen_math_log(Gen *g, LLVMValueRef x)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef tiny = flt(g, x, K(g, x, 0x1p-126));
    LLVMValueRef xs = fsel(g, tiny, LLVMBuildFMul(b, x, K(g, x, 0x1p23), ""), x);
    LLVMValueRef u = bits(g, xs);
    LLVMValueRef e = LLVMBuildSub(b, LLVMBuildAnd(b, LLVMBuildLShr(b, u, KI(g, x, 23), ""), KI(g, x, 0xff), ""),
                                  KI(g, x, 127), "");
    e = LLVMBuildSub(b, e, fsel(g, tiny, KI(g, x, 23), KI(g, x, 0)), "");
    LLVMValueRef m = floats(g, LLVMBuildOr(b, LLVMBuildAnd(b, u, KI(g, x, 0x7fffff), ""), KI(g, x, 0x3f800000), ""));
    LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGT, m, K(g, x, 1.41421356237309505), "");
    m = fsel(g, big, LLVMBuildFMul(b, m, K(g, x, 0.5), ""), m);
    e = LLVMBuildAdd(b, e, fsel(g, big, KI(g, x, 1), KI(g, x, 0)), "");
    LLVMValueRef f = LLVMBuildFSub(b, m, K(g, x, 1), "");
    LLVMValueRef f2 = LLVMBuildFMul(b, f, f, "");
    LLVMValueRef r = LLVMBuildFMul(b, LLVMBuildFMul(b, f2, f, ""), poly(g, f, LOG_S, 9), "");
    r = fma3(g, f2, K(g, x, -0.5), r);
    LLVMValueRef ef = LLVMBuildSIToFP(b, e, LLVMTypeOf(x), "");
    r = fma3(g, ef, K(g, x, -2.12194440e-4), r);
    r = LLVMBuildFAdd(b, r, f, "");
    r = fma3(g, ef, K(g, x, 0.693359375), r);
    /* log(0) = -inf, log(<0) = NaN, log(inf) = inf, NaN stays */
    r = fsel(g, LLVMBuildFCmp(b, LLVMRealOEQ, x, K(g, x, INFINITY), ""), x, r);
    r = fsel(g, LLVMBuildFCmp(b, LLVMRealOEQ, x, K(g, x, 0), ""), K(g, x, -INFINITY), r);
    return fsel(g, LLVMBuildFCmp(b, LLVMRealULT, x, K(g, x, 0), ""), K(g, x, NAN), r);
}

LLVMValueRef gen_math_log1p(Gen *g, LLVMValueRef x)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef u = LLVMBuildFAdd(b, x, K(g, x, 1), "");
    LLVMValueRef d = LLVMBuildFSub(b, u, K(g, x, 1), "");
    LLVMValueRef one = LLVMBuildFCmp(b, LLVMRealOEQ, d, K(g, x, 0), "");
    LLVMValueRef corr = LLVMBuildFMul(b, gen_math_log(g, u), LLVMBuildFDiv(b, x, fsel(g, one, K(g, x, 1), d), ""), "");
    /* u = inf: log1p(inf) = inf (the quotient would be NaN) */
    corr = fsel(g, LLVMBuildFCmp(b, LLVMRealOEQ, u, K(g, x, INFINITY), ""), u, corr);
    return fsel(g, one, x, corr);
}

/* ---- erf, erfc ---- */

static const double ERF_Q[] = {0.12837916572679578,   -0.37612625824417656, 0.11283585149718012,
                               -0.02685381196143306,  0.005188327710951733, -0.0008010193686810574,
                               7.853861126426831e-05};
static const double ERFC_L[] = {-2.0567330102069107e-05, -1.1283556035715587,   -0.6364039630716645,
                                -0.1035662314209378,     0.020410859897513865,  -0.0009828523170098081,
                                -0.001053207746632258,   0.0004554846596361518, -0.00010239853422122163,
                                1.4039358977191425e-05,  -1.1104435397826992e-06, 3.904029661737524e-08};
enum { NERFC = sizeof ERFC_L / sizeof *ERFC_L };
#define ERFC_CUT 3.95 /* erfc beyond: below 2^-26, so 1 - erfc rounds to 1 */

/* erfc(t) for t ≥ 1 (0 from ERFC_CUT on; NaN gives 0 too). L11 maps [1, ERFC_CUT] into
 * [−18.4, −1.8] (and [0, 1), whose lanes the callers discard, near [−1.9, 0]): the
 * exponential of a non-positive argument, no clamp or two-step scaling needed (GELU's erf form
 * in fc1's epilogue: 56 → 40 instructions per vector on AVX-512). */
static LLVMValueRef erfc_tail(Gen *g, LLVMValueRef t)
{
    LLVMValueRef in = flt(g, t, K(g, t, ERFC_CUT));
    LLVMValueRef tc = fsel(g, in, t, K(g, t, ERFC_CUT));
    return fsel(g, in, gen_math_exp_nonpos(g, poly(g, tc, ERFC_L, NERFC)), K(g, t, 0));
}

/* x + x·Q(x²): erf for |x| < 1 */
static LLVMValueRef erf_small(Gen *g, LLVMValueRef x)
{
    return fma3(g, x, poly(g, LLVMBuildFMul(g->b, x, x, ""), ERF_Q, 7), x);
}

LLVMValueRef gen_math_erf(Gen *g, LLVMValueRef x)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef a = fabs1(g, x);
    LLVMValueRef large = copysign1(g, LLVMBuildFSub(b, K(g, x, 1), erfc_tail(g, a), ""), x);
    LLVMValueRef r = fsel(g, flt(g, a, K(g, x, 1)), erf_small(g, x), large);
    return fsel(g, isnan1(g, x), x, r);
}

/* ---- tanh ---- */

static const double TANH_R[] = {-0.33333332335263344, 0.13333261147400324, -0.05395322372620186,
                                0.021733790643453373, -0.008254393099289338, 0.0022096570874492877};

LLVMValueRef gen_math_tanh(Gen *g, LLVMValueRef x)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef a = fabs1(g, x);
    LLVMValueRef x2 = LLVMBuildFMul(b, x, x, "");
    LLVMValueRef small = fma3(g, LLVMBuildFMul(b, x2, x, ""), poly(g, x2, TANH_R, 6), x);
    LLVMValueRef e = gen_math_exp(g, LLVMBuildFMul(b, a, K(g, x, 2), ""));
    LLVMValueRef big = LLVMBuildFSub(b, K(g, x, 1), LLVMBuildFDiv(b, K(g, x, 2), LLVMBuildFAdd(b, e, K(g, x, 1), ""), ""), "");
    return fsel(g, flt(g, a, K(g, x, 0.625)), small, copysign1(g, big, x));
}

/* ---- GELU ---- */

/* log Φ(−t) = log(½·erfc(t/√2)) for t = |x| in [0, GELU_CUT), in s = t − 1 (degree 11,
 * fitted as the others; in float ≤ 3e-7 absolute for t < 2, ≤ 1e-6 below 3.5, ≤ 3e-6 to the
 * cut, where Φ(−t) < 1e-5 and GELU's absolute error stays under 1e-10) */
static const double GELU_L[] = {-1.8410216564438482,    -1.525135177234345,     -0.40045099172331583,
                                -0.019489132541300802,  0.0032987749512312357,  -0.00040547548869635956,
                                1.1474437656596386e-05, 1.0656299393307657e-05, -3.310505285123345e-06,
                                5.296495957668953e-07,  -4.700775248705537e-08, 1.8159725287044724e-09};
#define GELU_CUT 5.5861436 /* ERFC_CUT·√2: Φ(−t) below 2^-27 from here on */

LLVMValueRef gen_math_gelu(Gen *g, LLVMValueRef x, bool tanh_form)
{
    LLVMBuilderRef b = g->b;
    if (tanh_form) {
        LLVMValueRef x3 = LLVMBuildFMul(b, LLVMBuildFMul(b, x, x, ""), x, "");
        LLVMValueRef y = LLVMBuildFMul(b, K(g, x, 0.79788456080286535588), fma3(g, x3, K(g, x, 0.044715), x), "");
        LLVMValueRef e = gen_math_exp(g, LLVMBuildFMul(b, y, K(g, x, -2), ""));
        return LLVMBuildFDiv(b, x, LLVMBuildFAdd(b, e, K(g, x, 1), ""), "");
    }
    /* x·Φ(x) with Φ(x) = h for x < 0, 1 − h otherwise, h = Φ(−|x|) = exp(log Φ(−|x|)): one
     * polynomial and one exp, no cancellation on either side (h ≤ ½) */
    LLVMValueRef t = fabs1(g, x), in = flt(g, t, K(g, x, GELU_CUT));
    LLVMValueRef s = LLVMBuildFSub(b, fsel(g, in, t, K(g, x, GELU_CUT)), K(g, x, 1), "");
    LLVMValueRef h = fsel(g, in, gen_math_exp_nonpos(g, poly(g, s, GELU_L, 12)), K(g, x, 0));
    LLVMValueRef phi = fsel(g, flt(g, x, K(g, x, 0)), h, LLVMBuildFSub(b, K(g, x, 1), h, ""));
    return LLVMBuildFMul(b, x, phi, "");
}
