/* interp_segment.c — segment_reduce(x, seg; segments, reduce), naively: for each segment
 * s, the rows t with seg[t] = s, summed (or maxed) in double, rounded once. The semantics
 * are written atop ir/infer_segment.c. */
#include <math.h>

#include "interp_internal.h"

bool interp_segment_reduce(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *seg = in[1];
    int64_t S = out->dims[0], T = x->dims[0], D = T ? x->numel / T : 0;
    int kind = n->attr.segred.reduce;
    double *acc = ir_malloc((size_t)(D ? D : 1) * sizeof *acc);
    if (!acc)
        return interp_fail(c, n, "out of memory");
    for (int64_t s = 0; s < S; s++) {
        int64_t count = 0;
        for (int64_t d = 0; d < D; d++)
            acc[d] = kind == SEGRED_MAX ? -INFINITY : 0;
        for (int64_t t = 0; t < T; t++) {
            if (seg->i[t] != s)
                continue;
            count++;
            for (int64_t d = 0; d < D; d++) {
                double v = (double)x->f[t * D + d];
                acc[d] = kind != SEGRED_MAX ? acc[d] + v : v != v || acc[d] != acc[d] ? NAN : v > acc[d] ? v : acc[d];
            }
        }
        for (int64_t d = 0; d < D; d++) {
            double v = count == 0 ? 0 : kind == SEGRED_MEAN ? acc[d] / (double)count : acc[d];
            out->f[s * D + d] = (float)dtype_round(out->dt, v);
        }
    }
    ir_free(acc);
    return true;
}
