/* stubs.c — STUB: printer, parser, stats, dot; replaced by the IR text work. */
#include "diag.h"
#include "ir.h"

void ir_print(const Graph *g, FILE *out) { (void)g; (void)out; }
void ir_print_type(const Graph *g, const Type *t, FILE *out) { (void)g; (void)t; (void)out; }
Graph *ir_parse(const char *text, size_t len, const char *filename, Diag *d)
{
    (void)text; (void)len; (void)filename; (void)d;
    return NULL;
}
void ir_stats(const Graph *g, const int64_t *bind, IrStats *out) { (void)g; (void)bind; (void)out; }
void ir_print_dot(const Graph *g, FILE *out) { (void)g; (void)out; }
