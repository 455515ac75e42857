"""Issue #14: hypothesis mutates saved models; ``load`` refuses them or answers exactly
like the original, never crashes the process and never opens a file outside the save.

Mutations: flipped bytes (manifest and arrays), edited manifest fields, swapped,
truncated, deleted and renamed files, files replaced by symlinks (to a file inside, to a
FIFO outside, to /dev/zero), and for zip models the same on the members plus flipped
bytes of the zip itself. Every load runs in one long-lived worker process (a crash ends
it and fails the test, a hang runs into the time limit); the worker also records every
path it opens and reports any under the sentinel folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._saves import SRC, item_knn, popularity, reseal, svd

_WORKER = r"""
import builtins, json, os, sys
import numpy as np
import likewise

sentinel = sys.argv[1]
originals = json.loads(sys.argv[2])
opened = []
real_os_open, real_open = os.open, builtins.open

def note(target):
    if isinstance(target, (str, bytes, os.PathLike)) and sentinel in os.fsdecode(target):
        opened.append(os.fsdecode(target))

def os_open(target, *a, **k):
    note(target)
    return real_os_open(target, *a, **k)

def py_open(target, *a, **k):
    note(target)
    return real_open(target, *a, **k)

os.open, builtins.open = os_open, py_open

def answers(model):
    users = model.users_.ids
    recs = model.recommend(users, n=10)
    out = [recs.item_indices.tolist(), np.nan_to_num(recs.scores, nan=-9.0).tolist()]
    if model.kind_ == "explicit":
        users, items = np.meshgrid(model.users_.ids[:20], model.items_.ids[:20])
        users, items = users.ravel(), items.ravel()
        out.append(np.nan_to_num(model.predict(users, items), nan=-9.0).tolist())
    return out

expected = {name: answers(likewise.load(path)) for name, path in originals.items()}
print("READY", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    opened.clear()
    try:
        model = likewise.load(request["path"], mmap=request["mmap"])
        got = answers(model)
        outcome = "same" if got == expected[request["model"]] else "different"
    except likewise.ModelFormatError:
        outcome = "refused"
    except Exception as exc:
        outcome = f"error {type(exc).__name__}: {exc}"
    print(json.dumps({"outcome": outcome, "opened": opened}), flush=True)
"""


class _Worker:
    def __init__(self, sentinel: Path, originals: dict[str, str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_WORKER), str(sentinel),
             json.dumps(originals)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env)
        assert self._line(300) == "READY"

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            raise AssertionError(f"the loader hung for {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise AssertionError(f"the loading process died (status {self.proc.returncode}): "
                                 f"{self.proc.stderr.read()[-3000:]}")
        return line.strip()

    def load(self, model: str, path: Path, mmap: bool) -> dict:
        self.proc.stdin.write(json.dumps({"model": model, "path": str(path), "mmap": mmap})
                              + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line(60))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    pristine = root / "pristine"
    pristine.mkdir()
    models = {"pop": popularity(), "svd": svd(), "knn": item_knn()}
    originals = {name: str(model.save(pristine / name)) for name, model in models.items()}
    originals["svd.zip"] = str(models["svd"].save(pristine / "svd.zip"))
    sentinel = root / "sentinel"
    sentinel.mkdir()
    os.mkfifo(sentinel / "fifo")
    (sentinel / "secret.npy").write_bytes(Path(originals["svd"], "manifest.json").read_bytes())
    worker = _Worker(sentinel, originals)
    yield {"root": root, "originals": originals, "sentinel": sentinel, "worker": worker}
    worker.close()


# ---------------------------------------------------------------------------------------
# mutations
# ---------------------------------------------------------------------------------------
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40)
                     | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)

_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 99), st.integers(0, 2**31), st.integers(1, 255)),
    st.tuples(st.just("edit"), st.integers(0, 10**6), _JSON),
    st.tuples(st.just("swap"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("truncate"), st.integers(0, 99), st.integers(0, 2**31)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("rename"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("symlink"), st.integers(0, 99),
              st.sampled_from(["inside", "fifo", "secret.npy", "/dev/zero"])),
    st.tuples(st.just("zipflip"), st.integers(0, 2**31), st.integers(1, 255)),
)


def _leaves(node, path=()):
    """Every (path, value) in a JSON document, containers included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))


def _edit(raw: bytes, which: int, value) -> bytes:
    try:
        doc = json.loads(raw)
    except ValueError:  # an earlier mutation broke it already
        return raw
    paths = [p for p, _ in _leaves(doc) if p]
    if not paths:
        return raw
    target = paths[which % len(paths)]
    node = doc
    for key in target[:-1]:
        node = node[key]
    node[target[-1]] = value
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def _flip(raw: bytes, at: int, mask: int) -> bytes:
    if not raw:
        return raw
    data = bytearray(raw)
    data[at % len(data)] ^= mask
    return bytes(data)


