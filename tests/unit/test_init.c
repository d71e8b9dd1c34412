/* test_init.c — `vitc init`: names, stored shapes and dtypes of the written tensors, the
 * init kinds (zeros, ones, a normal truncated at ±2σ), determinism per seed and per name,
 * and the command's exit statuses. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "init.h"

static const Loc NOLOC = {NULL, 0, 0};

static void param(Graph *g, const char *name, DType dt, int rank, const int64_t *dims, const int64_t *layout,
                  int init, double std)
{
    Attr a;
    attr_set_defaults(ATTR_PARAM, &a);
    a.param.name = name;
    a.param.init = init;
    a.param.std = std;
    if (layout)
        a.param.layout = (IntList){rank, layout};
    Type t = {.dt = dt, .shape = {.rank = rank}};
    for (int i = 0; i < rank; i++)
        t.shape.d[i] = dim_const(dims[i]);
    IrError err;
    if (ir_build(g, OP_PARAM, NULL, 0, &a, &t, NOLOC, &err) < 0)
        fail_msg("param: %s", err.msg);
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

/* w: f32[3,4] stored [4,3]; b: f32[5] zeros (declared twice); g: f16[2,2] ones;
 * n: bf16[1000] normal σ=2; i: i32[3] ones; big: f32[20000] normal σ=1 */
static Graph *model(void)
{
    Graph *g = ir_graph_new("tiny");
    param(g, "w", DT_F32, 2, DIMS(3, 4), DIMS(1, 0), INIT_NORMAL, 0.5);
    param(g, "b", DT_F32, 1, DIMS(5), NULL, INIT_ZEROS, 0.02);
    param(g, "g", DT_F16, 2, DIMS(2, 2), NULL, INIT_ONES, 0.02);
    param(g, "n", DT_BF16, 1, DIMS(1000), NULL, INIT_NORMAL, 2.0);
    param(g, "i", DT_I32, 1, DIMS(3), NULL, INIT_ONES, 0.02);
    param(g, "big", DT_F32, 1, DIMS(20000), NULL, INIT_NORMAL, 1.0);
    param(g, "b", DT_F32, 1, DIMS(5), NULL, INIT_ZEROS, 0.02);
    return g;
}

static char *temp_path(const char *name)
{
    static char path[4][512];
    static int k;
    const char *dir = getenv("TMPDIR");
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/vitc_test_init_%d_%s", dir && *dir ? dir : "/tmp", (int)getpid(), name);
    return p;
}

