/* backend_cases.h — kernel test cases written once and checked through each backend.
 *
 * A Backend is what a case needs of a code generator: a check that plans a graph, runs
 * it and compares every output with ir_interp and plan_exec (test_llvm.h's tl_backend:
 * the LLVM JIT; test_opencl.h's oc_backend: OpenCL on PoCL), with the backend's own
 * options. backend_cases.c builds the graphs and inputs of the cases both backends are
 * checked on; each backend keeps its own executables (test_llvm*.c, test_opencl*.c,
 * test_moe_llvm.c, test_navit.c), which list the cases they run: the whole tests shared
 * as they are (bc_unit_test), the others calling the case builders with their own tables.
 * backend_cases.c names no backend: it links into executables built without OpenCL.
 */
#ifndef VITC_BACKEND_CASES_H
#define VITC_BACKEND_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp.h"
#include "ir.h"
#include "safetensors.h"
#include "test_vir.h"

/* What a case asks of a check besides the tolerance. */
typedef struct {
    bool expect_error;  /* the run must report a gather index out of range */
    bool no_reference;  /* the interpreter fails on this graph: no comparison */
    bool interp_only;   /* compare with ir_interp only (plan_exec loses i64 beyond 2^53) */
    char error[512];    /* out: the run's error message where the backend fails the run */
} BcCheck;

typedef struct Backend Backend;
struct Backend {
    const char *name; /* in messages */
    /* Plans g after the backend's pass pipeline, runs it and checks every output against
       ir_interp and plan_exec within tol (relative, tl_diff); the outputs go to got when
       not NULL (the caller frees them; NULL where the run failed as c expected). */
    void (*check)(const Backend *b, Graph *g, const WeightSource *w, const NamedTensor *in, int nin, double tol,
                  BcCheck *c, Tensor **got);
    const void *opts; /* the backend's own options (a TlCheck, an OcCheck); NULL: its defaults */
};

/* cmocka's test `test_NAME`: the shared case bc_NAME with backend b as its state */
#define bc_unit_test(name, b) {"test_" #name, bc_##name, NULL, NULL, (void *)(b)}

/* ---- elementwise (test_llvm.c, test_opencl.c) ---- */

/* y_i = ops[i](x) for x dt[4, 33] random in [lo, hi) (seed), one output per op named by
 * it; `specials`: NaN, ±inf, ±0, huge values and others first */
void bc_unary(const Backend *b, const Op *ops, int nops, int gelu_form, DType dt, double lo, double hi, double tol,
              uint64_t seed, bool specials);
/* a [3, 1, 5] op b [4, 5] -> [3, 4, 5] for each of ops (seeds 11 + seed, 23 + seed) */
void bc_binary(const Backend *b, const Op *ops, int nops, DType dt, double lo, double hi, double tol, bool specials,
               uint64_t seed);
/* cast from every dtype to every dtype: one graph per pair, or one per source dtype */
void bc_casts(const Backend *b, bool per_pair);
void bc_div_pow_int(void **state);
void bc_int_errors_defined(void **state);
void bc_logic_select(void **state);
void bc_views_and_chains(void **state);
/* a patch embedding's copy x[2,8,8,3] -> [2,2,2,4,4,3] (rows of 4·3 contiguous floats), alone
 * and with a bias [3], a broadcast [1,1,1,1,4,3] and an iota along axis 4 */
Graph *bc_short_rows_graph(void);
void bc_short_rows(void **state);
void bc_concat_symbolic(void **state);

/* ---- GEMM, row, reduce and gather kernels (test_llvm_kernels.c, test_opencl_kernels.c) ---- */

/* dt[dims], dim `symdim` (≥ 0) a symbol B bound by the input */
Type bc_sym_type(Graph *g, DType dt, int rank, const int64_t *dims, int symdim);
/* out = a @ b (with transposes) for operand shapes da, db; `bsym` ≥ 0 makes that dim of a
 * symbolic, bound to its size there; epi adds a bias, GELU and a product with itself */
void bc_matmul(const Backend *b, DType dt, int ra, const int64_t *da, int rb, const int64_t *db, bool ta, bool tb,
               int bsym, bool epi, double tol);
/* B row-major and transposed, A transposed, both; with and without the epilogue */
void bc_gemm_orientations(const Backend *b);
void bc_gemm_batch(void **state);
void bc_gemm_dtypes(void **state);
void bc_gemm_sliced(void **state);
/* op along `axis` of x dt[2, 5, L], scaled and shifted in the epilogue (rows of L > 7 far
 * from 0: the centred sum matters) */
void bc_row(const Backend *b, Op op, int axis, bool center, DType dt, double tol, int64_t L);
/* softmax and log_softmax along every axis, normalize with and without centering, f16, bf16 */
void bc_row_kernels(const Backend *b);
/* reduce x dt[3, 4, 5] over `axes`; `wrap`: integer sums that overflow (ir_interp only) */
void bc_reduce(const Backend *b, Op op, DType dt, const int64_t *axes, int naxes, bool keepdims, bool wrap);
/* take(table [5, 4, 3], idx, axis), idx of rank ri; `bad`: the last index out of range */
void bc_take(const Backend *b, int axis, int ri, DType idt, bool bad);
/* an attention block as the prelude spells it, and one whose heads are merged back into a
 * matmul (no copy kernel between them), each checked through each of bs[0..n) */
void bc_attention_chain(const Backend *const *bs, int n);

/* ---- MoE (test_moe_llvm.c, test_opencl_moe.c) ---- */

/* the check, with the moe op's reference interpreter (on g before the check lowers the
 * moe op) as a further oracle */
void bc_moe_check(const Backend *b, Graph *g, WeightSource *ws, const char *input, Tensor *x, double tol);
/* mt_moe_graph's configurations (MT_MOE_CONFIGS) */
extern const char *const bc_moe_configs[9];
/* moe layers of T 32, D 8, E 4, H 12 for configs[i] (a residual after the odd ones),
 * each through bs[i], also against the moe op's own reference */
void bc_moe_layers(const Backend *const *bs, const char *const *configs, int n);
void bc_route_goldens(void **state);
void bc_members_symbolic(void **state);

/* ---- NaViT (test_navit.c, test_opencl_navit.c) ---- */

/* q, k, v [1, H, T, Dh], a slot query qs [1, H, S, Dh] and seg i32[T], with the prelude's
 * spelling of the segment mask and of the slot mask (MAP pooling), which the -O1 pipeline
 * turns into attention {mask = segment} and {mask = slot}; outputs out and slots (malloc) */
char *bc_navit_attention_vir(int64_t T, int H, int Dh, int S);

/* tests/reference/navit: sequence `seq` of the PyTorch reference vectors */
typedef struct {
    Tensor *t[6];
    NamedTensor in[6]; /* patches, seg, row, col, height, width */
    Tensor *want;      /* the logits of model m (navit_test: logits, navit_test_gap: logits_gap) */
    int64_t images;    /* valid rows of want */
} BcNavitRef;

/* the weights (navit_test.safetensors: both models) and the sequences */
void bc_navit_ref_open(StFile **weights, StFile **io);
void bc_navit_ref_load(StFile *io, int m, int seq, BcNavitRef *r);
void bc_navit_ref_free(BcNavitRef *r);
/* max |a − b| / (1 + |b|) over the first `rows` rows of b */
double bc_ref_diff(const Tensor *a, const Tensor *b, int64_t rows);

#endif
