from __future__ import annotations

from pathlib import Path

import torch

from autoprune.tasks import Task, get_task
from autoprune.training import train_epoch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_task.py"


def test_example_task_loads_and_learns_in_a_few_epochs():
    task = get_task(f"{EXAMPLE}:task")
    assert isinstance(task, Task) and task.name == "breast-cancer-mlp"
    torch.manual_seed(0)
    model = task.build_model()
    before = task.evaluate(model)
    optimizer = task.make_optimizer(model.parameters(), task.baseline_lr)
    for epoch in range(3):
        train_epoch(model, task, optimizer, epoch)
    after = task.evaluate(model)
    assert after > 0.9 > before  # 143 validation examples, 63% of the majority class
    assert task.example_input(5).shape == (5, 30)
    assert model(task.example_input(5)).shape == (5, 2)


def test_example_class_receives_the_seed():
    task = get_task(f"{EXAMPLE}:BreastCancerMLP", seed=3)
    assert task.seed == 3
    first = [y.tolist() for _, y in task.train_batches(0)]
    again = [y.tolist() for _, y in task.train_batches(0)]
    other = [y.tolist() for _, y in task.train_batches(1)]
    assert first == again != other
