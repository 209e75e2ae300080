"""Imagenette through torchvision's own class, on tiny JPEGs in the exact layout it reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hfc import data
from tests import fakedata


@pytest.fixture
def isolated(tmp_path):
    return {"cache_dir": tmp_path / "cache", "download": False}


@pytest.mark.parametrize("size, folder", [("160px", "imagenette2-160"), ("320px", "imagenette2-320"), ("full", "imagenette2")])
def test_imagenette_layout_of_each_size(tmp_path, isolated, size, folder):
    written = fakedata.write_imagenette(tmp_path / "root", folder=folder, n_train=2, n_val=1)
    loaded = data.load_dataset("imagenette", root=tmp_path / "root", image_size=8, imagenette_size=size, **isolated)
    assert loaded["train_images"].shape == (6, 3, 8, 8) and loaded["test_images"].shape == (3, 3, 8, 8)
    assert loaded["train_labels"].tolist() == [label for _, label in written["train"]]
    assert loaded["test_labels"].tolist() == [0, 1, 2]
    assert loaded["classes"] == ["tench", "English springer", "cassette player"]
    assert loaded["name"] == "imagenette" and "dataset.root" in loaded["source"]


def test_imagenette_pixels_are_the_centre_crop(tmp_path, isolated):
    # 24×8 (width×height) already at the target height: no resampling, the crop takes columns 8..15.
    written = fakedata.write_imagenette(tmp_path / "root", n_train=1, n_val=1)
    path = written["train"][1][0]  # an RGB image of class 1
    pixels = np.zeros((8, 24, 3), dtype=np.uint8)
    pixels[:, 8:16] = 200
    Image.fromarray(pixels).save(path, format="PNG")  # lossless: PIL reads by content, not by name
    loaded = data.load_dataset("imagenette", root=tmp_path / "root", image_size=8, **isolated)
    assert torch.all(loaded["train_images"][1] == 200)


def test_imagenette_missing_says_where_it_looked(tmp_path, isolated):
    with pytest.raises(data.DatasetError) as error:
        data.load_dataset("imagenette", image_size=8, **isolated)
    message = str(error.value)
    assert "imagenette2-160/train" in message and "dataset.root: not set" in message and "download is false" in message


def test_imagenette_named_root_is_used_or_the_job_stops(tmp_path, isolated):
    # A good copy in the cache must not stand in for a root the config names.
    fakedata.write_imagenette(tmp_path / "cache" / "imagenette")
    assert data.load_dataset("imagenette", image_size=8, **isolated)["source"].startswith("download cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetError, match="from dataset.root .*empty.*imagenette2-160/train"):
        data.load_dataset("imagenette", root=tmp_path / "empty", image_size=8, **isolated)


def test_imagenette_needs_image_size_and_a_known_size(tmp_path, isolated):
    with pytest.raises(ValueError, match="needs dataset.image_size"):
        data.image_shape("imagenette", None)
    assert data.image_shape("imagenette", 64) == (None, 64, 64)
    with pytest.raises(data.DatasetError, match="imagenette_size"):
        data.load_dataset("imagenette", root=tmp_path, image_size=8, imagenette_size="64px", **isolated)


def test_imagenette_download_goes_through_torchvision(tmp_path, monkeypatch):
    import torchvision

    calls = []

    def fake_init(self, root, split="train", size="full", download=False, **kwargs):
        calls.append((root, split, size, download))
        raise RuntimeError("no network here")

    monkeypatch.setattr(torchvision.datasets.Imagenette, "__init__", fake_init)
    with pytest.raises(data.DatasetError, match="no network here"):
        data.load_dataset("imagenette", image_size=8, cache_dir=tmp_path / "cache", download=True)
    assert calls == [(str(tmp_path / "cache" / "imagenette"), "train", "160px", True)]


def test_imagenette_config_keeps_the_papers_radius_fractions(repo_root):
    import yaml

    from hfc.config import validate_config
    from hfc.frequency import paper_radii

    assert paper_radii(32, 32) == [4, 8, 12, 16] and paper_radii(28, 28) == [3, 7, 10, 14]  # 19.80 / 22.63 of each
    config = yaml.safe_load((repo_root / "configs/imagenette.yaml").read_text())
    size = config["dataset"]["image_size"]
    assert config["frequency"]["radii"] == paper_radii(size, size) == [8, 16, 24, 32]
    assert config["robustness"]["figure2_radius"] == paper_radii(size, size, radii=(12,))[0]
    validate_config(config)
