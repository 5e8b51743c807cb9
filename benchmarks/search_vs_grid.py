"""Is the search worth running? autoprune against the hand-made grid, at the same compute.

For each task and seed, in one process on one machine:

1. **grid**: what a user writes today without autoprune. From the cached dense baseline,
   ``torch.nn.utils.prune.global_unstructured`` (L1) at sparsity 0.5 / 0.8 / 0.9 / 0.95
   over every Linear / Conv weight, and Torch-Pruning magnitude channel pruning
   (``tp.pruner.MetaPruner`` + ``tp.importance.GroupMagnitudeImportance(p=1)``, the
   classifier ignored) at ratio 0.25 / 0.5 / 0.75; each fine-tuned the same number of
   epochs (``--grid-epochs``, default 2) with the task's optimizer at ``--grid-lr``, on
   the task's own per-epoch batches (Fashion-MNIST: the same fixed-size subset per epoch
   index as every search trial sees), then measured with :mod:`autoprune.measure` the way
   a trial is (accuracy through the task, latency interleaved with the dense model,
   size of the deployable state dict, sparse-packed for unstructured). Its wall clock is T.
2. **random**: ``autoprune.search`` with the random sampler, ``budget.seconds = T``.
3. **tpe**: the default sampler (TPE), no trial pruner, ``budget.seconds = T``.
4. **tpe+pareto**: TPE with the Pareto trial pruner, ``budget.seconds = T``.

Arms 2-4 read ``benchmarks/spaces/<task>.yaml`` (search space, warm starts, the pruner's
options); only the sampler, the trial pruner and the budget differ between them. A search
arm counts only the trials that finished within T of its start: ``budget.seconds`` stops
*starting* trials, so the trial running at the deadline and the final report run past T
(the wall column shows the whole call). The arms run in a rotating order per seed, each
with its own latency memo (a shared one would spare later arms timing the first one
paid). Every arm is scored the same way: the hypervolume of the non-dominated points among
its complete models, objectives accuracy (max) / latency_ms (min) / size_bytes (min)
normalised to the dense baseline (points of accuracy, ratios otherwise), reference point 5
points of accuracy drop / latency ratio 1 / size ratio 1
(:func:`autoprune.search.default_reference`).
The arms draw the same first recipes from the same seed, so they often complete identical
models (same recipe, accuracy and size); such a model is scored in every arm with one
latency ratio, the median of the arms' readings (:func:`share_latency`): each arm's search
ran on its own readings, but timing noise does not rank arms that found the same models.

Then arms 3 and 4 run again at the same number of trials and seeds (``--same-trials``;
by default 30 on digits, 40 on Fashion-MNIST, 12 with ``--quick``: more than a timed run
holds, so the pruner acts on more than the warm starts, and enough that the front is
crowded: at 16 Fashion-MNIST trials about half end on the front, so even stopping every
trial off the front before it fine-tunes saves only 41% of the epochs) to compare the
fine-tune epochs each spends and the hypervolume each reaches. The two share one latency
memo (:class:`autoprune.measure.LatencyMemo`): a model both train is timed once, so until the
trial pruner's first stop changes what TPE proposes they run the same trials with the same
values, and the difference is the pruner's, not timing noise's. ``--same-trials 0``
compares the first N trials of the timed runs instead (N: the smaller trial count; the
local executor runs one trial at a time, so those are what an N-trial run would do).

Full benchmark (about 30 minutes on 2 idle cores, baselines cached beforehand;
training the three Fashion-MNIST baselines adds about 4 minutes the first time)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.search_vs_grid

Smoke run (digits only, one seed, about a minute)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.search_vs_grid --quick

Timings are wall-clock on the machine it runs on: run it on an otherwise idle machine.
Nothing here asserts a threshold; the targets are printed with PASS / FAIL.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import prune

from autoprune import measure
from autoprune.baseline import Baseline, get_baseline
from autoprune.search import (
    RunOptions,
    SearchSpace,
    TrialRecord,
    hypervolume,
    load_space,
    normalize,
    pareto_front,
    run_search,
)
from autoprune.search._result import trial_baseline
from autoprune.search.trial_pruners import TrialPrunerConfig
from autoprune.tasks import Task, get_task
from autoprune.training import train_epoch

if __package__:  # python -m benchmarks.search_vs_grid (from the repository root)
    from benchmarks._common import finished_trials, log, parser, table, untimed_search, verdict
else:  # python benchmarks/search_vs_grid.py: this directory is on sys.path
    from _common import finished_trials, log, parser, table, untimed_search, verdict

TASKS = ("digits-mlp", "fashion-mnist-cnn")
SPACES_DIR = Path(__file__).resolve().parent / "spaces"
UNSTRUCTURED_SPARSITIES = (0.5, 0.8, 0.9, 0.95)
CHANNEL_RATIOS = (0.25, 0.5, 0.75)
ARMS = ("grid", "random", "tpe", "tpe+pareto")
# trials of the tpe vs tpe+pareto comparison: more than a timed run holds, so that the
# pruner acts on more than the warm starts (the module docstring says why 40 on Fashion-MNIST)
SAME_TRIALS = {"digits-mlp": 30, "fashion-mnist-cnn": 40}
QUICK_SAME_TRIALS = 12
ONE_POINT = 0.01  # accuracy_drop of one point
FAST_LATENCY_RATIO = 1 / 8  # ">= 8x faster than dense"
EPS = 1e-9
# a search trial's measures kept in the --json trial log
LOGGED_MEASURES = ("accuracy_drop", "latency_ratio", "size_ratio", "params_total", "params_nonzero",
                   "finetune_epochs_run")

# targets printed with PASS / FAIL
HV_VS_GRID = 1.15
EPOCH_SAVING = 0.40
HV_LOSS = 0.03


@dataclass
class Point:
    """One measured model: what the hypervolume and the tables need."""

    label: str
    accuracy_drop: float
    latency_ratio: float
    size_ratio: float
    objectives: list[float]  # normalised, to minimise (points, ratio, ratio)
    trial: int | None = None  # the trial's number (search arms)
    model: str | None = None  # which model it is, equal across the arms of one seed (search arms)


@dataclass
class ArmRun:
    """One arm on one task and seed."""

    arm: str
    task: str
    seed: int
    wall_s: float
    epochs: int
    trials: int
    complete: int
    pruned: int = 0
    failed: int = 0
    hypervolume: float = 0.0
    best_latency_ratio: float | None = None  # among models <= 1 point below the baseline
    best_size_ratio: float | None = None
    points: list[Point] = field(default_factory=list)
    epochs_per_trial: list[int] = field(default_factory=list)  # trial order (search arms)
    complete_per_trial: list[bool] = field(default_factory=list)
    trial_log: list[dict[str, Any]] = field(default_factory=list)  # per trial, for --json


# --- scoring --------------------------------------------------------------------------


def score(run: ArmRun, space: SearchSpace) -> ArmRun:
    """Fill hypervolume and best ratios from ``run.points``."""
    run.hypervolume = front_hypervolume([p.objectives for p in run.points], space)
    good = [p for p in run.points if p.accuracy_drop <= ONE_POINT + EPS]
    run.best_latency_ratio = min((p.latency_ratio for p in good), default=None)
    run.best_size_ratio = min((p.size_ratio for p in good), default=None)
    return run


def share_latency(runs: Sequence[ArmRun], space: SearchSpace) -> None:
    """Score a model that several arms of one seed completed with one latency, the median
    of their readings, and re-score the arms.

    The arms draw the same first recipes from the same seed, so they often complete
    identical models (same recipe, accuracy and size); each arm timed its copy, and the
    readings differ by a percent or two. Left as read, that noise alone would rank arms
    that found the same models.
    """
    names = [o.name for o in space.objectives]
    if "latency_ms" not in names:
        return
    axis = names.index("latency_ms")
    copies: dict[str, list[Point]] = {}
    for run in runs:
        for p in run.points:
            if p.model is not None:
                copies.setdefault(p.model, []).append(p)
    for same in copies.values():
        ratio = statistics.median(p.latency_ratio for p in same)
        for p in same:
            p.latency_ratio = p.objectives[axis] = ratio
    for run in runs:
        score(run, space)


def front_hypervolume(points: Sequence[Sequence[float]], space: SearchSpace) -> float:
    """Hypervolume of the non-dominated normalised ``points`` (the space's constraints are
    not applied), with the space's reference point."""
    if not points:
        return 0.0
    arr = np.array(points, dtype=float)
    return hypervolume(arr[pareto_front(arr)], space.hypervolume_reference)


