/* moe.c — times compiled models against each other, round-robin in one process.
 *
 *   moe THREADS ROUNDS LABEL=MODEL.so:WEIGHTS.safetensors ...
 *
 * Each model is opened through its vitrt.h ABI (dlopen, RTLD_LOCAL: any number side by
 * side), fed its maximum batch of random images and run once to warm up. Then ROUNDS
 * rounds each run every model once, in order, so that all of them see the same machine
 * load (this machine is shared). Per model it prints, against each model before it, the
 * median over rounds of its time divided by that model's time in the same round, then the
 * median, min and max of its own rounds:
 *
 *   model LABEL [/EARLIER=RATIO ...] MEDIAN_MS MIN_MS MAX_MS
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/vitrt.h"

enum { MAXM = 8 };

typedef struct {
    const char *label;
    void *h;
    vit_model *m;
    struct vit_info info;
    vit_image *ims;
    float *px, *out;
    int (*run)(vit_model *, const vit_image *, int, float *, char *, size_t);
    void (*close)(vit_model *);
    double *t;
} Model;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int open_model(Model *md, char *spec, int threads, int rounds)
{
    char err[512];
    char *eq = strchr(spec, '='), *colon = eq ? strrchr(eq, ':') : NULL;
    if (!eq || !colon) {
        fprintf(stderr, "moe: expected LABEL=MODEL.so:WEIGHTS, got '%s'\n", spec);
        return -1;
    }
    *eq = *colon = 0;
    md->label = spec;
    md->h = dlopen(eq + 1, RTLD_NOW | RTLD_LOCAL);
    if (!md->h) {
        fprintf(stderr, "moe: %s\n", dlerror());
        return -1;
    }
    vit_model *(*open)(const char *, char *, size_t);
    int (*info)(const vit_model *, struct vit_info *);
    void (*set_threads)(vit_model *, int);
    *(void **)&open = dlsym(md->h, "vit_open");
    *(void **)&info = dlsym(md->h, "vit_info");
    *(void **)&set_threads = dlsym(md->h, "vit_set_threads");
    *(void **)&md->run = dlsym(md->h, "vit_run");
    *(void **)&md->close = dlsym(md->h, "vit_close");
    if (!open || !info || !set_threads || !md->run || !md->close || !(md->m = open(colon + 1, err, sizeof err))) {
        fprintf(stderr, "moe: %s: %s\n", eq + 1, open ? err : "not a vitc model");
        return -1;
    }
    set_threads(md->m, threads);
    info(md->m, &md->info);
    int n = md->info.max_images;
    size_t per = (size_t)md->info.height * (size_t)md->info.width * (size_t)md->info.channels;
    md->px = malloc(per * (size_t)n * sizeof *md->px);
    md->out = malloc((size_t)md->info.outputs * (size_t)n * sizeof *md->out);
    md->ims = malloc((size_t)n * sizeof *md->ims);
    md->t = malloc((size_t)rounds * sizeof *md->t);
    if (!md->px || !md->out || !md->ims || !md->t)
        return -1;
    unsigned long long s = 12345;
    for (size_t i = 0; i < per * (size_t)n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        md->px[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    for (int i = 0; i < n; i++)
        md->ims[i] = (vit_image){.height = md->info.height, .width = md->info.width,
                                 .channels = md->info.channels, .pixels = md->px + per * (size_t)i};
    return 0;
}

static int run(Model *md, double *t)
{
    char err[512];
    double t0 = now_s();
    if (md->run(md->m, md->ims, md->info.max_images, md->out, err, sizeof err)) {
        fprintf(stderr, "moe: %s: %s\n", md->label, err);
        return -1;
    }
    *t = now_s() - t0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: moe THREADS ROUNDS LABEL=MODEL.so:WEIGHTS ...\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[2]), n = argc - 3;
    Model md[MAXM];
    if (threads < 1 || rounds < 1 || n > MAXM) {
        fprintf(stderr, "moe: bad THREADS, ROUNDS or too many models\n");
        return 2;
    }
    memset(md, 0, sizeof md);
    for (int i = 0; i < n; i++) {
        double warm;
        if (open_model(&md[i], argv[3 + i], threads, rounds) || run(&md[i], &warm))
            return 1;
    }
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++)
            if (run(&md[i], &md[i].t[r]))
                return 1;
    double *ratio = malloc((size_t)rounds * sizeof *ratio);
    if (!ratio)
        return 1;
    for (int i = 0; i < n; i++) {
        printf("model %s", md[i].label);
        for (int j = 0; j < i; j++) { /* against each model before it, round by round */
            for (int r = 0; r < rounds; r++)
                ratio[r] = md[i].t[r] / md[j].t[r];
            printf(" /%s=%.3f", md[j].label, median(ratio, rounds));
        }
        double *t = md[i].t;
        double med = median(t, rounds); /* sorts t: t[0] is the min */
        printf(" %.2f %.2f %.2f\n", 1e3 * med, 1e3 * t[0], 1e3 * t[rounds - 1]);
    }
    free(ratio);
    for (int i = 0; i < n; i++)
        md[i].close(md[i].m); /* VIT_PROFILE=1: the runtime prints each kernel's time */
    return 0;
}
