"""``hf-image-classification``: a Hugging Face image classifier, an image-folder tree or idx files."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from autoprune.errors import ConfigError, DataError
from autoprune.tasks._fashion import FILES, read_idx
from autoprune.tasks._tensor_data import TensorBatches
from autoprune.tasks.hf._common import (
    HFTask,
    _first_line,
    positive_int,
    quiet_transformers,
    require_transformers,
    split_data_option,
)
from autoprune.tasks.hf._text_data import split_rows

__all__ = ["HFImageClassification", "IMAGE_OPTIONS", "IMAGE_SUFFIXES"]

IMAGE_OPTIONS: dict[str, Any] = {
    "model": None, "data": None, "validation_data": None, "validation_fraction": 0.2,
    "train_limit": None, "val_limit": None, "batch_size": 64, "benchmark_batch_size": None,
    "baseline_epochs": None, "baseline_lr": 5e-5, "weight_decay": 0.01, "warmup_ratio": 0.1,
    "attn_implementation": None,
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _idx_files(directory: Path) -> dict[str, Path] | None:
    """The four (Fashion-)MNIST idx files in ``directory`` (``.gz`` or not), else None."""
    found = {}
    for key, name in FILES.items():
        for candidate in (name, name[: -len(".gz")]):
            if (directory / candidate).is_file():
                found[key] = directory / candidate
                break
    return found if len(found) == len(FILES) else None


class HFImageClassification(HFTask):
    """Image classification with a Hugging Face model and its image processor, both from
    a local directory (``AutoModelForImageClassification`` / ``AutoImageProcessor``,
    ``local_files_only=True``). A checkpoint without a classification head gets a new one
    and ``baseline_epochs`` (default 3) of training first.

    Data: a folder with one sub-folder of images per class (ImageFolder layout; the
    sub-folder names are the labels, mapped to ids in sorted order), split into
    train / validation by seed 0 unless ``validation_data`` names a second tree; or a
    folder with the four (Fashion-)MNIST idx files (``train-*`` for training,
    ``t10k-*`` for validation; labels are the class numbers). ``train_limit`` caps the
    examples of an epoch (a different shuffled subset each epoch), ``val_limit`` takes a
    fixed subset of the validation examples.

    Images go through the image processor once: a processor that only rescales and
    normalises (no resize, or a resize to the images' own size) is applied to each batch
    as tensor arithmetic, with the pixels held as uint8; any other is run on the images
    when they are first read.
    """

    auto_class = "AutoModelForImageClassification"
    head_suffix = "ForImageClassification"
    kind = "hf-image-classification"

    def __init__(self, seed: int = 0, data_dir: str | None = None, **options: Any) -> None:
        o = {**IMAGE_OPTIONS, **options}
        self._init_common(seed, o)
        self.train_limit = positive_int("train_limit", o["train_limit"], optional=True)
        self.val_limit = positive_int("val_limit", o["val_limit"], optional=True)
        self.data, self.validation_data = split_data_option(o["data"], o["validation_data"])
        self.processor = self._load_processor()
        self.channels = int(getattr(self.hf_config, "num_channels", 3))
        size = getattr(self.hf_config, "image_size", 224)
        self.image_size = tuple(size) if isinstance(size, (list, tuple)) else (int(size), int(size))
        self._idx = _idx_files(Path(self.data)) if Path(self.data).is_dir() else None
        if self._idx is not None:
            self._check_idx()
            labels = sorted({int(v) for v in read_idx(self._idx["train_labels"])})
            self._train_files = self._val_files = []
        else:
            self._train_files = self._image_tree(self.data, "data")
            if self.validation_data is None:
                self._train_files, self._val_files = split_rows(self._train_files, self.validation_fraction)
            else:
                self._val_files = self._image_tree(self.validation_data, "validation_data")
            labels = [label for _, label in self._train_files + self._val_files]
        self._set_labels(labels, "data")

    def _load_processor(self) -> Any:
        transformers = require_transformers()
        try:
            with quiet_transformers():
                return transformers.AutoImageProcessor.from_pretrained(self.model_dir, local_files_only=True)
        except Exception as exc:
            raise ConfigError(
                f"model={self.model_ref!r}: no image processor can be loaded from {str(self.model_dir)!r} "
                f"({type(exc).__name__}: {_first_line(exc)}); allowed: a directory where "
                f"image_processor.save_pretrained wrote preprocessor_config.json.") from exc

    def _check_idx(self) -> None:
        for split in ("train", "test"):
            images = read_idx(self._idx[f"{split}_images"], header_only=True)
            labels = read_idx(self._idx[f"{split}_labels"], header_only=True)
            if len(images) != 3 or len(labels) != 1 or labels[0] != images[0]:
                raise DataError(f"task.data: the idx {split} files in {self.data!r} have shapes {images} and "
                                f"{labels}; allowed: (N, H, W) images and (N,) labels.")
        if self.channels != 1:
            raise DataError(f"task.data: idx files hold one-channel images, but model {self.model_ref!r} takes "
                            f"num_channels={self.channels}; allowed: a model with num_channels 1.")

    def _image_tree(self, path: str, field: str) -> list[tuple[Path, str]]:
        root = Path(path)
        if not root.is_dir():
            raise DataError(f"task.{field}: {path!r} is not a folder; allowed: a folder with one sub-folder of "
                            f"images per class, or a folder with the four idx files ({', '.join(FILES.values())}).")
        classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        files = [(f, d.name) for d in classes for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise DataError(f"task.{field}: {path!r} holds no images in class sub-folders ({', '.join(IMAGE_SUFFIXES)}); "
                            f"allowed: one sub-folder of images per class, or the four idx files "
                            f"({', '.join(FILES.values())}).")
        return files

    def config(self) -> dict[str, Any]:
        return {"model": str(self.model_dir), "data": self.data, "validation_data": self.validation_data,
                "validation_fraction": self.validation_fraction, "train_limit": self.train_limit,
                "val_limit": self.val_limit, "batch_size": self.batch_size, "weight_decay": self.weight_decay,
                "warmup_ratio": self.warmup_ratio, "labels": self.label2id,
                "attn_implementation": self.attn_implementation}

    def files(self) -> list[Path]:
        return [self.model_dir, Path(self.data)] + ([Path(self.validation_data)] if self.validation_data else [])

    def train_size(self) -> int:
        n = len(self._data[0])
        return min(n, self.train_limit) if self.train_limit else n

    # -- pixels -------------------------------------------------------------------------
    def _fast_path(self, height: int, width: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The processor as tensor arithmetic on uint8 NCHW batches, when it only rescales
        and normalises; None when it does more (then it runs on the images themselves)."""
        p = self.processor
        size = getattr(p, "size", None) or {}
        target = (size.get("height"), size.get("width")) if isinstance(size, dict) else (None, None)
        if getattr(p, "do_resize", False) and target != (height, width):
            return None
        if any(getattr(p, flag, False) for flag in ("do_center_crop", "do_pad", "do_convert_rgb")) and self.channels == 1:
            return None
        scale = float(p.rescale_factor) if getattr(p, "do_rescale", False) else 1.0
        c = self.channels
        if getattr(p, "do_normalize", False):
            mean = torch.tensor(p.image_mean, dtype=torch.float32)[:c].reshape(1, -1, 1, 1)
            std = torch.tensor(p.image_std, dtype=torch.float32)[:c].reshape(1, -1, 1, 1)
        else:
            mean, std = torch.zeros(1, c, 1, 1), torch.ones(1, c, 1, 1)
        return lambda x: (x.float() * scale - mean) / std

    def _processed(self, images: list[np.ndarray]) -> torch.Tensor:
        out = []
        for start in range(0, len(images), 256):
            chunk = images[start: start + 256]
            fmt = "channels_last" if chunk[0].ndim == 3 else None
            out.append(self.processor(chunk, return_tensors="pt", input_data_format=fmt)["pixel_values"])
        return torch.cat(out)

    def _load_tree(self, files: list[tuple[Path, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        mode = "L" if self.channels == 1 else "RGB"
        arrays = []
        for f, _ in files:
            try:
                with Image.open(f) as im:
                    arrays.append(np.asarray(im.convert(mode).resize(self.image_size[::-1])))
            except OSError as exc:
                raise DataError(f"task.data: cannot read image {str(f)!r}: {exc}") from exc
        y = torch.tensor([self.label2id[label] for _, label in files])
        x = torch.from_numpy(np.stack(arrays))
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        return x.contiguous(), y

    @cached_property
    def _data(self) -> tuple[TensorBatches, TensorBatches]:
        if self._idx is not None:
            arrays = {k: torch.from_numpy(read_idx(p)) for k, p in self._idx.items()}
            ids = {int(k): v for k, v in self.label2id.items()}
            parts = [(arrays["train_images"].unsqueeze(1), arrays["train_labels"].long().apply_(ids.get)),
                     (arrays["test_images"].unsqueeze(1), arrays["test_labels"].long().apply_(ids.get))]
        else:
            parts = [self._load_tree(self._train_files), self._load_tree(self._val_files)]
        (x_tr, y_tr), (x_va, y_va) = parts
        if self.val_limit is not None and self.val_limit < len(y_va):
            # a fixed subset (seed 0, whatever the task seed) so every trial scores the same images
            order = torch.randperm(len(y_va), generator=torch.Generator().manual_seed(0))[: self.val_limit]
            order = order.sort().values
            x_va, y_va = x_va[order], y_va[order]
        self._normalise = self._fast_path(x_tr.shape[2], x_tr.shape[3])
        if self._normalise is None:  # a processor that resizes or crops: run it once on every image
            x_tr = self._processed(list(x_tr.permute(0, 2, 3, 1).numpy()))
            x_va = self._processed(list(x_va.permute(0, 2, 3, 1).numpy()))
        return (TensorBatches(x_tr, y_tr, self.batch_size, self.seed),
                TensorBatches(x_va, y_va, 2 * self.batch_size, self.seed))

    def _as_inputs(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        for x, y in batches:
            yield {"pixel_values": self._normalise(x) if self._normalise is not None else x}, y

    def train_batches(self, epoch: int):
        data = self._data
        return self._as_inputs(data[0].epoch(epoch, limit=self.train_limit))

    def val_batches(self):
        return self._as_inputs(self._data[1].ordered())

    def example_input(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(1234)
        return {"pixel_values": torch.randn(batch_size, self.channels, *self.image_size, generator=gen)}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_normalise", None)
        return state
