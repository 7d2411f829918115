#!/usr/bin/env bash
# Install, lint, and run the whole test suite, end-to-end nnictl tests included (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The remote-training tests start a real OpenSSH server (tests/e2e/sshd.py), the completion test types into a
# real zsh, and the portal's icons are checked in a headless chromium (tests/e2e/test_portal_icons.py; 25 packages,
# 103 MB, 14 s here); CI runs as root and installs what is missing once.
missing=""
[ -x /usr/sbin/sshd ] || missing="openssh-server"
command -v zsh >/dev/null || missing="$missing zsh"
command -v chromium >/dev/null || missing="$missing chromium"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
fi
.venv/bin/ruff check .
# Two workers, each test file on one of them (its module fixtures, such as one experiment shared by several tests,
# start once): end-to-end tests spend much of their time waiting on NNI's manager, so two overlap well on two cores.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
