"""Cold-user benchmark: content vs popularity vs collaborative vs hybrids on MovieLens 100K.

Protocol (same for every model, ``--seeds`` random splits, default 5):

1. ``likewise.splits.user_holdout(test_size=0.2, random_state=s)``: 20% of each user's
   ratings are test.
2. Cold users: a random 30% of users keep only k ~ U{1..10} random training ratings
   (MovieLens 100K has no user with fewer than 20 ratings, so cold users are simulated).
3. Every choice is made on the training data only: ``ContentKNN(popularity_prior="auto",
   profile_shrinkage="auto")`` picks its prior on an internal split of the training data;
   blend weights are chosen by ``WeightedHybrid.fit_weights`` on a validation split carved
   from the training data (``validation_split``: 30% of the warm training users keep only
   1-10 ratings and have the rest as validation items, the others hold out 20%), never on
   test. The "3 validation folds" blends pool three such splits (other seeds; sub-models
   fitted on each fold's fit part); "one-SE rule" takes, per bucket, the candidate with the
   most EASE weight among those within one standard error of the best
   (``fit_weights(selection="one_se", prefer="cf")``).
4. NDCG@10 over all unseen items, binary relevance (every held-out rating), for the cold
   users (<= 10 training interactions) and for all test users.

Run: ``.venv/bin/python benchmarks/bench_content.py [--seeds 10]``
"""

from __future__ import annotations

import argparse
import os
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


def validation_split(train, seed, share=0.3, max_keep=10, test_size=0.2):
    """(fit part, validation) carved from the training data, shaped like the test situation.

    A random ``share`` of the users with more than ``max_keep`` training ratings keep only
    k ~ U{1..max_keep} of them in the fit part and have all the others as validation items
    (simulated cold users with a full-size holdout, so blend weights for short histories
    are tuned on plenty of signal); every other user has ``test_size`` of their ratings
    held out.
    """
    rng = np.random.default_rng(seed)
    counts = np.diff(train.matrix.indptr)
    sim = (counts > max_keep) & (rng.random(train.n_users) < share)
    keep_k = rng.integers(1, max_keep + 1, size=train.n_users)
    rows = train.user_indices()
    order = np.lexsort((rng.random(train.nnz), rows))
    rank = np.empty(train.nnz, np.int64)
    rank[order] = np.arange(train.nnz) - train.matrix.indptr[rows[order]]
    n_out = np.rint(test_size * counts).astype(np.int64)
    in_fit = np.where(sim[rows], rank < keep_k[rows], rank >= n_out[rows])
    return train.take(np.nonzero(in_fit)[0]), train.take(np.nonzero(~in_fit)[0])


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


def content_auto(seed):
    # uncentred: the protocol counts every held-out rating as relevant, so what a user
    # watched matters, not whether they liked it
    return likewise.ContentKNN(popularity_prior="auto", profile_shrinkage="auto",
                               centered=False, random_state=seed)


BLENDS = (  # name, content key, normalisation, activity bins, validation folds, selection
    ("EASE+content(auto), minmax", "auto", "minmax", None, 1, "best"),
    ("EASE+content(auto), rank", "auto", "rank", None, 1, "best"),
    ("EASE+content(auto), minmax, weights per activity (<=10, >10)", "auto", "minmax", [10], 1,
     "best"),
    ("EASE+content(auto), rank, weights per activity (<=10, >10)", "auto", "rank", [10], 1, "best"),
    ("EASE+content(auto), minmax, per activity, one-SE rule", "auto", "minmax", [10], 1, "one_se"),
    ("EASE+content(auto), minmax, per activity, 3 validation folds", "auto", "minmax", [10], 3,
     "best"),
    ("EASE+content(auto), minmax, per activity, 3 validation folds, one-SE rule", "auto", "minmax",
     [10], 3, "one_se"),
    ("EASE+content(pure), minmax", "pure", "minmax", None, 1, "best"),
)

