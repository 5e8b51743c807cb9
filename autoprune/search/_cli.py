"""``autoprune search | pareto | export | report``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autoprune.registry import BACKENDS, EXECUTORS, TRACKERS, TRIAL_PRUNERS

__all__ = ["add_search_commands", "add_device_flags", "add_task_option_flags"]


def _names(registry) -> str:
    return " | ".join(registry.names())


def add_search_commands(sub: argparse._SubParsersAction) -> None:
    # Names are checked by the registries (one ConfigError line listing them, exit 2), not
    # by argparse ``choices``, so a bad flag reads like a bad YAML value; the help lists them.
    from autoprune import tracking  # noqa: F401  (registers the trackers)
    from autoprune.search import _executors, _ray, backends, trial_pruners  # noqa: F401  (register them)

    samplers = "; ".join(f"{' | '.join(cls.samplers)} ({name})" for name, cls in BACKENDS.items())

    s = sub.add_parser("search", help="search pruning recipes; the Pareto front is the answer")
    s.add_argument("space", nargs="?", default=None,
                   help="search space YAML (default: search_spaces/default.yaml; with --resume: the run's own)")
    s.add_argument("--task", default=None, help="override the space's task (default: the space's)")
    add_task_option_flags(s)
    s.add_argument("--trials", type=int, default=None, help="override the trial budget (default: the space's; 16 in default.yaml)")
    s.add_argument("--seed", type=int, default=None, help="seed of the sampler, trials and data (default: the space's)")
    s.add_argument("--out", type=Path, default=None, help="run directory (default autoprune-runs/<study>)")
    s.add_argument("--storage", default=None, help="Optuna storage URL (default: SQLite in the run directory)")
    s.add_argument("--backend", default=None, help=f"{_names(BACKENDS)} (default: the space's)")
    s.add_argument("--sampler", default=None, help=f"{samplers} (default: the space's)")
    s.add_argument("--trial-pruner", default=None, help=f"{_names(TRIAL_PRUNERS)} (default: the space's)")
    s.add_argument("--resume", action="store_true",
                   help="continue the study in --out / --storage; alone, exactly the search it was")
    s.add_argument("--executor", default=None, help=f"{_names(EXECUTORS)} (default: the space's, else local; ray when --workers > 1)")
    s.add_argument("--workers", type=int, default=None, help="trials at once (Ray; default 1)")
    s.add_argument("--address", default=None, help="Ray cluster address (else $RAY_ADDRESS or a local Ray)")
    s.add_argument("--cpus-per-trial", type=float, default=None,
                   help="CPUs per trial, also its torch threads (default: the space's, else 1)")
    s.add_argument("--gpus-per-trial", type=float, default=None, help="GPUs per trial (default: the space's, else 0)")
    add_device_flags(s, space=True)
    s.add_argument("--data-dir", default=None, help="data directory for tasks that read files")
    s.add_argument("--models", default=None,
                   help="models kept in the run directory: front | all (default: the space's, else front)")
    s.add_argument("--tracker", default="auto",
                   help=f"{_names(TRACKERS)}; several separated by commas, e.g. mlflow,neptune "
                   "(auto: Neptune when installed)")
    s.add_argument("--quiet", action="store_true",
                   help="no progress lines (on a terminal, progress bars; in a file or a pipe, a line per trial)")
    s.set_defaults(handler=_search)

    p = sub.add_parser("pareto", help="show the Pareto front of a run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--json", action="store_true")
    _add_read_flags(p)
    p.set_defaults(handler=_pareto)

    e = sub.add_parser("export", help="export a trial's pruned model (of a search, or of autoprune trial --out)")
    e.add_argument("run_dir", type=Path, help="a search's run directory, or the directory autoprune trial --out wrote")
    e.add_argument("--trial", type=int, default=None,
                   help="trial number, for a run directory (a model not kept is rebuilt from its recipe and seed)")
    e.add_argument("--format", default="state_dict",
                   help="state_dict | torch_export | onnx | hf (only state_dict keeps unstructured and N:M sparsity "
                        "packed; hf: a save_pretrained directory of a Hugging Face model, autoprune.hf.from_pretrained "
                        "loads it back)")
    e.add_argument("--output", type=Path, required=True, help="file to write (format hf: a directory)")
    e.add_argument("--tolerance", type=float, default=1e-4,
                   help="how far a rebuilt trial's accuracy may land from the recorded one")
    _add_read_flags(e, task=True)
    e.set_defaults(handler=_export)

    t = sub.add_parser("trials", help="every trial of a run as a table (or CSV)",
                       description="Every trial of a run: state, recipe, objectives and why a trial stopped. "
                       "--csv prints one row per trial with every recipe field and measure (the columns of "
                       "trials.csv); with pandas installed, optuna.load_study(...).trials_dataframe() reads "
                       "the same study.")
    t.add_argument("run_dir", type=Path)
    t.add_argument("--csv", action="store_true", help="CSV on stdout instead of the table")
    _add_read_flags(t)
    t.set_defaults(handler=_trials)

    r = sub.add_parser("report", help="write the HTML report of a run")
    r.add_argument("run_dir", type=Path)
    _add_read_flags(r)
    r.set_defaults(handler=_report)

    j = sub.add_parser("schema", help="print the JSON Schema of search space files (for editors)")
    j.add_argument("--output", type=Path, default=None, help="write it to this file instead")
    j.set_defaults(handler=_schema)


def add_device_flags(parser: argparse.ArgumentParser, *, space: bool) -> None:
    """``--device``, ``--amp`` and ``--latency-device`` (``space``: a search, whose space
    gives the defaults)."""
    of_space = "the space's, else " if space else ""
    parser.add_argument("--device", default=None,
                        help=f"where trials train and evaluate: auto | cpu | cuda | cuda:N (default: {of_space}auto: "
                        "cuda:0 when available, else cpu)")
    parser.add_argument("--amp", default=None,
                        help=f"mixed precision of fine-tuning: bf16 | fp16 (CUDA only) | none (default: {of_space}none)")
    parser.add_argument("--latency-device", default=None,
                        help=f"where latency is measured: cpu | cuda | cuda:N (default: {of_space}cpu, the edge case)")
def add_task_option_flags(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--data`` and ``--task-option``: a Hugging Face task without a YAML."""
    parser.add_argument("--model", default=None,
                        help="model directory (save_pretrained) or cached Hub id, with --task hf-text-classification "
                             "| hf-image-classification (or the space's task mapping)")
    parser.add_argument("--data", default=None, help="data file or folder of that task")
    parser.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                        help="another option of that task, e.g. max_length=64; repeatable")


