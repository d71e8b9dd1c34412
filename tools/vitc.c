/* vitc.c — the driver: `vitc COMMAND [options]`. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"bench", cmd_bench, "time a compiled model: every kernel's time, GFLOP/s and % of the machine's peak"},
    {"compile", cmd_compile, "compile a model to a shared object (or an object, assembly, LLVM IR)"},
    {"dump", cmd_dump, "print the IR of a model after a pass pipeline (--stats, --dot)"},
    {"init", cmd_init, "write random weights with the names and shapes a model declares"},
    {"run", cmd_run, "run a model on images (--interp: the reference interpreter)"},
    {"upcycle", cmd_upcycle, "turn a dense model's weights into its MoE twin's (experts tiled, new routers)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vitc COMMAND [options] ...\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n`vitc COMMAND --help` describes the options of each.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vitc 0.1\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vitc: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
