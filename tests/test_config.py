import copy

import pytest

from hfc import models, train
from hfc.config import (
    ConfigError,
    check_config,
    coerce_command_line_values,
    load_config,
    load_schema,
    validate_config,
)


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


@pytest.mark.parametrize(
    "value, message",
    [
        ([5], "studies.table1: radius [5] not in frequency.radii [4, 8, 12, 16]"),
        ([4, 4], "studies.table1: [4, 4] has non-unique elements"),
        ([4.0], "studies.table1: [4.0] not integer radii"),
        ([True], "studies.table1.0: True is not of type 'integer'"),
        ([], "studies.table1: [] should be non-empty"),
    ],
)
def test_table1_radii_are_checked_at_parse_time(config, value, message):
    bad = copy.deepcopy(config)
    bad["studies"]["table1"] = value
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    assert message in str(error.value)
    bad["studies"]["table1"] = [16, 4]
    check_config(bad)


def test_planted_channels_other_than_grey_or_rgb_are_refused(config):
    bad = copy.deepcopy(config)
    bad["dataset"].update(name="planted", image_size=16, planted={"channels": 2})
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    assert "dataset.planted.channels: 2 is not allowed; allowed values: 1, 3" in str(error.value)


def test_defaults_are_filled(config):
    minimal = copy.deepcopy(config)
    del minimal["training"]["mixup_alpha"], minimal["evaluation"]["batch_size"]
    filled = validate_config(minimal)
    assert filled["training"]["mixup_alpha"] == 0.5 and filled["evaluation"]["batch_size"] == 100
    assert "mixup_alpha" not in minimal["training"]  # the input is not modified