def _add_read_flags(parser: argparse.ArgumentParser, task: bool = False) -> None:
    # a run directory is data: another database, or code to import, is the user's to name
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL of the study (default: study.db inside the run directory)")
    if task:
        parser.add_argument("--task", default=None,
                            help="the study's task, when it is not a registered name (a run directory's "
                                 "file or module task is never imported on its own)")


def _search(args: argparse.Namespace) -> int:
    from autoprune.search._api import run_search
    from autoprune.search._checks import check_seed
    from autoprune.search._options import RunOptions
    from autoprune.search._space import load_space

    if args.seed is not None:
        check_seed("--seed", args.seed)
    if args.resume and args.space is None:  # continue exactly the search the run directory holds
        from autoprune.search._rundir import read_run_meta, resume_space

        run_dir = args.out or Path("autoprune-runs") / "default"
        space = resume_space(run_dir, args.storage)
        args.data_dir = args.data_dir or read_run_meta(run_dir).get("data_dir")
    else:
        space = load_space(args.space or "default")
    from autoprune.tasks import task_from_flags

    task = task_from_flags(space.task, args.task, args.model, args.data, args.task_option)
    space = space.with_overrides(**{k: v for k, v in {
        "task": task, "trials": args.trials, "seed": args.seed, "backend": args.backend,
        "sampler": args.sampler, "trial_pruner": args.trial_pruner, "latency_device": args.latency_device,
        "models": args.models,
    }.items() if v is not None})
    options = RunOptions(  # flags override the space's executor section, device and amp
        executor=args.executor, workers=args.workers, address=args.address,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial, device=args.device, amp=args.amp,
        out=args.out, storage=args.storage, resume=args.resume, tracker=args.tracker,
        progress=not args.quiet, data_dir=args.data_dir,
    )
    try:
        result = run_search(space, options=options)
    except KeyboardInterrupt:
        print(f"autoprune: interrupted; the study is saved. Continue with: {_resume_command(args, space)}",
              file=sys.stderr)
        return 130
    _print_front(result)
    print(f"run directory: {result.run_dir}  (report: {result.run_dir / 'report' / 'index.html'})")
    return 0


