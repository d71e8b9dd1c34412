/* passes.c — the table of passes, the default pipelines and the pass manager.
 *
 * A pipeline is a comma-separated list of pass names ("canonicalize, cse,dce"; blanks
 * around names are ignored, "" runs nothing). The whole pipeline is checked before any
 * pass runs. After each pass the verifier runs (unless no_verify); a graph it rejects is
 * an internal compiler error naming the pass, as is a bug a pass reports itself with
 * PASS_ICE. Unknown or empty names are user errors.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "passes.h"

/* The passes, with their stable names; no self-registration. */
const PassInfo pass_table[] = {
    {"canonicalize", pass_canonicalize,
     "local rewrites to a fixed point: identities, constant folding, canonical operand order"},
    {"cse", pass_cse, "merges nodes computing the same value (same op, attributes and operands)"},
    {"dce", pass_dce, "removes nodes whose results are unused (inputs are kept)"},
    {"moe-dispatch-lowering", pass_moe_lower,
     "moe becomes routing, dispatch, expert MLPs batched over the experts and combine"},
    {"attention-fusion", pass_fuse_attention,
     "softmax(scale * q @ kT [+ mask]) @ v in any spelling becomes one attention op"},
    {"packing-mask-elimination", pass_packing_mask_elim,
     "attention and pooling masked by NaViT segment ids become segment-aware (no T x T mask)"},
};
const int pass_count = (int)(sizeof pass_table / sizeof pass_table[0]);

/* The default pipeline of each -O level, in one place. */
static const char *const default_pipelines[] = {
    "moe-dispatch-lowering",  /* -O0: only what every plan needs (no kernel runs a moe op) */
    "moe-dispatch-lowering,canonicalize,attention-fusion,packing-mask-elimination,cse,dce",   /* -O1 */
    "moe-dispatch-lowering,canonicalize,attention-fusion,packing-mask-elimination,cse,dce",   /* -O2 */
    "moe-dispatch-lowering,canonicalize,attention-fusion,packing-mask-elimination,cse,dce",   /* -O3 */
};

static const char ICE_PREFIX[] = "internal compiler error: ";

const PassInfo *pass_find(const char *name, size_t len)
{
    for (int i = 0; i < pass_count; i++)
        if (strlen(pass_table[i].name) == len && memcmp(pass_table[i].name, name, len) == 0)
            return &pass_table[i];
    return NULL;
}

const char *pass_default_pipeline(int opt_level)
{
    int n = (int)(sizeof default_pipelines / sizeof default_pipelines[0]);
    if (opt_level < 0)
        opt_level = 0;
    if (opt_level >= n)
        opt_level = n - 1;
    return default_pipelines[opt_level];
}

void pass_list(FILE *out)
{
    for (int i = 0; i < pass_count; i++)
        fprintf(out, "  %-16s %s\n", pass_table[i].name, pass_table[i].help);
}

bool pass_error_is_internal(const IrError *err)
{
    return strncmp(err->msg, ICE_PREFIX, sizeof ICE_PREFIX - 1) == 0;
}

/* ---- comma lists ---- */

typedef struct {
    const char *cur; /* the rest of the list; NULL at its end */
} ListIter;

static ListIter list_begin(const char *s)
{
    const char *p = s;
    while (p && isspace((unsigned char)*p))
        p++;
    return (ListIter){p && *p ? s : NULL};
}

/* The next entry of the list without surrounding blanks; false at the end. */
static bool list_next(ListIter *it, const char **name, size_t *len)
{
    const char *s = it->cur;
    if (!s)
        return false;
    const char *comma = strchr(s, ',');
    const char *e = comma ? comma : s + strlen(s);
    it->cur = comma ? comma + 1 : NULL;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *name = s;
    *len = (size_t)(e - s);
    return true;
}

