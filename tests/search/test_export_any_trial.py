"""Export any trial: a trial directory (``autoprune trial --out``), every model kept
(``models: all``), a trial whose model was not kept rebuilt and checked."""

from __future__ import annotations

import json

import pytest
import torch

from autoprune.cli import main
from autoprune.errors import ConfigError
from autoprune.search import RunOptions, load_space, open_run
from autoprune.search import run_search as search
from autoprune.serialize import load_pruned

QUIET = dict(progress=False, tracker="none")


def test_models_is_a_space_key_front_or_all(make_space):
    assert load_space(make_space()).models == "front"
    space = load_space(make_space(**{"trial_pruner: none": "trial_pruner: none\nmodels: all"}))
    assert space.models == "all" and space.to_dict()["models"] == "all"
    assert "models" not in load_space(make_space()).to_dict()  # the layout of earlier runs is unchanged
    assert space.with_overrides(models="front").models == "front"
    with pytest.raises(ConfigError, match=r"models: 'some' is not a choice; allowed: front, all"):
        load_space(make_space(**{"trial_pruner: none": "trial_pruner: none\nmodels: some"}))


def test_bad_models_flag_is_one_line_exit_2(fast_space, tmp_path, capsys):
    assert main(["search", str(fast_space), "--models", "best", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "models: 'best' is not a choice; allowed: front, all" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_export_of_a_directory_that_is_neither_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--output", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "is neither a run directory (no run.json) nor a trial directory" in err


@pytest.mark.e2e
def test_export_of_a_trial_out_directory(tmp_path, capsys):
    out = tmp_path / "trial"
    assert main(["trial", "--set", "granularity=channel", "sparsity=0.5", "finetune_epochs=1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", str(out), "--output", str(tmp_path / "m.pt")]) == 0
    assert "exported the trial in" in capsys.readouterr().out
    from autoprune import get_task

    task = get_task("digits-mlp")
    exported, info = load_pruned(tmp_path / "m.pt", task)
    kept, _ = load_pruned(out / "model.pt", task)
    assert info["recipe"].granularity == "channel" and exported[0].out_features == 256
    x = task.example_input(4)
    assert torch.equal(exported(x), kept(x))
    # a task the directory names that is not registered is never imported on its own
    payload = json.loads((out / "result.json").read_text())
    (out / "result.json").write_text(json.dumps({**payload, "task_spec": "evil.py:task"}))
    assert main(["export", str(out), "--output", str(tmp_path / "n.pt")]) == 2
    assert "not a registered task" in capsys.readouterr().err


@pytest.mark.e2e
def test_models_all_keeps_every_model_and_a_rebuild_is_the_same_model(make_space, tmp_path):
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 4}"})
    run = tmp_path / "run"
    result = search(space, options=RunOptions(out=run, **QUIET), models="all")
    complete = [r.number for r in result.trials if r.state == "complete"]
    assert sorted(int(p.stem.split("_")[1]) for p in (run / "models").glob("trial_*.pt")) == complete
    again = open_run(run)
    # deterministic on the CPU: the rebuilt model is the kept one, weight for weight
    for number in complete[:2]:
        kept = again.load_model(number).state_dict()
        rebuilt = again.rebuild_model(number).state_dict()
        assert kept.keys() == rebuilt.keys()
        assert all(torch.equal(kept[k], rebuilt[k].to(kept[k].dtype)) for k in kept), number


@pytest.mark.e2e
def test_a_trial_off_the_front_is_rebuilt_and_checked(make_space, tmp_path, capsys):
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 5}"})
    run = tmp_path / "run"
    result = search(space, options=RunOptions(out=run, **QUIET))
    front = {r.number for r in result.pareto_front}
    off = [r for r in result.trials if r.state == "complete" and r.number not in front]
    if not off:
        pytest.fail(f"every complete trial is on the front ({sorted(front)}); the test needs one off it")
    number = off[0].number
    assert not (run / "models" / f"trial_{number}.pt").exists()
    assert main(["trials", str(run)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert " rebuild" in rows[str(number)] and " kept" in rows[str(min(front))]
    assert main(["export", str(run), "--trial", str(number), "--output", str(tmp_path / "m.pt")]) == 0
    out = capsys.readouterr()
    assert "rebuilding it from its recipe and seed" in out.err
    assert f"rebuilt trial {number}: accuracy" in out.out
    assert load_pruned(tmp_path / "m.pt", result.task())[1]["recipe"].to_dict() == off[0].recipe
    # a recorded accuracy the rebuild does not reach: refused, both numbers named, nothing written
    reopened = open_run(run)
    reopened.trial(number).measures["accuracy"] += 0.01
    with pytest.raises(ConfigError, match=r"rebuilt from its recipe and seed reaches accuracy .*but the study "
                                          r"recorded .*not exported"):
        reopened.export(number, "state_dict", tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
