/* test_interp_ew.c — the interpreter's elementwise ops: unary, binary with broadcasting,
 * integer semantics, comparisons and logic, select, cast, and f16/bf16 rounding of results.
 * Expected values: by hand, or from Python's math module where noted. */
#include <math.h>

#include "test_interp.h"

/* op(x) for a 1-D x of n values; tol absolute. */
static void unary_case(Op op, const Attr *a, DType dt, const double *x, const double *want, int n, double tol)
{
    Graph *g = ir_graph_new("t");
    int32_t c = cst(g, dt, 1, DIMS(n), x, n);
    int32_t y = node(g, op, &c, 1, a);
    expect(g, y, 1, DIMS(n), want, n, tol);
    ir_graph_free(g);
}

#define XS VALS(-1, 0, 0.5, 2)

static void test_unary_float(void **state)
{
    (void)state;
    const double tol = 1e-6; /* f32 results of values below 8 */
    unary_case(OP_NEG, NULL, DT_F32, XS, VALS(1, 0, -0.5, -2), 4, 0);
    unary_case(OP_ABS, NULL, DT_F32, XS, VALS(1, 0, 0.5, 2), 4, 0);
    /* Python math.exp, tanh, erf, sin, cos */
    unary_case(OP_EXP, NULL, DT_F32, XS, VALS(0.36787944117144233, 1, 1.6487212707001282, 7.38905609893065), 4, tol);
    unary_case(OP_TANH, NULL, DT_F32, XS, VALS(-0.7615941559557649, 0, 0.46211715726000974, 0.9640275800758169), 4, tol);
    unary_case(OP_ERF, NULL, DT_F32, XS, VALS(-0.8427007929497149, 0, 0.5204998778130465, 0.9953222650189527), 4, tol);
    unary_case(OP_SIN, NULL, DT_F32, XS, VALS(-0.8414709848078965, 0, 0.479425538604203, 0.9092974268256817), 4, tol);
    unary_case(OP_COS, NULL, DT_F32, XS, VALS(0.5403023058681398, 1, 0.8775825618903728, -0.4161468365471424), 4, tol);
    unary_case(OP_LOG, NULL, DT_F32, VALS(0.5, 1, 2, 0), VALS(-0.6931471805599453, 0, 0.6931471805599453, -INFINITY), 4,
               tol);
    unary_case(OP_SQRT, NULL, DT_F32, VALS(0.25, 1, 2, 9), VALS(0.5, 1, 1.4142135623730951, 3), 4, tol);
    unary_case(OP_RSQRT, NULL, DT_F32, VALS(0.25, 1, 4, 16), VALS(2, 1, 0.5, 0.25), 4, 0);
    unary_case(OP_RELU, NULL, DT_F32, VALS(-1, 0, 0.5, NAN), VALS(0, 0, 0.5, NAN), 4, 0);
    /* sigmoid 1/(1+e^-x); far tails must not overflow */
    unary_case(OP_SIGMOID, NULL, DT_F32, VALS(-1, 0, 0.5, 2, -1000, 1000),
               VALS(0.2689414213699951, 0.5, 0.6224593312018546, 0.8807970779778823, 0, 1), 6, tol);
    /* softplus log(1 + e^x), stable: softplus(1000) = 1000, softplus(-1000) ≈ e^-1000 = 0 in f32 */
    unary_case(OP_SOFTPLUS, NULL, DT_F32, VALS(-1, 0, 0.5, 2, 1000, -1000),
               VALS(0.31326168751822286, 0.6931471805599453, 0.9740769841801067, 2.1269280110429727, 1000, 0), 6, tol);
    /* gelu: 0.5x(1+erf(x/√2)) and 0.5x(1+tanh(√(2/π)(x+0.044715x³))), from Python's math */
    Attr a = attr_of(OP_GELU);
    unary_case(OP_GELU, &a, DT_F32, XS, VALS(-0.15865525393145707, 0, 0.34573123063700656, 1.9544997361036416), 4, tol);
    a.gelu.approximate = GELU_TANH;
    unary_case(OP_GELU, &a, DT_F32, XS, VALS(-0.15880800939172324, 0, 0.34571400982514394, 1.954597694087775), 4, tol);
}

