/* test_runtime_so.c — the runtime inside a shared object, independently of the LLVM
 * backend: a small plan (two dense layers, a parameter-only kernel folded at load time, a
 * constant) is serialised, its three kernels are written by hand in C, compiled with `cc`
 * and linked with libvitc_rt.a as `vitc compile` links, then driven through dlopen and the
 * vitrt.h ABI: info, runs in chunks (symbolic and fixed batches), threads, every kind of bad
 * weights file, embedded weights, several models at once, the error cell.
 */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "plan.h"
#include "plan_blob.h"
#include "rt_internal.h"
#include "rt_abi.h"
#include "so_harness.h"
#include "test_vir.h"
#include "vitrt.h"

enum { IN = 64, HID = 64, OUT = 10 };

static const char hand_vir[] =
    "graph @hand {\n"
    "  dim B <= 32\n"
    "  meta {resize = 8, mean = [0.5], std = [0.25], labels = \"hand_labels.txt\"}\n"
    "  %x = input {name = \"image\"} : f32[B,8,8,1]\n"
    "  %w = param $w : f32[64,64]\n"
    "  %b = param $b : f32[64]\n"
    "  %w2 = param $w2 : f32[64,10]\n"
    "  %xf = reshape(%x) {shape = [-1, 64]} : f32[B,64]\n"
    "  %two = constant {data = [2]} : f32[]\n"
    "  %ws = mul(%w, %two) : f32[64,64]\n"
    "  %h = matmul(%xf, %ws) : f32[B,64]\n"
    "  %h2 = add(%h, %b) : f32[B,64]\n"
    "  %h3 = relu(%h2) : f32[B,64]\n"
    "  %y = matmul(%h3, %w2) : f32[B,10]\n"
    "  %c = constant {data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]} : f32[10]\n"
    "  %y2 = add(%y, %c) : f32[B,10]\n"
    "  output logits = %y2\n"
    "}\n";

/* k1 sets the error cell when an image's first pixel is this (a test hook) */
#define SENTINEL -1000.0f

static const char kernels_c[] =
    "#include <stdint.h>\n"
    "typedef void (*VitKernelFn)(char *const *, const int64_t *, int64_t, int64_t);\n"
    "typedef int64_t (*VitExtentFn)(const int64_t *);\n"
    "static void k0(char *const *b, const int64_t *s, int64_t lo, int64_t hi) {\n"
    "  (void)s; const float *w = (const float *)b[W]; float *f = (float *)b[F];\n"
    "  for (int64_t i = lo * 64; i < hi * 64; i++) f[i] = w[i] * 2;\n"
    "}\n"
    "static void k1(char *const *b, const int64_t *s, int64_t lo, int64_t hi) {\n"
    "  (void)s; const float *x = (const float *)b[X], *f = (const float *)b[F], *bias = (const float *)b[BIAS];\n"
    "  float *t = (float *)b[T];\n"
    "  for (int64_t r = lo; r < hi; r++) {\n"
    "    if (x[r * 64] == -1000.0f) *(int32_t *)b[NB] = 1;\n"
    "    for (int j = 0; j < 64; j++) {\n"
    "      float acc = 0;\n"
    "      for (int k = 0; k < 64; k++) acc += x[r * 64 + k] * f[k * 64 + j];\n"
    "      acc += bias[j]; t[r * 64 + j] = acc > 0 ? acc : 0;\n"
    "    }\n"
    "  }\n"
    "}\n"
    "static void k2(char *const *b, const int64_t *s, int64_t lo, int64_t hi) {\n"
    "  (void)s; const float *t = (const float *)b[T], *w2 = (const float *)b[W2], *c = (const float *)b[C];\n"
    "  float *y = (float *)b[Y];\n"
    "  for (int64_t r = lo; r < hi; r++)\n"
    "    for (int j = 0; j < 10; j++) {\n"
    "      float acc = 0;\n"
    "      for (int k = 0; k < 64; k++) acc += t[r * 64 + k] * w2[k * 10 + j];\n"
    "      y[r * 10 + j] = acc + c[j];\n"
    "    }\n"
    "}\n"
    "static int64_t x0(const int64_t *s) { (void)s; return 64; }\n"
    "static int64_t x1(const int64_t *s) { (void)s; return BATCH; }\n"
    "const VitKernelFn vit__kernels[] = {k0, k1, k2};\n"
    "const VitExtentFn vit__extents[] = {x0, x1, x1};\n";

typedef SoApi Api;

static char dir[4096];
static float W[IN * HID], B[HID], W2[HID * OUT];

