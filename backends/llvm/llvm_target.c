/* llvm_target.c — targets and CPUs, the optimisation pipeline, emission, llvm_compile.
 *
 * Defaults are the host's: LLVMGetDefaultTargetTriple, LLVMGetHostCPUName and
 * LLVMGetHostCPUFeatures. A foreign triple without -mcpu gets the "generic" CPU. LLVM only
 * warns on stderr about a CPU or feature it does not know (and then ignores it); vitc
 * catches that warning while it creates the target machine and makes it one clean error.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "llvm_internal.h"
#include "../../runtime/rt_file.h"

static void fail(IrError *err, const char *fmt, const char *a, const char *b)
{
    if (err)
        snprintf(err->msg, sizeof err->msg, fmt, a ? a : "", b ? b : "");
}

void llvm_init_targets(void)
{
    static bool done; /* LLVM's target registry is process-wide */
    if (done)
        return;
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    done = true;
}

/* ---- what the code generator is told of the target ---- */

/* +1 / -1 when the comma-separated feature list enables / disables `name` (its last
 * mention), 0 when it does not say. */
static int feature(const char *fs, const char *name)
{
    int r = 0;
    size_t n = strlen(name);
    for (const char *p = fs; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n + 1 && (p[0] == '+' || p[0] == '-') && strncmp(p + 1, name, n) == 0)
            r = p[0] == '+' ? 1 : -1;
        p += len + (p[len] == ',');
    }
    return r;
}

static bool cpu_in(const char *cpu, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(cpu, list[i]) == 0)
            return true;
    return false;
}

void llvm_gen_target(LLVMTargetMachineRef tm, GenTarget *t)
{
    static const char *const avx512_cpus[] = {
        "skylake-avx512", "skx", "cascadelake", "cooperlake", "cannonlake", "icelake-client", "icelake-server",
        "tigerlake", "rocketlake", "sapphirerapids", "graniterapids", "emeraldrapids", "x86-64-v4", "znver4",
        "knl", "knm", NULL};
    static const char *const avx2_cpus[] = {
        "haswell", "core-avx2", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "gracemont",
        "sierraforest", "grandridge", "arrowlake", "lunarlake", "znver1", "znver2", "znver3", "bdver4",
        "x86-64-v3", NULL};
    static const char *const avx_cpus[] = {"sandybridge", "corei7-avx", "ivybridge", "core-avx-i", "btver2",
                                           "bdver1", "bdver2", "bdver3", NULL};
    char *triple = LLVMGetTargetMachineTriple(tm), *cpu = LLVMGetTargetMachineCPU(tm);
    char *fs = LLVMGetTargetMachineFeatureString(tm);
    *t = (GenTarget){.vl = 4, .nregs = 16, .fma = false, .wide512 = false, .isa = "generic"};
    if (strncmp(triple, "x86_64", 6) == 0 || strncmp(triple, "i386", 4) == 0 || strncmp(triple, "i686", 4) == 0) {
        int avx512 = feature(fs, "avx512f"), avx2 = feature(fs, "avx2"), avx = feature(fs, "avx"),
            fma = feature(fs, "fma");
        /* a feature named wins over the CPU's default; disabling one disables those above it */
        bool c512 = cpu_in(cpu, avx512_cpus), c2 = c512 || cpu_in(cpu, avx2_cpus), c1 = c2 || cpu_in(cpu, avx_cpus);
        bool has1 = avx > 0 || avx2 > 0 || avx512 > 0 || (avx == 0 && c1);
        bool has2 = has1 && (avx2 > 0 || avx512 > 0 || (avx2 == 0 && c2));
        bool has512 = has2 && (avx512 > 0 || (avx512 == 0 && c512));
        bool hasfma = has1 && (fma > 0 || (fma == 0 && c2));
        if (has512)
            *t = (GenTarget){16, 32, true, true, "avx512"};
        else if (has2)
            *t = (GenTarget){8, 16, hasfma, false, "avx2"};
        else if (has1)
            *t = (GenTarget){8, 16, hasfma, false, "avx"};
        else
            *t = (GenTarget){4, 16, false, false, "sse"};
    } else if (strncmp(triple, "aarch64", 7) == 0 || strncmp(triple, "arm64", 5) == 0) {
        *t = (GenTarget){4, 32, true, false, "neon"};
    }
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(fs);
}

static char *host_triple_s, *host_cpu_s, *host_features_s;

void llvm_plan_options(const LlvmOptions *o, PlanOptions *po)
{
    char *triple = NULL;
    IrError err;
    memset(po, 0, sizeof *po);
    LLVMTargetMachineRef tm = llvm_target_machine(o, &triple, &err);
    if (!tm)
        return;
    GenTarget t;
    llvm_gen_target(tm, &t);
    po->gemm_pack_nr = gen_gemm_panel(&t);
    po->gemm_pack_batched = true; /* llvm_gemm.c reads batched weights' panel sets too */
    LLVMDisposeTargetMachine(tm);
    LLVMDisposeMessage(triple);
}

