"""CUB-200-2011's 10 class-level concepts: the committed map ``cub200_concepts.json`` and how it is made.

cfdebias clusters the 200 classes "into 10 concepts based on a confusion matrix, merging frequently
confused subclasses" without giving the procedure (cfdebias.md §2.2). Its recommended recipe needs a
ResNet-18 trained on CUB, which cannot be trained where this map was made (no copy of the images), so
the committed map is derived differently and says so in its ``method`` field:

- **committed map (``method: taxonomy``)**: each class goes to the group of its English family word,
  the last word of its ``classes.txt`` folder name (``017.Cardinal`` -> Cardinal, ``163.Cape_May_Warbler``
  -> Warbler), by :data:`FAMILY_GROUPS`: 10 groups of related families (e.g. finches, buntings,
  grosbeaks, cardinals and tanagers together), the classes a classifier confuses most often being
  those of one family. :func:`taxonomy_concepts` computes it; a test checks the file equals it.
- **the paper's recipe**: :func:`concepts_from_confusion` (row-normalised confusion matrix of a trained
  model on held-out images, symmetrised, diagonal zeroed; average-linkage agglomerative clustering on
  ``1 - S / max(S)``; cut at 10 clusters). ``python -m fairbench.datasets._cub_concepts --confusion C.npy``
  rewrites the map from a saved 200x200 confusion matrix (``method: confusion``); runs then use it.

The file keeps the 200 folder names (the loader refuses a ``classes.txt`` that differs), the concept
names, the class -> concept ids and the cluster sizes.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import DataError

CONCEPTS_PATH = Path(__file__).with_name("cub200_concepts.json")
N_CONCEPTS = 10

# concept name -> the family words (last word of a class's folder name) it groups
FAMILY_GROUPS: dict[str, tuple[str, ...]] = {
    "seabirds": ("Albatross", "Fulmar", "Frigatebird", "Cormorant", "Pelican", "Puffin", "Auklet", "Guillemot"),
    "gulls_terns_jaegers": ("Gull", "Kittiwake", "Jaeger", "Tern"),
    "divers_ducks_kingfishers": ("Loon", "Grebe", "Gadwall", "Mallard", "Merganser", "Kingfisher"),
    "woodpeckers_hummingbirds_cuckoos_nightjars": ("Woodpecker", "Flicker", "Hummingbird", "Violetear", "Cuckoo", "Ani",
                                                   "Geococcyx", "Nighthawk", "Widow", "Will"),
    "flycatchers_vireos_shrikes": ("Flycatcher", "Kingbird", "Pewee", "Sayornis", "Vireo", "Shrike"),
    "blackbirds_orioles_crows_jays": ("Blackbird", "Bobolink", "Cowbird", "Grackle", "Meadowlark", "Oriole", "Crow",
                                      "Raven", "Jay", "Nutcracker"),
    "finches_buntings_grosbeaks_cardinals_tanagers": ("Finch", "Goldfinch", "Bunting", "Grosbeak", "Cardinal", "Tanager"),
    "sparrows_towhees_juncos": ("Sparrow", "Towhee", "Junco"),
    "warblers": ("Warbler", "Waterthrush", "Ovenbird", "Yellowthroat", "Redstart", "Chat"),
    "other_songbirds": ("Swallow", "Wren", "Creeper", "Nuthatch", "Lark", "Pipit", "Waxwing", "Mockingbird", "Catbird",
                        "Thrasher", "Starling"),
}


@dataclass(frozen=True)
class ConceptMap:
    path: Path
    method: str
    class_names: list[str]
    concept_names: list[str]
    class_concepts: list[int]


def family_word(folder: str) -> str:
    """``017.Cardinal`` -> ``Cardinal``; ``022.Chuck_will_Widow`` -> ``Widow``."""
    return folder.partition(".")[2].split("_")[-1]


def taxonomy_concepts(class_names: Sequence[str]) -> tuple[list[str], list[int]]:
    """Concept names and the class -> concept ids of the family-word rule; ValueError for an unknown family."""
    names = list(FAMILY_GROUPS)
    group_of = {word: i for i, words in enumerate(FAMILY_GROUPS.values()) for word in words}
    unknown = [name for name in class_names if family_word(name) not in group_of]
    if unknown:
        raise ValueError(f"no concept for the family word of {unknown[:5]}")
    return names, [group_of[family_word(name)] for name in class_names]


def concepts_from_confusion(confusion: np.ndarray, n_concepts: int = N_CONCEPTS) -> list[int]:
    """cfdebias.md §2.2's recipe: S = (C + C^T) / 2 of the row-normalised confusion matrix with the
    diagonal zeroed; average-linkage clustering on the distance 1 - S / max(S); cut at ``n_concepts``
    clusters. Returns class -> cluster id, ids numbered by each cluster's first class."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    counts = np.asarray(confusion, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < n_concepts or (counts < 0).any():
        raise ValueError(f"need a square non-negative confusion matrix with at least {n_concepts} classes")
    rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    similarity = (rows + rows.T) / 2
    np.fill_diagonal(similarity, 0.0)
    top = similarity.max()
    distance = 1.0 - similarity / top if top > 0 else np.ones_like(similarity)
    np.fill_diagonal(distance, 0.0)
    clusters = fcluster(linkage(squareform(distance, checks=False), method="average"), n_concepts, criterion="maxclust")
    first_seen: dict[int, int] = {}
    return [first_seen.setdefault(int(c), len(first_seen)) for c in clusters]


