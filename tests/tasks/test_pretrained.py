"""Pretrained baselines: weights loaded by build_model, baseline_epochs = 0, stable cache keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from autoprune.baseline import get_baseline
from autoprune.errors import TaskError
from autoprune.tasks import get_task, load_weights

ROOT = Path(__file__).resolve().parents[2]

# A task file as a user writes it: the digits MLP, its weights read from model.pt beside it.
TASK_FILE = '''
from pathlib import Path

from autoprune.tasks import load_weights
from autoprune.tasks._digits import DigitsMLP


class Pretrained(DigitsMLP):
    name = "pretrained-digits"
    baseline_epochs = 0

    def build_model(self):
        return load_weights(super().build_model(), Path(__file__).with_name("model.pt"))


task = Pretrained(hidden=32)
'''


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    """``task.py`` and ``model.pt``, weights of a DigitsMLP(hidden=32) trained one epoch."""
    from autoprune.tasks._digits import DigitsMLP
    from autoprune.training import train_epoch

    source = DigitsMLP(hidden=32)
    torch.manual_seed(7)
    model = source.build_model()
    train_epoch(model, source, source.make_optimizer(model.parameters(), 1e-2), 0)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "task.py").write_text(TASK_FILE)
    return tmp_path / "task.py"


def _accuracy_by_hand(task) -> float:
    model = task.build_model().eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in task.val_batches():
            correct += int((model(x).argmax(-1) == y).sum())
            total += len(y)
    return correct / total


def test_baseline_epochs_0_is_the_pretrained_models_own_accuracy(task_file, tmp_path):
    task = get_task(f"{task_file}:task")
    baseline = get_baseline(task, 0, tmp_path / "cache")
    assert baseline.accuracy == _accuracy_by_hand(task)  # to the last digit
    saved = torch.load(task_file.with_name("model.pt"), weights_only=True)
    assert all(torch.equal(baseline.state_dict[k], v) for k, v in saved.items())


def test_a_changed_weights_file_changes_the_fingerprint(task_file):
    before = get_task(f"{task_file}:task").fingerprint()
    assert get_task(f"{task_file}:task").fingerprint() == before  # loaded again: the same
    state = torch.load(task_file.with_name("model.pt"), weights_only=True)
    state["0.bias"] = state["0.bias"] + 1e-3
    torch.save(state, task_file.with_name("model.pt"))
    assert get_task(f"{task_file}:task").fingerprint() != before


def test_the_fingerprint_is_the_same_in_another_process(task_file):
    code = "import sys; from autoprune.tasks import get_task; print(get_task(sys.argv[1]).fingerprint())"
    outputs = {
        subprocess.run([sys.executable, "-c", code, f"{task_file}:task"], cwd=ROOT, capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout.strip()
        for seed in (1, 2)
    }
    assert len(outputs) == 1 and outputs == {get_task(f"{task_file}:task").fingerprint()}


@pytest.mark.e2e  # two CLI processes
def test_a_second_cli_call_reuses_the_cached_baseline(task_file, tmp_path):
    env = {**os.environ, "AUTOPRUNE_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-m", "autoprune", "-v", "trial", "--task", f"{task_file}:task", "--set",
            "finetune_epochs=0", "--json"]
    first = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env)
    second = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "does not match" not in first.stderr + second.stderr
    assert list((tmp_path / "cache" / "baselines").iterdir()) == [tmp_path / "cache" / "baselines" / "pretrained-digits-seed0.pt"]
    import json

    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["baseline_accuracy"] == b["baseline_accuracy"] == _accuracy_by_hand(get_task(f"{task_file}:task"))


def test_load_weights_names_the_file_and_the_first_mismatch(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(nn.Linear(4, 3).state_dict(), path)
    with pytest.raises(TaskError, match=rf"weights file '{path}' does not match the model: key 'weight' has shape "
                                        r"\[3, 4\] in the file, \[2, 4\] in the model; allowed: a state_dict"):
        load_weights(nn.Linear(4, 2), path)
    with pytest.raises(TaskError, match=r"key '0.weight' \(shape \[3, 4\]\) is missing from the file"):
        load_weights(nn.Sequential(nn.Linear(4, 3)), path)
    torch.save({"state_dict": {**nn.Linear(4, 3).state_dict(), "extra": torch.zeros(1)}}, path)
    with pytest.raises(TaskError, match=r"key 'extra' is not in the model"):
        load_weights(nn.Linear(4, 3), path)
    path.write_text("not a checkpoint")
    with pytest.raises(TaskError, match=rf"weights file '{path}' cannot be read"):
        load_weights(nn.Linear(4, 3), path)
    with pytest.raises(TaskError, match=r"does not exist"):
        load_weights(nn.Linear(4, 3), tmp_path / "missing.pt")


def test_load_weights_reads_a_checkpoint_dict_and_safetensors(tmp_path):
    src = nn.Linear(4, 3)
    torch.save({"model": src.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    assert torch.equal(load_weights(nn.Linear(4, 3), tmp_path / "ckpt.pt").weight, src.weight)
    safetensors = pytest.importorskip("safetensors.torch")
    safetensors.save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    assert torch.equal(load_weights(nn.Linear(4, 3), tmp_path / "w.safetensors").weight, src.weight)
