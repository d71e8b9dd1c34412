/* ocl_expr.c — OpenCL C text for views, loads, stores, conversions and the expression
 * trees of kernels, with the semantics of the interpreter as the LLVM backend implements
 * them (backends/llvm/llvm_ops.c, docs/BACKEND_LLVM.md "Values and numerics"):
 *
 *   floats    computed in f32; f16/bf16 results rounded to their dtype (nearest even)
 *             after every op by integer code (helpers below: exact, no cl_khr_fp16)
 *   integers  wrap (computed in unsigned); x / 0 = 0, MIN / -1 = MIN, 0 ** -n = 0
 *   casts     float → int truncates and saturates, NaN → 0 (convert_*_sat_rtz); int → bf16
 *             rounds as (double)x rounded to bf16 (53 bits, then 8: integer code, no fp64)
 *   max/min   NaN-propagating; relu(NaN) = NaN
 *
 * Each expression node is emitted once per evaluation point as a named constant
 * (`const float t3 = ...;`), so shared subtrees are computed once.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

const char *ocl_value_type(DType dt)
{
    switch (dt) {
    case DT_I32: case DT_BOOL: return "int";
    case DT_I64: return "long";
    default: return "float";
    }
}

const char *ocl_memory_type(DType dt)
{
    switch (dt) {
    case DT_F16: case DT_BF16: return "ushort";
    case DT_I32: return "int";
    case DT_I64: return "long";
    case DT_BOOL: return "uchar";
    default: return "float";
    }
}

DType ocl_acc_dtype(const Kernel *k)
{
    for (int32_t i = 0; i < k->nexpr; i++)
        if (k->expr[i].kind == EX_ACC)
            return k->expr[i].dt;
    return k->expr[k->root].dt;
}

/* ---- offsets ---- */

void ocl_dim(Dim d, char *buf, size_t n)
{
    if (dim_is_const(d))
        snprintf(buf, n, "%" PRId64, d.n);
    else if (d.n == 1)
        snprintf(buf, n, "s%d", d.sym);
    else
        snprintf(buf, n, "(%" PRId64 "*s%d)", d.n, d.sym);
}

void ocl_step(const char *base, const char *i, Dim stride, char *buf, size_t n)
{
    char s[64];
    if (!i || stride.n == 0) {
        snprintf(buf, n, "%s", base);
        return;
    }
    ocl_dim(stride, s, sizeof s);
    if (dim_is_const(stride) && stride.n == 1)
        snprintf(buf, n, "(%s + %s)", base, i);
    else
        snprintf(buf, n, "(%s + %s*%s)", base, i, s);
}

void ocl_view_offset(const View *v, const char *const *idx, int n, char *buf, size_t bn)
{
    char cur[1024], next[1024];
    ocl_dim(v->offset, cur, sizeof cur);
    for (int d = 0; d < n && d < v->rank; d++) {
        ocl_step(cur, idx[d], v->strides[d], next, sizeof next);
        memcpy(cur, next, sizeof cur);
    }
    snprintf(buf, bn, "%s", cur);
}

/* ---- conversions ---- */

static void round_float(OGen *g, const char *v, DType dt, char *buf, size_t n)
{
    if (dt == DT_F16) {
        g->helpers |= HELP_F16;
        snprintf(buf, n, "vit_rh(%s)", v);
    } else if (dt == DT_BF16) {
        g->helpers |= HELP_BF16;
        snprintf(buf, n, "vit_rb(%s)", v);
    } else {
        snprintf(buf, n, "%s", v);
    }
}

void ocl_convert(OGen *g, const char *v, DType from, DType to, char *buf, size_t n)
{
    bool ff = dtype_is_float(from), ft = dtype_is_float(to);
    char t[1200];
    if (from == to) {
        snprintf(buf, n, "%s", v);
    } else if (ff && ft) {
        round_float(g, v, to, buf, n);
    } else if (ff && to == DT_BOOL) {
        snprintf(buf, n, "(int)(%s != 0.0f)", v);
    } else if (ff) {
        snprintf(buf, n, "%s(%s)", to == DT_I32 ? "convert_int_sat_rtz" : "convert_long_sat_rtz", v);
    } else if (from == DT_BOOL) {
        snprintf(buf, n, "(%s)(%s)", ocl_value_type(to), v);
    } else if (to == DT_BOOL) {
        snprintf(buf, n, "(int)(%s != 0)", v);
    } else if (!ft) {
        if (to == DT_I64)
            snprintf(buf, n, "(long)(%s)", v);
        else
            snprintf(buf, n, "as_int((uint)(ulong)(%s))", v);
    } else if (to == DT_BF16) {
        g->helpers |= HELP_I2BF16;
        snprintf(buf, n, "vit_i2b((long)(%s))", v);
    } else {
        snprintf(t, sizeof t, "convert_float(%s)", v);
        round_float(g, t, to, buf, n);
    }
}

