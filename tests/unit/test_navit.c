/* test_navit.c — NaViT in the compiler (docs/NAVIT.md): packed inputs, the
 * packing-mask-elimination pass, segment-aware attention and segmented pooling in the
 * interpreter and the LLVM backend (JIT).
 *
 *   - segment attention (attention-fusion then packing-mask-elimination of the prelude's
 *     spelling) equals masked dense attention on every non-pad row, over several random
 *     segment layouts, head counts and lengths (decomposed and flash schedules), in the
 *     interpreter and the JIT; the slot form (MAP) likewise on every slot with an image;
 *   - navit_test and navit_test_gap: -O0 (dense masks) against -O1 (segment-aware) on the
 *     valid slots, and the JIT against ir_interp and plan_exec after the pipeline;
 *   - garbage in the padding (NaN and huge patches, wild coordinates) changes no valid
 *     output, in the interpreter and the JIT;
 *   - factorized position embeddings on one square image equal the learned table
 *     pe[y·w + x] = φ_y[y] + φ_x[x];
 *   - segment_reduce by hand (sum, mean, max, empty segments, padding skipped);
 *   - the reference vectors of tests/reference/navit (PyTorch, each image alone): the
 *     interpreter before and after the pipeline and the JIT, ≤ 1e-5 relative;
 *   - the verifier's checks of packed inputs, and the pass leaving non-segment masks.
 *
 * The attention graph and the reference sequences: backend_cases.c.
 */
#include "test_attention.h"
#include "test_oom.h"

#define TOL 1e-5

/* ---- packed sequences ---- */

typedef struct {
    int n;         /* images */
    int h[8], w[8];
} Layout;

typedef struct {
    Tensor *patches, *seg, *row, *col, *height, *width;
} Packed;

enum { PAD_ZERO, PAD_NAN, PAD_HUGE };

/* Packs random pixels of the layout's images into T tokens; padding per `pad`. */
static Packed pack(const Layout *l, int64_t T, int64_t width, uint64_t seed, int pad)
{
    Packed p;
    p.patches = tl_random(DT_F32, 2, DIMS(T, width), -1, 1, seed);
    p.seg = tensor_new(DT_I32, 1, DIMS(T));
    p.row = tensor_new(DT_I32, 1, DIMS(T));
    p.col = tensor_new(DT_I32, 1, DIMS(T));
    p.height = tensor_new(DT_I32, 1, DIMS(T));
    p.width = tensor_new(DT_I32, 1, DIMS(T));
    int64_t t = 0;
    for (int i = 0; i < l->n; i++)
        for (int y = 0; y < l->h[i]; y++)
            for (int x = 0; x < l->w[i]; x++, t++) {
                assert_true(t < T);
                p.seg->i[t] = i, p.row->i[t] = y, p.col->i[t] = x, p.height->i[t] = l->h[i], p.width->i[t] = l->w[i];
            }
    for (; t < T; t++) {
        p.seg->i[t] = -1;
        bool wild = pad != PAD_ZERO;
        p.row->i[t] = wild ? 1000 + t : 0, p.col->i[t] = wild ? -7 : 0;
        p.height->i[t] = wild ? 0 : 1, p.width->i[t] = wild ? -3 : 1;
        for (int64_t c = 0; c < width; c++)
            p.patches->f[t * width + c] = pad == PAD_NAN ? NAN : pad == PAD_HUGE ? 1e30f : 0;
    }
    return p;
}

static void packed_free(Packed *p)
{
    tensor_free(p->patches), tensor_free(p->seg), tensor_free(p->row);
    tensor_free(p->col), tensor_free(p->height), tensor_free(p->width);
}

static int packed_inputs(const Packed *p, NamedTensor *in)
{
    in[0] = (NamedTensor){"patches", p->patches};
    in[1] = (NamedTensor){"seg", p->seg};
    in[2] = (NamedTensor){"row", p->row};
    in[3] = (NamedTensor){"col", p->col};
    in[4] = (NamedTensor){"height", p->height};
    in[5] = (NamedTensor){"width", p->width};
    return 6;
}

