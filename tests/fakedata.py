"""Tiny datasets written in the exact on-disk formats of the real ones.

- IDX (MNIST / Fashion-MNIST): big-endian magic 2051 (images) / 2049 (labels), then the
  big-endian uint32 dimensions, then the uint8 values; gzipped like the published files.
- CIFAR-10 python batches: Python 2 pickles of dicts whose keys are Python 2 ``str``
  (``b'data'`` when read with encoding='bytes'); ``data`` is a uint8 N×3072 array whose
  rows hold the R plane, then the G plane, then the B plane, each 32×32 row-major.
- ImageFolder trees of PNG files.

Every writer returns what it wrote as tensors in the layout ``hfc.data`` loads
(uint8 N×C×H×W images, int64 labels), so tests can compare loaded == written exactly.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    # every class present (when n allows), in shuffled order
    return rng.permutation(np.arange(n) % num_classes).astype(np.uint8)


# ----------------------------------------------------------------------------- IDX


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (1-D labels or 3-D images)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim  # 0x08: unsigned byte; 2049 for labels, 2051 for images
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_idx_file(path: str | Path, array: np.ndarray, gz: bool | None = None) -> Path:
    """Write ``array`` as IDX; gzipped when ``gz`` (default: when the name ends in .gz)."""
    path = Path(path)
    data = idx_bytes(array)
    if gz is None:
        gz = path.suffix == ".gz"
    if gz and path.suffix != ".gz":
        path = path.with_name(path.name + ".gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx_dataset(
    directory: str | Path,
    n_train: int = 40,
    n_test: int = 20,
    seed: int = 0,
    *,
    gz: bool = True,
    height: int = 28,
    width: int = 28,
    num_classes: int = 10,
) -> dict:
    """Write the four MNIST-style files into ``directory``; return what was written.

    Returns train_images/test_images (uint8 N×1×H×W), train_labels/test_labels (int64)
    and ``files`` (role -> path).
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    out = {"files": {}}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, height, width), dtype=np.uint8)
        labels = _labels(rng, n, num_classes)
        for role, array in ((f"{split}_images", images), (f"{split}_labels", labels)):
            name = IDX_FILES[role] + (".gz" if gz else "")
            out["files"][role] = write_idx_file(directory / name, array, gz=gz)
        out[f"{split}_images"] = torch.from_numpy(images).unsqueeze(1)
        out[f"{split}_labels"] = torch.from_numpy(labels).long()
    return out


# ----------------------------------------------------------------------------- CIFAR-10


