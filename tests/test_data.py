"""hfc.data: every source of the torchvision datasets, imagefolder, the canonical file, subsets."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from hfc import data
from hfc.data import DatasetError, load_dataset

try:
    from tests import fakedata
except ImportError:  # tests/ itself is on sys.path (pytest's default rootdir-less import)
    import fakedata

TV_FOLDER = {"fashion_mnist": "FashionMNIST/raw", "mnist": "MNIST/raw", "cifar10": "cifar-10-batches-py"}
TV_CLASS = {"fashion_mnist": torchvision.datasets.FashionMNIST, "mnist": torchvision.datasets.MNIST}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """A test that reaches torchvision's download fails instead of going online."""

    def refuse(self):
        raise AssertionError("test tried to download")

    for cls in (torchvision.datasets.MNIST, torchvision.datasets.CIFAR10):
        monkeypatch.setattr(cls, "download", refuse)


@pytest.fixture
def isolated(tmp_path):
    """load_dataset keyword arguments that keep the real Debian files and ~/.cache out of a test."""
    return {"debian_dir": tmp_path / "no-debian", "cache_dir": tmp_path / "cache", "download": False}


def assert_same(loaded, written):
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        assert loaded[key].dtype == written[key].dtype, key
        assert torch.equal(loaded[key], written[key]), key


# ----------------------------------------------------------------------------- IDX datasets


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist"])
def test_idx_torchvision_layout_gz(tmp_path, isolated, name):
    written = fakedata.write_idx_dataset(tmp_path / "root" / TV_FOLDER[name], n_train=30, n_test=12, seed=1)
    loaded = load_dataset(name, root=tmp_path / "root", **isolated)
    assert_same(loaded, written)
    assert loaded["train_images"].shape == (30, 1, 28, 28)
    assert loaded["classes"] == list(TV_CLASS[name].classes)
    assert loaded["name"] == name
    assert "torchvision's layout" in loaded["source"]


def test_idx_flat_folder_uncompressed(tmp_path, isolated):
    written = fakedata.write_idx_dataset(tmp_path / "flat", n_train=25, n_test=10, seed=2, gz=False)
    loaded = load_dataset("mnist", root=tmp_path / "flat", **isolated)
    assert_same(loaded, written)
    assert "flat folder" in loaded["source"]


def test_idx_pixel_order_matches_file_bytes(tmp_path, isolated):
    """Independent of fakedata's own reshaping: pixel (row 0, column 1) is byte 16 + 1."""
    written = fakedata.write_idx_dataset(tmp_path, n_train=20, n_test=10, seed=3)
    raw = gzip.decompress(written["files"]["train_images"].read_bytes())
    loaded = load_dataset("fashion_mnist", root=tmp_path, **isolated)
    image0 = np.frombuffer(raw, dtype=np.uint8, offset=16, count=28 * 28).reshape(28, 28)
    assert loaded["train_images"][0, 0, 0, 1] == raw[16 + 1]
    assert torch.equal(loaded["train_images"][0, 0], torch.from_numpy(image0.copy()))


def test_debian_dir_override(tmp_path):
    written = fakedata.write_idx_dataset(tmp_path / "debian", seed=4)
    loaded = load_dataset("fashion_mnist", debian_dir=tmp_path / "debian", cache_dir=tmp_path / "cache", download=False)
    assert_same(loaded, written)
    assert "Debian" in loaded["source"] and str(tmp_path / "debian") in loaded["source"]


@pytest.mark.parametrize("damage", ["empty", "truncated", "wrong_magic", "missing"])
def test_a_named_root_is_used_or_the_load_stops(tmp_path, damage):
    """dataset.root given: never silently replaced by Debian's copy or a download (issue 10.3)."""
    root = tmp_path / "root"
    if damage == "empty":
        root.mkdir()
    elif damage != "missing":
        bad = fakedata.write_idx_dataset(root, seed=5, gz=damage == "truncated")
        if damage == "truncated":
            fakedata.truncate_file(bad["files"]["train_images"], 100)
        else:
            raw = bytearray(bad["files"]["test_labels"].read_bytes())
            raw[2:4] = b"\x09\x09"
            bad["files"]["test_labels"].write_bytes(bytes(raw))
    fakedata.write_idx_dataset(tmp_path / "debian", seed=6)
    fakedata.write_idx_dataset(tmp_path / "cache" / "FashionMNIST" / "raw", seed=7)
    with pytest.raises(DatasetError, match=r"(?s)dataset.root .*root holds no usable fashion_mnist data.*never replaced.*set dataset.root to null"):
        load_dataset("fashion_mnist", root=root, debian_dir=tmp_path / "debian", cache_dir=tmp_path / "cache", download=False)


