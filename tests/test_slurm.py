"""SLURM execution: the workflow profile, and real runs on a SLURM cluster.

The tests marked ``slurm`` need a cluster that answers ``sinfo`` and ``sacct``; on a
workstation start the single-node test cluster with ``sudo tools/slurm/install.sh &&
sudo tools/slurm/start.sh``. Without one they are skipped, unless HFC_REQUIRE_SLURM=1
(as in CI), where a missing cluster is a failure. Jobs go to the cluster's default
partition, or to HFC_SLURM_PARTITION; HFC_SLURM_ACCOUNT sets an account where needed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests import fakedata

REPO = Path(__file__).resolve().parents[1]
SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
LOCAL_PROFILE = REPO / "profiles" / "local" / "config.yaml"
TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
GPU_RULES = ("train", "attack_eval", "attack_suite", "detection_infer")
# The test cluster has one 2-CPU node: under pytest-xdist one worker submits all its jobs.
pytestmark = pytest.mark.xdist_group("slurm")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _cluster_problem() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one answers."""
    for tool in ("sinfo", "sbatch", "sacct"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (tools/slurm/install.sh installs SLURM)"
    for cmd in (["sinfo", "-h", "-o", "%P %a"], ["sacct", "-n", "-X", "-S", "now-1hours"]):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            return f"'{' '.join(cmd)}' did not answer within 20 s (is tools/slurm/start.sh running?)"
        if proc.returncode != 0:
            return f"'{' '.join(cmd)}' failed: {proc.stderr.strip()[:300]} (start tools/slurm/start.sh)"
        if cmd[0] == "sinfo" and not proc.stdout.strip():
            return "sinfo lists no partition"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    problem = _cluster_problem()
    if problem is not None:
        message = f"no SLURM cluster: {problem}"
        if os.environ.get("HFC_REQUIRE_SLURM") == "1":
            pytest.fail(message + " [HFC_REQUIRE_SLURM=1]", pytrace=False)
        pytest.skip(message)


def _partition() -> str:
    """HFC_SLURM_PARTITION, else the cluster's default partition (marked '*' by sinfo)."""
    if os.environ.get("HFC_SLURM_PARTITION"):
        return os.environ["HFC_SLURM_PARTITION"]
    names = subprocess.run(
        ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True, timeout=20
    ).stdout.split()
    default = [n.rstrip("*") for n in names if n.endswith("*")]
    return default[0] if default else names[0]


def _slurm_resources() -> list[str]:
    """--default-resources entries that route jobs to the test partition (and account)."""
    entries = [f"slurm_partition={_partition()!r}"]
    if os.environ.get("HFC_SLURM_ACCOUNT"):
        entries.append(f"slurm_account={os.environ['HFC_SLURM_ACCOUNT']!r}")
    return entries


def _snakemake(args: list[str], cwd: Path, timeout_s: int) -> subprocess.CompletedProcess:
    """Run Snakemake with this interpreter; SIGINT on timeout so it cancels its SLURM jobs.

    SLURM jobs run `python -m snakemake` with the same interpreter path, so sys.executable
    must be the environment that has Snakemake and the project installed.
    """
    cmd = ["timeout", "-s", "INT", str(timeout_s), sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s + 60)
    log = proc.stdout + proc.stderr
    if proc.returncode == 124:
        pytest.fail(f"snakemake ran past {timeout_s} s and was interrupted:\n{log[-6000:]}")
    assert proc.returncode == 0, (
        f"snakemake failed (exit {proc.returncode}):\n{log[-6000:]}{_slurm_log_tails(cwd)}"
    )
    return proc


def _slurm_log_tails(root: Path) -> str:
    """The end of every SLURM job log below `root` (failed jobs keep theirs)."""
    parts = []
    for path in sorted(root.rglob("slurm_logs/**/*.log")):
        lines = path.read_text(errors="replace").splitlines()
        parts.append(f"\n----- {path} -----\n" + "\n".join(lines[-40:]))
    return "".join(parts)


def _run_id(log: str) -> str:
    match = re.search(r"SLURM run ID: (\S+)", log)
    assert match, f"no 'SLURM run ID' in the Snakemake log, so the slurm executor did not run:\n{log[-3000:]}"
    return match.group(1)


def _sacct_jobs(run_id: str, since: str, expected: int) -> list[dict[str, str]]:
    """The run's jobs as sacct reports them; waits until `expected` have reached a final state.

    slurmctld hands finished jobs to slurmdbd asynchronously, so they appear with a delay.
    """
    fields = ["JobID", "JobName", "Comment", "State", "WorkDir", "AllocTRES", "Timelimit"]
    cmd = ["sacct", "-a", "-X", "-n", "-P", "-S", since, "--name", run_id, "-o", ",".join(fields)]
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=30).stdout
        jobs = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]
        final = [j for j in jobs if j["State"] not in ("PENDING", "RUNNING", "COMPLETING")]
        if len(final) >= expected or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def _comment_rule(comment: str) -> str:
    """Rule name from the plugin's --comment ('rule_<name>' or 'rule_<name>_wildcards_<w>')."""
    assert comment.startswith("rule_"), f"unexpected job comment {comment!r}"
    return comment[len("rule_") :].split("_wildcards_")[0]


