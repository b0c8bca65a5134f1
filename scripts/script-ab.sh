#!/usr/bin/env bash
# Paired A/B of the hot Lua scripts (reserve, stock_read): this checkout's against another
# revision's, both on one private redis-server (see bench/src/bin/script_ab.rs and
# docs/benchmarks.md). Loopback only, a fixed number of rounds.
#   scripts/script-ab.sh REV [--before-layout unsharded] [--rounds N]
# Use --before-layout unsharded for a revision from before logical shards (ecf180a and older).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

REV="${1:?usage: scripts/script-ab.sh REV [--before-layout unsharded] [--rounds N]}"
shift
ensure_rust
ensure_redis

TMP="$(mktemp -d)"
cleanup() { git worktree remove --force "$TMP/src" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

log "assembling the scripts of $REV"
git worktree add --detach -q "$TMP/src" "$REV"
(cd "$TMP/src" && CARGO_TARGET_DIR="$TMP/target" cargo build -q -p edgestock-lua)
BEFORE="$(dirname "$(ls -t "$TMP"/target/debug/build/edgestock-lua-*/out/reserve.lua | head -1)")"

log "building script-ab (release)"
cargo build -q --release -p edgestock-bench --bin script-ab
target/release/script-ab --before "$BEFORE" "$@"
