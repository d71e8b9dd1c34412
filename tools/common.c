/* common.c — what the subcommands share: reading files and models, option parsing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

char *tool_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = ir_malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *nb = cap > (size_t)1 << 40 ? NULL : ir_realloc(buf, cap * 2 + 1);
        if (!nb) {
            ir_free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        ir_free(buf);
        buf = NULL;
        errno = EIO;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = n;
    }
    return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

Graph *tool_load_model(const char *path, const FrontendOptions *fo, Diag *d)
{
    if (ends_with(path, ".vit"))
        return fe_compile_file(path, fo, d);
    size_t len;
    char *text = tool_read_file(path, &len);
    if (!text) {
        diag_error(d, (Loc){path, 0, 0}, "cannot read file: %s", strerror(errno));
        return NULL;
    }
    if (memchr(text, 0, len)) {
        diag_error(d, (Loc){path, 0, 0}, "not a text file (it contains NUL bytes)");
        ir_free(text);
        return NULL;
    }
    diag_add_source(d, path, text, len);
    Graph *g = ir_parse(text, len, path, d);
    ir_free(text);
    return g;
}

bool tool_opt(int argc, char **argv, int *i, const char *name, const char **value, bool *bad)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != 0)
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "vitc: error: option '%s' needs a value\n", name);
        *bad = true;
        *value = NULL;
        return true;
    }
    *value = argv[++*i];
    return true;
}
