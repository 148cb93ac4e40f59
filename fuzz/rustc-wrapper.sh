#!/usr/bin/env bash
# RUSTC_WRAPPER for the fuzz build (scripts/fuzz.sh sets it): adds libFuzzer's coverage
# instrumentation (SanitizerCoverage, the flags cargo fuzz passes with `--sanitizer none`) to
# the crates that parse input, and only to those, so the network/TLS/runtime crates the
# pipeline links (aws-sdk, aws-lc, rustls, tokio, lapin, hyper, ort...) build as usual and
# faster. PHOTOCHECK_FUZZ_INSTRUMENT=all instruments every crate built for the target.
# Build scripts and proc-macros (built for the host, without --target) are never instrumented.
rustc="$1"
shift
crate=""
for_target=0
prev=""
for a in "$@"; do
  [ "$prev" = "--crate-name" ] && crate="$a"
  [ "$a" = "--target" ] && for_target=1
  prev="$a"
done
if [ "$for_target" = 1 ]; then
  instrument=0
  if [ "${PHOTOCHECK_FUZZ_INSTRUMENT:-}" = all ]; then
    instrument=1
  else
    case "$crate" in
      # photocheck itself and the fuzz harness
      photocheck_*) instrument=1 ;;
      # image decoding (image crate and its codecs) and the resize before measuring
      image|image_webp|zune_jpeg|zune_core|png|fdeflate|miniz_oxide|flate2|gif|weezl|tiff|fax|\
      color_quant|byteorder_lite|moxcms|pxfm|half|turbojpeg|fast_image_resize) instrument=1 ;;
      # JSON, TOML and configuration
      serde_json|figment|toml|toml_edit|toml_datetime|toml_write|winnow|serde_spanned|uncased) instrument=1 ;;
      # the HTTP upload path: router, multipart, headers, mime
      axum|axum_core|multer|http|mime|encoding_rs|matchit|http_body_util|httparse) instrument=1 ;;
    esac
  fi
  if [ "$instrument" = 1 ]; then
    exec "$rustc" "$@" \
      -Cpasses=sancov-module \
      -Cllvm-args=-sanitizer-coverage-level=4 \
      -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
      -Cllvm-args=-sanitizer-coverage-pc-table \
      -Cllvm-args=-sanitizer-coverage-trace-compares \
      --cfg fuzzing
  fi
  exec "$rustc" "$@" --cfg fuzzing
fi
exec "$rustc" "$@"
