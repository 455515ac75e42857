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


@njit(cache=True)
def _lookup(present):
    n_unique = 0
    lut = np.empty(present.shape[0], dtype=np.int32)
    for v in range(present.shape[0]):
        lut[v] = n_unique
        n_unique += present[v]
    uniques = np.empty(n_unique, dtype=np.int64)
    for v in range(present.shape[0]):
        if present[v]:
            uniques[lut[v]] = v
    return lut, uniques


@njit(cache=True)
def sorted_unique_pairs(u, i):
    """True when (u, i) rows are strictly increasing: sorted by user, then item, no repeats."""
    for k in range(1, u.shape[0]):
        if u[k] < u[k - 1] or (u[k] == u[k - 1] and i[k] <= i[k - 1]):
            return False
    return True


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
# parsed cleanly, else the byte offset where it gave up.

_NL = 10
_CR = 13


@njit(cache=True)
def count_lines(buf, start, end):
    """Number of lines in buf[start:end] (a last line without newline counts)."""
    n = 0
    for k in range(start, end):
        if buf[k] == _NL:
            n += 1
    if end > start and buf[end - 1] != _NL:
        n += 1
    return n


@njit(cache=True)
def _parse_chunk(buf, start, end, row0, kinds, slots, sep, ints, floats):
    """Parse one chunk; return -1, or the offset of the first byte it cannot handle."""
    ncols = kinds.shape[0]
    p = start
    row = row0
    pow10 = np.empty(19, dtype=np.float64)
    pow10[0] = 1.0
    for q in range(1, 19):
        pow10[q] = pow10[q - 1] * 10.0
    while p < end:
        for c in range(ncols):
            kind = kinds[c]
            neg = False
            if p < end and (buf[p] == 45 or buf[p] == 43):  # '-' or '+'
                neg = buf[p] == 45
                if kind == 0:
                    pass
                p += 1
            mant = 0
            ndig = 0
            frac = 0
            seen_dot = False
            while p < end:
                b = buf[p]
                if b >= 48 and b <= 57:
                    if ndig >= 18:
                        return p  # too many digits for an exact int64 mantissa
                    mant = mant * 10 + (b - 48)
                    ndig += 1
                    if seen_dot:
                        frac += 1
                elif b == 46 and kind == 2 and not seen_dot:  # '.'
                    seen_dot = True
                elif b == sep or b == _NL or b == _CR:
                    break
                elif kind == 0 and b != 34:  # skipped column: anything but a quote
                    ndig += 1
                else:
                    return p
                p += 1
            if ndig == 0:
                return p  # empty field (or a blank line)
            if kind == 1:
                ints[slots[c], row] = -mant if neg else mant
            elif kind == 2:
                v = mant / pow10[frac]
                floats[slots[c], row] = -v if neg else v
            # field separator or end of line
            if c < ncols - 1:
                if p >= end or buf[p] != sep:
                    return p
                p += 1
        if p < end and buf[p] == _CR:
            p += 1
        if p < end:
            if buf[p] != _NL:
                return p  # more fields than the header
            p += 1
        row += 1
    return -1


@njit(parallel=True, cache=True)
def parse_numeric(buf, starts, ends, row_offsets, kinds, slots, sep, ints, floats, status):
    for k in prange(starts.shape[0]):
        status[k] = _parse_chunk(buf, starts[k], ends[k], row_offsets[k], kinds, slots, sep,
                                 ints, floats)
