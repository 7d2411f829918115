#!/usr/bin/env bash
# Install, lint, and run the whole test suite, end-to-end nnictl tests included (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The remote-training tests start a real OpenSSH server (tests/e2e/sshd.py); CI runs as root and installs it once.
if [ "$(id -u)" = 0 ] && [ ! -x /usr/sbin/sshd ] && command -v apt-get >/dev/null; then
  apt-get install -y -q --no-install-recommends openssh-server >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends openssh-server >/dev/null; }
fi
.venv/bin/ruff check .
# Two workers, each test file on one of them (its module fixtures, such as one experiment shared by several tests,
# start once): end-to-end tests spend much of their time waiting on NNI's manager, so two overlap well on two cores.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
