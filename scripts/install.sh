#!/usr/bin/env bash
# Create .venv (Python 3.11) and install nni-nas with its pinned dependencies, export and test extras.
# Idempotent: skips pip when pyproject.toml has not changed since the last successful install.
# Quiet: pip's own output goes to .venv/install.log; the terminal gets one line per step and a ticking clock
# (its last 40 lines are printed if a step fails).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
log=.venv/install.log

say() { printf 'install: %s\n' "$*"; }

# run "$@" with its output in $log; on a terminal, show the seconds it has been running
quietly() {
  local start=$SECONDS pid rc=0
  "$@" >>"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    [ -t 1 ] && printf '\r  working... %3d s' $((SECONDS - start))
    sleep 1
  done
  wait "$pid" || rc=$?
  [ -t 1 ] && printf '\r\033[K'
  if [ "$rc" -ne 0 ]; then
    say "failed (exit $rc): $*; the last lines of $log:" >&2
    tail -n 40 "$log" >&2
    if grep -q 'No space left on device' "$log"; then
      say "the disk holding $PWD/.venv is full ($(free_gb) GB free; a new .venv needs about $NEEDS_GB GB):" \
          "free space there and run scripts/install.sh again" >&2
    fi
    exit "$rc"
  fi
  say "done in $((SECONDS - start)) s"
}

# torch's build on PyPI for x86_64 Linux brings CUDA's libraries: the finished .venv is about 6.4 GB
NEEDS_GB=${NNI_NAS_INSTALL_NEEDS_GB:-7}
free_gb() { df -Pk "${1:-.venv}" 2>/dev/null | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }'; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.nni-nas-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import nni_nas, nni" 2>/dev/null; then
  : > "$log"
  # what is already in .venv (an update) need not fit again; a full disk otherwise ends pip after minutes
  free=$(free_gb)
  need=$(du -sk .venv 2>/dev/null | awk -v n="$NEEDS_GB" '{ x = n - $1 / 1048576; printf "%.1f", x < 0.5 ? 0.5 : x }')
  if [ -n "$free" ] && [ -n "$need" ] && awk -v f="$free" -v n="$need" 'BEGIN { exit !(f < n) }'; then
    say "only $free GB free on the disk holding $PWD/.venv; the install needs about $need GB more" \
        "(torch with its CUDA libraries): free space there and run scripts/install.sh again" >&2
    exit 1
  fi
  say "installing nni-nas and its pinned dependencies into .venv (the first time takes a few minutes; log: $log)"
  quietly .venv/bin/python -m pip install --upgrade pip 'setuptools<81' wheel
  quietly .venv/bin/python -m pip install -e '.[export,test]'
  echo "$want" > "$stamp"
  say "ready: source .venv/bin/activate puts nni-nas and nnictl on your PATH"
fi

# NNI's web portal loads its icon font from a CDN: offline, every icon is an empty box. The font (Fluent UI's
# @fluentui/font-icons-mdl2, under Microsoft's assets licence, so not in git) is fetched once from the npm registry
# into .venv/share/nni-nas/portal-icons, which the manager serves (nni_nas/manager/portal_icons.js). Without the registry
# the install still succeeds; the portal then takes its icons from the CDN, as plain NNI does.
if ! .venv/bin/python -m nni_nas.manager.portal_icons --check 2>/dev/null; then
  start=$SECONDS
  if .venv/bin/python -m nni_nas.manager.portal_icons >>"$log" 2>&1; then
    say "fetched the web portal's icon font from the npm registry in $((SECONDS - start)) s"
  else
    say "could not fetch the web portal's icon font (see $log): offline, the portal will show empty boxes for" \
        "its icons (rerun scripts/install.sh with internet access)"
  fi
fi
