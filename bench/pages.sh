#!/usr/bin/env bash
# Requests per second of the review queue and "my requests" pages over 100,000 stored requests,
# each next to a bare axum handler running the same SQL on the same data (server/examples/
# bare_lists.rs), and the ratio. The two are measured in turns, three rounds of each, and the
# medians printed: this machine's speed drifts by a fifth within minutes, and turns keep that
# out of the ratio. By default both are release builds, what production runs; --debug uses the
# build the tests use (no extra compile in CI, but Leptos' server rendering is far slower
# unoptimised, so its ratio says little).
#   bench/pages.sh                   release build, 3 rounds of 5 seconds per page
#   bench/pages.sh --quick --debug   debug build, 1 round of 3 seconds (what scripts/test.sh runs)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

DURATION=5s
ROUNDS=3
PROFILE=release
for arg in "$@"; do
  case "$arg" in
    --quick) DURATION=3s ROUNDS=1 ;;
    --debug) PROFILE=debug ;;
    --release) PROFILE=release ;;
    *) echo "usage: bench/pages.sh [--quick] [--debug]" >&2; exit 2 ;;
  esac
done
PROFILE_ARGS=()
[ "$PROFILE" = release ] && PROFILE_ARGS=(--release)

ensure_apt wrk
ensure_test_postgres
cargo build -q -p server --bin signalbox --example bare_lists "${PROFILE_ARGS[@]}"
BIN="target/$PROFILE"

db="signalbox_bench_pages"
admin="$SIGNALBOX_TEST_DATABASE_URL"
url="${admin%/*}/$db"
psql -q "$admin" -c "drop database if exists $db" -c "create database $db" >/dev/null
SIGNALBOX_DATABASE__URL="$url" "$BIN/signalbox" migrate >/dev/null
log "seeding 100,000 requests"
psql -q "$url" -f bench/seed_requests.sql >/dev/null

portal_port=39110
bare_port=39111
SIGNALBOX_DATABASE__URL="$url" SIGNALBOX_SERVER__ADDRESS="127.0.0.1:$portal_port" \
  SIGNALBOX_SERVER__LOG_FORMAT=json RUST_LOG=warn "$BIN/signalbox" demo >/dev/null 2>&1 &
portal=$!
"$BIN/examples/bare_lists" "$url" "127.0.0.1:$bare_port" &
bare=$!
cleanup() {
  kill "$portal" "$bare" 2>/dev/null || true
  wait "$portal" "$bare" 2>/dev/null || true
  psql -q "$admin" -c "drop database if exists $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$portal_port/readyz" >/dev/null && curl -fs -o /dev/null "http://127.0.0.1:$bare_port/queue" && break
  sleep 0.2
done

# A session cookie of a demo persona.
session() {
  curl -s -o /dev/null -D - -X POST -d "persona=$1&return_to=/" "http://127.0.0.1:$portal_port/auth/demo" |
    tr -d '\r' | sed -n 's/^set-cookie: \([^;]*\).*/\1/Ip' | head -n1
}

# Requests per second wrk reaches on URL with optional cookie.
rps() {
  local url="$1" cookie="${2:-}"
  local args=(-t2 -c8 -d"$DURATION")
  [ -n "$cookie" ] && args+=(-H "Cookie: $cookie")
  wrk "${args[@]}" "$url" | awk '/Requests\/sec/ { print $2 }'
}

carol=$(session carol)
alice=$(session alice)
# A short warm-up of every URL first: connections opened, statements prepared, pages cached.
for url in "queue $carol" "requests $alice"; do
  set -- $url
  wrk -t2 -c8 -d2s -H "Cookie: $2" "http://127.0.0.1:$portal_port/$1" >/dev/null
  wrk -t2 -c8 -d2s "http://127.0.0.1:$bare_port/$1" >/dev/null
done
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '\n%s build, %s rounds of %s per page and side, medians\n%-14s %14s %14s %8s\n' \
  "$PROFILE" "$ROUNDS" "$DURATION" "page" "portal req/s" "bare req/s" "ratio"
for page in "queue carol" "requests alice"; do
  set -- $page
  cookie=$([ "$2" = carol ] && echo "$carol" || echo "$alice")
  portal_runs="" bare_runs="" ratios=""
  for _ in $(seq 1 "$ROUNDS"); do
    portal_rps=$(rps "http://127.0.0.1:$portal_port/$1" "$cookie")
    bare_rps=$(rps "http://127.0.0.1:$bare_port/$1")
    portal_runs+="$portal_rps"$'\n' bare_runs+="$bare_rps"$'\n'
    ratios+=$(awk -v a="$portal_rps" -v b="$bare_rps" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print 0 }')$'\n'
  done
  printf '%-14s %14s %14s %8.2f\n' "/$1" "$(printf '%s' "$portal_runs" | median)" \
    "$(printf '%s' "$bare_runs" | median)" "$(printf '%s' "$ratios" | median)"
done
echo "goal: ratio of at least 0.33 on each page (the median of the rounds' ratios)"
