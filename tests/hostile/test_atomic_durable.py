"""Issue #14, class 4: a save is atomic and durable, and readers never see a missing model.

The model at a path is the complete old one or the complete new one for any reader at any
instant and after any crash: ``kill -9`` at random points of 50 saves over an existing
model, readers loading in a loop in other processes during 200 overwrites, and two
writers at once. Only likewise's own files are ever left, and the next save cleans what an
interrupted one left.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import likewise
from likewise import _fs

from ._saves import ROOT, SRC, manifest, popularity, svd

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and kill -9")


def fingerprint(model) -> str:
    """The class and every learned array (no query kernels: children of fork call this)."""
    digest = hashlib.sha256(type(model).__name__.encode())
    for name in sorted(model._learned_names()):
        value = getattr(model, name)
        if isinstance(value, np.ndarray):
            digest.update(name.encode() + np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def two_models():
    return popularity(), svd()


_OWN = re.compile(r"manifest\.json|v-\d{8}T\d{6}Z-[0-9a-f]{16}|\.manifest\.json\.[0-9a-f]{16}\.tmp")


def _own(name: str) -> bool:
    """likewise's own entries in a stable folder (the save, interrupted versions, temps)."""
    return _OWN.fullmatch(name) is not None


def _saving_child(models, path: Path, count: int | None = None) -> int:
    """Fork a process that saves the models in turn over ``path``; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 0
        try:
            for i in itertools.count() if count is None else range(count):
                models[i % len(models)].save(path)
        except BaseException as exc:  # noqa: BLE001 - reported through the exit status
            (path.parent / f"error-{os.getpid()}").write_text(repr(exc))
            status = 1
        finally:
            os._exit(status)
    return pid


def test_kill_9_at_random_points_of_50_saves_never_loses_the_model(two_models, tmp_path):
    a, b = two_models
    path = tmp_path / "model"
    a.save(path)
    expected = {fingerprint(a), fingerprint(b)}
    started = time.perf_counter()
    for model in (b, a, b, a):
        model.save(path)
    one_save = (time.perf_counter() - started) / 4
    rng = random.Random(14)
    for _ in range(50):
        pid = _saving_child((b, a), path)
        time.sleep(rng.uniform(0, 2.5 * one_save))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        loaded = likewise.load(path)
        assert fingerprint(loaded) in expected
        assert all(_own(name) for name in os.listdir(path)), os.listdir(path)
        assert sorted(os.listdir(tmp_path)) == ["model"]
    # the next save removes what the killed ones left
    b.save(path)
    assert sorted(os.listdir(path)) == ["manifest.json", manifest(path)["files_dir"]]
    assert fingerprint(likewise.load(path, mmap=True)) == fingerprint(b)


_READER = """
import json, sys, time, traceback
from pathlib import Path
import likewise
sys.path.insert(0, sys.argv[4])
from hostile.test_atomic_durable import fingerprint
path, expected, mmap = Path(sys.argv[1]), set(json.loads(sys.argv[2])), sys.argv[3] == "1"
stop = path.parent / "stop"
loads, failures, wrong = 0, [], 0
(path.parent / f"ready-{mmap}").write_text("")
while not stop.exists():
    try:
        model = likewise.load(path, mmap=mmap)
    except Exception:
        failures.append(traceback.format_exc(limit=3))
        continue
    loads += 1
    wrong += fingerprint(model) not in expected
print(json.dumps({"loads": loads, "failures": failures[:3], "n_failures": len(failures),
                  "wrong": wrong}))
"""


def test_readers_never_fail_during_200_overwrites(two_models, tmp_path):
    a, b = two_models
    path = tmp_path / "model"
    a.save(path)
    expected = json.dumps([fingerprint(a), fingerprint(b)])
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    readers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(_READER), str(path),
                                 expected, mmap, str(ROOT / "tests")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env) for mmap in ("0", "1")]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{m}").exists() for m in (False, True)):
        assert time.monotonic() < deadline and all(r.poll() is None for r in readers), \
            [r.communicate() for r in readers if r.poll() is not None]
        time.sleep(0.05)
    writer = _saving_child((b, a), path, count=200)
    _, status = os.waitpid(writer, 0)
    (tmp_path / "stop").write_text("")
    results = [json.loads(r.communicate(timeout=120)[0]) for r in readers]
    assert status == 0, (tmp_path / f"error-{writer}").read_text()
    for result in results:
        assert result["n_failures"] == 0, result["failures"]
        assert result["wrong"] == 0 and result["loads"] > 0
    assert fingerprint(likewise.load(path)) == fingerprint(a)  # the 200th save


def test_two_concurrent_writers_take_turns(two_models, tmp_path):
    a, b = two_models
    path = tmp_path / "model"
    a.save(path)
    writers = [_saving_child((model,), path, count=40) for model in (a, b)]
    statuses = [os.waitpid(pid, 0)[1] for pid in writers]
    errors = [p.read_text() for p in tmp_path.glob("error-*")]
    assert statuses == [0, 0] and not errors, errors
    assert fingerprint(likewise.load(path)) in {fingerprint(a), fingerprint(b)}
    assert sorted(os.listdir(path)) == ["manifest.json", manifest(path)["files_dir"]]


def test_the_switch_is_durable_before_the_old_version_goes(two_models, tmp_path, monkeypatch):
    """Every new file and folder is fsynced before the manifest's one atomic rename, the
    folder after it, and the superseded version is removed only then."""
    a, b = two_models
    path = tmp_path / "model"
    a.save(path)
    old = path / manifest(path)["files_dir"]
    events = []
    real_fsync, real_replace, real_rmtree = os.fsync, os.replace, _fs.shutil.rmtree

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append(("replace", str(src), str(dst)))
        return real_replace(src, dst, *args, **kwargs)

    def rmtree(target, *args, **kwargs):
        events.append(("rmtree", str(target)))
        return real_rmtree(target, *args, **kwargs)

    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc to name fsynced descriptors")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(_fs.shutil, "rmtree", rmtree)
    b.save(path)
    monkeypatch.undo()
    new = path / manifest(path)["files_dir"]
    switch = next(i for i, e in enumerate(events)
                  if e[0] == "replace" and e[2] == str(path / "manifest.json"))
    synced_before = {e[1] for e in events[:switch] if e[0] == "fsync"}
    written = {str(p) for p in new.iterdir()} | {str(new), str(path)}
    assert written <= synced_before, written - synced_before
    assert events[switch][1] in synced_before  # the new manifest's own data
    assert ("fsync", str(path)) in events[switch + 1:]  # the rename itself
    removal = events.index(("rmtree", str(old)))
    assert removal > switch and not old.exists()
