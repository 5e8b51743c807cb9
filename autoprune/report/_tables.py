"""The report's tables: the pick table, every front model, stopped and failed trials."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any, Sequence

from autoprune.measures import MEASURES, number
from autoprune.report._axes import accuracy_drop_points
from autoprune.report._cells import accuracy_text, drop_text, latency_text, size_text
from autoprune.report._pick import budgets, export_command, picks
from autoprune.report._values import fmt, objective_value, recipe_summary

if TYPE_CHECKING:
    from autoprune.report._data import ReportData
    from autoprune.search._records import TrialRecord

__all__ = ["pick_table", "front_table", "stopped_table", "failed_list"]

# objectives the fixed accuracy / latency / size columns already show
_SHOWN = {"accuracy", "accuracy_drop", "latency_ms", "latency_ratio", "size_bytes", "size_ratio"}


def _cell(main: str, *small: str, cls: str = "num") -> str:
    extra = "".join(f'<br><span class="muted">{escape(s)}</span>' for s in small if s)
    return f'<td class="{cls}">{escape(main)}{extra}</td>'


def _trial_cell(record: TrialRecord, data: ReportData, link: bool = True) -> str:
    """``#N`` (a link to its row of the front table), ``knee`` beside the knee."""
    knee = ' <span class="knee-tag">knee</span>' if record.number == data.knee_number else ""
    number = f'<a href="#trial-{record.number}">#{record.number}</a>' if link else f"#{record.number}"
    return f"<td>{number}{knee}</td>"


def _measure_cells(record: TrialRecord, data: ReportData) -> list[str]:
    acc, drop = accuracy_text(record, data.baseline)
    lat, ms = latency_text(record, data.baseline)
    size, ratio, form = size_text(record, data.baseline)
    return [_cell(acc, drop), _cell(lat, ms), _cell(size, ratio, form)]


_MEASURE_HEADS = ("accuracy", "latency", "size (file format)")


def command_html(command: str) -> str:
    """A command line that wraps only between its options (``--trial 7`` stays whole), and
    copies as one line."""
    head, *options = command.split(" --")
    parts = [escape(head)] + [f'<span class="opt">--{escape(o)}</span>' for o in options]
    return f'<code class="cmd">{" ".join(parts)}</code>'


def pick_table(data: ReportData) -> str:
    """For each accuracy budget, the fastest and the smallest front model."""
    head = "<h2 id=\"pick\">Pick a model</h2>"
    if not data.front:
        return head + '<p class="note">No feasible complete trial: there is no model to pick.</p>'
    base_acc = number(data.baseline.get("accuracy"))
    rows = picks(data.front, data.baseline, budgets(data.constraints, base_acc))
    body = []
    for n, pick in enumerate(rows):
        first = n == 0 or rows[n - 1].budget != pick.budget
        span = sum(1 for p in rows if p.budget == pick.budget)
        budget = ""
        if first:
            note = (f'<br><span class="muted">the space\'s constraint</span><br>'
                    f'<code>{escape(pick.budget.constraint)}</code>' if pick.budget.constraint else "")
            budget = f'<td rowspan="{span}" class="budget">{escape(pick.budget.label)}{note}</td>'
        attrs = f'data-budget="{pick.budget.points:g}" data-pick="{escape(pick.goal_text or "none")}"'
        if pick.record is None:
            closest = pick.closest
            why = (f"none of the front is within {pick.budget.points:g} points; the most accurate front model "
                   f"is #{closest.number} ({drop_text(accuracy_drop_points(closest, data.baseline))})" if closest is not None
                   else "no front model has an accuracy to compare")
            body.append(f'<tr {attrs} class="{"first" if first else ""}">{budget}'
                        f'<td colspan="7" class="note">{escape(why)}</td></tr>')
            continue
        r = pick.record
        command = export_command(data.run_dir, r.number)
        cells = [budget, f"<td><b>{escape(pick.goal_text)}</b></td>", _trial_cell(r, data),
                 f"<td>{escape(recipe_summary(r.recipe or {}))}</td>", *_measure_cells(r, data),
                 f"<td>{command_html(command)}</td>"]
        body.append(f'<tr {attrs} class="{"first" if first else ""}">{"".join(cells)}</tr>')
    header = "".join(f"<th>{h}</th>" for h in ("budget", "pick", "trial", "recipe", *_MEASURE_HEADS,
                                                "export (copy into a shell)"))
    intro = (
        "<p>Within each budget of accuracy drop from the dense model: the <b>fastest</b> front model (lowest "
        "latency ratio) and the <b>smallest</b> (fewest bytes). Sizes are those of the "
        "<code>state_dict</code> export (<code>--format state_dict</code>); unstructured and N:M models are "
        "stored <i>packed</i> (non-zero values and their positions only). Their <code>onnx</code> and "
        "<code>torch_export</code> files keep every zero and are about as large as the dense model.</p>"
    )
    return f'{head}{intro}<table class="pick"><tr>{header}</tr>{"".join(body)}</table>'


