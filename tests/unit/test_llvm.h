/* test_llvm.h — the checks of JIT-compiled plans shared by tests/unit/test_llvm*.c: a plan
 * run through the JIT (jit_exec.h's tl_run: every kernel over its extent in 1 and in 3
 * chunks) gives outputs compared with ir_interp and plan_exec on the same graph.
 * tl_backend() is the LLVM backend for the cases written once for every backend
 * (backend_cases.h).
 */
#ifndef VITC_TEST_LLVM_H
#define VITC_TEST_LLVM_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../backends/llvm/llvm_backend.h"
#include "jit_exec.h"
#include "../../passes/passes.h"
#include "backend_cases.h"
#include "cmd.h"
#include "init.h"

#ifndef DIMS
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#endif

static inline const char *tl_source_dir(void)
{
    const char *s = getenv("VITC_SOURCE_DIR");
    return s && *s ? s : VITC_SOURCE_DIR;
}

/* ---- comparing ---- */

/* max |a - b| / (1 + |b|) over the elements; NaN matches NaN and an infinity the same
 * infinity; anything else unmatched gives +inf. */
static inline double tl_diff(const Tensor *a, const Tensor *b)
{
    if (a->numel != b->numel || a->rank != b->rank)
        return INFINITY;
    double worst = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = tensor_get(a, i), y = tensor_get(b, i), d;
        if (x != x || y != y)
            d = (x != x && y != y) ? 0 : INFINITY;
        else if (isinf(x) || isinf(y))
            d = x == y ? 0 : INFINITY;
        else
            d = fabs(x - y) / (1 + fabs(y));
        if (d > worst)
            worst = d;
    }
    return worst;
}

/* The oracles: ir_interp's outputs in ref and, unless interp_only, plan_exec's in pe. */
static inline void tl_reference(const Plan *p, const WeightSource *w, const NamedTensor *in, int nin, bool interp_only,
                                Tensor **ref, Tensor **pe)
{
    IrError err = {{0}};
    if (!ir_interp(p->g, w, in, nin, ref, &err))
        fail_msg("ir_interp: %s", err.msg);
    if (!interp_only && !plan_exec(p, w, in, nin, pe, &err))
        fail_msg("plan_exec: %s", err.msg);
}

/* Fails, printing the plan and the first elements, when an output of the `backend` run
 * (`how` it ran, for the message) differs from ir_interp's by more than tol or from
 * plan_exec's (NULL when interp_only) by more than tol + 1e-15 (plan_exec goes through
 * doubles: i64 extremes). */
static inline void tl_compare(const Plan *p, const char *backend, const char *how, Tensor *const *out,
                              Tensor *const *ref, Tensor *const *pe, double tol, bool interp_only)
{
    for (int i = 0; i < p->g->noutputs; i++) {
        double d1 = tl_diff(out[i], ref[i]), d2 = interp_only ? 0 : tl_diff(out[i], pe[i]);
        if (d1 > tol || d2 > tol + 1e-15) {
            plan_print(p, stderr);
            for (int64_t e = 0; e < out[i]->numel && e < 16; e++)
                print_message("  [%lld] %s %.9g interp %.9g plan_exec %.9g\n", (long long)e, backend,
                              tensor_get(out[i], e), tensor_get(ref[i], e), pe[i] ? tensor_get(pe[i], e) : 0.0);
            fail_msg("output %d%s: differs from the interpreter by %.3g, from plan_exec by %.3g (tolerance %g)", i, how,
                     d1, d2, tol);
        }
    }
}

typedef struct {
    int chunks;          /* 0: 1 and 3 */
    int opt_level;       /* 0..3 (default 2 when `set` is false) */
    bool set;
    bool expect_error;   /* the error cell must be set (gather out of range) */
    bool no_reference;   /* the interpreter fails on this graph (checked elsewhere) */
    bool interp_only;    /* compare with ir_interp only (plan_exec computes in doubles,
                            which lose i64 values beyond 2^53) */
    TlRun run;           /* of the last run */
} TlCheck;

/* Plans g (after the default pass pipeline), JIT-compiles it and checks every output
 * against ir_interp and plan_exec within tol (relative, see tl_diff). Returns the outputs
 * of the LLVM run in `got` when not NULL (the caller frees them). */
