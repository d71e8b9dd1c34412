/* llvm_internal.h — what the files of the LLVM backend share.
 *
 *   llvm_share.c   one body for the kernels that differ only in their buffers
 *   llvm_gen.c     the module: kernel functions, extents, tables; the row skeleton every
 *                  kernel kind shares; loops, allocas, alias metadata
 *   llvm_view.c    dimensions, view offsets, loads and stores with dtype conversion
 *   llvm_expr.c    the expression emitter (epilogues and elementwise kernels)
 *   llvm_ops.c     elementwise ops of ops.def and casts, on scalars or vectors
 *   llvm_math.c    exp, log, erf, tanh, GELU as polynomial IR on scalars or vectors
 *   llvm_kernels.c elementwise rows, REDUCE, GATHER, GEMMs of other dtypes than f32
 *   llvm_row.c     ROW: normalize, softmax, log_softmax (vectorised)
 *   llvm_gemm.c    GEMM: register-blocked micro-kernels over packed B panels, tiles
 *   llvm_target.c  targets and CPUs, optimisation, emission, llvm_compile
 *   llvm_jit.c     the in-process JIT
 *
 * Values of an expression are held in LLVM as: float for f32, f16 and bf16 (f16 and bf16
 * values are exactly representable floats, rounded after every op), i32, i64, and i1 for
 * bool — or vectors of them, g->vl lanes along the output's last axis, when a kernel
 * evaluates its expression a vector at a time (Gen.vl > 0). Memory holds each dtype in
 * its own width (f16/bf16 as 16 bits, bool as a byte).
 */
#ifndef VITC_LLVM_INTERNAL_H
#define VITC_LLVM_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "llvm_backend.h"

typedef struct {
    LLVMBasicBlockRef header, exit;
    LLVMValueRef iv, phi, end;
} GenLoop;

enum { LOOP_PLAIN = 0, LOOP_VECTORIZE = 1 /* force vectorisation, allowing FP reassociation */ };

/* What the code generator knows of the target (llvm_target.c derives it from the target
 * machine's triple, CPU and features): the vector registers the GEMM micro-kernels and the
 * vectorised kernels are shaped for. */
typedef struct {
    int vl;        /* f32 lanes per vector register: 16 (AVX-512), 8 (AVX), 4 (SSE, NEON, others) */
    int nregs;     /* vector registers: 32 (AVX-512, NEON), 16 */
    bool fma;      /* fused multiply-add in hardware */
    bool wide512;  /* AVX-512 (x86): kernels ask LLVM for 512-bit vectors (prefer-vector-width) */
    const char *isa; /* "avx512", "avx2", "avx", "sse", "neon", "generic" (messages, dumps) */
} GenTarget;

typedef struct Gen {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f32, t_f64, t_ptr;
    const Plan *p;
    IrError *err;
    bool failed;
    unsigned md_scope, md_noalias, md_loop;
    LLVMMetadataRef domain;
    LLVMMetadataRef *scope;    /* per plan buffer (+1: the error cell): its alias scope */
    /* the kernel being generated */
    const Kernel *k;
    int32_t ki;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;   /* allocas only; branches to the body */
    LLVMValueRef *bufp;        /* per plan buffer (+1: the error cell): base pointer or NULL */
    LLVMMetadataRef *scope_list, *noalias_list; /* per plan buffer (+1): for this kernel */
    LLVMValueRef *symv;        /* per symbol: its value in this function */
    GenTarget tgt;
    const int32_t *slot;       /* a shared body (llvm_share.c): buffer b is bufs[slot[b]] */
    struct GenShare *share;    /* the bodies generated so far */
    unsigned vl;               /* > 0: expressions are evaluated on vectors of vl lanes */
    LLVMValueRef vmask;        /* vector mode: the lanes that exist (<vl x i1>; NULL: all) */
} Gen;

