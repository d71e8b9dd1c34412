/* st_json.h — a small strict JSON reader for the safetensors header (runtime-internal).
 *
 * Not a DOM: a cursor over the text that the header parser drives by the schema it
 * expects, so memory stays bounded by what is kept (the tensor table) and every error can
 * say which tensor it is about. Strict RFC 8259 syntax where it reads: no trailing commas,
 * no comments, no leading zeros, strings without raw control characters, escapes including
 * \uXXXX with surrogate pairs (a lone surrogate is an error). The text must already be
 * valid UTF-8 (json_utf8_valid). Decoded strings may not contain NUL (names are C strings).
 */
#ifndef VITC_ST_JSON_H
#define VITC_ST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *s;
    size_t n, pos;
    char *err;
    size_t errlen;
} JsonCur;

typedef enum { JN_INT, JN_BIG, JN_FRACTION } JsonNumKind;

typedef struct {
    JsonNumKind kind; /* JN_INT: fits int64 (value in v); JN_BIG: an integer that does not */
    int64_t v;
    const char *text; /* the number as written */
    size_t len;
} JsonNum;

/* The byte offset of the first invalid UTF-8 sequence, or n when all of s is valid
 * (shortest forms only, no surrogates, at most U+10FFFF). */
size_t json_utf8_invalid_at(const unsigned char *s, size_t n);

void json_ws(JsonCur *c);
/* After whitespace: the next byte, or 0 at the end. */
char json_peek(JsonCur *c);
/* What a value starting with byte ch is, for messages ("a string", "an array", ...). */
const char *json_kind_name(char ch);
/* Consumes ch after whitespace, else fails with "expected WHAT". */
bool json_expect(JsonCur *c, char ch, const char *what);
/* A string into buf (room for at least the remaining text + 1), NUL-terminated. */
bool json_string(JsonCur *c, char *buf, size_t *len);
bool json_number(JsonCur *c, JsonNum *out);
/* Fails with "header is not valid JSON at byte N: MSG". */
bool json_fail(JsonCur *c, const char *msg);

#endif
