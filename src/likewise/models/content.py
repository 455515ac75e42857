"""Content-based recommendation from item metadata: ``ContentKNN``.

Items are described by their metadata (TF-IDF of text fields, multi-hot of category
lists such as genres); two items are similar when their vectors point the same way
(cosine). A user is the weighted average of the vectors of the items they rated
(ratings centred on the user's mean for explicit data, so disliked items push the
profile away), and items are ranked by cosine to that profile.

Because the vectors come from metadata, not interactions, the model also serves
**brand-new items** that have metadata but nobody has touched yet: see ``catalog``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Bool, Choice, Float, Int
from ..data.interactions import Interactions
from ..errors import DataError
from .base import Recommender, _blocks, top_n

__all__ = ["ContentKNN", "profile_scores", "profile_scores_reference", "user_weights"]


def user_weights(matrix: sp.csr_matrix, centered: bool) -> sp.csr_matrix:
    """Per-interaction profile weights: ratings minus the user's mean, or the values as is.

    A user whose ratings are all equal has no preference signal after centring; their
    weights fall back to 1 so they still get a (plain average) profile instead of none.
    """
    w = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    if not centered or w.nnz == 0:
        return w
    counts = np.diff(w.indptr)
    rows = np.repeat(np.arange(w.shape[0]), counts)
    means = np.bincount(rows, weights=w.data, minlength=w.shape[0]) / np.maximum(counts, 1)
    w.data = (w.data - means[rows]).astype(np.float32)
    flat = np.bincount(rows, weights=np.abs(w.data), minlength=w.shape[0]) < 1e-6
    w.data[flat[rows]] = 1.0
    return w


def profile_scores(weights: sp.csr_matrix, vectors: sp.csr_matrix) -> np.ndarray:
    """Cosine between each weight row's profile and every item vector (dense float32 block).

    ``profile = normalise(weights @ vectors)`` and ``scores = profile @ vectors.T``; both
    products stay sparse until the final (rows x items) block.
    """
    prof = sp.csr_matrix(weights @ vectors, dtype=np.float32)
    norms = np.sqrt(np.asarray(prof.multiply(prof).sum(axis=1)).ravel())
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)
    prof = sp.diags(scale) @ prof
    return np.asarray((prof @ vectors.T).toarray(), dtype=np.float32)


def profile_scores_reference(weights: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Plain dense NumPy version of :func:`profile_scores` (for tests and reading)."""
    out = np.zeros((weights.shape[0], vectors.shape[0]), dtype=np.float64)
    for r in range(weights.shape[0]):
        profile = np.zeros(vectors.shape[1])
        for j in np.nonzero(weights[r])[0]:
            profile += weights[r, j] * vectors[j]
        norm = np.linalg.norm(profile)
        if norm > 0:
            out[r] = vectors @ (profile / norm)
    return out.astype(np.float32)


