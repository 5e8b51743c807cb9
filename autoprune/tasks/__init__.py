"""Tasks: what a trial runs on (model factory, data, training step, metric, example input)."""

from autoprune.tasks._base import Task, call_model, to_device
from autoprune.tasks._registry import (
    BUILTIN_TASKS,
    TASKS,
    check_task,
    check_task_spec,
    get_task,
    load_task,
    register_task,
    task_from_flags,
    task_label,
)

__all__ = [
    "Task",
    "call_model",
    "to_device",
    "BUILTIN_TASKS",
    "TASKS",
    "register_task",
    "get_task",
    "load_task",
    "check_task",
    "check_task_spec",
    "task_from_flags",
    "task_label",
]