static bool set_err(IrError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool set_err(IrError *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* Checks every entry of a list of pass names; `what` names the list in messages. */
static bool check_list(const char *list, const char *what, int *count, IrError *err)
{
    ListIter it = list_begin(list);
    const char *name;
    size_t len;
    int n = 0;
    while (list_next(&it, &name, &len)) {
        if (len == 0)
            return set_err(err, "%s '%s' has an empty pass name", what, list);
        if (!pass_find(name, len)) {
            char known[256] = "";
            size_t k = 0;
            for (int i = 0; i < pass_count && k < sizeof known; i++)
                k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "", pass_table[i].name);
            return set_err(err, "unknown pass '%.*s' in %s; the passes are: %s", (int)(len > 64 ? 64 : len),
                           name, what, known);
        }
        n++;
    }
    if (count)
        *count = n;
    return true;
}

bool pass_check_pipeline(const char *pipeline, IrError *err)
{
    return check_list(pipeline, "the pipeline", NULL, err);
}

static bool list_has(const char *list, const char *pass)
{
    ListIter it = list_begin(list);
    const char *name;
    size_t len;
    while (list_next(&it, &name, &len))
        if (strlen(pass) == len && memcmp(pass, name, len) == 0)
            return true;
    return false;
}

/* ---- running passes ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The tail of a __FILE__ from "passes/" on, so messages do not depend on the build tree. */
static const char *short_file(const char *file)
{
    const char *best = NULL;
    for (const char *p = strstr(file, "passes/"); p; p = strstr(p + 1, "passes/"))
        best = p;
    if (best)
        return best;
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

void pass_ice(const PassOptions *o, const char *file, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o && o->ice) {
        if (!o->ice->msg[0]) /* the first report is the one that matters */
            snprintf(o->ice->msg, sizeof o->ice->msg, "%s:%d: %s", short_file(file), line, msg);
        return;
    }
    fprintf(o && o->log ? o->log : stderr, "%s%s:%d: %s\n", ICE_PREFIX, short_file(file), line, msg);
}

/* Runs one pass and the verifier; the times go to *pass_ms and *verify_ms. */
static bool run_timed(Graph *g, const PassInfo *p, const PassOptions *o, bool *changed, double *pass_ms,
                      double *verify_ms, IrError *err)
{
    PassOptions local = {0};
    IrError ice = {{0}};
    if (o)
        local = *o;
    local.ice = &ice;

    double t0 = now_ms();
    bool ch = p->run(g, &local);
    double t1 = now_ms();
    if (changed)
        *changed = ch;
    if (pass_ms)
        *pass_ms = t1 - t0;
    if (ice.msg[0])
        return set_err(err, "%sin pass '%s' at %s", ICE_PREFIX, p->name, ice.msg);
    if (!local.no_verify) {
        IrError verr = {{0}};
        bool ok = ir_verify(g, &verr);
        if (verify_ms)
            *verify_ms = now_ms() - t1;
        if (!ok)
            return set_err(err, "%sthe graph is invalid after pass '%s': %s", ICE_PREFIX, p->name, verr.msg);
    }
    return true;
}

bool pass_run(Graph *g, const PassInfo *p, const PassOptions *o, bool *changed, IrError *err)
{
    return run_timed(g, p, o, changed, NULL, NULL, err);
}

typedef struct {
    const PassInfo *pass;
    double ms;
    bool changed;
} Timing;

static void print_timings(FILE *out, const Timing *t, int n, double verify_ms)
{
    double total = verify_ms;
    for (int i = 0; i < n; i++)
        total += t[i].ms;
    double scale = total > 0 ? 100.0 / total : 0;
    const char *rule = "-------------------- ---------- ------- -------\n";
    fprintf(out, "%-20s %10s %7s %7s\n", "pass", "wall ms", "%", "changed");
    fputs(rule, out);
    for (int i = 0; i < n; i++)
        fprintf(out, "%-20s %10.3f %6.1f%% %7s\n", t[i].pass->name, t[i].ms, t[i].ms * scale,
                t[i].changed ? "yes" : "no");
    if (verify_ms > 0)
        fprintf(out, "%-20s %10.3f %6.1f%%\n", "(verifier)", verify_ms, verify_ms * scale);
    fputs(rule, out);
    fprintf(out, "%-20s %10.3f %6.1f%%\n", "total", total, total > 0 ? 100.0 : 0.0);
}

bool pass_run_pipeline(Graph *g, const char *pipeline, const PassOptions *o, IrError *err)
{
    PassOptions opts = {0};
    int count = 0;
    if (o)
        opts = *o;
    if (!pipeline)
        pipeline = "";
    if (!check_list(pipeline, "the pipeline", &count, err))
        return false;
    if (opts.print_after && !check_list(opts.print_after, "--print-after", NULL, err))
        return false;
    if (!opts.no_verify) {
        IrError verr = {{0}};
        if (!ir_verify(g, &verr))
            return set_err(err, "%sthe graph is invalid before the first pass: %s", ICE_PREFIX, verr.msg);
    }
    FILE *dump = opts.dump ? opts.dump : stdout;
    FILE *log = opts.log ? opts.log : stderr;
    Timing *times = NULL;
    if (opts.time_passes && count > 0 && !(times = ir_calloc((size_t)count, sizeof *times)))
        return set_err(err, "out of memory");

    ListIter it = list_begin(pipeline);
    const char *name;
    size_t len;
    double verify_ms = 0;
    bool ok = true;
    for (int i = 0; list_next(&it, &name, &len); i++) {
        const PassInfo *p = pass_find(name, len);
        bool changed = false;
        double pass_ms = 0, vms = 0;
        ok = run_timed(g, p, &opts, &changed, &pass_ms, &vms, err);
        verify_ms += vms;
        if (times)
            times[i] = (Timing){p, pass_ms, changed};
        if (!ok)
            break;
        if (opts.print_after_all || (opts.print_after && list_has(opts.print_after, p->name))) {
            fprintf(dump, "# -----// IR after %s //-----\n", p->name);
            ir_print(g, dump);
            fflush(dump);
        }
    }
    if (times && ok)
        print_timings(log, times, count, verify_ms);
    ir_free(times);
    return ok;
}
