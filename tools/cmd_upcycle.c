/* cmd_upcycle.c — `vitc upcycle DENSE.vit DENSE.safetensors --to MOE.vit -o MOE.safetensors
 *                  [--seed N] [-I DIR]...`
 *
 * Sparse upcycling (MODELS.md §5; vmoe's init rule 'expand_tile'): the weights of a dense
 * model become those of its MoE twin. For every parameter the MoE model declares:
 *
 *   .../Moe/Mlp/<rest>     an expert tensor (E, ...): the dense model's .../Mlp/<rest>, whose
 *                          shape must be the expert's without the leading E, tiled E times
 *                          (every expert an exact copy)
 *   .../Moe/Router/<rest>  a new router, drawn as `vitc init --seed N` draws that parameter
 *                          (its init and std; the same seed gives the same bytes)
 *   anything else          copied from the dense weights: same name, same stored shape
 *
 * and every parameter of the dense model must be used (copied, or tiled into experts).
 * Both models are elaborated, so the checks are against what they declare, and the dense
 * weights are checked against the dense model (name, shape, a float dtype). Any mismatch
 * is an error naming the parameter and what was expected: the two models do not
 * correspond. Tensors keep the dense file's dtype; routers take their declared dtype.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "init.h"

static const char usage_line[] =
    "usage: vitc upcycle DENSE.vit DENSE.safetensors --to MOE.vit -o MOE.safetensors [--seed N] [-I DIR]...\n";

static const char EXPERT_IN[] = "/Moe/Mlp/", ROUTER_IN[] = "/Moe/Router/";

typedef struct {
    const Graph *dense, *moe;
    StFile *w;
    uint64_t seed;
    char *err;
    size_t errlen;
    StTensor *out;       /* per written tensor */
    int nout;
    bool *used;          /* per dense parameter node: copied or tiled */
    int ncopied, ntiled, nrouters;
} Up;

static bool failf(Up *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool failf(Up *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->err, u->errlen, fmt, ap);
    va_end(ap);
    return false;
}