static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void write_bytes(FILE *f, const char *name, const uint8_t *data, size_t n)
{
    fprintf(f, "__attribute__((aligned(64))) const unsigned char %s[] = {", name);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%u,%s", data[i], i % 32 == 31 ? "\n" : "");
    fprintf(f, "0};\nconst unsigned long long %s_size = %zu;\n", name, n);
}

/* Builds NAME.so from the plan of `vir` (its batch fixed when `fixed`), with the weights
 * file `embed` embedded when non-NULL. */
static void build_so(const char *name, const char *vir, bool fixed, const char *embed)
{
    Graph *g = test_parse_vir(vir);
    IrError err;
    Plan *p = plan_build(g, &err);
    if (!p)
        fail_msg("%s", err.msg);
    /* the kernels below are written for this plan */
    assert_int_equal(p->nkernels, 3);
    assert_true(p->kernels[0].once && p->kernels[0].kind == KK_ELEMENTWISE);
    assert_true(!p->kernels[1].once && p->kernels[1].kind == KK_GEMM && p->kernels[2].kind == KK_GEMM);
    int x = -1, w = -1, bias = -1, w2 = -1, c = -1;
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        if (b->kind == BUF_INPUT)
            x = i;
        else if (b->kind == BUF_CONST)
            c = i;
        else if (b->kind == BUF_PARAM)
            *(strcmp(b->name, "w") == 0 ? &w : strcmp(b->name, "b") == 0 ? &bias : &w2) = i;
    }
    assert_true(x >= 0 && w >= 0 && bias >= 0 && w2 >= 0 && c >= 0);
    Blob blob;
    assert_true(plan_serialize_model(p, dir, &blob, &err));
    char src[4200], obj[4200], so[4200], map[4200];
    snprintf(src, sizeof src, "%s/%s.c", dir, name);
    snprintf(obj, sizeof obj, "%s/%s.o", dir, name);
    snprintf(so, sizeof so, "%s/%s.so", dir, name);
    path(map, sizeof map, "exports.map");
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fprintf(f, "#define X %d\n#define W %d\n#define BIAS %d\n#define W2 %d\n#define C %d\n#define F %d\n", x, w, bias,
            w2, c, p->kernels[0].out.buf);
    fprintf(f, "#define T %d\n#define Y %d\n#define NB %d\n#define BATCH %s\n", p->kernels[1].out.buf,
            p->output_bufs[0], p->nbufs, fixed ? "2" : "s[0]");
    fputs(kernels_c, f);
    write_bytes(f, "vit__plan", blob.data, blob.len);
    if (embed) {
        size_t n;
        char *data = tool_read_file(embed, &n);
        assert_non_null(data);
        write_bytes(f, "vit__weights", (const uint8_t *)data, n);
        ir_free(data);
    }
    fclose(f);
    assert_int_equal(so_sh("cc -c -fPIC -O1 -o '%s' '%s'", obj, src), 0);
    f = fopen(map, "w");
    assert_non_null(f);
    /* as vitc compile links: the ABI only, pulled from the archive with -u */
    static const char *const abi[] = {RT_ABI_EXPORTS};
    char undefined[512] = "-Wl";
    fputs("{ global:", f);
    for (size_t i = 0; i < sizeof abi / sizeof abi[0]; i++) {
        fprintf(f, " %s;", abi[i]);
        snprintf(undefined + strlen(undefined), sizeof undefined - strlen(undefined), ",-u,%s", abi[i]);
    }
    fputs(" local: *; };\n", f);
    fclose(f);
    assert_int_equal(so_sh("cc -shared -o '%s' '%s' %s '%s' -lm -lpthread -Wl,--version-script='%s'", so, obj,
                           undefined, VITC_RT_LIB, map),
                     0);
    ir_free(blob.data);
    plan_free(p);
    ir_graph_free(g);
}

static void load(Api *api, const char *name)
{
    char so[4200];
    snprintf(so, sizeof so, "%s/%s.so", dir, name);
    so_load(api, so);
    assert_null(dlsym(api->handle, "rt_plan_parse")); /* nothing else of ours is exported */
    assert_null(dlsym(api->handle, "st_open"));
    assert_null(dlsym(api->handle, "vit__plan"));
}

/* ---- weights files ---- */

