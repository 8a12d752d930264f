#!/usr/bin/env bash
# Installs what tools/decoder_bench needs beyond .deps/minilm-venv (tools/minilm/setup.sh): optimum,
# with --no-deps, into .deps/bench-decoders/pydeps, leaving the shared venv as it is. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.deps/minilm-venv"
HERE="$ROOT/tools/decoder_bench"
TARGET="$ROOT/.deps/bench-decoders/pydeps"
if [ ! -x "$VENV/bin/python" ]; then
  echo "no $VENV: run tools/minilm/setup.sh first" >&2
  exit 1
fi
if ! PYTHONPATH="$TARGET" "$VENV/bin/python" -c "import optimum.version as v, sys; sys.exit(v.__version__ != '1.22.0')" 2>/dev/null; then
  rm -rf "$TARGET"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$TARGET" -r "$HERE/requirements.txt"
fi
PYTHONPATH="$TARGET" "$VENV/bin/python" -c "import optimum.version, optimum.exporters.onnx, transformers, torch, onnx, onnxruntime, tensorflow as tf; print('decoder_bench: optimum', optimum.version.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__, 'onnxruntime', onnxruntime.__version__, 'tensorflow', tf.__version__)"
