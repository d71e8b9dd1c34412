/* cmd_dump.c — `vitc dump FILE`: a model's IR after a pass pipeline, as text (default),
 * Graphviz (--dot) or a cost report (--stats). An -opt style driver: any pass runs
 * alone on a hand-written .vir file.
 *
 * Exit status: 0 success, 1 errors in the input (or an internal compiler error),
 * 2 bad command-line usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../ir/plan.h"
#ifdef VITC_HAVE_LLVM
#include "../backends/llvm/llvm_backend.h"
#endif
#include "../passes/passes.h"
#include "cmd.h"

enum { MAX_BINDS = 64 };

typedef struct {
    ToolModelArgs m; /* the model, -o, -I, -O, --passes */
    const char *print_after;
    bool print_after_all, time_passes, stats, dot, kernels;
    const char *binds[MAX_BINDS];
    int nbinds;
} DumpArgs;

static void usage(FILE *out)
{
    fputs("usage: vitc dump [options] FILE\n"
          "\n"
          "Prints the Graph IR of a model (.vit, or .vir text) after an optional pass pipeline.\n"
          "\n"
          "options:\n"
          "  --passes=P1,P2,...  run these passes in order (default: none)\n"
          "  -O0 .. -O3          run the default pipeline of that optimisation level\n"
          "  --print-after=P,..  print the IR after each run of the named passes (without -O or\n"
          "                      --passes, one that -O0 does not run selects -O2's pipeline),\n"
          "                      each under a '# -----// IR after P //-----' line, then the\n"
          "                      final output as usual (as LLVM's opt does)\n"
          "  --print-after-all   print the IR after every pass (then the final output)\n"
          "  --time-passes       print the time each pass took (on stderr)\n"
          "  --stats             print parameters, FLOPs, activation memory and node counts\n"
          "                      instead of the IR\n"
          "  --bind SYM=N        the value of a symbol for --stats (repeatable; default 1)\n"
          "  --dot               print Graphviz instead of the IR (`| dot -Tsvg > g.svg`)\n"
          "  --kernels           print the kernel plan (kernels, buffers, live ranges) instead\n"
          "                      of the IR\n"
          "  -I DIR              search DIR for `import`ed .vit files (repeatable)\n"
          "  -o FILE             write to FILE instead of stdout\n"
          "  --list-passes       list the passes and exit\n"
          "  --help              show this help and exit\n",
          out);
}

/* Parses argv into a; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, DumpArgs *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        bool bad = false;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--list-passes") == 0) {
            pass_list(stdout);
            return 0;
        } else if (strcmp(arg, "--print-after-all") == 0) {
            a->print_after_all = true;
        } else if (strcmp(arg, "--time-passes") == 0) {
            a->time_passes = true;
        } else if (strcmp(arg, "--stats") == 0) {
            a->stats = true;
        } else if (strcmp(arg, "--dot") == 0) {
            a->dot = true;
        } else if (strcmp(arg, "--kernels") == 0) {
            a->kernels = true;
        } else if (tool_opt(argc, argv, &i, "--print-after", &v, &bad)) {
            if (bad)
                return 2;
            a->print_after = v;
        } else if (tool_opt(argc, argv, &i, "--bind", &v, &bad)) {
            if (bad)
                return 2;
            if (a->nbinds == MAX_BINDS)
                return tool_bad_usage("dump", "too many --bind options at '%s'", v);
            a->binds[a->nbinds++] = v;
        } else {
            int r = tool_model_arg("dump", &a->m, argc, argv, &i);
            if (r != 1)
                return r ? r : tool_bad_usage("dump", "unknown option '%s'", arg);
        }
    }
    if (tool_model_check("dump", &a->m))
        return 2;
    if (a->stats && a->dot)
        return tool_bad_usage("dump", "--stats and --dot cannot be combined");
    if (a->kernels && (a->stats || a->dot))
        return tool_bad_usage("dump", "--kernels cannot be combined with %s", a->stats ? "--stats" : "--dot");
    IrError err;
    if (a->print_after && !pass_check_pipeline(a->print_after, &err))
        return tool_bad_usage("dump", "--print-after: %s", err.msg);
    return -1;
}

/* Binds the symbols of g from `SYM=N` options (every other symbol 1); -1 to go on, else
 * the exit status. */
static int bind_symbols(const Graph *g, const DumpArgs *a, int64_t *bind)
{
    for (int32_t s = 0; s < g->nsyms; s++)
        bind[s] = 1;
    for (int i = 0; i < a->nbinds; i++) {
        const char *b = a->binds[i], *eq = strchr(b, '=');
        char *end;
        if (!eq || eq == b)
            return tool_bad_usage("dump", "--bind '%s': expected SYM=N", b);
        int32_t s = ir_symbol_find(g, b, (size_t)(eq - b));
        if (s < 0)
            return tool_bad_usage("dump", "--bind '%s': the model has no such symbol", b);
        errno = 0;
        long long n = strtoll(eq + 1, &end, 10);
        if (errno || end == eq + 1 || *end || n < 1)
            return tool_bad_usage("dump", "--bind '%s': the value must be a positive integer", b);
        if (n > g->syms[s].max) {
            fprintf(stderr, "vitc dump: error: --bind '%s': %s is at most %" PRId64 " in this model\n", b,
                    g->syms[s].name, g->syms[s].max);
            return 2;
        }
        bind[s] = n;
    }
    return -1;
}

