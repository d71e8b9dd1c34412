/* vitc_time.c — times vit_run of a vitc-compiled shared object through its C ABI (vitrt.h).
 *
 *   vitc_time MODEL.so WEIGHTS THREADS RUNS N [--input F] [--save F] [--gemm] [--mem]
 *
 * dlopens the .so (RTLD_LOCAL), vit_open(WEIGHTS), vit_set_threads(THREADS), and times
 * vit_run on N images (timing.h's rule: median of RUNS samples, smallest and largest).
 * The images are reproducible uniform noise in [-1, 1), or the raw f32 HWC pixels of
 * --input F (N images of the model's size). --save F writes the N × outputs floats of the
 * last run. Prints
 *
 *   vitc THREADS N MEDIAN_MS MIN_MS MAX_MS      (milliseconds per vit_run call of N images)
 *
 * --gemm: the model is one of bench/'s one-matmul models, input [1, M, K, 1] and output
 * [M, N] = x · Wᵀ with the only tensor of WEIGHTS stored [N, K] f32; prints gemm_peers' line
 * (gemm vitc THREADS M K N MEDIAN_MS MIN_MS MAX_MS GFLOPS maxrel=E), where 64 entries of the
 * output are checked against a double-precision dot product (maxrel). The time is the whole
 * vit_run call (which reads x and writes y in place: the images here are contiguous f32).
 * --mem: then prints, before vit_close, this process's peak resident set and what is resident
 * now, mapped from files (the weights, the .so) and anonymous (copies, the workspace), in KiB:
 *
 *   mem N VmHWM RssFile RssAnon
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "timing.h"

/* The data of the one tensor in a safetensors file (header: u64 length, JSON, data). */
static float *read_only_tensor(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    uint64_t hlen = 0;
    float *w = malloc(sizeof *w * count);
    int ok = f && w && fread(&hlen, 8, 1, f) == 1 && fseek(f, (long)(8 + hlen), SEEK_SET) == 0 &&
             fread(w, sizeof *w, count, f) == count;
    if (f)
        fclose(f);
    if (!ok) {
        free(w);
        return NULL;
    }
    return w;
}

static double check_gemm(const char *weights, const float *x, const float *y, int m, int k, int n)
{
    float *w = read_only_tensor(weights, (size_t)n * k);
    if (!w)
        return INFINITY;
    unsigned long long st = 7;
    double worst = 0;
    for (int t = 0; t < 64; t++) {
        int i = (int)((st = st * 6364136223846793005ULL + 1) >> 33) % m;
        int j = (int)((st = st * 6364136223846793005ULL + 1) >> 33) % n;
        double want = 0, mag = 0;
        for (int p = 0; p < k; p++) {
            want += (double)x[(size_t)i * k + p] * w[(size_t)j * k + p];
            mag += fabs((double)x[(size_t)i * k + p] * w[(size_t)j * k + p]);
        }
        double e = fabs(y[(size_t)i * n + j] - want) / (mag > 0 ? mag : 1);
        worst = e > worst ? e : worst;
    }
    free(w);
    return worst;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: vitc_time MODEL.so WEIGHTS THREADS RUNS N [--input F] [--save F] [--gemm] [--mem]\n");
        return 2;
    }
    const char *so = argv[1], *weights = argv[2], *input = NULL, *save = NULL;
    int threads = atoi(argv[3]), runs = atoi(argv[4]), n = atoi(argv[5]), gemm = 0, mem = 0;
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--input") && i + 1 < argc)
            input = argv[++i];
        else if (!strcmp(argv[i], "--save") && i + 1 < argc)
            save = argv[++i];
        else if (!strcmp(argv[i], "--gemm"))
            gemm = 1;
        else if (!strcmp(argv[i], "--mem"))
            mem = 1;
        else {
            fprintf(stderr, "vitc_time: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || runs < 1 || n < 1)
        return 2;
    Abi abi;
    if (abi_load(&abi, so, "vitc_time"))
        return 1;
    AbiRun r = {&abi, NULL, NULL, n, NULL, {0}};
    if (!(r.m = abi.open(weights, r.err, sizeof r.err))) {
        fprintf(stderr, "vitc_time: %s\n", r.err);
        return 1;
    }
    abi.set_threads(r.m, threads);
    struct vit_info info;
    abi.info(r.m, &info);
    size_t per = (size_t)info.height * info.width * info.channels;
    float *pixels = malloc(sizeof *pixels * per * n);
    vit_image *images = malloc(sizeof *images * n);
    r.out = calloc((size_t)n * info.outputs, sizeof *r.out);
    if (!pixels || !images || !r.out)
        return 1;
    if (input) {
        FILE *f = fopen(input, "rb");
        size_t got = f ? fread(pixels, sizeof *pixels, per * n, f) : 0;
        if (f)
            fclose(f);
        if (got != per * n) {
            fprintf(stderr, "vitc_time: %s: want %zu floats (%d images of %dx%dx%d)\n", input, per * n, n,
                    info.height, info.width, info.channels);
            return 1;
        }
    } else {
        unsigned long long st = 1;
        for (size_t i = 0; i < per * n; i++)
            pixels[i] = rand_unit(&st);
    }
    for (int i = 0; i < n; i++)
        images[i] = (vit_image){info.height, info.width, info.channels, pixels + per * i};
    r.images = images;
    Timing t;
    if (time_calls(abi_run, &r, runs, &t) != 0) {
        fprintf(stderr, "vitc_time: vit_run: %s\n", r.err);
        return 1;
    }
    if (gemm) { /* gemm_peers' line */
        int m = info.height, k = info.width, nn = info.outputs / info.height;
        printf("gemm vitc %d %d %d %d %.3f %.3f %.3f %.1f maxrel=%.1e\n", threads, m, k, nn, t.median * 1e3,
               t.min * 1e3, t.max * 1e3, 2.0 * m * k * nn / t.median * 1e-9, check_gemm(weights, pixels, r.out, m, k, nn));
    } else {
        printf("vitc %d %d %.3f %.3f %.3f\n", threads, n, t.median * 1e3, t.min * 1e3, t.max * 1e3);
    }
    if (save) {
        FILE *f = fopen(save, "wb");
        if (!f || fwrite(r.out, sizeof *r.out, (size_t)n * info.outputs, f) != (size_t)n * info.outputs) {
            fprintf(stderr, "vitc_time: cannot write %s\n", save);
            return 1;
        }
        fclose(f);
    }
    if (mem)
        printf("mem %d %ld %ld %ld\n", n, status_kb("VmHWM"), status_kb("RssFile"), status_kb("RssAnon"));
    abi.close(r.m);
    dlclose(abi.handle);
    free(pixels);
    free(images);
    free(r.out);
    return 0;
}
