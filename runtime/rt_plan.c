/* rt_plan.c — parses and validates the serialised plan of rt_plan.h.
 *
 * A corrupt blob is an error, never a crash: every read is bounds-checked, every count is
 * bounded by the bytes left (each element takes at least 8), every index and kind is
 * checked. The parse makes two passes over the blob: the first measures (strings and
 * array lengths), the second fills one allocation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_blob.h"
#include "rt_internal.h"

static const char *const dtype_names[RT_DT_COUNT] = {"F32", "F16", "BF16", "I32", "I64", "BOOL"};
static const size_t dtype_sizes[RT_DT_COUNT] = {4, 2, 2, 4, 8, 1};

size_t rt_dtype_size(int dt) { return dt >= 0 && dt < RT_DT_COUNT ? dtype_sizes[dt] : 0; }
const char *rt_dtype_name(int dt) { return dt >= 0 && dt < RT_DT_COUNT ? dtype_names[dt] : "?"; }

int64_t rt_dim(RtDim d, const int64_t *syms) { return d.sym < 0 ? d.n : d.n * syms[d.sym]; }

int64_t rt_buffer_bytes(const RtBuffer *b, const int64_t *syms)
{
    int64_t n = (int64_t)rt_dtype_size(b->dtype);
    for (int i = 0; i < b->rank; i++) {
        int64_t d = b->dims[i].n, s = b->dims[i].sym < 0 ? 1 : syms[b->dims[i].sym];
        if (d < 0 || s < 0 || (d && s > INT64_MAX / d))
            return -1;
        d *= s;
        if (d && n > INT64_MAX / d)
            return -1;
        n *= d;
    }
    return n;
}

void rt_format_type(const RtPlan *p, const RtBuffer *b, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "%s[", rt_dtype_name(b->dtype));
    for (int i = 0; i < b->rank && o < n; i++) {
        const char *sep = i ? "," : "";
        RtDim d = b->dims[i];
        if (d.sym < 0)
            o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, sep, d.n);
        else if (d.n == 1)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", sep, p->syms[d.sym].name);
        else
            o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64 "*%s", sep, d.n, p->syms[d.sym].name);
    }
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* ---- reading ---- */

/* A string (NULL for length -1). In the measuring pass, returns a non-NULL dummy. */
static const char *get_str(RtReader *r, int allow_none)
{
    int64_t n = rd_i64(r);
    if (r->failed)
        return NULL;
    if (n == -1 && allow_none)
        return NULL;
    if (n < 0 || (uint64_t)n > r->len - r->pos)
        return rd_fail(r, "bad string length"), NULL;
    if (memchr(r->b + r->pos, 0, (size_t)n))
        return rd_fail(r, "a string holds a NUL byte"), NULL;
    const char *s = "";
    if (r->strings) {
        char *d = r->strings + r->nstrings;
        memcpy(d, r->b + r->pos, (size_t)n);
        d[n] = 0;
        s = d;
    }
    r->nstrings += (size_t)n + 1;
    r->pos += (size_t)n;
    return s;
}

/* ---- the format ---- */

typedef struct {
    int nmean, nstd, nsyms, nbufs, nkernels, noutputs;
} Counts;

/* One pass over the blob; with p == NULL it measures into c, else fills p (whose arrays
 * are sized by c). */
