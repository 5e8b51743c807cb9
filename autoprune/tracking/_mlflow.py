"""MLflow tracker (``pip install 'autoprune[mlflow]'``; the client is loaded lazily).

MLflow's convention for a hyperparameter search: one parent run per search and one
nested child run per trial (tag ``mlflow.parentRunId``), all in one experiment.

Where the runs go: ``MLFLOW_TRACKING_URI`` when set (a server, a database); otherwise a
SQLite store inside the run directory, ``sqlite:///<run_dir>/mlflow.db``, the backend
MLflow 3 uses by default (its file store ``./mlruns`` is legacy), with artifacts under
``<run_dir>/mlartifacts``. Open it with::

    mlflow ui --backend-store-uri sqlite:///<run_dir>/mlflow.db

The experiment is ``MLFLOW_EXPERIMENT_NAME`` when set, else ``autoprune/<study name>``.

Layout::

    parent run  (name: the study; tags autoprune.run_dir, autoprune.study)
      params    space.*  (the resolved space, flattened), args.*, versions.*
      metrics   baseline.*                           the dense model's measures
                hypervolume, front_size (step = trials so far)
      artifacts pareto_front.json (MLflow's table format), pareto_front.html,
                replaced after every trial; report/*, models/trial_N.pt at the end
    child run   (name: trial-N; one per finished trial)
      params    the recipe's fields
      metrics   its measures; finetune.accuracy (step = fine-tune step); seconds, attempts
      tags      state, reason, worker, feasible; status FINISHED / KILLED (stopped by
                the trial pruner) / FAILED

Resuming a search (``--resume``) continues the parent run of the same run directory.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from pathlib import Path
from typing import Any, Mapping

from autoprune._imports import require
from autoprune.tracking._base import Tracker, front_html

__all__ = ["MlflowTracker", "default_tracking_uri"]

_RUN_DIR_TAG = "autoprune.run_dir"
_PARAM_LIMIT = 6000  # MLflow's longest param value
_BATCH = 100  # params per log_batch call MLflow accepts


def default_tracking_uri(run_dir: str | os.PathLike[str]) -> str:
    """Where runs go without ``MLFLOW_TRACKING_URI``: SQLite inside the run directory.

    Example:
        >>> default_tracking_uri("/tmp/run")
        'sqlite:////tmp/run/mlflow.db'
    """
    return f"sqlite:///{(Path(run_dir) / 'mlflow.db').resolve()}"


class MlflowTracker(Tracker):
    """Mirrors a search into MLflow: a parent run, one nested child run per trial.

    Wrap it in :class:`~autoprune.tracking.SafeTracker` (``make_tracker`` does) so that
    no MLflow error can stop the search.

    Args:
        run_dir: the search's run directory (home of the default store).
        tracking_uri: where to log; default ``MLFLOW_TRACKING_URI``, else
            :func:`default_tracking_uri` of ``run_dir``.
        experiment: experiment name; default ``MLFLOW_EXPERIMENT_NAME``, else ``autoprune/<study>``.
        name: the parent run's name (default: the study's name).
        tags: tags of the parent run.

    Example:
        >>> import tempfile
        >>> tracker = MlflowTracker(tempfile.mkdtemp())  # doctest: +SKIP
        >>> tracker.start(run_dir=tracker.run_dir, space={"name": "demo"}, args={}, versions={})  # doctest: +SKIP
        >>> tracker.client.get_run(tracker.parent_id).info.run_name  # doctest: +SKIP
        'demo'
    """

    def __init__(self, run_dir: str | os.PathLike[str], tracking_uri: str | None = None,
                 experiment: str | None = None, name: str | None = None, tags: Any = ()) -> None:
        require("mlflow")
        from mlflow import MlflowClient

        self.run_dir = Path(run_dir)
        self.local = not (tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(run_dir)
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or None
        self.name = name
        self.tags = tuple(str(t) for t in tags)
        if self.local:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.parent_id: str | None = None
        self._experiment_id = ""
        self._hv_step = -1

    def __repr__(self) -> str:
        return f"MlflowTracker({self.tracking_uri!r})"

    # -- the parent run ----------------------------------------------------------
    def start(self, *, run_dir: Path, space: dict[str, Any], args: dict[str, Any], versions: dict[str, Any]) -> None:
        study = str(space.get("name") or Path(run_dir).name)
        # "autoprune/<study>": a study named "default" is not mistaken for MLflow's Default
        experiment_id = self._experiment_id = self._experiment(self.experiment or f"autoprune/{study}")
        key = str(Path(run_dir).resolve())
        if args.get("resume"):
            found = self.client.search_runs([experiment_id], filter_string=f"tags.`{_RUN_DIR_TAG}` = '{_quote(key)}'",
                                            order_by=["attributes.start_time DESC"], max_results=1)
            if found:
                self.parent_id = found[0].info.run_id
                self.client.update_run(self.parent_id, status="RUNNING")
                runs = self.client.get_metric_history(self.parent_id, "hypervolume")
                self._hv_step = max((m.step for m in runs), default=-1)
                return
        tags = {_RUN_DIR_TAG: key, "autoprune.study": study, "mlflow.note.content": _note(study, key),
                **_SOURCE, **{f"autoprune.tag.{t}": "true" for t in self.tags}}
        run = self.client.create_run(experiment_id, run_name=self.name or study, tags=tags)
        self.parent_id = run.info.run_id
        params = {**_flat("space", space), **_flat("args", args), **_flat("versions", versions)}
        self._log_params(self.parent_id, params)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        # a local store keeps its artifacts beside it, not in ./mlruns of the working directory
        location = (self.run_dir / "mlartifacts").resolve().as_uri() if self.local else None
        # the UI opens a "model training" experiment on its runs, not on GenAI traces
        return self.client.create_experiment(name, artifact_location=location,
                                             tags={"mlflow.experimentKind": "custom_model_development"})

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _text(v)[:_PARAM_LIMIT]) for k, v in params.items() if v is not None]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(run_id, params=items[i:i + _BATCH])

    def _log_metrics(self, run_id: str, values: Mapping[str, Any], *, prefix: str = "", step: int = 0) -> None:
        from mlflow.entities import Metric

        now = _now_ms()
        metrics = [Metric(f"{prefix}{k}", float(v), now, step) for k, v in values.items() if _number(v)]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])

    def log_baseline(self, measures: dict[str, Any]) -> None:
        self._log_metrics(self._parent(), measures, prefix="baseline.")

    def log_front(self, rows: list[dict[str, Any]], hypervolume: float, n_trials: int) -> None:

        parent = self._parent()
        n_trials = int(n_trials)
        if n_trials > self._hv_step and _number(hypervolume):  # a metric's steps only go forward
            self._log_metrics(parent, {"hypervolume": hypervolume, "front_size": len(rows)}, step=n_trials)
            self._hv_step = n_trials
        columns: list[str] = []
        for row in rows:
            columns.extend(str(k) for k in row if str(k) not in columns)
        table = {"columns": columns,
                 "data": [[_cell(row.get(c)) for c in columns] for row in rows]}
        self.client.log_dict(parent, table, "pareto_front.json")
        self.client.log_text(parent, front_html(rows), "pareto_front.html")

    def log_file(self, key: str, path: Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"log_file({key!r}): {path} is not a file.")
        folder = key.rsplit("/", 1)[0] if "/" in key else None
        self.client.log_artifact(self._parent(), str(path), artifact_path=folder)

    def finish(self, status: str = "complete") -> None:
        parent, self.parent_id = self.parent_id, None
        if parent is None:
            return
        self.client.set_tag(parent, "autoprune.status", str(status))
        self.client.set_terminated(parent, status={"complete": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED"))

    # -- one child run per trial ---------------------------------------------------
    def log_trial(self, record: dict[str, Any]) -> None:
        parent = self._parent()
        number = int(record["number"])
        state = str(getattr(record["state"], "value", record["state"]))
        end = _now_ms()
        start = end - int(1000 * float(record.get("seconds") or 0.0))
        tags = {"mlflow.parentRunId": parent, "state": state, "trial": str(number),
                "worker": str(record.get("worker") or ""), **_SOURCE}
        summary = _summary(record.get("recipe") or {})
        if summary:  # the run's description: the recipe in one line
            tags["mlflow.note.content"] = summary
        if record.get("reason"):
            tags["reason"] = str(record["reason"])[:5000]
        if record.get("feasible") is not None:
            tags["feasible"] = str(bool(record["feasible"])).lower()
        run = self.client.create_run(self._experiment_id, start_time=start, tags=tags, run_name=f"trial-{number}")
        child = run.info.run_id
        self._log_params(child, dict(record.get("recipe") or {}))
        self._log_metrics(child, {**(record.get("measures") or {}), "seconds": record.get("seconds"),
                                  "attempts": record.get("attempts")})
        self._log_curve(child, record.get("curve") or [])
        status = {"complete": "FINISHED", "pruned": "KILLED"}.get(state, "FAILED")
        self.client.set_terminated(child, status=status, end_time=end)

    def _log_curve(self, run_id: str, curve: Any) -> None:
        from mlflow.entities import Metric

        now = _now_ms()
        points = [Metric("finetune.accuracy", float(v), now, int(s)) for s, v in curve if _number(v)]
        if points:
            self.client.log_batch(run_id, metrics=points)

    def _parent(self) -> str:
        if self.parent_id is None:
            raise RuntimeError("MlflowTracker: start() was not called or finish() already was.")
        return self.parent_id


def _source() -> dict[str, str]:
    """Who ran it and with what: the UI's "Created by" and "Source"."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (a container without one)
        user = ""
    return {"mlflow.source.name": "autoprune search", "mlflow.source.type": "LOCAL",
            **({"mlflow.user": user} if user else {})}


_SOURCE = _source()


def _summary(recipe: Mapping[str, Any]) -> str:
    from autoprune.recipe import Recipe

    try:
        return Recipe.from_dict(dict(recipe)).summary()
    except Exception:  # noqa: BLE001 - a recipe of another version: the params still say it all
        return ""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _number(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, sort_keys=isinstance(value, dict))
    return str(getattr(value, "value", value))


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return _text(value)


def _flat(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"prefix.a.b": 1}``: one param per leaf, readable in the UI's table.

    Example:
        >>> _flat("space", {"budget": {"trials": 16}, "name": "default"})
        {'space.budget.trials': 16, 'space.name': 'default'}
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(name, value))
        else:
            out[name] = value
    return out


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _note(study: str, run_dir: str) -> str:
    """The parent run's description (the UI shows it on the run's page)."""
    return (f"autoprune search `{study}`; one child run per trial. Run directory: `{run_dir}`.\n\n"
            f"Front: `autoprune pareto {run_dir}`; report: `{run_dir}/report/index.html`.")
