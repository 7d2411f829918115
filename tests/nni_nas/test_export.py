"""``nni-nas export``: every format of every exported model, loaded where ``import nni`` fails, gives the trained
network's logits (max |difference| <= 1e-5) and, on digits, its test accuracy; bad input fails in one line.

Fast tests export hand-built experiments (NNI's real sqlite schema, trial folders written by the trial's own
``save_trial_files``) for every registered space; the slow test exports a real ``nnictl`` search.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import model_spaces
from nni_nas import cli
from nni_nas.arch import freeze, search_choices
from nni_nas.export import export_trials
from nni_nas.export.codegen import generate_source
from nni_nas.export.formats import (
    export_program,
    import_source,
    write_onnx,
    write_torch_export,
    write_torchscript,
    write_weights,
)
from tests.nni_nas.nni_records import FakeTrial, class_args, example_batch, make_experiment, random_arch, randomise

LOADER = Path(__file__).with_name("load_exported.py")
TOLERANCE = 1e-5
ALL_FILES = {"model.py", "weights.pt", "model.pt2", "model.ts", "model.onnx", "arch.json", "metrics.json", "README.md"}
DIGITS_ARGS = {"widths": [8, 16], "max_depth": 2}
# Digits-sized networks for the fast test (the spaces' own tests use the same); a space not listed here is
# exported at its defaults. The slow test exports every space at its default (paper) size.
SMALL = {
    "darts": {"width": 4, "num_cells": 3},
    "enas_macro": {"num_layers": 4, "channels": 8, "pool_after": [1]},
    "enas_micro": {"num_nodes": 3, "cells_per_stage": 1, "channels": 8},
    "nasbench201": {"channels": 8, "cells_per_stage": 1},
    "nas_bench_macro": {"init_channels": 8, "head_channels": 32},
    "digits_cnn": DIGITS_ARGS,
}


def space_defaults(name: str) -> tuple[tuple[int, ...], int]:
    """The input shape and class count a space is built with by default."""
    cls = model_spaces.get_space_class(name)
    parameters = inspect.signature(getattr(cls, "_init_wrapped", cls.__init__)).parameters
    return tuple(parameters["input_shape"].default), parameters["num_classes"].default


def run_without_nni(tmp_path: Path, inputs: dict[str, torch.Tensor], folders: list[Path]) -> dict:
    """Outputs of every format in ``folders``, computed in a subprocess where ``import nni`` fails."""
    inputs_file, outputs_file = tmp_path / "inputs.pt", tmp_path / "outputs.pt"
    torch.save(inputs, inputs_file)
    proc = subprocess.run([sys.executable, str(LOADER), str(inputs_file), str(outputs_file),
                           *[str(f) for f in folders]], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = torch.load(outputs_file, weights_only=True)
    assert outputs.pop("nni_import_error") is not None, "the subprocess could import nni"
    return {Path(folder): formats for folder, formats in outputs.items()}


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def rebuild_trained(trial_dir: Path, space: str, space_args: dict, input_shape, num_classes: int):
    """The trial's network as the trial saved it: fresh space, frozen with arch.json, model.pt loaded."""
    arch = json.loads((trial_dir / "arch.json").read_text())
    model = freeze(lambda: model_spaces.build_space(space, input_shape, num_classes, **space_args), arch)
    model.load_state_dict(torch.load(trial_dir / "model.pt", weights_only=True))
    return model.eval()


# ------------------------------------------------------------------------------------------ every space
def check_space_export(space: str, space_args: dict, input_shape, num_classes: int, tmp_path: Path) -> None:
    """Export a hand-built one-trial experiment of ``space`` and compare every format, run without nni, with the
    network rebuilt from the trial's own files."""
    choices = search_choices(model_spaces.build_space(space, input_shape, num_classes, **space_args))
    arch = random_arch(choices, seed=len(space))
    make_experiment(tmp_path / "nni", "spaceexp", [FakeTrial("t1", arch=arch, final={"default": 0.5})],
                    class_args(space, space_args), input_shape=input_shape, num_classes=num_classes)
    [result] = export_trials("spaceexp", top=1, out=tmp_path / "out", root=tmp_path / "nni")

    assert set(result.files) == ALL_FILES and result.weights_missing is None
    source = (result.folder / "model.py").read_text()
    imported = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imported == {"__future__", "torch"}
    trial_dir = tmp_path / "nni" / "spaceexp" / "environments" / "local-env" / "trials" / "t1"
    reference_model = rebuild_trained(trial_dir, space, space_args, input_shape, num_classes)
    batch = example_batch(reference_model, input_shape, 5, seed=1)
    with torch.no_grad():
        reference = reference_model(batch)
    outputs = run_without_nni(tmp_path, {"batch": batch}, [result.folder])[result.folder]
    assert set(outputs) == {"model.py", "model.pt2", "model.ts", "model.onnx"}
    for name, logits in outputs.items():
        assert max_diff(logits["batch"], reference) <= TOLERANCE, name
    metrics = json.loads((result.folder / "metrics.json").read_text())
    assert metrics["input_shape"] == list(input_shape) and metrics["trial_id"] == "t1"
    assert max(metrics["export_max_abs_diff"].values()) <= TOLERANCE


