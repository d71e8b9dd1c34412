/* diag.c — caret diagnostics that accumulate (chibicc, cproc). */
#include <stdarg.h>
#include <string.h>

#include "diag.h"

typedef struct {
    char *file;
    char *text;
    size_t len;
} Source;

struct Diag {
    FILE *out;
    Source *sources;
    int nsources;
    int errors;
    int max_errors;
    bool silenced; /* a diagnostic was dropped: notes that follow it are dropped too */
};

Diag *diag_new(FILE *out)
{
    Diag *d = ir_calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->out = out ? out : stderr;
    d->max_errors = 20;
    return d;
}

void diag_free(Diag *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->nsources; i++) {
        ir_free(d->sources[i].file);
        ir_free(d->sources[i].text);
    }
    ir_free(d->sources);
    ir_free(d);
}

void diag_add_source(Diag *d, const char *file, const char *text, size_t len)
{
    Source *s = ir_realloc(d->sources, (size_t)(d->nsources + 1) * sizeof *s);
    if (!s)
        return; /* lines just won't be shown */
    d->sources = s;
    char *f = ir_strdup(file), *t = ir_malloc(len + 1);
    if (!f || !t) {
        ir_free(f);
        ir_free(t);
        return;
    }
    memcpy(t, text, len);
    t[len] = 0;
    d->sources[d->nsources++] = (Source){f, t, len};
}

static const Source *find_source(const Diag *d, const char *file)
{
    for (int i = d->nsources - 1; i >= 0; i--)
        if (strcmp(d->sources[i].file, file) == 0)
            return &d->sources[i];
    return NULL;
}

/* Prints line `line` of s and a caret under column `col` (1-based; tabs kept). */
static void show_line(FILE *out, const Source *s, int line, int col)
{
    const char *p = s->text, *end = s->text + s->len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    if (p > end || (p == end && line > 1 && p[-1] == '\n'))
        return;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    int width = (int)(eol - p);
    if (width > 0 && p[width - 1] == '\r')
        width--;
    fprintf(out, "%5d | %.*s\n      | ", line, width, p);
    for (int i = 1; i < col && i <= width; i++)
        fputc(p[i - 1] == '\t' ? '\t' : ' ', out);
    fputs("^\n", out);
}

void diag_vreport(Diag *d, DiagKind kind, Loc loc, const char *fmt, va_list ap)
{
    static const char *const kinds[] = {"error", "warning", "note"};
    if (kind == DIAG_ERROR) {
        d->errors++;
        if (d->errors > d->max_errors) {
            if (d->errors == d->max_errors + 1)
                fprintf(d->out, "fatal error: too many errors emitted, stopping now\n");
            d->silenced = true;
            return;
        }
        d->silenced = false;
    } else if (kind == DIAG_NOTE && d->silenced) {
        return;
    }
    if (loc.file && loc.line > 0)
        fprintf(d->out, "%s:%d:%d: ", loc.file, loc.line, loc.col);
    else if (loc.file)
        fprintf(d->out, "%s: ", loc.file);
    fprintf(d->out, "%s: ", kinds[kind]);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    const Source *s = loc.file && loc.line > 0 ? find_source(d, loc.file) : NULL;
    if (s)
        show_line(d->out, s, loc.line, loc.col);
}

void diag_report(Diag *d, DiagKind kind, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, kind, loc, fmt, ap);
    va_end(ap);
}

#define DIAG_FN(fn, kind)                                                                  \
    void fn(Diag *d, Loc loc, const char *fmt, ...)                                         \
    {                                                                                      \
        va_list ap;                                                                        \
        va_start(ap, fmt);                                                                 \
        diag_vreport(d, kind, loc, fmt, ap);                                               \
        va_end(ap);                                                                        \
    }
DIAG_FN(diag_error, DIAG_ERROR)
DIAG_FN(diag_warning, DIAG_WARNING)
DIAG_FN(diag_note, DIAG_NOTE)

int diag_error_count(const Diag *d) { return d->errors; }
bool diag_too_many(const Diag *d) { return d->errors > d->max_errors; }
