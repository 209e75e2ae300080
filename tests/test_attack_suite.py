"""The attack suite (hfc.attack_suite), its checklist, its config keys and its claims (issue 12)."""

import subprocess
import sys

import pandas as pd
import pytest
import torch
import torch.nn as nn

from hfc import attack_suite as suite
from hfc import claims
from hfc.attacks import accuracy_under_attack
from hfc.config import ConfigError, check_config, check_limits, load_config


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = {"eps": [0.03, 0.1, 0.6], "pgd_steps": 5, "apgd_steps": 10, "square_queries": 100, "batch_size": 32}


def tiny_cnn() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)
        ).eval()


@pytest.fixture
def data():
    model = tiny_cnn()
    images = torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    return model, images, labels


class Linear(nn.Module):
    """A 3-class linear model on 1×8×8 images; ``levels`` > 0 rounds the input to that many
    levels first, a non-differentiable first layer whose gradient is zero everywhere."""

    def __init__(self, levels: int = 0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(2)
            self.fc = nn.Linear(64, 3)
        with torch.no_grad():
            self.fc.bias.copy_(-0.5 * self.fc.weight.sum(dim=1))
        self.levels = levels

    def forward(self, x):
        if self.levels:
            x = torch.round(x * self.levels) / self.levels
        return self.fc(x.flatten(1))


def _linear_data(model):
    images = 0.3 + 0.4 * torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    return images, labels


# ----------------------------------------------------------------------------- attack_table


def test_attack_table_rows_ensemble_and_determinism(data):
    model, images, labels = data
    table = suite.attack_table(model, images, labels, SMALL)
    assert list(table.columns) == suite.TABLE_COLUMNS
    expected = [("clean", 0.0)] + [(a, e) for a in suite.SUITE_ATTACKS for e in SMALL["eps"]]
    expected += [(suite.ENSEMBLE, e) for e in SMALL["eps"]]
    assert list(zip(table["attack"], table["eps"])) == expected
    assert (table["n"] == 40).all() and table.loc[0, "accuracy"] == 1.0
    acc = table.set_index(["attack", "eps"])["accuracy"]
    # The fast path's FGSM is the suite's FGSM.
    assert acc[("fgsm", 0.03)] == accuracy_under_attack(model, images, labels, "fgsm", 0.03)
    for e in SMALL["eps"]:
        assert acc[(suite.ENSEMBLE, e)] <= min(acc[(a, e)] for a in suite.SUITE_ATTACKS)
    assert 0 < acc[("apgd_ce", 0.03)] < 1  # a non-trivial operating point
    pd.testing.assert_frame_equal(table, suite.attack_table(model, images, labels, SMALL))
    # Each attack × ε draws from its own seeded generator: dropping attacks changes no other row.
    fewer = suite.attack_table(model, images, labels, SMALL | {"attacks": ["square", "pgd"]})
    merged = fewer.merge(table, on=["attack", "eps"], suffixes=("", "_all"))
    merged = merged[merged["attack"] != suite.ENSEMBLE]
    assert len(merged) == 1 + 2 * len(SMALL["eps"]) and (merged["accuracy"] == merged["accuracy_all"]).all()


def test_one_attack_has_no_ensemble_row_and_model_modes_are_restored(data):
    model, images, labels = data
    model.train()
    table = suite.attack_table(model, images, labels, SMALL | {"attacks": ["fgsm"], "eps": [0.1]})
    assert list(table["attack"]) == ["clean", "fgsm"] and model.training


def test_smoothing_attack_table_rho0_is_the_model_and_model_is_untouched(data):
    model, images, labels = data
    weight = model[0].weight.detach().clone()
    settings = SMALL | {"attacks": ["fgsm", "square"], "eps": [0.1]}
    table = suite.smoothing_attack_table(model, images, labels, settings, rhos=[0.0, 1.0])
    assert list(table.columns) == ["rho", *suite.TABLE_COLUMNS]
    assert torch.equal(model[0].weight, weight)
    plain = suite.attack_table(model, images, labels, settings)
    pd.testing.assert_frame_equal(table[table["rho"] == 0.0].drop(columns="rho").reset_index(drop=True), plain)
    assert not table[table["rho"] == 1.0]["accuracy"].reset_index(drop=True).equals(plain["accuracy"])


# ----------------------------------------------------------------------------- the checklist


def test_masked_gradients_are_flagged_and_a_linear_model_is_not():
    settings = {"eps": [0.05, 0.1, 0.5], "pgd_steps": 10, "apgd_steps": 10, "square_queries": 200}
    masked = Linear(levels=4)
    images, labels = _linear_data(masked)
    masked_table = suite.attack_table(masked, images, labels, settings)
    masked_checks = suite.checklist(masked_table).set_index("check")
    assert masked_checks.loc["gradient_free_not_better", "status"] == "gradient masking suspected"
    assert masked_checks.loc["gradient_free_not_better", "passed"] is False
    # FGSM sees a zero gradient and does nothing at all.
    acc = masked_table.set_index(["attack", "eps"])["accuracy"]
    assert acc[("fgsm", 0.1)] == 1.0 and acc[("square", 0.1)] < 0.5

    plain = Linear()
    images, labels = _linear_data(plain)
    plain_checks = suite.checklist(suite.attack_table(plain, images, labels, settings)).set_index("check")
    assert (plain_checks["status"] == "ok").all(), plain_checks[["status", "detail"]]


def _table(curves: dict[str, list[float]], eps=(0.03, 0.09, 0.3), clean=0.9) -> pd.DataFrame:
    rows = [{"attack": "clean", "eps": 0.0, "accuracy": clean, "n": 100}]
    rows += [{"attack": a, "eps": e, "accuracy": v, "n": 100} for a, values in curves.items() for e, v in zip(eps, values)]
    return pd.DataFrame(rows)


GOOD = {"fgsm": [0.5, 0.3, 0.02], "pgd": [0.4, 0.2, 0.0], "apgd_ce": [0.38, 0.2, 0.0], "square": [0.42, 0.25, 0.01]}


def _status(table) -> dict[str, str]:
    return suite.checklist(table).set_index("check")["status"].to_dict()


def test_checklist_on_constructed_tables():
    assert set(_status(_table(GOOD)).values()) == {"ok"}
    # FGSM accuracy rising with ε (a classic sign of a broken attack or masking).
    assert _status(_table(GOOD | {"fgsm": [0.5, 0.3, 0.45]}))["falls_with_eps"] == "failed"
    # Rises within the tolerance pass; an attack above the clean accuracy fails.
    assert _status(_table(GOOD | {"fgsm": [0.5, 0.52, 0.02]}))["falls_with_eps"] == "ok"
    assert _status(_table(GOOD | {"square": [0.95, 0.25, 0.01]}))["falls_with_eps"] == "failed"
    assert _status(_table(GOOD | {"pgd": [0.4, 0.2, 0.1]}))["large_eps_near_zero"] == "failed"
    assert _status(_table(GOOD | {"pgd": [0.6, 0.2, 0.0]}))["pgd_not_above_fgsm"] == "failed"
    flagged = _status(_table(GOOD | {"square": [0.2, 0.1, 0.0]}))
    assert flagged["gradient_free_not_better"] == "gradient masking suspected"
    # The gradient-free attack compared with the *best* gradient attack, not with FGSM.
    assert _status(_table(GOOD | {"square": [0.39, 0.2, 0.0]}))["gradient_free_not_better"] == "ok"
    missing = suite.checklist(_table({"fgsm": GOOD["fgsm"], "apgd_ce": GOOD["apgd_ce"]})).set_index("check")
    assert missing.loc["pgd_not_above_fgsm", "status"] == "not run" and missing.loc["pgd_not_above_fgsm", "passed"] is None
    assert missing.loc["gradient_free_not_better", "status"] == "not run"


def test_checklist_groups_by_model_rho_seed_and_markdown_and_figure(tmp_path):
    parts = []
    for model in ("natural", "adversarial"):
        for rho in (0.0, 1.0):
            for seed in (0, 1):
                masked = model == "natural" and rho == 1.0
                curves = GOOD | ({"square": [0.2, 0.1, 0.0]} if masked else {})
                parts.append(_table(curves).assign(run=model, seed=seed, model=model, rho=rho))
    table = pd.concat(parts, ignore_index=True)
    checks = suite.checklist(table)
    assert list(checks.columns) == ["model", "run", "seed", "rho", *suite.CHECK_COLUMNS]
    assert len(checks) == 8 * len(suite.CHECKS)
    flagged = checks[checks["status"] == "gradient masking suspected"]
    assert set(zip(flagged["model"], flagged["rho"])) == {("natural", 1.0)} and len(flagged) == 2
    markdown = suite.checklist_markdown(checks, "tiny scale")
    assert "gradient masking suspected" in markdown and "2 group(s) flagged" in markdown and "tiny scale" in markdown
    png, pdf = suite.suite_figure(table, tmp_path / "f.png", tmp_path / "f.pdf")
    assert png.stat().st_size > 10_000 and pdf.stat().st_size > 1_000


def test_checklist_rejects_bad_tables():
    with pytest.raises(ValueError, match="lacks column"):
        suite.checklist(pd.DataFrame({"attack": ["clean"], "eps": [0.0]}))
    with pytest.raises(ValueError, match="repeated ε"):
        suite.checklist(pd.concat([_table(GOOD), _table(GOOD)]))


# ----------------------------------------------------------------------------- settings and config


@pytest.mark.parametrize(
    "change, key",
    [
        ({"attacks": ["fgsm", "cw"]}, "robustness.suite.attacks"),
        ({"square_queries": 0}, "robustness.suite.square_queries"),
        ({"eps": [0.03, 1.5]}, "robustness.suite.eps"),
        ({"eps": [0.0]}, "robustness.suite.eps"),
        ({"pgd_restarts": 0}, "robustness.suite.pgd_restarts"),
        ({"square_p_init": 1.0}, "robustness.suite.square_p_init"),
    ],
)
def test_bad_settings_name_the_key(change, key, data):
    model, images, labels = data
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        suite.attack_table(model, images, labels, SMALL | change)


@pytest.mark.parametrize(
    "section, change, message",
    [
        ("suite", {"attacks": ["fgsm", "cw"]}, "robustness.suite.attacks.1: 'cw' is not allowed; allowed values: fgsm, pgd"),
        ("suite", {"square_queries": 0}, "robustness.suite.square_queries: 0 is less than the minimum of 1"),
        ("suite", {"eps": [0.03, 1.5]}, "robustness.suite.eps.1: 1.5 is greater than the maximum of 1"),
        ("suite", {"eps": [-0.1]}, "robustness.suite.eps.0: -0.1 is less than or equal to the minimum of 0"),
        ("robustness", {"eps": [0.03, 2]}, "robustness.eps.1: 2 is greater than the maximum of 1"),
    ],
)
def test_config_errors_name_the_key(repo_root, section, change, message):
    config = load_config(repo_root / "config.yaml")
    target = config["robustness"]["suite"] if section == "suite" else config["robustness"]
    target.update(change)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert message in str(error.value)


def test_suite_test_size_above_the_test_set_is_refused(repo_root):
    config = load_config(repo_root / "config.yaml")
    config["robustness"]["suite"]["test_size"] = 2001
    with pytest.raises(ConfigError, match=r"robustness\.suite\.test_size: 2001 is larger than the 2000 test images"):
        check_limits(config, (4000, 2000), (1, 28, 28))
    config["robustness"]["suite"]["enabled"] = False  # a suite that will not run is not held to it
    check_limits(config, (4000, 2000), (1, 28, 28))


def test_defaults_are_the_cpu_default_and_configs_are_valid(repo_root):
    config = load_config(repo_root / "config.yaml")
    assert config["robustness"]["suite"] == suite.default_settings()
    for path in ("configs/paper.yaml", "configs/ci.yaml"):
        settings = load_config(repo_root / path)["robustness"]["suite"]
        suite.check_settings(settings)
        assert 0.09 in settings["eps"]  # the claims compare ρ = 1 and 0 there


def test_bad_suite_stops_the_workflow_before_any_job(repo_root, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(repo_root / "Snakefile"), "--directory", str(tmp_path),
         "--config", "robustness={suite: {square_queries: 0}}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "robustness.suite.square_queries: 0 is less than the minimum of 1" in result.stdout + result.stderr


# ----------------------------------------------------------------------------- claims

STUDIES = {"adversarial": {"natural": "vanilla", "adversarial": "heuristic-adversarial"}}
BIG = claims.Scale(train_images=4000, epochs=3)


def _suite_frames(seeds, square_gain, ensemble_gain):
    rows = []
    for seed in seeds:
        for model in ("natural", "adversarial"):
            for rho in (0.0, 1.0):
                for attack, gain in (("fgsm", 0.1), ("square", square_gain), (suite.ENSEMBLE, ensemble_gain)):
                    accuracy = 0.3 + (gain + 0.01 * seed if rho == 1.0 else 0.0)
                    rows.append({"run": model, "seed": seed, "model": model, "rho": rho, "attack": attack, "eps": 0.09,
                                 "accuracy": accuracy, "n": 100})  # fmt: skip
    return pd.DataFrame(rows)


def test_suite_claims():
    ids = [f"table2.smoothing_gain_survives_{kind}.{label}" for kind in ("gradient_free", "adaptive") for label in ("natural", "adversarial")]
    assert set(ids) <= set(claims.CLAIM_IDS)

    def verdicts(frame):
        table = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, attack_suite=frame, scale=BIG))
        return table.set_index("id").loc[ids, "verdict"].tolist()

    assert verdicts(_suite_frames([0, 1, 2], 0.1, 0.05)) == ["supported"] * 4
    # The gain survives the gradient-free attack but not the worst case of all attacks.
    assert verdicts(_suite_frames([0, 1, 2], 0.1, -0.05)) == ["supported", "supported", "not supported", "not supported"]
    no09 = _suite_frames([0, 1, 2], 0.1, 0.05).assign(eps=0.06)
    row = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, attack_suite=no09, scale=BIG)).set_index("id").loc[ids[0]]
    assert row["verdict"] == "not evaluated" and "robustness.suite" in row["reason"]
    missing = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, scale=BIG)).set_index("id").loc[ids[0]]
    assert missing["verdict"] == "not evaluated" and "attack_suite" in missing["reason"]
