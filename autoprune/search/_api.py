"""``run_search``: the Python entry point of a search."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import optuna

from autoprune.search._events import ReportWriter, SearchCallback, TrackerCallback
from autoprune.search._loop import SearchLoop
from autoprune.search._options import RunOptions
from autoprune.search._progress import make_progress
from autoprune.search._result import SearchResult
from autoprune.search._space import SearchSpace, load_space
from autoprune.search.trial_pruners import TrialPruner

if TYPE_CHECKING:
    from autoprune.search._executors import Executor
    from autoprune.tasks import Task
    from autoprune.tracking import Tracker

__all__ = ["run_search", "search"]


def run_search(
    space: SearchSpace | str | Path | None = None,
    *,
    options: RunOptions | None = None,
    tracker: str | Tracker | None = None,
    trial_pruner: str | Any | None = None,
    executor: str | Executor | None = None,
    callbacks: Sequence[SearchCallback] = (),
    task: str | Task | None = None,
    device: str | None = None,
    amp: str | None = None,
    **overrides: Any,
) -> SearchResult:
    """Search pruning recipes; return every trial and the Pareto front.

    Extension points take a registered name or an object of your own.

    Args:
        space: a :class:`SearchSpace`, or the path of a space YAML (default:
            ``search_spaces/default.yaml``).
        options: how to run (run directory, storage, executor, tracker).
        tracker: a name in :data:`autoprune.registry.TRACKERS` or a
            :class:`~autoprune.Tracker` object (default: ``options.tracker``). An object
            is wrapped so that its errors never stop the search.
        trial_pruner: a trial pruner name (or ``TrialPrunerConfig``) that replaces the
            space's, or a :class:`~autoprune.TrialPruner` object used as it is.
        executor: a name in :data:`autoprune.registry.EXECUTORS` or an
            :class:`~autoprune.Executor` object (default: ``options.executor``, else the
            space's ``executor`` section).
        callbacks: :class:`~autoprune.search.SearchCallback` objects that receive the
            search's events, after the report writer and before the tracker and the
            progress lines.
        task: the task: a name, ``pkg.mod:attr`` or ``path/file.py:attr`` (replaces the
            space's), or a task object such as a :class:`~autoprune.ModelTask` (the run
            then records it as ``python:<name>``; with Ray it is pickled to the workers).
        device: where trials train and evaluate: ``auto`` (the space's default: cuda:0
            when available, else cpu), ``cpu``, ``cuda``, ``cuda:N`` (default:
            ``options.device``, else the space's).
        amp: mixed precision of fine-tuning: ``bf16``, ``fp16`` (CUDA), ``none``
            (default: ``options.amp``, else the space's).
        **overrides: space fields to override: ``trials``, ``seed``, ``backend``,
            ``sampler``, ``latency_device``, ``models`` (``"all"``: keep every complete
            trial's model).

    Returns:
        The :class:`SearchResult`, as :func:`open_run` reads it back later.

    Raises:
        ConfigError: a bad space, option or name (the message lists what is allowed).

    Example:
        >>> import autoprune
        >>> result = autoprune.run_search("search_spaces/default.yaml", trials=4,
        ...                               options=autoprune.RunOptions(out="runs/demo"))  # doctest: +SKIP
        >>> result.hypervolume, [r.number for r in result.pareto_front]  # doctest: +SKIP
    """
    from autoprune.tracking import resolve_tracker

    from autoprune.tasks import Task

    if not isinstance(space, SearchSpace):
        space = load_space(space if space is not None else "default")
    given_task = task if isinstance(task, Task) else None
    if task is not None:  # an object is recorded by name: a run directory never holds code
        overrides["task"] = f"python:{task.name}" if given_task is not None else task
    given_pruner = trial_pruner if isinstance(trial_pruner, TrialPruner) else None
    if trial_pruner is not None and given_pruner is None:
        overrides["trial_pruner"] = trial_pruner
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        space = space.with_overrides(**overrides)
    options = options or RunOptions()
    if device is not None or amp is not None:
        options = dataclasses.replace(options, device=device or options.device,
                                      amp=amp if amp is not None else options.amp)
    if isinstance(executor, str):
        options = dataclasses.replace(options, executor=executor)
    given_executor = executor if executor is not None and not isinstance(executor, str) else None
    if given_executor is None and options.executor is not None and not isinstance(options.executor, str):
        given_executor = options.executor
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress line says what matters
    loop = SearchLoop(space, options, trial_pruner=given_pruner, executor=given_executor, task=given_task)
    the_tracker = resolve_tracker(options.tracker if tracker is None else tracker, loop.run_dir)
    # the report is written before the tracker uploads it; progress lines come last
    loop.callbacks = [ReportWriter(), *callbacks, TrackerCallback(the_tracker)]
    if options.progress:  # bars on a terminal, plain lines in a file or a pipe
        loop.callbacks.append(make_progress())
    return loop.run()


def search(space: SearchSpace | str | Path | None = None, *, options: RunOptions | None = None,
           **kwargs: Any) -> SearchResult:
    """Deprecated spelling of :func:`run_search` (``autoprune.search(...)``)."""
    warnings.warn("autoprune.search(...) is deprecated; call autoprune.run_search(...) instead.",
                  FutureWarning, stacklevel=2)
    return run_search(space, options=options, **kwargs)
