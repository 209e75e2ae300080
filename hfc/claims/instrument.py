"""``instrument.*`` claims: on planted data (hfc/planted.py) the workflow must recover what was planted.

Beyond the paper: these do not test Wang et al.'s statements but the measurement itself. Each
is evaluated only when the data are planted with the band it checks (else ``not evaluated``,
saying so). Three protocols read the planted band (:data:`PROTOCOLS`): the ``vanilla`` model
(trained on the original planted images) on x_l(r0) / x_h(r0); the LFC(r0)- and
HFC(r0)-trained models of Table 1 (``studies.table1`` with r0 among its radii) on the test
images of their own band (``within_band``); and the same models on the original test images,
Table 1's protocol (``table1_original``). :data:`PLANTED_TRUTH` says, per mode, what each side
of r0 must show when a protocol recovers what was planted.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hfc.claims.base import Claim, ClaimInputs, Measure, NotEvaluable, Scale

__all__ = [
    "INSTRUMENT_CLAIMS", "PROTOCOLS", "PLANTED_TRUTH", "LEARNS", "AT_CHANCE", "LEARNED_MARGIN",
    "CHANCE_MARGIN", "TRANSFER_CHANCE_MARGIN", "threshold", "protocol_cell", "check_expected",
]  # fmt: skip

RUN = "vanilla"
# Planted evidence is learned within an epoch or two of a few hundred images.
_PLANTED_SCALE = Scale(train_images=500, epochs=1)
# A band that carries the label must give far more than chance (a learned template gives
# 0.9-1.0 on 10 classes); one that carries none must stay within 0.1 of it: the sampling
# spread of a chance accuracy on 1,000 test images is ±0.0095 (1 s.d.), so 0.1 is ~10 s.d.
CHANCE_MARGIN = 0.10
LEARNED_MARGIN = 0.50
# A band-trained model that saw no label is tested on original images, which carry the planted
# templates: its untrained response sends each class's template to some class of its own, so a
# seed's accuracy is chance plus the few classes that land on their own label (s.d. 0.01-0.035
# over seeds measured, against 0.0095 for sampling alone). 0.2 keeps the 3-seed interval clear
# of that spread while a model that read the label (> 0.5 above chance) stays far above it.
TRANSFER_CHANCE_MARGIN = 0.20
# Studies that train the vanilla model (configs/instrument/ use heuristics: [vanilla]).
_VANILLA = ("heuristics", "figure3", "adversarial")

LEARNS, AT_CHANCE = "learns", "at chance"
# Per mode and side of r0 ("low" = the LFC(r0) side, "high" = the HFC(r0) side): the label set
# that side's accuracy is scored against (hfc.instrument.LABEL_SETS) and what it must show.
# Conflict: each ring carries its own class on the test images (low ring a, high ring a + 1).
PLANTED_TRUTH: dict[str, dict[str, tuple[str, str]]] = {
    "high": {"low": ("given", AT_CHANCE), "high": ("given", LEARNS)},
    "low": {"low": ("given", LEARNS), "high": ("given", AT_CHANCE)},
    "conflict": {"low": ("low evidence", LEARNS), "high": ("high evidence", LEARNS)},
    "none": {"low": ("given", AT_CHANCE), "high": ("given", AT_CHANCE)},
}
PROTOCOLS = {
    "vanilla": "the vanilla model (trained on the original images) on x_l(r0) / x_h(r0)",
    "within_band": "the LFC(r0)- / HFC(r0)-trained model on the x_l(r0) / x_h(r0) test images (its own band)",
    "table1_original": "the LFC(r0)- / HFC(r0)-trained model on the original test images (Table 1's protocol)",
}
_TABLE1_PROTOCOLS = ("within_band", "table1_original")
_NAME = {"low": "LFC", "high": "HFC"}


def threshold(protocol: str, expect: str) -> float:
    """How far above chance ``expect`` (learns: more than; at chance: less than) is drawn."""
    if expect == LEARNS:
        return LEARNED_MARGIN
    return TRANSFER_CHANCE_MARGIN if protocol == "table1_original" else CHANCE_MARGIN


def protocol_cell(protocol: str, side: str) -> tuple[str, str]:
    """(model, test images) that read ``side`` under ``protocol``: model ``vanilla`` or the
    side's band (its Table 1 model); test images ``original`` or a band (at r0)."""
    if protocol not in PROTOCOLS or side not in ("low", "high"):
        raise ValueError(f"unknown protocol {protocol!r} or side {side!r}")
    if protocol == "vanilla":
        return RUN, side
    return side, side if protocol == "within_band" else "original"


