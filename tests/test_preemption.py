"""Preemption and failure of workflow jobs, through Snakemake as a user runs it.

- A training job killed with SIGKILL in the middle of an epoch (the whole Snakemake process
  group, as a preempted node or a lost login shell does) continues from its last checkpoint
  when the user types what the README says (``snakemake --unlock ...`` then
  ``snakemake --rerun-incomplete ...``) and ends with the metrics of an uninterrupted run.
- A job that fails (non-finite loss, out of memory, a truncated dataset file) leaves no output
  that Snakemake would take for finished, a dry run still lists it, and its log says why.
- A config change recomputes only the frequency splits it touches (finished data is kept).

The fake Fashion-MNIST is prepared once through the workflow (prepare_dataset → subset_dataset
→ split_frequency) and copied, with its modification times, into each test's directory, so that
each test runs only the jobs it is about.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests import fakedata
from tests.shared_runs import made_once

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
RADIUS = 4  # one radius: fewer split_frequency jobs
N_TRAIN, N_TEST = 1000, 100  # with small_cnn at width 1: an epoch of a couple of seconds on one core
CONFIG = "preempt.yaml"
RUN_DIR = Path("results/runs/vanilla/seed0")
METRICS, MODEL, CHECKPOINT = RUN_DIR / "metrics.csv", RUN_DIR / "model.pt", RUN_DIR / "checkpoint.pt"
TRAIN_LOG = Path("results/logs/train/vanilla_seed0.log")
FREQUENCY = [f"results/data/fashion_mnist/frequency/{split}_r{RADIUS}.pt" for split in ("train", "test")]


def snakemake_command(repo_root: Path, *args: str) -> list[str]:
    # Targets and flags first: --configfile takes every word after it.
    return [*SNAKEMAKE, *args, "-s", str(repo_root / "Snakefile"), "--configfile", CONFIG]


def snakemake(repo_root: Path, cwd: Path, *args: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_command(repo_root, *args), cwd=cwd, capture_output=True, text=True, timeout=timeout, **popen
    )


def write_config(path: Path, repo_root: Path, **training) -> None:
    """tests/configs/tiny.yaml with one radius, three epochs and a wider small_cnn, plus ``training``."""
    config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
    config["frequency"]["radii"] = [RADIUS]
    config["robustness"]["figure2_radius"] = RADIUS
    config["studies"]["shift_control"] = False  # tiny.yaml's control is at r = 12, not run here
    config["training"]["epochs"] = 3
    config["training"]["width_by_model"]["small_cnn"] = 1.0
    config["training"].update(training)
    path.write_text(yaml.safe_dump(config))


def jobs_to_do(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a (dry) run."""
    if "Job stats:" not in output:
        return {}
    counts = {}
    for line in output.split("Job stats:")[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def living_members(pgid: int) -> list[int]:
    """PIDs of the process group that are not zombies (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        state, _, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group (Snakemake and its job) and wait until none of it runs."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group had already ended
        pass
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while living_members(process.pid):
        assert time.monotonic() < deadline, f"processes {living_members(process.pid)} survived SIGKILL"
        time.sleep(0.05)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, repo_root) -> Path:
    """A directory with the fake dataset and its frequency splits, made by the workflow once per
    session (tests copy it, never change it: tests.shared_runs.made_once shares it among xdist workers)."""

    def make(root):
        fakedata.write_idx_dataset(root / "fake-data" / "fashion_mnist", n_train=N_TRAIN, n_test=N_TEST, seed=0)
        write_config(root / CONFIG, repo_root)
        env = {**os.environ, "HFC_DATA_CACHE": str(root / "data-cache")}
        result = snakemake(repo_root, root, *FREQUENCY, "--cores", "2", env=env)
        assert result.returncode == 0, result.stderr[-5000:]
        return {}

    return made_once(tmp_path_factory, "prepared", make)[0]


def workdir(prepared: Path, path: Path) -> Path:
    """A fresh run directory holding copies of the prepared data (modification times kept)."""
    path.mkdir(parents=True)
    shutil.copytree(prepared / "fake-data", path / "fake-data")
    shutil.copytree(prepared / "results" / "data", path / "results" / "data")
    shutil.copy2(prepared / CONFIG, path / CONFIG)
    return path


@pytest.mark.slow
def test_sigkill_mid_epoch_resumes_to_the_same_metrics(prepared, tmp_path, repo_root):
    interrupted = workdir(prepared, tmp_path / "interrupted")
    uninterrupted = workdir(prepared, tmp_path / "uninterrupted")
    target = str(METRICS)

    with open(tmp_path / "first.out", "w") as out:
        first = subprocess.Popen(
            snakemake_command(repo_root, target, "--cores", "1"),
            cwd=interrupted, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    log, checkpoint = interrupted / TRAIN_LOG, interrupted / CHECKPOINT
    deadline = time.monotonic() + 600
    try:
        # The checkpoint is written right after the "epoch 1:" line: wait for both, then kill
        # while epoch 2 trains.
        while not (log.exists() and "epoch 1:" in log.read_text() and checkpoint.exists()):
            if first.poll() is not None:
                output = (tmp_path / "first.out").read_text()[-5000:]
                pytest.fail(f"snakemake ended before the checkpoint of epoch 1 appeared:\n{output}")
            assert time.monotonic() < deadline, "epoch 1 never finished"
            time.sleep(0.02)
    finally:
        kill_group(first)
    killed_log = log.read_text()
    assert "epoch 2:" not in killed_log, "the kill came after epoch 2 had finished, not in its middle"
    assert checkpoint.exists()
    assert not (interrupted / METRICS).exists() and not (interrupted / MODEL).exists()

    # The uninterrupted run trains meanwhile, in its own directory.
    with open(tmp_path / "uninterrupted.out", "w") as out:
        reference = subprocess.Popen(
            snakemake_command(repo_root, target, "--cores", "1"),
            cwd=uninterrupted, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # What the README tells the user to type after a kill: the dead Snakemake's lock must go,
        # and --rerun-incomplete covers a kill that came while an output was being written.
        unlock = snakemake(repo_root, interrupted, "--unlock")
        assert unlock.returncode == 0, unlock.stderr[-5000:]
        rerun = snakemake(repo_root, interrupted, target, "--cores", "1", "--rerun-incomplete")
        assert rerun.returncode == 0, rerun.stderr[-5000:]
    finally:
        reference.wait(timeout=600)
    assert reference.returncode == 0, (tmp_path / "uninterrupted.out").read_text()[-5000:]

    assert "resuming vanilla (seed 0) from the checkpoint of epoch 1" in log.read_text()
    assert "resuming" not in (uninterrupted / TRAIN_LOG).read_text()
    assert not checkpoint.exists(), "the checkpoint outlived the finished job"
    pd.testing.assert_frame_equal(pd.read_csv(interrupted / METRICS), pd.read_csv(uninterrupted / METRICS))
    resumed = torch.load(interrupted / MODEL, weights_only=True)["state_dict"]
    straight = torch.load(uninterrupted / MODEL, weights_only=True)["state_dict"]
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[key], straight[key]) for key in resumed)


def split_jobs(output: str) -> set[tuple[str, int]]:
    """(split, radius) of every split_frequency job in a dry run's output."""
    jobs = set()
    for block in re.split(r"\n(?=(?:local)?rule )", output):
        if block.startswith("rule split_frequency:"):
            found = re.search(r"wildcards: dataset=\w+, split=(\w+), radius=(\d+)", block)
            jobs.add((found[1], int(found[2])))
    return jobs


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"frequency": {"radii": [RADIUS, 8]}}, {("train", 8), ("test", 8)}),  # only the new radius
        ({"frequency": {"radii": [RADIUS], "rescale": False}}, set()),  # rescaling happens at load
        ({"training": {"epochs": 5}}, set()),
    ],
    ids=["radius-added", "rescale-switched", "epochs-changed"],
)
def test_config_change_recomputes_only_the_splits_it_touches(prepared, tmp_path, repo_root, change, expected):
    cwd = workdir(prepared, tmp_path / "changed")
    # Snakemake's record of how each file was made: what its params/code/input triggers compare.
    shutil.copytree(prepared / ".snakemake" / "metadata", cwd / ".snakemake" / "metadata")
    config = yaml.safe_load((cwd / CONFIG).read_text())
    for section, values in change.items():
        config[section].update(values)
    (cwd / CONFIG).write_text(yaml.safe_dump(config))
    dry = snakemake(repo_root, cwd, "-n")
    output = dry.stdout + dry.stderr
    assert dry.returncode == 0, output[-3000:]
    assert split_jobs(output) == expected, output[-3000:]
    todo = jobs_to_do(output)
    assert "prepare_dataset" not in todo and "subset_dataset" not in todo, todo
    assert todo.get("train", 0) > 0  # the rest of the workflow is still to run


