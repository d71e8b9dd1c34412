/* rt_navit.c — the NaViT packer: images of any size into packed sequences (docs/NAVIT.md).
 *
 * A NaViT model takes one sequence of T tokens through inputs whose pack role the plan
 * records (patches f32[T, P·P·C], seg, row, col, height, width i32[T]) and gives one output
 * row per image slot (S slots). vit_run (rt_model.c) asks this file to
 *   1. give each image a patch grid gh × gw (rt_navit_grid): both sides rounded up to
 *      multiples of P (NaFlex); over T patches, the largest grid at the image's aspect
 *      ratio that fits; or, with resizing off, the image's own grid or an error;
 *   2. pack them greedily in input order (rt_navit_plan): an image goes into the current
 *      sequence when its tokens and a slot fit there, else it opens the next sequence;
 *   3. write each sequence into the input buffers (rt_navit_fill): the image resized to
 *      gh·P × gw·P pixels when it is not that size already (rt_resize), its patches in
 *      row-major grid order, each flattened in (row in patch, column in patch, channel)
 *      order, seg = the slot, row/col = the patch coordinates, height/width = gh/gw; then
 *      the padding: zero pixels, seg −1, row = col = 0, height = width = 1.
 * The runtime then runs the kernels once per sequence and copies row `slot` of every
 * output to the image's place in `out`.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vitrt.h"
#include "rt_internal.h"

#define MAX_SIDE (1 << 20)          /* pixels per side of an image */
#define MAX_PIXELS ((int64_t)1 << 28) /* pixels per image */
#define MAX_TOKENS ((int64_t)1 << 24)

static const char *const role_names[RT_PACK_COUNT] = {"none", "patches", "seg", "row", "col", "height", "width"};

/* ---- the model's packed inputs ---- */

static int fixed_shape(const RtBuffer *b)
{
    for (int d = 0; d < b->rank; d++)
        if (b->dims[d].sym >= 0)
            return 0;
    return 1;
}

int rt_navit_layout(const RtPlan *p, RtNavit *nv, char *err, size_t errlen)
{
    int packed = -1, plain = -1;
    memset(nv, 0, sizeof *nv);
    for (int r = 0; r < RT_PACK_COUNT; r++)
        nv->buf[r] = -1;
    for (int i = 0; i < p->nbufs; i++) {
        const RtBuffer *b = &p->bufs[i];
        if (b->kind != RT_BUF_INPUT)
            continue;
        if (b->pack == RT_PACK_NONE) {
            plain = i;
            continue;
        }
        packed = i;
        if (nv->buf[b->pack] >= 0)
            return rt_errf(err, errlen, "the model has two packed inputs of role '%s' ('%s', '%s')",
                           role_names[b->pack], p->bufs[nv->buf[b->pack]].name, b->name);
        nv->buf[b->pack] = i;
    }
    if (packed < 0)
        return 0;
    if (plain >= 0)
        return rt_errf(err, errlen, "the model has packed inputs ('%s') and an ordinary one ('%s'); a NaViT model's "
                       "inputs all have a pack role", p->bufs[packed].name, p->bufs[plain].name);
    char ty[256];
    int pi = nv->buf[RT_PACK_PATCHES];
    if (pi < 0 || nv->buf[RT_PACK_SEG] < 0)
        return rt_errf(err, errlen, "the model has packed inputs but no '%s' input", pi < 0 ? "patches" : "seg");
    const RtBuffer *pb = &p->bufs[pi];
    rt_format_type(p, pb, ty, sizeof ty);
    if (pb->rank != 2 || !fixed_shape(pb) || pb->dtype > RT_DT_BF16 || pb->dims[0].n < 1 ||
        pb->dims[0].n > MAX_TOKENS)
        return rt_errf(err, errlen, "the packed input '%s' is %s, not patches [T, P*P*C] of floats with a fixed T",
                       pb->name, ty);
    if (pb->patch < 1 || pb->channels < 1 || pb->images < 1)
        return rt_errf(err, errlen, "the packed input '%s' does not say its patch size, channels and images (patch = "
                       "%" PRId64 ", channels = %" PRId64 ", images = %" PRId64 ")", pb->name, pb->patch, pb->channels,
                       pb->images);
    if (pb->dims[1].n != pb->patch * pb->patch * pb->channels)
        return rt_errf(err, errlen, "the packed input '%s' is %s but patch = %" PRId64 " and channels = %" PRId64
                       " make %" PRId64 " values per token", pb->name, ty, pb->patch, pb->channels,
                       pb->patch * pb->patch * pb->channels);
    nv->tokens = pb->dims[0].n;
    nv->patch = (int)pb->patch;
    nv->channels = (int)pb->channels;
    nv->images = (int)pb->images;
    for (int r = RT_PACK_SEG; r < RT_PACK_COUNT; r++) {
        if (nv->buf[r] < 0)
            continue;
        const RtBuffer *b = &p->bufs[nv->buf[r]];
        rt_format_type(p, b, ty, sizeof ty);
        if (b->rank != 1 || !fixed_shape(b) || b->dims[0].n != nv->tokens || b->dtype == RT_DT_BOOL)
            return rt_errf(err, errlen, "the packed input '%s' (%s) is %s, not [%" PRId64 "] numbers, one per token",
                           b->name, role_names[r], ty, nv->tokens);
    }
    for (int i = 0; i < p->nbufs; i++)
        for (int d = 0; d < p->bufs[i].rank; d++)
            if (p->bufs[i].dims[d].sym >= 0)
                return rt_errf(err, errlen, "the NaViT model has a size '%s' that its packed sequence does not fix",
                               p->syms[p->bufs[i].dims[d].sym].name);
    for (int o = 0; o < p->noutputs; o++) {
        const RtBuffer *b = &p->bufs[p->outputs[o].buffer];
        if (b->rank < 1 || b->dims[0].n != nv->images) {
            rt_format_type(p, b, ty, sizeof ty);
            return rt_errf(err, errlen, "output '%s' (%s) has no row per image slot (a sequence holds %d images)",
                           p->outputs[o].name, ty, nv->images);
        }
    }
    return 1;
}

