/* frontend.h — the .vit language: parsing and elaboration into Graph IR.
 *
 * Elaboration runs the program at compile time: constants are evaluated, defs inlined,
 * loops unrolled, `if` decided, and every tensor operation becomes a node built through
 * ir_build() (so shapes are checked as the program runs, with the location of the
 * expression that built the node). Errors are diagnostics; several are reported per run.
 */
#ifndef VITC_FRONTEND_H
#define VITC_FRONTEND_H

#include "../ir/diag.h"
#include "../ir/ir.h"

typedef struct {
    const char *const *include_dirs; /* searched for `import` after the importing file's folder */
    int ninclude;
} FrontendOptions;

/* Parses and elaborates the model in `path`. NULL when there were errors (reported in d). */
Graph *fe_compile_file(const char *path, const FrontendOptions *o, Diag *d);
/* The same for source text already in memory; `name` is used in locations. */
Graph *fe_compile_string(const char *name, const char *text, size_t len, const FrontendOptions *o, Diag *d);

#endif
