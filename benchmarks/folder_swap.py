"""How often a reader finds an export folder missing while it is replaced, and what a replacement costs: the
one-step exchange (renameat2 RENAME_EXCHANGE, what ``nni-nas export --force`` uses) against renaming the old folder
aside and the new one in (the fallback where the file system lacks the exchange).

    .venv/bin/python benchmarks/folder_swap.py [--swaps 2000]

A reader in another process checks ``os.path.exists(target)`` in a loop; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from nni_nas.export import swap


def watch(target: str, stop, missing) -> None:
    while not stop.is_set():
        if not os.path.exists(target):
            missing.value += 1


def run(method: str, swaps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "rank1"
        target.mkdir()
        stop, missing = multiprocessing.Event(), multiprocessing.Value("i", 0)
        reader = multiprocessing.Process(target=watch, args=(str(target), stop, missing))
        reader.start()
        time.sleep(0.2)
        patch = mock.patch.object(swap, "exchange", lambda a, b: False) if method == "aside" else mock.MagicMock()
        with patch:
            start = time.perf_counter()
            for i in range(swaps):
                new = Path(tmp) / f".new{i}"
                new.mkdir()
                (new / "model.py").write_text(str(i))
                swap.replace_folder(new, target)
            seconds = time.perf_counter() - start
        stop.set()
        reader.join()
        return {"method": method, "swaps": swaps, "missing_observations": missing.value,
                "us_per_swap": round(1e6 * seconds / swaps, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--swaps", type=int, default=2000)
    args = parser.parse_args()
    results = [run("exchange", args.swaps), run("aside", args.swaps)]
    for result in results:
        print(f"{result['method']:>9}: {result['missing_observations']} of the reader's checks found no target, "
              f"{result['us_per_swap']} us per replacement")
    ratio = results[0]["us_per_swap"] / results[1]["us_per_swap"]
    print(json.dumps({"benchmark": "folder_swap", "results": results, "time_ratio_exchange_vs_aside": round(ratio, 2)}))


if __name__ == "__main__":
    main()
