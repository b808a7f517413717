"""Shared recommendation backbone: ID-embedding matrix factorisation and its training loop.

Every recommender of the ULTD table (``shared/papers/ultd.md`` §2 and §5) is an MF predictor
``f(u, i) = sigmoid(p_u . q_i)`` trained with Adam on mini-batches of the biased ratings O, some of
them also on the few unbiased ratings A, all of them early-stopped on the validation AUC.

Contract (``kind="recommender"``):

- ``fit(X, y, *, n_users, n_items, X_unbiased=None, y_unbiased=None, X_valid=None, y_valid=None,
  monitor=None)``: ``X`` is ``(n, 2)`` integer ``(user, item)`` ids, ``y`` binary labels (1 = positive).
  ``monitor(y_true, score) -> float`` is the model-selection criterion on the validation pairs (the
  task passes the pooled AUC); without validation data the model trains for ``max_epochs``.
- ``predict_proba(X) -> (n, 2)`` probabilities, scikit-learn style (column 1 = positive).
- ``fit_info_``: best epoch, epochs run, validation history, method diagnostics.

Shared defaults (the paper's tuned grid centre, ultd.md §5): the :class:`Recommender` constructor;
a recommender whose tuned setting differs (batch size, learning rate, loss) declares just that
parameter again with its own default. Randomness (initialisation, minibatch order, samples of D)
comes from ``random_state`` only: ``fit`` runs in a ``torch.random.fork_rng`` scope seeded from it,
inside which the models draw from torch's default generator. Small models are latency-bound, so
training runs on one thread (:func:`.._threads.limited_threads`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._checks import check_choice, check_positive
from .._random import seed_from, torch_seeded
from .._threads import limited_threads
from ..base import Method

LOSSES = ("bce", "mse")


class MF(nn.Module):
    """``logit(u, i) = p_u . q_i [+ b_u + b_i + mu]`` with N(0, init_std^2) embeddings.

    ``bias=True`` adds user, item and global biases, the "biased MF" of Koren, Bell & Volinsky
    (2009) that the paper cites; the DR-JL code family uses the plain dot product (``bias=False``).
    ``forward(..., weights)`` evaluates the model at other parameter values (a dict like
    ``dict(self.named_parameters())``), used by the look-ahead of the bi-level methods.
    """

    def __init__(self, n_users: int, n_items: int, dim: int, init_std: float = 0.1, bias: bool = False):
        super().__init__()
        self.P = nn.Parameter(torch.randn(n_users, dim) * init_std)
        self.Q = nn.Parameter(torch.randn(n_items, dim) * init_std)
        if bias:
            self.user_bias = nn.Parameter(torch.zeros(n_users))
            self.item_bias = nn.Parameter(torch.zeros(n_items))
            self.global_bias = nn.Parameter(torch.zeros(()))
        self.bias = bias

    def forward(self, users: torch.Tensor, items: torch.Tensor, weights: dict[str, torch.Tensor] | None = None):
        if weights is None:  # the module's own parameters, by attribute (this runs thousands of times per fit)
            P, Q = self.P, self.Q
            biases = (self.user_bias, self.item_bias, self.global_bias) if self.bias else None
        else:
            P, Q = weights["P"], weights["Q"]
            biases = (weights["user_bias"], weights["item_bias"], weights["global_bias"]) if self.bias else None
        out = (P[users] * Q[items]).sum(-1)
        if biases is not None:
            user_bias, item_bias, global_bias = biases
            out = out + user_bias[users] + item_bias[items] + global_bias
        return out

    def sq_norm(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Mean squared L2 norm of the embeddings used by a batch (a batch-local regulariser)."""
        return (self.P[users].pow(2).sum(-1) + self.Q[items].pow(2).sum(-1)).mean()


class Additive(nn.Module):
    """``logit(u, i[, c]) = a_u + b_i (+ c_c) + bias``: propensity, weight and correction models.

    A linear layer on one-hot user / item (/ label) codes, i.e. what the "NCF" propensity model of
    the DR-JL code family and AutoDebias's weight models reduce to.
    """

    def __init__(self, n_users: int, n_items: int, n_codes: int = 0, bias: float = 0.0):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(n_users))
        self.b = nn.Parameter(torch.zeros(n_items))
        self.c = nn.Parameter(torch.zeros(n_codes)) if n_codes else None
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, users: torch.Tensor, items: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        out = self.a[users] + self.b[items] + self.bias
        if self.c is not None and codes is not None:
            out = out + self.c[codes]
        return out


