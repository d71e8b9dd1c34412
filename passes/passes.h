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
    IrError *ice;            /* set by the pass manager: where pass_ice() records an internal error */
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
/* Runs one pass (any PassInfo, listed or not) and the verifier after it (unless
 * o->no_verify); false with an internal-compiler-error message when the pass reported
 * one or left an invalid graph. *changed (may be NULL) receives what the pass returned. */
bool pass_run(Graph *g, const PassInfo *p, const PassOptions *o, bool *changed, IrError *err);
/* Whether err, filled by the functions above, is an internal compiler error (a bug of
 * vitc) rather than a mistake of the user (an unknown pass name). */
bool pass_error_is_internal(const IrError *err);
/* Lists the passes with their help, one a line. */
void pass_list(FILE *out);

/* A pass reports a bug of its own (a broken invariant, a rewrite cap exceeded) with
 * PASS_ICE(o, fmt, ...) after leaving the graph valid; the pass manager then fails the
 * pipeline with an internal compiler error naming the pass and file:line. Outside the
 * manager (o == NULL or o->ice == NULL) the message goes to o->log or stderr. */
void pass_ice(const PassOptions *o, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define PASS_ICE(o, ...) pass_ice((o), __FILE__, __LINE__, __VA_ARGS__)

/* the passes */
bool pass_canonicalize(Graph *g, const PassOptions *o);
bool pass_cse(Graph *g, const PassOptions *o);
bool pass_dce(Graph *g, const PassOptions *o);
/* For rewrites (dce.c): after nodes among [0, n0) were marked dead, marks dead,
 * transitively, the nodes only they used (never inputs or parameters); whatever was
 * unused before stays, for dce. Out of memory: nothing more is marked. */
void dce_after_rewrite(Graph *g, int32_t n0);
bool pass_moe_lower(Graph *g, const PassOptions *o);
bool pass_fuse_attention(Graph *g, const PassOptions *o);

/* An attention-like pattern (a softmax between matmuls) that is not an attention op, and
 * why attention-fusion does not (or did not) fuse it. */
typedef struct {
    int32_t node; /* the softmax */
    char reason[400];
} AttentionMiss;
/* The attention-like patterns of g, the first `max` into out; their count (-1: out of
 * memory). The matcher is attention-fusion's own (passes/fuse_attention.c). */
int attention_unfused(const Graph *g, AttentionMiss *out, int max);

bool pass_packing_mask_elim(Graph *g, const PassOptions *o);
/* What packing-mask-elimination made of a graph (passes/packing_mask_elim.c), for
 * `vitc dump --stats`: the segment-aware ops it holds, and each keep-masked attention or
 * masked mean over segment ids it left, with the reason. */
typedef struct {
    bool packed;     /* the graph has a pack = seg input */
    int attentions;  /* attention ops with mask = segment or slot */
    int poolings;    /* segment_reduce ops */
} PackingReport;
typedef struct {
    int32_t node;    /* the attention or the div of the masked mean */
    char reason[400];
} PackingMiss;
/* The masks left, the first `max` into out; their count. */
int packing_masks_left(const Graph *g, PackingReport *r, PackingMiss *out, int max);

#endif
