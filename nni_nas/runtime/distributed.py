"""One-shot supernets on several devices: what the search modules add to Lightning's DDP.

``train: {devices: N, strategy: ddp}`` makes Lightning start N processes for the supernet's ``trainer.fit``: the
trial process is rank 0 and re-runs the trial command N - 1 times with ``LOCAL_RANK`` set (gloo on the CPU, nccl on
GPUs); each rank trains on its shard of the data. DistributedDataParallel's reducer averages gradients only of
backward passes made through the wrapped module's forward with every parameter used, and neither search fits that:
DARTS takes its architecture gradient with ``torch.autograd.grad`` (several passes per step, eq. 6-8), ENAS trains
one sampled child (a subset of the weights) and then the controller alone. So the search modules keep the reducer
out of their backward passes (:func:`local_backward`) and average every gradient they step with (:func:`average`):
the weights, DARTS's alpha and ENAS's controller stay identical on every rank after every step (DDP's start
broadcasts rank 0's parameters). After the search only rank 0 goes on (:func:`search_processes`): it derives,
retrains on one device, writes the files and reports; the other ranks end there, and never talk to NNI.

``NNI_NAS_RANK_TRACE=<folder>`` makes each rank append a hash of the architecture parameters and of the weights
after every step to ``<folder>/rank<N>.jsonl`` (:class:`RankTrace`), to check that the ranks agree.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from nni_nas.runtime.ranks import SecondaryRankDone, is_secondary_process

TRACE_ENV = "NNI_NAS_RANK_TRACE"
# what Lightning's launch sets (OMP_NUM_THREADS with torch's threads: the cores divided among the ranks)
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "OMP_NUM_THREADS")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def average(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The mean over ranks of each tensor (one all-reduce of them all, flattened); the tensors as they are on one
    rank. The mean of per-rank gradients of per-rank mean losses is the gradient of the mean loss over the union
    of the ranks' batches (equal batch sizes: the distributed sampler pads)."""
    tensors = list(tensors)
    size = world_size()
    if size == 1 or not tensors:
        return tensors
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= size
    out, offset = [], 0
    for t in tensors:
        out.append(flat[offset: offset + t.numel()].view_as(t))
        offset += t.numel()
    return out


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace each parameter's ``.grad`` by its mean over ranks (parameters without a gradient are skipped: every
    rank trains the same child, so the same ones lack it)."""
    with_grad = [p for p in params if p.grad is not None]
    for p, mean in zip(with_grad, average([p.grad for p in with_grad])):
        p.grad.copy_(mean)


def broadcast_from_zero(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (in place; returned)."""
    if world_size() > 1:
        dist.broadcast(tensor, src=0)
    return tensor


def local_backward(module: pl.LightningModule, loss: torch.Tensor) -> None:
    """``module.manual_backward(loss)`` without DistributedDataParallel's gradient averaging (the module averages
    its gradients itself, see the module docstring). Lightning re-arms the reducer after every forward of the
    wrapped module, so it is blocked around each backward pass."""
    block = getattr(module.trainer.strategy, "block_backward_sync", None)
    with block() if block is not None and world_size() > 1 else contextlib.nullcontext():
        module.manual_backward(loss)


def shard(loader: DataLoader, seed: int) -> DataLoader:
    """This rank's part of ``loader`` (shuffled per epoch as the original was, see :func:`set_epoch`), or
    ``loader`` itself on one process. For loaders Lightning does not shard (ENAS's phased epoch)."""
    if world_size() == 1:
        return loader
    sampler = DistributedSampler(loader.dataset, num_replicas=world_size(), rank=rank(),
                                 shuffle=isinstance(loader.sampler, RandomSampler), seed=seed)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                      persistent_workers=loader.persistent_workers, collate_fn=loader.collate_fn)


def set_epoch(loader: Iterable, epoch: int) -> None:
    """Reshuffle a :func:`shard` of a shuffled loader for ``epoch`` (anything else is left as it is)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


@contextlib.contextmanager
def search_processes(train: Any) -> Iterator[None]:
    """Around a supernet's ``trainer.fit`` with the ``train`` settings. On several CPU processes each rank trains
    with ``train.threads`` threads, by default its share of the trial's threads (Lightning divides them only when
    OMP_NUM_THREADS is unset; ranks that each take every core spin against one another). Afterwards the process
    group is closed and the launch's environment and the thread count are undone, so that rank 0 goes on as one
    process (derivation, retraining, files, the final report); any other rank raises :class:`SecondaryRankDone`
    (the trial ends there, exit code 0)."""
    before = {key: os.environ.get(key) for key in LAUNCH_ENV}
    threads = torch.get_num_threads()
    if train.devices > 1 and train.accelerator == "cpu":
        per_rank = train.threads or max(1, threads // train.devices)  # the trial's share (nni_nas.runtime.cpu_share)
        torch.set_num_threads(per_rank)
        os.environ["OMP_NUM_THREADS"] = str(per_rank)  # for the ranks launched, and so that Lightning keeps it
    yield
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    if is_secondary_process():
        raise SecondaryRankDone()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    torch.set_num_threads(threads)


def fingerprint(params: Iterable[torch.Tensor]) -> str:
    """A hash of the parameters' exact values."""
    digest = hashlib.sha1()
    for p in params:
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class RankTrace(pl.Callback):
    """After every training step, append ``{"epoch", "batch", "time", "arch", "weights"}`` (the last two hashes) to
    ``<folder>/rank<N>.jsonl``.

    ``groups(pl_module)`` names the parameters: ``{"arch": alpha or the controller, "weights": the supernet}``.
    """

    def __init__(self, folder: Path, groups: Callable[[Any], dict[str, Iterable[torch.Tensor]]]):
        self.folder = Path(folder)
        self.groups = groups

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"epoch": trainer.current_epoch, "batch": batch_idx, "time": round(time.time(), 3),
                  **{name: fingerprint(params) for name, params in self.groups(pl_module).items()}}
        with (self.folder / f"rank{trainer.global_rank}.jsonl").open("a") as fh:
            fh.write(json.dumps(record) + "\n")


def trace_callbacks(groups: Callable[[Any], dict[str, Iterable[torch.Tensor]]]) -> list[pl.Callback]:
    """``[RankTrace]`` when ``NNI_NAS_RANK_TRACE`` names a folder, else nothing."""
    folder = os.environ.get(TRACE_ENV)
    return [RankTrace(Path(folder), groups)] if folder else []
