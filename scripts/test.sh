#!/usr/bin/env bash
# Runs every check and test of Signalbox, installing what is missing first (idempotently):
# formatting, clippy, the dependencies' advisories and licenses (cargo deny), the sqlx query cache, the two-step build, the wasm32 build of the mesh core,
# all Rust tests (unit, integration, browser) and the benchmarks in quick mode (criterion for
# the mesh core, bench/pages.sh for the list pages).
#   scripts/test.sh            everything
#   scripts/test.sh --no-bench skip the benchmarks
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

RUN_BENCH=1
[ "${1:-}" = "--no-bench" ] && RUN_BENCH=0

log "checking tools"
ensure_apt chromium chromium-driver postgresql-client
ensure_sqlx_cli
ensure_wasm_bindgen
ensure_test_postgres
command -v node >/dev/null || ensure_apt nodejs npm
if [ ! -d tests/oidc-provider/node_modules/oidc-provider ]; then
  log "installing the OpenID provider the browser sign-in test runs (npm ci)"
  (cd tests/oidc-provider && npm ci --no-audit --no-fund --silent)
fi

if [ ! -d tests/axe/node_modules/axe-core ]; then
  log "installing axe-core, which the browser tests run on every page (npm ci)"
  (cd tests/axe && npm ci --no-audit --no-fund --silent)
fi

log "formatting (cargo fmt --check)"
cargo fmt --all -- --check

log "lints (clippy -D warnings)"
cargo clippy --all-targets -- -D warnings

log "supply chain (cargo deny: advisories, licenses, bans, sources)"
scripts/supply-chain.sh

log "sqlx query cache is current (cargo sqlx prepare --check)"
check_db="signalbox_sqlx_check_$$"
admin_url="$SIGNALBOX_TEST_DATABASE_URL"
base_url="${admin_url%/*}"
psql -q "$admin_url" -c "drop database if exists $check_db" -c "create database $check_db" >/dev/null
if DATABASE_URL="$base_url/$check_db" sqlx migrate run --source migrations >/dev/null &&
  DATABASE_URL="$base_url/$check_db" cargo sqlx prepare --workspace --check -- -p backend; then
  prepared=1
else
  prepared=0
fi
psql -q "$admin_url" -c "drop database if exists $check_db" >/dev/null
if [ "$prepared" = 0 ]; then
  echo "the .sqlx query cache is stale: run cargo sqlx prepare --workspace -- -p backend" >&2
  exit 1
fi

log "building (server + browser bundle)"
scripts/build.sh

log "mesh core builds for wasm32"
scripts/mesh-wasm-size.sh

log "tests"
export SIGNALBOX_BIN="$ROOT/target/debug/signalbox"
cargo test --no-fail-fast

if [ "$RUN_BENCH" = 1 ]; then
  log "benchmarks (quick)"
  cargo bench -p mesh -- --quick
  log "page benchmark: review queue and my requests over 100,000 requests (quick)"
  bench/pages.sh --quick --debug
  log "delivery benchmark: approval to pull request latency (quick)"
  bench/delivery.sh --quick
  log "audit benchmark: filtered search and export over the audit history (quick)"
  bench/audit.sh --quick
fi
log "all checks passed"
