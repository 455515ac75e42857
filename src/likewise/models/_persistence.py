"""Saving and loading models: what a model's state looks like in a likewise save.

The folder (or ``.zip``) format itself - ``.npy`` arrays, ``manifest.json``, checksums,
the versioned folder switched atomically, memory-mapping, the checks of names, files and
array headers - is :mod:`likewise._artifact`, shared with the indexes. This module maps a
fitted :class:`~likewise.models.base.Recommender` onto it: parameters and JSON-able learned
state go into the manifest, NumPy arrays into ``NAME.npy``, id vocabularies into their
``ids`` array, sparse matrices into their three CSR arrays.

Loading rebuilds nothing from code in the save: the class comes from the model registry,
parameters go through their rules, and the restored state is checked before anything uses
it - attribute names, CSR structure (:func:`check_csr`), then the model's own invariants
(``Recommender._validate_state``, which families extend with :func:`check_state`: shapes
against the vocabularies, index ranges, finite values). A save that fails any of it is a
:class:`~likewise.ModelFormatError`, never a crash or a silently different model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._artifact import ArtifactReader, write_artifact
from .._params import is_json, json_value, params_from_json, params_to_json, validate
from ..data.vocabulary import Vocabulary
from ..errors import LikewiseError, ModelFormatError

if TYPE_CHECKING:
    from .base import Recommender

__all__ = ["FORMAT_VERSION", "check_csr", "check_state", "load"]

#: Version of the on-disk model format written by :meth:`Recommender.save` (2: the
#: stable folder with a versioned subfolder; version 1 folders still load).
FORMAT_VERSION = 2
_FORMAT = "likewise.model"
_CSR_PARTS = ("data", "indices", "indptr")
# a learned attribute: lower case, ends in "_" (``user_factors_``, ``sub__a__users_``)
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]*_")
_SECTIONS = ("state", "arrays", "vocabularies", "sparse")
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


def _save(model: Recommender, path: Path, *, overwrite: bool = False) -> Path:
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
    return write_artifact(path, manifest, arrays, what="model", as_zip=path.suffix == ".zip",
                          overwrite=overwrite, owned=_names_a_registry_model)


def _names_a_registry_model(manifest: Mapping[str, Any]) -> bool:
    """Whether a saved manifest names a registry model (no module is imported)."""
    from .registry import entry

    class_path = manifest.get("class")
    if not isinstance(class_path, str) or not class_path.startswith("likewise."):
        return False
    try:
        entry(class_path)
    except LikewiseError:
        return False
    return True


def _model_class(path: Path, manifest: dict) -> type:
    from .registry import class_for_manifest

    try:  # only classes in the model registry load
        return class_for_manifest(manifest.get("class", ""))
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


# ---------------------------------------------------------------------------------------
# checks of restored state
# ---------------------------------------------------------------------------------------
def _bad(where: str, problem: str) -> ModelFormatError:
    return ModelFormatError(f"{where}: {problem}; the model was modified or corrupted "
                            "(save it again from a fitted model)")


def check_csr(where: str, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
              shape: tuple[int, int]) -> None:
    """Check a CSR matrix's arrays before a matrix is built from them.

    The same rules as SciPy's ``check_format(full_check=True)`` minus sorting: 1-D
    arrays, integer ``indptr``/``indices``, ``indptr`` of ``rows + 1`` entries starting at
    0, non-decreasing and ending at ``nnz``, every column index in ``[0, cols)``. Kernels
    index with these arrays unchecked, so a violation would read outside memory.

    Parameters
    ----------
    where : str
        The matrix, for the message.
    data, indices, indptr : ndarray
        The three CSR arrays.
    shape : (int, int)
        The matrix shape the manifest gives.

    Raises
    ------
    ModelFormatError
        Any rule broken.
    """
    rows, cols = shape
    if min(data.ndim, indices.ndim, indptr.ndim) != 1 or max(data.ndim, indices.ndim,
                                                             indptr.ndim) != 1:
        raise _bad(where, "its CSR arrays are not one-dimensional")
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu" \
            or data.dtype.kind not in "biuf":
        raise _bad(where, f"its CSR arrays have dtypes {data.dtype}/{indices.dtype}/"
                          f"{indptr.dtype}, not numbers with integer indices")
    nnz = len(indices)
    if len(indptr) != rows + 1 or len(data) != nnz:
        raise _bad(where, f"{len(indptr)} row pointers and {len(data)} values for "
                          f"{rows} rows and {nnz} column indices")
    if int(indptr[0]) != 0 or int(indptr[-1]) != nnz:
        raise _bad(where, f"the row pointers run from {int(indptr[0])} to {int(indptr[-1])}, "
                          f"not from 0 to {nnz}")
    if rows and bool((indptr[1:] < indptr[:-1]).any()):
        raise _bad(where, "the row pointers decrease")
    if nnz and (int(indices.min()) < 0 or int(indices.max()) >= cols):
        raise _bad(where, f"column indices run from {int(indices.min())} to "
                          f"{int(indices.max())}, outside [0, {cols})")


_FINITE_BLOCK = 1 << 16


def _all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite, in blocks (no temporary the size of the array)."""
    if values.dtype.kind not in "fc":
        return True
    flat = values.reshape(-1)
    mask = np.empty(min(flat.size, _FINITE_BLOCK), dtype=bool)
    for start in range(0, flat.size, _FINITE_BLOCK):
        block = flat[start:start + _FINITE_BLOCK]
        if not np.isfinite(block, out=mask[:len(block)]).all():
            return False
    return True


