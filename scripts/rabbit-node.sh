#!/usr/bin/env bash
# An extra RabbitMQ node beside the system one, for tests and fault runs that must stop, block
# or restart a broker (never the shared node on 5672). Uses the machine's RabbitMQ installation;
# runs the node as the `rabbitmq` user (whose Erlang cookie rabbitmqctl uses) in DIR.
#
#   scripts/rabbit-node.sh start   NAME PORT DIST DIR [TLS]  # start and wait until it serves
#   scripts/rabbit-node.sh stop    NAME                 # stop it (its data stays in DIR)
#   scripts/rabbit-node.sh block   NAME                 # memory alarm: publishers are blocked
#   scripts/rabbit-node.sh unblock NAME                 # clear the alarm
#   scripts/rabbit-node.sh join    NAME SEED            # join NAME to SEED's cluster
#
# NAME is the node's short name (pc-a → pc-a@localhost); PORT its AMQP port on 127.0.0.1; DIST
# its Erlang distribution port. The guest user may connect from loopback only, as on the
# system node. With TLS (a folder holding ca.pem, server.pem and server.key) the node serves
# AMQP over TLS only (amqps://) on PORT, with no plain listener.
set -euo pipefail

cmd="${1:-}"
name="${2:-}"
[ -n "$cmd" ] && [ -n "$name" ] || { sed -n '2,13p' "$0" >&2; exit 2; }
node="$name@localhost"
as_rabbit=()
[ "$(id -u)" -eq 0 ] && as_rabbit=(runuser -u rabbitmq --)
ctl() { rabbitmqctl -q -n "$node" "$@"; }

case "$cmd" in
  start)
    port="$3"; dist="$4"; dir="$5"; tls="${6:-}"
    command -v rabbitmq-server >/dev/null || { echo "RabbitMQ is not installed" >&2; exit 1; }
    mkdir -p "$dir/mnesia" "$dir/log"
    echo '[].' > "$dir/enabled_plugins"
    listen=(RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port")
    if [ -n "$tls" ]; then
      mkdir -p "$dir/tls"
      cp "$tls/ca.pem" "$tls/server.pem" "$tls/server.key" "$dir/tls/"
      cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp = none
listeners.ssl.1 = 127.0.0.1:$port
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_none
loopback_users.guest = true
CONF
      listen=()
    else
      printf 'listeners.tcp.1 = 127.0.0.1:%s\nloopback_users.guest = true\n' "$port" > "$dir/rabbitmq.conf"
    fi
    [ "$(id -u)" -eq 0 ] && chown -R rabbitmq: "$dir"
    "${as_rabbit[@]}" env RABBITMQ_NODENAME="$node" "${listen[@]}" RABBITMQ_DIST_PORT="$dist" \
      RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
      RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
      RABBITMQ_PID_FILE="$dir/pid" setsid /usr/lib/rabbitmq/bin/rabbitmq-server \
      >"$dir/log/stdout.log" 2>&1 </dev/null &
    ctl wait "$dir/pid" --timeout 120 >/dev/null
    ;;
  stop) ctl stop >/dev/null ;;
  block) ctl set_vm_memory_high_watermark 0.0000001 >/dev/null ;;
  unblock) ctl set_vm_memory_high_watermark 0.4 >/dev/null ;;
  join)
    seed="$3@localhost"
    ctl stop_app >/dev/null
    ctl join_cluster "$seed" >/dev/null
    ctl start_app >/dev/null
    ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
