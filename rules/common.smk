import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import ExecMode

# The Snakefile imports hfc from this checkout even when the package is not installed.
sys.path.insert(0, workflow.basedir)

# glibc's malloc in every job (jobs inherit this environment; a value already set is kept):
# by default each activation tensor above its adaptive mmap threshold is mapped and unmapped
# again, so every forward pass paid page faults for fresh zeroed pages, about a third of a
# small_cnn training job's CPU time (mostly the evaluation's 500-image batches). Freed memory
# up to these sizes is reused instead. Allocation only: PyTorch aligns every tensor to 64 bytes
# either way, so no number changes; peak memory grows by ~100 MB at most per job.
os.environ.setdefault(
    "MALLOC_MMAP_THRESHOLD_", str(32 << 20)
)  # the largest glibc accepts
os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(512 << 20))

from hfc import files as hfc_files, grid, provenance, resources  # noqa: E402
from hfc.config import (  # noqa: E402
    ConfigError,
    check_config,
    check_limits,
    check_yaml_file,
    coerce_command_line_values,
)
from hfc.data import dataset_sizes, image_shape, source_files  # noqa: E402
from hfc.frequency import check_radius  # noqa: E402
from hfc import planted  # noqa: E402

# Every config file, the embedded default included, is read again refusing duplicated keys
# (YAML keeps the last one silently). Nested --config values arrive as strings; then readable
# errors (names the key and the allowed values), then Snakemake's validation, which also fills
# in the schema's defaults, then the limits that depend on the dataset's size and image shape.
try:
    for _configfile in workflow.configfiles:
        check_yaml_file(_configfile)
    coerce_command_line_values(config)
    check_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None


validate(config, "../hfc/config_schema.yaml")

# Every job writes under results/: a folder it cannot write would fail a job late, with a bare
# "Permission denied". Said here, before any job, with the folders named.
_unwritable = hfc_files.unwritable_folders("results")
if _unwritable is not None:
    raise WorkflowError(f"the results folder cannot be written: {_unwritable}")

DATASET = config["dataset"]["name"]
DATASET_ROOT = config["dataset"].get("root")
if DATASET_ROOT is not None and not Path(DATASET_ROOT).expanduser().exists():
    raise WorkflowError(
        f"config dataset.root: {DATASET_ROOT} does not exist (relative paths are read from "
        f"{Path.cwd()}); point it to the folder with the data, or set it to null"
        + (
            " to use Debian's package or torchvision's download"
            if DATASET != "imagefolder"
            else ""
        )
    )
RADII = [int(r) for r in config["frequency"]["radii"]]
SEEDS = [int(s) for s in config["seeds"]]
RUNS = grid.all_runs(config)
SPLITS = ["train", "test"]

try:
    _shape = image_shape(DATASET, config["dataset"].get("image_size"))
except ValueError as error:
    raise WorkflowError(f"config dataset: {error}")
PLANTED = None
if DATASET == "planted":
    try:
        PLANTED = planted.check_settings(
            config["dataset"]["planted"], config["dataset"].get("image_size")
        )
    except ValueError as error:
        raise WorkflowError(f"config {error}")
    if PLANTED["radius"] not in RADII:
        raise WorkflowError(
            f"config dataset.planted.radius {PLANTED['radius']} is not in frequency.radii {RADII}: "
            "add it there, since the instrument check evaluates x_l and x_h at that radius"
        )
if _shape is not None:
    for _radius in RADII:
        try:
            check_radius(_radius, _shape[1], _shape[2])
        except ValueError as error:
            raise WorkflowError(f"config frequency.radii: {error}")
FULL_SIZES = dataset_sizes(DATASET, DATASET_ROOT)
if PLANTED is not None:
    FULL_SIZES = (PLANTED["train_size"], PLANTED["test_size"])
try:
    check_limits(config, FULL_SIZES, _shape)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

DATA = f"results/data/{DATASET}"


