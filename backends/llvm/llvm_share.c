/* llvm_share.c — one function body for the kernels that differ only in their buffers.
 *
 * A ViT repeats its block L times: the same GEMMs, LayerNorms, softmaxes and copies with the
 * same shapes and expressions, on other buffers. Each kernel's key is everything its code
 * depends on — kind, views (shapes, strides, offsets), expression, kind info, schedule, the
 * dtypes of its buffers — with the buffers renamed to slots in order of first use (out,
 * in[0], in[1], ..., the error cell). Kernels with equal keys share one body
 *
 *   void vb<j>(char *const *slots, const int64_t *syms, int64_t begin, int64_t end)  noinline
 *
 * generated once (gen_kernel with Gen.slot set: buffer b is slots[slot[b]]), and each
 * kernel's vk<i> is a wrapper that gathers its buffers into the slot array and calls it.
 * Two slots are never the same buffer (equal buffers get one slot), so the body's alias
 * claims hold for every kernel that shares it. ViT-B/16: 12× less GEMM and attention code.
 * Kinds whose info this file does not know (MoE, segment reductions) get their own body.
 */
#include <string.h>

#include "llvm_internal.h"

typedef struct {
    unsigned char *bytes;
    size_t len;
    LLVMValueRef body;
} Entry;

struct GenShare {
    Entry *e;
    int32_t n, cap;
};

typedef struct {
    unsigned char *b;
    size_t len, cap;
    bool oom;
} Key;

static void put(Key *k, const void *p, size_t n)
{
    if (k->oom)
        return;
    if (k->len + n > k->cap) {
        size_t ncap = (k->cap + n) * 2 + 256;
        unsigned char *nb = ir_realloc(k->b, ncap);
        if (!nb) {
            k->oom = true;
            return;
        }
        k->b = nb;
        k->cap = ncap;
    }
    memcpy(k->b + k->len, p, n);
    k->len += n;
}

static void put_i64(Key *k, int64_t v) { put(k, &v, sizeof v); }
static void put_f64(Key *k, double v) { put(k, &v, sizeof v); }
static void put_dim(Key *k, Dim d)
{
    put_i64(k, d.n);
    put_i64(k, d.sym);
}

static void put_view(Key *k, const Plan *p, const View *v, const int32_t *slot)
{
    put_i64(k, slot[v->buf]);
    put_i64(k, p->bufs[v->buf].dt);
    put_i64(k, v->rank);
    for (int i = 0; i < v->rank; i++) {
        put_dim(k, v->dims[i]);
        put_dim(k, v->strides[i]);
    }
    put_dim(k, v->offset);
}

/* The key of kernel k, its slots (slot[b] for the buffers it touches, -1 else; the error
 * cell is buffer nbufs) and their count; false when k's kind cannot be shared. */
static bool make_key(const Plan *p, const Kernel *k, bool errcell, Key *key, int32_t *slot, int32_t *nslots)
{
    switch (k->kind) {
    case KK_ELEMENTWISE: case KK_GEMM: case KK_ROW: case KK_REDUCE: case KK_GATHER: case KK_ATTENTION: break;
    default: return false;
    }
    for (int32_t b = 0; b <= p->nbufs; b++)
        slot[b] = -1;
    int32_t n = 0;
    slot[k->out.buf] = n++;
    for (int32_t i = 0; i < k->nin; i++)
        if (slot[k->in[i].buf] < 0)
            slot[k->in[i].buf] = n++;
    if (errcell)
        slot[p->nbufs] = n++;
    *nslots = n;
    put_i64(key, k->kind);
    put_i64(key, errcell);
    put_i64(key, k->nin);
    put_view(key, p, &k->out, slot);
    for (int32_t i = 0; i < k->nin; i++)
        put_view(key, p, &k->in[i], slot);
    put_i64(key, k->nexpr);
    put_i64(key, k->root);
    for (int32_t i = 0; i < k->nexpr; i++) {
        const Expr *e = &k->expr[i];
        int64_t f[6] = {e->kind, e->op, e->dt, e->a, e->b, e->c};
        put(key, f, sizeof f);
        put_f64(key, e->value);
        if (e->kind == EX_OP && e->op == OP_GELU) /* the only attribute code depends on */
            put_i64(key, e->attr.gelu.approximate);
    }
    switch (k->kind) {
    case KK_GEMM: {
        const GemmInfo *gi = &k->u.gemm;
        int64_t f[3] = {gi->a, gi->b, gi->pack_nr};
        put(key, f, sizeof f);
        put_dim(key, gi->m);
        put_dim(key, gi->n);
        put_dim(key, gi->k);
        break;
    }
    case KK_ROW: {
        int64_t f[3] = {k->u.row.op, k->u.row.in, k->u.row.center};
        put(key, f, sizeof f);
        put_f64(key, k->u.row.eps);
        break;
    }
    case KK_REDUCE: {
        int64_t f[2] = {k->u.reduce.op, k->u.reduce.in};
        put(key, f, sizeof f);
        break;
    }
    case KK_GATHER: {
        int64_t f[3] = {k->u.gather.in, k->u.gather.idx, k->u.gather.axis};
        put(key, f, sizeof f);
        break;
    }
    case KK_ATTENTION: {
        const AttnInfo *a = &k->u.attn;
        int64_t f[6] = {a->q, a->k, a->v, a->mask, a->mask_kind, a->segments};
        put(key, f, sizeof f);
        put_f64(key, a->scale);
        put_dim(key, a->nq);
        put_dim(key, a->nk);
        put_dim(key, a->dh);
        put_dim(key, a->dv);
        break;
    }
    default: break;
    }
    const Schedule *s = &k->sched;
    int64_t f[5] = {s->tile_m, s->tile_n, s->tile_k, s->vector, s->par_dims};
    put(key, f, sizeof f);
    return !key->oom;
}

