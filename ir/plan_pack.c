/* plan_pack.c — weight layout: GEMM B operands that are parameters are copied once, at
 * load time, into the panel layout the micro-kernels read (GemmInfo.pack_nr, plan.h).
 *
 * For every GEMM kernel whose B operand is computed from parameters and constants only
 * (its buffer a BUF_PARAM, BUF_CONST or BUF_FOLDED), the same for every batch index
 * (batch strides 0), with constant K and N and f32 A: a BUF_FOLDED f32 buffer P of shape
 * [⌈N/nr⌉, K, nr] is added, written by at most three once-kernels inserted just before the
 * first GEMM that reads it — ordinary elementwise kernels over views:
 *
 *   full panels   P[p, k, r] = B[k, p·nr + r]       p < ⌊N/nr⌋  (out [⌊N/nr⌋, K, nr])
 *   last panel    P[⌊N/nr⌋, k, r] = B[k, ⌊N/nr⌋·nr + r]   r < N mod nr   (out [K, N mod nr])
 *   zero padding  P[⌊N/nr⌋, k, r] = 0                      r ≥ N mod nr   (out [K, nr − N mod nr])
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
    View src;   /* the B view packed (batch dims dropped) */
    int32_t buf; /* its panel buffer */
} Packed;

static bool param_only(const Plan *p, int32_t buf)
{
    BufKind k = p->bufs[buf].kind;
    return k == BUF_PARAM || k == BUF_CONST || k == BUF_FOLDED;
}

static bool packable(const Plan *p, const Kernel *k)
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
    for (int d = 0; d < r; d++)
        if (!dim_is_const(b->strides[d]) || (d < r - 2 && b->strides[d].n != 0))
            return false;
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

bool plan_pack(Plan *p, int32_t nr, IrError *err)
{
    if (nr <= 0)
        return true;
    int32_t npack = 0;
    for (int32_t i = 0; i < p->nkernels; i++)
        npack += packable(p, &p->kernels[i]);
    if (!npack)
        return true;
    Kernel *ks = arena_alloc(p->arena, (size_t)(p->nkernels + 3 * npack) * sizeof *ks);
    Packed *done = arena_alloc(p->arena, (size_t)npack * sizeof *done);
    if (!ks || !done)
        goto oom;
    int32_t nk = 0, ndone = 0, capbufs = p->nbufs; /* the arrays are exactly full: grow on the first add */
    for (int32_t i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        if (!packable(p, k)) {
            ks[nk++] = *k;
            continue;
        }
        GemmInfo *gi = &k->u.gemm;
        const View *b = &k->in[gi->b];
        int r = b->rank;
        int64_t K = gi->k.n, N = gi->n.n, np = (N + nr - 1) / nr, full = N / nr, rem = N % nr;
        int64_t sk = b->strides[r - 2].n, sn = b->strides[r - 1].n, off = b->offset.n;
        View src = view2(b->buf, 2, (int64_t[]){K, N}, (int64_t[]){sk, sn}, off);
        int32_t pb = -1;
        for (int32_t j = 0; j < ndone; j++)
            if (memcmp(&done[j].src, &src, sizeof src) == 0)
                pb = done[j].buf;
        if (pb < 0) {
            const Buffer *bb = &p->bufs[b->buf];
            Buffer nb = {BUF_FOLDED, DT_F32, {.rank = 3}, bb->value, NULL, -1, -1};
            nb.shape.d[0] = dim_const(np);
            nb.shape.d[1] = dim_const(K);
            nb.shape.d[2] = dim_const(nr);
            if ((pb = add_buffer(p, &capbufs, &nb)) < 0)
                goto oom;
            done[ndone++] = (Packed){src, pb};
            DType dt = bb->dt;
            if (full > 0) {
                View o = view2(pb, 3, (int64_t[]){full, K, nr}, (int64_t[]){K * nr, nr, 1}, 0);
                View in = view2(b->buf, 3, (int64_t[]){full, K, nr}, (int64_t[]){nr * sn, sk, sn}, off);
                if (!copy_kernel(p, &ks[nk++], k->node, &o, &in, dt))
                    goto oom;
            }
            if (rem > 0) {
                View o = view2(pb, 2, (int64_t[]){K, rem}, (int64_t[]){nr, 1}, full * K * nr);
                View in = view2(b->buf, 2, (int64_t[]){K, rem}, (int64_t[]){sk, sn}, off + full * nr * sn);
                View z = view2(pb, 2, (int64_t[]){K, nr - rem}, (int64_t[]){nr, 1}, full * K * nr + rem);
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
        nin[gi->b] = view2(pb, 3, (int64_t[]){np, K, nr}, (int64_t[]){K * nr, nr, 1}, 0);
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