/* ---- grids and packing ---- */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int rt_navit_grid(const RtNavit *nv, int h, int w, int resize, int *gh, int *gw)
{
    int64_t P = nv->patch, T = nv->tokens;
    if (h < 1 || w < 1 || P < 1)
        return -1;
    if (!resize) {
        if (h % P || w % P || (h / P) * (w / P) > T)
            return -1;
        *gh = (int)(h / P);
        *gw = (int)(w / P);
        return 0;
    }
    int64_t a0 = ceil_div(h, P), b0 = ceil_div(w, P);
    if (a0 * b0 <= T) {
        *gh = (int)a0;
        *gw = (int)b0;
        return 0;
    }
    /* The grid at scale s is (⌈h·s/P⌉, ⌈w·s/P⌉), each at least 1: non-decreasing in s and
     * constant between the breakpoints s = a·P/h and s = b·P/w, so the largest s whose
     * grid fits is a breakpoint. At s = a·P/h the grid is (a, ⌈w·a/h⌉), at s = b·P/w it is
     * (⌈h·b/w⌉, b); compare scales a/h against b/w exactly, in integers. */
    int64_t best_num = 0, best_den = 1, bh = 1, bw = 1; /* s → 0: one patch */
    for (int64_t a = 1; a <= a0 && a <= T; a++) {
        int64_t b = ceil_div(w * a, h);
        b = b < 1 ? 1 : b;
        if (a * b <= T && a * best_den > best_num * h)
            best_num = a, best_den = h, bh = a, bw = b;
    }
    for (int64_t b = 1; b <= b0 && b <= T; b++) {
        int64_t a = ceil_div(h * b, w);
        a = a < 1 ? 1 : a;
        if (a * b <= T && b * best_den > best_num * w)
            best_num = b, best_den = w, bh = a, bw = b;
    }
    *gh = (int)bh;
    *gw = (int)bw;
    return 0;
}

