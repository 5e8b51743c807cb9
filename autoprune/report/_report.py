"""``write_report``: one self-contained HTML page and its PNG plots for a search run."""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from autoprune._io import write_text_atomic
from autoprune.measures import MEASURES
from autoprune.report import _plots
from autoprune.report._importance import recipe_importances
from autoprune.report._values import (
    axis_label,
    baseline_value,
    check_objectives,
    finite,
    fmt,
    fmt_ratio,
    number,
    objective_value,
    ratio_to_baseline,
    recipe_summary,
    scale,
)

if TYPE_CHECKING:
    from autoprune.search._records import TrialRecord

__all__ = ["write_report", "REPORT_DIR", "PLOTS"]

REPORT_DIR = "report"
# file name -> heading, in the order the page shows them
PLOTS = {
    "pareto.png": "Pareto front",
    "hypervolume.png": "Hypervolume",
    "curves.png": "Intermediate curves",
    "importances.png": "Parameter importances",
}
# the dense model's own measures: those a baseline holds under their own name
_BASELINE_ROWS = tuple(name for name, m in MEASURES.items() if m.baseline == name)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 70rem;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.knee td { background: #fff4e5; }
.note { color: #8a5a00; } .muted { color: #777; }
img { max-width: 100%; border: 1px solid #eee; }
code { font-size: .85rem; }
"""


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
) -> Path:
    """Write ``run_dir/report/index.html`` and its plots; return the HTML path.

    The page is self-contained (inline CSS, images by relative path, no scripts or
    remote assets), so the folder can be copied off a cluster and opened anywhere. Bad
    or missing data (no complete trial, NaN measures, every trial failed) gives notes
    on the page, not an exception; a plot with nothing to draw is left out and its
    stale file from an earlier report removed.

    Args:
        run_dir: the run directory; the report goes to ``run_dir/report/``.
        records: every trial of the study.
        front_numbers: trial numbers on the Pareto front.
        objectives: ``(measure name, "min" | "max")`` pairs, in the study's order.
        baseline: the dense model's ``accuracy``, ``params_total``, ``size_bytes``,
            ``flops`` and ``latency_ms``.
        hypervolume_history: hypervolume of the front after each finished trial.
        hypervolume: hypervolume of the final front.
        knee_number: the front's knee trial, if any.
        title: heading of the page.

    Returns:
        Path of ``index.html``.

    Raises:
        ConfigError: when ``objectives`` is empty or a direction is not min / max.

    Example:
        >>> from autoprune.search._records import TrialRecord
        >>> r = TrialRecord(0, "complete", {"sparsity": 0.5},
        ...                 {"accuracy": 0.95, "size_ratio": 0.5}, feasible=True)
        >>> path = write_report(tmp, records=[r], front_numbers=[0],  # doctest: +SKIP
        ...     objectives=[("accuracy", "max"), ("size_ratio", "min")],
        ...     baseline={"accuracy": 0.97}, hypervolume_history=[0.4],
        ...     hypervolume=0.4, knee_number=0)
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

    complete = [r for r in records if r.state == "complete"]
    points: dict[int, tuple[float, ...]] = {}
    for r in complete:
        values = tuple(objective_value(r, name) for name, _ in objectives)
        if all(finite(v) for v in values):
            points[r.number] = tuple(scale(name, v) for (name, _), v in zip(objectives, values))
    unplotted = [r.number for r in complete if r.number not in points]
    if unplotted:
        notes.append(
            f"{len(unplotted)} complete trial(s) lack a finite value for some objective and are not "
            f"plotted: {', '.join(f'#{n}' for n in unplotted)}."
        )
    infeasible = {r.number for r in complete if r.feasible is False}
    base_point = tuple(scale(name, baseline_value(baseline, name)) for name, _ in objectives)

    importances, imp_notes = recipe_importances(records, objectives)
    notes.extend(imp_notes)
    curves = [(r.number, r.state, _curve_points(r.curve)) for r in records]
    reasons = {
        "pareto.png": _plots.plot_pareto(out / "pareto.png", objectives, points, front_numbers, infeasible,
                                         base_point, knee_number),
        "hypervolume.png": _plots.plot_hypervolume(out / "hypervolume.png", [number(v) for v in hypervolume_history]),
        "curves.png": _plots.plot_curves(out / "curves.png", curves, number(baseline.get("accuracy"))),
        "importances.png": _plots.plot_importances(out / "importances.png", importances),
    }
    for name, reason in reasons.items():
        if reason is not None:
            (out / name).unlink(missing_ok=True)  # a plot from an earlier report would be stale

    page = _page(
        title=title, records=records, front=front, objectives=objectives, baseline=baseline,
        hypervolume=number(hypervolume), knee=by_number.get(knee_number) if knee_number is not None else None,
        notes=notes, plot_reasons=reasons,
    )
    path = out / "index.html"
    write_text_atomic(path, page)
    return path


def _curve_points(curve: Any) -> list[tuple[float, float]]:
    """``[[step, accuracy], ...]`` with malformed or non-finite points dropped."""
    pts = []
    for p in curve or []:
        if isinstance(p, (list, tuple)) and len(p) >= 2:
            step, acc = number(p[0]), number(p[1])
            if finite(step) and finite(acc):
                pts.append((step, acc))
    return pts


# -- HTML --------------------------------------------------------------------------------


def _page(*, title, records, front, objectives, baseline, hypervolume, knee, notes, plot_reasons) -> str:
    counts = Counter(r.state for r in records)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="muted">Objectives: '
        + ", ".join(f"<code>{escape(n)}</code> ({'maximise' if d == 'max' else 'minimise'})" for n, d in objectives)
        + "</p>",
        _summary(records, counts, hypervolume, knee),
    ]
    if notes:
        parts.append('<h2>Notes</h2><ul class="note">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    parts += [_baseline_table(baseline), _front_table(front, objectives, baseline, knee)]
    parts.append("<h2>Plots</h2>")
    for name, heading in PLOTS.items():
        parts.append(f"<h3>{escape(heading)}</h3>")
        reason = plot_reasons.get(name)
        if reason is None:
            parts.append(f'<img src="{escape(name)}" alt="{escape(heading)}">')
        else:
            parts.append(f'<p class="note">{escape(reason)}</p>')
    parts.append(_failures(records))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary(records, counts: Counter, hypervolume: float, knee) -> str:
    rows = [
        ("trials", str(len(records))),
        ("complete", str(counts.get("complete", 0))),
        ("pruned (stopped early)", str(counts.get("pruned", 0))),
        ("failed", str(counts.get("failed", 0))),
    ]
    for state in sorted(set(counts) - {"complete", "pruned", "failed"}):
        rows.append((state, str(counts[state])))
    rows.append(("hypervolume", f"{hypervolume:.6g}" if finite(hypervolume) else "n/a"))
    rows.append(("knee", f"#{knee.number}: {recipe_summary(knee.recipe or {})}" if knee is not None else "none"))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<h2>Summary</h2><table>{body}</table>"


def _baseline_table(baseline: Mapping[str, Any]) -> str:
    body = "".join(
        f'<tr><th>{escape(name)}</th><td class="num">{escape(fmt(name, baseline.get(name)))}</td></tr>'
        for name in _BASELINE_ROWS
    )
    return f"<h2>Dense baseline</h2><table>{body}</table>"


def _front_table(front, objectives, baseline, knee) -> str:
    if not front:
        return '<h2>Pareto front</h2><p class="note">The front is empty: no feasible complete trial.</p>'
    head = ["trial", "recipe"]
    for name, direction in objectives:
        head += [axis_label(name, direction), f"{name} / baseline"]
    head.append("feasible")
    rows = []
    for r in front:
        is_knee = knee is not None and r.number == knee.number
        cells = [f"<td>#{r.number}{' (knee)' if is_knee else ''}</td>",
                 f"<td>{escape(recipe_summary(r.recipe or {}))}</td>"]
        for name, _ in objectives:
            value = objective_value(r, name)
            shown = fmt(name, value)
            cells.append(f'<td class="num">{escape(shown)}</td>')
            cells.append(f'<td class="num">{escape(fmt_ratio(ratio_to_baseline(r, name, baseline)))}</td>')
        feasible = {True: "yes", False: "no"}.get(r.feasible, "n/a")
        cells.append(f"<td>{feasible}</td>")
        attrs = f'id="trial-{r.number}"' + (' class="knee"' if is_knee else "")
        rows.append(f"<tr {attrs}>{''.join(cells)}</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f"<h2>Pareto front ({len(front)} trial{'s' if len(front) != 1 else ''})</h2>"
            f"<table><tr>{header}</tr>{''.join(rows)}</table>")


def _failures(records) -> str:
    failed = [r for r in records if r.state == "failed"]
    if not failed:
        return ""
    groups: dict[str, list[int]] = {}
    for r in failed:
        groups.setdefault(str(r.reason) if r.reason else "no reason recorded", []).append(r.number)
    items = "".join(
        f"<li>{escape(reason)} <span class=\"muted\">(trial{'s' if len(nums) > 1 else ''} "
        f"{escape(', '.join(f'#{n}' for n in nums))})</span></li>"
        for reason, nums in groups.items()
    )
    return f"<h2>Failed trials ({len(failed)})</h2><ul>{items}</ul>"

