/* test_moe_models.c — the MoE models in the interpreter (MODELS.md §10 tests 19, 22–26):
 * vmoe_test (vanilla and BPR) and e3_test against the PyTorch vectors of
 * tests/reference/moe/, through the moe op's own reference and through the lowering;
 * E^3 with M = 1 is V-MoE; E^3 with identical members is a V-MoE of E/M experts; the
 * placement helpers and the ensemble's log-mean combination.
 */
#include "test_moe.h"

/* ---- placement and the ensemble's combination ---- */

static void test_placement_and_log_mean(void **state)
{
    (void)state;
    Graph *g = mt_vit("import \"prelude_moe.vit\"\n"
                      "model m {\n"
                      "  input x: f32[6, 3]\n"
                      "  assert(moe_every(2, 12) == [1, 3, 5, 7, 9, 11], \"every 2\")\n"
                      "  assert(moe_every(3, 12) == [2, 5, 8, 11], \"every 3\")\n"
                      "  assert(moe_last(2, 8) == [5, 7], \"last 2\")\n"
                      "  assert(moe_last(0, 8) == [], \"last 0\")\n"
                      "  output log_probs = ensemble_log_mean(x, 3)\n"
                      "}\n");
    /* logsumexp(log_softmax) - log M = log(mean softmax) (test 26) */
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){6, 3}), *out;
    mt_fill(x, -4, 4, 81);
    mt_interp(g, NULL, "x", x, &out);
    assert_int_equal(out->numel, 2 * 3);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++) {
            double mean = 0;
            for (int m = 0; m < 3; m++) {
                const float *l = x->f + (b * 3 + m) * 3;
                double s = exp(l[0]) + exp(l[1]) + exp(l[2]);
                mean += exp(l[c]) / s / 3;
            }
            assert_true(fabs(out->f[b * 3 + c] - log(mean)) <= 1e-6);
        }
    tensor_free(out);
    tensor_free(x);
    ir_graph_free(g);
}

/* ---- the PyTorch references (tests/reference/moe) ---- */

static Tensor *load_ref(StFile *f, const char *name)
{
    const StTensor *t = st_find(f, name);
    if (!t || t->dtype != ST_F32)
        fail_msg("reference file: no F32 tensor '%s'", name);
    Tensor *x = tensor_new(DT_F32, t->rank, t->shape);
    assert_non_null(x);
    memcpy(x->f, t->data, t->nbytes);
    return x;
}

static void check_reference(const char *model, const char *weights, const char *output, bool lowered)
{
    char wp[4096], iop[4096], err[512];
    snprintf(wp, sizeof wp, "%s/tests/reference/moe/%s.safetensors", mt_source_dir(), weights);
    snprintf(iop, sizeof iop, "%s/tests/reference/moe/%s_io.safetensors", mt_source_dir(), weights);
    StFile *wf = st_open(wp, err, sizeof err), *iof = st_open(iop, err, sizeof err);
    if (!wf || !iof)
        fail_msg("%s", err);
    Tensor *image = load_ref(iof, "image"), *want = load_ref(iof, output), *got;
    WeightSource ws = tool_weight_source(wf);
    Graph *g = mt_model(model);
    if (lowered)
        mt_lower(g, "moe-dispatch-lowering,canonicalize,cse,dce");
    mt_interp(g, &ws, "image", image, &got);
    double d = mt_maxdiff(got, want);
    print_message("%s (%s): max |vitc - PyTorch| = %.3g\n", model, lowered ? "lowered" : "moe op", d);
    assert_true(d <= 1e-4);
    tensor_free(got);
    tensor_free(image);
    tensor_free(want);
    ir_graph_free(g);
    st_close(iof);
    st_close(wf);
}

