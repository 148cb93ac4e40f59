#!/usr/bin/env bash
# The model folder for the speed reference, ../shared/baseline/py_photocheck_full.py (issue 22).
#
#     bash bench/reference-models.sh [DIR]        # default /tmp/photocheck-reference-models
#     PHOTOCHECK_MODELS=DIR python ../shared/baseline/side_by_side.py --photocheck PATH ...
#
# The reference reads its models from the folder `photocheck models fetch` fills, but it runs
# MediaPipe's plain face mesh (`face_landmark.onnx`), which photocheck stopped installing when
# the refined mesh replaced it (commit f6794c9). This script links the installed models into DIR
# and writes the plain mesh there from the repository's history (the parent of that commit),
# checked against the sha256 its manifest entry had. Needs a git clone of photocheck (not an
# export) and the installed models (`photocheck models fetch`).
set -euo pipefail
out="${1:-/tmp/photocheck-reference-models}"
mkdir -p "$out"
out="$(cd "$out" && pwd)" # DIR as given, relative to where the script was called from
cd "$(dirname "$0")/.."
models="${XDG_DATA_HOME:-$HOME/.local/share}/photocheck/models"
want=6002c78f6c894b159d563077db34bc58e13e43701c9c492b2b9f1579aadc6d61
[ -d "$models" ] || { echo "no models under $models: run photocheck models fetch first" >&2; exit 1; }
for f in "$models"/*.onnx; do ln -sf "$f" "$out/$(basename "$f")"; done
rm -f "$out/face_landmark.onnx"
git show f6794c9^:models/converted/face_landmark.onnx >"$out/face_landmark.onnx.part" || {
  echo "cannot read face_landmark.onnx from git history (is this a full clone?)" >&2
  rm -f "$out/face_landmark.onnx.part"; exit 1; }
got=$(sha256sum "$out/face_landmark.onnx.part" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "face_landmark.onnx: sha256 $got, expected $want" >&2
  rm -f "$out/face_landmark.onnx.part"; exit 1
fi
mv "$out/face_landmark.onnx.part" "$out/face_landmark.onnx"
echo "PHOTOCHECK_MODELS=$out"
