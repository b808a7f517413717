"""The pixel-space Headtails counterfactuals of cfdebias on images (cfdebias.md 3.8, 6.6) and cfdebias
run end to end with them: CPU, a tiny textured image set, seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fairbench.core.errors import FairbenchError
from fairbench.datasets.base import Split
from fairbench.methods import METHODS
from fairbench.methods.learners._torch_classifier import frozen_copy
from fairbench.methods.unlearning import _headtails
from fairbench.methods.unlearning._headtails import cell_bounds, distractor_classes

CONCEPTS = [0, 0, 1, 1]  # classes 0, 1 (stripes) and 2, 3 (blobs)


def textures(n: int = 96, size: int = 16, seed: int = 0) -> Split:
    """Four classes drawn over the whole image: horizontal stripes, vertical stripes, a checkerboard and
    noise, so that pasting cells of one into another moves the prediction."""
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % 4
    r, c = np.indices((size, size))
    patterns = [(r // 2) % 2, (c // 2) % 2, ((r // 2) + (c // 2)) % 2, np.zeros((size, size))]
    X = np.stack([patterns[k] * 160 + rng.integers(0, 60, (size, size)) for k in y]).astype(np.uint8)
    return Split(X, y, index=np.arange(n))


@pytest.fixture(scope="module")
def teacher_problem():
    data = textures()
    model = METHODS.get("resnet_mini").factory(epochs=6, batch_size=16, augment="none").fit(data.X, data.y)
    x, y = model.tensor(data.X), torch.as_tensor(data.y)
    return model, x, y


def _search(teacher_problem, queries=slice(0, 24), **params):
    model, x, y = teacher_problem
    teacher = frozen_copy(model.network_)
    return teacher, _headtails.search(teacher, x[queries], x, y, x[24:], y[24:], CONCEPTS,
                                      torch.Generator().manual_seed(0), **params)


def test_counterfactual_flips_the_teacher_and_changes_only_the_chosen_cells(teacher_problem):
    model, x, _ = teacher_problem
    teacher, cf = _search(teacher_problem)
    query = x[:24]
    assert cf.found.sum() >= 12  # most of these queries flip
    with torch.no_grad():
        before, after = teacher(query).argmax(dim=1), teacher(cf.x).argmax(dim=1)
    assert torch.equal(after != before, cf.found)  # a reported flip is a flip on the returned pixels
    grid = cf.cells.shape[1:]
    rows, cols = cell_bounds(x.shape[2], grid[0]), cell_bounds(x.shape[3], grid[1])
    for k in range(len(query)):
        allowed = torch.zeros(x.shape[2:], dtype=torch.bool)
        for i, j in cf.cells[k].nonzero().tolist():
            allowed[rows[i][0] : rows[i][1], cols[j][0] : cols[j][1]] = True
        changed = (cf.x[k] != query[k]).any(dim=0)
        assert not (changed & ~allowed).any()  # only pixels of the chosen cells differ
        assert int(cf.cells[k].sum()) == int(cf.edits[k]) == (int(cf.edits[k]) if cf.found[k] else 0)
        if not cf.found[k]:
            assert torch.equal(cf.x[k], query[k])
    summary = cf.summary()
    assert summary["cf_flip_rate"] == pytest.approx(float(cf.found.float().mean()))
    assert 1 <= summary["cf_edits_mean"] <= summary["cf_edits_max"] <= grid[0] * grid[1]


def test_max_edits_bounds_the_search(teacher_problem):
    _, cf = _search(teacher_problem, max_edits=1)
    assert int(cf.edits.max()) <= 1
    _, full = _search(teacher_problem)
    assert cf.found.sum() <= full.found.sum()


def test_distractor_class_is_the_most_confused_within_the_concept_else_a_retained_one():
    confusion = torch.tensor([[9.0, 1.0, 5.0, 0.0],  # class 0 is confused most with 2 (another concept)
                              [2.0, 9.0, 0.0, 3.0],
                              [0.0, 4.0, 9.0, 1.0],
                              [0.0, 0.0, 6.0, 9.0]])
    everything = torch.ones(4, dtype=torch.bool)
    assert distractor_classes(confusion, CONCEPTS, everything).tolist() == [1, 0, 3, 2]
    without_1 = torch.tensor([True, False, True, True])  # class 1 deleted: 0 has no sibling left
    assert distractor_classes(confusion, CONCEPTS, without_1).tolist() == [2, 0, 3, 2]
    only_0 = torch.tensor([True, False, False, False])  # 0 has no other retained class at all
    assert distractor_classes(confusion, CONCEPTS, only_0)[0] == -1
    assert distractor_classes(confusion, None, everything).tolist() == [2, 3, 1, 2]  # no concepts: any class


def test_search_takes_distractors_of_the_sibling_class(teacher_problem):
    _, x, y = teacher_problem
    _, cf = _search(teacher_problem)
    concept = torch.tensor(CONCEPTS)
    distractor = cf.distractor_class  # the teacher classifies these queries correctly: its class is the label
    assert (concept[distractor] == concept[y[:24]]).all() and (distractor != y[:24]).all()


# -- cfdebias with image counterfactuals ---------------------------------------------------------

def _cfdebias(teacher_problem, **params):
    model, x, y = teacher_problem
    data = textures()
    forget = np.arange(96) < 16
    unlearner = METHODS.get("cfdebias").factory(epochs=1, batch_size=16, concepts=CONCEPTS, random_state=3, **params)
    out = unlearner.unlearn(model, data.subset(forget), data.subset(~forget))
    return unlearner, out.predict_proba(data.X)


def test_cfdebias_runs_on_images_with_headtails_and_is_deterministic_per_seed(teacher_problem):
    unlearner, first = _cfdebias(teacher_problem)
    assert first.shape == (96, 4) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, _cfdebias(teacher_problem)[1])
    report = unlearner.report_
    assert report["cf_similarity_own_features"] == 1.0 and 0 < report["cf_flip_rate"] <= 1
    assert report["cf_found_share"] == report["cf_flip_rate"] and report["cf_edits_mean"] >= 1


@pytest.mark.parametrize("weights", [{"alpha": 0.0}, {"beta": 0.0}, {"gamma_ce": 0.0},
                                     {"alpha": 0.0, "beta": 0.0, "gamma_ce": 0.0}])
def test_each_loss_term_is_removable_on_images(teacher_problem, weights):
    _, full = _cfdebias(teacher_problem)
    _, ablated = _cfdebias(teacher_problem, **weights)
    assert np.all(np.isfinite(ablated)) and not np.array_equal(ablated, full)


def test_generator_choice_must_fit_the_input(teacher_problem):
    with pytest.raises(FairbenchError, match="do not apply"):
        _cfdebias(teacher_problem, counterfactuals="cchvae")
    with pytest.raises(FairbenchError, match="counterfactuals"):
        _cfdebias(teacher_problem, counterfactuals="swav")
