#!/usr/bin/env bash
# Runs every benchmark and writes bench-results/report.md (a markdown table per benchmark, with
# the date and the machine). Every load is bounded in requests and time and aimed at 127.0.0.1.
#   scripts/bench.sh            # all of them (a few minutes)
#   scripts/bench.sh --quick    # smaller runs
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
ensure_rust
ensure_node
ensure_redis
ensure_postgres

OUT="$ROOT/bench-results"
mkdir -p "$OUT"
REPORT="$OUT/report.md"
{
  echo "# edgestock benchmarks"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "- Redis: $(redis-server --version | awk '{print $3}'), Postgres: $(psql --version | awk '{print $3}')"
  echo "- load generator and servers share the same cores"
  echo
} >"$REPORT"

section() { echo -e "\n## $1\n" >>"$REPORT"; echo "\$ $2" >>"$REPORT"; echo >>"$REPORT"; }

log "building benchmarks (release)"
cargo build --release -p edgestock-bench

log "gateway vs direct Redis"
REQ=100000; [ "$QUICK" = 1 ] && REQ=30000
section "Gateway vs direct Redis (EVALSHA of a reserve-style script, 50 connections)" \
  "target/release/gateway-bench --requests $REQ --seconds 20"
target/release/gateway-bench --requests "$REQ" --seconds 20 | tee -a "$REPORT"

log "Redis CPU per script call"
section "Lua engine: Redis CPU per call (INFO commandstats) and direct throughput" \
  "target/release/engine-bench"
if [ "$QUICK" = 1 ]; then
  target/release/engine-bench --quick | tee -a "$REPORT"
else
  target/release/engine-bench | tee -a "$REPORT"
fi

log "sharding: a reservation on one shard vs two, one primary vs three"
section "Sharding on a private three-primary Redis Cluster through the gateway" \
  "target/release/shard-bench"
if [ "$QUICK" = 1 ]; then
  target/release/shard-bench --quick | tee -a "$REPORT"
else
  target/release/shard-bench | tee -a "$REPORT"
fi

log "origin confirm vs hot-row UPDATE"
section "Origin confirm vs the hot-row UPDATE baseline (50 concurrent checkouts, one hot SKU)" \
  "target/release/origin-bench --confirms 4000 --seconds 30 --rounds 2"
target/release/origin-bench --confirms 4000 --seconds 30 --rounds 2 | tee -a "$REPORT"

build_worker
log "edge through workerd"
section "Edge (the worker in workerd via Miniflare) vs gateway-direct and Redis-direct, 50 connections" \
  "target/release/edge-bench"
EDGE_BENCH_SECONDS=5 EDGE_BENCH_CONNECTIONS=50 target/release/edge-bench | tee -a "$REPORT"

log "flash sale through workerd: losers with the edge's memory off and on"
ATTEMPTS=10000; [ "$QUICK" = 1 ] && ATTEMPTS=3000
section "Flash sale through the worker: $ATTEMPTS shoppers for 100 units, 50 connections, memory off vs on" \
  "FLASH_ATTEMPTS=$ATTEMPTS target/release/flash-bench"
FLASH_ATTEMPTS="$ATTEMPTS" FLASH_UNITS=100 FLASH_CONNECTIONS=50 target/release/flash-bench | tee -a "$REPORT"

clean_test_keys
python3 "$ROOT/scripts/bench_summary.py" "$REPORT"
tail -n 16 "$REPORT"
log "report written to $REPORT"
