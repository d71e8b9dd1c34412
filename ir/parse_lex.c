/* parse_lex.c — the lexer of the .vir parser, its error reporting and hash tables.
 *
 * Tokens are read one at a time into Parser.tok (one token of lookahead). A newline is a
 * token: every statement is one line. A comment runs to the end of its line and rides on
 * the newline token that ends it (Token.cmt), where a node's location is read from.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

void vir_error(Parser *p, int32_t line, int32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(p->d, DIAG_ERROR, (Loc){p->file, line, col}, fmt, ap);
    va_end(ap);
    p->errors++;
}

bool vir_oom(Parser *p)
{
    if (!p->oom)
        vir_error(p, p->tok.line, p->tok.col, "out of memory");
    p->oom = true;
    return false;
}

/* ---- hash tables ---- */

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

Entry *vir_map_find(const Map *m, const char *k, size_t n)
{
    if (!m->cap)
        return NULL;
    for (size_t j = hash(k, n) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        Entry *e = &m->e[j];
        if (!e->key)
            return NULL;
        if (e->len == n && memcmp(e->key, k, n) == 0)
            return e;
    }
}

/* Adds key k (absent) and returns its entry; NULL when out of memory. */
Entry *vir_map_add(Map *m, const char *k, size_t n)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        Entry *e = ir_calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].key)
                continue;
            size_t j = hash(m->e[i].key, m->e[i].len) & (cap - 1);
            while (e[j].key)
                j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        ir_free(m->e);
        m->e = e;
        m->cap = cap;
    }
    size_t j = hash(k, n) & (m->cap - 1);
    while (m->e[j].key)
        j = (j + 1) & (m->cap - 1);
    m->count++;
    m->e[j] = (Entry){k, n, -1, 0, 0};
    return &m->e[j];
}

