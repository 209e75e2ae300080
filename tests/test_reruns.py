"""What makes the workflow recompute, and what stops it from losing finished results (issue 10).

One small workflow run (an ImageFolder of 16×16 PNGs, the Table 1 study, one epoch) is made in
a copy of the workflow's code, so that the tests can edit ``hfc`` modules and source images,
and then ask Snakemake's dry run which jobs it would run:

- an edited ``hfc`` function reruns exactly the jobs whose scripts import its module; a
  comment-only edit reruns nothing;
- a changed source image, or a deleted class, reruns the dataset and all after it;
- a changed setting that would replace finished runs is refused with the key named, unless
  ``replace_results`` is set;
- jobs compute with the config's thread count whatever ``--cores`` grants, with the same
  numbers; the declared ``mem_mb`` covers the measured peak memory; captions name the
  evaluation subsets.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests import fakedata
from tests.shared_runs import made_once

pytestmark = pytest.mark.slow

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
CODE = ("Snakefile", "config.yaml", "rules", "workflow_scripts", "hfc", "envs", "report")
CLASSES = ("cat", "dog", "frog")


def snakemake(workflow: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # Targets and flags first: --configfile takes every word after it.
    command = [*SNAKEMAKE, *args, "-s", str(workflow / "Snakefile"), "--configfile", "config.yaml"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


def planned_rules(result: subprocess.CompletedProcess) -> dict[str, int]:
    """{rule: jobs} of a dry run ({} when nothing is to be done)."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    if "Nothing to be done" in output:
        return {}
    counts = {}
    for line in output.split("Job stats:")[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    counts.pop("total", None)
    return counts


@pytest.fixture(scope="session")
def made(tmp_path_factory, repo_root):
    """The workflow's code copied and its small run finished, once per session (shared by the
    pytest-xdist workers, tests.shared_runs.made_once): tests that only read use it as it is."""

    def make(base):
        workflow = base / "workflow"
        workflow.mkdir()
        for name in CODE:
            source = repo_root / name
            if source.is_dir():
                shutil.copytree(source, workflow / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, workflow / name)
        run = base / "run"
        fakedata.write_imagefolder(run / "images", classes=CLASSES, n_train=12, n_test=6, size=(16, 16), seed=3)
        config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
        config["dataset"] = {"name": "imagefolder", "root": "images", "image_size": 16, "train_size": None,
                             "test_size": None}  # fmt: skip
        config["frequency"]["radii"] = [4]
        config["training"].update(epochs=1, batch_size=12)
        config["evaluation"].update(train_size=None, test_size=None)
        config["studies"] = {"table1": True, "figure3": False, "heuristics": [], "batch_size": [], "architecture": [],
                             "optimizer": [], "batchnorm_lfc": False, "adversarial": False}  # fmt: skip
        config["robustness"].update(figure2_radius=4, svd_rank=4)
        config["response"]["enabled"] = False
        config["threads"] = 2
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        result = snakemake(workflow, run, "--cores", "1")
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        return {"output": result.stdout + result.stderr}

    base, made_run = made_once(tmp_path_factory, "reruns", make)
    return base / "workflow", base / "run", made_run["output"]


@pytest.fixture
def made_copy(made, tmp_path):
    """A copy of ``made`` (code, run, Snakemake's records; modification times kept) for a test
    that edits code, images or records, so that the tests sharing ``made`` never see its edits."""
    workflow, run, output = made
    shutil.copytree(workflow.parent, tmp_path / "made", symlinks=True)
    return tmp_path / "made" / "workflow", tmp_path / "made" / "run", output


def trained_runs(run: Path) -> int:
    return len(list((run / "results/runs").glob("*/seed0/model.pt")))


def edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return text


def test_a_finished_run_has_nothing_to_do(made):
    workflow, run, _ = made
    assert planned_rules(snakemake(workflow, run, "-n")) == {}


def test_edited_hfc_function_reruns_exactly_the_jobs_that_import_it(made_copy):
    workflow, run, _ = made_copy
    module = workflow / "hfc/train.py"
    original = edit(module, "return torch.optim.Adam(params, lr=lr)", "return torch.optim.Adam(params, lr=lr * 1.0)")
    try:
        planned = planned_rules(snakemake(workflow, run, "-n"))
    finally:
        module.write_text(original)
    assert planned.get("train") == trained_runs(run)
    assert not {"prepare_dataset", "subset_dataset", "split_frequency"} & set(planned)
    assert planned_rules(snakemake(workflow, run, "-n")) == {}  # the same code again: nothing


def test_edited_table_code_reruns_tables_but_no_training(made_copy):
    workflow, run, _ = made_copy
    module = workflow / "hfc/tables.py"
    original = edit(module, "def t_quantile_975(", "def _unused_helper():\n    return 1\n\n\ndef t_quantile_975(")
    try:
        planned = planned_rules(snakemake(workflow, run, "-n"))
    finally:
        module.write_text(original)
    assert "table1" in planned
    assert not {"train", "prepare_dataset", "subset_dataset", "split_frequency", "collect_metrics"} & set(planned)


def test_comment_only_edit_reruns_nothing(made_copy):
    workflow, run, _ = made_copy
    module = workflow / "hfc/train.py"
    original = edit(module, "\ndef build_optimizer(", "\n# a comment that changes no code\ndef build_optimizer(")
    try:
        assert planned_rules(snakemake(workflow, run, "-n")) == {}
    finally:
        module.write_text(original)


def test_changed_source_image_reruns_the_dataset_and_everything_after(made_copy):
    workflow, run, _ = made_copy
    image = run / "images/train/dog/000.png"
    saved = image.read_bytes()
    fakedata.write_png(image, (fakedata.np.arange(16 * 16 * 3) % 251).reshape(16, 16, 3))
    try:
        planned = planned_rules(snakemake(workflow, run, "-n"))
    finally:
        image.write_bytes(saved)
    assert planned.get("prepare_dataset") == 1 and planned.get("train") == trained_runs(run)


def test_deleted_class_reruns_the_dataset(made_copy):
    workflow, run, _ = made_copy
    folder = run / "images/test/frog"
    hidden = run / "frog-test-aside"
    folder.rename(hidden)
    try:
        planned = planned_rules(snakemake(workflow, run, "-n"))
    finally:
        hidden.rename(folder)
    assert planned.get("prepare_dataset") == 1 and planned.get("table1") == 1


def test_changed_setting_that_would_replace_finished_runs_is_refused(made_copy):
    workflow, run, _ = made_copy
    before = {p: p.stat().st_mtime_ns for p in (run / "results/runs").rglob("*") if p.is_file()}
    refused = snakemake(workflow, run, "-n", "--config", "training={lr: 0.01}")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "training.lr / training.lr_by_optimizer (spec.lr): 0.002 -> 0.01 in results/runs/band-" in output
    assert "--directory" in output and "replace_results=true" in output
    # the real run is refused too, before any job, and nothing finished is touched
    assert snakemake(workflow, run, "--cores", "1", "--config", "training={lr: 0.01}").returncode != 0
    assert before == {p: p.stat().st_mtime_ns for p in (run / "results/runs").rglob("*") if p.is_file()}
    allowed = planned_rules(snakemake(workflow, run, "-n", "--config", "training={lr: 0.01}", "replace_results=true"))
    assert allowed.get("train") == trained_runs(run)


def test_jobs_compute_with_the_config_threads_and_the_same_numbers_at_any_cores(made, tmp_path):
    workflow, run, _ = made
    log = (run / "results/logs/train/band-low_r4_seed0.log").read_text()
    assert "computing with 2 CPU thread(s)" in log and "granted 1 core" in log
    other = tmp_path / "other"
    shutil.copytree(run / "images", other / "images")
    shutil.copy2(run / "config.yaml", other / "config.yaml")
    metrics = "results/runs/band-low_r4/seed0/metrics.csv"
    result = snakemake(workflow, other, metrics, "--cores", "2")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(run / metrics), pd.read_csv(other / metrics))


