/* ast.h — the syntax tree of a .vit file, built by the parser's actions (parse.y) through
 * the builders of ast.c.
 *
 * Every node lives in the compilation's arena and is freed with it, so the parser has no
 * heap values to destroy on error recovery. Every node keeps its location. Lists (block
 * statements, call arguments, list items) are singly linked through `next`.
 */
#ifndef VITC_AST_H
#define VITC_AST_H

#include <setjmp.h>

#include "../ir/diag.h"
#include "../ir/ir.h"

/* ---- strings and templates ---------------------------------------------------------- */

/* A string literal: literal text and `{name}` references, in order. A string without
 * references is one text part (or none when empty). */
typedef enum { TP_TEXT, TP_NAME } TemplatePartKind;

typedef struct {
    TemplatePartKind kind;
    const char *s; /* text (escapes resolved) or the name; NUL-terminated */
    size_t n;
    Loc loc;       /* TP_NAME: where the name is, inside the string */
} TemplatePart;

typedef struct {
    int nparts;
    TemplatePart *parts;
    bool bad; /* a lexical error was reported in it: its value is poison */
} Template;

/* ---- expressions -------------------------------------------------------------------- */

typedef enum {
    E_INT, E_FLOAT, E_STRING, E_BOOL, E_NONE, E_NAME,
    E_LIST,     /* [a, b, c] */
    E_UNARY,    /* -a, not a */
    E_BINARY,   /* a op b (and, or: short-circuit on constants) */
    E_COND,     /* a if c else b */
    E_CALL,     /* f(args) */
    E_INDEX,    /* a[items] */
    E_SLICE,    /* lo:hi:step, only as an index item */
    E_ELLIPSIS, /* ..., only as an index item */
} ExprKind;

typedef enum {
    OPR_ADD, OPR_SUB, OPR_MUL, OPR_DIV, OPR_FLOORDIV, OPR_MOD, OPR_POW, OPR_MATMUL,
    OPR_EQ, OPR_NE, OPR_LT, OPR_LE, OPR_GT, OPR_GE, OPR_AND, OPR_OR, OPR_RANGE,
    OPR_NEG, OPR_NOT,
} Operator;

const char *operator_text(Operator op);

typedef struct Expr Expr;
typedef struct Arg Arg;

/* A call argument, a def parameter, a `let` binding or an input's symbol limit:
 * `name = value`, or just `value` (name NULL; a positional argument) or just `name`
 * (value NULL; a parameter without default). */
struct Arg {
    const char *name;
    Loc loc; /* of the name, else of the value */
    Expr *value;
    Arg *next;
};

struct Expr {
    ExprKind kind;
    Loc loc; /* operators: the operator; calls: the callee; index: the '[' */
    Expr *next; /* in a list of expressions */
    union {
        int64_t i;      /* E_INT */
        double f;       /* E_FLOAT */
        bool b;         /* E_BOOL */
        Template *str;  /* E_STRING */
        const char *name; /* E_NAME */
        Expr *items;    /* E_LIST */
        struct { Operator op; Expr *a, *b; } op;          /* E_UNARY (b NULL), E_BINARY */
        struct { Expr *cond, *then, *els; } cond;         /* E_COND */
        struct { Expr *fn; Arg *args; } call;             /* E_CALL */
        struct { Expr *base; Expr *items; } index;        /* E_INDEX */
        struct { Expr *lo, *hi, *step; } slice;           /* E_SLICE (each may be NULL) */
    } u;
};

/* ---- statements --------------------------------------------------------------------- */

typedef enum {
    S_IMPORT, S_DEF, S_MODEL, S_LET, S_ASSIGN, S_EXPR, S_FOR, S_IF, S_RETURN,
    S_INPUT, S_OUTPUT, S_PREPROCESS, S_LABELS,
} StmtKind;

typedef struct Stmt Stmt;

