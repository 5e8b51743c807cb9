"""Every registered task passes the task contract; a registered user task is found by name."""

from __future__ import annotations

import pytest

from autoprune import Task
from autoprune.errors import AutopruneError
from autoprune.registry import TASKS
from autoprune.tasks import get_task, register_task
from autoprune.testing.search import check_task


@pytest.mark.parametrize("name", TASKS.names())
def test_registered_tasks_pass_the_contract(name: str) -> None:
    try:
        task = get_task(name, seed=0)
        check_task(task)
    except AutopruneError as exc:  # a task that reads files the machine does not have
        if "data" not in str(exc).lower():
            raise
        pytest.skip(f"{name}: {exc}")


def test_a_registered_user_task_is_resolved_by_name() -> None:
    from autoprune.tasks._digits import DigitsMLP

    made: list[int] = []

    def factory(seed: int, data_dir: str | None) -> Task:
        made.append(seed)
        return DigitsMLP(seed=seed)

    register_task("my-digits", factory, "digits under another name")
    try:
        task = get_task("my-digits", seed=3)
        assert made == [3] and isinstance(task, DigitsMLP)
        assert "my-digits" in TASKS.names()
    finally:
        TASKS.unregister("my-digits")


def test_unknown_task_lists_the_registered_ones() -> None:
    with pytest.raises(AutopruneError, match=r"neither a built-in task \(digits-mlp, digits-cnn, fashion-mnist-cnn, hf-text-classification, hf-image-classification\)"):
        get_task("nope")
