"""Check in a real headless Chromium, with no network, that the NNI portal's icons render
(nni_nas/manager/portal_icons.js).

    python scripts/check_portal_icons.py [--out DIR] [--without-fix]   # starts a tiny experiment, stops it after
    python scripts/check_portal_icons.py --port PORT [--out DIR]        # a portal that is already running

The browser reaches 127.0.0.1 only: every other host name resolves to nothing (``--host-resolver-rules``) and no
proxy is used; the check proves it by fetching the icon font from the CDN, which must fail. It loads the portal's
Overview, waits for the icon fonts to settle, saves a screenshot (``DIR/portal.png``), and then, for each icon on
the page, screenshots its box twice: as the portal draws it, and with its font family replaced by one that does not
exist. Without the icon font both are the same empty-box (fallback) glyph, pixel for pixel; with it they differ.
``DIR/icons.png`` shows the pairs, enlarged. The icons render when every compared icon differs and every
``FabricMDL2Icons`` font face the page used is loaded. Exit status 0 when they render, 1 when not.

``--without-fix`` starts the experiment without the preload (as plain nnictl does): the check must then fail.
Needs chromium (``apt-get install chromium``; scripts/test.sh installs it when run as root) and the ``test`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CDN_FONT = "https://res.cdn.office.net/files/fabric-cdn-prod_20230307.001/assets/icons/fabric-icons-a13498cf.woff"
NO_FONT = "nni-nas-no-such-font"  # a family no system has: the browser falls back, as when the icon font is missing
OFFLINE_FLAGS = ["--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
TINY_CONFIG = """
trialCommand: python -m nni_nas.trial --config icons.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 1
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {widths: [8], max_depth: 1}
    train: {epochs: 1, latency_runs: 2}
trainingService:
  platform: local
