/* ops.c — the op table, instantiated from ops.def. */
#include <string.h>

#include "ir.h"
#include "ir_internal.h"

const OpInfo ir_ops[OP_COUNT] = {
#define OP(id, name, nin, nout, attr, flags, cost, infer, interp) \
    [OP_##id] = {#name, nin, nout, ATTR_##attr, flags, cost, infer, interp},
#include "ops.def"
#undef OP
};

bool op_from_name(const char *name, size_t len, Op *out)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (strlen(ir_ops[i].name) == len && memcmp(ir_ops[i].name, name, len) == 0) {
            *out = (Op)i;
            return true;
        }
    return false;
}
