"""Read interaction files (CSV, TSV, gzip, Parquet) into :class:`~likewise.data.Interactions`.

The fast path hands the whole file to Arrow's multithreaded CSV reader with the column
types set; nothing is looped over in Python. Arrow's own errors do not say where a bad
value is, so when the fast path fails (or a vectorised check finds a bad value) a slow,
exact scan of the file finds the first offending line and raises a :class:`DataError`
naming the file, the real line number (the header is line 1), the column and what to do.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import math
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError, DataError
from .interactions import Interactions
from .vocabulary import Vocabulary

__all__ = ["COLUMN_ALIASES", "read_csv", "read_parquet"]

#: Column names recognised (case-insensitively) when no mapping is given, in priority order.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userid", "user_id"),
    "item": ("item", "itemid", "item_id", "movieid", "movie_id"),
    "rating": ("rating", "score"),
    "timestamp": ("timestamp", "time"),
    # implicit weights, used only when there is no rating column (the data stays implicit)
    "weight": ("weight", "count", "clicks"),
}

_DELIMITERS = (",", "\t", ";", "|")
_ID_TYPES = ("auto", "int", "str")
_INT_RE = r"^[+-]?[0-9]+$"
_MAX_HEADER_BYTES = 1 << 20
_TIMESTAMP_LIMIT = 2**63  # timestamps lie strictly inside +-2**63 (int64, and -2**63 is NaT)

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------
# file inspection
# ---------------------------------------------------------------------------------------
@dataclass
class _Source:
    """Everything known about a delimited file before it is parsed."""

    path: Path
    gzip: bool
    sep: str
    encoding: str
    names: list[str]
    has_header: bool
    roles: dict[str, str] = field(default_factory=dict)  # role -> column name

    @property
    def display(self) -> str:
        return str(self.path)

    def col_index(self, role: str) -> int:
        return self.names.index(self.roles[role])


def _check_file(path: PathLike) -> Path:
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DataError(f"file not found (current directory is {os.getcwd()}); check the path",
                        path=p)
    if p.is_dir():
        raise DataError("is a directory, not a file; pass the path of the ratings file", path=p)
    if not p.is_file():  # opening a FIFO would wait for a writer forever
        raise DataError("is not a regular file (a pipe, socket or device); save the data to "
                        "a file and pass its path", path=p)
    if p.stat().st_size == 0:
        raise DataError("file is empty (0 bytes); expected a header line such as "
                        "'userId,movieId,rating,timestamp' followed by one row per interaction",
                        path=p)
    return p


def _is_gzip(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_binary(p: Path, gz: bool):
    return gzip.open(p, "rb") if gz else open(p, "rb")


def _first_line(p: Path, gz: bool) -> bytes | None:
    """The first non-empty line (without its line end: \\n, \\r\\n or the old Mac \\r),
    or None when there is none."""
    try:
        with _open_binary(p, gz) as fh:
            while raw := fh.readline(_MAX_HEADER_BYTES):
                for line in raw.rstrip(b"\r\n").split(b"\r"):
                    if line.strip():
                        if len(line) >= _MAX_HEADER_BYTES:
                            raise DataError("the first line is longer than 1 MiB; is this a "
                                            "delimited text file?", path=p, line=1)
                        return line
    except (OSError, EOFError) as exc:  # truncated or corrupt gzip
        raise DataError(f"cannot read the file ({exc}); is it a complete gzip file?",
                        path=p) from None
    return None


def _text_lines(p: Path, gz: bool, encoding: str) -> Iterator[str]:
    """The file's lines with their line ends, split at \\n, \\r\\n and the old Mac \\r
    alike (as the csv module wants them); undecodable bytes become surrogates."""
    with _open_binary(p, gz) as fh, \
            io.TextIOWrapper(fh, encoding=encoding, errors="surrogateescape", newline="") as text:
        yield from text


def _csv_problem(exc: csv.Error) -> str:
    """What the csv module's error means for the user, and the fix."""
    if "field limit" in str(exc):
        return (f"a field starting on this line is over {csv.field_size_limit()} characters "
                "long, more than any id, rating or timestamp; fix the value, or close the "
                "quote that opens it (an unclosed quote swallows the lines after it)")
    if "NUL" in str(exc):
        return "the line contains a NUL byte; is this a text file? remove the NUL bytes"
    return f"cannot be split into fields ({exc}); check the quoting"


def _describe_byte_error(exc: UnicodeDecodeError, encoding: str) -> str:
    bad = exc.object[exc.start:exc.start + 1]
    hint = "pass encoding='latin-1' (or the file's real encoding)" \
        if encoding.replace("-", "").lower() in ("utf8", "utf8sig") else \
        "pass the file's real encoding"
    return (f"byte 0x{bad.hex()} at character {exc.start + 1} cannot be decoded as {encoding}; "
            f"re-save the file as UTF-8 or {hint}")


def _sniff_sep(header: str, p: Path) -> str:
    name = p.name.lower()
    name = name.removesuffix(".gz")
    if name.endswith((".tsv", ".tab")):
        return "\t"
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the order above
    return best if counts[best] else ","


def _split_header(header: str, sep: str, p: Path) -> list[str]:
    try:
        fields = next(csv.reader([header], delimiter=sep), [])
    except csv.Error as exc:
        raise DataError(_csv_problem(exc), path=p, line=1) from None
    return [f.strip() for f in fields]


def _inspect(path: PathLike, sep: str | None, encoding: str, names: list[str] | None) -> _Source:
    p = _check_file(path)
    gz = _is_gzip(p)
    first = _first_line(p, gz)
    if first is None:
        raise DataError("file is empty (no text); expected a header line such as "
                        "'userId,movieId,rating,timestamp'", path=p)
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(_describe_byte_error(exc, encoding), path=p, line=1) from None
    except LookupError:
        raise ConfigError(f"encoding {encoding!r} is not a known text encoding") from None
    text = text.lstrip("\ufeff")
    if sep is None:
        sep = _sniff_sep(text, p)
    elif not isinstance(sep, str) or len(sep) != 1:
        raise ConfigError(f"sep must be a single character such as ',' or '\\t', got {sep!r}")
    fields = _split_header(text, sep, p)
    if names is not None:
        names = [str(n) for n in names]
        has_header = False
        if len(fields) != len(names):
            raise DataError(
                f"line 1 has {len(fields)} fields when split on {sep!r} but {len(names)} names "
                f"were given ({', '.join(names)}); check sep= and names=", path=p, line=1)
    else:
        has_header = True
        names = fields
        if len(fields) == 1:
            others = [d for d in _DELIMITERS if d != sep and d in text]
            if others:
                raise DataError(
                    f"the header {text!r} is a single column when split on {sep!r}, but it "
                    f"contains {others[0]!r}: the file looks {others[0]!r}-separated; "
                    f"pass sep={others[0]!r}", path=p, line=1)
    return _Source(p, gz, sep, encoding, names, has_header)


