"""Trials per minute: the local executor against the Ray executor with 1 and 2 workers.

CPU-bound digits-mlp trials (``benchmarks/spaces/ray-digits-mlp.yaml``: unstructured
masks on the dense MLP, 15 fine-tune epochs, about 1.1 s on one core), one torch thread per
trial (``cpus_per_trial=1``), the random sampler so that every configuration runs the same
recipes. Every configuration runs the same number of trials, in one process, one after the
other; that is one round, and the script runs several (3 by default) so that a slow spell
of a shared machine does not land on one configuration only:

- ``local``: ``RunOptions(executor="local")``, trials in the controller's process;
- ``ray-1`` / ``ray-2``: ``RunOptions(executor="ray", workers=1 | 2)`` on a local Ray
  instance started once by this script. Starting Ray (``ray.init``) and the first task
  on each worker process (importing torch and autoprune) are timed separately as startup,
  not counted in trials per minute; neither is each search's start of its worker actors
  (loading the task), which ends before the first trial is asked.

Measured per configuration and round, from the study itself: the trial phase (first
trial asked to last trial told; this leaves out the baseline measurement and the report
the search also writes), trials per minute over that phase, the mean seconds inside a
trial (``run_trial`` on the worker), and the controller's overhead:
``phase - sum(trial seconds) / workers``, as a fraction of the phase and in seconds per
trial. The table pools the rounds (trials and phases added up); the speedup of 2 workers
over 1 is the median of the rounds' ratios. This space has no trial pruner, so Ray workers
never wait for the controller inside a trial; with one, each fine-tune report's round trip
(worker -> hub actor -> controller -> worker) would show as longer trials, not as overhead.

Command (about 8 minutes on 2 idle cores)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.ray_throughput

Smoke run (one round of 6 trials per configuration)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks.ray_throughput --quick

``--json out.json`` also writes every configuration's rounds (trials, failed, phase and
per-trial seconds, trials per minute, overhead fraction) and the Ray startup times.
``--run-root /dev/shm`` puts the run directories (and their SQLite study) on tmpfs, to
separate the cost of the study's disk commits from the rest of the overhead.
Targets (printed with PASS / FAIL, never asserted): 2 Ray workers reach >= 1.7x the
trials per minute of 1; the controller's overhead is < 5% of the trial phase.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
import torch

from autoprune.baseline import get_baseline
from autoprune.search import RunOptions, SearchSpace, load_space, run_search
from autoprune.tasks import get_task

if __package__:  # python -m benchmarks.ray_throughput (from the repository root)
    from benchmarks._common import finished_trials, log, parser, table, untimed_search, verdict
else:  # python benchmarks/ray_throughput.py: this directory is on sys.path
    from _common import finished_trials, log, parser, table, untimed_search, verdict

SPACE = Path(__file__).resolve().parent / "spaces" / "ray-digits-mlp.yaml"
CONFIGS = {"local": ("local", 1), "ray-1": ("ray", 1), "ray-2": ("ray", 2)}
SPEEDUP_TARGET = 1.7
OVERHEAD_TARGET = 0.05


@dataclass
class Throughput:
    config: str
    workers: int
    trials: int
    failed: int
    phase_s: float  # first trial asked -> last trial told
    trial_s: list[float]  # seconds inside each trial (run_trial on the worker)

    @property
    def mean_trial_s(self) -> float:
        return statistics.mean(self.trial_s)

    @property
    def per_minute(self) -> float:
        return 60.0 * self.trials / self.phase_s

    @property
    def overhead_s(self) -> float:
        """Phase time not spent inside trials, per worker: phase - sum(trial seconds) / workers."""
        return self.phase_s - sum(self.trial_s) / self.workers

    @property
    def overhead_fraction(self) -> float:
        return self.overhead_s / self.phase_s

    @property
    def overhead_per_trial_s(self) -> float:
        """Controller seconds per trial (slot-seconds outside trials / trials)."""
        return self.overhead_s * self.workers / self.trials


def run_config(space: SearchSpace, name: str, out: Path) -> Throughput:
    executor, workers = CONFIGS[name]
    options = RunOptions(out=out, executor=executor, workers=workers, cpus_per_trial=1, tracker="none",
                         progress=False)
    result = run_search(space, options=options)
    trials = finished_trials(result)
    phase = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    seconds = [float(t.user_attrs.get("seconds", 0.0)) for t in trials]
    failed = sum(1 for t in trials if t.state == optuna.trial.TrialState.FAIL)
    return Throughput(config=name, workers=workers, trials=len(trials), failed=failed, phase_s=phase,
                      trial_s=seconds)


def start_ray(workers: int) -> tuple[float, float]:
    """``ray.init`` as the executor would call it, then one task per worker process.

    Returns (ray.init seconds, first-task seconds). The first task imports what a trial
    imports, so worker processes are warm before the timed searches.
    """
    import ray

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=True)
    init_s = time.perf_counter() - t0

    @ray.remote(num_cpus=1)
    def warm(seconds: float) -> int:
        # what a trial imports
        import autoprune.search._executors
        import autoprune.trial  # noqa: F401

        time.sleep(seconds)  # overlap, so each task lands on its own worker process
        return os.getpid()

    t0 = time.perf_counter()
    pids = ray.get([warm.remote(1.0) for _ in range(workers)])
    warm_s = time.perf_counter() - t0 - 1.0
    if len(set(pids)) < workers:
        log(f"note: the warm-up ran on {len(set(pids))} worker processes, not {workers}")
    return init_s, warm_s


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser(__doc__)
    cli.add_argument("--trials", type=int, default=30, help="trials per configuration and round")
    cli.add_argument("--rounds", type=int, default=3, help="rounds, each running every configuration once")
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--quick", action="store_true", help="smoke run: one round of 6 trials per configuration")
    cli.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    cli.add_argument("--run-root", type=Path, default=None,
                     help="where run directories (and their SQLite study) go (default: a temp dir)")
    cli.add_argument("--json", type=Path, default=None, help="also write every round's numbers here")
    args = cli.parse_args(argv)
    trials, rounds = (6, 1) if args.quick else (args.trials, args.rounds)
    space = load_space(SPACE).with_overrides(trials=trials, seed=args.seed)

    task = get_task(space.task, seed=space.seed)
    get_baseline(task, space.seed)  # cached before anything is timed
    root = Path(tempfile.mkdtemp(prefix="autoprune-ray-bench-", dir=args.run_root))
    results: dict[str, list[Throughput]] = {name: [] for name in args.configs}
    startup: dict[str, float] = {}
    try:
        # untimed: imports and first-call costs of the controller process
        untimed_search(space.with_overrides(trials=1), root / "warm-up")
        for round_ in range(rounds):
            for name in args.configs:
                if CONFIGS[name][0] == "ray" and not startup:
                    startup["ray.init"], startup["first task on each worker"] = start_ray(
                        max(CONFIGS[n][1] for n in args.configs if CONFIGS[n][0] == "ray"))
                    log(f"ray startup: init {startup['ray.init']:.1f}s, workers {startup['first task on each worker']:.1f}s")
                r = run_config(space, name, root / f"{name}-{round_}")
                results[name].append(r)
                log(f"round {round_ + 1}/{rounds} {name}: {r.trials} trials in {r.phase_s:.1f}s "
                    f"({r.per_minute:.1f}/min), mean trial {r.mean_trial_s:.2f}s, overhead {100 * r.overhead_fraction:.1f}%")
    finally:
        if startup:
            import ray

            ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)

    totals = {name: _pooled(runs) for name, runs in results.items()}
    rows = [[name, str(r.workers), str(r.trials), str(r.failed), f"{r.mean_trial_s:.2f}", f"{r.phase_s:.1f}",
             f"{r.per_minute:.1f}", " ".join(f"{x.per_minute:.1f}" for x in results[name]),
             f"{100 * r.overhead_fraction:.1f}%", f"{r.overhead_per_trial_s:.3f}"] for name, r in totals.items()]
    print(f"\n== trials per minute, digits-mlp, {rounds} round(s) of {trials} trials per configuration, "
          f"1 torch thread per trial, {os.cpu_count()} CPUs")
    print(table(["executor", "workers", "trials", "failed", "mean trial s", "phase s", "trials/min",
                 "per round", "overhead", "overhead s/trial"], rows))
    if startup:
        print("ray startup (not in trials/min): " + ", ".join(f"{k} {v:.1f}s" for k, v in startup.items()))
    print("\n== targets")
    if args.quick:
        print("(smoke run: a round of 6 trials is mostly start and tail, where one worker waits for the "
              "other's last trial; judge the targets on a full run)")
    if "ray-1" in totals and "ray-2" in totals:
        speedups = [two.per_minute / one.per_minute for one, two in zip(results["ray-1"], results["ray-2"])]
        speedup = statistics.median(speedups)
        print(f"{verdict(speedup >= SPEEDUP_TARGET)}  2 Ray workers >= {SPEEDUP_TARGET}x the trials/min of 1 "
              f"({speedup:.2f}x, median of the rounds: {', '.join(f'{x:.2f}x' for x in speedups)})")
    for name, r in totals.items():
        note = "" if r.mean_trial_s >= 1.0 else " (trials shorter than 1 s: target not applicable)"
        print(f"{verdict(r.overhead_fraction < OVERHEAD_TARGET)}  {name}: controller overhead < "
              f"{OVERHEAD_TARGET:.0%} of the trial phase ({100 * r.overhead_fraction:.1f}%, "
              f"{r.overhead_per_trial_s:.3f}s per trial){note}")
    print(f"\ntorch {torch.__version__}; timings are this machine's, under its load")
    if args.json:
        args.json.write_text(json.dumps({
            "trials": trials, "rounds": rounds, "cpus": os.cpu_count(), "startup_s": startup,
            "configs": {name: [{**asdict(r), "per_minute": r.per_minute, "overhead_fraction": r.overhead_fraction}
                               for r in runs] for name, runs in results.items()},
        }, indent=1))
    return 0


def _pooled(runs: list[Throughput]) -> Throughput:
    """Every round of one configuration as one run: trials and phases added up."""
    return Throughput(config=runs[0].config, workers=runs[0].workers, trials=sum(r.trials for r in runs),
                      failed=sum(r.failed for r in runs), phase_s=sum(r.phase_s for r in runs),
                      trial_s=[s for r in runs for s in r.trial_s])


if __name__ == "__main__":
    sys.exit(main())