/* ---- llvm_share.c ---- */
/* Kernel k's function vk<ki>: a wrapper around a body shared with the kernels that differ
 * only in their buffers (generated with the first of them), or gen_kernel's own. */
typedef struct GenShare GenShare;
GenShare *gen_share_new(void);
void gen_share_free(GenShare *s);
LLVMValueRef gen_kernel_shared(Gen *g, int32_t ki);

/* ---- llvm_gen.c ---- */
/* The function of kernel ki (vk<ki>; with g->slot set, a body vb<ki> over slots). */
LLVMValueRef gen_kernel(Gen *g, int32_t ki);
/* Builds the module of plan p in ctx: vk<i>, vx<i>, vit__kernels, vit__extents. false with
 * err on failure. */
bool gen_module(LLVMContextRef ctx, LLVMModuleRef mod, const Plan *p, const GenTarget *t, IrError *err);
bool gen_fail(Gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
LLVMValueRef gen_alloca(Gen *g, LLVMTypeRef t, const char *name);
void gen_loop_begin(Gen *g, GenLoop *l, LLVMValueRef start, LLVMValueRef end, const char *name);
void gen_loop_end(Gen *g, GenLoop *l, int flags);
/* Sets the alias metadata of a load or store of plan buffer `buf` (nbufs: the error cell). */
void gen_alias(Gen *g, LLVMValueRef inst, int32_t buf);
LLVMValueRef gen_i64(Gen *g, int64_t v);
/* Declares (once) and calls a function of the module: an intrinsic or a libm function. */
LLVMValueRef gen_call(Gen *g, const char *name, LLVMTypeRef ret, LLVMValueRef *args, unsigned n);

/* ---- llvm_view.c ---- */
/* The LLVM type of an expression value of dtype dt: a vector of g->vl lanes in vector
 * mode; gen_scalar_type: always the element. */
LLVMTypeRef gen_value_type(Gen *g, DType dt);
LLVMTypeRef gen_scalar_type(Gen *g, DType dt);
/* A dimension (n or n × symbol) as an i64. */
LLVMValueRef gen_dim(Gen *g, Dim d);
/* offset + Σ_{d < n} idx[d]·stride[d] of view v (an idx[d] of NULL counts as 0). */
LLVMValueRef gen_view_base(Gen *g, const View *v, LLVMValueRef const *idx, int n);
/* base + i·stride */
LLVMValueRef gen_offset_step(Gen *g, LLVMValueRef base, LLVMValueRef i, Dim stride);
/* Loads element `off` of buffer `buf` as a value of dtype `want` (converted from the
 * buffer's dtype) / stores value v of dtype vdt into it (converted, rounded). */
LLVMValueRef gen_load(Gen *g, int32_t buf, LLVMValueRef off, DType want);
void gen_store(Gen *g, int32_t buf, LLVMValueRef off, LLVMValueRef v, DType vdt);
/* The same for g->vl elements at off + i·stride (i < vl): stride 1 a (masked) vector load
 * or store, stride 0 one element loaded and splat (a store needs a non-zero stride),
 * otherwise a gather / scatter. mask (<vl x i1>, NULL: every lane) turns lanes off: they
 * touch no memory and load undefined values. */
LLVMValueRef gen_load_vec(Gen *g, int32_t buf, LLVMValueRef off, Dim stride, LLVMValueRef mask, DType want);
void gen_store_vec(Gen *g, int32_t buf, LLVMValueRef off, Dim stride, LLVMValueRef mask, LLVMValueRef v, DType vdt);
/* <0, 1, …, vl-1> as i64, and the lanes i with base + i < limit as <vl x i1>; a value
 * (computed at run time) in every lane. */
LLVMValueRef gen_iota(Gen *g, unsigned vl);
LLVMValueRef gen_broadcast(Gen *g, LLVMValueRef v, unsigned vl);
LLVMValueRef gen_lane_mask(Gen *g, unsigned vl, LLVMValueRef base, LLVMValueRef limit);

/* ---- llvm_ops.c ---- */
/* Rounds a float to what dtype dt holds (f16, bf16: nearest even; f32: itself). */
LLVMValueRef gen_round_float(Gen *g, LLVMValueRef x, DType dt);
/* f16 / bf16 bits (i16) from and to float. */
LLVMValueRef gen_half_to_float(Gen *g, LLVMValueRef h, DType dt);
LLVMValueRef gen_float_to_half(Gen *g, LLVMValueRef f, DType dt);
/* Converts a value between dtypes with the semantics of `cast`. */
LLVMValueRef gen_convert(Gen *g, LLVMValueRef v, DType from, DType to);
/* A constant of dtype dt (rounded as the interpreter stores it). */
LLVMValueRef gen_const(Gen *g, double v, DType dt);
/* Elementwise op `e` (EX_OP) on operand values of dtype `dt_in`. */
LLVMValueRef gen_op(Gen *g, const Expr *e, DType dt_in, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
/* The float math the kernels share. */
LLVMValueRef gen_fexp(Gen *g, LLVMValueRef x);
LLVMValueRef gen_flog(Gen *g, LLVMValueRef x);
LLVMValueRef gen_fsqrt(Gen *g, LLVMValueRef x);
LLVMValueRef gen_fmuladd(Gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
/* NaN-propagating max / min (the interpreter's maximum, minimum, reduce_max). */
LLVMValueRef gen_fmax_nan(Gen *g, LLVMValueRef a, LLVMValueRef b, bool is_max);

/* ---- llvm_math.c ---- */
/* A constant vector of `scalar` when t is a vector type (else scalar itself); a float
 * constant of type t; t's shape with elements `elem`. */
LLVMValueRef gen_splat(LLVMTypeRef t, LLVMValueRef scalar);
LLVMValueRef gen_fconst(Gen *g, LLVMTypeRef t, double v);
LLVMTypeRef gen_like(LLVMTypeRef t, LLVMTypeRef elem);
/* A call of LLVM intrinsic `name` overloaded on `ret` (llvm.fpto*: on ret and the
 * argument), or on the types `over` given. */
LLVMValueRef gen_intrinsic(Gen *g, const char *name, LLVMTypeRef ret, LLVMValueRef *args, unsigned n);
LLVMValueRef gen_intrinsic_over(Gen *g, const char *name, LLVMTypeRef *over, unsigned nover, LLVMValueRef *args,
                                unsigned n);
/* Float math on float or vector-of-float values (see llvm_math.c for accuracy). */
LLVMValueRef gen_math_exp(Gen *g, LLVMValueRef x);
/* e^x for x ≤ 0 (or −inf, NaN): cheaper scaling on AVX-512 vectors of 16 floats */
LLVMValueRef gen_math_exp_nonpos(Gen *g, LLVMValueRef x);
LLVMValueRef gen_math_log(Gen *g, LLVMValueRef x);
LLVMValueRef gen_math_log1p(Gen *g, LLVMValueRef x);
LLVMValueRef gen_math_erf(Gen *g, LLVMValueRef x);
LLVMValueRef gen_math_tanh(Gen *g, LLVMValueRef x);
LLVMValueRef gen_math_gelu(Gen *g, LLVMValueRef x, bool tanh_form);

/* ---- llvm_expr.c ---- */
/* Where an expression is evaluated: the output index (idx[0..rank), the last entry the
 * position in the row), the kernel's primary result, and per kernel input the offset of
 * the current row (NULL: computed from idx). */
typedef struct {
    const LLVMValueRef *idx;
    LLVMValueRef acc;
    const LLVMValueRef *rowbase;
} GenPoint;

LLVMValueRef gen_expr(Gen *g, const GenPoint *pt, int32_t e);
/* The row offsets of every output-indexed input view for the row idx[0..rank-1). */
void gen_row_bases(Gen *g, const LLVMValueRef *idx, LLVMValueRef *rowbase);
/* Evaluates the kernel's expression at pt and stores it into the output view, whose row
 * offset is outbase. In vector mode (g->vl > 0) idx[rank-1] is the first of vl positions
 * along the last axis, pt->acc a vector and g->vmask the lanes that exist. */
void gen_store_result(Gen *g, const GenPoint *pt, LLVMValueRef outbase);
/* The dtype of the kernel's EX_ACC (the dtype its primary result is rounded to). */
DType gen_acc_dtype(const Kernel *k);

/* ---- llvm_gemm.c ---- */
/* GEMM kernels over tiles (the parallel extent is tiles, not rows): true when kernel k is
 * generated by llvm_gemm.c (f32 operands), which then also defines its extent. */
bool gen_gemm_tiled(const Gen *g, const Kernel *k);
/* The micro-kernel's panel width on target t: what the plan packs B for. */
int gen_gemm_panel(const GenTarget *t);
void gen_gemm_kernel(Gen *g);
LLVMValueRef gen_gemm_extent(Gen *g);

/* ---- llvm_kernels.c ---- */
/* A loop over [0, len) in steps of g->tgt.vl with the body in vector mode (g->vl set):
 * full vectors unmasked, then at most one masked tail (g->vmask). j0 is the first lane's
 * position. */
typedef void (*GenVectorBody)(Gen *g, void *ctx, LLVMValueRef j0);
void gen_vector_loop(Gen *g, LLVMValueRef len, GenVectorBody body, void *ctx);
/* Whether a row along the last axis of view v is worth vectorising (and can be). */
bool gen_use_vectors(const Gen *g, const View *v);
/* One output row of each kind: idx[0..rank-1) is the row; rowbase the input row
 * offsets; outbase the output row offset. */
void gen_row_elementwise(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);
void gen_row_gemm(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);
void gen_row_norm(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);
void gen_row_reduce(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);
void gen_row_gather(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);
/* Stores RT_ERR_INDEX in the model's error cell (an index out of range; atomic: any thread) */
void gen_index_error(Gen *g);

/* ---- llvm_moe.c ---- */
/* The MoE kernels: a group's routing per row (KK_MOE_ROUTE), a token's combine per row
 * (KK_MOE_COMBINE). */
void gen_row_moe_route(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);
void gen_row_moe_combine(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);

/* ---- llvm_segment.c ---- */
/* KK_SEGMENT_REDUCE: one output row (a segment's pooled row). */
void gen_row_segment_reduce(Gen *g, LLVMValueRef *idx, const LLVMValueRef *rowbase, LLVMValueRef outbase);

/* ---- llvm_attention.c ---- */
/* KK_ATTENTION: the whole kernel body (its own iterations: batch × query tiles), their
 * count, and the checks of kernel_valid. */
void gen_attention(Gen *g);
LLVMValueRef gen_attention_extent(Gen *g, const Kernel *k);
bool gen_attention_valid(Gen *g, const Kernel *k);

/* ---- llvm_target.c ---- */
/* Initialises LLVM's targets once. */
void llvm_init_targets(void);
/* What the code generator needs of a target machine. */
void llvm_gen_target(LLVMTargetMachineRef tm, GenTarget *t);
/* A target machine for the options (host defaults); NULL with err on an unknown triple,
 * CPU or feature. *triple_out receives the triple (LLVMDisposeMessage it). */
LLVMTargetMachineRef llvm_target_machine(const LlvmOptions *o, char **triple_out, IrError *err);
/* Verifies (an internal error when it fails) and optimises the module at o->opt_level. */
bool llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, IrError *err);
/* Where LLVM's diagnostics go instead of stderr: the first error is kept, warnings and
 * remarks (e.g. a loop it was asked to vectorise and could not) are dropped. */
typedef struct {
    bool error;
    char msg[400];
} LlvmDiag;
void llvm_quiet_diagnostics(LLVMContextRef ctx, LlvmDiag *sink);

#endif