# ---------------------------------------------------------------------------------------
# column roles
# ---------------------------------------------------------------------------------------
def _resolve_roles(names: list[str], given: dict[str, Any], where: dict) -> dict[str, str]:
    """Map user/item/rating/timestamp to column names (explicit names or recognised aliases)."""
    lower: dict[str, str] = {}
    for n in names:
        lower.setdefault(n.lower(), n)
    roles: dict[str, str] = {}
    available = ", ".join(repr(n) for n in names)
    for role in ("user", "item", "rating", "timestamp", "weight"):
        want = given.get(role)
        if want is False:
            continue
        if role == "weight" and ("rating" in roles or given.get("rating") is False):
            continue
        if want is not None:
            if not isinstance(want, str):
                raise ConfigError(f"{role} must be a column name (str), got {want!r}")
            if want in names:
                roles[role] = want
                continue
            close = [lower[want.lower()]] if want.lower() in lower else \
                difflib.get_close_matches(want, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(f"no column named {want!r} (given as {role}=); available columns: "
                            f"{available}.{hint}", column=want, **where)
        for alias in COLUMN_ALIASES[role]:
            if alias in lower:
                roles[role] = lower[alias]
                break
        else:
            if role in ("user", "item"):
                raise DataError(
                    f"no {role} column: none of {', '.join(COLUMN_ALIASES[role])} found among "
                    f"the columns {available}; pass {role}='<column name>'", **where)
    if roles["user"] == roles["item"]:
        raise ConfigError(f"user and item are the same column {roles['user']!r}")
    return roles


# ---------------------------------------------------------------------------------------
# exact (slow) scan used only to locate errors
# ---------------------------------------------------------------------------------------
def _iter_rows(src: _Source) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every data row; undecodable bytes become surrogates.

    Empty lines are skipped, as the fast reader skips them, so the n-th row yielded is
    the n-th row of the parsed table.
    """
    counter = [0]

    def lines():
        for line in _text_lines(src.path, src.gzip, src.encoding):
            counter[0] += 1
            yield line

    reader = csv.reader(lines(), delimiter=src.sep, strict=False)
    first = True
    while True:
        start = counter[0] + 1  # the line this row begins on
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(_csv_problem(exc), path=src.path, line=start) from None
        if not fields or (len(fields) == 1 and fields[0] == ""):
            continue
        if first:
            first = False
            if src.has_header:
                continue
        yield counter[0], fields


_SURROGATE = re.compile("[\udc80-\udcff]")


def _undecodable(value: str, encoding: str) -> str | None:
    m = _SURROGATE.search(value)
    if m is None:
        return None
    byte = ord(m.group()) - 0xDC00
    return (f"byte 0x{byte:02x} in {value.encode(encoding, 'surrogateescape')!r} cannot be "
            f"decoded as {encoding}; re-save the file as UTF-8 or pass encoding='latin-1' "
            "(or the file's real encoding)")


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_int_text(text: str) -> bool:
    return re.match(_INT_RE, text.strip()) is not None


def _field_count_error(src: _Source, fields: list[str], line: int) -> DataError:
    """A row with more or fewer fields than the header, with a hint at the delimiter."""
    ncols = len(src.names)
    shown = src.sep.join(fields)
    others = [d for d in _DELIMITERS if d != src.sep and d in shown]
    hint = f" (the line contains {others[0]!r}: wrong delimiter? pass sep={others[0]!r})" \
        if others and len(fields) < ncols else " (check the delimiter and quoting)"
    return DataError(f"has {len(fields)} field(s), expected {ncols} like the header "
                     f"({', '.join(src.names)}){hint}", path=src.path, line=line)


def _id_problem(role: str, v: str, line: int, id_type: str, first_kind: dict) -> str | None:
    """What is wrong with the (stripped) id ``v``, or None. ``first_kind`` remembers, per
    role, whether the first id was an integer (and where), to report mixed id types."""
    if v == "":
        return f"missing {role} id; every row needs one"
    is_int = _is_int_text(v)
    if id_type == "int" and not is_int:
        return (f"{role} id {v!r} is not an integer (id_type='int'); fix the value or pass "
                "id_type='str'")
    if id_type != "auto":
        return None
    if role not in first_kind:
        first_kind[role] = (is_int, line, v)
        return None
    was_int, l0, v0 = first_kind[role]
    if was_int == is_int:
        return None
    kinds = ("an integer", "text") if was_int else ("text", "an integer")
    return (f"mixed id types: {role} id {v!r} is {kinds[1]} but line {l0} has {kinds[0]} id "
            f"{v0!r}; use one type per column, or pass id_type='str' if the ids are really "
            "codes")


def _value_problem(role: str, v: str, rating_scale) -> str | None:
    """What is wrong with the (stripped) rating or weight ``v``, or None."""
    x = _parse_float(v)
    if v == "" or x is None or not math.isfinite(x):
        what = "missing" if v == "" else f"{v!r}, not a number" if x is None \
            else f"{v!r}, not a finite number"
        return f"{role} is {what}; drop or fix the row ({role}s must be finite numbers)"
    if role == "rating" and rating_scale is not None and not (rating_scale[0] <= x <= rating_scale[1]):
        return (f"rating {v} is outside the declared scale {rating_scale[0]:g}-"
                f"{rating_scale[1]:g}; fix the value or pass rating_scale=(low, high)")
    return None


def _timestamp_problem(v: str) -> str | None:
    """What is wrong with the (stripped) timestamp ``v``, or None."""
    x = _parse_float(v) if v else None
    if x is None or not math.isfinite(x) or not float(x).is_integer():
        what = "missing" if v == "" else f"{v!r}, not a whole number"
        return (f"timestamp is {what}; timestamps must be integer Unix seconds (convert dates "
                "first, e.g. with pandas.to_datetime(...).astype('int64') // 10**9)")
    exact = int(v) if _is_int_text(v) else x  # a float would round 2**63 - 1 up
    if not -_TIMESTAMP_LIMIT < exact < _TIMESTAMP_LIMIT:
        return _timestamp_range_problem(v)
    return None


def _timestamp_range_problem(value: Any) -> str:
    return (f"timestamp {value} is beyond the int64 range of Unix seconds (about 2.9e11 "
            "years either side of 1970); fix the value (timestamps must be integer Unix "
            "seconds)")


def _field_problem(role: str, value: str, line: int, src: _Source, rating_scale,
                   id_type: str, first_kind: dict) -> str | None:
    """What is wrong with one field of a row, or None."""
    msg = _undecodable(value, src.encoding)
    if msg:
        return msg
    v = value.strip()
    if role in ("user", "item"):
        return _id_problem(role, v, line, id_type, first_kind)
    if role in ("rating", "weight"):
        return _value_problem(role, v, rating_scale)
    if role == "timestamp":
        return _timestamp_problem(v)
    return None


def _diagnose(src: _Source, rating_scale, id_type: str) -> DataError | None:
    """Scan the file row by row and return the first problem as a located DataError."""
    idx = {role: src.col_index(role) for role in src.roles}
    first_kind: dict[str, tuple[bool, int, str]] = {}
    for line, fields in _iter_rows(src):
        if len(fields) != len(src.names):
            return _field_count_error(src, fields, line)
        for role, k in idx.items():
            msg = _field_problem(role, fields[k], line, src, rating_scale, id_type, first_kind)
            if msg:
                return DataError(msg, path=src.path, line=line, column=src.names[k])
    return None


def _line_of_row(src: _Source, row: int) -> int | None:
    for k, (line, _) in enumerate(_iter_rows(src)):
        if k == row:
            return line
    return None


# ---------------------------------------------------------------------------------------
# shared table -> Interactions
# ---------------------------------------------------------------------------------------
class _Located(Exception):
    """A problem found by a vectorised check: the row and message, located later."""

    def __init__(self, row: int, column: str, message: str):
        self.row, self.column, self.message = row, column, message


def _first(mask) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _whole_floats_as_int(col, role: str, name: str):
    """A float id column (Arrow's guess) as int64, if every id is a whole number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.to_numpy()
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        k = _first(bad)
        raise _Located(k, name, f"{role} id {float(arr[k])!r} is not an integer; ids must be "
                       "integers or text")
    # from 2**53 on (float64) a float cannot hold every integer: ids may have merged
    bound = 2.0 ** (np.finfo(arr.dtype).nmant + 1)
    inexact = np.abs(arr) >= bound
    if inexact.any():
        k = _first(inexact)
        raise _Located(k, name, f"{role} id {float(arr[k]):.0f} is a {arr.dtype} number of "
                       f"2**{np.log2(bound):.0f} or more, where floats cannot hold every "
                       "integer (ids next to it may have merged); store the ids as int64 "
                       "integers or as text")
    return pc.cast(col, pa.int64())


def _check_int64_range(col, role: str, name: str) -> None:
    """uint64 ids beyond int64 are located (a cast would fail, a view would wrap)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.type != pa.uint64() or not len(col):
        return
    if pc.max(col).as_py() >= 2**63:
        beyond = pc.greater_equal(col, pa.scalar(2**63, pa.uint64()))
        k = _first(beyond.to_numpy(zero_copy_only=False))
        raise _Located(k, name, f"{role} id {col[k].as_py()} is too large for an integer id "
                       "(int64); pass id_type='str' to read the ids as text")


def _integers_from_numeric_text(col, role: str, name: str):
    """An id column Arrow took for floats, read again as text, as exact int64 ids.

    Arrow reads a column as floats when one value looks like a float ('1.0', '1e3', 'inf',
    or an integer beyond int64), and floats round ids beyond 2**53 onto their neighbours;
    the text decides instead: whole numbers ('12', '12.0') become int64 exactly, anything
    else ('1.5', '1e3') and integers beyond int64 are located errors.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
        raise _Located(_first(nulls), name, f"missing {role} id; every row needs one")
    text = pc.utf8_trim_whitespace(col)
    whole = pc.match_substring_regex(text, r"^[+-]?[0-9]+(\.0*)?$")
    whole = whole.to_numpy(zero_copy_only=False)
    if not whole.all():
        k = _first(~whole)
        raise _Located(k, name, f"{role} id {text[k].as_py()} is not an integer; ids must be "
                       "integers or text (pass id_type='str' to read them as text)")
    digits = pc.replace_substring_regex(pc.replace_substring_regex(text, r"\.0*$", ""),
                                        r"^\+", "")  # Arrow's cast takes no '+'
    try:
        return pc.cast(digits, pa.int64())
    except pa.ArrowInvalid:
        long = pc.greater(pc.utf8_length(digits), 18).to_numpy(zero_copy_only=False)
        k = next((int(k) for k in np.flatnonzero(long)
                  if not -2**63 <= int(digits[int(k)].as_py()) < 2**63), _first(long))
        raise _Located(k, name, f"{role} id {digits[k].as_py()} is too large for an integer "
                       "id; pass id_type='str' to read the ids as text") from None


def _as_text(col, name: str):
    """An id column as Arrow strings; invalid UTF-8 (read as binary) is located."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        # Arrow reads a text column holding invalid UTF-8 as binary
        try:
            return pc.cast(col, pa.string())
        except pa.ArrowInvalid:
            for k, raw in enumerate(col.to_pylist()):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _Located(k, name, _describe_byte_error(exc, "utf-8")) from None
            raise
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pc.cast(col, pa.string())
    return col


def _integer_text_codes(col, role: str, name: str, id_type: str):
    """``(ids, codes)`` when every text id is an integer within int64, else None; ids
    that are not integers under ``id_type='int'``, and mixed columns, are located."""
    import pyarrow as pa
    import pyarrow.compute as pc

    is_int = pc.match_substring_regex(col, _INT_RE).to_numpy(zero_copy_only=False)
    n_int = int(is_int.sum())
    if id_type == "int" and n_int < len(is_int):
        k = _first(~is_int)
        raise _Located(k, name, f"{role} id is not an integer (id_type='int'); fix the "
                       "value or pass id_type='str'")
    if 0 < n_int < len(is_int):
        k = _first(is_int != is_int[0])
        kinds = ("text", "an integer") if is_int[k] else ("an integer", "text")
        raise _Located(k, name, f"mixed id types: this {role} id is {kinds[1]} but the "
                       f"first row's is {kinds[0]}; use one type per column, or pass "
                       "id_type='str' if the ids are really codes")
    if n_int == len(is_int) and len(is_int):
        # integers too large for int64 stay text; others become integers
        try:
            return _int_codes(pc.cast(col, pa.int64()).to_numpy())
        except pa.ArrowInvalid:
            pass
    return None


def _text_codes(col, role: str, name: str):
    """``(sorted ids, codes)`` of a text id column; an empty id is located."""
    import pyarrow.compute as pc

    empty = pc.equal(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False)
    if empty.any():
        raise _Located(_first(empty), name, f"missing {role} id; every row needs one")
    enc = pc.dictionary_encode(col).combine_chunks()
    dictionary = enc.dictionary.to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(dictionary, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    codes = rank[enc.indices.to_numpy(zero_copy_only=False)]
    return dictionary[order], codes


def _ids_from_column(col, role: str, name: str, id_type: str):
    """Return ``(vocabulary ids, codes)`` for one id column of an Arrow table.

    Arrow's dictionary encoding does the hashing in C++; the dictionary is then sorted
    so the vocabulary is in id order, like :meth:`Vocabulary.from_values`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
        raise _Located(_first(nulls), name, f"missing {role} id; every row needs one")
    if pa.types.is_boolean(col.type):
        raise _Located(0, name, f"{role} ids are booleans (true/false); ids must be integers "
                       "or text")
    if pa.types.is_floating(col.type):
        col = _whole_floats_as_int(col, role, name)
    if pa.types.is_integer(col.type):
        if id_type != "str":
            _check_int64_range(col, role, name)
            return _int_codes_chunks(col)
        col = pc.cast(col, pa.string())
    col = _as_text(col, name)
    if id_type != "str":
        codes = _integer_text_codes(col, role, name, id_type)
        if codes is not None:
            return codes
    return _text_codes(col, role, name)


def _int_codes_reference(arr: np.ndarray):
    """Sorted unique ids and their codes for an int64 array (readable NumPy version)."""
    uniques, codes = np.unique(arr, return_inverse=True)
    return uniques, codes.astype(np.int64, copy=False)


def _sorted_runs_reference(arr: np.ndarray):
    """Distinct values of sorted ``arr`` and where each run starts, then ``len(arr)``
    (readable version of ``_reader_kernels.sorted_runs``)."""
    uniques, first = np.unique(arr, return_index=True)
    return uniques.astype(np.int64), np.append(first, len(arr)).astype(np.int64)


def _int_codes(arr: np.ndarray):
    """Fast equivalent of :func:`_int_codes_reference`.

    Dense id ranges (the usual case: 1..n) use a lookup table filled by a numba kernel,
    with no n-sized temporaries besides the codes; sparse ranges fall back to sorting.
    """
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo, hi = int(arr.min()), int(arr.max())
    span = hi - lo + 1
    if span > max(4 * len(arr), 1 << 20) or span >= 2**31:
        return _int_codes_reference(arr)
    from ._reader_kernels import dense_codes

    return dense_codes(np.ascontiguousarray(arr, dtype=np.int64), lo, span)


def _int_codes_chunks(col):
    """:func:`_int_codes` of a chunked int column without concatenating its chunks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.type != pa.int64():
        col = pc.cast(col, pa.int64())
    if len(col) == 0:
        return _int_codes(np.empty(0, dtype=np.int64))
    bounds = pc.min_max(col)
    lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
    span = hi - lo + 1
    if span > max(4 * len(col), 1 << 20) or span >= 2**31:
        return _int_codes_reference(col.to_numpy())
    from ._reader_kernels import dense_codes_chunks

    return dense_codes_chunks([c.to_numpy() for c in col.chunks if len(c)], lo, span)


def _timestamp_seconds(col, name: str) -> np.ndarray:
    """A timestamp column as int64 Unix seconds: never wrapped or rounded out of range."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_timestamp(t):
        # rounded down to whole seconds (a cast to timestamp('s') refuses sub-seconds)
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[t.unit]
        return np.floor_divide(pc.cast(col, pa.int64()).to_numpy(), per_second)
    if pa.types.is_date32(t):
        return pc.cast(col, pa.int32()).to_numpy().astype(np.int64) * 86_400
    if pa.types.is_date64(t):
        return np.floor_divide(pc.cast(col, pa.int64()).to_numpy(), 1000)
    if pa.types.is_integer(t):
        arr = col.to_numpy()
        out = None
        if arr.dtype == np.uint64 and len(arr) and int(arr.max()) >= _TIMESTAMP_LIMIT:
            out = arr >= _TIMESTAMP_LIMIT
        elif arr.dtype == np.int64 and len(arr) and int(arr.min()) == -_TIMESTAMP_LIMIT:
            out = arr == -_TIMESTAMP_LIMIT  # NaT as a datetime64
        if out is not None:
            k = _first(out)
            raise _Located(k, name, _timestamp_range_problem(int(arr[k])))
        return arr.astype(np.int64, copy=False)
    if pa.types.is_floating(t):
        arr = col.to_numpy()
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            k = _first(bad)
            raise _Located(k, name, f"timestamp {arr[k]!r} is not a whole number; "
                           "timestamps must be integer Unix seconds")
        out = np.abs(arr) >= _TIMESTAMP_LIMIT
        if out.any():
            k = _first(out)
            raise _Located(k, name, _timestamp_range_problem(f"{float(arr[k]):g}"))
        return arr.astype(np.int64)
    raise _Located(0, name, f"timestamps have type {t}; they must be integer Unix seconds")


def _numeric(col, role: str, name: str):
    """A numeric Arrow column as a numpy array (rating -> float32, timestamp -> int64)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
        what = f"{role} is missing"
        raise _Located(_first(nulls), name, f"{what}; drop or fix the row")
    t = col.type
    if role == "timestamp":
        return _timestamp_seconds(col, name)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        import pandas as pd

        values = col.to_pandas()
        parsed = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(parsed) & values.notna().to_numpy()
        if bad.any():
            k = _first(bad)
            raise _Located(k, name, f"{role} is {values.iloc[k]!r}, not a number; {role}s "
                           "must be numbers")
        col = pa.chunked_array([pa.array(parsed)])
        t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise _Located(0, name, f"{role}s have type {t}; they must be numbers")
    arr = col.to_numpy() if not pa.types.is_decimal(t) else \
        pc.cast(col, pa.float64()).to_numpy()
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        k = _first(bad)
        raise _Located(k, name, f"{role} is {float(arr[k])}, not a finite number; drop or fix "
                       "the row")
    return arr


def _load_metadata(meta, id_column: str | None, what: str):
    if meta is None:
        return None
    import pandas as pd

    if isinstance(meta, pd.DataFrame):
        return meta
    if isinstance(meta, (str, os.PathLike)):
        p = _check_file(meta)
        name = p.name.lower()
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p, sep=None, engine="python")
        key = id_column if id_column in frame.columns else frame.columns[0]
        return frame.set_index(key)
    raise ConfigError(f"{what} must be a pandas DataFrame or a path, got {type(meta).__name__}")


def _build(holder: list, roles: dict[str, str], *, path: Path, kind, rating_scale, duplicates,
           item_metadata, user_metadata, id_type: str) -> Interactions:
    """Turn an Arrow table into Interactions; bad values raise :class:`_Located`.

    The table comes in a one-element list that is emptied here, so the columns can be
    freed as soon as they are converted (peak memory matters at 20M rows).
    """
    table = holder.pop()
    coded = None
    if isinstance(table, _FastColumns):
        # the numeric fast path: ids already coded, sortedness known
        coded, fast_cols = table, table.columns
        n_rows = len(coded.item_codes)

        def number(role):
            return fast_cols.pop(roles[role])
    else:
        n_rows = table.num_rows

        def ids(role):
            nonlocal table
            out = _ids_from_column(table.column(roles[role]), role, roles[role], id_type)
            table = table.drop_columns([roles[role]])
            return out

        def number(role):
            nonlocal table
            out = _numeric(table.column(roles[role]), role, roles[role])
            table = table.drop_columns([roles[role]])
            return out
    if n_rows == 0:
        raise DataError("no data rows (only a header); nothing to load", path=path)
    if coded is not None:
        user_ids, u, item_ids, i = coded.user_ids, coded.user_codes, coded.item_ids, \
            coded.item_codes
    else:
        user_ids, u = ids("user")
        item_ids, i = ids("item")
    ratings = None
    if "weight" in roles:
        ratings = number("weight")
        if kind is None:
            kind = "implicit"
    if "rating" in roles:
        ratings = number("rating")
        if rating_scale is not None:
            lo, hi = float(rating_scale[0]), float(rating_scale[1])
            if lo > hi:
                raise ConfigError(f"rating_scale must be (low, high) with low <= high, got "
                                  f"{rating_scale!r}")
            out = (ratings < lo) | (ratings > hi)
            if out.any():
                k = _first(out)
                raise _Located(k, roles["rating"],
                               f"rating {float(ratings[k]):g} is outside the declared scale "
                               f"{lo:g}-{hi:g}; fix the value or pass rating_scale=(low, high)")
    ts = number("timestamp") if "timestamp" in roles else None
    del table
    if kind is None:
        kind = "explicit" if ratings is not None else "implicit"
    if coded is not None and coded.row_starts is not None:
        return Interactions._from_sorted_rows(
            coded.row_starts, i, ratings, ts, users=_vocab(user_ids), items=_vocab(item_ids),
            kind=kind, rating_scale=rating_scale, duplicates=duplicates,
            item_metadata=_load_metadata(item_metadata, roles["item"], "item_metadata"),
            user_metadata=_load_metadata(user_metadata, roles["user"], "user_metadata"),
            source=str(path))
    return Interactions.from_codes(
        u, i, ratings, ts, users=_vocab(user_ids), items=_vocab(item_ids), kind=kind,
        rating_scale=rating_scale, duplicates=duplicates,
        item_metadata=_load_metadata(item_metadata, roles["item"], "item_metadata"),
        user_metadata=_load_metadata(user_metadata, roles["user"], "user_metadata"),
        source=str(path), assume_sorted=coded is not None and coded.ordered)


def _vocab(ids: np.ndarray) -> Vocabulary:
    """A vocabulary of ids that are unique and sorted by construction.

    Built like ``Vocabulary.from_values`` does, skipping the uniqueness check: that check
    builds a pandas index, and importing pandas alone costs ~0.4 s of a cold load.
    """
    vocab = Vocabulary.__new__(Vocabulary)
    vocab.ids = ids.astype(np.int64, copy=False) if ids.dtype.kind in "iu" else ids.astype("U")
    vocab._index = None
    return vocab


# ---------------------------------------------------------------------------------------
# public readers
# ---------------------------------------------------------------------------------------
def read_csv(path: PathLike, user: str | None = None, item: str | None = None,
             rating: str | Literal[False] | None = None,
             timestamp: str | Literal[False] | None = None, *, sep: str | None = None,
             kind: str | None = None, rating_scale: tuple[float, float] | None = None,
             duplicates: str | None = None, item_metadata=None, user_metadata=None,
             names: list[str] | None = None, encoding: str = "utf-8",
             id_type: str = "auto") -> Interactions:
    """Read a CSV / TSV file (optionally gzip-compressed) of interactions.

    Parameters
    ----------
    path : str or path-like
        The file. ``.gz`` (or any gzip content) is decompressed on the fly.
    user, item : str, optional
        Column names of the user and item ids. Default: recognised from the header
        (``user``/``userId``/``user_id``; ``item``/``itemId``/``item_id``/``movieId``,
        case-insensitive).
    rating, timestamp : str or False, optional
        Column names of ratings and Unix-second timestamps. Default: ``rating``/``score``
        and ``timestamp``/``time`` when present; ``False`` ignores such a column. Without
        a rating column, a ``weight``/``count``/``clicks`` column (as written by
        ``likewise data split`` for implicit data) is read as implicit weights, unless
        ``rating=False``.
    sep : str, optional
        Delimiter. Default: tab for ``.tsv``/``.tab`` files, else the most frequent of
        ``, \\t ; |`` in the header line.
    kind : {"explicit", "implicit"}, optional
        Default: explicit when there is a rating column, implicit otherwise.
    rating_scale : (low, high), optional
        Declared rating scale; a rating outside it is an error. Default: observed range.
    duplicates : str, optional
        Policy for repeated (user, item) rows, see :meth:`Interactions.from_arrays`.
    item_metadata, user_metadata : DataFrame or path, optional
        Tables attached to the result; a path is read and indexed by the id column (the
        item/user column name when present, else the first column).
    names : list of str, optional
        Column names for a file without a header line (then line 1 is data).
    encoding : str
        Text encoding of the file (default UTF-8).
    id_type : {"auto", "int", "str"}
        ``auto`` reads ids as integers when every id is an integer and rejects columns
        mixing integer and text ids; ``str`` keeps ids as text (e.g. zero-padded codes).
        Integer ids are exact (ids beyond 2**53 stay apart, nothing is rounded): ``12.0``
        is 12, while a column of numbers holding ``1e3``, ``1.5`` or ``inf``, or an
        integer beyond int64, is an error whose message suggests ``id_type='str'``.

    Returns
    -------
    Interactions

    Raises
    ------
    DataError
        Missing, empty or non-regular file (a FIFO, a device), wrong delimiter, missing
        columns, non-numeric / NaN / out-of-scale ratings, non-integer timestamps or
        timestamps beyond int64, mixed or inexact ids, fields over 128 KiB (an unclosed
        quote) or undecodable bytes. The message names the file, line (header = line 1),
        column and the fix. Line ends may be ``\\n``, ``\\r\\n`` or the old Mac ``\\r``.

    Examples
    --------
    >>> import likewise
    >>> from likewise.datasets import EMBEDDED_DIR
    >>> likewise.read_csv(EMBEDDED_DIR / "ratings.csv", rating_scale=(1, 5))
    Interactions(100000 explicit interactions, 943 users, 1682 items, scale=1-5)
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if id_type not in _ID_TYPES:
        raise ConfigError(f"id_type must be one of {_ID_TYPES}, got {id_type!r}")
    src = _inspect(path, sep, encoding, names)
    src.roles = _resolve_roles(src.names, {"user": user, "item": item, "rating": rating,
                                           "timestamp": timestamp},
                               {"path": src.path, "line": None if names else 1})
    types: dict[str, Any] = {}
    for role in ("rating", "weight"):
        if role in src.roles:
            types[src.roles[role]] = pa.float32()
    if "timestamp" in src.roles:
        types[src.roles["timestamp"]] = pa.int64()
    for role in ("user", "item"):
        if id_type == "str":
            types[src.roles[role]] = pa.string()
    read_opts = pacsv.ReadOptions(use_threads=True, block_size=8 << 20,
                                  encoding=encoding if encoding.lower().replace("-", "")
                                  not in ("utf8", "utf8sig") else "utf8",
                                  column_names=src.names if not src.has_header else None)
    parse_opts = pacsv.ParseOptions(delimiter=src.sep)
    include = list(dict.fromkeys(src.roles.values()))
    convert = pacsv.ConvertOptions(column_types=types, include_columns=include,
                                   null_values=[""], strings_can_be_null=True,
                                   true_values=["\x00true"], false_values=["\x00false"])
    if src.has_header and len(set(src.names)) != len(src.names):
        dup = next(n for n in src.names if src.names.count(n) > 1)
        raise DataError(f"the header names column {dup!r} twice; rename one", path=src.path,
                        line=1, column=dup)
    if src.has_header:
        # Arrow would read the header itself; giving the names keeps them stripped
        read_opts.column_names = src.names
        read_opts.skip_rows = 1 + _leading_blank_lines(src)
    fast = _fast_numeric_table(src) if id_type != "str" else None
    try:
        if fast is not None:
            table, fast = fast, None
            raise _Done
        table = _read_table(src, read_opts, parse_opts, convert)
        table = _exact_float_ids(table, src, read_opts, parse_opts, convert)
    except _Done:
        pass
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        found = _diagnose(src, rating_scale, id_type)
        if found is not None:
            raise found from None
        table = _retry_relaxed(src, read_opts, parse_opts, include, exc)
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc}); is it complete?", path=src.path) \
            from None
    try:
        holder = [table]
        del table
        return _build(holder, src.roles, path=src.path, kind=kind, rating_scale=rating_scale,
                      duplicates=duplicates, item_metadata=item_metadata,
                      user_metadata=user_metadata, id_type=id_type)
    except _Located as loc:
        raise _located_error(src, loc) from None


