/* plan_attention.c — the schedule of KK_ATTENTION kernels (plan.h) and their listing.
 *
 * Two algorithms share one kernel (the backends implement both, see plan.h):
 *   flash       keys in blocks of tile_n, an online softmax over the blocks: per query
 *               tile only tile_m × tile_n scores exist at once
 *   decomposed  tile_n = 0: every key in one block, the scores of a query tile (tile_m ×
 *               Nk) in a per-thread buffer, then softmax, then × V; no rescaling
 * The heuristic: decomposed while a query tile's scores fit in a third of L1 (16 KiB, beside
 * the query tile, the accumulators and the streams of k and v: there the rescaling and the
 * block loop of flash buy nothing), else flash with 64-key blocks. Query tiles of 32 (two or four vectors: each key broadcast feeds several FMAs),
 * fewer for short sequences; iterations over batch × query tiles (par_dims = rank − 1).
 * Measured on this machine: docs/ATTENTION.md.
 */
#include "plan.h"

enum { TILE_Q = 32, TILE_K = 64, SCORE_BYTES = 16 * 1024 };

/* The most a dimension can be (a symbol at its declared maximum). */
static int64_t dim_max(const Graph *g, Dim d)
{
    return dim_is_const(d) ? d.n : d.n * (d.sym < g->nsyms ? g->syms[d.sym].max : 1);
}

void plan_attention_schedule(const Graph *g, Kernel *k)
{
    const AttnInfo *a = &k->u.attn;
    Schedule *s = &k->sched;
    int64_t nq = dim_max(g, a->nq), nk = dim_max(g, a->nk);
    s->vector = 0; /* the backend's */
    s->tile_m = nq <= 8 ? 8 : nq <= 16 ? 16 : TILE_Q;
    s->tile_n = (int64_t)s->tile_m * nk * 4 <= SCORE_BYTES ? 0 : TILE_K;
    s->tile_k = 0;
    s->par_dims = k->out.rank - 1;
}

int64_t plan_attention_score_elems(const Graph *g, const Kernel *k)
{
    int64_t nk = dim_max(g, k->u.attn.nk);
    int64_t bk = k->sched.tile_n > 0 && k->sched.tile_n < nk ? k->sched.tile_n : nk;
    return (int64_t)k->sched.tile_m * (bk > 0 ? bk : 1);
}

int64_t plan_attention_segments(const Graph *g, const AttnInfo *a)
{
    if (a->mask_kind != MASK_SEGMENT)
        return 0;
    int64_t nk = dim_max(g, a->nk);
    for (int32_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_INPUT && g->nodes[i].attr.input.pack == PACK_PATCHES && g->nodes[i].attr.input.images > 0)
            return g->nodes[i].attr.input.images < nk ? g->nodes[i].attr.input.images : nk;
    return nk;
}

void plan_attention_print(const Plan *p, const Kernel *k, FILE *out)
{
    const AttnInfo *a = &k->u.attn;
    char nq[64], nk[64], dh[64], dv[64], sc[64];
    ir_format_dim(p->g, a->nq, nq, sizeof nq);
    ir_format_dim(p->g, a->nk, nk, sizeof nk);
    ir_format_dim(p->g, a->dh, dh, sizeof dh);
    ir_format_dim(p->g, a->dv, dv, sizeof dv);
    ir_format_double(a->scale, sc, sizeof sc);
    fprintf(out, "      softmax(%s·in%d·in%dᵀ", sc, a->q, a->k);
    if (a->mask >= 0 && (a->mask_kind == MASK_SEGMENT || a->mask_kind == MASK_SLOT))
        fprintf(out, a->mask_kind == MASK_SEGMENT ? " within the segments of in%d" : " over slot i's segment of in%d",
                a->mask);
    else if (a->mask >= 0)
        fprintf(out, a->mask_kind == MASK_KEEP ? " where in%d" : " + in%d", a->mask);
    fprintf(out, ")·in%d  nq=%s nk=%s dh=%s dv=%s\n", a->v, nq, nk, dh, dv);
    if (a->mask_kind == MASK_SEGMENT)
        fprintf(out, "      segments: at most %lld; query tiles within each segment, keys of its segment only "
                "(cost Σ nᵢ²)\n", (long long)a->segments);
    if (k->sched.tile_n > 0)
        fprintf(out, "      schedule: flash, %d queries × %d keys per block, online softmax; par_dims=%d\n",
                k->sched.tile_m, k->sched.tile_n, k->sched.par_dims);
    else
        fprintf(out, "      schedule: decomposed, %d queries × all keys, scores in a per-thread buffer; par_dims=%d\n",
                k->sched.tile_m, k->sched.par_dims);
}
