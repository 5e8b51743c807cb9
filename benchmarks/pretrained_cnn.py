"""A real pretrained model: autoprune's default search against the hand grid, at equal wall clock.

A ResNet-8 with batch norm, twice the classic width (``benchmarks/_resnet8.py``), is trained
once on the 60,000 Fashion-MNIST training images to a plateau and cached; from then on it
is used only through the pretrained path: :class:`benchmarks._resnet8.PretrainedResNet8`,
a task whose ``build_model`` loads the cached weights, with ``baseline_epochs = 0`` (the
weights are the baseline, evaluated as they are). Per seed, in one process:

1. **grid**: what a user writes without autoprune, from the pretrained weights:
   ``torch.nn.utils.prune.global_unstructured`` L1 at 0.5 / 0.8 / 0.9 / 0.95 and
   Torch-Pruning magnitude channels (``MetaPruner``, uniform ratio) at 0.25 / 0.5 / 0.75,
   each fine-tuned ``--grid-epochs`` (3) epochs of the task, i.e. the same fixed number of
   steps on the same fixed subsets (10,000 examples per epoch index), at ``--grid-lr``.
   Its wall clock is T.
2. **default**: ``autoprune search --task benchmarks._resnet8:PretrainedResNet8`` with the
   built-in default space (no YAML written for this model: TPE with the Pareto trial
   pruner), ``budget.seconds = T``.
3. **no-recovery**: the same with distillation and BN recalibration switched off
   (``distill_weight: 0``, ``bn_recalibration: false`` fixed).
4. **tpe**: the default space without its trial pruner: with arm 2, what the Pareto trial
   pruner buys at equal wall clock.

Before the first seed, one untimed 1-trial digits search (``search_vs_grid.warm_up``) pays
the search's one-time imports, so that no timed arm does. A search arm counts the trials
that finished within T of its start. Every arm is scored
alike: the hypervolume of the non-dominated points among its complete models (accuracy
drop in points, latency and size as ratios to the dense model, reference (5, 1, 1));
a model several search arms of a seed completed is scored with one latency, the median
of their readings (``search_vs_grid.share_latency``). Latency is measured on one CPU
thread beside the dense model (the default space's ``latency.threads: 1``).

Full benchmark (2,901 s on 2 shared CPU cores on 2026-12-08, after the one-time
pretraining, whose 10 epochs over 60,000 images took 777 s on 2 threads)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.pretrained_cnn --json pretrained_cnn.json

Smoke run (one seed; ``--pretrain-epochs 3`` uses a shorter pretraining, cached apart)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.pretrained_cnn --quick

Nothing here asserts a threshold; the targets are printed with PASS / FAIL.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from autoprune import measure
from autoprune.baseline import Baseline, get_baseline
from autoprune.recipe import Recipe
from autoprune.search import RunOptions, SearchSpace, load_space, run_search
from autoprune.search.trial_pruners import TrialPrunerConfig
from autoprune.tasks import Task

if __package__:  # python -m benchmarks.pretrained_cnn (from the repository root)
    from benchmarks import search_vs_grid as svg
    from benchmarks._common import finished_trials, log, parser, table, verdict
    from benchmarks._resnet8 import EPOCHS_ENV, PRETRAIN_EPOCHS, PretrainedResNet8, pretrain
else:  # python benchmarks/pretrained_cnn.py: this directory is on sys.path
    import search_vs_grid as svg
    from _common import finished_trials, log, parser, table, verdict
    from _resnet8 import EPOCHS_ENV, PRETRAIN_EPOCHS, PretrainedResNet8, pretrain

TASK_SPEC = "benchmarks._resnet8:PretrainedResNet8"
ARMS = ("grid", "default", "no-recovery", "tpe")
#: recipe fields that switch recovery off (arm 3)
NO_RECOVERY = {"distill_weight": 0.0, "bn_recalibration": False}
ONE_POINT, HALF_POINT = 0.01, 0.005
EPS = 1e-9
# targets printed with PASS / FAIL
HV_VS_GRID = 1.2
SPEEDUP = 3.0  # a model >= 3x faster within one point
NONZERO = 0.1  # a model with >= 10x fewer non-zero weights within half a point


class NotAvailable(Exception):
    """An arm this autoprune cannot run (its recipe lacks the fields the arm sets)."""


@dataclass
class Point(svg.Point):
    """A measured model, with its non-zero weights as a fraction of the dense model's."""

    nonzero_ratio: float = 1.0