def _located_error(src: _Source, loc: _Located) -> DataError:
    """The DataError of a problem found by a vectorised check, with its line."""
    return DataError(loc.message, path=src.path, line=_line_of_row(src, loc.row),
                     column=loc.column)


def _read_table(src: _Source, read_opts, parse_opts, convert):
    """The used columns of a delimited file, read by Arrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    stream = pa.input_stream(str(src.path), compression="gzip" if src.gzip else None)
    # The streaming reader parses block by block: the same speed as read_csv here, but
    # read_csv holds the raw text and parsed fields of every block at once (~3x the
    # table: 1.8 GB for a 20M-row file against 0.7 GB streaming).
    reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts,
                            convert_options=convert)
    return pa.Table.from_batches(list(reader), schema=reader.schema)


def _exact_float_ids(table, src: _Source, read_opts, parse_opts, convert):
    """``table``, with id columns Arrow took for floats read again as text and converted
    exactly (:func:`_integers_from_numeric_text`); rare, so a second read is fine."""
    import pyarrow as pa

    floats = {role: src.roles[role] for role in ("user", "item")
              if pa.types.is_floating(table.schema.field(src.roles[role]).type)}
    if not floats:
        return table
    convert.column_types = {**convert.column_types, **{n: pa.string() for n in floats.values()}}
    table = _read_table(src, read_opts, parse_opts, convert)
    try:
        for role, name in floats.items():
            exact = _integers_from_numeric_text(table.column(name), role, name)
            table = table.set_column(table.schema.get_field_index(name), name, exact)
    except _Located as loc:
        raise _located_error(src, loc) from None
    return table


class _Done(Exception):
    """The fast path produced the table; skip the Arrow reader."""


_FAST_MIN_BYTES = 8 << 20  # below this Arrow is quick enough and no kernel needs loading


_KERNELS_LOADED = False  # whether this process has run the fast path's kernels


def _load_kernels(K, kinds, slots) -> None:
    """Thread target: load the parse kernels; a failure is left to the real call."""
    try:
        K.load_parse_kernels(kinds, slots)
    except Exception:  # noqa: BLE001  (the same call on the main thread reports it)
        pass


@dataclass
class _FastColumns:
    """What the numeric fast path produces: coded ids, value columns, sortedness."""

    user_ids: np.ndarray
    user_codes: np.ndarray | None  # None for ordered rows: row_starts says it all
    item_ids: np.ndarray
    item_codes: np.ndarray
    columns: dict
    ordered: bool  # rows strictly increasing by (user, item): already CSR order
    row_starts: np.ndarray | None = None  # the CSR row pointer, for ordered rows


@dataclass
class _ParseBuffers:
    """The fast path's parse outputs; one entry per chunk, the last for an unended line."""

    counts: np.ndarray   # rows per chunk
    offsets: np.ndarray  # each chunk's first row
    ids: np.ndarray      # (2, rows) int32: users, items
    floats: np.ndarray   # (0 or 1, rows) float32: ratings or weights
    longs: np.ndarray    # (0 or 1, rows) int64: timestamps
    status: np.ndarray   # per chunk: -1 when every line parsed
    stats: np.ndarray    # per chunk: user min, max, item min, max, rows sorted

    @classmethod
    def allocate(cls, counts: np.ndarray, has_value: bool, has_time: bool) -> _ParseBuffers:
        n_rows = int(counts.sum())
        return cls(counts, np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
                   np.empty((2, n_rows), dtype=np.int32),
                   np.empty((1 if has_value else 0, n_rows), dtype=np.float32),
                   np.empty((1 if has_time else 0, n_rows), dtype=np.int64),
                   np.full(len(counts), -1, dtype=np.int64),
                   np.zeros((len(counts), 5), dtype=np.int64))


