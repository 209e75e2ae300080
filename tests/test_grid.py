import copy

import pytest

from hfc import grid
from hfc.config import load_config


@pytest.fixture
def config(repo_root):
    return load_config(repo_root / "config.yaml")


def test_shared_runs_are_deduplicated(config):
    runs = grid.all_runs(config)
    per_study = {study: grid.study_runs(config, study) for study in grid.STUDIES}
    listed = [run for variants in per_study.values() for run in variants.values()]
    assert len(listed) > len(runs)  # vanilla (and more) appear in several studies
    assert set(listed) == set(runs)
    # The vanilla run is the same name in every study that contains it.
    for study in ("figure3", "heuristics", "batch_size", "architecture", "optimizer", "adversarial"):
        assert "vanilla" in per_study[study].values(), study


def test_expected_runs_of_the_default_config(config):
    radii = config["frequency"]["radii"]
    expected = {"vanilla", "labels-shuffled"}
    expected |= {f"band-{band}_r{r}" for band in ("low", "high") for r in radii}
    expected |= {f"heuristic-{h}" for h in ("dropout", "mixup", "batchnorm", "adversarial")}
    expected |= {"bs-25", "bs-400"}
    expected |= {f"model-{m}" for m in ("lenet", "alexnet", "vgg", "resnet18")}
    expected |= {f"opt-{o}" for o in ("sgd", "adagrad", "adadelta", "rmsprop")}
    expected |= {f"heuristic-batchnorm_band-low_r{r}" for r in radii}
    assert set(grid.all_runs(config)) == expected


def test_each_run_changes_one_dimension(config):
    vanilla = grid.vanilla_spec(config)
    for name, spec in grid.all_runs(config).items():
        changed = {k for k, v in spec.as_dict().items() if v != getattr(vanilla, k)}
        changed -= {"train_radius", "lr", "epochs"}  # follow train_band / optimizer / labels
        if name.startswith("heuristic-batchnorm_band"):
            assert changed == {"heuristic", "train_band"}
        else:
            assert len(changed) <= 1, (name, changed)


def test_optimizer_runs_take_their_learning_rates(config):
    runs = grid.all_runs(config)
    for optimizer, lr in config["training"]["lr_by_optimizer"].items():
        name = "vanilla" if optimizer == config["training"]["optimizer"] else f"opt-{optimizer}"
        expected = config["training"]["lr"] if name == "vanilla" else lr
        assert runs[name].lr == expected


def test_shuffled_run_uses_its_own_epochs(config):
    assert grid.all_runs(config)["labels-shuffled"].epochs == config["training"]["shuffled_epochs"]


def test_disabled_study_adds_no_runs(config):
    off = copy.deepcopy(config)
    off["studies"] = {"table1": False, "figure3": True}
    assert set(grid.all_runs(off)) == {"vanilla", "labels-shuffled"}
    assert grid.study_runs(off, "heuristics") == {}


def test_paper_config_job_grid(repo_root):
    config = load_config(repo_root / "configs" / "paper.yaml")
    runs = grid.all_runs(config)
    assert all(spec.epochs in (100, 300) for spec in runs.values())
    assert runs["vanilla"].model == "resnet18" and runs["vanilla"].lr == 1e-4
    assert len(runs) == 28
