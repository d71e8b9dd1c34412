/* interp_data.c — data movement. Values are copied unchanged.
 *
 * reshape(x; shape)      the same elements in row-major order under the new shape.
 * broadcast(x; shape)    numpy broadcasting of x to `shape`.
 * transpose(x; perm)     out.dims[i] = x.dims[perm[i]]; out[i0..ir] = x[j] with j[perm[k]] = i_k.
 * slice(x; axis, start, stop, step)
 *                        along `axis`, the elements start, start+step, ... below stop.
 * concat(x0, x1, ...; axis)
 *                        the operands one after another along axis (negative counts
 *                        from the end).
 * take(x, idx; axis)     gather: out[p.., j.., q..] = x[p.., idx[j..], q..] with p the axes
 *                        before `axis` and q those after; an index outside [0, size) (a
 *                        negative one included) is an error naming it.
 */
#include <inttypes.h>
#include <string.h>

#include "interp_internal.h"

bool interp_reshape(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    if (in[0]->numel != out->numel)
        return interp_fail(c, n, "element counts differ");
    if (out->f)
        memcpy(out->f, in[0]->f, (size_t)out->numel * sizeof *out->f);
    else
        memcpy(out->i, in[0]->i, (size_t)out->numel * sizeof *out->i);
    return true;
}

bool interp_broadcast(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    (void)n;
    BIter it;
    biter_init(&it, out, in, 1);
    for (int64_t k = 0; k < out->numel; k++, biter_next(&it))
        interp_copy_elem(out, k, in[0], it.off[0]);
    return true;
}

bool interp_transpose(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    const IntList *p = &n->attr.perm.perm;
    int64_t xs[IR_MAX_RANK];
    interp_strides(in[0], xs);
    /* read x with the strides of its axes in the result's order */
    BIter it;
    biter_init(&it, out, NULL, 0);
    it.nops = 1;
    for (int d = 0; d < out->rank; d++)
        it.stride[0][d] = xs[p->v[d]];
    for (int64_t k = 0; k < out->numel; k++, biter_next(&it))
        interp_copy_elem(out, k, in[0], it.off[0]);
    return true;
}

bool interp_slice(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    const SliceAttr *a = &n->attr.slice;
    int64_t xs[IR_MAX_RANK];
    interp_strides(in[0], xs);
    BIter it;
    biter_init(&it, out, NULL, 0);
    it.nops = 1;
    for (int d = 0; d < out->rank; d++)
        it.stride[0][d] = xs[d] * (d == a->axis ? a->step : 1);
    it.off[0] = a->start * xs[a->axis];
    for (int64_t k = 0; k < out->numel; k++, biter_next(&it))
        interp_copy_elem(out, k, in[0], it.off[0]);
    return true;
}

bool interp_concat(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    int32_t axis;
    axis_norm(n->attr.axis.axis, out->rank, &axis);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= out->dims[d];
    for (int d = axis + 1; d < out->rank; d++)
        inner *= out->dims[d];
    int64_t at = 0; /* where along the axis the current operand starts */
    for (int j = 0; j < n->nin; j++) {
        int64_t len = in[j]->dims[axis];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < len * inner; k++)
                interp_copy_elem(out, (o * out->dims[axis] + at) * inner + k, in[j], o * len * inner + k);
        at += len;
    }
    return true;
}

bool interp_take(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *x = in[0], *idx = in[1];
    int32_t axis;
    axis_norm(n->attr.axis.axis, x->rank, &axis);
    int64_t size = x->dims[axis], outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++)
        inner *= x->dims[d];
    for (int64_t j = 0; j < idx->numel; j++) {
        int64_t v = idx->i[j];
        if (v < 0 || v >= size) {
            char pos[160];
            size_t len = (size_t)snprintf(pos, sizeof pos, "[");
            int64_t rest = j, is[IR_MAX_RANK];
            for (int d = idx->rank - 1; d >= 0; d--) {
                is[d] = rest % idx->dims[d];
                rest /= idx->dims[d];
            }
            for (int d = 0; d < idx->rank && len < sizeof pos; d++)
                len += (size_t)snprintf(pos + len, sizeof pos - len, "%s%" PRId64, d ? "," : "", is[d]);
            if (len < sizeof pos)
                snprintf(pos + len, sizeof pos - len, "]");
            return interp_fail(c, n,
                               "index %" PRId64 " (at %s of the indices) is out of range for axis %d of size %" PRId64,
                               v, pos, axis, size);
        }
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < idx->numel; j++)
            for (int64_t k = 0; k < inner; k++)
                interp_copy_elem(out, (o * idx->numel + j) * inner + k, x, (o * size + idx->i[j]) * inner + k);
    return true;
}
