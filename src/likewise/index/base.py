"""The :class:`Index` interface shared by every neighbour-search backend.

An index holds ``n`` vectors of ``dim`` numbers, each with an external id (integers or
strings, like a :class:`~likewise.data.Vocabulary`), and answers *k nearest neighbour*
queries for one metric:

``"cosine"``
    cosine similarity; results best first, ``scores`` are similarities (higher is better).
``"dot"``
    maximum inner product; ``scores`` are inner products (higher is better). Approximate
    backends answer it exactly-in-ranking through the standard augmentation (every stored
    vector gets one extra coordinate ``sqrt(M^2 - |x|^2)`` so that all have norm ``M``,
    queries get ``0``; Bachrach et al. 2014), never by pretending dot is cosine.
``"euclidean"``
    Euclidean distance; ``scores`` are distances (**lower is better**), best first.

:attr:`Index.higher_is_better` tells which convention applies. ``k`` larger than the
index is clamped: results have ``min(k, len(index))`` columns (one fewer for
``query_ids(exclude_self=True)``); an approximate backend that finds fewer than ``k``
neighbours pads the row with the missing id (``-1`` or ``""``), score NaN, position -1.

Backends subclass :class:`Index` and implement a handful of ``_hooks`` on *prepared*
float32 vectors and internal positions ``0..n-1``; ids, validation, metric conventions,
padding and the on-disk manifest live here once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._artifact import ArtifactReader, write_artifact
from .._params import validate
from ..data.vocabulary import Vocabulary
from ..errors import (
    ConfigError,
    DataError,
    UnknownItemError,
    UnsupportedError,
)

__all__ = ["FORMAT_VERSION", "METRICS", "Index", "Neighbours", "drop_self"]

#: Metrics every backend supports.
METRICS = ("cosine", "dot", "euclidean")
#: Version of the on-disk index format written by :meth:`Index.save` (2: the stable
#: folder with a versioned subfolder, see likewise._artifact; version 1 folders still load).
FORMAT_VERSION = 2


class Neighbours:
    """The answer of a batched query; unpacks as ``ids, scores = index.query(...)``.

    Attributes
    ----------
    ids : numpy.ndarray
        ``(n_queries, k)`` external ids, best first (padding: ``-1`` or ``""``).
    scores : numpy.ndarray
        ``(n_queries, k)`` float32: similarity for cosine/dot (higher is better), distance
        for euclidean (lower is better); padding is NaN.
    positions : numpy.ndarray
        ``(n_queries, k)`` int64 internal positions (insertion order) of the neighbours,
        -1 for padding; handy for gathering rows of your own arrays.
    """

    __slots__ = ("ids", "positions", "scores")

    def __init__(self, ids: np.ndarray, scores: np.ndarray, positions: np.ndarray):
        self.ids = ids
        self.scores = scores
        self.positions = positions

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.ids, self.scores))

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Neighbours(n_queries={self.ids.shape[0]}, k={self.ids.shape[1]})"


def _as_matrix(vectors: Any, what: str, dim: int | None = None) -> np.ndarray:
    """Validated C-contiguous float32 2-D copy-or-view of ``vectors``."""
    try:
        arr = np.asarray(vectors)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be a 2-D array of numbers ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{what} must be numbers, got dtype {arr.dtype}")
    if arr.ndim == 1 and dim is not None:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise DataError(f"{what} must be a 2-D array (n_vectors, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{what} have {arr.shape[1]} dimensions but the index has {dim}")
    if arr.shape[1] == 0:
        raise DataError(f"{what} have 0 dimensions")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.nonzero(~finite.all(axis=1))[0][0])
        raise DataError(f"{what} contain NaN or infinite values (first in row {row}); "
                        "drop or impute those rows first")
    return arr


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    return (x / np.where(norms > 0, norms, 1)[:, None]).astype(np.float32, copy=False)


def augment_for_mips(x: np.ndarray, max_norm: float) -> np.ndarray:
    """Stored vectors for maximum inner product search through cosine/euclidean search.

    Appends ``sqrt(M^2 - |x|^2)`` and divides by ``M``, so every row has unit norm and, for
    a query ``[q, 0]``, ``q . x' = (q . x) / M``: the ranking by cosine (or Euclidean
    distance) of the augmented vectors is the ranking by inner product of the originals.
    """
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    extra = np.sqrt(np.maximum(max_norm * max_norm - sq, 0.0))
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = x / max_norm
    out[:, -1] = extra / max_norm
    return out


def augment_query(q: np.ndarray) -> np.ndarray:
    """Queries for :func:`augment_for_mips`: the extra coordinate is 0."""
    out = np.zeros((q.shape[0], q.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = q
    return out


class Index:
    """Base class of the neighbour-search backends (build them with :func:`likewise.index.build`).

    Attributes
    ----------
    dim : int
        Number of dimensions of the vectors.
    metric : {"cosine", "dot", "euclidean"}
        The metric (see the module docstring for the score conventions).
    backend : str
        ``"exact"``, ``"annoy"``, ``"hnsw"`` or ``"faiss"``.
    params : dict
        The backend's build and default search parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from likewise import index
    >>> vecs = np.random.default_rng(0).normal(size=(100, 8))
    >>> idx = index.build(vecs, ids=np.arange(1000, 1100), metric="cosine")
    >>> ids, scores = idx.query(vecs[:2], k=3)
    >>> ids[:, 0].tolist()
    [1000, 1001]
    """

    backend: ClassVar[str] = ""
    #: parameter name -> (default, rule); build-time parameters
    _build_spec: ClassVar[dict] = {}
    #: parameter name -> (default, rule); may also be given to ``query``
    _search_spec: ClassVar[dict] = {}
    supports_add: ClassVar[bool] = True

    # -- construction (through likewise.index.build / load) -----------------------------
    def __init__(self, dim: int, metric: str, params: dict):
        self.dim = int(dim)
        self.metric = metric
        self.params = dict(params)
        self._vocab = Vocabulary(np.empty(0, dtype=np.int64))
        self._default_ids = True
        self.max_norm: float | None = None

    @classmethod
    def _resolve_params(cls, params: dict) -> dict:
        spec = {**cls._build_spec, **cls._search_spec}
        unknown = sorted(set(params) - set(spec))
        if unknown:
            valid = ", ".join(sorted(spec)) or "none"
            raise ConfigError(f"backend {cls.backend!r} has no parameter "
                              f"{', '.join(map(repr, unknown))}; valid: {valid}")
        resolved = {name: params.get(name, default) for name, (default, _) in spec.items()}
        validate(f"likewise.index.build(backend={cls.backend!r})",
                 {name: rule for name, (_, rule) in spec.items()}, resolved)
        return resolved

    @property
    def higher_is_better(self) -> bool:
        """True for cosine and dot (scores are similarities), False for euclidean."""
        return self.metric != "euclidean"

    @property
    def ids(self) -> np.ndarray:
        """External ids in position order."""
        return self._vocab.ids

    def __len__(self) -> int:
        return len(self._vocab)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={len(self)}, dim={self.dim}, metric={self.metric!r}, "
                f"backend={self.backend!r})")

    def __contains__(self, id_: Any) -> bool:
        return id_ in self._vocab

    # -- queries -----------------------------------------------------------------------
    def query(self, vectors: Any, k: int = 10, **search: Any) -> Neighbours:
        """The ``k`` nearest stored vectors to each query vector.

        Parameters
        ----------
        vectors : array-like
            ``(n_queries, dim)`` query vectors (a 1-D vector is one query).
        k : int
            Neighbours per query; clamped to ``len(index)``.
        **search
            Backend search settings for this call only (``ef`` for hnsw and faiss-hnsw,
            ``search_k`` for annoy).

        Returns
        -------
        Neighbours
            ``ids, scores`` (2-D, best first) plus ``positions``.
        """
        k = _check_k(k)
        q = _as_matrix(vectors, "query vectors", self.dim)
        self._check_nonempty()
        settings = self._search_settings(search)
        k_eff = min(k, len(self))
        pos, scores = self._search(self._prepare_queries(q), q, k_eff, settings)
        return self._wrap(pos, scores)

    def query_ids(self, ids: Any, k: int = 10, *, exclude_self: bool = True,
                  **search: Any) -> Neighbours:
        """Neighbours of stored vectors given by id.

        Parameters
        ----------
        ids : array-like
            External ids already in the index; unknown ids raise
            :class:`~likewise.UnknownItemError` (an :class:`~likewise.UnknownIdError`).
        k : int
            Neighbours per query; clamped to ``len(index) - 1`` with ``exclude_self``.
        exclude_self : bool
            Leave the query's own entry out of its results.
        """
        k = _check_k(k)
        self._check_nonempty()
        pos = self._vocab.index(ids, "raise", error=UnknownItemError, what="id in the index")
        settings = self._search_settings(search)
        raw = self._get_vectors(pos)
        n_avail = len(self) - (1 if exclude_self else 0)
        k_eff = min(k, n_avail)
        if k_eff <= 0:
            empty = np.empty((len(pos), 0))
            return self._wrap(empty.astype(np.int64), empty.astype(np.float32))
        found, scores = self._search(self._prepare_queries(raw), raw,
                                     min(k_eff + int(exclude_self), len(self)), settings)
        if exclude_self:
            found, scores = drop_self(found, scores, pos, k_eff)
        return self._wrap(found, scores)

    def get_vectors(self, ids: Any) -> np.ndarray:
        """The stored vectors of ``ids`` (unit length for cosine indexes), float32."""
        pos = self._vocab.index(ids, "raise", error=UnknownItemError, what="id in the index")
        return self._get_vectors(pos)

    # -- updates -----------------------------------------------------------------------
    def add(self, vectors: Any, ids: Any = None) -> Index:
        """Add vectors (with new, unique ids) to the index; returns ``self``.

        ``ids`` may be left out only when the index was built without ids (positions are
        the ids); they continue from ``len(index)``. Backends that cannot grow (annoy)
        raise :class:`~likewise.UnsupportedError`.
        """
        if not self.supports_add:
            raise UnsupportedError(
                f"the {self.backend!r} backend cannot add vectors after it is built; rebuild "
                "the index with all vectors, or use backend='hnsw', 'faiss' or 'exact'")
        x = _as_matrix(vectors, "vectors to add", self.dim)
        if ids is None:
            if not self._default_ids:
                raise ConfigError("this index was built with ids; give ids for the new vectors")
            new_ids = np.arange(len(self), len(self) + len(x), dtype=np.int64)
        else:
            new_ids = np.asarray(ids).reshape(-1)
            if len(new_ids) != len(x):
                raise DataError(f"got {len(x)} vectors but {len(new_ids)} ids")
        if len(x) == 0:
            return self
        if self.metric == "dot" and self.max_norm is not None:
            norms = np.sqrt(np.einsum("ij,ij->i", x, x))
            if norms.max() > self.max_norm * (1 + 1e-6):
                raise ConfigError(
                    f"vectors to add have norm up to {norms.max():.4g}, above the max_norm "
                    f"{self.max_norm:.4g} the dot-product index was built with; rebuild, or "
                    "build with a larger max_norm= to leave headroom")
        known = self._vocab.index(new_ids, "ignore") if len(self) else np.full(len(x), -1)
        if (known >= 0).any():
            bad = new_ids[known >= 0][:5].tolist()
            raise DataError(f"ids already in the index: {bad}")
        merged = Vocabulary(np.concatenate([self._vocab.ids, new_ids]) if len(self)
                            else new_ids)
        self._add(self._prepare_stored(x), x, len(self))
        self._vocab = merged
        self._default_ids = self._default_ids and ids is None
        return self

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save to a directory: ``manifest.json``, ``ids.npy`` and the backend's own file(s).

        Exact indexes store ``vectors.npy`` (memory-mapped on :func:`likewise.index.load`);
        annoy, hnsw and faiss store their native index file. No pickle; every file has a
        SHA-256 in the manifest. Atomic and durable like a model's save (readers see the
        complete old or new index; concurrent saves take turns), and only a previous
        likewise index (or an empty folder) is replaced unless ``overwrite=True``
        (:class:`~likewise.ModelFormatError` otherwise).

        Parameters
        ----------
        path : path
            The folder.
        overwrite : bool
            Replace whatever is at ``path``, even if it is not a likewise index.

        Returns
        -------
        Path
            ``path``.
        """
        self._check_nonempty()
        path = Path(path)
        manifest = {
            "format": "likewise.index",
            "format_version": FORMAT_VERSION,
            "backend": self.backend,
            "metric": self.metric,
            "dim": self.dim,
            "n": len(self),
            "default_ids": self._default_ids,
            "max_norm": self.max_norm,
            "params": self.params,
        }
        written: list[Path] = []

        def native_files(directory: Path) -> list[str]:
            written.append(directory)  # this save's version folder (not whatever is current)
            return self._save_files(directory)

        write_artifact(path, manifest, {"ids.npy": self._vocab.ids}, what="index",
                       extra_files=native_files, overwrite=overwrite)
        self._after_save(written[0])
        return path

    # -- helpers -----------------------------------------------------------------------
    def _check_nonempty(self) -> None:
        if len(self) == 0:
            raise DataError("the index is empty; build it from at least one vector")

    def _search_settings(self, search: dict) -> dict:
        unknown = sorted(set(search) - set(self._search_spec))
        if unknown:
            valid = ", ".join(sorted(self._search_spec)) or "none"
            raise ConfigError(f"backend {self.backend!r} has no search setting "
                              f"{', '.join(map(repr, unknown))}; valid: {valid}")
        settings = {name: self.params[name] for name in self._search_spec}
        settings.update(search)
        validate(f"{self.backend} index query",
                 {name: rule for name, (_, rule) in self._search_spec.items()}, settings)
        return settings

    def _wrap(self, pos: np.ndarray, scores: np.ndarray) -> Neighbours:
        pos = np.asarray(pos, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float32)
        missing = pos < 0
        if missing.any():
            scores = np.where(missing, np.float32(np.nan), scores)
            ids = self._vocab.ids_of(pos)
        else:
            ids = self._vocab.ids[pos]
        return Neighbours(ids, scores, pos)

    def _prepare_stored(self, x: np.ndarray) -> np.ndarray:
        """Stored vectors in the backend's space (cosine: unit rows; others as given)."""
        return normalise_rows(x) if self.metric == "cosine" else x

    def _prepare_queries(self, q: np.ndarray) -> np.ndarray:
        return normalise_rows(q) if self.metric == "cosine" else q

    def _set_ids(self, ids: Any, n: int) -> None:
        if ids is None:
            self._vocab = Vocabulary(np.arange(n, dtype=np.int64))
            self._default_ids = True
            return
        arr = np.asarray(ids)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1 or len(arr) != n:
            raise DataError(f"got {n} vectors but {arr.size} ids; give one id per vector")
        try:
            self._vocab = Vocabulary(arr)
        except DataError as exc:
            raise DataError(f"index ids: {exc}") from None
        self._default_ids = False

    # -- backend hooks -----------------------------------------------------------------
    def _build(self, stored: np.ndarray, raw: np.ndarray) -> None:
        raise NotImplementedError

    def _search(self, q: np.ndarray, raw: np.ndarray, k: int,
                settings: dict) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, scores)`` of the ``k`` best, in the public score convention."""
        raise NotImplementedError

    def _add(self, stored: np.ndarray, raw: np.ndarray, start: int) -> None:
        raise NotImplementedError

    def _get_vectors(self, pos: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save_files(self, directory: Path) -> list[str]:
        """Write the backend's own file(s) into ``directory``; return their plain names."""
        raise NotImplementedError

    def _load_files(self, saved: ArtifactReader, mmap: bool) -> None:
        """Read the backend's own file(s) from an opened save: arrays through
        ``saved.array``, native files through ``saved.native_path`` (the checked, already
        opened file, never a path joined from the manifest)."""
        raise NotImplementedError

    def _after_save(self, directory: Path) -> None:
        """Hook for backends whose native save changes the in-memory object (``directory``
        holds the files just saved)."""


def sort_rows(pos: np.ndarray, scores: np.ndarray, higher_is_better: bool):
    """Sort each row best first, ties by position (deterministic), padding (-1) last."""
    key = np.where(pos < 0, np.inf, -scores if higher_is_better else scores)
    order = np.lexsort((pos, key), axis=1)
    return np.take_along_axis(pos, order, axis=1), np.take_along_axis(scores, order, axis=1)


def drop_self(pos: np.ndarray, scores: np.ndarray, self_pos: np.ndarray, k: int):
    """Remove each row's own position from ``k + 1`` results, keeping ``k``, ranks intact.

    Rows where the search did not return the query itself lose their last entry instead.
    """
    is_self = pos == np.asarray(self_pos)[:, None]
    last = np.arange(pos.shape[1]) == pos.shape[1] - 1
    drop = is_self | (~is_self.any(axis=1, keepdims=True) & last)
    # a stable sort moves the dropped entry to the end and keeps the others in order
    order = np.argsort(drop, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(pos, order, axis=1), np.take_along_axis(scores, order, axis=1)