@dataclass
class Run(svg.ArmRun):
    """One arm on one seed, with the best non-zero ratio within half a point."""

    best_nonzero_ratio: float | None = None
    uniform_half_latency_ratio: float | None = None  # grid only: Torch-Pruning channels 0.5


def score(run: Run, space: SearchSpace) -> Run:
    svg.score(run, space)
    good = [p for p in run.points if p.accuracy_drop <= HALF_POINT + EPS]
    run.best_nonzero_ratio = min((p.nonzero_ratio for p in good), default=None)
    return run


def _point(label: str, measures: dict[str, Any], base: dict[str, float], space: SearchSpace,
           trial: int | None = None, model: str | None = None) -> Point:
    p = svg.make_point(label, measures, base, space, trial=trial, model=model)
    return Point(**asdict(p), nonzero_ratio=float(measures["params_nonzero"]) / base["params_total"])


# --- arm 1: the hand grid ---------------------------------------------------------------


def run_grid(task: Task, baseline: Baseline, space: SearchSpace, seed: int, epochs: int, lr: float) -> Run:
    """The grid, written with the libraries directly (``search_vs_grid``'s configurations)."""
    lat = space.latency
    inputs = task.example_input(lat.batch_size or task.benchmark_batch_size)
    with measure.torch_threads(lat.threads):  # trials train with cpus_per_trial (1) threads too
        start = time.perf_counter()
        dense = baseline.build(task)
        base = {"accuracy": baseline.accuracy, "params_total": measure.count_params(dense)[0],
                "size_bytes": measure.state_dict_size(dense.state_dict(), sparse=False)}
        points = []
        for kind, label, amount in svg._grid_configs():
            torch.manual_seed(seed)
            model = baseline.build(task)
            svg._prune_and_finetune(model, task, kind, amount, epochs, lr)
            model.eval()
            latency_ms, dense_ms = measure.measure_latency_pair(
                model, dense, inputs, threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats)
            measures = {"accuracy": task.evaluate(model), "latency_ms": latency_ms, "baseline_latency_ms": dense_ms,
                        "size_bytes": measure.state_dict_size(model.state_dict(), sparse=kind == "unstructured"),
                        "params_nonzero": measure.count_params(model)[1]}
            points.append(_point(label, measures, base, space))
    n = len(points)
    run = Run(arm="grid", task=task.name, seed=seed, wall_s=time.perf_counter() - start, epochs=n * epochs,
              trials=n, complete=n, points=points)
    half = next(p for p in points if p.label == "tp channel 0.50")
    run.uniform_half_latency_ratio = half.latency_ratio
    return score(run, space)


# --- arms 2-4: the default space ---------------------------------------------------------


def arm_space(arm: str, seed: int, seconds: float) -> SearchSpace:
    """The built-in default space on the pretrained task; only what the arm changes differs.

    Raises:
        NotAvailable: arm ``no-recovery`` on an autoprune whose recipe lacks the recovery fields.
    """
    space = load_space("default").with_overrides(task=TASK_SPEC, seed=seed, seconds=seconds, trials=100_000)
    if arm == "tpe":
        return space.with_overrides(trial_pruner=TrialPrunerConfig("none"))
    if arm == "no-recovery":
        missing = [f for f in NO_RECOVERY if f not in Recipe().to_dict()]
        if missing:
            raise NotAvailable(f"this autoprune's recipe has no {', '.join(missing)}")
        d = space.to_dict()
        d["fixed"] = {**d["fixed"], **NO_RECOVERY}
        d["params"] = {k: v for k, v in d["params"].items() if k not in NO_RECOVERY}
        d["warm_start"] = [{k: v for k, v in w.items() if k not in NO_RECOVERY} for w in d["warm_start"]]
        from autoprune.search import parse_space

        return parse_space(d, "default without recovery")
    return space


