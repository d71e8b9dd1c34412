/* fuzz_vir.c — the .vir parser (ir_parse) under libFuzzer.
 *
 * Any input is parsed or rejected with diagnostics, never a crash, a leak or a hang. A
 * graph the parser accepts must pass ir_verify(), print, parse again and print the same
 * text (print → parse → print is the identity); statistics and Graphviz must not crash
 * on it either; then pipeline_check.h's checks (passes, planner, interpreter against
 * plan_exec). Seeds: tests/fuzz/corpus/vir/ (with the lit tests' .vir files, the test
 * models dumped by `vitc dump models/X.vit`, and findings).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "ir.h"
#include "pipeline_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_graph(const Graph *g, size_t *len)
{
    char *s = NULL;
    FILE *f = open_memstream(&s, len);
    if (!f)
        abort();
    ir_print(g, f);
    fclose(f);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        abort();
    Diag *d = diag_new(null);
    if (!d)
        return 0;
    diag_add_source(d, "fuzz.vir", (const char *)data, size);
    Graph *g = ir_parse((const char *)data, size, "fuzz.vir", d);
    if (g) {
        IrError err;
        if (!ir_verify(g, &err)) {
            fprintf(stderr, "fuzz_vir: the parsed graph fails the verifier: %s\n", err.msg);
            abort();
        }
        size_t na, nb;
        char *a = print_graph(g, &na);
        Graph *h = ir_parse(a, na, "printed.vir", d);
        if (!h) {
            fprintf(stderr, "fuzz_vir: the printed graph does not parse:\n%s", a);
            abort();
        }
        char *b = print_graph(h, &nb);
        if (na != nb || memcmp(a, b, na) != 0) {
            fprintf(stderr, "fuzz_vir: print → parse → print changed the text:\n%s\n----\n%s", a, b);
            abort();
        }
        IrStats st;
        ir_stats(g, NULL, &st);
        ir_print_dot(g, null);
        free(a);
        free(b);
        pipeline_check(g, h, null); /* h, the same graph, through the passes */
    }
    diag_free(d);
    return 0;
}
