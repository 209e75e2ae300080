"""Table 2 assembly, the Figure 2 / §8 counts and the robustness figures, on hand-built inputs."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from hfc import paper, robustness
from hfc.attacks import accuracy_under_attack
from hfc.smoothing import smooth_first_conv

# ----------------------------------------------------------------------------- Table 2


def attacks_frame(seeds=(0,), eps=(0.03, 0.06), rhos=(0.0, 0.1), offset=0.0):
    """Synthetic attack_table output: accuracy encodes its cell, so every join can be checked."""
    rows = []
    for label, run in (("natural", "vanilla"), ("adversarial", "heuristic-adversarial")):
        for seed in seeds:
            for i, rho in enumerate(rhos):
                cells = [("clean", 0.0)] + [(a, e) for a in ("fgsm", "pgd") for e in eps]
                for j, (attack, e) in enumerate(cells):
                    acc = 0.5 + 0.1 * (label == "adversarial") + 0.01 * i + 0.001 * j + offset * seed
                    rows.append(dict(run=run, seed=seed, model=label, rho=rho, attack=attack, eps=e,
                                     accuracy=acc, n=100))  # fmt: skip
    return pd.DataFrame(rows, columns=robustness.ATTACK_COLUMNS)


def test_table2_columns_order_and_paper_values():
    table = robustness.table2(attacks_frame(eps=(0.03, 0.05)))
    assert list(table.columns) == ["model", "rho", "attack", "eps", "accuracy", "paper_accuracy"]
    assert len(table) == 2 * 2 * 5
    # natural before adversarial, ρ ascending, clean / fgsm / pgd, ε ascending
    first = table.iloc[:5]
    assert list(first["model"]) == ["natural"] * 5 and set(first["rho"]) == {0.0}
    assert list(first["attack"]) == ["clean", "fgsm", "fgsm", "pgd", "pgd"]
    assert list(first["eps"]) == [0.0, 0.03, 0.05, 0.03, 0.05]

    def cell(model, rho, attack, eps):
        hit = table[(table.model == model) & np.isclose(table.rho, rho) & (table.attack == attack)
                    & np.isclose(table.eps, eps)]  # fmt: skip
        assert len(hit) == 1
        return hit.iloc[0]

    # A YAML 0.1 meets the paper's 0.10; values from hfc.paper's transcription of Table 2.
    row = cell("natural", 0.1, "fgsm", 0.03)
    assert row.paper_accuracy == pytest.approx(0.149)
    assert row.accuracy == pytest.approx(0.5 + 0.01 + 0.001)
    assert cell("adversarial", 0.0, "pgd", 0.03).paper_accuracy == pytest.approx(0.403)
    assert cell("adversarial", 0.1, "clean", 0.0).paper_accuracy == pytest.approx(0.691)
    # ε = 0.05 is not a column of the paper
    assert math.isnan(cell("natural", 0.0, "fgsm", 0.05).paper_accuracy)


def test_table2_joins_float_noise():
    # ρ and ε that went through arithmetic or a CSV round trip still meet the paper's cells.
    frame = attacks_frame(rhos=(0.0, 0.1 + 1e-12))
    frame["eps"] = frame["eps"] * (1 + 1e-12)
    assert robustness.table2(frame)["paper_accuracy"].notna().all()


def test_table2_averages_seeds_with_interval():
    table = robustness.table2(attacks_frame(seeds=(0, 1, 2), offset=0.01))
    assert list(table.columns)[-2:] == ["accuracy_ci95", "n_seeds"]
    row = table[(table.model == "natural") & (table.rho == 0) & (table.attack == "clean")].iloc[0]
    assert row.accuracy == pytest.approx(0.5 + 0.01)  # mean of 0.50, 0.51, 0.52
    assert row.n_seeds == 3
    # t_{0.975, 2} · s / √3 with s = 0.01
    assert row.accuracy_ci95 == pytest.approx(4.302652729911275 * 0.01 / math.sqrt(3))


def test_table2_rejects_two_runs_for_one_model_and_seed():
    frame = attacks_frame()
    frame.loc[frame.model == "natural", "run"] = ["a", "b"] * int((frame.model == "natural").sum() // 2)
    with pytest.raises(ValueError, match="several runs"):
        robustness.table2(frame)


def test_table2_markdown_layout_and_deltas():
    table = robustness.table2(attacks_frame())
    md = robustness.table2_markdown(table, "fashion_mnist, small_cnn", attack_note="PGD 10 steps of ε/4.")
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    assert header == "| model | ρ | Clean | FGSM ε=0.03 | FGSM ε=0.06 | PGD ε=0.03 | PGD ε=0.06 |"
    rows = [line for line in lines if line.startswith("| M_") or line.startswith("|  |")]
    assert len(rows) == 4  # two models × two ρ, the model named on its first row only
    nat0 = next(line for line in lines if line.startswith("| M_natural | 0 |"))
    # clean: ours 0.500, paper 0.856, Δ −0.356; FGSM 0.03: ours 0.501, paper 0.107, Δ +0.394
    assert "0.500 / 0.856 / -0.356" in nat0
    assert "0.501 / 0.107 / +0.394" in nat0
    adv01 = next(line for line in lines if line.startswith("|  | 0.1 |") and "0.691" in line)
    assert "0.610 / 0.691 / -0.081" in adv01
    assert "fashion_mnist, small_cnn" in md and "PGD 10 steps of ε/4." in md
    with pytest.raises(ValueError, match="caption"):
        robustness.table2_markdown(table, " ")


def test_paper_table2_has_every_default_cell():
    # The default config's ρ and ε grid finds a paper value in every cell.
    frame = attacks_frame(eps=(0.03, 0.06, 0.09), rhos=(0.0, 0.10, 0.25, 0.50, 1.0))
    table = robustness.table2(frame)
    assert table["paper_accuracy"].notna().all()
    assert len(table) == len(paper.TABLE2)


# ----------------------------------------------------------------------------- attacks per ρ


def tiny_conv_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()


def test_attack_table_cells_match_direct_attacks():
    model = tiny_conv_model()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(12, 1, 6, 6, generator=g)
    labels = torch.randint(0, 3, (12,), generator=g)
    table = robustness.attack_table(model, images, labels, run="r", seed=3, label="natural", rhos=[0.0, 1.0],
                                    eps=[0.05, 0.1], pgd_steps=3, pgd_step_fraction=0.25, batch_size=5)  # fmt: skip
    assert list(table.columns) == robustness.ATTACK_COLUMNS
    assert len(table) == 2 * (1 + 2 * 2)
    assert set(table["n"]) == {12} and set(table["seed"]) == {3}
    assert table.loc[table.attack == "clean", "eps"].eq(0).all()
    smoothed = smooth_first_conv(model, 1.0)
    got = table.set_index(["rho", "attack", "eps"])["accuracy"]
    assert got[(1.0, "clean", 0.0)] == accuracy_under_attack(smoothed, images, labels, "clean")
    assert got[(1.0, "fgsm", 0.1)] == accuracy_under_attack(smoothed, images, labels, "fgsm", 0.1)
    assert got[(1.0, "pgd", 0.1)] == accuracy_under_attack(
        smoothed, images, labels, "pgd", 0.1, steps=3, step_size=0.025, random_start=False
    )
    assert got[(0.0, "pgd", 0.05)] == accuracy_under_attack(
        model, images, labels, "pgd", 0.05, steps=3, step_size=0.0125, random_start=False
    )


def test_attack_table_rejects_bad_settings():
    model, images, labels = tiny_conv_model(), torch.rand(3, 1, 6, 6), torch.zeros(3, dtype=torch.int64)
    kw = dict(run="r", seed=0, rhos=[0.0], eps=[0.03], pgd_steps=2, pgd_step_fraction=0.25)
    # Any model name labels the table (hfc.analyses); only table2 insists on natural / adversarial.
    with pytest.raises(ValueError, match="label must be a non-empty model name"):
        robustness.attack_table(model, images, labels, label="", **kw)
    assert set(robustness.attack_table(model, images, labels, label="robust", **kw)["model"]) == {"robust"}
    with pytest.raises(ValueError, match="eps"):
        robustness.attack_table(model, images, labels, label="natural", **{**kw, "eps": [0.0]})
    with pytest.raises(ValueError, match="rhos"):
        robustness.attack_table(model, images, labels, label="natural", **{**kw, "rhos": []})
    assert robustness.pgd_step_size(0.08, 0.25) == pytest.approx(0.02)


# ----------------------------------------------------------------------------- Figure 2 selection


class LookupModel(nn.Module):
    """Returns a fixed row of logits per image; the image's constant pixel value codes the row."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x):
        return self.logits[torch.round(x[:, 0, 0, 0] * 100).long()]


