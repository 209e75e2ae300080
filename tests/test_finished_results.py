"""Issue 21: a config that trains nothing and analyses one external model finishes (part 4), and
every expensive finished result, not only training runs, is kept when a setting changes
(part 1): external analyses, Table 2's attack tables, and whatever a changed dataset setting
would recompute through the dataset's jobs.

One tiny folder (fake Fashion-MNIST, a small CNN as the external model) is made once: first
with every study off, then the natural model of the adversarial study and its attack table.
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from hfc.models import build_model
from tests import fakedata

# One worker runs the whole module under pytest-xdist: its tests share the module's folder.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("finished_results")]

OFF = {"table1": False, "figure3": False, "heuristics": [], "batch_size": [], "architecture": [], "optimizer": [],
       "batchnorm_lfc": False, "adversarial": False}  # fmt: skip


def snakemake(repo: Path, cwd: Path, config: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", *args, "-s", str(repo / "Snakefile"), "--configfile", config]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1200)


# Session scope: under pytest-xdist a worker may run other modules between this module's
# tests, and a module-scoped fixture would then be made again.
@pytest.fixture(scope="session")
def folder(tmp_path_factory, repo_root):
    run = tmp_path_factory.mktemp("finished")
    fakedata.write_idx_dataset(run / "fake-data" / "fashion_mnist", n_train=60, n_test=40, seed=0)
    torch.manual_seed(0)
    torch.save(build_model("small_cnn", 1, 10, 28, 0.3, 0.35, width=0.25).net.state_dict(), run / "mine.pt")
    config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
    config.update(studies=dict(OFF), analysis={"fourier_heatmap": {"images": 4}})
    config["training"].update(epochs=1)
    config["response"]["enabled"] = False
    config["external_models"] = [{"name": "mine", "architecture": "small_cnn", "width": 0.25, "weights": "mine.pt",
                                  "input_size": [1, 28, 28], "mean": [0.3], "std": [0.35], "test_size": 20,
                                  "analyses": ["figure2_count"]}]  # fmt: skip
    (run / "external.yaml").write_text(yaml.safe_dump(config))
    only_external = snakemake(repo_root, run, "external.yaml", "--cores", "2")
    # the same folder, now with the adversarial study: its natural model and Table 2's attacks
    config["studies"]["adversarial"] = True
    (run / "attacks.yaml").write_text(yaml.safe_dump(config))
    from hfc import grid

    natural = grid.study_runs(config, "adversarial")["natural"]
    attacks = f"results/robustness/{natural}/seed0/attacks.csv"
    attacked = snakemake(repo_root, run, "attacks.yaml", attacks, "--cores", "2")
    return run, only_external, attacked, attacks


def test_a_config_that_trains_nothing_finishes_with_what_exists(folder):
    run, result, _, _ = folder
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    results = run / "results"
    assert list(pd.read_csv(results / "external/mine/figure2_count.csv")["radius"]) == [4, 12]
    metrics = pd.read_csv(results / "metrics.csv")
    assert metrics.empty and "accuracy" in metrics.columns
    claims = (results / "report/claims.md").read_text()
    assert "this config trains no model" in claims and "external models analysed: mine" in claims
    assert "not evaluated" in claims
    assert (results / "report/paper_vs_reproduced.md").is_file()


def test_a_changed_setting_over_finished_external_results_is_refused(folder, repo_root):
    run, result, _, _ = folder
    assert result.returncode == 0
    output = run / "results/external/mine/figure2_count.csv"
    before = output.stat().st_mtime_ns
    refused = snakemake(repo_root, run, "external.yaml", "-n", "--config", "robustness={batch_size: 7}")
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0, text[-3000:]
    assert "robustness.batch_size (settings.robustness.batch_size): 100 -> 7 in results/external/mine/figure2_count.csv" in text
    assert "replace_results=true" in text and "--directory" in text
    # a dataset setting reruns the subset, and through it the external model's test images
    refused = snakemake(repo_root, run, "external.yaml", "-n", "--config", "dataset={test_size: 30}")
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0, text[-3000:]
    assert "dataset.test_size (subset_dataset test_size): None -> 30 in results/external/mine/figure2_count.csv" in text
    allowed = snakemake(repo_root, run, "external.yaml", "-n", "--config", "robustness={batch_size: 7}", "replace_results=true")
    assert allowed.returncode == 0 and "external_analysis" in allowed.stdout
    assert output.stat().st_mtime_ns == before


def test_a_changed_attack_setting_over_a_finished_table2_run_is_refused(folder, repo_root):
    run, _, result, attacks = folder
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    before = (run / attacks).stat().st_mtime_ns
    assert "Nothing to be done" in snakemake(repo_root, run, "attacks.yaml", attacks, "-n").stdout
    eps = ("--config", "robustness={eps: [0.03, 0.1]}")
    refused = snakemake(repo_root, run, "attacks.yaml", attacks, "-n", *eps)
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0, text[-3000:]
    assert f"robustness.eps (settings.eps): [0.03, 0.09] -> [0.03, 0.1] in {attacks}" in text
    assert snakemake(repo_root, run, "attacks.yaml", attacks, "--cores", "1", *eps).returncode != 0
    assert (run / attacks).stat().st_mtime_ns == before