@pytest.mark.parametrize("space", model_spaces.space_names())
def test_every_space_exports_all_formats_that_match_the_trained_network_without_nni(space, tmp_path):
    if space in SMALL:
        check_space_export(space, SMALL[space], (1, 8, 8), 10, tmp_path)
    else:
        check_space_export(space, {}, *space_defaults(space), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("space", model_spaces.space_names())
def test_every_space_at_its_default_size_exports_all_formats_that_match(space, tmp_path):
    check_space_export(space, {}, *space_defaults(space), tmp_path)


def test_codegen_handles_cells_lists_flags_buffers_constants_and_training_branches(tmp_path):
    from tests.nni_nas.tricky_space import TrickySpace

    choices = search_choices(TrickySpace())
    batch = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    folders, references = [], {}
    for seed in range(4):
        model = randomise(freeze(TrickySpace, random_arch(choices, seed)), seed)
        with torch.no_grad():
            reference = model(batch)
        folder = tmp_path / f"arch{seed}"
        folder.mkdir()
        (folder / "model.py").write_text(generate_source(model, (batch,)))
        network = import_source(folder / "model.py").Network()
        network.load_state_dict(model.state_dict())
        network.eval()
        write_weights(network, folder / "weights.pt")
        write_torchscript(network, batch, reference, folder / "model.ts")
        program = export_program(network, batch)
        write_torch_export(program, batch, reference, folder / "model.pt2")
        write_onnx(program, batch, reference, folder / "model.onnx")
        folders.append(folder)
        references[folder] = reference
    source = (folders[0] / "model.py").read_text()
    assert "class Block(nn.Module)" in source and "torch.rand(" not in source  # drop-path's training branch
    assert "specialised to double=True" in source and "self.gated(cat)" in source  # a flag, baked in
    for folder, formats in run_without_nni(tmp_path, {"batch": batch}, folders).items():
        assert set(formats) == {"model.py", "model.pt2", "model.ts", "model.onnx"}
        for name, logits in formats.items():
            assert max_diff(logits["batch"], references[folder]) <= TOLERANCE, (folder.name, name)


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def experiments(tmp_path, monkeypatch):
    """Hand-built experiments: ``good`` (3 succeeded trials, 1 failed), ``nowin`` (no succeeded trial),
    ``noweights`` (a succeeded trial that saved no model.pt)."""
    root = tmp_path / "nni-experiments"
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    monkeypatch.chdir(tmp_path)
    choices = search_choices(model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **DIGITS_ARGS))
    args = class_args("digits_cnn", DIGITS_ARGS)
    good = [FakeTrial(f"g{i}", arch=random_arch(choices, i), final={"default": acc, "test_acc": acc, "seed": 0})
            for i, acc in enumerate([0.7, 0.9, 0.8])]
    good.append(FakeTrial("gfail", status="FAILED", arch=random_arch(choices, 9), save_weights=False))
    make_experiment(root, "good", good, args)
    make_experiment(root, "nowin", [FakeTrial("f1", status="FAILED", arch=random_arch(choices, 1)),
                                    FakeTrial("f2", status="USER_CANCELED", arch=random_arch(choices, 2))], args)
    make_experiment(root, "noweights", [FakeTrial("n1", arch=random_arch(choices, 3), final={"default": 0.6},
                                                  save_weights=False)], args)
    return tmp_path


def ranked_folders(out: Path) -> list[str]:
    """The folders of ``out``'s index (``ranking.json``), in its order: best first."""
    return [row["folder"] for row in json.loads((out / "ranking.json").read_text())["trials"]]


