/* test_llvm.c — the LLVM backend's kernels against the interpreter and plan_exec: every
 * elementwise op of ops.def (f32, integers, bool, f16/bf16 storage), casts between all
 * dtypes, broadcasting and strided views, iota (the cases of backend_cases.c, one op per
 * graph), short rows run as longer ones. GEMM, row, reduce and gather kernels are in test_llvm_kernels.c, whole models in
 * test_llvm_models.c, targets in test_llvm_target.c.
 */
#include "test_interp.h"
#include "test_llvm.h"

static const Backend llvm = {"LLVM", tl_backend_check, NULL};

/* one op per graph, its inputs seeded by the op */
static void check_unary(Op op, int gelu_form, DType dt, double lo, double hi, double tol)
{
    bc_unary(&llvm, &op, 1, gelu_form, dt, lo, hi, tol, (uint64_t)op + 7, true);
}

static void check_binary(Op op, DType dt, double lo, double hi, double tol, bool specials_too)
{
    bc_binary(&llvm, &op, 1, dt, lo, hi, tol, specials_too, (uint64_t)op);
}

static void test_unary_float(void **state)
{
    (void)state;
    static const Op ops[] = {OP_NEG, OP_ABS, OP_EXP, OP_LOG, OP_SQRT, OP_RSQRT, OP_TANH, OP_ERF,
                             OP_SIGMOID, OP_RELU, OP_SOFTPLUS, OP_SIN, OP_COS, OP_GELU};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        check_unary(ops[i], GELU_ERF, DT_F32, -6, 6, 2e-6);
    check_unary(OP_GELU, GELU_TANH, DT_F32, -6, 6, 2e-6);
}

/* f16 and bf16 values computed in f32 and rounded after every op: within one ulp of the
 * interpreter (which rounds the double result once). */
static void test_unary_half(void **state)
{
    (void)state;
    static const Op ops[] = {OP_NEG, OP_ABS, OP_EXP, OP_LOG, OP_SQRT, OP_TANH, OP_SIGMOID, OP_RELU, OP_GELU};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        check_unary(ops[i], GELU_ERF, DT_F16, -6, 6, 1e-3);
        check_unary(ops[i], GELU_TANH, DT_BF16, -6, 6, 8e-3);
    }
}

static void test_binary_float(void **state)
{
    (void)state;
    static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAX, OP_MIN,
                             OP_EQ,  OP_NE,  OP_LT,  OP_LE,  OP_GT,  OP_GE};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        check_binary(ops[i], DT_F32, -3, 3, 1e-6, true);
        check_binary(ops[i], DT_F16, -3, 3, ops[i] == OP_POW ? 1e-3 : 0, false);
        check_binary(ops[i], DT_BF16, -3, 3, ops[i] == OP_POW ? 8e-3 : 0, false);
    }
}

/* Integers: exact, wrapping (large operands make mul and pow overflow). */
static void test_binary_int(void **state)
{
    (void)state;
    static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_MAX, OP_MIN, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
    static const DType dts[] = {DT_I32, DT_I64};
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
            check_binary(ops[i], dts[d], -9, 9, 0, false);
            check_binary(ops[i], dts[d], -3e9, 3e9, 0, false);
        }
        check_unary(OP_NEG, 0, dts[d], -1e9, 1e9, 0);
        check_unary(OP_ABS, 0, dts[d], -1e9, 1e9, 0);
        check_unary(OP_RELU, 0, dts[d], -1e9, 1e9, 0);
    }
}

/* cast from every dtype to every dtype, one graph per pair */
static void test_casts(void **state)
{
    (void)state;
    bc_casts(&llvm, true);
}

/* A malformed kernel (an operand index out of range, an input as its output, a view of the
 * wrong rank) fails the plan's check with the kernel named, and the backend refuses it
 * instead of generating code. */
/* The elementwise kernels of bc_short_rows_graph: rows of 3 floats run as rows of 4·3 where
 * every view is contiguous across the last two dims (the copy, the broadcast y), as they are
 * elsewhere (a bias [3] steps by 0 then 1; an iota reads the index of axis 4). Their values:
 * bc_short_rows. */
