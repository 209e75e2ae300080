import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests import hfc from this checkout even before `pip install -e .`.
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

# Two cores: one torch thread per test process avoids oversubscription (and keeps numbers stable).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch, tmp_path_factory):
    # Tests never reach the network or the user's dataset cache.
    monkeypatch.setenv("HFC_DATA_CACHE", str(tmp_path_factory.getbasetemp() / "data-cache"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "inductor"))
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    # Tests marked gpu compare CPU and CUDA results; without CUDA they are skipped, saying so.
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
