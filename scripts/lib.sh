#!/usr/bin/env bash
# Shared helpers for scripts/dev.sh and scripts/test.sh: install what a fresh Debian/Ubuntu machine
# lacks (each step is skipped when already satisfied) and start Redis and Postgres.
# Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# Pinned tool versions (docs/toolchain: they must match edge/Cargo.lock's wasm-bindgen).
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_worker_tools() {
  ensure_rust
  if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
    log "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Without --locked: the locked webpki-roots of this version does not build.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

ensure_node() {
  if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    log "installing Node.js from Debian's packages"
    apt_install nodejs npm
  fi
  # npm ci when node_modules is missing or older than the lock file.
  if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    log "installing npm packages (package-lock.json)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Debian's Chromium for the browser test (driven by playwright-core, no browser download).
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium from Debian's packages"
    apt_install chromium
  fi
}

# promtool (Debian's prometheus package) checks and unit-tests ops/prometheus/alerts.yml.
ensure_promtool() {
  if ! command -v promtool >/dev/null; then
    log "installing promtool (Debian's prometheus package)"
    apt_install prometheus
  fi
}

ensure_redis() {
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server from Debian's packages"
    apt_install redis-server redis-tools
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis on 127.0.0.1:6379 (no persistence)"
    mkdir -p /tmp/edgestock-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/edgestock-redis --logfile /tmp/edgestock-redis/redis.log
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null; then
    log "installing PostgreSQL from Debian's packages"
    apt_install postgresql postgresql-client
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    log "starting PostgreSQL"
    local ver
    ver="$(ls /etc/postgresql | sort -V | tail -n1)"
    # Trust auth on loopback for the local stack (the machine's default on this kind).
    local hba="/etc/postgresql/$ver/main/pg_hba.conf"
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test'
}

# Removes what earlier test and benchmark runs left in the local Redis (their own key prefixes
# only; nothing else is touched), so repeated runs on one machine do not accumulate keys.
clean_test_keys() {
  local p
  for p in 'gwtest:*' 'et:*' 'e2e:*' 't-origin-*' 't-origin:*' 'bench:*' 'bench-*' 'conf:*'; do
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$p" \
      | xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 unlink >/dev/null
  done
}

# Creates database $1 on the local Postgres when it does not exist.
ensure_database() {
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='$1'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$1\""
}

# Builds the worker into edge/build/ with the offline recipe (no downloads from GitHub).
build_worker() {
  ensure_worker_tools
  ensure_node
  export WASM_BINDGEN_BIN=wasm-bindgen
  export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
  export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
  log "building the worker (edge/build/index.js)"
  (cd "$ROOT/edge" && worker-build --profile wasm-release)  # opt-level z + LTO: ~735 KB instead of ~850 KB
}

# A local Redis Cluster of three primaries on loopback ports 7101-7103 (Debian's redis-server,
# no persistence, `cluster-require-full-coverage no` so a dead primary stops only its slots).
# Prints its `redis+cluster://` URL; `stop_cluster` removes it.
CLUSTER_DIR=/tmp/edgestock-cluster
start_cluster() {
  ensure_redis
  stop_cluster
  mkdir -p "$CLUSTER_DIR"
  local p nodes=()
  for p in 7101 7102 7103; do
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --cluster-enabled yes \
      --cluster-config-file "nodes-$p.conf" --cluster-node-timeout 2000 \
      --cluster-require-full-coverage no --save "" --appendonly no \
      --dir "$CLUSTER_DIR" --logfile "$CLUSTER_DIR/$p.log" --pidfile "$CLUSTER_DIR/$p.pid"
    nodes+=("127.0.0.1:$p")
  done
  for p in 7101 7102 7103; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for p in 7101 7102 7103; do
    for _ in $(seq 300); do
      redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break
      sleep 0.1
    done
  done
  echo "redis+cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
}

stop_cluster() {
  local p
  for p in 7101 7102 7103; do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$CLUSTER_DIR"
}
