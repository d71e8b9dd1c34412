/* test_compile.c — `vitc compile` end to end: the shared object equals the reference
 * interpreter (≤ 1e-4 max |Δ| on fp32 logits) and timm on the test ViTs, and the
 * interpreter on ViT-Ti/16 at 224 with random weights (ViT-B/16 with --slow: its own CTest
 * test, label slow); the .so depends on libc/libm/libpthread/libdl only and exports the
 * vit_* ABI only; the other --emit kinds, embedded weights, the error cell of a gather, and
 * the command's errors.
 *
 * Models are compiled by running the vitc under test (VITC_BIN) into the build dir.
 */
#include <dlfcn.h>
#include <elf.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "so_harness.h"
#include "vitrt.h"

#define TOLERANCE 1e-4

typedef SoApi Api;

static char out_dir[4096];
static bool slow;

static void out_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", out_dir, name); }

/* Compiles models/NAME.vit into OUT (in out_dir) with extra flags; asserts success. */
static void compile(const char *model, const char *out, const char *flags)
{
    char so[4200];
    out_path(so, sizeof so, out);
    so_compile(model, so, flags);
}

static void load(Api *api, const char *so_name)
{
    char so[4200];
    out_path(so, sizeof so, so_name);
    so_load(api, so);
}

static Graph *load_graph(const char *model)
{
    char path[4096], models[4096];
    snprintf(models, sizeof models, "%s/models", so_source_dir());
    snprintf(path, sizeof path, "%s/%s.vit", models, model);
    const char *dirs[] = {models};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    Graph *g = fe_compile_file(path, &fo, d);
    diag_free(d);
    if (!g)
        fail_msg("%s does not compile", path);
    return g;
}

