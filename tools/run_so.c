/* run_so.c — `vitc run model.so [--weights W] IMAGE... [--top K] [--threads N] [--repeat R]
 *            [--truth FILE]`
 *
 * Runs a compiled model through its C ABI (runtime/vitrt.h), as any program would: the .so
 * is dlopen'ed (RTLD_LOCAL) and its vit_* functions resolved. Each image (PNG, JPEG, PPM;
 * image.h) is resized and normalised as vit_info says (a NaViT model, which takes any
 * size: normalised only, at its own size; the runtime resizes to patch grids and packs
 * the images into sequences; --no-resize refuses images that need resizing), the whole
 * set goes through vit_run
 * (in chunks of max_images, inside the runtime), and per image the top-K classes are
 * printed with softmax probabilities and the embedded label names (`logits`, `log_probs`,
 * `probs` outputs), or the output's size and a checksum (`tokens` and anything else).
 * With --truth (lines "IMAGE LABEL", IMAGE matched by file name, LABEL a class name or
 * index), one line per image with its top class and the true one, then the accuracy.
 * Last, the latency: the median of --repeat runs, per image.
 *
 * Exit status: 0 success, 1 errors, 2 bad command-line usage.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "image.h"

#define ERR(...) fprintf(stderr, "vitc: run: error: " __VA_ARGS__)

typedef struct {
    const char *so, *weights, *truth;
    const char **images;
    int nimages, top, threads, repeat;
    bool no_resize;
} SoArgs;

static const char usage_line[] =
    "usage: vitc run MODEL.so [--weights W.safetensors] IMAGE... [--top K] [--threads N] [--repeat R]\n"
    "                [--truth LABELS.txt] [--no-resize]\n";

/* 0 go on, 1 help printed, 2 bad arguments */
static int parse_args(int argc, char **argv, SoArgs *a)
{
    bool bad = false;
    const char *v;
    a->top = 5;
    a->repeat = 1;
    for (int i = 1; i < argc && !bad; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage_line, stdout);
            fputs("\nRuns a model compiled by `vitc compile` through its C ABI.\n\n"
                  "  IMAGE...         PNG, JPEG, PPM or PGM files\n"
                  "  --weights FILE   the parameters (safetensors); none: the embedded weights\n"
                  "  --top K          classes to print per image (default 5)\n"
                  "  --threads N      worker threads (default: the cores, or VIT_NUM_THREADS)\n"
                  "  --repeat R       run R times and report the median latency (default 1)\n"
                  "  --truth FILE     lines \"IMAGE LABEL\": print each image's top class against\n"
                  "                   its label, then the accuracy\n"
                  "  --no-resize      NaViT models: refuse an image that is not whole patches\n"
                  "                   within the token budget instead of resizing it\n",
                  stdout);
            return 1;
        } else if (strcmp(s, "--interp") == 0) {
            ERR("--interp runs a model file (.vit or .vir), not a compiled .so\n");
            bad = true;
        } else if (strcmp(s, "--no-resize") == 0) {
            a->no_resize = true;
        } else if (tool_opt(argc, argv, &i, "--weights", &v, &bad)) {
            a->weights = v;
        } else if (tool_opt(argc, argv, &i, "--top", &v, &bad)) {
            bad = bad || !tool_int_arg("run", "--top", v, 1, 1000000, &a->top);
        } else if (tool_opt(argc, argv, &i, "--truth", &v, &bad)) {
            a->truth = v;
        } else if (tool_opt(argc, argv, &i, "--threads", &v, &bad)) {
            bad = bad || !tool_int_arg("run", "--threads", v, 1, 1024, &a->threads);
        } else if (tool_opt(argc, argv, &i, "--repeat", &v, &bad)) {
            bad = bad || !tool_int_arg("run", "--repeat", v, 1, 1000000, &a->repeat);
        } else if (s[0] == '-' && s[1]) {
            ERR("unknown option '%s'\n", s);
            bad = true;
        } else if (!a->so) {
            a->so = s;
        } else {
            a->images[a->nimages++] = s;
        }
    }
    if (!bad && !a->so) {
        ERR("no model given\n");
        bad = true;
    }
    if (!bad && !a->nimages) {
        ERR("no images given\n");
        bad = true;
    }
    if (bad)
        fputs(usage_line, stderr);
    return bad ? 2 : 0;
}

/* Prepares every image as the model's input; false with a message. A NaViT model (height
 * and width 0) takes each image at its own size, normalised, into pixels[i] (ir_free). */
