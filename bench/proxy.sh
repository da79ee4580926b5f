#!/usr/bin/env bash
# Latency the embedded fault proxy adds with no toxic: redis-benchmark PING (one client, so
# every number is a round trip) straight to Redis, then through `fgchaos proxy`, in the same
# run. Target: < 100 µs added p50.
#   REQUESTS=50000 bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-50000}
cargo build --release -q -p flux-gate-chaos
dir=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(port) aport=$(port) pport=$(port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >/dev/null &
rpid=$!
target/release/fgchaos proxy --listen "127.0.0.1:$aport" >/dev/null &
ppid=$!
trap 'kill $rpid $ppid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$aport/version" >/dev/null && redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$aport/proxies" -H 'Content-Type: application/json' \
  -d "{\"name\":\"redis\",\"listen\":\"127.0.0.1:$pport\",\"upstream\":\"127.0.0.1:$rport\"}" >/dev/null
p50() { redis-benchmark -p "$1" -t ping_inline -n "$REQUESTS" -c 1 --csv 2>/dev/null | awk -F'"' 'NR==2 { print $8 }'; }
p50 "$rport" >/dev/null   # warm-up
direct=$(p50 "$rport")
proxied=$(p50 "$pport")
printf 'PING p50 direct:        %.3f ms\n' "$direct"
printf 'PING p50 through proxy: %.3f ms\n' "$proxied"
awk -v d="$direct" -v p="$proxied" 'BEGIN { printf "added p50: %.0f µs  (ratio proxied/direct %.2f)\n", (p - d) * 1000, p / d }'