def _planted(inputs: ClaimInputs, band: str) -> dict:
    if inputs.planted is None:
        raise NotEvaluable("the data are not planted (dataset.name: planted); this claim checks the instrument")
    if inputs.planted["band"] != band:
        raise NotEvaluable(f"the data are planted with band {inputs.planted['band']}; this claim needs band {band}")
    return dict(inputs.planted)


def _instrument_accuracy(inputs: ClaimInputs, band: str, labels: str, run: str = RUN) -> pd.Series:
    table = inputs.frame("instrument")
    rows = table[(table["run"] == run) & (table["band"] == band) & (table["labels"] == labels)]
    if rows.empty:
        raise NotEvaluable(f"results/tables/instrument.csv has no row for run {run}, band {band}, labels {labels}")
    if rows.duplicated("seed").any():
        raise ValueError(f"instrument table holds duplicated rows for {run} {band} {labels}")
    return rows.set_index("seed")["accuracy"].astype(float).sort_index()


def _band_run(inputs: ClaimInputs, side: str, r0: int) -> str:
    """The Table 1 run trained on ``side``'s band at r0."""
    runs = inputs.studies.get("table1") or {}
    if f"{side} r={r0}" not in runs:
        trained = sorted({int(label.split("r=")[1]) for label in runs})
        raise NotEvaluable(
            f"r0 = {r0} is not among the radii studies.table1 trains ({', '.join(map(str, trained)) or 'none'}): "
            f"the protocol needs the {_NAME[side]}({r0})-trained model; add {r0} to studies.table1"
        )
    return runs[f"{side} r={r0}"]


def _protocol_side(mode: str, protocol: str, side: str) -> Measure:
    """Accuracy minus chance of ``side``'s Table 1 model under a within-band / original-image protocol."""

    def measure(inputs: ClaimInputs) -> pd.Series:
        planted = _planted(inputs, mode)
        _, band = protocol_cell(protocol, side)
        run = _band_run(inputs, side, planted["radius"])
        labels, _ = PLANTED_TRUTH[mode][side]
        return _instrument_accuracy(inputs, band, labels, run) - inputs.chance

    return measure


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
            threshold=LEARNED_MARGIN,
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
            threshold=CHANCE_MARGIN,
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


def _protocol_rationale(mode: str, protocol: str, side: str) -> str:
    labels, expect = PLANTED_TRUTH[mode][side]
    x = f"x_{side[0]}(r0)"
    if expect == AT_CHANCE:
        spread = (
            "0.1 is ~10 s.d. of a chance accuracy on 1,000 test images."
            if protocol == "within_band"
            else "0.2, not 0.1: the original images carry the templates, and the model's untrained response sends each "
            "class's template to some class, so a seed lands a few points off chance (s.d. up to 0.035 measured)."
        )
        tested = f"on {x}" if protocol == "within_band" else "on the original images"
        return (
            f"by construction: {x} of the training images holds class-independent noise only (and uint8 rounding), so "
            f"nothing the {_NAME[side]}(r0)-trained model learned predicts a label, {tested} or any other; {spread}"
        )
    ring = "the label's template" if labels == "given" else f"its ring's class ({labels})"
    if protocol == "within_band":
        return (
            f"by construction: {x} of every training and test image holds {ring}; 0.5 above chance is far below "
            "what a learned template gives (0.9-1.0)."
        )
    conflict = (
        f" On the conflicting test images a transferring model predicts the {side} ring's class, which the given "
        "labels would score as wrong; it is scored against that ring's class."
        if mode == "conflict"
        else ""
    )
    return (
        f"Table 1's protocol: {x} carries the label by construction, but the model never saw the other band's "
        "content; whether it reads the same evidence inside full images is an empirical finding, so it can come out "
        f"either way and no config expects it. 0.5 above chance: it clearly transfers.{conflict}"
    )


