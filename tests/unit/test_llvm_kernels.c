/* test_llvm_kernels.c — the LLVM backend's GEMM, row, reduce and gather kernels against
 * the interpreter and plan_exec: both B orientations (the axpy and the dot-product loop),
 * batch broadcasting, transposed and sliced operands, a symbolic batch bound to 1 and 3,
 * fused epilogues, integer and f16 GEMMs; softmax along a non-last axis, log_softmax,
 * normalize with and without centering; reductions with keepdims and over all axes;
 * gathers, one with an index out of range (the error cell).
 */
#include "test_interp.h"
#include "test_llvm.h"

static Type sym_type(Graph *g, DType dt, int rank, const int64_t *dims, int symdim)
{
    Type t = ty(dt, rank, dims);
    if (symdim >= 0)
        t.shape.d[symdim] = dim_sym(ir_symbol(g, "B", 8), 1);
    return t;
}

/* out = a @ b (with transposes) for operand shapes da, db; `bsym` ≥ 0 makes that dim of a
 * symbolic, bound to `bval`. epi adds a bias and GELU and a residual. */
static void check_matmul(DType dt, int ra, const int64_t *da, int rb, const int64_t *db, bool ta, bool tb, int bsym,
                         bool epi, double tol)
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
    tl_check(g, NULL, in, epi ? 3 : 2, tol, NULL, NULL);
    tensor_free(ta_);
    tensor_free(tb_);
    tensor_free(tbias);
    ir_graph_free(g);
}

static void test_gemm_orientations(void **state)
{
    (void)state;
    /* B row-major (axpy loop), B transposed (dot loop), A transposed, both */
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        int64_t da[4] = {ta ? 37 : 5, ta ? 5 : 37}, db[4] = {tb ? 9 : 37, tb ? 37 : 9};
        check_matmul(DT_F32, 2, da, 2, db, ta, tb, -1, false, 1e-5);
        check_matmul(DT_F32, 2, da, 2, db, ta, tb, -1, true, 1e-5);
    }
    /* more than one 256-wide chunk of the axpy loop, and a long K for the dot loop */
    check_matmul(DT_F32, 2, DIMS(3, 20), 2, DIMS(20, 600), false, false, -1, true, 1e-5);
    check_matmul(DT_F32, 2, DIMS(4, 700), 2, DIMS(33, 700), false, true, -1, false, 1e-5);
}

static void test_gemm_batch(void **state)
{
    (void)state;
    /* [2,3,5,7] @ [7,9]; [2,1,5,7] @ [3,7,9]; [2,3,5,7] @ [3,9,7]ᵀ */
    check_matmul(DT_F32, 4, DIMS(2, 3, 5, 7), 2, DIMS(7, 9), false, false, -1, false, 1e-5);
    check_matmul(DT_F32, 4, DIMS(2, 1, 5, 7), 3, DIMS(3, 7, 9), false, false, -1, true, 1e-5);
    check_matmul(DT_F32, 4, DIMS(2, 3, 5, 7), 3, DIMS(3, 9, 7), false, true, -1, false, 1e-5);
    /* a symbolic batch bound to 1 and 3, both orientations */
    for (int bsz = 1; bsz <= 3; bsz += 2) {
        check_matmul(DT_F32, 3, (const int64_t[]){bsz, 6, 10}, 2, DIMS(10, 4), false, false, 0, true, 1e-5);
        check_matmul(DT_F32, 3, (const int64_t[]){bsz, 6, 10}, 2, DIMS(4, 10), false, true, 0, true, 1e-5);
    }
}

static void test_gemm_dtypes(void **state)
{
    (void)state;
    check_matmul(DT_I32, 2, DIMS(4, 9), 2, DIMS(9, 5), false, false, -1, false, 0);
    check_matmul(DT_I64, 3, DIMS(2, 4, 9), 2, DIMS(5, 9), false, true, -1, false, 0);
    /* f16: accumulated in f32, rounded once (the interpreter: in double) */
    check_matmul(DT_F16, 2, DIMS(4, 30), 2, DIMS(30, 6), false, false, -1, false, 1e-3);
    check_matmul(DT_BF16, 2, DIMS(4, 30), 2, DIMS(6, 30), false, true, -1, false, 8e-3);
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
    Attr s2 = sl;
    s2.slice.start = 0;
    s2.slice.stop = 6;
    Attr s3 = sl;
    s3.slice.start = 6;
    s3.slice.stop = 12;
    int32_t q = node(g, OP_SLICE, &x, 1, &s2), k = node(g, OP_SLICE, &x, 1, &s3);
    Attr mt = attr_of(OP_MATMUL);
    mt.matmul.transpose_b = true;
    assert_true(ir_add_output(g, "qk", node(g, OP_MATMUL, (int32_t[]){q, k}, 2, &mt)));
    Tensor *tx = tl_random(DT_F32, 2, DIMS(5, 12), -1, 1, 41), *tw = tl_random(DT_F32, 2, DIMS(7, 4), -1, 1, 42);
    NamedTensor in[2] = {{"x", tx}, {"w", tw}};
    tl_check(g, NULL, in, 2, 1e-5, NULL, NULL);
    tensor_free(tx);
    tensor_free(tw);
    ir_graph_free(g);
}

