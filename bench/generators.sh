#!/usr/bin/env bash
# Load past one generator: the aggregate order attempts/s of 1, 2 and 3 `fgchaos load`
# processes making one load together (`--segment i/n`, one agreed start, the histories merged by
# `fgchaos merge`), against one API instance, closed model with the same 64 virtual users in
# all (split between the generators). The 1-generator run is the reference of the same
# invocation: each line prints its ratio to it, and the ratio per generator.
#
# On one 2-core machine the generators share the cores with the API, Redis, tansu and the
# worker, so more generators cannot add throughput here: what this measures is that splitting
# the load costs nothing, and the merged history's latency tail.
#   DURATION=10 bench/generators.sh
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10} VUS=${VUS:-64}
cargo build --release -q -p flux-gate-chaos
start_stack
curl -sf -X POST "$API_URL/init" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"productId":"bench","quantity":1000}' >/dev/null
entry=${API_URL#http://}
work=$(mktemp -d)
trap 'stop_stack; rm -rf "$work"' EXIT
target/release/fgchaos load --entry "$entry" --product bench --vus "$VUS" --duration 2s \
  --history "$work/warm.jsonl" >/dev/null   # warm-up

# run N: N generators; prints "ops/s p50 p99 p99.9 max" (latencies in ms) of the merged history
run() {
  local n=$1 start pids=() hist=()
  start=$(( $(date +%s%3N) + 1500 ))
  for i in $(seq 1 "$n"); do
    hist+=("$work/h-$n-$i.jsonl")
    target/release/fgchaos load --entry "$entry" --product bench --vus "$VUS" \
      --duration "${DURATION}s" --segment "$i/$n" --run-id "bench-$n" --start-at "$start" \
      --history "$work/h-$n-$i.jsonl" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  target/release/fgchaos merge "${hist[@]}" --out "$work/merged-$n.jsonl" >/dev/null
  python3 - "$work/merged-$n.jsonl" "$DURATION" <<'EOF'
import json, sys
lat = sorted((o["done_us"] - o["intended_us"]) / 1000 for o in map(json.loads, open(sys.argv[1])))
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{len(lat) / float(sys.argv[2]):.0f} {q(0.5):.2f} {q(0.99):.2f} {q(0.999):.2f} {lat[-1]:.2f}")
EOF
}

printf '%-12s %10s %8s %8s %8s %8s %8s %14s\n' generators 'ops/s' p50 p99 p99.9 max ratio 'per generator'
ref=
for n in 1 2 3; do
  line=$(run "$n") || { echo "bench: the run with $n generator(s) failed" >&2; exit 1; }
  read -r ops p50 p99 p999 max <<<"$line"
  ref=${ref:-$ops}
  awk -v n="$n" -v o="$ops" -v r="$ref" -v a="$p50" -v b="$p99" -v c="$p999" -v d="$max" \
    'BEGIN { printf "%-12d %10.0f %8.2f %8.2f %8.2f %8.2f %8.2f %14.2f\n", n, o, a, b, c, d, o / r, o / r / n }'
done