def _plain_file_body(src: _Source):
    """The memory-mapped file and where its body starts, or (None, 0) if the fast path
    cannot take it (compressed, no header, not UTF-8, small, blank lines before the
    header)."""
    if (src.gzip or not src.has_header or src.encoding.lower().replace("-", "") != "utf8"
            or src.path.stat().st_size < _FAST_MIN_BYTES):
        return None, 0
    buf = np.memmap(src.path, dtype=np.uint8, mode="r")  # no copy of the file
    if buf[0] in (10, 13):  # blank lines before the header: leave it to Arrow
        return None, 0
    nl = buf[: 1 << 20].tobytes().find(b"\n")
    return (None, 0) if nl < 0 else (buf, nl + 1)


def _column_kinds(src: _Source):
    """The parse kernel's column codes (0 skip, 1 id, 2 value, 3 timestamp), id slots
    (0 user, 1 item) and the names of the value and timestamp columns (or None)."""
    roles_of = {name: role for role, name in src.roles.items()}
    kinds = np.zeros(len(src.names), dtype=np.int8)
    slots = np.zeros(len(src.names), dtype=np.int64)
    value_col = time_col = None
    for c, name in enumerate(src.names):
        role = roles_of.get(name)
        if role in ("user", "item"):
            kinds[c], slots[c] = 1, 0 if role == "user" else 1
        elif role == "timestamp":
            kinds[c], time_col = 3, name
        elif role in ("rating", "weight"):
            kinds[c], value_col = 2, name
    return kinds, slots, value_col, time_col


