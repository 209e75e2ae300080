"""Claim registry and verdicts (hfc.claims) on synthetic per-seed frames; tools/check_claims.py."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from hfc import claims
from hfc.train import METRIC_COLUMNS

RADII = (4, 8, 12, 16)
TABLE1_RUNS = {f"{band} r={r}": f"band-{band}_r{r}" for band in ("low", "high") for r in RADII}
STUDIES = {
    "table1": TABLE1_RUNS,
    "figure3": {"natural": "vanilla", "shuffled": "labels-shuffled"},
    "heuristics": {"vanilla": "vanilla", "mixup": "heuristic-mixup", "adversarial": "heuristic-adversarial"},
    "adversarial": {"natural": "vanilla", "adversarial": "heuristic-adversarial"},
}
BIG = claims.Scale(train_images=4000, epochs=3)


def _rows(run, seed, accuracy, train_band="original", train_radius=0, labels="natural", epochs=3):
    """Tidy metrics of one run and seed; ``accuracy(split, band, radius, epoch)`` gives each cell."""
    rows = []
    for epoch in range(1, epochs + 1):
        for split in ("train", "test"):
            cells = [("original", 0)] + [(band, r) for r in RADII for band in ("low", "high")]
            for band, radius in cells:
                rows.append({
                    "run": run, "dataset": "fashion_mnist", "model": "small_cnn", "heuristic": "vanilla",
                    "optimizer": "adam", "lr": 1e-3, "batch_size": 100, "train_band": train_band,
                    "train_radius": train_radius, "labels": labels, "seed": seed, "epoch": epoch,
                    "split": split, "band": band, "radius": radius,
                    "accuracy": float(accuracy(split, band, radius, epoch)), "loss": 1.0, "n": 500,
                })  # fmt: skip
    return rows


def _metrics(seeds, lfc_minus_hfc=0.4, noise=0.01, lfc_trend=0.2, mixup_hfc=0.0):
    """A frame where LFC-trained models beat HFC-trained ones by ``lfc_minus_hfc`` (± noise per seed)."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        jitter = lambda: rng.normal(0, noise)  # noqa: E731
        for r in RADII:
            low_acc, high_acc = 0.8 + jitter(), 0.8 - lfc_minus_hfc + jitter()
            rows += _rows(f"band-low_r{r}", seed, lambda s, b, rr, e, a=low_acc: a, "low", r)
            rows += _rows(f"band-high_r{r}", seed, lambda s, b, rr, e, a=high_acc: a, "high", r)

        def vanilla(split, band, radius, epoch, j=jitter()):
            if band == "low":  # rises with r
                return 0.6 + lfc_trend * (radius - 4) / 12 + j
            if band == "high":  # falls with r
                return 0.4 - 0.25 * (radius - 4) / 12 + j
            return 0.85 + j

        rows += _rows("vanilla", seed, vanilla)
        rows += _rows("labels-shuffled", seed, lambda s, b, r, e, j=jitter(): 0.12 + j, labels="shuffled", epochs=6)
        rows += _rows(
            "heuristic-mixup", seed, lambda s, b, r, e, j=jitter(): vanilla(s, b, r, e) + (mixup_hfc if b == "high" else 0) + j
        )
        rows += _rows("heuristic-adversarial", seed, lambda s, b, r, e, j=jitter(): 0.75 + j if b == "original" else 0.1 + j)
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return frame


def _row(table, claim_id):
    return table.set_index("id").loc[claim_id]