static inline void tl_check(Graph *g, const WeightSource *w, const NamedTensor *in, int nin, double tol,
                            TlCheck *c, Tensor **got)
{
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    if (!pass_run_pipeline(g, pass_default_pipeline(1), &po, &err))
        fail_msg("passes: %s", err.msg);
    LlvmOptions lo = {.opt_level = c && c->set ? c->opt_level : 2};
    PlanOptions plo; /* as vitc compile plans for the host: GEMM weights packed */
    llvm_plan_options(&lo, &plo);
    Plan *p = plan_build_opts(g, &plo, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    if (!jit) {
        plan_print(p, stderr);
        fail_msg("llvm_jit_new: %s", err.msg);
    }
    int no = g->noutputs;
    Tensor **ref = calloc((size_t)no, sizeof *ref), **pe = calloc((size_t)no, sizeof *pe);
    assert_non_null(ref);
    assert_non_null(pe);
    bool have_ref = !(c && c->no_reference), interp_only = c && c->interp_only;
    if (have_ref)
        tl_reference(p, w, in, nin, interp_only, ref, pe);
    int runs[2] = {1, 3}, nruns = c && c->chunks ? 1 : 2;
    if (c && c->chunks)
        runs[0] = c->chunks;
    for (int r = 0; r < nruns; r++) {
        Tensor **out = calloc((size_t)no, sizeof *out);
        char msg[512] = "";
        TlRun info = {0};
        if (c)
            info.kernel_seconds = c->run.kernel_seconds;
        assert_non_null(out);
        if (!tl_run(p, jit, w, in, nin, runs[r], out, &info, msg, sizeof msg))
            fail_msg("run: %s", msg);
        if (c)
            c->run = info;
        if (c && c->expect_error ? info.error_cell != RT_ERR_INDEX : info.error_cell != 0)
            fail_msg("error cell %d", info.error_cell);
        if (have_ref) {
            char how[32];
            snprintf(how, sizeof how, " (%d chunks)", runs[r]);
            tl_compare(p, "llvm", how, out, ref, pe, tol, interp_only);
        }
        for (int i = 0; i < no; i++) {
            if (got && r == nruns - 1)
                got[i] = out[i];
            else
                tensor_free(out[i]);
        }
        free(out);
    }
    for (int i = 0; i < no; i++) {
        tensor_free(ref[i]);
        tensor_free(pe[i]);
    }
    free(ref);
    free(pe);
    llvm_jit_free(jit);
    plan_free(p);
}

/* ---- graphs ---- */

static inline Graph *tl_model(const char *file)
{
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/models/%s", tl_source_dir(), file);
    snprintf(dir, sizeof dir, "%s/models", tl_source_dir());
    const char *dirs[] = {dir};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    assert_non_null(d);
    Graph *g = fe_compile_file(path, &fo, d);
    diag_free(d);
    if (!g)
        fail_msg("%s does not compile", path);
    return g;
}

/* A deterministic pseudo-random tensor: floats uniform in [lo, hi), integers in [lo, hi]. */
static inline Tensor *tl_random(DType dt, int rank, const int64_t *dims, double lo, double hi, uint64_t seed)
{
    Tensor *t = tensor_new(dt, rank, dims);
    assert_non_null(t);
    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int64_t i = 0; i < t->numel; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) / 9007199254740992.0;
        tensor_set(t, i, dtype_is_float(dt) ? lo + (hi - lo) * u : floor(lo + (hi - lo + 1) * u));
    }
    return t;
}

/* ---- the LLVM backend for backend_cases.c ---- */

static inline void tl_backend_check(const Backend *b, Graph *g, const WeightSource *w, const NamedTensor *in, int nin,
                                    double tol, BcCheck *f, Tensor **got)
{
    TlCheck c = b->opts ? *(const TlCheck *)b->opts : (TlCheck){0};
    c.expect_error = c.expect_error || f->expect_error;
    c.no_reference = c.no_reference || f->no_reference;
    c.interp_only = c.interp_only || f->interp_only;
    tl_check(g, w, in, nin, tol, &c, got);
}

/* The LLVM JIT checking with options c (NULL: tl_check's defaults), which must outlive it. */
static inline Backend tl_backend(const TlCheck *c) { return (Backend){"LLVM", tl_backend_check, c}; }

#endif
