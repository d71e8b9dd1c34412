/* image.c — image files (PPM/PGM, PNG through libpng, JPEG through libjpeg) and their
 * preprocessing into model inputs; see image.h for the exact rules.
 *
 * Decoding keeps what the file says and nothing more: no colour management or gamma
 * (like PIL), PNG transparency dropped, 16-bit samples kept at full precision. libpng and
 * libjpeg report errors through longjmp; their messages are passed on with the file name.
 * A JPEG that ends early or has damaged data is an error (libjpeg would only warn and
 * fill in gray).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "cmd.h"
#include "../runtime/rt_internal.h"
#include "image.h"

/* 134 M pixels (a 100-megapixel photo fits): 1.6 GB of floats in RGB */
#define MAX_PIXELS ((int64_t)1 << 27)

/* The pixels a file of n bytes can hold at most, by format, so that a corrupt header cannot
 * make us allocate gigabytes before the data runs out: PNM stores every sample; deflate
 * expands at most 1032:1 and a PNG row holds ⌈w·bits/8⌉ + 1 bytes, bits ≥ 1 (PNG_BOUND);
 * a Huffman-coded JPEG codes every 8 × 8 block of its first component with at least one bit,
 * in sampling factors of at most 4 × 4 (JPEG_BOUND; arithmetic coding has no such floor). */
#define PNG_BOUND(n) ((int64_t)(n) * 1032 * 8)
#define JPEG_BOUND(n) ((int64_t)(n) * 8 * 64 * 16)

/* Whether a w × h image is supported and fits in max_pixels (the file's bound). */
static bool check_size(int64_t w, int64_t h, int64_t max_pixels, const char *path, char *err, size_t errlen)
{
    if (w < 1 || h < 1 || w * h > MAX_PIXELS) {
        snprintf(err, errlen, "%s: image size %lld×%lld is not supported (at most %lld pixels)", path, (long long)w,
                 (long long)h, (long long)MAX_PIXELS);
        return false;
    }
    if (w * h > max_pixels) {
        snprintf(err, errlen, "%s: corrupt or truncated: a %lld×%lld image cannot fit in a file this size", path,
                 (long long)w, (long long)h);
        return false;
    }
    return true;
}

static bool alloc_image(Image *img, int64_t w, int64_t h, int c, int64_t max_pixels, const char *path, char *err,
                        size_t errlen)
{
    if (!check_size(w, h, max_pixels, path, err, errlen))
        return false;
    img->w = (int)w;
    img->h = (int)h;
    img->c = c;
    img->px = ir_malloc((size_t)(w * h * c) * sizeof *img->px);
    if (!img->px) {
        snprintf(err, errlen, "%s: out of memory for a %lld×%lld image", path, (long long)w, (long long)h);
        return false;
    }
    return true;
}

/* bytes; when unknown, as if 2 GB (no bound) */
static int64_t file_size(FILE *fp)
{
    struct stat st;
    return fstat(fileno(fp), &st) == 0 ? (int64_t)st.st_size : INT32_MAX;
}

void image_free(Image *img)
{
    ir_free(img->px);
    img->px = NULL;
}

/* ---- PPM / PGM ---- */

/* The next header number, skipping whitespace and # comments; -1 when malformed. */
static long pnm_number(const unsigned char *s, size_t n, size_t *pos)
{
    for (;;) {
        while (*pos < n && strchr(" \t\r\n\v\f", s[*pos]) && s[*pos])
            (*pos)++;
        if (*pos < n && s[*pos] == '#') {
            while (*pos < n && s[*pos] != '\n')
                (*pos)++;
            continue;
        }
        break;
    }
    if (*pos >= n || s[*pos] < '0' || s[*pos] > '9')
        return -1;
    long v = 0;
    while (*pos < n && s[*pos] >= '0' && s[*pos] <= '9') {
        v = v * 10 + (s[(*pos)++] - '0');
        if (v > 1000000000)
            return -1;
    }
    return v;
}

