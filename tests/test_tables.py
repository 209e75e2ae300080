"""Tables from synthetic metrics frames whose every expected number is known."""

import math

import numpy as np
import pandas as pd
import pytest

from hfc import paper, tables

COLUMNS = [
    "run", "dataset", "model", "heuristic", "optimizer", "lr", "batch_size", "train_band",
    "train_radius", "labels", "seed", "epoch", "split", "band", "radius", "accuracy", "loss", "n",
]  # fmt: skip
T_975_DOF2 = 4.302652729911275  # t_{0.975} with 2 degrees of freedom, from printed t tables


def make_run(run, final, *, epochs=2, train_band="original", train_radius=0, heuristic="vanilla",
             labels="natural", seed=0, radii=(4, 8), batch_size=100, **extra):  # fmt: skip
    """One run of the tidy schema. ``final`` maps (split, band, radius) → last-epoch accuracy;
    every other cell gets a filler (0.01 × epoch) that matches none of the expected values."""
    records = []
    for epoch in range(1, epochs + 1):
        for split in ("train", "test"):
            for band, radius in [("original", 0)] + [(b, r) for b in ("low", "high") for r in radii]:
                acc = 0.01 * epoch
                if epoch == epochs:
                    acc = final.get((split, band, radius), acc)
                records.append(
                    dict(run=run, dataset="cifar10", model="resnet18", heuristic=heuristic, optimizer="adam",
                         lr=1e-4, batch_size=batch_size, train_band=train_band, train_radius=train_radius,
                         labels=labels, seed=seed, epoch=epoch, split=split, band=band, radius=radius,
                         accuracy=acc, loss=1.0, n=10, **extra)
                )  # fmt: skip
    return pd.DataFrame(records, columns=COLUMNS + list(extra))


def band_run(band, radius, train_acc, test_acc, **kw):
    final = {
        ("train", band, radius): train_acc,
        ("test", "original", 0): test_acc,
        # Decoys: the same run's other splits/bands, which table1 must not pick.
        ("train", "original", 0): 0.99,
        ("test", band, radius): 0.77,
        ("train", "high" if band == "low" else "low", radius): 0.33,
    }
    return make_run(f"band-{band}_r{radius}", final, train_band=band, train_radius=radius, **kw)


# ----------------------------------------------------------------------------- paper


def test_paper_table1_spot_checks():
    t1 = paper.table1_frame().set_index(["band", "radius"])
    assert len(t1) == 8
    assert t1.loc[("low", 4), "train_acc"] == 0.9668
    assert t1.loc[("low", 4), "test_acc"] == 0.6167
    assert t1.loc[("low", 16), "test_acc"] == 0.7714
    assert t1.loc[("high", 8), "test_acc"] == 0.092
    assert t1.loc[("high", 16), "train_acc"] == 0.9384
    assert t1.loc[("high", 12), "test_acc"] == 0.0997


def test_paper_table2_spot_checks():
    t2 = paper.table2_frame()
    assert list(t2.columns) == ["model", "rho", "attack", "eps", "accuracy"]
    assert len(t2) == 2 * 5 * 7
    assert set(t2.loc[t2.attack == "clean", "eps"]) == {0.0}
    cell = t2.set_index(["model", "rho", "attack", "eps"])["accuracy"]
    assert cell[("natural", 0.0, "clean", 0.0)] == 0.856
    assert cell[("natural", 0.25, "fgsm", 0.06)] == 0.11
    assert cell[("natural", 1.0, "pgd", 0.03)] == 0.086
    assert cell[("adversarial", 0.0, "fgsm", 0.03)] == 0.435
    assert cell[("adversarial", 0.10, "pgd", 0.09)] == 0.047
    assert cell[("adversarial", 1.0, "pgd", 0.09)] == 0.131
    assert cell.index.is_unique


# ----------------------------------------------------------------------------- final_epoch


def test_final_epoch_per_run_and_seed():
    m = pd.concat(
        [
            make_run("a", {}, epochs=3, seed=0),
            make_run("a", {}, epochs=2, seed=1),
            make_run("b", {}, epochs=1),
        ]
    )
    last = tables.final_epoch(m)
    got = last.groupby(["run", "seed"])["epoch"].agg(["min", "max", "size"])
    assert got.loc[("a", 0)].tolist() == [3, 3, 10]
    assert got.loc[("a", 1)].tolist() == [2, 2, 10]
    assert got.loc[("b", 0)].tolist() == [1, 1, 10]
    with pytest.raises(ValueError, match="duplicated"):
        tables.final_epoch(pd.concat([m, make_run("b", {}, epochs=1)]))


# ----------------------------------------------------------------------------- table1


