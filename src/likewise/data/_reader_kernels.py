"""numba kernels for the readers (reference versions live in readers.py and are tested)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


# Serial on purpose: these loops are memory-bound (~20 ms per 20M rows), and a parallel
# region per Arrow chunk costs more in thread wake-ups than it saves, badly so on a busy
# machine.
@njit(cache=True)
def _mark(arr, lo, present):
    for k in range(arr.shape[0]):
        present[arr[k] - lo] = 1


@njit(cache=True)
def _map(arr, lo, lut, codes):
    for k in range(arr.shape[0]):
        codes[k] = lut[arr[k] - lo]


def _lookup(present):
    lut = np.cumsum(present, dtype=np.int32) - np.int32(1)
    uniques = np.flatnonzero(present).astype(np.int64)
    return lut, uniques


def dense_codes(arr: np.ndarray, lo: int, span: int):
    """Sorted unique ids and int32 codes of int64 ``arr`` with values in [lo, lo + span).

    Callers make sure the number of distinct ids fits in int32 (span < 2**31).
    """
    present = np.zeros(span, dtype=np.uint8)
    _mark(arr, lo, present)
    lut, uniques = _lookup(present)
    codes = np.empty(arr.shape[0], dtype=np.int32)
    _map(arr, lo, lut, codes)
    return uniques + lo, codes


def dense_codes_inplace(arr: np.ndarray, lo: int, span: int):
    """:func:`dense_codes` that overwrites int32 ``arr`` with the codes (no new n-array)."""
    present = np.zeros(span, dtype=np.uint8)
    _mark(arr, lo, present)
    lut, uniques = _lookup(present)
    _map(arr, lo, lut, arr)
    return uniques + lo, arr


@njit(cache=True)
def sorted_runs(arr):
    """Distinct values of sorted ``arr`` and where each run starts (plus ``len(arr)``).

    For a file sorted by user this is the user vocabulary and the CSR row pointer in one
    pass: no codes per row are needed, nor a binary search per user.
    """
    n = arr.shape[0]
    uniques = np.empty(n, dtype=np.int64)  # only the first m entries get touched
    starts = np.empty(n + 1, dtype=np.int64)
    m = 0
    for k in range(n):
        if k == 0 or arr[k] != arr[k - 1]:
            uniques[m] = arr[k]
            starts[m] = k
            m += 1
    starts[m] = n
    return uniques[:m].copy(), starts[:m + 1].copy()


def dense_codes_chunks(chunks: list, lo: int, span: int):
    """:func:`dense_codes` over several arrays (Arrow chunks) as if concatenated."""
    present = np.zeros(span, dtype=np.uint8)
    for arr in chunks:
        _mark(arr, lo, present)
    lut, uniques = _lookup(present)
    codes = np.empty(sum(len(a) for a in chunks), dtype=np.int32)
    start = 0
    for arr in chunks:
        _map(arr, lo, lut, codes[start:start + len(arr)])
        start += len(arr)
    return uniques + lo, codes


# ---------------------------------------------------------------------------------------
# Fast path for plain numeric delimited files
# ---------------------------------------------------------------------------------------
# A ratings file is usually nothing but integers and short decimals. This parser handles
# exactly that (optional sign, digits, an optional '.' and fraction; no quotes, exponents,
# spaces, empty fields or blank lines) in parallel over newline-aligned chunks, and gives
# up as soon as it meets anything else: the caller then falls back to Arrow's reader,
# which handles every CSV dialect and locates errors. ``status`` is -1 when a chunk
# parsed cleanly, else the byte offset where it gave up. Newlines are counted by the
# caller with NumPy (SIMD, ~0.1 ns/byte), which sizes the output arrays exactly.

_NL = 10
_CR = 13


_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1


@njit(inline="always", cache=True)
def _digits(buf, p):
    """Digits from p: (value, number of digits, next position).

    Two digits per step halve the multiply-add dependency chain that bounds a scalar
    parser (~17% faster here). No bounds checks: the caller's buffer ends with a newline,
    so a digit is never the last byte and a non-digit always stops the loop.
    """
    q = p
    mant = 0
    while True:
        d0 = np.int64(buf[p]) - 48
        if d0 < 0 or d0 > 9:
            break
        d1 = np.int64(buf[p + 1]) - 48
        if d1 < 0 or d1 > 9:
            mant = mant * 10 + d0
            p += 1
            break
        mant = mant * 100 + (d0 * 10 + d1)
        p += 2
    return mant, p - q, p


@njit(inline="always", cache=True)
def _number(buf, p, decimal):
    """Digits from p, and with ``decimal`` an optional '.' and fraction digits:
    (mantissa, scale, number of digits, next position); the value is mantissa / scale."""
    mant, n, p = _digits(buf, p)
    scale = 1.0
    if decimal and buf[p] == 46:  # '.'
        f, frac, p = _digits(buf, p + 1)
        for _ in range(frac):
            mant *= 10
            scale *= 10.0
        mant += f
        n += frac
    return mant, scale, n, p


@njit(inline="always", cache=True)
def _track_start():
    """The state :func:`_track` starts from: empty id ranges, sorted so far."""
    return _I32_MAX, _I32_MIN, _I32_MAX, _I32_MIN, _I32_MIN - 1, _I32_MIN - 1, 1


@njit(inline="always", cache=True)
def _track(u, it, lo0, hi0, lo1, hi1, prev_u, prev_i, ordered):
    """Running id ranges and whether (user, item) strictly increases, after one more row."""
    if u < prev_u or (u == prev_u and it <= prev_i):
        ordered = 0
    return min(lo0, u), max(hi0, u), min(lo1, it), max(hi1, it), u, it, ordered


@njit(inline="always", cache=True)
def _store_stats(stats, lo0, hi0, lo1, hi1, ordered):
    stats[0] = lo0
    stats[1] = hi0
    stats[2] = lo1
    stats[3] = hi1
    stats[4] = ordered


@njit(cache=True)
def _parse_chunk(buf, start, end, row0, kinds, slots, sep, ids, floats, longs, stats):  # noqa: C901 - hot loop: split, 2.5 -> 4.1 ns/byte
    """Parse one chunk; return -1, or the offset of the first byte it cannot handle.

    Column kinds: 0 unused (skipped), 1 id (int32, slot 0 = user, 1 = item), 2 decimal
    (float32), 3 integer (int64). ``stats`` receives min and max of both id columns and
    whether (user, item) strictly increases over the chunk's rows (then the file is in
    CSR order and needs no sort), found in the same pass instead of three more.

    The chunk must end with a newline (the caller guarantees it), so the loops need no
    bounds checks: a newline stops every field.
    """
    ncols = kinds.shape[0]
    p = start
    row = row0
    lo0, hi0, lo1, hi1, prev_u, prev_i, ordered = _track_start()
    while p < end:
        u = 0
        it = 0
        for c in range(ncols):
            kind = kinds[c]
            if kind == 0:  # a column we do not use: skip it (no quoted fields here)
                q = p
                while True:
                    b = buf[p]
                    if b == sep or b == _NL or b == _CR:
                        break
                    if b == 34:
                        return p
                    p += 1
                if p == q:
                    return p
            else:
                neg = False
                b = buf[p]
                if b == 45 or b == 43:  # '-' or '+'
                    neg = b == 45
                    p += 1
                mant, scale, n, p = _number(buf, p, kind == 2)
                if n == 0 or n > 18:
                    return p  # empty field, or too many digits for an exact mantissa
                if neg:
                    mant = -mant
                if kind == 1:
                    if mant < _I32_MIN or mant > _I32_MAX:
                        return p  # ids beyond int32: the general path handles them
                    if slots[c] == 0:
                        u = mant
                        ids[0, row] = mant
                    else:
                        it = mant
                        ids[1, row] = mant
                elif kind == 3:
                    longs[0, row] = mant
                else:
                    # both exact (below 2**53 and 10**22): the quotient is correctly
                    # rounded, then rounded to float32 once more, as before
                    floats[0, row] = mant / scale
            if c < ncols - 1:
                if buf[p] != sep:
                    return p
                p += 1
        if buf[p] == _CR:
            p += 1
        if buf[p] != _NL:
            return p  # more fields than the header, or a stray character
        p += 1
        lo0, hi0, lo1, hi1, prev_u, prev_i, ordered = _track(u, it, lo0, hi0, lo1, hi1,
                                                             prev_u, prev_i, ordered)
        row += 1
    _store_stats(stats, lo0, hi0, lo1, hi1, ordered)
    return -1


@njit(cache=True)
def _parse_chunk_standard(buf, start, end, row0, has_value, has_time, sep, users, items,
                          values, times, stats):
    """:func:`_parse_chunk` for the usual layout, ``user,item[,value][,timestamp]``.

    The same parse with the column dispatch written out (~1.25 vs ~1.8 ns/byte). It gives
    up (returns the offset, like the general kernel) on anything outside the plain cases:
    signs, ids of 10 digits or more. The caller then parses the chunk again with
    :func:`_parse_chunk`, so the result is always the general kernel's.
    """
    p = start
    row = row0
    lo0, hi0, lo1, hi1, prev_u, prev_i, ordered = _track_start()
    while p < end:
        u, n, p = _digits(buf, p)
        if n == 0 or n > 9 or buf[p] != sep:
            return p
        it, n, p = _digits(buf, p + 1)
        if n == 0 or n > 9:
            return p
        if has_value:
            if buf[p] != sep:
                return p
            mant, n, p = _digits(buf, p + 1)
            # one fraction digit ('4.5') without a branch on whether there is one: ratings
            # alternate between '4' and '4.5' at random, and a mispredicted branch costs
            # more than the arithmetic
            dot = np.int64(buf[p] == 46)
            d = np.int64(buf[min(p + 1, end - 1)]) - 48  # the chunk's last byte at most
            one = dot & np.int64((d >= 0) & (d <= 9))
            mant = mant * (1 + 9 * one) + d * one
            scale = 1.0 + 9.0 * one
            p += dot + one
            n += one
            more = one & np.int64((buf[p] >= 48) & (buf[p] <= 57))
            if more:  # a second fraction digit: rare, the loop takes the rest
                f, frac, p = _digits(buf, p)
                for _ in range(frac):
                    mant *= 10
                    scale *= 10.0
                mant += f
                n += frac
            if n == 0 or n > 18:
                return p
            values[row] = mant / scale
        if has_time:
            if buf[p] != sep:
                return p
            t, n, p = _digits(buf, p + 1)
            if n == 0 or n > 18:
                return p
            times[row] = t
        if buf[p] == _CR:
            p += 1
        if buf[p] != _NL:
            return p
        p += 1
        users[row] = u
        items[row] = it
        lo0, hi0, lo1, hi1, prev_u, prev_i, ordered = _track(u, it, lo0, hi0, lo1, hi1,
                                                             prev_u, prev_i, ordered)
        row += 1
    _store_stats(stats, lo0, hi0, lo1, hi1, ordered)
    return -1


@njit(cache=True)
def standard_layout(kinds, slots):
    """(has_value, has_time) when the columns are ``user,item[,value][,timestamp]``, else
    (-1, -1)."""
    n = kinds.shape[0]
    if n < 2 or n > 4 or kinds[0] != 1 or kinds[1] != 1 or slots[0] != 0 or slots[1] != 1:
        return -1, -1
    has_value = has_time = 0
    c = 2
    if c < n and kinds[c] == 2:
        has_value = 1
        c += 1
    if c < n and kinds[c] == 3:
        has_time = 1
        c += 1
    if c != n:
        return -1, -1
    return has_value, has_time


@njit(parallel=True, cache=True)
def parse_numeric(buf, starts, ends, row_offsets, kinds, slots, sep, ids, floats, longs,
                  status, stats):
    has_value, has_time = standard_layout(kinds, slots)
    # 1-d views: the written-out kernel indexes plain vectors (a column absent from the
    # file is an empty vector it never touches)
    users, items, values, times = ids[0], ids[1], floats.ravel(), longs.ravel()
    for k in prange(starts.shape[0]):
        done = -2
        if has_value >= 0:
            done = _parse_chunk_standard(buf, starts[k], ends[k], row_offsets[k], has_value,
                                         has_time, sep, users, items, values, times, stats[k])
        if done != -1:  # not the usual layout, or a case only the general kernel handles
            done = _parse_chunk(buf, starts[k], ends[k], row_offsets[k], kinds, slots, sep,
                                ids, floats, longs, stats[k])
        status[k] = done


def load_parse_kernels(kinds: np.ndarray, slots: np.ndarray) -> None:
    """Load (from numba's cache) the kernels a fast-path read calls, on empty inputs.

    The first kernel call in a process sets numba up (~0.25 s of Python: it imports its
    implementation modules) and loads the compiled code. ``_fast_numeric_table`` runs
    this on a thread while it counts newlines (NumPy work that releases the GIL), so the
    two overlap. The argument types match the real calls exactly (read-only uint8
    buffer, 2-d outputs, int32 ids), or numba would load a different specialisation.
    """
    text = np.zeros(1, dtype=np.uint8)
    text.flags.writeable = False  # the file is memory-mapped read-only
    none = np.zeros(0, dtype=np.int64)
    parse_numeric(text, none, none, none, kinds, slots, 44, np.zeros((2, 0), np.int32),
                  np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int64), none,
                  np.zeros((0, 5), np.int64))
    dense_codes_inplace(np.zeros(1, dtype=np.int32), 0, 1)
    sorted_runs(np.zeros(1, dtype=np.int32))
