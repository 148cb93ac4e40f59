#!/usr/bin/env bash
# Start a real S3-compatible store, Garage 2.5.0 (distributed, AGPL-3.0, run as separate
# processes), for tests, the walkthrough, the benches and the fault suite. Installs it on first
# use (`cargo install`, ~11 min on 2 cores; cached in ~/.cargo/bin).
#
#   scripts/s3-server.sh                  # one node on free ports, temp data dir; prints shell
#                                         # assignments (eval them)
#   scripts/s3-server.sh --nodes 3        # a 3-node cluster (replication 3, quorum 2)
#   scripts/s3-server.sh --foreground     # one node in the foreground (Ctrl-C stops it)
#   scripts/s3-server.sh --data DIR --restart [K]   # start node K (default 1) of an existing
#                                         # data dir again, same ports and state
#   options: --port N (node 1's S3 port)  --data DIR  --access-key K  --secret-key S
#            --region R  --install-only
#
# Printed (background mode): S3_ENDPOINT (node 1), S3_ENDPOINTS (all, comma-separated), S3_PID
# (node 1), S3_PIDS, S3_DATA, S3_LOG (node 1's log) and the matching PHOTOCHECK__S3__ENDPOINT /
# __ACCESS_KEY / __SECRET_KEY / __REGION variables, e.g.
#   eval "$(scripts/s3-server.sh)"; ...; kill "$S3_PID"
# Each node K keeps its config in DIR/nodeK.toml, its state in DIR/nodeK/ and its log in
# DIR/nodeK.log. The key may create buckets (photocheck creates its own at start).
set -euo pipefail

VERSION=2.5.0
PORT=""
DATA=""
NODES=1
RESTART=""
ACCESS_KEY="${PHOTOCHECK__S3__ACCESS_KEY:-photocheck}"
SECRET_KEY="${PHOTOCHECK__S3__SECRET_KEY:-photocheck-secret}"
REGION="us-east-1"
FOREGROUND=0
INSTALL_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --nodes) NODES="$2"; shift 2 ;;
    --restart)
      if [ $# -gt 1 ] && [[ "$2" =~ ^[0-9]+$ ]]; then RESTART="$2"; shift 2; else RESTART=1; shift; fi ;;
    --access-key) ACCESS_KEY="$2"; shift 2 ;;
    --secret-key) SECRET_KEY="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --foreground) FOREGROUND=1; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

BIN="${GARAGE_BIN:-${CARGO_HOME:-$HOME/.cargo}/bin/garage}"
if ! [ -x "$BIN" ] || ! "$BIN" --version 2>/dev/null | grep -qE "[:v]$VERSION( |$)"; then
  echo "installing garage $VERSION (once; ~11 min on 2 cores)..." >&2
  # Only what photocheck runs: the LMDB metadata engine with the bundled C libraries; no
  # SQLite engine, K2V API or Prometheus metrics (a shorter first build; bench/RESULTS.md).
  cargo install garage --version "$VERSION" --locked \
    --no-default-features --features bundled-libs,lmdb >&2
fi
[ "$INSTALL_ONLY" = 1 ] && exit 0

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || shuf -i 20000-60000 -n 1
}
g() { local k="$1"; shift; "$BIN" -c "$DATA/node$k.toml" "$@"; }
s3_port_of() { sed -n 's/^api_bind_addr = "127.0.0.1:\([0-9]*\)" # s3$/\1/p' "$DATA/node$1.toml"; }
rpc_port_of() { sed -n 's/^rpc_bind_addr = "127.0.0.1:\([0-9]*\)"$/\1/p' "$DATA/node$1.toml"; }
# The CLI talks to a node over RPC; on a loaded machine the first call can come before the node
# accepts it (seen in CI: "Unable to connect to destination RPC host ... Connection refused").
# Retry a cluster command refused that way for up to ~10 s; any other error ends it at once.
gr() {
  local k="$1"; shift
  local out
  for _ in $(seq 1 50); do
    if out=$(g "$k" "$@" 2>&1); then printf '%s\n' "$out"; return 0; fi
    case "$out" in *"Unable to connect"*|*"Connection refused"*) sleep 0.2 ;; *) break ;; esac
  done
  printf '%s\n' "$out" >&2
  return 1
}
wait_port() { # PORT PID NAME
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "garage ($3) exited; log:" >&2; tail -n 30 "$DATA/$3.log" >&2; return 1
    fi
    sleep 0.05
  done
  echo "garage ($3) did not start listening on $1; log:" >&2; tail -n 30 "$DATA/$3.log" >&2
  return 1
}
start_node() { # K -> prints the pid
  local k="$1"
  # setsid: the node has its own session, so stopping or continuing it from a shell that then
  # exits leaves it as it was.
  setsid "$BIN" -c "$DATA/node$k.toml" server >>"$DATA/node$k.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$DATA/node$k.pid"
  wait_port "$(s3_port_of "$k")" "$pid" "node$k" || { kill "$pid" 2>/dev/null; exit 1; }
  wait_port "$(rpc_port_of "$k")" "$pid" "node$k" || { kill "$pid" 2>/dev/null; exit 1; }
  echo "$pid"
}

