/* plan_pack.c — weight layout: GEMM B operands that are parameters are copied once, at
 * load time, into the panel layout the micro-kernels read (GemmInfo.pack_nr, plan.h).
 *
 * For every GEMM kernel whose B operand is computed from parameters and constants only
 * (its buffer a BUF_PARAM, BUF_CONST or BUF_FOLDED), with constant strides, K and N and f32
 * A: a BUF_FOLDED f32 buffer P is added, written by at most three once-kernels inserted just
 * before the first GEMM that reads it — ordinary elementwise kernels over views.
 *
 * B the same for every batch index (batch strides 0): P is [⌈N/nr⌉, K, nr],
 *
 *   full panels   P[p, k, r] = B[k, p·nr + r]       p < ⌊N/nr⌋  (out [⌊N/nr⌋, K, nr])
 *   last panel    P[⌊N/nr⌋, k, r] = B[k, ⌊N/nr⌋·nr + r]   r < N mod nr   (out [K, N mod nr])
 *   zero padding  P[⌊N/nr⌋, k, r] = 0                      r ≥ N mod nr   (out [K, nr − N mod nr])
 *
 * and the GEMM reads the rank-3 view [⌈N/nr⌉, K, nr] of P. B with a leading batch dim that
 * steps over the weights (the expert GEMMs of a MoE layer, [E, D, H] parameters; any
 * batched weight, whatever op produced it) when PlanOptions.gemm_pack_batched: one panel set
 * per distinct batch index, P = [Π varying batch dims, ⌈N/nr⌉, K, nr], the same three
 * once-kernels with the varying batch dims leading, and the GEMM reads the rank-(r + 1) view
 * [batch dims..., ⌈N/nr⌉, K, nr] of P (stride 0 along the batch dims B broadcasts over).
 *
 * (the B views are B's own strides regrouped: a timm Linear weight (out, in) used as
 * (in, out) is read with stride `in` along r). The GEMM then reads in[b] = P's contiguous
 * view and sets pack_nr. GEMMs reading the same B view share one P. Before:
 *
 *   k7 = gemm -> b15[B,197,2304]       in1 = b13[B,768,2304] strides [0,1,768]   (a param)
 * after:
 *   k7 = elementwise (once) -> b60[72,768,32] strides [24576,32,1]
 *        in0 = b13[72,768,32] strides [24576,1,768]
 *   k8 = gemm -> b15[B,197,2304]  pack_nr=32   in1 = b60[72,768,32] strides [24576,32,1]
 */
#include <string.h>

#include "plan.h"

typedef struct {
    View src;   /* the B view packed (batch dims of stride 0 dropped) */
    int32_t buf; /* its panel buffer */
} Packed;

static bool param_only(const Plan *p, int32_t buf)
{
    BufKind k = p->bufs[buf].kind;
    return k == BUF_PARAM || k == BUF_CONST || k == BUF_FOLDED;
}

static bool packable(const Plan *p, const Kernel *k, bool batched)
{
    if (k->kind != KK_GEMM || k->u.gemm.pack_nr > 0)
        return false;
    const GemmInfo *gi = &k->u.gemm;
    const View *a = &k->in[gi->a], *b = &k->in[gi->b];
    int r = b->rank;
    if (r < 2 || p->bufs[a->buf].dt != DT_F32 || !dtype_is_float(p->bufs[b->buf].dt) || !param_only(p, b->buf))
        return false;
    if (!dim_is_const(gi->k) || !dim_is_const(gi->n) || gi->k.n < 1 || gi->n.n < 1 || !dim_is_const(b->offset))
        return false;
    for (int d = 0; d < r; d++) {
        if (!dim_is_const(b->strides[d]))
            return false;
        /* a batch dim B steps over: one panel set per index, a view of rank r + 1 */
        if (d < r - 2 && b->strides[d].n != 0 &&
            (!batched || r + 1 > IR_MAX_RANK || !dim_is_const(b->dims[d]) || b->dims[d].n < 1))
            return false;
    }
    for (int32_t e = 0; e < k->nexpr; e++) /* the epilogue reads in[b] itself: keep it */
        if (k->expr[e].kind == EX_LOAD && k->expr[e].a == gi->b)
            return false;
    return true;
}

