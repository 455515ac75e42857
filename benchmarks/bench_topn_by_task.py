"""Which models are for top-N: NDCG@10 of every model's ``recommend`` on MovieLens 100K.

Run (likewise only, no peer libraries: the main venv is enough):

    .venv/bin/python benchmarks/bench_topn_by_task.py

One per-user 80/20 holdout (``likewise.splits.user_holdout``, seed 0), every unseen item
ranked, seen items excluded, every held-out rating relevant. Rating-prediction models are
fitted on the ratings (so ``recommend`` ranks by predicted rating, and each would warn
with ``likewise.RatingRankingWarning``); top-N models on the same training interactions
as likes (``train.as_implicit()``). Both sets are scored by ``likewise.compare`` on the
same test users and items. Takes about a minute on two cores.
"""

from __future__ import annotations

import warnings


def rating_models() -> dict:
    """Models fitted for rating prediction (predict gives ratings on the 1-5 scale)."""
    import likewise

    return {
        "Random": likewise.Random(random_state=0),
        "Baseline": likewise.Baseline(),
        "SVD": likewise.SVD(random_state=0),
        "SVDpp": likewise.SVDpp(random_state=0),
        "NMF": likewise.NMF(random_state=0),
        "ALS": likewise.ALS(random_state=0),
        "BayesianMF": likewise.BayesianMF(random_state=0),
        "UserKNN cosine (explicit)": likewise.UserKNN(similarity="cosine"),
        "ItemKNN cosine (explicit)": likewise.ItemKNN(similarity="cosine"),
        "ItemKNN pearson_baseline (explicit)": likewise.ItemKNN(),
        # the same neighbours as UserKNN cosine, ranked by votes instead of ratings
        "UserKNN cosine, mode=implicit": likewise.UserKNN(similarity="cosine", mode="implicit"),
    }


def topn_models() -> dict:
    """Models for top-N lists, fitted on the interactions as likes."""
    import likewise

    return {
        "Popularity": likewise.Popularity(),
        "ItemKNN bm25": likewise.ItemKNN(k=100, similarity="bm25"),
        "ImplicitALS": likewise.ImplicitALS(factors=64, iterations=15, regularization=20.0,
                                            random_state=0),
        "BPR": likewise.BPR(factors=64, random_state=0),
        "EASE": likewise.EASE(lambda_=500.0),
    }


def main() -> None:
    import likewise
    from likewise import splits

    warnings.simplefilter("ignore", likewise.RatingRankingWarning)  # the point is measured
    data = likewise.datasets.movielens("100k")
    train, test = splits.user_holdout(data, test_size=0.2, random_state=0)
    on_ratings = likewise.compare(rating_models(), train=train, test=test, protocol="topn",
                                  k=10, progress=False)
    on_likes = likewise.compare(topn_models(), train=train.as_implicit(),
                                test=test.as_implicit(), protocol="topn", k=10, progress=False)
    print("fitted on ratings (recommend ranks by predicted rating):")
    print(on_ratings.to_frame()[["ndcg@10"]].round(3).to_string())
    print("\nfitted on the same interactions as likes:")
    print(on_likes.to_frame()[["ndcg@10"]].round(3).to_string())


if __name__ == "__main__":
    main()
