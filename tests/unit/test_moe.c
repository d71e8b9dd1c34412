/* test_moe.c — the MoE ops in the interpreter (docs/MOE.md; MODELS.md §4–§6, §10 tests
 * 14–26): vmoe's capacity goldens, the BPR / vanilla goldens A and B on moe_route and on the
 * whole moe op, expert choice, the equivalences (k = E with ample capacity is the dense
 * mixture; identical experts with normalised combine and no drops are the dense MLP; k = 1
 * identical experts give g_max · MLP; dropped tokens leave the residual unchanged; BPR is
 * vanilla without drops), the lowering against the op's own reference on many
 * configurations (interpreter and plan_exec), shape errors, the pass's idempotence and
 * out-of-memory safety. The models: test_moe_models.c.
 */
#include "test_moe.h"

static Tensor *tensor_of(int rank, const int64_t *dims, const float *v)
{
    Tensor *t = tensor_new(DT_F32, rank, dims);
    assert_non_null(t);
    for (int64_t i = 0; i < t->numel; i++)
        t->f[i] = v[i];
    return t;
}

/* ---- capacity (§4.4, §6; test 16) ---- */

static void test_capacity(void **state)
{
    (void)state;
    assert_int_equal(moe_capacity(8 * 197 * 2, 8, 1.05, 4), 416);
    assert_int_equal(moe_capacity(8 * 577 * 2, 8, 1.5, 4), 1732);
    assert_int_equal(moe_capacity(2 * 128 * 17 * 1, 8, 1.5, 4), 816);
    assert_int_equal(moe_capacity(400, 8, 1.05, 4), 56);
    assert_int_equal(moe_capacity(400, 8, 1.05, 0), 53); /* no rounding up */
    assert_int_equal(moe_capacity(4, 8, 0.01, 4), 4);    /* ceil keeps it at least 1 */
    assert_int_equal(moe_capacity(4, 8, 0, 4), -1);
    assert_int_equal(moe_capacity(4, 8, NAN, 4), -1);
    /* through the lowering: the routes of vmoe_b16 and e3_s32 */
    const char *models[] = {"vmoe_b16", "e3_s32"};
    const int64_t want[] = {416, 816};
    for (int i = 0; i < 2; i++) {
        Graph *g = mt_model(models[i]);
        mt_lower(g, "moe-dispatch-lowering");
        assert_int_equal(mt_count(g, OP_MOE), 0);
        int routes = 0;
        for (int32_t n = 0; n < g->nnodes; n++)
            if (g->nodes[n].op == OP_MOE_ROUTE) {
                assert_int_equal(g->nodes[n].attr.route.capacity, want[i]);
                routes++;
            }
        assert_int_equal(routes, i == 0 ? 6 : 2);
        ir_graph_free(g);
    }
}

/* ---- moe_route goldens (§4.5; test 17) ---- */

static Tensor *route(const float *gates, int64_t S, int64_t E, const char *attrs)
{
    Graph *g = mt_parse("graph @r {\n  %%g = input {name = \"g\"} : f32[1,%lld,%lld]\n"
                        "  %%r = moe_route(%%g) {%s}\n  output r = %%r\n}\n",
                        (long long)S, (long long)E, attrs);
    Tensor *x = tensor_of(3, (int64_t[]){1, S, E}, gates), *out[1], *pe[1];
    mt_interp(g, NULL, "g", x, out);
    mt_plan_exec(g, NULL, "g", x, pe);
    assert_int_equal(out[0]->numel, pe[0]->numel);
    for (int64_t i = 0; i < out[0]->numel; i++)
        assert_int_equal(out[0]->i[i], pe[0]->i[i]);
    tensor_free(pe[0]);
    tensor_free(x);
    ir_graph_free(g);
    return out[0];
}

