/* test_opencl_kernels.c — the OpenCL backend's GEMM, row, reduce, gather and attention
 * kernels on PoCL against the interpreter and plan_exec (test_opencl.h): GEMMs with B
 * row-major and transposed (timm's weights), transposed and sliced A, M and N off the
 * 6 × 16 block, batch broadcasting, weights packed once at open vs activations packed per
 * run or by the plan (plan_pack, panels of 16 read in place or of 32 repacked), a symbolic
 * batch bound to 1 and 3, fused epilogues, integer (the generic dot
 * kernel), f16 and bf16 GEMMs, other block shapes (gemm_mr, float16 accumulators);
 * softmax / log_softmax along every axis, normalize with and without centering (in order,
 * and with the sums in 8 and 16 vector lanes);
 * reductions with keepdims and over all axes; gathers of every axis and index rank and an
 * index out of range (a message naming the kernel, the output defined); attention without
 * a mask, with keep and additive masks, broadcast operands, Nk = 1, flash-scheduled (Nk
 * past the decomposed limit) and f16. The graphs but those of weights and attention:
 * backend_cases.c.
 */
#include "test_interp.h"
#include "test_attention.h"
#include "test_opencl.h"

static const Backend opencl = {"OpenCL", oc_backend_check, NULL};

static void test_gemm_orientations(void **state)
{
    (void)state;
    bc_gemm_orientations(&opencl);
    /* several blocks along M and N, none of them full at the edges */
    bc_matmul(&opencl, DT_F32, 2, DIMS(23, 20), 2, DIMS(20, 50), false, false, -1, true, 1e-5);
    bc_matmul(&opencl, DT_F32, 2, DIMS(13, 70), 2, DIMS(33, 70), false, true, -1, false, 1e-5);
}

/* B a parameter: packed once when the model opens, by the backend (RT_OCL_PERSIST) or by
 * the plan (plan_pack) in the kernels' panel width (read in place) or in another one
 * (repacked once); blocks of 6 × 16 and of 12 × 32 (the AVX-512 schedule) */
static void test_gemm_weights(void **state)
{
    (void)state;
    for (int t = 0; t < 12; t++) {
        int tb = t & 1, pack = (t / 2) % 3 == 0 ? 0 : (t / 2) % 3 == 1 ? 16 : 32;
        OclGenOptions gen = {0};
        if (t >= 6) /* the AVX-512 schedule: blocks of 12 × 32 */
            gen = (OclGenOptions){.gemm_mr = 12, .gemm_vec = 16, .gemm_nr = 32};
        Graph *g = ir_graph_new("t");
        int32_t x = input(g, "x", bc_sym_type(g, DT_F32, 3, DIMS(1, 11, 24), 0));
        Attr pa = attr_of(OP_PARAM);
        pa.param.name = "w";
        Type wt = ty(DT_F32, 2, tb ? DIMS(40, 24) : DIMS(24, 40));
        IrError err = {{0}};
        int32_t w = ir_build(g, OP_PARAM, NULL, 0, &pa, &wt, NOLOC, &err);
        assert_true(w >= 0);
        Attr mt = attr_of(OP_MATMUL);
        mt.matmul.transpose_b = tb;
        int32_t y = node(g, OP_MATMUL, (int32_t[]){x, w}, 2, &mt);
        assert_true(ir_add_output(g, "out", node(g, OP_TANH, &y, 1, NULL)));
        TaWeights tw;
        ta_weights(g, 5, &tw);
        for (int bsz = 1; bsz <= 3; bsz += 2) {
            Tensor *tx = tl_random(DT_F32, 3, (const int64_t[]){bsz, 11, 24}, -1, 1, 7);
            NamedTensor in = {"x", tx};
            oc_check(g, &tw.ws, &in, 1, 1e-5, &(OcCheck){.pack_nr = pack, .gen = gen}, NULL);
            tensor_free(tx);
        }
        ta_weights_free(&tw);
        ir_graph_free(g);
    }
}

