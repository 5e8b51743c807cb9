"""SafeTracker / Trackers never stop the search; make_tracker; secrets; import cost."""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from autoprune.errors import ConfigError
from autoprune.tracking import (
    NeptuneTracker,
    SafeTracker,
    Tracker,
    Trackers,
    TrackerWarning,
    make_tracker,
)

SECRET = "eyJTOPSECRET-token-0123456789"
NEPTUNE_ENV = ("NEPTUNE_MODE", "NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_DATA_DIRECTORY")


class Recorder(Tracker):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def log_baseline(self, measures: dict[str, Any]) -> None:
        self.calls.append(("log_baseline", measures))

    def log_trial(self, record: dict[str, Any]) -> None:
        self.calls.append(("log_trial", record["number"]))

    def finish(self, status: str = "complete") -> None:
        self.calls.append(("finish", status))


class BrokenTrials(Recorder):
    def log_trial(self, record: dict[str, Any]) -> None:
        raise ConnectionError(f"quota exceeded at trial {record['number']}")


class BrokenStart(Recorder):
    def start(self, **kwargs: Any) -> None:
        raise TimeoutError("server unreachable")


def _tracker_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, TrackerWarning)]


def test_failing_hook_warns_exactly_once_and_the_search_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    inner = BrokenTrials()
    tracker = SafeTracker(inner)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, "autoprune.tracking"):
        warnings.simplefilter("always")
        for number in range(3):
            tracker.log_trial({"number": number})  # raises inside, never here
        tracker.log_baseline({"accuracy": 0.9})
        tracker.finish("complete")
    (message,) = _tracker_warnings(caught)
    assert message == (
        "BrokenTrials.log_trial failed (ConnectionError: quota exceeded at trial 0); "
        "further log_trial errors are not reported; the search goes on."
    )
    assert [r.getMessage() for r in caplog.records] == [message]
    assert inner.calls == [("log_baseline", {"accuracy": 0.9}), ("finish", "complete")]


def test_failed_start_switches_the_tracker_off() -> None:
    inner = BrokenStart()
    tracker = SafeTracker(inner)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.start(run_dir=Path("r"), space={}, args={}, versions={})
        tracker.log_trial({"number": 0})
        tracker.finish()
    (message,) = _tracker_warnings(caught)
    assert message.startswith("BrokenStart.start failed (TimeoutError: server unreachable); tracking is off")
    assert tracker.disabled and inner.calls == []


def test_interrupts_are_not_swallowed() -> None:
    class Interrupted(Tracker):
        def log_trial(self, record: dict[str, Any]) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SafeTracker(Interrupted()).log_trial({"number": 0})


def test_a_slow_hook_is_reported_once() -> None:
    tracker = SafeTracker(Recorder(), slow_seconds=-1.0)  # every call counts as slow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.log_trial({"number": 0})
        tracker.log_trial({"number": 1})
    (message,) = _tracker_warnings(caught)
    assert message.startswith("Recorder.log_trial took ") and "NEPTUNE_MODE=async" in message


def test_trackers_keep_going_past_a_broken_one() -> None:
    good = Recorder()
    both = Trackers([BrokenTrials(), good])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        both.log_trial({"number": 4})
        both.finish("failed")
    assert len(_tracker_warnings(caught)) == 1
    assert good.calls == [("log_trial", 4), ("finish", "failed")]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in NEPTUNE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_make_tracker_by_name(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert type(make_tracker("none", tmp_path)) is Tracker
    assert type(make_tracker(None, tmp_path)) is Tracker
    with pytest.raises(ConfigError, match=r"^tracker must be one of none, neptune, mlflow, auto, but got tracker='wandb'\.$"):
        make_tracker("wandb", tmp_path)
    pytest.importorskip("neptune")
    made = make_tracker("neptune", tmp_path, name="demo", tags=("ci",))
    assert isinstance(made, SafeTracker) and isinstance(made.inner, NeptuneTracker)
    assert (made.inner.mode, made.inner.name, made.inner.tags) == ("offline", "demo", ("ci",))
    assert isinstance(make_tracker("auto", tmp_path), SafeTracker)
    clean_env.setattr("importlib.util.find_spec", lambda name: None)
    assert type(make_tracker("auto", tmp_path)) is Tracker


def test_token_never_shows(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("neptune")
    tracker = NeptuneTracker(tmp_path, mode="async", project="ws/proj", api_token=SECRET)
    shown = [repr(tracker), str(tracker), repr(vars(tracker)), repr(SafeTracker(tracker)), repr(Trackers([tracker]))]
    assert not [text for text in shown if SECRET in text]
    assert "ws/proj" in repr(tracker)

    class LeakyRun:  # a client error that quotes the token
        def __setitem__(self, key: str, value: Any) -> None:
            raise PermissionError(f"401 Unauthorized: token {SECRET} rejected")

    tracker._run = LeakyRun()
    safe = SafeTracker(tracker)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        safe.log_trial({"number": 1, "state": "complete"})
        # the real client, with a token it cannot parse: it fails offline, before any request
        tracker._run = None
        safe.start(run_dir=tmp_path, space={}, args={}, versions={})
    messages = _tracker_warnings(caught)
    assert len(messages) == 2
    assert "401 Unauthorized: token *** rejected" in messages[0]
    assert messages[1].startswith("NeptuneTracker.start failed (RuntimeError: neptune.init_run failed:")
    out = capsys.readouterr()
    for text in [*messages, caplog.text, out.out, out.err]:
        assert SECRET not in text
    assert safe.disabled


def test_import_does_not_load_neptune(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh import of autoprune.tracking with neptune unloaded, in this process (a
    # subprocess would spend seconds importing torch); monkeypatch restores both after.
    import autoprune

    monkeypatch.setattr(autoprune, "tracking", autoprune.tracking)
    for name in list(sys.modules):
        if name.split(".")[0] == "neptune" or name.startswith("autoprune.tracking"):
            monkeypatch.delitem(sys.modules, name)
    fresh = importlib.import_module("autoprune.tracking")
    assert fresh.NeptuneTracker is not NeptuneTracker  # really imported again
    assert [m for m in sys.modules if m.split(".")[0] == "neptune"] == []
