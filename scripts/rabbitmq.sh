#!/usr/bin/env bash
# A private RabbitMQ node for development and tests, without systemd.
#
#   scripts/rabbitmq.sh start    install rabbitmq-server (Debian) if missing, start the node, print its amqp URL
#   scripts/rabbitmq.sh stop     stop the node (no-op when it is not running)
#   scripts/rabbitmq.sh status   exit 0 and print the URL when the node answers, exit 1 otherwise
#   scripts/rabbitmq.sh url      print the amqp URL
#   scripts/rabbitmq.sh ctl ...  rabbitmqctl against this node (same cookie and node name)
#   scripts/rabbitmq.sh acquire ID   take a lease (test runs): start the node if needed (fresh state), print the URL
#   scripts/rabbitmq.sh release ID   drop the lease; the last holder stops the node if a lease started it
#
# Settings (environment):
#   RABBITMQ_STATE_DIR   where the node keeps its data, logs, pid file and cookie (default .data/rabbitmq)
#   RABBITMQ_NODENAME    Erlang node name (default oracle-test@localhost)
#   RABBITMQ_NODE_PORT   AMQP port (default 5673, so a system broker on 5672 is left alone)
#   RABBITMQ_DIST_PORT   Erlang distribution port (default AMQP port + 20000)
#   RABBITMQ_START_TIMEOUT  seconds to wait for the node to boot (default 60)
#
# The node listens on 127.0.0.1 only, runs no plugins (no management UI), uses the default
# guest/guest account (which RabbitMQ only accepts from loopback) and allows one hour per
# unacknowledged message (consumer_timeout) so long inference jobs are not cut off.
# docs/OPERATIONS.md explains how to run a broker that workers on other machines can reach.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${RABBITMQ_STATE_DIR:-$ROOT/.data/rabbitmq}"
case "$STATE_DIR" in /*) ;; *) STATE_DIR="$ROOT/$STATE_DIR" ;; esac
NODE="${RABBITMQ_NODENAME:-oracle-test@localhost}"
PORT="${RABBITMQ_NODE_PORT:-5673}"
DIST_PORT="${RABBITMQ_DIST_PORT:-$((PORT + 20000))}"
START_TIMEOUT="${RABBITMQ_START_TIMEOUT:-60}"
URL="amqp://guest:guest@127.0.0.1:${PORT}"
PID_FILE="$STATE_DIR/rabbitmq.pid"
# Debian's /usr/sbin wrappers switch to the rabbitmq user and its HOME (and its cookie); the
# scripts under /usr/lib/rabbitmq/bin run as the caller, so server and rabbitmqctl both read the
# cookie in $STATE_DIR (HOME below) and agree.
BIN=/usr/lib/rabbitmq/bin

log() { echo "rabbitmq.sh: $*" >&2; }

install_server() {
  if [ -x "$BIN/rabbitmq-server" ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    log "rabbitmq-server is not installed and installing it needs root: apt-get install rabbitmq-server"
    exit 1
  fi
  log "installing rabbitmq-server from Debian"
  local started=$SECONDS
  # The package's postinst would start a system broker on 5672 where an init system exists;
  # policy-rc.d tells it not to, and any broker it did start is stopped below.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
  if command -v service >/dev/null 2>&1; then service rabbitmq-server stop >/dev/null 2>&1 || true; fi
  # A system node started by the package (rabbit@<host>) would hold epmd's name table and 5672/25672.
  HOME=/var/lib/rabbitmq "$BIN/rabbitmqctl" stop >/dev/null 2>&1 || true
  log "installed in $((SECONDS - started)) s"
}

node_env() {
  export HOME="$STATE_DIR"
  export RABBITMQ_NODENAME="$NODE"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$PORT"
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export RABBITMQ_MNESIA_BASE="$STATE_DIR/mnesia"
  export RABBITMQ_LOG_BASE="$STATE_DIR/log"
  export RABBITMQ_PID_FILE="$PID_FILE"
  export RABBITMQ_CONFIG_FILE="$STATE_DIR/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$STATE_DIR/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$STATE_DIR/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$STATE_DIR/enabled_plugins"
  export RABBITMQ_ENABLED_PLUGINS=""
  # Erlang distribution (rabbitmqctl) on loopback only as well.
  export RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

write_config() {
  mkdir -p "$STATE_DIR/mnesia" "$STATE_DIR/log"
  if [ ! -s "$STATE_DIR/.erlang.cookie" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE_DIR/.erlang.cookie")
  fi
  chmod 400 "$STATE_DIR/.erlang.cookie"
  cat >"$STATE_DIR/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$PORT
# guest/guest is accepted from loopback only (RabbitMQ's default, stated here on purpose).
loopback_users.guest = true
# One hour per unacknowledged delivery: inference jobs can be long.
consumer_timeout = 3600000
log.console = false
log.file.level = warning
EOF
  echo "[]." >"$STATE_DIR/advanced.config"
  echo "[]." >"$STATE_DIR/enabled_plugins"
  : >"$STATE_DIR/rabbitmq-env.conf"
}

ctl() { node_env; "$BIN/rabbitmqctl" -n "$NODE" "$@"; }

running() {
  [ -x "$BIN/rabbitmqctl" ] || return 1
  [ -s "$PID_FILE" ] || return 1
  kill -0 "$(cat "$PID_FILE")" 2>/dev/null || return 1
  (node_env; timeout 20 "$BIN/rabbitmqctl" -n "$NODE" -q ping >/dev/null 2>&1)
}

start() {
  install_server
  if running; then echo "$URL"; return; fi
  write_config
  node_env
  rm -f "$PID_FILE"
  local started=$SECONDS
  # setsid: the node outlives this shell and the process group of whoever called us.
  # Descriptors above 2 are closed so that the node never inherits a caller's lock (flock) or pipe.
  setsid "$BIN/rabbitmq-server" >"$STATE_DIR/log/startup.out" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  local launcher=$!
  local waited=0
  while [ ! -s "$PID_FILE" ]; do
    if ! kill -0 "$launcher" 2>/dev/null && [ ! -s "$PID_FILE" ]; then
      log "the node exited during start-up:"; tail -n 30 "$STATE_DIR/log/startup.out" >&2; exit 1
    fi
    if [ "$waited" -ge $((START_TIMEOUT * 10)) ]; then
      log "no pid file after ${START_TIMEOUT} s"; tail -n 30 "$STATE_DIR/log/startup.out" >&2; exit 1
    fi
    sleep 0.1; waited=$((waited + 1))
  done
  if ! timeout "$START_TIMEOUT" "$BIN/rabbitmqctl" -n "$NODE" -q wait --pid "$(cat "$PID_FILE")" --timeout "$START_TIMEOUT" >/dev/null 2>&1; then
    log "node $NODE did not become ready in ${START_TIMEOUT} s; last lines of its output:"
    tail -n 30 "$STATE_DIR/log/startup.out" >&2
    exit 1
  fi
  log "node $NODE up on port $PORT in $((SECONDS - started)) s"
  echo "$URL"
}

stop() {
  if [ ! -x "$BIN/rabbitmqctl" ] || [ ! -s "$PID_FILE" ]; then return; fi
  local pid
  pid="$(cat "$PID_FILE")"
  if kill -0 "$pid" 2>/dev/null; then
    (node_env; timeout 60 "$BIN/rabbitmqctl" -n "$NODE" -q stop "$PID_FILE" >/dev/null 2>&1) || kill "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

# Leases let concurrent test runs share one node: acquire and release run under one lock, and the
# node is stopped by the last release only if an acquire started it.
with_lock() { mkdir -p "$STATE_DIR/leases"; exec 9>"$STATE_DIR/.lock"; flock 9; }

acquire() {
  with_lock
  touch "$STATE_DIR/leases/$1"
  if ! running; then
    rm -rf "$STATE_DIR/mnesia" # a fresh broker: no queues left from earlier runs
    touch "$STATE_DIR/started-by-lease"
  fi
  start
}

release() {
  with_lock
  rm -f "$STATE_DIR/leases/$1"
  local f
  for f in "$STATE_DIR"/leases/*; do
    [ -e "$f" ] || continue
    if kill -0 "$(basename "$f")" 2>/dev/null; then return; fi
    rm -f "$f" # its test run is gone
  done
  if [ -e "$STATE_DIR/started-by-lease" ]; then
    stop
    rm -f "$STATE_DIR/started-by-lease"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "$URL"; else echo "not running" >&2; exit 1; fi ;;
  url) echo "$URL" ;;
  ctl) shift; ctl "$@" ;;
  acquire) acquire "${2:?lease id}" ;;
  release) release "${2:?lease id}" ;;
  *) echo "usage: $0 start|stop|status|url|ctl <rabbitmqctl args>|acquire ID|release ID" >&2; exit 2 ;;
esac
