/* rt_pool.c — the thread pool of one model.
 *
 * n - 1 workers plus the calling thread run each kernel: the extent is cut into chunks
 * that the threads claim from one atomic ticket (dynamic scheduling, so a slow or
 * descheduled thread takes fewer). The ticket packs the job's generation, its chunk count
 * and the next chunk index; a claim is a compare-and-swap of the whole ticket, so it
 * succeeds only while the job still has unclaimed chunks, and then the job (whose fields
 * the caller changes only once every chunk is done) is stable. The caller waits for its
 * chunks to be done, never for workers that took none: a worker the OS has not scheduled
 * costs nothing. Idle workers spin on the ticket for SPIN_SECONDS (a kernel follows the
 * previous one within microseconds, the next vit_run within a fraction of a millisecond),
 * then sleep on a condition variable.
 *
 * Chunk sizes (rt_pool_chunk): a claim costs one compare-and-swap on a shared line (~0.1 µs),
 * so a chunk holds about 0.5 MFLOP of the plan's estimate (≥ 5 µs of work), at least one
 * iteration and at most extent / (2·threads). A GEMM's iterations are register-blocked
 * tiles of several MFLOP: one tile per chunk, so the threads share them evenly however
 * few there are (M = 197 gives 15 row blocks per column group). Measured with `vitc bench`
 * (1000 runs of a kernel of 2·threads iterations of 2 µs, less the ideal 4 µs): ~1–4 µs per kernel on 2 threads here.
 *
 * Such kernels of one iteration per chunk (GEMM and attention tiles) are cut guided, as
 * OpenMP's schedule(guided): a round of one chunk per thread takes half of what is left,
 * then a round takes half of the rest, ..., down to single iterations (at most MAX_PARTS
 * chunks, the last takes the rest). A GEMM's tiles run column group by column group, so the
 * first chunks give each thread whole column groups of its own: each core streams its own
 * blocks of B into its L2, and its prefetch of the next group's block (llvm_gemm.c) is for
 * the group it runs next, where one-tile chunks had both cores load every block. The small
 * chunks at the end keep the balance when a thread is slowed. ViT-B/16 on 2 threads: batch 1
 * ~2% (114–118 against 116–122 ms in 6 alternating pairs), batch 8 ~3% faster.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "rt_internal.h"

enum { IDX_BITS = 20, MAX_CHUNKS = (1 << IDX_BITS) - 1, MAX_PARTS = 64 };
/* How long an idle thread spins before it sleeps: long enough to bridge a vit_run's serial
 * copies of inputs and outputs and the caller's gap between calls. A count of 2000 pauses
 * (~80 µs on this Sapphire Rapids) let the workers sleep between calls, and a 0.7 ms GEMM on
 * 2 threads then waited for their wake-up: 183–307 GFLOP/s against 246–355 with 1 ms. */
#define SPIN_SECONDS 1e-3
#define GEN_OF(t) ((t) >> (2 * IDX_BITS))
#define N_OF(t) (((t) >> IDX_BITS) & MAX_CHUNKS)
#define IDX_OF(t) ((t) & MAX_CHUNKS)

struct RtPool {
    int n;
    pthread_t *threads;
    int started; /* workers running */
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    int stop;
    atomic_uint_fast64_t ticket; /* gen | nchunks | next index */
    atomic_int_fast64_t done;    /* chunks of the current job finished */
    atomic_int waiting;          /* the caller sleeps on done_cv */
    /* the current job: stable while it has unclaimed chunks */
    VitKernelFn fn;
    char *const *bufs;
    const int64_t *syms;
    int64_t extent, chunk;
    int nparts;                  /* > 0: chunk i is [part[i], part[i + 1]) (guided) */
    int64_t part[MAX_PARTS + 1];
};

