/* safetensors.c — the validating reader (see safetensors.h and MODELS.md §9.4).
 *
 * The file is mapped read-only; tensors point into the mapping. The header is parsed by
 * the schema it must follow (st_json.h), and then the byte ranges are checked to tile the
 * data exactly. Tensors are kept in file order: by data offset (ties, which only
 * zero-sized tensors can make, in header order). A second index sorted by name serves
 * st_find and detects duplicates.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "st_json.h"

#define ST_MAX_HEADER 100000000u

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
#define ST_ENTRY(name, size) {#name, size},
    ST_DTYPES(ST_ENTRY)
#undef ST_ENTRY
};

const char *st_dtype_name(StDType t) { return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : "?"; }
size_t st_dtype_size(StDType t) { return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0; }

int st_dtype_from_name(const char *name, size_t len, StDType *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, name, len) == 0) {
            *out = (StDType)i;
            return 1;
        }
    return 0;
}

struct StFile {
    void *map; /* the mmap of st_open, or NULL */
    size_t maplen;
    char *strings; /* decoded names and metadata, NUL-terminated */
    StTensor *tensors;
    int n;
    const StTensor **by_name; /* the tensors sorted by name */
    const char **meta; /* key, value, key, value, ... */
    int nmeta;
};

/* What the header parser collects per tensor before the tiling check. */
typedef struct {
    uint64_t begin, end;
    int order; /* position in the header */
} Range;

typedef struct {
    JsonCur cur;
    StFile *f;
    char *sbuf; /* decoding area */
    size_t sused;
    Range *ranges;
    int cap;
    const unsigned char *data; /* the byte buffer after the header */
    size_t datalen;
} Parser;

#define FAIL(p, ...)                                           \
    do {                                                       \
        snprintf((p)->cur.err, (p)->cur.errlen, __VA_ARGS__);  \
        return false;                                          \
    } while (0)

/* A string decoded into the string area; *out points at it. */
static bool read_string(Parser *p, const char **out, size_t *len)
{
    char *buf = p->sbuf + p->sused;
    size_t n;
    if (!json_string(&p->cur, buf, &n))
        return false;
    p->sused += n + 1;
    *out = buf;
    if (len)
        *len = n;
    return true;
}

/* A value must follow: at the end of the header that is a syntax error, not a type error. */
#define NEED_VALUE(p, ch)                                            \
    do {                                                             \
        if ((ch) == 0)                                               \
            return json_fail(&(p)->cur, "unexpected end of the header"); \
    } while (0)

static bool read_uint(Parser *p, const char *tname, const char *what, uint64_t *out)
{
    JsonNum num;
    char ch = json_peek(&p->cur);
    NEED_VALUE(p, ch);
    if (ch != '-' && !(ch >= '0' && ch <= '9'))
        FAIL(p, "tensor '%s': %s must be a non-negative integer, not %s", tname, what, json_kind_name(ch));
    if (!json_number(&p->cur, &num))
        return false;
    if (num.kind == JN_FRACTION)
        FAIL(p, "tensor '%s': %s %.*s is not an integer", tname, what, (int)num.len, num.text);
    if (num.text[0] == '-')
        FAIL(p, "tensor '%s': %s %.*s is negative", tname, what, (int)num.len, num.text);
    if (num.kind == JN_BIG)
        FAIL(p, "tensor '%s': %s %.*s is too large", tname, what, (int)num.len, num.text);
    *out = (uint64_t)num.v;
    return true;
}

