/* passes.h — graph passes and the pass manager.
 *
 * Every pass is `bool pass_NAME(Graph *, const PassOptions *)`, returning whether it
 * changed the graph, and is listed once in passes.c with a stable name. A pass leaves the
 * graph valid (ir_verify) whatever happens, out of memory included: it then stops
 * rewriting. The pass manager runs a pipeline string, verifies after every pass and
 * reports a broken graph as an internal error naming the pass.
 */
#ifndef VITC_PASSES_H
#define VITC_PASSES_H

#include <stdio.h>

#include "../ir/ir.h"

typedef struct {
    const char *print_after; /* comma-separated pass names whose result is printed, or NULL */
    bool print_after_all;
    bool time_passes;        /* a table of times per pass on `log` at the end */
    bool no_verify;          /* skip the verifier after each pass (it runs by default) */
    FILE *dump;              /* where printed IR goes (NULL: stdout) */
    FILE *log;               /* where timings go (NULL: stderr) */
} PassOptions;

typedef bool (*PassFn)(Graph *g, const PassOptions *o);

typedef struct {
    const char *name;
    PassFn run;
    const char *help;
} PassInfo;

extern const PassInfo pass_table[];
extern const int pass_count;

const PassInfo *pass_find(const char *name, size_t len);
/* The default pipeline of an -O level (0..3). */
const char *pass_default_pipeline(int opt_level);
/* Checks that every name in the pipeline is a pass; false with err naming the unknown one. */
bool pass_check_pipeline(const char *pipeline, IrError *err);
/* Runs the passes of `pipeline` (comma-separated, "" = none) in order. false with err on
 * an unknown pass or when the verifier fails after a pass (an internal compiler error
 * naming the pass). */
bool pass_run_pipeline(Graph *g, const char *pipeline, const PassOptions *o, IrError *err);

/* the passes */
bool pass_canonicalize(Graph *g, const PassOptions *o);
bool pass_cse(Graph *g, const PassOptions *o);
bool pass_dce(Graph *g, const PassOptions *o);

#endif
