"""Deletion protocols on labels and sensitive groups: uniform, class, selective_class, subgroup, group_class,
sequential.

Every protocol is ``fn(dataset, seed, **params) -> Deletion`` with sorted, disjoint int64
``forget`` / ``retain`` indices into ``dataset.train`` whose union is every training row. Draws use
``numpy.random.default_rng(seed)`` (same seed, same sets). ``meta`` holds ``protocol``, the resolved
parameters, ``fraction_of`` (what a fraction is a fraction of), ``n_train``, ``n_forget`` and ``seed``
(all JSON-serialisable).

Sizes: m = round(fraction * N) with Python's ``round`` (half to even), N as given by
``fraction_of``. Bad parameters raise :class:`~fairbench.core.errors.FairbenchError`: a fraction
outside (0, 1), a size that rounds to 0 or exceeds the rows available, an unknown class or group,
a missing required parameter, an unknown parameter.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import numpy as np

from ..core.errors import FairbenchError
from ..datasets.base import Dataset
from .base import Deletion, register_protocol

_REQUIRED = inspect.Parameter.empty


# --------------------------------------------------------------------------------------------------
# shared helpers (also used by vision.py)


def protocol(name: str, description: str, params: dict[str, str]) -> Callable:
    """Register ``fn(dataset, seed, *, p1, p2=default, ...)`` as protocol ``name``.

    The registered callable checks the keyword parameters against ``fn``'s signature first, so an
    unknown or missing parameter raises FairbenchError (not TypeError).
    """

    def decorate(fn: Callable[..., Deletion]) -> Callable[..., Deletion]:
        sig = inspect.signature(fn)
        kw = {n: p for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}

        @functools.wraps(fn)
        def wrapper(dataset: Dataset, seed: int, **given: Any) -> Deletion:
            unknown = sorted(set(given) - set(kw))
            if unknown:
                raise FairbenchError(
                    f"protocol '{name}': unknown parameter(s) {', '.join(unknown)}; "
                    f"accepted: {', '.join(kw) or '(none)'}"
                )
            missing = [n for n, p in kw.items() if p.default is _REQUIRED and n not in given]
            if missing:
                raise FairbenchError(f"protocol '{name}': missing required parameter(s) {', '.join(missing)}")
            return fn(dataset, seed, **given)

        register_protocol(name, description, params)(wrapper)
        return wrapper

    return decorate


def check_fraction(name: str, value: Any, *, allow_one: bool = False) -> float:
    """Parse a fraction: a number (or numeric string) in (0, 1), or (0, 1] with ``allow_one``."""
    if isinstance(value, bool):
        raise FairbenchError(f"protocol '{name}': fraction must be a number, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise FairbenchError(f"protocol '{name}': fraction must be a number, got {value!r}") from None
    upper_ok = f <= 1 if allow_one else f < 1
    if not (np.isfinite(f) and f > 0 and upper_ok):
        rng = "(0, 1]" if allow_one else "(0, 1)"
        raise FairbenchError(f"protocol '{name}': fraction must be in {rng}, got {value!r}")
    return f


def check_bool(name: str, pname: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise FairbenchError(f"protocol '{name}': {pname} must be true or false, got {value!r}")


def n_of(fraction: float, total: int) -> int:
    return int(round(fraction * total))


def draw(rng: np.random.Generator, pool: np.ndarray, m: int) -> np.ndarray:
    """``m`` rows of ``pool`` without replacement (pool in ascending order for determinism)."""
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    if m >= len(pool):
        return pool
    return np.sort(rng.choice(pool, size=m, replace=False)).astype(np.int64)


def finish(dataset: Dataset, forget: np.ndarray, name: str, seed: int, **meta: Any) -> Deletion:
    """Build the Deletion (sorted int64, retain = complement) after checking both sides are non-empty."""
    n = len(dataset.train)
    forget = np.unique(np.asarray(forget, dtype=np.int64))
    if len(forget) == 0:
        raise FairbenchError(f"protocol '{name}': the forget set would be empty; increase the fraction")
    if len(forget) >= n:
        raise FairbenchError(f"protocol '{name}': the forget set would hold every training row")
    mask = np.ones(n, dtype=bool)
    mask[forget] = False
    retain = np.flatnonzero(mask).astype(np.int64)
    info = {"protocol": name, **meta, "n_train": int(n), "n_forget": int(len(forget)), "seed": int(seed)}
    return Deletion(forget=forget, retain=retain, meta=info)


def resolve_class(name: str, dataset: Dataset, value: Any) -> int:
    """A class given as an integer label, a numeric string, or a name in ``dataset.class_names``."""
    labels = np.unique(dataset.train.y)
    code: Any = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        code = int(value)
    elif isinstance(value, str):
        v = value.strip()
        lowered = [c.lower() for c in dataset.class_names]
        if v.lower() in lowered:
            code = lowered.index(v.lower())
        elif v.lstrip("-").isdigit():
            code = int(v)
    if code is None or code not in labels:
        names = ", ".join(
            f"{int(c)}" + (f" ({dataset.class_names[int(c)]})" if 0 <= int(c) < len(dataset.class_names) else "")
            for c in labels[:30]
        )
        more = " ..." if len(labels) > 30 else ""
        raise FairbenchError(f"protocol '{name}': unknown class {value!r}; training labels: {names}{more}")
    return code


def class_name(dataset: Dataset, code: int) -> str | None:
    return dataset.class_names[code] if 0 <= code < len(dataset.class_names) else None


# --------------------------------------------------------------------------------------------------
# protocols


@protocol(
    "uniform",
    "uniformly random rows of the whole training set",
    {"fraction": "share of the training rows to forget, in (0, 1); m = round(fraction * n_train)"},
)
def uniform(dataset: Dataset, seed: int, *, fraction) -> Deletion:
    f = check_fraction("uniform", fraction)
    n = len(dataset.train)
    m = n_of(f, n)
    rng = np.random.default_rng(seed)
    forget = draw(rng, np.arange(n), m)
    return finish(dataset, forget, "uniform", seed, fraction=f, fraction_of="train")


@protocol(
    "sequential",
    "a stream of deletion requests: uniformly random rows of the whole training set, in `batches` requests "
    "applied one after another",
    {"fraction": "share of the training rows forgotten after the last request, in (0, 1); m = round(fraction * "
                 "n_train) rows in all",
     "batches": "number of requests k (default 10): the m rows in a random order, cut into k near-equal batches"},
)
def sequential(dataset: Dataset, seed: int, *, fraction, batches=10) -> Deletion:
    f = check_fraction("sequential", fraction)
    if isinstance(batches, bool) or not isinstance(batches, (int, np.integer)) or batches < 1:
        raise FairbenchError(f"protocol 'sequential': batches must be a positive integer, got {batches!r}")
    n = len(dataset.train)
    m = n_of(f, n)
    if m < batches:
        raise FairbenchError(f"protocol 'sequential': {m} rows cannot make {batches} non-empty batches; "
                             "increase the fraction")
    order = np.random.default_rng(seed).permutation(n)[:m]  # the order the rows are asked to be deleted in
    requests = tuple(np.sort(part).astype(np.int64) for part in np.array_split(order, int(batches)))
    deletion = finish(dataset, order, "sequential", seed, fraction=f, fraction_of="train", batches=int(batches),
                      batch_sizes=[len(part) for part in requests])
    return dataclasses.replace(deletion, batches=requests)


@protocol(
    "class",
    "every training row of the given classes, or of k classes drawn by the seed",
    {
        "classes": "list of class labels or class names to forget (exclusive with k)",
        "k": "number of classes drawn at random among the training labels (exclusive with classes)",
    },
)
def class_deletion(dataset: Dataset, seed: int, *, classes=None, k=None) -> Deletion:
    labels = np.unique(dataset.train.y)
    if (classes is None) == (k is None):
        raise FairbenchError("protocol 'class': give exactly one of classes=[...] or k=<int>")
    if classes is not None:
        if isinstance(classes, (str, int, np.integer)):
            classes = [classes]
        codes = sorted({resolve_class("class", dataset, c) for c in classes})
        if not codes:
            raise FairbenchError("protocol 'class': classes is empty")
        drawn = False
    else:
        try:
            kk = int(k)
            if isinstance(k, bool) or kk != float(k):
                raise ValueError
        except (TypeError, ValueError):
            raise FairbenchError(f"protocol 'class': k must be an integer, got {k!r}") from None
        if not 1 <= kk < len(labels):
            raise FairbenchError(
                f"protocol 'class': k must be in [1, {len(labels) - 1}] (the training set has {len(labels)} classes), "
                f"got {kk}"
            )
        rng = np.random.default_rng(seed)
        codes = sorted(int(c) for c in rng.choice(labels, size=kk, replace=False))
        drawn = True
    forget = np.flatnonzero(np.isin(dataset.train.y, codes))
    return finish(
        dataset, forget, "class", seed,
        classes=codes, class_names=[class_name(dataset, c) for c in codes], k=len(codes), drawn_by_seed=drawn,
        fraction_of=None,
    )


@protocol(
    "selective_class",
    "a random fraction of one class's training rows",
    {
        "target_class": "class label or class name",
        "fraction": "share of that class's training rows to forget, in (0, 1); m = round(fraction * n_class)",
    },
)
def selective_class(dataset: Dataset, seed: int, *, target_class, fraction) -> Deletion:
    f = check_fraction("selective_class", fraction)
    code = resolve_class("selective_class", dataset, target_class)
    pool = np.flatnonzero(dataset.train.y == code)
    m = n_of(f, len(pool))
    rng = np.random.default_rng(seed)
    forget = draw(rng, pool, m)
    return finish(
        dataset, forget, "selective_class", seed,
        target_class=code, class_name=class_name(dataset, code), fraction=f, fraction_of="class",
        n_class=int(len(pool)),
    )


def _discrete_s(name: str, dataset: Dataset) -> np.ndarray:
    s = dataset.train.s
    if s is None:
        raise FairbenchError(f"protocol '{name}': dataset '{dataset.name}' has no sensitive attribute")
    s = np.asarray(s)
    shape = s.shape
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1 or (s.dtype.kind == "f" and not np.all(s == np.round(s))):
        raise FairbenchError(
            f"protocol '{name}': dataset '{dataset.name}' has no 1-D discrete sensitive attribute "
            f"(shape {shape}, dtype {s.dtype})"
        )
    return s.astype(np.int64)


def resolve_group(name: str, dataset: Dataset, s: np.ndarray, group: Any) -> tuple[int, str]:
    """Group code from "minority"/"majority" (by training count; ties -> smaller code),
    "privileged"/"unprivileged" (needs ``dataset.privileged``; "unprivileged" needs two groups),
    an integer code, a numeric string, or a name in ``dataset.group_names``. Returns (code, how)."""
    codes, counts = np.unique(s, return_counts=True)
    g = group.strip().lower() if isinstance(group, str) else group
    if g == "minority":
        return int(codes[np.argmin(counts)]), "minority"
    if g == "majority":
        return int(codes[np.argmax(counts)]), "majority"
    if g in ("privileged", "unprivileged"):
        if dataset.privileged is None:
            raise FairbenchError(f"protocol '{name}': dataset '{dataset.name}' defines no privileged group")
        if g == "privileged":
            return int(dataset.privileged), "privileged"
        others = [int(c) for c in codes if c != dataset.privileged]
        if len(others) != 1:
            raise FairbenchError(
                f"protocol '{name}': 'unprivileged' is ambiguous with {len(codes)} groups; give a group code or name"
            )
        return others[0], "unprivileged"
    code: Any = None
    if isinstance(g, (int, np.integer)) and not isinstance(g, bool):
        code = int(g)
    elif isinstance(g, str):
        by_name = {str(v).lower(): int(c) for c, v in dataset.group_names.items()}
        if g in by_name:
            code = by_name[g]
        elif g.lstrip("-").isdigit():
            code = int(g)
    if code is None or code not in codes:
        known = ", ".join(f"{int(c)}" + (f" ({dataset.group_names[int(c)]})" if int(c) in dataset.group_names else "")
                          for c in codes)
        raise FairbenchError(
            f"protocol '{name}': unknown group {group!r}; use minority, majority, privileged, unprivileged, "
            f"or one of: {known}"
        )
    return code, "code"


@protocol(
    "subgroup",
    "random rows drawn only from one sensitive group",
    {
        "group": "minority | majority (by training count) | privileged | unprivileged | group code | group name",
        "fraction": "share to forget, in (0, 1), of what fraction_of names",
        "fraction_of": "train (m = round(fraction * n_train), fairunlearn; default) | group "
                       "(m = round(fraction * n_group), cfdebias)",
        "cap": "if m exceeds the group size: false (default) = error, true = forget the whole group",
    },
)
def subgroup(dataset: Dataset, seed: int, *, group, fraction, fraction_of="train", cap=False) -> Deletion:
    f = check_fraction("subgroup", fraction)
    cap = check_bool("subgroup", "cap", cap)
    if fraction_of not in ("train", "group"):
        raise FairbenchError(f"protocol 'subgroup': fraction_of must be 'train' or 'group', got {fraction_of!r}")
    s = _discrete_s("subgroup", dataset)
    code, how = resolve_group("subgroup", dataset, s, group)
    pool = np.flatnonzero(s == code)
    base = len(s) if fraction_of == "train" else len(pool)
    m_requested = n_of(f, base)
    capped = False
    m = m_requested
    if m_requested > len(pool):
        if not cap:
            raise FairbenchError(
                f"protocol 'subgroup': {m_requested} rows requested (fraction {f} of {base} training rows) but group "
                f"{code} holds only {len(pool)}; lower the fraction or pass cap=true"
            )
        m, capped = len(pool), True
    rng = np.random.default_rng(seed)
    forget = draw(rng, pool, m)
    return finish(
        dataset, forget, "subgroup", seed,
        group=code, group_name=dataset.group_names.get(code), group_selected_as=how, fraction=f,
        fraction_of=fraction_of, n_group=int(len(pool)), m_requested=int(m_requested), cap=cap, capped=capped,
    )


@protocol(
    "group_class",
    "a fraction of the training rows of one sensitive group AND one class (cobum CelebA: female and smiling -> D_f)",
    {
        "group": "minority | majority | privileged | unprivileged | group code | group name (e.g. female)",
        "target_class": "class label or class name (e.g. smiling)",
        "fraction": "share of that group-and-class's training rows to forget, in (0, 1] (default 1 = all of them)",
    },
)
def group_class(dataset: Dataset, seed: int, *, group, target_class, fraction=1.0) -> Deletion:
    f = check_fraction("group_class", fraction, allow_one=True)
    s = _discrete_s("group_class", dataset)
    code, how = resolve_group("group_class", dataset, s, group)
    label = resolve_class("group_class", dataset, target_class)
    pool = np.flatnonzero((s == code) & (dataset.train.y == label))
    if len(pool) == 0:
        raise FairbenchError(f"protocol 'group_class': dataset '{dataset.name}' has no training rows of group {code} "
                             f"and class {label}")
    rng = np.random.default_rng(seed)
    forget = draw(rng, pool, n_of(f, len(pool)))
    return finish(
        dataset, forget, "group_class", seed,
        group=code, group_name=dataset.group_names.get(code), group_selected_as=how, target_class=label,
        class_name=class_name(dataset, label), fraction=f, fraction_of="group_class", n_group_class=int(len(pool)),
    )
