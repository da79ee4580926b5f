#!/usr/bin/env bash
# A/B of two builds of the ingestion API in one invocation: BASELINE=path/to/old/flux-gate is
# the build before a change, target/release/flux-gate the one after. Both run as extra API
# instances on one stack's Redis, Kafka and database, each selling its own product from the
# same stock, driven by the same wrk flash-sale mix (bench/order.lua), in the order
# after, before, after, before — so neither gets the warmer machine. Prints p50, p99, p99.9 and
# max of every run, and the ratio after/before of the summed throughput: the number a hot-path
# change must keep at or above 0.98 (docs/performance.md).
#   BASELINE=/tmp/flux-gate-before DURATION=10s bench/api-ab.sh
source "$(dirname "$0")/lib.sh"
: "${BASELINE:?set BASELINE to the flux-gate binary built before the change}"
DURATION=${DURATION:-10s} CONNS=${CONNS:-128} THREADS=${THREADS:-2} STOCK=${STOCK:-10000}
start_stack
LOGS=$(mktemp -d)
PIDS=()
# api BIN ADDR NAME: another API on the stack's stores, at ADDR.
api() {
  FG_LISTEN=$2 FG_REDIS_URL=$REDIS_URL FG_KAFKA_BROKERS=$KAFKA_BROKERS \
    FG_DATABASE_URL=$DATABASE_URL FG_ADMIN_TOKEN=$ADMIN_TOKEN FG_LOG=warn \
    FG_WAITING_ROOM_URL=http://127.0.0.1:9/ "$1" api >"$LOGS/$3.log" 2>&1 &
  PIDS+=($!)
}
AFTER=127.0.0.1:$(free_port)
BEFORE=127.0.0.1:$(free_port)
api target/release/flux-gate "$AFTER" after
api "$BASELINE" "$BEFORE" before
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$LOGS"; stop_stack' EXIT
for a in "$AFTER" "$BEFORE"; do wait_http "http://$a/health" || { echo "$a did not start" >&2; exit 1; }; done
init() {
  curl -sf -X POST "http://$1/init" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"productId\":\"$2\",\"quantity\":$STOCK}" >/dev/null
}
run() { PRODUCT=$2 wrk -t"$THREADS" -c"$CONNS" -d"$3" --latency -s bench/order.lua "http://$1/order"; }
line() {
  read -r rps p50 p99 p999 max <<<"$(wrk_summary "$2")"
  printf '%-22s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6s ms  max %7s ms\n' \
    "$1" "$rps" "$p50" "$p99" "$p999" "$max"
}
init "$AFTER" ab-after "$STOCK"
init "$BEFORE" ab-before "$STOCK"
run "$AFTER" ab-after 2s >/dev/null    # warm-up: sells the stock; the measured runs are the
run "$BEFORE" ab-before 2s >/dev/null  # sold-out herd, as in bench/api.sh
a1=$(run "$AFTER" ab-after "$DURATION");   line 'after  (1):' "$a1"
b1=$(run "$BEFORE" ab-before "$DURATION"); line 'before (1):' "$b1"
a2=$(run "$AFTER" ab-after "$DURATION");   line 'after  (2):' "$a2"
b2=$(run "$BEFORE" ab-before "$DURATION"); line 'before (2):' "$b2"
rps() { wrk_summary "$1" | cut -d' ' -f1; }
awk -v a1="$(rps "$a1")" -v a2="$(rps "$a2")" -v b1="$(rps "$b1")" -v b2="$(rps "$b2")" \
  'BEGIN { printf "ratio after/before: %.3f (runs: %.3f, %.3f)\n", (a1 + a2) / (b1 + b2), a1 / b1, a2 / b2 }'
for o in "$a1" "$b1" "$a2" "$b2"; do grep -E "Non-2xx|Socket errors" <<<"$o" || true; done
