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
from .._random import seed_from, torch_seeded
from .._threads import limited_threads
from ..base import GroupAwarePredictor, MethodEntry
from ..registry import register_method

HIDDEN = (64, 32, 16)


def relu_network(n_in: int, seed: int, hidden: tuple[int, ...] = HIDDEN) -> nn.Sequential:
    """``n_in → hidden… → 1`` with ReLU between layers, initialised from ``seed`` (global RNG untouched)."""
    with torch_seeded(seed):
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


class MLPRegressor(GroupAwarePredictor):
    """Group-aware MLP regressor, ``fit(X, y, s)`` / ``predict(X, s)``; ``s`` is (n,) or (n, m)."""

    def __init__(self, use_sensitive: bool = True, epochs: int = 2000, batch_size: int = 256, lr: float = 1e-4,
                 random_state: int = 0):
        self._store(locals())

    def _check_params(self) -> None:
        check_schedule(self.epochs, self.batch_size, self.lr)

    @limited_threads()
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> "MLPRegressor":
        self._check_params()
        data = inputs(X, s, self.use_sensitive)
        target = torch.as_tensor(np.asarray(y, dtype=np.float32).reshape(-1, 1))
        seed = seed_from(self.random_state)  # initialisation and minibatch order
        generator = torch.Generator().manual_seed(seed)
        self.net_ = relu_network(data.shape[1], seed)
        optimiser = torch.optim.Adam(self.net_.parameters(), lr=float(self.lr))
        loss_fn = nn.MSELoss()
        n, batch_size = len(data), int(self.batch_size)
        for _ in range(int(self.epochs)):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
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
    )
)