def _executed_rules(log: str) -> tuple[Counter, Counter]:
    """(rules Snakemake handed to the executor, rules it ran itself) with job counts."""
    remote = Counter(re.findall(r"^rule (\w+):$", log, flags=re.M))
    local = Counter(re.findall(r"^localrule (\w+):$", log, flags=re.M))
    return remote, local


def _now() -> str:
    # A minute of slack for clock granularity between this host and slurmdbd.
    return (dt.datetime.now() - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")


def _profile_copy(dest: Path, partition: str, account: str | None = None) -> Path:
    """profiles/slurm with every slurm_partition pointed at `partition`, otherwise as shipped."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    sections = [profile["default-resources"], *profile["set-resources"].values()]
    replaced = 0
    for resources in sections:
        if "slurm_partition" in resources:
            resources["slurm_partition"] = repr(partition)
            replaced += 1
        if account:
            resources["slurm_account"] = repr(account)
    assert replaced, "profiles/slurm/config.yaml sets no slurm_partition"
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


# --------------------------------------------------------------------------------------
# the profiles (no cluster needed)
# --------------------------------------------------------------------------------------


def _parsed_profile(path: Path) -> dict:
    """The profile as Snakemake itself turns it into command-line arguments."""
    from snakemake.profiles import ProfileConfigFileParser

    with path.open() as stream:
        return ProfileConfigFileParser().parse(stream)


def _evaluate(resource, attempt: int):
    return resource.evaluate(
        wildcards={}, input=[], attempt=attempt, threads=1, rulename="x", async_run=None
    ).value


def test_slurm_profile_requests_gpus_and_grows_runtime_per_attempt():
    from snakemake.cli import parse_set_resources
    from snakemake.resources import Resources

    parsed = _parsed_profile(SLURM_PROFILE)
    assert parsed["executor"] == "slurm"
    assert int(parsed["retries"]) >= 1, "without retries a TIMEOUT is final"

    defaults = Resources.parse(parsed["default-resources"], allow_expressions=True)
    assert isinstance(_evaluate(defaults["slurm_partition"], 1), str)
    assert _evaluate(defaults["runtime"], 2) > _evaluate(defaults["runtime"], 1) > 0

    per_rule = parse_set_resources(parsed["set-resources"])
    for rule in GPU_RULES:
        assert _evaluate(per_rule[rule]["gpu"], 1) == 1, f"{rule} must ask for one GPU"
        runtime = [_evaluate(per_rule[rule]["runtime"], a) for a in (1, 2, 3)]
        assert runtime[0] < runtime[1] < runtime[2], f"{rule} runtime must grow per attempt: {runtime}"
    cpu_rules = set(per_rule) - set(GPU_RULES)
    assert not any("gpu" in per_rule[r] for r in cpu_rules), "only GPU rules may request GPUs"


def test_slurm_profile_options_exist_in_installed_plugin():
    """Every slurm-* key must be an option of the installed executor plugin (typos are silent)."""
    from dataclasses import fields

    from snakemake_executor_plugin_slurm import ExecutorSettings

    options = {"slurm-" + f.name.replace("_", "-") for f in fields(ExecutorSettings)}
    text = SLURM_PROFILE.read_text()
    used = set(re.findall(r"^\s*#?\s*(slurm-[a-z-]+):", text, flags=re.M))
    assert used, "the profile sets no executor plugin option"
    assert used <= options, f"unknown plugin options: {sorted(used - options)}"


def test_local_profile_parses_for_local_execution():
    parsed = _parsed_profile(LOCAL_PROFILE)
    assert "executor" not in parsed
    assert parsed["keep-going"] == "False"
    assert parsed["cores"] == "all"


# --------------------------------------------------------------------------------------
# real runs on a SLURM cluster
# --------------------------------------------------------------------------------------

MINIMAL_SNAKEFILE = """
localrules: report

rule report:
    input: "made.txt"
    output: "report.txt"
    shell: "(cat {input}; echo reported-locally) > {output}"

rule make:
    output: "made.txt"
    resources: mem_mb=200, runtime=5
    shell: "echo job=$SLURM_JOB_ID partition=$SLURM_JOB_PARTITION > {output}"
"""


@pytest.mark.slurm
def test_minimal_workflow_runs_through_sbatch(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(MINIMAL_SNAKEFILE)
    since = _now()
    proc = _snakemake(
        [
            "--executor", "slurm",
            "--jobs", "2",
            "--default-resources", *_slurm_resources(),
            "--slurm-init-seconds-before-status-checks", "1",
            "--latency-wait", "10",
        ],
        cwd=tmp_path,
        timeout_s=300,
    )
    log = proc.stdout + proc.stderr
    jobs = _sacct_jobs(_run_id(log), since, expected=1)

    # Only the non-local rule went to SLURM, once, and completed there.
    assert [_comment_rule(j["Comment"]) for j in jobs] == ["make"], jobs
    (job,) = jobs
    assert job["State"] == "COMPLETED", job
    assert Path(job["WorkDir"]).resolve() == tmp_path.resolve()

    # The rule's shell ran inside that very SLURM job; the local rule ran here.
    made = (tmp_path / "made.txt").read_text().split()
    assert made == [f"job={job['JobID']}", f"partition={_partition()}"]
    assert (tmp_path / "report.txt").read_text().splitlines() == [
        " ".join(made),
        "reported-locally",
    ]


RETRY_SNAKEFILE = """
rule sleepy:
    output: "slept.txt"
    resources: mem_mb=200, runtime=lambda wc, attempt: attempt
    # The first attempt outlives its 1-minute limit; the retry finds the marker and ends.
    shell: "if [ -e first-attempt ]; then echo done > {output}; else touch first-attempt; sleep 600; fi"
"""
TIME_LIMIT_TEST = "test_job_killed_at_time_limit_is_resubmitted_with_more_time"
TIME_LIMIT_S = 420
WORKFLOW_TEST = "test_workflow_on_slurm"
WORKFLOW_S = 1200
WORKFLOW_TARGET = "results/tables/table1.csv"


# --------------------------------------------------------------------------------------
# the two long SLURM runs start with the test session (tests/conftest.py) and run in the
# background: they mostly wait (SLURM's one-minute limit, the plugin's status checks), so
# the other tests run meanwhile and the two tests below only collect them
# --------------------------------------------------------------------------------------


def _time_limit_args(folder: Path) -> list[str]:
    (folder / "Snakefile").write_text(RETRY_SNAKEFILE)
    return [
        "--executor", "slurm",
        "--jobs", "1",
        "--retries", "1",
        "--default-resources", *_slurm_resources(),
        "--slurm-init-seconds-before-status-checks", "1",
        "--latency-wait", "10",
    ]  # fmt: skip


def _workflow_args(folder: Path) -> list[str]:
    # tiny.yaml reads fake-data/ under the run directory: the same images as the shared run's
    fakedata.write_idx_dataset(folder / "slurm" / "fake-data" / "fashion_mnist", n_train=200, n_test=100, seed=0)
    profile = _profile_copy(folder / "profile", _partition(), os.environ.get("HFC_SLURM_ACCOUNT"))
    return [
        "--snakefile", str(REPO / "Snakefile"), "--configfile", str(TINY_CONFIG),
        "--directory", str(folder / "slurm"),
        "--workflow-profile", str(profile),
        # Fail fast in a test, and fit the 2-CPU test node; the rest is the profile.
        "--retries", "0",
        "--max-threads", "2",
        "--slurm-init-seconds-before-status-checks", "1",
        WORKFLOW_TARGET,
    ]  # fmt: skip


BACKGROUND = {TIME_LIMIT_TEST: (_time_limit_args, TIME_LIMIT_S), WORKFLOW_TEST: (_workflow_args, WORKFLOW_S)}


def _shared_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def start_background_runs(session, tmp_path_factory) -> None:
    """Start the Snakemake run of each selected test of BACKGROUND, once per test session (also
    across pytest-xdist workers: the first worker starts it, under a file lock). Nothing starts
    without a cluster: the tests then skip or fail through the slurm_cluster fixture."""
    from filelock import FileLock

    selected = {item.name for item in session.items} & set(BACKGROUND)
    if not selected or _cluster_problem() is not None:
        return
    shared = _shared_dir(tmp_path_factory)
    for test in sorted(selected):
        folder = shared / f"slurm-{test}"
        with FileLock(str(shared / f"slurm-{test}.lock")):
            if folder.exists():
                continue
            folder.mkdir()
            make_args, timeout_s = BACKGROUND[test]
            args = make_args(folder)
            (folder / "since").write_text(_now())
            command = " ".join(
                shlex.quote(a) for a in ["timeout", "-s", "INT", str(timeout_s), sys.executable, "-m", "snakemake", *args]
            )
            # The exit status lands in rc when Snakemake ends; Ctrl-C on pytest reaches it too
            # (same process group), so it cancels its SLURM jobs.
            subprocess.Popen(["bash", "-c", f"{command} > snakemake.out 2>&1; echo $? > rc"], cwd=folder)


def _collected(tmp_path_factory, test: str) -> tuple[Path, str, str]:
    """(folder, Snakemake's output, the sacct start time) of ``test``'s background run, once it ended."""
    folder = _shared_dir(tmp_path_factory) / f"slurm-{test}"
    assert folder.is_dir(), f"the background run of {test} was not started although a cluster answers"
    timeout_s = BACKGROUND[test][1]
    deadline = time.monotonic() + timeout_s + 120
    while not (folder / "rc").exists():
        assert time.monotonic() < deadline, f"the background run of {test} did not end in {timeout_s + 120} s"
        time.sleep(1)
    returncode = int((folder / "rc").read_text())
    log = (folder / "snakemake.out").read_text()
    if returncode == 124:
        pytest.fail(f"snakemake ran past {timeout_s} s and was interrupted:\n{log[-6000:]}")
    assert returncode == 0, f"snakemake failed (exit {returncode}):\n{log[-6000:]}{_slurm_log_tails(folder)}"
    return folder, log, (folder / "since").read_text()


@pytest.mark.slurm
@pytest.mark.slow
def test_workflow_on_slurm(slurm_cluster, tmp_path_factory, request):
    """The real workflow through profiles/slurm gives the same Table 1 as a local run (the
    session's shared run of tiny.yaml, conftest.tiny_run: its external model changes no table).
    Its run started with the session (start_background_runs); this test collects it."""
    folder, log, since = _collected(tmp_path_factory, WORKFLOW_TEST)
    on_slurm = folder / "slurm"
    remote, local = _executed_rules(log)
    assert remote["train"] >= 1, f"no train job went to SLURM:\n{log[-3000:]}"

    jobs = _sacct_jobs(_run_id(log), since, expected=sum(remote.values()))
    submitted = Counter(_comment_rule(j["Comment"]) for j in jobs)
    assert submitted == remote, f"sbatch jobs {dict(submitted)} != non-local jobs {dict(remote)}"
    assert not set(submitted) & set(local), "a localrule went to SLURM"
    assert all(j["State"] == "COMPLETED" for j in jobs), jobs
    assert all(Path(j["WorkDir"]).resolve() == on_slurm.resolve() for j in jobs), jobs
    for job in jobs:
        if _comment_rule(job["Comment"]) in GPU_RULES:
            assert "gres/gpu=1" in job["AllocTRES"], f"GPU rule ran without a GPU: {job}"

    tiny_run = request.getfixturevalue("tiny_run")
    assert tiny_run.returncode == 0, tiny_run.stderr
    pd.testing.assert_frame_equal(
        pd.read_csv(on_slurm / WORKFLOW_TARGET), pd.read_csv(tiny_run.path / WORKFLOW_TARGET)
    )


@pytest.mark.slurm
@pytest.mark.slow
def test_job_killed_at_time_limit_is_resubmitted_with_more_time(slurm_cluster, tmp_path_factory):
    """The mechanism profiles/slurm relies on: TIMEOUT -> retry with attempt-scaled runtime.
    Its run started with the session (start_background_runs); this test collects it."""
    folder, log, since = _collected(tmp_path_factory, TIME_LIMIT_TEST)
    jobs = _sacct_jobs(_run_id(log), since, expected=2)
    assert [(j["State"], j["Timelimit"]) for j in jobs] == [
        ("TIMEOUT", "00:01:00"),
        ("COMPLETED", "00:02:00"),
    ], jobs
    assert (folder / "slept.txt").read_text() == "done\n"
