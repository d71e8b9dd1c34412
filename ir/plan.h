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
 *   ATTENTION   out[..., i, :] = epi(softmax(s·q_i·kᵀ [mask])·v)     batch × query tiles
 *   MOE_ROUTE   out[g, :] = the MoE routing of group g (below)         groups
 *   MOE_COMBINE out[t, :] = epi(Σ kept w·y[expert, slot, :]) (below)   tokens
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
#define KERNEL_KINDS(X) X(ELEMENTWISE, elementwise) X(GEMM, gemm) X(ROW, row) X(REDUCE, reduce) X(GATHER, gather) X(ATTENTION, attention) \
                        X(MOE_ROUTE, moe_route) X(MOE_COMBINE, moe_combine) X(SEGMENT_REDUCE, segment_reduce)
#define KK_ENUM(id, name) KK_##id,
    KERNEL_KINDS(KK_ENUM)
#undef KK_ENUM
    KK_COUNT
} KernelKind;

/* B packed into panels (pack_nr > 0; ir/plan_pack.c): when B is computed from
 * parameters and constants only, a once-kernel copies it at load time into a BUF_FOLDED
 * buffer laid out for register-blocked micro-kernels:
 *   P[p][k][r] = B[k][p·nr + r] for p < ⌈N/nr⌉, k < K, r < nr, and 0 where p·nr + r ≥ N,
 * i.e. ⌈N/nr⌉ panels of nr columns, each K rows of nr contiguous floats (f32, whatever B's
 * dtype). When B is the same for every batch index, in[b] is the contiguous rank-3 view
 * [⌈N/nr⌉, K, nr] of that buffer and B[..., k, n] = P[n / nr][k][n mod nr]. When B steps
 * over batch dims (a batched weight, e.g. MoE experts [E, D, H]; only with
 * PlanOptions.gemm_pack_batched), in[b] has rank r + 1 (r = the output's rank):
 * [batch dims..., ⌈N/nr⌉, K, nr], one panel set per batch index (stride 0 along the dims B
 * broadcasts over), and B[i..., k, n] = in[b][i..., n / nr, k, n mod nr]. pack_nr = 0:
 * in[b] is B's own view. */
