/* test_abi.c — a compiled model as its users see it: this file includes only vitrt.h
 * (plus libc, dlfcn.h and pthread.h), builds .so files by running `vitc compile`, and
 * drives them through dlopen: open, info, run, close; several models at once (two
 * different .so files, two copies of one, one opened twice, from several threads) giving
 * independent results equal to timm's; every class of bad weights file; bad runs;
 * embedded weights; images read and logits written in place, and not when out overlaps them.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "so_harness.h"
#include "vitrt.h"

#define TOLERANCE 1e-4

typedef SoApi Api;

/* the images and timm's logits of one test ViT */
typedef struct {
    float image[4][32 * 32 * 3];
    float logits[4][10];
} Ref;

static char dir[4096];
static Ref refs[2]; /* cls, gap */

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_all(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* The data of F32 tensor `name` of a compact-JSON safetensors file (the reference files). */
static void tensor_f32(const char *file, const char *data, size_t len, const char *name, float *out, size_t count)
{
    char key[128];
    snprintf(key, sizeof key, "\"%s\":{\"dtype\":\"F32\"", name);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (unsigned char)data[i];
    const char *at = strstr(data + 8, key), *offs = at ? strstr(at, "\"data_offsets\":[") : NULL;
    unsigned long long a, b;
    if (!offs || sscanf(offs, "\"data_offsets\":[%llu,%llu]", &a, &b) != 2 || b - a != count * 4 ||
        8 + hl + b > len)
        fail_msg("%s: no F32 tensor '%s' of %zu values", file, name, count);
    memcpy(out, data + 8 + hl + a, count * 4);
}

static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void compile(const char *model, const char *so, const char *flags)
{
    char out[4200];
    path(out, sizeof out, so);
    so_compile(model, out, flags);
}

static void load(Api *api, const char *so)
{
    char p[4200];
    path(p, sizeof p, so);
    so_load(api, p);
}

static void weights_of(char *buf, size_t n, const char *head)
{
    snprintf(buf, n, "%s/tests/reference/vit_test_%s.safetensors", so_source_dir(), head);
}

static vit_model *open_model(const Api *api, const char *weights)
{
    char err[1024];
    vit_model *m = api->open(weights, err, sizeof err);
    if (!m)
        fail_msg("vit_open(%s): %s", weights ? weights : "NULL", err);
    return m;
}

/* Whether out holds timm's logits of images first, first + 1, .. first + n − 1 (the 4
 * reference images repeated); else what differs, in msg. */
static bool compare(const float *out, const Ref *r, int first, int n, char *msg, size_t len)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 10; k++) {
            float want = r->logits[(first + i) % 4][k];
            if (!(fabs(out[i * 10 + k] - want) <= TOLERANCE)) {
                snprintf(msg, len, "image %d logit %d: %g, timm %g", first + i, k, out[i * 10 + k], want);
                return false;
            }
        }
    return true;
}

/* Runs the 4 reference images (repeated `times`) and compares with timm; NULL, or what
 * went wrong in msg (no cmocka assertion: it runs on other threads too). */
static const char *try_check(const Api *api, vit_model *m, const Ref *r, int times, char *msg, size_t len)
{
    int n = 4 * times;
    vit_image *ims = calloc((size_t)n, sizeof *ims);
    float *out = calloc((size_t)n * 10, sizeof *out);
    char err[1024];
    msg[0] = 0;
    if (!ims || !out)
        snprintf(msg, len, "out of memory");
    for (int i = 0; !msg[0] && i < n; i++)
        ims[i] = (vit_image){32, 32, 3, r->image[i % 4]};
    if (!msg[0] && api->run(m, ims, n, out, err, sizeof err) != 0)
        snprintf(msg, len, "vit_run: %s", err);
    if (!msg[0])
        compare(out, r, 0, n, msg, len);
    free(ims);
    free(out);
    return msg[0] ? msg : NULL;
}

