/* rt_profile.c — per-kernel times, when VIT_PROFILE is set at vit_open.
 *
 * Every call of every kernel is timed (wall time of the whole kernel, all threads, pool
 * dispatch included) and kept (up to MAX_SAMPLES per kernel; past that, totals only).
 * vit_close reports them:
 *
 *   VIT_PROFILE=1     a table on stderr, kernels by total time: total ms, share, calls,
 *                     median ms per call, GFLOP/s of the plan's FLOP estimate at the
 *                     median, extent, label
 *   VIT_PROFILE=FILE  (any other value but 0) the samples as text into FILE, for tools
 *                     (`vitc bench` reads it):
 *                       # vitrt profile 1
 *                       model NAME
 *                       threads T
 *                       kernel K ONCE CALLS EXTENT FLOPS_PER_CALL KIND LABEL
 *                       samples K S1 S2 ...      (seconds, in call order)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_internal.h"

enum { MAX_SAMPLES = 1 << 14 };

typedef struct {
    double seconds, flops;
    int64_t calls, extent;
    double *samples;
    int nsamples, cap;
} Entry;

struct RtProfile {
    int n;
    Entry e[];
};

double rt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

RtProfile *rt_profile_new(int n)
{
    RtProfile *pr = calloc(1, sizeof *pr + sizeof(Entry) * (size_t)(n > 0 ? n : 1));
    if (pr)
        pr->n = n;
    return pr;
}

void rt_profile_add(RtProfile *pr, int k, double seconds, double flops, int64_t extent)
{
    if (!pr || k < 0 || k >= pr->n)
        return;
    Entry *e = &pr->e[k];
    e->seconds += seconds;
    e->flops += flops;
    e->calls++;
    e->extent = extent;
    if (e->nsamples == e->cap && e->cap < MAX_SAMPLES) {
        int ncap = e->cap ? e->cap * 2 : 16;
        double *ns = realloc(e->samples, sizeof *ns * (size_t)ncap);
        if (ns) {
            e->samples = ns;
            e->cap = ncap;
        }
    }
    if (e->nsamples < e->cap)
        e->samples[e->nsamples++] = seconds;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of the samples (the mean when none were kept). */
static double median(const Entry *e)
{
    if (!e->nsamples)
        return e->calls ? e->seconds / (double)e->calls : 0;
    double *s = malloc(sizeof *s * (size_t)e->nsamples);
    if (!s)
        return e->seconds / (double)e->calls;
    memcpy(s, e->samples, sizeof *s * (size_t)e->nsamples);
    qsort(s, (size_t)e->nsamples, sizeof *s, cmp_double);
    int n = e->nsamples;
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static const Entry *sort_base;
static int by_time(const void *a, const void *b)
{
    double x = sort_base[*(const int *)a].seconds, y = sort_base[*(const int *)b].seconds;
    return x > y ? -1 : x < y;
}

static void print_table(const RtProfile *pr, const RtPlan *p, int threads)
{
    int *idx = malloc(sizeof *idx * (size_t)(pr->n > 0 ? pr->n : 1));
    if (!idx)
        return;
    double total = 0, flops = 0;
    for (int k = 0; k < pr->n; k++) {
        idx[k] = k;
        total += pr->e[k].seconds;
        flops += pr->e[k].flops;
    }
    sort_base = pr->e; /* single-threaded: vit_close */
    qsort(idx, (size_t)pr->n, sizeof *idx, by_time);
    fprintf(stderr, "vitrt profile of %s: %d kernels, %.3f ms in all, %.2f GFLOP/s, %d thread%s\n", p->name,
            pr->n, total * 1e3, total > 0 ? flops / total * 1e-9 : 0.0, threads, threads == 1 ? "" : "s");
    fprintf(stderr, "  %10s %6s %7s %9s %7s %8s %9s  %s\n", "ms", "%", "calls", "median ms", "GF/s", "extent",
            "MFLOP", "kernel");
    for (int i = 0; i < pr->n; i++) {
        const Entry *e = &pr->e[idx[i]];
        if (!e->calls)
            continue;
        double med = median(e), per = e->flops / (double)e->calls;
        fprintf(stderr, "  %10.3f %6.2f %7lld %9.4f %7.2f %8lld %9.2f  %s\n", e->seconds * 1e3,
                total > 0 ? 100 * e->seconds / total : 0.0, (long long)e->calls, med * 1e3,
                med > 0 ? per / med * 1e-9 : 0.0, (long long)e->extent, per * 1e-6, p->kernels[idx[i]].label);
    }
    free(idx);
}

static void write_samples(const RtProfile *pr, const RtPlan *p, int threads, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "vitrt: VIT_PROFILE: cannot write '%s'\n", path);
        return;
    }
    fprintf(f, "# vitrt profile 1\nmodel %s\nthreads %d\n", p->name, threads);
    for (int k = 0; k < pr->n; k++) {
        const Entry *e = &pr->e[k];
        fprintf(f, "kernel %d %d %lld %lld %.17g %d %s\n", k, p->kernels[k].once, (long long)e->calls,
                (long long)e->extent, e->calls ? e->flops / (double)e->calls : 0.0, p->kernels[k].kind,
                p->kernels[k].label);
        fprintf(f, "samples %d", k);
        for (int s = 0; s < e->nsamples; s++)
            fprintf(f, " %.9g", e->samples[s]);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        fprintf(stderr, "vitrt: VIT_PROFILE: cannot write '%s'\n", path);
}

void rt_profile_print(const RtProfile *pr, const RtPlan *p, int threads)
{
    const char *to = getenv("VIT_PROFILE"); /* read at vit_open too: it made the profile */
    if (to && *to && strcmp(to, "1") != 0 && strcmp(to, "0") != 0)
        write_samples(pr, p, threads, to);
    else
        print_table(pr, p, threads);
}

void rt_profile_free(RtProfile *pr)
{
    if (!pr)
        return;
    for (int k = 0; k < pr->n; k++)
        free(pr->e[k].samples);
    free(pr);
}