def export_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_exports_the_top_k_best_first_with_their_metrics(experiments, capsys):
    code, out, err = export_cli(capsys, "good", "--top", "2", "--out", "exp", "--format", "source,weights")
    assert code == 0, err
    folders = sorted(p.name for p in (experiments / "exp").iterdir())
    assert folders == ["RANKING.md", "ranking.json", "trial-g1", "trial-g2"]
    assert ranked_folders(experiments / "exp") == ["trial-g1", "trial-g2"]  # 0.9 then 0.8
    metrics = json.loads((experiments / "exp" / "trial-g1" / "metrics.json").read_text())
    assert metrics["default"] == 0.9 and metrics["trial_id"] == "g1" and metrics["experiment_id"] == "good"
    assert metrics["seed"] == 0 and metrics["input_shape"] == [1, 8, 8] and metrics["rank"] == 1
    assert set(p.name for p in (experiments / "exp" / "trial-g1").iterdir()) == {
        "model.py", "weights.pt", "arch.json", "metrics.json", "README.md"}
    readme = (experiments / "exp" / "trial-g1" / "README.md").read_text()
    snippet = readme.split("```python\n")[1].split("```")[0].strip().splitlines()
    assert len(snippet) == 3 and "weights_only=True" in snippet[2]
    assert "trial-g1" in out and "RANKING.md" in out
    # the README's input scaling, applied to the raw digits, gives exactly the tensors the network trained on
    from sklearn.datasets import load_digits

    from nni_nas.data.images import DigitsDataset

    scaling = next(line for line in readme.splitlines() if line.startswith("Input scaling"))
    formula = next(code for code in scaling.split("`")[1::2] if code.startswith("x /"))
    scaled = torch.from_numpy(eval(formula, {"x": load_digits().images.astype("float32")})[:, None]).flatten(1)
    trained_on = DigitsDataset("train").tensors[0].flatten(1)
    assert torch.cdist(trained_on, scaled).min(dim=1).values.max() == 0


def test_trial_option_exports_that_trial(experiments, capsys):
    code, _, err = export_cli(capsys, "good", "--trial", "g0", "--out", "one", "--format", "source")
    assert code == 0, err
    assert ranked_folders(experiments / "one") == ["trial-g0"]
    assert json.loads((experiments / "one" / "ranking.json").read_text())["trials"][0]["rank"] == 3
    code, _, err = export_cli(capsys, "good", "--trial", "nope", "--out", "one")
    assert code == 2 and "no trial 'nope'" in err and len(err.strip().splitlines()) == 1


def test_unknown_experiment_fails_in_one_line(experiments, capsys):
    code, _, err = export_cli(capsys, "doesnotexist", "--out", "x")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "unknown experiment 'doesnotexist'" in err and "good" in err
    assert not (experiments / "x").exists()


def test_no_succeeded_trial_fails_in_one_line(experiments, capsys):
    code, _, err = export_cli(capsys, "nowin", "--out", "x")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "no succeeded trial" in err and "1 failed" in err
    assert not (experiments / "x").exists()


def test_trial_without_weights_exports_the_architecture_and_says_so(experiments, capsys):
    code, _, err = export_cli(capsys, "noweights", "--out", "nw")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "no trained weights" in err and "architecture only" in err
    folder = experiments / "nw" / "trial-n1"
    assert set(p.name for p in folder.iterdir()) == {"model.py", "arch.json", "metrics.json", "README.md"}
    assert json.loads((folder / "metrics.json").read_text())["weights"] is False
    assert "WEIGHTS MISSING" in (folder / "README.md").read_text()
    assert hasattr(import_source(folder / "model.py"), "Network")


def test_existing_output_is_kept_and_the_other_ranks_exported_unless_forced(experiments, capsys):
    # the quick start exports the best; `export ID --top 3` then adds ranks 2 and 3 and keeps rank 1 as it is
    assert export_cli(capsys, "good", "--out", "again", "--format", "source")[0] == 0
    marker = experiments / "again" / "trial-g1" / "marker"
    marker.write_text("old")
    code, out, err = export_cli(capsys, "good", "--out", "again", "--format", "source", "--top", "3")
    assert code == 0, err
    assert "rank 1 g1: " in out and "already exists, kept as it is (--force rewrites it)" in out
    assert "rank 2 g2 -> " in out and "rank 3 g0 -> " in out
    assert marker.exists() and (experiments / "again" / "trial-g0" / "model.py").is_file()
    code, _, err = export_cli(capsys, "good", "--out", "again", "--format", "source", "--force")
    assert code == 0, err
    assert not marker.exists() and (experiments / "again" / "trial-g1" / "model.py").is_file()


