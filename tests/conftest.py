"""Suite-wide set-up: caches go to a temporary folder, never the user's ~/.cache."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    # exported ONNX networks and downloaded datasets default to the user's cache folder;
    # tests that need a specific folder set LIKEWISE_DATA_DIR themselves
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIKEWISE_DATA_DIR", str(tmp_path_factory.mktemp("likewise-cache")))
        yield
