# lit.cfg.py — configuration of the golden textual-IR tests (LLVM lit, run through CTest).
#
# Every .vir and .vit file under tests/lit/ is a test: its `RUN:` lines are shell commands,
# usually `%vitc ... %s | FileCheck %s`. Files in folders named Inputs/ are not tests.
# CTest passes the paths of this build (see tests/CMakeLists.txt):
#   --param vitc=PATH       the vitc binary under test
#   --param exec_root=DIR   where lit keeps its temporary files (%t)
# Run by hand: python3 /usr/lib/llvm-15/build/utils/lit/lit.py -sv \
#   --param vitc=build/tools/vitc --param exec_root=build/tests/lit tests/lit
import os

import lit.formats
import lit.util

config.name = "vitc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".vir", ".vit"]
config.excludes = ["Inputs", "lit.cfg.py"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))

src_root = os.path.dirname(os.path.dirname(config.test_source_root))
vitc = os.path.abspath(lit_config.params.get("vitc", os.path.join(src_root, "build", "tools", "vitc")))
config.test_exec_root = os.path.abspath(
    lit_config.params.get("exec_root", os.path.join(os.path.dirname(os.path.dirname(vitc)), "tests", "lit")))
llvm_bin = lit_config.params.get("llvm_bin", "/usr/lib/llvm-15/bin")

if not os.access(vitc, os.X_OK):
    lit_config.fatal("vitc binary not found at %s (pass --param vitc=PATH)" % vitc)
for tool in ("FileCheck", "not"):
    if not os.access(os.path.join(llvm_bin, tool), os.X_OK):
        lit_config.fatal("%s not found in %s (install llvm-15-tools: scripts/setup.sh)" % (tool, llvm_bin))

# FileCheck and not from LLVM 15; vitc's own folder first so a bare `vitc` is the one under test.
config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(vitc), llvm_bin, config.environment.get("PATH", os.environ.get("PATH", ""))])
for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]

config.substitutions.append(("%vitc", vitc))
config.substitutions.append(("%models", os.path.join(src_root, "models")))
config.substitutions.append(("%reference", os.path.join(src_root, "tests", "reference")))
