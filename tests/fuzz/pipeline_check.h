/* pipeline_check.h — what the fuzz targets check after a graph is accepted (fuzz_vir for
 * .vir text, fuzz_vit for .vit): the -O2 pass pipeline (the verifier after every pass)
 * and the planner, as the reference and the OpenCL backend plan (no packing) and as the LLVM
 * backend does (weights packed in panels of 32 columns, batched weights too). Any of them may
 * reject the graph with a message; none may crash, leak, or report an internal compiler
 * error, and every kernel of a plan must pass plan_kernel_check (the check the backends make
 * before generating code). A small graph (symbols bound to 2) is also run on fixed inputs and
 * weights, as accepted and after the passes by the interpreter and planned by plan_exec: the
 * last two must give the same answer or both an error, and where the graph as accepted gives
 * an answer, so must the passes' graph, the same. With PIPELINE_CHECK_LLVM defined (fuzz_llvm,
 * fuzz_vit_llvm), the small graph's plan as `vitc compile` makes it for this host also runs through the LLVM
 * backend's JIT against plan_exec (llvm_check). A finding aborts with a message.
 */
#ifndef VITC_PIPELINE_CHECK_H
#define VITC_PIPELINE_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "ir.h"
#include "passes.h"
#include "plan.h"

enum { MAX_RUN_NUMEL = 4096, MAX_RUN_NODES = 128, MAX_RUN_SYMS = 64 };

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "pipeline_check: %s: %s\n", what, msg);
    abort();
}

/* Every kernel well formed; the listing and the scopes must not crash. */
static void check_plan(const Plan *p, FILE *null)
{
    char msg[256], scope[256];
    for (int32_t k = 0; k < p->nkernels; k++) {
        if (!plan_kernel_check(p, k, msg, sizeof msg))
            fail("a malformed kernel", msg);
        plan_kernel_scope(p, k, scope, sizeof scope);
        plan_scope_layer(scope);
    }
    plan_print(p, null);
}

/* Fixed values for element k: small, of both signs, exact in every float dtype. */
static double value_at(int64_t k, bool is_float)
{
    return is_float ? (double)((k * 37) % 17 - 8) / 8.0 : (double)(k % 3);
}

/* Each symbol bound to 2 (or its maximum when smaller); whether every value then has at most
 * MAX_RUN_NUMEL elements and the graph at most MAX_RUN_NODES nodes. */
static bool small(const Graph *g, int64_t *bind)
{
    int32_t live = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        live += !g->nodes[i].dead;
    if (live > MAX_RUN_NODES || g->nsyms > MAX_RUN_SYMS)
        return false;
    for (int32_t s = 0; s < g->nsyms; s++)
        bind[s] = g->syms[s].max > 0 && g->syms[s].max < 2 ? g->syms[s].max : 2;
    for (int32_t v = 0; v < g->nvalues; v++) {
        const Shape *s = &ir_type(g, v)->shape;
        int64_t n = 1;
        for (int d = 0; d < s->rank; d++) {
            int64_t e = plan_dim(s->d[d], bind);
            if (e < 0 || e > MAX_RUN_NUMEL)
                return false;
            n *= e;
        }
        if (n > MAX_RUN_NUMEL)
            return false;
    }
    return true;
}

typedef struct {
    const Graph *g;
    void *buf; /* the last tensor handed out (RawTensor.data must live until the next call) */
} Weights;

