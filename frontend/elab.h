/* elab.h — what the elaboration files share: dynamic values, scopes, the elaborator.
 *
 * Elaboration runs a parsed program at compile time. Values are dynamic (Val); tensors
 * are value ids of the graph being built. A poison value stands for something whose error
 * was already reported: every operation on poison quietly gives poison, so one mistake
 * gives one message.
 *
 *   elaborate.c  files, imports, top-level items, the model statements (input, output, ...)
 *   exec.c       statements, blocks, def calls (inlining)
 *   eval.c       expressions and operators
 *   index.c      indexing and slicing of tensors and lists
 *   call.c       calls: argument binding, primitives (ops.def) and attribute arguments
 *   fold.c       elementwise primitives on plain numbers
 *   builtins.c   param, shape, len, assert, ...
 *   value.c      values, scopes, diagnostics with the call stack
 */
#ifndef VITC_ELAB_H
#define VITC_ELAB_H

#include "ast.h"
#include "frontend.h"

/* Limits that keep any input, however hostile, finite (each one is reported). */
enum {
    MAX_CALL_DEPTH = 64,  /* defs inlined inside each other */
    MAX_NEST = 400,       /* expression and block nesting during evaluation */
    MAX_FILES = 256,      /* files of one compilation */
    MAX_LIST = 1 << 20,   /* elements of a list */
    MAX_STRING = 1 << 16, /* bytes of a string */
    MAX_INPUTS = 256,
    MAX_OUTPUTS = 256,
    MAX_SYMBOLS = 64,
};
#define MAX_STEPS 5000000 /* evaluation steps of one compilation */
#define MAX_NODES 2000000 /* nodes of the graph */

typedef enum {
    V_POISON, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_TENSOR, V_DIM, V_DTYPE, V_FUNC,
} ValKind;

typedef enum { F_DEF, F_BUILTIN, F_PRIM } FuncKind;

typedef struct Val Val;
struct Val {
    ValKind k;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; int32_t n; } str; /* NUL-terminated too */
        struct { const Val *v; int32_t n; } list;
        int32_t t; /* V_TENSOR: the value id */
        Dim dim;   /* V_DIM: always symbolic (constant dims are ints) */
        DType dt;
        struct { FuncKind kind; int32_t id; const Stmt *def; } fn; /* id: builtin or Op */
    } u;
};

/* ---- scopes: string-keyed hash maps ---- */

enum { SYM_CONST = 1 }; /* a `let` name: cannot be rebound in its scope */

typedef struct {
    const char *name;
    Val v;
    Loc loc; /* where it was bound */
    unsigned flags;
} Entry;

typedef struct {
    Entry *slots;
    uint32_t cap, count;
} Scope;

Entry *scope_find(const Scope *s, const char *name);
/* Finds or adds `name` (a new entry holds poison); NULL when out of memory. */
Entry *scope_put(Scope *s, const char *name, bool *added);
void scope_free(Scope *s);

/* ---- the elaborator ---- */

typedef enum { CTX_TOP, CTX_MODEL, CTX_DEF } Context;

/* One inlined call in progress. */
typedef struct {
    const Stmt *def;
    Loc from; /* the call expression */
} CallFrame;

typedef struct Elab {
    Graph *g;
    Diag *d;
    Arena *arena;   /* the AST and every value of the compilation */
    const FrontendOptions *opts;
    Scope universe; /* builtins, primitives, dtypes */
    Scope globals;  /* top-level lets and defs of all files */
    Scope *locals;  /* the current model or def frame; NULL at the top level */
    Context ctx;
    CallFrame calls[MAX_CALL_DEPTH];
    int ncalls;
    Scope params;   /* parameter name -> its value (weight tying); loc: its declaration */
    Scope inputs, outputs;
    bool packed; /* the model declared its packed sequence */
    Scope reported; /* "file:line:col" of errors already reported (loops, repeated calls) */
    int64_t steps;
    int nest;
    bool stop;      /* give up: too many errors, a limit, out of memory */
} Elab;

/* Errors: at loc, with the stack of inlined calls as notes; each location reports once.
 * elab_error_note adds a note at noteloc (when noteloc.file is set) before the call
 * stack. Both return whether the error was shown. */
