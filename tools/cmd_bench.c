/* cmd_bench.c — `vitc bench MODEL.so [--weights W] [--batch N] [--threads T] [--repeat R]
 *                [--warmup W] [--top K]`
 *
 * Where the time of a compiled model goes, without a profiler. The .so is opened through
 * its C ABI (dlopen, as `vitc run` does) with the runtime's profile switch pointed at a
 * temporary file (VIT_PROFILE=FILE: every call of every kernel timed, rt_profile.c); N
 * random images (deterministic) run W times to warm up, then R times. Printed:
 *
 *   - the machine: the FMA peak measured now (tools/peak.c) on 1 and on T threads;
 *   - end to end: the median time per run and per image (min, max), the plan's FLOP per
 *     image, GFLOP/s and % of the T-thread peak;
 *   - by kernel kind, by layer and by operation summed over the layers: time per run,
 *     share, GFLOP/s, % of peak. A kernel's label carries its source location and the part
 *     of the model it computes, named after the parameters it reads ("k9 gemm
 *     models/vit_b16.vit:13:9 [blocks.0.attn.qkv]", ir/plan_scope.c): its layer is
 *     "blocks.0", its operation "blocks.*.attn.qkv gemm" (the layer's number as *). A
 *     kernel without that name is grouped by its source location;
 *   - the K slowest kernels: median ms per call, GFLOP/s, % of peak, extent, label;
 *   - the once-kernels run at vit_open (weight packing) and the thread pool's dispatch
 *     cost of a kernel (2·T iterations of 2 µs, less the ideal).
 *
 * A kernel's time is the median over the timed runs of its calls (warm-up calls dropped);
 * the sum of the kernels' medians is reported beside the measured end-to-end time.
 * Exit status: 0, 1 for errors, 2 for bad usage.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/rt_internal.h"
#include "cmd.h"
#include "plan.h"

#define ERR(...) fprintf(stderr, "vitc: bench: error: " __VA_ARGS__)

typedef struct {
    const char *so, *weights;
    int batch, threads, repeat, warmup, top;
} BenchArgs;

typedef struct {
    int once;
    long long calls, extent;
    double flops;     /* per call */
    char kind[32], label[1024], where[512], scope[256];
    double *s;        /* samples (seconds) */
    int ns;
    double med;       /* median per call over the timed calls */
    double per_run;   /* seconds per run */
} Kern;

static double clock_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char usage[] =
    "usage: vitc bench MODEL.so [--weights W.safetensors] [--batch N] [--threads T] [--repeat R]\n"
    "                  [--warmup W] [--top K]\n";

/* -1 go on, else the exit status */
static int parse_args(int argc, char **argv, BenchArgs *a)
{
    *a = (BenchArgs){.batch = 1, .threads = 0, .repeat = 10, .warmup = 2, .top = 15};
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\nRuns a compiled model on random images and prints where the time goes: every kernel's\n"
                   "median time, GFLOP/s and %% of the machine's measured FMA peak, grouped by kernel kind, by\n"
                   "layer and by operation over the layers (named after the parameters the kernels read), and\n"
                   "the end-to-end time and its %% of peak.\n\n"
                   "  --weights FILE  the parameters (default: the embedded weights)\n"
                   "  --batch N       images per run (default 1)\n"
                   "  --threads T     worker threads (default: the cores, or VIT_NUM_THREADS)\n"
                   "  --repeat R      timed runs (default 10); --warmup W runs first (default 2)\n"
                   "  --top K         the K slowest kernels (default 15)\n",
                   usage);
            return 0;
        } else if (tool_opt(argc, argv, &i, "--weights", &v, &bad)) {
            a->weights = v;
        } else if (tool_opt(argc, argv, &i, "--batch", &v, &bad)) {
            bad = bad || !tool_int_arg("bench", "--batch", v, 1, 4096, &a->batch);
        } else if (tool_opt(argc, argv, &i, "--threads", &v, &bad)) {
            bad = bad || !tool_int_arg("bench", "--threads", v, 1, 1024, &a->threads);
        } else if (tool_opt(argc, argv, &i, "--repeat", &v, &bad)) {
            bad = bad || !tool_int_arg("bench", "--repeat", v, 1, 100000, &a->repeat);
        } else if (tool_opt(argc, argv, &i, "--warmup", &v, &bad)) {
            bad = bad || !tool_int_arg("bench", "--warmup", v, 0, 100000, &a->warmup);
        } else if (tool_opt(argc, argv, &i, "--top", &v, &bad)) {
            bad = bad || !tool_int_arg("bench", "--top", v, 0, 100000, &a->top);
        } else if (argv[i][0] == '-') {
            ERR("unknown option '%s'\n", argv[i]);
            bad = true;
        } else if (!a->so) {
            a->so = argv[i];
        } else {
            ERR("more than one model: '%s' and '%s'\n", a->so, argv[i]);
            bad = true;
        }
    }
    if (!bad && !a->so) {
        ERR("no model given\n");
        bad = true;
    }
    if (bad) {
        fputs(usage, stderr);
        return 2;
    }
    return -1;
}

