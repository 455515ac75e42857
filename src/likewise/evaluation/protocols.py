"""Evaluation protocols: how data is split and how a fitted model is scored on each split.

Two tasks, five protocols (and :class:`GivenSplit` for your own train and test):

``rating_holdout`` (:class:`RatingHoldout`), ``rating_cv`` (:class:`RatingCV`)
    Rating prediction: fit on the training interactions, predict every held-out
    (user, item) pair, report RMSE / MAE / MSE. Pairs whose user or item has no training
    data get the model's fallback estimate (as in Surprise), so every pair is scored.

``topn_user_holdout`` (:class:`TopNUserHoldout`), ``topn_temporal`` (:class:`TopNTemporal`),
``topn_leave_one_out`` (:class:`TopNLeaveOneOut`, one random held-out item per user)
    Top-N ranking over **all** items each user has not seen in training (never a sample
    of negatives): one batched ``model.recommend(test_users, n=k, exclude_seen=True)``
    call, then precision, recall, hit rate, NDCG, MAP and MRR at ``k`` against the user's
    held-out items, plus catalogue coverage, novelty, intra-list diversity and average
    recommendation popularity. AUC (opt-in: ``metrics=[..., "auc"]``) ranks the whole
    catalogue for every test user, in blocks.

Relevance (top-N)
    By default every held-out interaction is relevant. For explicit data,
    ``relevance_threshold=4`` keeps only held-out ratings >= 4 (users with none are not
    evaluated). With ``gain="linear"`` or ``"exponential"`` NDCG uses the rating as a
    graded relevance.

Users evaluated (top-N)
    Users with at least one relevant held-out item **and** at least one training
    interaction. Users without training data (possible with the global temporal split)
    are counted in ``cold_users`` and skipped: every model would answer them with a
    popularity fallback.

Examples
--------
>>> import likewise
>>> from likewise.evaluation.protocols import TopNUserHoldout, evaluate
>>> data = likewise.datasets.movielens("100k")
>>> scores = evaluate(likewise.Popularity(), data, TopNUserHoldout(k=10))
>>> round(scores["precision@10"], 3)  # doctest: +SKIP
0.101
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._params import Choice, Float, Int, RandomState, validate
from ..data.interactions import Interactions
from ..errors import ConfigError, DataError, UnsupportedError
from . import metrics as M

__all__ = [
    "DEFAULT_TOPN_METRICS",
    "PROTOCOLS",
    "RATING_METRICS",
    "TOPN_METRICS",
    "Protocol",
    "RatingCV",
    "RatingHoldout",
    "GivenSplit",
    "TopNLeaveOneOut",
    "TopNTemporal",
    "TopNUserHoldout",
    "evaluate",
    "share_vocabularies",
    "evaluate_fold",
    "get_protocol",
    "predict_all_unrated",
]

RATING_METRICS = ("rmse", "mae", "mse")
TOPN_METRICS = ("precision", "recall", "hit_rate", "ndcg", "map", "mrr", "auc", "coverage",
                "novelty", "diversity", "arp")
#: AUC is left out by default: it ranks the whole catalogue for every test user.
DEFAULT_TOPN_METRICS = tuple(m for m in TOPN_METRICS if m != "auc")
_AUC_BLOCK_CELLS = 4_000_000  # users x items per recommend() call when ranking everything


# ---------------------------------------------------------------------------------------
# protocol objects
# ---------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class Protocol:
    """Base class: a way to split data and score a model on each split.

    Subclasses define :meth:`splits` and :attr:`task` (``"rating"`` or ``"topn"``).
    """

    random_state: Any = 0
    task = "rating"
    name = "protocol"
    #: The ranking metric :func:`likewise.compare` sorts by when none is named.
    headline = "ndcg"

    def splits(self, data: Interactions) -> Iterator:
        raise NotImplementedError

    def n_splits(self) -> int:
        return 1

    def default_metrics(self) -> tuple[str, ...]:
        return RATING_METRICS if self.task == "rating" else DEFAULT_TOPN_METRICS

    def metric_names(self, metrics=None) -> list[str]:
        """Full metric names (``ndcg@10``...) for ``metrics`` (base names) or the defaults."""
        base = self._check_metrics(metrics)
        if self.task == "rating":
            return list(base)
        k = getattr(self, "k", 10)
        return [m if m == "auc" else f"{m}@{k}" for m in base]

    def _check_metrics(self, metrics) -> tuple[str, ...]:
        if metrics is None:
            return self.default_metrics()
        if isinstance(metrics, str):
            metrics = [metrics]
        allowed = RATING_METRICS if self.task == "rating" else TOPN_METRICS
        out = []
        for m in metrics:
            base = str(m).split("@")[0].lower()
            if base not in allowed:
                raise ConfigError(f"metric {m!r} is not available for the {self.name} protocol; "
                                  f"choose from {', '.join(allowed)}")
            if "@" in str(m) and self.task == "topn" and str(m).split("@")[1] != str(self.k):
                raise ConfigError(f"metric {m!r} asks for a cut-off other than k={self.k}; "
                                  "set k on the protocol instead")
            if base not in out:
                out.append(base)
        return tuple(out)

    def describe(self) -> dict:
        """Protocol name and parameters (for reports)."""
        from dataclasses import fields

        params = {f.name: getattr(self, f.name) for f in fields(self)}
        params = {k: v for k, v in params.items()
                  if not isinstance(v, (np.random.Generator, np.ndarray))}
        return {"protocol": self.name, **params}

    def check_data(self, data: Interactions) -> None:
        if not isinstance(data, Interactions):
            raise DataError(f"{self.name}: data must be likewise Interactions (from "
                            f"likewise.read_csv or likewise.datasets), got {type(data).__name__}")
        if self.task == "rating" and not data.is_explicit:
            raise ConfigError(f"{self.name} measures rating error but the data is implicit "
                              "(no ratings); use protocol='topn_user_holdout' or 'topn_temporal'")


@dataclass(kw_only=True)
class RatingHoldout(Protocol):
    """One random holdout of interactions; RMSE / MAE / MSE on the held-out ratings.

    Parameters
    ----------
    test_size : float
        Fraction of interactions held out, in (0, 1).
    random_state : None, int or Generator
    """

    test_size: float = 0.2
    task = "rating"
    name = "rating_holdout"

    def splits(self, data):
        from ..data import splits

        validate(self.name, {"test_size": Float(0.0, 1.0, low_open=True, high_open=True),
                             "random_state": RandomState()}, vars(self))
        yield splits.holdout(data, test_size=self.test_size, random_state=self.random_state)


@dataclass(kw_only=True)
class RatingCV(Protocol):
    """K-fold cross-validation over interactions (each rating is in test exactly once).

    Parameters
    ----------
    folds : int
        Number of folds, >= 2.
    random_state : None, int or Generator
    """

    folds: int = 5
    task = "rating"
    name = "rating_cv"

    def n_splits(self) -> int:
        return self.folds

    def splits(self, data):
        from ..data import splits

        validate(self.name, {"folds": Int(2), "random_state": RandomState()}, vars(self))
        yield from splits.kfold(data, k=self.folds, random_state=self.random_state)


@dataclass(kw_only=True)
class _TopN(Protocol):
    k: int = 10
    relevance_threshold: float | None = None
    gain: str = "binary"
    item_features: Any = field(default="auto", repr=False)
    task = "topn"

    def _validate_common(self, extra: dict) -> None:
        spec = {"k": Int(1), "relevance_threshold": Float(none_ok=True),
                "gain": Choice(("binary", "linear", "exponential")),
                "random_state": RandomState(), **extra}
        validate(self.name, spec, vars(self))

    def describe(self) -> dict:
        out = super().describe()
        if not isinstance(self.item_features, str):
            out["item_features"] = "given"
        return out


@dataclass(kw_only=True)
class TopNUserHoldout(_TopN):
    """Per-user random holdout (or user k-fold) ranked against every unseen item.

    Parameters
    ----------
    k : int
        List length and metric cut-off.
    test_size : float
        Fraction of each test user's interactions held out.
    folds : int
        1: every user holds out ``test_size`` (one split). >= 2: users are cut into
        ``folds`` groups and each split tests one group (:func:`likewise.splits.user_kfold`).
    relevance_threshold : float, optional
        Explicit data: only held-out ratings >= this are relevant. Default: all.
    gain : {"binary", "linear", "exponential"}
        NDCG gain (graded gains use the held-out rating).
    item_features : "auto", "interactions", array or sparse matrix
        Item vectors for intra-list diversity: ``"auto"`` uses one-hot genres when the item
        metadata has a ``genres`` column, else the training interaction columns.
    random_state : None, int or Generator
    """

    test_size: float = 0.2
    folds: int = 1
    name = "topn_user_holdout"

    def n_splits(self) -> int:
        return self.folds

    def splits(self, data):
        from ..data import splits

        self._validate_common({"test_size": Float(0.0, 1.0, low_open=True, high_open=True),
                               "folds": Int(1)})
        if self.folds == 1:
            yield splits.user_holdout(data, test_size=self.test_size,
                                      random_state=self.random_state)
        else:
            yield from splits.user_kfold(data, k=self.folds, test_size=self.test_size,
                                         random_state=self.random_state)


@dataclass(kw_only=True)
class TopNTemporal(_TopN):
    """Temporal split (train on the past, test on the future) ranked against unseen items.

    Parameters
    ----------
    k : int
        List length and metric cut-off.
    test_size : float
        Global mode: the latest ``test_size`` of all interactions are test (one cutoff
        time for everyone, no leakage from the future). Per-user mode: each user's latest
        fraction.
    per_user : bool
        Split each user's history by time (leave-last-out style) instead of one global
        cutoff.
    test_k : int, optional
        Per-user mode: hold out exactly each user's ``test_k`` latest interactions.
    relevance_threshold, gain, item_features, random_state
        As in :class:`TopNUserHoldout`.
    """

    test_size: float = 0.2
    per_user: bool = False
    test_k: int | None = None
    name = "topn_temporal"

    def splits(self, data):
        from ..data import splits

        self._validate_common({"test_size": Float(0.0, 1.0, low_open=True, high_open=True),
                               "test_k": Int(1, none_ok=True)})
        if self.per_user:
            if self.test_k is not None:
                yield splits.temporal_user(data, test_k=self.test_k)
            else:
                yield splits.temporal_user(data, test_size=self.test_size)
        else:
            yield splits.temporal(data, test_size=self.test_size)


@dataclass(kw_only=True)
class TopNLeaveOneOut(_TopN):
    """Random leave-one-out: one random held-out interaction per user, hit rate at ``k``.

    The tutorials' protocol: each user with at least two interactions gives one random
    interaction to test and keeps the rest in train; the model ranks every item the user
    has not seen in training and a hit is the held-out item in the top ``k``. With one
    relevant item per user, ``hit_rate@k`` equals ``recall@k`` and ``mrr@k`` is the mean
    reciprocal rank of the held-out item (0 beyond ``k``). Users with a single interaction
    stay whole in train (they have nothing to hold out).

    Parameters
    ----------
    k : int
        List length and metric cut-off.
    relevance_threshold, gain, item_features, random_state
        As in :class:`TopNUserHoldout`.
    """

    name = "topn_leave_one_out"
    headline = "hit_rate"

    def default_metrics(self) -> tuple[str, ...]:
        return ("hit_rate", "ndcg", "mrr", "coverage")

    def splits(self, data):
        from ..data import splits

        self._validate_common({})
        yield splits.user_holdout(data, test_k=1, min_train=1, random_state=self.random_state)


@dataclass(kw_only=True)
class GivenSplit(_TopN):
    """The caller's own train and test interactions (one split, scored as given).

    Built by :func:`likewise.compare` from ``train=`` and ``test=``; both must share their
    id vocabularies (:func:`share_vocabularies` makes them do so). Test pairs whose user or
    item has no training data are *cold*: rating protocols score them with the model's
    fallback and report their number as ``cold_pairs``; top-N protocols count test items
    without training data as misses (no model can rank them) and skip test users without
    training data, reporting them as ``cold_users``.

    Parameters
    ----------
    train, test : Interactions
    task : {"rating", "topn"}
        Rating-error metrics or top-N ranking metrics.
    k, relevance_threshold, gain, item_features
        Top-N options, as in :class:`TopNUserHoldout`.
    """

    train: Any = field(default=None, repr=False)
    test: Any = field(default=None, repr=False)
    task: str = "rating"
    name = "given_split"

    def splits(self, data=None):
        from ..data.splits import Split

        self._validate_common({"task": Choice(("rating", "topn"))})
        yield Split(self.train, self.test)

    def check_data(self, data: Interactions | None = None) -> None:
        for part in ("train", "test"):
            super().check_data(getattr(self, part))

    def describe(self) -> dict:
        out = super().describe()
        for part in ("train", "test"):
            del out[part]
            out[f"{part}_interactions"] = getattr(self, part).nnz
        if self.task == "rating":
            for key in ("k", "relevance_threshold", "gain", "item_features"):
                out.pop(key, None)
        out.pop("random_state", None)
        return out


def share_vocabularies(train: Interactions, test: Interactions):
    """``Split(train, test)`` over one user and one item vocabulary (the union of both).

    Data read from two files (``likewise data split`` writes ``train.csv`` and
    ``test.csv``) has two vocabularies: index ``u`` would mean different users in each.
    When the vocabularies already agree the two are returned unchanged; otherwise both are
    rebuilt over the union of their ids, so a test id absent from train becomes a known id
    without training data (a cold user or item).
    """
    from ..data.splits import Split
    from ..data.vocabulary import Vocabulary

    for name, part in (("train", train), ("test", test)):
        if not isinstance(part, Interactions):
            raise DataError(f"compare: {name} must be likewise Interactions (from "
                            f"likewise.read_csv), got {type(part).__name__}")
    if train.kind != test.kind:
        raise DataError(f"compare: train is {train.kind} but test is {test.kind}; read both "
                        "files with the same options (rating column, kind)")
    if train.users == test.users and train.items == test.items:
        return Split(train, test)
    # one code per id of train's vocabulary, then one per id of test's
    users, user_codes = Vocabulary.from_values(
        np.concatenate([train.users.ids, test.users.ids]), what="user ids")
    items, item_codes = Vocabulary.from_values(
        np.concatenate([train.items.ids, test.items.ids]), what="item ids")
    scale = None
    if train.rating_scale is not None and test.rating_scale is not None:
        scale = (min(train.rating_scale[0], test.rating_scale[0]),
                 max(train.rating_scale[1], test.rating_scale[1]))
    nu, ni = train.n_users, train.n_items
    return Split(_recode(train, users, items, user_codes[:nu], item_codes[:ni], scale),
                 _recode(test, users, items, user_codes[nu:], item_codes[ni:], scale))


def _recode(part: Interactions, users, items, user_map, item_map, scale) -> Interactions:
    """``part`` over the vocabularies ``users``/``items``; ``*_map[old index]`` = new index."""
    e = part.entries()
    ts = None if e.timestamps is None else e.timestamps.copy()
    return Interactions.from_codes(
        np.asarray(user_map, np.int64)[e.users], np.asarray(item_map, np.int64)[e.items],
        e.values.copy(), ts, users=users, items=items, kind=part.kind, rating_scale=scale,
        duplicates="error", source=part.source, item_metadata=part.item_metadata,
        user_metadata=part.user_metadata)


PROTOCOLS = {"rating_holdout": RatingHoldout, "rating_cv": RatingCV,
             "topn_user_holdout": TopNUserHoldout, "topn_temporal": TopNTemporal,
             "topn_leave_one_out": TopNLeaveOneOut}


def get_protocol(protocol: str | Protocol = "rating_cv", *, k: int | None = None,
                 folds: int | None = None, random_state: Any = 0, **options) -> Protocol:
    """A :class:`Protocol` from its name (options that do not apply are ignored).

    ``folds`` applies to ``rating_cv`` and ``topn_user_holdout`` (user k-fold when >= 2);
    ``k`` to the top-N protocols. A Protocol object is returned unchanged.

    Examples
    --------
    >>> get_protocol("rating_cv", folds=3).folds
    3
    """
    if isinstance(protocol, Protocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))} or a "
                          f"Protocol object; got {protocol!r}")
    cls = PROTOCOLS[protocol]
    kwargs: dict[str, Any] = {"random_state": random_state}
    names = set(cls.__dataclass_fields__)
    if k is not None and "k" in names:
        kwargs["k"] = k
    if folds is not None and "folds" in names:
        kwargs["folds"] = folds
    for key, value in options.items():
        if key not in names:
            raise ConfigError(f"protocol {protocol!r} has no option {key!r}; valid: "
                              f"{', '.join(sorted(names))}")
        kwargs[key] = value
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------
# scoring one split
# ---------------------------------------------------------------------------------------
def evaluate_fold(model, split, protocol: Protocol, metrics=None, *, fit: bool = True) -> dict:
    """Fit ``model`` on ``split.train`` (unless ``fit=False``) and score it on ``split.test``.

    Returns a dict of metric values plus ``fit_time`` and ``predict_time`` (seconds; the
    predict time covers the model calls only, not the metric arithmetic) and counts of
    what was evaluated: rating protocols report ``n_test`` pairs and ``cold_pairs`` (pairs
    whose user or item has no training data, scored by the fallback); top-N protocols
    report ``n_users`` evaluated and ``cold_users`` skipped.
    """
    base = protocol._check_metrics(metrics)
    train, test = split
    out: dict[str, float] = {}
    if fit:
        t0 = time.perf_counter()
        model.fit(train)
        out["fit_time"] = time.perf_counter() - t0
    else:
        out["fit_time"] = float("nan")
    if protocol.task == "rating":
        out.update(_score_ratings(model, train, test, base))
    else:
        out.update(_score_topn(model, train, test, protocol, base))
    return out


def _score_ratings(model, train: Interactions, test: Interactions, base) -> dict:
    if not model.estimates_ratings:
        raise UnsupportedError(f"{type(model).__name__} ranks items but does not estimate "
                               "ratings; evaluate it with a top-N protocol")
    e = test.entries()
    # pairs whose user or item has no training data: scored by the model's fallback
    user_known = np.diff(train.matrix.indptr) > 0
    item_known = np.bincount(train.matrix.indices, minlength=train.n_items) > 0
    cold = ~(user_known[e.users] & item_known[e.items])
    t0 = time.perf_counter()
    pred = model.predict(test.users.ids_of(e.users), test.items.ids_of(e.items))
    elapsed = time.perf_counter() - t0
    funcs = {"rmse": M.rmse, "mae": M.mae, "mse": M.mse}
    out = {name: funcs[name](e.values, pred) for name in base}
    out["predict_time"] = elapsed
    out["n_test"] = float(len(pred))
    out["cold_pairs"] = float(cold.sum())
    return out


def _relevance(test: Interactions, threshold, gain: str) -> sp.csr_matrix:
    rel = test.matrix.tocsr(copy=True)
    if threshold is not None:
        if not test.is_explicit:
            raise ConfigError("relevance_threshold needs explicit ratings; the data is implicit")
        rel.data = np.where(rel.data >= threshold, rel.data, 0).astype(np.float32)
        rel.eliminate_zeros()
    if gain == "binary":
        rel.data = np.ones_like(rel.data)
    return rel


def _item_vectors(spec, train: Interactions):
    if not isinstance(spec, str):
        vectors = spec
        if vectors.shape[0] != train.n_items:
            raise DataError(f"item_features has {vectors.shape[0]} rows but the data has "
                            f"{train.n_items} items")
        return vectors
    if spec not in ("auto", "interactions"):
        raise ConfigError(f"item_features must be 'auto', 'interactions' or a matrix with one "
                          f"row per item; got {spec!r}")
    meta = train.item_metadata
    if spec == "auto" and meta is not None and "genres" in getattr(meta, "columns", ()):
        genres = meta["genres"].reindex(train.items.ids).fillna("").astype(str)
        onehot = genres.str.get_dummies(sep="|")
        if onehot.shape[1]:
            return sp.csr_matrix(onehot.to_numpy(dtype=np.float32))
    # item vectors = the item's column of the (binarised) training matrix
    m = train.matrix.T.tocsr()
    m.data = np.ones_like(m.data)
    return m


def _score_topn(model, train: Interactions, test: Interactions, protocol: _TopN, base) -> dict:
    rel_all = _relevance(test, protocol.relevance_threshold, protocol.gain)
    has_rel = np.diff(rel_all.indptr) > 0
    has_train = np.diff(train.matrix.indptr) > 0
    users = np.flatnonzero(has_rel & has_train)
    out: dict[str, float] = {"n_users": float(len(users)),
                             "cold_users": float((has_rel & ~has_train).sum())}
    if len(users) == 0:
        raise DataError(f"{protocol.name}: no test user has both training data and a relevant "
                        "held-out item; lower relevance_threshold or change the split")
    k = protocol.k
    user_ids = train.users.ids_of(users)
    t0 = time.perf_counter()
    recs = model.recommend(user_ids, n=k, exclude_seen=True)
    out["predict_time"] = time.perf_counter() - t0
    idx = _to_data_indices(model, recs.item_indices, train)
    rel = rel_all[users]
    ranking = {"precision": M.precision_at_k, "recall": M.recall_at_k,
               "hit_rate": M.hit_rate_at_k, "map": M.map_at_k, "mrr": M.mrr_at_k}
    counts = np.bincount(train.matrix.indices, minlength=train.n_items)
    for name in base:
        key = f"{name}@{k}"
        if name in ranking:
            out[key] = ranking[name](idx, rel, k)
        elif name == "ndcg":
            out[key] = M.ndcg_at_k(idx, rel, k, gain=protocol.gain)
        elif name == "coverage":
            out[key] = M.catalogue_coverage(idx, train.n_items)
        elif name == "novelty":
            out[key] = M.novelty(idx, counts, int(has_train.sum()))
        elif name == "arp":
            out[key] = M.average_recommendation_popularity(idx, counts)
        elif name == "diversity":
            out[key] = M.intra_list_diversity(idx, _item_vectors(protocol.item_features, train))
        elif name == "auc":
            out["auc"] = _full_ranking_auc(model, user_ids, rel, train, out)
    return out


def _to_data_indices(model, item_indices: np.ndarray, train: Interactions) -> np.ndarray:
    """Model item indices -> indices of the evaluation data (identical unless refitted)."""
    if model.items_ is train.items or model.items_ == train.items:
        return item_indices
    ids = model.items_.ids_of(item_indices)
    mapped = train.items.index(ids.reshape(-1), "ignore").reshape(item_indices.shape)
    return np.where(item_indices >= 0, mapped, -1)


def _full_ranking_auc(model, user_ids, rel, train, out) -> float:
    n_items = train.n_items
    block = max(1, _AUC_BLOCK_CELLS // max(n_items, 1))
    per_user = np.empty(len(user_ids))
    t0 = time.perf_counter()
    for lo in range(0, len(user_ids), block):
        hi = min(lo + block, len(user_ids))
        full = model.recommend(user_ids[lo:hi], n=n_items, exclude_seen=True)
        idx = _to_data_indices(model, full.item_indices, train)
        per_user[lo:hi] = M.auc(idx, rel[lo:hi], per_user=True)
    out["predict_time"] += time.perf_counter() - t0
    valid = ~np.isnan(per_user)
    return float(per_user[valid].mean()) if valid.any() else float("nan")


# ---------------------------------------------------------------------------------------
# convenience
# ---------------------------------------------------------------------------------------
def evaluate(model, data: Interactions, protocol: str | Protocol = "rating_holdout", *,
             metrics=None, **protocol_options) -> dict:
    """Evaluate one model under a protocol; the mean of each metric over the splits.

    Parameters
    ----------
    model : Recommender
        Cloned for every split (the object passed in is not fitted).
    data : Interactions
    protocol : str or Protocol
        ``"rating_holdout"``, ``"rating_cv"``, ``"topn_user_holdout"``, ``"topn_temporal"``
        or a :class:`Protocol` object.
    metrics : list of str, optional
        Base metric names (default: the protocol's).
    **protocol_options
        Passed to :func:`get_protocol` (``k``, ``folds``, ``random_state``...).

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> round(evaluate(likewise.Baseline(), data, "rating_holdout")["rmse"], 2)  # doctest: +SKIP
    0.94
    """
    proto = get_protocol(protocol, **protocol_options)
    proto.check_data(data)
    rows = [evaluate_fold(model.clone(), split, proto, metrics) for split in proto.splits(data)]
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def predict_all_unrated(model, data: Interactions, users: Any = None, *,
                        block: int | None = None, blocks: bool = False):
    """Predict every (user, item) pair the user has not rated in ``data``, in blocks.

    The tutorial classic ("fill in the whole matrix") done without ever holding a dense
    users x items array: users are processed ``block`` at a time, each block's unrated
    pairs are found with one boolean mask and predicted with one vectorised
    ``model.predict`` call.

    Parameters
    ----------
    model : Recommender
        A fitted model (usually fitted on ``data``).
    data : Interactions
        Defines the users, the items and what counts as already rated.
    users : array-like, optional
        External user ids to predict for (default: every user of ``data``).
    block : int, optional
        Users per block; default such that a block holds about 4 million pairs.
    blocks : bool
        Return a generator of per-block DataFrames instead of one DataFrame.

    Returns
    -------
    pandas.DataFrame or generator of DataFrame
        Columns ``user, item, prediction``, ordered by user then item.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.Baseline().fit(data)
    >>> frame = predict_all_unrated(model, data, users=[1, 2])
    >>> len(frame) == 2 * data.n_items - data.matrix[:2].nnz
    True
    """
    if not isinstance(data, Interactions):
        raise DataError(f"data must be likewise Interactions, got {type(data).__name__}")
    if block is not None:
        validate("predict_all_unrated", {"block": Int(1)}, {"block": block})
    if users is None:
        user_idx = np.arange(data.n_users, dtype=np.int64)
    else:
        from ..errors import UnknownUserError

        user_idx = data.users.index(users, "raise", error=UnknownUserError, what="user")
    size = block or max(1, _AUC_BLOCK_CELLS // max(data.n_items, 1))
    gen = _unrated_blocks(model, data, user_idx, size)
    if blocks:
        return gen
    import pandas as pd

    parts = list(gen)
    if not parts:
        return pd.DataFrame({"user": data.users.ids[:0], "item": data.items.ids[:0],
                             "prediction": np.empty(0, np.float32)})
    return pd.concat(parts, ignore_index=True)


def _unrated_blocks(model, data: Interactions, user_idx: np.ndarray, size: int):
    import pandas as pd

    n_items = data.n_items
    for lo in range(0, len(user_idx), size):
        rows = user_idx[lo:lo + size]
        seen = data.matrix[rows]
        unrated = np.ones((len(rows), n_items), dtype=bool)
        unrated[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = False
        r, c = np.nonzero(unrated)
        user_ids = data.users.ids_of(rows[r])
        item_ids = data.items.ids_of(c)
        yield pd.DataFrame({"user": user_ids, "item": item_ids,
                            "prediction": model.predict(user_ids, item_ids)})
