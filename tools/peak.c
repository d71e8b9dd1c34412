/* peak.c — the machine's measured FMA peak (`vitc bench` reports every kernel as a share
 * of it).
 *
 * Each thread runs a loop of independent fused multiply-add chains on the widest vectors
 * the host has (AVX-512: 24 zmm chains; AVX2+FMA: 12 ymm chains; aarch64: 24 NEON chains;
 * otherwise plain C that the compiler vectorises as it can). 12 or more chains cover the
 * FMA latency (4 cycles) times the FMA pipes (2) on every current x86 core, so the loop
 * runs at the FMA units' throughput. The ISA is chosen at run time from the CPU
 * (__builtin_cpu_supports), not at build time: the tool is built for baseline x86-64.
 * T threads run the loop at once, started together; the result is the total FLOP over the
 * slowest thread's time (2 FLOP per lane per FMA), the best of a few trials. On a shared
 * machine the OS gives part of that time to others: tool_fma_peak_cpu is the same loop on
 * one thread counted per second of its own CPU time (what the core does when it runs us).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

enum { PEAK_ITERS = 1 << 22, PEAK_TRIALS = 5 };

static double clock_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx512f"))) static double loop_avx512(int64_t iters)
{
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)(i)), b##i = _mm512_set1_ps((float)(i) + 0.5f);
    CHAINS(DECL)
#undef DECL
    for (int64_t n = 0; n < iters; n++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c); b##i = _mm512_fmadd_ps(b##i, m, c);
        CHAINS(STEP)
#undef STEP
        __asm__ volatile("" ::: "memory");
    }
    __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, _mm512_add_ps(a##i, b##i));
    CHAINS(SUM)
#undef SUM
    float out[16];
    _mm512_storeu_ps(out, s);
    return (double)out[0];
}

__attribute__((target("avx2,fma"))) static double loop_avx2(int64_t iters)
{
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)(i));
    CHAINS(DECL)
#undef DECL
    for (int64_t n = 0; n < iters; n++) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
        CHAINS(STEP)
#undef STEP
        __asm__ volatile("" ::: "memory");
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, a##i);
    CHAINS(SUM)
#undef SUM
    float out[8];
    _mm256_storeu_ps(out, s);
    return (double)out[0];
}
#undef CHAINS
#endif

/* Portable fallback: 12 chains of 4 lanes the compiler may vectorise (no FMA promised). */
static double loop_generic(int64_t iters)
{
    float a[12][4];
    for (int i = 0; i < 12; i++)
        for (int l = 0; l < 4; l++)
            a[i][l] = (float)(i + l);
    for (int64_t n = 0; n < iters; n++) {
        for (int i = 0; i < 12; i++)
            for (int l = 0; l < 4; l++)
                a[i][l] = a[i][l] * 0.999999f + 1e-7f;
        __asm__ volatile("" ::: "memory");
    }
    return (double)a[0][0];
}

typedef struct {
    int isa; /* 2: AVX-512, 1: AVX2+FMA, 0: generic */
    atomic_int *ready;
    int nthreads;
    double seconds, cpu;
    volatile double sink;
} PeakJob;

static int64_t lanes_per_iter(int isa) { return isa == 2 ? 24 * 16 : isa == 1 ? 12 * 8 : 12 * 4; }

static void *peak_thread(void *arg)
{
    PeakJob *j = arg;
    atomic_fetch_add(j->ready, 1);
    while (atomic_load(j->ready) < j->nthreads)
        ; /* start together */
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), s;
#if defined(__x86_64__) && defined(__GNUC__)
    if (j->isa == 2)
        s = loop_avx512(PEAK_ITERS);
    else if (j->isa == 1)
        s = loop_avx2(PEAK_ITERS);
    else
#endif
        s = loop_generic(PEAK_ITERS / 4);
    j->seconds = clock_s(CLOCK_MONOTONIC) - t0;
    j->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    j->sink = s;
    return NULL;
}

static int host_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
#endif
    return 0;
}

const char *tool_fma_isa(void)
{
    static const char *const names[] = {"generic C (4 lanes)", "AVX2+FMA (ymm, 12 chains)",
                                        "AVX-512 (zmm, 24 chains)"};
    return names[host_isa()];
}

double tool_fma_peak_cpu(void)
{
    int isa = host_isa();
    int64_t iters = isa == 0 ? PEAK_ITERS / 4 : PEAK_ITERS;
    double best = 0;
    for (int trial = 0; trial < PEAK_TRIALS; trial++) {
        atomic_int ready;
        atomic_init(&ready, 0);
        PeakJob j = {.isa = isa, .ready = &ready, .nthreads = 1};
        peak_thread(&j);
        double flops = (double)iters * (double)lanes_per_iter(isa) * 2;
        if (j.cpu > 0 && flops / j.cpu > best)
            best = flops / j.cpu;
    }
    return best;
}

double tool_fma_peak(int threads)
{
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        threads = 256;
    int isa = host_isa();
    int64_t iters = isa == 0 ? PEAK_ITERS / 4 : PEAK_ITERS;
    double best = 0;
    for (int trial = 0; trial < PEAK_TRIALS; trial++) {
        atomic_int ready;
        atomic_init(&ready, 0);
        PeakJob jobs[256];
        pthread_t tid[256];
        int started = 0;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (PeakJob){.isa = isa, .ready = &ready, .nthreads = threads};
            if (t > 0 && pthread_create(&tid[t], NULL, peak_thread, &jobs[t]) != 0)
                break;
            started++;
        }
        if (started < threads) { /* could not start them all: count what ran */
            for (int t = 1; t < started; t++)
                pthread_join(tid[t], NULL);
            return best;
        }
        peak_thread(&jobs[0]);
        double slowest = jobs[0].seconds;
        for (int t = 1; t < threads; t++) {
            pthread_join(tid[t], NULL);
            if (jobs[t].seconds > slowest)
                slowest = jobs[t].seconds;
        }
        double flops = (double)threads * (double)iters * (double)lanes_per_iter(isa) * 2;
        if (slowest > 0 && flops / slowest > best)
            best = flops / slowest;
    }
    return best;
}
