"""EASE: Steck's embarrassingly shallow autoencoder (closed-form item-item model).

With X the binary user x item matrix, EASE learns the item x item weights

    B = argmin ||X - X B||^2 + lambda ||B||^2  subject to diag(B) = 0,

whose solution is P = (X^T X + lambda I)^-1, B = I - P / diag(P) (Steck 2019). Scores are
X_u B, so a new user is scored directly from their history. The dense item x item
matrices are the model's cost: ``fit`` refuses, naming the memory needed, when they
would not fit in ``max_memory``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._params import Bool, Choice, Float, Int
from ..data.interactions import Interactions
from ..errors import ConfigError
from ._persistence import check_state
from .base import Recommender, top_n

__all__ = ["EASE"]


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


class EASE(Recommender):
    """Closed-form linear item-item model (Steck 2019).

    Parameters
    ----------
    lambda_ : float
        L2 regularisation added to the Gram matrix diagonal (default 500; Steck reports
        200-1000 on MovieLens-sized data).
    binary : bool
        Use 1 for every interaction (default True) instead of its value.
    dtype : {"float64", "float32"}
        Precision of the Gram solve (default float64; float32 halves the memory).
    max_memory : int
        Refuse to fit when the dense item x item matrix (n_items^2 * 8 bytes) is larger than
        this many bytes (default 4 GiB).

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.EASE(lambda_=500).fit(data)
    >>> model.recommend([196], n=5).items.shape
    (1, 5)
    """

    estimates_ratings: ClassVar[bool] = False
    _param_spec: ClassVar[dict] = {
        "lambda_": Float(0, low_open=True,
                         help="L2 regularisation added to the Gram matrix diagonal."),
        "binary": Bool(help="Use 1 for every interaction instead of its value."),
        "dtype": Choice(("float64", "float32"),
                        help="Precision of the Gram solve (float32 halves the memory)."),
        "max_memory": Int(1, help="Refuse to fit when the dense item x item matrix needs more "
                                  "bytes than this."),
    }

    def __init__(self, lambda_: float = 500.0, binary: bool = True, dtype: str = "float64",
                 max_memory: int = 4 * 2**30):
        self.lambda_ = lambda_
        self.binary = binary
        self.dtype = dtype
        self.max_memory = max_memory

    def _check_params(self, data: Interactions) -> None:
        needed = float(data.n_items) ** 2 * 8
        if needed > self.max_memory:
            raise ConfigError(
                f"EASE: {data.n_items} items need a dense {data.n_items} x {data.n_items} "
                f"matrix of {_gib(needed)} (n_items^2 * 8 bytes), more than max_memory="
                f"{self.max_memory} ({_gib(self.max_memory)}); raise max_memory if the machine "
                "has room, or keep fewer items, e.g. data.filter(min_item_interactions=...)")

    def _inputs(self, data_matrix):
        x = data_matrix.astype(np.float32, copy=True)
        if self.binary:
            x.data[:] = 1.0
        return x

    def _validate_state(self) -> None:
        super()._validate_state()
        check_state(self, {"weights_": ("items", "items")}, finite=("weights_",),
                    required=("weights_",))

    def _fit(self, data: Interactions) -> None:
        dtype = np.dtype(self.dtype)
        x = self._inputs(data.matrix)
        gram = np.asarray((x.T @ x).toarray(), dtype=dtype)
        gram[np.diag_indices_from(gram)] += dtype.type(self.lambda_)
        # the inverse is the solution of G P = I; scipy's SPD path (Cholesky) is ~2x faster
        import scipy.linalg

        P = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        del gram
        diag = np.diag(P).copy()
        P /= -diag[None, :]
        P[np.diag_indices_from(P)] = 0.0
        if not np.all(np.isfinite(diag)):
            raise ConfigError(f"EASE: the Gram solve was not finite; increase lambda_ (now "
                              f"{self.lambda_}) or use dtype='float64'")
        # C order: scoring reads rows of B; scipy's inverse comes back Fortran-ordered, and
        # sparse @ Fortran-ordered dense copies the whole matrix on every call
        self.weights_ = np.ascontiguousarray(P, dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        x = self._inputs(self.user_items_[user_idx])
        return np.asarray(x @ self.weights_, dtype=np.float32)

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        w = np.ones(len(item_idx), np.float32) if self.binary else values.astype(np.float32)
        return w @ self.weights_[item_idx]

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        # B[i, j] is how much using item i raises the score of item j
        sims = np.array(self.weights_[item_idx], dtype=np.float32)
        sims[np.arange(len(item_idx)), item_idx] = -np.inf
        return top_n(sims, n)
