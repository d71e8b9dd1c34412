/* vitrt.h — the C ABI of every shared object vitc generates.
 *
 *   char err[256];
 *   vit_model *m = vit_open("weights.safetensors", err, sizeof err);
 *   if (!m) { fprintf(stderr, "%s\n", err); return 1; }
 *   struct vit_info info;                 // a struct tag: the function vit_info has its name
 *   vit_info(m, &info);
 *   float *out = malloc(n * info.outputs * sizeof *out);
 *   if (vit_run(m, images, n, out, err, sizeof err) != 0) ...
 *   vit_close(m);
 *
 * Errors come back as a non-zero status and a message, never as an abort. Several models
 * may be open at once (each .so, or the same .so opened several times). One model may be
 * run from one thread at a time; it runs its own pool of worker threads.
 */
#ifndef VITRT_H
#define VITRT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VITRT_ABI_VERSION 2 /* 2: vit_info's patch and tokens, vit_set_option (NaViT) */

typedef struct vit_model vit_model;

/* One image: float pixels, HWC, row-major, already resized and normalised as the model's
 * preprocessing says (vit_info). A NaViT model (vit_info: height = width = 0) takes images
 * of any size, normalised but not resized: the runtime resizes each to its patch grid and
 * packs them into sequences (vit_run). */
typedef struct vit_image {
    int height, width, channels;
    const float *pixels;
} vit_image;

struct vit_info {
    const char *name;          /* the model's name */
    int height, width, channels; /* the input image size; 0 × 0: any size (NaViT) */
    int outputs;               /* floats per image in vit_run's `out` */
    int max_images;            /* most images per call of the compiled batch; vit_run takes any
                                  n and runs them in chunks of at most this many. NaViT: the
                                  most images one packed sequence holds */
    const char *output_kind;   /* "logits", "log_probs", "tokens", ... */
    int resize, crop;          /* preprocessing: resize the shorter side, then center-crop (0: none) */
    float mean[3], std[3];     /* preprocessing: (pixel/255 - mean) / std per channel */
    const char *labels;        /* the class names, one per line (the model's label file,
                                  embedded at compile time), or NULL */
    int abi_version;
    int patch, tokens;         /* NaViT: the patch size P and the tokens of one packed sequence
                                  T, so an image of h x w patches (hP x wP pixels, h·w ≤ T)
                                  runs without resizing; 0, 0 for other models */
};

/* Opens the model with the weights in a safetensors file (NULL: the weights embedded with
 * `vitc compile --embed-weights`). Every tensor the model declares is checked: a missing
 * tensor, a wrong shape or dtype, a truncated or malformed file each give a message naming
 * the tensor and what was expected. NULL on failure, with the reason in err. */
vit_model *vit_open(const char *weights_path, char *err, size_t errlen);

/* Fills *info. Returns 0. */
int vit_info(const vit_model *m, struct vit_info *info);

/* Runs the model on n images; out receives n × info->outputs floats in input order.
 * Returns 0, or non-zero with the reason in err (a wrong image size, n < 0, ...). A NaViT
 * model resizes each image to a patch grid within its token budget (vit_set_option
 * "resize"), packs them in input order into sequences of `tokens` tokens and `max_images`
 * images, and runs as many sequences as needed (docs/NAVIT.md). Images that lie one after
 * another in memory are read where they are (never written), and out may then be written
 * directly: keep both untouched until vit_run returns. */
int vit_run(vit_model *m, const vit_image *images, int n, float *out, char *err, size_t errlen);

/* Worker threads (default: the number of cores, or VIT_NUM_THREADS). n < 1 means 1. */
void vit_set_threads(vit_model *m, int n);

/* Sets an option of the model for the following vit_run calls. Returns 0, or -1 for an
 * unknown name, a value out of range or a NULL model. Options (NaViT models; an ordinary
 * model accepts them and ignores them):
 *   "resize"          1 (default): an image is resized to a whole patch grid, both sides
 *                     rounded up to multiples of P, and, when that grid holds more than T
 *                     patches, down to the largest grid with the image's aspect ratio that
 *                     fits (docs/NAVIT.md); 0: never resample — an image whose sides are not
 *                     multiples of P, or with more than T patches, is an error naming it;
 *   "poison_padding"  0 (default): padding tokens are zero pixels, seg -1, row = col = 0,
 *                     height = width = 1; 1: padding pixels are large pseudo-random values
 *                     and row, col, height, width arbitrary values within the grids of the
 *                     sequence's images (seg stays -1); 2: the same with NaN pixels. A
 *                     debugging aid: a model's outputs must not change (docs/NAVIT.md). */
int vit_set_option(vit_model *m, const char *name, int value);

void vit_close(vit_model *m);

#ifdef __cplusplus
}
#endif

#endif
