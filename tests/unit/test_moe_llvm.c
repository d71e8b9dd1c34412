/* test_moe_llvm.c — the MoE kernels through the LLVM backend (JIT) and the compiled shared
 * object, against the interpreter (the lowered graph and the moe op's own reference),
 * plan_exec and the PyTorch vectors of tests/reference/moe:
 *
 *   route goldens A, B, expert choice and E^3 members through KK_MOE_ROUTE, exactly
 *   moe layers of many configurations (capacity binding or not, BPR, k = 1..3, expert
 *   choice, normalised combine, erf GELU, members over a symbolic batch, a residual)
 *   a group of 1576 tokens (vmoe's B/16 group: merge sorts of 11 passes)
 *   vmoe_test (vanilla and BPR) and e3_test whole, with the PyTorch weights
 *   vmoe_test compiled by `vitc compile` and run through the vitrt.h ABI (≤ 1e-4)
 *   the dispatch's gather of whole rows (one bounds check per row, a vector copy): rows
 *   of 40 and 37 floats, through a batched view, with an epilogue, and out of range
 *
 * The route goldens, layers and members: the cases of backend_cases.c.
 */
#include <dlfcn.h>
#include <unistd.h>

#include "test_interp.h"
#include "test_llvm.h"
#include "test_moe.h"
#include "vitrt.h"

#define TOLERANCE 1e-4

static const Backend llvm = {"LLVM", tl_backend_check, NULL};

/* every configuration of bc_moe_configs */
static void test_layers(void **state)
{
    (void)state;
    const Backend *bs[9];
    for (int i = 0; i < 9; i++)
        bs[i] = &llvm;
    bc_moe_layers(bs, bc_moe_configs, 9);
}

static void test_b16_group(void **state)
{
    (void)state;
    /* vmoe's B/16 group: 8 images of 197 tokens, E = 8, k = 2, c = 1.05 (C = 416), BPR and
       vanilla; a narrow width keeps the interpreter quick */
    enum { T = 1576, D = 8, E = 8, H = 8 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 91);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    mt_fill(x, -1, 1, 92);
    WeightSource ws = mt_source(&w);
    const char *attrs[] = {"k = 2, capacity_factor = 1.05, group_size = 1576",
                           "k = 2, capacity_factor = 1.05, group_size = 1576, batch_priority = true",
                           "capacity_factor = 2.0, group_size = 788, routing = expert_choice"};
    for (int i = 0; i < 3; i++) {
        Graph *g = mt_moe_graph(T, D, E, H, attrs[i], true);
        bc_moe_check(&llvm, g, &ws, "x", x, 1e-5);
        ir_graph_free(g);
    }
    tensor_free(x);
    mt_free(&w);
}

/* ---- whole models with the PyTorch weights ---- */

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

static void check_model(const char *model, const char *ref, const char *output)
{
    char wp[4096], iop[4096], err[512];
    snprintf(wp, sizeof wp, "%s/tests/reference/moe/%s.safetensors", tl_source_dir(), ref);
    snprintf(iop, sizeof iop, "%s/tests/reference/moe/%s_io.safetensors", tl_source_dir(), ref);
    StFile *wf = st_open(wp, err, sizeof err), *iof = st_open(iop, err, sizeof err);
    if (!wf || !iof)
        fail_msg("%s", err);
    Tensor *image = load_ref(iof, "image"), *want = load_ref(iof, output), *got[1];
    WeightSource ws = tool_weight_source(wf);
    Graph *g = tl_model(model);
    NamedTensor in = {"image", image};
    tl_check(g, &ws, &in, 1, TOLERANCE, NULL, got);
    double d = mt_maxdiff(got[0], want);
    print_message("%s: max |llvm - PyTorch| = %.3g\n", model, d);
    assert_true(d <= TOLERANCE);
    tensor_free(got[0]);
    tensor_free(image);
    tensor_free(want);
    ir_graph_free(g);
    st_close(iof);
    st_close(wf);
}

static void test_models(void **state)
{
    (void)state;
    check_model("vmoe_test.vit", "vmoe_test", "logits");
    check_model("vmoe_test_bpr.vit", "vmoe_test", "logits_bpr");
    check_model("e3_test.vit", "e3_test", "log_probs");
}

/* ---- the shared object through the ABI ---- */

typedef struct {
    vit_model *(*open)(const char *, char *, size_t);
    int (*info)(const vit_model *, struct vit_info *);
    int (*run)(vit_model *, const vit_image *, int, float *, char *, size_t);
    void (*close)(vit_model *);
} Api;

