/* rt_ocl.h — the OpenCL executor behind vitrt.h, and what an OpenCL object hands it.
 *
 * An object compiled with `vitc compile --target=opencl` defines vit__plan (rt_plan.h),
 * optionally vit__weights, and instead of vit__kernels / vit__extents:
 *
 *   const unsigned char vit__ocl[];  const unsigned long long vit__ocl_size;
 *
 * the OpenCL side of the model, serialised as little-endian fields (i64 integers, strings
 * as in rt_plan.h: i64 length, bytes):
 *
 *   "VITOCL\0\0" i64 version (RT_OCL_VERSION)
 *   str platform, str device, str driver   what the binaries were built for ("" if none)
 *   str build options                      given to clBuildProgram
 *   programs: i64 count; per program: str kernel name, str source, i64 nbytes, bytes (the
 *             program binary for that device, or 0 bytes)
 *   extra buffers (device memory the plan does not list: packed GEMM panels):
 *             i64 count; per buffer: i64 kind (RT_OCL_PERSIST: filled once at open and
 *             kept; RT_OCL_SCRATCH: per run), i64 dtype, i64 n, i64 sym (n × the symbol's
 *             value elements, sym -1: n)
 *   launches: i64 count; per launch, in the order they run: i64 program, i64 plan kernel
 *             (names and profiles it), i64 once (1: at open), i64 local size (0: the
 *             driver's choice), global size: i64 count, per factor i64 n, i64 sym, i64 div
 *             (the size is Π ceil(n × sym / div)); args: i64 count, per arg i64 kind, i64
 *             value (RT_OCL_ARG_*)
 *
 * Kernel arguments: RT_OCL_ARG_BUF (plan buffer `value`) and RT_OCL_ARG_XBUF (extra buffer
 * `value`) are two OpenCL arguments each, `__global T *` and `long` (the element offset of
 * the buffer inside the memory object: the device workspace holds the input, the outputs
 * and the temporaries at the runtime's placement); RT_OCL_ARG_SYM is a `long` (the value of
 * symbol `value`); RT_OCL_ARG_ERR is `__global int *` (the error cell: [0] an RT_ERR_*
 * code, [1] the plan kernel that set it); RT_OCL_ARG_KERNEL is a `long` (the plan kernel).
 *
 * The executor (rt_ocl.c): device choice (VIT_CL_DEVICE, else the device the binaries were
 * built for when present, else the first), one context and in-order queue, programs from
 * the binaries when they were built for this device (from source otherwise, or when the
 * binary does not load), weights and constants uploaded once at open, the once-launches
 * run at open, every OpenCL error a message naming the call and the kernel.
 *
 * rt_model.c reaches the executor through weak references: a CPU object links without
 * it (and without libOpenCL); an OpenCL object links libvitc_rt_ocl.a and -lOpenCL.
 */
#ifndef VITC_RT_OCL_H
#define VITC_RT_OCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_internal.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif
/* rt_model.c defines RT_OCL_WEAK_REFS: its references to the executor are weak (a weak
 * reference does not pull rt_ocl.o out of an archive; everything else links it normally) */
#if defined(RT_OCL_WEAK_REFS) && defined(__GNUC__)
#define RT_WEAK __attribute__((weak))
#else
#define RT_WEAK
#endif

#define RT_OCL_VERSION 1

enum { RT_OCL_PERSIST, RT_OCL_SCRATCH };
enum { RT_OCL_ARG_BUF, RT_OCL_ARG_XBUF, RT_OCL_ARG_SYM, RT_OCL_ARG_ERR, RT_OCL_ARG_KERNEL, RT_OCL_ARG_COUNT };

/* ---- the parsed blob ---------------------------------------------------------------- */

typedef struct {
    char *name;              /* the kernel function */
    char *source;
    const unsigned char *binary; /* inside the blob; NULL: none */
    size_t nbinary;
} RtOclProgram;

typedef struct {
    int kind;                /* RT_OCL_PERSIST, RT_OCL_SCRATCH */
    int dtype;
    RtDim size;              /* elements */
} RtOclXBuf;

