"""``instrument.*`` claims: on planted data (hfc/planted.py) the workflow must recover what was planted.

Beyond the paper: these do not test Wang et al.'s statements but the measurement itself. Each
is evaluated only when the data are planted with the band it checks (else ``not evaluated``,
saying so), always on the ``vanilla`` model (trained on the original planted images).
"""

from __future__ import annotations

import pandas as pd

from hfc.claims.base import Claim, ClaimInputs, Measure, NotEvaluable, Scale

__all__ = ["INSTRUMENT_CLAIMS"]

RUN = "vanilla"
# Planted evidence is learned within an epoch or two of a few hundred images.
_PLANTED_SCALE = Scale(train_images=500, epochs=1)
_CHANCE_MARGIN = 0.10
_LEARNED_MARGIN = 0.50
# Studies that train the vanilla model (configs/instrument/ use heuristics: [vanilla]).
_VANILLA = ("heuristics", "figure3", "adversarial")


def _planted(inputs: ClaimInputs, band: str) -> dict:
    if inputs.planted is None:
        raise NotEvaluable("the data are not planted (dataset.name: planted); this claim checks the instrument")
    if inputs.planted["band"] != band:
        raise NotEvaluable(f"the data are planted with band {inputs.planted['band']}; this claim needs band {band}")
    return dict(inputs.planted)


def _instrument_accuracy(inputs: ClaimInputs, band: str, labels: str) -> pd.Series:
    table = inputs.frame("instrument")
    rows = table[(table["run"] == RUN) & (table["band"] == band) & (table["labels"] == labels)]
    if rows.empty:
        raise NotEvaluable(f"results/tables/instrument.csv has no row for run {RUN}, band {band}, labels {labels}")
    if rows.duplicated("seed").any():
        raise ValueError(f"instrument table holds duplicated rows for {RUN} {band} {labels}")
    return rows.set_index("seed")["accuracy"].astype(float).sort_index()


def _above_chance(planted_band: str, band: str, labels: str = "given") -> Measure:
    def measure(inputs: ClaimInputs) -> pd.Series:
        _planted(inputs, planted_band)
        return _instrument_accuracy(inputs, band, labels) - inputs.chance

    return measure


def _radius_off_ring(planted_band: str) -> Measure:
    def measure(inputs: ClaimInputs) -> pd.Series:
        planted = _planted(inputs, planted_band)
        table = inputs.frame("response_radius")
        rows = table[table["run"] == RUN]
        if rows.empty:
            raise NotEvaluable(f"results/tables/response_radius.csv has no row for run {RUN} (response.enabled?)")
        radius = rows.set_index("seed")["radius"].astype(float).sort_index()
        return (radius - planted["radius"]).abs() - planted["width"]

    return measure


def _conflict_sum(inputs: ClaimInputs) -> pd.Series:
    _planted(inputs, "conflict")
    return _instrument_accuracy(inputs, "original", "low evidence") + _instrument_accuracy(
        inputs, "original", "high evidence"
    )


def _conflict_gap(inputs: ClaimInputs) -> pd.Series:
    _planted(inputs, "conflict")
    return _instrument_accuracy(inputs, "original", "low evidence") - _instrument_accuracy(
        inputs, "original", "high evidence"
    )


def _none_largest(inputs: ClaimInputs) -> pd.Series:
    _planted(inputs, "none")
    metrics = inputs.frame("metrics")
    rows = metrics[(metrics["run"] == RUN) & (metrics["split"] == "test")]
    if rows.empty:
        raise NotEvaluable(f"run {RUN} has no test rows in the metrics")
    rows = rows[rows["epoch"] == rows.groupby("seed")["epoch"].transform("max")]
    return (rows["accuracy"].astype(float) - inputs.chance).abs().groupby(rows["seed"]).max().sort_index()


