"""Cost metrics of a network: parameter count, FLOPs (torch's own counter) and CPU latency per sample.

One rule for latency: ``latency_ms`` is always the CPU figure (one thread, one sample), the figure
``constraints.max_latency_ms`` judges, whatever device the network trained on; a network that trained on a GPU also
reports ``latency_ms_cuda`` (the same method on that device), which no budget reads."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def example_input(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1) -> torch.Tensor:
    """An input batch for ``model``: its space's :meth:`~model_spaces.contract.SearchSpace.example_input` (text
    networks take ``int64`` token ids), or zeros of ``input_shape`` for a plain network."""
    from model_spaces.contract import SearchSpace

    if isinstance(model, SearchSpace):
        return model.example_input(batch_size, generator=torch.Generator().manual_seed(0))
    return torch.zeros(batch_size, *input_shape)


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on a single sample, by ``torch.utils.flop_counter`` (a multiply-add counts 2)."""
    return count_flops_on(model, example_input(model, input_shape))


def count_flops_on(model: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of ``model(*inputs)`` in eval mode, by ``torch.utils.flop_counter`` (a multiply-add counts 2)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


# How every trial times a network (the final dict records it as latency_*): on the CPU, one thread, one sample,
# LATENCY_WARMUP untimed forward passes, then the median of train.latency_runs timed ones. The same in every trial,
# multi-trial or one-shot, on whatever device it trained, so that max_latency_ms means one thing and fronts of two
# experiments on the same machine compare.
LATENCY_THREADS, LATENCY_BATCH, LATENCY_WARMUP = 1, 1, 5


def latency_method(runs: int, device: torch.device | str = "cpu") -> dict[str, object]:
    """The ``latency_*`` keys of a final dict: how its ``latency_ms`` was measured."""
    return {"latency_device": torch.device(device).type, "latency_threads": LATENCY_THREADS,
            "latency_batch": LATENCY_BATCH, "latency_warmup": LATENCY_WARMUP, "latency_runs": runs}


def latency_ms(model: nn.Module, input_shape: tuple[int, ...], runs: int = 30, warmup: int = LATENCY_WARMUP,
               device: torch.device | str = "cpu") -> float:
    """Median wall time in milliseconds of a forward pass on one sample on ``device`` (the model must be there).

    On the CPU single-threaded: one thread makes the figure comparable between trials that run concurrently on a
    shared machine. On a GPU each pass is timed to its end (``torch.cuda.synchronize``).
    """
    device = torch.device(device)
    if any(p.device.type != device.type for p in model.parameters()):
        raise ValueError(f"latency is measured on {device.type}; move the network there first")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    was_training = model.training
    model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(LATENCY_THREADS)
    x = example_input(model, input_shape, batch_size=LATENCY_BATCH).to(device)
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + runs):
                sync()
                start = time.perf_counter()
                model(x)
                sync()
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return statistics.median(times)


def cost_metrics(model: nn.Module, input_shape: tuple[int, ...], latency_runs: int = 30,
                 device: torch.device | str = "cpu", latency: bool = True) -> dict[str, object]:
    """``params``, ``flops`` and ``latency_ms`` of ``model`` (which is on ``device``, and is left there) for inputs of
    ``input_shape`` (without batch), with how the latency was measured (:func:`latency_method`). ``latency_ms`` is
    timed on the CPU whatever ``device`` is (the one rule :mod:`nni_nas.constraints` judges); on another device the
    same method also gives ``latency_ms_<device>`` (``latency_ms_cuda``). FLOPs are counted on the CPU;
    ``latency=False`` leaves the latencies out."""
    device = torch.device(device)
    on_device = None
    if latency and device.type != "cpu":
        on_device = round(latency_ms(model, input_shape, runs=latency_runs, device=device), 4)
    model.cpu()
    costs: dict[str, object] = {"params": count_params(model), "flops": count_flops(model, input_shape)}
    if latency:
        costs["latency_ms"] = round(latency_ms(model, input_shape, runs=latency_runs, device="cpu"), 4)
        costs.update(latency_method(latency_runs, "cpu"))
        if on_device is not None:
            costs[f"latency_ms_{device.type}"] = on_device
    model.to(device)
    return costs
