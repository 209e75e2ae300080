"""Config mistakes caught before any job (issue 10.4, 10.5): limits, non-finite numbers,
duplicated keys, number-like strings; divergence and thread count at run time."""

import copy
import math

import pytest
import torch

from hfc import resources, seeding, train
from hfc.config import ConfigError, check_config, check_limits, check_yaml_file, load_config, validate_config
from tests.test_train import make_data, make_spec


@pytest.fixture
def config(repo_root):
    return load_config(repo_root / "config.yaml")


SIZES = (60000, 10000)  # Fashion-MNIST
SHAPE = (1, 28, 28)


def limit_error(config, sizes=SIZES, shape=SHAPE) -> str:
    with pytest.raises(ConfigError) as error:
        check_limits(config, sizes, shape)
    return str(error.value)


def test_default_config_is_within_limits(config):
    check_limits(config, SIZES, SHAPE)


@pytest.mark.parametrize(
    "section, key, value, limit",
    [
        ("robustness", "test_size", 2001, "2000 test images (dataset.test_size)"),
        ("response", "test_size", 2001, "2000 test images (dataset.test_size)"),  # enabled below
        ("evaluation", "train_size", 4001, "4000 training images (dataset.train_size)"),
        ("evaluation", "test_size", 2001, "2000 test images (dataset.test_size)"),
    ],
)
def test_evaluated_images_beyond_the_subset_are_named(config, section, key, value, limit):
    config["response"]["enabled"] = True
    config[section][key] = value
    message = limit_error(config)
    assert f"{section}.{key}: {value} is larger than the {limit}" in message


def test_whole_dataset_limits_when_the_subset_is_null(config):
    config["dataset"]["test_size"] = None
    config["robustness"]["test_size"] = 10001
    assert "robustness.test_size: 10001 is larger than the 10000 test images (the whole test set)" in limit_error(config)


def test_subset_larger_than_the_dataset(config):
    config["dataset"]["train_size"] = 70000
    assert "dataset.train_size: 70000 is larger than the 60000 images" in limit_error(config)


def test_svd_rank_must_leave_a_trailing_part(config):
    config["robustness"]["svd_rank"] = 28
    message = limit_error(config)
    assert "robustness.svd_rank: 28" in message and "use 1 to 27" in message
    config["robustness"]["svd_rank"] = 27
    check_limits(config, SIZES, SHAPE)


def test_batch_larger_than_the_training_set(config):
    config["training"]["batch_size"] = 4001
    assert "training.batch_size: 4001 is larger than the 4000 training images" in limit_error(config)
    config["training"]["batch_size"] = 100
    config["studies"]["batch_size"] = [25, 5000]
    assert "studies.batch_size: [5000]" in limit_error(config)


def test_sections_that_do_not_run_are_not_held_to_the_sizes(config):
    config["response"].update(enabled=False, test_size=10**6)
    config["studies"]["adversarial"] = False
    config["robustness"].update(test_size=10**6, svd_rank=100)
    check_limits(config, SIZES, SHAPE)
    config["response"]["enabled"] = True
    assert "response.test_size" in limit_error(config)


def test_a_config_that_trains_nothing_is_not_held_to_the_training_sizes(config):
    """Issue 21.4: only external models analysed; evaluation/training/response sizes unused."""
    config["studies"] = {"table1": False, "figure3": False, "heuristics": [], "batch_size": [], "architecture": [],
                         "optimizer": [], "batchnorm_lfc": False, "adversarial": False}  # fmt: skip
    config["evaluation"].update(train_size=10**6, test_size=10**6)
    config["training"]["batch_size"] = 10**6
    config["response"].update(enabled=True, test_size=10**6)
    check_limits(config, SIZES, SHAPE)
    config["studies"]["figure3"] = True  # one trained model: every one of them is held again
    message = limit_error(config)
    for key in ("evaluation.train_size", "evaluation.test_size", "training.batch_size", "response.test_size"):
        assert f"{key}: 1000000 is larger" in message


def test_unknown_sizes_skip_only_what_depends_on_them(config):
    config["robustness"]["test_size"] = 10**6
    check_limits(config, None, None)  # an ImageFolder not there yet: checked when it is read
    config["robustness"]["svd_rank"] = 64
    assert "svd_rank" in limit_error(config, None, (3, 32, 32))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_by_key(config, value):
    bad = copy.deepcopy(config)
    bad["training"]["lr"] = value
    bad["robustness"]["eps"] = [0.03, value]
    with pytest.raises(ConfigError) as error:
        check_config(bad)
    message = str(error.value)
    assert "training.lr: " in message and "not a finite number" in message
    assert "robustness.eps[1]" in message


@pytest.mark.parametrize("text, suggestion", [("1e-3", "write 0.001 or 1.0e-3"), ("5E-4", "write 0.0005 or 5.0E-4")])
def test_number_like_string_gets_a_hint(tmp_path, config, text, suggestion):
    path = tmp_path / "mine.yaml"
    path.write_text(f"training:\n  lr: {text}\n")
    loaded = check_yaml_file(path)
    assert loaded["training"]["lr"] == text  # YAML 1.1 indeed reads it as a string
    bad = copy.deepcopy(config)
    bad["training"]["lr"] = loaded["training"]["lr"]
    with pytest.raises(ConfigError, match=rf"training.lr: '{text}' is not of type 'number' \(YAML reads {text} as a string: {suggestion}\)"):
        check_config(bad)


