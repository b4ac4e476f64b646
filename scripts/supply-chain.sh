#!/usr/bin/env bash
# Checks every dependency with cargo deny (configured in deny.toml): known vulnerabilities,
# unmaintained and unsound crates against the RustSec advisory database, licenses, banned and
# duplicate crates, and where crates come from.
#
# The advisory database: a fresh clone when the network reaches GitHub; otherwise a snapshot
# directory of the database (SIGNALBOX_ADVISORY_DB, or `shared/advisory-db` beside this checkout
# or beside the repository it was cloned from). The script says which one it used, and how old.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_cargo_deny

DB_URL="https://github.com/rustsec/advisory-db"
DB_ROOT="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
# Where cargo deny keeps the database of DB_URL: its last path segment and an xxHash64 of the URL.
DB_DIR="$DB_ROOT/advisory-db-3157b0e258782691"

snapshot_dir() {
  local candidates=()
  [ -n "${SIGNALBOX_ADVISORY_DB:-}" ] && candidates+=("$SIGNALBOX_ADVISORY_DB")
  candidates+=("$ROOT/../shared/advisory-db")
  local origin
  origin="$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)"
  [ -n "$origin" ] && [ -d "$origin" ] && candidates+=("$origin/../shared/advisory-db")
  for dir in "${candidates[@]}"; do
    if [ -d "$dir/crates" ]; then (cd "$dir" && pwd); return 0; fi
  done
  return 1
}

# Puts a snapshot (a plain directory) where cargo deny looks, as the one-commit git repository
# cargo deny reads; a snapshot already in place is kept.
install_snapshot() {
  local snapshot="$1" marker="$DB_DIR/.signalbox-snapshot"
  local label
  label="$(head -c 300 "$snapshot/SNAPSHOT" 2>/dev/null || echo "$snapshot")"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$label" ]; then return 0; fi
  rm -rf "$DB_DIR"
  mkdir -p "$DB_DIR"
  cp -R "$snapshot/." "$DB_DIR/"
  git -C "$DB_DIR" init -q -b main
  git -C "$DB_DIR" add -A
  git -C "$DB_DIR" -c user.name=signalbox -c user.email=signalbox@localhost \
    commit -q -m "advisory database snapshot"
  echo "$label" > "$marker"
}

if timeout 20 git ls-remote --exit-code "$DB_URL" HEAD >/dev/null 2>&1; then
  log "advisory database: fetching a fresh clone of $DB_URL"
  # A snapshot put there earlier is no clone of the URL: start afresh.
  [ -f "$DB_DIR/.signalbox-snapshot" ] && rm -rf "$DB_DIR"
  cargo deny fetch db
elif snapshot="$(snapshot_dir)"; then
  log "advisory database: GitHub is out of reach; using the snapshot in $snapshot"
  head -n 1 "$snapshot/SNAPSHOT" 2>/dev/null >&2 || true
  install_snapshot "$snapshot"
else
  echo "No advisory database: GitHub is out of reach and no snapshot was found (set" >&2
  echo "SIGNALBOX_ADVISORY_DB to a copy of github.com/rustsec/advisory-db)." >&2
  exit 1
fi

# cargo deny reads the metadata of every target's dependencies (Windows and Android ones
# included), which a build for this machine never downloads.
log "fetching every target's crates for the check"
cargo fetch --locked --quiet

log "cargo deny check: advisories, licenses, bans, sources"
# Without inclusion graphs (the duplicates alone would fill the log): a failure names the crate;
# `cargo deny check` without the flag shows what pulls it in.
cargo deny --offline check --hide-inclusion-graph --show-stats
