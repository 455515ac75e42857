"""HNSW graphs through hnswlib (``pip install 'likewise[ann]'``).

Metric mapping: cosine runs hnswlib's ``ip`` space on unit vectors (score ``1 - d``);
dot runs ``ip`` on the norm-augmented unit vectors (score ``M (1 - d)``); euclidean runs
``l2`` (hnswlib returns squared distances; we return their square root).

Parameters: ``M`` (graph degree, 16), ``ef_construction`` (200), ``ef`` (search breadth,
50; raised to ``k`` when smaller; also a ``query`` setting), ``random_state`` (100),
``num_threads`` (0: all cores; 1 makes the build deterministic).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from .._params import Int
from ..errors import require
from .base import Index, augment_for_mips, augment_query, sort_rows

__all__ = ["HnswIndex"]


def _hnswlib():
    return require("hnswlib", "ann", "the hnsw index backend")


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

    def _build(self, stored, raw):
        hnswlib = _hnswlib()
        self._index = hnswlib.Index(space=self._space, dim=self._inner_dim)
        self._index.init_index(max_elements=len(stored), M=self.params["M"],
                               ef_construction=self.params["ef_construction"],
                               random_seed=self.params["random_state"])
        self._index.add_items(self._to_inner(stored), np.arange(len(stored)),
                              num_threads=self._threads(self.params["num_threads"]))

    def _search(self, q, raw, k, settings):
        inner = augment_query(q) if self.metric == "dot" else q
        threads = self._threads(settings["num_threads"])
        self._index.set_ef(max(settings["ef"], k))
        try:
            labels, dist = self._index.knn_query(inner, k=k, num_threads=threads)
        except RuntimeError:
            # hnswlib refuses when the graph walk finds fewer than k (tiny or odd graphs);
            # retry with the widest search
            self._index.set_ef(max(len(self), k))
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

    def _load_files(self, directory: Path, mmap: bool) -> None:
        hnswlib = _hnswlib()
        self._index = hnswlib.Index(space=self._space, dim=self._inner_dim)
        self._index.load_index(str(directory / "index.hnsw"))
