"""Baseline vs Surprise's BaselineOnly (and Random vs NormalPredictor), identical folds.

Run (after `make bench-venv`):

    benchmarks/.venv/bin/python benchmarks/bench_baseline.py --folds 5

Prints a Markdown table per model pair: RMSE of each, the RMSE delta, and fit/predict
times with their ratio (peer / likewise, so > 1 means likewise is faster). Times are
medians over folds; both libraries run in the same process on the same folds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import pandas as pd
    from surprise import BaselineOnly, Dataset, NormalPredictor, Reader

    import likewise
    from likewise.splits import kfold

    data = likewise.datasets.movielens("100k")
    pairs = [
        ("Baseline (ALS)", lambda: likewise.Baseline(),
         lambda: BaselineOnly(bsl_options={"method": "als"}, verbose=False)),
        ("Baseline (SGD)", lambda: likewise.Baseline(method="sgd"),
         lambda: BaselineOnly(bsl_options={"method": "sgd"}, verbose=False)),
        ("Random", lambda: likewise.Random(random_state=0), lambda: NormalPredictor()),
    ]
    rows = {name: {"lw_rmse": [], "peer_rmse": [], "lw_fit": [], "peer_fit": [],
                   "lw_pred": [], "peer_pred": []} for name, _, _ in pairs}
    # warm up numba kernels so compile time is not billed to a fold
    likewise.Baseline(method="sgd").fit(data).predict(data.users.ids[:2], data.items.ids[:2])
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
            t = time.perf_counter()
            est = model.predict(test_df["user"].to_numpy(), test_df["item"].to_numpy())
            r["lw_pred"].append(time.perf_counter() - t)
            r["lw_rmse"].append(rmse(est, test_df["rating"]))
            peer = make_peer()
            t = time.perf_counter()
            peer.fit(trainset)
            r["peer_fit"].append(time.perf_counter() - t)
            t = time.perf_counter()
            preds = peer.test(testset)
            r["peer_pred"].append(time.perf_counter() - t)
            r["peer_rmse"].append(rmse([p.est for p in preds], test_df["rating"]))
        print(f"fold {fold + 1}/{args.folds} done", flush=True)

    table = []
    for name, r in rows.items():
        med = {k: float(np.median(v)) for k, v in r.items()}
        table.append({
            "model": name,
            "likewise RMSE": f"{np.mean(r['lw_rmse']):.4f}",
            "Surprise RMSE": f"{np.mean(r['peer_rmse']):.4f}",
            "delta": f"{np.mean(r['lw_rmse']) - np.mean(r['peer_rmse']):+.4f}",
            "likewise fit s": f"{med['lw_fit']:.4f}",
            "Surprise fit s": f"{med['peer_fit']:.4f}",
            "fit speed-up": f"{med['peer_fit'] / med['lw_fit']:.1f}x",
            "predict speed-up": f"{med['peer_pred'] / med['lw_pred']:.1f}x",
        })
    print()
    print(pd.DataFrame(table).to_markdown(index=False))


if __name__ == "__main__":
    main()
