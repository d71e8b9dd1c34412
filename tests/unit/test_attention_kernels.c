/* test_attention_kernels.c — KK_ATTENTION through the LLVM backend (JIT) against the
 * interpreter and plan_exec: both algorithms (decomposed: one key block; flash: key blocks
 * with the online softmax, down to one key a block) and several query tiles, on odd shapes
 * (Nq ≠ Nk, Dh ≠ Dv, N = 1, 197, primes, Nk = 0), keep and additive masks (fully masked
 * rows, −inf), batch broadcast, a symbolic batch, strided views (transposed k, q from a
 * fused qkv), f16 and bf16, an epilogue, each extent run in 1 and in 3 chunks; the
 * default schedule's choice; the host's vector width and, on x86, AVX2 and SSE code; a
 * benchmark of both algorithms (VITC_ATTN_BENCH=1).
 */
#include "test_interp.h"
#include "test_attention.h"

typedef struct {
    int tile_m, tile_n;   /* tile_m 0: the default schedule */
    int opt;
    const char *features; /* LLVM target features (NULL: the host's): other vector widths */
} Sched;

#if defined(__x86_64__)
#define NO512 "-avx512f"        /* AVX2: 8 lanes, 16 registers */
#define SSE "-avx,-avx2,-avx512f" /* SSE: 4 lanes */
#else
#define NO512 NULL
#define SSE NULL
#endif

static const Sched SCHEDS[] = {{0, 0, 2, NULL},  {8, 0, 2, NULL},    {16, 0, 2, NULL},  {32, 0, 2, NULL},
                               {8, 1, 2, NULL},  {16, 5, 2, NULL},   {24, 64, 2, NULL}, {16, 16, 3, NULL},
                               {8, 3, 0, NULL},  {32, 0, 2, NO512},  {16, 7, 2, NO512}, {12, 0, 2, SSE},
                               {32, 64, 2, SSE}};
enum { NSCHED = sizeof SCHEDS / sizeof SCHEDS[0] };

/* Plans g (no passes: the graph holds attention ops), overrides every attention kernel's
 * schedule, JIT-compiles and compares with ir_interp and plan_exec (1 and 3 chunks). */
