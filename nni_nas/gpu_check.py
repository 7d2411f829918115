"""``nni-nas check`` on GPU settings: what NNI 3.0 accepts and then does something other than the user meant.

Read in NNI 3.0's trial keeper (``nni_node/common/trial_keeper/task_scheduler/scheduler.js``): with
``trialGpuNumber`` > 0 each trial asks for ``trialGpuNumber / maxTrialNumberPerGpu`` GPUs; a request of one or more
GPUs is answered only when it is *smaller* than the machine's GPU count (``gpuNumber >= this.gpus.length`` returns
"not now", every time) and when ``gpuIndices`` leaves enough GPUs; otherwise the trial waits, for ever, with
nothing in the portal but WAITING. Fractional requests (``maxTrialNumberPerGpu`` > 1) share one GPU. With
``trialGpuNumber: 0`` NNI assigns nothing (no ``CUDA_VISIBLE_DEVICES``): every trial sees every GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

GPU_ACCELERATORS = ("gpu", "cuda")


def device_problems(raw: dict[str, Any], accelerator: str, available: dict[str, bool] | None = None) -> list[str]:
    """``train.accelerator: gpu`` (``cuda``, ``mps``) on a local search where this machine has no such device: every
    trial would fail with Lightning's 25-line traceback. ``available``: ``{"cuda": ..., "mps": ...}`` (asked from torch
    when not given). Remote searches train elsewhere: not judged by this machine."""
    service = raw.get("trainingService")
    if not isinstance(service, dict) or service.get("platform") != "local":
        return []
    kind = "cuda" if accelerator in GPU_ACCELERATORS else "mps" if accelerator == "mps" else None
    if kind is None:
        return []
    if (available if available is not None else devices_available()).get(kind):
        return []
    import socket

    device = "CUDA GPU" if kind == "cuda" else "Apple MPS device"
    return [f"tuner.classArgs.train.accelerator: {accelerator}, but this machine ({socket.gethostname()}) has no "
            f"{device} torch can use (torch.{'cuda' if kind == 'cuda' else 'backends.mps'}.is_available() is False), "
            "and platform: local trains here: every trial would fail; use accelerator: cpu (or auto: a GPU where "
            "there is one). For another machine's GPU, run nni-nas check and the search there, or list it under "
            "trainingService: {platform: remote, machineList: [...]}"]


def devices_available() -> dict[str, bool]:
    """``{"cuda": ..., "mps": ...}``: the accelerators torch can use on this machine."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return {"cuda": torch.cuda.is_available(), "mps": bool(mps is not None and mps.is_available())}


def gpu_problems(raw: dict[str, Any], accelerator: str, devices: int, gpu_count: int | None = None) -> list[str]:
    """Problems (and ``warning: `` lines) of a config's GPU settings. ``gpu_count``: GPUs on this machine as NNI
    sees them (asked from NNI's own collector when needed and not given)."""
    service = raw.get("trainingService")
    service = service if isinstance(service, dict) else {}
    per_trial = raw.get("trialGpuNumber", service.get("trialGpuNumber")) or 0
    share = service.get("maxTrialNumberPerGpu", 1) or 1
    if not isinstance(per_trial, int | float) or not isinstance(share, int | float) or share <= 0:
        return []  # NNI's schema names these
    problems = []
    if accelerator in GPU_ACCELERATORS and per_trial == 0:
        problems.append(f"warning: train.accelerator is {accelerator} but trialGpuNumber is 0: NNI assigns no GPU "
                        "(no CUDA_VISIBLE_DEVICES), so concurrent trials all train on the first GPU; set "
                        "trialGpuNumber: 1")
    if accelerator in (*GPU_ACCELERATORS, "auto") and per_trial and devices > per_trial:
        problems.append(f"train.devices is {devices} but NNI gives each trial trialGpuNumber={per_trial} GPU(s); "
                        f"set trialGpuNumber: {devices} or train.devices: {int(per_trial) or 1}")
    request = per_trial / share
    indices = service.get("gpuIndices")
    if isinstance(indices, str):
        indices = [i for i in indices.split(",") if i.strip()]
    if request >= 1 and isinstance(indices, list) and len(indices) < round(request):
        problems.append(f"trialGpuNumber {per_trial} asks for {round(request)} GPU(s) per trial but gpuIndices "
                        f"allows {len(indices)}: NNI would keep every trial WAITING for ever")
    if per_trial and service.get("platform") == "local":
        count = gpu_count if gpu_count is not None else local_gpu_count()
        if count == 0:
            problems.append(f"trialGpuNumber is {per_trial} but NNI finds no GPU on this machine (its manager "
                            "stops with 'No GPU found'); use trialGpuNumber: 0 and train.accelerator: cpu")
        elif count is not None and request >= 1 and request >= count:
            problems.append(f"trialGpuNumber {per_trial} (per trial {request:g} GPU) on a machine with {count} GPU(s): "
                            "NNI 3.0 only starts a trial that asks for fewer GPUs than the machine has, so every "
                            f"trial would wait for ever; use trialGpuNumber: {count - 1} (if > 0), or share: "
                            "maxTrialNumberPerGpu: 2 (trials then share one GPU)")
    return problems


def local_gpu_count() -> int | None:
    """GPUs on this machine as NNI's own collector reports them (0 without NVIDIA's library), None if unknown."""
    try:
        proc = subprocess.run([sys.executable, "-m", "nni.tools.nni_manager_scripts.collect_gpu_info"],
                              capture_output=True, text=True, timeout=120)
        info = json.loads(proc.stdout)
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    if not info.get("success"):
        return 0 if any("NVML" in str(f) for f in info.get("failures", [])) else None
    return int(info.get("gpuNumber", 0))
