"""Replay Pareto trial-pruner settings on recorded unpruned searches (how the benchmark
spaces' ``trial_pruner`` settings were chosen).

``record`` runs arm 3 of ``search_vs_grid.py`` (TPE, no trial pruner) for N trials per seed
and saves every trial's curve, fine-tune budget, parameter counts and normalised
objectives. ``replay`` feeds those trials, in order, to a ``ParetoTrialPruner`` and prints,
per seed, the fine-tune epochs it would have spent (ratio to the unpruned run) and the
hypervolume it would have lost (the stopped trials' models removed; same reference point
as the benchmark); with ``--explain``, which members of the recorded front it stopped, at
which step, why, and what each was worth. A replay keeps the sampler's trajectory fixed: a
live run also changes which recipes TPE proposes next, so live losses can be larger (see
benchmarks/README.md).

``predict`` prints how far the hypervolume rule's expected final accuracy
(``HypervolumeGainPruner.expected_final``: ``--neighbors``, ``--neighbor-percentile``,
``--size-slope``, no margin) lands from where each recorded trial really ended, at step 0
(right after pruning) and step 1, beside a simpler estimate: the trial's value now plus
the median gain of the finished trials closest to it in value.

``bound`` prints, per recorded run, what no early-stopping rule can beat at the same
trials: the epochs spent if every trial that did not end on the run's front had stopped
before fine-tuning (no hypervolume lost), and if, besides, the front members that
contribute least were stopped too while at most ``--max-loss`` of the hypervolume is lost.

Commands (digits: about 15 s a seed at 30 trials; Fashion-MNIST: about 5 minutes a seed
at 40; run from the repository root)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.tools.replay_pruner record digits-mlp --seeds 0 1 2 10 11 12
    python -m benchmarks.tools.replay_pruner replay digits-mlp --seeds 10 11 12 --min-gain 0.005 --neighbors 2 \
        --size-slope --margin 0.01 --warmup 0 --percentile 90 --peers 3
    python -m benchmarks.tools.replay_pruner predict digits-mlp --neighbors 2
    python -m benchmarks.tools.replay_pruner bound digits-mlp
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from autoprune.search import RunOptions, SearchSpace, load_space, pareto_front, run_search
from autoprune.search.trial_pruners import HypervolumeGainPruner, ParetoTrialPruner, RunningTrial, TrialHistory
from benchmarks import search_vs_grid as bench
from benchmarks._common import parser

RECORDS = Path(tempfile.gettempdir()) / "autoprune-pruner-records"


def record(task: str, seeds: Sequence[int], trials: int) -> None:
    space = load_space(bench.SPACES_DIR / f"{task}.yaml")
    RECORDS.mkdir(exist_ok=True)
    for seed in seeds:
        the_space = bench.arm_space(space, "tpe", seed, None, trials)
        with tempfile.TemporaryDirectory() as out:
            result = run_search(the_space, options=RunOptions(out=Path(out), tracker="none", progress=False))
        rows = [{
            "curve": {int(s): v for s, v in r.curve},
            "n_steps": r.recipe["finetune_epochs"],
            "objectives": {k: r.measures[k] for k in ("params_total", "params_nonzero")},
            "point": (bench.make_point("", r.measures, result.baseline, the_space).objectives
                      if r.state == "complete" else None),
        } for r in sorted(result.trials, key=lambda r: r.number)]
        path = RECORDS / f"{task}-{seed}.json"
        path.write_text(json.dumps({"baseline_accuracy": result.baseline["accuracy"], "trials": rows}))
        print(f"{task} seed {seed}: {len(rows)} trials -> {path}", flush=True)


def _curve(recorded: dict) -> dict[int, float]:
    """A recorded trial's curve with integer steps (JSON keeps them as strings)."""
    return {int(s): v for s, v in recorded["curve"].items()}


def replay_one(data: dict, pruner: ParetoTrialPruner, space: SearchSpace,
               stops: dict[int, tuple[int, str]] | None = None) -> tuple[float, float, int]:
    """(epochs ratio, hypervolume loss, trials stopped) of ``pruner`` on one recorded run;
    ``stops``, if given, gets ``{trial number: (step, the pruner's reason)}``."""
    history: list[TrialHistory] = []
    spent = full = stopped = 0
    points, _, total = _recorded_front(data, space)
    kept = []
    base = data["baseline_accuracy"]
    min_accuracy = space.min_accuracy(base) or -math.inf

    def to_point(final: float) -> list[float]:  # latency and size are measured at the end
        return [100 * (base - final), math.nan, math.nan]

    for number, t in enumerate(data["trials"]):
        curve = _curve(t)
        epochs = max(curve)  # step 0 is the pruned model before fine-tuning
        full += epochs
        stop_at, reason = None, ""
        for s in sorted(curve):
            decision = pruner.decide(RunningTrial(number, {k: v for k, v in curve.items() if k <= s}, t["objectives"],
                                                  n_steps=t["n_steps"], to_point=to_point), history)
            if decision.stop:
                stop_at, reason = s, decision.reason
                break
        if stop_at is None:
            spent += epochs
            kept += [number] if number in points else []
            history.append(TrialHistory(number, "complete", curve, t["objectives"], point=t["point"],
                                        feasible=curve[max(curve)] >= min_accuracy))
        else:
            spent, stopped = spent + stop_at, stopped + 1
            if stops is not None:
                stops[number] = (stop_at, reason)
            history.append(TrialHistory(number, "pruned", {k: v for k, v in curve.items() if k <= stop_at},
                                        t["objectives"]))
    return spent / max(full, 1), _lost(points, kept, total, space), stopped


