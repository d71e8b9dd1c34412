/* interp_attention.c — attention(q, k, v[, mask]; scale, mask), naively (the semantics
 * are written atop ir/infer_attention.c and in docs/ATTENTION.md; segment and slot masks:
 * docs/NAVIT.md).
 *
 * Per batch index and query: the Nk logits in double (scale · Σ_d q·k, then the mask),
 * their max, e^(s − max) and its sum, p = e/Σ, out = Σ_j p_j·v_j in double, rounded once.
 * Operands are read in place through broadcast strides (0 along a broadcast axis).
 */
#include <float.h>
#include <math.h>

#include "interp_internal.h"

/* The most negative finite value of a float dtype (Flax's masked logit). */
static double finfo_min(DType dt)
{
    switch (dt) {
    case DT_F16: return -65504.0;
    case DT_BF16: return -3.3895313892515355e38;
    default: return -FLT_MAX;
    }
}

/* Strides of t broadcast (numpy, right-aligned) to rank r: 0 where t has no axis or a 1. */
static void bstrides(const Tensor *t, int r, int64_t *s)
{
    int64_t own[IR_MAX_RANK];
    interp_strides(t, own);
    for (int d = 0; d < r; d++) {
        int od = t->rank - r + d;
        s[d] = od >= 0 && t->dims[od] != 1 ? own[od] : 0;
    }
}

bool interp_attention(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    const Tensor *q = in[0], *k = in[1], *v = in[2], *m = n->nin > 3 ? in[3] : NULL;
    int mk = n->attr.attn.mask;
    double scale = n->attr.attn.scale, fill = finfo_min(q->dt);
    int r = out->rank;
    int64_t Nq = out->dims[r - 2], Dv = out->dims[r - 1], Dh = q->dims[q->rank - 1], Nk = k->dims[k->rank - 2];
    int64_t sq[IR_MAX_RANK], sk[IR_MAX_RANK], sv[IR_MAX_RANK], sm[IR_MAX_RANK] = {0};
    bstrides(q, r, sq);
    bstrides(k, r, sk);
    bstrides(v, r, sv);
    bool segmented = mk == MASK_SEGMENT || mk == MASK_SLOT; /* m: seg i32 [Nk], skipped keys */
    if (m && !segmented)
        bstrides(m, r, sm);
    if (out->numel == 0)
        return true;
    double *s = ir_malloc((size_t)(Nk ? Nk : 1) * sizeof *s);
    double *acc = ir_malloc((size_t)(Dv ? Dv : 1) * sizeof *acc);
    if (!s || !acc) {
        ir_free(s);
        ir_free(acc);
        return interp_fail(c, n, "out of memory");
    }
    int64_t batches = out->numel / (Nq * Dv), idx[IR_MAX_RANK] = {0};
    for (int64_t b = 0; b < batches; b++) {
        /* the batch index: row-major over the leading r-2 axes */
        int64_t rest = b, oq = 0, ok = 0, ov = 0, om = 0;
        for (int d = r - 3; d >= 0; d--) {
            idx[d] = rest % out->dims[d];
            rest /= out->dims[d];
            oq += idx[d] * sq[d];
            ok += idx[d] * sk[d];
            ov += idx[d] * sv[d];
            om += idx[d] * sm[d];
        }
        for (int64_t i = 0; i < Nq; i++) {
            double mx = -INFINITY, sum = 0;
            int64_t seen = 0;
            for (int64_t j = 0; j < Nk; j++) {
                if (segmented) {
                    int64_t sj = m->i[j], want = mk == MASK_SLOT ? i : m->i[i];
                    if (sj != want || sj < 0) {
                        s[j] = NAN; /* skipped: not a logit */
                        continue;
                    }
                    seen++;
                }
                double dot = 0;
                for (int64_t d = 0; d < Dh; d++)
                    dot += (double)q->f[oq + i * sq[r - 2] + d * sq[r - 1]] *
                           (double)k->f[ok + j * sk[r - 2] + d * sk[r - 1]];
                double x = scale * dot;
                int64_t mo = om + i * sm[r - 2] + j * sm[r - 1];
                if (mk == MASK_KEEP && !m->i[mo])
                    x = fill;
                else if (mk == MASK_ADD)
                    x += (double)m->f[mo];
                s[j] = x;
                mx = x != x ? NAN : x > mx ? x : mx;
            }
            for (int64_t cc = 0; cc < Dv; cc++)
                acc[cc] = 0;
            if (segmented && !seen) { /* padding query, empty slot: 0 */
                for (int64_t cc = 0; cc < Dv; cc++)
                    out->f[(b * Nq + i) * Dv + cc] = 0;
                continue;
            }
            for (int64_t j = 0; j < Nk; j++)
                if (!segmented || m->i[j] == (mk == MASK_SLOT ? i : m->i[i]))
                    sum += exp(s[j] - mx);
            for (int64_t j = 0; j < Nk; j++) {
                if (segmented && m->i[j] != (mk == MASK_SLOT ? i : m->i[i]))
                    continue;
                double p = exp(s[j] - mx) / sum;
                for (int64_t cc = 0; cc < Dv; cc++)
                    acc[cc] += p * (double)v->f[ov + j * sv[r - 2] + cc * sv[r - 1]];
            }
            for (int64_t cc = 0; cc < Dv; cc++)
                out->f[(b * Nq + i) * Dv + cc] = (float)dtype_round(out->dt, acc[cc]);
        }
    }
    ir_free(s);
    ir_free(acc);
    return true;
}
