/* rt_ocl.c — the OpenCL executor: runs a model's launches (rt_ocl.h) on an OpenCL device
 * behind the same vitrt.h ABI as the CPU kernels (rt_model.c calls it).
 *
 *   open   parse vit__ocl; choose the device (VIT_CL_DEVICE, else the one the binaries
 *          were built for, else the first); a context and an in-order queue; each program
 *          from its binary when it was built for this device and driver (from source when
 *          not, or when the binary does not build); one cl_kernel per launch; parameters
 *          and constants uploaded once (their host memory is the runtime's checked and
 *          converted copy; rt_model.c then gives the mapped file's pages back), folded and
 *          packed buffers allocated on the device; after the once-launches (weights packed
 *          into panels) the parameters only they read are freed.
 *   run    the device workspace mirrors the host one (same offsets, so the runtime's
 *          placement by liveness serves both); inputs are written, the launches enqueued
 *          in order, then the error cell and the outputs are read back (blocking).
 *
 * Every OpenCL failure is a message naming the call, the error and the kernel; nothing
 * aborts. VIT_CL_VERBOSE=1 prints the device and where each program came from on stderr.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_ocl.h"

extern const unsigned char vit__ocl[] __attribute__((weak));
extern const unsigned long long vit__ocl_size __attribute__((weak));

struct RtOcl {
    const RtPlan *plan;
    RtOclBlob *blob;
    cl_platform_id plat;
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    cl_program *progs;
    cl_kernel *kernels;  /* per launch */
    cl_mem *mem;         /* per plan buffer with memory of its own (params, constants, folded) */
    cl_mem *xmem;        /* per extra buffer */
    size_t *xcap;
    cl_mem ws, errbuf;
    size_t ws_cap;
    cl_int zero[2], cell[2];
    int from_binary;
    bool poison;         /* VIT_CL_POISON=1: fill the workspace with 0xff bytes before a run */
    char desc[600];
};

static int clfail(char *err, size_t errlen, const char *call, cl_int rc, const char *what)
{
    return rt_errf(err, errlen, "OpenCL: %s failed with %s (%d)%s%s", call, rt_ocl_error_name(rc), (int)rc,
                   what ? " " : "", what ? what : "");
}

int rt_ocl_present(void) { return vit__ocl && &vit__ocl_size ? 1 : 0; }

