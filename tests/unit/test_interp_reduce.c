/* test_interp_reduce.c — reduce_sum/mean/max/min, softmax, log_softmax, normalize. */
#include <math.h>

#include "test_interp.h"

static void reduce_case(Op op, DType dt, int rank, const int64_t *dims, const double *x, int nx,
                        const int64_t *axes, int naxes, bool keep, int rr, const int64_t *dr, const double *want, int n)
{
    Graph *g = ir_graph_new("t");
    int32_t c = cst(g, dt, rank, dims, x, nx);
    Attr a = attr_of(op);
    a.reduce.axes = (IntList){naxes, axes};
    a.reduce.keepdims = keep;
    int32_t y = node(g, op, &c, 1, &a);
    expect(g, y, rr, dr, want, n, 1e-6);
    ir_graph_free(g);
}

#define X23 VALS(1, 2, 3, 4, 5, 6)

static void test_reduce(void **state)
{
    (void)state;
    reduce_case(OP_REDUCE_SUM, DT_F32, 2, DIMS(2, 3), X23, 6, DIMS(1), 1, false, 1, DIMS(2), VALS(6, 15), 2);
    reduce_case(OP_REDUCE_SUM, DT_F32, 2, DIMS(2, 3), X23, 6, DIMS(1), 1, true, 2, DIMS(2, 1), VALS(6, 15), 2);
    reduce_case(OP_REDUCE_SUM, DT_F32, 2, DIMS(2, 3), X23, 6, DIMS(0), 1, false, 1, DIMS(3), VALS(5, 7, 9), 3);
    reduce_case(OP_REDUCE_SUM, DT_F32, 2, DIMS(2, 3), X23, 6, DIMS(-1, 0), 2, false, 0, NULL, VALS(21), 1);
    reduce_case(OP_REDUCE_MEAN, DT_F32, 2, DIMS(2, 3), X23, 6, DIMS(-1), 1, false, 1, DIMS(2), VALS(2, 5), 2);
    reduce_case(OP_REDUCE_MAX, DT_F32, 2, DIMS(2, 3), VALS(1, 9, 3, -4, -5, -6), 6, DIMS(1), 1, false, 1, DIMS(2),
                VALS(9, -4), 2);
    reduce_case(OP_REDUCE_MIN, DT_F32, 2, DIMS(2, 3), VALS(1, 9, 3, -4, -5, -6), 6, DIMS(1), 1, false, 1, DIMS(2),
                VALS(1, -6), 2);
    /* x = 0..7 as [2,2,2], over axes 0 and 2: j=0: 0+1+4+5, j=1: 2+3+6+7 */
    const double x8[] = {0, 1, 2, 3, 4, 5, 6, 7};
    reduce_case(OP_REDUCE_SUM, DT_F32, 3, DIMS(2, 2, 2), x8, 8, DIMS(0, 2), 2, false, 1, DIMS(2), VALS(10, 18), 2);
    reduce_case(OP_REDUCE_SUM, DT_F32, 3, DIMS(2, 2, 2), x8, 8, DIMS(2, -3), 2, true, 3, DIMS(1, 2, 1), VALS(10, 18), 2);
    /* NaN propagates through max and min */
    reduce_case(OP_REDUCE_MAX, DT_F32, 1, DIMS(3), VALS(1, NAN, 3), 3, DIMS(0), 1, false, 0, NULL, VALS(NAN), 1);
    reduce_case(OP_REDUCE_MIN, DT_F32, 1, DIMS(3), VALS(1, 3, NAN), 3, DIMS(0), 1, false, 0, NULL, VALS(NAN), 1);
}

static void test_reduce_int_empty(void **state)
{
    (void)state;
    /* i32 sum wraps; integer mean truncates toward zero */
    reduce_case(OP_REDUCE_SUM, DT_I32, 1, DIMS(2), VALS(2147483647.0, 1), 2, DIMS(0), 1, false, 0, NULL,
                VALS(-2147483648.0), 1);
    reduce_case(OP_REDUCE_MEAN, DT_I32, 2, DIMS(2, 2), VALS(1, 2, -3, 0), 4, DIMS(1), 1, false, 1, DIMS(2),
                VALS(1, -1), 2);
    reduce_case(OP_REDUCE_MAX, DT_I64, 1, DIMS(3), VALS(-5, 7, 2), 3, DIMS(0), 1, false, 0, NULL, VALS(7), 1);
    /* over zero elements: sum 0, mean NaN, max -inf, min +inf; integer max is the smallest i32 */
    reduce_case(OP_REDUCE_SUM, DT_F32, 2, DIMS(0, 2), NULL, 0, DIMS(0), 1, false, 1, DIMS(2), VALS(0, 0), 2);
    reduce_case(OP_REDUCE_MEAN, DT_F32, 2, DIMS(0, 2), NULL, 0, DIMS(0), 1, false, 1, DIMS(2), VALS(NAN, NAN), 2);
    reduce_case(OP_REDUCE_MAX, DT_F32, 2, DIMS(0, 2), NULL, 0, DIMS(0), 1, false, 1, DIMS(2),
                VALS(-INFINITY, -INFINITY), 2);
    reduce_case(OP_REDUCE_MIN, DT_F32, 2, DIMS(0, 2), NULL, 0, DIMS(0), 1, false, 1, DIMS(2),
                VALS(INFINITY, INFINITY), 2);
    reduce_case(OP_REDUCE_MAX, DT_I32, 2, DIMS(0, 1), NULL, 0, DIMS(0), 1, false, 1, DIMS(1), VALS(-2147483648.0), 1);

    Graph *g = ir_graph_new("t");
    int32_t c = cst(g, DT_I32, 2, DIMS(0, 2), NULL, 0);
    Attr a = attr_of(OP_REDUCE_MEAN);
    a.reduce.axes = (IntList){1, DIMS(0)};
    int32_t y = node(g, OP_REDUCE_MEAN, &c, 1, &a);
    run_fails(g, y, NULL, 0, NULL, "the mean of zero integers");
    ir_graph_free(g);
}

