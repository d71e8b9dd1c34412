/* ir.h — the Graph IR of vitc.
 *
 * A Graph owns everything reachable from it: nodes and values live in growable arrays
 * referenced by 32-bit ids, strings and attribute payloads in an arena freed at once by
 * ir_graph_free(). Nodes are kept in topological order; a node's results are the
 * consecutive values out .. out+nout-1. Inputs and parameters are nodes too (ops
 * `input` and `param`), so a graph is one list.
 *
 * Shapes have constant or symbolic dimensions. A symbolic dimension is a multiple of one
 * named symbol (`B`, `197*B`); every symbol has a declared maximum. All types, op
 * properties and attribute schemas come from the tables ops.def, attrs.def and dtypes.def.
 */
#ifndef VITC_IR_H
#define VITC_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IR_MAX_RANK 8

/* ---- allocation ------------------------------------------------------------------ */

/* Every allocation of the compiler goes through these. ir_alloc_fail_after(n) makes the
 * n-th following allocation fail (n < 0: never), so tests can run the out-of-memory paths.
 * They return NULL on failure; callers report it. */
void *ir_malloc(size_t n);
void *ir_calloc(size_t count, size_t size);
void *ir_realloc(void *p, size_t n);
void ir_free(void *p);
char *ir_strdup(const char *s);
void ir_alloc_fail_after(long n);

typedef struct Arena Arena;
Arena *arena_new(void);
void *arena_alloc(Arena *a, size_t n); /* zeroed, 16-byte aligned; NULL when out of memory */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
void arena_free(Arena *a);

/* ---- dtypes ---------------------------------------------------------------------- */

typedef enum {
#define DTYPE(id, name, bytes, isf) DT_##id,
#include "dtypes.def"
#undef DTYPE
    DT_COUNT
} DType;

const char *dtype_name(DType t);
size_t dtype_size(DType t);
bool dtype_is_float(DType t);
bool dtype_from_name(const char *name, size_t len, DType *out);

/* ---- shapes ---------------------------------------------------------------------- */

/* A dimension: the constant n when sym < 0, else n × symbol `sym` (n ≥ 1). */
typedef struct {
    int64_t n;
    int32_t sym;
} Dim;

typedef struct {
    int32_t rank;
    Dim d[IR_MAX_RANK];
} Shape;

typedef struct {
    DType dt;
    Shape shape;
} Type;

/* A symbol of the graph: its name and its declared maximum (the most it may be bound to). */
typedef struct {
    const char *name;
    int64_t max;
} Symbol;

static inline Dim dim_const(int64_t n) { return (Dim){n, -1}; }
static inline Dim dim_sym(int32_t sym, int64_t n) { return (Dim){n, sym}; }
static inline bool dim_is_const(Dim d) { return d.sym < 0; }
static inline bool dim_eq(Dim a, Dim b) { return a.n == b.n && a.sym == b.sym; }
/* a·b as a Dim (a constant times at most one symbol); false when both hold a symbol. */
static inline bool dim_mul(Dim a, Dim b, Dim *out)
{
    if (!dim_is_const(a) && !dim_is_const(b))
        return false;
    *out = (Dim){a.n * b.n, dim_is_const(a) ? b.sym : a.sym};
    return true;
}
bool shape_eq(const Shape *a, const Shape *b);
bool type_eq(const Type *a, const Type *b);
bool shape_is_const(const Shape *s);

/* The value of a dimension once every symbol is bound (bind[sym]). */
int64_t dim_eval(Dim d, const int64_t *bind);
/* Number of elements once bound; -1 when it overflows int64. */
int64_t shape_numel(const Shape *s, const int64_t *bind);

/* A product of dimensions: coef × Π syms (with repetition, sorted). Used to compare
 * element counts of symbolic shapes (reshape) and to infer a -1 dimension. */
typedef struct {
    int64_t coef;
    int32_t nsym;
    int32_t sym[2 * IR_MAX_RANK];
} Monomial;