static void test_unary_int_bool(void **state)
{
    (void)state;
    unary_case(OP_NEG, NULL, DT_I32, VALS(3, -4, 0, -2147483648.0), VALS(-3, 4, 0, -2147483648.0), 4, 0);
    unary_case(OP_ABS, NULL, DT_I64, VALS(3, -4, 0), VALS(3, 4, 0), 3, 0);
    unary_case(OP_RELU, NULL, DT_I32, VALS(3, -4, 0), VALS(3, 0, 0), 3, 0);
    unary_case(OP_NOT, NULL, DT_BOOL, VALS(1, 0), VALS(0, 1), 2, 0);
}

/* a op b for given shapes */
static void binary_case(Op op, DType dt, int ra, const int64_t *da, const double *a, int rb, const int64_t *db,
                        const double *b, int rr, const int64_t *dr, const double *want, int n)
{
    Graph *g = ir_graph_new("t");
    int64_t na = 1, nb = 1;
    for (int i = 0; i < ra; i++)
        na *= da[i];
    for (int i = 0; i < rb; i++)
        nb *= db[i];
    int32_t in[2] = {cst(g, dt, ra, da, a, (int)na), cst(g, dt, rb, db, b, (int)nb)};
    int32_t y = node(g, op, in, 2, NULL);
    expect(g, y, rr, dr, want, n, 1e-6);
    ir_graph_free(g);
}

static void test_binary_float(void **state)
{
    (void)state;
    const double a[] = {1, 2, -3, 4}, b[] = {0.5, -2, 2, 0};
    binary_case(OP_ADD, DT_F32, 1, DIMS(4), a, 1, DIMS(4), b, 1, DIMS(4), VALS(1.5, 0, -1, 4), 4);
    binary_case(OP_SUB, DT_F32, 1, DIMS(4), a, 1, DIMS(4), b, 1, DIMS(4), VALS(0.5, 4, -5, 4), 4);
    binary_case(OP_MUL, DT_F32, 1, DIMS(4), a, 1, DIMS(4), b, 1, DIMS(4), VALS(0.5, -4, -6, 0), 4);
    binary_case(OP_DIV, DT_F32, 1, DIMS(4), a, 1, DIMS(4), b, 1, DIMS(4), VALS(2, -1, -1.5, INFINITY), 4);
    binary_case(OP_POW, DT_F32, 1, DIMS(4), VALS(2, 9, 2, 0), 1, DIMS(4), VALS(3, 0.5, -1, 0), 1, DIMS(4),
                VALS(8, 3, 0.5, 1), 4);
    binary_case(OP_MAX, DT_F32, 1, DIMS(4), VALS(1, NAN, -3, 4), 1, DIMS(4), b, 1, DIMS(4), VALS(1, NAN, 2, 4), 4);
    binary_case(OP_MIN, DT_F32, 1, DIMS(4), VALS(1, 2, -3, NAN), 1, DIMS(4), b, 1, DIMS(4), VALS(0.5, -2, -3, NAN), 4);
}

