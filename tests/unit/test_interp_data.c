/* test_interp_data.c — data movement and generated values: reshape, broadcast, transpose,
 * slice, concat, take (with out-of-range indices), iota, constant. */
#include "test_interp.h"

static int32_t shape_op(Graph *g, Op op, int32_t x, int rank, const int64_t *dims)
{
    Attr a = attr_of(op);
    a.shape.shape = ty(DT_F32, rank, dims).shape;
    return node(g, op, &x, 1, &a);
}

static void test_reshape_broadcast(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t x = cst(g, DT_F32, 2, DIMS(2, 3), VALS(1, 2, 3, 4, 5, 6), 6);
    expect(g, shape_op(g, OP_RESHAPE, x, 2, DIMS(3, 2)), 2, DIMS(3, 2), VALS(1, 2, 3, 4, 5, 6), 6, 0);
    expect(g, shape_op(g, OP_RESHAPE, x, 1, DIMS(-1)), 1, DIMS(6), VALS(1, 2, 3, 4, 5, 6), 6, 0);
    int32_t r = cst(g, DT_I32, 1, DIMS(3), VALS(1, 2, 3), 3);
    expect(g, shape_op(g, OP_BROADCAST, r, 2, DIMS(2, 3)), 2, DIMS(2, 3), VALS(1, 2, 3, 1, 2, 3), 6, 0);
    int32_t col = cst(g, DT_F32, 2, DIMS(2, 1), VALS(7, 8), 2);
    expect(g, shape_op(g, OP_BROADCAST, col, 3, DIMS(2, 2, 3)), 3, DIMS(2, 2, 3),
           VALS(7, 7, 7, 8, 8, 8, 7, 7, 7, 8, 8, 8), 12, 0);
    ir_graph_free(g);
}

static void test_transpose(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t x = cst(g, DT_F32, 2, DIMS(2, 3), VALS(1, 2, 3, 4, 5, 6), 6);
    Attr a = attr_of(OP_TRANSPOSE);
    a.perm.perm = (IntList){2, DIMS(1, 0)};
    expect(g, node(g, OP_TRANSPOSE, &x, 1, &a), 2, DIMS(3, 2), VALS(1, 4, 2, 5, 3, 6), 6, 0);
    /* x[j][k][i] = 12j + 4k + i; perm [2,0,1] -> out[i][j][k] = x[j][k][i] */
    double v[24], want[24];
    for (int k = 0; k < 24; k++)
        v[k] = k;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                want[(i * 2 + j) * 3 + k] = 12 * j + 4 * k + i;
    int32_t x3 = cst(g, DT_I64, 3, DIMS(2, 3, 4), v, 24);
    a.perm.perm = (IntList){3, DIMS(2, 0, 1)};
    expect(g, node(g, OP_TRANSPOSE, &x3, 1, &a), 3, DIMS(4, 2, 3), want, 24, 0);
    ir_graph_free(g);
}

