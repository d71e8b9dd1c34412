/* parse.h — internal to the .vir parser (ir/parse*.c): tokens, the parser's state, and
 * what the lexer (parse_lex.c) and the reader of types and attributes (parse_attr.c)
 * offer to the statement parser (parse.c). The grammar is ir/IR.md.
 */
#ifndef VITC_PARSE_H
#define VITC_PARSE_H

#include "diag.h"
#include "ir.h"

enum {
    MAX_SYMBOLS = 1024, /* ir_symbol() is a linear search: keep it cheap */
    MAX_RESULTS = 8,
    MAX_FIELDS = 64, /* of one attribute kind */
};

typedef enum {
    T_EOF, T_NL, T_IDENT, T_VAL, T_GLOBAL, T_PNAME, T_INT, T_FLOAT, T_STR,
    T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_LBRACK, T_RBRACK, T_COMMA, T_EQ, T_COLON,
    T_STAR, T_LE, T_ERR /* a lexical error, already reported */
} TokKind;

typedef struct {
    TokKind kind;
    const char *s; /* the token's text, sigils and quotes included */
    size_t n;
    int32_t line, col;
    double f;      /* T_INT, T_FLOAT */
    int64_t i;     /* T_INT */
    bool intlike;  /* T_FLOAT spelled as an integer: one out of the range of int64 */
    const char *cmt; /* T_NL, T_EOF: the comment before it on its line, after '#' */
    size_t ncmt;
} Token;

/* Hash table from names (pointers into the text or into the graph) to ids. */
typedef struct {
    const char *key;
    size_t len;
    int32_t val; /* a value id; -1: defined by a line that failed */
    int32_t line, col;
} Entry;

typedef struct {
    Entry *e;
    size_t cap, count;
} Map;

typedef struct {
    const char *file;
    Diag *d;
    const char *end, *pos, *bol; /* the text's end, the lexer's position, its line's start */
    int32_t line;
    Token tok; /* the lookahead */
    Graph *g;
    Arena *scratch; /* strings and lists of the current line */
    Map values, syms, inputs, params, outputs; /* syms: to symbol ids */
    int32_t *ops;
    int32_t capops;
    void *list; /* a list being read */
    size_t caplist;
    int errors;
    bool oom, meta_seen;
    char desc[64];
} Parser;

/* An error at the position of token t, unless t is a lexical error (already reported). */
#define error_tok(p, t, ...)                                                                   \
    do {                                                                                       \
        if ((t)->kind != T_ERR)                                                                \
            vir_error(p, (t)->line, (t)->col, __VA_ARGS__);                                     \
    } while (0)

static inline bool vir_is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---- parse_lex.c ---- */

void vir_error(Parser *p, int32_t line, int32_t col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reports "out of memory" once; returns false. */
bool vir_oom(Parser *p);
Entry *vir_map_find(const Map *m, const char *k, size_t n);
/* Adds key k (absent) and returns its entry; NULL when out of memory. */
Entry *vir_map_add(Map *m, const char *k, size_t n);
/* Scans a quoted string starting at s (the opening quote). Returns the closing quote, or
 * NULL with *bad at the problem and *why saying what it is. */
const char *vir_scan_string(const char *s, const char *end, const char **bad, const char **why);
/* The contents of the valid quoted string s..s+n (quotes included), unescaped, in the
 * scratch arena (which must exist). */
char *vir_unescape(Parser *p, const char *s, size_t n);
/* Reads the next token into p->tok. */
void vir_lex(Parser *p);
/* After an error: skips the rest of the line. */
void vir_sync(Parser *p);
/* The token for messages: 'text', "the end of the line" */
const char *vir_describe(Parser *p, const Token *t);
/* The lookahead is k: consumes it; else reports "expected WHAT". */
bool vir_expect(Parser *p, TokKind k, const char *what);
/* The lookahead is k: consumes it. */
bool vir_accept(Parser *p, TokKind k);
/* t is the identifier `word` */
bool vir_is(const Token *t, const char *word);
/* The lookahead ends the line (a newline or the end of the text); else reports it. */
bool vir_end_of_line(Parser *p);
/* A NUL-terminated copy of a name token in the scratch arena: a bare word, or the
 * contents of a quoted string (T_STR, and @"..." / $"..." after their sigil). */
const char *vir_tok_string(Parser *p, const Token *t);

/* ---- parse_attr.c ---- */

/* `[d, d, ...]`: a shape of dims (integers, symbols, N*SYMBOL) */
bool vir_parse_shape(Parser *p, Shape *s);
/* `f32[B,197,768]` */
bool vir_parse_type(Parser *p, Type *t);
/* `{name = value, ...}` at the lookahead '{' into a (holding defaults); `what` names the
 * op in messages; seen[i] tells whether field i was given (the positional $name may set
 * one first). */
bool vir_parse_attrs(Parser *p, AttrKind k, Attr *a, const char *what, bool *seen);

#endif