/* 86567656 -> "86,567,656" */
static void fmt_count(int64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRId64, v), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
        if (i > 0 && digits[i - 1] != '-' && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
}

static void fmt_bytes(int64_t b, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* FLOPs in the unit that suits `scale` (the total): "35.13 G" */
static void fmt_flops(double f, double scale, char *buf, size_t n)
{
    static const struct {
        double div;
        const char *unit;
    } units[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "K"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (scale >= units[i].div) {
            snprintf(buf, n, "%.2f %s", f / units[i].div, units[i].unit);
            return;
        }
    snprintf(buf, n, "%.0f ", f);
}

static void print_histogram(const IrStats *st, FILE *out)
{
    bool done[OP_COUNT] = {0};
    for (int printed = 0;; printed++) { /* most frequent first */
        int best = -1;
        for (int op = 0; op < OP_COUNT; op++)
            if (!done[op] && st->op_counts[op] > 0 && (best < 0 || st->op_counts[op] > st->op_counts[best]))
                best = op;
        if (best < 0)
            break;
        done[best] = true;
        fprintf(out, "%s%s %" PRId32, printed ? ", " : "", ir_ops[best].name, st->op_counts[best]);
    }
}

/* Attention ops (fused), and every attention-like pattern left (a softmax between matmuls)
 * with its location and why attention-fusion does not fuse it: never silent. */
static void print_attention(const Graph *g, const IrStats *st, FILE *out)
{
    enum { SHOWN = 64 };
    AttentionMiss *miss = ir_malloc(SHOWN * sizeof *miss);
    int n = miss ? attention_unfused(g, miss, SHOWN) : -1;
    fprintf(out, "  attention    %14" PRId32 "      fused (attention ops); ", st->op_counts[OP_ATTENTION]);
    if (n < 0)
        fputs("unfused patterns unknown (out of memory)\n", out);
    else
        fprintf(out, "%d attention-like pattern%s left unfused\n", n, n == 1 ? "" : "s");
    for (int i = 0; i < n && i < SHOWN; i++) {
        const Node *s = &g->nodes[miss[i].node];
        if (s->loc.file)
            fprintf(out, "    unfused softmax at %s:%d:%d: %s\n", s->loc.file, s->loc.line, s->loc.col, miss[i].reason);
        else
            fprintf(out, "    unfused softmax %%%d: %s\n", s->out, miss[i].reason);
    }
    if (n > SHOWN)
        fprintf(out, "    ... and %d more\n", n - SHOWN);
    ir_free(miss);
}

/* NaViT: the segment-aware ops packing-mask-elimination made, and every mask over segment
 * ids left with the reason (only for graphs with packed inputs). */
static void print_packing(const Graph *g, FILE *out)
{
    enum { SHOWN = 64 };
    PackingReport r;
    PackingMiss *miss = ir_malloc(SHOWN * sizeof *miss);
    int n = miss ? packing_masks_left(g, &r, miss, SHOWN) : -1;
    if (n < 0 || !r.packed) {
        ir_free(miss);
        return;
    }
    fprintf(out, "  packing-mask-elimination: %d attention%s, %d pooling%s segment-aware; %d mask%s left\n",
            r.attentions, r.attentions == 1 ? "" : "s", r.poolings, r.poolings == 1 ? "" : "s", n, n == 1 ? "" : "s");
    for (int i = 0; i < n && i < SHOWN; i++) {
        const Node *s = &g->nodes[miss[i].node];
        if (s->loc.file)
            fprintf(out, "    left: '%s' at %s:%d:%d: %s\n", ir_ops[s->op].name, s->loc.file, s->loc.line, s->loc.col,
                    miss[i].reason);
        else
            fprintf(out, "    left: '%s' %%%d: %s\n", ir_ops[s->op].name, s->out, miss[i].reason);
    }
    if (n > SHOWN)
        fprintf(out, "    ... and %d more\n", n - SHOWN);
    ir_free(miss);
}

static void print_stats(const Graph *g, const int64_t *bind, FILE *out)
{
    IrStats st;
    char a[64], b[64], c[64];
    ir_stats(g, bind, &st);
    fprintf(out, "model %s (symbols:", g->name);
    for (int32_t s = 0; s < g->nsyms; s++)
        fprintf(out, "%s %s = %" PRId64, s ? "," : "", g->syms[s].name, bind[s]);
    fprintf(out, "%s)\n", g->nsyms ? "" : " none");

    fmt_count(st.params, a, sizeof a);
    fmt_bytes(st.param_bytes, b, sizeof b);
    fprintf(out, "  parameters   %14s      %s as stored\n", a, b);
    double total = st.matmul_flops + st.other_flops;
    fmt_flops(total, total, a, sizeof a);
    fmt_flops(st.matmul_flops, total, b, sizeof b);
    fmt_flops(st.other_flops, total, c, sizeof c);
    fprintf(out, "  FLOPs        %14sFLOP  matmul %sFLOP + other %sFLOP (see below)\n", a, b, c);
    fmt_bytes(st.activation_bytes, a, sizeof a);
    fprintf(out, "  activations  %14s      every result but parameters and constants, inputs included\n", a);
    if (st.peak_live_bytes >= 0)
        fmt_bytes(st.peak_live_bytes, a, sizeof a);
    else
        snprintf(a, sizeof a, "unknown");
    fprintf(out, "  peak live    %14s      values live from definition to last use, nodes in order\n", a);
    fmt_count(st.nodes, a, sizeof a);
    fprintf(out, "  nodes        %14s      ", a);
    print_histogram(&st, out);
    fputc('\n', out);
    print_attention(g, &st, out);
    print_packing(g, out);
    fputs("\nFLOPs: a matmul counts 2 per multiply-add, batch dimensions included (so the patch\n"
          "embedding and attention's products count too); every other op counts the op table's\n"
          "cost per element of the larger of its first operand and its result (elementwise ops,\n"
          "reductions, normalisations); data movement and sources count nothing.\n",
          out);
}

/* Whether the comma list `list` names pass `name` (blanks around names ignored). */
static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ",");
        size_t k = len;
        while (k && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        if (k == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* The pipeline: --passes, -O, else -O0's — or -O2's when --print-after names a pass -O0 does
 * not run (`vitc dump --print-after=attention-fusion m.vit` shows that pass's result). */
static const char *dump_pipeline(const DumpArgs *a)
{
    if (a->m.passes)
        return a->m.passes;
    if (a->m.opt_level >= 0)
        return pass_default_pipeline(a->m.opt_level);
    const char *o0 = pass_default_pipeline(0);
    for (int i = 0; a->print_after && i < pass_count; i++)
        if (list_has(a->print_after, pass_table[i].name) && !list_has(o0, pass_table[i].name))
            return pass_default_pipeline(2);
    return o0;
}

int cmd_dump(int argc, char **argv)
{
    DumpArgs a = {.m.opt_level = -1};
    int status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;
    FrontendOptions fo = tool_frontend(&a.m);
    Diag *d = diag_new(stderr);
    if (!d) {
        fputs("vitc dump: error: out of memory\n", stderr);
        return 1;
    }
    Graph *g = tool_load_model(a.m.file, &fo, d);
    diag_free(d);
    if (!g)
        return 1;

    IrError err = {{0}};
    int64_t *bind = NULL;
    FILE *out = stdout;
    status = 1;
    if (!ir_verify(g, &err)) {
        fprintf(stderr, "vitc dump: internal compiler error: the graph loaded from '%s' is invalid: %s\n", a.m.file,
                err.msg);
        goto done;
    }
    if (!(bind = ir_malloc((size_t)(g->nsyms ? g->nsyms : 1) * sizeof *bind))) {
        fputs("vitc dump: error: out of memory\n", stderr);
        goto done;
    }
    if ((status = bind_symbols(g, &a, bind)) >= 0)
        goto done;
    status = 1;
    if (a.m.output && !(out = fopen(a.m.output, "w"))) {
        fprintf(stderr, "vitc dump: error: cannot write '%s': %s\n", a.m.output, strerror(errno));
        out = stdout;
        goto done;
    }
    PassOptions po = {.print_after = a.print_after, .print_after_all = a.print_after_all,
                      .time_passes = a.time_passes, .dump = out, .log = stderr};
    const char *pipeline = dump_pipeline(&a);
    /* (no pass: nothing to run, and the graph is verified already) */
    if (pipeline[strspn(pipeline, " \t")] && !pass_run_pipeline(g, pipeline, &po, &err)) {
        fprintf(stderr, "vitc dump: %s%s\n", pass_error_is_internal(&err) ? "" : "error: ", err.msg);
        goto done;
    }
    if (a.kernels) {
        PlanOptions plo = {0};
#ifdef VITC_HAVE_LLVM
        LlvmOptions lo = {.opt_level = 2};
        llvm_plan_options(&lo, &plo); /* as `vitc compile` plans for this host: GEMM weights packed */
#endif
        Plan *p = plan_build_opts(g, &plo, &err);
        if (!p) {
            fprintf(stderr, "vitc dump: error: %s\n", err.msg);
            goto done;
        }
        plan_print(p, out);
        plan_free(p);
    } else if (a.dot)
        ir_print_dot(g, out);
    else if (a.stats)
        print_stats(g, bind, out);
    else
        ir_print(g, out);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "vitc dump: error: cannot write '%s': %s\n", a.m.output ? a.m.output : "<stdout>",
                strerror(errno));
        goto done;
    }
    status = 0;
done:
    if (out != stdout && fclose(out) != 0 && status == 0) {
        fprintf(stderr, "vitc dump: error: cannot write '%s': %s\n", a.m.output, strerror(errno));
        status = 1;
    }
    ir_free(bind);
    ir_graph_free(g);
    return status;
}
