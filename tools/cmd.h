/* cmd.h — the subcommands of `vitc` and what they share. */
#ifndef VITC_CMD_H
#define VITC_CMD_H

#include "../frontend/frontend.h"
#include "../ir/diag.h"
#include "../ir/interp.h"
#include "../ir/ir.h"
#include "../runtime/safetensors.h"
#include "../runtime/vitrt.h"

/* Each subcommand: argv[0] is its name; returns the process exit status. */
int cmd_bench(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_upcycle(int argc, char **argv);
/* `vitc run model.so ...`: runs a compiled shared object through its C ABI (run_so.c). */
int run_shared_object(int argc, char **argv);

/* A model compiled by vitc, loaded through its C ABI (load_so.c). */
typedef struct {
    void *handle;
    vit_model *(*open)(const char *, char *, size_t);
    int (*info)(const vit_model *, struct vit_info *);
    int (*run)(vit_model *, const vit_image *, int, float *, char *, size_t);
    void (*set_threads)(vit_model *, int);
    int (*set_option)(vit_model *, const char *, int); /* NULL: a .so before ABI 2 */
    void (*close)(vit_model *);
} ToolSo;
/* dlopens the model at path (RTLD_LOCAL) and resolves its vit_* functions, after checking
 * that the file's segments lie within it (a truncated .so would fault inside dlopen).
 * false with the error reported on stderr as `vitc CMD`'s. */
bool tool_load_so(const char *cmd, const char *path, ToolSo *so);
void tool_unload_so(ToolSo *so);

/* The measured FMA peak of this machine in FLOP/s on `threads` threads at once (peak.c:
 * independent FMA chains on the widest vectors the CPU has), and which loop that was. */
double tool_fma_peak(int threads);
double tool_fma_peak_cpu(void); /* 1 thread, FLOP per second of its own CPU time */
const char *tool_fma_isa(void);
/* Reads a model: a .vit file through the frontend, anything else as .vir text.
 * NULL on error (diagnostics in d). */
Graph *tool_load_model(const char *path, const FrontendOptions *fo, Diag *d);
/* The parameters of a model from an open safetensors file (F32, F16, BF16, I32, I64 and
 * BOOL tensors; anything else is reported naming the tensor). */
WeightSource tool_weight_source(StFile *f);
/* Reads a whole file into a NUL-terminated buffer (ir_free it); NULL with errno set. */
char *tool_read_file(const char *path, size_t *len);
/* Whether paths a and b name one existing file (a link to it included). */
bool tool_same_file(const char *a, const char *b);
/* `--name=value` or `--name value`: true when argv[*i] is option `name`, with *value set
 * (and *i advanced past a separate value). Reports a missing value on stderr and sets
 * *bad. */
bool tool_opt(int argc, char **argv, int *i, const char *name, const char **value, bool *bad);
/* The value v of option `opt` of `vitc CMD` as an integer in [lo, hi] (decimal), or as a
 * seed (any unsigned 64-bit decimal): true with *out set, else false, reported on stderr. */
bool tool_int_arg(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out);
bool tool_seed_arg(const char *cmd, const char *v, uint64_t *out);
/* Reports a bad command line of `vitc CMD` on stderr ("vitc CMD: error: ...", then where the
 * help is) and returns 2, the exit status for bad usage. */
int tool_bad_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The arguments of the commands that read a model and run passes over it (dump, compile):
 * the model file, -o FILE, -I DIR (repeatable), -O0..-O3 and --passes=P,... */
enum { TOOL_MAX_INCLUDES = 64 };
typedef struct {
    const char *file, *output, *passes;
    int opt_level; /* -1: none given */
    const char *includes[TOOL_MAX_INCLUDES + 1]; /* + the installed models (tool_frontend) */
    int nincludes;
} ToolModelArgs;
/* Takes argv[*i] for `vitc cmd` when it is one of those (advancing *i past a separate value):
 * 1; 0 when it is not (an option of the command's own, or unknown); 2 when it is malformed,
 * reported as bad usage (tool_bad_usage). Set m->opt_level = -1 before the first call. */
int tool_model_arg(const char *cmd, ToolModelArgs *m, int argc, char **argv, int *i);
/* After the last argument: 0, or 2 reported as bad usage (no model file; --passes with -O;
 * a pass --passes names that does not exist). */
int tool_model_check(const char *cmd, const ToolModelArgs *m);
/* The frontend's options: the -I folders, then the installed models. */
FrontendOptions tool_frontend(ToolModelArgs *m);

#endif
