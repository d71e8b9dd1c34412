/* test_safetensors.c — the safetensors reader and writer (runtime/safetensors.h):
 * round trips, byte-for-byte agreement with a file written by the Python `safetensors`
 * package, every malformed-file message, and the f16/bf16 conversions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "safetensors.h"

/* ---- helpers ---- */

typedef struct {
    unsigned char *p;
    size_t n;
} Bytes;

/* 8-byte little-endian header length, the header, then `ndata` bytes counting up. */
static Bytes file_of(const char *header, size_t ndata)
{
    size_t h = strlen(header);
    Bytes b = {malloc(8 + h + ndata + 1), 8 + h + ndata};
    assert_non_null(b.p);
    for (int i = 0; i < 8; i++)
        b.p[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b.p + 8, header, h);
    for (size_t i = 0; i < ndata; i++)
        b.p[8 + h + i] = (unsigned char)i;
    return b;
}

/* Opening `header` + ndata bytes must fail with a message containing `want`. */
static void bad(const char *header, size_t ndata, const char *want)
{
    Bytes b = file_of(header, ndata);
    char err[512] = "";
    StFile *f = st_open_memory(b.p, b.n, err, sizeof err);
    if (f) {
        st_close(f);
        free(b.p);
        fail_msg("accepted a bad file (wanted \"%s\"): %s", want, header);
    }
    if (!strstr(err, want)) {
        free(b.p);
        fail_msg("message \"%s\" does not contain \"%s\"", err, want);
    }
    free(b.p);
}

static void bad_raw(const void *p, size_t n, const char *want)
{
    char err[512] = "";
    StFile *f = st_open_memory(p, n, err, sizeof err);
    if (f) {
        st_close(f);
        fail_msg("accepted a bad file (wanted \"%s\")", want);
    }
    if (!strstr(err, want))
        fail_msg("message \"%s\" does not contain \"%s\"", err, want);
}

static char *temp_path(const char *name)
{
    static char path[4][512];
    static int k;
    const char *dir = getenv("TMPDIR");
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/vitc_test_st_%d_%s", dir && *dir ? dir : "/tmp", (int)getpid(), name);
    return p;
}

static Bytes read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    Bytes b = {NULL, (size_t)ftell(f)};
    fseek(f, 0, SEEK_SET);
    b.p = malloc(b.n + 1);
    assert_non_null(b.p);
    assert_int_equal(fread(b.p, 1, b.n, f), b.n);
    fclose(f);
    return b;
}

/* ---- the writer matches the reference byte for byte ---- */

/* Written by Python: safetensors.torch.save({weight f32 [[1,2],[3,4]], bias f16 [0.5,-1],
 * bf bf16 [1,-2.5,0.1], step i64 7, mask bool [1,0,1], empty f32 [0,3], idx i32 [3,-1]},
 * metadata={"format": "pt"}) with safetensors 0.8.0 (torch 2.x). */
static const char golden_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},\"weight\":{\"dtype\":\"F32\",\"shape\":[2,"
    "2],\"data_offsets\":[8,24]},\"idx\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},\"bf\":{\"dtype\":"
    "\"BF16\",\"shape\":[3],\"data_offsets\":[32,38]},\"bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[38,"
    "42]},\"mask\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[42,45]}}  ";
static const unsigned char golden_data[] = {
    0x07, 0, 0, 0, 0, 0, 0, 0,                                          /* step */
    0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, /* weight */
    0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,                              /* idx */
    0x80, 0x3f, 0x20, 0xc0, 0xcd, 0x3d,                                 /* bf */
    0x00, 0x38, 0x00, 0xbc,                                             /* bias */
    0x01, 0x00, 0x01};                                                  /* mask */

