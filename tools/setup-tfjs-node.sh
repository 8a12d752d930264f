#!/usr/bin/env bash
# Install @tensorflow/tfjs-node without letting it download libtensorflow.
#
# The libtensorflow C library is taken from the pinned tensorflow-cpu pip
# wheel instead (libtensorflow_cc.so.2 exports the TF_*/TFE_* C API), and the
# tfjs-node native addon is compiled against it with the node-gyp that ships
# with npm. See tools/setup-tfjs-node.md.
#
# Usage: tools/setup-tfjs-node.sh [--force] [--no-check]
#   --force     rebuild the addon even when an up-to-date one is present
#   --no-check  skip tools/check-tfjs-node.js at the end
#
# Environment (all optional):
#   TFJS_NODE_DEPS_DIR  cache directory (default: <repo>/.deps, git-ignored)
#   TFJS_NODE_TF_WHEEL  path to an already downloaded copy of the pinned wheel
#   PYTHON              python used for `pip download` (default: python3)
#   NODE_GYP            path to node-gyp's bin/node-gyp.js (default: npm's own)
set -euo pipefail

# ---- pins -------------------------------------------------------------------
TFJS_NODE_VERSION=4.22.0
TF_VERSION=2.15.1
TF_WHEEL=tensorflow_cpu-2.15.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
TF_WHEEL_SHA256=54660c074d7241a503e81edfd9f5ef5af88f64051b72e2945f26318c790f2d26
# -----------------------------------------------------------------------------

FORCE=0
CHECK=1
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --no-check) CHECK=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup-tfjs-node: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"
DEPS_DIR="${TFJS_NODE_DEPS_DIR:-$ROOT/.deps}"
WHEEL_DIR="$DEPS_DIR/wheels"
LIBTF_DIR="$DEPS_DIR/libtensorflow-cpu-$TF_VERSION"
ADDON_CACHE_DIR="$DEPS_DIR/tfjs-node-addon"
TFJS_NODE_DIR="$ROOT/node_modules/@tensorflow/tfjs-node"

log() { printf '[setup-tfjs-node] %s\n' "$*" >&2; }
die() { printf '[setup-tfjs-node] ERROR: %s\n' "$*" >&2; exit 1; }
SECONDS=0

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] ||
  die "only Linux x86_64 is supported (the pinned wheel is manylinux x86_64)"
command -v node >/dev/null || die "node not found"
command -v npm >/dev/null || die "npm not found"
[ -d "$ROOT/node_modules/@tensorflow/tfjs-core" ] ||
  die "node_modules/@tensorflow/tfjs-core is missing: run 'npm ci' first"

mkdir -p "$DEPS_DIR"
# Serialise concurrent runs (e.g. two terminals) on the shared cache.
if command -v flock >/dev/null; then
  exec 9>"$DEPS_DIR/.setup-tfjs-node.lock"
  flock 9
fi

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---- 1. pinned tensorflow-cpu wheel ------------------------------------------
WHEEL="$WHEEL_DIR/$TF_WHEEL"
if [ -f "$LIBTF_DIR/.complete" ] && [ "$(cat "$LIBTF_DIR/.complete")" = "$TF_WHEEL_SHA256" ]; then
  log "libtensorflow $TF_VERSION already unpacked in $LIBTF_DIR"
