"""The answer of a search: :class:`SearchResult`, read back from a run directory by
:func:`open_run`, with the feasible Pareto front, its hypervolume and knee."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from autoprune.errors import ConfigError
from autoprune.result import TrialStatus
from autoprune.search import _records as rec
from autoprune.search._pareto import hypervolume, hypervolume_history, knee_point, normalize, pareto_front
from autoprune.search._rundir import DEFAULT_DB, RUN_FILE, default_storage, load_run_study, read_run_meta, redact
from autoprune.search._space import Objective, SearchSpace, constraint_violations, parse_space
from autoprune.tasks import Task, get_task, task_label

__all__ = [
    "RUN_FILE",
    "REBUILD_TOLERANCE",
    "SearchResult",
    "open_run",
    "compute_front",
    "feasible_front",
    "record_point",
    "trial_baseline",
    "write_run_report",
    "hypervolume_over_trials",
    "front_rows",
    "counts",
    "redact",
]


#: how far a rebuilt trial's accuracy may land from the recorded one (a trial is
#: deterministic on the CPU: the same recipe, seed, baseline and threads give the same model)
REBUILD_TOLERANCE = 1e-4


@dataclass
class SearchResult:
    """The answer of a search: every trial, the Pareto front, its hypervolume and knee.

    Example:
        >>> result = autoprune.run_search("search_spaces/default.yaml", trials=4)  # doctest: +SKIP
        >>> [r.number for r in result.pareto_front]  # doctest: +SKIP
        >>> result.export(result.knee.number, "onnx", "model.onnx")  # doctest: +SKIP
    """

    run_dir: Path
    study_name: str
    storage: str
    space: SearchSpace
    baseline: dict[str, float]
    trials: list[rec.TrialRecord]
    pareto_front: list[rec.TrialRecord]
    hypervolume: float
    knee: rec.TrialRecord | None
    reference_point: list[float]
    data_dir: str | None = None
    #: the task the user named for this result (``open_run(task=...)``, or the task object
    #: a search was given); None: the space's
    task_spec: str | Task | None = None
    #: read back from a run directory: its space's task is imported only if it is registered
    from_run_dir: bool = False
    #: the accuracy of the last trial :meth:`rebuild_model` ran, None before
    rebuilt_accuracy: float | None = None

    def trial(self, number: int) -> rec.TrialRecord:
        for r in self.trials:
            if r.number == number:
                return r
        raise ConfigError(
            f"trial={number} is not in study {self.study_name!r}; trials: "
            f"{', '.join(str(r.number) for r in self.trials) or 'none'}."
        )

    def model_path(self, number: int) -> Path:
        return self.run_dir / "models" / f"trial_{number}.pt"

    def has_model(self, number: int) -> bool:
        """Whether trial ``number``'s model is kept in the run directory (front members; every
        complete trial with ``models: all``)."""
        return self.model_path(number).is_file()

    def load_model(self, number: int, *, rebuild: bool = True, tolerance: float = REBUILD_TOLERANCE):
        """The pruned model of a complete trial: the one kept in the run directory, else
        rebuilt from its recipe and seed (:meth:`rebuild_model`) when ``rebuild``."""
        from autoprune.serialize import load_pruned

        record = self.trial(number)
        if record.state != TrialStatus.COMPLETE:
            complete = ", ".join(str(r.number) for r in self.trials if r.state == TrialStatus.COMPLETE) or "none"
            raise ConfigError(f"trial={number} is {record.state}, so it has no model; allowed: a complete trial "
                              f"({complete}).")
        if self.has_model(number):
            model, _ = load_pruned(self.model_path(number), self.task())
            return model
        if not rebuild:
            members = ", ".join(str(r.number) for r in self.pareto_front) or "none"
            raise ConfigError(f"trial={number} has no saved model; models are kept for the Pareto front ({members}), "
                              f"or for every complete trial with models: all.")
        return self.rebuild_model(number, tolerance=tolerance)

    def rebuild_model(self, number: int, *, tolerance: float = REBUILD_TOLERANCE):
        """Run trial ``number`` again (same recipe, seed, baseline, torch threads, device and
        mixed precision) and return its model once its accuracy matches the one the study
        recorded.

        A trial is deterministic on the CPU given those, so the rebuilt model is the one
        the search measured; the check refuses anything else (another baseline, thread
        count, code version, or a GPU's non-deterministic kernels).

        Raises:
            ConfigError: the trial is not complete, or the rebuilt accuracy differs from
                the recorded one by more than ``tolerance``.
        """
        from autoprune._paths import cache_dir
        from autoprune.baseline import get_baseline
        from autoprune.devices import amp_mode, resolve_device
        from autoprune.measure import LatencyConfig, torch_threads
        from autoprune.trial import run_trial

        record = self.trial(number)
        source = self.trial(record.repeat_of) if record.repeat_of is not None else record
        recorded = source.measures.get("accuracy")
        if source.state != TrialStatus.COMPLETE or not isinstance(recorded, (int, float)):
            raise ConfigError(f"trial={number} has no recorded accuracy to check a rebuild against; allowed: a "
                              f"complete trial.")
        task = self.task()
        threads = read_run_meta(self.run_dir).get("threads", 1) if (self.run_dir / RUN_FILE).is_file() else 1
        threads = threads if isinstance(threads, int) and 1 <= threads <= 1024 else 1
        device = resolve_device(self.space.device)  # where the search ran its trials (refused if absent here)
        amp = amp_mode(self.space.amp)
        baseline = get_baseline(task, self.space.seed, device=device)
        with torch_threads(threads):  # the trial trained with these: its float sums run in the same order
            result = run_trial(task, source.recipe_obj, baseline, seed=self.space.seed + source.number,
                               latency=LatencyConfig(threads=1, warmup=0, repeats=1),
                               cache_dir=cache_dir() / "sensitivity", device=device, amp=amp)
        if not abs(result.accuracy - float(recorded)) <= tolerance:
            raise ConfigError(f"trial={number} rebuilt from its recipe and seed reaches accuracy {result.accuracy:.6f}, "
                              f"but the study recorded {float(recorded):.6f} (allowed difference {tolerance:g}); "
                              f"not exported.")
        self.rebuilt_accuracy = result.accuracy
        return result.model

    def task(self) -> Task:
        """The task of the study: the one the user named, else the space's. A run directory
        is data: a task it names that is not registered (a file or module path) would run
        code from it, so it must be named by the user."""
        from autoprune.registry import TASKS

        spec = self.task_spec or self.space.task
        # a {kind: ..., model: ..., data: ...} task names files, not code: it is data too
        registered = spec.get("kind") in TASKS if isinstance(spec, Mapping) else spec in TASKS
        if self.from_run_dir and self.task_spec is None and not registered:
            raise ConfigError(
                f"the study names task={spec!r}, which is not a registered task, and autoprune does not run code "
                f"named in a run directory; allowed: --task {spec} (task= in Python) once you trust that code, "
                f"or a registered task: {', '.join(TASKS.names())}."
            )
        return get_task(spec, seed=self.space.seed, data_dir=self.data_dir)

    def export(self, number: int, format: str, output: str | Path, *, tolerance: float = REBUILD_TOLERANCE) -> Path:
        """Write trial ``number``'s model as ``state_dict``, ``torch_export`` or ``onnx``: the
        kept model, or, for a complete trial whose model was not kept, the model rebuilt
        from its recipe and seed and checked against the recorded accuracy."""
        from autoprune.export import export_model

        task = self.task()
        record = self.trial(number)
        return export_model(
            self.load_model(number, tolerance=tolerance), task, format=format, output=Path(output),
            recipe=record.recipe_obj, task_name=task.name,
        )

    def to_dict(self) -> dict[str, Any]:
        objectives = [(o.name, o.direction) for o in self.space.objectives]
        return {
            "study": self.study_name,
            # the run's own study.db by its relative name: records stay true when the directory moves
            "storage": DEFAULT_DB if self.storage == default_storage(self.run_dir) else redact(self.storage),
            "task": self.space.task,
            "objectives": [{"name": n, "direction": d} for n, d in objectives],
            "constraints": [str(c) for c in self.space.constraints],
            "baseline": self.baseline,
            "reference_point": self.reference_point,
            "hypervolume": self.hypervolume,
            "knee": self.knee.number if self.knee else None,
            "counts": counts(self.trials),
            "front": [front_row(r, objectives, self.baseline, self.model_path(r.number)) for r in self.pareto_front],
        }


def front_row(r: rec.TrialRecord, objectives: list[tuple[str, str]], baseline: dict, model: Path) -> dict:
    row: dict[str, Any] = {"number": r.number, "recipe_summary": r.summary(), "recipe": r.recipe}
    for name, _ in objectives:
        row[name] = r.measures.get(name)
    for ratio in ("params_ratio", "size_ratio", "flops_ratio", "latency_ratio"):
        row[ratio] = r.measures.get(ratio)
    row["accuracy"] = r.measures.get("accuracy")
    row["accuracy_drop"] = r.measures.get("accuracy_drop")
    row["model_path"] = str(model) if model.exists() else None
    return row


def counts(records: Sequence[rec.TrialRecord]) -> dict[str, int]:
    """Trials by state (``complete``, ``pruned``, ``failed``, ``running`` always present)."""
    out = {s.value: 0 for s in (TrialStatus.COMPLETE, TrialStatus.PRUNED, TrialStatus.FAILED, TrialStatus.RUNNING)}
    for r in records:
        out[r.state] = out.get(r.state, 0) + 1
    return out


def trial_baseline(baseline: dict[str, float], measures: dict[str, Any]) -> dict[str, float]:
    """The baseline a trial is compared with: latency from the trial's own process."""
    out = dict(baseline)
    if measures.get("baseline_latency_ms"):
        out["latency_ms"] = float(measures["baseline_latency_ms"])
    return out


def record_point(record: rec.TrialRecord, baseline: dict[str, float], objectives: Sequence[Objective]) -> np.ndarray:
    """A finished trial's objectives as a point of the front (normalised, to minimise)."""
    return normalize(record.measures, trial_baseline(baseline, record.measures), objectives)


def feasible_front(space: SearchSpace, baseline: dict[str, float],
                    records: Sequence[rec.TrialRecord]) -> tuple[list[rec.TrialRecord], np.ndarray]:
    """Mark feasibility; return the feasible non-dominated records and their normalised points."""
    objectives = list(space.objectives)
    candidates = []
    for r in records:
        if r.state != "complete" or not r.measures:
            r.feasible = None
            continue
        r.feasible = all(v <= 0 for v in constraint_violations(space, r.measures))
        if r.feasible:
            candidates.append(r)
    if not candidates:
        return [], np.empty((0, len(objectives)))
    points = np.array([record_point(r, baseline, objectives) for r in candidates])
    idx = list(pareto_front(points))
    return [candidates[i] for i in idx], points[idx]


def compute_front(space: SearchSpace, baseline: dict[str, float], records: Sequence[rec.TrialRecord]):
    """Mark feasibility; return (front records, hypervolume, knee record, reference point)."""
    reference = space.hypervolume_reference
    front, points = feasible_front(space, baseline, records)
    if not front:
        return [], 0.0, None, reference
    hv = float(hypervolume(points, np.array(reference)))
    knee = front[int(knee_point(points))]
    return sorted(front, key=lambda r: r.number), hv, knee, reference


def write_run_report(result: SearchResult) -> Path:
    """Write ``report/index.html`` and its PNG plots into the run directory."""
    from autoprune.report import write_report

    return write_report(
        result.run_dir, records=result.trials, front_numbers=[r.number for r in result.pareto_front],
        objectives=[(o.name, o.direction) for o in result.space.objectives], baseline=result.baseline,
        hypervolume_history=hypervolume_over_trials(result), hypervolume=result.hypervolume,
        knee_number=result.knee.number if result.knee else None, title=f"autoprune search: {result.study_name}",
        constraints=result.space.constraints, latency=result.space.latency, task=task_label(result.space.task),
    )


def hypervolume_over_trials(result: SearchResult) -> list[float]:
    """Hypervolume of the feasible front after each finished trial, in trial order."""
    objectives = list(result.space.objectives)
    nan_row = [math.nan] * len(objectives)
    points = [
        record_point(r, result.baseline, objectives)
        if r.state == "complete" and r.feasible else nan_row
        for r in sorted(result.trials, key=lambda r: r.number) if r.state in ("complete", "pruned", "failed")
    ]
    return hypervolume_history(points, result.reference_point) if points else []


def front_rows(result: SearchResult) -> list[dict[str, Any]]:
    return result.to_dict()["front"]


def open_run(run_dir: str | Path, *, storage: str | None = None, task: str | None = None) -> SearchResult:
    """Reopen a finished (or interrupted) run directory: its trials, front and hypervolume.

    The run directory is read as data: its storage must be an SQLite file inside it unless
    ``storage`` is given, and a task it names is imported only when registered or named
    again as ``task`` (see :meth:`SearchResult.task`).

    Raises:
        ConfigError: not a run directory, a damaged one, or one whose storage lies elsewhere.
    """
    run_dir = Path(run_dir)
    meta, url, study = load_run_study(run_dir, storage)
    try:
        space = parse_space(study.user_attrs["space"], source=str(run_dir / "space.yaml"))
        records = [rec.record_from_frozen(t) for t in study.get_trials(deepcopy=False)]
        baseline = study.user_attrs.get("baseline", {})
        if not isinstance(baseline, dict) or not all(isinstance(v, (int, float, type(None))) for v in baseline.values()):
            raise TypeError(f"baseline is a {type(baseline).__name__} of other values, not measures")
        front, hv, knee, reference = compute_front(space, baseline, records)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"the study of {str(run_dir)!r} is damaged ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:200]}); allowed: a study autoprune wrote.") from None
    return SearchResult(run_dir=run_dir, study_name=meta["study_name"], storage=redact(url), space=space,
                        baseline=baseline, trials=records, pareto_front=front, hypervolume=hv, knee=knee,
                        reference_point=reference, data_dir=meta.get("data_dir"), task_spec=task, from_run_dir=True)
