"""The tracker extension point: what the search controller reports while it runs."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["Tracker", "front_html"]


class Tracker:
    """Receives a search's configuration, trials and Pareto front; every hook is optional.

    The search controller is the only process that calls a tracker, so implementations
    need no locking and workers never hold credentials. The local record (study
    database, ``trials.csv``, ``pareto.json``, report) is written whatever a tracker
    does, so a tracker is a mirror, never the source of truth. The base class is the
    ``none`` tracker: every hook does nothing.

    Hooks, in the order the controller calls them:

    - :meth:`start` once, before the baseline;
    - :meth:`log_baseline` once, with the dense model's measures;
    - :meth:`log_trial` after every finished trial, :meth:`log_front` after the
      Pareto front was recomputed;
    - :meth:`log_file` for plots and exported files;
    - :meth:`finish` once, also when the search failed or was interrupted.

    Example:
        >>> class Printer(Tracker):
        ...     def log_trial(self, record):
        ...         print(record["number"], record["state"])
        >>> Printer().log_trial({"number": 3, "state": "pruned"})
        3 pruned
    """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def start(self, *, run_dir: Path, space: dict[str, Any], args: dict[str, Any], versions: dict[str, Any]) -> None:
        """A search begins in ``run_dir`` with this search space, CLI/API arguments and versions."""

    def log_baseline(self, measures: dict[str, Any]) -> None:
        """The dense baseline's measures (accuracy, params, size, FLOPs, latency)."""

    def log_trial(self, record: dict[str, Any]) -> None:
        """One finished trial.

        ``record`` keys: ``number`` (int), ``state`` (``complete``, ``pruned`` or
        ``failed``), ``reason`` (str or None), ``recipe`` (dict), ``curve`` (list of
        ``[step, value]``), ``measures`` (dict, may be empty), ``seconds`` (float),
        ``worker`` (str), ``attempts`` (int); optional ``feasible`` (bool or None).
        """

    def log_front(self, rows: list[dict[str, Any]], hypervolume: float, n_trials: int) -> None:
        """The current Pareto front (one row per trial on it), its hypervolume and the trials so far."""

    def log_file(self, key: str, path: Path) -> None:
        """A file of the run (a plot, an exported model) under ``key``."""

    def finish(self, status: str = "complete") -> None:
        """The search ended: ``complete``, ``failed`` or ``interrupted``."""

    def redact(self, text: str) -> str:
        """``text`` with any secret this tracker holds masked; used before logging an error."""
        return text


def front_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """An HTML table of Pareto-front rows, columns in order of first appearance.

    Example:
        >>> print(front_html([{"number": 3, "accuracy": 0.97}]))
        <table>
        <thead><tr><th>number</th><th>accuracy</th></tr></thead>
        <tbody>
        <tr><td>3</td><td>0.97</td></tr>
        </tbody>
        </table>
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(str(k) for k in row if str(k) not in columns)

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return format(value, ".6g")
        if isinstance(value, (Mapping, list, tuple)):
            return json.dumps(value, default=str)  # e.g. a row's full recipe
        return str(value)

    lines = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr></thead>", "<tbody>"]
    for row in rows:
        by_name = {str(k): v for k, v in row.items()}
        lines.append("<tr>" + "".join(f"<td>{html.escape(cell(by_name.get(c)))}</td>" for c in columns) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)