static bool lookup(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen)
{
    Weights *w = ctx;
    for (int32_t i = 0; i < w->g->nnodes; i++) {
        const Node *n = &w->g->nodes[i];
        if (n->dead || n->op != OP_PARAM || strcmp(n->attr.param.name, name) != 0)
            continue;
        const Type *t = ir_type(w->g, n->out);
        int64_t numel = 1;
        out->dt = t->dt;
        out->rank = t->shape.rank;
        ir_param_stored_shape(n, t, out->dims);
        for (int d = 0; d < t->shape.rank; d++)
            numel *= out->dims[d];
        /* f32 gets the fixed values; any other dtype zeros, which every dtype stores as 0 */
        size_t bytes = (size_t)numel * dtype_size(t->dt);
        free(w->buf);
        if (!(w->buf = calloc(1, bytes ? bytes : 1))) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        if (t->dt == DT_F32)
            for (int64_t k = 0; k < numel; k++)
                ((float *)w->buf)[k] = (float)value_at(k + 5, true);
        out->data = w->buf;
        return true;
    }
    snprintf(err, errlen, "no parameter '%s'", name);
    return false;
}

/* Output `name` of two runs: the same shape and values (NaN where the other has NaN; floats
 * within 1e-4 relative, since the two may sum in different orders and precisions). */
static void compare(const char *what, const char *name, const Tensor *x, const Tensor *y)
{
    char msg[512];
    if (x->dt != y->dt || x->rank != y->rank || x->numel != y->numel ||
        memcmp(x->dims, y->dims, sizeof x->dims[0] * (size_t)x->rank) != 0) {
        snprintf(msg, sizeof msg, "output '%s': dtype or shape differ", name);
        fail(what, msg);
    }
    for (int64_t k = 0; k < x->numel; k++) {
        double u = tensor_get(x, k), v = tensor_get(y, k);
        bool same = dtype_is_float(x->dt) ? (isnan(u) && isnan(v)) || u == v || fabs(u - v) <= 1e-4 * (1 + fabs(u))
                                          : u == v;
        if (!same) {
            snprintf(msg, sizeof msg, "output '%s' element %" PRId64 ": %.9g against %.9g", name, k, u, v);
            fail(what, msg);
        }
    }
}

/* The images one packed sequence holds (the patches input's `images`), 1 without one. */
static int64_t packed_images(const Graph *g)
{
    for (int32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_INPUT && g->nodes[i].attr.input.pack == PACK_PATCHES && g->nodes[i].attr.input.images > 0)
            return g->nodes[i].attr.input.images;
    return 1;
}

/* Element k of T of input n. A packed NaViT input (docs/NAVIT.md) keeps the invariants the
 * passes may rely on, with S images: three quarters of the tokens are images, in order and
 * contiguous, the rest padding (seg -1, row and col 0, height and width 1); patches and an
 * input without a role get the fixed values. */
static double input_value(const Node *n, DType dt, int64_t k, int64_t T, int64_t S)
{
    int64_t used = T - T / 4;
    switch (n->attr.input.pack) {
    case PACK_SEG: return k < used ? (double)(k * (S < used ? S : used) / used) : -1;
    case PACK_ROW: case PACK_COL: return k < used ? (double)(k % 2) : 0;
    case PACK_HEIGHT: case PACK_WIDTH: return k < used ? 2 : 1;
    default: return value_at(k, dtype_is_float(dt));
    }
}

/* Runs g (ir_interp) or p (plan_exec) on `in` and the fixed weights; out[0..noutputs). */
static bool run(const Graph *g, const Plan *p, const NamedTensor *in, int nin, Tensor **out, IrError *err)
{
    Weights w = {g, NULL};
    WeightSource ws = {lookup, &w};
    bool ok = p ? plan_exec(p, &ws, in, nin, out, err) : ir_interp(g, &ws, in, nin, out, err);
    free(w.buf);
    return ok;
}

static void free_outputs(Tensor **t, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        tensor_free(t[i]);
}

/* The fixed inputs of g (symbols bound by bind) in in[0..*nin), at most 16; false when g has
 * more or memory runs out (then none is left allocated). *packed: g has packed NaViT inputs. */
