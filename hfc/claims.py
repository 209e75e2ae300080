"""The paper's checkable claims, each measured per seed and given a verdict.

A :class:`Claim` names a statement of Wang et al. (2020), the number that tests it (measured
once per training seed from the pipeline's per-seed outputs), a comparison with a threshold,
the studies and inputs it needs, and the smallest scale at which the test means anything.
:data:`CLAIMS` is the registry; :func:`evaluate_claims` turns a :class:`ClaimInputs` into one
row per claim.

Verdict rule (docs/claims.md). With n >= ``min_seeds`` finite per-seed values, the 95 %
Student-t interval of their mean is mean ± t(0.975, n-1)·s/√n. A claim is

- ``supported`` when the whole interval lies beyond the threshold in the claimed direction
  (its lower end above the threshold for ``>``, its upper end below it for ``<``);
- ``not supported`` otherwise: the reason says whether the interval straddles the threshold
  (inconclusive at this seed count) or lies wholly on the wrong side (contradicted);
- ``not evaluated`` when a study it needs is off, an input is missing, the run is below the
  claim's minimum scale, a radius / ε / ρ it needs was not run, or fewer than ``min_seeds``
  seeds were measured (the mean is still shown).

The interval is over training seeds on a fixed evaluation subset: it says how much the
number moves when the network is trained again, not how it would move on other test images.

:func:`paper_vs_reproduced` puts every number of the paper's Tables 1 and 2 beside ours.
Nothing here reads files: the workflow scripts (workflow_scripts/claims.py, ...) load the frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hfc import paper
from hfc.tables import t_quantile_975, to_markdown

__all__ = [
    "Scale",
    "Claim",
    "ClaimInputs",
    "NotEvaluable",
    "CLAIMS",
    "CLAIM_IDS",
    "CLAIM_COLUMNS",
    "VERDICTS",
    "INPUT_KINDS",
    "get_claim",
    "check_claim_ids",
    "interval",
    "evaluate_claim",
    "evaluate_claims",
    "claims_markdown",
    "PAPER_COLUMNS",
    "paper_vs_reproduced",
    "paper_vs_reproduced_markdown",
]

SUPPORTED, NOT_SUPPORTED, NOT_EVALUATED = "supported", "not supported", "not evaluated"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, NOT_EVALUATED)
# What a claim may read, and the pipeline files each comes from (per run and seed).
INPUT_KINDS = {
    "metrics": "results/metrics.csv (tidy training metrics, every run and seed)",
    "attacks": "results/robustness/{run}/seed{seed}/attacks.csv (Table 2 cells per seed)",
    "figure2_count": "results/tables/figure2_count.csv (Figure 2 count per seed and radius)",
    "kernel_smoothness": "results/tables/kernel_smoothness.csv (first-layer roughness per seed)",
    "svd_control": "results/tables/svd_control.csv (§8 counts per seed)",
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
    claim's ``min_scale``.
    """

    studies: Mapping[str, Mapping[str, str]]
    metrics: pd.DataFrame | None = None
    attacks: pd.DataFrame | None = None
    figure2_count: pd.DataFrame | None = None
    kernel_smoothness: pd.DataFrame | None = None
    svd_control: pd.DataFrame | None = None
    num_classes: int = 10
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


# ----------------------------------------------------------------------------- measuring helpers


def _key(x: float) -> float:
    return round(float(x), 6)


def _runs_frame(metrics: pd.DataFrame, run: str) -> pd.DataFrame:
    rows = metrics[metrics["run"] == run]
    if rows.empty:
        raise NotEvaluable(f"run {run} has no rows in the metrics")
    return rows


def _accuracy(
    inputs: ClaimInputs, run: str, split: str, band: str, radius: int, epoch: int | str = "final"
) -> pd.Series:
    """Accuracy per seed of one run on one split/band/radius, at its last (or a given) epoch."""
    rows = _runs_frame(inputs.frame("metrics"), run)
    if epoch == "final":
        rows = rows[rows["epoch"] == rows.groupby("seed")["epoch"].transform("max")]
    else:
        rows = rows[rows["epoch"] == epoch]
    rows = rows[(rows["split"] == split) & (rows["band"] == band) & (rows["radius"] == radius)]
    if rows.empty:
        what = "the original images" if band == "original" else f"{band} r={radius}"
        raise NotEvaluable(f"run {run} was not evaluated on {split} {what} (is r={radius} in frequency.radii?)")
    if rows.duplicated("seed").any():
        raise ValueError(f"metrics hold duplicated rows for run {run} {split} {band} r={radius}")
    return rows.set_index("seed")["accuracy"].astype(float).sort_index()


def _radii(inputs: ClaimInputs, run: str) -> list[int]:
    rows = _runs_frame(inputs.frame("metrics"), run)
    return sorted(int(r) for r in rows.loc[rows["band"] != "original", "radius"].unique())


def _need_radii(inputs: ClaimInputs, run: str, wanted: Sequence[int], *, at_least: int = 1) -> list[int]:
    present = [r for r in wanted if r in _radii(inputs, run)]
    if len(present) < at_least:
        raise NotEvaluable(f"needs radius {' or '.join(map(str, wanted))} among frequency.radii")
    return present


