/* test_vmath.c — the float math the LLVM backend generates (backends/llvm/llvm_math.c:
 * exp, log, erf, tanh, both GELUs, and sigmoid and softplus built on them) against double
 * libm, element by element, over wide ranges: every sign and binade from the smallest
 * subnormal to FLT_MAX, dense sweeps where the approximations switch (0.625, 1, 3.95,
 * the exp overflow and underflow thresholds), ±0, ±inf and NaN.
 *
 * Each function runs as a JIT-compiled elementwise kernel twice: on a long row (the
 * vector path, with a masked tail) and on rows of 2 (the scalar path), and on every ISA
 * the host can run (AVX-512, AVX2, SSE through LlvmOptions features). Tolerance: 1e-6
 * relative (plus one subnormal ulp, 2^-149, where the result is subnormal); GELU also
 * 1e-7 absolute (its erf-form value below x = -5.6 is under 3e-8 and computed as 0). The
 * worst errors seen are printed in ulps.
 */
#include <float.h>

#include "test_interp.h"
#include "test_llvm.h"

enum { F_EXP, F_LOG, F_ERF, F_TANH, F_GELU, F_GELU_TANH, F_SIGMOID, F_SOFTPLUS, NF };
static const char *const names[NF] = {"exp", "log", "erf", "tanh", "gelu", "gelu_tanh", "sigmoid", "softplus"};
static const Op ops[NF] = {OP_EXP, OP_LOG, OP_ERF, OP_TANH, OP_GELU, OP_GELU, OP_SIGMOID, OP_SOFTPLUS};

static double exact(int f, double x)
{
    switch (f) {
    case F_EXP: return exp(x);
    case F_LOG: return log(x);
    case F_ERF: return erf(x);
    case F_TANH: return tanh(x);
    case F_GELU: return isinf(x) ? (x > 0 ? x : NAN) : 0.5 * x * erfc(-x / sqrt(2.0));
    case F_GELU_TANH: {
        if (isinf(x))
            return x > 0 ? x : NAN;
        double y = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
        return x / (1 + exp(-2 * y));
    }
    case F_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    default: return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
    }
}

/* The test inputs: n floats (an even count). */
static float *make_inputs(int *n)
{
    int cap = 200000, k = 0;
    float *x = malloc(sizeof *x * (size_t)cap);
    assert_non_null(x);
#define PUT(v) (k < cap ? (void)(x[k++] = (float)(v)) : (void)0)
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX,
                              0x1p-149f, -0x1p-149f, 1e-40f, -1e-40f, 1.0f, -1.0f, 0.625f, -0.625f,
                              3.95f, -3.95f, 88.72283f, 88.7228394f, 88.8f, 89.0f, -87.33654f, -103.97f,
                              -104.0f, -105.0f, 1e30f, -1e30f};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++)
        PUT(specials[i]);
    /* every binade, both signs: 64 points per binade from 2^-149 to 2^127 */
    for (int e = -149; e <= 127; e++)
        for (int j = 0; j < 64; j++) {
            double v = ldexp(1.0 + j / 64.0, e);
            if (v < FLT_MAX) {
                PUT(v);
                PUT(-v);
            }
        }
    /* dense sweeps where the code switches approximations, and the ranges models live in */
    const struct {
        double lo, hi;
        int n;
    } sweeps[] = {{-12, 12, 60000}, {-110, 95, 20000}, {-1.1, 1.1, 20000}, {0.55, 0.7, 4000}, {-0.7, -0.55, 4000},
                  {3.8, 4.1, 4000}, {-4.1, -3.8, 4000}, {88.6, 88.8, 2000}, {-105, -86, 6000}, {1e-8, 1e-3, 2000}};
    for (size_t s = 0; s < sizeof sweeps / sizeof *sweeps; s++)
        for (int i = 0; i < sweeps[s].n; i++)
            PUT(sweeps[s].lo + (sweeps[s].hi - sweeps[s].lo) * (i + 0.5) / sweeps[s].n);
    /* around the switch points: neighbours in ulps */
    const float around[] = {0.625f, 1.0f, 3.95f, 88.7228394f, -87.3365479f, -103.972084f};
    for (size_t i = 0; i < sizeof around / sizeof *around; i++) {
        float lo = around[i], hi = around[i];
        for (int j = 0; j < 40; j++) {
            PUT(lo = nextafterf(lo, -INFINITY));
            PUT(hi = nextafterf(hi, INFINITY));
            PUT(-lo);
            PUT(-hi);
        }
    }
