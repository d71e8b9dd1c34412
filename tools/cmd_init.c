/* cmd_init.c — `vitc init MODEL -o weights.safetensors [--seed N] [--dtype f32|f16|bf16] [-I DIR]`
 *
 * Writes a safetensors file with one tensor per parameter the model declares: its name,
 * its stored (checkpoint) shape — the parameter's type permuted back through its layout —
 * and values per its init attribute:
 *   normal  std · z, z a standard normal truncated to [-2, 2] (redrawn outside), i.e. a
 *           truncated normal within ±2σ; zeros; ones.
 * Values are rounded to the stored dtype (round to nearest even; integers truncate).
 *
 * Deterministic: each parameter has its own stream, so its values depend only on the seed
 * and its name (adding a parameter does not change the others). The stream is splitmix64
 * seeded with seed XOR FNV-1a-64(name); uniforms are u = ((x >> 11) + 1)·2^-53 in (0, 1];
 * normals come from Box–Muller in pairs, r = √(-2 ln u1), z = r cos(2π u2) then r sin(2π u2).
 * The metadata records {"format": "pt", "vitc_model": NAME, "vitc_seed": N}.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "init.h"

/* ---- the generator ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void init_rng_seed(InitRng *r, uint64_t seed, const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    r->state = seed ^ h;
    r->has_spare = false;
}

static double uniform(InitRng *r) { return (double)((splitmix64(&r->state) >> 11) + 1) * 0x1p-53; }

double init_rng_truncnormal(InitRng *r)
{
    for (;;) {
        double z;
        if (r->has_spare) {
            z = r->spare;
            r->has_spare = false;
        } else {
            double u1 = uniform(r), u2 = uniform(r), rad = sqrt(-2.0 * log(u1));
            z = rad * cos(2 * 3.14159265358979323846 * u2);
            r->spare = rad * sin(2 * 3.14159265358979323846 * u2);
            r->has_spare = true;
        }
        if (z >= -2.0 && z <= 2.0)
            return z;
    }
}

/* ---- writing ---- */

static StDType st_dtype_of(DType dt)
{
    switch (dt) {
    case DT_F16: return ST_F16;
    case DT_BF16: return ST_BF16;
    case DT_I32: return ST_I32;
    case DT_I64: return ST_I64;
    case DT_BOOL: return ST_BOOL;
    default: return ST_F32;
    }
}