def _band_mean(inputs: ClaimInputs, run: str, band: str, radii: Sequence[int], split: str = "test") -> pd.Series:
    return pd.concat([_accuracy(inputs, run, split, band, r) for r in radii], axis=1).mean(axis=1)


def _own_train_accuracy(inputs: ClaimInputs, run: str, epoch: int | str = "final") -> pd.Series:
    rows = _runs_frame(inputs.frame("metrics"), run)
    band, radius = rows["train_band"].iloc[0], int(rows["train_radius"].iloc[0])
    return _accuracy(inputs, run, "train", band, radius, epoch)


def _vanilla_run(inputs: ClaimInputs) -> str:
    for study, label in (("heuristics", "vanilla"), ("figure3", "natural"), ("adversarial", "natural")):
        runs = inputs.studies.get(study) or {}
        if label in runs:
            return runs[label]
    raise NotEvaluable("no study trains the vanilla model (turn on figure3, heuristics or adversarial)")


def _paired(a: pd.Series, b: pd.Series) -> pd.Series:
    """a − b over the seeds both have (seeds are the replicates; each pairs runs of one seed)."""
    common = a.index.intersection(b.index)
    if common.empty:
        raise NotEvaluable("the two runs compared share no seed")
    return (a.loc[common] - b.loc[common]).sort_index()


def _attack(inputs: ClaimInputs, label: str, rho: float, attack: str, eps: float) -> pd.Series:
    frame = inputs.frame("attacks")
    rows = frame[
        (frame["model"] == label)
        & (frame["rho"].map(_key) == _key(rho))
        & (frame["attack"] == attack)
        & (frame["eps"].map(_key) == _key(eps))
    ]
    if rows.empty:
        setting = "clean" if attack == "clean" else f"{attack} ε={eps:g}"
        raise NotEvaluable(f"no Table 2 cell M_{label} ρ={rho:g} {setting} (robustness.rhos / robustness.eps)")
    return rows.groupby("seed")["accuracy"].mean().astype(float)


# ----------------------------------------------------------------------------- the measures


def _table1_gap(radius: int) -> Measure:
    def measure(inputs: ClaimInputs) -> pd.Series:
        if inputs.studies.get("table1") and f"low r={radius}" not in inputs.studies["table1"]:
            raise NotEvaluable(f"r={radius} is not among frequency.radii")
        low = _accuracy(inputs, inputs.run("table1", f"low r={radius}"), "test", "original", 0)
        high = _accuracy(inputs, inputs.run("table1", f"high r={radius}"), "test", "original", 0)
        return _paired(low, high)

    return measure


def _hfc_trained_above_chance(inputs: ClaimInputs) -> pd.Series:
    runs = inputs.studies.get("table1") or {}
    radii = [r for r in (8, 12, 16) if f"high r={r}" in runs]
    if not radii:
        raise NotEvaluable("needs an HFC-trained run at r = 8, 12 or 16 (frequency.radii)")
    accs = [_accuracy(inputs, inputs.run("table1", f"high r={r}"), "test", "original", 0) for r in radii]
    return pd.concat(accs, axis=1).max(axis=1) - inputs.chance


def _figure3_lfc4(inputs: ClaimInputs) -> pd.Series:
    natural, shuffled = inputs.run("figure3", "natural"), inputs.run("figure3", "shuffled")
    return _paired(_accuracy(inputs, natural, "train", "low", 4), _accuracy(inputs, shuffled, "train", "low", 4))


def _vanilla_trend(band: str) -> Measure:
    def measure(inputs: ClaimInputs) -> pd.Series:
        run = _vanilla_run(inputs)
        radii = _radii(inputs, run)
        if len(radii) < 2:
            raise NotEvaluable("needs at least two radii in frequency.radii")
        return _paired(_accuracy(inputs, run, "test", band, radii[-1]), _accuracy(inputs, run, "test", band, radii[0]))

    return measure


def _story_ratio(radius: int) -> Measure:
    def measure(inputs: ClaimInputs) -> pd.Series:
        frame = inputs.frame("figure2_count")
        rows = frame[frame["radius"] == radius]
        if rows.empty:
            raise NotEvaluable(f"no Figure 2 count at r={radius} (frequency.radii)")
        expected = rows["expected_by_chance"].astype(float)
        ratio = rows["count"].astype(float) / expected.where(expected > 0)
        return pd.Series(ratio.to_numpy(), index=rows["seed"].to_numpy()).sort_index()

    return measure


def _batch_runs(inputs: ClaimInputs) -> tuple[str, str]:
    runs = inputs.studies.get("batch_size") or {}
    if len(runs) < 2:
        raise NotEvaluable("study batch_size is off or has fewer than two batch sizes (studies.batch_size)")
    sizes = {int(label.split()[-1]): run for label, run in runs.items()}
    return sizes[min(sizes)], sizes[max(sizes)]


def _gap(inputs: ClaimInputs, run: str) -> pd.Series:
    return _paired(_own_train_accuracy(inputs, run), _accuracy(inputs, run, "test", "original", 0))


def _batch_gap(inputs: ClaimInputs) -> pd.Series:
    small, large = _batch_runs(inputs)
    return _paired(_gap(inputs, small), _gap(inputs, large))