def test_registry_covers_the_issue_list_and_is_well_formed():
    ids = set(claims.CLAIM_IDS)
    for needed in (
        "table1.lfc_beats_hfc.r12", "table1.hfc_trained_near_chance", "figure3.natural_learns_lfc4_more_than_shuffled",
        "natural.lfc_accuracy_rises_with_r", "natural.hfc_accuracy_falls_with_r", "figure2.story_above_chance.r12",
        "figure4.larger_batch_smaller_gap", "figure4.larger_batch_less_hfc", "figure5.mixup_more_hfc",
        "figure5.batchnorm_more_hfc", "figure5.adversarial_hfc_invariant", "figure6.batchnorm_speeds_lfc_training",
        "figure7.adversarial_kernels_smoother", "table2.smoothing_lowers_clean.natural",
        "table2.smoothing_raises_fgsm.natural", "table2.smoothing_raises_pgd.natural", "svd.fewer_story_samples",
    ):  # fmt: skip
        assert needed in ids
    for claim in claims.CLAIMS:
        # the paper's claims name its section; the known-answer checks of the instrument are beyond the paper
        assert claim.section.startswith("§") or (claim.id.startswith("instrument.") and "beyond the paper" in claim.section)
        assert claim.statement and claim.metric and claim.rationale
        assert claim.studies and set(claim.inputs) <= set(claims.INPUT_KINDS)
    with pytest.raises(ValueError, match="comparison"):
        claims.Claim("x", "§1", "s", "m", ">=", 0.0, BIG, ("table1",), ("metrics",), lambda i: None, "r")
    with pytest.raises(ValueError, match="unknown claim id"):
        claims.check_claim_ids(["table1.lfc_beats_hfc.r12", "table1.typo"])


def test_interval_is_the_student_t_interval():
    mean, low, high, n = claims.interval([0.30, 0.40, 0.50, float("nan")])
    # s = 0.1, n = 3, t(0.975, 2) = 4.3027
    assert (n, mean) == (3, pytest.approx(0.4))
    assert (low, high) == (pytest.approx(0.4 - 4.3027 * 0.1 / np.sqrt(3), abs=1e-4), pytest.approx(0.4 + 4.3027 * 0.1 / np.sqrt(3), abs=1e-4))
    assert np.isnan(claims.interval([0.5])[1]) and claims.interval([])[3] == 0


def test_a_clear_effect_is_supported():
    inputs = claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2]), scale=BIG)
    table = claims.evaluate_claims(inputs, expected=["table1.lfc_beats_hfc.r12"])
    assert list(table.columns) == claims.CLAIM_COLUMNS
    row = _row(table, "table1.lfc_beats_hfc.r12")
    assert row["verdict"] == "supported", row["reason"]
    assert row["n_seeds"] == 3 and row["ci_low"] > 0.1 and row["mean"] == pytest.approx(0.4, abs=0.05)
    assert row["expected"] and not _row(table, "table1.lfc_beats_hfc.r4")["expected"]
    assert row["values"].count("seed") == 3 and "metrics" in row["inputs"]
    for claim_id in ("natural.lfc_accuracy_rises_with_r", "natural.hfc_accuracy_falls_with_r",
                     "figure3.natural_learns_lfc4_more_than_shuffled", "figure5.adversarial_lower_accuracy",
                     "figure5.adversarial_hfc_invariant"):  # fmt: skip
        assert _row(table, claim_id)["verdict"] == "supported", claim_id
    # The HFC-trained models here sit 0.3 above chance: that claim is contradicted, not "inconclusive".
    near = _row(table, "table1.hfc_trained_near_chance")
    assert near["verdict"] == "not supported" and near["reason"].startswith("contradicted")


def test_a_failing_or_noisy_effect_is_not_supported():
    failing = claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2], lfc_minus_hfc=-0.2), scale=BIG)
    row = _row(claims.evaluate_claims(failing), "table1.lfc_beats_hfc.r12")
    assert row["verdict"] == "not supported" and row["reason"].startswith("contradicted") and row["ci_high"] < 0.1
    # Mean above the threshold but seeds all over the place: the interval straddles it.
    noisy = claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2], lfc_minus_hfc=0.15, noise=0.15), scale=BIG)
    row = _row(claims.evaluate_claims(noisy), "table1.lfc_beats_hfc.r12")
    assert row["verdict"] == "not supported" and row["reason"].startswith("inconclusive")
    assert row["ci_low"] < 0.1 < row["ci_high"]
    # mix-up capturing *less* HFC than vanilla: the paper's direction fails.
    less = claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2], mixup_hfc=-0.1), scale=BIG)
    assert _row(claims.evaluate_claims(less), "figure5.mixup_more_hfc")["verdict"] == "not supported"


