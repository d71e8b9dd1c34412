/* cmd_run.c — `vitc run --interp MODEL --weights W.safetensors IMAGE...`
 *
 * Runs a model through the reference interpreter:
 *   - images (PPM/PGM, PNG, JPEG; image.h) become the model's first input, which must be
 *     float [N, H, W, C] with C = 1 or 3: each is resized per the model's preprocessing
 *     (shorter side to `resize` then a centre crop to H×W, or straight to H×W without a
 *     resize; a `crop`, when the model gives one, must equal H and W),
 *     scaled to [0, 1] and normalised with its mean and std, then batched — in batches of
 *     the symbol's maximum when N is symbolic, of exactly N when it is fixed;
 *   - `--inputs FILE.safetensors` feeds named inputs directly (all of them, or the ones
 *     besides the images); float inputs take F32, F16, BF16 or F64, integer ones I32, I64
 *     or BOOL; tensors that name no input are ignored with a warning;
 *   - for each image and each output: a float [N, K] output prints its top K classes
 *     (softmax of the row, so logits and log-probabilities both work) with labels when the
 *     model names a label file (one per line, relative to the model file); any other output
 *     prints its shape and a checksum (sum, mean |x|, min, max of the image's row);
 *   - `--save-outputs FILE.safetensors` writes every output (batches concatenated along
 *     axis 0) under its name; the interpreter's wall time is printed at the end.
 * Exit status: 0 on success, 2 for bad arguments, 1 for anything else.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "image.h"

#define ERR(...) fprintf(stderr, "vitc: run: error: " __VA_ARGS__)

typedef struct {
    const char *model, *weights, *inputs, *save;
    const char **images, **dirs;
    int nimages, ndirs;
    int top;
} RunArgs;

static const char usage_line[] =
    "usage: vitc run --interp MODEL [--weights W.safetensors] [IMAGE...] [--inputs IN.safetensors]\n"
    "                [--save-outputs OUT.safetensors] [--top K] [-I DIR]...\n";

static void usage(FILE *out)
{
    fputs(usage_line, out);
    fputs("\nRuns MODEL in the reference interpreter (--interp). A model compiled by `vitc compile`\n"
          "runs with `vitc run MODEL.so IMAGE...` (see `vitc run MODEL.so --help`).\n"
          "Images are read as RGB (or gray) in [0,1], resized as the model's preprocess says\n"
          "(shorter side to `resize`, then a centre crop to the input size; without a resize,\n"
          "straight to the input size; bilinear, antialiased when shrinking, as PIL does) and\n"
          "normalised with its mean and std. Float [N,K] outputs print their top classes\n"
          "(softmax); other outputs print their shape and a checksum.\n"
          "\n"
          "  IMAGE...             PNG, JPEG, PPM or PGM files, batched into the model's first input\n"
          "  --weights FILE       the parameters (safetensors; `vitc init` writes random ones)\n"
          "  --inputs FILE        named input tensors (safetensors) instead of, or besides, images\n"
          "  --save-outputs FILE  write the outputs (safetensors)\n"
          "  --top K              classes to print per image (default 5)\n"
          "  -I DIR               search DIR for imports (before the installed models)\n",
          out);
}

/* 0 ok, 1 help printed, 2 bad arguments */
static int parse_args(int argc, char **argv, RunArgs *a)
{
    bool bad = false, interp = false;
    const char *v;
    a->top = 5;
    for (int i = 1; i < argc && !bad; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(s, "--interp") == 0) {
            interp = true;
        } else if (tool_opt(argc, argv, &i, "--weights", &v, &bad)) {
            a->weights = v;
        } else if (tool_opt(argc, argv, &i, "--inputs", &v, &bad)) {
            a->inputs = v;
        } else if (tool_opt(argc, argv, &i, "--save-outputs", &v, &bad)) {
            a->save = v;
        } else if (tool_opt(argc, argv, &i, "--top", &v, &bad)) {
            bad = bad || !tool_int_arg("run", "--top", v, 1, 1000000, &a->top);
        } else if (strncmp(s, "-I", 2) == 0 && s[2]) {
            a->dirs[a->ndirs++] = s + 2;
        } else if (tool_opt(argc, argv, &i, "-I", &v, &bad)) {
            if (v)
                a->dirs[a->ndirs++] = v;
        } else if (s[0] == '-' && s[1]) {
            ERR("unknown option '%s'\n", s);
            bad = true;
        } else if (!a->model) {
            a->model = s;
        } else {
            a->images[a->nimages++] = s;
        }
    }
    if (!bad && !a->model) {
        ERR("no model given\n");
        bad = true;
    }
    if (!bad && !interp) {
        ERR("only the reference interpreter can run models so far: add --interp\n");
        bad = true;
    }
    if (!bad && !a->nimages && !a->inputs) {
        ERR("no images and no --inputs given\n");
        bad = true;
    }
    if (bad)
        fputs(usage_line, stderr);
    return bad ? 2 : 0;
}

