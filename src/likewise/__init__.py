"""likewise: a fast, honest recommendation engine.

Public names are imported lazily, so ``import likewise`` (and ``likewise --help``) stays
instant; heavy modules load on first use.

Examples
--------
>>> import likewise
>>> data = likewise.datasets.movielens("100k")
>>> model = likewise.Baseline().fit(data)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (  # noqa: F401 - re-exported through __all__
    ConfigError,
    DataError,
    LikewiseError,
    MissingDependencyError,
    ModelFormatError,
    NotFittedError,
    UnknownIdError,
    UnknownItemError,
    UnknownUserError,
    UnsupportedError,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    # data
    "Interactions": "likewise.data.interactions",
    "Vocabulary": "likewise.data.vocabulary",
    "read_csv": "likewise.data.readers",
    "read_parquet": "likewise.data.readers",
    "synthetic": "likewise.data.synthetic",
    # models: the contract and the families
    "Recommender": "likewise.models.base",
    "Recommendations": "likewise.models.base",
    "load": "likewise.models.base",
    "Random": "likewise.models.baseline",
    "Baseline": "likewise.models.baseline",
    "Popularity": "likewise.models.popularity",
    "UserKNN": "likewise.models.knn",
    "ItemKNN": "likewise.models.knn",
    "SVD": "likewise.models.svd",
    "SVDpp": "likewise.models.svd",
    "NMF": "likewise.models.nmf",
    "ALS": "likewise.models.als",
    "BayesianMF": "likewise.models.bpmf",
    "ImplicitALS": "likewise.models.als",
    "BPR": "likewise.models.bpr",
    "EASE": "likewise.models.ease",
    "TorchMF": "likewise.models.torch_mf",
    "ApproxUserKNN": "likewise.models.approx_knn",
    "ContentKNN": "likewise.models.content",
    "ImageSimilarity": "likewise.models.image",
    "WeightedHybrid": "likewise.models.hybrid",
    "SwitchingHybrid": "likewise.models.hybrid",
    # evaluation
    "compare": "likewise.evaluation.compare",
    "tune": "likewise.evaluation.tune",
}
_SUBMODULES = {"datasets", "data", "models", "index", "evaluation", "features", "testing",
               "metrics", "splits", "cli"}
_SUBMODULE_PATHS: dict[str, str] = {}

__all__ = sorted([*_LAZY, *_SUBMODULES, "LikewiseError", "DataError", "ConfigError",
                  "NotFittedError", "UnknownIdError", "UnknownUserError", "UnknownItemError",
                  "UnsupportedError", "ModelFormatError", "MissingDependencyError"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULE_PATHS.get(name, f"likewise.{name}"))
    else:
        raise AttributeError(f"module 'likewise' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from .data.interactions import Interactions  # noqa: F401
    from .data.vocabulary import Vocabulary  # noqa: F401