class _Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` opcodes, as the CIFAR-10 files (made with Python 2) have.

    Read back with encoding='latin1' (as torchvision does) they become ``str``; with
    encoding='bytes' they stay ``bytes``, exactly as the published batches behave.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str

    def save_global(self, obj, name=None):
        # numpy 2 names its module numpy._core; the published files (and numpy 1) use numpy.core
        if (getattr(obj, "__module__", None), getattr(obj, "__name__", None)) == ("numpy._core.multiarray", "_reconstruct"):
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle_bytes(obj) -> bytes:
    """``obj`` pickled as Python 2 would (see _Py2Pickler)."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_cifar10_batches(
    directory: str | Path,
    n_per_batch: int = 20,
    n_test: int = 20,
    seed: int = 0,
    label_names: list[str] | None = None,
) -> dict:
    """Write data_batch_1..5, test_batch and batches.meta into ``directory``.

    Returns train_images/test_images (uint8 N×3×32×32), train_labels/test_labels (int64),
    ``classes``, ``train_rows``/``test_rows`` (the N×3072 arrays as stored) and ``files``.
    """
    label_names = list(CIFAR10_CLASSES if label_names is None else label_names)
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    rows = {"train": [], "test": []}
    labels = {"train": [], "test": []}
    names = [(f"data_batch_{i}", "train", n_per_batch, f"training batch {i} of 5") for i in range(1, 6)]
    names.append(("test_batch", "test", n_test, "testing batch 1 of 1"))
    for name, split, n, batch_label in names:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        batch_labels = [int(x) for x in _labels(rng, n, len(label_names))]
        batch = {
            b"batch_label": batch_label.encode(),
            b"labels": batch_labels,
            b"data": data,
            b"filenames": [f"fake_{name}_{i}.png".encode() for i in range(n)],
        }
        files[name] = directory / name
        files[name].write_bytes(py2_pickle_bytes(batch))
        rows[split].append(data)
        labels[split].extend(batch_labels)
    meta = {b"num_cases_per_batch": n_per_batch, b"label_names": [n.encode() for n in label_names], b"num_vis": 3072}
    files["batches.meta"] = directory / "batches.meta"
    files["batches.meta"].write_bytes(py2_pickle_bytes(meta))

    out = {"classes": label_names, "files": files}
    for split in ("train", "test"):
        stacked = np.concatenate(rows[split])
        out[f"{split}_rows"] = stacked
        out[f"{split}_images"] = torch.from_numpy(stacked.reshape(-1, 3, 32, 32).copy())
        out[f"{split}_labels"] = torch.tensor(labels[split], dtype=torch.int64)
    return out


# ----------------------------------------------------------------------------- ImageFolder


def write_png(path: str | Path, pixels: np.ndarray) -> Path:
    """Write H×W (mode L) or H×W×3 (RGB) uint8 pixels as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(path)
    return path


def write_imagefolder(
    directory: str | Path,
    classes: tuple[str, ...] = ("cat", "dog", "frog"),
    n_train: int = 3,
    n_test: int = 2,
    size: tuple[int, int] = (8, 6),
    mode: str = "RGB",
    seed: int = 0,
) -> dict:
    """Write ``directory``/{train,test}/<class>/NNN.png, ``n_*`` images per class.

    ``size`` is (height, width). Returns train_images/test_images (uint8 N×C×H×W, in
    ImageFolder's order: classes sorted, then file names), labels, ``classes`` (sorted)
    and ``paths`` (split -> list of files in the same order).
    """
    if mode not in ("RGB", "L"):
        raise ValueError("mode must be RGB or L")
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    height, width = size
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    out = {"classes": sorted(classes), "paths": {}}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels, paths = [], [], []
        for index, name in enumerate(sorted(classes)):
            for i in range(n):
                pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
                paths.append(write_png(directory / split / name / f"{i:03d}.png", pixels))
                images.append(pixels if mode == "L" else pixels.transpose(2, 0, 1))
                labels.append(index)
        stacked = np.stack(images)
        out[f"{split}_images"] = torch.from_numpy(stacked[:, None] if mode == "L" else stacked)
        out[f"{split}_labels"] = torch.tensor(labels, dtype=torch.int64)
        out["paths"][split] = paths
    return out


# ----------------------------------------------------------------------------- in memory


def synthetic_dataset(
    n_train: int = 40,
    n_test: int = 20,
    channels: int = 1,
    size: int = 28,
    num_classes: int = 10,
    seed: int = 0,
    name: str = "fashion_mnist",
) -> dict:
    """A dataset dict shaped like ``hfc.data.load_dataset``'s, without any file."""
    rng = np.random.default_rng(seed)
    out = {"classes": [f"class{i}" for i in range(num_classes)], "name": name, "source": "synthetic"}
    for split, n in (("train", n_train), ("test", n_test)):
        out[f"{split}_images"] = torch.from_numpy(rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8))
        out[f"{split}_labels"] = torch.from_numpy(_labels(rng, n, num_classes)).long()
    return out


def truncate_file(path: str | Path, keep: int) -> None:
    """Cut ``path`` down to its first ``keep`` bytes (negative: drop that many from the end)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])


# ----------------------------------------------------------------------------- Imagenette

IMAGENETTE_WNIDS = ["n01440764", "n02102040", "n02979186"]  # tench, English springer, cassette player


def write_imagenette(
    root: str | Path, folder: str = "imagenette2-160", n_train: int = 2, n_val: int = 1, size=(12, 8), seed: int = 0
) -> dict:
    """fast.ai's Imagenette as torchvision unpacks it: ``<root>/<folder>/{train,val}/<wnid>/*.JPEG``.

    Train files are named like ``n01440764_10026.JPEG``, val files like
    ``ILSVRC2012_val_00009111.JPEG``, as in the archive, which also holds
    ``noisy_imagenette.csv`` (torchvision does not read it). Images are RGB JPEGs of ``size``
    (width, height), plus one greyscale image per split, as ImageNet has. Returns
    ``{split: [(path, class index)]}`` in torchvision's order (sorted by wnid, then path).
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / folder
    written = {"train": [], "val": []}
    rows = ["path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,noisy_labels_50,is_valid"]
    for split, count in (("train", n_train), ("val", n_val)):
        for index, wnid in enumerate(IMAGENETTE_WNIDS):
            directory = base / split / wnid
            directory.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                name = f"{wnid}_{1000 + k}.JPEG" if split == "train" else f"ILSVRC2012_val_{index:04d}{k:04d}.JPEG"
                grey = index == 0 and k == 0
                shape = (size[1], size[0]) if grey else (size[1], size[0], 3)
                img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), "L" if grey else "RGB")
                img.save(directory / name, format="JPEG", quality=90)
                written[split].append((str(directory / name), index))
                rows.append(f"{split}/{wnid}/{name},{wnid},{wnid},{wnid},{wnid},{wnid},{split == 'val'}")
    (base / "noisy_imagenette.csv").write_text("\n".join(rows) + "\n")
    return {split: sorted(items) for split, items in written.items()}