static void check(Graph *g, const NamedTensor *in, int nin, const Sched *s, double tol)
{
    IrError err = {{0}};
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    int kernels = 0;
    for (int32_t i = 0; i < p->nkernels; i++)
        if (p->kernels[i].kind == KK_ATTENTION) {
            kernels++;
            if (s->tile_m) {
                p->kernels[i].sched.tile_m = s->tile_m;
                p->kernels[i].sched.tile_n = s->tile_n;
            }
        }
    assert_true(kernels > 0);
    LlvmOptions lo = {.opt_level = s->opt, .features = s->features};
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    if (!jit)
        fail_msg("llvm_jit_new: %s", err.msg);
    int no = g->noutputs;
    Tensor *ref[4] = {0}, *pe[4] = {0};
    if (!ir_interp(g, NULL, in, nin, ref, &err))
        fail_msg("ir_interp: %s", err.msg);
    if (!plan_exec(p, NULL, in, nin, pe, &err))
        fail_msg("plan_exec: %s", err.msg);
    for (int chunks = 1; chunks <= 3; chunks += 2) {
        Tensor *out[4] = {0};
        char msg[512] = "";
        if (!tl_run(p, jit, NULL, in, nin, chunks, out, NULL, msg, sizeof msg))
            fail_msg("run: %s", msg);
        for (int i = 0; i < no; i++) {
            double d1 = tl_diff(out[i], ref[i]), d2 = tl_diff(pe[i], ref[i]);
            if (!(d1 <= tol) || !(d2 <= tol)) {
                for (int64_t e = 0; e < out[i]->numel && e < 8; e++)
                    print_message("  [%lld] llvm %.9g interp %.9g plan_exec %.9g\n", (long long)e,
                                  tensor_get(out[i], e), tensor_get(ref[i], e), tensor_get(pe[i], e));
                fail_msg("output %d, schedule %d×%d -O%d %s, %d chunks: llvm differs by %.3g, plan_exec by %.3g",
                         i, s->tile_m, s->tile_n, s->opt, s->features ? s->features : "", chunks, d1, d2);
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

typedef struct {
    int64_t b, h, nq, nk, dh, dv;
    int mask;        /* MASK_* */
    int bcast;       /* 1: q [B,1,..], k and v [1,H,..]; 2: k and v [H,..] shared */
    bool sym;        /* B symbolic (bound to b) */
    bool kt;         /* k given transposed [.., Dh, Nk] (a strided view) */
    DType dt;
    bool epilogue;   /* out·2 + 1 fused as the kernel's epilogue */
} Case;

static void run_case(const Case *c, const Sched *scheds, int nsched, double tol)
{
    Graph *g = ir_graph_new("t");
    int32_t B = ir_symbol(g, "B", 8);
    Dim bd = c->sym ? dim_sym(B, 1) : dim_const(c->b);
    Type tq = ty(c->dt, 4, DIMS(1, c->h, c->nq, c->dh)), tk = ty(c->dt, 4, DIMS(1, c->h, c->nk, c->dh));
    Type tv = ty(c->dt, 4, DIMS(1, c->h, c->nk, c->dv));
    tq.shape.d[0] = bd;
    if (c->bcast == 1)
        tq.shape.d[1] = dim_const(1);
    else
        tk.shape.d[0] = tv.shape.d[0] = bd;
    if (c->bcast == 2) { /* k, v of rank 3 */
        for (int i = 0; i < 3; i++)
            tk.shape.d[i] = tk.shape.d[i + 1], tv.shape.d[i] = tv.shape.d[i + 1];
        tk.shape.rank = tv.shape.rank = 3;
    }
    if (c->kt) {
        int r = tk.shape.rank;
        Dim t = tk.shape.d[r - 1];
        tk.shape.d[r - 1] = tk.shape.d[r - 2];
        tk.shape.d[r - 2] = t;
    }
    int32_t q = input(g, "q", tq), k = input(g, "k", tk), v = input(g, "v", tv), m = -1;
    if (c->kt) {
        Attr pa = attr_of(OP_TRANSPOSE);
        int64_t perm4[] = {0, 1, 3, 2}, perm3[] = {0, 2, 1};
        pa.perm.perm = tk.shape.rank == 4 ? (IntList){4, perm4} : (IntList){3, perm3};
        k = node(g, OP_TRANSPOSE, &k, 1, &pa);
    }
    if (c->mask == MASK_KEEP)
        m = input(g, "m", ty(DT_BOOL, 3, DIMS(1, c->nq, c->nk)));
    else if (c->mask == MASK_ADD)
        m = input(g, "m", ty(c->dt, 3, DIMS(c->h, 1, c->nk)));
    Attr a = attr_of(OP_ATTENTION);
    a.attn.scale = 1.0 / sqrt((double)c->dh);
    a.attn.mask = c->mask;
    int32_t ops[4] = {q, k, v, m};
    int32_t o = node(g, OP_ATTENTION, ops, m >= 0 ? 4 : 3, &a);
    if (c->epilogue) {
        int32_t two = ir_build_scalar(g, 2, c->dt, NOLOC, &(IrError){{0}});
        o = node(g, OP_ADD, (int32_t[]){node(g, OP_MUL, (int32_t[]){o, two}, 2, NULL), two}, 2, NULL);
    }
    assert_true(ir_add_output(g, "o", o));

    /* inputs: B bound to c->b */
    NamedTensor in[4];
    const int32_t ids[4] = {q, k, v, m};
    const char *names[4] = {"q", "k", "v", "m"};
    int nin = 0;
    for (int i = 0; i < 4; i++) {
        if (ids[i] < 0)
            continue;
        const Type *t = ir_type(g, i == 1 && c->kt ? ir_def(g, k)->in[0] : ids[i]);
        int64_t dims[IR_MAX_RANK];
        for (int r = 0; r < t->shape.rank; r++)
            dims[r] = dim_is_const(t->shape.d[r]) ? t->shape.d[r].n : c->b;
        Tensor *x;
        if (t->dt == DT_BOOL) { /* about 1 in 4 kept: some rows fully masked */
            Tensor *r = tl_random(DT_I32, t->shape.rank, dims, 0, 3, 40 + (uint64_t)i);
            x = tensor_new(DT_BOOL, t->shape.rank, dims);
            for (int64_t e = 0; e < x->numel; e++)
                x->i[e] = r->i[e] == 0;
            tensor_free(r);
        } else {
            x = tl_random(t->dt, t->shape.rank, dims, -2, 2, 30 + (uint64_t)i);
            if (i == 3) /* additive: a few −inf, one head's keys all −inf (NaN rows) */
                for (int64_t e = 0; e < x->numel; e++)
                    if (x->f[e] < -1.6 || (e < c->nk && c->h > 1))
                        x->f[e] = -INFINITY;
        }
        in[nin++] = (NamedTensor){names[i], x};
    }
    for (int s = 0; s < nsched; s++)
        check(g, in, nin, &scheds[s], tol);
    for (int i = 0; i < nin; i++)
        tensor_free((Tensor *)in[i].t);
    ir_graph_free(g);
}

static void test_shapes(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 3, 5, 7, 4, 6, MASK_NONE, 0, false, false, DT_F32, false},
        {1, 2, 1, 1, 8, 8, MASK_NONE, 0, false, false, DT_F32, false},     /* N = 1 */
        {1, 1, 13, 31, 17, 3, MASK_NONE, 0, false, false, DT_F32, false},  /* primes, Dh ≠ Dv */
        {2, 2, 9, 23, 5, 11, MASK_NONE, 0, false, true, DT_F32, false},    /* k transposed */
        {3, 2, 8, 16, 8, 8, MASK_NONE, 1, true, false, DT_F32, false},     /* symbolic B, broadcast */
        {2, 3, 7, 5, 4, 4, MASK_NONE, 2, false, false, DT_F32, true},      /* k, v shared; epilogue */
        {2, 2, 6, 0, 4, 3, MASK_NONE, 0, false, false, DT_F32, false},     /* Nk = 0 */
        /* Dh, Dv whole vectors: q transposed in registers, p·v on row-major Acc (Dv = 80:
         * five 16-lane vectors, one per micro-kernel; half tiles of 37 = 32 + 5 and 24 + 13) */
        {1, 2, 37, 29, 48, 80, MASK_NONE, 0, false, false, DT_F32, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], SCHEDS, NSCHED, 1e-5);
}

static void test_masks(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 3, 11, 19, 8, 5, MASK_KEEP, 0, false, false, DT_F32, false},
        {2, 3, 11, 19, 8, 5, MASK_ADD, 0, true, false, DT_F32, false},
        {1, 2, 33, 70, 16, 16, MASK_KEEP, 1, false, true, DT_F32, true},
        {2, 2, 21, 40, 32, 32, MASK_ADD, 0, false, false, DT_F32, false}, /* row-major Acc, half tiles */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], SCHEDS, NSCHED, 1e-5);
}