else
  if [ -f "$WHEEL" ] && [ "$(sha256_of "$WHEEL")" = "$TF_WHEEL_SHA256" ]; then
    log "wheel already cached: $WHEEL"
  else
    rm -f "$WHEEL"
    mkdir -p "$WHEEL_DIR"
    if [ -n "${TFJS_NODE_TF_WHEEL:-}" ]; then
      log "using wheel from TFJS_NODE_TF_WHEEL=$TFJS_NODE_TF_WHEEL"
      cp "$TFJS_NODE_TF_WHEEL" "$WHEEL.part"
      mv "$WHEEL.part" "$WHEEL"
    else
      log "downloading tensorflow-cpu==$TF_VERSION wheel (~200 MB) with pip"
      # --platform/--python-version make the choice independent of the local
      # Python; --no-deps: only this file; nothing is installed anywhere.
      "${PYTHON:-python3}" -m pip download --no-deps --no-cache-dir \
        --only-binary=:all: --implementation cp --python-version 3.11 \
        --abi cp311 --platform manylinux2014_x86_64 \
        --dest "$WHEEL_DIR" --progress-bar off --quiet \
        "tensorflow-cpu==$TF_VERSION"
    fi
    [ -f "$WHEEL" ] || die "expected $WHEEL after download; got: $(ls "$WHEEL_DIR")"
    got="$(sha256_of "$WHEEL")"
    [ "$got" = "$TF_WHEEL_SHA256" ] || {
      rm -f "$WHEEL"
      die "sha256 mismatch for $TF_WHEEL: got $got, want $TF_WHEEL_SHA256"
    }
  fi

  # ---- 2. unpack only the C library and the C API headers -------------------
  log "unpacking libtensorflow from the wheel into $LIBTF_DIR"
  stage="$LIBTF_DIR.tmp.$$"
  rm -rf "$stage" "$LIBTF_DIR"
  mkdir -p "$stage/x"
  members=(
    'tensorflow/libtensorflow_cc.so.2'
    'tensorflow/libtensorflow_framework.so.2'
    'tensorflow/include/tensorflow/c/*'
    'tensorflow/include/tensorflow/core/platform/ctstring*'
    'tensorflow/include/tsl/c/*'
    'tensorflow/include/tsl/platform/ctstring*'
    "tensorflow_cpu-$TF_VERSION.dist-info/LICENSE"
  )
  if command -v unzip >/dev/null; then
    unzip -q -o "$WHEEL" "${members[@]}" -d "$stage/x"
  else
    "${PYTHON:-python3}" - "$WHEEL" "$stage/x" "${members[@]}" <<'PY'
import fnmatch, sys, zipfile
whl, dest, pats = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if any(fnmatch.fnmatch(n, p) for p in pats)]
    for p in pats:
        if not any(fnmatch.fnmatch(n, p) for n in names):
            sys.exit("not in wheel: " + p)
    z.extractall(dest, names)
PY
  fi
  mkdir -p "$stage/lib"
  mv "$stage/x/tensorflow/libtensorflow_cc.so.2" \
     "$stage/x/tensorflow/libtensorflow_framework.so.2" "$stage/lib/"
  chmod 0755 "$stage/lib/"*.so.2
  mv "$stage/x/tensorflow/include" "$stage/include"
  mv "$stage/x/tensorflow_cpu-$TF_VERSION.dist-info/LICENSE" "$stage/LICENSE"
  rm -rf "$stage/x"
  # Names binding.gyp links against (-ltensorflow -ltensorflow_framework) and
  # the libtensorflow.so.2 name tfjs-node's own tarball would provide. The C API
  # lives in libtensorflow_cc.so.2 (SONAME libtensorflow_cc.so.2), so the addon
  # ends up with DT_NEEDED libtensorflow_cc.so.2 + libtensorflow_framework.so.2.
  ln -s libtensorflow_cc.so.2 "$stage/lib/libtensorflow.so"
  ln -s libtensorflow_cc.so.2 "$stage/lib/libtensorflow.so.2"
  ln -s libtensorflow_framework.so.2 "$stage/lib/libtensorflow_framework.so"
  echo "$TF_WHEEL_SHA256" > "$stage/.complete"
  mv "$stage" "$LIBTF_DIR"
fi

# ---- 3. @tensorflow/tfjs-node in the project's node_modules ----------------
installed_version() {
  node -p "try { require('$TFJS_NODE_DIR/package.json').version } catch (e) { '' }"
}
if [ "$(installed_version)" = "$TFJS_NODE_VERSION" ]; then
  log "@tensorflow/tfjs-node@$TFJS_NODE_VERSION already in node_modules"