/* The inputs the graph declares, of those packed. */
static int graph_inputs(const Graph *g, const Packed *p, NamedTensor *out)
{
    NamedTensor all[6];
    packed_inputs(p, all);
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_INPUT)
            for (int j = 0; j < 6; j++)
                if (strcmp(g->nodes[i].attr.input.name, all[j].name) == 0)
                    out[n++] = all[j];
    return n;
}

static void run_passes(Graph *g, const char *pipeline)
{
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    if (!pass_run_pipeline(g, pipeline, &po, &err))
        fail_msg("passes: %s", err.msg);
}

static Tensor *interp1(const Graph *g, const WeightSource *w, const NamedTensor *in, int nin)
{
    Tensor *out[4] = {NULL};
    IrError err = {{0}};
    if (!ir_interp(g, w, in, nin, out, &err))
        fail_msg("ir_interp: %s", err.msg);
    for (int i = 1; i < g->noutputs; i++)
        tensor_free(out[i]);
    return out[0];
}

/* max |a − b| over the rows r of [rows, ...] with valid[r] (NaN anywhere there: +inf) */
static double rows_diff(const Tensor *a, const Tensor *b, int64_t rows, const bool *valid)
{
    assert_int_equal(a->numel, b->numel);
    int64_t per = a->numel / rows;
    double worst = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; valid[r] && c < per; c++) {
            double d = fabs((double)a->f[r * per + c] - (double)b->f[r * per + c]);
            if (!(d <= worst))
                worst = d != d ? INFINITY : d;
        }
    return worst;
}

static int count_op(const Graph *g, Op op, int mask)
{
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        n += g->nodes[i].op == op && (mask < 0 || g->nodes[i].attr.attn.mask == mask);
    return n;
}

/* No mask and no T×T logits are left: no bool value, no select or softmax, no q·kᵀ
 * (a matmul with transpose_b) of T×T. (Other [.., T, T] values are the model's widths.) */
static void assert_no_txt(const Graph *g, int64_t T)
{
    for (int32_t v = 0; v < g->nvalues; v++) {
        const Shape *s = &ir_type(g, v)->shape;
        const Node *n = ir_def(g, v);
        if (ir_type(g, v)->dt == DT_BOOL || n->op == OP_SELECT || n->op == OP_SOFTMAX)
            fail_msg("a mask or a masked softmax is left: %%%d ('%s')", v, ir_ops[n->op].name);
        bool txt = s->rank >= 2 && s->d[s->rank - 1].n == T && s->d[s->rank - 2].n == T;
        if (txt && n->op == OP_MATMUL && n->attr.matmul.transpose_b)
            fail_msg("value %%%d is T×T logits", v);
    }
}

/* ---- segment attention against masked dense attention ---- */

