/* STUB: replaced by later work. */
#include "cmd.h"
int cmd_dump(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "vitc: dump: not implemented yet\n"); return 2; }
