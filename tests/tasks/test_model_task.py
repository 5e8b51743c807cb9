"""ModelTask: a user's model and DataLoaders as a task, checked when it is made."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from autoprune import ModelTask, Recipe, run_trial
from autoprune.baseline import get_baseline
from autoprune.errors import TaskError
from autoprune.tasks import check_task


def _data(n: int = 96, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen)
    return TensorDataset(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long())  # 3 classes a model can learn


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))


def _task(**kwargs) -> ModelTask:
    train = DataLoader(_data(), batch_size=16, shuffle=True)
    val = DataLoader(_data(48, seed=1), batch_size=16)
    return ModelTask(_model(), train, val, **kwargs)


def _accuracy_by_hand(model: nn.Module, loader: DataLoader) -> float:
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(-1) == y).sum())
            total += len(y)
    return correct / total


def test_defaults_follow_the_task_protocol():
    task = check_task(_task())
    assert task.baseline_epochs == 0 and task.baseline_lr == 1e-4 and task.metric_name == "accuracy"
    assert task.name == "Sequential" and task.benchmark_batch_size == 16
    a, b = task.build_model(), task.build_model()
    assert a is not b and all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_given_model_is_copied():
    model = _model()
    task = ModelTask(model, DataLoader(_data(), batch_size=16), DataLoader(_data(), batch_size=16))
    with torch.no_grad():
        model[0].weight.zero_()
    assert task.build_model()[0].weight.abs().sum() > 0


def test_example_input_is_cut_or_repeated_to_the_batch_size():
    task = _task()
    first = next(iter(task.val_loader))[0]
    assert torch.equal(task.example_input(4), first[:4])
    big = task.example_input(40)
    assert big.shape == (40, 8) and torch.equal(big[16:32], first)
    given = _task(example_input=torch.ones(2, 8))
    assert torch.equal(given.example_input(3), torch.ones(3, 8))


def test_shuffled_epochs_are_the_same_for_the_same_seed_and_epoch():
    task = _task()
    first = [y.tolist() for _, y in task.train_batches(0)]
    assert first == [y.tolist() for _, y in task.train_batches(0)]
    assert first != [y.tolist() for _, y in task.train_batches(1)]


def test_baseline_epochs_0_reports_the_models_own_accuracy_exactly(tmp_path):
    task = _task()
    baseline = get_baseline(task, 0, tmp_path)
    assert baseline.accuracy == _accuracy_by_hand(task.build_model().eval(), task.val_loader)
    # nothing trained: the weights are the given model's, BatchNorm statistics included
    assert all(torch.equal(v, task.model.state_dict()[k]) for k, v in baseline.state_dict.items())


def test_batchnorm_statistics_stay_untouched(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        model[1].running_mean.fill_(0.5)
    task = ModelTask(model, DataLoader(_data(), batch_size=16), DataLoader(_data(), batch_size=16))
    baseline = get_baseline(task, 0, tmp_path)
    assert torch.equal(baseline.state_dict["1.running_mean"], torch.full((16,), 0.5))
    assert int(baseline.state_dict["1.num_batches_tracked"]) == 0


def test_a_custom_metric_sees_all_validation_outputs():
    seen = {}

    def top1(outputs, targets):
        seen["shape"] = tuple(outputs.shape), tuple(targets.shape)
        return float((outputs.argmax(-1) == targets).float().mean())

    task = _task(metric=top1)
    value = task.evaluate(task.build_model())
    assert seen["shape"] == ((48, 3), (48,))
    assert task.metric_name == "top1" and value == pytest.approx(_accuracy_by_hand(task.build_model(), task.val_loader))


def test_run_trial_prunes_a_model_task(tmp_path):
    task = _task(baseline_epochs=1, baseline_lr=1e-2)
    baseline = get_baseline(task, 0, tmp_path)
    result = run_trial(task, Recipe(granularity="channel", sparsity=0.5, finetune_epochs=1), baseline)
    assert result.params_total < result.baseline_params_total
    assert 0.0 <= result.accuracy <= 1.0 and result.baseline_accuracy == baseline.accuracy


def test_fingerprint_follows_weights_and_data():
    task = _task()
    assert task.fingerprint() == _task().fingerprint()
    other = _model()
    with torch.no_grad():
        other[0].bias.add_(1.0)
    changed = ModelTask(other, task.train_loader, task.val_loader)
    assert changed.fingerprint() != task.fingerprint()
    other_val = ModelTask(_model(), task.train_loader, DataLoader(_data(48, seed=2), batch_size=16))
    assert other_val.fingerprint() != task.fingerprint()


# -- bad input: one line naming what is wrong ---------------------------------------------------


class _Pairs:
    """Re-iterable batches of one kind."""

    def __init__(self, batch):
        self.batch = batch

    def __iter__(self):
        return iter([self.batch, self.batch])


@pytest.mark.parametrize("batch, pattern", [
    (torch.zeros(4, 8), r"val_loader yields a tensor of shape \[4, 8\], not \(inputs, targets\); allowed: a DataLoader"),
    ((torch.zeros(4, 8), torch.zeros(4), torch.zeros(4)), r"val_loader yields a tuple of 3 items, not \(inputs, targets\)"),
    ({"x": torch.zeros(4, 8), "y": torch.zeros(4)}, r"val_loader yields a dict with keys \['x', 'y'\], not \(inputs, targets\)"),
    (("text", torch.zeros(4)), r"val_loader yields inputs a str, with no tensor"),
])
def test_loaders_that_do_not_yield_inputs_and_targets(batch, pattern):
    good = DataLoader(_data(), batch_size=16)
    with pytest.raises(TaskError, match=pattern):
        ModelTask(_model(), good, _Pairs(batch))


def test_a_one_pass_iterator_or_an_empty_loader_is_refused():
    good = DataLoader(_data(), batch_size=16)
    with pytest.raises(TaskError, match=r"train_loader is a one-pass iterator \(generator\)"):
        ModelTask(_model(), (b for b in good), good)
    with pytest.raises(TaskError, match=r"val_loader yields no batch"):
        ModelTask(_model(), good, [])
    with pytest.raises(TaskError, match=r"model must be a torch.nn.Module, but got str"):
        ModelTask("resnet", good, good)


def _tensor_metric(outputs, targets):
    return (outputs.argmax(-1) == targets).float().mean()


def _text_metric(outputs, targets):
    return "good"


def _nan_metric(outputs, targets):
    return math.nan


def test_a_metric_that_returns_a_tensor_or_text_fails_when_the_task_is_made():
    with pytest.raises(TaskError, match=r"metric '_tensor_metric' returned a tensor tensor\(.*\); allowed: a finite "
                                        r"Python number, higher is better"):
        _task(metric=_tensor_metric)
    with pytest.raises(TaskError, match=r"metric '_text_metric' returned 'good' \(str\); allowed: a finite Python number"):
        _task(metric=_text_metric)


def test_a_metric_that_returns_nan_fails_on_the_baseline(tmp_path):
    task = _task(metric=_nan_metric)
    with pytest.raises(TaskError, match=r"metric '_nan_metric' returned nan; allowed: a finite Python number"):
        get_baseline(task, 0, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing cached
