"""Issue #14, class 3: crafted files are refused at load, never crash or hang the process.

Each crafted save is re-sealed (checksums and manifest digest recomputed), so only the
loader's structural checks stand between it and the kernels: array headers against the
manifest and the file size, CSR structure, shapes against the vocabularies, index ranges,
finite values, the rating scale, regular files only, zip sizes before inflating. Cases
that crashed the process before (segfault, abort) run in a fresh interpreter, so a crash
fails the test instead of killing pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import likewise
from likewise import index
from likewise.errors import ModelFormatError

from ._saves import (
    files_of,
    isolated,
    item_knn,
    manifest,
    popularity,
    replace_array,
    reseal,
    seal,
    svd,
    time_limit,
)


@pytest.fixture(scope="module")
def saves(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafted")
    return {"knn": item_knn().save(root / "knn"), "svd": svd().save(root / "svd"),
            "pop": popularity().save(root / "pop")}


def _copy(saves, which, tmp_path, name="c"):
    target = tmp_path / f"{which}-{name}"
    shutil.copytree(saves[which], target, symlinks=True)
    return target


def _load_arrays(path, fname):
    return np.load(files_of(path) / fname)


# ---------------------------------------------------------------------------------------
# what crashed the process: run in a fresh interpreter
# ---------------------------------------------------------------------------------------
_LOAD_AND_QUERY = """
import sys, likewise
for path in sys.argv[1:]:
    try:
        model = likewise.load(path)
        model.recommend(model.users_.ids[:20], n=10)
        print("LOADED", path)
    except likewise.ModelFormatError as exc:
        print("REFUSED", path, str(exc).replace(chr(10), " "))
