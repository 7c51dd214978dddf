# The ELF readers both firmware size scripts use (sourced): `sections ELF` prints "name size"
# for every section, `kib BYTES` one decimal of KiB; `$llvm_nm` is set when llvm-nm is there.
# llvm-size comes from rustup's llvm-tools (added if missing), else PATH; without either a
# python3 ELF reader is used.

# ---------------------------------------------------------------- llvm-size
find_llvm_tool() { # $1: tool name (llvm-size, llvm-nm)
  local sysroot host bin
  if command -v rustc >/dev/null 2>&1; then
    sysroot=$(rustc --print sysroot)
    host=$(rustc -vV | sed -n 's/^host: //p')
    bin=$sysroot/lib/rustlib/$host/bin/$1
    [ -x "$bin" ] && { echo "$bin"; return 0; }
  fi
  command -v "$1" 2>/dev/null && return 0
  return 1
}

llvm_size=$(find_llvm_tool llvm-size || true)
if [ -z "$llvm_size" ] && command -v rustup >/dev/null 2>&1; then
  echo "elf.sh: adding rustup's llvm-tools for llvm-size" >&2
  rustup component add llvm-tools >&2 || true
  llvm_size=$(find_llvm_tool llvm-size || true)
fi
llvm_nm=$(find_llvm_tool llvm-nm || true)
[ -n "$llvm_size" ] || echo "elf.sh: no llvm-size; reading ELF sections with python3" >&2

# "name size" for every section of the ELF $1.
sections() {
  if [ -n "$llvm_size" ]; then
    "$llvm_size" -A "$1" | awk 'NF >= 3 && $1 ~ /^\./ {print $1, $2}'
  else
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert d[:4] == b'\x7fELF', 'not an ELF file'
e = '<' if d[5] == 1 else '>'
if d[4] == 2:  # ELF64
    shoff, = struct.unpack_from(e + 'Q', d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(e + 'HHH', d, 0x3A)
    fmt = e + 'IIQQQQIIQQ'
else:          # ELF32
    shoff, = struct.unpack_from(e + 'I', d, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from(e + 'HHH', d, 0x2E)
    fmt = e + 'IIIIIIIIII'
hdrs = [struct.unpack_from(fmt, d, shoff + i * shentsize) for i in range(shnum)]
strtab = hdrs[shstrndx][4]
for h in hdrs[1:]:
    name = d[strtab + h[0]: d.index(b'\0', strtab + h[0])].decode()
    print(name, h[5])
PY
  fi
}

kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
