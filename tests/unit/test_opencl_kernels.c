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
 * past the decomposed limit) and f16.
 */
#include "test_interp.h"
#include "test_attention.h"
#include "test_opencl.h"

static Type sym_type(Graph *g, DType dt, int rank, const int64_t *dims, int symdim)
{
    Type t = ty(dt, rank, dims);
    if (symdim >= 0)
        t.shape.d[symdim] = dim_sym(ir_symbol(g, "B", 8), 1);
    return t;
}

/* out = a @ b (with transposes); b a parameter (`weight`) or an input; `bsym` ≥ 0 makes
 * that dim of a symbolic; epi adds a bias, GELU and a product with itself. */
static void check_matmul(DType dt, int ra, const int64_t *da, int rb, const int64_t *db, bool ta, bool tb, int bsym,
                         bool epi, double tol, const OcCheck *opt)
{
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", sym_type(g, dt, ra, da, bsym));
    int32_t b = input(g, "b", ty(dt, rb, db));
    Attr at = attr_of(OP_MATMUL);
    at.matmul.transpose_a = ta;
    at.matmul.transpose_b = tb;
    int32_t y = node(g, OP_MATMUL, (int32_t[]){a, b}, 2, &at);
    if (epi) {
        int64_t n = ir_type(g, y)->shape.d[ir_type(g, y)->shape.rank - 1].n;
        int32_t bias = input(g, "bias", ty(dt, 1, (const int64_t[]){n}));
        y = node(g, OP_GELU, (int32_t[]){node(g, OP_ADD, (int32_t[]){y, bias}, 2, NULL)}, 1, NULL);
        y = node(g, OP_ADD, (int32_t[]){y, node(g, OP_MUL, (int32_t[]){y, y}, 2, NULL)}, 2, NULL);
    }
    assert_true(ir_add_output(g, "out", y));
    double lo = dtype_is_float(dt) ? -1 : -20, hi = dtype_is_float(dt) ? 1 : 20;
    Tensor *ta_ = tl_random(dt, ra, da, lo, hi, 31), *tb_ = tl_random(dt, rb, db, lo, hi, 32);
    const Type *yt = ir_type(g, y);
    int64_t nb = yt->shape.d[yt->shape.rank - 1].n;
    Tensor *tbias = tl_random(dt, 1, (const int64_t[]){nb}, lo, hi, 33);
    NamedTensor in[3] = {{"a", ta_}, {"b", tb_}, {"bias", tbias}};
    OcCheck c = opt ? *opt : (OcCheck){0};
    oc_check(g, NULL, in, epi ? 3 : 2, tol, &c, NULL);
    tensor_free(ta_);
    tensor_free(tb_);
    tensor_free(tbias);
    ir_graph_free(g);
}

static void test_gemm_orientations(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        int64_t da[2] = {ta ? 37 : 5, ta ? 5 : 37}, db[2] = {tb ? 9 : 37, tb ? 37 : 9};
        check_matmul(DT_F32, 2, da, 2, db, ta, tb, -1, false, 1e-5, NULL);
        check_matmul(DT_F32, 2, da, 2, db, ta, tb, -1, true, 1e-5, NULL);
    }
    /* several blocks along M and N, none of them full at the edges */
    check_matmul(DT_F32, 2, DIMS(23, 20), 2, DIMS(20, 50), false, false, -1, true, 1e-5, NULL);
    check_matmul(DT_F32, 2, DIMS(13, 70), 2, DIMS(33, 70), false, true, -1, false, 1e-5, NULL);
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
        int32_t x = input(g, "x", sym_type(g, DT_F32, 3, DIMS(1, 11, 24), 0));
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