static bool load_images(const SoArgs *a, const struct vit_info *in, float *px, float **pixels, vit_image *ims)
{
    size_t per = (size_t)in->height * (size_t)in->width * (size_t)in->channels;
    double mean[3], std[3];
    int nm = in->channels == 3 ? 3 : 1;
    for (int c = 0; c < 3; c++) {
        mean[c] = in->mean[c];
        std[c] = in->std[c];
    }
    for (int i = 0; i < a->nimages; i++) {
        Image img;
        char err[512], msg[512];
        if (!image_load(a->images[i], &img, err, sizeof err)) {
            ERR("%s\n", err);
            return false;
        }
        int h = in->height, w = in->width;
        float *dst = px + (size_t)i * per;
        if (h < 1 || w < 1) { /* NaViT: its own size */
            h = img.h;
            w = img.w;
            dst = pixels[i] = ir_malloc((size_t)h * (size_t)w * (size_t)in->channels * sizeof *dst);
        }
        bool ok = dst && image_prepare(&img, h, w, in->channels, dst == px + (size_t)i * per ? in->resize : 0, mean,
                                       nm, std, nm, dst, msg, sizeof msg);
        image_free(&img);
        if (!ok) {
            ERR("%s: %s\n", a->images[i], dst ? msg : "out of memory");
            return false;
        }
        ims[i] = (vit_image){h, w, in->channels, dst};
    }
    return true;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The n-th line of the label text into buf ("" when there is none). */
static void label(const char *labels, int n, char *buf, size_t len)
{
    buf[0] = 0;
    for (const char *p = labels; p && *p; n--) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 0) {
            if (l && p[l - 1] == '\r')
                l--;
            snprintf(buf, len, "  %.*s", (int)l, p);
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
}

static void print_top(const float *x, int k, int top, const char *labels)
{
    double m = -INFINITY, s = 0;
    for (int i = 0; i < k; i++)
        m = x[i] > m ? x[i] : m;
    for (int i = 0; i < k; i++)
        s += exp(x[i] - m);
    bool *used = ir_calloc((size_t)k + 1, 1);
    if (!used)
        return;
    for (int r = 0; r < top && r < k; r++) {
        int best = -1;
        for (int i = 0; i < k; i++)
            if (!used[i] && (best < 0 || x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])))
                best = i;
        used[best] = true;
        char name[256];
        label(labels, best, name, sizeof name);
        printf("    %2d. %8.6f  class %d%s\n", r + 1, exp(x[best] - m) / s, best, name);
    }
    ir_free(used);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The label of `image` in the truth file text (lines "IMAGE LABEL"), into buf. */
static bool truth_of(const char *text, const char *image, char *buf, size_t len)
{
    const char *want = base_name(image);
    size_t wl = strlen(want);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        const char *sp = memchr(p, ' ', l);
        if (sp) {
            const char *name = p;
            size_t nlen = (size_t)(sp - p);
            const char *slash = memchr(p, '/', nlen);
            while (slash) { /* compare file names only */
                nlen -= (size_t)(slash + 1 - name);
                name = slash + 1;
                slash = memchr(name, '/', nlen);
            }
            if (nlen == wl && memcmp(name, want, wl) == 0) {
                size_t vl = l - (size_t)(sp + 1 - p);
                while (vl && (sp[vl] == '\r' || sp[vl] == ' '))
                    vl--;
                snprintf(buf, len, "%.*s", (int)vl, sp + 1);
                return true;
            }
        }
        p = nl ? nl + 1 : p + l;
    }
    return false;
}

/* One line per image against its true label, and the accuracy; false on a missing label. */
static bool print_truth(const SoArgs *a, const struct vit_info *in, const float *out)
{
    size_t len;
    char *text = tool_read_file(a->truth, &len);
    if (!text) {
        ERR("cannot read '%s'\n", a->truth);
        return false;
    }
    int correct = 0;
    bool ok = true;
    for (int i = 0; i < a->nimages && ok; i++) {
        const float *x = out + (size_t)i * (size_t)in->outputs;
        int best = 0;
        for (int k = 1; k < in->outputs; k++)
            if (x[k] > x[best])
                best = k;
        char want[256], name[256], idx[32];
        if (!truth_of(text, a->images[i], want, sizeof want)) {
            ERR("%s has no label for '%s'\n", a->truth, base_name(a->images[i]));
            ok = false;
            break;
        }
        label(in->labels, best, name, sizeof name);
        snprintf(idx, sizeof idx, "%d", best);
        bool hit = strcmp(name[0] ? name + 2 : idx, want) == 0 || strcmp(idx, want) == 0;
        correct += hit;
        printf("%-28s predicted %-8s true %-8s%s\n", base_name(a->images[i]), name[0] ? name + 2 : idx, want,
               hit ? "" : "  <- wrong");
    }
    if (ok)
        printf("accuracy: %d/%d = %.2f%%\n", correct, a->nimages, 100.0 * correct / a->nimages);
    ir_free(text);
    return ok;
}