def coded(codes):
    return torch.tensor(codes, dtype=torch.float32).div(100).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone()


PROBS = torch.tensor([0.7, 0.2, 0.1])


def logits_for(cls):
    """Logits whose softmax puts 0.7 on ``cls``."""
    return torch.log(PROBS.roll(cls))


def story_case():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    # per image: (original right?, low right?, high right?)
    truth = [(1, 1, 1), (1, 0, 1), (0, 0, 1), (1, 0, 0), (1, 0, 1), (1, 1, 1)]
    rows = []
    for band in range(3):  # codes 0-5 original, 6-11 low, 12-17 high
        for i, y in enumerate(labels.tolist()):
            rows.append(logits_for(y if truth[i][band] else (y + 1) % 3))
    model = LookupModel(torch.stack(rows))
    return model, coded(range(6)), coded(range(6, 12)), coded(range(12, 18)), labels


def test_story_selection_on_a_hand_built_case():
    model, original, low, high, labels = story_case()
    pred = robustness.story_predictions(model, original, low, high, labels, batch_size=4)
    assert list(pred.columns) == ["index", "label", "pred_original", "conf_original", "pred_low", "conf_low",
                                  "pred_high", "conf_high", "selected"]  # fmt: skip
    assert pred.index[pred["selected"]].tolist() == [1, 4]
    assert pred["pred_low"].tolist() == [0, 2, 0, 1, 2, 2]
    np.testing.assert_allclose(pred["conf_high"], 0.7, rtol=1e-6)
    summary = robustness.story_summary(pred)
    assert summary["count"] == 2 and summary["n_test"] == 6
    assert summary["rate"] == pytest.approx(2 / 6)
    assert summary["p_original_right"] == pytest.approx(5 / 6)
    assert summary["p_high_right"] == pytest.approx(5 / 6)
    assert summary["p_low_wrong"] == pytest.approx(4 / 6)
    assert summary["expected_by_chance"] == pytest.approx(6 * 5 / 6 * 5 / 6 * 4 / 6)