/* "[a, b, ...]" of non-negative integers, at most max of them. */
static bool read_uint_list(Parser *p, const char *tname, const char *field, uint64_t *v, int max, int *count)
{
    char ch = json_peek(&p->cur);
    NEED_VALUE(p, ch);
    if (ch != '[')
        FAIL(p, "tensor '%s': %s must be an array of non-negative integers, not %s", tname, field,
             json_kind_name(ch));
    p->cur.pos++;
    *count = 0;
    if (json_peek(&p->cur) == ']') {
        p->cur.pos++;
        return true;
    }
    for (;;) {
        char what[64];
        snprintf(what, sizeof what, "%s entry", field);
        if (*count == max) {
            if (max == 2)
                FAIL(p, "tensor '%s': data_offsets must have exactly two entries [begin, end]", tname);
            FAIL(p, "tensor '%s': shape has more than %d dimensions (at most %d are supported)", tname,
                 ST_MAX_RANK, ST_MAX_RANK);
        }
        if (!read_uint(p, tname, what, &v[(*count)++]))
            return false;
        ch = json_peek(&p->cur);
        if (ch == ']') {
            p->cur.pos++;
            return true;
        }
        if (!json_expect(&p->cur, ',', "',' or ']' in an array"))
            return false;
    }
}

static void fmt_shape(const StTensor *t, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->rank && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, i ? "," : "", t->shape[i]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} for the tensor named `name`. */
static bool read_entry(Parser *p, const char *name, StTensor *t, Range *r)
{
    enum { F_DTYPE = 1, F_SHAPE = 2, F_OFFSETS = 4 };
    unsigned seen = 0;
    uint64_t shape[ST_MAX_RANK], off[2];
    char ch = json_peek(&p->cur);
    NEED_VALUE(p, ch);
    if (ch != '{')
        FAIL(p, "tensor '%s': its entry must be an object with dtype, shape and data_offsets, not %s", name,
             json_kind_name(ch));
    p->cur.pos++;
    bool first = true;
    for (;;) {
        ch = json_peek(&p->cur);
        if (ch == '}' && first) {
            p->cur.pos++;
            break;
        }
        if (ch != '"')
            return json_fail(&p->cur, first ? "expected a string key or '}'" : "expected a string key");
        size_t mark = p->sused;
        const char *key;
        if (!read_string(p, &key, NULL) || !json_expect(&p->cur, ':', "':' after an object key"))
            return false;
        unsigned field = strcmp(key, "dtype") == 0 ? F_DTYPE
                         : strcmp(key, "shape") == 0 ? F_SHAPE
                         : strcmp(key, "data_offsets") == 0 ? F_OFFSETS : 0;
        if (!field)
            FAIL(p, "tensor '%s': unknown field \"%s\" (an entry has only dtype, shape and data_offsets)", name,
                 key);
        if (seen & field)
            FAIL(p, "tensor '%s': field \"%s\" appears twice", name, key);
        seen |= field;
        p->sused = mark;
        if (field == F_DTYPE) {
            const char *dt;
            size_t len;
            ch = json_peek(&p->cur);
            NEED_VALUE(p, ch);
            if (ch != '"')
                FAIL(p, "tensor '%s': dtype must be a string, not %s", name, json_kind_name(ch));
            if (!read_string(p, &dt, &len))
                return false;
            if (!st_dtype_from_name(dt, len, &t->dtype))
                FAIL(p, "tensor '%s': unknown dtype \"%s\"", name, dt);
            p->sused = mark;
        } else if (field == F_SHAPE) {
            if (!read_uint_list(p, name, "shape", shape, ST_MAX_RANK, &t->rank))
                return false;
            for (int i = 0; i < t->rank; i++) {
                if (shape[i] > INT64_MAX)
                    FAIL(p, "tensor '%s': shape entry %" PRIu64 " is too large", name, shape[i]);
                t->shape[i] = (int64_t)shape[i];
            }
        } else {
            int count;
            if (!read_uint_list(p, name, "data_offsets", off, 2, &count))
                return false;
            if (count != 2)
                FAIL(p, "tensor '%s': data_offsets must have exactly two entries [begin, end]", name);
            if (off[0] > off[1])
                FAIL(p, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", name,
                     off[0], off[1]);
            r->begin = off[0];
            r->end = off[1];
        }
        first = false;
        ch = json_peek(&p->cur);
        if (ch == '}') {
            p->cur.pos++;
            break;
        }
        if (!json_expect(&p->cur, ',', "',' or '}' in an object"))
            return false;
    }
    static const char *const names[] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!(seen & 1u << i))
            FAIL(p, "tensor '%s': missing field \"%s\"", name, names[i]);

    /* the byte count the shape needs, with overflow checks */
    uint64_t need = st_dtype_size(t->dtype);
    bool overflow = false;
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] == 0)
            need = 0;
    for (int i = 0; i < t->rank && need; i++) {
        uint64_t d = (uint64_t)t->shape[i];
        if (need > UINT64_MAX / d)
            overflow = true;
        need *= d;
    }
    char sh[256];
    fmt_shape(t, sh, sizeof sh);
    if (overflow || need > SIZE_MAX)
        FAIL(p, "tensor '%s': shape %s of %s is too large (its byte count overflows)", name, sh,
             st_dtype_name(t->dtype));
    if (r->end - r->begin != need)
        FAIL(p,
             "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64 " bytes but shape %s of %s needs %" PRIu64,
             name, r->begin, r->end, r->end - r->begin, sh, st_dtype_name(t->dtype), need);
    t->nbytes = (size_t)need;
    return true;
}

