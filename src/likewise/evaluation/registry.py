"""Short model names for the command line (``likewise compare --models baseline,svd``).

Each name maps to a public likewise class and default keyword arguments. A class that is
not available in this installation (not written yet, or its optional dependency is
missing) is reported with a clear message when asked for.

Examples
--------
>>> from likewise.evaluation.registry import make_model
>>> make_model("popularity-weighted")
Popularity(method='weighted')
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, MissingDependencyError, UnsupportedError

__all__ = ["MODELS", "available_models", "make_model", "resolve"]

#: name -> (public class name in ``likewise``, default keyword arguments)
MODELS: dict[str, tuple[str, dict]] = {
    "random": ("Random", {"random_state": 0}),
    "baseline": ("Baseline", {}),
    "baseline-sgd": ("Baseline", {"method": "sgd"}),
    "popularity": ("Popularity", {}),
    "popularity-mean": ("Popularity", {"method": "mean", "min_count": 20}),
    "popularity-weighted": ("Popularity", {"method": "weighted"}),
    "popularity-trending": ("Popularity", {"method": "trending"}),
    "user-knn": ("UserKNN", {}),
    "item-knn": ("ItemKNN", {}),
    "svd": ("SVD", {}),
    "svdpp": ("SVDpp", {}),
    "nmf": ("NMF", {}),
    "als": ("ALS", {}),
    "bpmf": ("BayesianMF", {}),
    "implicit-als": ("ImplicitALS", {}),
    "bpr": ("BPR", {}),
    "ease": ("EASE", {}),
    "torch-mf": ("TorchMF", {}),
    "approx-user-knn": ("ApproxUserKNN", {}),
}


def resolve(name: str):
    """The class behind a registry name (or a public class name such as ``"ItemKNN"``).

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones).
    UnsupportedError
        The class is not available in this installation.
    """
    import likewise

    key = str(name).strip()
    if key.lower() in MODELS:
        cls_name, defaults = MODELS[key.lower()]
    elif key in {c for c, _ in MODELS.values()}:
        cls_name, defaults = key, {}
    else:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    try:
        cls = getattr(likewise, cls_name)
    except MissingDependencyError:
        raise
    except (ImportError, AttributeError) as exc:
        raise UnsupportedError(f"model {name!r} (likewise.{cls_name}) is not available in this "
                               f"installation ({exc})") from None
    return cls, dict(defaults)


def make_model(name: str, **params: Any):
    """An unfitted model from a registry name, with its defaults updated by ``params``."""
    cls, defaults = resolve(name)
    defaults.update(params)
    try:
        return cls(**defaults)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for {name!r} ({cls.__name__}): {exc}") from None


def available_models() -> dict[str, str]:
    """Registry names whose class can be imported now, with the class name."""
    out = {}
    for name in MODELS:
        try:
            out[name] = resolve(name)[0].__name__
        except (UnsupportedError, MissingDependencyError):
            continue
    return out
