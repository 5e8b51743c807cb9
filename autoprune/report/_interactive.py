"""The interactive front: the Pareto plot again, with the recipe and measures on hover.

Built with plotly when it is installed (``pip install 'autoprune[report]'``); without it
the page says how to get it and the PNG stays the whole story. The plotly.js bundle is
written beside ``index.html`` (``plotly.min.js``) and loaded from there, so the page
works offline and the folder can be copied anywhere as it is.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from autoprune._io import atomic_path
from autoprune.report._axes import clamp
from autoprune.report._cells import accuracy_text, latency_text, size_text
from autoprune.report._data import CATEGORIES, Point, ReportData
from autoprune.report._figures import FRONT, GREY, KNEE
from autoprune.report._pick import export_command
from autoprune.report._values import recipe_summary

__all__ = ["PLOTLY_JS", "INSTALL_HINT", "interactive_front"]

PLOTLY_JS = "plotly.min.js"
INSTALL_HINT = ("The interactive front needs plotly: pip install 'autoprune[report]' (or plotly), then "
                "autoprune report RUN_DIR.")
DIV_ID = "interactive-front"

_STYLE = {
    "stopped": {"symbol": "triangle-down-open", "color": GREY, "size": 8, "name": "stopped early"},
    "infeasible": {"symbol": "x-thin-open", "color": GREY, "size": 8, "name": "infeasible"},
    "feasible": {"symbol": "circle", "color": "#c7c7c7", "size": 8, "name": "feasible, dominated"},
    "front": {"symbol": "circle", "color": FRONT, "size": 11, "name": "Pareto front"},
}
_EDGE = {(-1, 0): "triangle-left", (1, 0): "triangle-right", (0, -1): "triangle-down", (0, 1): "triangle-up"}


def interactive_front(data: ReportData, out_dir: Path) -> tuple[str | None, str | None]:
    """``(html, None)``: a ``<div>`` and its scripts to place in the page, with
    ``plotly.min.js`` written into ``out_dir``; ``(None, reason)`` without plotly or
    without a point to show."""
    try:
        import plotly
        import plotly.io as pio
        from plotly.offline import get_plotlyjs
    except ImportError:
        (out_dir / PLOTLY_JS).unlink(missing_ok=True)  # a bundle left by an earlier report
        return None, INSTALL_HINT
    if not any(p.category != "stopped" for p in data.points):
        return None, "No complete trial to show."
    fig = _figure(data)
    _write_bundle(out_dir / PLOTLY_JS, get_plotlyjs())
    div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=DIV_ID,
                      config={"displaylogo": False, "responsive": True,
                              "toImageButtonOptions": {"filename": "pareto"}})
    return (f'<script src="{PLOTLY_JS}"></script><!-- plotly.js {escape(plotly.__version__)} -->\n{div}', None)


def _write_bundle(target: Path, bundle: str) -> None:
    """Write plotly.js unless the same bundle is there already (4-5 MB: not at every report).
    Its banner names its version, so size and first bytes tell bundles apart."""
    data = bundle.encode("utf-8")
    if target.is_file() and target.stat().st_size == len(data):
        with target.open("rb") as f:
            if f.read(512) == data[:512]:
                return
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def _hover(p: Point, data: ReportData, edge: bool) -> str:
    r = p.record
    acc, drop = accuracy_text(r, data.baseline)
    lat, ms = latency_text(r, data.baseline)
    size, ratio, form = size_text(r, data.baseline)
    what = {"front": "Pareto front", "feasible": "feasible, dominated", "infeasible": "infeasible",
            "stopped": "stopped early"}[p.category]
    if p.number == data.knee_number:
        what += ", knee"
    lines = [f"<b>#{p.number}</b> ({what})", escape(recipe_summary(r.recipe or {})),
             f"accuracy {acc} ({drop})", f"latency {lat}" + (f" ({ms})" if ms else ""),
             f"size {size}, {form}" + (f" ({ratio})" if ratio else "")]
    if p.category == "stopped" and r.reason:
        lines.append(escape(_wrap(str(r.reason))))
    if p.category == "front":
        lines.append(f"<i>{escape(export_command(data.run_dir, p.number))}</i>")
    if edge:
        lines.append("<i>beyond the axes: drawn at the edge</i>")
    return "<br>".join(lines)


def _wrap(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _range(limits: tuple[float, float], log: bool) -> list[float]:
    return [math.log10(limits[0]), math.log10(limits[1])] if log else list(limits)


def _log_ticks(limits: tuple[float, float]) -> dict[str, Any]:
    """Ticks at 1, 2 and 5 of each decade, written as plain numbers (0.1, 0.2, 0.5)."""
    lo, hi = limits
    ticks = [m * 10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10 ** e <= hi]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def _figure(data: ReportData) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    k = len(data.axes)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)] or [(-1, 0)]
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.08, vertical_spacing=0.14)
    shown: set[str] = set()  # legend entries already made (a category may miss a panel)

    def legend(group: str) -> bool:
        first = group not in shown
        shown.add(group)
        return first

    for n, (i, j) in enumerate(pairs):
        row, col = n // cols + 1, n % cols + 1
        xlim = (-0.5, max(p.number for p in data.points) + 0.5) if i < 0 else data.limits[i]
        ylim = data.limits[j]
        edge: dict[str, list] = {"x": [], "y": [], "text": [], "symbol": []}
        for category in CATEGORIES:
            xs, ys, texts, labels = [], [], [], []
            for p in data.plotted(category):
                x = float(p.number) if i < 0 else p.values[i]
                y = p.values[j]
                if not (math.isfinite(x) and math.isfinite(y)):
                    continue
                (cx, sx), (cy, sy) = clamp(x, xlim), clamp(y, ylim)
                if sx or sy:
                    edge["x"].append(cx)
                    edge["y"].append(cy)
                    edge["text"].append(_hover(p, data, True))
                    edge["symbol"].append(_EDGE[(sx, 0) if sx else (0, sy)])
                    continue
                xs.append(x)
                ys.append(y)
                texts.append(_hover(p, data, False))
                labels.append(f"#{p.number}" if category == "front" else "")
            if not xs:
                continue
            style = _STYLE[category]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="markers+text" if category == "front" else "markers", text=labels,
                textposition="top right", textfont={"size": 10, "color": "#0b3d6b"}, hovertext=texts,
                hovertemplate="%{hovertext}<extra></extra>", name=style["name"], legendgroup=category,
                showlegend=legend(category),
                marker={"symbol": style["symbol"], "color": style["color"], "size": style["size"],
                        "line": {"width": 1, "color": "black" if category == "front" else style["color"]}},
            ), row=row, col=col)
        if edge["x"]:
            fig.add_trace(go.Scatter(
                x=edge["x"], y=edge["y"], mode="markers", hovertext=edge["text"], cliponaxis=False,
                hovertemplate="%{hovertext}<extra></extra>", name="beyond the axes, at the edge",
                legendgroup="edge", showlegend=legend("edge"),
                marker={"symbol": edge["symbol"], "color": GREY, "size": 9, "opacity": 0.8},
            ), row=row, col=col)
        _decorate(fig, data, i, j, row, col, legend)
        xlog, ylog = i >= 0 and data.logs[i], data.logs[j]
        fig.update_xaxes(title_text="trial number" if i < 0 else data.axes[i].label, type="log" if xlog else None,
                         range=_range(xlim, xlog), row=row, col=col, **(_log_ticks(xlim) if xlog else {}))
        fig.update_yaxes(title_text=data.axes[j].label, type="log" if ylog else None,
                         range=_range(ylim, ylog), row=row, col=col, **(_log_ticks(ylim) if ylog else {}))
    fig.update_layout(template="plotly_white", height=430 * rows, margin={"l": 60, "r": 20, "t": 40, "b": 50},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
                      hoverlabel={"align": "left"}, font={"size": 11})
    fig.update_xaxes(title_font={"size": 11})
    fig.update_yaxes(title_font={"size": 11})
    return fig


def _decorate(fig: Any, data: ReportData, i: int, j: int, row: int, col: int, legend: Any) -> None:
    """The dense model, the knee and the constraint lines of one panel."""
    import plotly.graph_objects as go

    if i >= 0 and math.isfinite(data.dense[i]) and math.isfinite(data.dense[j]):
        fig.add_trace(go.Scatter(x=[data.dense[i]], y=[data.dense[j]], mode="markers", name="dense model",
                                 legendgroup="dense", showlegend=legend("dense"), hovertemplate="dense model<extra></extra>",
                                 marker={"symbol": "star", "size": 15, "color": "black"}), row=row, col=col)
    knee = next((p for p in data.plotted("front") if p.number == data.knee_number), None)
    if knee is not None:
        x = float(knee.number) if i < 0 else knee.values[i]
        fig.add_trace(go.Scatter(x=[x], y=[knee.values[j]], mode="markers", name="knee", legendgroup="knee",
                                 showlegend=legend("knee"), hoverinfo="skip",
                                 marker={"symbol": "circle-open", "size": 20, "color": KNEE, "line": {"width": 2}}),
                      row=row, col=col)
    for index, vertical in ((i, True), (j, False)):
        if index < 0:
            continue
        lo, hi = data.limits[index] or (math.nan, math.nan)
        for b in data.bounds[index]:
            if not lo <= b.value <= hi:
                continue
            far = hi if b.infeasible == "above" else lo
            line = {"line": {"color": KNEE, "dash": "dash", "width": 1.2}, "row": row, "col": col}
            shade = {"fillcolor": KNEE, "opacity": 0.06, "line_width": 0, "row": row, "col": col}
            if vertical:
                fig.add_vline(x=b.value, annotation_text=b.text, annotation_font_color=KNEE,
                              annotation_font_size=10, **line)
                fig.add_vrect(x0=min(b.value, far), x1=max(b.value, far), **shade)
            else:
                fig.add_hline(y=b.value, annotation_text=b.text, annotation_font_color=KNEE,
                              annotation_font_size=10, **line)
                fig.add_hrect(y0=min(b.value, far), y1=max(b.value, far), **shade)