def _band_claims(band: str) -> tuple[Claim, ...]:
    other = "high" if band == "low" else "low"
    name, other_name = ("LFC", "HFC") if band == "low" else ("HFC", "LFC")
    common = dict(section="instrument (beyond the paper)", min_scale=_PLANTED_SCALE, studies=_VANILLA, any_study=True)
    return (
        Claim(
            id=f"instrument.{band}.{name.lower()}_carries_label",
            statement=f"With the labels planted in {name}(r0) only, the model is accurate on x_{band[0]}(r0).",
            metric=f"test accuracy of the vanilla model on x_{band[0]}(r0), minus chance",
            comparison=">",
            threshold=_LEARNED_MARGIN,
            inputs=("instrument",),
            measure=_above_chance(band, band),
            rationale="by construction x_%s(r0) holds every template; 0.5 above chance is far below what a learned template gives." % band[0],
            **common,
        ),
        Claim(
            id=f"instrument.{band}.{other_name.lower()}_at_chance",
            statement=f"With the labels planted in {name}(r0) only, the model is at chance on x_{other[0]}(r0).",
            metric=f"test accuracy of the vanilla model on x_{other[0]}(r0), minus chance",
            comparison="<",
            threshold=_CHANCE_MARGIN,
            inputs=("instrument",),
            measure=_above_chance(band, other),
            rationale=f"by construction x_{other[0]}(r0) holds class-independent noise only (and uint8 rounding).",
            **common,
        ),
        Claim(
            id=f"instrument.{band}.response_radius_near_r0",
            statement=f"With the labels planted in the ring next to r0 inside {name}(r0), the response-curve radius lands near r0.",
            metric="|response radius − r0| − ring width (≤ 0: within the planted ring's span)",
            comparison="<",
            threshold=1.0,
            inputs=("response_radius",),
            measure=_radius_off_ring(band),
            rationale=(
                "the evidence lies in (r0 − width, r0] (low) or (r0, r0 + width] (high), so x_l reaches 90 % of the "
                "clean accuracy inside that span; one bin of slack for a template partly recognisable from part of its ring."
            ),
            **common,
        ),
    )


INSTRUMENT_CLAIMS: tuple[Claim, ...] = (
    *_band_claims("high"),
    *_band_claims("low"),
    Claim(
        id="instrument.conflict.predictions_follow_planted_evidence",
        section="instrument (beyond the paper)",
        statement="On test images whose LFC and HFC carry different classes, the model predicts one of those two.",
        metric="accuracy against the low ring's labels plus accuracy against the high ring's labels, original test images",
        comparison=">",
        threshold=0.80,
        min_scale=_PLANTED_SCALE,
        studies=_VANILLA,
        any_study=True,
        inputs=("instrument",),
        measure=_conflict_sum,
        rationale="each image carries exactly two templates; a third class means the model read something not planted.",
    ),
    Claim(
        id="instrument.conflict.follows_lfc",
        section="instrument (beyond the paper)",
        statement="Trained where both bands predict the label, the model follows the LFC's label when they disagree.",
        metric="accuracy against the low ring's labels minus against the high ring's, original test images",
        comparison=">",
        threshold=0.0,
        min_scale=_PLANTED_SCALE,
        studies=_VANILLA,
        any_study=True,
        inputs=("instrument",),
        measure=_conflict_gap,
        rationale="direction only: which band's label wins is what the instrument reports (the paper's LFC-first story predicts LFC).",
    ),
    Claim(
        id="instrument.none.no_band_carries_signal",
        section="instrument (beyond the paper)",
        statement="With labels independent of the images, no band carries signal: the model is at chance on x, x_l(r) and x_h(r) at every radius.",
        metric="largest |test accuracy − chance| of the vanilla model over the original images and x_l, x_h at every radius",
        comparison="<",
        threshold=_CHANCE_MARGIN,
        min_scale=_PLANTED_SCALE,
        studies=_VANILLA,
        any_study=True,
        inputs=("metrics",),
        measure=_none_largest,
        rationale="sampling spread of a chance accuracy on 500 images is ±0.013 (1 s.d.); 0.1 is beyond any of ~10 cells by chance.",
    ),
)
