"""Table 1's within-band protocol and shift control (issue 17): tables, claims, training inputs."""

import numpy as np
import pandas as pd
import pytest
import torch

from hfc import claims, grid, tables
from hfc.claims.paper_tables import NOT_IN_PAPER
from hfc.train import METRIC_COLUMNS, derangement

RADII = (4, 8, 12, 16)
BIG = claims.Scale(train_images=4000, epochs=3)
STUDIES = {
    "table1": {f"{band} r={r}": f"band-{band}_r{r}" for band in ("low", "high") for r in RADII},
    "shift_control": {f"high r={r}": f"band-high_swap_r{r}" for r in RADII},
}


def _run(run, seed, train_band, train_radius, cells, epochs=2):
    """Rows of one run: ``cells`` maps (split, band, radius) to the last epoch's accuracy (else 0.01)."""
    bands = [("original", 0)] + [(b, r) for r in RADII for b in ("low", "high")]
    if train_band == "high_swap":
        bands.append(("high_swap", train_radius))
    rows = []
    for epoch in range(1, epochs + 1):
        for split in ("train", "test"):
            for band, radius in bands:
                acc = cells.get((split, band, radius), 0.01) if epoch == epochs else 0.01
                rows.append({
                    "run": run, "dataset": "cifar10", "model": "small_cnn", "heuristic": "vanilla",
                    "optimizer": "adam", "lr": 1e-3, "batch_size": 100, "train_band": train_band,
                    "train_radius": train_radius, "labels": "natural", "seed": seed, "epoch": epoch,
                    "split": split, "band": band, "radius": radius, "accuracy": acc, "loss": 1.0, "n": 500,
                })  # fmt: skip
    return rows


def _metrics(seeds=(0, 1, 2), own_high=0.35, original_high=0.12, control_original=0.30, control_own=0.32,
             with_control=True, noise=0.005):  # fmt: skip
    """Table 1 as in the CIFAR-10 check: HFC models good on their own band, near chance on the originals."""
    rows = []
    for seed in seeds:
        j = noise * (seed - 1)
        for r in RADII:
            rows += _run(f"band-low_r{r}", seed, "low", r, {("train", "low", r): 0.6, ("test", "original", 0): 0.5 + j,
                                                            ("test", "low", r): 0.52 + j})  # fmt: skip
            rows += _run(f"band-high_r{r}", seed, "high", r, {("train", "high", r): 0.4, ("test", "original", 0): original_high + j,
                                                              ("test", "high", r): own_high + 2 * j})  # fmt: skip
            if with_control:
                rows += _run(f"band-high_swap_r{r}", seed, "high_swap", r,
                             {("train", "high_swap", r): 0.45, ("test", "original", 0): control_original + j,
                              ("test", "high_swap", r): control_own + j})  # fmt: skip
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _verdicts(metrics, studies=STUDIES):
    table = claims.evaluate_claims(claims.ClaimInputs(studies=studies, metrics=metrics, scale=BIG))
    return table.set_index("id")


# ----------------------------------------------------------------------------- tables


def test_table1_own_band_gap_and_control_columns():
    table = tables.table1(_metrics())
    assert list(table.columns[:8]) == tables.TABLE1_COLUMNS + tables.WITHIN_BAND_COLUMNS
    assert set(tables.CONTROL_COLUMNS) <= set(table.columns) and table.columns[-1] == "n_seeds"
    high8 = table[(table["band"] == "high") & (table["radius"] == 8)].iloc[0]
    assert high8["test_acc"] == pytest.approx(0.12)
    assert high8["own_band_test_acc"] == pytest.approx(0.35)
    assert high8["transfer_gap"] == pytest.approx(0.23)
    assert high8["control_test_acc"] == pytest.approx(0.30) and high8["control_own_test_acc"] == pytest.approx(0.32)
    assert high8["control_gain"] == pytest.approx(0.18)
    # per seed the gap moves by 0.005 (own 2j − original j): its interval is that of (−0.005, 0, 0.005)
    assert high8["transfer_gap_ci95"] == pytest.approx(tables.ci95_halfwidth([-0.005, 0, 0.005]))
    low4 = table[(table["band"] == "low") & (table["radius"] == 4)].iloc[0]
    assert low4["own_band_test_acc"] == pytest.approx(0.52) and np.isnan(low4["control_test_acc"])
    # The control runs are not rows of their own.
    assert set(table["band"]) == {"low", "high"} and len(table) == 8