static void test_reference_vmoe(void **state)
{
    (void)state;
    check_reference("vmoe_test", "vmoe_test", "logits", false);
    check_reference("vmoe_test", "vmoe_test", "logits", true);
    check_reference("vmoe_test_bpr", "vmoe_test", "logits_bpr", false);
    check_reference("vmoe_test_bpr", "vmoe_test", "logits_bpr", true);
    /* capacity binds in this model: BPR drops other tokens than vanilla routing */
    char iop[4096], err[512];
    snprintf(iop, sizeof iop, "%s/tests/reference/moe/vmoe_test_io.safetensors", mt_source_dir());
    StFile *iof = st_open(iop, err, sizeof err);
    assert_non_null(iof);
    Tensor *a = load_ref(iof, "logits"), *b = load_ref(iof, "logits_bpr");
    assert_true(mt_maxdiff(a, b) > 0.1);
    tensor_free(a);
    tensor_free(b);
    st_close(iof);
}

static void test_reference_e3(void **state)
{
    (void)state;
    check_reference("e3_test", "e3_test", "log_probs", false);
    check_reference("e3_test", "e3_test", "log_probs", true);
}

/* ---- E^3 reductions (tests 22, 25) ---- */

/* weights from a file, some replaced by tensors in memory */
typedef struct {
    WeightSource file;
    MtWeights over;
} Overlay;

static bool overlay_lookup(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen)
{
    Overlay *o = ctx;
    for (int i = 0; i < o->over.n; i++)
        if (strcmp(o->over.name[i], name) == 0)
            return mt_lookup(&o->over, name, out, err, errlen);
    return o->file.lookup(o->file.ctx, name, out, err, errlen);
}

static Tensor *copy_ref(StFile *f, const char *name) { return load_ref(f, name); }

