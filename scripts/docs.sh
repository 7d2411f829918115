#!/usr/bin/env bash
# Build the documentation site (docs/, mkdocs.yml) into site/ with `mkdocs build --strict`: a broken link, anchor or
# API reference fails the build. `bash scripts/docs.sh serve` serves it at http://127.0.0.1:8000 while you edit.
# Installs nni-nas (scripts/install.sh) and the `docs` extra into .venv first; needs no internet after that.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if ! .venv/bin/python -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null; then
  printf 'docs: installing the docs extra into .venv\n'
  .venv/bin/python -m pip install -q -e '.[docs]'
fi
export NO_MKDOCS_2_WARNING=1  # Material's notice about its successor, printed on every build
case "${1:-build}" in
  build) exec .venv/bin/mkdocs build --strict ;;
  serve) exec .venv/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000 ;;
  *) printf 'usage: bash scripts/docs.sh [build|serve]\n' >&2; exit 2 ;;
esac
