/* ocl_build.c — programs built ahead of time: each program of a module is built from
 * source for the chosen device (the device code is the runtime's, rt_ocl_dev.c) and its
 * binary kept, with the platform, device and driver it was built for; the runtime loads
 * the binaries when it runs on that same device and driver, and builds from source
 * otherwise. A program that does not build is an error with the device's build log.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"

/* The OpenCL drivers (ICD loader, PoCL) keep allocations for the life of the process;
 * LeakSanitizer builds of vitc and its tests must not report them as ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libOpenCL.so\nleak:libpocl.so\nleak:libLLVM-15.so\nleak:libclang-cpp.so\n"
           "leak:libhwloc.so\nleak:libltdl.so\nleak:ld-linux-x86-64.so\n";
}

static bool clfail(IrError *err, const char *call, cl_int rc)
{
    snprintf(err->msg, sizeof err->msg, "OpenCL: %s failed with %s (%d)", call, rt_ocl_error_name(rc), (int)rc);
    return false;
}

static bool pick(const char *spec, cl_platform_id *plat, cl_device_id *dev, IrError *err)
{
    void *p = NULL, *d = NULL;
    char msg[2400];
    if (rt_ocl_pick_device(spec, NULL, &p, &d, msg, sizeof msg) != 0) {
        snprintf(err->msg, sizeof err->msg, "%s%s%s", spec ? "--cl-device=" : "", spec ? spec : "",
                 spec ? ": " : "");
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, "%s", msg);
        return false;
    }
    *plat = p;
    *dev = d;
    return true;
}

bool ocl_device_schedule(const char *spec, OclGenOptions *o, IrError *err)
{
    cl_platform_id plat;
    cl_device_id dev;
    if (!pick(spec, &plat, &dev, err))
        return false;
    cl_device_type t = 0;
    cl_uint width = 0;
    cl_int rc = clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    if (rc == CL_SUCCESS)
        rc = clGetDeviceInfo(dev, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof width, &width, NULL);
    if (rc != CL_SUCCESS)
        return clfail(err, "clGetDeviceInfo", rc);
    memset(o, 0, sizeof *o);
    o->gpu = (t & CL_DEVICE_TYPE_GPU) != 0;
    o->gemm_mr = width >= 16 ? 12 : 6; /* 24 of 32 zmm, or 12 of 16 ymm, accumulate */
    o->gemm_vec = width >= 16 ? 16 : 8;
    o->gemm_nr = width >= 16 ? 32 : 16;
    return true;
}

/* "k12 gemm models/vit_b16.vit:14:7" for the first launch of program pg. */
static void program_label(const OclModule *m, const Plan *p, int32_t pg, char *buf, size_t n)
{
    for (int32_t i = 0; i < m->nlaunches; i++) {
        if (m->launches[i].program != pg)
            continue;
        int32_t ki = m->launches[i].kernel;
        const Kernel *k = &p->kernels[ki];
        const Loc *loc = &p->g->nodes[k->node].loc;
        int off = snprintf(buf, n, "k%d %s%s", ki, plan_kind_name(k->kind),
                           m->launches[i].pack ? " (packing)" : "");
        if (loc->file && off > 0 && (size_t)off < n)
            snprintf(buf + off, n - (size_t)off, " %s:%d:%d", loc->file, loc->line, loc->col);
        return;
    }
    snprintf(buf, n, "(unused)");
}

static bool build_one(OclModule *m, const Plan *p, int32_t pg, cl_context ctx, cl_device_id dev, const char *dname,
                      IrError *err)
{
    OclProgram *pr = &m->progs[pg];
    const char *src = pr->source;
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &rc);
    if (rc != CL_SUCCESS)
        return clfail(err, "clCreateProgramWithSource", rc);
    rc = clBuildProgram(prog, 1, &dev, m->options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        char log[1200] = "", label[256];
        clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
        log[sizeof log - 1] = 0;
        program_label(m, p, pg, label, sizeof label);
        snprintf(err->msg, sizeof err->msg, "OpenCL: kernel %s (for %s) does not build on %s: %s (%d)\n%s", pr->name,
                 label, dname, rt_ocl_error_name(rc), (int)rc, log);
        clReleaseProgram(prog);
        return false;
    }
    size_t size = 0;
    rc = clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    if (rc == CL_SUCCESS && size > 0) {
        unsigned char *bin = ir_malloc(size);
        if (!bin) {
            clReleaseProgram(prog);
            snprintf(err->msg, sizeof err->msg, "out of memory for a program binary");
            return false;
        }
        rc = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL);
        if (rc == CL_SUCCESS) {
            ir_free(pr->binary);
            pr->binary = bin;
            pr->nbinary = size;
        } else {
            ir_free(bin);
        }
    }
    clReleaseProgram(prog);
    return true;
}

bool ocl_build(OclModule *m, const Plan *p, const char *spec, IrError *err)
{
    cl_platform_id plat;
    cl_device_id dev;
    if (!pick(spec, &plat, &dev, err))
        return false;
    rt_ocl_device_strings(plat, dev, m->platform, m->device, m->driver, sizeof m->device);
    cl_int rc;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &rc);
    if (rc != CL_SUCCESS)
        return clfail(err, "clCreateContext", rc);
    bool ok = true;
    for (int32_t pg = 0; pg < m->nprogs && ok; pg++)
        ok = build_one(m, p, pg, ctx, dev, m->device, err);
    clReleaseContext(ctx);
    if (!ok)
        m->platform[0] = m->device[0] = m->driver[0] = 0;
    return ok;
}
