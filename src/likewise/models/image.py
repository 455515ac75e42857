"""Visual similarity: ``ImageSimilarity`` embeds item images with a pretrained CNN.

"Find the 5 products that look most like this photo" in a few lines:

>>> from likewise import ImageSimilarity  # doctest: +SKIP
>>> model = ImageSimilarity.from_folder("product-photos/", cache_dir=".cache")  # doctest: +SKIP
>>> model.similar_images("new-photo.jpg", n=5).to_frame()  # doctest: +SKIP

Fitted on interactions whose item metadata has an image path per item, it is also a
content recommender: a user's profile is the weighted average of the image vectors of
the items they interacted with, and items are ranked by cosine to it (so it plugs into
:class:`~likewise.WeightedHybrid` / :class:`~likewise.SwitchingHybrid`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Any_, Bool, Choice, Int, validate
from ..data.interactions import Interactions
from ..data.vocabulary import Vocabulary
from ..errors import ConfigError, DataError
from .base import Recommender
from .content import user_weights

__all__ = ["ImageSimilarity", "SimilarImages"]


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
        :mod:`likewise.index` backend for ``similar_images`` / ``similar_items``.
    max_pixels : int
        Decompression-bomb limit per image.
    centered : bool
        Explicit data: weight items by ``rating - user mean`` in the profile.
    progress : bool
        Progress bar while embedding.

    Attributes
    ----------
    item_vectors_ : numpy.ndarray
        ``(n_items, dim)`` unit vectors (zeros for items without a readable image).
    has_image_ : numpy.ndarray
        Boolean per item.
    skipped_ : list of [path, reason]
        Images that could not be read.

    Examples
    --------
    >>> model = ImageSimilarity(image_column="photo").fit(data)  # doctest: +SKIP
    >>> model.similar_items(["sku-42"], n=5)  # doctest: +SKIP
    """

    estimates_ratings = False
    _param_spec: ClassVar[dict] = {
        "image_column": Any_(),
        "model": Any_(),
        "batch_size": Int(1),
        "backend": Choice(("exact", "annoy", "hnsw", "faiss")),
        "max_pixels": Int(0),
        "centered": Bool(),
        "progress": Bool(),
    }

    def __init__(self, *, image_column: str = "image", image_root: str | None = None,
                 model: str = "efficientnet-lite0", batch_size: int = 32,
                 cache_dir: str | None = None, backend: str = "exact",
                 max_pixels: int = 89_478_485, centered: bool = True, progress: bool = False):
        self.image_column = image_column
        self.image_root = image_root
        self.model = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.backend = backend
        self.max_pixels = max_pixels
        self.centered = centered
        self.progress = progress

    def _check_params(self, data: Interactions | None) -> None:
        from ..features.images import MODELS

        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ConfigError(f"ImageSimilarity: model must be one of "
                              f"{', '.join(map(repr, sorted(MODELS)))}; got {self.model!r}")
        if not isinstance(self.image_column, str):
            raise ConfigError(f"ImageSimilarity: image_column must be a column name, got "
                              f"{self.image_column!r}")

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
                           ids=np.arange(len(full)), max_pixels=self.max_pixels)
        vectors = np.zeros((len(self.items_), spec.dim), dtype=np.float32)
        has = np.zeros(len(self.items_), dtype=bool)
        rows = item_idx[emb.ids.astype(np.int64)]
        vectors[rows] = emb.vectors
        has[rows] = True
        self.item_vectors_ = vectors
        self.has_image_ = has
        image_paths = np.full(len(self.items_), "", dtype=object)
        image_paths[item_idx] = full
        self.image_paths_ = np.asarray(image_paths.astype(str))
        self.skipped_ = [[p, r] for p, r in emb.skipped]
        self.embedding_space_ = emb.model

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

        self = cls(**params)
        validate(cls.__name__, cls._param_spec, self.get_params())
        self._check_params(None)
        folder = Path(folder)
        files = list_images(folder)
        if not files:
            raise DataError("no image files here (extensions: .jpg .png .webp ...)", path=folder)
        ids = np.asarray([f.relative_to(folder).as_posix() for f in files], dtype=str)
        self._reset()
        self.items_ = Vocabulary(ids)
        self.users_ = Vocabulary(np.empty(0, dtype=str))
        self.kind_ = "implicit"
        self.rating_scale_ = None
        self.global_mean_ = None
        self.user_items_ = sp.csr_matrix((0, len(ids)), dtype=np.float32)
        self.item_popularity_ = np.zeros(len(ids), dtype=np.float32)
        self.image_root = None
        self._embed(np.arange(len(ids)), np.asarray([str(f) for f in files]))
        self.user_weights_ = sp.csr_matrix((0, len(ids)), dtype=np.float32)
        self.fitted_ = True
        return self

    # -- the index --------------------------------------------------------------------
    def _index(self):
        if getattr(self, "_cache_index", None) is None:
            from .. import index

            rows = np.nonzero(self.has_image_)[0]
            if len(rows) == 0:
                raise DataError("no item has a readable image; see model.skipped_")
            self._cache_index = index.build(self.item_vectors_[rows], ids=rows,
                                            metric="cosine", backend=self.backend)
        return self._cache_index

    def _after_load(self) -> None:
        self._cache_index = None

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
        vec = embed_image(image, model=get_model(self.model), max_pixels=self.max_pixels)
        found = self._index().query(vec[None, :], k=n)
        rows = found.ids[0]
        rows = rows[rows >= 0].astype(np.int64)
        return SimilarImages(ids=self.items_.ids_of(rows), paths=self.image_paths_[rows],
                             scores=found.scores[0][: len(rows)].astype(np.float32))

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        out_i = np.full((len(item_idx), n), -1, dtype=np.int64)
        out_s = np.full((len(item_idx), n), np.nan, dtype=np.float32)
        has = self.has_image_[item_idx]
        if has.any():
            found = self._index().query_ids(item_idx[has], k=n)
            k = found.ids.shape[1]
            out_i[has, :k] = np.where(found.positions >= 0, found.ids, -1)
            out_s[has, :k] = found.scores
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
