/* interp_source.c — the source ops and the conversion of checkpoint tensors.
 *
 *   input     the caller's tensor of the same name (bound in interp.c); float values are
 *             rounded to the input's dtype, integers wrapped to its width, bool = v != 0.
 *   param     the WeightSource's tensor of the parameter's name, converted:
 *               - its dtype: f32, f16 or bf16 for a float parameter (converted exactly, by
 *                 round-to-nearest-even where the parameter's type is narrower); i32, i64 or
 *                 bool for an integer or bool one (a value that does not fit is an error);
 *               - its shape: the stored shape, i.e. the parameter's type permuted back
 *                 through its layout: stored[layout[i]] = type[i]; the value is
 *                 transpose(stored, layout), so element (i0, .., ir) of the parameter is
 *                 the stored element whose index has i_k at position layout[k].
 *   constant  its data in row-major order, or its one value everywhere (splat), rounded
 *             to its dtype.
 *   iota      element (i0, .., ir) is i_axis, in its dtype.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "interp_internal.h"

bool interp_input(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)in;
    const Tensor *t = NULL;
    for (int i = 0; i < c->ninputs && !t; i++)
        if (strcmp(c->inputs[i].name, n->attr.input.name) == 0)
            t = c->inputs[i].t;
    if (!t || t->numel != out->numel)
        return interp_fail(c, n, "input '%s' is missing or has the wrong size", n->attr.input.name);
    for (int64_t k = 0; k < out->numel; k++) {
        if (out->f)
            out->f[k] = (float)dtype_round(out->dt, t->f[k]);
        else
            out->i[k] = interp_wrap(out->dt, (uint64_t)t->i[k]);
    }
    return true;
}

/* ---- checkpoint tensors ---- */

static double half_to_double(uint16_t h)
{
    int exp = h >> 10 & 0x1F, mant = h & 0x3FF;
    double v = exp == 0 ? ldexp(mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexp(1024 + mant, exp - 25);
    return h & 0x8000 ? -v : v;
}

/* Element k of a raw little-endian tensor, as a double (exact for every dtype but i64
 * beyond 2^53, which raw_int reads instead). */
static double raw_float(const RawTensor *r, int64_t k)
{
    const unsigned char *b = (const unsigned char *)r->data + k * (int64_t)dtype_size(r->dt);
    uint32_t u;
    float f;
    switch (r->dt) {
    case DT_F32:
        u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&f, &u, 4);
        return f;
    case DT_F16:
        return half_to_double((uint16_t)(b[0] | b[1] << 8));
    case DT_BF16:
        u = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 24;
        memcpy(&f, &u, 4);
        return f;
    default:
        return 0;
    }
}

static int64_t raw_int(const RawTensor *r, int64_t k)
{
    size_t size = dtype_size(r->dt);
    const unsigned char *b = (const unsigned char *)r->data + k * (int64_t)size;
    uint64_t u = 0;
    for (size_t i = 0; i < size; i++)
        u |= (uint64_t)b[i] << (8 * i);
    if (r->dt == DT_BOOL)
        return u != 0;
    return r->dt == DT_I32 ? interp_wrap(DT_I32, u) : interp_wrap(DT_I64, u);
}

void ir_param_stored_shape(const Node *n, const Type *t, int64_t *dims)
{
    const IntList *l = &n->attr.param.layout;
    for (int i = 0; i < t->shape.rank; i++)
        dims[l->n ? l->v[i] : i] = t->shape.d[i].n;
}

static void fmt_list(const int64_t *v, int n, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%" PRId64, i ? "," : "", v[i]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
}

