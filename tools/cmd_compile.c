/* cmd_compile.c — `vitc compile MODEL -o model.so`: a model to native code.
 *
 *   load (.vit or .vir) → the -O level's pass pipeline (or --passes) → plan_build →
 *   plan_serialize_model (preprocessing and label text embedded) → llvm_compile → for
 *   --emit=so (the default) a link with the runtime into a self-contained shared object:
 *
 *     cc -shared -o OUT model.o -Wl,-u,vit_open,... libvitc_rt.a -lm -lpthread
 *        -Wl,--version-script=exports
 *
 * The version script exports the vit_* functions of runtime/vitrt.h and nothing else, so
 * several models load side by side. --embed-weights checks the file against the plan at
 * compile time (the same checks as vit_open) and puts its bytes in the object.
 *
 * Exit status: 0 success, 1 errors (model, plan, backend, link), 2 bad command-line usage.
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../backends/plan_blob.h"
#include "../passes/passes.h"
#include "../runtime/rt_abi.h"
#include "../runtime/rt_file.h"
#include "../runtime/rt_internal.h"
#include "cmd.h"
#ifdef VITC_HAVE_LLVM
#include "../backends/llvm/llvm_backend.h"
#endif
#ifdef VITC_HAVE_OPENCL
#include "../backends/opencl/ocl_backend.h"
#endif

extern char **environ;

typedef enum { EMIT_SO, EMIT_OBJ, EMIT_ASM, EMIT_LLVM, EMIT_CL } Emit;

typedef struct {
    ToolModelArgs m; /* the model, -o, -I, -O (none given: -O2), --passes */
    const char *target, *cpu, *features, *weights;
    Emit emit;
    bool verbose;
    bool opencl;           /* --target=opencl */
    const char *cl_device; /* --cl-device */
} CompileArgs;

static void usage(FILE *out)
{
    fputs("usage: vitc compile [options] MODEL -o OUT\n"
          "\n"
          "Compiles a model (.vit, or .vir text) to native code: by default a shared object\n"
          "that exports the C ABI of vitrt.h (vit_open, vit_info, vit_run, vit_close).\n"
          "\n"
          "options:\n"
          "  -o FILE                 the output (default: MODEL's name with .so, .o, .s or .ll)\n"
          "  -O0 .. -O3              optimisation level of the passes and of LLVM (default -O2)\n"
          "  --passes=P1,P2,...      run these graph passes instead of the -O level's pipeline\n"
          "  --emit=so|obj|asm|llvm  a shared object (default), an object file, assembly or LLVM IR\n"
          "  --target=TRIPLE         the target triple (default: the host's)\n"
          "  -mcpu=CPU               the target CPU (default: the host's, with its features)\n"
          "  -mattr=FEATURES         target features, LLVM-style (+avx2,-avx512f)\n"
          "  --embed-weights FILE    put these weights (safetensors) in the output; vit_open(NULL)\n"
          "                          then uses them\n"
          "  -I DIR                  search DIR for `import`ed .vit files (repeatable)\n"
          "  --target=opencl         OpenCL kernels built ahead of time for a device, run by the\n"
          "                          runtime's OpenCL executor (the .so also needs libOpenCL)\n"
          "  --cl-device=DEVICE      the OpenCL device: P:D, an index, or part of its name\n"
          "                          (default: the first)\n"
          "  --emit=cl               with --target=opencl: -o names a folder that receives one .cl\n"
          "                          file per kernel and manifest.json\n"
          "  -v                      print the link command\n"
          "  --help                  show this help and exit\n"
          "\n"
          "The shared object links with the runtime (libvitc_rt.a) through `cc` and depends on\n"
          "libc, libm and libpthread only.\n",
          out);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vitc compile: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* -1 to go on, else the exit status */
static int parse_args(int argc, char **argv, CompileArgs *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        bool bad = false;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "-v") == 0) {
            a->verbose = true;
        } else if (strncmp(arg, "-mcpu=", 6) == 0) {
            a->cpu = arg + 6;
        } else if (strncmp(arg, "-mattr=", 7) == 0) {
            a->features = arg + 7;
        } else if (tool_opt(argc, argv, &i, "--target", &v, &bad)) {
            if (bad)
                return 2;
            if (strcmp(v, "opencl") == 0)
                a->opencl = true;
            else
                a->target = v;
        } else if (tool_opt(argc, argv, &i, "--cl-device", &v, &bad)) {
            if (bad)
                return 2;
            a->cl_device = v;
        } else if (tool_opt(argc, argv, &i, "--embed-weights", &v, &bad)) {
            if (bad)
                return 2;
            a->weights = v;
        } else if (tool_opt(argc, argv, &i, "--emit", &v, &bad)) {
            if (bad)
                return 2;
            static const char *const names[] = {"so", "obj", "asm", "llvm", "cl"};
            int k = 0;
            while (k < 5 && strcmp(v, names[k]) != 0)
                k++;
            if (k == 5)
                return tool_bad_usage("compile", "unknown --emit kind '%s' (use so, obj, asm, llvm or cl)", v);
            a->emit = (Emit)k;
        } else {
            int r = tool_model_arg("compile", &a->m, argc, argv, &i);
            if (r != 1)
                return r ? r : tool_bad_usage("compile", "unknown option '%s'", arg);
        }
    }
    if (tool_model_check("compile", &a->m))
        return 2;
    if (a->emit == EMIT_CL && !a->opencl)
        return tool_bad_usage("compile", "--emit=cl needs --target=opencl");
    if (a->opencl && a->emit != EMIT_SO && a->emit != EMIT_CL)
        return tool_bad_usage("compile", "--target=opencl writes a shared object or (--emit=cl) .cl files");
    if (a->opencl && (a->target || a->cpu || a->features))
        return tool_bad_usage("compile", "--target=opencl takes no other --target, -mcpu or -mattr (use --cl-device)");
    if (a->cl_device && !a->opencl)
        return tool_bad_usage("compile", "--cl-device needs --target=opencl");
    if (a->emit == EMIT_CL && a->weights)
        return tool_bad_usage("compile", "--emit=cl writes kernels only: --embed-weights does not apply");
    return -1;
}

