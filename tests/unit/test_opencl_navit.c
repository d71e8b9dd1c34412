/* test_opencl_navit.c — NaViT's kernels on PoCL (docs/NAVIT.md, docs/BACKEND_OPENCL.md):
 * segment-aware attention (mask = segment and slot) and segment_reduce, against the
 * interpreter and plan_exec (test_opencl.h), as test_navit.c checks the LLVM backend:
 *
 *   - the prelude's masked spelling rewritten by the -O1 pipeline into segment and slot
 *     attention, over segment layouts with padding, empty slots, all padding, decomposed
 *     and flash schedules, CPU and GPU schedules; padding rows and empty slots exactly 0;
 *   - segment_reduce sum, mean and max by hand (empty segments 0, NaN padding never read)
 *     and with an epilogue;
 *   - navit_test and navit_test_gap on the PyTorch reference sequences
 *     (tests/reference/navit): OpenCL against ir_interp and plan_exec after the pipeline
 *     (≤ 1e-5) and against PyTorch on the valid slots (≤ 1e-5 relative).
 *
 * The attention graph and the reference sequences: backend_cases.c.
 */
#include "test_interp.h"
#include "test_opencl.h"

#define TOL 1e-5

static int count_attention(const Graph *g, int mask)
{
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        n += g->nodes[i].op == OP_ATTENTION && g->nodes[i].attr.attn.mask == mask;
    return n;
}

/* ---- segment and slot attention ---- */

/* images of sizes n[0..nimg) tokens packed in order into T tokens, the rest padding */
static void check_segment_attention(int64_t T, int H, int Dh, int nimg, const int *n, bool gpu, uint64_t seed)
{
    enum { S = 8 };
    char *text = bc_navit_attention_vir(T, H, Dh, S);
    Graph *g = test_parse_vir(text);
    free(text);
    Tensor *seg = tensor_new(DT_I32, 1, DIMS(T)), *pp = tensor_new(DT_F32, 2, DIMS(T, 1));
    assert_true(seg && pp);
    memset(pp->f, 0, (size_t)T * sizeof *pp->f);
    int64_t t = 0;
    for (int i = 0; i < nimg; i++)
        for (int j = 0; j < n[i]; j++, t++) {
            assert_true(t < T);
            seg->i[t] = i;
        }
    for (; t < T; t++)
        seg->i[t] = -1;
    Tensor *q = tl_random(DT_F32, 4, DIMS(1, H, T, Dh), -2, 2, seed + 1);
    Tensor *k = tl_random(DT_F32, 4, DIMS(1, H, T, Dh), -2, 2, seed + 2);
    Tensor *v = tl_random(DT_F32, 4, DIMS(1, H, T, Dh), -2, 2, seed + 3);
    Tensor *qs = tl_random(DT_F32, 4, DIMS(1, H, S, Dh), -2, 2, seed + 4);
    NamedTensor in[6] = {{"patches", pp}, {"seg", seg}, {"q", q}, {"k", k}, {"v", v}, {"qs", qs}};
    OcCheck c = {.gen = {.gpu = gpu}};
    Tensor *got[2] = {NULL, NULL};
    oc_check(g, NULL, in, 6, TOL, &c, got); /* the -O1 pipeline, then OpenCL vs ir_interp and plan_exec */
    assert_int_equal(count_attention(g, MASK_SEGMENT), 1);
    assert_int_equal(count_attention(g, MASK_SLOT), 1);
    /* padding rows and empty slots: exactly 0 */
    for (int h = 0; h < H; h++) {
        for (int64_t r = 0; r < T; r++)
            for (int d = 0; seg->i[r] < 0 && d < Dh; d++)
                assert_true(got[0]->f[(h * T + r) * Dh + d] == 0);
        for (int j = nimg; j < S; j++)
            for (int d = 0; d < Dh; d++)
                assert_true(got[1]->f[(h * S + j) * Dh + d] == 0);
    }
    print_message("T=%lld H=%d Dh=%d, %d images%s: OpenCL = interpreter\n", (long long)T, H, Dh, nimg,
                  gpu ? " (GPU schedule)" : "");
    tensor_free(got[0]), tensor_free(got[1]);
    tensor_free(q), tensor_free(k), tensor_free(v), tensor_free(qs);
    tensor_free(seg), tensor_free(pp);
    ir_graph_free(g);
}

static void test_segment_attention(void **state)
{
    (void)state;
    /* decomposed: three images and padding; eight small ones; odd sizes; all padding */
    check_segment_attention(64, 4, 8, 3, (const int[]){6, 16, 5}, false, 1);
    check_segment_attention(64, 1, 8, 8, (const int[]){1, 4, 9, 4, 2, 7, 2, 6}, false, 2);
    check_segment_attention(37, 3, 5, 2, (const int[]){1, 30}, true, 3);
    check_segment_attention(16, 2, 4, 0, NULL, false, 4);
    /* flash (T = 200: a query tile's scores exceed the decomposed limit), no padding too */
    check_segment_attention(200, 2, 16, 4, (const int[]){63, 39, 45, 1}, false, 5);
    check_segment_attention(200, 1, 8, 2, (const int[]){100, 100}, true, 6);
}

