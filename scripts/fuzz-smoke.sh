#!/usr/bin/env bash
# CI smoke run of every fuzz target: FUZZ_SMOKE_SECONDS (default 30) each, one after another;
# exits non-zero if any target crashed, hung or ran out of memory (the inputs are kept under
# ~/.cache/photocheck/fuzz/artifacts/TARGET; copy them to fuzz/regressions/TARGET/).
# The `engine` target needs the ONNX Runtime and models (photocheck models fetch): without
# them it is skipped with a warning, unless FUZZ_REQUIRE_MODELS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SMOKE_SECONDS:-30}"
# At normal priority: fuzz.sh runs at nice 19 by default (long runs beside other work), where a
# build started beside the smoke run can starve one input past the 10-s hang limit (seen:
# a 0.4-s GIF reported as an 11-s hang while a release build ran).
export FUZZ_NICE="${FUZZ_NICE:-0}"
start=$(date +%s)
bash scripts/fuzz.sh build >/dev/null
echo "fuzz-smoke: build $(( $(date +%s) - start ))s" >&2

data_dir="${XDG_DATA_HOME:-$HOME/.local/share}/photocheck"
failed=()
for t in $(bash scripts/fuzz.sh list); do
  if [ "$t" = engine ] && ! ls "$data_dir"/runtime/libonnxruntime.so* >/dev/null 2>&1; then
    if [ "${FUZZ_REQUIRE_MODELS:-0}" = 1 ]; then
      echo "fuzz-smoke: engine needs the models under $data_dir (photocheck models fetch)" >&2
      failed+=(engine)
    else
      echo "fuzz-smoke: SKIP engine (no ONNX Runtime under $data_dir; photocheck models fetch)" >&2
    fi
    continue
  fi
  bash scripts/fuzz.sh "$t" "$seconds" || failed+=("$t")
done
echo "fuzz-smoke: $(( $(date +%s) - start ))s in all" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-smoke: every target ran ${seconds}s without a crash, hang or out-of-memory" >&2
