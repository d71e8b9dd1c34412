/* test_attention.h — helpers shared by tests/unit/test_attention*.c: random weights as
 * `vitc init` writes them, a model compiled from text, the attention ops of a graph. */
#ifndef VITC_TEST_ATTENTION_H
#define VITC_TEST_ATTENTION_H

#include <unistd.h>

#include "test_llvm.h"

/* Weights for every parameter of g (seed), read back through a WeightSource. */
typedef struct {
    StFile *f;
    WeightSource ws;
} TaWeights;

static inline void ta_weights(const Graph *g, uint64_t seed, TaWeights *w)
{
    char path[] = "/tmp/vitc_test_attention_XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    InitOptions io = {.seed = seed};
    if (!tool_init_weights(g, &io, path, NULL, NULL, err, sizeof err))
        fail_msg("init: %s", err);
    w->f = st_open(path, err, sizeof err);
    unlink(path);
    if (!w->f)
        fail_msg("%s", err);
    w->ws = tool_weight_source(w->f);
}

static inline void ta_weights_free(TaWeights *w) { st_close(w->f); }

static inline Graph *ta_compile(const char *name, const char *text)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models", tl_source_dir());
    const char *dirs[] = {dir};
    FrontendOptions fo = {dirs, 1};
    Diag *d = diag_new(stderr);
    assert_non_null(d);
    Graph *g = fe_compile_string(name, text, strlen(text), &fo, d);
    diag_free(d);
    if (!g)
        fail_msg("%s does not compile", name);
    return g;
}

static inline int ta_count(const Graph *g, Op op)
{
    int n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        n += !g->nodes[i].dead && g->nodes[i].op == op;
    return n;
}

#endif
