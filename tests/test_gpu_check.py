"""The CPU side of benchmarks/gpu_check.sh: its refusal without CUDA and the GPU-hours arithmetic."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_extrapolate  # noqa: E402
from hfc.config import load_config, validate_config  # noqa: E402
from hfc.grid import all_runs  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_refuses_without_cuda(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "SNAKEMAKE": str(Path(sys.executable).parent / "snakemake")}
    result = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_check.sh"), str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert "no CUDA GPU" in result.stderr and "torch.cuda.is_available() is False" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["device.txt"]  # nothing ran


def test_gpu_check_needs_an_output_folder():
    result = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_check.sh")], capture_output=True, text=True)
    assert result.returncode == 2 and "usage" in result.stderr


def _config(train_size, test_size, epochs, studies, seeds=(0,), eval_sizes=(100, 100), radii=(4,)):
    config = yaml.safe_load((ROOT / "configs/ci.yaml").read_text())
    config["dataset"].update(name="cifar10", train_size=train_size, test_size=test_size)
    config["training"].update(epochs=epochs, shuffled_epochs=epochs)
    config["evaluation"].update(train_size=eval_sizes[0], test_size=eval_sizes[1])
    config["frequency"]["radii"] = list(radii)
    config["seeds"] = list(seeds)
    config["studies"] = {**{k: ([] if isinstance(v, list) else False) for k, v in config["studies"].items()}, **studies}
    return validate_config(config)


def test_extrapolation_scales_each_run_by_its_work():
    studies = {"heuristics": ["vanilla", "adversarial"]}
    shrunk = _config(1000, 500, 1, studies)
    full = _config(4000, 500, 10, studies, seeds=(0, 1), eval_sizes=(400, 100))
    # work per run: epochs × (train × passes + 3 sets × evaluated images / 3)
    #   shrunk vanilla 1 × (1000 + 200) = 1,200; adversarial 1 × (11,000 + 200) = 11,200
    #   full   vanilla 10 × (4000 + 500) = 45,000; adversarial 10 × (44,000 + 500) = 445,000
    hours = gpu_extrapolate.extrapolate_hours({"vanilla": 12.0, "heuristic-adversarial": 112.0}, shrunk, full)
    expected = (12.0 * 45000 / 1200 + 112.0 * 445000 / 11200) * 2 / 3600
    assert hours == pytest.approx(expected)
    with pytest.raises(ValueError, match="heuristic-adversarial"):
        gpu_extrapolate.extrapolate_hours({"vanilla": 12.0}, shrunk, full)


def test_paper_config_and_its_gpu_check_shrink_train_the_same_runs():
    paper = load_config(ROOT / "configs/paper.yaml")
    shrunk = copy.deepcopy(paper)
    shrunk["dataset"].update(train_size=2000, test_size=1000)
    shrunk["training"].update(epochs=1, shuffled_epochs=1)
    assert set(all_runs(shrunk)) == set(all_runs(paper))
    seconds = {run: 10.0 for run in all_runs(paper)}
    assert gpu_extrapolate.extrapolate_hours(seconds, shrunk, paper) > 28 * 10 * 25 / 3600


def test_read_job_seconds(tmp_path):
    bench = tmp_path / "results/benchmarks/train"
    bench.mkdir(parents=True)
    for name, s in (("vanilla_seed0", 10.0), ("vanilla_seed1", 14.0), ("band-low_r4_seed0", 3.0)):
        (bench / f"{name}.tsv").write_text(f"s\th:m:s\tmax_rss\n{s}\t0:00:10\t1.0\n")
    assert gpu_extrapolate.read_job_seconds(tmp_path) == {"vanilla": 12.0, "band-low_r4": 3.0}


def test_paper_gpu_hours_known_answer(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train import paper_gpu_hours

    config = _config(1000, 500, 2, {"heuristics": ["vanilla"]}, seeds=(0, 1), eval_sizes=(100, 100))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    # 1 run × 2 seeds × 2 epochs × (1000 / 100 + 3 sets × 200 / 600) s = 44 s
    assert paper_gpu_hours(100.0, 600.0, path) == pytest.approx(44 / 3600)
