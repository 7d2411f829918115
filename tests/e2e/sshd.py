"""A real OpenSSH server on 127.0.0.1 for the remote-training tests: a separate user account with its own home
(so a remote trial's folder is not where the launching user looks), a throwaway host key and user key, and a
Python for that user in which nni-nas imports.

The "remote" Python is Debian's ``/usr/bin/python3`` in a venv of the remote user's own whose ``.pth`` adds the
launching venv's site-packages (nni, torch and the editable nni-nas), so nothing is installed twice: the venv is
created once (about 0.1 s) and reused. The test launches NNI as root, while the remote side runs as the
unprivileged user: the launching interpreter (pyenv's, under ``/root``) is not even reachable from there, so a
trial that does not run the Python ``pythonPath`` names fails.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REMOTE_USER = "nninas-remote"
# a second account whose ~/.bashrc puts another Python first on PATH, as `pyenv init` or `conda init` do
BASHRC_USER = "nninas-pyenv"
SSHD = Path("/usr/sbin/sshd")
SYSTEM_PYTHON = Path("/usr/bin/python3")


def missing_requirement() -> str | None:
    """Why this machine cannot host the fixture, or None."""
    if os.geteuid() != 0:
        return "the remote-training tests create a user account and start sshd: they need root (CI runs as root)"
    for path, package in ((SSHD, "openssh-server"), (SYSTEM_PYTHON, "python3"),
                          (Path("/usr/bin/ssh-keygen"), "openssh-client")):
        if not path.exists():
            return f"{path} is missing: apt-get install -y {package} (scripts/test.sh does)"
    return None


def ensure_user(name: str = REMOTE_USER) -> Path:
    """Create the unprivileged account ``name`` with its own home once; return the home."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    # useradd locks the password ('!'); without PAM, sshd refuses a locked account even for keys. '*' = no
    # password, not locked.
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    home = Path(entry.pw_dir)
    os.chmod(home, 0o700)
    return home


def as_user(name: str, path: Path) -> None:
    entry = pwd.getpwnam(name)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def ensure_remote_python(name: str = REMOTE_USER, site_packages: str | None = None) -> Path:
    """A venv of ``name`` (Debian's python3) that sees ``site_packages`` (default: this interpreter's); return its
    ``bin`` folder, which is what a machineList's ``pythonPath`` names."""
    site_packages = site_packages or sysconfig.get_paths()["purelib"]
    home = Path(pwd.getpwnam(name).pw_dir)
    venv = home / "venvs" / hashlib.sha1(site_packages.encode()).hexdigest()[:12]
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(["runuser", "-u", name, "--", str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)],
                       check=True, capture_output=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pth = venv / "lib" / version / "site-packages" / "nni_nas_launcher.pth"
    # an 'import' line runs at start-up; addsitedir also processes that folder's own .pth files (the editable
    # nni-nas finder)
    pth.write_text(f"import site; site.addsitedir({site_packages!r})\n")
    as_user(name, pth)
    # NNI's remote worker runs `python -m pip install nni --upgrade` on every machine at start; offline that
    # retries the index for a long while. This venv's own pip config keeps pip on what is installed.
    conf = venv / "pip.conf"
    conf.write_text("[global]\nno-index = true\ndisable-pip-version-check = true\n")
    as_user(name, conf)
    return venv / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SshServer:
    """One running sshd: where it listens, who may log in, with which key."""

    port: int
    user: str
    key_file: Path
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def make_keys(directory: Path) -> tuple[Path, Path]:
    """A throwaway host key and user key pair in ``directory``; return (host key, user private key)."""
    host_key, user_key = directory / "host_ed25519", directory / "user_ed25519"
    for key in (host_key, user_key):
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return host_key, user_key


def start_sshd(directory: Path, user: str = REMOTE_USER, port: int | None = None) -> SshServer:
    """Start ``sshd -D`` on 127.0.0.1 with its own config in ``directory`` (world-readable: sshd reads the
    authorized keys as the user)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    host_key, user_key = make_keys(directory)
    authorized = directory / "authorized_keys"
    authorized.write_text((user_key.with_suffix(".pub")).read_text())
    os.chmod(authorized, 0o644)
    port = port or free_port()
    config = directory / f"sshd_{port}.conf"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {directory}/sshd_{port}.pid",
        f"AuthorizedKeysFile {authorized}", "StrictModes no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no", f"AllowUsers {user}",
        "PermitRootLogin no", "Subsystem sftp internal-sftp", "LogLevel ERROR", "MaxStartups 50", "",
    ]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    log = (directory / f"sshd_{port}.log").open("wb")
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited {process.returncode}: {(directory / f'sshd_{port}.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return SshServer(port, user, user_key, process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sshd on port {port} did not start within 10 s")


def new_fixture_dir() -> Path:
    """A world-traversable folder for one fixture's sshd files (pytest's tmp_path is private to root)."""
    return Path(tempfile.mkdtemp(prefix="nninas-sshd-"))


def remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def remote_home(name: str = REMOTE_USER) -> Path:
    """The remote user's home (where its NNI trial folders are)."""
    return Path(pwd.getpwnam(name).pw_dir)


def ensure_fake_versions_python(name: str = REMOTE_USER) -> Path:
    """Another venv of ``name`` where ``nni`` and ``nni_nas`` import as other versions (packages that say
    ``__version__ = "0.0.1"`` placed first on its path); return its ``bin``."""
    home = Path(pwd.getpwnam(name).pw_dir)
    venv = home / "venvs" / "fake-versions"
    if not (venv / "bin" / "python").exists():
        subprocess.run(["runuser", "-u", name, "--", str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)],
                       check=True, capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    for package in ("nni", "nni_nas"):
        (site / package).mkdir(exist_ok=True)
        (site / package / "__init__.py").write_text('__version__ = "0.0.1"\n')
    return venv / "bin"


def ensure_bare_python(name: str = REMOTE_USER) -> Path:
    """A venv of ``name`` with nothing installed (no nni, no nni-nas); return its ``bin``."""
    home = Path(pwd.getpwnam(name).pw_dir)
    venv = home / "venvs" / "bare"
    if not (venv / "bin" / "python").exists():
        subprocess.run(["runuser", "-u", name, "--", str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)],
                       check=True, capture_output=True)
    return venv / "bin"


NOT_NNI_NAS_PYTHON = """#!/bin/sh
# a Python without nni-nas, first on PATH for this account (its ~/.bashrc puts it there)
echo "$0: Error while finding module specification for 'nni_nas.runtime.trial' (ModuleNotFoundError: No module named \
'nni_nas')" >&2
exit 1
"""


def put_other_python_first(name: str = BASHRC_USER) -> Path:
    """Give ``name`` a ``~/.bashrc`` that puts a folder of ``python``/``python3`` without nni-nas first on PATH, above
    Debian's "not interactive: return" (where `pyenv init` and `conda init` lines often are); return that folder."""
    home = Path(pwd.getpwnam(name).pw_dir)
    shims = home / ".pyenv" / "shims"
    shims.mkdir(parents=True, exist_ok=True)
    for python in ("python", "python3"):
        (shims / python).write_text(NOT_NNI_NAS_PYTHON)
        (shims / python).chmod(0o755)
    bashrc = home / ".bashrc"
    bashrc.write_text(f'export PATH="{shims}:$PATH"  # what `eval "$(pyenv init -)"` does\n'
                      "case $- in *i*) ;; *) return;; esac\n")
    for path in (home / ".pyenv", shims, shims / "python", shims / "python3", bashrc):
        as_user(name, path)
    return shims