/* other register blocks: 4 × 16, 8 × 16 and 1 × 16 in float16, 6 × 32 and 12 × 32 (the
 * AVX-512 schedule) in float16 and 3 × 32 in float8; the GPU schedule */
static void test_gemm_blocks(void **state)
{
    (void)state;
    OcCheck c[7] = {{.gen = {.gemm_mr = 4}},
                    {.gen = {.gemm_mr = 8, .gemm_vec = 16}},
                    {.gen = {.gemm_mr = 1, .gemm_vec = 16}},
                    {.gen = {.gemm_mr = 6, .gemm_vec = 16, .gemm_nr = 32}},
                    {.gen = {.gemm_mr = 12, .gemm_vec = 16, .gemm_nr = 32}}, /* AVX-512 devices' */
                    {.gen = {.gemm_mr = 3, .gemm_vec = 8, .gemm_nr = 32}},
                    {.gen = {.gpu = true}}};
    for (int i = 0; i < 7; i++) {
        const Backend b = oc_backend(&c[i]);
        bc_matmul(&b, DT_F32, 2, DIMS(19, 33), 2, DIMS(33, 45), false, false, -1, true, 1e-5);
        bc_matmul(&b, DT_F32, 3, DIMS(2, 9, 33), 2, DIMS(17, 33), false, true, -1, false, 1e-5);
    }
}

/* softmax, log_softmax and normalize; then normalize's sums in vector lanes: rows of 48 in
 * 16 lanes (the AVX-512 schedule) and 8 (the default), 40 in 8 lanes (16 does not divide
 * it: in order) */
static void test_row_kernels(void **state)
{
    (void)state;
    bc_row_kernels(&opencl);
    static const OcCheck v16 = {.gen = {.gemm_mr = 12, .gemm_vec = 16, .gemm_nr = 32}};
    const Backend b16 = oc_backend(&v16);
    bc_row(&b16, OP_NORMALIZE, -1, true, DT_F32, 1e-5, 48);
    bc_row(&b16, OP_NORMALIZE, -1, false, DT_F32, 1e-5, 48);
    bc_row(&opencl, OP_NORMALIZE, -1, true, DT_F32, 1e-5, 48);
    bc_row(&b16, OP_NORMALIZE, -1, true, DT_F32, 1e-5, 40);
    bc_row(&opencl, OP_NORMALIZE, -1, true, DT_F32, 1e-5, 40);
}

/* integer sums that wrap: against ir_interp only */
static void test_reduce_kernels(void **state)
{
    (void)state;
    static const Op ops[] = {OP_REDUCE_SUM, OP_REDUCE_MEAN, OP_REDUCE_MAX, OP_REDUCE_MIN};
    for (int i = 0; i < 4; i++)
        for (int keep = 0; keep < 2; keep++) {
            bc_reduce(&opencl, ops[i], DT_F32, (const int64_t[]){1}, 1, keep, false);
            bc_reduce(&opencl, ops[i], DT_F32, (const int64_t[]){0, 2}, 2, keep, false);
            bc_reduce(&opencl, ops[i], DT_F32, (const int64_t[]){0, 1, 2}, 3, keep, false);
            bc_reduce(&opencl, ops[i], DT_I32, (const int64_t[]){0, 2}, 2, keep, true);
            bc_reduce(&opencl, ops[i], DT_I64, (const int64_t[]){-1}, 1, keep, true);
        }
    bc_reduce(&opencl, OP_REDUCE_MEAN, DT_F16, (const int64_t[]){2}, 1, false, false);
}

/* gathers of every axis and index rank; out of range: a message naming the kernel */
static void test_gather(void **state)
{
    (void)state;
    for (int axis = 0; axis < 3; axis++)
        for (int ri = 0; ri <= 2; ri++)
            bc_take(&opencl, axis, ri, ri == 1 ? DT_I64 : DT_I32, false);
    bc_take(&opencl, 0, 2, DT_I32, true);
    bc_take(&opencl, 1, 1, DT_I64, true);
}

