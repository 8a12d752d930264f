# Sourced by the build scripts: runs npm's bundled node-gyp with Node's headers
# taken from npm's nodedir setting or this node's install prefix, so nothing is
# downloaded. Usage: run_node_gyp <directory> <node-gyp arguments...>
run_node_gyp() {
  local dir="$1"; shift
  local node_gyp="${NODE_GYP:-}"
  if [ -z "$node_gyp" ]; then
    local npm_dir
    npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
    node_gyp="$npm_dir/node_modules/node-gyp/bin/node-gyp.js"
  fi
  [ -f "$node_gyp" ] || { echo "node-gyp not found at $node_gyp (set NODE_GYP=/path/to/node-gyp.js)" >&2; return 1; }
  local nodedir="${npm_config_nodedir:-}"
  if [ -z "$nodedir" ]; then
    nodedir="$(cd "$dir" && npm config get nodedir 2>/dev/null || true)"
    case "$nodedir" in undefined|null) nodedir= ;; esac
  fi
  if [ -z "$nodedir" ]; then
    local prefix
    prefix="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
    [ -f "$prefix/include/node/common.gypi" ] && nodedir="$prefix"
  fi
  (cd "$dir" && node "$node_gyp" ${nodedir:+"--nodedir=$nodedir"} --loglevel=warn "$@")
}
