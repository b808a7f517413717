"""The seed rule (fairbench.core.seeding): legacy streams keep the integers the committed tables were
made with; new streams are independent SeedSequence children."""

from __future__ import annotations

import numpy as np
import torch

from fairbench.core.seeding import SeedStreams
from fairbench.methods._random import torch_generator


def test_legacy_streams_are_the_run_seed_and_held_streams_stay_at_zero():
    streams = SeedStreams(3, held=frozenset({"split", "init"}))
    assert [streams.seed(name) for name in ("deletion", "evaluation", "method", "generator")] == [3, 3, 3, 3]
    assert streams.seed("split") == streams.seed("init") == 0
    assert SeedStreams(3).seed("split") == 3


def test_legacy_streams_are_the_run_seed_and_held_streams_stay_at_zero_for_unlearners_too():
    assert SeedStreams(4).seed("unlearner") == 4


def test_an_unlearners_random_phases_are_the_draws_a_freshly_seeded_global_generator_gave():
    """Unlearners drew their seeds from torch's global generator right after torch.manual_seed(run seed)
    (cfdebias twice: its VAE, then its update); phase k of the run seed gives the k-th of those draws."""
    for seed in (0, 1, 7):
        torch.manual_seed(seed)  # what the runner used to do before every job
        legacy = [int(torch.randint(0, 2**31 - 1, (1,)).item()) for _ in range(2)]
        for phase, drawn in enumerate(legacy):
            ours = torch.randint(0, 2**31 - 1, (5,), generator=torch_generator(seed, phase=phase))
            assert torch.equal(ours, torch.randint(0, 2**31 - 1, (5,), generator=torch.Generator().manual_seed(drawn)))


def test_new_streams_are_distinct_and_reproducible_and_leave_global_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    streams = SeedStreams(5)
    seeds = {name: streams.seed(name) for name in ("noise", "subsample", "attack")}
    streams.seed("unlearner")
    assert torch.rand(1) == expected  # no stream touched torch's global generator
    assert len(set(seeds.values())) == 3 and seeds == {n: SeedStreams(5).seed(n) for n in seeds}
    assert seeds["noise"] != SeedStreams(6).seed("noise")
    assert np.array_equal(streams.numpy("noise").random(3), np.random.default_rng(seeds["noise"]).random(3))
    assert torch.equal(torch.randint(0, 9, (4,), generator=streams.torch("noise")),
                       torch.randint(0, 9, (4,), generator=torch.Generator().manual_seed(seeds["noise"])))


def test_seed_everything_turns_on_deterministic_kernels_without_loading_the_compiler():
    import subprocess
    import sys

    code = ("import sys, torch; from fairbench.core.determinism import seed_everything; seed_everything(3); "
            "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
            "'torch._inductor.config' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]