static int read_plan(RtReader *r, Counts *c, RtPlan *p)
{
    static const char magic[8] = "VITPLAN";
    if (r->len < 8 || memcmp(r->b, magic, 8) != 0) {
        snprintf(r->err, r->errlen, "not a vitc plan (the magic bytes are missing)");
        return 0;
    }
    r->pos = 8;
    int64_t version = rd_i64(r);
    if (!r->failed && version != RT_PLAN_VERSION) {
        snprintf(r->err, r->errlen, "plan version %" PRId64 " is not %d, the version this runtime reads", version,
                 RT_PLAN_VERSION);
        return 0;
    }
    const char *name = get_str(r, 0);
    int64_t resize = rd_range(r, 0, 1 << 20, "bad resize");
    int64_t crop = rd_range(r, 0, 1 << 20, "bad crop");
    int nmean = rd_count(r, 8, "bad mean count");
    for (int i = 0; i < nmean; i++) {
        double v = rd_f64(r);
        if (p)
            p->mean[i] = v;
    }
    int nstd = rd_count(r, 8, "bad std count");
    for (int i = 0; i < nstd; i++) {
        double v = rd_f64(r);
        if (p)
            p->std[i] = v;
    }
    const char *labels = get_str(r, 1);
    if (p) {
        p->name = (char *)name;
        p->resize = resize;
        p->crop = crop;
        p->labels = (char *)labels;
    }
    c->nmean = nmean;
    c->nstd = nstd;

    int nsyms = rd_count(r, 16, "bad symbol count");
    for (int i = 0; i < nsyms; i++) {
        const char *s = get_str(r, 0);
        int64_t max = rd_range(r, 1, INT32_MAX, "a symbol's maximum is out of range");
        if (p)
            p->syms[i] = (RtSymbol){s, max};
    }
    c->nsyms = nsyms;

    int nbufs = rd_count(r, 56, "bad buffer count");
    for (int i = 0; i < nbufs && !r->failed; i++) {
        RtBuffer b = {0};
        b.kind = (int)rd_range(r, 0, RT_BUF_COUNT - 1, "bad buffer kind");
        b.dtype = (int)rd_range(r, 0, RT_DT_COUNT - 1, "bad dtype");
        b.rank = (int)rd_range(r, 0, RT_MAX_RANK, "bad rank");
        for (int d = 0; d < b.rank && !r->failed; d++) {
            b.dims[d].n = rd_range(r, 0, INT32_MAX, "bad dimension");
            b.dims[d].sym = rd_range(r, -1, (int64_t)nsyms - 1, "bad symbol index");
            if (!r->failed && b.dims[d].sym >= 0 && b.dims[d].n < 1)
                rd_fail(r, "bad symbolic dimension");
        }
        b.name = get_str(r, 1);
        b.first = rd_range(r, -1, INT32_MAX, "bad first kernel");
        b.last = rd_range(r, -1, INT32_MAX, "bad last kernel");
        if (b.kind == RT_BUF_INPUT) {
            b.pack = (int)rd_range(r, 0, RT_PACK_COUNT - 1, "bad pack role");
            b.patch = rd_range(r, 0, 1 << 12, "bad patch size");
            b.channels = rd_range(r, 0, 1 << 12, "bad channel count");
            b.images = rd_range(r, 0, 1 << 20, "bad image count");
        }
        int64_t nbytes = rd_range(r, 0, (int64_t)(r->len - r->pos), "bad data length");
        if (r->failed)
            break;
        if (r->len - r->pos < (uint64_t)nbytes)
            return rd_fail(r, "data runs past the end");
        b.data = r->b + r->pos;
        b.nbytes = (size_t)nbytes;
        r->pos += (size_t)nbytes;
        if (p)
            p->bufs[i] = b;
        if ((b.kind == RT_BUF_INPUT || b.kind == RT_BUF_PARAM || b.kind == RT_BUF_OUTPUT) && !b.name)
            rd_fail(r, "an input, parameter or output has no name");
        if (b.kind != RT_BUF_CONST && nbytes != 0)
            rd_fail(r, "data for a buffer that is not a constant");
    }
    c->nbufs = nbufs;

    int nkernels = rd_count(r, 40, "bad kernel count");
    for (int i = 0; i < nkernels && !r->failed; i++) {
        RtKernel k;
        k.kind = (int)rd_range(r, 0, 255, "bad kernel kind");
        k.once = (int)rd_range(r, 0, 1, "bad once flag");
        k.label = get_str(r, 0);
        k.flops = rd_f64(r);
        k.flops_sym = rd_range(r, -1, (int64_t)nsyms - 1, "bad FLOP symbol");
        if (!r->failed && !(k.flops >= 0 && k.flops < 1e300))
            rd_fail(r, "bad FLOP count");
        if (p)
            p->kernels[i] = k;
    }
    c->nkernels = nkernels;

    int noutputs = rd_count(r, 16, "bad output count");
    for (int i = 0; i < noutputs && !r->failed; i++) {
        const char *s = get_str(r, 0);
        int64_t b = rd_range(r, 0, (int64_t)nbufs - 1, "bad output buffer");
        if (p)
            p->outputs[i] = (RtOutput){s, b};
    }
    c->noutputs = noutputs;
    if (!r->failed && r->pos != r->len)
        rd_fail(r, "trailing bytes");
    return !r->failed;
}

