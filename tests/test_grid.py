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


def test_table1_may_list_a_subset_of_the_radii(config):
    some = copy.deepcopy(config)
    some["studies"]["table1"] = [12, 4]
    assert grid.study_runs(some, "table1") == {
        "low r=12": "band-low_r12", "low r=4": "band-low_r4", "high r=12": "band-high_r12", "high r=4": "band-high_r4",
    }  # fmt: skip
    assert grid.table1_radii(some) == [12, 4]
    assert {name for name in grid.all_runs(some) if name.startswith("band-")} >= {"band-low_r4", "band-high_r12"}
    every = copy.deepcopy(config)
    every["studies"]["table1"] = True
    assert grid.table1_radii(every) == config["frequency"]["radii"]
    every["studies"]["table1"] = False
    assert grid.table1_radii(every) == [] and grid.study_runs(every, "table1") == {}


@pytest.mark.parametrize(
    "value, message",
    [
        ([5], "studies.table1: radius [5] not in frequency.radii [4, 8, 12, 16]"),
        ([4, 4], "studies.table1: radius [4] listed twice"),
        ([4.0], "studies.table1: [4.0] not integer radii"),
        ([True], "studies.table1: [True] not integer radii"),
        ([], "studies.table1: [] is neither true/false nor a non-empty list"),
        ("4", "studies.table1: '4' is neither true/false nor a non-empty list"),
    ],
)
@pytest.mark.parametrize("study", grid.RADIUS_STUDIES)
def test_a_bad_table1_radius_list_names_the_key(config, value, message, study):
    bad = copy.deepcopy(config)
    bad["studies"]["table1"] = True
    bad["studies"][study] = value
    with pytest.raises(ValueError) as error:
        grid.study_radii(bad, study)
    assert message.replace("studies.table1", f"studies.{study}") in str(error.value)
