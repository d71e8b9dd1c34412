/* st_write.c — the safetensors writer, byte for byte what the reference writer (the
 * Python `safetensors` package) produces:
 *
 *   - tensors sorted by dtype, highest first in the order of ST_DTYPES (the reference's
 *     enum order, which keeps wider types first), then by name (bytewise); their data
 *     packed in that order with no gaps;
 *   - the header: compact JSON, "__metadata__" first when there is any, each entry as
 *     {"dtype":..,"shape":[..],"data_offsets":[b,e]}, strings escaped as serde_json does
 *     (\" \\ \b \f \n \r \t, other control characters as \u00xx, the rest raw UTF-8);
 *   - padded with spaces to a multiple of 8 bytes.
 * The reference keeps metadata in a hash map, so its key order varies from run to run;
 * we sort keys, which is one of the orders it produces.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_file.h"
#include "safetensors.h"
#include "st_json.h"

typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} Buf;

static void put(Buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_json_string(Buf *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;
        char tmp[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                esc = tmp;
            }
        }
        if (esc)
            puts_(b, esc);
        else
            put(b, (const char *)&c, 1);
    }
    put(b, "\"", 1);
}

static void put_int(Buf *b, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    puts_(b, tmp);
}

static bool valid_text(const char *s) { return json_utf8_invalid_at((const unsigned char *)s, strlen(s)) == strlen(s); }

static int cmp_layout(const void *a, const void *b)
{
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->dtype != y->dtype)
        return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define FAIL(...)                                   \
    do {                                            \
        snprintf(err, errlen, __VA_ARGS__);         \
        goto fail;                                  \
    } while (0)

/* Checks one tensor: a valid name, dtype and rank, and nbytes = prod(shape) × size. */
static bool check_tensor(const StTensor *t, char *err, size_t errlen)
{
    if (!t->name || !valid_text(t->name)) {
        snprintf(err, errlen, "a tensor name is missing or not valid UTF-8");
        return false;
    }
    if (strcmp(t->name, "__metadata__") == 0) {
        snprintf(err, errlen, "a tensor cannot be named '__metadata__'");
        return false;
    }
    if ((unsigned)t->dtype >= ST_DTYPE_COUNT || t->rank < 0 || t->rank > ST_MAX_RANK) {
        snprintf(err, errlen, "tensor '%s': invalid dtype or rank", t->name);
        return false;
    }
    uint64_t need = st_dtype_size(t->dtype);
    bool zero = false, overflow = false;
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0) {
            snprintf(err, errlen, "tensor '%s': negative dimension %" PRId64, t->name, t->shape[i]);
            return false;
        }
        zero |= t->shape[i] == 0;
    }
    for (int i = 0; i < t->rank && !zero; i++) {
        if (need > UINT64_MAX / (uint64_t)t->shape[i])
            overflow = true;
        need *= (uint64_t)t->shape[i];
    }
    if (zero)
        need = 0;
    if (overflow || need != t->nbytes || (need && !t->data)) {
        snprintf(err, errlen, "tensor '%s': %zu bytes of data do not match its shape and dtype %s", t->name,
                 t->nbytes, st_dtype_name(t->dtype));
        return false;
    }
    return true;
}

int st_write(const char *path, const StTensor *tensors, int n, const char *const *meta, int nmeta,
             char *err, size_t errlen)
{
    const StTensor **order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    const char **keys = malloc((size_t)(nmeta > 0 ? 2 * nmeta : 1) * sizeof *keys);
    Buf h = {0};
    RtOut out = {0}; /* zero: nothing to discard */
    if (!order || !keys)
        FAIL("out of memory");
    if (n < 0 || nmeta < 0)
        FAIL("invalid tensor or metadata count");

    for (int i = 0; i < n; i++) {
        if (!check_tensor(&tensors[i], err, errlen))
            goto fail;
        order[i] = &tensors[i];
    }
    qsort(order, (size_t)n, sizeof *order, cmp_name);
    for (int i = 1; i < n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            FAIL("tensor '%s' is given twice", order[i]->name);
    qsort(order, (size_t)n, sizeof *order, cmp_layout);

    for (int i = 0; i < nmeta; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1] || !valid_text(meta[2 * i]) || !valid_text(meta[2 * i + 1]))
            FAIL("a metadata key or value is missing or not valid UTF-8");
        keys[2 * i] = meta[2 * i];
        keys[2 * i + 1] = meta[2 * i + 1];
    }
    qsort(keys, (size_t)nmeta, 2 * sizeof *keys, cmp_meta);
    for (int i = 1; i < nmeta; i++)
        if (strcmp(keys[2 * i - 2], keys[2 * i]) == 0)
            FAIL("metadata key '%s' is given twice", keys[2 * i]);

    puts_(&h, "{");
    if (nmeta) {
        puts_(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i)
                puts_(&h, ",");
            put_json_string(&h, keys[2 * i]);
            puts_(&h, ":");
            put_json_string(&h, keys[2 * i + 1]);
        }
        puts_(&h, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const StTensor *t = order[i];
        if (nmeta || i)
            puts_(&h, ",");
        put_json_string(&h, t->name);
        puts_(&h, ":{\"dtype\":");
        put_json_string(&h, st_dtype_name(t->dtype));
        puts_(&h, ",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d)
                puts_(&h, ",");
            put_int(&h, (uint64_t)t->shape[d]);
        }
        puts_(&h, "],\"data_offsets\":[");
        put_int(&h, at);
        puts_(&h, ",");
        put_int(&h, at + t->nbytes);
        puts_(&h, "]}");
        at += t->nbytes;
    }
    puts_(&h, "}");
    while (!h.oom && h.n % 8)
        puts_(&h, " ");
    if (h.oom)
        FAIL("out of memory");

    char why[256]; /* whole or not at all, a device in place (rt_file.h) */
    if (!rt_out_open(&out, path, 0666, why, sizeof why))
        FAIL("cannot create '%s': %s", path, why);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    rt_out_write(&out, len, 8);
    rt_out_write(&out, h.s, h.n);
    for (int i = 0; i < n; i++)
        rt_out_write(&out, order[i]->data, order[i]->nbytes);
    if (!rt_out_close(&out, why, sizeof why))
        FAIL("cannot write '%s': %s", path, why);
    free(order);
    free(keys);
    free(h.s);
    return 0;

fail:
    rt_out_discard(&out);
    free(order);
    free(keys);
    free(h.s);
    return -1;
}
