"""The four-layer MLP regressor of the OB paper's continuous experiments (Table 1; ob.md §1.5, §3).

``p(+1) → 64 → 32 → 16 → 1`` with ReLU, mean-squared error, Adam (lr 1e-4, Grari et al.'s predictor
setting), batch 256, 2000 epochs (the OB paper's schedule). ``use_sensitive=True`` is the ML
baseline (input ``[x, a]``); ``False`` is FTU, and the predictor OB / SOB put after their transform
(input ``x̃``). Minibatches are reshuffled every epoch from ``random_state``, so a run is a pure
function of its data and settings. :func:`fit_together` fits several such regressors (e.g. the seeds of a
table cell) as one batched ensemble, with the weights each one's own ``fit`` gives (to float tolerance;
bit for bit for ob:table1's shapes on this project's CPU, see :mod:`._ensemble`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ...core.errors import FairbenchError
from .._random import seed_from, torch_seeded
from .._threads import limited_threads
from ..base import GroupAwarePredictor, MethodEntry
from ..registry import register_method
from ._ensemble import fit_regressors

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

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> "MLPRegressor":
        fit_together([self], [(X, y, s)])
        return self

    def network_arrays(self) -> dict[str, np.ndarray]:
        """The fitted network's weights and biases, by layer (``w0``, ``b0``, ...), as plain arrays."""
        layers = [module for module in self.net_ if isinstance(module, nn.Linear)]
        return {f"{kind}{i}": getattr(layer, name).detach().numpy().copy()
                for i, layer in enumerate(layers) for kind, name in (("w", "weight"), ("b", "bias"))}

    def with_network_arrays(self, arrays: dict[str, np.ndarray]) -> "MLPRegressor":
        """Set the fitted network from :meth:`network_arrays` (a fit made elsewhere, e.g. with other members)."""
        self._check_params()
        self.net_ = relu_network(arrays["w0"].shape[1], 0)  # the architecture; the weights are replaced below
        with torch.no_grad():
            for i, layer in enumerate(module for module in self.net_ if isinstance(module, nn.Linear)):
                layer.weight.copy_(torch.from_numpy(np.asarray(arrays[f"w{i}"], dtype=np.float32)))
                layer.bias.copy_(torch.from_numpy(np.asarray(arrays[f"b{i}"], dtype=np.float32)))
        return self

    def predict(self, X: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        with torch.no_grad():
            return self.net_(inputs(X, s, self.use_sensitive)).numpy()[:, 0].astype(np.float64)


@limited_threads()
def fit_together(models: Sequence[MLPRegressor], data: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> None:
    """Fit each of ``models`` on its ``(X, y, s)`` as its own ``fit`` would (its initialisation, minibatch
    order and Adam state from its ``random_state``), training the networks together (:mod:`._ensemble`):
    the same weights (see :mod:`._ensemble`) in less time. Models whose schedule, row count or input width
    differ are trained in separate groups."""
    if len(models) != len(data):
        raise FairbenchError("fit_together needs one (X, y, s) per model")
    groups: dict[tuple, list[int]] = {}
    features = []
    for i, (model, (X, _, s)) in enumerate(zip(models, data)):
        model._check_params()
        features.append(inputs(X, s, model.use_sensitive))
        key = (int(model.epochs), int(model.batch_size), float(model.lr), tuple(features[-1].shape))
        groups.setdefault(key, []).append(i)
    for (epochs, batch_size, lr, _), members in groups.items():
        targets = [torch.as_tensor(np.asarray(data[i][1], dtype=np.float32).reshape(-1, 1)) for i in members]
        seeds = [seed_from(models[i].random_state) for i in members]  # initialisation and minibatch order
        networks = [relu_network(features[i].shape[1], seed) for i, seed in zip(members, seeds)]
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        fitted = fit_regressors(networks, [features[i] for i in members], targets, generators, epochs, batch_size, lr)
        for i, network in zip(members, fitted):
            models[i].net_ = network


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
