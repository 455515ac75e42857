"""Shared tools of the hostile save/load tests: small models, re-sealing a tampered save,
watching which files get opened, time limits and isolated processes."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import likewise

ROOT = Path(__file__).resolve().parents[2]
#: the likewise these tests import; child processes import the same one
SRC = Path(likewise.__file__).resolve().parents[1]
FORMAT1 = Path(__file__).resolve().parent / "data" / "format1"


def small_data(kind: str = "explicit") -> likewise.Interactions:
    data = likewise.synthetic(n_users=60, n_items=40, n_interactions=900, random_state=0)
    return data if kind == "explicit" else data.as_implicit()


def popularity() -> likewise.Popularity:
    return likewise.Popularity().fit(small_data())


def svd(seed: int = 0) -> likewise.SVD:
    return likewise.SVD(factors=4, epochs=2, random_state=seed).fit(small_data())


def item_knn() -> likewise.ItemKNN:
    return likewise.ItemKNN(k=5).fit(small_data("implicit"))


def answers(model) -> tuple:
    """What a model answers for a fixed set of queries (for exact comparisons)."""
    users = model.users_.ids[:8]
    recs = model.recommend(users, n=10)
    return recs.item_indices.tolist(), np.nan_to_num(recs.scores, nan=-9.0).tolist()


def manifest(path: Path) -> dict:
    return json.loads((Path(path) / "manifest.json").read_text())


def files_of(path: Path) -> Path:
    """The folder that holds a saved folder's files (its version folder)."""
    m = manifest(path)
    return Path(path) / m["files_dir"] if m.get("format_version", 1) >= 2 else Path(path)


def tree(path: Path) -> dict[str, bytes]:
    path = Path(path)
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def _npy_spec(path: Path) -> dict:
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(fh)
    return {"dtype": dtype.str, "shape": list(shape)}


def seal(manifest: dict) -> dict:
    """``manifest`` with its own digest: SHA-256 of its canonical JSON (sorted keys, no
    whitespace) without the digest itself, as docs/models.md defines it."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return {**body, "manifest_sha256": hashlib.sha256(canonical).hexdigest()}


def reseal(path: Path, *, describe: bool = True, **changes) -> None:
    """Make a tampered save consistent again, the way a crafted file would be: checksums,
    array descriptions (unless ``describe=False``) and the manifest digest recomputed
    (``changes`` edit the manifest first). Only the loader's structural checks stand
    between it and the model then."""
    path = Path(path)
    m = manifest(path)
    m.update(changes)
    files = files_of(path)
    sums, specs = {}, {}
    for fname in m["checksums"]:
        member = files / fname
        if member.is_file() and not member.is_symlink():
            sums[fname] = hashlib.sha256(member.read_bytes()).hexdigest()
            if fname.endswith(".npy"):
                with contextlib.suppress(ValueError):
                    specs[fname] = _npy_spec(member)
        else:
            sums[fname] = m["checksums"][fname]
    m["checksums"] = sums
    if describe:
        m["npy"] = specs
    (path / "manifest.json").write_text(json.dumps(seal(m), indent=1, sort_keys=True))


def replace_array(path: Path, fname: str, arr: np.ndarray) -> None:
    """Write a crafted array in place of ``fname`` and re-seal the save."""
    np.save(files_of(path) / fname, arr, allow_pickle=False)
    reseal(path)


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail (TimeoutError) instead of hanging: a blocking open of a FIFO is interrupted."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def recorded_opens():
    """Record every path handed to os.open / open / os.stat / os.lstat while the block runs."""
    seen: list[str] = []
    real_os_open, real_open = os.open, builtins.open
    real_stat, real_lstat = os.stat, os.lstat

    def note(target):
        if isinstance(target, (str, bytes, os.PathLike)):
            seen.append(os.fsdecode(target))

    def os_open(target, *args, **kwargs):
        note(target)
        return real_os_open(target, *args, **kwargs)

    def py_open(target, *args, **kwargs):
        note(target)
        return real_open(target, *args, **kwargs)

    def stat(target, *args, **kwargs):
        note(target)
        return real_stat(target, *args, **kwargs)

    def lstat(target, *args, **kwargs):
        note(target)
        return real_lstat(target, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "open", os_open)
        mp.setattr(builtins, "open", py_open)
        mp.setattr(os, "stat", stat)
        mp.setattr(os, "lstat", lstat)
        yield seen


def isolated(script: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter (a segfault or abort fails the test, not pytest)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