def _newline_terminated_end(buf: np.ndarray, body: int) -> int | None:
    """End of the last line that has a newline (the kernel needs every chunk to end with
    one; a last line without one is parsed apart), or None for a last line over 1 MB."""
    size = len(buf)
    if buf[size - 1] == 10:
        return size
    tail_from = max(body, size - (1 << 20))
    nls = np.flatnonzero(buf[tail_from:size] == 10)
    if len(nls) == 0 and tail_from > body:
        return None  # a line over 1 MB: not a ratings file this path is for
    return tail_from + int(nls[-1]) + 1 if len(nls) else body


def _line_chunks(buf: np.ndarray, body: int, main_end: int, n_chunks: int):
    """(starts, ends) of about ``n_chunks`` equal chunks cut after a newline, or None when
    a line is over 1 MB."""
    bounds = [body]
    for k in range(1, n_chunks):
        cut = max(body + (main_end - body) * k // n_chunks, bounds[-1])
        nxt = np.flatnonzero(buf[cut: min(cut + (1 << 20), main_end)] == 10)
        if len(nxt) == 0:
            if cut + (1 << 20) < main_end:
                return None  # a line over 1 MB: not a ratings file this path is for
            bounds.append(main_end)
            continue
        bounds.append(cut + int(nxt[0]) + 1)
    bounds.append(main_end)
    return np.array(bounds[:-1], dtype=np.int64), np.array(bounds[1:], dtype=np.int64)


def _count_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, large_steps: bool):
    """Newlines per chunk, plus a last zero entry for an unended last line.

    NumPy's compare + count is SIMD (~0.1 ns/byte), faster than any byte loop here; the
    compare writes into one reused buffer (a fresh temporary per step would be new
    pages). Each step hands the GIL back and forth with the kernel loader thread (up to
    the 5 ms switch interval), so steps are large while it runs, cache-sized otherwise.
    """
    counts = np.zeros(len(starts) + 1, dtype=np.int64)
    step = 1 << (26 if large_steps else 22)
    is_newline = np.empty(min(step, int(ends[-1] - starts[0])), dtype=bool)
    for k in range(len(starts)):
        for a in range(int(starts[k]), int(ends[k]), step):
            b = min(a + step, int(ends[k]))
            np.equal(buf[a:b], 10, out=is_newline[:b - a])
            counts[k] += np.count_nonzero(is_newline[:b - a])
    return counts


