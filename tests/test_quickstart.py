"""quickstart.sh refuses an unusable machine with a message saying what to install.

Shims early on PATH stand in for an old Python, a Python without its venv module and a user
who is not root; the script must stop before it creates or installs anything.
"""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def quickstart(repo_root: Path, shims: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}", "HFC_VENV": str(tmp_path / "venv")}
    return subprocess.run(["bash", str(repo_root / "quickstart.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("mode", ["run", "test"])
def test_old_python_is_refused_with_the_version_found(repo_root, tmp_path, mode):
    shims = tmp_path / "bin"
    shims.mkdir()
    shim(shims, "python3", 'if [ "$1" = --version ]; then echo "Python 3.9.2"; exit 0; fi\nexit 1')
    result = quickstart(repo_root, shims, tmp_path, mode)
    assert result.returncode == 1
    assert "error: Python >= 3.11 is needed, found Python 3.9.2" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_missing_venv_module_without_root_names_the_package(repo_root, tmp_path):
    shims = tmp_path / "bin"
    shims.mkdir()
    # A real Python >= 3.11 whose ensurepip/venv import fails, as on Debian without python3-venv.
    shim(shims, "python3", f'case "$*" in *ensurepip*) exit 1;; esac\nexec "{sys.executable}" "$@"')
    shim(shims, "id", f'if [ "$1" = -u ]; then echo 1000; else exec "{shutil.which("id")}" "$@"; fi')
    result = quickstart(repo_root, shims, tmp_path)
    assert result.returncode == 1
    assert "venv module is missing: install python3-venv (as root: apt-get install python3-venv)" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_run_checks_the_configfiles_before_snakemake_reads_them(repo_root, tmp_path):
    import hashlib

    # An installed venv (its stamp matches): python is the test's own, snakemake a shim that says it ran.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    shim(venv / "bin", "python", f'exec "{sys.executable}" "$@"')
    shim(venv / "bin", "snakemake", 'echo "snakemake ran with $*"')
    digest = hashlib.sha256((repo_root / "pyproject.toml").read_bytes() + (repo_root / "constraints.txt").read_bytes())
    (venv / f".hfc-installed-{digest.hexdigest()[:16]}").touch()
    shims = tmp_path / "bin"
    shims.mkdir()
    shim(shims, "id", f'if [ "$1" = -u ]; then echo 1000; else exec "{shutil.which("id")}" "$@"; fi')
    broken = tmp_path / "broken.yaml"
    broken.write_text("training:\n  epochs: 3\n   lr: [1\n")
    result = quickstart(repo_root, shims, tmp_path, "run", "-n", "--configfile", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"config file {broken}: YAML syntax error at line 3, column 6" in result.stderr
    assert "snakemake ran" not in result.stdout
    good = tmp_path / "good.yaml"
    good.write_text("training: {epochs: 2}\n")
    result = quickstart(repo_root, shims, tmp_path, "run", f"--configfile={good}", "-n")
    assert result.returncode == 0 and f"snakemake ran with --cores all --configfile={good} -n" in result.stdout


@pytest.mark.parametrize(
    "env, args, expected",
    [
        ({"HFC_TEST_WORKERS": "2"}, ["-q"], "pytest -n 2 --dist loadgroup -q"),
        ({"HFC_TEST_WORKERS": "1"}, ["-q"], "pytest -q"),  # one worker: no xdist at all
        ({"HFC_TEST_WORKERS": "2"}, ["-n", "0", "-q"], "pytest -n 0 -q"),  # the user's -n wins
        ({"HFC_TEST_WORKERS": "3"}, ["--numprocesses=4"], "pytest --numprocesses=4"),
    ],
)
def test_test_mode_runs_pytest_on_the_workers_asked_for(repo_root, tmp_path, env, args, expected):
    import hashlib

    # An installed venv with the test extras (its stamp matches); its python only says how it was called.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    shim(venv / "bin", "python", 'shift 2; echo "pytest $*"')  # drops "-m pytest"'s two words
    digest = hashlib.sha256((repo_root / "pyproject.toml").read_bytes() + (repo_root / "constraints.txt").read_bytes())
    (venv / f".hfc-installedtest,detection-{digest.hexdigest()[:16]}").touch()
    shims = tmp_path / "bin"
    shims.mkdir()
    result = subprocess.run(["bash", str(repo_root / "quickstart.sh"), "test", *args],
                            env={**os.environ, **env, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
                                 "HFC_VENV": str(venv)}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing" not in result.stdout, result.stdout  # the stamp matched: straight to pytest
    assert result.stdout.strip().splitlines()[-1] == expected
