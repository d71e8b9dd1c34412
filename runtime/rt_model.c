/* rt_model.c — the C ABI of vitrt.h over the plan and kernels of a generated object.
 *
 * vit_open parses vit__plan, binds parameters (a safetensors file, or vit__weights),
 * copies constants, allocates folded buffers and runs the once-kernels. vit_run feeds the
 * images in chunks of at most max_images: it binds the batch symbol, places inputs,
 * temporaries and outputs in one workspace by liveness (cached per binding), copies the
 * pixels in, runs the kernels in order on the pool and copies the outputs out. A NaViT
 * model (packed inputs) runs its images in packed sequences instead (rt_navit.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vitrt.h"
#include "rt_internal.h"
#define RT_OCL_WEAK_REFS /* the OpenCL executor, when the object links it (rt_ocl.h) */
#include "rt_ocl.h"

/* What the generated object defines (weak: the runtime links without them). */
extern const unsigned char vit__plan[] __attribute__((weak));
extern const unsigned long long vit__plan_size __attribute__((weak));
extern const VitKernelFn vit__kernels[] __attribute__((weak));
extern const VitExtentFn vit__extents[] __attribute__((weak));
extern const unsigned char vit__weights[] __attribute__((weak));
extern const unsigned long long vit__weights_size __attribute__((weak));

enum { NCACHE = 4 };
#define SERIAL_FLOPS 2e5 /* kernels below this run on the calling thread */

typedef struct {
    int64_t key;  /* the batch symbol's value (0: fixed batch) */
    size_t *off;  /* per buffer */
    size_t total;
    unsigned long used;
} Placement;

struct vit_model {
    RtPlan *plan;
    StFile *weights;
    char **bufs;     /* nbufs + 1: the last points at errcell */
    void **owned;    /* per buffer: memory to free */
    int32_t errcell;
    int64_t *syms;
    int image;       /* the image input buffer */
    int batch_sym;   /* -1: a fixed batch of info.max_images */
    int64_t *out_per;/* per output: elements per image */
    RtLive *live;
    Placement cache[NCACHE];
    unsigned long tick;
    char *arena;     /* the constants and the folded buffers (packed weights), one block */
    char *ws;
    size_t ws_cap;
    RtPool *pool;
    char *output_kind;
    struct vit_info info;
    RtProfile *prof; /* VIT_PROFILE=1: per kernel time, printed by vit_close */
    RtOcl *ocl;      /* an OpenCL model: its executor (rt_ocl.c) runs the kernels */
    int navit;       /* a NaViT model: packed inputs nv */
    RtNavit nv;
    int resize, poison; /* vit_set_option "resize", "poison_padding" */
    float *scratch;  /* NaViT: one resized image, T·P²·C floats */
};

