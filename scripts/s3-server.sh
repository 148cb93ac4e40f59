#!/usr/bin/env bash
# Start a real S3-compatible server (s3s-fs 0.14.1, disk-backed, verifies SigV4) for tests and
# for running photocheck on one machine. Installs it on first use (cached in ~/.cargo/bin).
#
#   scripts/s3-server.sh                 # background server on a free port, temp data dir;
#                                        # prints shell assignments (eval them)
#   scripts/s3-server.sh --foreground    # run in the foreground (Ctrl-C stops it)
#   options: --port N  --data DIR  --access-key K  --secret-key S  --install-only
#
# Printed (background mode): S3_ENDPOINT, S3_PID, S3_DATA, S3_LOG and the matching
# PHOTOCHECK__S3__ENDPOINT / __ACCESS_KEY / __SECRET_KEY variables, e.g.
#   eval "$(scripts/s3-server.sh)"; ...; kill "$S3_PID"
set -euo pipefail

VERSION=0.14.1
PORT=""
DATA=""
ACCESS_KEY="photocheck"
SECRET_KEY="photocheck-secret"
FOREGROUND=0
INSTALL_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --access-key) ACCESS_KEY="$2"; shift 2 ;;
    --secret-key) SECRET_KEY="$2"; shift 2 ;;
    --foreground) FOREGROUND=1; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

BIN="${S3S_FS_BIN:-${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs}"
if ! [ -x "$BIN" ] || ! "$BIN" --version 2>/dev/null | grep -q " $VERSION\$"; then
  echo "installing s3s-fs $VERSION (once; ~3 min)..." >&2
  # Newer versions need a newer rustc, and without the feature there is no binary.
  cargo install s3s-fs --version "$VERSION" --features binary --locked >&2
fi
[ "$INSTALL_ONLY" = 1 ] && exit 0

if [ -z "$PORT" ]; then
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || shuf -i 20000-60000 -n 1)"
fi
if [ -z "$DATA" ]; then
  DATA="$(mktemp -d "${TMPDIR:-/tmp}/photocheck-s3.XXXXXX")"
fi
mkdir -p "$DATA"

ARGS=(--host 127.0.0.1 --port "$PORT" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" "$DATA")
if [ "$FOREGROUND" = 1 ]; then
  echo "S3 endpoint http://127.0.0.1:$PORT (data $DATA, access key $ACCESS_KEY)" >&2
  exec "$BIN" "${ARGS[@]}"
fi

LOG="$DATA.log"
"$BIN" "${ARGS[@]}" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    READY=1
    break
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "s3s-fs exited; log:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.05
done
if [ "${READY:-0}" != 1 ]; then
  echo "s3s-fs did not start listening on $PORT; log:" >&2; cat "$LOG" >&2; kill "$PID"; exit 1
fi

cat <<ENV
S3_ENDPOINT=http://127.0.0.1:$PORT
S3_PID=$PID
S3_DATA=$DATA
S3_LOG=$LOG
export PHOTOCHECK__S3__ENDPOINT=http://127.0.0.1:$PORT
export PHOTOCHECK__S3__ACCESS_KEY=$ACCESS_KEY
export PHOTOCHECK__S3__SECRET_KEY=$SECRET_KEY
ENV
