/* test_llvm_kernels.c — the LLVM backend's GEMM, row, reduce and gather kernels against
 * the interpreter and plan_exec: both B orientations (the axpy and the dot-product loop),
 * batch broadcasting, transposed and sliced operands, a symbolic batch bound to 1 and 3,
 * fused epilogues, integer and f16 GEMMs; softmax along a non-last axis, log_softmax,
 * normalize with and without centering; reductions with keepdims and over all axes;
 * gathers, one with an index out of range (the error cell). The graphs: backend_cases.c.
 */
#include "test_llvm.h"

static const Backend llvm = {"LLVM", tl_backend_check, NULL};

static void test_gemm_orientations(void **state)
{
    (void)state;
    bc_gemm_orientations(&llvm);
    /* more than one 256-wide chunk of the axpy loop, and a long K for the dot loop */
    bc_matmul(&llvm, DT_F32, 2, DIMS(3, 20), 2, DIMS(20, 600), false, false, -1, true, 1e-5);
    bc_matmul(&llvm, DT_F32, 2, DIMS(4, 700), 2, DIMS(33, 700), false, true, -1, false, 1e-5);
}

static void test_row_kernels(void **state)
{
    (void)state;
    bc_row_kernels(&llvm);
}

static void test_reduce_kernels(void **state)
{
    (void)state;
    static const Op ops[] = {OP_REDUCE_SUM, OP_REDUCE_MEAN, OP_REDUCE_MAX, OP_REDUCE_MIN};
    for (int i = 0; i < 4; i++)
        for (int keep = 0; keep < 2; keep++) {
            bc_reduce(&llvm, ops[i], DT_F32, (const int64_t[]){1}, 1, keep, false);
            bc_reduce(&llvm, ops[i], DT_F32, (const int64_t[]){-1}, 1, keep, false);
            bc_reduce(&llvm, ops[i], DT_F32, (const int64_t[]){0, 2}, 2, keep, false);
            bc_reduce(&llvm, ops[i], DT_F32, (const int64_t[]){0, 1, 2}, 3, keep, false);
            bc_reduce(&llvm, ops[i], DT_I32, (const int64_t[]){0, 2}, 2, keep, false);
            bc_reduce(&llvm, ops[i], DT_I64, (const int64_t[]){1}, 1, keep, false);
            bc_reduce(&llvm, ops[i], DT_F16, (const int64_t[]){2}, 1, keep, false);
        }
}

/* gathers of every axis and index rank, i32 and i64 indices; out of range: the error cell
 * and the output defined */
static void test_gather(void **state)
{
    (void)state;
    for (int axis = 0; axis < 3; axis++)
        for (int ri = 0; ri <= 2; ri++) {
            bc_take(&llvm, axis, ri, DT_I32, false);
            bc_take(&llvm, axis, ri, DT_I64, false);
        }
    bc_take(&llvm, 0, 2, DT_I32, true);
    bc_take(&llvm, 1, 1, DT_I64, true);
    bc_take(&llvm, 2, 2, DT_I64, true);
}

/* the attention block at -O0 .. -O3 */
static void test_attention_chain(void **state)
{
    (void)state;
    static const TlCheck o[4] = {{.set = true, .opt_level = 0}, {.set = true, .opt_level = 1},
                                 {.set = true, .opt_level = 2}, {.set = true, .opt_level = 3}};
    const Backend b[4] = {tl_backend(&o[0]), tl_backend(&o[1]), tl_backend(&o[2]), tl_backend(&o[3])};
    bc_attention_chain((const Backend *const[]){&b[0], &b[1], &b[2], &b[3]}, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_orientations), bc_unit_test(gemm_batch, &llvm),
        bc_unit_test(gemm_dtypes, &llvm),         bc_unit_test(gemm_sliced, &llvm),
        cmocka_unit_test(test_row_kernels),       cmocka_unit_test(test_reduce_kernels),
        cmocka_unit_test(test_gather),            cmocka_unit_test(test_attention_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
