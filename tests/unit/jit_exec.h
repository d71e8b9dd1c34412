/* jit_exec.h — runs a plan through the LLVM JIT on the host, as the runtime runs a .so but
 * without its memory plan: the symbols bound from the input shapes, every buffer in its own
 * allocation in its dtype's memory layout (inputs and constants filled, parameters read
 * through a WeightSource and stored in the checkpoint's layout as ir/plan_exec.c reads
 * them, everything else filled with 0xff bytes so that an element no kernel writes reads
 * as NaN), then every kernel over its extent in `chunks` pieces, the outputs read back as
 * interpreter tensors. Shared by the LLVM tests (test_llvm.h, which adds the checks) and
 * the fuzz target tests/fuzz/fuzz_llvm.c; no cmocka here.
 */
#ifndef VITC_JIT_EXEC_H
#define VITC_JIT_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../backends/llvm/llvm_backend.h"
#include "../../runtime/safetensors.h"

/* ---- buffers in memory ---- */

static inline void tl_put(void *mem, DType dt, int64_t k, const Tensor *t, int64_t i)
{
    double v = tensor_get(t, i);
    switch (dt) {
    case DT_F32: ((float *)mem)[k] = (float)v; break;
    case DT_F16: ((uint16_t *)mem)[k] = st_f32_to_f16((float)v); break;
    case DT_BF16: ((uint16_t *)mem)[k] = st_f32_to_bf16((float)v); break;
    case DT_I32: ((int32_t *)mem)[k] = (int32_t)t->i[i]; break;
    case DT_I64: ((int64_t *)mem)[k] = t->i[i]; break;
    default: ((uint8_t *)mem)[k] = t->i[i] != 0; break;
    }
}

static inline void tl_get(const void *mem, DType dt, int64_t k, Tensor *t, int64_t i)
{
    switch (dt) {
    case DT_F32: t->f[i] = ((const float *)mem)[k]; break;
    case DT_F16: t->f[i] = st_f16_to_f32(((const uint16_t *)mem)[k]); break;
    case DT_BF16: t->f[i] = st_bf16_to_f32(((const uint16_t *)mem)[k]); break;
    case DT_I32: t->i[i] = ((const int32_t *)mem)[k]; break;
    case DT_I64: t->i[i] = ((const int64_t *)mem)[k]; break;
    default: t->i[i] = ((const uint8_t *)mem)[k]; break;
    }
}

/* Fills parameter buffer `mem` (stored shape) from the weight source; false on failure. */
static inline bool tl_param(const Plan *p, int32_t b, void *mem, const WeightSource *w, char *msg, size_t n)
{
    const Buffer *buf = &p->bufs[b];
    int64_t sd[IR_MAX_RANK];
    for (int r = 0; r < buf->shape.rank; r++)
        sd[r] = buf->shape.d[r].n;
    Tensor *t = tensor_new(buf->dt, buf->shape.rank, sd);
    IrError err;
    if (!t || !plan_load_param(p, b, w, t, &err)) {
        snprintf(msg, n, "%s", t ? err.msg : "out of memory");
        tensor_free(t);
        return false;
    }
    for (int64_t e = 0; e < t->numel; e++)
        tl_put(mem, buf->dt, e, t, e);
    tensor_free(t);
    return true;
}

/* Binds every symbol of p's graph (64 at most) from the shapes of the inputs, 1 where no
 * input binds it (plan_bind_inputs); false with msg when an input does not fit the plan. */
static inline bool tl_bind(const Plan *p, const NamedTensor *in, int nin, int64_t *syms, char *msg, size_t n)
{
    IrError err;
    for (int s = 0; s < 64; s++)
        syms[s] = 1;
    if (!plan_bind_inputs(p, in, nin, syms, &err)) {
        snprintf(msg, n, "%s", err.msg);
        return false;
    }
    return true;
}

