"""Labelled text from files: CSV / TSV, JSON lines, or a folder of class sub-folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

from autoprune.errors import DataError

__all__ = ["read_texts", "split_rows", "TEXT_SUFFIXES"]

TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
Rows = list[tuple[str, str]]


def read_texts(path: str, field: str, text_column: str, label_column: str) -> Rows:
    """``(text, label)`` rows of a file or folder.

    A ``.csv`` / ``.tsv`` file with a header row, a ``.jsonl`` file (``.json`` too) of one
    object per line, or a directory with one sub-folder per class holding ``.txt`` files
    (one example per file, the sub-folder's name its label).

    Raises:
        DataError: one line naming the field, the path and what is wrong (unknown format,
            missing column, empty label, no examples).
    """
    p = Path(path)
    if p.is_dir():
        rows = _read_folder(p, field)
    elif p.suffix.lower() in (".csv", ".tsv"):
        rows = _read_csv(p, field, text_column, label_column)
    elif p.suffix.lower() in (".jsonl", ".json"):
        rows = _read_jsonl(p, field, text_column, label_column)
    else:
        raise DataError(f"task.{field}: {path!r} is neither a folder nor a {', '.join(TEXT_SUFFIXES)} file; "
                        f"allowed: a CSV/TSV or JSON-lines file with {text_column!r} and {label_column!r} columns, "
                        f"or a folder with one sub-folder of .txt files per class.")
    if not rows:
        raise DataError(f"task.{field}: {path!r} holds no examples.")
    return rows


def _check_columns(path: Path, field: str, columns: list[str], text_column: str, label_column: str) -> None:
    for option, name in (("text_column", text_column), ("label_column", label_column)):
        if name not in columns:
            raise DataError(f"task.{option}: {str(path)!r} has no column {name!r}; its columns are "
                            f"{', '.join(map(repr, columns)) or '(none)'} (task.{field}).")


def _label(path: Path, where: str, value: Any, label_column: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()) or isinstance(value, (dict, list)):
        raise DataError(f"task.label_column: {str(path)!r} {where} has label {value!r} in column {label_column!r}; "
                        f"allowed: a class name or number.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _read_csv(path: Path, field: str, text_column: str, label_column: str) -> Rows:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            _check_columns(path, field, list(reader.fieldnames or []), text_column, label_column)
            rows = []
            for i, row in enumerate(reader, start=2):
                rows.append((row[text_column] or "", _label(path, f"line {i}", row[label_column], label_column)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"task.{field}: cannot read {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    return rows


def _read_jsonl(path: Path, field: str, text_column: str, label_column: str) -> Rows:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"task.{field}: cannot read {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"task.{field}: {str(path)!r} line {i} is not a JSON object: {exc.msg}.") from None
        if not isinstance(obj, dict):
            raise DataError(f"task.{field}: {str(path)!r} line {i} is not a JSON object (one object per line).")
        _check_columns(path, field, list(obj), text_column, label_column)
        text = obj[text_column]
        rows.append(("" if text is None else str(text), _label(path, f"line {i}", obj[label_column], label_column)))
    return rows


def _read_folder(path: Path, field: str) -> Rows:
    classes = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"task.{field}: folder {str(path)!r} has no class sub-folders; allowed: one sub-folder "
                        f"of .txt files per class (its name is the label).")
    rows = []
    for d in classes:
        for f in sorted(d.glob("*.txt")):
            try:
                rows.append((f.read_text(encoding="utf-8").strip(), d.name))
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"task.{field}: cannot read {str(f)!r}: {type(exc).__name__}: {exc}") from exc
    return rows


def split_rows(rows: list[Any], fraction: float) -> tuple[list[Any], list[Any]]:
    """A seeded split (seed 0 whatever the task's seed, so every seed scores the same
    examples): ``(train, validation)``, at least one example each."""
    if len(rows) < 2:
        raise DataError(f"task.data holds {len(rows)} example; a validation split needs at least 2.")
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0)).tolist()
    n_val = min(len(rows) - 1, max(1, round(fraction * len(rows))))
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [rows[i] for i in train], [rows[i] for i in val]