#undef PUT
    if (k % 2)
        x[k++] = 0.5f;
    *n = k;
    return x;
}

static double ulp_of(double v)
{
    float f = (float)fabs(v);
    if (!(f < FLT_MAX))
        return 0x1p104;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

/* Runs every function on x (shaped [n] or [n/2, 2]) with the options lo and checks it. */
static void check_isa(const char *isa, const char *features, const float *x, int n, bool scalar_rows)
{
    Graph *g = ir_graph_new("vmath");
    int64_t dims[2] = {scalar_rows ? n / 2 : n, 2};
    int rank = scalar_rows ? 2 : 1;
    int32_t in = input(g, "x", ty(DT_F32, rank, dims));
    for (int f = 0; f < NF; f++) {
        Attr a = attr_of(ops[f]);
        if (ops[f] == OP_GELU)
            a.gelu.approximate = f == F_GELU_TANH ? GELU_TANH : GELU_ERF;
        int32_t y = node(g, ops[f], &in, 1, ops[f] == OP_GELU ? &a : NULL);
        assert_true(ir_add_output(g, names[f], y));
    }
    IrError err;
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    LlvmOptions lo = {.cpu = features ? "host" : NULL, .features = features, .opt_level = 2};
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    if (!jit)
        fail_msg("%s: llvm_jit_new: %s", isa, err.msg);
    Tensor *t = tensor_new(DT_F32, rank, dims);
    assert_non_null(t);
    for (int i = 0; i < n; i++)
        t->f[i] = x[i];
    NamedTensor nt = {"x", t};
    Tensor *out[NF] = {0};
    char msg[256] = "";
    if (!tl_run(p, jit, NULL, &nt, 1, 1, out, NULL, msg, sizeof msg))
        fail_msg("%s: run: %s", isa, msg);
    for (int f = 0; f < NF; f++) {
        double worst = 0, worst_ulp = 0, at = 0;
        double abs_tol = (f == F_GELU || f == F_GELU_TANH) ? 1e-7 : 0x1p-149;
        for (int i = 0; i < n; i++) {
            double got = out[f]->f[i], want = exact(f, (double)x[i]);
            if (isnan(want) || isnan(got)) {
                if (isnan(want) != isnan(got))
                    fail_msg("%s %s(%.9g) = %.9g, want %.9g", isa, names[f], (double)x[i], got, want);
                continue;
            }
            double wf = (double)(float)want; /* the exact value as a float (±inf beyond FLT_MAX) */
            if (isinf(wf) || isinf(got)) {
                if (got != wf)
                    fail_msg("%s %s(%.9g) = %.9g, want %.9g", isa, names[f], (double)x[i], got, want);
                continue;
            }
            double err_abs = fabs(got - want);
            if (err_abs > 1e-6 * fabs(want) + abs_tol)
                fail_msg("%s %s(%.9g) = %.9g, want %.9g (relative error %.3g)", isa, names[f], (double)x[i], got,
                         want, err_abs / fabs(want));
            double rel = want != 0 ? err_abs / fabs(want) : 0, u = err_abs / ulp_of(want);
            if (rel > worst && fabs(want) > FLT_MIN && err_abs > abs_tol) {
                worst = rel;
                at = x[i];
            }
            if (u > worst_ulp && fabs(want) > FLT_MIN && err_abs > abs_tol)
                worst_ulp = u;
        }
        print_message("  %-7s %-6s %-9s worst %.2e relative (%.1f ulp) at %.7g\n", isa, scalar_rows ? "scalar" : "vector",
                      names[f], worst, worst_ulp, at);
        tensor_free(out[f]);
    }
    tensor_free(t);
    llvm_jit_free(jit);
    plan_free(p);
    ir_graph_free(g);
}

static bool host_has(const char *what)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(what, "avx512") == 0)
        return __builtin_cpu_supports("avx512f");
    if (strcmp(what, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return strcmp(what, "sse") == 0;
#else
    (void)what;
    return false;
#endif
}

static void test_math_accuracy(void **state)
{
    (void)state;
    int n;
    float *x = make_inputs(&n);
    check_isa("host", NULL, x, n, false);
    check_isa("host", NULL, x, n, true);
    if (host_has("avx512"))
        check_isa("avx512", "+avx512f,+avx512dq,+avx512bw,+avx512vl", x, n, false);
    if (host_has("avx2"))
        check_isa("avx2", "+avx2,+fma,-avx512f", x, n, false);
    if (host_has("sse"))
        check_isa("sse", "-avx,-fma", x, n, false);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_math_accuracy)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