/* The interpreter's first output on n images (HWC floats, n × h × w × c) — n × k floats. */
static float *interp(const char *model, const char *weights, const float *px, int n, int h, int w, int c, int *k)
{
    Graph *g = load_graph(model);
    char err[512];
    StFile *wf = st_open(weights, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    int64_t dims[4] = {n, h, w, c};
    Tensor *x = tensor_new(DT_F32, 4, dims);
    assert_non_null(x);
    memcpy(x->f, px, (size_t)x->numel * sizeof *px);
    WeightSource ws = tool_weight_source(wf);
    NamedTensor in = {"image", x};
    Tensor *outs[8] = {0};
    assert_true(g->noutputs >= 1 && g->noutputs <= 8);
    IrError ierr = {{0}};
    if (!ir_interp(g, &ws, &in, 1, outs, &ierr))
        fail_msg("%s: interpreter: %s", model, ierr.msg);
    *k = (int)(outs[0]->numel / n);
    float *r = malloc((size_t)outs[0]->numel * sizeof *r);
    assert_non_null(r);
    for (int64_t i = 0; i < outs[0]->numel; i++)
        r[i] = (float)tensor_get(outs[0], i);
    for (int i = 0; i < g->noutputs; i++)
        tensor_free(outs[i]);
    tensor_free(x);
    st_close(wf);
    ir_graph_free(g);
    return r;
}

/* Runs the .so on n images; n × info.outputs floats. */
static float *run_so(const Api *api, const char *weights, const float *px, int n, struct vit_info *info)
{
    char err[1024];
    vit_model *m = api->open(weights, err, sizeof err);
    if (!m)
        fail_msg("vit_open: %s", err);
    api->info(m, info);
    size_t per = (size_t)info->height * (size_t)info->width * (size_t)info->channels;
    vit_image *ims = calloc((size_t)n, sizeof *ims);
    float *out = calloc((size_t)n * (size_t)info->outputs, sizeof *out);
    assert_true(ims && out);
    for (int i = 0; i < n; i++)
        ims[i] = (vit_image){info->height, info->width, info->channels, px + (size_t)i * per};
    if (api->run(m, ims, n, out, err, sizeof err) != 0)
        fail_msg("vit_run: %s", err);
    free(ims);
    api->close(m);
    return out;
}

/* ---- the test ViTs against the interpreter and timm ---- */

static void check_head(const char *head, const char *flags)
{
    char model[64], so[64], weights[4096], io[4096], err[512];
    snprintf(model, sizeof model, "vit_test_%s", head);
    snprintf(so, sizeof so, "vit_test_%s%s.so", head, flags[0] ? "_flags" : "");
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_%s.safetensors", so_source_dir(), head);
    snprintf(io, sizeof io, "%s/tests/reference/vit_test_%s_io.safetensors", so_source_dir(), head);
    compile(model, so, flags);
    StFile *iof = st_open(io, err, sizeof err);
    if (!iof)
        fail_msg("%s", err);
    const StTensor *image = st_find(iof, "image"), *logits = st_find(iof, "logits");
    assert_true(image && logits && image->dtype == ST_F32 && logits->dtype == ST_F32);
    int n = (int)image->shape[0];
    Api api;
    load(&api, so);
    struct vit_info info;
    float *got = run_so(&api, weights, image->data, n, &info);
    assert_int_equal(info.outputs, 10);
    assert_int_equal(info.height, 32);
    int k;
    float *want = interp(model, weights, image->data, n, 32, 32, 3, &k);
    assert_int_equal(k, 10);
    double d_interp = so_max_diff(got, want, (size_t)n * 10), d_timm = so_max_diff(got, logits->data, (size_t)n * 10);
    print_message("%s %s: max |so - interpreter| = %.3g, max |so - timm| = %.3g\n", model, flags, d_interp, d_timm);
    assert_true(d_interp <= TOLERANCE);
    assert_true(d_timm <= TOLERANCE);
    free(got);
    free(want);
    st_close(iof);
    dlclose(api.handle);
}

static void test_cls(void **state) { (void)state; check_head("cls", ""); }
static void test_gap(void **state) { (void)state; check_head("gap", ""); }
static void test_map(void **state) { (void)state; check_head("map", ""); }
static void test_opt_levels(void **state)
{
    (void)state;
    check_head("cls", "-O0");
    check_head("map", "-O3");
}

/* ---- ViT at 224 with random weights ---- */

static void check_224(const char *model, int n)
{
    char weights[4200], so[64];
    out_path(weights, sizeof weights, model);
    strcat(weights, ".safetensors");
    snprintf(so, sizeof so, "%s.so", model);
    assert_int_equal(so_sh("'%s' init '%s/models/%s.vit' -o '%s' --seed 7 >/dev/null", VITC_BIN, so_source_dir(), model,
                        weights), 0);
    compile(model, so, "");
    size_t per = 224 * 224 * 3;
    float *px = malloc((size_t)n * per * sizeof *px);
    assert_non_null(px);
    for (size_t i = 0; i < (size_t)n * per; i++)
        px[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    Api api;
    load(&api, so);
    struct vit_info info;
    float *got = run_so(&api, weights, px, n, &info);
    int k;
    float *want = interp(model, weights, px, n, 224, 224, 3, &k);
    assert_int_equal(k, info.outputs);
    double d = so_max_diff(got, want, (size_t)n * (size_t)k);
    print_message("%s: max |so - interpreter| = %.3g over %d image(s) × %d\n", model, d, n, k);
    assert_true(d <= TOLERANCE);
    free(px);
    free(got);
    free(want);
    dlclose(api.handle);
}

static void test_ti16(void **state)
{
    (void)state;
    check_224("vit_ti16", 2);
}

static void test_b16(void **state)
{
    (void)state;
    check_224("vit_b16", 1);
}

/* ---- what the .so is ---- */

static void test_linkage(void **state)
{
    (void)state;
    char so[4200], list[4200];
    compile("vit_test_cls", "linkage.so", "");
    out_path(so, sizeof so, "linkage.so");
    out_path(list, sizeof list, "linkage.txt");
    /* ldd: libc, libm, libpthread, libdl, the loader and the vdso only */
    assert_int_equal(so_sh("ldd '%s' > '%s'", so, list), 0);
    assert_int_equal(so_sh("grep -v -E '^\\s*(linux-vdso|linux-gate|libc\\.so|libm\\.so|libpthread\\.so|libdl\\.so|"
                        "/lib.*/ld-linux|ld-linux)' '%s' | grep -q .",
                        list),
                     1);
    /* nm -D: the vit_* ABI and nothing else of ours */
    assert_int_equal(so_sh("nm -D --defined-only '%s' | awk '{print $3}' | sort > '%s'", so, list), 0);
    assert_int_equal(
        so_sh("printf 'vit_close\\nvit_info\\nvit_open\\nvit_run\\nvit_set_option\\nvit_set_threads\\n' "
           "| cmp -s - '%s'", list), 0);
}

static void test_emit_kinds(void **state)
{
    (void)state;
    char p[4200];
    compile("vit_test_gap", "gap.ll", "--emit=llvm");
    out_path(p, sizeof p, "gap.ll");
    assert_int_equal(so_sh("grep -q 'vit__plan' '%s' && grep -q 'vit__kernels' '%s'", p, p), 0);
    compile("vit_test_gap", "gap.s", "--emit=asm -O1");
    out_path(p, sizeof p, "gap.s");
    assert_int_equal(so_sh("grep -q 'vit__extents' '%s'", p), 0);
    compile("vit_test_gap", "gap.o", "--emit=obj");
    out_path(p, sizeof p, "gap.o");
    assert_int_equal(so_sh("nm '%s' | grep -q ' vit__plan$'", p), 0);
}

static void test_embedded(void **state)
{
    (void)state;
    char flags[4200], weights[4096];
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_cls.safetensors", so_source_dir());
    snprintf(flags, sizeof flags, "--embed-weights '%s'", weights);
    compile("vit_test_cls", "cls_embedded.so", flags);
    Api api;
    load(&api, "cls_embedded.so");
    float px[32 * 32 * 3];
    for (int i = 0; i < 32 * 32 * 3; i++)
        px[i] = (float)(i % 255) / 127.0f - 1.0f;
    struct vit_info info;
    float *a = run_so(&api, NULL, px, 1, &info), *b = run_so(&api, weights, px, 1, &info);
    assert_true(so_max_diff(a, b, 10) == 0);
    free(a);
    free(b);
    dlclose(api.handle);
    /* weights that do not fit the model are a compile error naming the tensor */
    char so[4200], errs[4200];
    out_path(so, sizeof so, "bad_embedded.so");
    out_path(errs, sizeof errs, "bad_embedded.err");
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_gap.safetensors", so_source_dir());
    assert_int_equal(so_sh("'%s' compile '%s/models/vit_test_cls.vit' -o '%s' --embed-weights '%s' 2>'%s'", VITC_BIN,
                        so_source_dir(), so, weights, errs),
                     1);
    assert_int_equal(so_sh("grep -q \"has no tensor 'cls_token'\" '%s'", errs), 0);
}

/* A gather whose indices come from the pixels: out-of-range ones set the error cell. */
static void test_gather_error(void **state)
{
    (void)state;
    char vir[4200], so[4200];
    out_path(vir, sizeof vir, "gather.vir");
    out_path(so, sizeof so, "gather.so");
    FILE *f = fopen(vir, "w");
    assert_non_null(f);
    fputs("graph @gather {\n"
          "  dim B <= 4\n"
          "  %x = input {name = \"image\"} : f32[B,1,1,4]\n"
          "  %t = constant {data = [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42]} : f32[5,3]\n"
          "  %f = reshape(%x) {shape = [-1, 4]} : f32[B,4]\n"
          "  %i = cast(%f) {to = i32} : i32[B,4]\n"
          "  %g = take(%t, %i) {axis = 0} : f32[B,4,3]\n"
          "  %o = reshape(%g) {shape = [-1, 12]} : f32[B,12]\n"
          "  output rows = %o\n"
          "}\n",
          f);
    fclose(f);
    assert_int_equal(so_sh("'%s' compile '%s' -o '%s'", VITC_BIN, vir, so), 0);
    Api api;
    load(&api, "gather.so");
    char err[512];
    vit_model *m = api.open(NULL, err, sizeof err);
    if (!m)
        fail_msg("vit_open: %s", err);
    struct vit_info info;
    api.info(m, &info);
    assert_string_equal(info.output_kind, "rows");
    assert_int_equal(info.outputs, 12);
    float px[2][4] = {{4, 0, 2, 1}, {3, 3, 1, 0}}, out[24];
    vit_image ims[2] = {{1, 1, 4, px[0]}, {1, 1, 4, px[1]}};
    assert_int_equal(api.run(m, ims, 2, out, err, sizeof err), 0);
    assert_true(out[0] == 40 && out[2] == 42 && out[3] == 0 && out[12] == 30 && out[23] == 2);
    px[1][2] = 5;
    assert_int_not_equal(api.run(m, ims, 2, out, err, sizeof err), 0);
    print_message("gather: %s\n", err);
    assert_non_null(strstr(err, "a gather index was out of range in kernel k"));
    px[1][2] = 1;
    assert_int_equal(api.run(m, ims, 2, out, err, sizeof err), 0);
    api.close(m);
    dlclose(api.handle);
}

/* `vitc run MODEL.so`: labels embedded at compile time, the top classes, the latency. */
static void test_run_so(void **state)
{
    (void)state;
    char vir[4200], labels[4200], so[4200], log[4200];
    const char *v = VITC_BIN, *s = so_source_dir();
    out_path(vir, sizeof vir, "labelled.vir");
    out_path(labels, sizeof labels, "labelled_labels.txt");
    out_path(so, sizeof so, "labelled.so");
    out_path(log, sizeof log, "labelled.txt");
    FILE *f = fopen(labels, "w");
    assert_non_null(f);
    fputs("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n", f);
    fclose(f);
    assert_int_equal(so_sh("'%s' dump '%s/models/vit_test_cls.vit' | sed 's/^  meta {\\(.*\\)}$/  meta {\\1, labels = "
                        "\"labelled_labels.txt\"}/' > '%s'", v, s, vir), 0);
    assert_int_equal(so_sh("grep -q 'labels = \"labelled_labels.txt\"' '%s'", vir), 0);
    assert_int_equal(so_sh("'%s' compile '%s' -o '%s'", v, vir, so), 0);
    assert_int_equal(so_sh("'%s' run '%s' --weights '%s/tests/reference/vit_test_cls.safetensors' "
                        "'%s/tests/reference/images/img0.png' '%s/tests/reference/images/img2.png' --top 2 "
                        "--threads 2 --repeat 3 > '%s'", v, so, s, s, s, log), 0);
    /* timm's top class: 3 for img0, 0 for img2 (tests/reference/show_reference.py) */
    assert_int_equal(so_sh("grep -q '1\\. 0\\.[0-9]*  class 3  cat' '%s'", log), 0);
    assert_int_equal(so_sh("grep -q '1\\. 0\\.[0-9]*  class 0  airplane' '%s'", log), 0);
    assert_int_equal(so_sh("grep -q '^latency: .* ms per image (median of 3 runs of 2 images' '%s'", log), 0);
    /* its errors */
    assert_int_equal(so_sh("'%s' run '%s' '%s/tests/reference/images/img0.png' 2>/dev/null", v, so, s), 1);
    assert_int_equal(so_sh("'%s' run '%s/nosuch.so' '%s/tests/reference/images/img0.png' 2>/dev/null", v, out_dir, s), 1);
    assert_int_equal(so_sh("'%s' run '%s' 2>/dev/null", v, so), 2);
    assert_int_equal(so_sh("'%s' run '%s' --top 0 x.png 2>/dev/null", v, so), 2);
    /* a truncated .so: a message, never a SIGBUS inside dlopen (load_so.c) */
    char cut[4200], errs[4200];
    out_path(cut, sizeof cut, "labelled_cut.so");
    out_path(errs, sizeof errs, "labelled_cut.err");
    assert_int_equal(so_sh("head -c 20000 '%s' > '%s'", so, cut), 0);
    assert_int_equal(so_sh("'%s' run '%s' '%s/tests/reference/images/img0.png' 2> '%s'", v, cut, s, errs), 1);
    assert_int_equal(
        so_sh("grep -q \"run: error: '.*labelled_cut.so' is truncated or corrupt: its section headers\" '%s'", errs),
        0);
    assert_int_equal(so_sh("'%s' bench '%s' 2>/dev/null", v, cut), 1);
    /* the same without its section headers (e_shnum = 0): the segments past the end */
    FILE *cf = fopen(cut, "r+b");
    assert_non_null(cf);
    uint16_t zero = 0;
    assert_int_equal(fseek(cf, (long)offsetof(Elf64_Ehdr, e_shnum), SEEK_SET), 0);
    assert_int_equal(fwrite(&zero, sizeof zero, 1, cf), 1);
    fclose(cf);
    assert_int_equal(so_sh("'%s' run '%s' '%s/tests/reference/images/img0.png' 2> '%s'", v, cut, s, errs), 1);
    assert_int_equal(so_sh("grep -q 'is truncated or corrupt: its segment [0-9]* ends at byte [0-9]*, past its end "
                           "(20000 bytes)' '%s'", errs), 0);
}

/* `vitc bench`: where the time goes, by kind, by layer (named after the parameters:
 * blocks.0, blocks.1, ...) and by operation over the layers; each grouping adds up to the
 * kernels' total. */
static void test_bench(void **state)
{
    (void)state;
    char so[4200], log[4200];
    const char *v = VITC_BIN, *s = so_source_dir();
    out_path(so, sizeof so, "bench.so");
    out_path(log, sizeof log, "bench.txt");
    assert_int_equal(so_sh("'%s' compile '%s/models/vit_test_cls.vit' -o '%s'", v, s, so), 0);
    assert_int_equal(so_sh("'%s' bench '%s' --weights '%s/tests/reference/vit_test_cls.safetensors' --threads 1 "
                           "--repeat 3 --warmup 1 --top 40 > '%s'", v, so, s, log), 0);
    /* rows: name, ms/run, %time, kernels, GFLOP/s, %peak. By layer: exactly these rows, the
     * two blocks with as many kernels; by operation: these among others, 2 kernels each */
    static const char *const rows[][2] = {
        {"by layer", "blocks.0 blocks.1 patch_embed cls_token pos_embed norm head"},
        {"by operation", "blocks.*.attn.qkv.gemm blocks.*.mlp.fc1.gemm blocks.*.attention blocks.*.norm1.row"},
    };
    for (int i = 0; i < 2; i++) {
        /* the section's rows run until a blank line; ms/run sums to the kernels' total (±0.01) */
        int rc = so_sh("awk -v sec='%s' -v want='%s' -v exact=%d '"
                       "/^            kernels: / { total = $2 }"
                       "index($0, sec) == 1 { on = 1; next }"
                       "on && NF == 0 { on = 0 }"
                       "on { key = $1; for (j = 2; j <= NF - 5; j++) key = key \".\" $j; got[key] = $(NF - 2); "
                       "sum += $(NF - 4); rows++ }"
                       "END { n = split(want, w, \" \"); for (j = 1; j <= n; j++) {"
                       "  if (!(w[j] in got)) { print \"missing \" w[j]; exit 1 }"
                       "  if (!exact && got[w[j]] != 2) { print w[j] \": \" got[w[j]] \" kernels\"; exit 1 } }"
                       "  b0 = got[\"blocks.0\"]; b1 = got[\"blocks.1\"];"
                       "  if (exact && (rows != n || b0 != b1 || b0 < 4)) {"
                       "    print rows \" rows, blocks of \" b0 \" and \" b1 \" kernels\"; exit 1 }"
                       "  if (rows < n || sum < total - 0.01 || sum > total + 0.01) {"
                       "    print rows \" rows, \" sum \" ms against \" total; exit 1 } }' '%s'",
                       rows[i][0], rows[i][1], i == 0, log);
        if (rc != 0)
            fail_msg("vitc bench: the section '%s' of %s is not as expected", rows[i][0], log);
    }
    /* the labels of the slowest kernels: location and scope */
    assert_int_equal(so_sh("grep -q '^  .* gemm .*vit_test_cls.vit:[0-9]*:[0-9]* \\[blocks\\.[01]\\.mlp\\.fc[12]\\]$' "
                           "'%s'", log), 0);
    /* its errors */
    assert_int_equal(so_sh("'%s' bench 2>/dev/null", v), 2);
    assert_int_equal(so_sh("'%s' bench '%s' --repeat 0 2>/dev/null", v, so), 2);
    assert_int_equal(so_sh("'%s' bench '%s/nosuch.so' 2>/dev/null", v, out_dir), 1);
}

static void test_errors(void **state)
{
    (void)state;
    char so[4200], errs[4200], model[4096];
    out_path(so, sizeof so, "errors.so");
    out_path(errs, sizeof errs, "errors.err");
    snprintf(model, sizeof model, "%s/models/vit_test_cls.vit", so_source_dir());
    const char *v = VITC_BIN;
    assert_int_equal(so_sh("'%s' compile --help | grep -q 'usage: vitc compile'", v), 0);
    assert_int_equal(so_sh("'%s' compile 2>/dev/null", v), 2);
    assert_int_equal(so_sh("'%s' compile '%s' --emit=exe -o '%s' 2>/dev/null", v, model, so), 2);
    assert_int_equal(so_sh("'%s' compile '%s' -O7 -o '%s' 2>/dev/null", v, model, so), 2);
    assert_int_equal(so_sh("'%s' compile '%s' --passes=nosuch -o '%s' 2>/dev/null", v, model, so), 2);
    assert_int_equal(so_sh("'%s' compile '%s' --frobnicate 2>/dev/null", v, model), 2);
    assert_int_equal(so_sh("'%s' compile '%s' --target=nosuch-unknown-none -o '%s' 2>'%s'", v, model, so, errs), 1);
    assert_int_equal(so_sh("grep -q 'nosuch' '%s'", errs), 0);
    assert_int_equal(so_sh("'%s' compile '%s' -o /nonexistent-dir/m.so 2>'%s'", v, model, errs), 1);
    assert_int_equal(so_sh("grep -q \"cannot write '/nonexistent-dir/m.so'\" '%s'", errs), 0);
    assert_int_equal(so_sh("'%s' compile '%s' -o '%s' 2>'%s'", v, out_dir, so, errs), 1);
    assert_int_equal(so_sh("'%s' compile '%s/no-such-model.vit' -o '%s' 2>/dev/null", v, out_dir, so), 1);
    /* the output may not be the model (or the weights) it is compiled from: it is left as it was */
    char self[4200];
    out_path(self, sizeof self, "self.vit");
    assert_int_equal(so_sh("cp '%s' '%s'", model, self), 0);
    assert_int_equal(so_sh("'%s' compile '%s' -I '%s/models' -o '%s' 2>'%s'", v, self, so_source_dir(), self, errs), 1);
    assert_int_equal(so_sh("grep -q \"the output '.*self.vit' is the model file it is compiled from\" '%s'", errs), 0);
    assert_int_equal(so_sh("cmp -s '%s' '%s'", model, self), 0);
    /* a full disk is an error, and an output that is a device is written in place (ir/file.c):
     * a linker or LLVM's streams would replace /dev/full by a regular file (as root) and say
     * nothing; --emit=so and --emit=asm take the two paths */
    struct stat full;
    if (stat("/dev/full", &full) == 0 && S_ISCHR(full.st_mode)) {
        for (int i = 0; i < 2; i++) {
            const char *emit = i ? "--emit=asm" : "";
            assert_int_equal(so_sh("'%s' compile '%s' %s -o /dev/full 2>'%s'", v, model, emit, errs), 1);
            assert_int_equal(so_sh("grep -q \"cannot write '/dev/full': No space left on device\" '%s'", errs), 0);
            assert_int_equal(stat("/dev/full", &full), 0);
            assert_true(S_ISCHR(full.st_mode));
        }
    }
    /* `vitc dump --kernels`: the plan after the pipeline */
    assert_int_equal(so_sh("'%s' dump --kernels -O2 '%s' | grep -q '^plan @vit_test_cls: [0-9]* kernels'", v, model), 0);
    assert_int_equal(so_sh("'%s' dump --kernels '%s' | grep -q ' = gemm '", v, model), 0);
    assert_int_equal(so_sh("'%s' dump --kernels --stats '%s' 2>/dev/null", v, model), 2);
}

int main(int argc, char **argv)
{
    slow = argc > 1 && strcmp(argv[1], "--slow") == 0;
    snprintf(out_dir, sizeof out_dir, "%s/compile", VITC_TEST_OUT);
    mkdir(out_dir, 0777);
    if (slow) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_b16)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cls),        cmocka_unit_test(test_gap),         cmocka_unit_test(test_map),
        cmocka_unit_test(test_opt_levels), cmocka_unit_test(test_ti16),        cmocka_unit_test(test_linkage),
        cmocka_unit_test(test_emit_kinds), cmocka_unit_test(test_embedded),    cmocka_unit_test(test_gather_error),
        cmocka_unit_test(test_run_so),     cmocka_unit_test(test_errors),      cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