static View view2(int32_t buf, int rank, const int64_t *dims, const int64_t *strides, int64_t offset)
{
    View v;
    memset(&v, 0, sizeof v);
    v.buf = buf;
    v.rank = rank;
    for (int i = 0; i < rank; i++) {
        v.dims[i] = dim_const(dims[i]);
        v.strides[i] = dim_const(strides[i]);
    }
    v.offset = dim_const(offset);
    return v;
}

/* A once elementwise kernel out = in0 (or 0 when `in` is NULL). */
static bool copy_kernel(Plan *p, Kernel *k, int32_t node, const View *out, const View *in, DType dt)
{
    memset(k, 0, sizeof *k);
    k->kind = KK_ELEMENTWISE;
    k->node = node;
    k->out = *out;
    k->once = true;
    k->expr = arena_alloc(p->arena, sizeof *k->expr);
    if (!k->expr)
        return false;
    k->nexpr = 1;
    k->root = 0;
    if (in) {
        k->in = arena_alloc(p->arena, sizeof *k->in);
        if (!k->in)
            return false;
        k->in[0] = *in;
        k->nin = 1;
        k->expr[0] = (Expr){.kind = EX_LOAD, .dt = dt, .a = 0, .b = -1, .c = -1};
    } else {
        k->expr[0] = (Expr){.kind = EX_CONST, .dt = DT_F32, .value = 0, .a = -1, .b = -1, .c = -1};
    }
    return true;
}

static int32_t add_buffer(Plan *p, int32_t *cap, const Buffer *b)
{
    if (p->nbufs == *cap) {
        int32_t ncap = *cap * 2 + 8;
        Buffer *nb = arena_alloc(p->arena, (size_t)ncap * sizeof *nb);
        if (!nb)
            return -1;
        memcpy(nb, p->bufs, (size_t)p->nbufs * sizeof *nb);
        p->bufs = nb;
        *cap = ncap;
    }
    p->bufs[p->nbufs] = *b;
    return p->nbufs++;
}

