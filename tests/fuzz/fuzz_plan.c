/* fuzz_plan.c — the runtime's plan reader (rt_plan_parse: the plan a compiled .so carries,
 * runtime/rt_plan.h) under libFuzzer.
 *
 * Any blob is parsed or rejected with a message, never a crash, a leak or a hang. A plan
 * the reader accepts must be usable as vit_open uses it: every buffer's size at the
 * symbols' maxima computed without overflow or rejected (-1), its type printable, and the
 * temporaries placed in one arena (rt_place) with no two live at once overlapping. Seeds:
 * tests/fuzz/corpus/plan/ (the `vit__plan` symbol of `vitc compile --emit=obj` of the test
 * models, cut out with objcopy).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_placement(const RtPlan *p, const int64_t *syms)
{
    RtLive *live = calloc((size_t)p->nbufs + 1, sizeof *live);
    size_t *off = calloc((size_t)p->nbufs + 1, sizeof *off);
    if (!live || !off)
        goto out;
    for (int i = 0; i < p->nbufs; i++) {
        char type[512];
        rt_format_type(p, &p->bufs[i], type, sizeof type);
        if (rt_buffer_bytes(&p->bufs[i], syms) < 0)
            goto out; /* vit_open reports it */
    }
    rt_live_ranges(p, syms, live); /* as vit_run places them */
    size_t total = 0;
    if (rt_place(live, p->nbufs, off, &total) != 0)
        goto out;
    for (int i = 0; i < p->nbufs; i++)
        for (int j = i + 1; live[i].size && j < p->nbufs; j++)
            if (live[j].size && live[i].first <= live[j].last && live[j].first <= live[i].last &&
                off[i] < off[j] + live[j].size && off[j] < off[i] + live[i].size) {
                fprintf(stderr, "fuzz_plan: buffers %d and %d are live together and overlap\n", i, j);
                abort();
            }
out:
    free(live);
    free(off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    /* a copy of exactly `size` bytes, so that ASan sees any read past the blob */
    uint8_t *blob = malloc(size ? size : 1);
    if (!blob)
        return 0;
    memcpy(blob, data, size);
    RtPlan *p = rt_plan_parse(blob, size, err, sizeof err);
    if (p) {
        int64_t *syms = calloc((size_t)p->nsyms + 1, sizeof *syms);
        if (syms) {
            for (int s = 0; s < p->nsyms; s++)
                syms[s] = p->syms[s].max;
            check_placement(p, syms);
            free(syms);
        }
        rt_plan_free(p);
    } else if (!err[0]) {
        fprintf(stderr, "fuzz_plan: rejected without a message\n");
        abort();
    }
    free(blob);
    return 0;
}