static StFile *write_and_open(const Graph *g, uint64_t seed, const char *dtype, const char *path)
{
    InitOptions o = {.seed = seed};
    if (dtype) {
        o.dtype_set = true;
        assert_true(dtype_from_name(dtype, strlen(dtype), &o.dtype));
    }
    char err[512];
    int nt;
    int64_t np;
    if (!tool_init_weights(g, &o, path, &nt, &np, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(nt, 6);
    assert_int_equal(np, 12 + 5 + 4 + 1000 + 3 + 20000);
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    return f;
}

static float f32_at(const StTensor *t, int64_t k)
{
    float v;
    memcpy(&v, (const char *)t->data + 4 * k, 4);
    return v;
}

static void check_tensor(StFile *f, const char *name, StDType dt, int rank, const int64_t *shape)
{
    const StTensor *t = st_find(f, name);
    if (!t)
        fail_msg("no tensor '%s'", name);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(t->shape[i], shape[i]);
}

static void test_names_shapes_values(void **state)
{
    (void)state;
    Graph *g = model();
    const char *path = temp_path("a.safetensors");
    StFile *f = write_and_open(g, 42, NULL, path);
    assert_int_equal(st_count(f), 6);
    check_tensor(f, "w", ST_F32, 2, DIMS(4, 3)); /* the stored shape: [3,4] through layout [1,0] */
    check_tensor(f, "b", ST_F32, 1, DIMS(5));
    check_tensor(f, "g", ST_F16, 2, DIMS(2, 2));
    check_tensor(f, "n", ST_BF16, 1, DIMS(1000));
    check_tensor(f, "i", ST_I32, 1, DIMS(3));
    check_tensor(f, "big", ST_F32, 1, DIMS(20000));
    assert_string_equal(st_metadata(f, "format"), "pt");
    assert_string_equal(st_metadata(f, "vitc_model"), "tiny");
    assert_string_equal(st_metadata(f, "vitc_seed"), "42");

    const StTensor *t = st_find(f, "b");
    for (int k = 0; k < 5; k++)
        assert_true(f32_at(t, k) == 0.0f);
    t = st_find(f, "g");
    for (int k = 0; k < 4; k++)
        assert_int_equal(((const uint16_t *)t->data)[k], 0x3c00); /* 1.0 in f16 */
    t = st_find(f, "i");
    for (int k = 0; k < 3; k++)
        assert_int_equal(((const int32_t *)t->data)[k], 1);

    /* normal σ=1 truncated at ±2: every value within ±2, mean ≈ 0 and standard deviation
     * √(1 - 4φ(2)/(Φ(2) - Φ(-2))) = √(1 - 4·0.053991/0.954500) = 0.87962 */
    t = st_find(f, "big");
    double sum = 0, sq = 0, maxabs = 0;
    for (int k = 0; k < 20000; k++) {
        double v = f32_at(t, k);
        sum += v;
        sq += v * v;
        maxabs = fabs(v) > maxabs ? fabs(v) : maxabs;
    }
    double mean = sum / 20000, sd = sqrt(sq / 20000 - mean * mean);
    assert_true(maxabs <= 2.0 && maxabs > 1.9);
    assert_true(fabs(mean) < 0.03);
    assert_true(fabs(sd - 0.87962) < 0.02);
    /* σ = 2 in bf16: within ±4 after rounding (4 is exact in bf16) */
    t = st_find(f, "n");
    maxabs = 0;
    for (int k = 0; k < 1000; k++)
        maxabs = fmax(maxabs, fabs(st_bf16_to_f32(((const uint16_t *)t->data)[k])));
    assert_true(maxabs <= 4.0 && maxabs > 3.0);
    /* σ = 0.5 for w */
    t = st_find(f, "w");
    for (int k = 0; k < 12; k++)
        assert_true(fabs(f32_at(t, k)) <= 1.0f);
    st_close(f);
    unlink(path);
    ir_graph_free(g);
}

static void test_deterministic(void **state)
{
    (void)state;
    Graph *g = model();
    const char *a = temp_path("s1.safetensors"), *b = temp_path("s2.safetensors"), *c = temp_path("s3.safetensors");
    StFile *fa = write_and_open(g, 7, NULL, a), *fb = write_and_open(g, 7, NULL, b), *fc = write_and_open(g, 8, NULL, c);
    /* the same seed: the same bytes, file and all */
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    assert_non_null(x);
    assert_non_null(y);
    int cx, cy;
    long n = 0;
    do {
        cx = fgetc(x);
        cy = fgetc(y);
        assert_int_equal(cx, cy);
        n++;
    } while (cx != EOF);
    fclose(x);
    fclose(y);
    assert_true(n > 80000);
    /* another seed: other normals, the same zeros */
    const StTensor *ta = st_find(fa, "big"), *tc = st_find(fc, "big");
    assert_true(memcmp(ta->data, tc->data, ta->nbytes) != 0);
    assert_memory_equal(st_find(fa, "b")->data, st_find(fc, "b")->data, 20);
    st_close(fa);
    st_close(fb);
    st_close(fc);

    /* a parameter's values depend on its name and the seed only, not on the others */
    Graph *g2 = ir_graph_new("other");
    param(g2, "extra", DT_F32, 1, DIMS(100), NULL, INIT_NORMAL, 1.0);
    param(g2, "w", DT_F32, 2, DIMS(3, 4), DIMS(1, 0), INIT_NORMAL, 0.5);
    InitOptions o = {.seed = 7};
    char err[512];
    assert_true(tool_init_weights(g2, &o, c, NULL, NULL, err, sizeof err));
    fa = st_open(a, err, sizeof err);
    fc = st_open(c, err, sizeof err);
    assert_non_null(fa);
    assert_non_null(fc);
    assert_memory_equal(st_find(fa, "w")->data, st_find(fc, "w")->data, 48);
    st_close(fa);
    st_close(fc);

    /* the generator itself: fixed per (seed, name), within [-2, 2] */
    InitRng r1, r2;
    init_rng_seed(&r1, 1, "x");
    init_rng_seed(&r2, 1, "x");
    for (int k = 0; k < 1000; k++) {
        double z = init_rng_truncnormal(&r1);
        assert_true(z == init_rng_truncnormal(&r2));
        assert_true(z >= -2 && z <= 2);
    }
    unlink(a);
    unlink(b);
    unlink(c);
    ir_graph_free(g2);
    ir_graph_free(g);
}

static void test_dtype_option_and_errors(void **state)
{
    (void)state;
    Graph *g = model();
    const char *path = temp_path("h.safetensors");
    StFile *f = write_and_open(g, 1, "f16", path);
    check_tensor(f, "w", ST_F16, 2, DIMS(4, 3));
    check_tensor(f, "n", ST_F16, 1, DIMS(1000)); /* every float parameter */
    check_tensor(f, "i", ST_I32, 1, DIMS(3));    /* integers keep their dtype */
    assert_int_equal(((const uint16_t *)st_find(f, "g")->data)[0], 0x3c00);
    st_close(f);
    f = write_and_open(g, 1, "bf16", path);
    check_tensor(f, "big", ST_BF16, 1, DIMS(20000));
    assert_int_equal(((const uint16_t *)st_find(f, "g")->data)[3], 0x3f80); /* 1.0 in bf16 */
    st_close(f);
    unlink(path);

    /* one name declared twice in different ways */
    param(g, "w", DT_F32, 2, DIMS(4, 3), NULL, INIT_NORMAL, 0.5);
    InitOptions o = {0};
    char err[512];
    assert_false(tool_init_weights(g, &o, path, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "parameter 'w' is declared twice with different types or attributes"));
    assert_int_equal(access(path, F_OK), -1);
    ir_graph_free(g);
}

static int run_init(int argc, const char *const *argv)
{
    char *args[16];
    for (int i = 0; i < argc; i++)
        args[i] = (char *)argv[i];
    args[argc] = NULL;
    return cmd_init(argc, args);
}

static void test_command(void **state)
{
    (void)state;
    const char *vir = temp_path("m.vir"), *out = temp_path("m.safetensors");
    FILE *f = fopen(vir, "w");
    assert_non_null(f);
    fputs("graph @m {\n  %0 = param $w {layout = [1, 0], init = ones} : f32[2,3]\n  output y = %0\n}\n", f);
    fclose(f);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, "-o", out, "--seed=3"}), 0);
    char err[512];
    StFile *sf = st_open(out, err, sizeof err);
    if (!sf)
        fail_msg("%s", err);
    check_tensor(sf, "w", ST_F32, 2, DIMS(3, 2));
    assert_true(f32_at(st_find(sf, "w"), 5) == 1.0f);
    assert_string_equal(st_metadata(sf, "vitc_seed"), "3");
    st_close(sf);
    unlink(out);
    /* bad arguments: 2; a bad model: 1 */
    assert_int_equal(run_init(1, (const char *[]){"init"}), 2);
    assert_int_equal(run_init(2, (const char *[]){"init", vir}), 2);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, "-o", out, "--seed=x"}), 2);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, "-o", out, "--seed=-1"}), 2);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, "-o", out, "--seed=18446744073709551616"}), 2);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, "-o", out, "--seed="}), 2);
    assert_int_equal(run_init(6, (const char *[]){"init", vir, "-o", out, "--dtype", "i32"}), 2);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, "-o", out, "--what"}), 2);
    assert_int_equal(run_init(5, (const char *[]){"init", vir, vir, "-o", out}), 2);
    assert_int_equal(run_init(4, (const char *[]){"init", vir, "-o", vir}), 2); /* its own model */
    assert_int_equal(run_init(4, (const char *[]){"init", "/nonexistent/m.vir", "-o", out}), 1);
    /* a full disk: an error; the output, a device, is not removed (st_write) */
    struct stat full;
    if (stat("/dev/full", &full) == 0 && S_ISCHR(full.st_mode)) {
        assert_int_equal(run_init(4, (const char *[]){"init", vir, "-o", "/dev/full"}), 1);
        assert_int_equal(stat("/dev/full", &full), 0);
        assert_true(S_ISCHR(full.st_mode));
    }
    assert_int_equal(access(out, F_OK), -1);
    unlink(vir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_shapes_values),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_dtype_option_and_errors),
        cmocka_unit_test(test_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
