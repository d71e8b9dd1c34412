/* rt_weights.c — binds the plan's parameters to the tensors of a safetensors file.
 *
 * Every parameter the plan declares is checked: present, a dtype the runtime converts
 * (float parameters read F32, F16 and BF16; integer ones I32, I64 and BOOL), and a shape
 * equal to the stored shape. A tensor already in the parameter's dtype and aligned to its
 * element size is used in place (zero copy from the mapping); any other is converted once
 * into memory of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static int rt_of_st(StDType t)
{
    switch (t) {
    case ST_F32: return RT_DT_F32;
    case ST_F16: return RT_DT_F16;
    case ST_BF16: return RT_DT_BF16;
    case ST_I32: return RT_DT_I32;
    case ST_I64: return RT_DT_I64;
    case ST_BOOL: return RT_DT_BOOL;
    default: return -1;
    }
}

static int is_float(int dt) { return dt == RT_DT_F32 || dt == RT_DT_F16 || dt == RT_DT_BF16; }

static float to_f32(const unsigned char *p, int dt)
{
    uint16_t h;
    float f;
    switch (dt) {
    case RT_DT_F32: memcpy(&f, p, 4); return f;
    case RT_DT_F16: memcpy(&h, p, 2); return st_f16_to_f32(h);
    case RT_DT_BF16: memcpy(&h, p, 2); return st_bf16_to_f32(h);
    default: return 0;
    }
}

static int64_t to_i64(const unsigned char *p, int dt)
{
    int32_t i32;
    int64_t i64;
    switch (dt) {
    case RT_DT_I32: memcpy(&i32, p, 4); return i32;
    case RT_DT_I64: memcpy(&i64, p, 8); return i64;
    case RT_DT_BOOL: return p[0] != 0;
    default: return (int64_t)to_f32(p, dt);
    }
}

void rt_convert(void *dst, int ddt, const void *src, int sdt, int64_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    size_t ds = rt_dtype_size(ddt), ss = rt_dtype_size(sdt);
    if (ddt == sdt) {
        memcpy(dst, src, (size_t)n * ds);
        return;
    }
    for (int64_t i = 0; i < n; i++, d += ds, s += ss) {
        if (is_float(ddt)) {
            float f = is_float(sdt) ? to_f32(s, sdt) : (float)to_i64(s, sdt);
            uint16_t h;
            if (ddt == RT_DT_F32) {
                memcpy(d, &f, 4);
            } else {
                h = ddt == RT_DT_F16 ? st_f32_to_f16(f) : st_f32_to_bf16(f);
                memcpy(d, &h, 2);
            }
        } else {
            int64_t v = to_i64(s, sdt);
            int32_t v32 = (int32_t)v;
            if (ddt == RT_DT_I64)
                memcpy(d, &v, 8);
            else if (ddt == RT_DT_I32)
                memcpy(d, &v32, 4);
            else
                d[0] = v != 0;
        }
    }
}

static void fmt_shape(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? "," : "", dims[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static int bind_one(const RtPlan *p, const RtBuffer *b, const StFile *f, const char *what, char **slot,
                    void **owned, char *err, size_t errlen)
{
    char want[256], got[256];
    rt_format_type(p, b, want, sizeof want);
    const StTensor *t = st_find(f, b->name);
    if (!t) {
        snprintf(err, errlen, "%s has no tensor '%s' (the model needs %s: %s)", what, b->name, b->name, want);
        return -1;
    }
    int dt = rt_of_st(t->dtype);
    if (dt < 0 || is_float(dt) != is_float(b->dtype)) {
        snprintf(err, errlen, "tensor '%s' has dtype %s but the model needs %s (%s)", b->name,
                 st_dtype_name(t->dtype), want,
                 is_float(b->dtype) ? "F32, F16 or BF16 are read" : "I32, I64 or BOOL are read");
        return -1;
    }
    int same = t->rank == b->rank;
    int64_t numel = 1;
    for (int i = 0; i < b->rank && same; i++) {
        same = t->shape[i] == b->dims[i].n;
        numel *= b->dims[i].n;
    }
    if (!same) {
        int64_t dims[RT_MAX_RANK];
        for (int i = 0; i < b->rank; i++)
            dims[i] = b->dims[i].n;
        fmt_shape(t->shape, t->rank, got, sizeof got);
        fmt_shape(dims, b->rank, want, sizeof want);
        snprintf(err, errlen, "tensor '%s' has shape %s but the model needs %s", b->name, got, want);
        return -1;
    }
    size_t size = rt_dtype_size(b->dtype);
    if (dt == b->dtype && (uintptr_t)t->data % size == 0) {
        *slot = (char *)t->data; /* in place: the mapping outlives the model's use of it */
        return 0;
    }
    void *mem = NULL;
    size_t bytes = (size_t)numel * size;
    if (posix_memalign(&mem, RT_ALIGN, bytes ? bytes : RT_ALIGN) != 0) {
        snprintf(err, errlen, "out of memory for tensor '%s' (%zu bytes)", b->name, bytes);
        return -1;
    }
    rt_convert(mem, b->dtype, t->data, dt, numel);
    *owned = mem;
    *slot = mem;
    return 0;
}

int rt_bind_params(const RtPlan *p, const StFile *f, const char *what, char **bufs, void **owned, char *err,
                   size_t errlen)
{
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].kind == RT_BUF_PARAM &&
            bind_one(p, &p->bufs[i], f, what, &bufs[i], &owned[i], err, errlen) != 0)
            return -1;
    return 0;
}
