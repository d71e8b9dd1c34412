/* test_runtime.c — the runtime's parts on their own: the plan blob (written by the
 * compiler, read by the runtime), workspace placement, the thread pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "plan.h"
#include "plan_blob.h"
#include "rt_internal.h"
#include "test_vir.h"

static const char tiny_vir[] =
    "graph @tiny {\n"
    "  dim B <= 4\n"
    "  meta {resize = 2, crop = 2, mean = [0.5], std = [0.25, 0.5, 1], labels = \"tiny_labels.txt\"}\n"
    "  %x = input {name = \"image\"} : f32[B,2,2,1]\n"
    "  %w = param $w : f32[4,3]\n"
    "  %b = param $b : f32[3]\n"
    "  %xf = reshape(%x) {shape = [-1, 4]} : f32[B,4]\n"
    "  %c = constant {data = [1, 2, 3]} : f16[3]\n"
    "  %cf = cast(%c) {to = f32} : f32[3]\n"
    "  %two = constant {data = [2]} : f32[]\n"
    "  %ws = mul(%w, %two) : f32[4,3]\n"
    "  %h = matmul(%xf, %ws) : f32[B,3]\n"
    "  %h2 = add(%h, %b) : f32[B,3]\n"
    "  %h3 = mul(%h2, %cf) : f32[B,3]  # tiny.vir:9:3\n"
    "  output logits = %h3\n"
    "}\n";

static void test_numbering(void **state)
{
    (void)state;
    assert_int_equal(DT_F32, RT_DT_F32);
    assert_int_equal(DT_F16, RT_DT_F16);
    assert_int_equal(DT_BF16, RT_DT_BF16);
    assert_int_equal(DT_I32, RT_DT_I32);
    assert_int_equal(DT_I64, RT_DT_I64);
    assert_int_equal(DT_BOOL, RT_DT_BOOL);
    assert_int_equal(DT_COUNT, RT_DT_COUNT);
    assert_int_equal(BUF_INPUT, RT_BUF_INPUT);
    assert_int_equal(BUF_PARAM, RT_BUF_PARAM);
    assert_int_equal(BUF_CONST, RT_BUF_CONST);
    assert_int_equal(BUF_OUTPUT, RT_BUF_OUTPUT);
    assert_int_equal(BUF_TEMP, RT_BUF_TEMP);
    assert_int_equal(BUF_FOLDED, RT_BUF_FOLDED);
    for (int d = 0; d < DT_COUNT; d++)
        assert_int_equal(dtype_size((DType)d), rt_dtype_size(d));
}

/* The blob of `p` parsed back equals p, field by field. */
static void check_round_trip(const Plan *p, const Blob *blob, const char *labels)
{
    char err[512];
    RtPlan *rp = rt_plan_parse(blob->data, blob->len, err, sizeof err);
    if (!rp)
        fail_msg("%s", err);
    const Graph *g = p->g;
    assert_string_equal(rp->name, g->name);
    assert_int_equal(rp->resize, g->meta.resize);
    assert_int_equal(rp->crop, g->meta.crop);
    assert_int_equal(rp->nmean, g->meta.mean.n);
    for (int i = 0; i < rp->nmean; i++)
        assert_true(rp->mean[i] == g->meta.mean.v[i]);
    assert_int_equal(rp->nstd, g->meta.std.n);
    for (int i = 0; i < rp->nstd; i++)
        assert_true(rp->std[i] == g->meta.std.v[i]);
    if (labels)
        assert_string_equal(rp->labels, labels);
    else
        assert_null(rp->labels);
    assert_int_equal(rp->nsyms, g->nsyms);
    for (int s = 0; s < g->nsyms; s++) {
        assert_string_equal(rp->syms[s].name, g->syms[s].name);
        assert_int_equal(rp->syms[s].max, g->syms[s].max);
    }
    assert_int_equal(rp->nbufs, p->nbufs);
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        const RtBuffer *r = &rp->bufs[i];
        assert_int_equal(r->kind, b->kind);
        assert_int_equal(r->dtype, b->dt);
        assert_int_equal(r->rank, b->shape.rank);
        for (int d = 0; d < b->shape.rank; d++) {
            assert_int_equal(r->dims[d].n, b->shape.d[d].n);
            assert_int_equal(r->dims[d].sym, b->shape.d[d].sym);
        }
        if (b->name)
            assert_string_equal(r->name, b->name);
        else
            assert_null(r->name);
        assert_int_equal(r->first, b->first);
        assert_int_equal(r->last, b->last);
        if (b->kind == BUF_CONST)
            assert_int_equal(r->nbytes, (size_t)shape_numel(&b->shape, NULL) * dtype_size(b->dt));
        else
            assert_int_equal(r->nbytes, 0);
    }
    assert_int_equal(rp->nkernels, p->nkernels);
    for (int k = 0; k < p->nkernels; k++) {
        assert_int_equal(rp->kernels[k].kind, p->kernels[k].kind);
        assert_int_equal(rp->kernels[k].once, p->kernels[k].once);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "k%d ", k);
        assert_memory_equal(rp->kernels[k].label, prefix, strlen(prefix));
        assert_true(rp->kernels[k].flops >= 0);
    }
    assert_int_equal(rp->noutputs, g->noutputs);
    for (int o = 0; o < g->noutputs; o++) {
        assert_string_equal(rp->outputs[o].name, g->outputs[o].name);
        assert_int_equal(rp->outputs[o].buffer, p->output_bufs[o]);
    }
    rt_plan_free(rp);
}

