"""BANANAS's predictor: an ensemble of small fully connected networks (White, Neiswanger, Savani, "BANANAS:
Bayesian Optimization with Neural Architectures for Neural Architecture Search", AAAI 2021, Sec. 4).

Each member is a multi-layer perceptron trained from scratch, from its own random initialisation and minibatch
order, on every architecture evaluated so far; the spread of the members' predictions is the ensemble's
uncertainty, which the acquisition function (:mod:`strategies.bananas.acquisition`) turns into exploration. The
paper found 5 members enough (its ensembles of 3 to 5 were as good as a Gaussian process's posterior).

Plain numpy, by design: the networks are tiny (a few thousand weights, a hundred points), and NNI's dispatcher must
start the tuner without importing torch. Forward and backward are written out, one line per layer:

    h_0 = x,   h_l = relu(h_{l-1} W_l + b_l),   f(x) = h_L w + c,   loss = mean |f(x) - y|   (or squared)

and every parameter follows Adam (Kingma & Ba, 2015) with the usual bias correction.
"""

from __future__ import annotations

import numpy as np

LOSSES = ("mae", "mse")


class MlpEnsemble:
    """``members`` MLPs, each fit on all of ``(x, y)`` (targets standardised), each from its own seed.

    Parameters
    ----------
    members
        Ensemble size (the paper: 5).
    layers, width
        Hidden layers of ``width`` ReLU units each.
    epochs, batch_size, lr
        Minibatch Adam: passes over the data, minibatch size, step size.
    loss
        ``mae`` (mean absolute error, robust to the very poor architectures a random start finds) or ``mse``.
    seed
        Seed of the initialisations and minibatch orders; each fit draws from the same stream, so a fit depends
        on the seed and on the fits before it.
    """

    def __init__(self, members: int = 5, layers: int = 3, width: int = 32, epochs: int = 100, batch_size: int = 32,
                 lr: float = 0.01, loss: str = "mae", seed: int = 0):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if min(members, layers, width, epochs, batch_size) < 1:
            raise ValueError("members, layers, width, epochs and batch_size must be >= 1")
        self.members, self.layers, self.width = members, layers, width
        self.epochs, self.batch_size, self.lr, self.loss = epochs, batch_size, lr, loss
        self.rng = np.random.default_rng(seed)
        self.nets: list[list[np.ndarray]] = []
        self.y_mean, self.y_std = 0.0, 1.0

    @property
    def fitted(self) -> bool:
        return bool(self.nets)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Train every member from scratch on ``x`` (N, features) and ``y`` (N,)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if len(x) < 2 or len(x) != len(y):
            raise ValueError(f"need at least 2 points with one target each, got {len(x)} and {len(y)}")
        self.y_mean, self.y_std = float(y.mean()), float(y.std()) or 1.0
        target = (y - self.y_mean) / self.y_std
        self.nets = [self._train_one(x, target) for _ in range(self.members)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Every member's prediction, (members, N), in the units of ``y``."""
        if not self.nets:
            raise RuntimeError("the ensemble is not fitted yet; call fit() with evaluated architectures first")
        x = np.asarray(x, dtype=np.float64)
        return np.stack([_forward(net, x)[0] for net in self.nets]) * self.y_std + self.y_mean

    # ------------------------------------------------------------------------------------------ one member
    def _init(self, features: int) -> list[np.ndarray]:
        """He initialisation of the weights, zero biases: [W_1, b_1, ..., W_L, b_L, w, c]."""
        params, fan_in = [], features
        for _ in range(self.layers):
            params += [self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, self.width)), np.zeros(self.width)]
            fan_in = self.width
        params += [self.rng.normal(0.0, np.sqrt(1.0 / fan_in), (fan_in,)), np.zeros(())]
        return params

    def _train_one(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        params = self._init(x.shape[1])
        first = [np.zeros_like(p) for p in params]
        second = [np.zeros_like(p) for p in params]
        beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
        for _ in range(self.epochs):
            order = self.rng.permutation(len(x))
            for start in range(0, len(x), self.batch_size):
                batch = order[start:start + self.batch_size]
                grads = _gradients(params, x[batch], y[batch], self.loss)
                step += 1
                for p, g, m, v in zip(params, grads, first, second):
                    m *= beta1
                    m += (1 - beta1) * g
                    v *= beta2
                    v += (1 - beta2) * g * g
                    p -= self.lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
        return params


def _forward(params: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The network's output (N,) and each hidden layer's activations (h_0 = x, ..., h_L)."""
    hidden = [x]
    for weight, bias in zip(params[:-2:2], params[1:-2:2]):
        hidden.append(np.maximum(hidden[-1] @ weight + bias, 0.0))
    return hidden[-1] @ params[-2] + params[-1], hidden


def _gradients(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, loss: str) -> list[np.ndarray]:
    """d loss / d every parameter, by backpropagation through :func:`_forward`."""
    out, hidden = _forward(params, x)
    error = out - y
    d_out = (np.sign(error) if loss == "mae" else 2.0 * error) / len(y)
    grads = [hidden[-1].T @ d_out, d_out.sum()]
    d_hidden = np.outer(d_out, params[-2])
    for layer in range(len(hidden) - 1, 0, -1):
        d_pre = d_hidden * (hidden[layer] > 0)
        weight = params[2 * (layer - 1)]
        grads = [hidden[layer - 1].T @ d_pre, d_pre.sum(0), *grads]
        d_hidden = d_pre @ weight.T
    return grads
