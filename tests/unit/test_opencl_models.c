/* test_opencl_models.c — `vitc compile --target=opencl` end to end on PoCL: every model
 * family equals the CPU backend's .so within 1e-5 (max |Δ| of the outputs) and the
 * interpreter or the PyTorch references within 1e-4 (the test ViTs, the V-MoE and E³
 * test models, ViT-Ti/16 at 224; NaViT's test models on images of several sizes);
 * `--emit=cl` of ViT-B/16 writes one .cl per kernel and a manifest, and every file builds
 * from source in a fresh context; the .so links libOpenCL
 * and exports vit_* only; embedded weights; device choice (VIT_CL_DEVICE, --cl-device);
 * no OpenCL platform at all (OCL_ICD_VENDORS naming an empty folder) is a message from
 * both `vitc compile` and `vit_open`; binaries made for another device or that do not
 * load fall back to source; a kernel that does not build is a message with its log.
 * With --slow: ViT-B/16 against the CPU backend; --slow-all: the full-size model of each
 * family (by hand: minutes).
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_interp.h"
#include "test_attention.h"
#include "so_harness.h"
#include "test_opencl.h"
#include "vitrt.h"

typedef SoApi Api;

static char out_dir[4096];

static void out_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", out_dir, name); }

/* vitc compile models/MODEL.vit -o OUT FLAGS; asserts success. An output this process
 * has already compiled (the same model, name and flags) is reused: the tests of linkage
 * and of the missing platform run the test ViTs' objects instead of compiling them again. */
static void compile(const char *model, const char *out, const char *flags)
{
    static char done[32][512];
    static int ndone;
    char so[4200], key[512];
    snprintf(key, sizeof key, "%s|%s|%s", model, out, flags);
    for (int i = 0; i < ndone; i++)
        if (strcmp(done[i], key) == 0)
            return;
    out_path(so, sizeof so, out);
    so_compile(model, so, flags);
    if (ndone < 32)
        snprintf(done[ndone++], sizeof done[0], "%s", key);
}

static void load(Api *api, const char *so_name)
{
    char so[4200];
    out_path(so, sizeof so, so_name);
    so_load(api, so);
}

/* Runs a .so on n images (NULL with the message in err when it fails to open or run). */
static float *run_so(const char *so_name, const char *weights, const float *px, int n, struct vit_info *info,
                     char *err, size_t errlen)
{
    Api api;
    load(&api, so_name);
    float *out = NULL;
    vit_model *m = api.open(weights, err, errlen);
    if (m) {
        api.info(m, info);
        size_t per = (size_t)info->height * (size_t)info->width * (size_t)info->channels;
        vit_image *ims = calloc((size_t)n, sizeof *ims);
        out = calloc((size_t)n * (size_t)info->outputs, sizeof *out);
        assert_true(ims && out);
        for (int i = 0; i < n; i++)
            ims[i] = (vit_image){info->height, info->width, info->channels, px + (size_t)i * per};
        if (api.run(m, ims, n, out, err, errlen) != 0) {
            free(out);
            out = NULL;
        }
        free(ims);
        api.close(m);
    }
    dlclose(api.handle);
    return out;
}

/* The model compiled for the CPU and for OpenCL, run on the same images: the outputs
 * within 1e-5 of each other; with `want` (n × outputs), both within 1e-4 of it. */
static void check_model(const char *model, const char *weights, const float *px, int n, const float *want)
{
    char cpu[128], ocl[128], err[1024];
    snprintf(cpu, sizeof cpu, "%s_cpu.so", model);
    snprintf(ocl, sizeof ocl, "%s_ocl.so", model);
    compile(model, cpu, "");
    compile(model, ocl, "--target=opencl");
    struct vit_info ic, io;
    float *a = run_so(cpu, weights, px, n, &ic, err, sizeof err);
    if (!a)
        fail_msg("%s (CPU): %s", model, err);
    float *b = run_so(ocl, weights, px, n, &io, err, sizeof err);
    if (!b)
        fail_msg("%s (OpenCL): %s", model, err);
    assert_int_equal(ic.outputs, io.outputs);
    size_t total = (size_t)n * (size_t)io.outputs;
    double d = so_max_diff(a, b, total), dw = want ? so_max_diff(b, want, total) : 0;
    print_message("%s: max |opencl - cpu| = %.3g%s", model, d, want ? "" : "\n");
    if (want)
        print_message(", max |opencl - reference| = %.3g\n", dw);
    assert_true(d <= 1e-5);
    assert_true(dw <= 1e-4);
    free(a);
    free(b);
}

