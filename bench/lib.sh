# Shared by the benchmark scripts: build, start a stack (`stack up`), stop it on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p flux-gate-core --bins --examples

start_stack() {
  STACK_ENV=$(mktemp)
  target/release/examples/stack up "$STACK_ENV" 2>/dev/null &
  STACK_PID=$!
  trap 'kill -INT $STACK_PID 2>/dev/null || true; wait $STACK_PID 2>/dev/null || true; rm -f "$STACK_ENV"' EXIT
  for _ in $(seq 1 600); do [ -s "$STACK_ENV" ] && break; sleep 0.1; done
  [ -s "$STACK_ENV" ] || { echo "stack did not come up" >&2; exit 1; }
  # shellcheck disable=SC1090
  source "$STACK_ENV"
}

# wrk_summary OUTPUT -> "REQS P50_MS P99_MS"
wrk_summary() {
  awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%s %.2f %.2f\n", rps, ms(p50), ms(p99) }' <<<"$1"
}
