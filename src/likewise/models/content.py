"""Content-based recommendation from item metadata: ``ContentKNN``.

Items are described by their metadata (TF-IDF of text fields, multi-hot of category
lists such as genres); two items are similar when their vectors point the same way
(cosine). A user is the weighted average of the vectors of the items they rated
(ratings centred on the user's mean for explicit data, so disliked items push the
profile away), and items are ranked by cosine to that profile, optionally plus a
popularity prior, with the profile's say growing with the user's history length.

Because the vectors come from metadata, not interactions, the model also serves
**brand-new items** that have metadata but nobody has touched yet: see ``catalog``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .. import _ranking
from .._params import Any_, Bool, Choice, Float, Int, RandomState, Union, check_random_state
from ..data.interactions import Interactions
from ..data.splits import user_holdout
from ..errors import ConfigError, DataError
from ._persistence import check_state
from .base import Recommender, _blocks, top_n

__all__ = ["PRIOR_GRID", "SHRINKAGE_GRID", "ContentKNN", "profile_scores",
           "profile_scores_reference", "user_weights"]

#: Candidates of ``popularity_prior="auto"`` and ``profile_shrinkage="auto"``.
PRIOR_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
SHRINKAGE_GRID = (0.0, 2.0, 5.0, 10.0, 20.0, 50.0)
#: Users sampled for the internal validation of the "auto" parameters.
_AUTO_USERS = 2000


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


#: up to this many rows, profile_scores uses dense profiles (rows x features stays small)
_DENSE_PROFILE_ROWS = 16


def profile_scores(weights: sp.csr_matrix, vectors: sp.csr_matrix) -> np.ndarray:
    """Cosine between each weight row's profile and every item vector (dense float32 block).

    ``profile = normalise(weights @ vectors)`` and ``scores = profile @ vectors.T``; both
    products stay sparse until the final (rows x items) block. A few rows (a request) take
    dense profiles and one sparse matrix-vector product per row instead: no transpose of
    the item vectors and a handful of sparse objects less per call.
    """
    if weights.shape[0] <= _DENSE_PROFILE_ROWS:
        prof = np.asarray((weights @ vectors).toarray(), dtype=np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", prof, prof))
        prof *= np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0
                         ).astype(np.float32)[:, None]
        return np.ascontiguousarray(np.asarray(vectors @ prof.T, dtype=np.float32).T)
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


def _log_prior(counts: np.ndarray) -> np.ndarray:
    """``log(1 + count) / log(1 + max count)`` per item, in [0, 1]."""
    logs = np.log1p(np.asarray(counts, dtype=np.float64))
    return (logs / max(logs.max(), 1e-12)).astype(np.float32)


def _blend_prior(cosines: np.ndarray, prior: np.ndarray, n: np.ndarray, b: float,
                 k: float) -> np.ndarray:
    """``(1 - b) * n / (n + k) * cosine + b * prior`` per row (in place on ``cosines``)."""
    if b == 0:
        return cosines
    shrink = np.asarray(n, dtype=np.float64) / (np.asarray(n, dtype=np.float64) + k) \
        if k > 0 else np.ones(len(n))
    cosines *= ((1 - b) * shrink).astype(np.float32)[:, None]
    cosines += np.float32(b) * prior[None, :]
    return cosines


def prior_grid_ndcg(fit_part: sp.csr_matrix, held: sp.csr_matrix, users: np.ndarray,
                    vectors: sp.csr_matrix, centered: bool, b_grid, k_grid,
                    k: int = 10) -> np.ndarray:
    """Mean NDCG@k of every ``(popularity_prior, profile_shrinkage)`` pair (a len(b_grid) x
    len(k_grid) table) for ``users``: profiles and prior from ``fit_part``, relevance = any
    interaction in ``held``, items in ``fit_part`` excluded. Cosines are computed once per
    block of users; each candidate only re-blends and re-ranks them. The NDCG is the
    evaluation layer's kernel (:func:`likewise._ranking.ndcg`)."""
    prior = _log_prior(np.bincount(fit_part.indices, minlength=fit_part.shape[1]))
    n_all = np.diff(fit_part.indptr)
    weights = user_weights(fit_part, centered)
    rel = sp.csr_matrix(held, dtype=np.float32, copy=True)
    rel.data[:] = 1.0
    totals = np.zeros((len(b_grid), len(k_grid)))
    block = max(1, min(1024, (64 << 20) // (4 * max(1, vectors.shape[0]))))
    for lo, hi in _blocks(len(users), block):
        u = users[lo:hi]
        cos = profile_scores(weights[u], vectors)
        seen = fit_part[u].tocoo()
        rel_u = rel[u]
        for i, b in enumerate(b_grid):
            for j, kk in enumerate(k_grid):
                if b == 0 and j > 0:  # shrinkage does not change a prior-free ranking
                    continue
                s = _blend_prior(cos.copy(), prior, n_all[u], b, kk)
                s[seen.row, seen.col] = -np.inf
                top, _ = top_n(s, k)
                totals[i, j] += _ranking.per_row("ndcg", top, rel_u, k).sum()
    no_prior = np.asarray(b_grid) == 0
    totals[no_prior, 1:] = totals[no_prior, :1]
    return totals / max(len(users), 1)


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
    numeric_fields : list of str, optional
        Numeric columns encoded as soft quantile bins (``numeric_bins``: items close in
        rank on the column are similar). Default: the integer/float columns (MovieLens:
        ``year``); ``[]`` for none.
    text_weight, list_weight, numeric_weight : float
        Relative weight of the text block and of each list and numeric block in the cosine.
    numeric_bandwidth : float
        Width of the numeric bins, in quantiles.
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
    popularity_prior : float or "auto"
        ``0`` (default) ranks by content alone. ``b > 0`` ranks by
        ``(1 - b) * s_u * cosine + b * log(1 + count) / log(1 + max count)``: a popularity
        prior (items people actually consume) that the profile re-ranks. ``"auto"`` picks
        ``b`` from :data:`PRIOR_GRID` by NDCG@10 on a validation split carved from the
        training data (20% of each sampled user's interactions held out); the choice is
        ``popularity_prior_``. New items have count 0 and rank on content alone.
    profile_shrinkage : float or "auto"
        ``k``: the profile's weight is ``s_u = n_u / (n_u + k)`` for a user with ``n_u``
        interactions, so a profile built from one or two items moves the ranking away from
        the prior less than one built from a hundred (a shrunk cosine). ``0`` (default):
        no shrinkage. Has no effect without a prior. ``"auto"`` picks it from
        :data:`SHRINKAGE_GRID` on the same validation split (``profile_shrinkage_``).
    random_state : None, int or numpy.random.Generator
        Seeds the validation split of the ``"auto"`` options.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.ContentKNN().fit(data)
    >>> star_wars = 50
    >>> model.similar_items([star_wars], n=3).items.shape
    (1, 3)

    For users with few interactions, let the model weigh the profile against popularity:

    >>> cold = likewise.ContentKNN(popularity_prior="auto", profile_shrinkage="auto",
    ...                            centered=False, random_state=0).fit(data)
    >>> 0 < cold.popularity_prior_ < 1
    True
    """

    estimates_ratings = False
    #: items are known from their content, interactions or not
    knows_items_without_interactions: ClassVar[bool] = True
    _param_spec: ClassVar[dict] = {
        "text_fields": Any_("a list of column names or None",
                            help="Free-text metadata columns (default: every string column "
                                 "that is not a list field)."),
        "list_fields": Any_("a list of column names or None",
                            help="'|'-separated category columns, multi-hot (default: genres, "
                                 "tags, categories...)."),
        "numeric_fields": Any_("a list of column names or None",
                               help="Numeric columns as soft quantile bins (default: the "
                                    "numeric columns; [] for none)."),
        "text_weight": Float(0.0, help="Relative weight of the text block in the cosine."),
        "list_weight": Float(0.0, help="Relative weight of each list block in the cosine."),
        "numeric_weight": Float(0.0, help="Relative weight of each numeric block in the "
                                          "cosine."),
        "numeric_bandwidth": Float(0.0, 1.0, low_open=True,
                                   help="Width of the numeric bins, in quantiles."),
        "encoder": Choice(("tfidf", "minilm"),
                          help="TF-IDF, or offline all-MiniLM-L6-v2 sentence embeddings "
                               "(text extra)."),
        "max_features": Int(1, none_ok=True, help="Cap on the TF-IDF vocabulary."),
        "min_df": Int(1, help="Minimum number of items a term must appear in (TF-IDF)."),
        "ngram_max": Int(1, 3, help="Longest word n-gram for TF-IDF."),
        "centered": Bool(help="Explicit data: weight each rated item by rating - user mean."),
        "catalog": Choice(("union", "train"),
                          help="'union': also the items only in item_metadata (new items "
                               "can be recommended); 'train': training items only."),
        "popularity_prior": Union(Choice(("auto",)), Float(0.0, 1.0),
                                  help="Weight b of a popularity prior re-ranked by the "
                                       "profile; 'auto' picks it on a validation split."),
        "profile_shrinkage": Union(Choice(("auto",)), Float(0.0),
                                   help="k in the profile weight n_u / (n_u + k); 'auto' picks "
                                        "it on a validation split."),
        "random_state": RandomState(help="Seeds the validation split of the 'auto' options."),
    }

    def __init__(self, *, text_fields: list[str] | None = None,
                 list_fields: list[str] | None = None,
                 numeric_fields: list[str] | None = None, text_weight: float = 1.0,
                 list_weight: float = 1.0, numeric_weight: float = 1.0,
                 numeric_bandwidth: float = 0.05, encoder: str = "tfidf",
                 max_features: int | None = None, min_df: int = 1, ngram_max: int = 1,
                 centered: bool = True, catalog: str = "union",
                 popularity_prior: float | str = 0.0,
                 profile_shrinkage: float | str = 0.0, random_state=None):
        self.text_fields = text_fields
        self.list_fields = list_fields
        self.numeric_fields = numeric_fields
        self.text_weight = text_weight
        self.list_weight = list_weight
        self.numeric_weight = numeric_weight
        self.numeric_bandwidth = numeric_bandwidth
        self.encoder = encoder
        self.max_features = max_features
        self.min_df = min_df
        self.ngram_max = ngram_max
        self.centered = centered
        self.catalog = catalog
        self.popularity_prior = popularity_prior
        self.profile_shrinkage = profile_shrinkage
        self.random_state = random_state

    def _check_params(self, data: Interactions) -> None:
        for name in ("text_fields", "list_fields", "numeric_fields"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, str) or not all(
                    isinstance(v, str) for v in value)):
                raise ConfigError(f"ContentKNN: {name} must be a list of column names or None, "
                                  f"got {value!r}")
        if self.text_weight == 0 and self.list_weight == 0 and self.numeric_weight == 0:
            raise ConfigError("ContentKNN: text_weight, list_weight and numeric_weight cannot "
                              "all be 0")

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
            numeric_fields=self.numeric_fields, text_weight=self.text_weight,
            list_weight=self.list_weight, numeric_weight=self.numeric_weight,
            numeric_bandwidth=self.numeric_bandwidth, encoder=self.encoder,
            max_features=self.max_features, min_df=self.min_df, ngram_max=self.ngram_max)
        if vectors.shape[1] == 0:
            raise DataError("the item metadata produced no features (empty text and "
                            "category columns)")
        self.item_vectors_ = vectors
        self.feature_names_ = np.asarray(names, dtype=str)
        self.has_features_ = np.asarray(vectors.getnnz(axis=1) > 0)
        self.user_weights_ = user_weights(self.user_items_,
                                          self.centered and data.is_explicit)
        self.prior_ = _log_prior(self.item_popularity_)
        self.popularity_prior_, self.profile_shrinkage_ = self._choose_prior(data)

    def _choose_prior(self, data: Interactions) -> tuple[float, float]:
        """``(popularity_prior, profile_shrinkage)``: as given, or chosen on a validation split."""
        auto_b = isinstance(self.popularity_prior, str)
        auto_k = isinstance(self.profile_shrinkage, str)
        b_grid = PRIOR_GRID if auto_b else (float(self.popularity_prior),)
        k_grid = SHRINKAGE_GRID if auto_k else (float(self.profile_shrinkage),)
        if not auto_b and not auto_k:
            return b_grid[0], k_grid[0]
        rng = check_random_state(self.random_state)
        fit_part, held = self._validation_split(data, rng)
        users = np.nonzero(np.diff(held.indptr) > 0)[0]
        if len(users) == 0:  # too little data to validate anything: no prior, no shrinkage
            return (0.0 if auto_b else b_grid[0]), (0.0 if auto_k else k_grid[0])
        if len(users) > _AUTO_USERS:
            users = np.sort(rng.choice(users, _AUTO_USERS, replace=False))
        table = prior_grid_ndcg(fit_part, held, users, self.item_vectors_,
                                self.centered and data.is_explicit, b_grid, k_grid)
        self.prior_validation_ = table
        best = np.unravel_index(int(np.argmax(table)), table.shape)  # first best: smallest b, k
        return float(b_grid[best[0]]), float(k_grid[best[1]])

    def _validation_split(self, data: Interactions, rng: np.random.Generator
                          ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The training interactions split by :func:`likewise.splits.user_holdout` (20% of
        each user's, at least one kept), as matrices over the model's items."""
        train = Interactions(self.user_items_, self.users_, self.items_, kind=data.kind)
        fit_part, held = user_holdout(train, test_size=0.2, random_state=rng)
        return fit_part.matrix, held.matrix

    # -- scoring ----------------------------------------------------------------------
    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        n = np.diff(self.user_items_.indptr)[user_idx]
        return _blend_prior(profile_scores(self.user_weights_[user_idx], self.item_vectors_),
                            self.prior_, n, self.popularity_prior_, self.profile_shrinkage_)

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        row = sp.csr_matrix((values.astype(np.float32), item_idx, [0, len(item_idx)]),
                            shape=(1, self.n_items))
        row.sum_duplicates()
        w = user_weights(row, self.centered and self.kind_ == "explicit")
        return _blend_prior(profile_scores(w, self.item_vectors_), self.prior_,
                            np.array([row.nnz]), self.popularity_prior_,
                            self.profile_shrinkage_)[0]

    def _derive(self) -> None:
        # similar_items multiplies by the transposed item vectors: once per fit / load
        self._cache_vectors_t = self.item_vectors_.T.tocsr()

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        vt = self._cache_vectors_t
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

    def _validate_state(self) -> None:
        super()._validate_state()
        check_state(self, {"item_vectors_": ("items", None), "has_features_": ("items",),
                           "prior_": ("items",), "user_weights_": ("users", "items")},
                    finite=("item_vectors_", "prior_", "user_weights_"),
                    required=("item_vectors_",))

    def _after_load(self) -> None:
        super()._after_load()
        # models saved before the learned prior attributes existed
        if not hasattr(self, "popularity_prior_"):
            self.popularity_prior_ = float(self.popularity_prior)
            self.profile_shrinkage_ = 0.0

    def item_vectors(self, items) -> sp.csr_matrix:
        """The L2-normalised feature rows of ``items`` (external ids; unknown ids raise)."""
        self._check_fitted()
        from ..errors import UnknownItemError

        idx = self.items_.index(np.asarray(items).reshape(-1), "raise", error=UnknownItemError,
                                what="item")
        return self.item_vectors_[idx]
