/* fma.h — the FMA loops whose speed is the machine's peak (peak.c) and the 100% that
 * ukernel.c measures the GEMM micro-kernel against: CHAINS independent chains of fused
 * multiply-adds on the widest vectors (AVX-512: 16 zmm; AVX2: 12 ymm, the 16 registers
 * holding them and the two operands), enough to cover the FMA latency on every pipe;
 * 2 FLOP per lane per FMA. Each returns a sum of the chains (a result nothing can drop).
 * Never inlined, so that every caller times the same code (`unused`: a file may use one).
 */
#ifndef BENCH_FMA_H
#define BENCH_FMA_H

#include <immintrin.h>

#define CHAINS 16
__attribute__((target("avx512f"), noinline, unused)) static float fma_zmm(long iters)
{
    __m512 c[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++)
        c[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++)
            c[i] = _mm512_fmadd_ps(c[i], a, b);
    float s = 0;
    for (int i = 0; i < CHAINS; i++)
        s += _mm512_reduce_add_ps(c[i]);
    return s;
}

#define YCHAINS 12 /* 16 ymm registers: 12 chains and the two operands */
__attribute__((target("avx2,fma"), noinline, unused)) static float fma_ymm(long iters)
{
    __m256 c[YCHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < YCHAINS; i++)
        c[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 16
        for (int i = 0; i < YCHAINS; i++)
            c[i] = _mm256_fmadd_ps(c[i], a, b);
    float s[8], t = 0;
    for (int i = 0; i < YCHAINS; i++) {
        _mm256_storeu_ps(s, c[i]);
        for (int j = 0; j < 8; j++)
            t += s[j];
    }
    return t;
}

#endif
