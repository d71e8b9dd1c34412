/* plan_blob.c — writes a plan in the serialised format of runtime/rt_plan.h.
 *
 * Besides the plan proper it carries what the runtime tells users (vit_info): the model's
 * preprocessing and the text of its label file, read here at compile time, and per kernel
 * a label ("k9 gemm models/vit_b16.vit:13:9 [blocks.0.attn.qkv]": index, kind, source
 * location and the part of the model, plan_kernel_scope) and a FLOP count (f64 × one
 * symbol) that the runtime uses to keep small kernels on one thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/rt_plan.h"
#include "../runtime/safetensors.h"
#include "plan_blob.h"

/* The runtime reads the compiler's numbering. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(DT_F32, RT_DT_F32) && SAME(DT_F16, RT_DT_F16) && SAME(DT_BF16, RT_DT_BF16) &&
                   SAME(DT_I32, RT_DT_I32) && SAME(DT_I64, RT_DT_I64) && SAME(DT_BOOL, RT_DT_BOOL) &&
                   SAME(DT_COUNT, RT_DT_COUNT),
               "DType and RT_DT_* differ");
_Static_assert(SAME(BUF_INPUT, RT_BUF_INPUT) && SAME(BUF_PARAM, RT_BUF_PARAM) && SAME(BUF_CONST, RT_BUF_CONST) &&
                   SAME(BUF_OUTPUT, RT_BUF_OUTPUT) && SAME(BUF_TEMP, RT_BUF_TEMP) && SAME(BUF_FOLDED, RT_BUF_FOLDED),
               "BufKind and RT_BUF_* differ");
_Static_assert(SAME(PACK_NONE, RT_PACK_NONE) && SAME(PACK_PATCHES, RT_PACK_PATCHES) && SAME(PACK_SEG, RT_PACK_SEG) &&
                   SAME(PACK_ROW, RT_PACK_ROW) && SAME(PACK_COL, RT_PACK_COL) && SAME(PACK_HEIGHT, RT_PACK_HEIGHT) &&
                   SAME(PACK_WIDTH, RT_PACK_WIDTH) && SAME(PACK_COUNT, RT_PACK_COUNT),
               "the pack roles and RT_PACK_* differ");
#undef SAME
_Static_assert(IR_MAX_RANK <= RT_MAX_RANK, "ranks");
_Static_assert(PLAN_MAX_BUFFER_BYTES == RT_MAX_BUFFER_BYTES, "the largest buffer");

void blob_put(BlobWriter *w, const void *data, size_t n)
{
    if (w->oom || n == 0)
        return;
    if (w->b->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->b->len + n)
            cap *= 2;
        uint8_t *d = ir_realloc(w->b->data, cap);
        if (!d) {
            w->oom = true;
            return;
        }
        w->b->data = d;
        w->cap = cap;
    }
    memcpy(w->b->data + w->b->len, data, n);
    w->b->len += n;
}

void blob_put_i64(BlobWriter *w, int64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    blob_put(w, b, 8);
}

void blob_put_bytes(BlobWriter *w, const void *data, size_t n)
{
    blob_put_i64(w, (int64_t)n);
    blob_put(w, data, n);
}

static void put_f64(BlobWriter *w, double v)
{
    int64_t u;
    memcpy(&u, &v, sizeof u);
    blob_put_i64(w, u);
}

/* a string of n bytes; NULL as length -1 (rt_plan.h) */
static void put_strn(BlobWriter *w, const char *s, size_t n)
{
    if (!s)
        blob_put_i64(w, -1);
    else
        blob_put_bytes(w, s, n);
}

static void put_str(BlobWriter *w, const char *s) { put_strn(w, s, s ? strlen(s) : 0); }

/* ---- FLOPs: a constant × at most one symbol ---- */

typedef struct {
    double c;
    int32_t sym;
} Flops;

static void flops_mul(const Graph *g, Flops *f, Dim d)
{
    f->c *= (double)d.n;
    if (dim_is_const(d))
        return;
    if (f->sym < 0)
        f->sym = d.sym;
    else
        f->c *= (double)g->syms[d.sym].max; /* a product of symbols: bounded by the maximum */
}

static Flops view_elems(const Graph *g, const View *v, int rank)
{
    Flops f = {1, -1};
    for (int i = 0; i < rank && i < v->rank; i++)
        flops_mul(g, &f, v->dims[i]);
    return f;
}