static void check_segment_attention(int64_t T, int H, int Dh, const Layout *l, uint64_t seed)
{
    enum { S = 8 };
    char *text = bc_navit_attention_vir(T, H, Dh, S);
    Graph *dense = test_parse_vir(text), *fused = test_parse_vir(text);
    free(text);
    assert_non_null(dense);
    assert_non_null(fused);
    run_passes(fused, pass_default_pipeline(1));
    assert_int_equal(count_op(fused, OP_ATTENTION, MASK_SEGMENT), 1);
    assert_int_equal(count_op(fused, OP_ATTENTION, MASK_SLOT), 1);
    assert_no_txt(fused, T);

    Packed p = pack(l, T, 1, seed, PAD_ZERO);
    Tensor *q = tl_random(DT_F32, 4, DIMS(1, H, T, Dh), -2, 2, seed + 1);
    Tensor *k = tl_random(DT_F32, 4, DIMS(1, H, T, Dh), -2, 2, seed + 2);
    Tensor *v = tl_random(DT_F32, 4, DIMS(1, H, T, Dh), -2, 2, seed + 3);
    Tensor *qs = tl_random(DT_F32, 4, DIMS(1, H, S, Dh), -2, 2, seed + 4);
    NamedTensor in[6] = {{"patches", p.patches}, {"seg", p.seg}, {"q", q}, {"k", k}, {"v", v}, {"qs", qs}};
    Tensor *want[2] = {NULL}, *got[2] = {NULL};
    IrError err = {{0}};
    assert_true(ir_interp(dense, NULL, in, 6, want, &err));
    assert_true(ir_interp(fused, NULL, in, 6, got, &err));
    /* rows [h, t]: valid when t is not padding; slot rows [h, j]: when j holds an image */
    bool *valid = calloc((size_t)(H * T), 1), svalid[8 * S] = {0};
    assert_non_null(valid);
    for (int h = 0; h < H; h++) {
        for (int64_t t = 0; t < T; t++)
            valid[h * T + t] = p.seg->i[t] >= 0;
        for (int j = 0; j < S; j++)
            svalid[h * S + j] = j < l->n;
    }
    double d1 = rows_diff(got[0], want[0], H * T, valid), d2 = rows_diff(got[1], want[1], H * S, svalid);
    /* the fused op gives exactly 0 on padding rows and empty slots */
    for (int64_t i = 0; i < H * T; i++)
        for (int c = 0; !valid[i] && c < Dh; c++)
            assert_true(got[0]->f[i * Dh + c] == 0);
    print_message("T=%lld H=%d Dh=%d, %d images: |segment - masked dense| = %.3g, |slot - masked| = %.3g\n",
                  (long long)T, H, Dh, l->n, d1, d2);
    assert_true(d1 <= TOL);
    assert_true(d2 <= TOL);
    /* the JIT against ir_interp and plan_exec on the rewritten graph (1 and 3 chunks) */
    TlCheck c = {0};
    tl_check(fused, NULL, in, 6, TOL, &c, NULL);
    for (int i = 0; i < 2; i++) {
        tensor_free(want[i]);
        tensor_free(got[i]);
    }
    free(valid);
    tensor_free(q), tensor_free(k), tensor_free(v), tensor_free(qs);
    packed_free(&p);
    ir_graph_free(dense);
    ir_graph_free(fused);
}

static void test_segment_attention(void **state)
{
    (void)state;
    uint64_t s = 1;
    /* decomposed (short sequences) */
    check_segment_attention(64, 4, 8, &(Layout){3, {2, 4, 1}, {3, 4, 5}}, s++);
    check_segment_attention(64, 2, 16, &(Layout){1, {8}, {8}}, s++);               /* full, one image */
    check_segment_attention(64, 1, 8, &(Layout){8, {1, 2, 3, 1, 2, 1, 1, 2}, {1, 2, 3, 4, 1, 7, 2, 3}}, s++);
    check_segment_attention(37, 3, 5, &(Layout){2, {1, 5}, {1, 6}}, s++);          /* odd sizes */
    check_segment_attention(16, 2, 4, &(Layout){0, {0}, {0}}, s++);                /* all padding */
    /* flash (T = 200: a query tile's scores exceed 16 KiB) */
    check_segment_attention(200, 2, 16, &(Layout){4, {7, 3, 9, 1}, {9, 13, 5, 1}}, s++);
    check_segment_attention(200, 3, 8, &(Layout){2, {10, 10}, {10, 10}}, s++);     /* no padding */
    check_segment_attention(200, 1, 32, &(Layout){5, {4, 6, 1, 8, 2}, {30, 5, 1, 2, 3}}, s++);
    /* random layouts (seeded): 1–8 images of 1–12 × 1–12 patches, as many as fit in T */
    uint64_t r = 12345;
    for (int i = 0; i < 8; i++) {
        int64_t T = i % 2 ? 160 : 72, used = 0;
        Layout l = {0, {0}, {0}};
        for (int j = 0; j < 8; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            int h = 1 + (int)((r >> 33) % 12), w = 1 + (int)((r >> 45) % 12);
            if (used + h * w > T)
                continue;
            l.h[l.n] = h, l.w[l.n] = w, l.n++;
            used += h * w;
        }
        check_segment_attention(T, 1 + i % 3, 8 << (i % 2), &l, s++);
    }
}

/* The segment and slot kernels under forced schedules (query tiles of 8, 16, 32; decomposed
 * and flash blocks of 1, 3, 7, 64 keys: blocks straddling segment ends, segments shorter
 * than a tile) against the interpreter, 1 and 3 chunks. */
