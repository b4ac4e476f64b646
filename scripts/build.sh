#!/usr/bin/env bash
# Builds Signalbox in two steps: the server binary, then the browser bundle (the `frontend` crate
# compiled to wasm32, bound with wasm-bindgen) together with the stylesheet, into target/site/pkg.
#   scripts/build.sh [--release]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PROFILE_ARGS=()
[ "${1:-}" = "--release" ] && PROFILE_ARGS=(--release)

ensure_wasm_bindgen
setup_wasm_toolchain

log "building the server"
cargo build -p server "${PROFILE_ARGS[@]}"

log "building the browser bundle (wasm32)"
"${WASM_CARGO[@]}" build -p frontend --lib --target wasm32-unknown-unknown \
  --profile wasm-release --target-dir "$WASM_TARGET_DIR"

SITE="$ROOT/target/site"
mkdir -p "$SITE/pkg"
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$SITE/pkg" --out-name signalbox \
  "$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"
ensure_wasm_opt
if [ -n "$WASM_OPT" ]; then
  "$WASM_OPT" -Oz -o "$SITE/pkg/signalbox_bg.wasm" "$SITE/pkg/signalbox_bg.wasm"
else
  log "wasm-opt not available; the bundle is not size-optimised further"
fi
cat "$ROOT"/style/*.css > "$SITE/pkg/signalbox.css"

raw=$(stat -c %s "$SITE/pkg/signalbox_bg.wasm")
gz=$(gzip -9 -c "$SITE/pkg/signalbox_bg.wasm" | wc -c)
printf 'browser bundle: signalbox_bg.wasm %d KiB raw, %d KiB gzip\n' $((raw / 1024)) $((gz / 1024))
js_gz=$(gzip -9 -c "$SITE/pkg/signalbox.js" | wc -c)
css_gz=$(gzip -9 -c "$SITE/pkg/signalbox.css" | wc -c)
# Only the request forms, the YAML editor and the request page load the bundle (app::hydrates);
# the first page (sign-in, then the overview) is complete as the server renders it.
printf 'first page (sign-in, overview, lists, audit): stylesheet %d KiB gzip, no script, no wasm\n' $((css_gz / 1024))
printf 'interactive pages (forms, YAML editor, request page): + %d KiB gzip (script and wasm)\n' $(((js_gz + gz) / 1024))
