"""The pretrained model of ``pretrained_cnn.py``: a ResNet-8 on Fashion-MNIST, trained once
to a plateau and cached, then used only through the pretrained path (``baseline_epochs = 0``).

:class:`PretrainedResNet8` is an ordinary autoprune task whose ``build_model`` loads the
cached weights, so a search names it like any user's task::

    autoprune search --task benchmarks._resnet8:PretrainedResNet8
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from autoprune._paths import cache_dir
from autoprune.errors import DataError
from autoprune.tasks._fashion import FashionMNISTCNN
from autoprune.training import train_epoch

__all__ = ["ResNet8", "PretrainedResNet8", "PRETRAIN_EPOCHS", "pretrain_epochs", "pretrained_path", "pretrain"]

# twice the classic ResNet-8 width (16): pretrained networks are over-parameterised for
# their task, which is what lets pruning remove most of them; at width 16 every uniform
# channel cut lost more than a point after a short fine-tune
WIDTH = 32
PRETRAIN_EPOCHS = 10  # Adam, cosine to 0, meant to reach the plateau: the log prints every epoch's accuracy
EPOCHS_ENV = "AUTOPRUNE_RESNET8_EPOCHS"
PRETRAIN_LR = 2e-3
PRETRAIN_SEED = 0
# examples per fine-tune epoch, a fixed subset per epoch index, every arm alike (with 3,000
# every channel-pruned model stayed 6 points or more below dense)
TRAIN_PER_EPOCH = 10_000
VAL_EXAMPLES = 5_000


class _Block(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a 1x1-conv-BN projection shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + self.shortcut(x))


class ResNet8(nn.Module):
    """Stem conv (w) at 28x28, three residual blocks (w, 2w, 4w channels, each halving the
    resolution: 14, 7, 4), global average pooling, Linear(4w, 10). At the benchmark's
    width w = 32: 309k parameters, 10.5M MACs an image."""

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        self.layer1 = _Block(w, w, 2)
        self.layer2 = _Block(w, 2 * w, 2)
        self.layer3 = _Block(2 * w, 4 * w, 2)
        self.fc = nn.Linear(4 * w, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(x.mean((2, 3)))


def pretrain_epochs() -> int:
    """:data:`PRETRAIN_EPOCHS`, or ``$AUTOPRUNE_RESNET8_EPOCHS`` (``--pretrain-epochs``: a
    shorter pretraining for a smoke run on a busy machine, cached under its own name)."""
    return int(os.environ.get(EPOCHS_ENV) or PRETRAIN_EPOCHS)


def pretrained_path(epochs: int | None = None) -> Path:
    """Where the pretrained weights are cached (under ``$AUTOPRUNE_CACHE_DIR``)."""
    epochs = pretrain_epochs() if epochs is None else epochs
    return cache_dir() / "pretrained_cnn" / f"resnet8-w{WIDTH}-fashion-e{epochs}-s{PRETRAIN_SEED}.pt"


def _cosine(optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.5 * (1 + math.cos(math.pi * (e + 0.5) / epochs)))


def pretrain(epochs: int | None = None, data_dir: str | None = None,
             log: Callable[[str], None] = print) -> Path:
    """Train :class:`ResNet8` on the 60,000 training images (seed 0) for ``epochs`` (default
    :func:`pretrain_epochs`) and cache its weights; a cached file is reused. Returns the file."""
    epochs = pretrain_epochs() if epochs is None else epochs
    path = pretrained_path(epochs)
    if path.is_file():
        return path
    data = FashionMNISTCNN(seed=PRETRAIN_SEED, data_dir=data_dir, train_limit=None, val_limit=VAL_EXAMPLES)
    torch.manual_seed(PRETRAIN_SEED)
    model = ResNet8()
    optimizer = torch.optim.Adam(model.parameters(), lr=PRETRAIN_LR)
    scheduler = _cosine(optimizer, epochs)
    for epoch in range(epochs):
        train_epoch(model, data, optimizer, epoch)
        scheduler.step()
        log(f"pretraining ResNet-8: epoch {epoch + 1}/{epochs}, validation accuracy {data.evaluate(model):.4f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)  # a run killed mid-write leaves no half file under the real name
    return path


class PretrainedResNet8(FashionMNISTCNN):
    """Fashion-MNIST with the cached pretrained :class:`ResNet8` as the starting model.

    ``baseline_epochs = 0``: the loaded weights are the baseline, evaluated as they are.
    Fine-tuning sees :data:`TRAIN_PER_EPOCH` examples per epoch (a different fixed subset
    per epoch index); validation scores a fixed subset of :data:`VAL_EXAMPLES` test images.

    Raises:
        DataError: the pretrained weights are not cached yet (run
            ``python -m benchmarks.pretrained_cnn --pretrain-only``).
    """

    name = "fashion-resnet8-pretrained"
    baseline_epochs = 0
    # the rate a user fine-tunes it with (Adam; the grid's): finetune_lr_scale 1 is that rate
    baseline_lr = 1e-3

    def __init__(self, seed: int = 0, data_dir: str | None = None, weights: str | None = None) -> None:
        super().__init__(seed=seed, data_dir=data_dir, train_limit=TRAIN_PER_EPOCH, val_limit=VAL_EXAMPLES)
        self.weights = Path(weights) if weights is not None else pretrained_path()
        if not self.weights.is_file():
            raise DataError(f"pretrained weights {str(self.weights)!r} do not exist; run "
                            f"python -m benchmarks.pretrained_cnn --pretrain-only first.")
        # the weights file's digest keys the cached baseline: new weights, a new baseline
        self.weights_sha256 = hashlib.sha256(self.weights.read_bytes()).hexdigest()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "weights_sha256": self.weights_sha256}

    def build_model(self) -> nn.Module:
        model = ResNet8()
        model.load_state_dict(torch.load(self.weights, map_location="cpu", weights_only=True))
        return model
