/* test_moe_upcycle.c — `vitc upcycle` (MODELS.md §5, §10 test 21): the converted weights
 * hold tile(dense, E) in every expert and the dense tensors unchanged elsewhere, and routers
 * equal to what `vitc init` draws for them with the same seed; the upcycled model equals
 * the dense one when every token's combine weights sum to 1 (normalised combine, no drops)
 * and does not otherwise; models that do not correspond are refused with a message.
 *
 * The dense weights are vmoe_test's PyTorch weights (tests/reference/moe) with expert 0 of
 * each MoE layer as the dense MLP, so activations are far from zero.
 */
#include <unistd.h>

#include "init.h"
#include "test_moe.h"

static char dir[64];

static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* vmoe_test's reference weights, densified: Moe/Mlp/X[0] becomes Mlp/X, routers dropped */
static void write_dense(const char *out)
{
    char wp[4096], err[512];
    snprintf(wp, sizeof wp, "%s/tests/reference/moe/vmoe_test.safetensors", mt_source_dir());
    StFile *f = st_open(wp, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    int n = st_count(f), m = 0;
    StTensor *ts = calloc((size_t)n, sizeof *ts);
    char **names = calloc((size_t)n, sizeof *names);
    assert_true(ts && names);
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        const char *moe = strstr(t->name, "/Moe/");
        if (moe && strstr(t->name, "/Router/"))
            continue;
        ts[m] = *t;
        if (moe) {
            names[m] = malloc(strlen(t->name) + 1);
            assert_non_null(names[m]);
            memcpy(names[m], t->name, (size_t)(moe - t->name));
            strcpy(names[m] + (moe - t->name), moe + 4); /* drop "/Moe" */
            ts[m].name = names[m];
            ts[m].rank = t->rank - 1;
            memmove(ts[m].shape, t->shape + 1, (size_t)(t->rank - 1) * sizeof t->shape[0]);
            ts[m].nbytes = t->nbytes / (size_t)t->shape[0];
        }
        m++;
    }
    assert_int_equal(st_write(out, ts, m, NULL, 0, err, sizeof err), 0);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(ts);
    st_close(f);
}

static int upcycle(const char *dense_vit, const char *dense_w, const char *moe_vit, const char *out, const char *seed)
{
    char *argv[] = {"upcycle", (char *)dense_vit, (char *)dense_w, "--to", (char *)moe_vit, "-o", (char *)out,
                    "--seed", (char *)seed, NULL};
    return cmd_upcycle(9, argv);
}

static void model_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/models/%s.vit", mt_source_dir(), name);
}

static void test_tensors(void **state)
{
    (void)state;
    char dw[4096], uw[4096], iw[4096], dv[4096], mv[4096], err[512];
    path(dw, sizeof dw, "dense.safetensors");
    path(uw, sizeof uw, "up.safetensors");
    path(iw, sizeof iw, "init.safetensors");
    model_path(dv, sizeof dv, "vmoe_test_dense");
    model_path(mv, sizeof mv, "vmoe_test");
    write_dense(dw);
    assert_int_equal(upcycle(dv, dw, mv, uw, "7"), 0);
    /* what vitc init --seed 7 draws for the MoE model: its routers must be the same bytes */
    Graph *moe = mt_model("vmoe_test");
    InitOptions io = {.seed = 7};
    assert_true(tool_init_weights(moe, &io, iw, NULL, NULL, err, sizeof err));
    StFile *d = st_open(dw, err, sizeof err), *u = st_open(uw, err, sizeof err), *in = st_open(iw, err, sizeof err);
    assert_true(d && u && in);
    int tiled = 0, copied = 0, routers = 0;
    for (int i = 0; i < st_count(u); i++) {
        const StTensor *t = st_tensor(u, i);
        const char *moe_at = strstr(t->name, "/Moe/");
        if (moe_at && strstr(t->name, "/Router/")) {
            const StTensor *r = st_find(in, t->name);
            assert_non_null(r);
            assert_int_equal(r->nbytes, t->nbytes);
            assert_memory_equal(r->data, t->data, t->nbytes);
            routers++;
        } else if (moe_at) {
            char dn[512];
            snprintf(dn, sizeof dn, "%.*s%s", (int)(moe_at - t->name), t->name, moe_at + 4);
            const StTensor *s = st_find(d, dn);
            assert_non_null(s);
            assert_int_equal(t->nbytes, s->nbytes * (size_t)t->shape[0]);
            for (int64_t e = 0; e < t->shape[0]; e++)
                assert_memory_equal((const char *)t->data + (size_t)e * s->nbytes, s->data, s->nbytes);
            tiled++;
        } else {
            const StTensor *s = st_find(d, t->name);
            assert_non_null(s);
            assert_int_equal(s->nbytes, t->nbytes);
            assert_memory_equal(s->data, t->data, t->nbytes);
            copied++;
        }
    }
    assert_int_equal(routers, 2);
    assert_int_equal(tiled, 8);
    assert_int_equal(copied, st_count(d) - 8); /* the MLPs of blocks 1 and 3 went into experts */
    st_close(d);
    st_close(u);
    st_close(in);
    ir_graph_free(moe);
}

