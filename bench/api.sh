#!/usr/bin/env bash
# Ingestion API throughput and latency in a flash-sale mix (stock 10,000, then sold out), with
# wrk on loopback, against GET /health on the same server in the same run (the ratio is what
# to compare across machines). Target: >= 60,000 order attempts/s at p99 <= 5 ms.
#   DURATION=10s CONNS=64 THREADS=1 bench/api.sh
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-1} STOCK=${STOCK:-10000}
start_stack
curl -sf -X POST "$API_URL/init" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"productId\":\"bench\",\"quantity\":$STOCK}" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d2s -s bench/order.lua "$API_URL/order" >/dev/null   # warm-up
orders=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/order.lua "$API_URL/order")
health=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$API_URL/health")
read -r o_rps o_p50 o_p99 <<<"$(wrk_summary "$orders")"
read -r h_rps h_p50 h_p99 <<<"$(wrk_summary "$health")"
sold=$(curl -sf "$API_URL/stock/bench")
printf 'POST /order (flash-sale mix): %8.0f req/s  p50 %5.2f ms  p99 %5.2f ms\n' "$o_rps" "$o_p50" "$o_p99"
printf 'GET /health (reference):      %8.0f req/s  p50 %5.2f ms  p99 %5.2f ms\n' "$h_rps" "$h_p50" "$h_p99"
awk -v a="$o_rps" -v b="$h_rps" 'BEGIN { printf "ratio order/health: %.2f\n", a / b }'
echo "stock after the run: $sold"
grep -E "Non-2xx|Socket errors" <<<"$orders" || true
