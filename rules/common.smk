import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The Snakefile imports hfc from this checkout even when the package is not installed.
sys.path.insert(0, workflow.basedir)

from hfc import grid  # noqa: E402
from hfc.config import check_config, coerce_command_line_values  # noqa: E402
from hfc.data import image_shape  # noqa: E402
from hfc.frequency import check_radius  # noqa: E402

# Nested --config values arrive as strings; then readable errors (names the key and the allowed
# values), then Snakemake's validation, which also fills in the schema's defaults.
coerce_command_line_values(config)
check_config(config)


validate(config, "../hfc/config_schema.yaml")

DATASET = config["dataset"]["name"]
RADII = [int(r) for r in config["frequency"]["radii"]]
SEEDS = [int(s) for s in config["seeds"]]
RUNS = grid.all_runs(config)
SPLITS = ["train", "test"]

_shape = image_shape(DATASET, config["dataset"].get("image_size"))
if _shape is not None:
    for _radius in RADII:
        try:
            check_radius(_radius, _shape[1], _shape[2])
        except ValueError as error:
            raise WorkflowError(f"config frequency.radii: {error}")

DATA = f"results/data/{DATASET}"
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
        "adversarial": training["adversarial"],
        "rescale": config["frequency"]["rescale"],
        "radii": RADII,
        "label_seed": training["label_seed"],
        "evaluation": config["evaluation"],
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
    targets += REPORT_TARGETS  # rules/report.smk
    if config["detection"]["enabled"]:
        targets += [
            "results/detection/map.csv",
            "results/detection/lfc_better.csv",
            "results/tables/detection.md",
        ]
    return targets


def scale_caption():
    """One line saying at which scale the tables were made (they sit beside CIFAR-10 numbers)."""
    d, t = config["dataset"], config["training"]
    size = lambda n: "all" if n is None else n
    return (
        f"{d['name']} (train {size(d.get('train_size'))}, test {size(d.get('test_size'))} images), "
        f"{t['model']}, {t['optimizer']} lr {t['lr']}, batch {t['batch_size']}, {t['epochs']} epochs, "
        f"seeds {SEEDS}; the paper: CIFAR-10, ResNet-18, Adam lr 1e-4, batch 100, 100 epochs"
    )
