/* fuzz_vit.c — the .vit frontend (fe_compile_string) under libFuzzer.
 *
 * Any input is compiled or rejected with diagnostics: never a crash, a leak, a hang or
 * unbounded recursion. A graph the frontend accepts must pass ir_verify() and print, and
 * then pipeline_check.h's checks (passes, planner, interpreter against plan_exec).
 * Imports resolve against models/ (under $VITC_SOURCE_DIR when set, else the current
 * directory), so seeds that import the prelude compile. Seeds: tests/fuzz/corpus/vit/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "frontend.h"
#include "ir.h"
#include "pipeline_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    static char models[4096];
    if (!null) {
        const char *root = getenv("VITC_SOURCE_DIR");
        snprintf(models, sizeof models, "%s%smodels", root ? root : "", root ? "/" : "");
        if (!(null = fopen("/dev/null", "w")))
            abort();
    }
    const char *dirs[] = {models};
    FrontendOptions o = {dirs, 1};
    Diag *d = diag_new(null);
    if (!d)
        return 0;
    Graph *g = fe_compile_string("fuzz.vit", (const char *)data, size, &o, d);
    if (g) {
        IrError err;
        if (!ir_verify(g, &err)) {
            fprintf(stderr, "fuzz_vit: the compiled graph fails the verifier: %s\n", err.msg);
            abort();
        }
        if (diag_error_count(d) != 0) {
            fprintf(stderr, "fuzz_vit: a graph came back despite errors\n");
            abort();
        }
        ir_print(g, null);
        Graph *g2 = fe_compile_string("fuzz.vit", (const char *)data, size, &o, d);
        if (!g2) {
            fprintf(stderr, "fuzz_vit: the same text compiled twice failed the second time\n");
            abort();
        }
        pipeline_check(g, g2, null);
    } else if (diag_error_count(d) == 0) {
        fprintf(stderr, "fuzz_vit: no graph and no error\n");
        abort();
    }
    diag_free(d);
    return 0;
}