/* false when the product overflows or has too many symbols */
bool shape_product(const Shape *s, Monomial *out);
bool monomial_eq(const Monomial *a, const Monomial *b);
/* a / b as one Dim; false when it is not a multiple of at most one symbol */
bool monomial_div_dim(const Monomial *a, const Monomial *b, Dim *out);

/* Normalise an axis given as Python-style index (negative counts from the end) for the
 * given rank; false when out of range. */
bool axis_norm(int64_t axis, int32_t rank, int32_t *out);

/* ---- typed attributes ------------------------------------------------------------ */

typedef struct {
    int32_t n;
    const int64_t *v;
} IntList;

typedef struct {
    int32_t n;
    const double *v;
} FloatList;

#define IR_NOLIST {0, NULL}
#define IR_NOSHAPE {-1, {{0, 0}}} /* rank -1: absent */

#define ENUM(x, VALUES) typedef enum { VALUES(ENUM_VALUE) x##_COUNT } Enum##x;
#define ENUM_VALUE(id, name) id,
#define ATTR(kind, member, Struct, FIELDS)
#include "attrs.def"
#undef ATTR
#undef ENUM
#undef ENUM_VALUE

typedef bool FIELDTYPE_BOOL;
typedef int64_t FIELDTYPE_INT;
typedef double FIELDTYPE_FLOAT;
typedef const char *FIELDTYPE_STR;
typedef DType FIELDTYPE_DTYPE;
typedef IntList FIELDTYPE_INTS;
typedef FloatList FIELDTYPE_FLOATS;
typedef Shape FIELDTYPE_SHAPE;
typedef int FIELDTYPE_ENUM_INIT;
typedef int FIELDTYPE_ENUM_GELU;
typedef int FIELDTYPE_ENUM_ROUTING;
typedef int FIELDTYPE_ENUM_MASK;
typedef int FIELDTYPE_ENUM_PACK;
typedef int FIELDTYPE_ENUM_SEGRED;

#define ATTR_DECL_FIELD(S, T, name, def) FIELDTYPE_##T name;
#define ATTR(kind, member, Struct, FIELDS) typedef struct { char unused_; FIELDS(ATTR_DECL_FIELD, Struct) } Struct;
#define ENUM(x, VALUES)
#include "attrs.def"
#undef ATTR
#undef ENUM

typedef enum {
#define ATTR(kind, member, Struct, FIELDS) ATTR_##kind,
#define ENUM(x, VALUES)
#include "attrs.def"
#undef ATTR
#undef ENUM
    ATTR_COUNT
} AttrKind;

typedef union {
#define ATTR(kind, member, Struct, FIELDS) Struct member;
#define ENUM(x, VALUES)
#include "attrs.def"
#undef ATTR
#undef ENUM
} Attr;

/* The schema of one attribute field, generated from attrs.def. */
typedef enum {
    FT_BOOL, FT_INT, FT_FLOAT, FT_STR, FT_DTYPE, FT_INTS, FT_FLOATS, FT_SHAPE, FT_ENUM
} FieldType;

typedef struct {
    const char *name;
    size_t offset; /* within the attribute struct */
    FieldType type;
    const char *const *enum_names; /* FT_ENUM: the names of its values */
    int enum_count;
} AttrField;

typedef struct {
    const char *name; /* the kind's name, e.g. "MATMUL" */
    const AttrField *fields;
    int nfields;
} AttrSchema;

const AttrSchema *attr_schema(AttrKind k);
void attr_set_defaults(AttrKind k, Attr *a);
bool attr_field_is_default(AttrKind k, const Attr *a, const AttrField *f);
bool attr_eq(AttrKind k, const Attr *a, const Attr *b);
uint64_t attr_hash(AttrKind k, const Attr *a, uint64_t h);
const AttrField *attr_field_find(AttrKind k, const char *name, size_t len);
/* Field addresses inside an attribute struct. */
static inline void *attr_field_ptr(Attr *a, const AttrField *f) { return (char *)a + f->offset; }
static inline const void *attr_field_cptr(const Attr *a, const AttrField *f)
{
    return (const char *)a + f->offset;
}