/* A reference file's tensor (F32) */
static const StTensor *ref_tensor(StFile *f, const char *name)
{
    const StTensor *t = st_find(f, name);
    assert_true(t && t->dtype == ST_F32);
    return t;
}

static void check_reference(const char *model, const char *dir, const char *out_name)
{
    char weights[4096], io[4096], err[512];
    snprintf(weights, sizeof weights, "%s/tests/reference/%s%s.safetensors", tl_source_dir(), dir, model);
    snprintf(io, sizeof io, "%s/tests/reference/%s%s_io.safetensors", tl_source_dir(), dir,
             strncmp(model, "vmoe_test", 9) == 0 ? "vmoe_test" : model);
    if (strcmp(model, "vmoe_test_bpr") == 0)
        snprintf(weights, sizeof weights, "%s/tests/reference/%svmoe_test.safetensors", tl_source_dir(), dir);
    StFile *f = st_open(io, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    const StTensor *image = ref_tensor(f, "image"), *want = ref_tensor(f, out_name);
    check_model(model, weights, image->data, (int)image->shape[0], want->data);
    st_close(f);
}

static void test_test_vits(void **state)
{
    (void)state;
    check_reference("vit_test_cls", "", "logits");
    check_reference("vit_test_gap", "", "logits");
    check_reference("vit_test_map", "", "logits");
}

static void test_moe_models(void **state)
{
    (void)state;
    check_reference("vmoe_test", "moe/", "logits");
    check_reference("vmoe_test_bpr", "moe/", "logits_bpr");
    check_reference("e3_test", "moe/", "log_probs");
}

/* NaViT (navit_test, navit_test_gap) through the ABI: images of several sizes packed by
 * the runtime, the OpenCL .so (segment and slot attention, segment_reduce) against the
 * CPU .so within 1e-5 */
static void test_navit(void **state)
{
    (void)state;
    static const int hw[][2] = {{16, 24}, {32, 32}, {8, 40}, {64, 8}, {24, 24}};
    enum { N = sizeof hw / sizeof hw[0] };
    float *px[N];
    vit_image ims[N];
    for (int i = 0; i < N; i++) {
        size_t count = (size_t)hw[i][0] * (size_t)hw[i][1] * 3;
        px[i] = malloc(count * sizeof *px[i]);
        assert_non_null(px[i]);
        for (size_t j = 0; j < count; j++)
            px[i][j] = (float)(((j + 31 * (size_t)i) * 2654435761u) % 2001) / 1000.0f - 1.0f;
        ims[i] = (vit_image){hw[i][0], hw[i][1], 3, px[i]};
    }
    char weights[4096], err[1024];
    snprintf(weights, sizeof weights, "%s/tests/reference/navit/navit_test.safetensors", tl_source_dir());
    static const char *const models[] = {"navit_test", "navit_test_gap"};
    for (int m = 0; m < 2; m++) {
        float *out[2] = {NULL, NULL};
        int classes = 0;
        for (int path = 0; path < 2; path++) {
            char so[128];
            snprintf(so, sizeof so, "%s_%s.so", models[m], path ? "ocl" : "cpu");
            compile(models[m], so, path ? "--target=opencl" : "");
            Api api;
            load(&api, so);
            vit_model *vm = api.open(weights, err, sizeof err);
            if (!vm)
                fail_msg("%s: %s", so, err);
            struct vit_info info;
            api.info(vm, &info);
            classes = info.outputs;
            out[path] = calloc((size_t)N * (size_t)classes, sizeof *out[path]);
            assert_non_null(out[path]);
            if (api.run(vm, ims, N, out[path], err, sizeof err) != 0)
                fail_msg("%s: %s", so, err);
            api.close(vm);
            dlclose(api.handle);
        }
        double d = so_max_diff(out[0], out[1], (size_t)N * (size_t)classes);
        print_message("%s (%d images of several sizes): max |opencl - cpu| = %.3g\n", models[m], N, d);
        assert_true(d <= 1e-5);
        free(out[0]);
        free(out[1]);
    }
    for (int i = 0; i < N; i++)
        free(px[i]);
}

/* ViT-Ti/16 at 224 with `vitc init` weights, 2 images: CPU .so and the interpreter */
static void test_ti16(void **state)
{
    (void)state;
    char weights[4200];
    out_path(weights, sizeof weights, "vit_ti16.safetensors");
    assert_int_equal(so_sh("'%s' init '%s/models/vit_ti16.vit' -o '%s' --seed 7 >/dev/null", VITC_BIN, tl_source_dir(),
                        weights), 0);
    int n = 2;
    size_t per = 224 * 224 * 3;
    float *px = malloc((size_t)n * per * sizeof *px);
    assert_non_null(px);
    for (size_t i = 0; i < (size_t)n * per; i++)
        px[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    /* the interpreter */
    Graph *g = tl_model("vit_ti16.vit");
    char err[512];
    StFile *wf = st_open(weights, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    WeightSource ws = tool_weight_source(wf);
    Tensor *x = tensor_new(DT_F32, 4, DIMS(n, 224, 224, 3));
    assert_non_null(x);
    memcpy(x->f, px, (size_t)x->numel * sizeof *px);
    NamedTensor in = {"image", x};
    Tensor *outs[4] = {0};
    IrError ierr = {{0}};
    if (!ir_interp(g, &ws, &in, 1, outs, &ierr))
        fail_msg("interpreter: %s", ierr.msg);
    float *want = malloc((size_t)outs[0]->numel * sizeof *want);
    assert_non_null(want);
    for (int64_t i = 0; i < outs[0]->numel; i++)
        want[i] = (float)outs[0]->f[i];
    check_model("vit_ti16", weights, px, n, want);
    for (int i = 0; i < g->noutputs; i++)
        tensor_free(outs[i]);
    tensor_free(x);
    st_close(wf);
    ir_graph_free(g);
    free(want);
    free(px);
}

/* --emit=cl of ViT-B/16: a .cl per launch, a manifest naming them, each file a program
 * that builds alone from source in a context of its own */
static void test_emit_cl(void **state)
{
    (void)state;
    char dir[4200];
    out_path(dir, sizeof dir, "vit_b16_cl");
    so_sh("rm -rf '%s'", dir);
    compile("vit_b16", "vit_b16_cl", "--target=opencl --emit=cl");
    DIR *d = opendir(dir);
    assert_non_null(d);
    cl_platform_id plat;
    cl_device_id dev;
    assert_int_equal(clGetPlatformIDs(1, &plat, NULL), CL_SUCCESS);
    assert_int_equal(clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 1, &dev, NULL), CL_SUCCESS);
    int files = 0;
    struct dirent *e;
    char path[8400];
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".cl") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = 0;
        char *src = tool_read_file(path, &n);
        assert_non_null(src);
        cl_int rc;
        cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &rc);
        assert_int_equal(rc, CL_SUCCESS);
        const char *s = src;
        cl_program pg = clCreateProgramWithSource(ctx, 1, &s, &n, &rc);
        assert_int_equal(rc, CL_SUCCESS);
        rc = clBuildProgram(pg, 1, &dev, "-cl-std=CL1.2", NULL, NULL);
        if (rc != CL_SUCCESS)
            fail_msg("%s does not build: %d", e->d_name, rc);
        size_t nk = 0;
        assert_int_equal(clGetProgramInfo(pg, CL_PROGRAM_NUM_KERNELS, sizeof nk, &nk, NULL), CL_SUCCESS);
        assert_int_equal(nk, 1);
        snprintf(path, sizeof path, "grep -q '\"file\": \"%s\"' '%s/manifest.json'", e->d_name, dir);
        assert_int_equal(so_sh("%s", path), 0);
        clReleaseProgram(pg);
        clReleaseContext(ctx);
        ir_free(src);
        files++;
    }
    closedir(d);
    /* one file per kernel of the plan (k<i>.cl) and per packing kernel (k<i>_pack.cl) */
    Graph *g = tl_model("vit_b16.vit");
    IrError err = {{0}};
    PassOptions po = {0};
    assert_true(pass_run_pipeline(g, pass_default_pipeline(2), &po, &err));
    Plan *p = plan_build(g, &err);
    assert_non_null(p);
    for (int32_t k = 0; k < p->nkernels; k++) {
        snprintf(path, sizeof path, "%s/k%d.cl", dir, k);
        assert_true(access(path, R_OK) == 0);
    }
    print_message("vit_b16: %d kernels, %d .cl files built\n", p->nkernels, files);
    assert_true(files >= p->nkernels);
    plan_free(p);
    ir_graph_free(g);
}