def run_search_arm(arm: str, seed: int, seconds: float, out: Path, data_dir: str | None) -> Run:
    """One timed search in ``out`` (deleted once read), its trials within ``seconds`` scored."""
    space = arm_space(arm, seed, seconds)
    options = RunOptions(out=out, tracker="none", progress=False, data_dir=data_dir)
    started_at = datetime.datetime.now()  # Optuna stamps trials with naive local time
    start = time.perf_counter()
    result = run_search(space, options=options)
    wall = time.perf_counter() - start
    finished = {t.number: (t.datetime_complete - started_at).total_seconds() for t in finished_trials(result)}
    records = [r for r in sorted(result.trials, key=lambda r: r.number) if finished.get(r.number, math.inf) <= seconds]
    shutil.rmtree(out, ignore_errors=True)
    states = [r.state for r in records]
    run = Run(
        arm=arm, task=space.task, seed=seed, wall_s=wall,
        epochs=sum(int(r.measures.get("finetune_epochs_run") or 0) for r in records), trials=len(records),
        complete=states.count("complete"), pruned=states.count("pruned"), failed=states.count("failed"),
        points=[_point(f"trial {r.number}: {r.summary()}", r.measures, result.baseline, space, trial=r.number,
                       model=svg._model_key(r)) for r in records if r.state == "complete"],
        trial_log=[svg._trial_log(r) for r in records],
    )
    return score(run, space)


def bench_seed(seed: int, args: argparse.Namespace, workdir: Path) -> list[Run]:
    task = PretrainedResNet8(seed=seed, data_dir=args.data_dir)
    baseline = get_baseline(task, seed)  # the pretrained weights, evaluated as they are
    space = load_space("default")
    grid = run_grid(task, baseline, space, seed, args.grid_epochs, args.grid_lr)
    seconds = grid.wall_s
    log(f"seed {seed}: dense {baseline.accuracy:.4f}, grid {seconds:.1f}s HV {grid.hypervolume:.3f}")
    runs: list[Run] = [grid]
    order = list(ARMS[1:])
    k = seed % len(order)  # rotate the arms' order: load drift hits each arm alike
    for arm in order[k:] + order[:k]:
        try:
            run = run_search_arm(arm, seed, seconds, workdir / f"s{seed}-{arm}", args.data_dir)
        except NotAvailable as exc:
            log(f"  {arm:<11} not run: {exc}")
            continue
        runs.append(run)
        log(f"  {arm:<11} {run.wall_s:6.1f}s {run.trials:3d} trials ({run.pruned} pruned, {run.failed} failed) "
            f"HV {run.hypervolume:.3f}")
    searched = [r for r in runs if r.arm != "grid"]
    svg.share_latency(searched, space)
    for run in searched:
        score(run, space)
    return runs


# --- the report ---------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(vals) if vals else None


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _ratio(run: Run, grid: dict[int, Run]) -> float | None:
    g = grid[run.seed].hypervolume
    return run.hypervolume / g if g > 0 else None


def _row(label: str, runs: Sequence[Run], grid: dict[int, Run]) -> list[str]:
    speed = [1 / r.best_latency_ratio if r.best_latency_ratio else None for r in runs]
    return [label, _fmt(_median([r.hypervolume for r in runs])), _fmt(_median([_ratio(r, grid) for r in runs]), ".2f") + "x",
            _fmt(_median([r.trials for r in runs]), ".0f"), _fmt(_median([r.wall_s for r in runs]), ".1f"),
            _fmt(_median(speed), ".2f") + "x", _fmt(_median([r.best_nonzero_ratio for r in runs]))]