/* ---- paths ---- */

/* MODEL's name without its folder and extension, plus `ext` (caller frees). */
static char *default_output(const char *model, const char *ext)
{
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *s = ir_malloc(n + strlen(ext) + 1);
    if (s) {
        memcpy(s, base, n);
        strcpy(s + n, ext);
    }
    return s;
}

/* The folder of a path ("." when none; caller frees). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ir_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *s = ir_malloc(n + 1);
    if (s) {
        memcpy(s, path, n);
        s[n] = 0;
    }
    return s;
}

/* Whether `path` can be written: an existing file writable, or a new one in a writable folder. */
static bool writable(const char *path, char *why, size_t n)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(why, n, "it is a directory");
            return false;
        }
        if (access(path, W_OK) != 0) {
            snprintf(why, n, "%s", strerror(errno));
            return false;
        }
        return true;
    }
    char *dir = dir_of(path);
    bool ok = dir && access(dir, W_OK) == 0;
    if (!ok)
        snprintf(why, n, "%s", dir ? strerror(errno) : "out of memory");
    ir_free(dir);
    return ok;
}

/* A runtime library (libvitc_rt.a, libvitc_rt_ocl.a): the build tree's (build_path, may
 * be NULL), else next to the vitc binary or in ../lib. */
static bool find_library(const char *build_path, const char *name, char *buf, size_t n)
{
    if (build_path && access(build_path, R_OK) == 0) {
        snprintf(buf, n, "%s", build_path);
        return true;
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return false;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = 0;
    static const char *const rel[] = {"", "../lib/", "../runtime/"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(buf, n, "%s/%s%s", exe, rel[i], name);
        if (access(buf, R_OK) == 0)
            return true;
    }
    return false;
}

static bool find_runtime(char *buf, size_t n)
{
#ifdef VITC_RT_LIB
    return find_library(VITC_RT_LIB, "libvitc_rt.a", buf, n);
#else
    return find_library(NULL, "libvitc_rt.a", buf, n);
#endif
}

/* Whether an executable `name` is on PATH. */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? path : ".", name);
        if (access(buf, X_OK) == 0)
            return true;
        path += n + (end ? 1 : 0);
    }
    return false;
}

/* ---- steps ---- */