static void test_segment_schedules(void **state)
{
    (void)state;
    enum { T = 96, H = 2, DH = 8, S = 8 };
    static const int tiles[][2] = {{8, 0}, {8, 1}, {16, 3}, {16, 0}, {32, 7}, {32, 64}, {8, 64}};
    char *text = bc_navit_attention_vir(T, H, DH, S);
    Layout l = {5, {1, 3, 7, 2, 5}, {1, 9, 5, 2, 8}}; /* 1 + 27 + 35 + 4 + 40 = 107 > 96: 4 fit */
    l.n = 4;
    Packed p = pack(&l, T, 1, 77, PAD_NAN);
    Tensor *q = tl_random(DT_F32, 4, DIMS(1, H, T, DH), -2, 2, 78), *k = tl_random(DT_F32, 4, DIMS(1, H, T, DH), -2, 2, 79);
    Tensor *v = tl_random(DT_F32, 4, DIMS(1, H, T, DH), -2, 2, 80), *qs = tl_random(DT_F32, 4, DIMS(1, H, S, DH), -2, 2, 81);
    for (int64_t t = 0; t < T; t++) /* NaN keys and values on the padding: never read */
        for (int h = 0; h < H && p.seg->i[t] < 0; h++)
            for (int d = 0; d < DH; d++)
                k->f[(h * T + t) * DH + d] = v->f[(h * T + t) * DH + d] = NAN;
    NamedTensor in[6] = {{"patches", p.patches}, {"seg", p.seg}, {"q", q}, {"k", k}, {"v", v}, {"qs", qs}};
    Graph *g = test_parse_vir(text);
    run_passes(g, pass_default_pipeline(2));
    Tensor *want[2] = {NULL};
    IrError err = {{0}};
    assert_true(ir_interp(g, NULL, in, 6, want, &err));
    for (size_t c = 0; c < sizeof tiles / sizeof tiles[0]; c++) {
        LlvmOptions lo = {.opt_level = 2};
        PlanOptions plo;
        llvm_plan_options(&lo, &plo);
        Plan *pl = plan_build_opts(g, &plo, &err);
        assert_non_null(pl);
        int changed = 0;
        for (int32_t i = 0; i < pl->nkernels; i++)
            if (pl->kernels[i].kind == KK_ATTENTION) {
                pl->kernels[i].sched.tile_m = tiles[c][0];
                pl->kernels[i].sched.tile_n = tiles[c][1];
                changed++;
            }
        assert_int_equal(changed, 2);
        LlvmJit *jit = llvm_jit_new(pl, &lo, &err);
        if (!jit)
            fail_msg("llvm_jit_new: %s", err.msg);
        for (int chunks = 1; chunks <= 3; chunks += 2) {
            Tensor *out[2] = {NULL};
            char msg[256] = "";
            assert_true(tl_run(pl, jit, NULL, in, 6, chunks, out, NULL, msg, sizeof msg));
            double d0 = tl_diff(out[0], want[0]), d1 = tl_diff(out[1], want[1]);
            if (!(d0 <= TOL && d1 <= TOL))
                fail_msg("tile_m %d tile_n %d, %d chunks: segment %.3g, slot %.3g", tiles[c][0], tiles[c][1], chunks,
                         d0, d1);
            tensor_free(out[0]), tensor_free(out[1]);
        }
        llvm_jit_free(jit);
        plan_free(pl);
    }
    tensor_free(want[0]), tensor_free(want[1]);
    tensor_free(q), tensor_free(k), tensor_free(v), tensor_free(qs);
    packed_free(&p);
    ir_graph_free(g);
    free(text);
}

/* ---- the models ---- */