def front_table(data: ReportData) -> str:
    """Every front member, the knee highlighted."""
    if not data.front:
        return '<h2 id="front">Pareto front</h2><p class="note">The front is empty: no feasible complete trial.</p>'
    extra = [(name, d) for name, d in data.objectives if name not in _SHOWN]
    head = ["trial", "recipe", *_MEASURE_HEADS, *(escape(MEASURES[n].label(d)) if n in MEASURES else escape(n)
                                                  for n, d in extra), "feasible"]
    rows = []
    for r in data.front:
        cells = [_trial_cell(r, data, link=False), f"<td>{escape(recipe_summary(r.recipe or {}))}</td>",
                 *_measure_cells(r, data)]
        cells += [_cell(fmt(name, objective_value(r, name))) for name, _ in extra]
        cells.append(f"<td>{ {True: 'yes', False: 'no'}.get(r.feasible, 'n/a') }</td>")
        cls = ' class="knee"' if r.number == data.knee_number else ""
        rows.append(f'<tr id="trial-{r.number}"{cls}>{"".join(cells)}</tr>')
    n = len(data.front)
    example = export_command(data.run_dir, data.front[0].number)
    return (f'<h2 id="front">Pareto front ({n} trial{"s" if n != 1 else ""})</h2>'
            f'<p>No model here is beaten on every objective by another feasible one. Export any of them: '
            f'{command_html(example)} (another <code>--trial</code>, or '
            f'<code>--format onnx</code> / <code>torch_export</code>).</p>'
            f'<table class="front"><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{"".join(rows)}</table>')


def stopped_table(records: Sequence[TrialRecord], data: ReportData) -> str:
    """Trials the trial pruner stopped: where, at what accuracy, and why."""
    stopped = sorted((r for r in records if r.state == "pruned"), key=lambda r: r.number)
    if not stopped:
        return ""
    rows = []
    for r in stopped:
        step, acc = _last_point(r.curve)
        base = number(data.baseline.get("accuracy"))
        drop = drop_text((base - acc) * 100) if math.isfinite(acc) else ""
        rows.append(
            f'<tr id="stopped-{r.number}"><td>#{r.number}</td><td>{escape(recipe_summary(r.recipe or {}))}</td>'
            f'<td class="num">{escape(f"{step:g}" if math.isfinite(step) else "n/a")}</td>'
            + _cell(f"{acc * 100:.2f} %" if math.isfinite(acc) else "n/a", drop)
            + f'<td>{escape(str(r.reason) if r.reason else "no reason recorded")}</td></tr>'
        )
    header = "".join(f"<th>{h}</th>" for h in ("trial", "recipe", "stopped at step", "accuracy then", "reason"))
    return (f'<h2 id="stopped">Stopped early ({len(stopped)})</h2>'
            f'<p>The trial pruner ended these trials before their fine-tuning finished; they never enter the '
            f'front.</p><table class="stopped"><tr>{header}</tr>{"".join(rows)}</table>')


def _last_point(curve: Any) -> tuple[float, float]:
    for p in reversed(curve or []):
        if isinstance(p, (list, tuple)) and len(p) >= 2:
            step, acc = number(p[0]), number(p[1])
            if math.isfinite(acc):
                return step, acc
    return math.nan, math.nan


def failed_list(records: Sequence[TrialRecord]) -> str:
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
    return f'<h2 id="failed">Failed trials ({len(failed)})</h2><ul>{items}</ul>'
