"""Searches on Ray workers: same records as local, a killed worker, Neptune's offline log."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from autoprune.registry import EXECUTORS
from autoprune.search import ExecutorContext, RunOptions
from autoprune.search import run_search as search
from autoprune.testing.search import check_executor

pytestmark = [pytest.mark.ray, pytest.mark.e2e]


def _neptune_ops(run_dir: Path) -> list[dict]:
    logs = sorted((run_dir / ".neptune" / "offline").glob("run__*/data-*.log"))
    assert logs, "no offline Neptune log"
    return [json.loads(line)["obj"] for p in logs for line in p.read_text().splitlines() if line.strip()]


def test_ray_search_matches_local_format_and_logs_everything_to_neptune(make_space, ray_session, tmp_path, monkeypatch):
    monkeypatch.setenv("NEPTUNE_MODE", "offline")
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 10}"})
    run = tmp_path / "ray"
    result = search(space, options=RunOptions(out=run, executor="ray", workers=2, tracker="neptune", progress=False))
    assert len([r for r in result.trials if r.state == "complete"]) == 10
    assert len({r.worker for r in result.trials}) >= 1
    local = search(space, trials=2, options=RunOptions(out=tmp_path / "local", tracker="none", progress=False))
    ray_front, local_front = json.loads((run / "pareto.json").read_text()), json.loads((tmp_path / "local" / "pareto.json").read_text())
    assert ray_front.keys() == local_front.keys()
    assert ray_front["front"][0].keys() == local_front["front"][0].keys()
    # the same recipe gives the same accuracy and sizes on either executor
    for a, b in zip(result.trials[:2], local.trials):
        assert a.recipe == b.recipe
        assert a.measures["accuracy"] == b.measures["accuracy"]
        assert a.measures["size_bytes"] == b.measures["size_bytes"]

    ops = _neptune_ops(run)
    paths = {"/".join(op["path"]) for op in ops}
    for r in result.trials:
        assert f"trials/{r.number}/recipe/granularity" in paths
        assert f"trials/{r.number}/measures/accuracy" in paths
        curve = [p for op in ops if "/".join(op["path"]) == f"trials/{r.number}/curve" for p in op.get("values", [])]
        assert [p["step"] for p in curve] == [s for s, _ in r.curve]
    assert "search/pareto_front" in paths and "search/hypervolume" in paths


KILLABLE_TASK = '''
import os
from pathlib import Path
from autoprune.tasks._digits import DigitsMLP

MARKS = Path({marks!r})

class Marked(DigitsMLP):
    name = "marked-digits"
    def training_step(self, model, batch):
        # tell the test which worker process is training right now (not warming up)
        (MARKS / str(os.getpid())).touch()
        return super().training_step(model, batch)

task = Marked()
'''


def test_a_killed_worker_reruns_its_trial_and_the_search_completes(make_space, ray_session, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "marked.py").write_text(KILLABLE_TASK.format(marks=str(marks)))
    space = make_space(**{
        "task: digits-mlp": f"task: {tmp_path / 'marked.py'}:task",
        "budget: {trials: 12}": "budget: {trials: 6}",
        "finetune_epochs: {low: 1, high: 2, type: int}": "finetune_epochs: {low: 3, high: 4, type: int}",
    })
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = [int(p.name) for p in marks.iterdir() if int(p.name) != os.getpid()]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.05)

    threading.Thread(target=kill_one_worker, daemon=True).start()
    result = search(space, options=RunOptions(out=tmp_path / "run", executor="ray", workers=2, tracker="none",
                                              progress=False))
    assert killed, "no worker was killed"
    assert len([r for r in result.trials if r.state == "complete"]) == 6
    assert any(r.attempts > 1 for r in result.trials), [(r.number, r.attempts) for r in result.trials]


def test_trial_pruning_decided_by_the_controller_stops_ray_trials(make_space, ray_session, tmp_path):
    space = make_space(**{
        "trial_pruner: none": "trial_pruner: {name: pareto, percentile: 90, n_startup_trials: 2, n_warmup_steps: 0, n_min_peers: 1}",
        "finetune_epochs: {low: 1, high: 2, type: int}": "finetune_epochs: {low: 3, high: 4, type: int}",
        "finetune_lr: {low: 1.0e-3, high: 5.0e-3, log: true}": "finetune_lr: {low: 1.0e-5, high: 5.0e-3, log: true}",
        "budget: {trials: 12}": "budget: {trials: 8}",
    })
    result = search(space, options=RunOptions(out=tmp_path / "run", executor="ray", workers=2, tracker="none",
                                              progress=False))
    pruned = [r for r in result.trials if r.state == "pruned"]
    assert pruned and all(r.curve[-1][0] < r.recipe["finetune_epochs"] for r in pruned)
    assert not {r.number for r in pruned} & {r.number for r in result.pareto_front}
    assert len([r for r in result.trials if r.state in ("complete", "pruned")]) == 8


def test_a_worker_that_cannot_load_the_task_says_why(tmp_path):
    from autoprune.search._ray import _Worker

    worker = _Worker(baseline=None, hub=None, task=(str(tmp_path / "missing.py") + ":task", 0, None))
    assert "missing.py" in worker.ready()


class _FakeActor:
    """Stands in for a worker actor: ``run.remote`` returns a token naming the call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.run = self

    def remote(self, job, attempt):
        return f"{self.name}:{job.number}:{attempt}"


