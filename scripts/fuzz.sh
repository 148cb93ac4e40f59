#!/usr/bin/env bash
# Coverage-guided fuzzing of photocheck with libFuzzer (libfuzzer-sys on stable Rust, no
# sanitizer; see fuzz/README.md).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]   build if needed, seed, fuzz
#   scripts/fuzz.sh build                                   build only
#   scripts/fuzz.sh list                                    the targets
#
# Targets: header decode decode_reduced engine engine_rules job upload config.
# The binary is built (release, debug assertions and overflow checks on) into
# $FUZZ_TARGET_DIR (default ~/.cache/photocheck/target-fuzz). Corpora, seeds, crash artefacts
# and logs live in $FUZZ_WORK (default ~/.cache/photocheck/fuzz), never in the repository:
#   $FUZZ_WORK/corpus/TARGET     what the fuzzer found (kept between runs)
#   $FUZZ_WORK/seeds/TARGET      synthetic seeds + a sample of the fixtures, rewritten each run
#   $FUZZ_WORK/artifacts/TARGET  crash-*, timeout-*, oom-* inputs
#   $FUZZ_WORK/logs/TARGET-*.log the fuzzer's output
# Environment: FUZZ_NICE (default 19), FUZZ_TIMEOUT (seconds one input may take, default 10),
# FUZZ_RSS_MB (default 2048), PHOTOCHECK_FUZZ_MALLOC_LIMIT_MB (largest single allocation,
# default 512), FUZZ_FIXTURES (default /work/shared/fixtures, else fixtures/ or tests/fixtures),
# FUZZ_MAX_FIXTURES (default 12), FUZZ_RUNS (stop after N executions instead of a time).
# Exit status: 0 when the run ended without a crash, hang or out-of-memory; else non-zero.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/photocheck/target-fuzz}"
export FUZZ_WORK="${FUZZ_WORK:-$HOME/.cache/photocheck/fuzz}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin="$FUZZ_TARGET_DIR/$triple/release/photocheck-fuzz"
nice_n="${FUZZ_NICE:-19}"
targets=(header decode decode_reduced engine engine_rules job upload config)

build() {
  bash scripts/system-deps.sh
  command -v c++ >/dev/null || { echo "fuzz: libfuzzer-sys needs a C++ compiler (apt-get install g++)" >&2; exit 1; }
  # --target makes cargo pass RUSTC_WRAPPER's extra flags to the target's crates only (build
  # scripts and proc-macros stay uninstrumented); the wrapper picks the crates to instrument.
  CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" RUSTC_WRAPPER="$root/fuzz/rustc-wrapper.sh" \
    nice -n "$nice_n" cargo build --locked --release \
    --manifest-path fuzz/Cargo.toml --target "$triple" --bin photocheck-fuzz >&2
}

# The maximum input length per target (libFuzzer truncates longer seeds).
max_len() {
  case "$1" in
    job) echo 4096 ;;
    config) echo 16384 ;;
    engine) echo 65536 ;;
    *) echo 131072 ;;
  esac
}

fixtures_dir() {
  for d in "${FUZZ_FIXTURES:-}" /work/shared/fixtures "$root/fixtures" "$root/tests/fixtures"; do
    [ -n "$d" ] && [ -d "$d" ] && { echo "$d"; return; }
  done
}

seed() {
  local t="$1" dir="$FUZZ_WORK/seeds/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  PHOTOCHECK_FUZZ_TARGET="$t" PHOTOCHECK_FUZZ_SEEDS="$dir" "$bin" >&2
  case "$t" in
    header | decode | decode_reduced | engine | engine_rules | upload) ;;
    *) return 0 ;;
  esac
  local fx limit
  fx="$(fixtures_dir)"
  [ -n "$fx" ] || { echo "fuzz: no fixtures found; synthetic seeds only" >&2; return 0; }
  limit="$(max_len "$t")"
  # A sample: the smallest photos of each kind of fixture (one per name prefix, then the next
  # smallest), all below the target's maximum length; copies, named by their fixture.
  find "$fx" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.jpeg' \) -size -"$((limit / 1024))"k -printf '%s %f\n' |
    sort -n | awk '{ split($2, p, "__"); if (seen[p[1]]++ < 2) print $2 }' |
    head -n "${FUZZ_MAX_FIXTURES:-12}" | while read -r f; do
      if [ "$t" = upload ]; then
        # The upload target reads headers, an empty line, then the body.
        { printf 'Content-Type: image/jpeg\n\n'; cat "$fx/$f"; } >"$dir/fx-$f"
      else
        cp "$fx/$f" "$dir/fx-$f"
      fi
    done
}

case "${1:-}" in
  build) build; echo "$bin"; exit 0 ;;
  list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  "" | -h | --help) sed -n '2,24p' "$0"; exit 2 ;;
esac

target="$1"
seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]}"
shift 2
[[ " ${targets[*]} " == *" $target "* ]] || { echo "fuzz: unknown target $target (scripts/fuzz.sh list)" >&2; exit 2; }

build
seed "$target"
corpus="$FUZZ_WORK/corpus/$target"
artifacts="$FUZZ_WORK/artifacts/$target"
dict="$root/fuzz/dict/$target.dict"
mkdir -p "$corpus" "$artifacts" "$FUZZ_WORK/logs"
log="$FUZZ_WORK/logs/$target-$(date +%Y%m%d-%H%M%S).log"

flags=(
  -max_total_time="$seconds"
  -timeout="${FUZZ_TIMEOUT:-10}"
  -rss_limit_mb="${FUZZ_RSS_MB:-2048}"
  -max_len="$(max_len "$target")"
  -artifact_prefix="$artifacts/"
  -print_final_stats=1
  -reload=0
)
[ -f "$dict" ] && flags+=(-dict="$dict")
[ -n "${FUZZ_RUNS:-}" ] && flags+=(-runs="$FUZZ_RUNS")

# Every input that ever crashed a target is kept in fuzz/regressions/TARGET/ and replayed first
# (libFuzzer runs every input of its corpus folders before mutating; new finds go to the first).
regressions=()
[ -d "$root/fuzz/regressions/$target" ] && regressions=("$root/fuzz/regressions/$target")
echo "fuzz: $target for ${seconds}s, log $log" >&2
status=0
PHOTOCHECK_FUZZ_TARGET="$target" /usr/bin/env nice -n "$nice_n" \
  "$bin" "${flags[@]}" "$@" "$corpus" "$FUZZ_WORK/seeds/$target" "${regressions[@]}" >"$log" 2>&1 || status=$?

# The summary: libFuzzer's final stats and any artefact.
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)"
cov="$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' || true)"
echo "fuzz: $target status=$status execs=${execs:-?} exec/s=${rate:-?} peak_rss_mb=${rss:-?} ${cov}" >&2
if [ "$status" != 0 ]; then
  grep -E '^==[0-9]+==|^==photocheck-fuzz==|panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to|^thread ' "$log" | head -20 >&2 || true
  echo "fuzz: $target FAILED (exit $status); inputs in $artifacts, full log $log" >&2
fi
exit "$status"
