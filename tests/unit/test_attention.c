/* test_attention.c — the attention op: shape inference and its errors, the interpreter
 * (ir/interp_attention.c) on hand-computed cases (expected values from numpy, computed
 * apart from vitc, or closed forms), mask semantics (a fully masked keep row is uniform,
 * never NaN; an all −inf additive row is NaN, as softmax), broadcasting, Nk = 0 and
 * Nk = 1, and MODELS.md §10 test 5: MAP with one key gives y = Wo(Wv·x + bv) + bo.
 */
#include <math.h>

#include "test_interp.h"
#include "test_attention.h"

static int32_t attn(Graph *g, int32_t q, int32_t k, int32_t v, int32_t m, double scale, int kind)
{
    Attr a = attr_of(OP_ATTENTION);
    a.attn.scale = scale;
    a.attn.mask = kind;
    int32_t in[4] = {q, k, v, m};
    return node(g, OP_ATTENTION, in, m >= 0 ? 4 : 3, &a);
}

static const double Q2[] = {1, 2, -1, 0.5}, K2[] = {0.5, 1, 2, -1, 0, 0}, V2[] = {1, -1, 2, 0, 3, 4};

/* one query, two keys: p = (e/(e+1), 1/(e+1)), out = v0 + p1·(v1 − v0) */
static void test_by_hand(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t q = cst(g, DT_F32, 2, DIMS(1, 2), VALS(1, 0), 2);
    int32_t k = cst(g, DT_F32, 2, DIMS(2, 2), VALS(1, 0, 0, 1), 4);
    int32_t v = cst(g, DT_F32, 2, DIMS(2, 3), VALS(1, 2, 3, 4, 5, 6), 6);
    double p1 = 1 / (exp(1.0) + 1);
    expect(g, attn(g, q, k, v, -1, 1, MASK_NONE), 2, DIMS(1, 3), VALS(1 + 3 * p1, 2 + 3 * p1, 3 + 3 * p1), 3, 1e-6);
    /* scale 0: uniform weights, the mean of v */
    expect(g, attn(g, q, k, v, -1, 0, MASK_NONE), 2, DIMS(1, 3), VALS(2.5, 3.5, 4.5), 3, 1e-6);
    ir_graph_free(g);
}

static void test_numpy_cases(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t q = cst(g, DT_F32, 2, DIMS(2, 2), Q2, 4), k = cst(g, DT_F32, 2, DIMS(3, 2), K2, 6);
    int32_t v = cst(g, DT_F32, 2, DIMS(3, 2), V2, 6);
    expect(g, attn(g, q, k, v, -1, 0.5, MASK_NONE), 2, DIMS(2, 2),
           VALS(1.5464139532345142, 0.09282790646902872, 2.0, 1.3120462306134566), 4, 1e-6);
    /* keep: row 1 keeps keys 0 and 2; row 2 keeps none: uniform (the mean of v), not NaN */
    int32_t keep = cst(g, DT_BOOL, 2, DIMS(2, 3), VALS(1, 0, 1, 0, 0, 0), 6);
    expect(g, attn(g, q, k, v, keep, 0.5, MASK_KEEP), 2, DIMS(2, 2),
           VALS(1.4454002776506176, 0.11350069412654429, 2, 1), 4, 1e-6);
    /* add, with a −inf */
    int32_t add = cst(g, DT_F32, 2, DIMS(2, 3), VALS(0, -INFINITY, 1, -2, 0, 0.5), 6);
    expect(g, attn(g, q, k, v, add, 0.5, MASK_ADD), 2, DIMS(2, 2),
           VALS(1.8756469982284036, 1.1891174955710095, 2.7309061317507126, 3.1197094435659714), 4, 1e-6);
    /* an additive row of −inf only is NaN, as softmax([-inf, -inf]) is */
    int32_t ninf = cst(g, DT_F32, 1, DIMS(3), VALS(-INFINITY), 1);
    expect(g, attn(g, q, k, v, ninf, 0.5, MASK_ADD), 2, DIMS(2, 2), VALS(NAN, NAN, NAN, NAN), 4, 0);
    /* a keep mask of one column broadcast over the queries: only key 2 → v[2] exactly */
    int32_t col = cst(g, DT_BOOL, 1, DIMS(3), VALS(0, 0, 1), 3);
    expect(g, attn(g, q, k, v, col, 0.5, MASK_KEEP), 2, DIMS(2, 2), VALS(3, 4, 3, 4), 4, 0);
    ir_graph_free(g);
}