def _resume_command(args: argparse.Namespace, space) -> str:
    """The command that finishes this search as asked: the run directory holds its space,
    seed, task and budget, so --out (and a storage of the user's) is all it needs."""
    import shlex

    out = args.out or Path("autoprune-runs") / space.name
    words = ["autoprune", *(w for spec in args.plugin for w in ("--plugin", spec)), "search", "--out", str(out)]
    hidden = ""
    if args.storage:
        from autoprune.search._result import redact

        # a password is not echoed to a terminal or a log
        words += ["--storage", redact(args.storage)]
        hidden = " (with the storage password in place of ***)" if redact(args.storage) != args.storage else ""
    if args.data_dir:
        words += ["--data-dir", args.data_dir]
    return " ".join(shlex.quote(w) for w in [*words, "--resume"]) + hidden


def _pareto(args: argparse.Namespace) -> int:
    from autoprune.search._result import open_run

    result = open_run(args.run_dir, storage=args.storage)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_front(result)
    return 0


def _export(args: argparse.Namespace) -> int:
    from autoprune.search._checks import check_output_file
    from autoprune.search._result import open_run

    from autoprune.errors import ConfigError
    from autoprune.export import EXPORT_FORMATS, export_model, is_trial_dir, open_trial_dir

    if args.format not in EXPORT_FORMATS:  # before a trial is rebuilt for nothing
        raise ConfigError(f"format must be one of {', '.join(EXPORT_FORMATS)}, but got format={args.format!r}.")
    if args.format == "hf":  # a directory, replaced when it exists
        from autoprune.search._checks import check_output_dir

        check_output_dir("--output", args.output)
    else:
        check_output_file("--output", args.output)
    if not (0 <= args.tolerance < 1):
        raise ConfigError(f"--tolerance must be in [0, 1), but got --tolerance={args.tolerance!r}.")
    if is_trial_dir(args.run_dir) and not (args.run_dir / "run.json").is_file():
        if args.trial is not None:
            print(f"note: {args.run_dir} holds one trial's model; --trial is not used", file=sys.stderr)
        model, recipe, task = open_trial_dir(args.run_dir, task=args.task)
        path = export_model(model, task, format=args.format, output=args.output, recipe=recipe, task_name=task.name)
        _print_export(f"the trial in {args.run_dir}", path, args.format, task, recipe)
        return 0
    if args.storage is None and not (args.run_dir / "run.json").is_file():
        raise ConfigError(f"{str(args.run_dir)!r} is neither a run directory (no run.json) nor a trial directory "
                          f"(no result.json and model.pt); allowed: autoprune search --out DIR or autoprune trial "
                          f"--out DIR.")
    result = open_run(args.run_dir, storage=args.storage, task=args.task)
    if args.trial is None:
        complete = ", ".join(str(r.number) for r in result.trials if r.state == "complete") or "none"
        raise ConfigError(f"--trial is required for a run directory; complete trials: {complete}.")
    record = result.trial(args.trial)
    if record.state == "complete" and not result.has_model(args.trial):
        print(f"trial {args.trial} has no kept model: rebuilding it from its recipe and seed "
              f"({record.summary()}) ...", file=sys.stderr, flush=True)
    path = result.export(args.trial, args.format, args.output, tolerance=args.tolerance)
    if result.rebuilt_accuracy is not None:
        print(f"rebuilt trial {args.trial}: accuracy {result.rebuilt_accuracy:.4f}, as the study recorded "
              f"({record.measures['accuracy']:.4f})")
    _print_export(f"trial {args.trial}", path, args.format, result.task(), record.recipe_obj)
    return 0


