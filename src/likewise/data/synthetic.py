"""Synthetic interaction data with a known latent-factor structure.

The generator draws, for a fixed seed:

* user activity from a heavy-tailed (Pareto) distribution, with a floor like MovieLens'
  "at least 20 ratings per user" when there is room for it;
* item popularity from a Zipf law over a random item order;
* user and item factors (``factors`` dimensions) and biases.

Each user's items are picked in two steps: candidates are drawn by popularity (about
two per interaction, deduplicated), then the user keeps the candidates with the
largest ``score + Gumbel noise`` (score = dot product of the factors), which samples
without replacement proportionally to ``exp(score)`` among the candidates. So who
interacts with what carries the factor structure (learnable by implicit models), and
explicit ratings are ``global mean + user bias + item bias + score + noise`` rounded to
the rating scale (learnable by rating predictors).

Work is done per user in a numba kernel, never as a users x items matrix. Random
numbers inside the kernel come from a counter-based hash of (seed, user, draw), so the
result is identical for a seed whatever the number of threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from ..errors import ConfigError

__all__ = ["PRESETS", "SyntheticTruth", "synthetic", "write_csv"]

#: Shapes of well-known data sets, usable as ``synthetic(preset=...)``.
PRESETS: dict[str, dict[str, int]] = {
    "movielens-100k": dict(n_users=943, n_items=1682, n_interactions=100_000),
    "movielens-1m": dict(n_users=6040, n_items=3706, n_interactions=1_000_209),
    "movielens-20m": dict(n_users=138_493, n_items=26_744, n_interactions=20_000_263),
}

_T0 = 1_000_000_000  # 2001-09-09: timestamps fall in the following ~15 years
_SPAN = 15 * 365 * 86_400


@dataclass(frozen=True)
class SyntheticTruth:
    """The parameters the data were generated from, aligned with the data's vocabularies.

    ``expected_rating(u, i) = global_mean + user_bias[u] + item_bias[i] +
    user_factors[u] @ item_factors[i]`` (before noise and rounding).
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float

    def expected(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Noise-free ratings of (user index, item index) pairs."""
        dots = np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])
        return self.global_mean + self.user_bias[users] + self.item_bias[items] + dots


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

@njit(inline="always", cache=True)
def _mix(x):
    # splitmix64 finaliser: a good 64-bit hash, cheap enough to call per draw
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))

@njit(inline="always", cache=True)
def _uniform(base, j):
    # in (0, 1): never exactly 0, so log() below is safe
    return ((_mix(base + np.uint64(j) * _GOLDEN) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)

@njit(parallel=True, cache=True)
def _sample_users(counts, offsets, cdf, guide, U, V, ubias, ibias, mu, noise, lo, hi, step, beta,
                 seed, oversample, out_items, out_values, out_ts, t0, span):
    n_users = counts.shape[0]
    n_items = cdf.shape[0]
    f = U.shape[1]
    n_chunks = (n_users + 255) // 256
    for c in prange(n_chunks):
        mark = np.full(n_items, -1, dtype=np.int64)  # one per chunk, reused by its users
        for u in range(c * 256, min(n_users, (c + 1) * 256)):
            k = counts[u]
            if k == 0:
                continue
            base = _mix(np.uint64(seed) * _GOLDEN + np.uint64(u) + np.uint64(1))
            want = min(n_items, k * oversample)
            if want * 4 >= n_items:
                # heavy user: every item is a candidate (cheaper than rejection)
                cand = np.arange(n_items)
                m = n_items
            else:
                cand = np.empty(want, dtype=np.int64)
                m = 0
                for j in range(want):
                    # inverse CDF: the guide table jumps next to the answer (O(1) per draw)
                    r = _uniform(base, j)
                    a = guide[int(r * n_items)]
                    while cdf[a] < r:
                        a += 1
                    if mark[a] != u:
                        mark[a] = u
                        cand[m] = a
                        m += 1
                if m < k:  # many repeats of popular items: top up with unseen items
                    i = int(_uniform(base, want) * n_items)
                    while m < k:
                        if mark[i] != u:
                            mark[i] = u
                            cand[m] = i
                            m += 1
                        i = (i + 1) % n_items
            scores = np.empty(m, dtype=np.float64)
            keys = np.empty(m, dtype=np.float64)
            for q in range(m):
                i = cand[q]
                s = 0.0
                for d in range(f):
                    s += U[u, d] * V[i, d]
                scores[q] = s
                g = -np.log(-np.log(_uniform(base, (1 << 40) + q)))  # Gumbel(0, 1)
                keys[q] = beta * s + g
            top = np.argsort(-keys)[:k]
            chosen = cand[:m][top]
            order = np.argsort(chosen)
            start = offsets[u]
            for q in range(k):
                src = top[order[q]]
                i = cand[src]
                out_items[start + q] = i
                # Box-Muller normal noise
                u1 = _uniform(base, (2 << 40) + q)
                u2 = _uniform(base, (3 << 40) + q)
                z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
                r = mu + ubias[u] + ibias[i] + scores[src] + noise * z
                r = lo + np.floor((r - lo) / step + 0.5) * step
                out_values[start + q] = min(hi, max(lo, r))
                out_ts[start + q] = t0[u] + np.int64(_uniform(base, (4 << 40) + q) * span[u])



def _allocate_counts(rng, n_users: int, n_items: int, n_total: int) -> np.ndarray:
    """Heavy-tailed interactions per user summing exactly to ``n_total``."""
    if n_total > n_users * n_items * 0.7:
        raise ConfigError(f"n_interactions={n_total} is too many for {n_users} users x "
                          f"{n_items} items (at most 70% of the cells)")
    # the most active MovieLens user rated ~35% of the items; allow more only when needed
    cap = min(n_items, max(1, int(0.35 * n_items), -(-3 * n_total // (2 * n_users))))
    floor = int(np.clip(n_total // (5 * n_users), 1 if n_total >= n_users else 0, 20))
    # Lomax (Pareto II) shape 2: for MovieLens-20M's shape this gives a median of ~70
    # and a mean of 144 interactions per user, like the real data
    weights = rng.pareto(2.0, n_users)
    counts = np.full(n_users, floor, dtype=np.int64)
    rest = n_total - floor * n_users
    counts += np.floor(rest * weights / weights.sum()).astype(np.int64)
    np.minimum(counts, cap, out=counts)
    while True:
        deficit = n_total - int(counts.sum())
        if deficit == 0:
            return counts
        room = counts < cap
        p = np.where(room, weights + 1e-12, 0.0)
        add = rng.multinomial(deficit, p / p.sum())
        counts = np.minimum(counts + add, cap)


def synthetic(n_users: int = 1000, n_items: int = 500, n_interactions: int = 50_000, *,
              kind: str = "explicit", factors: int = 8, random_state: Any = 0,
              rating_scale: tuple[float, float] = (1, 5), rating_step: float = 1.0,
              noise: float = 0.5, timestamps: bool = True, preset: str | None = None,
              return_truth: bool = False):
    """Generate interactions with power-law activity/popularity and latent-factor structure.

    Parameters
    ----------
    n_users, n_items, n_interactions : int
        Shape. Every user gets at least one interaction when ``n_interactions >=
        n_users``; items nobody picked are dropped, so ``data.n_items`` can be a little
        below ``n_items``.
    kind : {"explicit", "implicit"}
        Ratings on ``rating_scale`` or implicit weights of 1.
    factors : int
        Latent dimensions of the hidden structure.
    random_state : None, int or numpy.random.Generator
        Seed; the same seed gives the same data (whatever the thread count).
    rating_scale : (low, high)
        Ratings are rounded to multiples of ``rating_step`` from ``low`` and clipped.
    rating_step : float
        1 for whole stars, 0.5 for half stars.
    noise : float
        Standard deviation of the rating noise (before rounding).
    timestamps : bool
        Add integer Unix-second timestamps (per-user activity windows).
    preset : {"movielens-100k", "movielens-1m", "movielens-20m"}, optional
        Use that data set's shape instead of ``n_users``/``n_items``/``n_interactions``.
    return_truth : bool
        Also return a :class:`SyntheticTruth` holding the generating parameters.

    Returns
    -------
    Interactions, or (Interactions, SyntheticTruth) when ``return_truth``.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.synthetic(n_users=200, n_items=100, n_interactions=5000)
    >>> data.n_users, data.nnz, data.rating_scale
    (200, 5000, (1.0, 5.0))
    """
    import scipy.sparse as sp

    from .._params import Bool, Choice, Float, Int, RandomState, check_random_state, validate
    from .interactions import Interactions
    from .vocabulary import Vocabulary

    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(map(repr, PRESETS))}, "
                              f"got {preset!r}")
        n_users, n_items, n_interactions = (PRESETS[preset][k] for k in
                                            ("n_users", "n_items", "n_interactions"))
    validate("synthetic", {
        "n_users": Int(1), "n_items": Int(1), "n_interactions": Int(1),
        "kind": Choice(("explicit", "implicit")), "factors": Int(1, 512),
        "random_state": RandomState(), "rating_step": Float(0, low_open=True), "noise": Float(0), "timestamps": Bool(),
        "return_truth": Bool()}, locals())
    lo, hi = float(rating_scale[0]), float(rating_scale[1])
    if not lo < hi:
        raise ConfigError(f"rating_scale must be (low, high) with low < high, got "
                          f"{rating_scale!r}")
    rng = check_random_state(random_state)
    seed = int(rng.integers(0, 2**62))

    counts = _allocate_counts(rng, n_users, n_items, n_interactions)
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    # Zipf popularity over a random order of the items
    ranks = rng.permutation(n_items)
    popularity = (ranks + 10.0) ** -1.0
    cdf = np.cumsum(popularity / popularity.sum())
    cdf[-1] = 1.0

    sigma = (1.0 / np.sqrt(factors)) ** 0.5  # so a dot product has std ~1
    U = (rng.standard_normal((n_users, factors)) * sigma).astype(np.float64)
    V = (rng.standard_normal((n_items, factors)) * sigma).astype(np.float64)
    spread = (hi - lo) / 4.0
    user_bias = rng.normal(0.0, 0.35 * spread, n_users)
    # popular items are rated a little higher, as in real data
    item_bias = rng.normal(0.0, 0.4 * spread, n_items) - 0.15 * spread * (
        np.log(ranks + 10.0) - np.log(10.0 + n_items / 2))
    mu = lo + 0.5 * (hi - lo)  # selection favours liked items, so the mean lands ~3.5/5
    dot_scale = 0.8 * spread
    Us = U * np.sqrt(dot_scale)
    Vs = V * np.sqrt(dot_scale)

    t0 = _T0 + rng.integers(0, _SPAN // 2, n_users)
    span = rng.integers(86_400, _SPAN // 2, n_users)

    n = int(offsets[-1])
    items = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=np.float64)
    ts = np.empty(n, dtype=np.int64)
    guide = np.searchsorted(cdf, np.arange(n_items) / n_items).astype(np.int64)
    _sample_users(counts, offsets, cdf, guide, Us, Vs, user_bias, item_bias, mu,
           float(noise), lo, hi, float(rating_step), 1.0 / dot_scale, seed, 2, items, values,
           ts, t0, span)

    # keep only items someone picked; the map is monotone so rows stay sorted
    seen = np.bincount(items, minlength=n_items) > 0
    item_map = np.cumsum(seen) - 1
    cols = item_map[items].astype(np.int32)
    del items
    data_values = values.astype(np.float32) if kind == "explicit" else \
        np.ones(n, dtype=np.float32)
    del values
    matrix = sp.csr_matrix((data_values, cols, offsets.astype(np.int32) if n < 2**31 else offsets),
                           shape=(n_users, int(seen.sum())))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    users_vocab = Vocabulary(np.arange(1, n_users + 1, dtype=np.int64))
    items_vocab = Vocabulary(np.flatnonzero(seen).astype(np.int64) + 1)
    data = Interactions(matrix, users_vocab, items_vocab, kind=kind,
                        timestamps=ts if timestamps else None,
                        rating_scale=(lo, hi) if kind == "explicit" else None,
                        source=f"synthetic(seed={random_state!r})")
    if not return_truth:
        return data
    truth = SyntheticTruth(Us.astype(np.float32), Vs[seen].astype(np.float32),
                           user_bias.astype(np.float32), item_bias[seen].astype(np.float32),
                           float(mu))
    return data, truth


def write_csv(data, path: str | os.PathLike, *, user: str = "userId", item: str = "movieId",
              rating: str = "rating", timestamp: str = "timestamp") -> None:
    """Write interactions as a MovieLens-style CSV (``userId,movieId,rating,timestamp``).

    Rows go out user by user; ``.gz`` paths are gzip-compressed.

    Examples
    --------
    >>> import likewise, tempfile, os
    >>> from likewise.data.synthetic import write_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "ratings.csv")
    >>> write_csv(likewise.synthetic(n_users=50, n_items=40, n_interactions=500), path)
    >>> likewise.read_csv(path).nnz
    500
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    e = data.entries()
    cols = {user: data.users.ids_of(e.users), item: data.items.ids_of(e.items)}
    if data.is_explicit:
        cols[rating] = e.values
    if data.timestamps is not None:
        cols[timestamp] = data.timestamps
    table = pa.table(cols)
    del cols, e
    compression = "gzip" if str(path).endswith(".gz") else None
    with pa.output_stream(str(path), compression=compression) as out:
        out.write((",".join(table.column_names) + "\n").encode())  # unquoted, like MovieLens
        pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(
            include_header=False, quoting_style="none"))