static void test_blob_tiny(void **state)
{
    (void)state;
    Graph *g = test_parse_vir(tiny_vir);
    IrError err;
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("%s", err.msg);
    Blob blob;
    assert_true(plan_serialize(p, &blob, &err));
    check_round_trip(p, &blob, NULL);

    /* the constant's data in its dtype (f16 1, 2, 3) and the GEMM's label and FLOPs */
    char msg[256];
    RtPlan *rp = rt_plan_parse(blob.data, blob.len, msg, sizeof msg);
    assert_non_null(rp);
    int consts = 0;
    for (int i = 0; i < rp->nbufs; i++)
        if (rp->bufs[i].kind == RT_BUF_CONST) {
            const RtBuffer *b = &rp->bufs[i];
            assert_int_equal(b->dtype, RT_DT_F16);
            assert_int_equal(b->nbytes, 6);
            for (int j = 0; j < 3; j++)
                assert_true(st_f16_to_f32((uint16_t)(b->data[2 * j] | b->data[2 * j + 1] << 8)) == j + 1);
            consts++;
        }
    assert_int_equal(consts, 1);
    int gemms = 0;
    for (int k = 0; k < rp->nkernels; k++)
        if (rp->kernels[k].kind == KK_GEMM) {
            assert_non_null(strstr(rp->kernels[k].label, " gemm tiny.vir:9:3"));
            /* 2·B·3·4 plus the epilogue (add, mul): 24 + 6 per B */
            assert_int_equal(rp->kernels[k].flops_sym, 0);
            assert_true(rp->kernels[k].flops >= 24 && rp->kernels[k].flops <= 40);
            gemms++;
        }
    assert_int_equal(gemms, 1);
    rt_plan_free(rp);

    /* the label file: missing is an error naming it; present is embedded as text */
    Blob b2;
    assert_false(plan_serialize_model(p, "/nonexistent-dir", &b2, &err));
    assert_non_null(strstr(err.msg, "/nonexistent-dir/tiny_labels.txt"));
    char dir[] = "/tmp/vitc-test-XXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tiny_labels.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("zero\none\ntwo\n", f);
    fclose(f);
    assert_true(plan_serialize_model(p, dir, &b2, &err));
    check_round_trip(p, &b2, "zero\none\ntwo\n");
    unlink(path);
    rmdir(dir);

    /* every truncation and single-byte corruption fails cleanly or parses to something valid */
    for (size_t n = 0; n < blob.len; n++) {
        assert_null(rt_plan_parse(blob.data, n, msg, sizeof msg));
        assert_true(msg[0] != 0);
    }
    uint8_t *copy = malloc(blob.len);
    assert_non_null(copy);
    for (size_t i = 0; i < blob.len; i++)
        for (int v = 0; v < 3; v++) {
            memcpy(copy, blob.data, blob.len);
            copy[i] = (uint8_t)(v == 0 ? 0xff : v == 1 ? 0x80 : copy[i] + 1);
            rt_plan_free(rt_plan_parse(copy, blob.len, msg, sizeof msg));
        }
    memcpy(copy, blob.data, blob.len);
    copy[0] = 'X';
    assert_null(rt_plan_parse(copy, blob.len, msg, sizeof msg));
    assert_non_null(strstr(msg, "not a vitc plan"));
    memcpy(copy, blob.data, blob.len);
    copy[8] = 99;
    assert_null(rt_plan_parse(copy, blob.len, msg, sizeof msg));
    assert_non_null(strstr(msg, "version 99"));
    free(copy);
    ir_free(blob.data);
    ir_free(b2.data);
    plan_free(p);
    ir_graph_free(g);
}

