/* common.c — what the subcommands share: reading files and models, option parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../passes/passes.h"
#include "cmd.h"

char *tool_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st; /* a directory opens, then fails its first read with EISDIR, reported as EIO */
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
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

bool tool_same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
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

bool tool_int_arg(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long k = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || k < lo || k > hi) {
        fprintf(stderr, "vitc: %s: error: %s needs an integer from %d to %d, got '%s'\n", cmd, opt, lo, hi,
                v ? v : "");
        return false;
    }
    *out = (int)k;
    return true;
}

bool tool_seed_arg(const char *cmd, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long k = v && *v && *v != '-' ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *v == '-' || errno || *end) {
        fprintf(stderr, "vitc: %s: error: --seed needs a non-negative integer, got '%s'\n", cmd, v ? v : "");
        return false;
    }
    *out = (uint64_t)k;
    return true;
}

int tool_bad_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vitc %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see `vitc %s --help`)\n", cmd);
    va_end(ap);
    return 2;
}

int tool_model_arg(const char *cmd, ToolModelArgs *m, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *v = NULL;
    bool bad = false;
    if (strncmp(arg, "-O", 2) == 0) {
        if (strlen(arg) != 3 || arg[2] < '0' || arg[2] > '3')
            return tool_bad_usage(cmd, "unknown optimisation level '%s' (use -O0, -O1, -O2 or -O3)", arg);
        m->opt_level = arg[2] - '0';
    } else if (tool_opt(argc, argv, i, "--passes", &v, &bad)) {
        if (bad)
            return 2; /* tool_opt said so */
        m->passes = v;
    } else if (strncmp(arg, "-I", 2) == 0 || strncmp(arg, "-o", 2) == 0) {
        v = arg[2] ? arg + 2 : *i + 1 < argc ? argv[++*i] : NULL;
        if (!v)
            return tool_bad_usage(cmd, "option '%s' needs a value", arg);
        if (arg[1] == 'o') {
            m->output = v;
        } else {
            if (m->nincludes == TOOL_MAX_INCLUDES)
                return tool_bad_usage(cmd, "too many -I options at '%s'", v);
            m->includes[m->nincludes++] = v;
        }
    } else if (arg[0] == '-' && arg[1] != 0) {
        return 0;
    } else if (m->file) {
        return tool_bad_usage(cmd, "more than one input file ('%s')", arg);
    } else {
        m->file = arg;
    }
    return 1;
}

int tool_model_check(const char *cmd, const ToolModelArgs *m)
{
    IrError err;
    if (!m->file)
        return tool_bad_usage(cmd, "no input file");
    if (m->passes && m->opt_level >= 0)
        return tool_bad_usage(cmd, "--passes and -O%d cannot be combined", m->opt_level);
    if (m->passes && !pass_check_pipeline(m->passes, &err))
        return tool_bad_usage(cmd, "--passes: %s", err.msg);
    return 0;
}

FrontendOptions tool_frontend(ToolModelArgs *m)
{
    m->includes[m->nincludes] = VITC_MODELS_DIR;
    return (FrontendOptions){m->includes, m->nincludes + 1};
}