def test_root_is_tried_before_debian(tmp_path):
    root = fakedata.write_idx_dataset(tmp_path / "root", seed=5)
    fakedata.write_idx_dataset(tmp_path / "debian", seed=6)
    loaded = load_dataset("fashion_mnist", root=tmp_path / "root", debian_dir=tmp_path / "debian",
                          cache_dir=tmp_path / "cache", download=False)
    assert_same(loaded, root)


def test_debian_dir_is_only_for_fashion_mnist(tmp_path):
    fakedata.write_idx_dataset(tmp_path / "debian", seed=4)
    with pytest.raises(DatasetError):
        load_dataset("mnist", debian_dir=tmp_path / "debian", cache_dir=tmp_path / "cache", download=False)


def test_download_goes_through_torchvision_into_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_download(self):
        calls.append(self.raw_folder)
        self.written = fakedata.write_idx_dataset(self.raw_folder, n_train=20, n_test=10, seed=7, gz=False)

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", fake_download)
    places = {"debian_dir": tmp_path / "no-debian", "cache_dir": tmp_path / "cache"}
    loaded = load_dataset("fashion_mnist", download=True, **places)
    assert calls == [str(tmp_path / "cache" / "FashionMNIST" / "raw")]
    assert_same(loaded, fakedata.write_idx_dataset(tmp_path / "again", n_train=20, n_test=10, seed=7, gz=False))
    assert "download" in loaded["source"]
    # the next run finds the earlier download without downloading again
    again = load_dataset("fashion_mnist", download=True, **places)
    assert len(calls) == 1 and "download cache" in again["source"]