def assert_failed_without_output(result, cwd: Path, rule: str, outputs) -> None:
    """The ``rule`` job failed and left none of ``outputs`` (Snakemake would take them for finished)."""
    assert result.returncode != 0, f"the {rule} job did not fail:\n{result.stderr[-3000:]}"
    assert f"Error in rule {rule}" in result.stderr, result.stderr[-3000:]
    left = [str(path) for path in outputs if (cwd / path).exists()]
    assert not left, f"a failed {rule} job left {left}"


def test_failed_job_leaves_no_partial_output(prepared, tmp_path, repo_root):
    cwd = workdir(prepared, tmp_path / "diverging")
    # Plain SGD at lr 1e6 overflows the logits within the first few steps: the loss is NaN in epoch 1.
    write_config(cwd / CONFIG, repo_root, optimizer="sgd", lr=1e6)
    result = snakemake(repo_root, cwd, str(METRICS), "--cores", "1")
    assert_failed_without_output(result, cwd, "train", [METRICS, MODEL])
    dry = snakemake(repo_root, cwd, str(METRICS), "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert jobs_to_do(dry.stdout + dry.stderr) == {"train": 1, "total": 1}, dry.stdout[-3000:]
    log = (cwd / TRAIN_LOG).read_text()
    assert "TrainingDiverged" in log and "diverged in epoch 1" in log, log[-3000:]
    assert "Lower the learning rate (training.lr" in log and "now 1000000.0" in log, log[-3000:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS keeps the allocation from touching memory")
def test_out_of_memory_job_leaves_no_partial_output(prepared, tmp_path, repo_root):
    import resource

    cwd = workdir(prepared, tmp_path / "oom")
    # A width that asks for a terabyte of weights. The address-space limit makes the allocation
    # fail at once (as a GPU's memory does) instead of letting the kernel's OOM killer loose.
    write_config(cwd / CONFIG, repo_root, width_by_model={"small_cnn": 4000.0})
    # (the attack suite's Square budget, at this width, would be refused at parse time already)
    config = yaml.safe_load((cwd / CONFIG).read_text())
    config["robustness"]["suite"]["enabled"] = False
    (cwd / CONFIG).write_text(yaml.safe_dump(config))
    limit = 16 * 2**30

    def limit_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    result = snakemake(repo_root, cwd, str(METRICS), "--cores", "1", preexec_fn=limit_address_space)
    assert_failed_without_output(result, cwd, "train", [METRICS, MODEL])
    log = (cwd / TRAIN_LOG).read_text()
    assert "FAILED: " in log and "can't allocate memory" in log, log[-3000:]


def test_truncated_dataset_file_fails_prepare_dataset(tmp_path, repo_root):
    # MNIST: unlike Fashion-MNIST no Debian package copy could stand in for the broken file.
    files = fakedata.write_idx_dataset(tmp_path / "fake-data" / "mnist", n_train=40, n_test=20, seed=0)["files"]
    broken = files["train_images"]
    fakedata.truncate_file(broken, -500)
    config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
    config["dataset"] = {"name": "mnist", "root": "fake-data/mnist", "download": False}
    (tmp_path / CONFIG).write_text(yaml.safe_dump(config))
    target = "results/data/mnist/canonical.pt"
    result = snakemake(repo_root, tmp_path, target, "--cores", "1")
    assert_failed_without_output(result, tmp_path, "prepare_dataset", [target])
    log = (tmp_path / "results/logs/prepare_dataset/mnist.log").read_text()
    assert "DatasetError" in log and f"truncated gzip file fake-data/mnist/{broken.name}" in log, log[-3000:]