/* The first three fields of /proc/loadavg (the machine may be shared: say how busy). */
static const char *load_average(void)
{
    static char buf[64];
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *p = buf;
            for (int i = 0; i < 3 && p; i++)
                p = strchr(p + 1, ' ');
            if (p)
                *p = 0;
        }
        fclose(f);
    }
    return buf[0] ? buf : "unknown";
}

/* ---- the profile file ---- */

static Kern *read_profile(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    Kern *k = NULL;
    int nk = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    bool ok = true;
    while (ok && getline(&line, &lcap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        int id, used = 0;
        if (sscanf(line, "kernel %d%n", &id, &used) == 1) {
            if (id != nk || (nk == cap && !(k = ir_realloc(k, sizeof *k * (size_t)(cap = cap ? 2 * cap : 64))))) {
                ok = false;
                break;
            }
            Kern *e = &k[nk++];
            memset(e, 0, sizeof *e);
            int kind, used2 = 0;
            if (sscanf(line + used, "%d %lld %lld %lg %d %n", &e->once, &e->calls, &e->extent, &e->flops, &kind,
                       &used2) < 5) {
                ok = false;
                break;
            }
            snprintf(e->label, sizeof e->label, "%s", line + used + used2);
            /* "k9 gemm models/vit_b16.vit:13:9 [blocks.0.attn.qkv]": the kind, the location
             * and the scope (plan_blob.c; the location and the scope may be missing) */
            const char *rest = strchr(e->label, ' ');
            rest = rest ? rest + 1 : "";
            size_t kl = strcspn(rest, " "), len;
            snprintf(e->kind, sizeof e->kind, "%.*s", (int)kl, rest);
            rest += kl + (rest[kl] == ' ');
            len = strlen(rest);
            const char *open = len && rest[len - 1] == ']' ? strrchr(rest, '[') : NULL;
            size_t wl = open ? (size_t)(open - rest) : len;
            while (wl && rest[wl - 1] == ' ')
                wl--;
            snprintf(e->where, sizeof e->where, "%.*s", (int)wl, wl ? rest : "(no location)");
            snprintf(e->scope, sizeof e->scope, "%.*s", open ? (int)(rest + len - open - 2) : 0, open ? open + 1 : "");
        } else if (sscanf(line, "samples %d%n", &id, &used) == 1 && id == nk - 1) {
            Kern *e = &k[id];
            char *p = line + used;
            int scap = 0;
            for (;;) {
                char *end;
                double v = strtod(p, &end);
                if (end == p)
                    break;
                if (e->ns == scap && !(e->s = ir_realloc(e->s, sizeof *e->s * (size_t)(scap = scap ? 2 * scap : 16)))) {
                    ok = false;
                    break;
                }
                e->s[e->ns++] = v;
                p = end;
            }
        }
    }
    free(line);
    fclose(f);
    if (!ok) {
        for (int i = 0; i < nk; i++)
            ir_free(k[i].s);
        ir_free(k);
        return NULL;
    }
    *n = nk;
    return k;
}

/* ---- reports ---- */

typedef struct {
    char key[512];
    double sec, flops;
    int kernels;
} Group;

static int group_add(Group *gs, int n, const char *key, double sec, double flops)
{
    for (int i = 0; i < n; i++)
        if (strcmp(gs[i].key, key) == 0) {
            gs[i].sec += sec;
            gs[i].flops += flops;
            gs[i].kernels++;
            return n;
        }
    snprintf(gs[n].key, sizeof gs[n].key, "%s", key);
    gs[n].sec = sec;
    gs[n].flops = flops;
    gs[n].kernels = 1;
    return n + 1;
}

static int by_sec(const void *a, const void *b)
{
    double x = ((const Group *)a)->sec, y = ((const Group *)b)->sec;
    return x > y ? -1 : x < y;
}

typedef void (*KeyFn)(const Kern *e, char *key, size_t n);

/* The kernels of order[0..nrun) grouped by key_of (gs: room for nrun groups), the groups
 * printed slowest first under title. */
static void print_groups(const char *title, KeyFn key_of, Kern *const *order, int nrun, int calls_per_run, Group *gs,
                         double total, double peak)
{
    char key[512];
    int n = 0;
    for (int i = 0; i < nrun; i++) {
        key_of(order[i], key, sizeof key);
        n = group_add(gs, n, key, order[i]->per_run, order[i]->flops * calls_per_run);
    }
    qsort(gs, (size_t)n, sizeof *gs, by_sec);
    int w = 42; /* the keys' column: as wide as the longest */
    for (int i = 0; i < n; i++)
        w = (int)strlen(gs[i].key) > w ? (int)strlen(gs[i].key) : w;
    printf("\n%-*s %9s %6s %8s %7s %7s\n", w + 2, title, "ms/run", "%time", "kernels", "GFLOP/s", "%peak");
    for (int i = 0; i < n; i++) {
        double gf = gs[i].sec > 0 ? gs[i].flops / gs[i].sec * 1e-9 : 0;
        printf("  %-*s %9.3f %6.1f %8d %7.1f %7.1f\n", w, gs[i].key, gs[i].sec * 1e3,
               total > 0 ? 100 * gs[i].sec / total : 0.0, gs[i].kernels, gf, peak > 0 ? 100 * gf * 1e9 / peak : 0.0);
    }
}

/* A kernel's kind ("gemm"). */
static void kind_key(const Kern *e, char *key, size_t n) { snprintf(key, n, "%s", e->kind); }

/* A kernel's layer ("blocks.0" of "blocks.0.attn.qkv"), else its source location. */
static void layer_key(const Kern *e, char *key, size_t n)
{
    if (e->scope[0])
        snprintf(key, n, "%.*s", (int)plan_scope_layer(e->scope), e->scope);
    else
        snprintf(key, n, "%s", e->where);
}

/* Its operation over all layers: the scope with the layer's number as * and the kind
 * ("blocks.*.attn.qkv gemm"), else the kind and the source location. */
static void operation_key(const Kern *e, char *key, size_t n)
{
    size_t l = plan_scope_layer(e->scope), d = l;
    while (d > 0 && isdigit((unsigned char)e->scope[d - 1]))
        d--;
    if (!e->scope[0])
        snprintf(key, n, "%s %s", e->kind, e->where);
    else if (d < l)
        snprintf(key, n, "%.*s*%s %s", (int)d, e->scope, e->scope + l, e->kind);
    else
        snprintf(key, n, "%s %s", e->scope, e->kind);
}

static int by_per_run(const void *a, const void *b)
{
    double x = (*(Kern *const *)a)->per_run, y = (*(Kern *const *)b)->per_run;
    return x > y ? -1 : x < y;
}

static void report(const BenchArgs *a, Kern *k, int nk, int calls_per_run, const double *runs, const double *cpu,
                   double peak1, double peakt, double peakc, int threads)
{
    double total = 0, flops = 0, open_sec = 0;
    Group *gs = ir_calloc((size_t)(nk ? nk : 1), sizeof *gs);
    Kern **order = ir_calloc((size_t)(nk ? nk : 1), sizeof *order);
    if (!gs || !order) {
        ir_free(gs);
        ir_free(order);
        ERR("out of memory\n");
        return;
    }
    int nrun = 0;
    for (int i = 0; i < nk; i++) {
        Kern *e = &k[i];
        if (e->once) {
            for (int s = 0; s < e->ns; s++)
                open_sec += e->s[s];
            continue;
        }
        int skip = a->warmup * calls_per_run; /* warm-up calls come first */
        e->med = skip < e->ns ? median_of(e->s + skip, e->ns - skip) : 0;
        e->per_run = e->med * calls_per_run;
        total += e->per_run;
        flops += e->flops * calls_per_run;
        order[nrun++] = e;
    }
    double run_sec = runs[a->repeat / 2], per_image = run_sec / a->batch;
    if (!nk) {
        printf("end to end: %.3f ms per run (median of %d; min %.3f, max %.3f), %.3f ms per image; CPU time %.3f ms "
               "per run\n",
               run_sec * 1e3, a->repeat, runs[0] * 1e3, runs[a->repeat - 1] * 1e3, per_image * 1e3,
               cpu[a->repeat / 2] * 1e3);
        ir_free(gs);
        ir_free(order);
        return;
    }
    double gflops_img = flops / a->batch * 1e-9;
    printf("end to end: %.3f ms per run (median of %d; min %.3f, max %.3f), %.3f ms per image\n", run_sec * 1e3,
           a->repeat, runs[0] * 1e3, runs[a->repeat - 1] * 1e3, per_image * 1e3);
    printf("            %.3f GFLOP per image (the plan's estimate) -> %.1f GFLOP/s = %.1f%% of the %d-thread peak",
           gflops_img, flops / run_sec * 1e-9, peakt > 0 ? 100 * flops / run_sec / peakt : 0.0, threads);
    if (threads > 1)
        printf(" (%.1f%% of the 1-thread peak)", peak1 > 0 ? 100 * flops / run_sec / peak1 : 0.0);
    printf("\n");
    printf("            kernels: %.3f ms per run (sum of medians; the rest is the runtime's input and output "
           "copies and dispatch)\n",
           total * 1e3);
    double cpu_sec = cpu[a->repeat / 2];
    printf("            CPU time: %.3f ms per run (median; all threads, spinning included)%s", cpu_sec * 1e3,
           threads == 1 ? "" : "\n");
    if (threads == 1) /* time the OS gave to others does not count: the code's own efficiency */
        printf(" -> %.1f GFLOP per CPU-second = %.1f%% of the FMA loop's %.1f per CPU-second\n",
               flops / cpu_sec * 1e-9, peakc > 0 ? 100 * flops / cpu_sec / peakc : 0.0, peakc * 1e-9);
    print_groups("by kernel kind", kind_key, order, nrun, calls_per_run, gs, total, peakt);
    print_groups("by layer", layer_key, order, nrun, calls_per_run, gs, total, peakt);
    print_groups("by operation (all layers)", operation_key, order, nrun, calls_per_run, gs, total, peakt);
    qsort(order, (size_t)nrun, sizeof *order, by_per_run);
    int top = a->top < nrun ? a->top : nrun;
    if (top > 0) {
        printf("\nthe %d slowest kernels\n  %9s %6s %7s %7s %8s  %s\n", top, "ms/call", "%time", "GFLOP/s", "%peak",
               "extent", "kernel");
        for (int i = 0; i < top; i++) {
            const Kern *e = order[i];
            double gf = e->med > 0 ? e->flops / e->med * 1e-9 : 0;
            printf("  %9.4f %6.1f %7.1f %7.1f %8lld  %s\n", e->med * 1e3,
                   total > 0 ? 100 * e->per_run / total : 0.0, gf, peakt > 0 ? 100 * gf * 1e9 / peakt : 0.0,
                   e->extent, e->label);
        }
    }
    printf("\nat vit_open: %.3f ms in once-kernels (weight packing, parameter folding)\n", open_sec * 1e3);
    ir_free(gs);
    ir_free(order);
}

/* The thread pool's cost per kernel: a kernel of 2·threads iterations of 2 µs each, run
 * on `threads` threads (ideally 4 µs): the time beyond that is dispatch and sync. */
static void spin_kernel(char *const *b, const int64_t *s, int64_t lo, int64_t hi)
{
    (void)b, (void)s;
    double until = now() + 2e-6 * (double)(hi - lo);
    while (now() < until)
        ;
}

static double pool_dispatch(int threads)
{
    RtPool *p = rt_pool_new(threads);
    if (!p)
        return 0;
    int n = 1000;
    for (int i = 0; i < 100; i++)
        rt_pool_run(p, spin_kernel, NULL, NULL, 2 * threads, 1);
    double t0 = now();
    for (int i = 0; i < n; i++)
        rt_pool_run(p, spin_kernel, NULL, NULL, 2 * threads, 1);
    double t = (now() - t0) / n - 4e-6;
    rt_pool_free(p);
    return t > 0 ? t : 0;
}

int cmd_bench(int argc, char **argv)
{
    BenchArgs a;
    int st = parse_args(argc, argv, &a);
    if (st >= 0)
        return st;
    const char *tmp = getenv("TMPDIR");
    char profpath[4096];
    snprintf(profpath, sizeof profpath, "%s/vitc-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(profpath);
    if (fd < 0) {
        ERR("cannot create a temporary file in %s\n", tmp && *tmp ? tmp : "/tmp");
        return 1;
    }
    close(fd);
    char *saved = getenv("VIT_PROFILE") ? strdup(getenv("VIT_PROFILE")) : NULL;
    setenv("VIT_PROFILE", profpath, 1);
    int rc = 1;
    ToolSo so;
    vit_model *m = NULL;
    float *pixels = NULL, *out = NULL;
    vit_image *imgs = NULL;
    double *runs = NULL, *cpu = NULL;
    if (!tool_load_so("bench", a.so, &so))
        goto done;
    char err[512];
    double t_open = now();
    if (!(m = so.open(a.weights, err, sizeof err))) {
        ERR("%s\n", err);
        goto done;
    }
    t_open = now() - t_open;
    if (a.threads)
        so.set_threads(m, a.threads);
    int threads = a.threads ? a.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("VIT_NUM_THREADS");
    if (!a.threads && env && atoi(env) >= 1)
        threads = atoi(env);
    struct vit_info vi;
    so.info(m, &vi);
    if (vi.height <= 0 || vi.width <= 0) {
        ERR("the model takes images of any size (NaViT): bench needs a fixed size\n");
        goto done;
    }
    size_t per = (size_t)vi.height * vi.width * vi.channels;
    pixels = ir_malloc(per * (size_t)a.batch * sizeof *pixels);
    out = ir_malloc((size_t)vi.outputs * (size_t)a.batch * sizeof *out);
    imgs = ir_calloc((size_t)a.batch, sizeof *imgs);
    runs = ir_calloc((size_t)a.repeat, sizeof *runs);
    cpu = ir_calloc((size_t)a.repeat, sizeof *cpu);
    if (!pixels || !out || !imgs || !runs || !cpu) {
        ERR("out of memory\n");
        goto done;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < per * (size_t)a.batch; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        pixels[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 4 - 2);
    }
    for (int i = 0; i < a.batch; i++)
        imgs[i] = (vit_image){vi.height, vi.width, vi.channels, pixels + per * (size_t)i};
    int calls_per_run = (a.batch + vi.max_images - 1) / vi.max_images;
    printf("vitc bench %s (%s): batch %d, %d thread%s, %d runs after %d warm-up%s\n", a.so, vi.name, a.batch, threads,
           threads == 1 ? "" : "s", a.repeat, a.warmup, a.warmup == 1 ? "" : "s");
    double peak1 = tool_fma_peak(1), peakt = threads == 1 ? peak1 : tool_fma_peak(threads);
    double peakc = threads == 1 ? tool_fma_peak_cpu() : 0;
    printf("machine: %s FMA peak %.1f GFLOP/s on 1 thread", tool_fma_isa(), peak1 * 1e-9);
    if (threads > 1)
        printf(", %.1f on %d", peakt * 1e-9, threads);
    printf(" (measured now; load average %s)\n", load_average());
    printf("vit_open: %.1f ms", t_open * 1e3);
    if (threads > 1)
        printf("; thread pool: %.2f us per kernel to dispatch and sync %d threads", pool_dispatch(threads) * 1e6,
               threads);
    printf("\n");
    for (int r = 0; r < a.warmup + a.repeat; r++) {
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (so.run(m, imgs, a.batch, out, err, sizeof err) != 0) {
            ERR("%s\n", err);
            goto done;
        }
        if (r >= a.warmup) {
            runs[r - a.warmup] = now() - t0;
            cpu[r - a.warmup] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
    }
    qsort(runs, (size_t)a.repeat, sizeof *runs, cmp_double);
    qsort(cpu, (size_t)a.repeat, sizeof *cpu, cmp_double);
    so.close(m); /* writes the profile */
    m = NULL;
    int nk = 0;
    Kern *k = read_profile(profpath, &nk);
    if (!k || !nk) { /* a .so built before VIT_PROFILE=FILE: the end-to-end numbers only */
        fprintf(stderr, "vitc: bench: warning: no per-kernel profile from '%s' (a runtime older than "
                        "VIT_PROFILE=FILE?): end-to-end times only\n", a.so);
        ir_free(k);
        k = NULL;
        nk = 0;
    }
    report(&a, k, nk, calls_per_run, runs, cpu, peak1, peakt, peakc, threads);
    for (int i = 0; i < nk; i++)
        ir_free(k[i].s);
    ir_free(k);
    rc = 0;
done:
    if (m)
        so.close(m);
    tool_unload_so(&so);
    unlink(profpath);
    if (saved) {
        setenv("VIT_PROFILE", saved, 1);
        free(saved);
    } else {
        unsetenv("VIT_PROFILE");
    }
    ir_free(pixels);
    ir_free(out);
    ir_free(imgs);
    ir_free(runs);
    ir_free(cpu);
    return rc;
}