def test_one_seed_missing_study_small_scale_and_missing_input_are_not_evaluated():
    one = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0]), scale=BIG))
    row = _row(one, "table1.lfc_beats_hfc.r12")
    assert row["verdict"] == "not evaluated" and "1 seed" in row["reason"]
    assert row["mean"] == pytest.approx(0.4, abs=0.05) and np.isnan(row["ci_low"])  # the value is still shown

    off = {**STUDIES, "table1": {}}
    row = _row(claims.evaluate_claims(claims.ClaimInputs(studies=off, metrics=_metrics([0, 1, 2]), scale=BIG)), "table1.lfc_beats_hfc.r4")
    assert row["verdict"] == "not evaluated" and "studies.table1" in row["reason"]

    tiny = claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2]), scale=claims.Scale(200, 2))
    row = _row(claims.evaluate_claims(tiny), "table1.lfc_beats_hfc.r12")
    assert row["verdict"] == "not evaluated" and "minimum scale" in row["reason"] and row["n_seeds"] == 3

    table = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2]), scale=BIG))
    for claim_id in ("table2.smoothing_raises_fgsm.natural", "figure7.adversarial_kernels_smoother", "svd.fewer_story_samples"):
        row = _row(table, claim_id)
        assert row["verdict"] == "not evaluated" and "missing" in row["reason"], claim_id
    row = _row(table, "figure4.larger_batch_smaller_gap")
    assert row["verdict"] == "not evaluated" and "batch_size" in row["reason"]


def test_a_radius_not_run_is_not_evaluated():
    metrics = _metrics([0, 1, 2])
    metrics = metrics[~metrics["run"].isin(["band-low_r12", "band-high_r12"])]
    studies = {**STUDIES, "table1": {k: v for k, v in TABLE1_RUNS.items() if "r=12" not in k}}
    row = _row(claims.evaluate_claims(claims.ClaimInputs(studies=studies, metrics=metrics, scale=BIG)), "table1.lfc_beats_hfc.r12")
    assert row["verdict"] == "not evaluated" and "r=12 is not among the radii Table 1 trains (studies.table1" in row["reason"]


def test_table1_at_a_subset_of_the_radii():
    """studies.table1: [4] (planted data) trains r = 4 only: the claims at other radii say why they are not evaluated."""
    metrics = _metrics([0, 1, 2])
    metrics = metrics[~metrics["run"].str.match(r"band-(low|high)_r(8|12|16)$")]
    studies = {**STUDIES, "table1": {k: v for k, v in TABLE1_RUNS.items() if k.endswith("r=4")}}
    table = claims.evaluate_claims(claims.ClaimInputs(studies=studies, metrics=metrics, scale=BIG))
    assert _row(table, "table1.lfc_beats_hfc.r4")["verdict"] != "not evaluated"
    for claim_id in ("table1.lfc_beats_hfc.r8", "table1.hfc_trained_near_chance"):
        row = _row(table, claim_id)
        assert row["verdict"] == "not evaluated" and "studies.table1" in row["reason"], claim_id


def _attacks(seeds, fgsm_gain):
    rows = []
    for seed in seeds:
        for model, base in (("natural", 0.30), ("adversarial", 0.40)):
            for rho in (0.0, 1.0):
                gain = fgsm_gain + 0.005 * seed if rho == 1.0 else 0.0
                rows.append({"run": model, "seed": seed, "model": model, "rho": rho, "attack": "clean", "eps": 0.0,
                             "accuracy": 0.85 - 0.05 * rho, "n": 500})  # fmt: skip
                for eps in (0.03, 0.09):
                    for attack in ("fgsm", "pgd"):
                        rows.append({"run": model, "seed": seed, "model": model, "rho": rho, "attack": attack,
                                     "eps": eps, "accuracy": base - eps + gain, "n": 500})  # fmt: skip
    return pd.DataFrame(rows)