static void print_results(const SoArgs *a, const struct vit_info *in, const float *out)
{
    bool classes = strcmp(in->output_kind, "logits") == 0 || strcmp(in->output_kind, "log_probs") == 0 ||
                   strcmp(in->output_kind, "probs") == 0;
    for (int i = 0; i < a->nimages; i++) {
        const float *x = out + (size_t)i * (size_t)in->outputs;
        printf("%s\n", a->images[i]);
        if (classes) {
            printf("  %s: top %d of %d\n", in->output_kind, a->top < in->outputs ? a->top : in->outputs,
                   in->outputs);
            print_top(x, in->outputs, a->top, in->labels);
            continue;
        }
        double sum = 0, abs_sum = 0, lo = INFINITY, hi = -INFINITY;
        for (int k = 0; k < in->outputs; k++) {
            sum += x[k];
            abs_sum += fabs(x[k]);
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
        }
        printf("  %s: f32[%d]  sum=%.9g  mean|x|=%.9g  min=%.9g  max=%.9g\n", in->output_kind, in->outputs, sum,
               in->outputs ? abs_sum / in->outputs : 0.0, lo, hi);
    }
}

static int run(const SoArgs *a, const ToolSo *api)
{
    char err[1024];
    int rc = 1;
    vit_model *m = api->open(a->weights, err, sizeof err);
    if (!m) {
        ERR("%s: %s\n", a->so, err);
        return 1;
    }
    struct vit_info in = {0};
    api->info(m, &in);
    if (a->threads)
        api->set_threads(m, a->threads);
    size_t per = (size_t)in.height * (size_t)in.width * (size_t)in.channels;
    float *px = ir_malloc((size_t)a->nimages * per * sizeof *px + 1);
    float **pixels = ir_calloc((size_t)a->nimages, sizeof *pixels); /* NaViT: per image */
    vit_image *ims = ir_calloc((size_t)a->nimages, sizeof *ims);
    float *out = ir_malloc((size_t)a->nimages * (size_t)in.outputs * sizeof *out + 1);
    double *times = ir_calloc((size_t)a->repeat, sizeof *times);
    bool navit = in.height < 1 || in.width < 1;
    if (!px || !pixels || !ims || !out || !times) {
        ERR("out of memory\n");
    } else if (a->no_resize && navit && (!api->set_option || api->set_option(m, "resize", 0) != 0)) {
        ERR("%s: the model cannot turn resizing off (it predates vit_set_option)\n", a->so);
    } else if (load_images(a, &in, px, pixels, ims)) {
        if (navit)
            printf("NaViT: %d image%s of any size in packed sequences of %d tokens (%dx%d patches, at most %d "
                   "images each)\n", a->nimages, a->nimages == 1 ? "" : "s", in.tokens, in.patch, in.patch,
                   in.max_images);
        rc = 0;
        for (int r = 0; r < a->repeat && rc == 0; r++) {
            double t0 = now();
            if (api->run(m, ims, a->nimages, out, err, sizeof err) != 0) {
                int k = -1; /* "image K ...": name its file */
                if (sscanf(err, "image %d", &k) == 1 && k >= 0 && k < a->nimages)
                    ERR("%s: %s: %s\n", a->so, a->images[k], err);
                else
                    ERR("%s: %s\n", a->so, err);
                rc = 1;
            }
            times[r] = now() - t0;
        }
        if (rc == 0 && a->truth && !print_truth(a, &in, out))
            rc = 1;
        else if (rc == 0 && !a->truth)
            print_results(a, &in, out);
        if (rc == 0) {
            qsort(times, (size_t)a->repeat, sizeof *times, cmp_double);
            double med = a->repeat % 2 ? times[a->repeat / 2] : (times[a->repeat / 2 - 1] + times[a->repeat / 2]) / 2;
            printf("latency: %.3f ms per image (median of %d run%s of %d image%s, %.3f ms per run)\n",
                   med * 1e3 / a->nimages, a->repeat, a->repeat == 1 ? "" : "s", a->nimages,
                   a->nimages == 1 ? "" : "s", med * 1e3);
        }
    }
    for (int i = 0; pixels && i < a->nimages; i++)
        ir_free(pixels[i]);
    ir_free(pixels);
    ir_free(px);
    ir_free(ims);
    ir_free(out);
    ir_free(times);
    api->close(m);
    return rc;
}

int run_shared_object(int argc, char **argv)
{
    SoArgs a = {0};
    a.images = ir_calloc((size_t)argc + 1, sizeof *a.images);
    int rc = a.images ? parse_args(argc, argv, &a) : 2;
    if (rc == 1) { /* --help */
        rc = 0;
    } else if (rc == 0) {
        ToolSo so;
        rc = tool_load_so("run", a.so, &so) ? run(&a, &so) : 1;
        tool_unload_so(&so);
    }
    ir_free(a.images);
    return rc;
}
