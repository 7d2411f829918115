"""How many CPU threads a trial trains with: a user's ``train.threads``, or else its share of the machine's cores.

Torch takes every core by default, so ``trialConcurrency: 2`` on a CPU machine starts two trials whose OpenMP
threads spin against each other (measured on 2 cores: a second-order DARTS epoch on digits took about 140 s beside
one busy process instead of about 20 s alone; docs/troubleshooting.md). A trial therefore trains with
``max(1, cores // trials per machine)`` threads: ``trialConcurrency`` trials on a local machine, and on remote
machines its share of them (NNI hands trials to the machines in turn, so ``ceil(trialConcurrency / machines)``
each); ``OMP_NUM_THREADS`` in the experiment's environment narrows the cores shared. The count is set before
torch is imported where this process imports it (``OMP_NUM_THREADS``, which torch reads once, at import, and which
processes the trial starts inherit) and through ``torch.set_num_threads`` where torch is imported already (the warm
worker's fork, :mod:`nni_nas.runtime.worker`). Nothing heavy is imported here.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

# the libraries whose thread pools torch's CPU kernels use; each reads its variable once, when it is loaded
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# the count a trial chose, for the processes it starts (which would otherwise divide it again)
TRIAL_THREADS_ENV = "NNI_NAS_TRIAL_THREADS"


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, which a container's CPU set narrows)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def trials_per_machine(raw: dict[str, Any] | None) -> int:
    """How many trials run at once on the machine of this trial, from the experiment's NNI config (1 without one:
    a trial run by hand runs alone)."""
    from nni_nas.remote import machine_list

    if not isinstance(raw, dict):
        return 1
    concurrency = raw.get("trialConcurrency", 1)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        return 1
    machines = len(machine_list(raw)) or 1
    return math.ceil(concurrency / machines)


def core_budget(cores: int | None = None) -> int:
    """The cores this experiment's trials share: those available, or fewer where whoever started the experiment
    set ``OMP_NUM_THREADS`` (nnictl's environment reaches every trial; the test suite sets it per xdist worker)."""
    cores = cores or available_cores()
    try:
        limit = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return cores
    return min(cores, limit) if limit >= 1 else cores


def trial_threads(user_threads: int | None, raw: dict[str, Any] | None, cores: int | None = None) -> int:
    """``train.threads`` when the user set it, else ``max(1, cores // trials per machine)``; in a process the trial
    started (a DDP rank re-running the trial's command), the trial's own count."""
    if user_threads:
        return int(user_threads)
    inherited = os.environ.get(TRIAL_THREADS_ENV, "")
    if inherited.isdigit() and int(inherited) >= 1:
        return int(inherited)
    return max(1, core_budget(cores) // trials_per_machine(raw))


def use_threads(threads: int) -> None:
    """Train this process with ``threads`` threads. Before torch is imported (a trial in its own process) through
    the environment, which torch and the processes the trial starts read; after (the warm worker's fork, a trial
    run inside another program) through ``torch.set_num_threads``, leaving that program's environment alone."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
        return
    for key in (*THREAD_ENV, TRIAL_THREADS_ENV):
        os.environ[key] = str(threads)


def share_line(threads: int, user_threads: int | None, raw: dict[str, Any] | None) -> str:
    """One line for the trial's log: the thread count and why."""
    if user_threads:
        return f"nni-nas trial: training with {threads} CPU thread(s) (train.threads)"
    return (f"nni-nas trial: training with {threads} CPU thread(s), its share of {core_budget()} core(s) among "
            f"{trials_per_machine(raw)} concurrent trial(s) on this machine (set train.threads to choose)")