def test_a_dead_worker_charges_an_attempt_only_to_the_trial_it_was_running(monkeypatch):
    from autoprune.recipe import Recipe
    from autoprune.search._executors import TrialJob
    from autoprune.search._ray import RayExecutor

    executor = RayExecutor(workers=2, task=("digits-mlp", 0, None), max_attempts=2)
    replacements = iter(["a2", "a3"])
    monkeypatch.setattr(executor, "_replace_actor",
                        lambda index: executor._actors.__setitem__(index, _FakeActor(next(replacements))))
    executor._actors = [_FakeActor("a0"), _FakeActor("a1")]
    for number in range(4):  # a0 runs 0 with 2 queued behind it, a1 runs 1 with 3 behind it
        executor.submit(TrialJob(number=number, recipe=Recipe(), seed=number))
    assert executor.status() == {"queued": 2, "running": 2}

    assert executor._worker_died(0, RuntimeError("killed")) == []
    # trial 0 was running: attempt 2; trial 2 was queued: attempt 1 still; a1's calls untouched
    assert sorted(executor._futures) == ["a1:1:1", "a1:3:1", "a2:0:2", "a2:2:1"]

    failed = executor._worker_died(0, RuntimeError("killed"))  # trial 0 dies on its last attempt
    assert [(o.number, o.attempts, o.error) for o in failed] == [(0, 2, "worker died 2 times: RuntimeError")]
    assert sorted(executor._futures) == ["a1:1:1", "a1:3:1", "a3:2:1"]


def test_a_report_from_a_run_whose_worker_died_is_answered_without_deciding():
    from autoprune.recipe import Recipe
    from autoprune.search._executors import TrialJob
    from autoprune.search._ray import RayExecutor

    answers, decided = [], []

    class Hub:
        class decide:  # noqa: N801 - stands in for an actor method: ``hub.decide.remote(...)``
            @staticmethod
            def remote(*args):
                answers.append(args)

    executor = RayExecutor(workers=1, task=("digits-mlp", 0, None))
    executor._hub = Hub()
    executor._futures["call"] = (TrialJob(number=1, recipe=Recipe(), seed=1), 2, 0)  # trial 1, attempt 2 runs
    executor._relay([(1, 1, 3, {"accuracy": 0.5}), (1, 2, 3, {"accuracy": 0.9})],
                    lambda number, step, metrics: decided.append((number, step)) or False)
    assert decided == [(1, 3)]  # only the live run's report reaches the trial pruner
    assert answers == [(1, 1, 3, True), (1, 2, 3, False)]  # the dead run's report is told to stop


@pytest.mark.parametrize("name", EXECUTORS.names())
def test_registered_executors_pass_the_contract(name, request):
    if name == "ray":
        request.getfixturevalue("ray_session")
    context = ExecutorContext(workers=1, decisions=True, task=("digits-mlp", 0, None))
    check_executor(lambda: EXECUTORS.get(name).create(context))
