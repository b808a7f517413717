"""The four-layer MLP regressor of the OB paper's continuous experiments (Table 1; ob.md §1.5, §3).

``p(+1) → 64 → 32 → 16 → 1`` with ReLU, mean-squared error, Adam (lr 1e-4, Grari et al.'s predictor
setting), batch 256, 2000 epochs (the OB paper's schedule). ``use_sensitive=True`` is the ML
baseline (input ``[x, a]``); ``False`` is FTU, and the predictor OB / SOB put after their transform
(input ``x̃``). Minibatches are reshuffled every epoch from ``random_state``, so a run is a pure
function of its data and settings.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...core.errors import FairbenchError
from ..base import MethodEntry
from ..registry import register_method

HIDDEN = (64, 32, 16)


def relu_network(n_in: int, seed: int, hidden: tuple[int, ...] = HIDDEN) -> nn.Sequential:
    """``n_in → hidden… → 1`` with ReLU between layers, initialised from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        return nn.Sequential(*layers, nn.Linear(n_in, 1))


def inputs(X: np.ndarray, s: np.ndarray | None, use_sensitive: bool) -> torch.Tensor:
    X = np.asarray(X, dtype=np.float32)
    if use_sensitive:
        if s is None:
            raise FairbenchError("this model uses the sensitive attribute; pass s")
        X = np.column_stack([X, np.asarray(s, dtype=np.float32).reshape(len(X), -1)])
    return torch.from_numpy(np.ascontiguousarray(X))


def check_schedule(epochs: int, batch_size: int, lr: float) -> None:
    if int(epochs) < 1 or int(batch_size) < 1 or not lr > 0:
        raise FairbenchError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")


class MLPRegressor:
    """Group-aware MLP regressor, ``fit(X, s, y)`` / ``predict(X, s)``; ``s`` is (n,) or (n, m)."""

    def __init__(self, use_sensitive: bool = True, epochs: int = 2000, batch_size: int = 256, lr: float = 1e-4,
                 random_state: int = 0):
        check_schedule(epochs, batch_size, lr)
        self.use_sensitive = use_sensitive
        self.epochs, self.batch_size, self.lr = int(epochs), int(batch_size), float(lr)
        self.random_state = random_state

    def fit(self, X: np.ndarray, s: np.ndarray | None, y: np.ndarray) -> "MLPRegressor":
        data = inputs(X, s, self.use_sensitive)
        target = torch.as_tensor(np.asarray(y, dtype=np.float32).reshape(-1, 1))
        generator = torch.Generator().manual_seed(self.random_state)
        self.net_ = relu_network(data.shape[1], self.random_state)
        optimiser = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        loss_fn = nn.MSELoss()
        n = len(data)
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, self.batch_size):
                rows = order[start : start + self.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(self.net_(data[rows]), target[rows])
                loss.backward()
                optimiser.step()
        return self

    def predict(self, X: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        with torch.no_grad():
            return self.net_(inputs(X, s, self.use_sensitive)).numpy()[:, 0].astype(np.float64)


register_method(
    MethodEntry(
        name="mlp",
        kind="predictor",
        factory=MLPRegressor,
        task="cf_continuous",
        version="1",
        description="4-layer ReLU MLP regressor (64-32-16-1, Adam, MSE); use_sensitive=True is ML, False is FTU",
        papers=("ob",),
        defaults={"use_sensitive": True, "epochs": 2000, "batch_size": 256, "lr": 1e-4},
    )
)
