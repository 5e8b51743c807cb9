"""The Task protocol: what a trial runs on."""

from __future__ import annotations

import abc
import hashlib
import json
import math
import numbers
from typing import Any, Iterable, Iterator

import torch
from torch import nn

__all__ = ["Task", "call_model", "to_device", "model_device", "state_dict_digest", "check_metric_value", "stable_name"]

Batch = tuple[Any, torch.Tensor]  # (inputs, targets); inputs: Tensor, tuple or dict of tensors


def call_model(model: nn.Module, inputs: Any) -> Any:
    """Forward ``inputs`` whatever their structure (tensor, tuple of tensors, dict of tensors)."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def to_device(obj: Any, device: torch.device | str) -> Any:
    """``obj`` (a tensor, or a dict / tuple / list of them, nested) with every tensor on
    ``device``; anything else as it is."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (else buffer); the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def state_dict_digest(model: nn.Module) -> str:
    """SHA-256 of the model's state_dict: every key, dtype, shape and the tensors' bytes.

    Stable across processes and machines (unlike Python's salted ``hash()``), and it
    changes whenever a weight does: a pretrained weights file enters a task's
    fingerprint through it.
    """
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_metric_value(value: Any, field: str = "metric") -> float:
    """``value`` as a float when it is a finite real number, as a task's metric must be.

    Raises:
        TaskError: a tensor, a string, a bool, NaN or infinity, naming ``field``.
    """
    from autoprune.errors import TaskError

    if isinstance(value, torch.Tensor) or isinstance(value, bool) or not isinstance(value, numbers.Real):
        shown = f"a tensor {value!r}" if isinstance(value, torch.Tensor) else f"{value!r} ({type(value).__name__})"
        raise TaskError(f"{field} returned {shown}; allowed: a finite Python number, higher is better "
                        f"(e.g. float(x.item()) of a one-element tensor).")
    if not math.isfinite(float(value)):
        raise TaskError(f"{field} returned {float(value)!r}; allowed: a finite Python number, higher is better.")
    return float(value)


def stable_name(obj: Any) -> str:
    """``module.qualname`` of a class or function, the same in every process and on every
    machine: one from a task file (see :func:`autoprune.tasks.load_task`) is named by the
    file's name, not by the module name its path gave it."""
    module = getattr(obj, "__module__", "") or ""
    if module.startswith("autoprune_user_task_"):
        import sys
        from pathlib import Path

        file = getattr(sys.modules.get(module), "__file__", None)
        module = Path(file).name if file else "file"
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