/* ---- ops ------------------------------------------------------------------------- */

typedef enum {
#define OP(id, name, nin, nout, attr, flags, cost, infer, interp) OP_##id,
#include "ops.def"
#undef OP
    OP_COUNT
} Op;

enum {
    OPF_SOURCE = 1u << 0, /* no operands; the graph's leaves */
    OPF_EW = 1u << 1,     /* elementwise */
    OPF_COMM = 1u << 2,   /* commutative (two operands) */
    OPF_MATMUL = 1u << 3, /* costed as 2 × multiply-adds */
};

typedef struct Graph Graph;
typedef struct Node Node;
typedef struct Diag Diag;
typedef struct InterpCtx InterpCtx;
typedef struct Tensor Tensor;

/* Shape inference: fills out[0..nout) from the operand types and the attributes. For
 * input, param and constant the declared result type is already in out[0]; the function
 * checks it. On failure it writes a message (no location: the caller adds it) to err. */
typedef bool (*InferFn)(const Graph *g, const Node *n, Type *out, char *err, size_t errlen);
/* Evaluation: results are allocated by the caller with the inferred shapes. */
typedef bool (*InterpFn)(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out);

typedef struct {
    const char *name;
    int nin; /* -1: variadic */
    int nout;
    AttrKind attr;
    unsigned flags;
    int cost;
    InferFn infer;
    InterpFn interp;
} OpInfo;

extern const OpInfo ir_ops[OP_COUNT];
bool op_from_name(const char *name, size_t len, Op *out);

/* ---- graphs ---------------------------------------------------------------------- */

/* A source location in a .vit (or .vir) file; file == NULL: none. */
typedef struct {
    const char *file; /* graph-owned (interned) */
    int32_t line, col;
} Loc;

typedef struct {
    Type type;
    int32_t node; /* the defining node */
    int32_t idx;  /* which of its results */
} Value;

struct Node {
    Op op;
    int32_t nin, nout;
    int32_t *in;  /* nin value ids, graph-owned */
    int32_t out;  /* first result value id */
    Attr attr;    /* of kind ir_ops[op].attr */
    Loc loc;
    bool dead;    /* removed; dropped by ir_compact() */
};

typedef struct {
    const char *name;
    int32_t value;
} Output;

struct Graph {
    Arena *arena;
    const char *name;
    Node *nodes;
    int32_t nnodes, capnodes;
    Value *values;
    int32_t nvalues, capvalues;
    Symbol *syms;
    int32_t nsyms, capsyms;
    Output *outputs;
    int32_t noutputs, capoutputs;
    MetaAttr meta; /* what users of the model need: preprocessing, labels */
    struct InternTable *strings;
};

Graph *ir_graph_new(const char *name);
void ir_graph_free(Graph *g);
/* A graph-owned copy of s (deduplicated). NULL when out of memory. */
const char *ir_intern(Graph *g, const char *s);
const char *ir_intern_n(Graph *g, const char *s, size_t n);

/* Symbols: ir_symbol returns the id of `name`, adding it with maximum `max` if new
 * (-1 on out of memory). ir_symbol_find returns -1 when absent. */
int32_t ir_symbol(Graph *g, const char *name, int64_t max);
int32_t ir_symbol_find(const Graph *g, const char *name, size_t len);

/* ---- building -------------------------------------------------------------------- */

/* Why a build failed; msg has no location. */
typedef struct {
    char msg[512];
} IrError;

/* Appends a node, infers its result types and returns its first result value id, or -1
 * with err filled (the graph is then unchanged). `attr` may be NULL for defaults.
 * `declared` gives the result type of input, param and constant (NULL otherwise). Strings
 * and lists inside attr are copied into the graph. */