static void test_shared_object(void **state)
{
    (void)state;
    char dir[] = "/tmp/vitc_moe_so_XXXXXX", so[4096], model[4096], wp[4096], iop[4096], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(so, sizeof so, "%s/vmoe_test.so", dir);
    snprintf(model, sizeof model, "%s/models/vmoe_test.vit", tl_source_dir());
    snprintf(wp, sizeof wp, "%s/tests/reference/moe/vmoe_test.safetensors", tl_source_dir());
    snprintf(iop, sizeof iop, "%s/tests/reference/moe/vmoe_test_io.safetensors", tl_source_dir());
    char *argv[] = {"compile", model, "-o", so, NULL};
    assert_int_equal(cmd_compile(4, argv), 0);
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fail_msg("dlopen: %s", dlerror());
    Api api;
    *(void **)&api.open = dlsym(h, "vit_open");
    *(void **)&api.info = dlsym(h, "vit_info");
    *(void **)&api.run = dlsym(h, "vit_run");
    *(void **)&api.close = dlsym(h, "vit_close");
    assert_true(api.open && api.info && api.run && api.close);
    vit_model *m = api.open(wp, err, sizeof err);
    if (!m)
        fail_msg("vit_open: %s", err);
    struct vit_info info;
    assert_int_equal(api.info(m, &info), 0);
    assert_int_equal(info.max_images, 4);
    StFile *iof = st_open(iop, err, sizeof err), *wf = st_open(wp, err, sizeof err);
    assert_true(iof && wf);
    Tensor *image = load_ref(iof, "image"), *want = load_ref(iof, "logits"), *ref;
    vit_image ims[4];
    for (int i = 0; i < 4; i++)
        ims[i] = (vit_image){.height = 32, .width = 32, .channels = 3, .pixels = image->f + i * 32 * 32 * 3};
    float out[40];
    assert_int_equal(api.run(m, ims, 4, out, err, sizeof err), 0);
    /* the interpreter on the same model (the moe op's reference) */
    Graph *g = tl_model("vmoe_test.vit");
    WeightSource ws = tool_weight_source(wf);
    mt_interp(g, &ws, "image", image, &ref);
    double di = 0, dt = 0;
    for (int i = 0; i < 40; i++) {
        di = fmax(di, fabs(out[i] - ref->f[i]));
        dt = fmax(dt, fabs(out[i] - want->f[i]));
    }
    print_message("vmoe_test.so: max |so - interpreter| = %.3g, max |so - PyTorch| = %.3g\n", di, dt);
    assert_true(di <= TOLERANCE && dt <= TOLERANCE);
    api.close(m);
    dlclose(h);
    unlink(so);
    rmdir(dir);
    tensor_free(ref);
    tensor_free(image);
    tensor_free(want);
    ir_graph_free(g);
    st_close(iof);
    st_close(wf);
}

/* take(table [6, W] or [2, 6, W], idx [3, 4], axis) as the dispatch gathers rows: the
 * row-copy path (W ≥ a vector); `scale`: an epilogue (out · 2 + 1); `bad`: one index out
 * of range: the error, and that row 0 */
static void check_row_take(int64_t w, bool batched, bool scale, bool bad)
{
    Graph *g = ir_graph_new("t");
    int64_t tdims[3] = {2, 6, w}, idims[2] = {3, 4};
    int tr = batched ? 3 : 2, axis = batched ? 1 : 0;
    const int64_t *td = batched ? tdims : tdims + 1;
    int32_t t = input(g, "t", ty(DT_F32, tr, td)), ix = input(g, "i", ty(DT_I32, 2, idims));
    Attr a = attr_of(OP_TAKE);
    a.axis.axis = axis;
    int32_t y = node(g, OP_TAKE, (int32_t[]){t, ix}, 2, &a);
    if (scale) {
        int32_t c2 = ir_build_scalar(g, 2.0, DT_F32, NOLOC, &(IrError){{0}});
        int32_t c1 = ir_build_scalar(g, 1.0, DT_F32, NOLOC, &(IrError){{0}});
        y = node(g, OP_ADD, (int32_t[]){node(g, OP_MUL, (int32_t[]){y, c2}, 2, NULL), c1}, 2, NULL);
    }
    assert_true(ir_add_output(g, "out", y));
    Tensor *tt = tl_random(DT_F32, tr, td, -1, 1, 81);
    Tensor *ti = tl_random(DT_I32, 2, idims, 0, 5, 82);
    int64_t bad_at = 7;
    if (bad)
        ti->i[bad_at] = 6;
    NamedTensor in[2] = {{"t", tt}, {"i", ti}};
    Tensor *got = NULL;
    TlCheck c = {.expect_error = bad, .no_reference = bad};
    tl_check(g, NULL, in, 2, 0, &c, &got);
    if (bad) /* every element gathered with the bad index is the epilogue of 0 */
        for (int64_t e = 0; e < got->numel; e++)
            if ((e / w) % 12 == bad_at)
                assert_true(tensor_get(got, e) == (scale ? 1 : 0));
    tensor_free(got);
    tensor_free(tt);
    tensor_free(ti);
    ir_graph_free(g);
}

static void test_dispatch_rows(void **state)
{
    (void)state;
    for (int b = 0; b < 2; b++)
        for (int sc = 0; sc < 2; sc++) {
            check_row_take(40, b, sc, false);
            check_row_take(37, b, sc, false);
        }
    check_row_take(37, false, false, true);
    check_row_take(40, true, true, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        bc_unit_test(route_goldens, &llvm),
        cmocka_unit_test(test_dispatch_rows),
        cmocka_unit_test(test_layers),
        bc_unit_test(members_symbolic, &llvm),
        cmocka_unit_test(test_b16_group),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_shared_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