class Task(abc.ABC):
    """A model, its data, how it is trained and how it is scored.

    Subclasses implement :meth:`build_model`, :meth:`train_batches`, :meth:`val_batches`
    and :meth:`example_input`; the rest has defaults for classification. Batches are
    ``(inputs, targets)`` where ``inputs`` is a tensor, a tuple of tensors (passed as
    positional arguments) or a dict of tensors (passed as keyword arguments, as Hugging
    Face models take them). Batches follow the model: :meth:`training_step` and
    :meth:`evaluate` move each batch to the device of the model's parameters, so a task
    yields its data where it keeps it (usually the CPU).

    Pretrained models: :meth:`build_model` may load weights (deterministically, e.g.
    with :func:`autoprune.tasks.load_weights`); with ``baseline_epochs = 0`` those
    weights are the baseline, evaluated as they are (nothing trained, BatchNorm
    statistics untouched); with ``baseline_epochs > 0`` they are fine-tuned first.

    Attributes:
        name: registry name, also used in cache keys.
        metric_name: what :meth:`evaluate` returns (higher is better).
        baseline_epochs: epochs to train the dense baseline from :meth:`build_model`'s
            model; 0: that model is the baseline.
        baseline_lr: learning rate of the baseline.
        benchmark_batch_size: batch size at which latency is measured.
        seed: seed of data splits, initialisation and shuffling.
    """

    name: str = "task"
    metric_name: str = "accuracy"
    baseline_epochs: int = 10
    baseline_lr: float = 1e-3
    benchmark_batch_size: int = 256
    seed: int = 0

    # -- required ------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """The model to start from: freshly initialised (seeded by the caller) or loaded
        with pretrained weights; the same weights for the same seed, in every process."""

    @abc.abstractmethod
    def train_batches(self, epoch: int) -> Iterable[Batch]:
        """Training batches for one epoch, shuffled deterministically from ``epoch``."""

    @abc.abstractmethod
    def val_batches(self) -> Iterable[Batch]:
        """Validation batches, in a fixed order."""

    @abc.abstractmethod
    def example_input(self, batch_size: int = 1) -> Any:
        """Model inputs of ``batch_size`` examples, for tracing, FLOPs and latency."""

    # -- defaults ------------------------------------------------------------------
    def logits(self, outputs: Any) -> torch.Tensor:
        """The class scores in a model's outputs: the outputs themselves, or the
        ``logits`` of a Hugging Face ``ModelOutput``."""
        logits = getattr(outputs, "logits", None)
        return outputs if logits is None else logits

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(self.logits(outputs), targets)

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Loss of one batch; the caller runs backward and the optimizer step."""
        inputs, targets = to_device(batch, model_device(model))
        return self.loss(call_model(model, inputs), targets)

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        params = list(params)
        # fused: one kernel for every parameter (about 35% faster steps than the default on CPU)
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(params, lr=lr, fused=fused)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> float:
        """The task's metric on validation data (default: top-1 accuracy in [0, 1])."""
        was_training = model.training
        model.eval()
        device = model_device(model)
        correct = total = 0
        for batch in self.val_batches():
            inputs, targets = to_device(batch, device)
            pred = self.logits(call_model(model, inputs)).argmax(dim=-1)
            correct += int((pred == targets).sum())
            total += int(targets.numel())
        model.train(was_training)
        return correct / max(total, 1)

    def calibration_batches(self, n: int) -> Iterator[Batch]:
        """The first ``n`` training batches of epoch 0 (Taylor / Wanda scores)."""
        for i, batch in enumerate(self.train_batches(0)):
            if i >= n:
                return
            yield batch

    def fingerprint(self) -> str:
        """Identifies the task's configuration; a cached baseline must match it.

        A SHA-256 of the class, settings, :meth:`config`, the model's shapes and the bytes
        of its initial weights (built under ``torch.manual_seed(seed)``; the global random
        state is left as it was): the same in every process and on every machine, and
        different when a pretrained weights file changes.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self.build_model()
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        blob = json.dumps(
            {
                "cls": stable_name(type(self)),
                "name": self.name,
                "seed": self.seed,
                "epochs": self.baseline_epochs,
                "lr": self.baseline_lr,
                "config": self.config(),
                "shapes": shapes,
                "weights": state_dict_digest(model),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def config(self) -> dict[str, Any]:
        """Extra settings that change the task (data size, model width, ...)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, seed={self.seed})"

    def distillation_loss(self, student_outputs: Any, teacher_outputs: Any, temperature: float) -> torch.Tensor:
        """The distillation term of fine-tuning (``Recipe.distill_weight``): by default
        ``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` over the last dimension,
        averaged over the other positions; outputs with ``.logits`` (Hugging Face) use it.
        The ``T^2`` keeps the gradients' scale independent of ``T`` (Hinton et al. 2015).
        Override it for outputs that are not logits.
        """
        from autoprune.errors import TrialFailedError

        s, t = (getattr(o, "logits", o) for o in (student_outputs, teacher_outputs))
        if not (isinstance(s, torch.Tensor) and isinstance(t, torch.Tensor) and s.shape == t.shape):
            raise TrialFailedError(f"distillation_loss compares logits of one shape, but got {type(s).__name__} "
                            f"{list(getattr(s, 'shape', []))} and {type(t).__name__} {list(getattr(t, 'shape', []))}; "
                            f"override Task.distillation_loss for these outputs.")
        # float32 whatever the autocast dtype, so soft targets keep their small probabilities
        s, t = (x.float().reshape(-1, x.shape[-1]) / temperature for x in (s, t))
        kl = nn.functional.kl_div(s.log_softmax(-1), t.log_softmax(-1), reduction="batchmean", log_target=True)
        return kl * temperature**2
