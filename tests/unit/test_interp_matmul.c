/* test_interp_matmul.c — matmul: plain, transposed operands, batch broadcasting, integers,
 * empty contraction, and one rounding at the end for f16. */
#include "test_interp.h"

static void mm_case(DType dt, bool ta, bool tb, int ra, const int64_t *da, const double *a, int na, int rb,
                    const int64_t *db, const double *b, int nb, int rr, const int64_t *dr, const double *want, int n)
{
    Graph *g = ir_graph_new("t");
    int32_t in[2] = {cst(g, dt, ra, da, a, na), cst(g, dt, rb, db, b, nb)};
    Attr at = attr_of(OP_MATMUL);
    at.matmul.transpose_a = ta;
    at.matmul.transpose_b = tb;
    int32_t y = node(g, OP_MATMUL, in, 2, &at);
    expect(g, y, rr, dr, want, n, 0);
    ir_graph_free(g);
}

/* [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
#define A VALS(1, 2, 3, 4, 5, 6)
#define AT VALS(1, 4, 2, 5, 3, 6)
#define B VALS(7, 8, 9, 10, 11, 12)
#define BT VALS(7, 9, 11, 8, 10, 12)
#define AB VALS(58, 64, 139, 154)

static void test_matmul_transposes(void **state)
{
    (void)state;
    mm_case(DT_F32, false, false, 2, DIMS(2, 3), A, 6, 2, DIMS(3, 2), B, 6, 2, DIMS(2, 2), AB, 4);
    mm_case(DT_F32, true, false, 2, DIMS(3, 2), AT, 6, 2, DIMS(3, 2), B, 6, 2, DIMS(2, 2), AB, 4);
    mm_case(DT_F32, false, true, 2, DIMS(2, 3), A, 6, 2, DIMS(2, 3), BT, 6, 2, DIMS(2, 2), AB, 4);
    mm_case(DT_F32, true, true, 2, DIMS(3, 2), AT, 6, 2, DIMS(2, 3), BT, 6, 2, DIMS(2, 2), AB, 4);
    /* [1,3] @ [3,1] = 1·4 + 2·5 + 3·6 */
    mm_case(DT_F32, false, false, 2, DIMS(1, 3), VALS(1, 2, 3), 3, 2, DIMS(3, 1), VALS(4, 5, 6), 3, 2, DIMS(1, 1),
            VALS(32), 1);
    /* b @ a: [3,2] @ [2,3]: rows of B times A */
    mm_case(DT_F32, false, false, 2, DIMS(3, 2), B, 6, 2, DIMS(2, 3), A, 6, 2, DIMS(3, 3),
            VALS(7 + 32, 14 + 40, 21 + 48, 9 + 40, 18 + 50, 27 + 60, 11 + 48, 22 + 60, 33 + 72), 9);
}

static void test_matmul_batch(void **state)
{
    (void)state;
    /* a [2,1,2,2]: batch i is (i+1)·I; b [3,2,2]: batch j is [[j,1],[2,j]] -> out [2,3,2,2] = (i+1)·B_j */
    double a[8] = {1, 0, 0, 1, 2, 0, 0, 2}, b[12], want[24];
    for (int j = 0; j < 3; j++) {
        b[4 * j + 0] = j, b[4 * j + 1] = 1, b[4 * j + 2] = 2, b[4 * j + 3] = j;
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                want[(i * 3 + j) * 4 + k] = (i + 1) * b[4 * j + k];
    mm_case(DT_F32, false, false, 4, DIMS(2, 1, 2, 2), a, 8, 3, DIMS(3, 2, 2), b, 12, 4, DIMS(2, 3, 2, 2), want, 24);
    /* the same with b transposed: B_jᵀ = [[j,2],[1,j]] stored, so the product is unchanged */
    double bt[12];
    for (int j = 0; j < 3; j++) {
        bt[4 * j + 0] = j, bt[4 * j + 1] = 2, bt[4 * j + 2] = 1, bt[4 * j + 3] = j;
    }
    mm_case(DT_F32, false, true, 4, DIMS(2, 1, 2, 2), a, 8, 3, DIMS(3, 2, 2), bt, 12, 4, DIMS(2, 3, 2, 2), want, 24);
    /* a batched [2,1,3] against one shared [3,1] */
    mm_case(DT_F32, false, false, 3, DIMS(2, 1, 3), A, 6, 2, DIMS(3, 1), VALS(1, 1, 1), 3, 3, DIMS(2, 1, 1),
            VALS(6, 15), 2);
}

static void test_matmul_int_empty_half(void **state)
{
    (void)state;
    /* i32 wraps: 65536·65536 = 2^32 -> 0; i64 exact */
    mm_case(DT_I32, false, false, 2, DIMS(1, 2), VALS(65536, 3), 2, 2, DIMS(2, 1), VALS(65536, -4), 2, 2, DIMS(1, 1),
            VALS(-12), 1);
    mm_case(DT_I64, false, false, 2, DIMS(2, 3), A, 6, 2, DIMS(3, 2), B, 6, 2, DIMS(2, 2), AB, 4);
    /* K = 0: all zeros */
    mm_case(DT_F32, false, false, 2, DIMS(2, 0), NULL, 0, 2, DIMS(0, 3), NULL, 0, 2, DIMS(2, 3), VALS(0, 0, 0, 0, 0, 0),
            6);
    /* f16: 1 + 2^-11 + 2^-11 summed exactly, rounded once = 1 + 2^-10 (step-wise f16 sums would give 1) */
    mm_case(DT_F16, false, false, 2, DIMS(1, 3), VALS(1, 0x1p-11, 0x1p-11), 3, 2, DIMS(3, 1), VALS(1, 1, 1), 3, 2,
            DIMS(1, 1), VALS(1 + 0x1p-10), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_transposes),
        cmocka_unit_test(test_matmul_batch),
        cmocka_unit_test(test_matmul_int_empty_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