/* The work of one kernel: 2·M·N·K per GEMM output block, plus one per elementwise op of
 * its expression per output element, a few per element for row operations, one per
 * element read for reductions. Estimates, for scheduling and reports. */
static Flops kernel_flops(const Graph *g, const Kernel *k)
{
    int ops = 0;
    for (int32_t i = 0; i < k->nexpr; i++)
        ops += k->expr[i].kind == EX_OP;
    Flops out = view_elems(g, &k->out, k->out.rank);
    switch (k->kind) {
    case KK_GEMM: {
        Flops f = view_elems(g, &k->out, k->out.rank);
        flops_mul(g, &f, k->u.gemm.k);
        f.c = 2 * f.c + out.c * ops;
        return f;
    }
    case KK_ROW:
        out.c *= 5 + ops;
        return out;
    case KK_ATTENTION: { /* 2·(Dh + Dv) per logit, softmax 5 per logit, the epilogue */
        Flops f = view_elems(g, &k->out, k->out.rank - 1);
        flops_mul(g, &f, k->u.attn.nk);
        double per = 2.0 * (double)(k->u.attn.dh.n + k->u.attn.dv.n) + 5; /* (head sizes are constants) */
        f.c = f.c * per + out.c * ops;
        return f;
    }
    case KK_REDUCE: {
        const View *v = &k->in[k->u.reduce.in];
        Flops f = view_elems(g, v, v->rank);
        f.c += out.c * ops;
        return f;
    }
    default:
        out.c *= ops;
        return out;
    }
}

/* ---- sections ---- */

static void put_meta(BlobWriter *w, const Graph *g, const char *labels, size_t nlabels)
{
    const MetaAttr *m = &g->meta;
    blob_put_i64(w, m->resize);
    blob_put_i64(w, m->crop);
    blob_put_i64(w, m->mean.n);
    for (int i = 0; i < m->mean.n; i++)
        put_f64(w, m->mean.v[i]);
    blob_put_i64(w, m->std.n);
    for (int i = 0; i < m->std.n; i++)
        put_f64(w, m->std.v[i]);
    put_strn(w, labels, nlabels);
}

/* A constant's data in its dtype (a one-element list is splat). */
static bool put_const(BlobWriter *w, const Plan *p, const Buffer *b, IrError *err)
{
    const Graph *g = p->g;
    const FloatList *data = &ir_def(g, b->value)->attr.constant.data;
    int64_t numel = shape_numel(&b->shape, NULL);
    if (!shape_is_const(&b->shape) || numel < 0 || (data->n != 1 && data->n != numel)) {
        snprintf(err->msg, sizeof err->msg, "internal error: constant buffer of value %%%d has %d values for "
                 "its shape", b->value, data->n);
        return false;
    }
    size_t size = dtype_size(b->dt);
    blob_put_i64(w, numel * (int64_t)size);
    for (int64_t i = 0; i < numel; i++) {
        double v = data->v[data->n == 1 ? 0 : i];
        uint8_t bytes[8];
        uint64_t u = 0;
        float f = (float)v;
        uint32_t u32;
        switch (b->dt) {
        case DT_F32: memcpy(&u32, &f, 4); u = u32; break;
        case DT_F16: u = st_f32_to_f16(f); break;
        case DT_BF16: u = st_f32_to_bf16(f); break;
        case DT_BOOL: u = v != 0; break;
        default: u = (uint64_t)(int64_t)v; break;
        }
        for (size_t j = 0; j < size; j++)
            bytes[j] = (uint8_t)(u >> (8 * j));
        blob_put(w, bytes, size);
    }
    return true;
}

static bool put_buffers(BlobWriter *w, const Plan *p, IrError *err)
{
    blob_put_i64(w, p->nbufs);
    for (int32_t i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        blob_put_i64(w, b->kind);
        blob_put_i64(w, b->dt);
        blob_put_i64(w, b->shape.rank);
        for (int d = 0; d < b->shape.rank; d++) {
            blob_put_i64(w, b->shape.d[d].n);
            blob_put_i64(w, b->shape.d[d].sym);
        }
        put_str(w, b->name);
        blob_put_i64(w, b->first);
        blob_put_i64(w, b->last);
        if (b->kind == BUF_INPUT) { /* a NaViT packed input's role (docs/NAVIT.md) */
            const InputAttr *in = &ir_def(p->g, b->value)->attr.input;
            blob_put_i64(w, in->pack);
            blob_put_i64(w, in->patch);
            blob_put_i64(w, in->channels);
            blob_put_i64(w, in->images);
        }
        if (b->kind == BUF_CONST) {
            if (!put_const(w, p, b, err))
                return false;
        } else {
            blob_put_i64(w, 0);
        }
    }
    return true;
}

