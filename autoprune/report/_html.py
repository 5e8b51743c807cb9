"""The page around the tables and plots: head, the run in one line, how the models were
measured, the dense model and the search's progress."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from autoprune.measures import MEASURES, human_bytes, number
from autoprune.report._values import fmt, recipe_summary

if TYPE_CHECKING:
    from autoprune.report._data import ReportData

__all__ = ["CSS", "header", "notes", "summary", "measured", "latency_rows", "task_batch_size"]

# the dense model's own measures: those a baseline holds under their own name
_BASELINE_ROWS = tuple(name for name, m in MEASURES.items() if m.baseline == name)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 82rem;
       padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1rem; } p.lead { color: #444; margin-top: .3rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .88rem; }
th, td { border: 1px solid #ddd; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.knee td { background: #fff4e5; } .knee-tag { color: #d62728; font-weight: 600; font-size: .8rem; }
table.pick tr.first td { border-top: 2px solid #999; } td.budget { background: #f9f9f9; font-weight: 600; }
code.cmd { font-size: .8rem; background: #f4f6f8; padding: .15rem .3rem; border-radius: 3px; user-select: all;
       overflow-wrap: anywhere; } code.cmd .opt { white-space: nowrap; }
.note { color: #8a5a00; } .muted { color: #777; font-size: .82rem; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.side { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
#interactive-front { width: 100%; }
code { font-size: .85rem; }
"""


def header(data: ReportData) -> str:
    """Title, a table of contents and the run in one paragraph."""
    counts = Counter(r.state for r in data.records)
    objectives = ", ".join(f"<code>{escape(n)}</code> ({'max' if d == 'max' else 'min'})" for n, d in data.objectives)
    constraints = ", ".join(f"<code>{escape(str(c))}</code>" for c in data.constraints) or "none"
    base = data.baseline
    dense = []
    acc = number(base.get("accuracy"))
    if math.isfinite(acc):
        dense.append(f"{acc * 100:.2f} %")
    size = number(base.get("size_bytes"))
    if math.isfinite(size):
        dense.append(human_bytes(size))
    lat = number(base.get("latency_ms"))
    if math.isfinite(lat):
        dense.append(f"{lat:.3g} ms")
    task = f"task <code>{escape(data.task)}</code> · " if data.task else ""
    parts = [
        f"{task}objectives {objectives} · constraints {constraints}",
        f"{len(data.records)} trials: {counts.get('complete', 0)} complete, {counts.get('pruned', 0)} stopped early, "
        f"{counts.get('failed', 0)} failed · front {len(data.front)} models"
        + (f" · dense model {', '.join(dense)}" if dense else ""),
    ]
    sections = [("pick", "Pick a model"), ("plots", "Pareto front"), ("front", "Front table"),
                ("stopped", "Stopped early"), ("failed", "Failed"), ("measured", "How measured"),
                ("progress", "Search progress")]
    absent = {"stopped": counts.get("pruned", 0) == 0, "failed": counts.get("failed", 0) == 0}
    nav = " ".join(f'<a href="#{a}">{t}</a>' for a, t in sections if not absent.get(a))
    return (f"<h1>{escape(data.title)}</h1><p class=\"lead\">{'<br>'.join(parts)}</p><nav>{nav}</nav>")


def notes(items: list[str]) -> str:
    if not items:
        return ""
    return '<h2>Notes</h2><ul class="note">' + "".join(f"<li>{escape(n)}</li>" for n in items) + "</ul>"


def summary(data: ReportData) -> str:
    """Counts by state, the hypervolume and the knee."""
    counts = Counter(r.state for r in data.records)
    rows = [
        ("trials", str(len(data.records))),
        ("complete", str(counts.get("complete", 0))),
        ("pruned (stopped early)", str(counts.get("pruned", 0))),
        ("failed", str(counts.get("failed", 0))),
    ]
    for state in sorted(set(counts) - {"complete", "pruned", "failed"}):
        rows.append((state, str(counts[state])))
    hv = number(data.hypervolume)
    rows.append(("hypervolume", f"{hv:.6g}" if math.isfinite(hv) else "n/a"))
    knee = data.knee
    rows.append(("knee", f"#{knee.number}: {recipe_summary(knee.recipe or {})}" if knee is not None else "none"))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _setting(latency: Any, name: str, default: Any) -> Any:
    if isinstance(latency, Mapping):
        return latency.get(name, default)
    return getattr(latency, name, default)


def task_batch_size(task: str | None) -> int | None:
    """A built-in task's benchmark batch size (the latency batch when the space sets none).
    Only built-in tasks are asked: a report never imports code named in a run directory."""
    from autoprune.errors import AutopruneError
    from autoprune.tasks import BUILTIN_TASKS, get_task

    if task not in BUILTIN_TASKS:
        return None
    try:
        return int(get_task(task).benchmark_batch_size)
    except AutopruneError:  # e.g. a data directory missing on this machine
        return None


def latency_rows(latency: Any, task: str | None) -> list[tuple[str, str]]:
    """The latency settings as ``(setting, value)`` rows (``latency`` may be a
    ``LatencyConfig``, a mapping or None for the defaults)."""
    from autoprune.measure import LatencyConfig

    default = LatencyConfig()
    latency = default if latency is None else latency
    device = str(_setting(latency, "device", "cpu") or "cpu")
    batch = _setting(latency, "batch_size", None)
    if batch is None:
        resolved = task_batch_size(task)
        batch_text = (f"{resolved} (the task's benchmark batch size)" if resolved is not None
                      else "the task's benchmark batch size")
    else:
        batch_text = str(batch)
    return [
        ("device", device.upper() if device == "cpu" else device),
        ("torch threads", str(_setting(latency, "threads", default.threads))),
        ("batch size", batch_text),
        ("warm-up runs", str(_setting(latency, "warmup", default.warmup))),
        ("repeats", f"{_setting(latency, 'repeats', default.repeats)} (the median is reported)"),
        ("ratio", "each trial is timed beside the dense model in its own process, calls interleaved; "
                  "the latency ratio compares that pair"),
    ]


def _dense_cell(name: str, value: Any) -> str:
    text = fmt(name, value)
    unit = MEASURES[name].unit
    return f"{text} {unit}" if unit in ("ms", "s") and text != "n/a" else text


def measured(data: ReportData) -> str:
    """How latency and size were measured, and the dense model's own measures."""
    lat = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in latency_rows(data.latency, data.task))
    base = "".join(
        f'<tr><th>{escape(name)}</th><td class="num">{escape(_dense_cell(name, data.baseline.get(name)))}</td></tr>'
        for name in _BASELINE_ROWS
    )
    size = ("<p><b>Size</b> is the <code>state_dict</code> file <code>torch.save</code> writes "
            "(<code>autoprune export --format state_dict</code>): channel-pruned models are smaller tensors; "
            "unstructured and N:M models are packed (non-zero values and their positions), which only this "
            "format keeps. Their ONNX and <code>torch_export</code> files store every zero.</p>")
    return (f'<h2 id="measured">How the models were measured</h2><div class="side">'
            f"<div><h3>Latency</h3><table>{lat}</table></div>"
            f"<div><h3>Dense model</h3><table>{base}</table></div></div>{size}")
