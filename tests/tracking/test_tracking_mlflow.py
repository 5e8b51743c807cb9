"""The MLflow tracker, read back through MlflowClient: a parent run per search, a nested
child run per trial, resume continuing the parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402

from autoprune.recipe import Recipe  # noqa: E402
from autoprune.tracking import MlflowTracker, SafeTracker, Trackers, make_tracker, resolve_tracker  # noqa: E402

SPACE = {"name": "demo", "task": "digits-mlp", "budget": {"trials": 3}}
RECIPE = Recipe(granularity="channel", sparsity=0.5, finetune_epochs=2).to_dict()


@pytest.fixture(autouse=True)
def _no_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)


def _search(tracker: MlflowTracker, run_dir: Path, *, resume: bool = False, first: int = 0) -> None:
    tracker.start(run_dir=run_dir, space=SPACE, args={"out": str(run_dir), "resume": resume},
                  versions={"torch": "2.13.0"})
    tracker.log_baseline({"accuracy": 0.976, "size_bytes": 1_206_312, "latency_ms": 0.85})
    for number, state in ((first, "complete"), (first + 1, "pruned")):
        tracker.log_trial({
            "number": number, "state": state, "reason": None if state == "complete" else "stopped at step 1",
            "recipe": RECIPE, "curve": [[0, 0.5], [1, 0.9], [2, 0.95]][: 3 if state == "complete" else 2],
            "measures": {"accuracy": 0.95, "size_bytes": 300_000, "latency_ms": None} if state == "complete" else {},
            "seconds": 2.5, "worker": "host:1", "attempts": 1, "feasible": True if state == "complete" else None,
        })
        tracker.log_front([{"number": first, "accuracy": 0.95, "recipe": RECIPE}], 0.4 + first, number + 1)


def _children(client: MlflowClient, parent) -> dict[str, object]:
    runs = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return {r.info.run_name: r for r in runs}


def test_a_search_is_a_parent_run_with_one_nested_child_run_per_trial(tmp_path: Path) -> None:
    tracker = MlflowTracker(tmp_path)
    assert tracker.tracking_uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    _search(tracker, tmp_path)
    model = tmp_path / "models" / "trial_0.pt"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    tracker.log_file("models/trial_0", model)
    parent_id = tracker.parent_id
    tracker.finish("complete")

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.info.run_name == "demo"
    assert client.get_experiment(parent.info.experiment_id).name == "autoprune/demo"
    assert parent.data.params["space.budget.trials"] == "3" and parent.data.params["args.resume"] == "False"
    assert parent.data.params["versions.torch"] == "2.13.0"
    assert parent.data.metrics["baseline.accuracy"] == pytest.approx(0.976)
    assert [(m.step, m.value) for m in client.get_metric_history(parent_id, "hypervolume")] == [(1, 0.4), (2, 0.4)]
    artifacts = {a.path for a in client.list_artifacts(parent_id)} | {a.path for a in client.list_artifacts(parent_id, "models")}
    assert {"pareto_front.json", "pareto_front.html", "models/trial_0.pt"} <= artifacts
    assert parent.info.artifact_uri.startswith((tmp_path / "mlartifacts").resolve().as_uri())
    table = json.loads(Path(client.download_artifacts(parent_id, "pareto_front.json", str(tmp_path))).read_text())
    assert table["columns"] == ["number", "accuracy", "recipe"] and table["data"][0][:2] == [0, 0.95]

    children = _children(client, parent)
    assert sorted(children) == ["trial-0", "trial-1"]
    done, stopped = children["trial-0"], children["trial-1"]
    assert done.info.status == "FINISHED" and stopped.info.status == "KILLED"
    assert done.data.params["granularity"] == "channel" and done.data.params["sparsity"] == "0.5"
    assert done.data.metrics["accuracy"] == pytest.approx(0.95) and "latency_ms" not in done.data.metrics
    assert done.data.tags["state"] == "complete" and done.data.tags["worker"] == "host:1"
    assert done.data.tags["feasible"] == "true" and done.data.tags["mlflow.note.content"].startswith("channel 0.50")
    assert stopped.data.tags["state"] == "pruned" and stopped.data.tags["reason"] == "stopped at step 1"
    curve = client.get_metric_history(done.info.run_id, "finetune.accuracy")
    assert [(m.step, m.value) for m in curve] == [(0, 0.5), (1, 0.9), (2, 0.95)]
    assert done.info.end_time - done.info.start_time == pytest.approx(2500, abs=50)


def test_resume_continues_the_same_parent_run(tmp_path: Path) -> None:
    first = MlflowTracker(tmp_path)
    _search(first, tmp_path)
    parent_id = first.parent_id
    first.finish("interrupted")
    again = MlflowTracker(tmp_path)
    _search(again, tmp_path, resume=True, first=2)
    assert again.parent_id == parent_id
    again.finish("complete")

    client = MlflowClient(again.tracking_uri)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert sorted(_children(client, parent)) == ["trial-0", "trial-1", "trial-2", "trial-3"]
    assert [m.step for m in client.get_metric_history(parent_id, "hypervolume")] == [1, 2, 3, 4]
    assert len(client.search_runs([parent.info.experiment_id], filter_string="attributes.run_name = 'demo'")) == 1


def test_mlflow_tracking_uri_is_honoured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # such a store keeps its artifacts where MLflow puts them: ./mlruns
    store = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team")
    run_dir = tmp_path / "run"
    tracker = MlflowTracker(run_dir)
    _search(tracker, run_dir)
    tracker.finish()
    assert store.exists() and not (run_dir / "mlflow.db").exists()
    assert MlflowClient(f"sqlite:///{store}").get_experiment_by_name("team") is not None


def test_several_trackers_by_name_or_list(tmp_path: Path) -> None:
    both = make_tracker("mlflow, neptune", tmp_path)
    assert isinstance(both, Trackers)
    assert [type(t.inner).__name__ for t in both.trackers] == ["MlflowTracker", "NeptuneTracker"]
    mine = MlflowTracker(tmp_path)
    listed = resolve_tracker(["none", mine], tmp_path)
    assert isinstance(listed, Trackers) and isinstance(listed.trackers[1], SafeTracker)
    assert listed.trackers[1].inner is mine
    assert type(make_tracker("none,none", tmp_path)).__name__ == "Tracker"
    with pytest.raises(Exception, match=r"tracker must be one of .*but got tracker='wandb'"):
        make_tracker("mlflow,wandb", tmp_path)
