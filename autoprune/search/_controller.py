"""The search controller: one ask/tell loop in the driver process.

It is the only process that writes the study and talks to trackers. Workers (in this
process or on Ray) receive a recipe and send back reports and results.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import optuna

from autoprune import measure
from autoprune._io import write_text_atomic
from autoprune.baseline import Baseline, get_baseline
from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.result import TrialStatus
from autoprune.search import _records as rec
from autoprune.search._backends import (
    FlamlBackend,
    OptunaBackend,
    SearchBackend,
    make_sampler,
)
from autoprune.search._executors import Executor, LocalExecutor, TrialJob, TrialOutcome
from autoprune.search._pareto import (
    hypervolume,
    hypervolume_history,
    knee_point,
    normalize,
    pareto_front,
)
from autoprune.search._space import Objective, SearchSpace, constraint_violations, load_space
from autoprune.search.trial_pruners import (
    RunningTrial,
    TrialHistory,
    make_trial_pruner,
)
from autoprune.tasks import Task, get_task

__all__ = ["RunOptions", "SearchResult", "search", "open_run", "compute_front", "write_run_report"]

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunOptions:
    """How a search runs (as opposed to what it searches, which is the space).

    Args:
        out: run directory (default ``autoprune-runs/<study name>``).
        storage: Optuna storage URL (default: SQLite ``study.db`` in the run directory).
        resume: continue the study in ``out`` / ``storage``.
        executor: ``local`` or ``ray``.
        workers: trials run at once (Ray only).
        address: Ray cluster address (else ``RAY_ADDRESS``, else a local Ray instance).
        tracker: ``neptune``, ``none`` or ``auto`` (Neptune when its client is installed).
        progress: print a progress line after every trial.
        data_dir: data directory for tasks that read files.
        max_attempts: runs of a trial whose worker died before it is FAILED.
        latency_memo: latencies measured so far in this process, reused for models of the
            same architecture (:class:`autoprune.measure.LatencyMemo`); default a new one
            per search. Either way it also gets the measurements stored with a resumed
            study. Pass one to several searches to score their identical models
            identically. Local executor only: Ray workers each keep their own.
    """

    out: Path | None = None
    storage: str | None = None
    resume: bool = False
    executor: str = "local"
    workers: int = 1
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    tracker: str = "auto"
    progress: bool = True
    data_dir: str | None = None
    max_attempts: int = 3
    latency_memo: measure.LatencyMemo | None = None

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor must be one of local, ray, but got executor={self.executor!r}.")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, but got workers={self.workers}.")
        if self.executor == "local" and self.workers > 1:
            raise ConfigError(f"workers={self.workers} needs executor=ray; the local executor runs one trial at a time.")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ConfigError(
                f"cpus_per_trial must be > 0 and gpus_per_trial >= 0, but got "
                f"cpus_per_trial={self.cpus_per_trial}, gpus_per_trial={self.gpus_per_trial}."
            )
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, but got max_attempts={self.max_attempts}.")
        if self.latency_memo is not None and self.executor != "local":
            raise ConfigError(
                f"latency_memo needs executor=local (Ray workers each keep their own), but got executor={self.executor!r}."
            )

    @classmethod
    def for_space(cls, space: SearchSpace, *, executor: str | None = None, workers: int | None = None,
                  address: str | None = None, cpus_per_trial: float | None = None,
                  gpus_per_trial: float | None = None, **rest: Any) -> "RunOptions":
        """Options whose executor settings default to the space's ``executor`` section;
        ``workers`` > 1 without an executor means Ray."""
        ex = space.executor
        workers = workers or ex.workers
        return cls(
            executor=executor or ("ray" if workers > 1 else ex.name), workers=workers,
            address=address or ex.address,
            cpus_per_trial=ex.cpus_per_trial if cpus_per_trial is None else cpus_per_trial,
            gpus_per_trial=ex.gpus_per_trial if gpus_per_trial is None else gpus_per_trial,
            **rest,
        )


@dataclass
class SearchResult:
    """The answer of a search: every trial, the Pareto front, its hypervolume and knee.

    Example:
        >>> result = autoprune.search("search_spaces/default.yaml", trials=4)  # doctest: +SKIP
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

    def load_model(self, number: int):
        """The pruned model of a front member (its artifact is kept in the run directory)."""
        from autoprune.serialize import load_pruned

        record = self.trial(number)
        path = self.model_path(number)
        if record.state != "complete" or not path.exists():
            members = ", ".join(str(r.number) for r in self.pareto_front) or "none"
            raise ConfigError(
                f"trial={number} has no saved model (state {record.state}); models are kept for "
                f"the Pareto front: {members}."
            )
        model, _ = load_pruned(path, self.task())
        return model

    def task(self) -> Task:
        return get_task(self.space.task, seed=self.space.seed, data_dir=self.data_dir)

    def export(self, number: int, format: str, output: str | Path) -> Path:
        """Write trial ``number``'s model as ``state_dict``, ``torch_export`` or ``onnx``."""
        from autoprune.export import export_model

        task = self.task()
        record = self.trial(number)
        return export_model(
            self.load_model(number), task, format=format, output=Path(output),
            recipe=record.recipe_obj, task_name=task.name,
        )

    def to_dict(self) -> dict[str, Any]:
        objectives = [(o.name, o.direction) for o in self.space.objectives]
        return {
            "study": self.study_name,
            "storage": _redact(self.storage),
            "task": self.space.task,
            "objectives": [{"name": n, "direction": d} for n, d in objectives],
            "constraints": [str(c) for c in self.space.constraints],
            "baseline": self.baseline,
            "reference_point": self.reference_point,
            "hypervolume": self.hypervolume,
            "knee": self.knee.number if self.knee else None,
            "counts": _counts(self.trials),
            "front": [_front_row(r, objectives, self.baseline, self.model_path(r.number)) for r in self.pareto_front],
        }


