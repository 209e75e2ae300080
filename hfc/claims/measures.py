"""Measures: each turns a :class:`~hfc.claims.base.ClaimInputs` into the tested number per seed.

Names start with an underscore: they are the registry's building blocks, not a public API.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hfc.claims.base import ClaimInputs, Measure, NotEvaluable
from hfc.grid import SWAP_BAND


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
    return _band_mean_of(inputs, [(run, band, r) for r in radii], split)


def _band_mean_of(inputs: ClaimInputs, cells: Sequence[tuple[str, str, int]], split: str = "test") -> pd.Series:
    """Mean per seed of several (run, band, radius) accuracies on one split."""
    return pd.concat([_accuracy(inputs, run, split, band, radius) for run, band, radius in cells], axis=1).mean(axis=1)


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
            # studies.table1 may list a subset of frequency.radii (e.g. [4] on planted data)
            raise NotEvaluable(f"r={radius} is not among the radii Table 1 trains (studies.table1 / frequency.radii)")
        low = _accuracy(inputs, inputs.run("table1", f"low r={radius}"), "test", "original", 0)
        high = _accuracy(inputs, inputs.run("table1", f"high r={radius}"), "test", "original", 0)
        return _paired(low, high)

    return measure


def _hfc_trained_above_chance(inputs: ClaimInputs) -> pd.Series:
    runs = inputs.studies.get("table1") or {}
    radii = [r for r in (8, 12, 16) if f"high r={r}" in runs]
    if not radii:
        raise NotEvaluable("needs an HFC-trained run at r = 8, 12 or 16 (studies.table1 / frequency.radii)")
    accs = [_accuracy(inputs, inputs.run("table1", f"high r={r}"), "test", "original", 0) for r in radii]
    return pd.concat(accs, axis=1).max(axis=1) - inputs.chance


def _hfc_within_band(radius: int) -> Measure:
    """HFC(r)-trained model on the test images of its own band (x_h(r)), minus chance."""

    def measure(inputs: ClaimInputs) -> pd.Series:
        run = inputs.run("table1", f"high r={radius}")
        return _accuracy(inputs, run, "test", "high", radius) - inputs.chance

    return measure


# The radii of table1.hfc_trained_near_chance: where the paper reads "not generalizable".
_NEAR_CHANCE_RADII = (8, 12, 16)
# Below this own-band accuracy above chance there is nothing to transfer (registry: margin).
_WITHIN_BAND_MARGIN = 0.05


def _hfc_share_lost_in_transfer(inputs: ClaimInputs) -> pd.Series:
    """Share of the HFC(r)-trained models' above-chance own-band accuracy lost on the originals.

    Per seed, over r ∈ {8, 12, 16} as run: mean(own band − original) / mean(own band − chance).
    1 = all of it lost (the original-image result is the transfer gap), 0 = none.
    """
    runs = inputs.studies.get("table1") or {}
    radii = [r for r in _NEAR_CHANCE_RADII if f"high r={r}" in runs]
    if not radii:
        raise NotEvaluable("needs an HFC-trained run at r = 8, 12 or 16 (studies.table1 / frequency.radii)")
    own = _band_mean_of(inputs, [(runs[f"high r={r}"], "high", r) for r in radii])
    original = _band_mean_of(inputs, [(runs[f"high r={r}"], "original", 0) for r in radii])
    above = own - inputs.chance
    if not (above.mean() > _WITHIN_BAND_MARGIN):
        raise NotEvaluable(
            f"the HFC(r)-trained models are only {above.mean():+.3f} above chance on their own band (r ∈ "
            f"{radii}): no label information to transfer at this scale, so the share lost says nothing"
        )
    return _paired(own, original) / above


def _shift_control_transfer_gap(inputs: ClaimInputs) -> pd.Series:
    """Shift control: own inputs minus original test images, mean over the radii where it learned.

    The control (HFC(r) of the image + LFC(r) of another) learned its task at radius r when its
    accuracy on its own kind of test inputs is more than the margin above chance (mean over
    seeds); where it did not, its accuracy on the originals says nothing and the radius is left
    out. No radius left: not informative at this budget.
    """
    control = inputs.studies.get("shift_control") or {}
    if not control:
        raise NotEvaluable("the shift control is off (studies.shift_control)")
    learned, idle = [], []
    for label, run in control.items():
        radius = int(label.split("r=")[1])
        own = _accuracy(inputs, run, "test", SWAP_BAND, radius)
        (learned if own.mean() - inputs.chance > _WITHIN_BAND_MARGIN else idle).append((run, radius))
    if not learned:
        raise NotEvaluable(
            "not informative at this budget: the shift control did not learn its own inputs at any radius (test "
            f"accuracy within {_WITHIN_BAND_MARGIN} of chance at r ∈ {sorted(r for _, r in idle)}); its accuracy on "
            "the originals says nothing. Train longer (training.epochs)"
        )
    own = _band_mean_of(inputs, [(run, SWAP_BAND, r) for run, r in learned])
    original = _band_mean_of(inputs, [(run, "original", 0) for run, _ in learned])
    return _paired(own, original)


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


def _square_at_plateau(rows: pd.DataFrame, label: str, rho: float, eps: float) -> None:
    """Refuse a Square cell whose budget was short of its plateau: its accuracy would measure the
    budget, not the model (hfc.attack_suite.at_plateau)."""
    from hfc.attack_suite import PLATEAU_QUERIES, at_plateau

    queries = rows["queries"] if "queries" in rows.columns else pd.Series(float("nan"), index=rows.index)
    for (_, r), q in zip(rows.iterrows(), queries):
        if not at_plateau(float(r["accuracy"]), float(q)):
            raise NotEvaluable(
                f"Square ran {q:.0f} queries at M_{label} ρ={rho:g} ε={eps:g} (seed {r['seed']}), short of its plateau "
                f"({PLATEAU_QUERIES}): raise robustness.suite.square_queries, or name ε / ρ in square_eps / square_rhos"
            )


def _suite_gain(label: str, attack: str, eps: float) -> Measure:
    """ρ = 1 minus ρ = 0 accuracy of one model under one attack of the suite (hfc.attack_suite)."""

    def measure(inputs: ClaimInputs) -> pd.Series:
        frame = inputs.frame("attack_suite")

        def cell(rho: float) -> pd.Series:
            rows = frame[
                (frame["model"] == label)
                & (frame["rho"].map(_key) == _key(rho))
                & (frame["attack"] == attack)
                & (frame["eps"].map(_key) == _key(eps))
            ]
            if rows.empty:
                raise NotEvaluable(
                    f"no attack-suite cell M_{label} ρ={rho:g} {attack} ε={eps:g} "
                    "(robustness.rhos, robustness.suite.attacks / eps)"
                )
            if attack == "square":
                _square_at_plateau(rows, label, rho, eps)
            return rows.groupby("seed")["accuracy"].mean().astype(float)

        return _paired(cell(1.0), cell(0.0))

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
