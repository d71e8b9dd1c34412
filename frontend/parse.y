/* parse.y — the grammar of .vit files (docs/LANGUAGE.md has it in prose).
 *
 * A pure parser over the reentrant scanner of lex.l. The actions only call the builders
 * of ast.c; every semantic value lives in the compilation's arena, so no %destructor is
 * needed: values dropped by error recovery are freed with the arena. Syntax errors are
 * recovered at the end of the statement (`error end`), so one run reports several.
 */
%define api.pure full
%define api.prefix {vit}
%define parse.error custom
%define parse.lac full
%locations
%param {yyscan_t scanner}

%code requires {
#include "ast.h"
typedef void *yyscan_t;
}

%code provides {
int vitlex(VITSTYPE *val, VITLTYPE *loc, yyscan_t scanner);
Parser *vitget_extra(yyscan_t scanner);
}

%code {
#include <string.h>

/* bison's stacks, when they outgrow the C stack, go through the compiler's allocator */
#define YYMALLOC ir_malloc
#define YYFREE ir_free
/* deeper nesting than this is reported, not followed */
#define YYMAXDEPTH 2000

#define P vitget_extra(scanner)
#define L(loc) ast_loc(P, (loc).first_line, (loc).first_column)

static void viterror(VITLTYPE *loc, yyscan_t scanner, const char *msg);
}

%union {
    int64_t i;
    double f;
    const char *name;
    Template *str;
    Expr *expr;
    Stmt *stmt;
    Arg *arg;
    Operator op;
    StmtList stmts;
    ExprList exprs;
    ArgList args;
}

%token <name> NAME "name"
%token <i> INT "integer"
%token <f> FLOAT "number"
%token <str> STRING "string"
%token NEWLINE "end of line"
%token IMPORT "'import'" DEF "'def'" MODEL "'model'" LET "'let'" INPUT "'input'"
%token OUTPUT "'output'" FOR "'for'" IN "'in'" IF "'if'" ELSE "'else'" RETURN "'return'"
%token AND "'and'" OR "'or'" NOT "'not'" TRUE "'true'" FALSE "'false'" NONE "'none'"
%token PREPROCESS "'preprocess'" LABELS "'labels'"
%token POW "'**'" FLOORDIV "'//'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token DOTDOT "'..'" ELLIPSIS "'...'"

%type <stmts> stmts block
%type <stmt> stmt simple compound if_stmt
%type <expr> expr postfix primary item expr_opt
%type <exprs> exprs exprs_opt items
%type <args> args args_opt params params_opt binds limits targets
%type <arg> arg param bind limit

%right IF ELSE
%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE
%nonassoc DOTDOT
%left '+' '-'
%left '*' '/' FLOORDIV '%' '@'
%precedence UMINUS
%right POW

%%

/* file: { stmt } */
file
    : stmts                         { P->items = $1.head; }
    ;

/* stmts: { stmt } */
stmts
    : %empty                        { $$ = (StmtList){0}; }
    | stmts stmt                    { $$ = $1; stmts_append(&$$, $2); }
    ;

/* stmt: simple end | compound | end; on errors, skip to the end of the statement or
 * over the block that follows */
stmt
    : simple end                    { $$ = $1; }
    | compound                      { $$ = $1; }
    | end                           { $$ = NULL; }
    | error end                     { $$ = NULL; yyerrok; }
    | error block                   { $$ = NULL; yyerrok; }
    ;

end
    : NEWLINE
    | ';'
    ;

/* block: '{' stmts '}' */
block
    : '{' stmts '}'                 { $$ = $2; }
    ;

/* ---- simple statements ---- */