/* ---- segment_reduce ---- */

static void test_segment_reduce(void **state)
{
    (void)state;
    static const char *const kinds[] = {"sum", "mean", "max"};
    for (int kind = 0; kind < 6; kind++) {
        char text[1024];
        bool epi = kind >= 3; /* then with a GELU and a bias after it, on [T, 2, 5] */
        snprintf(text, sizeof text,
                 "graph @sr {\n"
                 "  %%p = input {name = \"patches\", pack = patches, patch = 1, channels = 1, images = 4} : f32[7,1]\n"
                 "  %%seg = input {name = \"seg\", pack = seg} : i32[7]\n"
                 "  %%x = input {name = \"x\"} : f32[7,%s]\n"
                 "  %%r = segment_reduce(%%x, %%seg) {segments = 4, reduce = %s}\n"
                 "%s"
                 "}\n",
                 epi ? "2,5" : "3", kinds[kind % 3],
                 epi ? "  %b = input {name = \"b\"} : f32[5]\n  %g = gelu(%r)\n  %y = add(%g, %b)\n  output out = %y\n"
                     : "  output out = %r\n");
        Graph *g = test_parse_vir(text);
        int64_t per = epi ? 10 : 3;
        Tensor *x = tensor_new(DT_F32, epi ? 3 : 2, epi ? DIMS(7, 2, 5) : DIMS(7, 3));
        Tensor *seg = tensor_new(DT_I32, 1, DIMS(7)), *pp = tensor_new(DT_F32, 2, DIMS(7, 1));
        Tensor *b = tl_random(DT_F32, 1, DIMS(5), -1, 1, 9);
        assert_true(x && seg && pp && b);
        memset(pp->f, 0, 7 * sizeof *pp->f);
        const int64_t ids[7] = {0, 2, 0, 0, 2, -1, -1}; /* slots 1 and 3 empty; padding NaN */
        for (int t = 0; t < 7; t++) {
            seg->i[t] = (int32_t)ids[t];
            for (int64_t c = 0; c < per; c++)
                x->f[t * per + c] = ids[t] < 0 ? NAN : (float)((t * 7 + c * 3) % 11) * (c % 2 ? -0.25f : 0.5f);
        }
        NamedTensor in[4] = {{"patches", pp}, {"seg", seg}, {"x", x}, {"b", b}};
        Tensor *got[1] = {NULL};
        oc_check(g, NULL, in, epi ? 4 : 3, epi ? TOL : 0, &(OcCheck){.gen = {.gpu = kind == 1}}, got);
        for (int64_t c = 0; !epi && c < per; c++) /* the empty segments */
            assert_true(got[0]->f[1 * per + c] == 0 && got[0]->f[3 * per + c] == 0);
        tensor_free(got[0]);
        tensor_free(x), tensor_free(seg), tensor_free(pp), tensor_free(b);
        ir_graph_free(g);
    }
}

/* ---- the test models on the reference sequences ---- */

static void test_models(void **state)
{
    (void)state;
    StFile *wf, *iof;
    bc_navit_ref_open(&wf, &iof);
    WeightSource ws = tool_weight_source(wf);
    static const char *const models[2] = {"navit_test.vit", "navit_test_gap.vit"};
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 2; k++) {
            BcNavitRef r;
            bc_navit_ref_load(iof, m, k, &r);
            Graph *g = tl_model(models[m]);
            Tensor *got[1] = {NULL};
            OcCheck c = {.pack_nr = OCL_PANEL_COLUMNS}; /* as vitc compile plans */
            oc_check(g, &ws, r.in, m == 0 ? 4 : 6, TOL, &c, got);
            /* the segment-aware forms ran: attention by segment (and by slot: MAP pooling) */
            assert_true(count_attention(g, MASK_SEGMENT) >= 1);
            int nsr = 0;
            for (int32_t i = 0; i < g->nnodes; i++)
                nsr += g->nodes[i].op == OP_SEGMENT_REDUCE;
            assert_true(m == 0 ? count_attention(g, MASK_SLOT) >= 1 : nsr >= 1);
            double d = bc_ref_diff(got[0], r.want, r.images);
            print_message("%s sequence %d (%d images): max |opencl - PyTorch| / (1 + |PyTorch|) = %.3g\n",
                          models[m], k, (int)r.images, d);
            assert_true(d <= TOL);
            tensor_free(got[0]);
            bc_navit_ref_free(&r);
            ir_graph_free(g);
        }
    st_close(iof);
    st_close(wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_attention),
        cmocka_unit_test(test_segment_reduce),
        cmocka_unit_test(test_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
