#!/usr/bin/env bash
# Builds Signalbox and runs the demo on embedded defaults. Without a reachable database it starts a
# throwaway PostgreSQL under .data/ (installing the Debian `postgresql` package if needed).
#   scripts/demo.sh [extra `signalbox demo` arguments]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  ensure_apt postgresql
fi
scripts/build.sh --release

export SIGNALBOX_DATABASE__EMBEDDED__DATA_DIR="${SIGNALBOX_DATABASE__EMBEDDED__DATA_DIR:-$ROOT/.data/postgres}"
export SIGNALBOX_SERVER__SITE_ROOT="${SIGNALBOX_SERVER__SITE_ROOT:-$ROOT/target/site}"
log "starting the demo (Ctrl-C stops it)"
exec target/release/signalbox demo "$@"