simple
    /* import STRING */
    : IMPORT STRING                 { $$ = ast_stmt(P, S_IMPORT, L(@1)); $$->u.import.path = $2;
                                      $$->u.import.pathloc = L(@2); }
    /* let NAME = expr {, NAME = expr} */
    | LET binds                     { $$ = ast_stmt(P, S_LET, L(@1)); $$->u.let.binds = $2.head; }
    /* NAME {, NAME} = expr */
    | targets '=' expr              { $$ = ast_stmt(P, S_ASSIGN, $1.head->loc);
                                      $$->u.assign.targets = $1.head; $$->u.assign.value = $3; }
    /* expr (a call, for its effect) */
    | expr                          { $$ = ast_stmt(P, S_EXPR, $1->loc); $$->u.expr.e = $1; }
    /* return [expr] */
    | RETURN                        { $$ = ast_stmt(P, S_RETURN, L(@1)); }
    | RETURN expr                   { $$ = ast_stmt(P, S_RETURN, L(@1)); $$->u.ret.value = $2; }
    /* input NAME ':' DTYPE '[' dims ']' ['(' NAME <= expr {, NAME <= expr} ')'] */
    | INPUT NAME ':' NAME '[' exprs_opt ']'
                                    { $$ = ast_stmt(P, S_INPUT, L(@2)); $$->u.input.name = $2;
                                      $$->u.input.dtype = $4; $$->u.input.dtloc = L(@4);
                                      $$->u.input.dims = $6.head; }
    | INPUT NAME ':' NAME '[' exprs_opt ']' '(' limits ')'
                                    { $$ = ast_stmt(P, S_INPUT, L(@2)); $$->u.input.name = $2;
                                      $$->u.input.dtype = $4; $$->u.input.dtloc = L(@4);
                                      $$->u.input.dims = $6.head; $$->u.input.limits = $9.head; }
    /* input NAME {, NAME} ':' KIND '(' args ')': a packed sequence (docs/NAVIT.md) */
    | INPUT NAME ':' NAME '(' args_opt ')'
                                    { $$ = ast_stmt(P, S_INPUT, L(@2)); $$->u.input.name = $2;
                                      $$->u.input.dtype = $4; $$->u.input.dtloc = L(@4);
                                      $$->u.input.packed = true; $$->u.input.args = $6.head; }
    | INPUT NAME ',' targets ':' NAME '(' args_opt ')'
                                    { $$ = ast_stmt(P, S_INPUT, L(@2)); $$->u.input.name = $2;
                                      $$->u.input.more = $4.head; $$->u.input.dtype = $6;
                                      $$->u.input.dtloc = L(@6); $$->u.input.packed = true;
                                      $$->u.input.args = $8.head; }
    /* output NAME = expr */
    | OUTPUT NAME '=' expr          { $$ = ast_stmt(P, S_OUTPUT, L(@2)); $$->u.output.name = $2;
                                      $$->u.output.value = $4; }
    /* preprocess '(' args ')' */
    | PREPROCESS '(' args_opt ')'   { $$ = ast_stmt(P, S_PREPROCESS, L(@1));
                                      $$->u.preprocess.args = $3.head; }
    /* labels STRING */
    | LABELS STRING                 { $$ = ast_stmt(P, S_LABELS, L(@1)); $$->u.labels.path = $2;
                                      $$->u.labels.pathloc = L(@2); }
    ;

binds
    : bind                          { $$ = (ArgList){0}; args_append(&$$, $1); }
    | binds ',' bind                { $$ = $1; args_append(&$$, $3); }
    ;

bind
    : NAME '=' expr                 { $$ = ast_arg(P, $1, $3, L(@1)); }
    ;

targets
    : NAME                          { $$ = (ArgList){0}; args_append(&$$, ast_arg(P, $1, NULL, L(@1))); }
    | targets ',' NAME              { $$ = $1; args_append(&$$, ast_arg(P, $3, NULL, L(@3))); }
    ;

limits
    : limit                         { $$ = (ArgList){0}; args_append(&$$, $1); }
    | limits ',' limit              { $$ = $1; args_append(&$$, $3); }
    ;

limit
    : NAME LE expr                  { $$ = ast_arg(P, $1, $3, L(@1)); }
    ;

/* ---- compound statements ---- */

compound
    /* def NAME '(' [params] ')' block */
    : DEF NAME '(' params_opt ')' block
                                    { $$ = ast_stmt(P, S_DEF, L(@2)); $$->u.def.name = $2;
                                      $$->u.def.params = $4.head; $$->u.def.body = $6.head; }
    /* model NAME block */
    | MODEL NAME block              { $$ = ast_stmt(P, S_MODEL, L(@2)); $$->u.model.name = $2;
                                      $$->u.model.body = $3.head; }
    /* for NAME in expr block */
    | FOR NAME IN expr block        { $$ = ast_stmt(P, S_FOR, L(@1)); $$->u.loop.var = $2;
                                      $$->u.loop.varloc = L(@2); $$->u.loop.iter = $4;
                                      $$->u.loop.body = $5.head; }
    | if_stmt
    ;

/* if_stmt: if expr block [else (block | if_stmt)] */
if_stmt
    : IF expr block                 { $$ = ast_stmt(P, S_IF, L(@1)); $$->u.cond.cond = $2;
                                      $$->u.cond.then = $3.head; }
    | IF expr block ELSE block      { $$ = ast_stmt(P, S_IF, L(@1)); $$->u.cond.cond = $2;
                                      $$->u.cond.then = $3.head; $$->u.cond.els = $5.head; }
    | IF expr block ELSE if_stmt    { $$ = ast_stmt(P, S_IF, L(@1)); $$->u.cond.cond = $2;
                                      $$->u.cond.then = $3.head; $$->u.cond.els = $5; }
    ;

