#!/usr/bin/env bash
# Install, lint, and run the whole test suite, end-to-end nnictl tests included (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