if [ -n "$RESTART" ]; then
  [ -n "$DATA" ] && [ -f "$DATA/node$RESTART.toml" ] || { echo "--restart needs --data DIR of a started store" >&2; exit 2; }
  PID=$(start_node "$RESTART")
  echo "S3_PID=$PID"
  echo "S3_ENDPOINT=http://127.0.0.1:$(s3_port_of "$RESTART")"
  exit 0
fi

if [ -z "$DATA" ]; then
  DATA="$(mktemp -d "${TMPDIR:-/tmp}/photocheck-s3.XXXXXX")"
fi
mkdir -p "$DATA"
if [ -f "$DATA/node1.toml" ]; then
  # An existing store (e.g. the harness restarting node 1 with --port and --data).
  for k in $(seq 1 "$NODES"); do
    [ -f "$DATA/node$k.pid" ] && kill -0 "$(cat "$DATA/node$k.pid")" 2>/dev/null && continue
    start_node "$k" >/dev/null
  done
else
  SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  REPLICATION="$NODES"
  for k in $(seq 1 "$NODES"); do
    if [ "$k" = 1 ] && [ -n "$PORT" ]; then S3P="$PORT"; else S3P="$(free_port)"; fi
    RPC="$(free_port)"; ADMIN="$(free_port)"; WEB="$(free_port)"
    mkdir -p "$DATA/node$k/meta" "$DATA/node$k/data"
    cat >"$DATA/node$k.toml" <<TOML
metadata_dir = "$DATA/node$k/meta"
data_dir = "$DATA/node$k/data"
db_engine = "lmdb"
replication_factor = $REPLICATION
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$RPC"
rpc_public_addr = "127.0.0.1:$RPC"
rpc_secret = "$SECRET"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3P" # s3
root_domain = ".s3.garage.localhost"

[s3_web]
bind_addr = "127.0.0.1:$WEB"
root_domain = ".web.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN"
admin_token = "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
TOML
    chmod 600 "$DATA/node$k.toml"
    start_node "$k" >/dev/null
  done
  for k in $(seq 2 "$NODES"); do
    gr 1 node connect "$(gr "$k" node id -q)" >/dev/null
  done
  for k in $(seq 1 "$NODES"); do
    gr 1 layout assign -z "z$k" -c 1G "$(gr "$k" node id -q | cut -d@ -f1)" >/dev/null
  done
  gr 1 layout apply --version 1 >/dev/null
  gr 1 key import --yes "$ACCESS_KEY" "$SECRET_KEY" -n photocheck >/dev/null
  gr 1 key allow --create-bucket photocheck >/dev/null
fi

# Ready when the layout is in force on node 1 (a key lookup answers from the cluster's tables).
for _ in $(seq 1 100); do
  g 1 key info photocheck >/dev/null 2>&1 && break
  sleep 0.1
done

PIDS=""; ENDPOINTS=""
for k in $(seq 1 "$NODES"); do
  PIDS="$PIDS${PIDS:+,}$(cat "$DATA/node$k.pid")"
  ENDPOINTS="$ENDPOINTS${ENDPOINTS:+,}http://127.0.0.1:$(s3_port_of "$k")"
done
PID1="$(cat "$DATA/node1.pid")"
ENDPOINT1="http://127.0.0.1:$(s3_port_of 1)"

if [ "$FOREGROUND" = 1 ]; then
  echo "S3 endpoint $ENDPOINT1 (garage $VERSION, data $DATA, access key $ACCESS_KEY); Ctrl-C stops it" >&2
  trap 'kill $(echo "$PIDS" | tr , " ") 2>/dev/null' INT TERM EXIT
  wait
  exit 0
fi

cat <<ENV
S3_ENDPOINT=$ENDPOINT1
S3_ENDPOINTS=$ENDPOINTS
S3_PID=$PID1
S3_PIDS=$PIDS
S3_DATA=$DATA
S3_LOG=$DATA/node1.log
export PHOTOCHECK__S3__ENDPOINT=$ENDPOINT1
export PHOTOCHECK__S3__REGION=$REGION
export PHOTOCHECK__S3__ACCESS_KEY=$ACCESS_KEY
export PHOTOCHECK__S3__SECRET_KEY=$SECRET_KEY
ENV