static void test_broadcasting(void **state)
{
    (void)state;
    /* [2,1,3] + [4,1] -> [2,4,3]: out[i][j][k] = a[i][0][k] + b[j][0] */
    const double a[] = {0, 1, 2, 3, 4, 5}, b[] = {0, 10, 20, 30};
    double want[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++)
                want[(i * 4 + j) * 3 + k] = (i * 3 + k) + 10 * j;
    binary_case(OP_ADD, DT_F32, 3, DIMS(2, 1, 3), a, 2, DIMS(4, 1), b, 3, DIMS(2, 4, 3), want, 24);
    /* a scalar on the left, a row on the right */
    binary_case(OP_SUB, DT_F32, 0, NULL, VALS(10), 2, DIMS(2, 2), VALS(1, 2, 3, 4), 2, DIMS(2, 2), VALS(9, 8, 7, 6), 4);
    /* [3,1] * [1,2] */
    binary_case(OP_MUL, DT_I32, 2, DIMS(3, 1), VALS(1, 2, 3), 2, DIMS(1, 2), VALS(10, 100), 2, DIMS(3, 2),
                VALS(10, 100, 20, 200, 30, 300), 6);
}

static void test_binary_int(void **state)
{
    (void)state;
    /* i32 wraps: 2^31-1 + 1 = -2^31; (-2^31) * -1 = -2^31 */
    binary_case(OP_ADD, DT_I32, 1, DIMS(2), VALS(2147483647.0, -5), 1, DIMS(2), VALS(1, 3), 1, DIMS(2),
                VALS(-2147483648.0, -2), 2);
    binary_case(OP_MUL, DT_I32, 1, DIMS(2), VALS(-2147483648.0, 65536), 1, DIMS(2), VALS(-1, 65536), 1, DIMS(2),
                VALS(-2147483648.0, 0), 2);
    /* division truncates toward zero; MIN / -1 wraps */
    binary_case(OP_DIV, DT_I32, 1, DIMS(5), VALS(7, -7, 7, -7, -2147483648.0), 1, DIMS(5), VALS(2, 2, -2, -2, -1), 1,
                DIMS(5), VALS(3, -3, -3, 3, -2147483648.0), 5);
    binary_case(OP_DIV, DT_I64, 1, DIMS(1), VALS(-9223372036854775808.0), 1, DIMS(1), VALS(-1), 1, DIMS(1),
                VALS(-9223372036854775808.0), 1);
    /* pow: exact, negative exponents truncate */
    binary_case(OP_POW, DT_I64, 1, DIMS(6), VALS(2, 3, 2, -1, 1, -3), 1, DIMS(6), VALS(10, 0, -1, -3, -5, 3), 1,
                DIMS(6), VALS(1024, 1, 0, -1, 1, -27), 6);
    binary_case(OP_MAX, DT_I32, 1, DIMS(2), VALS(-1, 5), 1, DIMS(2), VALS(3, 2), 1, DIMS(2), VALS(3, 5), 2);
    binary_case(OP_MIN, DT_I32, 1, DIMS(2), VALS(-1, 5), 1, DIMS(2), VALS(3, 2), 1, DIMS(2), VALS(-1, 2), 2);
    binary_case(OP_SUB, DT_I64, 1, DIMS(1), VALS(5), 1, DIMS(1), VALS(7), 1, DIMS(1), VALS(-2), 1);
}

static void test_int_errors(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t in[2] = {cst(g, DT_I32, 1, DIMS(2), VALS(4, 5), 2), cst(g, DT_I32, 1, DIMS(2), VALS(2, 0), 2)};
    int32_t y = node(g, OP_DIV, in, 2, NULL);
    run_fails(g, y, NULL, 0, NULL, "integer division by zero (5 / 0)");
    ir_graph_free(g);
    g = ir_graph_new("t");
    int32_t in2[2] = {cst(g, DT_I64, 0, NULL, VALS(0), 1), cst(g, DT_I64, 0, NULL, VALS(-2), 1)};
    y = node(g, OP_POW, in2, 2, NULL);
    run_fails(g, y, NULL, 0, NULL, "0 to the negative power -2");
    ir_graph_free(g);
}

