"""DARTS's two optimisers and the two seeded halves of the training split, shared by the cell search
(:mod:`strategies.darts.search`) and the search of any other space (:mod:`strategies.supernet.relaxed_search`).

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Sec. 3.1.2.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from strategies.darts.settings import DartsSettings


def search_optimizers(supernet: Any, hp: DartsSettings, epochs: int):
    """DARTS's two optimisers (Sec. 3.1.2), for any supernet with ``weight_parameters`` and ``arch_parameters``:
    SGD with momentum on the weights under a cosine schedule over ``epochs``, Adam on the architecture parameters."""
    w_opt = torch.optim.SGD(supernet.weight_parameters(), lr=hp.w_lr, momentum=hp.w_momentum,
                            weight_decay=hp.w_weight_decay)
    arch_opt = torch.optim.Adam(supernet.arch_parameters(), lr=hp.arch_lr, betas=tuple(hp.arch_betas),
                                weight_decay=hp.arch_weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=epochs, eta_min=hp.w_lr_min)
    return [w_opt, arch_opt], [schedule]


def search_loaders(bundle, batch_size: int, train_portion: float, seed: int, num_workers: int = 0):
    """Loaders of the two seeded halves of the training split (w, alpha) and of the validation split."""
    order = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(seed)).tolist()
    split = int(round(train_portion * len(order)))
    common = {"batch_size": batch_size, "num_workers": num_workers, "persistent_workers": num_workers > 0}

    def shuffled(indices: list[int], offset: int) -> DataLoader:
        generator = torch.Generator().manual_seed(seed + offset)
        return DataLoader(Subset(bundle.train, indices), shuffle=True, generator=generator, **common)

    return shuffled(order[:split], 1), shuffled(order[split:], 2), DataLoader(bundle.val, shuffle=False, **common)