class FusedAdam:
    """Adam through torch's fused CPU kernel, as ``torch.optim.Adam(fused=True)`` runs it (same
    kernel, same per-parameter state and step counts, bit-identical updates; a test compares them),
    without ``Optimizer.step``'s per-call bookkeeping (hooks, profiler records, device grouping, a
    slow ``_foreach_add_`` on scalar step counters). A recommender takes thousands of steps whose
    arithmetic is a few microseconds; that bookkeeping was about 40 % of each step.

    Like torch's, a parameter whose ``grad`` is None is skipped (no state update, no step count).
    """

    BETAS = (0.9, 0.999)  # torch's defaults, which every recommender uses
    EPS = 1e-8

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float = 0.0):
        self.params = params
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        # per parameter, created at its first gradient: [steps taken, first moment, second moment]
        self.state: dict[int, list] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            raise ValueError("FusedAdam only sets gradients to None")
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        params, grads, avgs, squares, counts = [], [], [], [], []
        count_tensors: dict[int, torch.Tensor] = {}  # the kernel reads step counts as float32 scalars; one per value
        for n, param in enumerate(self.params):
            if param.grad is None:
                continue
            state = self.state.get(n)
            if state is None:
                state = self.state[n] = [0, torch.zeros_like(param), torch.zeros_like(param)]
            state[0] += 1
            count = count_tensors.get(state[0])
            if count is None:
                count = count_tensors[state[0]] = torch.tensor(float(state[0]), dtype=torch.float32)
            params.append(param)
            grads.append(param.grad)
            avgs.append(state[1])
            squares.append(state[2])
            counts.append(count)
        if params:
            with torch.no_grad():
                torch._fused_adam_(params, grads, avgs, squares, [], counts, amsgrad=False, lr=self.lr,
                                   beta1=self.BETAS[0], beta2=self.BETAS[1], weight_decay=self.weight_decay,
                                   eps=self.EPS, maximize=False, grad_scale=None, found_inf=None)


Optimizer = FusedAdam | torch.optim.Optimizer


def adam(params, lr: float, weight_decay: float = 0.0) -> Optimizer:
    """Adam (the paper's optimiser for every method) with torch's defaults; the fused CPU kernel when available."""
    params = [p for p in params if p.requires_grad]
    if hasattr(torch, "_fused_adam_"):
        return FusedAdam(params, lr, weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)  # older torch without a fused CPU Adam


def step(optimizer: Optimizer, loss: torch.Tensor) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def pair_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-pair loss of a sigmoid-output model: ``bce`` (log loss, soft targets allowed) or ``mse``
    (squared error of the probability, the ULTD paper's e_{u,i})."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if kind == "mse":
        return (torch.sigmoid(logits) - target).pow(2)
    raise ValueError(f"unknown loss {kind!r}; use one of {LOSSES}")


@dataclass
class Pairs:
    """Parallel tensors of (user, item, label) triples."""

    users: torch.Tensor
    items: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_arrays(cls, X: np.ndarray | None, y: np.ndarray | None) -> "Pairs":
        if X is None or len(X) == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return cls(empty, empty, torch.zeros(0))
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"X must be (n, 2) (user, item) ids, got shape {X.shape}")
        y = np.asarray(y, dtype=np.float32)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        return cls(torch.as_tensor(X[:, 0], dtype=torch.long), torch.as_tensor(X[:, 1], dtype=torch.long), torch.as_tensor(y))

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.users[idx], self.items[idx], self.labels[idx]


