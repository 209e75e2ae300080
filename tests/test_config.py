import copy

import pytest

from hfc import models, train
from hfc.config import ConfigError, check_config, load_config, load_schema, validate_config


@pytest.fixture
def config(repo_root):
    return load_config(repo_root / "config.yaml")


def test_default_and_paper_configs_are_valid(repo_root):
    for path in (repo_root / "config.yaml", repo_root / "configs" / "paper.yaml", repo_root / "tests/configs/tiny.yaml"):
        load_config(path)


def test_schema_enums_match_the_registries():
    schema = load_schema()
    training = schema["properties"]["training"]["properties"]
    studies = schema["properties"]["studies"]["properties"]
    assert set(training["model"]["enum"]) == set(models.MODELS)
    assert set(studies["architecture"]["items"]["enum"]) == set(models.MODELS)
    assert set(training["optimizer"]["enum"]) == set(train.OPTIMIZERS)
    assert set(studies["optimizer"]["items"]["enum"]) == set(train.OPTIMIZERS)
    assert set(training["lr_by_optimizer"]["properties"]) == set(train.OPTIMIZERS)
    assert set(studies["heuristics"]["items"]["enum"]) == set(train.HEURISTICS)


def test_unknown_key_names_key_and_allowed_keys(config):
    bad = copy.deepcopy(config)
    bad["training"]["epoch"] = 3
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    message = str(error.value)
    assert "'epoch'" in message and "training" in message and "epochs" in message


def test_unknown_model_lists_known_models(config):
    bad = copy.deepcopy(config)
    bad["studies"]["architecture"] = ["lenet", "resnet50"]
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    assert "studies.architecture.1" in str(error.value)
    for name in models.MODELS:
        assert name in str(error.value)


def test_wrong_type_and_range(config):
    bad = copy.deepcopy(config)
    bad["training"]["lr"] = "fast"
    bad["frequency"]["radii"] = [0, 4]
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    assert "training.lr" in str(error.value) and "frequency.radii.0" in str(error.value)


def test_defaults_are_filled(config):
    minimal = copy.deepcopy(config)
    del minimal["training"]["mixup_alpha"], minimal["evaluation"]["batch_size"]
    filled = validate_config(minimal)
    assert filled["training"]["mixup_alpha"] == 0.5 and filled["evaluation"]["batch_size"] == 500
    assert "mixup_alpha" not in minimal["training"]  # the input is not modified