def _recorded_front(data: dict, space: SearchSpace) -> tuple[dict[int, list[float]], list[int], float]:
    """A recorded run's complete trials' points by trial number, the numbers of those on
    its front, and the front's hypervolume."""
    points = {n: t["point"] for n, t in enumerate(data["trials"]) if t["point"]}
    numbers, values = list(points), list(points.values())
    front = [numbers[j] for j in pareto_front(np.array(values, dtype=float))]
    return points, front, bench.front_hypervolume(values, space)


def _lost(points: dict[int, list[float]], kept: Iterable[int], total: float, space: SearchSpace) -> float:
    """The fraction of ``total`` (the hypervolume of all ``points``) lost when only the trials
    ``kept`` remain."""
    return 1 - bench.front_hypervolume([points[n] for n in kept], space) / total if total else 0.0


def bound_one(data: dict, space: SearchSpace, max_loss: float) -> tuple[float, float, float]:
    """(epochs ratio with no loss, epochs ratio within ``max_loss``, the loss) for one run,
    every trial that is stopped stopping before fine-tuning (step 0)."""
    epochs = [max(int(s) for s in t["curve"]) for t in data["trials"]]
    points, kept, total = _recorded_front(data, space)

    def spent(members: list[int]) -> float:
        return sum(epochs[i] for i in members) / sum(epochs)

    lossless, loss = spent(kept), 0.0
    while len(kept) > 1:  # drop the member whose removal costs least, while within max_loss
        losses = {i: _lost(points, (k for k in kept if k != i), total, space) for i in kept}
        cheapest = min(losses, key=losses.__getitem__)
        if losses[cheapest] > max_loss:
            break
        kept.remove(cheapest)
        loss = losses[cheapest]
    return lossless, spent(kept), loss


def prediction_errors(data: dict, pruner: HypervolumeGainPruner, step: int) -> list[tuple[float, float]]:
    """(rule 3's error, the value-neighbours' error) in points for every trial of one run that
    reports ``step`` before its last, predicted from the trials before it as if all completed."""
    errors = []
    every = [TrialHistory(n, "complete", _curve(t), t["objectives"]) for n, t in enumerate(data["trials"])]
    for number, t in enumerate(data["trials"]):
        curve, last, before = every[number].curve, t["n_steps"], every[:number]
        if step not in curve or step >= last or last not in curve:
            continue
        expected = pruner.expected_final(RunningTrial(number, {step: curve[step]}, t["objectives"], n_steps=last),
                                          before)
        closest = sorted((h for h in before if step in h.curve and last in h.curve),
                         key=lambda h: abs(h.curve[step] - curve[step]))[:pruner.n_neighbors]
        if expected is None or not closest:
            continue
        by_value = curve[step] + max(0.0, statistics.median(h.curve[last] - h.curve[step] for h in closest))
        errors.append((100 * (curve[last] - expected), 100 * (curve[last] - by_value)))
    return errors


def predict(task: str, args: argparse.Namespace) -> None:
    # only its prediction is used: no gain threshold, no reference point
    pruner = HypervolumeGainPruner(0.0, None, margin=0.0, n_neighbors=args.neighbors,
                                   neighbor_percentile=args.neighbor_percentile, size_slope=args.size_slope)
    for step in (0, 1):
        errors = [e for path in _recordings(task, args.seeds)
                  for e in prediction_errors(json.loads(path.read_text()), pruner, step)]
        if not errors:
            print(f"step {step}: no trial to predict")
            continue
        for label, values in (("closest in size (hypervolume rule)", [e[0] for e in errors]),
                              ("closest in value, + median gain", [e[1] for e in errors])):
            arr = np.abs(values)
            print(f"step {step}, {label:<32}: mean absolute error {arr.mean():.2f} points, "
                  f"90th percentile {np.percentile(arr, 90):.2f}, worst {arr.max():.2f} ({len(arr)} trials)")


def _seed(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])  # <task>-<seed>.json