def check_machine():
    """Refuse (or, where the jobs may run elsewhere, warn about) threads / device this machine lacks.

    Before any job: a job asking for CUDA where there is none fails only when it starts. Jobs
    run here unless this is a dry run or a cluster run (--jobs / an executor's nodes), where
    the user may know better, so those get a warning.
    """
    if workflow.exec_mode != ExecMode.DEFAULT:
        return  # a job on a node: the main process has checked
    import os
    import re as _re
    import torch

    dry = any(
        arg in ("--dry-run", "--dryrun", "--just-print")
        or _re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", arg)
        for arg in sys.argv[1:]
    )
    cluster = workflow.resource_settings.nodes is not None or any(
        arg in ("--executor", "-e")
        or arg.startswith("--executor=")
        or arg == "--profile"
        for arg in sys.argv[1:]
    )
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    errors, warnings = resources.machine_problems(
        int(config["threads"]), config["device"], cores, cuda, here=not (dry or cluster)
    )
    for warning in warnings:
        print(f"WARNING (config): {warning}", file=sys.stderr)
    if errors:
        lines = "\n".join(f"  - {error}" for error in errors)
        raise WorkflowError(
            f"this machine cannot give what the config asks for ({len(errors)} problem(s)):\n{lines}"
        )


check_machine()
# Studies drawn by the generic study_table / study_figure rules (table1 and figure3 have their own).
GRID_STUDIES = [
    "heuristics",
    "batch_size",
    "architecture",
    "optimizer",
    "batchnorm_lfc",
]
STUDY_TITLES = {
    "heuristics": "Figure 5: training heuristics",
    "batch_size": "Figure 4: batch sizes",
    "architecture": "§5.1: architectures",
    "optimizer": "§5.1: optimizers",
    "batchnorm_lfc": "Figure 6: with vs without BatchNorm, trained on LFC",
}
RUN_DIR = "results/runs/{run}/seed{seed}"


wildcard_constraints:
    dataset=r"[a-z0-9_]+",
    split=r"train|test",
    radius=r"\d+",
    run=r"[A-Za-z0-9_.-]+",
    seed=r"\d+",
    study="|".join(GRID_STUDIES),


localrules:
    all,
    prepare_dataset,
    collect_metrics,
    table1,
    figure3,
    study_table,
    study_figure,
    table2,
    figure7,
    claims,
    paper_vs_reproduced,
    response_figure,
    response_radius,


def run_settings():
    """Settings shared by every run that decide its numbers (checkpoint fingerprint too)."""
    training = config["training"]
    return {
        "width_by_model": training["width_by_model"],
        "precision": training["precision"],
        "channels_last": training["channels_last"],
        "dropout": training["dropout"],
        "mixup_alpha": training["mixup_alpha"],
        "max_loss_ratio": training["max_loss_ratio"],
        "adversarial": training["adversarial"],
        "rescale": config["frequency"]["rescale"],
        "radii": RADII,
        "label_seed": training["label_seed"],
        "evaluation": config["evaluation"],
        # torch's CPU numbers depend on the thread count (hfc.seeding.use_threads)
        "threads": config["threads"],
    }


def code_version(script):
    """Fingerprint of a workflow script and the hfc modules it imports (hfc.provenance)."""
    return provenance.code_fingerprint(
        f"{workflow.basedir}/workflow_scripts/{script}.py", workflow.basedir
    )


def dataset_source():
    """Fingerprint of the raw files prepare_dataset reads: a changed or deleted file reruns it."""
    files = source_files(DATASET, DATASET_ROOT)
    return provenance.files_fingerprint(
        files, DATASET_ROOT and Path(DATASET_ROOT).expanduser()
    )


def dataset_identity():
    """The dataset keys that decide which images every result was computed from."""
    keys = ("name", "root", "image_size", "train_size", "test_size", "subset_seed")
    identity = {key: config["dataset"].get(key) for key in keys}
    if DATASET == "planted":
        identity["planted"] = PLANTED
    if DATASET == "imagenette":
        identity["imagenette_size"] = config["dataset"]["imagenette_size"]
    return identity


def run_record(run):
    """What decides a run's numbers; written beside its results as run.json."""
    return {
        "spec": RUNS[run].as_dict(),
        "settings": run_settings(),
        "dataset": dataset_identity(),
    }


