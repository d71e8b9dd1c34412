/* test_llvm.h — an in-test executor of JIT-compiled plans, shared by tests/unit/test_llvm*.c.
 *
 * llvm_run() does what the runtime will: binds the symbols from the input shapes,
 * allocates every buffer in its dtype's memory layout (inputs and constants filled,
 * parameters read through a WeightSource and stored back in the checkpoint's layout as
 * ir/plan_exec.c does, everything else filled with 0xff bytes so an element no kernel
 * writes shows up as a NaN), then calls every kernel over its extent in `chunks` pieces
 * (checking begin/end) and returns the outputs as interpreter tensors. The results are
 * compared with ir_interp and plan_exec on the same graph. tl_backend() is the LLVM
 * backend for the cases written once for every backend (backend_cases.h).
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

/* ---- buffers in memory ---- */

static inline void tl_put(void *mem, DType dt, int64_t k, const Tensor *t, int64_t i)
{
    double v = tensor_get(t, i);
    switch (dt) {
    case DT_F32: ((float *)mem)[k] = (float)v; break;
    case DT_F16: ((uint16_t *)mem)[k] = st_f32_to_f16((float)v); break;
    case DT_BF16: ((uint16_t *)mem)[k] = st_f32_to_bf16((float)v); break;
    case DT_I32: ((int32_t *)mem)[k] = (int32_t)t->i[i]; break;
    case DT_I64: ((int64_t *)mem)[k] = t->i[i]; break;
    default: ((uint8_t *)mem)[k] = t->i[i] != 0; break;
    }
}

static inline void tl_get(const void *mem, DType dt, int64_t k, Tensor *t, int64_t i)
{
    switch (dt) {
    case DT_F32: t->f[i] = ((const float *)mem)[k]; break;
    case DT_F16: t->f[i] = st_f16_to_f32(((const uint16_t *)mem)[k]); break;
    case DT_BF16: t->f[i] = st_bf16_to_f32(((const uint16_t *)mem)[k]); break;
    case DT_I32: t->i[i] = ((const int32_t *)mem)[k]; break;
    case DT_I64: t->i[i] = ((const int64_t *)mem)[k]; break;
    default: t->i[i] = ((const uint8_t *)mem)[k]; break;
    }
}

static inline bool tl_next(int64_t *idx, const int64_t *dims, int rank)
{
    for (int i = rank - 1; i >= 0; i--) {
        if (++idx[i] < dims[i])
            return true;
        idx[i] = 0;
    }
    return false;
}

/* Fills parameter buffer `mem` (stored shape) from the weight source; false on failure. */
static inline bool tl_param(const Plan *p, int32_t b, void *mem, const WeightSource *w, char *msg, size_t n)
{
    const Buffer *buf = &p->bufs[b];
    const Node *node = &p->g->nodes[p->g->values[buf->value].node];
    RawTensor raw;
    IrError err;
    if (!w || !w->lookup(w->ctx, buf->name, &raw, msg, n))
        return false;
    Tensor *l = ir_param_from_raw(p->g, node, &raw, &err);
    if (!l) {
        snprintf(msg, n, "%s", err.msg);
        return false;
    }
    int64_t sd[IR_MAX_RANK];
    for (int r = 0; r < buf->shape.rank; r++)
        sd[r] = buf->shape.d[r].n;
    const IntList *lay = &node->attr.param.layout;
    int64_t idx[IR_MAX_RANK] = {0}, k = 0;
    if (l->numel)
        do {
            int64_t si[IR_MAX_RANK], o = 0;
            for (int r = 0; r < l->rank; r++)
                si[lay->n ? lay->v[r] : r] = idx[r];
            for (int r = 0; r < buf->shape.rank; r++)
                o = o * sd[r] + si[r];
            tl_put(mem, buf->dt, o, l, k++);
        } while (tl_next(idx, l->dims, l->rank));
    tensor_free(l);
    return true;
}

/* Binds every symbol of p's graph (64 at most) from the shapes of the inputs, 1 where no
 * input binds it; false with msg when an input is missing or of another rank. */
static inline bool tl_bind(const Plan *p, const NamedTensor *in, int nin, int64_t *syms, char *msg, size_t n)
{
    for (int s = 0; s < 64; s++)
        syms[s] = 1;
    for (int32_t b = 0; b < p->nbufs; b++) {
        const Buffer *bf = &p->bufs[b];
        if (bf->kind != BUF_INPUT)
            continue;
        const Tensor *t = NULL;
        for (int j = 0; j < nin; j++)
            if (strcmp(in[j].name, bf->name) == 0)
                t = in[j].t;
        if (!t || t->rank != bf->shape.rank) {
            snprintf(msg, n, "no (or a wrong) tensor for input '%s'", bf->name);
            return false;
        }
        for (int r = 0; r < t->rank; r++)
            if (!dim_is_const(bf->shape.d[r]))
                syms[bf->shape.d[r].sym] = t->dims[r] / bf->shape.d[r].n;
    }
    return true;
}

