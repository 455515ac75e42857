"""Single-user query latency (likewise issue #13): p50 / p99 of ``recommend([user], n=10)``.

Run (after `make bench-venv`, which installs the peer ``implicit``; without it the peer
row says "not installed"):

    benchmarks/.venv/bin/python benchmarks/bench_latency.py --part latency --shape 100k
    benchmarks/.venv/bin/python benchmarks/bench_latency.py --part latency --shape 20m
    benchmarks/.venv/bin/python benchmarks/bench_latency.py --part threshold

``latency``: each model is fitted once, ``prepare(warm=True)`` is called when the model
has it, then 10,000 single-user ``recommend([u], n=10)`` calls are timed one by one with
``perf_counter_ns``, first sequentially and then spread over 8 threads of one process
(each call timed in its own thread), while a second process keeps one core busy
(``--busy 0`` turns it off). Users cycle through a fixed random order. Models on
MovieLens 100K: ImplicitALS(factors=32), EASE, ItemKNN on the likes (ratings >= 4),
SVD and ContentKNN on the ratings, plus ImplicitALS answering through an HNSW index
when hnswlib is installed; on the synthetic MovieLens-20M shape (138k users x 27k
items, ``--interactions`` to shrink it): ImplicitALS(factors=32). The peer row is
implicit's ``AlternatingLeastSquares(factors=32)`` fitted on the same likes and queried
the same way with ``model.recommend(userid, user_items[userid], N=10)``.

``threshold``: the measurements behind the serial / parallel limits of the query kernels:
the top-N selection (``_topk``: serial loop vs ``prange`` loop), the user x item factor
product (``index.exact.serial_dot``, used by ``_factors`` and the exact index, vs the BLAS)
and the kNN scoring kernels (``_knn_kernels``) for growing blocks, without and with a core
kept busy, plus the cost of limiting the BLAS with threadpoolctl per call.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


# ---------------------------------------------------------------------------------------
# a second process keeping one core busy
# ---------------------------------------------------------------------------------------
def _spin() -> None:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cpus:
        os.sched_setaffinity(0, {cpus[-1]})  # always the same core
    while True:
        pass


class BusyCore:
    """Context: a separate process spinning on one core (nothing when ``enabled`` is False)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._proc = None

    def __enter__(self):
        if self.enabled:
            self._proc = mp.get_context("spawn").Process(target=_spin, daemon=True)
            self._proc.start()
            time.sleep(0.5)  # let it get going
        return self

    def __exit__(self, *exc):
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def table(rows, columns) -> str:
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# timing one query function
# ---------------------------------------------------------------------------------------
def time_calls(query, users: np.ndarray, calls: int, threads: int) -> np.ndarray:
    """Per-call latency in ms of ``query(user)`` for ``calls`` calls from ``threads``."""
    out = np.empty(calls, dtype=np.int64)

    def run(lo: int, hi: int) -> None:
        clock = time.perf_counter_ns
        for i in range(lo, hi):
            user = users[i % len(users)]
            t0 = clock()
            query(user)
            out[i] = clock() - t0

    if threads <= 1:
        run(0, calls)
    else:
        bounds = np.linspace(0, calls, threads + 1).astype(int)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, bounds[:-1], bounds[1:]))
    return out / 1e6


def latency_row(name, query, users, args):
    warm = min(200, args.calls)
    time_calls(query, users, warm, 1)  # page in, compile, fill caches before the clock
    seq = time_calls(query, users, args.calls, 1)
    t0 = time.perf_counter()
    par = time_calls(query, users, args.calls, args.threads)
    wall = time.perf_counter() - t0
    q = [np.percentile(x, p) for x in (seq, par) for p in (50, 99)]
    return [name, *(f"{v:.3f}" for v in q), f"{args.calls / wall:,.0f}"]


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------
def _prepared(model, **kwargs):
    if hasattr(model, "prepare"):
        model.prepare(warm=True, **kwargs)
    elif "index" in kwargs:
        model.build_index(kwargs["index"])
    return model


def likewise_queries(shape: str, likes, ratings, args):
    """(name, query function, user ids) for each likewise model of the shape."""
    import likewise

    if shape == "20m":
        model = _prepared(likewise.ImplicitALS(factors=32, iterations=args.iterations_20m,
                                               random_state=0).fit(likes))
        yield "likewise ImplicitALS(factors=32)", \
            (lambda u: model.recommend([u], n=10)), _user_order(likes)
        return
    specs = [
        ("ImplicitALS(factors=32)", lambda: likewise.ImplicitALS(factors=32, random_state=0),
         likes),
        ("EASE", lambda: likewise.EASE(), likes),
        ("ItemKNN", lambda: likewise.ItemKNN(), likes),
        ("SVD", lambda: likewise.SVD(random_state=0), ratings),
        ("ContentKNN", lambda: likewise.ContentKNN(), ratings),
    ]
    for name, make, data in specs:
        model = _prepared(make().fit(data))
        yield f"likewise {name}", (lambda u, m=model: m.recommend([u], n=10)), \
            _user_order(data)
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        return
    model = _prepared(likewise.ImplicitALS(factors=32, random_state=0).fit(likes),
                      index="hnsw")
    yield "likewise ImplicitALS(factors=32), index='hnsw'", \
        (lambda u: model.recommend([u], n=10, index="hnsw")), _user_order(likes)