def test_robustness_claims_from_per_seed_tables():
    seeds = [0, 1, 2]
    figure2 = pd.DataFrame(
        [{"run": "vanilla", "seed": s, "radius": r, "count": c + s, "n_test": 500, "expected_by_chance": 10.0}
         for s in seeds for r, c in ((4, 60), (12, 9))]  # fmt: skip
    )
    kernels = pd.DataFrame(
        [{"run": m, "seed": s, "model": m, "rho": 0.0, "adjacent_diff": d + 0.01 * s, "high_freq_energy": 0.7}
         for s in seeds for m, d in (("natural", 1.3), ("adversarial", 1.0))]  # fmt: skip
    )
    svd = pd.DataFrame([{"run": "vanilla", "seed": s, "n_test": 500, "frequency_count": 20, "svd_count": 20 + s} for s in seeds])
    inputs = claims.ClaimInputs(
        studies=STUDIES, attacks=_attacks(seeds, 0.1), figure2_count=figure2, kernel_smoothness=kernels,
        svd_control=svd, scale=BIG, sources={"attacks": ["a.csv", "b.csv"]},
    )  # fmt: skip
    table = claims.evaluate_claims(inputs)
    assert _row(table, "figure2.story_above_chance.r4")["verdict"] == "supported"
    r12 = _row(table, "figure2.story_above_chance.r12")
    assert r12["verdict"] == "not supported" and r12["mean"] == pytest.approx(1.0)
    assert _row(table, "figure7.adversarial_kernels_smoother")["verdict"] == "supported"
    assert _row(table, "table2.smoothing_raises_fgsm.natural")["verdict"] == "supported"
    assert _row(table, "table2.smoothing_lowers_clean.natural")["verdict"] == "supported"
    assert _row(table, "table2.smoothing_raises_fgsm.natural")["inputs"] == "a.csv; b.csv"
    assert _row(table, "svd.fewer_story_samples")["verdict"] == "not supported"
    # No gain from smoothing: not supported; an ε that was not run: not evaluated.
    flat = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, attacks=_attacks(seeds, -0.02), scale=BIG))
    assert _row(flat, "table2.smoothing_raises_fgsm.natural")["verdict"] == "not supported"
    no09 = _attacks(seeds, 0.1)
    no09 = no09[no09["eps"] != 0.09]
    row = _row(claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, attacks=no09, scale=BIG)), "table2.smoothing_raises_pgd.natural")
    assert row["verdict"] == "not evaluated" and "ε=0.09" in row["reason"]


def test_markdown_names_verdicts_and_expected_claims():
    inputs = claims.ClaimInputs(studies=STUDIES, metrics=_metrics([0, 1, 2]), scale=BIG)
    table = claims.evaluate_claims(inputs, expected=["table1.lfc_beats_hfc.r16"])
    text = claims.claims_markdown(table, "Fashion-MNIST toy")
    assert "`table1.lfc_beats_hfc.r16` (expected)" in text and "Fashion-MNIST toy" in text
    assert "**supported**" in text and "**not evaluated**" in text and "Verdict rule" in text


def test_paper_vs_reproduced_lists_every_paper_number():
    table1 = pd.DataFrame({
        "radius": [4, 4], "band": ["low", "high"], "train_acc": [0.96, 0.9], "test_acc": [0.60, 0.5],
        "train_acc_ci95": [0.01, 0.01], "test_acc_ci95": [0.05, 0.01], "n_seeds": [3, 3],
    })  # fmt: skip
    frame = claims.paper_vs_reproduced(table1, None)
    assert len(frame) == 16 + 70  # Table 1: 8 rows × 2 columns; Table 2: 10 rows × 7 columns
    cell = frame[(frame["row"] == "LFC r=4") & (frame["column"] == "test acc.")].iloc[0]
    assert cell["paper"] == 0.6167 and cell["delta"] == pytest.approx(0.60 - 0.6167)
    assert cell["paper_in_interval"] == "yes"  # 0.6167 in [0.55, 0.65]
    high = frame[(frame["row"] == "HFC r=4") & (frame["column"] == "test acc.")].iloc[0]
    assert high["paper_in_interval"] == "no"
    assert (frame[frame["table"] == "Table 2"]["paper_in_interval"] == "not run").all()
    one_seed = claims.paper_vs_reproduced(table1.drop(columns=["train_acc_ci95", "test_acc_ci95", "n_seeds"]))
    assert one_seed.iloc[0]["paper_in_interval"] == "– (1 seed)"
    text = claims.paper_vs_reproduced_markdown(frame, "toy")
    assert "inside our 95 % interval in 2 of 4 cells" in text and "Not run with this config" in text


# ----------------------------------------------------------------------------- tools/check_claims.py


