%{
/* STUB: replaced by the frontend work. */
static int yylex(void) { return 0; }
static void yyerror(const char *s) { (void)s; }
%}
%%
start: %empty ;
%%