def check_state(model: Recommender, axes: Mapping[str, tuple], *,
                finite: Iterable[str] = (), no_nan: Iterable[str] = (),
                required: Iterable[str] = ()) -> None:
    """Check a loaded model's arrays against its vocabularies and each other.

    Parameters
    ----------
    model : Recommender
        The model, with ``users_`` and ``items_`` restored.
    axes : mapping of str to tuple
        Attribute -> the length of each axis: an int, ``"users"``/``"items"`` (the
        vocabulary sizes), another string (a size that every array naming it must share,
        such as ``"k"`` for the factor count) or None (any). Absent or None attributes are
        skipped unless listed in ``required``; sparse matrices are checked by their shape.
    finite : iterable of str
        Attributes whose values must all be finite.
    no_nan : iterable of str
        Attributes whose values may be infinite but never NaN (scores with -inf).
    required : iterable of str
        Attributes that must be present.

    Raises
    ------
    ModelFormatError
        A missing attribute, a wrong number of axes, a wrong length, a non-finite value.
    """
    owner = type(model).__name__
    sizes: dict[str, int] = {"users": len(model.users_), "items": len(model.items_)}
    for name in required:
        if getattr(model, name, None) is None:
            raise _bad(f"{owner}.{name}", "it is missing")
    for name, spec in axes.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        if not (isinstance(value, np.ndarray) or sp.issparse(value)):
            raise _bad(f"{owner}.{name}", f"it is a {type(value).__name__}, not an array")
        if len(value.shape) != len(spec):
            raise _bad(f"{owner}.{name}", f"it has {len(value.shape)} axes, not {len(spec)}")
        for axis, (got, want) in enumerate(zip(value.shape, spec, strict=True)):
            expected = sizes.setdefault(want, got) if isinstance(want, str) else want
            if expected is not None and got != expected:
                raise _bad(f"{owner}.{name}", f"axis {axis} has length {got}, not {expected}"
                           + (f" ({want})" if isinstance(want, str) else ""))
    for name in finite:
        value = getattr(model, name, None)
        if value is not None and not _all_finite(value.data if sp.issparse(value) else value):
            raise _bad(f"{owner}.{name}", "it holds NaN or infinite values")
    for name in no_nan:
        value = getattr(model, name, None)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and \
                bool(np.isnan(value).any()):
            raise _bad(f"{owner}.{name}", "it holds NaN values")


