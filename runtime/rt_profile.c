/* rt_profile.c — per-kernel times, when VIT_PROFILE=1 is set at vit_open.
 *
 * Each kernel's wall time (all threads together) is summed over the model's runs; vit_close
 * prints the kernels by total time on stderr, with the share of the whole and the GFLOP/s
 * of the plan's FLOP estimate, so a slow kernel is found without a profiler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rt_internal.h"

typedef struct {
    double seconds, flops;
    int64_t calls, extent;
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
    if (k < 0 || k >= pr->n)
        return;
    pr->e[k].seconds += seconds;
    pr->e[k].flops += flops;
    pr->e[k].calls++;
    pr->e[k].extent = extent;
}

static const Entry *sort_base;
static int by_time(const void *a, const void *b)
{
    double x = sort_base[*(const int *)a].seconds, y = sort_base[*(const int *)b].seconds;
    return x > y ? -1 : x < y;
}

void rt_profile_print(const RtProfile *pr, const RtPlan *p, int threads)
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
    fprintf(stderr, "  %10s %6s %7s %8s %6s %9s  %s\n", "ms", "%", "calls", "extent", "GF/s", "MFLOP", "kernel");
    for (int i = 0; i < pr->n; i++) {
        const Entry *e = &pr->e[idx[i]];
        if (!e->calls)
            continue;
        fprintf(stderr, "  %10.3f %6.2f %7lld %8lld %6.2f %9.2f  %s\n", e->seconds * 1e3,
                total > 0 ? 100 * e->seconds / total : 0.0, (long long)e->calls, (long long)e->extent,
                e->seconds > 0 ? e->flops / e->seconds * 1e-9 : 0.0, e->flops / (double)e->calls * 1e-6,
                p->kernels[idx[i]].label);
    }
    free(idx);
}

void rt_profile_free(RtProfile *pr) { free(pr); }