/* libOpenCL among the dependencies; vit_* the only exports */
static void test_linkage(void **state)
{
    (void)state;
    char so[4200], list[4200];
    compile("vit_test_cls", "vit_test_cls_ocl.so", "--target=opencl");
    out_path(so, sizeof so, "vit_test_cls_ocl.so");
    out_path(list, sizeof list, "ocl_linkage.txt");
    assert_int_equal(so_sh("env -u LD_PRELOAD ldd '%s' > '%s'", so, list), 0);
    assert_int_equal(so_sh("grep -q 'libOpenCL\\.so' '%s'", list), 0);
    assert_int_equal(so_sh("grep -v -E '^\\s*(linux-vdso|libc\\.so|libm\\.so|libpthread\\.so|libdl\\.so|libOpenCL\\.so|"
                        "/lib.*/ld-linux|ld-linux)' '%s' | grep -q .", list), 1);
    assert_int_equal(so_sh("nm -D --defined-only '%s' | awk '{print $3}' | sort > '%s'", so, list), 0);
    assert_int_equal(
        so_sh("printf 'vit_close\\nvit_info\\nvit_open\\nvit_run\\nvit_set_option\\nvit_set_threads\\n' "
           "| cmp -s - '%s'", list), 0);
    /* and a CPU .so still has no libOpenCL */
    compile("vit_test_cls", "vit_test_cls_cpu.so", "");
    out_path(so, sizeof so, "vit_test_cls_cpu.so");
    assert_int_equal(so_sh("env -u LD_PRELOAD ldd '%s' | grep -q libOpenCL", so), 1);
}

