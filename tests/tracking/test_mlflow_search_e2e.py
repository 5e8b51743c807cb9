"""A real search with ``--tracker mlflow``, read back through MlflowClient, and its study
as Optuna's tools read it (metric names, intermediate values, constraints)."""

from __future__ import annotations

import csv
import io

import optuna
import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402

from autoprune.cli import main  # noqa: E402
from autoprune.search._study import CURVES_FIGURE  # noqa: E402

SPACE = """
task: digits-mlp
seed: 0
objectives: {accuracy: max, latency_ms: min, size_bytes: min}
constraints: ["accuracy_drop <= 0.05"]
budget: {trials: 3}
sampler: random
trial_pruner: pareto
latency: {threads: 1, warmup: 1, repeats: 5}
fixed: {schedule: one_shot, granularity: channel}
params:
  sparsity: {low: 0.3, high: 0.9}
  finetune_epochs: {low: 1, high: 2, type: int}
"""


@pytest.mark.e2e
def test_search_with_mlflow_tracker_reads_back(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    space = tmp_path / "tiny.yaml"
    space.write_text(SPACE)
    run = tmp_path / "run"
    assert main(["search", str(space), "--out", str(run), "--tracker", "mlflow", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "Creating initial MLflow database tables" not in err and "ExperimentalWarning" not in err

    client = MlflowClient(f"sqlite:///{run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("autoprune/tiny")
    parents = client.search_runs([experiment.experiment_id], filter_string="attributes.run_name = 'tiny'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.params["space.budget.trials"] == "3"
    assert parent.data.params["args.tracker"] == "mlflow" and "baseline.accuracy" in parent.data.metrics
    assert [m.step for m in client.get_metric_history(parent.info.run_id, "hypervolume")] == [1, 2, 3]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"pareto_front.json", "pareto_front.html", "report", "models"} <= artifacts
    children = client.search_runs([experiment.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.info.run_name for c in children) == ["trial-0", "trial-1", "trial-2"]
    for child in children:
        assert child.data.params["granularity"] == "channel" and "sparsity" in child.data.params
        assert child.data.tags["state"] in ("complete", "pruned")
        curve = client.get_metric_history(child.info.run_id, "finetune.accuracy")
        assert [m.step for m in curve][0] == 0 and len(curve) >= 1
        if child.data.tags["state"] == "complete":
            assert {"accuracy", "latency_ms", "size_bytes"} <= set(child.data.metrics)

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{run / 'study.db'}")
    assert study.metric_names == ["accuracy", "latency_ms", "size_bytes"]
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:  # a stopped trial's curve is its user attr only
            assert sorted(trial.intermediate_values) == [s for s, _ in trial.user_attrs["curve"]]
            assert len(trial.system_attrs["constraints"]) == 1  # the list optuna-dashboard reads
    system = study._storage.get_study_system_attrs(study._study_id)  # where optuna-dashboard keeps figures
    assert any(k.startswith(f"dashboard:plot_data:{CURVES_FIGURE}") for k in system)

    assert main(["trials", str(run), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["number"] for r in rows] == ["0", "1", "2"] and rows[0]["granularity"] == "channel"
    assert main(["trials", str(run)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["trial", "state", "feasible", "recipe"] and len(table) == 4
