"""Record the Pareto trial pruner's decisions on synthetic situations, as a test fixture.

Each scenario is a study as the pruner sees it: finished trials of varied curves (step 0
or not, NaN values, pruned and failed ones), sizes and latencies, 2 or 3 objectives,
and the pruner's options (percentiles, startup trials, peers, the accuracy constraint,
the hypervolume rule with and without ``size_slope``). Running trials of the same study
are then decided at every step of their curve; the fixture keeps each decision and its
reason. ``tests/search/test_trial_pruner_golden.py`` replays them: the pruner must take
the same decisions with the same reasons, byte for byte.

A case whose decision or reason depends on how the hypervolume is computed (Optuna's
WFG or moocore's, which round differently in the last bits) is left out, so the fixture
checks the rules, not a floating-point library.

Recorded searches (``python -m benchmarks.tools.replay_pruner record``) are replayed too,
trial by trial, with three pruner settings; that fixture keeps the stops in clear and a
digest of every decision with its reason.

Usage (from the repository root)::

    python -m benchmarks.tools.golden_trial_pruner --out tests/search/data/pareto_golden.json \\
        --recorded /tmp/autoprune-pruner-records/digits-mlp-0.json /tmp/autoprune-pruner-records/digits-mlp-1.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoprune.search import trial_pruners as tp
from autoprune.search.trial_pruners import _hypervolume

DENSE_PARAMS = 10_000
# objective sets: the measures a trial reports beside its curve, and whether latency is
# an objective (a third axis, measured only at the end)
KINDS = ("params", "both_params", "size_latency", "sparsity")


def _r(x: float) -> float:
    return round(float(x), 4)


def _trial(rng: random.Random, base: float, kind: str) -> dict[str, Any]:
    """One trial's full curve and measures (rounded so that the fixture stays small)."""
    sparsity = rng.uniform(0.3, 0.95)
    params = max(1, round(DENSE_PARAMS * (1 - sparsity)))
    final = base - 0.3 * sparsity ** 4 + rng.gauss(0, 0.005)
    start = final - rng.uniform(0.05, 0.6) * sparsity
    tau = rng.uniform(0.5, 2.5)
    n_steps = rng.randint(1, 6)
    first = 0 if rng.random() < 0.8 else 1
    curve = {k: _r(final - (final - start) * math.exp(-k / tau) + rng.gauss(0, 0.004))
             for k in range(first, n_steps + 1)}
    latency = (1 - sparsity) ** 0.8 + rng.gauss(0, 0.02)
    if kind == "params":
        measures = {"params_nonzero": params}
    elif kind == "both_params":
        measures = {"params_total": params + rng.randint(0, 50), "params_nonzero": params}
    elif kind == "size_latency":
        measures = {"size_bytes": 4 * params, "latency_ms": _r(latency)}
    else:
        measures = {"sparsity_achieved": _r(sparsity)}
    size_ratio = _r(params / DENSE_PARAMS)
    return {"curve": curve, "n_steps": n_steps, "measures": measures, "size_ratio": size_ratio,
            "latency_ratio": _r(latency), "sparsity": _r(sparsity)}


def _point(t: dict[str, Any], base: float, n_objectives: int, kind: str) -> list[float]:
    final = t["curve"][max(t["curve"])]
    size = 1 - t["sparsity"] if kind == "sparsity" else t["size_ratio"]
    axes = [t["latency_ratio"], size] if n_objectives == 3 else [size]
    return [_r(100 * (base - final)), *axes]


def _options(rng: random.Random, base: float, n_objectives: int, kind: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "percentile": rng.choice([0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 100.0, _r(rng.uniform(0, 100))]),
        "n_startup_trials": rng.randint(0, 4),
        "n_warmup_steps": rng.choice([0, 0, 1, 2]),
        "n_min_peers": rng.randint(1, 3),
        "margin": rng.choice([0.0, 0.005, 0.01, 0.02]),
        "min_value": _r(base - rng.choice([0.01, 0.03, 0.05])) if rng.random() < 0.5 else None,
        "directions": {"sparsity_achieved": "max"} if kind == "sparsity" else None,
        "min_hypervolume_gain": rng.choice([0.0, 0.001, 0.005, 0.02, 0.1]) if rng.random() < 0.6 else None,
        "n_neighbors": rng.randint(1, 4),
        "neighbor_percentile": rng.choice([0.0, 25.0, 50.0, 75.0, 100.0]),
        "size_slope": rng.random() < 0.5,
        "reference": [rng.choice([5.0, 10.0])] + [1.0] * (n_objectives - 1),
    }
    return options


