"""Visual similarity: ``ImageSimilarity`` embeds item images with a pretrained CNN.

"Find the 5 products that look most like this photo" in a few lines:

>>> from likewise import ImageSimilarity  # doctest: +SKIP
>>> model = ImageSimilarity.from_folder("product-photos/", cache_dir=".cache")  # doctest: +SKIP
>>> model.similar_images("new-photo.jpg", n=5).to_frame()  # doctest: +SKIP

Fitted on interactions whose item metadata has an image path per item, it is also a
content recommender: a user's profile is the weighted average of the image vectors of
the items they interacted with, and items are ranked by cosine to it (so it plugs into
:class:`~likewise.WeightedHybrid` / :class:`~likewise.SwitchingHybrid`).

Large catalogues (``search_dim``): one exact query over 100,000 EfficientNet-Lite0 vectors
(1280 float32 each) reads 512 MB, about 60-90 ms on a 2-core machine. From
:data:`AUTO_SEARCH_MIN_IMAGES` images on, ``similar_images`` / ``similar_items`` therefore
search in two steps by default: the vectors projected on the catalogue's top
:data:`AUTO_SEARCH_DIM` principal components (a 10x smaller scan) give ``rerank * n``
candidates, which are re-ranked by their exact full-dimension cosine. The returned scores
are exact cosines; only a true neighbour missing from the candidates can be lost
(measured recall@5 against exact search: see benchmarks/results/images.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Bool, Choice, FilePath, Int, Str, Union, validate
from ..data.interactions import Interactions
from ..data.vocabulary import Vocabulary
from ..errors import ConfigError, DataError, ModelFormatError
from ._persistence import check_state
from .base import Recommender
from .content import user_weights

__all__ = ["AUTO_SEARCH_DIM", "AUTO_SEARCH_MIN_IMAGES", "ImageSimilarity", "SimilarImages",
           "pca_basis"]

#: ``search_dim="auto"`` searches reduced vectors first from this many catalogue images on.
AUTO_SEARCH_MIN_IMAGES = 20_000
#: principal components ``search_dim="auto"`` keeps for a large catalogue.
AUTO_SEARCH_DIM = 128
#: rows of the catalogue (sampled) the principal components are computed from
_PCA_MAX_ROWS = 10_000


@dataclass
class SimilarImages:
    """The answer of :meth:`ImageSimilarity.similar_images`, best first.

    Attributes
    ----------
    ids : numpy.ndarray
        Item ids.
    paths : numpy.ndarray
        Their image paths (strings).
    scores : numpy.ndarray
        Cosine similarity to the query, float32.
    """

    ids: np.ndarray
    paths: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def to_frame(self):
        """DataFrame with columns ``item, path, score, rank``."""
        import pandas as pd

        return pd.DataFrame({"item": self.ids, "path": self.paths, "score": self.scores,
                             "rank": np.arange(1, len(self.ids) + 1)})


class ImageSimilarity(Recommender):
    """Item similarity and user profiles from item images (pretrained CNN embeddings).

    Parameters
    ----------
    image_column : str
        Column of ``item_metadata`` holding each item's image path.
    image_root : path, optional
        Folder that relative image paths are resolved against (default: as given).
    model : str
        Embedding model from :data:`likewise.features.images.MODELS`
        (``"efficientnet-lite0"`` default, ``"resnet50"`` with your weights file).
    batch_size : int
        Images per forward pass.
    cache_dir : path, optional
        On-disk embedding cache keyed by file content (re-fits embed only new files).
    backend : str
        :mod:`likewise.index` backend for ``similar_images`` / ``similar_items`` (it searches
        the reduced vectors when ``search_dim`` is active).
    search_dim : "auto" or int
        First-pass search dimension. ``0``: search the full vectors (exact cosine with
        ``backend="exact"``). ``d > 0``: project the catalogue on its top ``d`` principal
        components (computed in ``fit``), find ``rerank * n`` candidates by inner product
        there, and re-rank them by exact full-dimension cosine. ``"auto"`` (default):
        :data:`AUTO_SEARCH_DIM` (128) when the catalogue has at least
        :data:`AUTO_SEARCH_MIN_IMAGES` (20,000) images, else ``0``. A ``d`` not below the
        embedding dimension means ``0``.
    rerank : int
        Candidates re-ranked per requested neighbour when ``search_dim`` is active.
    max_pixels : int
        Decompression-bomb limit per image.
    centered : bool
        Explicit data: weight items by ``rating - user mean`` in the profile.
    progress : bool
        Progress bar while embedding.
    runtime : {"auto", "onnx", "torch"}
        Inference engine for the CNN (see :func:`likewise.features.images.embed_images`):
        ONNX Runtime when installed (``"auto"``), or PyTorch. Same vectors either way.

    Attributes
    ----------
    item_vectors_ : numpy.ndarray
        ``(n_items, dim)`` unit vectors (zeros for items without a readable image).
    has_image_ : numpy.ndarray
        Boolean per item.
    skipped_ : list of [path, reason]
        Images that could not be read.
    search_components_ : numpy.ndarray or None
        ``(dim, search_dim)`` principal axes of the catalogue vectors used by the first-pass
        search (None: the full vectors are searched).
    search_mean_ : numpy.ndarray or None
        ``(dim,)`` mean catalogue vector (the PCA centre).

    Examples
    --------
    >>> model = ImageSimilarity(image_column="photo").fit(data)  # doctest: +SKIP
    >>> model.similar_items(["sku-42"], n=5)  # doctest: +SKIP
    """

    estimates_ratings = False
    #: items are known from their content, interactions or not
    knows_items_without_interactions: ClassVar[bool] = True
    _param_spec: ClassVar[dict] = {
        "image_column": Str(words="a column name",
                            help="Column of item_metadata holding each item's image path."),
        "image_root": FilePath(none_ok=True, help="Folder that relative image paths are "
                                                  "resolved against."),
        "model": Str(words="a name in likewise.features.images.MODELS",
                     help="Embedding model ('efficientnet-lite0', or 'resnet50' with your "
                          "weights file)."),
        "batch_size": Int(1, help="Images per forward pass."),
        "cache_dir": FilePath(none_ok=True, help="On-disk embedding cache keyed by file "
                                                 "content."),
        "backend": Choice(("exact", "annoy", "hnsw", "faiss"),
                          help="likewise.index backend for similar_images / similar_items."),
        "search_dim": Union(Choice(("auto",)), Int(0),
                            help="First-pass PCA search dimension (0: full vectors; 'auto': "
                                 "128 from 20,000 images)."),
        "rerank": Int(1, help="Candidates re-ranked per requested neighbour when search_dim "
                              "is active."),
        "max_pixels": Int(0, help="Decompression-bomb limit per image."),
        "centered": Bool(help="Explicit data: weight items by rating - user mean in the "
                              "profile."),
        "progress": Bool(help="Progress bar while embedding."),
        "runtime": Choice(("auto", "onnx", "torch"),
                          help="CNN inference engine: ONNX Runtime when installed ('auto'), "
                               "or PyTorch."),
    }

    def __init__(self, *, image_column: str = "image", image_root: str | None = None,
                 model: str = "efficientnet-lite0", batch_size: int = 32,
                 cache_dir: str | None = None, backend: str = "exact",
                 search_dim: int | str = "auto", rerank: int = 20,
                 max_pixels: int = 89_478_485, centered: bool = True, progress: bool = False,
                 runtime: str = "auto"):
        self.image_column = image_column
        self.image_root = image_root
        self.model = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.backend = backend
        self.search_dim = search_dim
        self.rerank = rerank
        self.max_pixels = max_pixels
        self.centered = centered
        self.progress = progress
        self.runtime = runtime

    def _check_params(self, data: Interactions | None) -> None:
        from ..features.images import MODELS

        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ConfigError(f"ImageSimilarity: model must be one of "
                              f"{', '.join(map(repr, sorted(MODELS)))}; got {self.model!r}")

    # -- fitting ----------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        meta = data.item_metadata
        if meta is None or self.image_column not in meta.columns:
            cols = [] if meta is None else list(map(str, meta.columns))
            raise DataError(f"ImageSimilarity needs item metadata with an image path column "
                            f"{self.image_column!r} (set image_column=); columns: {cols}")
        paths = meta[self.image_column]
        paths = paths[paths.notna() & (paths.astype(str) != "")]
        try:
            items = data.items.union(paths.index.to_numpy())
        except DataError:
            raise DataError("item metadata ids and interaction item ids have different types "
                            "(integers vs strings); make them the same") from None
        self._extend_items(items)
        idx = self.items_.index(paths.index.to_numpy(), "ignore")
        self._embed(idx[idx >= 0], paths.astype(str).to_numpy()[idx >= 0])
        self.user_weights_ = user_weights(self.user_items_, self.centered and data.is_explicit)

    def _resolve(self, path: str) -> str:
        if self.image_root is None or os.path.isabs(path):
            return path
        return str(Path(self.image_root) / path)

    def _embed(self, item_idx: np.ndarray, paths: np.ndarray) -> None:
        from ..features.images import embed_images, get_model

        spec = get_model(self.model)
        full = [self._resolve(p) for p in paths.tolist()]
        emb = embed_images(full, model=spec, batch_size=self.batch_size,
                           cache_dir=self.cache_dir, progress=self.progress,
                           ids=np.arange(len(full)), max_pixels=self.max_pixels,
                           runtime=self.runtime)
        self._set_vectors(item_idx[emb.ids.astype(np.int64)], emb.vectors, spec.dim)
        image_paths = np.full(len(self.items_), "", dtype=object)
        image_paths[item_idx] = full
        self.image_paths_ = np.asarray(image_paths.astype(str))
        self.skipped_ = [[p, r] for p, r in emb.skipped]
        self.embedding_space_ = emb.model

    def _set_vectors(self, rows: np.ndarray, vectors: np.ndarray, dim: int) -> None:
        """Item vectors (rows of the vocabulary) and the reduced-search basis."""
        self.item_vectors_ = np.zeros((len(self.items_), dim), dtype=np.float32)
        self.item_vectors_[rows] = vectors
        self.has_image_ = np.zeros(len(self.items_), dtype=bool)
        self.has_image_[rows] = True
        n_images = int(self.has_image_.sum())
        d = self.search_dim
        if d == "auto":
            d = AUTO_SEARCH_DIM if n_images >= AUTO_SEARCH_MIN_IMAGES else 0
        if 0 < d < dim and n_images > 0:
            sample = np.nonzero(self.has_image_)[0]
            if len(sample) > _PCA_MAX_ROWS:  # sample before gathering: no catalogue copy
                sample = np.sort(np.random.default_rng(0).choice(sample, _PCA_MAX_ROWS,
                                                                 replace=False))
            self.search_components_, self.search_mean_ = pca_basis(
                self.item_vectors_[sample], int(d))
        else:
            self.search_components_ = self.search_mean_ = None

    def _empty_catalogue(self, ids: np.ndarray) -> None:
        """Fitted state for a catalogue without users (``from_folder``/``from_embeddings``)."""
        self._reset()
        self.items_ = Vocabulary(ids)
        self.users_ = Vocabulary(np.empty(0, dtype=str))
        self.kind_ = "implicit"
        self.rating_scale_ = None
        self.global_mean_ = None
        self.user_items_ = sp.csr_matrix((0, len(ids)), dtype=np.float32)
        self.item_popularity_ = np.zeros(len(ids), dtype=np.float32)
        self.user_weights_ = sp.csr_matrix((0, len(ids)), dtype=np.float32)

    @classmethod
    def _new(cls, params: dict) -> ImageSimilarity:
        self = cls(**params)
        validate(cls.__name__, cls._param_spec, self.get_params())
        self._check_params(None)
        return self

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, **params: Any) -> ImageSimilarity:
        """A fitted model over every image in ``folder`` (ids: paths relative to it).

        There are no users: ``similar_images``, ``similar_items`` and
        ``recommend_from_history`` work; ``recommend`` falls back for every user.

        Examples
        --------
        >>> model = ImageSimilarity.from_folder("photos/")  # doctest: +SKIP
        >>> model.similar_images("query.jpg", n=5).ids  # doctest: +SKIP
        """
        from ..features.images import list_images

        self = cls._new(params)
        folder = Path(folder)
        files = list_images(folder)
        if not files:
            raise DataError("no image files here (extensions: .jpg .png .webp ...)", path=folder)
        ids = np.asarray([f.relative_to(folder).as_posix() for f in files], dtype=str)
        self._empty_catalogue(ids)
        self.image_root = None
        self._embed(np.arange(len(ids)), np.asarray([str(f) for f in files]))
        self._derive_state()
        self.fitted_ = True
        return self

    @classmethod
    def from_embeddings(cls, embeddings: Any, **params: Any) -> ImageSimilarity:
        """A fitted model over precomputed embeddings (no user, like :meth:`from_folder`).

        Parameters
        ----------
        embeddings : ImageEmbeddings
            From :func:`likewise.features.images.embed_images` with the same ``model``
            (its ``ids``, ``paths`` and unit ``vectors`` become the catalogue).
        **params
            Constructor parameters (``model``, ``search_dim``, ``backend``, ...).

        Examples
        --------
        >>> from likewise.features.images import embed_images  # doctest: +SKIP
        >>> emb = embed_images("photos/", cache_dir=".cache")  # doctest: +SKIP
        >>> model = ImageSimilarity.from_embeddings(emb)  # doctest: +SKIP
        """
        from ..features.images import get_model
        from ..index.base import _as_matrix, normalise_rows

        self = cls._new(params)
        spec = get_model(self.model)
        space = getattr(embeddings, "model", None)
        if space is None or not hasattr(embeddings, "vectors") or not hasattr(embeddings, "ids"):
            raise DataError(f"from_embeddings expects ImageEmbeddings (from embed_images), got "
                            f"{type(embeddings).__name__}")
        if space and space != spec.cache_key():
            raise ConfigError(f"the embeddings come from {space!r} but model={self.model!r} "
                              f"embeds queries as {spec.cache_key()!r}; pass the same model")
        vectors = _as_matrix(embeddings.vectors, "embeddings.vectors", spec.dim)
        ids = np.asarray(embeddings.ids)
        if len(ids) != len(vectors) or len(ids) == 0:
            raise DataError(f"from_embeddings needs one id per vector and at least one; got "
                            f"{len(ids)} ids for {len(vectors)} vectors")
        paths = getattr(embeddings, "paths", None)
        paths = np.asarray(ids if paths is None or len(paths) != len(ids) else paths).astype(str)
        self._empty_catalogue(ids)
        self.image_root = None
        self._set_vectors(np.arange(len(ids)), normalise_rows(vectors), spec.dim)
        self.image_paths_ = paths
        self.skipped_ = [[str(p), str(r)] for p, r in getattr(embeddings, "skipped", [])]
        self.embedding_space_ = spec.cache_key()
        self._derive_state()
        self.fitted_ = True
        return self

    # -- search -----------------------------------------------------------------------
    def _index(self):
        """The search index over image rows: full vectors (cosine) or reduced ones (dot)."""
        if self._cache_index is None:
            raise DataError("no item has a readable image; see model.skipped_")
        return self._cache_index

    def _validate_state(self) -> None:
        super()._validate_state()
        check_state(self, {"item_vectors_": ("items", "dims"), "has_image_": ("items",),
                           "image_paths_": ("items",), "user_weights_": ("users", "items"),
                           "search_components_": ("dims", None), "search_mean_": ("dims",)},
                    finite=("item_vectors_", "user_weights_", "search_components_",
                            "search_mean_"),
                    required=("item_vectors_", "has_image_"))
        if self.has_image_.dtype != bool:  # it selects rows: a mask, not indices
            raise ModelFormatError(f"{type(self).__name__}.has_image_ is not a boolean mask; "
                                   "the model was modified or corrupted")

    def _prepare_queries(self) -> None:
        # the network (or its ONNX Runtime session) for query photos: loaded on the first
        # similar_images otherwise
        from ..features.images import get_model, prepare_model

        prepare_model(get_model(self.model), runtime=self.runtime)

    def _derive(self) -> None:
        # built with the catalogue (fit, from_folder, from_embeddings, load), never by a query
        comp = getattr(self, "search_components_", None)
        self._cache_components_t = None if comp is None else \
            np.ascontiguousarray(np.asarray(comp, dtype=np.float32).T)
        from .. import index

        rows = np.nonzero(self.has_image_)[0]
        if len(rows) == 0:
            self._cache_index = None
        elif getattr(self, "search_components_", None) is None:
            self._cache_index = index.build(self.item_vectors_[rows], ids=rows,
                                            metric="cosine", backend=self.backend)
        else:
            self._cache_index = index.build(self._reduce(rows), ids=rows, metric="dot",
                                            backend=self.backend)

    def _reduce(self, rows: np.ndarray) -> np.ndarray:
        """Catalogue rows projected on the principal axes: ``(x - mean) @ components``."""
        from ..index.exact import _blas_single_thread

        comp = np.asarray(self.search_components_, dtype=np.float32)
        mean = np.asarray(self.search_mean_, dtype=np.float32)
        out = np.empty((len(rows), comp.shape[1]), dtype=np.float32)
        with _blas_single_thread():  # steady on a busy machine (see pca_basis)
            for lo in range(0, len(rows), 8192):  # no full-size centred copy
                hi = min(len(rows), lo + 8192)
                out[lo:hi] = (self.item_vectors_[rows[lo:hi]] - mean) @ comp
        return out

    def _search(self, q: np.ndarray, k: int,
                exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the ``k`` best catalogue images per unit query vector.

        ``exclude``: one item row per query left out of its results (its own image). With
        ``search_dim`` active, ``rerank * k`` candidates from the reduced space are scored
        exactly (:meth:`_rerank`). Padding: row -1, score NaN.
        """
        idx = self._index()
        if getattr(self, "search_components_", None) is None:
            found = (idx.query(q, k=k) if exclude is None
                     else idx.query_ids(exclude, k=k))
            rows = np.where(found.positions >= 0, found.ids, -1).astype(np.int64)
            return rows, found.scores
        from ._factors import dot_rows

        n_cand = min(len(idx), max(self.rerank * k, k + 1))
        # q @ components, serial for a request (no process-wide BLAS setting per query)
        reduced = dot_rows(np.asarray(q, np.float32), np.arange(len(q)),
                           self._cache_components_t)
        found = idx.query(reduced, k=n_cand)
        cand = np.where(found.positions >= 0, found.ids, -1).astype(np.int64)
        return self._rerank(q, cand, k, exclude)

    def _rerank(self, q: np.ndarray, cand: np.ndarray, k: int,
                exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` candidates (rows, -1 = none) of highest exact cosine, ties by row."""
        k_out = min(k, cand.shape[1] - (exclude is not None))
        rows_out = np.full((len(q), k_out), -1, dtype=np.int64)
        scores_out = np.full((len(q), k_out), np.nan, dtype=np.float32)
        block = max(1, 2**22 // max(1, cand.shape[1] * q.shape[1]))  # ~16 MB of gathered rows
        for lo in range(0, len(q), block):
            hi = min(len(q), lo + block)
            c = cand[lo:hi]
            valid = c >= 0
            if exclude is not None:
                valid &= c != exclude[lo:hi, None]
            vecs = np.asarray(self.item_vectors_[np.where(valid, c, 0)], dtype=np.float32)
            s = np.einsum("qcd,qd->qc", vecs, q[lo:hi]).astype(np.float32)
            key = np.where(valid, -s, np.inf)
            order = np.lexsort((c, key), axis=1)[:, :k_out]
            top = np.take_along_axis(c, order, axis=1)
            ok = np.take_along_axis(valid, order, axis=1)
            rows_out[lo:hi] = np.where(ok, top, -1)
            scores_out[lo:hi] = np.where(ok, np.take_along_axis(s, order, axis=1), np.nan)
        return rows_out, scores_out


    def _answer(self, rows: np.ndarray, scores: np.ndarray) -> SimilarImages:
        keep = rows >= 0
        rows = rows[keep]
        return SimilarImages(ids=self.items_.ids_of(rows), paths=self.image_paths_[rows],
                             scores=np.asarray(scores)[keep].astype(np.float32))

    def similar_images(self, image: Any, n: int = 5) -> SimilarImages:
        """The ``n`` catalogue images most similar to a query image.

        Parameters
        ----------
        image : path, bytes, numpy array or PIL image
            The query; an unreadable one raises :class:`~likewise.DataError` naming it.
        n : int
            How many results.

        Returns
        -------
        SimilarImages
            ``ids``, ``paths`` and cosine ``scores``, best first.
        """
        self._check_fitted()
        from ..features.images import embed_image, get_model
        from .base import _check_n

        _check_n(n)
        vec = embed_image(image, model=get_model(self.model), max_pixels=self.max_pixels,
                          runtime=self.runtime)
        return self.similar_to_vector(vec, n=n)

    def similar_to_vector(self, vector: Any, n: int = 5) -> SimilarImages:
        """The ``n`` catalogue images most similar to an embedding (cosine).

        Parameters
        ----------
        vector : array-like
            ``(dim,)`` vector in the model's embedding space (e.g. from
            :func:`likewise.features.images.embed_image`); normalised here.
        n : int
            How many results.

        Returns
        -------
        SimilarImages
            Best first; ``scores`` are exact cosines also when ``search_dim`` is active.

        Examples
        --------
        >>> model.similar_to_vector(model.item_vectors_[0], n=3).ids  # doctest: +SKIP
        """
        self._check_fitted()
        from ..index.base import _as_matrix, normalise_rows
        from .base import _check_n

        _check_n(n)
        q = np.asarray(vector)
        if q.ndim != 1:
            raise DataError(f"vector must be 1-D (one embedding), got shape {q.shape}")
        q = normalise_rows(_as_matrix(q[None, :], "vector", self.item_vectors_.shape[1]))
        rows, scores = self._search(q, n)
        return self._answer(rows[0], scores[0])

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        out_i = np.full((len(item_idx), n), -1, dtype=np.int64)
        out_s = np.full((len(item_idx), n), np.nan, dtype=np.float32)
        has = self.has_image_[item_idx]
        if has.any():
            q = np.asarray(self.item_vectors_[item_idx[has]], dtype=np.float32)
            rows, scores = self._search(q, n, exclude=item_idx[has])
            k = rows.shape[1]
            out_i[has, :k] = rows
            out_s[has, :k] = scores
        return out_i, out_s

    # -- user profiles ----------------------------------------------------------------
    def _profiles(self, weights: sp.csr_matrix) -> np.ndarray:
        prof = np.asarray(weights @ self.item_vectors_, dtype=np.float32)
        norms = np.linalg.norm(prof, axis=1, keepdims=True)
        return prof / np.where(norms > 0, norms, 1.0)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return self._profiles(self.user_weights_[user_idx]) @ self.item_vectors_.T

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        row = sp.csr_matrix((values.astype(np.float32), item_idx, [0, len(item_idx)]),
                            shape=(1, self.n_items))
        row.sum_duplicates()
        w = user_weights(row, self.centered and self.kind_ == "explicit")
        return (self._profiles(w) @ self.item_vectors_.T)[0]


def pca_basis(vectors: np.ndarray, dim: int, max_rows: int = _PCA_MAX_ROWS,
              seed: int = 0, power_iterations: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Top ``dim`` principal axes and the mean of ``vectors`` (a seeded row sample at most).

    The covariance matrix of (at most ``max_rows`` sampled) rows comes from one float32
    product; its top eigenvectors from a seeded randomized subspace iteration (block power
    method with ``dim`` + oversampling vectors, then an exact eigendecomposition of the small
    projected matrix), which costs a fraction of a full ``eigh`` of the ``n_features``
    square matrix (used when ``dim`` is close to ``n_features``). Axes are sorted by
    variance, each with its largest-magnitude entry positive (deterministic signs).

    Returns ``(components, mean)``: ``(n_features, dim)`` and ``(n_features,)`` float32.
    ``(x - mean) @ components`` are the reduced coordinates and ``q @ components`` the
    query's: their inner product is ``q . x`` up to a per-query constant and the part of
    ``x`` outside the kept axes.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(500, 8)) * np.arange(1, 9)
    >>> comp, mean = pca_basis(x, 2)
    >>> comp.shape, bool(abs(comp[7, 0]) > 0.9)
    ((8, 2), True)
    """
    from ..index.exact import _blas_single_thread

    # one BLAS thread: OpenBLAS' spinning threads make these small products and QRs many
    # times slower (and erratic) on a busy machine
    with _blas_single_thread():
        return _pca_basis(np.asarray(vectors), dim, max_rows, seed, power_iterations)


def _pca_basis(x: np.ndarray, dim: int, max_rows: int, seed: int,
               power_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
    x = x.astype(np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    x -= mean.astype(np.float32)
    cov = (x.T @ x).astype(np.float64) / max(1, len(x) - 1)
    n_features = cov.shape[0]
    width = dim + max(10, dim // 2)
    if width >= n_features // 2:
        _, vecs = np.linalg.eigh(cov)
        comp = vecs[:, ::-1][:, :dim]
    else:
        q = np.random.default_rng(seed).standard_normal((n_features, width))
        for _ in range(power_iterations + 1):
            q, _ = np.linalg.qr(cov @ q)
        vals, small = np.linalg.eigh(q.T @ cov @ q)
        comp = q @ small[:, ::-1][:, :dim]
    flip = np.sign(comp[np.abs(comp).argmax(axis=0), np.arange(comp.shape[1])])
    comp = comp * np.where(flip == 0, 1.0, flip)
    return comp.astype(np.float32), mean.astype(np.float32)
