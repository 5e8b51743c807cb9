"""Transformers: autoprune's search against a hand grid of head / FFN / layer pruning, at
the same wall clock, on a small pretrained ViT.

The model: a Hugging Face ``ViTForImageClassification`` (4 layers of 4 heads, hidden 96,
FFN 384, 7x7 patches of 28x28 Fashion-MNIST images) trained once to a plateau and cached
with ``save_pretrained`` (:mod:`benchmarks._vit_pretrain`); from then on it is used only
through the pretrained path, the ``hf-image-classification`` task with
``baseline_epochs: 0`` reading that directory and the idx files. Each epoch of
fine-tuning sees ``--train-limit`` training images (a new shuffled subset per epoch);
accuracy is scored on a fixed ``--val-limit`` subset of the test images.

For each seed (``--seeds``, default 0 1 2), in one process:

1. **grid**: the six recipes a user would try by hand, each pruned from the pretrained
   model and fine-tuned the same budget (``--grid-epochs`` epochs at ``--grid-lr``):
   heads 0.25 / 0.5, FFN 0.25 / 0.5, one and two of the four layers removed (granularity
   ``layer`` at 0.25 / 0.5). Each is one :func:`autoprune.trial.run_trial`, measured as a
   search trial is. A granularity that is not registered is reported and skipped. Its
   wall clock is T.
2. **search**: ``autoprune search`` on the transformer space (``--space``, default
   ``search_spaces/transformer.yaml``) with the task above and ``budget.seconds = T``;
   only the trials that finished within T count.

Both arms are scored alike: the hypervolume of the non-dominated complete models on
(accuracy drop in points, latency as a ratio to the dense model timed beside it on one
CPU thread at the task's batch size), reference point (5 points, 1.0). Targets (printed
PASS / FAIL): the search's hypervolume >= 1.2x the grid's (median of per-seed ratios);
the search's front holds a model >= 1.5x faster than dense within 1 point of its accuracy
(in the median seed's terms: the median over seeds of the best such latency ratio).

Full run (about 17 minutes on 2 cores after the one-time pretraining, which takes
10-15 minutes on one thread the first time)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.transformer --json transformer.json

Smoke run (one seed)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.transformer --quick
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from autoprune.baseline import get_baseline
from autoprune.errors import AutopruneError
from autoprune.measure import LatencyConfig
from autoprune.recipe import Recipe
from autoprune.search import RunOptions, SearchSpace, load_space, parse_space, run_search
from autoprune.tasks import Task, get_task
from autoprune.trial import run_trial

if __package__:  # python -m benchmarks.transformer
    from benchmarks._common import finished_trials, log, parser, table, verdict
    from benchmarks._vit_pretrain import pretrain_vit
    from benchmarks.search_vs_grid import ArmRun, front_hypervolume, make_point
else:  # python benchmarks/transformer.py
    from _common import finished_trials, log, parser, table, verdict
    from _vit_pretrain import pretrain_vit
    from search_vs_grid import ArmRun, front_hypervolume, make_point

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPACE = REPO / "search_spaces" / "transformer.yaml"
# (label, recipe fields): the hand grid
GRID = (
    ("heads 0.25", {"granularity": "head", "sparsity": 0.25}),
    ("heads 0.50", {"granularity": "head", "sparsity": 0.5}),
    ("ffn 0.25", {"granularity": "ffn", "sparsity": 0.25}),
    ("ffn 0.50", {"granularity": "ffn", "sparsity": 0.5}),
    ("1 layer removed", {"granularity": "layer", "sparsity": 0.25}),
    ("2 layers removed", {"granularity": "layer", "sparsity": 0.5}),
)
HV_VS_GRID = 1.2
SPEEDUP = 1.5
ONE_POINT = 0.01
EPS = 1e-9
# every arm is scored on the same two axes, whatever the space optimises
SCORING = parse_space({"objectives": {"accuracy": "max", "latency_ms": "min"},
                       "params": {"sparsity": {"low": 0.1, "high": 0.9}}}, "scoring")


def task_spec(model_dir: Path, data_dir: str | None, args: Any) -> dict[str, Any]:
    """The ``task:`` mapping both arms use: the cached ViT through the pretrained path."""
    from autoprune.tasks._fashion import DEFAULT_DATA_DIR

    return {"kind": "hf-image-classification", "model": str(model_dir), "data": data_dir or DEFAULT_DATA_DIR,
            "baseline_epochs": 0, "batch_size": 64, "train_limit": args.train_limit,
            "val_limit": args.val_limit, "weight_decay": 0.05}


def score(run: ArmRun) -> ArmRun:
    run.hypervolume = front_hypervolume([p.objectives for p in run.points], SCORING)
    good = [p for p in run.points if p.accuracy_drop <= ONE_POINT + EPS]
    run.best_latency_ratio = min((p.latency_ratio for p in good), default=None)
    run.best_size_ratio = min((p.size_ratio for p in good), default=None)
    return run


def run_grid(task: Task, seed: int, latency: LatencyConfig, epochs: int, lr: float) -> tuple[ArmRun, list[str]]:
    """The hand grid; returns the arm and the recipes skipped (granularity not registered)."""
    baseline = get_baseline(task, seed)
    base = {"accuracy": baseline.accuracy, **baseline.reference(task)}
    points, skipped, done = [], [], 0
    start = time.perf_counter()
    for label, fields in GRID:
        try:
            recipe = Recipe.from_dict({**fields, "finetune_epochs": epochs, "finetune_lr": lr})
        except AutopruneError as exc:
            skipped.append(f"{label}: {exc}")
            continue
        result = run_trial(task, recipe, baseline, seed=seed, latency=latency)
        measures = result.measures() if callable(getattr(result, "measures", None)) else asdict(result)
        points.append(make_point(label, measures, base, SCORING))
        done += 1
    wall = time.perf_counter() - start
    run = ArmRun(arm="grid", task=task.name, seed=seed, wall_s=wall, epochs=done * epochs, trials=done,
                 complete=done, points=points)
    return score(run), skipped


def run_search_arm(space: SearchSpace, seed: int, seconds: float, out: Path) -> ArmRun:
    """``autoprune search`` for ``seconds``; trials finished after that do not count."""
    the_space = space.with_overrides(seed=seed, seconds=seconds, trials=100_000)
    started_at = datetime.datetime.now()  # Optuna stamps trials with naive local time
    start = time.perf_counter()
    result = run_search(the_space, options=RunOptions(out=out, tracker="none", progress=False))
    wall = time.perf_counter() - start
    finished = {t.number: (t.datetime_complete - started_at).total_seconds() for t in finished_trials(result)}
    records = [r for r in sorted(result.trials, key=lambda r: r.number) if finished.get(r.number, math.inf) <= seconds]
    shutil.rmtree(out, ignore_errors=True)
    states = [r.state for r in records]
    run = ArmRun(arm="search", task=str(space.task.get("kind")), seed=seed, wall_s=wall,
                 epochs=sum(int(r.measures.get("finetune_epochs_run") or 0) for r in records), trials=len(records),
                 complete=states.count("complete"), pruned=states.count("pruned"), failed=states.count("failed"),
                 points=[make_point(f"trial {r.number}: {r.summary()}", r.measures, result.baseline, SCORING,
                                    trial=r.number) for r in records if r.state == "complete"],
                 trial_log=[{"number": r.number, "state": r.state, "recipe": r.summary() if r.recipe else "",
                             "accuracy_drop": r.measures.get("accuracy_drop"),
                             "latency_ratio": r.measures.get("latency_ratio")} for r in records])
    return score(run)


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(vals) if vals else None


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def report(runs: Sequence[ArmRun], seeds: Sequence[int]) -> tuple[str, list[tuple[str, bool | None]]]:
    grid_hv = {r.seed: r.hypervolume for r in runs if r.arm == "grid"}
    rows, medians = [], {}
    for arm in ("grid", "search"):
        mine = [r for r in runs if r.arm == arm]
        m = medians[arm] = {
            "hv": _median([r.hypervolume for r in mine]),
            "ratio": _median([r.hypervolume / grid_hv[r.seed] if grid_hv.get(r.seed) else None for r in mine]),
            "lat": _median([r.best_latency_ratio for r in mine]),
        }
        rows.append([arm, _fmt(m["hv"]), _fmt(m["ratio"], ".2f") + "x", _fmt(_median([r.trials for r in mine]), ".0f"),
                     _fmt(_median([r.epochs for r in mine]), ".0f"), _fmt(_median([r.wall_s for r in mine]), ".0f"),
                     _fmt(m["lat"]), _fmt(None if not m["lat"] else 1 / m["lat"], ".2f") + "x"])
    lines = [f"== ViT on Fashion-MNIST: medians over seeds {', '.join(map(str, seeds))}",
             table(["arm", "hypervolume", "vs grid", "trials", "ft epochs", "wall s", "best lat ratio @<=1pt",
                    "speed-up @<=1pt"], rows), "", "-- per seed and model (accuracy drop in points, latency ratio)"]
    for r in runs:
        lines.append(f"{r.arm} seed {r.seed}: HV {r.hypervolume:.3f}, {r.trials} trials in {r.wall_s:.0f}s")
        lines += [f"    {p.label}: {100 * p.accuracy_drop:+.2f} pts, latency x{p.latency_ratio:.3f}" for p in r.points]
    s = medians["search"]
    targets = [
        (f"search hypervolume >= {HV_VS_GRID}x the grid's (median ratio {_fmt(s['ratio'], '.2f')}x)",
         None if s["ratio"] is None else s["ratio"] >= HV_VS_GRID),
        (f"search front holds a model >= {SPEEDUP}x faster within 1 point of dense (median best latency ratio "
         f"{_fmt(s['lat'])})", None if not any(r.arm == "search" for r in runs)
         else s["lat"] is not None and s["lat"] <= 1 / SPEEDUP + EPS),
    ]
    lines += ["", "== targets"] + [f"{verdict(ok):4}  {text}" for text, ok in targets]
    return "\n".join(lines), targets


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser(__doc__)
    cli.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    cli.add_argument("--quick", action="store_true", help="smoke run: the first seed only")
    cli.add_argument("--space", type=Path, default=DEFAULT_SPACE, help="the search's space (its task is replaced)")
    cli.add_argument("--grid-epochs", type=int, default=8, help="fine-tune epochs of every grid model")
    cli.add_argument("--grid-lr", type=float, default=5e-4, help="fine-tune learning rate of the grid (the "
                     "search scales the task's default baseline_lr, 5e-5)")
    cli.add_argument("--train-limit", type=int, default=4000, help="training images per fine-tune epoch")
    cli.add_argument("--val-limit", type=int, default=2000, help="test images scored")
    cli.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (default: the task's)")
    cli.add_argument("--json", type=Path, default=None, help="also write every run's numbers here")
    args = cli.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1]
    start = time.perf_counter()
    previous = torch.get_num_threads()
    model_dir = pretrain_vit(args.data_dir)  # cached: trained once, never timed
    log(f"pretrained ViT: {model_dir} (held-out accuracy "
        f"{json.loads((model_dir / 'pretrain.json').read_text())['holdout_accuracy']:.4f})")
    spec = task_spec(model_dir, args.data_dir, args)
    space = load_space(args.space).with_overrides(task=spec)
    latency = space.latency
    workdir = Path(tempfile.mkdtemp(prefix="autoprune-bench-transformer-"))
    runs: list[ArmRun] = []
    try:
        for seed in args.seeds:
            torch.set_num_threads(1)  # trials train on one thread (cpus_per_trial 1), the grid too
            task = get_task(spec, seed=seed)
            grid, skipped = run_grid(task, seed, latency, args.grid_epochs, args.grid_lr)
            torch.set_num_threads(previous)
            for line in skipped:
                log(f"  grid: skipped {line}")
            log(f"seed {seed}: baseline {get_baseline(task, seed).accuracy:.4f}; grid {grid.wall_s:.0f}s, "
                f"HV {grid.hypervolume:.3f}")
            search = run_search_arm(space, seed, grid.wall_s, workdir / f"search-s{seed}")
            log(f"  search {search.wall_s:.0f}s, {search.trials} trials ({search.failed} failed), "
                f"HV {search.hypervolume:.3f}")
            runs += [grid, search]
    finally:
        torch.set_num_threads(previous)
        shutil.rmtree(workdir, ignore_errors=True)
    text, _ = report(runs, args.seeds)
    print(text)
    print(f"\ntotal {time.perf_counter() - start:.0f}s; torch {torch.__version__}; timings are this machine's, "
          f"under its load")
    if args.json:
        args.json.write_text(json.dumps({"task": spec, "space": str(args.space),
                                         "runs": [asdict(r) for r in runs]}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