def implicit_query(likes, iterations: int):
    """implicit's ALS on the same likes: (query, user rows) or None when not installed."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        return None
    user_items = likes.matrix.tocsr().astype(np.float32)
    model = AlternatingLeastSquares(factors=32, iterations=iterations, random_state=0)
    model.fit(user_items, show_progress=False)
    rows = np.random.default_rng(0).permutation(user_items.shape[0])

    def query(u):
        return model.recommend(u, user_items[u], N=10)

    return query, rows


def _user_order(data) -> np.ndarray:
    return np.random.default_rng(0).permutation(data.users.ids)


def _shape_data(shape: str, interactions: int):
    import likewise

    if shape == "100k":
        ratings = likewise.datasets.movielens("100k")
        return ratings.as_implicit(threshold=4), ratings
    likes = likewise.synthetic(n_users=138_000, n_items=27_000, n_interactions=interactions,
                               kind="implicit", random_state=0)
    return likes, None


def bench_latency(args) -> None:
    columns = ["model", "sequential p50 ms", "sequential p99 ms", f"{args.threads} threads p50 ms",
               f"{args.threads} threads p99 ms", f"{args.threads} threads calls/s"]
    shapes = ["100k", "20m"] if args.shape == "all" else [args.shape]
    for shape in shapes:
        likes, ratings = _shape_data(shape, args.interactions)
        print(f"\n### {shape}: {likes.n_users} users x {likes.n_items} items, {likes.nnz} likes")
        print(f"load average at the start: {load_text()}; busy core: {bool(args.busy)}")
        rows = []
        with BusyCore(bool(args.busy)):
            for name, query, users in likewise_queries(shape, likes, ratings, args):
                rows.append(latency_row(name, query, users, args))
                print(table(rows[-1:], columns).splitlines()[-1], flush=True)
            peer = implicit_query(likes, args.iterations_20m if shape == "20m" else 15)
            if peer is None:
                rows.append(["implicit ALS(factors=32) (peer)", *["not installed"] * 5])
            else:
                rows.append(latency_row("implicit ALS(factors=32) (peer)", peer[0], peer[1],
                                        args))
        print(f"load average at the end: {load_text()}\n")
        print(table(rows, columns))


# ---------------------------------------------------------------------------------------
# thresholds
# ---------------------------------------------------------------------------------------
def _timed_us(fn, repeats: int) -> tuple[float, float]:
    """(median, mean) microseconds per call; the mean carries the waits of the tail."""
    fn()
    times = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times[i] = time.perf_counter_ns() - t0
    return float(np.median(times) / 1e3), float(times.mean() / 1e3)


def _pair(a: tuple[float, float]) -> str:
    return f"{a[0]:.1f} / {a[1]:.1f}"


_TOPK_COLUMNS = ["busy", "rows", "items", "cells", "serial us (median / mean)",
                 "parallel us (median / mean)", "serial/parallel (median / mean)"]
_PRODUCT_COLUMNS = ["busy", "factors", "items", "rows", "work", "serial us (median / mean)",
                    "BLAS us (median / mean)", "serial/BLAS (median / mean)"]


def _repeats(work: float) -> int:
    return int(np.clip(2e7 / max(work, 1), 20, 2000))


def threshold_topk(busy: bool) -> list:
    from likewise.models import _topk

    rng = np.random.default_rng(0)
    rows_out = []
    for n_items in (1682, 27_000):
        for n_rows in (1, 4, 16, 32, 64, 128, 256, 1024):
            scores = rng.standard_normal((n_rows, n_items)).astype(np.float32)
            seen = [np.sort(rng.choice(n_items, 50, replace=False)) for _ in range(n_rows)]
            indptr = np.arange(n_rows + 1, dtype=np.int64) * 50
            indices = np.concatenate(seen).astype(np.int64)
            out_i = np.full((n_rows, 10), -1, np.int64)
            out_s = np.full((n_rows, 10), np.nan, np.float32)
            reps = _repeats(scores.size)

            def serial():
                _topk._top_n_masked_serial(scores, indptr, indices, 10, out_i, out_s)

            def parallel():
                _topk._top_n_masked_parallel(scores, indptr, indices, 10, out_i, out_s)

            s, p = _timed_us(serial, reps), _timed_us(parallel, reps)
            rows_out.append([busy, n_rows, n_items, f"{n_rows * n_items:,}", _pair(s),
                             _pair(p), f"{s[0] / p[0]:.2f} / {s[1] / p[1]:.2f}"])
            print(table(rows_out[-1:], _TOPK_COLUMNS).splitlines()[-1], flush=True)
    return rows_out


def threshold_product(busy: bool) -> list:
    from likewise.index.exact import serial_dot

    rng = np.random.default_rng(1)
    rows_out = []
    for k in (32, 64):
        for n_items in (1682, 27_000):
            users = rng.standard_normal((1024, k)).astype(np.float32)
            items = rng.standard_normal((n_items, k)).astype(np.float32)
            for n_rows in (1, 2, 4, 8, 16, 64, 256):
                idx = np.arange(n_rows, dtype=np.int64)
                out = np.empty((n_rows, n_items), np.float32)
                reps = _repeats(n_rows * n_items * k / 4)

                def serial():
                    serial_dot(users[idx], items, out=out)

                def blas():
                    np.matmul(users[idx], items.T)

                s, b = _timed_us(serial, reps), _timed_us(blas, reps)
                rows_out.append([busy, k, n_items, n_rows, f"{n_rows * n_items * k:,}",
                                 _pair(s), _pair(b), f"{s[0] / b[0]:.2f} / {s[1] / b[1]:.2f}"])
                print(table(rows_out[-1:], _PRODUCT_COLUMNS).splitlines()[-1], flush=True)
    return rows_out


_KNN_COLUMNS = ["busy", "model (kernel)", "users", "kernel work", "serial us (median / mean)",
                "parallel us (median / mean)", "serial/parallel (median / mean)"]


def threshold_knn(busy: bool) -> list:
    """Model ``_score`` for blocks of users with the kNN kernels forced serial / parallel."""
    import likewise
    from likewise.models import _knn_kernels as K

    ratings = likewise.datasets.movielens("100k")
    likes = ratings.as_implicit(threshold=4)
    models = [("ItemKNN explicit (predict_pairs)", likewise.ItemKNN().fit(ratings), "pairs"),
              ("UserKNN implicit (neighbor_votes)", likewise.UserKNN().fit(likes), "rows"),
              ("ItemKNN implicit (sparse_scores)", likewise.ItemKNN().fit(likes), "rows")]
    saved = K.PARALLEL_MIN_PAIRS, K.PARALLEL_MIN_ROWS
    rows_out = []
    try:
        for name, model, unit in models:
            for n_users in (1, 4, 16, 64, 256):
                users = np.arange(n_users, dtype=np.int64)
                times = []
                for limit in (1 << 62, 0):  # serial, then parallel
                    K.PARALLEL_MIN_PAIRS = K.PARALLEL_MIN_ROWS = limit
                    times.append(_timed_us(lambda: model._score(users),
                                           _repeats(3e4 * n_users)))
                work = f"{n_users * model.n_items:,} pairs" if unit == "pairs" else \
                    f"{n_users} rows"
                rows_out.append([busy, name, n_users, work, _pair(times[0]), _pair(times[1]),
                                 f"{times[0][0] / times[1][0]:.2f} / "
                                 f"{times[0][1] / times[1][1]:.2f}"])
                print(table(rows_out[-1:], _KNN_COLUMNS).splitlines()[-1], flush=True)
    finally:
        K.PARALLEL_MIN_PAIRS, K.PARALLEL_MIN_ROWS = saved
    return rows_out


def threshold_threadpoolctl() -> str:
    from threadpoolctl import ThreadpoolController, threadpool_limits

    controller = ThreadpoolController()

    def per_call():
        with threadpool_limits(1, user_api="blas"):
            pass

    def reused():
        with controller.limit(limits=1, user_api="blas"):
            pass

    return (f"threadpoolctl per call (median / mean): threadpool_limits(1) "
            f"{_pair(_timed_us(per_call, 200))} us, a kept ThreadpoolController().limit(1) "
            f"{_pair(_timed_us(reused, 200))} us")


def bench_threshold(args) -> None:
    print(f"load average at the start: {load_text()}; cpus: {os.cpu_count()}")
    topk, product, knn = [], [], []
    for busy in (False, True) if args.busy else (False,):
        with BusyCore(busy):
            topk += threshold_topk(busy)
            product += threshold_product(busy)
            knn += threshold_knn(busy)
    print(f"load average at the end: {load_text()}\n")
    print("Top-N selection, n=10, 50 seen items per row, median per call:\n")
    print(table(topk, _TOPK_COLUMNS))
    print("\nFactor product users[rows] @ items.T, median per call:\n")
    print(table(product, _PRODUCT_COLUMNS))
    print("\nkNN query kernels inside the model's _score, median per call:\n")
    print(table(knn, _KNN_COLUMNS))
    print("\n" + threshold_threadpoolctl())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("latency", "threshold"), default="latency")
    parser.add_argument("--shape", choices=("100k", "20m", "all"), default="100k")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--busy", type=int, choices=(0, 1), default=1,
                        help="keep one core busy with a second process (default 1)")
    parser.add_argument("--interactions", type=int, default=20_000_000,
                        help="likes of the 20M shape (smaller for a quick check)")
    parser.add_argument("--iterations-20m", type=int, default=3,
                        help="ALS iterations at the 20M shape (latency does not depend on "
                             "them; fitting does, for minutes)")
    args = parser.parse_args()
    if args.part == "threshold":
        bench_threshold(args)
    else:
        bench_latency(args)


if __name__ == "__main__":
    main()
