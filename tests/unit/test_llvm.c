/* test_llvm.c — the LLVM backend's kernels against the interpreter and plan_exec: every
 * elementwise op of ops.def (f32, integers, bool, f16/bf16 storage), casts between all
 * dtypes, broadcasting and strided views, iota. GEMM, row, reduce and gather kernels are in
 * test_llvm_kernels.c, whole models in test_llvm_models.c, targets in test_llvm_target.c.
 */
#include "test_interp.h"
#include "test_llvm.h"

/* Special float values every unary op sees besides random ones. */
static const double specials[] = {0,     -0.0,  1,    -1,   INFINITY, -INFINITY, NAN, 1e-30, 100, -100, 88.5,
                                  -88.5, 1e30,  -1e30, 0.5, 3,       -3,        2.5, -2.5,  10,  -10,  1e-3};
enum { NSPECIAL = sizeof specials / sizeof *specials };

/* x (f32 [4, 33], random in [lo, hi] with the special values first) -> op -> out */
static void check_unary(Op op, int gelu_form, DType dt, double lo, double hi, double tol)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 2, DIMS(4, 33)));
    Attr a = attr_of(op);
    if (op == OP_GELU)
        a.gelu.approximate = gelu_form;
    int32_t y = node(g, op, &x, 1, &a);
    assert_true(ir_add_output(g, "out", y));
    Tensor *t = tl_random(dt, 2, DIMS(4, 33), lo, hi, (uint64_t)op + 7);
    for (int i = 0; i < NSPECIAL; i++)
        tensor_set(t, i, specials[i]);
    NamedTensor in = {"x", t};
    print_message("%s%s on %s\n", ir_ops[op].name, op == OP_GELU ? (gelu_form ? " (tanh)" : " (erf)") : "",
                  dtype_name(dt));
    tl_check(g, NULL, &in, 1, tol, NULL, NULL);
    tensor_free(t);
    ir_graph_free(g);
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

/* a [3, 1, 5] op b [4, 5] -> [3, 4, 5] */
static void check_binary(Op op, DType dt, double lo, double hi, double tol, bool specials_too)
{
    Graph *g = ir_graph_new("t");
    int32_t in[2] = {input(g, "a", ty(dt, 3, DIMS(3, 1, 5))), input(g, "b", ty(dt, 2, DIMS(4, 5)))};
    int32_t y = node(g, op, in, 2, NULL);
    assert_true(ir_add_output(g, "out", y));
    Tensor *a = tl_random(dt, 3, DIMS(3, 1, 5), lo, hi, 11 + (uint64_t)op);
    Tensor *b = tl_random(dt, 2, DIMS(4, 5), lo, hi, 23 + (uint64_t)op);
    if (specials_too)
        for (int i = 0; i < 15 && i < NSPECIAL; i++) {
            tensor_set(a, i, specials[i]);
            tensor_set(b, i, specials[(i * 7) % NSPECIAL]);
        }
    NamedTensor nt[2] = {{"a", a}, {"b", b}};
    print_message("%s on %s\n", ir_ops[op].name, dtype_name(dt));
    tl_check(g, NULL, nt, 2, tol, NULL, NULL);
    tensor_free(a);
    tensor_free(b);
    ir_graph_free(g);
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

/* div and pow where the interpreter has no error: non-zero divisors, no 0^negative */
static void test_div_pow_int(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        DType dt = d ? DT_I64 : DT_I32;
        Graph *g = ir_graph_new("t");
        int32_t a = input(g, "a", ty(dt, 1, DIMS(40))), b = input(g, "b", ty(dt, 1, DIMS(40)));
        int32_t q = node(g, OP_DIV, (int32_t[]){a, b}, 2, NULL), p = node(g, OP_POW, (int32_t[]){a, b}, 2, NULL);
        assert_true(ir_add_output(g, "q", q));
        assert_true(ir_add_output(g, "p", p));
        Tensor *ta = tl_random(dt, 1, DIMS(40), -50, 50, 3), *tb = tl_random(dt, 1, DIMS(40), -4, 12, 5);
        for (int64_t i = 0; i < 40; i++) {
            if (tb->i[i] == 0)
                tb->i[i] = 3;
            if (ta->i[i] == 0 && tb->i[i] < 0)
                ta->i[i] = 2;
        }
        ta->i[0] = dt == DT_I32 ? INT32_MIN : INT64_MIN, tb->i[0] = -1; /* wraps */
        ta->i[1] = 1, tb->i[1] = -3;
        ta->i[2] = -1, tb->i[2] = -3;
        ta->i[3] = -1, tb->i[3] = -4;
        ta->i[4] = 7, tb->i[4] = -2;
        NamedTensor nt[2] = {{"a", ta}, {"b", tb}};
        tl_check(g, NULL, nt, 2, 0, NULL, NULL);
        tensor_free(ta);
        tensor_free(tb);
        ir_graph_free(g);
    }
}

