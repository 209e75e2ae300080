"""Claim types: :class:`Claim`, :class:`ClaimInputs`, :class:`Scale`, verdict names, input kinds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

SUPPORTED, NOT_SUPPORTED, NOT_EVALUATED = "supported", "not supported", "not evaluated"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, NOT_EVALUATED)
# What a claim may read, and the pipeline files each comes from (per run and seed).
INPUT_KINDS = {
    "metrics": "results/metrics.csv (tidy training metrics, every run and seed)",
    "attacks": "results/robustness/{run}/seed{seed}/attacks.csv (Table 2 cells per seed)",
    "figure2_count": "results/tables/figure2_count.csv (Figure 2 count per seed and radius)",
    "kernel_smoothness": "results/tables/kernel_smoothness.csv (first-layer roughness per seed)",
    "svd_control": "results/tables/svd_control.csv (§8 counts per seed)",
    "fourier_heatmap": "results/tables/fourier_heatmap_adversarial.csv (heat map ring means per model and seed)",
    "attack_suite": "results/robustness/{run}/seed{seed}/attack_suite.csv (attack-suite cells per seed)",
    "instrument": "results/tables/instrument.csv (planted data: accuracy per seed, band and label set)",
    "response_radius": "results/tables/response_radius.csv (response-curve radius per run and seed)",
}
CLAIM_COLUMNS = [
    "id", "section", "statement", "metric", "comparison", "threshold", "mean", "ci_low", "ci_high",
    "n_seeds", "values", "verdict", "reason", "expected", "min_scale", "scale", "inputs",
]  # fmt: skip


class NotEvaluable(Exception):
    """A claim cannot be measured on these inputs; the message says why (shown as the reason)."""


@dataclass(frozen=True)
class Scale:
    """A training scale: images in the training set and epochs of the vanilla set-up."""

    train_images: int
    epochs: int

    def covers(self, other: Scale) -> bool:
        return self.train_images >= other.train_images and self.epochs >= other.epochs

    def __str__(self) -> str:
        return f"{self.train_images} train images × {self.epochs} epochs"


@dataclass
class ClaimInputs:
    """What claims are measured from; a frame left None was not produced by this config.

    ``studies`` maps every study to ``{variant label: run id}`` (``hfc.grid.study_runs``; an
    empty or missing entry means the study is off). ``sources`` maps an input kind of
    :data:`INPUT_KINDS` to the files it was read from (reported with each verdict).
    ``num_classes`` sets chance accuracy; ``scale`` (None = unknown) is checked against each
    claim's ``min_scale``. ``planted`` says what a planted dataset carries where (the
    ``instrument.*`` claims are evaluated only on such data).
    """

    studies: Mapping[str, Mapping[str, str]]
    metrics: pd.DataFrame | None = None
    attacks: pd.DataFrame | None = None
    figure2_count: pd.DataFrame | None = None
    kernel_smoothness: pd.DataFrame | None = None
    svd_control: pd.DataFrame | None = None
    fourier_heatmap: pd.DataFrame | None = None
    attack_suite: pd.DataFrame | None = None
    instrument: pd.DataFrame | None = None
    response_radius: pd.DataFrame | None = None
    num_classes: int = 10
    # dataset.planted with defaults filled in (hfc.planted.check_settings) when the data are planted
    planted: Mapping | None = None
    scale: Scale | None = None
    sources: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def frame(self, kind: str) -> pd.DataFrame:
        if kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {kind!r}; known: {', '.join(INPUT_KINDS)}")
        value = getattr(self, kind)
        if value is None:
            raise NotEvaluable(f"input {kind} is missing ({INPUT_KINDS[kind]})")
        return value

    def run(self, study: str, label: str) -> str:
        runs = self.studies.get(study) or {}
        if not runs:
            raise NotEvaluable(f"study {study} is off (studies.{study} in the config)")
        if label not in runs:
            raise NotEvaluable(f"study {study} has no variant {label!r} (it has {', '.join(runs)})")
        return runs[label]

    @property
    def chance(self) -> float:
        return 1.0 / self.num_classes


Measure = Callable[[ClaimInputs], pd.Series]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of the paper and how it is tested.

    ``measure`` returns the tested number per seed (a Series indexed by seed) or raises
    :class:`NotEvaluable`. ``studies`` must all be on (``any_study``: at least one of them);
    ``inputs`` are :data:`INPUT_KINDS`. ``rationale`` says where the threshold comes from.
    """

    id: str
    section: str
    statement: str
    metric: str
    comparison: str
    threshold: float
    min_scale: Scale
    studies: tuple[str, ...]
    inputs: tuple[str, ...]
    measure: Measure
    rationale: str
    any_study: bool = False

    def __post_init__(self) -> None:
        if self.comparison not in (">", "<"):
            raise ValueError(f"claim {self.id}: comparison must be '>' or '<', got {self.comparison!r}")
        unknown = [k for k in self.inputs if k not in INPUT_KINDS]
        if unknown:
            raise ValueError(f"claim {self.id}: unknown input kind(s) {unknown}")
