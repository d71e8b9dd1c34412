/* peak.c — the machine's fp32 FMA peak, the 100% that every bench result is divided by.
 *
 *   peak THREADS RUNS      prints: peak <isa> <threads> <median GFLOP/s> <min> <max>
 *
 * Each thread is pinned to its own CPU (the i-th of the process's affinity mask) and runs
 * fma.h's loop of independent FMA chains on the widest vectors the CPU has (AVX-512: 16
 * floats per zmm; else AVX2: 8 per ymm), enough to cover the FMA latency on every pipe.
 * One run is ITERS iterations on every thread at once; its GFLOP/s count 2 FLOP per lane
 * per FMA.
 */
#ifndef _GNU_SOURCE /* (the Makefile defines it) */
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fma.h"
#include "timing.h"

#define ITERS 100000000L

static int use_zmm;
static int cpus[256];
static pthread_barrier_t barrier;
static volatile float sink;

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[id], &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    pthread_barrier_wait(&barrier);
    sink = use_zmm ? fma_zmm(ITERS) : fma_ymm(ITERS);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, runs = argc > 2 ? atoi(argv[2]) : 7;
    if (argc > 3)
        use_zmm = argv[3][0] == 'z';
    else
        use_zmm = __builtin_cpu_supports("avx512f");
    cpu_set_t mask;
    sched_getaffinity(0, sizeof mask, &mask);
    int ncpu = 0;
    for (int c = 0; c < CPU_SETSIZE && ncpu < 256; c++)
        if (CPU_ISSET(c, &mask))
            cpus[ncpu++] = c;
    if (threads < 1 || threads > ncpu || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: peak THREADS(1..%d) RUNS [zmm|ymm]\n", ncpu);
        return 2;
    }
    double flop = (double)threads * ITERS * (use_zmm ? CHAINS * 16 : YCHAINS * 8) * 2.0;
    double *g = malloc(sizeof *g * (size_t)runs);
    pthread_t t[256];
    for (int r = -1; r < runs; r++) { /* run -1 warms up (and lets the clock settle) */
        pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
        for (int i = 0; i < threads; i++)
            pthread_create(&t[i], NULL, worker, (void *)(long)i);
        pthread_barrier_wait(&barrier);
        double t0 = now_s();
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        double dt = now_s() - t0;
        pthread_barrier_destroy(&barrier);
        if (r >= 0)
            g[r] = flop / dt * 1e-9;
    }
    qsort(g, (size_t)runs, sizeof *g, cmp_double);
    printf("peak %s %d %.1f %.1f %.1f\n", use_zmm ? "avx512" : "avx2", threads, g[runs / 2], g[0], g[runs - 1]);
    free(g);
    return 0;
}