static void test_embedded_and_devices(void **state)
{
    (void)state;
    char flags[4200], weights[4096], err[2048];
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_cls.safetensors", tl_source_dir());
    snprintf(flags, sizeof flags, "--target=opencl --cl-device=0 --embed-weights '%s'", weights);
    compile("vit_test_cls", "ocl_embedded.so", flags);
    float px[32 * 32 * 3];
    for (int i = 0; i < 32 * 32 * 3; i++)
        px[i] = (float)(i % 255) / 127.0f - 1.0f;
    struct vit_info info;
    float *a = run_so("ocl_embedded.so", NULL, px, 1, &info, err, sizeof err);
    if (!a)
        fail_msg("%s", err);
    /* the device by index, by platform:device and by a piece of its name */
    static const char *const specs[] = {"0", "0:0", "PTHREAD"};
    for (int i = 0; i < 3; i++) {
        setenv("VIT_CL_DEVICE", specs[i], 1);
        float *b = run_so("ocl_embedded.so", weights, px, 1, &info, err, sizeof err);
        if (!b)
            fail_msg("VIT_CL_DEVICE=%s: %s", specs[i], err);
        assert_true(so_max_diff(a, b, 10) == 0);
        free(b);
    }
    setenv("VIT_CL_DEVICE", "no-such-device", 1);
    assert_null(run_so("ocl_embedded.so", NULL, px, 1, &info, err, sizeof err));
    print_message("%s\n", err);
    assert_non_null(strstr(err, "VIT_CL_DEVICE=no-such-device: no OpenCL device matches"));
    unsetenv("VIT_CL_DEVICE");
    free(a);
    /* --cl-device naming nothing: a compile error listing the devices */
    char so[4200], errs[4200];
    out_path(so, sizeof so, "ocl_bad_device.so");
    out_path(errs, sizeof errs, "ocl_bad_device.err");
    assert_int_equal(so_sh("'%s' compile --target=opencl --cl-device=nothing '%s/models/vit_test_cls.vit' -o '%s' 2>'%s'",
                        VITC_BIN, tl_source_dir(), so, errs), 1);
    assert_int_equal(so_sh("grep -q \"no OpenCL device matches 'nothing'\" '%s'", errs), 0);
}

