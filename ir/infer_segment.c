/* infer_segment.c — segment_reduce: the pooling of a packed sequence per segment.
 *
 *   segment_reduce(x, seg) {segments = S, reduce = sum | mean | max}
 *
 *   x    [T, ...]  float, rank ≥ 2 the rows of a packed sequence (NaViT, docs/NAVIT.md)
 *   seg  i32 [T]                  the segment (image) of each row, -1 on padding
 *   out  [S, ...]  of x's dtype   out[s, ...] = the sum, mean or max over the rows t with
 *                                 seg[t] = s; 0 when there is none
 *
 * Rows whose seg is outside [0, S) (padding) are never read: nothing of them (NaN
 * included) reaches the result. Sums are exact then rounded once in the interpreter
 * (interp_segment.c), in f32 in the kernels. The pass packing-mask-elimination makes it
 * from the masked mean `(m @ x) / Σ_t m` with m = (seg[None, :] == iota(S)[:, None]).
 */
#include <inttypes.h>

#include "ir.h"
#include "ir_internal.h"

#define FAIL(...)                                  \
    do {                                           \
        snprintf(err, errlen, __VA_ARGS__);        \
        return false;                              \
    } while (0)

bool infer_segment_reduce(const Graph *g, const Node *n, Type *out, char *err, size_t errlen)
{
    const SegredAttr *a = &n->attr.segred;
    const Type *x = ir_type(g, n->in[0]), *seg = ir_type(g, n->in[1]);
    char xs[256], ss[256];
    ir_format_shape(g, &x->shape, xs, sizeof xs);
    ir_format_shape(g, &seg->shape, ss, sizeof ss);
    if (a->reduce < 0 || a->reduce >= SEGRED_COUNT)
        FAIL("'segment_reduce': invalid reduction %d", a->reduce);
    if (a->segments < 1 || a->segments > ((int64_t)1 << 32))
        FAIL("'segment_reduce' needs segments ≥ 1, got %" PRId64, a->segments);
    if (!dtype_is_float(x->dt))
        FAIL("'segment_reduce' needs float rows, got %s", dtype_name(x->dt));
    if (x->shape.rank < 2)
        FAIL("'segment_reduce' needs x of rank 2 or more (rows of values), got x %s", xs);
    if (seg->dt != DT_I32 || seg->shape.rank != 1 || !dim_eq(seg->shape.d[0], x->shape.d[0]))
        FAIL("'segment_reduce' needs segment ids i32[T] for the rows of x: x %s, seg %s %s", xs,
             dtype_name(seg->dt), ss);
    out[0] = *x;
    out[0].shape.d[0] = dim_const(a->segments);
    return true;
}