/* Whether a spin that began at t0 goes on at its i-th pause (the clock read every 64th). */
static inline bool spinning(double t0, int i)
{
    return (i & 63) != 0 || rt_now() - t0 < SPIN_SECONDS;
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Claims and runs chunks of the job of generation `gen` until none is left. */
static void work(RtPool *p, uint64_t gen)
{
    for (;;) {
        uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        if (GEN_OF(t) != gen || IDX_OF(t) >= N_OF(t))
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        int64_t b = (int64_t)IDX_OF(t) * p->chunk;
        int64_t e = b + p->chunk < p->extent ? b + p->chunk : p->extent;
        if (p->nparts) {
            b = p->part[IDX_OF(t)];
            e = p->part[IDX_OF(t) + 1];
        }
        int64_t n = (int64_t)N_OF(t);
        p->fn(p->bufs, p->syms, b, e);
        /* sequentially consistent, against the caller's store of `waiting` then load of `done` */
        if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker(void *arg)
{
    RtPool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        double t0 = rt_now();
        for (int i = 1; spinning(t0, i) && GEN_OF(atomic_load_explicit(&p->ticket, memory_order_acquire)) == seen; i++)
            relax();
        pthread_mutex_lock(&p->mu);
        while (GEN_OF(atomic_load(&p->ticket)) == seen && !p->stop)
            pthread_cond_wait(&p->wake, &p->mu);
        int stop = p->stop;
        seen = GEN_OF(atomic_load(&p->ticket));
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        work(p, seen);
    }
}

RtPool *rt_pool_new(int n)
{
    RtPool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n < 1 ? 1 : n;
    atomic_init(&p->ticket, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->waiting, 0);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->wake, NULL) != 0 || pthread_cond_init(&p->done_cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (p->n > 1 && !(p->threads = calloc((size_t)p->n - 1, sizeof *p->threads)))
        p->n = 1;
    for (int i = 0; i < p->n - 1; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->started++;
    }
    p->n = p->started + 1; /* fewer threads if some could not start */
    return p;
}

void rt_pool_free(RtPool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int rt_pool_threads(const RtPool *p) { return p ? p->n : 1; }

int64_t rt_pool_chunk(const RtPool *p, int64_t extent, double flops)
{
    int threads = rt_pool_threads(p);
    if (extent <= 1 || threads <= 1)
        return extent > 1 ? extent : 1;
    double per = flops > 0 ? flops / (double)extent : 1;
    double want = 5e5 / per; /* iterations in ~0.5 MFLOP */
    int64_t chunk = want < 1 ? 1 : want > (double)extent ? extent : (int64_t)want + 1;
    int64_t most = (extent + 2 * threads - 1) / (2 * threads); /* two chunks per thread at least */
    return chunk < most ? chunk : most;
}

void rt_pool_run(RtPool *p, VitKernelFn fn, char *const *bufs, const int64_t *syms, int64_t extent, int64_t chunk)
{
    if (extent <= 0)
        return;
    if (chunk < 1)
        chunk = 1;
    if (extent / chunk >= MAX_CHUNKS)
        chunk = extent / (MAX_CHUNKS - 1) + 1;
    if (!p || p->n == 1 || chunk >= extent) {
        fn(bufs, syms, 0, extent);
        return;
    }
    uint64_t nchunks = (uint64_t)((extent + chunk - 1) / chunk);
    /* every chunk of the previous job is done: no worker reads these fields now */
    p->nparts = 0;
    if (chunk == 1 && extent >= 4 * p->n) { /* guided: see the top of the file */
        int64_t at = 0;
        int n = 0;
        while (at < extent && n + p->n < MAX_PARTS) {
            int64_t size = (extent - at) / (2 * p->n);
            if (size < 1)
                size = 1;
            for (int t = 0; t < p->n && at < extent; t++) {
                p->part[n++] = at;
                at += size < extent - at ? size : extent - at;
            }
        }
        if (at < extent)
            p->part[n++] = at;
        p->part[n] = extent;
        p->nparts = n;
        nchunks = (uint64_t)n;
    }
    p->fn = fn;
    p->bufs = bufs;
    p->syms = syms;
    p->extent = extent;
    p->chunk = chunk;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint64_t gen = (GEN_OF(atomic_load(&p->ticket)) + 1) & ((1u << 24) - 1);
    if (gen == 0)
        gen = 1; /* 0 is the workers' initial `seen` */
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->ticket, gen << (2 * IDX_BITS) | nchunks << IDX_BITS, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    work(p, gen);
    double t0 = rt_now();
    for (int i = 1; spinning(t0, i) && atomic_load_explicit(&p->done, memory_order_acquire) < (int64_t)nchunks; i++)
        relax();
    if (atomic_load_explicit(&p->done, memory_order_acquire) < (int64_t)nchunks) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->waiting, 1);
        while (atomic_load(&p->done) < (int64_t)nchunks)
            pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}
