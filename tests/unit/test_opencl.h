/* test_opencl.h — an in-test executor of plans through the OpenCL backend and the
 * runtime's OpenCL executor, shared by tests/unit/test_opencl*.c.
 *
 * oc_run() does what rt_model.c does around the executor: the plan serialised and parsed
 * as the runtime sees it, symbols bound from the input shapes, parameters stored in their
 * checkpoint layout (test_llvm.h's tl_param), constants from the blob, then rt_ocl_open
 * (programs from the binaries ocl_build made, or from source), the once-launches, the
 * workspace placed by liveness with rt_place (and poisoned with 0xff bytes on the device:
 * VIT_CL_POISON), the run, the outputs read back. oc_check() compares every output with
 * ir_interp and plan_exec, as tl_check does for the LLVM backend; oc_backend() is the
 * OpenCL backend for the cases written once for every backend (backend_cases.h).
 */
#ifndef VITC_TEST_OPENCL_H
#define VITC_TEST_OPENCL_H

#include "test_llvm.h"

#include "../../backends/opencl/ocl_backend.h"
#include "../../backends/plan_blob.h"
#include "../../runtime/rt_ocl.h"

typedef struct {
    bool no_build;       /* no binaries: the runtime builds from source */
    bool expect_error;   /* the run must fail (a gather index out of range) */
    bool no_reference;   /* the interpreter fails on this graph */
    bool interp_only;    /* compare with ir_interp only */
    OclGenOptions gen;
    const char *passes;  /* NULL: the -O1 pipeline */
    int pack_nr;         /* > 0: plan_build_opts packs GEMM weights in panels of this width */
    bool pack_batched;   /* and weights that step over a batch dim in one panel set per index
                            (ocl_plan_options: as vitc compile plans) */
    char error[512];     /* the run's error message, when it failed */
} OcCheck;

/* Generates (and unless no_build, builds) the OpenCL module of p into *blob. */
static inline void oc_module(const Plan *p, const OcCheck *c, Blob *blob)
{
    IrError err = {{0}};
    OclModule *m = ocl_generate(p, c ? &c->gen : NULL, &err);
    if (!m)
        fail_msg("ocl_generate: %s", err.msg);
    if (!(c && c->no_build) && !ocl_build(m, p, NULL, &err)) {
        ocl_module_free(m);
        fail_msg("ocl_build: %s", err.msg);
    }
    if (!ocl_serialize(m, blob, &err))
        fail_msg("ocl_serialize: %s", err.msg);
    ocl_module_free(m);
}

/* Runs plan p with OpenCL section `ocl`. false with msg on failure (setup or run). */
static inline bool oc_run(const Plan *p, const Blob *ocl, const WeightSource *w, const NamedTensor *in, int nin,
                          Tensor **out, char *msg, size_t n)
{
    IrError err = {{0}};
    Blob pb = {0};
    RtPlan *rp = NULL;
    RtOcl *o = NULL;
    bool ok = false;
    int64_t syms[64];
    size_t nb = (size_t)p->nbufs + 1, total = 0;
    char **bufs = calloc(nb, sizeof *bufs), *ws = NULL;
    void **mem = calloc(nb, sizeof *mem);
    RtLive *live = calloc(nb, sizeof *live);
    size_t *off = calloc(nb, sizeof *off);
    msg[0] = 0;
    if (!bufs || !mem || !live || !off)
        goto out;
    if (!plan_serialize(p, &pb, &err)) {
        snprintf(msg, n, "plan_serialize: %s", err.msg);
        goto out;
    }
    if (!(rp = rt_plan_parse(pb.data, pb.len, msg, n)))
        goto out;
    if (!tl_bind(p, in, nin, syms, msg, n))
        goto out;
    for (int32_t b = 0; b < p->nbufs; b++) {
        const Buffer *bf = &p->bufs[b];
        int64_t bytes = rt_buffer_bytes(&rp->bufs[b], syms);
        if (bf->kind == BUF_PARAM) {
            if (!(mem[b] = malloc((size_t)bytes + 1)) || !tl_param(p, b, mem[b], w, msg, n))
                goto out;
            bufs[b] = mem[b];
        } else if (bf->kind == BUF_CONST) {
            if (!(mem[b] = malloc((size_t)bytes + 1)))
                goto out;
            memcpy(mem[b], rp->bufs[b].data, rp->bufs[b].nbytes);
            bufs[b] = mem[b];
        }
    }
    if (!(o = rt_ocl_open(rp, ocl->data, ocl->len, bufs, syms, msg, n)))
        goto out;
    if (rt_ocl_run(o, 1, syms, bufs, NULL, 0, NULL, msg, n))
        goto out;
    /* the workspace, as rt_model.c places it */
    for (int32_t b = 0; b < p->nbufs; b++) {
        const RtBuffer *rb = &rp->bufs[b];
        int64_t first = rb->first < 0 ? 0 : rb->first, last = rb->last < first ? first : rb->last;
        size_t bytes = (size_t)rt_buffer_bytes(rb, syms);
        if (rb->kind == RT_BUF_TEMP)
            live[b] = (RtLive){bytes, first, last};
        else if (rb->kind == RT_BUF_INPUT)
            live[b] = (RtLive){bytes, 0, last};
        else if (rb->kind == RT_BUF_OUTPUT)
            live[b] = (RtLive){bytes, first, p->nkernels};
    }
    if (rt_place(live, p->nbufs, off, &total) != 0 || !(ws = malloc(total + 64)))
        goto out;
    memset(ws, 0xff, total);
    for (int32_t b = 0; b < p->nbufs; b++) {
        int k = rp->bufs[b].kind;
        if (k == RT_BUF_TEMP || k == RT_BUF_INPUT || k == RT_BUF_OUTPUT)
            bufs[b] = ws + off[b];
        if (k != RT_BUF_INPUT)
            continue;
        for (int j = 0; j < nin; j++)
            if (strcmp(in[j].name, p->bufs[b].name) == 0)
                for (int64_t e = 0; e < in[j].t->numel; e++)
                    tl_put(bufs[b], p->bufs[b].dt, e, in[j].t, e);
    }
    if (rt_ocl_run(o, 0, syms, bufs, ws, total, NULL, msg, n))
        goto out;
    ok = tl_outputs(p, syms, bufs, out);
out:
    if (!ok && !msg[0])
        snprintf(msg, n, "out of memory");
    rt_ocl_close(o);
    for (int32_t b = 0; mem && b < p->nbufs; b++)
        free(mem[b]);
    free(mem);
    free(bufs);
    free(live);
    free(off);
    free(ws);
    rt_plan_free(rp);
    ir_free(pb.data);
    return ok;
}

