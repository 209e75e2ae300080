"""The attack suite (hfc.attack_suite), its checklist, its config keys and its claims (issue 12)."""

import subprocess
import sys

import pandas as pd
import pytest
import torch
import torch.nn as nn

from hfc import attack_suite as suite
from hfc import claims
from hfc.attacks import accuracy_under_attack, square
from hfc.smoothing import smooth_first_conv
from hfc.config import ConfigError, check_config, check_limits, load_config


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = {"eps": [0.03, 0.1, 0.6], "pgd_steps": 5, "apgd_steps": 10, "square_queries": 100, "square_eps": None,
         "square_rhos": None, "batch_size": 32}  # fmt: skip


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


def test_square_on_every_point_at_once_is_square_run_alone(data):
    """The batched Square of the suite (every ρ × ε in one search) gives each point what
    hfc.attacks.square (= torchattacks.Square, tests/test_attacks.py) gives it alone, image batch
    after image batch with one seeded generator."""
    model, images, labels = data
    settings = SMALL | {"attacks": ["square"], "square_queries": 60}
    for batch_size in (200, 16):  # all six points in one search; one point per search over 3 image batches
        table = suite.smoothing_attack_table(model, images, labels, settings | {"batch_size": batch_size}, rhos=[0.0, 1.0])
        for rho in (0.0, 1.0):
            smoothed = smooth_first_conv(model, rho)
            for eps in SMALL["eps"]:
                gen = torch.Generator().manual_seed(0)
                adv = torch.cat([square(smoothed, images[i : i + batch_size], labels[i : i + batch_size], eps, 60, generator=gen)
                                 for i in range(0, len(images), batch_size)])  # fmt: skip
                with torch.no_grad():
                    alone = (smoothed(adv).argmax(dim=1) == labels).float().mean().item()
                row = table[(table["rho"] == rho) & (table["attack"] == "square") & (table["eps"] == eps)].iloc[0]
                assert row["accuracy"] == pytest.approx(alone) and row["queries"] == 60
                assert row["accuracy_at_half"] >= row["accuracy"]
    accuracy = table.loc[table["attack"] == "square", "accuracy"]
    assert ((accuracy > 0) & (accuracy < 1)).sum() >= 3  # non-trivial points, so agreement means something


def test_large_budget_only_at_the_decisive_points(data):
    model, images, labels = data
    settings = SMALL | {"attacks": ["fgsm", "square"], "square_queries": 200, "square_eps": [0.1], "square_rhos": [1.0],
                        "square_queries_elsewhere": 10}  # fmt: skip
    table = suite.smoothing_attack_table(model, images, labels, settings, rhos=[0.0, 1.0])
    sq = table[table["attack"] == "square"].set_index(["rho", "eps"])["queries"]
    assert sq[(1.0, 0.1)] == 200 and (sq.drop((1.0, 0.1)) == 10).all() and len(sq) == 6
    assert table.loc[table["attack"] != "square", "queries"].isna().all()
    # No Square elsewhere: those points have no Square row, and their worst case is FGSM's alone.
    none = suite.smoothing_attack_table(model, images, labels, settings | {"square_queries_elsewhere": 0}, rhos=[0.0, 1.0])
    sq = none[none["attack"] == "square"]
    assert list(zip(sq["rho"], sq["eps"])) == [(1.0, 0.1)]
    acc = none.set_index(["rho", "attack", "eps"])["accuracy"]
    assert acc[(0.0, suite.ENSEMBLE, 0.03)] == acc[(0.0, "fgsm", 0.03)]
    # The other attacks' rows do not depend on Square's budget.
    other = table[table["attack"] == "fgsm"].reset_index(drop=True)
    pd.testing.assert_frame_equal(other, none[none["attack"] == "fgsm"].reset_index(drop=True))


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


LINEAR = {"eps": [0.05, 0.1, 0.5], "pgd_steps": 10, "apgd_steps": 10, "square_eps": None}