void ocl_float_literal(double v, char *buf, size_t n)
{
    if (v != v)
        snprintf(buf, n, "NAN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "INFINITY" : "(-INFINITY)");
    else if (v == 0)
        snprintf(buf, n, signbit(v) ? "(-0.0f)" : "0.0f");
    else if (v < 0)
        snprintf(buf, n, "(%af)", v);
    else
        snprintf(buf, n, "%af", v);
}

static void constant(const Expr *e, char *buf, size_t n)
{
    DType dt = e->dt;
    if (dtype_is_float(dt)) {
        ocl_float_literal((float)dtype_round(dt, e->value), buf, n);
    } else if (dt == DT_BOOL) {
        snprintf(buf, n, "%d", e->value != 0);
    } else {
        int64_t i = dt == DT_I64 && e->value >= 0x1p63 ? INT64_MAX : (int64_t)dtype_round(dt, e->value);
        if (dt == DT_I32)
            snprintf(buf, n, "(%" PRId64 ")", i);
        else if (i == INT64_MIN)
            snprintf(buf, n, "(-9223372036854775807L - 1)");
        else
            snprintf(buf, n, "(%" PRId64 "L)", i);
    }
}

/* ---- loads and stores ---- */

void ocl_load_expr(OGen *g, int32_t buf, const char *off, DType want, char *conv, size_t n)
{
    int32_t s = ogen_buffer(g, buf, false);
    if (s < 0) {
        snprintf(conv, n, "0");
        return;
    }
    DType dt = g->p->bufs[buf].dt;
    char raw[1200];
    if (dt == DT_F16) {
        g->helpers |= HELP_F16;
        snprintf(raw, sizeof raw, "vit_h2f(a%d[%s])", s, off);
    } else if (dt == DT_BF16) {
        g->helpers |= HELP_BF16;
        snprintf(raw, sizeof raw, "vit_b2f(a%d[%s])", s, off);
    } else if (dt == DT_BOOL) {
        snprintf(raw, sizeof raw, "(int)(a%d[%s] != 0)", s, off);
    } else {
        snprintf(raw, sizeof raw, "a%d[%s]", s, off);
    }
    ocl_convert(g, raw, dt, want, conv, n);
}

void ocl_load(OGen *g, int32_t buf, const char *off, DType want, const char *name)
{
    char conv[1400];
    ocl_load_expr(g, buf, off, want, conv, sizeof conv);
    ogen_line(g, "const %s %s = %s;", ocl_value_type(want), name, conv);
}

void ocl_store(OGen *g, int32_t buf, const char *off, const char *v, DType vdt)
{
    int32_t s = ogen_buffer(g, buf, true);
    if (s < 0)
        return;
    DType dt = g->p->bufs[buf].dt;
    char conv[1400];
    ocl_convert(g, v, vdt, dt, conv, sizeof conv);
    if (dt == DT_F16) {
        g->helpers |= HELP_F16;
        ogen_line(g, "a%d[%s] = vit_f2h(%s);", s, off, conv);
    } else if (dt == DT_BF16) {
        g->helpers |= HELP_BF16;
        ogen_line(g, "a%d[%s] = vit_f2b(%s);", s, off, conv);
    } else if (dt == DT_BOOL) {
        ogen_line(g, "a%d[%s] = (uchar)(%s);", s, off, conv);
    } else {
        ogen_line(g, "a%d[%s] = %s;", s, off, conv);
    }
}

/* ---- ops ---- */

/* The C text of op e on operand names a, b, c of dtype dt; false when it has none. */
static bool op_text(OGen *g, const Expr *e, DType dt, const char *a, const char *b, const char *c, char *o, size_t n)
{
    bool fl = dtype_is_float(dt);
    const char *ut = dt == DT_I64 ? "ulong" : "uint", *as = dt == DT_I64 ? "as_long" : "as_int";
    switch (e->op) {
    case OP_CAST: ocl_convert(g, a, dt, e->dt, o, n); return true;
    case OP_SELECT: snprintf(o, n, "(%s ? %s : %s)", a, b, c); return true;
    case OP_NOT: snprintf(o, n, "(1 - %s)", a); return true;
    case OP_AND: snprintf(o, n, "(%s & %s)", a, b); return true;
    case OP_OR: snprintf(o, n, "(%s | %s)", a, b); return true;
    case OP_EQ: snprintf(o, n, "(int)(%s == %s)", a, b); return true;
    case OP_NE: snprintf(o, n, "(int)(%s != %s)", a, b); return true;
    case OP_LT: snprintf(o, n, "(int)(%s < %s)", a, b); return true;
    case OP_LE: snprintf(o, n, "(int)(%s <= %s)", a, b); return true;
    case OP_GT: snprintf(o, n, "(int)(%s > %s)", a, b); return true;
    case OP_GE: snprintf(o, n, "(int)(%s >= %s)", a, b); return true;
    default: break;
    }
    if (!fl) {
        if (dt == DT_BOOL)
            return false;
        switch (e->op) {
        case OP_NEG: snprintf(o, n, "%s((%s)0 - (%s)%s)", as, ut, ut, a); return true;
        case OP_ABS: snprintf(o, n, "(%s < 0 ? %s((%s)0 - (%s)%s) : %s)", a, as, ut, ut, a, a); return true;
        case OP_RELU: snprintf(o, n, "(%s > 0 ? %s : 0)", a, a); return true;
        case OP_ADD: snprintf(o, n, "%s((%s)%s + (%s)%s)", as, ut, a, ut, b); return true;
        case OP_SUB: snprintf(o, n, "%s((%s)%s - (%s)%s)", as, ut, a, ut, b); return true;
        case OP_MUL: snprintf(o, n, "%s((%s)%s * (%s)%s)", as, ut, a, ut, b); return true;
        case OP_DIV:
            snprintf(o, n, "(%s == 0 ? 0 : %s == -1 ? %s((%s)0 - (%s)%s) : %s / %s)", b, b, as, ut, ut, a, a, b);
            return true;
        case OP_POW:
            g->helpers |= dt == DT_I64 ? HELP_IPOW64 : HELP_IPOW32;
            snprintf(o, n, "%s(%s, %s)", dt == DT_I64 ? "vit_ipow64" : "vit_ipow32", a, b);
            return true;
        case OP_MAX: snprintf(o, n, "(%s > %s ? %s : %s)", a, b, a, b); return true;
        case OP_MIN: snprintf(o, n, "(%s < %s ? %s : %s)", a, b, a, b); return true;
        default: return false;
        }
    }
    char r[1200];
    switch (e->op) {
    case OP_NEG: snprintf(r, sizeof r, "(-%s)", a); break;
    case OP_ABS: snprintf(r, sizeof r, "fabs(%s)", a); break;
    case OP_EXP: snprintf(r, sizeof r, "exp(%s)", a); break;
    case OP_LOG: snprintf(r, sizeof r, "log(%s)", a); break;
    case OP_SQRT: snprintf(r, sizeof r, "sqrt(%s)", a); break;
    case OP_RSQRT: snprintf(r, sizeof r, "(1.0f / sqrt(%s))", a); break;
    case OP_TANH: g->helpers |= HELP_SATURATE; snprintf(r, sizeof r, "vit_tanh(%s)", a); break;
    case OP_ERF: g->helpers |= HELP_SATURATE; snprintf(r, sizeof r, "vit_erf(%s)", a); break;
    case OP_SIN: snprintf(r, sizeof r, "sin(%s)", a); break;
    case OP_COS: snprintf(r, sizeof r, "cos(%s)", a); break;
    case OP_RELU: snprintf(r, sizeof r, "(%s <= 0.0f ? 0.0f : %s)", a, a); break;
    case OP_SIGMOID:
        snprintf(r, sizeof r, "(%s >= 0.0f ? 1.0f / (1.0f + exp(-fabs(%s))) : exp(-fabs(%s)) / (1.0f + exp(-fabs(%s))))",
                 a, a, a, a);
        break;
    case OP_SOFTPLUS: snprintf(r, sizeof r, "((%s > 0.0f ? %s : 0.0f) + log1p(exp(-fabs(%s))))", a, a, a); break;
    case OP_GELU: {
        char c1[48], c2[48];
        g->helpers |= HELP_SATURATE;
        if (e->attr.gelu.approximate == GELU_TANH) {
            ocl_float_literal((float)0.79788456080286535588, c1, sizeof c1);
            ocl_float_literal((float)0.044715, c2, sizeof c2);
            snprintf(r, sizeof r, "(0.5f * %s * (1.0f + vit_tanh(%s * (%s + %s * (%s * %s * %s)))))", a, c1, a, c2, a,
                     a, a);
        } else {
            ocl_float_literal((float)0.70710678118654752440, c1, sizeof c1);
            snprintf(r, sizeof r, "(0.5f * %s * (1.0f + vit_erf(%s * %s)))", a, a, c1);
        }
        break;
    }
    case OP_ADD: snprintf(r, sizeof r, "(%s + %s)", a, b); break;
    case OP_SUB: snprintf(r, sizeof r, "(%s - %s)", a, b); break;
    case OP_MUL: snprintf(r, sizeof r, "(%s * %s)", a, b); break;
    case OP_DIV: snprintf(r, sizeof r, "(%s / %s)", a, b); break;
    case OP_POW: snprintf(r, sizeof r, "pow(%s, %s)", a, b); break;
    case OP_MAX: snprintf(r, sizeof r, "(isnan(%s) || isnan(%s) ? NAN : %s > %s ? %s : %s)", a, b, a, b, a, b); break;
    case OP_MIN: snprintf(r, sizeof r, "(isnan(%s) || isnan(%s) ? NAN : %s < %s ? %s : %s)", a, b, a, b, a, b); break;
    default: return false;
    }
    round_float(g, r, e->dt, o, n);
    return true;
}

/* ---- expressions ---- */

static const char *expr(OGen *g, const OPoint *pt, int32_t e);

static const char *named(OGen *g, int32_t e, DType dt, const char *text)
{
    char name[24];
    ogen_fresh(g, name, sizeof name);
    ogen_line(g, "const %s %s = %s;", ocl_value_type(dt), name, text);
    snprintf(g->ename[e], sizeof g->ename[e], "%s", name);
    return g->ename[e];
}

static const char *load_view(OGen *g, const OPoint *pt, int32_t in, int32_t e, DType dt)
{
    const Kernel *k = g->k;
    const View *v = &k->in[in];
    int32_t r = k->out.rank;
    char off[1200];
    if (v->rank != r) {
        ogen_fail(g, "internal error: kernel %d loads view in%d of rank %d at an index of rank %d", g->ki, in,
                  v->rank, r);
        return "0";
    }
    if (pt->rowbase && pt->rowbase[in])
        ocl_step(pt->rowbase[in], r > 0 ? pt->idx[r - 1] : NULL, r > 0 ? v->strides[r - 1] : dim_const(0), off,
                 sizeof off);
    else
        ocl_view_offset(v, pt->idx, r, off, sizeof off);
    char name[24];
    ogen_fresh(g, name, sizeof name);
    ocl_load(g, v->buf, off, dt, name);
    snprintf(g->ename[e], sizeof g->ename[e], "%s", name);
    return g->ename[e];
}

static const char *expr(OGen *g, const OPoint *pt, int32_t e)
{
    const Kernel *k = g->k;
    if (g->failed)
        return "0";
    if (e < 0 || e >= k->nexpr) {
        ogen_fail(g, "internal error: kernel %d: expression %d out of range", g->ki, e);
        return "0";
    }
    if (g->ename[e][0])
        return g->ename[e];
    const Expr *x = &k->expr[e];
    char text[1400];
    switch (x->kind) {
    case EX_LOAD:
        if (x->a < 0 || x->a >= k->nin)
            break;
        return load_view(g, pt, x->a, e, x->dt);
    case EX_CONST:
        constant(x, text, sizeof text);
        return named(g, e, x->dt, text);
    case EX_INDEX:
        if (x->a < 0 || x->a >= k->out.rank || !pt->idx[x->a])
            break;
        ocl_convert(g, pt->idx[x->a], DT_I64, x->dt, text, sizeof text);
        return named(g, e, x->dt, text);
    case EX_ACC:
        if (!pt->acc)
            break;
        return named(g, e, x->dt, pt->acc);
    case EX_OP: {
        int nin = ir_ops[x->op].nin;
        if (!(ir_ops[x->op].flags & OPF_EW) || nin < 1 || nin > 3) {
            ogen_fail(g, "kernel %d: '%s' is not an elementwise op", g->ki, ir_ops[x->op].name);
            return "0";
        }
        int32_t ids[3] = {x->a, x->b, x->c};
        char ops[3][24] = {"", "", ""};
        for (int i = 0; i < nin; i++)
            snprintf(ops[i], sizeof ops[i], "%s", expr(g, pt, ids[i]));
        if (g->failed)
            return "0";
        if (!op_text(g, x, k->expr[x->a].dt, ops[0], ops[1], ops[2], text, sizeof text)) {
            ogen_fail(g, "kernel %d: the OpenCL backend cannot generate '%s' on %s", g->ki, ir_ops[x->op].name,
                      dtype_name(k->expr[x->a].dt));
            return "0";
        }
        return named(g, e, x->dt, text);
    }
    }
    ogen_fail(g, "internal error: kernel %d: malformed expression %d", g->ki, e);
    return "0";
}

void ocl_store_result(OGen *g, const OPoint *pt, const char *outbase)
{
    const Kernel *k = g->k;
    int32_t r = k->out.rank;
    for (int32_t e = 0; e < k->nexpr; e++)
        g->ename[e][0] = 0;
    char v[24], off[1200];
    snprintf(v, sizeof v, "%s", expr(g, pt, k->root));
    if (g->failed)
        return;
    if (r > 0)
        ocl_step(outbase, pt->idx[r - 1], k->out.strides[r - 1], off, sizeof off);
    else
        snprintf(off, sizeof off, "%s", outbase);
    ocl_store(g, k->out.buf, off, v, k->expr[k->root].dt);
}

/* ---- helpers ---- */

static const char help_f16[] =
    "/* f32 -> f16 bits, nearest even (F. Giesen's float_to_half_fast3_rtne) and back */\n"
    "static inline ushort vit_f2h(float f)\n{\n"
    "    uint u = as_uint(f), sign = u & 0x80000000u, a = u ^ sign, o;\n"
    "    if (a >= 0x47800000u)\n        o = a > 0x7f800000u ? 0x7e00u : 0x7c00u;\n"
    "    else if (a < 0x38800000u)\n        o = as_uint(as_float(a) + 0.5f) - 0x3f000000u;\n"
    "    else\n        o = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;\n"
    "    return (ushort)(o | (sign >> 16));\n}\n"
    "static inline float vit_h2f(ushort h)\n{\n"
    "    uint o = ((uint)h & 0x7fffu) << 13, e = o & 0x0f800000u;\n"
    "    o += 0x38000000u;\n"
    "    if (e == 0x0f800000u)\n        o += 0x38000000u;\n"
    "    else if (e == 0u)\n        o = as_uint(as_float(o + 0x00800000u) - as_float(0x38800000u));\n"
    "    return as_float(o | (((uint)h & 0x8000u) << 16));\n}\n"
    "static inline float vit_rh(float f) { return vit_h2f(vit_f2h(f)); }\n\n";

static const char help_bf16[] =
    "/* f32 -> bf16 bits, nearest even (NaN stays NaN) and back */\n"
    "static inline ushort vit_f2b(float f)\n{\n"
    "    uint u = as_uint(f);\n"
    "    if (isnan(f))\n        return (ushort)((u >> 16) | 0x40u);\n"
    "    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);\n}\n"
    "static inline float vit_b2f(ushort h) { return as_float((uint)h << 16); }\n"
    "static inline float vit_rb(float f) { return vit_b2f(vit_f2b(f)); }\n\n";

static const char help_i2bf16[] =
    "/* |x| rounded to `bits` significant bits, nearest even */\n"
    "static inline ulong vit_round_bits(ulong a, int bits)\n{\n"
    "    int n = 64 - (int)clz(a);\n"
    "    if (n <= bits)\n        return a;\n"
    "    int sh = n - bits;\n"
    "    ulong rem = a & ((1ul << sh) - 1ul), hf = 1ul << (sh - 1), q = a >> sh;\n"
    "    if (rem > hf || (rem == hf && (q & 1ul)))\n        q++;\n"
    "    return q << sh;\n}\n"
    "/* an integer to bf16 as (double)x rounded to bf16: 53 bits, then 8 */\n"
    "static inline float vit_i2b(long x)\n{\n"
    "    ulong a = x < 0 ? (ulong)0 - (ulong)x : (ulong)x;\n"
    "    float f = convert_float(vit_round_bits(vit_round_bits(a, 53), 8));\n"
    "    return x < 0 ? -f : f;\n}\n\n";

static const char help_ipow[] =
    "/* a ** e wrapping (square and multiply); e < 0: 1 for a = 1, +-1 for a = -1, else 0 */\n"
    "static inline %s vit_ipow%d(%s a, %s e)\n{\n"
    "    if (e < 0)\n        return a == 1 ? 1 : a == -1 ? ((e & 1) ? -1 : 1) : 0;\n"
    "    %s acc = 1, base = (%s)a, x = (%s)e;\n"
    "    while (x) {\n        if (x & 1)\n            acc *= base;\n        base *= base;\n        x >>= 1;\n    }\n"
    "    return %s(acc);\n}\n\n";

/* tanh exactly +-1 where the f32 result is (PoCL's vector tanh stops at 1 - 2^-24, and GELU's
 * tail 1 + tanh must be 0); erf our own (PoCL's costs ~30 ns): x + x·P(x²) below 0.875,
 * 1 - e^(-(a + a·R(a))) below 4, ±1 beyond, P and R least-squares fits made for vitc
 * (max error 1.0 ulp with a correctly rounded exp, measured on 222000 points) */
static const char help_saturate[] =
    "static inline float vit_tanh(float x) { return fabs(x) >= 9.1f ? copysign(1.0f, x) : tanh(x); }\n"
    "static inline float vit_erf(float x)\n{\n"
    "    const float a = fabs(x);\n"
    "    if (a < 0.875f) {\n"
    "        const float t = x * x;\n"
    "        float r = -0x1.463becp-11f;\n"
    "        r = fma(r, t, 0x1.4a07e8p-8f);\n"
    "        r = fma(r, t, -0x1.b6fdfep-6f);\n"
    "        r = fma(r, t, 0x1.ce21d8p-4f);\n"
    "        r = fma(r, t, -0x1.81271p-2f);\n"
    "        r = fma(r, t, 0x1.06eba6p-3f);\n"
    "        return fma(r, x, x);\n"
    "    }\n"
    "    if (a < 4.0f) {\n"
    "        float r = 0x1.472cd6p-17f;\n"
    "        r = fma(r, a, -0x1.42fe8ep-12f);\n"
    "        r = fma(r, a, 0x1.d594b2p-9f);\n"
    "        r = fma(r, a, -0x1.8340b8p-6f);\n"
    "        r = fma(r, a, 0x1.b28cc6p-4f);\n"
    "        r = fma(r, a, 0x1.453e08p-1f);\n"
    "        r = fma(r, a, 0x1.076da2p-3f);\n"
    "        const float e = exp(-fma(r, a, a));\n"
    "        return x > 0.0f ? 1.0f - e : e - 1.0f;\n"
    "    }\n"
    "    return isnan(x) ? x : copysign(1.0f, x);\n}\n\n";

void ocl_helpers(Str *s, unsigned helpers)
{
    if (helpers & HELP_SATURATE)
        str_add(s, help_saturate);
    if (helpers & HELP_MOE_SORT)
        str_add(s, ocl_moe_sort_helper());
    if (helpers & HELP_F16)
        str_add(s, help_f16);
    if (helpers & HELP_BF16)
        str_add(s, help_bf16);
    if (helpers & HELP_I2BF16)
        str_add(s, help_i2bf16);
    if (helpers & HELP_IPOW32)
        str_addf(s, help_ipow, "int", 32, "int", "int", "uint", "uint", "uint", "as_int");
    if (helpers & HELP_IPOW64)
        str_addf(s, help_ipow, "long", 64, "long", "long", "ulong", "ulong", "ulong", "as_long");
}
