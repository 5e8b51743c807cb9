"""Fashion-MNIST (60,000 + 10,000 images, 28x28, 10 classes) from the original idx files.

The four files are read from a directory: the ``data_dir`` argument, else
``$AUTOPRUNE_DATA_DIR``, else ``/usr/share/datasets/fashion-mnist`` (where Debian's
``dataset-fashion-mnist`` package puts them). Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from autoprune.errors import ConfigError, DataError
from autoprune.tasks._base import Task
from autoprune.tasks._tensor_data import TensorBatches

__all__ = ["FashionMNISTCNN", "read_idx", "DEFAULT_DATA_DIR", "FILES"]

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_HOW_TO_GET = (
    "install them with 'apt-get install dataset-fashion-mnist', or download the four idx .gz "
    "files from the Fashion-MNIST repository (github.com/zalandoresearch/fashion-mnist) into "
    "a directory and pass --data-dir or set AUTOPRUNE_DATA_DIR"
)
# idx type byte -> big-endian numpy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# pixel statistics of the Fashion-MNIST training set (after scaling to [0, 1])
_MEAN, _STD = 0.2860, 0.3530
# evaluation is fastest on CPU at small batches here (activations stay in cache): 5,000
# images take ~0.6 s at 128 per batch and ~1.2 s at 1,000 (one thread)
_VAL_BATCH = 128


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_header(path: Path, stream) -> tuple[np.dtype, tuple[int, ...]]:
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        raise DataError(
            f"{str(path)!r} is not an idx file: magic number {head.hex() or '(empty)'}, "
            f"expected 0000 followed by a type byte (08 for ubyte) and the number of dimensions."
        )
    ndim = head[3]
    raw = stream.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{str(path)!r} is truncated: its header names {ndim} dimensions but holds fewer.")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    return np.dtype(_IDX_DTYPES[head[2]]), dims


def read_idx(path: str | os.PathLike[str], *, header_only: bool = False) -> np.ndarray | tuple[int, ...]:
    """Read an idx file (optionally gzipped), checking its magic number and length.

    Args:
        path: an idx file, e.g. ``train-images-idx3-ubyte.gz``; ``.gz`` files are
            decompressed.
        header_only: return only the dimensions (reads a few bytes).

    Returns:
        An array of the file's dimensions and type (uint8 for the (Fashion-)MNIST files),
        or the dimensions when ``header_only``.

    Raises:
        DataError: the file is missing, has a wrong magic number, or is truncated.
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            dtype, dims = _read_header(path, stream)
            if header_only:
                return dims
            data = stream.read()
    except (OSError, EOFError) as exc:  # missing, unreadable, or a broken gzip stream
        raise DataError(f"cannot read idx file {str(path)!r}: {exc}") from exc
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{str(path)!r} holds {len(data)} data bytes, but its header {dims} needs {expected}."
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _resolve_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    env = os.environ.get("AUTOPRUNE_DATA_DIR")
    if env:
        return Path(env).expanduser(), "AUTOPRUNE_DATA_DIR"
    return Path(DEFAULT_DATA_DIR), "the default location"