params_opt
    : %empty                        { $$ = (ArgList){0}; }
    | params                        { $$ = $1; }
    | params ','                    { $$ = $1; }
    ;

params
    : param                         { $$ = (ArgList){0}; args_append(&$$, $1); }
    | params ',' param              { $$ = $1; args_append(&$$, $3); }
    ;

/* param: NAME ['=' expr] */
param
    : NAME                          { $$ = ast_arg(P, $1, NULL, L(@1)); }
    | NAME '=' expr                 { $$ = ast_arg(P, $1, $3, L(@1)); }
    ;

/* ---- expressions, loosest first ---- */

expr
    : expr IF expr ELSE expr        { $$ = ast_cond(P, $1, $3, $5, L(@2)); }
    | expr OR expr                  { $$ = ast_binary(P, OPR_OR, $1, $3, L(@2)); }
    | expr AND expr                 { $$ = ast_binary(P, OPR_AND, $1, $3, L(@2)); }
    | NOT expr                      { $$ = ast_unary(P, OPR_NOT, $2, L(@1)); }
    | expr EQ expr                  { $$ = ast_binary(P, OPR_EQ, $1, $3, L(@2)); }
    | expr NE expr                  { $$ = ast_binary(P, OPR_NE, $1, $3, L(@2)); }
    | expr '<' expr                 { $$ = ast_binary(P, OPR_LT, $1, $3, L(@2)); }
    | expr LE expr                  { $$ = ast_binary(P, OPR_LE, $1, $3, L(@2)); }
    | expr '>' expr                 { $$ = ast_binary(P, OPR_GT, $1, $3, L(@2)); }
    | expr GE expr                  { $$ = ast_binary(P, OPR_GE, $1, $3, L(@2)); }
    | expr DOTDOT expr              { $$ = ast_binary(P, OPR_RANGE, $1, $3, L(@2)); }
    | expr '+' expr                 { $$ = ast_binary(P, OPR_ADD, $1, $3, L(@2)); }
    | expr '-' expr                 { $$ = ast_binary(P, OPR_SUB, $1, $3, L(@2)); }
    | expr '*' expr                 { $$ = ast_binary(P, OPR_MUL, $1, $3, L(@2)); }
    | expr '/' expr                 { $$ = ast_binary(P, OPR_DIV, $1, $3, L(@2)); }
    | expr FLOORDIV expr            { $$ = ast_binary(P, OPR_FLOORDIV, $1, $3, L(@2)); }
    | expr '%' expr                 { $$ = ast_binary(P, OPR_MOD, $1, $3, L(@2)); }
    | expr '@' expr                 { $$ = ast_binary(P, OPR_MATMUL, $1, $3, L(@2)); }
    | '-' expr %prec UMINUS         { $$ = ast_unary(P, OPR_NEG, $2, L(@1)); }
    | expr POW expr                 { $$ = ast_binary(P, OPR_POW, $1, $3, L(@2)); }
    | postfix
    ;

/* postfix: primary { '(' [args] ')' | '[' items ']' } */
postfix
    : primary
    | postfix '(' args_opt ')'      { $$ = ast_call(P, $1, $3.head, $1->loc); }
    | postfix '[' items ']'         { $$ = ast_index(P, $1, $3.head, L(@2)); }
    ;

primary
    : NAME                          { $$ = ast_name(P, $1, L(@1)); }
    | INT                           { $$ = ast_int(P, $1, L(@1)); }
    | FLOAT                         { $$ = ast_float(P, $1, L(@1)); }
    | STRING                        { $$ = ast_string(P, $1, L(@1)); }
    | TRUE                          { $$ = ast_expr(P, E_BOOL, L(@1)); $$->u.b = true; }
    | FALSE                         { $$ = ast_expr(P, E_BOOL, L(@1)); $$->u.b = false; }
    | NONE                          { $$ = ast_expr(P, E_NONE, L(@1)); }
    | '(' expr ')'                  { $$ = $2; }
    | '[' exprs_opt ']'             { $$ = ast_list(P, $2.head, L(@1)); }
    ;

/* call arguments: positional first, then NAME = expr */
args_opt
    : %empty                        { $$ = (ArgList){0}; }
    | args                          { $$ = $1; }
    | args ','                      { $$ = $1; }
    ;

args
    : arg                           { $$ = (ArgList){0}; args_append(&$$, $1); }
    | args ',' arg                  { $$ = $1; args_append(&$$, $3); }
    ;

