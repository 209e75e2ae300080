"""Frequency-response sweep (hfc.response) against a brute-force split per radius."""

import math

import pandas as pd
import pytest
import torch

from hfc import response
from hfc.frequency import max_radius, rescale_by_max, split
from hfc.models import build_model


def _model_and_data(channels=1, size=16, n=48, seed=0):
    torch.manual_seed(seed)
    model = build_model("small_cnn", channels, 10, size, mean=0.5, std=0.25, width=0.25).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    # Smooth blobs plus fine texture, so both bands carry something the model reacts to.
    coarse = torch.rand(n, channels, 4, 4, generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    images = (0.7 * images + 0.3 * torch.rand(n, channels, size, size, generator=generator)).clamp(0, 1)
    with torch.no_grad():
        # Labels are the model's own answers on the originals: clean accuracy 1, and every
        # x_l / x_h accuracy measures how often the band alone keeps the model's answer.
        labels = model(images).argmax(dim=1)
    return model, images, labels


def _brute_force(model, images, labels, radius, rescale):
    low, high = split(images, radius)
    if rescale:
        low, high = rescale_by_max(low), rescale_by_max(high)
    with torch.no_grad():
        return tuple(int((model(x).argmax(dim=1) == labels).sum()) / len(labels) for x in (low, high))


def test_sweep_radii_reach_the_half_diagonal():
    assert response.sweep_radii(28, 28) == list(range(1, 20))  # half diagonal 19.8
    assert response.sweep_radii(32, 32)[-1] == math.floor(max_radius(32, 32)) == 22
    with pytest.raises(ValueError, match="ints >= 2"):
        response.sweep_radii(1, 28)


@pytest.mark.parametrize("rescale", [True, False])
def test_sweep_matches_brute_force_split_per_radius(rescale):
    model, images, labels = _model_and_data()
    curve = response.frequency_response(model, images, labels, rescale=rescale, batch_size=len(images))
    radii = response.sweep_radii(16, 16)
    assert list(curve.columns) == response.RESPONSE_COLUMNS
    assert len(curve) == 1 + 2 * len(radii)
    first = curve.iloc[0]
    assert (first["band"], first["radius"], first["accuracy"], first["n"]) == ("original", 0, 1.0, len(images))
    for radius in radii:
        low, high = _brute_force(model, images, labels, radius, rescale)
        got = curve.set_index(["band", "radius"])["accuracy"]
        assert (got[("low", radius)], got[("high", radius)]) == (low, high), radius
    # The sweep must see something: x_l of the tiniest radius loses the model's answer often,
    # x_l at the half diagonal (everything but the corners) keeps it.
    low = curve[curve["band"] == "low"].set_index("radius")["accuracy"]
    assert low[radii[0]] < 0.9 and low[radii[-1]] > low[radii[0]]


def test_batches_do_not_change_the_numbers_and_rgb_works():
    model, images, labels = _model_and_data(channels=3, size=12, n=30)
    whole = response.frequency_response(model, images, labels, radii=[2, 5, 8], batch_size=30)
    batched = response.frequency_response(model, images, labels, radii=[8, 2, 5], batch_size=7)
    pd.testing.assert_frame_equal(whole, batched)
    assert list(whole["radius"]) == [0, 2, 5, 8, 2, 5, 8]


def test_model_mode_is_restored_and_bad_inputs_are_named():
    model, images, labels = _model_and_data(n=8)
    model.train()
    response.frequency_response(model, images, labels, radii=[3], batch_size=4)
    assert model.training
    with pytest.raises(ValueError, match="N×C×H×W"):
        response.frequency_response(model, images[0], labels, radii=[3])
    with pytest.raises(ValueError, match="labels must be a tensor of shape \\(8,\\)"):
        response.frequency_response(model, images, labels[:3], radii=[3])
    with pytest.raises(ValueError, match="out of range"):
        response.frequency_response(model, images, labels, radii=[40])
    with pytest.raises(ValueError, match="repeated"):
        response.frequency_response(model, images, labels, radii=[3, 3])


def _curve(clean, lows, highs=None):
    rows = [{"band": "original", "radius": 0, "accuracy": clean, "n": 100}]
    rows += [{"band": "low", "radius": r, "accuracy": a, "n": 100} for r, a in enumerate(lows, start=1)]
    rows += [{"band": "high", "radius": r, "accuracy": a, "n": 100} for r, a in enumerate(highs or [0.1] * len(lows), start=1)]
    return pd.DataFrame(rows)


def test_response_radius_threshold_and_beyond_the_sweep():
    curve = _curve(0.8, [0.1, 0.5, 0.71, 0.72, 0.8])
    found = response.response_radius(curve)
    assert found["target_accuracy"] == pytest.approx(0.72)
    assert found["radius"] == 4.0  # 0.71 falls short of 0.72, 0.72 reaches it
    assert response.response_radius(curve, fraction=0.5)["radius"] == 2.0
    never = response.response_radius(_curve(0.9, [0.1, 0.2, 0.3]))
    assert math.isnan(never["radius"])
    with pytest.raises(ValueError, match="fraction"):
        response.response_radius(curve, fraction=1.5)


def test_radius_table_and_summary_over_seeds():
    curves = pd.concat(
        [
            _curve(0.8, [0.1, 0.75, 0.8]).assign(run="vanilla", seed=0),
            _curve(0.8, [0.1, 0.5, 0.8]).assign(run="vanilla", seed=1),
            _curve(0.9, [0.1, 0.2, 0.3]).assign(run="band-high_r4", seed=0),
        ]
    )
    table = response.response_radius_table(curves)
    assert list(table.columns) == response.RADIUS_COLUMNS
    assert table.set_index(["run", "seed"])["radius"].to_dict() == pytest.approx(
        {("vanilla", 0): 2.0, ("vanilla", 1): 3.0, ("band-high_r4", 0): float("nan")}, nan_ok=True
    )
    assert list(table["max_radius"]) == [3.0, 3.0, 3.0]
    summary = response.response_radius_summary(table, {"vanilla": "natural"}).set_index("run")
    assert summary.loc["vanilla", "radius"] == 2.5 and summary.loc["vanilla", "n_seeds"] == 2
    # two seeds 2 and 3: t(0.975, 1) = 12.706, s = 0.7071, half-width 12.706 * 0.5
    assert summary.loc["vanilla", "radius_ci95"] == pytest.approx(12.7062 * 0.5, rel=1e-4)
    assert summary.loc["vanilla", "variant"] == "natural"
    assert summary.loc["band-high_r4", "n_beyond"] == 1
    markdown = response.response_radius_markdown(summary.reset_index(), 0.9, "toy scale")
    assert "0.9 × its clean accuracy" in markdown and "toy scale" in markdown and "| vanilla |" in markdown


def test_response_figure_draws_one_file_pair(tmp_path):
    curves = pd.concat(
        [
            _curve(0.8, [0.1, 0.75, 0.8]).assign(run="vanilla", seed=s)
            for s in (0, 1)
        ]
        + [_curve(0.7, [0.2, 0.4, 0.6]).assign(run="heuristic-mixup", seed=s) for s in (0, 1)]
    )
    paths = response.response_figure(
        curves, {"vanilla": "vanilla", "heuristic-mixup": "mixup"}, "Figure 5", tmp_path / "r.png", tmp_path / "r.pdf"
    )
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError, match="no curves for run"):
        response.response_figure(curves, {"opt-sgd": "sgd"}, "x", tmp_path / "a.png", tmp_path / "a.pdf")
