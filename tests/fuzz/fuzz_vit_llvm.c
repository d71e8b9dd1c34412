/* fuzz_vit_llvm.c — the LLVM backend against plan_exec on graphs from .vit sources under
 * libFuzzer: fuzz_vit's checks (fuzz_vit.c) and, for every graph small enough to run,
 * pipeline_check.h's llvm_check, as fuzz_llvm does for .vir graphs. The frontend's graphs
 * carry what models are made of (the prelude's LayerNorm and attention, fused by the passes;
 * GELU epilogues; MoE dispatch; packed sequences), where fuzz_llvm's mutations of .vir text
 * rarely build such patterns. Seeds: tests/fuzz/corpus/vit_llvm/ (sources whose graphs run).
 */
#define PIPELINE_CHECK_LLVM
#include "fuzz_vit.c"
