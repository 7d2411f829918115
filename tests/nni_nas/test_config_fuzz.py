"""A config fuzzer: 300 seeded mutants of the shipped configs. `nni-nas check` either passes a mutant or names its
problems in one line each, never raising; a sample of the mutants it passes trains one epoch (or is refused by
the trial in one line) within a time bound."""

from __future__ import annotations

import copy
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from nni_nas.checks import check_config
from nni_nas.trial import main as trial_main

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["digits_evolution.yml", "digits_random.yml", "digits_pnas.yml", "digits_darts.yml", "digits_enas.yml",
           "digits_enas_micro.yml", "pydocs_evolution.yml", "nb201_evolution.yml", "nb201_pnas.yml"]
MUTANTS = 300
TRIALS = 6  # passing mutants that also train (multi-trial configs on their own data)
BAD_VALUES: list[Any] = [-1, 0, 1, 2.5, 1e9, 2**70, -0.5, "x", "", None, True, [], {}, [1, 2], {"a": 1}, "16"]


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every key under ``node`` (a parsed YAML mapping), depth first."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(path + (key,))
            out += leaves(value, path + (key,))
    return out


def mutate(raw: dict, rng: random.Random) -> tuple[dict, str]:
    """One random change of a parsed config: a key removed, misspelt, or given a wrong value."""
    raw = copy.deepcopy(raw)
    path = rng.choice(leaves(raw))
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    kind = rng.choice(["value", "value", "value", "delete", "misspell"])
    if kind == "delete":
        del parent[key]
    elif kind == "misspell":
        position = rng.randrange(len(key) + 1)
        parent[key[:position] + rng.choice("aex_") + key[position:]] = parent.pop(key)
    else:
        parent[key] = rng.choice(BAD_VALUES)
    return raw, f"{kind} {'.'.join(map(str, path))}"


def write_mutant(folder: Path, source: str, raw: dict) -> Path:
    folder.mkdir(parents=True)
    path = folder / source
    path.write_text(yaml.safe_dump(raw))
    return path


def test_three_hundred_mutants_are_passed_or_named_in_one_line_each(tmp_path, capsys):
    rng = random.Random(20261129)
    originals = {name: yaml.safe_load((REPO / "configs" / name).read_text()) for name in SOURCES}
    for raw in originals.values():  # the mutants live elsewhere: make the NAS-Bench table paths absolute
        evaluator = raw["tuner"]["classArgs"].get("evaluator")
        if evaluator:
            evaluator["table"] = str((REPO / "configs" / evaluator["table"]).resolve())
    outcomes: Counter[str] = Counter()
    passed: list[tuple[Path, str, str]] = []
    for index in range(MUTANTS):
        source = rng.choice(SOURCES)
        raw, change = mutate(originals[source], rng)
        path = write_mutant(tmp_path / f"m{index}", source, raw)
        problems = check_config(path)
        assert isinstance(problems, list), change
        for problem in problems:
            assert isinstance(problem, str) and problem.strip() and "\n" not in problem, (change, problem)
            assert "Traceback" not in problem and "the check itself failed" not in problem, (change, problem)
        outcomes["refused" if problems else "passed"] += 1
        if not problems and source.split("_")[1].split(".")[0] in ("evolution", "random", "pnas") \
                and source.startswith(("digits", "pydocs")):
            passed.append((path, source, change))

    trained: Counter[str] = Counter()
    for path, _, change in passed[:TRIALS]:
        code, err = one_epoch(path, tmp_path / f"out-{path.parent.name}", capsys)
        lines = [line for line in err.splitlines() if line.startswith("nni-nas trial: error")]
        assert code in (0, 2), (change, err[-500:])
        assert "Traceback" not in err, (change, err[-2000:])
        assert code == 0 or len(lines) == 1, (change, err[-500:])
        trained["trained" if code == 0 else "refused by the trial"] += 1
    print(f"\n{MUTANTS} mutants: {dict(outcomes)}; of {len(passed)} multi-trial mutants that passed, "
          f"{min(len(passed), TRIALS)} ran one epoch: {dict(trained)}")
    assert outcomes["refused"] > MUTANTS // 2 and outcomes["passed"] > 10  # the mutations are mostly mistakes
    assert sum(trained.values()) == min(len(passed), TRIALS) > 0


def one_epoch(config: Path, out: Path, capsys) -> tuple[int, str]:
    """The trial entry point on ``config`` for one epoch in this process; fails the test after 120 s."""

    def too_long(*_):
        raise TimeoutError(f"the trial of {config} ran for more than 120 s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(120)
    try:
        code = trial_main(["--config", str(config), "--arch", "random", "--out", str(out), "--epochs", "1"],
                          use_worker=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, capsys.readouterr().err
