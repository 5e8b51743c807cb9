"""Faults that need no search: locks held by others, leftover temporary files, a tracker
that never answers, a closed stdout, a crafted run directory read as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from autoprune._io import atomic_path, remove_leftover_temps
from autoprune.cli import main
from autoprune.errors import ConfigError, TrialFailedError
from autoprune.search import open_run
from autoprune.search._lock import RunLock, RunLockedError
from autoprune.tracking import SafeTracker, Tracker
from autoprune.trial import node_latency_lock

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_directory_has_one_writer(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunLockedError, match=rf"'{tmp_path / 'run'}' is being run by process {os.getpid()}"):
            RunLock(tmp_path / "run").acquire()
    with RunLock(tmp_path / "run"):  # released: free again
        pass


def test_the_run_lock_dies_with_its_process(tmp_path):
    code = "import sys, time; from autoprune.search._lock import RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"process {proc.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    with RunLock(tmp_path):
        pass


def test_latency_lock_refuses_a_directory_others_can_write(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    shared = tmp_path / f"autoprune-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(TrialFailedError, match=r"is not a directory only this user can write .*mode 777"):
        with node_latency_lock():
            pass
    shared.rmdir()
    (tmp_path / f"autoprune-{os.getuid()}").write_text("a file where the directory should be")
    with pytest.raises(TrialFailedError, match=r"cannot be created|not a directory"):
        with node_latency_lock():
            pass


def test_a_held_latency_lock_times_out_naming_its_holder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with node_latency_lock():
        code = ("import tempfile, sys; tempfile.tempdir = sys.argv[1]; from autoprune.trial import node_latency_lock\n"
                "try:\n    node_latency_lock(timeout=0.3).__enter__()\nexcept Exception as e:\n    print(e)")
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                             timeout=60).stdout
    assert f"is held by process {os.getpid()} for more than 0.3 s" in out
    assert (tmp_path / f"autoprune-{os.getuid()}").stat().st_mode & 0o777 == 0o700


def test_leftover_temporary_files_are_removed(tmp_path):
    leftovers = [".pareto.json.ab12cd34.tmp.json", ".trial_3.pt.x_9y8z7w.tmp.pt", ".run.json.abcdefgh.tmp.json"]
    kept = [".autoprune.lock", "notes.tmp", "keep.json", ".hidden.tmp"]
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / ".neptune").mkdir()
    with atomic_path(tmp_path / "x.pt") as tmp:  # the name atomic_path really uses is one of them
        tmp.write_text("y")
        os.link(tmp, tmp_path / "leftover-copy")
    os.rename(tmp_path / "leftover-copy", tmp_path / tmp.name)
    removed = sorted(p.name for p in remove_leftover_temps(tmp_path))
    assert removed == sorted(leftovers + [tmp.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [".neptune", "x.pt"])


class _Hangs(Tracker):
    def __init__(self) -> None:
        self.calls = []

    def start(self, **kwargs) -> None:
        self.calls.append("start")
        time.sleep(30)

    def log_trial(self, record) -> None:
        self.calls.append("log_trial")


def test_a_tracker_that_never_answers_is_turned_off_within_its_bound():
    inner = _Hangs()
    tracker = SafeTracker(inner, timeout_seconds=0.3)
    began = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.start(run_dir=Path("."), space={}, args={}, versions={})
        tracker.log_trial({"number": 0})
        tracker.finish()
    assert time.perf_counter() - began < 2
    assert tracker.disabled and inner.calls == ["start"]
    assert len(caught) == 1 and "did not return within 0.3 s" in str(caught[0].message)


def test_a_closed_stdout_is_silent():
    proc = subprocess.run(f"{sys.executable} -m autoprune pareto tests/data/run-0.1.0 | head -1", shell=True,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("study default:")
    assert proc.stderr == ""


def test_a_crafted_run_directory_runs_no_code_and_writes_nothing_outside(world, snapshot, capsys):
    outside = snapshot(world / "outside")
    assert main(["pareto", "payload", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "payload.py:task"
    assert not (world / "payload" / "PWNED").exists()
    # the study names a file task: export says so instead of importing it
    assert main(["export", "payload", "--trial", "0", "--output", "m.pt"]) == 2
    assert "--task payload.py:task" in capsys.readouterr().err
    assert not (world / "payload" / "PWNED").exists() and not (world / "m.pt").exists()
    # a run.json naming a study elsewhere opens the run's own study.db, never the other one
    meta = json.loads((world / "run" / "run.json").read_text())
    meta["storage"] = f"sqlite:///{world / 'outside' / 'study.db'}"
    (world / "run" / "run.json").write_text(json.dumps(meta))
    assert open_run(world / "run").storage == f"sqlite:///{(world / 'run' / 'study.db').resolve()}"
    assert snapshot(world / "outside") == outside


def test_an_old_run_directory_opens_where_it_is_now(world):
    result = open_run(world / "run")  # its run.json names /tmp/oldrun/study.db
    assert result.storage.endswith(str(world / "run" / "study.db"))
    assert result.to_dict()["storage"] == "study.db"  # pareto.json stays true when the directory moves
    assert result.task().name == "digits-mlp"  # a registered task needs no --task
    assert result.trials


def test_a_user_storage_wins_over_the_run_directory(world):
    url = f"sqlite:///{world / 'outside' / 'study.db'}"
    assert open_run(world / "payload", storage=url).storage == url
    with pytest.raises(ConfigError, match="not a registered task"):
        open_run(world / "payload").task()
    assert open_run(world / "payload", task="digits-mlp").task().name == "digits-mlp"


@pytest.mark.e2e  # trains the digits baseline
def test_a_baseline_cache_holding_a_list_is_retrained(tmp_path):
    import torch

    from autoprune.baseline import get_baseline
    from autoprune.tasks import get_task

    task = get_task("digits-mlp")
    torch.save([1, 2, 3], tmp_path / "digits-mlp-seed0.pt")
    baseline = get_baseline(task, 0, cache=tmp_path)
    assert baseline.accuracy > 0.9
    assert isinstance(torch.load(tmp_path / "digits-mlp-seed0.pt", weights_only=True), dict)


def test_more_gpus_per_trial_than_the_machine_has_is_refused(monkeypatch):
    from autoprune.search._checks import check_executor
    from autoprune.search._space import ExecutorConfig

    monkeypatch.setattr("autoprune.search._checks._local_gpus", lambda: 1)
    check_executor(ExecutorConfig(name="local", gpus_per_trial=1.0))
    with pytest.raises(ConfigError, match=r"gpus_per_trial=2 but this machine has 1 GPU\(s\); allowed: at most 1"):
        check_executor(ExecutorConfig(name="local", gpus_per_trial=2.0))


def test_the_resume_hint_names_everything_the_search_needs_and_no_password():
    from autoprune.cli import build_parser
    from autoprune.search._cli import _resume_command
    from autoprune.search._space import parse_space

    space = parse_space({"name": "s", "objectives": {"accuracy": "max"}, "params": {"sparsity": {"low": 0.5, "high": 0.9}}})
    args = build_parser().parse_args(["search", "x.yaml", "--seed", "3", "--trials", "9"])
    assert _resume_command(args, space) == "autoprune search --out autoprune-runs/s --resume"
    args = build_parser().parse_args(["--plugin", "my plugin.py", "search", "--out", "r", "--data-dir", "d",
                                      "--storage", "postgresql://u:pw@h/db"])
    assert _resume_command(args, space) == (
        "autoprune --plugin 'my plugin.py' search --out r --storage 'postgresql://u:***@h/db' --data-dir d --resume"
        " (with the storage password in place of ***)")


def test_report_of_a_crafted_run_directory_writes_only_inside_it(world, snapshot, capsys):
    before = {k: v for k, v in snapshot(world).items() if not k.startswith("payload")}
    assert main(["report", "payload"]) == 0
    assert (world / "payload" / "report" / "index.html").is_file()
    assert not (world / "payload" / "PWNED").exists()
    assert {k: v for k, v in snapshot(world).items() if not k.startswith("payload")} == before
