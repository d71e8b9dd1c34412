/* test_opencl.c — the OpenCL backend's elementwise kernels on PoCL against the interpreter
 * and plan_exec (test_opencl.h): every elementwise op of ops.def on f32 with NaN, ±inf,
 * ±0 and huge values, on f16 and bf16 storage (rounded after every op), on i32 and i64
 * (wrapping; the defined results of x/0, MIN/-1 and 0**-n), bool logic and select, casts
 * between every pair of dtypes (exact: rounding, truncation, saturation, NaN, f16
 * overflow, int → bf16 through double), strided views (transpose, stepped slice,
 * broadcast), constants, iota, concat and a symbolic batch bound to 1 and 3 (the cases of
 * backend_cases.c, several ops per graph). Programs come from binaries built ahead of
 * time, except for views_and_chains: from source at run time.
 */
#include "test_opencl.h"

static const Backend opencl = {"OpenCL", oc_backend_check, NULL};

/* several ops per graph, one output each */
static void check_unary(const Op *ops, int nops, int gelu_form, DType dt, double lo, double hi, double tol)
{
    bc_unary(&opencl, ops, nops, gelu_form, dt, lo, hi, tol, 7, dtype_is_float(dt));
}

static void check_binary(const Op *ops, int nops, DType dt, double lo, double hi, double tol, bool specials_too)
{
    bc_binary(&opencl, ops, nops, dt, lo, hi, tol, specials_too, 0);
}

static void test_unary_float(void **state)
{
    (void)state;
    static const Op ops[] = {OP_NEG, OP_ABS, OP_EXP, OP_LOG, OP_SQRT, OP_RSQRT, OP_TANH, OP_ERF,
                             OP_SIGMOID, OP_RELU, OP_SOFTPLUS, OP_SIN, OP_COS, OP_GELU};
    check_unary(ops, 14, GELU_ERF, DT_F32, -6, 6, 2e-6);
    check_unary((const Op[]){OP_GELU}, 1, GELU_TANH, DT_F32, -6, 6, 2e-6);
}

static void test_unary_half(void **state)
{
    (void)state;
    static const Op ops[] = {OP_NEG, OP_EXP, OP_SQRT, OP_TANH, OP_RELU, OP_GELU};
    check_unary(ops, 6, GELU_ERF, DT_F16, -6, 6, 1e-3);
    check_unary(ops, 6, GELU_TANH, DT_BF16, -6, 6, 8e-3);
}

static void test_binary_float(void **state)
{
    (void)state;
    static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAX, OP_MIN,
                             OP_EQ,  OP_NE,  OP_LT,  OP_LE,  OP_GT,  OP_GE};
    check_binary(ops, 13, DT_F32, -3, 3, 1e-6, true);
    static const Op half[] = {OP_ADD, OP_MUL, OP_DIV, OP_MAX, OP_LT};
    check_binary(half, 5, DT_F16, -3, 3, 0, false);
    check_binary(half, 5, DT_BF16, -3, 3, 0, false);
    check_binary((const Op[]){OP_POW}, 1, DT_F16, -3, 3, 1e-3, false);
}

static void test_binary_int(void **state)
{
    (void)state;
    static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_MAX, OP_MIN, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
    static const Op un[] = {OP_NEG, OP_ABS, OP_RELU};
    for (int d = 0; d < 2; d++) {
        DType dt = d ? DT_I64 : DT_I32;
        check_binary(ops, 11, dt, -3e9, 3e9, 0, false); /* wraps */
        check_unary(un, 3, 0, dt, -1e9, 1e9, 0);
    }
}

/* cast from every dtype to every dtype (one graph per source dtype) */
static void test_casts(void **state)
{
    (void)state;
    bc_casts(&opencl, false);
}

int main(void)
{
    static const OcCheck source = {.no_build = true}; /* programs built from source at run time */
    const Backend from_source = oc_backend(&source);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_float),          cmocka_unit_test(test_unary_half),
        cmocka_unit_test(test_binary_float),         cmocka_unit_test(test_binary_int),
        bc_unit_test(div_pow_int, &opencl),          bc_unit_test(int_errors_defined, &opencl),
        bc_unit_test(logic_select, &opencl),         cmocka_unit_test(test_casts),
        bc_unit_test(views_and_chains, &from_source), bc_unit_test(concat_symbolic, &opencl), bc_unit_test(short_rows, &opencl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