static void expect_route(Tensor *r, const int64_t *want, int64_t n)
{
    assert_int_equal(r->numel, n);
    for (int64_t i = 0; i < n; i++)
        if (r->i[i] != want[i])
            fail_msg("route entry %lld is %lld, expected %lld", (long long)i, (long long)r->i[i], (long long)want[i]);
    tensor_free(r);
}

static const float golden_a[] = {.6f, .4f, .9f, .1f, .3f, .7f, .2f, .8f};
static const float golden_b[] = {.6f, .4f, .3f, .7f};

static void test_route_golden_a(void **state)
{
    (void)state;
    /* vanilla keeps t0 -> e0 and t2 -> e1 and drops t1 and t3 */
    expect_route(route(golden_a, 4, 2, "k = 1, capacity = 1"), (int64_t[]){0, -1, 1, -2, 0, 2}, 6);
    /* BPR: order t1, t3, t2, t0: keeps t1 -> e0 and t3 -> e1, drops t0 and t2 */
    expect_route(route(golden_a, 4, 2, "k = 1, capacity = 1, batch_priority = true"), (int64_t[]){-1, 0, -2, 1, 1, 3},
                 6);
    /* ample capacity: every token kept, slots in order */
    expect_route(route(golden_a, 4, 2, "k = 1, capacity = 4"),
                 (int64_t[]){0, 1, 4, 5, 0, 1, -1, -1, 2, 3, -1, -1}, 12);
}

static void test_route_golden_b(void **state)
{
    (void)state;
    /* first choices t0 -> e0 and t1 -> e1 fill both slots; both second choices drop */
    expect_route(route(golden_b, 2, 2, "k = 2, capacity = 1"), (int64_t[]){0, -2, 1, -1, 0, 1}, 6);
    expect_route(route(golden_b, 2, 2, "k = 2, capacity = 1, batch_priority = true"), (int64_t[]){0, -2, 1, -1, 0, 1},
                 6);
    /* capacity 2: the second choices are kept, choice-major */
    expect_route(route(golden_b, 2, 2, "k = 2, capacity = 2"), (int64_t[]){0, 3, 2, 1, 0, 1, 1, 0}, 8);
}

static void test_route_ties_and_nan(void **state)
{
    (void)state;
    /* ties go to the lower index; NaN is below every number */
    const float g[] = {.5f, .5f, 0, NAN, .2f, .2f};
    expect_route(route(g, 2, 3, "k = 2, capacity = 4"), (int64_t[]){0, 5, 4, 8, 0, -1, -1, -1, 1, 0, -1, -1, 1, -1, -1, -1},
                 16);
    /* BPR is a stable sort: equal top-1 gates keep their order */
    const float h[] = {.5f, .5f, .5f, .5f, .9f, .1f};
    expect_route(route(h, 3, 2, "k = 1, capacity = 1, batch_priority = true"), (int64_t[]){-1, -1, 0, 2, -1}, 5);
}

static void test_route_expert_choice(void **state)
{
    (void)state;
    /* each expert takes its top-C tokens: e0 -> t1 (.9), e1 -> t3 (.8) */
    expect_route(route(golden_a, 4, 2, "capacity = 1, routing = expert_choice"),
                 (int64_t[]){-1, -2, 0, -2, -1, -2, -1, 1, 1, 3}, 10);
    /* capacity above the group: the extra slots stay empty */
    expect_route(route(golden_b, 2, 2, "capacity = 4, routing = expert_choice"),
                 (int64_t[]){0, 5, 1, 4, 0, 1, -1, -1, 1, 0, -1, -1}, 12);
}

static void test_route_members(void **state)
{
    (void)state;
    /* E^3, 2 members of 2 experts: token s belongs to member s mod 2 and only reaches experts
       2·(s mod 2) + {0, 1} (test 24: a block-diagonal dispatch) */
    const float g[] = {.7f, .3f, .6f, .4f, .8f, .2f, .1f, .9f};
    expect_route(route(g, 4, 2, "k = 1, capacity = 1, members = 2"), (int64_t[]){0, 2, -1, 3, 0, -1, 1, 3}, 8);
}