/* Plans g (after c->passes or the -O1 pipeline), runs it through OpenCL and checks every
 * output against ir_interp and plan_exec within tol (relative, tl_diff). The outputs go to
 * got when not NULL (the caller frees them). */
static inline void oc_check(Graph *g, const WeightSource *w, const NamedTensor *in, int nin, double tol, OcCheck *c,
                            Tensor **got)
{
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    setenv("VIT_CL_POISON", "1", 1);
    if (!pass_run_pipeline(g, c && c->passes ? c->passes : pass_default_pipeline(1), &po, &err))
        fail_msg("passes: %s", err.msg);
    PlanOptions plo = {.gemm_pack_nr = c ? c->pack_nr : 0, .gemm_pack_batched = c && c->pack_batched};
    Plan *p = plan_build_opts(g, &plo, &err);
    if (!p)
        fail_msg("plan_build: %s", err.msg);
    Blob blob = {0};
    oc_module(p, c, &blob);
    int no = g->noutputs;
    Tensor **ref = calloc((size_t)no, sizeof *ref), **pe = calloc((size_t)no, sizeof *pe);
    Tensor **out = calloc((size_t)no, sizeof *out);
    assert_true(ref && pe && out);
    bool have_ref = !(c && c->no_reference), interp_only = c && c->interp_only;
    if (have_ref)
        tl_reference(p, w, in, nin, interp_only, ref, pe);
    char msg[512];
    bool ran = oc_run(p, &blob, w, in, nin, out, msg, sizeof msg);
    if (c)
        snprintf(c->error, sizeof c->error, "%s", ran ? "" : msg);
    if (c && c->expect_error) {
        if (ran)
            fail_msg("the run succeeded but an error was expected");
    } else if (!ran) {
        plan_print(p, stderr);
        fail_msg("OpenCL run: %s", msg);
    }
    if (ran && have_ref)
        tl_compare(p, "opencl", "", out, ref, pe, tol, interp_only);
    for (int i = 0; i < no; i++) {
        if (got)
            got[i] = out[i];
        else
            tensor_free(out[i]);
        tensor_free(ref[i]);
        tensor_free(pe[i]);
    }
    free(ref);
    free(pe);
    free(out);
    ir_free(blob.data);
    plan_free(p);
}

/* ---- the OpenCL backend for backend_cases.c ---- */

static inline void oc_backend_check(const Backend *b, Graph *g, const WeightSource *w, const NamedTensor *in, int nin,
                                    double tol, BcCheck *f, Tensor **got)
{
    OcCheck c = b->opts ? *(const OcCheck *)b->opts : (OcCheck){0};
    c.expect_error = c.expect_error || f->expect_error;
    c.no_reference = c.no_reference || f->no_reference;
    c.interp_only = c.interp_only || f->interp_only;
    oc_check(g, w, in, nin, tol, &c, got);
    snprintf(f->error, sizeof f->error, "%s", c.error);
}

/* OpenCL on PoCL checking with options c (NULL: oc_check's defaults), which must outlive it. */
static inline Backend oc_backend(const OcCheck *c) { return (Backend){"OpenCL", oc_backend_check, c}; }

#endif
