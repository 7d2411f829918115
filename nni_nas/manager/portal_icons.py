"""The NNI web portal's icon font, kept in this environment so that the portal shows its icons offline.

NNI 3.0's portal is a Fluent UI React app: it registers ``@fluentui/font-icons-mdl2`` 8.5.12 (``initializeIcons()``
in ``nni_node/static/static/js/964.*.js``) and loads the 19 ``fabric-icons-*.woff`` files of that package from
``https://res.cdn.office.net/files/fabric-cdn-prod_20230307.001/assets/icons/``. Without internet access every
icon is an empty box. The same 19 files are in the npm package's ``fonts/`` folder.

The package's code is MIT, but its LICENSE puts the fonts and icons under Microsoft's Fluent UI assets licence
(https://aka.ms/fluentui-assets-license), so they are not in this repository: ``scripts/install.sh`` runs
``python -m nni_nas.manager.portal_icons`` once, which fetches that exact package from the npm registry, checks it
against the registry's sha512, and keeps the fonts with their LICENSE in ``<venv>/share/nni-nas/portal-icons/``. The
manager's Node preload ``nni_nas/manager/portal_icons.js`` serves them and points the portal there. This module imports
nothing heavy (the standard library and :mod:`nni_nas.errors`): install.sh and the manager's start stay fast.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

from nni_nas.errors import NasError

PACKAGE = "@fluentui/font-icons-mdl2"
VERSION = "8.5.12"  # the version NNI 3.0's portal bundle registers: its file names carry content hashes
INTEGRITY = "sha512-fn/xvJ3BaoH4N2X58UJq4lymPV2zWRDfCwPX62oGYuxGYoc2F7+MSXSgCJMy106KvfYO1IkIdppWwtkoKKq7fw=="
FONT_FILES = (
    "fabric-icons-a13498cf.woff", "fabric-icons-0-467ee27f.woff", "fabric-icons-1-4d521695.woff",
    "fabric-icons-2-63c99abf.woff", "fabric-icons-3-089e217a.woff", "fabric-icons-4-a656cc0a.woff",
    "fabric-icons-5-f95ba260.woff", "fabric-icons-6-ef6fd590.woff", "fabric-icons-7-2b97bb99.woff",
    "fabric-icons-8-6fdf1528.woff", "fabric-icons-9-c6162b42.woff", "fabric-icons-10-c4ded8e4.woff",
    "fabric-icons-11-2a8393d6.woff", "fabric-icons-12-7e945a1e.woff", "fabric-icons-13-c3989a02.woff",
    "fabric-icons-14-5cf58db8.woff", "fabric-icons-15-3807251b.woff", "fabric-icons-16-9cf93f3b.woff",
    "fabric-icons-17-0c4ed701.woff",
)
COMPLETE = ".complete"  # written last, holding PACKAGE@VERSION: the folder is whole
DEFAULT_REGISTRY = "https://registry.npmjs.org/"


class IconFetchError(NasError):
    """The icon font could not be fetched or did not match what the portal asks for."""


def icon_dir(prefix: str | Path | None = None) -> Path:
    """Where the fonts live: ``<prefix>/share/nni-nas/portal-icons`` of this Python's environment."""
    return Path(prefix or sys.prefix) / "share" / "nni-nas" / "portal-icons"


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds every font file of :data:`VERSION`."""
    marker = folder / COMPLETE
    return (marker.is_file() and marker.read_text().strip() == f"{PACKAGE}@{VERSION}"
            and all((folder / name).is_file() for name in FONT_FILES))


def tarball_url(registry: str = DEFAULT_REGISTRY) -> str:
    """The npm tarball of :data:`PACKAGE` :data:`VERSION` on ``registry`` (npm's ``NPM_CONFIG_REGISTRY`` form)."""
    return f"{registry.rstrip('/')}/{PACKAGE}/-/{PACKAGE.split('/')[1]}-{VERSION}.tgz"


def unpack(tarball: bytes, folder: Path) -> None:
    """Check ``tarball`` against :data:`INTEGRITY` and write its fonts and LICENSE into ``folder``."""
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if digest != INTEGRITY:
        raise IconFetchError(f"{PACKAGE}@{VERSION}: the tarball's {digest[:20]}... is not the registry's "
                             f"{INTEGRITY[:20]}...; a mirror serving another file?")
    wanted = {f"package/fonts/{name}": name for name in FONT_FILES} | {"package/LICENSE": "LICENSE"}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMPLETE).unlink(missing_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.name in wanted and member.isfile():
                (folder / wanted.pop(member.name)).write_bytes(archive.extractfile(member).read())
    if wanted:
        raise IconFetchError(f"{PACKAGE}@{VERSION} lacks {sorted(wanted)}")
    (folder / COMPLETE).write_text(f"{PACKAGE}@{VERSION}\n")


def fetch(folder: Path, registry: str = DEFAULT_REGISTRY, timeout: float = 15.0) -> None:
    """Download :data:`PACKAGE` from the npm registry and keep its fonts in ``folder`` (nothing when they are there)."""
    if is_complete(folder):
        return
    url = tarball_url(registry)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            tarball = response.read()
    except OSError as error:  # URLError, timeouts, refused connections
        raise IconFetchError(f"cannot download {url}: {error}") from error
    unpack(tarball, folder)


def main(argv: list[str] | None = None) -> int:
    """``python -m nni_nas.manager.portal_icons [--check] [FOLDER]``: fetch the fonts (into :func:`icon_dir` by
    default); exit 1 with the reason when that fails. ``--check``: exit 0 when they are there, 1 when not, fetching
    nothing."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    args = [arg for arg in args if arg != "--check"]
    folder = Path(args[0]) if args else icon_dir()
    if check:
        return 0 if is_complete(folder) else 1
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    try:
        fetch(folder, registry)
    except IconFetchError as error:
        print(f"nni-nas: the portal's icon font was not fetched: {error}", file=sys.stderr)
        return 1
    print(f"nni-nas: the portal's icon font ({PACKAGE}@{VERSION}) is in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
