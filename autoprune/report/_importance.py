"""Which recipe fields matter for each objective, from the finished trials alone.

Optuna's importance evaluators need a study with its parameter distributions; the report
only has records, so it fits a random forest per objective on the recipe fields that
vary across complete trials (numbers as they are, choices one-hot) and sums the impurity
importances of each field's columns. With a few dozen trials this is a rough ranking,
which is what the plot claims it is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from autoprune.report._values import objective_value

if TYPE_CHECKING:
    from autoprune.search._records import TrialRecord

__all__ = ["MIN_TRIALS", "recipe_importances"]

MIN_TRIALS = 4


def recipe_importances(
    records: Sequence[TrialRecord], objectives: Sequence[tuple[str, str]], *, seed: int = 0
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Importance of each varying recipe field for each objective.

    Returns:
        ``({objective: {field: importance}}, notes)``; the importances of one objective
        sum to 1, fields sorted from most to least important. An objective that cannot
        be explained (too few finite values, or the same value everywhere) is left out
        and a note says why.
    """
    complete = [r for r in records if r.state == "complete"]
    if len(complete) < MIN_TRIALS:
        return {}, [
            f"Parameter importances need at least {MIN_TRIALS} complete trials; "
            f"this run has {len(complete)}."
        ]
    columns, owners = _encode([r.recipe or {} for r in complete])
    if not owners:
        return {}, ["Parameter importances: no recipe field varies across the complete trials."]

    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    x = np.array(columns, dtype=float).T
    result: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for name, _ in objectives:
        y = np.array([objective_value(r, name) for r in complete])
        keep = np.isfinite(y)
        if keep.sum() < MIN_TRIALS:
            notes.append(
                f"Parameter importances for {name}: only {int(keep.sum())} complete trials have a "
                f"finite value (at least {MIN_TRIALS} needed)."
            )
            continue
        if np.ptp(y[keep]) == 0:
            notes.append(f"Parameter importances for {name}: every complete trial has the same value.")
            continue
        forest = RandomForestRegressor(n_estimators=64, random_state=seed, n_jobs=1)
        forest.fit(x[keep], y[keep])
        per_field: dict[str, float] = {}
        for owner, weight in zip(owners, forest.feature_importances_):
            per_field[owner] = per_field.get(owner, 0.0) + float(weight)
        total = sum(per_field.values())
        if not (total > 0 and math.isfinite(total)):
            notes.append(f"Parameter importances for {name}: no recipe field explains any of its variation.")
            continue
        result[name] = dict(sorted(((k, v / total) for k, v in per_field.items()), key=lambda kv: -kv[1]))
    return result, notes


def _encode(recipes: list[dict[str, Any]]) -> tuple[list[list[float]], list[str]]:
    """Columns (one per number field, one per choice of a categorical field) and their field."""
    columns: list[list[float]] = []
    owners: list[str] = []
    for key in sorted({k for r in recipes for k in r}):
        values = [_hashable(r.get(key)) for r in recipes]
        if len(set(values)) < 2:
            continue  # constant across trials: nothing to learn from it
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):  # bools as 0 / 1
            columns.append([float(v) for v in values])
            owners.append(key)
            continue
        for choice in sorted(set(values), key=repr):
            columns.append([1.0 if v == choice else 0.0 for v in values])
            owners.append(key)
    return columns, owners


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, float) and math.isnan(value):
        return "nan"  # NaN != NaN would make every trial its own category
    if isinstance(value, dict):
        return repr(sorted(value.items()))
    return value
