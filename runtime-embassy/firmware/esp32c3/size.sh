#!/usr/bin/env bash
# Builds the ESP32-C3 example firmware (`--locked`) and prints a markdown table of flash and
# static RAM. By default one build: profile `release` (opt-level "s"), without TLS. With
# `--all`: `release` and `release-z` (opt-level "z"), each without and with `--features tls`.
#
# The sections (`llvm-size -A`) that count:
#   flash      = what the app image carries, i.e. the sections espflash writes:
#                .flash.appdesc + .rodata* (DROM, read in place through the flash cache)
#                + .text (IROM, executed in place through the flash cache)
#                + .trap + .rwtext* (code copied to IRAM at boot)
#                + .data* (initial values copied to DRAM at boot)
#                + .rtc_fast.text + .rtc_fast.data (copied to RTC fast memory; usually empty)
#   static RAM = .trap + .rwtext* + .data* + .bss + .noinit: the app's share of the chip's
#                SRAM (IRAM and DRAM are the same SRAM on two buses; `.rwdata_dummy` is the
#                hole the IRAM code leaves in DRAM, counted once). It includes the static
#                heap in .bss; `.stack` (the rest of the RAM) is not counted.
#   neither:   .rotext_dummy and .rwdata_dummy (address-space reservations, no bytes),
#                .stack, .dram2_uninit, .rtc_fast.bss (NOLOAD, like .bss and .noinit: no
#                flash), and the sections at address 0 (.debug_*, .eh_frame,
#                .espressif.metadata, .comment), which stay in the ELF. `.dram2_uninit` is the
#                heap region reclaimed from the second-stage bootloader's RAM, outside the
#                app's statics: reported apart, as is `.stack`.
# The image espflash writes adds its headers and checksum (about 110 B: `espflash save-image
# --chip esp32c3 ELF app.bin` gives its size); the bootloader and partition table come apart.
#
# Usage: size.sh [--all]
# Environment: CARGO_TARGET_DIR (default: target beside this script).
# Needs: the target (`rustup target add riscv32imc-unknown-none-elf`). llvm-size comes from
# rustup's llvm-tools (added here if missing), else PATH; without either a python3 ELF reader
# is used. Exits non-zero if any build fails (the other builds still run and are measured).
set -euo pipefail

all=no
case "${1:-}" in
  "") ;;
  --all) all=yes ;;
  *) echo "usage: $0 [--all]" >&2; exit 2 ;;
esac

fw=$(cd "$(dirname "$0")" && pwd)
cd "$fw"   # its .cargo/config.toml (the target) and the toolchain file above it apply here

target=riscv32imc-unknown-none-elf
name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$fw/target}

# shellcheck source=../elf.sh
. "$fw/../elf.sh"

# "flash ram reclaimed stack" in bytes for the ELF $1 (see the header for the sections).
measure() {
  sections "$1" | awk '
    $1 ~ /^\.(flash\.appdesc|rodata.*|text|trap|rwtext.*|data.*|rtc_fast\.(text|data))$/ { flash += $2 }
    $1 ~ /^\.(trap|rwtext.*|data.*|bss|noinit)$/ { ram += $2 }
    $1 == ".dram2_uninit" { reclaimed += $2 }
    $1 == ".stack" { stack += $2 }
    END { print flash + 0, ram + 0, reclaimed + 0, stack + 0 }'
}

# The heaps' total size (the HEAP arrays of esp_alloc::heap_allocator!, not the allocator
# esp_alloc::HEAP itself), if llvm-nm is there.
heaps_of() {
  [ -n "$llvm_nm" ] || return 0
  "$llvm_nm" -S -C "$1" 2>/dev/null | awk '
    function hex(h,   i, n) { n = 0; h = tolower(h); for (i = 1; i <= length(h); i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return n }
    $4 ~ /::HEAP::/ && $4 !~ /^esp_alloc::/ { s += hex($2) }
    END { if (s) print s }' || true
}


# ---------------------------------------------------------------- builds
variants=("release no")
[ "$all" = yes ] && variants=("release no" "release yes" "release-z no" "release-z yes")

rows=()
failed=0
heap="" reclaimed="" stack=""
for v in "${variants[@]}"; do
  read -r profile tls <<<"$v"
  features=()
  [ "$tls" = yes ] && features=(--features tls)
  echo "size.sh: cargo build --locked --profile $profile ${features[*]}" >&2
  start=$(date +%s)
  if cargo build --locked --profile "$profile" "${features[@]}" >&2; then
    secs=$(( $(date +%s) - start ))
    elf=$CARGO_TARGET_DIR/$target/$profile/$name
    read -r flash ram rec stk < <(measure "$elf")
    if [ -z "$reclaimed" ]; then
      reclaimed=$rec stack=$stk
      h=$(heaps_of "$elf")
      [ -z "$h" ] || heap=$(( h - rec ))
    fi
    rows+=("| $profile | $tls | $flash | $(kib "$flash") | $ram | $(kib "$ram") | $secs |")
  else
    failed=1
    rows+=("| $profile | $tls | build failed | | | | |")
  fi
done

echo
echo "$name ($target)"
echo
echo "| profile | tls | flash (B) | flash (KiB) | static RAM (B) | static RAM (KiB) | build (s) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "release: opt-level \"s\"; release-z: opt-level \"z\". Flash: .flash.appdesc + .rodata* + .text + .trap + .rwtext* + .data* (+ .rtc_fast.text/.data), the app image's segments."
echo -n "Static RAM: .trap + .rwtext* + .data* + .bss + .noinit"
if [ -n "$heap" ]; then echo -n ", of which the static heap is $heap B ($(kib "$heap") KiB)"; fi
echo "."
if [ -n "$reclaimed" ]; then
  echo "Not counted: the heap reclaimed from the bootloader (.dram2_uninit, $reclaimed B, $(kib "$reclaimed") KiB) and the stack (.stack, the rest: $stack B, $(kib "$stack") KiB) of the first build."
fi
echo "Build times are wall-clock seconds of each build (the first one includes the dependencies)."
exit "$failed"