def frequency_files(wildcards=None):
    return [
        f"{DATA}/frequency/{split}_r{radius}.pt" for split in SPLITS for radius in RADII
    ]


def run_metrics(runs):
    return [
        f"results/runs/{run}/seed{seed}/metrics.csv" for run in runs for seed in SEEDS
    ]


def study_metrics(study):
    return run_metrics(dict.fromkeys(grid.study_runs(config, study).values()))


def study_variants(study):
    """{run id: variant label}; a run shared by two variants keeps the first label."""
    variants = {}
    for label, run in grid.study_runs(config, study).items():
        variants.setdefault(run, label)
    return variants


def all_targets():
    targets = ["results/metrics.csv"]
    studies = config.get("studies", {})
    if studies.get("table1"):
        targets += ["results/tables/table1.csv", "results/tables/table1.md"]
        targets += ["results/figures/table1.png", "results/figures/table1.pdf"]
    if studies.get("figure3"):
        targets += ["results/figures/figure3.png", "results/figures/figure3.pdf"]
    for study in GRID_STUDIES:
        if studies.get(study):
            targets += [f"results/tables/{study}.{ext}" for ext in ("csv", "md")]
            targets += [f"results/figures/{study}.{ext}" for ext in ("png", "pdf")]
    if studies.get("adversarial"):
        targets += [
            f"results/tables/{name}.{ext}"
            for name in ("table2",)
            for ext in ("csv", "md")
        ]
        targets += [
            f"results/figures/{name}.{ext}"
            for name in ("figure2", "figure7")
            for ext in ("png", "pdf")
        ]
        targets += [
            f"results/tables/{name}.csv"
            for name in ("figure2_count", "kernel_smoothness", "svd_control")
        ]
        targets += SUITE_TARGETS  # rules/robustness.smk
    targets += REPORT_TARGETS  # rules/report.smk
    targets += ANALYSIS_TARGETS  # rules/analyses.smk
    if config["detection"]["enabled"]:
        targets += [
            "results/detection/map.csv",
            "results/detection/lfc_better.csv",
            "results/tables/detection.md",
        ]
    return targets


def scale_caption(measured="evaluation"):
    """One line saying at which scale the tables were made (they sit beside CIFAR-10 numbers).

    It names the dataset subset the models were trained on and the images the accuracies were
    measured on: the evaluation subsets (``measured="evaluation"``), the attacked test images
    (``"robustness"``), the attack suite's images (``"suite"``), or both evaluation and
    attack images (``"all"``, the claims).
    """
    d, t = config["dataset"], config["training"]
    n_train, n_test = _images()
    size = lambda n, full: f"{full}" if n is None or n >= full else f"{n}"
    e = config["evaluation"]
    evaluated = (
        f"accuracies on {size(e['train_size'], n_train)} train / {size(e['test_size'], n_test)} "
        "test images of it (evaluation.train_size / test_size)"
    )
    attacked = f"attacks on {size(config['robustness']['test_size'], n_test)} test images (robustness.test_size)"
    suite = f"attack suite on {size(config['robustness']['suite']['test_size'], n_test)} test images (robustness.suite.test_size)"
    measured_on = {
        "evaluation": evaluated,
        "robustness": attacked,
        "suite": suite,
        "all": f"{evaluated}; {attacked}",
    }[measured]
    if not RUNS:
        external = ", ".join(EXTERNAL) if EXTERNAL else "none"
        return (
            f"{d['name']} subset (train {n_train}, test {n_test} images); this config trains no "
            f"model (every study is off), so nothing of the paper's studies was run; external "
            f"models analysed: {external} (results/external/)"
        )
    return (
        f"{d['name']} subset (train {n_train}, test {n_test} images), {measured_on}; "
        f"{t['model']}, {t['optimizer']} lr {t['lr']}, batch {t['batch_size']}, {t['epochs']} epochs, "
        f"seeds {SEEDS}; the paper: CIFAR-10, ResNet-18, Adam lr 1e-4, batch 100, 100 epochs, "
        "all 50,000 / 10,000 images"
    )


