"""Data sets: MovieLens 100K embedded in the package; larger releases download on demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.interactions import Interactions

__all__ = ["movielens", "EMBEDDED_DIR"]

EMBEDDED_DIR = Path(__file__).parent / "movielens-100k"


def movielens(variant: str = "100k") -> Interactions:
    """MovieLens ratings with movie titles, years and genres as item metadata.

    Parameters
    ----------
    variant : str
        ``"100k"`` is embedded (offline, instant).

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> movielens("100k")
    Interactions(100000 explicit interactions, 943 users, 1682 items, scale=1-5)
    """
    if variant != "100k":
        from ..errors import ConfigError

        raise ConfigError(f"unknown MovieLens variant {variant!r}")
    import pyarrow.csv as pacsv

    ratings = pacsv.read_csv(EMBEDDED_DIR / "ratings.csv")
    movies = pacsv.read_csv(EMBEDDED_DIR / "movies.csv").to_pandas().set_index("movieId")
    users = pacsv.read_csv(EMBEDDED_DIR / "users.csv").to_pandas().set_index("userId")
    return Interactions.from_arrays(
        ratings["userId"].to_numpy(), ratings["movieId"].to_numpy(),
        ratings["rating"].to_numpy().astype(np.float32), ratings["timestamp"].to_numpy(),
        rating_scale=(1, 5), item_metadata=movies, user_metadata=users,
        source="movielens-100k")