static void check_model(const char *file, const Layout *l, uint64_t seed)
{
    Graph *g0 = tl_model(file), *g1 = tl_model(file);
    TaWeights w;
    ta_weights(g0, seed, &w);
    const Node *pn = &g0->nodes[0];
    assert_int_equal(pn->attr.input.pack, PACK_PATCHES);
    int64_t T = ir_type(g0, pn->out)->shape.d[0].n, width = ir_type(g0, pn->out)->shape.d[1].n;
    int64_t S = pn->attr.input.images;
    run_passes(g1, pass_default_pipeline(1));
    assert_no_txt(g1, T);
    assert_int_equal(count_op(g1, OP_SEGMENT_REDUCE, -1) + count_op(g1, OP_ATTENTION, MASK_SLOT), 1);

    bool valid[16] = {0};
    for (int j = 0; j < l->n; j++)
        valid[j] = true;
    Packed p = pack(l, T, width, seed, PAD_ZERO);
    NamedTensor in[6];
    int nin = graph_inputs(g0, &p, in);
    Tensor *dense = interp1(g0, &w.ws, in, nin), *seg = interp1(g1, &w.ws, in, nin);
    double d = rows_diff(seg, dense, S, valid);
    print_message("%s, %d images: |-O1 - -O0| on the valid slots = %.3g\n", file, l->n, d);
    assert_true(d <= TOL);

    /* the JIT against the interpreter after the pipeline */
    Tensor *got[1] = {NULL};
    Graph *g2 = tl_model(file);
    tl_check(g2, &w.ws, in, nin, TOL, NULL, got);

    /* garbage in the padding: the same valid slots, exactly (interpreter and JIT) */
    for (int pad = PAD_NAN; pad <= PAD_HUGE; pad++) {
        Packed q = pack(l, T, width, seed, pad);
        NamedTensor qin[6];
        int qn = graph_inputs(g1, &q, qin);
        Tensor *gi = interp1(g1, &w.ws, qin, qn), *gj[1] = {NULL};
        assert_true(rows_diff(gi, seg, S, valid) == 0);
        Graph *g3 = tl_model(file);
        TlCheck c = {.no_reference = true, .chunks = 3};
        tl_check(g3, &w.ws, qin, qn, TOL, &c, gj);
        double dj = rows_diff(gj[0], got[0], S, valid);
        print_message("  padding %s: interpreter unchanged, JIT |Δ| = %.3g\n", pad == PAD_NAN ? "NaN" : "1e30", dj);
        assert_true(dj == 0);
        tensor_free(gi);
        tensor_free(gj[0]);
        ir_graph_free(g3);
        packed_free(&q);
    }
    tensor_free(got[0]);
    tensor_free(dense);
    tensor_free(seg);
    packed_free(&p);
    ta_weights_free(&w);
    ir_graph_free(g0);
    ir_graph_free(g1);
    ir_graph_free(g2);
}

static void test_models(void **state)
{
    (void)state;
    const char *models[] = {"navit_test.vit", "navit_test_gap.vit"};
    for (int m = 0; m < 2; m++) {
        check_model(models[m], &(Layout){3, {4, 8, 2}, {4, 3, 5}}, 11 + (uint64_t)m);
        check_model(models[m], &(Layout){1, {8}, {8}}, 21 + (uint64_t)m);       /* one image, no padding */
        check_model(models[m], &(Layout){4, {1, 3, 2, 5}, {1, 7, 2, 5}}, 31 + (uint64_t)m);
    }
}

/* ---- reference vectors (tests/reference/navit: PyTorch, one image at a time) ---- */

static void test_reference(void **state)
{
    (void)state;
    StFile *wf, *iof;
    bc_navit_ref_open(&wf, &iof);
    WeightSource ws = tool_weight_source(wf);
    const char *models[2] = {"navit_test.vit", "navit_test_gap.vit"};
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 2; k++) {
            BcNavitRef r;
            bc_navit_ref_load(iof, m, k, &r);
            Graph *g0 = tl_model(models[m]), *g1 = tl_model(models[m]);
            int nin = m == 0 ? 4 : 6;
            Tensor *dense = interp1(g0, &ws, r.in, nin);
            Tensor *got[1] = {NULL};
            tl_check(g1, &ws, r.in, nin, TOL, NULL, got); /* the pipeline; the JIT against ir_interp, plan_exec */
            Graph *g2 = tl_model(models[m]);
            run_passes(g2, pass_default_pipeline(1));
            Tensor *seg = interp1(g2, &ws, r.in, nin);
            int64_t n = r.images;
            double d0 = bc_ref_diff(dense, r.want, n), d1 = bc_ref_diff(seg, r.want, n);
            double d2 = bc_ref_diff(got[0], r.want, n);
            print_message("%s sequence %d (%lld images): vs PyTorch: interpreter -O0 %.3g, -O1 %.3g, JIT %.3g\n",
                          models[m], k, (long long)n, d0, d1, d2);
            assert_true(d0 <= TOL && d1 <= TOL && d2 <= TOL);
            tensor_free(dense), tensor_free(seg), tensor_free(got[0]);
            bc_navit_ref_free(&r);
            ir_graph_free(g0), ir_graph_free(g1), ir_graph_free(g2);
        }
    st_close(iof);
    st_close(wf);
}

