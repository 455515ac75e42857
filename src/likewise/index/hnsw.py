"""HNSW graphs through hnswlib (``pip install 'likewise[ann]'``).

Metric mapping: cosine runs hnswlib's ``ip`` space on unit vectors (score ``1 - d``);
dot runs ``ip`` on the norm-augmented unit vectors (score ``M (1 - d)``); euclidean runs
``l2`` (hnswlib returns squared distances; we return their square root).

Parameters: ``M`` (graph degree, 16), ``ef_construction`` (200), ``ef`` (search breadth,
50; raised to ``k`` when smaller; also a ``query`` setting), ``random_state`` (100),
``num_threads`` (0: all cores; 1 makes the build deterministic).

Concurrent queries: hnswlib searches are thread-safe, but the search breadth ``ef`` is a
setting of the whole graph (``set_ef``), not of one search. Searches that need the same
``ef`` run side by side; one that needs another value waits until those in flight are
done before it changes it (:class:`_SharedSetting`), so no search runs with another's
``ef`` and results never depend on what else runs at the same time.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._params import Int
from ..errors import require
from .base import Index, augment_for_mips, augment_query, sort_rows

__all__ = ["HnswIndex"]


def _hnswlib():
    return require("hnswlib", "ann", "the hnsw index backend")


class _SharedSetting:
    """A graph-wide search setting that concurrent searches share (a readers-writer lock
    keyed by the value): any number of searches may use the current value at once; a
    search that needs another value waits until none is using the current one, then
    applies its own with ``apply``."""

    def __init__(self, apply):
        self._apply = apply
        self._cond = threading.Condition()
        self._value = None
        self._users = 0

    @contextlib.contextmanager
    def using(self, value):
        with self._cond:
            while self._value != value and self._users > 0:
                self._cond.wait()
            if self._value != value:
                self._apply(value)
                self._value = value
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    self._cond.notify_all()


class HnswIndex(Index):
    """hnswlib HNSW index (see the module docstring for parameters)."""

    backend = "hnsw"
    _build_spec: ClassVar[dict] = {
        "M": (16, Int(low=2, high=1024)),
        "ef_construction": (200, Int(low=1)),
        "random_state": (100, Int(low=0)),
    }
    _search_spec: ClassVar[dict] = {
        "ef": (50, Int(low=1)),
        "num_threads": (0, Int(low=0)),
    }

    @property
    def _space(self) -> str:
        return "l2" if self.metric == "euclidean" else "ip"

    @property
    def _inner_dim(self) -> int:
        return self.dim + 1 if self.metric == "dot" else self.dim

    def _to_inner(self, stored: np.ndarray) -> np.ndarray:
        return augment_for_mips(stored, self.max_norm) if self.metric == "dot" else stored

    def _threads(self, n: int) -> int:
        return -1 if n == 0 else n

    def _new_graph(self):
        self._index = _hnswlib().Index(space=self._space, dim=self._inner_dim)
        self._ef = _SharedSetting(self._index.set_ef)

    def _build(self, stored, raw):
        self._new_graph()
        self._index.init_index(max_elements=len(stored), M=self.params["M"],
                               ef_construction=self.params["ef_construction"],
                               random_seed=self.params["random_state"])
        self._index.add_items(self._to_inner(stored), np.arange(len(stored)),
                              num_threads=self._threads(self.params["num_threads"]))

    def _search(self, q, raw, k, settings):
        inner = augment_query(q) if self.metric == "dot" else q
        threads = self._threads(settings["num_threads"])
        try:
            # hnswlib searches with max(ef, k) itself: setting ef alone keeps one shared value
            # for every k, so concurrent searches for different k do not wait for each other
            with self._ef.using(settings["ef"]):
                labels, dist = self._index.knn_query(inner, k=k, num_threads=threads)
        except RuntimeError:
            # hnswlib refuses when the graph walk finds fewer than k (tiny or odd graphs);
            # retry with the widest search
            with self._ef.using(len(self)):
                labels, dist = self._index.knn_query(inner, k=k, num_threads=threads)
        pos = labels.astype(np.int64, copy=False)
        if self.metric == "euclidean":
            scores = np.sqrt(np.maximum(dist, 0))
        elif self.metric == "dot":
            scores = (1.0 - dist) * np.float32(self.max_norm)
        else:
            scores = 1.0 - dist
        return sort_rows(pos, scores.astype(np.float32, copy=False), self.higher_is_better)

    def _add(self, stored, raw, start):
        n = start + len(stored)
        if n > self._index.get_max_elements():
            self._index.resize_index(n)
        self._index.add_items(self._to_inner(stored), np.arange(start, n),
                              num_threads=self._threads(self.params["num_threads"]))

    def _get_vectors(self, pos):
        vecs = np.asarray(self._index.get_items(pos, return_type="numpy"), dtype=np.float32)
        vecs = vecs.reshape(len(pos), self._inner_dim)
        if self.metric == "dot":
            return vecs[:, :-1] * np.float32(self.max_norm)
        return vecs

    def _save_files(self, directory: Path) -> list[str]:
        self._index.save_index(str(directory / "index.hnsw"))
        return ["index.hnsw"]

    def _load_files(self, saved, mmap: bool) -> None:
        self._new_graph()
        self._index.load_index(saved.native_path("index.hnsw"))
        if self._index.element_count != len(self) or self._index.dim != self._inner_dim:
            raise ValueError(f"the graph holds {self._index.element_count} vectors of "
                             f"{self._index.dim} dimensions, not {len(self)} of "
                             f"{self._inner_dim}")