typedef struct {
    RtDim d;
    int64_t div;             /* ≥ 1 */
} RtOclFactor;

typedef struct {
    int kind;                /* RT_OCL_ARG_* */
    int64_t value;
} RtOclArg;

typedef struct {
    int program;
    int kernel;              /* the plan kernel */
    int once;
    int64_t local;           /* 0: the driver's choice */
    RtOclFactor *global;
    int nglobal;
    RtOclArg *args;
    int nargs;
} RtOclLaunch;

typedef struct {
    char *platform, *device, *driver, *options;
    RtOclProgram *progs;
    int nprogs;
    RtOclXBuf *xbufs;
    int nxbufs;
    RtOclLaunch *launches;
    int nlaunches;
} RtOclBlob;

/* Parses and checks a blob against the plan it belongs to (buffer, symbol, program and
 * kernel indices, kinds, dtypes). Binaries point into `blob`. NULL with a message. */
RtOclBlob *rt_ocl_blob_parse(const void *blob, size_t len, const RtPlan *plan, char *err, size_t errlen);
void rt_ocl_blob_free(RtOclBlob *b);
/* Π ceil(n × sym / div) of a launch's global size; -1 on overflow. */
int64_t rt_ocl_global_size(const RtOclLaunch *l, const int64_t *syms);

/* ---- devices (rt_ocl_dev.c; the compiler uses them too) ------------------------------ */

/* The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *rt_ocl_error_name(int code);

/* Chooses a device: spec NULL or "" = `fallback_name` when a device has that name, else the
 * first device of the first platform that has one; otherwise spec is "P:D" (platform and
 * device indices), "D" (the D-th device over all platforms) or a piece of a device name
 * (case-insensitive). 0 with *platform and *device set (cl_platform_id / cl_device_id), or
 * -1 with a message (no platform, no device, no match: naming what exists). */
int rt_ocl_pick_device(const char *spec, const char *fallback_name, void **platform, void **device, char *err,
                       size_t errlen);
/* Writes "NAME (platform PLATFORM, driver VERSION)"-style strings about a device. */
void rt_ocl_device_strings(void *platform, void *device, char *platform_name, char *device_name, char *driver,
                           size_t n);
/* One line per device of every platform ("0:0  pthread-...  (CPU, Portable Computing
 * Language)") into buf; the number of devices, or -1 with a message in buf. */
int rt_ocl_list_devices(char *buf, size_t n);

/* ---- the executor (rt_ocl.c) -------------------------------------------------------- */

typedef struct RtOcl RtOcl;

/* Whether this object carries an OpenCL model (vit__ocl is defined). */
int rt_ocl_present(void) RT_WEAK;
/* Opens the OpenCL side of the model: blob is vit__ocl (NULL: the object's), bufs[i] the
 * host memory of the parameters and constants (uploaded once), syms the symbols' values.
 * NULL with a message. */
RtOcl *rt_ocl_open(const RtPlan *plan, const void *blob, size_t len, char *const *bufs, const int64_t *syms,
                   char *err, size_t errlen) RT_WEAK;
/* Runs the launches with once == `once` (once = 1: one time, at open; after it the device
 * copies of parameters and constants that only once-launches read are freed). For a run (once = 0) bufs[i] of the input, output
 * and temporary buffers point into the host workspace ws of ws_size bytes: their offsets
 * there are their offsets in the device workspace; the inputs are uploaded first and the
 * outputs read back into bufs[] at the end. prof (may be NULL) receives per-launch times.
 * 0, or -1 with a message (an OpenCL error, or a kernel's error cell: an index out of
 * range names the kernel). */
int rt_ocl_run(RtOcl *o, int once, const int64_t *syms, char *const *bufs, const char *ws, size_t ws_size,
               RtProfile *prof, char *err, size_t errlen) RT_WEAK;
/* "pthread-... (Portable Computing Language, driver 3.1)": the device in use. */
const char *rt_ocl_device_name(const RtOcl *o) RT_WEAK;
void rt_ocl_close(RtOcl *o) RT_WEAK;

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
