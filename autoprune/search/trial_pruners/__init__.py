"""Trial pruners: stop a running trial early from its curve and the other trials.

The controller calls :meth:`TrialPruner.decide` after every fine-tune epoch of a trial
with a :class:`RunningTrial` (its curve so far and the measures already known) and the
other trials as :class:`TrialHistory`; the :class:`Decision` says whether to stop, why, and
which rule decided. A stopped trial is stored as PRUNED with its partial curve.

Optuna 5 refuses ``trial.report`` in multi-objective studies, so early stopping in a
Pareto search is ours: :class:`ParetoTrialPruner`, the combination (:class:`FirstStop`) of
three rules that are trial pruners of their own, :class:`AccuracyConstraintPruner`,
:class:`HypervolumeGainPruner` and :class:`PeerPercentilePruner`. A single-objective
search on the task metric can use Optuna's own pruners through
:class:`OptunaTrialPruner`; the study is then created with its
:meth:`~TrialPruner.study_pruner` (``optuna.pruners.NopPruner`` for the others; None, the
default, means the same).

A search space names a pruner registered in :data:`autoprune.registry.TRIAL_PRUNERS`
(``none``, ``median``, ``hyperband``, ``successive_halving``, ``pareto``), each class
declaring its options with their types and bounds (:class:`Option`):
:func:`validate_trial_pruner` checks a space's choice, :func:`make_trial_pruner` builds
it. :func:`autoprune.testing.trial_pruners.check_trial_pruner` is the contract every
pruner passes.
"""

from __future__ import annotations

from autoprune.registry import TRIAL_PRUNERS
from autoprune.search.trial_pruners._base import Decision, NoTrialPruner, RunningTrial, TrialHistory, TrialPruner
from autoprune.search.trial_pruners._factory import TrialPrunerConfig, make_trial_pruner, validate_trial_pruner
from autoprune.search.trial_pruners._hypervolume import HypervolumeGainPruner
from autoprune.search.trial_pruners._optuna import (
    HyperbandTrialPruner,
    MedianTrialPruner,
    OptunaTrialPruner,
    SuccessiveHalvingTrialPruner,
)
from autoprune.search.trial_pruners._options import Option
from autoprune.search.trial_pruners._pareto import FirstStop, ParetoTrialPruner
from autoprune.search.trial_pruners._rules import (
    AccuracyConstraintPruner,
    CurveRule,
    PeerPercentilePruner,
    Situation,
)

__all__ = [
    "TRIAL_PRUNERS",
    "Decision",
    "RunningTrial",
    "TrialHistory",
    "TrialPruner",
    "NoTrialPruner",
    "OptunaTrialPruner",
    "MedianTrialPruner",
    "HyperbandTrialPruner",
    "SuccessiveHalvingTrialPruner",
    "CurveRule",
    "Situation",
    "PeerPercentilePruner",
    "AccuracyConstraintPruner",
    "HypervolumeGainPruner",
    "FirstStop",
    "ParetoTrialPruner",
    "Option",
    "TrialPrunerConfig",
    "make_trial_pruner",
    "validate_trial_pruner",
]
