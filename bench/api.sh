#!/usr/bin/env bash
# Ingestion API throughput and latency in a flash-sale mix (stock 10,000, then sold out), with
# wrk on loopback. References in the same run (these machines are noisy: compare ratios):
#   * the brief's minimal axum + Redis-Lua order endpoint (examples/minimal_order.rs) on the
#     same Redis, driven by the same wrk script — the ratio is what Flux-Gate's promises cost;
#   * GET /health on the API itself — the HTTP stack alone, with a static request;
#   * the replica acknowledgement (docs/decisions.md §34): a Redis replica is attached to the
#     stack's Redis and two more API instances run beside the stack's, one answering without
#     waiting (FG_REDIS_REPLICA_ACKS=0) and one waiting for the replica (=1), each selling its
#     own product of ACK_STOCK units (default 200,000: no run sells out, so every request of
#     both reserves — with 100,000 the faster one sold out and finished on cheap "sold out"
#     answers, which flattered it —, and
#     only a reservation waits) — the ratio is what surviving a failover costs.
# Target: >= 60,000 order attempts/s at p99 <= 5 ms.
#   DURATION=10s THREADS=2 CONNS=128 bench/api.sh   (the defaults; one wrk thread with a Lua
#   request() tops out near 40k req/s here and would measure wrk, not the server)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s} CONNS=${CONNS:-128} THREADS=${THREADS:-2} STOCK=${STOCK:-10000}
ACK_STOCK=${ACK_STOCK:-200000}
start_stack
MINIMAL_ADDR=127.0.0.1:$(free_port)
target/release/examples/minimal_order "$MINIMAL_ADDR" "$REDIS_URL" "$STOCK" &
PIDS=($!)
REPLICA_DIR=$(mktemp -d)
REPLICA_PORT=$(free_port)
PRIMARY=${REDIS_URL#redis://}
redis-server --port "$REPLICA_PORT" --bind 127.0.0.1 --dir "$REPLICA_DIR" --save "" \
  --appendonly no --daemonize no --logfile "$REPLICA_DIR/log" \
  --replicaof "${PRIMARY%:*}" "${PRIMARY##*:}" &
PIDS+=($!)
# api_with ACKS ADDR: another API on the stack's Redis, Kafka and database, at ADDR. (Not in a
# command substitution: its pid must reach PIDS, which the exit trap kills.)
api_with() {
  FG_LISTEN=$2 FG_REDIS_URL=$REDIS_URL FG_KAFKA_BROKERS=$KAFKA_BROKERS \
    FG_DATABASE_URL=$DATABASE_URL FG_ADMIN_TOKEN=$ADMIN_TOKEN FG_LOG=warn \
    FG_REDIS_REPLICA_ACKS=$1 FG_WAITING_ROOM_URL=http://127.0.0.1:9/ \
    target/release/flux-gate api >"$REPLICA_DIR/api-$1.log" 2>&1 &
  PIDS+=($!)
}
ASYNC_ADDR=127.0.0.1:$(free_port)
ACK_ADDR=127.0.0.1:$(free_port)
api_with 0 "$ASYNC_ADDR"
api_with 1 "$ACK_ADDR"
ASYNC_URL=http://$ASYNC_ADDR
ACK_URL=http://$ACK_ADDR
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$REPLICA_DIR"; stop_stack' EXIT
wait_http "http://$MINIMAL_ADDR/order" || { echo "minimal_order did not start" >&2; exit 1; }
for u in "$ASYNC_URL" "$ACK_URL"; do wait_http "$u/health" || { echo "$u did not start" >&2; exit 1; }; done
for _ in $(seq 1 100); do
  redis-cli -p "$REPLICA_PORT" info replication 2>/dev/null | grep -q 'master_link_status:up' && break
  sleep 0.1
done
init() {
  curl -sf -X POST "$1/init" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"productId\":\"$2\",\"quantity\":$3}" >/dev/null
}
init "$API_URL" bench "$STOCK"
init "$ASYNC_URL" bench-async "$ACK_STOCK"
init "$ACK_URL" bench-ack "$ACK_STOCK"
run() { wrk -t"$THREADS" -c"$CONNS" -d"$1" --latency "${@:2}"; }
run 2s -s bench/order.lua "$API_URL/order" >/dev/null                    # warm-up
run 2s -s bench/order.lua "http://$MINIMAL_ADDR/order" >/dev/null        # warm-up
orders=$(run "$DURATION" -s bench/order.lua "$API_URL/order")
minimal=$(run "$DURATION" -s bench/order.lua "http://$MINIMAL_ADDR/order")
health=$(run "$DURATION" "$API_URL/health")
async=$(PRODUCT=bench-async run "$DURATION" -s bench/order.lua "$ASYNC_URL/order")
acked=$(PRODUCT=bench-ack run "$DURATION" -s bench/order.lua "$ACK_URL/order")
line() {
  read -r rps p50 p99 p999 max <<<"$(wrk_summary "$2")"
  printf '%-42s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6s ms  max %7s ms\n' \
    "$1" "$rps" "$p50" "$p99" "$p999" "$max"
}
line 'POST /order flux-gate (flash-sale mix):' "$orders"
line 'POST /order minimal axum+Lua (ref):' "$minimal"
line 'GET /health flux-gate (ref):' "$health"
line 'POST /order, replica attached, no WAIT:' "$async"
line 'POST /order, replica attached, WAIT 1:' "$acked"
rps() { wrk_summary "$1" | cut -d' ' -f1; }
awk -v a="$(rps "$orders")" -v m="$(rps "$minimal")" -v h="$(rps "$health")" \
  -v n="$(rps "$async")" -v w="$(rps "$acked")" \
  'BEGIN { printf "ratio order/minimal: %.2f   order/health: %.2f   WAIT 1/no WAIT: %.2f\n", a / m, a / h, w / n }'
for p in bench bench-async bench-ack; do echo "stock after the run ($p): $(curl -sf "$API_URL/stock/$p")"; done
for o in "$orders" "$async" "$acked"; do grep -E "Non-2xx|Socket errors" <<<"$o" || true; done