/* What generated code defines where the interpreter reports an error: x/0 = 0, 0^-n = 0. */
static void test_int_errors_defined(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", ty(DT_I32, 1, DIMS(4))), b = input(g, "b", ty(DT_I32, 1, DIMS(4)));
    int32_t q = node(g, OP_DIV, (int32_t[]){a, b}, 2, NULL), p = node(g, OP_POW, (int32_t[]){a, b}, 2, NULL);
    assert_true(ir_add_output(g, "q", q));
    assert_true(ir_add_output(g, "p", p));
    Tensor *ta = tensor_of(DT_I32, 1, DIMS(4), VALS(5, 0, -7, 2));
    Tensor *tb = tensor_of(DT_I32, 1, DIMS(4), VALS(0, -2, 0, 3));
    NamedTensor nt[2] = {{"a", ta}, {"b", tb}};
    Tensor *got[2] = {NULL, NULL};
    TlCheck c = {.no_reference = true};
    tl_check(g, NULL, nt, 2, 0, &c, got);
    check_vals(got[0], VALS(0, 0, 0, 0), 4, 0);
    check_vals(got[1], VALS(1, 0, 1, 8), 4, 0);
    tensor_free(got[0]);
    tensor_free(got[1]);
    tensor_free(ta);
    tensor_free(tb);
    ir_graph_free(g);
}

static void test_logic_select(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", ty(DT_BOOL, 2, DIMS(3, 8))), b = input(g, "b", ty(DT_BOOL, 1, DIMS(8)));
    int32_t x = input(g, "x", ty(DT_F32, 2, DIMS(3, 8))), y = input(g, "y", ty(DT_F32, 2, DIMS(1, 8)));
    int32_t n_and = node(g, OP_AND, (int32_t[]){a, b}, 2, NULL), n_or = node(g, OP_OR, (int32_t[]){a, b}, 2, NULL);
    int32_t n_not = node(g, OP_NOT, &a, 1, NULL);
    int32_t n_eq = node(g, OP_EQ, (int32_t[]){a, b}, 2, NULL), n_lt = node(g, OP_LT, (int32_t[]){a, b}, 2, NULL);
    int32_t sel = node(g, OP_SELECT, (int32_t[]){n_and, x, y}, 3, NULL);
    int32_t sel2 = node(g, OP_SELECT, (int32_t[]){n_lt, y, x}, 3, NULL);
    assert_true(ir_add_output(g, "and", n_and) && ir_add_output(g, "or", n_or) && ir_add_output(g, "not", n_not));
    assert_true(ir_add_output(g, "eq", n_eq) && ir_add_output(g, "sel", sel) && ir_add_output(g, "sel2", sel2));
    Tensor *ta = tl_random(DT_BOOL, 2, DIMS(3, 8), 0, 1, 1), *tb = tl_random(DT_BOOL, 1, DIMS(8), 0, 1, 2);
    Tensor *tx = tl_random(DT_F32, 2, DIMS(3, 8), -1, 1, 3), *tyy = tl_random(DT_F32, 2, DIMS(1, 8), -1, 1, 4);
    NamedTensor nt[4] = {{"a", ta}, {"b", tb}, {"x", tx}, {"y", tyy}};
    tl_check(g, NULL, nt, 4, 0, NULL, NULL);
    tensor_free(ta);
    tensor_free(tb);
    tensor_free(tx);
    tensor_free(tyy);
    ir_graph_free(g);
}

/* cast from every dtype to every dtype, with values that round, truncate, saturate,
 * overflow f16 and carry NaN and infinities; exact. */
static void test_casts(void **state)
{
    (void)state;
    static const double fvals[] = {0.5,  -1.5, 2.5,     1e10, -1e10, NAN,   INFINITY, -INFINITY, 65520,  65519,
                                   3.14159, 1e-8, -0.0, 300.7, -2.5e9, 5e-5, 1e-7,   -128.9,   4e9,    0.1};
    static const double ivals[] = {0,         1,          -1,           127,      65504,      65520,
                                   16777217,  -16777219,  2147483647,   -2147483648.0, 3e9,  -3e9,
                                   9007199254740993.0, 1e15 + 1, 33554435, -33554433, 257, 513, -70000, 123456789};
    enum { N = 20 };
    for (int from = 0; from < DT_COUNT; from++)
        for (int to = 0; to < DT_COUNT; to++) {
            Graph *g = ir_graph_new("t");
            int32_t x = input(g, "x", ty((DType)from, 1, DIMS(N)));
            Attr a = attr_of(OP_CAST);
            a.cast.to = (DType)to;
            assert_true(ir_add_output(g, "out", node(g, OP_CAST, &x, 1, &a)));
            Tensor *t = tensor_new((DType)from, 1, DIMS(N));
            assert_non_null(t);
            for (int i = 0; i < N; i++) {
                if (dtype_is_float((DType)from))
                    tensor_set(t, i, fvals[i]);
                else if (from == DT_I64)
                    t->i[i] = (int64_t)ivals[i];
                else
                    tensor_set(t, i, ivals[i]);
            }
            if (from == DT_I64)
                t->i[13] = INT64_MAX, t->i[14] = INT64_MIN, t->i[15] = ((int64_t)1 << 53) + 1;
            NamedTensor in = {"x", t};
            TlCheck c = {.interp_only = from == DT_I64};
            tl_check(g, NULL, &in, 1, 0, &c, NULL);
            tensor_free(t);
            ir_graph_free(g);
        }
}

