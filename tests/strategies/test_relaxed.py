"""The relaxed supernet of any NNI space (DARTS, GDAS, ProxylessNAS): each method's rule, pinned by a test that fails
when the rule is broken (a uniform mixture, a GDAS that runs every path or loses the straight-through gradient,
sampling one fixed path, a width that does not slice the weight, a Proxyless search that ignores latency), and the
derivation giving a value for every label."""

from __future__ import annotations

import nni
import pytest
import torch
import torch.nn.functional as F
from nni.nas.nn.pytorch import (
    InputChoice,
    LayerChoice,
    ModelSpace,
    MutableConv2d,
    MutableDropout,
    MutableLinear,
    Repeat,
)
from torch import nn

from nni_nas.arch import search_choices, validate_arch
from nni_nas.errors import UnsupportedSpaceError
from strategies.darts.architect import architecture_gradient
from strategies.supernet.relaxed import MixedChoice, RelaxedSupernet, best_first, latency_table
from strategies.supernet.relaxed_search import LatencyLoss


class Counting(nn.Module):
    """A candidate that counts its forward passes and scales its input (so candidates differ)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.scale


class Mixed(ModelSpace):
    """LayerChoice, InputChoice, Repeat, a width shared by two Mutable layers, a searched dropout rate."""

    def __init__(self):
        super().__init__()
        width = nni.choice("width", [4, 8])
        self.stem = MutableConv2d(1, width, 3, padding=1)
        self.op = LayerChoice([MutableConv2d(width, width, 3, padding=1), MutableConv2d(width, width, 5, padding=2),
                               nn.Identity()], label="op")
        self.blocks = Repeat(lambda i: nn.Sequential(MutableConv2d(width, width, 3, padding=1), nn.ReLU()),
                             nni.choice("depth", [1, 2, 3]))
        self.skip = InputChoice(2, 1, label="skip")
        self.drop = MutableDropout(nni.choice("p", [0.0, 0.5]))
        self.fc = MutableLinear(width, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        a = self.op(x)
        x = self.skip([a, self.blocks(a)])
        return self.fc(self.drop(x.mean((2, 3))))


class TwoLayers(ModelSpace):
    """One label used by two LayerChoices: one architecture decision, two places."""

    def __init__(self):
        super().__init__()
        self.first = LayerChoice([Counting(1.0), Counting(2.0), Counting(3.0)], label="shared")
        self.second = LayerChoice([Counting(1.0), Counting(2.0), Counting(3.0)], label="shared")

    def forward(self, x):
        return self.second(self.first(x))


def batch(n: int = 8):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator)


@pytest.mark.parametrize("method", ["darts", "gdas", "proxyless"])
def test_every_mutable_is_relaxed_and_derivation_gives_every_label(method):
    torch.manual_seed(0)
    supernet = RelaxedSupernet(Mixed(), method)
    x, y = batch()
    if method == "proxyless":
        supernet.resample()
    F.cross_entropy(supernet(x), y).backward()
    arch = supernet.derive()
    assert set(arch) == set(search_choices(Mixed())) and validate_arch(supernet.choices, arch) == arch
    supernet.fix(arch)
    assert supernet(x).shape == (8, 10)
    # the weights never include an architecture parameter, and every architecture parameter is an alpha
    arch_ids = {id(p) for p in supernet.arch_parameters()}
    assert not arch_ids & {id(p) for p in supernet.weight_parameters()}
    assert len(supernet.weight_parameters()) + len(supernet.arch_parameters()) == len(list(supernet.parameters()))


def test_darts_mixes_candidates_by_the_softmax_of_alpha():
    supernet = RelaxedSupernet(TwoLayers(), "darts")
    [alpha] = supernet.alpha_list
    with torch.no_grad():
        alpha.copy_(torch.tensor([0.3, -1.0, 2.0]))
    w = torch.softmax(alpha.detach(), -1)
    mean_scale = float((w * torch.tensor([1.0, 2.0, 3.0])).sum())
    x = torch.ones(1, 1)
    assert float(supernet(x)) == pytest.approx(mean_scale ** 2, rel=1e-5)  # both layers, the same weights


def test_darts_second_order_differs_from_first_order_on_any_space():
    torch.manual_seed(0)
    supernet = RelaxedSupernet(Mixed(), "darts")
    weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()

    def loss(b):
        return F.cross_entropy(supernet(b[0]), b[1])

    grads = {}
    for order in (1, 2):
        for a in alphas:
            a.grad = None
        architecture_gradient(loss, weights, alphas, batch(), batch(16), order, 0.5)
        grads[order] = torch.cat([a.grad.flatten() for a in alphas if a.grad is not None])
    assert not torch.allclose(grads[1], grads[2])


def test_gdas_runs_one_sampled_candidate_per_pass_the_same_one_for_a_shared_label():
    torch.manual_seed(0)
    supernet = RelaxedSupernet(TwoLayers(), "gdas")
    first = [c for c in supernet.space.first.candidates]
    second = [c for c in supernet.space.second.candidates]
    chosen = []
    for _ in range(60):
        before = [c.calls for c in first + second]
        supernet(torch.ones(1, 1))
        ran = [i for i, c in enumerate(first + second) if c.calls > before[i]]
        assert len(ran) == 2 and ran[1] - ran[0] == 3  # one candidate per layer, the same index in both
        chosen.append(ran[0])
    assert len(set(chosen)) == 3  # sampled, not a fixed path


def test_gdas_gradient_reaches_every_alpha_entry_straight_through():
    torch.manual_seed(0)
    supernet = RelaxedSupernet(TwoLayers(), "gdas", tau=1.0)
    [alpha] = supernet.alpha_list
    supernet(torch.ones(1, 1)).sum().backward()
    assert alpha.grad is not None and bool((alpha.grad != 0).all())


def test_a_searched_width_slices_the_shared_weight():
    torch.manual_seed(0)
    supernet = RelaxedSupernet(Mixed(), "darts")
    arch = {"width": 4, "op": 2, "depth": 1, "skip": [0], "p": 0.0}
    seen = {}
    supernet.space.stem.register_forward_hook(lambda m, i, out: seen.setdefault("stem", out))
    supernet.fix(arch)
    supernet(batch()[0])
    stem = seen["stem"]
    assert stem.shape[1] == 8  # the mixed operation keeps the largest width's shape ...
    assert bool((stem[:, :4] != 0).any()) and bool((stem[:, 4:] == 0).all())  # ... and masks all but the first 4


def test_a_mixed_choice_of_a_weight_free_layer_keeps_nothing_in_the_weights():
    supernet = RelaxedSupernet(Mixed(), "darts")
    [drop] = [m for m in supernet.modules() if isinstance(m, MixedChoice) and m.label == "p"]
    assert list(drop.parameters()) == [drop._arch_alpha]


class SlowOrFast(ModelSpace):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        slow = nn.Sequential(*[nn.Conv2d(16, 16, 5, padding=2) for _ in range(6)])
        self.op = LayerChoice({"slow": slow, "fast": nn.Identity()}, label="op")
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.op(torch.relu(self.stem(x))).mean((2, 3)))


def test_proxyless_latency_table_times_the_candidates_and_the_loss_prefers_the_fast_one():
    torch.manual_seed(0)
    supernet = RelaxedSupernet(SlowOrFast(), "proxyless")
    x, y = batch(16)
    table = latency_table(supernet, x, runs=5)
    [(key, (slow, fast))] = table.items()
    assert slow > 5 * fast  # six 5x5 convolutions against an identity
    [alpha] = supernet.alpha_list
    fast_prob = {}
    for name, latency in (("without", None), ("with", LatencyLoss(table, 0.0, fast, "additive", 0.6, 5.0))):
        with torch.no_grad():
            alpha.zero_()
        optimizer = torch.optim.Adam([alpha], lr=0.05)
        generator = torch.Generator().manual_seed(1)
        for _ in range(20):
            torch.manual_seed(int(torch.randint(0, 10**6, (1,), generator=generator)))
            optimizer.zero_grad()
            supernet.resample()
            loss = F.cross_entropy(supernet(x), y)
            if latency is not None:
                loss = latency(loss, supernet)
            loss.backward()
            optimizer.step()
        fast_prob[name] = float(torch.softmax(alpha.detach(), -1)[1])
    assert fast_prob["with"] > fast_prob["without"] + 0.2


def test_best_first_walks_architectures_in_order_of_probability():
    supernet = RelaxedSupernet(Mixed(), "darts")
    with torch.no_grad():
        for alpha in supernet.alpha_list:
            alpha.copy_(torch.arange(len(alpha), dtype=torch.float32))  # the last value is the most probable
    assert supernet.derive()["width"] == 8 and supernet.derive()["depth"] == 3
    arch, looked = best_first(supernet, lambda a: a["width"] == 4)
    assert arch["width"] == 4 and arch["depth"] == 3 and looked > 1
    none, looked = best_first(supernet, lambda a: False, limit=10)
    assert none is None and looked == 10


def test_a_space_that_cannot_be_relaxed_is_refused_naming_the_layer():
    class Conv3dWidth(ModelSpace):
        def __init__(self):
            super().__init__()
            from nni.nas.nn.pytorch import MutableConv3d

            self.conv = MutableConv3d(1, nni.choice("c", [2, 4]), 3)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(UnsupportedSpaceError, match=r"MutableConv3d \(conv: c\)"):
        RelaxedSupernet(Conv3dWidth(), "gdas")


class Signal(ModelSpace):
    """A 1-D convolution with a searched width and kernel size (padding "same" for each), then a searched
    1-D batch norm: the layers NNI 3.0 has no mixed operation for."""

    def __init__(self):
        super().__init__()
        width, kernel = nni.choice("width", [2, 4]), nni.choice("kernel", [3, 5])
        from nni.nas.nn.pytorch import MutableBatchNorm1d, MutableConv1d

        self.conv = MutableConv1d(1, width, kernel, padding=(kernel - 1) // 2)
        self.bn = MutableBatchNorm1d(width)

    def forward(self, x):
        return self.bn(self.conv(x))


@pytest.mark.parametrize("width, kernel", [(2, 3), (4, 3), (2, 5), (4, 5)])
def test_mixed_conv1d_takes_the_channel_prefix_and_the_kernel_centre(width, kernel):
    from strategies.supernet.sampling import SamplingSupernet

    torch.manual_seed(0)
    x = torch.randn(3, 1, 16)
    sampling = SamplingSupernet(Signal())
    sampling.activate({"width": width, "kernel": kernel})
    conv = sampling.space.conv
    start = (5 - kernel) // 2
    expected = F.conv1d(x, conv.weight[:width, :, start:start + kernel], conv.bias[:width], padding=(kernel - 1) // 2)
    sampling.eval()  # running statistics 0 and 1: the batch norm is the identity up to eps
    assert torch.allclose(sampling(x), expected / (1 + 1e-5) ** 0.5, atol=1e-5)
    relaxed = RelaxedSupernet(Signal(), "darts")
    relaxed.fix({"width": width, "kernel": kernel})
    relaxed.eval()
    conv = relaxed.space.conv
    out = relaxed(x)
    expected = F.conv1d(x, conv.weight[:width, :, start:start + kernel], conv.bias[:width], padding=(kernel - 1) // 2)
    assert torch.allclose(out[:, :width], expected / (1 + 1e-5) ** 0.5, atol=1e-5)
    assert bool((out[:, width:] == 0).all())


@pytest.mark.parametrize("reuse", [True, False])
def test_darts_on_any_space_reuses_the_virtual_gradient_for_the_weight_step_only_when_asked(reuse):
    """As for the cell space (tests/strategies/test_darts.py): with ``reuse_virtual_step`` the weight step of a
    second-order search moves w along the gradient at the alpha before the architecture update, else at the new
    alpha. Eval mode switches the dropout off, so that every pass is the same function (Mixed has no batch norm)."""
    from types import SimpleNamespace

    from strategies.darts.settings import DartsSettings
    from strategies.supernet.relaxed_search import RelaxedSearch

    torch.manual_seed(0)
    supernet = RelaxedSupernet(Mixed(), "darts").eval()
    weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()
    hp = DartsSettings(order=2, reuse_virtual_step=reuse, grad_clip=None, w_momentum=0.0, w_weight_decay=0.0,
                       arch_lr=0.05)
    module = RelaxedSearch(supernet, hp, "classification", epochs=1)
    w_opt, arch_opt = torch.optim.SGD(weights, lr=0.1), torch.optim.Adam(alphas, lr=hp.arch_lr)
    wrap = lambda opt: SimpleNamespace(optimizer=opt, zero_grad=opt.zero_grad, step=opt.step)  # noqa: E731
    module.optimizers = lambda: (wrap(w_opt), wrap(arch_opt))
    module.log = lambda *args, **kwargs: None
    module.manual_backward = lambda loss, **kwargs: loss.backward(**kwargs)
    train_batch, arch_batch = batch(), batch(16)
    before = [w.detach().clone() for w in weights]

    def gradient_at_current_alpha() -> list[torch.Tensor]:
        saved = [w.detach().clone() for w in weights]
        with torch.no_grad():
            for w, b in zip(weights, before):
                w.copy_(b)
        grads = torch.autograd.grad(F.cross_entropy(supernet(train_batch[0]), train_batch[1]), weights,
                                    allow_unused=True)
        with torch.no_grad():
            for w, s in zip(weights, saved):
                w.copy_(s)
        return [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]

    def distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        flat_a, flat_b = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
        return float((flat_a - flat_b).norm() / flat_b.norm())

    old_alpha = gradient_at_current_alpha()
    module.training_step({"weights": train_batch, "arch": arch_batch}, 0)
    new_alpha = gradient_at_current_alpha()
    moved = [(b - w.detach()) / 0.1 for w, b in zip(weights, before)]
    expected, other = (old_alpha, new_alpha) if reuse else (new_alpha, old_alpha)
    assert distance(moved, expected) < 1e-4
    assert distance(moved, other) > 1e-3
