"""Bad inputs and faults against the CLI: each exits 2 with one line naming the field, the
value and what is allowed, and leaves every existing file byte-identical (no new file
either, but the run directory's lock file).

Most checks happen before anything runs, so these cases are fast.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Callable

import pytest

from autoprune.cli import main

Setup = Callable[[Path], None]


def _write(rel: str, data: str | bytes) -> Setup:
    def setup(world: Path) -> None:
        path = world / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return setup


def _run_json(**fields) -> Setup:
    def setup(world: Path) -> None:
        meta = json.loads((world / "run" / "run.json").read_text())
        meta.update(fields)
        (world / "run" / "run.json").write_text(json.dumps(meta))
    return setup


def _symlink_db(world: Path) -> None:
    (world / "run" / "study.db").unlink()
    (world / "run" / "study.db").symlink_to(world / "outside" / "study.db")


def _no_inner_db(world: Path) -> None:
    (world / "run" / "study.db").rename(world / "moved.db")


def _space(**replace: str) -> Setup:
    def setup(world: Path) -> None:
        text = (world / "space.yaml").read_text()
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        (world / "bad.yaml").write_text(text)
    return setup


# Tasks a user gets wrong: ModelTasks with bad loaders or metrics, weights that do not fit
BAD_TASKS = """\
import math
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from autoprune import ModelTask
from autoprune.tasks import load_weights
from autoprune.tasks._digits import DigitsMLP

gen = torch.Generator().manual_seed(0)
loader = DataLoader(TensorDataset(torch.randn(32, 8, generator=gen), torch.randint(0, 3, (32,), generator=gen)),
                    batch_size=8)


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def tensor_metric(outputs, targets):
    return (outputs.argmax(-1) == targets).float().mean()


def text_metric(outputs, targets):
    return "high"


def nan_metric(outputs, targets):
    return math.nan


def not_pairs():
    return ModelTask(model(), loader, [torch.zeros(8, 8), torch.zeros(8, 8)])


def with_metric(metric):
    return lambda: ModelTask(model(), loader, loader, metric=metric)


tensor = with_metric(tensor_metric)
text = with_metric(text_metric)
nan = with_metric(nan_metric)


class Mismatch(DigitsMLP):
    def build_model(self):
        return load_weights(super().build_model(), Path(__file__).with_name("w.pt"))
