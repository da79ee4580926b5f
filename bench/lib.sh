# Shared by the benchmark scripts: build, start a stack (`stack up`), stop it on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p flux-gate-core --bins --examples

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL: until anything answers HTTP there (10 s at most).
wait_http() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

# Starts the full stack (API, Redis, tansu, worker, PostgreSQL) and sources its endpoints;
# stop_stack (also run on exit) takes it down.
start_stack() {
  STACK_ENV=$(mktemp)
  target/release/examples/stack up "$STACK_ENV" 2>/dev/null &
  STACK_PID=$!
  trap stop_stack EXIT
  for _ in $(seq 1 600); do [ -s "$STACK_ENV" ] && break; sleep 0.1; done
  [ -s "$STACK_ENV" ] || { echo "stack did not come up" >&2; exit 1; }
  # shellcheck disable=SC1090
  source "$STACK_ENV"
}

stop_stack() {
  kill -INT "$STACK_PID" 2>/dev/null || true
  wait "$STACK_PID" 2>/dev/null || true
  rm -f "$STACK_ENV"
}

# wrk_summary OUTPUT -> "REQS P50_MS P99_MS P999_MS MAX_MS" (p99.9 and max come from
# bench/order.lua's done(); "-" for a run without it)
wrk_summary() {
  awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    $1 == "TAIL" { p999 = sprintf("%.2f", $3 / 1000); max = sprintf("%.2f", $6 / 1000) }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%s %.2f %.2f %s %s\n", rps, ms(p50), ms(p99), (p999 == "" ? "-" : p999), (max == "" ? "-" : max) }' <<<"$1"
}