class ContentKNN(Recommender):
    """Item-to-item and user-profile recommendations from item metadata.

    Parameters
    ----------
    text_fields : list of str, optional
        Free-text metadata columns (TF-IDF or sentence embeddings). Default: every string
        column that is not a list field (MovieLens: ``title``).
    list_fields : list of str, optional
        ``|``-separated category columns encoded multi-hot (MovieLens: ``genres``).
        Default: columns named genres/genre/tags/categories/category/keywords.
    text_weight, list_weight : float
        Relative weight of the text block and of each list block in the cosine.
    encoder : {"tfidf", "minilm"}
        ``"minilm"`` uses the offline all-MiniLM-L6-v2 sentence embeddings (``text`` extra).
    max_features : int, optional
        Cap on the TF-IDF vocabulary.
    min_df : int
        Minimum number of items a term must appear in (TF-IDF).
    ngram_max : int
        Longest word n-gram for TF-IDF.
    centered : bool
        Explicit data: weight each rated item by ``rating - user mean`` (items rated below
        the user's mean push the profile away). Implicit data always uses the raw weights.
    catalog : {"union", "train"}
        ``"union"``: the model's items are the training items followed by every item in
        ``item_metadata`` that has no interactions, so new items can be recommended and
        have ``similar_items`` (their ids appear in ``model.items_``; indices of training
        items are unchanged). ``"train"``: only the training data's items.
    popularity_prior : float
        ``0`` (default) ranks by content alone. ``b > 0`` ranks by
        ``(1 - b) * cosine + b * log(1 + count) / log(1 + max count)``: a popularity prior
        that breaks the many near-ties of short metadata (on MovieLens 100K, ``0.9`` is what
        lets a content profile beat plain popularity for users with few ratings; see
        docs/content.md). New items have count 0 and rank on content alone.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.ContentKNN().fit(data)
    >>> star_wars = 50
    >>> model.similar_items([star_wars], n=3).items.shape
    (1, 3)
    """

    estimates_ratings = False
    _param_spec: ClassVar[dict] = {
        "text_weight": Float(0.0),
        "list_weight": Float(0.0),
        "encoder": Choice(("tfidf", "minilm")),
        "max_features": Int(1, none_ok=True),
        "min_df": Int(1),
        "ngram_max": Int(1, 3),
        "centered": Bool(),
        "catalog": Choice(("union", "train")),
        "popularity_prior": Float(0.0, 1.0),
    }

    def __init__(self, *, text_fields: list[str] | None = None,
                 list_fields: list[str] | None = None, text_weight: float = 1.0,
                 list_weight: float = 1.0, encoder: str = "tfidf",
                 max_features: int | None = None, min_df: int = 1, ngram_max: int = 1,
                 centered: bool = True, catalog: str = "union",
                 popularity_prior: float = 0.0):
        self.text_fields = text_fields
        self.list_fields = list_fields
        self.text_weight = text_weight
        self.list_weight = list_weight
        self.encoder = encoder
        self.max_features = max_features
        self.min_df = min_df
        self.ngram_max = ngram_max
        self.centered = centered
        self.catalog = catalog
        self.popularity_prior = popularity_prior

    def _check_params(self, data: Interactions) -> None:
        for name in ("text_fields", "list_fields"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, str) or not all(
                    isinstance(v, str) for v in value)):
                from ..errors import ConfigError

                raise ConfigError(f"ContentKNN: {name} must be a list of column names or None, "
                                  f"got {value!r}")
        if self.text_weight == 0 and self.list_weight == 0:
            from ..errors import ConfigError

            raise ConfigError("ContentKNN: text_weight and list_weight cannot both be 0")

    def _fit(self, data: Interactions) -> None:
        from ..features.text import metadata_vectors

        meta = data.item_metadata
        if meta is None or len(meta.columns) == 0:
            raise DataError("ContentKNN needs item metadata (a table indexed by item id with "
                            "text or category columns); pass item_metadata= when loading "
                            "the interactions")
        if self.catalog == "union":
            try:
                items = data.items.union(meta.index.to_numpy())
            except DataError:
                raise DataError("item metadata ids and interaction item ids have different "
                                "types (integers vs strings); make them the same") from None
            self._extend_items(items)
        vectors, names = metadata_vectors(
            meta, self.items_.ids, text_fields=self.text_fields, list_fields=self.list_fields,
            text_weight=self.text_weight, list_weight=self.list_weight, encoder=self.encoder,
            max_features=self.max_features, min_df=self.min_df, ngram_max=self.ngram_max)
        if vectors.shape[1] == 0:
            raise DataError("the item metadata produced no features (empty text and "
                            "category columns)")
        self.item_vectors_ = vectors
        self.feature_names_ = np.asarray(names, dtype=str)
        self.has_features_ = np.asarray(vectors.getnnz(axis=1) > 0)
        self.user_weights_ = user_weights(self.user_items_,
                                          self.centered and data.is_explicit)
        counts = np.log1p(self.item_popularity_.astype(np.float64))
        self.prior_ = (counts / max(counts.max(), 1e-12)).astype(np.float32)

    # -- scoring ----------------------------------------------------------------------
    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return self._with_prior(profile_scores(self.user_weights_[user_idx],
                                               self.item_vectors_))

    def _with_prior(self, scores: np.ndarray) -> np.ndarray:
        b = np.float32(self.popularity_prior)
        if b == 0:
            return scores
        scores *= 1 - b
        scores += b * self.prior_[None, :]
        return scores

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        row = sp.csr_matrix((values.astype(np.float32), item_idx, [0, len(item_idx)]),
                            shape=(1, self.n_items))
        row.sum_duplicates()
        w = user_weights(row, self.centered and self.kind_ == "explicit")
        return self._with_prior(profile_scores(w, self.item_vectors_))[0]

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        vt = self.item_vectors_.T.tocsr()
        out_i = np.empty((len(item_idx), n), dtype=np.int64)
        out_s = np.empty((len(item_idx), n), dtype=np.float32)
        block = max(1, min(1024, (32 << 20) // (4 * max(1, self.n_items))))
        for lo, hi in _blocks(len(item_idx), block):
            q = item_idx[lo:hi]
            sims = np.asarray((self.item_vectors_[q] @ vt).toarray(), dtype=np.float32)
            sims[np.arange(len(q)), q] = -np.inf
            out_i[lo:hi], out_s[lo:hi] = top_n(sims, n)
        return out_i, out_s

    def _item_embeddings(self):
        return None  # similarity is served sparse by _similar_items_idx

    def item_vectors(self, items) -> sp.csr_matrix:
        """The L2-normalised feature rows of ``items`` (external ids; unknown ids raise)."""
        self._check_fitted()
        from ..errors import UnknownItemError

        idx = self.items_.index(np.asarray(items).reshape(-1), "raise", error=UnknownItemError,
                                what="item")
        return self.item_vectors_[idx]