/* ---- the moe op: goldens A and B through the reference and the lowering ---- */

typedef struct {
    Tensor *ref, *low, *pe; /* the op's reference, the lowered graph, plan_exec of it */
} Outs;

static Outs run_all(Graph *(*make)(void *), void *arg, MtWeights *w, const Tensor *x)
{
    WeightSource ws = mt_source(w);
    Outs o;
    Graph *g = make(arg);
    mt_interp(g, &ws, "x", x, &o.ref);
    mt_lower(g, "moe-dispatch-lowering");
    assert_int_equal(mt_count(g, OP_MOE), 0);
    mt_interp(g, &ws, "x", x, &o.low);
    mt_plan_exec(g, &ws, "x", x, &o.pe);
    ir_graph_free(g);
    return o;
}

static void outs_free(Outs *o)
{
    tensor_free(o->ref);
    tensor_free(o->low);
    tensor_free(o->pe);
}

typedef struct {
    int64_t T, D, E, H;
    const char *attrs;
    bool residual;
} Cfg;

static Graph *make_cfg(void *arg)
{
    const Cfg *c = arg;
    return mt_moe_graph(c->T, c->D, c->E, c->H, c->attrs, c->residual);
}

/* Golden weights: token t is the one-hot e_t (D = T), the router's row t holds log(gates_t),
   so softmax(x_t · W_r) = gates_t. */
static void golden_weights(MtWeights *w, const float *gates, int64_t T, int64_t E, int64_t H, Tensor **x)
{
    mt_moe_weights(w, T, E, H, 7);
    for (int64_t t = 0; t < T; t++)
        for (int64_t e = 0; e < E; e++)
            w->t[0]->f[t * E + e] = logf(gates[t * E + e]);
    *x = tensor_new(DT_F32, 2, (int64_t[]){T, T});
    assert_non_null(*x);
    for (int64_t t = 0; t < T; t++)
        (*x)->f[t * T + t] = 1;
}

static void expect_row(const Tensor *out, int64_t t, const double *want, int64_t D, double tol, const char *what)
{
    for (int64_t d = 0; d < D; d++)
        if (!(fabs(out->f[t * D + d] - want[d]) <= tol))
            fail_msg("%s: out[%lld][%lld] = %.9g, expected %.9g", what, (long long)t, (long long)d, out->f[t * D + d],
                     want[d]);
}

static void test_moe_golden_b(void **state)
{
    (void)state;
    MtWeights w = {0};
    Tensor *x;
    golden_weights(&w, golden_b, 2, 2, 8, &x);
    Cfg c = {2, 2, 2, 8, "k = 2, capacity = 1", false};
    Outs o = run_all(make_cfg, &c, &w, x);
    double mlp[2], want[2];
    for (int64_t t = 0; t < 2; t++) {
        mt_mlp(&w, 1, (int)t, x->f + t * 2, 2, 8, mlp); /* out_0 = .6·MLP_0(x0), out_1 = .7·MLP_1(x1) */
        for (int d = 0; d < 2; d++)
            want[d] = (t == 0 ? .6 : .7) * mlp[d];
        expect_row(o.ref, t, want, 2, 1e-5, "reference");
        expect_row(o.low, t, want, 2, 1e-5, "lowered");
        expect_row(o.pe, t, want, 2, 1e-5, "plan_exec");
    }
    outs_free(&o);
    tensor_free(x);
    mt_free(&w);
}