/* Nk = 1: the weight is 1 whatever the logit (even a huge one); Nk = 0: zeros */
static void test_one_and_no_key(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t q = cst(g, DT_F32, 2, DIMS(2, 2), VALS(1e30, -3, 7, 1e-3), 4);
    int32_t k = cst(g, DT_F32, 2, DIMS(1, 2), VALS(1e8, 2), 2), v = cst(g, DT_F32, 2, DIMS(1, 3), VALS(-1, 0.25, 9), 3);
    expect(g, attn(g, q, k, v, -1, 1, MASK_NONE), 2, DIMS(2, 3), VALS(-1, 0.25, 9, -1, 0.25, 9), 6, 0);
    int32_t k0 = cst(g, DT_F32, 2, DIMS(0, 2), VALS(0), 0), v0 = cst(g, DT_F32, 2, DIMS(0, 3), VALS(0), 0);
    expect(g, attn(g, q, k0, v0, -1, 1, MASK_NONE), 2, DIMS(2, 3), VALS(0, 0, 0, 0, 0, 0), 6, 0);
    ir_graph_free(g);
}

/* leading axes broadcast: q [2,1,Nq,Dh] and k, v [1,2,Nk,·] give [2,2,Nq,Dv], each batch
 * the 2-D attention of its slices */
static void test_broadcast(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    double qd[8], kd[12], vd[12];
    for (int i = 0; i < 8; i++)
        qd[i] = i < 4 ? Q2[i] : -Q2[i - 4];
    for (int i = 0; i < 12; i++) {
        kd[i] = i < 6 ? K2[i] : 0;
        vd[i] = i < 6 ? V2[i] : 1;
    }
    int32_t q = cst(g, DT_F32, 4, DIMS(2, 1, 2, 2), qd, 8), k = cst(g, DT_F32, 4, DIMS(1, 2, 3, 2), kd, 12);
    int32_t v = cst(g, DT_F32, 4, DIMS(1, 2, 3, 2), vd, 12);
    /* [0,0]: the numpy case; [0,1] and [1,1]: k = 0, v = 1: ones; [1,0]: q negated */
    Tensor *t = run(g, attn(g, q, k, v, -1, 0.5, MASK_NONE));
    check_dims(t, 4, DIMS(2, 2, 2, 2));
    const double *w = VALS(1.5464139532345142, 0.09282790646902872, 2.0, 1.3120462306134566);
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(t->f[i] - w[i]) < 1e-6);
        assert_true(fabs(t->f[4 + i] - 1) < 1e-6 && fabs(t->f[12 + i] - 1) < 1e-6);
    }
    tensor_free(t);
    ir_graph_free(g);
}