/* op along `axis` of x [2, 5, 3] (f32 or f16), scaled and shifted in the epilogue */
static void check_row(Op op, int axis, bool center, DType dt, double tol)
{
    Graph *g = ir_graph_new("t");
    int32_t x = input(g, "x", ty(dt, 3, DIMS(2, 5, 7)));
    Attr a = attr_of(op);
    if (op == OP_NORMALIZE)
        a.norm.center = center;
    else
        a.axis.axis = axis;
    int32_t y = node(g, op, &x, 1, &a);
    int32_t s = input(g, "s", ty(dt, 1, DIMS(7)));
    y = node(g, OP_ADD, (int32_t[]){node(g, OP_MUL, (int32_t[]){y, s}, 2, NULL), s}, 2, NULL);
    assert_true(ir_add_output(g, "out", y));
    Tensor *tx = tl_random(dt, 3, DIMS(2, 5, 7), -4, 4, 51), *ts = tl_random(dt, 1, DIMS(7), -2, 2, 52);
    NamedTensor in[2] = {{"x", tx}, {"s", ts}};
    print_message("%s axis %d%s on %s\n", ir_ops[op].name, axis, center ? "" : " (no center)", dtype_name(dt));
    tl_check(g, NULL, in, 2, tol, NULL, NULL);
    tensor_free(tx);
    tensor_free(ts);
    ir_graph_free(g);
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
        y = node(g, OP_EXP, &y, 1, NULL); /* an epilogue */
    assert_true(ir_add_output(g, "out", y));
    Tensor *tx = tl_random(dt, 3, DIMS(3, 4, 5), -2, 2, 61);
    NamedTensor in = {"x", tx};
    tl_check(g, NULL, &in, 1, dtype_is_float(dt) ? 1e-5 : 0, NULL, NULL);
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
            check_reduce(ops[i], DT_F32, (const int64_t[]){-1}, 1, keep);
            check_reduce(ops[i], DT_F32, (const int64_t[]){0, 2}, 2, keep);
            check_reduce(ops[i], DT_F32, (const int64_t[]){0, 1, 2}, 3, keep);
            check_reduce(ops[i], DT_I32, (const int64_t[]){0, 2}, 2, keep);
            check_reduce(ops[i], DT_I64, (const int64_t[]){1}, 1, keep);
            check_reduce(ops[i], DT_F16, (const int64_t[]){2}, 1, keep);
        }
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
    int64_t bad_at = ti->numel - 1;
    if (bad)
        ti->i[bad_at] = axis == 1 ? -1 : tdims[axis];
    NamedTensor in[2] = {{"t", tt}, {"i", ti}};
    Tensor *got = NULL;
    TlCheck c = {.expect_error = bad, .no_reference = bad};
    tl_check(g, NULL, in, 2, 0, &c, &got);
    if (bad) {
        /* the output is defined: every element gathered with the bad index is 0 */
        const Type *yt = ir_type(g, y);
        int64_t inner = 1;
        for (int d = axis + ri; d < yt->shape.rank; d++)
            inner *= yt->shape.d[d].n;
        for (int64_t e = 0; e < got->numel; e++) {
            int64_t which = (e / inner) % (ti->numel ? ti->numel : 1);
            if (which == bad_at)
                assert_true(tensor_get(got, e) == 0);
        }
    }
    tensor_free(got);
    tensor_free(tt);
    tensor_free(ti);
    ir_graph_free(g);
}

static void test_gather(void **state)
{
    (void)state;
    for (int axis = 0; axis < 3; axis++)
        for (int ri = 0; ri <= 2; ri++) {
            check_take(axis, ri, DT_I32, false);
            check_take(axis, ri, DT_I64, false);
        }
    check_take(0, 2, DT_I32, true);
    check_take(1, 1, DT_I64, true);
    check_take(2, 2, DT_I64, true);
}

/* an attention block as the prelude spells it: softmax(q·kᵀ·scale)·v per head */
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
    for (int o = 0; o <= 3; o++) {
        TlCheck c = {.set = true, .opt_level = o};
        tl_check(g, NULL, in, 3, 1e-5, &c, NULL);
    }
    tensor_free(tq);
    tensor_free(tk);
    tensor_free(tv);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_orientations), cmocka_unit_test(test_gemm_batch),
        cmocka_unit_test(test_gemm_dtypes),       cmocka_unit_test(test_gemm_sliced),
        cmocka_unit_test(test_row_kernels),       cmocka_unit_test(test_reduce_kernels),
        cmocka_unit_test(test_gather),            cmocka_unit_test(test_attention_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
