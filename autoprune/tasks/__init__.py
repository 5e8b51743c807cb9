"""Tasks: what a trial runs on (model factory, data, training step, metric, example input)."""

from autoprune.tasks._base import Task, call_model, check_metric_value, model_device, state_dict_digest, to_device
from autoprune.tasks._model_task import ModelTask
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
from autoprune.tasks._weights import load_weights, read_state_dict

__all__ = [
    "Task",
    "ModelTask",
    "call_model",
    "to_device",
    "model_device",
    "state_dict_digest",
    "check_metric_value",
    "load_weights",
    "read_state_dict",
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