struct Stmt {
    StmtKind kind;
    Loc loc; /* the keyword, or the first target of an assignment */
    Stmt *next;
    union {
        struct { Template *path; Loc pathloc; int file; } import; /* S_IMPORT; file: resolved */
        struct { const char *name; Arg *params; Stmt *body; } def;        /* S_DEF */
        struct { const char *name; Stmt *body; } model;                   /* S_MODEL */
        struct { Arg *binds; } let;                                       /* S_LET */
        struct { Arg *targets; Expr *value; } assign; /* S_ASSIGN: names in targets */
        struct { Expr *e; } expr;                                         /* S_EXPR */
        struct { const char *var; Loc varloc; Expr *iter; Stmt *body; } loop; /* S_FOR */
        struct { Expr *cond; Stmt *then, *els; } cond;    /* S_IF: els is a block or an if */
        struct { Expr *value; } ret;                      /* S_RETURN: value may be NULL */
        /* S_INPUT: `input NAME: DTYPE[dims] (limits)`, or a packed NaViT sequence
           `input NAME, more...: packed(args)` (packed set; dtype is the kind's name) */
        struct { const char *name; const char *dtype; Loc dtloc; Expr *dims; Arg *limits;
                 bool packed; Arg *more; Arg *args; } input;
        struct { const char *name; Expr *value; } output;                 /* S_OUTPUT */
        struct { Arg *args; } preprocess;                                 /* S_PREPROCESS */
        struct { Template *path; Loc pathloc; } labels;                   /* S_LABELS */
    } u;
};

/* Lists under construction: appending keeps the tail. */
typedef struct { Stmt *head, *tail; } StmtList;
typedef struct { Expr *head, *tail; } ExprList;
typedef struct { Arg *head, *tail; } ArgList;

/* ---- the parser --------------------------------------------------------------------- */

/* One file being parsed. The lexer's state lives here too (lex.l). */
typedef struct Parser {
    Arena *arena;     /* the compilation's arena: every AST node */
    Diag *d;
    const char *file; /* the file name used in locations (arena-owned) */
    Stmt *items;      /* the result: the file's top-level statements */
    int errors;       /* syntax and lexical errors reported */
    bool oom;
    /* lexer state */
    int line, col;
    int depth;        /* open ( and [: newlines inside them are not statement ends */
    Loc parens[64];   /* where the innermost open ( and [ are */
    char parenchar[64];
    int last;         /* the last token returned, for the implicit end of line before } */
    int pending;      /* a token held back while an implicit end of line is returned */
    Loc braces[64];   /* where the innermost open { are, for "not closed" notes */
    int nbraces;
    int bad_line;     /* the line of the last lexical error: one per line is reported */
    const char *tok;  /* the text of the current token, for syntax error messages */
    size_t toklen;
    jmp_buf fatal;    /* where the scanner's fatal errors (out of memory) return to */
    union { Stmt s; Expr e; Arg a; Template t; } scratch; /* see ast_alloc */
} Parser;

/* Parses text (len bytes, NULs allowed) into p->items; false when errors were reported. */
bool ast_parse(Parser *p, const char *text, size_t len);

Loc ast_loc(const Parser *p, int line, int col);
void *ast_alloc(Parser *p, size_t n);
const char *ast_strndup(Parser *p, const char *s, size_t n);
void ast_error(Parser *p, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Builders called by the grammar's actions. */
Expr *ast_expr(Parser *p, ExprKind k, Loc loc);
Expr *ast_int(Parser *p, int64_t v, Loc loc);
Expr *ast_float(Parser *p, double v, Loc loc);
Expr *ast_string(Parser *p, Template *t, Loc loc);
Expr *ast_name(Parser *p, const char *name, Loc loc);
Expr *ast_unary(Parser *p, Operator op, Expr *a, Loc loc);
Expr *ast_binary(Parser *p, Operator op, Expr *a, Expr *b, Loc loc);
Expr *ast_cond(Parser *p, Expr *then, Expr *cond, Expr *els, Loc loc);
Expr *ast_call(Parser *p, Expr *fn, Arg *args, Loc loc);
Expr *ast_index(Parser *p, Expr *base, Expr *items, Loc loc);
Expr *ast_slice(Parser *p, Expr *lo, Expr *hi, Expr *step, Loc loc);
Expr *ast_list(Parser *p, Expr *items, Loc loc);
Arg *ast_arg(Parser *p, const char *name, Expr *value, Loc loc);
Stmt *ast_stmt(Parser *p, StmtKind k, Loc loc);

void stmts_append(StmtList *l, Stmt *s);
void exprs_append(ExprList *l, Expr *e);
void args_append(ArgList *l, Arg *a);

/* The lexer's helper: the template of a string literal `text` (with its quotes) that
 * starts at loc; reports bad escapes and braces. */
Template *ast_template(Parser *p, const char *text, size_t len, Loc loc);

#endif