static void test_blob_model(void **state)
{
    (void)state;
    char model[4096], models[4096];
    snprintf(models, sizeof models, "%s/models", VITC_SOURCE_DIR);
    snprintf(model, sizeof model, "%s/vit_test_map.vit", models);
    const char *dirs[] = {models};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    Graph *g = tool_load_model(model, &fo, d);
    diag_free(d);
    assert_non_null(g);
    IrError err;
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("%s", err.msg);
    Blob blob;
    assert_true(plan_serialize_model(p, models, &blob, &err));
    check_round_trip(p, &blob, NULL);
    ir_free(blob.data);
    plan_free(p);
    ir_graph_free(g);
}

/* ---- placement ---- */

static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void test_place_random(void **state)
{
    (void)state;
    enum { N = 120 };
    RtLive b[N];
    size_t off[N], total;
    for (int round = 0; round < 200; round++) {
        int n = 1 + (int)rnd(N);
        size_t sum = 0;
        for (int i = 0; i < n; i++) {
            int64_t first = rnd(50), len = rnd(10);
            b[i] = (RtLive){rnd(4) == 0 ? 0 : 1 + rnd(5000), first, first + len};
            sum += (b[i].size + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
        }
        assert_int_equal(rt_place(b, n, off, &total), 0);
        assert_true(total <= sum);
        for (int i = 0; i < n; i++) {
            assert_int_equal(off[i] % RT_ALIGN, 0);
            assert_true(off[i] + b[i].size <= total);
            for (int j = 0; j < i; j++) {
                bool live = b[i].first <= b[j].last && b[j].first <= b[i].last;
                bool overlap = off[i] < off[j] + b[j].size && off[j] < off[i] + b[i].size;
                if (live && overlap && b[i].size && b[j].size)
                    fail_msg("round %d: buffers %d and %d are live together and overlap", round, i, j);
            }
        }
    }
}

static void test_place_reuse(void **state)
{
    (void)state;
    /* a chain: each buffer dies when the next is made; two slots suffice */
    RtLive b[6];
    size_t off[6], total;
    for (int i = 0; i < 6; i++)
        b[i] = (RtLive){1000, i, i + 1};
    assert_int_equal(rt_place(b, 6, off, &total), 0);
    assert_int_equal(total, 2 * 1024);
    /* disjoint ranges share memory; a small one fits in a hole */
    RtLive c[3] = {{4096, 0, 1}, {4096, 2, 3}, {64, 1, 2}};
    assert_int_equal(rt_place(c, 3, off, &total), 0);
    assert_int_equal(off[0], off[1]);
    assert_int_equal(total, 4096 + 64);
    assert_int_equal(rt_place(c, 0, off, &total), 0);
    assert_int_equal(total, 0);
}

/* ---- the pool ---- */

static void count_kernel(char *const *bufs, const int64_t *syms, int64_t begin, int64_t end)
{
    atomic_int *hits = (atomic_int *)bufs[0];
    (void)syms;
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&hits[i], 1);
}

static void test_pool(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 3, 5};
    /* chunk 1 and extent ≥ 4 · threads: guided parts (rt_pool.c), up to MAX_PARTS (4099) */
    static const int64_t extents[] = {0, 1, 2, 7, 8, 13, 20, 64, 1001, 4099};
    static const int64_t chunks[] = {1, 3, 7, 64, 5000};
    atomic_int *hits = calloc(5000, sizeof *hits);
    assert_non_null(hits);
    char *bufs[1] = {(char *)hits};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        RtPool *pool = rt_pool_new(threads[t]);
        assert_non_null(pool);
        assert_int_equal(rt_pool_threads(pool), threads[t]);
        for (int rep = 0; rep < 20; rep++)
            for (size_t e = 0; e < sizeof extents / sizeof *extents; e++)
                for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
                    for (int64_t i = 0; i < extents[e]; i++)
                        atomic_store(&hits[i], 0);
                    rt_pool_run(pool, count_kernel, bufs, NULL, extents[e], chunks[c]);
                    for (int64_t i = 0; i < extents[e]; i++)
                        if (atomic_load(&hits[i]) != 1)
                            fail_msg("%d threads, extent %lld, chunk %lld: iteration %lld ran %d times", threads[t],
                                     (long long)extents[e], (long long)chunks[c], (long long)i,
                                     atomic_load(&hits[i]));
                }
        rt_pool_free(pool);
    }
    rt_pool_run(NULL, count_kernel, bufs, NULL, 3, 1); /* no pool: the caller runs it all */
    free(hits);
}

/* Kernels named after the parameters they read (ir/plan_scope.c): through packed weights
 * (the last GEMM reads no other parameter), on component boundaries ("blocks.1" and
 * "blocks.10" share "blocks" only), '/'-separated names, a kernel reading none taking its
 * neighbour's layer; and the labels of the blob. */
