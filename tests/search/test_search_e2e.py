"""End-to-end searches through the real CLI and API on digits-mlp, tiny budgets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from autoprune.cli import main
from autoprune.errors import ConfigError
from autoprune.measure import LatencyMemo
from autoprune.measure import _latency as latency_module
from autoprune.search import RunOptions, open_run
from autoprune.search import run_search as search
from autoprune.search._pareto import normalize

pytestmark = pytest.mark.e2e  # real searches, the real CLI

QUIET = dict(progress=False, tracker="none")


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def test_twelve_trial_three_objective_search_has_a_valid_front(fast_space, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", str(fast_space), "--out", str(out), "--tracker", "none", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["pareto", str(out), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front["counts"]["complete"] == 12
    assert len(front["front"]) >= 3
    result = open_run(out)
    objectives = list(result.space.objectives)
    base = result.baseline

    def point(r):
        b = dict(base, latency_ms=r.measures["baseline_latency_ms"])
        return np.array(normalize(r.measures, b, objectives))

    complete = [r for r in result.trials if r.state == "complete"]
    for member in result.pareto_front:
        assert member.feasible and member.measures["accuracy_drop"] <= 0.05
        for other in complete:
            assert not (other.feasible and _dominates(point(other), point(member)))
    # every run-directory record is there and consistent with the study
    for name in ("trials.csv", "pareto.json", "space.yaml", "baseline.json", "report/index.html", "report/pareto.png"):
        assert (out / name).exists(), name
    kept = sorted(int(p.stem.split("_")[1]) for p in (out / "models").glob("trial_*.pt"))
    assert kept == sorted(r.number for r in result.pareto_front)


def test_same_seed_gives_same_recipes(fast_space, tmp_path):
    a = search(fast_space, trials=3, options=RunOptions(out=tmp_path / "a", **QUIET))
    b = search(fast_space, trials=3, options=RunOptions(out=tmp_path / "b", **QUIET))
    assert [r.recipe for r in a.trials] == [r.recipe for r in b.trials]
    c = search(fast_space, trials=3, seed=1, options=RunOptions(out=tmp_path / "c", **QUIET))
    assert [r.recipe for r in c.trials] != [r.recipe for r in a.trials]


def test_a_shared_latency_memo_times_identical_models_once(fast_space, tmp_path):
    memo = LatencyMemo()
    a = search(fast_space, trials=3, options=RunOptions(out=tmp_path / "a", latency_memo=memo, **QUIET))
    measured = len(memo)
    b = search(fast_space, trials=3, options=RunOptions(out=tmp_path / "b", latency_memo=memo, **QUIET))
    assert 1 <= measured <= 3 and len(memo) == measured  # the second search timed nothing new
    assert [r.measures["latency_ms"] for r in a.trials] == [r.measures["latency_ms"] for r in b.trials]


def test_a_resumed_search_reuses_the_latencies_measured_before(make_space, tmp_path, monkeypatch):
    space = make_space(**{"choices: [unstructured, channel]": "choices: [unstructured]"})  # one architecture
    run = tmp_path / "run"
    search(space, trials=2, options=RunOptions(out=run, **QUIET))

    def timed_again(*args, **kwargs):
        raise AssertionError("the dense architecture was measured before the resume")

    monkeypatch.setattr(latency_module, "measure_latency_pair", timed_again)
    result = search(space, trials=4, options=RunOptions(out=run, resume=True, **QUIET))
    complete = [r for r in result.trials if r.state == "complete"]
    assert len(complete) == 4
    assert len({r.measures["latency_ms"] for r in complete}) == 1


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(executor="local", workers=2), r"workers=2 needs executor=ray"),
        (dict(executor="ray", latency_memo=LatencyMemo()),
         r"latency_memo needs executor=local \(Ray workers each keep their own\), but got executor='ray'"),
    ],
)
def test_run_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        RunOptions(**options)


def test_pareto_trial_pruner_stops_trials_that_never_enter_the_front(make_space, tmp_path):
    space = make_space(**{
            "trial_pruner: none": "trial_pruner: {name: pareto, percentile: 90, n_startup_trials: 2, n_warmup_steps: 0, n_min_peers: 1}",
            "finetune_epochs: {low: 1, high: 2, type: int}": "finetune_epochs: {low: 3, high: 4, type: int}",
            "finetune_lr: {low: 1.0e-3, high: 5.0e-3, log: true}": "finetune_lr: {low: 1.0e-5, high: 5.0e-3, log: true}",
            "budget: {trials: 12}": "budget: {trials: 10}",
        },
    )
    result = search(space, options=RunOptions(out=tmp_path / "run", **QUIET))
    pruned = [r for r in result.trials if r.state == "pruned"]
    assert pruned, [r.curve for r in result.trials]
    front = {r.number for r in result.pareto_front}
    for r in pruned:
        assert r.number not in front
        assert r.curve[-1][0] == r.measures["finetune_epochs_run"] < r.recipe["finetune_epochs"]
        assert "stopped by the pareto trial pruner" in r.reason
    assert len([r for r in result.trials if r.state in ("complete", "pruned")]) == 10


def test_hypervolume_rule_stops_trials_before_they_fine_tune(make_space, tmp_path):
    # the peer rule is off (too few peers): every stop here is the hypervolume rule's
    space = make_space(**{
        "trial_pruner: none": "trial_pruner: {name: pareto, n_startup_trials: 2, n_warmup_steps: 0, "
                              "n_min_peers: 1000, min_hypervolume_gain: 0.05, n_neighbors: 2}",
        "budget: {trials: 12}": "budget: {trials: 8}",
    })
    result = search(space, options=RunOptions(out=tmp_path / "run", **QUIET))
    pruned = [r for r in result.trials if r.state == "pruned"]
    assert any(r.measures["finetune_epochs_run"] == 0 and r.curve[-1][0] == 0 for r in pruned), \
        [(r.state, r.curve) for r in result.trials]
    assert all("stopped by the pareto trial pruner" in r.reason for r in pruned)
    # the record says why: the rule's expected final accuracy and what it would have added
    assert any("at step 0: expected final" in r.reason and "to the front's hypervolume" in r.reason for r in pruned)
    assert not {r.number for r in pruned} & {r.number for r in result.pareto_front}
    assert len([r for r in result.trials if r.state in ("complete", "pruned")]) == 8


@pytest.mark.parametrize("fmt", ["state_dict", "torch_export", "onnx"])
def test_export_of_a_front_member_reloads_and_matches(make_space, fmt, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime") if fmt == "onnx" else None
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 2}"})
    run = tmp_path / "run"
    result = search(space, options=RunOptions(out=run, **QUIET))
    member = result.pareto_front[0]
    target = tmp_path / f"model.{fmt}"
    # files are written beside the output only: a system temp dir on another filesystem
    # would make the final move fail (EXDEV)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    assert main(["export", str(run), "--trial", str(member.number), "--format", fmt, "--output", str(target)]) == 0
    task = result.task()
    model = result.load_model(member.number)
    x = task.example_input(5)
    expected = model(x)
    if fmt == "state_dict":
        from autoprune.serialize import load_pruned

        got = load_pruned(target, task)[0](x)
    elif fmt == "torch_export":
        got = torch.export.load(target).module()(x)
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_export_of_a_trial_without_model_is_a_clear_error(make_space, tmp_path, capsys):
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 1}"})
    run = tmp_path / "run"
    search(space, options=RunOptions(out=run, **QUIET))
    assert main(["export", str(run), "--trial", "7", "--format", "onnx", "--output", str(tmp_path / "x")]) == 2
    assert "trial=7 is not in study" in capsys.readouterr().err


def _run_cli(args: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, **(env_extra or {}))
    # a shell's background job ignores SIGINT, and Python keeps an ignored SIGINT: restore
    # the default so that the child turns Ctrl-C into KeyboardInterrupt wherever pytest runs
    return subprocess.Popen([sys.executable, "-m", "autoprune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _completed(run: Path) -> list[int]:
    con = sqlite3.connect(run / "study.db")
    try:
        rows = con.execute("select number from trials where state = 'COMPLETE' order by number").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _running_with_recipe(run: Path) -> list[int]:
    con = sqlite3.connect(run / "study.db")
    try:
        rows = con.execute(
            "select t.number from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
            "where t.state = 'RUNNING' and a.key = 'recipe'"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _wait_for_completed(run: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> int:
    """Wait until ``n`` trials are complete and another one is running; return its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run / "study.db").exists():
            try:
                running = _running_with_recipe(run)
                if len(_completed(run)) >= n and running:
                    return running[0]
            except sqlite3.OperationalError:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("search made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_search_resumes_to_exactly_the_budget(make_space, sig, tmp_path):
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 5}",
                                     "finetune_epochs: {low: 1, high: 2, type: int}": "finetune_epochs: {low: 2, high: 3, type: int}"})
    run = tmp_path / "run"
    args = ["search", str(space), "--out", str(run), "--tracker", "none"]
    proc = _run_cli(args)
    in_flight = _wait_for_completed(run, 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in err, err
    before = _completed(run)
    assert 2 <= len(before) < 5
    # without --resume an existing study is never touched
    proc = _run_cli(args)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--resume" in err
    assert _completed(run) == before
    proc = _run_cli(args + ["--resume"])
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    result = open_run(run)
    done = [r for r in result.trials if r.state == "complete"]
    assert len(done) == 5
    assert {r.number for r in done} >= set(before)  # nothing completed was lost
    assert not [r for r in result.trials if r.state == "running"]
    # the trial in flight at the signal either finished just before it, or was stopped
    # as interrupted and run again with the same recipe (once)
    stopped = result.trial(in_flight)
    if stopped.state != "complete":
        assert stopped.state == "failed" and "interrupted" in stopped.reason
        reruns = [r for r in result.trials if r.recipe == stopped.recipe and r.number != in_flight]
        assert len(reruns) == 1 and reruns[0].state == "complete"


def test_resume_with_a_changed_space_is_refused(make_space, fast_space, tmp_path, capsys):
    run = tmp_path / "run"
    search(fast_space, trials=1, options=RunOptions(out=run, **QUIET))
    changed = make_space("fast", **{"high: 0.9": "high: 0.8"})
    assert main(["search", str(changed), "--out", str(run), "--resume", "--tracker", "none"]) == 2
    err = capsys.readouterr().err
    assert "search space changed" in err
    assert len(_completed(run)) == 1


def test_unreachable_storage_fails_before_any_trial(fast_space, tmp_path, capsys):
    url = "postgresql+psycopg2://user:secret@127.0.0.1:1/none"
    assert main(["search", str(fast_space), "--out", str(tmp_path / "r"), "--storage", url, "--tracker", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot be reached" in err and "secret" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"objectives: {accuracy: max,": "objectives: {acc: max,"}, r"objectives\.acc: 'acc' is not a measure"),
        ({"budget: {trials: 12}": "budget: {trials: 12}\ncolour: red"}, r"colour"),
        ({"low: 0.3, high: 0.9": "low: 0.9, high: 0.3"}, r"params\.sparsity"),
        ({"trial_pruner: none": "trial_pruner: median"}, r"median"),
        ({"sampler: tpe": "sampler: cmaes"}, r"sampler"),
        ({"budget: {trials: 12}": "budget: {trials: [12"}, r"fast\.yaml"),
    ],
)
def test_bad_space_is_one_line_exit_2(make_space, tmp_path, capsys, edit, message):
    import re

    space = make_space(**edit)
    assert main(["search", str(space), "--out", str(tmp_path / "r"), "--tracker", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "r" / "study.db").exists()


FAILING_TASK = '''
import math
from autoprune.tasks._digits import DigitsMLP

class Flaky(DigitsMLP):
    name = "flaky-digits"
    def evaluate(self, model):
        # channel-pruned models (narrower first layer) report NaN: that trial must FAIL
        if model[0].out_features < 512:
            return math.nan
        return super().evaluate(model)

task = Flaky()
'''


def test_a_trial_whose_task_returns_nan_fails_and_the_search_goes_on(make_space, tmp_path):
    (tmp_path / "flaky.py").write_text(FAILING_TASK)
    space = make_space(**{
        "task: digits-mlp": f"task: {tmp_path / 'flaky.py'}:task",
        "budget: {trials: 12}": "budget: {trials: 3}\nwarm_start: [{granularity: channel, sparsity: 0.5, finetune_lr: 0.002}]",
        "granularity: {choices: [unstructured, channel]}": "granularity: {choices: [unstructured, channel]}",
    })
    result = search(space, options=RunOptions(out=tmp_path / "run", **QUIET))
    failed = [r for r in result.trials if r.state == "failed"]
    assert failed and "metric is nan" in failed[0].reason
    assert len([r for r in result.trials if r.state == "complete"]) == 3


@pytest.mark.parametrize("sampler", ["cfo", "blendsearch"])
def test_flaml_backend_runs_a_search(make_space, sampler, tmp_path):
    pytest.importorskip("flaml")
    objectives = "objectives: {accuracy: max, latency_ms: min, size_bytes: min}"
    # FLAML's lexicographic objectives need CFO; BlendSearch searches one objective
    space = make_space(**{"sampler: tpe": f"sampler: {sampler}", "backend: optuna": "backend: flaml",
                          "budget: {trials: 12}": "budget: {trials: 3}",
                          **({} if sampler == "cfo" else {objectives: "objectives: {accuracy: max}"})})
    result = search(space, options=RunOptions(out=tmp_path / "run", **QUIET))
    done = [r for r in result.trials if r.state == "complete"]
    assert len(done) == 3 and len({json.dumps(r.recipe, sort_keys=True) for r in done}) > 1
    assert result.pareto_front


def test_a_failing_tracker_never_stops_the_search(make_space, tmp_path, monkeypatch):
    from autoprune.tracking import NeptuneTracker, TrackerWarning

    calls = []

    def broken(self, record):
        calls.append(record["number"])
        raise ConnectionError("neptune unreachable")

    monkeypatch.setattr(NeptuneTracker, "log_trial", broken)
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 3}"})
    with pytest.warns(TrackerWarning, match="neptune unreachable") as seen:
        result = search(space, options=RunOptions(out=tmp_path / "run", tracker="neptune", progress=False))
    assert calls == [0, 1, 2]
    assert len([w for w in seen if issubclass(w.category, TrackerWarning)]) == 1  # one warning per hook
    assert len([r for r in result.trials if r.state == "complete"]) == 3
    rows = (tmp_path / "run" / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 4 and json.loads((tmp_path / "run" / "pareto.json").read_text())["front"]


def test_an_error_in_the_controller_leaves_a_resumable_study(make_space, tmp_path, monkeypatch):
    from autoprune.search import _loop

    save = _loop.save_trial_model
    calls = []

    def disk_full(run_dir, number, result, task_name):
        calls.append(number)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        save(run_dir, number, result, task_name)

    monkeypatch.setattr(_loop, "save_trial_model", disk_full)
    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 3}"})
    with pytest.raises(OSError, match="No space left"):
        search(space, options=RunOptions(out=tmp_path / "run", **QUIET))
    stopped = open_run(tmp_path / "run")
    assert [r.state for r in stopped.trials] == ["complete", "failed"]
    assert "interrupted" in stopped.trials[1].reason and "OSError" in stopped.trials[1].reason
    monkeypatch.setattr(_loop, "save_trial_model", save)
    result = search(space, options=RunOptions(out=tmp_path / "run", resume=True, **QUIET))
    done = [r for r in result.trials if r.state == "complete"]
    assert len(done) == 3 and done[0].number == 0
    # the interrupted trial ran again first, with its recipe
    assert result.trials[2].recipe == stopped.trials[1].recipe and result.trials[2].state == "complete"


class _StopAtFirstReport:
    """A user's trial pruner: stops every trial at its first report."""

    name = "first-report"

    def decide(self, trial, history):
        from autoprune.search.trial_pruners import Decision

        return Decision.halt("first_report", "told to")

    def study_pruner(self):
        return None


def test_run_search_takes_objects_for_the_tracker_trial_pruner_executor_and_callbacks(make_space, tmp_path):
    import autoprune
    from autoprune.search import LocalExecutor, SearchCallback, TrialPruner

    class Pruner(_StopAtFirstReport, TrialPruner):
        pass

    class Log(SearchCallback):
        def __init__(self):
            self.events = []

        def on_search_started(self, e):
            self.events.append("started")

        def on_baseline_ready(self, e):
            self.events.append("baseline")

        def on_trial_started(self, e):
            self.events.append(f"trial {e.number}")

        def on_trial_decided(self, e):
            self.events.append(f"decided {e.number} {e.stop}")

        def on_trial_finished(self, e):
            self.events.append(f"finished {e.number} {e.record.state}")

        def on_search_finished(self, e):
            self.events.append(f"search {e.status}")

    class Trials(autoprune.Tracker):
        def __init__(self):
            self.states = []

        def log_trial(self, record):
            self.states.append(record["state"])

    space = make_space(**{"budget: {trials: 12}": "budget: {trials: 2}"})
    log, tracker, executor = Log(), Trials(), LocalExecutor()
    result = autoprune.run_search(space, options=RunOptions(out=tmp_path / "run", progress=False),
                                  tracker=tracker, trial_pruner=Pruner(), executor=executor, callbacks=[log])
    assert [r.state for r in result.trials] == ["pruned", "pruned"] and tracker.states == ["pruned", "pruned"]
    assert all(r.reason.startswith("stopped by the first-report trial pruner at step ") and r.reason.endswith(": told to")
               for r in result.trials)
    assert log.events == ["started", "baseline", "trial 0", "decided 0 True", "finished 0 pruned",
                          "trial 1", "decided 1 True", "finished 1 pruned", "search complete"]


def test_the_old_search_spelling_warns_and_the_subpackage_is_reachable(tmp_path):
    import autoprune
    import autoprune.search
    from autoprune.search import SearchSpace

    assert autoprune.search.SearchSpace is SearchSpace and callable(autoprune.run_search)
    with pytest.warns(FutureWarning, match=r"autoprune.search\(\.\.\.\) is deprecated; call autoprune.run_search"):
        with pytest.raises(ConfigError, match="no such search space"):
            autoprune.search(str(tmp_path / "missing.yaml"))


def test_a_run_directory_written_before_the_split_opens(tmp_path):
    """pareto / report / export on a run directory autoprune 0.1.0 wrote (tests/data)."""
    import shutil

    run = tmp_path / "old"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "run-0.1.0", run)
    # that version recorded the study's absolute path; point it at the copy
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "storage": f"sqlite:///{run / 'study.db'}"}))
    result = open_run(run)
    stored = json.loads((run / "pareto.json").read_text())
    def rows(front):  # model paths name the directory the run was written in
        return [{k: v for k, v in row.items() if k != "model_path"} for row in front]

    assert rows(result.to_dict()["front"]) == rows(stored["front"])
    assert result.hypervolume == pytest.approx(stored["hypervolume"])
    assert main(["report", str(run)]) == 0 and (run / "report" / "index.html").exists()
    number = result.knee.number
    assert main(["export", str(run), "--trial", str(number), "--output", str(tmp_path / "m.pt")]) == 0


@pytest.mark.parametrize(
    "options, want",
    [
        (dict(), ("ray", 2, 1.0)),  # the space's section is the source
        (dict(workers=1, executor="local"), ("local", 1, 1.0)),
        (dict(cpus_per_trial=2.0), ("ray", 2, 2.0)),  # an option overrides one field only
    ],
)
def test_run_options_override_the_spaces_executor_section(make_space, options, want):
    from autoprune.search import load_space

    space = load_space(make_space(**{"backend: optuna": "backend: optuna\nexecutor: {name: ray, workers: 2}"}))
    config = RunOptions(**options).executor_config(space)
    assert (config.name, config.workers, config.cpus_per_trial) == want
