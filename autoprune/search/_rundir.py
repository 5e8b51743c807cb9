"""The run directory as data: ``run.json`` written and read back without trusting it.

``run.json`` records what a search was (study name, storage, seed, trial budget, task,
data directory) so that ``--resume`` alone continues exactly that search. What it holds is
read as untrusted data: a SQLite storage must resolve to a file inside the run directory
(the directory stays relocatable: the default storage is stored as ``study.db``,
relative to it), any other URL is used only when the user passes ``--storage`` (so a
shared run directory cannot make ``pareto`` write tables into someone's database), and
credentials never come from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from autoprune._io import remove_leftover_temps
from autoprune.errors import ConfigError
from autoprune.search import _records as rec

__all__ = ["RUN_FILE", "DEFAULT_DB", "redact", "read_run_meta", "load_run_study", "write_run_meta", "run_storage", "default_storage",
           "resume_space", "clean_leftovers", "save_trial_model", "drop_models"]

RUN_FILE = "run.json"
DEFAULT_DB = "study.db"
_SQLITE = "sqlite:///"


def redact(url: str) -> str:
    """Hide a password in a storage URL (``user:secret@host`` -> ``user:***@host``)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def default_storage(run_dir: Path) -> str:
    """The SQLite URL of ``<run_dir>/study.db``."""
    return f"{_SQLITE}{(Path(run_dir) / DEFAULT_DB).resolve()}"


def read_run_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``run.json`` of ``run_dir`` as a dict with a string ``study_name`` and ``storage``.

    Raises:
        ConfigError: no run.json, or one that is not such a JSON object.
    """
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not an autoprune run directory (no {RUN_FILE}).")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{str(path)!r} is not valid JSON ({type(exc).__name__}); allowed: the run.json "
                          f"autoprune writes.") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{str(path)!r} holds a {type(meta).__name__}; allowed: a JSON object.")
    for key in ("study_name", "storage"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise ConfigError(f"{str(path)!r}: {key}={meta.get(key)!r}; allowed: a non-empty string.")
    if meta.get("data_dir") is not None and not isinstance(meta["data_dir"], str):
        raise ConfigError(f"{str(path)!r}: data_dir={meta['data_dir']!r}; allowed: a string or null.")
    return meta


def write_run_meta(run_dir: Path, *, study_name: str, storage: str, user_storage: bool, data_dir: str | None,
                   seed: int, trials: int | None, task: Any, threads: int = 1) -> None:
    """Write ``run.json``; the default storage as ``study.db`` (relative to the run
    directory), a user's URL with its password hidden (it is given again on resume).
    ``threads``: the torch threads a trial trained with, which a rebuilt trial uses again
    (the order of a float sum depends on them)."""
    rec.write_json_atomic(Path(run_dir) / RUN_FILE, {
        "study_name": study_name,
        "storage": redact(storage) if user_storage else DEFAULT_DB,
        "data_dir": data_dir,
        "seed": seed,
        "trials": trials,
        "task": task,
        "threads": threads,
    })


def run_storage(run_dir: str | os.PathLike[str], meta: dict[str, Any], storage: str | None = None) -> str:
    """The storage URL to open the study of ``run_dir`` with.

    ``storage`` (the user's ``--storage``) wins. Otherwise the stored value must name an
    SQLite file inside the run directory: a relative name, or an absolute path of an
    earlier version's run.json that lies inside it; an absolute path elsewhere is read as
    the same file name inside the run directory (a moved or copied run directory), never
    as the outside file.

    Raises:
        ConfigError: the stored value names another database, or no such file exists.
    """
    if storage is not None:
        return storage
    root = Path(run_dir).resolve()
    stored = meta["storage"]
    if "://" in stored:
        if not stored.startswith(_SQLITE) or "?" in stored:
            raise ConfigError(
                f"run.json storage={redact(stored)!r} is not a file in the run directory; autoprune does not "
                f"open a database a run directory names: pass --storage URL to read it."
            )
        name = Path(stored[len(_SQLITE):])
        candidate = name if name.is_absolute() and _inside(name.resolve(), root) else root / name.name
    else:
        candidate = root / stored
    resolved = candidate.resolve()
    if not _inside(resolved, root):
        raise ConfigError(f"run.json storage={stored!r} resolves outside the run directory ({str(resolved)!r}); "
                          f"allowed: a file inside it, or pass --storage URL.")
    if not resolved.is_file():
        raise ConfigError(f"run.json storage={stored!r}: {str(resolved)!r} does not exist; allowed: the run's "
                          f"study.db, or pass --storage URL.")
    return f"{_SQLITE}{resolved}"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def load_run_study(run_dir: str | os.PathLike[str], storage: str | None = None) -> tuple[dict[str, Any], str, Any]:
    """``run.json`` of a run directory, the storage URL :func:`run_storage` allows, and the
    study (``optuna.Study``) in it.

    Raises:
        ConfigError: not a run directory, a storage outside it, or a study that cannot be read.
    """
    import optuna

    meta = read_run_meta(run_dir)
    url = run_storage(run_dir, meta, storage)
    try:
        return meta, url, optuna.load_study(study_name=meta["study_name"], storage=url)
    except Exception as exc:  # noqa: BLE001 - any failure: the study cannot be read
        raise ConfigError(f"cannot open the study of {str(run_dir)!r}: {type(exc).__name__}: "
                          f"{' '.join(redact(str(exc)).split())[:200]}") from None


def resume_space(run_dir: Path, storage: str | None = None) -> Any:
    """The space a run directory's study was searching (``--resume`` with no space file)."""
    from autoprune.search._space import parse_space

    meta, _, study = load_run_study(run_dir, storage)
    stored = study.user_attrs.get("space")
    if not isinstance(stored, dict):
        raise ConfigError(f"study {meta['study_name']!r} holds no search space; pass the space file to resume.")
    return parse_space(stored, source=str(Path(run_dir) / "space.yaml"))


def clean_leftovers(run_dir: Path) -> None:
    """Remove the temporary files an interrupted atomic write left in the run directory."""
    for folder in (run_dir, run_dir / "models", run_dir / "report"):
        remove_leftover_temps(folder)


def save_trial_model(run_dir: Path, number: int, result: Any, task_name: str) -> Path:
    """Keep trial ``number``'s pruned model (a :class:`~autoprune.result.TrialResult`'s) as
    ``models/trial_N.pt``, packed for mask granularities."""
    from autoprune.pruning import granularity_of
    from autoprune.serialize import save_pruned

    return save_pruned(Path(run_dir) / "models" / f"trial_{number}.pt", result.model, recipe=result.recipe,
                       task_name=task_name, sparse=granularity_of(result.recipe).packed, extra={"trial": number})


def drop_models(run_dir: Path, keep: set[int]) -> None:
    """Delete the kept models of the trials not in ``keep`` (``models: front``: the front's)."""
    for path in (Path(run_dir) / "models").glob("trial_*.pt"):
        if int(path.stem.split("_")[1]) not in keep:
            path.unlink()
