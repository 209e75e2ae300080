"""The Snakemake workflow as a user runs it: dry runs, lint, format, errors, a tiny end-to-end run."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests import fakedata

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ROOT = Path(__file__).resolve().parents[1]


def snakemake(args, cwd, timeout=1800):
    # Run from the repository, the results go to a fresh folder: results/ of the checkout (a
    # user's own runs) must not decide a test (a changed config there is refused, issue 10.6).
    if Path(cwd).resolve() == ROOT and "--lint" not in args and "--directory" not in args:
        args = [*args, "--directory", tempfile.mkdtemp(prefix="hfc-dry-")]
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    lines = output.split("Job stats:")[1].splitlines()[3:]
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_dry_run_default_config(repo_root):
    result = snakemake(["-n", "--forceall"], repo_root)
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 28 and counts["split_frequency"] == 8 and counts["table1"] == 1


def test_nested_command_line_config_is_typed_by_the_schema(repo_root):
    # Snakemake leaves nested --config values as strings; the workflow types them by the schema.
    result = snakemake(["-n", "--forceall", "--config", "response={enabled: true}", "seeds=[0, 1]"], repo_root)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 56 and counts["frequency_response"] == 56


def test_response_studies_sweep_only_their_runs_once(repo_root):
    # batch_size (25, 100 = vanilla, 400) and adversarial (vanilla, adversarial): 4 runs, vanilla once
    overlay = ["response={enabled: true, studies: [batch_size, adversarial]}", "seeds=[0, 1]"]
    result = snakemake(["-n", "--forceall", "--config", *overlay], repo_root)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["frequency_response"] == 4 * 2 and counts["response_figure"] == 2 and counts["response_radius"] == 1
    # a listed study that trains nothing is named before any job
    result = snakemake(["-n", "--config", "response={enabled: true, studies: [heuristics]}", "studies={heuristics: []}"], repo_root)
    assert result.returncode != 0
    assert "response.studies names heuristics, which this config trains no model for" in result.stdout + result.stderr


def test_partial_config_from_another_directory_is_laid_over_the_default(tmp_path, repo_root):
    # A user's own config names only what it changes, run in its own results folder.
    (tmp_path / "mine.yaml").write_text("training:\n  epochs: 1\nstudies:\n  architecture: [small_cnn, lenet]\n")
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", "mine.yaml"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 25 and counts["split_frequency"] == 8  # the default's 28 less 3 architectures


def test_dry_run_imagefolder_example_config(tmp_path, repo_root):
    # The example names a folder the user provides: missing, it stops the dry run already.
    config = str(repo_root / "configs/imagefolder.yaml")
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", config], tmp_path)
    assert result.returncode != 0
    assert "config dataset.root: data/my-images does not exist" in result.stdout + result.stderr
    fakedata.write_imagefolder(tmp_path / "data/my-images", n_train=200, n_test=200, size=(32, 32))
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", config], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 10 and counts["table1"] == 1 and counts["figure3"] == 1 and "table2" not in counts


def test_dry_run_paper_config(repo_root):
    result = snakemake(["-n", "--forceall", "--configfile", "configs/paper.yaml"], repo_root)
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 28 and counts["prepare_dataset"] == 1
    assert "results/data/cifar10/canonical.pt" in result.stdout + result.stderr


def test_lint_is_clean(repo_root):
    result = snakemake(["--lint"], repo_root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_snakefmt_check(repo_root):
    beside_python = Path(sys.executable).parent / "snakefmt"
    snakefmt = str(beside_python) if beside_python.exists() else shutil.which("snakefmt")
    result = subprocess.run([snakefmt, "--check", "."], cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_config_key_is_named(tmp_path, repo_root):
    config = tmp_path / "bad.yaml"
    config.write_text("training:\n  optimiser: adam\n")
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", str(config)], repo_root)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown key(s) 'optimiser' in training" in output and "optimizer" in output


def test_radius_out_of_range_is_refused(tmp_path, repo_root):
    config = tmp_path / "bad.yaml"
    config.write_text("frequency:\n  radii: [4, 30]\n")
    result = snakemake(["-n", "--configfile", str(config)], repo_root)
    assert result.returncode != 0 and "radius 30 is out of range for 28x28" in result.stdout + result.stderr


def test_missing_dataset_says_where_it_looked(tmp_path, repo_root):
    (tmp_path / "fake-data").mkdir()
    config = yaml.safe_load((repo_root / "tests/configs/tiny.yaml").read_text())
    config["dataset"] = {"name": "mnist", "root": "fake-data", "download": False}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        # Targets first: --configfile takes every word after it.
        ["results/data/mnist/canonical.pt", "--cores", "1", "-s", str(repo_root / "Snakefile"), "--configfile", "config.yaml"],
        tmp_path,
    )
    assert result.returncode != 0
    log = (tmp_path / "results/logs/prepare_dataset/mnist.log").read_text()
    assert "DatasetError" in log and "fake-data" in log and "dataset.root" in log
    assert not (tmp_path / "results/data/mnist/canonical.pt").exists()


@pytest.mark.slow
def test_tiny_end_to_end_run(tiny_run):
    # tests/configs/tiny.yaml, every study at toy scale, with an external model (conftest.tiny_run)
    assert tiny_run.returncode == 0, tiny_run.stderr
    results = tiny_run.path / "results"

    table1 = pd.read_csv(results / "tables/table1.csv")
    assert list(table1.columns)[:6] == ["radius", "band", "train_acc", "test_acc", "paper_train_acc", "paper_test_acc"]
    assert sorted(zip(table1.band, table1.radius)) == [("high", 4), ("high", 12), ("low", 4), ("low", 12)]
    assert table1.train_acc.between(0, 1).all() and table1.paper_test_acc.notna().all()
    assert "Δ" in (results / "tables/table1.md").read_text()
    # beyond the paper (issue 17): own band, transfer gap, and the shift control at r = 12 only
    assert table1.own_band_test_acc.between(0, 1).all() and table1.transfer_gap.notna().all()
    control = table1.set_index(["band", "radius"])["control_test_acc"]
    assert control.loc[("high", 12)] >= 0 and control.drop(("high", 12)).isna().all()
    assert "**Table 1, within band.**" in (results / "tables/table1.md").read_text()
    assert (results / "figures/table1.png").stat().st_size > 1000

    for study in ("heuristics", "batch_size", "architecture", "optimizer", "batchnorm_lfc"):
        summary = pd.read_csv(results / f"tables/{study}.csv")
        assert len(summary) >= 2 and "gap" in summary.columns, study
    assert len(pd.read_csv(results / "tables/heuristics.csv")) == 5
    for figure in ("figure3", "heuristics", "batch_size", "architecture", "optimizer", "batchnorm_lfc"):
        for ext in ("png", "pdf"):
            assert (results / f"figures/{figure}.{ext}").stat().st_size > 1000, figure

    table2 = pd.read_csv(results / "tables/table2.csv")
    assert list(table2.columns)[:6] == ["model", "rho", "attack", "eps", "accuracy", "paper_accuracy"]
    assert set(table2.model) == {"natural", "adversarial"} and set(table2.attack) == {"clean", "fgsm", "pgd"}
    suite = pd.read_csv(results / "tables/attack_suite.csv")
    assert set(suite.attack) == {"clean", "fgsm", "pgd", "apgd_ce", "apgd_dlr", "square", "ensemble"}
    assert set(suite.model) == {"natural", "adversarial"} and set(suite.rho) == {0.0, 1.0}
    assert len(pd.read_csv(results / "tables/attack_checklist.csv")) == 2 * 2 * 4  # models × ρ × checks
    assert (results / "figures/attack_suite.png").stat().st_size > 1000
    for table in ("figure2_count", "svd_control", "kernel_smoothness"):
        assert len(pd.read_csv(results / f"tables/{table}.csv")) >= 1, table
    for figure in ("figure2", "figure7"):
        assert (results / f"figures/{figure}.png").stat().st_size > 1000, figure

    metrics = pd.read_csv(results / "metrics.csv")
    assert metrics.run.nunique() == 16  # 15 of the paper's studies and the shift control at r = 12
    assert not list(results.glob("runs/*/seed*/checkpoint.pt"))

    # A second invocation has nothing to do: every output is up to date.
    again = snakemake([*tiny_run.args, "-n"], tiny_run.path)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "names, models",
    [
        (("common", "high"), 3),  # vanilla and Table 1's LFC(4)/HFC(4)-trained models
        (("common", "rgb", "conflict"), 3),  # the same at 32x32 RGB, r0 = 12
        (("common", "none"), 1),  # the negative control: the vanilla model only
    ],
)
def test_dry_run_instrument_configs(tmp_path, repo_root, names, models):
    configs = [str(repo_root / f"configs/instrument/{name}.yaml") for name in names]
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfiles", *configs], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 3 * models and counts["instrument"] == 1 and counts["frequency_response"] == 3 * models
    assert "results/data/planted/canonical.pt" in result.stdout + result.stderr


def test_expected_table1_protocol_claims_need_r0_trained(tmp_path, repo_root):
    # high.yaml expects Table 1's protocol claims at r0 = 4; a config training Table 1 at 8 only
    # would leave them "not evaluated" after every model was trained: refused before any job.
    (tmp_path / "bad.yaml").write_text("studies:\n  table1: [8]\n")
    configs = [str(repo_root / f"configs/instrument/{name}.yaml") for name in ("common", "high")] + ["bad.yaml"]
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfiles", *configs], tmp_path)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "claims.expected_supported" in out and "studies.table1 trains radii [8]" in out
    assert "without dataset.planted.radius 4" in out


def test_planted_radius_must_be_among_the_radii(tmp_path, repo_root):
    # (studies.table1 moved along: its [4] outside frequency.radii would be refused first)
    (tmp_path / "bad.yaml").write_text("frequency:\n  radii: [2, 6]\nstudies:\n  table1: [2]\n")
    configs = [str(repo_root / "configs/instrument/common.yaml"), "bad.yaml"]
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfiles", *configs], tmp_path)
    assert result.returncode != 0
    assert "dataset.planted.radius 4 is not in frequency.radii [2, 6]" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "name, trainings, tables",
    [
        ("cifar10-proxy", 11 * 3, {"table1", "table2"}),  # 8 Table 1 runs, natural, shuffled, adversarial; 3 seeds
        ("cifar10-check", 8 * 3, {"table1"}),  # CI's real-image check: Table 1 alone
    ],
)
def test_dry_run_cifar10_configs(tmp_path, repo_root, name, trainings, tables):
    # Both configs read the CIFAR-10 JPEG subset unpacked into the run folder: a stand-in there
    # as large as the configs' evaluation and attack subsets (checked at parse time).
    fakedata.write_imagefolder(tmp_path / "cifar10-jpeg", classes=tuple(fakedata.CIFAR10_CLASSES),
                               n_train=25, n_test=50, size=(32, 32))  # fmt: skip
    config = str(repo_root / f"configs/{name}.yaml")
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", config], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == trainings and "claims" in counts
    assert {t for t in ("table1", "table2") if counts.get(t) == 1} == tables


@pytest.mark.parametrize(
    "name, trainings",
    [
        # every study of the default (28 runs per seed) and 4 shift-control runs, 3 seeds
        ("every-study-fashion", 32 * 3),
        ("every-study-cifar10", 32 * 3),
    ],
)
def test_dry_run_every_study_configs(tmp_path, repo_root, name, trainings):
    """Issue 17's documentation runs: every study, three seeds; no claim left without its study."""
    if "cifar10" in name:
        fakedata.write_imagefolder(tmp_path / "cifar10-jpeg", classes=tuple(fakedata.CIFAR10_CLASSES),
                                   n_train=400, n_test=50, size=(32, 32))  # fmt: skip
    config = repo_root / f"configs/{name}.yaml"
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == trainings and counts["table1"] == 1 and counts["table2"] == 1
    studies = yaml.safe_load(config.read_text())["studies"]
    assert all(studies[s] for s in ("table1", "shift_control", "figure3", "heuristics", "batch_size",
                                    "architecture", "optimizer", "batchnorm_lfc", "adversarial"))  # fmt: skip