static void test_gemm_batch(void **state)
{
    (void)state;
    check_matmul(DT_F32, 4, DIMS(2, 3, 5, 7), 2, DIMS(7, 9), false, false, -1, false, 1e-5, NULL);
    check_matmul(DT_F32, 4, DIMS(2, 1, 5, 7), 3, DIMS(3, 7, 9), false, false, -1, true, 1e-5, NULL);
    check_matmul(DT_F32, 4, DIMS(2, 3, 5, 7), 3, DIMS(3, 9, 7), false, true, -1, false, 1e-5, NULL);
    for (int bsz = 1; bsz <= 3; bsz += 2) {
        check_matmul(DT_F32, 3, (const int64_t[]){bsz, 6, 10}, 2, DIMS(10, 4), false, false, 0, true, 1e-5, NULL);
        check_matmul(DT_F32, 3, (const int64_t[]){bsz, 6, 10}, 2, DIMS(4, 10), false, true, 0, true, 1e-5, NULL);
    }
}

static void test_gemm_dtypes(void **state)
{
    (void)state;
    check_matmul(DT_I32, 2, DIMS(4, 9), 2, DIMS(9, 5), false, false, -1, false, 0, NULL);
    check_matmul(DT_I64, 3, DIMS(2, 4, 9), 2, DIMS(5, 9), false, true, -1, false, 0, NULL);
    check_matmul(DT_F16, 2, DIMS(4, 30), 2, DIMS(30, 6), false, false, -1, false, 1e-3, NULL);
    check_matmul(DT_BF16, 2, DIMS(4, 30), 2, DIMS(6, 30), false, true, -1, false, 8e-3, NULL);
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
        check_matmul(DT_F32, 2, DIMS(19, 33), 2, DIMS(33, 45), false, false, -1, true, 1e-5, &c[i]);
        check_matmul(DT_F32, 3, DIMS(2, 9, 33), 2, DIMS(17, 33), false, true, -1, false, 1e-5, &c[i]);
    }
}

/* x[:, 2:9] @ w, and the product of two slices of one buffer (q·kᵀ of a fused qkv) */
static void test_gemm_sliced(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(DT_F32, 2, DIMS(5, 12))), w = input(g, "w", ty(DT_F32, 2, DIMS(7, 4)));
    Attr sl = attr_of(OP_SLICE);
    sl.slice = (SliceAttr){.axis = 1, .start = 2, .stop = 9, .step = 1};
    int32_t xs = node(g, OP_SLICE, &x, 1, &sl);
    assert_true(ir_add_output(g, "y", node(g, OP_MATMUL, (int32_t[]){xs, w}, 2, NULL)));
    Attr s2 = sl, s3 = sl;
    s2.slice.start = 0;
    s2.slice.stop = 6;
    s3.slice.start = 6;
    s3.slice.stop = 12;
    int32_t q = node(g, OP_SLICE, &x, 1, &s2), k = node(g, OP_SLICE, &x, 1, &s3);
    Attr mt = attr_of(OP_MATMUL);
    mt.matmul.transpose_b = true;
    assert_true(ir_add_output(g, "qk", node(g, OP_MATMUL, (int32_t[]){q, k}, 2, &mt)));
    Tensor *tx = tl_random(DT_F32, 2, DIMS(5, 12), -1, 1, 41), *tw = tl_random(DT_F32, 2, DIMS(7, 4), -1, 1, 42);
    NamedTensor in[2] = {{"x", tx}, {"w", tw}};
    oc_check(g, NULL, in, 2, 1e-5, NULL, NULL);
    tensor_free(tx);
    tensor_free(tw);
    ir_graph_free(g);
}

/* op along `axis` of x [2, 5, 7], scaled and shifted in the epilogue */
static void check_row_len(Op op, int axis, bool center, DType dt, double tol, int64_t L, const OcCheck *opt)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 3, DIMS(2, 5, L)));
    Attr a = attr_of(op);
    if (op == OP_NORMALIZE)
        a.norm.center = center;
    else
        a.axis.axis = axis;
    int32_t y = node(g, op, &x, 1, &a);
    int32_t s = input(g, "s", ty(dt, 1, DIMS(L)));
    y = node(g, OP_ADD, (int32_t[]){node(g, OP_MUL, (int32_t[]){y, s}, 2, NULL), s}, 2, NULL);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tx = tl_random(dt, 3, DIMS(2, 5, L), -4, 4, 51), *ts = tl_random(dt, 1, DIMS(L), -2, 2, 52);
    for (int64_t i = 0; L > 7 && i < tx->numel; i++) /* rows far from 0: the centred sum matters */
        tensor_set(tx, i, tensor_get(tx, i) + 10.0);
    NamedTensor in[2] = {{"x", tx}, {"s", ts}};
    OcCheck c = opt ? *opt : (OcCheck){0};
    oc_check(g, NULL, in, 2, tol, &c, NULL);
    tensor_free(tx);
    tensor_free(ts);
    ir_graph_free(g);
}

