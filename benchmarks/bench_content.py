"""Cold-user benchmark: content vs popularity vs collaborative vs hybrids on MovieLens 100K.

Protocol (same for every model, 3 random splits):

1. ``likewise.splits.user_holdout(test_size=0.2)``: 20% of each user's ratings are test.
2. Cold users: a random 30% of users keep only k ~ U{1..10} random training ratings
   (MovieLens 100K has no user with fewer than 20 ratings, so cold users are simulated).
3. Blend weights are chosen on a validation split carved from the training data
   (``user_holdout`` of train, the same coldification), never on the test data.
4. NDCG@10 over all unseen items, binary relevance (every held-out rating), for the cold
   users (<= 10 training interactions) and for all test users.

Run: ``.venv/bin/python benchmarks/bench_content.py [--seeds 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import likewise
from likewise.metrics import ndcg_at_k
from likewise.splits import user_holdout


def coldify(train, seed, share=0.3, max_keep=10):
    rng = np.random.default_rng(seed)
    cold = rng.random(train.n_users) < share
    keep_k = rng.integers(1, max_keep + 1, size=train.n_users)
    rows = train.user_indices()
    order = np.lexsort((rng.random(train.nnz), rows))
    rank = np.empty(train.nnz, np.int64)
    rank[order] = np.arange(train.nnz) - train.matrix.indptr[rows[order]]
    return train.take(np.nonzero(~cold[rows] | (rank < keep_k[rows]))[0])


def evaluate(model, train, test):
    has_test = np.diff(test.matrix.indptr) > 0
    counts = np.diff(train.matrix.indptr)
    out = {}
    for group, mask in (("cold", has_test & (counts <= 10)), ("all", has_test)):
        uidx = np.nonzero(mask)[0]
        recs = model.recommend(train.users.ids[uidx], n=10)
        idx = recs.item_indices.copy()
        idx[idx >= test.n_items] = -1  # items outside the data's vocabulary never hit
        out[group] = ndcg_at_k(idx, test.matrix[uidx], 10)
    return out


def cf_model():
    return likewise.EASE(lambda_=500.0)


def run(seed):
    data = likewise.datasets.movielens("100k")
    train, test = user_holdout(data, test_size=0.2, random_state=seed)
    train = coldify(train, seed)
    # validation split for the blend weights, carved from the training data only
    fit_part, valid = user_holdout(train, test_size=0.2, random_state=seed + 100)
    results, times = {}, {}
    weights_used = {}

    def add(name, model, data_=train):
        t = time.perf_counter()
        model.fit(data_)
        times[name] = time.perf_counter() - t
        results[name] = evaluate(model, train, test)
        return model

    add("Popularity", likewise.Popularity())
    add("ContentKNN (pure, centred)", likewise.ContentKNN())
    add("ContentKNN (pure, uncentred)", likewise.ContentKNN(centered=False))
    add("ContentKNN (popularity_prior=0.9)",
        likewise.ContentKNN(popularity_prior=0.9, centered=False))
    add("EASE", cf_model())
    # weights tuned on validation, then the blend is refitted on the whole training data
    for content_name, content, norm in (
            ("content", likewise.ContentKNN(centered=False), "minmax"),
            ("content", likewise.ContentKNN(centered=False), "zscore"),
            ("content+prior", likewise.ContentKNN(popularity_prior=0.9, centered=False),
             "zscore")):
        tuner = likewise.WeightedHybrid({"cf": cf_model(), "content": content.clone()},
                                        normalisation=norm)
        tuner.fit(fit_part)
        tuner.fit_weights(valid, metric="ndcg@10", step=0.05)
        w = tuner.weights
        weights_used[f"WeightedHybrid EASE+{content_name}, {norm}"] = w["content"]
        add(f"WeightedHybrid EASE+{content_name}, {norm}",
            likewise.WeightedHybrid({"cf": cf_model(), "content": content.clone()},
                                    weights=w, normalisation=norm))
    add("SwitchingHybrid (EASE warm, content+prior for <=10)",
        likewise.SwitchingHybrid(warm=cf_model(),
                                 cold_user=likewise.ContentKNN(popularity_prior=0.9,
                                                               centered=False),
                                 user_threshold=11))
    return results, times, weights_used


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    per_seed = [run(s) for s in range(args.seeds)]
    names = list(per_seed[0][0])
    print(f"MovieLens 100K, per-user holdout, 30% of users cold (1-10 training ratings), "
          f"NDCG@10, mean over {args.seeds} splits (per-split values in brackets)\n")
    print("| model | cold users NDCG@10 | all users NDCG@10 | fit s |")
    print("|---|---:|---:|---:|")
    for name in names:
        cold = [r[name]["cold"] for r, _, _ in per_seed]
        alls = [r[name]["all"] for r, _, _ in per_seed]
        fit = np.mean([t[name] for _, t, _ in per_seed])
        print(f"| {name} | {np.mean(cold):.4f} ({', '.join(f'{c:.4f}' for c in cold)}) | "
              f"{np.mean(alls):.4f} ({', '.join(f'{a:.4f}' for a in alls)}) | {fit:.2f} |")
    print("\nBlend weights chosen on validation (w_content per split):")
    for name in per_seed[0][2]:
        print(f"- {name}: {', '.join(f'{w[name]:.2f}' for _, _, w in per_seed)}")


if __name__ == "__main__":
    main()
