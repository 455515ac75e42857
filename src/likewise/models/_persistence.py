"""Saving and loading models: what a model's state looks like in a likewise save.

The folder (or ``.zip``) format itself - ``.npy`` arrays, ``manifest.json``, checksums,
atomic install, memory-mapping - is :mod:`likewise._artifact`, shared with the indexes.
This module maps a fitted :class:`~likewise.models.base.Recommender` onto it: parameters
and JSON-able learned state go into the manifest, NumPy arrays into ``NAME.npy``, id
vocabularies into their ``ids`` array, sparse matrices into their three CSR arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._artifact import ArtifactReader, write_artifact
from .._params import is_json, json_value, params_from_json, params_to_json
from ..data.vocabulary import Vocabulary
from ..errors import ModelFormatError

if TYPE_CHECKING:
    from .base import Recommender

__all__ = ["FORMAT_VERSION", "load"]

#: Version of the on-disk model format written by :meth:`Recommender.save`.
FORMAT_VERSION = 1
_FORMAT = "likewise.model"
_CSR_PARTS = ("data", "indices", "indptr")
# learned state goes to JSON the same way parameters do (likewise._params)
_jsonable = is_json
_to_json = json_value


def _saved_params(model: Recommender) -> dict:
    # each value goes through its rule (a Generator seed is saved as None, a path as text)
    return params_to_json(model._param_spec, model.get_params())


def _split_state(model: Recommender, manifest: dict) -> dict[str, np.ndarray]:
    """Record the learned state in ``manifest``; return the arrays to store by file name."""
    arrays: dict[str, np.ndarray] = {}
    state = {k: getattr(model, k) for k in model._learned_names()}
    state.update(model._extra_state())
    for name, value in state.items():
        if isinstance(value, Vocabulary):
            manifest["vocabularies"][name] = f"{name}.npy"
            arrays[f"{name}.npy"] = value.ids
        elif sp.issparse(value):
            csr = value.tocsr()
            manifest["sparse"][name] = {"format": "csr", "shape": list(csr.shape)}
            for part in _CSR_PARTS:
                arrays[f"{name}.{part}.npy"] = getattr(csr, part)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind == "O":
                raise ModelFormatError(f"attribute {name} is an object array; store numbers "
                                       "or strings only")
            manifest["arrays"][name] = f"{name}.npy"
            arrays[f"{name}.npy"] = value
        else:
            value = _to_json(value)
            if not _jsonable(value):
                raise ModelFormatError(f"{type(model).__name__}.{name} ({type(value).__name__}) "
                                       "cannot be saved; override _extra_state")
            manifest["state"][name] = value
    return arrays


def _save(model: Recommender, path: Path) -> Path:
    """Write ``model`` to ``path`` (a folder, or one file when it ends in ``.zip``)."""
    import likewise

    manifest: dict[str, Any] = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "likewise_version": likewise.__version__,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "params": _saved_params(model),
        "state": {},
        "arrays": {},
        "sparse": {},
        "vocabularies": {},
    }
    arrays = _split_state(model, manifest)
    path = Path(path)
    return write_artifact(path, manifest, arrays, what="model", as_zip=path.suffix == ".zip")


def _model_class(path: Path, manifest: dict) -> type:
    from .registry import class_for_manifest

    try:  # only classes in the model registry load
        return class_for_manifest(manifest.get("class", ""))
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


def _restore_state(model: Recommender, saved: ArtifactReader, *, mmap: bool,
                   verify: bool) -> None:
    manifest = saved.manifest

    def array(fname: str) -> np.ndarray:
        return saved.array(fname, mmap=mmap, verify=verify)

    for name, value in manifest.get("state", {}).items():
        setattr(model, name, tuple(value) if name == "rating_scale_" and value else value)
    for name, fname in manifest.get("arrays", {}).items():
        setattr(model, name, array(fname))
    for name, fname in manifest.get("vocabularies", {}).items():
        setattr(model, name, Vocabulary(np.asarray(array(fname))))
    for name, info in manifest.get("sparse", {}).items():
        parts = [array(f"{name}.{p}.npy") for p in _CSR_PARTS]
        setattr(model, name, sp.csr_matrix(tuple(parts), shape=tuple(info["shape"])))


def load(path: str | os.PathLike, *, mmap: bool = False, verify: bool = True) -> Recommender:
    """Load any likewise model saved with ``save``.

    Parameters
    ----------
    path : path
        The directory (or ``.zip`` file) written by :meth:`Recommender.save`.
    mmap : bool
        Memory-map the arrays read-only instead of reading them (directories only).
    verify : bool
        Check every array's SHA-256 against the manifest (tampering or corruption raises
        :class:`~likewise.ModelFormatError`).

    Returns
    -------
    Recommender
        The fitted model, of the class named in the manifest.

    Examples
    --------
    >>> model.save("my-model")  # doctest: +SKIP
    >>> likewise.load("my-model").recommend([1])  # doctest: +SKIP
    """
    path = Path(path)
    with ArtifactReader(path, what="model", format=_FORMAT, format_version=FORMAT_VERSION,
                        allow_zip=True) as saved:
        cls = _model_class(path, saved.manifest)
        try:
            model = cls(**params_from_json(cls._param_spec, saved.manifest.get("params", {})))
        except TypeError as exc:
            raise ModelFormatError(f"{path}: parameters do not match {cls.__name__} "
                                   f"({exc})") from None
        _restore_state(model, saved, mmap=mmap, verify=verify)
    model._after_load()
    model._derive_state()
    return model