static bool make_inputs(const Graph *g, const int64_t *bind, NamedTensor *in, int *nin, bool *packed)
{
    int64_t images = packed_images(g);
    *nin = 0;
    *packed = false;
    for (int32_t i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_INPUT)
            continue;
        const Type *t = ir_type(g, n->out);
        int64_t dims[IR_MAX_RANK];
        for (int d = 0; d < t->shape.rank; d++)
            dims[d] = plan_dim(t->shape.d[d], bind);
        Tensor *x = *nin < 16 ? tensor_new(t->dt, t->shape.rank, dims) : NULL;
        if (!x) {
            for (int j = 0; j < *nin; j++)
                tensor_free((Tensor *)in[j].t);
            return false;
        }
        *packed |= n->attr.input.pack != PACK_NONE;
        for (int64_t k = 0; k < x->numel; k++)
            tensor_set(x, k, input_value(n, t->dt, k, x->numel, images));
        in[(*nin)++] = (NamedTensor){n->attr.input.name, x};
    }
    return true;
}

static void free_inputs(NamedTensor *in, int nin)
{
    for (int i = 0; i < nin; i++)
        tensor_free((Tensor *)in[i].t);
}

/* The graph as parsed (g0) and after the passes (g) in the interpreter, and g's plan p in
 * plan_exec, on the same inputs: g and p give the same answer or both an error, and where
 * g0 gives an answer, g gives the same. */
static void run_all(const Graph *g0, const Graph *g, const Plan *p, const int64_t *bind)
{
    NamedTensor in[16];
    int nin = 0;
    Tensor *a[64] = {0}, *b[64] = {0}, *c[64] = {0};
    bool packed_graph = false;
    if (g0->noutputs > 64 || g->noutputs != g0->noutputs || !make_inputs(g0, bind, in, &nin, &packed_graph))
        return;
    IrError e0, ea, eb;
    bool r0 = run(g0, NULL, in, nin, c, &e0);
    bool ra = run(g, NULL, in, nin, a, &ea);
    bool rb = run(g, p, in, nin, b, &eb);
    char msg[1024];
    if (ra != rb) {
        snprintf(msg, sizeof msg, "the interpreter %s, plan_exec %s", ra ? "ran" : ea.msg, rb ? "ran" : eb.msg);
        fail("the interpreter and the plan disagree", msg);
    }
    if (r0 && !ra) {
        snprintf(msg, sizeof msg, "the graph ran before the passes, not after: %s", ea.msg);
        fail("the passes changed the graph's meaning", msg);
    }
    for (int32_t i = 0; ra && i < g->noutputs; i++)
        compare("the interpreter and the plan disagree", g->outputs[i].name, a[i], b[i]);
    /* packing-mask-elimination may change the rows a dense mask fills with garbage (padding
     * queries, empty slots: docs/NAVIT.md), so a packed graph is compared after the passes only */
    for (int32_t i = 0; r0 && !packed_graph && i < g->noutputs; i++)
        compare("the passes changed the graph's meaning", g0->outputs[i].name, c[i], a[i]);
    free_outputs(a, g->noutputs);
    free_outputs(b, g->noutputs);
    free_outputs(c, g0->noutputs);
    free_inputs(in, nin);
}

#ifdef PIPELINE_CHECK_LLVM
#include "../unit/jit_exec.h"

/* Output `name` of the LLVM run x against plan_exec's y: NaN exactly where y has NaN (the
 * memory no kernel writes is NaN bytes), infinities equal, other floats within 1e-3
 * relative (f32 sums in another order than plan_exec's double ones, the vector exp / erf /
 * tanh), integers equal. */
static void compare_llvm(const char *name, const Tensor *x, const Tensor *y)
{
    char msg[512];
    for (int64_t k = 0; k < x->numel; k++) {
        double u = tensor_get(x, k), v = tensor_get(y, k);
        bool same = !dtype_is_float(x->dt) ? u == v
                    : isnan(u) || isnan(v) ? isnan(u) && isnan(v)
                    : isinf(u) || isinf(v) ? u == v
                                           : fabs(u - v) <= 1e-3 * (1 + fabs(v));
        if (!same) {
            snprintf(msg, sizeof msg, "output '%s' element %" PRId64 ": LLVM %.9g, plan_exec %.9g", name, k, u, v);
            fail("the LLVM backend and plan_exec disagree", msg);
        }
    }
}

