/* rt_mem.c — places buffers with live ranges in one arena.
 *
 * Greedy by size (as TFLite's arena planner): the largest buffer first, each at the lowest
 * RT_ALIGN-aligned offset where it overlaps no already placed buffer whose live range
 * [first, last] intersects its own. Buffers whose ranges are disjoint share memory. n is a
 * few hundred for a ViT and the result is cached per binding, so O(n² log n) is fine.
 */
#include <stdint.h>
#include <stdlib.h>

#include "rt_internal.h"

typedef struct {
    size_t off, end;
} Span;

static int by_size(const void *a, const void *b, const RtLive *live)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (live[i].size != live[j].size)
        return live[i].size > live[j].size ? -1 : 1;
    if (live[i].first != live[j].first)
        return live[i].first < live[j].first ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* qsort has no context argument: a merge sort (stable) instead */
static void sort_idx(int *idx, int *tmp, int n, const RtLive *live)
{
    if (n < 2)
        return;
    int h = n / 2;
    sort_idx(idx, tmp, h, live);
    sort_idx(idx + h, tmp, n - h, live);
    int i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = by_size(&idx[j], &idx[i], live) < 0 ? idx[j++] : idx[i++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    for (k = 0; k < n; k++)
        idx[k] = tmp[k];
}

static int by_off(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int rt_place(const RtLive *b, int n, size_t *offsets, size_t *total)
{
    *total = 0;
    if (n <= 0)
        return 0;
    int *idx = malloc(sizeof *idx * (size_t)n * 2);
    Span *spans = malloc(sizeof *spans * (size_t)n);
    if (!idx || !spans) {
        free(idx);
        free(spans);
        return -1;
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    sort_idx(idx, idx + n, n, b);
    int status = 0;
    for (int k = 0; k < n && status == 0; k++) {
        int i = idx[k];
        offsets[i] = 0;
        if (b[i].size == 0)
            continue;
        if (b[i].size > SIZE_MAX / 2) {
            status = -1;
            break;
        }
        size_t size = (b[i].size + RT_ALIGN - 1) & ~(size_t)(RT_ALIGN - 1);
        int ns = 0;
        for (int q = 0; q < k; q++) { /* placed buffers live at the same time */
            int j = idx[q];
            if (b[j].size && b[j].first <= b[i].last && b[i].first <= b[j].last)
                spans[ns++] = (Span){offsets[j], offsets[j] + b[j].size};
        }
        qsort(spans, (size_t)ns, sizeof *spans, by_off);
        size_t off = 0;
        for (int s = 0; s < ns; s++) {
            if (spans[s].off >= off + size)
                break; /* the gap before this span fits */
            if (spans[s].end > off)
                off = (spans[s].end + RT_ALIGN - 1) & ~(size_t)(RT_ALIGN - 1);
        }
        offsets[i] = off;
        if (off > SIZE_MAX - size)
            status = -1;
        else if (off + size > *total)
            *total = off + size;
    }
    free(idx);
    free(spans);
    return status;
}

void rt_live_ranges(const RtPlan *p, const int64_t *syms, RtLive *live)
{
    for (int i = 0; i < p->nbufs; i++) {
        const RtBuffer *b = &p->bufs[i];
        int64_t first = b->first < 0 ? 0 : b->first, last = b->last < first ? first : b->last;
        live[i] = (RtLive){0, 0, 0};
        if (b->kind == RT_BUF_TEMP)
            live[i] = (RtLive){(size_t)rt_buffer_bytes(b, syms), first, last};
        else if (b->kind == RT_BUF_INPUT)
            live[i] = (RtLive){(size_t)rt_buffer_bytes(b, syms), 0, last};
        else if (b->kind == RT_BUF_OUTPUT)
            live[i] = (RtLive){(size_t)rt_buffer_bytes(b, syms), first, p->nkernels};
    }
}
