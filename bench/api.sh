#!/usr/bin/env bash
# Ingestion API throughput and latency in a flash-sale mix (stock 10,000, then sold out), with
# wrk on loopback. Two references in the same run (these machines are noisy: compare ratios):
#   * the brief's minimal axum + Redis-Lua order endpoint (examples/minimal_order.rs) on the
#     same Redis, driven by the same wrk script — the ratio is what Flux-Gate's promises cost;
#   * GET /health on the API itself — the HTTP stack alone, with a static request.
# Target: >= 60,000 order attempts/s at p99 <= 5 ms.
#   DURATION=10s THREADS=2 CONNS=128 bench/api.sh   (the defaults; one wrk thread with a Lua
#   request() tops out near 40k req/s here and would measure wrk, not the server)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s} CONNS=${CONNS:-128} THREADS=${THREADS:-2} STOCK=${STOCK:-10000}
start_stack
MINIMAL_ADDR=127.0.0.1:$(free_port)
target/release/examples/minimal_order "$MINIMAL_ADDR" "$REDIS_URL" "$STOCK" &
MINIMAL_PID=$!
trap 'kill $MINIMAL_PID 2>/dev/null || true; stop_stack' EXIT
wait_http "http://$MINIMAL_ADDR/order" || { echo "minimal_order did not start" >&2; exit 1; }
curl -sf -X POST "$API_URL/init" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"productId\":\"bench\",\"quantity\":$STOCK}" >/dev/null
run() { wrk -t"$THREADS" -c"$CONNS" -d"$1" --latency "${@:2}"; }
run 2s -s bench/order.lua "$API_URL/order" >/dev/null                    # warm-up
run 2s -s bench/order.lua "http://$MINIMAL_ADDR/order" >/dev/null        # warm-up
orders=$(run "$DURATION" -s bench/order.lua "$API_URL/order")
minimal=$(run "$DURATION" -s bench/order.lua "http://$MINIMAL_ADDR/order")
health=$(run "$DURATION" "$API_URL/health")
read -r o_rps o_p50 o_p99 <<<"$(wrk_summary "$orders")"
read -r m_rps m_p50 m_p99 <<<"$(wrk_summary "$minimal")"
read -r h_rps h_p50 h_p99 <<<"$(wrk_summary "$health")"
sold=$(curl -sf "$API_URL/stock/bench")
printf 'POST /order flux-gate (flash-sale mix): %8.0f req/s  p50 %5.2f ms  p99 %5.2f ms\n' "$o_rps" "$o_p50" "$o_p99"
printf 'POST /order minimal axum+Lua (ref):     %8.0f req/s  p50 %5.2f ms  p99 %5.2f ms\n' "$m_rps" "$m_p50" "$m_p99"
printf 'GET /health flux-gate (ref):            %8.0f req/s  p50 %5.2f ms  p99 %5.2f ms\n' "$h_rps" "$h_p50" "$h_p99"
awk -v a="$o_rps" -v m="$m_rps" -v h="$h_rps" \
  'BEGIN { printf "ratio order/minimal: %.2f   order/health: %.2f\n", a / m, a / h }'
echo "stock after the run: $sold"
grep -E "Non-2xx|Socket errors" <<<"$orders" || true