class FashionMNISTCNN(Task):
    """A small CNN on Fashion-MNIST: two conv blocks (3x3 conv, 2x2 max-pool, batch norm,
    ReLU) with 16 and 32 channels, then Linear(32*7*7, 128), ReLU, Linear(128, 10).

    To keep search trials cheap an epoch sees ``train_limit`` examples (a different
    shuffled subset of the 60,000 each epoch) and validation scores a fixed subset of
    ``val_limit`` test images (the same for every seed). Both are part of :meth:`config`,
    so a cached baseline is keyed by them. With the defaults, on 2 CPU cores, one epoch
    takes about 2.4 s and :meth:`evaluate` 0.4 s; the 8-epoch baseline reaches about
    90% accuracy (90.3% with seed 0).

    Args:
        seed: shuffling seed.
        data_dir: directory holding the four idx files (``.gz`` or not); default
            ``$AUTOPRUNE_DATA_DIR``, else ``/usr/share/datasets/fashion-mnist``.
        batch_size: training batch size.
        train_limit: training examples per epoch (None: all 60,000).
        val_limit: validation examples taken from the test set (None: all 10,000).

    Raises:
        DataError: the directory or one of the files is missing or not an idx file
            (checked when the task is built, before any training).
    """

    name = "fashion-mnist-cnn"
    baseline_epochs = 8
    baseline_lr = 1e-3
    benchmark_batch_size = 128

    def __init__(
        self,
        seed: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 128,
        train_limit: int | None = 12_000,
        val_limit: int | None = 5_000,
    ) -> None:
        for field, value, top in (("train_limit", train_limit, 60_000), ("val_limit", val_limit, 10_000)):
            if value is not None and not (isinstance(value, int) and 1 <= value <= top):
                raise ConfigError(f"{field} must be None or an integer in [1, {top}], but got {field}={value!r}.")
        self.seed = seed
        self.batch_size = batch_size
        self.train_limit = train_limit
        self.val_limit = val_limit
        self.data_dir, self._dir_source = _resolve_dir(data_dir)
        self.files = self.check_data()

    def check_data(self) -> dict[str, Path]:
        """Find the four files and check their headers (a few bytes each); return their paths.

        Raises:
            DataError: one line naming the directory, the missing files and how to get them.
        """
        where = f"{str(self.data_dir)!r} ({self._dir_source})"
        if not self.data_dir.is_dir():
            raise DataError(
                f"Fashion-MNIST directory {where} does not exist; it must hold "
                f"{', '.join(FILES.values())}: {_HOW_TO_GET}."
            )
        found: dict[str, Path] = {}
        missing = []
        for key, name in FILES.items():
            for candidate in (name, name[: -len(".gz")]):
                if (self.data_dir / candidate).is_file():
                    found[key] = self.data_dir / candidate
                    break
            else:
                missing.append(name)
        if missing:
            raise DataError(
                f"Fashion-MNIST files missing in {where}: {', '.join(missing)} "
                f"(or the same without .gz); {_HOW_TO_GET}."
            )
        dims = {key: read_idx(path, header_only=True) for key, path in found.items()}
        for split in ("train", "test"):
            images, labels = dims[f"{split}_images"], dims[f"{split}_labels"]
            if len(images) != 3 or images[1:] != (28, 28) or len(labels) != 1 or labels[0] != images[0]:
                raise DataError(
                    f"Fashion-MNIST {split} files in {where} have shapes {images} and {labels}, "
                    f"expected (N, 28, 28) images and (N,) labels."
                )
        return found

    def __getstate__(self) -> dict[str, Any]:
        # a task sent to a worker (Ray) travels without its 55 MB of arrays; the worker
        # reads the files again on first use
        state = dict(self.__dict__)
        state.pop("_data", None)
        return state

    def config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "train_limit": self.train_limit, "val_limit": self.val_limit}

    @cached_property
    def _data(self) -> tuple[TensorBatches, TensorBatches]:
        arrays = {key: torch.from_numpy(read_idx(path)) for key, path in self.files.items()}
        # pixels stay uint8 in memory (47 MB instead of 188 MB per process) and are
        # normalised batch by batch
        train = TensorBatches(
            arrays["train_images"].unsqueeze(1), arrays["train_labels"].long(), self.batch_size, self.seed
        )
        # a fixed subset (seed 0, whatever the task seed) so every trial scores the same images
        order = torch.randperm(len(arrays["test_labels"]), generator=torch.Generator().manual_seed(0))
        order = order[: self.val_limit].sort().values
        val = TensorBatches(
            arrays["test_images"][order].unsqueeze(1), arrays["test_labels"][order].long(), _VAL_BATCH, self.seed
        )
        return train, val

    @staticmethod
    def _normalised(batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in batches:
            yield (x.float() / 255.0 - _MEAN) / _STD, y

    def train_batches(self, epoch: int):
        return self._normalised(self._data[0].epoch(epoch, limit=self.train_limit))

    def val_batches(self):
        return self._normalised(self._data[1].ordered())

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        gen = torch.Generator().manual_seed(1234)
        return torch.randn(batch_size, 1, 28, 28, generator=gen)

    def build_model(self) -> nn.Module:
        return nn.Sequential(
            # pooling before batch norm and ReLU: they then run on a quarter of the
            # activations (training steps ~30% faster on CPU, where max-pool is costly)
            nn.Conv2d(1, 16, 3, padding=1), nn.MaxPool2d(2), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.MaxPool2d(2), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )
