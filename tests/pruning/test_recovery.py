"""BatchNorm recalibration and distillation, checked by hand on tiny modules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from autoprune import Recipe
from autoprune.errors import TrialFailedError
from autoprune.pruning.recovery import Distillation, bn_recalibration_on, recalibrate_batchnorm
from autoprune.testing.pruning import TinyTask


def _bn_net(dropout: float = 0.0) -> nn.Sequential:
    net = nn.Sequential(nn.Dropout(dropout), nn.BatchNorm1d(2, momentum=0.3), nn.Linear(2, 2))
    net[1].running_mean.fill_(7.0)
    return net


def test_recalibration_averages_every_batch_alike_and_restores_modes():
    net = _bn_net(dropout=0.5)  # in train mode: recalibration must turn it off
    net.train()
    net[2].eval()  # a module in another mode than its parent keeps it
    a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # column 0: mean 2, unbiased var 2
    b = torch.tensor([[5.0, 2.0], [7.0, 2.0]])  # column 0: mean 6, unbiased var 2
    assert recalibrate_batchnorm(net, [(a, None), (b, None)]) == 2
    bn = net[1]
    # cumulative average (momentum None) of the per-batch statistics, not an EMA
    assert bn.running_mean.tolist() == pytest.approx([4.0, 1.0])
    assert bn.running_var.tolist() == pytest.approx([2.0, 0.0])
    assert bn.momentum == 0.3
    assert int(bn.num_batches_tracked) == 2
    assert net.training and bn.training and net[0].training and not net[2].training


def test_recalibration_without_batches_or_batchnorm_changes_nothing():
    net = _bn_net()
    assert recalibrate_batchnorm(net, []) == 0
    assert net[1].running_mean.tolist() == [7.0, 7.0]
    assert recalibrate_batchnorm(nn.Linear(2, 2), [(torch.ones(1, 2), None)]) == 0


def test_recalibration_is_on_by_default_only_with_batchnorm():
    assert bn_recalibration_on(Recipe(), _bn_net())
    assert not bn_recalibration_on(Recipe(), nn.Linear(2, 2))
    assert not bn_recalibration_on(Recipe(bn_recalibration=False), _bn_net())
    assert bn_recalibration_on(Recipe(bn_recalibration=True), nn.Linear(2, 2))


def test_distillation_loss_is_t2_kl_of_the_softened_logits():
    task = TinyTask()
    z = torch.tensor([[0.3, -1.0, 2.0]])
    assert float(task.distillation_loss(z, z, 2.0)) == pytest.approx(0.0, abs=1e-7)
    # student uniform, teacher 3:1 at T=1: KL = 0.75 ln 1.5 + 0.25 ln 0.5
    student, teacher = torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]])
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert float(task.distillation_loss(student, teacher, 1.0)) == pytest.approx(expected, rel=1e-5)
    # T=2: the logits halved (3:1 becomes sqrt(3):1), times T^2
    p = math.sqrt(3) / (1 + math.sqrt(3))
    expected_t2 = 4 * (p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p)))
    assert float(task.distillation_loss(student, teacher, 2.0)) == pytest.approx(expected_t2, rel=1e-5)


def test_distillation_loss_reads_logits_and_refuses_mismatched_outputs():
    class Out:
        def __init__(self, logits):
            self.logits = logits

    task = TinyTask()
    student, teacher = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    assert float(task.distillation_loss(Out(student), Out(teacher), 1.0)) == pytest.approx(
        float(task.distillation_loss(student, teacher, 1.0)))
    with pytest.raises(TrialFailedError, match=r"override Task.distillation_loss"):
        task.distillation_loss(torch.zeros(1, 2), torch.zeros(1, 3), 1.0)


def test_distillation_step_mixes_task_and_distillation_losses():
    torch.manual_seed(0)
    task = TinyTask()
    student, teacher = task.build_model(), task.build_model()
    batch = next(iter(task.train_batches(0)))
    task_loss = task.training_step(student, batch).item()
    with torch.no_grad():
        kd = float(task.distillation_loss(student(batch[0]), teacher(batch[0]), 2.0))
    loss = Distillation(task, teacher, 0.25, 2.0)(student, batch)
    assert loss.item() == pytest.approx(0.75 * task_loss + 0.25 * kd, rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is never trained
    assert not teacher.training


def test_distillation_needs_a_training_step_that_calls_the_model():
    class NoForward(TinyTask):
        def training_step(self, model, batch):
            return torch.zeros((), requires_grad=True)

    task = NoForward()
    with pytest.raises(TrialFailedError, match=r"training_step never called the model"):
        Distillation(task, task.build_model(), 0.5, 2.0)(task.build_model(), next(iter(task.train_batches(0))))