#: Arrays most families have, by the axes they index (see Recommender._validate_state).
COMMON_AXES: dict[str, tuple] = {
    "item_popularity_": ("items",),
    "user_bias_": ("users",), "item_bias_": ("items",),
    "fallback_user_bias_": ("users",), "fallback_item_bias_": ("items",),
    "user_factors_": ("users", "factors"), "item_factors_": ("items", "factors"),
}


def check_common_state(model: Recommender) -> None:
    """What every model's state must satisfy (``Recommender._validate_state``).

    Vocabularies, the training matrix's shape, the rating scale, the global mean, and the
    shapes and finiteness of the arrays in :data:`COMMON_AXES`.
    """
    owner = type(model).__name__
    for name in ("users_", "items_"):
        if not isinstance(getattr(model, name, None), Vocabulary):
            raise _bad(f"{owner}.{name}", "the id vocabulary is missing")
    matrix = getattr(model, "user_items_", None)
    if not sp.issparse(matrix):
        raise _bad(f"{owner}.user_items_", "the training matrix is missing")
    check_state(model, {"user_items_": ("users", "items")}, finite=("user_items_",))
    scale = getattr(model, "rating_scale_", None)
    if scale is not None and not (
            isinstance(scale, tuple) and len(scale) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale)
            and np.isfinite(scale).all() and scale[0] < scale[1]):
        raise _bad(f"{owner}.rating_scale_", f"{scale!r} is not a (low, high) pair of numbers")
    mean = getattr(model, "global_mean_", None)
    if mean is not None and not (isinstance(mean, (int, float)) and np.isfinite(mean)):
        raise _bad(f"{owner}.global_mean_", f"{mean!r} is not a finite number")
    check_state(model, COMMON_AXES, finite=COMMON_AXES)


def check_indices(model: Recommender, name: str, high: int) -> None:
    """Check that the integer array ``model.<name>`` (if any) holds indices in ``[0, high)``."""
    value = getattr(model, name, None)
    if value is None:
        return
    owner = type(model).__name__
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
        raise _bad(f"{owner}.{name}", "it is not an integer array")
    if value.size and (int(value.min()) < 0 or int(value.max()) >= high):
        raise _bad(f"{owner}.{name}", f"it holds indices outside [0, {high})")


