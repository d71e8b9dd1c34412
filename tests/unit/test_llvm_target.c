/* test_llvm_target.c — llvm_compile's targets and outputs: unknown triples, CPUs and
 * features give one clean error (nothing on stderr); --emit llvm/asm/obj write files of the
 * right kind with the ABI's symbols; x86_64 and aarch64 objects from the same plan (cross
 * compilation); embedded weights; the time to generate ViT-B/16 at -O2 (well under 10 s).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "../../backends/plan_blob.h"
#include "test_llvm.h"

typedef struct {
    Graph *g;
    Plan *p;
    Blob blob;
} Compiled;

static Compiled plan_model(const char *file)
{
    Compiled c = {tl_model(file), NULL, {0}};
    IrError err = {{0}};
    PassOptions po = {0};
    po.ice = &err;
    if (!pass_run_pipeline(c.g, pass_default_pipeline(2), &po, &err))
        fail_msg("passes: %s", err.msg);
    if (!(c.p = plan_build(c.g, &err)))
        fail_msg("plan_build: %s", err.msg);
    if (!plan_serialize(c.p, &c.blob, &err))
        fail_msg("plan_serialize: %s", err.msg);
    return c;
}

static void compiled_free(Compiled *c)
{
    ir_free(c->blob.data);
    plan_free(c->p);
    ir_graph_free(c->g);
}

/* Runs llvm_compile with stderr captured; returns whether it succeeded and fills `said`
 * with what went to stderr. */
