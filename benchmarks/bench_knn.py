"""UserKNN / ItemKNN vs Surprise's KNN family and implicit's item-item recommenders.

Run (after `make bench-venv`), one part at a time or all:

    benchmarks/.venv/bin/python benchmarks/bench_knn.py --part explicit --folds 5
    benchmarks/.venv/bin/python benchmarks/bench_knn.py --part topn
    benchmarks/.venv/bin/python benchmarks/bench_knn.py --part scale

``explicit``: MovieLens 100K, k-fold CV over rows (likewise.splits.kfold, identical folds
for both libraries): RMSE and fit+predict time of the four Surprise configurations
(KNNBasic user/item cosine, KNNWithMeans user msd, KNNBaseline item pearson_baseline)
and their likewise equivalents. ``topn``: MovieLens 100K as likes (every rating is an
interaction), per-user 80/20 holdout, all items ranked, seen items excluded: NDCG@10 and
time to recommend for all users, ItemKNN vs implicit's BM25/Cosine/TFIDF recommenders
with the same K. ``scale``: synthetic MovieLens-20M-shaped implicit data: ItemKNN (BM25)
fit vs implicit's BM25Recommender fit with peak memory, and the latency of one UserKNN
(Jaccard) top-10 query. Times are medians; speed-up = peer time / likewise time.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        import psutil

        self._proc = psutil.Process(os.getpid())
        self.start = self._proc.memory_info().rss
        self.peak = self.start
        self._stop = threading.Event()

        def sample():
            while not self._stop.is_set():
                self.peak = max(self.peak, self._proc.memory_info().rss)
                time.sleep(0.005)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def table(rows, columns):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns).to_markdown(index=False)


# ---------------------------------------------------------------------------------------
def bench_explicit(folds: int, seed: int) -> None:
    from surprise import Dataset, KNNBaseline, KNNBasic, KNNWithMeans, Reader

    import likewise
    from likewise.splits import kfold

    data = likewise.datasets.movielens("100k")
    configs = [
        ("KNNBasic user cosine",
         lambda: likewise.UserKNN(similarity="cosine", prediction="weighted_average"),
         lambda: KNNBasic(sim_options={"name": "cosine", "user_based": True}, verbose=False)),
        ("KNNBasic item cosine",
         lambda: likewise.ItemKNN(similarity="cosine", prediction="weighted_average"),
         lambda: KNNBasic(sim_options={"name": "cosine", "user_based": False}, verbose=False)),
        ("KNNWithMeans user msd",
         lambda: likewise.UserKNN(similarity="msd", prediction="mean_centered"),
         lambda: KNNWithMeans(sim_options={"name": "msd", "user_based": True}, verbose=False)),
        ("KNNBaseline item pearson_baseline",
         lambda: likewise.ItemKNN(similarity="pearson_baseline", prediction="baseline"),
         lambda: KNNBaseline(sim_options={"name": "pearson_baseline", "user_based": False},
                             verbose=False)),
    ]
    res = {name: {"lw_rmse": [], "peer_rmse": [], "lw_t": [], "peer_t": []}
           for name, _, _ in configs}
    # warm the numba kernels (compilation or cache load is not billed to a fold)
    for _, make_lw, _ in configs:
        make_lw().fit(data).predict(data.users.ids[:2], data.items.ids[:2])
    reader = Reader(rating_scale=(1, 5))
    for fold, split in enumerate(kfold(data, k=folds, random_state=seed)):
        train_df = split.train.to_frame()[["user", "item", "rating"]]
        test_df = split.test.to_frame()[["user", "item", "rating"]]
        trainset = Dataset.load_from_df(train_df, reader).build_full_trainset()
        testset = list(test_df.itertuples(index=False, name=None))
        truth = test_df["rating"].to_numpy()
        for name, make_lw, make_peer in configs:
            r = res[name]
            t = time.perf_counter()
            est = make_lw().fit(split.train).predict(test_df["user"].to_numpy(),
                                                     test_df["item"].to_numpy())
            r["lw_t"].append(time.perf_counter() - t)
            r["lw_rmse"].append(rmse(est, truth))
            t = time.perf_counter()
            preds = make_peer().fit(trainset).test(testset)
            r["peer_t"].append(time.perf_counter() - t)
            r["peer_rmse"].append(rmse([p.est for p in preds], [p.r_ui for p in preds]))
            print(f"fold {fold} {name}: likewise {r['lw_rmse'][-1]:.4f} "
                  f"{r['lw_t'][-1]:.3f}s | surprise {r['peer_rmse'][-1]:.4f} "
                  f"{r['peer_t'][-1]:.2f}s", flush=True)
    rows = []
    for name, r in res.items():
        lw, peer = np.mean(r["lw_rmse"]), np.mean(r["peer_rmse"])
        lw_t, peer_t = np.median(r["lw_t"]), np.median(r["peer_t"])
        rows.append([name, round(lw, 4), round(peer, 4), round(lw - peer, 4),
                     round(lw_t, 3), round(peer_t, 2), f"{peer_t / lw_t:.1f}x"])
    print()
    print(f"MovieLens 100K, {folds}-fold CV (seed {seed}); RMSE = mean over folds, "
          "time = median fit+predict per fold")
    print(table(rows, ["configuration", "likewise RMSE", "Surprise RMSE", "delta",
                       "likewise s", "Surprise s", "speed-up"]))


# ---------------------------------------------------------------------------------------
def _likes(data):
    import likewise

    frame = data.to_frame()
    return likewise.Interactions.from_arrays(frame["user"].to_numpy(), frame["item"].to_numpy(),
                                             timestamps=frame["timestamp"].to_numpy())


def bench_topn(ks: list[int], seed: int, repeats: int) -> None:
    import scipy.sparse as sp
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

    import likewise
    from likewise.metrics import ndcg_at_k
    from likewise.splits import user_holdout

    data = _likes(likewise.datasets.movielens("100k"))
    split = user_holdout(data, test_size=0.2, random_state=seed)
    train = sp.csr_matrix(split.train.matrix, dtype=np.float32)
    test = split.test.matrix
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    user_ids = split.train.users.ids_of(users)
    rel = test[users]
    peers = {"bm25": BM25Recommender, "cosine": CosineRecommender, "tfidf": TFIDFRecommender}
    rows = []
    likewise.ItemKNN(k=ks[0]).fit(split.train).recommend(user_ids[:3])  # warm numba
    for k in ks:
        for name, peer_cls in peers.items():
            lw_fit, lw_rec, pe_fit, pe_rec = [], [], [], []
            for _ in range(repeats):
                t = time.perf_counter()
                model = likewise.ItemKNN(similarity=name, k=k).fit(split.train)
                lw_fit.append(time.perf_counter() - t)
                t = time.perf_counter()
                recs = model.recommend(user_ids, n=10)
                lw_rec.append(time.perf_counter() - t)
                peer = peer_cls(K=k)
                t = time.perf_counter()
                peer.fit(train, show_progress=False)
                pe_fit.append(time.perf_counter() - t)
                t = time.perf_counter()
                ids, _ = peer.recommend(users, train[users], N=10,
                                        filter_already_liked_items=True)
                pe_rec.append(time.perf_counter() - t)
            lw_ndcg = ndcg_at_k(recs.item_indices, rel, 10)
            pe_ndcg = ndcg_at_k(np.asarray(ids, dtype=np.int64), rel, 10)
            rows.append([name, k, round(lw_ndcg, 4), round(pe_ndcg, 4),
                         round(np.median(lw_fit), 4), round(np.median(pe_fit), 4),
                         round(np.median(lw_rec), 4), round(np.median(pe_rec), 4),
                         f"{np.median(pe_rec) / np.median(lw_rec):.1f}x"])
            print(rows[-1], flush=True)
    print()
    print(f"MovieLens 100K likes, per-user 80/20 holdout (seed {seed}), {len(users)} users, "
          f"all items ranked, seen excluded; times = median of {repeats}")
    print(table(rows, ["similarity", "K", "likewise NDCG@10", "implicit NDCG@10",
                       "likewise fit s", "implicit fit s", "likewise recommend-all s",
                       "implicit recommend-all s", "recommend speed-up"]))


# ---------------------------------------------------------------------------------------
def bench_scale(k: int, queries: int, seed: int, parts: str = "itemknn,userknn") -> None:
    import likewise

    t = time.perf_counter()
    data = likewise.synthetic(preset="movielens-20m", kind="implicit", random_state=seed,
                              timestamps=False)
    print(f"generated {data} in {time.perf_counter() - t:.1f}s", flush=True)
    rows = []
    if "itemknn" in parts:
        rows += _scale_itemknn(data, k)
    if "userknn" in parts:
        rows += _scale_userknn(data, queries, seed)
    print()
    print(f"synthetic movielens-20m preset, implicit: {data.n_users} users, {data.n_items} "
          f"items, {data.nnz} interactions")
    print(table(rows, ["measure", "likewise", "implicit", "ratio"]))


def _scale_itemknn(data, k: int) -> list:
    import scipy.sparse as sp
    from implicit.nearest_neighbours import BM25Recommender

    import likewise

    train = sp.csr_matrix(data.matrix, dtype=np.float32)
    likewise.ItemKNN(k=k).fit(data.take(np.arange(1000)))  # warm numba
    with PeakRSS() as mem:
        t = time.perf_counter()
        model = likewise.ItemKNN(k=k).fit(data)
        lw_fit = time.perf_counter() - t
    print(f"likewise ItemKNN(bm25, k={k}) fit {lw_fit:.1f}s, peak RSS {mem.peak / 2**30:.2f} GiB "
          f"(+{(mem.peak - mem.start) / 2**30:.2f} GiB over the loaded data)", flush=True)
    del model
    with PeakRSS() as pmem:
        t = time.perf_counter()
        BM25Recommender(K=k).fit(train, show_progress=False)
        pe_fit = time.perf_counter() - t
    print(f"implicit BM25Recommender(K={k}) fit {pe_fit:.1f}s, peak RSS "
          f"{pmem.peak / 2**30:.2f} GiB", flush=True)
    return [
        ["ItemKNN bm25 fit (s)", round(lw_fit, 2), round(pe_fit, 2),
         f"{lw_fit / pe_fit:.2f}x of implicit's"],
        ["ItemKNN peak RSS (GiB, whole process)", round(mem.peak / 2**30, 2),
         round(pmem.peak / 2**30, 2), ""],
    ]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _scale_userknn(data, queries: int, seed: int) -> list:
    import likewise

    t = time.perf_counter()
    uknn = likewise.UserKNN(similarity="jaccard", k=50).fit(data)
    u_fit = time.perf_counter() - t
    rng = np.random.default_rng(seed)
    sample = data.users.ids[rng.choice(data.n_users, size=queries, replace=False)]
    uknn.recommend(sample[:1], n=10)  # warm
    lat, cpu = [], []
    for uid in sample:
        t, c = time.perf_counter(), time.process_time()
        uknn.recommend([uid], n=10)
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    lat_ms, cpu_ms = np.array(lat) * 1000, np.array(cpu) * 1000
    likes = np.diff(data.matrix.indptr)[data.users.index(sample)]
    print(f"sampled users' like counts: median {np.median(likes):.0f}, max {likes.max()}")
    # the slow tail: users at activity percentiles, up to the heaviest (best of 3)
    deg = np.diff(data.matrix.indptr)
    by_degree = np.argsort(deg, kind="stable")
    tail = []
    for pct in (50, 90, 99, 99.9, 100):
        u = int(by_degree[min(len(deg) - 1, int(len(deg) * pct / 100))])
        uid = data.users.ids[u]
        uknn.recommend([uid], n=10)
        best = min(_timed(lambda uid=uid: uknn.recommend([uid], n=10)) for _ in range(3))
        tail.append([f"UserKNN top-10 for the p{pct} most active user ({deg[u]} likes), "
                     "best-of-3 wall ms", round(best * 1000, 1), "", ""])
    return tail + [
        ["UserKNN jaccard fit (s)", round(u_fit, 2), "", ""],
        [f"UserKNN jaccard top-10, one user: median wall ms ({queries} users)",
         round(float(np.median(lat_ms)), 1), "", ""],
        ["UserKNN jaccard top-10, one user: p95 wall ms",
         round(float(np.percentile(lat_ms, 95)), 1), "", ""],
        ["UserKNN jaccard top-10, one user: median CPU ms",
         round(float(np.median(cpu_ms)), 1), "", ""],
        ["UserKNN jaccard top-10, one user: p95 CPU ms",
         round(float(np.percentile(cpu_ms, 95)), 1), "", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["explicit", "topn", "scale", "all"], default="all")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", default="20,50", help="K values for the top-N part")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale-k", type=int, default=20)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--scale-parts", default="itemknn,userknn",
                        help="comma-separated: itemknn, userknn")
    args = parser.parse_args()
    if args.part in ("explicit", "all"):
        bench_explicit(args.folds, args.seed)
    if args.part in ("topn", "all"):
        bench_topn([int(k) for k in args.k.split(",")], args.seed, args.repeats)
    if args.part in ("scale", "all"):
        bench_scale(args.scale_k, args.queries, args.seed, args.scale_parts)


if __name__ == "__main__":
    main()
