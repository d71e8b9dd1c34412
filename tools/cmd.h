/* cmd.h — the subcommands of `vitc` and what they share. */
#ifndef VITC_CMD_H
#define VITC_CMD_H

#include "../frontend/frontend.h"
#include "../ir/diag.h"
#include "../ir/interp.h"
#include "../ir/ir.h"
#include "../runtime/safetensors.h"

/* Each subcommand: argv[0] is its name; returns the process exit status. */
int cmd_bench(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_upcycle(int argc, char **argv);
/* `vitc run model.so ...`: runs a compiled shared object through its C ABI (run_so.c). */
int run_shared_object(int argc, char **argv);

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
/* `--name=value` or `--name value`: true when argv[*i] is option `name`, with *value set
 * (and *i advanced past a separate value). Reports a missing value on stderr and sets
 * *bad. */
bool tool_opt(int argc, char **argv, int *i, const char *name, const char **value, bool *bad);

#endif