int32_t ir_build(Graph *g, Op op, const int32_t *in, int32_t nin, const Attr *attr,
                 const Type *declared, Loc loc, IrError *err);

/* Convenience builders (attr defaults, no declared type). */
int32_t ir_build1(Graph *g, Op op, int32_t a, Loc loc, IrError *err);
int32_t ir_build2(Graph *g, Op op, int32_t a, int32_t b, Loc loc, IrError *err);
/* A scalar constant of dtype dt (rank 0). */
int32_t ir_build_scalar(Graph *g, double v, DType dt, Loc loc, IrError *err);

bool ir_add_output(Graph *g, const char *name, int32_t value);

/* Copies attribute payloads (strings, lists) of `a` into the graph's arena. */
bool ir_attr_own(Graph *g, AttrKind k, Attr *a);

static inline const Type *ir_type(const Graph *g, int32_t v) { return &g->values[v].type; }
static inline Node *ir_def(const Graph *g, int32_t v) { return &g->nodes[g->values[v].node]; }

/* ---- rewriting ------------------------------------------------------------------- */

/* Every use of value `from` (operands and outputs) becomes `to` (same type). */
void ir_replace_uses(Graph *g, int32_t from, int32_t to);
/* Number of uses of each value (array of g->nvalues, caller frees with ir_free). */
int32_t *ir_use_counts(const Graph *g);
/* Re-sorts the nodes topologically (stable: keeps the existing order where it can), drops
 * dead nodes and renumbers nodes and values. false when out of memory or on a cycle. */
bool ir_compact(Graph *g);

/* ---- checking -------------------------------------------------------------------- */

/* Checks every invariant: ids in range, topological order, arity, attribute kinds,
 * result types equal to a fresh inference, symbol maxima, outputs. Writes the first
 * problem to err (naming the node) and returns false. */
bool ir_verify(const Graph *g, IrError *err);
/* The packed NaViT inputs (docs/NAVIT.md) together, a rule of ir_verify that a parser can
 * only check once the graph is whole: at most one input per role, one token count across
 * them, patches and seg present as soon as any is. -1 when they hold, else the node that
 * breaks one, with err->msg (no location) saying which. */
int32_t ir_verify_packed(const Graph *g, IrError *err);

/* ---- text form (ir/IR.md) ---------------------------------------------------------- */

void ir_print(const Graph *g, FILE *out);
/* Parses the text form of one graph. NULL on error, with diagnostics (diag.h) in d. */
Graph *ir_parse(const char *text, size_t len, const char *filename, Diag *d);
void ir_print_type(const Graph *g, const Type *t, FILE *out);
/* Formats a dimension or a shape into buf ("B", "197*B", "[B,197,768]"). */
void ir_format_dim(const Graph *g, Dim d, char *buf, size_t n);
void ir_format_shape(const Graph *g, const Shape *s, char *buf, size_t n);
/* Shortest decimal text that reads back as the same double. */
void ir_format_double(double v, char *buf, size_t n);

/* ---- statistics ------------------------------------------------------------------ */

typedef struct {
    int64_t params;          /* elements of all parameters */
    int64_t param_bytes;
    double matmul_flops;     /* 2 × multiply-adds of matmul */
    double other_flops;      /* elementwise, reductions, normalisations (cost column) */
    int64_t activation_bytes; /* every intermediate result, summed */
    int64_t peak_live_bytes;  /* most bytes live at once, in node order */
    int32_t nodes;
    int32_t op_counts[OP_COUNT];
} IrStats;

/* Statistics with every symbol bound to bind[sym] (NULL: all symbols = 1). */
void ir_stats(const Graph *g, const int64_t *bind, IrStats *out);

/* Graphviz of the graph. */
void ir_print_dot(const Graph *g, FILE *out);

#endif
