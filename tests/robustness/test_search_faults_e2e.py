"""Faults during real searches (digits-mlp, one fine-tune epoch a trial): kills, resumes,
two writers, an unreachable tracker server."""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autoprune.search import open_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

SPACE = """\
task: digits-mlp
seed: 0
objectives: {accuracy: max, size_bytes: min}
budget: {trials: 8}
backend: optuna
sampler: SAMPLER
trial_pruner: none
latency: {threads: 1, warmup: 1, repeats: 3}
fixed: {schedule: one_shot, finetune_epochs: 1}
params:
  granularity: {choices: [unstructured, channel]}
  sparsity: {low: 0.3, high: 0.9}
"""


def _space(tmp_path: Path, sampler: str = "random", epochs: int = 1) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE.replace("SAMPLER", sampler).replace("finetune_epochs: 1", f"finetune_epochs: {epochs}"))
    return path


def _cli(args: list[str], env: dict | None = None) -> subprocess.Popen:
    words = [sys.executable, "-m", "autoprune", *args]
    return subprocess.Popen(words, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _complete(run: Path) -> int:
    try:
        con = sqlite3.connect(run / "study.db")
        try:
            return con.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _wait(run: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _complete(run) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_resume_after_sigkill_proposes_new_recipes(tmp_path, sampler):
    run = tmp_path / "run"
    proc = _cli(["search", str(_space(tmp_path, sampler)), "--out", str(run), "--tracker", "none", "--quiet"])
    _wait(run, 4, proc)
    proc.kill()
    proc.communicate()
    resumed = _cli(["search", "--out", str(run), "--resume", "--tracker", "none", "--quiet"])
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    done = [r for r in open_run(run).trials if r.state == "complete"]
    assert len(done) == 8
    assert len({json.dumps(r.recipe, sort_keys=True) for r in done}) == 8


def test_a_second_search_on_a_live_run_exits_2_and_the_first_completes(tmp_path):
    run = tmp_path / "run"
    # long trials, so that the first search is still running when the others start
    args = ["search", str(_space(tmp_path, epochs=150)), "--out", str(run), "--tracker", "none", "--quiet",
            "--trials", "2"]
    first = _cli(args)
    _wait(run, 1, first)
    others = [_cli(args + extra) for extra in ([], ["--resume"])]
    for other in others:
        _, err = other.communicate(timeout=120)
        assert other.returncode == 2, err
        assert err.strip() == (f"autoprune: error: run directory {str(run)!r} is being run by process {first.pid}; "
                               f"wait for it to finish or pass --out DIR for a new run.")
    assert first.poll() is None  # the check above raced nothing: the first was still running
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    result = open_run(run)
    assert [r.state for r in result.trials] == ["complete"] * 2


@pytest.mark.parametrize("sig, after", [(signal.SIGINT, 1), (signal.SIGINT, 3), (signal.SIGKILL, 2)],
                         ids=["SIGINT-after-1", "SIGINT-after-3", "SIGKILL-after-2"])
def test_the_printed_hint_finishes_the_same_search(tmp_path, sig, after):
    run = tmp_path / "run"
    args = ["search", str(_space(tmp_path)), "--out", str(run), "--tracker", "none", "--quiet",
            "--seed", "1", "--trials", "5", "--task", "digits-mlp"]
    proc = _cli(args)
    _wait(run, after, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        hint = err.strip().splitlines()[-1].split("Continue with: ", 1)[1]
        assert hint == f"autoprune search --out {run} --resume"
    else:
        hint = f"autoprune search --out {run} --resume"  # what the README says after a kill
    words = shlex.split(hint)
    assert words[0] == "autoprune"
    resumed = _cli(words[1:])
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    result = open_run(run)
    assert sum(r.state == "complete" for r in result.trials) == 5
    assert (result.space.seed, result.space.task, result.space.budget.trials) == (1, "digits-mlp", 5)
    meta = json.loads((run / "run.json").read_text())
    assert (meta["seed"], meta["trials"], meta["task"], meta["storage"]) == (1, 5, "digits-mlp", "study.db")


def test_an_unreachable_tracker_server_does_not_slow_the_search(tmp_path):
    space = _space(tmp_path)
    token = base64.b64encode(json.dumps({"api_address": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9",
                                         "api_key": "x"}).encode()).decode()
    timings = {}
    cache = {"AUTOPRUNE_CACHE_DIR": str(tmp_path / "cache")}  # both timed runs find the baseline cached
    for name, tracker, env in (("warm-up", "none", cache), ("none", "none", cache),
                               ("neptune", "neptune", {"NEPTUNE_MODE": "async", "NEPTUNE_API_TOKEN": token,
                                                       "NEPTUNE_PROJECT": "ws/proj", **cache})):
        began = time.monotonic()
        proc = _cli(["search", str(space), "--out", str(tmp_path / name), "--tracker", tracker, "--quiet",
                     "--trials", "2"], env)
        _, err = proc.communicate(timeout=300)
        timings[name] = time.monotonic() - began
        assert proc.returncode == 0, err
    print(timings)
    # one warning (through logging and warnings): the run could not be created in time
    assert ("did not return within" in err or "NeptuneConnectionLost" in err) and err.count("NeptuneTracker.") == 2, err
    # the bound (3 s of retries, 5 s at most a call) and importing the client are all it costs
    assert timings["neptune"] - timings["none"] < 10, timings


def test_the_local_ray_instance_listens_on_loopback_only(tmp_path):
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("ray")
    proc = _cli(["search", str(_space(tmp_path, epochs=30)), "--out", str(tmp_path / "run"), "--tracker", "none",
                 "--quiet", "--executor", "ray", "--workers", "2", "--trials", "2"])
    seen: set[str] = set()
    while proc.poll() is None:
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
            pids = {p.pid for p in family} | {proc.pid}
        except psutil.Error:
            continue
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.pid in pids:  # Ray's gcs_server and raylet are the driver's children
                seen.add(conn.laddr.ip)
        time.sleep(0.5)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert seen, "no Ray process was seen listening"
    assert seen <= {"127.0.0.1", "::ffff:127.0.0.1"}, seen

