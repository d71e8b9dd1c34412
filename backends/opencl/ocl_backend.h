/* ocl_backend.h — the OpenCL backend: OpenCL C for every kernel of a plan, built ahead of
 * time for a device, serialised for the runtime's OpenCL executor (runtime/rt_ocl.h).
 *
 *   OclModule *m = ocl_generate(plan, &(OclGenOptions){.cpu = true}, &err);   programs + launches
 *   ocl_build(m, "0", &err);          builds each program on the device, keeps the binaries
 *   ocl_serialize(m, &blob, &err);    the vit__ocl section
 *   ocl_emit_cl(m, plan, dir, &err);  one .cl per kernel and a manifest
 *
 * `vitc compile --target=opencl` uses ocl_compile, which does all of it and writes an
 * assembly file whose data (.incbin) are the plan, the OpenCL section and optional
 * weights; `cc` assembles and links it with the runtime and -lOpenCL. docs/BACKEND_OPENCL.md.
 */
#ifndef VITC_OCL_BACKEND_H
#define VITC_OCL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "../../ir/plan.h"
#include "../plan_blob.h"

typedef struct {
    bool gpu;       /* schedule for a GPU (one row per work-item, the driver's work-group
                       size); otherwise for a CPU device: work-groups of 1, several rows per
                       work-item (PERF_NOTES: what PoCL runs fastest) */
    int gemm_mr;    /* rows of a GEMM register block, 1..16 (0: 6) */
    int gemm_vec;   /* accumulator vector width, 8 or 16 (0: 8) */
    int gemm_nr;    /* panel width, the block's columns: 16 or 32 (0: 16); a block is
                       gemm_mr × gemm_nr in gemm_mr · gemm_nr / gemm_vec accumulators */
} OclGenOptions;

typedef struct {
    char *name;     /* the kernel function it defines */
    char *source;   /* the whole program text */
    uint8_t *binary;/* from ocl_build (NULL: none) */
    size_t nbinary;
    int32_t kind;   /* KernelKind, or -1 for a packing kernel */
} OclProgram;

typedef struct {
    int kind;       /* RT_OCL_ARG_* */
    int64_t value;
} OclArg;

typedef struct {
    Dim d;
    int64_t div;    /* the factor is ceil(d / div) */
} OclFactor;

typedef struct {
    int32_t program, kernel; /* the plan kernel it belongs to */
    bool once;
    bool pack;      /* packs a GEMM operand for the launch after it */
    int64_t local;  /* 0: the driver's choice */
    OclFactor global[IR_MAX_RANK + 2];
    int32_t nglobal;
    OclArg *args;
    int32_t nargs;
} OclLaunch;

typedef struct {
    int kind;       /* RT_OCL_PERSIST or RT_OCL_SCRATCH */
    DType dt;
    Dim size;       /* elements */
} OclXBuf;

typedef struct {
    OclProgram *progs;
    int32_t nprogs;
    OclLaunch *launches;
    int32_t nlaunches;
    OclXBuf *xbufs;
    int32_t nxbufs;
    char options[128];                       /* clBuildProgram options */
    char platform[256], device[256], driver[256]; /* what ocl_build built for ("" none) */
} OclModule;

/* The columns of the GEMM panels the kernels read by default ([ceil(N/16)][K][16]). */
enum { OCL_PANEL_COLUMNS = 16 };
/* The schedule for a device (spec as rt_ocl_pick_device; NULL: the first): GPU or CPU
 * (work-group sizes, rows per work-item), and the GEMM block from its preferred float
 * vector width (16, AVX-512: 12 × 32 in 24 float16 accumulators; else 6 × 16 in float8,
 * the style PERF_NOTES measured). false with err when there is no such device. */
bool ocl_device_schedule(const char *spec, OclGenOptions *o, IrError *err);
/* What this backend asks of plan_build_opts for a schedule: GEMM weights packed at load
 * time into its panel layout (ir/plan_pack.c). */
void ocl_plan_options(const OclGenOptions *o, PlanOptions *po);

/* Generates the programs and launches of plan p. NULL with err on failure (a kernel kind
 * or op this backend has no code for). */
OclModule *ocl_generate(const Plan *p, const OclGenOptions *o, IrError *err);
void ocl_module_free(OclModule *m);

/* Builds every program from source on the device (spec NULL: the first) and keeps the
 * binaries and the device's names in m. false with the build log of the first program
 * that fails. */
bool ocl_build(OclModule *m, const Plan *p, const char *spec, IrError *err);
/* The vit__ocl section (runtime/rt_ocl.h). */
bool ocl_serialize(const OclModule *m, Blob *out, IrError *err);
/* Writes DIR/k<i>.cl (one per plan kernel: its program, the packing kernels of a GEMM in
 * k<i>_pack.cl) and DIR/manifest.json (buffers, programs, launches with their arguments
 * and global sizes). Creates DIR if needed. */
bool ocl_emit_cl(const OclModule *m, const Plan *p, const char *dir, IrError *err);

typedef struct {
    const char *device; /* --cl-device (NULL: the first) */
    bool no_build;      /* do not build (no binaries; the runtime builds from source) */
} OclOptions;

/* `vitc compile --target=opencl`: generates, builds for the device, and writes `asm_path`,
 * an assembly file defining vit__plan, vit__ocl (and vit__weights when w is not NULL)
 * from files it writes next to it (`asm_path` with .plan, .ocl and .weights appended). */
bool ocl_compile(const Plan *p, const Blob *plan_blob, const uint8_t *w, size_t wlen, const OclOptions *o,
                 const char *asm_path, IrError *err);
/* The files ocl_compile writes next to asm_path, for the caller to remove. */
void ocl_compile_cleanup(const char *asm_path);

#endif