const char *llvm_host_triple(void)
{
    if (!host_triple_s)
        host_triple_s = LLVMGetDefaultTargetTriple();
    return host_triple_s;
}

const char *llvm_host_cpu(void)
{
    if (!host_cpu_s)
        host_cpu_s = LLVMGetHostCPUName();
    return host_cpu_s;
}

static const char *host_features(void)
{
    if (!host_features_s)
        host_features_s = LLVMGetHostCPUFeatures();
    return host_features_s;
}

/* The architecture part of a triple ("x86_64" of "x86_64-pc-linux-gnu"). */
static bool same_arch(const char *a, const char *b)
{
    size_t la = strcspn(a, "-"), lb = strcspn(b, "-");
    return la == lb && strncmp(a, b, la) == 0;
}

static void diag_handler(LLVMDiagnosticInfoRef di, void *ctx)
{
    LlvmDiag *sink = ctx;
    if (!sink || LLVMGetDiagInfoSeverity(di) != LLVMDSError || sink->error)
        return;
    char *d = LLVMGetDiagInfoDescription(di);
    snprintf(sink->msg, sizeof sink->msg, "%s", d ? d : "an LLVM error");
    LLVMDisposeMessage(d);
    sink->error = true;
}

void llvm_quiet_diagnostics(LLVMContextRef ctx, LlvmDiag *sink)
{
    LLVMContextSetDiagnosticHandler(ctx, diag_handler, sink);
}

/* Creates the target machine with stderr captured: LLVM's "is not a recognized processor
 * / feature" warnings land in `said`. */
static LLVMTargetMachineRef create_captured(LLVMTargetRef t, const char *triple, const char *cpu,
                                            const char *features, LLVMCodeGenOptLevel level, char *said,
                                            size_t n)
{
    said[0] = 0;
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = saved >= 0 ? tmpfile() : NULL;
    if (tmp && dup2(fileno(tmp), 2) < 0) {
        fclose(tmp);
        tmp = NULL;
    }
    LLVMTargetMachineRef tm =
        LLVMCreateTargetMachine(t, triple, cpu, features, level, LLVMRelocPIC, LLVMCodeModelDefault);
    if (tmp) {
        fflush(stderr);
        dup2(saved, 2);
        rewind(tmp);
        size_t got = fread(said, 1, n - 1, tmp);
        said[got] = 0;
        fclose(tmp);
        said[strcspn(said, "\n")] = 0; /* the first line */
    }
    if (saved >= 0)
        close(saved);
    return tm;
}

LLVMTargetMachineRef llvm_target_machine(const LlvmOptions *o, char **triple_out, IrError *err)
{
    llvm_init_targets();
    *triple_out = NULL;
    if (o->opt_level < 0 || o->opt_level > 3) {
        fail(err, "invalid optimisation level (want 0 to 3)%s%s", NULL, NULL);
        return NULL;
    }
    bool host_arch = !o->triple || same_arch(o->triple, llvm_host_triple());
    char *triple = LLVMNormalizeTargetTriple(o->triple ? o->triple : llvm_host_triple());
    const char *cpu = o->cpu, *features = o->features;
    if (!cpu || strcmp(cpu, "host") == 0 || strcmp(cpu, "native") == 0) {
        if (host_arch || cpu) {
            if (!host_arch) {
                fail(err, "-mcpu=%s names the host's CPU, but the target is %s", cpu, triple);
                LLVMDisposeMessage(triple);
                return NULL;
            }
            cpu = llvm_host_cpu();
            if (!features)
                features = host_features();
        } else {
            cpu = "generic";
        }
    }
    if (!features)
        features = "";
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "unknown target triple '%s': %s", o->triple ? o->triple : triple,
                     msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                                 LLVMCodeGenLevelDefault, LLVMCodeGenLevelAggressive};
    char said[512];
    LLVMTargetMachineRef tm = create_captured(target, triple, cpu, features, levels[o->opt_level], said, sizeof said);
    if (!tm || strstr(said, "is not a recognized")) {
        if (err) {
            const char *q = strchr(said, '\''), *q2 = q ? strchr(q + 1, '\'') : NULL;
            if (strstr(said, "processor"))
                snprintf(err->msg, sizeof err->msg, "unknown CPU '%s' for target %s", cpu, triple);
            else if (strstr(said, "feature") && q2)
                snprintf(err->msg, sizeof err->msg, "unknown CPU feature '%.*s' for target %s", (int)(q2 - q - 1),
                         q + 1, triple);
            else if (said[0])
                snprintf(err->msg, sizeof err->msg, "target %s, CPU '%s': %s", triple, cpu, said);
            else
                snprintf(err->msg, sizeof err->msg, "cannot create a target machine for %s (CPU '%s')", triple,
                         cpu);
        }
        if (tm)
            LLVMDisposeTargetMachine(tm);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    *triple_out = triple;
    return tm;
}

