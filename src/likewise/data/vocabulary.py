"""Id vocabularies: external ids (ints or strings) <-> contiguous indices.

Ids are exact. Integer ids are int64; an id column becomes integers only when every value
is an exact integer within int64: booleans, fractions, NaN/inf, floats too large to hold
an integer exactly and integers beyond int64 are errors when a vocabulary is built, and
unknown ids when one is queried (never rounded or wrapped onto another id). A query float
that is a whole number below 2**53 (2**24 for float32) finds the integer id of that
value, because ids often pass through float columns (pandas turns an integer column
with a missing value into floats); ``1.7``, ``True`` or ``'1e3'`` find nothing.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import DataError, UnknownIdError

__all__ = ["Vocabulary"]

_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
_INT_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")  # ASCII digits only: int('١') is 1, too
_SAFE_DIGITS = 18  # integer text of at most this many digits always fits int64


def _exact_float_bound(dtype: Any) -> float:
    """Whole floats of ``dtype`` below this magnitude are exact integers (2**53 for
    float64); at and beyond it neighbouring integers round to the same float."""
    return float(2 ** (np.finfo(dtype).nmant + 1))


def _first_index(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _float_ids(arr: np.ndarray, what: str) -> np.ndarray:
    """Float ids as int64 when every one is an exact integer; a DataError otherwise."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = arr[_first_index(~finite)]
        if np.isnan(bad):
            raise DataError(f"{what} contain missing values (NaN); every row needs an id")
        raise DataError(f"{what} contain {float(bad)!r}, not an id; every row needs a finite "
                        "integer or string id")
    whole = arr == np.trunc(arr)
    if not whole.all():
        raise DataError(f"{what} must be integers or strings, got non-integer numbers such "
                        f"as {float(arr[_first_index(~whole)])!r}")
    bound = _exact_float_bound(arr.dtype)
    huge = np.abs(arr) >= bound
    if huge.any():
        raise DataError(
            f"{what} are {arr.dtype} numbers as large as {float(arr[_first_index(huge)]):.0f}: "
            f"from 2**{int(np.log2(bound))} on, {arr.dtype} cannot hold every integer (ids "
            "next to each other may already have merged); pass the ids as int64 integers or "
            "as strings")
    return arr.astype(np.int64)


def _beyond_int64(what: str, value: Any) -> DataError:
    return DataError(f"{what} include {value}, beyond the int64 range of integer ids "
                     "(-2**63 .. 2**63-1); pass the ids as strings (e.g. ids.astype(str))")


def _unsigned_ids(arr: np.ndarray, what: str) -> np.ndarray:
    """uint ids as int64; uint64 ids beyond int64 are an error, never wrapped negative."""
    if arr.size and arr.dtype.itemsize == 8 and int(arr.max()) > _INT64_MAX:
        raise _beyond_int64(what, int(arr.max()))
    return arr.astype(np.int64)


def _object_ids(arr: np.ndarray, what: str) -> np.ndarray:
    """An object array (lists of Python values) as int64 or unicode ids."""
    if arr.size == 0:
        return arr.astype("U")
    from pandas.api.types import infer_dtype

    # one C pass; the per-element type set below is only built for the error message
    inferred = infer_dtype(arr.ravel(), skipna=False)
    if inferred == "integer":
        try:
            return arr.astype(np.int64)
        except OverflowError:
            raise _beyond_int64(what, max(arr.ravel().tolist(), key=abs)) from None
    if inferred == "string":
        return arr.astype("U")
    if inferred == "floating":
        return _float_ids(arr.astype(np.float64), what)
    if inferred == "mixed-integer-float":
        return _ints_and_floats(arr, what)
    if inferred == "boolean":
        raise DataError(f"{what} must be integers or strings, got booleans")
    kinds = {type(v) for v in arr.ravel().tolist()}
    raise DataError(
        f"{what} mix types ({', '.join(sorted(k.__name__ for k in kinds))}); "
        "use only integers or only strings for one id column"
    )