def _batch_hfc(inputs: ClaimInputs) -> pd.Series:
    small, large = _batch_runs(inputs)
    radii = _radii(inputs, small)
    return _paired(_band_mean(inputs, small, "high", radii), _band_mean(inputs, large, "high", radii))


def _heuristic_vs_vanilla(heuristic: str, band: str, radii: Sequence[int] | None) -> Measure:
    """heuristic minus vanilla: test accuracy on ``band`` (mean over ``radii``; None = all)."""

    def measure(inputs: ClaimInputs) -> pd.Series:
        vanilla, other = inputs.run("heuristics", "vanilla"), inputs.run("heuristics", heuristic)
        if band == "original":
            return _paired(
                _accuracy(inputs, other, "test", "original", 0), _accuracy(inputs, vanilla, "test", "original", 0)
            )
        use = _radii(inputs, vanilla) if radii is None else _need_radii(inputs, vanilla, radii)
        return _paired(_band_mean(inputs, other, band, use), _band_mean(inputs, vanilla, band, use))

    return measure


def _bn_lfc_epoch1(inputs: ClaimInputs, radius: int) -> pd.Series:
    bn = _own_train_accuracy(inputs, inputs.run("batchnorm_lfc", f"batchnorm r={radius}"), epoch=1)
    plain = _own_train_accuracy(inputs, inputs.run("batchnorm_lfc", f"vanilla r={radius}"), epoch=1)
    return _paired(bn, plain)


def _bn_lfc_radii(inputs: ClaimInputs) -> list[int]:
    runs = inputs.studies.get("batchnorm_lfc") or {}
    if not runs:
        raise NotEvaluable("study batchnorm_lfc is off (studies.batchnorm_lfc in the config)")
    return sorted({int(label.split("r=")[1]) for label in runs})


def _bn_speeds_lfc(inputs: ClaimInputs) -> pd.Series:
    return pd.concat([_bn_lfc_epoch1(inputs, r) for r in _bn_lfc_radii(inputs)], axis=1).mean(axis=1)


def _bn_gain_grows(inputs: ClaimInputs) -> pd.Series:
    radii = _bn_lfc_radii(inputs)
    if len(radii) < 2:
        raise NotEvaluable("needs at least two radii in frequency.radii")
    return _paired(_bn_lfc_epoch1(inputs, radii[-1]), _bn_lfc_epoch1(inputs, radii[0]))


def _kernels(inputs: ClaimInputs) -> pd.Series:
    frame = inputs.frame("kernel_smoothness")
    raw = frame[frame["rho"].map(_key) == 0.0]
    per = raw.pivot_table(index="seed", columns="model", values="adjacent_diff", aggfunc="mean")
    if not {"natural", "adversarial"} <= set(per.columns):
        raise NotEvaluable("kernel_smoothness lacks M_natural or M_adversarial rows")
    return (per["natural"] - per["adversarial"]).dropna()


def _smoothing(label: str, attack: str, eps: float) -> Measure:
    def measure(inputs: ClaimInputs) -> pd.Series:
        return _paired(_attack(inputs, label, 1.0, attack, eps), _attack(inputs, label, 0.0, attack, eps))

    return measure


def _smoothed_natural_vs_adversarial(inputs: ClaimInputs) -> pd.Series:
    return _paired(_attack(inputs, "natural", 1.0, "pgd", 0.09), _attack(inputs, "adversarial", 0.0, "pgd", 0.09))


def _svd_fewer(inputs: ClaimInputs) -> pd.Series:
    frame = inputs.frame("svd_control")
    rate = (frame["frequency_count"] - frame["svd_count"]).astype(float) / frame["n_test"].astype(float)
    return pd.Series(rate.to_numpy(), index=frame["seed"].to_numpy()).sort_index()


def _others_extreme(study: str, label: str, others: Sequence[str] | None, pick: str) -> Measure:
    """label's mean HFC test accuracy minus the max (pick="max") / min of the other variants'."""

    def measure(inputs: ClaimInputs) -> pd.Series:
        runs = inputs.studies.get(study) or {}
        if not runs:
            raise NotEvaluable(f"study {study} is off (studies.{study} in the config)")
        target = inputs.run(study, label)
        rest = [run for name, run in runs.items() if name != label and (others is None or name in others)]
        if not rest:
            raise NotEvaluable(f"study {study} has no variant to compare {label} with")
        radii = _radii(inputs, target)
        mine = _band_mean(inputs, target, "high", radii)
        theirs = pd.concat([_band_mean(inputs, run, "high", radii) for run in rest], axis=1)
        ref = theirs.max(axis=1) if pick == "max" else theirs.min(axis=1)
        return _paired(mine, ref.dropna())

    return measure


# ----------------------------------------------------------------------------- the registry

# Below these a model has barely left its initialisation and none of the paper's comparisons
# means anything (e.g. the tiny test config: 200 images × 2 epochs).
_SMALL = Scale(train_images=1000, epochs=2)
_HFC_CHANCE_MARGIN = 0.10