def _parse_chunks(K, buf, tail, starts, ends, kinds, slots, sep_byte, out: _ParseBuffers):
    """Run the parse kernel over the chunks, then over the unended last line if any."""
    K.parse_numeric(buf, starts, ends, out.offsets, kinds, slots, sep_byte, out.ids,
                    out.floats, out.longs, out.status, out.stats)
    if tail is not None:
        K.parse_numeric(tail, np.zeros(1, np.int64), np.array([len(tail)], np.int64),
                        out.offsets[-1:], kinds, slots, sep_byte, out.ids, out.floats,
                        out.longs, out.status[-1:], out.stats[-1:])


def _rows_ordered(out: _ParseBuffers) -> bool:
    """Whether the rows increase strictly by (user, item): sorted within every chunk, and
    across the chunk boundaries."""
    full = out.counts > 0
    first, last = out.offsets[full], (out.offsets + out.counts - 1)[full]
    u, i = out.ids[0], out.ids[1]
    return bool(out.stats[full][:, 4].all()) and all(
        (u[b], i[b]) > (u[a], i[a]) for a, b in zip(last[:-1], first[1:]))


def _code_ids(K, out: _ParseBuffers, ordered: bool) -> list:
    """[user ids, user codes or the CSR row pointer, item ids, item codes].

    The ids are coded in place, except the users of rows sorted by user: their runs give
    the users and the row pointer in one pass, and no user code per row is needed.
    """
    stats = out.stats[out.counts > 0]
    n_rows = out.ids.shape[1]
    coded = []
    for slot, arr in enumerate((out.ids[0], out.ids[1])):
        if slot == 0 and ordered:
            coded += list(K.sorted_runs(arr))
            continue
        lo, hi = int(stats[:, 2 * slot].min()), int(stats[:, 2 * slot + 1].max())
        span = hi - lo + 1
        if span > max(4 * n_rows, 1 << 20):
            uniques, codes = _int_codes_reference(arr)  # sparse ids: sort instead
        else:
            uniques, codes = K.dense_codes_inplace(arr, lo, span)
        coded += [uniques, codes]
    return coded