def _checks(model, **settings) -> pd.DataFrame:
    images, labels = _linear_data(model)
    return suite.checklist(suite.attack_table(model, images, labels, LINEAR | settings)).set_index("check")


def test_gradient_free_check_fails_passes_and_is_not_informative_on_constructed_models():
    # Fails: rounding the input masks every gradient (FGSM sees zero and does nothing) and a
    # gradient-free Square finds what the gradient attacks cannot, even at a small budget.
    masked = Linear(levels=4)
    for queries in (10, 500):
        checks = _checks(masked, square_queries=queries)
        assert checks.loc["gradient_free_not_better", "status"] == "gradient masking suspected", queries
        assert checks.loc["gradient_free_not_better", "passed"] is False
    images, labels = _linear_data(masked)
    acc = suite.attack_table(masked, images, labels, LINEAR | {"square_queries": 10}).set_index(["attack", "eps"])["accuracy"]
    assert acc[("fgsm", 0.1)] == 1.0 and acc[("square", 0.1)] < 0.5
    # Passes: on a linear model Square at 5000 queries (its plateau) is no stronger than the
    # gradient attacks, which find the exact robust accuracy.
    plain = Linear()
    checks = _checks(plain, square_queries=5000)
    assert (checks["status"] == "ok").all(), checks[["status", "detail"]]
    # Not informative: at 10 queries Square is far short of its plateau at every ε where it left
    # something, so it could not have beaten the gradient attacks; the check does not say "ok".
    weak = _checks(plain, square_queries=10, eps=[0.02, 0.05])
    assert weak.loc["gradient_free_not_better", "status"] == suite.NOT_INFORMATIVE
    assert weak.loc["gradient_free_not_better", "passed"] is None
    assert "short of its plateau" in weak.loc["gradient_free_not_better", "detail"]


def test_large_eps_check_judges_the_worst_case_not_weak_attacks_on_constructed_models():
    # Passes although FGSM and PGD do nothing on the masked model: Square at its plateau takes
    # the worst case of all attacks to 0 at the largest ε (FGSM is not failed for being weak).
    checks = _checks(Linear(levels=4), square_queries=500)  # leaves 0 at ε = 0.5: nothing left to take
    assert checks.loc["large_eps_near_zero", "status"] == "ok"
    assert "single step, not held to 0" in checks.loc["large_eps_near_zero", "detail"]
    # Not informative: only FGSM and a Square short of its plateau ran.
    weak = _checks(Linear(levels=4), attacks=["fgsm", "square"], square_queries=3)
    assert weak.loc["large_eps_near_zero", "status"] == suite.NOT_INFORMATIVE
    assert weak.loc["large_eps_near_zero", "passed"] is None
    # Fails: a class out of reach at every ε (a bias no bounded change of the input can beat),
    # which every attack, iterative or not, leaves at the clean accuracy.
    fortress = Linear()
    with torch.no_grad():
        fortress.fc.bias.copy_(torch.tensor([100.0, 0.0, 0.0]))
    failed = _checks(fortress, square_queries=50)
    assert failed.loc["large_eps_near_zero", "status"] == "failed"
    assert failed.loc["large_eps_near_zero", "value"] == 1.0


def test_at_plateau():
    assert suite.at_plateau(0.30, 5000) and suite.at_plateau(0.30, 10000)
    assert not suite.at_plateau(0.30, 4999)
    assert suite.at_plateau(0.02, 10)  # nothing left to take
    assert not suite.at_plateau(0.30, float("nan"))  # budget unknown


