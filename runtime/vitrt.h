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

#define VITRT_ABI_VERSION 1

typedef struct vit_model vit_model;

/* One image: float pixels, HWC, row-major, already resized and normalised as the model's
 * preprocessing says (vit_info). */
typedef struct vit_image {
    int height, width, channels;
    const float *pixels;
} vit_image;

struct vit_info {
    const char *name;          /* the model's name */
    int height, width, channels; /* the input image size; 0 × 0: any size (NaViT) */
    int outputs;               /* floats per image in vit_run's `out` */
    int max_images;            /* most images per call of the compiled batch; vit_run takes any
                                  n and runs them in chunks of at most this many */
    const char *output_kind;   /* "logits", "log_probs", "tokens", ... */
    int resize, crop;          /* preprocessing: resize the shorter side, then center-crop (0: none) */
    float mean[3], std[3];     /* preprocessing: (pixel/255 - mean) / std per channel */
    const char *labels;        /* the class names, one per line (the model's label file,
                                  embedded at compile time), or NULL */
    int abi_version;
};

/* Opens the model with the weights in a safetensors file (NULL: the weights embedded with
 * `vitc compile --embed-weights`). Every tensor the model declares is checked: a missing
 * tensor, a wrong shape or dtype, a truncated or malformed file each give a message naming
 * the tensor and what was expected. NULL on failure, with the reason in err. */
vit_model *vit_open(const char *weights_path, char *err, size_t errlen);

/* Fills *info. Returns 0. */
int vit_info(const vit_model *m, struct vit_info *info);

/* Runs the model on n images; out receives n × info->outputs floats in input order.
 * Returns 0, or non-zero with the reason in err (a wrong image size, n < 0, ...). */
int vit_run(vit_model *m, const vit_image *images, int n, float *out, char *err, size_t errlen);

/* Worker threads (default: the number of cores, or VIT_NUM_THREADS). n < 1 means 1. */
void vit_set_threads(vit_model *m, int n);

void vit_close(vit_model *m);

#ifdef __cplusplus
}
#endif

#endif
