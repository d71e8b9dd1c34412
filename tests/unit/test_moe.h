/* test_moe.h — helpers shared by the MoE tests (tests/unit/test_moe*.c): graphs from .vir
 * text or .vit source, in-memory weights, interpreter runs, an independent double-precision
 * MLP, and the references of tests/reference/moe/.
 */
#ifndef VITC_TEST_MOE_H
#define VITC_TEST_MOE_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ir/moe.h"
#include "../../ir/plan.h"
#include "../../passes/passes.h"
#include "cmd.h"

static inline const char *mt_source_dir(void)
{
    const char *s = getenv("VITC_SOURCE_DIR");
    return s && *s ? s : VITC_SOURCE_DIR;
}

/* ---- graphs ---- */

static inline Graph *mt_parse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline Graph *mt_parse(const char *fmt, ...)
{
    static char text[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    Diag *d = diag_new(stderr);
    Graph *g = ir_parse(text, strlen(text), "test.vir", d);
    diag_free(d);
    if (!g)
        fail_msg("does not parse:\n%s", text);
    return g;
}

/* A .vit model from source text (imports resolve in models/). */
static inline Graph *mt_vit(const char *text)
{
    char models[4096];
    snprintf(models, sizeof models, "%s/models", mt_source_dir());
    const char *dirs[] = {models};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    Graph *g = fe_compile_string("test.vit", text, strlen(text), &fo, d);
    diag_free(d);
    if (!g)
        fail_msg("does not compile:\n%s", text);
    return g;
}

static inline Graph *mt_model(const char *name)
{
    char path[4096], models[4096];
    snprintf(models, sizeof models, "%s/models", mt_source_dir());
    snprintf(path, sizeof path, "%s/%s.vit", models, name);
    const char *dirs[] = {models};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    Graph *g = fe_compile_file(path, &fo, d);
    diag_free(d);
    if (!g)
        fail_msg("%s does not compile", path);
    return g;
}

/* A graph with the moe op lowered (and the rest of -O1). */
static inline void mt_lower(Graph *g, const char *pipeline)
{
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    if (!pass_run_pipeline(g, pipeline, &po, &err))
        fail_msg("passes: %s", err.msg);
}

static inline int mt_count(const Graph *g, Op op)
{
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        n += g->nodes[i].op == op;
    return n;
}

/* ---- weights in memory ---- */

enum { MT_MAXW = 64 };

typedef struct {
    int n;
    const char *name[MT_MAXW];
    Tensor *t[MT_MAXW];
} MtWeights;

static inline bool mt_lookup(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen)
{
    const MtWeights *w = ctx;
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->name[i], name) == 0) {
            out->dt = DT_F32;
            out->rank = w->t[i]->rank;
            memcpy(out->dims, w->t[i]->dims, sizeof out->dims);
            out->data = w->t[i]->f;
            return true;
        }
    snprintf(err, errlen, "no weight '%s'", name);
    return false;
}

static inline WeightSource mt_source(MtWeights *w) { return (WeightSource){mt_lookup, w}; }

static inline Tensor *mt_add(MtWeights *w, const char *name, int rank, const int64_t *dims)
{
    assert_true(w->n < MT_MAXW);
    Tensor *t = tensor_new(DT_F32, rank, dims);
    assert_non_null(t);
    w->name[w->n] = name;
    w->t[w->n++] = t;
    return t;
}

static inline void mt_free(MtWeights *w)
{
    for (int i = 0; i < w->n; i++)
        tensor_free(w->t[i]);
    w->n = 0;
}

/* deterministic uniform numbers in [lo, hi) */
static inline void mt_fill(Tensor *t, double lo, double hi, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < t->numel; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t->f[i] = (float)(lo + (hi - lo) * ((double)(s >> 11) / 9007199254740992.0));
    }
}

/* Runs g in the interpreter on one input; its outputs (caller frees). */
static inline void mt_interp(const Graph *g, WeightSource *ws, const char *input, const Tensor *x, Tensor **out)
{
    NamedTensor in = {input, x};
    IrError err = {{0}};
    if (!ir_interp(g, ws, &in, 1, out, &err))
        fail_msg("interpreter: %s", err.msg);
}

static inline void mt_plan_exec(const Graph *g, WeightSource *ws, const char *input, const Tensor *x, Tensor **out)
{
    IrError err = {{0}};
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    NamedTensor in = {input, x};
    if (!plan_exec(p, ws, &in, 1, out, &err))
        fail_msg("plan_exec: %s", err.msg);
    plan_free(p);
}

