#!/usr/bin/env bash
# The tail the embedded fault proxy adds, with no toxic: ROUND_TRIPS sequential calls of a
# script shaped like the reservation (INCR + XADD of a 300-byte field) straight to Redis and
# through `fgchaos proxy`, interleaved in blocks of 1,000 in the same run
# (flux-gate-chaos/examples/proxy_tail.rs). Prints p50, p99, p99.9, max of both, what the
# proxy adds, and the round trips >= 5 ms slower than the direct p99.
# Targets: added p99 < 0.2 ms, added p99.9 < 1 ms, zero such stalls.
#   ROUND_TRIPS=100000 bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUND_TRIPS=${ROUND_TRIPS:-100000}
# The same selection as `make build`, so the artifacts are shared (a `-p` build unifies
# features differently and rebuilds dependencies).
cargo build --release -q --workspace --bins --examples
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
target/release/examples/proxy_tail "127.0.0.1:$rport" "127.0.0.1:$pport" "$ROUND_TRIPS"
