"""Popularity recommenders: by count, mean rating, IMDB weighted rating, or trending."""

from __future__ import annotations

import numpy as np

from .._params import Choice, Float, Int
from ..errors import ConfigError, DataError, UnsupportedError
from ._persistence import check_state
from .base import Recommender

__all__ = ["Popularity"]


class Popularity(Recommender):
    """Recommend the most popular items the user has not seen.

    Parameters
    ----------
    method : {"count", "mean", "weighted", "trending"}
        ``count``: number of interactions (or sum of implicit weights with
        ``weighted_counts=True``). ``mean``: mean rating, for items with at least
        ``min_count`` ratings. ``weighted``: the IMDB weighted rating
        ``WR = v/(v+m) * R + m/(v+m) * C`` (v: the item's rating count, R: its mean,
        C: the global mean, m: ``m`` or the ``m_quantile`` quantile of the counts).
        ``trending``: time-decayed counts ``sum 0.5 ** (age / half_life)``.
    min_count : int
        Items with fewer interactions score lowest (``mean`` method).
    m : float, optional
        Vote-count threshold of the weighted rating; default from ``m_quantile``.
    m_quantile : float
        Quantile of the items' counts used as ``m`` when ``m`` is None (IMDB uses a high
        quantile so only well-rated items with many votes rise).
    half_life_days : float
        Half-life of the trending decay.
    reference_time : int, optional
        "Now" for trending (Unix seconds); default the newest training timestamp.

    Examples
    --------
    >>> import likewise
    >>> model = likewise.Popularity(method="weighted").fit(likewise.datasets.movielens())
    >>> model.recommend([1], n=3).items.shape
    (1, 3)
    """

    estimates_ratings = False
    _param_spec = {
        "method": Choice(("count", "mean", "weighted", "trending"),
                         help="Interaction count, mean rating, IMDB weighted rating or "
                              "time-decayed counts."),
        "min_count": Int(1, help="Items with fewer interactions score lowest (mean method)."),
        "m": Float(0.0, none_ok=True, help="Vote-count threshold of the weighted rating "
                                           "(default: from m_quantile)."),
        "m_quantile": Float(0.0, 1.0, help="Quantile of the items' counts used as m when m is "
                                           "None."),
        "half_life_days": Float(0.0, low_open=True, help="Half-life of the trending decay, in "
                                                         "days."),
        "reference_time": Int(none_ok=True, help="'Now' for trending, in Unix seconds "
                                                 "(default: the newest timestamp)."),
    }

    def __init__(self, *, method: str = "count", min_count: int = 1, m: float | None = None,
                 m_quantile: float = 0.9, half_life_days: float = 30.0,
                 reference_time: int | None = None):
        self.method = method
        self.min_count = min_count
        self.m = m
        self.m_quantile = m_quantile
        self.half_life_days = half_life_days
        self.reference_time = reference_time

    def _check_params(self, data) -> None:
        if self.method in ("mean", "weighted") and not data.is_explicit:
            raise ConfigError(f"Popularity: method={self.method!r} needs explicit ratings; use "
                              "'count' or 'trending' for implicit data")
        if self.method == "trending" and data.timestamps is None:
            raise DataError("Popularity(method='trending') needs timestamps; load the data "
                            "with a timestamp column or use method='count'")

    def _validate_state(self) -> None:
        super()._validate_state()
        # items below min_count score -inf on purpose; NaN never
        check_state(self, {"item_scores_": ("items",)}, no_nan=("item_scores_",),
                    required=("item_scores_",))

    def _fit(self, data) -> None:
        m = data.matrix
        counts = np.bincount(m.indices, minlength=data.n_items).astype(np.float64)
        if self.method == "count":
            scores = counts if data.is_explicit else \
                np.bincount(m.indices, weights=m.data, minlength=data.n_items)
        elif self.method == "trending":
            ref = self.reference_time if self.reference_time is not None \
                else int(data.timestamps.max())
            age_days = (ref - data.timestamps).astype(np.float64) / 86400.0
            decay = 0.5 ** (np.maximum(age_days, 0.0) / self.half_life_days)
            scores = np.bincount(m.indices, weights=decay, minlength=data.n_items)
        else:
            sums = np.bincount(m.indices, weights=m.data, minlength=data.n_items)
            means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
            if self.method == "mean":
                scores = np.where(counts >= self.min_count, means, -np.inf)
            else:
                c = float(m.data.mean())
                v_threshold = self.m if self.m is not None else \
                    float(np.quantile(counts[counts > 0], self.m_quantile))
                self.vote_threshold_ = v_threshold
                denom = counts + v_threshold
                scores = np.where(denom > 0, counts / np.where(denom > 0, denom, 1) * means
                                  + v_threshold / np.where(denom > 0, denom, 1) * c, c)
        self.item_scores_ = np.asarray(scores, dtype=np.float32)

    def _score(self, user_idx):
        return np.broadcast_to(self.item_scores_, (len(user_idx), self.n_items)).copy()

    def _predict_idx(self, user_idx, item_idx):
        return self.item_scores_[item_idx]

    def _fallback_predict(self, u, i):
        out = np.full(len(u), np.nan, dtype=np.float32)
        out[i >= 0] = self.item_scores_[i[i >= 0]]
        if self.method in ("count", "trending"):
            out[i < 0] = 0.0
        else:
            out[i < 0] = self.global_mean_
        return out

    def _fallback_scores(self):
        return self.item_scores_

    def _score_history(self, item_idx, values):
        return self.item_scores_.copy()

    def _similar_items_idx(self, item_idx, n):
        raise UnsupportedError("Popularity has no notion of item similarity; use ItemKNN, "
                               "ContentKNN or a factor model")