static void test_moe_golden_a(void **state)
{
    (void)state;
    for (int bpr = 0; bpr < 2; bpr++) {
        MtWeights w = {0};
        Tensor *x;
        golden_weights(&w, golden_a, 4, 2, 8, &x);
        Cfg c = {4, 4, 2, 8, bpr ? "k = 1, capacity = 1, batch_priority = true" : "k = 1, capacity = 1", false};
        Outs o = run_all(make_cfg, &c, &w, x);
        const int kept_e[4] = {bpr ? -1 : 0, bpr ? 0 : -1, bpr ? -1 : 1, bpr ? 1 : -1};
        for (int64_t t = 0; t < 4; t++) {
            double mlp[4], want[4] = {0, 0, 0, 0};
            if (kept_e[t] >= 0) {
                mt_mlp(&w, 1, kept_e[t], x->f + t * 4, 4, 8, mlp);
                for (int d = 0; d < 4; d++)
                    want[d] = golden_a[t * 2 + kept_e[t]] * mlp[d];
            }
            double tol = kept_e[t] >= 0 ? 1e-5 : 0; /* a dropped token's output is exactly 0 */
            expect_row(o.ref, t, want, 4, tol, bpr ? "reference, BPR" : "reference");
            expect_row(o.low, t, want, 4, tol, bpr ? "lowered, BPR" : "lowered");
            expect_row(o.pe, t, want, 4, tol, bpr ? "plan_exec, BPR" : "plan_exec");
        }
        outs_free(&o);
        tensor_free(x);
        mt_free(&w);
    }
}

/* ---- equivalences (tests 14, 15, 17, 18) ---- */

static void test_dense_mixture(void **state)
{
    (void)state;
    /* k = E and C ≥ S: out = Σ_e softmax_e · MLP_e(x), exactly the dense mixture */
    enum { T = 12, D = 6, E = 4, H = 10 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 11);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    mt_fill(x, -1, 1, 99);
    Cfg c = {T, D, E, H, "k = 4, capacity = 12, group_size = 12", false};
    Outs o = run_all(make_cfg, &c, &w, x);
    for (int64_t t = 0; t < T; t++) {
        double g[E], y[D], want[D] = {0};
        mt_gates(w.t[0], x->f + t * D, D, E, g);
        for (int e = 0; e < E; e++) {
            mt_mlp(&w, 1, e, x->f + t * D, D, H, y);
            for (int d = 0; d < D; d++)
                want[d] += g[e] * y[d];
        }
        expect_row(o.ref, t, want, D, 1e-5, "reference");
        expect_row(o.low, t, want, D, 1e-5, "lowered");
        expect_row(o.pe, t, want, D, 1e-5, "plan_exec");
    }
    outs_free(&o);
    tensor_free(x);
    mt_free(&w);
}

static void identical_experts(MtWeights *w, int64_t D, int64_t E, int64_t H)
{
    for (int i = 1; i <= 4; i++) {
        Tensor *t = w->t[i];
        int64_t per = t->numel / E;
        for (int64_t e = 1; e < E; e++)
            memcpy(t->f + e * per, t->f, (size_t)per * sizeof *t->f);
    }
    (void)D;
    (void)H;
}

static void test_identical_experts(void **state)
{
    (void)state;
    enum { T = 16, D = 6, E = 4, H = 10 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 21);
    identical_experts(&w, D, E, H);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    mt_fill(x, -1, 1, 5);
    /* normalised combine, k = 2 < E, no drops: the dense MLP (test 15, §5) */
    Cfg c = {T, D, E, H, "k = 2, capacity = 16, group_size = 8, normalize_combine = true", false};
    Outs o = run_all(make_cfg, &c, &w, x);
    /* raw combine, k = 1: g_max · MLP(x) */
    Cfg c1 = {T, D, E, H, "k = 1, capacity = 16, group_size = 8", false};
    Outs o1 = run_all(make_cfg, &c1, &w, x);
    for (int64_t t = 0; t < T; t++) {
        double y[D], g[E], want[D], gmax = 0;
        mt_mlp(&w, 1, 0, x->f + t * D, D, H, y);
        expect_row(o.ref, t, y, D, 1e-5, "reference");
        expect_row(o.low, t, y, D, 1e-5, "lowered");
        expect_row(o.pe, t, y, D, 1e-5, "plan_exec");
        mt_gates(w.t[0], x->f + t * D, D, E, g);
        for (int e = 0; e < E; e++)
            gmax = g[e] > gmax ? g[e] : gmax;
        for (int d = 0; d < D; d++)
            want[d] = gmax * y[d];
        expect_row(o1.ref, t, want, D, 1e-5, "reference, k = 1");
        expect_row(o1.low, t, want, D, 1e-5, "lowered, k = 1");
    }
    outs_free(&o);
    outs_free(&o1);
    tensor_free(x);
    mt_free(&w);
}