static void test_half(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 2, 9, 13, 8, 6, MASK_KEEP, 0, false, false, DT_F16, false},
        {2, 2, 9, 13, 8, 6, MASK_NONE, 0, false, true, DT_BF16, true},
        {2, 2, 9, 13, 16, 16, MASK_NONE, 0, false, false, DT_F16, false}, /* vector loads of f16 q, v */
    };
    /* rounded once to f16/bf16 both ways: a rounding apart at most */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], SCHEDS, 4, 1e-2);
}

/* ViT's size: 197 tokens, 64-wide heads, both algorithms */
static void test_vit_size(void **state)
{
    (void)state;
    static const Case c = {1, 2, 197, 197, 64, 64, MASK_NONE, 0, false, false, DT_F32, false};
    static const Sched s[] = {{0, 0, 2, NULL}, {16, 0, 2, NULL}, {16, 64, 2, NULL}, {32, 32, 2, NO512}};
    run_case(&c, s, 4, 1e-5);
}

/* the default schedule: decomposed while a tile's scores fit in 16 KiB, else flash */
static void test_default_schedule(void **state)
{
    (void)state;
    const int64_t n[] = {1, 100, 197, 577, 1024};
    const int want_n[] = {0, 0, 64, 64, 64}, want_m[] = {8, 32, 32, 32, 32};
    for (int i = 0; i < 5; i++) {
        Graph *g = ir_graph_new("t");
        int32_t q = input(g, "q", ty(DT_F32, 3, DIMS(12, n[i], 64)));
        Attr a = attr_of(OP_ATTENTION);
        assert_true(ir_add_output(g, "o", node(g, OP_ATTENTION, (int32_t[]){q, q, q}, 3, &a)));
        IrError err;
        Plan *p = plan_build(g, &err);
        assert_non_null(p);
        const Kernel *k = &p->kernels[p->nkernels - 1];
        assert_int_equal(k->kind, KK_ATTENTION);
        assert_int_equal(k->sched.tile_n, want_n[i]);
        assert_int_equal(k->sched.tile_m, want_m[i]);
        assert_int_equal(k->sched.par_dims, 2);
        plan_free(p);
        ir_graph_free(g);
    }
}

