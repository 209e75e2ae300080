"""GPU-hours of a whole config, extrapolated from a shrunk run of it (benchmarks/gpu_check.sh).

Every training job of the shrunk run took ``s`` seconds (its Snakemake benchmark file,
``results/benchmarks/train/<run>_seed<seed>.tsv``). The same run of the full config does
``work_full / work_shrunk`` times as much work, where a run's work in image passes is

    epochs × (train images × passes + evaluated sets × evaluated images × eval_cost)

with ``passes = steps + 1`` for adversarial training (PGD's steps plus the update) and 1
otherwise, ``evaluated sets = 1 + 2 × len(radii)`` (original, LFC and HFC at every radius)
and ``eval_cost`` the cost of an evaluation forward pass relative to a training step (1/3:
one forward of the forward + backward ≈ 3 forwards of a training step). Each job's fixed
cost (process start, CUDA context, data load, model build) is scaled too, so the result is
an upper bound that tightens as the shrunk run grows; ``benchmarks/train.py``'s
``paper_gpu_hours`` (measured steady-state rates) is the lower estimate beside it.

    python benchmarks/gpu_extrapolate.py --run-dir OUT/paper-shrunk --shrunk OUT/paper-shrunk/config.yaml \\
        --full configs/paper.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfc.grid import RunSpec, all_runs  # noqa: E402

EVAL_COST = 1.0 / 3.0
# Train/test images of the full datasets (a size of null in a config means all of them).
FULL_SIZES = {
    "cifar10": (50000, 10000),
    "mnist": (60000, 10000),
    "fashion_mnist": (60000, 10000),
    "imagenette": (9469, 3925),
}


def _sizes(config: Mapping) -> tuple[int, int, int]:
    """(train images, evaluated images per epoch, evaluated sets) of a config."""
    dataset = config["dataset"]
    if dataset["name"] not in FULL_SIZES and not (dataset.get("train_size") and dataset.get("test_size")):
        raise ValueError(
            f"dataset {dataset['name']!r} has no known size; give dataset.train_size and test_size "
            f"(known full sizes: {', '.join(FULL_SIZES)})"
        )
    full_train, full_test = FULL_SIZES.get(dataset["name"], (None, None))
    n_train = dataset.get("train_size") or full_train
    n_test = dataset.get("test_size") or full_test
    evaluation = config.get("evaluation") or {}
    evaluated = min(evaluation.get("train_size") or n_train, n_train) + min(evaluation.get("test_size") or n_test, n_test)
    return n_train, evaluated, 1 + 2 * len(config["frequency"]["radii"])


def run_work(spec: RunSpec, config: Mapping, eval_cost: float = EVAL_COST) -> float:
    """Image passes (training-step equivalents) of one run and seed under ``config``."""
    n_train, evaluated, sets = _sizes(config)
    steps = int((config["training"].get("adversarial") or {}).get("steps", 10))
    passes = steps + 1 if spec.heuristic == "adversarial" else 1
    return spec.epochs * (n_train * passes + sets * evaluated * eval_cost)


def extrapolate_hours(
    job_seconds: Mapping[str, float], shrunk: Mapping, full: Mapping, eval_cost: float = EVAL_COST
) -> float:
    """Hours of every training job of ``full``, from ``job_seconds`` ({run: mean seconds per
    seed}) measured under ``shrunk``; both configs must train the same runs."""
    shrunk_runs, full_runs = all_runs(shrunk), all_runs(full)
    missing = sorted(set(full_runs) - set(job_seconds))
    if missing:
        raise ValueError(f"no measured seconds for run(s) {missing} of the full config")
    seconds = 0.0
    for name, spec in full_runs.items():
        if name not in shrunk_runs:
            raise ValueError(f"run {name} is in the full config but not in the shrunk one")
        ratio = run_work(spec, full, eval_cost) / run_work(shrunk_runs[name], shrunk, eval_cost)
        seconds += job_seconds[name] * ratio
    return seconds * len(full["seeds"]) / 3600


def read_job_seconds(run_dir: Path) -> dict[str, float]:
    """{run: mean wall seconds over seeds} from a run folder's train benchmarks."""
    import pandas as pd

    found: dict[str, list[float]] = {}
    for path in sorted((run_dir / "results/benchmarks/train").glob("*_seed*.tsv")):
        run = path.stem.rsplit("_seed", 1)[0]
        found.setdefault(run, []).append(float(pd.read_csv(path, sep="\t")["s"].iloc[0]))
    if not found:
        raise ValueError(f"{run_dir}/results/benchmarks/train holds no benchmark files: did the shrunk run train?")
    return {run: sum(v) / len(v) for run, v in found.items()}


def main(argv: list[str] | None = None) -> int:
    from hfc.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="the shrunk run's --directory")
    parser.add_argument("--shrunk", type=Path, required=True, help="the shrunk run's whole config (YAML)")
    parser.add_argument("--full", type=Path, default=ROOT / "configs/paper.yaml")
    args = parser.parse_args(argv)
    seconds = read_job_seconds(args.run_dir)
    shrunk, full = load_config(args.shrunk), load_config(args.full)
    hours = extrapolate_hours(seconds, shrunk, full)
    total = sum(seconds.values())
    print(f"shrunk run: {len(seconds)} training runs, {total:.0f} s of training jobs in all (one seed)")
    print(f"{args.full.name}: its training jobs extrapolate to at most {hours:,.1f} GPU-hours "
          f"(each job's fixed start-up cost scaled too: an upper bound)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