static void write_weights(const char *name, StDType wdt, const int64_t *wshape, int wrank, bool drop_w2)
{
    uint8_t wbytes[IN * HID * 4];
    for (int i = 0; i < IN * HID; i++) {
        uint32_t u;
        float v = W[i];
        if (wdt == ST_F32) {
            memcpy(&u, &v, 4);
            memcpy(wbytes + 4 * i, &u, 4);
        } else if (wdt == ST_I32) {
            int32_t k = (int32_t)(v * 64);
            memcpy(wbytes + 4 * i, &k, 4);
        } else {
            uint16_t h = wdt == ST_F16 ? st_f32_to_f16(v) : st_f32_to_bf16(v);
            memcpy(wbytes + 2 * i, &h, 2);
        }
    }
    StTensor t[3] = {
        {"w", wdt, wrank, {wshape[0], wshape[1]}, wbytes, (size_t)IN * HID * st_dtype_size(wdt)},
        {"b", ST_F32, 1, {HID}, B, sizeof B},
        {"w2", ST_F32, 2, {HID, OUT}, W2, sizeof W2},
    };
    char p[4200], err[512];
    path(p, sizeof p, name);
    if (st_write(p, t, drop_w2 ? 2 : 3, NULL, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* The F32 weights after one unaligned U8 tensor: data offsets not multiples of 4. */
static void write_unaligned(const char *name)
{
    char header[512], p[4200];
    size_t nw = sizeof W, nb = sizeof B, n2 = sizeof W2;
    int len = snprintf(header, sizeof header - 8,
                       "{\"pad\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"w\":{\"dtype\":\"F32\",\"shape\":[64,64],\"data_offsets\":[1,%zu]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[%zu,%zu]},"
                       "\"w2\":{\"dtype\":\"F32\",\"shape\":[64,10],\"data_offsets\":[%zu,%zu]}}",
                       1 + nw, 1 + nw, 1 + nw + nb, 1 + nw + nb, 1 + nw + nb + n2);
    while ((8 + len) % 4 != 0) /* so that w's data, one byte on, is misaligned */
        header[len++] = ' ';
    path(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint64_t hl = (uint64_t)len;
    uint8_t le[8], pad = 7;
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(hl >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, (size_t)len, f);
    fwrite(&pad, 1, 1, f);
    fwrite(W, 1, nw, f);
    fwrite(B, 1, nb, f);
    fwrite(W2, 1, n2, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/runtime_so", VITC_TEST_OUT);
    mkdir(dir, 0777);
    uint32_t r = 12345;
    for (int i = 0; i < IN * HID; i++)
        W[i] = (float)((int)((r = r * 1103515245 + 12345) >> 16) % 129 - 64) / 512.0f;
    for (int i = 0; i < HID; i++)
        B[i] = (float)(i % 7 - 3) / 8.0f;
    for (int i = 0; i < HID * OUT; i++)
        W2[i] = (float)((int)((r = r * 1103515245 + 12345) >> 16) % 129 - 64) / 64.0f;
    char p[4200];
    path(p, sizeof p, "hand_labels.txt");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n", f);
    fclose(f);
    static const int64_t good[2] = {IN, HID}, bad[2] = {32, 128};
    write_weights("good.safetensors", ST_F32, good, 2, false);
    write_weights("f16.safetensors", ST_F16, good, 2, false);
    write_weights("bf16.safetensors", ST_BF16, good, 2, false);
    write_weights("i32.safetensors", ST_I32, good, 2, false);
    write_weights("shape.safetensors", ST_F32, bad, 2, false);
    write_weights("missing.safetensors", ST_F32, good, 2, true);
    write_unaligned("unaligned.safetensors");
    char g[4200];
    path(g, sizeof g, "good.safetensors");
    build_so("hand", hand_vir, false, NULL);
    build_so("hand_embedded", hand_vir, false, g);
    /* the same model with a fixed batch of 2 */
    char fixed[sizeof hand_vir];
    const char *s = hand_vir;
    size_t o = 0;
    while (*s) {
        if (strncmp(s, "  dim B <= 32\n", 14) == 0) {
            s += 14;
        } else if (strncmp(s, "[B,", 3) == 0) {
            memcpy(fixed + o, "[2,", 3), o += 3, s += 3;
        } else if (strncmp(s, "[-1, 64]", 8) == 0) {
            memcpy(fixed + o, "[2, 64]", 7), o += 7, s += 8;
        } else {
            fixed[o++] = *s++;
        }
    }
    fixed[o] = 0;
    build_so("hand_fixed", fixed, true, NULL);
    return 0;
}

/* ---- checks ---- */

static void image(float *px, int k)
{
    for (int i = 0; i < IN; i++)
        px[i] = (float)((i * 7 + k * 13) % 17 - 8) / 8.0f;
}

static void expected(const float *x, double *y)
{
    double h[HID];
    for (int j = 0; j < HID; j++) {
        double a = 0;
        for (int k = 0; k < IN; k++)
            a += (double)x[k] * 2.0 * W[k * HID + j];
        a += B[j];
        h[j] = a > 0 ? a : 0;
    }
    for (int j = 0; j < OUT; j++) {
        double a = 0;
        for (int k = 0; k < HID; k++)
            a += h[k] * W2[k * OUT + j];
        y[j] = a + j + 1;
    }
}

/* Opens name.so with `weights` (a file in dir, or NULL) and checks n images' logits. */
static void check_run(const Api *api, vit_model *m, int n)
{
    float *px = calloc((size_t)n * IN, sizeof *px), *out = calloc((size_t)n * OUT, sizeof *out);
    vit_image *ims = calloc((size_t)n, sizeof *ims);
    assert_true(px && out && ims);
    for (int i = 0; i < n; i++) {
        image(px + i * IN, i);
        ims[i] = (vit_image){8, 8, 1, px + i * IN};
    }
    char err[512];
    if (api->run(m, ims, n, out, err, sizeof err) != 0)
        fail_msg("vit_run: %s", err);
    for (int i = 0; i < n; i++) {
        double y[OUT];
        expected(px + i * IN, y);
        for (int j = 0; j < OUT; j++)
            if (fabs(out[i * OUT + j] - y[j]) > 1e-4 * (1 + fabs(y[j])))
                fail_msg("image %d of %d, logit %d: %g, expected %g", i, n, j, out[i * OUT + j], y[j]);
    }
    free(px);
    free(out);
    free(ims);
}

static vit_model *open_with(const Api *api, const char *weights)
{
    char p[4200], err[512];
    if (weights)
        path(p, sizeof p, weights);
    vit_model *m = api->open(weights ? p : NULL, err, sizeof err);
    if (!m)
        fail_msg("vit_open(%s): %s", weights ? weights : "NULL", err);
    return m;
}

static void test_info_and_run(void **state)
{
    (void)state;
    Api api;
    load(&api, "hand");
    vit_model *m = open_with(&api, "good.safetensors");
    struct vit_info in;
    assert_int_equal(api.info(m, &in), 0);
    assert_string_equal(in.name, "hand");
    assert_int_equal(in.height, 8);
    assert_int_equal(in.width, 8);
    assert_int_equal(in.channels, 1);
    assert_int_equal(in.outputs, OUT);
    assert_int_equal(in.max_images, 32);
    assert_string_equal(in.output_kind, "logits");
    assert_int_equal(in.resize, 8);
    assert_int_equal(in.crop, 0);
    for (int c = 0; c < 3; c++) {
        assert_true(in.mean[c] == 0.5f);
        assert_true(in.std[c] == 0.25f);
    }
    assert_string_equal(in.labels, "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n");
    assert_int_equal(in.abi_version, VITRT_ABI_VERSION);
    static const int counts[] = {1, 2, 31, 32, 33, 70, 5};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        check_run(&api, m, counts[i]);
    for (int t = 1; t <= 4; t++) {
        api.set_threads(m, t);
        check_run(&api, m, 32);
        check_run(&api, m, 65);
    }
    api.set_threads(m, 0); /* means 1 */
    check_run(&api, m, 3);
    api.close(m);
    dlclose(api.handle);
}

static void test_bad_runs(void **state)
{
    (void)state;
    Api api;
    load(&api, "hand");
    vit_model *m = open_with(&api, "good.safetensors");
    float px[5][IN] = {{0}}, out[5 * OUT];
    vit_image ims[5];
    for (int i = 0; i < 5; i++)
        ims[i] = (vit_image){8, 8, 1, px[i]};
    char err[512];
    assert_int_equal(api.run(m, ims, 0, out, err, sizeof err), 0);
    assert_int_not_equal(api.run(m, ims, -1, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "negative"));
    ims[3].width = 9;
    assert_int_not_equal(api.run(m, ims, 5, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 3 is 8x9x1"));
    ims[3].width = 8;
    ims[2].channels = 3;
    assert_int_not_equal(api.run(m, ims, 5, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 2"));
    ims[2].channels = 1;
    ims[1].pixels = NULL;
    assert_int_not_equal(api.run(m, ims, 5, out, err, sizeof err), 0);
    ims[1].pixels = px[1];
    assert_int_not_equal(api.run(m, ims, 5, NULL, err, sizeof err), 0);
    assert_int_not_equal(api.run(NULL, ims, 5, out, err, sizeof err), 0);
    /* the error cell */
    px[4][0] = SENTINEL;
    assert_int_not_equal(api.run(m, ims, 5, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "a gather index was out of range in kernel k1 gemm"));
    px[4][0] = 0;
    assert_int_equal(api.run(m, ims, 5, out, err, sizeof err), 0);
    assert_int_not_equal(api.run(m, ims, -1, out, NULL, 0), 0); /* no room for a message: still an error */
    api.close(m);
    api.close(NULL);
    dlclose(api.handle);
}

static void expect_open_error(const Api *api, const char *weights, const char *want)
{
    char p[4200], err[512] = "";
    if (weights && weights[0] != '/')
        path(p, sizeof p, weights);
    else if (weights)
        snprintf(p, sizeof p, "%s", weights);
    vit_model *m = api->open(weights ? p : NULL, err, sizeof err);
    if (m)
        fail_msg("vit_open(%s) succeeded", weights);
    if (!strstr(err, want))
        fail_msg("vit_open(%s): '%s' does not say '%s'", weights, err, want);
    print_message("  %s: %s\n", weights ? weights : "NULL", err);
}

static void test_weights(void **state)
{
    (void)state;
    Api api;
    load(&api, "hand");
    static const char *const ok[] = {"good.safetensors", "f16.safetensors", "bf16.safetensors",
                                     "unaligned.safetensors"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        vit_model *m = open_with(&api, ok[i]);
        check_run(&api, m, 3);
        api.close(m);
    }
    expect_open_error(&api, "missing.safetensors",
                      "the weights file has no tensor 'w2' (the model needs w2: F32[64,10])");
    expect_open_error(&api, "shape.safetensors", "tensor 'w' has shape [32,128] but the model needs [64,64]");
    expect_open_error(&api, "i32.safetensors", "tensor 'w' has dtype I32 but the model needs F32[64,64]");
    expect_open_error(&api, NULL, "no embedded weights");
    expect_open_error(&api, "no-such-file.safetensors", "no-such-file.safetensors");
    expect_open_error(&api, dir, "not a regular file");
    /* truncated and malformed copies of the good file */
    char good[4200], p[4200];
    path(good, sizeof good, "good.safetensors");
    size_t n;
    char *data = tool_read_file(good, &n);
    assert_non_null(data);
    static const size_t cuts[] = {0, 4, 8, 20, 200, 5000};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        path(p, sizeof p, "truncated.safetensors");
        FILE *f = fopen(p, "wb");
        fwrite(data, 1, cuts[i] < n ? cuts[i] : n - 1, f);
        fclose(f);
        expect_open_error(&api, "truncated.safetensors", "truncated.safetensors");
    }
    path(p, sizeof p, "malformed.safetensors");
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fseek(f, 9, SEEK_SET);
    fputs("\"w\" : [ }", f);
    fclose(f);
    expect_open_error(&api, "malformed.safetensors", "malformed.safetensors");
    ir_free(data);
    dlclose(api.handle);
}

static void test_embedded_and_many(void **state)
{
    (void)state;
    Api a, b, c;
    load(&a, "hand");
    load(&b, "hand_embedded");
    load(&c, "hand_fixed");
    vit_model *ms[5] = {
        open_with(&a, "good.safetensors"), open_with(&a, "f16.safetensors"), open_with(&b, NULL),
        open_with(&b, "bf16.safetensors"), open_with(&c, "good.safetensors"),
    };
    const Api *apis[5] = {&a, &a, &b, &b, &c};
    struct vit_info in;
    c.info(ms[4], &in);
    assert_int_equal(in.max_images, 2);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5; i++) {
            check_run(apis[i], ms[i], 1);
            check_run(apis[i], ms[i], 3); /* the fixed batch pads the last chunk */
            check_run(apis[i], ms[i], 34);
        }
    for (int i = 0; i < 5; i++)
        apis[i]->close(ms[i]);
    dlclose(a.handle);
    dlclose(b.handle);
    dlclose(c.handle);
}

static void test_env_threads(void **state)
{
    (void)state;
    Api a;
    load(&a, "hand");
    setenv("VIT_NUM_THREADS", "3", 1);
    vit_model *m = open_with(&a, "good.safetensors");
    unsetenv("VIT_NUM_THREADS");
    check_run(&a, m, 40);
    a.close(m);
    dlclose(a.handle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_and_run), cmocka_unit_test(test_bad_runs),   cmocka_unit_test(test_weights),
        cmocka_unit_test(test_embedded_and_many), cmocka_unit_test(test_env_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
