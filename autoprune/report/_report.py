"""``write_report``: the HTML page and its PNG plots for a search run."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from autoprune._io import write_text_atomic
from autoprune.report import _html, _plots, _tables
from autoprune.report._data import ReportData, build_data, parse_constraints
from autoprune.report._figures import DPI
from autoprune.report._importance import recipe_importances
from autoprune.report._interactive import interactive_front
from autoprune.report._pareto_plot import plot_pareto
from autoprune.report._values import check_objectives, finite, number

if TYPE_CHECKING:
    from autoprune.search._records import TrialRecord

__all__ = ["write_report", "REPORT_DIR", "PLOTS"]

REPORT_DIR = "report"
# file name -> heading
PLOTS = {
    "pareto.png": "Pareto front",
    "hypervolume.png": "Hypervolume",
    "curves.png": "Intermediate curves",
    "importances.png": "Parameter importances",
}


def write_report(
    run_dir: Path,
    *,
    records: Sequence[TrialRecord],
    front_numbers: Sequence[int],
    objectives: Sequence[tuple[str, str]],
    baseline: Mapping[str, Any],
    hypervolume_history: Sequence[float],
    hypervolume: float,
    knee_number: int | None,
    title: str = "autoprune search",
    constraints: Sequence[Any] = (),
    latency: Any = None,
    task: str | None = None,
) -> Path:
    """Write ``run_dir/report/index.html`` and its plots; return the HTML path.

    The page opens with what a user picking a model needs: for each accuracy budget the
    fastest and the smallest front model with the command that exports it, then the
    Pareto plot focused on the feasible region, an interactive copy of it (when plotly
    is installed), every front model, the stopped trials and why, how latency and size
    were measured, and the search's progress. It needs no network: CSS is inline, the
    PNGs and ``plotly.min.js`` sit beside it, so the folder can be copied off a cluster
    and opened anywhere. Bad or missing data (no complete trial, NaN measures, every
    trial failed) gives notes on the page, not an exception; a plot with nothing to draw
    is left out and its stale file from an earlier report removed.

    Args:
        run_dir: the run directory; the report goes to ``run_dir/report/``. The export
            commands on the page name it as given.
        records: every trial of the study.
        front_numbers: trial numbers on the Pareto front.
        objectives: ``(measure name, "min" | "max")`` pairs, in the study's order.
        baseline: the dense model's ``accuracy``, ``params_total``, ``size_bytes``,
            ``flops`` and ``latency_ms``.
        hypervolume_history: hypervolume of the front after each finished trial.
        hypervolume: hypervolume of the final front.
        knee_number: the front's knee trial, if any.
        title: heading of the page.
        constraints: the space's constraints (``Constraint`` objects or
            ``"accuracy_drop <= 0.02"`` strings): drawn on the plots, and the accuracy
            ones added to the pick table's budgets.
        latency: the space's :class:`~autoprune.measure.LatencyConfig` (or a mapping
            with its fields); None shows the defaults.
        task: the task's name, shown on the page.

    Returns:
        Path of ``index.html``.

    Raises:
        ConfigError: when ``objectives`` is empty or a direction is not min / max.

    Example:
        >>> from autoprune.search._records import TrialRecord
        >>> r = TrialRecord(0, "complete", {"sparsity": 0.5},
        ...                 {"accuracy": 0.95, "size_ratio": 0.5}, feasible=True)
        >>> path = write_report(tmp, records=[r], front_numbers=[0],  # doctest: +SKIP
        ...     objectives=[("accuracy", "max"), ("size_bytes", "min")],
        ...     baseline={"accuracy": 0.97}, hypervolume_history=[0.4],
        ...     hypervolume=0.4, knee_number=0, constraints=["accuracy_drop <= 0.02"])
    """
    objectives = check_objectives(list(objectives))
    out = Path(run_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    records = list(records)
    by_number = {r.number: r for r in records}
    front_numbers = list(dict.fromkeys(front_numbers))  # keep order, drop repeats
    notes: list[str] = []
    missing = [n for n in front_numbers if n not in by_number]
    if missing:
        notes.append(f"Front members not among the records (left out): {', '.join(f'#{n}' for n in missing)}.")
    front = [by_number[n] for n in front_numbers if n in by_number]
    if knee_number is not None and knee_number not in {r.number for r in front}:
        notes.append(f"The knee #{knee_number} is not a front member among the records; it is not marked.")
        knee_number = None

    parsed = parse_constraints(list(constraints))
    data = build_data(
        title=title, run_dir=str(run_dir), records=records, front=front,
        knee=by_number.get(knee_number) if knee_number is not None else None, objectives=objectives,
        baseline=baseline, constraints=parsed, latency=latency, task=task, hypervolume=number(hypervolume),
        hypervolume_history=[number(v) for v in hypervolume_history], notes=notes,
    )
    importances, imp_notes = recipe_importances(records, objectives)
    notes.extend(imp_notes)
    reasons = {
        "pareto.png": plot_pareto(out / "pareto.png", data),
        "hypervolume.png": _plots.plot_hypervolume(out / "hypervolume.png", data.hypervolume_history),
        "curves.png": _plots.plot_curves(out / "curves.png", _curves(data), number(baseline.get("accuracy")),
                                         _accuracy_bar(data)),
        "importances.png": _plots.plot_importances(out / "importances.png", importances),
    }
    for name, reason in reasons.items():
        if reason is not None:
            (out / name).unlink(missing_ok=True)  # a plot from an earlier report would be stale
    interactive, why_not = interactive_front(data, out)
    path = out / "index.html"
    write_text_atomic(path, _page(out, data, reasons, interactive, why_not))
    return path


def _accuracy_bar(data: ReportData) -> float | None:
    """The lowest accuracy the constraints allow, or None."""
    from autoprune.search._constraints import min_accuracy

    base = number(data.baseline.get("accuracy"))
    return min_accuracy(data.constraints, base) if finite(base) else None


def _curves(data: ReportData) -> list[_plots.Curve]:
    front = {r.number for r in data.front}
    return [_plots.Curve(r.number, r.state, _curve_points(r.curve), r.number in front, r.feasible is not False)
            for r in data.records]


def _curve_points(curve: Any) -> list[tuple[float, float]]:
    """``[[step, accuracy], ...]`` with malformed or non-finite points dropped."""
    pts = []
    for p in curve or []:
        if isinstance(p, (list, tuple)) and len(p) >= 2:
            step, acc = number(p[0]), number(p[1])
            if finite(step) and finite(acc):
                pts.append((step, acc))
    return pts


def _img(out: Path, name: str, reasons: Mapping[str, str | None]) -> str:
    """The plot at 100 pixels per inch of its figure (the PNG holds more, for sharpness)."""
    reason = reasons.get(name)
    if reason is not None:
        return f'<p class="note">{escape(reason)}</p>'
    header = (out / name).read_bytes()[:24]  # PNG signature, IHDR: width and height, big-endian
    width = int.from_bytes(header[16:20], "big") * 100 // DPI
    return f'<img src="{escape(name)}" width="{width}" alt="{escape(PLOTS[name])}">'


def _page(out: Path, data: ReportData, reasons: Mapping[str, str | None], interactive: str | None, why_not: str | None) -> str:
    interactive_part = interactive if interactive is not None else f'<p class="muted">{escape(why_not or "")}</p>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(data.title)}</title>",
        f"<style>{_html.CSS}</style></head><body>",
        _html.header(data),
        _html.notes(data.notes),
        _tables.pick_table(data),
        '<h2 id="plots">Pareto front</h2>',
        _img(out, "pareto.png", reasons),
        "<h3>Interactive front</h3>",
        '<p class="muted">Hover a point for its recipe, measures and export command; drag to zoom, '
        "double-click to zoom out again.</p>",
        interactive_part,
        _tables.front_table(data),
        _tables.stopped_table(data.records, data),
        _tables.failed_list(data.records),
        _html.measured(data),
        '<h2 id="progress">Search progress</h2>',
        _html.summary(data),
        "<h3>Hypervolume</h3>",
        _img(out, "hypervolume.png", reasons),
        "<h3>Intermediate curves</h3>",
        _img(out, "curves.png", reasons),
        "<h3>Parameter importances</h3>",
        _img(out, "importances.png", reasons),
        "</body></html>\n",
    ]
    return "\n".join(p for p in parts if p)