static bool verbose(void)
{
    const char *v = getenv("VIT_CL_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

/* The label of the first launch of program `pg` ("k12 gemm m.vit:3:4"). */
static const char *program_label(const RtOcl *o, int pg)
{
    for (int i = 0; i < o->blob->nlaunches; i++)
        if (o->blob->launches[i].program == pg)
            return o->plan->kernels[o->blob->launches[i].kernel].label;
    return "(unused)";
}

/* ---- programs ---- */

static int build_from_source(RtOcl *o, int pg, char *err, size_t errlen)
{
    const RtOclProgram *p = &o->blob->progs[pg];
    const char *src = p->source;
    cl_int rc;
    o->progs[pg] = clCreateProgramWithSource(o->ctx, 1, &src, NULL, &rc);
    if (rc != CL_SUCCESS)
        return clfail(err, errlen, "clCreateProgramWithSource", rc, program_label(o, pg));
    rc = clBuildProgram(o->progs[pg], 1, &o->dev, o->blob->options, NULL, NULL);
    if (rc == CL_SUCCESS)
        return 0;
    char log[1536] = "";
    clGetProgramBuildInfo(o->progs[pg], o->dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
    log[sizeof log - 1] = 0;
    return rt_errf(err, errlen, "OpenCL: kernel %s (for %s) does not build on %s: %s (%d)\n%s", p->name,
                   program_label(o, pg), o->desc, rt_ocl_error_name(rc), (int)rc, log);
}

/* From the binary when it was made for this device and driver and loads; else source. */
static int build_program(RtOcl *o, int pg, bool binaries_fit, char *err, size_t errlen)
{
    const RtOclProgram *p = &o->blob->progs[pg];
    if (binaries_fit && p->binary) {
        const unsigned char *bin = p->binary;
        size_t n = p->nbinary;
        cl_int status = CL_SUCCESS, rc;
        cl_program prog = clCreateProgramWithBinary(o->ctx, 1, &o->dev, &n, &bin, &status, &rc);
        if (rc == CL_SUCCESS && status == CL_SUCCESS &&
            clBuildProgram(prog, 1, &o->dev, o->blob->options, NULL, NULL) == CL_SUCCESS) {
            o->progs[pg] = prog;
            o->from_binary++;
            return 0;
        }
        if (prog)
            clReleaseProgram(prog);
        if (verbose())
            fprintf(stderr, "vitc OpenCL: the binary of %s does not load; building it from source\n", p->name);
    }
    return build_from_source(o, pg, err, errlen);
}

/* ---- memory ---- */

static cl_mem new_buffer(RtOcl *o, size_t bytes, const void *host, char *err, size_t errlen, const char *what)
{
    cl_int rc;
    cl_mem_flags fl = CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem m = clCreateBuffer(o->ctx, fl, bytes ? bytes : RT_ALIGN, bytes ? (void *)host : NULL, &rc);
    if (rc != CL_SUCCESS) {
        char w[300];
        snprintf(w, sizeof w, "for %s (%zu bytes)", what, bytes);
        clfail(err, errlen, "clCreateBuffer", rc, w);
        return NULL;
    }
    return m;
}

/* Grows *m to at least `bytes` (its contents are not kept). */
static int ensure(RtOcl *o, cl_mem *m, size_t *cap, size_t bytes, char *err, size_t errlen, const char *what)
{
    if (*m && *cap >= bytes)
        return 0;
    if (*m)
        clReleaseMemObject(*m);
    *cap = 0;
    if (!(*m = new_buffer(o, bytes, NULL, err, errlen, what)))
        return -1;
    *cap = bytes;
    return 0;
}

static int64_t xbuf_bytes(const RtOclXBuf *x, const int64_t *syms)
{
    int64_t n = rt_dim(x->size, syms), es = (int64_t)rt_dtype_size(x->dtype);
    return n < 0 || n > INT64_MAX / es ? -1 : n * es;
}

static int alloc_memory(RtOcl *o, char *const *bufs, const int64_t *syms, char *err, size_t errlen)
{
    const RtPlan *p = o->plan;
    for (int i = 0; i < p->nbufs; i++) {
        const RtBuffer *b = &p->bufs[i];
        if (b->kind != RT_BUF_PARAM && b->kind != RT_BUF_CONST && b->kind != RT_BUF_FOLDED)
            continue;
        int64_t bytes = rt_buffer_bytes(b, syms);
        char what[300];
        snprintf(what, sizeof what, "buffer %d%s%s", i, b->name ? " " : "", b->name ? b->name : "");
        if (bytes < 0)
            return rt_errf(err, errlen, "OpenCL: %s is too large", what);
        const void *host = b->kind == RT_BUF_FOLDED ? NULL : bufs[i];
        if (b->kind != RT_BUF_FOLDED && !host && bytes)
            return rt_errf(err, errlen, "OpenCL: %s has no host data to upload", what);
        if (!(o->mem[i] = new_buffer(o, (size_t)bytes, host, err, errlen, what)))
            return -1;
    }
    for (int x = 0; x < o->blob->nxbufs; x++) {
        const RtOclXBuf *xb = &o->blob->xbufs[x];
        if (xb->kind != RT_OCL_PERSIST)
            continue;
        int64_t bytes = xbuf_bytes(xb, syms);
        if (bytes < 0 || ensure(o, &o->xmem[x], &o->xcap[x], (size_t)bytes, err, errlen, "packed weights"))
            return bytes < 0 ? rt_errf(err, errlen, "OpenCL: packed buffer %d is too large", x) : -1;
    }
    return (o->errbuf = new_buffer(o, sizeof o->zero, o->zero, err, errlen, "the error cell")) ? 0 : -1;
}

/* ---- opening ---- */

RtOcl *rt_ocl_open(const RtPlan *plan, const void *blob, size_t len, char *const *bufs, const int64_t *syms,
                   char *err, size_t errlen)
{
    if (!blob) {
        if (!rt_ocl_present()) {
            rt_errf(err, errlen, "this object holds no OpenCL model (vit__ocl is missing)");
            return NULL;
        }
        blob = vit__ocl;
        len = (size_t)vit__ocl_size;
    }
    RtOcl *o = calloc(1, sizeof *o);
    if (!o) {
        rt_errf(err, errlen, "out of memory");
        return NULL;
    }
    o->plan = plan;
    if (!(o->blob = rt_ocl_blob_parse(blob, len, plan, err, errlen)))
        goto fail;
    const RtOclBlob *b = o->blob;
    void *plat = NULL, *dev = NULL;
    const char *spec = getenv("VIT_CL_DEVICE");
    if (rt_ocl_pick_device(spec, b->device, &plat, &dev, err, errlen) != 0) {
        if (spec && *spec) {
            char msg[2400];
            snprintf(msg, sizeof msg, "VIT_CL_DEVICE=%s: %s", spec, err);
            snprintf(err, errlen, "%s", msg);
        }
        goto fail;
    }
    o->plat = plat;
    o->dev = dev;
    char pname[256], dname[256], driver[256];
    rt_ocl_device_strings(plat, dev, pname, dname, driver, sizeof pname);
    snprintf(o->desc, sizeof o->desc, "%s (%s, driver %s)", dname, pname, driver);
    cl_int rc;
    o->ctx = clCreateContext(NULL, 1, &o->dev, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) {
        clfail(err, errlen, "clCreateContext", rc, o->desc);
        goto fail;
    }
    o->q = clCreateCommandQueue(o->ctx, o->dev, 0, &rc);
    if (rc != CL_SUCCESS) {
        clfail(err, errlen, "clCreateCommandQueue", rc, o->desc);
        goto fail;
    }
    o->progs = calloc((size_t)b->nprogs + 1, sizeof *o->progs);
    o->kernels = calloc((size_t)b->nlaunches + 1, sizeof *o->kernels);
    o->mem = calloc((size_t)plan->nbufs + 1, sizeof *o->mem);
    o->xmem = calloc((size_t)b->nxbufs + 1, sizeof *o->xmem);
    o->xcap = calloc((size_t)b->nxbufs + 1, sizeof *o->xcap);
    if (!o->progs || !o->kernels || !o->mem || !o->xmem || !o->xcap) {
        rt_errf(err, errlen, "out of memory");
        goto fail;
    }
    bool fit = strcmp(b->device, dname) == 0 && strcmp(b->driver, driver) == 0 && strcmp(b->platform, pname) == 0;
    for (int pg = 0; pg < b->nprogs; pg++)
        if (build_program(o, pg, fit, err, errlen))
            goto fail;
    for (int l = 0; l < b->nlaunches; l++) {
        const RtOclProgram *pg = &b->progs[b->launches[l].program];
        o->kernels[l] = clCreateKernel(o->progs[b->launches[l].program], pg->name, &rc);
        if (rc != CL_SUCCESS) {
            char w[400];
            snprintf(w, sizeof w, "for %s (%s)", pg->name, plan->kernels[b->launches[l].kernel].label);
            clfail(err, errlen, "clCreateKernel", rc, w);
            goto fail;
        }
    }
    if (alloc_memory(o, bufs, syms, err, errlen))
        goto fail;
    const char *poison = getenv("VIT_CL_POISON");
    o->poison = poison && *poison && strcmp(poison, "0") != 0;
    if (verbose())
        fprintf(stderr, "vitc OpenCL: %s; %d of %d programs from binaries%s\n", o->desc, o->from_binary, b->nprogs,
                fit ? "" : " (they were built for another device or driver)");
    return o;
fail:
    rt_ocl_close(o);
    return NULL;
}

const char *rt_ocl_device_name(const RtOcl *o) { return o ? o->desc : ""; }

void rt_ocl_close(RtOcl *o)
{
    if (!o)
        return;
    if (o->q)
        clFinish(o->q);
    for (int l = 0; o->kernels && l < o->blob->nlaunches; l++)
        if (o->kernels[l])
            clReleaseKernel(o->kernels[l]);
    for (int pg = 0; o->progs && pg < o->blob->nprogs; pg++)
        if (o->progs[pg])
            clReleaseProgram(o->progs[pg]);
    for (int i = 0; o->mem && i < o->plan->nbufs; i++)
        if (o->mem[i])
            clReleaseMemObject(o->mem[i]);
    for (int x = 0; o->xmem && x < o->blob->nxbufs; x++)
        if (o->xmem[x])
            clReleaseMemObject(o->xmem[x]);
    if (o->ws)
        clReleaseMemObject(o->ws);
    if (o->errbuf)
        clReleaseMemObject(o->errbuf);
    if (o->q)
        clReleaseCommandQueue(o->q);
    if (o->ctx)
        clReleaseContext(o->ctx);
    free(o->progs);
    free(o->kernels);
    free(o->mem);
    free(o->xmem);
    free(o->xcap);
    rt_ocl_blob_free(o->blob);
    free(o);
}

/* ---- running ---- */

static int set_args(RtOcl *o, int l, const int64_t *syms, char *const *bufs, const char *ws, char *err,
                    size_t errlen)
{
    const RtOclLaunch *ln = &o->blob->launches[l];
    const char *label = o->plan->kernels[ln->kernel].label;
    cl_uint ai = 0;
    for (int a = 0; a < ln->nargs; a++) {
        const RtOclArg *g = &ln->args[a];
        cl_mem m = NULL;
        cl_long v = 0;
        bool pair = g->kind == RT_OCL_ARG_BUF || g->kind == RT_OCL_ARG_XBUF;
        if (g->kind == RT_OCL_ARG_BUF) {
            int b = (int)g->value;
            m = o->mem[b];
            if (!m) {
                if (!ws || !bufs[b])
                    return rt_errf(err, errlen, "OpenCL: kernel %s uses buffer %d, which has no memory at this point",
                                   label, b);
                m = o->ws;
                v = (cl_long)((size_t)(bufs[b] - ws) / rt_dtype_size(o->plan->bufs[b].dtype));
            }
        } else if (g->kind == RT_OCL_ARG_XBUF) {
            if (!(m = o->xmem[g->value]))
                return rt_errf(err, errlen, "OpenCL: kernel %s uses packed buffer %d, which has no memory at this "
                               "point", label, (int)g->value);
        } else if (g->kind == RT_OCL_ARG_SYM) {
            v = (cl_long)syms[g->value];
        } else if (g->kind == RT_OCL_ARG_KERNEL) {
            v = ln->kernel;
        } else {
            m = o->errbuf;
        }
        cl_int rc = CL_SUCCESS;
        if (m)
            rc = clSetKernelArg(o->kernels[l], ai++, sizeof m, &m);
        if (rc == CL_SUCCESS && (pair || !m))
            rc = clSetKernelArg(o->kernels[l], ai++, sizeof v, &v);
        if (rc != CL_SUCCESS) {
            char w[300];
            snprintf(w, sizeof w, "(argument %u of %s)", ai, label);
            return clfail(err, errlen, "clSetKernelArg", rc, w);
        }
    }
    return 0;
}

/* Enqueues launch l; with a profile, waits and records its time. */
static int launch(RtOcl *o, int l, const int64_t *syms, RtProfile *prof, char *err, size_t errlen)
{
    const RtOclLaunch *ln = &o->blob->launches[l];
    int64_t n = rt_ocl_global_size(ln, syms);
    if (n == 0)
        return 0;
    if (n < 0)
        return rt_errf(err, errlen, "OpenCL: the global size of %s overflows", o->plan->kernels[ln->kernel].label);
    size_t global = (size_t)n, local = (size_t)ln->local;
    double t0 = prof ? rt_now() : 0;
    cl_int rc = clEnqueueNDRangeKernel(o->q, o->kernels[l], 1, NULL, &global,
                                       local && global % local == 0 ? &local : NULL, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        char w[400];
        snprintf(w, sizeof w, "for %s (global size %zu)", o->plan->kernels[ln->kernel].label, global);
        return clfail(err, errlen, "clEnqueueNDRangeKernel", rc, w);
    }
    if (prof) {
        if ((rc = clFinish(o->q)) != CL_SUCCESS)
            return clfail(err, errlen, "clFinish", rc, o->plan->kernels[ln->kernel].label);
        const RtKernel *k = &o->plan->kernels[ln->kernel];
        bool last = l + 1 == o->blob->nlaunches || o->blob->launches[l + 1].kernel != ln->kernel;
        double flops = last ? k->flops * (k->flops_sym >= 0 ? (double)syms[k->flops_sym] : 1.0) : 0;
        rt_profile_add(prof, ln->kernel, rt_now() - t0, flops, n);
    }
    return 0;
}

/* Uploads the inputs (once = 0) and sizes the workspace and the scratch buffers. */
static int prepare(RtOcl *o, const int64_t *syms, char *const *bufs, const char *ws, size_t ws_size, char *err,
                   size_t errlen)
{
    const RtPlan *p = o->plan;
    if (ensure(o, &o->ws, &o->ws_cap, ws_size, err, errlen, "the workspace"))
        return -1;
    if (o->poison) { /* an element no kernel writes then reads as NaN */
        const cl_uchar ff = 0xff;
        cl_int rc = clEnqueueFillBuffer(o->q, o->ws, &ff, 1, 0, o->ws_cap, 0, NULL, NULL);
        if (rc != CL_SUCCESS)
            return clfail(err, errlen, "clEnqueueFillBuffer", rc, "(poisoning the workspace)");
    }
    for (int x = 0; x < o->blob->nxbufs; x++) {
        const RtOclXBuf *xb = &o->blob->xbufs[x];
        int64_t bytes = xbuf_bytes(xb, syms);
        if (xb->kind == RT_OCL_SCRATCH &&
            (bytes < 0 || ensure(o, &o->xmem[x], &o->xcap[x], (size_t)bytes, err, errlen, "packed operands")))
            return bytes < 0 ? rt_errf(err, errlen, "OpenCL: scratch buffer %d is too large", x) : -1;
    }
    for (int i = 0; i < p->nbufs; i++) {
        if (p->bufs[i].kind != RT_BUF_INPUT || !bufs[i])
            continue;
        int64_t bytes = rt_buffer_bytes(&p->bufs[i], syms);
        size_t off = (size_t)(bufs[i] - ws);
        if (bytes < 0 || off + (size_t)bytes > ws_size)
            return rt_errf(err, errlen, "OpenCL: input buffer %d lies outside the workspace", i);
        cl_int rc = clEnqueueWriteBuffer(o->q, o->ws, CL_FALSE, off, (size_t)bytes, bufs[i], 0, NULL, NULL);
        if (rc != CL_SUCCESS)
            return clfail(err, errlen, "clEnqueueWriteBuffer", rc, "(the input)");
    }
    return 0;
}

/* After the once-launches: the device copies of parameters and constants that only they
 * read (weights packed into panels at open, expert weights included) are freed, so the
 * device holds one copy of each weight. */
static void release_once_only(RtOcl *o)
{
    const RtPlan *p = o->plan;
    const RtOclBlob *b = o->blob;
    for (int i = 0; i < p->nbufs; i++) {
        if (!o->mem[i] || (p->bufs[i].kind != RT_BUF_PARAM && p->bufs[i].kind != RT_BUF_CONST))
            continue;
        bool used = false;
        for (int l = 0; l < b->nlaunches && !used; l++)
            for (int a = 0; a < b->launches[l].nargs && !b->launches[l].once && !used; a++)
                used = b->launches[l].args[a].kind == RT_OCL_ARG_BUF && b->launches[l].args[a].value == i;
        if (!used) {
            clReleaseMemObject(o->mem[i]);
            o->mem[i] = NULL;
        }
    }
}

int rt_ocl_run(RtOcl *o, int once, const int64_t *syms, char *const *bufs, const char *ws, size_t ws_size,
               RtProfile *prof, char *err, size_t errlen)
{
    const RtPlan *p = o->plan;
    cl_int rc;
    if (!once && prepare(o, syms, bufs, ws, ws_size, err, errlen))
        return -1;
    rc = clEnqueueWriteBuffer(o->q, o->errbuf, CL_FALSE, 0, sizeof o->zero, o->zero, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return clfail(err, errlen, "clEnqueueWriteBuffer", rc, "(the error cell)");
    for (int l = 0; l < o->blob->nlaunches; l++) {
        if (o->blob->launches[l].once != once)
            continue;
        if (set_args(o, l, syms, bufs, once ? NULL : ws, err, errlen) || launch(o, l, syms, prof, err, errlen))
            return -1;
    }
    rc = clEnqueueReadBuffer(o->q, o->errbuf, CL_TRUE, 0, sizeof o->cell, o->cell, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return clfail(err, errlen, "clEnqueueReadBuffer", rc, "(the error cell)");
    if (o->cell[0] != RT_ERR_NONE) {
        const char *label = o->cell[1] >= 0 && o->cell[1] < p->nkernels ? p->kernels[o->cell[1]].label : "?";
        if (o->cell[0] == RT_ERR_INDEX)
            return rt_errf(err, errlen, "a gather index was out of range in kernel %s", label);
        return rt_errf(err, errlen, "kernel %s failed with error %d", label, (int)o->cell[0]);
    }
    if (once)
        release_once_only(o);
    for (int i = 0; !once && i < p->nbufs; i++) {
        if (p->bufs[i].kind != RT_BUF_OUTPUT || !bufs[i])
            continue;
        int64_t bytes = rt_buffer_bytes(&p->bufs[i], syms);
        size_t off = (size_t)(bufs[i] - ws);
        if (bytes < 0 || off + (size_t)bytes > ws_size)
            return rt_errf(err, errlen, "OpenCL: output buffer %d lies outside the workspace", i);
        rc = clEnqueueReadBuffer(o->q, o->ws, CL_TRUE, off, (size_t)bytes, bufs[i], 0, NULL, NULL);
        if (rc != CL_SUCCESS)
            return clfail(err, errlen, "clEnqueueReadBuffer", rc, "(an output)");
    }
    return 0;
}