static void softmax_case(Op op, int rank, const int64_t *dims, const double *x, int n, int64_t axis,
                         const double *want)
{
    Graph *g = ir_graph_new("t");
    int32_t c = cst(g, DT_F32, rank, dims, x, n);
    Attr a = attr_of(op);
    a.axis.axis = axis;
    int32_t y = node(g, op, &c, 1, &a);
    expect(g, y, rank, dims, want, n, 1e-6);
    ir_graph_free(g);
}

/* e^x / Σe^x of [1, 2, 3] and its log, from Python's math */
#define SM3 0.09003057317038046, 0.24472847105479767, 0.6652409557748219
#define LSM3 -2.40760596444438, -1.4076059644443801, -0.40760596444438013

static void test_softmax(void **state)
{
    (void)state;
    softmax_case(OP_SOFTMAX, 1, DIMS(3), VALS(1, 2, 3), 3, -1, VALS(SM3));
    softmax_case(OP_SOFTMAX, 1, DIMS(3), VALS(1001, 1002, 1003), 3, 0, VALS(SM3)); /* stable */
    softmax_case(OP_LOG_SOFTMAX, 1, DIMS(3), VALS(1, 2, 3), 3, -1, VALS(LSM3));
    softmax_case(OP_LOG_SOFTMAX, 1, DIMS(3), VALS(-999, -998, -997), 3, 0, VALS(LSM3));
    /* along axis 0 of [3,2]: column 0 is 1,2,3; column 1 is constant -> 1/3 */
    const double p[] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
    softmax_case(OP_SOFTMAX, 2, DIMS(3, 2), VALS(1, 7, 2, 7, 3, 7), 6, 0,
                 VALS(p[0], 1.0 / 3, p[1], 1.0 / 3, p[2], 1.0 / 3));
    /* along axis 1 of [2,3] (the rows), -inf gets probability 0 */
    softmax_case(OP_SOFTMAX, 2, DIMS(2, 3), VALS(1, 2, 3, -INFINITY, 0, -INFINITY), 6, 1, VALS(SM3, 0, 1, 0));
}

static void normalize_case(double eps, bool center, int rank, const int64_t *dims, const double *x, int n,
                           const double *want)
{
    Graph *g = ir_graph_new("t");
    int32_t c = cst(g, DT_F32, rank, dims, x, n);
    Attr a = attr_of(OP_NORMALIZE);
    a.norm.eps = eps;
    a.norm.center = center;
    int32_t y = node(g, OP_NORMALIZE, &c, 1, &a);
    expect(g, y, rank, dims, want, n, 1e-6);
    ir_graph_free(g);
}

static void test_normalize(void **state)
{
    (void)state;
    /* [1,2,3,4]: mean 2.5, population variance 1.25; y = (x - 2.5)/√1.25 */
    normalize_case(0, true, 1, DIMS(4), VALS(1, 2, 3, 4), 4,
                   VALS(-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738));
    /* eps matters: (1 - 2.5)/√(1.25 + 1e-6) */
    Graph *g = ir_graph_new("t");
    Attr a = attr_of(OP_NORMALIZE);
    int32_t c = cst(g, DT_F32, 1, DIMS(4), VALS(1, 2, 3, 4), 4);
    a.norm.eps = 1e-6;
    int32_t y = node(g, OP_NORMALIZE, &c, 1, &a);
    Tensor *t = run(g, y);
    assert_true(fabs(t->f[0] - -1.3416402498438813) < 1e-7);
    tensor_free(t);
    ir_graph_free(g);
    /* rows independently; a constant row becomes 0 */
    normalize_case(1e-6, true, 2, DIMS(2, 2), VALS(5, 5, 0, 2), 4, VALS(0, 0, -0.9999995000003749, 0.9999995000003749));
    /* RMS: x/√(mean(x²) + eps): [3, 4] -> mean square 12.5 */
    normalize_case(0, false, 1, DIMS(2), VALS(3, 4), 2, VALS(0.848528137423857, 1.131370849898476));
    normalize_case(0, false, 2, DIMS(2, 1), VALS(-2, 0.5), 2, VALS(-1, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_reduce_int_empty),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