/* ---- inputs from a safetensors file ---- */

static double st_value(const StTensor *t, int64_t k)
{
    const unsigned char *b = (const unsigned char *)t->data + k * (int64_t)st_dtype_size(t->dtype);
    uint64_t u = 0;
    for (size_t i = 0; i < st_dtype_size(t->dtype); i++)
        u |= (uint64_t)b[i] << (8 * i);
    float f;
    double d;
    uint32_t u32 = (uint32_t)u;
    switch (t->dtype) {
    case ST_F32: memcpy(&f, &u32, 4); return f;
    case ST_F64: memcpy(&d, &u, 8); return d;
    case ST_F16: return st_f16_to_f32((uint16_t)u);
    case ST_BF16: return st_bf16_to_f32((uint16_t)u);
    case ST_I32: return (double)(int32_t)u32;
    case ST_BOOL: return u != 0;
    default: return 0;
    }
}

/* The file's tensor as an interpreter tensor of dtype `want`; NULL with a message. */
static Tensor *tensor_from_st(const StTensor *t, DType want, char *err, size_t errlen)
{
    bool fl = dtype_is_float(want);
    bool ok_dt = fl ? t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64
                    : t->dtype == ST_I32 || t->dtype == ST_I64 || t->dtype == ST_BOOL;
    if (!ok_dt) {
        snprintf(err, errlen, "input '%s' is %s in the file; the model's %s input takes %s", t->name,
                 st_dtype_name(t->dtype), dtype_name(want), fl ? "F32, F16, BF16 or F64" : "I32, I64 or BOOL");
        return NULL;
    }
    Tensor *x = tensor_new(want, t->rank, t->shape);
    if (!x) {
        snprintf(err, errlen, "input '%s' is too large", t->name);
        return NULL;
    }
    for (int64_t k = 0; k < x->numel; k++) {
        if (t->dtype == ST_I64) {
            int64_t v;
            memcpy(&v, (const char *)t->data + 8 * k, 8); /* the host is little-endian, as the file */
            if ((want == DT_I32 && (v < INT32_MIN || v > INT32_MAX)) || (want == DT_BOOL && v != 0 && v != 1)) {
                snprintf(err, errlen, "input '%s': value %" PRId64 " does not fit %s", t->name, v, dtype_name(want));
                tensor_free(x);
                return NULL;
            }
            x->i[k] = v;
        } else {
            tensor_set(x, k, st_value(t, k));
        }
    }
    return x;
}

static const Node *find_input(const Graph *g, const char *name)
{
    for (int32_t i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_INPUT && strcmp(g->nodes[i].attr.input.name, name) == 0)
            return &g->nodes[i];
    return NULL;
}

/* ---- labels ---- */

typedef struct {
    char *text;
    char **line;
    int n;
} Labels;

static void load_labels(const Graph *g, const char *model, Labels *l)
{
    memset(l, 0, sizeof *l);
    if (!g->meta.labels || !g->meta.labels[0])
        return;
    char path[4096];
    const char *slash = strrchr(model, '/');
    if (g->meta.labels[0] == '/' || !slash)
        snprintf(path, sizeof path, "%s", g->meta.labels);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - model), model, g->meta.labels);
    size_t len;
    l->text = tool_read_file(path, &len);
    if (!l->text) {
        fprintf(stderr, "vitc: run: warning: cannot read the label file '%s': %s; printing class numbers\n", path,
                strerror(errno));
        return;
    }
    int cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += l->text[i] == '\n';
    l->line = ir_calloc((size_t)cap, sizeof *l->line);
    if (!l->line)
        return;
    for (char *p = l->text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        size_t n = strlen(p);
        if (n && p[n - 1] == '\r')
            p[n - 1] = 0;
        l->line[l->n++] = p;
        p = nl ? nl + 1 : NULL;
    }
}

