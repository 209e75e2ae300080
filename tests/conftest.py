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


@pytest.fixture(scope="session", autouse=True)
def _slurm_runs_in_background(request, tmp_path_factory):
    """The long SLURM runs of tests/test_slurm.py start with the session, when selected and a
    cluster answers: they mostly wait on SLURM, so the rest of the suite runs meanwhile."""
    if any(item.get_closest_marker("slurm") for item in request.session.items):
        from tests.test_slurm import start_background_runs

        start_background_runs(request.session, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, repo_root):
    """One end-to-end run of tests/configs/tiny.yaml (every study at toy scale) with the example
    external model of configs/external.yaml, shared by the tests that only read its outputs
    (tests.shared_runs.made_once). Returns the run folder, its Snakemake arguments and the finished
    process's return code and stderr tail; each test asserts the return code."""
    import subprocess
    from types import SimpleNamespace

    import yaml

    from hfc.models import build_model
    from tests import fakedata

    args = ["--cores", "2", "-s", str(repo_root / "Snakefile"), "--configfile", "config.yaml"]

    def make(folder):
        fakedata.write_idx_dataset(folder / "fake-data" / "fashion_mnist", n_train=200, n_test=100, seed=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            weights = build_model("small_cnn", 1, 10, 28, 0.3, 0.35, width=0.5).net.state_dict()
        torch.save(weights, folder / "my_cnn.pt")
        config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
        external = yaml.safe_load((repo_root / "configs/external.yaml").read_text())["external_models"]
        external[0]["test_size"] = 50
        config["external_models"] = external
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=folder, capture_output=True,
                                text=True, timeout=1800)  # fmt: skip
        return {"returncode": result.returncode, "stderr": result.stderr[-5000:]}

    from tests.shared_runs import made_once

    folder, finished = made_once(tmp_path_factory, "tiny-run", make)
    return SimpleNamespace(path=folder, args=args, **finished)
