#!/usr/bin/env bash
# The main job: install, then a regularised-evolution search on the embedded digits data set through the real
# `nnictl create`, visible in the NNI web portal, ending with a table of the best architectures and the best
# one exported to plain PyTorch under exported/<experiment id>/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/nni-nas search configs/digits_evolution.yml --port "${PORT:-8080}" "$@"
