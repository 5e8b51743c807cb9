"""Every registered tracker, and a user's own, passes the tracker contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoprune import Tracker
from autoprune.registry import TRACKERS
from autoprune.testing.search import check_tracker
from autoprune.tracking import SafeTracker, make_tracker, resolve_tracker


@pytest.mark.parametrize("name", TRACKERS.names())
def test_registered_trackers_pass_the_contract(name: str, tmp_path: Path) -> None:
    check_tracker(make_tracker(name, tmp_path), tmp_path)


class _Recording(Tracker):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def log_trial(self, record):
        self.calls.append(f"trial {record['number']} {record['state']}")

    def finish(self, status="complete"):
        self.calls.append(f"finish {status}")


def test_a_user_tracker_object_passes_and_is_protected(tmp_path: Path) -> None:
    mine = _Recording()
    resolved = resolve_tracker(mine, tmp_path)
    assert isinstance(resolved, SafeTracker) and resolved.inner is mine
    check_tracker(resolved, tmp_path)
    assert mine.calls == ["trial 0 complete", "trial 1 pruned", "trial 2 failed", "finish complete"]


def test_unknown_tracker_name_lists_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"tracker must be one of none, neptune, mlflow, auto, but got tracker='wandb'"):
        make_tracker("wandb", tmp_path)


def test_the_contract_can_fail(tmp_path: Path) -> None:
    class Mute(Tracker):
        def redact(self, text):
            return None

    with pytest.raises(AssertionError, match="redact"):
        check_tracker(Mute(), tmp_path)
