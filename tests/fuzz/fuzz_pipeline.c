/* fuzz_pipeline.c — what runs after the parser, under libFuzzer: a .vir graph the parser
 * accepts goes through pipeline_check.h (the pass pipeline, the planner with and without
 * packed weights, and for a small graph the interpreter before and after the passes against
 * plan_exec). Seeds: the lit tests' .vir files, the test models dumped (`vitc dump
 * models/X.vit`) and the findings, in tests/fuzz/corpus/pipeline/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "ir.h"
#include "pipeline_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        abort();
    Diag *d = diag_new(null);
    if (!d)
        return 0;
    Graph *g0 = ir_parse((const char *)data, size, "fuzz.vir", d);
    Graph *g = g0 ? ir_parse((const char *)data, size, "fuzz.vir", d) : NULL;
    diag_free(d);
    if (g)
        pipeline_check(g0, g, null);
    else
        ir_graph_free(g0);
    return 0;
}
