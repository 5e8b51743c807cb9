"""The search loop: one ask/tell loop in the driver process.

It is the only process that writes the study. Workers (in this process or on Ray)
receive a recipe and send back reports and results; what happens is told to the
callbacks as events (:mod:`autoprune.search._events`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import optuna

from autoprune import measure
from autoprune._io import write_text_atomic
from autoprune.baseline import baseline_cache_path
from autoprune.recipe import Recipe
from autoprune.pruning import timing_of
from autoprune.registry import BACKENDS, EXECUTORS
from autoprune.result import TrialStatus
from autoprune.search import _records as rec
from autoprune.search import _study
from autoprune.search._baseline import baseline_device, search_baseline
from autoprune.search._checks import check_devices, check_space_fits_model, check_task_picklable, preflight
from autoprune.search._events import (
    BaselineEpoch,
    BaselineReady,
    SearchCallback,
    SearchFinished,
    SearchStarted,
    TrialDecided,
    TrialFinished,
    TrialReported,
    TrialStarted,
    emit,
)
from autoprune.search._executors import Executor, ExecutorContext, TrialJob, TrialOutcome
from autoprune.search._interrupt import CtrlC
from autoprune.search._lock import RunLock
from autoprune.search._options import RunOptions
from autoprune.search._pareto import normalize
from autoprune.search._result import SearchResult, compute_front, feasible_front, record_point
from autoprune.search._rundir import clean_leftovers, default_storage, drop_models, save_trial_model, write_run_meta
from autoprune.search._space import SearchSpace, constraint_violations
from autoprune.search.trial_pruners import (
    NoTrialPruner,
    RunningTrial,
    TrialHistory,
    TrialPruner,
    make_trial_pruner,
)
from autoprune.tasks import get_task

__all__ = ["SearchLoop"]


@dataclass
class _Running:
    """A trial in flight, as the loop tracks it."""

    trial: optuna.Trial
    recipe: Recipe
    curve: list[list[float]] = field(default_factory=list)
    stop_reason: str = ""  # the trial pruner's, when it said stop


class SearchLoop:
    """One search of ``space`` run as ``options`` say, telling ``callbacks`` what happens.

    Args:
        space: what to search.
        options: how to run it.
        callbacks: receivers of the events, in order.
        trial_pruner: a trial pruner object to use instead of the space's.
        executor: an executor object to use instead of the one ``options`` name.
        task: a task object (e.g. a :class:`~autoprune.tasks.ModelTask`) to use instead of
            the one the space names.
    """

    def __init__(self, space: SearchSpace, options: RunOptions, callbacks: Sequence[SearchCallback] = (),
                 *, trial_pruner: Any = None, executor: Executor | None = None, task: Any = None) -> None:
        self.space, self.options, self.callbacks = space, options, list(callbacks)
        self.given_pruner, self.given_executor = trial_pruner, executor
        self.executor_config = options.executor_config(space)
        self.run_dir = Path(options.out) if options.out else Path("autoprune-runs") / space.name
        self.storage_url = options.storage or default_storage(self.run_dir)
        # every input is checked here, before the study exists and before anything is written
        preflight(space, options, self.executor_config, self.run_dir, self.storage_url,
                  given_executor=executor is not None)
        self.device, self.amp = options.device_settings(space)
        self.space = space = space.with_overrides(device=self.device, amp=self.amp or "none")  # as the run records it
        self.trial_device = check_devices(self.device, self.amp, space.latency.device, self.executor_config)
        self.data_dir = options.data_dir or space.data_dir
        self.given_task = task
        self.task = get_task(task if task is not None else space.task, seed=space.seed, data_dir=self.data_dir)
        if task is not None and self.executor_config.name == "ray" and executor is None:
            check_task_picklable(self.task)
        check_space_fits_model(space, self.task)
        self.running: dict[int, _Running] = {}
        self.ctrl_c = CtrlC()
        self.history: list[TrialHistory] = []  # finished trials as the trial pruner sees them
        self.front: list[rec.TrialRecord] = []  # the Pareto front as of the last finished trial
        self.latency_memo: measure.LatencyMemo | None = None  # the local executor's
        self._latencies_stored: set[str] = set()  # its measurements already in the study
        self.n_finished = self.n_failed = 0

    # -- setup ---------------------------------------------------------------------
    def _open(self) -> _study.StudyHandle:
        backend = BACKENDS.get(self.space.backend)
        handle = _study.open_study(self.space, self.storage_url, resume=self.options.resume,
                                   sampler=backend.study_sampler(self.space),
                                   pruner=self._trial_pruner(None).study_pruner())
        # a resumed search continues the sampler's stream instead of restarting it (which
        # would propose the recipes of the first trials again): seeded by the trials so far
        n = len(handle.study.get_trials(deepcopy=False))
        self.sampler_space = self.space.with_overrides(seed=(self.space.seed + n) % 2**32) if n else self.space
        handle.study.sampler = backend.study_sampler(self.sampler_space)
        write_run_meta(self.run_dir, study_name=self.space.name, storage=self.storage_url,
                       user_storage=self.options.storage is not None, data_dir=self.data_dir,
                       seed=self.space.seed, trials=self.space.budget.trials, task=self.space.task,
                       threads=max(1, int(self.executor_config.cpus_per_trial)))
        write_text_atomic(self.run_dir / "space.yaml", _yaml_dump(self.space.to_dict()))
        return handle

    def _trial_pruner(self, min_value: float | None) -> TrialPruner:
        """The user's trial pruner, or the space's (``min_value``: the accuracy the
        constraint needs, once the baseline is known)."""
        if self.given_pruner is not None:
            return self.given_pruner
        space = self.space
        return make_trial_pruner(space.trial_pruner, len(space.objectives), min_value=min_value,
                                 study_direction=space.directions[0], reference=space.hypervolume_reference)

    def _executor(self, trials: Sequence[optuna.trial.FrozenTrial]) -> Executor:
        memo = self.options.latency_memo if self.options.latency_memo is not None else measure.LatencyMemo()
        stored: dict[str, Any] = {}  # what a resumed study measured before
        for t in trials:
            stored.update(t.user_attrs.get(rec.LATENCIES, {}))
        memo.update(stored)
        ex = self.executor_config
        context = ExecutorContext(
            workers=ex.workers, address=ex.address, cpus_per_trial=ex.cpus_per_trial,
            gpus_per_trial=ex.gpus_per_trial, max_attempts=self.options.max_attempts,
            decisions=not isinstance(self._trial_pruner(None), NoTrialPruner),
            task=self.given_task if self.given_task is not None else (self.space.task, self.space.seed, self.data_dir),
            latency_memo=memo,
        )
        executor = self.given_executor or EXECUTORS.get(ex.name).create(context)
        if getattr(executor, "latency_memo", None) is memo:  # an in-process executor: keep its measurements
            self.latency_memo, self._latencies_stored = memo, set(stored)
        return executor

    def _started(self) -> SearchStarted:
        args = self.options.to_dict()
        ex = self.executor_config
        if self.given_executor is None:
            args["executor"] = ex.name
        args.update(workers=ex.workers, address=ex.address, cpus_per_trial=ex.cpus_per_trial,
                    gpus_per_trial=ex.gpus_per_trial)
        return SearchStarted(run_dir=self.run_dir, task_name=self.task.name, seed=self.space.seed,
                             space=self.space.to_dict(), args=args, versions=_versions(), resumed=self.options.resume)

    # -- the loop ------------------------------------------------------------------
    def run(self) -> SearchResult:
        """Run the search holding the run directory's lock (one writer per run directory)."""
        with RunLock(self.run_dir), self.ctrl_c:
            clean_leftovers(self.run_dir)  # what a SIGKILL during an atomic write left
            return self._run()

    def _run(self) -> SearchResult:
        handle = self._open()
        self.handle, study = handle, handle.study
        _study.fail_running(handle, "interrupted: the controller stopped")  # e.g. killed
        trials = study.get_trials(deepcopy=False)  # as left: the reruns and the latencies measured
        rerun = _study.interrupted_recipes(trials)
        emit(self.callbacks, self._started())
        status = "failed"
        executor: Executor | None = None
        try:
            baseline, self.base_measures = search_baseline(
                study, self.task, self.space, on_epoch=lambda done, total: emit(self.callbacks, BaselineEpoch(done, total)),
                device=baseline_device(self.device))
            self.trial_pruner = self._trial_pruner(self.space.min_accuracy(self.base_measures["accuracy"]))
            rec.write_json_atomic(self.run_dir / "baseline.json", self.base_measures)
            backend = BACKENDS.get(self.space.backend)(study, self.sampler_space, history=trials)
            executor = self._executor(trials)
            emit(self.callbacks, BaselineReady(self.base_measures, cached=baseline.cached,
                                               path=str(baseline_cache_path(self.task, self.space.seed)),
                                               epochs=self.task.baseline_epochs))
            self._load_history(study)
            executor.start(baseline, self.task)
            self._loop(handle, backend, executor, rerun)
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            _study.release_session(handle)
            _study.fail_running(handle, "interrupted: Ctrl-C")
            raise
        except Exception as exc:
            _study.fail_running(handle, f"interrupted: the controller stopped ({type(exc).__name__})")
            raise
        finally:
            self.running.clear()
            if executor is not None:
                executor.close()
            # without a baseline nothing can be scored: the callbacks get an empty result
            result = self._write_records(study) if hasattr(self, "base_measures") else self._empty_result()
            # once, at the end: drawn after every trial it cost each trial ~0.2 s (4 s of
            # plotly and optuna-dashboard imports on the first) inside the search's budget;
            # the dashboard shows each trial's curve live from its intermediate values
            if result.trials:
                _study.store_curves_figure(study, result.trials)
            emit(self.callbacks, SearchFinished(result, status))
        return result

    def _empty_result(self) -> SearchResult:
        return SearchResult(run_dir=self.run_dir, study_name=self.space.name, storage=self.storage_url,
                            space=self.space, baseline={}, trials=[], pareto_front=[], hypervolume=0.0, knee=None,
                            reference_point=self.space.hypervolume_reference, data_dir=self.data_dir,
                            task_spec=self.given_task)

    def _loop(self, handle: _study.StudyHandle, backend: Any, executor: Executor,
              rerun: list[tuple[int, Recipe]]) -> None:
        warm = [] if self.options.resume else list(self.space.warm_start_recipes())
        budget = self.space.budget
        deadline = time.monotonic() + budget.seconds if budget.seconds else math.inf
        exhausted = False
        while True:
            self.ctrl_c.check()
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
                if forced is None and _study.answer_repeat(handle, trial, recipe, self._done, self.space, backend) is not None:
                    now = self._write_records(handle.study)  # answered from the study: nothing runs
                    emit(self.callbacks, TrialFinished(now.trial(trial.number), now, budget.trials, 0, len(self.running)))
                    continue
                trial.set_user_attr(rec.RECIPE, recipe.to_dict())
                if rerun_of is not None:
                    trial.set_user_attr(_study.RERUN_OF, rerun_of)
                self.running[trial.number] = _Running(trial, recipe)
                emit(self.callbacks, TrialStarted(trial.number, recipe, rerun_of,
                                                  timing_of(recipe).training_length(recipe, self.task)))
                executor.submit(self._job(trial.number, recipe))
            if executor.pending() == 0:
                break
            for outcome in executor.wait(self._decide):
                self._finish(handle.study, backend, outcome, executor)

    def _job(self, number: int, recipe: Recipe) -> TrialJob:
        from autoprune._paths import cache_dir

        return TrialJob(
            number=number, recipe=recipe, seed=self.space.seed + number,
            threads=max(1, int(self.executor_config.cpus_per_trial)),
            latency=self.space.latency,
            cache_dir=str(cache_dir() / "sensitivity"),
            # Ray workers map it to the GPU they were given (see autoprune.search._ray)
            device=self.device if self.executor_config.name == "ray" else self.trial_device, amp=self.amp,
        )

    def _decide(self, number: int, step: int, metrics: dict[str, float]) -> bool:
        """Trial pruning, decided in the controller after every fine-tune epoch."""
        self.ctrl_c.check()
        running = self.running[number]
        value = float(metrics["accuracy"])
        # a trial run again after its worker died reports from its first step again
        running.curve = [p for p in running.curve if p[0] < step] + [[step, value]]
        emit(self.callbacks, TrialReported(number, step, dict(metrics)))
        known = {k: float(v) for k, v in metrics.items() if k != "accuracy"}
        current = RunningTrial(number, {int(s): v for s, v in running.curve}, known,
                               n_steps=timing_of(running.recipe).training_length(running.recipe, self.task),
                               optuna_trial=running.trial, to_point=lambda final: self._point(known, final))
        decision = self.trial_pruner.decide(current, self.history)
        if decision.stop:
            running.stop_reason = decision.reason
        _study.store_curve(self.handle, number, [[step, value]])  # after the pruner's own report; live in the dashboard
        emit(self.callbacks, TrialDecided(number, step, decision.stop, decision.reason))
        return decision.stop

    def _point(self, known: dict[str, float], accuracy: float) -> np.ndarray:
        """A running trial's point on the front if it ended at ``accuracy``; NaN where a
        measure is taken only at the end (latency, size)."""
        base = self.base_measures
        measures = {o.name: None for o in self.space.objectives} | known | {
            "accuracy": accuracy, "accuracy_drop": base["accuracy"] - accuracy}
        return normalize(measures, base, list(self.space.objectives))

    # -- bookkeeping -----------------------------------------------------------------
    def _finish(self, study: optuna.Study, backend: Any, outcome: TrialOutcome, executor: Executor) -> None:
        running = self.running.pop(outcome.number)
        trial = running.trial
        result = outcome.result
        curve = [[s, v] for s, v in (result.curve if result else running.curve)]
        _study.store_curve(self.handle, outcome.number, curve,  # before the tell: a finished trial is read-only
                           state=result.status if result is not None else TrialStatus.FAILED)
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
            name = self.space.trial_pruner.name if self.given_pruner is None else (
                getattr(self.given_pruner, "name", None) or type(self.given_pruner).__name__)
            trial.set_user_attr(rec.REASON, f"stopped by the {name} trial pruner at step "
                                            f"{curve[-1][0] if curve else 0}{why}")
            backend.tell_stopped(trial, pruned=True)
        else:
            measures = result.measures()
            trial.set_user_attr(rec.MEASURES, _finite(measures))
            _study.store_constraints(self.handle, trial, [str(c) for c in self.space.constraints],
                                     constraint_violations(self.space, measures))
            if self.space.models == "all" or self._joins_front(outcome.number, result.recipe, measures):
                save_trial_model(self.run_dir, outcome.number, result, self.task.name)  # models: front: members
            self._store_latencies(trial)
            backend.tell_complete(trial, [float(measures[o.name]) for o in self.space.objectives], measures)
        now = self._write_records(study)
        record = now.trial(outcome.number)
        self.history.append(self._history(record))
        st = executor.status()
        emit(self.callbacks, TrialFinished(record, now, self.space.budget.trials, st["queued"], st["running"]))

    def _joins_front(self, number: int, recipe: Recipe, measures: dict[str, Any]) -> bool:
        """Whether a just-finished trial is on the front beside the current one; a trial
        off it now never enters it later, so its model need not be written."""
        candidate = rec.TrialRecord(number, TrialStatus.COMPLETE.value, recipe.to_dict(), measures=measures)
        front, _ = feasible_front(self.space, self.base_measures, [*self.front, candidate])
        return any(r is candidate for r in front)

    def _write_records(self, study: optuna.Study) -> SearchResult:
        trials = study.get_trials(deepcopy=False)
        self.n_finished, self.n_failed = _study.tally(trials)
        self._done = _study.finished_recipes(trials)
        records = [rec.record_from_frozen(t) for t in trials]
        front, hv, knee, reference = compute_front(self.space, self.base_measures, records)
        result = SearchResult(
            run_dir=self.run_dir, study_name=self.space.name, storage=self.storage_url, space=self.space,
            baseline=self.base_measures, trials=records, pareto_front=front, hypervolume=hv, knee=knee,
            reference_point=reference, data_dir=self.data_dir, task_spec=self.given_task,
        )
        if self.space.models == "front":  # a trial that left the front never returns to it
            drop_models(self.run_dir, keep={r.number for r in front})
        self.front = front
        rec.write_trials_csv(self.run_dir / "trials.csv", records)
        rec.write_json_atomic(self.run_dir / "pareto.json", result.to_dict())
        return result

    def _load_history(self, study: optuna.Study) -> None:
        """The trials already finished (a resumed study), as the trial pruner and the
        budget see them; writes the run's records as they stand."""
        records = self._write_records(study).trials
        self.history += [self._history(r) for r in records
                         if r.state in (TrialStatus.COMPLETE, TrialStatus.PRUNED)]

    def _history(self, record: rec.TrialRecord) -> TrialHistory:
        """A finished trial as the trial pruner sees it (``feasible`` set by compute_front)."""
        point = None
        if record.state == TrialStatus.COMPLETE and record.measures:
            point = tuple(record_point(record, self.base_measures, list(self.space.objectives)).tolist())
        objectives = {k: float(v) for k, v in record.measures.items()
                      if isinstance(v, (int, float)) and k != "accuracy" and math.isfinite(float(v))}
        return TrialHistory(record.number, TrialStatus(record.state), {int(s): float(v) for s, v in record.curve},
                            objectives, point, bool(record.feasible))

    def _store_latencies(self, trial: optuna.Trial) -> None:
        """Keep the local memo's new measurements with the trial, so that after a resume a
        model identical to one measured before scores identically."""
        # the stored keys are all in the memo, so equal sizes mean nothing new (most trials)
        if self.latency_memo is None or len(self.latency_memo) == len(self._latencies_stored):
            return
        new = {k: v for k, v in self.latency_memo.measured().items() if k not in self._latencies_stored}
        trial.set_user_attr(rec.LATENCIES, new)
        self._latencies_stored.update(new)


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