def test_download_disabled_is_not_attempted(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", lambda self: calls.append(1))
    with pytest.raises(DatasetError, match="download is false"):
        load_dataset("fashion_mnist", debian_dir=tmp_path / "none", cache_dir=tmp_path / "cache", download=False)
    assert calls == []


def test_failed_download_is_reported(tmp_path, monkeypatch):
    def offline(self):
        raise OSError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(DatasetError, match="Name or service not known"):
        load_dataset("mnist", cache_dir=tmp_path / "cache", download=True)


def test_missing_data_lists_every_place_and_the_fixes(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion_mnist", root=None, debian_dir=tmp_path / "no-debian",
                     cache_dir=tmp_path / "cache", download=False)
    message = str(info.value)
    for place in (tmp_path / "no-debian", tmp_path / "cache" / "FashionMNIST/raw"):
        assert str(place) in message
    assert "missing" in message and "train-images-idx3-ubyte" in message
    assert "dataset.root" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "dataset.download" in message
    assert isinstance(info.value, RuntimeError)


def test_missing_data_without_root_says_root_is_not_set(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset.root: not set"):
        load_dataset("mnist", cache_dir=tmp_path / "cache", download=False)


def test_some_files_missing_are_named(tmp_path, isolated):
    written = fakedata.write_idx_dataset(tmp_path, seed=8)
    written["files"]["test_labels"].unlink()
    with pytest.raises(DatasetError, match=r"missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_truncated_gz(tmp_path, isolated):
    written = fakedata.write_idx_dataset(tmp_path, seed=9)
    path = written["files"]["train_images"]
    fakedata.truncate_file(path, path.stat().st_size // 2)
    pattern = r"(?s)corrupt or truncated gzip file .*train-images-idx3-ubyte\.gz.*EOFError"
    with pytest.raises(DatasetError, match=pattern):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_gzip_crc_error(tmp_path, isolated):
    written = fakedata.write_idx_dataset(tmp_path, seed=10)
    path = written["files"]["test_labels"]
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"(?s)t10k-labels-idx1-ubyte\.gz.*CRC"):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_wrong_idx_magic(tmp_path, isolated):
    written = fakedata.write_idx_dataset(tmp_path, seed=11, gz=False)
    path = written["files"]["train_images"]
    raw = bytearray(path.read_bytes())
    raw[3] = 0x01  # 2049, a label file's magic, where 2051 belongs
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"(?s)train-images-idx3-ubyte has IDX magic number 2049.*2051"):
        load_dataset("mnist", root=tmp_path, **isolated)


@pytest.mark.parametrize("change", [-5, +3])
def test_wrong_byte_count(tmp_path, isolated, change):
    written = fakedata.write_idx_dataset(tmp_path, seed=12)
    path = written["files"]["test_images"]
    raw = gzip.decompress(path.read_bytes())
    raw = raw[:change] if change < 0 else raw + b"\0" * change
    path.write_bytes(gzip.compress(raw))
    expected = 16 + 20 * 28 * 28
    word = "truncated" if change < 0 else "corrupt"
    pattern = rf"{word}: .*t10k-images-idx3-ubyte.gz has {expected + change} bytes .*needs {expected}"
    with pytest.raises(DatasetError, match=pattern):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_wrong_image_size_for_the_dataset(tmp_path, isolated):
    fakedata.write_idx_dataset(tmp_path, seed=13, height=20, width=20)
    with pytest.raises(DatasetError, match=r"20×20 images, mnist images are 28×28"):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_image_and_label_counts_must_agree(tmp_path, isolated):
    fakedata.write_idx_dataset(tmp_path, n_train=20, seed=14)
    fakedata.write_idx_file(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"20 images but .* 19 labels"):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_label_out_of_range(tmp_path, isolated):
    fakedata.write_idx_dataset(tmp_path, n_test=10, seed=15)
    fakedata.write_idx_file(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0] * 9 + [12], dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"test_labels range over 0..12 but there are 10 classes"):
        load_dataset("mnist", root=tmp_path, **isolated)


def test_image_size_does_not_apply_to_fixed_size_datasets(tmp_path, isolated):
    fakedata.write_idx_dataset(tmp_path, seed=16)
    with pytest.raises(ValueError, match="image_size only resizes imagefolder"):
        load_dataset("mnist", root=tmp_path, image_size=32, **isolated)
    assert load_dataset("mnist", root=tmp_path, image_size=28, **isolated)["train_images"].shape[-1] == 28


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


# ----------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_cifar10(tmp_path, isolated, layout):
    directory = tmp_path / "root" / TV_FOLDER["cifar10"] if layout == "torchvision" else tmp_path / "root"
    written = fakedata.write_cifar10_batches(directory, n_per_batch=20, n_test=20, seed=17)
    loaded = load_dataset("cifar10", root=tmp_path / "root", **isolated)
    assert_same(loaded, written)
    assert loaded["train_images"].shape == (100, 3, 32, 32)
    assert loaded["classes"] == fakedata.CIFAR10_CLASSES
    assert ("torchvision's layout" if layout == "torchvision" else "flat folder") in loaded["source"]


def test_cifar10_rows_are_red_green_blue_planes(tmp_path, isolated):
    """Independent of fakedata's reshaping: a row is 1024 R, 1024 G, 1024 B values, each plane row-major."""
    written = fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=18)
    loaded = load_dataset("cifar10", root=tmp_path, **isolated)
    row = written["train_rows"][4]
    for channel in range(3):
        plane = row[channel * 1024:(channel + 1) * 1024]
        assert torch.equal(loaded["train_images"][4, channel].flatten(), torch.from_numpy(plane.copy()))
    assert loaded["train_images"][4, 1, 0, 1] == row[1024 + 1]
    assert loaded["train_images"][4, 2, 1, 0] == row[2048 + 32]


def test_cifar10_corrupt_pickle(tmp_path, isolated):
    written = fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=19)
    path = written["files"]["data_batch_3"]
    fakedata.truncate_file(path, path.stat().st_size // 2)
    with pytest.raises(DatasetError, match=r"(?s)data_batch_3 cannot be unpickled"):
        load_dataset("cifar10", root=tmp_path, **isolated)


def test_cifar10_garbage_pickle(tmp_path, isolated):
    written = fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=19)
    written["files"]["batches.meta"].write_bytes(b"this is not a pickle")
    with pytest.raises(DatasetError, match=r"batches.meta cannot be unpickled"):
        load_dataset("cifar10", root=tmp_path, **isolated)