static const char scoped_vir[] =
    "graph @scoped {\n"
    "  %x = input {name = \"x\"} : f32[4,8]\n"
    "  %w0 = param $blocks.0.fc.weight : f32[8,8]\n"
    "  %b0 = param $blocks.0.fc.bias : f32[8]\n"
    "  %h = matmul(%x, %w0) : f32[4,8]\n"
    "  %h1 = add(%h, %b0) : f32[4,8]\n"
    "  %t = transpose(%h1) {perm = [1, 0]} : f32[8,4]\n"
    "  %u = transpose(%t) {perm = [1, 0]} : f32[4,8]\n"
    "  %u2 = mul(%u, %u) : f32[4,8]\n"
    "  %w1 = param $blocks.1.fc.weight : f32[8,8]\n"
    "  %b10 = param $blocks.10.fc.bias : f32[8]\n"
    "  %g = matmul(%u2, %w1) : f32[4,8]\n"
    "  %g1 = add(%g, %b10) : f32[4,8]\n"
    "  %k = param $Encoder/encoderblock_3/Dense_0/kernel : f32[8,8]\n"
    "  %f = matmul(%g1, %k) : f32[4,8]\n"
    "  output y = %f\n"
    "}\n";

static void test_kernel_scope(void **state)
{
    (void)state;
    static const struct {
        const char *scope;
        size_t layer;
    } layers[] = {{"blocks.0.attn.qkv", 8}, {"blocks.11", 9},        {"patch_embed.proj", 11},
                  {"cls_token", 9},         {"", 0},                  {"mlp.fc1", 7},
                  {"Encoder/encoderblock_12/Mlp", 23}, {"a.b2c.d", 1}};
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        if (plan_scope_layer(layers[i].scope) != layers[i].layer)
            fail_msg("layer of '%s': %zu, want %zu", layers[i].scope, plan_scope_layer(layers[i].scope),
                     layers[i].layer);

    Graph *g = test_parse_vir(scoped_vir);
    IrError err;
    Plan *p = plan_build_opts(g, &(PlanOptions){.gemm_pack_nr = 32}, &err);
    if (!p)
        fail_msg("%s", err.msg);
    const char *gemm_scopes[] = {"blocks.0.fc", "blocks", "Encoder/encoderblock_3/Dense_0"};
    const char *pack_scopes[] = {"blocks.0.fc", "blocks.1.fc", "Encoder/encoderblock_3/Dense_0"};
    int gemms = 0, others = 0, packs = 0;
    char s[256];
    for (int32_t k = 0; k < p->nkernels; k++) {
        const Kernel *kn = &p->kernels[k];
        size_t n = plan_kernel_scope(p, k, s, sizeof s);
        assert_int_equal(n, strlen(s));
        if (kn->kind == KK_GEMM) {
            assert_true(gemms < 3);
            assert_string_equal(s, gemm_scopes[gemms++]);
        } else if (kn->once && kn->nin > 0) { /* a weight into panels: the weight's scope */
            assert_true(gemms < 3);
            assert_string_equal(s, pack_scopes[gemms]);
            packs++;
        } else if (kn->once) { /* the panels' zero padding reads nothing */
            assert_string_equal(s, "");
        } else { /* the mul between the first two GEMMs: the first one's layer */
            assert_string_equal(s, "blocks.0");
            others++;
        }
    }
    assert_int_equal(gemms, 3);
    assert_int_equal(packs, 3);
    assert_int_equal(others, 1);
    assert_int_equal(plan_kernel_scope(p, 0, s, 5), 4); /* truncated, NUL-terminated */
    assert_string_equal(s, "bloc");
    assert_int_equal(plan_kernel_scope(p, p->nkernels, s, sizeof s), 0);

    /* the labels: "k2 gemm [blocks.0.fc]" (this graph has no source locations) */
    Blob blob;
    assert_true(plan_serialize(p, &blob, &err));
    char msg[256];
    RtPlan *rp = rt_plan_parse(blob.data, blob.len, msg, sizeof msg);
    assert_non_null(rp);
    for (int32_t k = 0, gi = 0; k < rp->nkernels; k++) {
        char want[300];
        if (rp->kernels[k].kind != KK_GEMM)
            continue;
        snprintf(want, sizeof want, "k%d gemm [%s]", k, gemm_scopes[gi++]);
        assert_string_equal(rp->kernels[k].label, want);
    }
    rt_plan_free(rp);
    ir_free(blob.data);
    plan_free(p);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbering),   cmocka_unit_test(test_blob_tiny), cmocka_unit_test(test_blob_model),
        cmocka_unit_test(test_place_random), cmocka_unit_test(test_place_reuse), cmocka_unit_test(test_pool),
        cmocka_unit_test(test_kernel_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