def scenario(rng: random.Random) -> dict[str, Any]:
    """One study: the pruner's options, its finished trials and running trials to decide."""
    kind = rng.choice(KINDS)
    n_objectives = 3 if kind == "size_latency" and rng.random() < 0.8 else 2
    base = _r(rng.uniform(0.88, 0.98))
    options = _options(rng, base, n_objectives, kind)
    history = []
    for number in range(rng.choice([0, 2]) if rng.random() < 0.1 else rng.randint(3, 14)):
        t = _trial(rng, base, kind)
        state = rng.choices(["complete", "pruned", "running", "failed", "waiting"], [60, 28, 5, 5, 2])[0]
        curve, measures, point = dict(t["curve"]), dict(t["measures"]), None
        if state == "complete":
            point = _point(t, base, n_objectives, kind)
        else:
            keep = rng.randint(0, len(curve) - 1) if state != "failed" else rng.randint(0, len(curve))
            curve = dict(list(curve.items())[:keep]) if state != "pruned" or keep else dict(list(curve.items())[:1])
            measures.pop("latency_ms", None)  # measured at the end only
        if curve and rng.random() < 0.03:
            curve[rng.choice(list(curve))] = math.nan
        min_value = options["min_value"]
        feasible = (curve[max(curve)] >= min_value if min_value is not None and curve
                    else rng.random() < 0.9)
        history.append([number, state, {str(k): v for k, v in curve.items()}, measures, point, bool(feasible)])
    trials = []
    for _ in range(rng.randint(2, 6)):
        t = _trial(rng, base, kind)
        measures = {k: v for k, v in t["measures"].items() if k != "latency_ms"}
        if n_objectives == 3:
            axes: list[float | None] = [None, t["size_ratio"] if rng.random() < 0.8 else None]
        else:
            axes = [1 - t["sparsity"] if kind == "sparsity" else t["size_ratio"]]
        curve = dict(t["curve"])
        if rng.random() < 0.05:
            curve[rng.choice(list(curve))] = math.nan
        trials.append({
            "number": rng.choice([len(history), len(history) + 7]) if history or rng.random() < 0.5 else 0,
            "curve": {str(k): v for k, v in curve.items()},
            "objectives": measures,
            "n_steps": t["n_steps"] if rng.random() < 0.9 else None,
            "to_point": {"base": base, "axes": axes} if rng.random() < 0.9 else None,
        })
    return {"options": options, "history": history, "trials": trials}


# --- turning the stored form into the pruner's inputs (the test does the same) -------------


def history_of(stored: Sequence[list[Any]]) -> list[tp.TrialHistory]:
    return [tp.TrialHistory(number, state, {int(k): v for k, v in curve.items()}, measures,
                            point=None if point is None else tuple(point), feasible=feasible)
            for number, state, curve, measures, point, feasible in stored]


def to_point_of(stored: dict[str, Any] | None):
    if stored is None:
        return None
    base, axes = stored["base"], [math.nan if a is None else a for a in stored["axes"]]
    return lambda final: [100 * (base - final), *axes]


def running_of(t: dict[str, Any], step: int | None) -> tp.RunningTrial:
    curve = {int(k): v for k, v in t["curve"].items() if step is not None and int(k) <= step}
    return tp.RunningTrial(t["number"], curve, t["objectives"], n_steps=t["n_steps"],
                           to_point=to_point_of(t["to_point"]))


def pruner_of(options: dict[str, Any]) -> tp.ParetoTrialPruner:
    return tp.ParetoTrialPruner(**options)


def decide(pruner: tp.ParetoTrialPruner, trial: tp.RunningTrial,
           history: Sequence[tp.TrialHistory]) -> tuple[bool, str]:
    decision = pruner.decide(trial, history)
    return decision.stop, decision.reason


def _moocore_hypervolume(points: Any, reference: Sequence[float]) -> float:
    import moocore

    arr = np.asarray(points, dtype=float)
    ref = np.asarray(reference, dtype=float)
    inside = arr[np.all(arr <= ref, axis=1)]
    return float(moocore.hypervolume(inside, ref=ref)) if len(inside) else 0.0


def record(seed: int, n_scenarios: int) -> dict[str, Any]:
    rng = random.Random(seed)
    scenarios, dropped = [], 0
    optuna_hv = _hypervolume.hypervolume
    for _ in range(n_scenarios):
        s = scenario(rng)
        pruner, history = pruner_of(s["options"]), history_of(s["history"])
        for t in s["trials"]:
            steps = [None] * (rng.random() < 0.1) + sorted(int(k) for k in t["curve"])
            decisions = []
            for step in steps:
                trial = running_of(t, step)
                got = decide(pruner, trial, history)
                _hypervolume.hypervolume = _moocore_hypervolume
                try:
                    other = decide(pruner, trial, history)
                finally:
                    _hypervolume.hypervolume = optuna_hv
                if got != other:
                    dropped += 1
                    continue
                decisions.append([step, *got])
            t["decisions"] = decisions
        scenarios.append(s)
    return {"seed": seed, "dropped": dropped, "scenarios": scenarios}


# --- recorded searches, replayed in trial order (as replay_pruner.py replays them) --------