def query_array(values: Any) -> np.ndarray:
    """Ids as a 1-D array, without NumPy's conversions that would change an id.

    ``np.asarray([True, 2])`` is ``[1, 2]`` and ``np.asarray([2**63, 1])`` is float64
    (``[2**53 + 1, 1.0]`` rounds the first id): a list mixing booleans or Python ints with
    other numbers stays an object array here, judged value by value.
    """
    arr = np.asarray(values)
    if isinstance(values, (list, tuple)) and arr.ndim == 1 and arr.dtype.kind in "iuf":
        types = set(map(type, values))
        if bool in types or np.bool_ in types or (arr.dtype.kind == "f" and any(
                issubclass(t, (int, np.integer)) for t in types)):
            arr = np.asarray(values, dtype=object)
    return arr.reshape(-1)


def _ints_and_floats(arr: np.ndarray, what: str) -> np.ndarray:
    """Python ints mixed with floats (a list like ``[1, 2.0]``): the ints as they are, the
    floats when they are exact integers."""
    values = arr.ravel().tolist()
    is_float = np.fromiter((isinstance(v, (float, np.floating)) for v in values), dtype=bool,
                           count=len(values))
    floats = _float_ids(np.array([v for v, f in zip(values, is_float) if f], dtype=float), what)
    ints = _object_ids(np.array([v for v, f in zip(values, is_float) if not f],
                                dtype=object), what)
    out = np.empty(len(values), dtype=np.int64)
    out[is_float], out[~is_float] = floats, ints
    return out


def _normalise_ids(values: Any, what: str = "ids") -> np.ndarray:
    """Return ids as an int64 array or a unicode array; reject anything inexact."""
    arr = query_array(values)
    kind = arr.dtype.kind
    if kind == "i":
        return arr.astype(np.int64, copy=False)
    if kind == "u":
        return _unsigned_ids(arr, what)
    if kind == "U":
        return arr
    if kind == "S":
        try:
            return arr.astype("U")
        except UnicodeDecodeError:
            raise DataError(f"{what} are bytes that are not ASCII text; decode them first "
                            "(e.g. [b.decode('utf-8') for b in ids])") from None
    if kind == "b":
        raise DataError(f"{what} must be integers or strings, got booleans")
    if kind == "f":
        return _float_ids(arr, what)
    if kind == "O":
        return _object_ids(arr, what)
    raise DataError(f"{what} must be integers or strings, got dtype {arr.dtype}")


# -- query ids -> the vocabulary's type ------------------------------------------------
# Each returns (keys, invalid): keys in the vocabulary's dtype, and a mask (or None) of
# query ids that cannot be any id of the vocabulary; their keys are placeholders.

def _int_key(value: Any) -> int | None:
    """One query value as an exact int64 id, or None (for object arrays)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        v = int(value)
    elif isinstance(value, (float, np.floating)):
        bound = _exact_float_bound(type(value) if isinstance(value, np.floating) else float)
        x = float(value)
        if not (x.is_integer() and abs(x) < bound):  # NaN and inf are not integers
            return None
        v = int(x)
    elif isinstance(value, (str, np.str_)) and _INT_TEXT.fullmatch(value):
        v = int(value)
    else:
        return None
    return v if _INT64_MIN <= v <= _INT64_MAX else None


def _int_keys_of_objects(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    # object query arrays are mixed Python values (or ints beyond int64): rare and
    # short, so a loop over the queried ids
    keys = [_int_key(v) for v in arr.tolist()]
    invalid = np.fromiter((k is None for k in keys), dtype=bool, count=len(keys))
    return np.array([0 if k is None else k for k in keys], dtype=np.int64), invalid


def _int_keys_of_text(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer text ('42', ' -7') -> int64; anything else ('1e3', '1.0', '1_000') invalid."""
    import pandas as pd

    try:
        text = arr.astype("U")
    except UnicodeDecodeError:
        return np.zeros(len(arr), dtype=np.int64), np.ones(len(arr), dtype=bool)
    matches = pd.Series(text, dtype=object).str.fullmatch(_INT_TEXT.pattern)
    valid = matches.to_numpy(dtype=bool, copy=True)
    long = valid & (np.char.str_len(np.char.strip(text)) > _SAFE_DIGITS)
    keys = np.where(valid & ~long, text, "0").astype(np.int64)
    if long.any():  # maybe beyond int64: checked one by one
        at = np.flatnonzero(long)
        exact = [_int_key(t) for t in text[at].tolist()]
        keys[at] = [0 if k is None else k for k in exact]
        valid[at] = [k is not None for k in exact]
    return keys, ~valid