static void test_dropped_tokens_pass_through(void **state)
{
    (void)state;
    /* y = x + moe(x) with capacity 1, E = 2, k = 1, groups of 8: at most 2 tokens per group
       are kept; every other row of y is x's row, bit for bit (test 18) */
    enum { T = 16, D = 5, E = 2, H = 6, S = 8 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 31);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    mt_fill(x, -1, 1, 17);
    Cfg c = {T, D, E, H, "k = 1, capacity = 1, group_size = 8", true};
    Outs o = run_all(make_cfg, &c, &w, x);
    for (int64_t g = 0; g < T / S; g++) {
        bool taken[E] = {false, false};
        for (int64_t s = 0; s < S; s++) {
            int64_t t = g * S + s;
            double gt[E];
            mt_gates(w.t[0], x->f + t * D, D, E, gt);
            int e = gt[1] > gt[0];
            bool kept = !taken[e];
            taken[e] = true;
            const Tensor *outs[3] = {o.ref, o.low, o.pe};
            for (int k = 0; k < 3; k++) {
                bool same = memcmp(outs[k]->f + t * D, x->f + t * D, D * sizeof(float)) == 0;
                if (same == kept)
                    fail_msg("output %d, token %lld: %s but its row %s x's", k, (long long)t,
                             kept ? "kept" : "dropped", same ? "equals" : "differs from");
            }
        }
    }
    outs_free(&o);
    tensor_free(x);
    mt_free(&w);
}

static void test_bpr_without_drops_is_vanilla(void **state)
{
    (void)state;
    enum { T = 24, D = 6, E = 4, H = 8 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 41);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    mt_fill(x, -1, 1, 3);
    Cfg a = {T, D, E, H, "k = 2, capacity = 12, group_size = 12", false};
    Cfg b = {T, D, E, H, "k = 2, capacity = 12, group_size = 12, batch_priority = true", false};
    Outs oa = run_all(make_cfg, &a, &w, x), ob = run_all(make_cfg, &b, &w, x);
    assert_true(mt_maxdiff(oa.ref, ob.ref) == 0);
    assert_true(mt_maxdiff(oa.low, ob.low) == 0);
    /* and with drops they differ */
    Cfg c = {T, D, E, H, "k = 2, capacity = 2, group_size = 12", false};
    Cfg d = {T, D, E, H, "k = 2, capacity = 2, group_size = 12, batch_priority = true", false};
    Outs oc = run_all(make_cfg, &c, &w, x), od = run_all(make_cfg, &d, &w, x);
    assert_true(mt_maxdiff(oc.ref, od.ref) > 1e-3);
    outs_free(&oa);
    outs_free(&ob);
    outs_free(&oc);
    outs_free(&od);
    tensor_free(x);
    mt_free(&w);
}

/* ---- the lowering against the reference, many configurations ---- */

static const char *const configs[] = {MT_MOE_CONFIGS};