class PairIndex:
    """Membership and label of (user, item) pairs in the biased set, for samples from the whole space."""

    def __init__(self, pairs: Pairs, n_items: int):
        keys = pairs.users * n_items + pairs.items
        self.keys, order = torch.sort(keys)
        self.labels = pairs.labels[order]
        self.n_items = n_items

    def lookup(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(o, r): 1.0 where the pair is observed in the biased set (else 0), and its label (else 0)."""
        keys = users * self.n_items + items
        if len(self.keys) == 0:
            zero = torch.zeros(len(keys))
            return zero, zero
        pos = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        observed = self.keys[pos] == keys
        return observed.float(), torch.where(observed, self.labels[pos], torch.zeros(()))


@dataclass
class RecData:
    """What a recommender trains on: biased pairs O, unbiased pairs A (possibly empty), validation."""

    n_users: int
    n_items: int
    biased: Pairs
    unbiased: Pairs
    valid: Pairs
    monitor: Callable[[np.ndarray, np.ndarray], float] | None = None  # validation criterion; None: ROC AUC

    def __post_init__(self):
        self.index = PairIndex(self.biased, self.n_items)
        self.obs_ratio = len(self.biased) / float(self.n_users * self.n_items)  # |O| / |D|
        self.monitor = self.monitor or roc_auc_fallback

    def valid_score(self, scores: Callable[[torch.Tensor, torch.Tensor], np.ndarray]) -> Callable[[], float] | None:
        """Closure computing the validation criterion of ``scores(users, items)``; None without validation data."""
        if not len(self.valid):
            return None
        y = self.valid.labels.numpy()
        return lambda: float(self.monitor(y, scores(self.valid.users, self.valid.items)))

    def obs_batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """One epoch over O in a random order (the last batch may be smaller)."""
        perm = torch.randperm(len(self.biased))
        for start in range(0, len(perm), batch_size):
            yield perm[start:start + batch_size]

    def unbiased_batch(self, size: int) -> torch.Tensor:
        """``min(size, |A|)`` distinct indices into A."""
        n = len(self.unbiased)
        if n == 0:
            raise ValueError("this method needs unbiased ratings (X_unbiased, y_unbiased)")
        return torch.randperm(n)[: min(size, n)]

    def space_batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` pairs drawn uniformly from D = users x items (never materialising D)."""
        return torch.randint(0, self.n_users, (size,)), torch.randint(0, self.n_items, (size,))


def _check_ids(pairs: Pairs, n_users: int, n_items: int, what: str) -> None:
    if len(pairs) and (
        int(pairs.users.min()) < 0 or int(pairs.users.max()) >= n_users
        or int(pairs.items.min()) < 0 or int(pairs.items.max()) >= n_items
    ):
        raise ValueError(f"{what}: ids outside 0..{n_users - 1} x 0..{n_items - 1}")
    if len(pairs) and not bool(((pairs.labels == 0) | (pairs.labels == 1)).all()):
        raise ValueError(f"{what}: labels must be binary (0/1); binarise the ratings first")


def roc_auc_fallback(y_true: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, score))


def snapshot(modules: dict[str, nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().clone() for k, v in m.state_dict().items()} for name, m in modules.items()}


