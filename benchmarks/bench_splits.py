"""Splits: likewise.splits against the usual pandas idioms, in the same run.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_splits.py --rows 5000000 --repeats 3

Each side produces a train and a test set from the same synthetic data (power-law users
and items, MovieLens-20M-like shape scaled to ``--rows``): likewise from ``Interactions``
(CSR; train and test are again ``Interactions`` sharing vocabularies), pandas from a
DataFrame of the same rows (train and test DataFrames). Times are medians of
``--repeats`` runs; ratio = pandas / likewise (> 1: likewise is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import likewise
    from likewise import splits

    # MovieLens 20M: ~138k users, ~27k items for 20M rows; scale users/items with rows
    scale = args.rows / 20_000_000
    data = likewise.synthetic(n_users=max(1000, int(138_000 * scale)),
                              n_items=max(500, int(27_000 * scale)),
                              n_interactions=args.rows, random_state=0)
    frame = data.to_frame(ids=False)
    print(f"{data!r}; repeats={args.repeats}")

    def pd_holdout():
        test = frame.sample(frac=0.2, random_state=0)
        return frame.drop(test.index), test

    def pd_user_holdout():
        test = frame.groupby("user").sample(frac=0.2, random_state=0)
        return frame.drop(test.index), test

    def pd_leave_last_out():
        ordered = frame.sort_values(["user", "timestamp"], kind="stable")
        test = ordered.groupby("user").tail(1)
        return ordered.drop(test.index), test

    def pd_temporal():
        cut = frame["timestamp"].quantile(0.8)
        return frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]

    def pd_kfold():
        fold = np.random.default_rng(0).permutation(len(frame)) % 5
        for f in range(5):
            _ = frame[fold != f], frame[fold == f]

    cases = [
        ("random holdout 20%", lambda: splits.holdout(data, 0.2, random_state=0),
         pd_holdout),
        ("per-user holdout 20%", lambda: splits.user_holdout(data, 0.2, random_state=0),
         pd_user_holdout),
        ("leave-last-one-out", lambda: splits.temporal_user(data, test_k=1),
         pd_leave_last_out),
        ("temporal, latest 20%", lambda: splits.temporal(data, test_size=0.2), pd_temporal),
        ("5-fold CV (all folds)", lambda: list(splits.kfold(data, 5, random_state=0)),
         pd_kfold),
    ]
    rows = []
    for name, ours, theirs in cases:
        t_ours = timed(ours, args.repeats)
        t_theirs = timed(theirs, args.repeats)
        rows.append((name, t_ours, t_theirs))
        print(f"{name:<24} likewise {t_ours:7.2f} s   pandas {t_theirs:7.2f} s   "
              f"ratio {t_theirs / t_ours:5.1f}", flush=True)

    print()
    print(f"| split ({args.rows:,} rows) | likewise (s) | pandas (s) | pandas / likewise |")
    print("|---|---:|---:|---:|")
    for name, a, b in rows:
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.1f} |")


if __name__ == "__main__":
    main()