"""

# the page's state: visible icons (text = the glyph) and the status of each FabricMDL2Icons font face
STATE_JS = """(() => {
  const icons = Array.from(document.querySelectorAll('i[data-icon-name]')).filter((el) => {
    const r = el.getBoundingClientRect();
    return el.textContent.trim() && r.width >= 4 && r.height >= 4 && r.top >= 0 && r.left >= 0
      && r.bottom <= innerHeight && r.right <= innerWidth;
  });
  const faces = Array.from(document.fonts).filter((f) => f.family.includes('FabricMDL2Icons'))
    .map((f) => [f.family.replace(/"/g, ''), f.status]);
  return {icons: icons.length, faces};
})()"""
# mark up to 12 visible icons of different names and return their boxes
ICONS_JS = """(() => {
  const seen = new Set(), out = [];
  for (const el of document.querySelectorAll('i[data-icon-name]')) {
    const r = el.getBoundingClientRect(), name = el.getAttribute('data-icon-name');
    if (!el.textContent.trim() || r.width < 4 || r.height < 4 || r.top < 0 || r.left < 0
        || r.bottom > innerHeight || r.right > innerWidth || seen.has(name)) continue;
    seen.add(name);
    el.setAttribute('data-icon-check', out.length);
    out.push({name, x: r.left, y: r.top, width: r.width, height: r.height});
    if (out.length === 12) break;
  }
  return out;
})()"""
NEXT_FRAME_JS = "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"


def find_chromium() -> str | None:
    """The chromium (or chrome) executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class DevTools:
    """A minimal client of one page over the Chrome DevTools protocol: calls, and the network events seen."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.requests: dict[str, str] = {}  # request id -> url
        self.fonts: list[tuple[str, str]] = []  # (url, HTTP status or the error) of every .woff request
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                self.pending.pop(message["id"]).set_result(message)
                continue
            params = message.get("params", {})
            if message.get("method") == "Network.requestWillBeSent":
                self.requests[params["requestId"]] = params["request"]["url"]
            elif message.get("method") == "Network.responseReceived" and ".woff" in params["response"]["url"]:
                self.fonts.append((params["response"]["url"], str(params["response"]["status"])))
            elif message.get("method") == "Network.loadingFailed":
                url = self.requests.get(params["requestId"], "")
                if ".woff" in url:
                    self.fonts.append((url, params.get("errorText", "failed")))

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        message = await asyncio.wait_for(future, 60)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    async def js(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        return result["result"].get("value")

    async def screenshot(self, clip: dict | None = None) -> bytes:
        params = {"format": "png"} | ({"clip": clip | {"scale": 1}} if clip else {})
        return base64.b64decode((await self.call("Page.captureScreenshot", **params))["data"])


@contextlib.contextmanager
def browser(chromium: str) -> Iterator[str]:
    """Start headless chromium with no network but 127.0.0.1 in a fresh profile; yield its page's DevTools URL."""
    with tempfile.TemporaryDirectory(prefix="nni-nas-chromium-") as profile:
        proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--window-size=1400,900", "--force-device-scale-factor=1",
             "--hide-scrollbars", "--no-first-run", "--no-default-browser-check", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", *OFFLINE_FLAGS, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (active.is_file() and active.read_text().count("\n") >= 1) and time.monotonic() < deadline:
                time.sleep(0.2)
            port = int(active.read_text().split()[0])
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10))
            yield next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def same_pixels(first: bytes, second: bytes) -> bool:
    from PIL import Image, ImageChops

    a, b = (Image.open(io.BytesIO(png)).convert("RGB") for png in (first, second))
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def save_pairs(pairs: list[tuple[str, bytes, bytes]], path: Path, zoom: int = 4) -> None:
    """Each icon as drawn beside the fallback glyph, enlarged, one row each."""
    from PIL import Image

    rows = [[Image.open(io.BytesIO(png)).convert("RGB") for png in (drawn, fallback)] for _, drawn, fallback in pairs]
    if not rows:
        return
    cell = max(max(img.width for row in rows for img in row), max(img.height for row in rows for img in row)) * zoom
    sheet = Image.new("RGB", (2 * cell + 30, len(rows) * (cell + 10) + 10), "white")
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            sheet.paste(img.resize((img.width * zoom, img.height * zoom), Image.NEAREST),
                        (10 + j * (cell + 10), 10 + i * (cell + 10)))
    sheet.save(path)


async def _check(page_url: str, devtools_url: str, out: Path, block_local_fonts: bool, timeout: float) -> dict:
    import websockets

    async with websockets.connect(devtools_url, max_size=2**27) as socket:
        tab = DevTools(socket)
        await tab.call("Network.enable")
        await tab.call("Network.setCacheDisabled", cacheDisabled=True)
        if block_local_fonts:  # a control: the check must see empty boxes when the served fonts are missing
            await tab.call("Network.setBlockedURLs", urls=["*/nni-nas-icons/*"])
        await tab.call("Page.enable")
        await tab.call("Page.navigate", url=page_url)
        deadline, state, previous = time.monotonic() + timeout, {}, None
        while time.monotonic() < deadline:  # icons on the page, no face still loading, the same twice in a row
            await asyncio.sleep(1)
            state = await tab.js(STATE_JS) or {}
            settled = (state.get("icons") and not any(status == "loading" for _, status in state["faces"])
                       and any(status != "unloaded" for _, status in state["faces"]))
            if settled and state == previous:
                break
            previous = state
        (out / "portal.png").write_bytes(await tab.screenshot())
        pairs = []
        for index, icon in enumerate(await tab.js(ICONS_JS) or []):
            clip = {key: icon[key] for key in ("x", "y", "width", "height")}
            drawn = await tab.screenshot(clip)
            element = f"document.querySelector('[data-icon-check=\"{index}\"]')"
            await tab.js(f"{element}.style.setProperty('font-family', '{NO_FONT}', 'important'); {NEXT_FRAME_JS}")
            fallback = await tab.screenshot(clip)
            await tab.js(f"{element}.style.removeProperty('font-family'); {NEXT_FRAME_JS}")
            pairs.append((icon["name"], drawn, fallback))
        save_pairs(pairs, out / "icons.png")
        font_requests = list(tab.fonts)  # the page's own, before the probe of the CDN below
        cdn = await tab.js(f"fetch('{CDN_FONT}', {{mode: 'no-cors'}}).then(() => 'reached', (e) => 'failed: ' + e)")
        tab.reader.cancel()
    icons = {name: not same_pixels(drawn, fallback) for name, drawn, fallback in pairs}
    used = {family: status for family, status in state.get("faces", []) if status != "unloaded"}
    return {
        "offline": cdn.startswith("failed"), "cdn_probe": cdn, "icons": icons, "faces": used,
        "font_requests": font_requests,
        "icons_render": bool(icons) and all(icons.values()) and bool(used)
                        and all(status == "loaded" for status in used.values()),
    }


def check_portal_icons(port: int, out: str | Path, block_local_fonts: bool = False, timeout: float = 60.0) -> dict:
    """Load the portal on ``port`` in headless chromium without network and check its icons (module docstring).

    Returns ``{"icons_render": bool, "offline": bool, "icons": {name: drawn differs from fallback}, "faces":
    {family: status}, "font_requests": [(url, status or error)], "cdn_probe": str}``; screenshots go to ``out``."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium is not installed: apt-get install chromium (scripts/test.sh does as root)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with browser(chromium) as devtools_url:
        return asyncio.run(_check(f"http://127.0.0.1:{port}/oview", devtools_url, out, block_local_fonts, timeout))


@contextlib.contextmanager
def tiny_experiment(home: Path, with_fix: bool = True) -> Iterator[int]:
    """A one-trial digits experiment in ``home`` through the real nnictl; yield its portal's port, stop it by id."""
    from nni_nas.manager.nnictl import PORTAL_ICONS_PRELOAD, create_experiment, free_port, nni_env, stop_experiment

    (home / "icons.yml").write_text(TINY_CONFIG)
    env = nni_env({"HOME": str(home)})
    if not with_fix:  # as plain nnictl starts it: the portal asks the CDN
        env["NODE_OPTIONS"] = env["NODE_OPTIONS"].replace(f"--require {PORTAL_ICONS_PRELOAD}", "").strip()
    port = free_port()
    experiment_id = create_experiment(home / "icons.yml", port, env=env)
    try:
        yield port
    finally:
        stop_experiment(experiment_id, env=env)


def report(result: dict) -> str:
    lines = [f"browser offline: {result['offline']} (the CDN's icon font: {result['cdn_probe']})",
             "icon font faces used: " + (", ".join(f"{f} {s}" for f, s in result["faces"].items()) or "none"),
             "font requests: " + (", ".join(f"{u} {s}" for u, s in result["font_requests"]) or "none")]
    drawn = [name for name, differs in result["icons"].items() if differs]
    boxes = [name for name, differs in result["icons"].items() if not differs]
    lines.append(f"icons drawn: {len(drawn)} of {len(result['icons'])} ({', '.join(drawn) or '-'}); "
                 f"empty boxes: {', '.join(boxes) or 'none'}")
    lines.append("icons render" if result["icons_render"] else "icons DO NOT render")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="a running portal to check (default: start a tiny experiment)")
    parser.add_argument("--out", default="portal-icons-check", help="folder for the screenshots")
    parser.add_argument("--without-fix", action="store_true", help="start the experiment without the preload")
    args = parser.parse_args(argv)
    if args.port:
        result = check_portal_icons(args.port, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="nni-nas-icons-") as home, \
                tiny_experiment(Path(home), with_fix=not args.without_fix) as port:
            result = check_portal_icons(port, args.out)
    print(report(result))
    print(f"screenshots: {args.out}/portal.png, {args.out}/icons.png")
    return 0 if result["icons_render"] and result["offline"] else 1


if __name__ == "__main__":
    sys.exit(main())