def _fast_numeric_table(src: _Source):
    """Parse a plain numeric file with the numba fast path, or return None.

    Handles uncompressed UTF-8 files with a header, whose used columns hold only plain
    integers (ids within int32, timestamps) and decimals (ratings, weights), with no
    quotes, exponents, empty fields or blank lines. Anything else returns None and the
    Arrow reader takes over (it handles every dialect, and its failures are located
    exactly). One parallel pass parses the columns (ids as int32, ratings as float32,
    timestamps as int64: no conversion copies) and records each chunk's id range and
    whether its rows are sorted; the ids are then coded in place, except the users of a
    file sorted by (user, item), whose runs give the vocabulary and the CSR row pointer.
    """
    global _KERNELS_LOADED
    buf, body = _plain_file_body(src)
    if buf is None:
        return None
    import numba

    from . import _reader_kernels as K

    kinds, slots, value_col, time_col = _column_kinds(src)
    main_end = _newline_terminated_end(buf, body)
    if main_end is None:
        return None
    chunks = _line_chunks(buf, body, main_end, max(1, 4 * numba.get_num_threads()))
    if chunks is None:
        return None
    starts, ends = chunks
    loader = None
    if not _KERNELS_LOADED:
        # numba's one-off set-up (~0.25 s) is Python holding the GIL, the newline count
        # below is NumPy releasing it: on two cores they overlap. (Also writing the
        # output pages while waiting, to take their first-touch faults early, gained
        # nothing measurable: 0.74 vs 0.72 s median over ten pairs.)
        loader = threading.Thread(target=_load_kernels, args=(K, kinds, slots), daemon=True,
                                  name="likewise-kernel-loader")
        loader.start()
    counts = _count_lines(buf, starts, ends, large_steps=loader is not None)
    tail = None
    if main_end < len(buf):
        tail = np.frombuffer(buf[main_end:].tobytes() + b"\n", dtype=np.uint8)
        counts[-1] = 1
    out = _ParseBuffers.allocate(counts, bool(value_col), bool(time_col))
    if loader is not None:
        loader.join()
    _parse_chunks(K, buf, tail, starts, ends, kinds, slots, ord(src.sep), out)
    del buf
    _KERNELS_LOADED = True
    if (out.status != -1).any() or out.ids.shape[1] == 0:
        return None
    ordered = _rows_ordered(out)
    coded = _code_ids(K, out, ordered)
    columns = {}
    if value_col:
        columns[value_col] = out.floats[0]
    if time_col:
        columns[time_col] = out.longs[0]
    if ordered:
        return _FastColumns(coded[0], None, coded[2], coded[3], columns, True,
                            row_starts=coded[1])
    return _FastColumns(coded[0], coded[1], coded[2], coded[3], columns, False)