int rt_navit_plan(const RtNavit *nv, const vit_image *ims, int n, int resize, RtNavitItem *items, int *nseq,
                  char *err, size_t errlen)
{
    int seq = 0, slot = 0;
    int64_t used = 0;
    *nseq = 0;
    for (int i = 0; i < n; i++) {
        const vit_image *im = &ims[i];
        if (im->channels != nv->channels)
            return rt_errf(err, errlen, "image %d has %d channels but the model takes %d", i, im->channels,
                           nv->channels);
        if (im->height < 1 || im->width < 1 || im->height > MAX_SIDE || im->width > MAX_SIDE ||
            (int64_t)im->height * im->width > MAX_PIXELS)
            return rt_errf(err, errlen,
                           "image %d is %dx%d pixels (height x width); the model takes 1x1 to %dx%d, at most "
                           "%" PRId64 " pixels", i, im->height, im->width, MAX_SIDE, MAX_SIDE, MAX_PIXELS);
        if (!im->pixels)
            return rt_errf(err, errlen, "image %d has no pixels", i);
        int gh, gw, P = nv->patch;
        if (rt_navit_grid(nv, im->height, im->width, resize, &gh, &gw) != 0) {
            if (im->height % P || im->width % P)
                return rt_errf(err, errlen, "image %d is %dx%d pixels (height x width), not whole %dx%d patches, and "
                               "resizing is off (vit_set_option \"resize\")", i, im->height, im->width, P, P);
            return rt_errf(err, errlen,
                           "image %d is %dx%d pixels (height x width): %dx%d = %" PRId64 " patches of %dx%d, "
                           "more than the %" PRId64 " tokens of a sequence, and resizing is off (vit_set_option "
                           "\"resize\")", i, im->height, im->width, im->height / P, im->width / P,
                           (int64_t)(im->height / P) * (im->width / P), P, P, nv->tokens);
        }
        int64_t k = (int64_t)gh * gw;
        if (i > 0 && (used + k > nv->tokens || slot == nv->images)) {
            seq++;
            slot = 0;
            used = 0;
        }
        items[i] = (RtNavitItem){gh, gw, seq, slot, used};
        used += k;
        slot++;
    }
    *nseq = n ? seq + 1 : 0;
    return 0;
}

/* ---- writing a sequence ---- */