static void check_row(Op op, int axis, bool center, DType dt, double tol)
{
    check_row_len(op, axis, center, dt, tol, 7, NULL);
}

static void test_row_kernels(void **state)
{
    (void)state;
    for (int axis = -1; axis <= 1; axis++) {
        check_row(OP_SOFTMAX, axis, false, DT_F32, 1e-6);
        check_row(OP_LOG_SOFTMAX, axis, false, DT_F32, 1e-6);
    }
    check_row(OP_NORMALIZE, -1, true, DT_F32, 1e-5);
    check_row(OP_NORMALIZE, -1, false, DT_F32, 1e-5);
    check_row(OP_SOFTMAX, 1, false, DT_F16, 2e-3);
    check_row(OP_NORMALIZE, -1, true, DT_BF16, 2e-2);
    /* normalize's sums in vector lanes: rows of 48 in 16 lanes (the AVX-512 schedule) and
       8 (the default), 40 in 8 lanes (16 does not divide it: in order) */
    const OcCheck v16 = {.gen = {.gemm_mr = 12, .gemm_vec = 16, .gemm_nr = 32}};
    check_row_len(OP_NORMALIZE, -1, true, DT_F32, 1e-5, 48, &v16);
    check_row_len(OP_NORMALIZE, -1, false, DT_F32, 1e-5, 48, &v16);
    check_row_len(OP_NORMALIZE, -1, true, DT_F32, 1e-5, 48, NULL);
    check_row_len(OP_NORMALIZE, -1, true, DT_F32, 1e-5, 40, &v16);
    check_row_len(OP_NORMALIZE, -1, true, DT_F32, 1e-5, 40, NULL);
}

/* reduce x [3, 4, 5] over `axes` */
static void check_reduce(Op op, DType dt, const int64_t *axes, int naxes, bool keepdims)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 3, DIMS(3, 4, 5)));
    Attr a = attr_of(op);
    a.reduce.axes = (IntList){naxes, axes};
    a.reduce.keepdims = keepdims;
    int32_t y = node(g, op, &x, 1, &a);
    if (dtype_is_float(dt))
        y = node(g, OP_EXP, &y, 1, NULL);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tx = tl_random(dt, 3, DIMS(3, 4, 5), -2, 2, 61);
    if (dt == DT_I32 || dt == DT_I64)
        tx->i[0] = dt == DT_I32 ? INT32_MAX : INT64_MAX; /* sums wrap */
    NamedTensor in = {"x", tx};
    oc_check(g, NULL, &in, 1, dtype_is_float(dt) ? 1e-5 : 0, &(OcCheck){.interp_only = !dtype_is_float(dt)}, NULL);
    tensor_free(tx);
    ir_graph_free(g);
}

static void test_reduce_kernels(void **state)
{
    (void)state;
    static const Op ops[] = {OP_REDUCE_SUM, OP_REDUCE_MEAN, OP_REDUCE_MAX, OP_REDUCE_MIN};
    for (int i = 0; i < 4; i++)
        for (int keep = 0; keep < 2; keep++) {
            check_reduce(ops[i], DT_F32, (const int64_t[]){1}, 1, keep);
            check_reduce(ops[i], DT_F32, (const int64_t[]){0, 2}, 2, keep);
            check_reduce(ops[i], DT_F32, (const int64_t[]){0, 1, 2}, 3, keep);
            check_reduce(ops[i], DT_I32, (const int64_t[]){0, 2}, 2, keep);
            check_reduce(ops[i], DT_I64, (const int64_t[]){-1}, 1, keep);
        }
    check_reduce(OP_REDUCE_MEAN, DT_F16, (const int64_t[]){2}, 1, false);
}

