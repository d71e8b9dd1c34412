/* test_reference.c — the small test ViTs against timm, independently of vitc.
 *
 * tests/reference/make_reference.py built timm's VisionTransformer (32×32 images, patch 8,
 * D 64, depth 2, 4 heads, 10 classes) with random weights for three heads — cls token,
 * global average pooling, MAP — and recorded its logits on 4 images. Here each
 * models/vit_test_<head>.vit is compiled by the frontend, run by the reference
 * interpreter on the same weights and images, and must give the same logits within 1e-4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd.h"

#define TOLERANCE 1e-4

static const char *source_dir(void)
{
    const char *s = getenv("VITC_SOURCE_DIR");
    return s && *s ? s : VITC_SOURCE_DIR;
}

/* A tensor of the _io file as an interpreter tensor (F32 only). */
static Tensor *load_f32(StFile *f, const char *name)
{
    const StTensor *t = st_find(f, name);
    if (!t) {
        print_error("reference file has no tensor '%s'\n", name);
        return NULL;
    }
    if (t->dtype != ST_F32 || t->rank > IR_MAX_RANK) {
        print_error("tensor '%s' is not F32\n", name);
        return NULL;
    }
    Tensor *x = tensor_new(DT_F32, t->rank, t->shape);
    if (x)
        memcpy(x->f, t->data, t->nbytes);
    return x;
}

static void check_head(const char *head)
{
    char model[4096], weights[4096], io[4096], models_dir[4096], err[512];
    const char *src = source_dir();
    snprintf(model, sizeof model, "%s/models/vit_test_%s.vit", src, head);
    snprintf(models_dir, sizeof models_dir, "%s/models", src);
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_%s.safetensors", src, head);
    snprintf(io, sizeof io, "%s/tests/reference/vit_test_%s_io.safetensors", src, head);

    const char *dirs[] = {models_dir};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    assert_non_null(d);
    Graph *g = fe_compile_file(model, &fo, d);
    diag_free(d);
    if (!g)
        fail_msg("%s does not compile", model);

    StFile *wf = st_open(weights, err, sizeof err);
    if (!wf)
        fail_msg("%s: %s", weights, err);
    StFile *iof = st_open(io, err, sizeof err);
    if (!iof)
        fail_msg("%s: %s", io, err);
    Tensor *image = load_f32(iof, "image");
    Tensor *want = load_f32(iof, "logits");
    assert_non_null(image);
    assert_non_null(want);

    WeightSource ws = tool_weight_source(wf);
    NamedTensor in = {"image", image};
    assert_true(g->noutputs >= 1);
    Tensor **out = calloc((size_t)g->noutputs, sizeof *out);
    assert_non_null(out);
    IrError ierr = {{0}};
    bool ok = ir_interp(g, &ws, &in, 1, out, &ierr);
    if (!ok)
        fail_msg("vit_test_%s: interpreter: %s", head, ierr.msg);

    /* the output named "logits", else the first */
    int k = 0;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i].name && strcmp(g->outputs[i].name, "logits") == 0)
            k = i;
    const Tensor *got = out[k];
    assert_int_equal(got->rank, want->rank);
    for (int i = 0; i < want->rank; i++)
        assert_int_equal(got->dims[i], want->dims[i]);
    double maxd = 0;
    for (int64_t i = 0; i < want->numel; i++) {
        double delta = tensor_get(got, i) - tensor_get(want, i);
        if (delta < 0)
            delta = -delta;
        if (delta > maxd || delta != delta)
            maxd = delta;
    }
    print_message("vit_test_%s: max |logits - timm| = %.3g over %lld values (tolerance %g)\n", head,
                  maxd, (long long)want->numel, TOLERANCE);

    for (int i = 0; i < g->noutputs; i++)
        tensor_free(out[i]);
    free(out);
    tensor_free(image);
    tensor_free(want);
    st_close(iof);
    st_close(wf);
    ir_graph_free(g);
    assert_true(maxd <= TOLERANCE);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cls),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