/* VITC_ATTN_BENCH=1: flash vs decomposed, 12 heads, N = 197, 577, 1024 (1 thread, medians
 * of 15), and N = 197 in ViT's layout (q, k, v views of one qkv tensor);
 * VITC_ATTN_BENCH="[qkv:]H,Nq,Nk,D ...": those shapes instead; VITC_ATTN_BENCH=vit (vit8:
 * batch 8): ViT-B/16 with and without attention-fusion (bench_vit). */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The schedules are run in turns (round r runs each once), so that the machine's other load
 * falls on all of them alike; medians and minima of ROUNDS runs. */
static void bench_shape(int64_t h, int64_t nq, int64_t nk, int64_t dh, bool fused_qkv)
{
    enum { ROUNDS = 15 };
    const Sched s[] = {{16, 0, 2, NULL}, {32, 0, 2, NULL}, {16, 64, 2, NULL}, {32, 64, 2, NULL}, {16, 128, 2, NULL},
                       {32, 128, 2, NULL}};
    enum { NS = sizeof s / sizeof s[0] };
    Graph *g = ir_graph_new("t");
    int32_t q, k, v, nin = 3;
    Tensor *x[3] = {NULL, NULL, NULL};
    NamedTensor in[3];
    if (fused_qkv) { /* ViT's layout: views of one [N, 3·H·D] tensor (q, k, v rows 3·H·D apart) */
        q = input(g, "qkv", ty(DT_F32, 2, DIMS(nq, 3 * h * dh)));
        Attr ra = attr_of(OP_RESHAPE), pa = attr_of(OP_TRANSPOSE);
        ra.shape.shape = (Shape){4, {dim_const(nq), dim_const(3), dim_const(h), dim_const(dh)}};
        static const int64_t perm[] = {1, 2, 0, 3};
        pa.perm.perm = (IntList){4, perm};
        int32_t t = node(g, OP_TRANSPOSE, (int32_t[]){node(g, OP_RESHAPE, &q, 1, &ra)}, 1, &pa);
        int32_t parts[3];
        for (int i = 0; i < 3; i++) {
            Attr sa = attr_of(OP_SLICE), rs = attr_of(OP_RESHAPE);
            sa.slice = (SliceAttr){.axis = 0, .start = i, .stop = i + 1, .step = 1};
            rs.shape.shape = (Shape){3, {dim_const(h), dim_const(nq), dim_const(dh)}};
            parts[i] = node(g, OP_RESHAPE, (int32_t[]){node(g, OP_SLICE, &t, 1, &sa)}, 1, &rs);
        }
        q = parts[0], k = parts[1], v = parts[2];
        x[0] = tl_random(DT_F32, 2, DIMS(nq, 3 * h * dh), -2, 2, 9);
        in[0] = (NamedTensor){"qkv", x[0]};
        nin = 1;
    } else {
        q = input(g, "q", ty(DT_F32, 3, DIMS(h, nq, dh))), k = input(g, "k", ty(DT_F32, 3, DIMS(h, nk, dh)));
        v = input(g, "v", ty(DT_F32, 3, DIMS(h, nk, dh)));
        x[0] = tl_random(DT_F32, 3, DIMS(h, nq, dh), -2, 2, 9), x[1] = tl_random(DT_F32, 3, DIMS(h, nk, dh), -2, 2, 10);
        x[2] = tl_random(DT_F32, 3, DIMS(h, nk, dh), -2, 2, 11);
        in[0] = (NamedTensor){"q", x[0]}, in[1] = (NamedTensor){"k", x[1]}, in[2] = (NamedTensor){"v", x[2]};
    }
    Attr a = attr_of(OP_ATTENTION);
    a.attn.scale = 0.125;
    assert_true(ir_add_output(g, "o", node(g, OP_ATTENTION, (int32_t[]){q, k, v}, 3, &a)));
    Plan *p[NS];
    LlvmJit *jit[NS];
    double times[NS][ROUNDS];
    for (int si = 0; si < NS; si++) {
        IrError err;
        p[si] = plan_build(g, &err);
        assert_non_null(p[si]);
        Kernel *kn = &p[si]->kernels[p[si]->nkernels - 1];
        assert_int_equal(kn->kind, KK_ATTENTION);
        kn->sched.tile_m = s[si].tile_m;
        kn->sched.tile_n = s[si].tile_n;
        LlvmOptions lo = {.opt_level = 2};
        assert_non_null(jit[si] = llvm_jit_new(p[si], &lo, &err));
    }
    const char *cold = getenv("VITC_ATTN_BENCH_COLD"); /* evict the caches before each run (as a model's GEMMs do) */
    size_t nflush = cold && *cold ? (size_t)64 << 20 : 0;
    char *flush = nflush ? malloc(nflush) : NULL;
    for (int r = 0; r < ROUNDS; r++)
        for (int si = 0; si < NS; si++) {
            if (flush)
                memset(flush, r + si, nflush);
            Tensor *out[1];
            char msg[256] = "";
            double kt[8];
            TlRun info = {.kernel_seconds = kt};
            assert_true(tl_run(p[si], jit[si], NULL, in, nin, 1, out, &info, msg, sizeof msg));
            times[si][r] = kt[p[si]->nkernels - 1];
            tensor_free(out[0]);
        }
    free(flush);
    double flops = 4.0 * (double)h * (double)nq * (double)nk * (double)dh;
    for (int si = 0; si < NS; si++) {
        qsort(times[si], ROUNDS, sizeof times[si][0], cmp_double);
        double med = times[si][ROUNDS / 2];
        print_message("%sH=%2lld Nq=%4lld Nk=%4lld D=%3lld %-10s tile_m=%2d tile_n=%3d: median %8.3f ms (min %8.3f, "
                      "max %8.3f) %6.1f GFLOP/s (at the min %6.1f)\n",
                      fused_qkv ? "qkv " : "", (long long)h, (long long)nq, (long long)nk, (long long)dh,
                      s[si].tile_n ? "flash" : "decomposed",
                      s[si].tile_m, s[si].tile_n, med * 1e3, times[si][0] * 1e3, times[si][ROUNDS - 1] * 1e3,
                      flops / med * 1e-9, flops / times[si][0] * 1e-9);
        llvm_jit_free(jit[si]);
        plan_free(p[si]);
    }
    for (int j = 0; j < 3; j++)
        tensor_free(x[j]);
    ir_graph_free(g);
}