/* ---- factorized position embeddings ---- */

static void test_factorized_posemb(void **state)
{
    (void)state;
    enum { G = 5, D = 8, T = 32, GRID = 6 };
    const char *text = "import \"prelude_navit.vit\"\n"
                       "model pe {\n"
                       "  input patches, seg, row, col: packed(tokens = 32, patch = 1, channels = 1, images = 2)\n"
                       "  output pe = factorized_posemb(row, col, 6, 8)\n"
                       "}\n";
    Graph *g = ta_compile("pe.vit", text);
    TaWeights w;
    ta_weights(g, 7, &w);
    Packed p = pack(&(Layout){1, {G}, {G}}, T, 1, 3, PAD_ZERO);
    NamedTensor in[6];
    int nin = graph_inputs(g, &p, in);
    Tensor *pe = interp1(g, &w.ws, in, nin);
    const StTensor *ty = st_find(w.f, "pos_embed.height"), *tx = st_find(w.f, "pos_embed.width");
    assert_non_null(ty);
    assert_non_null(tx);
    assert_int_equal(ty->shape[0], GRID);
    const float *fy = ty->data, *fx = tx->data;
    /* the learned table of a G×G ViT: table[y·G + x] = φ_y[y] + φ_x[x] */
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++)
            for (int c = 0; c < D; c++)
                assert_true(pe->f[(y * G + x) * D + c] == fy[y * D + c] + fx[x * D + c]);
    Tensor *got[1] = {NULL};
    tl_check(g, &w.ws, in, nin, 0, NULL, got); /* the JIT: exactly the same sums */
    tensor_free(got[0]);
    tensor_free(pe);
    packed_free(&p);
    ta_weights_free(&w);
    ir_graph_free(g);
}

/* ---- segment_reduce ---- */

static void test_segment_reduce(void **state)
{
    (void)state;
    static const char *const kinds[] = {"sum", "mean", "max"};
    for (int kind = 0; kind < 3; kind++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "graph @sr {\n"
                 "  %%p = input {name = \"patches\", pack = patches, patch = 1, channels = 1, images = 4} : f32[6,1]\n"
                 "  %%seg = input {name = \"seg\", pack = seg} : i32[6]\n"
                 "  %%x = input {name = \"x\"} : f32[6,3]\n"
                 "  %%r = segment_reduce(%%x, %%seg) {segments = 4, reduce = %s}\n"
                 "  output out = %%r\n"
                 "}\n",
                 kinds[kind]);
        Graph *g = test_parse_vir(text);
        assert_non_null(g);
        Tensor *x = tensor_new(DT_F32, 2, DIMS(6, 3)), *seg = tensor_new(DT_I32, 1, DIMS(6));
        Tensor *pp = tensor_new(DT_F32, 2, DIMS(6, 1));
        const int64_t ids[6] = {0, 0, 0, 2, -1, -1}; /* slot 1 and 3 empty; padding NaN */
        for (int t = 0; t < 6; t++) {
            seg->i[t] = ids[t];
            for (int c = 0; c < 3; c++)
                x->f[t * 3 + c] = ids[t] < 0 ? NAN : (float)(t + 1) * (c == 1 ? -1.0f : 1.0f);
        }
        NamedTensor in[3] = {{"patches", pp}, {"seg", seg}, {"x", x}};
        Tensor *out = interp1(g, NULL, in, 3);
        const float want[3][4][3] = {
            {{6, -6, 6}, {0, 0, 0}, {4, -4, 4}, {0, 0, 0}},
            {{2, -2, 2}, {0, 0, 0}, {4, -4, 4}, {0, 0, 0}},
            {{3, -1, 3}, {0, 0, 0}, {4, -4, 4}, {0, 0, 0}},
        };
        for (int s = 0; s < 4; s++)
            for (int c = 0; c < 3; c++)
                assert_true(out->f[s * 3 + c] == want[kind][s][c]);
        tl_check(g, NULL, in, 3, 0, NULL, NULL);
        tensor_free(out);
        tensor_free(x), tensor_free(seg), tensor_free(pp);
        ir_graph_free(g);
    }
}

