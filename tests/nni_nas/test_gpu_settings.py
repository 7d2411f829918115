"""GPU settings: what `nni-nas check` says about combinations NNI 3.0 accepts and then waits on for ever (its
trial keeper's scheduler.js, read: a trial asking for >= the machine's GPU count is never started), the
``train.devices`` setting, and one rule for latency: ``latency_ms`` on the CPU whatever the training device (what
``max_latency_ms`` judges), ``latency_ms_cuda`` beside it for a network that trained on a GPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nni_nas.config import ConfigError, TrainSettings
from nni_nas.evaluation import metrics
from nni_nas.evaluation.metrics import cost_metrics
from nni_nas.gpu_check import gpu_problems


def local(**service):
    return {"trainingService": {"platform": "local", **service}}


@pytest.mark.parametrize("raw, accelerator, devices, gpus, expected", [
    (local(), "gpu", 1, 1, ["warning: train.accelerator is gpu but trialGpuNumber is 0"]),
    (local(), "auto", 1, 1, []),
    (local(trialGpuNumber=1), "auto", 1, 2, []),
    (local(trialGpuNumber=1), "auto", 1, 1, ["trialGpuNumber 1 (per trial 1 GPU) on a machine with 1 GPU(s)"]),
    (local(trialGpuNumber=1, maxTrialNumberPerGpu=2), "auto", 1, 1, []),  # half a GPU each: scheduled
    (local(trialGpuNumber=2), "auto", 1, 2, ["trialGpuNumber 2 (per trial 2 GPU) on a machine with 2 GPU(s)"]),
    (local(trialGpuNumber=1), "gpu", 1, 0, ["trialGpuNumber is 1 but NNI finds no GPU"]),
    (local(trialGpuNumber=2, gpuIndices=[3]), "auto", 1, 8, ["trialGpuNumber 2 asks for 2 GPU(s) per trial"]),
    (local(trialGpuNumber=1), "gpu", 2, 4, ["train.devices is 2 but NNI gives each trial trialGpuNumber=1"]),
    ({"trainingService": {"platform": "remote", "trialGpuNumber": 1}}, "auto", 1, None, []),  # per remote machine
])
def test_gpu_combinations(raw, accelerator, devices, gpus, expected):
    problems = gpu_problems(raw, accelerator, devices, gpu_count=gpus)
    assert [p[:len(e)] for p, e in zip(problems, expected, strict=True)] == expected, problems


def test_devices_is_a_checked_setting():
    with pytest.raises(ConfigError, match="train.devices: must be an integer from 1 to 64, got 0"):
        TrainSettings.from_args({"devices": 0})


def test_latency_ms_is_the_cpu_figure_whatever_the_training_device(monkeypatch):
    costs = cost_metrics(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), latency_runs=2, device="cpu")
    assert costs["latency_device"] == "cpu" and costs["latency_ms"] > 0 and costs["params"] == 650
    assert not [key for key in costs if key.startswith("latency_ms_")]

    # a network on a GPU (here its moves are no-ops, so the rule is tested on any machine): latency_ms is timed on
    # the CPU, and the GPU's figure is named for its device
    class Placed(nn.Sequential):
        def to(self, *args, **kwargs):
            return self

        def cpu(self):
            return self

    timed = []

    def fake_latency(model, input_shape, runs=30, warmup=5, device="cpu"):
        timed.append(torch.device(device).type)
        return {"cpu": 0.25, "cuda": 0.0625}[torch.device(device).type]

    monkeypatch.setattr(metrics, "latency_ms", fake_latency)
    costs = cost_metrics(Placed(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), latency_runs=2, device="cuda")
    assert sorted(timed) == ["cpu", "cuda"]
    assert costs["latency_ms"] == 0.25 and costs["latency_device"] == "cpu" and costs["latency_ms_cuda"] == 0.0625


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.sh runs it there)")
def test_a_network_on_a_gpu_reports_both_latencies_and_stays_there():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).cuda()
    costs = cost_metrics(model, (1, 8, 8), latency_runs=2, device="cuda")
    assert costs["latency_device"] == "cpu" and costs["latency_ms"] > 0 and costs["latency_ms_cuda"] > 0
    assert next(model.parameters()).is_cuda  # left where it was