bool plan_pack(Plan *p, int32_t nr, bool batched, IrError *err)
{
    if (nr <= 0)
        return true;
    int32_t npack = 0;
    for (int32_t i = 0; i < p->nkernels; i++)
        npack += packable(p, &p->kernels[i], batched);
    if (!npack)
        return true;
    Kernel *ks = arena_alloc(p->arena, (size_t)(p->nkernels + 3 * npack) * sizeof *ks);
    Packed *done = arena_alloc(p->arena, (size_t)npack * sizeof *done);
    if (!ks || !done)
        goto oom;
    int32_t nk = 0, ndone = 0, capbufs = p->nbufs; /* the arrays are exactly full: grow on the first add */
    for (int32_t i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        if (!packable(p, k, batched)) {
            ks[nk++] = *k;
            continue;
        }
        GemmInfo *gi = &k->u.gemm;
        const View *b = &k->in[gi->b];
        int r = b->rank;
        int64_t K = gi->k.n, N = gi->n.n, np = (N + nr - 1) / nr, full = N / nr, rem = N % nr;
        int64_t sk = b->strides[r - 2].n, sn = b->strides[r - 1].n, off = b->offset.n;
        /* the batch dims B steps over (nonzero stride): nv of them, `bd` dims, `bs` B's
         * strides, `ps` P's strides (one panel set of np·K·nr floats per batch index) */
        int nv = 0;
        int64_t bd[IR_MAX_RANK], bs[IR_MAX_RANK], ps[IR_MAX_RANK], sets = 1;
        for (int d = 0; d < r - 2; d++)
            if (b->strides[d].n != 0) {
                bd[nv] = b->dims[d].n;
                bs[nv++] = b->strides[d].n;
            }
        for (int d = nv - 1; d >= 0; d--) {
            ps[d] = sets * np * K * nr;
            sets *= bd[d];
        }
        int64_t sd[IR_MAX_RANK], ss[IR_MAX_RANK];
        for (int d = 0; d < nv; d++) {
            sd[d] = bd[d];
            ss[d] = bs[d];
        }
        sd[nv] = K;
        sd[nv + 1] = N;
        ss[nv] = sk;
        ss[nv + 1] = sn;
        View src = view2(b->buf, nv + 2, sd, ss, off);
        int32_t pb = -1;
        for (int32_t j = 0; j < ndone; j++)
            if (memcmp(&done[j].src, &src, sizeof src) == 0)
                pb = done[j].buf;
        if (pb < 0) {
            const Buffer *bb = &p->bufs[b->buf];
            Buffer nbuf = {BUF_FOLDED, DT_F32, {.rank = nv + 3}, bb->value, NULL, -1, -1};
            for (int d = 0; d < nv; d++)
                nbuf.shape.d[d] = dim_const(bd[d]);
            nbuf.shape.d[nv] = dim_const(np);
            nbuf.shape.d[nv + 1] = dim_const(K);
            nbuf.shape.d[nv + 2] = dim_const(nr);
            if ((pb = add_buffer(p, &capbufs, &nbuf)) < 0)
                goto oom;
            done[ndone++] = (Packed){src, pb};
            DType dt = bb->dt;
            /* views of rank nv + 3 (full panels) or nv + 2 (the last panel): the batch dims
             * lead, then the panel's own */
            int64_t od[IR_MAX_RANK], os[IR_MAX_RANK], id[IR_MAX_RANK], is[IR_MAX_RANK];
            for (int d = 0; d < nv; d++) {
                od[d] = id[d] = bd[d];
                os[d] = ps[d];
                is[d] = bs[d];
            }
            if (full > 0) {
                int64_t *o3 = od + nv, *os3 = os + nv, *i3 = id + nv, *is3 = is + nv;
                o3[0] = i3[0] = full, o3[1] = i3[1] = K, o3[2] = i3[2] = nr;
                os3[0] = K * nr, os3[1] = nr, os3[2] = 1;
                is3[0] = nr * sn, is3[1] = sk, is3[2] = sn;
                View o = view2(pb, nv + 3, od, os, 0), in = view2(b->buf, nv + 3, id, is, off);
                if (!copy_kernel(p, &ks[nk++], k->node, &o, &in, dt))
                    goto oom;
            }
            if (rem > 0) {
                od[nv] = id[nv] = K, od[nv + 1] = id[nv + 1] = rem;
                os[nv] = nr, os[nv + 1] = 1;
                is[nv] = sk, is[nv + 1] = sn;
                View o = view2(pb, nv + 2, od, os, full * K * nr);
                View in = view2(b->buf, nv + 2, id, is, off + full * nr * sn);
                od[nv + 1] = nr - rem;
                View z = view2(pb, nv + 2, od, os, full * K * nr + rem);
                if (!copy_kernel(p, &ks[nk++], k->node, &o, &in, dt) ||
                    !copy_kernel(p, &ks[nk++], k->node, &z, NULL, DT_F32))
                    goto oom;
            }
        }
        ks[nk] = *k;
        ks[nk].u.gemm.pack_nr = nr;
        View *nin = arena_alloc(p->arena, (size_t)k->nin * sizeof *nin);
        if (!nin)
            goto oom;
        memcpy(nin, k->in, (size_t)k->nin * sizeof *nin);
        if (nv == 0) {
            nin[gi->b] = view2(pb, 3, (int64_t[]){np, K, nr}, (int64_t[]){K * nr, nr, 1}, 0);
        } else { /* [batch dims..., np, K, nr]: P's set stride along the dims B steps over */
            int64_t vd[IR_MAX_RANK], vs[IR_MAX_RANK];
            for (int d = 0, j = 0; d < r - 2; d++) {
                vd[d] = b->dims[d].n;
                vs[d] = b->strides[d].n != 0 ? ps[j++] : 0;
            }
            vd[r - 2] = np, vd[r - 1] = K, vd[r] = nr;
            vs[r - 2] = K * nr, vs[r - 1] = nr, vs[r] = 1;
            nin[gi->b] = view2(pb, r + 1, vd, vs, 0);
            for (int d = 0; d < r - 2; d++) /* a broadcast dim may be symbolic */
                nin[gi->b].dims[d] = b->dims[d];
        }
        ks[nk].in = nin;
        nk++;
    }
    p->kernels = ks;
    p->nkernels = nk;
    return true;
oom:
    if (err)
        snprintf(err->msg, sizeof err->msg, "out of memory while packing GEMM weights");
    return false;
}
