#!/usr/bin/env bash
# main.sh — the main job: install what is needed, build vitc (Release), then the demo:
#   1. compile the shipped digits ViT (models/digits: a ViT trained by train.py on the handwritten
#      digits that scikit-learn bundles) to a shared object with the LLVM backend,
#   2. run it through its C ABI on the 360 shipped test images, print each prediction, the
#      accuracy (which must equal the PyTorch model's on the same images) and the latency,
#   3. compile ViT-B/16 to a .so (timed) and show its ABI and dependencies,
#   4. check the reference interpreter against timm on the small test ViTs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${VITC_BUILD_DIR:-build-release}

section() { printf '\n==> %s\n' "$*"; }

section "setup"
bash scripts/setup.sh

section "build ($BUILD, Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2
VITC=$BUILD/tools/vitc
OUT=$BUILD/main
mkdir -p "$OUT"

section "vitc compile models/digits/vit_digits.vit -o $OUT/vit_digits.so"
"$VITC" compile models/digits/vit_digits.vit -o "$OUT/vit_digits.so"

section "vitc run $OUT/vit_digits.so on the 360 test images of models/digits/images"
"$VITC" run "$OUT/vit_digits.so" --weights models/digits/vit_digits.safetensors \
  --truth models/digits/test_labels.txt --repeat 5 models/digits/images/*.png | tee "$OUT/digits.txt"
read -r want total < models/digits/pytorch_accuracy.txt
got=$(sed -n 's/^accuracy: \([0-9]*\)\/.*/\1/p' "$OUT/digits.txt")
echo "PyTorch on the same images: $want/$total; vitc: $got/$total"
if [ "$got" != "$want" ]; then
  echo "main.sh: vitc's accuracy differs from the PyTorch model's" >&2
  exit 1
fi

section "vitc compile models/vit_b16.vit (timed), its ABI and dependencies"
/usr/bin/time -f "compile: %e s wall, %M KiB peak" "$VITC" compile models/vit_b16.vit -o "$OUT/vit_b16.so"
nm -D --defined-only "$OUT/vit_b16.so" | grep ' T '
ldd "$OUT/vit_b16.so"
"$VITC" dump --stats models/vit_b16.vit

IMAGES=(tests/reference/images/img0.png tests/reference/images/img1.png
        tests/reference/images/img2.png tests/reference/images/img3.png)
for head in cls gap map; do
  section "vitc run --interp models/vit_test_$head.vit against timm (same weights, same pixels)"
  "$VITC" run --interp models/vit_test_$head.vit --weights tests/reference/vit_test_$head.safetensors \
    --top 3 --save-outputs "$OUT/vit_test_$head.safetensors" "${IMAGES[@]}"
  python3 tests/reference/show_reference.py "$head" --compare "$OUT/vit_test_$head.safetensors"
done
