"""ModelTask: a task made of a user's model and data, no subclass needed."""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from autoprune.errors import TaskError
from autoprune.tasks._base import Batch, Task, call_model, check_metric_value, model_device, stable_name, to_device

__all__ = ["ModelTask"]

Metric = Callable[[Any, Any], float]
Loss = Callable[[Any, Any], torch.Tensor]

_BATCHES = ("allowed: a DataLoader (or a list, or any re-iterable) of (inputs, targets) pairs, inputs a tensor, "
            "a tuple or a dict of tensors")


class ModelTask(Task):
    """A task built from a model, its training and validation data, a metric and a loss.

    The model is the starting point: :meth:`build_model` returns a deep copy of it (the
    same weights every time), and with ``baseline_epochs=0`` (the default) it is the
    baseline, evaluated as it is. Batches go to the model's device when they are used,
    so the loaders may keep their data on the CPU.

    Args:
        model: the model to prune; copied (onto the CPU) when the task is made, so later
            changes to it do not reach the task.
        train_loader: training batches, ``(inputs, targets)``: a ``DataLoader`` or any
            re-iterable of batches (a list, an object whose ``__iter__`` starts over;
            not a one-pass iterator or generator). A shuffling ``DataLoader`` is shuffled
            the same way for the same ``seed`` and epoch.
        val_loader: validation batches, in a fixed order (the metric and the baseline
            accuracy are computed on all of them).
        metric: ``metric(outputs, targets) -> float``, higher is better, computed once over
            the whole validation data: ``outputs`` are the model's outputs of every
            validation batch concatenated along the first dimension (on the CPU; for a
            model that returns an object with ``.logits``, those logits; tuples and dicts
            of tensors are concatenated element-wise), ``targets`` likewise. It must
            return a finite Python number (``float(x)``, not a tensor). None: top-1
            accuracy, computed batch by batch.
        loss: ``loss(outputs, targets) -> Tensor`` of one batch, minimised by training.
            None: ``torch.nn.functional.cross_entropy``.
        example_input: model inputs of any batch size, for tracing, FLOPs and latency
            (rows are repeated or cut to the batch size asked for). None: the inputs of
            the first validation batch.
        name: the task's name (cache file names, reports). None: the model class's name.
        metric_name: what the metric is called (None: ``accuracy``, or the metric
            function's name).
        baseline_epochs: epochs to fine-tune the model before pruning (0: the model as
            given is the baseline).
        baseline_lr: learning rate of that fine-tuning, and the base of fine-tuning rates
            after pruning: 1e-4 by default, small enough not to wreck pretrained weights
            with Adam.
        benchmark_batch_size: batch size at which latency is measured (None: the first
            validation batch's size).
        seed: seeds the shuffling of the training data and the trials.

    Raises:
        TaskError: the model is not an ``nn.Module``; a loader is a one-pass iterator,
            yields nothing, or yields something that is not ``(inputs, targets)``.

    Ray: the executor sends the task to its workers by pickling it (with cloudpickle):
    the model, both loaders (a ``DataLoader`` pickles when its dataset does), the metric
    and the loss must pickle (module-level functions are safest). When they cannot (open
    files, database handles, a dataset streamed from a server), name a factory in a file
    instead, ``--task path/to/file.py:make_task``, which builds the ModelTask inside each
    worker.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> data = TensorDataset(torch.randn(64, 8), torch.randint(0, 3, (64,)))
        >>> task = ModelTask(nn.Linear(8, 3), DataLoader(data, batch_size=16), DataLoader(data, batch_size=16))
        >>> task.baseline_epochs, task.example_input(4).shape
        (0, torch.Size([4, 8]))
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: Iterable[Batch],
        val_loader: Iterable[Batch],
        metric: Metric | None = None,
        loss: Loss | None = None,
        example_input: Any = None,
        *,
        name: str | None = None,
        metric_name: str | None = None,
        baseline_epochs: int = 0,
        baseline_lr: float = 1e-4,
        benchmark_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TaskError(f"model must be a torch.nn.Module, but got {type(model).__name__}.")
        for field, fn in (("metric", metric), ("loss", loss)):
            if fn is not None and not callable(fn):
                raise TaskError(f"{field} must be a function ({field}(outputs, targets)) or None, but got {fn!r}.")
        self.model = copy.deepcopy(model).cpu()
        self.train_loader, self.val_loader = train_loader, val_loader
        self.metric_fn, self.loss_fn = metric, loss
        self.name = name or type(model).__name__
        self.metric_name = metric_name or ("accuracy" if metric is None else getattr(metric, "__name__", "metric"))
        self.baseline_epochs, self.baseline_lr, self.seed = baseline_epochs, baseline_lr, seed
        _first_batch(train_loader, "train_loader")
        inputs, targets = _first_batch(val_loader, "val_loader")
        self._val_digest = _digest((inputs, targets))
        given = example_input is not None
        self._example = to_device(example_input if given else inputs, "cpu")
        rows = _rows(self._example)
        if rows is None:
            raise TaskError(f"example_input must be a tensor, a tuple or a dict of tensors with a batch dimension, "
                            f"but got {type(self._example).__name__}.")
        self.benchmark_batch_size = benchmark_batch_size or (_rows(inputs) or 1)
        if metric is not None:
            self._check_metric_type(inputs, targets)

    def _check_metric_type(self, inputs: Any, targets: Any) -> None:
        """The metric on the first validation batch returns a number (a tensor or a string
        fails here, when the task is made; NaN is checked on the whole validation data,
        where a metric of one batch may legitimately be undefined)."""
        model = self.model
        was_training = model.training
        try:
            with torch.no_grad():
                outputs = _logits(call_model(model.eval(), inputs))
        except Exception as exc:  # the model cannot run the data: say so in one line
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise TaskError(f"model fails on the first batch of val_loader ({type(exc).__name__}: {detail}); "
                            f"allowed: batches whose inputs the model takes.") from None
        finally:
            model.train(was_training)
        value = self.metric_fn(outputs, targets)
        if not (isinstance(value, float) and value != value):  # NaN: see the docstring
            check_metric_value(value, f"metric {getattr(self.metric_fn, '__name__', 'metric')!r}")

    # -- the Task protocol ------------------------------------------------------------
    def build_model(self) -> nn.Module:
        """A deep copy of the model given (the same weights every time)."""
        return copy.deepcopy(self.model)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        # a shuffling DataLoader draws its order from torch's global generator when its
        # iteration starts: seeded here, so an epoch's order is the same in every trial
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 100_003 + epoch)
            batches = iter(self.train_loader)
            first = next(batches, None)
        if first is None:
            return
        yield first
        yield from batches

    def val_batches(self) -> Iterable[Batch]:
        return self.val_loader

    def example_input(self, batch_size: int = 1) -> Any:
        return _resize(self._example, batch_size)

    def loss(self, outputs: Any, targets: Any) -> torch.Tensor:
        if self.loss_fn is None:
            return super().loss(_logits(outputs), targets)
        return self.loss_fn(outputs, targets)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> float:
        """The metric over the whole validation data (default: top-1 accuracy).

        Raises:
            TaskError: the metric returned a tensor, a string, NaN or infinity.
        """
        was_training = model.training
        model.eval()
        device = model_device(model)
        outputs, targets = [], []
        correct = total = 0
        try:
            for batch in self.val_batches():
                inputs, target = to_device(_check_batch(batch, "val_loader"), device)
                out = _logits(call_model(model, inputs))
                if self.metric_fn is None:  # top-1 accuracy, batch by batch (nothing kept)
                    correct += int((out.argmax(dim=-1) == target).sum())
                    total += int(target.numel())
                else:
                    outputs.append(to_device(out, "cpu"))
                    targets.append(to_device(target, "cpu"))
        finally:
            model.train(was_training)
        if self.metric_fn is None:
            return correct / max(total, 1)
        value = self.metric_fn(_cat(outputs), _cat(targets))
        return check_metric_value(value, f"metric {getattr(self.metric_fn, '__name__', 'metric')!r}")

    def config(self) -> dict[str, Any]:
        return {
            "model": stable_name(type(self.model)),
            "train": _describe(self.train_loader),
            "val": {**_describe(self.val_loader), "first_batch": self._val_digest},
            "metric": None if self.metric_fn is None else stable_name(self.metric_fn),
            "loss": None if self.loss_fn is None else stable_name(self.loss_fn),
            "benchmark_batch_size": self.benchmark_batch_size,
        }

    def __repr__(self) -> str:
        return f"ModelTask(name={self.name!r}, model={type(self.model).__name__}, baseline_epochs={self.baseline_epochs})"


def _first_batch(loader: Any, field: str) -> tuple[Any, Any]:
    """The first batch of ``loader``, checked to be ``(inputs, targets)``."""
    try:
        batches = iter(loader)
    except TypeError:
        raise TaskError(f"{field} is a {type(loader).__name__}, which cannot be iterated; {_BATCHES}.") from None
    if batches is loader:
        raise TaskError(f"{field} is a one-pass iterator ({type(loader).__name__}): a task reads its data every "
                        f"epoch; {_BATCHES}.")
    first = next(batches, None)
    if first is None:
        raise TaskError(f"{field} yields no batch; {_BATCHES}.")
    return _check_batch(first, field)


def _check_batch(batch: Any, field: str) -> tuple[Any, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TaskError(f"{field} yields {_shown(batch)}, not (inputs, targets); {_BATCHES}.")
    if not _has_tensor(batch[0]):
        raise TaskError(f"{field} yields inputs {_shown(batch[0])}, with no tensor; {_BATCHES}.")
    return batch[0], batch[1]


def _shown(obj: Any) -> str:
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {list(obj.shape)}"
    if isinstance(obj, dict):
        return f"a dict with keys {list(obj)[:6]}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    return f"a {type(obj).__name__}"


def _has_tensor(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_has_tensor(v) for v in obj.values())
    if isinstance(obj, (tuple, list)):
        return any(_has_tensor(v) for v in obj)
    return False


def _logits(outputs: Any) -> Any:
    """Hugging Face models return an object whose ``.logits`` are the outputs that count."""
    logits = getattr(outputs, "logits", None)
    return outputs if logits is None else logits


def _cat(parts: list[Any]) -> Any:
    """Batches joined along the first dimension (tensors, and tuples / dicts of them)."""
    first = parts[0] if parts else torch.empty(0)
    if isinstance(first, torch.Tensor):
        return torch.cat([p.reshape(1) if p.dim() == 0 else p for p in parts])
    if isinstance(first, dict):
        return {k: _cat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_cat([p[i] for p in parts]) for i in range(len(first)))
    return parts


def _rows(inputs: Any) -> int | None:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0]) if inputs.dim() else None
    values = list(inputs.values()) if isinstance(inputs, dict) else list(inputs) if isinstance(inputs, (tuple, list)) else []
    for value in values:
        rows = _rows(value)
        if rows is not None:
            return rows
    return None


def _resize(inputs: Any, n: int) -> Any:
    """``inputs`` with ``n`` rows: the first ``n``, or all of them repeated in turn."""
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() == 0:
            return inputs
        return inputs[torch.arange(n) % inputs.shape[0]]
    if isinstance(inputs, dict):
        return {k: _resize(v, n) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(_resize(v, n) for v in inputs)
    return inputs


def _digest(obj: Any) -> str:
    h = hashlib.sha256()
    for tensor in _tensors(obj):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from _tensors(obj[key])
    elif isinstance(obj, (tuple, list)):
        for value in obj:
            yield from _tensors(value)


def _describe(loader: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(loader).__qualname__}
    dataset = getattr(loader, "dataset", None)
    for key, get in (("batches", lambda: len(loader)), ("examples", lambda: len(dataset)),
                     ("batch_size", lambda: loader.batch_size)):
        try:
            out[key] = get()
        except Exception:  # noqa: BLE001 - a loader without a length or batch size: left out of its identity
            continue
    return out