static void check(const Api *api, vit_model *m, const Ref *r, int times)
{
    char msg[1200];
    if (try_check(api, m, r, times, msg, sizeof msg))
        fail_msg("%s", msg);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/abi", VITC_TEST_OUT);
    mkdir(dir, 0777);
    static const char *const heads[2] = {"cls", "gap"};
    for (int h = 0; h < 2; h++) {
        char io[4096];
        size_t n;
        snprintf(io, sizeof io, "%s/tests/reference/vit_test_%s_io.safetensors", so_source_dir(), heads[h]);
        char *data = read_all(io, &n);
        assert_non_null(data);
        tensor_f32(io, data, n, "image", &refs[h].image[0][0], 4 * 32 * 32 * 3);
        tensor_f32(io, data, n, "logits", &refs[h].logits[0][0], 40);
        free(data);
    }
    compile("vit_test_cls", "cls.so", "");
    compile("vit_test_gap", "gap.so", "");
    char w[4096], flags[4200];
    weights_of(w, sizeof w, "cls");
    snprintf(flags, sizeof flags, "--embed-weights '%s'", w);
    compile("vit_test_cls", "cls_embedded.so", flags);
    char a[4200], b[4200];
    path(a, sizeof a, "cls.so");
    path(b, sizeof b, "cls_copy.so");
    assert_int_equal(so_sh("cp '%s' '%s'", a, b), 0);
    return 0;
}

static void test_basic(void **state)
{
    (void)state;
    Api api;
    load(&api, "cls.so");
    char w[4096];
    weights_of(w, sizeof w, "cls");
    vit_model *m = open_model(&api, w);
    struct vit_info in;
    assert_int_equal(api.info(m, &in), 0);
    assert_string_equal(in.name, "vit_test_cls");
    assert_true(in.height == 32 && in.width == 32 && in.channels == 3);
    assert_int_equal(in.outputs, 10);
    assert_int_equal(in.max_images, 64);
    assert_string_equal(in.output_kind, "logits");
    assert_int_equal(in.resize, 32);
    assert_true(in.mean[0] == 0.5f && in.mean[2] == 0.5f && in.std[1] == 0.5f);
    assert_null(in.labels);
    assert_int_equal(in.abi_version, VITRT_ABI_VERSION);
    check(&api, m, &refs[0], 1);
    check(&api, m, &refs[0], 17); /* 68 images: a chunk of 64 and one of 4 */
    api.set_threads(m, 1);
    check(&api, m, &refs[0], 2);
    api.set_threads(m, 3);
    check(&api, m, &refs[0], 2);
    api.close(m);
    dlclose(api.handle);
}