static void test_lowering_matches_reference(void **state)
{
    (void)state;
    enum { T = 32, D = 8, E = 4, H = 12 };
    MtWeights w = {0};
    mt_moe_weights(&w, D, E, H, 51);
    Tensor *x = tensor_new(DT_F32, 2, (int64_t[]){T, D});
    mt_fill(x, -1.5, 1.5, 61);
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        Cfg c = {T, D, E, H, configs[i], i % 2 == 1};
        Outs o = run_all(make_cfg, &c, &w, x);
        double d1 = mt_maxdiff(o.ref, o.low), d2 = mt_maxdiff(o.low, o.pe);
        print_message("%-80s lowered %.2g plan_exec %.2g\n", configs[i], d1, d2);
        if (!(d1 <= 1e-5 && d2 <= 1e-5))
            fail_msg("%s: lowered differs from the reference by %g, plan_exec from the lowered by %g", configs[i], d1, d2);
        outs_free(&o);
    }
    tensor_free(x);
    mt_free(&w);
}

static Graph *make_members(void *arg)
{
    const char *attrs = arg;
    return mt_parse("graph @e3 {\n"
                    "  dim B <= 8\n"
                    "  %%x = input {name = \"x\"} : f32[B,12,6]\n"
                    "  %%r = param $router : f32[6,2,2]\n"
                    "  %%w1 = param $w1 : f32[4,6,8]\n  %%b1 = param $b1 : f32[4,8]\n"
                    "  %%w2 = param $w2 : f32[4,8,6]\n  %%b2 = param $b2 : f32[4,6]\n"
                    "  %%m = moe(%%x, %%r, %%w1, %%b1, %%w2, %%b2) {%s} : f32[B,12,6]\n"
                    "  output y = %%m\n}\n",
                    attrs);
}

static void test_members_and_symbols(void **state)
{
    (void)state;
    /* E^3 members over a symbolic batch, groups of one image (12 tokens) or of 6 tokens */
    MtWeights w = {0};
    mt_members_weights(&w);
    Tensor *x = tensor_new(DT_F32, 3, (int64_t[]){3, 12, 6});
    mt_fill(x, -1, 1, 76);
    const char *attrs[] = {"k = 1, capacity = 2, group_size = 12, members = 2",
                           "k = 2, capacity_factor = 1.0, group_size = 6, members = 2, batch_priority = true",
                           "k = 1, capacity = 4, group_size = 12, members = 2, normalize_combine = true"};
    for (int i = 0; i < 3; i++) {
        Outs o = run_all(make_members, (void *)attrs[i], &w, x);
        double d1 = mt_maxdiff(o.ref, o.low), d2 = mt_maxdiff(o.low, o.pe);
        if (!(d1 <= 1e-5 && d2 <= 1e-5))
            fail_msg("%s: lowered differs from the reference by %g, plan_exec by %g", attrs[i], d1, d2);
        outs_free(&o);
    }
    tensor_free(x);
    mt_free(&w);
}

/* ---- shape errors ---- */

static void expect_error(const char *vir, const char *want)
{
    char path[] = "/tmp/vitc_moe_err_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w+");
    assert_non_null(f);
    Diag *d = diag_new(f);
    Graph *g = ir_parse(vir, strlen(vir), "e.vir", d);
    diag_free(d);
    assert_null(g);
    fflush(f);
    rewind(f);
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    remove(path);
    if (!strstr(buf, want))
        fail_msg("expected an error with \"%s\", got:\n%s", want, buf);
}

