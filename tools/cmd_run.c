/* STUB: replaced by later work. */
#include "cmd.h"
int cmd_run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "vitc: run: not implemented yet\n"); return 2; }
