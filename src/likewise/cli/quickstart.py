"""``likewise quickstart``: the main job on the embedded MovieLens 100K.

Loads the data, compares rating-prediction models and top-N models on identical splits
(one 80/20 holdout by default, so it finishes in well under a minute), prints both tables, shows the top-10 for
one user with titles, and writes HTML/Markdown/CSV/JSON/PNG reports.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import click


def _rating_models():
    import likewise

    return {
        "Random": likewise.Random(random_state=0),
        "Baseline": likewise.Baseline(),
        "UserKNN (msd, mean-centred)": likewise.UserKNN(k=40, similarity="msd",
                                                       prediction="mean_centered"),
        "ItemKNN (pearson-baseline)": likewise.ItemKNN(k=40, similarity="pearson_baseline",
                                                       prediction="baseline"),
        "SVD": likewise.SVD(random_state=0),
        "SVD++": likewise.SVDpp(random_state=0),
    }


def _topn_models():
    import likewise

    return {
        "Popularity": likewise.Popularity(),
        "ItemKNN (BM25)": likewise.ItemKNN(k=100, similarity="bm25"),
        "ImplicitALS": likewise.ImplicitALS(factors=64, iterations=15, regularization=20.0,
                                            random_state=0),
        "BPR": likewise.BPR(factors=64, random_state=0),
        "EASE": likewise.EASE(lambda_=500.0),
    }


#: Terminal width the printed tables and lines fit.
_WIDTH = 80


def _top_line(rank: int, title: str, year, genres: str, score: float) -> str:
    """One line of the top-10, no wider than :data:`_WIDTH`: long genre lists are cut
    (the HTML report has them whole)."""
    line = f"{rank:>3}. {title} ({year})  score {score:.3f}"
    room = _WIDTH - len(line) - 4  # "  [" and "]"
    if room >= len(genres):
        return f"{line}  [{genres}]"
    return f"{line}  [{genres[:room - 3]}...]" if room > 6 else line[:_WIDTH]


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="likewise-report",
              show_default=True, help="Directory for the reports.")
@click.option("--user", "user_id", type=int, default=1, show_default=True,
              help="User whose top-10 is shown.")
@click.option("--folds", type=click.IntRange(1, 10), default=1, show_default=True,
              help="Folds of each comparison (1 = one 80/20 holdout).")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
def quickstart(out_dir: str, user_id: int, folds: int, progress: bool) -> None:
    """Train and compare models on the embedded MovieLens 100K, then recommend."""
    import numpy as np

    import likewise
    from likewise.datasets import movielens

    started = time.perf_counter()
    out = Path(out_dir)
    data = movielens("100k")
    stats = data.stats()
    click.echo(textwrap.fill(
        f"MovieLens 100K: {stats['interactions']:,} ratings from {stats['users']} users "
        f"on {stats['items']} movies (density {stats['density']:.2%}); ratings "
        + ", ".join(f"{int(k)}*: {v:,}" for k, v in stats["value_histogram"].items()),
        _WIDTH, break_on_hyphens=False))

    click.echo("\n== Rating prediction (RMSE, lower is better) ==")
    protocol = "rating_cv" if folds > 1 else "rating_holdout"
    ratings = likewise.compare(_rating_models(), data, protocol=protocol, folds=max(folds, 2),
                               random_state=42, progress=progress)
    click.echo(ratings.to_text(width=_WIDTH))
    ratings.save(out / "rating", links={"Top-N report": "../topn/report.html"})

    click.echo("\n== Top-10 recommendation, all unseen items ranked (NDCG@10, higher is "
               "better) ==")
    liked = data.as_implicit()
    topn = likewise.compare(_topn_models(), liked, protocol="topn_user_holdout", k=10,
                            folds=folds, random_state=42, progress=progress, sort_by="ndcg")
    click.echo(topn.to_text(width=_WIDTH))

    best_name = topn.best()
    model = _topn_models()[best_name].fit(liked)
    recs = model.recommend([user_id], n=10)
    movies = data.item_metadata
    click.echo(f"\n== Top-10 for user {user_id} by {best_name} (trained on all data) ==")
    seen = data.matrix[data.users.index([user_id])[0]]
    liked_titles = movies.loc[data.items.ids_of(seen.indices[np.argsort(-seen.data)][:3]),
                              "title"].tolist()
    click.echo(f"(this user rated {seen.nnz} movies, loved e.g. {', '.join(liked_titles)})")
    items, scores = recs[0]
    top_rows = []
    for rank, (item, score) in enumerate(zip(items.tolist(), scores.tolist()), 1):
        row = movies.loc[item]
        top_rows.append([rank, row["title"], row["year"], row["genres"], f"{score:.3f}"])
        click.echo(_top_line(rank, row["title"], row["year"], row["genres"], score))
    topn.save(out / "topn", links={"Rating report": "../rating/report.html"}, sections=[(
        f"Top-10 for user {user_id} by {best_name} (trained on all data)",
        ["rank", "title", "year", "genres", "score"], top_rows,
        f"This user rated {seen.nnz} movies and loved e.g. {', '.join(liked_titles)}.")])
    click.echo(f"\nReports: {out / 'rating' / 'report.html'}\n     and "
               f"{out / 'topn' / 'report.html'}\n(plus .md, .csv, .json, .png)")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")