/* ---- printing ---- */

static void print_top(const Tensor *t, int64_t row, int top, const Labels *lab)
{
    int64_t K = t->dims[1];
    const float *x = t->f + row * K;
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < K; k++)
        m = x[k] > m ? x[k] : m;
    for (int64_t k = 0; k < K; k++)
        s += exp(x[k] - m);
    bool *used = ir_calloc((size_t)(K ? K : 1), sizeof *used);
    if (!used)
        return;
    int n = top < K ? top : (int)K;
    for (int r = 0; r < n; r++) {
        int64_t best = -1;
        for (int64_t k = 0; k < K; k++)
            if (!used[k] && (best < 0 || x[k] > x[best] || (x[best] != x[best] && x[k] == x[k])))
                best = k;
        used[best] = true;
        double p = exp(x[best] - m) / s;
        printf("    %2d. %8.6f  class %" PRId64 "%s%s\n", r + 1, p, best, best < lab->n ? "  " : "",
               best < lab->n ? lab->line[best] : "");
    }
    ir_free(used);
}

static void print_checksum(const Tensor *t, int64_t row, bool rows)
{
    int64_t per = rows && t->dims[0] ? t->numel / t->dims[0] : t->numel, off = rows ? row * per : 0;
    double sum = 0, abs_sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < per; k++) {
        double v = tensor_get(t, off + k);
        sum += v;
        abs_sum += fabs(v);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    printf("%s[", dtype_name(t->dt));
    for (int d = rows ? 1 : 0; d < t->rank; d++)
        printf("%s%" PRId64, d > (rows ? 1 : 0) ? "," : "", t->dims[d]);
    printf("]  sum=%.9g  mean|x|=%.9g  min=%.9g  max=%.9g\n", sum, per ? abs_sum / (double)per : 0.0, lo, hi);
}

/* Prints the results of one batch, image by image (`names` labels the rows), then the
 * outputs that have no row per image. */
static void print_batch(const Graph *g, Tensor **outs, const char *const *names, int nrows, int top, const Labels *lab)
{
    bool whole = false;
    for (int r = 0; r < nrows; r++) {
        printf("%s\n", names[r]);
        for (int o = 0; o < g->noutputs; o++) {
            const Tensor *t = outs[o];
            if (t->rank < 1 || t->dims[0] != nrows) {
                whole = true;
                continue;
            }
            if (t->f && t->rank == 2) {
                printf("  %s: top %d of %" PRId64 "\n", g->outputs[o].name, top < t->dims[1] ? top : (int)t->dims[1],
                       t->dims[1]);
                print_top(t, r, top, lab);
            } else {
                printf("  %s: ", g->outputs[o].name);
                print_checksum(t, r, true);
            }
        }
    }
    if (whole)
        printf("(the batch of %d)\n", nrows);
    for (int o = 0; whole && o < g->noutputs; o++)
        if (outs[o]->rank < 1 || outs[o]->dims[0] != nrows) {
            printf("  %s: ", g->outputs[o].name);
            print_checksum(outs[o], 0, false);
        }
}

/* ---- saving ---- */

static StDType st_of(DType dt)
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

