"""No file the workflow reads can run code: a pickle planted at each place is refused, by name.

Each planted file is a valid torch file whose pickle calls ``os.mkdir(marker)`` when it is
unpickled without ``weights_only``. Every loader must refuse it, name the file, and leave no
marker behind.
"""

import os

import pytest
import torch

from hfc import data as hfc_data
from hfc import detection, files, train
from tests.test_train import make_data, make_spec


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def plant(path, marker, wrap=lambda payload: {"payload": payload}):
    torch.save(wrap(_Payload(marker)), path)
    return path


def test_the_planted_file_would_run_code_if_unpickled(tmp_path):
    """The payload is real: a plain unpickling creates the marker (so the tests below can fail)."""
    marker = tmp_path / "ran"
    path = plant(tmp_path / "bad.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_load_tensors_refuses_and_names_the_file(tmp_path):
    marker = tmp_path / "ran"
    path = plant(tmp_path / "bad.pt", marker)
    with pytest.raises(files.UnsafeFileError, match=r"(?s)thing .*bad\.pt was refused.*do this"):
        files.load_tensors(path, what="thing", advice="do this")
    assert not marker.exists()


def test_checkpoint_that_runs_code_stops_the_run(tmp_path):
    marker = tmp_path / "ran"
    checkpoint = plant(tmp_path / "checkpoint.pt", marker, wrap=lambda p: {"fingerprint": p, "epoch": 1})
    messages = []
    with pytest.raises(files.UnsafeFileError, match=r"checkpoint .*checkpoint\.pt was refused.*delete it"):
        train.train_run("toy", make_spec(epochs=1), make_data(), seed=0, settings={}, progress=False,
                        checkpoint_path=str(checkpoint), log=messages.append)  # fmt: skip
    assert not marker.exists()
    assert checkpoint.exists()  # left for the user to look at, not silently replaced


def test_torn_checkpoint_starts_from_scratch(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"PK\x03\x04 torn")
    messages = []
    train.train_run("toy", make_spec(epochs=1), make_data(), seed=0, settings={}, progress=False,
                    checkpoint_path=str(checkpoint), log=messages.append)  # fmt: skip
    assert any("cannot read checkpoint" in m and "starting from scratch" in m for m in messages)


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    """What train_run writes is loadable without unpickling any class (resume keeps working)."""
    checkpoint = tmp_path / "checkpoint.pt"
    train.train_run("toy", make_spec(epochs=1), make_data(), seed=0, settings={}, progress=False,
                    checkpoint_path=str(checkpoint), log=lambda m: None)  # fmt: skip
    state = torch.load(checkpoint, weights_only=True)
    assert state["epoch"] == 1 and "optimizer" in state and state["rows"]


def test_model_file(tmp_path):
    marker = tmp_path / "ran"
    path = plant(tmp_path / "model.pt", marker)
    with pytest.raises(files.UnsafeFileError, match=r"model file .*model\.pt was refused"):
        train.load_model(str(path))
    assert not marker.exists()


def test_model_file_of_another_kind(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(files.UnreadableFileError, match=r"model file .*model\.pt is not a model written by hfc-repro"):
        train.load_model(str(path))


@pytest.mark.parametrize("name", ["canonical.pt", "subset.pt"])
def test_canonical_and_subset_files(tmp_path, name):
    marker = tmp_path / "ran"
    path = plant(tmp_path / name, marker)
    with pytest.raises(hfc_data.DatasetError, match=rf"canonical dataset file .*{name} was refused"):
        hfc_data.load_canonical(path)
    assert not marker.exists()


def test_frequency_split_file(tmp_path):
    marker = tmp_path / "ran"
    path = plant(tmp_path / "test_r4.pt", marker)
    with pytest.raises(hfc_data.DatasetError, match=r"frequency split .*test_r4\.pt was refused"):
        hfc_data.load_frequency_split(path, "test", 4)
    assert not marker.exists()


def test_detection_weights(tmp_path):
    marker = tmp_path / "ran"
    path = plant(tmp_path / "retinanet.pth", marker)
    with pytest.raises(detection.DetectionSetupError, match=r"detection.weights .*retinanet\.pth was refused"):
        detection.load_detector("retinanet_resnet50_fpn", str(path))
    assert not marker.exists()
