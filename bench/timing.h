/* timing.h — the one timing rule every C harness of bench/ follows.
 *
 * A sample is the mean time of k calls, k chosen after one warm-up call so that a sample
 * lasts at least MIN_SAMPLE_S (one call for anything slower); the result is the median
 * of `runs` samples with the smallest and largest as the spread.
 */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

#define MIN_SAMPLE_S 0.05

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median, min, max; /* seconds per call */
    int calls;               /* calls per sample */
} Timing;

/* Times fn(arg) (0 on success) as above; -1 if a call fails. */
static inline int time_calls(int (*fn)(void *), void *arg, int runs, Timing *t)
{
    double t0 = now_s();
    if (fn(arg) != 0)
        return -1;
    double warm = now_s() - t0;
    int k = warm >= MIN_SAMPLE_S ? 1 : (int)(MIN_SAMPLE_S / (warm > 1e-6 ? warm : 1e-6)) + 1;
    double *s = malloc(sizeof *s * (size_t)runs);
    if (!s)
        return -1;
    for (int r = 0; r < runs; r++) {
        t0 = now_s();
        for (int i = 0; i < k; i++)
            if (fn(arg) != 0) {
                free(s);
                return -1;
            }
        s[r] = (now_s() - t0) / k;
    }
    qsort(s, (size_t)runs, sizeof *s, cmp_double);
    t->median = runs % 2 ? s[runs / 2] : 0.5 * (s[runs / 2 - 1] + s[runs / 2]);
    t->min = s[0];
    t->max = s[runs - 1];
    t->calls = k;
    free(s);
    return 0;
}

/* A reproducible uniform float in [-1, 1). */
static inline float rand_unit(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

#endif