typedef struct {
    int32_t a, b;   /* Kernel.in indices of the operands; views of rank ≥ 2, batch dims
                       already broadcast to the output's */
    Dim m, n, k;
    int32_t pack_nr; /* > 0: in[b] is B packed into panels of this many columns (above) */
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

/* KK_MOE_ROUTE — the op moe_route (ir/moe.h, docs/MOE.md). out: the route, i32 [G, W]
 * with W = S·K + E·C (K = attr.k for token choice, E for expert choice; E = members × E/M);
 * one row per group g, computed from the gates view in[gates] [G, S, E/M] alone:
 *   token choice: each token s takes its top-k gates (descending, ties to the lower index,
 *     NaN below every number) among its member's experts (member m = s mod members, expert
 *     m·E/M + i for gate i); the tokens are processed in order, or with batch_priority in a
 *     stable order of descending top-1 gate; then choice-major (every first choice in
 *     processing order, then every second, ...) each (s, j) takes the next slot c of its
 *     expert e, kept when c < C: out[g, s·K + j] = e·C + c, or −(e + 1) when dropped;
 *   expert choice: expert e takes the first min(C, S) tokens in a stable order of
 *     descending gates[g, :, e]: the c-th, s, gets out[g, s·E + e] = e·C + c; the other
 *     out[g, s·E + e] are −(e + 1);
 *   then out[g, S·K + e·C + c] is the token in slot c of expert e, or −1 when it is empty.
 * The expression is EX_ACC (the route itself). Rows are independent: split them freely.
 *
 * KK_MOE_COMBINE — the op moe_combine. out [..., D] (out's leading dims, flattened in
 * row-major order, are the tokens t = g·S + s); in[y] [E, G·C, D], in[route] [G, W],
 * in[gates] [..., E/M] (the leading dims of out):
 *   out[t, d] = epi(Σ_{j < K, r_j ≥ 0} w_j · y[r_j / C, g·C + r_j mod C, d]),
 *   r_j = route[g, s·K + j], w_j = gates[t, e_j − m·E/M] / den, m = s mod members,
 *   e_j = r_j / C when r_j ≥ 0, else −r_j − 1; den = 1, or with attr.normalize_combine the
 *   sum of gates[t, e_j − m·E/M] over all j (token choice) or over the j with r_j ≥ 0
 *   (expert choice). An entry naming an expert or slot out of range sets RT_ERR_INDEX and
 *   contributes nothing (a route from moe_route never does). Rows are tokens. */
typedef struct {
    int32_t gates;  /* Kernel.in index */
    RouteAttr attr; /* k, capacity, batch_priority, routing, members */
} MoeRouteInfo;

typedef struct {
    int32_t y, route, gates; /* Kernel.in indices */
    RouteAttr attr;          /* k, capacity, routing, members, normalize_combine */
} MoeCombineInfo;

/* KK_ATTENTION — the op attention (ir/infer_attention.c, docs/ATTENTION.md), over views of
 * the output's rank r whose r−2 leading (batch) dims are broadcast to the output's:
 * in[q] [..., Nq, Dh], in[k] [..., Nk, Dh], in[v] [..., Nk, Dv], in[mask] [..., Nq, Nk].
 * For each batch index and query i:
 *   s_j = scale · Σ_d q[i,d]·k[j,d];  keep: s_j = mask[i,j] ? s_j : finfo(dtype of q).min;
 *   add: s_j += mask[i,j];  p_j = e^(s_j − max s) / Σ e^(s − max s);
 *   out[i, c] = epi(Σ_j p_j·v[j,c], (…, i, c))  (EX_ACC: the sum rounded to its dtype)
 * Nk = 0 gives acc 0; a row whose s are all −inf (or any NaN) gives NaN, as softmax does.
 * Schedule (ir/plan_attention.c): tile_m queries per tile (a multiple of 4); tile_n
 * keys per block, online softmax over blocks (flash), or 0: all keys in one block
 * (decomposed); par_dims = r − 1: the parallel extent is Π batch dims × ⌈Nq / tile_m⌉,
 * iteration it = (batch index, tile) with the tile fastest. A backend may compute in any
 * order; only the values above are the contract. */
typedef struct {
    int32_t q, k, v, mask; /* Kernel.in indices; mask −1: none */
    int mask_kind;         /* MASK_NONE, MASK_KEEP (bool view), MASK_ADD (float view),
                              MASK_SEGMENT, MASK_SLOT (in[mask]: the segment ids, i32, broadcast
                              to [..., Nq, Nk] with stride 0 but along Nk: seg[j] = (…, 0, j)) */
    double scale;
    Dim nq, nk, dh, dv;
    int64_t segments;      /* MASK_SEGMENT: the most segments a sequence holds (images, else Nk) */
} AttnInfo;

/* KK_SEGMENT_REDUCE — the op segment_reduce (ir/infer_segment.c): in[x] [T, ...] (the
 * output's rank), in[seg] [T] i32; out[s, ...] = epi(the sum, mean or max of x[t, ...] over
 * the t with seg[t] = s; 0 when there is none). Rows (all dims but the last) are split. */
typedef struct {
    int32_t x, seg; /* Kernel.in indices */
    int reduce;     /* SEGRED_* */
} SegReduceInfo;

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
        AttnInfo attn;
        MoeRouteInfo moe_route;
        MoeCombineInfo moe_combine;
        SegReduceInfo segred;
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
/* What a backend asks of the plan (plan_build: all 0). */
typedef struct {
    int32_t gemm_pack_nr; /* > 0: pack parameter-only GEMM B operands into panels of this
                             many columns at load time (plan_pack, GemmInfo.pack_nr) */
    bool gemm_pack_batched; /* also pack B operands that step over batch dims (rank-(r + 1)
                               panel views, GemmInfo.pack_nr); backends that read them set it */
} PlanOptions;
Plan *plan_build_opts(const Graph *g, const PlanOptions *o, IrError *err);
/* The weight-layout step of plan_build_opts (ir/plan_pack.c), after folding: adds the
 * once-kernels and panel buffers and points the GEMMs at them. */
bool plan_pack(Plan *p, int32_t nr, bool batched, IrError *err);
void plan_free(Plan *p);
/* Whether kernel ki of p is well formed: its views name buffers and have valid ranks,
 * its kind's operand indices are in range and of the ranks and dtypes the kind needs. The
 * backends check every kernel with it before generating code (a malformed plan is an
 * internal error, never code that reads out of bounds). false with the reason in msg. */
bool plan_kernel_check(const Plan *p, int32_t ki, char *msg, size_t n);
/* A kernel kind's name ("gemm"), a buffer kind's ("param"); "?" out of range. */
const char *plan_kind_name(int kind);
const char *plan_buf_kind_name(int kind);
/* Where kernel k comes from, as listings and profiles label it: " FILE:LINE:COL [SCOPE]"
 * (its node's location, plan_kernel_scope), each part when known; "" when neither. Written
 * to buf (n bytes, NUL-terminated); its length. */
size_t plan_kernel_where(const Plan *p, int32_t k, char *buf, size_t n);
/* Human-readable listing (`vitc dump --kernels`). */
void plan_print(const Plan *p, FILE *out);
/* The part of the model kernel k computes, named after the parameters it reads (ir/
 * plan_scope.c): "blocks.0.attn.qkv" for a GEMM reading blocks.0.attn.qkv.weight and .bias
 * (packed or not); a run-time kernel reading none gets the layer of its nearest neighbour
 * that does ("blocks.0" for an attention). Written to buf (n bytes, NUL-terminated); its
 * length, 0 when nothing names it. */
size_t plan_kernel_scope(const Plan *p, int32_t k, char *buf, size_t n);
/* The length of a scope's layer: its prefix through its first component that ends in a
 * digit ("blocks.0" of "blocks.0.attn.qkv", "Encoder/encoderblock_1" of
 * "Encoder/encoderblock_1/MlpBlock_0"), else its first component ("patch_embed"). */
size_t plan_scope_layer(const char *scope);
/* The element count of a dimension/shape under a binding. */
int64_t plan_dim(Dim d, const int64_t *bind);
/* The most bytes one buffer may take with every symbol at its maximum: plan_build refuses a
 * larger one, the runtime (rt_plan.c, RT_MAX_BUFFER_BYTES) a plan that holds one. 64 TiB. */
#define PLAN_MAX_BUFFER_BYTES ((int64_t)1 << 46)

/* The symbols of p's graph (at most 64) bound from the inputs' shapes into bind[0..nsyms),
 * 1 for a symbol no input binds; false with err when an input is missing, of another rank,
 * dtype or shape, or binds a symbol inconsistently or above its maximum (plan_exec.c; the
 * tests' JIT and OpenCL executors use it too). */
bool plan_bind_inputs(const Plan *p, const NamedTensor *inputs, int ninputs, int64_t *bind, IrError *err);
/* Parameter buffer b of p read through w into t (b's dtype and stored shape: the
 * checkpoint's layout, which the plan's views address); false with err (plan_exec.c). */
bool plan_load_param(const Plan *p, int32_t b, const WeightSource *w, Tensor *t, IrError *err);
/* Executes a plan naively on the host (plan_exec.c): the reference semantics of plans,
 * used to test plan_build against the graph interpreter. Arguments as ir_interp. */
bool plan_exec(const Plan *p, const WeightSource *w, const NamedTensor *inputs, int ninputs,
               Tensor **outputs, IrError *err);

/* KK_ATTENTION (ir/plan_attention.c): the default schedule of a kernel whose AttnInfo is
 * set; the f32 scores a query tile holds at once (tile_m × keys per block, symbols at their
 * maxima); the listing of `vitc dump --kernels`. */
void plan_attention_schedule(const Graph *g, Kernel *k);
int64_t plan_attention_score_elems(const Graph *g, const Kernel *k);
/* MASK_SEGMENT: the most segments of the sequence: the `images` of the graph's packed
 * patches input, else Nk (at most); 0 for the other mask kinds. */
int64_t plan_attention_segments(const Graph *g, const AttnInfo *a);
void plan_attention_print(const Plan *p, const Kernel *k, FILE *out);


#endif