bool elab_error(Elab *e, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool elab_error_note(Elab *e, Loc loc, Loc noteloc, const char *note, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Out of memory: reported once; elaboration stops. */
void elab_oom(Elab *e);
/* Counts one evaluation step (plus `extra`); false (reported) past the limit. */
bool elab_step(Elab *e, Loc loc, int64_t extra);

/* ---- values ---- */

static inline Val v_poison(void) { return (Val){.k = V_POISON}; }
static inline Val v_none(void) { return (Val){.k = V_NONE}; }
static inline Val v_bool(bool b) { return (Val){.k = V_BOOL, .u.b = b}; }
static inline Val v_int(int64_t i) { return (Val){.k = V_INT, .u.i = i}; }
static inline Val v_float(double f) { return (Val){.k = V_FLOAT, .u.f = f}; }
static inline Val v_tensor(int32_t t) { return t < 0 ? v_poison() : (Val){.k = V_TENSOR, .u.t = t}; }
static inline Val v_dtype(DType dt) { return (Val){.k = V_DTYPE, .u.dt = dt}; }
static inline bool is_number(Val v) { return v.k == V_INT || v.k == V_FLOAT; }
static inline double num(Val v) { return v.k == V_INT ? (double)v.u.i : v.u.f; }
Val v_dim(Dim d); /* an int when d is constant */
Val v_str(Elab *e, const char *s, size_t n);
/* A new list of n elements for the caller to fill; NULL (reported at loc) when too long
 * or out of memory. */
Val *v_list_new(Elab *e, int64_t n, Loc loc, Val *out);
void *elab_alloc(Elab *e, size_t n); /* zeroed, from the arena; NULL (reported) when out of memory */

/* "int", "tensor f32[B,197,768]", ...: for messages. */
const char *val_kind_name(ValKind k);
void val_describe(const Elab *e, Val v, char *buf, size_t n);
/* The text of v inside a string template; false when v has none (tensors, lists, ...). */
bool val_format(const Elab *e, Val v, char *buf, size_t n);
/* Equality of compile-time values; *ok becomes false when it cannot be decided now
 * (tensors, a symbolic dimension against a number). */
bool val_equal(Val a, Val b, bool *ok);

/* An evaluated call argument: name NULL when positional. */
typedef struct {
    const char *name;
    Loc loc;
    Val v;
} CallArg;

/* ---- exec.c ---- */

typedef enum { FLOW_NEXT, FLOW_RETURN } Flow;
/* Runs the statements s, s->next, ...; FLOW_RETURN when a `return` set *ret. */
Flow exec_block(Elab *e, const Stmt *s, Val *ret);
Flow exec_stmt(Elab *e, const Stmt *s, Val *ret);
Val call_def(Elab *e, const Stmt *def, const CallArg *args, int nargs, Loc loc);
/* Binds a name in the current frame (the globals at the top level); false (reported)
 * when it is a constant there. */
bool bind_name(Elab *e, const char *name, Val v, Loc loc, bool constant);
/* A visible name: the frame, then the globals, then the builtins; NULL when unknown. */
Entry *lookup(Elab *e, const char *name);

/* ---- elaborate.c: the model statements ---- */

void exec_input(Elab *e, const Stmt *s);
void exec_output(Elab *e, const Stmt *s);
void exec_preprocess(Elab *e, const Stmt *s);
void exec_labels(Elab *e, const Stmt *s);

/* ---- eval.c ---- */

Val eval(Elab *e, const Expr *x);
Val eval_template(Elab *e, const Template *t, Loc loc);
/* "unknown function 'foo'; did you mean 'fo'?" */
void elab_unknown(Elab *e, const char *name, Loc loc, const char *what);
/* a op b on any values: numbers at compile time, tensors as nodes */
Val binary_op(Elab *e, Operator op, Val a, Val b, Loc loc);
/* Arithmetic on two numbers; poison (reported) on errors such as x / 0. */
Val number_op(Elab *e, Operator op, Val a, Val b, Loc loc);
/* Builds a node at loc (the outermost call site inside defs); -1 (reported) on errors. */
int32_t build(Elab *e, Op op, const int32_t *in, int nin, const Attr *a, const Type *decl, Loc loc);
/* A rank-0 constant of dtype dt holding the number or bool v; -1 (reported) when v does
 * not fit the dtype. */
int32_t scalar_tensor(Elab *e, Val v, DType dt, Loc loc);
/* The location of nodes built for an expression at loc. */
Loc node_loc(const Elab *e, Loc loc);
bool want_int(Elab *e, Val v, Loc loc, const char *what, int64_t *out);

/* ---- index.c ---- */

Val eval_index(Elab *e, const Expr *x);

/* ---- call.c ---- */

Val eval_call(Elab *e, const Expr *x);
Val call_prim(Elab *e, Op op, const CallArg *args, int nargs, Loc loc);
/* Binds call arguments to the parameters names[0..n): positional ones in order, then
 * keywords. out[i] is set and given[i] true for each parameter passed; the first
 * `required` must be. false (reported at loc) on a mismatch; a def's errors carry a
 * note at defloc (when defloc.file is set). */
bool bind_args(Elab *e, const char *fname, Loc defloc, const char *const *names, int n, int required,
               const CallArg *args, int nargs, Loc loc, Val *out, bool *given);
/* Sets field f of attribute a from v; false (reported at loc) when v does not fit. */
bool attr_set_field(Elab *e, Attr *a, const AttrField *f, Val v, Loc loc, const char *owner);
/* Fills attribute a from arguments: positional ones in schema order, then keywords. */
bool attr_from_args(Elab *e, AttrKind k, Attr *a, const CallArg *args, int nargs, const char *owner);
/* "axis, eps, center": the field names of an attribute kind, for messages. */
void attr_field_names(AttrKind k, char *buf, size_t n);

/* ---- fold.c ---- */

/* An elementwise primitive on numbers at compile time; false when op has no such meaning
 * (*out is then poison); true with *out (poison when reported) otherwise. */
bool fold_prim(Elab *e, Op op, const Attr *a, const Val *in, int nin, Loc loc, Val *out);

/* ---- builtins.c ---- */

typedef Val (*BuiltinFn)(Elab *e, const CallArg *args, int nargs, Loc loc);
typedef struct {
    const char *name;
    BuiltinFn fn;
} Builtin;
extern const Builtin builtins[];
extern const int nbuiltins;

#endif
