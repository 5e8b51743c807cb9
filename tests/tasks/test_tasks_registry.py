from __future__ import annotations

import pytest

from autoprune.errors import TaskError
from autoprune.tasks import get_task


def _write(tmp_path, body: str):
    path = tmp_path / "user_task.py"
    path.write_text(body)
    return path


def test_unknown_name_lists_the_builtin_tasks():
    with pytest.raises(TaskError, match=r"task='mnist' is neither a built-in task \(digits-mlp, digits-cnn, fashion-mnist-cnn, hf-text-classification, hf-image-classification\)"):
        get_task("mnist")


def test_missing_file(tmp_path):
    with pytest.raises(TaskError, match=r"file '.*nowhere\.py' does not exist"):
        get_task(f"{tmp_path}/nowhere.py:task")


def test_module_that_fails_to_import(tmp_path):
    path = _write(tmp_path, "import not_a_module_anywhere\n")
    with pytest.raises(TaskError, match=r"failed to import: ModuleNotFoundError: No module named 'not_a_module_anywhere'"):
        get_task(f"{path}:task")


def test_package_module_that_does_not_exist():
    with pytest.raises(TaskError, match=r"task='no_such_pkg.tasks:task' failed to import: ModuleNotFoundError"):
        get_task("no_such_pkg.tasks:task")


def test_missing_attribute(tmp_path):
    path = _write(tmp_path, "other = 1\n")
    with pytest.raises(TaskError, match=r"has no attribute 'task'"):
        get_task(f"{path}:task")


def test_object_that_is_neither_task_nor_factory(tmp_path):
    path = _write(tmp_path, "task = 42\n")
    with pytest.raises(TaskError, match=r"must name a Task instance, Task subclass or factory, got int"):
        get_task(f"{path}:task")


def test_class_that_does_not_subclass_task(tmp_path):
    path = _write(tmp_path, "class NotATask:\n    def build_model(self):\n        return None\n")
    with pytest.raises(
        TaskError,
        match=r"does not follow the Task protocol: it must subclass autoprune.Task "
        r"\(missing: train_batches, val_batches, example_input, training_step, evaluate\)",
    ):
        get_task(f"{path}:NotATask")


def test_factory_that_raises(tmp_path):
    path = _write(tmp_path, "def make(seed):\n    raise RuntimeError('no GPU here')\n")
    with pytest.raises(TaskError, match=r"creating the task failed: RuntimeError: no GPU here"):
        get_task(f"{path}:make")


def test_task_with_bad_attribute(tmp_path):
    path = _write(
        tmp_path,
        "from autoprune.tasks import Task\n"
        "class Bad(Task):\n"
        "    baseline_epochs = -1\n"
        "    def build_model(self): ...\n"
        "    def train_batches(self, epoch): ...\n"
        "    def val_batches(self): ...\n"
        "    def example_input(self, batch_size=1): ...\n",
    )
    with pytest.raises(TaskError, match=r"baseline_epochs must be an integer >= 0, but got baseline_epochs=-1"):
        get_task(f"{path}:Bad")