static void infer_fails(Graph *g, const int32_t *in, int nin, double scale, int kind, const char *want)
{
    Attr a = attr_of(OP_ATTENTION);
    a.attn.scale = scale;
    a.attn.mask = kind;
    IrError err = {{0}};
    if (ir_build(g, OP_ATTENTION, in, nin, &a, NULL, NOLOC, &err) >= 0)
        fail_msg("expected an error containing \"%s\"", want);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void test_infer(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t B = ir_symbol(g, "B", 8);
    Type tq = ty(DT_F32, 4, DIMS(1, 3, 5, 4)), tk = ty(DT_F32, 3, DIMS(3, 7, 4)), tv = ty(DT_F32, 4, DIMS(1, 3, 7, 6));
    tq.shape.d[0] = dim_sym(B, 1);
    int32_t q = input(g, "q", tq), k = input(g, "k", tk), v = input(g, "v", tv);
    int32_t o = attn(g, q, k, v, -1, 0.5, MASK_NONE);
    const Type *t = ir_type(g, o);
    assert_int_equal(t->dt, DT_F32);
    assert_int_equal(t->shape.rank, 4);
    assert_true(dim_eq(t->shape.d[0], dim_sym(B, 1)));
    assert_int_equal(t->shape.d[2].n, 5);
    assert_int_equal(t->shape.d[3].n, 6);
    int32_t mb = input(g, "mb", ty(DT_BOOL, 2, DIMS(5, 7))), mf = input(g, "mf", ty(DT_F32, 3, DIMS(3, 1, 7)));
    attn(g, q, k, v, mb, 1, MASK_KEEP);
    attn(g, q, k, v, mf, 1, MASK_ADD);
    int32_t qk_v[3] = {q, k, v}, with_mb[4] = {q, k, v, mb}, with_mf[4] = {q, k, v, mf};
    infer_fails(g, with_mb, 4, 1, MASK_NONE, "takes 3 operands");
    infer_fails(g, qk_v, 3, 1, MASK_KEEP, "takes 4 operands");
    infer_fails(g, with_mf, 4, 1, MASK_KEEP, "needs a bool mask");
    infer_fails(g, with_mb, 4, 1, MASK_ADD, "of the dtype of q");
    infer_fails(g, qk_v, 3, INFINITY, MASK_NONE, "finite");
    int32_t big = input(g, "big", ty(DT_BOOL, 2, DIMS(6, 7)));
    int32_t wide = input(g, "wide", ty(DT_BOOL, 5, DIMS(2, 1, 3, 5, 7)));
    int32_t mbig[4] = {q, k, v, big}, mwide[4] = {q, k, v, wide};
    infer_fails(g, mbig, 4, 1, MASK_KEEP, "does not broadcast to the logits");
    infer_fails(g, mwide, 4, 1, MASK_KEEP, "does not broadcast to the logits");
    int32_t k5 = input(g, "k5", ty(DT_F32, 3, DIMS(3, 7, 5))), v8 = input(g, "v8", ty(DT_F32, 3, DIMS(3, 8, 6)));
    int32_t k2 = input(g, "k2", ty(DT_F32, 4, DIMS(2, 3, 7, 4))), vi = input(g, "vi", ty(DT_I32, 3, DIMS(3, 7, 6)));
    int32_t x1 = input(g, "x1", ty(DT_F32, 1, DIMS(4)));
    infer_fails(g, (int32_t[]){q, k5, v}, 3, 1, MASK_NONE, "different head sizes");
    infer_fails(g, (int32_t[]){q, k, v8}, 3, 1, MASK_NONE, "different numbers of keys");
    infer_fails(g, (int32_t[]){q, k2, v}, 3, 1, MASK_NONE, "do not broadcast");
    infer_fails(g, (int32_t[]){q, k, vi}, 3, 1, MASK_NONE, "one float dtype");
    infer_fails(g, (int32_t[]){x1, k, v}, 3, 1, MASK_NONE, "rank 2 or more");
    ir_graph_free(g);
}

/* f16: computed in double, rounded once to f16 */
static void test_f16(void **state)
{
    (void)state;
    Graph *g = ir_graph_new("t");
    int32_t q = cst(g, DT_F16, 2, DIMS(2, 2), Q2, 4), k = cst(g, DT_F16, 2, DIMS(3, 2), K2, 6);
    int32_t v = cst(g, DT_F16, 2, DIMS(3, 2), V2, 6);
    int32_t keep = cst(g, DT_BOOL, 2, DIMS(2, 3), VALS(1, 0, 1, 0, 0, 0), 6);
    Tensor *t = run(g, attn(g, q, k, v, keep, 0.5, MASK_KEEP));
    const double *w = VALS(1.4454002776506176, 0.11350069412654429, 2, 1);
    for (int i = 0; i < 4; i++)
        assert_true(t->f[i] == (float)dtype_round(DT_F16, w[i]));
    tensor_free(t);
    ir_graph_free(g);
}

/* ---- MODELS.md §10 test 5 ---- */

/* map_head over one token: softmax of one logit is 1, so the attention is v itself and
 * y = proj(v-part of kv(x)), then y + mlp(norm(y)): the closed form, written apart. */
static void test_map_one_key(void **state)
{
    (void)state;
    Graph *g = ta_compile("map1.vit", "import \"prelude.vit\"\n"
                                      "model map1 {\n"
                                      "  input x: f32[B, 1, 16] (B <= 4)\n"
                                      "  output y = map_head(x, 2, 32)\n"
                                      "  v = linear(x, 32, \"attn_pool.kv\")[:, :, 16:]\n"
                                      "  z = linear(v, 16, \"attn_pool.proj\")\n"
                                      "  z = z + mlp(layernorm(z, \"attn_pool.norm\"), 32, \"attn_pool.mlp\")\n"
                                      "  output closed = z[:, 0]\n"
                                      "}\n");
    IrError err = {{0}};
    PassOptions po = {.ice = &err};
    assert_true(pass_run_pipeline(g, pass_default_pipeline(2), &po, &err));
    assert_int_equal(ta_count(g, OP_ATTENTION), 1);
    TaWeights w;
    ta_weights(g, 7, &w);
    Tensor *x = tl_random(DT_F32, 3, DIMS(3, 1, 16), -2, 2, 11);
    NamedTensor in[1] = {{"x", x}};
    Tensor *ref[2] = {NULL, NULL}, *got[2] = {NULL, NULL};
    assert_true(ir_interp(g, &w.ws, in, 1, ref, &err));
    assert_true(tl_diff(ref[0], ref[1]) < 1e-5); /* the interpreter */
    tl_check(g, &w.ws, in, 1, 1e-5, NULL, got);   /* and the kernels */
    assert_true(tl_diff(got[0], ref[1]) < 1e-5 && tl_diff(got[1], ref[1]) < 1e-5);
    for (int i = 0; i < 2; i++) {
        tensor_free(ref[i]);
        tensor_free(got[i]);
    }
    tensor_free(x);
    ta_weights_free(&w);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),  cmocka_unit_test(test_numpy_cases), cmocka_unit_test(test_one_and_no_key),
        cmocka_unit_test(test_broadcast), cmocka_unit_test(test_infer),      cmocka_unit_test(test_f16),
        cmocka_unit_test(test_map_one_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