def test_duplicate_keys_are_refused_with_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("training:\n  epochs: 1\n  lr: 0.001\n  epochs: 50\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: duplicate key 'epochs' at line 4 \(first at line 2\)"):
        check_yaml_file(path)


def test_shipped_configs_have_no_duplicate_keys(repo_root):
    for path in [repo_root / "config.yaml", *sorted((repo_root / "configs").glob("*.yaml"))]:
        check_yaml_file(path)


def test_divergence_relative_to_the_start_stops_the_run():
    """Adam at lr 1e6 does not give NaN but a loss of ~1e30; that must not finish as a run."""
    spec = make_spec(lr=1e6, epochs=2)
    with pytest.raises(train.TrainingDiverged, match=r"diverged in epoch 1: its mean training loss .* training.max_loss_ratio = 10"):
        train.train_run("toy", spec, make_data(), seed=0, settings={"max_loss_ratio": 10}, progress=False, log=lambda m: None)


def test_max_loss_ratio_null_turns_the_ratio_check_off():
    spec = make_spec(lr=1e6, epochs=1)
    try:
        train.train_run("toy", spec, make_data(), seed=0, settings={"max_loss_ratio": None}, progress=False, log=lambda m: None)
    except train.TrainingDiverged as error:  # only a non-finite loss may stop it now
        assert "max_loss_ratio" not in str(error)


def test_a_normal_run_is_not_called_diverged():
    _, metrics = train.train_run("toy", make_spec(epochs=2), make_data(), seed=0, settings={"max_loss_ratio": 10},
                                 progress=False, log=lambda m: None)  # fmt: skip
    assert metrics["loss"].notna().all()


def test_max_loss_ratio_default_is_in_the_schema(config):
    assert config["training"]["max_loss_ratio"] == 10
    bad = copy.deepcopy(config)
    bad["training"]["max_loss_ratio"] = 0.5
    with pytest.raises(ConfigError, match="training.max_loss_ratio"):
        validate_config(bad)


def test_jobs_compute_with_the_config_thread_count_not_the_granted_one():
    before = torch.get_num_threads()
    try:
        line = seeding.use_threads(2, 1)
        assert torch.get_num_threads() == 2
        assert "granted 1 core" in line and "numbers stay" in line
        assert "granted" not in seeding.use_threads(1, 2)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_memory_estimates_cover_what_was_measured_at_paper_scale():
    """Issue 10.9: at 50,000 CIFAR-10 images train reached 5.44 GiB loading its data, and
    attack_eval 5.45 GiB at robustness.batch_size 1000 (ResNet-18, full width)."""
    kwargs = dict(in_channels=3, num_classes=10, image_size=32, mean=[0.5] * 3, std=[0.25] * 3, width=1.0)
    scale = dict(shape=(3, 32, 32), n_train=50000, n_test=10000, model="resnet18", build_kwargs=kwargs)
    trained = resources.mem_mb("train", radii=4, eval_train=10000, eval_test=None, batch_size=100, **scale)
    attacked = resources.mem_mb("attack", batch_size=1000, **scale)
    assert trained > 5.44 * 1024 and attacked > 5.45 * 1024
    # ... and grow with the config: twice the batch, more memory
    assert resources.mem_mb("attack", batch_size=2000, **scale) > attacked + 5000
    small = dict(shape=(1, 28, 28), n_train=4000, n_test=2000, model="small_cnn",
                 build_kwargs={**kwargs, "in_channels": 1, "image_size": 28, "mean": [0.5], "std": [0.25], "width": 0.5})  # fmt: skip
    assert resources.mem_mb("train", radii=4, batch_size=100, **small) < trained / 4


@pytest.mark.parametrize("model, width", [("small_cnn", 0.5), ("lenet", 1.0), ("alexnet", 0.25), ("vgg", 0.25), ("resnet18", 0.25)])
def test_activation_sizes_on_the_cpu_equal_those_on_the_meta_device(monkeypatch, model, width):
    """Ordinary models are measured on the CPU (faster to parse), huge ones on the meta device:
    both must give the same bytes, and measuring must not move torch's random state."""
    kwargs = dict(in_channels=3, num_classes=10, image_size=32, mean=[0.5] * 3, std=[0.25] * 3, width=width)
    torch.manual_seed(5)
    expected_draw = torch.rand(1).item()
    resources._measure.cache_clear()
    torch.manual_seed(5)
    on_cpu = (resources.activation_bytes_per_image(model, kwargs), resources.parameter_bytes(model, kwargs))
    assert torch.rand(1).item() == expected_draw  # building the CPU model drew no number from torch's RNG
    resources._measure.cache_clear()
    monkeypatch.setattr(resources, "_REAL_RUN_BYTES", 0)  # every model measured on the meta device
    on_meta = (resources.activation_bytes_per_image(model, kwargs), resources.parameter_bytes(model, kwargs))
    resources._measure.cache_clear()
    assert on_cpu == on_meta and on_cpu[0] > 0 and on_cpu[1] > 0