static inline double mt_maxdiff(const Tensor *a, const Tensor *b)
{
    assert_int_equal(a->numel, b->numel);
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = fabs(tensor_get(a, i) - tensor_get(b, i));
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* ---- an independent MLP: x (D) -> y (D), expert e of w1 [E, D, H] ... in double ---- */

static inline double mt_gelu_tanh(double v)
{
    return 0.5 * v * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
}

static inline void mt_mlp(const MtWeights *w, int iw1, int e, const float *x, int64_t D, int64_t H, double *y)
{
    const Tensor *w1 = w->t[iw1], *b1 = w->t[iw1 + 1], *w2 = w->t[iw1 + 2], *b2 = w->t[iw1 + 3];
    double *h = malloc((size_t)H * sizeof *h);
    assert_non_null(h);
    for (int64_t j = 0; j < H; j++) {
        double a = b1->f[e * H + j];
        for (int64_t d = 0; d < D; d++)
            a += (double)x[d] * w1->f[(e * D + d) * H + j];
        h[j] = mt_gelu_tanh(a);
    }
    for (int64_t d = 0; d < D; d++) {
        double a = b2->f[e * D + d];
        for (int64_t j = 0; j < H; j++)
            a += h[j] * w2->f[(e * H + j) * D + d];
        y[d] = a;
    }
    free(h);
}

/* softmax of x (D) · router [D, E] in double */
static inline void mt_gates(const Tensor *router, const float *x, int64_t D, int64_t E, double *g)
{
    double mx = -INFINITY, s = 0;
    for (int64_t e = 0; e < E; e++) {
        double a = 0;
        for (int64_t d = 0; d < D; d++)
            a += (double)x[d] * router->f[d * E + e];
        g[e] = a;
        mx = a > mx ? a : mx;
    }
    for (int64_t e = 0; e < E; e++)
        s += (g[e] = exp(g[e] - mx));
    for (int64_t e = 0; e < E; e++)
        g[e] /= s;
}

/* A graph x [T, D] -> moe(x, ...) with the parameters router, w1, b1, w2, b2 and attributes
 * `attrs` (the text inside {}); `residual` adds x to the result. */
static inline Graph *mt_moe_graph(int64_t T, int64_t D, int64_t E, int64_t H, const char *attrs, bool residual)
{
    return mt_parse("graph @moe {\n"
                    "  %%x = input {name = \"x\"} : f32[%lld,%lld]\n"
                    "  %%r = param $router : f32[%lld,%lld]\n"
                    "  %%w1 = param $w1 : f32[%lld,%lld,%lld]\n"
                    "  %%b1 = param $b1 : f32[%lld,%lld]\n"
                    "  %%w2 = param $w2 : f32[%lld,%lld,%lld]\n"
                    "  %%b2 = param $b2 : f32[%lld,%lld]\n"
                    "  %%m = moe(%%x, %%r, %%w1, %%b1, %%w2, %%b2) {%s} : f32[%lld,%lld]\n"
                    "%s"
                    "  output y = %%%s\n"
                    "}\n",
                    (long long)T, (long long)D, (long long)D, (long long)E, (long long)E, (long long)D, (long long)H,
                    (long long)E, (long long)H, (long long)E, (long long)H, (long long)D, (long long)E, (long long)D,
                    attrs, (long long)T, (long long)D, residual ? "  %y = add(%x, %m)\n" : "", residual ? "y" : "m");
}

/* Configurations of mt_moe_graph that the lowering tests run (test_moe.c) and the backends
 * (backend_cases.c): capacities that bind and that don't, BPR, k = 1 and 3, expert choice,
 * normalised combine weights, the erf GELU. */
#define MT_MOE_CONFIGS                                                                          \
    "k = 2, capacity_factor = 1.05, group_size = 16", "k = 2, capacity_factor = 0.5, group_size = 16", \
        "k = 2, capacity_factor = 0.5, group_size = 16, batch_priority = true",                 \
        "k = 1, capacity = 3, group_size = 8, batch_priority = true",                           \
        "k = 3, capacity = 5, group_size = 32, capacity_multiple = 0",                          \
        "k = 2, capacity_factor = 0.75, group_size = 8, normalize_combine = true",              \
        "capacity_factor = 1.0, group_size = 16, routing = expert_choice",                      \
        "capacity_factor = 0.5, group_size = 8, routing = expert_choice, normalize_combine = true", \
        "k = 2, capacity = 40, approximate = erf"

/* Weights for mt_moe_graph: index 0 router, 1..4 w1, b1, w2, b2. */
static inline void mt_moe_weights(MtWeights *w, int64_t D, int64_t E, int64_t H, uint64_t seed)
{
    mt_fill(mt_add(w, "router", 2, (int64_t[]){D, E}), -1.5, 1.5, seed);
    mt_fill(mt_add(w, "w1", 3, (int64_t[]){E, D, H}), -0.5, 0.5, seed + 1);
    mt_fill(mt_add(w, "b1", 2, (int64_t[]){E, H}), -0.2, 0.2, seed + 2);
    mt_fill(mt_add(w, "w2", 3, (int64_t[]){E, H, D}), -0.5, 0.5, seed + 3);
    mt_fill(mt_add(w, "b2", 2, (int64_t[]){E, D}), -0.2, 0.2, seed + 4);
}

/* Weights of the E^3 test layer (test_moe.c, backend_cases.c): D 6, E 4, H 8, a router per
 * member [6, 2, 2] (2 members of 2 experts). */
static inline void mt_members_weights(MtWeights *w)
{
    mt_fill(mt_add(w, "router", 3, (int64_t[]){6, 2, 2}), -2, 2, 71);
    mt_fill(mt_add(w, "w1", 3, (int64_t[]){4, 6, 8}), -.5, .5, 72);
    mt_fill(mt_add(w, "b1", 2, (int64_t[]){4, 8}), -.2, .2, 73);
    mt_fill(mt_add(w, "w2", 3, (int64_t[]){4, 8, 6}), -.5, .5, 74);
    mt_fill(mt_add(w, "b2", 2, (int64_t[]){4, 6}), -.2, .2, 75);
}

#endif