static void put_int(char *const *bufs, const RtPlan *p, const RtNavit *nv, int role, int64_t t, int32_t v)
{
    int b = nv->buf[role];
    if (b < 0)
        return;
    int dt = p->bufs[b].dtype;
    rt_convert(bufs[b] + (size_t)t * rt_dtype_size(dt), dt, &v, RT_DT_I32, 1);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

int rt_navit_fill(const RtNavit *nv, const RtPlan *p, char *const *bufs, const vit_image *ims,
                  const RtNavitItem *items, int n, int seq, int poison, float *scratch)
{
    const int P = nv->patch, C = nv->channels;
    const size_t per = (size_t)P * P * C;
    const int pb = nv->buf[RT_PACK_PATCHES], pdt = p->bufs[pb].dtype;
    const size_t esize = rt_dtype_size(pdt);
    float *row = malloc(per * sizeof *row);
    if (!row)
        return -1;
    int64_t used = 0;
    int maxh = 1, maxw = 1;
    for (int i = 0; i < n; i++) {
        const RtNavitItem *it = &items[i];
        if (it->seq != seq)
            continue;
        const vit_image *im = &ims[i];
        const float *src = im->pixels;
        int H = it->gh * P, W = it->gw * P;
        if (im->height != H || im->width != W) {
            if (rt_resize(im->pixels, im->height, im->width, C, scratch, H, W) != 0) {
                free(row);
                return -1;
            }
            src = scratch;
        }
        for (int r = 0; r < it->gh; r++)
            for (int q = 0; q < it->gw; q++) {
                int64_t t = it->start + (int64_t)r * it->gw + q;
                for (int y = 0; y < P; y++)
                    memcpy(row + (size_t)y * P * C, src + ((size_t)(r * P + y) * W + (size_t)q * P) * C,
                           (size_t)P * C * sizeof *row);
                rt_convert(bufs[pb] + (size_t)t * per * esize, pdt, row, RT_DT_F32, (int64_t)per);
                put_int(bufs, p, nv, RT_PACK_SEG, t, it->slot);
                put_int(bufs, p, nv, RT_PACK_ROW, t, r);
                put_int(bufs, p, nv, RT_PACK_COL, t, q);
                put_int(bufs, p, nv, RT_PACK_HEIGHT, t, it->gh);
                put_int(bufs, p, nv, RT_PACK_WIDTH, t, it->gw);
            }
        used = it->start + (int64_t)it->gh * it->gw;
        maxh = it->gh > maxh ? it->gh : maxh;
        maxw = it->gw > maxw ? it->gw : maxw;
    }
    uint32_t s = 0x9e3779b9u ^ (uint32_t)seq;
    for (int64_t t = used; t < nv->tokens; t++) {
        if (!poison) {
            memset(row, 0, per * sizeof *row);
        } else {
            for (size_t j = 0; j < per; j++)
                row[j] = poison == 2 ? NAN : ((float)lcg(&s) / (1 << 24) - 0.5f) * 2000.0f;
        }
        rt_convert(bufs[pb] + (size_t)t * per * esize, pdt, row, RT_DT_F32, (int64_t)per);
        put_int(bufs, p, nv, RT_PACK_SEG, t, -1);
        put_int(bufs, p, nv, RT_PACK_ROW, t, poison ? (int32_t)(lcg(&s) % (uint32_t)maxh) : 0);
        put_int(bufs, p, nv, RT_PACK_COL, t, poison ? (int32_t)(lcg(&s) % (uint32_t)maxw) : 0);
        put_int(bufs, p, nv, RT_PACK_HEIGHT, t, poison ? 1 + (int32_t)(lcg(&s) % (uint32_t)maxh) : 1);
        put_int(bufs, p, nv, RT_PACK_WIDTH, t, poison ? 1 + (int32_t)(lcg(&s) % (uint32_t)maxw) : 1);
    }
    free(row);
    return 0;
}

/* ---- resizing ---- */

/* PIL's BILINEAR coefficients for `n` output samples from offset `off` of `in` samples
 * scaled to `scaled`: per output sample a window start, length and normalised weights. */
typedef struct {
    int *start, *len;
    double *w; /* out × maxlen */
    int maxlen;
} Coeffs;

static int coeffs(int in, int scaled, int off, int n, Coeffs *k)
{
    double scale = (double)in / scaled, fscale = scale > 1 ? scale : 1, support = fscale;
    k->maxlen = (int)ceil(support) * 2 + 1;
    k->start = malloc((size_t)n * sizeof *k->start);
    k->len = malloc((size_t)n * sizeof *k->len);
    k->w = malloc((size_t)n * (size_t)k->maxlen * sizeof *k->w);
    if (!k->start || !k->len || !k->w)
        return -1;
    for (int i = 0; i < n; i++) {
        double center = (i + off + 0.5) * scale, sum = 0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        if (hi - lo > k->maxlen)
            hi = lo + k->maxlen;
        double *w = k->w + (size_t)i * k->maxlen;
        for (int j = lo; j < hi; j++) {
            double t = fabs((j - center + 0.5) / fscale);
            w[j - lo] = t < 1 ? 1 - t : 0;
            sum += w[j - lo];
        }
        for (int j = lo; j < hi; j++)
            w[j - lo] = sum != 0 ? w[j - lo] / sum : 0;
        k->start[i] = lo;
        k->len[i] = hi - lo;
    }
    return 0;
}

static void coeffs_free(Coeffs *k)
{
    free(k->start);
    free(k->len);
    free(k->w);
}

int rt_resize(const float *src, int h, int w, int c, float *dst, int oh, int ow)
{
    return rt_resize_crop(src, h, w, c, oh, ow, 0, 0, dst, oh, ow);
}

int rt_resize_crop(const float *src, int h, int w, int c, int sh, int sw, int oy, int ox, float *dst, int oh, int ow)
{
    Coeffs kx = {0}, ky = {0};
    float *tmp = malloc((size_t)h * ow * c * sizeof *tmp);
    int ok = tmp && coeffs(w, sw, ox, ow, &kx) == 0 && coeffs(h, sh, oy, oh, &ky) == 0;
    if (ok) {
        for (int y = 0; y < h; y++) /* horizontal pass */
            for (int x = 0; x < ow; x++) {
                const double *wt = kx.w + (size_t)x * kx.maxlen;
                for (int ch = 0; ch < c; ch++) {
                    double acc = 0;
                    for (int j = 0; j < kx.len[x]; j++)
                        acc += wt[j] * src[((size_t)y * w + kx.start[x] + j) * c + ch];
                    tmp[((size_t)y * ow + x) * c + ch] = (float)acc;
                }
            }
        for (int y = 0; y < oh; y++) /* vertical pass */
            for (int x = 0; x < ow; x++) {
                const double *wt = ky.w + (size_t)y * ky.maxlen;
                for (int ch = 0; ch < c; ch++) {
                    double acc = 0;
                    for (int j = 0; j < ky.len[y]; j++)
                        acc += wt[j] * tmp[((size_t)(ky.start[y] + j) * ow + x) * c + ch];
                    dst[((size_t)y * ow + x) * c + ch] = (float)acc;
                }
            }
    }
    coeffs_free(&kx);
    coeffs_free(&ky);
    free(tmp);
    return ok ? 0 : -1;
}
