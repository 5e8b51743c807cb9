"""Live progress on a terminal: bars for the baseline, the search and each running trial.

A trial on a real model takes minutes to hours; a line per finished trial leaves the
screen still meanwhile. :class:`LiveProgress` draws (with ``tqdm``, the ``progress``
extra) a bar for the baseline's training epochs, one for the search as a whole (trials
done of the budget, with tqdm's estimate of the time left) and one per running trial
(its fine-tune steps and latest accuracy), and prints the trial pruner's stop decisions
and each finished trial's line as they happen. Where stdout or stderr is not a terminal,
or tqdm is missing, :func:`make_progress` returns the plain
:class:`~autoprune.search.ProgressPrinter`.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from autoprune.search._events import (
    BaselineEpoch,
    BaselineReady,
    ProgressPrinter,
    SearchFinished,
    SearchStarted,
    TrialDecided,
    TrialFinished,
    TrialReported,
    TrialStarted,
)

__all__ = ["LiveProgress", "make_progress"]


def make_progress(stream: Any = None) -> ProgressPrinter:
    """Bars on a terminal, plain lines elsewhere (a file, a pipe, CI logs)."""
    stream = stream or sys.stderr
    live = (importlib.util.find_spec("tqdm") is not None and _isatty(sys.stdout) and _isatty(stream))
    return LiveProgress(stream) if live else ProgressPrinter(stream)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class LiveProgress(ProgressPrinter):
    """Progress bars on ``stream`` (a terminal); the lines of :class:`ProgressPrinter`
    are printed above the bars, so the scroll-back reads the same."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._baseline_bar: Any = None
        self._search_bar: Any = None
        self._trial_bars: dict[int, Any] = {}
        self._budget: int | None = None

    def _print(self, line: str) -> None:
        self._tqdm.write(line, file=self.stream or sys.stderr)

    def _bar(self, **kwargs: Any) -> Any:
        return self._tqdm(file=self.stream or sys.stderr, dynamic_ncols=True, **kwargs)

    def on_search_started(self, event: SearchStarted) -> None:
        super().on_search_started(event)
        budget = (event.space.get("budget") or {}).get("trials")
        self._budget = int(budget) if budget else None

    def on_baseline_epoch(self, event: BaselineEpoch) -> None:
        if self._baseline_bar is None:
            self._baseline_bar = self._bar(total=event.epochs, desc=f"{self._baseline}: training", unit="epoch",
                                           leave=False)
        self._baseline_bar.update(event.epoch - self._baseline_bar.n)
        self._baseline_bar.refresh()  # epochs are seconds to hours apart: show each one

    def on_baseline_ready(self, event: BaselineReady) -> None:
        if self._baseline_bar is not None:
            self._baseline_bar.close()
            self._baseline_bar = None
        super().on_baseline_ready(event)
        # the search bar: trials finished (complete or stopped) of the budget, with the time left
        self._search_bar = self._bar(total=self._budget, desc="search", unit="trial", position=0)

    def on_trial_started(self, event: TrialStarted) -> None:
        total = None if event.epochs is None else event.epochs + 1  # step 0: right after pruning
        self._trial_bars[event.number] = self._bar(
            total=total, desc=f"trial {event.number} {event.recipe.summary()}"[:60], unit="step", leave=False,
            position=1 + len(self._trial_bars))

    def on_trial_reported(self, event: TrialReported) -> None:
        bar = self._trial_bars.get(event.number)
        if bar is not None:
            bar.update(event.step + 1 - bar.n)
            bar.set_postfix_str(f"acc {float(event.metrics.get('accuracy', float('nan'))):.4f}")

    def on_trial_decided(self, event: TrialDecided) -> None:
        if event.stop:
            self._print(f"trial {event.number} stopped at step {event.step}: {event.reason}")

    def on_trial_finished(self, event: TrialFinished) -> None:
        bar = self._trial_bars.pop(event.number, None)
        if bar is not None:
            bar.close()
        super().on_trial_finished(event)
        if self._search_bar is not None:
            done = sum(1 for r in event.result.trials if r.state in ("complete", "pruned"))
            if event.budget and self._search_bar.total != event.budget:
                self._search_bar.total = event.budget
            self._search_bar.update(done - self._search_bar.n)
            self._search_bar.set_postfix_str(
                f"front {len(event.result.pareto_front)} HV {event.result.hypervolume:.3f}")

    def on_search_finished(self, event: SearchFinished) -> None:
        for bar in [*self._trial_bars.values(), self._baseline_bar, self._search_bar]:
            if bar is not None:
                bar.close()
        self._trial_bars.clear()
        self._baseline_bar = self._search_bar = None
