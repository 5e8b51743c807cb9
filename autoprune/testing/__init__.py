"""Contract checks every implementation of an extension point passes.

A plug-in runs the same checks on its own implementations (the optuna
``optuna.testing`` / scikit-learn ``parametrize_with_checks`` style)::

    from autoprune.testing import check_granularity

    def test_my_granularity():
        check_granularity(MyGranularity())
"""

from autoprune.testing.pruning import (
    check_allocation,
    check_criterion,
    check_granularity,
    check_schedule,
    check_timing,
)
from autoprune.testing.search import check_executor, check_task, check_tracker
from autoprune.testing.trial_pruners import check_trial_pruner

__all__ = [
    "check_criterion",
    "check_granularity",
    "check_allocation",
    "check_schedule",
    "check_timing",
    "check_trial_pruner",
    "check_executor",
    "check_tracker",
    "check_task",
]
