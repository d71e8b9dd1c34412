/* so_harness.h — what the tests that build and load shared objects share: running a
 * shell command, compiling a model with the vitc under test (VITC_BIN), and loading the
 * vitrt.h ABI of a .so with dlopen. Only vitrt.h and libc: test_abi.c, which sees a model
 * the way its users do, uses it too. Failures are cmocka failures of the calling test. */
#ifndef VITC_TESTS_SO_HARNESS_H
#define VITC_TESTS_SO_HARNESS_H

#include <stddef.h>

#include "vitrt.h"

/* The ABI of one loaded .so. */
typedef struct {
    vit_model *(*open)(const char *, char *, size_t);
    int (*info)(const vit_model *, struct vit_info *);
    int (*run)(vit_model *, const vit_image *, int, float *, char *, size_t);
    void (*set_threads)(vit_model *, int);
    int (*set_option)(vit_model *, const char *, int);
    void (*close)(vit_model *);
    void *handle;
} SoApi;

/* The source root: $VITC_SOURCE_DIR, else the one the test was built from. */
const char *so_source_dir(void);

/* Runs a shell command; its exit status (128 when it did not exit normally). */
int so_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Compiles models/MODEL.vit of the source root into OUT with extra vitc flags; fails the
 * test on a non-zero exit. */
void so_compile(const char *model, const char *out, const char *flags);

/* dlopen()s the .so at PATH and finds every vit_* function; fails the test otherwise. */
void so_load(SoApi *api, const char *path);

/* max |a[i] - b[i]|; NaN anywhere gives +inf. */
double so_max_diff(const float *a, const float *b, size_t n);

#endif