bool llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, IrError *err)
{
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        if (err) {
            if (msg)
                msg[strcspn(msg, "\n")] = 0;
            snprintf(err->msg, sizeof err->msg, "internal error: %s:%d: the generated LLVM IR is invalid: %s",
                     __FILE__, __LINE__, msg ? msg : "");
        }
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMDisposeMessage(msg);
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", opt_level);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, opt_level >= 2);
    LLVMPassBuilderOptionsSetSLPVectorization(po, opt_level >= 2);
    LLVMPassBuilderOptionsSetLoopInterleaving(po, opt_level >= 2);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, opt_level >= 1);
    LLVMErrorRef e = LLVMRunPasses(mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
        char *m = LLVMGetErrorMessage(e);
        fail(err, "internal error: the LLVM pass pipeline failed: %s%s", m, NULL);
        LLVMDisposeErrorMessage(m);
        return false;
    }
    return true;
}

/* A constant byte array global (external, `align` bytes aligned) and its size. */
static bool add_bytes(LLVMContextRef ctx, LLVMModuleRef mod, const char *name, const char *size_name,
                      const uint8_t *data, size_t len, unsigned align, IrError *err)
{
    if (len > 0xffffffffu) {
        fail(err, "%s is too large to embed (more than 4 GiB)%s", name, NULL);
        return false;
    }
    LLVMTypeRef i8 = LLVMInt8TypeInContext(ctx), i64 = LLVMInt64TypeInContext(ctx);
    LLVMValueRef init = len ? LLVMConstStringInContext(ctx, (const char *)data, (unsigned)len, 1)
                            : LLVMConstNull(LLVMArrayType(i8, 0));
    LLVMValueRef gv = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetAlignment(gv, align);
    LLVMValueRef sz = LLVMAddGlobal(mod, i64, size_name);
    LLVMSetInitializer(sz, LLVMConstInt(i64, len, 0));
    LLVMSetGlobalConstant(sz, 1);
    LLVMSetAlignment(sz, 8);
    return true;
}

bool llvm_compile(const Plan *p, const uint8_t *blob, size_t blob_len, const uint8_t *weights, size_t weights_len,
                  const LlvmOptions *o, const char *path, IrError *err)
{
    char *triple = NULL;
    if (err)
        err->msg[0] = 0;
    LLVMTargetMachineRef tm = llvm_target_machine(o, &triple, err);
    if (!tm)
        return false;
    LlvmDiag sink = {0};
    LLVMContextRef ctx = LLVMContextCreate();
    llvm_quiet_diagnostics(ctx, &sink);
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(p->g->name ? p->g->name : "vitc", ctx);
    LLVMSetTarget(mod, triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, td);
    LLVMDisposeTargetData(td);
    GenTarget gt;
    llvm_gen_target(tm, &gt);
    bool ok = gen_module(ctx, mod, p, &gt, err) &&
              add_bytes(ctx, mod, "vit__plan", "vit__plan_size", blob, blob ? blob_len : 0, 8, err) &&
              (!weights || add_bytes(ctx, mod, "vit__weights", "vit__weights_size", weights, weights_len, 64, err)) &&
              llvm_optimize(mod, tm, o->opt_level, err);
    if (ok) { /* into memory, then written whole or not at all (rt_write_file) */
        char *msg = NULL, *text = NULL, why[256];
        LLVMMemoryBufferRef buf = NULL;
        if (o->emit == LLVM_EMIT_LLVM)
            text = LLVMPrintModuleToString(mod);
        else if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, o->emit == LLVM_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile,
                                                     &msg, &buf)) {
            fail(err, "LLVM: cannot generate code: %s%s", msg ? msg : "", NULL);
            ok = false;
        }
        if (ok && !(text ? rt_write_file(path, text, strlen(text), why, sizeof why)
                         : rt_write_file(path, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), why, sizeof why))) {
            fail(err, "cannot write '%s': %s", path, why);
            ok = false;
        }
        LLVMDisposeMessage(text);
        LLVMDisposeMessage(msg);
        if (buf)
            LLVMDisposeMemoryBuffer(buf);
    }
    if (ok && sink.error) {
        fail(err, "LLVM: %s%s", sink.msg, NULL);
        ok = false;
    }
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    LLVMDisposeMessage(triple);
    return ok;
}
