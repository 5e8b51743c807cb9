"""What the Hugging Face tasks share: finding a model directory, loading it offline, the
optimizer that suits pretrained transformers, stable fingerprints of files."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import abc
import math
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from autoprune.errors import ConfigError, DataError, MissingDependencyError
from autoprune.tasks._base import Task

__all__ = ["HFTask", "WarmupAdamW", "require_transformers", "resolve_model_dir", "files_digest", "quiet_transformers"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: files hashed once per process


def require_transformers() -> Any:
    """``transformers``, or the exact command that installs it."""
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependencyError(
            "the Hugging Face tasks need transformers: pip install 'autoprune[hf]'") from exc
    return transformers


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' load report, progress bars and backend notices hidden: what matters
    (a new head, a mismatch) autoprune checks and says itself."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_model_dir(model: Any, field: str = "model") -> Path:
    """The local directory of ``model``: a directory written by ``save_pretrained``, or a
    Hub id already in the local Hugging Face cache (nothing is downloaded).

    Raises:
        ConfigError: not a string, a directory without ``config.json``, or a Hub id that is
            not cached (the message says how to download it).
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{field} must be a model directory or a Hub id, but got {field}={model!r}.")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{field}={model!r} is a directory without config.json; allowed: a directory written by "
                f"save_pretrained (config.json and the weights) or a Hub id in the local cache.")
        return path.resolve()
    if path.exists() or not _HUB_ID.match(model) or model.startswith((".", "/", "~")):
        raise ConfigError(f"{field}={model!r} is not a directory; allowed: a directory written by save_pretrained "
                          f"(config.json and the weights) or a Hub id in the local cache.")
    require_transformers()
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    try:
        snapshot = Path(snapshot_download(model, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or a malformed id
        snapshot = None
    if snapshot is None or not (snapshot / "config.json").is_file():
        raise ConfigError(
            f"{field}={model!r} is neither a directory nor a Hub model in the local cache ({HF_HUB_CACHE}); "
            f"autoprune never downloads: download it first with `hf download {model}` (or "
            f"`huggingface-cli download {model}`), or save it with save_pretrained to a directory and name that.")
    return snapshot


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over the contents of ``paths`` (directories: every file below, by relative
    name), the same in every process and wherever the files are copied."""
    h = hashlib.sha256()
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            name = str(f.relative_to(path)) if path.is_dir() else f.name
            h.update(f"{name}\0{_file_digest(f)}\0".encode())
    return h.hexdigest()


class WarmupAdamW(torch.optim.AdamW):
    """AdamW whose first ``warmup_steps`` steps ramp the learning rate linearly up from
    ``lr / warmup_steps`` (what fine-tuning a pretrained transformer needs: full-size first
    steps on a new head or a freshly pruned model disturb the pretrained weights).

    The ramp scales each step's learning rate without changing ``param_groups``' ``lr``,
    so an epoch-level scheduler on top of it (the trial's cosine schedule) still works.
    """

    def __init__(self, params: Any, lr: float, *, weight_decay: float, warmup_steps: int) -> None:
        params = list(params)
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point()
                    for group in params for p in (group["params"] if isinstance(group, dict) else [group]))
        super().__init__(params, lr=lr, weight_decay=weight_decay, fused=fused)
        self.warmup_steps = int(warmup_steps)
        self.steps_taken = 0

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        self.steps_taken += 1
        factor = min(1.0, self.steps_taken / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if factor >= 1.0:
            return super().step(closure)
        saved = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] = group["lr"] * factor
        try:
            return super().step(closure)
        finally:
            for group, lr in zip(self.param_groups, saved):
                group["lr"] = lr


def check_options(kind: str, options: Mapping[str, Any], allowed: Mapping[str, Any], required: Sequence[str]) -> None:
    """Option names of a task kind: each known, the required ones present."""
    for key in options:
        if key not in allowed:
            raise ConfigError(f"task.{key}: {key!r} is not an option of task kind {kind}; allowed: "
                              f"{', '.join(['kind', *allowed])}.")
    for key in required:
        if options.get(key) is None:
            raise ConfigError(f"task.{key}: task kind {kind} needs {key} (e.g. task: {{kind: {kind}, "
                              f"model: path/to/model_dir, data: path/to/data}}), but it is missing.")


def positive_int(field: str, value: Any, *, low: int = 1, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"task.{field} must be an integer >= {low}{' or null' if optional else ''}, "
                          f"but got {field}={value!r}.")
    return value


def number_in(field: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        low < value if open_low else low <= value) and value <= high
    if not ok:
        raise ConfigError(f"task.{field} must be a number in {'(' if open_low else '['}{low}, {high}], "
                          f"but got {field}={value!r}.")
    return float(value)


def split_data_option(data: Any, validation_data: Any) -> tuple[str, str | None]:
    """``data`` as a path, or as ``{train: PATH, validation: PATH}``; with ``validation_data``."""
    if isinstance(data, Mapping):
        unknown = [k for k in data if k not in ("train", "validation")]
        if unknown or "train" not in data:
            raise ConfigError(f"task.data must be a path or {{train: PATH, validation: PATH}}, but got data={dict(data)!r}.")
        if validation_data is not None and data.get("validation") is not None:
            raise ConfigError("task.validation_data: give the validation data once, as data.validation or "
                              "validation_data, not both.")
        validation_data = data.get("validation", validation_data)
        data = data["train"]
    for field, value in (("data", data), ("validation_data", validation_data)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"task.{field} must be a path, but got {field}={value!r}.")
    for field, value in (("data", data), ("validation_data", validation_data)):
        if value is not None and not Path(value).expanduser().exists():
            raise DataError(f"task.{field}: {value!r} does not exist; allowed: an existing file or directory.")
    return str(Path(data).expanduser().resolve()), (
        None if validation_data is None else str(Path(validation_data).expanduser().resolve()))


def label_ids(labels: Sequence[Any], head: Mapping[str, int] | None) -> dict[str, int]:
    """Labels -> ids: the trained head's own ``label2id`` when it names every label, else
    the labels sorted (numerically when they are all integers), so that every run maps them
    the same way."""
    names = sorted({str(v) for v in labels}, key=lambda s: (0, int(s), "") if re.fullmatch(r"-?\d+", s) else (1, 0, s))
    if head and all(n in head for n in names) and not all(re.fullmatch(r"LABEL_\d+", k) for k in head):
        return {n: int(head[n]) for n in names}
    return {n: i for i, n in enumerate(names)}


class HFTask(Task):
    """A Hugging Face classification model from a local directory, and its data.

    Subclasses set ``auto_class`` (the ``AutoModelFor...`` name) and ``head_suffix``
    and read the data; this class loads the model once (offline), gives it a new head
    when the checkpoint has none, and builds copies of it.
    """

    auto_class = ""
    head_suffix = ""
    kind = ""

    def _init_common(self, seed: int, o: Mapping[str, Any]) -> None:
        """The options both kinds share, from the merged options ``o``: the model and its
        config, batch sizes, the optimizer's settings and the validation split."""
        model, batch_size, attn_implementation = o["model"], o["batch_size"], o["attn_implementation"]
        require_transformers()
        self.seed = seed
        self.model_ref = model
        self.model_dir = resolve_model_dir(model)
        # the directory's name alone is often "model": its path's hash keeps cache files apart
        self.name = f"{self.kind}-{self.model_dir.name}-{hashlib.sha256(str(self.model_dir).encode()).hexdigest()[:6]}"
        self.batch_size = positive_int("batch_size", batch_size)
        self.benchmark_batch_size = positive_int("benchmark_batch_size", o["benchmark_batch_size"] or batch_size)
        self.baseline_lr = number_in("baseline_lr", o["baseline_lr"], 0.0, 1.0, open_low=True)
        self.weight_decay = number_in("weight_decay", o["weight_decay"], 0.0, 1.0)
        self.warmup_ratio = number_in("warmup_ratio", o["warmup_ratio"], 0.0, 1.0)
        self.validation_fraction = number_in("validation_fraction", o["validation_fraction"], 0.0, 0.9,
                                             open_low=True)
        if attn_implementation is not None and attn_implementation not in ("eager", "sdpa"):
            raise ConfigError(f"task.attn_implementation must be eager, sdpa or null, but got "
                              f"attn_implementation={attn_implementation!r}.")
        self.attn_implementation = attn_implementation
        self._requested_epochs = positive_int("baseline_epochs", o["baseline_epochs"], low=0, optional=True)
        transformers = require_transformers()
        try:
            with quiet_transformers():
                self.hf_config = transformers.AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        except Exception as exc:
            raise ConfigError(f"model={model!r}: its config.json cannot be read: {type(exc).__name__}: "
                              f"{_first_line(exc)}") from exc
        self.has_head = any(a.endswith(self.head_suffix) for a in (self.hf_config.architectures or []))

    def _set_labels(self, labels: Sequence[Any], label_column: str) -> None:
        """Map the data's labels to ids and fit the config's head to them (checked here,
        before any model is loaded)."""
        config = self.hf_config
        head = dict(config.label2id or {}) if self.has_head else None
        self.label2id = label_ids(labels, head)
        n = len(self.label2id)
        if self.has_head:
            if max(self.label2id.values()) >= config.num_labels:
                raise ConfigError(
                    f"task.{label_column}: the data has {n} classes ({_preview(self.label2id)}), but the model's "
                    f"classification head holds num_labels={config.num_labels}; allowed: at most "
                    f"{config.num_labels} classes, or a model directory without a head (a new one is trained).")
            id2label = {i: config.id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels)}
            id2label.update({i: name for name, i in self.label2id.items()})
        else:
            config.num_labels = n
            id2label = {i: name for name, i in self.label2id.items()}
        config.id2label = id2label
        config.label2id = {name: i for i, name in id2label.items()}
        if self._requested_epochs == 0 and not self.has_head:
            raise ConfigError(
                f"task.baseline_epochs=0, but model {self.model_ref!r} has no {self.head_suffix} head "
                f"(config architectures {config.architectures}): a new head for {n} classes is created and must be "
                f"trained first; allowed: baseline_epochs >= 1 (default 3 for a new head).")
        self.baseline_epochs = self._requested_epochs if self._requested_epochs is not None else (
            0 if self.has_head else 3)

    @cached_property
    def _loaded(self) -> nn.Module:
        """The model loaded once per process; a new head is drawn from the task's seed."""
        transformers = require_transformers()
        auto = getattr(transformers, self.auto_class)
        kwargs: dict[str, Any] = {"config": self.hf_config, "local_files_only": True}
        if self.attn_implementation is not None:
            kwargs["attn_implementation"] = self.attn_implementation
        with torch.random.fork_rng(devices=[]), quiet_transformers():
            torch.manual_seed(self.seed)
            try:
                model = auto.from_pretrained(self.model_dir, **kwargs)
            except Exception as exc:
                raise ConfigError(f"model={self.model_ref!r} cannot be loaded as {self.auto_class}: "
                                  f"{type(exc).__name__}: {_first_line(exc)}") from exc
        return model.eval()

    def build_model(self) -> nn.Module:
        return copy.deepcopy(self._loaded)

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        """AdamW (``weight_decay``, none on biases and normalisation weights) with a linear
        warm-up over ``warmup_ratio`` of one epoch's steps."""
        params = [p for p in params if p.requires_grad]
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": self.weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
        warmup = math.ceil(self.warmup_ratio * self.steps_per_epoch())
        return WarmupAdamW(groups, lr, weight_decay=self.weight_decay, warmup_steps=warmup)

    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.train_size() / self.batch_size))

    @abc.abstractmethod
    def train_size(self) -> int:
        """Training examples per epoch."""

    def files(self) -> list[Path]:
        """Every file the task reads (the fingerprint hashes their contents)."""
        return [self.model_dir]

    def fingerprint(self) -> str:
        """sha256 of the task's settings and the contents of its model and data files:
        the same in every process and on every machine holding the same files."""
        blob = json.dumps({"kind": self.kind, "seed": self.seed, "epochs": self.baseline_epochs,
                           "lr": self.baseline_lr, "config": self.config(),
                           "files": files_digest(self.files())}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def __getstate__(self) -> dict[str, Any]:
        # a task sent to a worker (Ray) travels without its model and data; it reloads them
        state = dict(self.__dict__)
        for key in ("_loaded", "_data"):
            state.pop(key, None)
        return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _preview(mapping: Mapping[str, int], n: int = 6) -> str:
    names = list(mapping)
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")
