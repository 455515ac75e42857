"""Model names for comparing and tuning (``likewise compare --models baseline,svd``).

A thin view of the one model registry, :mod:`likewise.models.registry`: every name, alias
and class name it knows works here. ``MODELS`` lists the names that fit with their
defaults on interaction data alone (every entry but the hybrids, which need sub-models,
and the image model, which needs image files); ``likewise compare --list-models`` prints
it. A name whose class or optional extra is not available in this installation is
reported with a clear message when asked for.

Examples
--------
>>> from likewise.evaluation.registry import make_model
>>> make_model("popularity-weighted")
Popularity(method='weighted')
>>> make_model("ContentKNN")
ContentKNN()
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, MissingDependencyError, UnsupportedError
from ..models import registry as _registry

__all__ = ["MODELS", "available_models", "make_model", "resolve"]

#: name -> (model class name, preset keyword arguments), from the model registry
MODELS: dict[str, tuple[str, dict]] = {
    e.name: (e.class_name, e.params) for e in _registry.entries() if e.standalone
}


def resolve(name: str) -> tuple[type, dict]:
    """The class behind a model name (or a class name such as ``"ItemKNN"``) and its preset.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones).
    UnsupportedError
        The class is not available in this installation.
    """
    key = str(name).strip().lower()
    if key not in MODELS:
        return _registry.resolve(name)
    cls_name, preset = MODELS[key]  # MODELS may hold names added at run time
    try:
        cls, _ = _registry.resolve(cls_name)
    except ConfigError:
        raise UnsupportedError(f"model {name!r} (likewise.{cls_name}) is not available in this "
                               "installation (no such model class)") from None
    return cls, dict(preset)


def make_model(name: str, **params: Any):
    """An unfitted model from a name, with its preset updated by ``params``.

    Raises
    ------
    ConfigError
        Unknown name or parameter.
    UnsupportedError, MissingDependencyError
        The model (or the optional extra it needs) is not installed.
    """
    cls, preset = resolve(name)
    return _registry.make(cls, **{**preset, **params})


def available_models() -> dict[str, str]:
    """``MODELS`` names whose class and optional extras are installed, with the class name."""
    out = {}
    for name in MODELS:
        try:
            cls, preset = resolve(name)
        except (UnsupportedError, MissingDependencyError):
            continue
        if _registry.missing_extra(cls, **preset) is None:
            out[name] = cls.__name__
    return out