def _front_row(r: rec.TrialRecord, objectives: list[tuple[str, str]], baseline: dict, model: Path) -> dict:
    row: dict[str, Any] = {"number": r.number, "recipe_summary": r.summary(), "recipe": r.recipe}
    for name, _ in objectives:
        row[name] = r.measures.get(name)
    for ratio in ("params_ratio", "size_ratio", "flops_ratio", "latency_ratio"):
        row[ratio] = r.measures.get(ratio)
    row["accuracy"] = r.measures.get("accuracy")
    row["accuracy_drop"] = r.measures.get("accuracy_drop")
    row["model_path"] = str(model) if model.exists() else None
    return row


def _counts(records: Sequence[rec.TrialRecord]) -> dict[str, int]:
    counts = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
    for r in records:
        counts[r.state] = counts.get(r.state, 0) + 1
    return counts


def _redact(url: str) -> str:
    """Hide a password in a storage URL (``user:secret@host`` -> ``user:***@host``)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def trial_baseline(baseline: dict[str, float], measures: dict[str, Any]) -> dict[str, float]:
    """The baseline a trial is compared with: latency from the trial's own process."""
    out = dict(baseline)
    if measures.get("baseline_latency_ms"):
        out["latency_ms"] = float(measures["baseline_latency_ms"])
    return out


def record_point(record: rec.TrialRecord, baseline: dict[str, float], objectives: Sequence[Objective]) -> np.ndarray:
    """A finished trial's objectives as a point of the front (normalised, to minimise)."""
    return normalize(record.measures, trial_baseline(baseline, record.measures), objectives)