/* An upcycled twin of vmoe_test_dense: MoE in blocks 1 and 3, E = 4, k = K, `extra` attributes. */
static void write_moe_vit(const char *file, int k, const char *extra)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "import \"prelude_moe.vit\"\n"
               "model up {\n"
               "  input image: f32[4, 32, 32, 3]\n"
               "  x = vmoe_embed(image, 8, 32)\n"
               "  x = vmoe_encoder(x, 4, 2, 64, moe_layers = moe_every(2, 4), experts = 4, k = %d, group_size = 34%s)\n"
               "  output logits = vmoe_head(x, 10, rep = 32)\n"
               "}\n",
            k, extra);
    fclose(f);
}

static Tensor *logits(const char *vit_path, const char *weights, const Tensor *image)
{
    char models[4096], err[512];
    snprintf(models, sizeof models, "%s/models", mt_source_dir());
    const char *dirs[] = {models};
    FrontendOptions fo = {dirs, 1};
    Diag *dg = diag_new(stderr);
    Graph *g = fe_compile_file(vit_path, &fo, dg);
    diag_free(dg);
    assert_non_null(g);
    StFile *w = st_open(weights, err, sizeof err);
    if (!w)
        fail_msg("%s", err);
    WeightSource ws = tool_weight_source(w);
    Tensor *out;
    mt_interp(g, &ws, "image", image, &out);
    st_close(w);
    ir_graph_free(g);
    return out;
}

static void test_forward(void **state)
{
    (void)state;
    char dw[4096], uw[4096], dv[4096], mv[4096], iop[4096], err[512];
    path(dw, sizeof dw, "dense2.safetensors");
    path(uw, sizeof uw, "up2.safetensors");
    path(mv, sizeof mv, "up.vit");
    model_path(dv, sizeof dv, "vmoe_test_dense");
    write_dense(dw);
    snprintf(iop, sizeof iop, "%s/tests/reference/moe/vmoe_test_io.safetensors", mt_source_dir());
    StFile *iof = st_open(iop, err, sizeof err);
    assert_non_null(iof);
    const StTensor *im = st_find(iof, "image");
    Tensor *image = tensor_new(DT_F32, im->rank, im->shape);
    memcpy(image->f, im->data, im->nbytes);
    Tensor *dense = logits(dv, dw, image);
    /* normalised combine, capacity for every choice: the combine weights sum to 1 */
    write_moe_vit(mv, 2, ", capacity_factor = 2.0, normalize_combine = true");
    assert_int_equal(upcycle(dv, dw, mv, uw, "1"), 0);
    Tensor *a = logits(mv, uw, image);
    double da = mt_maxdiff(a, dense);
    /* raw softmax weights (top-1 and top-2 sum below 1): not the dense model (§5 caveat) */
    write_moe_vit(mv, 2, ", capacity_factor = 2.0");
    assert_int_equal(upcycle(dv, dw, mv, uw, "1"), 0);
    Tensor *b = logits(mv, uw, image);
    double db = mt_maxdiff(b, dense);
    print_message("upcycled vs dense logits: normalised %.3g, raw %.3g\n", da, db);
    assert_true(da <= 1e-4);
    assert_true(db > 1e-2);
    tensor_free(a);
    tensor_free(b);
    tensor_free(dense);
    tensor_free(image);
    st_close(iof);
}

static void test_errors(void **state)
{
    (void)state;
    char dw[4096], uw[4096], dv[4096], mv[4096], bv[4096];
    path(dw, sizeof dw, "dense3.safetensors");
    path(uw, sizeof uw, "bad.safetensors");
    model_path(dv, sizeof dv, "vmoe_test_dense");
    model_path(mv, sizeof mv, "vmoe_test");
    model_path(bv, sizeof bv, "vmoe_b16");
    write_dense(dw);
    assert_int_equal(upcycle(dv, dw, bv, uw, "0"), 1); /* other widths */
    assert_int_equal(upcycle(mv, dw, dv, uw, "0"), 1); /* backwards */
    char e3[4096];
    model_path(e3, sizeof e3, "e3_test"); /* no pre_logits in e3_test: a dense tensor left over */
    assert_int_equal(upcycle(dv, dw, e3, uw, "0"), 1);
    assert_false(access(uw, F_OK) == 0);
    char *argv[] = {"upcycle", dv, dw, "-o", uw, NULL};
    assert_int_equal(cmd_upcycle(5, argv), 2); /* no --to */
    char *argv2[] = {"upcycle", dv, "--to", mv, "-o", uw, NULL};
    assert_int_equal(cmd_upcycle(6, argv2), 2); /* no weights */
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vitc_upcycle_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"dense.safetensors", "up.safetensors", "init.safetensors", "dense2.safetensors",
                           "up2.safetensors", "up.vit", "dense3.safetensors", "bad.safetensors"};
    char p[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path(p, sizeof p, files[i]);
        unlink(p);
    }
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