arg
    : expr                          { $$ = ast_arg(P, NULL, $1, $1->loc); }
    | NAME '=' expr                 { $$ = ast_arg(P, $1, $3, L(@1)); }
    ;

exprs_opt
    : %empty                        { $$ = (ExprList){0}; }
    | exprs                         { $$ = $1; }
    | exprs ','                     { $$ = $1; }
    ;

exprs
    : expr                          { $$ = (ExprList){0}; exprs_append(&$$, $1); }
    | exprs ',' expr                { $$ = $1; exprs_append(&$$, $3); }
    ;

/* index items: expr | [expr] ':' [expr] [':' [expr]] | '...' */
items
    : item                          { $$ = (ExprList){0}; exprs_append(&$$, $1); }
    | items ',' item                { $$ = $1; exprs_append(&$$, $3); }
    ;

item
    : expr
    | ELLIPSIS                      { $$ = ast_expr(P, E_ELLIPSIS, L(@1)); }
    | expr_opt ':' expr_opt         { $$ = ast_slice(P, $1, $3, NULL, L(@2)); }
    | expr_opt ':' expr_opt ':' expr_opt
                                    { $$ = ast_slice(P, $1, $3, $5, L(@2)); }
    ;

expr_opt
    : %empty                        { $$ = NULL; }
    | expr
    ;

%%

/* Bison's own messages: the parser stack overflowed (nesting) or memory ran out. */
static void viterror(VITLTYPE *loc, yyscan_t scanner, const char *msg)
{
    if (strstr(msg, "exhausted"))
        ast_error(P, L(*loc), "the program is nested too deeply (over the parser's limit of %d levels)", YYMAXDEPTH);
    else
        ast_error(P, L(*loc), "%s", msg);
}

/* The text of a token kind for messages: 'def', name 'foo', end of line, ... */
static void describe_token(Parser *p, yysymbol_kind_t k, bool actual, char *buf, size_t n)
{
    const char *name = yysymbol_name(k);
    if (k == YYSYMBOL_YYEOF) {
        snprintf(buf, n, "end of file");
    } else if (actual && k == YYSYMBOL_NAME) {
        snprintf(buf, n, "name '%.*s'", (int)(p->toklen < 60 ? p->toklen : 60), p->tok);
    } else if (actual && (k == YYSYMBOL_INT || k == YYSYMBOL_FLOAT)) {
        snprintf(buf, n, "number %.*s", (int)(p->toklen < 60 ? p->toklen : 60), p->tok);
    } else if (name[0] == '"') { /* an alias: "'def'", "end of line", ... */
        snprintf(buf, n, "%.*s", (int)strlen(name) - 2, name + 1);
    } else {
        snprintf(buf, n, "%s", name);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner)
{
    Parser *p = P;
    enum { SHOWN = 5, MAXEXP = 64 };
    yysymbol_kind_t exp[MAXEXP];
    char msg[512], tok[128];
    yysymbol_kind_t got = yypcontext_token(ctx);
    int n = yypcontext_expected_tokens(ctx, exp, MAXEXP);
    bool brace = false;
    for (int i = 0; i < n; i++)
        brace |= strcmp(yysymbol_name(exp[i]), "'}'") == 0;
    describe_token(p, got, true, tok, sizeof tok);
    size_t len = (size_t)snprintf(msg, sizeof msg, "syntax error: unexpected %s", tok);
    if (n > SHOWN && brace && got == YYSYMBOL_YYEOF) {
        snprintf(msg + len, sizeof msg - len, ", expected '}'");
    } else if (n <= SHOWN) {
        for (int i = 0; i < n && len < sizeof msg; i++) {
            describe_token(p, exp[i], false, tok, sizeof tok);
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s",
                                    i == 0 ? ", expected " : i == n - 1 ? " or " : ", ", tok);
        }
    }
    ast_error(p, L(*yypcontext_location(ctx)), "%s", msg);
    /* an error on a later line than an open ( or [: probably not closed; newlines end
     * statements again, so recovery resumes at the end of this line */
    int open = p->depth;
    const VITLTYPE *at = yypcontext_location(ctx);
    if (open > 0 && open <= (int)(sizeof p->parens / sizeof p->parens[0]) &&
        p->parens[open - 1].line < at->first_line) {
        diag_note(p->d, p->parens[open - 1], "the '%c' that is not closed", p->parenchar[open - 1]);
        p->depth = 0;
    }
    if (brace && got == YYSYMBOL_YYEOF && p->nbraces > 0 &&
        p->nbraces <= (int)(sizeof p->braces / sizeof p->braces[0]))
        diag_note(p->d, p->braces[p->nbraces - 1], "the '{' that is not closed");
    return 0;
}
