"""External models (hfc.external): loading state_dicts and TorchScript archives, and the clear,
entry-naming errors for bad input, raised at parse time."""

from __future__ import annotations

import copy
import os
import pickle

import pytest
import torch
from torch import nn

from hfc import external
from hfc.config import check_config
from hfc.models import build_model
from hfc.train import save_model

FASHION = {"name": "fashion_mnist", "root": None, "download": False}


def _config(*entries, dataset=FASHION) -> dict:
    return {"dataset": dict(dataset), "external_models": list(entries)}


def _small_cnn_entry(path, **extra) -> dict:
    entry = {"name": "mine", "architecture": "small_cnn", "weights": str(path), "input_size": [1, 28, 28],
             "mean": [0.3], "std": [0.35], "width": 0.25}  # fmt: skip
    entry.update(extra)
    return entry


@pytest.fixture
def small_cnn_weights(tmp_path):
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 10, 28, 0.3, 0.35, width=0.25)
    path = tmp_path / "small.pt"
    torch.save(model.net.state_dict(), path)
    return model, path


def test_project_state_dict_loads_and_predicts_like_the_original(small_cnn_weights):
    model, path = small_cnn_weights
    (spec,) = external.parse_external_models(_config(_small_cnn_entry(path)))
    loaded = external.load_external(spec)
    x = torch.rand(5, 1, 28, 28)
    assert torch.allclose(loaded(x), model.eval()(x), atol=1e-6)
    assert spec.num_classes == 10 and spec.where == "external_models[0] (name 'mine')"


def test_the_workflows_own_model_file_is_accepted(tmp_path, small_cnn_weights):
    model, _ = small_cnn_weights
    path = tmp_path / "model.pt"
    save_model(model, str(path), "small_cnn", {})
    (spec,) = external.parse_external_models(_config(_small_cnn_entry(path)))
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(external.load_external(spec)(x), model.eval()(x), atol=1e-6)


def test_torchvision_resnet18_state_dict_and_class_map(tmp_path):
    torch.manual_seed(0)
    import torchvision

    net = torchvision.models.resnet18(num_classes=10).eval()
    path = tmp_path / "r18.pth"
    torch.save(net.state_dict(), path)
    entry = {"name": "r18", "architecture": "torchvision:resnet18", "weights": str(path),
             "input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
             "dataset": {"name": "cifar10"}}  # fmt: skip
    (spec,) = external.parse_external_models(_config(entry))
    model = external.load_external(spec)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model(x), net((x - 0.5) / 0.25), atol=1e-5)
    # A model with more outputs than the dataset's classes: class_map picks and orders them.
    mapped = dict(entry, num_classes=10, class_map=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    (spec,) = external.parse_external_models(_config(mapped))
    assert torch.allclose(external.load_external(spec)(x), net((x - 0.5) / 0.25).flip(1), atol=1e-5)


def test_torchscript_archive_loads(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 28 * 28, 10)).eval()
    path = tmp_path / "net.ts"
    torch.jit.save(torch.jit.script(net), str(path))
    entry = {"name": "ts", "architecture": "torchscript", "weights": str(path), "input_size": [1, 28, 28],
             "mean": [0.0], "std": [1.0], "analyses": ["frequency_response", "figure2_count", "fourier_heatmap"]}  # fmt: skip
    (spec,) = external.parse_external_models(_config(entry))
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(external.load_external(spec)(x), net(x), atol=1e-6)
    # the same archive named as a state_dict: told to say torchscript
    with pytest.raises(external.ExternalModelError, match="TorchScript archive; set architecture: torchscript"):
        external.parse_external_models(_config(dict(entry, architecture="small_cnn")))
    # the wrong input size for the archive's graph: its forward fails at parse time
    bigger = dict(entry, input_size=[1, 32, 32], dataset={"name": "imagefolder", "root": None, "image_size": 32})
    with pytest.raises(external.ExternalModelError, match=r"external_models\[0\] \(name 'ts'\): a forward pass"):
        external.parse_external_models(_config(dict(bigger, num_classes=10)))


# ----------------------------------------------------------------------------- bad input