/* take(table [5, 4, 3], idx, axis) for axis 0..2 and indices of rank 0..2 */
static void check_take(int axis, int ri, DType idt, bool bad)
{
    Graph *g = ir_graph_new("t");
    int64_t tdims[3] = {5, 4, 3}, idims[2] = {2, 3};
    int32_t t = input(g, "t", ty(DT_F32, 3, tdims)), ix = input(g, "i", ty(idt, ri, idims));
    Attr a = attr_of(OP_TAKE);
    a.axis.axis = axis;
    int32_t y = node(g, OP_TAKE, (int32_t[]){t, ix}, 2, &a);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tt = tl_random(DT_F32, 3, tdims, -1, 1, 71);
    Tensor *ti = tl_random(idt, ri, idims, 0, (double)tdims[axis] - 1, 72 + (uint64_t)axis);
    if (bad)
        ti->i[ti->numel - 1] = axis == 1 ? -1 : tdims[axis];
    NamedTensor in[2] = {{"t", tt}, {"i", ti}};
    OcCheck c = {.expect_error = bad, .no_reference = bad};
    oc_check(g, NULL, in, 2, 0, &c, NULL);
    if (bad && !strstr(c.error, "a gather index was out of range in kernel k"))
        fail_msg("unexpected error: %s", c.error);
    tensor_free(tt);
    tensor_free(ti);
    ir_graph_free(g);
}

static void test_gather(void **state)
{
    (void)state;
    for (int axis = 0; axis < 3; axis++)
        for (int ri = 0; ri <= 2; ri++)
            check_take(axis, ri, ri == 1 ? DT_I64 : DT_I32, false);
    check_take(0, 2, DT_I32, true);
    check_take(1, 1, DT_I64, true);
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

/* an attention block as the prelude spells it (fused by attention-fusion at -O1) */
static void test_attention_chain(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t q = input(g, "q", ty(DT_F32, 4, DIMS(2, 3, 9, 8))), k = input(g, "k", ty(DT_F32, 4, DIMS(2, 3, 9, 8)));
    int32_t v = input(g, "v", ty(DT_F32, 4, DIMS(2, 3, 9, 8)));
    Attr mt = attr_of(OP_MATMUL);
    mt.matmul.transpose_b = true;
    int32_t qs = node(g, OP_MUL, (int32_t[]){q, ir_build_scalar(g, 0.35, DT_F32, NOLOC, &(IrError){{0}})}, 2, NULL);
    int32_t s = node(g, OP_MATMUL, (int32_t[]){qs, k}, 2, &mt);
    int32_t p = node(g, OP_SOFTMAX, &s, 1, NULL);
    assert_true(ir_add_output(g, "out", node(g, OP_MATMUL, (int32_t[]){p, v}, 2, NULL)));
    Tensor *tq = tl_random(DT_F32, 4, DIMS(2, 3, 9, 8), -2, 2, 81), *tk = tl_random(DT_F32, 4, DIMS(2, 3, 9, 8), -2, 2, 82);
    Tensor *tv = tl_random(DT_F32, 4, DIMS(2, 3, 9, 8), -2, 2, 83);
    NamedTensor in[3] = {{"q", tq}, {"k", tk}, {"v", tv}};
    oc_check(g, NULL, in, 3, 1e-5, NULL, NULL);
    tensor_free(tq);
    tensor_free(tk);
    tensor_free(tv);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_orientations), cmocka_unit_test(test_gemm_weights),
        cmocka_unit_test(test_gemm_batch),        cmocka_unit_test(test_gemm_dtypes),
        cmocka_unit_test(test_gemm_blocks),       cmocka_unit_test(test_gemm_sliced),
        cmocka_unit_test(test_row_kernels),       cmocka_unit_test(test_reduce_kernels),
        cmocka_unit_test(test_gather),            cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