static void test_bad_runs(void **state)
{
    (void)state;
    Api api;
    load(&api, "cls.so");
    char w[4096], err[1024];
    weights_of(w, sizeof w, "cls");
    vit_model *m = open_model(&api, w);
    float out[40];
    vit_image ims[4];
    for (int i = 0; i < 4; i++)
        ims[i] = (vit_image){32, 32, 3, refs[0].image[i]};
    assert_int_equal(api.run(m, ims, 0, out, err, sizeof err), 0);
    assert_int_not_equal(api.run(m, ims, -3, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "negative"));
    ims[2].height = 31;
    assert_int_not_equal(api.run(m, ims, 4, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 2 is 31x32x3"));
    assert_non_null(strstr(err, "32x32x3"));
    ims[2].height = 32;
    ims[3].channels = 1;
    assert_int_not_equal(api.run(m, ims, 4, out, err, sizeof err), 0);
    assert_non_null(strstr(err, "image 3"));
    ims[3].channels = 3;
    check(&api, m, &refs[0], 1); /* still fine after the errors */
    api.close(m);
    dlclose(api.handle);
}

/* A copy of the cls weights with `from` replaced by `to` (same length) in the header. */
static void patched(const char *name, const char *from, const char *to)
{
    char w[4096], p[4200];
    size_t n;
    weights_of(w, sizeof w, "cls");
    char *data = read_all(w, &n);
    assert_non_null(data);
    char *at = NULL;
    for (size_t i = 8; i + strlen(from) <= n && !at; i++)
        if (memcmp(data + i, from, strlen(from)) == 0)
            at = data + i;
    if (!at)
        fail_msg("the reference weights have no '%s'", from);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    path(p, sizeof p, name);
    write_all(p, data, n);
    free(data);
}

static void expect_error(const Api *api, const char *weights, const char *want)
{
    char p[4200], err[1024] = "";
    if (weights[0] != '/')
        path(p, sizeof p, weights);
    else
        snprintf(p, sizeof p, "%s", weights);
    vit_model *m = api->open(p, err, sizeof err);
    if (m)
        fail_msg("vit_open(%s) succeeded", weights);
    if (!strstr(err, want))
        fail_msg("vit_open(%s): '%s' does not say '%s'", weights, err, want);
    print_message("  %s\n", err);
}

static void test_bad_weights(void **state)
{
    (void)state;
    Api api;
    load(&api, "cls.so");
    patched("missing.safetensors", "\"head.bias\":{", "\"head.bia_\":{");
    expect_error(&api, "missing.safetensors",
                 "the weights file has no tensor 'head.bias' (the model needs head.bias: F32[10])");
    patched("shape.safetensors", "\"head.weight\":{\"dtype\":\"F32\",\"shape\":[10,64]",
            "\"head.weight\":{\"dtype\":\"F32\",\"shape\":[64,10]");
    expect_error(&api, "shape.safetensors", "tensor 'head.weight' has shape [64,10] but the model needs [10,64]");
    patched("dtype.safetensors", "\"head.weight\":{\"dtype\":\"F32\"", "\"head.weight\":{\"dtype\":\"I32\"");
    expect_error(&api, "dtype.safetensors", "tensor 'head.weight' has dtype I32");
    patched("malformed.safetensors", "{\"__metadata__\"", "[\"__metadata__\"");
    expect_error(&api, "malformed.safetensors", "malformed.safetensors");
    char w[4096], p[4200];
    size_t n;
    weights_of(w, sizeof w, "cls");
    char *data = read_all(w, &n);
    assert_non_null(data);
    path(p, sizeof p, "truncated.safetensors");
    write_all(p, data, n / 2);
    expect_error(&api, "truncated.safetensors", "truncated.safetensors");
    write_all(p, data, 5);
    expect_error(&api, "truncated.safetensors", "truncated.safetensors");
    free(data);
    expect_error(&api, dir, "not a regular file");
    expect_error(&api, "no-such.safetensors", "no-such.safetensors");
    /* the gap model's weights: the cls model's tensors are missing */
    weights_of(w, sizeof w, "gap");
    expect_error(&api, w, "the weights file has no tensor");
    /* no file and no embedded weights */
    char err[1024] = "";
    assert_null(api.open(NULL, err, sizeof err));
    assert_non_null(strstr(err, "no embedded weights"));
    assert_null(api.open(NULL, NULL, 0)); /* no room for a message: still no crash */
    dlclose(api.handle);
}

static void test_embedded(void **state)
{
    (void)state;
    Api api;
    load(&api, "cls_embedded.so");
    vit_model *m = open_model(&api, NULL);
    check(&api, m, &refs[0], 1);
    api.close(m);
    char w[4096];
    weights_of(w, sizeof w, "cls"); /* a file given wins over the embedded weights */
    m = open_model(&api, w);
    check(&api, m, &refs[0], 1);
    api.close(m);
    dlclose(api.handle);
}

typedef struct {
    const Api *api;
    vit_model *m;
    const Ref *ref;
    char msg[1200];
} Job;

static void *job(void *arg)
{
    Job *j = arg;
    for (int i = 0; i < 3 && !try_check(j->api, j->m, j->ref, 1 + i, j->msg, sizeof j->msg); i++)
        ;
    return NULL;
}

static void test_many(void **state)
{
    (void)state;
    Api cls, gap, copy;
    load(&cls, "cls.so");
    load(&gap, "gap.so");
    load(&copy, "cls_copy.so");
    assert_true(cls.open != copy.open); /* two instances of the runtime */
    char wc[4096], wg[4096];
    weights_of(wc, sizeof wc, "cls");
    weights_of(wg, sizeof wg, "gap");
    static Job jobs[5];
    const Api *apis[5] = {&cls, &cls, &gap, &copy, &gap};
    for (int i = 0; i < 5; i++) {
        jobs[i].api = apis[i];
        jobs[i].m = open_model(apis[i], apis[i] == &gap ? wg : wc);
        jobs[i].ref = &refs[apis[i] == &gap];
    }
    jobs[1].api->set_threads(jobs[1].m, 1);
    jobs[4].api->set_threads(jobs[4].m, 2);
    for (int round = 0; round < 2; round++) /* interleaved on one thread */
        for (int i = 0; i < 5; i++)
            check(jobs[i].api, jobs[i].m, jobs[i].ref, 1);
    pthread_t t[5]; /* each model on its own thread, all at once */
    for (int i = 0; i < 5; i++)
        assert_int_equal(pthread_create(&t[i], NULL, job, &jobs[i]), 0);
    for (int i = 0; i < 5; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].msg[0])
            fail_msg("model %d on its own thread: %s", i, jobs[i].msg);
    }
    for (int i = 0; i < 5; i++)
        jobs[i].api->close(jobs[i].m);
    dlclose(cls.handle);
    dlclose(gap.handle);
    dlclose(copy.handle);
}