def _mutate_folder(folder: Path, mutations, sentinel: Path) -> None:
    for op, *args in mutations:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
        entries = sorted(folder.rglob("*"))
        if not files:
            return
        pick = files[args[0] % len(files)] if op not in ("edit", "zipflip") else None
        if op == "zipflip":  # a folder has no zip: flip a byte of its manifest instead
            op, pick, args = "flip", folder / "manifest.json", [0, *args]
            if not pick.is_file():
                continue
        if op == "flip":
            pick.write_bytes(_flip(pick.read_bytes(), args[1], args[2]))
        elif op == "flipdata":  # a byte of an array's values, not of its header
            arrays = [f for f in files if f.suffix == ".npy"]
            pick = arrays[args[0] % len(arrays)]
            raw = pick.read_bytes()
            start = raw.find(b"\n") + 1
            if 0 < start < len(raw):
                pick.write_bytes(raw[:start] + _flip(raw[start:], args[1], args[2]))
        elif op == "edit":
            pick = folder / "manifest.json"
            if pick.is_file():
                pick.write_bytes(_edit(pick.read_bytes(), args[0], args[1]))
        elif op == "swap":
            other = files[args[1] % len(files)]
            a, b = pick.read_bytes(), other.read_bytes()
            pick.write_bytes(b)
            other.write_bytes(a)
        elif op == "truncate":
            raw = pick.read_bytes()
            pick.write_bytes(raw[:args[1] % (len(raw) + 1)])
        elif op == "delete":
            pick.unlink()
        elif op == "rename":
            other = entries[args[1] % len(entries)]
            pick.rename(other.with_name(other.name + ".x") if other != pick else
                        pick.with_name("renamed.npy"))
        elif op == "symlink":
            where = args[1]
            pick.unlink()
            target = {"inside": files[(args[0] + 1) % len(files)], "fifo": sentinel / "fifo",
                      "secret.npy": sentinel / "secret.npy"}.get(where, Path(where))
            pick.symlink_to(target)


def _mutate_zip(path: Path, mutations, scratch: Path, sentinel: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    scratch.mkdir()
    for name, raw in members.items():
        (scratch / name).write_bytes(raw)
    member_ops = [m for m in mutations if m[0] not in ("symlink", "zipflip")]
    _mutate_folder(scratch, member_ops, sentinel)
    with zipfile.ZipFile(path, "w") as zf:
        for member in sorted(scratch.iterdir()):
            zf.write(member, member.name)
    for _, at, mask in (m for m in mutations if m[0] == "zipflip"):
        path.write_bytes(_flip(path.read_bytes(), at, mask))


_counter = iter(range(10**9))


def _prepare(fuzz_env, model, mutations, crafted):
    case = fuzz_env["root"] / f"case-{next(_counter)}"
    case.mkdir()
    source = Path(fuzz_env["originals"][model])
    target = case / source.name
    if model.endswith(".zip"):
        shutil.copy(source, target)
        _mutate_zip(target, mutations, case / "members", fuzz_env["sentinel"])
    else:
        shutil.copytree(source, target, symlinks=True)
        _mutate_folder(target, mutations, fuzz_env["sentinel"])
        if crafted and (target / "manifest.json").is_file():
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError,
                                     OSError):
                reseal(target)
    return case, target


def _log(*entry):
    if os.environ.get("LIKEWISE_FUZZ_LOG"):  # for looking at what the fuzzer tried
        with open(os.environ["LIKEWISE_FUZZ_LOG"], "a") as log:
            log.write(json.dumps(entry, default=str) + "\n")


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(model=st.sampled_from(["pop", "svd", "knn", "svd.zip"]),
       mutations=st.lists(_MUTATION, min_size=1, max_size=3), mmap=st.booleans())
def test_mutated_saves_are_refused_or_answer_like_the_original(fuzz_env, model, mutations,
                                                               mmap):
    case, target = _prepare(fuzz_env, model, mutations, crafted=False)
    try:
        result = fuzz_env["worker"].load(model, target, mmap)
    finally:
        shutil.rmtree(case)
    _log(model, mmap, mutations, result)
    assert result["outcome"] in ("refused", "same"), (mutations, result)
    assert not result["opened"], f"opened outside the save: {result['opened']}"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(model=st.sampled_from(["pop", "svd", "knn"]),
       mutations=st.lists(_MUTATION.filter(lambda m: m[0] in ("flip", "edit", "swap",
                                                                "truncate"))
                          | st.tuples(st.just("flipdata"), st.integers(0, 99),
                                      st.integers(0, 2**31), st.integers(1, 255)),
                          min_size=1, max_size=2), mmap=st.booleans())
def test_crafted_saves_never_crash_the_loader_or_the_queries(fuzz_env, model, mutations,
                                                             mmap):
    """The same mutations with checksums and manifest digest recomputed afterwards (a
    crafted save): load may refuse it or return a model that answers differently, but
    loading and querying never crash, hang or raise anything but likewise's errors."""
    case, target = _prepare(fuzz_env, model, mutations, crafted=True)
    try:
        result = fuzz_env["worker"].load(model, target, mmap)
    finally:
        shutil.rmtree(case)
    _log("crafted", model, mmap, mutations, result)
    assert result["outcome"] in ("refused", "same", "different"), (mutations, result)
    assert not result["opened"], f"opened outside the save: {result['opened']}"
