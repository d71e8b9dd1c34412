/* gemm_peers.c — the GEMMs of ViT-B/16 in OpenBLAS (cblas_sgemm) and oneDNN (dnnl_sgemm).
 *
 *   gemm_peers openblas|dnnl THREADS RUNS M,K,N [M,K,N ...]
 *
 * Each shape computes C[M,N] = A[M,K] · Wᵀ with W stored [N,K] row-major, as timm stores a
 * Linear (and as vitc's one-matmul models read it), fp32, alpha 1, beta 0. Prints one line
 * per shape:
 *
 *   gemm LIB THREADS M K N MEDIAN_MS MIN_MS MAX_MS GFLOPS maxrel=E
 *
 * GFLOP/s = 2·M·N·K / median. maxrel is the largest relative error of 64 entries against a
 * double-precision dot product (a wrong library configuration shows here, not as a speed).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <dnnl.h>

#include "timing.h"

/* OpenBLAS's own entry points (not in every cblas.h). */
void openblas_set_num_threads(int);
char *openblas_get_corename(void);
char *openblas_get_config(void);

typedef struct {
    int dnnl, m, k, n;
    const float *a, *w;
    float *c;
} Gemm;

static int call(void *arg)
{
    const Gemm *g = arg;
    if (g->dnnl)
        return dnnl_sgemm('N', 'T', g->m, g->n, g->k, 1.0f, g->a, g->k, g->w, g->k, 0.0f, g->c, g->n) !=
               dnnl_success;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->m, g->n, g->k, 1.0f, g->a, g->k, g->w, g->k, 0.0f,
                g->c, g->n);
    return 0;
}

static double check(const Gemm *g)
{
    unsigned long long st = 7;
    double worst = 0;
    for (int t = 0; t < 64; t++) {
        int i = (int)((st = st * 6364136223846793005ULL + 1) >> 33) % g->m;
        int j = (int)((st = st * 6364136223846793005ULL + 1) >> 33) % g->n;
        double want = 0, mag = 0;
        for (int p = 0; p < g->k; p++) {
            want += (double)g->a[(size_t)i * g->k + p] * g->w[(size_t)j * g->k + p];
            mag += fabs((double)g->a[(size_t)i * g->k + p] * g->w[(size_t)j * g->k + p]);
        }
        double e = fabs(g->c[(size_t)i * g->n + j] - want) / (mag > 0 ? mag : 1);
        worst = e > worst ? e : worst;
    }
    return worst;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "openblas") && strcmp(argv[1], "dnnl"))) {
        fprintf(stderr, "usage: gemm_peers openblas|dnnl THREADS RUNS M,K,N [M,K,N ...]\n");
        return 2;
    }
    int dnnl = !strcmp(argv[1], "dnnl"), threads = atoi(argv[2]), runs = atoi(argv[3]);
    if (threads < 1 || runs < 1)
        return 2;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    if (dnnl) {
        const dnnl_version_t *v = dnnl_version();
        printf("# oneDNN %d.%d.%d (%s), cpu runtime %s\n", v->major, v->minor, v->patch, v->hash,
               v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    } else {
        printf("# OpenBLAS core %s, %s\n", openblas_get_corename(), openblas_get_config());
    }
    for (int s = 4; s < argc; s++) {
        Gemm g = {dnnl, 0, 0, 0, NULL, NULL, NULL};
        if (sscanf(argv[s], "%d,%d,%d", &g.m, &g.k, &g.n) != 3 || g.m < 1 || g.k < 1 || g.n < 1) {
            fprintf(stderr, "gemm_peers: bad shape '%s' (want M,K,N)\n", argv[s]);
            return 2;
        }
        float *a = malloc(sizeof *a * (size_t)g.m * g.k), *w = malloc(sizeof *w * (size_t)g.n * g.k);
        g.c = malloc(sizeof *g.c * (size_t)g.m * g.n);
        if (!a || !w || !g.c)
            return 1;
        unsigned long long st = 1;
        for (size_t i = 0; i < (size_t)g.m * g.k; i++)
            a[i] = rand_unit(&st);
        for (size_t i = 0; i < (size_t)g.n * g.k; i++)
            w[i] = 0.02f * rand_unit(&st);
        memset(g.c, 0, sizeof *g.c * (size_t)g.m * g.n);
        g.a = a;
        g.w = w;
        Timing t;
        if (time_calls(call, &g, runs, &t) != 0) {
            fprintf(stderr, "gemm_peers: %s failed on %s\n", argv[1], argv[s]);
            return 1;
        }
        double flop = 2.0 * g.m * g.n * g.k;
        printf("gemm %s %d %d %d %d %.3f %.3f %.3f %.1f maxrel=%.1e\n", argv[1], threads, g.m, g.k, g.n,
               t.median * 1e3, t.min * 1e3, t.max * 1e3, flop / t.median * 1e-9, check(&g));
        fflush(stdout);
        free(a);
        free(w);
        free(g.c);
    }
    return 0;
}
