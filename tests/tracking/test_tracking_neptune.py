"""NeptuneTracker against the real neptune 1.x client: debug mode read-back, offline files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

pytest.importorskip("neptune")

from autoprune.errors import ConfigError  # noqa: E402
from autoprune.recipe import Recipe  # noqa: E402
from autoprune.tracking import NeptuneTracker, resolve_neptune_mode  # noqa: E402

NEPTUNE_ENV = ("NEPTUNE_MODE", "NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_DATA_DIRECTORY")

SPACE = {"sparsity": {"low": 0.1, "high": 0.9}, "criterion": ["magnitude_l1", "taylor"]}
ARGS = {"trials": 20, "executor": "local", "storage": None}
VERSIONS = {"torch": "2.13.0", "autoprune": "0.1.0"}
BASELINE = {"accuracy": 0.976, "params_total": 301_066, "flops": 5_000_000_000, "latency_ms": 0.85}
RECIPE = Recipe(criterion="taylor", granularity="channel", sparsity=0.5).to_dict()
COMPLETE = {
    "number": 2,
    "state": "complete",
    "reason": None,
    "recipe": RECIPE,
    "curve": [[1, 0.91], [2, 0.95], [3, 0.97]],
    "measures": {"accuracy": 0.97, "params_ratio": 0.28, "latency_ms": float("nan")},
    "seconds": 12.5,
    "worker": "node-a:123",
    "attempts": 1,
    "feasible": True,
}
PRUNED = {
    "number": 3,
    "state": "pruned",
    "reason": "dominated at step 1",
    "recipe": Recipe(sparsity=0.9).to_dict(),
    "curve": [[1, 0.40]],
    "measures": {},
    "seconds": 3.0,
    "worker": "node-b:7",
    "attempts": 2,
}
FRONT = [
    {"number": 2, "recipe_summary": "channel 0.50 taylor", "accuracy_drop": 0.006, "params_ratio": 0.28,
     "recipe": {"sparsity": 0.5}},
    {"number": 5, "recipe_summary": "unstructured 0.90 <l1>", "accuracy_drop": 0.012, "params_ratio": 0.1},
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in NEPTUNE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _session(tracker: NeptuneTracker, run_dir: Path, plot: Path) -> None:
    tracker.start(run_dir=run_dir, space=SPACE, args=ARGS, versions=VERSIONS)
    tracker.log_baseline(BASELINE)
    tracker.log_trial(COMPLETE)
    tracker.log_trial(PRUNED)
    tracker.log_front(FRONT[:1], hypervolume=0.25, n_trials=2)
    tracker.log_front(FRONT, hypervolume=0.5, n_trials=4)
    tracker.log_file("report/pareto_png", plot)


def test_debug_mode_reads_back_every_record(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    plot = tmp_path / "pareto.png"
    plot.write_bytes(b"\x89PNG fake bytes")
    tracker = NeptuneTracker(tmp_path / "run", mode="debug")
    _session(tracker, tmp_path / "run", plot)
    run = tracker.run

    assert run["config/space/sparsity/high"].fetch() == 0.9
    assert json.loads(run["config/space/criterion"].fetch()) == ["magnitude_l1", "taylor"]
    assert run["config/args"].fetch() == {"trials": 20, "executor": "local"}  # None left out
    assert run["versions"].fetch() == VERSIONS
    assert run["baseline/accuracy"].fetch() == 0.976
    assert run["baseline/params_total"].fetch() == 301_066
    assert run["baseline/flops"].fetch() == 5e9  # beyond int32: stored as a float, not skipped

    assert run["trials/2/state"].fetch() == "complete"
    assert run["trials/2/recipe/criterion"].fetch() == "taylor"
    assert run["trials/2/recipe/sparsity"].fetch() == 0.5
    assert run["trials/2/recipe/keep_layers"].fetch() == "[]"
    assert run["trials/2/measures/accuracy"].fetch() == 0.97
    assert run["trials/2/measures/latency_ms"].fetch() == "nan"
    assert list(run["trials/2/curve"].fetch_values()["value"]) == [0.91, 0.95, 0.97]
    assert run["trials/2/seconds"].fetch() == 12.5
    assert run["trials/2/worker"].fetch() == "node-a:123"
    assert run["trials/2/attempts"].fetch() == 1
    assert run["trials/2/feasible"].fetch() is True
    assert "reason" not in run.get_structure()["trials"]["2"]

    assert run["trials/3/state"].fetch() == "pruned"
    assert run["trials/3/reason"].fetch() == "dominated at step 1"
    assert run["trials/3/attempts"].fetch() == 2
    assert "measures" not in run.get_structure()["trials"]["3"]

    assert list(run["search/hypervolume"].fetch_values()["value"]) == [0.25, 0.5]
    assert run["search/n_trials"].fetch() == 4
    assert run["search/front_size"].fetch() == 2
    front = tmp_path / "front.html"
    run["search/pareto_front"].download(str(front))
    table = front.read_text()
    assert table.count("<tr>") == 3  # header + the two rows of the last update
    assert "<td>channel 0.50 taylor</td>" in table
    assert "&lt;l1&gt;" in table  # escaped
    assert "<td>{&quot;sparsity&quot;: 0.5}</td>" in table  # nested values as JSON
    copy = tmp_path / "copy.png"
    run["report/pareto_png"].download(str(copy))
    assert copy.read_bytes() == plot.read_bytes()

    tracker.finish()
    assert tracker.run is None
    assert "NEPTUNE_DATA_DIRECTORY" not in os.environ


def _operations(run_dir: Path) -> list[dict]:
    logs = sorted((run_dir / ".neptune" / "offline").glob("run__*/data-*.log"))
    assert logs, f"no offline operation log under {run_dir}"
    return [json.loads(line)["obj"] for path in logs for line in path.read_text().splitlines() if line.strip()]


def _find(ops: list[dict], path: str, kind: str | None = None) -> list[dict]:
    return [op for op in ops if "/".join(op["path"]) == path and (kind is None or op["type"] == kind)]


def test_offline_mode_writes_json_lines_under_the_run_dir(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    clean_env.chdir(cwd)
    run_dir = tmp_path / "run"
    plot = run_dir / "pareto.png"
    run_dir.mkdir()
    plot.write_bytes(b"png")
    tracker = NeptuneTracker(run_dir)  # nothing set: offline
    assert tracker.mode == "offline"
    _session(tracker, run_dir, plot)
    tracker.finish("interrupted")

    assert not (cwd / ".neptune").exists()
    assert "NEPTUNE_DATA_DIRECTORY" not in os.environ
    ops = _operations(run_dir)
    (crit,) = _find(ops, "trials/2/recipe/criterion")
    assert crit == {"type": "AssignString", "path": ["trials", "2", "recipe", "criterion"], "value": "taylor"}
    (curve,) = _find(ops, "trials/2/curve", "LogFloats")
    assert [(p["step"], p["value"]) for p in curve["values"]] == [(1, 0.91), (2, 0.95), (3, 0.97)]
    hv = [p for op in _find(ops, "search/hypervolume", "LogFloats") for p in op["values"]]
    assert [(p["step"], p["value"]) for p in hv] == [(2, 0.25), (4, 0.5)]
    assert _find(ops, "search/status")[-1]["value"] == "interrupted"
    uploads = _find(ops, "search/pareto_front", "UploadFile")
    assert len(uploads) == 2
    stored = next((run_dir / ".neptune" / "offline").glob(f"run__*/upload_path/{uploads[-1]['tmp_file_name']}"))
    assert "<td>unstructured 0.90 &lt;l1&gt;</td>" in stored.read_text()
    (png,) = _find(ops, "report/pareto_png", "UploadFile")
    assert png["file_path"] == str(plot.resolve())


def test_a_trial_logged_twice_does_not_repeat_curve_steps(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    tracker = NeptuneTracker(tmp_path, mode="debug")
    tracker.start(run_dir=tmp_path, space={}, args={}, versions={})
    tracker.log_trial({**COMPLETE, "curve": [[1, 0.9]]})
    tracker.log_trial({**COMPLETE, "curve": [[1, 0.9], [2, 0.95], [3, math.inf]]})
    assert list(tracker.run["trials/2/curve"].fetch_values()["value"]) == [0.9, 0.95]
    tracker.finish()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "offline"),
        ({"NEPTUNE_API_TOKEN": "t"}, "offline"),
        ({"NEPTUNE_PROJECT": "ws/p"}, "offline"),
        ({"NEPTUNE_API_TOKEN": "t", "NEPTUNE_PROJECT": "ws/p"}, "async"),
        ({"NEPTUNE_API_TOKEN": "", "NEPTUNE_PROJECT": "ws/p"}, "offline"),
        ({"NEPTUNE_MODE": "debug", "NEPTUNE_API_TOKEN": "t", "NEPTUNE_PROJECT": "ws/p"}, "debug"),
        ({"NEPTUNE_MODE": "sync"}, "sync"),
        ({"NEPTUNE_MODE": "offline"}, "offline"),
        ({"NEPTUNE_MODE": "read-only"}, "read-only"),
        ({"NEPTUNE_MODE": ""}, "offline"),
    ],
)
def test_mode_resolution(env: dict[str, str], expected: str) -> None:
    assert resolve_neptune_mode(env) == expected


@pytest.mark.parametrize("bad", ["online", "OFFLINE", "asyncx"])
def test_unknown_mode_is_a_one_line_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match=rf"^NEPTUNE_MODE must be one of async, sync, offline, debug, read-only, but got NEPTUNE_MODE='{bad}'\.$"):
        resolve_neptune_mode({"NEPTUNE_MODE": bad})


def test_tracker_resolves_its_mode_from_env_and_arguments(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert NeptuneTracker(tmp_path).mode == "offline"
    assert NeptuneTracker(tmp_path, project="ws/p", api_token="t").mode == "async"
    clean_env.setenv("NEPTUNE_API_TOKEN", "t")
    clean_env.setenv("NEPTUNE_PROJECT", "ws/p")
    assert NeptuneTracker(tmp_path).mode == "async"
    clean_env.setenv("NEPTUNE_MODE", "debug")
    assert NeptuneTracker(tmp_path).mode == "debug"


def test_server_mode_without_credentials_fails_before_the_search(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NEPTUNE_MODE", "async")
    clean_env.setenv("NEPTUNE_PROJECT", "ws/p")
    with pytest.raises(ConfigError, match=r"needs NEPTUNE_API_TOKEN and NEPTUNE_PROJECT, but NEPTUNE_API_TOKEN is not set"):
        NeptuneTracker(tmp_path)
    with pytest.raises(ConfigError, match=r"'read-only' cannot record a search"):
        NeptuneTracker(tmp_path, mode="read-only")
    with pytest.raises(ConfigError, match=r"but got mode='cloud'"):
        NeptuneTracker(tmp_path, mode="cloud")