/* ---- the verifier on packed inputs; masks the pass leaves ---- */

static void test_verifier(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* patches without seg */
        "graph @a {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3, images = 2} : f32[8,12]\n"
        "  output o = %p\n}\n",
        /* width not P·P·C */
        "graph @a {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3, images = 2} : f32[8,10]\n"
        "  %s = input {name = \"s\", pack = seg} : i32[8]\n  output o = %p\n}\n",
        /* T differs */
        "graph @a {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3, images = 2} : f32[8,12]\n"
        "  %s = input {name = \"s\", pack = seg} : i32[9]\n  output o = %p\n}\n",
        /* seg not i32 */
        "graph @a {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3, images = 2} : f32[8,12]\n"
        "  %s = input {name = \"s\", pack = seg} : f32[8]\n  output o = %p\n}\n",
        /* two seg inputs */
        "graph @a {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3, images = 2} : f32[8,12]\n"
        "  %s = input {name = \"s\", pack = seg} : i32[8]\n  %t = input {name = \"t\", pack = seg} : i32[8]\n"
        "  output o = %p\n}\n",
        /* images missing; a symbolic T */
        "graph @a {\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3} : f32[8,12]\n"
        "  %s = input {name = \"s\", pack = seg} : i32[8]\n  output o = %p\n}\n",
        "graph @a {\n  dim T <= 8\n  %p = input {name = \"p\", pack = patches, patch = 2, channels = 3, images = 1} : "
        "f32[T,12]\n  %s = input {name = \"s\", pack = seg} : i32[T]\n  output o = %p\n}\n",
        /* attention with a segment mask: seg of the wrong type, Nq ≠ Nk */
        "graph @a {\n  %q = input {name = \"q\"} : f32[4,8]\n  %s = input {name = \"s\"} : f32[4]\n"
        "  %a = attention(%q, %q, %q, %s) {mask = segment}\n  output o = %a\n}\n",
        "graph @a {\n  %q = input {name = \"q\"} : f32[3,8]\n  %k = input {name = \"k\"} : f32[4,8]\n"
        "  %s = input {name = \"s\"} : i32[4]\n  %a = attention(%q, %k, %k, %s) {mask = segment}\n  output o = %a\n}\n",
        /* segment_reduce: rank 1 x, seg of another length */
        "graph @a {\n  %x = input {name = \"x\"} : f32[4]\n  %s = input {name = \"s\"} : i32[4]\n"
        "  %r = segment_reduce(%x, %s) {segments = 2}\n  output o = %r\n}\n",
        "graph @a {\n  %x = input {name = \"x\"} : f32[4,2]\n  %s = input {name = \"s\"} : i32[5]\n"
        "  %r = segment_reduce(%x, %s) {segments = 2}\n  output o = %r\n}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *sink = tmpfile();
        Diag *d = diag_new(sink);
        Graph *g = ir_parse(bad[i], strlen(bad[i]), "bad.vir", d);
        if (g) {
            IrError err = {{0}};
            bool ok = ir_verify(g, &err);
            if (ok)
                fail_msg("bad graph %zu is accepted", i);
            ir_graph_free(g);
        }
        diag_free(d);
        fclose(sink);
    }
    /* the slot form with Nq ≠ S is fine for the op (any number of slot queries) */
    const char *ok = "graph @a {\n  %q = input {name = \"q\"} : f32[3,8]\n  %k = input {name = \"k\"} : f32[4,8]\n"
                     "  %s = input {name = \"s\"} : i32[4]\n  %a = attention(%q, %k, %k, %s) {mask = slot}\n"
                     "  output o = %a\n}\n";
    Graph *g = test_parse_vir(ok);
    assert_non_null(g);
    ir_graph_free(g);
}

/* ---- the pass with every allocation failing in turn: a valid graph, the rewrite or none ---- */

