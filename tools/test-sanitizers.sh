#!/usr/bin/env bash
# Builds the native core addon (kernels/bindings/node over kernels/core) with
# AddressSanitizer and UBSan into a scratch folder and runs the native tests
# against it (`npm run test:sanitizers`): the package's jest suites on the `cpu`
# backend, the addon's own suite (test/native/addon.test.js, every ISA) and the
# seeded fuzzer of every entry point (test/native/fuzz_addon.js). Any sanitizer
# report fails the run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# What binding.gyp builds from (the same folders package.json ships for the install build).
mkdir -p "$WORK/kernels/bindings"
cp -r "$ROOT/kernels/core" "$ROOT/kernels/include" "$ROOT/kernels/shared" "$WORK/kernels/"
cp -r "$ROOT/kernels/bindings/node" "$WORK/kernels/bindings/"
cp "$ROOT/binding.gyp" "$WORK/"
ln -s "$ROOT/node_modules" "$WORK/node_modules"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
CXXFLAGS="$SAN" LDFLAGS="-fsanitize=address,undefined" run_node_gyp "$WORK" rebuild "--jobs=$(nproc 2>/dev/null || echo 2)"
ADDON="$WORK/build/Release/tfjs_bt_kernels.node"
[ -f "$ADDON" ] || { echo "test-sanitizers: the sanitizer build did not produce $ADDON" >&2; exit 1; }
# (not `nm | grep -q`: grep stopping early would SIGPIPE nm, which pipefail reports as failure)
case "$(nm -D "$ADDON")" in *__asan_report*) ;; *) echo "test-sanitizers: $ADDON is not instrumented" >&2; exit 1 ;; esac

# Node is not built with the sanitizers: their runtimes are preloaded. Leak
# checking is off because Node's own allocations at exit are not ours.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TFJS_BT_NATIVE_PATH="$ADDON"
cd "$ROOT"
npx jest --selectProjects cpu --runInBand \
  --testPathPattern 'test/(native_addon|sdpa_parity|sdpa_semantics|sdpa_grad|encoder_parity|encoder_grad|encoder_stack|leaks|agreement|validation)\.test\.ts$'
node --test test/native/addon.test.js
# Seeded fuzzing of every entry point (20,000 calls): any sanitizer report aborts the process.
node test/native/fuzz_addon.js 20000 1
echo "test-sanitizers: no AddressSanitizer or UBSan report"