else
  log "installing @tensorflow/tfjs-node@$TFJS_NODE_VERSION (--no-save --ignore-scripts)"
  snap="$(mktemp -d)"
  trap 'rm -rf "$snap"' EXIT
  cp "$ROOT/package.json" "$snap/package.json"
  [ -f "$ROOT/package-lock.json" ] && cp "$ROOT/package-lock.json" "$snap/package-lock.json"
  # Inventory of every package on disk (path -> version), to prove afterwards
  # that the install only added packages.
  inventory_js='
    const fs = require("fs"), path = require("path");
    const out = {};
    function walk(nm) {
      let names; try { names = fs.readdirSync(nm); } catch (e) { return; }
      for (const n of names) {
        if (n.startsWith(".")) continue;
        const dirs = n.startsWith("@")
          ? fs.readdirSync(path.join(nm, n)).map((m) => path.join(n, m)) : [n];
        for (const d of dirs) {
          const dir = path.join(nm, d);
          try {
            const p = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
            out[path.relative(process.argv[1], dir)] = p.version;
          } catch (e) { continue; }
          walk(path.join(dir, "node_modules"));
        }
      }
    }
    walk(path.join(process.argv[1], "node_modules"));
    fs.writeFileSync(process.argv[2], JSON.stringify(out));'
  node -e "$inventory_js" "$ROOT" "$snap/before.json"

  # Why --save-dev together with --no-save: @tensorflow/tfjs-node is an
  # optional peer dependency of this package, and npm >= 11.5 silently drops
  # an explicitly requested optional peer under --no-save ("up to date",
  # nothing added; npm/cli#8464, npm/cli#9024). Asking for the dev save type
  # makes npm treat it as a (not saved) dev dependency, so it is installed.
  # --ignore-scripts: its install script would download libtensorflow (and
  # this package's own prepare script must not run either).
  (cd "$ROOT" && CI=true npm install --no-save --save-dev --ignore-scripts \
     --no-audit --no-fund --loglevel=warn \
     "@tensorflow/tfjs-node@$TFJS_NODE_VERSION")

  node -e "$inventory_js" "$ROOT" "$snap/after.json"
  for f in package.json package-lock.json; do
    if [ -f "$snap/$f" ] && ! cmp -s "$snap/$f" "$ROOT/$f"; then
      cp "$snap/$f" "$ROOT/$f"
      die "npm modified $f (restored it from a copy taken before the install)"
    fi
  done
  node - "$snap/before.json" "$snap/after.json" "$ROOT/package-lock.json" <<'JS'
const fs = require('fs');
const [before, after] = process.argv.slice(2, 4).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
let locked = {};
try { locked = JSON.parse(fs.readFileSync(process.argv[4], 'utf8')).packages || {}; } catch (e) {}
let bad = 0;
for (const [p, v] of Object.entries(before)) {
  if (after[p] === v) continue;
  const what = `${p}@${v} ${p in after ? 'changed to ' + after[p] : 'was removed'}`;
  if (p in locked) { console.error(`[setup-tfjs-node] ERROR: ${what} (it is in package-lock.json)`); bad++; }
  else console.error(`[setup-tfjs-node] warning: ${what} (it was not in package-lock.json)`);
}
const added = Object.keys(after).filter((p) => !(p in before)).length;
console.error(`[setup-tfjs-node] npm added ${added} packages and left the ${Object.keys(before).length} existing ones ${bad ? 'CHANGED' : 'untouched'}`);
if (bad) { console.error('[setup-tfjs-node] run `npm ci` to restore node_modules'); process.exit(1); }
JS
  [ "$(installed_version)" = "$TFJS_NODE_VERSION" ] ||
    die "npm did not install @tensorflow/tfjs-node@$TFJS_NODE_VERSION"
  rm -rf "$snap"
  trap - EXIT
fi

# One copy of tfjs-core only: tfjs-node and everything it pulls in must use the
# @tensorflow/tfjs-core that `npm ci` installed (the check script repeats this
# for every @tensorflow package).
core_here="$(cd "$ROOT" && node -p "require('fs').realpathSync(require.resolve('@tensorflow/tfjs-core/package.json'))")"
core_there="$(cd "$TFJS_NODE_DIR" && node -p "require('fs').realpathSync(require.resolve('@tensorflow/tfjs-core/package.json', {paths: [process.cwd()]}))")"
[ "$core_here" = "$core_there" ] ||
  die "tfjs-node resolves a second @tensorflow/tfjs-core ($core_there, project has $core_here)"

