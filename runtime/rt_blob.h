/* rt_blob.h — bounds-checked reads of the little-endian blobs a generated object carries:
 * the plan (rt_plan.c) and the OpenCL section (rt_ocl_blob.c).
 *
 * A blob is never trusted: a read past its end, a count larger than the bytes left could
 * hold, or a value out of its range fails the reader with a message that names the blob and
 * the byte offset. Only the first failure is kept; every read after it returns 0 (a range's
 * lowest value), so a parser may check `failed` once per record rather than per read.
 */
#ifndef VITC_RT_BLOB_H
#define VITC_RT_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const unsigned char *b;
    size_t len, pos;
    const char *blob; /* in messages: "plan", "OpenCL section" */
    char *err;
    size_t errlen;
    int failed;
    /* rt_plan.c's second pass: where strings go (NULL in the first, which only measures) */
    char *strings;
    size_t nstrings;
} RtReader;

/* Fails r (the first failure's message is kept); returns 0. */
static inline int rd_fail(RtReader *r, const char *what)
{
    if (!r->failed)
        snprintf(r->err, r->errlen, "corrupt %s: %s (at byte %zu of %zu)", r->blob, what, r->pos, r->len);
    r->failed = 1;
    return 0;
}

static inline int64_t rd_i64(RtReader *r)
{
    if (r->failed || r->len - r->pos < 8)
        return rd_fail(r, "unexpected end"), 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | r->b[r->pos + (size_t)i];
    r->pos += 8;
    return (int64_t)v;
}

static inline double rd_f64(RtReader *r)
{
    uint64_t u = (uint64_t)rd_i64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* An integer in [lo, hi] (lo once r has failed). */
static inline int64_t rd_range(RtReader *r, int64_t lo, int64_t hi, const char *what)
{
    int64_t v = rd_i64(r);
    if (!r->failed && (v < lo || v > hi))
        rd_fail(r, what);
    return r->failed ? lo : v;
}

/* A count of elements that each take at least `min_bytes` more of the blob. */
static inline int rd_count(RtReader *r, size_t min_bytes, const char *what)
{
    int64_t n = rd_i64(r);
    if (!r->failed && (n < 0 || n > INT32_MAX / 2 || (uint64_t)n * min_bytes > r->len - r->pos))
        rd_fail(r, what);
    return r->failed ? 0 : (int)n;
}

#endif
