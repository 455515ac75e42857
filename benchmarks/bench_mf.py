"""Latent-factor models vs Surprise and implicit, side by side on identical data.

Run with the benchmark environment (peers installed):

    benchmarks/.venv/bin/python benchmarks/bench_mf.py rating --folds 5
    benchmarks/.venv/bin/python benchmarks/bench_mf.py tune
    benchmarks/.venv/bin/python benchmarks/bench_mf.py topn
    benchmarks/.venv/bin/python benchmarks/bench_mf.py scale      # heavy: 20M interactions

``rating``: MovieLens 100K, k-fold CV (the same folds for both libraries): SVD vs Surprise
SVD and SVDpp vs Surprise SVDpp with their default parameters. RMSE is the mean over
folds, fit time the median; speed-up = Surprise time / likewise time.

``tune``: 80/20 holdout; ``likewise.tune`` grid-searches SVD, SVDpp, ALS and BayesianMF
by CV on the 80% only, refits the best and scores it on the untouched 20%.

``topn``: MovieLens 100K as implicit likes, per-user 80/20 holdout, every unseen item
ranked; NDCG@10 and fit time of ImplicitALS vs implicit's AlternatingLeastSquares (same
factors, regularization, iterations and alpha), BPR vs implicit's BPR (same parameters)
and EASE. Note the confidence conventions: likewise uses c = 1 + alpha r (Hu et al.),
implicit uses c = alpha r, so equal ``alpha`` is not an identical objective; both are
shown for several alphas.

``scale``: synthetic MovieLens-20M-shaped implicit data (likewise.synthetic preset
"movielens-20m"), ImplicitALS vs implicit ALS with 64 factors and 15 iterations. Each
library runs in its own child process (so peak memory is its own): fit time, peak RSS
increase during fit (sampled by psutil every 20 ms), and the time to recommend the top 10
(seen items excluded) for 10,000 users.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b)) ** 2)))


def table(rows: list[dict]) -> str:
    import pandas as pd

    return pd.DataFrame(rows).to_markdown(index=False)


# ---------------------------------------------------------------------------------------
# rating prediction: SVD / SVDpp vs Surprise
# ---------------------------------------------------------------------------------------
def bench_rating(args) -> None:
    from surprise import SVD as SSVD
    from surprise import Dataset, Reader
    from surprise import SVDpp as SSVDpp

    import likewise
    from likewise.splits import kfold

    data = likewise.datasets.movielens("100k")
    pairs = [
        ("SVD", lambda: likewise.SVD(random_state=args.seed),
         lambda: SSVD(random_state=args.seed)),
        ("SVDpp", lambda: likewise.SVDpp(random_state=args.seed),
         lambda: SSVDpp(random_state=args.seed)),
    ]
    if args.only:
        pairs = [p for p in pairs if p[0] in args.only.split(",")]
    # compile the numba kernels outside the timed folds
    for _, make, _ in pairs:
        make().set_params(epochs=1).fit(data)
    rows = {name: {k: [] for k in ("lw_rmse", "peer_rmse", "lw_fit", "peer_fit")}
            for name, _, _ in pairs}
    reader = Reader(rating_scale=(1, 5))
    for fold, split in enumerate(kfold(data, k=args.folds, random_state=args.seed)):
        train_df = split.train.to_frame()[["user", "item", "rating"]]
        test_df = split.test.to_frame()[["user", "item", "rating"]]
        trainset = Dataset.load_from_df(train_df, reader).build_full_trainset()
        testset = list(test_df.itertuples(index=False, name=None))
        for name, make_lw, make_peer in pairs:
            r = rows[name]
            t = time.perf_counter()
            model = make_lw().fit(split.train)
            r["lw_fit"].append(time.perf_counter() - t)
            est = model.predict(test_df["user"].to_numpy(), test_df["item"].to_numpy())
            r["lw_rmse"].append(rmse(est, test_df["rating"]))
            peer = make_peer()
            t = time.perf_counter()
            peer.fit(trainset)
            r["peer_fit"].append(time.perf_counter() - t)
            r["peer_rmse"].append(rmse([p.est for p in peer.test(testset)], test_df["rating"]))
            print(f"fold {fold + 1}: {name} likewise {r['lw_rmse'][-1]:.4f} "
                  f"{r['lw_fit'][-1]:.2f}s | Surprise {r['peer_rmse'][-1]:.4f} "
                  f"{r['peer_fit'][-1]:.2f}s", flush=True)
    out = []
    for name, r in rows.items():
        lw_fit, peer_fit = np.median(r["lw_fit"]), np.median(r["peer_fit"])
        out.append({
            "model": name,
            "likewise RMSE": f"{np.mean(r['lw_rmse']):.4f}",
            "Surprise RMSE": f"{np.mean(r['peer_rmse']):.4f}",
            "delta": f"{np.mean(r['lw_rmse']) - np.mean(r['peer_rmse']):+.4f}",
            "likewise fit s": f"{lw_fit:.3f}",
            "Surprise fit s": f"{peer_fit:.3f}",
            "fit speed-up": f"{peer_fit / lw_fit:.1f}x",
        })
    print()
    print(table(out))


# ---------------------------------------------------------------------------------------
# tuned models: parameters chosen by likewise.tune on inner folds of the training part only
# ---------------------------------------------------------------------------------------
def bench_tune(args) -> None:
    import likewise
    from likewise.splits import holdout

    data = likewise.datasets.movielens("100k")
    train, test = holdout(data, test_size=0.2, random_state=args.seed)
    frame = test.to_frame()
    grids = {
        "SVD": (likewise.SVD(random_state=0),
                {"factors": [100, 200], "epochs": [50], "learning_rate": [0.01],
                 "regularization": [0.05, 0.1]}),
        "SVDpp": (likewise.SVDpp(random_state=0),
                  {"factors": [50, 100], "epochs": [50], "learning_rate": [0.005],
                   "regularization": [0.05, 0.1]}),
        "ALS": (likewise.ALS(random_state=0),
                {"factors": [50, 100], "iterations": [15], "regularization": [0.1, 0.15]}),
        # random search (n_iter draws) over wider spaces; the second extends the first's
        # inner-CV winner, which sat at the edge of its space
        "SVDpp-random": (likewise.SVDpp(random_state=0),
                         {"factors": [20, 50, 100, 200], "epochs": [30, 50, 80],
                          "learning_rate": [0.005, 0.007, 0.01],
                          "regularization": [0.05, 0.08, 0.1, 0.15]}, 24),
        "SVDpp-random-wide": (likewise.SVDpp(random_state=0),
                              {"factors": [200, 400, 800], "epochs": [80, 120, 200],
                               "learning_rate": [0.005, 0.007],
                               "regularization": [0.1, 0.12, 0.15]}, 20),
        # Gibbs-sampled BPMF with biases: chain length and rank; the noise precision and
        # the hyperparameters are sampled, so there is no regularisation to tune. One
        # thread: the draws do not depend on it and the machine is shared.
        "BayesianMF": (likewise.BayesianMF(burn_in=50, samples=100, num_threads=1,
                                           random_state=0),
                       {"factors": [10, 20, 40], "iterations": [200, 400]}),
    }
    if args.only:
        grids = {k: v for k, v in grids.items() if k in args.only.split(",")}
    rows = []
    for name, (model, grid, *n_iter) in grids.items():
        t = time.perf_counter()
        search = {"search": "random", "n_iter": n_iter[0]} if n_iter else {}
        result = likewise.tune(model, grid, train, metric="rmse", folds=args.inner_folds,
                               random_state=args.seed, progress=False, **search)
        est = result.best_model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
        rows.append({"model": name, "best params (inner CV)": result.best_params,
                     "inner CV RMSE": f"{result.best_score:.4f}",
                     "outer test RMSE": f"{rmse(est, frame['rating']):.4f}",
                     "search s": f"{time.perf_counter() - t:.0f}"})
        print(rows[-1], flush=True)
        shown = [c for c in result.results.columns
                 if c.startswith("param_") or c in ("mean_rmse", "std_rmse", "rank")]
        print(result.results[shown].sort_values("rank").to_string(index=False), flush=True)
    print()
    print(f"MovieLens 100K: 80/20 holdout (seed {args.seed}); grid search by "
          f"{args.inner_folds}-fold CV on the 80% only, best refitted on it, scored on the 20%")
    print(table(rows))


# ---------------------------------------------------------------------------------------
# top-N: ImplicitALS / BPR / EASE vs implicit
# ---------------------------------------------------------------------------------------
def _ndcg(recommended_idx, test_matrix, users) -> float:
    from likewise.metrics import ndcg_at_k

    return float(ndcg_at_k(recommended_idx, test_matrix[users], k=10))


def bench_topn(args) -> None:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    import likewise
    from likewise.splits import user_holdout

    data = likewise.datasets.movielens("100k").as_implicit()
    train, test = user_holdout(data, test_size=0.2, random_state=args.seed)
    users = np.flatnonzero(np.diff(test.matrix.indptr) > 0)
    user_items = train.matrix.astype(np.float32).tocsr()

    def run_lw(model):
        t = time.perf_counter()
        model.fit(train)
        fit = time.perf_counter() - t
        recs = model.recommend(train.users.ids[users], n=10)
        return _ndcg(recs.item_indices, test.matrix, users), fit

    def run_peer(model):
        from threadpoolctl import threadpool_limits

        t = time.perf_counter()
        with threadpool_limits(1, "blas"):  # as implicit itself recommends
            model.fit(user_items, show_progress=False)
        fit = time.perf_counter() - t
        ids, _ = model.recommend(users, user_items[users], N=10,
                                 filter_already_liked_items=True)
        return _ndcg(np.asarray(ids, dtype=np.int64), test.matrix, users), fit

    # warm-up compiles (not timed)
    likewise.ImplicitALS(factors=8, iterations=1).fit(train)
    likewise.BPR(factors=8, epochs=1).fit(train)
    rows = []
    for alpha in args.alphas:
        hp = dict(factors=args.factors, regularization=args.regularization,
                  iterations=args.iterations, alpha=alpha)
        fits_lw, fits_peer, nd_lw, nd_peer = [], [], [], []
        for _ in range(args.repeats):
            n, f = run_lw(likewise.ImplicitALS(random_state=args.seed, **hp))
            nd_lw.append(n), fits_lw.append(f)
            n, f = run_peer(AlternatingLeastSquares(random_state=args.seed, **hp))
            nd_peer.append(n), fits_peer.append(f)
        # implicit weights an observed cell by alpha*r, likewise by 1 + alpha*r (Hu et al.):
        # on binary data likewise's alpha-1 is implicit's alpha, the same objective
        same_conf = "-"
        if alpha >= 1:
            n, _ = run_lw(likewise.ImplicitALS(random_state=args.seed, **{**hp, "alpha": alpha - 1}))
            same_conf = f"{n:.4f}"
        rows.append({"model": f"ALS alpha={alpha}", "likewise NDCG@10": f"{nd_lw[0]:.4f}",
                     "likewise, alpha-1 (= implicit's confidences)": same_conf,
                     "implicit NDCG@10": f"{nd_peer[0]:.4f}",
                     "likewise fit s": f"{np.median(fits_lw):.3f}",
                     "implicit fit s": f"{np.median(fits_peer):.3f}",
                     "fit time ratio (lw/peer)":
                         f"{np.median(fits_lw) / np.median(fits_peer):.2f}"})
        print(rows[-1], flush=True)
    hp = dict(factors=100, learning_rate=0.01, regularization=0.01)
    n_lw, f_lw = run_lw(likewise.BPR(epochs=100, random_state=args.seed, **hp))
    n_peer, f_peer = run_peer(BayesianPersonalizedRanking(iterations=100,
                                                          random_state=args.seed, **hp))
    rows.append({"model": "BPR (implicit defaults)", "likewise NDCG@10": f"{n_lw:.4f}",
                 "likewise, alpha-1 (= implicit's confidences)": "-",
                 "implicit NDCG@10": f"{n_peer:.4f}", "likewise fit s": f"{f_lw:.3f}",
                 "implicit fit s": f"{f_peer:.3f}",
                 "fit time ratio (lw/peer)": f"{f_lw / f_peer:.2f}"})
    print(rows[-1], flush=True)
    n_lw, f_lw = run_lw(likewise.EASE(lambda_=args.ease_lambda))
    rows.append({"model": f"EASE lambda={args.ease_lambda:g}",
                 "likewise NDCG@10": f"{n_lw:.4f}",
                 "likewise, alpha-1 (= implicit's confidences)": "-", "implicit NDCG@10": "-",
                 "likewise fit s": f"{f_lw:.3f}", "implicit fit s": "-",
                 "fit time ratio (lw/peer)": "-"})
    print()
    print(f"MovieLens 100K implicit, per-user 80/20 holdout (seed {args.seed}), "
          f"{len(users)} test users, all unseen items ranked")
    print(table(rows))


# ---------------------------------------------------------------------------------------
# scale: 20M synthetic, each library in its own process
# ---------------------------------------------------------------------------------------
_CACHE = "/tmp/likewise_bench_ml20m.npz"


def _make_scale_data(seed: int) -> None:
    if os.path.exists(_CACHE):
        return
    import likewise

    t = time.perf_counter()
    data = likewise.synthetic(preset="movielens-20m", kind="implicit", random_state=seed)
    m = data.matrix
    np.savez(_CACHE, indptr=m.indptr, indices=m.indices, data=m.data,
             shape=np.array(m.shape))
    print(f"generated {data} in {time.perf_counter() - t:.1f}s", flush=True)


class _PeakRSS:
    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _scale_worker(lib: str, args) -> dict:
    import scipy.sparse as sp

    z = np.load(_CACHE)
    m = sp.csr_matrix((z["data"].astype(np.float32), z["indices"], z["indptr"]),
                      shape=tuple(z["shape"]))
    rng = np.random.default_rng(args.seed)
    users = np.sort(rng.choice(m.shape[0], size=10_000, replace=False))
    hp = dict(factors=64, iterations=args.iterations, regularization=args.regularization,
              alpha=1.0)
    if lib == "likewise":
        import likewise
        from likewise.data.interactions import Interactions
        from likewise.data.vocabulary import Vocabulary

        data = Interactions(m, Vocabulary(np.arange(m.shape[0])),
                            Vocabulary(np.arange(m.shape[1])), kind="implicit")
        likewise.ImplicitALS(factors=8, iterations=1).fit(
            likewise.datasets.movielens("100k"))  # compile outside the measurement
        model = likewise.ImplicitALS(random_state=args.seed, **hp)
        with _PeakRSS() as mem:
            t = time.perf_counter()
            model.fit(data)
            fit = time.perf_counter() - t
        model.recommend(users[:100], n=10)  # compile the top-N kernel outside the timing
        rec = []
        for _ in range(3):
            t = time.perf_counter()
            model.recommend(users, n=10)
            rec.append(time.perf_counter() - t)
        rec = float(np.median(rec))
    else:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        model = AlternatingLeastSquares(random_state=args.seed, **hp)
        with _PeakRSS() as mem, threadpool_limits(1, "blas"):
            t = time.perf_counter()
            model.fit(m, show_progress=False)
            fit = time.perf_counter() - t
        rec = []
        for _ in range(3):
            t = time.perf_counter()
            model.recommend(users, m[users], N=10, filter_already_liked_items=True)
            rec.append(time.perf_counter() - t)
        rec = float(np.median(rec))
    return {"fit_s": fit, "peak_rss_increase_mib": (mem.peak - mem.base) / 2**20,
            "recommend_10k_s": rec, "nnz": int(m.nnz), "shape": list(m.shape)}


def bench_scale(args) -> None:
    _make_scale_data(args.seed)
    results = {}
    for lib in ("implicit", "likewise"):
        cmd = [sys.executable, os.path.abspath(__file__), "scale-worker", "--lib", lib,
               "--seed", str(args.seed), "--regularization", str(args.regularization),
               "--iterations", str(args.iterations)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[lib] = json.loads(out.stdout.strip().splitlines()[-1])
        print(lib, results[lib], flush=True)
    lw, peer = results["likewise"], results["implicit"]
    rows = [{"measure": k, "likewise": f"{lw[k]:.2f}", "implicit": f"{peer[k]:.2f}",
             "ratio (lw/peer)": f"{lw[k] / peer[k]:.2f}"}
            for k in ("fit_s", "peak_rss_increase_mib", "recommend_10k_s")]
    print()
    print(f"synthetic movielens-20m implicit: {lw['nnz']} interactions, shape {lw['shape']}; "
          f"ALS 64 factors, {args.iterations} iterations; recommend = median of 3")
    print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["rating", "tune", "topn", "scale", "scale-worker"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=20.0)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ease-lambda", type=float, default=500.0)
    parser.add_argument("--lib", default="likewise")
    parser.add_argument("--inner-folds", type=int, default=3)
    args = parser.parse_args()
    if args.part == "rating":
        bench_rating(args)
    elif args.part == "tune":
        bench_tune(args)
    elif args.part == "topn":
        bench_topn(args)
    elif args.part == "scale":
        bench_scale(args)
    else:
        print(json.dumps(_scale_worker(args.lib, args)))


if __name__ == "__main__":
    main()