def _images():
    """(train, test) images the jobs load: the subsets, or the config's sizes when unknown."""
    d = config["dataset"]
    if FULL_SIZES is not None:
        return (
            min(d.get("train_size") or FULL_SIZES[0], FULL_SIZES[0]),
            min(d.get("test_size") or FULL_SIZES[1], FULL_SIZES[1]),
        )
    return d.get("train_size") or 50000, d.get("test_size") or 10000


def job_mem_mb(job, run=None, batch_size=None, radii=0, attack_copies=1):
    """mem_mb derived from the config (hfc.resources); 8000 where the image size is unknown."""
    if _shape is None:
        return 8000
    shape = (_shape[0] or 3, _shape[1], _shape[2])
    n_train, n_test = _images()
    if job in ("prepare", "subset") and FULL_SIZES is not None:
        n_train, n_test = FULL_SIZES  # these jobs hold the whole dataset
    model = build_kwargs = None
    if run is not None:
        spec = RUNS[run]
        model = spec.model
        batch_size = batch_size or spec.batch_size
        build_kwargs = {
            "in_channels": shape[0],
            "num_classes": 10,
            "image_size": shape[1],
            "mean": [0.5] * shape[0],
            "std": [0.25] * shape[0],
            "width": float(config["training"]["width_by_model"].get(model, 1.0)),
            "batchnorm": spec.heuristic == "batchnorm",
        }
    evaluation = config["evaluation"]
    return resources.mem_mb(
        job,
        shape=shape,
        n_train=n_train,
        n_test=n_test,
        radii=radii,
        eval_train=evaluation["train_size"],
        eval_test=evaluation["test_size"],
        batch_size=batch_size or 1,
        model=model,
        build_kwargs=build_kwargs,
        attack_copies=attack_copies,
    )


def analysis_study_runs(kind):
    """{study: {run: label}} of the studies analysis.<kind>.studies names (runs it trains)."""
    out = {}
    for study in config["analysis"][kind]["studies"]:
        variants = study_variants(study)
        if variants:
            out[study] = variants
    return out


def heatmap_titles(study):
    """{run: panel title}; the adversarial study's two models by their paper names."""
    names = {"natural": "M_natural", "adversarial": "M_adversarial"}
    return {
        run: names.get(label, label) if study == "adversarial" else label
        for run, label in study_variants(study).items()
    }


def analysis_files(kind, study):
    """Per-seed files of one analysis (fourier_heatmap, figure2_count, attacks) of a study's runs."""
    runs = study_variants(study)
    if kind == "attacks":  # the whole suite (rule attack_suite), FGSM and PGD among it
        return expand(
            "results/robustness/{run}/seed{seed}/attack_suite.csv", run=runs, seed=SEEDS
        )
    return expand(f"results/runs/{{run}}/seed{{seed}}/{kind}.csv", run=runs, seed=SEEDS)


# Scheduling only (no result depends on it): with few cores the run ends when its longest
# chain of jobs does, so the longest jobs start first. Relative CPU time of one training epoch
# per model at the CPU default's widths (small_cnn = 1; measured on Fashion-MNIST, one thread).
_EPOCH_COST = {
    "small_cnn": 1.0,
    "lenet": 0.5,
    "vgg": 1.5,
    "alexnet": 2.5,
    "resnet18": 6.5,
}
# The attacks and analyses that wait for a robustness model, in the same units.
ATTACK_PRIORITY = 10


def train_priority(wildcards):
    """Estimated length of the chain a training job starts, in small_cnn epochs (higher first).

    About half of a small_cnn epoch is the evaluation after it; adversarial training repeats the
    other half for every PGD step. The two robustness models are followed by their attacks.
    """
    spec = RUNS[wildcards.run]
    per_epoch = _EPOCH_COST.get(spec.model, 1.0)
    if spec.heuristic == "adversarial":
        per_epoch *= 0.5 + 0.5 * (1 + config["training"]["adversarial"]["steps"])
    chain = per_epoch * spec.epochs
    if wildcards.run in grid.study_runs(config, "adversarial").values():
        chain += ATTACK_PRIORITY
    return round(10 * chain)
