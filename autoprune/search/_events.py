"""What the search loop tells the world: events, and the callbacks that receive them.

The loop emits an event at each step of a search; progress lines, the HTML report and
trackers are callbacks the CLI or the API attaches, and a user may attach their own::

    class Count(SearchCallback):
        def __init__(self):
            self.stopped = 0

        def on_trial_decided(self, event):
            self.stopped += event.stop

    autoprune.run_search(space, callbacks=[Count()])

Events in order: :class:`SearchStarted`, :class:`BaselineEpoch` while the baseline
trains (not when it comes from the cache), :class:`BaselineReady`, then per trial
:class:`TrialStarted`, :class:`TrialReported` / :class:`TrialDecided` after each
fine-tune epoch, :class:`TrialFinished`; :class:`SearchFinished` last (also when the
search failed or was interrupted).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from autoprune.recipe import Recipe
from autoprune.result import TrialStatus
from autoprune.search._records import TrialRecord

if TYPE_CHECKING:
    from autoprune.search._result import SearchResult
    from autoprune.tracking import Tracker

__all__ = [
    "SearchStarted",
    "BaselineEpoch",
    "BaselineReady",
    "TrialStarted",
    "TrialReported",
    "TrialDecided",
    "TrialFinished",
    "SearchFinished",
    "SearchCallback",
    "ProgressPrinter",
    "ReportWriter",
    "TrackerCallback",
    "emit",
]

log = logging.getLogger("autoprune.search")


@dataclass(frozen=True)
class SearchStarted:
    """The study is open; the baseline comes next."""

    run_dir: Path
    task_name: str
    seed: int
    space: dict[str, Any]
    args: dict[str, Any]
    versions: dict[str, str]
    resumed: bool = False


@dataclass(frozen=True)
class BaselineEpoch:
    """The dense baseline finished training epoch ``epoch`` of ``epochs`` (it was not cached)."""

    epoch: int
    epochs: int


@dataclass(frozen=True)
class BaselineReady:
    """The dense model's measures (accuracy, params, size, FLOPs, latency); ``cached``:
    its weights came from the cache file ``path`` rather than from training now;
    ``epochs``: the task's ``baseline_epochs`` (0: the starting weights, evaluated as given)."""

    measures: Mapping[str, float]
    cached: bool = False
    path: str = ""
    epochs: int | None = None


@dataclass(frozen=True)
class TrialStarted:
    """A trial was handed to a worker; it reports after pruning (step 0) and after each of
    its ``epochs`` fine-tune epochs (when a trial pruner listens)."""

    number: int
    recipe: Recipe
    rerun_of: int | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class TrialReported:
    """A running trial's metrics after fine-tune step ``step``."""

    number: int
    step: int
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class TrialDecided:
    """The trial pruner's verdict on that report."""

    number: int
    step: int
    stop: bool
    reason: str = ""


@dataclass(frozen=True)
class TrialFinished:
    """A trial is stored; ``result`` is the search as it stands now (front, hypervolume)."""

    record: TrialRecord
    result: SearchResult
    budget: int | None
    queued: int
    running: int

    @property
    def number(self) -> int:
        return self.record.number


@dataclass(frozen=True)
class SearchFinished:
    """``status``: ``complete``, ``failed`` or ``interrupted``."""

    result: SearchResult
    status: str


_HOOKS = {
    SearchStarted: "on_search_started",
    BaselineEpoch: "on_baseline_epoch",
    BaselineReady: "on_baseline_ready",
    TrialStarted: "on_trial_started",
    TrialReported: "on_trial_reported",
    TrialDecided: "on_trial_decided",
    TrialFinished: "on_trial_finished",
    SearchFinished: "on_search_finished",
}


class SearchCallback:
    """Receives a search's events; every hook is optional (the base does nothing).

    Hooks run in the loop's process, between trials: keep them quick. An exception in a
    hook stops the search (wrap a fragile one yourself; trackers are wrapped in
    :class:`~autoprune.tracking.SafeTracker`).
    """

    def on_search_started(self, event: SearchStarted) -> None: ...

    def on_baseline_epoch(self, event: BaselineEpoch) -> None: ...

    def on_baseline_ready(self, event: BaselineReady) -> None: ...

    def on_trial_started(self, event: TrialStarted) -> None: ...

    def on_trial_reported(self, event: TrialReported) -> None: ...

    def on_trial_decided(self, event: TrialDecided) -> None: ...

    def on_trial_finished(self, event: TrialFinished) -> None: ...

    def on_search_finished(self, event: SearchFinished) -> None: ...


