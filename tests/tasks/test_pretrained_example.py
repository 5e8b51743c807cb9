"""examples/pretrained_model.py: a ModelTask around a pretrained CNN and plain DataLoaders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from autoprune.baseline import get_baseline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pretrained_model.py"


def test_the_example_task_starts_from_the_weights_file(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("pretrained_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.setattr(example, "WEIGHTS", tmp_path / "cnn.pt")
    example.pretrain(epochs=1)
    task = example.make_task()
    assert task.baseline_epochs == 0 and task.name == "pretrained-digits-cnn"
    saved = torch.load(tmp_path / "cnn.pt", weights_only=True)
    baseline = get_baseline(task, 0, tmp_path / "cache")
    assert all(torch.equal(baseline.state_dict[k], v) for k, v in saved.items())
    model = task.build_model().eval()
    correct = sum(int((model(x).argmax(-1) == y).sum()) for x, y in task.val_loader)
    assert baseline.accuracy == correct / len(task.val_loader.dataset)