/* What the format cannot say by itself: references between sections, sizes. */
static int check_plan(const RtPlan *p, char *err, size_t errlen)
{
    int64_t *max = malloc(sizeof *max * (size_t)(p->nsyms + 1));
    if (!max) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    for (int s = 0; s < p->nsyms; s++)
        max[s] = p->syms[s].max;
    int ok = 1;
    for (int i = 0; i < p->nbufs && ok; i++) {
        const RtBuffer *b = &p->bufs[i];
        int64_t bytes = rt_buffer_bytes(b, max);
        if (bytes < 0 || bytes > RT_MAX_BUFFER_BYTES) {
            snprintf(err, errlen, "corrupt plan: buffer %d is too large", i);
            ok = 0;
        } else if (b->first >= p->nkernels || b->last >= p->nkernels) {
            snprintf(err, errlen, "corrupt plan: buffer %d names a kernel that does not exist", i);
            ok = 0;
        } else if (b->kind == RT_BUF_CONST && (int64_t)b->nbytes != rt_buffer_bytes(b, max)) {
            snprintf(err, errlen, "corrupt plan: constant %d has %zu bytes of data for %" PRId64, i, b->nbytes, bytes);
            ok = 0;
        }
        for (int d = 0; d < b->rank && ok; d++)
            if ((b->kind == RT_BUF_CONST || b->kind == RT_BUF_PARAM || b->kind == RT_BUF_FOLDED) &&
                b->dims[d].sym >= 0) {
                snprintf(err, errlen, "corrupt plan: buffer %d of a fixed kind has a symbolic size", i);
                ok = 0;
            }
    }
    for (int i = 0; i < p->noutputs && ok; i++)
        if (p->bufs[p->outputs[i].buffer].kind != RT_BUF_OUTPUT) {
            snprintf(err, errlen, "corrupt plan: output '%s' is not an output buffer", p->outputs[i].name);
            ok = 0;
        }
    free(max);
    return ok;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

RtPlan *rt_plan_parse(const void *blob, size_t len, char *err, size_t errlen)
{
    RtReader r = {.b = blob, .len = len, .blob = "plan", .err = err, .errlen = errlen};
    Counts c;
    if (!blob) {
        snprintf(err, errlen, "no plan");
        return NULL;
    }
    if (!read_plan(&r, &c, NULL))
        return NULL;
    size_t sizes[7] = {
        sizeof(RtPlan),
        align8(sizeof(double) * (size_t)c.nmean),
        align8(sizeof(double) * (size_t)c.nstd),
        align8(sizeof(RtSymbol) * (size_t)c.nsyms),
        align8(sizeof(RtBuffer) * (size_t)c.nbufs),
        align8(sizeof(RtKernel) * (size_t)c.nkernels),
        align8(sizeof(RtOutput) * (size_t)c.noutputs),
    };
    size_t total = r.nstrings;
    for (int i = 0; i < 7; i++)
        total += align8(sizes[i]);
    char *mem = calloc(1, total + 1);
    if (!mem) {
        snprintf(err, errlen, "out of memory for the plan");
        return NULL;
    }
    RtPlan *p = (RtPlan *)mem;
    char *q = mem + align8(sizes[0]);
    p->mean = (double *)q, q += sizes[1];
    p->std = (double *)q, q += sizes[2];
    p->syms = (RtSymbol *)q, q += sizes[3];
    p->bufs = (RtBuffer *)q, q += sizes[4];
    p->kernels = (RtKernel *)q, q += sizes[5];
    p->outputs = (RtOutput *)q, q += sizes[6];
    p->mem = mem;
    RtReader r2 = {.b = blob, .len = len, .blob = "plan", .err = err, .errlen = errlen, .strings = q};
    if (!read_plan(&r2, &c, p)) { /* cannot happen: the same bytes parsed once */
        free(mem);
        return NULL;
    }
    p->nmean = c.nmean;
    p->nstd = c.nstd;
    p->nsyms = c.nsyms;
    p->nbufs = c.nbufs;
    p->nkernels = c.nkernels;
    p->noutputs = c.noutputs;
    if (!check_plan(p, err, errlen)) {
        free(mem);
        return NULL;
    }
    return p;
}

void rt_plan_free(RtPlan *p) { free(p ? p->mem : NULL); }
