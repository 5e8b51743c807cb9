"""The ``autoprune`` command line.

Library errors (:class:`autoprune.errors.AutopruneError`) become one line on stderr and
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import warnings
import sys
from pathlib import Path
from typing import Sequence

from autoprune._plugins import load_plugins
from autoprune.errors import AutopruneError, ConfigError

__all__ = ["main", "build_parser"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (flags, None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        default = action.default
        # identity, not equality: a default of 0 is shown, False (a flag) is not
        if default is None or default is False or default == [] or default is argparse.SUPPRESS \
                or "%(default)" in (action.help or ""):
            return action.help or ""
        if "default" in (action.help or ""):  # the help already says it in words
            return action.help or ""
        return super()._get_help_string(action) or ""


def _version() -> str:
    from autoprune import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoprune", description="AutoML pruning search for PyTorch models.", formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"autoprune {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress details, and the messages of torch, ONNX, MLflow, Neptune, Ray and FLAML")
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
        help="import a module (pkg.module) or file (path/to/file.py) that registers criteria, "
        "granularities, ... before anything is resolved; repeatable",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser = functools.partial(sub.add_parser, formatter_class=HelpFormatter)  # type: ignore[method-assign]

    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(handler=_tasks)

    trial = sub.add_parser("trial", help="prune, fine-tune and measure one recipe")
    trial.add_argument("--task", default="digits-mlp", help="built-in name, pkg.mod:attr or file.py:attr")
    from autoprune.search._cli import add_search_commands, add_task_option_flags

    add_task_option_flags(trial)
    trial.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                       help="recipe fields; repeatable, later values win")
    trial.add_argument("--seed", type=int, default=0, help="seed of the baseline, the trial and the data order")
    trial.add_argument("--data-dir", default=None, help="data directory for tasks that read files")
    trial.add_argument("--out", type=Path, default=None, help="write result.json and model.pt here")
    trial.add_argument("--threads", type=int, default=1, help="torch threads for latency")
    trial.add_argument("--json", action="store_true", help="print one JSON object")
    trial.set_defaults(handler=_trial)

    from autoprune.search._cli import add_device_flags

    add_device_flags(trial, space=False)

    add_search_commands(sub)
    return parser


def quiet_third_party() -> None:
    """Hide what other libraries print that says nothing about the search (``-v`` keeps it).

    Set before those libraries are imported: MLflow and Ray read their log levels from the
    environment when they load. The ONNX exporter's lines are hidden by :mod:`autoprune.export`
    and Neptune's offline "Open in the app" link by the Neptune tracker.
    """
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # "Creating initial MLflow database tables..."
    os.environ.setdefault("RAY_LOGGER_LEVEL", "warning")  # "Started a local Ray instance." and its banner
    # the local instance autoprune starts keeps Ray's token authentication on: no need to say so
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # the same, where mlflow is already imported
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the MLflow store's migrations
    # core flaml warns that its AutoML part is absent; autoprune uses flaml.tune only
    warnings.filterwarnings("ignore", message="flaml.automl is not available")


def _plugin_specs(argv: Sequence[str] | None) -> list[str]:
    """The ``--plugin`` values given before the command (read ahead of the full parse)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    return known.plugin


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # plug-ins first: the parser's choices and every name resolved later see their registrations
        load_plugins(_plugin_specs(argv))
    except AutopruneError as exc:
        print(f"autoprune: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not args.verbose:
        quiet_third_party()
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        # the reader went away (``autoprune pareto RUN | head -2``): it has what it wanted;
        # stdout goes to /dev/null so the interpreter's final flush stays silent too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except AutopruneError as exc:
        print(f"autoprune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autoprune: interrupted", file=sys.stderr)
        return 130


def _tasks(args: argparse.Namespace) -> int:
    from autoprune.registry import TASKS

    width = max(len(n) for n in TASKS)
    for name, factory in TASKS.items():  # the built-ins and any a plug-in registered
        print(f"{name:<{width}}  {getattr(factory, 'description', '')}")
    return 0


def _trial(args: argparse.Namespace) -> int:
    from autoprune.baseline import get_baseline
    from autoprune.pruning import granularity_of, prunable_layers
    from autoprune.recipe import Recipe
    from autoprune.devices import amp_mode
    from autoprune.search._checks import check_devices, check_output_dir, check_seed
    from autoprune.tasks import get_task
    from autoprune.trial import LatencyConfig, run_trial

    recipe = Recipe.from_strings(args.set)  # bad fields fail here, before any training
    if not 1 <= args.threads <= 1024:
        raise ConfigError(f"--threads must be in [1, 1024], but got --threads={args.threads}.")
    check_seed("--seed", args.seed)
    amp = amp_mode(args.amp)
    device = check_devices(args.device or "auto", amp, args.latency_device or "cpu")
    if args.out is not None:
        check_output_dir("--out", args.out)
    from autoprune.tasks import task_from_flags

    spec = task_from_flags(None, args.task, args.model, args.data, args.task_option)
    task = get_task(args.task if spec is None else spec, seed=args.seed, data_dir=args.data_dir)
    model = task.build_model()
    prunable_layers(model, recipe)  # a model with nothing to prune fails before training
    granularity_of(recipe).check_model(model, task, recipe)  # heads without attention, every layer removed
    baseline = get_baseline(task, args.seed, device=device)
    latency = LatencyConfig(threads=args.threads, device=args.latency_device or "cpu")
    # device and amp only when set: a trial on the CPU in float32 is run_trial's default
    devices = {k: v for k, v in (("device", device), ("amp", amp)) if v not in ("cpu", None)}
    result = run_trial(task, recipe, baseline, seed=args.seed, latency=latency, **devices)
    # task_spec and data_dir: what autoprune export needs to build the model again
    payload = {"task": task.name, "task_spec": args.task if spec is None else spec, "data_dir": args.data_dir,
               "seed": args.seed, **result.to_dict(), "device": device, "amp": amp,
               "latency_device": latency.device}
    if args.out is not None:
        from autoprune.serialize import save_pruned

        args.out.mkdir(parents=True, exist_ok=True)
        model_path = save_pruned(
            args.out / "model.pt", result.model, recipe=recipe, task_name=task.name,
            sparse=granularity_of(recipe).packed,
        )
        payload["model_path"] = str(model_path)
        (args.out / "result.json").write_text(json.dumps(payload, indent=2))
    if args.json:
        print(json.dumps(payload))
    else:
        _print_trial(payload)
    return 0


def _print_trial(p: dict) -> None:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}x" if b else "n/a"

    print(f"task {p['task']}  recipe: {p['recipe']}")
    print(f"status {p['status']}  fine-tune epochs {p['finetune_epochs_run']}  {p['seconds']:.1f}s  "
          f"on {p['device']}{' (' + p['amp'] + ')' if p['amp'] else ''}, latency on {p['latency_device']}")
    print(
        f"  accuracy     {p['accuracy']:.4f}  (baseline {p['baseline_accuracy']:.4f}, "
        f"drop {100 * p['accuracy_drop']:+.2f} points)"
    )
    rows = [
        ("params_total", p["params_total"], p["baseline_params_total"]),
        ("params_nonzero", p["params_nonzero"], p["baseline_params_total"]),
        ("size_bytes", p["size_bytes"], p["baseline_size_bytes"]),
        ("flops", p["flops"], p["baseline_flops"]),
        ("latency_ms", p["latency_ms"], p["baseline_latency_ms"]),
    ]
    for name, value, base in rows:
        shown = f"{value:.3f}" if isinstance(value, float) else f"{value}"
        based = f"{base:.3f}" if isinstance(base, float) else f"{base}"
        print(f"  {name:<13}{shown:>12}  baseline {based:>12}  ratio {ratio(value, base)}")
    print(f"  sparsity_achieved {p['sparsity_achieved']:.3f}")
    if "model_path" in p:
        print(f"model saved to {p['model_path']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