def test_chance_count_formula():
    o = [1, 1, 1, 0]
    h = [1, 0, 1, 1]
    low = [0, 0, 1, 1]  # right on LFC for half
    assert robustness.chance_count(o, h, low) == pytest.approx(4 * 0.75 * 0.75 * 0.5)
    assert robustness.chance_count(torch.tensor(o, dtype=torch.bool), h, low) == pytest.approx(1.125)
    # Under exact independence (every combination once) the expectation is the count itself.
    grid = np.array([(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=bool)
    observed = int((grid[:, 0] & grid[:, 1] & ~grid[:, 2]).sum())
    assert robustness.chance_count(grid[:, 0], grid[:, 1], grid[:, 2]) == pytest.approx(observed) == 1
    with pytest.raises(ValueError, match="equal length"):
        robustness.chance_count([1, 0], [1], [0, 0])


# ----------------------------------------------------------------------------- §8 SVD control


def numpy_svd_parts(images: np.ndarray, rank: int):
    u, s, vt = np.linalg.svd(images.astype(np.float64), full_matrices=False)
    dom = np.einsum("ncik,nck,nckj->ncij", u[..., :rank], s[..., :rank], vt[..., :rank, :])
    trail = images - dom

    def rescale(x):
        peak = x.max(axis=(1, 2, 3), keepdims=True)
        return x / np.where(peak > 0, peak, 1.0)

    return rescale(dom), rescale(trail)


def test_svd_parts_rescaled_like_the_frequency_parts():
    x = torch.rand(5, 2, 7, 6, generator=torch.Generator().manual_seed(2))
    raw_dom, raw_trail = robustness.svd_parts(x, 2, rescale=False)
    torch.testing.assert_close(raw_dom + raw_trail, x, atol=1e-5, rtol=0)
    dom, trail = robustness.svd_parts(x, 2, rescale=True)
    torch.testing.assert_close(dom.amax(dim=(1, 2, 3)), torch.ones(5))
    torch.testing.assert_close(trail.amax(dim=(1, 2, 3)), torch.ones(5))
    ref_dom, ref_trail = numpy_svd_parts(x.numpy(), 2)
    np.testing.assert_allclose(dom.numpy(), ref_dom, atol=1e-5)
    np.testing.assert_allclose(trail.numpy(), ref_trail, atol=1e-4)


def test_svd_control_count_matches_an_independent_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8, 3)).eval()
    x = torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    ref_dom, ref_trail = numpy_svd_parts(x.numpy(), 3)
    with torch.no_grad():
        ref_pred = {name: model(torch.from_numpy(v).float()).argmax(1).numpy()
                    for name, v in (("orig", x.numpy()), ("dom", ref_dom), ("trail", ref_trail))}  # fmt: skip
    # Labels follow the trailing part's prediction, so the count is the images where the original
    # agrees with it and the dominant part does not.
    labels = torch.from_numpy(ref_pred["trail"]).long()
    expected = int(((ref_pred["orig"] == ref_pred["trail"]) & (ref_pred["dom"] != ref_pred["trail"])).sum())
    assert 0 < expected < 60  # the case is not degenerate
    dom, trail = robustness.svd_parts(x, 3, rescale=True)
    summary = robustness.story_summary(robustness.story_predictions(model, x, dom, trail, labels))
    assert summary["count"] == expected
    assert summary["p_high_right"] == 1.0


