/* llvm_jit.c — the in-process JIT (ORC LLJIT of LLVM 15's C API).
 *
 * The module is generated and optimised exactly as for llvm_compile, in a thread-safe
 * context, then handed to an LLJIT built from the same target machine; libm and anything
 * else the code calls resolve against the process (a dynamic-library search generator).
 * The kernels are found through the module's own tables vit__kernels / vit__extents, so
 * the functions themselves stay internal as in an object file.
 */
#include <string.h>

#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "llvm_internal.h"

struct LlvmJit {
    LLVMOrcLLJITRef jit;
    const VitKernelFn *kernels;
    const VitExtentFn *extents;
    int32_t n;
    LlvmDiag diag; /* the context's diagnostics (it lives as long as the JIT needs it) */
};

static bool llvm_error(LLVMErrorRef e, const char *what, IrError *err)
{
    if (!e)
        return true;
    char *m = LLVMGetErrorMessage(e);
    if (err)
        snprintf(err->msg, sizeof err->msg, "JIT: %s: %s", what, m ? m : "");
    LLVMDisposeErrorMessage(m);
    return false;
}

static bool lookup(LlvmJit *j, const char *name, LLVMOrcExecutorAddress *addr, IrError *err)
{
    char mangled[64];
    char prefix = LLVMOrcLLJITGetGlobalPrefix(j->jit);
    snprintf(mangled, sizeof mangled, "%s%s", prefix ? (char[]){prefix, 0} : "", name);
    return llvm_error(LLVMOrcLLJITLookup(j->jit, addr, mangled), name, err);
}

LlvmJit *llvm_jit_new(const Plan *p, const LlvmOptions *o, IrError *err)
{
    LlvmOptions jo = *o;
    char *triple = NULL;
    if (err)
        err->msg[0] = 0;
    if (jo.triple && strcmp(jo.triple, llvm_host_triple()) != 0) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "the JIT generates code for the host (%s), not for %s",
                     llvm_host_triple(), jo.triple);
        return NULL;
    }
    jo.triple = NULL;
    LlvmJit *j = ir_calloc(1, sizeof *j);
    if (!j) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    LLVMTargetMachineRef tm = llvm_target_machine(&jo, &triple, err);
    if (!tm) {
        ir_free(j);
        return NULL;
    }
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    llvm_quiet_diagnostics(ctx, &j->diag);
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(p->g->name ? p->g->name : "vitc", ctx);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, td);
    LLVMDisposeTargetData(td);
    GenTarget gt;
    llvm_gen_target(tm, &gt);
    if (!gen_module(ctx, mod, p, &gt, err) || !llvm_optimize(mod, tm, jo.opt_level, err)) {
        LLVMDisposeModule(mod);
        LLVMOrcDisposeThreadSafeContext(tsc);
        LLVMDisposeTargetMachine(tm);
        ir_free(j);
        return NULL;
    }
    /* the LLJIT takes the target machine (through its builder) */
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    bool ok = llvm_error(LLVMOrcCreateLLJIT(&j->jit, builder), "cannot create the JIT", err);
    if (ok) {
        LLVMOrcDefinitionGeneratorRef gen = NULL;
        ok = llvm_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
                            &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL),
                        "cannot search the process for symbols", err);
        if (ok)
            LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
    }
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    if (ok) {
        LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
        if (e)
            LLVMOrcDisposeThreadSafeModule(tsm);
        ok = llvm_error(e, "cannot add the module", err);
    } else {
        LLVMOrcDisposeThreadSafeModule(tsm);
    }
    /* looking the tables up compiles the module */
    LLVMOrcExecutorAddress ka = 0, xa = 0;
    ok = ok && lookup(j, "vit__kernels", &ka, err) && lookup(j, "vit__extents", &xa, err);
    if (ok && j->diag.error) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "LLVM: %s", j->diag.msg);
        ok = false;
    }
    if (!ok) {
        llvm_jit_free(j);
        return NULL;
    }
    j->kernels = (const VitKernelFn *)(uintptr_t)ka;
    j->extents = (const VitExtentFn *)(uintptr_t)xa;
    j->n = p->nkernels;
    return j;
}

int32_t llvm_jit_count(const LlvmJit *j) { return j ? j->n : 0; }

VitKernelFn llvm_jit_kernel(const LlvmJit *j, int32_t i) { return j && i >= 0 && i < j->n ? j->kernels[i] : NULL; }

VitExtentFn llvm_jit_extent(const LlvmJit *j, int32_t i) { return j && i >= 0 && i < j->n ? j->extents[i] : NULL; }

void llvm_jit_free(LlvmJit *j)
{
    if (!j)
        return;
    if (j->jit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
        if (e)
            LLVMConsumeError(e);
    }
    ir_free(j);
}
