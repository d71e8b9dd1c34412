/* llvm_attention.h — what llvm_attention.c and llvm_attention_tile.c share: the state of
 * one attention kernel's code generation (Att, filled by gen_attention) and the builders
 * both use.
 *
 *   llvm_attention.c       the entry points, the iterations (batch × query tiles; the
 *                          segments of a packed NaViT sequence), the stack buffers
 *   llvm_attention_tile.c  one tile: Q packed, the scores, the mask, the online softmax,
 *                          p·v, the output
 */
#ifndef VITC_LLVM_ATTENTION_H
#define VITC_LLVM_ATTENTION_H

#include "llvm_internal.h"

enum {
    ACCS_MAX = 24 /* vector accumulators a micro-kernel keeps in registers, at most */
};

/* One attention kernel's code generation: filled by gen_attention, read by the tile's steps. */
typedef struct {
    Gen *g;
    const AttnInfo *a;
    const View *Q, *K, *V, *M, *O;
    int32_t r;             /* the output's rank */
    int TQ, QV;            /* queries per tile, and vectors per tile (TQ / vl) */
    unsigned vl;           /* lanes per vector */
    int accs;              /* accumulators the micro-kernels may keep */
    bool flash;            /* key blocks with rescaling; else one block (decomposed) */
    LLVMTypeRef vt;        /* <vl x float> */
    LLVMValueRef qt, s, acc, m, l, alpha, base, inv; /* stack buffers (float arrays) */
    LLVMValueRef regs[ACCS_MAX];                     /* accumulators (allocas of vt) */
    LLVMValueRef qb, kb, vb, mb;                     /* view offsets of this batch index */
    LLVMValueRef i0, nq, j0, nb;                     /* the tile's first query and size; the block's */
    LLVMValueRef klo, khi;                           /* the keys the tile sees: [klo, khi) */
    bool segmented;                                  /* mask = segment or slot (in[mask]: seg) */
    int DV, CV;                                      /* row-major Acc (Dv, a multiple of vl: DV) or 0;
                                                        p·v's vectors of columns per micro-kernel */
    LLVMValueRef half;                               /* (with DV) the tile has ≤ TQ / 2 queries: the
                                                        scores and softmax take QV / 2 vectors */
} Att;

static inline LLVMValueRef add(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(g->b, a, b, ""); }
static inline LLVMValueRef mul(Gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(g->b, a, b, ""); }

/* for (i = 0; i < n; i++) with the body between loop_begin and loop_end */
static inline GenLoop loop(Gen *g, LLVMValueRef n, const char *name)
{
    GenLoop l;
    gen_loop_begin(g, &l, gen_i64(g, 0), n, name);
    return l;
}

/* seg[j] (the segment ids, i64) */
static inline LLVMValueRef seg_at(Att *t, LLVMValueRef j)
{
    return gen_load(t->g, t->M->buf, gen_offset_step(t->g, t->mb, j, t->M->strides[t->r - 1]), DT_I64);
}

/* ---- llvm_attention_tile.c ---- */
/* One tile of t->QV vectors of queries: pack, the key blocks, the output. t as gen_attention
 * fills it (the buffers, the batch index's view offsets, the queries [i0, i0 + nq), the keys
 * [klo, khi)); idx[0..r-2) the batch index (the tile sets the last two entries). */
void gen_attention_tile(Att *t, LLVMValueRef *idx);

#endif
