/* test_navit_runtime.c — the NaViT runtime packer (runtime/rt_navit.c, docs/NAVIT.md).
 *
 * A small hand-written NaViT model (below: packed inputs, a patch matmul, factorized and
 * fractional position embeddings gathered by row/col/height/width, padding tokens zeroed,
 * two-head attention masked by segment equality, a masked mean per image slot, a head) is
 * compiled by the vitc under test into a .so and driven through vitrt.h:
 *   - info: any size, S images per sequence, P and T;
 *   - grids (rt_navit_grid): rounding up to whole patches, the largest grid that fits the
 *     budget against a brute-force sweep of scales, and the refusals without resizing;
 *   - the packer's layout (rt_navit_fill): patch order, metadata, padding;
 *   - packing invariance on 24 random mixes of image sizes (seeded): each image alone, the
 *     mix in a random order, with zero, random and NaN padding — max |Δ| ≤ 1e-5;
 *   - the .so against the reference interpreter on packed sequences (≤ 1e-4), and the
 *     interpreter with NaN / garbage padding against zero padding;
 *   - an oversized image resized (aspect ratio kept, within budget) or refused with resizing
 *     off; bad images and options; malformed NaViT plans.
 */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "cmd.h"
#include "image.h"
#include "plan.h"
#include "plan_blob.h"
#include "rt_internal.h"
#include "so_harness.h"
#include "test_vir.h"
#include "vitrt.h"

enum { T = 32, P = 4, C = 3, S = 4, K = 5 };
#define INVARIANCE_TOL 1e-5
#define INTERP_TOL 1e-4

static const char navit_vir[] =
    "graph @navit_hand {\n"
    "  meta {mean = [0.5], std = [0.25]}\n"
    "  %p = input {name = \"patches\", pack = patches, patch = 4, channels = 3, images = 4} : f32[32,48]\n"
    "  %seg = input {name = \"seg\", pack = seg} : i32[32]\n"
    "  %row = input {name = \"row\", pack = row} : i32[32]\n"
    "  %col = input {name = \"col\", pack = col} : i32[32]\n"
    "  %ht = input {name = \"height\", pack = height} : i32[32]\n"
    "  %wd = input {name = \"width\", pack = width} : i32[32]\n"
    "  %we = param $embed.weight {std = 0.2} : f32[48,16]\n"
    "  %be = param $embed.bias {std = 0.5} : f32[16]\n"
    "  %prow = param $pos_row {std = 1.0} : f32[32,16]\n"
    "  %pcol = param $pos_col {std = 1.0} : f32[32,16]\n"
    "  %pfr = param $pos_frac {std = 1.0} : f32[16]\n"
    "  %wq = param $q.weight {std = 0.4} : f32[16,16]\n"
    "  %wk = param $k.weight {std = 0.4} : f32[16,16]\n"
    "  %wv = param $v.weight {std = 0.4} : f32[16,16]\n"
    "  %wo = param $o.weight {std = 0.4} : f32[16,16]\n"
    "  %wh = param $head.weight {std = 0.5} : f32[16,5]\n"
    "  %bh = param $head.bias {std = 0.5} : f32[5]\n"
    "  %x0 = matmul(%p, %we) : f32[32,16]\n"
    "  %x1 = add(%x0, %be) : f32[32,16]\n"
    "  %er = take(%prow, %row) {axis = 0} : f32[32,16]\n"
    "  %ec = take(%pcol, %col) {axis = 0} : f32[32,16]\n"
    "  %rf = cast(%row) {to = f32} : f32[32]\n"
    "  %hf = cast(%ht) {to = f32} : f32[32]\n"
    "  %cf = cast(%col) {to = f32} : f32[32]\n"
    "  %wf = cast(%wd) {to = f32} : f32[32]\n"
    "  %fr = div(%rf, %hf) : f32[32]\n"
    "  %fc = div(%cf, %wf) : f32[32]\n"
    "  %fs = add(%fr, %fc) : f32[32]\n"
    "  %fs2 = reshape(%fs) {shape = [32, 1]} : f32[32,1]\n"
    "  %ef = mul(%fs2, %pfr) : f32[32,16]\n"
    "  %x2 = add(%x1, %er) : f32[32,16]\n"
    "  %x3 = add(%x2, %ec) : f32[32,16]\n"
    "  %x4 = add(%x3, %ef) : f32[32,16]\n"
    "  %zi = constant {data = [0]} : i32[]\n"
    "  %valid = ge(%seg, %zi) : bool[32]\n"
    "  %vcol = reshape(%valid) {shape = [32, 1]} : bool[32,1]\n"
    "  %zf = constant {data = [0]} : f32[]\n"
    "  %x = select(%vcol, %x4, %zf) : f32[32,16]\n"
    "  %n = normalize(%x) {eps = 1e-06} : f32[32,16]\n"
    "  %q = matmul(%n, %wq) : f32[32,16]\n"
    "  %k = matmul(%n, %wk) : f32[32,16]\n"
    "  %v = matmul(%n, %wv) : f32[32,16]\n"
    "  %q2 = reshape(%q) {shape = [32, 2, 8]} : f32[32,2,8]\n"
    "  %k2 = reshape(%k) {shape = [32, 2, 8]} : f32[32,2,8]\n"
    "  %v2 = reshape(%v) {shape = [32, 2, 8]} : f32[32,2,8]\n"
    "  %qh = transpose(%q2) {perm = [1, 0, 2]} : f32[2,32,8]\n"
    "  %kh = transpose(%k2) {perm = [1, 0, 2]} : f32[2,32,8]\n"
    "  %vh = transpose(%v2) {perm = [1, 0, 2]} : f32[2,32,8]\n"
    "  %sq = reshape(%seg) {shape = [32, 1]} : i32[32,1]\n"
    "  %sk = reshape(%seg) {shape = [1, 32]} : i32[1,32]\n"
    "  %same = eq(%sq, %sk) : bool[32,32]\n"
    "  %vk = reshape(%valid) {shape = [1, 32]} : bool[1,32]\n"
    "  %mask = and(%same, %vk) : bool[32,32]\n"
    "  %mask3 = reshape(%mask) {shape = [1, 32, 32]} : bool[1,32,32]\n"
    "  %a = attention(%qh, %kh, %vh, %mask3) {scale = 0.35355339059327373, mask = keep} : f32[2,32,8]\n"
    "  %at = transpose(%a) {perm = [1, 0, 2]} : f32[32,2,8]\n"
    "  %a2 = reshape(%at) {shape = [32, 16]} : f32[32,16]\n"
    "  %ao = matmul(%a2, %wo) : f32[32,16]\n"
    "  %y = add(%x, %ao) : f32[32,16]\n"
    "  %slots = iota {shape = [4, 1], axis = 0, dtype = i32} : i32[4,1]\n"
    "  %oh = eq(%slots, %sk) : bool[4,32]\n"
    "  %one = constant {data = [1]} : f32[]\n"
    "  %ohf = select(%oh, %one, %zf) : f32[4,32]\n"
    "  %sum = matmul(%ohf, %y) : f32[4,16]\n"
    "  %cnt = reduce_sum(%ohf) {axes = [1], keepdims = true} : f32[4,1]\n"
    "  %cnt1 = maximum(%cnt, %one) : f32[4,1]\n"
    "  %pool = div(%sum, %cnt1) : f32[4,16]\n"
    "  %pn = normalize(%pool) {eps = 1e-06} : f32[4,16]\n"
    "  %lg = matmul(%pn, %wh) : f32[4,5]\n"
    "  %logits = add(%lg, %bh) : f32[4,5]\n"
    "  output logits = %logits\n"
    "}\n";