/* Whether kernel k of p is part of attention: the op's kernel, or (unfused) a batched
 * matmul of rank 4, a softmax row, or the q scaling (a mul of rank 4). */
static bool attention_part(const Plan *p, const Kernel *k)
{
    const Node *n = &p->g->nodes[k->node];
    int r = ir_type(p->g, n->out)->shape.rank;
    return k->kind == KK_ATTENTION || (n->op == OP_MATMUL && r == 4) || n->op == OP_SOFTMAX ||
           (k->kind == KK_ELEMENTWISE && n->op == OP_MUL && r == 4);
}

/* VITC_ATTN_BENCH=vit[B]: ViT-B/16 (random weights, batch B, default 1) with and without
 * attention-fusion, JIT-compiled in this process and run in turns, 1 thread: the attention
 * kernels' time per run, as the sum over them of each kernel's median and of each one's
 * minimum over the rounds (on a shared machine a kernel is often preempted: the minimum is
 * what it costs). */
static void bench_vit(int batch)
{
    enum { ROUNDS = 9 };
    const char *pipes[2] = {NULL, "canonicalize,cse,dce"};
    Graph *g[2];
    Plan *p[2];
    LlvmJit *jit[2];
    double *kt[2][ROUNDS];
    TaWeights w;
    for (int i = 0; i < 2; i++) {
        g[i] = tl_model("vit_b16.vit");
        IrError err = {{0}};
        PassOptions po = {.ice = &err};
        assert_true(pass_run_pipeline(g[i], pipes[i] ? pipes[i] : pass_default_pipeline(2), &po, &err));
        if (i == 0)
            ta_weights(g[0], 1, &w);
        assert_non_null(p[i] = plan_build(g[i], &err));
        LlvmOptions lo = {.opt_level = 2};
        assert_non_null(jit[i] = llvm_jit_new(p[i], &lo, &err));
    }
    Tensor *image = tl_random(DT_F32, 4, DIMS(batch, 224, 224, 3), -1, 1, 5);
    NamedTensor in = {"image", image};
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < 2; i++) {
            kt[i][r] = calloc((size_t)p[i]->nkernels, sizeof *kt[i][r]);
            Tensor *out[1];
            char msg[256] = "";
            TlRun info = {.kernel_seconds = kt[i][r]};
            assert_true(tl_run(p[i], jit[i], &w.ws, &in, 1, 1, out, &info, msg, sizeof msg));
            tensor_free(out[0]);
        }
    for (int i = 0; i < 2; i++) {
        double med = 0, min = 0, t[ROUNDS];
        int n = 0;
        for (int32_t k = 0; k < p[i]->nkernels; k++) {
            if (!attention_part(p[i], &p[i]->kernels[k]))
                continue;
            for (int r = 0; r < ROUNDS; r++)
                t[r] = kt[i][r][k];
            qsort(t, ROUNDS, sizeof t[0], cmp_double);
            med += t[ROUNDS / 2];
            min += t[0];
            n++;
        }
        print_message("vit_b16 batch %d %-8s attention (%2d kernels) per run: %8.2f ms (sum of medians of %d), "
                      "%8.2f ms (sum of minima)\n", batch, i ? "unfused" : "fused", n, med * 1e3, ROUNDS, min * 1e3);
        for (int r = 0; r < ROUNDS; r++)
            free(kt[i][r]);
        llvm_jit_free(jit[i]);
        plan_free(p[i]);
        ir_graph_free(g[i]);
    }
    tensor_free(image);
    ta_weights_free(&w);
}

