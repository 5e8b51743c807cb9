"""The one training loop: step limits on a shared batch stream, a custom loss, precision."""

from __future__ import annotations

import pytest
import torch

from autoprune.errors import ConfigError, TrialFailedError
from autoprune.testing.pruning import TinyTask
from autoprune.training import steps_per_epoch, train_epoch


def _setup():
    torch.manual_seed(0)
    task = TinyTask()
    model = task.build_model()
    return task, model, task.make_optimizer(model.parameters(), 1e-2)


def test_max_steps_draws_no_batch_beyond_the_limit():
    task, model, optimizer = _setup()
    stream = iter(list(task.train_batches(0)))  # 4 batches
    train_epoch(model, task, optimizer, 0, max_steps=3, batches=stream)
    assert len(list(stream)) == 1  # the next segment goes on from the fourth batch
    assert train_epoch(model, task, optimizer, 0, max_steps=0, batches=iter([])) == 0.0


def test_loss_fn_replaces_the_training_step():
    task, model, optimizer = _setup()
    seen = []

    def loss_fn(m, batch):
        seen.append(len(batch[1]))
        return task.training_step(m, batch) * 0.0 + 2.0

    assert train_epoch(model, task, optimizer, 0, loss_fn=loss_fn) == pytest.approx(2.0)
    assert seen == [16, 16, 16, 16]


def test_mixed_precision_trains_and_keeps_float32_weights():
    amp = "bf16"  # fp16 needs CUDA: tests/test_cuda.py
    task, model, optimizer = _setup()
    before = [p.detach().clone() for p in model.parameters()]
    loss = train_epoch(model, task, optimizer, 0, amp=amp)
    assert loss == loss and all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_fp16_on_the_cpu_is_refused_in_one_line():
    task, model, optimizer = _setup()
    with pytest.raises(ConfigError, match=r"amp='fp16' needs a CUDA device"):
        train_epoch(model, task, optimizer, 0, amp="fp16")


def test_non_finite_loss_fails_the_trial():
    task, model, optimizer = _setup()
    with pytest.raises(TrialFailedError, match=r"training loss became nan at epoch 3, batch 0"):
        train_epoch(model, task, optimizer, 3, loss_fn=lambda m, b: torch.tensor(float("nan")))


def test_steps_per_epoch_counts_batches_without_a_length():
    assert steps_per_epoch(TinyTask()) == 4