def _feasible_front(space: SearchSpace, baseline: dict[str, float],
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
    front, points = _feasible_front(space, baseline, records)
    if not front:
        return [], 0.0, None, reference
    hv = float(hypervolume(points, np.array(reference)))
    knee = front[int(knee_point(points))]
    return sorted(front, key=lambda r: r.number), hv, knee, reference


@dataclass
class _Running:
    trial: optuna.Trial
    recipe: Recipe
    curve: list[list[float]] = field(default_factory=list)
    stop_reason: str = ""  # the trial pruner's, when it said stop


class _Search:
    def __init__(self, space: SearchSpace, options: RunOptions) -> None:
        self.space, self.options = space, options
        # everything a worker would only find late is checked here, before the first trial
        self.data_dir = options.data_dir or space.data_dir
        self.task = get_task(space.task, seed=space.seed, data_dir=self.data_dir)
        from autoprune.pruning import prunable_layers

        prunable_layers(self.task.build_model(), Recipe())
        self.run_dir = Path(options.out) if options.out else Path("autoprune-runs") / space.name
        self.storage_url = options.storage or f"sqlite:///{(self.run_dir / 'study.db').resolve()}"
        self.running: dict[int, _Running] = {}
        self.history: list[TrialHistory] = []
        self.front: list[rec.TrialRecord] = []  # the Pareto front as of the last finished trial
        self.latency_memo: measure.LatencyMemo | None = None  # the local executor's
        self._latencies_stored: set[str] = set()  # its measurements already in the study

    # -- study ---------------------------------------------------------------------
    def _open_study(self) -> optuna.Study:
        if self.options.storage is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            storage = optuna.storages.RDBStorage(self.storage_url)
            names = optuna.study.get_all_study_names(storage)
        except Exception as exc:
            raise ConfigError(f"storage={_redact(self.storage_url)!r} cannot be reached: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        name = self.space.name
        sampler = _quiet(make_sampler, self.space.sampler if self.space.backend == "optuna" else "random", self.space.seed)
        pruner = self._make_trial_pruner(None).study_pruner() or optuna.pruners.NopPruner()
        if name in names:
            if not self.options.resume:
                raise ConfigError(
                    f"study {name!r} already exists in {_redact(self.storage_url)}; pass --resume to "
                    f"continue it or --out DIR for a new run."
                )
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            stored = study.user_attrs.get("space_fingerprint")
            if stored != self.space.fingerprint():
                raise ConfigError(
                    f"cannot resume study {name!r}: its search space changed since it was created "
                    f"(fingerprint {stored} != {self.space.fingerprint()}); use the original space or --out DIR."
                )
            return study
        if self.options.resume:
            raise ConfigError(f"--resume: no study {name!r} in {_redact(self.storage_url)} to resume.")
        directions = ["maximize" if o.direction == "max" else "minimize" for o in self.space.objectives]
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions)
        study.set_user_attr("space", self.space.to_dict())
        study.set_user_attr("space_fingerprint", self.space.fingerprint())
        return study

    @staticmethod
    def _fail_running(study: optuna.Study, reason: str) -> None:
        """Mark trials still RUNNING (or enqueued) as FAIL + interrupted, so resume reruns them."""
        storage = study._storage
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,
                                                          optuna.trial.TrialState.WAITING)):
            storage.set_trial_user_attr(t._trial_id, rec.INTERRUPTED, True)
            storage.set_trial_user_attr(t._trial_id, rec.REASON, reason)
            storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)

    @staticmethod
    def _interrupted_recipes(trials: Sequence[optuna.trial.FrozenTrial]) -> list[tuple[int, Recipe]]:
        """Interrupted trials not yet run again (a trial stopped before its recipe was
        drawn has nothing to rerun)."""
        rerun = {t.user_attrs.get("rerun_of") for t in trials}
        return [
            (t.number, Recipe.from_dict(t.user_attrs[rec.RECIPE]))
            for t in trials
            if t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get(rec.INTERRUPTED)
            and t.number not in rerun and rec.RECIPE in t.user_attrs
        ]

    # -- baseline ------------------------------------------------------------------
    def _baseline(self, study: optuna.Study) -> tuple[Baseline, dict[str, float]]:
        if self.options.progress:  # training it takes a while the first time: say what happens
            print(f"dense baseline of {self.task.name} (seed {self.space.seed}): trained once, then cached",
                  file=sys.stderr, flush=True)
        baseline = get_baseline(self.task, self.space.seed)
        stored = study.user_attrs.get("baseline")
        if stored is not None:
            return baseline, stored
        bs = self.space.latency.batch_size or self.task.benchmark_batch_size
        lat = self.space.latency
        measures = {
            "accuracy": baseline.accuracy,
            **baseline.reference(self.task),
            "latency_ms": measure.measure_latency(baseline.build(self.task), self.task.example_input(bs),
                                                  threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats),
        }
        study.set_user_attr("baseline", measures)
        return baseline, measures

    # -- the loop ------------------------------------------------------------------
    def run(self) -> SearchResult:
        study = self._open_study()
        self.study = study
        self._fail_running(study, "interrupted: the controller stopped")  # e.g. killed
        trials = study.get_trials(deepcopy=False)  # as left: the reruns and the latencies measured
        rerun = self._interrupted_recipes(trials)
        baseline, base_measures = self._baseline(study)
        self.base_measures = base_measures
        self.trial_pruner = self._make_trial_pruner(self.space.min_accuracy(base_measures["accuracy"]))
        self._write_run_file()
        backend = self._backend(study)
        executor = self._executor(trials)
        tracker = self._tracker()
        tracker.start(run_dir=self.run_dir, space=self.space.to_dict(), args=self._args(), versions=_versions())
        tracker.log_baseline(base_measures)
        self._load_history(study)
        warm = [] if self.options.resume else list(self.space.warm_start_recipes())
        budget, deadline = self.space.budget, (
            time.monotonic() + self.space.budget.seconds if self.space.budget.seconds else math.inf
        )
        status, exhausted = "complete", False
        try:
            executor.start(baseline, self.task)
            while True:
                while (not exhausted and executor.pending() < executor.slots and time.monotonic() < deadline
                       and self.n_finished + len(self.running) < (budget.trials or math.inf)
                       and self.n_failed < max(budget.trials or 0, 10)):
                    forced, rerun_of = None, None
                    if rerun:
                        rerun_of, forced = rerun.pop(0)
                    elif warm:
                        forced = warm.pop(0)
                    asked = backend.ask(forced)
                    if asked is None:
                        exhausted = True
                        break
                    trial, recipe = asked
                    trial.set_user_attr(rec.RECIPE, recipe.to_dict())
                    if rerun_of is not None:
                        trial.set_user_attr("rerun_of", rerun_of)
                    self.running[trial.number] = _Running(trial, recipe)
                    executor.submit(self._job(trial.number, recipe))
                if executor.pending() == 0:
                    break
                for outcome in executor.wait(self._decide):
                    self._finish(study, backend, outcome, tracker, executor)
        except KeyboardInterrupt:
            status = "interrupted"
            self._fail_running(study, "interrupted: Ctrl-C")
            self.running.clear()
            raise
        except Exception as exc:
            status = "failed"
            self._fail_running(study, f"interrupted: the controller stopped ({type(exc).__name__})")
            self.running.clear()
            raise
        finally:
            executor.close()
            result = self._write_records(study)
            tracker.log_front(_front_rows(result), result.hypervolume, len(result.trials))
            if status == "complete":
                self._write_report(result)
                for path in sorted((self.run_dir / "report").glob("*.*")):
                    tracker.log_file(f"report/{path.stem}_{path.suffix[1:]}", path)
                for member in result.pareto_front:
                    if result.model_path(member.number).exists():
                        tracker.log_file(f"models/trial_{member.number}", result.model_path(member.number))
            tracker.finish(status)
        return result

    def _make_trial_pruner(self, min_value: float | None) -> Any:
        return make_trial_pruner(self.space.trial_pruner, len(self.space.objectives), min_value=min_value,
                                 study_direction=self.space.directions[0], reference=self.space.hypervolume_reference)

    def _tally(self, trials: Sequence[optuna.trial.FrozenTrial]) -> None:
        """Counts the budget checks use, from trials just read (not a query per check)."""
        state = optuna.trial.TrialState
        self.n_finished = sum(1 for t in trials if t.state in (state.COMPLETE, state.PRUNED))
        self.n_failed = sum(1 for t in trials if t.state == state.FAIL and not t.user_attrs.get(rec.INTERRUPTED))

    def _job(self, number: int, recipe: Recipe) -> TrialJob:
        from autoprune._paths import cache_dir

        return TrialJob(
            number=number, recipe=recipe, seed=self.space.seed + number,
            threads=max(1, int(self.options.cpus_per_trial)),
            latency=self.space.latency.to_config(),
            cache_dir=str(cache_dir() / "sensitivity"),
        )

    def _decide(self, number: int, step: int, metrics: dict[str, float]) -> bool:
        """Trial pruning, decided in the controller after every fine-tune epoch."""
        running = self.running[number]
        value = float(metrics["accuracy"])
        # a trial run again after its worker died reports from its first step again
        running.curve = [p for p in running.curve if p[0] < step] + [[step, value]]
        known = {k: float(v) for k, v in metrics.items() if k != "accuracy"}
        current = RunningTrial(number=number, curve={int(s): v for s, v in running.curve},
                               objectives=known, n_steps=self._n_reports(running.recipe),
                               optuna_trial=running.trial, to_point=lambda final: self._point(known, final))
        decision = self.trial_pruner.decide(current, self.history)
        if decision.stop:
            running.stop_reason = decision.reason
        return decision.stop

    def _point(self, known: dict[str, float], accuracy: float) -> np.ndarray:
        """A running trial's point on the front if it ended at ``accuracy``; NaN where a
        measure is taken only at the end (latency, size)."""
        base = self.base_measures
        measures = {o.name: None for o in self.space.objectives} | known | {
            "accuracy": accuracy, "accuracy_drop": base["accuracy"] - accuracy}
        return normalize(measures, base, list(self.space.objectives))

    def _n_reports(self, recipe: Recipe) -> int:
        """Fine-tune epochs a trial reports after (training from scratch counts too)."""
        if recipe.timing == "after_training":
            return recipe.finetune_epochs
        return self.task.baseline_epochs + recipe.finetune_epochs

    def _finish(self, study: optuna.Study, backend: SearchBackend, outcome: TrialOutcome,
                tracker: Any, executor: Executor) -> None:
        running = self.running.pop(outcome.number)
        trial = running.trial
        result = outcome.result
        curve = [[s, v] for s, v in (result.curve if result else running.curve)]
        for key, value in ((rec.CURVE, curve), (rec.WORKER, outcome.worker),
                           (rec.SECONDS, round(outcome.seconds, 3)), (rec.ATTEMPTS, outcome.attempts)):
            trial.set_user_attr(key, value)
        if result is None:
            trial.set_user_attr(rec.REASON, outcome.error or "failed")
            if outcome.details:
                trial.set_user_attr(rec.DETAILS, outcome.details[-4000:])
            backend.tell_stopped(trial, pruned=False)
        elif result.status is TrialStatus.PRUNED:
            trial.set_user_attr(rec.MEASURES, _finite(result.measures()))
            why = f": {running.stop_reason}" if running.stop_reason else ""
            trial.set_user_attr(rec.REASON, f"stopped by the {self.space.trial_pruner.name} trial pruner at step "
                                            f"{curve[-1][0] if curve else 0}{why}")
            backend.tell_stopped(trial, pruned=True)
        else:
            measures = result.measures()
            trial.set_user_attr(rec.MEASURES, _finite(measures))
            for i, violation in enumerate(constraint_violations(self.space, measures)):
                trial.set_constraint(str(self.space.constraints[i]), violation)
            if self._joins_front(outcome.number, result.recipe, measures):  # only front members keep a model
                self._save_model(outcome.number, result)
            self._store_latencies(trial)
            backend.tell_complete(trial, [float(measures[o.name]) for o in self.space.objectives], measures)
        result_now = self._write_records(study)
        record = result_now.trial(outcome.number)
        self.history.append(self._history(record))
        tracker.log_trial(record.to_dict())
        tracker.log_front(_front_rows(result_now), result_now.hypervolume, len(result_now.trials))
        if self.options.progress:
            self._progress(record, result_now, executor)

    def _joins_front(self, number: int, recipe: Recipe, measures: dict[str, Any]) -> bool:
        """Whether a just-finished trial is on the front beside the current one; a trial
        off it now never enters it later, so its model need not be written."""
        candidate = rec.TrialRecord(number, "complete", recipe.to_dict(), measures=measures)
        front, _ = _feasible_front(self.space, self.base_measures, [*self.front, candidate])
        return any(r is candidate for r in front)

    def _save_model(self, number: int, result: Any) -> None:
        from autoprune.serialize import save_pruned

        save_pruned(self.run_dir / "models" / f"trial_{number}.pt", result.model, recipe=result.recipe,
                    task_name=self.task.name, sparse=result.recipe.granularity != "channel",
                    extra={"trial": number})

    def _write_records(self, study: optuna.Study) -> SearchResult:
        trials = study.get_trials(deepcopy=False)
        self._tally(trials)
        records = [rec.record_from_frozen(t) for t in trials]
        front, hv, knee, reference = compute_front(self.space, self.base_measures, records)
        result = SearchResult(
            run_dir=self.run_dir, study_name=self.space.name, storage=self.storage_url, space=self.space,
            baseline=self.base_measures, trials=records, pareto_front=front, hypervolume=hv, knee=knee,
            reference_point=reference, data_dir=self.data_dir,
        )
        # a trial that left the front never returns to it (new trials only add dominators)
        keep = {r.number for r in front}
        for path in (self.run_dir / "models").glob("trial_*.pt"):
            if int(path.stem.split("_")[1]) not in keep:
                path.unlink()
        self.front = front
        rec.write_trials_csv(self.run_dir / "trials.csv", records)
        rec.write_json_atomic(self.run_dir / "pareto.json", result.to_dict())
        return result

    def _write_report(self, result: SearchResult) -> None:
        try:
            write_run_report(result)
        except Exception as exc:  # the report is derived; the record is complete without it
            log.warning("writing the report failed: %s (run `autoprune report %s` to retry)", exc, self.run_dir)

    def _load_history(self, study: optuna.Study) -> None:
        """The trials already finished (a resumed study), as the trial pruner and the
        budget see them; writes the run's records as they stand."""
        records = self._write_records(study).trials
        self.history += [self._history(r) for r in records if r.state in ("complete", "pruned")]

    def _history(self, record: rec.TrialRecord) -> TrialHistory:
        """A finished trial as the trial pruner sees it (``feasible`` set by compute_front)."""
        point = None
        if record.state == "complete" and record.measures:
            point = tuple(record_point(record, self.base_measures, list(self.space.objectives)).tolist())
        return TrialHistory(
            number=record.number, curve={int(s): float(v) for s, v in record.curve},
            objectives={k: float(v) for k, v in record.measures.items() if isinstance(v, (int, float))
                        and k != "accuracy" and math.isfinite(float(v))},
            state=record.state, point=point, feasible=bool(record.feasible),
        )

    def _write_run_file(self) -> None:
        rec.write_json_atomic(self.run_dir / RUN_FILE, {
            "study_name": self.space.name,
            "storage": self.storage_url if self.options.storage is None else _redact(self.storage_url),
            "data_dir": self.data_dir,
        })
        write_text_atomic(self.run_dir / "space.yaml", _yaml_dump(self.space.to_dict()))
        rec.write_json_atomic(self.run_dir / "baseline.json", self.base_measures)

    def _backend(self, study: optuna.Study) -> SearchBackend:
        if self.space.backend == "flaml":
            history = []
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
                if "flaml_config" in t.user_attrs:
                    history.append((t.user_attrs["flaml_config"], t.user_attrs.get(rec.MEASURES, {})))
            return FlamlBackend(study, self.space, self.space.seed, history)
        return OptunaBackend(study, self.space)

    def _executor(self, trials: Sequence[optuna.trial.FrozenTrial]) -> Executor:
        if self.options.executor == "ray":
            from autoprune.search._ray import RayExecutor

            return RayExecutor(workers=self.options.workers, address=self.options.address,
                               cpus_per_trial=self.options.cpus_per_trial, gpus_per_trial=self.options.gpus_per_trial,
                               max_attempts=self.options.max_attempts,
                               decisions=self.space.trial_pruner.name != "none",
                               task=(self.space.task, self.space.seed, self.data_dir))
        memo = self.options.latency_memo if self.options.latency_memo is not None else measure.LatencyMemo()
        stored: dict[str, Any] = {}  # what a resumed study measured before
        for t in trials:
            stored.update(t.user_attrs.get(rec.LATENCIES, {}))
        memo.update(stored)
        self.latency_memo, self._latencies_stored = memo, set(stored)
        return LocalExecutor(memo)

    def _store_latencies(self, trial: optuna.Trial) -> None:
        """Keep the local memo's new measurements with the trial, so that after a resume a
        model identical to one measured before scores identically."""
        # the stored keys are all in the memo, so equal sizes mean nothing new (most trials)
        if self.latency_memo is None or len(self.latency_memo) == len(self._latencies_stored):
            return
        new = {k: v for k, v in self.latency_memo.measured().items() if k not in self._latencies_stored}
        trial.set_user_attr(rec.LATENCIES, new)
        self._latencies_stored.update(new)

    def _tracker(self) -> Any:
        from autoprune.tracking import make_tracker

        return make_tracker(self.options.tracker, self.run_dir)

    def _args(self) -> dict[str, Any]:
        d = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.options.__dict__.items()
             if k != "latency_memo"}  # measurements, not an argument
        if d.get("storage"):
            d["storage"] = _redact(d["storage"])
        return d

    def _progress(self, record: rec.TrialRecord, result: SearchResult, executor: Executor) -> None:
        counts = _counts(result.trials)
        total = self.space.budget.trials or "?"
        m = record.measures
        detail = ""
        if record.state == "complete":
            detail = (f" acc {m.get('accuracy', float('nan')):.4f} lat x{m.get('latency_ratio', float('nan')):.2f}"
                      f" size x{m.get('size_ratio', float('nan')):.2f}")
        elif record.reason:
            detail = f" ({record.reason})"
        st = executor.status()
        print(
            f"[{counts['complete'] + counts['pruned']}/{total}] trial {record.number} {record.state}: "
            f"{record.summary() if record.recipe else ''}{detail} | done {counts['complete']} pruned "
            f"{counts['pruned']} failed {counts['failed']} | queued {st['queued']} running {st['running']} | "
            f"front {len(result.pareto_front)} HV {result.hypervolume:.3f}",
            file=sys.stderr, flush=True,
        )


