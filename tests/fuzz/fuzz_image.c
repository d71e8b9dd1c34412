/* fuzz_image.c — the image reader of `vitc run` (tools/image.h: our PPM/PGM parser, and
 * PNG and JPEG through libpng and libjpeg with our error handling) under libFuzzer.
 *
 * Any bytes are read or rejected with a message naming the file, never a crash, a leak or
 * a hang. An image that reads has a positive size, 1 or 3 channels and samples in [0, 1],
 * and turns into model inputs of 8 × 8 × 3 (resized by the shorter side and centre-cropped,
 * and scaled directly) and 5 × 3 × 1, as `vitc run` prepares them, with finite values.
 * image_load reads a path, so each input goes through a temporary file. Seeds:
 * tests/fuzz/corpus/image/ (PPM and PGM in every variant the reader takes, PNG gray, RGB,
 * palette, 16-bit and with alpha, JPEG baseline and progressive, gray and colour).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *msg)
{
    fprintf(stderr, "fuzz_image: %s\n", msg);
    abort();
}

static void prepare(const Image *img, int h, int w, int c, int resize)
{
    static const double mean[] = {0.5, 0.4, 0.3}, std[] = {0.2, 0.25, 0.3};
    float dst[8 * 8 * 3];
    char err[512];
    if (!image_prepare(img, h, w, c, resize, mean, c, std, c, dst, err, sizeof err))
        return; /* a crop that does not fit: a message */
    for (int i = 0; i < h * w * c; i++)
        if (!isfinite(dst[i]))
            fail("a prepared input is not finite");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/vitc_fuzz_image_%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t wrote = fwrite(data, 1, size, f);
    fclose(f);
    if (wrote != size)
        return 0;
    Image img = {0};
    char err[512] = "";
    if (image_load(path, &img, err, sizeof err)) {
        if (img.w < 1 || img.h < 1 || (img.c != 1 && img.c != 3) || !img.px)
            fail("an image without pixels or with 2 or 4 channels");
        for (int64_t i = 0; i < (int64_t)img.w * img.h * img.c; i++)
            if (!(img.px[i] >= 0 && img.px[i] <= 1))
                fail("a sample outside [0, 1]");
        prepare(&img, 8, 8, 3, 8);
        prepare(&img, 8, 8, 3, 0);
        prepare(&img, 5, 3, 1, 0);
        image_free(&img);
    } else if (!strstr(err, path)) {
        fprintf(stderr, "fuzz_image: the message does not name the file: %s\n", err);
        abort();
    }
    remove(path);
    return 0;
}
