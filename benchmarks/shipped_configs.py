"""The figures docs/configs.md quotes for the shipped configs: each config run as it is through the real
``nnictl create`` (own HOME, a free port, the warm worker as a user gets it), and for ``pydocs`` the references
beside it.

Per config: trials run and succeeded, the wall time from ``nnictl create`` to the experiment's end (the search,
including NNI's start), and the best trial by validation accuracy with its test accuracy. For ``--pydocs-reference``:
the share of the largest class of the test split (chance for a constant guess) and a TF-IDF character 2-4-gram
logistic regression fitted on the training split, scored on the test split (scikit-learn). The last line printed is
one JSON object.

    python benchmarks/shipped_configs.py configs/digits_evolution.yml configs/pydocs_evolution.yml --pydocs-reference
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_config(config: Path, workdir: Path) -> dict[str, Any]:
    """Run ``config`` as it is (as ``nnictl create --config`` would) with HOME in ``workdir``; its figures."""
    from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, stop_experiment, wait_until_finished
    from nni_nas.results.records import load_experiment

    env = nni_env({"HOME": str(workdir / "home")})
    os.environ["HOME"] = env["HOME"]
    port = free_port()
    start = time.perf_counter()
    experiment_id = create_experiment(config, port, env=env)
    try:
        status = wait_until_finished(port, timeout=3600, poll=0.5)
        wall = time.perf_counter() - start
    finally:
        stop_experiment(experiment_id, env=env)
    record = load_experiment(experiment_id)
    best = record.ranked("default")[0] if record.succeeded() else None
    return {"config": config.name, "status": status.get("status"), "trials": len(record.trials),
            "succeeded": len(record.succeeded()), "wall_s": round(wall, 1),
            "best_val_acc": round(best.final["val_acc"], 4) if best else None,
            "best_test_acc": round(best.final["test_acc"], 4) if best else None}


def pydocs_reference() -> dict[str, float]:
    """Largest-class share of the pydocs test split, and a TF-IDF character n-gram logistic regression's accuracy."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from nni_nas.data import splits
    from nni_nas.data.text import PYDOCS_FRACTIONS, pydocs_corpus

    texts, y = pydocs_corpus()
    parts = splits.three_way(y, PYDOCS_FRACTIONS, 0)
    train, test = parts["train"], parts["test"]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform([texts[i] for i in train])
    classifier = LogisticRegression(max_iter=2000, C=10.0).fit(x_train, y[train])
    accuracy = float((classifier.predict(vectorizer.transform([texts[i] for i in test])) == y[test]).mean())
    largest = float(np.bincount(y[test]).max() / len(test))
    return {"pydocs_largest_class": round(largest, 3), "pydocs_tfidf_test_acc": round(accuracy, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--pydocs-reference", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(REPO))
    out: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="nni-nas-shipped-"))
    for config in args.configs:
        figures = run_config(config.resolve(), workdir)
        print(f"{figures['config']}: {figures['succeeded']}/{figures['trials']} trials succeeded in "
              f"{figures['wall_s']} s; best val_acc {figures['best_val_acc']}, its test_acc {figures['best_test_acc']}",
              file=sys.stderr)
        out[config.stem] = figures
    if args.pydocs_reference:
        out.update(pydocs_reference())
        print(f"pydocs: largest class {out['pydocs_largest_class']}, TF-IDF + logistic regression "
              f"{out['pydocs_tfidf_test_acc']} on the test split", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
