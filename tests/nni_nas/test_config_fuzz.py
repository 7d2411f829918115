"""A config fuzzer: 300 seeded mutants of the shipped configs. `nni-nas check` either passes a mutant or names its
problems in one line each, never raising; a sample of the mutants it passes trains one epoch within a time bound (a
mutant that passes the check and is then refused by the trial is a defect of the check: it let through what cannot
work). Then the shapes a lenient reading lets through (keys given twice, FIFOs, binary bytes, huge lists, misspelt
NNI fields): every one refused by the check in one line each."""

from __future__ import annotations

import copy
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from nni_nas.checks import check_config
from nni_nas.runtime.trial import main as trial_main

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["digits_evolution.yml", "digits_random.yml", "digits_pnas.yml", "digits_darts.yml", "digits_enas.yml",
           "digits_enas_micro.yml", "digits_spos.yml", "pydocs_evolution.yml", "nb201_evolution.yml",
           "nb201_pnas.yml"]
MUTANTS = 300
TRIALS = 6  # passing mutants that also train (multi-trial configs on their own data)
ONE_SHOT_TRIALS = 3  # passing DARTS / ENAS / SPOS mutants that also run one search epoch and one retraining epoch
ONE_SHOT = ("digits_darts.yml", "digits_enas.yml", "digits_enas_micro.yml", "digits_spos.yml")
# what bounds a one-shot run to a few seconds; set on a passing mutant before its run (its check passed as it was)
ONE_SHOT_BOUNDS = {"digits_darts.yml": {"search_epochs": 1, "order": 1},  # (second order: 3.5 min under load)
                   "digits_enas.yml": {"search_epochs": 1, "retrain_epochs": 1, "controller_steps": 2,
                                       "derive_samples": 2},
                   "digits_spos.yml": {"search_epochs": 1, "retrain_epochs": 1, "population_size": 2,
                                       "generations": 1, "parents": 1}}
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
    one_shot: list[tuple[Path, str, str]] = []
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
        if not problems and source in ONE_SHOT and len(one_shot) < ONE_SHOT_TRIALS \
                and source not in [name for _, name, _ in one_shot]:  # one of each strategy first
            one_shot.append((bounded(path, source, raw), source, change))

    trained: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    defects: list[tuple[str, str, str]] = []  # passed the check, refused by the trial
    for path, source, change in passed[:TRIALS] + one_shot:
        start = time.monotonic()
        # a one-shot run is a search epoch, a derivation and a retraining epoch (measured at load average 17 on 2
        # cores: DARTS 327 s, ENAS micro 304 s; multi-trial mutants 77 s each)
        code, err = one_epoch(path, tmp_path / f"out-{path.parent.name}", capsys, 900 if source in ONE_SHOT else 300)
        seconds[source if source in ONE_SHOT else "multi-trial"] += time.monotonic() - start
        lines = [line for line in err.splitlines() if line.startswith("nni-nas trial: error")]
        assert code in (0, 2), (change, err[-500:])
        assert "Traceback" not in err, (change, err[-2000:])
        assert code == 0 or len(lines) == 1, (change, err[-500:])
        # a learning rate that makes the loss NaN is an outcome of training, not of reading the config (check cannot
        # tell which lr diverges on which data): the trial names it with the fix, and search's end counts it
        diverged = code != 0 and "training loss became" in lines[0] and "lower train.lr" in lines[0]
        trained["trained" if code == 0 else "diverged" if diverged else "refused by the trial"] += 1
        if code != 0 and not diverged:
            defects.append((source, change, lines[0]))
    one_shot_names = ", ".join(sorted(name for _, name, _ in one_shot))
    print(f"\n{MUTANTS} mutants: {dict(outcomes)}; of {len(passed)} multi-trial mutants that passed, "
          f"{min(len(passed), TRIALS)} ran one epoch, and {len(one_shot)} one-shot ones ({one_shot_names}) one search "
          f"and one retraining epoch: {dict(trained)}; seconds: "
          f"{ {key: round(value, 1) for key, value in seconds.items()} }")
    assert not defects, f"passed the check, then refused by the trial: {defects}"
    assert outcomes["refused"] > MUTANTS // 2 and outcomes["passed"] > 10  # the mutations are mostly mistakes
    assert sum(trained.values()) == min(len(passed), TRIALS) + len(one_shot) and len(one_shot) == ONE_SHOT_TRIALS
    assert {name.split("_")[1].split(".")[0] for _, name, _ in one_shot} == {"darts", "enas", "spos"}


def bounded(path: Path, source: str, raw: dict) -> Path:
    """A copy of a passing one-shot mutant whose search is a few seconds long (:data:`ONE_SHOT_BOUNDS`)."""
    raw = copy.deepcopy(raw)
    raw["tuner"]["classArgs"].update(ONE_SHOT_BOUNDS[source.replace("_micro", "")])
    out = path.with_name("bounded-" + path.name)  # beside the mutant: its own output folder
    out.write_text(yaml.safe_dump(raw))
    return out


class TrialTooLong(BaseException):
    """Raised by the alarm; a BaseException, so that nothing in the trial can turn it into a clean exit."""