/* Reads every output of p from its buffer in bufs into out; false when out of memory. */
static inline bool tl_outputs(const Plan *p, const int64_t *syms, char *const *bufs, Tensor **out)
{
    for (int32_t i = 0; i < p->g->noutputs; i++) {
        int32_t b = p->output_bufs[i];
        const Buffer *bf = &p->bufs[b];
        int64_t dims[IR_MAX_RANK];
        for (int r = 0; r < bf->shape.rank; r++)
            dims[r] = dim_eval(bf->shape.d[r], syms);
        if (!(out[i] = tensor_new(bf->dt, bf->shape.rank, dims)))
            return false;
        for (int64_t e = 0; e < out[i]->numel; e++)
            tl_get(bufs[b], bf->dt, e, out[i], e);
    }
    return true;
}

typedef struct {
    int32_t error_cell;     /* what the kernels left in the error cell */
    double seconds;         /* time spent in the kernels */
    double *kernel_seconds; /* when not NULL: per kernel (nkernels entries) */
} TlRun;

static inline double tl_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs plan p through a JIT with each kernel's extent split into `chunks` pieces. Outputs
 * go to out[0..noutputs). false with msg on failure (set up, not numerics). */
static inline bool tl_run(const Plan *p, const LlvmJit *jit, const WeightSource *w, const NamedTensor *in, int nin,
                          int chunks, Tensor **out, TlRun *info, char *msg, size_t n)
{
    const Graph *g = p->g;
    int64_t bind[64];
    bool ok = false;
    void **mem = calloc((size_t)p->nbufs + 1, sizeof *mem);
    char **bufs = calloc((size_t)p->nbufs + 1, sizeof *bufs);
    int32_t cell = 0;
    if (!mem || !bufs || !tl_bind(p, in, nin, bind, msg, n))
        goto out;
    for (int32_t b = 0; b < p->nbufs; b++) {
        const Buffer *bf = &p->bufs[b];
        int64_t numel = shape_numel(&bf->shape, bind);
        size_t bytes = (size_t)numel * dtype_size(bf->dt);
        mem[b] = malloc(bytes ? bytes : 1);
        if (!mem[b])
            goto out;
        memset(mem[b], 0xff, bytes);
        bufs[b] = mem[b];
        if (bf->kind == BUF_INPUT) {
            for (int j = 0; j < nin; j++)
                if (strcmp(in[j].name, bf->name) == 0)
                    for (int64_t e = 0; e < numel; e++)
                        tl_put(mem[b], bf->dt, e, in[j].t, e);
        } else if (bf->kind == BUF_CONST) {
            const FloatList *d = &g->nodes[g->values[bf->value].node].attr.constant.data;
            Tensor *t = tensor_new(bf->dt, 0, NULL);
            for (int64_t e = 0; t && e < numel; e++) {
                tensor_set(t, 0, d->v[d->n == 1 ? 0 : e]);
                tl_put(mem[b], bf->dt, e, t, 0);
            }
            tensor_free(t);
        } else if (bf->kind == BUF_PARAM && !tl_param(p, b, mem[b], w, msg, n)) {
            goto out;
        }
    }
    bufs[p->nbufs] = (char *)&cell;
    double t0 = tl_now();
    for (int32_t k = 0; k < p->nkernels; k++) {
        double tk = tl_now();
        int64_t ext = llvm_jit_extent(jit, k)(bind);
        VitKernelFn fn = llvm_jit_kernel(jit, k);
        for (int c = 0; c < chunks; c++)
            fn(bufs, bind, ext * c / chunks, ext * (c + 1) / chunks);
        if (info && info->kernel_seconds)
            info->kernel_seconds[k] = tl_now() - tk;
    }
    if (info) {
        info->error_cell = cell;
        info->seconds = tl_now() - t0;
    }
    ok = tl_outputs(p, bind, bufs, out);
out:
    if (!ok && !msg[0])
        snprintf(msg, n, "out of memory");
    for (int32_t b = 0; mem && b < p->nbufs; b++)
        free(mem[b]);
    free(mem);
    free(bufs);
    return ok;
}

#endif
