"""A zero-cost warm start for every multi-trial strategy: ``warm_start: {proxy: synflow, pool: 100, seeds: 10}`` in
the tuner's ``classArgs`` scores ``pool`` random architectures with a zero-cost proxy (:mod:`strategies.proxies`),
without training any, and the ``seeds`` best are the search's first proposals (evolution's initial population, local
search's random start, TPE's startup trials, Hyperband's first rung 0) instead of random ones. Abdelfattah et al.
(ICLR 2021, Sec. 5) warm-start search this way ("zero-cost warmup").

Where it is computed: in the tuner's process, on NNI's first request for parameters, which comes after the tuner has
connected to NNI (the manager's 10 s start limit is for the connection; this module imports no torch at start). The
pool is drawn from its own random stream (the tuner's seed + 1), so the strategy's own draws are those without the
warm start, and the scores go to the dispatcher's log; on ``nnictl resume`` the same pool is scored again and the
seeds already evaluated are skipped. ``naswot`` and ``jacob_cov`` score on one batch of the experiment's own
training data, which the tuner loads for them.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.config import Settings, is_int
from nni_nas.errors import did_you_mean

_logger = logging.getLogger(__name__)
PROXY_NAMES = ("synflow", "naswot", "jacob_cov")  # strategies.proxies.PROXIES, named here without importing torch
DATA_PROXY_NAMES = ("naswot", "jacob_cov")  # strategies.proxies.DATA_PROXIES


@dataclass
class WarmStartSettings(Settings):
    """``classArgs.warm_start``: which zero-cost proxy scores how many random architectures, and how many of the
    best seed the search."""

    section: ClassVar[str] = "warm_start"
    key_prefix: ClassVar[str] = "warm_start."

    proxy: str = "synflow"
    pool: int = 100
    seeds: int = 10
    batch_size: int = 64  # the batch of naswot and jacob_cov (the papers: 128)

    def value_problems(self) -> list[str]:
        problems = []
        if self.proxy not in PROXY_NAMES:
            hint = did_you_mean(self.proxy, PROXY_NAMES) if isinstance(self.proxy, str) else ""
            problems.append(f"proxy must be synflow, naswot or jacob_cov, got {self.proxy!r}{hint}")
        pool_ok = is_int(self.pool, 1) and self.pool <= 100_000
        if not pool_ok:
            problems.append(f"pool must be an integer from 1 to 100000, got {self.pool!r}")
        if not is_int(self.seeds, 1) or (pool_ok and self.seeds > self.pool):
            problems.append(f"seeds must be an integer from 1 to pool ({self.pool if pool_ok else 'at most 100000'}), "
                            f"got {self.seeds!r}")
        if not is_int(self.batch_size, 2) or self.batch_size > 4096:
            problems.append(f"batch_size must be an integer from 2 to 4096, got {self.batch_size!r}")
        return problems


def warm_start_settings(values: dict[str, Any] | None) -> WarmStartSettings | None:
    """The settings of ``classArgs.warm_start`` (None: no warm start)."""
    if values is None:
        return None
    if not isinstance(values, dict):
        from nni_nas.errors import ConfigError

        problem = f"tuner.classArgs.warm_start: must be a mapping like {{proxy: synflow, pool: 100}}, got {values!r}"
        raise ConfigError(problem, [problem])
    return WarmStartSettings.from_args(values)


def scored_pool(tuner: Any, settings: WarmStartSettings) -> list[tuple[float, dict[str, Any]]]:
    """(score, architecture) of ``settings.pool`` distinct random architectures of ``tuner``'s space within its
    constraints, best first (ties: the earlier drawn)."""
    from nni_nas.arch import arch_key

    rng = random.Random(tuner.seed + 1)
    pool: dict[str, dict[str, Any]] = {}
    for _ in range(settings.pool * 10):
        if len(pool) == settings.pool:
            break
        arch = tuner.canonical({label: rng.choice(values) for label, values in tuner.choices.items()})
        if arch_key(arch) not in pool and tuner.feasible(arch):
            pool[arch_key(arch)] = arch
    batch = proxy_batch(tuner, settings.batch_size, settings.proxy) if settings.proxy in DATA_PROXY_NAMES else None
    scores = [(arch_score(tuner, arch, settings.proxy, batch), arch) for arch in pool.values()]
    ranked = sorted(enumerate(scores), key=lambda item: (-item[1][0], item[0]))
    _logger.info("warm start: %s scored %d architectures; best %s", settings.proxy, len(ranked),
                 [round(s, 4) for _, (s, _) in ranked[: settings.seeds]])
    return [item for _, item in ranked]


def arch_score(tuner: Any, arch: dict[str, Any], proxy: str, batch: Any = None) -> float:
    """``proxy``'s score of ``arch`` on the network the trials evaluate (a benchmark's own with a table), built afresh
    (:func:`fixed_network`) with its weights initialised from the tuner's seed, so that a score depends on the
    architecture alone."""
    import torch

    from strategies.proxies import score

    network = tuner.cost_model.space
    shape = tuple(tuner.cost_model.input_shape or network.input_shape)
    torch.manual_seed(tuner.seed)
    return score(proxy, fixed_network(network, arch), shape, batch)


def fixed_network(space: Any, arch: dict[str, Any]) -> Any:
    """The network of ``arch``, built afresh from ``space``'s constructor arguments under NNI's fixed-architecture
    context (as a trial builds it), its weights drawn from torch's generator: five times faster than
    ``space.freeze(arch)``, which deep-copies the chosen layers of the whole space (NAS-Bench-201 at its benchmark
    size: 0.04 s against 0.3-0.6 s). A space without NNI's recorded arguments is frozen."""
    from nni.nas.space import model_context

    args, kwargs = getattr(space, "trace_args", None), getattr(space, "trace_kwargs", None)
    if args is None or kwargs is None:
        return space.freeze(arch)
    with model_context(arch):
        return type(space)(*args, **kwargs)


def proxy_batch(tuner: Any, batch_size: int, proxy: str = "naswot") -> Any:
    """One batch of the experiment's own training data (the input of naswot and jacob_cov)."""
    import torch

    import nni_nas.components as components
    from nni_nas.errors import ConfigError

    if tuner.benchmark_costs:
        raise ConfigError(f"tuner.classArgs.warm_start.proxy: {proxy} needs a batch of the trials' data, and a "
                          "benchmark evaluator has none: use synflow (data-free)")
    bundle = components.load_bundle(tuner.nas_settings)
    generator = torch.Generator().manual_seed(tuner.seed)
    loader = torch.utils.data.DataLoader(bundle.train, batch_size=batch_size, shuffle=True, generator=generator)
    inputs = next(iter(loader))[0]
    return inputs.float() if inputs.is_floating_point() else inputs