def test_interrupted_export_leaves_no_folder_and_keeps_the_old_one(experiments, capsys, monkeypatch):
    from nni_nas.export import formats as export_formats

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_formats, "write_onnx", interrupted)
    code, _, _ = export_cli(capsys, "good", "--out", "cut")
    assert code == 130
    assert list((experiments / "cut").iterdir()) == []  # no target, no partial folder left behind
    assert export_cli(capsys, "good", "--out", "cut", "--format", "source")[0] == 0
    before = (experiments / "cut" / "trial-g1" / "model.py").read_text()
    code, _, _ = export_cli(capsys, "good", "--out", "cut", "--force")
    assert code == 130
    assert sorted(p.name for p in (experiments / "cut").iterdir()) == ["RANKING.md", "ranking.json", "trial-g1"]
    assert (experiments / "cut" / "trial-g1" / "model.py").read_text() == before


def test_unknown_format_fails_in_one_line(experiments, capsys):
    code, _, err = export_cli(capsys, "good", "--format", "source,keras")
    assert code == 2 and "unknown --format keras" in err


def test_one_folder_per_trial_and_an_index_in_top_order_after_the_ranking_changed(tmp_path, monkeypatch, capsys):
    # a search exported, then resumed: its new trial r2 becomes the best, and the ranks of r0 and r1 change
    root = tmp_path / "nni-experiments"
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    monkeypatch.chdir(tmp_path)
    choices = search_choices(model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **DIGITS_ARGS))
    args = class_args("digits_cnn", DIGITS_ARGS)
    trials = [FakeTrial(f"r{i}", arch=random_arch(choices, i), final={"default": acc, "test_acc": acc - 0.01})
              for i, acc in enumerate([0.7, 0.9, 0.95])]
    make_experiment(root, "res", trials[:2], args)
    (tmp_path / "exp" / "rank1-r0").mkdir(parents=True)  # an earlier nni-nas's folder, named by the rank it had then
    (tmp_path / "exp" / "rank1-r0" / "notes.txt").write_text("mine")
    assert export_cli(capsys, "res", "--top", "2", "--out", "exp", "--format", "source")[0] == 0
    assert ranked_folders(tmp_path / "exp") == ["trial-r1", "trial-r0"]

    shutil.rmtree(root / "res")
    make_experiment(root, "res", trials, args)  # resumed: r2 joins, best of all
    code, out, err = export_cli(capsys, "res", "--out", "exp", "--format", "source")
    assert code == 0, err
    assert "rank1-r0), left as they are" in out
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [
        "RANKING.md", "rank1-r0", "ranking.json", "trial-r0", "trial-r1", "trial-r2"]  # one folder per trial
    assert (tmp_path / "exp" / "rank1-r0" / "notes.txt").read_text() == "mine"  # the user's old folder untouched
    assert cli.main(["top", "res"]) == 0
    top_order = [line.split()[1] for line in capsys.readouterr().out.splitlines()[2:]]
    index = json.loads((tmp_path / "exp" / "ranking.json").read_text())
    assert [row["trial_id"] for row in index["trials"]] == top_order == ["r2", "r1", "r0"]
    assert [row["rank"] for row in index["trials"]] == [1, 2, 3] and index["earlier_folders"] == ["rank1-r0"]
    table = [line for line in (tmp_path / "exp" / "RANKING.md").read_text().splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[:2] for line in table[2:]] == [["| 1", "r2"], ["| 2", "r1"], ["| 3", "r0"]]
    assert "0.9400" in table[2] and "[trial-r2/](trial-r2/)" in table[2]  # its test_acc and folder


def test_an_index_that_cannot_be_written_is_one_line_and_leaves_the_old_index_whole(experiments, capsys, monkeypatch):
    import errno

    from nni_nas.export import ranking

    assert export_cli(capsys, "good", "--out", "full", "--format", "source")[0] == 0
    before = (experiments / "full" / "RANKING.md").read_text()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ranking.os, "replace", disk_full)
    code, _, err = export_cli(capsys, "good", "--out", "full", "--format", "source", "--top", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "could not write the ranking index" in err and "No space left on device" in err
    assert sorted(p.name for p in (experiments / "full").iterdir()) == [
        "RANKING.md", "ranking.json", "trial-g1", "trial-g2"]  # the folders whole, no partial index file left
    assert (experiments / "full" / "RANKING.md").read_text() == before