# ----------------------------------------------------------------------------- kernels and figures


def test_kernel_mosaic_places_each_kernel():
    w = torch.arange(3 * 2 * 2 * 2, dtype=torch.float32).reshape(3, 2, 2, 2)
    m = robustness.kernel_mosaic(w, columns=2)
    assert m.shape == (5, 13)  # two channel blocks of width 5, three gap columns between
    np.testing.assert_array_equal(m[0:2, 0:2], w[0, 0])
    np.testing.assert_array_equal(m[0:2, 3:5], w[1, 0])
    np.testing.assert_array_equal(m[3:5, 0:2], w[2, 0])
    np.testing.assert_array_equal(m[0:2, 8:10], w[0, 1])
    np.testing.assert_array_equal(m[3:5, 8:10], w[2, 1])
    assert np.isnan(m).sum() == m.size - w.numel()


def test_smoothness_table_smoothed_kernels_score_lower():
    models = {("vanilla", 0, "natural"): tiny_conv_model()}
    table = robustness.smoothness_table(models)
    assert list(table.columns) == ["run", "seed", "model", "rho", "adjacent_diff", "high_freq_energy"]
    raw, smooth = table.iloc[0], table.iloc[1]
    assert (raw.rho, smooth.rho) == (0.0, 1.0)
    assert smooth.adjacent_diff < raw.adjacent_diff
    assert smooth.high_freq_energy < raw.high_freq_energy


def test_figures_are_written(tmp_path):
    models = {"natural": tiny_conv_model(), "adversarial": smooth_first_conv(tiny_conv_model(), 0.5)}
    paths = robustness.figure7(models, tmp_path / "f7.png", tmp_path / "f7.pdf")
    assert all(p.stat().st_size > 1000 for p in paths)

    model, original, low, high, labels = story_case()
    pred = robustness.story_predictions(model, original, low, high, labels)
    paths = robustness.figure2(original, low, high, pred, ["a", "b", "c"], 12, tmp_path / "f2.png", tmp_path / "f2.pdf")
    assert all(p.stat().st_size > 1000 for p in paths)
    # No selected image still gives a figure that says so.
    none = pred.assign(selected=False)
    paths = robustness.figure2(original, low, high, none, ["a", "b", "c"], 12, tmp_path / "e.png", tmp_path / "e.pdf")
    assert all(p.exists() for p in paths)


def test_check_study_runs():
    robustness.check_study_runs({"natural": "vanilla", "adversarial": "heuristic-adversarial"})
    with pytest.raises(ValueError, match="studies.adversarial"):
        robustness.check_study_runs({})