static void test_writer_matches_reference(void **state)
{
    (void)state;
    float w[] = {1, 2, 3, 4};
    uint16_t bias[] = {st_f32_to_f16(0.5f), st_f32_to_f16(-1.0f)};
    uint16_t bf[] = {st_f32_to_bf16(1.0f), st_f32_to_bf16(-2.5f), st_f32_to_bf16(0.1f)};
    int64_t step = 7;
    unsigned char mask[] = {1, 0, 1};
    int32_t idx[] = {3, -1};
    /* given in an order unlike the file's: the writer sorts */
    StTensor t[] = {
        {"weight", ST_F32, 2, {2, 2}, w, 16}, {"bias", ST_F16, 1, {2}, bias, 4}, {"bf", ST_BF16, 1, {3}, bf, 6},
        {"step", ST_I64, 0, {0}, &step, 8},   {"mask", ST_BOOL, 1, {3}, mask, 3}, {"empty", ST_F32, 2, {0, 3}, NULL, 0},
        {"idx", ST_I32, 1, {2}, idx, 8},
    };
    const char *meta[] = {"format", "pt"};
    char err[512];
    const char *path = temp_path("golden.safetensors");
    assert_int_equal(st_write(path, t, 7, meta, 1, err, sizeof err), 0);
    Bytes b = read_all(path);
    size_t h = strlen(golden_header);
    assert_int_equal(h % 8, 0);
    assert_int_equal(b.n, 8 + h + sizeof golden_data);
    for (int i = 0; i < 8; i++)
        assert_int_equal(b.p[i], (h >> (8 * i)) & 0xff);
    if (memcmp(b.p + 8, golden_header, h) != 0)
        fail_msg("header differs:\n%.*s\n%s", (int)h, (const char *)b.p + 8, golden_header);
    assert_memory_equal(b.p + 8 + h, golden_data, sizeof golden_data);

    /* and it reads back */
    StFile *f = st_open_memory(b.p, b.n, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    assert_int_equal(st_count(f), 7);
    static const char *const order[] = {"step", "empty", "weight", "idx", "bf", "bias", "mask"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(st_tensor(f, i)->name, order[i]);
    const StTensor *bt = st_find(f, "bf");
    assert_non_null(bt);
    assert_int_equal(bt->dtype, ST_BF16);
    assert_int_equal(bt->nbytes, 6);
    assert_true(st_bf16_to_f32(((const uint16_t *)bt->data)[1]) == -2.5f);
    assert_string_equal(st_metadata(f, "format"), "pt");
    assert_null(st_metadata(f, "nope"));
    assert_null(st_find(f, "nope"));
    st_close(f);
    free(b.p);
    unlink(path);
}

static void test_round_trip(void **state)
{
    (void)state;
    double d[] = {1.5, -2.25};
    uint8_t u8[5] = {1, 2, 3, 4, 5};
    int16_t i16[] = {-3};
    float scalar = 42;
    /* names with quotes, backslashes, control characters and non-ASCII survive */
    StTensor t[] = {
        {"a\"b\\c\n\x01/é", ST_F64, 1, {2}, d, 16},
        {"u", ST_U8, 3, {1, 5, 1}, u8, 5},
        {"s", ST_I16, 1, {1}, i16, 2},
        {"scalar", ST_F32, 0, {0}, &scalar, 4},
        {"z", ST_U64, 3, {2, 0, 9}, NULL, 0},
    };
    const char *meta[] = {"z", "last", "a", "first \"quoted\" \t", "vitc_seed", "7"};
    char err[512];
    const char *path = temp_path("rt.safetensors");
    assert_int_equal(st_write(path, t, 5, meta, 3, err, sizeof err), 0);
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    assert_int_equal(st_count(f), 5);
    for (int i = 0; i < 5; i++) {
        const StTensor *r = st_find(f, t[i].name);
        assert_non_null(r);
        assert_int_equal(r->dtype, t[i].dtype);
        assert_int_equal(r->rank, t[i].rank);
        for (int k = 0; k < t[i].rank; k++)
            assert_int_equal(r->shape[k], t[i].shape[k]);
        assert_int_equal(r->nbytes, t[i].nbytes);
        if (r->nbytes)
            assert_memory_equal(r->data, t[i].data, r->nbytes);
    }
    /* file order: descending dtype (U64, F64, F32, I16, U8), then name */
    static const char *const order[] = {"z", "a\"b\\c\n\x01/é", "scalar", "s", "u"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(st_tensor(f, i)->name, order[i]);
    assert_string_equal(st_metadata(f, "a"), "first \"quoted\" \t");
    assert_string_equal(st_metadata(f, "vitc_seed"), "7");
    st_close(f);
    Bytes b = read_all(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b.p[i];
    assert_int_equal(n % 8, 0);
    /* metadata keys sorted, escapes as serde_json writes them */
    assert_non_null(strstr((const char *)b.p + 8,
                           "{\"__metadata__\":{\"a\":\"first \\\"quoted\\\" \\t\",\"vitc_seed\":\"7\",\"z\":\"last\"},"));
    assert_non_null(strstr((const char *)b.p + 8, "\"a\\\"b\\\\c\\n\\u0001/é\""));
    free(b.p);
    unlink(path);

    /* no tensors, no metadata: "{}" padded to 8 */
    assert_int_equal(st_write(path, NULL, 0, NULL, 0, err, sizeof err), 0);
    b = read_all(path);
    assert_int_equal(b.n, 16);
    assert_memory_equal(b.p + 8, "{}      ", 8);
    free(b.p);
    f = st_open(path, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 0);
    st_close(f);
    unlink(path);
}

static void test_writer_errors(void **state)
{
    (void)state;
    float x[2] = {0};
    char err[512];
    const char *path = temp_path("bad.safetensors");
    StTensor dup[] = {{"a", ST_F32, 1, {1}, x, 4}, {"a", ST_F16, 1, {2}, x, 4}};
    assert_int_equal(st_write(path, dup, 2, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "tensor 'a' is given twice"));
    StTensor size[] = {{"a", ST_F32, 1, {3}, x, 8}};
    assert_int_equal(st_write(path, size, 1, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "tensor 'a': 8 bytes of data do not match its shape and dtype F32"));
    StTensor meta_name[] = {{"__metadata__", ST_F32, 1, {1}, x, 4}};
    assert_int_equal(st_write(path, meta_name, 1, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot be named '__metadata__'"));
    StTensor utf[] = {{"\xff", ST_F32, 1, {1}, x, 4}};
    assert_int_equal(st_write(path, utf, 1, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "not valid UTF-8"));
    const char *meta[] = {"k", "1", "k", "2"};
    assert_int_equal(st_write(path, NULL, 0, meta, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "metadata key 'k' is given twice"));
    assert_int_equal(st_write("/nonexistent-dir/x.safetensors", NULL, 0, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create '/nonexistent-dir/x.safetensors'"));
    assert_int_equal(access(path, F_OK), -1); /* nothing left behind */
}

/* ---- the reader: valid corner cases ---- */

static void test_reader_valid(void **state)
{
    (void)state;
    char err[512];
    /* whitespace, a 0-rank and a zero-size tensor sharing an offset, escapes, a surrogate pair */
    Bytes b = file_of(" { \"\\ud83d\\ude00 \\u00e9\" : {\"shape\":[], \"dtype\":\"F32\",\"data_offsets\":[0,4]},\n"
                      "\"e\":{\"dtype\":\"I8\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
                      "\"__metadata__\":{}, \"b\":{\"data_offsets\":[4,6],\"dtype\":\"U16\",\"shape\":[1]}}\t\r\n  ",
                      6);
    StFile *f = st_open_memory(b.p, b.n, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    assert_int_equal(st_count(f), 3);
    assert_string_equal(st_tensor(f, 0)->name, "\xf0\x9f\x98\x80 \xc3\xa9"); /* U+1F600, U+00E9 */
    assert_int_equal(st_tensor(f, 0)->rank, 0);
    assert_int_equal(st_tensor(f, 0)->nbytes, 4);
    assert_string_equal(st_tensor(f, 1)->name, "e"); /* [4,4) sorts before [4,6) */
    assert_int_equal(st_tensor(f, 1)->nbytes, 0);
    assert_string_equal(st_tensor(f, 2)->name, "b");
    assert_ptr_equal(st_tensor(f, 2)->data, b.p + b.n - 2);
    assert_ptr_equal(st_tensor(f, 5), NULL);
    st_close(f);
    free(b.p);

    bad_raw("", 0, "file is too short to be safetensors (0 bytes");
    char path[] = "/nonexistent/x.safetensors";
    assert_null(st_open(path, err, sizeof err));
    assert_non_null(strstr(err, "cannot open '/nonexistent/x.safetensors'"));
    assert_null(st_open("/tmp", err, sizeof err));
    assert_non_null(strstr(err, "'/tmp' is not a regular file"));
}

/* ---- the reader: every malformed file gets its own message ---- */

#define T(shape, dt, off) "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void test_reader_malformed(void **state)
{
    (void)state;
    /* framing */
    bad_raw("\x08\0\0\0\0\0\0", 7, "file is too short to be safetensors (7 bytes");
    bad_raw("\x01\xe1\xf5\x05\0\0\0\0{}", 10, "header length 100000001 is above the limit of 100000000 bytes");
    bad_raw("\x32\0\0\0\0\0\0\0{}          ", 20, "header length 50 runs past the end of the file (20 bytes)");
    bad_raw("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "header length 18446744073709551615 is above the limit");
    /* encoding and syntax */
    bad("{\"\xff\":{}}", 0, "header is not valid UTF-8 (at byte 2 of the header)");
    bad("{\"\xc0\x80\":{}}", 0, "header is not valid UTF-8 (at byte 2");         /* overlong NUL */
    bad("{\"\xed\xa0\x80\":{}}", 0, "header is not valid UTF-8 (at byte 2");     /* encoded surrogate */
    bad("", 0, "header must be a JSON object, not the end of the header");
    bad("[]", 0, "header must be a JSON object, not an array");
    bad("{\"a\":", 0, "header is not valid JSON at byte 5: unexpected end of the header");
    bad("{\"a\":{\"shape\":[1,", 0, "header is not valid JSON at byte 17: unexpected end of the header");
    bad("{\"a\":" T("[1]", "F32", "[0,4]") ",}", 4, "expected a string key");
    bad("{\"a\" " T("[1]", "F32", "[0,4]") "}", 4, "expected ':' after an object key");
    bad("{} x", 0, "unexpected text after the header object");
    bad("{\"a\\ud800\":" T("[1]", "F32", "[0,4]") "}", 4, "high surrogate in \\u escape not followed by a low one");
    bad("{\"a\\udc00\":" T("[1]", "F32", "[0,4]") "}", 4, "lone low surrogate");
    bad("{\"a\\u0000\":" T("[1]", "F32", "[0,4]") "}", 4, "NUL character (\\u0000) in string");
    bad("{\"a\\x\":{}}", 0, "invalid escape in string");
    bad("{\"a\tb\":{}}", 0, "control character in string");
    bad("{\"a\":" T("[01]", "F32", "[0,4]") "}", 4, "leading zeros");
    /* entries */
    bad("{\"a\":5}", 0, "tensor 'a': its entry must be an object with dtype, shape and data_offsets, not a number");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a': missing field \"data_offsets\"");
    bad("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing field \"shape\"");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4,
        "tensor 'a': unknown field \"extra\"");
    bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        "tensor 'a': field \"dtype\" appears twice");
    bad("{\"a\":" T("[1]", "F128", "[0,4]") "}", 4, "tensor 'a': unknown dtype \"F128\"");
    bad("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': dtype must be a string, not a number");
    bad("{\"a\":" T("[-1]", "F32", "[0,4]") "}", 4, "tensor 'a': shape entry -1 is negative");
    bad("{\"a\":" T("[1.5]", "F32", "[0,4]") "}", 4, "tensor 'a': shape entry 1.5 is not an integer");
    bad("{\"a\":" T("[1e2]", "F32", "[0,4]") "}", 4, "tensor 'a': shape entry 1e2 is not an integer");
    bad("{\"a\":" T("[99999999999999999999]", "F32", "[0,4]") "}", 4, "shape entry 99999999999999999999 is too large");
    bad("{\"a\":" T("[1,1,1,1,1,1,1,1,1]", "F32", "[0,4]") "}", 4,
        "tensor 'a': shape has more than 8 dimensions (at most 8 are supported)");
    bad("{\"a\":" T("{}", "F32", "[0,4]") "}", 4, "tensor 'a': shape must be an array of non-negative integers, not an object");
    bad("{\"a\":" T("[1]", "F32", "[0]") "}", 4, "tensor 'a': data_offsets must have exactly two entries [begin, end]");
    bad("{\"a\":" T("[1]", "F32", "[0,4,8]") "}", 4, "data_offsets must have exactly two entries");
    bad("{\"a\":" T("[1]", "F32", "[4,0]") "}", 4, "tensor 'a': data_offsets [4, 0] end before they begin");
    bad("{\"a\":" T("[1]", "F32", "[0,\"4\"]") "}", 4, "tensor 'a': data_offsets entry must be a non-negative integer, not a string");
    bad("{\"a\":" T("[3,4]", "F32", "[0,100]") "}", 100,
        "tensor 'a': data_offsets [0, 100] hold 100 bytes but shape [3,4] of F32 needs 48");
    bad("{\"a\":" T("[4611686018427387904,4]", "F32", "[0,4]") "}", 4,
        "tensor 'a': shape [4611686018427387904,4] of F32 is too large (its byte count overflows)");
    /* layout of the data */
    bad("{\"a\":" T("[1]", "F32", "[0,4]") ",\"a\":" T("[1]", "F32", "[4,8]") "}", 8, "tensor 'a' appears twice in the header");
    bad("{\"a\":" T("[1]", "F32", "[0,4]") ",\"b\":" T("[1]", "F32", "[8,12]") "}", 12,
        "tensor 'b': its data begins at offset 8 but tensor 'a' ends at 4 (a gap of 4 bytes)");
    bad("{\"a\":" T("[2]", "F32", "[0,8]") ",\"b\":" T("[1]", "F32", "[4,8]") "}", 8,
        "tensor 'b': its data [4, 8] overlaps tensor 'a', which ends at 8");
    bad("{\"a\":" T("[1]", "F32", "[4,8]") "}", 8, "tensor 'a': its data begins at offset 4 but the first tensor must begin at 0");
    bad("{\"a\":" T("[2]", "F32", "[0,8]") "}", 4, "tensor 'a': data_offsets [0, 8] run past the 4 bytes of data in the file");
    bad("{\"a\":" T("[1]", "F32", "[0,4]") "}", 6,
        "the tensors' data ends at offset 4 but the file has 6 bytes of data after the header (2 trailing bytes)");
    bad("{}", 1, "(1 trailing bytes)");
    /* metadata */
    bad("{\"__metadata__\":[]}", 0, "__metadata__ must be an object mapping strings to strings, not an array");
    bad("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of \"k\" must be a string, not a number");
    bad("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__ has the key \"k\" twice");
    bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice");
}

/* ---- half and bfloat16 ---- */

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_half_conversions(void **state)
{
    (void)state;
    /* every half converts to float and back to itself (NaN stays NaN) */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = st_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            assert_true(isnan(f));
            assert_true(isnan(st_f16_to_f32(st_f32_to_f16(f))));
        } else if (st_f32_to_f16(f) != h) {
            fail_msg("half 0x%04x -> %.9g -> 0x%04x", h, f, st_f32_to_f16(f));
        }
        uint16_t b = (uint16_t)h;
        float g = st_bf16_to_f32(b);
        if (isnan(g))
            assert_true(isnan(st_bf16_to_f32(st_f32_to_bf16(g))));
        else
            assert_int_equal(st_f32_to_bf16(g), b);
    }
    /* known values: 1 = 0x3C00, -2 = 0xC000, 65504 = 0x7BFF, 2^-24 = 0x0001, 2^-14 = 0x0400;
     * 0.1f -> 0x2E66 and 1/3 -> 0x3555 (numpy's float16) */
    assert_true(st_f16_to_f32(0x3c00) == 1.0f && st_f16_to_f32(0xc000) == -2.0f);
    assert_true(st_f16_to_f32(0x7bff) == 65504.0f && st_f16_to_f32(0x0001) == 0x1p-24f);
    assert_int_equal(st_f32_to_f16(0.1f), 0x2e66);
    assert_int_equal(st_f32_to_f16(1.0f / 3), 0x3555);
    assert_int_equal(st_f32_to_f16(0x1p-14f), 0x0400);
    /* round to nearest even */
    assert_int_equal(st_f32_to_f16(1 + 0x1p-11f), 0x3c00);         /* tie -> even */
    assert_int_equal(st_f32_to_f16(1 + 3 * 0x1p-11f), 0x3c02);     /* tie -> even (up) */
    assert_int_equal(st_f32_to_f16(1 + 0x1p-11f + 0x1p-20f), 0x3c01);
    assert_int_equal(st_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(st_f32_to_f16(65520.0f), 0x7c00);             /* overflow to inf */
    assert_int_equal(st_f32_to_f16(-1e6f), 0xfc00);
    assert_int_equal(st_f32_to_f16(0x1p-25f), 0x0000);             /* tie between 0 and 2^-24 */
    assert_int_equal(st_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(st_f32_to_f16(3 * 0x1p-25f), 0x0002);         /* 1.5 units: tie -> 2 */
    assert_int_equal(st_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);   /* largest subnormal + half: to the smallest normal */
    assert_int_equal(st_f32_to_f16(1e-30f), 0x0000);
    assert_int_equal(st_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(st_f32_to_f16(from_bits(0x00000001)), 0x0000); /* float subnormal */
    assert_int_equal(st_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(st_f32_to_f16(NAN) & 0x7e00, 0x7e00);          /* quiet NaN */
    /* bfloat16: the top half of the float, rounded to nearest even */
    assert_int_equal(st_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(st_f32_to_bf16(0.1f), 0x3dcd);
    assert_int_equal(st_f32_to_bf16(1 + 0x1p-8f), 0x3f80);          /* tie -> even */
    assert_int_equal(st_f32_to_bf16(1 + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(st_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds to inf */
    assert_int_equal(st_f32_to_bf16(from_bits(0x00010000)), 0x0001); /* subnormal kept */
    assert_int_equal(st_f32_to_bf16(from_bits(0x7f800001)) & 0x7fc0, 0x7fc0); /* signalling NaN -> quiet */
    assert_int_equal(bits(st_bf16_to_f32(0xff80)), 0xff800000u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_matches_reference), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_errors),            cmocka_unit_test(test_reader_valid),
        cmocka_unit_test(test_reader_malformed),         cmocka_unit_test(test_half_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