def run(seed):
    data = likewise.datasets.movielens("100k")
    train, test = user_holdout(data, test_size=0.2, random_state=seed)
    train = coldify(train, seed)
    # validation split for the blend weights, carved from the training data only
    fit_part, valid = validation_split(train, seed + 100)
    results, times, chosen = {}, {}, {}

    def add(name, model, data_=train):
        t = time.perf_counter()
        model.fit(data_)
        times[name] = time.perf_counter() - t
        results[name] = evaluate(model, train, test)
        return model

    add("Popularity", likewise.Popularity())
    add("ContentKNN (pure, title+genres, centred: the old default)",
        likewise.ContentKNN(numeric_fields=[]))
    add("ContentKNN (pure, title+genres+year, uncentred)", likewise.ContentKNN(centered=False))
    add("ContentKNN (title+genres, popularity_prior=0.9: the old best)",
        likewise.ContentKNN(numeric_fields=[], popularity_prior=0.9, centered=False))
    auto = add("ContentKNN (title+genres+year, prior and shrinkage 'auto')", content_auto(seed))
    chosen["content prior, shrinkage"] = (auto.popularity_prior_, auto.profile_shrinkage_)
    ease = add("EASE", cf_model())
    pure = likewise.ContentKNN(centered=False).fit(train)
    full = {"cf": ease, "auto": auto, "pure": pure}
    # sub-models for tuning: fitted once on the validation-fit part
    part = {"cf": cf_model().fit(fit_part), "auto": content_auto(seed).fit(fit_part),
            "pure": likewise.ContentKNN(centered=False).fit(fit_part)}
    # further validation folds (same recipe, other seeds), for the pooled-fold variants
    folds = [(fit_part, valid)] + [validation_split(train, seed + 100 + 1000 * f) for f in (1, 2)]
    for name, key, norm, bins, n_folds, selection in BLENDS:
        t = time.perf_counter()
        blend = likewise.WeightedHybrid({"cf": full["cf"], "content": full[key]}, refit=False,
                                        normalisation=norm, activity_bins=bins).fit(train)
        times[f"WeightedHybrid {name}"] = time.perf_counter() - t + times["EASE"]
        prefer = "cf" if selection == "one_se" else None
        if n_folds == 1:  # sub-models already fitted on the validation-fit part
            tuner = likewise.WeightedHybrid({"cf": part["cf"], "content": part[key]}, refit=False,
                                            normalisation=norm, activity_bins=bins).fit(fit_part)
            tuner.fit_weights(valid, metric="ndcg@10", step=0.05, selection=selection,
                              prefer=prefer)
            w = tuner.weights
        else:  # sub-models cloned and fitted on every fold's fit part
            blend.fit_weights(folds[:n_folds], metric="ndcg@10", step=0.05, selection=selection,
                              prefer=prefer)
            w = blend.weights
        chosen[name] = [b["content"] for b in w] if isinstance(w, list) else w["content"]
        blend.set_params(weights=w).fit(train)
        results[f"WeightedHybrid {name}"] = evaluate(blend, train, test)
    add("SwitchingHybrid (EASE warm, content 'auto' for <=10)",
        likewise.SwitchingHybrid(warm=ease, cold_user=auto, user_threshold=11, refit=False))
    times["SwitchingHybrid (EASE warm, content 'auto' for <=10)"] += times["EASE"]
    return results, times, chosen


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    per_seed = [run(s) for s in range(args.seeds)]
    names = list(per_seed[0][0])
    print(f"MovieLens 100K, per-user holdout, 30% of users cold (1-10 training ratings), "
          f"NDCG@10, mean over {args.seeds} splits (per-split values in brackets)\n")
    print("| model | cold users NDCG@10 | all users NDCG@10 | fit s |")
    print("|---|---:|---:|---:|")
    for name in names:
        cold = [r[name]["cold"] for r, _, _ in per_seed]
        alls = [r[name]["all"] for r, _, _ in per_seed]
        fit = np.median([t[name] for _, t, _ in per_seed])
        print(f"| {name} | {np.mean(cold):.4f} ({', '.join(f'{c:.4f}' for c in cold)}) | "
              f"{np.mean(alls):.4f} ({', '.join(f'{a:.4f}' for a in alls)}) | {fit:.2f} |")
    print("\nChoices made on training data (per split):")
    for name in per_seed[0][2]:
        print(f"- {name}: {'; '.join(str(c[name]) for _, _, c in per_seed)}")
    pop = "Popularity"
    content = "ContentKNN (title+genres+year, prior and shrinkage 'auto')"
    print("\nPer-split differences (cold users):")
    targets = []
    diff = [r[content]["cold"] - r[pop]["cold"] for r, _, _ in per_seed]
    print(f"- content(auto) - popularity: {', '.join(f'{d:+.4f}' for d in diff)}")
    for name, *_ in BLENDS:
        key = f"WeightedHybrid {name}"
        part = content if "auto" in name else "ContentKNN (pure, title+genres+year, uncentred)"
        met = sum(r[key]["cold"] > r["EASE"]["cold"] and r[key]["cold"] > r[part]["cold"] and
                  r[key]["all"] >= r["EASE"]["all"] - 0.005 for r, _, _ in per_seed)
        targets.append(f"- {name}: {met}/{len(per_seed)}")
        d_cf = [r[key]["cold"] - r["EASE"]["cold"] for r, _, _ in per_seed]
        d_ct = [r[key]["cold"] - r[part]["cold"] for r, _, _ in per_seed]
        d_all = [r[key]["all"] - r["EASE"]["all"] for r, _, _ in per_seed]
        print(f"- {name}: vs EASE {', '.join(f'{d:+.4f}' for d in d_cf)}; vs its content "
              f"{', '.join(f'{d:+.4f}' for d in d_ct)}; all users vs EASE "
              f"{', '.join(f'{d:+.4f}' for d in d_all)}")
    print("\nSplits meeting the target (cold: beats EASE and its content; all users: >= EASE - "
          "0.005):")
    print("\n".join(targets))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