/* VITC_ATTN_BENCH=vitwarm: ViT-B/16's plan run once in this process (its own buffers), then
 * each attention kernel again, alone, 5 times: the warm time against the in-model time. */
static void bench_vit_warm(void)
{
    Graph *g = tl_model("vit_b16.vit");
    IrError err = {{0}};
    PassOptions po = {.ice = &err};
    assert_true(pass_run_pipeline(g, pass_default_pipeline(2), &po, &err));
    TaWeights w;
    ta_weights(g, 1, &w);
    Plan *p = plan_build(g, &err);
    LlvmOptions lo = {.opt_level = 2};
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    assert_non_null(jit);
    int64_t bind[64] = {1};
    char **bufs = calloc((size_t)p->nbufs + 1, sizeof *bufs);
    int32_t cell = 0;
    for (int32_t b = 0; b < p->nbufs; b++) {
        size_t bytes = (size_t)shape_numel(&p->bufs[b].shape, bind) * dtype_size(p->bufs[b].dt);
        bufs[b] = malloc(bytes ? bytes : 1);
        memset(bufs[b], 0, bytes);
        if (p->bufs[b].kind == BUF_PARAM) {
            char msg[256];
            assert_true(tl_param(p, b, bufs[b], &w.ws, msg, sizeof msg));
        }
    }
    bufs[p->nbufs] = (char *)&cell;
    for (int pass = 0; pass < 2; pass++)
        for (int32_t k = 0; k < p->nkernels; k++) {
            double t0 = tl_now();
            int64_t ext = llvm_jit_extent(jit, k)(bind);
            llvm_jit_kernel(jit, k)(bufs, bind, 0, ext);
            double t1 = tl_now();
            if (pass == 1 && p->kernels[k].kind == KK_ATTENTION) {
                double again[5];
                for (int r = 0; r < 5; r++) {
                    double a0 = tl_now();
                    llvm_jit_kernel(jit, k)(bufs, bind, 0, ext);
                    again[r] = tl_now() - a0;
                }
                qsort(again, 5, sizeof again[0], cmp_double);
                /* the kernel before it again (the qkv GEMM), then the attention */
                int64_t pe = llvm_jit_extent(jit, k - 1)(bind);
                llvm_jit_kernel(jit, k - 1)(bufs, bind, 0, pe);
                double a0 = tl_now();
                llvm_jit_kernel(jit, k)(bufs, bind, 0, ext);
                double after_gemm = tl_now() - a0;
                /* its inputs rewritten by memcpy (the same values) */
                const Buffer *qb = &p->bufs[p->kernels[k].in[p->kernels[k].u.attn.q].buf];
                size_t qbytes = (size_t)shape_numel(&qb->shape, bind) * dtype_size(qb->dt);
                char *tmp = malloc(qbytes);
                memcpy(tmp, bufs[p->kernels[k].in[p->kernels[k].u.attn.q].buf], qbytes);
                memcpy(bufs[p->kernels[k].in[p->kernels[k].u.attn.q].buf], tmp, qbytes);
                free(tmp);
                a0 = tl_now();
                llvm_jit_kernel(jit, k)(bufs, bind, 0, ext);
                double after_copy = tl_now() - a0;
                print_message("k%d attention: in the model %.3f ms, again alone %.3f ms (median of 5), after its GEMM "
                              "again %.3f ms, after a copy of its input %.3f\n", k, (t1 - t0) * 1e3, again[2] * 1e3,
                              after_gemm * 1e3, after_copy * 1e3);
            }
        }
    for (int32_t b = 0; b < p->nbufs; b++)
        free(bufs[b]);
    free(bufs);
    llvm_jit_free(jit);
    plan_free(p);
    ta_weights_free(&w);
    ir_graph_free(g);
}