CLAIMS: tuple[Claim, ...] = (
    *(
        Claim(
            id=f"table1.lfc_beats_hfc.r{r}",
            section="§4.2, Table 1",
            statement=f"A model trained on LFC(r={r}) generalises to the original test set much better than one trained on HFC(r={r}).",
            metric=f"test accuracy of the LFC(r={r})-trained model minus the HFC(r={r})-trained one, original test images",
            comparison=">",
            threshold=0.10,
            min_scale=_SMALL,
            studies=("table1",),
            inputs=("metrics",),
            measure=_table1_gap(r),
            rationale=(
                "paper +0.42 to +0.65; quick trial +0.37/+0.51 at r=12 but either sign at r=4. "
                "A 10-point margin is far above the seed spread of a test accuracy (≈0.01–0.03)."
            ),
        )
        for r in (4, 8, 12, 16)
    ),
    Claim(
        id="table1.hfc_trained_near_chance",
        section="§4.2, Table 1",
        statement="Models trained on HFC(r) for r ≥ 8 are near chance on the original test set.",
        metric="highest test accuracy over the HFC(r)-trained models with r ∈ {8, 12, 16}, minus chance (1/classes)",
        comparison="<",
        threshold=_HFC_CHANCE_MARGIN,
        min_scale=_SMALL,
        studies=("table1",),
        inputs=("metrics",),
        measure=_hfc_trained_above_chance,
        rationale="paper at most 0.028 above chance for r ≥ 8; trial 0.26–0.71 above chance (not near it).",
    ),
    Claim(
        id="figure3.natural_learns_lfc4_more_than_shuffled",
        section="§4.2, Figure 3",
        statement="M_natural learns far more of the LFC (r=4) of its training images than M_shuffle does.",
        metric="train accuracy on LFC(r=4) training images (the labels each model was trained with), M_natural minus M_shuffle, last epoch",
        comparison=">",
        threshold=0.20,
        min_scale=_SMALL,
        studies=("figure3",),
        inputs=("metrics",),
        measure=_figure3_lfc4,
        rationale="paper ≈ +0.4 and more; trial +0.35 to +0.48. 0.20 is half the smallest trial effect.",
    ),
    Claim(
        id="natural.lfc_accuracy_rises_with_r",
        section="§4.2 / §5.1, Figures 3–5",
        statement="The natural model's accuracy on x_l rises as the radius grows (more of the spectrum kept).",
        metric="vanilla model's test accuracy on x_l at the largest radius minus at the smallest",
        comparison=">",
        threshold=0.05,
        min_scale=_SMALL,
        studies=("heuristics", "figure3", "adversarial"),
        any_study=True,
        inputs=("metrics",),
        measure=_vanilla_trend("low"),
        rationale="trial +0.20 from r=4 to 16 (default run +0.24); 0.05 leaves room for seed spread.",
    ),
    Claim(
        id="natural.hfc_accuracy_falls_with_r",
        section="§4.2 / §5.1, Figures 3–5",
        statement="The natural model's accuracy on x_h falls as the radius grows (less of the spectrum kept).",
        metric="vanilla model's test accuracy on x_h at the largest radius minus at the smallest",
        comparison="<",
        threshold=-0.05,
        min_scale=_SMALL,
        studies=("heuristics", "figure3", "adversarial"),
        any_study=True,
        inputs=("metrics",),
        measure=_vanilla_trend("high"),
        rationale="trial −0.24 to −0.32 from r=4 to 16 (default run −0.26).",
    ),
    *(
        Claim(
            id=f"figure2.story_above_chance.r{r}",
            section="§3.1, Figure 2",
            statement=(
                f"Test images that M_natural gets right on the original and on HFC(r={r}) but wrong on LFC(r={r}) "
                "are more than chance would produce: the HFC carries the prediction."
            ),
            metric=f"Figure 2 count at r={r} divided by the count expected if the three correctness events were independent",
            comparison=">",
            threshold=2.0,
            min_scale=_SMALL,
            studies=("adversarial",),
            inputs=("figure2_count",),
            measure=_story_ratio(r),
            rationale=(
                "the paper shows 8 examples at r=12 without a baseline. Trial: at chance (ratio ≈ 1) at r=12, "
                "6–8× at r=4. Twice the independent expectation is a clear excess."
            ),
        )
        for r in (12, 4)
    ),
    Claim(
        id="figure4.larger_batch_smaller_gap",
        section="§5.1, Figure 4",
        statement="Bigger batches close the generalisation gap (train minus test accuracy).",
        metric="generalisation gap of the smallest batch size minus that of the largest, last epoch",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batch_size",),
        inputs=("metrics",),
        measure=_batch_gap,
        rationale="direction only: the paper gives no magnitude; at a few epochs every gap is below 0.05.",
    ),
    Claim(
        id="figure4.larger_batch_less_hfc",
        section="§5.1, Figure 4",
        statement="Models trained with bigger batches are more invariant to HFC.",
        metric="test accuracy on x_h (mean over radii) of the smallest batch size minus that of the largest",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batch_size",),
        inputs=("metrics",),
        measure=_batch_hfc,
        rationale="direction only: the paper gives no magnitude.",
    ),
    Claim(
        id="figure5.mixup_more_hfc",
        section="§5.1, Figure 5",
        statement="Mix-up captures much more HFC than the vanilla set-up.",
        metric="test accuracy on x_h (mean over radii), mix-up minus vanilla",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("mixup", "high", None),
        rationale="direction only (the paper: 'much more'); default run −0.04, i.e. the other way.",
    ),
    Claim(
        id="figure5.batchnorm_more_hfc",
        section="§5.1, Figure 5",
        statement="BatchNorm picks up more HFC than the vanilla set-up, especially at r = 4 and 8.",
        metric="test accuracy on x_h (mean over r ∈ {4, 8}), BatchNorm minus vanilla",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("batchnorm", "high", (4, 8)),
        rationale="direction only; trial: smaller than the seed spread.",
    ),
    Claim(
        id="figure5.adversarial_hfc_invariant",
        section="§5.1, Figure 5",
        statement="Adversarial training makes the model invariant to HFC at r = 12 and 16.",
        metric="test accuracy on x_h (mean over r ∈ {12, 16}), adversarially trained minus vanilla",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("adversarial", "high", (12, 16)),
        rationale="direction only: the paper shows flat x_h curves at r ≥ 12 for the adversarial model.",
    ),
    Claim(
        id="figure5.adversarial_lower_accuracy",
        section="§5.1, Figure 5 / §3.2",
        statement="Adversarial training costs clean test accuracy (robustness–accuracy trade-off).",
        metric="test accuracy on original images, adversarially trained minus vanilla",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("heuristics",),
        inputs=("metrics",),
        measure=_heuristic_vs_vanilla("adversarial", "original", None),
        rationale="direction only; the paper's Table 2: 0.707 vs 0.856.",
    ),
    Claim(
        id="figure6.batchnorm_speeds_lfc_training",
        section="§5.2, Figure 6",
        statement="Trained on LFC data, BatchNorm still speeds up the convergence of training accuracy.",
        metric="train accuracy (own LFC images) after epoch 1, BatchNorm minus without, mean over radii",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batchnorm_lfc",),
        inputs=("metrics",),
        measure=_bn_speeds_lfc,
        rationale="direction only: the paper gives no magnitude.",
    ),
    Claim(
        id="figure6.batchnorm_gain_smallest_at_small_r",
        section="§5.2, Figure 6",
        statement="BatchNorm's speed-up on LFC data is smallest at r = 4 (the least HFC-like signal).",
        metric="epoch-1 train-accuracy gain of BatchNorm at the largest radius minus the gain at the smallest",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("batchnorm_lfc",),
        inputs=("metrics",),
        measure=_bn_gain_grows,
        rationale="direction only: the paper gives no magnitude.",
    ),
    Claim(
        id="figure7.adversarial_kernels_smoother",
        section="§6.2, Figure 7",
        statement="The first-layer kernels of M_adversarial are smoother than those of M_natural.",
        metric="adjacent-weight roughness of the first-layer kernels (hfc.smoothing.kernel_smoothness), M_natural minus M_adversarial",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("kernel_smoothness",),
        measure=_kernels,
        rationale="direction only: the paper shows kernels, no number; i.i.d. weights score 1.41.",
    ),
    Claim(
        id="table2.smoothing_lowers_clean.natural",
        section="§6.3, Table 2",
        statement="Smoothing the first-layer kernels (ρ = 1) lowers M_natural's clean accuracy.",
        metric="clean accuracy of M_natural, ρ = 1 minus ρ = 0",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("natural", "clean", 0.0),
        rationale="paper −0.225; trial −0.03.",
    ),
    Claim(
        id="table2.smoothing_raises_fgsm.natural",
        section="§6.3, Table 2",
        statement="Smoothing (ρ = 1) raises M_natural's accuracy under FGSM at large ε (0.09).",
        metric="FGSM ε=0.09 accuracy of M_natural, ρ = 1 minus ρ = 0",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("natural", "fgsm", 0.09),
        rationale="paper +0.083; trial +0.05 to +0.12 at ε ≥ 0.06.",
    ),
    Claim(
        id="table2.smoothing_raises_pgd.natural",
        section="§6.3, Table 2",
        statement="Smoothing (ρ = 1) raises M_natural's accuracy under PGD at large ε (0.09).",
        metric="PGD ε=0.09 accuracy of M_natural, ρ = 1 minus ρ = 0",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("natural", "pgd", 0.09),
        rationale="paper +0.076; trial 0 to +0.03.",
    ),
    Claim(
        id="table2.smoothing_raises_fgsm.adversarial",
        section="§6.3, Table 2",
        statement="Smoothing (ρ = 1) raises M_adversarial's accuracy under FGSM at large ε (0.09).",
        metric="FGSM ε=0.09 accuracy of M_adversarial, ρ = 1 minus ρ = 0",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothing("adversarial", "fgsm", 0.09),
        rationale="paper +0.049 at ε=0.09 (smoothing helps M_adversarial only at larger ε).",
    ),
    Claim(
        id="table2.smoothed_natural_beats_adversarial.pgd",
        section="§6.3, Table 2",
        statement="At ε = 0.09, M_natural smoothed with ρ = 1 withstands PGD better than M_adversarial.",
        metric="PGD ε=0.09 accuracy, M_natural (ρ = 1) minus M_adversarial (ρ = 0)",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("attacks",),
        measure=_smoothed_natural_vs_adversarial,
        rationale="paper +0.040 (0.078 vs 0.038).",
    ),
    Claim(
        id="svd.fewer_story_samples",
        section="§8",
        statement="Splitting images by truncated SVD instead of by frequency finds much fewer Figure 2 images.",
        metric="Figure 2 count rate (count / test images) with the frequency split minus with the SVD split",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("adversarial",),
        inputs=("svd_control",),
        measure=_svd_fewer,
        rationale="direction only: the paper gives no count. The frequency count is itself near chance at r=12 in the trial.",
    ),
    Claim(
        id="optimizer.sgd_most_hfc",
        section="§5.1, other tests",
        statement="SGD is the only optimizer that makes the model capture HFC markedly.",
        metric="test accuracy on x_h (mean over radii), SGD minus the highest of the other optimizers",
        comparison=">",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("optimizer",),
        inputs=("metrics",),
        measure=_others_extreme("optimizer", "sgd", None, "max"),
        rationale="direction only; default run: SGD has the lowest x_h accuracy, the other way.",
    ),
    Claim(
        id="architecture.resnet_least_hfc",
        section="§5.1, other tests",
        statement="ResNet captures less HFC than LeNet, AlexNet and VGG.",
        metric="test accuracy on x_h (mean over radii), ResNet-18 minus the lowest of LeNet, AlexNet, VGG",
        comparison="<",
        threshold=0.0,
        min_scale=_SMALL,
        studies=("architecture",),
        inputs=("metrics",),
        measure=_others_extreme("architecture", "resnet18", ("lenet", "alexnet", "vgg"), "min"),
        rationale="direction only: the paper gives no magnitude.",
    ),
)
CLAIM_IDS = tuple(c.id for c in CLAIMS)
if len(set(CLAIM_IDS)) != len(CLAIM_IDS):  # pragma: no cover - guards edits of the registry
    raise RuntimeError("duplicated claim id in hfc.claims.CLAIMS")


