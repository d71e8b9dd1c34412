/* rt_internal.h — the runtime behind vitrt.h, between its files (and its unit tests).
 *
 *   rt_plan.c     parses and validates the serialised plan (format: rt_plan.h)
 *   rt_mem.c      places temporaries in one workspace by first fit over live ranges
 *   rt_pool.c     the thread pool that splits a kernel's extent into chunks
 *   rt_weights.c  binds the plan's parameters to safetensors tensors (checked, converted)
 *   rt_model.c    vit_open / vit_info / vit_run / vit_set_threads / vit_set_option / vit_close
 *   rt_navit.c    NaViT: images of any size resized to patch grids and packed into sequences
 *
 * Plain malloc, no global mutable state, never aborts: every failure is a status and a
 * message. Nothing here is exported from a generated .so but the vit_* functions.
 */
#ifndef VITC_RT_INTERNAL_H
#define VITC_RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "rt_plan.h"
#include "safetensors.h"

#if defined(__GNUC__)
#define RT_EXPORT __attribute__((visibility("default")))
#pragma GCC visibility push(hidden)
#else
#define RT_EXPORT
#endif

/* ---- the plan ---------------------------------------------------------------------- */

/* n when sym < 0, else n × the value of symbol sym */
typedef struct {
    int64_t n, sym;
} RtDim;

typedef struct {
    const char *name;
    int64_t max;
} RtSymbol;

typedef struct {
    int kind;            /* RT_BUF_* */
    int dtype;           /* RT_DT_* */
    int rank;
    RtDim dims[RT_MAX_RANK];
    const char *name;    /* NULL: none */
    int64_t first, last; /* kernels that write it first and read it last (-1: none) */
    const unsigned char *data; /* constants: nbytes of data inside the blob (unaligned) */
    size_t nbytes;
    int pack;            /* inputs: RT_PACK_* (a NaViT packed input's role; 0: an ordinary input) */
    int64_t patch, channels, images; /* the RT_PACK_PATCHES input: P, C, S (else 0) */
} RtBuffer;

typedef struct {
    int kind;            /* the compiler's KernelKind */
    int once;            /* run once at open (writes a folded buffer) */
    const char *label;   /* "k12 gemm models/vit_b16.vit:14:7" */
    double flops;        /* × the value of flops_sym (-1: constant) */
    int64_t flops_sym;
} RtKernel;

typedef struct {
    const char *name;
    int64_t buffer;
} RtOutput;

typedef struct {
    char *name;
    int64_t resize, crop;
    int nmean, nstd;
    double *mean, *std;
    char *labels;        /* NULL: none */
    RtSymbol *syms;
    int nsyms;
    RtBuffer *bufs;
    int nbufs;
    RtKernel *kernels;
    int nkernels;
    RtOutput *outputs;
    int noutputs;
    void *mem;           /* one allocation holding every array and string above */
} RtPlan;

/* Parses and validates a serialised plan: every count, index, kind, dtype, rank and
 * length is checked against the format and the blob's size, and every buffer's size at
 * the symbols' maxima must fit in memory. The plan keeps pointers into `blob` (constant
 * data), which must outlive it. NULL with the reason in err. */
RtPlan *rt_plan_parse(const void *blob, size_t len, char *err, size_t errlen);
void rt_plan_free(RtPlan *p);

size_t rt_dtype_size(int dtype);
const char *rt_dtype_name(int dtype); /* "F32", "BF16", ... as safetensors names them */
int64_t rt_dim(RtDim d, const int64_t *syms);
/* Bytes of a buffer under a binding; -1 on overflow. */
int64_t rt_buffer_bytes(const RtBuffer *b, const int64_t *syms);
/* "F32[64,3,8,8]" (symbols by name) */
void rt_format_type(const RtPlan *p, const RtBuffer *b, char *buf, size_t n);

/* ---- memory placement ----------------------------------------------------------------- */

typedef struct {
    size_t size;         /* bytes (0: needs no memory) */
    int64_t first, last; /* live over kernels [first, last] */
} RtLive;

enum { RT_ALIGN = 64 };

/* Places n buffers in one arena: offsets[i] is a multiple of RT_ALIGN and no two buffers
 * whose live ranges intersect overlap in memory; memory is reused once a range ends
 * (largest first, each at the lowest offset that fits: first fit). *total receives the
 * arena's size. 0, or -1 when out of memory or when the total overflows. */
int rt_place(const RtLive *b, int n, size_t *offsets, size_t *total);
/* What vit_run places in the workspace under binding syms: live[i] for every buffer of p,
 * the input from the start to its last reader, temporaries from their writer to their last
 * reader, outputs from their writer to the end; size 0 for the rest (held elsewhere). The
 * sizes must be known to fit (rt_buffer_bytes ≥ 0). */
void rt_live_ranges(const RtPlan *p, const int64_t *syms, RtLive *live);

/* ---- the thread pool ------------------------------------------------------------------ */

typedef struct RtPool RtPool;

/* A pool of n threads in all (the caller's included: n - 1 workers). NULL when out of
 * memory or when no thread could be started. */
