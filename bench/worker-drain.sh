#!/usr/bin/env bash
# Worker drain, scaled out: a 100,000-order backlog in Kafka, spread over every partition of
# `orders` (6; product drain-P in partition P, as many products would be), persisted into
# PostgreSQL by 1 and then by 3 workers of one consumer group — each round on a fresh stack,
# timed from the workers' start to the last row, and from the first row to the last. The ratio
# 3/1 is the scale-out; the reference is one batched UNNEST insert of as many rows in the same
# run (the ratio to it is what to compare across machines). Target (1 worker): <= 4 s.
#   ORDERS=100000 WORKERS="1 3" bench/worker-drain.sh
source "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086 # WORKERS is a list of counts
target/release/examples/stack drain-bench "${ORDERS:-100000}" ${WORKERS:-1 3}