def restore(modules: dict[str, nn.Module], state: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, module in modules.items():
        module.load_state_dict(state[name])


def early_stopping(
    train_epoch: Callable[[], dict[str, float] | None],
    score: Callable[[], float] | None,
    keep: dict[str, nn.Module],
    max_epochs: int,
    patience: int,
) -> dict[str, Any]:
    """Run epochs until the validation score has not improved for ``patience`` epochs; restore the
    modules in ``keep`` to their best epoch. Without ``score`` all ``max_epochs`` run."""
    best, best_epoch, best_state, history = -math.inf, 0, None, []
    diagnostics: dict[str, float] | None = None
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        diagnostics = train_epoch()
        if score is None:
            continue
        value = score()
        history.append(round(value, 5) if math.isfinite(value) else None)
        if math.isfinite(value) and value > best:
            best, best_epoch, best_state = value, epoch, snapshot(keep)
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        restore(keep, best_state)
    return {
        "best_epoch": best_epoch if score is not None else epoch,
        "epochs_run": epoch,
        "best_valid": best if math.isfinite(best) else None,
        "valid_history": history,
        "last_epoch_diagnostics": diagnostics or {},
    }


def supervised_epoch(model: MF, optimizer: Optimizer, pairs: Pairs, batch_size: int, loss: str,
                     targets: torch.Tensor | None = None) -> float:
    """One pass of plain ERM over ``pairs`` (labels, or soft ``targets`` aligned with them)."""
    total = 0.0
    perm = torch.randperm(len(pairs))
    for start in range(0, len(perm), batch_size):
        idx = perm[start:start + batch_size]
        target = pairs.labels[idx] if targets is None else targets[idx]
        total += step(optimizer, pair_loss(model(pairs.users[idx], pairs.items[idx]), target, loss).mean())
    return total


def probabilities(model: MF) -> Callable[[torch.Tensor, torch.Tensor], np.ndarray]:
    def scores(users: torch.Tensor, items: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(model(users, items)).double().numpy()

    return scores


def fit_supervised(model: MF, pairs: Pairs, data: "RecData", *, lr: float, weight_decay: float, batch_size: int,
                   loss: str, max_epochs: int, patience: int) -> dict[str, Any]:
    """Train ``model`` by ERM on ``pairs``, early-stopped on the validation AUC (restored to its best epoch)."""
    optimizer = adam(model.parameters(), lr, weight_decay)
    size = max(1, min(batch_size, len(pairs)))
    return early_stopping(lambda: {"loss": supervised_epoch(model, optimizer, pairs, size, loss)},
                          data.valid_score(probabilities(model)), {"model": model}, max_epochs, patience)


class Recommender(Method):
    """Base of every MF recommender: data plumbing, early stopping, prediction.

    Its constructor holds the defaults every recommender shares. Subclasses set ``uses_unbiased``
    and implement ``_build(data)`` (modules, optimisers, pre-training) and ``_train_epoch(data)``
    (one pass over O); the predictor is ``self.model``. A subclass's ``__init__`` takes its own
    parameters and passes ``**base`` on; ``_check_params`` validates all of them at ``fit``.
    """

    uses_unbiased = False

    def __init__(
        self,
        emb_dim: int = 64,
        lr: float = 0.01,
        batch_size: int = 128,
        weight_decay: float = 1e-4,
        max_epochs: int = 300,
        patience: int = 20,
        init_std: float = 0.1,
        loss: str = "bce",
        bias: bool = True,
        random_state: int | None = None,
    ):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("loss", self.loss, LOSSES)
        check_positive(emb_dim=self.emb_dim, batch_size=self.batch_size, max_epochs=self.max_epochs,
                       patience=self.patience)

    # -- hooks -----------------------------------------------------------------------------
    def _build(self, data: RecData) -> None:
        self.model = self.new_mf(data)
        self.opt = adam(self.model.parameters(), self.lr, self.weight_decay)

    def _train_epoch(self, data: RecData) -> dict[str, float] | None:
        raise NotImplementedError

    def _kept(self) -> dict[str, nn.Module]:
        """Modules restored to the best validation epoch (the predictor; override to add more)."""
        return {"model": self.model}

    def new_mf(self, data: RecData) -> MF:
        return MF(data.n_users, data.n_items, int(self.emb_dim), float(self.init_std), bool(self.bias))

    # -- public API ------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_users: int,
        n_items: int,
        X_unbiased: np.ndarray | None = None,
        y_unbiased: np.ndarray | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        monitor: Callable[[np.ndarray, np.ndarray], float] | None = None,
    ) -> "Recommender":
        self._check_params()
        data = RecData(
            int(n_users), int(n_items), Pairs.from_arrays(X, y), Pairs.from_arrays(X_unbiased, y_unbiased),
            Pairs.from_arrays(X_valid, y_valid), monitor,
        )
        for what, pairs in (("biased", data.biased), ("unbiased", data.unbiased), ("validation", data.valid)):
            _check_ids(pairs, data.n_users, data.n_items, what)
        if len(data.biased) == 0:
            raise ValueError("no biased training pairs")
        if self.uses_unbiased and len(data.unbiased) == 0:
            raise ValueError(f"{type(self).__name__} needs unbiased ratings (X_unbiased, y_unbiased)")
        self.n_users_, self.n_items_ = data.n_users, data.n_items
        with limited_threads(), torch_seeded(seed_from(self.random_state)):
            self._build(data)
            info = early_stopping(lambda: self._train_epoch(data), data.valid_score(self._scores), self._kept(),
                                  self.max_epochs, self.patience)
        self.fit_info_ = {**info, **self._fit_info()}
        return self

    def _fit_info(self) -> dict[str, Any]:
        """Method diagnostics kept in ``fit_info_`` besides the early-stopping summary."""
        return dict(getattr(self, "diagnostics_", {}))

    def _logits(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.model(users, items)

    def _scores(self, users: torch.Tensor, items: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(self._logits(users, items)).double().numpy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "model"):
            raise RuntimeError("fit the recommender first")
        pairs = Pairs.from_arrays(X, np.zeros(len(X)))
        _check_ids(pairs, self.n_users_, self.n_items_, "X")
        with limited_threads():
            p = self._scores(pairs.users, pairs.items)
        return np.column_stack([1.0 - p, p])