int rt_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* n bytes aligned for vectors. A block of HUGE_BYTES or more (the packed weights, a
 * workspace) is aligned to huge pages and advised for them: the kernels stream these
 * once per run, and with 4 KiB pages each page costs a TLB miss and a page walk (ViT-B/16
 * streams 330 MB of packed weights per image: 84,000 pages). With transparent huge pages
 * in `madvise` mode (Debian's default) nothing else gets them; ViT-B/16 at batch 1 runs
 * ~5% faster (docs/PERFORMANCE.md). The advice is only advice: without THP it is ignored. */
enum { HUGE_BYTES = 2 << 20 };

static void *aligned(size_t n)
{
    void *p = NULL;
    if (n < HUGE_BYTES)
        return posix_memalign(&p, RT_ALIGN, n ? n : RT_ALIGN) == 0 ? p : NULL;
    size_t whole = (n + HUGE_BYTES - 1) & ~(size_t)(HUGE_BYTES - 1);
    if (posix_memalign(&p, HUGE_BYTES, whole) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
}

/* Whether buffer b lives in the block of constants and folded buffers (m->arena), and its
 * share of it, rounded to RT_ALIGN. */
static bool in_arena(const RtBuffer *b) { return b->kind == RT_BUF_CONST || b->kind == RT_BUF_FOLDED; }
static size_t arena_bytes(const vit_model *m, const RtBuffer *b)
{
    return ((size_t)rt_buffer_bytes(b, m->syms) + RT_ALIGN - 1) & ~(size_t)(RT_ALIGN - 1);
}

/* ---- running kernels ---- */

static void run_kernel(vit_model *m, int k)
{
    const RtKernel *kn = &m->plan->kernels[k];
    int64_t extent = vit__extents[k](m->syms);
    if (extent <= 0)
        return;
    double flops = kn->flops * (kn->flops_sym >= 0 ? (double)m->syms[kn->flops_sym] : 1.0);
    double t0 = m->prof ? rt_now() : 0;
    int threads = rt_pool_threads(m->pool);
    if (threads == 1 || extent == 1 || flops < SERIAL_FLOPS) {
        vit__kernels[k](m->bufs, m->syms, 0, extent);
    } else {
        rt_pool_run(m->pool, vit__kernels[k], m->bufs, m->syms, extent, rt_pool_chunk(m->pool, extent, flops));
    }
    if (m->prof)
        rt_profile_add(m->prof, k, rt_now() - t0, flops, extent);
}

/* Gives back the host pages of the parameters the host reads no more: after kernel k
 * (k ≥ 0), those whose last reader it is, a once-kernel (a GEMM weight packed into panels
 * at load time), so vit_open never holds both copies of every weight; with k = -1 (an
 * OpenCL model, once its device holds them all), every one. Only parameters used in place
 * from a mapped file (the weights file, or the .so's embedded weights), where it is always
 * safe: a page touched again is read back from the file. */
static void release_param_pages(vit_model *m, int k)
{
    const RtPlan *p = m->plan;
    long pg = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < p->nbufs && pg > 0; i++) {
        const RtBuffer *b = &p->bufs[i];
        if (b->kind != RT_BUF_PARAM || (k >= 0 && b->last != k) || m->owned[i] || !m->bufs[i])
            continue;
        int64_t bytes = rt_buffer_bytes(b, m->syms);
        uintptr_t lo = ((uintptr_t)m->bufs[i] + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
        uintptr_t hi = ((uintptr_t)m->bufs[i] + (uintptr_t)(bytes > 0 ? bytes : 0)) & ~(uintptr_t)(pg - 1);
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
}

/* Runs the kernels with once == `once`; -1 with a message when one sets the error cell. */
static int run_kernels(vit_model *m, int once, char *err, size_t errlen)
{
    if (m->ocl)
        return rt_ocl_run(m->ocl, once, m->syms, m->bufs, m->ws, m->ws_cap, m->prof, err, errlen);
    m->errcell = RT_ERR_NONE;
    for (int k = 0; k < m->plan->nkernels; k++) {
        if (m->plan->kernels[k].once != once)
            continue;
        run_kernel(m, k);
        if (once)
            release_param_pages(m, k);
        if (m->errcell != RT_ERR_NONE) {
            const char *label = m->plan->kernels[k].label;
            if (m->errcell == RT_ERR_INDEX)
                return rt_errf(err, errlen, "a gather index was out of range in kernel %s", label);
            return rt_errf(err, errlen, "kernel %s failed with error %d", label, (int)m->errcell);
        }
    }
    return 0;
}

/* ---- opening ---- */

/* A NaViT model: images of any size, S per sequence, outputs per image slot. */
static int find_navit_io(vit_model *m, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    m->image = m->nv.buf[RT_PACK_PATCHES];
    m->batch_sym = -1;
    m->info.height = m->info.width = 0;
    m->info.channels = m->nv.channels;
    m->info.max_images = m->nv.images;
    m->info.patch = m->nv.patch;
    m->info.tokens = (int)m->nv.tokens;
    if (p->noutputs == 0)
        return rt_errf(err, errlen, "the model has no outputs");
    int64_t total = 0;
    for (int o = 0; o < p->noutputs; o++) {
        const RtBuffer *b = &p->bufs[p->outputs[o].buffer];
        m->out_per[o] = rt_buffer_bytes(b, m->syms) / (int64_t)rt_dtype_size(b->dtype) / m->nv.images;
        total += m->out_per[o];
    }
    if (total > (1 << 30))
        return rt_errf(err, errlen, "the model's outputs are too large (%lld floats per image)", (long long)total);
    m->info.outputs = (int)total;
    return 0;
}

/* The image input and the outputs per image; 0 or -1 with a message. */
static int find_io(vit_model *m, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    m->image = -1;
    if ((m->navit = rt_navit_layout(p, &m->nv, err, errlen)) != 0)
        return m->navit < 0 ? -1 : find_navit_io(m, err, errlen);
    for (int i = 0; i < p->nbufs; i++) {
        if (p->bufs[i].kind != RT_BUF_INPUT)
            continue;
        if (m->image >= 0)
            return rt_errf(err, errlen, "the model has several inputs ('%s', '%s'); vit_run feeds one image input",
                           p->bufs[m->image].name, p->bufs[i].name);
        m->image = i;
    }
    if (m->image < 0)
        return rt_errf(err, errlen, "the model has no input");
    const RtBuffer *in = &p->bufs[m->image];
    char ty[256];
    rt_format_type(p, in, ty, sizeof ty);
    int ok = in->rank == 4 && in->dtype <= RT_DT_BF16 && (in->dims[0].sym < 0 || in->dims[0].n == 1);
    for (int d = 1; d < 4 && ok; d++)
        ok = in->dims[d].sym < 0 && in->dims[d].n >= 1 && in->dims[d].n <= 1 << 16;
    if (!ok || (in->dims[0].sym < 0 && (in->dims[0].n < 1 || in->dims[0].n > 1 << 20)))
        return rt_errf(err, errlen, "the model's input '%s' is %s, not images [B,H,W,C] of floats", in->name, ty);
    m->batch_sym = in->dims[0].sym < 0 ? -1 : (int)in->dims[0].sym;
    for (int i = 0; i < p->nbufs; i++) /* every size is fixed by the batch */
        for (int d = 0; d < p->bufs[i].rank; d++)
            if (p->bufs[i].dims[d].sym >= 0 && p->bufs[i].dims[d].sym != m->batch_sym)
                return rt_errf(err, errlen, "the model has a size '%s' that the images do not fix; this runtime binds "
                               "only the batch", p->syms[p->bufs[i].dims[d].sym].name);
    int64_t batch = m->batch_sym < 0 ? in->dims[0].n : p->syms[m->batch_sym].max;
    m->info.height = (int)in->dims[1].n;
    m->info.width = (int)in->dims[2].n;
    m->info.channels = (int)in->dims[3].n;
    m->info.max_images = (int)batch;
    if (p->noutputs == 0)
        return rt_errf(err, errlen, "the model has no outputs");
    int64_t total = 0;
    for (int o = 0; o < p->noutputs; o++) {
        const RtBuffer *b = &p->bufs[p->outputs[o].buffer];
        int64_t numel = rt_buffer_bytes(b, m->syms) / (int64_t)rt_dtype_size(b->dtype);
        int rows = b->rank >= 1 && (m->batch_sym < 0 ? b->dims[0].sym < 0 && b->dims[0].n % batch == 0
                                                      : b->dims[0].sym == m->batch_sym);
        for (int d = 1; d < b->rank && rows; d++)
            rows = b->dims[d].sym < 0;
        if (!rows) {
            rt_format_type(p, b, ty, sizeof ty);
            return rt_errf(err, errlen, "output '%s' (%s) has no row per image", p->outputs[o].name, ty);
        }
        m->out_per[o] = m->batch_sym < 0 ? numel / batch : numel;
        total += m->out_per[o];
    }
    if (total > (1 << 30))
        return rt_errf(err, errlen, "the model's outputs are too large (%lld floats per image)", (long long)total);
    m->info.outputs = (int)total;
    return 0;
}

static int set_info(vit_model *m, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    size_t len = 1;
    for (int o = 0; o < p->noutputs; o++)
        len += strlen(p->outputs[o].name) + 1;
    if (!(m->output_kind = malloc(len)))
        return rt_errf(err, errlen, "out of memory");
    m->output_kind[0] = 0;
    for (int o = 0; o < p->noutputs; o++) {
        if (o)
            strcat(m->output_kind, ",");
        strcat(m->output_kind, p->outputs[o].name);
    }
    struct vit_info *i = &m->info;
    i->name = p->name;
    i->output_kind = m->output_kind;
    i->resize = (int)p->resize;
    i->crop = (int)p->crop;
    for (int c = 0; c < 3; c++) {
        i->mean[c] = p->nmean == 0 ? 0.0f : (float)p->mean[p->nmean == 1 ? 0 : c < p->nmean ? c : p->nmean - 1];
        i->std[c] = p->nstd == 0 ? 1.0f : (float)p->std[p->nstd == 1 ? 0 : c < p->nstd ? c : p->nstd - 1];
    }
    i->labels = p->labels;
    i->abi_version = VITRT_ABI_VERSION;
    return 0;
}

static int load_weights(vit_model *m, const char *path, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    int nparams = 0;
    for (int i = 0; i < p->nbufs; i++)
        nparams += p->bufs[i].kind == RT_BUF_PARAM;
    const char *what = "the weights file";
    if (path) {
        m->weights = st_open(path, err, errlen);
        if (!m->weights)
            return -1;
    } else if (vit__weights && &vit__weights_size) {
        char msg[512];
        m->weights = st_open_memory(vit__weights, (size_t)vit__weights_size, msg, sizeof msg);
        if (!m->weights)
            return rt_errf(err, errlen, "the embedded weights: %s", msg);
        what = "the embedded weights";
    } else if (nparams) {
        return rt_errf(err, errlen, "the model has %d parameters and no embedded weights: give a safetensors file",
                       nparams);
    }
    return m->weights ? rt_bind_params(p, m->weights, what, m->bufs, m->owned, err, errlen) : 0;
}

static int default_threads(void)
{
    const char *s = getenv("VIT_NUM_THREADS");
    if (s && *s) {
        char *end;
        long n = strtol(s, &end, 10);
        if (!*end && n >= 1 && n <= 1024)
            return (int)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

static int open_model(vit_model *m, const char *path, char *err, size_t errlen)
{
    int ocl = rt_ocl_present && rt_ocl_present(); /* an OpenCL object (rt_ocl.h) */
    if (!vit__plan || !&vit__plan_size || (!ocl && (!vit__kernels || !vit__extents)))
        return rt_errf(err, errlen, "this object holds no compiled model (vit__plan is missing)");
    if (!(m->plan = rt_plan_parse(vit__plan, (size_t)vit__plan_size, err, errlen)))
        return -1;
    const RtPlan *p = m->plan;
    size_t nb = (size_t)p->nbufs + 1;
    m->bufs = calloc(nb, sizeof *m->bufs);
    m->owned = calloc(nb, sizeof *m->owned);
    m->syms = calloc((size_t)p->nsyms + 1, sizeof *m->syms);
    m->out_per = calloc((size_t)p->noutputs + 1, sizeof *m->out_per);
    m->live = calloc(nb, sizeof *m->live);
    int ok = m->bufs && m->owned && m->syms && m->out_per && m->live;
    for (int c = 0; c < NCACHE; c++)
        ok = ok && (m->cache[c].off = calloc(nb, sizeof *m->cache[c].off)) != NULL;
    if (!ok)
        return rt_errf(err, errlen, "out of memory");
    m->bufs[p->nbufs] = (char *)&m->errcell;
    m->resize = 1;
    for (int s = 0; s < p->nsyms; s++)
        m->syms[s] = 1;
    if (find_io(m, err, errlen) || set_info(m, err, errlen) || load_weights(m, path, err, errlen))
        return -1;
    /* the constants and the buffers the once-kernels fill (packed weights): one block, in
     * plan order, so a GEMM's prefetch past its weights' last block reaches the next
     * GEMM's (llvm_gemm.c) */
    size_t total = 0, off = 0;
    int members = 0;
    for (int i = 0; i < p->nbufs; i++)
        if (in_arena(&p->bufs[i])) {
            members++;
            total += arena_bytes(m, &p->bufs[i]);
        }
    if (members > 0 && !(m->arena = aligned(total)))
        return rt_errf(err, errlen, "out of memory for the packed weights and constants (%zu bytes)", total);
    for (int i = 0; i < p->nbufs; i++) {
        const RtBuffer *b = &p->bufs[i];
        if (!in_arena(b))
            continue;
        m->bufs[i] = m->arena + off; /* (a buffer of 0 bytes: a valid pointer all the same) */
        if (b->kind == RT_BUF_CONST)
            memcpy(m->bufs[i], b->data, b->nbytes);
        off += arena_bytes(m, b);
    }
    m->pool = rt_pool_new(default_threads());
    const char *prof = getenv("VIT_PROFILE");
    if (prof && *prof && strcmp(prof, "0") != 0)
        m->prof = rt_profile_new(p->nkernels);
    if (ocl && !(m->ocl = rt_ocl_open(p, NULL, 0, m->bufs, m->syms, err, errlen)))
        return -1;
    if (m->ocl)
        release_param_pages(m, -1); /* uploaded: the device has its copies */
    if (run_kernels(m, 1, err, errlen))
        return -1;
    return 0;
}

RT_EXPORT vit_model *vit_open(const char *weights_path, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    vit_model *m = calloc(1, sizeof *m);
    if (!m) {
        rt_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (open_model(m, weights_path, err, errlen) != 0) {
        vit_close(m);
        return NULL;
    }
    return m;
}

RT_EXPORT int vit_info(const vit_model *m, struct vit_info *info)
{
    if (!m || !info)
        return -1;
    *info = m->info;
    return 0;
}

RT_EXPORT void vit_set_threads(vit_model *m, int n)
{
    if (!m)
        return;
    n = n < 1 ? 1 : n > 1024 ? 1024 : n;
    if (m->pool && rt_pool_threads(m->pool) == n)
        return;
    rt_pool_free(m->pool);
    m->pool = rt_pool_new(n); /* NULL: every kernel on the calling thread */
}

RT_EXPORT int vit_set_option(vit_model *m, const char *name, int value)
{
    if (!m || !name)
        return -1;
    if (strcmp(name, "resize") == 0 && (value == 0 || value == 1))
        m->resize = value;
    else if (strcmp(name, "poison_padding") == 0 && value >= 0 && value <= 2)
        m->poison = value;
    else
        return -1;
    return 0;
}

RT_EXPORT void vit_close(vit_model *m)
{
    if (!m)
        return;
    if (m->prof && m->plan)
        rt_profile_print(m->prof, m->plan, rt_pool_threads(m->pool));
    rt_profile_free(m->prof);
    if (m->ocl)
        rt_ocl_close(m->ocl);
    rt_pool_free(m->pool);
    for (int i = 0; m->owned && m->plan && i < m->plan->nbufs; i++)
        free(m->owned[i]);
    for (int c = 0; c < NCACHE; c++)
        free(m->cache[c].off);
    st_close(m->weights);
    rt_plan_free(m->plan);
    free(m->owned);
    free(m->bufs);
    free(m->syms);
    free(m->out_per);
    free(m->live);
    free(m->ws);
    free(m->arena);
    free(m->output_kind);
    free(m->scratch);
    free(m);
}

/* ---- running ---- */

/* The workspace placement for the current binding (cached). */
static const Placement *placement(vit_model *m, int64_t key, char *err, size_t errlen)
{
    Placement *lru = &m->cache[0];
    for (int c = 0; c < NCACHE; c++) {
        if (m->cache[c].used && m->cache[c].key == key) {
            m->cache[c].used = ++m->tick;
            return &m->cache[c];
        }
        if (m->cache[c].used < lru->used)
            lru = &m->cache[c];
    }
    const RtPlan *p = m->plan;
    rt_live_ranges(p, m->syms, m->live);
    lru->used = 0;
    if (rt_place(m->live, p->nbufs, lru->off, &lru->total) != 0) {
        rt_errf(err, errlen, "out of memory while planning the workspace");
        return NULL;
    }
    lru->key = key;
    lru->used = ++m->tick;
    return lru;
}

/* Places the inputs, temporaries and outputs of the current binding in the workspace. */
static int bind_workspace(vit_model *m, int64_t key, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    const Placement *pl = placement(m, key, err, errlen);
    if (!pl)
        return -1;
    if (pl->total > m->ws_cap) {
        free(m->ws);
        m->ws_cap = 0;
        if (!(m->ws = aligned(pl->total)))
            return rt_errf(err, errlen, "out of memory for a workspace of %zu bytes", pl->total);
        m->ws_cap = pl->total;
    }
    for (int i = 0; i < p->nbufs; i++) {
        int k = p->bufs[i].kind;
        if (k == RT_BUF_TEMP || k == RT_BUF_INPUT || k == RT_BUF_OUTPUT)
            m->bufs[i] = m->ws + pl->off[i];
    }
    return 0;
}

/* Whether the kernels can read the images where they are and write the outputs straight
 * into out (no copies; a one-matmul model at M = 1576 spends ~9% of its run copying): the
 * CPU executor, f32 pixels one image after another, no padding of a fixed batch, and, for
 * out, a single f32 output. Kernels never write an input (plan_kernel_check), so the
 * caller's pixels are only read; out is used in place only when it does not overlap them
 * (the kernels' buffers never overlap: docs/BACKEND_LLVM.md). */
static bool images_in_place(const vit_model *m, const vit_image *images, int n, int batch, size_t per)
{
    if (m->ocl || n != batch || m->plan->bufs[m->image].dtype != RT_DT_F32)
        return false;
    for (int i = 1; i < n; i++)
        if (images[i].pixels != images[0].pixels + (size_t)i * per)
            return false;
    return true;
}

static bool out_in_place(const vit_model *m, const float *pixels, size_t in_floats, const float *out, int n)
{
    const RtPlan *p = m->plan;
    /* addresses as integers: the caller's two blocks are different objects */
    uintptr_t o0 = (uintptr_t)out, o1 = o0 + (size_t)n * (size_t)m->info.outputs * sizeof *out;
    uintptr_t i0 = (uintptr_t)pixels, i1 = i0 + in_floats * sizeof *pixels;
    return p->noutputs == 1 && p->bufs[p->outputs[0].buffer].dtype == RT_DT_F32 && (o1 <= i0 || i1 <= o0);
}

/* Runs images [0, n) of a chunk (n ≤ max_images) into out. */
static int run_chunk(vit_model *m, const vit_image *images, int n, float *out, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    int64_t key = 0;
    if (m->batch_sym >= 0)
        key = m->syms[m->batch_sym] = n;
    if (bind_workspace(m, key, err, errlen))
        return -1;
    const RtBuffer *in = &p->bufs[m->image];
    size_t per = (size_t)m->info.height * (size_t)m->info.width * (size_t)m->info.channels;
    size_t esize = rt_dtype_size(in->dtype);
    int batch = m->batch_sym >= 0 ? n : m->info.max_images;
    if (images_in_place(m, images, n, batch, per)) {
        m->bufs[m->image] = (char *)images[0].pixels; /* read only */
        if (out_in_place(m, images[0].pixels, per * (size_t)n, out, n)) {
            m->bufs[p->outputs[0].buffer] = (char *)out;
            return run_kernels(m, 0, err, errlen);
        }
        batch = 0; /* nothing to copy in */
    }
    for (int i = 0; i < batch; i++) {
        char *dst = m->bufs[m->image] + (size_t)i * per * esize;
        if (i >= n)
            memset(dst, 0, per * esize); /* padding of a fixed batch */
        else
            rt_convert(dst, in->dtype, images[i].pixels, RT_DT_F32, (int64_t)per);
    }
    if (run_kernels(m, 0, err, errlen))
        return -1;
    int64_t off = 0;
    for (int o = 0; o < p->noutputs; o++) {
        const RtBuffer *b = &p->bufs[p->outputs[o].buffer];
        const char *src = m->bufs[p->outputs[o].buffer];
        int64_t k = m->out_per[o];
        size_t row = (size_t)k * rt_dtype_size(b->dtype);
        for (int i = 0; i < n; i++)
            rt_convert(out + (int64_t)i * m->info.outputs + off, RT_DT_F32, src + (size_t)i * row, b->dtype, k);
        off += k;
    }
    return 0;
}

/* A NaViT model: the images packed into sequences (rt_navit.c), one run of the kernels
 * per sequence, row `slot` of each output to the image's place in out. */
static int run_navit(vit_model *m, const vit_image *images, int n, float *out, char *err, size_t errlen)
{
    const RtPlan *p = m->plan;
    const RtNavit *nv = &m->nv;
    RtNavitItem *items = malloc((size_t)n * sizeof *items);
    int nseq = 0, rc = 0;
    if (!items)
        return rt_errf(err, errlen, "out of memory");
    if (rt_navit_plan(nv, images, n, m->resize, items, &nseq, err, errlen) || bind_workspace(m, 0, err, errlen)) {
        free(items);
        return -1;
    }
    if (!m->scratch &&
        !(m->scratch = malloc((size_t)nv->tokens * (size_t)nv->patch * nv->patch * nv->channels * sizeof *m->scratch)))
        rc = rt_errf(err, errlen, "out of memory for a packed sequence");
    for (int s = 0, first = 0; s < nseq && rc == 0; s++) {
        if (rt_navit_fill(nv, p, m->bufs, images, items, n, s, m->poison, m->scratch) != 0) {
            rc = rt_errf(err, errlen, "out of memory while resizing an image");
            break;
        }
        if ((rc = run_kernels(m, 0, err, errlen)) != 0)
            break;
        for (; first < n && items[first].seq == s; first++) {
            int64_t off = 0;
            for (int o = 0; o < p->noutputs; o++) {
                const RtBuffer *b = &p->bufs[p->outputs[o].buffer];
                int64_t k = m->out_per[o];
                const char *src = m->bufs[p->outputs[o].buffer] + (size_t)items[first].slot * (size_t)k *
                                  rt_dtype_size(b->dtype);
                rt_convert(out + (int64_t)first * m->info.outputs + off, RT_DT_F32, src, b->dtype, k);
                off += k;
            }
        }
    }
    free(items);
    return rc;
}

RT_EXPORT int vit_run(vit_model *m, const vit_image *images, int n, float *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!m)
        return rt_errf(err, errlen, "no model (vit_open failed?)");
    if (n < 0)
        return rt_errf(err, errlen, "the number of images is negative (%d)", n);
    if (n == 0)
        return 0;
    if (!images || !out)
        return rt_errf(err, errlen, "%s is NULL", images ? "out" : "images");
    if (m->navit)
        return run_navit(m, images, n, out, err, errlen);
    const struct vit_info *in = &m->info;
    for (int i = 0; i < n; i++) {
        const vit_image *im = &images[i];
        if (im->height != in->height || im->width != in->width || im->channels != in->channels)
            return rt_errf(err, errlen, "image %d is %dx%dx%d (height x width x channels) but the model takes %dx%dx%d",
                           i, im->height, im->width, im->channels, in->height, in->width, in->channels);
        if (!im->pixels)
            return rt_errf(err, errlen, "image %d has no pixels", i);
    }
    for (int s = 0; s < n; s += in->max_images) {
        int cnt = n - s < in->max_images ? n - s : in->max_images;
        if (run_chunk(m, images + s, cnt, out + (size_t)s * (size_t)in->outputs, err, errlen))
            return -1;
    }
    return 0;
}