static void fmt_dims(const int64_t *d, int rank, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? "," : "", d[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

/* The dense model's parameter node named `name` (-1: none). */
static int32_t dense_param(const Up *u, const char *name)
{
    for (int32_t i = 0; i < u->dense->nnodes; i++)
        if (u->dense->nodes[i].op == OP_PARAM && strcmp(u->dense->nodes[i].attr.param.name, name) == 0)
            return i;
    return -1;
}

/* The dense tensor for dense parameter `name` with stored shape dims[0..rank): checked
 * against the dense model and the file. */
static const StTensor *dense_tensor(Up *u, const char *name, const int64_t *dims, int rank, const char *moe_name)
{
    char want[128], got[128];
    fmt_dims(dims, rank, want, sizeof want);
    int32_t ni = dense_param(u, name);
    if (ni < 0) {
        failf(u, "the models do not correspond: the MoE parameter '%s' needs the dense parameter '%s' %s, which %s "
                 "does not declare", moe_name, name, want, u->dense->name);
        return NULL;
    }
    const Node *n = &u->dense->nodes[ni];
    int64_t sd[IR_MAX_RANK];
    const Type *t = ir_type(u->dense, n->out);
    ir_param_stored_shape(n, t, sd);
    fmt_dims(sd, t->shape.rank, got, sizeof got);
    if (t->shape.rank != rank || memcmp(sd, dims, (size_t)rank * sizeof *dims) != 0) {
        failf(u, "the models do not correspond: the MoE parameter '%s' needs '%s' as %s, but %s declares it %s",
              moe_name, name, want, u->dense->name, got);
        return NULL;
    }
    const StTensor *st = st_find(u->w, name);
    if (!st) {
        failf(u, "the dense weights have no tensor '%s' (%s declares it %s)", name, u->dense->name, want);
        return NULL;
    }
    fmt_dims(st->shape, st->rank, got, sizeof got);
    if (st->rank != rank || memcmp(st->shape, dims, (size_t)rank * sizeof *dims) != 0 ||
        (st->dtype != ST_F32 && st->dtype != ST_F16 && st->dtype != ST_BF16)) {
        failf(u, "the dense tensor '%s' is %s %s, but %s declares %s of floats", name, st_dtype_name(st->dtype), got,
              u->dense->name, want);
        return NULL;
    }
    u->used[ni] = true;
    return st;
}

static bool add_out(Up *u, StTensor t)
{
    u->out[u->nout++] = t;
    return true;
}

static bool tile(Up *u, const char *name, const int64_t *dims, int rank, size_t pos)
{
    /* the dense name: ".../Moe/Mlp/rest" -> ".../Mlp/rest" */
    size_t len = strlen(name);
    char *dn = ir_malloc(len + 1);
    if (!dn)
        return failf(u, "out of memory");
    memcpy(dn, name, pos);
    strcpy(dn + pos, name + pos + strlen("/Moe"));
    bool ok = false;
    if (rank < 1) {
        failf(u, "the expert parameter '%s' has no leading expert axis", name);
    } else {
        const StTensor *st = dense_tensor(u, dn, dims + 1, rank - 1, name);
        if (st) {
            int64_t E = dims[0];
            unsigned char *data = ir_malloc(st->nbytes * (size_t)E + 1);
            if (!data) {
                failf(u, "out of memory for '%s'", name);
            } else {
                for (int64_t e = 0; e < E; e++)
                    memcpy(data + (size_t)e * st->nbytes, st->data, st->nbytes);
                StTensor t = {.name = name, .dtype = st->dtype, .rank = rank, .data = data,
                              .nbytes = st->nbytes * (size_t)E};
                memcpy(t.shape, dims, (size_t)rank * sizeof *dims);
                ok = add_out(u, t);
                u->ntiled++;
            }
        }
    }
    ir_free(dn);
    return ok;
}

static bool router(Up *u, const Node *n, const int64_t *dims, int rank)
{
    const ParamAttr *a = &n->attr.param;
    int64_t numel = 1;
    for (int i = 0; i < rank; i++)
        numel *= dims[i];
    if (!dtype_is_float(ir_type(u->moe, n->out)->dt))
        return failf(u, "the router '%s' is not a float parameter", a->name);
    float *data = ir_malloc((size_t)numel * sizeof *data + 1);
    if (!data)
        return failf(u, "out of memory for '%s'", a->name);
    InitRng rng;
    init_rng_seed(&rng, u->seed, a->name);
    for (int64_t k = 0; k < numel; k++)
        data[k] = (float)(a->init == INIT_ZEROS ? 0 : a->init == INIT_ONES ? 1 : a->std * init_rng_truncnormal(&rng));
    StTensor t = {.name = a->name, .dtype = ST_F32, .rank = rank, .data = data, .nbytes = (size_t)numel * sizeof *data};
    memcpy(t.shape, dims, (size_t)rank * sizeof *dims);
    u->nrouters++;
    return add_out(u, t);
}

static bool copy(Up *u, const char *name, const int64_t *dims, int rank)
{
    const StTensor *st = dense_tensor(u, name, dims, rank, name);
    if (!st)
        return false;
    unsigned char *data = ir_malloc(st->nbytes + 1);
    if (!data)
        return failf(u, "out of memory for '%s'", name);
    memcpy(data, st->data, st->nbytes);
    StTensor t = *st;
    t.data = data;
    u->ncopied++;
    return add_out(u, t);
}

static bool upcycle(Up *u, const char *path)
{
    for (int32_t i = 0; i < u->moe->nnodes; i++) {
        const Node *n = &u->moe->nodes[i];
        if (n->op != OP_PARAM)
            continue;
        const char *name = n->attr.param.name;
        bool seen = false;
        for (int k = 0; k < u->nout && !seen; k++)
            seen = strcmp(u->out[k].name, name) == 0;
        if (seen)
            continue; /* a tied parameter, declared again */
        const Type *t = ir_type(u->moe, n->out);
        int64_t dims[IR_MAX_RANK];
        ir_param_stored_shape(n, t, dims);
        const char *ex = strstr(name, EXPERT_IN);
        bool ok = ex ? tile(u, name, dims, t->shape.rank, (size_t)(ex - name))
                     : strstr(name, ROUTER_IN) ? router(u, n, dims, t->shape.rank) : copy(u, name, dims, t->shape.rank);
        if (!ok)
            return false;
    }
    for (int32_t i = 0; i < u->dense->nnodes; i++) {
        const Node *n = &u->dense->nodes[i];
        if (n->op != OP_PARAM || u->used[i])
            continue;
        bool later = false; /* used through another node of the same name */
        for (int32_t j = 0; j < u->dense->nnodes && !later; j++)
            later = u->used[j] && strcmp(u->dense->nodes[j].attr.param.name, n->attr.param.name) == 0;
        if (!later)
            return failf(u, "the models do not correspond: the dense parameter '%s' has no place in %s (neither the "
                            "same name nor an expert .../Moe/Mlp/... of it)", n->attr.param.name, u->moe->name);
    }
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, u->seed);
    const char *meta[] = {"format", "pt", "vitc_model", u->moe->name, "vitc_upcycled_from", u->dense->name,
                          "vitc_seed", seed};
    return st_write(path, u->out, u->nout, meta, 4, u->err, u->errlen) == 0;
}

static void usage(FILE *out)
{
    fputs(usage_line, out);
    fprintf(out,
            "\n"
            "Sparse upcycling: writes the weights of MOE.vit from those of its dense twin DENSE.vit.\n"
            "Each MoE expert parameter .../Moe/Mlp/X (E, ...) is the dense .../Mlp/X tiled E times;\n"
            "each router .../Moe/Router/X is drawn from the seed as `vitc init` would; every other\n"
            "parameter is copied. The two models must correspond exactly.\n"
            "\n"
            "  --to MOE.vit   the MoE model (required)\n"
            "  -o FILE        the safetensors file to write (required)\n"
            "  --seed N       the routers' random seed (default 0)\n"
            "  -I DIR         search DIR for imports (before the installed models)\n");
}

int cmd_upcycle(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *moe = NULL, *out = NULL, *v;
    const char **dirs = ir_calloc((size_t)argc + 1, sizeof *dirs);
    int ndirs = 0, npos = 0;
    uint64_t seed = 0;
    bool bad = false;
    if (!dirs) {
        fprintf(stderr, "vitc: upcycle: error: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            ir_free(dirs);
            return 0;
        } else if (tool_opt(argc, argv, &i, "-o", &v, &bad) || tool_opt(argc, argv, &i, "--output", &v, &bad)) {
            out = v;
        } else if (tool_opt(argc, argv, &i, "--to", &v, &bad)) {
            moe = v;
        } else if (tool_opt(argc, argv, &i, "--seed", &v, &bad)) {
            bad = bad || !tool_seed_arg("upcycle", v, &seed);
        } else if (strncmp(a, "-I", 2) == 0 && a[2]) {
            dirs[ndirs++] = a + 2;
        } else if (tool_opt(argc, argv, &i, "-I", &v, &bad)) {
            if (v)
                dirs[ndirs++] = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "vitc: upcycle: error: unknown option '%s'\n", a);
            bad = true;
        } else if (npos == 2) {
            fprintf(stderr, "vitc: upcycle: error: unexpected argument '%s'\n", a);
            bad = true;
        } else {
            pos[npos++] = a;
        }
    }
    if (!bad && npos < 2) {
        fprintf(stderr, "vitc: upcycle: error: give the dense model and its weights\n");
        bad = true;
    }
    if (!bad && (!moe || !out)) {
        fprintf(stderr, "vitc: upcycle: error: %s\n", !moe ? "no MoE model given (--to MOE.vit)" : "no output file given (-o FILE)");
        bad = true;
    }
    const char *input = bad                            ? NULL
                        : tool_same_file(out, pos[0]) ? "dense"
                        : tool_same_file(out, moe)    ? "MoE"
                                                      : NULL;
    if (input) {
        fprintf(stderr, "vitc: upcycle: error: the output '%s' is the %s model file\n", out, input);
        bad = true;
    }
    if (bad) {
        fputs(usage_line, stderr);
        ir_free(dirs);
        return 2;
    }
#ifdef VITC_MODELS_DIR
    dirs[ndirs++] = VITC_MODELS_DIR;
#endif
    FrontendOptions fo = {dirs, ndirs};
    Diag *d = diag_new(stderr);
    char err[1024] = "";
    Up u = {.seed = seed, .err = err, .errlen = sizeof err};
    Graph *dense = d ? tool_load_model(pos[0], &fo, d) : NULL;
    Graph *mg = dense ? tool_load_model(moe, &fo, d) : NULL;
    int rc = 1;
    if (!dense || !mg) {
        if (!d || diag_error_count(d) == 0)
            fprintf(stderr, "vitc: upcycle: error: cannot load '%s'\n", !dense ? pos[0] : moe);
    } else if (!(u.w = st_open(pos[1], err, sizeof err))) {
        fprintf(stderr, "vitc: upcycle: error: %s\n", err);
    } else {
        u.dense = dense;
        u.moe = mg;
        u.out = ir_calloc((size_t)mg->nnodes + 1, sizeof *u.out);
        u.used = ir_calloc((size_t)dense->nnodes + 1, sizeof *u.used);
        if (!u.out || !u.used) {
            fprintf(stderr, "vitc: upcycle: error: out of memory\n");
        } else if (!upcycle(&u, out)) {
            fprintf(stderr, "vitc: upcycle: error: %s\n", err);
        } else {
            printf("upcycled '%s' into '%s': %d tensors copied, %d tiled into experts, %d routers drawn (seed %" PRIu64
                   "); wrote %s\n", dense->name, mg->name, u.ncopied, u.ntiled, u.nrouters, seed, out);
            rc = 0;
        }
    }
    for (int k = 0; k < u.nout; k++)
        ir_free((void *)u.out[k].data);
    ir_free(u.out);
    ir_free(u.used);
    st_close(u.w);
    ir_graph_free(dense);
    ir_graph_free(mg);
    diag_free(d);
    ir_free(dirs);
    return rc;
}
