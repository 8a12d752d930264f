#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UBSan in a scratch copy (so the normal
# kernels/build/ stays untouched) and runs test/addon.test.js against it, every
# ISA included (the child processes inherit the preloaded runtimes).
# Usage: bash kernels/test/addon-sanitizers.sh   (Linux, g++; node-addon-api installed)
set -euo pipefail
kernels="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$kernels/binding.gyp" "$kernels/include" "$kernels/src" "$kernels/test" "$scratch/"
# node-addon-api is resolved from the package that holds kernels/.
export NODE_PATH="$kernels/../node_modules${NODE_PATH:+:$NODE_PATH}"
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir="$(npm config get nodedir 2>/dev/null || true)"
(cd "$scratch" && CXXFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g" \
  LDFLAGS="-fsanitize=address,undefined" node "$gyp" rebuild ${nodedir:+--nodedir="$nodedir"} -j 2 >/dev/null)
runtimes="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LD_PRELOAD="$runtimes" \
  node --test "$scratch/test/addon.test.js"
