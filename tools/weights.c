/* weights.c — parameters from a safetensors file, as the interpreter's WeightSource.
 *
 * The six safetensors dtypes that are IR dtypes map one to one (F32, F16, BF16, I32, I64,
 * BOOL); any other is an error naming the tensor. The interpreter then checks the shape
 * and converts (ir_param_from_raw) and adds what the model declares to any message.
 */
#include "cmd.h"

static bool st_to_dtype(StDType st, DType *out)
{
    switch (st) {
    case ST_F32: *out = DT_F32; return true;
    case ST_F16: *out = DT_F16; return true;
    case ST_BF16: *out = DT_BF16; return true;
    case ST_I32: *out = DT_I32; return true;
    case ST_I64: *out = DT_I64; return true;
    case ST_BOOL: *out = DT_BOOL; return true;
    default: return false;
    }
}

static bool lookup(void *ctx, const char *name, RawTensor *out, char *err, size_t errlen)
{
    const StTensor *t = st_find(ctx, name);
    if (!t) {
        snprintf(err, errlen, "the weights file has no tensor '%s'", name);
        return false;
    }
    if (!st_to_dtype(t->dtype, &out->dt)) {
        snprintf(err, errlen, "tensor '%s' in the weights file has dtype %s, which vitc does not read "
                 "(F32, F16, BF16, I32, I64 or BOOL)", name, st_dtype_name(t->dtype));
        return false;
    }
    out->rank = t->rank;
    for (int i = 0; i < t->rank; i++)
        out->dims[i] = t->shape[i];
    out->data = t->data;
    return true;
}

WeightSource tool_weight_source(StFile *f) { return (WeightSource){lookup, f}; }