def _table(curves: dict[str, list[float]], eps=(0.03, 0.09, 0.3), clean=0.9, queries=5000) -> pd.DataFrame:
    """A suite table from accuracy curves, Square at ``queries`` queries (5000: its plateau)."""
    rows = [{"attack": "clean", "eps": 0.0, "accuracy": clean, "n": 100}]
    for attack, values in curves.items():
        for e, v in zip(eps, values):
            extra = {"queries": queries, "accuracy_at_half": v} if attack == "square" else {}
            rows.append({"attack": attack, "eps": e, "accuracy": v, "n": 100} | extra)
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
    # The worst case of all attacks is held to ~0 at the largest ε, not each attack: FGSM and
    # PGD above it pass while APGD reaches 0; every attack above it fails.
    assert _status(_table(GOOD | {"pgd": [0.4, 0.2, 0.1], "fgsm": [0.5, 0.3, 0.2]}))["large_eps_near_zero"] == "ok"
    above = {a: v[:2] + [0.2] for a, v in GOOD.items()}
    assert _status(_table(above))["large_eps_near_zero"] == "failed"
    table = _table(GOOD | {"fgsm": [0.5, 0.3, 0.2]})
    worst = table[table["attack"] != "clean"].groupby("eps")["accuracy"].min()
    with_ensemble = pd.concat([table, pd.DataFrame({"attack": suite.ENSEMBLE, "eps": worst.index, "accuracy": worst.values, "n": 100})])
    assert _status(with_ensemble)["large_eps_near_zero"] == "ok"
    high = with_ensemble.assign(accuracy=lambda f: f["accuracy"].where(~((f["eps"] == 0.3) & (f["attack"] != "clean")), 0.2))
    assert _status(high)["large_eps_near_zero"] == "failed"
    # Single-step and query-limited attacks alone are not held to it.
    weak = _table({"fgsm": [0.5, 0.3, 0.2], "square": [0.6, 0.4, 0.2]}, queries=100)
    assert _status(weak)["large_eps_near_zero"] == suite.NOT_INFORMATIVE
    assert _status(_table(GOOD | {"pgd": [0.6, 0.2, 0.0]}))["pgd_not_above_fgsm"] == "failed"
    flagged = _status(_table(GOOD | {"square": [0.2, 0.1, 0.0]}))
    assert flagged["gradient_free_not_better"] == "gradient masking suspected"
    # ... also short of its plateau: a weak attack that beats the gradients is still evidence.
    still = _table(GOOD | {"square": [0.2, 0.1, 0.0]}, queries=100)
    assert _status(still)["gradient_free_not_better"] == "gradient masking suspected"
    # The gradient-free attack compared with the *best* gradient attack, not with FGSM.
    assert _status(_table(GOOD | {"square": [0.39, 0.2, 0.0]}))["gradient_free_not_better"] == "ok"
    # Square short of its plateau at every ε: not informative, not "ok".
    short = _table(GOOD | {"square": [0.7, 0.6, 0.2]}, queries=100)
    assert _status(short)["gradient_free_not_better"] == suite.NOT_INFORMATIVE
    # ... informative wherever it did reach it (here ε = 0.3, where it left about 0).
    partly = _table(GOOD | {"square": [0.7, 0.6, 0.01]}, queries=100)
    assert _status(partly)["gradient_free_not_better"] == "ok"
    # A table without Square's budget cannot show a plateau.
    assert _status(_table(GOOD).drop(columns=["queries", "accuracy_at_half"]))["gradient_free_not_better"] == suite.NOT_INFORMATIVE
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
        ({"square_queries_elsewhere": -1}, "robustness.suite.square_queries_elsewhere"),
        ({"square_eps": "0.09"}, "robustness.suite.square_eps"),
        ({"square_rhos": [-1.0]}, "robustness.suite.square_rhos"),
        ({"max_minutes": 0}, "robustness.suite.max_minutes"),
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
        ("suite", {"square_eps": [0.0]}, "robustness.suite.square_eps.0: 0.0 is less than or equal to the minimum of 0"),
        ("suite", {"square_queries_elsewhere": -5}, "robustness.suite.square_queries_elsewhere: -5 is less than the minimum of 0"),
        ("suite", {"max_minutes": 0}, "robustness.suite.max_minutes: 0 is less than or equal to the minimum of 0"),
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
    for path in ("config.yaml", "configs/paper.yaml", "configs/ci.yaml", "configs/cifar10-proxy.yaml"):
        config = load_config(repo_root / path)
        settings = suite.check_settings(config["robustness"]["suite"])
        assert 0.09 in settings["eps"]  # the claims compare ρ = 1 and 0 there
        # ... at Square's plateau budget (benchmarks/square_budget.py; docs/claims.md)
        for rho in (0.0, 1.0):
            assert rho in config["robustness"]["rhos"]
            assert suite.square_queries_at(settings, rho, 0.09) >= 5000, path


