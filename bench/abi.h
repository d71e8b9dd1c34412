/* abi.h — what the C harnesses of bench/ that drive a compiled model share: its vitrt.h ABI
 * found in a .so by dlopen, one vit_run call to time, and the process's memory as
 * /proc/self/status reports it. */
#ifndef BENCH_ABI_H
#define BENCH_ABI_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vitrt.h"

typedef struct {
    vit_model *(*open)(const char *, char *, size_t);
    int (*info)(const vit_model *, struct vit_info *);
    int (*run)(vit_model *, const vit_image *, int, float *, char *, size_t);
    void (*set_threads)(vit_model *, int);
    void (*close)(vit_model *);
    void *handle; /* dlclose it */
} Abi;

/* dlopen()s SO and finds every function of the ABI: 0, or -1 with a message on stderr
 * prefixed by `who`. */
static int abi_load(Abi *abi, const char *so, const char *who)
{
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "%s: %s\n", who, dlerror());
        return -1;
    }
    abi->handle = h;
    *(void **)&abi->open = dlsym(h, "vit_open");
    *(void **)&abi->info = dlsym(h, "vit_info");
    *(void **)&abi->run = dlsym(h, "vit_run");
    *(void **)&abi->set_threads = dlsym(h, "vit_set_threads");
    *(void **)&abi->close = dlsym(h, "vit_close");
    if (!abi->open || !abi->info || !abi->run || !abi->set_threads || !abi->close) {
        fprintf(stderr, "%s: %s does not export the vitrt.h ABI\n", who, so);
        return -1;
    }
    return 0;
}

/* One vit_run with its arguments, as timing.h's time_calls calls it (abi_run). */
typedef struct {
    const Abi *abi;
    vit_model *m;
    const vit_image *images;
    int n;
    float *out;
    char err[1024];
} AbiRun;

static int abi_run(void *arg)
{
    AbiRun *r = arg;
    return r->abi->run(r->m, r->images, r->n, r->out, r->err, sizeof r->err);
}

/* A "Key: N kB" line of /proc/self/status (VmHWM, RssAnon, ...) in KiB; -1 if absent. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

#endif
