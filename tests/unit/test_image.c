/* test_image.c — images for `vitc run` (tools/image.h): PPM/PGM decoding and its errors,
 * PNG decoding against the pixels PyTorch saw (tests/reference), resizing (hand-computed
 * bilinear weights), centre crops, channel conversion and normalisation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "image.h"

static const char *write_file(const char *name, const void *data, size_t n)
{
    static char path[4][512];
    static int k;
    const char *dir = getenv("TMPDIR");
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/vitc_test_image_%d_%s", dir && *dir ? dir : "/tmp", (int)getpid(), name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return p;
}

static void load_fails(const char *name, const char *data, size_t n, const char *want)
{
    const char *path = write_file(name, data, n);
    Image img;
    char err[512] = "";
    assert_false(image_load(path, &img, err, sizeof err));
    if (!strstr(err, want) || !strstr(err, path))
        fail_msg("message \"%s\" does not name the file or contain \"%s\"", err, want);
    assert_null(img.px);
    unlink(path);
}

static void test_pnm(void **state)
{
    (void)state;
    /* P6, 2×1: (255,0,51) (0,102,255) */
    static const char p6[] = "P6\n# a comment\n2 1\n255\n\xff\x00\x33\x00\x66\xff";
    const char *path = write_file("a.ppm", p6, sizeof p6 - 1);
    Image img;
    char err[512];
    assert_true(image_load(path, &img, err, sizeof err));
    assert_int_equal(img.w, 2);
    assert_int_equal(img.h, 1);
    assert_int_equal(img.c, 3);
    const float want[] = {1, 0, 0.2f, 0, 0.4f, 1};
    for (int i = 0; i < 6; i++)
        assert_true(fabsf(img.px[i] - want[i]) < 1e-7f);
    image_free(&img);
    unlink(path);
    /* P2 (ASCII gray) with maxval 4; P5 with 16-bit big-endian samples (maxval 1000) */
    static const char p2[] = "P2 3 1 4\n0 2 # two\n 4\n";
    path = write_file("b.pgm", p2, sizeof p2 - 1);
    assert_true(image_load(path, &img, err, sizeof err));
    assert_int_equal(img.c, 1);
    assert_true(img.px[0] == 0 && img.px[1] == 0.5f && img.px[2] == 1);
    image_free(&img);
    unlink(path);
    static const char p5[] = "P5 2 1 1000\n\x01\xf4\x03\xe8"; /* 500, 1000 */
    path = write_file("c.pgm", p5, sizeof p5 - 1);
    assert_true(image_load(path, &img, err, sizeof err));
    assert_true(img.px[0] == 0.5f && img.px[1] == 1);
    image_free(&img);
    unlink(path);

    load_fails("t.ppm", "P6 2 2 255\n\x01\x02\x03", 14, "truncated (3 bytes of samples, 12 needed)");
    load_fails("m.ppm", "P6 2 2 70000\n", 13, "malformed P6 header");
    load_fails("v.pgm", "P2 2 1 3\n1 9\n", 13, "a sample above maxval");
    load_fails("x.bmp", "BM\0\0\0\0", 6, "not a PNG, JPEG, PPM (P3/P6) or PGM (P2/P5) image");
    load_fails("e.png", "", 0, "not a PNG, JPEG");
    load_fails("h.png", "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16, "corrupt or truncated PNG");
    load_fails("j.jpg", "\xff\xd8\xff\xe0\0\x10JFIF", 10, "corrupt or truncated JPEG");
    /* a header claiming 60000 × 2000 pixels in a short file: an error before any allocation
     * of that size (binary PNM: the exact count; ASCII: two bytes a sample at least) */
    load_fails("big.ppm", "P6 60000 2000 255\n\x01\x02\x03", 21, "truncated (3 bytes of samples, 360000000 needed)");
    load_fails("big.pgm", "P2 60000 2000 255\n1 2 3\n", 24, "a 60000×2000 image cannot fit in a file this size");
    Image none;
    assert_false(image_load("/nonexistent/x.png", &none, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.png: cannot open"));
}

/* PNG and JPEG headers claiming 60000 × 2000 and 2000 × 60000 pixels (w × h) in 69 and 631
 * bytes (fuzz seeds): more
 * than deflate (1032:1) or a Huffman-coded JPEG (a bit per 8 × 8 block) can hold, an error
 * before the 1.4 GB image would be allocated. */
static void test_huge_headers(void **state)
{
    (void)state;
    const char *src = getenv("VITC_SOURCE_DIR");
    if (!src || !*src)
        src = ".";
    static const char *const names[] = {"huge_header.png", "huge_header.jpg"};
    static const char *const sizes[] = {"a 60000×2000 image", "a 2000×60000 image"};
    for (int i = 0; i < 2; i++) {
        char path[4096], err[512] = "";
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/%s", src, names[i]);
        Image img;
        assert_false(image_load(path, &img, err, sizeof err));
        if (!strstr(err, sizes[i]) || !strstr(err, "cannot fit in a file this size") || !strstr(err, path))
            fail_msg("%s: %s", names[i], err);
        assert_null(img.px);
    }
}

/* A PNG decoded and normalised as `vitc run` does gives exactly the tensor timm was fed. */
static void test_png_matches_reference(void **state)
{
    (void)state;
    const char *src = getenv("VITC_SOURCE_DIR");
#ifdef VITC_SOURCE_DIR
    if (!src || !*src)
        src = VITC_SOURCE_DIR;
#endif
    if (!src)
        fail_msg("VITC_SOURCE_DIR is not set");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tests/reference/vit_test_cls_io.safetensors", src);
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    const StTensor *t = st_find(f, "image"); /* F32 [4,32,32,3] = (p/255 - 0.5)/0.5 */
    assert_non_null(t);
    const double half[] = {0.5};
    float px[32 * 32 * 3];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/tests/reference/images/img%d.png", src, i);
        Image img;
        if (!image_load(path, &img, err, sizeof err))
            fail_msg("%s", err);
        assert_true(image_prepare(&img, 32, 32, 3, 0, half, 1, half, 1, px, err, sizeof err));
        const float *want = (const float *)t->data + i * 32 * 32 * 3;
        for (int k = 0; k < 32 * 32 * 3; k++)
            if (fabsf(px[k] - want[k]) > 1e-6f)
                fail_msg("img%d sample %d: %g, want %g", i, k, px[k], want[k]);
        image_free(&img);
    }
    st_close(f);
}

static Image gray(int w, int h, const float *v)
{
    Image img = {w, h, 1, malloc(sizeof(float) * (size_t)(w * h))};
    assert_non_null(img.px);
    memcpy(img.px, v, sizeof(float) * (size_t)(w * h));
    return img;
}

static void test_resize_crop_channels(void **state)
{
    (void)state;
    float out[16];
    char err[512];
    /* 4 → 2 (shrink by 2): the triangle widened to ±2 input pixels; for output 0 (centre 1.0)
     * inputs 0, 1, 2 weigh 0.75, 0.75, 0.25 -> 3/7, 3/7, 1/7; for output 1 inputs 1, 2, 3
     * weigh 1/7, 3/7, 3/7 */
    Image a = gray(4, 1, (const float[]){0, 0.2f, 0.4f, 0.6f});
    assert_true(image_prepare(&a, 1, 2, 1, 0, NULL, 0, NULL, 0, out, err, sizeof err));
    assert_true(fabs(out[0] - 1.0 / 7) < 1e-6 && fabs(out[1] - 3.2 / 7) < 1e-6);
    free(a.px);
    /* 2 → 4 (grow): half-pixel bilinear, src = (i + 0.5)/2 - 0.5 clamped: 0, 0.25, 0.75, 1 */
    Image b = gray(2, 1, (const float[]){0, 1});
    assert_true(image_prepare(&b, 1, 4, 1, 0, NULL, 0, NULL, 0, out, err, sizeof err));
    assert_true(out[0] == 0 && fabs(out[1] - 0.25) < 1e-7 && fabs(out[2] - 0.75) < 1e-7 && out[3] == 1);
    free(b.px);
    /* resize = 2 on a 4×2 image: the shorter side is already 2, so a centre crop of 2×2 takes
     * columns 1 and 2; mean 0.5, std 0.25 (given three times for a gray model) */
    Image c = gray(4, 2, (const float[]){0, 0.25f, 0.5f, 0.75f, 1, 0.75f, 0.5f, 0.25f});
    const double mean[] = {0.5, 0.5, 0.5}, sd[] = {0.25, 0.25, 0.25};
    assert_true(image_prepare(&c, 2, 2, 1, 2, mean, 3, sd, 3, out, err, sizeof err));
    assert_true(out[0] == -1 && out[1] == 0 && out[2] == 1 && out[3] == 0);
    /* a crop bigger than the scaled image is an error */
    assert_false(image_prepare(&c, 3, 3, 1, 2, NULL, 0, NULL, 0, out, err, sizeof err));
    assert_non_null(strstr(err, "is smaller than the model's input 3×3"));
    /* mean of two different values for one channel */
    const double two[] = {0.1, 0.2};
    assert_false(image_prepare(&c, 2, 2, 1, 0, two, 2, NULL, 0, out, err, sizeof err));
    assert_non_null(strstr(err, "must have one value or one per channel (1)"));
    free(c.px);
    /* gray -> RGB replicates; RGB -> gray is 0.299 R + 0.587 G + 0.114 B */
    Image g = gray(1, 1, (const float[]){0.5f});
    assert_true(image_prepare(&g, 1, 1, 3, 0, NULL, 0, NULL, 0, out, err, sizeof err));
    assert_true(out[0] == 0.5f && out[1] == 0.5f && out[2] == 0.5f);
    free(g.px);
    Image rgb = {1, 1, 3, malloc(3 * sizeof(float))};
    assert_non_null(rgb.px);
    rgb.px[0] = 1, rgb.px[1] = 0.5f, rgb.px[2] = 0;
    const double m3[] = {0.1, 0.2, 0.3};
    assert_true(image_prepare(&rgb, 1, 1, 1, 0, NULL, 0, NULL, 0, out, err, sizeof err));
    assert_true(fabs(out[0] - (0.299 + 0.5 * 0.587)) < 1e-6);
    assert_true(image_prepare(&rgb, 1, 1, 3, 0, m3, 3, NULL, 0, out, err, sizeof err));
    assert_true(fabs(out[0] - 0.9) < 1e-6 && fabs(out[1] - 0.3) < 1e-6 && fabs(out[2] + 0.3) < 1e-6);
    free(rgb.px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pnm),
        cmocka_unit_test(test_huge_headers),
        cmocka_unit_test(test_png_matches_reference),
        cmocka_unit_test(test_resize_crop_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
