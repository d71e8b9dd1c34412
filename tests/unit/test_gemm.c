/* test_gemm.c — the f32 GEMM kernels of the LLVM backend (backends/llvm/llvm_gemm.c) and
 * the weight packing of the plan (ir/plan_pack.c), against the interpreter and plan_exec:
 *
 *   - weights (parameters, in timm's (out, in) layout and as stored) packed into panels at
 *     load time, on odd shapes: M, N, K of 1, primes, one off the micro-tile and panel
 *     sizes, K = 3072 and 4099, M in row blocks of 14 and 13 rows or with a remainder (26, 24, 169,
 *     155, 1576, 416);
 *     the plan really packs (pack_nr, once-kernels, a folded buffer);
 *   - B an activation (copied into panels per tile): n-stride 1, transposed, batched with
 *     a symbolic batch, broadcast batch dims;
 *   - batched weights (MoE experts [E, K, N]: one panel set per expert), the experts'
 *     batch dim under a symbolic broadcast batch, transposed, K in blocks, two GEMMs
 *     sharing the panels;
 *   - epilogues on the register tile: bias, GELU (erf and tanh), residual add;
 *   - schedules forced through Kernel.sched: micro-tiles of 1..16 rows, K split into
 *     blocks (partial sums), several column groups;
 *   - every ISA the host runs (AVX-512, AVX2+FMA, SSE: LlvmOptions features), each with
 *     the panel width llvm_plan_options picks for it;
 *   - the generated assembly: the AVX-512 micro-kernel's loop holds 28 zmm FMAs with
 *     broadcasts and no stack access, AVX2's 12 ymm FMAs; an aarch64 object compiles and
 *     its loop has NEON fmla.
 * Kernels run over their extent in 1 and in 3 chunks (tl_run).
 */
#include <unistd.h>

#include "test_interp.h"
#include "test_llvm.h"
#include "test_vir.h"

/* ---- weights in memory ---- */

typedef struct {
    const char *name;
    int rank;
    int64_t dims[4];
    float *data;
} MemTensor;

typedef struct {
    MemTensor t[4];
    int n;
} MemWeights;

static bool mem_lookup(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen)
{
    MemWeights *w = ctx;
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) {
            out->dt = DT_F32;
            out->rank = w->t[i].rank;
            for (int r = 0; r < out->rank; r++)
                out->dims[r] = w->t[i].dims[r];
            out->data = w->t[i].data;
            return true;
        }
    snprintf(err, errlen, "no tensor '%s'", name);
    return false;
}

static float *random_floats(int64_t n, uint64_t seed)
{
    float *f = malloc(sizeof *f * (size_t)(n ? n : 1));
    assert_non_null(f);
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    return f;
}

/* ---- one check ---- */

typedef struct {
    const char *features; /* NULL: the host's */
    const char *cpu;
    int tile_m, tile_n, tile_k;
    bool expect_packed;
    bool expect_batched; /* B packed per batch index (a batched weight) */
} Opts;

/* Plans g as vitc compile would for the options (B packed for that ISA), JIT-compiles it
 * and compares every output with ir_interp and plan_exec. */
