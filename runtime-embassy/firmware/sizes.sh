#!/usr/bin/env bash
# Builds the example firmware in release with opt-level "s" (profile `release`) and "z"
# (profile `release-z`), each without and with `--features tls`, all `--locked`, and prints a
# markdown table of flash and static RAM:
#   flash      = .vector_table + .text + .rodata + the .data load image (its copy in flash)
#   static RAM = .data + .bss + .uninit (the 32 KiB heap is a static: it is part of .bss;
#                the stack, above the statics, is not counted)
#
# Usage: sizes.sh [FIRMWARE_DIR]   (default: nucleo-f767zi beside this script)
# Environment: CARGO_TARGET_DIR (default: FIRMWARE_DIR/target).
# Needs: the target (`rustup target add thumbv7em-none-eabihf`). llvm-size comes from rustup's
# llvm-tools (added here if missing), else PATH; without either a python3 ELF reader is used.
# Exits non-zero if any build fails (the other builds still run and are measured).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fw=$(cd "${1:-$here/nucleo-f767zi}" && pwd)
cd "$fw"   # its .cargo/config.toml (the target) and the toolchain file above it apply here

target=thumbv7em-none-eabihf
name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$fw/target}

# shellcheck source=elf.sh
. "$here/elf.sh"

# "flash ram" in bytes for the ELF $1.
measure() {
  sections "$1" | awk '
    { s[$1] += $2 }
    END { print s[".vector_table"] + s[".text"] + s[".rodata"] + s[".data"], s[".data"] + s[".bss"] + s[".uninit"] }'
}

# The static heap's size (the HEAP_MEM symbol), if llvm-nm is there.
heap_of() {
  [ -n "$llvm_nm" ] || return 0
  local h
  h=$("$llvm_nm" -S -C "$1" 2>/dev/null | awk '$4 ~ /HEAP_MEM/ { print $2; exit }') || true
  [ -z "$h" ] || echo $((16#$h))
}


# ---------------------------------------------------------------- builds
rows=()
failed=0
heap=""
for profile in release release-z; do
  for tls in no yes; do
    features=()
    [ "$tls" = yes ] && features=(--features tls)
    echo "sizes.sh: cargo build --locked --profile $profile ${features[*]}" >&2
    start=$(date +%s)
    if cargo build --locked --profile "$profile" "${features[@]}" >&2; then
      secs=$(( $(date +%s) - start ))
      elf=$CARGO_TARGET_DIR/$target/$profile/$name
      read -r flash ram < <(measure "$elf")
      [ -n "$heap" ] || heap=$(heap_of "$elf")
      rows+=("| $profile | $tls | $flash | $(kib "$flash") | $ram | $(kib "$ram") | $secs |")
    else
      failed=1
      rows+=("| $profile | $tls | build failed | | | | |")
    fi
  done
done

opt() { [ "$1" = release ] && echo s || echo z; }
echo
echo "$name ($target)"
echo
echo "| profile | tls | flash (B) | flash (KiB) | static RAM (B) | static RAM (KiB) | build (s) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "release: opt-level \"$(opt release)\"; release-z: opt-level \"$(opt release-z)\". Flash: .vector_table + .text + .rodata + .data load image."
echo -n "Static RAM: .data + .bss + .uninit"
if [ -n "$heap" ]; then echo ", of which the static heap is $heap B ($(kib "$heap") KiB)."; else echo "."; fi
echo "Build times are wall-clock seconds of each build (the first one includes the dependencies)."
exit "$failed"
