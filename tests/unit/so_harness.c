/* so_harness.c — see so_harness.h. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "so_harness.h"

const char *so_source_dir(void)
{
    const char *s = getenv("VITC_SOURCE_DIR");
    return s && *s ? s : VITC_SOURCE_DIR;
}

int so_sh(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof cmd)
        fail_msg("command too long: %.200s...", cmd);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void so_compile(const char *model, const char *out, const char *flags)
{
    int rc = so_sh("'%s' compile '%s/models/%s.vit' -o '%s' %s", VITC_BIN, so_source_dir(), model, out, flags);
    if (rc != 0)
        fail_msg("vitc compile %s %s: exit status %d", model, flags, rc);
}

void so_load(SoApi *api, const char *path)
{
    api->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!api->handle)
        fail_msg("dlopen %s: %s", path, dlerror());
    *(void **)&api->open = dlsym(api->handle, "vit_open");
    *(void **)&api->info = dlsym(api->handle, "vit_info");
    *(void **)&api->run = dlsym(api->handle, "vit_run");
    *(void **)&api->set_threads = dlsym(api->handle, "vit_set_threads");
    *(void **)&api->set_option = dlsym(api->handle, "vit_set_option");
    *(void **)&api->close = dlsym(api->handle, "vit_close");
    if (!api->open || !api->info || !api->run || !api->set_threads || !api->set_option || !api->close)
        fail_msg("%s does not export every vit_* function of vitrt.h", path);
}

double so_max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d))
            return INFINITY;
        if (d > m)
            m = d;
    }
    return m;
}