/* No OpenCL platform: OCL_ICD_VENDORS names an empty folder (the ICD loader then finds no
 * driver). Both compiling and opening are clean errors, in processes of their own. */
static void test_no_platform(void **state)
{
    (void)state;
    char empty[4200], so[4200], errs[4200], weights[4096], img[4096];
    out_path(empty, sizeof empty, "no_vendors");
    mkdir(empty, 0777);
    out_path(so, sizeof so, "ocl_noplat.so");
    out_path(errs, sizeof errs, "ocl_noplat.err");
    assert_int_equal(so_sh("OCL_ICD_VENDORS='%s' '%s' compile --target=opencl '%s/models/vit_test_cls.vit' -o '%s' 2>'%s'",
                        empty, VITC_BIN, tl_source_dir(), so, errs), 1);
    assert_int_equal(so_sh("grep -q 'no OpenCL platform found' '%s'", errs), 0);
    compile("vit_test_cls", "vit_test_cls_ocl.so", "--target=opencl");
    out_path(so, sizeof so, "vit_test_cls_ocl.so");
    snprintf(weights, sizeof weights, "%s/tests/reference/vit_test_cls.safetensors", tl_source_dir());
    snprintf(img, sizeof img, "%s/tests/reference/images/img0.png", tl_source_dir());
    int rc = so_sh("OCL_ICD_VENDORS='%s' '%s' run '%s' --weights '%s' '%s' >/dev/null 2>'%s'", empty, VITC_BIN, so,
                weights, img, errs);
    assert_int_not_equal(rc, 0);
    assert_int_equal(so_sh("grep -q 'no OpenCL platform found' '%s'", errs), 0);
    assert_int_equal(so_sh("grep -q -i 'abort\\|segmentation\\|sanitizer' '%s'", errs), 1);
}

/* ---- binaries and builds, in process (test_opencl.h) ---- */

static Graph *small_graph(void)
{
    Graph *g = ir_graph_new("t");
    int32_t a = input(g, "a", ty(DT_F32, 2, DIMS(7, 12))), b = input(g, "b", ty(DT_F32, 2, DIMS(12, 9)));
    int32_t y = node(g, OP_MATMUL, (int32_t[]){a, b}, 2, NULL);
    assert_true(ir_add_output(g, "out", node(g, OP_SOFTMAX, &y, 1, NULL)));
    return g;
}

/* Runs g's plan with module m (serialised); the outputs or NULL with msg. */
static Tensor *run_module(const Plan *p, const OclModule *m, char *msg, size_t n)
{
    Blob blob = {0};
    IrError err = {{0}};
    assert_true(ocl_serialize(m, &blob, &err));
    Tensor *ta = tl_random(DT_F32, 2, DIMS(7, 12), -1, 1, 1), *tb = tl_random(DT_F32, 2, DIMS(12, 9), -1, 1, 2);
    NamedTensor in[2] = {{"a", ta}, {"b", tb}};
    Tensor *out = NULL;
    if (!oc_run(p, &blob, NULL, in, 2, &out, msg, n))
        out = NULL;
    tensor_free(ta);
    tensor_free(tb);
    ir_free(blob.data);
    return out;
}