RtPool *rt_pool_new(int n);
void rt_pool_free(RtPool *pool);
int rt_pool_threads(const RtPool *pool);
/* Runs fn over [0, extent) in chunks of `chunk` iterations spread over the threads (the
 * caller's included) and returns when all are done. Every iteration runs exactly once. */
void rt_pool_run(RtPool *pool, VitKernelFn fn, char *const *bufs, const int64_t *syms, int64_t extent,
                 int64_t chunk);
/* The chunk size for a kernel of `extent` iterations and `flops` in all: chunks big enough
 * that claiming one costs little (≥ ~0.5 MFLOP, one iteration at least), small enough that
 * every thread gets at least two (GEMM tiles: usually one tile per chunk). */
int64_t rt_pool_chunk(const RtPool *pool, int64_t extent, double flops);

/* ---- profiling (VIT_PROFILE=1) --------------------------------------------------------- */

typedef struct RtProfile RtProfile;
double rt_now(void); /* seconds, monotonic */
RtProfile *rt_profile_new(int nkernels);
void rt_profile_add(RtProfile *pr, int kernel, double seconds, double flops, int64_t extent);
/* VIT_PROFILE=1: the kernels by time on stderr (label, calls, extent, total and median ms,
 * share, GFLOP/s); VIT_PROFILE=FILE: every sample into FILE (format: rt_profile.c). */
void rt_profile_print(const RtProfile *pr, const RtPlan *p, int threads);
void rt_profile_free(RtProfile *pr);

/* ---- parameters ---------------------------------------------------------------------- */

/* Points bufs[i] at the data of every parameter buffer of p, from f: checked against the
 * plan (present, dtype convertible, shape equal to the stored shape); F32 tensors are used
 * in place when aligned, others converted or copied into memory recorded in owned[i]
 * (free() it). `what` names the source in messages ("the weights file"). 0, or -1 with a
 * message naming the tensor. */
int rt_bind_params(const RtPlan *p, const StFile *f, const char *what, char **bufs, void **owned, char *err,
                   size_t errlen);

/* Converts n elements between dtypes (floats through float, integers through int64). */
void rt_convert(void *dst, int dst_dt, const void *src, int src_dt, int64_t n);

/* Writes the message into err (when err and errlen are non-zero) and returns -1: every
 * failure of the runtime is reported this way. */
int rt_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- NaViT: packed sequences (rt_navit.c; docs/NAVIT.md) -------------------------------- */

/* A NaViT model's packed inputs. */
typedef struct {
    int64_t tokens;             /* T: tokens per sequence */
    int patch, channels, images; /* P, C, S (the most images per sequence) */
    int buf[RT_PACK_COUNT];     /* the input buffer of each role; -1: the model has none */
} RtNavit;

/* Where one image goes: its patch grid, its sequence, slot and first token there. */
typedef struct {
    int gh, gw;
    int seq, slot;
    int64_t start;
} RtNavitItem;

/* Reads the packed inputs of p into nv: 1 for a NaViT model (every input has a pack role,
 * the shapes are those of docs/NAVIT.md, every output has a row per image slot), 0 for a
 * model without packed inputs, -1 with a message for a malformed one. */
int rt_navit_layout(const RtPlan *p, RtNavit *nv, char *err, size_t errlen);

/* The patch grid of an h × w image: with resize, both sides rounded up to multiples of P
 * and, over T patches, the grid at the largest scale s with ⌈h·s/P⌉·⌈w·s/P⌉ ≤ T; without,
 * h/P × w/P. 0, or -1 when it cannot run without resizing. */
int rt_navit_grid(const RtNavit *nv, int h, int w, int resize, int *gh, int *gw);

struct vit_image;
/* Checks the n images and places them: grids, then greedy packing in input order (a new
 * sequence when the next image's tokens or slot do not fit). *nseq receives the number of
 * sequences. 0, or -1 with a message naming the image. */
int rt_navit_plan(const RtNavit *nv, const struct vit_image *ims, int n, int resize, RtNavitItem *items, int *nseq,
                  char *err, size_t errlen);

/* Writes sequence `seq` into the packed input buffers (bufs[nv->buf[role]], in the plan's
 * dtypes): the patches of its images (resized when their grid asks, with `scratch` of
 * T·P²·C floats), seg/row/col/height/width, and the padding (poison: vitrt.h's
 * "poison_padding"). 0, or -1 when out of memory. */
int rt_navit_fill(const RtNavit *nv, const RtPlan *p, char *const *bufs, const struct vit_image *ims,
                  const RtNavitItem *items, int n, int seq, int poison, float *scratch);

/* Resamples an HWC float image to oh × ow: bilinear with half-pixel centres, antialiased
 * when shrinking (the triangle filter widened by the scale factor, as PIL's BILINEAR); at
 * scale 1 a copy. 0, or -1 when out of memory. */
int rt_resize(const float *src, int h, int w, int c, float *dst, int oh, int ow);
/* The same, of the image scaled to sh × sw: its oh × ow window at (oy, ox) (a resize, then
 * a crop, in one resampling). */
int rt_resize_crop(const float *src, int h, int w, int c, int sh, int sw, int oy, int ox, float *dst, int oh, int ow);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