static void test_errors(void **state)
{
    (void)state;
    char v[2048];
    const char *head = "graph @e {\n  dim B <= 4\n  %%x = input {name = \"x\"} : f32[%s,8]\n"
                       "  %%r = param $r : f32[8,%s]\n"
                       "  %%w1 = param $w1 : f32[4,8,6]\n  %%b1 = param $b1 : f32[4,6]\n"
                       "  %%w2 = param $w2 : f32[4,6,8]\n  %%b2 = param $b2 : f32[4,8]\n"
                       "  %%m = moe(%%x, %%r, %%w1, %%b1, %%w2, %%b2) {%s}\n}\n";
    snprintf(v, sizeof v, head, "10", "4", "group_size = 4");
    expect_error(v, "group_size = 4 does not divide the token count 10");
    snprintf(v, sizeof v, head, "10*B", "4", "group_size = 4");
    expect_error(v, "a symbolic count n·B needs a group size dividing n");
    snprintf(v, sizeof v, head, "B", "4", "");
    expect_error(v, "group_size = 0 (one group of all tokens) needs a fixed token count");
    snprintf(v, sizeof v, head, "8", "4", "k = 5");
    expect_error(v, "k = 5 must be between 1 and the 4 experts");
    snprintf(v, sizeof v, head, "8", "4", "members = 3");
    expect_error(v, "members = 3 must divide the 4 experts");
    snprintf(v, sizeof v, head, "8", "2,2", "");
    expect_error(v, "the router is [8,2,2]");
    snprintf(v, sizeof v, head, "8", "4", "experts = 8");
    expect_error(v, "experts = 8 but the parameters hold 4");
    snprintf(v, sizeof v, head, "8", "4", "capacity_factor = 0.0");
    expect_error(v, "gives no capacity");
    snprintf(v, sizeof v, head, "8", "2,2", "members = 2, routing = expert_choice");
    expect_error(v, "expert-choice routing with members > 1 is not supported");
    expect_error("graph @e {\n  %g = input {name = \"g\"} : f32[2,5,4]\n  %r = moe_route(%g) {k = 5}\n}\n",
                 "k = 5 must be between 1 and the 4 experts");
    expect_error("graph @e {\n  %g = input {name = \"g\"} : f32[2,5,4]\n  %r = moe_route(%g) {capacity = 0}\n}\n",
                 "capacity = 0 must be between 1");
}

/* ---- the pass ---- */

static void test_pass_idempotent(void **state)
{
    (void)state;
    Graph *g = mt_model("vmoe_test");
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    bool changed = false;
    const PassInfo *p = pass_find("moe-dispatch-lowering", strlen("moe-dispatch-lowering"));
    assert_non_null(p);
    assert_true(pass_run(g, p, &po, &changed, &err));
    assert_true(changed);
    assert_int_equal(mt_count(g, OP_MOE), 0);
    assert_int_equal(mt_count(g, OP_MOE_ROUTE), 2);
    assert_int_equal(mt_count(g, OP_MOE_COMBINE), 2);
    assert_true(pass_run(g, p, &po, &changed, &err));
    assert_false(changed);
    ir_graph_free(g);
}

static void test_pass_out_of_memory(void **state)
{
    (void)state;
    /* every allocation failing in turn: the graph stays valid and means the same */
    for (long n = 0; n < 400; n += 7) {
        Graph *g = mt_moe_graph(8, 4, 2, 4, "k = 1, capacity = 4, group_size = 8", true);
        IrError err = {{0}};
        PassOptions po = {0};
        po.ice = &err;
        po.no_verify = true;
        ir_alloc_fail_after(n);
        bool changed = pass_moe_lower(g, &po);
        ir_alloc_fail_after(-1);
        assert_true(ir_verify(g, &err));
        assert_true(err.msg[0] == 0 || strstr(err.msg, "out of memory"));
        if (changed)
            assert_int_equal(mt_count(g, OP_MOE), 0);
        ir_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_route_golden_a),
        cmocka_unit_test(test_route_golden_b),
        cmocka_unit_test(test_route_ties_and_nan),
        cmocka_unit_test(test_route_expert_choice),
        cmocka_unit_test(test_route_members),
        cmocka_unit_test(test_moe_golden_b),
        cmocka_unit_test(test_moe_golden_a),
        cmocka_unit_test(test_dense_mixture),
        cmocka_unit_test(test_identical_experts),
        cmocka_unit_test(test_dropped_tokens_pass_through),
        cmocka_unit_test(test_bpr_without_drops_is_vanilla),
        cmocka_unit_test(test_lowering_matches_reference),
        cmocka_unit_test(test_members_and_symbols),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pass_idempotent),
        cmocka_unit_test(test_pass_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