/* Checks embedded weights against the plan as vit_open will. */
static bool check_weights(const Blob *blob, const uint8_t *w, size_t wlen, const char *path)
{
    char err[1024];
    StFile *f = st_open_memory(w, wlen, err, sizeof err);
    RtPlan *rp = f ? rt_plan_parse(blob->data, blob->len, err, sizeof err) : NULL;
    char **bufs = rp ? calloc((size_t)rp->nbufs + 1, sizeof *bufs) : NULL;
    void **owned = rp ? calloc((size_t)rp->nbufs + 1, sizeof *owned) : NULL;
    bool ok = bufs && owned && rt_bind_params(rp, f, "the weights file", bufs, owned, err, sizeof err) == 0;
    if (!ok)
        fail("--embed-weights %s: %s", path, f && rp && (!bufs || !owned) ? "out of memory" : err);
    for (int i = 0; owned && i < rp->nbufs; i++)
        free(owned[i]);
    free(bufs);
    free(owned);
    rt_plan_free(rp);
    st_close(f);
    return ok;
}

/* cc -shared -o linked obj rt -lm -lpthread with a version script exporting vit_*; with
 * `opencl`, the OpenCL executor (libvitc_rt_ocl.a) and -lOpenCL too. `linked` lies in the
 * temporary folder; it is then copied to out (rt_copy_file: whole or not at all, a device
 * in place). */