def _int_keys(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Query ids for an integer vocabulary: exact integers only."""
    kind = arr.dtype.kind
    if kind == "i":
        return arr.astype(np.int64, copy=False), None
    if kind == "u":
        invalid = arr > _INT64_MAX
        return np.where(invalid, 0, arr).astype(np.int64), invalid
    if kind == "f":
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(arr) & (arr == np.trunc(arr)) & \
                (np.abs(arr) < _exact_float_bound(arr.dtype))
        return np.where(valid, arr, 0).astype(np.int64), ~valid
    if kind in "US":
        return _int_keys_of_text(arr)
    if kind == "O":
        return _int_keys_of_objects(arr)
    # booleans (True is not the id 1), datetimes, ...: no integer id
    return np.zeros(len(arr), dtype=np.int64), np.ones(len(arr), dtype=bool)


def _text_keys(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Query ids for a string vocabulary: text, or numbers as their text (42 -> '42')."""
    kind = arr.dtype.kind
    if kind == "U":
        return arr, None
    if kind == "b":
        return arr.astype(str), np.ones(len(arr), dtype=bool)
    if kind == "S":
        try:
            return arr.astype("U"), None
        except UnicodeDecodeError:
            return arr.astype(str), np.ones(len(arr), dtype=bool)
    if kind == "O":
        invalid = np.fromiter((isinstance(v, (bool, np.bool_)) for v in arr.tolist()),
                              dtype=bool, count=len(arr))
        return arr.astype(str), invalid
    return arr.astype(str), None


#: up to this many ids, lookups are per-id hash probes instead of one get_indexer call
_FEW_IDS = 16

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

    def prepare_lookups(self) -> "Vocabulary":
        """Build the hash table behind :meth:`index` now (pandas builds it on the first
        lookup otherwise), so the first query is as fast as the next and lookups from
        many threads only read shared state. Returns ``self``."""
        if len(self):
            self._pd_index().get_loc(self.ids[0].item())
        return self

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

    # mutable-looking container; compare by value only (object types __hash__ as a method)
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(repr(x) for x in self.ids[:3].tolist())
        more = ", ..." if len(self) > 3 else ""
        return f"Vocabulary([{head}{more}], n={len(self)})"

    # -- lookups ----------------------------------------------------------------------
    def index(self, values: Any, on_unknown: str = "raise", *, error=UnknownIdError,
              what: str = "id") -> np.ndarray:
        """Indices of ``values``; unknown ids raise (``on_unknown='raise'``) or map to -1.

        Only exact matches count: for an integer vocabulary ``True``, ``1.7``, NaN,
        ``'1e3'`` or a uint64 beyond int64 are unknown ids (``1.0`` and ``'1'`` find 1);
        for a string vocabulary numbers are compared as their text (``42`` finds ``'42'``).
        """
        arr = query_array(values)
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        keys, invalid = self._coerce(arr)
        if len(keys) <= _FEW_IDS:
            idx = self._locate_few(keys)
        else:
            idx = self._pd_index().get_indexer(keys).astype(np.int64, copy=False)
        if invalid is not None and invalid.any():
            idx = np.where(invalid, -1, idx)
        if on_unknown == "raise" and (idx < 0).any():
            bad = arr[idx < 0]
            shown = ", ".join(repr(v) for v in bad[:5].tolist())
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise error(f"unknown {what}: {shown}{more}", ids=bad)
        return idx

    def _locate_few(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`index` for a request's few ids: one hash lookup each (``get_indexer``
        builds a pandas Index of the keys first, ~20 us, most of a one-user query)."""
        locate = self._pd_index().get_loc
        out = np.empty(len(keys), dtype=np.int64)
        for j, key in enumerate(keys.tolist()):
            try:
                out[j] = locate(key)
            except (KeyError, TypeError):
                out[j] = -1
        return out

    def _coerce(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Query ids in the vocabulary's type, and a mask (or None) of those that cannot
        be one of its ids (see :meth:`index`)."""
        return _int_keys(arr) if self.is_integer else _text_keys(arr)

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
