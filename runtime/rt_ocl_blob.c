/* rt_ocl_blob.c — parses and checks the OpenCL side of a model (format: rt_ocl.h).
 *
 * Like the plan parser, it never trusts the blob: every read is bounds-checked, counts are
 * bounded by the bytes left, and every index (program, plan kernel, plan buffer, extra
 * buffer, symbol), kind and dtype is range-checked against the plan it belongs to. A
 * corrupt blob is a message, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_blob.h"
#include "rt_ocl.h"

/* Bytes of a string or binary: a pointer into the blob. */
static const unsigned char *get_bytes(RtReader *r, size_t *n)
{
    int64_t len = rd_i64(r);
    if (r->failed)
        return NULL;
    if (len < 0 || (uint64_t)len > r->len - r->pos)
        return rd_fail(r, "bad length"), NULL;
    const unsigned char *p = r->b + r->pos;
    r->pos += (size_t)len;
    *n = (size_t)len;
    return p;
}

static char *get_str(RtReader *r)
{
    size_t n = 0;
    const unsigned char *p = get_bytes(r, &n);
    if (!p)
        return NULL;
    if (memchr(p, 0, n))
        return rd_fail(r, "a string holds a NUL byte"), NULL;
    char *s = malloc(n + 1);
    if (!s) {
        snprintf(r->err, r->errlen, "out of memory");
        r->failed = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void rt_ocl_blob_free(RtOclBlob *b)
{
    if (!b)
        return;
    free(b->platform);
    free(b->device);
    free(b->driver);
    free(b->options);
    for (int i = 0; b->progs && i < b->nprogs; i++) {
        free(b->progs[i].name);
        free(b->progs[i].source);
    }
    for (int i = 0; b->launches && i < b->nlaunches; i++) {
        free(b->launches[i].global);
        free(b->launches[i].args);
    }
    free(b->progs);
    free(b->xbufs);
    free(b->launches);
    free(b);
}

static void *alloc_array(RtReader *r, int n, size_t size)
{
    void *p = calloc((size_t)(n ? n : 1), size);
    if (!p && !r->failed) {
        snprintf(r->err, r->errlen, "out of memory");
        r->failed = 1;
    }
    return p;
}

static RtDim get_dim(RtReader *r, const RtPlan *plan)
{
    RtDim d;
    d.n = rd_range(r, 0, INT64_MAX / 2, "bad size");
    d.sym = rd_range(r, -1, plan->nsyms - 1, "bad symbol index");
    return d;
}

static void read_launch(RtReader *r, RtOclLaunch *l, const RtOclBlob *b, const RtPlan *plan)
{
    l->program = (int)rd_range(r, 0, b->nprogs - 1, "bad program index");
    l->kernel = (int)rd_range(r, 0, plan->nkernels - 1, "bad kernel index");
    l->once = (int)rd_range(r, 0, 1, "bad once flag");
    l->local = rd_range(r, 0, 1 << 20, "bad local size");
    l->nglobal = rd_count(r, 24, "bad global size count");
    if (l->nglobal > RT_MAX_RANK + 2)
        rd_fail(r, "too many global size factors");
    if (!(l->global = alloc_array(r, l->nglobal, sizeof *l->global)))
        return;
    for (int f = 0; f < l->nglobal && !r->failed; f++) {
        l->global[f].d = get_dim(r, plan);
        l->global[f].div = rd_range(r, 1, INT32_MAX, "bad divisor");
    }
    l->nargs = rd_count(r, 16, "bad argument count");
    if (!(l->args = alloc_array(r, l->nargs, sizeof *l->args)))
        return;
    for (int a = 0; a < l->nargs && !r->failed; a++) {
        RtOclArg *g = &l->args[a];
        g->kind = (int)rd_range(r, 0, RT_OCL_ARG_COUNT - 1, "bad argument kind");
        switch (g->kind) {
        case RT_OCL_ARG_BUF: g->value = rd_range(r, 0, plan->nbufs - 1, "bad buffer index"); break;
        case RT_OCL_ARG_XBUF: g->value = rd_range(r, 0, b->nxbufs - 1, "bad extra buffer index"); break;
        case RT_OCL_ARG_SYM: g->value = rd_range(r, 0, plan->nsyms - 1, "bad symbol index"); break;
        default: g->value = rd_range(r, 0, 0, "bad argument value"); break;
        }
    }
}

RtOclBlob *rt_ocl_blob_parse(const void *blob, size_t len, const RtPlan *plan, char *err, size_t errlen)
{
    RtReader r = {.b = blob, .len = len, .blob = "OpenCL section", .err = err, .errlen = errlen};
    RtOclBlob *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!blob || len < 8 || memcmp(blob, "VITOCL\0\0", 8) != 0) {
        snprintf(err, errlen, "corrupt OpenCL section: no VITOCL header");
        free(b);
        return NULL;
    }
    r.pos = 8;
    int64_t version = rd_i64(&r);
    if (!r.failed && version != RT_OCL_VERSION) {
        snprintf(err, errlen, "the OpenCL section has version %lld; this runtime reads version %d", (long long)version,
                 RT_OCL_VERSION);
        free(b);
        return NULL;
    }
    b->platform = get_str(&r);
    b->device = get_str(&r);
    b->driver = get_str(&r);
    b->options = get_str(&r);
    b->nprogs = rd_count(&r, 24, "bad program count");
    if ((b->progs = alloc_array(&r, b->nprogs, sizeof *b->progs)))
        for (int i = 0; i < b->nprogs && !r.failed; i++) {
            RtOclProgram *pg = &b->progs[i];
            pg->name = get_str(&r);
            pg->source = get_str(&r);
            pg->binary = get_bytes(&r, &pg->nbinary);
            if (pg->nbinary == 0)
                pg->binary = NULL;
        }
    b->nxbufs = rd_count(&r, 32, "bad extra buffer count");
    if ((b->xbufs = alloc_array(&r, b->nxbufs, sizeof *b->xbufs)))
        for (int i = 0; i < b->nxbufs && !r.failed; i++) {
            b->xbufs[i].kind = (int)rd_range(&r, RT_OCL_PERSIST, RT_OCL_SCRATCH, "bad extra buffer kind");
            b->xbufs[i].dtype = (int)rd_range(&r, 0, RT_DT_COUNT - 1, "bad dtype");
            b->xbufs[i].size = get_dim(&r, plan);
        }
    b->nlaunches = rd_count(&r, 48, "bad launch count");
    if ((b->launches = alloc_array(&r, b->nlaunches, sizeof *b->launches)))
        for (int i = 0; i < b->nlaunches && !r.failed; i++)
            read_launch(&r, &b->launches[i], b, plan);
    if (!r.failed && r.pos != r.len)
        rd_fail(&r, "bytes after the launches");
    if (r.failed) {
        rt_ocl_blob_free(b);
        return NULL;
    }
    return b;
}

int64_t rt_ocl_global_size(const RtOclLaunch *l, const int64_t *syms)
{
    int64_t n = 1;
    for (int f = 0; f < l->nglobal; f++) {
        int64_t v = l->global[f].d.n, s = l->global[f].d.sym < 0 ? 1 : syms[l->global[f].d.sym];
        if (v < 0 || s < 0 || (v && s > INT64_MAX / v))
            return -1;
        v *= s;
        v = v / l->global[f].div + (v % l->global[f].div != 0);
        if (v && n > INT64_MAX / v)
            return -1;
        n *= v;
    }
    return n;
}
