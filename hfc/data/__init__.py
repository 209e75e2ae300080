"""Datasets as uint8 tensors: found locally, in Debian's package, or downloaded by torchvision.

``load_dataset`` returns ``train_images``/``test_images`` (uint8, N×C×H×W),
``train_labels``/``test_labels`` (int64), ``classes``, ``name`` and ``source``.
``save_canonical`` writes that dict as one ``torch.load(..., weights_only=True)`` file,
which every later step reads with ``load_canonical``.

The torchvision datasets are read by torchvision's own classes. We only arrange the files
first: the raw files the user has (gzipped or not, in torchvision's layout or in a flat
folder) are checked and put into a scratch folder in torchvision's layout, so that a
truncated or corrupt file gives a ``DatasetError`` naming the file instead of a traceback
from gzip, pickle or numpy, and so that copies that differ from torchvision's md5 sums
(Debian re-compresses Fashion-MNIST; tests write tiny files) still load.

Modules: :mod:`~hfc.data.catalog` (names, shapes, sizes, raw files, checks),
:mod:`~hfc.data.loading` (where a dataset is looked for), :mod:`~hfc.data.raw_files` (IDX and
CIFAR-10 batches), :mod:`~hfc.data.images` (ImageFolder, Imagenette),
:mod:`~hfc.data.canonical` (the files later steps read), :mod:`~hfc.data.subsets`.
"""

from hfc.data.canonical import load_canonical, load_frequency_split, save_canonical, sha256_file
from hfc.data.catalog import (
    CACHE_ENV,
    DATASETS,
    DEBIAN_FASHION_MNIST_DIR,
    DEFAULT_CACHE_DIR,
    FULL_SIZES,
    IMAGENETTE_SIZES,
    SIZED_BY_CONFIG,
    DatasetError,
    dataset_sizes,
    default_cache_dir,
    image_shape,
    source_files,
)
from hfc.data.loading import load_dataset
from hfc.data.subsets import channel_stats, stratified_subset, to_float

__all__ = [
    "CACHE_ENV",
    "DATASETS",
    "DEBIAN_FASHION_MNIST_DIR",
    "DEFAULT_CACHE_DIR",
    "FULL_SIZES",
    "IMAGENETTE_SIZES",
    "SIZED_BY_CONFIG",
    "DatasetError",
    "channel_stats",
    "dataset_sizes",
    "default_cache_dir",
    "image_shape",
    "load_canonical",
    "load_dataset",
    "load_frequency_split",
    "save_canonical",
    "sha256_file",
    "source_files",
    "stratified_subset",
    "to_float",
]
