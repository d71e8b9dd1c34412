/* ir_internal.h — declarations shared by the files of ir/ only: the infer and interp
 * functions named by ops.def. */
#ifndef VITC_IR_INTERNAL_H
#define VITC_IR_INTERNAL_H

#include "ir.h"

#define OP(id, name, nin, nout, attr, flags, cost, infer, interp)                                 \
    bool infer(const Graph *g, const Node *n, Type *out, char *err, size_t errlen);              \
    bool interp(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out);
#include "ops.def"
#undef OP

#endif
