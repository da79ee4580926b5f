#!/usr/bin/env bash
# Worker drain: a 100,000-order backlog in Kafka persisted into PostgreSQL, timed from worker
# start to the last row, against one batched UNNEST insert of the same number of rows in the
# same run (the ratio is what to compare across machines). Target: <= 4 s (>= 25k orders/s).
#   ORDERS=100000 bench/worker-drain.sh
source "$(dirname "$0")/lib.sh"
target/release/examples/stack drain-bench "${ORDERS:-100000}"
