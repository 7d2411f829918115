"""ENAS's controller: an LSTM policy over every decision of a space, trained with REINFORCE.

Pham et al., "Efficient Neural Architecture Search via Parameter Sharing" (ICML 2018), Sections 2.1-2.2: the
controller emits the decisions one after another; each step's softmax reads the LSTM state, which has seen the
embeddings of every earlier decision, so later choices are conditioned on earlier ones. Its parameters theta are
trained with policy gradient (Williams 1992) to maximise the expected reward of the sampled children::

    grad J(theta) = E[ sum_t grad log P(a_t | a_1..a_{t-1}; theta) * (r - b) ]

with ``b`` an exponential moving average of past rewards. :func:`reinforce_loss` is that estimator (plus an entropy
bonus) and :func:`controller_step` one update with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nni_nas.arch import Choices
from nni_nas.errors import NonFiniteError


@dataclass
class ControllerSample:
    """Architectures drawn (or scored) by the controller, with what REINFORCE needs.

    ``log_prob`` (n,) is ``sum_t log P(a_t | a_<t)`` of each architecture and keeps its graph for the update;
    ``entropy`` (n,) is the sum over steps of the entropy of each step's distribution.
    """

    archs: list[dict[str, Any]]
    indices: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor


class EnasController(nn.Module):
    """LSTM policy that samples every label of ``choices`` autoregressively (Pham et al. 2018, Section 2.1).

    Each decision ``t`` has its own softmax head over its values and its own embedding table; the embedding of the
    sampled value is the LSTM's next input, a learned vector the first one. The logits go through the paper's two
    sampling tricks: divided by ``temperature``, then clipped as ``tanh_constant * tanh(logits)`` (both keep the
    policy from collapsing early and the exploration alive).

    Every decision is a categorical over the values that :func:`nni_nas.arch.search_choices` lists, so a binary
    skip of the macro space is a two-way softmax (the paper uses a sigmoid over an attention score, the same
    family of distributions with a different parametrisation).

    Parameters
    ----------
    choices
        Label -> values, in the order the decisions are taken (the space's own order).
    hidden_size
        LSTM width (paper: 100).
    temperature
        Logits are divided by it; ``None`` or 0 switches it off (paper: 5.0).
    tanh_constant
        Logits are clipped to ``(-c, c)`` by ``c * tanh``; ``None`` or 0 switches it off (paper: 2.5).
    init_range
        Parameters start uniform in ``[-init_range, init_range]`` (paper: 0.1), i.e. near-uniform sampling.
    """

    def __init__(self, choices: Choices, hidden_size: int = 64, temperature: float | None = 5.0,
                 tanh_constant: float | None = 2.5, init_range: float = 0.1):
        super().__init__()
        if not choices:
            raise ValueError("the controller needs at least one decision; the space has no choices")
        self.labels = list(choices)
        self.values = [list(values) for values in choices.values()]
        self.temperature = temperature or None
        self.tanh_constant = tanh_constant or None
        self.start = nn.Parameter(torch.empty(1, hidden_size))
        self.lstm = nn.LSTMCell(hidden_size, hidden_size)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, len(values)) for values in self.values)
        # the last decision feeds nothing, so it needs no embedding
        self.embeddings = nn.ModuleList(nn.Embedding(len(values), hidden_size) for values in self.values[:-1])
        for param in self.parameters():
            nn.init.uniform_(param, -init_range, init_range)

    def step_logits(self, step: int, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of decision ``step`` from the LSTM output, after temperature and tanh clipping."""
        logits = self.heads[step](hidden)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def forward(self, n: int = 1, indices: torch.Tensor | None = None, greedy: bool = False) -> ControllerSample:
        """Sample ``n`` architectures, or score given value ``indices`` (n, decisions), or take the argmax."""
        device = self.start.device
        batch = n if indices is None else indices.shape[0]
        x = self.start.expand(batch, -1)
        state = None
        log_prob = torch.zeros(batch, device=device)
        entropy = torch.zeros(batch, device=device)
        taken = []
        for step in range(len(self.labels)):
            state = self.lstm(x, state)
            log_p = F.log_softmax(self.step_logits(step, state[0]), dim=-1)
            if indices is not None:
                action = indices[:, step].to(device)
            elif greedy:
                action = log_p.argmax(dim=-1)
            else:
                action = torch.multinomial(log_p.exp(), 1).squeeze(1)
            log_prob = log_prob + log_p.gather(1, action[:, None]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(dim=-1)
            taken.append(action)
            if step < len(self.embeddings):
                x = self.embeddings[step](action)
        chosen = torch.stack(taken, dim=1)
        return ControllerSample(self.decode(chosen), chosen, log_prob, entropy)

    def sample(self, n: int = 1) -> ControllerSample:
        """``n`` architectures drawn from the policy."""
        return self(n)

    def most_likely(self) -> dict[str, Any]:
        """The architecture of the greedy (argmax) decisions."""
        with torch.no_grad():
            return self(1, greedy=True).archs[0]

    def evaluate(self, archs: list[dict[str, Any]]) -> ControllerSample:
        """Log-probabilities and entropies of given architectures (teacher forcing)."""
        return self(indices=self.encode(archs))

    def encode(self, archs: list[dict[str, Any]]) -> torch.Tensor:
        """Architectures as value indices (n, decisions)."""
        rows = [[values.index(arch[label]) for label, values in zip(self.labels, self.values)] for arch in archs]
        return torch.tensor(rows, dtype=torch.long)

    def decode(self, indices: torch.Tensor) -> list[dict[str, Any]]:
        """Value indices (n, decisions) as architecture dicts."""
        rows = indices.tolist()
        return [{label: _copy(values[i]) for label, values, i in zip(self.labels, self.values, row)} for row in rows]


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class MovingAverageBaseline:
    """``b <- decay * b + (1 - decay) * r`` after every reward (paper: decay 0.99); starts at the first reward."""

    decay: float
    value: float | None = None

    def update(self, rewards: Iterable[float]) -> None:
        for reward in rewards:
            self.value = reward if self.value is None else self.decay * self.value + (1 - self.decay) * reward


def reinforce_loss(log_prob: torch.Tensor, entropy: torch.Tensor, rewards: torch.Tensor, baseline: float,
                   entropy_weight: float) -> torch.Tensor:
    """The controller's loss; its gradient is the REINFORCE estimate of ``-grad J(theta)`` minus an entropy bonus.

    ``loss = -mean_i[(r_i - b) * log P(arch_i)] - entropy_weight * mean_i[H_i]``

    ``log_prob`` is ``sum_t log P(a_t | a_<t)`` per architecture, so the gradient is the paper's
    ``sum_t grad log P(a_t | ...) * (r - b)`` averaged over the sampled architectures. The entropy term rewards a
    spread-out policy; the paper adds the entropy to the reward, we add its exact gradient instead (lower variance,
    same purpose).
    """
    advantage = (rewards - baseline).detach()
    return -(advantage * log_prob).mean() - entropy_weight * entropy.mean()


def controller_step(controller: EnasController, optimizer: Any, baseline: MovingAverageBaseline,
                    reward_fn: Callable[[dict[str, Any]], float], batch_size: int = 1, entropy_weight: float = 0.0,
                    backward: Callable[[torch.Tensor], None] | None = None,
                    sampler: Callable[[int], ControllerSample] | None = None,
                    reduce_rewards: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, Any]:
    """One REINFORCE update: sample ``batch_size`` children, reward each, step the optimizer, move the baseline.

    ``reward_fn(arch)`` returns the child's reward (ENAS: its accuracy on a validation batch, minus the parameter
    penalty). Before the baseline has seen a reward, the batch's own mean stands in for it. ``backward`` lets a
    Lightning module pass its ``manual_backward``. On several processes ``sampler`` draws the same children on every
    rank and ``reduce_rewards`` averages each child's reward over the ranks (see :mod:`strategies.enas.search`).
    Returns the rewards, the baseline used and after, the mean entropy and the loss, for logging.
    """
    sample = (sampler or controller.sample)(batch_size)
    rewards = torch.tensor([float(reward_fn(arch)) for arch in sample.archs], device=sample.log_prob.device)
    if reduce_rewards is not None:
        rewards = reduce_rewards(rewards)
    if not torch.isfinite(rewards).all():
        raise NonFiniteError(f"controller rewards are not finite ({rewards.tolist()}); check the reward function")
    used_baseline = baseline.value if baseline.value is not None else float(rewards.mean())
    loss = reinforce_loss(sample.log_prob, sample.entropy, rewards, used_baseline, entropy_weight)
    optimizer.zero_grad()
    (backward or torch.Tensor.backward)(loss)
    optimizer.step()
    baseline.update(rewards.tolist())
    return {"archs": sample.archs, "rewards": rewards.tolist(), "baseline_used": used_baseline,
            "baseline": baseline.value, "entropy": float(sample.entropy.detach().mean()), "loss": float(loss.detach())}


def uniform_entropy(controller: EnasController) -> float:
    """Entropy of the uniform policy over the same decisions (the starting point), for comparison in logs."""
    return sum(math.log(len(values)) for values in controller.values)
