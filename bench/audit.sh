#!/usr/bin/env bash
# The audit history at scale: filtered-search latency (p50, p99) through the portal next to the
# same SQL sent directly, and CSV export rows per second next to the same query streamed
# directly, with the ratios: tests/examples/audit_search.rs on the debug build the tests use (no
# extra compile in CI).
#   bench/audit.sh           1,000,000 events, 40 runs per search
#   bench/audit.sh --quick     200,000 events, 15 runs per search (what scripts/test.sh runs)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

COUNT=1000000
RUNS=40
if [ "${1:-}" = "--quick" ]; then COUNT=200000; RUNS=15; fi
ensure_test_postgres
cargo run -q -p signalbox-tests --example audit_search -- "$COUNT" "$RUNS"