static void test_binaries_fallback(void **state)
{
    (void)state;
    Graph *g = small_graph();
    IrError err = {{0}};
    PassOptions po = {0};
    assert_true(pass_run_pipeline(g, pass_default_pipeline(1), &po, &err));
    Plan *p = plan_build(g, &err);
    assert_non_null(p);
    OclModule *m = ocl_generate(p, NULL, &err);
    assert_non_null(m);
    assert_true(ocl_build(m, p, NULL, &err));
    for (int32_t i = 0; i < m->nprogs; i++)
        assert_true(m->progs[i].binary && m->progs[i].nbinary > 0);
    char msg[2048];
    Tensor *ref = run_module(p, m, msg, sizeof msg);
    if (!ref)
        fail_msg("%s", msg);
    /* built for another device: from source */
    char saved[256];
    snprintf(saved, sizeof saved, "%s", m->device);
    snprintf(m->device, sizeof m->device, "another device");
    Tensor *t = run_module(p, m, msg, sizeof msg);
    if (!t)
        fail_msg("%s", msg);
    assert_true(tl_diff(t, ref) == 0);
    tensor_free(t);
    /* binaries for this device that do not load: from source */
    snprintf(m->device, sizeof m->device, "%s", saved);
    for (int32_t i = 0; i < m->nprogs; i++)
        memset(m->progs[i].binary, 0x5a, m->progs[i].nbinary);
    t = run_module(p, m, msg, sizeof msg);
    if (!t)
        fail_msg("%s", msg);
    assert_true(tl_diff(t, ref) == 0);
    tensor_free(t);
    /* a program that does not build (and no binary): the kernel, the device and the log */
    ir_free(m->progs[0].binary);
    m->progs[0].binary = NULL;
    char *src = m->progs[0].source;
    size_t len = strlen(src);
    m->progs[0].source = ir_malloc(len + 64);
    snprintf(m->progs[0].source, len + 64, "%s\nthis is not OpenCL C;\n", src);
    ir_free(src);
    assert_null(run_module(p, m, msg, sizeof msg));
    print_message("%s\n", msg);
    assert_non_null(strstr(msg, "does not build on"));
    assert_non_null(strstr(msg, m->progs[0].name));
    assert_non_null(strstr(msg, "CL_BUILD_PROGRAM_FAILURE"));
    /* and at compile time */
    assert_false(ocl_build(m, p, NULL, &err));
    assert_non_null(strstr(err.msg, "does not build on"));
    tensor_free(ref);
    ocl_module_free(m);
    plan_free(p);
    ir_graph_free(g);
}

/* a corrupt OpenCL section is a message, never a crash: every truncation and a sweep of
 * single-byte changes */
static void test_corrupt_section(void **state)
{
    (void)state;
    Graph *g = small_graph();
    IrError err = {{0}};
    PassOptions po = {0};
    assert_true(pass_run_pipeline(g, pass_default_pipeline(1), &po, &err));
    Plan *p = plan_build(g, &err);
    OclModule *m = ocl_generate(p, NULL, &err);
    assert_true(p && m);
    Blob ob = {0}, pb = {0};
    assert_true(ocl_serialize(m, &ob, &err) && plan_serialize(p, &pb, &err));
    char msg[512];
    RtPlan *rp = rt_plan_parse(pb.data, pb.len, msg, sizeof msg);
    assert_non_null(rp);
    RtOclBlob *b = rt_ocl_blob_parse(ob.data, ob.len, rp, msg, sizeof msg);
    assert_non_null(b);
    rt_ocl_blob_free(b);
    for (size_t n = 0; n < ob.len; n++)
        assert_null(rt_ocl_blob_parse(ob.data, n, rp, msg, sizeof msg));
    uint8_t *copy = malloc(ob.len);
    assert_non_null(copy);
    for (size_t i = 0; i < ob.len; i += 3) {
        memcpy(copy, ob.data, ob.len);
        copy[i] ^= 0xa5;
        rt_ocl_blob_free(rt_ocl_blob_parse(copy, ob.len, rp, msg, sizeof msg));
    }
    free(copy);
    rt_plan_free(rp);
    ir_free(ob.data);
    ir_free(pb.data);
    ocl_module_free(m);
    plan_free(p);
    ir_graph_free(g);
}

