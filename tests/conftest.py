"""Fixtures shared by several test modules."""
import tracemalloc
from contextlib import contextmanager

import pytest

MiB = 1 << 20


@contextmanager
def _peak_memory(limit=8 * MiB):
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < limit, f"allocated {peak:,} bytes"


@pytest.fixture
def peak_memory():
    """``with peak_memory(limit):`` fails when Python (and NumPy) allocated more than
    ``limit`` bytes (default 8 MiB) inside the block."""
    return _peak_memory


@pytest.fixture(scope="module")
def private_data_folder(tmp_path_factory):
    """A data/cache folder of the test module's own (``$FASTSOFTMAX_DATA``)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("data")
        patch.setenv("FASTSOFTMAX_DATA", str(folder))
        yield folder