def test_declared_memory_covers_the_measured_peak(made):
    _, run, output = made
    declared = {}
    for block in re.split(r"\n(?=(?:local)?rule )", output):
        bench = re.search(r"benchmark: (\S+)", block)
        mem = re.search(r"mem_mb=(\d+)", block)
        if bench and mem:
            declared[bench.group(1)] = int(mem.group(1))
    assert any("benchmarks/train/" in b for b in declared)
    for bench, mem_mb in declared.items():
        peak = float(pd.read_csv(run / bench, sep="\t")["max_rss"].iloc[0])
        assert peak <= mem_mb, f"{bench}: measured {peak:.0f} MB > declared {mem_mb} MB"


def test_captions_name_the_evaluated_images(made):
    _, run, _ = made
    text = (run / "results/tables/table1.md").read_text()
    assert "imagefolder subset (train 36, test 18 images)" in text
    assert "accuracies on 36 train / 18 test images of it (evaluation.train_size / test_size)" in text


def test_unlock_with_the_runs_own_arguments(made_copy, tmp_path):
    """The README's recovery command for a run made with --directory (issue 10.8)."""
    workflow, run, _ = made_copy
    locks = run / ".snakemake/locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.input.lock").write_text(str(run / "results/metrics.csv"))
    command = [*SNAKEMAKE, "--unlock", "-s", str(workflow / "Snakefile"), "--directory", str(run),
               "--configfile", str(run / "config.yaml")]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stderr[-2000:]
    assert not list(locks.glob("*.lock"))


def test_a_missing_or_garbled_run_record_is_no_permission_to_retrain(made_copy):
    """Issue 21.1: Snakemake's record of the model knows the old settings when run.json does not."""
    workflow, run, _ = made_copy
    folder = next((run / "results/runs").glob("band-low_*/seed0"))
    record = folder / "run.json"
    saved = record.read_text()
    before = (folder / "model.pt").stat().st_mtime_ns
    lr = ("--config", "training={lr: 0.01}")
    try:
        for garbled in ("[]", "{not json", None):
            record.unlink() if garbled is None else record.write_text(garbled)
            refused = snakemake(workflow, run, "-n", *lr)
            output = refused.stdout + refused.stderr
            assert refused.returncode != 0, f"{garbled!r}: {output[-2000:]}"
            assert f"training.lr / training.lr_by_optimizer (spec.lr): 0.002 -> 0.01 in {folder.relative_to(run)}" in output
            # unchanged settings: the record is written again from Snakemake's, nothing reruns
            assert planned_rules(snakemake(workflow, run, "-n")) == {}, garbled
            assert json.loads(record.read_text()) == json.loads(saved)
        # neither record: nobody can tell, so it is refused even with the same settings
        record.unlink()
        metadata = run / ".snakemake/metadata"
        hidden = run / "metadata-aside"
        metadata.rename(hidden)
        try:
            refused = snakemake(workflow, run, "-n")
        finally:
            hidden.rename(metadata)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert f"{folder.relative_to(run)}/run.json is missing and Snakemake has no record of" in output
        assert "replace_results=true" in output
    finally:
        record.write_text(saved)
    assert (folder / "model.pt").stat().st_mtime_ns == before
