# Shared helpers for the project scripts. Every install step is idempotent: it checks first and
# does nothing when the tool is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION="0.2.130"   # must equal the `wasm-bindgen` pin in Cargo.toml
SQLX_CLI_VERSION="0.8.6"         # must equal the `sqlx` version in Cargo.lock
CARGO_DENY_VERSION="0.20.2"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

APT_UPDATED=""
# ensure_apt PACKAGE... : installs the Debian packages that are missing.
ensure_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_cargo_tool BINARY CRATE VERSION [cargo install args...]
ensure_cargo_tool() {
  local bin="$1" crate="$2" version="$3"; shift 3
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -q "$version"; then return 0; fi
  log "installing $crate $version from crates.io"
  cargo install "$crate" --version "$version" "$@"
}

ensure_cargo_deny() {
  # A debug build: it checks in seconds either way, and compiles in about a minute instead of
  # several on two cores.
  ensure_cargo_tool cargo-deny cargo-deny "$CARGO_DENY_VERSION" --locked --debug
}

ensure_wasm_bindgen() {
  # Not --locked: the CLI's lockfile wants a crate version the registry no longer serves.
  ensure_cargo_tool wasm-bindgen wasm-bindgen-cli "$WASM_BINDGEN_VERSION"
}

ensure_sqlx_cli() {
  ensure_cargo_tool sqlx sqlx-cli "$SQLX_CLI_VERSION" --no-default-features --features postgres,rustls
}

# The wasm32 toolchain: the rustup target when installed; otherwise Debian's rustc-web, which
# builds the wasm32 standard library from source (-Zbuild-std). Sets WASM_CARGO (an array).
setup_wasm_toolchain() {
  if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    WASM_CARGO=(cargo)
    WASM_TARGET_DIR="$ROOT/target"
    return 0
  fi
  ensure_apt rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  WASM_CARGO=(env PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
    /usr/bin/cargo -Zbuild-std=std,panic_abort)
  # A separate target dir: the two toolchains' artifacts must never mix.
  WASM_TARGET_DIR="$ROOT/target-wasm"
}

# The database server the tests use, exported as SIGNALBOX_TEST_DATABASE_URL: a server on
# 127.0.0.1:5432 that lets `postgres` in without a password (as CI's does) is used as it is;
# otherwise a throwaway cluster on 127.0.0.1:55432 is started (or reused, if a killed run left it
# running) and stopped again when the script exits.
ensure_test_postgres() {
  if [ -n "${SIGNALBOX_TEST_DATABASE_URL:-}" ]; then return 0; fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if PGCONNECT_TIMEOUT=3 psql -w -q "$local_url" -c 'select 1' >/dev/null 2>&1; then
    export SIGNALBOX_TEST_DATABASE_URL="$local_url"
    return 0
  fi
  ensure_apt postgresql
  # Under /tmp, which the `postgres` user can reach even when the checkout is under /root.
  local port=55432 dir="${TMPDIR:-/tmp}/signalbox-test-postgres"
  local bindir; bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  local runas=()
  if [ "$(id -u)" = 0 ]; then runas=(runuser -u postgres --); fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; fi
  if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
    "${runas[@]}" "$bindir/initdb" --auth=trust --username=postgres --no-sync -D "$dir/pgdata" >/dev/null
  fi
  if ! "${runas[@]}" "$bindir/pg_ctl" -D "$dir/pgdata" status >/dev/null 2>&1; then
    log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
    "${runas[@]}" "$bindir/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off -c max_connections=200" \
      start >/dev/null
  fi
  # shellcheck disable=SC2064
  trap "${runas[*]} $bindir/pg_ctl -D $dir/pgdata -m fast -w stop >/dev/null" EXIT
  export SIGNALBOX_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# wasm-opt: the system's when installed, else binaryen from the npm registry (a node build of it)
# in target/tools. Sets WASM_OPT to the command, or leaves it empty when neither can be had.
BINARYEN_VERSION="132.0.0"
ensure_wasm_opt() {
  WASM_OPT=""
  if command -v wasm-opt >/dev/null; then WASM_OPT="wasm-opt"; return 0; fi
  local tools="$ROOT/target/tools"
  if [ ! -x "$tools/node_modules/.bin/wasm-opt" ] && command -v npm >/dev/null; then
    log "installing binaryen $BINARYEN_VERSION (wasm-opt) from the npm registry"
    mkdir -p "$tools"
    npm install --silent --no-audit --no-fund --prefix "$tools" "binaryen@$BINARYEN_VERSION" >/dev/null || true
  fi
  [ -x "$tools/node_modules/.bin/wasm-opt" ] && WASM_OPT="$tools/node_modules/.bin/wasm-opt"
  return 0
}
