#!/usr/bin/env bash
# fgchaos's load generator against wrk, on the same endpoint in the same run: POST /order on
# one ingestion API (sold out after the first units, the hot path of a flash sale), 64
# connections, closed model. fgchaos records the full history (one JSON line per attempt);
# wrk records nothing. Target: ratio fgchaos/wrk >= 0.8.
#   DURATION=10 CONNS=64 bench/loadgen.sh
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10} CONNS=${CONNS:-64}
cargo build --release -q -p flux-gate-chaos
start_stack
curl -sf -X POST "$API_URL/init" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"productId":"bench","quantity":1000}' >/dev/null
entry=${API_URL#http://}
hist=$(mktemp)
wrk -t1 -c"$CONNS" -d2s -s bench/order.lua "$API_URL/order" >/dev/null   # warm-up
w=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s bench/order.lua "$API_URL/order")
read -r w_rps _ _ <<<"$(wrk_summary "$w")"
f=$(target/release/fgchaos load --entry "$entry" --product bench --vus "$CONNS" --duration "${DURATION}s" --history "$hist")
f_rps=$(sed -E 's/.*requests [0-9]+ +([0-9]+) req\/s.*/\1/' <<<"$f")
lines=$(wc -l <"$hist")
rm -f "$hist"
printf 'wrk (no history):          %8.0f req/s\n' "$w_rps"
printf 'fgchaos load (history):    %8.0f req/s  (%s history lines)\n' "$f_rps" "$lines"
awk -v a="$f_rps" -v b="$w_rps" 'BEGIN { printf "ratio fgchaos/wrk: %.2f\n", a / b }'