"""


def _bad_tasks(world: Path) -> None:
    import torch

    (world / "bad_tasks.py").write_text(BAD_TASKS)
    torch.save(torch.nn.Linear(64, 10).state_dict(), world / "w.pt")
    (world / "cache").mkdir()  # the user's cache directory: no baseline may land in it


S = ["search", "space.yaml", "--out", "new", "--tracker", "none", "--quiet"]
B = ["search", "bad.yaml", "--out", "new", "--tracker", "none", "--quiet"]
T = ["trial", "--task", "digits-mlp"]

# (id, argv, environment, setup, pattern the one line must match)
CASES: list[tuple[str, list[str], dict[str, str], Setup | None, str]] = [
    # -- search: numbers out of their bounds ------------------------------------------
    ("trials-0", S + ["--trials", "0"], {}, None, r"trials.*0"),
    ("trials-negative", S + ["--trials", "-5"], {}, None, r"trials.*-5"),
    ("trials-huge", S + ["--trials", "10000000"], {}, None, r"trials must be an integer in \[1, 1e\+06\], but got trials=10000000"),
    ("seed-negative", S + ["--seed", "-1"], {}, None, r"--seed must be an integer in \[0, 4\.29497e\+09\], but got --seed=-1"),
    ("seed-2-32", S + ["--seed", str(2**32)], {}, None, r"--seed=4294967296"),
    ("seed-20-digits", S + ["--seed", "99999999999999999999"], {}, None, r"--seed=99999999999999999999"),
    ("workers-0", S + ["--workers", "0"], {}, None, r"workers must be >= 1, but got workers=0"),
    ("workers-negative", S + ["--workers", "-3"], {}, None, r"workers=-3"),
    ("workers-huge", S + ["--workers", "5000", "--executor", "ray"], {}, None, r"workers must be an integer in \[1, 1024\], but got workers=5000"),
    ("cpus-nan", S + ["--cpus-per-trial", "nan"], {}, None, r"cpus_per_trial.*nan"),
    ("cpus-inf", S + ["--cpus-per-trial", "inf"], {}, None, r"cpus_per_trial.*inf"),
    ("cpus-0", S + ["--cpus-per-trial", "0"], {}, None, r"cpus_per_trial must be > 0.*cpus_per_trial=0"),
    ("cpus-negative", S + ["--cpus-per-trial", "-2"], {}, None, r"cpus_per_trial=-2"),
    ("cpus-huge", S + ["--cpus-per-trial", "1e9"], {}, None, r"cpus_per_trial must be a number in \[0\.01, 1024\], but got cpus_per_trial=1000000000\.0"),
    ("cpus-more-than-machine-ray", S + ["--executor", "ray", "--cpus-per-trial", "1000"], {}, None, r"cpus_per_trial=1000 but this machine has \d+ CPUs; allowed: at most"),
    ("gpus-negative", S + ["--gpus-per-trial", "-1"], {}, None, r"gpus_per_trial=-1"),
    ("gpus-nan", S + ["--gpus-per-trial", "nan"], {}, None, r"gpus_per_trial.*nan"),
    ("gpus-without-gpu", S + ["--gpus-per-trial", "1"], {}, None, r"gpus_per_trial=1 but this machine has no GPU; allowed: 0"),
    ("gpus-half-without-gpu", S + ["--gpus-per-trial", "0.5", "--executor", "ray"], {}, None, r"gpus_per_trial=0\.5 but this machine has no GPU"),
    # -- search: names --------------------------------------------------------------------
    ("executor-unknown", S + ["--executor", "foo"], {}, None, r"executor must be one of local, ray, but got executor='foo'"),
    ("executor-local-2-workers", S + ["--executor", "local", "--workers", "2"], {}, None, r"workers=2 needs executor=ray"),
    ("tracker-unknown", S[:-3] + ["--tracker", "foo", "--quiet"], {}, None, r"tracker must be one of none, .*, but got tracker='foo'"),
    ("backend-unknown", S + ["--backend", "foo"], {}, None, r"backend.*'foo'"),
    ("sampler-unknown", S + ["--sampler", "cmaes"], {}, None, r"sampler.*'cmaes'"),
    ("trial-pruner-unknown", S + ["--trial-pruner", "median5"], {}, None, r"trial_pruner.*median5"),
    ("task-unknown", S + ["--task", "no-such-task"], {}, None, r"task='no-such-task'"),
    ("task-missing-file", S + ["--task", "missing.py:task"], {}, None, r"missing\.py"),
    ("task-missing-module", S + ["--task", "no_such_pkg.mod:task"], {}, None, r"no_such_pkg"),
    # -- search: trackers and their modes -----------------------------------------------
    ("neptune-mode-bogus", S[:-3] + ["--tracker", "neptune", "--quiet"], {"NEPTUNE_MODE": "bogus"}, None, r"NEPTUNE_MODE must be one of async, .*, but got NEPTUNE_MODE='bogus'"),
    ("neptune-async-no-token", S[:-3] + ["--tracker", "neptune", "--quiet"], {"NEPTUNE_MODE": "async"}, None, r"NEPTUNE_API_TOKEN"),
    ("neptune-sync-no-project", S[:-3] + ["--tracker", "neptune", "--quiet"], {"NEPTUNE_MODE": "sync", "NEPTUNE_API_TOKEN": "x"}, None, r"NEPTUNE_PROJECT is not set"),
    ("neptune-read-only", S[:-3] + ["--tracker", "neptune", "--quiet"], {"NEPTUNE_MODE": "read-only"}, None, r"read-only"),
    ("neptune-auto-bogus", S[:-3] + ["--tracker", "auto", "--quiet"], {"NEPTUNE_MODE": "nope"}, None, r"NEPTUNE_MODE='nope'"),
    # -- search: Ray addresses ----------------------------------------------------------
    ("address-refused", S + ["--executor", "ray", "--address", "127.0.0.1:1"], {}, None, r"address='127\.0\.0\.1:1' cannot be reached within 3 s"),
    ("address-not-an-address", S + ["--executor", "ray", "--address", "nonsense"], {}, None, r"address='nonsense' is not a Ray address; allowed: host:port"),
    ("address-bad-port", S + ["--executor", "ray", "--address", "127.0.0.1:99999"], {}, None, r"address='127\.0\.0\.1:99999'"),
    ("address-ray-scheme-refused", S + ["--executor", "ray", "--address", "ray://127.0.0.1:1"], {}, None, r"cannot be reached"),
    ("address-env-refused", S + ["--executor", "ray"], {"RAY_ADDRESS": "127.0.0.1:1"}, None, r"address='127\.0\.0\.1:1'"),
    ("address-workers-refused", S + ["--workers", "2", "--address", "127.0.0.1:1"], {}, None, r"cannot be reached"),
    # -- search: storage ----------------------------------------------------------------
    ("storage-sqlite-memory-3", S + ["--storage", "sqlite:///"], {}, None, r"storage='sqlite:///' keeps the study in memory"),
    ("storage-sqlite-memory-2", S + ["--storage", "sqlite://"], {}, None, r"storage='sqlite://' keeps the study in memory"),
    ("storage-sqlite-memory-named", S + ["--storage", "sqlite:///:memory:"], {}, None, r"in memory"),
    ("storage-not-a-url", S + ["--storage", "study.db"], {}, None, r"storage='study\.db' is not a database URL; allowed"),
    ("storage-under-a-file", S + ["--storage", "sqlite:///file/study.db"], {}, None, r"storage='sqlite:///file/study\.db': 'file' is a file; allowed: a directory"),
    ("storage-not-sqlite", S + ["--storage", "sqlite:///file"], {}, None, r"'file' is not an SQLite database"),
    ("storage-a-directory", S + ["--storage", "sqlite:///run"], {}, None, r"'run' is not a file"),
    ("storage-no-driver", S + ["--storage", "postgresql+nodriver://u@h/db"], {}, None, r"storage='postgresql\+nodriver://u@h/db' cannot be reached: .*allowed: a database URL whose driver is installed"),
    ("storage-password-hidden", S + ["--storage", "postgresql+nodriver://u:secret@h/db"], {}, None, r"u:\*\*\*@h"),
    ("storage-unknown-dialect", S + ["--storage", "nosuchdb://h/db"], {}, None, r"storage='nosuchdb://h/db' cannot be reached"),
    ("storage-no-psycopg2", S + ["--storage", "postgresql+psycopg2://u:secret@127.0.0.1:1/db"], {}, None, r"u:\*\*\*@127\.0\.0\.1:1/db' cannot be reached: ModuleNotFoundError"),
    # -- search: output path -------------------------------------------------------------
    ("out-is-a-file", ["search", "space.yaml", "--out", "file", "--tracker", "none"], {}, None, r"out='file' is a file; allowed: a directory"),
    ("out-under-a-file", ["search", "space.yaml", "--out", "file/sub", "--tracker", "none"], {}, None, r"out='file/sub' cannot be created"),
    # -- search: space files -------------------------------------------------------------
    ("space-missing", ["search", "missing.yaml", "--out", "new"], {}, None, r"missing\.yaml"),
    ("space-not-utf8", ["search", "latin1.yaml", "--out", "new"], {}, None, r"latin1\.yaml"),
    ("space-a-list", ["search", "list.yaml", "--out", "new"], {}, _write("list.yaml", "- 1\n- 2\n"), r"list\.yaml"),
    ("space-not-yaml", ["search", "bad.yaml", "--out", "new"], {}, _write("bad.yaml", "task: [\n"), r"bad\.yaml"),
    ("space-unknown-key", B, {}, _space(**{"seed: 0": "seed: 0\ncolour: red"}), r"colour"),
    ("space-seed-huge", B, {}, _space(**{"seed: 0": "seed: 99999999999999999999"}), r"seed"),
    ("space-seed-negative", B, {}, _space(**{"seed: 0": "seed: -1"}), r"seed"),
    ("space-trials-huge", B, {}, _space(**{"trials: 2": "trials: 1000000000"}), r"trials must be an integer in \[1, 1e\+06\]"),
    ("space-trials-0", B, {}, _space(**{"trials: 2": "trials: 0"}), r"trials"),
    ("space-repeats-huge", B, {}, _space(**{"repeats: 3": "repeats: 1000000000"}), r"latency\.repeats must be an integer in \[1, 10000\], but got latency\.repeats=1000000000"),
    ("space-warmup-huge", B, {}, _space(**{"warmup: 1": "warmup: 1000000000"}), r"latency\.warmup"),
    ("space-epochs-huge", B, {}, _space(**{"finetune_epochs: 1}": "finetune_epochs: 1000000000}"}), r"finetune_epochs must be an integer in \[0, 10000\]"),
    ("space-steps-huge", B, {}, _space(**{"finetune_epochs: 1}": "finetune_epochs: 1, steps: 100000}"}), r"steps must be an integer in \[1, 1000\]"),
    ("space-epochs-param-huge", B, {}, _space(**{"sparsity: {low: 0.3, high: 0.9}": "finetune_epochs: {low: 1, high: 1000000000, type: int}"}), r"finetune_epochs"),
    ("space-sparsity-range", B, {}, _space(**{"low: 0.3, high: 0.9": "low: 0.3, high: 1.5"}), r"sparsity"),
    ("space-sampler-unknown", B, {}, _space(**{"sampler: random": "sampler: cmaes"}), r"sampler"),
    ("space-objective-unknown", B, {}, _space(**{"size_bytes: min": "size: min"}), r"size"),
    # -- search: resume, the lock, an existing study ----------------------------------
    ("exists-without-resume", ["search", "--out", "run", "--tracker", "none", "--quiet"], {}, None, r"already exists.*--resume"),
    ("resume-nothing-there", ["search", "--out", "empty", "--resume", "--tracker", "none"], {}, _write("empty/.keep", ""), r"not an autoprune run directory \(no run\.json\)"),
    ("resume-other-seed", ["search", "--out", "run", "--resume", "--seed", "5", "--tracker", "none", "--quiet"], {}, None, r"cannot resume study 'default' with seed=5: it was searched with seed=0; allowed: --seed 0"),
    ("resume-other-task", ["search", "--out", "run", "--resume", "--task", "digits-cnn", "--tracker", "none", "--quiet"], {}, None, r"with task='digits-cnn': it was searched with task='digits-mlp'"),
    ("resume-new-space-file", ["search", "space.yaml", "--out", "new", "--resume", "--tracker", "none"], {}, None, r"--resume: 'new' holds no study \(no study\.db\); allowed"),
    ("resume-run-json-not-json", ["search", "--out", "run", "--resume", "--tracker", "none"], {}, _write("run/run.json", "{not json"), r"run\.json' is not valid JSON"),
    ("resume-storage-elsewhere", ["search", "--out", "run", "--resume", "--tracker", "none"], {}, _run_json(storage="postgresql://u:pw@h/db"), r"pass --storage URL"),
    ("resume-locked", ["search", "--out", "run", "--resume", "--tracker", "none", "--quiet"], {}, "lock", r"'run' is being run by process \d+"),
    ("search-locked-new", ["search", "space.yaml", "--out", "run", "--tracker", "none", "--quiet"], {}, "lock", r"is being run by process \d+"),
    # -- trial -------------------------------------------------------------------------------
    ("set-epochs-1e9-text", T + ["--set", "finetune_epochs=1e9"], {}, None, r"finetune_epochs expects a value of type int, but got finetune_epochs='1e9'"),
    ("set-epochs-huge", T + ["--set", "finetune_epochs=1000000000"], {}, None, r"finetune_epochs must be an integer in \[0, 10000\], but got finetune_epochs=1000000000"),
    ("set-steps-huge", T + ["--set", "steps=100000"], {}, None, r"steps must be an integer in \[1, 1000\]"),
    ("set-steps-0", T + ["--set", "steps=0"], {}, None, r"steps=0"),
    ("set-calibration-huge", T + ["--set", "calibration_batches=1000000000"], {}, None, r"calibration_batches"),
    ("set-lr-nan", T + ["--set", "finetune_lr=nan"], {}, None, r"finetune_lr must be > 0"),
    ("set-lr-huge", T + ["--set", "finetune_lr=1e9"], {}, None, r"finetune_lr must be a number in \[0, 100\]"),
    ("set-sparsity-1", T + ["--set", "sparsity=1"], {}, None, r"sparsity must be in \[0, 1\)"),
    ("set-sparsity-nan", T + ["--set", "sparsity=nan"], {}, None, r"sparsity"),
    ("set-nm-equal", T + ["--set", "granularity=nm", "nm_n=4", "nm_m=4"], {}, None, r"nm_n must satisfy"),
    ("set-nm-huge", T + ["--set", "granularity=nm", "nm_m=100000"], {}, None, r"nm_m must be an integer in \[2, 1024\]"),
    ("set-criterion-unknown", T + ["--set", "criterion=foo"], {}, None, r"criterion must be one of"),
    ("set-field-unknown", T + ["--set", "colour=red"], {}, None, r"'colour' is not a recipe field; allowed"),
    ("set-no-equals", T + ["--set", "sparsity"], {}, None, r"--set expects key=value"),
    ("set-repeated-merges-bad", T + ["--set", "granularity=channel", "--set", "sparsity=2"], {}, None, r"sparsity must be in \[0, 1\), but got sparsity=2\.0"),
    ("set-bool-bad", T + ["--set", "prune_classifier=maybe"], {}, None, r"prune_classifier expects a value of type bool"),
    # -- trial: recovery fields ------------------------------------------------------------
    ("set-steps-and-epochs", T + ["--set", "finetune_steps=100", "finetune_epochs=2"], {}, None, r"finetune_steps and finetune_epochs are both set \(finetune_steps=100, finetune_epochs=2\); allowed: one of them"),
    ("set-finetune-steps-0", T + ["--set", "finetune_steps=0"], {}, None, r"finetune_steps must be an integer in \[1, 1e\+07\], but got finetune_steps=0"),
    ("set-distill-weight-above-1", T + ["--set", "distill_weight=1.5"], {}, None, r"distill_weight must be a number in \[0, 1\], but got distill_weight=1\.5"),
    ("set-distill-weight-negative", T + ["--set", "distill_weight=-0.1"], {}, None, r"distill_weight must be a number in \[0, 1\], but got distill_weight=-0\.1"),
    ("set-distill-temperature-0", T + ["--set", "distill_temperature=0"], {}, None, r"distill_temperature must be > 0, but got distill_temperature=0\.0"),
    ("set-report-every-0", T + ["--set", "finetune_steps=10", "report_every=0"], {}, None, r"report_every must be an integer in \[1, 1e\+07\], but got report_every=0"),
    ("set-report-every-negative", T + ["--set", "finetune_steps=10", "report_every=-5"], {}, None, r"report_every=-5"),
    ("set-report-every-without-steps", T + ["--set", "report_every=5"], {}, None, r"report_every counts optimizer steps and needs finetune_steps, but got report_every=5"),
    ("set-report-batches-0", T + ["--set", "report_batches=0"], {}, None, r"report_batches must be an integer in \[1, 100000\], but got report_batches=0"),
    ("set-bn-batches-0", T + ["--set", "bn_recalibration_batches=0"], {}, None, r"bn_recalibration_batches must be an integer in \[1, 100000\]"),
    ("set-bn-recalibration-bad", T + ["--set", "bn_recalibration=sometimes"], {}, None, r"bn_recalibration expects a value of type bool, but got bn_recalibration='sometimes'"),
    ("set-lr-and-scale", T + ["--set", "finetune_lr=0.01", "finetune_lr_scale=2"], {}, None, r"finetune_lr and finetune_lr_scale are both set"),
    ("set-lr-scale-0", T + ["--set", "finetune_lr_scale=0"], {}, None, r"finetune_lr_scale must be > 0, but got finetune_lr_scale=0\.0"),
    ("space-steps-and-epochs", B, {}, _space(**{"finetune_epochs: 1}": "finetune_epochs: 1, finetune_steps: 50}"}), r"finetune_steps and finetune_epochs are both set"),
    ("space-steps-fixed-epochs-searched", B, {}, _space(**{"finetune_epochs: 1}": "finetune_steps: 50}", "sparsity: {low: 0.3, high: 0.9}": "finetune_epochs: {low: 1, high: 3, type: int}"}), r"params\.finetune_epochs: finetune_steps and finetune_epochs cannot both be set \(also fixed\.finetune_steps\); allowed: one of them"),
    ("space-distill-weight-range", B, {}, _space(**{"sparsity: {low: 0.3, high: 0.9}": "distill_weight: {low: 0.0, high: 2.0}"}), r"distill_weight"),
    ("space-report-every-0", B, {}, _space(**{"finetune_epochs: 1}": "finetune_steps: 50, report_every: 0}"}), r"report_every must be an integer in \[1, 1e\+07\]"),
    ("trial-threads-0", T + ["--threads", "0"], {}, None, r"--threads must be in \[1, 1024\], but got --threads=0"),
    ("trial-threads-huge", T + ["--threads", "100000"], {}, None, r"--threads=100000"),
    ("trial-seed-negative", T + ["--seed", "-1"], {}, None, r"--seed=-1"),
    ("trial-seed-huge", T + ["--seed", "99999999999999999999"], {}, None, r"--seed=99999999999999999999"),
    ("trial-out-a-file", T + ["--out", "file"], {}, None, r"--out='file' is a file; allowed: a directory"),
    ("trial-task-unknown", ["trial", "--task", "nope"], {}, None, r"task='nope'"),
    # -- pareto / report / export: run directories as data ------------------------------
    ("pareto-no-run-dir", ["pareto", "nowhere"], {}, None, r"'nowhere' is not an autoprune run directory"),
    ("report-no-run-dir", ["report", "nowhere"], {}, None, r"not an autoprune run directory"),
    ("pareto-run-json-not-json", ["pareto", "run"], {}, _write("run/run.json", "{not json"), r"is not valid JSON"),
    ("pareto-run-json-not-utf8", ["pareto", "run"], {}, _write("run/run.json", b"\xff\xfe{}"), r"is not valid JSON"),
    ("pareto-run-json-a-list", ["pareto", "run"], {}, _write("run/run.json", "[1, 2]"), r"holds a list; allowed: a JSON object"),
    ("pareto-run-json-no-storage", ["pareto", "run"], {}, _write("run/run.json", '{"study_name": "default"}'), r"storage=None; allowed: a non-empty string"),
    ("pareto-run-json-storage-number", ["pareto", "run"], {}, _run_json(storage=5), r"storage=5"),
    ("pareto-run-json-data-dir-list", ["pareto", "run"], {}, _run_json(data_dir=[1]), r"data_dir=\[1\]"),
    ("pareto-storage-postgres", ["pareto", "run"], {}, _run_json(storage="postgresql://u:pw@h/db"), r"storage='postgresql://u:\*\*\*@h/db' is not a file in the run directory.*pass --storage"),
    ("pareto-storage-query", ["pareto", "run"], {}, _run_json(storage="sqlite:///study.db?mode=rwc"), r"pass --storage"),
    ("pareto-storage-relative-escape", ["pareto", "run"], {}, _run_json(storage="../outside/study.db"), r"resolves outside the run directory"),
    ("pareto-storage-symlink-escape", ["pareto", "run"], {}, _symlink_db, r"resolves outside the run directory"),
    ("pareto-storage-missing", ["pareto", "run"], {}, _no_inner_db, r"does not exist; allowed: the run's study\.db"),
    ("report-storage-postgres", ["report", "run"], {}, _run_json(storage="postgresql://h/db"), r"pass --storage"),
    ("report-storage-escape", ["report", "run"], {}, _run_json(storage="../outside/study.db"), r"resolves outside"),
    ("pareto-study-name-unknown", ["pareto", "run"], {}, _run_json(study_name="other"), r"cannot open the study"),
    ("export-storage-escape", ["export", "run", "--trial", "0", "--output", "m.pt"], {}, _run_json(storage="../outside/study.db"), r"resolves outside"),
    ("export-file-task", ["export", "payload", "--trial", "0", "--output", "m.pt"], {}, None, r"the study names task='payload\.py:task', which is not a registered task.*allowed: --task"),
    ("export-huge-shape", ["export", "payload", "--trial", "0", "--output", "m.pt", "--task", "digits-mlp"], {}, None, r"has shape \[1000000, 1000000\]; allowed: at most"),
    ("export-output-a-dir", ["export", "run", "--trial", "0", "--output", "run"], {}, None, r"--output='run' is a directory; allowed: a file path"),
    ("export-output-under-file", ["export", "run", "--trial", "0", "--output", "file/m.pt"], {}, None, r"--output='file/m\.pt': 'file' is a file; allowed: a directory"),
    ("export-trial-unknown", ["export", "run", "--trial", "999", "--output", "m.pt"], {}, None, r"trial=999 is not in study"),
    ("export-format-unknown", ["export", "run", "--trial", "0", "--format", "tflite", "--output", "m.pt"], {}, None, r"format must be one of state_dict, torch_export, onnx, hf, but got format='tflite'"),
    ("export-other-task", ["export", "run", "--trial", "0", "--output", "m.pt", "--task", "digits-cnn"], {}, None, r"task"),
    # -- devices -----------------------------------------------------------------------------
    ("device-cuda-without-cuda", S + ["--device", "cuda"], {}, None, r"device='cuda' but CUDA is not available on this machine; allowed: cpu or auto"),
    ("device-cuda-n-without-cuda", S + ["--device", "cuda:1"], {}, None, r"device='cuda:1' but CUDA is not available"),
    ("device-unknown", S + ["--device", "gpu"], {}, None, r"device must be one of auto, cpu, cuda, cuda:N, but got device='gpu'"),
    ("space-device-cuda", B, {}, _space(**{"seed: 0": "seed: 0\ndevice: cuda"}), r"device='cuda' but CUDA is not available"),
    ("space-device-unknown", B, {}, _space(**{"seed: 0": "seed: 0\ndevice: tpu"}), r"bad\.yaml: device: 'tpu' is not a device; allowed: auto, cpu, cuda, cuda:N"),
    ("amp-fp16-on-cpu", S + ["--amp", "fp16"], {}, None, r"amp='fp16' needs a CUDA device, but the device is 'cpu'; allowed on the CPU: null or bf16"),
    ("amp-unknown", S + ["--amp", "fp32"], {}, None, r"amp must be one of none, bf16, fp16, but got amp='fp32'"),
    ("space-amp-fp16-on-cpu", B, {}, _space(**{"seed: 0": "seed: 0\namp: fp16"}), r"amp='fp16' needs a CUDA device"),
    ("latency-device-cuda", S + ["--latency-device", "cuda"], {}, None, r"latency\.device='cuda' but CUDA is not available"),
    ("space-latency-device-unknown", B, {}, _space(**{"repeats: 3": "repeats: 3, device: npu"}), r"latency\.device: 'npu' is not a device"),
    ("trial-device-cuda", T + ["--device", "cuda"], {}, None, r"device='cuda' but CUDA is not available on this machine; allowed: cpu or auto"),
    ("trial-amp-fp16", T + ["--amp", "fp16"], {}, None, r"amp='fp16' needs a CUDA device, but the device is 'cpu'"),
    ("trial-latency-device-cuda", T + ["--latency-device", "cuda:0"], {}, None, r"latency\.device='cuda:0' but CUDA"),
    # -- ModelTask and pretrained weights -------------------------------------------------------
    ("modeltask-not-pairs", ["trial", "--task", "bad_tasks.py:not_pairs"], {}, _bad_tasks, r"val_loader yields a tensor of shape \[8, 8\], not \(inputs, targets\); allowed: a DataLoader"),
    ("modeltask-not-pairs-search", S + ["--task", "bad_tasks.py:not_pairs"], {}, _bad_tasks, r"val_loader yields a tensor of shape \[8, 8\], not \(inputs, targets\)"),
    ("modeltask-metric-tensor", ["trial", "--task", "bad_tasks.py:tensor"], {}, _bad_tasks, r"metric 'tensor_metric' returned a tensor tensor\(.*\); allowed: a finite Python number, higher is better"),
    ("modeltask-metric-tensor-search", S + ["--task", "bad_tasks.py:tensor"], {}, _bad_tasks, r"metric 'tensor_metric' returned a tensor"),
    ("modeltask-metric-text", ["trial", "--task", "bad_tasks.py:text"], {}, _bad_tasks, r"metric 'text_metric' returned 'high' \(str\); allowed: a finite Python number"),
    ("modeltask-metric-nan", ["trial", "--task", "bad_tasks.py:nan"], {}, _bad_tasks, r"metric 'nan_metric' returned nan; allowed: a finite Python number"),
    ("weights-mismatch", ["trial", "--task", "bad_tasks.py:Mismatch"], {}, _bad_tasks, r"weights file '.*w\.pt' does not match the model: key '0\.weight' \(shape \[512, 64\]\) is missing from the file; allowed: a state_dict"),
    ("weights-mismatch-search", S + ["--task", "bad_tasks.py:Mismatch"], {}, _bad_tasks, r"weights file '.*w\.pt' does not match the model"),
    # -- plug-ins ----------------------------------------------------------------------------
    ("plugin-missing", ["--plugin", "missing_plugin.py", "tasks"], {}, None, r"missing_plugin"),
    # -- transformer and depth granularities on models that lack what they remove --------------
    ("head-no-attention", T + ["--set", "granularity=head"], {}, None, r"granularity=head needs attention modules .* but model Sequential has none"),
    ("ffn-no-transformer", T + ["--set", "granularity=ffn"], {}, None, r"granularity=ffn needs feed-forward blocks of transformer layers"),
    ("head-ffn-no-attention", T + ["--set", "granularity=head+ffn"], {}, None, r"granularity=head needs attention modules"),
    ("layer-no-blocks", T + ["--set", "granularity=layer"], {}, None, r"granularity=layer needs transformer layers or residual blocks"),
    ("search-head-no-attention", B, {}, _space(**{"params:\n": "params:\n  granularity: {choices: [unstructured, head]}\n"}),
     r"granularity=head needs attention modules"),
]
if importlib.util.find_spec("transformers") is not None:
    TEXT = ["trial", "--task", "autoprune.testing.transformers:TinyTextTask"]
    CASES += [
        ("layer-every-layer", TEXT + ["--set", "granularity=layer", "sparsity=0.8"], {}, None,
         r"granularity=layer with sparsity=0\.8 would remove every one of the 2 layers / blocks; allowed: a sparsity that keeps at least one"),
        ("search-layer-every-layer", B + ["--task", "autoprune.testing.transformers:TinyTextTask"], {},
         _space(**{"params:\n": "params:\n  granularity: {choices: [layer]}\n"}), r"would remove every one of the 2 layers"),
    ]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, snapshot, monkeypatch, capsys, case):
    _, argv, env, setup, pattern = case
    monkeypatch.setattr("autoprune.search._checks._local_gpus", lambda: 0)  # the same on a GPU machine
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("sys.dont_write_bytecode", True)  # importing a case's task file writes nothing
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    lock = None
    if setup == "lock":
        from autoprune.search._lock import RunLock

        lock = RunLock(world / "run")
        lock.acquire()
    elif setup is not None:
        setup(world)
    before = snapshot(world)
    try:
        code = main(argv)
    finally:
        if lock is not None:
            lock.release()
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("autoprune: error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    after = snapshot(world)
    new = set(after) - set(before)
    assert new <= {"run/.autoprune.lock"}, new  # nothing written but the lock of a run directory
    assert {k: after[k] for k in before} == before
    assert not (world / "payload" / "PWNED").exists()