/* Stores v (already in range for dt) little-endian at p. */
static void put_value(unsigned char *p, DType dt, double v)
{
    uint64_t u = 0;
    size_t n = dtype_size(dt);
    float f;
    uint32_t u32;
    switch (dt) {
    case DT_F32:
        f = (float)v;
        memcpy(&u32, &f, 4);
        u = u32;
        break;
    case DT_F16: u = st_f32_to_f16((float)dtype_round(DT_F16, v)); break;
    case DT_BF16: u = st_f32_to_bf16((float)dtype_round(DT_BF16, v)); break;
    default: u = (uint64_t)(int64_t)dtype_round(dt, v); break;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

bool tool_init_weights(const Graph *g, const InitOptions *o, const char *path, int *ntensors, int64_t *nparams,
                       char *err, size_t errlen)
{
    int cap = 0, n = 0;
    for (int32_t i = 0; i < g->nnodes; i++)
        cap += !g->nodes[i].dead && g->nodes[i].op == OP_PARAM;
    StTensor *ts = ir_calloc((size_t)(cap ? cap : 1), sizeof *ts);
    const Node **owner = ir_calloc((size_t)(cap ? cap : 1), sizeof *owner);
    bool ok = ts && owner;
    int64_t total = 0;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    for (int32_t i = 0; ok && i < g->nnodes; i++) {
        const Node *nd = &g->nodes[i];
        if (nd->dead || nd->op != OP_PARAM)
            continue;
        const ParamAttr *a = &nd->attr.param;
        const Type *t = ir_type(g, nd->out);
        DType dt = dtype_is_float(t->dt) && o->dtype_set ? o->dtype : t->dt;
        StTensor st = {.name = a->name, .dtype = st_dtype_of(dt), .rank = t->shape.rank};
        ir_param_stored_shape(nd, t, st.shape);
        int64_t numel = shape_numel(&t->shape, NULL);

        bool dup = false;
        for (int k = 0; k < n && !dup; k++) {
            if (strcmp(ts[k].name, a->name) != 0)
                continue;
            const Node *other = owner[k];
            if (!type_eq(ir_type(g, other->out), t) || !attr_eq(ATTR_PARAM, &other->attr, &nd->attr)) {
                snprintf(err, errlen, "parameter '%s' is declared twice with different types or attributes", a->name);
                ok = false;
            }
            dup = true;
        }
        if (dup)
            continue;
        if (numel < 0 || numel > INT64_MAX / 8 || (uint64_t)numel * dtype_size(dt) > SIZE_MAX / 2) {
            snprintf(err, errlen, "parameter '%s' is too large", a->name);
            ok = false;
            break;
        }
        st.nbytes = (size_t)numel * dtype_size(dt);
        unsigned char *data = ir_malloc(st.nbytes ? st.nbytes : 1);
        if (!data) {
            snprintf(err, errlen, "out of memory for parameter '%s' (%zu bytes)", a->name, st.nbytes);
            ok = false;
            break;
        }
        st.data = data;
        InitRng rng;
        init_rng_seed(&rng, o->seed, a->name);
        for (int64_t k = 0; k < numel; k++) {
            double v = a->init == INIT_ZEROS ? 0 : a->init == INIT_ONES ? 1 : a->std * init_rng_truncnormal(&rng);
            put_value(data + k * (int64_t)dtype_size(dt), dt, v);
        }
        owner[n] = nd;
        ts[n++] = st;
        total += numel;
    }
    if (ok) {
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
        const char *meta[] = {"format", "pt", "vitc_model", g->name, "vitc_seed", seed};
        ok = st_write(path, ts, n, meta, 3, err, errlen) == 0;
    }
    for (int k = 0; k < n; k++)
        ir_free((void *)ts[k].data);
    ir_free(ts);
    ir_free(owner);
    if (ok && ntensors)
        *ntensors = n;
    if (ok && nparams)
        *nparams = total;
    return ok;
}

/* ---- the command ---- */

static const char usage_line[] =
    "usage: vitc init MODEL -o WEIGHTS.safetensors [--seed N] [--dtype f32|f16|bf16] [-I DIR]...\n";

static void usage(FILE *out)
{
    fputs(usage_line, out);
    fprintf(out,
            "\n"
            "Writes random weights with the names and stored shapes that MODEL declares:\n"
            "truncated normal within ±2σ (each parameter's std), zeros or ones, per its init.\n"
            "The same seed gives the same bytes.\n"
            "\n"
            "  -o FILE        the safetensors file to write (required)\n"
            "  --seed N       the random seed (default 0)\n"
            "  --dtype DT     store float parameters as f32, f16 or bf16 (default: as declared)\n"
            "  -I DIR         search DIR for imports (before the installed models)\n");
}

int cmd_init(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *v;
    const char **dirs = ir_calloc((size_t)argc + 1, sizeof *dirs);
    int ndirs = 0;
    InitOptions o = {0};
    bool bad = false;
    if (!dirs) {
        fprintf(stderr, "vitc: init: error: out of memory\n");
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
        } else if (tool_opt(argc, argv, &i, "--seed", &v, &bad)) {
            bad = bad || !tool_seed_arg("init", v, &o.seed);
        } else if (tool_opt(argc, argv, &i, "--dtype", &v, &bad)) {
            if (v && !(dtype_from_name(v, strlen(v), &o.dtype) && dtype_is_float(o.dtype))) {
                fprintf(stderr, "vitc: init: error: --dtype must be f32, f16 or bf16, got '%s'\n", v);
                bad = true;
            }
            o.dtype_set = true;
        } else if (strncmp(a, "-I", 2) == 0 && a[2]) {
            dirs[ndirs++] = a + 2;
        } else if (tool_opt(argc, argv, &i, "-I", &v, &bad)) {
            if (v)
                dirs[ndirs++] = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "vitc: init: error: unknown option '%s'\n", a);
            bad = true;
        } else if (model) {
            fprintf(stderr, "vitc: init: error: more than one model given ('%s' and '%s')\n", model, a);
            bad = true;
        } else {
            model = a;
        }
    }
    if (!bad && !model) {
        fprintf(stderr, "vitc: init: error: no model given\n");
        bad = true;
    }
    if (!bad && !out) {
        fprintf(stderr, "vitc: init: error: no output file given (-o FILE)\n");
        bad = true;
    }
    if (!bad && tool_same_file(out, model)) {
        fprintf(stderr, "vitc: init: error: the output '%s' is the model file\n", out);
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
    Graph *g = d ? tool_load_model(model, &fo, d) : NULL;
    int rc = 1;
    IrError verr;
    char err[600];
    int nt;
    int64_t np;
    if (!g) {
        if (!d || diag_error_count(d) == 0)
            fprintf(stderr, "vitc: init: error: cannot load '%s'\n", model);
    } else if (!ir_verify(g, &verr)) {
        fprintf(stderr, "vitc: init: error: %s: invalid model: %s\n", model, verr.msg);
    } else if (!tool_init_weights(g, &o, out, &nt, &np, err, sizeof err)) {
        fprintf(stderr, "vitc: init: error: %s\n", err);
    } else {
        printf("wrote %d tensor%s (%" PRId64 " parameters) of model '%s' to %s (seed %" PRIu64 ")\n", nt,
               nt == 1 ? "" : "s", np, g->name, out, o.seed);
        rc = 0;
    }
    ir_graph_free(g);
    diag_free(d);
    ir_free(dirs);
    return rc;
}
