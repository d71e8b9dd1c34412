/* interp.h — the reference interpreter: naive, obviously correct evaluation of any graph
 * on the host. It is the oracle of every pass and backend, never a fast path.
 *
 * Tensors hold floating-point dtypes as float (f16 and bf16 values rounded to their type
 * after every op) and integer and bool dtypes as int64_t. Reductions and matmul
 * accumulate in double.
 */
#ifndef VITC_INTERP_H
#define VITC_INTERP_H

#include "ir.h"

struct Tensor {
    DType dt;
    int32_t rank;
    int64_t dims[IR_MAX_RANK];
    int64_t numel;
    float *f;   /* float dtypes */
    int64_t *i; /* integer and bool dtypes */
};

/* A new tensor with zeroed data; NULL when out of memory or too large. */
Tensor *tensor_new(DType dt, int32_t rank, const int64_t *dims);
void tensor_free(Tensor *t);
/* Element k (row-major) as a double, whatever the storage. */
double tensor_get(const Tensor *t, int64_t k);
void tensor_set(Tensor *t, int64_t k, double v);
/* Rounds v to what dtype dt can hold (f16, bf16: round to nearest even; ints: truncation). */
double dtype_round(DType dt, double v);

/* A weight as stored in a checkpoint: raw little-endian bytes in row-major order. */
typedef struct {
    DType dt;
    int32_t rank;
    int64_t dims[IR_MAX_RANK];
    const void *data;
} RawTensor;

/* Where parameters come from: `lookup` finds the tensor stored under `name`, or returns
 * false with a message naming the problem. The interpreter checks dtype (f32, f16 and
 * bf16 for float parameters; converted) and shape (the stored shape is the parameter's
 * type permuted back through its layout) and reports mismatches naming the tensor. */
typedef struct {
    bool (*lookup)(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen);
    void *ctx;
} WeightSource;

typedef struct {
    const char *name;
    const Tensor *t;
} NamedTensor;

/* Evaluates g. Every input node must have a tensor of the same name in `inputs` with its
 * dtype and a shape that binds the graph's symbols consistently (within their maxima).
 * On success outputs[i] holds the i-th graph output (the caller frees them with
 * tensor_free); on failure err says why and outputs are all NULL. */
bool ir_interp(const Graph *g, const WeightSource *weights, const NamedTensor *inputs, int ninputs,
               Tensor **outputs, IrError *err);

/* Evaluates one node on given operand tensors (constant folding): the results get the
 * node's result types, which must have no symbolic dimension. Source nodes other than
 * `constant` and `iota` cannot be evaluated this way. *out receives nout new tensors. */
bool ir_interp_node(const Graph *g, const Node *n, const Tensor *const *in, Tensor **out, IrError *err);

/* Converts a raw checkpoint tensor into the parameter value of node n (a param node):
 * checks dtype and stored shape and applies the layout. Used by the interpreter and by
 * `vitc init`-style tools that want a parameter as the model sees it. */
Tensor *ir_param_from_raw(const Graph *g, const Node *n, const RawTensor *raw, IrError *err);

/* The stored (checkpoint) shape of a parameter node: its type permuted back through its
 * layout (stored[layout[i]] = type[i]). */
void ir_param_stored_shape(const Node *n, const Type *t, int64_t *dims);

#endif
