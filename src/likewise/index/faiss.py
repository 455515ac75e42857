"""faiss indexes, flat (exact) or HNSW (``pip install 'likewise[ann]'``).

``kind="flat"``: ``IndexFlatIP`` for cosine (unit vectors) and dot, ``IndexFlatL2`` for
euclidean; exact, a cross-check for the exact backend. ``kind="hnsw"``: ``IndexHNSWFlat``
with inner product for cosine (unit vectors) and for dot (norm-augmented unit vectors,
score ``ip * M``), L2 for euclidean. faiss returns squared L2 distances; we return their
square root.

Parameters: ``kind`` ("flat"), ``M`` (32), ``ef_construction`` (40), ``ef`` (search
breadth, 16; raised to ``k`` when smaller; also a ``query`` setting), ``num_threads``
(0: faiss' default, all cores).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._params import Choice, Int
from ..errors import require
from .base import Index, augment_for_mips, augment_query, sort_rows

__all__ = ["FaissIndex"]


def _faiss():
    return require("faiss", "ann", "the faiss index backend")


@contextlib.contextmanager
def _omp_threads(faiss, n: int):
    if n == 0:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class FaissIndex(Index):
    """faiss flat or HNSW index (see the module docstring for parameters)."""

    backend = "faiss"
    _build_spec: ClassVar[dict] = {
        "kind": ("flat", Choice(("flat", "hnsw"))),
        "M": (32, Int(low=2, high=1024)),
        "ef_construction": (40, Int(low=1)),
    }
    _search_spec: ClassVar[dict] = {
        "ef": (16, Int(low=1)),
        "num_threads": (0, Int(low=0)),
    }

    @property
    def _augmented(self) -> bool:
        return self.metric == "dot" and self.params["kind"] == "hnsw"

    @property
    def _inner_dim(self) -> int:
        return self.dim + 1 if self._augmented else self.dim

    def _to_inner(self, stored: np.ndarray) -> np.ndarray:
        return augment_for_mips(stored, self.max_norm) if self._augmented else stored

    def _build(self, stored, raw):
        faiss = _faiss()
        d = self._inner_dim
        l2 = self.metric == "euclidean"
        if self.params["kind"] == "flat":
            self._index = faiss.IndexFlatL2(d) if l2 else faiss.IndexFlatIP(d)
        else:
            metric = faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT
            self._index = faiss.IndexHNSWFlat(d, self.params["M"], metric)
            self._index.hnsw.efConstruction = self.params["ef_construction"]
        with _omp_threads(faiss, self.params["num_threads"]):
            self._index.add(np.ascontiguousarray(self._to_inner(stored)))

    def _search(self, q, raw, k, settings):
        faiss = _faiss()
        inner = np.ascontiguousarray(augment_query(q) if self._augmented else q)
        with _omp_threads(faiss, settings["num_threads"]):
            if self.params["kind"] == "hnsw":
                params = faiss.SearchParametersHNSW(efSearch=max(settings["ef"], k))
                dist, labels = self._index.search(inner, k, params=params)
            else:
                dist, labels = self._index.search(inner, k)
        pos = labels.astype(np.int64, copy=False)
        if self.metric == "euclidean":
            scores = np.sqrt(np.maximum(dist, 0))
        elif self._augmented:
            scores = dist * np.float32(self.max_norm)
        else:
            scores = dist
        return sort_rows(pos, scores.astype(np.float32, copy=False), self.higher_is_better)

    def _add(self, stored, raw, start):
        faiss = _faiss()
        with _omp_threads(faiss, self.params["num_threads"]):
            self._index.add(np.ascontiguousarray(self._to_inner(stored)))

    def _get_vectors(self, pos):
        vecs = self._index.reconstruct_batch(np.asarray(pos, dtype=np.int64))
        vecs = np.asarray(vecs, dtype=np.float32).reshape(len(pos), self._inner_dim)
        if self._augmented:
            return vecs[:, :-1] * np.float32(self.max_norm)
        return vecs

    def _save_files(self, directory: Path) -> list[str]:
        _faiss().write_index(self._index, str(directory / "index.faiss"))
        return ["index.faiss"]

    def _load_files(self, saved, mmap: bool) -> None:
        # read into memory: faiss' memory-mapped indexes are read-only and add() on them
        # is not safe
        self._index = _faiss().read_index(saved.native_path("index.faiss"))
        if self._index.ntotal != len(self) or self._index.d != self._inner_dim:
            raise ValueError(f"the index holds {self._index.ntotal} vectors of "
                             f"{self._index.d} dimensions, not {len(self)} of "
                             f"{self._inner_dim}")