static void test_compare_logic(void **state)
{
    (void)state;
    const double a[] = {1, 2, 3, NAN};
    binary_case(OP_LT, DT_F32, 1, DIMS(4), a, 0, NULL, VALS(2), 1, DIMS(4), VALS(1, 0, 0, 0), 4);
    binary_case(OP_LE, DT_F32, 1, DIMS(4), a, 0, NULL, VALS(2), 1, DIMS(4), VALS(1, 1, 0, 0), 4);
    binary_case(OP_GT, DT_F32, 1, DIMS(4), a, 0, NULL, VALS(2), 1, DIMS(4), VALS(0, 0, 1, 0), 4);
    binary_case(OP_GE, DT_F32, 1, DIMS(4), a, 0, NULL, VALS(2), 1, DIMS(4), VALS(0, 1, 1, 0), 4);
    binary_case(OP_EQ, DT_F32, 1, DIMS(4), a, 0, NULL, VALS(2), 1, DIMS(4), VALS(0, 1, 0, 0), 4);
    binary_case(OP_NE, DT_F32, 1, DIMS(4), a, 0, NULL, VALS(2), 1, DIMS(4), VALS(1, 0, 1, 1), 4);
    binary_case(OP_EQ, DT_I32, 2, DIMS(2, 1), VALS(1, 2), 1, DIMS(2), VALS(1, 2), 2, DIMS(2, 2), VALS(1, 0, 0, 1), 4);
    binary_case(OP_AND, DT_BOOL, 1, DIMS(4), VALS(0, 0, 1, 1), 1, DIMS(4), VALS(0, 1, 0, 1), 1, DIMS(4),
                VALS(0, 0, 0, 1), 4);
    binary_case(OP_OR, DT_BOOL, 1, DIMS(4), VALS(0, 0, 1, 1), 1, DIMS(4), VALS(0, 1, 0, 1), 1, DIMS(4),
                VALS(0, 1, 1, 1), 4);
}

static void test_select(void **state)
{
    (void)state;
    /* cond [2,1], a [3], b scalar -> [2,3] */
    Graph *g = ir_graph_new("t");
    int32_t in[3] = {cst(g, DT_BOOL, 2, DIMS(2, 1), VALS(1, 0), 2), cst(g, DT_F32, 1, DIMS(3), VALS(10, 20, 30), 3),
                     cst(g, DT_F32, 0, NULL, VALS(-1), 1)};
    int32_t y = node(g, OP_SELECT, in, 3, NULL);
    expect(g, y, 2, DIMS(2, 3), VALS(10, 20, 30, -1, -1, -1), 6, 0);
    ir_graph_free(g);
}

static void cast_case(DType from, DType to, const double *x, const double *want, int n)
{
    Attr a = attr_of(OP_CAST);
    a.cast.to = to;
    unary_case(OP_CAST, &a, from, x, want, n, 0);
}