static void check(Graph *g, MemWeights *mw, const NamedTensor *in, int nin, double tol, const Opts *o)
{
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    if (!pass_run_pipeline(g, pass_default_pipeline(1), &po, &err))
        fail_msg("passes: %s", err.msg);
    LlvmOptions lo = {.cpu = o->cpu ? o->cpu : o->features ? "host" : NULL, .features = o->features, .opt_level = 2};
    PlanOptions plo;
    llvm_plan_options(&lo, &plo);
    assert_true(plo.gemm_pack_nr > 0);
    Plan *p = plan_build_opts(g, &plo, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    int packed = 0, gemms = 0, once = 0;
    for (int32_t k = 0; k < p->nkernels; k++) {
        Kernel *kn = &p->kernels[k];
        once += kn->once;
        if (kn->kind != KK_GEMM)
            continue;
        gemms++;
        packed += kn->u.gemm.pack_nr > 0;
        if (kn->u.gemm.pack_nr > 0) {
            assert_int_equal(kn->u.gemm.pack_nr, plo.gemm_pack_nr);
            const View *b = &kn->in[kn->u.gemm.b];
            assert_int_equal(p->bufs[b->buf].kind, BUF_FOLDED);
            /* [⌈N/nr⌉, K, nr], or a batched weight's [batch dims..., ⌈N/nr⌉, K, nr] */
            assert_true(b->rank == 3 || b->rank == kn->out.rank + 1);
            if (o->expect_batched)
                assert_int_equal(b->rank, kn->out.rank + 1);
        }
        kn->sched.tile_m = o->tile_m;
        kn->sched.tile_n = o->tile_n;
        kn->sched.tile_k = o->tile_k;
    }
    assert_true(gemms > 0);
    if (o->expect_packed) {
        assert_int_equal(packed, gemms);
        assert_true(once >= 1);
    } else {
        assert_int_equal(packed, 0);
    }
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    if (!jit)
        fail_msg("llvm_jit_new: %s", err.msg);
    WeightSource ws = {mem_lookup, mw};
    int no = g->noutputs;
    Tensor *ref[4] = {0}, *pe[4] = {0};
    assert_true(no <= 4);
    if (!ir_interp(g, &ws, in, nin, ref, &err))
        fail_msg("ir_interp: %s", err.msg);
    if (!plan_exec(p, &ws, in, nin, pe, &err))
        fail_msg("plan_exec: %s", err.msg);
    for (int chunks = 1; chunks <= 3; chunks += 2) {
        Tensor *out[4] = {0};
        char msg[512] = "";
        if (!tl_run(p, jit, &ws, in, nin, chunks, out, NULL, msg, sizeof msg))
            fail_msg("run: %s", msg);
        for (int i = 0; i < no; i++) {
            double d1 = tl_diff(out[i], ref[i]), d2 = tl_diff(pe[i], ref[i]);
            if (d1 > tol || d2 > tol) {
                plan_print(p, stderr);
                fail_msg("output %d (%d chunks, %s, tiles %d/%d/%d): differs from the interpreter by %.3g "
                         "(plan_exec by %.3g), tolerance %g",
                         i, chunks, o->features ? o->features : "host", o->tile_m, o->tile_n, o->tile_k, d1, d2, tol);
            }
            tensor_free(out[i]);
        }
    }
    for (int i = 0; i < no; i++) {
        tensor_free(ref[i]);
        tensor_free(pe[i]);
    }
    llvm_jit_free(jit);
    plan_free(p);
}

/* out = epi(x @ W) with x an input [bsym? B,] M × K and W a parameter K × N (stored (N, K)
 * when `timm`), epi: 0 none, 1 + bias, 2 GELU(erf)(+ bias), 3 GELU(tanh)(+ bias) + x2
 * (a residual input M × N). */
static void linear_case(int64_t M, int64_t K, int64_t N, bool timm, int epi, bool batch, double tol, const Opts *o)
{
    char vir[4096], xs[64], ys[64];
    int64_t B = batch ? 3 : 1;
    snprintf(xs, sizeof xs, batch ? "B,%lld,%lld" : "%lld,%lld", (long long)M, (long long)K);
    snprintf(ys, sizeof ys, batch ? "B,%lld,%lld" : "%lld,%lld", (long long)M, (long long)N);
    int n = snprintf(vir, sizeof vir,
                     "graph @lin {\n  dim B <= 8\n  %%x = input {name = \"x\"} : f32[%s]\n"
                     "  %%r = input {name = \"r\"} : f32[%s]\n"
                     "  %%w = param $w%s : f32[%lld,%lld]\n  %%b = param $b : f32[%lld]\n"
                     "  %%y = matmul(%%x, %%w) : f32[%s]\n",
                     xs, ys, timm ? " {layout = [1, 0]}" : "", (long long)K, (long long)N, (long long)N, ys);
    const char *last = "%y";
    if (epi >= 1) {
        n += snprintf(vir + n, sizeof vir - (size_t)n, "  %%y1 = add(%%y, %%b) : f32[%s]\n", ys);
        last = "%y1";
    }
    if (epi == 2) {
        n += snprintf(vir + n, sizeof vir - (size_t)n, "  %%y2 = gelu(%%y1) : f32[%s]\n", ys);
        last = "%y2";
    }
    if (epi == 3) {
        n += snprintf(vir + n, sizeof vir - (size_t)n,
                      "  %%y2 = gelu(%%y1) {approximate = tanh} : f32[%s]\n  %%y3 = add(%%r, %%y2) : f32[%s]\n", ys,
                      ys);
        last = "%y3";
    }
    snprintf(vir + n, sizeof vir - (size_t)n, "  output out = %s\n}\n", last);
    Graph *g = test_parse_vir(vir);
    float *w = random_floats(K * N, (uint64_t)(M * 7 + K * 13 + N)), *bias = random_floats(N, 5);
    MemWeights mw = {{{"w", 2, {timm ? N : K, timm ? K : N}, w}, {"b", 1, {N}, bias}}, 2};
    int64_t xd[3] = {B, M, K}, rd[3] = {B, M, N};
    Tensor *x = tl_random(DT_F32, batch ? 3 : 2, batch ? xd : xd + 1, -1, 1, 11);
    Tensor *r = tl_random(DT_F32, batch ? 3 : 2, batch ? rd : rd + 1, -1, 1, 12);
    NamedTensor in[2] = {{"x", x}, {"r", r}};
    Opts oo = *o;
    oo.expect_packed = true;
    check(g, &mw, in, 2, tol, &oo);
    tensor_free(x);
    tensor_free(r);
    free(w);
    free(bias);
    ir_graph_free(g);
}

static const Opts HOST = {0};

static void test_gemm_packed_shapes(void **state)
{
    (void)state;
    /* M, K, N: ones, primes, one off 14 (AVX-512 rows), 6, 32 (panels), 16 */
    static const int64_t shapes[][3] = {{1, 1, 1},    {1, 7, 5},     {2, 3, 33},  {13, 17, 31}, {14, 64, 32},
                                        {15, 29, 65}, {29, 100, 97}, {6, 8, 16},  {7, 5, 15},   {197, 64, 96},
                                        {31, 1, 1},   {17, 33, 200}, {45, 2, 129}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int64_t *s = shapes[i];
        linear_case(s[0], s[1], s[2], true, (int)(i % 4), false, 2e-5, &HOST);
        linear_case(s[0], s[1], s[2], false, 1, i % 2 == 0, 2e-5, &HOST);
    }
    /* K = 3072 (one block of K, one panel per tile), K = 4099 (blocks of K with partial sums),
     * and the shapes of ViT-B/16 cut down in M */
    linear_case(5, 3072, 37, true, 2, false, 1e-4, &HOST);
    linear_case(16, 3072, 64, true, 1, true, 1e-4, &HOST);
    linear_case(17, 4099, 40, true, 1, false, 1e-4, &HOST);
    linear_case(19, 768, 768, true, 3, false, 5e-5, &HOST);
    /* row blocks of 14 and 13 rows (AVX-512; llvm_gemm.c row_groups): 26 = 2·13, 169 = 13·13,
     * 1576 = 107·14 + 6·13; too few rows for that, 14 + a remainder (24 = 14 + 4 + 4 + 1 + 1,
     * 155 = 11·14 + 1); batch (symbolic B): the folded M = 2·M at run time */
    linear_case(26, 64, 70, true, 2, false, 2e-5, &HOST);
    linear_case(24, 40, 33, false, 1, true, 2e-5, &HOST);
    linear_case(169, 24, 40, true, 1, false, 2e-5, &HOST);
    linear_case(155, 24, 40, true, 3, true, 2e-5, &HOST);
    linear_case(1576, 16, 33, true, 2, false, 2e-5, &HOST);
    linear_case(197, 20, 64, true, 1, true, 2e-5, &HOST);
    /* tiles one panel wide while A is small (llvm_gemm.c tile_cols, all the cases above), of
     * 128 columns here: A is 3 · 150 × 1024 floats */
    linear_case(150, 1024, 100, true, 1, true, 1e-4, &HOST);
}

static void test_gemm_schedules(void **state)
{
    (void)state;
    static const int tiles[][3] = {{1, 0, 0},  {2, 0, 0},   {5, 0, 7},   {14, 32, 0}, {16, 64, 16},
                                   {3, 96, 5}, {14, 0, 64}, {7, 32, 100}, {9, 128, 3}};
    for (size_t i = 0; i < sizeof tiles / sizeof *tiles; i++) {
        Opts o = {.tile_m = tiles[i][0], .tile_n = tiles[i][1], .tile_k = tiles[i][2]};
        linear_case(29, 100, 77, true, 2, false, 2e-5, &o);
        linear_case(14, 64, 130, false, 1, true, 2e-5, &o);
    }
}

/* Batched weights, as the expert GEMMs of a MoE layer: x [B?, E, M, K] @ w [E, K, N]
 * (`tw`: stored [E, N, K] and transposed) + bias [E, 1, N], GELU, then a second GEMM with
 * the same weight (one panel set shared); B (symbolic) broadcasts over w. */
static void batched_weight_case(int64_t E, int64_t M, int64_t K, int64_t N, bool sym, bool tw, const Opts *o)
{
    char vir[4096], xs[64], ys[64];
    snprintf(xs, sizeof xs, "%s%lld,%lld,%lld", sym ? "B," : "", (long long)E, (long long)M, (long long)K);
    snprintf(ys, sizeof ys, "%s%lld,%lld,%lld", sym ? "B," : "", (long long)E, (long long)M, (long long)N);
    int n = snprintf(vir, sizeof vir, "graph @experts {\n  dim B <= 8\n  %%x = input {name = \"x\"} : f32[%s]\n", xs);
    if (tw)
        n += snprintf(vir + n, sizeof vir - (size_t)n,
                      "  %%ws = param $w : f32[%lld,%lld,%lld]\n  %%w = transpose(%%ws) {perm = [0, 2, 1]} : "
                      "f32[%lld,%lld,%lld]\n",
                      (long long)E, (long long)N, (long long)K, (long long)E, (long long)K, (long long)N);
    else
        n += snprintf(vir + n, sizeof vir - (size_t)n, "  %%w = param $w : f32[%lld,%lld,%lld]\n", (long long)E,
                      (long long)K, (long long)N);
    snprintf(vir + n, sizeof vir - (size_t)n,
             "  %%b = param $b : f32[%lld,1,%lld]\n  %%y = matmul(%%x, %%w) : f32[%s]\n"
             "  %%y1 = add(%%y, %%b) : f32[%s]\n  %%y2 = gelu(%%y1) {approximate = tanh} : f32[%s]\n"
             "  %%z = matmul(%%x, %%w) : f32[%s]\n  output out = %%y2\n  output z = %%z\n}\n",
             (long long)E, (long long)N, ys, ys, ys, ys);
    Graph *g = test_parse_vir(vir);
    float *w = random_floats(E * K * N, (uint64_t)(E + M * 7 + K * 13 + N)), *bias = random_floats(E * N, 6);
    MemWeights mw = {{{"w", 3, {E, tw ? N : K, tw ? K : N}, w}, {"b", 3, {E, 1, N}, bias}}, 2};
    int64_t xd[4] = {2, E, M, K};
    Tensor *x = tl_random(DT_F32, sym ? 4 : 3, sym ? xd : xd + 1, -1, 1, 13);
    NamedTensor in[1] = {{"x", x}};
    Opts oo = *o;
    oo.expect_packed = true;
    oo.expect_batched = true;
    check(g, &mw, in, 1, K > 1000 ? 1e-4 : 3e-5, &oo);
    tensor_free(x);
    free(w);
    free(bias);
    ir_graph_free(g);
}

static void test_gemm_batched_weights(void **state)
{
    (void)state;
    batched_weight_case(3, 29, 64, 70, false, false, &HOST); /* N: two panels and a part */
    batched_weight_case(2, 15, 100, 32, true, false, &HOST);
    batched_weight_case(4, 6, 33, 17, false, true, &HOST);   /* transposed weights */
    batched_weight_case(2, 20, 1100, 40, false, false, &HOST); /* K in blocks */
    batched_weight_case(1, 5, 8, 9, true, true, &HOST);
    batched_weight_case(2, 416, 48, 40, false, false, &HOST); /* a MoE expert's 416 rows: 26 × 14 + 4 × 13 */
    Opts o = {.tile_m = 4, .tile_n = 32, .tile_k = 24};
    batched_weight_case(3, 17, 50, 70, true, false, &o);
}

/* A batched GEMM of two activations: [B, H, M, K] @ [B, H, K, N] or its transposed B,
 * and one whose B broadcasts over the batch. */
static void activation_case(int64_t H, int64_t M, int64_t K, int64_t N, bool tb, const Opts *o)
{
    char vir[2048];
    snprintf(vir, sizeof vir,
             "graph @act {\n  dim B <= 8\n  %%a = input {name = \"a\"} : f32[B,%lld,%lld,%lld]\n"
             "  %%b = input {name = \"b\"} : f32[B,%lld,%lld,%lld]\n"
             "  %%c = input {name = \"c\"} : f32[%lld,%lld]\n"
             "  %%y = matmul(%%a, %%b) {transpose_b = %s} : f32[B,%lld,%lld,%lld]\n"
             "  %%z = matmul(%%a, %%c) : f32[B,%lld,%lld,%lld]\n"
             "  %%s = softmax(%%y) {axis = -1} : f32[B,%lld,%lld,%lld]\n"
             "  output y = %%s\n  output z = %%z\n}\n",
             (long long)H, (long long)M, (long long)K, (long long)H, tb ? (long long)N : (long long)K,
             tb ? (long long)K : (long long)N, (long long)K, (long long)N, tb ? "true" : "false", (long long)H,
             (long long)M, (long long)N, (long long)H, (long long)M, (long long)N, (long long)H, (long long)M,
             (long long)N);
    Graph *g = test_parse_vir(vir);
    int64_t ad[4] = {2, H, M, K}, bd[4] = {2, H, tb ? N : K, tb ? K : N}, cd[2] = {K, N};
    Tensor *a = tl_random(DT_F32, 4, ad, -1, 1, 21), *b = tl_random(DT_F32, 4, bd, -1, 1, 22);
    Tensor *c = tl_random(DT_F32, 2, cd, -1, 1, 23);
    NamedTensor in[3] = {{"a", a}, {"b", b}, {"c", c}};
    MemWeights mw = {{{0}}, 0};
    check(g, &mw, in, 3, 2e-5, o);
    tensor_free(a);
    tensor_free(b);
    tensor_free(c);
    ir_graph_free(g);
}

static void test_gemm_activations(void **state)
{
    (void)state;
    activation_case(3, 37, 16, 41, true, &HOST);  /* q·kᵀ: B transposed (gathers) */
    activation_case(3, 37, 41, 16, false, &HOST); /* p·v: B rows contiguous */
    activation_case(2, 197, 64, 197, true, &HOST);
    activation_case(1, 5, 700, 9, false, &HOST); /* K in blocks */
    Opts o = {.tile_m = 4, .tile_n = 32, .tile_k = 8};
    activation_case(2, 23, 19, 70, true, &o);
    activation_case(2, 23, 19, 70, false, &o);
}

static bool host_runs(const char *isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return strcmp(isa, "sse") == 0;
#else
    (void)isa;
    return false;
#endif
}

static void test_gemm_isas(void **state)
{
    (void)state;
    static const struct {
        const char *isa, *features;
        int panel;
    } isas[] = {{"avx512", "+avx512f,+avx512vl,+avx512bw,+avx512dq", 32},
                {"avx2", "+avx2,+fma,-avx512f", 16},
                {"sse", "-avx,-fma", 8}};
    int ran = 0;
    for (size_t i = 0; i < sizeof isas / sizeof *isas; i++) {
        if (!host_runs(isas[i].isa))
            continue;
        Opts o = {.features = isas[i].features};
        LlvmOptions lo = {.cpu = "host", .features = isas[i].features, .opt_level = 2};
        PlanOptions plo;
        llvm_plan_options(&lo, &plo);
        assert_int_equal(plo.gemm_pack_nr, isas[i].panel);
        linear_case(29, 100, 77, true, 2, false, 2e-5, &o);
        linear_case(6, 33, 16, false, 3, true, 2e-5, &o);
        linear_case(13, 3072, 40, true, 1, false, 1e-4, &o);
        activation_case(2, 23, 19, 70, true, &o);
        ran++;
    }
    print_message("  %d ISA variants run on this host\n", ran);
    assert_true(ran >= 1 || !host_runs("sse"));
}

/* ---- assembly ---- */

static char *emit(const char *triple, const char *cpu, LlvmEmit what)
{
    Graph *g = test_parse_vir("graph @asm {\n  %x = input {name = \"x\"} : f32[197,768]\n"
                              "  %w = param $w {layout = [1, 0]} : f32[768,256]\n"
                              "  %y = matmul(%x, %w) : f32[197,256]\n  %z = gelu(%y) : f32[197,256]\n"
                              "  output out = %z\n}\n");
    LlvmOptions lo = {.triple = triple, .cpu = cpu, .opt_level = 2, .emit = what};
    PlanOptions plo;
    llvm_plan_options(&lo, &plo);
    IrError err;
    Plan *p = plan_build_opts(g, &plo, &err);
    assert_non_null(p);
    char path[256];
    snprintf(path, sizeof path, "/tmp/vitc-test-gemm-%d.%s", (int)getpid(), what == LLVM_EMIT_ASM ? "s" : "o");
    if (!llvm_compile(p, NULL, 0, NULL, 0, &lo, path, &err))
        fail_msg("llvm_compile %s %s: %s", triple ? triple : "host", cpu ? cpu : "", err.msg);
    size_t len = 0;
    char *text = tool_read_file(path, &len);
    assert_non_null(text);
    assert_true(len > 0);
    unlink(path);
    plan_free(p);
    ir_graph_free(g);
    return text;
}

/* The loops of one basic block (a block ending in a branch back to its own label) that
 * load no constants (the micro-kernel's; an epilogue's polynomials load theirs): the most
 * lines matching `fma` (and `reg`) in one, and whether that loop touches the stack. */
static int best_loop(const char *s, const char *fma, const char *reg, bool *stack)
{
    int best = 0, cur = 0;
    bool cur_stack = false, cur_const = false;
    char label[128] = "";
    *stack = false;
    for (const char *line = s; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(n < 255 ? n : 255), line);
        size_t len = strlen(buf);
        if (len > 1 && buf[len - 1] == ':' && buf[0] != '\t' && buf[0] != ' ') { /* a label: a new block */
            snprintf(label, sizeof label, "%.*s", (int)(len - 1), buf);
            cur = 0;
            cur_stack = cur_const = false;
        } else if (strstr(buf, fma) && (!reg || strstr(buf, reg))) {
            cur++;
        } else if (label[0] && (buf[0] == '\t') && (buf[1] == 'j' || buf[1] == 'b') && strstr(buf, label) &&
                   strlen(strstr(buf, label)) == strlen(label)) { /* a branch back to this block */
            if (cur > best && !cur_const) {
                best = cur;
                *stack = cur_stack;
            }
        }
        if (strstr(buf, "(%rsp)") || strstr(buf, "[sp"))
            cur_stack = true;
        if (strstr(buf, "(%rip)") || strstr(buf, ".LCPI") || strstr(buf, "lo12:"))
            cur_const = true;
        line = end ? end + 1 : line + n;
    }
    return best;
}

