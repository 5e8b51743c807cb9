"""The Pareto trial pruner takes the decisions, with the reasons, recorded before its rules
were split (fixtures written by ``python -m benchmarks.tools.golden_trial_pruner``)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from autoprune.search.trial_pruners import ParetoTrialPruner, RunningTrial, TrialHistory

DATA = Path(__file__).parent / "data"
# the rule a stop's reason names
RULE_OF_REASON = {"cannot reach": "accuracy_constraint", "expected final": "hypervolume_gain",
                  "th percentile": "peer_percentile"}


def _history(stored: list[list[Any]]) -> list[TrialHistory]:
    return [TrialHistory(number, state, {int(k): v for k, v in curve.items()}, measures,
                         point=None if point is None else tuple(point), feasible=feasible)
            for number, state, curve, measures, point, feasible in stored]


def _running(t: dict[str, Any], step: int | None) -> RunningTrial:
    to_point = None
    if t["to_point"] is not None:
        base, axes = t["to_point"]["base"], [math.nan if a is None else a for a in t["to_point"]["axes"]]

        def to_point(final: float) -> list[float]:
            return [100 * (base - final), *axes]

    curve = {int(k): v for k, v in t["curve"].items() if step is not None and int(k) <= step}
    return RunningTrial(t["number"], curve, t["objectives"], n_steps=t["n_steps"], to_point=to_point)


def test_the_same_decisions_and_reasons_on_synthetic_studies() -> None:
    data = json.loads((DATA / "pareto_golden.json").read_text())
    seen, stops, wrong = 0, 0, []
    for i, scenario in enumerate(data["scenarios"]):
        pruner, history = ParetoTrialPruner(**scenario["options"]), _history(scenario["history"])
        for t in scenario["trials"]:
            for step, stop, reason in t["decisions"]:
                decision = pruner.decide(_running(t, step), history)
                seen, stops = seen + 1, stops + stop
                if (decision.stop, decision.reason) != (stop, reason):
                    wrong.append((i, t["number"], step, (stop, reason), (decision.stop, decision.reason)))
                elif stop:
                    assert decision.rule == next(r for k, r in RULE_OF_REASON.items() if k in reason)
                else:
                    assert decision.rule == ""
    assert (seen, stops) == (1559, 222)
    assert wrong == []


def _replay(run: dict[str, Any], setting: dict[str, Any], reference: list[float], max_drop: float) -> list[list[Any]]:
    """Every decision on a recorded run, trial after trial; a stopped trial joins the
    history as pruned (curve cut at the stop), the others as complete."""
    base = run["baseline_accuracy"]
    min_value = base - max_drop if setting.get("constraint") else None
    options = {k: v for k, v in setting.items() if k != "constraint"}
    pruner = ParetoTrialPruner(**options, min_value=min_value, reference=reference)
    history: list[TrialHistory] = []
    decisions: list[list[Any]] = []
    for number, t in enumerate(run["trials"]):
        curve = {int(s): v for s, v in t["curve"].items()}
        stop_at = None
        for step in sorted(curve):
            trial = RunningTrial(number, {k: v for k, v in curve.items() if k <= step}, t["objectives"],
                                 n_steps=t["n_steps"], to_point=lambda final: [100 * (base - final), math.nan, math.nan])
            decision = pruner.decide(trial, history)
            decisions.append([number, step, decision.stop, decision.reason])
            if decision.stop:
                stop_at = step
                break
        if stop_at is None:
            history.append(TrialHistory(number, "complete", curve, t["objectives"], point=t["point"],
                                        feasible=min_value is None or curve[max(curve)] >= min_value))
        else:
            history.append(TrialHistory(number, "pruned", {k: v for k, v in curve.items() if k <= stop_at},
                                        t["objectives"]))
    return decisions


RECORDED = json.loads((DATA / "pareto_golden_recorded.json").read_text())


@pytest.mark.parametrize("replay", RECORDED["replays"], ids=lambda r: f"run{r['run']}-setting{r['setting']}")
def test_the_same_decisions_and_reasons_on_recorded_searches(replay: dict[str, Any]) -> None:
    decisions = _replay(RECORDED["runs"][replay["run"]], RECORDED["settings"][replay["setting"]],
                        RECORDED["reference"], RECORDED["max_drop"])
    assert [d for d in decisions if d[2]] == replay["stops"]
    assert len(decisions) == replay["decisions"]
    assert hashlib.sha256(json.dumps(decisions, separators=(",", ":")).encode()).hexdigest() == replay["digest"]
