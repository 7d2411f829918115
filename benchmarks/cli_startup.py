"""How fast ``nni-nas --help`` (and every verb's ``--help``) answers, against NNI's own ``nnictl --help`` in the
same run, and against a checkout of an older nni-nas (``--before DIR``) whose parser imported every verb's torch
and nni.

Each command runs ``--runs`` times as a fresh process; the median wall time is reported. ``python -X importtime``
of building the parser gives the modules it imports and their total import time. Ends with one JSON line.

    python benchmarks/cli_startup.py --runs 5 [--before /tmp/nni-nas-b5502f1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUILD = "import sys; sys.path.insert(0, {root!r}); from nni_nas.cli import build_parser; build_parser()"


def wall(command: list[str], runs: int, cwd: Path = REPO) -> float:
    """Median wall seconds of ``command`` over ``runs`` fresh processes (one warm-up run not counted)."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_profile(root: Path) -> tuple[int, float, list[str]]:
    """Modules imported to build the parser of the nni-nas at ``root``: count, total seconds, the heavy ones."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", BUILD.format(root=str(root))], cwd=root,
                          capture_output=True, text=True, check=False)
    rows = [line.split("|") for line in proc.stderr.splitlines() if line.startswith("import time:")][1:]
    self_us = sum(int(row[0].split(":")[1]) for row in rows)
    names = [row[2].strip() for row in rows]
    heavy = [n for n in ("torch", "nni", "numpy", "pytorch_lightning", "matplotlib") if n in names]
    return len(names), self_us / 1e6, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a checkout of an older nni-nas to time the same way")
    args = parser.parse_args()

    from nni_nas.cli import VERBS

    nni_nas_cmd = [str(BIN / "nni-nas")]
    figures: dict = {"runs": args.runs}
    figures["help_s"] = wall([*nni_nas_cmd, "--help"], args.runs)
    figures["verb_help_s"] = {verb: wall([*nni_nas_cmd, verb, "--help"], max(1, args.runs // 2)) for verb in VERBS}
    figures["version_s"] = wall([*nni_nas_cmd, "--version"], args.runs)
    figures["nnictl_help_s"] = wall([str(BIN / "nnictl"), "--help"], args.runs)
    figures["imports"], figures["import_s"], figures["heavy_imports"] = import_profile(REPO)
    if args.before:
        code = BUILD.format(root=str(args.before.resolve())) + "; build_parser().parse_args(['--help'])"
        figures["before_help_s"] = wall([sys.executable, "-c", code], args.runs, cwd=args.before)
        figures["before_imports"], figures["before_import_s"], figures["before_heavy_imports"] = \
            import_profile(args.before.resolve())
    print(f"nni-nas --help       {figures['help_s']:.3f} s (median of {args.runs})")
    print(f"slowest VERB --help  {max(figures['verb_help_s'].values()):.3f} s")
    print(f"nni-nas --version    {figures['version_s']:.3f} s")
    print(f"nnictl --help        {figures['nnictl_help_s']:.3f} s (the peer)")
    print(f"parser imports       {figures['imports']} modules, {figures['import_s']:.3f} s, heavy: "
          f"{figures['heavy_imports'] or 'none'}")
    figures["ratio_nnictl_over_nni_nas"] = round(figures["nnictl_help_s"] / figures["help_s"], 1)
    print(f"ratio nnictl / nni-nas --help: {figures['ratio_nnictl_over_nni_nas']}")
    if args.before:
        figures["ratio_before_over_after"] = round(figures["before_help_s"] / figures["help_s"], 1)
        print(f"before ({args.before}) --help {figures['before_help_s']:.3f} s, {figures['before_imports']} modules "
              f"({figures['before_import_s']:.1f} s), heavy: {figures['before_heavy_imports']}; "
              f"before / after: {figures['ratio_before_over_after']}")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
