/* STUB: replaced by later work. */
#include "cmd.h"
int cmd_init(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "vitc: init: not implemented yet\n"); return 2; }