/* The outputs of every batch concatenated along axis 0, written under their names. */
static bool save_outputs(const Graph *g, const char *path, Tensor ***batches, int nb, char *err, size_t errlen)
{
    StTensor *ts = ir_calloc((size_t)(g->noutputs ? g->noutputs : 1), sizeof *ts);
    bool ok = ts != NULL;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    for (int o = 0; ok && o < g->noutputs; o++) {
        const Tensor *first = batches[0][o];
        StTensor *s = &ts[o];
        s->name = g->outputs[o].name;
        s->dtype = st_of(first->dt);
        s->rank = first->rank;
        int64_t numel = 0;
        for (int d = 0; d < first->rank; d++)
            s->shape[d] = first->dims[d];
        for (int b = 0; b < nb; b++) {
            const Tensor *t = batches[b][o];
            numel += t->numel;
            if (b && (t->rank < 1 || memcmp(t->dims + 1, first->dims + 1, (size_t)(t->rank - 1) * sizeof *t->dims))) {
                snprintf(err, errlen, "output '%s' has no batch dimension to join the %d runs along; give at most "
                         "one batch of images with --save-outputs", s->name, nb);
                ok = false;
            } else if (b) {
                s->shape[0] += t->dims[0];
            }
        }
        size_t size = st_dtype_size(s->dtype);
        unsigned char *data = ok ? ir_malloc((size_t)numel * size + 1) : NULL;
        if (ok && !data) {
            snprintf(err, errlen, "out of memory");
            ok = false;
        }
        s->data = data;
        s->nbytes = (size_t)numel * size;
        for (int b = 0; ok && b < nb; b++) {
            const Tensor *t = batches[b][o];
            for (int64_t k = 0; k < t->numel; k++, data += size) {
                uint64_t u;
                if (t->dt == DT_F32) {
                    uint32_t u32;
                    memcpy(&u32, &t->f[k], 4);
                    u = u32;
                } else if (t->dt == DT_F16 || t->dt == DT_BF16) {
                    u = t->dt == DT_F16 ? st_f32_to_f16(t->f[k]) : st_f32_to_bf16(t->f[k]);
                } else {
                    u = (uint64_t)t->i[k];
                }
                for (size_t i = 0; i < size; i++)
                    data[i] = (unsigned char)(u >> (8 * i));
            }
        }
    }
    const char *meta[] = {"format", "pt", "vitc_model", g->name};
    if (ok)
        ok = st_write(path, ts, g->noutputs, meta, 2, err, errlen) == 0;
    for (int o = 0; ts && o < g->noutputs; o++)
        ir_free((void *)ts[o].data);
    ir_free(ts);
    return ok;
}

/* ---- running ---- */

/* The model's first input seen as a batch of images. */
typedef struct {
    const Node *n;
    int h, w, c;
    int batch;  /* images per run */
    bool fixed; /* every run needs exactly `batch` images */
} ImageInput;

static bool image_input(const Graph *g, ImageInput *ii, char *err, size_t errlen)
{
    ii->n = NULL;
    for (int32_t i = 0; i < g->nnodes && !ii->n; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_INPUT)
            ii->n = &g->nodes[i];
    if (!ii->n) {
        snprintf(err, errlen, "the model has no inputs to feed images to");
        return false;
    }
    const Type *t = ir_type(g, ii->n->out);
    const Shape *s = &t->shape;
    char sh[256];
    ir_format_shape(g, s, sh, sizeof sh);
    bool ok = dtype_is_float(t->dt) && s->rank == 4;
    for (int d = 1; ok && d < 4; d++)
        ok = dim_is_const(s->d[d]) && s->d[d].n >= 1 && s->d[d].n <= 65536;
    ok = ok && (s->d[3].n == 1 || s->d[3].n == 3) && (dim_is_const(s->d[0]) ? s->d[0].n >= 1 : s->d[0].n == 1);
    if (!ok) {
        snprintf(err, errlen, "the model's first input '%s' is %s%s, not images [N,H,W,C] with C = 1 or 3; "
                 "feed it with --inputs FILE.safetensors", ii->n->attr.input.name, dtype_name(t->dt), sh);
        return false;
    }
    ii->h = (int)s->d[1].n;
    ii->w = (int)s->d[2].n;
    ii->c = (int)s->d[3].n;
    ii->fixed = dim_is_const(s->d[0]);
    int64_t b = ii->fixed ? s->d[0].n : g->syms[s->d[0].sym].max;
    ii->batch = b > 4096 ? 4096 : (int)b;
    return true;
}