def test_torchscript_with_the_attacks_analysis_is_refused_at_parse_time_saying_why(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 28 * 28, 10)).eval()
    path = tmp_path / "net.ts"
    torch.jit.save(torch.jit.script(net), str(path))
    entry = {"name": "ts", "architecture": "torchscript", "weights": str(path), "input_size": [1, 28, 28],
             "mean": [0.0], "std": [1.0]}  # fmt: skip  (default analyses: all four, attacks included)
    for load in (True, False):
        with pytest.raises(external.ExternalModelError) as info:
            external.parse_external_models(_config(entry), load=load)
        message = str(info.value)
        assert "(name 'ts'): analysis 'attacks'" in message and "TorchScript archive is compiled" in message
        assert "analyses: [frequency_response, figure2_count, fourier_heatmap]" in message


class _Constant(nn.Module):
    """A model whose output does not depend on its input."""

    def forward(self, x):
        return torch.zeros(len(x), 10)


class _FirstRowOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))[:1]  # fewer rows than inputs


class _NaNForBright(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) / (x.flatten(1).amax(1, keepdim=True) < 1).float()  # inf for the white image and the gradient


@pytest.mark.parametrize(
    "module, expected",
    [
        (_Constant(), r"gives the same output for all of a batch of 8 different inputs .* ignores its input"),
        (_FirstRowOnly(), r"gives output \(1, 10\) for a batch of 8 .*one row of logits per input"),
        (_NaNForBright(), "outputs are NaN or infinite for 2 of a batch of 8"),
    ],
)
def test_models_whose_outputs_are_nonsense_are_refused(tmp_path, module, expected):
    torch.manual_seed(0)
    path = tmp_path / "net.ts"
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    entry = {"name": "bad", "architecture": "torchscript", "weights": str(path), "input_size": [1, 28, 28],
             "mean": [0.0], "std": [1.0], "analyses": ["frequency_response"]}  # fmt: skip
    with pytest.raises(external.ExternalModelError, match=r"external_models\[0\] \(name 'bad'\): the model.* " + expected):
        external.parse_external_models(_config(entry))


