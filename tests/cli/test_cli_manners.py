"""The CLI's manners: --version, defaults in --help, progress bars or plain lines."""

from __future__ import annotations

import io
import os

import pytest

import autoprune
from autoprune.cli import main
from autoprune.recipe import Recipe
from autoprune.search._events import (
    BaselineEpoch,
    BaselineReady,
    ProgressPrinter,
    SearchFinished,
    SearchStarted,
    TrialDecided,
    TrialReported,
    TrialStarted,
)
from autoprune.search._progress import LiveProgress, make_progress


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"autoprune {autoprune.__version__}\n"


@pytest.mark.parametrize("argv, expected", [
    (["search", "--help"], ["(default: auto)", "--trials TRIALS", "(default: the space's; 16 in default.yaml)"]),
    (["trial", "--help"], ["(default: digits-mlp)", "(default: 0)"]),
    (["export", "--help"], ["(default: state_dict)", "only state_dict keeps"]),
])
def test_help_shows_defaults(argv, expected, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    out = " ".join(capsys.readouterr().out.split())
    for text in expected:
        assert text in out
    assert "(default: None)" not in out and "(default: False)" not in out


def _started() -> SearchStarted:
    return SearchStarted(run_dir=None, task_name="digits-mlp", seed=0, space={"budget": {"trials": 4}}, args={},
                         versions={})


def test_the_baseline_line_says_cache_or_training():
    out = io.StringIO()
    printer = ProgressPrinter(out)
    printer.on_search_started(_started())
    printer.on_baseline_ready(BaselineReady({"accuracy": 0.9711}, cached=True, path="/c/digits-mlp-seed0.pt"))
    printer.on_baseline_epoch(BaselineEpoch(1, 10))
    printer.on_baseline_ready(BaselineReady({"accuracy": 0.9711}, cached=False, path="/c/digits-mlp-seed0.pt"))
    assert out.getvalue().splitlines() == [
        "dense baseline of digits-mlp (seed 0): loaded from the cache /c/digits-mlp-seed0.pt; accuracy 0.9711",
        "dense baseline of digits-mlp (seed 0): training 10 epochs (cached for later searches)",
        "dense baseline of digits-mlp (seed 0): trained and cached in /c/digits-mlp-seed0.pt; accuracy 0.9711",
    ]


def test_plain_lines_where_the_stream_is_not_a_terminal():
    assert type(make_progress(io.StringIO())) is ProgressPrinter


def test_live_progress_draws_bars_and_prints_stop_decisions():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    live = LiveProgress(out)
    live.on_search_started(_started())
    for epoch in (1, 2):
        live.on_baseline_epoch(BaselineEpoch(epoch, 2))
    live.on_baseline_ready(BaselineReady({"accuracy": 0.97}, cached=False, path="/c/b.pt"))
    live.on_trial_started(TrialStarted(0, Recipe(granularity="channel", sparsity=0.5), epochs=2))
    live.on_trial_reported(TrialReported(0, 0, {"accuracy": 0.61}))
    live.on_trial_decided(TrialDecided(0, 0, True, "0.61 at step 0 is below the 25th percentile"))
    live.on_search_finished(SearchFinished(result=None, status="interrupted"))
    text = out.getvalue()
    assert "baseline of digits-mlp (seed 0): training" in text and "2/2" in text  # the baseline bar
    assert "trial 0 channel 0.50" in text and "acc 0.6100" in text  # the trial's bar
    assert "trial 0 stopped at step 0: 0.61 at step 0 is below the 25th percentile\n" in text
    assert "search:" in text and "/4" in text  # the search bar, out of the budget


def test_third_party_chatter_is_hidden_unless_verbose(monkeypatch):
    import logging
    import warnings

    from autoprune.cli import quiet_third_party

    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    monkeypatch.delenv("RAY_LOGGER_LEVEL", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn("flaml.automl is not available. Please install flaml[automl] to enable AutoML functionalities.")
        warnings.warn("something else")
    assert [str(w.message) for w in caught] == ["something else"]
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING" and os.environ["RAY_LOGGER_LEVEL"] == "warning"
    assert not logging.getLogger("mlflow.store.db.utils").isEnabledFor(logging.INFO)