# ---------------------------------------------------------------------------------------
# restoring
# ---------------------------------------------------------------------------------------
def _layout(path: Path, model: Recommender, saved: ArtifactReader) -> dict[str, dict]:
    """The manifest's sections, checked: attribute names, file names, sparse shapes."""
    manifest = saved.manifest
    sections: dict[str, dict] = {}
    seen: set[str] = set()
    params = set(model._param_names())
    for section in _SECTIONS:
        content = manifest.get(section, {})
        if not isinstance(content, dict):
            raise _bad(f"{path}/manifest.json", f"\"{section}\" is not a map")
        for name in content:
            if not (isinstance(name, str) and _ATTRIBUTE.fullmatch(name)) or name in seen \
                    or name in params or hasattr(type(model), name):
                raise _bad(f"{path}/manifest.json",
                           f"{name!r} in \"{section}\" is not a learned attribute name")
            seen.add(name)
        sections[section] = content
    for name, fname in (*sections["arrays"].items(), *sections["vocabularies"].items()):
        if not isinstance(fname, str):
            raise _bad(f"{path}/manifest.json", f"the file of {name!r} is not a name")
    for name, info in sections["sparse"].items():
        if not isinstance(info, dict) or info.get("format", "csr") != "csr":
            raise _bad(f"{path}/manifest.json", f"{name!r} is not a CSR matrix")
        shape = info.get("shape")
        if not (isinstance(shape, list) and len(shape) == 2 and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise _bad(f"{path}/manifest.json", f"the shape of {name!r} is not two sizes")
    return sections


def _restore_state(model: Recommender, saved: ArtifactReader, sections: dict[str, dict], *,
                   mmap: bool, verify: bool) -> None:
    owner = type(model).__name__

    def array(fname: str) -> np.ndarray:
        return saved.array(fname, mmap=mmap, verify=verify)

    for name, value in sections["state"].items():
        setattr(model, name, tuple(value) if name == "rating_scale_" and value else value)
    for name, fname in sections["arrays"].items():
        setattr(model, name, array(fname))
    for name, fname in sections["vocabularies"].items():
        ids = array(fname)
        if ids.ndim != 1 or ids.dtype.kind not in "iuUS":
            raise _bad(f"{owner}.{name}", "the ids are not a 1-D array of integers or strings")
        try:
            setattr(model, name, Vocabulary(np.asarray(ids)))
        except LikewiseError as exc:
            raise _bad(f"{owner}.{name}", str(exc)) from None
    for name, info in sections["sparse"].items():
        parts = [array(f"{name}.{p}.npy") for p in _CSR_PARTS]
        shape = (int(info["shape"][0]), int(info["shape"][1]))
        check_csr(f"{owner}.{name}", *parts, shape)
        setattr(model, name, sp.csr_matrix(tuple(parts), shape=shape))


def _checked(path: Path, step: Callable[[], None]) -> None:
    """Run a load step; errors that crafted state can cause become ModelFormatError."""
    try:
        step()
    except ModelFormatError:
        raise
    except (LikewiseError, ValueError, TypeError, IndexError, KeyError,
            AttributeError) as exc:
        raise ModelFormatError(f"{path}: the saved state is inconsistent "
                               f"({type(exc).__name__}: {exc}); the model was modified or "
                               "corrupted") from None


def _construct(path: Path, cls: type, manifest: dict) -> Recommender:
    params = manifest.get("params", {})
    if not isinstance(params, dict):
        raise _bad(f"{path}/manifest.json", "\"params\" is not a map")
    try:
        model = cls(**params_from_json(cls._param_spec, params))
    except (TypeError, LikewiseError) as exc:
        raise ModelFormatError(f"{path}: parameters do not match {cls.__name__} "
                               f"({exc})") from None
    try:  # the rules fit applies: a value out of range was never saved by likewise
        validate(cls.__name__, cls._param_spec, model.get_params())
    except LikewiseError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None
    return model


def load(path: str | os.PathLike, *, mmap: bool = False, verify: bool = True) -> Recommender:
    """Load any likewise model saved with ``save``.

    Safe for a model from an untrusted source: no code from the save runs (no pickle; the
    class comes from likewise's registry), nothing outside the folder is read, and every
    file, array and invariant is checked before use (see :mod:`likewise._artifact` and
    ``docs/models.md``).

    Parameters
    ----------
    path : path
        The directory (or ``.zip`` file) written by :meth:`Recommender.save`.
    mmap : bool
        Memory-map the arrays read-only instead of reading them (directories only).
    verify : bool
        Check every file's and the manifest's SHA-256 (tampering or corruption raises
        :class:`~likewise.ModelFormatError`). The structural checks run either way.

    Returns
    -------
    Recommender
        The fitted model, of the class named in the manifest.

    Raises
    ------
    ModelFormatError
        Not a likewise model, a newer format, a checksum mismatch, or state that breaks
        the model's invariants.

    Examples
    --------
    >>> model.save("my-model")  # doctest: +SKIP
    >>> likewise.load("my-model").recommend([1])  # doctest: +SKIP
    """
    path = Path(path)
    with ArtifactReader(path, what="model", format=_FORMAT, format_version=FORMAT_VERSION,
                        allow_zip=True) as saved:
        cls = _model_class(path, saved.manifest)
        saved.check_manifest_digest(verify=verify)
        model = _construct(path, cls, saved.manifest)
        sections = _layout(path, model, saved)
        _restore_state(model, saved, sections, mmap=mmap, verify=verify)
    _checked(path, model._validate_state)
    _checked(path, model._after_load)
    _checked(path, model._derive_state)
    return model
