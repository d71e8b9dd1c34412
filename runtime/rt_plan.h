/* rt_plan.h — what a generated object hands the runtime: the plan as data, and kernels.
 *
 * Every object vitc generates defines
 *
 *   const unsigned char vit__plan[];        the serialised plan (below)
 *   const unsigned long long vit__plan_size;
 *   const VitKernelFn vit__kernels[];       one per kernel, in plan order
 *   const VitExtentFn vit__extents[];       the parallel extent of each kernel
 *
 * and, with --embed-weights, vit__weights / vit__weights_size (safetensors bytes). A kernel
 * computes the iterations [begin, end) of its parallel extent; the runtime splits the
 * extent over its threads. bufs[i] is the base address of buffer i for this run, syms the
 * values bound to the symbols, and bufs[nbufs] points at an int32 error cell that a
 * kernel sets to a non-zero RT_ERR_* code (leaving its output defined) when its input is
 * invalid, e.g. an out-of-range index in a gather; the runtime reports it after the run.
 *
 * The serialised plan is a sequence of little-endian fields: i64 integers, f64 floats, and
 * strings (i64 length, bytes; length -1 = none):
 *
 *   "VITPLAN\0" i64 version (RT_PLAN_VERSION)
 *   str name
 *   meta:     i64 resize, i64 crop, i64 nmean, f64 × nmean, i64 nstd, f64 × nstd,
 *             str labels (the label file's text, embedded at compile time, or none)
 *   symbols:  i64 count, then per symbol: str name, i64 max
 *   buffers:  i64 count, then per buffer: i64 kind, i64 dtype, i64 rank, rank × (i64 n, i64 sym),
 *             str name, i64 first, i64 last, [inputs only: i64 pack (RT_PACK_*), i64 patch,
 *             i64 channels, i64 images — a NaViT packed input's role and, on the patches
 *             input, P, C and S; all 0 on an ordinary input], i64 nbytes, bytes (constants:
 *             the data in the buffer's dtype; others: 0)
 *   kernels:  i64 count, then per kernel: i64 kind, i64 once, str label, f64 flops, i64 flops sym
 *             (flops × the symbol's value, sym -1: constant)
 *   outputs:  i64 count, then per output: str name, i64 buffer
 *
 * Dimensions are n when sym < 0, else n × symbol sym, as in the compiler's IR.
 */
#ifndef VITC_RT_PLAN_H
#define VITC_RT_PLAN_H

#include <stdint.h>

#define RT_PLAN_VERSION 2 /* 2: the pack fields of inputs */
#define RT_MAX_RANK 8
/* the most bytes one buffer takes with every symbol at its maximum (64 TiB) */
#define RT_MAX_BUFFER_BYTES ((int64_t)1 << 46)

enum { RT_ERR_NONE, RT_ERR_INDEX /* a gather index out of range */ };

typedef void (*VitKernelFn)(char *const *bufs, const int64_t *syms, int64_t begin, int64_t end);
typedef int64_t (*VitExtentFn)(const int64_t *syms);

/* The same numbering as the compiler's DType and BufKind (checked where the plan is
 * written). */
enum { RT_DT_F32, RT_DT_F16, RT_DT_BF16, RT_DT_I32, RT_DT_I64, RT_DT_BOOL, RT_DT_COUNT };
enum { RT_BUF_INPUT, RT_BUF_PARAM, RT_BUF_CONST, RT_BUF_OUTPUT, RT_BUF_TEMP, RT_BUF_FOLDED, RT_BUF_COUNT };
/* The role of a packed NaViT input: the compiler's PACK_* (ir/attrs.def; docs/NAVIT.md). */
enum { RT_PACK_NONE, RT_PACK_PATCHES, RT_PACK_SEG, RT_PACK_ROW, RT_PACK_COL, RT_PACK_HEIGHT, RT_PACK_WIDTH,
       RT_PACK_COUNT };

#endif