static void test_e3_reductions(void **state)
{
    (void)state;
    char wp[4096], iop[4096], err[512];
    /* M = 1 is V-MoE: the same graph, and log_probs = log_softmax(V-MoE's logits) */
    snprintf(wp, sizeof wp, "%s/tests/reference/moe/vmoe_test.safetensors", mt_source_dir());
    snprintf(iop, sizeof iop, "%s/tests/reference/moe/vmoe_test_io.safetensors", mt_source_dir());
    StFile *wf = st_open(wp, err, sizeof err), *iof = st_open(iop, err, sizeof err);
    assert_true(wf && iof);
    Tensor *image = load_ref(iof, "image"), *want = load_ref(iof, "logits"), *got;
    Graph *g = mt_vit("import \"prelude_moe.vit\"\nmodel m1 {\n  input image: f32[4, 32, 32, 3]\n"
                      "  x = vmoe_embed(image, 8, 32)\n"
                      "  x = vmoe_encoder(x, 4, 2, 64, moe_layers = moe_every(2, 4), experts = 4, k = 2,\n"
                      "                   capacity_factor = 0.5, group_size = 34, members = 1)\n"
                      "  output log_probs = ensemble_log_mean(vmoe_head(x, 10, rep = 32), 1)\n}\n");
    WeightSource ws = tool_weight_source(wf);
    mt_interp(g, &ws, "image", image, &got);
    for (int b = 0; b < 4; b++) {
        double mx = -INFINITY, s = 0;
        for (int c = 0; c < 10; c++)
            mx = fmax(mx, want->f[b * 10 + c]);
        for (int c = 0; c < 10; c++)
            s += exp(want->f[b * 10 + c] - mx);
        for (int c = 0; c < 10; c++)
            assert_true(fabs(got->f[b * 10 + c] - (want->f[b * 10 + c] - mx - log(s))) <= 1e-4);
    }
    tensor_free(got);
    tensor_free(want);
    ir_graph_free(g);
    st_close(wf);

    /* identical members (router columns and experts copied from member 0): every member
       routes and computes as a V-MoE of E/M experts on the original batch, so the ensemble
       is that V-MoE's log_softmax (and before the first MoE layer all copies are equal) */
    snprintf(wp, sizeof wp, "%s/tests/reference/moe/e3_test.safetensors", mt_source_dir());
    wf = st_open(wp, err, sizeof err);
    assert_non_null(wf);
    const char *moe = "Encoder/encoderblock_3/Moe";
    char rn[256], names[4][256];
    snprintf(rn, sizeof rn, "%s/Router/dense/kernel", moe);
    const char *leaf[4] = {"Mlp/Dense_0/kernel", "Mlp/Dense_0/bias", "Mlp/Dense_1/kernel", "Mlp/Dense_1/bias"};
    Overlay e3 = {tool_weight_source(wf), {0}}, vm = {tool_weight_source(wf), {0}};
    Tensor *r = copy_ref(wf, rn); /* (32, 2, 2) */
    for (int d = 0; d < 32; d++)
        for (int i = 0; i < 2; i++)
            r->f[(d * 2 + 1) * 2 + i] = r->f[(d * 2 + 0) * 2 + i];
    e3.over.name[e3.over.n] = rn;
    e3.over.t[e3.over.n++] = r;
    Tensor *r2 = tensor_new(DT_F32, 2, (int64_t[]){32, 2});
    for (int d = 0; d < 32; d++)
        for (int i = 0; i < 2; i++)
            r2->f[d * 2 + i] = r->f[(d * 2 + 0) * 2 + i];
    vm.over.name[vm.over.n] = rn;
    vm.over.t[vm.over.n++] = r2;
    for (int j = 0; j < 4; j++) {
        snprintf(names[j], sizeof names[j], "%s/%s", moe, leaf[j]);
        Tensor *t = copy_ref(wf, names[j]); /* (4, ...): experts 2, 3 become 0, 1 */
        int64_t per = t->numel / 4;
        memcpy(t->f + 2 * per, t->f, (size_t)(2 * per) * sizeof *t->f);
        e3.over.name[e3.over.n] = names[j];
        e3.over.t[e3.over.n++] = t;
        int64_t dims[3] = {2, t->dims[1], t->rank > 2 ? t->dims[2] : 0};
        Tensor *h = tensor_new(DT_F32, t->rank, dims);
        memcpy(h->f, t->f, (size_t)h->numel * sizeof *h->f);
        vm.over.name[vm.over.n] = names[j];
        vm.over.t[vm.over.n++] = h;
    }
    Graph *ge = mt_model("e3_test");
    Graph *gv = mt_vit("import \"prelude_moe.vit\"\nmodel half {\n  input image: f32[4, 32, 32, 3]\n"
                       "  x = vmoe_embed(image, 8, 32)\n"
                       "  x = vmoe_encoder(x, 4, 2, 64, moe_layers = moe_last(1, 4), experts = 2, k = 1,\n"
                       "                   capacity_factor = 1.0, group_size = 34)\n"
                       "  output logits = vmoe_head(x, 10)\n}\n");
    WeightSource we = {overlay_lookup, &e3}, wv = {overlay_lookup, &vm};
    Tensor *lp, *lg;
    mt_interp(ge, &we, "image", image, &lp);
    mt_interp(gv, &wv, "image", image, &lg);
    double worst = 0;
    for (int b = 0; b < 4; b++) {
        double mx = -INFINITY, s = 0;
        for (int c = 0; c < 10; c++)
            mx = fmax(mx, lg->f[b * 10 + c]);
        for (int c = 0; c < 10; c++)
            s += exp(lg->f[b * 10 + c] - mx);
        for (int c = 0; c < 10; c++)
            worst = fmax(worst, fabs(lp->f[b * 10 + c] - (lg->f[b * 10 + c] - mx - log(s))));
    }
    print_message("E^3 of identical members vs V-MoE of E/M experts: max |Δ log p| = %.3g\n", worst);
    assert_true(worst <= 1e-5);
    tensor_free(lp);
    tensor_free(lg);
    mt_free(&e3.over);
    mt_free(&vm.over);
    ir_graph_free(ge);
    ir_graph_free(gv);
    tensor_free(image);
    st_close(iof);
    st_close(wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_and_log_mean),
        cmocka_unit_test(test_reference_vmoe),
        cmocka_unit_test(test_reference_e3),
        cmocka_unit_test(test_e3_reductions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