def test_table1_without_control_and_one_seed_has_no_control_or_interval_columns():
    table = tables.table1(_metrics(seeds=(0,), with_control=False))
    assert list(table.columns) == tables.TABLE1_COLUMNS + tables.WITHIN_BAND_COLUMNS


def test_table1_markdown_shows_the_within_band_table():
    text = tables.table1_markdown(tables.table1(_metrics()), "CIFAR-10 subset")
    assert "**Table 1, within band.**" in text and "shift control: original" in text
    row8 = next(line for line in text.splitlines() if line.startswith("| 8 | 0.5000"))
    cells = [c.strip() for c in row8.strip("|").split("|")]
    assert cells[4].startswith("0.1200") and cells[5].startswith("0.3500") and cells[6].startswith("+0.2300")
    assert cells[7].startswith("0.3000") and cells[9].startswith("+0.1800")
    plain = tables.table1_markdown(tables.table1(_metrics(with_control=False)), "x")
    assert "**Table 1, within band.**" in plain and "shift control" not in plain


def test_paper_vs_reproduced_lists_within_band_cells_without_paper_values():
    frame = claims.paper_vs_reproduced(tables.table1(_metrics()))
    within = frame[frame["table"] == "Table 1, within band"]
    assert len(within) == 8 * 2 + 4 * 2  # own band and gap per row; control and gain on the HFC rows
    assert within["paper"].isna().all() and (within["paper_in_interval"] == NOT_IN_PAPER).all()
    cell = within[(within["row"] == "HFC r=12") & (within["column"] == "own-band test acc.")].iloc[0]
    assert cell["ours"] == pytest.approx(0.35) and cell["ci_low"] < 0.35 < cell["ci_high"]
    text = claims.paper_vs_reproduced_markdown(frame, "x")
    assert "Table 1 within band (beyond the paper)" in text
    # The paper's Table 1 count is unchanged by the extra cells.
    assert frame[frame["table"] == "Table 1"].shape[0] == 16


# ----------------------------------------------------------------------------- claims


def test_within_band_claims_supported_when_hfc_generalises_within_band():
    v = _verdicts(_metrics())
    for r in RADII:
        row = v.loc[f"table1.hfc_generalises_within_band.r{r}"]
        assert row["verdict"] == "supported", row["reason"]
        assert row["mean"] == pytest.approx(0.25)
    # Near chance on the originals, as the paper reads it: both protocols agree on the numbers...
    assert v.loc["table1.hfc_trained_near_chance", "verdict"] == "supported"
    # ...and the share of own-band accuracy lost on the originals is (0.35 − 0.12) / (0.35 − 0.1) = 0.92.
    share = v.loc["table1.hfc_near_chance_is_transfer_gap"]
    assert share["verdict"] == "supported" and share["mean"] == pytest.approx(0.23 / 0.25, abs=0.01)
    gap = v.loc["table1.shift_control_has_no_transfer_gap"]
    assert gap["verdict"] == "supported" and gap["mean"] == pytest.approx(0.02)


def test_shift_control_claim_fails_when_the_control_loses_on_the_originals():
    row = _verdicts(_metrics(control_original=0.15, control_own=0.32)).loc["table1.shift_control_has_no_transfer_gap"]
    assert row["verdict"] == "not supported" and row["mean"] == pytest.approx(0.17)


def test_shift_control_radii_where_it_did_not_learn_are_left_out():
    metrics = _metrics()
    at_chance = (metrics["run"].isin(["band-high_swap_r12", "band-high_swap_r16"])) & (metrics["band"] == "high_swap")
    # At r = 12, 16 the control stays at chance on its own inputs and loses nothing on the originals either;
    # only r = 4, 8 (gap 0.02) count.
    metrics.loc[at_chance, "accuracy"] = 0.1
    row = _verdicts(metrics).loc["table1.shift_control_has_no_transfer_gap"]
    assert row["verdict"] == "supported" and row["mean"] == pytest.approx(0.02)
    metrics.loc[(metrics["band"] == "high_swap"), "accuracy"] = 0.12
    row = _verdicts(metrics).loc["table1.shift_control_has_no_transfer_gap"]
    assert row["verdict"] == "not evaluated" and row["reason"].startswith("not informative at this budget")