static bool link_so(const char *obj, const char *map, const char *linked, const char *out, bool verbose, bool opencl)
{
    char rt[4096], script[4200], rt_ocl[4096] = "";
    if (!find_runtime(rt, sizeof rt))
        return fail("cannot find the runtime library libvitc_rt.a (looked in the build tree and next to vitc)"), false;
#ifdef VITC_RT_OCL_LIB
    if (opencl && !find_library(VITC_RT_OCL_LIB, "libvitc_rt_ocl.a", rt_ocl, sizeof rt_ocl))
#else
    if (opencl && !find_library(NULL, "libvitc_rt_ocl.a", rt_ocl, sizeof rt_ocl))
#endif
        return fail("cannot find the OpenCL runtime library libvitc_rt_ocl.a (looked in the build tree and next to "
                    "vitc)"), false;
    if (!on_path("cc"))
        return fail("no C compiler 'cc' on PATH to link the shared object: install gcc or clang, or use "
                    "--emit=obj and link the object with %s -lm -lpthread yourself", rt), false;
    /* the version script exports the ABI only; -u: the ABI comes from the archive, which
       nothing in the object references */
    static const char *const abi[] = {RT_ABI_EXPORTS};
    char exports[512] = "{\n  global:", undefined[512] = "-Wl";
    for (size_t i = 0; i < sizeof abi / sizeof abi[0]; i++) {
        snprintf(exports + strlen(exports), sizeof exports - strlen(exports), " %s;", abi[i]);
        snprintf(undefined + strlen(undefined), sizeof undefined - strlen(undefined), ",-u,%s", abi[i]);
    }
    snprintf(exports + strlen(exports), sizeof exports - strlen(exports), "\n  local: *;\n};\n");
    FILE *f = fopen(map, "w");
    bool written = f && fputs(exports, f) >= 0;
    if (f && fclose(f) != 0)
        written = false;
    if (!written)
        return fail("cannot write the version script '%s': %s", map, strerror(errno)), false;
    snprintf(script, sizeof script, "-Wl,--version-script=%s", map);
    char *args[] = {"cc", "-shared", "-o", (char *)linked, (char *)obj, undefined, rt, "-lm", "-lpthread", script,
                    "-Wl,-z,noexecstack", "-Wl,--as-needed", NULL, NULL, NULL, NULL};
    if (opencl) { /* rt_model.c reaches the executor through weak references: pull it in */
        args[6] = "-Wl,-u,rt_ocl_open,-u,rt_ocl_run,-u,rt_ocl_close,-u,rt_ocl_present";
        args[7] = rt_ocl;
        args[8] = rt;
        args[9] = "-lOpenCL";
        args[10] = "-lm";
        args[11] = "-lpthread";
        args[12] = script;
        args[13] = "-Wl,-z,noexecstack";
        args[14] = "-Wl,--as-needed";
    }
    if (verbose) {
        for (int i = 0; args[i]; i++)
            fprintf(stderr, "%s%s", i ? " " : "", args[i]);
        fputc('\n', stderr);
    }
    pid_t pid;
    int status = 0, rc = posix_spawnp(&pid, "cc", NULL, NULL, args, environ);
    if (rc != 0)
        return fail("cannot run cc: %s", strerror(rc)), false;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return fail("waiting for cc: %s", strerror(errno)), false;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("linking '%s' failed (cc %s %d)", out, WIFEXITED(status) ? "exited with status" : "died of signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)), false;
    char why[512];
    if (!rt_copy_file(linked, out, why, sizeof why))
        return fail("cannot write '%s': %s", out, why), false;
    return true;
}

/* --target=opencl: .cl files and a manifest into the folder `out` (EMIT_CL), or a .so:
 * the OpenCL backend's data (plan, programs and binaries, weights) linked with the
 * runtime and its OpenCL executor. */
static int generate_opencl(const CompileArgs *a, const Plan *p, const Blob *blob, const uint8_t *w, size_t wlen,
                           const char *out)
{
#ifdef VITC_HAVE_OPENCL
    IrError err = {{0}};
    if (a->emit == EMIT_CL) {
        /* schedule for the device when there is one; otherwise (no OpenCL here) for a CPU */
        OclGenOptions go = {0};
        IrError derr = {{0}};
        if (!ocl_device_schedule(a->cl_device, &go, &derr) && a->cl_device)
            return fail("%s", derr.msg);
        OclModule *m = ocl_generate(p, &go, &err);
        bool ok = m && ocl_emit_cl(m, p, out, &err);
        ocl_module_free(m);
        return ok ? 0 : fail("%s", err.msg);
    }
    const char *tmp = getenv("TMPDIR");
    char dir[4096], as[4200], map[4200], linked[4200];
    snprintf(dir, sizeof dir, "%s/vitc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return fail("cannot create a temporary folder in %s: %s", tmp && *tmp ? tmp : "/tmp", strerror(errno));
    snprintf(as, sizeof as, "%s/model.s", dir);
    snprintf(map, sizeof map, "%s/exports.map", dir);
    snprintf(linked, sizeof linked, "%s/model.so", dir);
    OclOptions oo = {a->cl_device, false};
    int rc = 1;
    if (!ocl_compile(p, blob, w, wlen, &oo, as, &err))
        fail("%s", err.msg);
    else if (link_so(as, map, linked, out, a->verbose, true))
        rc = 0;
    ocl_compile_cleanup(as);
    unlink(as);
    unlink(map);
    unlink(linked);
    rmdir(dir);
    return rc;
#else
    (void)a, (void)p, (void)blob, (void)w, (void)wlen, (void)out, (void)link_so;
    return fail("this vitc was built without the OpenCL backend (install ocl-icd-opencl-dev and opencl-headers, "
                "then reconfigure)");
#endif
}

/* Generates code for p into `out` (a linked .so for EMIT_SO). */
static int generate(const CompileArgs *a, const Plan *p, const Blob *blob, const uint8_t *w, size_t wlen,
                    const char *out)
{
    if (a->opencl)
        return generate_opencl(a, p, blob, w, wlen, out);
#ifdef VITC_HAVE_LLVM
    IrError err = {{0}};
    LlvmOptions lo = {a->target, a->cpu, a->features, a->m.opt_level < 0 ? 2 : a->m.opt_level,
                      a->emit == EMIT_LLVM ? LLVM_EMIT_LLVM : a->emit == EMIT_ASM ? LLVM_EMIT_ASM : LLVM_EMIT_OBJ};
    if (a->emit != EMIT_SO)
        return llvm_compile(p, blob->data, blob->len, w, wlen, &lo, out, &err) ? 0 : fail("%s", err.msg);
    const char *tmp = getenv("TMPDIR");
    char dir[4096], obj[4200], map[4200], linked[4200];
    snprintf(dir, sizeof dir, "%s/vitc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return fail("cannot create a temporary folder in %s: %s", tmp && *tmp ? tmp : "/tmp", strerror(errno));
    snprintf(obj, sizeof obj, "%s/model.o", dir);
    snprintf(map, sizeof map, "%s/exports.map", dir);
    snprintf(linked, sizeof linked, "%s/model.so", dir);
    int rc = 1;
    const char *host = llvm_host_triple();
    if (!llvm_compile(p, blob->data, blob->len, w, wlen, &lo, obj, &err))
        fail("%s", err.msg);
    else if (a->target && strncmp(a->target, host, strcspn(host, "-") + 1) != 0)
        fail("cannot link a shared object for '%s' on this host (%s): the runtime library is built for the "
             "host; use --emit=obj and link it with a runtime built for the target", a->target, host);
    else if (link_so(obj, map, linked, out, a->verbose, false))
        rc = 0;
    unlink(obj);
    unlink(map);
    unlink(linked);
    rmdir(dir);
    return rc;
#else
    (void)a, (void)p, (void)blob, (void)w, (void)wlen, (void)out;
    return fail("this vitc was built without the LLVM backend (configure with -DVITC_LLVM=ON)");
#endif
}

/* Everything after loading: returns the exit status. */
static int compile(const CompileArgs *a, Graph *g, const char *out)
{
    IrError err = {{0}};
    char why[256];
    if (!ir_verify(g, &err))
        return fail("internal compiler error: the graph loaded from '%s' is invalid: %s", a->m.file, err.msg);
    if (a->emit != EMIT_CL && !writable(out, why, sizeof why))
        return fail("cannot write '%s': %s", out, why);
    const char *input = tool_same_file(out, a->m.file)                   ? "model file"
                        : a->weights && tool_same_file(out, a->weights) ? "weights file"
                                                                         : NULL;
    if (input)
        return fail("the output '%s' is the %s it is compiled from", out, input);
    PassOptions po = {.dump = stderr, .log = stderr};
    const char *pipeline = a->m.passes ? a->m.passes : pass_default_pipeline(a->m.opt_level < 0 ? 2 : a->m.opt_level);
    if (!pass_run_pipeline(g, pipeline, &po, &err))
        return fprintf(stderr, "vitc compile: %s%s\n", pass_error_is_internal(&err) ? "" : "error: ", err.msg), 1;
    PlanOptions plo = {0};
#ifdef VITC_HAVE_LLVM
    if (!a->opencl) { /* GEMM weights packed for this target's micro-kernels */
        LlvmOptions lo = {a->target, a->cpu, a->features, a->m.opt_level < 0 ? 2 : a->m.opt_level, LLVM_EMIT_OBJ};
        llvm_plan_options(&lo, &plo);
    }
#endif
#ifdef VITC_HAVE_OPENCL
    if (a->opencl) { /* GEMM weights packed into the panels of the device's kernels */
        OclGenOptions go = {0};
        IrError derr;
        ocl_device_schedule(a->cl_device, &go, &derr); /* no device: the default panels */
        ocl_plan_options(&go, &plo);
    }
#endif
    Plan *p = plan_build_opts(g, &plo, &err);
    if (!p)
        return fail("%s: %s", a->m.file, err.msg);
    char *dir = dir_of(a->m.file);
    Blob blob = {0};
    uint8_t *w = NULL;
    size_t wlen = 0;
    int rc = 1;
    if (!dir) {
        fail("out of memory");
    } else if (!plan_serialize_model(p, dir, &blob, &err)) {
        fail("%s: %s", a->m.file, err.msg);
    } else if (a->weights && !(w = (uint8_t *)tool_read_file(a->weights, &wlen))) {
        fail("--embed-weights: cannot read '%s': %s", a->weights, strerror(errno));
    } else if (!a->weights || check_weights(&blob, w, wlen, a->weights)) {
        rc = generate(a, p, &blob, w, wlen, out);
    }
    ir_free(w);
    ir_free(blob.data);
    ir_free(dir);
    plan_free(p);
    return rc;
}

int cmd_compile(int argc, char **argv)
{
    CompileArgs a = {.m.opt_level = -1};
    int status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;
    static const char *const exts[] = {".so", ".o", ".s", ".ll", "_cl"};
    char *deflt = a.m.output ? NULL : default_output(a.m.file, exts[a.emit]);
    const char *out = a.m.output ? a.m.output : deflt;
    FrontendOptions fo = tool_frontend(&a.m);
    Diag *d = diag_new(stderr);
    Graph *g = d && out ? tool_load_model(a.m.file, &fo, d) : NULL;
    if (!d || !out)
        status = fail("out of memory");
    else if (!g)
        status = diag_error_count(d) ? 1 : fail("cannot load '%s'", a.m.file);
    else
        status = compile(&a, g, out);
    ir_graph_free(g);
    diag_free(d);
    ir_free(deflt);
    return status;
}
