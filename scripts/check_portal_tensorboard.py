# ruff: noqa: E501, SIM115  (JavaScript snippets for the page, one per line)
"""Press the NNI portal's TensorBoard button in a real headless browser and screenshot what it opens.

    python scripts/check_portal_tensorboard.py PORTAL_PORT OUT_FOLDER [SECONDS_TO_LOAD]

Drives chromium (``apt-get install chromium``) over the DevTools protocol: opens Trials detail, ticks every trial,
presses "TensorBoard", presses the dialog's "Ok" (its ``window.open`` is caught to read the address it opens), loads
that address and screenshots each step (``OUT_FOLDER/1-detail.png`` ... ``4-tensorboard.png``); prints the runs
TensorBoard shows. docs/portal.md's "TensorBoard" section describes one run.
"""

import asyncio
import base64
import json
import subprocess
import sys
import time
import urllib.request

import websockets

PORT = int(sys.argv[1])
OUT = sys.argv[2]


async def main():
    proc = subprocess.Popen(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-port=9333",
            "--window-size=1400,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(60):
            try:
                targets = json.load(urllib.request.urlopen("http://127.0.0.1:9333/json"))
                page = [t for t in targets if t["type"] == "page"][0]
                break
            except Exception:
                time.sleep(0.5)
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**26) as ws:
            n = 0

            async def call(method, **params):
                nonlocal n
                n += 1
                await ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg.get("id") == n:
                        return msg.get("result", msg)

            async def js(expr):
                r = await call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
                return r.get("result", {}).get("value")

            async def shot(name):
                r = await call("Page.captureScreenshot", format="png")
                open(f"{OUT}/{name}.png", "wb").write(base64.b64decode(r["data"]))

            await call("Page.enable")
            await call("Page.navigate", url=f"http://127.0.0.1:{PORT}/detail")
            await asyncio.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 12)
            await shot("1-detail")
            print(
                "buttons:",
                await js(
                    "Array.from(document.querySelectorAll('button')).map(b => b.innerText.trim()).filter(Boolean).join(' | ')"
                ),
            )
            # tick every trial's row checkbox
            print(
                "ticked:",
                await js("""(() => { const boxes = Array.from(document.querySelectorAll('[role=checkbox], .ms-DetailsRow-check, input[type=checkbox]'));
                 let k = 0; for (const b of boxes) { if (b.closest('.ms-DetailsRow')) { b.click(); k++; } } return k; })()"""),
            )
            await asyncio.sleep(1)
            print(
                "clicked:",
                await js("""(() => { const b = Array.from(document.querySelectorAll('button')).find(b => /TensorBoard/i.test(b.innerText));
                 if (!b) return 'no button'; b.click(); return b.innerText; })()"""),
            )
            await asyncio.sleep(2)
            print(
                "menu:",
                await js(
                    "Array.from(document.querySelectorAll('.ms-ContextualMenu-item, [role=menuitem]')).map(b => b.innerText.trim()).join(' | ')"
                ),
            )
            await shot("2-button")
            print(
                "launch:",
                await js("""(() => { const b = Array.from(document.querySelectorAll('[role=menuitem], button')).find(b => /^(Launch|Start|Open).*TensorBoard|TensorBoard$/i.test(b.innerText.trim()) && b.closest('.ms-ContextualMenu, .ms-Callout'));
                 if (!b) return 'no launch item'; b.click(); return b.innerText; })()"""),
            )
            await asyncio.sleep(8)
            await shot("3-dialog")
            print(
                "dialog:",
                await js(
                    "Array.from(document.querySelectorAll('[role=dialog], .ms-Dialog, .ms-Modal')).map(d => d.innerText).join(' || ')"
                ),
            )
            opened = await js("""(() => { window.__opened = null; window.open = (u) => { window.__opened = u; return null; };
                 const ok = Array.from(document.querySelectorAll('[role=dialog] button, .ms-Dialog button')).find(b => /^ok$/i.test(b.innerText.trim()));
                 if (!ok) return 'no ok button'; ok.click(); return window.__opened; })()""")
            print("the OK button opens:", opened)
            links = [opened] if opened and opened.startswith("http") else []
            tasks = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/v1/nni/tensorboard-tasks"))
            print("tasks:", tasks)
            url = links[0] if links else f"http://127.0.0.1:{tasks[0]['port']}"
            for _ in range(30):
                try:
                    urllib.request.urlopen(url, timeout=3)
                    break
                except Exception:
                    await asyncio.sleep(2)
            await call("Page.navigate", url=url + "/#timeseries")
            await asyncio.sleep(15)
            await shot("4-tensorboard")
            print("tensorboard text:", (await js("document.body.innerText"))[:1500])
    finally:
        proc.terminate()


asyncio.run(main())
