/* image.h — reading images for `vitc run` and turning them into model inputs. */
#ifndef VITC_IMAGE_H
#define VITC_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

/* An image as float samples in [0, 1] (sample / maxval), height × width × channels,
 * row-major HWC; channels is 1 (gray) or 3 (RGB). */
typedef struct {
    int w, h, c;
    float *px;
} Image;

/* Reads a PPM/PGM (P2, P3, P5, P6; 8 or 16 bits), PNG (any bit depth, palette, gray or
 * colour; alpha is dropped) or baseline/progressive JPEG (gray or colour), recognised by
 * their first bytes. A corrupt, truncated or unsupported file is an error naming it. */
bool image_load(const char *path, Image *out, char *err, size_t errlen);
void image_free(Image *img);

/* The model input for one image: out_h × out_w × out_c floats (HWC) written to dst.
 *   - channels: gray is replicated to RGB; RGB becomes gray as 0.299R + 0.587G + 0.114B;
 *   - size: with resize > 0, the shorter side is scaled to `resize` (the longer one to
 *     ⌊resize · long / short⌋, as torchvision's Resize does) and the centre out_h × out_w is
 *     cropped (offsets rounded half to even, like torchvision's CenterCrop); with resize 0
 *     the image is scaled to out_h × out_w directly, ignoring its aspect ratio;
 *   - scaling is bilinear with half-pixel centres, antialiased when shrinking (the triangle
 *     filter widened by the scale factor, as PIL's BILINEAR does); at scale 1 it is a copy;
 *   - then (x - mean[c]) / std[c] with mean and std of 1 or out_c entries, or of any number
 *     of equal ones (nmean = 0: none).
 * False with a message when the crop does not fit or the lists have the wrong length. */
bool image_prepare(const Image *img, int out_h, int out_w, int out_c, int resize, const double *mean, int nmean,
                   const double *std, int nstd, float *dst, char *err, size_t errlen);

#endif
