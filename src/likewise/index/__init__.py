"""Nearest-neighbour search over vectors: one interface, exact and approximate backends.

>>> import numpy as np
>>> from likewise import index
>>> vectors = np.random.default_rng(0).normal(size=(1000, 16)).astype("float32")
>>> idx = index.build(vectors, metric="cosine")              # exact, the default
>>> ids, scores = idx.query(vectors[:5], k=3)                # batched, best first
>>> ids[:, 0].tolist()
[0, 1, 2, 3, 4]
>>> ids, scores = idx.query_ids([7, 8], k=3)                 # neighbours of stored ids

Backends (``backend=``):

``"exact"``
    brute force with BLAS; the reference and the default for small collections.
``"annoy"`` (``n_trees``, ``search_k``, ``random_state``)
    Spotify's Annoy forest of random projection trees; memory-mapped files, immutable.
``"hnsw"`` (``M``, ``ef_construction``, ``ef``, ``random_state``, ``num_threads``)
    hnswlib's hierarchical navigable small-world graph; the best recall/speed trade-off.
``"faiss"`` (``kind="flat"|"hnsw"``, ``M``, ``ef_construction``, ``ef``)
    Facebook's faiss library, flat (exact) or HNSW.

The approximate backends come with the ``ann`` extra (``pip install 'likewise[ann]'``).
Metrics: ``"cosine"`` and ``"dot"`` return similarities (higher is better),
``"euclidean"`` returns distances (lower is better); see :mod:`likewise.index.base`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._artifact import ArtifactReader
from .._params import Choice, validate
from ..errors import ConfigError, DataError, ModelFormatError
from .base import FORMAT_VERSION, METRICS, Index, Neighbours, _as_matrix

__all__ = ["BACKENDS", "METRICS", "Index", "Neighbours", "build", "load", "recall"]

#: backend name -> "module:class"
BACKENDS = {
    "exact": "likewise.index.exact:ExactIndex",
    "annoy": "likewise.index.annoy:AnnoyIndex",
    "hnsw": "likewise.index.hnsw:HnswIndex",
    "faiss": "likewise.index.faiss:FaissIndex",
}


def _backend_class(backend: str) -> type[Index]:
    module, _, name = BACKENDS[backend].partition(":")
    return getattr(importlib.import_module(module), name)


def build(vectors: Any, ids: Any = None, metric: str = "cosine", backend: str = "exact",
          **params: Any) -> Index:
    """Build a neighbour-search index.

    Parameters
    ----------
    vectors : array-like
        ``(n, dim)`` numbers, finite (NaN or inf raise :class:`~likewise.DataError`).
    ids : array-like, optional
        One unique id (integer or string) per vector; default ``0..n-1``.
    metric : {"cosine", "dot", "euclidean"}
        ``"dot"`` is maximum inner product search (the approximate backends use the
        norm augmentation, so it is correct for factor vectors of varying norm).
    backend : {"exact", "annoy", "hnsw", "faiss"}
        See the module docstring for each backend's parameters.
    **params
        Backend parameters, e.g. ``n_trees=20`` (annoy), ``M=16, ef=100`` (hnsw). For
        ``metric="dot"`` the approximate backends also take ``max_norm`` (default: the
        largest norm; set it higher to ``add`` longer vectors later).

    Returns
    -------
    Index

    Examples
    --------
    >>> import numpy as np
    >>> from likewise import index
    >>> x = np.random.default_rng(1).normal(size=(500, 8))
    >>> idx = index.build(x, metric="dot")
    >>> idx.query(x[:1], k=2).ids.shape
    (1, 2)
    """
    validate("likewise.index.build", {"metric": Choice(METRICS),
                                      "backend": Choice(tuple(BACKENDS))},
             {"metric": metric, "backend": backend})
    cls = _backend_class(backend)
    max_norm = params.pop("max_norm", None)
    resolved = cls._resolve_params(params)
    x = _as_matrix(vectors, "vectors")
    if len(x) == 0:
        raise DataError("cannot build an index from 0 vectors")
    index = cls(x.shape[1], metric, resolved)
    index._set_ids(ids, len(x))
    if metric == "dot" and backend != "exact" and not (backend == "faiss"
                                                        and resolved.get("kind") == "flat"):
        largest = float(np.sqrt(np.einsum("ij,ij->i", x, x).max()))
        if max_norm is None:
            max_norm = largest
        elif not (isinstance(max_norm, (int, float)) and max_norm >= largest):
            raise ConfigError(f"max_norm must be a number >= the largest vector norm "
                              f"({largest:.4g}), got {max_norm!r}")
        # an all-zero collection has no direction; any positive M works
        index.max_norm = float(max_norm) if max_norm > 0 else 1.0
    elif max_norm is not None:
        raise ConfigError("max_norm only applies to metric='dot' with an approximate backend")
    index._build(index._prepare_stored(x), x)
    return index


def load(path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> Index:
    """Load an index written by :meth:`Index.save`.

    Safe for an index from an untrusted source in the same way as a model (see
    ``docs/models.md``): file names are plain names inside the folder, opened without
    following links, only regular files are read, ``ids.npy`` and ``vectors.npy`` are
    checked against the manifest before use. The native files of annoy, hnswlib and FAISS
    are read by those libraries, which trust their own format: load those only from a
    source you trust, with ``verify=True`` to catch corruption.

    Parameters
    ----------
    path : path
        The directory written by ``save``.
    mmap : bool
        Memory-map the stored vectors (exact backend) or the index file (annoy always
        memory-maps) instead of reading them into memory.
    verify : bool
        Check every file's and the manifest's SHA-256.
    """
    path = Path(path)
    with ArtifactReader(path, what="index", format="likewise.index",
                        format_version=FORMAT_VERSION, verify=verify) as saved:
        index = _empty_index(path, saved.manifest, saved)
        saved.check_manifest_digest()
        # a backend hands its native file to a library: check those up front (arrays are
        # verified as they are read)
        saved.verify_files(arrays=False)
        ids = saved.array("ids.npy")
        if ids.ndim != 1 or ids.dtype.kind not in "iuUS":
            raise ModelFormatError(f"{path}: ids.npy is not a 1-D array of integers or strings")
        try:
            index._set_ids(ids, len(ids))
        except DataError as exc:
            raise ModelFormatError(f"{path}: {exc}") from None
        index._default_ids = bool(saved.manifest.get("default_ids", False))
        try:
            index._load_files(saved, mmap)
        except (ValueError, OSError, RuntimeError) as exc:
            raise ModelFormatError(f"{path}: the {index.backend} index file is unreadable "
                                   f"({exc})") from None
    if len(index) != saved.manifest.get("n"):
        raise ModelFormatError(f"{path}: manifest says {saved.manifest.get('n')} vectors, "
                               f"ids.npy has {len(index)}")
    return index


def _empty_index(path: Path, manifest: dict, saved: ArtifactReader) -> Index:
    """The index object a manifest describes, before any file is read."""
    backend = manifest.get("backend")
    if not isinstance(backend, str) or backend not in BACKENDS \
            or manifest.get("metric") not in METRICS:
        raise ModelFormatError(f"{path}: unknown backend {backend!r} or metric "
                               f"{manifest.get('metric')!r}")
    if "ids.npy" not in saved.checksums:
        raise ModelFormatError(f"{path}: the manifest lists no checksum for ids.npy")
    cls = _backend_class(backend)
    params = manifest.get("params", {})
    dim = manifest.get("dim")
    if not isinstance(params, dict) or not isinstance(dim, int) or isinstance(dim, bool) \
            or dim < 1:
        raise ModelFormatError(f"{path}/manifest.json is incomplete (dim={dim!r}, "
                               f"params of type {type(params).__name__})")
    try:
        index = cls(dim, manifest["metric"], dict(params))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}/manifest.json is incomplete ({exc!r})") from None
    missing = sorted((set(cls._build_spec) | set(cls._search_spec)) - set(index.params))
    if missing:
        raise ModelFormatError(f"{path}/manifest.json lacks parameters {missing}")
    rules = {name: rule for name, (_, rule) in {**cls._build_spec, **cls._search_spec}.items()}
    try:  # the rules build() applies
        validate(f"{path}: {backend} index", rules, index.params)
    except ConfigError as exc:
        raise ModelFormatError(str(exc)) from None
    max_norm = manifest.get("max_norm")
    if max_norm is not None and not (isinstance(max_norm, (int, float))
                                     and not isinstance(max_norm, bool)
                                     and np.isfinite(max_norm) and max_norm > 0):
        raise ModelFormatError(f"{path}/manifest.json: max_norm {max_norm!r} is not a "
                               "positive number")
    index.max_norm = max_norm
    return index


def recall(approx: Any, exact: Any, queries: Any = None, k: int = 10) -> float:
    """Mean recall@k of an approximate search against exact search.

    Parameters
    ----------
    approx, exact : Index or array-like
        Indexes to query with ``queries``, or 2-D arrays of neighbour ids already found
        (``Neighbours.ids`` / ``positions``).
    queries : array-like, optional
        Query vectors (needed when an index is given).
    k : int
        Neighbours compared per query.

    Returns
    -------
    float
        Mean over queries of ``|approx top-k  ∩  exact top-k| / |exact top-k|``.

    Examples
    --------
    >>> import numpy as np
    >>> from likewise import index
    >>> x = np.random.default_rng(0).normal(size=(300, 8))
    >>> exact = index.build(x, metric="euclidean")
    >>> index.recall(exact, exact, x[:20], k=5)
    1.0
    """
    def ids_of(obj, name):
        if isinstance(obj, Index):
            if queries is None:
                raise ConfigError(f"recall: {name} is an index, so queries are needed")
            return obj.query(queries, k).ids
        if isinstance(obj, Neighbours):
            return obj.ids
        arr = np.asarray(obj)
        if arr.ndim != 2:
            raise DataError(f"recall: {name} must be an Index or a 2-D array of ids, "
                            f"got shape {arr.shape}")
        return arr

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    a = ids_of(approx, "approx")[:, :k]
    e = ids_of(exact, "exact")[:, :k]
    if a.shape[0] != e.shape[0]:
        raise DataError(f"recall: {a.shape[0]} approximate rows vs {e.shape[0]} exact rows")
    if a.shape[0] == 0:
        raise DataError("recall: no queries")
    missing = -1 if e.dtype.kind in "iu" else ""
    hits = np.zeros(a.shape[0])
    rows = max(1, 2**22 // max(1, a.shape[1] * e.shape[1]))
    for lo in range(0, a.shape[0], rows):
        ea, aa = e[lo:lo + rows], a[lo:lo + rows]
        match = (ea[:, :, None] == aa[:, None, :]).any(axis=2) & (ea != missing)
        hits[lo:lo + rows] = match.sum(axis=1)
    valid = (e != missing).sum(axis=1)
    return float(np.mean(hits / np.maximum(valid, 1)))
