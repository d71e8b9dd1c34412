/* st_json.c — the strict JSON cursor of the safetensors reader (see st_json.h). */
#include <stdio.h>
#include <string.h>

#include "st_json.h"

size_t json_utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

bool json_fail(JsonCur *c, const char *msg)
{
    snprintf(c->err, c->errlen, "header is not valid JSON at byte %zu: %s", c->pos, msg);
    return false;
}

void json_ws(JsonCur *c)
{
    while (c->pos < c->n && strchr(" \t\r\n", c->s[c->pos]) && c->s[c->pos])
        c->pos++;
}

char json_peek(JsonCur *c)
{
    json_ws(c);
    return c->pos < c->n ? c->s[c->pos] : 0;
}

const char *json_kind_name(char ch)
{
    switch (ch) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    case 0: return "the end of the header";
    default: return ch == '-' || (ch >= '0' && ch <= '9') ? "a number" : "an invalid value";
    }
}

bool json_expect(JsonCur *c, char ch, const char *what)
{
    if (json_peek(c) != ch) {
        char msg[128];
        snprintf(msg, sizeof msg, "expected %s", what);
        return json_fail(c, msg);
    }
    c->pos++;
    return true;
}

static int hexval(char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

/* Four hex digits at c->pos (after "\u"); -1 when malformed. */
static long hex4(JsonCur *c)
{
    if (c->n - c->pos < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(c->s[c->pos + k]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    c->pos += 4;
    return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* An escape after the backslash; appends its UTF-8 to buf. */
static bool escape(JsonCur *c, char *buf, size_t *len)
{
    if (c->pos >= c->n)
        return json_fail(c, "unterminated string");
    char e = c->s[c->pos++];
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *p = e ? strchr(from, e) : NULL;
    if (p) {
        buf[(*len)++] = to[p - from];
        return true;
    }
    if (e != 'u') {
        c->pos--;
        return json_fail(c, "invalid escape in string");
    }
    long cp = hex4(c);
    if (cp < 0)
        return json_fail(c, "\\u needs four hex digits");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return json_fail(c, "lone low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (c->n - c->pos < 2 || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u')
            return json_fail(c, "high surrogate in \\u escape not followed by a low one");
        c->pos += 2;
        long lo = hex4(c);
        if (lo < 0)
            return json_fail(c, "\\u needs four hex digits");
        if (lo < 0xDC00 || lo > 0xDFFF)
            return json_fail(c, "high surrogate in \\u escape not followed by a low one");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return json_fail(c, "NUL character (\\u0000) in string");
    *len += put_utf8(buf + *len, (uint32_t)cp);
    return true;
}

bool json_string(JsonCur *c, char *buf, size_t *len)
{
    if (!json_expect(c, '"', "a string"))
        return false;
    *len = 0;
    for (;;) {
        if (c->pos >= c->n)
            return json_fail(c, "unterminated string");
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == '"') {
            c->pos++;
            buf[*len] = 0;
            return true;
        }
        if (ch < 0x20)
            return json_fail(c, "control character in string (it must be escaped)");
        c->pos++;
        if (ch == '\\') {
            /* an escape of k input bytes yields at most k output bytes: "\u00e9" (6) → 2,
             * a surrogate pair (12) → 4, so buf never outgrows the text */
            if (!escape(c, buf, len))
                return false;
        } else {
            buf[(*len)++] = (char)ch;
        }
    }
}

static bool digit(JsonCur *c) { return c->pos < c->n && c->s[c->pos] >= '0' && c->s[c->pos] <= '9'; }

bool json_number(JsonCur *c, JsonNum *out)
{
    json_ws(c);
    size_t start = c->pos;
    bool neg = false;
    if (c->pos < c->n && c->s[c->pos] == '-') {
        neg = true;
        c->pos++;
    }
    if (!digit(c))
        return json_fail(c, "expected a number");
    out->kind = JN_INT;
    out->v = 0;
    if (c->s[c->pos] == '0') {
        c->pos++;
        if (digit(c))
            return json_fail(c, "a number may not have leading zeros");
    } else {
        /* accumulate negatively so that INT64_MIN fits */
        while (digit(c)) {
            int d = c->s[c->pos++] - '0';
            if (out->kind == JN_INT && (out->v < (INT64_MIN + d) / 10))
                out->kind = JN_BIG;
            else if (out->kind == JN_INT)
                out->v = out->v * 10 - d;
        }
    }
    if (c->pos < c->n && c->s[c->pos] == '.') {
        c->pos++;
        if (!digit(c))
            return json_fail(c, "expected a digit after the decimal point");
        while (digit(c))
            c->pos++;
        out->kind = JN_FRACTION;
    }
    if (c->pos < c->n && (c->s[c->pos] == 'e' || c->s[c->pos] == 'E')) {
        c->pos++;
        if (c->pos < c->n && (c->s[c->pos] == '+' || c->s[c->pos] == '-'))
            c->pos++;
        if (!digit(c))
            return json_fail(c, "expected a digit in the exponent");
        while (digit(c))
            c->pos++;
        out->kind = JN_FRACTION;
    }
    if (out->kind == JN_INT && !neg) {
        if (out->v == INT64_MIN)
            out->kind = JN_BIG;
        else
            out->v = -out->v;
    }
    out->text = c->s + start;
    out->len = c->pos - start;
    return true;
}
