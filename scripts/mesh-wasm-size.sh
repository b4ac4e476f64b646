#!/usr/bin/env bash
# Builds the pure `mesh` core for wasm32 on its own (mesh/wasm-probe) and prints its size, raw and
# gzip: `mesh` must stay free of IO so the browser can run it for the live preview.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_wasm_bindgen
setup_wasm_toolchain
"${WASM_CARGO[@]}" build -p mesh-wasm-probe --lib --target wasm32-unknown-unknown \
  --profile wasm-release --target-dir "$WASM_TARGET_DIR"
out="$ROOT/target/mesh-wasm"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$out" "$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/mesh_wasm_probe.wasm"
raw=$(stat -c %s "$out/mesh_wasm_probe_bg.wasm")
gz=$(gzip -9 -c "$out/mesh_wasm_probe_bg.wasm" | wc -c)
printf 'mesh core (wasm32): %d KiB raw, %d KiB gzip\n' $((raw / 1024)) $((gz / 1024))
