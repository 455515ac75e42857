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
from typing import TYPE_CHECKING, Any

from .errors import (  # noqa: F401 - re-exported through __all__
    ConfigError,
    DataError,
    LikewiseError,
    MissingDependencyError,
    ModelFormatError,
    NotFittedError,
    RatingRankingWarning,
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
    "warmup": "likewise.evaluation.warmup",
    # progress bars of long fits
    "set_progress": "likewise.models._progress",
    "progress": "likewise.models._progress",
}
_SUBMODULES = {"datasets", "data", "models", "index", "evaluation", "features", "testing",
               "metrics", "splits", "cli"}
_SUBMODULE_PATHS: dict[str, str] = {}

__all__ = sorted([*_LAZY, *_SUBMODULES, "LikewiseError", "DataError", "ConfigError",
                  "NotFittedError", "UnknownIdError", "UnknownUserError", "UnknownItemError",
                  "UnsupportedError", "ModelFormatError", "MissingDependencyError",
                  "RatingRankingWarning"])


if TYPE_CHECKING:  # pragma: no cover
    # What type checkers and IDEs see: the real classes and functions behind every lazy
    # name (``X as X`` marks each as re-exported). Nothing here runs, so ``import
    # likewise`` stays light; tests/test_typing.py checks this block lists every name in
    # _LAZY and _SUBMODULES, and that mypy flags ``likewise.SVD(factorz=3)``.
    from . import (
        cli as cli,
        data as data,
        datasets as datasets,
        evaluation as evaluation,
        features as features,
        index as index,
        metrics as metrics,
        models as models,
        splits as splits,
        testing as testing,
    )
    from .data.interactions import Interactions as Interactions
    from .data.readers import read_csv as read_csv
    from .data.readers import read_parquet as read_parquet
    from .data.synthetic import synthetic as synthetic
    from .data.vocabulary import Vocabulary as Vocabulary
    from .evaluation.compare import compare as compare
    from .evaluation.tune import tune as tune
    from .evaluation.warmup import warmup as warmup
    from .models.als import ALS as ALS
    from .models.als import ImplicitALS as ImplicitALS
    from .models.approx_knn import ApproxUserKNN as ApproxUserKNN
    from .models.base import Recommendations as Recommendations
    from .models.base import Recommender as Recommender
    from .models._progress import progress as progress
    from .models._progress import set_progress as set_progress
    from .models.base import load as load
    from .models.baseline import Baseline as Baseline
    from .models.baseline import Random as Random
    from .models.bpmf import BayesianMF as BayesianMF
    from .models.bpr import BPR as BPR
    from .models.content import ContentKNN as ContentKNN
    from .models.ease import EASE as EASE
    from .models.hybrid import SwitchingHybrid as SwitchingHybrid
    from .models.hybrid import WeightedHybrid as WeightedHybrid
    from .models.image import ImageSimilarity as ImageSimilarity
    from .models.knn import ItemKNN as ItemKNN
    from .models.knn import UserKNN as UserKNN
    from .models.nmf import NMF as NMF
    from .models.popularity import Popularity as Popularity
    from .models.svd import SVD as SVD
    from .models.svd import SVDpp as SVDpp
    from .models.torch_mf import TorchMF as TorchMF
else:
    # At run time the names load on first use. (Hidden from type checkers: a module
    # __getattr__ would make every misspelt name, such as likewise.SDV, type-check as Any.)
    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
        elif name in _SUBMODULES:
            value = importlib.import_module(_SUBMODULE_PATHS.get(name, f"likewise.{name}"))
        else:
            raise AttributeError(f"module 'likewise' has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return __all__
