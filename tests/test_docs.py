"""The front door (issue 18): README and docs/ links and paths, the pictures' command, the CI
workflow users can copy, and `bash quickstart.sh help`.

- every relative link (and #anchor) in README.md and docs/*.md points at something that exists,
  and every repository path they name exists;
- tools/docs_figures.py draws the docs' pictures from a small constructed results folder;
- .github/workflows/reproduce.yml is valid against GitHub's workflow schema (check-jsonschema's
  vendored copy, offline) and runs what the README and .ci/run say;
- `bash quickstart.sh help` and an unknown first word print the usage, installing nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
WORKFLOW = ROOT / ".github" / "workflows" / "reproduce.yml"
QUICK_START = ("bash quickstart.sh", "bash quickstart.sh test")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# Repository paths as the docs write them: from a top-level folder, or a root file.
TOP = r"(?:hfc|rules|workflow_scripts|configs|tests|benchmarks|docs|tools|profiles|envs|report|\.ci|\.github)"
REPO_PATH = re.compile(rf"(?<![\w./<>-])({TOP}/[\w./-]*|Snakefile|config\.yaml|quickstart\.sh|pyproject\.toml"
                       rf"|constraints\.txt)(?![\w<{{*])")  # fmt: skip


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_exists(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_named_exists(page):
    missing = set()
    for match in REPO_PATH.finditer(page.read_text()):
        path = match.group(1).rstrip(".,;:")
        if not (ROOT / path).exists():
            missing.add(path)
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {sorted(missing)}"


def test_path_pattern_finds_what_the_docs_name():
    found = {m.group(1) for m in REPO_PATH.finditer("see `hfc/train.py`, `configs/ci.yaml` and `config.yaml`; "
                                                    "not `results/x.csv`, `envs/*.yaml` or `configs/<mode>.yaml`")}  # fmt: skip
    assert found == {"hfc/train.py", "configs/ci.yaml", "config.yaml"}
    assert _slug("## CIFAR-10 at the largest CPU scale (issue 11)".lstrip("# ")) == "cifar-10-at-the-largest-cpu-scale-issue-11"
    assert _slug("`dataset`") == "dataset"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_docs_page_starts_with_what_it_is_for(page):
    lines = [line for line in page.read_text().splitlines() if line.strip()]
    assert lines[0].startswith("# "), f"{page.name} starts without a title"
    assert "What this page is for" in "\n".join(lines[1:3]), f"{page.name}: say what the page is for under its title"


def test_readme_is_the_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 160, "README.md is meant to be read in five minutes (about 150 lines)"
    for command in QUICK_START:
        assert re.search(rf"^{re.escape(command)}\s+#", text, flags=re.M), f"the quick start lost `{command}`"
    assert "docs/claims.md" in text
    pictures = re.findall(r"!\[[^\]]*\]\((docs/img/[\w.-]+\.png)\)", text)
    assert pictures, "the README shows a picture of a real result"
    assert "tools/docs_figures.py" in text, "the README says which command drew its picture"
    assert ".github/workflows/reproduce.yml" in text and "runner minutes" in text
    assert re.search(r"@inproceedings\{", text), "the README says how to cite the paper"
    for page in ("configuration", "running", "scaling", "results", "beyond", "benchmarks", "claims", "slurm",
                 "detection", "architectures", "ci"):  # fmt: skip
        assert f"docs/{page}.md" in text, f"the README links docs/{page}.md"


def test_every_committed_picture_is_drawn_by_the_documented_command():
    pictures = sorted(p.name for p in (ROOT / "docs" / "img").glob("*.png"))
    assert pictures, "docs/img/ holds the README's and the docs' pictures"
    sources = (ROOT / "docs" / "img" / "SOURCES.txt").read_text()
    for name in pictures:
        block = sources.split(f"## {name}\n", 1)
        assert len(block) == 2, f"docs/img/SOURCES.txt does not say how {name} was made"
        assert block[1].startswith("command: python tools/docs_figures.py ")
        assert (ROOT / "docs" / "img" / name).stat().st_size < 200_000, f"{name} is not a small PNG"
    used = "".join(page.read_text() for page in PAGES)
    unused = [name for name in pictures if f"img/{name}" not in used]
    assert not unused, f"pictures no page shows: {unused}"


# ---------------------------------------------------------------- tools/docs_figures.py


def _constructed_results(root: Path, seeds: int = 3) -> Path:
    """A results folder as a finished run leaves it, with only the files the pictures read."""
    from hfc import fourier_heatmap, paper

    results = root / "results"
    (results / "tables").mkdir(parents=True)
    ref = paper.table1_frame().rename(columns={"train_acc": "paper_train_acc", "test_acc": "paper_test_acc"})
    ours = ref.assign(train_acc=0.9, test_acc=ref["band"].map({"low": 0.5, "high": 0.12}),
                      train_acc_ci95=0.01, test_acc_ci95=0.02, n_seeds=seeds)  # fmt: skip
    ours[["radius", "band", "train_acc", "test_acc", "paper_train_acc", "paper_test_acc", "train_acc_ci95",
          "test_acc_ci95", "n_seeds"]].to_csv(results / "tables" / "table1.csv", index=False)  # fmt: skip
    (results / "tables" / "table1.md").write_text(
        "**Table 1.** ...\n\nOurs: imagefolder, small_cnn, 3 epochs. Paper: CIFAR-10 / ResNet-18, 100 epochs.\n"
    )
    freqs = fourier_heatmap.half_spectrum(8, 8)
    rows = []
    for model, label in (("vanilla", "M_natural"), ("heuristic-adversarial", "M_adversarial")):
        frame = pd.DataFrame({"model": model, "seed": 0, "fy": [f[0] for f in freqs], "fx": [f[1] for f in freqs],
                              "eps": 4.0, "error": np.linspace(0.1, 0.4, len(freqs)), "clean_error": 0.1, "n": 50,
                              "height": 8, "width": 8})  # fmt: skip
        path = results / "runs" / model / "seed0" / "fourier_heatmap.csv"
        path.parent.mkdir(parents=True)
        frame.to_csv(path, index=False)
        (path.parent / "run.json").write_text(json.dumps({"dataset": {"name": "fashion_mnist", "train_size": 4000},
                                                          "spec": {"model": "small_cnn", "epochs": 3}}))  # fmt: skip
        rows.append({"model": model, "label": label, "seed": 0, "eps": 4.0})
    pd.DataFrame(rows).to_csv(results / "tables" / "fourier_heatmap_adversarial.csv", index=False)
    return results


@pytest.fixture(scope="module")
def docs_figures():
    """tools/docs_figures.py as a module: main(argv) in this process (torch is imported once)."""
    spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "tools" / "docs_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_figures_draws_both_pictures_from_a_results_folder(tmp_path, docs_figures):
    _constructed_results(tmp_path / "run")
    out = tmp_path / "img"
    # The run folder or its results/ folder are both accepted.
    argv = ["--table1", str(tmp_path / "run"), "--heatmap", str(tmp_path / "run" / "results"), "--out", str(out)]
    assert docs_figures.main(argv) == 0
    from PIL import Image

    for name in ("table1.png", "fourier_heatmaps.png"):
        image = Image.open(out / name)
        assert image.format == "PNG" and image.width <= 1000 and image.height <= 600
        assert image.info["Description"].startswith("python tools/docs_figures.py --table1 ")
        assert "sha256=" in image.info["Source"]
    assert docs_figures._run_caption(tmp_path / "run" / "results" / "runs" / "vanilla" / "seed0" / "run.json") == (
        "fashion_mnist, small_cnn, 3 epochs, 4,000 training images")
    sources = (out / "SOURCES.txt").read_text()
    assert "## table1.png\ncommand: python tools/docs_figures.py --table1" in sources
    assert "tables/table1.csv  sha256 " in sources
    assert "runs/heuristic-adversarial/seed0/fourier_heatmap.csv" in sources

    # Redrawing one picture keeps the other's entry.
    assert docs_figures.main(["--table1", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert "## fourier_heatmaps.png" in (out / "SOURCES.txt").read_text()


def test_docs_figures_names_the_missing_file(tmp_path, docs_figures, capsys):
    results = _constructed_results(tmp_path / "run")
    (results / "runs" / "vanilla" / "seed0" / "fourier_heatmap.csv").unlink()
    assert docs_figures.main(["--heatmap", str(results), "--out", str(tmp_path / "img")]) == 2
    assert "runs/vanilla/seed0/fourier_heatmap.csv is missing" in capsys.readouterr().err
    assert docs_figures.main(["--table1", str(tmp_path), "--out", str(tmp_path / "img")]) == 2
    assert "is not a finished run's results folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # nothing to draw
        docs_figures.main(["--out", str(tmp_path / "img")])
    assert usage.value.code == 2
    assert not (tmp_path / "img").exists()


# ---------------------------------------------------------------- .github/workflows/reproduce.yml


def test_workflow_is_valid_against_githubs_schema():
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is missing: it validates the GitHub workflow offline. Install the test extra "
                    "(bash quickstart.sh test installs it; or pip install -e '.[test]')")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             str(WORKFLOW)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is missing (the test extra)")
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["tests"]["runs-on"] = {"unexpected": ["mapping"]}
    del broken["jobs"]["claims"]["steps"]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             str(path)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_runs_the_readme_test_command_and_the_ci_claim_check():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert all(job["runs-on"].startswith("ubuntu-") for job in jobs.values())
    assert re.search(r"^bash quickstart\.sh test\b", _runs(jobs["tests"]), flags=re.M)
    claims = _runs(jobs["claims"])
    # The same CI config and claim check as this project's own CI (.ci/run), in the same folder.
    for line in ("--directory ci-run --configfile configs/ci.yaml",
                 "tools/check_claims.py --claims ci-run/results/report/claims.csv --config configs/ci.yaml"):  # fmt: skip
        assert line in ci_run and line in claims
    assert "--report" in claims
    for job in jobs.values():
        uses = [step.get("uses", "") for step in job["steps"]]
        assert any(u.startswith("actions/cache@") for u in uses), "the venv is cached"
        setup = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
        assert setup["with"]["cache"] == "pip", "pip's downloads are cached"
        cache = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/cache@"))
        assert cache["with"]["path"] == ".venv" and "hashFiles('pyproject.toml', 'constraints.txt')" in cache["with"]["key"]
    keys = {next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@"))["with"]["key"]
            for job in jobs.values()}  # fmt: skip
    assert len(keys) == 1, "both jobs share one cached venv (the Actions cache holds 10 GB)"
    assert re.search(r"^bash quickstart\.sh test\b", claims, flags=re.M), "installed as the tests job installs"
    upload = next(step for step in jobs["claims"]["steps"] if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert "ci-run/results/report/" in upload["with"]["path"] and "ci-run/results/report.html" in upload["with"]["path"]
    assert upload["if"] == "${{ !cancelled() }}", "the report is uploaded when the claim check fails too"


# ---------------------------------------------------------------- bash quickstart.sh help


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("word", ["help", "-h", "--help", "frobnicate"])
def test_quickstart_help_prints_the_commands_and_installs_nothing(tmp_path, word):
    env = {**os.environ, "HFC_VENV": str(tmp_path / "venv")}
    result = subprocess.run(["bash", str(ROOT / "quickstart.sh"), word], env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    usage = result.stdout if word != "frobnicate" else result.stderr
    assert result.returncode == (2 if word == "frobnicate" else 0)
    if word == "frobnicate":
        assert usage.startswith("error: unknown command 'frobnicate'\n")
    lines = usage.strip().splitlines()
    assert len(lines) <= 14, "a dozen lines"
    for needle in ("usage: bash quickstart.sh", "run (default)", "test ", "help ", "run -n", "--configfile",
                   "--config ", "--unlock", 'test -m "not slow"', "HFC_VENV", "HFC_CORES"):  # fmt: skip
        assert needle in usage, f"the help does not mention {needle!r}"
    assert not (tmp_path / "venv").exists()
