/* passes.c — STUB: replaced by the pass-manager work. */
#include "passes.h"
const PassInfo pass_table[] = {{"dce", pass_dce, "stub"}};
const int pass_count = 1;
bool pass_dce(Graph *g, const PassOptions *o) { (void)g; (void)o; return false; }