/* p (planned as `vitc compile` plans for this host) JIT-compiled at -O2 and run on the fixed
 * inputs and weights with every kernel's extent whole and in 3 chunks: the same outputs as
 * plan_exec's run of p (compare_llvm), bit for bit the same in both runs, the error cell
 * clear. A plan the backend cannot generate is a finding; inputs plan_exec rejects (an
 * index out of range) are not compared. */
static void llvm_check(const Graph *g, const Plan *p, const int64_t *bind)
{
    NamedTensor in[16];
    int nin = 0;
    bool packed = false;
    Tensor *ref[64] = {0}, *x1[64] = {0}, *x3[64] = {0};
    IrError err;
    if (g->noutputs > 64 || !make_inputs(g, bind, in, &nin, &packed))
        return;
    if (!run(g, p, in, nin, ref, &err)) {
        free_inputs(in, nin);
        return;
    }
    LlvmOptions lo = {.opt_level = 2};
    LlvmJit *jit = llvm_jit_new(p, &lo, &err);
    if (!jit)
        fail("the LLVM backend cannot generate a verified plan", err.msg);
    Weights w = {g, NULL};
    WeightSource ws = {lookup, &w};
    TlRun r1 = {0}, r3 = {0};
    char msg[256] = "";
    if (!tl_run(p, jit, &ws, in, nin, 1, x1, &r1, msg, sizeof msg) ||
        !tl_run(p, jit, &ws, in, nin, 3, x3, &r3, msg, sizeof msg))
        fail("the JIT run could not be set up", msg);
    if (r1.error_cell || r3.error_cell)
        fail("the LLVM backend", "the kernels set the error cell where plan_exec ran");
    for (int32_t i = 0; i < g->noutputs; i++) {
        compare_llvm(g->outputs[i].name, x1[i], ref[i]);
        for (int64_t k = 0; k < x1[i]->numel; k++) {
            double u = tensor_get(x1[i], k), v = tensor_get(x3[i], k);
            if (!(u == v || (isnan(u) && isnan(v)))) {
                snprintf(msg, sizeof msg, "output '%s' element %" PRId64 ": %.9g whole, %.9g in 3 chunks",
                         g->outputs[i].name, k, u, v);
                fail("the LLVM kernels depend on how their extent is cut", msg);
            }
        }
    }
    free(w.buf);
    free_outputs(ref, g->noutputs);
    free_outputs(x1, g->noutputs);
    free_outputs(x3, g->noutputs);
    llvm_jit_free(jit);
    free_inputs(in, nin);
}
#endif

/* g0 and g: two copies of one accepted graph (both freed here). */
static void pipeline_check(Graph *g0, Graph *g, FILE *null)
{
    PassOptions po = {.dump = null, .log = null};
    IrError err;
    if (!pass_run_pipeline(g, pass_default_pipeline(2), &po, &err)) {
        if (pass_error_is_internal(&err))
            fail("the pass pipeline", err.msg);
        ir_graph_free(g);
        ir_graph_free(g0);
        return;
    }
    Plan *p = plan_build(g, &err);
    int64_t bind[MAX_RUN_SYMS];
    bool runs = small(g0, bind) && small(g, bind);
    if (p) {
        check_plan(p, null);
        if (runs)
            run_all(g0, g, p, bind);
        plan_free(p);
    }
    PlanOptions opts = {32, true};
#ifdef PIPELINE_CHECK_LLVM
    llvm_plan_options(&(LlvmOptions){.opt_level = 2}, &opts); /* this host's panels */
#endif
    if ((p = plan_build_opts(g, &opts, &err))) {
        check_plan(p, null);
#ifdef PIPELINE_CHECK_LLVM
        if (runs)
            llvm_check(g, p, bind);
#endif
        plan_free(p);
    }
    ir_graph_free(g);
    ir_graph_free(g0);
}

#endif