static bool load_pnm(const char *path, const unsigned char *s, size_t n, Image *img, char *err, size_t errlen)
{
    char kind = (char)s[1];
    int c = kind == '3' || kind == '6' ? 3 : 1;
    bool ascii = kind == '2' || kind == '3';
    size_t pos = 2;
    long w = pnm_number(s, n, &pos), h = pnm_number(s, n, &pos), maxval = pnm_number(s, n, &pos);
    if (w < 1 || h < 1 || maxval < 1 || maxval > 65535) {
        snprintf(err, errlen, "%s: malformed P%c header (width, height and a maxval of 1 to 65535 expected)", path,
                 kind);
        return false;
    }
    size_t count = (size_t)w * (size_t)h * (size_t)c, bytes = maxval > 255 ? 2 : 1; /* w, h ≤ 10⁹ */
    if (!ascii) { /* the samples: exactly one whitespace byte after the header, then all of them */
        if (pos >= n || !strchr(" \t\r\n\v\f", s[pos]) || !s[pos]) {
            snprintf(err, errlen, "%s: malformed P%c header", path, kind);
            return false;
        }
        pos++;
        if ((n - pos) / bytes < count) {
            snprintf(err, errlen, "%s: truncated (%zu bytes of samples, %zu needed)", path, n - pos, count * bytes);
            return false;
        }
    }
    /* ASCII: at least a digit and a separator per sample */
    if (!alloc_image(img, w, h, c, ascii ? ((int64_t)(n - pos) + 1) / (2 * c) : MAX_PIXELS, path, err, errlen))
        return false;
    if (ascii) {
        for (size_t i = 0; i < count; i++) {
            long v = pnm_number(s, n, &pos);
            if (v < 0 || v > maxval) {
                snprintf(err, errlen, "%s: %s at sample %zu of %zu", path,
                         v < 0 ? "truncated or malformed data" : "a sample above maxval", i, count);
                image_free(img);
                return false;
            }
            img->px[i] = (float)v / (float)maxval;
        }
        return true;
    }
    for (size_t i = 0; i < count; i++) {
        unsigned v = bytes == 2 ? (unsigned)s[pos + 2 * i] << 8 | s[pos + 2 * i + 1] : s[pos + i];
        if (v > (unsigned)maxval) {
            snprintf(err, errlen, "%s: sample %zu is %u, above maxval %ld", path, i, v, maxval);
            image_free(img);
            return false;
        }
        img->px[i] = (float)v / (float)maxval;
    }
    return true;
}

/* ---- PNG ---- */

typedef struct {
    jmp_buf jb;
    char msg[256];
} PngErr;

static void png_error_fn(png_structp png, png_const_charp msg)
{
    PngErr *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* benign (e.g. profile notes); real damage comes as an error */
}

