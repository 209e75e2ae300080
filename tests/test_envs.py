"""envs/*.yaml (conda, for --software-deployment-method conda) agree with pyproject.toml."""

import re
import tomllib

import yaml

# Dependencies of the package that are not needed inside the rules' environment.
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}


def requirement_map(requirements):
    parsed = {}
    for requirement in requirements:
        name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", requirement.strip()).groups()
        parsed[name.lower()] = spec.replace(" ", "")
    return parsed


def test_env_files_match_pyproject(repo_root):
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    wanted = {k: v for k, v in requirement_map(pyproject["project"]["dependencies"]).items() if k not in WORKFLOW_ONLY}
    env_files = sorted((repo_root / "envs").glob("*.yaml"))
    assert env_files
    for path in env_files:
        env = yaml.safe_load(path.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        assert requirement_map(pip) == wanted, path.name


def test_every_rule_uses_an_existing_env_file(repo_root):
    for smk in (repo_root / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), (smk.name, env)