def _leading_blank_lines(src: _Source) -> int:
    """Blank lines before the header (Arrow's skip_rows counts them)."""
    n = 0
    for line in _text_lines(src.path, src.gzip, "latin-1"):  # any byte decodes
        if line.strip():
            break
        n += 1
    return n


def _retry_relaxed(src, read_opts, parse_opts, include, exc):
    """Re-read with every column as text when the typed read failed on valid data.

    The exact scan accepted every row (for instance timestamps written as ``1.0e9``), so
    read everything as text and let the vectorised checks convert.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in include},
                                   include_columns=include, strings_can_be_null=False)
    try:
        stream = pa.input_stream(str(src.path), compression="gzip" if src.gzip else None)
        # The streaming reader parses block by block: the same speed as read_csv here, but
        # read_csv holds the raw text and parsed fields of every block at once (~3x the
        # table: 1.8 GB for a 20M-row file against 0.7 GB streaming).
        reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts,
                                convert_options=convert)
        table = pa.Table.from_batches(list(reader), schema=reader.schema)
        del reader
    except (pa.ArrowInvalid, OSError):
        raise DataError(f"cannot parse the file: {exc}", path=src.path) from None
    cols = {}
    for role, name in src.roles.items():
        col = pc.utf8_trim_whitespace(table.column(name))
        if role in ("rating", "timestamp", "weight"):
            col = pc.cast(col, pa.float64())
        cols[name] = col
    return pa.table(cols)


def _parquet_columns(p: Path, schema, roles: dict[str, str]):
    """The used columns of a Parquet file; nested ones (lists, structs, maps) are refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for role, name in roles.items():
        k = schema.get_field_index(name)
        if k < 0:
            raise DataError(f"the file has more than one column named {name!r}; rename one",
                            path=p, column=name)
        t = schema.field(k).type
        if pa.types.is_nested(t):
            raise DataError(f"the {role} column holds nested values ({t}), not one value per "
                            f"row; flatten it first (e.g. explode the lists) or pass {role}= "
                            "another column", path=p, column=name)
    try:
        return pq.read_table(p, columns=list(dict.fromkeys(roles.values())))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read the Parquet data ({exc}); is the file complete?",
                        path=p) from None


def read_parquet(path: PathLike, user: str | None = None, item: str | None = None,
                 rating: str | Literal[False] | None = None,
                 timestamp: str | Literal[False] | None = None, *, kind: str | None = None,
                 rating_scale: tuple[float, float] | None = None, duplicates: str | None = None,
                 item_metadata=None, user_metadata=None, id_type: str = "auto") -> Interactions:
    """Read a Parquet file of interactions; same column rules as :func:`read_csv`.

    Errors name the file, the column and the row (1-based data row; Parquet has no lines).

    Examples
    --------
    >>> import likewise, tempfile, os
    >>> data = likewise.datasets.movielens("100k")
    >>> path = os.path.join(tempfile.mkdtemp(), "ratings.parquet")
    >>> data.to_frame().to_parquet(path)
    >>> likewise.read_parquet(path, rating_scale=(1, 5)).nnz
    100000
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if id_type not in _ID_TYPES:
        raise ConfigError(f"id_type must be one of {_ID_TYPES}, got {id_type!r}")
    p = _check_file(path)
    try:
        schema = pq.read_schema(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc}); is it complete, and really "
                        "Parquet (use read_csv for text files)?", path=p) from None
    names = [n for n in schema.names]
    roles = _resolve_roles(names, {"user": user, "item": item, "rating": rating,
                                   "timestamp": timestamp}, {"path": p})
    table = _parquet_columns(p, schema, roles)
    try:
        holder = [table]
        del table
        return _build(holder, roles, path=p, kind=kind, rating_scale=rating_scale,
                      duplicates=duplicates, item_metadata=item_metadata,
                      user_metadata=user_metadata, id_type=id_type)
    except _Located as loc:
        raise DataError(f"row {loc.row + 1}: {loc.message}", path=p, column=loc.column) \
            from None
