# Sourced by tools/setup-tfjs-node.sh and tools/setup-tfjs-node-gpu.sh: the steps they share.
# The caller sets ROOT (the repository) and LOG_TAG (the prefix of its messages), and sources
# tools/lib/node_gyp.sh for run_node_gyp. See tools/setup-tfjs-node.md.

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The two npm packages that carry the same addon (binding/, binding.gyp). npm removes whichever
# of them it is not asked for (neither is in the lockfile), so installing one keeps the other.
TFJS_NODE_PACKAGES=(@tensorflow/tfjs-node @tensorflow/tfjs-node-gpu)

# tfjs_preflight <deps dir>: platform and tools, then takes the lock shared by both scripts
# (they write the same node_modules and cache).
tfjs_preflight() {
  [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] ||
    die "only Linux x86_64 is supported (the pinned wheels are manylinux x86_64)"
  command -v node >/dev/null || die "node not found"
  command -v npm >/dev/null || die "npm not found"
  [ -d "$ROOT/node_modules/@tensorflow/tfjs-core" ] ||
    die "node_modules/@tensorflow/tfjs-core is missing: run 'npm ci' first"
  mkdir -p "$1"
  # Serialise concurrent runs (e.g. two terminals, or the CPU and the GPU script).
  if command -v flock >/dev/null; then
    exec 9>"$1/.setup-tfjs-node.lock"
    flock 9
  fi
}

