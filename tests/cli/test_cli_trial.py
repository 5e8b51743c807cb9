"""End-to-end runs of ``autoprune trial`` and ``autoprune tasks`` on tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from autoprune.cli import main


def _trial_json(capsys, *args: str) -> dict:
    assert main(["trial", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_tasks_lists_builtin_tasks(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("digits-mlp", "digits-cnn", "fashion-mnist-cnn"):
        assert name in out


def test_unstructured_gradual_meets_issue_targets(capsys):
    p = _trial_json(capsys, "--task", "digits-mlp", "--set", "criterion=magnitude_l1", "granularity=unstructured",
                    "sparsity=0.9", "schedule=gradual", "steps=3", "finetune_epochs=3")
    prunable = 64 * 512 + 512 * 512
    unpruned = p["baseline_params_total"] - prunable
    assert p["params_nonzero"] <= 0.12 * prunable + unpruned
    assert p["accuracy"] >= p["baseline_accuracy"] - 0.015
    assert p["size_bytes"] < p["baseline_size_bytes"] / 2
    assert p["finetune_epochs_run"] == 3 and [s for s, _ in p["curve"]] == [0, 1, 2, 3]
    assert p["recipe"]["schedule"] == "gradual" and p["status"] == "complete"
    assert abs(p["sparsity_achieved"] - 0.9) < 0.01


def test_channel_half_is_smaller_faster_and_reloads(capsys, tmp_path):
    from autoprune import get_task
    from autoprune.serialize import load_pruned

    p = _trial_json(capsys, "--task", "digits-mlp", "--set", "granularity=channel", "sparsity=0.5",
                    "--out", str(tmp_path))
    assert p["params_total"] <= 0.4 * p["baseline_params_total"]
    assert p["latency_ms"] <= 0.6 * p["baseline_latency_ms"]
    # the saved model loads with weights_only=True and gives the outputs of the trial's model
    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert raw["recipe"]["granularity"] == "channel"
    task = get_task("digits-mlp")
    model, _ = load_pruned(tmp_path / "model.pt", task)
    assert model[0].out_features == 256 and model[2].out_features == 256
    x = task.example_input(8)
    again, _ = load_pruned(tmp_path / "model.pt", task)
    assert torch.equal(model(x), again(x))
    # the accuracy recorded for the trial is the reloaded model's accuracy
    assert task.evaluate(model) == pytest.approx(p["accuracy"])


def test_nm_two_four_zeros_every_group(capsys, tmp_path):
    from autoprune import get_task
    from autoprune.serialize import load_pruned

    p = _trial_json(capsys, "--task", "digits-mlp", "--set", "granularity=nm", "finetune_epochs=1",
                    "--out", str(tmp_path))
    model, _ = load_pruned(tmp_path / "model.pt", get_task("digits-mlp"))
    for layer in (model[0], model[2]):
        groups = layer.weight.detach().reshape(layer.out_features, -1, 4)
        assert int((groups == 0).sum(-1).min()) >= 2
    assert p["sparsity_achieved"] == pytest.approx(0.5, abs=1e-3)


def test_summary_output_is_readable(capsys):
    assert main(["trial", "--set", "granularity=channel", "sparsity=0.25", "finetune_epochs=1"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "latency_ms" in out and "ratio" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], r"task='nope' is neither a built-in task"),
        (["--set", "criterion=l0"], r"criterion must be one of magnitude_l1, magnitude_l2, random, taylor, wanda"),
        (["--set", "granularity=block"], r"granularity must be one of unstructured, nm, channel"),
        (["--set", "schedule=cosine"], r"schedule must be one of one_shot, iterative, gradual"),
        (["--set", "timing=never"], r"timing must be one of after_training, during_training, before_training"),
        (["--set", "sparsity=1.5"], r"sparsity must be in \[0, 1\), but got sparsity=1.5"),
        (["--set", "granularity=nm", "nm_n=4", "nm_m=4"], r"nm_n must satisfy 1 <= nm_n < nm_m"),
        (["--set", "color=red"], r"'color' is not a recipe field"),
        (["--task", "fashion-mnist-cnn", "--data-dir", "/nonexistent/fm"], r"/nonexistent/fm"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, args, message):
    import re

    assert main(["trial", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_user_task_errors(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    assert main(["trial", "--task", f"{broken}:task"]) == 2
    assert "failed to import: RuntimeError: boom" in capsys.readouterr().err

    not_task = tmp_path / "not_task.py"
    not_task.write_text("task = object()\n")
    assert main(["trial", "--task", f"{not_task}:task"]) == 2
    assert "must name a Task instance, Task subclass or factory, got object" in capsys.readouterr().err


def test_model_without_prunable_layer_fails_before_training(tmp_path, capsys):
    src = tmp_path / "tiny.py"
    src.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from autoprune import Task

        class OnlyClassifier(Task):
            name = "only-classifier"
            def build_model(self):
                return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
            def train_batches(self, epoch):
                raise AssertionError("training must not start")
            def val_batches(self):
                return []
            def example_input(self, batch_size=1):
                return torch.zeros(batch_size, 4)

        task = OnlyClassifier()
    """))
    assert main(["trial", "--task", f"{src}:task"]) == 2
    assert "no prunable layer" in capsys.readouterr().err


@pytest.mark.e2e
def test_real_cli_entry_point_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "autoprune", "trial", "--set", "granularity=channel", "sparsity=0.5",
         "finetune_epochs=1", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["params_total"] < 100_000


def test_a_repeated_set_merges():
    from autoprune.cli import build_parser

    args = build_parser().parse_args(["trial", "--set", "granularity=channel", "--set", "sparsity=0.5", "steps=2"])
    assert args.set == ["granularity=channel", "sparsity=0.5", "steps=2"]