def test_within_band_claims_fail_when_the_band_holds_no_information():
    # HFC models at chance on their own band too: the paper's reading holds, nothing to transfer.
    v = _verdicts(_metrics(own_high=0.10, original_high=0.10, control_original=0.10, control_own=0.10))
    row = v.loc["table1.hfc_generalises_within_band.r8"]
    assert row["verdict"] == "not supported" and row["reason"].startswith("contradicted")
    share = v.loc["table1.hfc_near_chance_is_transfer_gap"]
    assert share["verdict"] == "not evaluated" and "nothing to transfer" in share["reason"].replace("no label information to transfer", "nothing to transfer")
    assert v.loc["table1.shift_control_has_no_transfer_gap", "verdict"] == "not evaluated"  # learned nothing


def test_transfer_gap_claim_not_supported_when_the_originals_keep_most_of_it():
    # Own band 0.50, original 0.45: 0.05 / 0.40 = 12 % lost; the original-image number is no gap.
    v = _verdicts(_metrics(own_high=0.50, original_high=0.45))
    row = v.loc["table1.hfc_near_chance_is_transfer_gap"]
    assert row["verdict"] == "not supported" and row["mean"] == pytest.approx(0.125, abs=0.01)


def test_control_claim_not_evaluated_without_the_control_study():
    studies = {**STUDIES, "shift_control": {}}
    row = _verdicts(_metrics(with_control=False), studies).loc["table1.shift_control_has_no_transfer_gap"]
    assert row["verdict"] == "not evaluated" and "shift_control" in row["reason"]


def test_expected_within_band_claim_on_a_radius_not_run_is_refused_naming_the_key():
    runs = {"table1": {"low r=4": "a", "high r=4": "b", "low r=8": "c", "high r=8": "d"}, "shift_control": {}}
    claims.check_expected_radii(["table1.hfc_generalises_within_band.r8"], runs)
    with pytest.raises(ValueError, match=r"claims.expected_supported lists table1.hfc_generalises_within_band.r12.*r=12"):
        claims.check_expected_radii(["table1.hfc_generalises_within_band.r12"], runs)
    with pytest.raises(ValueError, match="studies.shift_control trains no model"):
        claims.check_expected_radii(["table1.shift_control_has_no_transfer_gap"], runs)
    with pytest.raises(ValueError, match=r"reads r ∈ \{8, 12, 16\}"):
        claims.check_expected_radii(["table1.hfc_near_chance_is_transfer_gap"], {"table1": {"high r=4": "b"}})
    claims.check_expected_radii(["table1.hfc_near_chance_is_transfer_gap", "figure5.mixup_more_hfc"], runs)


# ----------------------------------------------------------------------------- grid and training


def _config(**studies):
    return {
        "frequency": {"radii": [4, 8, 12]},
        "training": {"model": "small_cnn", "optimizer": "adam", "lr": 1e-3, "batch_size": 100, "epochs": 3,
                     "shuffled_epochs": 6, "lr_by_optimizer": {}},  # fmt: skip
        "studies": studies,
    }


def test_shift_control_runs_per_radius_and_refusals():
    runs = grid.study_runs(_config(table1=True, shift_control=[8, 12]), "shift_control")
    assert runs == {"high r=8": "band-high_swap_r8", "high r=12": "band-high_swap_r12"}
    # true: at Table 1's radii, whichever they are
    assert len(grid.study_runs(_config(table1=True, shift_control=True), "shift_control")) == 3
    assert grid.study_radii(_config(table1=[4, 12], shift_control=True), "shift_control") == [4, 12]
    assert grid.study_radii(_config(table1=True, shift_control=[8]), "shift_control") == [8]
    with pytest.raises(ValueError, match=r"studies.shift_control: radius \[16\] not in frequency.radii \[4, 8, 12\]"):
        grid.study_radii(_config(table1=True, shift_control=[8, 16]), "shift_control")
    with pytest.raises(ValueError, match="studies.table1 is off"):
        grid.study_radii(_config(table1=False, shift_control=True), "shift_control")


def test_derangement_has_no_fixed_point_and_is_seeded():
    for n in (2, 3, 10, 1000):
        p = derangement(n, torch.Generator().manual_seed(n))
        assert sorted(p.tolist()) == list(range(n)) and bool((p != torch.arange(n)).all())
    a, b = (derangement(50, torch.Generator().manual_seed(1)) for _ in range(2))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1, torch.Generator())