# tfjs_seed_wheel <file> <dest dir> <wheel name> <sha256>: a copy of a pinned wheel the user
# already has (TFJS_NODE_TF_WHEEL, ...), checked against its pin.
tfjs_seed_wheel() {
  local src="$1" dest="$2/$3" want="$4" got
  [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$want" ] && return 0
  log "using the wheel $src"
  mkdir -p "$2"
  cp "$src" "$dest.part"
  got="$(sha256_of "$dest.part")"
  [ "$got" = "$want" ] || { rm -f "$dest.part"; die "sha256 mismatch for $src: got $got, want $want"; }
  mv "$dest.part" "$dest"
}

# tfjs_fetch_wheels <dest dir> <what, for the log> <file> <sha256> <requirement> [<file> <sha256> <requirement>...]
# Pinned wheels into <dest dir>: those already there with the right sha256 are kept, the others are
# fetched by one `pip download --no-deps` and checked. Nothing is installed anywhere.
tfjs_fetch_wheels() {
  local dest="$1" what="$2"; shift 2
  local files=() shas=() reqs=() missing=() i
  while [ $# -gt 0 ]; do files+=("$1"); shas+=("$2"); reqs+=("$3"); shift 3; done
  for i in "${!files[@]}"; do
    if [ -f "$dest/${files[$i]}" ] && [ "$(sha256_of "$dest/${files[$i]}")" = "${shas[$i]}" ]; then continue; fi
    rm -f "$dest/${files[$i]}"
    missing+=("${reqs[$i]}")
  done
  if [ ${#missing[@]} = 0 ]; then
    log "$what: already cached in $dest"
    return 0
  fi
  mkdir -p "$dest"
  log "downloading $what with pip: ${missing[*]}"
  # --platform/--python-version make the choice independent of the local Python (pip also
  # accepts the older manylinux tags for manylinux2014); --no-deps: only these files.
  "${PYTHON:-python3}" -m pip download --no-deps --no-cache-dir --disable-pip-version-check \
    --only-binary=:all: --implementation cp --python-version 3.11 \
    --abi cp311 --platform manylinux2014_x86_64 \
    --dest "$dest" --progress-bar off --quiet "${missing[@]}"
  local got
  for i in "${!files[@]}"; do
    [ -f "$dest/${files[$i]}" ] || die "expected $dest/${files[$i]} after the download; got: $(ls "$dest")"
    got="$(sha256_of "$dest/${files[$i]}")"
    [ "$got" = "${shas[$i]}" ] || {
      rm -f "$dest/${files[$i]}"
      die "sha256 mismatch for ${files[$i]}: got $got, want ${shas[$i]}"
    }
  done
}

# tfjs_unzip <wheel> <dest> <member patterns...>: unzip, or Python's zipfile where unzip is missing.
tfjs_unzip() {
  local whl="$1" dest="$2"; shift 2
  if command -v unzip >/dev/null; then
    unzip -q -o "$whl" "$@" -d "$dest"
  else
    "${PYTHON:-python3}" - "$whl" "$dest" "$@" <<'PY'
import fnmatch, os, sys, zipfile
whl, dest, pats = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if any(fnmatch.fnmatch(n, p) for p in pats)]
    for p in pats:
        if not any(fnmatch.fnmatch(n, p) for n in names):
            sys.exit("not in wheel: " + p)
    for n in names:
        z.extract(n, dest)
        if (z.getinfo(n).external_attr >> 16) & 0o111:  # zipfile drops the mode (e.g. ptxas)
            os.chmod(os.path.join(dest, n), 0o755)
PY
  fi
}

# tfjs_libtf_complete <libtensorflow dir> <wheel sha256>: unpacked from that wheel already?
tfjs_libtf_complete() {
  [ -f "$1/.complete" ] && [ "$(cat "$1/.complete")" = "$2" ]
}

# tfjs_unpack_libtensorflow <wheel> <dist-info dir> <libtensorflow dir> <wheel sha256>
# Only the C library and the C API headers out of a TensorFlow wheel, as <dir>/{lib,include}.
tfjs_unpack_libtensorflow() {
  local whl="$1" dist_info="$2" dir="$3" sha="$4"
  log "unpacking libtensorflow from the wheel into $dir"
  local stage="$dir.tmp.$$"
  rm -rf "$stage" "$dir"
  mkdir -p "$stage/x"
  tfjs_unzip "$whl" "$stage/x" \
    'tensorflow/libtensorflow_cc.so.2' \
    'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/tensorflow/c/*' \
    'tensorflow/include/tensorflow/core/platform/ctstring*' \
    'tensorflow/include/tsl/c/*' \
    'tensorflow/include/tsl/platform/ctstring*' \
    "$dist_info/LICENSE"
  mkdir -p "$stage/lib"
  mv "$stage/x/tensorflow/libtensorflow_cc.so.2" \
     "$stage/x/tensorflow/libtensorflow_framework.so.2" "$stage/lib/"
  chmod 0755 "$stage/lib/"*.so.2
  mv "$stage/x/tensorflow/include" "$stage/include"
  mv "$stage/x/$dist_info/LICENSE" "$stage/LICENSE"
  rm -rf "$stage/x"
  # Names binding.gyp links against (-ltensorflow -ltensorflow_framework) and
  # the libtensorflow.so.2 name tfjs-node's own tarball would provide. The C API
  # lives in libtensorflow_cc.so.2 (SONAME libtensorflow_cc.so.2), so the addon
  # ends up with DT_NEEDED libtensorflow_cc.so.2 + libtensorflow_framework.so.2.
  ln -s libtensorflow_cc.so.2 "$stage/lib/libtensorflow.so"
  ln -s libtensorflow_cc.so.2 "$stage/lib/libtensorflow.so.2"
  ln -s libtensorflow_framework.so.2 "$stage/lib/libtensorflow_framework.so"
  echo "$sha" > "$stage/.complete"
  mv "$stage" "$dir"
}

# tfjs_npm_install <package> <version>: `npm install --no-save` of one of TFJS_NODE_PACKAGES into the
# project's node_modules, proving that nothing from the lockfile changed. The other one of the two,
# when installed, is named too (else npm removes it) and gets its built addon and deps/ link back.
tfjs_npm_install() {
  local pkg="$1" version="$2"
  local snap p dir specs=("$pkg@$version") kept=()
  snap="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$snap'" EXIT
  cp "$ROOT/package.json" "$snap/package.json"
  [ -f "$ROOT/package-lock.json" ] && cp "$ROOT/package-lock.json" "$snap/package-lock.json"
  for p in "${TFJS_NODE_PACKAGES[@]}"; do
    [ "$p" = "$pkg" ] && continue
    dir="$ROOT/node_modules/$p"
    local v
    v="$(node -p "try { require('$dir/package.json').version } catch (e) { '' }")"
    [ -n "$v" ] || continue
    specs+=("$p@$v")
    kept+=("$p")
    # npm re-extracts it: keep what the other script added (lib/ holds the addon and its key).
    mkdir -p "$snap/keep/$p"
    [ -d "$dir/lib" ] && cp -a "$dir/lib" "$snap/keep/$p/lib"
    [ -L "$dir/deps" ] && readlink "$dir/deps" > "$snap/keep/$p/deps"
  done
  # Inventory of every package on disk (path -> version), to prove afterwards
  # that the install only added packages.
  local inventory_js='
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

  log "installing ${specs[*]} (--no-save --ignore-scripts)"
  # Why --save-dev together with --no-save: both packages are optional peer
  # dependencies of this package, and npm >= 11.5 silently drops an explicitly
  # requested optional peer under --no-save ("up to date", nothing added;
  # npm/cli#8464, npm/cli#9024). Asking for the dev save type makes npm treat
  # it as a (not saved) dev dependency, so it is installed.
  # --ignore-scripts: their install scripts would download libtensorflow (and
  # this package's own prepare script must not run either).
  (cd "$ROOT" && CI=true npm install --no-save --save-dev --ignore-scripts \
     --no-audit --no-fund --loglevel=warn "${specs[@]}")

  node -e "$inventory_js" "$ROOT" "$snap/after.json"
  local f
  for f in package.json package-lock.json; do
    if [ -f "$snap/$f" ] && ! cmp -s "$snap/$f" "$ROOT/$f"; then
      cp "$snap/$f" "$ROOT/$f"
      die "npm modified $f (restored it from a copy taken before the install)"
    fi
  done
  LOG_TAG="$LOG_TAG" node - "$snap/before.json" "$snap/after.json" "$ROOT/package-lock.json" <<'JS'
const fs = require('fs');
const tag = `[${process.env.LOG_TAG}]`;
const [before, after] = process.argv.slice(2, 4).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
let locked = {};
try { locked = JSON.parse(fs.readFileSync(process.argv[4], 'utf8')).packages || {}; } catch (e) {}
let bad = 0;
for (const [p, v] of Object.entries(before)) {
  if (after[p] === v) continue;
  const what = `${p}@${v} ${p in after ? 'changed to ' + after[p] : 'was removed'}`;
  if (p in locked) { console.error(`${tag} ERROR: ${what} (it is in package-lock.json)`); bad++; }
  else console.error(`${tag} warning: ${what} (it was not in package-lock.json)`);
}
const added = Object.keys(after).filter((p) => !(p in before)).length;
console.error(`${tag} npm added ${added} packages and left the ${Object.keys(before).length} existing ones ${bad ? 'CHANGED' : 'untouched'}`);
if (bad) { console.error(`${tag} run \`npm ci\` to restore node_modules`); process.exit(1); }
JS
  for p in "${kept[@]}"; do
    dir="$ROOT/node_modules/$p"
    if [ -d "$snap/keep/$p/lib" ] && [ ! -d "$dir/lib" ]; then
      cp -a "$snap/keep/$p/lib" "$dir/lib"
      log "put back $p's built addon (npm re-extracted the package)"
    fi
    if [ -f "$snap/keep/$p/deps" ] && [ ! -e "$dir/deps" ]; then
      ln -s "$(cat "$snap/keep/$p/deps")" "$dir/deps"
      log "put back $p's deps/ link"
    fi
  done
  rm -rf "$snap"
  trap - EXIT
}

# tfjs_installed_version <package dir>: its package.json version, or nothing.
tfjs_installed_version() {
  node -p "try { require('$1/package.json').version } catch (e) { '' }"
}

# tfjs_check_one_core <package dir>: it and the project resolve the same @tensorflow/tfjs-core, so
# kernels and backends land in one engine (the check scripts repeat this for every @tensorflow package).
tfjs_check_one_core() {
  local here there
  here="$(cd "$ROOT" && node -p "require('fs').realpathSync(require.resolve('@tensorflow/tfjs-core/package.json'))")"
  there="$(cd "$1" && node -p "require('fs').realpathSync(require.resolve('@tensorflow/tfjs-core/package.json', {paths: [process.cwd()]}))")"
  [ "$here" = "$there" ] ||
    die "$(basename "$1") resolves a second @tensorflow/tfjs-core ($there, project has $here)"
}

# tfjs_link_deps <package dir> <libtensorflow dir>: deps/ where binding.gyp and the addon's rpath
# expect it. binding.gyp: include_dirs <module_root_dir>/deps/include, library_dirs
# <module_root_dir>/deps/lib, rpath $ORIGIN/../../deps/lib (relative to
# lib/napi-vN/tfjs_binding.node). A relative symlink to the cache keeps the
# libraries out of node_modules and survives moving the checkout.
tfjs_link_deps() {
  local dir="$1" target
  target="$(realpath --relative-to="$dir" "$2")"
  if [ -L "$dir/deps" ] && [ "$(readlink "$dir/deps")" = "$target" ]; then
    log "deps/ link already in place"
  else
    rm -rf "$dir/deps"
    ln -s "$target" "$dir/deps"
    log "linked $dir/deps -> $target"
  fi
}

# tfjs_build_addon <package dir> <TensorFlow version> <addon cache dir> <force 0|1>
# Builds (or restores from the cache) the package's native addon against its deps/.
tfjs_build_addon() {
  local dir="$1" tf_version="$2" cache_dir="$3" force="$4"
  local name version binding napi src_sum key stamp cached
  name="$(basename "$dir")"
  version="$(tfjs_installed_version "$dir")"
  # Where the package's dist/index.js will look: node-pre-gyp's find() over the
  # package.json "binary" section (lib/napi-v{highest supported N-API}).
  binding="$(cd "$dir" && node -p "require('@mapbox/node-pre-gyp').find(require.resolve('./package.json'))")"
  napi="$(basename "$(dirname "$binding")")"; napi="${napi#napi-v}"
  case "$napi" in ''|*[!0-9]*) die "unexpected addon path from node-pre-gyp: $binding" ;; esac
  src_sum="$(cd "$dir" && cat binding.gyp binding/* | sha256sum | cut -c1-16)"
  key="$name-$version-tf-$tf_version-napi-v$napi-linux-x64-$src_sum"
  stamp="$(dirname "$binding")/.setup-tfjs-node-key"
  cached="$cache_dir/$key/tfjs_binding.node"

  if [ "$force" = 0 ] && [ -f "$binding" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    log "addon already built: $binding"
  elif [ "$force" = 0 ] && [ -f "$cached" ]; then
    mkdir -p "$(dirname "$binding")"
    cp "$cached" "$binding"
    echo "$key" > "$stamp"
    log "addon restored from cache $cached"
  else
    local gyp_args=(rebuild "--module_name=tfjs_binding" "--module_path=$(dirname "$binding")"
                    "--napi_build_version=$napi" "--jobs=$(nproc 2>/dev/null || echo 2)")
    log "building the addon with node-gyp (N-API $napi)"
    rm -f "$stamp"
    run_node_gyp "$dir" "${gyp_args[@]}"
    [ -f "$binding" ] || die "node-gyp finished but $binding does not exist"
    if command -v ldd >/dev/null && ldd "$binding" | grep -q 'not found'; then
      ldd "$binding" >&2
      die "the addon has unresolved shared libraries"
    fi
    mkdir -p "$(dirname "$cached")"
    cp "$binding" "$cached.part" && mv "$cached.part" "$cached"
    echo "$key" > "$stamp"
    log "built $binding (cached as $cached)"
  fi
}
