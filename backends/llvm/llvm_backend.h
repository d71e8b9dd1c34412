/* llvm_backend.h — CPU code generation through the LLVM C API (LLVM 15).
 *
 * One function per kernel of the plan (the VitKernelFn / VitExtentFn ABI of
 * runtime/rt_plan.h), the tables vit__kernels / vit__extents, the serialised plan
 * vit__plan (and optionally embedded weights vit__weights), optimised with the new pass
 * manager and emitted as LLVM IR, assembly or an object file for a target triple and CPU.
 */
#ifndef VITC_LLVM_BACKEND_H
#define VITC_LLVM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "../../ir/plan.h"
#include "../../runtime/rt_plan.h"

typedef enum { LLVM_EMIT_LLVM, LLVM_EMIT_ASM, LLVM_EMIT_OBJ } LlvmEmit;

typedef struct {
    const char *triple;   /* NULL: the host's */
    const char *cpu;      /* NULL: the host's CPU (and its features) */
    const char *features; /* NULL: the CPU's default (host: the host's features) */
    int opt_level;        /* 0..3 */
    LlvmEmit emit;
} LlvmOptions;

/* Generates code for p and writes it to `path`. blob/blob_len: the serialised plan;
 * weights/weights_len: safetensors bytes to embed (NULL: none). false with err on failure
 * (an unknown target or CPU, a kernel the backend cannot generate): never aborts. */
bool llvm_compile(const Plan *p, const uint8_t *blob, size_t blob_len, const uint8_t *weights,
                  size_t weights_len, const LlvmOptions *o, const char *path, IrError *err);

/* What the plan should do for this target (plan_build_opts): GEMM weights packed into the
 * panels of its micro-kernels. Defaults (all 0) when the target is unknown (llvm_compile
 * then reports it). */
void llvm_plan_options(const LlvmOptions *o, PlanOptions *po);

/* The host's target triple and CPU name (for messages and tuning keys); static strings
 * owned by the backend after the first call. */
const char *llvm_host_triple(void);
const char *llvm_host_cpu(void);

/* In-process JIT of a plan's kernels for the host (tests and the tuner). The code is the
 * code llvm_compile emits (same module, same optimisation at o->opt_level; o->triple, if
 * set, must be the host's; o->cpu and o->features as for llvm_compile; o->emit ignored).
 * NULL with err on failure. The JIT keeps no pointer to the plan. Not thread-safe while being created (it briefly captures stderr, see
 * docs/BACKEND_LLVM.md); the functions it returns may be called from any thread. */
typedef struct LlvmJit LlvmJit;
LlvmJit *llvm_jit_new(const Plan *p, const LlvmOptions *o, IrError *err);
int32_t llvm_jit_count(const LlvmJit *j); /* the plan's kernel count */
VitKernelFn llvm_jit_kernel(const LlvmJit *j, int32_t i);
VitExtentFn llvm_jit_extent(const LlvmJit *j, int32_t i);
void llvm_jit_free(LlvmJit *j);

#endif