/* Images laid one after another are read where they are, and a single output is written
 * straight into out (rt_model.c, images_in_place): pixels at an odd float offset, left as
 * they were; out inside the pixels' own block, where the kernels would overwrite pixels
 * they still read, so the runtime must copy instead. */
static void test_in_place(void **state)
{
    (void)state;
    Api api;
    load(&api, "cls.so");
    char w[4096], err[1024], msg[1200];
    weights_of(w, sizeof w, "cls");
    vit_model *m = open_model(&api, w);
    const Ref *r = &refs[0];
    enum { PER = 32 * 32 * 3 };
    float *block = malloc(sizeof r->image + sizeof(float)), *px = block + 1, out[40];
    assert_non_null(block);
    vit_image ims[4];
    for (int i = 0; i < 4; i++)
        ims[i] = (vit_image){32, 32, 3, px + i * PER};
    for (int threads = 1; threads <= 2; threads++) {
        api.set_threads(m, threads);
        memcpy(px, r->image, sizeof r->image);
        assert_int_equal(api.run(m, ims, 4, out, err, sizeof err), 0);
        if (!compare(out, r, 0, 4, msg, sizeof msg))
            fail_msg("%d threads: %s", threads, msg);
        assert_memory_equal(px, r->image, sizeof r->image);
        /* out where image 0 lies: in place for images 1..3, overlapping for 0..3 */
        assert_int_equal(api.run(m, ims + 1, 3, px, err, sizeof err), 0);
        if (!compare(px, r, 1, 3, msg, sizeof msg))
            fail_msg("%d threads, out just before the pixels: %s", threads, msg);
        memcpy(px, r->image, sizeof r->image);
        assert_int_equal(api.run(m, ims, 4, px + PER / 2, err, sizeof err), 0);
        if (!compare(px + PER / 2, r, 0, 4, msg, sizeof msg))
            fail_msg("%d threads, out inside the pixels: %s", threads, msg);
    }
    free(block);
    api.close(m);
    dlclose(api.handle);
}

/* The overlap guard: a model whose one kernel reads the image and writes the output (y = 2x),
 * out 5 floats past the pixels' start. Written in place, y[i] would land on pixels not read
 * yet; the runtime must copy instead. */
static void test_in_place_overlap(void **state)
{
    (void)state;
    char vit[4200], w[4200], so[4200], err[1024];
    path(vit, sizeof vit, "twice.vit");
    path(w, sizeof w, "twice.safetensors");
    path(so, sizeof so, "twice.so");
    static const char model[] = "model twice {\n"
                                "  input image: f32[B, 4, 4, 3] (B <= 8)\n"
                                "  output y = reshape(image, [B, 48]) * 2\n"
                                "}\n";
    write_all(vit, model, strlen(model));
    assert_int_equal(so_sh("'%s' init '%s' -o '%s' > /dev/null", VITC_BIN, vit, w), 0);
    assert_int_equal(so_sh("'%s' compile '%s' -o '%s'", VITC_BIN, vit, so), 0);
    Api api;
    so_load(&api, so);
    vit_model *m = open_model(&api, w);
    enum { N = 3, PER = 48 };
    float block[N * PER + 8];
    vit_image ims[N];
    for (int i = 0; i < N; i++)
        ims[i] = (vit_image){4, 4, 3, block + i * PER};
    for (int threads = 1; threads <= 2; threads++) {
        api.set_threads(m, threads);
        for (int i = 0; i < N * PER; i++)
            block[i] = (float)(i + 1);
        assert_int_equal(api.run(m, ims, N, block + 5, err, sizeof err), 0);
        for (int i = 0; i < N * PER; i++)
            if (block[5 + i] != 2.0f * (float)(i + 1))
                fail_msg("%d threads: y[%d] = %g, want %g", threads, i, block[5 + i], 2.0 * (i + 1));
    }
    api.close(m);
    dlclose(api.handle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),    cmocka_unit_test(test_bad_runs), cmocka_unit_test(test_bad_weights),
        cmocka_unit_test(test_embedded), cmocka_unit_test(test_many),     cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_in_place_overlap),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
