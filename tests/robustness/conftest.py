"""A world of files for bad-input cases: a run directory crafted from the one autoprune
0.1.0 wrote, a space file, and a snapshot of every byte so a case can prove it changed
nothing."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[1] / "data" / "run-0.1.0"

SPACE = """\
task: digits-mlp
seed: 0
objectives: {accuracy: max, size_bytes: min}
budget: {trials: 2}
backend: optuna
sampler: random
trial_pruner: none
latency: {threads: 1, warmup: 1, repeats: 3}
fixed: {schedule: one_shot, finetune_epochs: 1}
params:
  sparsity: {low: 0.3, high: 0.9}
"""

PAYLOAD = """\
from pathlib import Path
Path(__file__).with_name("PWNED").write_text("code from a run directory ran")
task = None
"""


def set_study_attr(db: Path, key: str, value) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute("update study_user_attributes set value_json = ? where key = ?", (json.dumps(value), key))
        con.commit()
    finally:
        con.close()


def get_study_attr(db: Path, key: str):
    con = sqlite3.connect(db)
    try:
        return json.loads(con.execute("select value_json from study_user_attributes where key = ?", (key,)).fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def snapshot():
    """``snapshot(root)``: every file under ``root`` (symlinks as their target) by path: its SHA-256."""
    import hashlib

    def take(root: Path) -> dict[str, str]:
        out = {}
        for path in sorted(root.rglob("*")):
            key = str(path.relative_to(root))
            if path.is_symlink():
                out[key] = "-> " + str(path.readlink())
            elif path.is_file():
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                out[key + "/"] = "dir"
        return out

    return take


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory of a case, holding:

    - ``run/``: the 0.1.0 run directory (study, models, records);
    - ``payload/``: the same with the study naming ``payload.py:task`` (a file that
      writes ``PWNED`` when imported) and ``models/trial_0.pt`` declaring a 10^6 x 10^6
      tensor;
    - ``outside/study.db``: a study outside any run directory;
    - ``space.yaml``, ``file`` (a plain file), ``latin1.yaml`` (not UTF-8).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("NEPTUNE_MODE", "NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(DATA, tmp_path / "run")
    payload = tmp_path / "payload"
    shutil.copytree(DATA, payload)
    (payload / "payload.py").write_text(PAYLOAD)
    space = get_study_attr(payload / "study.db", "space")
    space["task"] = "payload.py:task"
    set_study_attr(payload / "study.db", "space", space)
    model = torch.load(payload / "models" / "trial_0.pt", weights_only=True)
    key = next(iter(model["state_dict"]))
    model["sparse"] = True
    model["state_dict"] = {"format": "autoprune.packed/1", "tensors": {key: {
        "kind": "bitmask", "shape": [10**6, 10**6], "mask": torch.zeros(1, dtype=torch.uint8),
        "values": torch.zeros(0)}}}
    torch.save(model, payload / "models" / "trial_0.pt")
    (tmp_path / "outside").mkdir()
    shutil.copy(DATA / "study.db", tmp_path / "outside" / "study.db")
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "file").write_text("a plain file\n")
    (tmp_path / "latin1.yaml").write_bytes("task: digits-mlp\ndescription: caf\xe9\n".encode("latin-1"))
    return tmp_path
