/* test_attention_pass.c — the attention-fusion pass (passes/fuse_attention.c).
 *
 *   every spelling and non-match of tests/lit/passes/attention-*.vir: the interpreter gives
 *     the same outputs before and after the pass on random inputs (B bound to 3, masks
 *     random, some keep rows fully masked); the pass is idempotent; attention-no-* files
 *     fuse nothing and say why (attention_unfused), the others fuse every softmax;
 *   every test model (models/vit_test_*.vit with their reference weights): the interpreter
 *     before and after the default pipeline, the attentions fused, none left unfused;
 *   vit_b16: 12 attentions after -O2 and nothing unfused; before the pass, 12 patterns that
 *     would match; a user's own spelling in a model (.vit) fuses too;
 *   every allocation failing in turn leaves a valid graph.
 */
#include <dirent.h>

#include "test_interp.h"
#include "test_attention.h"
#include "test_oom.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = 0;
        *len = (size_t)n;
    }
    return s;
}

static Graph *parse_file(const char *path)
{
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text)
        fail_msg("cannot read %s", path);
    Diag *d = diag_new(stderr);
    diag_add_source(d, path, text, len);
    Graph *g = ir_parse(text, len, path, d);
    diag_free(d);
    free(text);
    if (!g)
        fail_msg("%s does not parse", path);
    return g;
}

/* Random inputs for every input node: symbols bound to 3, floats in [-2, 2), bools with
 * about one in three true (so some keep rows are fully masked). */
static int random_inputs(const Graph *g, NamedTensor *in, int max, uint64_t seed)
{
    int n = 0;
    for (int32_t i = 0; i < g->nnodes && n < max; i++) {
        const Node *x = &g->nodes[i];
        if (x->op != OP_INPUT)
            continue;
        const Type *t = ir_type(g, x->out);
        int64_t dims[IR_MAX_RANK];
        for (int r = 0; r < t->shape.rank; r++)
            dims[r] = dim_is_const(t->shape.d[r]) ? t->shape.d[r].n : 3 * t->shape.d[r].n;
        Tensor *v = tl_random(t->dt == DT_BOOL ? DT_I32 : t->dt, t->shape.rank, dims, -2, 2, seed + (uint64_t)i);
        if (t->dt == DT_BOOL) {
            Tensor *b = tensor_new(DT_BOOL, t->shape.rank, dims);
            for (int64_t e = 0; e < b->numel; e++)
                b->i[e] = v->i[e] == 2;
            tensor_free(v);
            v = b;
        }
        in[n++] = (NamedTensor){x->attr.input.name, v};
    }
    return n;
}

static Tensor **interp_all(const Graph *g, const NamedTensor *in, int nin, const WeightSource *w)
{
    Tensor **out = calloc((size_t)g->noutputs + 1, sizeof *out);
    IrError err = {{0}};
    if (!ir_interp(g, w, in, nin, out, &err))
        fail_msg("ir_interp: %s", err.msg);
    return out;
}

static void compare_free(Tensor **a, Tensor **b, int n, double tol, const char *what)
{
    for (int i = 0; i < n; i++) {
        double d = tl_diff(a[i], b[i]);
        if (!(d <= tol))
            fail_msg("%s: output %d differs by %g after attention-fusion (tolerance %g)", what, i, d, tol);
        tensor_free(a[i]);
        tensor_free(b[i]);
    }
    free(a);
    free(b);
}

static bool run_pass(Graph *g, const char *pipeline)
{
    IrError err = {{0}};
    PassOptions po = {.ice = &err};
    const PassInfo *p = pass_find(pipeline, strlen(pipeline));
    bool changed = false;
    if (p ? !pass_run(g, p, &po, &changed, &err) : !pass_run_pipeline(g, pipeline, &po, &err))
        fail_msg("%s: %s", pipeline, err.msg);
    return changed;
}

static char *print_str(const Graph *g)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    ir_print(g, f);
    fclose(f);
    return s;
}

static void check_lit_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    Graph *g = parse_file(path);
    bool nomatch = strncmp(name, "attention-no-", 13) == 0;
    int softmaxes = ta_count(g, OP_SOFTMAX);
    AttentionMiss miss[8];
    int before = attention_unfused(g, miss, 8);
    assert_int_equal(before, softmaxes); /* every one is attention-like */
    for (int i = 0; i < before; i++)
        if (!nomatch && !strstr(miss[i].reason, "it matches"))
            fail_msg("%s: %s", name, miss[i].reason);
    NamedTensor in[8];
    int nin = random_inputs(g, in, 8, 77);
    Tensor **ref = interp_all(g, in, nin, NULL);
    bool changed = run_pass(g, "attention-fusion");
    assert_int_equal(changed, !nomatch);
    assert_int_equal(ta_count(g, OP_ATTENTION), nomatch ? 0 : softmaxes);
    assert_int_equal(ta_count(g, OP_SOFTMAX), nomatch ? softmaxes : 0);
    int after = attention_unfused(g, miss, 8);
    assert_int_equal(after, nomatch ? softmaxes : 0);
    for (int i = 0; i < after; i++)
        assert_null(strstr(miss[i].reason, "it matches"));
    compare_free(ref, interp_all(g, in, nin, NULL), g->noutputs, 1e-5, name);
    /* idempotent: nothing changes the second time */
    char *once = print_str(g);
    assert_false(run_pass(g, "attention-fusion"));
    char *twice = print_str(g);
    assert_string_equal(once, twice);
    free(once);
    free(twice);
    for (int i = 0; i < nin; i++)
        tensor_free((Tensor *)in[i].t);
    ir_graph_free(g);
}

