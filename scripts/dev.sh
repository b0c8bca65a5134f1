#!/usr/bin/env bash
# Brings up the whole stack locally, installing what is missing first:
#   Redis 127.0.0.1:6379, Postgres 127.0.0.1:5432, gateway 127.0.0.1:8079, origin 127.0.0.1:8080
#   (migrated and seeded with demo SKUs), the worker in `wrangler dev` on 127.0.0.1:8787 with the demo page.
# Ctrl-C stops everything this script started. `DEMO_CHECKOUT=1` also starts the demo checkout
# backend (DEMO ONLY: confirms placed orders with a made-up payment, see docs/checkout-backend.md).
# The dev stack keeps its own database, apart from the `test` one the tests use.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/edgestock}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# Local-only secrets; production uses `wrangler secret put` and a secret store (see README).
export GATEWAY_TOKEN="${GATEWAY_TOKEN:-dev-gateway-token}"
export ORIGIN_API_KEY="${ORIGIN_API_KEY:-dev-origin-key}"
export ADMIN_API_KEY="${ADMIN_API_KEY:-dev-admin-key}"
export METRICS_TOKEN="${METRICS_TOKEN:-dev-metrics-token}"
export EDGE_ORIGIN_SECRET="${EDGE_ORIGIN_SECRET:-dev-edge-origin-secret}"
export RESERVATION_TOKEN_SECRET="${RESERVATION_TOKEN_SECRET:-dev-reservation-token-secret}"
export GATEWAY_LISTEN=127.0.0.1:8079 ORIGIN_LISTEN=127.0.0.1:8080
export REDIS_REST_URL=http://127.0.0.1:8079 REDIS_REST_TOKEN="$GATEWAY_TOKEN"
export SEED_ON_STARTUP=true
export RUST_LOG="${RUST_LOG:-info}"

ensure_rust
ensure_node
ensure_redis
ensure_postgres
ensure_database "${DATABASE_URL##*/}"
build_worker
# The origin joins the stack once its crate has a binary (see README, "Status").
HAVE_ORIGIN=0
[ -f "$ROOT/origin/src/main.rs" ] && HAVE_ORIGIN=1
log "building the release binaries"
if [ "$HAVE_ORIGIN" = 1 ]; then
  cargo build --release -p edgestock-gateway -p origin
else
  cargo build --release -p edgestock-gateway
fi

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  log "stopping the stack"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

wait_http() { # url name
  for _ in $(seq 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "$2 did not come up at $1" >&2
  exit 1
}

mkdir -p "$ROOT/target/dev-logs"
"$ROOT/target/release/edgestock-gateway" >"$ROOT/target/dev-logs/gateway.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:8079/healthz gateway
if [ "$HAVE_ORIGIN" = 1 ]; then
  "$ROOT/target/release/origin" >"$ROOT/target/dev-logs/origin.log" 2>&1 &
  PIDS+=($!)
  wait_http http://127.0.0.1:8080/healthz origin

  log "seeding demo SKUs through the origin's admin API"
  for spec in DEMO-SNEAKER:50:10 DEMO-HOODIE:5:5 DEMO-CAP:0:5; do
    IFS=: read -r sku qty low <<<"$spec"
    curl -fsS -X PUT "http://127.0.0.1:8080/v1/admin/skus/$sku" \
      -H "authorization: Bearer $ADMIN_API_KEY" -H 'content-type: application/json' \
      -d "{\"name\":\"$sku\",\"on_hand\":$qty,\"low_stock_threshold\":$low}" >/dev/null
  done
  # A store for the page's "pick up in store" choice, with 3 more hoodies there (idempotent: the
  # same movement id on every start, and the PUT above sets only the default location's 5).
  curl -fsS -X PUT "http://127.0.0.1:8080/v1/admin/locations/store-12" \
    -H "authorization: Bearer $ADMIN_API_KEY" -H 'content-type: application/json' \
    -d '{"name":"Store 12","kind":"store","priority":5,"active":true,"ships":false,"pickup":true}' >/dev/null
  curl -sS -o /dev/null -X POST "http://127.0.0.1:8080/v1/admin/skus/DEMO-HOODIE/adjustments" \
    -H "authorization: Bearer $ADMIN_API_KEY" -H 'content-type: application/json' \
    -d '{"delta":3,"reason":"restock","movement_id":"demo-store-12-hoodies","location":"store-12"}'
fi

# DEMO ONLY, off unless asked: a stand-in checkout backend that "receives the payment" and
# confirms placed orders, so the whole flow can be clicked through on the demo page.
DEMO_PAGE="http://127.0.0.1:8787/demo.html"
if [ "${DEMO_CHECKOUT:-0}" = 1 ] && [ "$HAVE_ORIGIN" = 1 ]; then
  DEMO_CHECKOUT_LISTEN=127.0.0.1:8788 ORIGIN_URL=http://127.0.0.1:8080 ORIGIN_API_KEY="$ORIGIN_API_KEY" \
    node "$ROOT/scripts/demo-checkout.mjs" >"$ROOT/target/dev-logs/demo-checkout.log" 2>&1 &
  PIDS+=($!)
  DEMO_PAGE="$DEMO_PAGE?checkout=http://127.0.0.1:8788"
fi

cat >"$ROOT/.dev.vars" <<VARS
REDIS_REST_TOKEN=$GATEWAY_TOKEN
RESERVATION_TOKEN_SECRET=$RESERVATION_TOKEN_SECRET
EDGE_ORIGIN_SECRET=$EDGE_ORIGIN_SECRET
VARS
# The worker is built already: run wrangler from a copy of wrangler.toml without [build].
awk '/^\[build\]/{skip=1; next} /^\[/{skip=0} !skip' "$ROOT/wrangler.toml" >"$ROOT/wrangler.dev.toml"
WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false \
  "$ROOT/node_modules/.bin/wrangler" dev --ip 127.0.0.1 --port 8787 --config "$ROOT/wrangler.dev.toml" \
  >"$ROOT/target/dev-logs/worker.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:8787/healthz worker

cat <<INFO

  edgestock is running (logs in target/dev-logs/):
    demo page   $DEMO_PAGE
    edge API    http://127.0.0.1:8787/v1/stock/DEMO-SNEAKER
    origin API  http://127.0.0.1:8080   (Bearer $ORIGIN_API_KEY; admin: Bearer $ADMIN_API_KEY)
    metrics     http://127.0.0.1:8080/metrics   (Bearer $METRICS_TOKEN)
    gateway     http://127.0.0.1:8079   (Bearer $GATEWAY_TOKEN)
    Redis       redis://127.0.0.1:6379   Postgres $DATABASE_URL

  Ctrl-C stops everything.
INFO
wait -n "${PIDS[@]}" || true
log "a component exited; see target/dev-logs/"