# ---- 4. deps/ where binding.gyp and the addon's rpath expect it --------------
# binding.gyp: include_dirs <module_root_dir>/deps/include, library_dirs
# <module_root_dir>/deps/lib, rpath $ORIGIN/../../deps/lib (relative to
# lib/napi-vN/tfjs_binding.node). A relative symlink to the cache keeps the
# 600 MB of libraries out of node_modules and survives moving the checkout.
deps_target="$(realpath --relative-to="$TFJS_NODE_DIR" "$LIBTF_DIR")"
if [ -L "$TFJS_NODE_DIR/deps" ] && [ "$(readlink "$TFJS_NODE_DIR/deps")" = "$deps_target" ]; then
  log "deps/ link already in place"
else
  rm -rf "$TFJS_NODE_DIR/deps"
  ln -s "$deps_target" "$TFJS_NODE_DIR/deps"
  log "linked $TFJS_NODE_DIR/deps -> $deps_target"
fi

# ---- 5. build (or reuse) the native addon ------------------------------------
# Where tfjs-node's dist/index.js will look: node-pre-gyp's find() over the
# package.json "binary" section (lib/napi-v{highest supported N-API}).
BINDING="$(cd "$TFJS_NODE_DIR" && node -p "require('@mapbox/node-pre-gyp').find(require.resolve('./package.json'))")"
NAPI="$(basename "$(dirname "$BINDING")")"; NAPI="${NAPI#napi-v}"
case "$NAPI" in ''|*[!0-9]*) die "unexpected addon path from node-pre-gyp: $BINDING" ;; esac
src_sum="$(cd "$TFJS_NODE_DIR" && cat binding.gyp binding/* | sha256sum | cut -c1-16)"
KEY="tfjs-node-$TFJS_NODE_VERSION-tf-$TF_VERSION-napi-v$NAPI-linux-x64-$src_sum"
STAMP="$(dirname "$BINDING")/.setup-tfjs-node-key"
CACHED="$ADDON_CACHE_DIR/$KEY/tfjs_binding.node"

if [ "$FORCE" = 0 ] && [ -f "$BINDING" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
  log "addon already built: $BINDING"
elif [ "$FORCE" = 0 ] && [ -f "$CACHED" ]; then
  mkdir -p "$(dirname "$BINDING")"
  cp "$CACHED" "$BINDING"
  echo "$KEY" > "$STAMP"
  log "addon restored from cache $CACHED"
else
  gyp_args=(rebuild "--module_name=tfjs_binding" "--module_path=$(dirname "$BINDING")"
            "--napi_build_version=$NAPI" "--jobs=$(nproc 2>/dev/null || echo 2)")
  log "building the addon with node-gyp (N-API $NAPI)"
  rm -f "$STAMP"
  run_node_gyp "$TFJS_NODE_DIR" "${gyp_args[@]}"
  [ -f "$BINDING" ] || die "node-gyp finished but $BINDING does not exist"
  if command -v ldd >/dev/null && ldd "$BINDING" | grep -q 'not found'; then
    ldd "$BINDING" >&2
    die "the addon has unresolved shared libraries"
  fi
  mkdir -p "$(dirname "$CACHED")"
  cp "$BINDING" "$CACHED.part" && mv "$CACHED.part" "$CACHED"
  echo "$KEY" > "$STAMP"
  log "built $BINDING (cached as $CACHED)"
fi

log "setup done in ${SECONDS}s"

# ---- 6. verify ----------------------------------------------------------------
if [ "$CHECK" = 1 ]; then
  # TF_CPP_MIN_LOG_LEVEL=1 hides libtensorflow's INFO banner (oneDNN, CPU flags).
  TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}" TFJS_NODE_EXPECT_TF_VERSION="$TF_VERSION" \
    node "$ROOT/tools/check-tfjs-node.js"
fi
