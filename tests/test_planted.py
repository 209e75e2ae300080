"""Planted datasets (hfc/planted.py), the instrument table (hfc/instrument.py) and the instrument.* claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hfc import claims, data, frequency, instrument, planted
from hfc.claims.instrument import INSTRUMENT_CLAIMS

VANILLA = {"heuristics": {"vanilla": "vanilla"}}


def _spectrum_energy_outside(images: np.ndarray, inner: float, outer: float) -> float:
    """Fraction of the (non-DC) spectral energy outside inner <= d < outer, by numpy's FFT."""
    n = images.shape[-1]
    spectrum = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = np.sqrt((i - n / 2) ** 2 + (j - n / 2) ** 2)
    ring = (d >= inner) & (d < outer)
    energy = np.abs(spectrum) ** 2
    energy[..., n // 2, n // 2] = 0
    return float(energy[..., ~ring].sum() / energy.sum())


@pytest.mark.parametrize("band, inner, outer", [("low", 2, 4), ("high", 4, 6)])
def test_templates_lie_in_their_ring(band, inner, outer):
    # Checked with numpy's FFT, independently of hfc.frequency: T and U have no energy off the ring.
    ring = planted._rings(16, 4, 2)[band]
    real, imag = planted._templates(ring, 10, 1, torch.Generator().manual_seed(0))
    for part in (real, imag):
        assert _spectrum_energy_outside(part.numpy(), inner, outer) < 1e-20
        assert torch.allclose(part.pow(2).mean(dim=(-2, -1)), torch.ones(10, 1, dtype=torch.float64))


@pytest.mark.parametrize("band", ["low", "high"])
def test_class_evidence_is_only_in_the_planted_band(band):
    d = planted.generate({"band": band, "train_size": 200, "test_size": 1000}, 16)
    x = data.to_float(d["test_images"])
    low, high = frequency.split(x, 4)
    labels = d["test_labels"]

    def between_class(component):
        means = torch.stack([component[labels == c].mean(0) for c in range(10)])
        return float(means.var(0).mean() / component.var(0).mean())

    carrying, other = (low, high) if band == "low" else (high, low)
    # ~0.01 is what 100 images per class give by chance; the planted band is far above it.
    assert between_class(carrying) > 0.3
    assert between_class(other) < 0.03


def test_generation_is_deterministic_and_seeded():
    a = planted.generate({"band": "high", "train_size": 50, "test_size": 20}, 16)
    b = planted.generate({"band": "high", "train_size": 50, "test_size": 20}, 16)
    c = planted.generate({"band": "high", "train_size": 50, "test_size": 20, "seed": 1}, 16)
    assert torch.equal(a["train_images"], b["train_images"]) and torch.equal(a["test_labels"], b["test_labels"])
    assert not torch.equal(a["train_images"], c["train_images"])
    assert a["train_images"].shape == (50, 1, 16, 16) and a["train_images"].dtype == torch.uint8
    assert torch.bincount(a["train_labels"]).tolist() == [5] * 10


def test_conflict_and_none_evidence():
    d = planted.generate({"band": "conflict", "train_size": 100, "test_size": 100}, 16)
    assert torch.equal(d["train_evidence_low"], d["train_labels"]) and torch.equal(d["train_evidence_high"], d["train_labels"])
    assert torch.equal(d["test_evidence_low"], d["test_labels"])
    assert torch.equal(d["test_evidence_high"], (d["test_labels"] + 1) % 10)
    n = planted.generate({"band": "none", "train_size": 1000, "test_size": 100}, 16)
    assert (n["train_evidence_high"] == -1).all()
    agreement = float((n["train_evidence_low"] == n["train_labels"]).float().mean())
    assert 0.05 < agreement < 0.15  # independent labels agree at chance (0.1)


@pytest.mark.parametrize(
    "settings, size, message",
    [
        ({"band": "middle"}, 16, "dataset.planted.band"),
        ({"radius": 10, "width": 2}, 16, "dataset.planted.radius + width"),
        ({"radius": 1}, 16, "dataset.planted.radius 1"),
        ({"colour": 3}, 16, "unknown key(s) colour"),
        ({}, None, "dataset.image_size"),
    ],
)
def test_bad_settings_name_the_key(settings, size, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        planted.check_settings(settings, size)


def test_load_dataset_generates_planted_and_saves_canonically(tmp_path):
    d = data.load_dataset("planted", image_size=16, planted={"train_size": 30, "test_size": 20})
    data.save_canonical(d, tmp_path / "c.pt")
    back = data.load_canonical(tmp_path / "c.pt")
    assert torch.equal(back["test_evidence_high"], d["test_evidence_high"]) and back["name"] == "planted"
    with pytest.raises(ValueError, match="needs dataset.image_size"):
        data.image_shape("planted", None)
    with pytest.raises(data.DatasetError, match="dataset.planted.band"):
        data.load_dataset("planted", image_size=16, planted={"band": "x"})


class _Constant(torch.nn.Module):
    """Predicts the class given by the first pixel of the image times 10 (a known answer)."""

    def forward(self, x):
        return torch.nn.functional.one_hot((x[:, 0, 0, 0] * 10).long().clamp(0, 9), 10).float()


def test_instrument_rows_score_every_label_set():
    x = torch.zeros(4, 1, 2, 2)
    x[:, 0, 0, 0] = torch.tensor([0.0, 0.1, 0.2, 0.35])  # predictions 0, 1, 2, 3
    labels = {"given": torch.tensor([0, 1, 5, 5]), "high evidence": torch.tensor([-1, 2, 2, 3])}
    rows = instrument.instrument_rows(_Constant(), {"original": x, "low": x}, labels, 4, "vanilla", 7)
    got = rows.set_index(["band", "labels"])
    assert got.loc[("original", "given"), "accuracy"] == pytest.approx(0.5)
    assert got.loc[("original", "high evidence"), "accuracy"] == pytest.approx(2 / 3)
    assert got.loc[("original", "high evidence"), "n"] == 3
    assert got.loc[("low", "given"), "radius"] == 4 and got.loc[("original", "given"), "radius"] == 0
    subset = {"test_labels": torch.tensor([0, 1]), "test_evidence_low": torch.tensor([0, 1]),
              "test_evidence_high": torch.tensor([-1, -1])}  # fmt: skip
    assert list(instrument.label_sets(subset)) == ["given", "low evidence"]


def _instrument_inputs(band, high_given, low_given, radius=(5.0, 6.0, 5.0), planted_settings=None):
    rows = []
    for seed in (0, 1, 2):
        for b, acc in (("original", 0.99), ("low", low_given[seed]), ("high", high_given[seed])):
            rows.append({"run": "vanilla", "seed": seed, "band": b, "radius": 4, "labels": "given", "accuracy": acc, "n": 500})
    radius_rows = pd.DataFrame({"run": "vanilla", "seed": [0, 1, 2], "radius": list(radius)})
    settings = planted_settings or {**planted.DEFAULTS, "band": band}
    return claims.ClaimInputs(
        studies=VANILLA, instrument=pd.DataFrame(rows), response_radius=radius_rows, planted=settings,
        scale=claims.Scale(2000, 3),
    )  # fmt: skip


def _verdict(claim_id, inputs):
    claim = next(c for c in INSTRUMENT_CLAIMS if c.id == claim_id)
    return claims.evaluate_claim(claim, inputs)


def test_instrument_claims_verdicts():
    good = _instrument_inputs("high", high_given=(0.98, 0.99, 0.97), low_given=(0.10, 0.09, 0.11))
    assert _verdict("instrument.high.hfc_carries_label", good)["verdict"] == claims.SUPPORTED
    assert _verdict("instrument.high.lfc_at_chance", good)["verdict"] == claims.SUPPORTED
    assert _verdict("instrument.high.response_radius_near_r0", good)["verdict"] == claims.SUPPORTED
    # a model that read the low band instead: the claims must fail
    wrong = _instrument_inputs("high", high_given=(0.1, 0.12, 0.09), low_given=(0.9, 0.95, 0.97), radius=(2.0, 2.0, 3.0))
    for claim_id in ("hfc_carries_label", "lfc_at_chance", "response_radius_near_r0"):
        assert _verdict(f"instrument.high.{claim_id}", wrong)["verdict"] == claims.NOT_SUPPORTED
    # other modes and non-planted data: not evaluated, saying why
    row = _verdict("instrument.low.lfc_carries_label", good)
    assert row["verdict"] == claims.NOT_EVALUATED and "band high" in row["reason"]
    not_planted = claims.ClaimInputs(studies=VANILLA, instrument=good.instrument)
    assert "not planted" in _verdict("instrument.high.hfc_carries_label", not_planted)["reason"]
    no_vanilla = claims.ClaimInputs(studies={}, instrument=good.instrument, planted=good.planted)
    assert "every study that trains the model is off" in _verdict("instrument.high.hfc_carries_label", no_vanilla)["reason"]


def test_conflict_and_none_claims():
    rows = []
    for seed, (low_acc, high_acc) in enumerate([(0.88, 0.09), (0.85, 0.1), (0.9, 0.07)]):
        for labels, acc in (("low evidence", low_acc), ("high evidence", high_acc)):
            rows.append({"run": "vanilla", "seed": seed, "band": "original", "radius": 0, "labels": labels, "accuracy": acc, "n": 500})
    inputs = claims.ClaimInputs(studies=VANILLA, instrument=pd.DataFrame(rows), planted={**planted.DEFAULTS, "band": "conflict"})
    assert _verdict("instrument.conflict.predictions_follow_planted_evidence", inputs)["verdict"] == claims.SUPPORTED
    follows = _verdict("instrument.conflict.follows_lfc", inputs)
    assert follows["verdict"] == claims.SUPPORTED and follows["mean"] == pytest.approx((0.79 + 0.75 + 0.83) / 3)

    def metrics(accuracies):
        return pd.DataFrame(
            [{"run": "vanilla", "seed": s, "epoch": 3, "split": "test", "band": b, "radius": r, "accuracy": a}
             for s, acc in enumerate(accuracies) for (b, r), a in zip([("original", 0), ("low", 4), ("high", 4)], acc)]
        )  # fmt: skip

    none = {**planted.DEFAULTS, "band": "none"}
    at_chance = claims.ClaimInputs(studies=VANILLA, metrics=metrics([(0.1, 0.11, 0.09)] * 3), planted=none)
    assert _verdict("instrument.none.no_band_carries_signal", at_chance)["verdict"] == claims.SUPPORTED
    leaking = claims.ClaimInputs(studies=VANILLA, metrics=metrics([(0.1, 0.5, 0.09), (0.1, 0.6, 0.1), (0.12, 0.55, 0.1)]), planted=none)
    assert _verdict("instrument.none.no_band_carries_signal", leaking)["verdict"] == claims.NOT_SUPPORTED
    # systematically below chance is signal too (the model learned to avoid the label)
    avoiding = claims.ClaimInputs(studies=VANILLA, metrics=metrics([(0.1, 0.0, 0.1), (0.1, 0.01, 0.1), (0.1, 0.0, 0.09)]), planted=none)
    assert _verdict("instrument.none.no_band_carries_signal", avoiding)["verdict"] == claims.NOT_SUPPORTED