/* attention(q [b..., nq, dh], k, v [b..., nk, ·], mask) with `kind` masks */
static void check_attention(int64_t nq, int64_t nk, int64_t dh, int64_t dv, int kind, bool bcast, DType dt, double tol)
{
    Graph *g = ir_graph_new("t");
    int64_t dq[4] = {2, 3, nq, dh}, dk[4] = {bcast ? 1 : 2, 3, nk, dh}, dvv[4] = {bcast ? 1 : 2, 3, nk, dv};
    int64_t dm[2] = {nq, nk};
    int32_t q = input(g, "q", ty(dt, 4, dq)), k = input(g, "k", ty(dt, 4, dk)), v = input(g, "v", ty(dt, 4, dvv));
    int32_t m = kind == MASK_NONE ? -1 : input(g, "m", ty(kind == MASK_KEEP ? DT_BOOL : dt, 2, dm));
    Attr a = attr_of(OP_ATTENTION);
    a.attn.scale = 0.3;
    a.attn.mask = kind;
    int32_t in4[4] = {q, k, v, m};
    int32_t y = node(g, OP_ATTENTION, in4, m >= 0 ? 4 : 3, &a);
    y = node(g, OP_ADD, (int32_t[]){y, node(g, OP_TANH, &y, 1, NULL)}, 2, NULL);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tq = tl_random(dt, 4, dq, -2, 2, 81), *tk = tl_random(dt, 4, dk, -2, 2, 82);
    Tensor *tv = tl_random(dt, 4, dvv, -2, 2, 83);
    Tensor *tm = kind == MASK_KEEP ? tl_random(DT_BOOL, 2, dm, 0, 1, 84)
                 : kind == MASK_ADD ? tl_random(dt, 2, dm, -3, 1, 84) : NULL;
    if (tm && kind == MASK_ADD)
        tensor_set(tm, 0, -INFINITY);
    NamedTensor in[4] = {{"q", tq}, {"k", tk}, {"v", tv}, {"m", tm}};
    oc_check(g, NULL, in, tm ? 4 : 3, tol, NULL, NULL);
    tensor_free(tq);
    tensor_free(tk);
    tensor_free(tv);
    tensor_free(tm);
    ir_graph_free(g);
}

static void test_attention(void **state)
{
    (void)state;
    check_attention(9, 11, 8, 8, MASK_NONE, false, DT_F32, 1e-5);
    check_attention(19, 7, 16, 24, MASK_KEEP, true, DT_F32, 1e-5);
    check_attention(5, 13, 8, 5, MASK_ADD, false, DT_F32, 1e-5);
    check_attention(3, 1, 4, 3, MASK_NONE, false, DT_F32, 1e-5);
    check_attention(17, 300, 8, 8, MASK_NONE, false, DT_F32, 1e-5); /* flash: 64-key blocks */
    check_attention(17, 300, 8, 8, MASK_ADD, true, DT_F32, 1e-5);
    check_attention(9, 11, 8, 8, MASK_NONE, false, DT_F16, 2e-3);
}

/* the attention block (fused by attention-fusion at -O1) */
static void test_attention_chain(void **state)
{
    (void)state;
    bc_attention_chain((const Backend *const[]){&opencl}, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_orientations), cmocka_unit_test(test_gemm_weights),
        bc_unit_test(gemm_batch, &opencl),        bc_unit_test(gemm_dtypes, &opencl),
        cmocka_unit_test(test_gemm_blocks),       bc_unit_test(gemm_sliced, &opencl),
        cmocka_unit_test(test_row_kernels),       cmocka_unit_test(test_reduce_kernels),
        cmocka_unit_test(test_gather),            cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