def test_cifar10_pickle_importing_other_code_is_refused(tmp_path, isolated):
    import datetime
    import pickle

    fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=20)
    batch = {"data": np.zeros((2, 3072), dtype=np.uint8), "labels": [0, 1], "when": datetime.date(2020, 1, 1)}
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_2 cannot be unpickled: .*refusing to import datetime.date"):
        load_dataset("cifar10", root=tmp_path, **isolated)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_python3_pickles_load(tmp_path, isolated, protocol):
    """Batches re-pickled by Python 3 / numpy 2 (str keys, numpy._core) read as well."""
    import pickle

    written = fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=22)
    path = written["files"]["data_batch_1"]
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    assert_same(load_dataset("cifar10", root=tmp_path, **isolated), written)


def test_cifar10_wrong_row_length(tmp_path, isolated):
    fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=20)
    batch = {b"data": np.zeros((3, 3000), dtype=np.uint8), b"labels": [0, 1, 2]}
    (tmp_path / "test_batch").write_bytes(fakedata.py2_pickle_bytes(batch))
    with pytest.raises(DatasetError, match=r"test_batch 'data' should be a uint8 N×3072 array"):
        load_dataset("cifar10", root=tmp_path, **isolated)


def test_cifar10_missing_batch(tmp_path, isolated):
    written = fakedata.write_cifar10_batches(tmp_path, n_per_batch=3, n_test=2, seed=21)
    written["files"]["data_batch_5"].unlink()
    with pytest.raises(DatasetError, match=r"missing data_batch_5") as info:
        load_dataset("cifar10", root=tmp_path, **isolated)
    assert "Debian" not in str(info.value)


# ----------------------------------------------------------------------------- imagefolder