def get_claim(claim_id: str) -> Claim:
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim
    raise KeyError(f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIM_IDS)}")


def check_claim_ids(ids: Sequence[str], where: str = "claims.expected_supported") -> list[str]:
    """Return ``ids`` as a list, or raise ValueError naming any id not in the registry."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise ValueError(f"{where} must be a list of claim ids, got {ids!r}")
    unknown = [i for i in ids if i not in CLAIM_IDS]
    if unknown:
        raise ValueError(f"{where}: unknown claim id(s) {unknown}; known claims: {', '.join(CLAIM_IDS)}")
    return list(ids)


# ----------------------------------------------------------------------------- verdicts


def interval(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the 95 % t-interval of the mean of the finite ``values``.

    With one value the interval is (NaN, NaN); with none the mean is NaN too.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(x.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = t_quantile_975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def _fmt_values(values: pd.Series) -> str:
    return "; ".join(f"seed {int(s)}: {v:.4f}" for s, v in values.items())


def _sources(claim: Claim, inputs: ClaimInputs) -> str:
    files: list[str] = []
    for kind in claim.inputs:
        files += list(inputs.sources.get(kind, [])) or [INPUT_KINDS[kind].split(" ")[0]]
    return "; ".join(dict.fromkeys(files))


def _studies_missing(claim: Claim, inputs: ClaimInputs) -> str | None:
    off = [s for s in claim.studies if not inputs.studies.get(s)]
    if claim.any_study and len(off) == len(claim.studies):
        return f"every study that trains the model is off (turn on one of {', '.join(f'studies.{s}' for s in off)})"
    if not claim.any_study and off:
        return f"study {off[0]} is off (studies.{off[0]} in the config)"
    return None


def evaluate_claim(claim: Claim, inputs: ClaimInputs, min_seeds: int = 2) -> dict:
    """One row of the claims table (:data:`CLAIM_COLUMNS`) under the module's verdict rule."""
    if not (isinstance(min_seeds, int) and min_seeds >= 2):
        raise ValueError(f"min_seeds must be an int >= 2 (an interval needs two values), got {min_seeds!r}")
    row = {
        "id": claim.id,
        "section": claim.section,
        "statement": claim.statement,
        "metric": claim.metric,
        "comparison": claim.comparison,
        "threshold": claim.threshold,
        "mean": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "n_seeds": 0,
        "values": "",
        "verdict": NOT_EVALUATED,
        "reason": "",
        "expected": False,
        "min_scale": str(claim.min_scale),
        "scale": str(inputs.scale) if inputs.scale is not None else "unknown",
        "inputs": _sources(claim, inputs),
    }
    missing = _studies_missing(claim, inputs)
    if missing:
        row["reason"] = missing
        return row
    try:
        values = claim.measure(inputs)
    except NotEvaluable as why:
        row["reason"] = str(why)
        return row
    values = pd.Series(values, dtype=float)
    finite = values[np.isfinite(values.to_numpy())]
    mean, low, high, n = interval(finite.to_numpy())
    row.update(mean=mean, ci_low=low, ci_high=high, n_seeds=n, values=_fmt_values(values))
    if inputs.scale is not None and not inputs.scale.covers(claim.min_scale):
        row["reason"] = f"run at {inputs.scale}, below this claim's minimum scale ({claim.min_scale})"
        return row
    if n < min_seeds:
        row["reason"] = (
            f"{n} seed{'s' if n != 1 else ''} with a finite value; the verdict needs at least {min_seeds} "
            "for an interval (add seeds to the config's seeds:)"
        )
        return row
    if claim.comparison == ">":
        ok, wrong_side = low > claim.threshold, high <= claim.threshold
    else:
        ok, wrong_side = high < claim.threshold, low >= claim.threshold
    if ok:
        row["verdict"] = SUPPORTED
        row["reason"] = f"the whole 95 % interval is {claim.comparison} {claim.threshold:g}"
    else:
        row["verdict"] = NOT_SUPPORTED
        row["reason"] = (
            f"contradicted: the whole 95 % interval is on the other side of {claim.threshold:g}"
            if wrong_side
            else f"inconclusive: the 95 % interval contains {claim.threshold:g}"
        )
    return row


