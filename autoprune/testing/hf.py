"""Tiny Hugging Face models and data written to a folder, for tests (nothing downloaded).

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> model = tiny_bert_dir(root / "bert")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["WORDS", "tiny_bert_dir", "tiny_vit_dir", "write_text_data", "write_image_folder", "write_idx_dir"]

WORDS = [f"w{i}" for i in range(40)]
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_bert_dir(path: Path, *, head_labels: int | None = None, vocab_extra: int = 0, hidden: int = 32,
                  layers: int = 2, heads: int = 4, intermediate: int = 64, seed: int = 0,
                  tokenizer: bool = True) -> Path:
    """A BERT of a few thousand weights saved with ``save_pretrained`` and its tokenizer:
    a ``BertModel`` (no head), or with ``head_labels`` a ``BertForSequenceClassification``.
    ``vocab_extra`` adds tokens to the tokenizer beyond the model's embeddings."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

    vocab = _SPECIAL + WORDS
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=intermediate, max_position_embeddings=64)
    torch.manual_seed(seed)
    if head_labels is None:
        model = BertModel(config)
    else:
        config.num_labels = head_labels
        model = BertForSequenceClassification(config)
    model.save_pretrained(path)
    if tokenizer:
        words = vocab + [f"x{i}" for i in range(vocab_extra)]
        BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(path)
    return Path(path)


def tiny_vit_dir(path: Path, *, head_labels: int | None = 10, channels: int = 1, image: int = 28, patch: int = 7,
                 hidden: int = 32, layers: int = 2, heads: int = 4, intermediate: int = 64, seed: int = 0) -> Path:
    """A small ``ViTForImageClassification`` (or a headless ``ViTModel``) and its image
    processor (rescale and normalise, no resize)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTModel

    config = ViTConfig(image_size=image, patch_size=patch, num_channels=channels, hidden_size=hidden,
                       num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=intermediate)
    torch.manual_seed(seed)
    if head_labels is None:
        model = ViTModel(config, add_pooling_layer=False)
    else:
        config.num_labels = head_labels
        model = ViTForImageClassification(config)
    model.save_pretrained(path)
    ViTImageProcessor(do_resize=False, size={"height": image, "width": image}, image_mean=[0.5] * channels,
                      image_std=[0.5] * channels).save_pretrained(path)
    return Path(path)


def _texts(n: int, seed: int, labels: tuple[str, ...]) -> list[tuple[str, str]]:
    """Sentences whose words tell the class: label i draws from its own slice of WORDS."""
    rng = random.Random(seed)
    span = len(WORDS) // len(labels)
    rows = []
    for _ in range(n):
        k = rng.randrange(len(labels))
        pool = WORDS[k * span:(k + 1) * span]
        rows.append((" ".join(rng.choice(pool) for _ in range(rng.randint(3, 10))), labels[k]))
    return rows


def write_text_data(path: Path, fmt: str = "csv", *, n: int = 120, seed: int = 0, labels: tuple[str, ...] = ("neg", "pos"),
                    text_column: str = "text", label_column: str = "label") -> Path:
    """Labelled sentences as ``csv``, ``jsonl`` or a ``folder`` of class sub-folders."""
    rows = _texts(n, seed, labels)
    path = Path(path)
    if fmt == "folder":
        for i, (text, label) in enumerate(rows):
            (path / label).mkdir(parents=True, exist_ok=True)
            (path / label / f"{i:04d}.txt").write_text(text)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([text_column, label_column])
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps({text_column: t, label_column: y}) + "\n" for t, y in rows))
    return path


def write_image_folder(path: Path, *, n_per_class: int = 6, classes: tuple[str, ...] = ("cat", "dog", "fish"),
                       size: int = 28, mode: str = "L", seed: int = 0) -> Path:
    """PNG images in one sub-folder per class (each class its own brightness)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (Path(path) / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            shape = (size, size) if mode == "L" else (size, size, 3)
            pixels = np.clip(rng.normal(60 + 70 * k, 20, shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode=mode).save(Path(path) / name / f"{i}.png")
    return Path(path)


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_idx_dir(path: Path, *, n_train: int = 64, n_test: int = 32, classes: int = 10, seed: int = 0) -> Path:
    """The four Fashion-MNIST idx files (28x28 uint8 images, labels 0..classes-1)."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, classes, n)
        images = np.clip(rng.normal(20 * labels[:, None, None], 15, (n, 28, 28)), 0, 255)
        _idx(path / f"{prefix}-images-idx3-ubyte.gz", images)
        _idx(path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return path


def rows_of(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV file (tests compare what was written)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