/* The kernels stay OpenCL C 1.2 that GPU drivers take: the programs of models covering
 * every kernel kind (the test ViTs' attention and MAP pooling, V-MoE's routing, combine
 * and gathers, E³'s ensemble, NaViT's segment and slot attention and segment_reduce, a
 * graph of f16/bf16/integer ops, casts, reductions, takes),
 * with the CPU schedules (6 × 16 and 12 × 32 blocks) and the GPU one, compiled by clang for
 * NVIDIA's OpenCL target (nvptx64-nvidia-nvcl, to PTX) and checked for an AMD GPU (amdgcn,
 * gfx90a): no GPU and no PoCL involved, so nothing PoCL-only can slip in. */
static void test_gpu_targets(void **state)
{
    (void)state;
    const char *clang = "/usr/lib/llvm-15/bin/clang";
    if (access(clang, X_OK) != 0) {
        print_message("skipped: no %s\n", clang);
        return;
    }
    char dir[4200];
    out_path(dir, sizeof dir, "gpu_targets");
    so_sh("rm -rf '%s' && mkdir -p '%s'", dir, dir);
    static const char *const models[] = {"vit_test_map.vit", "vmoe_test.vit", "e3_test.vit", "navit_test.vit",
                                         "navit_test_gap.vit", NULL};
    int files = 0;
    for (int mi = 0; mi < 6; mi++) {
        Graph *g;
        if (models[mi]) {
            g = tl_model(models[mi]);
        } else { /* every dtype, casts, integer ops, reductions and a take */
            g = ir_graph_new("misc");
            int32_t x = input(g, "x", ty(DT_F16, 2, DIMS(3, 5))), i = input(g, "i", ty(DT_I64, 1, DIMS(4)));
            Attr ca = attr_of(OP_CAST);
            ca.cast.to = DT_BF16;
            int32_t b = node(g, OP_CAST, &x, 1, &ca);
            ca.cast.to = DT_I32;
            int32_t xi = node(g, OP_CAST, &x, 1, &ca);
            int32_t p = node(g, OP_POW, (int32_t[]){xi, xi}, 2, NULL);
            ca.cast.to = DT_BF16;
            int32_t pb = node(g, OP_CAST, (int32_t[]){node(g, OP_DIV, (int32_t[]){i, i}, 2, NULL)}, 1, &ca);
            Attr ra = attr_of(OP_REDUCE_MAX);
            ra.reduce.axes = (IntList){1, (const int64_t[]){1}};
            int32_t r = node(g, OP_REDUCE_MAX, (int32_t[]){node(g, OP_GELU, &b, 1, NULL)}, 1, &ra);
            Attr ta = attr_of(OP_TAKE);
            int32_t t = node(g, OP_TAKE, (int32_t[]){node(g, OP_LOG_SOFTMAX, &x, 1, NULL), i}, 2, &ta);
            assert_true(ir_add_output(g, "p", p) && ir_add_output(g, "pb", pb) && ir_add_output(g, "r", r) &&
                        ir_add_output(g, "t", t));
        }
        IrError err = {{0}};
        PassOptions po = {0};
        assert_true(pass_run_pipeline(g, pass_default_pipeline(2), &po, &err));
        OclGenOptions gens[3] = {{0}, {.gemm_mr = 12, .gemm_vec = 16, .gemm_nr = 32}, {.gpu = true}};
        for (int s = 0; s < 3; s++) {
            PlanOptions plo;
            ocl_plan_options(&gens[s], &plo);
            Plan *p = plan_build_opts(g, &plo, &err);
            if (!p)
                fail_msg("plan: %s", err.msg);
            OclModule *m = ocl_generate(p, &gens[s], &err);
            if (!m)
                fail_msg("ocl_generate: %s", err.msg);
            for (int32_t i = 0; i < m->nprogs; i++) {
                char path[4400];
                snprintf(path, sizeof path, "%s/%s.cl", dir, m->progs[i].name);
                FILE *f = fopen(path, "w");
                assert_non_null(f);
                fputs(m->progs[i].source, f);
                fclose(f);
            }
            ocl_module_free(m);
            plan_free(p);
        }
        ir_graph_free(g);
    }
#ifdef __SANITIZE_ADDRESS__
    /* the sanitizer build generated the programs above under ASan; clang's verdict on them
       is the normal build's (the same text, clang not instrumented): not twice in CI */
    print_message("sanitizer build: the programs generated; clang checks them in the normal build\n");
    return;
#endif
    static const char *const targets[] = {"-target nvptx64-nvidia-nvcl -O0 -S",
                                          "-target amdgcn-amd-amdhsa -mcpu=gfx90a -nogpulib -fsyntax-only"};
    for (int t = 0; t < 2; t++) {
        int rc = so_sh("cd '%s' && %s %s -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -Werror=implicit-function-declaration "
                    "*.cl 2>clang.err", dir, clang, targets[t]);
        if (rc != 0) {
            so_sh("head -20 '%s/clang.err' >&2", dir);
            fail_msg("clang %s: exit status %d", targets[t], rc);
        }
    }
    files = so_sh("test $(ls '%s' | grep -c '\\.s$') -ge 20", dir);
    assert_int_equal(files, 0);
}