/* Reads every output of p from its buffer in bufs into out; false when out of memory. */
static inline bool tl_outputs(const Plan *p, const int64_t *syms, char *const *bufs, Tensor **out)
{
    for (int32_t i = 0; i < p->g->noutputs; i++) {
        int32_t b = p->output_bufs[i];
        const Buffer *bf = &p->bufs[b];
        int64_t dims[IR_MAX_RANK];
        for (int r = 0; r < bf->shape.rank; r++)
            dims[r] = dim_eval(bf->shape.d[r], syms);
        if (!(out[i] = tensor_new(bf->dt, bf->shape.rank, dims)))
            return false;
        for (int64_t e = 0; e < out[i]->numel; e++)
            tl_get(bufs[b], bf->dt, e, out[i], e);
    }
    return true;
}

typedef struct {
    int32_t error_cell;     /* what the kernels left in the error cell */
    double seconds;         /* time spent in the kernels */
    double *kernel_seconds; /* when not NULL: per kernel (nkernels entries) */
} TlRun;

static inline double tl_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs plan p through a JIT with each kernel's extent split into `chunks` pieces. Outputs
 * go to out[0..noutputs). false with msg on failure (set up, not numerics). */
static inline bool tl_run(const Plan *p, const LlvmJit *jit, const WeightSource *w, const NamedTensor *in, int nin,
                          int chunks, Tensor **out, TlRun *info, char *msg, size_t n)
{
    const Graph *g = p->g;
    int64_t bind[64];
    bool ok = false;
    void **mem = calloc((size_t)p->nbufs + 1, sizeof *mem);
    char **bufs = calloc((size_t)p->nbufs + 1, sizeof *bufs);
    int32_t cell = 0;
    if (!mem || !bufs || !tl_bind(p, in, nin, bind, msg, n))
        goto out;
    for (int32_t b = 0; b < p->nbufs; b++) {
        const Buffer *bf = &p->bufs[b];
        int64_t numel = shape_numel(&bf->shape, bind);
        size_t bytes = (size_t)numel * dtype_size(bf->dt);
        mem[b] = malloc(bytes ? bytes : 1);
        if (!mem[b])
            goto out;
        memset(mem[b], 0xff, bytes);
        bufs[b] = mem[b];
        if (bf->kind == BUF_INPUT) {
            for (int j = 0; j < nin; j++)
                if (strcmp(in[j].name, bf->name) == 0)
                    for (int64_t e = 0; e < numel; e++)
                        tl_put(mem[b], bf->dt, e, in[j].t, e);
        } else if (bf->kind == BUF_CONST) {
            const FloatList *d = &g->nodes[g->values[bf->value].node].attr.constant.data;
            Tensor *t = tensor_new(bf->dt, 0, NULL);
            for (int64_t e = 0; t && e < numel; e++) {
                tensor_set(t, 0, d->v[d->n == 1 ? 0 : e]);
                tl_put(mem[b], bf->dt, e, t, 0);
            }
            tensor_free(t);
        } else if (bf->kind == BUF_PARAM && !tl_param(p, b, mem[b], w, msg, n)) {
            goto out;
        }
    }
    bufs[p->nbufs] = (char *)&cell;
    double t0 = tl_now();
    for (int32_t k = 0; k < p->nkernels; k++) {
        double tk = tl_now();
        int64_t ext = llvm_jit_extent(jit, k)(bind);
        VitKernelFn fn = llvm_jit_kernel(jit, k);
        for (int c = 0; c < chunks; c++)
            fn(bufs, bind, ext * c / chunks, ext * (c + 1) / chunks);
        if (info && info->kernel_seconds)
            info->kernel_seconds[k] = tl_now() - tk;
    }
    if (info) {
        info->error_cell = cell;
        info->seconds = tl_now() - t0;
    }
    ok = tl_outputs(p, bind, bufs, out);
out:
    if (!ok && !msg[0])
        snprintf(msg, n, "out of memory");
    for (int32_t b = 0; mem && b < p->nbufs; b++)
        free(mem[b]);
    free(mem);
    free(bufs);
    return ok;
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