/* "__metadata__": {"key": "value", ...} */
static bool read_metadata(Parser *p)
{
    char ch = json_peek(&p->cur);
    NEED_VALUE(p, ch);
    if (ch != '{')
        FAIL(p, "__metadata__ must be an object mapping strings to strings, not %s", json_kind_name(ch));
    p->cur.pos++;
    bool first = true;
    for (;;) {
        ch = json_peek(&p->cur);
        if (ch == '}' && first) {
            p->cur.pos++;
            return true;
        }
        if (ch != '"')
            return json_fail(&p->cur, first ? "expected a string key or '}'" : "expected a string key");
        const char *key, *val;
        if (!read_string(p, &key, NULL) || !json_expect(&p->cur, ':', "':' after an object key"))
            return false;
        ch = json_peek(&p->cur);
        NEED_VALUE(p, ch);
        if (ch != '"')
            FAIL(p, "__metadata__ value of \"%s\" must be a string, not %s", key, json_kind_name(ch));
        if (!read_string(p, &val, NULL))
            return false;
        for (int i = 0; i < p->f->nmeta; i++)
            if (strcmp(p->f->meta[2 * i], key) == 0)
                FAIL(p, "__metadata__ has the key \"%s\" twice", key);
        const char **m = realloc(p->f->meta, (size_t)(p->f->nmeta + 1) * 2 * sizeof *m);
        if (!m)
            FAIL(p, "out of memory");
        p->f->meta = m;
        m[2 * p->f->nmeta] = key;
        m[2 * p->f->nmeta + 1] = val;
        p->f->nmeta++;
        first = false;
        ch = json_peek(&p->cur);
        if (ch == '}') {
            p->cur.pos++;
            return true;
        }
        if (!json_expect(&p->cur, ',', "',' or '}' in an object"))
            return false;
    }
}