def test_table1_picks_trained_band_and_original_test_rows():
    m = pd.concat(
        [
            make_run("vanilla", {("train", "original", 0): 0.95, ("test", "original", 0): 0.8}),
            band_run("low", 4, 0.9, 0.6, epochs=3),
            band_run("high", 8, 0.8, 0.1),
            # Figure 6's BatchNorm run on LFC r=4 must not leak into Table 1.
            band_run("low", 4, 0.5, 0.4, heuristic="batchnorm", epochs=3).assign(run="heuristic-batchnorm_r4"),
        ]
    )
    df = tables.table1(m)
    assert list(df.columns) == tables.TABLE1_COLUMNS + tables.WITHIN_BAND_COLUMNS
    assert df[["band", "radius"]].values.tolist() == [["low", 4], ["high", 8]]
    # own band: the decoy ("test", band, radius) = 0.77 is exactly what the within-band protocol reads
    assert df["own_band_test_acc"].tolist() == pytest.approx([0.77, 0.77])
    assert df["transfer_gap"].tolist() == pytest.approx([0.17, 0.67])
    assert df.loc[0, ["train_acc", "test_acc"]].tolist() == pytest.approx([0.9, 0.6])
    assert df.loc[1, ["train_acc", "test_acc"]].tolist() == pytest.approx([0.8, 0.1])
    assert df.loc[0, ["paper_train_acc", "paper_test_acc"]].tolist() == [0.9668, 0.6167]
    assert df.loc[1, ["paper_train_acc", "paper_test_acc"]].tolist() == [0.9768, 0.092]


def test_table1_sorted_low_first_then_radius_and_paper_nan_elsewhere():
    radii = (2, 4, 8, 16)
    m = pd.concat(
        [
            band_run("high", 16, 0.7, 0.2, radii=radii),
            band_run("low", 8, 0.8, 0.6, radii=radii),
            band_run("high", 4, 0.9, 0.3, radii=radii),
            band_run("low", 4, 0.85, 0.55, radii=radii),
            band_run("low", 2, 0.75, 0.45, radii=radii),
        ]
    )
    df = tables.table1(m)
    assert df[["band", "radius"]].values.tolist() == [["low", 2], ["low", 4], ["low", 8], ["high", 4], ["high", 16]]
    assert df["train_acc"].tolist() == pytest.approx([0.75, 0.85, 0.8, 0.9, 0.7])
    assert np.isnan(df.loc[0, "paper_train_acc"]) and np.isnan(df.loc[0, "paper_test_acc"])
    assert df.loc[4, "paper_test_acc"] == 0.1281


def test_table1_mean_and_t_interval_over_seeds():
    trains, tests = [0.90, 0.92, 0.97], [0.60, 0.62, 0.58]
    m = pd.concat(
        [band_run("low", 4, a, b, seed=s) for s, (a, b) in enumerate(zip(trains, tests))]
        + [band_run("high", 4, 0.5, 0.2, seed=0)]
    )
    df = tables.table1(m)
    assert list(df.columns) == tables.TABLE1_COLUMNS + tables.WITHIN_BAND_COLUMNS + [
        "train_acc_ci95", "test_acc_ci95", "own_band_test_acc_ci95", "transfer_gap_ci95", "n_seeds",
    ]  # fmt: skip
    low = df.iloc[0]
    # Hand computation: mean 0.93, sample variance (0.03² + 0.01² + 0.04²)/2 = 0.0013.
    assert low["train_acc"] == pytest.approx(0.93)
    assert low["train_acc_ci95"] == pytest.approx(T_975_DOF2 * math.sqrt(0.0013) / math.sqrt(3))
    # Test: mean 0.60, sample sd 0.02.
    assert low["test_acc"] == pytest.approx(0.60)
    assert low["test_acc_ci95"] == pytest.approx(T_975_DOF2 * 0.02 / math.sqrt(3))
    assert low["n_seeds"] == 3
    high = df.iloc[1]
    assert high["n_seeds"] == 1 and np.isnan(high["train_acc_ci95"]) and np.isnan(high["test_acc_ci95"])


def test_t_quantile_known_values():
    assert tables.t_quantile_975(1) == pytest.approx(12.706204736174698, rel=1e-10)
    assert tables.t_quantile_975(2) == pytest.approx(T_975_DOF2, rel=1e-10)
    assert tables.t_quantile_975(4) == pytest.approx(2.7764451051977934, rel=1e-10)
    assert tables.t_quantile_975(29) == pytest.approx(2.045229642132703, rel=1e-10)
    with pytest.raises(ValueError, match="positive integer"):
        tables.t_quantile_975(0)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for dof in [*range(1, 41), 75, 200]:
        assert tables.t_quantile_975(dof) == pytest.approx(stats.t.ppf(0.975, dof), rel=1e-9), dof


def test_table1_rejects_bad_input():
    with pytest.raises(ValueError, match="no runs trained on LFC/HFC"):
        tables.table1(make_run("vanilla", {}))
    with pytest.raises(ValueError, match="lacks column"):
        tables.table1(band_run("low", 4, 0.9, 0.6).drop(columns="train_band"))
    twins = pd.concat([band_run("low", 4, 0.9, 0.6), band_run("low", 4, 0.8, 0.5).assign(run="other")])
    with pytest.raises(ValueError, match="several runs"):
        tables.table1(twins)


