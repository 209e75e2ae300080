"""`.ci/run`'s stage timer (tools/ci_stages.py): its table, its warnings, and the README's figures."""

import re
import subprocess
import sys

import pytest

from tools import ci_stages

README = """intro
<!-- ci-stage-times: begin -->
| `.ci/run` stage | measured |
|---|---|
| test suite | 9 min 30 s |
| CI config | 45 s |
<!-- ci-stage-times: end -->
"""


@pytest.mark.parametrize("text, seconds", [("9 min 30 s", 570), ("45 s", 45), ("12 min", 720), ("soon", None), ("", None)])
def test_durations_are_read_as_written_in_the_readme(text, seconds):
    assert ci_stages.parse_duration(text) == seconds


def test_a_stage_over_its_factor_warns_and_one_within_does_not():
    figures = ci_stages.readme_figures(README)
    assert figures == {"test suite": 570, "CI config": 45}
    table, warnings = ci_stages.report([("test suite", 850, "passed"), ("CI config", 67, "passed")], figures, 1.5)
    assert warnings == []  # 850 s < 1.5 × 570 s, 67 s < 1.5 × 45 s
    assert "9 min 30 s" in table and "14 min 10 s" in table
    table, warnings = ci_stages.report([("test suite", 856, "passed"), ("CI config", 68, "FAILED (1)")], figures, 1.5)
    assert len(warnings) == 2 and "stage 'test suite' took 14 min 16 s" in warnings[0]
    assert "FAILED (1)" in table and "total" in table


def test_a_stage_without_a_figure_is_shown_not_warned():
    table, warnings = ci_stages.report([("new stage", 10, "passed")], {"test suite": 570}, 1.5)
    assert warnings == [] and "no README figure" in table


def test_a_readme_without_the_table_is_named():
    with pytest.raises(ValueError, match="ci-stage-times: begin"):
        ci_stages.readme_figures("no table here")


def test_the_report_command_prints_the_table_and_warnings(tmp_path, repo_root):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "times").write_text("test suite\t1000\tpassed\n")
    result = subprocess.run([sys.executable, str(repo_root / "tools/ci_stages.py"), "report", str(tmp_path / "times"),
                             "--readme", str(tmp_path / "README.md")], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and "WARNING: stage 'test suite' took 16 min 40 s" in result.stdout


def test_every_ci_stage_has_a_figure_in_the_readme(repo_root):
    stages = re.findall(r'^stage "([^"]+)"', (repo_root / ".ci/run").read_text(), flags=re.M)
    assert len(stages) >= 5
    figures = ci_stages.readme_figures((repo_root / "README.md").read_text())
    assert set(stages) <= set(figures), f"README lacks figures for {set(stages) - set(figures)}"
