/* fuzz_llvm.c — the LLVM backend against plan_exec under libFuzzer: fuzz_vir's checks of a
 * .vir input (the parser, print → parse, the passes, the planner, the interpreter against
 * plan_exec: fuzz_vir.c) and, for every graph small enough to run (pipeline_check.h: at
 * most 128 nodes and 4096 elements a value, symbols bound to 2), the plan `vitc compile` makes
 * for this host JIT-compiled at -O2 and run whole and in 3 chunks against plan_exec on the
 * same plan (pipeline_check.h's llvm_check). A JIT compile takes milliseconds, so this is a
 * target of its own, far slower than fuzz_vir, with its own seeds (tests/fuzz/corpus/llvm/:
 * the graphs of corpus/vir/ small enough to run).
 */
#define PIPELINE_CHECK_LLVM
#include "fuzz_vir.c"