static void test_gemm_assembly(void **state)
{
    (void)state;
    bool stack;
    char *s = emit("x86_64-linux-gnu", "skylake-avx512", LLVM_EMIT_ASM);
    int n = best_loop(s, "vfmadd231ps", "%zmm", &stack);
    print_message("  AVX-512 (skylake-avx512): %d zmm FMAs in the micro-kernel's loop, stack accesses: %s\n", n,
                  stack ? "yes" : "no");
    assert_int_equal(n, 28);
    assert_false(stack);
    assert_non_null(strstr(s, "vbroadcastss"));
    ir_free(s);
    s = emit("x86_64-linux-gnu", "haswell", LLVM_EMIT_ASM);
    n = best_loop(s, "vfmadd231ps", "%ymm", &stack);
    print_message("  AVX2 (haswell): %d ymm FMAs in the micro-kernel's loop, stack accesses: %s\n", n,
                  stack ? "yes" : "no");
    assert_int_equal(n, 12);
    assert_false(stack);
    ir_free(s);
    s = emit("aarch64-linux-gnu", NULL, LLVM_EMIT_ASM);
    n = best_loop(s, "fmla", ".4s", &stack);
    print_message("  NEON (aarch64 generic): %d fmla in the micro-kernel's loop, stack accesses: %s\n", n,
                  stack ? "yes" : "no");
    assert_int_equal(n, 24);
    assert_false(stack);
    ir_free(s);
    s = emit("aarch64-linux-gnu", NULL, LLVM_EMIT_OBJ); /* an object for the cross target */
    ir_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_packed_shapes), cmocka_unit_test(test_gemm_schedules),
        cmocka_unit_test(test_gemm_activations),
        cmocka_unit_test(test_gemm_batched_weights), cmocka_unit_test(test_gemm_isas),
        cmocka_unit_test(test_gemm_assembly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
