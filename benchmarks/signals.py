"""Signals: nni-nas's search over ``signal_cnn`` against scikit-learn baselines on a real UCR time-series data set.

The data are the UCR/UEA archive's data sets that sktime bundles in its wheel (``sktime/datasets/data/<Name>/``,
``<Name>_TRAIN.ts`` and ``<Name>_TEST.ts``, the archive's own train/test split): ``GunPoint`` (univariate, 50 train /
150 test series of 150 steps, 2 classes), ``ItalyPowerDemand`` (univariate, 67 / 1029 of 24 steps, 2 classes),
``ArrowHead`` (univariate, 36 / 175 of 251 steps, 3 classes), ``BasicMotions`` (6 channels, 40 / 40 of 100 steps, 4
classes). Nothing is downloaded at run time: the script reads the ``.ts`` files straight out of a downloaded sktime
wheel (or an installed sktime); sktime itself is not imported and not a dependency of nni-nas::

    pip download sktime==1.2.0 --no-deps -d ~/data/sktime        # once; any sktime wheel that bundles the data
    nice python benchmarks/signals.py --sktime ~/data/sktime/sktime-1.2.0-py3-none-any.whl --data GunPoint

Routes, each on the archive's split (trained on TRAIN, measured on TEST):

* **nni-nas** - ``SignalClassifier`` (the Python API: real ``nnictl``, a private HOME, a free port) searches
  ``signal_cnn`` with ``--strategy`` for ``--trials`` architectures of ``--epochs`` epochs each; it trains on 80% of
  TRAIN and selects on the other 20% (stratified, seeded), then the best network is scored on TEST;
* **baselines** (scikit-learn, on the raw series, channels concatenated, all of TRAIN): 1-nearest-neighbour with
  Euclidean distance (the archive's classic baseline), logistic regression (standardised inputs) and a random
  forest of 500 trees.

Figures: each route's test accuracy and seconds, the best baseline, and nni-nas's accuracy minus and over it. The
last line printed is one JSON object with the figures; its ``home`` is the private HOME holding the experiment and
the project folder (kept for inspection, e.g. ``HOME=<home> nni-nas top <experiment>``; delete it when done).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA_IN_WHEEL = "sktime/datasets/data"


def find_sktime(path: str | None) -> str:
    """A sktime wheel or a folder holding ``sktime/datasets/data`` (or the installed sktime's)."""
    candidates = [path] if path else []
    try:
        import importlib.util

        spec = importlib.util.find_spec("sktime")
        if spec and spec.submodule_search_locations:
            candidates.append(str(Path(list(spec.submodule_search_locations)[0]).parent))
    except (ImportError, ValueError):
        pass
    candidates += sorted(glob.glob(os.path.expanduser("~/data/sktime/sktime-*.whl")))
    for candidate in candidates:
        candidate = os.path.expanduser(candidate)
        if candidate.endswith(".whl") and os.path.isfile(candidate):
            return candidate
        if os.path.isdir(os.path.join(candidate, DATA_IN_WHEEL)):
            return candidate
    raise SystemExit("no sktime data found: run `pip download sktime==1.2.0 --no-deps -d ~/data/sktime` once and pass "
                     "--sktime ~/data/sktime/sktime-1.2.0-py3-none-any.whl (or a folder holding sktime/datasets/data)")


def read_text(source: str, name: str) -> str:
    if source.endswith(".whl"):
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(f"{DATA_IN_WHEEL}/{name}").decode("utf-8")
    return Path(source, DATA_IN_WHEEL, name).read_text(encoding="utf-8")


def parse_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The UCR/UEA ``.ts`` format with equal lengths and class labels: ``(x (N, C, L) float32, y (N,) str)``.
    Each data line is ``c1_values:c2_values:...:label``, values comma-separated."""
    rows, labels, in_data = [], [], False
    for line in io.StringIO(text):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        rows.append([[float(v) for v in channel.split(",")] for channel in channels])
        labels.append(label.strip())
    return np.asarray(rows, dtype=np.float32), np.asarray(labels)


def load(source: str, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: parse_ts(read_text(source, f"{name}/{name}_{split.upper()}.ts")) for split in ("train", "test")}


def baselines(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              seed: int) -> dict[str, dict[str, float]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    models = {
        "1nn_euclidean": KNeighborsClassifier(n_neighbors=1),
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "random_forest": RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1),
    }
    out = {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(flat_train, y_train)
        accuracy = float((model.predict(flat_test) == y_test).mean())
        out[name] = {"test_acc": round(accuracy, 4), "seconds": round(time.perf_counter() - start, 2)}
    return out


def search(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
           args: argparse.Namespace) -> dict[str, object]:
    from nni_nas import SignalClassifier

    home = tempfile.mkdtemp(prefix="nni-nas-signals-")
    os.environ["HOME"] = home  # a private NNI experiment folder
    os.environ.setdefault("NNI_CONFIG_DIR", os.path.join(home, "nni-config"))
    start = time.perf_counter()
    clf = SignalClassifier(strategy=args.strategy, max_trials=args.trials, epochs=args.epochs,
                           directory=Path(home) / "project", seed=args.seed, overwrite=True)
    clf.fit(x_train, y_train, validation_split=0.2)
    seconds = time.perf_counter() - start
    score = clf.evaluate(x_test, y_test)
    best = clf.top(1)[0]
    return {"test_acc": round(score["accuracy"], 4), "val_acc": best["val_acc"], "params": best["params"],
            "arch": best["arch"], "trials": len(clf._record().trials), "seconds": round(seconds, 1),
            "experiment": clf.project.experiment_id, "home": home}  # kept for nni-nas top / export; delete at will


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sktime", help="a sktime wheel (.whl) or a folder holding sktime/datasets/data")
    parser.add_argument("--data", default="GunPoint", help="GunPoint, ItalyPowerDemand, ArrowHead, BasicMotions")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    source = find_sktime(args.sktime)
    splits = load(source, args.data)
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    print(f"{args.data}: train {x_train.shape}, test {x_test.shape}, classes {sorted(set(y_train.tolist()))} "
          f"(from {source})", flush=True)
    base = baselines(x_train, y_train, x_test, y_test, args.seed)
    for name, row in base.items():
        print(f"  {name:20s} test_acc {row['test_acc']:.4f}  ({row['seconds']} s)", flush=True)
    ours = search(x_train, y_train, x_test, y_test, args)
    best_name = max(base, key=lambda name: base[name]["test_acc"])
    best = base[best_name]["test_acc"]
    print(f"  {'nni-nas ' + args.strategy:20s} test_acc {ours['test_acc']:.4f}  ({ours['seconds']} s, "
          f"{ours['trials']} trials, best val_acc {ours['val_acc']}, {ours['params']} parameters)")
    difference, ratio = ours["test_acc"] - best, ours["test_acc"] / best if best else float("nan")
    print(f"nni-nas - best baseline ({best_name}): {difference:+.4f} test accuracy; ratio {ratio:.3f}")
    print(json.dumps({"data": args.data, "train": list(x_train.shape), "test": list(x_test.shape),
                      "strategy": args.strategy, "trials": args.trials, "epochs": args.epochs, "seed": args.seed,
                      "baselines": base, "nni_nas": ours, "best_baseline": best_name,
                      "difference": round(difference, 4), "ratio": round(ratio, 4)}))


if __name__ == "__main__":
    main()
