"""Prune a model you already have, with the DataLoaders you already use: ``ModelTask``.

Run it::

    python examples/pretrained_model.py            # trains the stand-in "pretrained" model once, then searches

or from the command line, through the factory below (which builds the same task inside
every Ray worker, so nothing has to be pickled)::

    autoprune trial --task examples/pretrained_model.py:make_task --set granularity=channel sparsity=0.5
    autoprune search --task examples/pretrained_model.py:make_task --trials 8

The model here is a small CNN with BatchNorm on scikit-learn's bundled digits, trained once
and saved to ``pretrained_digits_cnn.pt`` beside this file: it stands in for your own
pretrained network. ``ModelTask`` needs no subclass:

- ``build_model()`` returns a copy of your model, pretrained weights included;
- ``baseline_epochs=0`` (the default): your model is the baseline, evaluated as it is
  (nothing trained, BatchNorm statistics untouched); fine-tuning after pruning starts
  from ``baseline_lr`` (1e-4 by default: gentle on pretrained weights);
- the metric is top-1 accuracy unless you pass ``metric(outputs, targets) -> float``
  (over the whole validation data, higher is better);
- batches move to the model's device; ``device="auto"`` (the default) uses the GPU when
  there is one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import autoprune
from autoprune.tasks import load_weights

WEIGHTS = Path(__file__).with_name("pretrained_digits_cnn.pt")


def build_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def loaders(batch_size: int = 64) -> tuple[DataLoader, DataLoader]:
    """Plain DataLoaders over a fixed split of the digits (a picklable TensorDataset)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = torch.from_numpy((x / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    x_tr, x_va, y_tr, y_va = train_test_split(x, torch.from_numpy(y), test_size=0.25, stratify=y, random_state=0)
    train = DataLoader(TensorDataset(x_tr, y_tr), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(x_va, y_va), batch_size=256)
    return train, val


def pretrain(epochs: int = 15) -> None:
    """Stand-in for the weeks of training you already did: once, then cached in a file."""
    train, _ = loaders()
    torch.manual_seed(0)
    model = build_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for x, y in train:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    torch.save(model.state_dict(), WEIGHTS)


def make_task(seed: int = 0) -> autoprune.ModelTask:
    """The task: your model with its weights, your loaders. ``--task file.py:make_task``."""
    if not WEIGHTS.exists():
        pretrain()
    model = load_weights(build_cnn(), WEIGHTS)  # a file that does not fit says which key
    train, val = loaders()
    return autoprune.ModelTask(model, train, val, name="pretrained-digits-cnn", seed=seed)


def main() -> None:
    task = make_task()
    baseline = autoprune.get_baseline(task, seed=0)
    print(f"baseline accuracy (the pretrained model as it is): {baseline.accuracy:.4f}")

    result = autoprune.run_trial(task, autoprune.Recipe(granularity="channel", sparsity=0.5, finetune_epochs=2),
                                 baseline)
    print(f"one trial, channels 0.5: accuracy {result.accuracy:.4f}, "
          f"latency x{result.latency_ms / result.baseline_latency_ms:.2f} of dense")

    space = autoprune.search.parse_space({
        "name": "pretrained-example",
        "objectives": {"accuracy": "max", "latency_ms": "min"},
        "constraints": ["accuracy_drop <= 0.02"],
        "budget": {"trials": 6},
        "fixed": {"granularity": "channel", "finetune_epochs": 2},
        "params": {"sparsity": {"low": 0.2, "high": 0.8}, "criterion": {"choices": ["magnitude_l1", "taylor"]}},
    }, "pretrained-example")
    found = autoprune.run_search(space, task=task, options=autoprune.RunOptions(tracker="none"))
    for record in found.pareto_front:
        print(record.number, record.summary(), record.measures["accuracy"], record.measures["latency_ms"])


if __name__ == "__main__":
    main()