static void test_short_rows_coalesced(void **state)
{
    (void)state;
    Graph *g = bc_short_rows_graph();
    IrError err;
    Plan *p = plan_build(g, &err);
    assert_non_null(p);
    LlvmOptions lo = {.opt_level = 0};
    LlvmJit *j = llvm_jit_new(p, &lo, &err);
    assert_non_null(j);
    static const struct {
        const char *out;
        int64_t rows;
    } want[] = {{"patches", 2 * 2 * 2 * 4}, {"shift", 2 * 2 * 2 * 4}, {"bias", 2 * 2 * 2 * 4 * 4},
                {"index", 2 * 2 * 2 * 4 * 4}};
    int64_t bind[1] = {0};
    for (int w = 0; w < 4; w++) {
        int32_t ki = -1;
        for (int32_t i = 0; i < p->nkernels; i++) {
            const Buffer *b = &p->bufs[p->kernels[i].out.buf];
            if (b->kind == BUF_OUTPUT && b->name && strcmp(b->name, want[w].out) == 0)
                ki = i;
        }
        assert_true(ki >= 0);
        assert_int_equal(p->kernels[ki].kind, KK_ELEMENTWISE);
        int64_t rows = llvm_jit_extent(j, ki)(bind);
        if (rows != want[w].rows)
            fail_msg("%s: %lld rows, want %lld", want[w].out, (long long)rows, (long long)want[w].rows);
    }
    llvm_jit_free(j);
    plan_free(p);
    ir_graph_free(g);
}

static void test_malformed_kernel(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    Type tx = {DT_F32, {2, {dim_const(4), dim_const(8)}}}, tw = {DT_F32, {2, {dim_const(8), dim_const(3)}}};
    int32_t x = input(g, "x", tx), w = input(g, "w", tw);
    assert_true(ir_add_output(g, "y", node(g, OP_MATMUL, (int32_t[]){x, w}, 2, NULL)));
    IrError err;
    Plan *p = plan_build(g, &err);
    assert_non_null(p);
    char msg[256];
    int32_t gemm = -1;
    for (int32_t i = 0; i < p->nkernels; i++) {
        assert_true(plan_kernel_check(p, i, msg, sizeof msg));
        if (p->kernels[i].kind == KK_GEMM)
            gemm = i;
    }
    assert_true(gemm >= 0);
    Kernel *k = &p->kernels[gemm];
    int32_t a = k->u.gemm.a;
    k->u.gemm.a = k->nin; /* out of range */
    assert_false(plan_kernel_check(p, gemm, msg, sizeof msg));
    assert_non_null(strstr(msg, "GEMM kernel has operands of the wrong rank"));
    k->u.gemm.a = a;
    int32_t out = k->out.buf;
    k->out.buf = k->in[a].buf; /* writing the input x, which the runtime reads in place */
    assert_false(plan_kernel_check(p, gemm, msg, sizeof msg));
    assert_non_null(strstr(msg, "an output that is an input"));
    k->out.buf = out;
    k->in[a].rank = 1; /* A of rank 1 under an output of rank 2 */
    assert_false(plan_kernel_check(p, gemm, msg, sizeof msg));
    LlvmOptions lo = {.opt_level = 0};
    LlvmJit *j = llvm_jit_new(p, &lo, &err);
    assert_null(j);
    assert_non_null(strstr(err.msg, "internal error: kernel"));
    assert_non_null(strstr(err.msg, "wrong rank"));
    plan_free(p);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_float),          cmocka_unit_test(test_unary_half),
        cmocka_unit_test(test_binary_float),         cmocka_unit_test(test_binary_int),
        bc_unit_test(div_pow_int, &llvm),            bc_unit_test(int_errors_defined, &llvm),
        bc_unit_test(logic_select, &llvm),           cmocka_unit_test(test_casts),
        bc_unit_test(views_and_chains, &llvm),       bc_unit_test(concat_symbolic, &llvm),
        bc_unit_test(short_rows, &llvm),             cmocka_unit_test(test_short_rows_coalesced),
        cmocka_unit_test(test_malformed_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