def make_point(label: str, measures: dict[str, Any], baseline: dict[str, float], space: SearchSpace,
               trial: int | None = None, model: str | None = None) -> Point:
    """``measures`` (accuracy, latency_ms, baseline_latency_ms, size_bytes) as a Point.

    Latency is compared with the dense model timed beside it (as the search does).
    """
    reference = trial_baseline(baseline, measures)
    return Point(
        label=label,
        accuracy_drop=baseline["accuracy"] - float(measures["accuracy"]),
        latency_ratio=float(measures["latency_ms"]) / reference["latency_ms"],
        size_ratio=float(measures["size_bytes"]) / baseline["size_bytes"],
        objectives=normalize(measures, reference, space.objectives).tolist(),
        trial=trial,
        model=model,
    )


# --- arm 1: the hand-made grid ---------------------------------------------------------


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


def _finetune(model: nn.Module, task: Task, epochs: int, lr: float) -> None:
    """Plain fine-tuning on the task's batches of epochs 0, 1, ... (as a trial sees them)."""
    optimizer = task.make_optimizer([p for p in model.parameters() if p.requires_grad], lr)
    for epoch in range(epochs):
        train_epoch(model, task, optimizer, epoch)


def _prune_and_finetune(model: nn.Module, task: Task, kind: str, amount: float, epochs: int, lr: float) -> None:
    """One grid configuration, applied to ``model`` in place with the library directly."""
    if kind == "channel":
        pruner = tp.pruner.MetaPruner(
            model, task.example_input(1),
            importance=tp.importance.GroupMagnitudeImportance(p=1),
            pruning_ratio=amount, ignored_layers=[_weight_layers(model)[-1]],
        )
        pruner.step()
        _finetune(model, task, epochs, lr)
        return
    params = [(m, "weight") for m in _weight_layers(model)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    _finetune(model, task, epochs, lr)
    for module, name in params:
        prune.remove(module, name)


def _grid_configs() -> list[tuple[str, str, float]]:
    return [("unstructured", f"global L1 {s:.2f}", s) for s in UNSTRUCTURED_SPARSITIES] + [
        ("channel", f"tp channel {r:.2f}", r) for r in CHANNEL_RATIOS
    ]


def run_grid(task: Task, baseline: Baseline, space: SearchSpace, seed: int, epochs: int, lr: float) -> ArmRun:
    """The grid of unstructured and channel pruning, written with the libraries directly."""
    lat = space.latency
    inputs = task.example_input(lat.batch_size or task.benchmark_batch_size)
    with measure.torch_threads(lat.threads):  # trials train with cpus_per_trial (1) threads too
        start = time.perf_counter()
        dense = baseline.build(task)
        base = {"accuracy": baseline.accuracy,
                "size_bytes": measure.state_dict_size(dense.state_dict(), sparse=False)}
        points = []
        for kind, label, amount in _grid_configs():
            torch.manual_seed(seed)
            model = baseline.build(task)
            _prune_and_finetune(model, task, kind, amount, epochs, lr)
            model.eval()
            accuracy = task.evaluate(model)
            size = measure.state_dict_size(model.state_dict(), sparse=kind == "unstructured")
            latency_ms, dense_ms = measure.measure_latency_pair(
                model, dense, inputs, threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats
            )
            measures = {"accuracy": accuracy, "latency_ms": latency_ms, "baseline_latency_ms": dense_ms,
                        "size_bytes": size}
            points.append(make_point(label, measures, base, space))
    wall = time.perf_counter() - start
    n = len(points)
    run = ArmRun(arm="grid", task=task.name, seed=seed, wall_s=wall, epochs=n * epochs, trials=n, complete=n,
                 points=points)
    return score(run, space)


# --- arms 2-4: the search ---------------------------------------------------------------


def arm_space(space: SearchSpace, arm: str, seed: int, seconds: float | None, trials: int | None) -> SearchSpace:
    """The benchmark space for one arm: only sampler, trial pruner and budget change."""
    sampler = "random" if arm == "random" else "tpe"
    pruner = space.trial_pruner if arm == "tpe+pareto" else TrialPrunerConfig("none")
    return space.with_overrides(seed=seed, sampler=sampler, trial_pruner=pruner,
                                seconds=seconds, trials=trials if trials is not None else 100_000)


def _trial_log(r: TrialRecord) -> dict[str, Any]:
    return {"number": r.number, "state": r.state, "recipe": r.summary() if r.recipe else "", "curve": r.curve,
            "seconds": r.seconds, **{k: r.measures.get(k) for k in LOGGED_MEASURES}}


def _model_key(r: TrialRecord) -> str:
    """A trial's model, as far as another arm of the same seed can have the same: a recipe
    is trained deterministically from the seed, so the same recipe, accuracy and size is
    the same model."""
    return json.dumps([r.recipe, r.measures["accuracy"], r.measures["size_bytes"]], sort_keys=True)


def run_search_arm(space: SearchSpace, arm: str, seed: int, out: Path, data_dir: str | None, *,
                   seconds: float | None = None, trials: int | None = None,
                   latency_memo: measure.LatencyMemo | None = None) -> ArmRun:
    """One search of ``arm`` in ``out`` (deleted once read), scored."""
    if seconds is None and trials is None:
        raise ValueError("a search arm needs seconds or trials")
    the_space = arm_space(space, arm, seed, seconds, trials)
    options = RunOptions(out=out, tracker="none", progress=False, data_dir=data_dir, latency_memo=latency_memo)
    started_at = datetime.datetime.now()  # Optuna stamps trials with naive local time
    start = time.perf_counter()
    result = run_search(the_space, options=options)
    wall = time.perf_counter() - start
    records = sorted(result.trials, key=lambda r: r.number)
    if seconds is not None:
        # same compute: only trials finished within T of the call count. budget.seconds stops
        # *starting* trials; the one running at the deadline and the report come after it.
        finished = {t.number: (t.datetime_complete - started_at).total_seconds() for t in finished_trials(result)}
        records = [r for r in records if finished.get(r.number, math.inf) <= seconds]
    shutil.rmtree(out, ignore_errors=True)
    epochs = [int(r.measures.get("finetune_epochs_run") or 0) for r in records]
    states = [r.state for r in records]
    run = ArmRun(
        arm=arm, task=space.task, seed=seed, wall_s=wall, epochs=sum(epochs), trials=len(records),
        complete=states.count("complete"), pruned=states.count("pruned"), failed=states.count("failed"),
        points=[make_point(f"trial {r.number}: {r.summary()}", r.measures, result.baseline, the_space,
                           trial=r.number, model=_model_key(r))
                for r in records if r.state == "complete"],
        epochs_per_trial=epochs, complete_per_trial=[s == "complete" for s in states],
        trial_log=[_trial_log(r) for r in records],
    )
    return score(run, the_space)


def truncated(run: ArmRun, n: int, space: SearchSpace) -> ArmRun:
    """The first ``n`` trials of a sequential (local executor) run, scored alone."""
    points = [p for p in run.points if p.trial is not None and p.trial < n]
    out = ArmRun(arm=run.arm, task=run.task, seed=run.seed, wall_s=math.nan, epochs=sum(run.epochs_per_trial[:n]),
                 trials=n, complete=sum(run.complete_per_trial[:n]), points=points)
    return score(out, space)


# --- the benchmark ------------------------------------------------------------------------


def same_trials(args: argparse.Namespace, task_name: str) -> int:
    """Trials of the tpe vs tpe+pareto comparison (0: the first trials of the timed runs)."""
    if args.same_trials is not None:
        return args.same_trials
    return QUICK_SAME_TRIALS if args.quick else SAME_TRIALS[task_name]


def bench_task(task_name: str, seeds: Sequence[int], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    space = load_space(SPACES_DIR / f"{task_name}.yaml")
    runs: list[ArmRun] = []
    same: list[tuple[ArmRun, ArmRun]] = []
    for seed in seeds:
        task = get_task(task_name, seed=seed, data_dir=args.data_dir)
        baseline = get_baseline(task, seed)  # cached: trained once, before any timing
        grid = run_grid(task, baseline, space, seed, args.grid_epochs, args.grid_lr)
        runs.append(grid)
        seconds = grid.wall_s
        log(f"{task_name} seed {seed}: baseline {baseline.accuracy:.4f}, grid {seconds:.1f}s HV {grid.hypervolume:.3f}")
        by_arm = {}
        order = list(ARMS[1:])
        k = seeds.index(seed) % len(order)  # rotate the arms' order: load drift hits each arm alike
        for arm in order[k:] + order[:k]:
            run = by_arm[arm] = run_search_arm(space, arm, seed, workdir / f"{task_name}-s{seed}-{arm}",
                                               args.data_dir, seconds=seconds)
            runs.append(run)
            log(f"  {arm:<11} {run.wall_s:6.1f}s {run.trials:3d} trials ({run.pruned} pruned, {run.failed} failed) "
                f"{run.epochs:3d} epochs HV {run.hypervolume:.3f}")
        share_latency(list(by_arm.values()), space)
        log("  one latency per model the arms share: " +
            ", ".join(f"{arm} HV {run.hypervolume:.3f}" for arm, run in by_arm.items()))
        n_same = same_trials(args, task_name)
        if n_same:
            # one latency memo for both: a model both arms train is timed once, so the arms
            # differ only by what the trial pruner stops, not by timing noise steering TPE
            memo = measure.LatencyMemo()
            a, b = (run_search_arm(space, arm, seed, workdir / f"{task_name}-s{seed}-{arm}-n{n_same}", args.data_dir,
                                   trials=n_same, latency_memo=memo) for arm in ("tpe", "tpe+pareto"))
        else:
            n = min(by_arm["tpe"].trials, by_arm["tpe+pareto"].trials)
            a, b = (truncated(by_arm[arm], n, space) for arm in ("tpe", "tpe+pareto"))
        same.append((a, b))
        log(f"  same {a.trials} trials: tpe {a.epochs} epochs HV {a.hypervolume:.3f} | "
            f"tpe+pareto {b.epochs} epochs HV {b.hypervolume:.3f}")
    return {"task": task_name, "runs": runs, "same": same}


def warm_up(workdir: Path) -> None:
    """One untimed 1-trial digits search: imports (scikit-learn, torch's FLOP counter,
    matplotlib for the report) and first-call costs land here, not in the first timed arm."""
    t0 = time.perf_counter()
    untimed_search(load_space(SPACES_DIR / "digits-mlp.yaml").with_overrides(trials=1, trial_pruner="none"),
                   workdir / "warm-up")
    log(f"warm-up search: {time.perf_counter() - t0:.1f}s (untimed)")


# --- the report ---------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(vals) if vals else None


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _pct(fraction: float | None) -> str:
    return _fmt(None if fraction is None else 100 * fraction, ".1f") + "%"


def _arm_medians(runs: Sequence[ArmRun]) -> dict[str, dict[str, Any]]:
    """Per arm, medians over seeds (hypervolume ratio: of per-seed ratios to that seed's grid)."""
    grid_hv = {r.seed: r.hypervolume for r in runs if r.arm == "grid"}
    medians = {}
    for arm in ARMS:
        mine = [r for r in runs if r.arm == arm]
        medians[arm] = {
            "hv": _median([r.hypervolume for r in mine]),
            "ratio": _median([r.hypervolume / grid_hv[r.seed] if grid_hv[r.seed] > 0 else None for r in mine]),
            "epochs": _median([r.epochs for r in mine]),
            "trials": _median([r.trials for r in mine]),
            "wall": _median([r.wall_s for r in mine]),
            "lat": _median([r.best_latency_ratio for r in mine]),
            "size": _median([r.best_size_ratio for r in mine]),
            "fast": sum(1 for r in mine if r.best_latency_ratio is not None
                        and r.best_latency_ratio <= FAST_LATENCY_RATIO + EPS),
            "seeds": len(mine),
        }
    return medians


def _same_table(same: Sequence[tuple[ArmRun, ArmRun]]) -> tuple[str, float | None, float | None]:
    """The tpe vs tpe+pareto table, per seed and median; with the median epoch ratio and HV loss."""
    ratios = [b.epochs / a.epochs if a.epochs else None for a, b in same]
    losses = [1 - b.hypervolume / a.hypervolume if a.hypervolume > 0 else None for a, b in same]
    e_ratio, hv_loss = _median(ratios), _median(losses)
    rows = [[str(a.seed), str(a.trials), str(a.epochs), str(b.epochs), _fmt(ratio, ".2f"), _fmt(a.hypervolume),
             _fmt(b.hypervolume), _pct(loss)] for (a, b), ratio, loss in zip(same, ratios, losses)]
    rows.append(["median", _fmt(_median([a.trials for a, _ in same]), ".0f"),
                 _fmt(_median([a.epochs for a, _ in same]), ".0f"), _fmt(_median([b.epochs for _, b in same]), ".0f"),
                 _fmt(e_ratio, ".2f"), _fmt(_median([a.hypervolume for a, _ in same])),
                 _fmt(_median([b.hypervolume for _, b in same])), _pct(hv_loss)])
    text = table(["seed", "trials", "epochs tpe", "epochs tpe+pareto", "ratio", "HV tpe", "HV tpe+pareto", "HV loss"],
                 rows)
    return text, e_ratio, hv_loss


def _targets(task: str, medians: dict[str, dict[str, Any]], e_ratio: float | None,
             hv_loss: float | None) -> list[tuple[str, bool | None]]:
    p, r = medians["tpe+pareto"], medians["random"]
    targets = [
        (f"{task}: tpe+pareto >= {HV_VS_GRID}x grid hypervolume (median ratio {_fmt(p['ratio'], '.2f')}x)",
         None if p["ratio"] is None else p["ratio"] >= HV_VS_GRID),
        (f"{task}: tpe+pareto >= random hypervolume (median {_fmt(p['hv'])} vs {_fmt(r['hv'])})",
         None if p["hv"] is None or r["hv"] is None else p["hv"] >= r["hv"]),
        ((f"{task}: tpe+pareto spends >= {EPOCH_SAVING:.0%} fewer fine-tune epochs than tpe at the same "
          f"trials (median ratio {_fmt(e_ratio, '.2f')})"),
         None if e_ratio is None else e_ratio <= 1 - EPOCH_SAVING + EPS),
        ((f"{task}: tpe+pareto loses <= {HV_LOSS:.0%} hypervolume vs tpe at the same trials "
          f"(median loss {_pct(hv_loss)})"),
         None if hv_loss is None else hv_loss <= HV_LOSS + EPS),
    ]
    if task == "digits-mlp":
        targets.append((
            (f"{task}: tpe+pareto front holds a model <= 1 point below dense and >= 8x faster "
             f"(median best latency ratio {_fmt(p['lat'])}; {p['fast']}/{p['seeds']} seeds)"),
            None if p["lat"] is None else p["lat"] <= FAST_LATENCY_RATIO + EPS,
        ))
    return targets


def report(results: list[dict[str, Any]], seeds: Sequence[int]) -> tuple[str, list[tuple[str, bool | None]]]:
    lines: list[str] = []
    targets: list[tuple[str, bool | None]] = []
    for res in results:
        task = res["task"]
        medians = _arm_medians(res["runs"])
        rows = [[arm, _fmt(m["hv"]), _fmt(m["ratio"], ".2f") + "x", _fmt(m["epochs"], ".0f"), _fmt(m["trials"], ".0f"),
                 _fmt(m["wall"], ".1f"), _fmt(m["lat"]), _fmt(m["size"])] for arm, m in medians.items()]
        lines.append(f"\n== {task}: medians over seeds {', '.join(map(str, seeds))} "
                     f"(hypervolume ratio: median of per-seed ratios to that seed's grid)")
        lines.append(table(["arm", "hypervolume", "vs grid", "ft epochs", "trials", "wall s",
                            "best lat ratio @<=1pt", "best size ratio @<=1pt"], rows))
        same_text, e_ratio, hv_loss = _same_table(res["same"])
        lines.append(f"\n-- {task}: tpe vs tpe+pareto at the same number of trials")
        lines.append(same_text)
        targets += _targets(task, medians, e_ratio, hv_loss)
    lines.append("\n== targets")
    lines += [f"{verdict(ok):4}  {text}" for text, ok in targets]
    return "\n".join(lines), targets


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser(__doc__)
    cli.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    cli.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    cli.add_argument("--quick", action="store_true",
                     help="smoke run: digits-mlp only (unless --tasks is given), seed 0 only")
    cli.add_argument("--grid-epochs", type=int, default=2, help="fine-tune epochs of every grid model")
    cli.add_argument("--grid-lr", type=float, default=1e-3, help="fine-tune learning rate of the grid")
    cli.add_argument("--same-trials", type=int, default=None,
                     help="trials of the tpe vs tpe+pareto runs, every task (default: "
                          + ", ".join(f"{t} {n}" for t, n in SAME_TRIALS.items())
                          + f"; --quick {QUICK_SAME_TRIALS}); "
                          "0: compare the first trials of the timed runs instead")
    cli.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (default: the task's)")
    cli.add_argument("--json", type=Path, default=None, help="also write every run's numbers here")
    args = cli.parse_args(argv)
    if args.quick:
        if "--tasks" not in (argv if argv is not None else sys.argv[1:]):
            args.tasks = ["digits-mlp"]
        args.seeds = args.seeds[:1]
    for name in args.tasks:  # fail before any work if a space does not load
        load_space(SPACES_DIR / f"{name}.yaml")

    start = time.perf_counter()
    for name in args.tasks:  # baselines first: trained once and cached, never inside a timed arm
        for seed in args.seeds:
            t0 = time.perf_counter()
            baseline = get_baseline(get_task(name, seed=seed, data_dir=args.data_dir), seed)
            log(f"baseline {name} seed {seed}: accuracy {baseline.accuracy:.4f} ({time.perf_counter() - t0:.1f}s)")
    workdir = Path(tempfile.mkdtemp(prefix="autoprune-bench-"))
    try:
        warm_up(workdir)
        results = [bench_task(name, args.seeds, args, workdir) for name in args.tasks]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text, _ = report(results, args.seeds)
    print(text)
    print(f"\ntotal {time.perf_counter() - start:.0f}s; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads available; timings are this machine's, under its load")
    if args.json:
        args.json.write_text(json.dumps(
            [{"task": r["task"], "runs": [asdict(x) for x in r["runs"]],
              "same": [[asdict(a), asdict(b)] for a, b in r["same"]]} for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