static bool read_header(Parser *p)
{
    char ch = json_peek(&p->cur);
    bool seen_meta = false;
    if (ch != '{')
        FAIL(p, "header must be a JSON object, not %s", json_kind_name(ch));
    p->cur.pos++;
    bool first = true;
    for (;;) {
        ch = json_peek(&p->cur);
        if (ch == '}' && first) {
            p->cur.pos++;
            break;
        }
        if (ch != '"')
            return json_fail(&p->cur, first ? "expected a string key or '}'" : "expected a string key");
        const char *name;
        if (!read_string(p, &name, NULL) || !json_expect(&p->cur, ':', "':' after an object key"))
            return false;
        if (strcmp(name, "__metadata__") == 0) {
            if (seen_meta)
                FAIL(p, "__metadata__ appears twice");
            seen_meta = true;
            if (!read_metadata(p))
                return false;
        } else {
            StFile *f = p->f;
            if (f->n == p->cap) {
                int cap = p->cap ? 2 * p->cap : 64;
                StTensor *t = realloc(f->tensors, (size_t)cap * sizeof *t);
                if (t)
                    f->tensors = t;
                Range *r = realloc(p->ranges, (size_t)cap * sizeof *r);
                if (r)
                    p->ranges = r;
                if (!t || !r)
                    FAIL(p, "out of memory");
                p->cap = cap;
            }
            StTensor *t = &f->tensors[f->n];
            memset(t, 0, sizeof *t);
            t->name = name;
            p->ranges[f->n].order = f->n;
            if (!read_entry(p, name, t, &p->ranges[f->n]))
                return false;
            f->n++;
        }
        first = false;
        ch = json_peek(&p->cur);
        if (ch == '}') {
            p->cur.pos++;
            break;
        }
        if (!json_expect(&p->cur, ',', "',' or '}' in an object"))
            return false;
    }
    if (json_peek(&p->cur) != 0)
        return json_fail(&p->cur, "unexpected text after the header object");
    return true;
}

static int cmp_range(const void *a, const void *b)
{
    const Range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

/* Puts the tensors in file order and indexes their names (no duplicates); then, sorted
 * by offset, the ranges must tile [0, datalen) with no gap or overlap. */
static bool check_layout(Parser *p)
{
    StFile *f = p->f;
    if (f->n)
        qsort(p->ranges, (size_t)f->n, sizeof *p->ranges, cmp_range);
    StTensor *sorted = malloc((size_t)(f->n ? f->n : 1) * sizeof *sorted);
    f->by_name = malloc((size_t)(f->n ? f->n : 1) * sizeof *f->by_name);
    if (!sorted || !f->by_name) {
        free(sorted);
        FAIL(p, "out of memory");
    }
    for (int i = 0; i < f->n; i++) {
        sorted[i] = f->tensors[p->ranges[i].order];
        f->by_name[i] = &sorted[i];
    }
    free(f->tensors);
    f->tensors = sorted;
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            FAIL(p, "tensor '%s' appears twice in the header", f->by_name[i]->name);

    uint64_t at = 0;
    const char *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        const Range *r = &p->ranges[i];
        const char *name = sorted[i].name;
        if (r->begin > at) {
            if (prev)
                FAIL(p, "tensor '%s': its data begins at offset %" PRIu64 " but tensor '%s' ends at %" PRIu64
                     " (a gap of %" PRIu64 " bytes)", name, r->begin, prev, at, r->begin - at);
            FAIL(p, "tensor '%s': its data begins at offset %" PRIu64 " but the first tensor must begin at 0",
                 name, r->begin);
        }
        if (r->begin < at)
            FAIL(p, "tensor '%s': its data [%" PRIu64 ", %" PRIu64 "] overlaps tensor '%s', which ends at %" PRIu64,
                 name, r->begin, r->end, prev, at);
        if (r->end > p->datalen)
            FAIL(p, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] run past the %zu bytes of data in the file",
                 name, r->begin, r->end, p->datalen);
        at = r->end;
        prev = name;
    }
    if (at != p->datalen)
        FAIL(p, "the tensors' data ends at offset %" PRIu64 " but the file has %zu bytes of data after the "
             "header (%" PRIu64 " trailing bytes)", at, p->datalen, (uint64_t)p->datalen - at);
    for (int i = 0; i < f->n; i++)
        sorted[i].data = p->data + p->ranges[i].begin;
    return true;
}