typedef SoApi Api;

static char dir[4096], vir_path[4200], weights_path[4200];
static Api api;
static vit_model *model;
static Graph *graph;    /* the model, for the interpreter */
static RtPlan *rtplan;  /* its plan as the runtime reads it, for rt_navit_fill in process */
static RtNavit layout;
static Blob plan_blob;

static RtPlan *parse_plan(const char *vir, Blob *blob, Graph **gout)
{
    Graph *g = test_parse_vir(vir);
    IrError err;
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    assert_true(plan_serialize(p, blob, &err));
    plan_free(p);
    char msg[512];
    RtPlan *rp = rt_plan_parse(blob->data, blob->len, msg, sizeof msg);
    if (!rp)
        fail_msg("rt_plan_parse: %s", msg);
    if (gout)
        *gout = g;
    else
        ir_graph_free(g);
    return rp;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/navit_runtime", VITC_TEST_OUT);
    mkdir(dir, 0777);
    snprintf(vir_path, sizeof vir_path, "%s/navit_hand.vir", dir);
    snprintf(weights_path, sizeof weights_path, "%s/navit_hand.safetensors", dir);
    FILE *f = fopen(vir_path, "w");
    assert_non_null(f);
    fputs(navit_vir, f);
    fclose(f);
    char so[4200];
    snprintf(so, sizeof so, "%s/navit_hand.so", dir);
    assert_int_equal(so_sh("'%s' init '%s' --seed 7 -o '%s' > /dev/null", VITC_BIN, vir_path, weights_path), 0);
    assert_int_equal(so_sh("'%s' compile '%s' -o '%s'", VITC_BIN, vir_path, so), 0);
    so_load(&api, so);
    char err[512];
    model = api.open(weights_path, err, sizeof err);
    if (!model)
        fail_msg("vit_open: %s", err);
    rtplan = parse_plan(navit_vir, &plan_blob, &graph);
    assert_int_equal(rt_navit_layout(rtplan, &layout, err, sizeof err), 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api.close(model);
    dlclose(api.handle);
    rt_plan_free(rtplan);
    ir_free(plan_blob.data);
    ir_graph_free(graph);
    return 0;
}

/* ---- images ---- */

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* A random order of perm[0..n) (Fisher–Yates) */
static void shuffle(uint32_t *s, int *perm, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd(s) % (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static float *random_pixels(uint32_t *s, int h, int w)
{
    float *px = malloc((size_t)h * w * C * sizeof *px);
    assert_non_null(px);
    for (size_t i = 0; i < (size_t)h * w * C; i++)
        px[i] = (float)(rnd(s) % 4001) / 1000.0f - 2.0f;
    return px;
}

/* A side: whole patches, any size, or (rarely) one that makes the image overflow T. */
static int random_side(uint32_t *s)
{
    uint32_t k = rnd(s) % 10;
    if (k < 5)
        return P * (1 + (int)(rnd(s) % 5));
    if (k < 8)
        return 1 + (int)(rnd(s) % 22);
    return 24 + (int)(rnd(s) % 40);
}

static double run_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    return m;
}

static void run_ok(const vit_image *ims, int n, float *out)
{
    char err[512];
    if (api.run(model, ims, n, out, err, sizeof err) != 0)
        fail_msg("vit_run: %s", err);
}

/* ---- tests ---- */

static void test_info(void **state)
{
    (void)state;
    struct vit_info in;
    assert_int_equal(api.info(model, &in), 0);
    assert_string_equal(in.name, "navit_hand");
    assert_int_equal(in.height, 0);
    assert_int_equal(in.width, 0);
    assert_int_equal(in.channels, C);
    assert_int_equal(in.max_images, S);
    assert_int_equal(in.patch, P);
    assert_int_equal(in.tokens, T);
    assert_int_equal(in.outputs, K);
    assert_string_equal(in.output_kind, "logits");
    assert_int_equal(in.abi_version, VITRT_ABI_VERSION);
    assert_true(fabsf(in.mean[2] - 0.5f) < 1e-7f && fabsf(in.std[0] - 0.25f) < 1e-7f);
}

/* The grid at scale s, as NaFlex computes it. */
static int64_t grid_at(double s, int h, int w, int p, int *gh, int *gw)
{
    *gh = (int)ceil(h * s / p - 1e-12);
    *gw = (int)ceil(w * s / p - 1e-12);
    *gh = *gh < 1 ? 1 : *gh;
    *gw = *gw < 1 ? 1 : *gw;
    return (int64_t)*gh * *gw;
}

static void test_grid(void **state)
{
    (void)state;
    RtNavit nv = {.tokens = 32, .patch = 4, .channels = 3, .images = 4};
    int gh, gw;
    assert_int_equal(rt_navit_grid(&nv, 16, 16, 1, &gh, &gw), 0);
    assert_true(gh == 4 && gw == 4);
    assert_int_equal(rt_navit_grid(&nv, 10, 9, 1, &gh, &gw), 0); /* rounded up */
    assert_true(gh == 3 && gw == 3);
    assert_int_equal(rt_navit_grid(&nv, 1, 1, 1, &gh, &gw), 0);
    assert_true(gh == 1 && gw == 1);
    assert_int_equal(rt_navit_grid(&nv, 64, 16, 1, &gh, &gw), 0); /* 16x4 = 64 > 32 */
    assert_true(gh == 10 && gw == 3);
    assert_int_equal(rt_navit_grid(&nv, 1, 1000, 1, &gh, &gw), 0); /* a line: 1 x 32 */
    assert_true(gh == 1 && gw == 32);
    /* without resizing: whole patches within the budget only */
    assert_int_equal(rt_navit_grid(&nv, 16, 8, 0, &gh, &gw), 0);
    assert_true(gh == 4 && gw == 2);
    assert_int_equal(rt_navit_grid(&nv, 10, 8, 0, &gh, &gw), -1);
    assert_int_equal(rt_navit_grid(&nv, 64, 16, 0, &gh, &gw), -1);
    assert_int_equal(rt_navit_grid(&nv, 0, 16, 1, &gh, &gw), -1);
    /* random sizes and budgets against a sweep of scales: the grid fits, it is the grid of
     * some scale ≤ 1, and no scale ≤ 1 gives a larger grid that fits */
    uint32_t s = 99;
    for (int it = 0; it < 300; it++) {
        RtNavit v = {.tokens = 1 + rnd(&s) % 300, .patch = 1 + (int)(rnd(&s) % 20), .channels = 3, .images = 4};
        int h = 1 + (int)(rnd(&s) % 700), w = 1 + (int)(rnd(&s) % 700);
        assert_int_equal(rt_navit_grid(&v, h, w, 1, &gh, &gw), 0);
        assert_true((int64_t)gh * gw <= v.tokens);
        int64_t best = 0;
        bool found = false;
        for (int k = 1; k <= 4000; k++) {
            int a, b;
            int64_t n = grid_at(k / 4000.0, h, w, v.patch, &a, &b);
            if (n <= v.tokens && n > best)
                best = n;
            found = found || (a == gh && b == gw);
        }
        if ((int64_t)gh * gw < best)
            fail_msg("%dx%d, P=%d, T=%lld: grid %dx%d but a scale gives %lld patches", h, w, v.patch,
                     (long long)v.tokens, gh, gw, (long long)best);
        (void)found; /* a breakpoint may fall between the sweep's steps */
    }
}

/* The packer's layout of one sequence, in process. */
static void test_fill_layout(void **state)
{
    (void)state;
    /* image 0: 8x4 pixels = 2x1 patches, pixel (y, x, c) = 100y + 10x + c;
       image 1: 4x8 = 1x2 patches; image 2: 12x12 = 9 patches */
    float a[8 * 4 * C], b[4 * 8 * C], c3[12 * 12 * C];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < C; c++)
                a[(y * 4 + x) * C + c] = (float)(100 * y + 10 * x + c);
    for (int i = 0; i < 4 * 8 * C; i++)
        b[i] = (float)-i;
    for (int i = 0; i < 12 * 12 * C; i++)
        c3[i] = 0.5f;
    vit_image ims[3] = {{8, 4, C, a}, {4, 8, C, b}, {12, 12, C, c3}};
    RtNavitItem items[3];
    int nseq;
    char err[512];
    assert_int_equal(rt_navit_plan(&layout, ims, 3, 1, items, &nseq, err, sizeof err), 0);
    assert_int_equal(nseq, 1);
    assert_true(items[0].start == 0 && items[1].start == 2 && items[2].start == 4);
    assert_true(items[0].slot == 0 && items[1].slot == 1 && items[2].slot == 2);
    char *bufs[64] = {0};
    assert_true(rtplan->nbufs < 64);
    for (int r = RT_PACK_PATCHES; r < RT_PACK_COUNT; r++) {
        const RtBuffer *bf = &rtplan->bufs[layout.buf[r]];
        bufs[layout.buf[r]] = malloc((size_t)rt_buffer_bytes(bf, NULL));
        assert_non_null(bufs[layout.buf[r]]);
    }
    float *scratch = malloc((size_t)T * P * P * C * sizeof *scratch);
    assert_int_equal(rt_navit_fill(&layout, rtplan, bufs, ims, items, 3, 0, 0, scratch), 0);
    const float *pt = (const float *)bufs[layout.buf[RT_PACK_PATCHES]];
    const int32_t *seg = (const int32_t *)bufs[layout.buf[RT_PACK_SEG]];
    const int32_t *row = (const int32_t *)bufs[layout.buf[RT_PACK_ROW]];
    const int32_t *col = (const int32_t *)bufs[layout.buf[RT_PACK_COL]];
    const int32_t *hh = (const int32_t *)bufs[layout.buf[RT_PACK_HEIGHT]];
    const int32_t *ww = (const int32_t *)bufs[layout.buf[RT_PACK_WIDTH]];
    /* token 1 = image 0's patch (1, 0): values (row in patch, column in patch, channel) */
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++)
            for (int c = 0; c < C; c++)
                assert_float_equal(pt[1 * P * P * C + (i * P + j) * C + c], 100 * (4 + i) + 10 * j + c, 0);
    /* token 3 = image 1's patch (0, 1) */
    assert_float_equal(pt[3 * P * P * C + 0], b[(0 * 8 + 4) * C], 0);
    int32_t want_seg[13] = {0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    int32_t want_row[13] = {0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    int32_t want_col[13] = {0, 0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2};
    for (int t = 0; t < 13; t++) {
        assert_int_equal(seg[t], want_seg[t]);
        assert_int_equal(row[t], want_row[t]);
        assert_int_equal(col[t], want_col[t]);
        assert_int_equal(hh[t], t < 2 ? 2 : t < 4 ? 1 : 3);
        assert_int_equal(ww[t], t < 2 ? 1 : t < 4 ? 2 : 3);
    }
    for (int t = 13; t < T; t++) {
        assert_int_equal(seg[t], -1);
        assert_true(row[t] == 0 && col[t] == 0 && hh[t] == 1 && ww[t] == 1);
        for (int j = 0; j < P * P * C; j++)
            assert_float_equal(pt[t * P * P * C + j], 0, 0);
    }
    /* poisoned padding: NaN pixels, seg still -1, indices within the images' grids */
    assert_int_equal(rt_navit_fill(&layout, rtplan, bufs, ims, items, 3, 0, 2, scratch), 0);
    for (int t = 13; t < T; t++) {
        assert_int_equal(seg[t], -1);
        assert_true(isnan(pt[t * P * P * C]));
        assert_true(row[t] >= 0 && row[t] < 3 && col[t] >= 0 && col[t] < 3 && hh[t] >= 1 && ww[t] >= 1);
    }
    /* greedy packing: a new sequence when the tokens or the slots run out */
    float big[32 * 16 * C];
    memset(big, 0, sizeof big);
    vit_image seq[7] = {{32, 16, C, big}, {4, 4, C, big}, {4, 4, C, big}, {4, 4, C, big},
                        {4, 4, C, big},   {4, 4, C, big}, {20, 20, C, big}};
    RtNavitItem it[7];
    assert_int_equal(rt_navit_plan(&layout, seq, 7, 1, it, &nseq, err, sizeof err), 0);
    assert_int_equal(nseq, 3); /* [32] [1 1 1 1] (4 slots) [1 25] */
    assert_true(it[0].seq == 0 && it[1].seq == 1 && it[4].seq == 1 && it[5].seq == 2 && it[6].seq == 2);
    assert_true(it[5].slot == 0 && it[6].slot == 1 && it[6].start == 1);
    for (int r = 0; r < 64; r++)
        free(bufs[r]);
    free(scratch);
}

/* Each image alone, then the mix in a random order with zero, random and NaN padding. */
static void test_invariance(void **state)
{
    (void)state;
    uint32_t s = 2024;
    double worst = 0;
    int mixes = 24, packed_seqs = 0, multi = 0, resized = 0, total_images = 0;
    for (int mix = 0; mix < mixes; mix++) {
        int n = 2 + (int)(rnd(&s) % 9);
        vit_image ims[10], perm_ims[10];
        float *px[10];
        int perm[10];
        float alone[10 * K], packed[10 * K];
        for (int i = 0; i < n; i++) {
            int h = random_side(&s), w = random_side(&s);
            px[i] = random_pixels(&s, h, w);
            ims[i] = (vit_image){h, w, C, px[i]};
            resized += h % P || w % P || (int64_t)((h + P - 1) / P) * ((w + P - 1) / P) > T;
            run_ok(&ims[i], 1, alone + i * K);
            perm[i] = i;
        }
        shuffle(&s, perm, n);
        for (int i = 0; i < n; i++)
            perm_ims[i] = ims[perm[i]];
        RtNavitItem items[10];
        int nseq;
        char err[512];
        assert_int_equal(rt_navit_plan(&layout, perm_ims, n, 1, items, &nseq, err, sizeof err), 0);
        packed_seqs += nseq;
        multi += nseq < n;
        total_images += n;
        for (int poison = 0; poison <= 2; poison++) {
            assert_int_equal(api.set_option(model, "poison_padding", poison), 0);
            run_ok(perm_ims, n, packed);
            for (int i = 0; i < n; i++) {
                double d = run_diff(packed + i * K, alone + perm[i] * K, K);
                if (d > INVARIANCE_TOL)
                    fail_msg("mix %d (poison %d): image %d (%dx%d) packed differs from alone by %g", mix, poison,
                             perm[i], perm_ims[i].height, perm_ims[i].width, d);
                worst = d > worst ? d : worst;
            }
        }
        assert_int_equal(api.set_option(model, "poison_padding", 0), 0);
        /* the outputs depend on the images (the test would be empty otherwise) */
        assert_true(run_diff(alone, alone + K, K) > 1e-3);
        for (int i = 0; i < n; i++)
            free(px[i]);
    }
    print_message("packing invariance: %d mixes, %d images (%d resized) in %d sequences (%d mixes packed "
                  "several images per sequence); max |alone - packed| = %.3g over zero, random and NaN padding\n",
                  mixes, total_images, resized, packed_seqs, multi, worst);
    assert_true(multi >= mixes / 2);
}

/* Sequences packed in process (rt_navit_fill on the plan rp of graph g), run by the
 * interpreter, against the .so's vit_run on the same images: the largest difference into
 * *worst, and the interpreter with padding poisoned (vit_set_option's "poison_padding":
 * 1 random, 2 NaN) against zero padding into *worst_pad. Images up to `side` pixels a side. */
static void interp_compare(const Graph *g, const RtPlan *rp, const RtNavit *nv, const Api *a, vit_model *m,
                           const char *weights, int side, int mixes, int poison_kind, double *worst,
                           double *worst_pad)
{
    char err[512];
    StFile *wf = st_open(weights, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    WeightSource ws = tool_weight_source(wf);
    const int c = nv->channels, ppc = nv->patch * nv->patch * c;
    float *scratch = malloc((size_t)nv->tokens * ppc * sizeof *scratch);
    struct vit_info in = {0};
    a->info(m, &in);
    const int k = in.outputs;
    uint32_t s = 77;
    *worst = *worst_pad = 0;
    for (int mix = 0; mix < mixes; mix++) {
        int n = 3 + mix % 5;
        vit_image ims[8];
        float *px[8], *out = malloc(sizeof *out * 8 * (size_t)k);
        for (int i = 0; i < n; i++) {
            int h = 1 + (int)(rnd(&s) % (uint32_t)side), w = 1 + (int)(rnd(&s) % (uint32_t)side);
            px[i] = malloc((size_t)h * w * c * sizeof **px);
            for (size_t j = 0; j < (size_t)h * w * c; j++)
                px[i][j] = (float)(rnd(&s) % 4001) / 1000.0f - 2.0f;
            ims[i] = (vit_image){h, w, c, px[i]};
        }
        if (a->run(m, ims, n, out, err, sizeof err) != 0)
            fail_msg("vit_run: %s", err);
        RtNavitItem items[8];
        int nseq;
        assert_int_equal(rt_navit_plan(nv, ims, n, 1, items, &nseq, err, sizeof err), 0);
        char *bufs[256] = {0};
        assert_true(rp->nbufs < 256);
        for (int r = RT_PACK_PATCHES; r < RT_PACK_COUNT; r++)
            if (nv->buf[r] >= 0)
                bufs[nv->buf[r]] = malloc((size_t)rt_buffer_bytes(&rp->bufs[nv->buf[r]], NULL));
        for (int sq = 0; sq < nseq; sq++) {
            Tensor *ref = NULL;
            for (int poison = 0; poison <= poison_kind; poison += poison_kind) {
                assert_int_equal(rt_navit_fill(nv, rp, bufs, ims, items, n, sq, poison, scratch), 0);
                NamedTensor tin[RT_PACK_COUNT];
                Tensor *ts[RT_PACK_COUNT] = {0};
                int nin = 0;
                for (int r = RT_PACK_PATCHES; r < RT_PACK_COUNT; r++) {
                    if (nv->buf[r] < 0)
                        continue;
                    const RtBuffer *b = &rp->bufs[nv->buf[r]];
                    int64_t dims[2] = {b->dims[0].n, b->rank > 1 ? b->dims[1].n : 1};
                    Tensor *t = tensor_new(r == RT_PACK_PATCHES ? DT_F32 : DT_I32, b->rank, dims);
                    assert_non_null(t);
                    for (int64_t e = 0; e < t->numel; e++)
                        tensor_set(t, e, r == RT_PACK_PATCHES ? ((const float *)bufs[nv->buf[r]])[e]
                                                              : ((const int32_t *)bufs[nv->buf[r]])[e]);
                    ts[r] = t;
                    tin[nin++] = (NamedTensor){b->name, t};
                }
                Tensor *outs[8] = {0};
                IrError ierr = {{0}};
                assert_true(g->noutputs <= 8);
                if (!ir_interp(g, &ws, tin, nin, outs, &ierr))
                    fail_msg("interpreter: %s", ierr.msg);
                for (int i = 0; i < n; i++) {
                    if (items[i].seq != sq)
                        continue;
                    for (int e = 0; e < k; e++) { /* the first output's row (the models here have one) */
                        double v = tensor_get(outs[0], (int64_t)items[i].slot * k + e);
                        double d = poison == 0 ? fabs(v - out[i * k + e])
                                               : fabs(v - tensor_get(ref, (int64_t)items[i].slot * k + e));
                        double *wst = poison == 0 ? worst : worst_pad;
                        *wst = d > *wst || d != d ? d : *wst;
                    }
                }
                for (int r = 0; r < RT_PACK_COUNT; r++)
                    tensor_free(ts[r]);
                if (poison == 0)
                    ref = outs[0];
                else
                    tensor_free(outs[0]);
                for (int o = 1; o < g->noutputs; o++)
                    tensor_free(outs[o]);
            }
            tensor_free(ref);
        }
        for (int r = 0; r < 256; r++)
            free(bufs[r]);
        for (int i = 0; i < n; i++)
            free(px[i]);
        free(out);
    }
    free(scratch);
    st_close(wf);
}

static void test_interpreter(void **state)
{
    (void)state;
    double worst, worst_pad;
    interp_compare(graph, rtplan, &layout, &api, model, weights_path, 30, 4, 2, &worst, &worst_pad);
    print_message(".so vs interpreter on packed sequences: max |diff| = %.3g; interpreter with NaN padding vs "
                  "zero padding: %.3g\n", worst, worst_pad);
    assert_true(worst <= INTERP_TOL);
    assert_true(worst_pad <= INVARIANCE_TOL);
}

static void test_resize(void **state)
{
    (void)state;
    uint32_t s = 5;
    char err[512];
    float out[2 * K], out2[2 * K];
    /* 64x16 pixels: 16x4 patches > 32 → resized to 10x3 (40x12 pixels) */
    float *tall = random_pixels(&s, 64, 16), *fit = random_pixels(&s, 16, 8);
    vit_image ims[2] = {{64, 16, C, tall}, {16, 8, C, fit}};
    run_ok(ims, 2, out);
    /* the same as giving the resized image: the runtime's resize at 40x12 */
    float *small = malloc((size_t)40 * 12 * C * sizeof *small);
    assert_int_equal(rt_resize(tall, 64, 16, C, small, 40, 12), 0);
    vit_image pre[2] = {{40, 12, C, small}, {16, 8, C, fit}};
    run_ok(pre, 2, out2);
    assert_true(run_diff(out, out2, 2 * K) <= INVARIANCE_TOL);
    /* refused without resizing, naming the image, its size and the budget */
    assert_int_equal(api.set_option(model, "resize", 0), 0);
    assert_int_not_equal(api.run(model, ims, 2, out2, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 0 is 64x16 pixels"));
    assert_non_null(strstr(err, "more than the 32 tokens"));
    assert_non_null(strstr(err, "resizing is off"));
    vit_image odd[2] = {{16, 8, C, fit}, {10, 8, C, fit}};
    assert_int_not_equal(api.run(model, odd, 2, out2, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 1 is 10x8 pixels"));
    assert_non_null(strstr(err, "not whole 4x4 patches"));
    /* whole patches within the budget run as they are, resizing or not */
    run_ok(pre, 2, out2);
    assert_true(run_diff(out, out2, 2 * K) <= INVARIANCE_TOL);
    assert_int_equal(api.set_option(model, "resize", 1), 0);
    /* a resize at scale 1 is a copy; shrinking a constant image keeps it constant */
    float *cst = malloc((size_t)30 * 50 * C * sizeof *cst), *r = malloc((size_t)7 * 9 * C * sizeof *r);
    for (int i = 0; i < 30 * 50 * C; i++)
        cst[i] = 0.25f;
    assert_int_equal(rt_resize(cst, 30, 50, C, r, 7, 9), 0);
    for (int i = 0; i < 7 * 9 * C; i++)
        assert_float_equal(r[i], 0.25f, 1e-6);
    /* the same numbers as vitc run's preprocessing (tools/image.c, PIL's BILINEAR), down and up */
    static const int sizes[][4] = {{64, 16, 40, 12}, {37, 23, 8, 12}, {5, 7, 16, 20}, {100, 3, 12, 4}};
    for (int i = 0; i < 4; i++) {
        int h = sizes[i][0], w = sizes[i][1], oh = sizes[i][2], ow = sizes[i][3];
        float *src = random_pixels(&s, h, w), *a = malloc((size_t)oh * ow * C * sizeof *a);
        float *b = malloc((size_t)oh * ow * C * sizeof *b);
        Image img = {w, h, C, src};
        char msg[256];
        assert_true(image_prepare(&img, oh, ow, C, 0, NULL, 0, NULL, 0, b, msg, sizeof msg));
        assert_int_equal(rt_resize(src, h, w, C, a, oh, ow), 0);
        assert_true(run_diff(a, b, (size_t)oh * ow * C) <= 1e-6);
        free(src);
        free(a);
        free(b);
    }
    float *copy = malloc((size_t)16 * 8 * C * sizeof *copy);
    assert_int_equal(rt_resize(fit, 16, 8, C, copy, 16, 8), 0);
    assert_memory_equal(copy, fit, (size_t)16 * 8 * C * sizeof *copy);
    free(copy);
    free(tall);
    free(fit);
    free(small);
    free(cst);
    free(r);
}

static void test_bad_images(void **state)
{
    (void)state;
    char err[512];
    float px[16 * 16 * C] = {0}, out[3 * K];
    vit_image good = {16, 16, C, px};
    vit_image zero[2] = {good, {0, 5, C, px}};
    assert_int_not_equal(api.run(model, zero, 2, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 1 is 0x5 pixels"));
    vit_image null[3] = {good, good, {8, 8, C, NULL}};
    assert_int_not_equal(api.run(model, null, 3, out, err, sizeof err), 0);
    assert_string_equal(err, "image 2 has no pixels");
    vit_image gray[1] = {{8, 8, 1, px}};
    assert_int_not_equal(api.run(model, gray, 1, out, err, sizeof err), 0);
    assert_string_equal(err, "image 0 has 1 channels but the model takes 3");
    vit_image huge[1] = {{1 << 21, 4, C, px}};
    assert_int_not_equal(api.run(model, huge, 1, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 0 is 2097152x4 pixels"));
    assert_int_not_equal(api.run(model, NULL, 1, out, err, sizeof err), 0);
    assert_int_not_equal(api.run(model, &good, -1, out, err, sizeof err), 0);
    assert_int_equal(api.run(model, &good, 0, out, err, sizeof err), 0);
    /* options */
    assert_int_equal(api.set_option(model, "no such option", 1), -1);
    assert_int_equal(api.set_option(model, "resize", 2), -1);
    assert_int_equal(api.set_option(model, "poison_padding", 3), -1);
    assert_int_equal(api.set_option(NULL, "resize", 1), -1);
    assert_int_equal(api.set_option(model, NULL, 1), -1);
    /* still runs after the errors, on one thread as on several */
    float a[K], b[K];
    run_ok(&good, 1, a);
    api.set_threads(model, 1);
    run_ok(&good, 1, b);
    api.set_threads(model, 2);
    assert_true(run_diff(a, b, K) <= INVARIANCE_TOL);
}

/* Malformed NaViT plans (which the IR verifier rejects, but a blob is not trusted) are
 * errors at open, with a message: a valid plan, mutated. */
static void test_bad_layouts(void **state)
{
    (void)state;
    static const char vir[] =
        "graph @bad {\n"
        "  %p = input {name = \"patches\", pack = patches, patch = 4, channels = 3, images = 2} : f32[8,48]\n"
        "  %s = input {name = \"seg\", pack = seg} : i32[8]\n"
        "  %r = input {name = \"row\", pack = row} : i32[8]\n"
        "  %o = slice(%p) {axis = 0, stop = 2} : f32[2,48]\n"
        "  output o = %o\n"
        "}\n";
    static const char *const want[] = {
        NULL, "make 48 values per token", "and an ordinary one ('seg')", "no 'seg' input", "not [8] numbers",
        "does not say its patch size", "has no row per image slot", "two packed inputs of role 'seg'",
    };
    for (int c = 0; c < (int)(sizeof want / sizeof *want); c++) {
        Blob blob;
        RtPlan *p = parse_plan(vir, &blob, NULL);
        RtBuffer *pb = NULL, *sb = NULL, *rb = NULL;
        for (int i = 0; i < p->nbufs; i++) {
            RtBuffer *b = &p->bufs[i];
            if (b->kind == RT_BUF_INPUT)
                *(b->pack == RT_PACK_PATCHES ? &pb : b->pack == RT_PACK_SEG ? &sb : &rb) = b;
        }
        assert_true(pb && sb && rb);
        switch (c) {
        case 1: pb->dims[1].n = 47; break;
        case 2: sb->pack = RT_PACK_NONE; break;
        case 3: sb->pack = RT_PACK_COL; break;
        case 4: sb->dims[0].n = 7; break;
        case 5: pb->patch = 0; break;
        case 6: p->bufs[p->outputs[0].buffer].dims[0].n = 8; break;
        case 7: rb->pack = RT_PACK_SEG; break;
        default: break;
        }
        RtNavit nv;
        char err[512] = "";
        int rc = rt_navit_layout(p, &nv, err, sizeof err);
        if (c == 0) {
            assert_int_equal(rc, 1);
            assert_true(nv.tokens == 8 && nv.patch == 4 && nv.channels == 3 && nv.images == 2);
            assert_true(nv.buf[RT_PACK_COL] == -1 && nv.buf[RT_PACK_ROW] >= 0);
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err, want[c]))
                fail_msg("case %d: '%s' does not say '%s'", c, err, want[c]);
        }
        rt_plan_free(p);
        ir_free(blob.data);
    }
}

/* `vitc run` on the NaViT .so: images of different sizes, each at its own size. */
static void test_vitc_run(void **state)
{
    (void)state;
    static const int sizes[4][2] = {{13, 30}, {8, 8}, {40, 24}, {16, 24}}; /* height, width */
    char img[4][4200], log[4200], so[4200];
    uint32_t s = 9;
    for (int i = 0; i < 4; i++) {
        snprintf(img[i], sizeof img[i], "%s/img%d.ppm", dir, i);
        FILE *f = fopen(img[i], "wb");
        assert_non_null(f);
        fprintf(f, "P6\n%d %d\n255\n", sizes[i][1], sizes[i][0]);
        for (int j = 0; j < sizes[i][0] * sizes[i][1] * 3; j++)
            fputc((int)(rnd(&s) & 255), f);
        fclose(f);
    }
    snprintf(so, sizeof so, "%s/navit_hand.so", dir);
    snprintf(log, sizeof log, "%s/run.txt", dir);
    assert_int_equal(so_sh("'%s' run '%s' --weights '%s' '%s' '%s' '%s' --top 2 > '%s' 2>&1", VITC_BIN, so, weights_path,
                        img[0], img[1], img[2], log),
                     0);
    assert_int_equal(so_sh("grep -q 'NaViT: 3 images of any size in packed sequences of 32 tokens' '%s'", log), 0);
    assert_int_equal(so_sh("grep -c 'logits: top 2 of 5' '%s' | grep -qx 3", log), 0);
    /* the first image (13x30) is not whole 4x4 patches: refused with --no-resize, by name */
    assert_int_equal(so_sh("'%s' run '%s' --weights '%s' '%s' '%s' --no-resize > '%s' 2>&1", VITC_BIN, so, weights_path,
                        img[1], img[0], log),
                     1);
    assert_int_equal(so_sh("grep -q 'img0.ppm: image 1 is 13x30 pixels (height x width), not whole 4x4 patches, and "
                        "resizing is off' '%s'", log), 0);
    assert_int_equal(so_sh("'%s' run '%s' --weights '%s' '%s' '%s' --no-resize > /dev/null 2>&1", VITC_BIN, so,
                        weights_path, img[1], img[3]),
                     0);
}

/* ---- the models of models/ (the compiler side's NaViT models) ---- */

/* The weights of `vitc init` (std 0.02) scaled up ×20 but for the norms, so that the
 * logits of different images differ by far more than the tolerance. */
static void scaled_weights(const char *in, const char *out)
{
    char err[512];
    StFile *f = st_open(in, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    int n = st_count(f);
    StTensor *t = calloc((size_t)n, sizeof *t);
    void **mem = calloc((size_t)n, sizeof *mem);
    for (int i = 0; i < n; i++) {
        t[i] = *st_tensor(f, i);
        if (t[i].dtype != ST_F32 || strstr(t[i].name, "norm"))
            continue;
        float *d = malloc(t[i].nbytes + 1);
        memcpy(d, t[i].data, t[i].nbytes);
        for (size_t k = 0; k < t[i].nbytes / 4; k++)
            d[k] *= 20.0f;
        t[i].data = mem[i] = d;
    }
    if (st_write(out, t, n, NULL, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        free(mem[i]);
    free(mem);
    free(t);
    st_close(f);
}

/* Packing invariance of models/NAME.vit compiled with `flags`: `mixes` random mixes of
 * images, each alone against the mix in a random order with padding poisoned up to
 * `max_poison`. Skipped when the model is not there. */
static void model_invariance(const char *name, const char *tag, const char *flags, int max_poison, int mixes)
{
    char vit[4200], so[4200], w0[4200], w[4200];
    snprintf(vit, sizeof vit, "%s/models/%s.vit", getenv("VITC_SOURCE_DIR") ? getenv("VITC_SOURCE_DIR")
                                                                               : VITC_SOURCE_DIR, name);
    struct stat st;
    if (stat(vit, &st) != 0) {
        print_message("%s: not there, skipped\n", vit);
        skip();
    }
    snprintf(so, sizeof so, "%s/%s_%s.so", dir, name, tag);
    snprintf(w0, sizeof w0, "%s/%s_init.safetensors", dir, name);
    snprintf(w, sizeof w, "%s/%s.safetensors", dir, name);
    assert_int_equal(so_sh("'%s' init '%s' --seed 3 -o '%s' > /dev/null", VITC_BIN, vit, w0), 0);
    scaled_weights(w0, w);
    if (so_sh("'%s' compile '%s' %s -o '%s'", VITC_BIN, vit, flags, so) != 0)
        fail_msg("vitc compile %s %s failed", vit, flags);
    Api a = {0};
    so_load(&a, so);
    char err[512];
    vit_model *m = a.open(w, err, sizeof err);
    if (!m)
        fail_msg("vit_open %s: %s", so, err);
    struct vit_info in = {0};
    a.info(m, &in);
    assert_true(in.patch >= 1 && in.tokens >= 1 && in.max_images >= 1 && in.height == 0);
    int k = in.outputs, pp = in.patch, side = (int)sqrt((double)in.tokens) * pp;
    uint32_t s = 31337;
    double worst = 0, spread = 0;
    int images = 0, seqs = 0;
    for (int mix = 0; mix < mixes; mix++) {
        int n = 2 + (int)(rnd(&s) % 7);
        vit_image ims[8], perm_ims[8];
        float *px[8], *alone = malloc(sizeof *alone * 8 * (size_t)k), *packed = malloc(sizeof *packed * 8 * (size_t)k);
        int perm[8];
        for (int i = 0; i < n; i++) {
            int h = 1 + (int)(rnd(&s) % (uint32_t)(side + pp)), wd = 1 + (int)(rnd(&s) % (uint32_t)(side + pp));
            px[i] = malloc((size_t)h * wd * in.channels * sizeof **px);
            for (size_t j = 0; j < (size_t)h * wd * in.channels; j++)
                px[i][j] = (float)(rnd(&s) % 4001) / 1000.0f - 2.0f;
            ims[i] = (vit_image){h, wd, in.channels, px[i]};
            if (a.run(m, &ims[i], 1, alone + i * k, err, sizeof err) != 0)
                fail_msg("vit_run: %s", err);
            perm[i] = i;
        }
        shuffle(&s, perm, n);
        for (int i = 0; i < n; i++)
            perm_ims[i] = ims[perm[i]];
        for (int poison = 0; poison <= max_poison; poison++) {
            assert_int_equal(a.set_option(m, "poison_padding", poison), 0);
            if (a.run(m, perm_ims, n, packed, err, sizeof err) != 0)
                fail_msg("vit_run: %s", err);
            for (int i = 0; i < n; i++) {
                double d = run_diff(packed + i * k, alone + perm[i] * k, (size_t)k);
                if (d > INVARIANCE_TOL)
                    fail_msg("%s (%s), mix %d, poison %d: image %d (%dx%d) packed differs from alone by %g", name, tag,
                             mix, poison, perm[i], perm_ims[i].height, perm_ims[i].width, d);
                worst = d > worst ? d : worst;
            }
        }
        spread = fmax(spread, run_diff(alone, alone + k, (size_t)k));
        RtNavit nv = {.tokens = in.tokens, .patch = in.patch, .channels = in.channels, .images = in.max_images};
        RtNavitItem items[8];
        int nseq;
        assert_int_equal(rt_navit_plan(&nv, perm_ims, n, 1, items, &nseq, err, sizeof err), 0);
        images += n;
        seqs += nseq;
        for (int i = 0; i < n; i++)
            free(px[i]);
        free(alone);
        free(packed);
    }
    print_message("%s (%s): %d mixes, %d images in %d sequences: max |alone - packed| = %.3g with padding zero%s; "
                  "largest difference between two images' outputs %.3g\n", name, tag, mixes, images, seqs, worst,
                  max_poison >= 2 ? ", random and NaN" : max_poison ? " and random" : "", spread);
    assert_true(spread > 100 * INVARIANCE_TOL);
    /* and against the interpreter on the model as written (no passes) */
    const char *dirs[] = {NULL};
    char models[4200];
    snprintf(models, sizeof models, "%.4000s", vit);
    *strrchr(models, '/') = 0;
    dirs[0] = models;
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    Graph *g = fe_compile_file(vit, &fo, d);
    diag_free(d);
    assert_non_null(g);
    Blob blob;
    IrError ierr;
    Plan *pl = plan_build(g, &ierr);
    if (!pl)
        fail_msg("plan_build: %s", ierr.msg);
    assert_true(plan_serialize(pl, &blob, &ierr));
    plan_free(pl);
    RtPlan *rp = rt_plan_parse(blob.data, blob.len, err, sizeof err);
    RtNavit nv;
    assert_non_null(rp);
    assert_int_equal(rt_navit_layout(rp, &nv, err, sizeof err), 1);
    double wi, wp;
    /* the model as written multiplies masked-out padding values by zero weights: NaN there
     * would give NaN (0·NaN), so the interpreter gets random padding */
    interp_compare(g, rp, &nv, &a, m, w, side + pp, 3, 1, &wi, &wp);
    print_message("%s (%s): .so vs interpreter on packed sequences: max |diff| = %.3g; interpreter with random "
                  "padding vs zero padding: %.3g\n", name, tag, wi, wp);
    assert_true(wi <= INTERP_TOL * fmax(1.0, spread / 10));
    assert_true(wp <= INVARIANCE_TOL);
    rt_plan_free(rp);
    ir_free(blob.data);
    ir_graph_free(g);
    a.close(m);
    dlclose(a.handle);
}

static void test_navit_test_model(void **state)
{
    (void)state;
    model_invariance("navit_test", "default", "", 2, 20);
}

/* without packing-mask-elimination: the masked attention over all T tokens (dense masked
 * attention multiplies NaN padding values by zero weights: random padding only) */
static void test_navit_test_model_nopass(void **state)
{
    (void)state;
    model_invariance("navit_test", "nopass", "--passes=canonicalize,attention-fusion,cse,dce", 1, 20);
}

static void test_navit_test_gap_model(void **state)
{
    (void)state;
    model_invariance("navit_test_gap", "default", "", 2, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),        cmocka_unit_test(test_grid),   cmocka_unit_test(test_fill_layout),
        cmocka_unit_test(test_invariance),  cmocka_unit_test(test_interpreter), cmocka_unit_test(test_resize),
        cmocka_unit_test(test_bad_images),  cmocka_unit_test(test_bad_layouts),
        cmocka_unit_test(test_vitc_run),
        cmocka_unit_test(test_navit_test_model), cmocka_unit_test(test_navit_test_model_nopass),
        cmocka_unit_test(test_navit_test_gap_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
