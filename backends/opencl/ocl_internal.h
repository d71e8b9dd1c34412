/* ocl_internal.h — what the files of the OpenCL backend share.
 *
 *   ocl_gen.c      the module: per plan kernel its argument list, its program text
 *                  (deduplicated: kernels equal but for their buffers share one program),
 *                  its launches; a string builder
 *   ocl_expr.c     views as C offset expressions, loads and stores with dtype conversion,
 *                  the expression emitter, elementwise ops, the helper functions (f16/bf16
 *                  rounding, integer power) a program includes when it uses them
 *   ocl_kernels.c  the row skeleton and the bodies of ELEMENTWISE, ROW, REDUCE, GATHER
 *   ocl_gemm.c     GEMM: register-blocked kernels over packed B panels, the packing
 *                  kernels, the generic (integer) GEMM
 *   ocl_build.c    devices and program builds at compile time (through the runtime's
 *                  device code, runtime/rt_ocl_dev.c)
 *   ocl_emit.c     the vit__ocl section, --emit=cl, the assembly file of ocl_compile
 *
 * Values in generated code: float for f32, f16 and bf16 (f16/bf16 results rounded after
 * every op, as the interpreter and the LLVM backend do), int for i32 and bool (0 or 1),
 * long for i64. Memory holds each dtype in its width: float, ushort (f16, bf16), int,
 * long, uchar (bool).
 */
#ifndef VITC_OCL_INTERNAL_H
#define VITC_OCL_INTERNAL_H

#include <stdarg.h>

#include "../../runtime/rt_ocl.h"
#include "ocl_backend.h"

/* ---- a growing string ---- */
typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} Str;

void str_add(Str *s, const char *text);
void str_addf(Str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void str_free(Str *s);

/* helper functions a program may need (OGen.helpers) */
enum {
    HELP_F16 = 1u << 0,
    HELP_BF16 = 1u << 1,
    HELP_I2BF16 = 1u << 2,
    HELP_IPOW32 = 1u << 3,
    HELP_IPOW64 = 1u << 4,
    HELP_SATURATE = 1u << 5,
    HELP_MOE_SORT = 1u << 6,
};

enum { MAX_SLOTS = 64 };

/* Where an expression is evaluated: the output index (C names of long variables, one per
 * output axis), the primary result (a C expression, NULL when none) and, per kernel input,
 * the C name of its row offset (NULL: computed from the index). */
typedef struct {
    const char *const *idx;
    const char *acc;
    const char *const *rowbase;
} OPoint;

typedef struct OGen {
    const Plan *p;
    const OclGenOptions *o;
    IrError *err;
    bool failed;
    OclModule *m;
    /* the kernel being generated */
    const Kernel *k;
    int32_t ki;
    Str body;
    unsigned helpers;
    int32_t *slot;        /* per plan buffer: its argument slot, -1 none */
    bool written[MAX_SLOTS];
    OclArg args[MAX_SLOTS + 8];
    int32_t nargs;
    int indent;
    int tmp;              /* fresh names */
    char (*ename)[24];    /* per expression: its C name once emitted at the current point */
} OGen;

/* ---- ocl_gen.c ---- */
bool ogen_fail(OGen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line of the kernel body at the current indentation. */
void ogen_line(OGen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A fresh C name "t<n>". */
void ogen_fresh(OGen *g, char *buf, size_t n);
/* The slot of a plan buffer as a kernel argument (added on first use); -1 on failure. */
int32_t ogen_buffer(OGen *g, int32_t buf, bool written);
/* The slot of extra buffer x as a kernel argument (added). */
int32_t ogen_xarg(OGen *g, int32_t x, bool written);
/* Adds an extra buffer to the module; its index. */
int32_t ogen_xbuf(OGen *g, int kind, DType dt, Dim size);
/* Finishes the current kernel text as a program (deduplicated) and appends a launch of it
 * with the current arguments; the program index or -1. */
int32_t ogen_finish(OGen *g, const char *kind_name, int32_t kind, bool once, bool pack, const OclFactor *global,
                    int32_t nglobal, int64_t local);
/* Resets the per-kernel state to start another program for the same plan kernel. */
void ogen_reset(OGen *g);

/* ---- ocl_expr.c ---- */
const char *ocl_value_type(DType dt);   /* float, int, long */
const char *ocl_memory_type(DType dt);  /* float, ushort, int, long, uchar */
/* A dimension as a C expression of type long ("197", "(197*s0)"). */
void ocl_dim(Dim d, char *buf, size_t n);
/* offset + Σ_{d<n} idx[d]·stride[d] of view v as a C expression (idx[d] NULL counts 0). */
void ocl_view_offset(const View *v, const char *const *idx, int n, char *buf, size_t bn);
/* base + i·stride ("(base + i*3)"). */
void ocl_step(const char *base, const char *i, Dim stride, char *buf, size_t n);
/* The C expression of element `off` of buffer buf as dtype want, into conv. */
void ocl_load_expr(OGen *g, int32_t buf, const char *off, DType want, char *conv, size_t n);
/* Emits `T name = <element off of buffer buf, as dtype want>;`. */
void ocl_load(OGen *g, int32_t buf, const char *off, DType want, const char *name);
/* Emits the store of value `v` (dtype vdt) to element `off` of buffer buf. */
void ocl_store(OGen *g, int32_t buf, const char *off, const char *v, DType vdt);
/* Converts C expression v from dtype `from` to `to` (the semantics of cast) into buf. */
void ocl_convert(OGen *g, const char *v, DType from, DType to, char *buf, size_t n);
/* Emits the kernel's expression at pt and stores it to the output view at output row
 * offset `outbase` (the offset of the element is outbase + idx[r-1]·stride). */
void ocl_store_result(OGen *g, const OPoint *pt, const char *outbase);
/* The dtype of the kernel's EX_ACC. */
DType ocl_acc_dtype(const Kernel *k);
/* The helper functions of `helpers` as OpenCL C text. */
void ocl_helpers(Str *s, unsigned helpers);
/* A float literal (hex, exact) of a value already rounded to f32. */
void ocl_float_literal(double v, char *buf, size_t n);

/* ---- ocl_kernels.c ---- */
/* Generates plan kernel ki (every kind) and its launches. */
bool ocl_gen_kernel(OGen *g, int32_t ki);
/* The rows skeleton: emits the loop over output rows [first, last) of a work-item and
 * the row's index and offsets, then calls body; used by every kind but GEMM blocks. */
void ocl_rows(OGen *g, int64_t rows_per_item, void (*body)(OGen *, const char *const *idx, const char *const *rowbase,
                                                             const char *outbase));
/* Rows of an output view (Π of its dims but the last) as factors of a global size. */
int32_t ocl_row_factors(const View *out, OclFactor *f, int64_t per_item);

/* ---- ocl_gemm.c, ocl_attention.c ---- */
bool ocl_gen_gemm(OGen *g);
bool ocl_gen_attention(OGen *g);
/* ---- ocl_moe.c: the MoE kernels' row bodies (in the row skeleton) ---- */
void ocl_body_moe_route(OGen *g, const char *const *idx, const char *const *rowbase, const char *outbase);
void ocl_body_moe_combine(OGen *g, const char *const *idx, const char *const *rowbase, const char *outbase);
const char *ocl_moe_sort_helper(void);

#endif