def test_table1_markdown_layout_and_deltas():
    m = pd.concat([band_run("low", 4, 0.9, 0.6), band_run("high", 8, 0.8, 0.1)])
    text = tables.table1_markdown(tables.table1(m), "CIFAR-10, ResNet-18, 2 epochs on 10 % of the data")
    lines = text.splitlines()
    assert "CIFAR-10, ResNet-18, 2 epochs on 10 % of the data" in text
    header = next(line for line in lines if line.startswith("| LFC"))
    assert header.index("LFC") < header.index("HFC")
    assert "| 4 | 0.9000 | 0.9668 | -0.0668 | 0.6000 | 0.6167 | -0.0167 | 4 | – | – | – | – | – | – |" in lines
    assert "| 8 | – | – | – | – | – | – | 8 | 0.8000 | 0.9768 | -0.1768 | 0.1000 | 0.0920 | +0.0080 |" in lines
    assert "Δ = ours − paper" in text
    with pytest.raises(ValueError, match="caption"):
        tables.table1_markdown(tables.table1(m), "  ")


def test_table1_markdown_shows_seed_interval():
    m = pd.concat([band_run("low", 4, a, 0.6, seed=s) for s, a in enumerate([0.90, 0.92, 0.97])])
    text = tables.table1_markdown(tables.table1(m), "tiny")
    half = T_975_DOF2 * math.sqrt(0.0013) / math.sqrt(3)
    assert f"0.9300 ± {half:.4f} | 0.9668 | -0.0368" in text
    assert "3 seeds" in text


# ----------------------------------------------------------------------------- study_summary


def test_study_summary_per_variant_gap_bands_and_seed_mean():
    def run(variant, seed, train, test, low4, high8):
        final = {
            ("train", "original", 0): train,
            ("test", "original", 0): test,
            ("test", "low", 4): low4,
            ("test", "high", 8): high8,
            ("train", "low", 4): low4 + 0.1,
        }
        return make_run(f"bs-{variant}", final, seed=seed, batch_size=variant, variant=f"bs{variant}")

    m = pd.concat(
        [
            run(500, 0, 0.80, 0.70, 0.50, 0.20),
            run(100, 0, 0.95, 0.75, 0.40, 0.30),
            run(100, 1, 0.97, 0.71, 0.44, 0.34),
        ]
    )
    out = tables.study_summary(m)
    assert out["variant"].tolist() == ["bs500", "bs100"]  # order of first appearance
    assert list(out.columns[:4]) == ["variant", "train_acc", "test_acc", "gap"]
    assert out.columns[-1] == "n_seeds"
    for prefix in ("test_low", "test_high", "train_low", "train_high"):
        assert {f"{prefix}_r4", f"{prefix}_r8"} <= set(out.columns)
    b500, b100 = out.iloc[0], out.iloc[1]
    assert b500[["train_acc", "test_acc", "gap"]].tolist() == pytest.approx([0.80, 0.70, 0.10])
    assert b100[["train_acc", "test_acc", "gap"]].tolist() == pytest.approx([0.96, 0.73, 0.23])
    assert b100["test_low_r4"] == pytest.approx(0.42)
    assert b100["test_high_r8"] == pytest.approx(0.32)
    assert b100["train_low_r4"] == pytest.approx(0.52)
    assert b100["test_low_r8"] == pytest.approx(0.02)  # the filler: picked from the final epoch
    assert (b500["n_seeds"], b100["n_seeds"]) == (1, 2)

    by_size = tables.study_summary(m, variant_col="batch_size")
    assert by_size["batch_size"].tolist() == [100, 500]  # numeric variants sort ascending


def test_study_summary_uses_the_trained_band_for_train_acc():
    m = band_run("low", 4, 0.9, 0.6).assign(variant="lfc4")
    out = tables.study_summary(m)
    assert out.loc[0, "train_acc"] == pytest.approx(0.9)
    assert out.loc[0, "gap"] == pytest.approx(0.3)


def test_study_summary_rejects_missing_variant_and_clashing_runs():
    with pytest.raises(ValueError, match="variant"):
        tables.study_summary(make_run("a", {}))
    clash = pd.concat([make_run("a", {}, variant="x"), make_run("b", {}, variant="x")])
    with pytest.raises(ValueError, match="several runs"):
        tables.study_summary(clash)


# ----------------------------------------------------------------------------- to_markdown


def test_to_markdown_renders_cells():
    df = pd.DataFrame({"name": ["a|b", "c"], "n": [1, 2], "acc": [0.5, float("nan")]})
    assert tables.to_markdown(df) == (
        "| name | n | acc |\n|---|---:|---:|\n| a\\|b | 1 | 0.5000 |\n| c | 2 | – |\n"
    )
