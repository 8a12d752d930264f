#!/usr/bin/env bash
# Creates .deps/minilm-venv with the pinned conversion tooling (idempotent).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.deps/minilm-venv"
HERE="$ROOT/tools/minilm"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --find-links "$ROOT/.deps/wheels" -r "$HERE/requirements.txt"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$HERE/requirements-no-deps.txt"
"$VENV/bin/python" -c "import tensorflowjs, transformers, torch, sentence_transformers, tensorflow as tf; print('minilm venv: tensorflow', tf.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__, 'sentence-transformers', sentence_transformers.__version__, 'tensorflowjs', tensorflowjs.__version__)"