static void test_slice(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t x = cst(g, DT_F32, 2, DIMS(2, 5), VALS(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 10);
    Attr a = attr_of(OP_SLICE);
    a.slice = (SliceAttr){.axis = 1, .start = 1, .stop = 5, .step = 2};
    expect(g, node(g, OP_SLICE, &x, 1, &a), 2, DIMS(2, 2), VALS(1, 3, 6, 8), 4, 0);
    a.slice = (SliceAttr){.axis = 1, .start = 0, .stop = 5, .step = 3};
    expect(g, node(g, OP_SLICE, &x, 1, &a), 2, DIMS(2, 2), VALS(0, 3, 5, 8), 4, 0);
    a.slice = (SliceAttr){.axis = 0, .start = 1, .stop = 2, .step = 1};
    expect(g, node(g, OP_SLICE, &x, 1, &a), 2, DIMS(1, 5), VALS(5, 6, 7, 8, 9), 5, 0);
    a.slice = (SliceAttr){.axis = 1, .start = 2, .stop = 2, .step = 1};
    expect(g, node(g, OP_SLICE, &x, 1, &a), 2, DIMS(2, 0), NULL, 0, 0);
    ir_graph_free(g);
}

static void test_concat(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t in[3] = {cst(g, DT_F32, 2, DIMS(1, 2), VALS(1, 2), 2), cst(g, DT_F32, 2, DIMS(2, 2), VALS(3, 4, 5, 6), 4),
                     cst(g, DT_F32, 2, DIMS(0, 2), NULL, 0)};
    Attr a = attr_of(OP_CONCAT);
    a.axis.axis = 0;
    expect(g, node(g, OP_CONCAT, in, 3, &a), 2, DIMS(3, 2), VALS(1, 2, 3, 4, 5, 6), 6, 0);
    int32_t in2[3] = {cst(g, DT_I32, 2, DIMS(2, 1), VALS(1, 2), 2), cst(g, DT_I32, 2, DIMS(2, 2), VALS(3, 4, 5, 6), 4),
                      cst(g, DT_I32, 2, DIMS(2, 1), VALS(7, 8), 2)};
    a.axis.axis = -1;
    expect(g, node(g, OP_CONCAT, in2, 3, &a), 2, DIMS(2, 4), VALS(1, 3, 4, 7, 2, 5, 6, 8), 8, 0);
    ir_graph_free(g);
}

static void test_take(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t x = cst(g, DT_F32, 2, DIMS(3, 2), VALS(0, 1, 2, 3, 4, 5), 6);
    int32_t in[2] = {x, cst(g, DT_I32, 1, DIMS(2), VALS(2, 0), 2)};
    Attr a = attr_of(OP_TAKE);
    a.axis.axis = 0;
    expect(g, node(g, OP_TAKE, in, 2, &a), 2, DIMS(2, 2), VALS(4, 5, 0, 1), 4, 0);
    /* along axis 1 (as -1) of [2,3] with indices [2,1]: out[p][j][0] = x[p][idx[j][0]] */
    int32_t in2[2] = {cst(g, DT_F32, 2, DIMS(2, 3), VALS(0, 1, 2, 3, 4, 5), 6),
                      cst(g, DT_I64, 2, DIMS(2, 1), VALS(1, 2), 2)};
    a.axis.axis = -1;
    expect(g, node(g, OP_TAKE, in2, 2, &a), 3, DIMS(2, 2, 1), VALS(1, 2, 4, 5), 4, 0);
    /* a scalar index drops the axis */
    int32_t in3[2] = {x, cst(g, DT_I32, 0, NULL, VALS(1), 1)};
    a.axis.axis = 0;
    expect(g, node(g, OP_TAKE, in3, 2, &a), 1, DIMS(2), VALS(2, 3), 2, 0);
    /* out of range, negative included: an error naming the index and where it is */
    int32_t bad[2] = {x, cst(g, DT_I32, 1, DIMS(3), VALS(0, 3, 1), 3)};
    run_fails(g, node(g, OP_TAKE, bad, 2, &a), NULL, 0, NULL,
              "index 3 (at [1] of the indices) is out of range for axis 0 of size 3");
    ir_graph_free(g);
    g = ir_graph_new("t");
    x = cst(g, DT_F32, 2, DIMS(3, 2), VALS(0, 1, 2, 3, 4, 5), 6);
    int32_t neg[2] = {x, cst(g, DT_I64, 2, DIMS(1, 2), VALS(0, -1), 2)};
    run_fails(g, node(g, OP_TAKE, neg, 2, &a), NULL, 0, NULL,
              "index -1 (at [0,1] of the indices) is out of range for axis 0 of size 3");
    ir_graph_free(g);
}

static void test_iota_constant(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    Attr a = attr_of(OP_IOTA);
    a.iota.shape = ty(DT_F32, 2, DIMS(2, 3)).shape;
    a.iota.axis = 1;
    a.iota.dtype = DT_I32;
    expect(g, node(g, OP_IOTA, NULL, 0, &a), 2, DIMS(2, 3), VALS(0, 1, 2, 0, 1, 2), 6, 0);
    a.iota.axis = -2;
    a.iota.dtype = DT_F32;
    expect(g, node(g, OP_IOTA, NULL, 0, &a), 2, DIMS(2, 3), VALS(0, 0, 0, 1, 1, 1), 6, 0);
    /* a constant splats its one value; values are rounded to the dtype (0.1 in bf16) */
    expect(g, cst(g, DT_F32, 2, DIMS(2, 2), VALS(7), 1), 2, DIMS(2, 2), VALS(7, 7, 7, 7), 4, 0);
    expect(g, cst(g, DT_BF16, 1, DIMS(2), VALS(0.1, -2), 2), 1, DIMS(2), VALS(0.10009765625, -2), 2, 0);
    expect(g, cst(g, DT_I64, 0, NULL, VALS(-5), 1), 0, NULL, VALS(-5), 1, 0);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape_broadcast), cmocka_unit_test(test_transpose), cmocka_unit_test(test_slice),
        cmocka_unit_test(test_concat),            cmocka_unit_test(test_take),      cmocka_unit_test(test_iota_constant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
