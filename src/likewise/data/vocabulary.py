"""Id vocabularies: external ids (ints or strings) <-> contiguous indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError, UnknownIdError

__all__ = ["Vocabulary"]


def _normalise_ids(values: Any, what: str = "ids") -> np.ndarray:
    """Return ids as an int64 array or a unicode array; reject mixed or float ids."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "b":
        raise DataError(f"{what} must be integers or strings, got booleans")
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise DataError(f"{what} contain missing values (NaN); every row needs an id")
        if arr.size and np.any(arr != np.round(arr)):
            raise DataError(f"{what} must be integers or strings, got non-integer numbers")
        return arr.astype(np.int64)
    if arr.dtype.kind == "O" or arr.dtype.kind == "S":
        if arr.dtype.kind == "S":
            return arr.astype("U")
        if arr.size == 0:
            return arr.astype("U")
        from pandas.api.types import infer_dtype

        # one C pass; the per-element type set below is only built for the error message
        inferred = infer_dtype(arr.ravel(), skipna=False)
        if inferred == "integer":
            return arr.astype(np.int64)
        if inferred == "string":
            return arr.astype("U")
        kinds = {type(v) for v in arr.ravel().tolist()}
        if kinds <= {int, np.int64, np.int32}:
            return arr.astype(np.int64)
        if kinds <= {str, np.str_}:
            return arr.astype("U")
        raise DataError(
            f"{what} mix types ({', '.join(sorted(k.__name__ for k in kinds))}); "
            "use only integers or only strings for one id column"
        )
    raise DataError(f"{what} must be integers or strings, got dtype {arr.dtype}")


class Vocabulary:
    """An ordered set of external ids; position in it is the internal index.

    Ids are either all integers (stored as int64) or all strings. Lookups are
    vectorised; unknown ids follow an explicit policy.

    Parameters
    ----------
    ids : array-like
        Unique external ids, in index order.

    Examples
    --------
    >>> vocab = Vocabulary(["b", "a", "c"])
    >>> vocab.index(["a", "c"]).tolist()
    [1, 2]
    >>> vocab.ids_of([0]).tolist()
    ['b']
    """

    __slots__ = ("ids", "_index")

    def __init__(self, ids: Any):
        ids = _normalise_ids(ids)
        self.ids = ids
        self._index = None
        if not self._pd_index().is_unique:
            raise DataError("vocabulary ids must be unique")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_values(cls, values: Any, *, what: str = "ids") -> tuple["Vocabulary", np.ndarray]:
        """Build a sorted vocabulary from (possibly repeated) values and return their codes."""
        import pandas as pd

        arr = _normalise_ids(values, what)
        codes, uniques = pd.factorize(arr, sort=True)
        vocab = cls.__new__(cls)
        vocab.ids = np.asarray(uniques).astype(arr.dtype if arr.dtype.kind == "i" else "U")
        vocab._index = None
        return vocab, codes.astype(np.int64, copy=False)

    def _pd_index(self):
        if self._index is None:
            import pandas as pd

            self._index = pd.Index(self.ids)
        return self._index

    # -- properties -------------------------------------------------------------------
    @property
    def is_integer(self) -> bool:
        return self.ids.dtype.kind == "i"

    @property
    def missing_id(self):
        """Fill value used where a result has no id (padding): -1 or the empty string."""
        return -1 if self.is_integer else ""

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, value: Any) -> bool:
        return bool(self.index([value], on_unknown="ignore")[0] >= 0)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.ids.dtype.kind == other.ids.dtype.kind
            and len(self) == len(other)
            and bool(np.all(self.ids == other.ids))
        )

    __hash__ = None  # mutable-looking container; compare by value only

    def __repr__(self) -> str:
        head = ", ".join(repr(x) for x in self.ids[:3].tolist())
        more = ", ..." if len(self) > 3 else ""
        return f"Vocabulary([{head}{more}], n={len(self)})"

    # -- lookups ----------------------------------------------------------------------
    def index(self, values: Any, on_unknown: str = "raise", *, error=UnknownIdError,
              what: str = "id") -> np.ndarray:
        """Indices of ``values``; unknown ids raise (``on_unknown='raise'``) or map to -1."""
        arr = np.asarray(values)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        arr = self._coerce(arr)
        if arr is None:
            idx = np.full(np.asarray(values).reshape(-1).shape[0], -1, dtype=np.int64)
        else:
            idx = self._pd_index().get_indexer(arr).astype(np.int64, copy=False)
        if on_unknown == "raise" and (idx < 0).any():
            bad = np.asarray(values).reshape(-1)[idx < 0]
            shown = ", ".join(repr(v) for v in bad[:5].tolist())
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise error(f"unknown {what}: {shown}{more}", ids=bad)
        return idx

    def _coerce(self, arr: np.ndarray) -> np.ndarray | None:
        """Bring query ids to the vocabulary's type (e.g. '42' for an int vocabulary)."""
        if self.is_integer:
            if arr.dtype.kind in "iu":
                return arr.astype(np.int64, copy=False)
            try:
                return arr.astype(np.int64)
            except (TypeError, ValueError):
                return None
        if arr.dtype.kind == "U":
            return arr
        return arr.astype(str)

    def ids_of(self, indices: Any) -> np.ndarray:
        """External ids at ``indices``; -1 becomes :attr:`missing_id`."""
        indices = np.asarray(indices, dtype=np.int64)
        out = self.ids[np.clip(indices, 0, max(len(self) - 1, 0))] if len(self) else \
            np.full(indices.shape, self.missing_id, dtype=self.ids.dtype)
        if (indices < 0).any():
            out = out.copy()
            out[indices < 0] = self.missing_id
        return out

    def take(self, indices: Any) -> "Vocabulary":
        """A new vocabulary of the ids at ``indices`` (in that order)."""
        return Vocabulary(self.ids[np.asarray(indices, dtype=np.int64)])

    def union(self, values: Any) -> "Vocabulary":
        """This vocabulary followed by the ids of ``values`` it does not hold yet."""
        arr = _normalise_ids(values)
        if arr.size == 0:
            return self
        if arr.dtype.kind != self.ids.dtype.kind and len(self):
            raise DataError("cannot mix integer and string ids in one vocabulary")
        new = arr[self.index(arr, on_unknown="ignore") < 0]
        if new.size == 0:
            return self
        import pandas as pd

        new = pd.unique(new)
        return Vocabulary(np.concatenate([self.ids, np.asarray(new, dtype=self.ids.dtype)]))
