"""The study: a resume refuses another seed or task; a repeated recipe is answered from
the study; run.json's storage resolves inside the run directory."""

from __future__ import annotations

import json

import optuna
import pytest

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.search import _records as rec
from autoprune.search import _study
from autoprune.search._rundir import read_run_meta, run_storage, write_run_meta
from autoprune.search._space import parse_space
from autoprune.search.backends import OptunaBackend

SPACE = {"name": "s", "task": "digits-mlp", "seed": 3, "objectives": {"accuracy": "max", "size_bytes": "min"},
         "budget": {"trials": 4}, "sampler": "random", "params": {"sparsity": {"low": 0.5, "high": 0.9}}}


def _open(tmp_path, resume=False, **changes):
    space = parse_space({**SPACE, **changes})
    url = f"sqlite:///{tmp_path / 'study.db'}"
    return space, _study.open_study(space, url, resume=resume, sampler=optuna.samplers.RandomSampler(0), pruner=None)


def test_a_resume_with_another_seed_or_task_is_refused(tmp_path):
    _open(tmp_path)
    with pytest.raises(ConfigError, match=r"with seed=4: it was searched with seed=3; allowed: --seed 3"):
        _open(tmp_path, resume=True, seed=4)
    with pytest.raises(ConfigError, match=r"with task='digits-cnn': it was searched with task='digits-mlp'"):
        _open(tmp_path, resume=True, task="digits-cnn")
    _, handle = _open(tmp_path, resume=True, budget={"trials": 9})
    assert handle.study.user_attrs["space"]["budget"]["trials"] == 9  # what --resume alone continues


def test_an_exact_repeat_is_answered_from_the_study(tmp_path):
    space, handle = _open(tmp_path)
    study = handle.study
    backend = OptunaBackend(study, space)
    first, recipe = backend.ask(Recipe(sparsity=0.6))
    first.set_user_attr(rec.RECIPE, recipe.to_dict())
    first.set_user_attr(rec.MEASURES, {"accuracy": 0.9, "size_bytes": 100})
    backend.tell_complete(first, [0.9, 100.0], {})
    done = _study.finished_recipes(study.get_trials())
    again, same = backend.ask(Recipe(sparsity=0.6))
    assert _study.answer_repeat(handle, again, same, done, space, backend) == first.number
    frozen = study.get_trials()[again.number]
    assert frozen.state == optuna.trial.TrialState.COMPLETE and frozen.values == [0.9, 100.0]
    assert frozen.user_attrs[_study.REPEAT_OF] == first.number
    assert frozen.user_attrs[rec.MEASURES] == {"accuracy": 0.9, "size_bytes": 100}
    other, new = backend.ask(Recipe(sparsity=0.7))
    assert _study.answer_repeat(handle, other, new, _study.finished_recipes(study.get_trials()), space, backend) is None


def test_run_json_storage_resolves_inside_the_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "study.db").write_bytes(b"")
    write_run_meta(run, study_name="s", storage="sqlite:///anywhere/study.db", user_storage=False, data_dir=None,
                   seed=1, trials=4, task="digits-mlp")
    meta = read_run_meta(run)
    assert (meta["storage"], meta["seed"], meta["trials"], meta["task"]) == ("study.db", 1, 4, "digits-mlp")
    moved = tmp_path / "moved"
    run.rename(moved)
    assert run_storage(moved, meta) == f"sqlite:///{(moved / 'study.db').resolve()}"
    old = {**meta, "storage": "sqlite:////elsewhere/old/study.db"}  # autoprune 0.1.0 wrote absolute paths
    assert run_storage(moved, old) == f"sqlite:///{(moved / 'study.db').resolve()}"
    assert run_storage(moved, {**meta, "storage": "postgresql://h/db"}, "sqlite:///mine.db") == "sqlite:///mine.db"
    for bad in ("postgresql://u:pw@h/db", "../x.db", "sqlite:///study.db?uri=true"):
        with pytest.raises(ConfigError) as caught:
            run_storage(moved, {**meta, "storage": bad})
        assert "pw" not in str(caught.value)
    write_run_meta(moved, study_name="s", storage="postgresql://u:pw@h/db", user_storage=True, data_dir=None,
                   seed=1, trials=4, task="t")
    assert json.loads((moved / "run.json").read_text())["storage"] == "postgresql://u:***@h/db"


def test_a_write_cut_short_by_ctrl_c_leaves_no_lock_behind(tmp_path):
    # Ctrl-C inside study.tell: the session is left mid-transaction holding SQLite's write
    # lock (optuna rolls back on database errors only); release_session lets go of it
    from sqlalchemy import text

    _, handle = _open(tmp_path)
    session = handle.storage.scoped_session()
    session.execute(text("UPDATE studies SET study_name = study_name"))  # what an interrupted write leaves
    assert session.in_transaction()
    _study.release_session(handle)
    other = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}",
                                       engine_kwargs={"connect_args": {"timeout": 0.1}})
    other.set_study_user_attr(other.get_study_id_from_name("s"), "after", 1)  # "database is locked" without it
    assert optuna.load_study(study_name="s", storage=other).user_attrs["after"] == 1
    _study.fail_running(handle, "interrupted: Ctrl-C")  # the interrupted search's own writes work too
