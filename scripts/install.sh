#!/usr/bin/env bash
# Create .venv (Python 3.11) and install nni-nas with its pinned dependencies, export and test extras.
# Idempotent: skips pip when pyproject.toml has not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.nni-nas-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import nni_nas, nni" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --upgrade pip 'setuptools<81' wheel
  .venv/bin/python -m pip install --quiet -e '.[export,test]'
  echo "$want" > "$stamp"
fi