/* --slow (its own CTest test, label slow, in CI's normal build): ViT-B/16 on one image
 * against the CPU backend, with `vitc init` weights. --slow-all (by hand; minutes): every
 * family at full size — ViT-S/16 and B/16 on one image, V-MoE-B/16 on its 8, E³-S/32 on
 * its 128. */
static bool all_sizes;

static void test_big_models(void **state)
{
    (void)state;
    static const struct {
        const char *model;
        int n, size;
        bool ci; /* part of --slow */
    } models[] = {{"vit_s16", 1, 224, false}, {"vit_b16", 1, 224, true}, {"vmoe_b16", 8, 224, false},
                  {"e3_s32", 128, 128, false}};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        if (!models[i].ci && !all_sizes)
            continue;
        char weights[4200];
        out_path(weights, sizeof weights, models[i].model);
        strcat(weights, ".safetensors");
        assert_int_equal(so_sh("'%s' init '%s/models/%s.vit' -o '%s' --seed 3 >/dev/null", VITC_BIN, tl_source_dir(),
                            models[i].model, weights), 0);
        size_t count = (size_t)models[i].n * (size_t)models[i].size * (size_t)models[i].size * 3;
        float *px = malloc(count * sizeof *px);
        assert_non_null(px);
        for (size_t j = 0; j < count; j++)
            px[j] = (float)((j * 2654435761u) % 2001) / 1000.0f - 1.0f;
        check_model(models[i].model, weights, px, models[i].n, NULL);
        free(px);
    }
}

int main(int argc, char **argv)
{
    snprintf(out_dir, sizeof out_dir, "%s/opencl_models", VITC_TEST_OUT);
    mkdir(out_dir, 0777);
    all_sizes = argc > 1 && strcmp(argv[1], "--slow-all") == 0;
    if (argc > 1 && (strcmp(argv[1], "--slow") == 0 || all_sizes)) {
        const struct CMUnitTest slow[] = {cmocka_unit_test(test_big_models)};
        return cmocka_run_group_tests(slow, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_test_vits),          cmocka_unit_test(test_moe_models),
        cmocka_unit_test(test_navit),
        cmocka_unit_test(test_ti16),               cmocka_unit_test(test_emit_cl),
        cmocka_unit_test(test_linkage),            cmocka_unit_test(test_embedded_and_devices),
        cmocka_unit_test(test_no_platform),        cmocka_unit_test(test_binaries_fallback),
        cmocka_unit_test(test_corrupt_section),    cmocka_unit_test(test_gpu_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