/* Images [first, first+n) as one input tensor. */
static Tensor *image_batch(const Graph *g, const ImageInput *ii, const char *const *paths, int n, char *err,
                           size_t errlen)
{
    int64_t dims[4] = {n, ii->h, ii->w, ii->c};
    Tensor *t = tensor_new(ir_type(g, ii->n->out)->dt, 4, dims);
    if (!t) {
        snprintf(err, errlen, "out of memory for a batch of %d images", n);
        return NULL;
    }
    float *px = ir_malloc((size_t)ii->h * ii->w * ii->c * sizeof *px);
    const MetaAttr *m = &g->meta;
    bool ok = px != NULL;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    if (m->crop > 0 && (m->crop != ii->h || m->crop != ii->w)) {
        snprintf(err, errlen, "the model's preprocess crops to %lld but its input '%s' is %d×%d", (long long)m->crop,
                 ii->n->attr.input.name, ii->h, ii->w);
        ok = false;
    }
    for (int i = 0; ok && i < n; i++) {
        Image img;
        char msg[512];
        ok = image_load(paths[i], &img, err, errlen);
        if (ok && !(ok = image_prepare(&img, ii->h, ii->w, ii->c, (int)m->resize, m->mean.v, m->mean.n, m->std.v,
                                       m->std.n, px, msg, sizeof msg)))
            snprintf(err, errlen, "%s: %s", paths[i], msg);
        image_free(&img);
        int64_t per = (int64_t)ii->h * ii->w * ii->c;
        for (int64_t k = 0; ok && k < per; k++)
            tensor_set(t, i * per + k, px[k]); /* rounds for an f16 or bf16 input */
    }
    ir_free(px);
    if (!ok) {
        tensor_free(t);
        return NULL;
    }
    return t;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool has_params(const Graph *g)
{
    for (int32_t i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_PARAM)
            return true;
    return false;
}

/* Everything after the arguments; returns the exit status. */
static int run(const RunArgs *a, Graph *g)
{
    char err[1024];
    int rc = 1, nextra = 0, nruns = 1, done = 0;
    StFile *wf = NULL, *inf = NULL;
    NamedTensor *ins = ir_calloc((size_t)g->nnodes + 2, sizeof *ins);
    Tensor **outs = ir_calloc((size_t)(g->noutputs ? g->noutputs : 1), sizeof *outs);
    Tensor ***kept = NULL;
    const char **rows = NULL;
    Labels lab;
    ImageInput ii = {0};
    WeightSource ws = {NULL, NULL};
    double elapsed = 0;
    load_labels(g, a->model, &lab);
    if (!ins || !outs) {
        ERR("out of memory\n");
        goto out;
    }
    if (!a->weights && has_params(g)) {
        ERR("the model has parameters: give --weights FILE.safetensors (`vitc init` writes random ones)\n");
        rc = 2;
        goto out;
    }
    if (a->weights && !(wf = st_open(a->weights, err, sizeof err))) {
        ERR("%s\n", err);
        goto out;
    }
    if (wf)
        ws = tool_weight_source(wf);
    if (a->nimages && !image_input(g, &ii, err, sizeof err)) {
        ERR("%s\n", err);
        goto out;
    }
    if (a->inputs) {
        if (!(inf = st_open(a->inputs, err, sizeof err))) {
            ERR("%s\n", err);
            goto out;
        }
        for (int i = 0; i < st_count(inf); i++) {
            const StTensor *t = st_tensor(inf, i);
            const Node *n = find_input(g, t->name);
            if (!n) { /* e.g. expected outputs kept beside the inputs */
                fprintf(stderr, "vitc: run: warning: %s: ignoring tensor '%s': the model has no input of that name\n",
                        a->inputs, t->name);
                continue;
            }
            if (n == ii.n) {
                ERR("input '%s' is given both as images and in %s\n", t->name, a->inputs);
                goto out;
            }
            Tensor *x = tensor_from_st(t, ir_type(g, n->out)->dt, err, sizeof err);
            if (!x) {
                ERR("%s: %s\n", a->inputs, err);
                goto out;
            }
            ins[nextra++] = (NamedTensor){n->attr.input.name, x};
        }
    }
    if (a->nimages) {
        if (ii.fixed && a->nimages % ii.batch) {
            ERR("the model takes batches of exactly %d images; %d given\n", ii.batch, a->nimages);
            rc = 2;
            goto out;
        }
        nruns = (a->nimages + ii.batch - 1) / ii.batch;
    }
    kept = a->save ? ir_calloc((size_t)nruns, sizeof *kept) : NULL;
    rows = ir_calloc((size_t)(a->nimages > 64 ? a->nimages : 64), sizeof *rows);
    if ((a->save && !kept) || !rows) {
        ERR("out of memory\n");
        goto out;
    }
    for (int r = 0; r < nruns; r++) {
        int first = r * ii.batch, n = a->nimages ? a->nimages - first : 0;
        if (a->nimages && n > ii.batch)
            n = ii.batch;
        int nin = nextra;
        if (a->nimages) {
            Tensor *t = image_batch(g, &ii, a->images + first, n, err, sizeof err);
            if (!t) {
                ERR("%s\n", err);
                goto out;
            }
            ins[nin++] = (NamedTensor){ii.n->attr.input.name, t};
        }
        IrError ierr = {{0}};
        double t0 = now();
        bool ok = ir_interp(g, &ws, ins, nin, outs, &ierr);
        elapsed += now() - t0;
        if (a->nimages)
            tensor_free((Tensor *)ins[nextra].t);
        if (!ok) {
            ERR("%s: %s\n", a->model, ierr.msg);
            goto out;
        }
        int nrows = n;
        char (*names)[32] = NULL;
        if (!a->nimages) { /* rows of the outputs: the batch dimension of the first output */
            nrows = g->noutputs && outs[0]->rank >= 1 ? (int)(outs[0]->dims[0] < 64 ? outs[0]->dims[0] : 64) : 1;
            names = ir_calloc((size_t)nrows, sizeof *names);
            for (int k = 0; names && k < nrows; k++) {
                snprintf(names[k], sizeof names[k], "#%d", k);
                rows[k] = names[k];
            }
        } else {
            for (int k = 0; k < n; k++)
                rows[k] = a->images[first + k];
        }
        if (a->nimages || names)
            print_batch(g, outs, rows, nrows, a->top, &lab);
        ir_free(names);
        if (kept) {
            kept[r] = ir_calloc((size_t)(g->noutputs ? g->noutputs : 1), sizeof **kept);
            if (!kept[r]) {
                ERR("out of memory\n");
                goto out;
            }
            memcpy(kept[r], outs, (size_t)g->noutputs * sizeof *outs);
            done = r + 1;
        } else {
            for (int o = 0; o < g->noutputs; o++)
                tensor_free(outs[o]);
        }
        memset(outs, 0, (size_t)g->noutputs * sizeof *outs);
    }
    printf("interpreter: %.3f s for %d run%s", elapsed, nruns, nruns == 1 ? "" : "s");
    if (a->nimages)
        printf(" (%d image%s)", a->nimages, a->nimages == 1 ? "" : "s");
    printf("\n");
    if (a->save) {
        if (!save_outputs(g, a->save, kept, nruns, err, sizeof err)) {
            ERR("%s\n", err);
            goto out;
        }
        printf("wrote the outputs to %s\n", a->save);
    }
    rc = 0;
out:
    for (int r = 0; kept && r < done; r++) {
        for (int o = 0; o < g->noutputs; o++)
            tensor_free(kept[r][o]);
        ir_free(kept[r]);
    }
    ir_free(kept);
    ir_free(rows);
    for (int i = 0; i < nextra; i++)
        tensor_free((Tensor *)ins[i].t);
    ir_free(ins);
    ir_free(outs);
    ir_free(lab.text);
    ir_free(lab.line);
    st_close(wf);
    st_close(inf);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) /* a model compiled by `vitc compile`: run_so.c */
        if (strlen(argv[i]) > 3 && strcmp(argv[i] + strlen(argv[i]) - 3, ".so") == 0)
            return run_shared_object(argc, argv);
    RunArgs a = {0};
    a.images = ir_calloc((size_t)argc + 1, sizeof *a.images);
    a.dirs = ir_calloc((size_t)argc + 2, sizeof *a.dirs);
    int rc = a.images && a.dirs ? parse_args(argc, argv, &a) : 2;
    if (rc != 0) {
        ir_free(a.images);
        ir_free(a.dirs);
        return rc == 1 ? 0 : 2;
    }
#ifdef VITC_MODELS_DIR
    a.dirs[a.ndirs++] = VITC_MODELS_DIR;
#endif
    FrontendOptions fo = {a.dirs, a.ndirs};
    Diag *d = diag_new(stderr);
    Graph *g = d ? tool_load_model(a.model, &fo, d) : NULL;
    IrError verr;
    rc = 1;
    if (!g) {
        if (!d || diag_error_count(d) == 0)
            ERR("cannot load '%s'\n", a.model);
    } else if (!ir_verify(g, &verr)) {
        ERR("%s: invalid model: %s\n", a.model, verr.msg);
    } else {
        rc = run(&a, g);
    }
    ir_graph_free(g);
    diag_free(d);
    ir_free(a.images);
    ir_free(a.dirs);
    return rc;
}
