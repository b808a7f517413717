"""Independent small ReLU networks trained together (a batched ensemble), equal to training them one by one.

A step of one ``p → 64 → 32 → 16 → 1`` network on 256 rows is a few hundred microseconds of which most is
per-operation overhead, not arithmetic; K such networks whose parameters are stacked along a leading
axis take one batched matrix product per layer instead of K small ones. Every member keeps what it
would have alone:

- its initialisation (the stacked tensors are built from the members' own ``nn.Linear`` weights);
- its minibatch order (its own ``torch.Generator``, drawn in the order a lone fit draws);
- its optimiser state: Adam's moments and update are elementwise, so slice k of a stacked parameter
  gets exactly member k's update (one Adam over the stacked tensors);
- its loss: the members' mean-squared errors are summed, so no gradient mixes members.

The result equals the lone fits to float tolerance (``tests/test_ensemble.py``), and on this project's CPU
(x86, torch's bundled BLAS) bit for bit for ob:table1's shapes (121 / 122 / 24 / 25 input features):
``baddbmm`` slices equal ``addmm`` there once every member's minibatch starts on a 64-byte boundary
(:func:`_aligned`; the BLAS chooses its kernel by alignment too), while a width-1 output layer runs
member by member (a single
output column takes a matrix-vector kernel in ``addmm`` that the batched product does not), as does a
minibatch of fewer than ``FEW_ROWS`` rows, and each member's loss is its own ``mse_loss``. Other shapes may take other kernels: 4-11 input features, for
one, give the first layer's weight gradient another summation order (a last-bit difference that
training carries on). Members must share the architecture, the number of rows and the schedule
(epochs, batch size, learning rate).
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


# Below this many rows (an epoch's last, short minibatch: Crime's 1,794 rows leave 2) the batched product
# sums in another order than addmm for some widths, so such a minibatch runs member by member.
FEW_ROWS = 16
ALIGN_FLOATS = 16  # 64 bytes of float32


def _linears(network: nn.Sequential) -> list[nn.Linear]:
    return [module for module in network if isinstance(module, nn.Linear)]


class StackedReLUNetwork(nn.Module):
    """K ReLU networks of one architecture (``Linear, ReLU, ..., Linear``) as stacked parameters;
    ``forward`` maps ``(K, rows, n_in)`` to ``(K, rows, n_out)``."""

    def __init__(self, members: Sequence[nn.Sequential]):
        super().__init__()
        layers = [_linears(member) for member in members]
        shapes = {tuple(layer.weight.shape for layer in member) for member in layers}
        if len(shapes) != 1:
            raise ValueError(f"members of a stacked network must share one architecture, got {sorted(shapes)}")
        depth = len(layers[0])
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([member[i].weight.detach() for member in layers])) for i in range(depth)])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([member[i].bias.detach() for member in layers])) for i in range(depth)])

    @property
    def size(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        few_rows = x.shape[1] < FEW_ROWS
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if few_rows or weight.shape[1] == 1:  # member by member: see the module docstring
                x = torch.stack([F.linear(x[k], weight[k], bias[k]) for k in range(self.size)])
            else:
                x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
            if i < last:
                x = torch.relu(x)
        return x

    def member(self, k: int, template: nn.Sequential) -> nn.Sequential:
        """Member ``k`` as a network shaped like ``template`` (a copy of the stacked slice)."""
        network = copy.deepcopy(template)  # a copy, not a fresh nn.Linear: that would draw from torch's global RNG
        with torch.no_grad():
            for layer, weight, bias in zip(_linears(network), self.weights, self.biases):
                layer.weight.copy_(weight[k])
                layer.bias.copy_(bias[k])
        return network


def _aligned(x: torch.Tensor) -> torch.Tensor:
    """``x`` (K, rows, width) with each member's block starting on a 64-byte boundary, as a lone fit's freshly
    allocated minibatch does: the BLAS picks its kernel (and so its summation order) by alignment too."""
    members, rows, width = x.shape
    block = rows * width
    padded = -(-block // ALIGN_FLOATS) * ALIGN_FLOATS
    if padded == block:
        return x
    buffer = torch.empty(members, padded, dtype=x.dtype)
    buffer[:, :block] = x.reshape(members, block)
    return buffer.as_strided((members, rows, width), (padded, width, 1))


def fit_regressors(networks: Sequence[nn.Sequential], inputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                   generators: Sequence[torch.Generator], epochs: int, batch_size: int, lr: float) -> list[nn.Sequential]:
    """Train the ``networks`` (each on its ``inputs`` / ``targets`` (n, 1) with minibatch order from its
    generator; Adam at ``lr``, MSE) together; returns the trained networks, one per member."""
    if not (len(networks) == len(inputs) == len(targets) == len(generators)) or not networks:
        raise ValueError("fit_regressors needs one input, target and generator per network")
    n = inputs[0].shape[0]
    if any(x.shape[0] != n for x in inputs) or any(y.shape[0] != n for y in targets):
        raise ValueError("members trained together need the same number of rows")
    stacked = StackedReLUNetwork(networks)
    optimiser = torch.optim.Adam(stacked.parameters(), lr=lr)
    x_all, y_all = torch.stack(list(inputs)), torch.stack(list(targets))
    members = torch.arange(len(networks)).unsqueeze(1)
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=generator) for generator in generators])
        for start in range(0, n, batch_size):
            rows = orders[:, start : start + batch_size]
            optimiser.zero_grad()
            predicted = stacked(_aligned(x_all[members, rows]))
            target = y_all[members, rows]
            loss = sum(F.mse_loss(predicted[k], target[k]) for k in range(len(networks)))
            loss.backward()
            optimiser.step()
    return [stacked.member(k, network) for k, network in enumerate(networks)]
