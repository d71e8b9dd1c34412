/* plan.h — the kernel plan: an optimised graph partitioned into kernels.
 *
 * Every kernel reads strided views of buffers and writes one view of one buffer. Views
 * make reshape (of contiguous data), transpose, slice and broadcast free: they change
 * strides and offsets, never data. A kernel is one of a small closed set of kinds; what it
 * computes per output element is an expression tree (Expr) over loads of views at the
 * output index, so elementwise chains, GEMM epilogues (bias, GELU, residual) and the
 * scale/shift after a normalisation are all the same mechanism.
 *
 *   kind        computes                                              parallel over
 *   ELEMENTWISE out[i] = expr(i)                                      rows of out
 *   GEMM        out[b,m,n] = epi(Σk A[b,m,k]·B[b,k,n], (b,m,n))       batch × row blocks
 *   ROW         out[r,:] = epi(f(in[r,:])) for normalize, softmax,    rows
 *               log_softmax along the last axis of the view
 *   REDUCE      out[o] = epi(reduce over the view's trailing axes)    outputs
 *   GATHER      out[..., j, ...] = in[..., idx[j], ...]               rows of out
 *
 * Buffers are inputs, parameters, constants, outputs and temporaries. Sizes may depend on
 * symbols (the batch B), so the memory plan is resolved when the symbols are bound: the
 * plan records each temporary's live range (first and last kernel) and the runtime places
 * them in one workspace, reusing memory by liveness.
 */
#ifndef VITC_PLAN_H
#define VITC_PLAN_H

#include "interp.h"
#include "ir.h"

/* A strided view: element (i_0, ..., i_{r-1}) is at offset + Σ i_d·stride_d elements from
 * the start of buffer `buf`. Strides and offset are multiples of at most one symbol. */
typedef struct {
    int32_t buf;
    int32_t rank;
    Dim dims[IR_MAX_RANK];
    Dim strides[IR_MAX_RANK];
    Dim offset;
} View;

typedef enum {
    EX_LOAD,  /* view[index]; `a` is the view's index in Kernel.in */
    EX_CONST, /* value */
    EX_INDEX, /* the output index along axis `a` (iota) */
    EX_ACC,   /* the kernel's primary result (GEMM sum, ROW / REDUCE result) */
    EX_OP,    /* ir op `op` (elementwise) applied to operands a, b, c */
} ExprKind;

typedef struct {
    ExprKind kind;
    Op op;
    DType dt;          /* of the result */
    int32_t a, b, c;   /* operands (expr indices), the view (EX_LOAD), the axis (EX_INDEX) */
    double value;      /* EX_CONST */
    Attr attr;         /* the op's attributes (gelu form, cast target) */
} Expr;

typedef enum {
#define KERNEL_KINDS(X) X(ELEMENTWISE, elementwise) X(GEMM, gemm) X(ROW, row) X(REDUCE, reduce) X(GATHER, gather)
#define KK_ENUM(id, name) KK_##id,
    KERNEL_KINDS(KK_ENUM)
#undef KK_ENUM
    KK_COUNT
} KernelKind;

typedef struct {
    int32_t a, b;   /* Kernel.in indices of the operands; views of rank ≥ 2, batch dims
                       already broadcast to the output's */
    Dim m, n, k;
} GemmInfo;

typedef struct {
    Op op;          /* OP_NORMALIZE, OP_SOFTMAX or OP_LOG_SOFTMAX */
    int32_t in;     /* Kernel.in index; the row is its last axis */
    double eps;     /* normalize */
    bool center;    /* normalize */
} RowInfo;

typedef struct {
    Op op;          /* OP_REDUCE_SUM, _MEAN, _MAX, _MIN */
    int32_t in;     /* view whose leading out.rank axes index outputs, the rest are reduced */
} ReduceInfo;

typedef struct {
    int32_t in, idx; /* the table view and the index view */
    int32_t axis;    /* of the table */
} GatherInfo;

typedef struct {
    int32_t tile_m, tile_n, tile_k; /* GEMM blocking (0: backend default) */
    int32_t vector;                 /* vector width in elements (0: backend default) */
    int32_t par_dims;               /* how many leading output dims the threads split */
} Schedule;

typedef struct {
    KernelKind kind;
    int32_t node;   /* the IR node whose result this kernel produces (names, locations) */
    View out;
    View *in;
    int32_t nin;
    Expr *expr;     /* the value stored at each output element: expr[root] */
    int32_t nexpr, root;
    union {
        GemmInfo gemm;
        RowInfo row;
        ReduceInfo reduce;
        GatherInfo gather;
    } u;
    Schedule sched;
    bool once;      /* reads only parameters and constants: run once when the model is
                       opened (its buffer is BUF_FOLDED) */
} Kernel;

/* BUF_FOLDED: computed from parameters and constants only, once, when the model is opened
 * (DESIGN: parameter-only subgraphs fold at load time); kept for the model's lifetime. */
typedef enum { BUF_INPUT, BUF_PARAM, BUF_CONST, BUF_OUTPUT, BUF_TEMP, BUF_FOLDED } BufKind;

typedef struct {
    BufKind kind;
    DType dt;
    Shape shape;        /* elements, row-major (the value that owns the buffer) */
    int32_t value;      /* the IR value stored in it */
    const char *name;   /* input, param or output name */
    int32_t first, last;/* kernels that write it first and read it last (temporaries) */
} Buffer;

typedef struct Plan {
    const Graph *g;     /* the graph it was made from (still owns strings and shapes) */
    Arena *arena;
    Buffer *bufs;
    int32_t nbufs;
    Kernel *kernels;
    int32_t nkernels;
    int32_t *output_bufs; /* per graph output: its buffer (contiguous, kind BUF_OUTPUT) */
} Plan;

/* Partitions g (verified, after the pass pipeline) into kernels. NULL with err on failure
 * (an op with no kernel, an unsupported view). */
Plan *plan_build(const Graph *g, IrError *err);
void plan_free(Plan *p);
/* Human-readable listing (`vitc dump --kernels`). */
void plan_print(const Plan *p, FILE *out);
/* The element count of a dimension/shape under a binding. */
int64_t plan_dim(Dim d, const int64_t *bind);

/* Executes a plan naively on the host (plan_exec.c): the reference semantics of plans,
 * used to test plan_build against the graph interpreter. Arguments as ir_interp. */
bool plan_exec(const Plan *p, const WeightSource *w, const NamedTensor *inputs, int ninputs,
               Tensor **outputs, IrError *err);


#endif