#: pruner settings the recorded runs are replayed with: the digits benchmark's, the
#: defaults with the accuracy constraint, and a hypervolume rule without a constraint
REPLAY_SETTINGS = (
    {"percentile": 90.0, "n_startup_trials": 3, "n_warmup_steps": 0, "n_min_peers": 3, "margin": 0.01,
     "min_hypervolume_gain": 0.005, "n_neighbors": 2, "size_slope": True, "constraint": True},
    {"constraint": True},
    {"percentile": 50.0, "n_warmup_steps": 1, "min_hypervolume_gain": 0.02, "neighbor_percentile": 75.0,
     "constraint": False},
)
#: the recorded runs' objectives: accuracy, latency_ms, size_bytes; accuracy_drop <= 0.05
REFERENCE = (5.0, 1.0, 1.0)
MAX_DROP = 0.05


def replay(run: dict[str, Any], setting: dict[str, Any], decide_one=None) -> list[list[Any]]:
    """Every decision of a pruner with ``setting`` on the recorded ``run``, in trial order:
    ``[trial, step, stop, reason]``; a stopped trial joins the history as pruned, its curve
    cut at the stop, the others as complete."""
    decide_one = decide_one or decide
    base = run["baseline_accuracy"]
    min_value = base - MAX_DROP if setting.get("constraint") else None
    options = {k: v for k, v in setting.items() if k != "constraint"}
    pruner = pruner_of({**options, "min_value": min_value, "reference": REFERENCE})
    history: list[tp.TrialHistory] = []
    decisions: list[list[Any]] = []

    def to_point(final: float) -> list[float]:  # latency and size are measured at the end
        return [100 * (base - final), math.nan, math.nan]

    for number, t in enumerate(run["trials"]):
        curve = {int(s): v for s, v in t["curve"].items()}
        stop_at = None
        for step in sorted(curve):
            trial = tp.RunningTrial(number, {k: v for k, v in curve.items() if k <= step}, t["objectives"],
                                    n_steps=t["n_steps"], to_point=to_point)
            stop, reason = decide_one(pruner, trial, history)
            decisions.append([number, step, stop, reason])
            if stop:
                stop_at = step
                break
        if stop_at is None:
            feasible = min_value is None or curve[max(curve)] >= min_value
            history.append(tp.TrialHistory(number, "complete", curve, t["objectives"], point=t["point"],
                                           feasible=feasible))
        else:
            history.append(tp.TrialHistory(number, "pruned", {k: v for k, v in curve.items() if k <= stop_at},
                                           t["objectives"]))
    return decisions


def digest(decisions: Sequence[Sequence[Any]]) -> str:
    """SHA-256 of every decision with its reason, byte for byte."""
    import hashlib

    return hashlib.sha256(json.dumps(decisions, separators=(",", ":")).encode()).hexdigest()


def record_replays(paths: Sequence[Path]) -> dict[str, Any]:
    """The recorded runs (from ``replay_pruner.py record``) and, per run and setting, the
    stops in clear and a digest of every decision with its reason."""
    runs = [json.loads(p.read_text()) for p in paths]
    replays = []
    for i, run in enumerate(runs):
        for j, setting in enumerate(REPLAY_SETTINGS):
            decisions = replay(run, setting)
            replays.append({"run": i, "setting": j, "decisions": len(decisions),
                            "stops": [d for d in decisions if d[2]], "digest": digest(decisions)})
    return {"settings": list(REPLAY_SETTINGS), "reference": list(REFERENCE), "max_drop": MAX_DROP,
            "runs": runs, "replays": replays}


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--out", type=Path, required=True, help="the synthetic scenarios' fixture")
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--scenarios", type=int, default=85)
    cli.add_argument("--recorded", type=Path, nargs="*", default=[],
                     help="runs written by `replay_pruner record` to replay in trial order")
    cli.add_argument("--recorded-out", type=Path, default=None, help="where the replays' fixture goes")
    args = cli.parse_args(argv)
    if args.recorded:
        replays = record_replays(args.recorded)
        out = args.recorded_out or args.out.with_name(args.out.stem + "_recorded.json")
        out.write_text(json.dumps(replays, separators=(",", ":")) + "\n")
        for r in replays["replays"]:
            print(f"run {r['run']} setting {r['setting']}: {r['decisions']} decisions, {len(r['stops'])} stops")
        print(f"{out.stat().st_size} bytes -> {out}")
    data = record(args.seed, args.scenarios)
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    reasons: dict[str, int] = {}
    for s in data["scenarios"]:
        for t in s["trials"]:
            for _, stop, reason in t["decisions"]:
                key = ("STOP " if stop else "go   ") + " ".join(w for w in reason.split() if not any(c.isdigit() for c in w))[:60]
                reasons[key] = reasons.get(key, 0) + 1
    for key, n in sorted(reasons.items()):
        print(f"{n:5d}  {key}")
    print(f"{sum(reasons.values())} decisions, {data['dropped']} left out, {args.out.stat().st_size} bytes -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