static void test_out_of_memory(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/lit/passes/packing-segment.vir", tl_source_dir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    bool completed = false;
    for (long k = 0; !completed && k < 10000; k++) {
        Graph *g = test_parse_vir(text);
        assert_non_null(g);
        completed = oom_run_pass(g, pass_packing_mask_elim, k, "packing-mask-elimination");
        if (completed) {
            PassOptions o = {0};
            assert_int_equal(count_op(g, OP_ATTENTION, MASK_SEGMENT), 1);
            assert_int_equal(count_op(g, OP_SEGMENT_REDUCE, -1), 1);
            assert_false(pass_packing_mask_elim(g, &o)); /* idempotent */
        }
        ir_graph_free(g);
    }
    assert_true(completed);
}

/* ---- VITC_NAVIT_BENCH=1: the attention of one layer of NaViT-B/16, dense-masked against
 * segment-aware (JIT, 1 thread: one chunk), T = 1024 tokens of 5 images of 14×14 + padding ---- */

static double bench_plan(Graph *g, const char *pipeline, const NamedTensor *in, int nin, int reps)
{
    IrError err = {{0}};
    run_passes(g, pipeline);
    LlvmOptions lo = {.opt_level = 2};
    PlanOptions plo;
    llvm_plan_options(&lo, &plo);
    Plan *p = plan_build_opts(g, &plo, &err);
    assert_non_null(p);
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    assert_non_null(jit);
    double *ks = calloc((size_t)p->nkernels, sizeof *ks), best = INFINITY;
    for (int r = 0; r < reps; r++) {
        Tensor *out[2] = {NULL};
        char msg[256] = "";
        TlRun info = {.kernel_seconds = ks};
        assert_true(tl_run(p, jit, NULL, in, nin, 1, out, &info, msg, sizeof msg));
        double t = 0; /* the attention's kernels: all but the slot attention's */
        for (int32_t k = 0; k < p->nkernels; k++)
            if (!(p->kernels[k].kind == KK_ATTENTION && p->kernels[k].u.attn.nq.n == 8))
                t += ks[k];
        best = t < best ? t : best;
        tensor_free(out[0]), tensor_free(out[1]);
    }
    free(ks);
    llvm_jit_free(jit);
    plan_free(p);
    return best;
}

static void bench(void)
{
    enum { T = 1024, H = 12, DH = 64, REPS = 7 };
    char *text = bc_navit_attention_vir(T, H, DH, 8);
    Layout l = {5, {14, 14, 14, 14, 14}, {14, 14, 14, 14, 14}}; /* 980 tokens, 44 of padding */
    Packed p = pack(&l, T, 1, 5, PAD_ZERO);
    Tensor *q = tl_random(DT_F32, 4, DIMS(1, H, T, DH), -2, 2, 6), *qs = tl_random(DT_F32, 4, DIMS(1, H, 8, DH), -2, 2, 7);
    NamedTensor in[6] = {{"patches", p.patches}, {"seg", p.seg}, {"q", q}, {"k", q}, {"v", q}, {"qs", qs}};
    for (int round = 0; round < 3; round++) { /* in turns: the load falls on both alike */
        Graph *gd = test_parse_vir(text), *gs = test_parse_vir(text);
        double td = bench_plan(gd, "canonicalize,attention-fusion,cse,dce", in, 6, REPS);
        double ts = bench_plan(gs, pass_default_pipeline(2), in, 6, REPS);
        print_message("T=%d, H=%d, Dh=%d, 5 images of 196 tokens: dense masked %.2f ms, segment-aware %.2f ms "
                      "(%.1fx; Σnᵢ²/T² = %.3f)\n", T, H, DH, 1e3 * td, 1e3 * ts, td / ts, 5.0 * 196 * 196 / (T * T));
        ir_graph_free(gd), ir_graph_free(gs);
    }
    tensor_free(q), tensor_free(qs);
    packed_free(&p);
    free(text);
}

int main(void)
{
    const char *b = getenv("VITC_NAVIT_BENCH");
    if (b && *b) {
        bench();
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verifier),
        cmocka_unit_test(test_segment_reduce),
        cmocka_unit_test(test_factorized_posemb),
        cmocka_unit_test(test_segment_attention),
        cmocka_unit_test(test_segment_schedules),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