def test_non_finite_weights_are_named(tmp_path, small_cnn_weights):
    model, _ = small_cnn_weights
    state = model.net.state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    state[key] = state[key].clone()
    state[key][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(state, path)
    with pytest.raises(external.ExternalModelError, match=rf"nan.pt holds NaN or infinite values in {key}"):
        external.parse_external_models(_config(_small_cnn_entry(path)))


def test_a_class_map_sharing_an_output_is_refused_unless_asked(small_cnn_weights):
    _, path = small_cnn_weights
    shared = _small_cnn_entry(path, num_classes=10, class_map=[0, 1, 2, 3, 4, 5, 6, 7, 8, 0])
    with pytest.raises(external.ExternalModelError, match=r"dataset classes \[0, 9\] -> output 0.*class_map_allow_duplicates: true"):
        external.parse_external_models(_config(shared))
    (spec,) = external.parse_external_models(_config(dict(shared, class_map_allow_duplicates=True)))
    assert spec.class_map[9] == spec.class_map[0] == 0


@pytest.mark.parametrize("name", [".", "..", "..."])
def test_a_name_of_dots_is_refused_by_the_schema_and_the_parse(repo_root, small_cnn_weights, name):
    import yaml

    _, path = small_cnn_weights
    entry = _small_cnn_entry(path, name=name)
    with pytest.raises(external.ExternalModelError, match="name must be a plain folder name"):
        external.parse_external_models(_config(entry), load=False)
    config = yaml.safe_load((repo_root / "config.yaml").read_text())
    config["external_models"] = [entry]
    with pytest.raises(ValueError, match=r"external_models.0.name: '\.+' is not allowed: .*not only dots"):
        check_config(config)
    config["external_models"] = [_small_cnn_entry(path, name="v1.2")]
    check_config(config)


def test_a_weights_path_that_is_a_directory_is_not_called_missing(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.pt").write_bytes(b"")
    with pytest.raises(external.ExternalModelError, match=r"weights .*ckpt is a directory, not a file \(it holds model.pt\)"):
        external.parse_external_models(_config(_small_cnn_entry(tmp_path / "ckpt")))


def test_missing_weights_file_names_the_entry(tmp_path):
    entry = _small_cnn_entry(tmp_path / "nope.pt")
    with pytest.raises(external.ExternalModelError, match=r"external_models\[0\] \(name 'mine'\): weights file .*nope.pt is missing"):
        external.parse_external_models(_config(entry))


def test_weights_that_do_not_fit_name_missing_and_unexpected_keys(tmp_path, small_cnn_weights):
    import torchvision

    path = tmp_path / "r18.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    with pytest.raises(external.ExternalModelError, match=r"does not fit architecture 'small_cnn'.*Missing key.*Unexpected key"):
        external.parse_external_models(_config(_small_cnn_entry(path)))
    # small_cnn weights of another width: a size mismatch
    _, good = small_cnn_weights
    with pytest.raises(external.ExternalModelError, match="size mismatch"):
        external.parse_external_models(_config(_small_cnn_entry(good, width=0.5)))


def test_wrong_input_size_and_class_count(small_cnn_weights):
    _, path = small_cnn_weights
    with pytest.raises(external.ExternalModelError, match=r"input_size \[1, 32, 32\] does not match the images of dataset 'fashion_mnist' \(1×28×28\)"):
        external.parse_external_models(_config(_small_cnn_entry(path, input_size=[1, 32, 32])))
    with pytest.raises(external.ExternalModelError, match=r"input_size \[3, 28, 28\] does not match"):
        external.parse_external_models(_config(_small_cnn_entry(path, input_size=[3, 28, 28])))
    with pytest.raises(external.ExternalModelError, match="5 outputs .* but dataset 'fashion_mnist' has 10 classes"):
        external.parse_external_models(_config(_small_cnn_entry(path, num_classes=5)))
    with pytest.raises(external.ExternalModelError, match="class_map has 3 entries but dataset 'fashion_mnist' has 10"):
        external.parse_external_models(_config(_small_cnn_entry(path, num_classes=10, class_map=[0, 1, 2])))
    # weights of a 10-class model declared as 12 outputs: the weights do not fit
    mapped = _small_cnn_entry(path, num_classes=12, class_map=list(range(10)))
    with pytest.raises(external.ExternalModelError, match="does not fit"):
        external.parse_external_models(_config(mapped))


def test_duplicate_names_are_refused(small_cnn_weights):
    _, path = small_cnn_weights
    with pytest.raises(external.ExternalModelError, match=r"external_models\[1\] \(name 'mine'\): the name is already used"):
        external.parse_external_models(_config(_small_cnn_entry(path), _small_cnn_entry(path)))


class _Exploit:
    """Unpickling this would call os.system and write the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_weights_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"0.weight": _Exploit(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(payload, handle)
    assert not marker.exists()
    with pytest.raises(external.ExternalModelError, match=r"external_models\[0\] \(name 'mine'\): weights file .*evil.pt was refused: it holds pickled Python objects"):
        external.parse_external_models(_config(_small_cnn_entry(path)))
    assert not marker.exists()
    # the same file through plain pickle would have run the command: the test's payload is real
    if how == "pickle":
        with open(path, "rb") as handle:
            pickle.load(handle)
        assert marker.exists()


def test_schema_accepts_an_entry_and_rejects_unknown_keys(small_cnn_weights):
    import yaml

    with open("config.yaml") as handle:
        base = yaml.safe_load(handle)
    _, path = small_cnn_weights
    config = copy.deepcopy(base)
    config["external_models"] = [_small_cnn_entry(path, analyses=["fourier_heatmap"])]
    check_config(config)
    config["external_models"][0]["weigths"] = "x"
    with pytest.raises(ValueError, match="weigths"):
        check_config(config)


# ----------------------------------------------------------------------------- in the workflow


def _snakemake(args, cwd, timeout=1800):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _write_example_weights(folder):
    torch.manual_seed(0)
    torch.save(build_model("small_cnn", 1, 10, 28, 0.3, 0.35, width=0.5).net.state_dict(), folder / "my_cnn.pt")


def test_example_config_joins_the_dag_as_a_model(tmp_path, repo_root):
    from tests.test_workflow import job_counts

    _write_example_weights(tmp_path)
    args = ["-n", "-s", str(repo_root / "Snakefile"), "--configfile", str(repo_root / "configs/external.yaml")]
    result = _snakemake(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["external_analysis"] == 4 and counts["external_data"] == 1
    assert counts["external_heatmap_figure"] == 1 and counts["external_response_figure"] == 1
    assert counts["train"] == 2 and counts["fourier_heatmap_figure"] == 1
    assert "results/external/my_cnn/fourier_heatmap.csv" in result.stdout


def test_a_bad_entry_stops_the_workflow_before_any_job(tmp_path, repo_root):
    args = ["--cores", "1", "-s", str(repo_root / "Snakefile"), "--configfile", str(repo_root / "configs/external.yaml")]
    result = _snakemake(args, tmp_path)  # no my_cnn.pt in the folder
    assert result.returncode != 0
    assert "external_models[0] (name 'my_cnn'): weights file my_cnn.pt is missing" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()
    # weights of another width: the entry and the mismatch are named, still before any job
    torch.save(build_model("small_cnn", 1, 10, 28, 0.3, 0.35, width=0.25).net.state_dict(), tmp_path / "my_cnn.pt")
    result = _snakemake(args, tmp_path)
    assert result.returncode != 0 and "(name 'my_cnn'): weights file my_cnn.pt does not fit" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_tiny_end_to_end_external_model_and_per_study_analyses(tiny_run):
    # tests/configs/tiny.yaml with configs/external.yaml's model at test_size 50 (conftest.tiny_run)
    import pandas as pd

    assert tiny_run.returncode == 0, tiny_run.stderr
    results = tiny_run.path / "results"
    targets = [
        "external/my_cnn/fourier_heatmap.png", "external/my_cnn/frequency_response.png",
        "external/my_cnn/figure2_count.csv", "external/my_cnn/attacks.csv",
        "figures/fourier_heatmap_adversarial.png", "tables/fourier_heatmap_adversarial.csv",
        "tables/figure2_count_batch_size.csv", "tables/attacks_batch_size.csv",
    ]  # fmt: skip
    assert [t for t in targets if not (results / t).is_file()] == []
    heatmap = pd.read_csv(results / "external/my_cnn/fourier_heatmap.csv")
    assert len(heatmap) == 28 * 15 and set(heatmap["model"]) == {"my_cnn"} and heatmap["error"].between(0, 1).all()
    assert set(pd.read_csv(results / "external/my_cnn/attacks.csv")["attack"]) >= {"clean", "fgsm", "pgd"}
    assert list(pd.read_csv(results / "external/my_cnn/figure2_count.csv")["radius"]) == [4, 12]
    rings = pd.read_csv(results / "tables/fourier_heatmap_adversarial.csv")
    assert set(rings["label"]) == {"M_natural", "M_adversarial"}
    assert pd.read_csv(results / "tables/attacks_batch_size.csv")["run"].nunique() >= 2
    assert pd.read_csv(results / "tables/figure2_count_batch_size.csv")["model"].nunique() >= 2
    for png in ("external/my_cnn/fourier_heatmap.png", "figures/fourier_heatmap_adversarial.png"):
        assert (results / png).stat().st_size > 1000


def test_attacks_analysis_runs_the_whole_suite_per_rho():
    """The per-model smoothing × attack table uses issue 12's suite (gradient-free and adaptive too)."""
    from hfc import analyses
    from hfc.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=3, image_size=8, mean=[0.5], std=[0.25], width=0.25)
    images = torch.rand(6, 1, 8, 8)
    labels = torch.arange(6) % 3
    suite = {"attacks": ["fgsm", "apgd_dlr", "square"], "eps": [0.05], "square_queries": 5, "apgd_steps": 2}
    settings = {"robustness": {"rhos": [0.0, 1.0], "suite": suite}}
    table = analyses.analyse("attacks", model, images, labels, name="mine", seed=3, settings=settings)
    assert set(table["attack"]) == {"clean", "fgsm", "apgd_dlr", "square", "ensemble"}
    assert set(table["rho"]) == {0.0, 1.0}
    assert (table["run"] == "mine").all() and (table["seed"] == 3).all()
    assert table["accuracy"].between(0, 1).all()


def test_the_attacks_analysis_of_a_model_without_conv2d_says_why():
    from hfc import analyses

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).eval()
    settings = {"robustness": {"rhos": [0.0, 1.0], "suite": {"attacks": ["fgsm"], "eps": [0.05]}}}
    with pytest.raises(ValueError, match="mine: analysis 'attacks' smooths the kernels of the first nn.Conv2d.*has none"):
        analyses.analyse("attacks", model, torch.rand(3, 1, 8, 8), torch.arange(3), name="mine", seed=0, settings=settings)


def test_an_imagefolder_of_one_class_is_refused_at_parse_time(tmp_path, small_cnn_weights):
    from tests import fakedata

    _, path = small_cnn_weights
    fakedata.write_imagefolder(tmp_path / "imgs", classes=("only",), size=(28, 28), mode="L")
    dataset = {"name": "imagefolder", "root": str(tmp_path / "imgs"), "image_size": 28}
    entry = _small_cnn_entry(path, dataset=dataset, num_classes=10, class_map=[0])
    with pytest.raises(external.ExternalModelError, match=r"\(name 'mine'\): dataset 'imagefolder' at .*imgs has 1 class folder\(s\) in train/"):
        external.parse_external_models(_config(entry), load=False)
