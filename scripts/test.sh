#!/usr/bin/env bash
# Runs every test of edgestock on this machine, installing what is missing first.
#   scripts/test.sh            # everything: format, lints, host + wasm build, all tests
# Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), REDIS_URL.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_node
ensure_redis
ensure_postgres
ensure_chromium
ensure_promtool
clean_test_keys
build_worker

log "promtool: check and unit-test the alert rules"
promtool check rules ops/prometheus/alerts.yml
(cd ops/prometheus && promtool test rules alerts_test.yml)

log "cargo fmt --check"
cargo fmt --all --check

log "clippy (host, all targets) and clippy (edge on wasm32)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p edge --target wasm32-unknown-unknown -- -D warnings

log "cargo test --workspace"
cargo test --workspace --all-features

log "the engine suite again, on a local three-primary Redis Cluster through the gateway"
cluster_url="$(start_cluster)"
trap stop_cluster EXIT
EDGESTOCK_TEST_CLUSTER="$cluster_url" cargo test -p edgestock-core --all-features --test engine
stop_cluster
trap - EXIT