def _toy_swap_run(tmp_path, epochs=1):
    """A 20-image toy subset split at r = 4 and the shift control's training data on it."""
    from hfc import frequency
    from hfc.data import save_canonical
    from hfc.files import atomic_save
    from hfc.train import SWAP_BAND, load_training_data

    g = torch.Generator().manual_seed(0)
    images = {s: torch.randint(0, 256, (n, 1, 16, 16), generator=g, dtype=torch.uint8) for s, n in (("train", 20), ("test", 10))}
    labels = {s: torch.arange(len(x)) % 2 for s, x in images.items()}
    subset = tmp_path / "subset.pt"
    save_canonical({"train_images": images["train"], "train_labels": labels["train"], "test_images": images["test"],
                    "test_labels": labels["test"], "classes": ["a", "b"], "name": "toy", "mean": [0.5], "std": [0.25],
                    "source": "test"}, subset)  # fmt: skip
    paths = {}
    for split in ("train", "test"):
        low, high = frequency.split(images[split].float() / 255, 4)
        paths[(split, 4)] = tmp_path / f"{split}_r4.pt"
        atomic_save({"split": split, "radius": 4, "low": low, "high": high}, paths[(split, 4)])
    spec = grid.RunSpec("small_cnn", "vanilla", "adam", 1e-3, 10, SWAP_BAND, 4, "natural", epochs)
    data = load_training_data(str(subset), paths, spec, [4], rescale=True, eval_train_size=None, eval_test_size=None,
                              eval_seed=0, label_seed=0, device=torch.device("cpu"))  # fmt: skip
    return images, spec, data


def test_swap_training_inputs_are_own_hfc_plus_another_images_lfc(tmp_path):
    """load_training_data for a high_swap run: raw x_h as images, raw x_l as fill; eval pairs fixed."""
    from hfc import frequency
    from hfc.train import SWAP_BAND

    images, _, data = _toy_swap_run(tmp_path)
    low, high = frequency.split(images["train"].float() / 255, 4)
    assert torch.allclose(data.images, high, atol=1e-6) and torch.allclose(data.fill, low, atol=1e-6)
    # image i + its own fill is the original image: the swapped inputs are whole images
    assert torch.allclose(data.images + data.fill, images["train"].float() / 255, atol=1e-5)
    # the ordinary x_h evaluation set is still rescaled by each image's maximum (frequency.rescale)
    rescaled = next(e for e in data.eval_sets if (e.split, e.band) == ("train", "high"))
    assert torch.allclose(rescaled.images, frequency.rescale_by_max(high), atol=1e-6)
    own = [e for e in data.eval_sets if e.band == SWAP_BAND]
    assert [(e.split, e.radius) for e in own] == [("train", 4), ("test", 4)]
    test_low, test_high = frequency.split(images["test"].float() / 255, 4)
    swapped = own[1].images
    for i in range(10):  # each own-input test image is x_h(i) + x_l(j) for one j != i
        diffs = [(swapped[i] - test_high[i] - test_low[j]).abs().max().item() for j in range(10)]
        j = int(np.argmin(diffs))
        assert diffs[j] < 1e-5 and j != i


def test_killed_shift_control_run_resumes_to_the_same_numbers(tmp_path):
    """The per-epoch partner draw comes from the run's generator, which the checkpoint restores."""
    from hfc.train import train_run

    _, spec, data = _toy_swap_run(tmp_path, epochs=2)
    settings = {"width_by_model": {"small_cnn": 0.25}, "dropout": 0.5, "mixup_alpha": 0.5, "adversarial": {}}
    _, whole = train_run("c", spec, data, 0, settings, progress=False, log=lambda m: None)
    checkpoint = tmp_path / "checkpoint.pt"
    train_run("c", spec, data, 0, settings, checkpoint_path=str(checkpoint), stop_after_epoch=1, progress=False,
              log=lambda m: None)  # fmt: skip
    _, resumed = train_run("c", spec, data, 0, settings, checkpoint_path=str(checkpoint), progress=False,
                           log=lambda m: None)  # fmt: skip
    pd.testing.assert_frame_equal(whole, resumed)
    assert set(whole["band"]) >= {"high_swap", "original", "low", "high"}
