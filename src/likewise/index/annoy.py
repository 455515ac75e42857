"""Random-projection forests through Spotify's Annoy (``pip install 'likewise[ann]'``).

Metric mapping: cosine uses ``angular`` (distance ``sqrt(2 - 2 cos)``, so score
``1 - d^2 / 2``); dot uses ``angular`` on the norm-augmented vectors (all of norm 1, the
query gets a 0 coordinate), score ``cos' * |q| * M``; euclidean uses ``euclidean``.

Parameters: ``n_trees`` (20; more trees, better recall, bigger file), ``search_k``
(nodes inspected per query; -1 means Annoy's default ``n_trees * k``; also a ``query``
setting), ``random_state`` (42), ``num_threads`` (build threads, 0: all cores; the
build is deterministic for a fixed ``random_state`` only with ``num_threads=1``).

Annoy indexes are immutable once built (``add`` raises :class:`~likewise.UnsupportedError`)
and are memory-mapped when loaded. Annoy has no batch query call: queries run one by one
in C++ with the GIL released, spread over a few Python threads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._params import Int
from ..errors import require
from .base import Index, augment_for_mips, augment_query, sort_rows

__all__ = ["AnnoyIndex"]


def _annoy():
    return require("annoy", "ann", "the annoy index backend")


class AnnoyIndex(Index):
    """Annoy forest index (see the module docstring for parameters)."""

    backend = "annoy"
    supports_add = False
    _build_spec: ClassVar[dict] = {
        "n_trees": (20, Int(low=1)),
        "random_state": (42, Int(low=0, high=2**31 - 1)),
    }
    _search_spec: ClassVar[dict] = {
        "search_k": (-1, Int(low=-1)),
        "num_threads": (0, Int(low=0)),
    }

    @property
    def _annoy_metric(self) -> str:
        return "euclidean" if self.metric == "euclidean" else "angular"

    @property
    def _inner_dim(self) -> int:
        return self.dim + 1 if self.metric == "dot" else self.dim

    def _new(self):
        annoy = _annoy()
        return annoy.AnnoyIndex(self._inner_dim, self._annoy_metric)

    def _build(self, stored, raw):
        inner = augment_for_mips(stored, self.max_norm) if self.metric == "dot" else stored
        self._index = self._new()
        self._index.set_seed(self.params["random_state"])
        add = self._index.add_item
        # Annoy has no bulk insert; this loop is the library's only entry point
        for i, row in enumerate(inner.tolist()):
            add(i, row)
        threads = self.params["num_threads"]
        self._index.build(self.params["n_trees"], n_jobs=-1 if threads == 0 else threads)

    def _search(self, q, raw, k, settings):
        inner = augment_query(q) if self.metric == "dot" else q
        search_k = settings["search_k"]
        nq = len(inner)
        pos = np.full((nq, k), -1, dtype=np.int64)
        dist = np.full((nq, k), np.nan, dtype=np.float32)
        get = self._index.get_nns_by_vector
        rows = inner.tolist()

        def run(lo: int, hi: int) -> None:
            for r in range(lo, hi):
                found, d = get(rows[r], k, search_k, True)
                pos[r, : len(found)] = found
                dist[r, : len(d)] = d

        threads = settings["num_threads"] or os.cpu_count() or 1
        if threads == 1 or nq < 64:
            run(0, nq)
        else:
            from concurrent.futures import ThreadPoolExecutor

            bounds = np.linspace(0, nq, threads * 4 + 1).astype(int)
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, bounds[:-1], bounds[1:]))
        if self.metric == "euclidean":
            scores = dist
        else:
            cos = 1.0 - dist.astype(np.float64) ** 2 / 2
            if self.metric == "dot":
                cos *= np.linalg.norm(q, axis=1, keepdims=True) * self.max_norm
            scores = cos.astype(np.float32)
        return sort_rows(pos, scores, self.higher_is_better)

    def _get_vectors(self, pos):
        get = self._index.get_item_vector
        vecs = np.array([get(int(p)) for p in pos], dtype=np.float32).reshape(
            len(pos), self._inner_dim)
        if self.metric == "dot":
            return vecs[:, :-1] * np.float32(self.max_norm)
        return vecs

    def _save_files(self, directory: Path) -> list[str]:
        self._index.save(str(directory / "index.ann"))
        return ["index.ann"]

    def _after_save(self, directory: Path) -> None:
        # Annoy's save() re-maps the index from the file it wrote; map it again from the
        # folder the save ended in
        self._index.unload()
        self._index = self._new()
        self._index.load(str(directory / "index.ann"))

    def _load_files(self, saved, mmap: bool) -> None:
        self._index = self._new()
        self._index.load(saved.native_path("index.ann"), prefault=not mmap)
        if self._index.get_n_items() != len(self):
            raise ValueError(f"the forest holds {self._index.get_n_items()} vectors, not "
                             f"{len(self)}")