@pytest.mark.parametrize(
    "overlay, message",
    [
        ("claims: {expected_supported: [table1.hfc_generalises_within_band.r12]}\nfrequency: {radii: [4, 8]}\n"
         "robustness: {figure2_radius: 8}\n",
         "claims.expected_supported lists table1.hfc_generalises_within_band.r12, but studies.table1 trains no model at r=12"),
        ("studies: {shift_control: [4, 12]}\nfrequency: {radii: [4, 8]}\n",
         "studies.shift_control: radius [12] not in frequency.radii [4, 8]"),
    ],
)
def test_within_band_and_shift_control_mistakes_are_refused_at_parse_time(tmp_path, repo_root, overlay, message):
    # One case per check (hfc.claims.check_expected_radii, hfc.grid.study_radii via hfc.config); their
    # other refusals are unit-tested in tests/test_within_band.py.
    config = tmp_path / "bad.yaml"
    config.write_text(overlay)
    result = snakemake(["-n", "-s", str(repo_root / "Snakefile"), "--configfile", str(config)], tmp_path)
    assert result.returncode != 0 and message in result.stdout + result.stderr, (result.stdout + result.stderr)[-2000:]


def run_cifar10_check(tmp_path, repo_root, tarball):
    """tools/cifar10_check.sh with snakemake and python replaced by `false` (only its unpacking runs)."""
    env = {**os.environ, "CIFAR10_TAR": str(tarball), "SNAKEMAKE": "false", "PYTHON": "false"}
    return subprocess.run(["bash", str(repo_root / "tools/cifar10_check.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env)  # fmt: skip


def test_cifar10_check_is_skipped_with_a_message_without_the_subset(tmp_path, repo_root):
    result = run_cifar10_check(tmp_path, repo_root, tmp_path / "absent.tar")
    assert result.returncode == 0, result.stderr
    assert "SKIPPED" in result.stdout and str(tmp_path / "absent.tar") in result.stdout
    assert not (tmp_path / "out").exists()


def test_cifar10_check_refuses_a_tar_without_the_subset_layout(tmp_path, repo_root):
    import tarfile

    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("not images")
    with tarfile.open(tmp_path / "wrong.tar", "w") as tar:
        tar.add(tmp_path / "stuff", arcname="stuff")
    result = run_cifar10_check(tmp_path, repo_root, tmp_path / "wrong.tar")
    assert result.returncode == 2 and "did not unpack into cifar10-jpeg/train" in result.stderr


@pytest.mark.slow
def test_planted_data_are_regenerated_when_their_settings_change(tmp_path, repo_root):
    # A planted dataset has no files: its settings (and the generator's code) are the params of
    # prepare_dataset, so changing one reruns it.
    def config(seed):
        path = tmp_path / f"planted{seed}.yaml"
        path.write_text(f"dataset:\n  planted:\n    train_size: 500\n    test_size: 500\n    seed: {seed}\n")
        return [str(repo_root / "configs/instrument/common.yaml"), str(path)]

    target = "results/data/planted/canonical.pt"
    first = snakemake(["--cores", "1", target, "-s", str(repo_root / "Snakefile"), "--configfiles", *config(0)], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    same = snakemake(["-n", target, "-s", str(repo_root / "Snakefile"), "--configfiles", *config(0)], tmp_path)
    assert "Nothing to be done" in same.stdout + same.stderr
    changed = snakemake(["-n", target, "-s", str(repo_root / "Snakefile"), "--configfiles", *config(1)], tmp_path)
    output = changed.stdout + changed.stderr
    assert changed.returncode == 0 and "rule prepare_dataset" in output and "params" in output.lower()


def test_cifar10_check_refuses_a_cut_or_foreign_tar_and_leaves_no_half_folder(tmp_path, repo_root):
    import tarfile

    fakedata.write_imagefolder(tmp_path / "cifar10-jpeg", classes=("a", "b"), n_train=20, n_test=10, size=(8, 8))
    for png in (tmp_path / "cifar10-jpeg").rglob("*.png"):
        png.rename(png.with_suffix(".jpg"))  # the script counts the subset's .jpg files
    with tarfile.open(tmp_path / "good.tar", "w") as tar:
        tar.add(tmp_path / "cifar10-jpeg", arcname="cifar10-jpeg")
        members = [m for m in tar.getmembers() if m.isfile()]
    data = (tmp_path / "good.tar").read_bytes()
    inside = members[len(members) // 2].offset_data + 10
    # cut inside a member or at a header: tar fails; a whole tar of another size: the count fails
    for cut, message in (
        (inside, "could not be unpacked"),
        (members[len(members) // 2].offset, "could not be unpacked"),
        (len(data), "holds 40 train / 20 test images; the CIFAR-10 JPEG subset has 5000 / 1000"),
    ):
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        result = run_cifar10_check(tmp_path, repo_root, tmp_path / "cut.tar")
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert list((tmp_path / "out").iterdir()) == []


def test_an_unwritable_results_folder_is_named_before_any_job(tmp_path, monkeypatch):
    # A unit test of the parse-time check in rules/common.smk (the tests may run as root, whom
    # permissions do not stop: os.access is made to deny the folders a user could not write).
    from hfc.files import unwritable_folders

    assert unwritable_folders(tmp_path / "results") is None  # not there yet, creatable
    (tmp_path / "results").write_text("")
    assert f"{tmp_path / 'results'} is a file, not a folder: move it away" in unwritable_folders(tmp_path / "results")
    (tmp_path / "results").unlink()
    locked = tmp_path / "results" / "runs" / "a"
    locked.mkdir(parents=True)
    (tmp_path / "results" / "data").mkdir()
    assert unwritable_folders(tmp_path / "results") is None
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    message = unwritable_folders(tmp_path / "results")
    assert message.startswith(f"no write permission in {locked}: make them writable (chmod -R u+w {tmp_path / 'results'})")
    assert "snakemake --directory" in message
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path and real_access(path, mode))
    assert f"cannot be created, as {tmp_path} is not writable" in unwritable_folders(tmp_path / "fresh" / "results")
