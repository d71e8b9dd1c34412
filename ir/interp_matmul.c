/* interp_matmul.c — matmul(a, b; transpose_a, transpose_b).
 *
 * a is [..., M, K] ([..., K, M] with transpose_a), b is [..., K, N] ([..., N, K] with
 * transpose_b); the leading (batch) dimensions broadcast as in numpy. For each batch
 * index, out[m, n] = Σ_k a[m, k]·b[k, n], summed in double in increasing k and rounded
 * once to the result dtype; integers sum exactly, wrapping to the dtype's width.
 *
 * Each batch's operands are first copied into row-major M×K and K×N buffers, so the
 * inner loop runs over contiguous memory; the order of the sum is unchanged.
 */
#include <string.h>

#include "interp_internal.h"

/* Offsets of the batch slices of a and b for batch index `bi` of the result. */
static void batch_offsets(const Tensor *a, const Tensor *b, const Tensor *out, int64_t bi, int64_t *oa,
                          int64_t *ob)
{
    int nb = out->rank - 2;
    int64_t sa = a->dims[a->rank - 1] * a->dims[a->rank - 2], sb = b->dims[b->rank - 1] * b->dims[b->rank - 2];
    *oa = *ob = 0;
    /* walk the batch dims from the last; each operand's own batch dims align right */
    for (int d = nb - 1; d >= 0; d--) {
        int64_t i = bi % out->dims[d];
        bi /= out->dims[d];
        int da = (a->rank - 2) - nb + d, db = (b->rank - 2) - nb + d;
        if (da >= 0) {
            *oa += (a->dims[da] == 1 ? 0 : i) * sa;
            sa *= a->dims[da];
        }
        if (db >= 0) {
            *ob += (b->dims[db] == 1 ? 0 : i) * sb;
            sb *= b->dims[db];
        }
    }
}

bool interp_matmul(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *a = in[0], *b = in[1];
    bool ta = n->attr.matmul.transpose_a, tb = n->attr.matmul.transpose_b;
    int64_t M = out->dims[out->rank - 2], N = out->dims[out->rank - 1];
    int64_t K = a->dims[a->rank - (ta ? 2 : 1)];
    if (out->numel == 0)
        return true; /* and otherwise M·K and K·N are at most the operands' sizes */
    int64_t batches = out->numel / (M * N);
    bool isf = out->f != NULL;
    size_t elem = isf ? sizeof(double) : sizeof(uint64_t);
    /* row-major copies: A[m*K + k], B[k*N + j]; one accumulator row */
    void *A = ir_malloc((size_t)(M * K + 1) * elem);
    void *B = ir_malloc((size_t)(K * N + 1) * elem);
    void *acc = ir_malloc((size_t)N * elem);
    if (!A || !B || !acc) {
        ir_free(A);
        ir_free(B);
        ir_free(acc);
        return interp_fail(c, n, "out of memory");
    }
    double *Af = A, *Bf = B, *accf = acc;
    uint64_t *Ai = A, *Bi = B, *acci = acc;
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa, ob;
        batch_offsets(a, b, out, bi, &oa, &ob);
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < K; k++) {
                int64_t src = oa + (ta ? k * M + m : m * K + k);
                if (isf)
                    Af[m * K + k] = a->f[src];
                else
                    Ai[m * K + k] = (uint64_t)a->i[src];
            }
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++) {
                int64_t src = ob + (tb ? j * K + k : k * N + j);
                if (isf)
                    Bf[k * N + j] = b->f[src];
                else
                    Bi[k * N + j] = (uint64_t)b->i[src];
            }
        for (int64_t m = 0; m < M; m++) {
            memset(acc, 0, (size_t)N * elem);
            for (int64_t k = 0; k < K; k++) {
                if (isf) {
                    double am = Af[m * K + k];
                    const double *brow = Bf + k * N;
                    for (int64_t j = 0; j < N; j++)
                        accf[j] += am * brow[j];
                } else {
                    uint64_t am = Ai[m * K + k];
                    const uint64_t *brow = Bi + k * N;
                    for (int64_t j = 0; j < N; j++)
                        acci[j] += am * brow[j];
                }
            }
            int64_t o = (bi * M + m) * N;
            for (int64_t j = 0; j < N; j++) {
                if (isf)
                    out->f[o + j] = (float)dtype_round(out->dt, accf[j]);
                else
                    out->i[o + j] = interp_wrap(out->dt, acci[j]);
            }
        }
    }
    ir_free(A);
    ir_free(B);
    ir_free(acc);
    return true;
}
