"""Per-layer amounts: uniform, global (decided by the masks / the channel ranking) or by sensitivity.

The sensitivity allocation follows the classic per-layer scan (Han et al. 2015; NetAdapt
and AMC refine the same idea): prune one layer at a time at a few levels, measure the
task's metric, then give each layer the amount that minimises the total predicted drop
under the overall budget.
"""

from __future__ import annotations

import abc
import hashlib
import heapq
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from autoprune._io import write_text_atomic
from autoprune.errors import ConfigError
from autoprune.pruning.criteria import criterion_of
from autoprune.pruning.granularity import Scan, granularity_of
from autoprune.recipe import Recipe
from autoprune.registry import ALLOCATIONS
from autoprune.tasks import Task

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = [
    "Allocation",
    "ALLOCATIONS",
    "Uniform",
    "Global",
    "Sensitivity",
    "allocation_of",
    "DEFAULT_LEVELS",
    "MAX_AMOUNT",
    "uniform_allocation",
    "sensitivity_scan",
    "allocate_by_sensitivity",
]

log = logging.getLogger(__name__)

DEFAULT_LEVELS = (0.25, 0.5, 0.75, 0.9)
MAX_AMOUNT = 0.99  # no layer is emptied by the sensitivity allocation
_FORMAT = "autoprune.sensitivity/2"  # 2: channel scans recalibrate batch norms


def uniform_allocation(names: Iterable[str], target: float) -> dict[str, float]:
    """Every layer gets ``target``."""
    return {n: float(target) for n in names}


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(x) for x in levels)
    if not levels or any(not 0.0 < x < 1.0 for x in levels) or list(levels) != sorted(set(levels)):
        raise ConfigError(f"levels must be increasing values in (0, 1), but got levels={levels!r}.")
    return levels


