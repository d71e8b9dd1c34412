/* interp_internal.h — what the files of the reference interpreter share (ir/interp*.c). */
#ifndef VITC_INTERP_INTERNAL_H
#define VITC_INTERP_INTERNAL_H

#include "interp.h"
#include "ir_internal.h"

/* The largest tensor the interpreter allocates (16 GiB of storage). */
#define INTERP_MAX_BYTES ((int64_t)1 << 34)

struct InterpCtx {
    const Graph *g;
    const WeightSource *weights; /* NULL: parameters cannot be read (ir_interp_node) */
    const NamedTensor *inputs;
    int ninputs;
    IrError *err;
};

/* Reports an error about node n ("file:line:col: 'op': msg", or "node K ('op'): msg")
 * and returns false. */
bool interp_fail(InterpCtx *c, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Row-major strides of t (in elements). */
void interp_strides(const Tensor *t, int64_t *s);

/* An odometer over the elements of a result in row-major order that keeps, for each of up
 * to three operands broadcast (numpy rules) to the result's shape, the offset of the
 * element that lines up with the current result element. */
typedef struct {
    int rank, nops;
    int64_t dims[IR_MAX_RANK], idx[IR_MAX_RANK];
    int64_t off[3];
    int64_t stride[3][IR_MAX_RANK];
} BIter;

void biter_init(BIter *it, const Tensor *out, const Tensor *const *ops, int nops);
void biter_next(BIter *it);

/* Copies element k of `from` to element j of `to` (same dtype). */
static inline void interp_copy_elem(Tensor *to, int64_t j, const Tensor *from, int64_t k)
{
    if (to->f)
        to->f[j] = from->f[k];
    else
        to->i[j] = from->i[k];
}

/* Integer results wrap to the width of their dtype (two's complement); bool is 0 or 1. */
int64_t interp_wrap(DType dt, uint64_t v);

/* The parameter node n's value from raw checkpoint data, into out (allocated with the
 * parameter's type); false with err filled. */
bool interp_param_fill(const Graph *g, const Node *n, const RawTensor *raw, Tensor *out, char *err,
                       size_t errlen);

#endif