static void test_lit_spellings(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/lit/passes", tl_source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0, nomatch = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "attention-", 10) != 0 || n < 4 || strcmp(e->d_name + n - 4, ".vir") != 0)
            continue;
        check_lit_file(dir, e->d_name);
        files++;
        nomatch += strncmp(e->d_name, "attention-no-", 13) == 0;
    }
    closedir(d);
    print_message("%d spellings fused, %d non-matches left alone\n", files - nomatch, nomatch);
    assert_true(files - nomatch >= 10 && nomatch >= 8);
}

/* the test models with their weights: the interpreter before and after -O2 */
static void check_model(const char *head, int attentions)
{
    char model[64], weights[4096], err[512];
    snprintf(model, sizeof model, "vit_test_%s.vit", head);
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_%s.safetensors", tl_source_dir(), head);
    Graph *g = tl_model(model);
    StFile *wf = st_open(weights, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    WeightSource ws = tool_weight_source(wf);
    Tensor *image = tl_random(DT_F32, 4, DIMS(2, 32, 32, 3), -1, 1, 3);
    NamedTensor in = {"image", image};
    AttentionMiss miss[8];
    assert_int_equal(attention_unfused(g, miss, 8), attentions);
    Tensor **ref = interp_all(g, &in, 1, &ws);
    run_pass(g, pass_default_pipeline(2));
    assert_int_equal(ta_count(g, OP_ATTENTION), attentions);
    assert_int_equal(attention_unfused(g, miss, 8), 0);
    compare_free(ref, interp_all(g, &in, 1, &ws), g->noutputs, 1e-5, model);
    tensor_free(image);
    st_close(wf);
    ir_graph_free(g);
}

static void test_models(void **state)
{
    (void)state;
    check_model("cls", 2);
    check_model("gap", 2);
    check_model("map", 3);
}

static void test_vit_b16(void **state)
{
    (void)state;
    Graph *g = tl_model("vit_b16.vit");
    AttentionMiss miss[16];
    assert_int_equal(attention_unfused(g, miss, 16), 12);
    for (int i = 0; i < 12; i++)
        assert_non_null(strstr(miss[i].reason, "it matches"));
    run_pass(g, pass_default_pipeline(2));
    assert_int_equal(ta_count(g, OP_ATTENTION), 12);
    assert_int_equal(attention_unfused(g, miss, 16), 0);
    IrStats st;
    ir_stats(g, NULL, &st);
    assert_int_equal(st.op_counts[OP_ATTENTION], 12);
    /* the products still count: 35.13 GFLOP of matmuls, as before the pass */
    assert_true(fabs(st.matmul_flops - 35.13e9) < 0.01e9);
    ir_graph_free(g);
}

/* a user's spelling in .vit: timm's fused attention written out, scale on the logits */
static void test_user_spelling(void **state)
{
    (void)state;
    Graph *g = ta_compile("user.vit", "model user {\n"
                                      "  input q: f32[B, 3, 9, 8] (B <= 4)\n"
                                      "  input k: f32[B, 3, 11, 8]\n"
                                      "  input v: f32[B, 3, 11, 5]\n"
                                      "  input pad: bool[B, 1, 1, 11]\n"
                                      "  a = (q @ transpose(k, [0, 1, 3, 2])) / 8 ** 0.5\n"
                                      "  a = select(pad, finfo_min(f32), a)\n"
                                      "  output o = softmax(a, -1) @ v\n"
                                      "}\n");
    NamedTensor in[4];
    int nin = random_inputs(g, in, 4, 5);
    Tensor **ref = interp_all(g, in, nin, NULL);
    run_pass(g, pass_default_pipeline(1));
    assert_int_equal(ta_count(g, OP_ATTENTION), 1);
    compare_free(ref, interp_all(g, in, nin, NULL), 1, 1e-5, "user.vit");
    for (int i = 0; i < nin; i++)
        tensor_free((Tensor *)in[i].t);
    ir_graph_free(g);
}

/* allocation k failing, for every k until the pass completes: a valid graph every time */
static void test_out_of_memory(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/lit/passes/attention-broadcast.vir", tl_source_dir());
    bool completed = false;
    for (long k = 0; !completed && k < 10000; k++) {
        Graph *g = parse_file(dir);
        completed = oom_run_pass(g, pass_fuse_attention, k, "attention-fusion");
        if (completed)
            assert_int_equal(ta_count(g, OP_ATTENTION), 2);
        ir_graph_free(g);
    }
    assert_true(completed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lit_spellings), cmocka_unit_test(test_models),        cmocka_unit_test(test_vit_b16),
        cmocka_unit_test(test_user_spelling), cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