def test_square_budget_beyond_the_time_limit_is_refused_at_parse_time(repo_root):
    config = load_config(repo_root / "config.yaml")
    check_limits(config, (4000, 2000), (1, 28, 28))  # the default fits its 120 minutes
    config["robustness"]["suite"]["square_queries"] = 5_000_000_000  # device auto: held to a GPU's rate
    with pytest.raises(ConfigError, match=r"robustness\.suite\.square_queries: 5000000000 queries .* more than "
                       r"robustness\.suite\.max_minutes = 120"):  # fmt: skip
        check_limits(config, (4000, 2000), (1, 28, 28))
    config["robustness"]["suite"]["square_queries"] = 5000
    config["device"] = "cpu"
    config["robustness"]["suite"]["max_minutes"] = 0.05  # 3 s: less than 5000 queries may need on a CPU
    with pytest.raises(ConfigError, match=r"robustness\.suite\.square_queries: 5000 queries"):
        check_limits(config, (4000, 2000), (1, 28, 28))
    config["robustness"]["suite"]["square_queries"] = 100
    config["robustness"]["suite"]["square_queries_elsewhere"] = 0
    check_limits(config, (4000, 2000), (1, 28, 28))
    config["robustness"]["suite"]["square_rhos"] = [0.0, 0.3]  # 0.3 is not among robustness.rhos
    with pytest.raises(ConfigError, match=r"robustness\.suite\.square_rhos: \[0\.3\] not among robustness\.rhos"):
        check_limits(config, (4000, 2000), (1, 28, 28))
    config["robustness"]["suite"]["square_rhos"] = [0.0]
    config["robustness"]["suite"]["square_eps"] = [0.06]  # not among robustness.suite.eps
    with pytest.raises(ConfigError, match=r"robustness\.suite\.square_eps: \[0\.06\] not among robustness\.suite\.eps"):
        check_limits(config, (4000, 2000), (1, 28, 28))


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


def _suite_frames(seeds, square_gain, ensemble_gain, queries=5000):
    rows = []
    for seed in seeds:
        for model in ("natural", "adversarial"):
            for rho in (0.0, 1.0):
                for attack, gain in (("fgsm", 0.1), ("square", square_gain), (suite.ENSEMBLE, ensemble_gain)):
                    accuracy = 0.3 + (gain + 0.01 * seed if rho == 1.0 else 0.0)
                    rows.append({"run": model, "seed": seed, "model": model, "rho": rho, "attack": attack, "eps": 0.09,
                                 "accuracy": accuracy, "n": 100, "queries": queries if attack == "square" else float("nan")})  # fmt: skip
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
    # Square short of its plateau measures its budget, not the model: no verdict, and the reason says so.
    short = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, attack_suite=_suite_frames([0, 1, 2], 0.1, 0.05, 100), scale=BIG))
    short = short.set_index("id")
    assert (short.loc[ids[:2], "verdict"] == "not evaluated").all()
    assert "short of its plateau" in short.loc[ids[0], "reason"] and "robustness.suite.square_queries" in short.loc[ids[0], "reason"]
    assert (short.loc[ids[2:], "verdict"] == "supported").all()  # the worst case of all attacks is still read
    missing = claims.evaluate_claims(claims.ClaimInputs(studies=STUDIES, scale=BIG)).set_index("id").loc[ids[0]]
    assert missing["verdict"] == "not evaluated" and "attack_suite" in missing["reason"]