def concept_document(class_names: Sequence[str], concept_names: Sequence[str], class_concepts: Sequence[int],
                     method: str, derivation: str) -> dict:
    sizes = np.bincount(np.asarray(class_concepts), minlength=len(concept_names)).tolist()
    return {"dataset": "cub200", "method": method, "derivation": derivation, "concept_names": list(concept_names),
            "cluster_sizes": sizes, "class_names": list(class_names), "class_concepts": [int(c) for c in class_concepts]}


TAXONOMY_DERIVATION = ("stand-in for cfdebias.md 2.2's confusion-matrix clustering (no trained CUB model here): each "
                       "class goes to the group of the last word of its folder name, by FAMILY_GROUPS in "
                       "fairbench/datasets/_cub_concepts.py")


def load_concepts(path: Path = CONCEPTS_PATH) -> ConceptMap:
    """The committed map, checked: 200 classes, every concept id naming a concept."""
    try:
        data = json.loads(path.read_text())
        concept_map = ConceptMap(path, str(data["method"]), list(data["class_names"]), list(data["concept_names"]),
                                 [int(c) for c in data["class_concepts"]])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cub200: the concept map {path} is unreadable ({exc})") from None
    codes = concept_map.class_concepts
    if len(codes) != len(concept_map.class_names) or not all(0 <= c < len(concept_map.concept_names) for c in codes):
        raise DataError(f"cub200: the concept map {path} does not give every class a known concept")
    return concept_map


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rewrite fairbench/datasets/cub200_concepts.json.")
    parser.add_argument("--confusion", type=Path, help="a 200x200 confusion matrix (.npy, rows = true class) of a "
                        "model trained on CUB, measured on held-out images; without it: the family-word rule")
    args = parser.parse_args(argv)
    class_names = load_concepts().class_names
    if args.confusion is None:
        names, codes = taxonomy_concepts(class_names)
        document = concept_document(class_names, names, codes, "taxonomy", TAXONOMY_DERIVATION)
    else:
        codes = concepts_from_confusion(np.load(args.confusion, allow_pickle=False))
        names = [f"cluster_{i}" for i in range(max(codes) + 1)]
        document = concept_document(class_names, names, codes, "confusion",
                                    f"cfdebias.md 2.2 recipe on the confusion matrix {args.confusion.name}")
    CONCEPTS_PATH.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
