#!/usr/bin/env bash
# Runs every test of photocheck, installing first what the tests need on a fresh machine:
# the Debian packages the build links and the tests run (scripts/system-deps.sh --tests:
# libjpeg-turbo, stunnel4),
# the ONNX Runtime library and the models (photocheck models fetch, cached under
# ~/.local/share/photocheck), the S3 store's binary (Garage 2.5.0, built once, ~11 min,
# cached in ~/.cargo/bin), and a
# running RabbitMQ. Builds once into $CARGO_TARGET_DIR (default ~/.cache/photocheck/target,
# outside the clone, so later runs reuse the build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh --tests
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/photocheck/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n== %s\n' "$*" >&2; }

step "RabbitMQ on 127.0.0.1:5672"
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  command -v rabbitmq-server >/dev/null || { echo "RabbitMQ is not installed (apt-get install rabbitmq-server)" >&2; exit 1; }
  rabbitmq-server -detached
  for _ in $(seq 1 90); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
fi
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "RabbitMQ did not start" >&2; exit 1; }

step "S3 store binary (Garage 2.5.0)"
bash scripts/s3-server.sh --install-only

step "build"
cargo build --workspace --all-targets
# The README's first command is `cargo run`: it must resolve to the command line.
cargo run -q -- --version >/dev/null

step "ONNX Runtime and models"
"$CARGO_TARGET_DIR/debug/photocheck" models fetch
"$CARGO_TARGET_DIR/debug/photocheck" models verify >/dev/null

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

step "deploy/ validators (kubernetes-validate, checkov, hadolint, compose schema)"
bash scripts/validate-deploy.sh

step "tests"
cargo test --workspace

step "fuzz smoke (every target 30 s; scripts/fuzz-smoke.sh)"
bash scripts/fuzz-smoke.sh
