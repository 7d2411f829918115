"""scripts/install.sh is quiet: pip's banners and warnings go to .venv/install.log, the terminal gets a line per
step, and a failing step prints the log's tail and its exit status; an icon font that cannot be fetched costs one
line, not the install. Run against a stand-in python, so no network and no real install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-c" ]; then exit 1; fi           # "import nni_nas, nni" fails: not installed yet
if [ "$2" = "nni_nas.manager.portal_icons" ]; then    # the portal's icon font: not there yet; fetching it may fail
  [ "$3" = "--check" ] && exit 1
  echo "fetch $*" >> "$(dirname "$0")/../calls"
  exit "${FAKE_FETCH_EXIT:-0}"
fi
for i in $(seq 50); do echo "setuptools banner line $i" >&2; done
echo "pip $*" >> "$(dirname "$0")/../calls"
exit "${FAKE_PIP_EXIT:-0}"
"""


def _fake_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install.sh", repo / "scripts" / "install.sh")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return repo


def test_install_is_quiet_and_logs_what_pip_says(tmp_path):
    repo = _fake_repo(tmp_path)
    proc = subprocess.run(["bash", "scripts/install.sh"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "banner" not in output and len(output.splitlines()) <= 6, output
    assert "installing nni-nas" in output and "source .venv/bin/activate" in output
    assert "fetched the web portal's icon font" in output
    assert (repo / ".venv" / "install.log").read_text().count("banner") == 100  # both pip calls, kept
    calls = (repo / ".venv" / "calls").read_text()
    assert "-e .[export,test]" in calls and "fetch -m nni_nas.manager.portal_icons" in calls
    assert (repo / ".venv" / ".nni-nas-installed").is_file()


def test_without_the_npm_registry_the_install_succeeds_with_one_line_about_the_icons(tmp_path):
    repo = _fake_repo(tmp_path)
    proc = subprocess.run(["bash", "scripts/install.sh"], cwd=repo, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "FAKE_FETCH_EXIT": "1"})
    assert proc.returncode == 0, proc.stderr
    icon_lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "icon" in line]
    assert len(icon_lines) == 1 and "offline, the portal will show empty boxes for its icons" in icon_lines[0]
    assert (repo / ".venv" / ".nni-nas-installed").is_file()


def test_a_failing_install_shows_the_log_tail(tmp_path):
    repo = _fake_repo(tmp_path)
    proc = subprocess.run(["bash", "scripts/install.sh"], cwd=repo, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "FAKE_PIP_EXIT": "3"})
    assert proc.returncode == 3
    assert "failed (exit 3)" in proc.stderr and "setuptools banner line 50" in proc.stderr
    assert not (repo / ".venv" / ".nni-nas-installed").exists()


def test_pyproject_license_is_an_spdx_string():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # the TOML-table form makes setuptools print a 12-line deprecation banner
    assert "version" in project["dynamic"]  # one version, nni_nas.__version__ (what --version prints)


def test_too_little_disk_is_refused_before_pip_runs(tmp_path):
    repo = _fake_repo(tmp_path)
    proc = subprocess.run(["bash", "scripts/install.sh"], cwd=repo, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "NNI_NAS_INSTALL_NEEDS_GB": "1000000"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GB free on the disk holding" in lines[0] and "free space there" in lines[0], lines
    assert not (repo / ".venv" / "calls").exists()  # pip never started
    assert not (repo / ".venv" / ".nni-nas-installed").exists()


def test_a_full_disk_during_pip_is_named(tmp_path):
    repo = _fake_repo(tmp_path)
    python = repo / ".venv" / "bin" / "python"
    python.write_text(FAKE_PYTHON.replace('exit "${FAKE_PIP_EXIT:-0}"',
                                          'echo "ERROR: [Errno 28] No space left on device" >&2; exit 1'))
    proc = subprocess.run(["bash", "scripts/install.sh"], cwd=repo, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "is full" in last and "a new .venv needs about 7 GB" in last and "free space there" in last, last