/* ---- the lexer ---- */

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_alnum(char c) { return is_alpha(c) || vir_is_digit(c); }
static bool is_valname(char c) { return is_alnum(c) || c == '.'; }
static bool is_name(char c) { return is_alnum(c) || c == '.' || c == ':' || c == '/' || c == '-'; }
static int hexval(char c)
{
    return vir_is_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Scans a quoted string starting at s (the opening quote). Returns the closing quote, or
 * NULL with *bad at the problem and *why saying what it is. */
const char *vir_scan_string(const char *s, const char *end, const char **bad, const char **why)
{
    for (const char *c = s + 1; c < end; c++) {
        if (*c == '"')
            return c;
        if (*c == '\n')
            break;
        if (*c != '\\')
            continue;
        *bad = c;
        if (c + 1 >= end || c[1] == '\n')
            break;
        switch (c[1]) {
        case '"': case '\\': case 'n': case 't': case 'r':
            c++;
            break;
        case 'x':
            if (c + 3 >= end || hexval(c[2]) < 0 || hexval(c[3]) < 0) {
                *why = "'\\x' takes two hexadecimal digits";
                return NULL;
            }
            if (hexval(c[2]) == 0 && hexval(c[3]) == 0) {
                *why = "a string cannot hold a NUL byte";
                return NULL;
            }
            c += 3;
            break;
        default:
            *why = "unknown escape sequence (use \\\\ \\\" \\n \\t \\r \\xHH)";
            return NULL;
        }
    }
    *bad = s;
    *why = "unterminated string";
    return NULL;
}

/* The contents of the valid quoted string s..s+n (quotes included), unescaped. */
char *vir_unescape(Parser *p, const char *s, size_t n)
{
    char *out = p->scratch ? arena_alloc(p->scratch, n) : NULL, *o = out;
    if (!out)
        return vir_oom(p), NULL;
    for (const char *c = s + 1; c < s + n - 1; c++) {
        if (*c != '\\') {
            *o++ = *c;
            continue;
        }
        switch (*++c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'x': *o++ = (char)(hexval(c[1]) * 16 + hexval(c[2])); c += 2; break;
        default: *o++ = *c; break;
        }
    }
    *o = 0;
    return out;
}

static void lex_number(Parser *p, Token *t, const char *c)
{
    const char *s = c, *end = p->end;
    if (*c == '+' || *c == '-')
        c++;
    const char *body = c;
    bool hex = end - c > 1 && c[0] == '0' && (c[1] == 'x' || c[1] == 'X'), digits = true;
    for (; c < end; c++) {
        if (is_alnum(*c) || *c == '.') {
            if (!vir_is_digit(*c))
                digits = false;
        } else if ((*c == '+' || *c == '-') &&
                   (hex ? c[-1] == 'p' || c[-1] == 'P' : c[-1] == 'e' || c[-1] == 'E')) {
            digits = false;
        } else {
            break;
        }
    }
    t->s = s;
    t->n = (size_t)(c - s);
    p->pos = c;
    char small[64], *buf = t->n < sizeof small ? small : ir_malloc(t->n + 1);
    if (!buf) {
        t->kind = T_ERR;
        vir_oom(p);
        return;
    }
    memcpy(buf, s, t->n);
    buf[t->n] = 0;
    char *stop;
    t->f = strtod(buf, &stop);
    t->kind = stop == buf + t->n ? T_FLOAT : T_ERR;
    if (digits && body < c) {
        uint64_t v = 0, lim = *s == '-' ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (const char *d = body; d < c && v <= lim; d++)
            v = v > (lim - (uint64_t)(*d - '0')) / 10 ? lim + 1 : v * 10 + (uint64_t)(*d - '0');
        t->intlike = true;
        if (v <= lim) {
            t->kind = T_INT;
            t->i = *s == '-' ? (int64_t)(0 - v) : (int64_t)v;
        }
    }
    if (t->kind == T_ERR)
        vir_error(p, t->line, t->col, "malformed number '%.*s'", t->n > 40 ? 40 : (int)t->n, s);
    if (buf != small)
        ir_free(buf);
}

/* Reads the next token into p->tok. */
void vir_lex(Parser *p)
{
    Token *t = &p->tok;
    const char *c = p->pos, *end = p->end;
    while (c < end && (*c == ' ' || *c == '\t' || *c == '\r'))
        c++;
    *t = (Token){.kind = T_ERR, .s = c, .n = 1, .line = p->line};
    t->col = (int32_t)(c - p->bol + 1 > INT32_MAX ? INT32_MAX : c - p->bol + 1);
    if (c < end && *c == '#') {
        const char *eol = memchr(c, '\n', (size_t)(end - c));
        t->cmt = c + 1;
        t->ncmt = (size_t)((eol ? eol : end) - c - 1);
        c = eol ? eol : end;
    }
    p->pos = c + 1;
    if (c >= end) {
        t->kind = T_EOF;
        t->n = 0;
        p->pos = end;
        return;
    }
    const char *q = c + 1, *bad = NULL, *why = NULL;
    switch (*c) {
    case '\n': t->kind = T_NL; p->line++; p->bol = c + 1; return;
    case '(': t->kind = T_LPAREN; return;
    case ')': t->kind = T_RPAREN; return;
    case '{': t->kind = T_LBRACE; return;
    case '}': t->kind = T_RBRACE; return;
    case '[': t->kind = T_LBRACK; return;
    case ']': t->kind = T_RBRACK; return;
    case ',': t->kind = T_COMMA; return;
    case '=': t->kind = T_EQ; return;
    case ':': t->kind = T_COLON; return;
    case '*': t->kind = T_STAR; return;
    case '<':
        if (q < end && *q == '=') {
            t->kind = T_LE;
            t->n = 2;
            p->pos = q + 1;
            return;
        }
        break;
    case '%':
        while (q < end && is_valname(*q))
            q++;
        if (q == c + 1)
            break;
        t->kind = T_VAL;
        t->n = (size_t)(q - c);
        p->pos = q;
        return;
    case '"': case '@': case '$':
        if (*c != '"' && !(q < end && *q == '"')) {
            while (q < end && is_name(*q))
                q++;
            if (q == c + 1)
                break;
        } else if ((q = vir_scan_string(*c == '"' ? c : c + 1, end, &bad, &why)) != NULL) {
            q++;
        } else {
            vir_error(p, t->line, (int32_t)(bad - p->bol + 1), "%s", why);
            p->pos = bad;
            return;
        }
        t->kind = *c == '"' ? T_STR : *c == '@' ? T_GLOBAL : T_PNAME;
        t->n = (size_t)(q - c);
        p->pos = q;
        return;
    default:
        if (is_alpha(*c)) {
            while (q < end && is_alnum(*q))
                q++;
            t->kind = T_IDENT;
            t->n = (size_t)(q - c);
            p->pos = q;
            return;
        }
        if (vir_is_digit(*c) || (*c == '.' && q < end && vir_is_digit(*q)) ||
            ((*c == '-' || *c == '+') && q < end && (is_alnum(*q) || *q == '.'))) {
            lex_number(p, t, c);
            return;
        }
    }
    p->pos = c;
    if ((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f)
        vir_error(p, t->line, t->col, "unexpected character '%c'", *c);
    else
        vir_error(p, t->line, t->col, "unexpected byte 0x%02x", (unsigned char)*c);
}

/* After an error: skips the rest of the line. */
void vir_sync(Parser *p)
{
    if (p->tok.kind == T_NL || p->tok.kind == T_EOF)
        return;
    const char *eol = memchr(p->pos, '\n', (size_t)(p->end - p->pos));
    p->pos = eol ? eol : p->end;
    vir_lex(p);
}

const char *vir_describe(Parser *p, const Token *t)
{
    if (t->kind == T_NL)
        return "the end of the line";
    if (t->kind == T_EOF)
        return "the end of the file";
    snprintf(p->desc, sizeof p->desc, "'%.*s%s'", t->n > 32 ? 32 : (int)t->n, t->s, t->n > 32 ? "..." : "");
    return p->desc;
}

bool vir_expect(Parser *p, TokKind k, const char *what)
{
    if (p->tok.kind == k) {
        vir_lex(p);
        return true;
    }
    error_tok(p, &p->tok, "expected %s, got %s", what, vir_describe(p, &p->tok));
    return false;
}

bool vir_accept(Parser *p, TokKind k)
{
    if (p->tok.kind != k)
        return false;
    vir_lex(p);
    return true;
}

bool vir_is(const Token *t, const char *word)
{
    return t->kind == T_IDENT && strlen(word) == t->n && memcmp(t->s, word, t->n) == 0;
}

bool vir_end_of_line(Parser *p)
{
    if (p->tok.kind == T_NL || p->tok.kind == T_EOF)
        return true;
    error_tok(p, &p->tok, "expected the end of the line, got %s", vir_describe(p, &p->tok));
    return false;
}

/* A NUL-terminated copy of a name token: a bare word, or the contents of a quoted string
 * (T_STR, and @"..." / $"..." after their sigil). */
const char *vir_tok_string(Parser *p, const Token *t)
{
    const char *s = t->s;
    size_t n = t->n;
    if (t->kind == T_GLOBAL || t->kind == T_PNAME)
        s++, n--;
    if (!p->scratch && !(p->scratch = arena_new()))
        return vir_oom(p), NULL;
    if (n && *s == '"')
        return vir_unescape(p, s, n);
    char *r = arena_strndup(p->scratch, s, n);
    return r ? r : (vir_oom(p), NULL);
}