static void test_bench(void **state)
{
    (void)state;
    const char *on = getenv("VITC_ATTN_BENCH");
    if (!on || !*on || strcmp(on, "0") == 0)
        skip();
    if (strcmp(on, "vitwarm") == 0) {
        bench_vit_warm();
        return;
    }
    if (strncmp(on, "vit", 3) == 0) {
        bench_vit(on[3] ? atoi(on + 3) : 1);
        return;
    }
    if (strcmp(on, "1") == 0) {
        const int64_t ns[] = {197, 577, 1024};
        for (int i = 0; i < 3; i++)
            bench_shape(12, ns[i], ns[i], 64, false);
        bench_shape(12, 197, 197, 64, true);
        return;
    }
    for (const char *c = on; *c;) {
        long long h, nq, nk, d;
        int used = 0;
        bool qkv = strncmp(c, "qkv:", 4) == 0;
        c += qkv ? 4 : 0;
        if (sscanf(c, "%lld,%lld,%lld,%lld%n", &h, &nq, &nk, &d, &used) != 4 || (qkv && nq != nk))
            fail_msg("VITC_ATTN_BENCH: expected [qkv:]H,Nq,Nk,D (qkv: Nq = Nk) at \"%s\"", c);
        bench_shape(h, nq, nk, d, qkv);
        c += used;
        while (*c == ' ')
            c++;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),   cmocka_unit_test(test_masks),
        cmocka_unit_test(test_half),     cmocka_unit_test(test_vit_size),
        cmocka_unit_test(test_default_schedule), cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
