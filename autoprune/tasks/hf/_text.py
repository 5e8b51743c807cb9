"""``hf-text-classification``: a Hugging Face sequence classifier and labelled text files."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import torch

from autoprune.errors import ConfigError
from autoprune.tasks._tensor_data import TensorBatches
from autoprune.tasks.hf._common import (
    HFTask,
    _first_line,
    positive_int,
    quiet_transformers,
    require_transformers,
    resolve_model_dir,
    split_data_option,
)
from autoprune.tasks.hf._text_data import read_texts, split_rows

__all__ = ["HFTextClassification", "TEXT_OPTIONS"]

# option -> default (None: required, or derived as the docstring says)
TEXT_OPTIONS: dict[str, Any] = {
    "model": None, "data": None, "validation_data": None, "tokenizer": None,
    "text_column": "text", "label_column": "label", "max_length": 128, "validation_fraction": 0.2,
    "batch_size": 32, "benchmark_batch_size": None, "baseline_epochs": None, "baseline_lr": 5e-5,
    "weight_decay": 0.01, "warmup_ratio": 0.1, "attn_implementation": None,
}

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                    "sentencepiece.bpe.model", "tokenizer.model")


class HFTextClassification(HFTask):
    """Sequence classification with a Hugging Face model from a local directory.

    The model is ``AutoModelForSequenceClassification.from_pretrained(model,
    local_files_only=True)``; a checkpoint without a classification head (a ``BertModel``,
    a sentence encoder) gets a new one with one output per class, seeded by the task's
    seed, and is then fine-tuned ``baseline_epochs`` (default 3) before pruning. A
    checkpoint with a head is the baseline as it is (``baseline_epochs`` default 0).
    Labels map to ids in sorted order (numerically when every label is an integer),
    unless the model's head already names them all; the map is stored in the model's
    config (``id2label`` / ``label2id``), so an exported model keeps it.

    Args:
        model: a directory written by ``save_pretrained``, or a Hub id already in the
            local cache (nothing is downloaded).
        data: a ``.csv`` / ``.tsv`` file with a header row, a ``.jsonl`` file, or a folder
            with one sub-folder of ``.txt`` files per class; or ``{train: PATH,
            validation: PATH}``.
        validation_data: the validation examples (same forms); default: a seeded split
            of ``data`` (``validation_fraction``, the same whatever the seed).
        tokenizer: the tokenizer's directory (default: the model's).
        text_column, label_column: the columns of CSV / JSON-lines data.
        max_length: tokens per example (longer texts are truncated); latency is measured
            at this length and ``benchmark_batch_size`` (default ``batch_size``).
        baseline_lr, weight_decay, warmup_ratio: AdamW's learning rate for the baseline,
            its weight decay (none on biases and norms) and the linear warm-up, as a
            fraction of one epoch's steps (also used by every fine-tune).
        attn_implementation: ``eager`` or ``sdpa`` (default: the model's).
    """

    auto_class = "AutoModelForSequenceClassification"
    head_suffix = "ForSequenceClassification"
    kind = "hf-text-classification"

    def __init__(self, seed: int = 0, data_dir: str | None = None, **options: Any) -> None:
        o = {**TEXT_OPTIONS, **options}
        self._init_common(seed, o)
        self.max_length = positive_int("max_length", o["max_length"], low=2)
        for key in ("text_column", "label_column"):
            if not isinstance(o[key], str) or not o[key]:
                raise ConfigError(f"task.{key} must be a column name, but got {key}={o[key]!r}.")
        self.text_column, self.label_column = o["text_column"], o["label_column"]
        self.data, self.validation_data = split_data_option(o["data"], o["validation_data"])
        self.tokenizer_dir = self.model_dir if o["tokenizer"] is None else resolve_model_dir(o["tokenizer"], "tokenizer")
        self.tokenizer = self._load_tokenizer()
        rows = read_texts(self.data, "data", self.text_column, self.label_column)
        if self.validation_data is None:
            self._train_rows, self._val_rows = split_rows(rows, self.validation_fraction)
        else:
            self._train_rows = rows
            self._val_rows = read_texts(self.validation_data, "validation_data", self.text_column,
                                        self.label_column)
        self._set_labels([y for _, y in self._train_rows + self._val_rows], "label_column")

    def _load_tokenizer(self) -> Any:
        transformers = require_transformers()
        try:
            # transformers 5 builds an empty tokenizer for a directory without one: refuse it here
            if not any((self.tokenizer_dir / name).is_file() for name in _TOKENIZER_FILES):
                raise FileNotFoundError(f"none of {', '.join(_TOKENIZER_FILES)}")
            with quiet_transformers():
                tokenizer = transformers.AutoTokenizer.from_pretrained(self.tokenizer_dir, local_files_only=True)
        except Exception as exc:
            raise ConfigError(
                f"tokenizer: no tokenizer can be loaded from {str(self.tokenizer_dir)!r} ({type(exc).__name__}: "
                f"{_first_line(exc)}); allowed: a directory where tokenizer.save_pretrained wrote its files "
                f"(task.tokenizer, default the model directory).") from exc
        vocab = getattr(self.hf_config, "vocab_size", None)
        if vocab is not None and len(tokenizer) > vocab:
            raise ConfigError(
                f"tokenizer: the tokenizer in {str(self.tokenizer_dir)!r} has {len(tokenizer)} tokens, but model "
                f"{self.model_ref!r} embeds only vocab_size={vocab}; allowed: the tokenizer the model was trained "
                f"with (at most {vocab} tokens).")
        return tokenizer

    def config(self) -> dict[str, Any]:
        return {"model": str(self.model_dir), "tokenizer": str(self.tokenizer_dir), "data": self.data,
                "validation_data": self.validation_data, "text_column": self.text_column,
                "label_column": self.label_column, "max_length": self.max_length, "batch_size": self.batch_size,
                "validation_fraction": self.validation_fraction, "weight_decay": self.weight_decay,
                "warmup_ratio": self.warmup_ratio, "labels": self.label2id,
                "attn_implementation": self.attn_implementation}

    def files(self) -> list[Path]:
        paths = [self.model_dir, Path(self.data)]
        if self.tokenizer_dir != self.model_dir:
            paths.append(self.tokenizer_dir)
        if self.validation_data is not None:
            paths.append(Path(self.validation_data))
        return paths

    def train_size(self) -> int:
        return len(self._train_rows)

    def _encode(self, rows: list[tuple[str, str]], batch_size: int) -> TensorBatches:
        enc = self.tokenizer([t for t, _ in rows], truncation=True, max_length=self.max_length,
                             padding="max_length", return_tensors="pt")
        x = torch.stack([enc["input_ids"], enc["attention_mask"]], dim=1)
        y = torch.tensor([self.label2id[label] for _, label in rows])
        return TensorBatches(x, y, batch_size, self.seed)

    @cached_property
    def _data(self) -> tuple[TensorBatches, TensorBatches]:
        return self._encode(self._train_rows, self.batch_size), self._encode(self._val_rows, 2 * self.batch_size)

    @staticmethod
    def _as_inputs(batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        for x, y in batches:
            # padded to max_length once; each batch is cut to its longest text
            width = max(1, int(x[:, 1].sum(dim=1).max()))
            yield {"input_ids": x[:, 0, :width], "attention_mask": x[:, 1, :width]}, y

    def train_batches(self, epoch: int):
        return self._as_inputs(self._data[0].epoch(epoch))

    def val_batches(self):
        return self._as_inputs(self._data[1].ordered())

    def example_input(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        """``batch_size`` sequences of ``max_length`` tokens (the longest a batch holds)."""
        gen = torch.Generator().manual_seed(1234)
        vocab = int(getattr(self.hf_config, "vocab_size", 0) or len(self.tokenizer))
        ids = torch.randint(0, vocab, (batch_size, self.max_length), generator=gen)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