def one_epoch(config: Path, out: Path, capsys, bound: int = 120) -> tuple[int, str]:
    """The trial entry point on ``config`` for one epoch in this process; fails the test after ``bound`` seconds."""

    def too_long(*_):  # not a TimeoutError: that is an OSError, which the trial reports as one line and exit 2
        raise TrialTooLong(f"the trial of {config} ran for more than {bound} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(bound)
    try:
        code = trial_main(["--config", str(config), "--arch", "random", "--out", str(out), "--epochs", "1"],
                          use_worker=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------ shapes a lenient reading lets through
HOSTILE = 60
NNI_KEYS = ("maxTrialNumber", "trialConcurrency", "trialCommand", "maxExperimentDuration", "searchSpace",
            "trialCodeDirectory", "tuner", "trainingService")
MAX_LINE = 1000  # characters of one problem: long values are cut (a 200,000-item list was once a 1.5 MB line)


def hostile(source: str, text: str, folder: Path, rng: random.Random) -> tuple[Path, str, tuple[str, ...]]:
    """One mutant of the config ``text`` in a shape that reads as YAML (or as a path) but cannot work: a key given
    twice, a FIFO where a file belongs, binary bytes, a huge list, a misspelt NNI field. Returns its path, what was
    done, and the words one of its problems must hold."""
    folder.mkdir(parents=True)
    path = folder / source
    lines = text.splitlines()
    shape = rng.choice(["duplicate", "fifo data", "fifo config", "binary", "huge list", "nni typo"])
    if shape == "duplicate":  # a key line repeated right after itself, same indentation, another value or the same
        keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith(("#", "-"))
                 and not line.rstrip().endswith(":")]
        i = rng.choice(keyed)
        key = lines[i].split(":")[0]
        lines.insert(i + 1, f"{key}: {rng.choice(['2', '500', 'x', lines[i].split(':', 1)[1].strip()])}")
        path.write_text("\n".join(lines) + "\n")
        return path, f"duplicate {key.strip()}", ("is given twice",)
    if shape == "fifo data":  # the data read from a named pipe (reading it would block for ever)
        raw = yaml.safe_load(text)
        fifo = folder / "data.npz"
        os.mkfifo(fifo)
        args = raw["tuner"]["classArgs"]
        args.update(data="npz", data_args={"path": str(fifo)}) if source != "pydocs_evolution.yml" else \
            args.update(data="text_csv", data_args={"path": str(fifo)})
        path.write_text(yaml.safe_dump(raw))
        return path, "fifo data_args.path", ("FIFO",)
    if shape == "fifo config":
        os.mkfifo(path)
        return path, "the config is a FIFO", ("FIFO",)
    if shape == "binary":  # bytes that are not UTF-8 somewhere in the file (an image saved under .yml, say)
        data = text.encode()
        at = rng.randrange(len(data))
        path.write_bytes(data[:at] + bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 64))) + data[at:])
        return path, f"binary bytes at {at}", ("not a text YAML file",)
    if shape == "huge list":  # a value replaced by a 200,000-item list
        raw = yaml.safe_load(text)
        key_path = rng.choice(leaves(raw))
        parent = raw
        for key in key_path[:-1]:
            parent = parent[key]
        parent[key_path[-1]] = [rng.choice([16, "x", 0.5])] * 200_000
        path.write_text(yaml.safe_dump(raw, default_flow_style=True, width=2**31))
        return path, f"huge list at {'.'.join(map(str, key_path))}", ()
    key = rng.choice([k for k in NNI_KEYS if any(line.startswith(f"{k}:") for line in lines)])
    position = rng.randrange(1, len(key))
    typo = key[:position] + key[position + 1:]  # one letter dropped
    path.write_text("\n".join(typo + line[len(key):] if line.startswith(f"{key}:") else line for line in lines) + "\n")
    return path, f"nni typo {key} -> {typo}", (typo,)  # named: NNI has no such field, or a required one is missing


def test_hostile_shapes_are_refused_in_one_line_each(tmp_path):
    """Keys given twice, FIFOs, binary bytes, huge lists and misspelt NNI fields, seeded over the shipped configs:
    every one refused by ``check``, each problem one line of bounded length naming the shape, never a traceback."""
    rng = random.Random(20261206)
    texts = {name: (REPO / "configs" / name).read_text() for name in SOURCES if not name.startswith("nb201")}
    shapes: Counter[str] = Counter()
    for index in range(HOSTILE):
        source = rng.choice(sorted(texts))
        path, change, words = hostile(source, texts[source], tmp_path / f"h{index}", rng)
        problems = check_config(path)
        assert problems, f"{change} in {source} passed the check"
        for problem in problems:
            assert isinstance(problem, str) and problem.strip() and "\n" not in problem, (change, problem)
            assert "Traceback" not in problem and "the check itself failed" not in problem, (change, problem)
            assert len(problem) <= MAX_LINE, (change, problem[:300], len(problem))
        assert all(any(word in p for p in problems) for word in words), (change, problems)
        shapes[change.split(" ")[0] if not change.startswith("the config") else "fifo"] += 1
    print(f"\n{HOSTILE} hostile mutants, all refused in one line each: {dict(shapes)}")
    assert len(shapes) >= 5
