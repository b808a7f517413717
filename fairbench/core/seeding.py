"""The seed rule: every random draw of a run comes from a named stream derived from the run's seed.

A run has one integer seed (the job's ``seed``; a cell's repeats are seeds 0, 1, ...). A task never
hands that integer around as "the" seed; it asks :class:`SeedStreams` for the stream of one purpose
and passes what it gets to exactly one consumer:

=============  ==========================================================================  =========================
stream         what draws from it                                                          integer it gives
=============  ==========================================================================  =========================
``split``      the dataset's train/test split (``load_dataset(seed=...)``), recommend's    the run seed
               unbiased-ratings split
``init``       a learner's ``random_state`` (initialisation, noise, minibatch order)       the run seed
``deletion``   the deletion protocol's draw of the forget set                              the run seed
``evaluation`` seeded metrics (membership-inference attackers), counterfactual draws       the run seed
``generator``  a task's helper model (cf_continuous's adversarial VAE)                     the run seed
``method``     the ``random_state`` of the method a cell runs (predictor, recommender)     the run seed
``unlearner``  the ``random_state`` of an unlearner (and of the reference unlearner)       the run seed
any other      new purposes                                                                ``SeedSequence(run seed,
                                                                                           spawn_key=(crc32(name),))``
=============  ==========================================================================  =========================

Why the first rows are not independent SeedSequence children: **the streams keep the values the
committed tables were made with.** Before this rule existed the tasks passed the run seed itself to
the split, the deletion, the learners and the metrics, and an unlearner built without a
``random_state`` drew its seeds from torch's global generator right after ``torch.manual_seed(run
seed)``: the first draw, and for cfdebias (a VAE in ``prepare``, then ``unlearn``) the first and the
second. Unlearners now get the run seed and take their k-th random phase from the k-th draw of a
private ``torch.Generator().manual_seed(random_state)``
(:func:`fairbench.methods._random.torch_generator`): the same integers, with no global state read.
The legacy streams are not statistically independent of each other (several are the same integer);
they feed different algorithms (a permutation, a Gaussian draw, a network initialisation), as they
always did. Streams added from now on are SeedSequence children, independent of each other and of the run seed's
other uses.

``held`` names streams that stay at seed 0 for every repeat of a cell (an unlearning cell's
``redraw`` leaves the split and the original model fixed and redraws only the deletion).

:func:`seed_everything` (in :mod:`fairbench.core.determinism`) still seeds the global generators at
the start of each job, as a guard for third-party code that draws from them; fairbench's own methods
take ``random_state`` and must not rely on it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is only needed by the caller that asks for a torch generator
    import torch

RUN_SEED_STREAMS = ("split", "init", "deletion", "evaluation", "generator", "method", "unlearner")
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class SeedStreams:
    """The named streams of one run (see the module docstring for the rule)."""

    run_seed: int
    held: frozenset[str] = frozenset()  # streams fixed at seed 0 across a cell's repeats

    def seed(self, stream: str) -> int:
        base = 0 if stream in self.held else int(self.run_seed)
        if stream in RUN_SEED_STREAMS:
            return base
        sequence = np.random.SeedSequence(base, spawn_key=(zlib.crc32(stream.encode()),))
        return int(sequence.generate_state(1, dtype=np.uint32)[0] & MAX_SEED)

    def numpy(self, stream: str) -> np.random.Generator:
        return np.random.default_rng(self.seed(stream))

    def torch(self, stream: str) -> "torch.Generator":
        import torch

        return torch.Generator().manual_seed(self.seed(stream))