def emit(callbacks: Sequence[SearchCallback], event: Any) -> None:
    """Hand ``event`` to every callback, in order."""
    hook = _HOOKS[type(event)]
    for callback in callbacks:
        getattr(callback, hook)(event)


class ProgressPrinter(SearchCallback):
    """Plain lines on stderr: the baseline (trained, or loaded from the cache) and one line
    after every trial. :class:`~autoprune.search._progress.LiveProgress` draws bars instead
    on a terminal."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream
        self._baseline = "dense baseline"

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stderr, flush=True)

    def on_search_started(self, event: SearchStarted) -> None:
        self._baseline = f"dense baseline of {event.task_name} (seed {event.seed})"

    def on_baseline_epoch(self, event: BaselineEpoch) -> None:
        if event.epoch == 1:  # training the baseline takes a while the first time: say what happens
            self._print(f"{self._baseline}: training {event.epochs} epochs (cached for later searches)")

    def on_baseline_ready(self, event: BaselineReady) -> None:
        self._print(self.baseline_line(event))

    def baseline_line(self, event: BaselineReady) -> str:
        acc = event.measures.get("accuracy", float("nan"))
        path = event.path
        home = str(Path.home())
        if path.startswith(home + "/"):
            path = "~" + path[len(home):]
        made = "evaluated as given (baseline_epochs 0)" if event.epochs == 0 else "trained"
        where = f"loaded from the cache {path}" if event.cached else f"{made} and cached in {path}"
        return f"{self._baseline}: {where}; accuracy {acc:.4f}"

    def on_trial_finished(self, event: TrialFinished) -> None:
        self._print(self.trial_line(event))

    @staticmethod
    def trial_line(event: TrialFinished) -> str:
        from autoprune.search._result import counts

        record, result = event.record, event.result
        n = counts(result.trials)
        m = record.measures
        detail = ""
        if record.state == TrialStatus.COMPLETE:
            detail = (f" acc {m.get('accuracy', float('nan')):.4f} lat x{m.get('latency_ratio', float('nan')):.2f}"
                      f" size x{m.get('size_ratio', float('nan')):.2f}")
        elif record.reason:
            detail = f" ({record.reason})"
        return (
            f"[{n['complete'] + n['pruned']}/{event.budget or '?'}] trial {record.number} {record.state}: "
            f"{record.summary() if record.recipe else ''}{detail} | done {n['complete']} pruned "
            f"{n['pruned']} failed {n['failed']} | queued {event.queued} running {event.running} | "
            f"front {len(result.pareto_front)} HV {result.hypervolume:.3f}"
        )


class ReportWriter(SearchCallback):
    """Writes ``report/index.html`` when a search completes."""

    def on_search_finished(self, event: SearchFinished) -> None:
        if event.status != "complete":
            return
        from autoprune.search._result import write_run_report

        try:
            write_run_report(event.result)
        except Exception as exc:  # the report is derived; the record is complete without it
            log.warning("writing the report failed: %s (run `autoprune report %s` to retry)", exc,
                        event.result.run_dir)


class TrackerCallback(SearchCallback):
    """Mirrors the search to a :class:`~autoprune.tracking.Tracker`."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def on_search_started(self, event: SearchStarted) -> None:
        self.tracker.start(run_dir=event.run_dir, space=event.space, args=event.args, versions=event.versions)

    def on_baseline_ready(self, event: BaselineReady) -> None:
        self.tracker.log_baseline(dict(event.measures))

    def on_trial_finished(self, event: TrialFinished) -> None:
        from autoprune.search._result import front_rows

        self.tracker.log_trial(event.record.to_dict())
        self.tracker.log_front(front_rows(event.result), event.result.hypervolume, len(event.result.trials))

    def on_search_finished(self, event: SearchFinished) -> None:
        from autoprune.search._result import front_rows

        result = event.result
        self.tracker.log_front(front_rows(result), result.hypervolume, len(result.trials))
        if event.status == "complete":
            for path in sorted((result.run_dir / "report").glob("*.*")):
                self.tracker.log_file(f"report/{path.stem}_{path.suffix[1:]}", path)
            for member in result.pareto_front:
                if result.model_path(member.number).exists():
                    self.tracker.log_file(f"models/trial_{member.number}", result.model_path(member.number))
        self.tracker.finish(event.status)
