"""Evaluation, kept apart from the models: metrics, protocols, comparison and tuning.

Nothing heavy is imported here; the submodules load on first use. The functions
``compare`` and ``tune`` are public as ``likewise.compare`` and ``likewise.tune``
(``likewise.evaluation.compare`` is the module).

Examples
--------
>>> from likewise.evaluation import metrics
>>> metrics.rmse([4, 3], [3.5, 3.0])
0.3535533905932738
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ComparisonResult": "likewise.evaluation.compare",
    "TuneResult": "likewise.evaluation.tune",
    "Protocol": "likewise.evaluation.protocols",
    "RatingHoldout": "likewise.evaluation.protocols",
    "RatingCV": "likewise.evaluation.protocols",
    "TopNUserHoldout": "likewise.evaluation.protocols",
    "TopNTemporal": "likewise.evaluation.protocols",
    "TopNLeaveOneOut": "likewise.evaluation.protocols",
    "GivenSplit": "likewise.evaluation.protocols",
    "get_protocol": "likewise.evaluation.protocols",
    "evaluate": "likewise.evaluation.protocols",
    "predict_all_unrated": "likewise.evaluation.protocols",
}
_SUBMODULES = {"metrics", "protocols", "compare", "tune", "report", "registry"}

__all__ = ["ComparisonResult", "GivenSplit", "Protocol", "RatingCV", "RatingHoldout",
           "TopNLeaveOneOut", "TopNTemporal", "TopNUserHoldout", "TuneResult", "compare",
           "evaluate", "get_protocol", "metrics",
           "predict_all_unrated", "protocols", "registry", "report", "tune"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"likewise.evaluation.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'likewise.evaluation' has no attribute {name!r}")


def __dir__():
    return __all__