def _check(repo_root, tmp_path, verdicts, expected, config_expected=None):
    table = pd.DataFrame(
        [{**{c: "" for c in claims.CLAIM_COLUMNS}, "id": i, "verdict": v, "reason": f"why {i}", "expected": i in expected}
         for i, v in verdicts.items()]  # fmt: skip
    )
    path = tmp_path / "claims.csv"
    table.to_csv(path, index=False)
    args = [sys.executable, str(repo_root / "tools/check_claims.py"), "--claims", str(path)]
    if config_expected is not None:
        config = tmp_path / "ci.yaml"
        config.write_text(yaml.safe_dump({"claims": {"expected_supported": config_expected}}))
        args += ["--config", str(config)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_check_claims_exit_codes(repo_root, tmp_path):
    a, b = "table1.lfc_beats_hfc.r12", "natural.lfc_accuracy_rises_with_r"
    ok = _check(repo_root, tmp_path, {a: "supported", b: "supported"}, [a, b])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 expected claim(s) supported" in ok.stdout

    bad = _check(repo_root, tmp_path, {a: "supported", b: "not supported"}, [a, b])
    assert bad.returncode == 1 and b in bad.stdout + bad.stderr and f"why {b}" in bad.stdout + bad.stderr

    unevaluated = _check(repo_root, tmp_path, {a: "not evaluated", b: "supported"}, [a, b])
    assert unevaluated.returncode == 1 and a in unevaluated.stdout + unevaluated.stderr

    # A claim not expected may fail freely.
    assert _check(repo_root, tmp_path, {a: "supported", b: "not supported"}, [a]).returncode == 0

    # The list may come from the config; a config expecting a claim the table lacks is an error.
    assert _check(repo_root, tmp_path, {a: "supported", b: "not supported"}, [a], config_expected=[a]).returncode == 0
    via_config = _check(repo_root, tmp_path, {a: "supported", b: "not supported"}, [a], config_expected=[a, b])
    assert via_config.returncode == 1 and b in via_config.stdout + via_config.stderr
    unknown = _check(repo_root, tmp_path, {a: "supported"}, [a], config_expected=["table1.nope"])
    assert unknown.returncode == 2 and "table1.nope" in unknown.stderr


def test_check_claims_missing_file_is_a_usage_error(repo_root, tmp_path):
    result = subprocess.run(
        [sys.executable, str(repo_root / "tools/check_claims.py"), "--claims", str(tmp_path / "none.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "none.csv" in result.stderr and "snakemake" in result.stderr


def test_every_claim_is_documented(repo_root):
    text = (repo_root / "docs/claims.md").read_text()
    documented = set()
    for token in re.findall(r"`([a-z0-9_.{},]+)`", text):
        match = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", token)
        documented |= {match[1] + part + match[3] for part in match[2].split(",")} if match else {token}
    assert set(claims.CLAIM_IDS) <= documented, set(claims.CLAIM_IDS) - documented


def _rings(seeds, high_shift, low_shift):
    rows = []
    for seed in seeds:
        for run, label in (("vanilla", "M_natural"), ("heuristic-adversarial", "M_adversarial")):
            adv = run != "vanilla"
            rows.append({"model": run, "label": label, "seed": seed, "eps": 4.0,
                         "low_ring_excess": 0.2 + (low_shift + 0.01 * seed if adv else 0.0),
                         "high_ring_excess": 0.5 + (high_shift + 0.01 * seed if adv else 0.0)})  # fmt: skip
    return pd.DataFrame(rows)


def test_fourier_claims_from_heat_map_rings():
    ids = ("fourier.adversarial_less_high_frequency_sensitive", "fourier.adversarial_more_low_frequency_sensitive")
    yin = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, fourier_heatmap=_rings([0, 1, 2], -0.3, 0.2), scale=BIG))
    assert [_row(yin, i)["verdict"] for i in ids] == ["supported", "supported"]
    assert _row(yin, ids[0])["mean"] == pytest.approx(-0.29)
    against = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, fourier_heatmap=_rings([0, 1, 2], 0.1, -0.1), scale=BIG))
    assert [_row(against, i)["verdict"] for i in ids] == ["not supported", "not supported"]
    missing = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, scale=BIG))
    assert _row(missing, ids[0])["verdict"] == "not evaluated" and "fourier_heatmap" in _row(missing, ids[0])["reason"]