def _print_export(what: str, path: Path, format: str, task, recipe) -> None:
    from autoprune.export import KEEPS_SPARSITY, dense_export_size, export_size, format_bytes
    from autoprune.pruning import granularity_of

    size = export_size(path)
    dense = dense_export_size(task, format, task.name, directory=path.parent)
    print(f"exported {what} as {format} to {path}: {format_bytes(size)}, "
          f"x{size / dense:.2f} of the dense model as {format} ({format_bytes(dense)}); "
          f"outputs checked against the trial's model")
    if format not in KEEPS_SPARSITY and granularity_of(recipe).packed:  # zeros kept, not removed
        print(f"note: {format} stores every weight dense, so this {recipe.granularity} model's zeros take "
              f"full space; --format state_dict keeps them packed.")


def _trials(args: argparse.Namespace) -> int:
    from autoprune.search._records import trials_csv
    from autoprune.search._result import open_run

    result = open_run(args.run_dir, storage=args.storage)
    if args.csv:
        sys.stdout.write(trials_csv(result.trials))
        return 0
    names = [o.name for o in result.space.objectives]
    # model: kept in the run directory, or (complete trials) rebuilt by export from recipe and seed
    header = ["trial", "state", "feasible", "recipe", *names, "steps", "seconds", "model", "reason"]
    rows = []
    for r in result.trials:
        feasible = "" if r.feasible is None else ("yes" if r.feasible else "no")
        rows.append([str(r.number), r.state, feasible, r.summary() if r.recipe else "-",
                     *(_fmt(r.measures.get(n)) for n in names), str(len(r.curve)), f"{r.seconds:.1f}",
                     "kept" if result.has_model(r.number) else ("rebuild" if r.state == "complete" else "-"),
                     r.reason or ""])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def _report(args: argparse.Namespace) -> int:
    from autoprune.search._result import open_run, write_run_report

    result = open_run(args.run_dir, storage=args.storage)
    print(write_run_report(result))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from autoprune.search._loader import write_space_schema
    from autoprune.search._schema import space_json_schema

    if args.output is None:
        print(json.dumps(space_json_schema(), indent=2))
    else:
        print(write_space_schema(args.output))
    return 0


def _print_front(result) -> None:
    objectives = [(o.name, o.direction) for o in result.space.objectives]
    counts = result.to_dict()["counts"]
    print(f"study {result.study_name}: {counts['complete']} complete, {counts['pruned']} pruned, "
          f"{counts['failed']} failed; Pareto front {len(result.pareto_front)} trials, "
          f"hypervolume {result.hypervolume:.4f} (reference {result.reference_point})")
    base = result.baseline
    header = ["trial", "recipe"] + [f"{n} ({d})" for n, d in objectives] + ["vs baseline"]
    rows = []
    for r in result.pareto_front:
        m = r.measures
        vals = [_fmt(m.get(n)) for n, _ in objectives]
        ratios = [_vs_baseline(n, m, base) for n, _ in objectives]
        mark = " *knee" if result.knee and r.number == result.knee.number else ""
        rows.append([str(r.number), r.summary()] + vals + [", ".join(x for x in ratios if x) + mark])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _vs_baseline(name: str, m: dict, base: dict) -> str:
    """How an objective compares with the dense baseline, in words a reader scans."""
    from autoprune.measures import MEASURES, get_measure

    if name in ("accuracy", "accuracy_drop"):  # both read as the accuracy lost, in points
        return f"{-100 * (m.get('accuracy_drop') or 0.0) + 0.0:+.2f} pts"
    ratio = next((r.name for r in MEASURES.values() if r.ratio_of == name), None)
    if ratio is not None and m.get(ratio) is not None:
        return f"{name.split('_')[0]} x{m[ratio]:.3f}"
    measure = get_measure(name)
    # an absolute measure with no stored ratio (params_nonzero) is divided here
    if measure.kind == "count" and measure.baseline and measure.baseline != name and base.get(measure.baseline):
        return f"{name.split('_')[-1]} x{(m.get(name) or 0) / base[measure.baseline]:.3f}"
    return ""