/* A chain over views: a transpose, a slice with a step, a broadcast row, a scalar
 * constant, a constant buffer, iota — inlined into one elementwise kernel or several. */
static void test_views_and_chains(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(DT_F32, 2, DIMS(4, 12))), y = input(g, "y", ty(DT_F32, 2, DIMS(6, 1)));
    Attr tp = attr_of(OP_TRANSPOSE);
    tp.perm.perm = (IntList){2, (const int64_t[]){1, 0}};
    int32_t xt = node(g, OP_TRANSPOSE, &x, 1, &tp); /* [12, 4] */
    Attr sl = attr_of(OP_SLICE);
    sl.slice = (SliceAttr){.axis = 0, .start = 1, .stop = 12, .step = 2}; /* rows 1,3,..,11: [6, 4] */
    int32_t xs = node(g, OP_SLICE, &xt, 1, &sl);
    int32_t s = node(g, OP_MUL, (int32_t[]){xs, y}, 2, NULL);
    int32_t c = cst(g, DT_F32, 1, DIMS(4), VALS(1, -2, 3, -4), 4);
    int32_t e = node(g, OP_ADD, (int32_t[]){node(g, OP_TANH, &s, 1, NULL), c}, 2, NULL);
    Attr io = attr_of(OP_IOTA);
    io.iota.shape = (Shape){2, {dim_const(6), dim_const(4)}};
    io.iota.axis = 0;
    int32_t it = node(g, OP_IOTA, NULL, 0, &io);
    int32_t out = node(g, OP_SUB, (int32_t[]){e, it}, 2, NULL);
    int32_t sc = node(g, OP_MUL, (int32_t[]){out, ir_build_scalar(g, 0.5, DT_F32, NOLOC, &(IrError){{0}})}, 2, NULL);
    assert_true(ir_add_output(g, "out", sc));
    assert_true(ir_add_output(g, "xt", xt)); /* a transposed copy as an output */
    Tensor *tx = tl_random(DT_F32, 2, DIMS(4, 12), -2, 2, 9), *tyy = tl_random(DT_F32, 2, DIMS(6, 1), -2, 2, 10);
    NamedTensor nt[2] = {{"x", tx}, {"y", tyy}};
    tl_check(g, NULL, nt, 2, 1e-6, NULL, NULL);
    tensor_free(tx);
    tensor_free(tyy);
    ir_graph_free(g);
}

/* concat along a middle axis, with a broadcast part and a symbolic batch bound to 1 and 3 */
static void test_concat_symbolic(void **state)
{
    (void)state;
    for (int bsz = 1; bsz <= 3; bsz += 2) {
        Graph *g = ir_graph_new("t");
        int32_t B = ir_symbol(g, "B", 8);
        Type tx = {DT_F32, {3, {dim_sym(B, 1), dim_const(5), dim_const(4)}}};
        int32_t x = input(g, "x", tx);
        int32_t c = cst(g, DT_F32, 3, DIMS(1, 1, 4), VALS(9, 8, 7, 6), 4);
        Attr bc = attr_of(OP_BROADCAST);
        bc.shape.shape = (Shape){3, {dim_sym(B, 1), dim_const(1), dim_const(4)}};
        int32_t cb = node(g, OP_BROADCAST, &c, 1, &bc);
        Attr ca = attr_of(OP_CONCAT);
        ca.axis.axis = 1;
        int32_t cat = node(g, OP_CONCAT, (int32_t[]){cb, node(g, OP_EXP, &x, 1, NULL)}, 2, &ca);
        assert_true(ir_add_output(g, "out", node(g, OP_NEG, &cat, 1, NULL)));
        Tensor *t = tl_random(DT_F32, 3, DIMS(bsz, 5, 4), -1, 1, 12);
        NamedTensor in = {"x", t};
        tl_check(g, NULL, &in, 1, 1e-6, NULL, NULL);
        tensor_free(t);
        ir_graph_free(g);
    }
}

/* A malformed kernel (an operand index out of range, a view of the wrong rank) fails the
 * plan's check with the kernel named, and the backend refuses it instead of generating code. */
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
        cmocka_unit_test(test_unary_float),   cmocka_unit_test(test_unary_half),
        cmocka_unit_test(test_binary_float),  cmocka_unit_test(test_binary_int),
        cmocka_unit_test(test_div_pow_int),   cmocka_unit_test(test_int_errors_defined),
        cmocka_unit_test(test_logic_select),  cmocka_unit_test(test_casts),
        cmocka_unit_test(test_views_and_chains), cmocka_unit_test(test_concat_symbolic),
        cmocka_unit_test(test_malformed_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