"""


def _crash_cases(saves, tmp_path):
    cases = {}
    # neighbour indices far outside the item range (a segfault in recommend before)
    knn = cases["neighbour index out of range"] = _copy(saves, "knn", tmp_path, "range")
    ind = _load_arrays(knn, "neighbors_.indices.npy")
    ind[::3] = 10**6
    replace_array(knn, "neighbors_.indices.npy", ind)
    # a negative neighbour index
    neg = cases["negative neighbour index"] = _copy(saves, "knn", tmp_path, "negative")
    ind = _load_arrays(neg, "neighbors_.indices.npy")
    ind[5] = -7
    replace_array(neg, "neighbors_.indices.npy", ind)
    # a decreasing row pointer (an abort in malloc before)
    dec = cases["decreasing indptr"] = _copy(saves, "knn", tmp_path, "indptr")
    ptr = _load_arrays(dec, "user_items_.indptr.npy")
    ptr[10], ptr[11] = ptr[11] + 50, ptr[10]
    replace_array(dec, "user_items_.indptr.npy", ptr)
    # row pointers that do not start at 0 or end at nnz
    shifted = cases["indptr not from 0 to nnz"] = _copy(saves, "knn", tmp_path, "shift")
    replace_array(shifted, "neighbors_.indptr.npy",
                  _load_arrays(shifted, "neighbors_.indptr.npy") + 3)
    # factors with fewer rows than the vocabulary has users (numba reads past the end)
    short = cases["factor rows fewer than users"] = _copy(saves, "svd", tmp_path, "short")
    replace_array(short, "user_factors_.npy", _load_arrays(short, "user_factors_.npy")[:7])
    # a neighbour matrix of the wrong shape (its indices then address other rows)
    shape = cases["neighbour matrix shape"] = _copy(saves, "knn", tmp_path, "shape")
    m = manifest(shape)
    m["sparse"]["neighbors_"]["shape"] = [10**6, 10**6]
    reseal(shape, sparse=m["sparse"])
    return cases


def test_crafted_indices_and_structure_are_refused_without_crashing(saves, tmp_path):
    cases = _crash_cases(saves, tmp_path)
    run = isolated(_LOAD_AND_QUERY, *map(str, cases.values()))
    assert run.returncode == 0, (f"the process died (status {run.returncode}): "
                                 f"{run.stderr[-2000:]}")
    outcome = {line.split()[1]: line for line in run.stdout.splitlines()}
    for what, path in cases.items():
        line = outcome.get(str(path), "")
        assert line.startswith("REFUSED"), f"{what}: {line or run.stdout}"
        assert "modified or corrupted" in line


# ---------------------------------------------------------------------------------------
# values and invariants
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case,match", [
    ("nan factors", "user_factors_: it holds NaN or infinite values"),
    ("inf bias", "item_bias_: it holds NaN or infinite values"),
    ("factor count mismatch", r"item_factors_: axis 1 has length 3, not 4"),
    ("rating scale reversed", r"rating_scale_: \(5.0, 1.0\) is not a \(low, high\) pair"),
    ("rating scale not numbers", "rating_scale_"),
    ("global mean not finite", "global_mean_"),
    ("parameter out of range", "factors must be an integer >= 1"),
    ("state named like a method", "'predict' in \"state\" is not a learned attribute name"),
    ("state named like a parameter", "'factors' in \"state\""),
    ("duplicate user ids", "users_"),
    ("training matrix of another shape", r"user_items_: axis 0 has length"),
])
def test_crafted_values_are_refused(saves, tmp_path, case, match):
    path = _copy(saves, "svd", tmp_path)
    m = manifest(path)
    if case == "nan factors":
        arr = _load_arrays(path, "user_factors_.npy")
        arr[3, 1] = np.nan
        replace_array(path, "user_factors_.npy", arr)
    elif case == "inf bias":
        arr = _load_arrays(path, "item_bias_.npy")
        arr[0] = np.inf
        replace_array(path, "item_bias_.npy", arr)
    elif case == "factor count mismatch":
        replace_array(path, "item_factors_.npy", _load_arrays(path, "item_factors_.npy")[:, :3])
    elif case == "rating scale reversed":
        reseal(path, state={**m["state"], "rating_scale_": [5.0, 1.0]})
    elif case == "rating scale not numbers":
        reseal(path, state={**m["state"], "rating_scale_": ["a", 2]})
    elif case == "global mean not finite":
        reseal(path, state={**m["state"], "global_mean_": "NaN"})
    elif case == "parameter out of range":
        reseal(path, params={**m["params"], "factors": -4})
    elif case == "state named like a method":
        reseal(path, state={**m["state"], "predict": 1})
    elif case == "state named like a parameter":
        reseal(path, state={**m["state"], "factors": 1})
    elif case == "duplicate user ids":
        ids = _load_arrays(path, "users_.npy")
        ids[1] = ids[0]
        replace_array(path, "users_.npy", ids)
    elif case == "training matrix of another shape":
        m["sparse"]["user_items_"]["shape"][0] += 5
        ptr = _load_arrays(path, "user_items_.indptr.npy")
        np.save(files_of(path) / "user_items_.indptr.npy",
                np.concatenate([ptr, np.repeat(ptr[-1:], 5)]))
        reseal(path, sparse=m["sparse"])
    with pytest.raises(ModelFormatError, match=match):
        likewise.load(path)


_HEADERS = ["huge shape", "structured dtype", "shape disagrees with the manifest",
            "trailing bytes", "fortran order"]


# a format 1 save (no description) may hold a Fortran-ordered array: tests/test_fs.py
@pytest.mark.parametrize("header,described", [
    (header, described) for described in ("as saved", "as crafted", "not at all")
    for header in _HEADERS if (header, described) != ("fortran order", "not at all")])
def test_array_headers_are_checked_before_reading(saves, tmp_path, header, described):
    path = _copy(saves, "svd", tmp_path)
    victim = files_of(path) / "user_factors_.npy"
    raw = victim.read_bytes()
    if header == "huge shape":  # 10**12 rows: must be refused, not allocated
        raw = raw.replace(b"(60, 4)", b"(1000000000000, 4)", 1)
    elif header == "structured dtype":
        raw = raw.replace(b"'<f4'", b"[('a', '<f4')]", 1)
    elif header == "trailing bytes":
        raw = raw + bytes(16)
    elif header == "fortran order":
        raw = raw.replace(b"False", b"True ", 1)
    victim.write_bytes(raw)
    if header == "shape disagrees with the manifest":
        np.save(victim, np.zeros((59, 4), np.float32))
    if described == "as saved":  # the manifest describes the array that was saved
        reseal(path, describe=False)
    elif described == "as crafted":  # the manifest agrees with the crafted header
        reseal(path)
    else:  # a save written before arrays were described: only the header itself
        reseal(path, describe=False, npy={})
    with time_limit(20), pytest.raises(ModelFormatError):
        likewise.load(path)


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "directory"])
def test_only_regular_files_are_read(saves, tmp_path, kind):
    path = _copy(saves, "svd", tmp_path)
    victim = files_of(path) / "item_factors_.npy"
    victim.unlink()
    if kind == "/dev/zero":
        victim.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(victim)
    else:
        victim.mkdir()
    with time_limit(20), pytest.raises(ModelFormatError, match="item_factors_.npy is"):
        likewise.load(path)


# ---------------------------------------------------------------------------------------
# zips
# ---------------------------------------------------------------------------------------
def _rezip(src, dst, *, method=zipfile.ZIP_STORED, extra=()):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(dst, "w", method) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
        for name, raw, how in extra:
            zf.writestr(name, raw, compress_type=how)
    return dst


def test_a_zip_bomb_is_refused_before_inflating(saves, tmp_path):
    model = likewise.load(saves["pop"])
    plain = model.save(tmp_path / "m.zip")
    # 256 MiB of zeros deflate to ~250 KB: far more than a stored likewise zip inflates to
    bomb = _rezip(plain, tmp_path / "bomb.zip",
                  extra=[("padding.npy", bytes(256 << 20), zipfile.ZIP_DEFLATED)])
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(ModelFormatError, match="would inflate to .* refusing to inflate it"):
        likewise.load(bomb)
    # a deflated likewise zip of ordinary size still loads
    deflated = _rezip(plain, tmp_path / "deflated.zip", method=zipfile.ZIP_DEFLATED)
    assert isinstance(likewise.load(deflated), likewise.Popularity)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_zip_members_must_be_stored_or_deflated(saves, tmp_path, method):
    plain = likewise.load(saves["pop"]).save(tmp_path / "m.zip")
    other = _rezip(plain, tmp_path / "other.zip", method=method)
    with pytest.raises(ModelFormatError, match="stored or deflated members only"):
        likewise.load(other)


def test_zip_member_sizes_must_match_the_manifest(saves, tmp_path):
    plain = likewise.load(saves["pop"]).save(tmp_path / "m.zip")
    with zipfile.ZipFile(plain) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["item_scores_.npy"] = members["item_scores_.npy"] + bytes(64)
    m = json.loads(members["manifest.json"])
    m["checksums"]["item_scores_.npy"] = hashlib.sha256(members["item_scores_.npy"]).hexdigest()
    members["manifest.json"] = json.dumps(seal(m)).encode()
    with zipfile.ZipFile(tmp_path / "crafted.zip", "w") as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    with pytest.raises(ModelFormatError, match="its header describes"):
        likewise.load(tmp_path / "crafted.zip")


# ---------------------------------------------------------------------------------------
# indexes
# ---------------------------------------------------------------------------------------
def test_crafted_index_arrays_are_refused(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    path = index.build(x, ids=np.arange(100, 130)).save(tmp_path / "idx")
    replace_array(path, "vectors.npy", x[:, :3].copy())
    with pytest.raises(ModelFormatError, match=r"vectors.npy holds a float32 array of shape"):
        index.load(path)
    path = index.build(x, ids=np.arange(100, 130)).save(tmp_path / "idx2")
    replace_array(path, "ids.npy", np.arange(100, 125))
    with pytest.raises(ModelFormatError):
        index.load(path)
    replace_array(path, "ids.npy", np.zeros(30, dtype=np.int64))  # duplicate ids
    with pytest.raises(ModelFormatError, match="ids"):
        index.load(path)


# ---------------------------------------------------------------------------------------
# the CSR check agrees with SciPy's full check
# ---------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(rows=st.integers(0, 6), cols=st.integers(0, 6),
       counts=st.lists(st.integers(-2, 4), max_size=7),
       indices=st.lists(st.integers(-3, 8), max_size=25), start=st.integers(-1, 1))
def test_check_csr_refuses_exactly_what_scipy_full_check_refuses(rows, cols, counts, indices,
                                                                  start):
    import scipy.sparse as sp

    from likewise.models._persistence import check_csr

    indptr = np.concatenate([[start], start + np.cumsum(counts)]).astype(np.int64)
    nnz = int(indptr[-1]) if len(indptr) else 0
    ind = np.asarray((indices * 4)[:max(nnz, 0)], dtype=np.int64)
    data = np.ones(len(ind), dtype=np.float32)
    try:
        check_csr("m", data, ind, indptr, (rows, cols))
        ours = None
    except ModelFormatError as exc:
        ours = exc
    try:
        matrix = sp.csr_matrix((rows, cols), dtype=np.float32)
        matrix.data, matrix.indices, matrix.indptr = data, ind, indptr
        matrix.check_format(full_check=True)
        # SciPy lets indptr end before the last index and trims; a save never does that
        theirs = None if int(indptr[-1]) == len(ind) else "trailing"
    except (ValueError, IndexError) as exc:
        theirs = exc
    if ours is not None and theirs is None:
        # SciPy checks the row pointers' order only when there are entries; a decreasing
        # pointer over no entries still sends a kernel past the end, so it is refused
        assert len(ind) == 0 and bool((np.diff(indptr) < 0).any()), (ours, indptr)
    else:
        assert (ours is None) == (theirs is None), (ours, theirs, indptr, ind, (rows, cols))