static void put_kernels(BlobWriter *w, const Plan *p)
{
    blob_put_i64(w, p->nkernels);
    for (int32_t i = 0; i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        char label[800], where[768];
        plan_kernel_where(p, i, where, sizeof where);
        snprintf(label, sizeof label, "k%d %s%s", i, plan_kind_name(k->kind), where);
        Flops f = kernel_flops(p->g, k);
        blob_put_i64(w, k->kind);
        blob_put_i64(w, k->once);
        put_str(w, label);
        put_f64(w, f.c);
        blob_put_i64(w, f.sym);
    }
}

/* ---- entry points ---- */

static bool serialize(const Plan *p, const char *labels, size_t nlabels, Blob *out, IrError *err)
{
    BlobWriter w = {out, 0, false};
    const Graph *g = p->g;
    out->data = NULL;
    out->len = 0;
    blob_put(&w, "VITPLAN\0", 8);
    blob_put_i64(&w, RT_PLAN_VERSION);
    put_str(&w, g->name ? g->name : "model");
    put_meta(&w, g, labels, nlabels);
    blob_put_i64(&w, g->nsyms);
    for (int32_t s = 0; s < g->nsyms; s++) {
        put_str(&w, g->syms[s].name);
        blob_put_i64(&w, g->syms[s].max);
    }
    bool ok = put_buffers(&w, p, err);
    if (ok) {
        put_kernels(&w, p);
        blob_put_i64(&w, g->noutputs);
        for (int32_t i = 0; i < g->noutputs; i++) {
            put_str(&w, g->outputs[i].name);
            blob_put_i64(&w, p->output_bufs[i]);
        }
    }
    if (ok && w.oom) {
        snprintf(err->msg, sizeof err->msg, "out of memory while serialising the plan");
        ok = false;
    }
    if (!ok) {
        ir_free(out->data);
        out->data = NULL;
        out->len = 0;
    }
    return ok;
}

bool plan_serialize(const Plan *p, Blob *out, IrError *err)
{
    IrError local;
    return serialize(p, NULL, 0, out, err ? err : &local);
}

/* Reads the label file named by the model, relative to model_dir. */
static char *read_labels(const char *name, const char *model_dir, size_t *len, IrError *err)
{
    char path[4096];
    if (name[0] == '/' || !model_dir || !model_dir[0])
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", model_dir, name);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0, cap = 0;
    if (f) {
        for (;;) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1 << 16;
                char *t = cap > ((size_t)1 << 30) ? NULL : ir_realloc(text, cap);
                if (!t) {
                    errno = ENOMEM;
                    ir_free(text);
                    text = NULL;
                    break;
                }
                text = t;
            }
            size_t got = fread(text + n, 1, cap - n, f);
            n += got;
            if (got == 0) {
                if (ferror(f)) {
                    errno = EIO;
                    ir_free(text);
                    text = NULL;
                }
                break;
            }
        }
        fclose(f);
    }
    if (!text) {
        snprintf(err->msg, sizeof err->msg, "cannot read the label file '%s' that the model names: %s", path,
                 strerror(errno));
        return NULL;
    }
    if (memchr(text, 0, n)) {
        snprintf(err->msg, sizeof err->msg, "the label file '%s' is not text (it holds NUL bytes)", path);
        ir_free(text);
        return NULL;
    }
    *len = n;
    return text;
}

bool plan_serialize_model(const Plan *p, const char *model_dir, Blob *out, IrError *err)
{
    IrError local;
    err = err ? err : &local;
    const char *name = p->g->meta.labels;
    if (!name || !name[0])
        return serialize(p, NULL, 0, out, err);
    size_t n = 0;
    char *labels = read_labels(name, model_dir, &n, err);
    if (!labels) {
        out->data = NULL;
        out->len = 0;
        return false;
    }
    bool ok = serialize(p, labels, n, out, err);
    ir_free(labels);
    return ok;
}