GenShare *gen_share_new(void) { return ir_calloc(1, sizeof(GenShare)); }

void gen_share_free(GenShare *s)
{
    if (!s)
        return;
    for (int32_t i = 0; i < s->n; i++)
        ir_free(s->e[i].bytes);
    ir_free(s->e);
    ir_free(s);
}

/* vk<ki>: its buffers into a slot array, then the shared body. */
static LLVMValueRef wrapper(Gen *g, int32_t ki, LLVMValueRef body, const int32_t *slot, int32_t nslots)
{
    char name[32];
    snprintf(name, sizeof name, "vk%d", ki);
    LLVMTypeRef params[4] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i64};
    LLVMTypeRef fty = LLVMFunctionType(g->t_void, params, 4, 0);
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, fty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, nounwind, 0));
    LLVMBuilderRef b = g->b;
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    LLVMTypeRef at = LLVMArrayType(g->t_ptr, (unsigned)(nslots ? nslots : 1));
    LLVMValueRef arr = LLVMBuildAlloca(b, at, "slots");
    for (int32_t buf = 0; buf <= g->p->nbufs; buf++) {
        if (slot[buf] < 0)
            continue;
        LLVMValueRef i = gen_i64(g, buf);
        LLVMValueRef v = LLVMBuildLoad2(b, g->t_ptr, LLVMBuildInBoundsGEP2(b, g->t_ptr, LLVMGetParam(fn, 0), &i, 1, ""), "");
        LLVMValueRef at_s[2] = {gen_i64(g, 0), gen_i64(g, slot[buf])};
        LLVMBuildStore(b, v, LLVMBuildInBoundsGEP2(b, at, arr, at_s, 2, ""));
    }
    LLVMValueRef args[4] = {arr, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), LLVMGetParam(fn, 3)};
    LLVMBuildCall2(b, fty, body, args, 4, "");
    LLVMBuildRetVoid(b);
    return fn;
}

LLVMValueRef gen_kernel_shared(Gen *g, int32_t ki)
{
    const Plan *p = g->p;
    const Kernel *k = &p->kernels[ki];
    GenShare *s = g->share;
    int32_t *slot = ir_malloc(sizeof *slot * (size_t)(p->nbufs + 1)), nslots = 0;
    Key key = {0};
    bool errcell = k->kind == KK_GATHER;
    if (!s || !slot || !make_key(p, k, errcell, &key, slot, &nslots)) {
        ir_free(slot);
        ir_free(key.b);
        return gen_kernel(g, ki); /* its own body */
    }
    LLVMValueRef body = NULL;
    for (int32_t i = 0; i < s->n && !body; i++)
        if (s->e[i].len == key.len && memcmp(s->e[i].bytes, key.b, key.len) == 0)
            body = s->e[i].body;
    if (!body) {
        g->slot = slot;
        body = gen_kernel(g, ki);
        g->slot = NULL;
        if (body) {
            unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
            LLVMAddAttributeAtIndex(body, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
            if (s->n == s->cap) {
                int32_t ncap = s->cap * 2 + 16;
                Entry *ne = ir_realloc(s->e, sizeof *ne * (size_t)ncap);
                if (ne) {
                    s->e = ne;
                    s->cap = ncap;
                }
            }
            if (s->n < s->cap) {
                s->e[s->n++] = (Entry){key.b, key.len, body};
                key.b = NULL;
            }
        }
    }
    LLVMValueRef fn = body ? wrapper(g, ki, body, slot, nslots) : NULL;
    ir_free(key.b);
    ir_free(slot);
    return fn;
}
