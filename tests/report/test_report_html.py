"""The HTML report from hand-made trial records (no training)."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

from autoprune.errors import ConfigError
from autoprune.measure import LatencyConfig
from autoprune.report import recipe_importances, write_report
from autoprune.report._interactive import INSTALL_HINT, PLOTLY_JS
from autoprune.search._records import TrialRecord

PNG = b"\x89PNG\r\n\x1a\n"
PLOTS = ("pareto.png", "hypervolume.png", "curves.png", "importances.png")
BASELINE = {"accuracy": 0.96, "params_total": 10_000, "size_bytes": 1_000, "flops": 20_000, "latency_ms": 2.0}
OBJECTIVES = [("accuracy", "max"), ("size_bytes", "min")]
EVIL = "<script>alert('pwn')</script> & \"quoted\""


def _complete(number: int, sparsity: float, criterion: str, accuracy: float, size: float) -> TrialRecord:
    return TrialRecord(
        number=number,
        state="complete",
        recipe={"sparsity": sparsity, "criterion": criterion},
        measures={"accuracy": accuracy, "size_bytes": size, "latency_ms": 1.5, "baseline_latency_ms": 2.5},
        curve=[[1, accuracy - 0.02], [2, accuracy]],
        feasible=True,
    )


def _records() -> list[TrialRecord]:
    return [
        _complete(0, 0.2, "magnitude_l1", 0.95, 800),
        _complete(1, 0.5, "random", 0.80, 500),  # dominated by #2
        _complete(2, 0.75, "magnitude_l1", 0.90, 250),
        _complete(3, 0.5, "taylor", 0.85, 500),  # dominated by #2
        _complete(4, 0.9, "taylor", 0.70, 100),
        _complete(5, 0.3, "random", 0.75, 700),  # dominated by #0
        TrialRecord(6, "pruned", {"sparsity": 0.95}, curve=[[1, 0.3], [2, 0.31]], reason="stopped at step 2"),
        TrialRecord(7, "failed", {"sparsity": 0.6}, reason=EVIL),
        TrialRecord(8, "failed", {"sparsity": 0.7}),
    ]


def _write(run_dir: Path, **overrides) -> Path:
    kwargs = dict(
        records=_records(), front_numbers=[0, 2, 4], objectives=OBJECTIVES, baseline=BASELINE,
        hypervolume_history=[0.1, 0.1, 0.3, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4], hypervolume=0.4, knee_number=2,
        constraints=["accuracy_drop <= 0.1"], latency=LatencyConfig(threads=2, warmup=5, repeats=20, batch_size=64),
        task="digits-mlp",
    )
    kwargs.update(overrides)
    return write_report(run_dir, **kwargs)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    had_pyplot = "matplotlib.pyplot" in sys.modules
    path = _write(tmp_path_factory.mktemp("run"), title="prune <digits> & co")
    # the report renders through the Agg canvas, never pyplot, so a user's backend is left alone
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    return path, path.read_text(encoding="utf-8")


def _row(html: str, number: int) -> str:
    match = re.search(rf'<tr id="trial-{number}"[^>]*>(.*?)</tr>', html)
    assert match, f"no front row for trial {number}"
    return match.group(1)


def test_writes_index_and_four_valid_pngs(full_report):
    path, html = full_report
    assert path.name == "index.html" and path.parent.name == "report"
    for name in PLOTS:
        assert (path.parent / name).read_bytes().startswith(PNG), name
        assert f'<img src="{name}"' in html
    assert "http://" not in html and "https://" not in html  # offline: no remote assets


def _pick_rows(html: str) -> list[tuple[str, str, str]]:
    """(budget, pick, trial) of each row of the pick table."""
    table = html[html.index('<table class="pick">'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr data-budget="([^"]+)" data-pick="([^"]+)"[^>]*>(.*?)</tr>', table)
    return [(b, p, (re.search(r'href="#trial-(\d+)"', body) or re.search(r"(#\d+)", body)).group(1))
            for b, p, body in rows]


def test_pick_table_answers_each_budget(full_report):
    path, html = full_report
    # drops: #0 1 point (95 % of 96 %), #2 6 points, #4 26 points; every latency ratio 0.6;
    # sizes 800, 250, 100 B; the space's constraint allows 10 points
    assert _pick_rows(html) == [
        ("0.5", "none", "#0"),                    # nothing within half a point: #0 is the closest
        ("1", "fastest and smallest", "0"),
        ("2", "fastest and smallest", "0"),
        ("10", "fastest", "0"),                   # a latency tie goes to the smaller drop
        ("10", "smallest", "2"),
    ]
    assert "the space's constraint</span><br><code>accuracy_drop &lt;= 0.1</code>" in html
    run_dir = path.parent.parent
    text = re.sub(r"<[^>]+>", "", html)  # as the browser shows (and copies) it
    assert f"autoprune export {run_dir} --trial 2 --format state_dict --output trial_2.pt" in text
    assert '<span class="opt">--trial 2</span>' in html  # wraps between options, never inside one
    assert "none of the front is within 0.5 points; the most accurate front model is #0 (drop 1.00 pts)" in html


def test_sections_come_in_the_order_a_user_picks_by(full_report):
    _, html = full_report
    marks = ['id="pick"', '<img src="pareto.png"', 'id="interactive-front"', 'id="front"', 'id="stopped"',
             'id="failed"', 'id="measured"', 'id="progress"', '<img src="curves.png"']
    positions = [html.index(m) for m in marks]
    assert positions == sorted(positions)


def test_stopped_trials_show_where_and_why(full_report):
    _, html = full_report
    row = re.search(r'<tr id="stopped-6">(.*?)</tr>', html).group(1)
    assert '<td class="num">2</td>' in row and "31.00 %" in row and "drop 65.00 pts" in row
    assert "stopped at step 2" in row


def test_latency_settings_are_shown(full_report, tmp_path):
    _, html = full_report
    for setting, value in (("device", "CPU"), ("torch threads", "2"), ("batch size", "64"), ("warm-up runs", "5"),
                           ("repeats", "20 (the median is reported)")):
        assert f"<tr><th>{setting}</th><td>{value}</td></tr>" in html
    defaults = _write(tmp_path, latency=None).read_text()
    assert "<tr><th>batch size</th><td>256 (the task&#x27;s benchmark batch size)</td></tr>" in defaults
    assert "<tr><th>torch threads</th><td>1</td></tr>" in defaults


def test_interactive_front_is_offline_with_the_recipe_on_hover(full_report):
    path, html = full_report
    pytest.importorskip("plotly")
    assert f'<script src="{PLOTLY_JS}"></script>' in html
    assert (path.parent / PLOTLY_JS).stat().st_size > 1_000_000  # the whole bundle, no CDN
    front = html[html.index('id="interactive-front"'):]
    assert "unstructured 0.75 magnitude_l1 uniform one_shot ft2@1xlr" in front
    assert "--trial 2 --format state_dict" in front


def test_the_plotly_bundle_is_written_once(tmp_path):
    pytest.importorskip("plotly")
    bundle = _write(tmp_path).parent / PLOTLY_JS
    first = bundle.stat().st_mtime_ns
    _write(tmp_path)
    assert bundle.stat().st_mtime_ns == first
    bundle.write_text("a bundle of another version")
    _write(tmp_path)
    assert bundle.read_text(encoding="utf-8").startswith("/**")


def test_without_plotly_the_page_says_how_to_get_the_interactive_front(tmp_path, monkeypatch):
    stale = tmp_path / "report" / PLOTLY_JS
    stale.parent.mkdir()
    stale.write_text("old bundle")
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly raises ImportError
    html = _write(tmp_path).read_text()
    assert INSTALL_HINT.replace("'", "&#x27;") in html and "<script" not in html
    assert not stale.exists() and (tmp_path / "report" / "pareto.png").exists()


def test_hover_text_is_escaped(tmp_path):
    pytest.importorskip("plotly")
    records = _records()
    records[6].reason = EVIL
    records[6].measures = {"accuracy": 0.93, "size_bytes": 700}
    html = _write(tmp_path, records=records).read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_front_table_lists_members_with_drops_ratios_and_size_format(full_report):
    _, html = full_report
    for number in (0, 2, 4):
        assert f"<td>#{number}" in _row(html, number)
    assert 'id="trial-1"' not in html and 'id="trial-3"' not in html
    knee = _row(html, 2)
    # 90 % against the dense 96 %: 6 points of drop; 250 B of the dense 1000 B; latency 1.5 / 2.5 ms
    assert '#2 <span class="knee-tag">knee</span>' in knee
    assert "90.00 %" in knee and "drop 6.00 pts" in knee and "0.25\u00d7 dense" in knee and "0.6\u00d7 dense" in knee
    assert "packed state_dict" in knee  # unstructured: size_bytes is the packed state_dict
    assert "unstructured 0.75 magnitude_l1 uniform one_shot ft2@1xlr" in knee
    assert "<td>yes</td>" in knee


def test_counts_hypervolume_and_knee_in_summary(full_report):
    _, html = full_report
    assert "<th>complete</th><td>6</td>" in html
    assert "<th>pruned (stopped early)</th><td>1</td>" in html
    assert "<th>failed</th><td>2</td>" in html
    assert "<th>hypervolume</th><td>0.4</td>" in html
    assert "<th>knee</th><td>#2: unstructured 0.75" in html


def test_text_is_escaped(full_report):
    _, html = full_report
    assert "<script>alert" not in html and "<digits>" not in html
    assert "&lt;script&gt;alert(&#x27;pwn&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    assert "<h1>prune &lt;digits&gt; &amp; co</h1>" in html
    assert "no reason recorded" in html  # the failed trial without a reason is listed too


def test_latency_ratio_uses_the_trials_own_baseline(tmp_path):
    html = _write(tmp_path, objectives=[("latency_ms", "min")], front_numbers=[0], knee_number=0).read_text()
    assert "0.6\u00d7 dense" in _row(html, 0)  # 1.5 ms against the 2.5 ms timed beside it, not BASELINE's 2.0


def test_three_objectives_draw_a_pairwise_grid(tmp_path):
    path = _write(tmp_path, objectives=[("accuracy", "max"), ("size_bytes", "min"), ("latency_ms", "min")])
    assert (path.parent / "pareto.png").read_bytes().startswith(PNG)
    assert "0.6\u00d7 dense" in _row(path.read_text(), 2)


def test_one_objective_and_too_few_trials_for_importances(tmp_path):
    records = _records()[:3]
    path = _write(tmp_path, records=records, objectives=[("accuracy", "max")], front_numbers=[0], knee_number=0,
                  hypervolume_history=[0.95, 0.95, 0.95], hypervolume=0.95)
    html = path.read_text()
    assert (path.parent / "pareto.png").read_bytes().startswith(PNG)
    assert not (path.parent / "importances.png").exists()
    assert "need at least 4 complete trials; this run has 3" in html


def test_all_failed_still_writes_a_report_and_drops_stale_plots(tmp_path):
    stale = tmp_path / "report" / "pareto.png"
    stale.parent.mkdir()
    stale.write_bytes(PNG + b"from an earlier report")
    records = [TrialRecord(n, "failed", {}, reason=f"out of memory in worker {n}") for n in range(3)]
    path = _write(tmp_path, records=records, front_numbers=[], knee_number=None, hypervolume_history=[],
                  hypervolume=0.0)
    html = path.read_text()
    assert not any((path.parent / name).exists() for name in PLOTS)
    assert "The front is empty" in html and "the Pareto plot is empty" in html
    assert "out of memory in worker 2" in html and "<th>failed</th><td>3</td>" in html


def test_no_records_at_all(tmp_path):
    path = _write(tmp_path, records=[], front_numbers=[], knee_number=None, hypervolume_history=[],
                  hypervolume=float("nan"))
    html = path.read_text()
    assert "<th>trials</th><td>0</td>" in html and "<th>hypervolume</th><td>n/a</td>" in html


def test_nan_and_missing_values_become_notes(tmp_path):
    records = _records()
    records[4].measures["accuracy"] = float("nan")
    records[5].measures = {"accuracy": None, "size_bytes": "garbage"}
    records[6].curve = [[1, float("nan")], ["x"], [2, 0.4]]
    path = _write(tmp_path, records=records, front_numbers=[0, 2, 4, 42], knee_number=42,
                  hypervolume_history=[0.1, float("nan"), 0.3], hypervolume=float("nan"),
                  baseline={"accuracy": float("nan")})
    html = path.read_text()
    for name in ("pareto.png", "hypervolume.png", "curves.png"):
        assert (path.parent / name).read_bytes().startswith(PNG), name
    assert "2 complete trial(s) lack a finite value for some objective and are not plotted: #4, #5." in html
    assert "Front members not among the records (left out): #42." in html
    assert "The knee #42 is not a front member among the records" in html
    assert "n/a" in _row(html, 4)


def test_bad_objectives_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"objectives must name at least one measure, but got objectives=\[\]"):
        _write(tmp_path, objectives=[])
    with pytest.raises(ConfigError, match=r"each objective must be \(name, 'min' \| 'max'\), but got .*'maximize'"):
        _write(tmp_path, objectives=[("accuracy", "maximize")])


def test_importances_find_the_field_each_objective_depends_on():
    # size depends on sparsity only, accuracy on the criterion only
    records = [
        TrialRecord(i, "complete", {"sparsity": s, "criterion": c, "steps": 1},
                    {"size_bytes": 1000 * (1 - s), "accuracy": {"taylor": 0.9, "random": 0.5}[c]})
        for i, (s, c) in enumerate([(0.1, "taylor"), (0.5, "random"), (0.9, "taylor"), (0.3, "random"),
                                    (0.7, "taylor"), (0.2, "random"), (0.8, "random"), (0.4, "taylor")])
    ]
    importances, notes = recipe_importances(records, OBJECTIVES)
    assert notes == []
    assert set(importances["size_bytes"]) == {"sparsity", "criterion"}  # steps never varies
    assert next(iter(importances["size_bytes"])) == "sparsity"
    assert next(iter(importances["accuracy"])) == "criterion"
    for values in importances.values():
        assert math.isclose(sum(values.values()), 1.0)
    assert recipe_importances(records, OBJECTIVES) == (importances, notes)  # seeded


def test_importances_skip_constant_objectives_and_fields():
    same = [TrialRecord(i, "complete", {"sparsity": 0.5}, {"accuracy": 0.9, "size_bytes": i}) for i in range(5)]
    assert recipe_importances(same, OBJECTIVES) == (
        {}, ["Parameter importances: no recipe field varies across the complete trials."])
    varied = [TrialRecord(i, "complete", {"sparsity": i / 10}, {"accuracy": 0.9, "size_bytes": i}) for i in range(5)]
    importances, notes = recipe_importances(varied, OBJECTIVES)
    assert list(importances) == ["size_bytes"]
    assert notes == ["Parameter importances for accuracy: every complete trial has the same value."]