static bool compile_quietly(const Compiled *c, const LlvmOptions *o, const char *path, const uint8_t *w, size_t wlen,
                            IrError *err, char *said, size_t n)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_true(saved >= 0 && tmp);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    bool ok = llvm_compile(c->p, c->blob.data, c->blob.len, w, wlen, o, path, err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t got = fread(said, 1, n - 1, tmp);
    said[got] = 0;
    fclose(tmp);
    return ok;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* The .ll text defines @name as an exported global whose definition contains `what`. */
static void expect_global(const char *ll, const char *name, const char *what)
{
    char head[128];
    snprintf(head, sizeof head, "\n@%s = ", name);
    const char *l = strstr(ll, head);
    if (!l)
        fail_msg("no global @%s", name);
    l++;
    size_t n = strcspn(l, "\n");
    char *line = strndup(l, n);
    assert_non_null(line);
    bool ok = strstr(line, what) && !strstr(line, "internal") && !strstr(line, "private");
    if (!ok)
        fail_msg("@%s: \"%.200s\" is not an exported %s", name, line, what);
    free(line);
}

static void tmp_path(char *buf, size_t n, const char *ext)
{
    snprintf(buf, n, "/tmp/vitc_test_llvm_%d%s", (int)getpid(), ext);
}

static void expect_error(const Compiled *c, LlvmOptions o, const char *want)
{
    char path[256], said[4096];
    IrError err = {{0}};
    tmp_path(path, sizeof path, ".o");
    unlink(path);
    if (compile_quietly(c, &o, path, NULL, 0, &err, said, sizeof said))
        fail_msg("expected an error containing \"%s\"", want);
    print_message("error: %s\n", err.msg);
    if (!strstr(err.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
    if (said[0])
        fail_msg("LLVM printed on stderr: %s", said);
    assert_true(access(path, F_OK) != 0);
}

static void test_bad_targets(void **state)
{
    (void)state;
    Compiled c = plan_model("vit_test_cls.vit");
    expect_error(&c, (LlvmOptions){.triple = "nonsense-unknown-nowhere", .opt_level = 2}, "unknown target triple");
    expect_error(&c, (LlvmOptions){.cpu = "pentium9000", .opt_level = 2}, "unknown CPU 'pentium9000'");
    expect_error(&c, (LlvmOptions){.triple = "aarch64-linux-gnu", .cpu = "znver3", .opt_level = 2},
                 "unknown CPU 'znver3'");
    expect_error(&c, (LlvmOptions){.cpu = "generic", .features = "+warp-drive", .opt_level = 2},
                 "unknown CPU feature '+warp-drive'");
    expect_error(&c, (LlvmOptions){.opt_level = 7}, "optimisation level");
    /* an unwritable output, for each kind of output */
    for (int e = 0; e < 3; e++) {
        char said[4096];
        IrError werr = {{0}};
        LlvmOptions wo = {.opt_level = 0, .emit = (LlvmEmit)e};
        assert_false(compile_quietly(&c, &wo, "/nonexistent/dir/out", NULL, 0, &werr, said, sizeof said));
        print_message("error: %s\n", werr.msg);
        assert_non_null(strstr(werr.msg, "cannot write '/nonexistent/dir/out'"));
        assert_string_equal(said, "");
    }
    IrError err = {{0}};
    LlvmOptions o = {.triple = "aarch64-linux-gnu", .opt_level = 1};
    assert_null(llvm_jit_new(c.p, &o, &err));
    assert_non_null(strstr(err.msg, "host"));
    compiled_free(&c);
}

static void test_emit_kinds(void **state)
{
    (void)state;
    Compiled c = plan_model("vit_test_map.vit");
    static const char *const exts[] = {".ll", ".s", ".o"};
    for (int e = 0; e < 3; e++) {
        char path[256], said[4096];
        size_t len;
        IrError err = {{0}};
        tmp_path(path, sizeof path, exts[e]);
        LlvmOptions o = {.opt_level = 2, .emit = (LlvmEmit)e};
        if (!compile_quietly(&c, &o, path, NULL, 0, &err, said, sizeof said))
            fail_msg("%s: %s", exts[e], err.msg);
        char *s = slurp(path, &len);
        unlink(path);
        print_message("--emit %s: %zu bytes\n", exts[e] + 1, len);
        assert_true(len > 0);
        if (e == 0) {
            expect_global(s, "vit__kernels", "constant [");
            expect_global(s, "vit__extents", "constant [");
            expect_global(s, "vit__plan", "constant [");
            expect_global(s, "vit__plan_size", "constant i64");
            assert_non_null(strstr(s, "define internal void @vk0("));
            assert_non_null(strstr(s, "define internal i64 @vx0("));
            assert_non_null(strstr(s, "target triple"));
            assert_null(strstr(s, "vit__weights"));
        } else if (e == 1) {
            assert_non_null(strstr(s, "vit__kernels"));
        } else {
            assert_memory_equal(s, "\177ELF", 4);
        }
        free(s);
    }
    compiled_free(&c);
}

/* The same plan for x86_64 and aarch64: ELF objects for each machine. */
static void test_cross(void **state)
{
    (void)state;
    Compiled c = plan_model("vit_test_gap.vit");
    static const struct {
        const char *triple, *cpu;
        int machine;
    } t[] = {{"x86_64-unknown-linux-gnu", NULL, 62},
             {"x86_64-unknown-linux-gnu", "skylake-avx512", 62},
             {"aarch64-unknown-linux-gnu", NULL, 183},
             {"aarch64-unknown-linux-gnu", "neoverse-n1", 183}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char path[256], said[4096];
        size_t len;
        IrError err = {{0}};
        tmp_path(path, sizeof path, ".o");
        LlvmOptions o = {.triple = t[i].triple, .cpu = t[i].cpu, .opt_level = 2, .emit = LLVM_EMIT_OBJ};
        if (!compile_quietly(&c, &o, path, NULL, 0, &err, said, sizeof said))
            fail_msg("%s: %s", t[i].triple, err.msg);
        assert_string_equal(said, "");
        unsigned char *s = (unsigned char *)slurp(path, &len);
        unlink(path);
        assert_true(len > 64);
        assert_memory_equal(s, "\177ELF", 4);
        int machine = s[18] | s[19] << 8;
        print_message("%s (%s): %zu bytes, e_machine %d\n", t[i].triple, t[i].cpu ? t[i].cpu : "generic", len,
                      machine);
        assert_int_equal(machine, t[i].machine);
        free(s);
    }
    compiled_free(&c);
}

static void test_embedded_weights(void **state)
{
    (void)state;
    Compiled c = plan_model("vit_test_cls.vit");
    char weights[4096], path[256], said[4096];
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_cls.safetensors", tl_source_dir());
    size_t wlen, len;
    char *w = slurp(weights, &wlen);
    IrError err = {{0}};
    tmp_path(path, sizeof path, ".ll");
    LlvmOptions o = {.opt_level = 0, .emit = LLVM_EMIT_LLVM};
    if (!compile_quietly(&c, &o, path, (const uint8_t *)w, wlen, &err, said, sizeof said))
        fail_msg("%s", err.msg);
    char *s = slurp(path, &len);
    unlink(path);
    char want[128];
    snprintf(want, sizeof want, "constant [%zu x i8]", wlen);
    expect_global(s, "vit__weights", want);
    expect_global(s, "vit__weights", "align 64");
    snprintf(want, sizeof want, "constant i64 %zu", wlen);
    expect_global(s, "vit__weights_size", want);
    free(s);
    free(w);
    compiled_free(&c);
}

/* Every allocation of the backend failing in turn: a clean error, never a crash (and,
 * under the sanitizers, no leak). */
static void test_out_of_memory(void **state)
{
    (void)state;
    Compiled c = plan_model("vit_test_cls.vit");
    LlvmOptions o = {.opt_level = 0};
    int failures = 0;
    for (long n = 0; n < 400; n++) {
        IrError err = {{0}};
        ir_alloc_fail_after(n);
        LlvmJit *j = llvm_jit_new(c.p, &o, &err);
        ir_alloc_fail_after(-1);
        if (j) {
            llvm_jit_free(j);
            print_message("llvm_jit_new survives %d allocation failures, then succeeds\n", failures);
            assert_true(failures > 0);
            compiled_free(&c);
            return;
        }
        assert_non_null(strstr(err.msg, "out of memory"));
        failures++;
    }
    fail_msg("llvm_jit_new never succeeded");
}

static double now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_vit_b16_codegen_time(void **state)
{
    (void)state;
    double t0 = now(CLOCK_MONOTONIC);
    Compiled c = plan_model("vit_b16.vit");
    double t1 = now(CLOCK_MONOTONIC), cpu1 = now(CLOCK_PROCESS_CPUTIME_ID);
    char path[256], said[4096];
    IrError err = {{0}};
    tmp_path(path, sizeof path, ".o");
    LlvmOptions o = {.opt_level = 2, .emit = LLVM_EMIT_OBJ};
    if (!compile_quietly(&c, &o, path, NULL, 0, &err, said, sizeof said))
        fail_msg("%s", err.msg);
    double t2 = now(CLOCK_MONOTONIC), cpu2 = now(CLOCK_PROCESS_CPUTIME_ID);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unlink(path);
    print_message("vit_b16: %d kernels; frontend+passes+plan %.2f s, LLVM codegen to an object at -O2 %.2f s "
                  "(%.2f s of CPU; %lld bytes)\n", c.p->nkernels, t1 - t0, t2 - t1, cpu2 - cpu1, (long long)st.st_size);
    /* CPU time: the machine running the tests may be busy */
    assert_true(cpu2 - cpu1 < 10.0);
    compiled_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_targets),       cmocka_unit_test(test_emit_kinds),
        cmocka_unit_test(test_cross),             cmocka_unit_test(test_embedded_weights),
        cmocka_unit_test(test_vit_b16_codegen_time), cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
