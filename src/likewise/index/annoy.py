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
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._params import Int
from ..errors import ConfigError, require
from .base import Index, augment_for_mips, augment_query, sort_rows

__all__ = ["AnnoyIndex"]


def _annoy():
    return require("annoy", "ann", "the annoy index backend")


def _csv_field(value: Any) -> str:
    """One CSV field: quoted (doubling quotes) when it holds a comma, quote or newline."""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


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

    def export(self, path: str | os.PathLike, *, ids: Any = None, id_column: str = "id",
               overwrite: bool = False) -> Path:
        """Write the forest as a plain Annoy file that other programs open, plus its ids.

        ``annoy.AnnoyIndex(dim, "angular").load(path)`` (``"euclidean"`` for a euclidean
        index) then answers with the same neighbours; item ``i`` of the file is position
        ``i`` here, and ``<stem>.ids.csv`` beside it maps each position to its id.

        Parameters
        ----------
        path : path
            The ``.ann`` file to write (atomically).
        ids : array-like, optional
            The ids to write in the CSV instead of the index's own (e.g. a model's user ids
            for an index over its user vectors).
        id_column : str
            Header of the id column in the CSV.
        overwrite : bool
            Replace existing files at ``path`` or at the CSV's path (never done otherwise:
            they are not provably likewise's).

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        UnsupportedError
            A ``dot`` index: its stored vectors carry the norm augmentation, which another
            program would have to apply to its queries too.
        """
        from .._fs import atomic_write_bytes, atomic_write_text
        from ..errors import UnsupportedError

        if self.metric == "dot":
            raise UnsupportedError("a 'dot' Annoy index stores norm-augmented vectors (one more "
                                   "dimension) that other programs cannot query as they are; "
                                   "export a 'cosine' or 'euclidean' index")
        self._check_nonempty()
        path = Path(path)
        ids_path = path.with_suffix(".ids.csv")
        names = np.asarray(self.ids if ids is None else ids)
        if len(names) != len(self):
            raise ConfigError(f"ids has {len(names)} entries but the index holds {len(self)} "
                              "vectors")
        for target in (path, ids_path):
            if target.exists() and not overwrite:
                raise ConfigError(f"{target} exists; refusing to replace a file likewise did not "
                                  "write (pass overwrite=True, --force on the command line)")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
            # Annoy writes to a path and then maps that file; the bytes go to the target
            # atomically, and the index stays mapped to the (unlinked) temporary file
            native = Path(tmp) / "export.ann"
            self._index.save(str(native))
            atomic_write_bytes(path, native.read_bytes())
        rows = "\n".join(f"{i},{_csv_field(v)}" for i, v in enumerate(names.tolist()))
        atomic_write_text(ids_path, f"position,{id_column}\n{rows}\n")
        return path

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