def test_imagefolder_rgb(tmp_path):
    written = fakedata.write_imagefolder(tmp_path, classes=("dog", "cat", "frog"), n_train=3, n_test=2, size=(8, 6))
    loaded = load_dataset("imagefolder", root=tmp_path)
    assert_same(loaded, written)
    assert loaded["train_images"].shape == (9, 3, 8, 6)
    assert loaded["classes"] == ["cat", "dog", "frog"]
    assert loaded["train_labels"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # channel order: R first
    from PIL import Image

    first = np.array(Image.open(written["paths"]["train"][0]))
    assert torch.equal(loaded["train_images"][0, 0], torch.from_numpy(first[..., 0].copy()))


def test_imagefolder_grayscale_keeps_one_channel(tmp_path):
    written = fakedata.write_imagefolder(tmp_path, mode="L", size=(5, 7))
    loaded = load_dataset("imagefolder", root=tmp_path)
    assert loaded["train_images"].shape[1] == 1
    assert_same(loaded, written)


def test_imagefolder_mixed_modes_become_rgb(tmp_path):
    written = fakedata.write_imagefolder(tmp_path, size=(6, 6))
    gray = np.arange(36, dtype=np.uint8).reshape(6, 6)
    fakedata.write_png(tmp_path / "test" / "frog" / "999.png", gray)
    loaded = load_dataset("imagefolder", root=tmp_path)
    assert loaded["test_images"].shape == (7, 3, 6, 6)
    for channel in range(3):
        assert torch.equal(loaded["test_images"][-1, channel], torch.from_numpy(gray))
    assert torch.equal(loaded["train_images"], written["train_images"])


def test_imagefolder_resize(tmp_path):
    fakedata.write_imagefolder(tmp_path, size=(8, 6))
    fakedata.write_png(tmp_path / "train" / "cat" / "big.png", np.full((20, 30, 3), 77, dtype=np.uint8))
    loaded = load_dataset("imagefolder", root=tmp_path, image_size=12)
    assert loaded["train_images"].shape == (10, 3, 12, 12)
    assert loaded["test_images"].shape == (6, 3, 12, 12)
    assert (loaded["train_images"][3] == 77).all()  # big.png sorts after 002.png in class cat


def test_imagefolder_size_mismatch_names_file_size_and_fix(tmp_path):
    fakedata.write_imagefolder(tmp_path, size=(8, 6))
    odd = fakedata.write_png(tmp_path / "test" / "dog" / "odd.png", np.zeros((9, 4, 3), dtype=np.uint8))
    with pytest.raises(DatasetError) as info:
        load_dataset("imagefolder", root=tmp_path)
    message = str(info.value)
    assert str(odd) in message and "4×9" in message and "6×8" in message
    assert "dataset.image_size" in message


@pytest.mark.parametrize("folder", ["removed", "empty"])
def test_imagefolder_a_train_class_without_test_images_is_refused(tmp_path, folder):
    fakedata.write_imagefolder(tmp_path, classes=("a", "b", "c"), n_train=2, n_test=1)
    for path in (tmp_path / "test" / "b").iterdir():
        path.unlink()
    if folder == "removed":
        (tmp_path / "test" / "b").rmdir()
    with pytest.raises(DatasetError, match=r"class\(es\) \['b'\] have training images .* but no images in .*test"):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_a_single_class_is_refused(tmp_path):
    fakedata.write_imagefolder(tmp_path, classes=("only",))
    with pytest.raises(DatasetError, match=r"train has one class folder only \('only'\).*accuracy is 1.0"):
        load_dataset("imagefolder", root=tmp_path)


@pytest.mark.parametrize("link", ["folder into another class", "image of another class", "into the test split"])
def test_imagefolder_symlinks_that_would_give_wrong_labels_are_refused(tmp_path, link):
    written = fakedata.write_imagefolder(tmp_path, classes=("cat", "dog"), size=(6, 6))
    if link == "folder into another class":
        made = tmp_path / "train" / "cat" / "more"
        made.symlink_to(tmp_path / "train" / "dog", target_is_directory=True)
    elif link == "image of another class":
        made = tmp_path / "train" / "cat" / "extra.png"
        made.symlink_to(written["paths"]["train"][-1])
    else:
        made = tmp_path / "train" / "dog" / "leak"
        made.symlink_to(tmp_path / "test" / "dog", target_is_directory=True)
    with pytest.raises(DatasetError, match=rf"{made}.*(same file|reached through a symlink).*remove the symlink"):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_a_symlinked_folder_of_the_same_class_is_read_and_counted(tmp_path):
    from hfc.data import dataset_sizes

    fakedata.write_imagefolder(tmp_path / "data", classes=("cat", "dog"), size=(6, 6))
    extra = fakedata.write_png(tmp_path / "elsewhere" / "x.png", np.full((6, 6, 3), 9, dtype=np.uint8))
    (tmp_path / "data" / "train" / "cat" / "more").symlink_to(extra.parent, target_is_directory=True)
    loaded = load_dataset("imagefolder", root=tmp_path / "data")
    assert len(loaded["train_labels"]) == 7 and loaded["train_labels"].tolist().count(0) == 4
    assert dataset_sizes("imagefolder", tmp_path / "data") == (7, 4)  # the parse-time count agrees


def test_imagefolder_one_colour_image_does_not_turn_a_greyscale_dataset_into_rgb(tmp_path):
    fakedata.write_imagefolder(tmp_path, mode="L", size=(6, 6))
    grey_as_rgb = np.repeat(np.arange(36, dtype=np.uint8).reshape(6, 6, 1), 3, axis=2)
    fakedata.write_png(tmp_path / "train" / "cat" / "rgb.png", grey_as_rgb)
    loaded = load_dataset("imagefolder", root=tmp_path)  # a grey image saved as RGB: read as grey
    assert loaded["train_images"].shape[1] == 1 and torch.equal(loaded["train_images"][3, 0], torch.from_numpy(grey_as_rgb[..., 0]))
    for mode in ("RGB", "RGBA"):
        colour = np.zeros((6, 6, len(mode)), dtype=np.uint8)
        colour[..., 0] = 200
        colour[..., -1] = 255
        path = tmp_path / "test" / "dog" / f"colour-{mode}.png"
        fakedata.write_png(path, colour)
        with pytest.raises(DatasetError, match=rf"greyscale dataset .* 1 image\(s\) have colour: {path} \({mode}\)"):
            load_dataset("imagefolder", root=tmp_path)
        path.unlink()


def test_imagefolder_unknown_test_class(tmp_path):
    fakedata.write_imagefolder(tmp_path, classes=("a", "b"))
    fakedata.write_png(tmp_path / "test" / "zebra" / "0.png", np.zeros((8, 6, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"classes \['zebra'\]"):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_bad_roots(tmp_path):
    with pytest.raises(DatasetError, match="dataset.root"):
        load_dataset("imagefolder")
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"test is not a directory"):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_corrupt_image(tmp_path):
    written = fakedata.write_imagefolder(tmp_path)
    broken = written["paths"]["train"][2]
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match=str(broken)):
        load_dataset("imagefolder", root=tmp_path)


# ----------------------------------------------------------------------------- canonical file


def test_canonical_round_trip(tmp_path):
    dataset = fakedata.synthetic_dataset(n_train=30, n_test=10, channels=3, size=8)
    dataset["mean"], dataset["std"] = data.channel_stats(dataset["train_images"])
    dataset["train_index"] = torch.arange(30)
    digest = data.save_canonical(dataset, tmp_path / "sub" / "canonical.pt")
    assert digest == data.sha256_file(tmp_path / "sub" / "canonical.pt")
    raw = torch.load(tmp_path / "sub" / "canonical.pt", weights_only=True)
    back = data.load_canonical(tmp_path / "sub" / "canonical.pt")
    for loaded in (raw, back):
        assert set(loaded) == set(dataset)
        assert_same(loaded, dataset)
        assert loaded["classes"] == dataset["classes"] and loaded["mean"] == dataset["mean"]
        assert torch.equal(loaded["train_index"], dataset["train_index"])
    assert os.listdir(tmp_path / "sub") == ["canonical.pt"]  # no temporary file left


def test_canonical_checksum_is_stable_and_content_sensitive(tmp_path):
    dataset = fakedata.synthetic_dataset()
    first = data.save_canonical(dataset, tmp_path / "a.pt")
    assert data.save_canonical(dataset, tmp_path / "other-name.pt") == first
    assert data.save_canonical(dataset, tmp_path / "a.pt") == first
    dataset["test_labels"] = dataset["test_labels"].flip(0)
    assert data.save_canonical(dataset, tmp_path / "b.pt") != first


def test_canonical_stores_only_the_view(tmp_path):
    big = fakedata.synthetic_dataset(n_train=2000)
    small = dict(big, train_images=big["train_images"][:20], train_labels=big["train_labels"][:20])
    data.save_canonical(small, tmp_path / "small.pt")
    assert (tmp_path / "small.pt").stat().st_size < 200 * 28 * 28


def test_save_canonical_rejects_what_weights_only_cannot_load(tmp_path):
    dataset = fakedata.synthetic_dataset()
    with pytest.raises(ValueError, match="'extra' is a ndarray"):
        data.save_canonical(dict(dataset, extra=np.zeros(3)), tmp_path / "x.pt")
    with pytest.raises(ValueError, match="train_images must be a uint8"):
        data.save_canonical(dict(dataset, train_images=dataset["train_images"].float()), tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_load_canonical_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        data.load_canonical(tmp_path / "missing.pt")
    good = tmp_path / "good.pt"
    data.save_canonical(fakedata.synthetic_dataset(), good)
    fakedata.truncate_file(good, good.stat().st_size // 2)
    with pytest.raises(DatasetError, match=r"cannot read .*delete .*good.pt and rerun"):
        data.load_canonical(good)
    wrong = tmp_path / "wrong.pt"
    torch.save({"train_images": torch.zeros(3)}, wrong)
    with pytest.raises(DatasetError, match=r"not a valid canonical dataset .*missing keys.*delete"):
        data.load_canonical(wrong)


# ----------------------------------------------------------------------------- subsets, statistics


def test_stratified_subset_proportions():
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)[order]
    index = data.stratified_subset(labels, 20, seed=3)
    assert index.dtype == torch.int64
    assert torch.equal(index, index.sort().values) and len(index.unique()) == 20
    assert labels[index].bincount().tolist() == [12, 6, 2]
    # largest remainders: 11 * (0.6, 0.3, 0.1) = 6.6, 3.3, 1.1 -> 7, 3, 1
    assert labels[data.stratified_subset(labels, 11, seed=3)].bincount().tolist() == [7, 3, 1]


def test_stratified_subset_keeps_every_class():
    labels = torch.tensor([0] * 97 + [1] * 2 + [2])
    index = data.stratified_subset(labels, 5, seed=0)
    assert sorted(labels[index].tolist()) == [0, 0, 0, 1, 2]


def test_stratified_subset_is_seeded():
    labels = torch.arange(1000) % 10
    a = data.stratified_subset(labels, 100, seed=1)
    assert torch.equal(a, data.stratified_subset(labels, 100, seed=1))
    assert not torch.equal(a, data.stratified_subset(labels, 100, seed=2))


def test_stratified_subset_all_and_errors():
    labels = torch.arange(50) % 5
    assert torch.equal(data.stratified_subset(labels, None, 0), torch.arange(50))
    assert torch.equal(data.stratified_subset(labels, 50, 0), torch.arange(50))
    with pytest.raises(ValueError, match="larger than the 50"):
        data.stratified_subset(labels, 51, 0)
    with pytest.raises(ValueError, match="smaller than the 5 classes"):
        data.stratified_subset(labels, 4, 0)
    with pytest.raises(ValueError, match="integer"):
        data.stratified_subset(labels, 10.5, 0)
    with pytest.raises(ValueError, match="1-D integer"):
        data.stratified_subset(labels.float(), 10, 0)


def test_channel_stats():
    images = torch.randint(0, 256, (7, 3, 5, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = data.channel_stats(images)
    x = images.double() / 255
    assert mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-12)
    assert std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-12)
    assert data.channel_stats(torch.full((2, 1, 3, 3), 51, dtype=torch.uint8)) == ([0.2], [0.0])
    with pytest.raises(ValueError, match="uint8"):
        data.channel_stats(x)


def test_to_float():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    out = data.to_float(images)
    assert out.dtype == torch.float32 and out.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
    with pytest.raises(ValueError, match="uint8"):
        data.to_float(out)


def test_image_shape():
    assert data.image_shape("fashion_mnist") == (1, 28, 28)
    assert data.image_shape("mnist", 28) == (1, 28, 28)
    assert data.image_shape("cifar10") == (3, 32, 32)
    assert data.image_shape("imagefolder") is None
    assert data.image_shape("imagefolder", 64) == (None, 64, 64)
    with pytest.raises(ValueError, match="unknown dataset"):
        data.image_shape("imagenet")
    with pytest.raises(ValueError, match="image_size"):
        data.image_shape("cifar10", 64)
    assert data.image_shape("planted", 16) == (None, 16, 16)
    assert data.DATASETS == ("fashion_mnist", "mnist", "cifar10", "imagefolder", "imagenette", "planted")


# ----------------------------------------------------------------------------- the real files


@pytest.mark.skipif(not Path(data.DEBIAN_FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(tmp_path):
    loaded = load_dataset("fashion_mnist", cache_dir=tmp_path / "cache", download=False)
    assert loaded["train_images"].shape == (60000, 1, 28, 28)
    assert loaded["test_images"].shape == (10000, 1, 28, 28)
    assert loaded["classes"] == list(torchvision.datasets.FashionMNIST.classes)
    assert loaded["train_labels"].bincount().tolist() == [6000] * 10
    assert loaded["test_labels"].bincount().tolist() == [1000] * 10
    assert "Debian" in loaded["source"]
    # the published statistics of Fashion-MNIST's training set
    mean, std = data.channel_stats(loaded["train_images"])
    assert mean[0] == pytest.approx(0.2860, abs=1e-4) and std[0] == pytest.approx(0.3530, abs=1e-4)


def test_load_frequency_split_checks_and_rescales(tmp_path):
    low, high = torch.rand(3, 1, 4, 4) * 0.5, torch.rand(3, 1, 4, 4) - 0.5
    path = tmp_path / "test_r4.pt"
    torch.save({"split": "test", "radius": 4, "low": low, "high": high}, path)
    radius, got_low, got_high = data.load_frequency_split(path, "test")
    assert radius == 4 and torch.equal(got_low, low) and torch.equal(got_high, high)
    _, scaled_low, _ = data.load_frequency_split(path, "test", 4, rescale=True)
    torch.testing.assert_close(scaled_low.amax(dim=(1, 2, 3)), torch.ones(3))
    with pytest.raises(data.DatasetError, match="expected 'train' radius 4"):
        data.load_frequency_split(path, "train", 4)
    with pytest.raises(data.DatasetError, match="expected 'test' radius 8"):
        data.load_frequency_split(path, "test", 8)
    path.write_bytes(b"not a torch file")
    with pytest.raises(data.DatasetError, match="delete it and rerun"):
        data.load_frequency_split(path, "test")
