"""The portal's icon font: the package nni-nas fetches holds exactly the files NNI's portal bundle asks for, and
nni_nas/manager/portal_icons.js serves them through NNI 3.0's own REST server (in NNI's Node, without a manager) and
points every page at them. The browser check, offline, is tests/e2e/test_portal_icons.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import nni_node
import pytest

from nni_nas.manager.nnictl import PORTAL_ICONS_PRELOAD, nni_env
from nni_nas.manager.portal_icons import (
    FONT_FILES,
    PACKAGE,
    VERSION,
    IconFetchError,
    icon_dir,
    is_complete,
    main,
    unpack,
)

NNI_NODE = Path(nni_node.__file__).parent
STATIC = NNI_NODE / "static"
SERVER = """
require(%(app_module_path)s).addPath(%(nni_node)s);
require('common/globals/unittest').resetGlobals();
const { RestServer, UnitTestHelpers } = require('rest_server');
UnitTestHelpers.setWebuiPath(%(static)s);
const server = new RestServer(0, %(prefix)s);
server.start().then(() => console.log(UnitTestHelpers.getPort(server)));
"""
CONFIG = '<script>window.FabricConfig=Object.assign({},window.FabricConfig,{iconBaseUrl:"./nni-nas-icons/"})</script>'


def bundle() -> str:
    return "".join(path.read_text(errors="replace") for path in (STATIC / "static" / "js").glob("*.js"))


def test_the_fetched_package_is_the_one_the_portal_bundle_registers_with_the_same_font_files():
    text = bundle()
    assert f'"{PACKAGE}","{VERSION}"' in text  # the bundle's set-version call
    assert set(re.findall(r"fabric-icons[-\w]*\.woff", text)) == set(FONT_FILES)
    assert "res.cdn.office.net/files/fabric-cdn-prod_20230307.001" in text  # where it asks without the preload
    assert "iconBaseUrl" in text  # what the preload sets


def test_a_tarball_that_is_not_the_registrys_is_refused(tmp_path):
    with pytest.raises(IconFetchError, match="sha512"):
        unpack(b"not the package", tmp_path / "icons")
    assert not is_complete(tmp_path / "icons")
    assert main(["--check", str(tmp_path / "icons")]) == 1


def test_nni_env_names_the_fonts_only_when_they_are_complete():
    env = nni_env()
    assert f"--require {PORTAL_ICONS_PRELOAD}" in env["NODE_OPTIONS"]
    assert f"--require {PORTAL_ICONS_PRELOAD}" in nni_env(listen_all=True)["NODE_OPTIONS"]
    if "NNI_NAS_PORTAL_ICONS" not in os.environ:  # the user's own choice wins
        assert ("NNI_NAS_PORTAL_ICONS" in env) == is_complete(icon_dir())


def fake_fonts(folder: Path) -> Path:
    folder.mkdir()
    for name in FONT_FILES:
        (folder / name).write_bytes(b"wOFF" + name.encode())
    (folder / ".complete").write_text(f"{PACKAGE}@{VERSION}\n")
    return folder


def start_server(tmp_path: Path, fonts: Path | None, prefix: str = "") -> tuple[subprocess.Popen, int]:
    script = tmp_path / "server.js"
    script.write_text(SERVER % {"app_module_path": json.dumps(str(NNI_NODE / "node_modules" / "app-module-path")),
                                "nni_node": json.dumps(str(NNI_NODE)), "static": json.dumps(str(STATIC)),
                                "prefix": json.dumps(prefix)})
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", "NNI_NAS_PORTAL_ICONS")}
    env["NODE_OPTIONS"] = f"--require {PORTAL_ICONS_PRELOAD}"
    env["NNI_NAS_PORTAL_ICONS"] = str(fonts or tmp_path / "no-fonts")
    proc = subprocess.Popen([str(NNI_NODE / "node"), str(script)], cwd=NNI_NODE, env=env, stdout=subprocess.PIPE,
                            text=True)
    return proc, int(proc.stdout.readline())


def get(port: int, path: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


needs_node = pytest.mark.skipif(not (NNI_NODE / "node").exists(), reason="NNI's Node is not installed")


@needs_node
@pytest.mark.parametrize("prefix", ["", "nni"])
def test_the_manager_serves_the_fonts_and_every_page_asks_for_them_there(tmp_path, prefix):
    proc, port = start_server(tmp_path, fake_fonts(tmp_path / "fonts"), prefix)
    base = f"/{prefix}" if prefix else ""
    try:
        index = (STATIC / "index.html").read_text()
        stat = (STATIC / "index.html").stat()
        mtime_ms = (stat.st_mtime_ns + 500_000) // 1_000_000  # Node rounds the file's mtime to whole milliseconds
        cached = {"If-None-Match": f'W/"{stat.st_size:x}-{mtime_ms:x}"'}  # express's ETag of the file
        assert get(port, base + "/oview", Accept="*/*", **cached)[0] == 304  # what a page load got from NNI alone
        for route in ("/", "/oview", "/detail"):  # the file itself, and the fallback route of each portal page
            status, headers, body = get(port, base + route, Accept="text/html", **cached)
            page = body.decode()
            assert status == 200 and page.startswith("<!doctype html><html lang=\"en\"><head>" + CONFIG)
            assert page.replace(CONFIG, "") == index  # nothing else changed
            assert int(headers["Content-Length"]) == len(body) and "ETag" not in headers
        for name in (FONT_FILES[0], FONT_FILES[-1]):
            status, headers, body = get(port, f"{base}/nni-nas-icons/{name}")
            assert (status, headers["Content-Type"], body) == (200, "font/woff", b"wOFF" + name.encode())
        assert get(port, f"{base}/nni-nas-icons/fabric-icons-0-00000000.woff")[0] == 404  # only the folder's files
        script = next((STATIC / "static" / "js").glob("main.*.js"))
        status, _, body = get(port, f"{base}/static/js/{script.name}")
        assert status == 200 and body == script.read_bytes()  # other files pass untouched
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_node
def test_without_the_fetched_fonts_the_portal_is_left_as_nni_ships_it(tmp_path):
    proc, port = start_server(tmp_path, fonts=None)
    try:
        status, _, body = get(port, "/oview", Accept="text/html")
        assert status == 200 and body.decode() == (STATIC / "index.html").read_text()  # it asks the CDN
        assert get(port, f"/nni-nas-icons/{FONT_FILES[0]}")[2] != b"wOFF" + FONT_FILES[0].encode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