def _recordings(task: str, seeds: Sequence[int] | None) -> list[Path]:
    files = sorted((p for p in RECORDS.glob(f"{task}-*.json") if seeds is None or _seed(p) in seeds), key=_seed)
    if not files:
        sys.exit(f"no recordings in {RECORDS}: run `record {task}` first")
    return files


def bound(task: str, args: argparse.Namespace) -> None:
    space = load_space(bench.SPACES_DIR / f"{task}.yaml")
    rows = []
    for path in _recordings(task, args.seeds):
        rows.append((_seed(path), *bound_one(json.loads(path.read_text()), space, args.max_loss)))
        print(f"seed {rows[-1][0]:>3}: epochs {rows[-1][1]:.2f} stopping every trial off the front; "
              f"{rows[-1][2]:.2f} also stopping front members ({100 * rows[-1][3]:.1f}% lost)")
    print(f"median: {statistics.median(r[1] for r in rows):.2f} with no loss, "
          f"{statistics.median(r[2] for r in rows):.2f} within {100 * args.max_loss:g}%")


def replay(task: str, args: argparse.Namespace) -> None:
    space = load_space(bench.SPACES_DIR / f"{task}.yaml")
    rows = []
    for path in _recordings(task, args.seeds):
        data = json.loads(path.read_text())
        pruner = ParetoTrialPruner(percentile=args.percentile, n_startup_trials=args.startup,
                                   n_warmup_steps=args.warmup, n_min_peers=args.peers, margin=args.margin,
                                   min_value=space.min_accuracy(data["baseline_accuracy"]),
                                   min_hypervolume_gain=args.min_gain, n_neighbors=args.neighbors,
                                   neighbor_percentile=args.neighbor_percentile, size_slope=args.size_slope,
                                   reference=space.hypervolume_reference)
        stops: dict[int, tuple[int, str]] = {}
        rows.append((_seed(path), *replay_one(data, pruner, space, stops)))
        print(f"seed {rows[-1][0]:>3}: epochs {rows[-1][1]:.2f}, hypervolume loss {100 * rows[-1][2]:.1f}%, "
              f"{rows[-1][3]} stopped")
        if args.explain:
            explain_stops(data, stops, space)
    print(f"median: epochs {statistics.median(r[1] for r in rows):.2f}, "
          f"hypervolume loss {100 * statistics.median(r[2] for r in rows):.1f}%")


def explain_stops(data: dict, stops: dict[int, tuple[int, str]], space: SearchSpace) -> None:
    """Print the members of the recorded run's front that the replay stopped: each one's
    share of the front's hypervolume (what the front loses without it alone) and why."""
    points, front, total = _recorded_front(data, space)
    for number in front:
        if number in stops and total:
            share = _lost(points, (n for n in points if n != number), total, space)
            step, reason = stops[number]
            curve = _curve(data["trials"][number])
            final = curve[max(curve)]
            print(f"      front trial {number:>2} (final {final:.4f}, {100 * share:.1f}% of the hypervolume) "
                  f"stopped at step {step}: {reason}")


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser(__doc__)
    cli.add_argument("command", choices=["record", "replay", "predict", "bound"])
    cli.add_argument("task", choices=bench.TASKS)
    cli.add_argument("--seeds", nargs="+", type=int, default=None,
                     help="record: seeds to run (default 0 1 2); replay, predict, bound: recordings to use "
                          "(default all)")
    cli.add_argument("--trials", type=int, default=None, help="record: trials per run (default: the benchmark's)")
    cli.add_argument("--percentile", type=float, default=90.0)
    cli.add_argument("--warmup", type=int, default=1, help="n_warmup_steps")
    cli.add_argument("--peers", type=int, default=3, help="n_min_peers")
    cli.add_argument("--startup", type=int, default=3, help="n_startup_trials")
    cli.add_argument("--margin", type=float, default=0.01)
    cli.add_argument("--min-gain", type=float, default=None, help="min_hypervolume_gain (default: rule off)")
    cli.add_argument("--neighbors", type=int, default=3, help="n_neighbors")
    cli.add_argument("--neighbor-percentile", type=float, default=50.0, help="neighbor_percentile")
    cli.add_argument("--size-slope", action="store_true", help="size_slope")
    cli.add_argument("--explain", action="store_true",
                     help="replay: list the front members stopped, their share of the hypervolume and why")
    cli.add_argument("--max-loss", type=float, default=0.03, help="bound: hypervolume fraction that may be lost")
    args = cli.parse_args(argv)
    if args.command == "record":
        record(args.task, args.seeds or [0, 1, 2], args.trials or bench.SAME_TRIALS[args.task])
    elif args.command == "replay":
        replay(args.task, args)
    elif args.command == "predict":
        predict(args.task, args)
    else:
        bound(args.task, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
