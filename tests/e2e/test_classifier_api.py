"""The Python API (``ImageClassifier``, ``TextClassifier``) through the real nnictl, NNI manager and trials.

One image project checks, in one search of 2 trials and one resumed search: arrays in memory (scikit-learn's digits,
raw 0..16 pixels, not the registered data set) are searched; ``evaluate``/``predict``/``top`` work; the exported
folder runs in a process where nni cannot be imported, matches ``predict`` and reaches test accuracy >= 0.95; a second
``fit`` with ``overwrite=False`` continues the same experiment with a new architecture instead of starting over,
and exporting again gives one folder per exported trial and an index in ``top``'s order. No value names a test split
(the search has none).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nni_nas import ImageClassifier, TextClassifier
from nni_nas.data import splits
from nni_nas.results.tables import top_table

pytestmark = pytest.mark.slow
LOADER = Path(__file__).resolve().parents[1] / "nni_nas" / "load_exported.py"


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    parts = splits.three_way(digits.target, (0.6, 0.2, 0.2), seed=1)
    return {name: (digits.images[idx], digits.target[idx]) for name, idx in parts.items()}


def _logits_without_nni(tmp_path: Path, folder: Path, batch: torch.Tensor) -> torch.Tensor:
    torch.save({"test": batch}, tmp_path / "inputs.pt")
    subprocess.run([sys.executable, str(LOADER), str(tmp_path / "inputs.pt"), str(tmp_path / "outputs.pt"),
                    str(folder)], check=True, timeout=300)
    outputs = torch.load(tmp_path / "outputs.pt", weights_only=False)
    assert "blocked" in outputs["nni_import_error"]
    return outputs[str(folder)]["model.py"]["test"]


def test_image_classifier_on_digits_arrays_exports_and_resumes(tmp_path, nni_home, capsys):
    data = _digits()
    (x, y), (x_val, y_val), (x_test, y_test) = data["train"], data["val"], data["test"]
    settings = {"strategy": "random", "epochs": 3, "directory": tmp_path / "project",
                "space_args": {"widths": [32, 64], "max_depth": 2, "ops": ["conv3x3", "conv5x5"]}}
    clf = ImageClassifier(max_trials=2, **settings)
    clf.fit(x, torch.from_numpy(y), validation_data=(torch.from_numpy(x_val), y_val))  # arrays and tensors mixed
    printed = capsys.readouterr().out  # the CLI's progress: done / total, elapsed and ETA, the best so far
    assert "2/2 trials | elapsed " in printed and "| ETA " in printed and "best val_acc 0." in printed, printed

    top = clf.top(5)
    assert len(top) == 2 and top[0]["val_acc"] >= top[1]["val_acc"]
    # no test split in an API search: the validation accuracy is reported once, under its own name
    record = clf._record()
    assert all(not [key for key in t.final if key.startswith("test")] for t in record.succeeded())
    assert all("test_acc" not in row for row in top) and "test" not in top_table(record)
    predicted = clf.predict(x_test)
    score = clf.evaluate(x_test, y_test)
    assert score["accuracy"] == pytest.approx(float((predicted == y_test).mean()))
    assert score["accuracy"] >= 0.95, score

    model = clf.export_model()
    assert not any(name.startswith(("nni", "model_spaces")) for name in {type(m).__module__ for m in model.modules()})
    with torch.no_grad():  # images exactly as fit took them: (N, H, W), (N, 1, H, W), channels-last, numpy or torch
        as_fit = model(x_test)
        assert (np.asarray(clf._need_project().classes)[as_fit.argmax(1).numpy()] == predicted).all()
        for layout in (x_test[:, None], x_test[..., None], torch.from_numpy(x_test)):
            assert torch.equal(model(layout), as_fit)
    folder = clf.exported_folder
    assert folder.name == f"trial-{top[0]['trial_id']}"
    readme = (folder / "README.md").read_text()
    assert "no test split" in readme and "test accuracy" not in readme
    pre = json.loads((folder / "preprocessing.json").read_text())
    assert pre["classes"] == list(range(10))
    scaled = (x_test[:, None].astype(np.float32) * pre["scale"] - pre["mean"][0]) / pre["std"][0]
    logits = _logits_without_nni(tmp_path, folder, torch.from_numpy(scaled.astype(np.float32)))
    without_nni = np.asarray(pre["classes"])[logits.argmax(1).numpy()]
    assert (without_nni == predicted).all()
    assert float((without_nni == y_test).mean()) >= 0.95

    # overwrite=False: the same experiment goes on to 3 trials; the first two are kept, the third is a new arch
    first_ids = [row["trial_id"] for row in top]
    experiment_id = clf.project.experiment_id
    again = ImageClassifier(max_trials=3, overwrite=False, **settings)
    again.fit(x, y, validation_data=(x_val, y_val))
    assert again.project.experiment_id == experiment_id
    rows = again.top(5)
    assert len(rows) == 3 and set(first_ids) < {row["trial_id"] for row in rows}
    assert len({json.dumps(row["arch"], sort_keys=True) for row in rows}) == 3
    # exported again after the resumed search: one folder per trial, whatever its rank, and an index in top's order
    again.export_model()
    exported = tmp_path / "project" / "exported"
    index = [row["trial_id"] for row in json.loads((exported / "ranking.json").read_text())["trials"]]
    assert sorted(p.name for p in exported.iterdir() if p.is_dir()) == sorted(f"trial-{t}" for t in index)
    assert {first_ids[0], rows[0]["trial_id"]} == set(index)
    assert index == [row["trial_id"] for row in rows if row["trial_id"] in index]


def test_text_classifier_on_pydocs_lists_with_string_labels(tmp_path, nni_home):
    from nni_nas.data.pydocs_corpus import PYDOCS_FAMILIES
    from nni_nas.data.text import pydocs_corpus

    texts, ids = pydocs_corpus()
    names = np.asarray(list(PYDOCS_FAMILIES))[ids]  # string labels: "files", "text", ...
    parts = splits.three_way(ids, (0.6, 0.2, 0.2), seed=0)
    pick = lambda part: ([texts[i] for i in parts[part]], names[parts[part]].tolist())  # noqa: E731
    clf = TextClassifier(strategy="random", max_trials=1, epochs=4, directory=tmp_path / "text",
                         space_args={"widths": [64], "max_depth": 2, "ops": ["conv3", "conv5"], "embed_dim": 32})
    clf.fit(*pick("train"), validation_data=pick("val"), max_len=128)
    x_test, y_test = pick("test")
    predicted = clf.predict(x_test)
    assert set(predicted) <= set(PYDOCS_FAMILIES)  # ids mapped back to the string labels
    chance = max(np.unique(y_test, return_counts=True)[1]) / len(y_test)
    accuracy = clf.evaluate(x_test, y_test)["accuracy"]
    assert accuracy == pytest.approx(float((predicted == np.asarray(y_test)).mean()))
    assert accuracy >= chance + 0.25, (accuracy, chance)