StFile *st_open_memory(const void *data, size_t len, char *err, size_t errlen)
{
    const unsigned char *b = data;
    if (len < 8) {
        snprintf(err, errlen, "file is too short to be safetensors (%zu bytes; the 8-byte header length is missing)",
                 len);
        return NULL;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    if (n > ST_MAX_HEADER) {
        snprintf(err, errlen, "header length %" PRIu64 " is above the limit of %u bytes", n, ST_MAX_HEADER);
        return NULL;
    }
    if (n > len - 8) {
        snprintf(err, errlen, "header length %" PRIu64 " runs past the end of the file (%zu bytes)", n, len);
        return NULL;
    }
    size_t bad = json_utf8_invalid_at(b + 8, (size_t)n);
    if (bad != n) {
        snprintf(err, errlen, "header is not valid UTF-8 (at byte %zu of the header)", bad);
        return NULL;
    }
    StFile *f = calloc(1, sizeof *f);
    Parser p = {.cur = {(const char *)b + 8, (size_t)n, 0, err, errlen}, .f = f};
    p.data = b + 8 + n;
    p.datalen = len - 8 - (size_t)n;
    if (f)
        f->strings = p.sbuf = malloc((size_t)n + 1);
    if (!f || !p.sbuf) {
        snprintf(err, errlen, "out of memory");
        st_close(f);
        return NULL;
    }
    if (!read_header(&p) || !check_layout(&p)) {
        free(p.ranges);
        st_close(f);
        return NULL;
    }
    free(p.ranges);
    return f;
}

StFile *st_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "'%s' is not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            snprintf(err, errlen, "cannot map '%s': %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd);
    char msg[512];
    StFile *f = st_open_memory(map ? map : "", len, msg, sizeof msg);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, msg);
        if (map)
            munmap(map, len);
        return NULL;
    }
    f->map = map;
    f->maplen = len;
    return f;
}

void st_close(StFile *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->maplen);
    free(f->strings);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f);
}

int st_count(const StFile *f) { return f->n; }

const StTensor *st_tensor(const StFile *f, int i) { return i >= 0 && i < f->n ? &f->tensors[i] : NULL; }

const StTensor *st_find(const StFile *f, const char *name)
{
    int lo = 0, hi = f->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_metadata(const StFile *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

/* ---- half and bfloat16 (IEEE 754 binary16; bfloat16 = the top half of binary32) ---- */

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1F, mant = h & 0x3FF;
    if (exp == 0x1F) /* inf, NaN (payload kept) */
        return bits_f32(sign | 0x7F800000u | mant << 13);
    if (exp == 0) { /* zero, subnormal: mant × 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | (exp + 112) << 23 | mant << 13);
}

float st_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t st_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f), sign = u >> 16 & 0x8000, exp = u >> 23 & 0xFF, mant = u & 0x7FFFFF;
    if (exp == 0xFF) /* inf, or NaN kept quiet with the top payload bits */
        return (uint16_t)(sign | 0x7C00 | (mant ? 0x200 | mant >> 13 : 0));
    int e = (int)exp - 127; /* unbiased; normal halves have e in [-14, 15] */
    if (e > 15)
        return (uint16_t)(sign | 0x7C00);
    uint32_t full, shift;
    if (e >= -14) { /* normal in half: keep 10 of 23 mantissa bits */
        full = mant;
        shift = 13;
    } else { /* subnormal or zero in half: the value in units of 2^-24 */
        if (e < -25)
            return (uint16_t)sign; /* below half the smallest subnormal: rounds to ±0 */
        full = mant | 0x800000; /* 24 significant bits */
        shift = (uint32_t)(-e - 1); /* value = full × 2^(e-23) = (full >> shift) × 2^-24 */
    }
    uint32_t q = full >> shift, rem = full & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    if (e >= -14) /* a carry out of the mantissa bumps the exponent, maybe to inf: correct */
        return (uint16_t)(sign | (((uint32_t)(e + 15) << 10) + q));
    return (uint16_t)(sign | q); /* q == 0x400 becomes the smallest normal: correct */
}

uint16_t st_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000) /* NaN: stay NaN, quiet */
        return (uint16_t)(u >> 16 | 0x40);
    u += 0x7FFF + (u >> 16 & 1); /* round to nearest even; overflow rounds to inf */
    return (uint16_t)(u >> 16);
}
