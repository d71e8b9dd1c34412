/* navit.c — times vit_run of a NaViT .so on one packed batch of images of mixed sizes.
 *
 *   navit MODEL.so WEIGHTS THREADS RUNS GRIDS [--save F]
 *
 * GRIDS: the images as patch grids, "8x8,12x10,..." (image i is gh·P × gw·P pixels of
 * reproducible noise in [-1, 1), P from vit_info, so the runtime packs it without
 * resizing). dlopens the .so, vit_open(WEIGHTS), vit_set_threads(THREADS), checks that the
 * images fit one sequence, times vit_run on all of them (timing.h: median of RUNS samples),
 * and prints
 *
 *   navit THREADS N TOKENS MEDIAN_MS MIN_MS MAX_MS
 *   mem VmHWM_OPEN VmHWM RssAnon        (KiB: the peak after vit_open, the peak after the
 *                                        runs, and the anonymous memory resident now)
 *
 * --save F writes the N × outputs floats of the last run. With VIT_PROFILE=FILE in the
 * environment the runtime writes every kernel's samples into FILE at vit_close
 * (runtime/rt_profile.c); navit_report.py sums them by kernel kind.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "timing.h"

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: navit MODEL.so WEIGHTS THREADS RUNS GRIDS [--save F]\n");
        return 2;
    }
    const char *save = argc >= 8 && !strcmp(argv[6], "--save") ? argv[7] : NULL;
    int threads = atoi(argv[3]), runs = atoi(argv[4]);
    Abi abi;
    if (abi_load(&abi, argv[1], "navit"))
        return 1;
    AbiRun c = {&abi, NULL, NULL, 0, NULL, {0}};
    vit_model *m = c.m = abi.open(argv[2], c.err, sizeof c.err);
    if (!m) {
        fprintf(stderr, "navit: %s\n", c.err);
        return 1;
    }
    long hwm_open = status_kb("VmHWM");
    struct vit_info in = {0};
    abi.info(m, &in);
    if (in.patch < 1 || in.tokens < 1) {
        fprintf(stderr, "navit: %s is not a NaViT model\n", argv[1]);
        return 1;
    }
    abi.set_threads(m, threads);
    vit_image ims[64];
    int n = 0;
    long tokens = 0;
    uint32_t r = 12345;
    for (const char *s = argv[5]; *s && n < 64;) {
        int gh, gw, used;
        if (sscanf(s, "%dx%d%n", &gh, &gw, &used) != 2 || gh < 1 || gw < 1) {
            fprintf(stderr, "navit: bad grid list '%s'\n", argv[5]);
            return 2;
        }
        int hp = gh * in.patch, wp = gw * in.patch;
        size_t k = (size_t)hp * wp * in.channels;
        float *px = malloc(k * sizeof *px);
        for (size_t i = 0; i < k; i++)
            px[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / (1 << 23) - 1.0f;
        ims[n++] = (vit_image){hp, wp, in.channels, px};
        tokens += (long)gh * gw;
        s += used;
        s += *s == ',';
    }
    if (tokens > in.tokens || n > in.max_images)
        fprintf(stderr, "navit: warning: %d images of %ld tokens take more than one sequence (%d tokens, %d images)\n",
                n, tokens, in.tokens, in.max_images);
    float *out = malloc(sizeof *out * (size_t)n * (size_t)in.outputs);
    c.images = ims;
    c.n = n;
    c.out = out;
    Timing t;
    if (time_calls(abi_run, &c, runs, &t) != 0) {
        fprintf(stderr, "navit: vit_run: %s\n", c.err);
        return 1;
    }
    printf("navit %d %d %ld %.3f %.3f %.3f\n", threads, n, tokens, t.median * 1e3, t.min * 1e3, t.max * 1e3);
    printf("mem %ld %ld %ld\n", hwm_open, status_kb("VmHWM"), status_kb("RssAnon"));
    if (save) {
        FILE *f = fopen(save, "wb");
        if (!f || fwrite(out, sizeof *out, (size_t)n * (size_t)in.outputs, f) != (size_t)n * (size_t)in.outputs) {
            fprintf(stderr, "navit: cannot write %s\n", save);
            return 1;
        }
        fclose(f);
    }
    abi.close(m);
    for (int i = 0; i < n; i++)
        free((void *)ims[i].pixels);
    free(out);
    dlclose(abi.handle);
    return 0;
}
