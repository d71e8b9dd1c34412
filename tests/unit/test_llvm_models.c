/* test_llvm_models.c — whole models through the LLVM backend (JIT), after the default pass
 * pipeline and plan_build as `vitc compile` does:
 *
 *   vit_test_{cls,gap,map}  timm's logits (tests/reference, within 1e-4) and ir_interp /
 *                           plan_exec on the same weights and images
 *   vit_ti16 at 224         random weights as `vitc init` makes them, within 1e-4 of
 *                           ir_interp (plan_exec is too slow at this size)
 */
#include <unistd.h>

#include "test_llvm.h"

#define TOLERANCE 1e-4

static Tensor *load_f32(StFile *f, const char *name)
{
    const StTensor *t = st_find(f, name);
    if (!t || t->dtype != ST_F32 || t->rank > IR_MAX_RANK)
        fail_msg("reference file: no F32 tensor '%s'", name);
    Tensor *x = tensor_new(DT_F32, t->rank, t->shape);
    assert_non_null(x);
    memcpy(x->f, t->data, t->nbytes);
    return x;
}

static int logits_output(const Graph *g)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i].name && strcmp(g->outputs[i].name, "logits") == 0)
            return i;
    return 0;
}

static void check_head(const char *head)
{
    char model[256], weights[4096], io[4096], err[512];
    snprintf(model, sizeof model, "vit_test_%s.vit", head);
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_%s.safetensors", tl_source_dir(), head);
    snprintf(io, sizeof io, "%s/tests/reference/vit_test_%s_io.safetensors", tl_source_dir(), head);
    Graph *g = tl_model(model);
    StFile *wf = st_open(weights, err, sizeof err), *iof = st_open(io, err, sizeof err);
    if (!wf || !iof)
        fail_msg("%s", err);
    Tensor *image = load_f32(iof, "image"), *want = load_f32(iof, "logits");
    WeightSource ws = tool_weight_source(wf);
    NamedTensor in = {"image", image};
    Tensor **got = calloc((size_t)g->noutputs, sizeof *got);
    assert_non_null(got);
    tl_check(g, &ws, &in, 1, TOLERANCE, NULL, got);
    const Tensor *lg = got[logits_output(g)];
    assert_int_equal(lg->numel, want->numel);
    double maxd = 0;
    for (int64_t i = 0; i < want->numel; i++) {
        double d = fabs(tensor_get(lg, i) - tensor_get(want, i));
        if (!(d <= maxd))
            maxd = d;
    }
    print_message("vit_test_%s: max |llvm - timm| = %.3g over %lld logits\n", head, maxd, (long long)want->numel);
    assert_true(maxd <= TOLERANCE);
    for (int i = 0; i < g->noutputs; i++)
        tensor_free(got[i]);
    free(got);
    tensor_free(image);
    tensor_free(want);
    st_close(iof);
    st_close(wf);
    ir_graph_free(g);
}

static void test_cls(void **state)
{
    (void)state;
    check_head("cls");
}

static void test_gap(void **state)
{
    (void)state;
    check_head("gap");
}

static void test_map(void **state)
{
    (void)state;
    check_head("map");
}

static void test_vit_ti16(void **state)
{
    (void)state;
    Graph *g = tl_model("vit_ti16.vit");
    char path[] = "/tmp/vitc_test_llvm_ti16_XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    InitOptions io = {.seed = 7};
    if (!tool_init_weights(g, &io, path, NULL, NULL, err, sizeof err))
        fail_msg("init: %s", err);
    StFile *wf = st_open(path, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    unlink(path);
    WeightSource ws = tool_weight_source(wf);
    Tensor *image = tl_random(DT_F32, 4, DIMS(1, 224, 224, 3), -1, 1, 5);
    NamedTensor in = {"image", image};
    TlCheck c = {.chunks = 3, .interp_only = true};
    tl_check(g, &ws, &in, 1, TOLERANCE, &c, NULL);
    print_message("vit_ti16 (batch 1, 224): %.3f s in the kernels (1 thread, unoptimised GEMMs)\n", c.run.seconds);
    tensor_free(image);
    st_close(wf);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cls),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_vit_ti16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
