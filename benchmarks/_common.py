"""What both benchmark scripts share: logging, the untimed warm-up search, the trials a
study finished, and the plain-text table and PASS / FAIL verdicts they print.

The scripts run from the repository root as ``python -m benchmarks.<script>`` (or as
``python benchmarks/<script>.py``, which puts this directory on ``sys.path``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna

from autoprune.search import RunOptions, SearchResult, SearchSpace, run_search


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose description is the script's first docstring paragraph."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def untimed_search(space: SearchSpace, out: Path) -> None:
    """Run ``space`` once, untimed, and delete its run directory: imports and first-call
    costs land here, not in the first timed search."""
    run_search(space, options=RunOptions(out=out, tracker="none", progress=False))
    shutil.rmtree(out, ignore_errors=True)


def finished_trials(result: SearchResult) -> list[optuna.trial.FrozenTrial]:
    """The study's trials that finished (complete, pruned or failed), with their timestamps."""
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    return [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell: the first left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def verdict(ok: bool | None) -> str:
    """PASS / FAIL, or n/a when there was nothing to judge."""
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")
