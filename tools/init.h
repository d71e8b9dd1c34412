/* init.h — random weights for a model (`vitc init`), callable from tests. */
#ifndef VITC_INIT_H
#define VITC_INIT_H

#include <stdint.h>

#include "../ir/ir.h"

typedef struct {
    uint64_t seed;
    DType dtype;    /* the stored dtype of float parameters ... */
    bool dtype_set; /* ... when set; else each parameter's own dtype */
} InitOptions;

/* Writes one tensor per parameter of g (graph order; a name declared twice the same way is
 * written once) with its name and stored shape, filled per its init attribute, and
 * metadata {"format": "pt", "vitc_model": g->name, "vitc_seed": seed}. Returns false with
 * the reason in err. Counts of what was written go to *ntensors and *nparams (may be NULL). */
bool tool_init_weights(const Graph *g, const InitOptions *o, const char *path, int *ntensors, int64_t *nparams,
                       char *err, size_t errlen);

/* The value generator, exposed for tests: the k-th standard normal draw truncated to
 * [-2, 2] of the stream for parameter `name` under `seed`. */
typedef struct {
    uint64_t state;
    double spare; /* the second value of a Box–Muller pair */
    bool has_spare;
} InitRng;

void init_rng_seed(InitRng *r, uint64_t seed, const char *name);
double init_rng_truncnormal(InitRng *r);

#endif