static void test_cast(void **state)
{
    (void)state;
    /* float -> int truncates toward zero, saturates, NaN -> 0 */
    cast_case(DT_F32, DT_I32, VALS(-2.7, 2.7, NAN, 3e9, -3e9, -0.5), VALS(-2, 2, 0, 2147483647.0, -2147483648.0, 0), 6);
    /* int -> f32 rounds: 2^24 + 1 -> 2^24 */
    cast_case(DT_I32, DT_F32, VALS(16777217, -3), VALS(16777216, -3), 2);
    /* anything -> bool is != 0; bool -> float is 0/1 */
    cast_case(DT_F32, DT_BOOL, VALS(0, 0.5, NAN, -0.0), VALS(0, 1, 1, 0), 4);
    cast_case(DT_BOOL, DT_F32, VALS(1, 0), VALS(1, 0), 2);
    cast_case(DT_I32, DT_BOOL, VALS(0, -7), VALS(0, 1), 2);
    /* f32 -> f16 / bf16: 0.1 is 0x2E66 = 0.0999755859375 in f16, 0x3DCD = 0.10009765625 in bf16 */
    cast_case(DT_F32, DT_F16, VALS(0.1, 65520, -1e-8), VALS(0.0999755859375, INFINITY, -0.0), 3);
    cast_case(DT_F32, DT_BF16, VALS(0.1, 1.00390625, 1.01171875), VALS(0.10009765625, 1, 1.015625), 3);
    cast_case(DT_F16, DT_F32, VALS(65504, 5.960464477539063e-08), VALS(65504, 5.960464477539063e-08), 2);

    /* int -> int wraps: i64 2^32 + 1 -> 1, 2^31 -> -2^31; i64 -> f32 rounds once (2^53 + 1) */
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(DT_I64, 1, DIMS(3)));
    Attr a = attr_of(OP_CAST);
    a.cast.to = DT_I32;
    int32_t y = node(g, OP_CAST, &x, 1, &a);
    Tensor *t = tensor_new(DT_I64, 1, DIMS(3));
    t->i[0] = 4294967297ll;
    t->i[1] = 2147483648ll;
    t->i[2] = -1;
    NamedTensor nt = {"x", t};
    IrError err;
    Tensor *r = run_in(g, y, &nt, 1, NULL, &err);
    assert_non_null(r);
    assert_int_equal(r->i[0], 1);
    assert_int_equal(r->i[1], -2147483648ll);
    assert_int_equal(r->i[2], -1);
    tensor_free(r);
    a.cast.to = DT_F32;
    y = node(g, OP_CAST, &x, 1, &a);
    t->i[0] = 9007199254740993ll; /* 2^53 + 1: via double it would round twice, still 2^53 */
    t->i[1] = 16777219;           /* 2^24 + 3 -> 2^24 + 4 (tie to even) */
    r = run_in(g, y, &nt, 1, NULL, &err);
    assert_non_null(r);
    assert_true(r->f[0] == 9007199254740992.0f);
    assert_true(r->f[1] == 16777220.0f);
    tensor_free(r);
    tensor_free(t);
    ir_graph_free(g);
}

/* Results are rounded to f16 / bf16 after each op (round to nearest, ties to even). */
static void test_half_results(void **state)
{
    (void)state;
    /* f16: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 -> 1 (even);
     * 1 + 3·2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9 -> 1 + 2^-9 */
    binary_case(OP_ADD, DT_F16, 1, DIMS(3), VALS(1, 1, 65504), 1, DIMS(3), VALS(0x1p-11, 3 * 0x1p-11, 16), 1, DIMS(3),
                VALS(1, 1 + 0x1p-9, INFINITY), 3);
    /* bf16: 8 bits of precision; 1 + 2^-8 -> 1, 1 + 3·2^-8 -> 1 + 2^-6 */
    binary_case(OP_ADD, DT_BF16, 1, DIMS(2), VALS(1, 1), 1, DIMS(2), VALS(0x1p-8, 3 * 0x1p-8), 1, DIMS(2),
                VALS(1, 1 + 0x1p-6), 2);
    /* f16 subnormals: 2^-24 · 0.5 -> 0 (tie to even), 2^-24 · 1.5 -> 2^-23 */
    binary_case(OP_MUL, DT_F16, 1, DIMS(2), VALS(0x1p-24, 0x1p-24), 1, DIMS(2), VALS(0.5, 1.5), 1, DIMS(2),
                VALS(0, 0x1p-23), 2);
    /* exp(1) in f16 = 2.71875, in bf16 = 2.71875 */
    unary_case(OP_EXP, NULL, DT_F16, VALS(1), VALS(2.71875), 1, 0);
    unary_case(OP_EXP, NULL, DT_BF16, VALS(1), VALS(2.71875), 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_float), cmocka_unit_test(test_unary_int_bool),
        cmocka_unit_test(test_binary_float), cmocka_unit_test(test_broadcasting),
        cmocka_unit_test(test_binary_int),   cmocka_unit_test(test_int_errors),
        cmocka_unit_test(test_compare_logic), cmocka_unit_test(test_select),
        cmocka_unit_test(test_cast),         cmocka_unit_test(test_half_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
