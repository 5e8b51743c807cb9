"""Tiny models and tasks for testing transformer and depth pruning, without downloads.

- :func:`tiny_bert` / :func:`tiny_vit`: Hugging Face ``BertForSequenceClassification`` /
  ``ViTForImageClassification`` built from small configs (random weights; needs the
  ``hf`` extra, i.e. ``transformers``);
- :class:`TinyTextTask` / :class:`TinyImageTask`: a fixed random batch set for them
  (token ids / 8x8 one-channel images), classification on ``outputs.logits``;
- :class:`TinyResNet` and :class:`TinyResNetTask`: a ResNet-8 style CNN of
  torchvision-style ``BasicBlock`` s (no torchvision needed), for depth pruning.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Iterator

import torch
from torch import nn

from autoprune.tasks import Task, call_model

__all__ = [
    "tiny_bert",
    "tiny_vit",
    "logits_of",
    "TinyTextTask",
    "TinyImageTask",
    "BasicBlock",
    "TinyResNet",
    "TinyResNetTask",
]


def tiny_bert(*, layers: int = 2, heads: int = 4, hidden: int = 32, intermediate: int = 64,
              vocab: int = 100, num_labels: int = 3) -> nn.Module:
    """``BertForSequenceClassification`` of a small ``BertConfig`` (dropout off, eager-free sdpa)."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, vocab_size=vocab, num_labels=num_labels,
                        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config)


def tiny_vit(*, layers: int = 2, heads: int = 4, hidden: int = 32, intermediate: int = 64,
             num_labels: int = 3) -> nn.Module:
    """``ViTForImageClassification`` of 8x8 one-channel images in 4x4 patches."""
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=8, patch_size=4, num_channels=1, hidden_size=hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, intermediate_size=intermediate, num_labels=num_labels,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return ViTForImageClassification(config)


def logits_of(outputs: Any) -> torch.Tensor:
    """``outputs.logits`` of a Hugging Face model output, the tensor itself otherwise."""
    return getattr(outputs, "logits", outputs)


class _Fixed(Task):
    """64 fixed examples in 4 batches of 16; loss and accuracy on the logits."""

    baseline_epochs = 1
    baseline_lr = 1e-3
    benchmark_batch_size = 8

    def __init__(self, build: Callable[[], nn.Module], seed: int = 0) -> None:
        self.build, self.seed = build, seed
        self.x, self.y = self._data(torch.Generator().manual_seed(seed))

    @abc.abstractmethod
    def _data(self, gen: torch.Generator) -> tuple[Any, torch.Tensor]:
        """The 64 examples' inputs and labels, drawn from ``gen``."""

    @abc.abstractmethod
    def _inputs(self, sl: slice) -> Any:
        """The model inputs of examples ``sl``."""

    def build_model(self) -> nn.Module:
        return self.build()

    def train_batches(self, epoch: int) -> Iterator[tuple[Any, torch.Tensor]]:
        for i in range(0, 64, 16):
            yield self._inputs(slice(i, i + 16)), self.y[i : i + 16]

    def val_batches(self) -> Iterator[tuple[Any, torch.Tensor]]:
        return self.train_batches(0)

    def example_input(self, batch_size: int = 1) -> Any:
        return self._inputs(slice(0, batch_size))

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits_of(outputs), targets)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> float:
        was_training = model.training
        model.eval()
        correct = total = 0
        for inputs, targets in self.val_batches():
            correct += int((logits_of(call_model(model, inputs)).argmax(-1) == targets).sum())
            total += int(targets.numel())
        model.train(was_training)
        return correct / total


class TinyTextTask(_Fixed):
    """Random token ids (length 7) and 3 labels for :func:`tiny_bert` (or ``build``)."""

    name = "tiny-text"

    def __init__(self, build: Callable[[], nn.Module] | None = None, seed: int = 0) -> None:
        super().__init__(build or tiny_bert, seed)

    def _data(self, gen: torch.Generator) -> tuple[Any, torch.Tensor]:
        return torch.randint(0, 100, (64, 7), generator=gen), torch.randint(0, 3, (64,), generator=gen)

    def _inputs(self, sl: slice) -> Any:
        return {"input_ids": self.x[sl]}


class TinyImageTask(_Fixed):
    """Random 1x8x8 images and 3 labels for :func:`tiny_vit` (or ``build``)."""

    name = "tiny-image"

    def __init__(self, build: Callable[[], nn.Module] | None = None, seed: int = 0) -> None:
        super().__init__(build or tiny_vit, seed)

    def _data(self, gen: torch.Generator) -> tuple[Any, torch.Tensor]:
        return torch.randn(64, 1, 8, 8, generator=gen), torch.randint(0, 3, (64,), generator=gen)

    def _inputs(self, sl: slice) -> Any:
        return {"pixel_values": self.x[sl]}


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """ResNet-(6n+2) for 1x8x8 inputs: a stem, three stages of ``blocks`` BasicBlocks
    (widths ``width``, 2x, 4x; the first block of stages 2 and 3 downsamples), a linear head."""

    def __init__(self, blocks: int = 2, width: int = 8, num_classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages, planes = [], width
        for i, w in enumerate((width, 2 * width, 4 * width)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(*[BasicBlock(planes if b == 0 else w, w, stride if b == 0 else 1)
                                          for b in range(blocks)]))
            planes = w
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class TinyResNetTask(_Fixed):
    """Random 1x8x8 images and 3 labels for :class:`TinyResNet` (``blocks`` per stage)."""

    name = "tiny-resnet"

    def __init__(self, blocks: int = 2, seed: int = 0) -> None:
        super().__init__(lambda: TinyResNet(blocks), seed)

    def _data(self, gen: torch.Generator) -> tuple[Any, torch.Tensor]:
        return torch.randn(64, 1, 8, 8, generator=gen), torch.randint(0, 3, (64,), generator=gen)

    def _inputs(self, sl: slice) -> Any:
        return self.x[sl]