static bool load_png(const char *path, FILE *fp, Image *img, char *err, size_t errlen)
{
    PngErr e = {.msg = ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        snprintf(err, errlen, "%s: out of memory", path);
        return false;
    }
    if (setjmp(e.jb)) {
        snprintf(err, errlen, "%s: corrupt or truncated PNG: %s", path, e.msg);
        png_destroy_read_struct(&png, &info, NULL);
        ir_free(buf);
        ir_free(rows);
        image_free(img);
        return false;
    }
    png_init_io(png, fp);
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (type & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    depth = png_get_bit_depth(png, info);
    if ((c != 1 && c != 3) || (depth != 8 && depth != 16))
        png_error(png, "unsupported pixel format");
    if (!alloc_image(img, w, h, c, PNG_BOUND(file_size(fp)), path, err, errlen)) {
        png_destroy_read_struct(&png, &info, NULL);
        return false;
    }
    size_t rowbytes = png_get_rowbytes(png, info);
    buf = ir_malloc(rowbytes * h);
    rows = ir_malloc(h * sizeof *rows);
    if (!buf || !rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = buf + y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    size_t count = (size_t)w * h * (size_t)c;
    for (size_t i = 0; i < count; i++)
        img->px[i] = depth == 16 ? (float)(buf[2 * i] << 8 | buf[2 * i + 1]) / 65535.0f : (float)buf[i] / 255.0f;
    png_destroy_read_struct(&png, &info, NULL);
    ir_free(buf);
    ir_free(rows);
    return true;
}

/* ---- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} JpegErr;

static void jpeg_error_exit_fn(j_common_ptr cinfo)
{
    JpegErr *e = (JpegErr *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_emit_fn(j_common_ptr cinfo, int level)
{
    /* Damaged or missing data is an error (libjpeg would fill in gray and go on; damage
     * usually shows as bytes skipped before the next marker); notes on versions or colour
     * transforms are not. */
    switch (level < 0 ? cinfo->err->msg_code : -1) {
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        jpeg_error_exit_fn(cinfo);
        break;
    default:
        break;
    }
}

static bool load_jpeg(const char *path, FILE *fp, Image *img, char *err, size_t errlen)
{
    struct jpeg_decompress_struct cinfo;
    JpegErr e;
    unsigned char *volatile row = NULL;
    cinfo.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_error_exit_fn;
    e.pub.emit_message = jpeg_emit_fn;
    if (setjmp(e.jb)) {
        snprintf(err, errlen, "%s: corrupt or truncated JPEG: %s", path, e.msg);
        jpeg_destroy_decompress(&cinfo);
        ir_free(row);
        image_free(img);
        return false;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, fp);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(err, errlen, "%s: CMYK JPEG images are not supported (convert to RGB)", path);
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    /* before jpeg_start_decompress, which allocates a progressive image's coefficients */
    if (!check_size(cinfo.image_width, cinfo.image_height, cinfo.arith_code ? MAX_PIXELS : JPEG_BOUND(file_size(fp)),
                    path, err, errlen)) {
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    jpeg_start_decompress(&cinfo);
    int c = cinfo.output_components;
    if (!alloc_image(img, cinfo.output_width, cinfo.output_height, c, MAX_PIXELS, path, err, errlen)) {
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    size_t stride = (size_t)cinfo.output_width * (size_t)c;
    row = ir_malloc(stride);
    if (!row) {
        snprintf(e.msg, sizeof e.msg, "out of memory");
        longjmp(e.jb, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW r = row;
        jpeg_read_scanlines(&cinfo, &r, 1);
        for (size_t i = 0; i < stride; i++)
            img->px[y * stride + i] = (float)row[i] / 255.0f;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    ir_free(row);
    return true;
}

bool image_load(const char *path, Image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, fp);
    bool ok = false;
    if (got >= 8 && png_sig_cmp(magic, 0, 8) == 0) {
        rewind(fp);
        ok = load_png(path, fp, out, err, errlen);
    } else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
        rewind(fp);
        ok = load_jpeg(path, fp, out, err, errlen);
    } else if (got >= 2 && magic[0] == 'P' && strchr("2356", magic[1]) && magic[1]) {
        fclose(fp);
        fp = NULL;
        size_t n;
        unsigned char *s = (unsigned char *)tool_read_file(path, &n);
        if (!s)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        else
            ok = load_pnm(path, s, n, out, err, errlen);
        ir_free(s);
    } else {
        snprintf(err, errlen, "%s: not a PNG, JPEG, PPM (P3/P6) or PGM (P2/P5) image", path);
    }
    if (fp)
        fclose(fp);
    return ok;
}

/* ---- preprocessing ---- */

/* PIL's BILINEAR coefficients for output samples [off, off + n) of a resampling from `in` to
 * `scaled` samples: per output sample a window start, length and normalised weights. */
/* A per-channel list must have 1 or c entries; more that are all equal count as one
 * (a gray model whose preprocess was written with three equal values). */
static bool uniform_list(const double *v, int *n, int c)
{
    if (*n == 0 || *n == 1 || *n == c)
        return true;
    for (int i = 1; i < *n; i++)
        if (v[i] != v[0])
            return false;
    *n = 1;
    return true;
}

bool image_prepare(const Image *img, int out_h, int out_w, int out_c, int resize, const double *mean, int nmean,
                   const double *std, int nstd, float *dst, char *err, size_t errlen)
{
    if (!uniform_list(mean, &nmean, out_c) || !uniform_list(std, &nstd, out_c)) {
        snprintf(err, errlen, "the model's mean and std must have one value or one per channel (%d)", out_c);
        return false;
    }
    for (int c = 0; c < nstd; c++)
        if (!(std[c] != 0)) {
            snprintf(err, errlen, "the model's std has a zero");
            return false;
        }
    int sh = out_h, sw = out_w, oy = 0, ox = 0; /* the scaled size and the crop offset */
    if (resize > 0) {
        bool wide = img->w >= img->h;
        int shortside = wide ? img->h : img->w, longside = wide ? img->w : img->h;
        int scaled_long = (int)((double)resize * longside / shortside);
        sh = wide ? resize : scaled_long;
        sw = wide ? scaled_long : resize;
        if (sh < out_h || sw < out_w) {
            snprintf(err, errlen,
                     "the image scaled to %d×%d (shorter side %d) is smaller than the model's input %d×%d", sw, sh,
                     resize, out_w, out_h);
            return false;
        }
        oy = (int)nearbyint((sh - out_h) / 2.0);
        ox = (int)nearbyint((sw - out_w) / 2.0);
    }
    /* channels first, at the source size; then resampled and cropped, and normalised */
    size_t npx = (size_t)img->w * img->h;
    float *src = ir_malloc(npx * (size_t)out_c * sizeof *src);
    bool ok = src != NULL;
    if (ok) {
        for (size_t p = 0; p < npx; p++) {
            const float *s = img->px + p * img->c;
            for (int c = 0; c < out_c; c++)
                src[p * out_c + c] = img->c == out_c ? s[c]
                                     : img->c == 1   ? s[0]
                                                     : (float)(0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2]);
        }
        ok = rt_resize_crop(src, img->h, img->w, out_c, sh, sw, oy, ox, dst, out_h, out_w) == 0;
    }
    if (!ok)
        snprintf(err, errlen, "out of memory");
    else
        for (size_t p = 0; p < (size_t)out_h * out_w; p++)
            for (int c = 0; c < out_c; c++) {
                double m = nmean ? mean[nmean == 1 ? 0 : c] : 0, s = nstd ? std[nstd == 1 ? 0 : c] : 1;
                dst[p * out_c + c] = (float)((dst[p * out_c + c] - m) / s);
            }
    ir_free(src);
    return ok;
}