def command_line(config: dict, *entries: str) -> dict:
    """``config`` overridden as ``snakemake --config ENTRY ...`` does it (Snakemake's own parser)."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    merged = copy.deepcopy(config)
    update_config(merged, parse_config(list(entries)))
    return merged


def test_table1_radii_from_the_command_line_get_the_schemas_types(config):
    # --config studies='{table1: [4, 8]}' arrives as strings; the radii must become integers
    merged = coerce_command_line_values(command_line(config, "studies={table1: [4, 8]}"))
    assert merged["studies"]["table1"] == [4, 8]
    check_config(merged)
    assert coerce_command_line_values(command_line(config, "studies={table1: false}"))["studies"]["table1"] is False


def test_nested_command_line_values_get_the_schemas_types(config):
    merged = command_line(
        config, "response={enabled: true, fraction: 0.8}", "seeds=[0, 1, 2]", "dataset={train_size: null}",
        "training={epochs: 5, model: lenet}", "frequency={radii: [4, 8]}",
    )  # fmt: skip
    # What Snakemake hands the Snakefile: strings where the schema wants numbers and booleans.
    assert merged["response"]["enabled"] == "true" and merged["seeds"] == ["0", "1", "2"]
    with pytest.raises(ConfigError, match="response.enabled: 'true' is not of type 'boolean'"):
        check_config(merged)
    coerce_command_line_values(merged)
    check_config(merged)
    assert merged["response"]["enabled"] is True and merged["response"]["fraction"] == 0.8
    assert merged["seeds"] == [0, 1, 2] and merged["frequency"]["radii"] == [4, 8]
    assert merged["dataset"]["train_size"] is None and merged["dataset"]["test_size"] == config["dataset"]["test_size"]
    assert merged["training"]["epochs"] == 5 and merged["training"]["model"] == "lenet"
    assert merged["training"]["lr"] == config["training"]["lr"]  # the rest of the section is kept


def test_command_line_values_of_the_wrong_type_are_still_reported(config):
    merged = command_line(config, "response={enabled: maybe}", "training={epochs: 2.5}", "seeds=[0, x]")
    coerce_command_line_values(merged)
    with pytest.raises(ConfigError) as error:
        check_config(merged)
    message = str(error.value)
    assert "response.enabled: 'maybe' is not of type 'boolean'" in message
    assert "training.epochs: '2.5' is not of type 'integer'" in message
    assert "seeds.1: 'x' is not of type 'integer'" in message


def test_strings_the_schema_allows_stay_strings(config):
    merged = command_line(config, "dataset={name: mnist, root: '123'}", "device=cpu")
    coerce_command_line_values(merged)
    check_config(merged)
    assert merged["dataset"]["root"] == "123" and merged["dataset"]["name"] == "mnist" and merged["device"] == "cpu"


@pytest.mark.parametrize(
    "path",
    [
        "configs/paper.yaml",
        "configs/ci.yaml",
        "tests/configs/tiny.yaml",
        "configs/cifar10-proxy.yaml",
        "configs/cifar10-check.yaml",
        "configs/imagenette.yaml",
        "configs/instrument/common.yaml",
    ],
)
def test_shipped_configs_mean_the_same_alone_and_laid_over_the_default(repo_root, path):
    # Snakemake lays a --configfile over the Snakefile's config.yaml (snakemake.utils.update_config,
    # merging section by section): a key the config leaves out would take the CPU default's value.
    import yaml
    from snakemake.utils import update_config

    alone = yaml.safe_load((repo_root / path).read_text())
    merged = yaml.safe_load((repo_root / "config.yaml").read_text())
    update_config(merged, copy.deepcopy(alone))
    assert validate_config(merged) == validate_config(alone)


def test_paper_config_trains_every_network_at_full_width(repo_root):
    paper = load_config(repo_root / "configs/paper.yaml")
    assert set(paper["training"]["width_by_model"].values()) == {1.0}
    assert set(paper["training"]["width_by_model"]) == set(models.MODELS) - {"lenet"}


@pytest.mark.parametrize("band", ["high", "low", "conflict", "none"])
@pytest.mark.parametrize("geometry", [[], ["rgb"]])
def test_instrument_overlays_change_only_the_band_and_the_expected_claims(repo_root, band, geometry):
    import yaml
    from snakemake.utils import update_config

    from hfc import grid, planted
    from hfc.claims import check_claim_ids
    from hfc.claims.instrument import check_expected

    overlay = yaml.safe_load((repo_root / f"configs/instrument/{band}.yaml").read_text())
    # none alone turns Table 1's models off (no band carries the label for them to learn)
    extra = {"studies": {"table1": False}} if band == "none" else {}
    assert overlay == {"dataset": {"planted": {"band": band}}, "claims": overlay["claims"], **extra}
    ids = check_claim_ids(overlay["claims"]["expected_supported"])
    assert ids and all(i.startswith(f"instrument.{band}.") for i in ids)
    merged = yaml.safe_load((repo_root / "configs/instrument/common.yaml").read_text())
    for name in geometry:  # the RGB mode's size, channels, r0 and radii sit between the two
        update_config(merged, yaml.safe_load((repo_root / f"configs/instrument/{name}.yaml").read_text()))
    update_config(merged, overlay)
    config = validate_config(merged)
    settings = planted.check_settings(config["dataset"]["planted"], config["dataset"]["image_size"])
    assert settings["band"] == band and settings["radius"] in config["frequency"]["radii"]
    # what workflow parsing refuses (rules/report.smk): every expected claim can be evaluated
    check_expected(ids, settings, grid.table1_radii(config))
    assert grid.table1_radii(config) == ([] if band == "none" else [settings["radius"]])


# ----------------------------------------------------------------------------- config files (issue 21)


def test_yaml_merge_keys_are_read_and_duplicated_keys_still_refused(tmp_path):
    from hfc.config import check_yaml_file

    good = tmp_path / "merge.yaml"
    good.write_text("base: &b\n  epochs: 2\n  lr: 0.01\ntraining:\n  <<: *b\n  epochs: 3\nlist:\n  <<: [*b]\n")
    loaded = check_yaml_file(good)
    assert loaded["training"] == {"epochs": 3, "lr": 0.01} and loaded["list"] == {"epochs": 2, "lr": 0.01}
    for text, line in [
        ("training:\n  <<: {epochs: 2}\n  epochs: 3\n  epochs: 4\n", 4),  # written twice beside a merge
        ("base: &b\n  epochs: 2\n  epochs: 3\ntraining:\n  <<: *b\n", 3),  # twice in the anchored mapping
        ("training:\n  <<: {epochs: 2,\n      epochs: 3}\n", 3),  # twice in a mapping only merged
    ]:
        path = tmp_path / "dup.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"config file .*dup.yaml: duplicate key 'epochs' at line {line}"):
            check_yaml_file(path)


def test_unreadable_config_files_name_the_file_line_and_fix(tmp_path):
    from hfc.config import check_yaml_file

    binary = tmp_path / "model.pt"
    binary.write_bytes(b"PK\x03\x04\xaa\xff\x00\x01")
    with pytest.raises(ConfigError, match=r"config file .*model.pt is not a text file: byte 0xaa at offset 4"):
        check_yaml_file(binary)
    broken = tmp_path / "broken.yaml"
    broken.write_text("training:\n  epochs: 3\n   lr: [1\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: YAML syntax error at line 3, column 6: .*reads: '   lr: \[1'"):
        check_yaml_file(broken)
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("training:\n\tepochs: 3\n")
    with pytest.raises(ConfigError, match=r"line 2, column 1.*never tabs"):
        check_yaml_file(tabs)
    listed = tmp_path / "list.yaml"
    listed.write_text("- dataset\n")
    with pytest.raises(ConfigError, match="holds a YAML list, not a mapping of keys"):
        check_yaml_file(listed)


def test_a_whole_number_key_given_a_fraction_gets_a_whole_number_hint(config):
    bad = copy.deepcopy(config)
    bad["training"]["epochs"] = 1.5
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    message = str(error.value)
    assert "training.epochs: 1.5 is not of type 'integer' (this key takes a whole number, such as 1 or 2)" in message
    assert "write 1.5" not in message
    merged = command_line(config, "training={epochs: 1.5}")
    coerce_command_line_values(merged)
    with pytest.raises(ConfigError, match=r"training.epochs: '1.5' is not of type 'integer' \(this key takes a whole number, such as 1 or 2\)"):
        check_config(merged)


def test_the_config_checker_command_reads_files_as_the_workflow_does(tmp_path, capsys):
    from hfc.config import main

    overlay = tmp_path / "mine.yaml"
    overlay.write_text("t: &t\n  epochs: 2\n")
    assert main([str(overlay)]) == 1  # 't' is not a config key
    assert "unknown key(s) 't' in the top level" in capsys.readouterr().err
    overlay.write_text("training:\n  epochs: 2\n  lr: 0.001\nevaluation: {batch_size: 64}\n")
    assert main([str(overlay)]) == 0
    overlay.write_text("training:\n  epochs: [2\n")
    assert main([str(overlay)]) == 1
    assert "mine.yaml: YAML syntax error at line 3" in capsys.readouterr().err


def test_response_studies_that_train_nothing_are_refused(config):
    good = copy.deepcopy(config)
    good["response"].update(enabled=True, studies=["batch_size", "heuristics"])
    check_config(good)
    bad = copy.deepcopy(good)
    bad["studies"]["heuristics"] = []
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    assert "response.studies names heuristics, which this config trains no model for" in str(error.value)
    bad["response"]["enabled"] = False  # no sweep, nothing to refuse
    check_config(bad)