def _protocol_claims(mode: str) -> tuple[Claim, ...]:
    """The within-band and Table 1 (original images) protocols' claims of one planted mode."""
    out = []
    for protocol in _TABLE1_PROTOCOLS:
        for side in ("low", "high"):
            labels, expect = PLANTED_TRUTH[mode][side]
            name = _NAME[side]
            tested = f"x_{side[0]}(r0)" if protocol == "within_band" else "original"
            against = "the given labels" if labels == "given" else f"the {labels} labels ({side} ring's class)"
            learns = expect == LEARNS
            where = "in the low ring" if mode == "low" else "in the high ring" if mode == "high" else "in both rings"
            out.append(
                Claim(
                    id=f"instrument.{mode}.{protocol}.{name.lower()}_trained_{'learns' if learns else 'at_chance'}",
                    section="instrument (beyond the paper)",
                    statement=(
                        f"With the labels planted {where} next to r0, the model trained on {name}(r0) images "
                        f"({'within-band' if protocol == 'within_band' else 'Table 1'} protocol) is "
                        f"{'accurate' if learns else 'at chance'} on the {tested} test images."
                    ),
                    metric=(
                        f"test accuracy of the {name}(r0)-trained model (studies.table1) on the {tested} test images "
                        f"against {against}, minus chance"
                    ),
                    comparison=">" if learns else "<",
                    threshold=threshold(protocol, expect),
                    min_scale=_PLANTED_SCALE,
                    studies=("table1",),
                    inputs=("instrument",),
                    measure=_protocol_side(mode, protocol, side),
                    rationale=_protocol_rationale(mode, protocol, side),
                )
            )
    return tuple(out)


INSTRUMENT_CLAIMS: tuple[Claim, ...] = (
    *_band_claims("high"),
    *_protocol_claims("high"),
    *_band_claims("low"),
    *_protocol_claims("low"),
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
    *_protocol_claims("conflict"),
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
        threshold=CHANCE_MARGIN,
        min_scale=_PLANTED_SCALE,
        studies=_VANILLA,
        any_study=True,
        inputs=("metrics",),
        measure=_none_largest,
        rationale="sampling spread of a chance accuracy on 500 images is ±0.013 (1 s.d.); 0.1 is beyond any of ~10 cells by chance.",
    ),
)

# Claims that read a Table 1 model at r0 (studies.table1 must train r0).
_NEEDS_TABLE1 = {c.id for c in INSTRUMENT_CLAIMS if "table1" in c.studies}


def check_expected(expected: Sequence[str], planted: dict | None, table1_radii: Sequence[int]) -> None:
    """ValueError naming the config keys when an expected ``instrument.*`` claim cannot be evaluated.

    Said at parse time rather than as a ``not evaluated`` verdict (a failed check) after every
    model was trained: a claim of another planted band, of planted data when the data are not
    planted, or of Table 1's protocol when studies.table1 does not train r0.
    """
    mine = [i for i in expected if i.startswith("instrument.")]
    if not mine:
        return
    if planted is None:
        raise ValueError(
            f"claims.expected_supported: {mine} check planted data, but dataset.name is not planted; "
            "remove them or use configs/instrument/"
        )
    other = [i for i in mine if i.split(".")[1] != planted["band"]]
    if other:
        raise ValueError(
            f"claims.expected_supported: {other} check another planted band than dataset.planted.band "
            f"{planted['band']}; remove them or change the band"
        )
    r0 = planted["radius"]
    need = [i for i in mine if i in _NEEDS_TABLE1]
    if need and r0 not in table1_radii:
        raise ValueError(
            f"claims.expected_supported: {need} read the LFC({r0})- and HFC({r0})-trained models, but studies.table1 "
            f"trains {'radii ' + str(list(table1_radii)) if table1_radii else 'none (it is off)'}, without "
            f"dataset.planted.radius {r0}: add {r0} to studies.table1 (e.g. studies.table1: [{r0}]) or remove them"
        )