def _weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(str(tuple(value.shape)).encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _cache_key(model: nn.Module, task: Task, recipe: Recipe, levels: tuple[float, ...], names: list[str]) -> dict:
    # the weights are part of the key: the same task scanned untrained (pruning before
    # training) and trained must not share an entry
    key = {
        "format": _FORMAT,
        "task": task.fingerprint(),
        "criterion": recipe.criterion,
        "granularity": recipe.granularity,
        "levels": list(levels),
        "layers": names,
        "weights": _weights_digest(model),
    }
    if criterion_of(recipe).needs_data or recipe.granularity == "channel":  # channel: batch norms recalibrated
        key["calibration_batches"] = recipe.calibration_batches
    return key


def _read_cache(path: Path, key: dict) -> Scan | None:
    try:
        data = json.loads(path.read_text())
        if data["key"] != key:
            return None
        return {name: {float(lv): float(v) for lv, v in pairs} for name, pairs in data["scan"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged entry is recomputed
        log.warning("ignoring unreadable sensitivity cache %s (%s)", path, exc)
        return None


def _write_cache(path: Path, key: dict, scan: Scan) -> None:
    payload = {"key": key, "scan": {n: [[lv, v] for lv, v in by_level.items()] for n, by_level in scan.items()}}
    write_text_atomic(path, json.dumps(payload, indent=1))  # concurrent trials never read half a file


def sensitivity_scan(
    model: nn.Module,
    task: Task,
    recipe: Recipe,
    levels: Sequence[float] = DEFAULT_LEVELS,
    *,
    cache_dir: Path | None = None,
) -> Scan:
    """The task's metric after pruning ONE prunable layer at each level, for every layer.

    Uses the recipe's criterion and granularity (:meth:`Granularity.scan`: ``unstructured``
    masks or ``channel`` removal; ``nm`` has a fixed per-layer amount and is not scanned). ``model`` is left as
    it was: masks are tried in place and undone, channels are removed from a deep copy.

    Args:
        model: the model as it is before pruning (usually the trained baseline).
        task: evaluates the metric; provides calibration data for data-driven criteria.
        recipe: criterion, granularity and the layers to prune.
        levels: amounts tried per layer, increasing, in (0, 1).
        cache_dir: where scans are kept as JSON, keyed by the task fingerprint, criterion,
            granularity, levels, layer names and a digest of the weights; None: no cache.

    Returns:
        ``{layer name: {level: metric}}``.

    Example:
        >>> from autoprune import get_task
        >>> task = get_task("digits-mlp")
        >>> scan = sensitivity_scan(task.build_model(), task, Recipe(), levels=(0.5,))
        >>> sorted(scan), list(scan["0"])
        (['0', '2'], [0.5])
    """
    granularity = granularity_of(recipe)
    if not granularity.scannable:
        granularity.scan(model, task, recipe, [], ())  # raises: names the scannable ones
    levels = _check_levels(levels)
    layers = granularity.layers(model, recipe)
    names = [n for n, _ in layers]
    path = key = None
    if cache_dir is not None:
        key = _cache_key(model, task, recipe, levels, names)
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        path = Path(cache_dir) / f"sensitivity-{digest}.json"
        cached = _read_cache(path, key)
        if cached is not None:
            return cached

    scan = granularity.scan(model, task, recipe, layers, levels)
    if path is not None:
        _write_cache(path, key, scan)
    return scan


def _drop_curve(by_level: Mapping[float, float], baseline: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted metric drop as a piecewise-linear, non-decreasing function of the amount.

    Drop 0 at amount 0; measured drops (negative ones, i.e. gains, count as 0) made
    monotone, since pruning more of a layer cannot be predicted to help; beyond the last
    level nothing was measured, so the drop is assumed to climb at least to the size of
    the baseline metric at amount 1 (pessimistic: a near-empty layer is rarely free).
    """
    xs = [0.0] + sorted(by_level)
    drops = np.maximum.accumulate(np.array([0.0] + [max(0.0, baseline - by_level[x]) for x in xs[1:]]))
    if xs[-1] < 1.0:
        slope = (drops[-1] - drops[-2]) / (xs[-1] - xs[-2])
        end = max(drops[-1] + slope * (1.0 - xs[-1]), drops[-1] + abs(baseline))
        xs.append(1.0)
        drops = np.append(drops, end)
    return np.array(xs), drops


def allocate_by_sensitivity(
    scan: Mapping[str, Mapping[float, float]],
    layer_sizes: Mapping[str, int],
    baseline_metric: float,
    target: float,
    *,
    increment: float = 0.01,
    max_amount: float = MAX_AMOUNT,
) -> dict[str, float]:
    """Per-layer amounts whose size-weighted mean is ``target``, minimising the predicted drop.

    Greedy marginal-cost allocation: repeatedly give ``increment`` more to the layer whose
    predicted drop (the scan interpolated piecewise-linearly, see :func:`_drop_curve`)
    grows least per weight removed; the last increment is cut short so the weighted mean
    hits ``target`` exactly. Drops of different layers are assumed to add up. Ties go to
    the layer with the smaller amount, then to the earlier layer.

    Args:
        scan: ``{layer: {level: metric}}`` from :func:`sensitivity_scan`.
        layer_sizes: weights (unstructured) or output channels (channel) per layer; the
            allocation covers exactly these layers.
        baseline_metric: the metric of the model the scan started from.
        target: the size-weighted mean amount, in [0, max_amount].
        max_amount: the most any one layer gets (a recipe's ``max_layer_sparsity``),
            at most 0.99.

    Returns:
        ``{layer: amount}``, each in [0, max_amount].

    Example:
        >>> scan = {"a": {0.5: 0.9, 0.9: 0.9}, "b": {0.5: 0.5, 0.9: 0.1}}
        >>> amounts = allocate_by_sensitivity(scan, {"a": 100, "b": 100}, 0.9, 0.5)
        >>> round(amounts["a"], 6), round(amounts["b"], 6)
        (0.9, 0.1)
    """
    if not 0.0 < max_amount <= MAX_AMOUNT:
        raise ConfigError(f"max_amount must be in (0, {MAX_AMOUNT}], but got max_amount={max_amount!r}.")
    if not 0.0 <= target <= max_amount:
        raise ConfigError(
            f"target must be in [0, {max_amount}] for the sensitivity allocation (no layer is "
            f"pruned beyond {max_amount}), but got target={target!r}."
        )
    if not 0.0 < increment <= MAX_AMOUNT:
        raise ConfigError(f"increment must be in (0, {MAX_AMOUNT}], but got increment={increment!r}.")
    names = list(layer_sizes)
    for n in names:
        if n not in scan or not scan[n]:
            raise ConfigError(f"the sensitivity scan has no entry for layer {n!r}; scanned: {sorted(scan)}.")
        if layer_sizes[n] <= 0:
            raise ConfigError(f"layer sizes must be > 0, but got {layer_sizes[n]!r} for layer {n!r}.")
    curves = {n: _drop_curve(scan[n], baseline_metric) for n in names}
    amounts = {n: 0.0 for n in names}
    total = float(sum(layer_sizes[n] for n in names))
    need = target * total

    def entry(i: int, n: str) -> tuple[float, float, int, str]:
        a = amounts[n]
        b = min(a + increment, max_amount)
        xs, ys = curves[n]
        cost = (np.interp(b, xs, ys) - np.interp(a, xs, ys)) / (layer_sizes[n] * (b - a))
        return (float(cost), a, i, n)

    heap = [entry(i, n) for i, n in enumerate(names)]
    heapq.heapify(heap)
    removed = 0.0
    while heap and need - removed > 1e-12 * total:
        _, a, i, n = heapq.heappop(heap)
        step = min(increment, max_amount - a, (need - removed) / layer_sizes[n])
        amounts[n] = a + step
        removed += step * layer_sizes[n]
        if amounts[n] < max_amount - 1e-12:
            heapq.heappush(heap, entry(i, n))
    return amounts


# -- the allocation extension point ----------------------------------------------------


class Allocation(abc.ABC):
    """How a cumulative target is shared among layers; one required method, :meth:`amounts`.

    Attributes:
        name: the name it is registered under (set on registration).
        global_ranking: True when the granularity ranks all layers together itself (one
            threshold over weight scores, one ranking over channel scores); a granularity
            without such a ranking falls back on :meth:`amounts`.
    """

    name: str = ""
    global_ranking: bool = False

    def prepare(self, pruner: Pruner, model: nn.Module) -> None:
        """Called at every step before pruning (``model`` as it is then); a no-op by default."""

    @abc.abstractmethod
    def amounts(self, pruner: Pruner, sizes: Mapping[str, int], target: float) -> dict[str, float]:
        """Per-layer amounts for the layers in ``sizes`` whose size-weighted mean is ``target``.

        Args:
            pruner: the trial's pruner (its recipe, task and any state :meth:`prepare` left).
            sizes: per layer, the units the granularity counts (weights, channels).
            target: the cumulative fraction to have removed.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@ALLOCATIONS.register_instance("uniform")
class Uniform(Allocation):
    """Every layer gets the target."""

    def amounts(self, pruner: Pruner, sizes: Mapping[str, int], target: float) -> dict[str, float]:
        return uniform_allocation(sizes, target)


@ALLOCATIONS.register_instance("global")
class Global(Allocation):
    """One ranking across layers, done by the granularity (channel scores normalised per
    group, no layer above the recipe's ``max_layer_sparsity``); each layer the target otherwise."""

    global_ranking = True

    def amounts(self, pruner: Pruner, sizes: Mapping[str, int], target: float) -> dict[str, float]:
        return uniform_allocation(sizes, target)


@ALLOCATIONS.register_instance("sensitivity")
class Sensitivity(Allocation):
    """From a per-layer scan (:func:`sensitivity_scan`) run once, at the first step, then
    :func:`allocate_by_sensitivity` at every step, no layer above the recipe's
    ``max_layer_sparsity``. The scan is kept on the pruner."""

    def prepare(self, pruner: Pruner, model: nn.Module) -> None:
        if pruner.scan is None:
            pruner.scan = sensitivity_scan(model, pruner.task, pruner.recipe, cache_dir=pruner.cache_dir)
            pruner.scan_baseline = float(pruner.task.evaluate(model))

    def amounts(self, pruner: Pruner, sizes: Mapping[str, int], target: float) -> dict[str, float]:
        if pruner.scan is None:
            raise ConfigError("the sensitivity allocation has no scan yet; call prepare(pruner, model) first.")
        cap = min(MAX_AMOUNT, max(pruner.recipe.layer_cap, target))
        return allocate_by_sensitivity(pruner.scan, sizes, pruner.scan_baseline, target, max_amount=cap)


def allocation_of(recipe: Recipe) -> Allocation:
    """The :class:`Allocation` a recipe names."""
    return ALLOCATIONS.get(recipe.allocation)