def report(runs: Sequence[Run], seeds: Sequence[int]) -> tuple[str, list[tuple[str, bool | None]]]:
    grid = {r.seed: r for r in runs if r.arm == "grid"}
    headers = ["arm", "hypervolume", "vs grid", "trials", "wall s", "speed-up @<=1pt", "nonzero ratio @<=0.5pt"]
    per_seed = [_row(f"{r.arm} (seed {r.seed})", [r], grid) for r in runs]
    lines = ["== every seed", table(headers, per_seed),
             f"\n== medians over seeds {', '.join(map(str, seeds))} (vs grid: median of per-seed ratios)",
             table(headers, [_row(arm, [r for r in runs if r.arm == arm], grid) for arm in ARMS
                             if any(r.arm == arm for r in runs)])]
    by = {arm: [r for r in runs if r.arm == arm] for arm in ARMS}
    d = by["default"]
    ratio = _median([_ratio(r, grid) for r in d])
    lat = _median([r.best_latency_ratio for r in d])
    nz = _median([r.best_nonzero_ratio for r in d])
    half = _median([g.uniform_half_latency_ratio for g in grid.values()])
    lines.append(f"\nuniform channel 0.5 (grid): speed-up {_fmt(1 / half if half else None, '.2f')}x; "
                 f"default search's fastest model within 1 point: {_fmt(1 / lat if lat else None, '.2f')}x")
    for other in ("no-recovery", "tpe"):
        if by[other]:
            lines.append(f"default vs {other}: hypervolume {_fmt(_median([r.hypervolume for r in d]))} vs "
                         f"{_fmt(_median([r.hypervolume for r in by[other]]))} (median ratio "
                         f"{_fmt(_median([a.hypervolume / b.hypervolume if b.hypervolume else None for a, b in _pairs(d, by[other])]), '.2f')}x)")
    targets = [
        (f"default >= {HV_VS_GRID}x the grid's hypervolume (median ratio {_fmt(ratio, '.2f')}x)",
         None if ratio is None else ratio >= HV_VS_GRID),
        (f"default's front holds a model >= {SPEEDUP:g}x faster within 1 point (median best {_fmt(1 / lat if lat else None, '.2f')}x)",
         None if lat is None else lat <= 1 / SPEEDUP + EPS),
        (f"default's front holds a model with >= {1 / NONZERO:g}x fewer non-zero weights within 0.5 point "
         f"(median best ratio {_fmt(nz)})", None if nz is None else nz <= NONZERO + EPS),
        (f"default reaches the uniform channel-0.5 speed-up within 1 point (median latency ratio {_fmt(lat)} vs "
         f"{_fmt(half)})", None if lat is None or half is None else lat <= half + EPS),
    ]
    lines.append("\n== targets")
    lines += [f"{verdict(ok):4}  {text}" for text, ok in targets]
    return "\n".join(lines), targets


def _pairs(a: Sequence[Run], b: Sequence[Run]) -> list[tuple[Run, Run]]:
    other = {r.seed: r for r in b}
    return [(r, other[r.seed]) for r in a if r.seed in other]


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser(__doc__)
    cli.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    cli.add_argument("--quick", action="store_true", help="smoke run: the first seed only")
    cli.add_argument("--grid-epochs", type=int, default=3, help="fine-tune epochs (of 10,000 examples) per grid model")
    cli.add_argument("--grid-lr", type=float, default=PretrainedResNet8.baseline_lr,
                     help="fine-tune learning rate of the grid (default: the task's baseline_lr, "
                          "which the search's finetune_lr_scale multiplies)")
    cli.add_argument("--pretrain-only", action="store_true", help="pretrain (or find cached) and stop")
    cli.add_argument("--pretrain-epochs", type=int, default=None,
                     help=f"pretraining epochs (default {PRETRAIN_EPOCHS}); fewer only for a smoke run on a busy machine")
    cli.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (default: the task's)")
    cli.add_argument("--json", type=Path, default=None, help="also write every run's numbers here")
    args = cli.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1]
    if args.pretrain_epochs is not None:  # the task the search builds reads it too
        os.environ[EPOCHS_ENV] = str(args.pretrain_epochs)
    start = time.perf_counter()
    path = pretrain(None, args.data_dir, log=log)  # once: cached, never inside a timed arm
    log(f"pretrained weights: {path} ({time.perf_counter() - start:.0f}s)")
    if args.pretrain_only:
        return 0
    start = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="autoprune-bench-"))
    try:
        # untimed, as in search_vs_grid: the search's first-call imports (scikit-learn, the
        # FLOP counter, the report's) would otherwise fall inside the first timed search arm
        svg.warm_up(workdir)
        runs = [run for seed in args.seeds for run in bench_seed(seed, args, workdir)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text, _ = report(runs, args.seeds)
    print(text)
    print(f"\ntotal {time.perf_counter() - start:.0f}s after pretraining; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads available; timings are this machine's, under its load")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