bool interp_param_fill(const Graph *g, const Node *n, const RawTensor *raw, Tensor *out, char *err,
                       size_t errlen)
{
    const ParamAttr *a = &n->attr.param;
    const Type *t = ir_type(g, n->out);
    int rank = t->shape.rank;
    int64_t stored[IR_MAX_RANK];
    ir_param_stored_shape(n, t, stored);

    bool want_float = dtype_is_float(t->dt);
    bool dt_ok = want_float ? raw->dt == DT_F32 || raw->dt == DT_F16 || raw->dt == DT_BF16
                            : raw->dt == DT_I32 || raw->dt == DT_I64 || raw->dt == DT_BOOL;
    bool shape_ok = raw->rank == rank;
    for (int i = 0; shape_ok && i < rank; i++)
        shape_ok = raw->dims[i] == stored[i];
    if (!dt_ok || !shape_ok || raw->rank < 0 || raw->rank > IR_MAX_RANK) {
        char have[256], need[256], decl[256], lay[256] = "";
        fmt_list(raw->dims, raw->rank >= 0 && raw->rank <= IR_MAX_RANK ? raw->rank : 0, have, sizeof have);
        fmt_list(stored, rank, need, sizeof need);
        ir_format_shape(g, &t->shape, decl, sizeof decl);
        if (a->layout.n) {
            char l[128];
            fmt_list(a->layout.v, a->layout.n, l, sizeof l);
            snprintf(lay, sizeof lay, " with layout %s", l);
        }
        snprintf(err, errlen,
                 "parameter '%s': the weights file has %s%s, but the model needs %s of %s (it declares %s%s%s)",
                 a->name, dtype_name(raw->dt), have, need, want_float ? "f32, f16 or bf16" : "i32, i64 or bool",
                 dtype_name(t->dt), decl, lay);
        return false;
    }

    /* strides of the stored tensor seen in the parameter's axis order */
    int64_t sstride[IR_MAX_RANK], pstride[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
    int64_t acc = 1;
    for (int i = rank - 1; i >= 0; i--) {
        sstride[i] = acc;
        acc *= stored[i];
    }
    for (int i = 0; i < rank; i++)
        pstride[i] = sstride[a->layout.n ? a->layout.v[i] : i];
    int64_t off = 0;
    for (int64_t k = 0; k < out->numel; k++) {
        if (want_float) {
            out->f[k] = (float)dtype_round(out->dt, raw_float(raw, off));
        } else {
            int64_t v = raw_int(raw, off);
            bool fits = out->dt == DT_I64 || (out->dt == DT_I32 && v >= INT32_MIN && v <= INT32_MAX) ||
                        (out->dt == DT_BOOL && (v == 0 || v == 1));
            if (!fits) {
                snprintf(err, errlen, "parameter '%s': stored value %" PRId64 " does not fit its dtype %s", a->name, v,
                         dtype_name(out->dt));
                return false;
            }
            out->i[k] = v;
        }
        for (int d = rank - 1; d >= 0; d--) { /* odometer over the parameter's indices */
            off += pstride[d];
            if (++idx[d] < out->dims[d])
                break;
            off -= pstride[d] * out->dims[d];
            idx[d] = 0;
        }
    }
    return true;
}

Tensor *ir_param_from_raw(const Graph *g, const Node *n, const RawTensor *raw, IrError *err)
{
    IrError local;
    if (!err)
        err = &local;
    if (n->op != OP_PARAM) {
        snprintf(err->msg, sizeof err->msg, "ir_param_from_raw: the node is not a parameter");
        return NULL;
    }
    const Type *t = ir_type(g, n->out);
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < t->shape.rank; i++)
        dims[i] = t->shape.d[i].n;
    Tensor *out = tensor_new(t->dt, t->shape.rank, dims);
    if (!out) {
        snprintf(err->msg, sizeof err->msg, "parameter '%s': out of memory", n->attr.param.name);
        return NULL;
    }
    if (!interp_param_fill(g, n, raw, out, err->msg, sizeof err->msg)) {
        tensor_free(out);
        return NULL;
    }
    return out;
}

bool interp_param(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)in;
    const char *name = n->attr.param.name;
    RawTensor raw;
    char msg[400] = "";
    if (!c->weights || !c->weights->lookup)
        return interp_fail(c, n, "parameter '%s': no weights were given", name);
    if (!c->weights->lookup(c->weights->ctx, name, &raw, msg, sizeof msg)) {
        /* the source says what is wrong; we add what the model declares */
        const Type *t = ir_type(c->g, n->out);
        int64_t stored[IR_MAX_RANK];
        char decl[256], st[256];
        ir_param_stored_shape(n, t, stored);
        ir_format_shape(c->g, &t->shape, decl, sizeof decl);
        fmt_list(stored, t->shape.rank, st, sizeof st);
        if (n->attr.param.layout.n)
            snprintf(c->err->msg, sizeof c->err->msg, "%s (the model declares %s: %s%s, stored as %s)",
                     msg[0] ? msg : "lookup failed", name, dtype_name(t->dt), decl, st);
        else
            snprintf(c->err->msg, sizeof c->err->msg, "%s (the model declares %s: %s%s)",
                     msg[0] ? msg : "lookup failed", name, dtype_name(t->dt), decl);
        return false;
    }
    if (!interp_param_fill(c->g, n, &raw, out, msg, sizeof msg)) {
        snprintf(c->err->msg, sizeof c->err->msg, "%s", msg);
        return false;
    }
    return true;
}

bool interp_const(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    (void)in;
    const FloatList *d = &n->attr.constant.data;
    for (int64_t k = 0; k < out->numel; k++)
        tensor_set(out, k, d->v[d->n == 1 ? 0 : k]);
    return true;
}

bool interp_iota(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c;
    (void)in;
    int32_t ax;
    axis_norm(n->attr.iota.axis, out->rank, &ax);
    int64_t inner = 1;
    for (int d = ax + 1; d < out->rank; d++)
        inner *= out->dims[d];
    for (int64_t k = 0; k < out->numel; k++)
        tensor_set(out, k, (double)(k / inner % out->dims[ax]));
    return true;
}
