#!/usr/bin/env bash
# Approval → pull request latency (p50, p99), with the time spent waiting for a worker shown
# apart from the delivery itself: tests/examples/delivery_latency.rs on the debug build the tests
# use (no extra compile in CI).
#   bench/delivery.sh           40 requests
#   bench/delivery.sh --quick   15 requests (what scripts/test.sh runs)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

COUNT=40
[ "${1:-}" = "--quick" ] && COUNT=15
ensure_test_postgres
cargo run -q -p signalbox-tests --example delivery_latency -- "$COUNT"
