/* ukernel.c — the ceiling of vitc's AVX-512 GEMM micro-kernel loop on this machine, as a
 * share of the FMA loop that every bench result is divided by (peak.c).
 *
 *   ukernel RUNS      prints: ukernel WHERE K MEDIAN MIN MAX   (% of the FMA loop)
 *
 * The loop is the k loop that vitc generates for a 14 × 32 micro-tile (llvm_gemm.c; its
 * assembly in docs/PERFORMANCE.md), written here in assembly so that no compiler choice
 * enters: per k, 2 loads of a B panel row (32 floats), 14 broadcasts of A, 28 FMAs into 28
 * zmm accumulators, then the pointers and the counter. A is packed (14 floats per k, the
 * broadcasts at fixed offsets), so this is the loop alone, without vitc's tiles, epilogue,
 * prefetches or A's row layout: what no GEMM built on this micro-tile can exceed.
 * WHERE: "l1" (K = 128: B 16 KiB and A 7 KiB, both in L1), "l2" (K = 3072: B 384 KiB and
 * A 168 KiB, streamed from L2 as in ViT-B/16's fc2). Each run times the FMA loop (fma.h, as
 * peak.c) and then each placement for ~0.06 s on the calling thread (pin it: taskset),
 * and takes their ratio; the result is the median over the runs, with the smallest and
 * largest. Without AVX-512 it prints a comment line and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fma.h"
#include "timing.h"

#define FMA_ITERS 30000000L /* ~0.07 s at 230 GFLOP/s */
#define UK_FLOP 1.2e10 /* per placement and run: ~0.06 s at 200 GFLOP/s */

/* Row i of the micro-tile: broadcast A[k][i], two FMAs into zmm(2i+1), zmm(2i+2). */
#define ROW(i, x, y)                                                                                 \
    "vbroadcastss " #i "*4(%[a]), %%zmm0\n\t"                                                         \
    "vfmadd231ps %%zmm30, %%zmm0, %%zmm" #x "\n\t"                                                    \
    "vfmadd231ps %%zmm31, %%zmm0, %%zmm" #y "\n\t"

/* K steps of the 14 × 32 micro-tile over packed A (14 floats per k) and a B panel (32 per
 * k), `reps` times; the sums stay in registers (nothing reads them). */
__attribute__((target("avx512f"), noinline)) static void micro_kernel(const float *A, const float *B, long K,
                                                                       long reps)
{
    for (long r = 0; r < reps; r++) {
        const float *a = A, *b = B;
        long k = K;
        __asm__ volatile("1:\n\t"
                         "vmovups (%[b]), %%zmm30\n\t"
                         "vmovups 64(%[b]), %%zmm31\n\t"
                         ROW(0, 1, 2) ROW(1, 3, 4) ROW(2, 5, 6) ROW(3, 7, 8) ROW(4, 9, 10) ROW(5, 11, 12)
                         ROW(6, 13, 14) ROW(7, 15, 16) ROW(8, 17, 18) ROW(9, 19, 20) ROW(10, 21, 22)
                         ROW(11, 23, 24) ROW(12, 25, 26) ROW(13, 27, 28)
                         "add $56, %[a]\n\t"
                         "sub $-128, %[b]\n\t"
                         "dec %[k]\n\t"
                         "jnz 1b\n\t"
                         : [a] "+r"(a), [b] "+r"(b), [k] "+r"(k)
                         :
                         : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                           "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",
                           "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",
                           "xmm30", "xmm31");
    }
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    if (runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: ukernel RUNS(1..1000)\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx512f")) {
        printf("# ukernel: no AVX-512 on this CPU (vitc's 14 x 32 micro-tile is AVX-512's)\n");
        return 0;
    }
    static const struct {
        const char *where;
        long k;
    } place[] = {{"l1", 128}, {"l2", 3072}};
    enum { NPLACE = sizeof place / sizeof place[0] };
    double *share = malloc(sizeof *share * (size_t)runs * NPLACE);
    float *A = aligned_alloc(64, sizeof(float) * 14 * 3072), *B = aligned_alloc(64, sizeof(float) * 32 * 3072);
    if (!share || !A || !B) {
        fprintf(stderr, "ukernel: out of memory\n");
        return 1;
    }
    for (long i = 0; i < 14 * 3072; i++)
        A[i] = 1e-3f * (float)(i % 7);
    for (long i = 0; i < 32 * 3072; i++)
        B[i] = 1e-3f * (float)(i % 5);
    volatile float sink = 0;
    for (int r = -1; r < runs; r++) { /* run -1 warms up */
        double t0 = now_s();
        sink += fma_zmm(FMA_ITERS);
        double peak = (double)FMA_ITERS * CHAINS * 16 * 2 / (now_s() - t0);
        for (int p = 0; p < NPLACE; p++) {
            long reps = (long)(UK_FLOP / (28.0 * 16 * 2 * (double)place[p].k));
            t0 = now_s();
            micro_kernel(A, B, place[p].k, reps);
            double flops = (double)reps * (double)place[p].k * 28 * 16 * 2 / (now_s() - t0);
            if (r >= 0)
                share[p * runs + r] = 100 * flops / peak;
        }
    }
    for (int p = 0; p < NPLACE; p++) {
        double *s = share + p * runs;
        qsort(s, (size_t)runs, sizeof *s, cmp_double);
        printf("ukernel %s %ld %.1f %.1f %.1f\n", place[p].where, place[p].k, s[runs / 2], s[0], s[runs - 1]);
    }
    free(share);
    free(A);
    free(B);
    return 0;
}