def write_run_report(result: SearchResult) -> Path:
    """Write ``report/index.html`` and its PNG plots into the run directory."""
    from autoprune.report import write_report

    return write_report(
        result.run_dir, records=result.trials, front_numbers=[r.number for r in result.pareto_front],
        objectives=[(o.name, o.direction) for o in result.space.objectives], baseline=result.baseline,
        hypervolume_history=hypervolume_over_trials(result), hypervolume=result.hypervolume,
        knee_number=result.knee.number if result.knee else None, title=f"autoprune search: {result.study_name}",
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


def _front_rows(result: SearchResult) -> list[dict[str, Any]]:
    return result.to_dict()["front"]


def _finite(measures: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe measures: NaN (e.g. latency of a stopped trial) becomes None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in measures.items()}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for dist in ("autoprune", "torch", "torch-pruning", "optuna", "ray", "flaml", "neptune"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _yaml_dump(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _quiet(fn: Any, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return fn(*args)


def search(space: SearchSpace | str | Path | None = None, *, options: RunOptions | None = None,
           **overrides: Any) -> SearchResult:
    """Search pruning recipes; return every trial and the Pareto front.

    Args:
        space: a :class:`SearchSpace`, or the path of a space YAML (default:
            ``search_spaces/default.yaml``).
        options: how to run (run directory, storage, executor, tracker).
        **overrides: space fields to override: ``task``, ``trials``, ``seed``, ``backend``,
            ``sampler``, ``trial_pruner``.

    Example:
        >>> import autoprune
        >>> result = autoprune.search("search_spaces/default.yaml", trials=4,
        ...                           options=autoprune.RunOptions(out="runs/demo"))  # doctest: +SKIP
        >>> result.hypervolume, [r.number for r in result.pareto_front]  # doctest: +SKIP
    """
    if not isinstance(space, SearchSpace):
        space = load_space(space if space is not None else "default")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        space = space.with_overrides(**overrides)
    options = options or RunOptions.for_space(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress line says what matters
    return _Search(space, options).run()


def open_run(run_dir: str | Path) -> SearchResult:
    """Reopen a finished (or interrupted) run directory: its trials, front and hypervolume."""
    run_dir = Path(run_dir)
    meta_path = run_dir / RUN_FILE
    if not meta_path.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not an autoprune run directory (no {RUN_FILE}).")
    meta = json.loads(meta_path.read_text())
    try:
        study = optuna.load_study(study_name=meta["study_name"], storage=meta["storage"])
    except Exception as exc:
        raise ConfigError(f"cannot open the study of {str(run_dir)!r}: {type(exc).__name__}: {exc}") from None
    from autoprune.search._space import parse_space

    space = parse_space(study.user_attrs["space"], source=str(run_dir / "space.yaml"))
    records = [rec.record_from_frozen(t) for t in study.get_trials(deepcopy=False)]
    baseline = study.user_attrs.get("baseline", {})
    front, hv, knee, reference = compute_front(space, baseline, records)
    return SearchResult(run_dir=run_dir, study_name=meta["study_name"], storage=meta["storage"], space=space,
                        baseline=baseline, trials=records, pareto_front=front, hypervolume=hv, knee=knee,
                        reference_point=reference, data_dir=meta.get("data_dir"))
