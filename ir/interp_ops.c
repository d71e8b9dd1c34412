/* interp_ops.c — STUB: replaced by the interpreter work. */
#include "interp.h"
#include "ir_internal.h"

bool interp_binary(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_broadcast(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_cast(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_concat(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_const(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_input(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_iota(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_matmul(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_normalize(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_param(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_reduce(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_reshape(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_select(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_slice(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_softmax(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_take(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_transpose(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

bool interp_unary(InterpCtx *c, const Node *n, const Tensor *const *in, Tensor *out)
{
    (void)c; (void)n; (void)in; (void)out;
    return false;
}