def evaluate_claims(
    inputs: ClaimInputs, claims: Sequence[Claim] = CLAIMS, min_seeds: int = 2, expected: Sequence[str] = ()
) -> pd.DataFrame:
    """Every claim's row (:func:`evaluate_claim`), in registry order.

    ``expected`` (the config's ``claims.expected_supported``) sets the ``expected`` column, so
    the table itself says which claims the config that made it is meant to support.
    """
    if not isinstance(inputs, ClaimInputs):
        raise TypeError(f"evaluate_claims needs a ClaimInputs, got {type(inputs).__name__}")
    expected = set(check_claim_ids(list(expected)))
    known = {c.id for c in claims}
    if expected - known:
        raise ValueError(f"expected claim(s) {sorted(expected - known)} are not among the claims evaluated")
    rows = [evaluate_claim(c, inputs, min_seeds) | {"expected": c.id in expected} for c in claims]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def claims_markdown(table: pd.DataFrame, caption: str) -> str:
    """The claims table as Markdown: a count of verdicts, then one row per claim.

    Claims the config is meant to support (column ``expected``) are marked, so a reader sees
    at once whether one of them failed.
    """
    missing = [c for c in CLAIM_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"claims_markdown: table lacks column(s) {missing}")
    counts = table["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    rows = []
    for r in table.itertuples(index=False):
        measured = _fmt(r.mean)
        if math.isfinite(r.ci_low):
            measured += f" [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
        mark = " (expected)" if r.expected else ""
        rows.append(
            {
                "claim": f"`{r.id}`{mark}",
                "section": r.section,
                "measured (mean [95 % CI])": measured,
                "seeds": int(r.n_seeds),
                "test": f"{r.comparison} {r.threshold:g}",
                "verdict": f"**{r.verdict}**",
                "reason": r.reason,
            }
        )
    metrics = "\n".join(
        f"- `{r.id}` ({r.section}): {r.statement} Measured: {r.metric}. Per seed: {r.values if isinstance(r.values, str) and r.values else '–'}. "
        f"Read: {r.inputs}."
        for r in table.itertuples(index=False)
    )
    notes = (
        "Verdict rule: *supported* when the whole 95 % t-interval over seeds lies beyond the threshold "
        "in the claimed direction; *not supported* when it does not (inconclusive: the interval contains "
        "the threshold; contradicted: it lies wholly on the other side); *not evaluated* when a study, "
        "input, radius or seed count is missing (docs/claims.md). Intervals are over training seeds on "
        "a fixed evaluation subset."
    )
    return (
        "\n".join(
            [
                "# Claims of Wang et al. (2020), checked",
                "",
                f"Scale: {caption.strip()}",
                "",
                f"Verdicts: {summary}.",
                "",
                to_markdown(pd.DataFrame(rows)).rstrip(),
                "",
                notes,
                "",
                "## What each claim says and measures",
                "",
                metrics,
            ]
        )
        + "\n"
    )


# ----------------------------------------------------------------------------- paper vs reproduced

PAPER_COLUMNS = [
    "table", "row", "column", "paper", "ours", "ci_low", "ci_high", "n_seeds", "delta", "paper_in_interval",
]  # fmt: skip
_ATTACK_TITLES = {"clean": "clean", "fgsm": "FGSM", "pgd": "PGD"}


def _cell(ours: float, ci: float, n: int) -> tuple[float, float, float, str]:
    if not math.isfinite(ours):
        return float("nan"), float("nan"), float("nan"), "not run"
    if n < 2 or not math.isfinite(ci):
        return ours, float("nan"), float("nan"), f"– ({n} seed)"
    return ours, ours - ci, ours + ci, ""


def _inside(paper_value: float, low: float, high: float, note: str) -> str:
    if note:
        return note
    return "yes" if low <= paper_value <= high else "no"


def paper_vs_reproduced(table1: pd.DataFrame | None = None, table2: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every number of the paper's Tables 1 and 2 beside ours (one row per paper cell).

    ``table1`` / ``table2`` are the pipeline's ``results/tables/table1.csv`` / ``table2.csv``
    (``hfc.tables.table1``, ``hfc.robustness.table2``); with several seeds they carry 95 %
    half-widths (``*_ci95``) and ``n_seeds``. A paper cell we did not run (study off, radius /
    ρ / ε not configured) keeps its row with ``ours`` NaN and ``paper_in_interval`` "not run".
    ``paper_in_interval`` is "yes" / "no", or "– (1 seed)" when there is no interval.
    """
    rows = []
    t1 = table1 if table1 is not None else pd.DataFrame(columns=["band", "radius", "train_acc", "test_acc"])
    for ref in paper.TABLE1:
        hit = t1[(t1["band"] == ref["band"]) & (t1["radius"].astype(int) == ref["radius"])]
        for metric, title in (("train_acc", "train acc."), ("test_acc", "test acc.")):
            if hit.empty:
                ours, ci, n = float("nan"), float("nan"), 0
            else:
                r = hit.iloc[0]
                ours = float(r[metric])
                ci = float(r[f"{metric}_ci95"]) if f"{metric}_ci95" in hit.columns else float("nan")
                n = int(r["n_seeds"]) if "n_seeds" in hit.columns else 1
            value, low, high, note = _cell(ours, ci, n)
            rows.append(
                {
                    "table": "Table 1",
                    "row": f"{'LFC' if ref['band'] == 'low' else 'HFC'} r={ref['radius']}",
                    "column": title,
                    "paper": ref[metric],
                    "ours": value,
                    "ci_low": low,
                    "ci_high": high,
                    "n_seeds": n,
                    "delta": value - ref[metric],
                    "paper_in_interval": _inside(ref[metric], low, high, note),
                }
            )
    t2 = table2 if table2 is not None else pd.DataFrame(columns=["model", "rho", "attack", "eps", "accuracy"])
    for ref in paper.TABLE2:
        hit = t2[
            (t2["model"] == ref["model"])
            & (t2["rho"].map(_key) == _key(ref["rho"]))
            & (t2["attack"] == ref["attack"])
            & (t2["eps"].map(_key) == _key(ref["eps"]))
        ]
        if hit.empty:
            ours, ci, n = float("nan"), float("nan"), 0
        else:
            r = hit.iloc[0]
            ours = float(r["accuracy"])
            ci = float(r["accuracy_ci95"]) if "accuracy_ci95" in hit.columns else float("nan")
            n = int(r["n_seeds"]) if "n_seeds" in hit.columns else 1
        value, low, high, note = _cell(ours, ci, n)
        column = _ATTACK_TITLES[ref["attack"]] + ("" if ref["attack"] == "clean" else f" ε={ref['eps']:g}")
        rows.append(
            {
                "table": "Table 2",
                "row": f"M_{ref['model']} ρ={ref['rho']:g}",
                "column": column,
                "paper": ref["accuracy"],
                "ours": value,
                "ci_low": low,
                "ci_high": high,
                "n_seeds": n,
                "delta": value - ref["accuracy"],
                "paper_in_interval": _inside(ref["accuracy"], low, high, note),
            }
        )
    return pd.DataFrame(rows, columns=PAPER_COLUMNS)


def paper_vs_reproduced_markdown(frame: pd.DataFrame, caption: str) -> str:
    """:func:`paper_vs_reproduced` as Markdown: a section per table and a count of covered cells."""
    missing = [c for c in PAPER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"paper_vs_reproduced_markdown: frame lacks column(s) {missing}")
    setup = paper.PAPER_SETUP
    out = [
        "# Paper vs reproduced: Tables 1 and 2",
        "",
        f"Ours: {caption.strip()}.",
        f"Paper: {setup['dataset']} / {setup['model']}, {setup['epochs']} epochs. Our scale, dataset and "
        "network differ from the paper's, so values are not expected to agree; the claims "
        "(results/report/claims.md) test the paper's statements, which are about differences and orderings.",
        "",
    ]
    for table, title in (("Table 1", "Table 1 (§4.2): trained on LFC(r) or HFC(r), tested on the original test set"),
                         ("Table 2", "Table 2 (§6.3): first-layer kernels smoothed by ρ, clean and under attack")):  # fmt: skip
        part = frame[frame["table"] == table]
        ran = part[part["paper_in_interval"] != "not run"]
        with_ci = ran[ran["paper_in_interval"].isin(["yes", "no"])]
        out += [f"## {title}", ""]
        if ran.empty:
            out += ["Not run with this config (its study is off).", ""]
            continue
        count = (
            f"The paper's value lies inside our 95 % interval in {int((with_ci['paper_in_interval'] == 'yes').sum())} "
            f"of {len(with_ci)} cells."
            if len(with_ci)
            else "One seed: no interval, so no cell can be said to cover the paper's value."
        )
        shown = part.assign(
            ours=[
                "–" if not math.isfinite(o) else (f"{o:.4f} [{lo:.4f}, {hi:.4f}]" if math.isfinite(lo) else f"{o:.4f}")
                for o, lo, hi in zip(part["ours"], part["ci_low"], part["ci_high"])
            ],
            delta=[("–" if not math.isfinite(d) else f"{d:+.4f}") for d in part["delta"]],
        )[["row", "column", "paper", "ours", "delta", "n_seeds", "paper_in_interval"]]
        shown = shown.rename(columns={"ours": "ours (mean [95 % CI])", "delta": "Δ = ours − paper", "paper_in_interval": "paper inside our CI"})
        out += [count, "", to_markdown(shown).rstrip(), ""]
    return "\n".join(out)
